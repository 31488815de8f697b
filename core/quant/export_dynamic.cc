// Dynamic export (doc/quantization.md, "Modes and what is exported"):
// MatMul/Gemm become
//   y = Cast(MatMulInteger(DynamicQuantizeLinear(x), W_q)) * (x_scale * w_scale) + bias
// with int8/uint8 weights; Conv weights take the QDQ path (export_qdq.cc).
#include "core/quant/export.h"

namespace wq {
namespace detail {
namespace {

// y = (DynamicQuantizeLinear(x) (*) W_q) * (x_scale * w_scale) + bias
Result<Json> export_weight_dynamic(ExportContext& cx, const WeightedNode& wn) {
  const Node& n = wn.node;
  Graph& g = cx.g;
  Builder& b = cx.b;
  const bool sym = cx.recipe.weights.symmetric;
  const std::string& base = wn.base;
  Tensor wkn = wn.wf;  // [K, N]
  if (wn.plan.weight_axis == 0) {  // Gemm transB: W is [N, K]
    const int64_t N = wn.w.dim(0), K = wn.w.dim(1);
    WQ_ASSIGN_OR_RETURN(wkn, Tensor::allocate(DType::kFloat32, {K, N}));
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < K; ++c) wkn.mutable_data<float>()[c * N + r] = wn.wf.data<float>()[r * K + c];
  }
  const int64_t N = wkn.dim(1);
  const int axis = cx.recipe.weights.granularity == Granularity::kPerTensor ? -1 : 1;
  WQ_ASSIGN_OR_RETURN(QuantizedWeight qw,
                      quantize_weight(base, wkn, axis, 0, cx.recipe.weights, false, weight_storage(cx.recipe)));
  const std::string wq = b.fresh(base + "_quantized");
  g.set_initializer(wq, qw.q);
  std::vector<std::string> mmi_inputs = {"", wq, "", ""};
  if (!sym) {
    const std::string zp = b.fresh(base + "_zero_point");
    std::vector<int32_t> zps = qw.params.zero_points;
    if (axis < 0) zps = {qw.params.zero_point};
    WQ_ASSIGN_OR_RETURN(Tensor zt, make_int_tensor(DType::kUInt8, axis < 0 ? Shape{} : Shape{N}, zps));
    g.set_initializer(zp, zt);
    mmi_inputs[3] = zp;
  }
  const std::string x = n.inputs[0];
  const std::string xq = b.fresh(x + "_quantized"), xs = b.fresh(x + "_scale"), xz = b.fresh(x + "_zero_point");
  WQ_RETURN_IF_ERROR(b.add("DynamicQuantizeLinear", n.name + "_DynamicQuantizeLinear", {x}, {xq, xs, xz}));
  mmi_inputs[0] = xq;
  mmi_inputs[2] = xz;
  const std::string acc = b.fresh(n.outputs[0] + "_int32");
  WQ_RETURN_IF_ERROR(b.add("MatMulInteger", n.name + "_MatMulInteger", mmi_inputs, {acc}));
  const std::string accf = b.fresh(n.outputs[0] + "_int32_float");
  WQ_RETURN_IF_ERROR(b.add("Cast", n.name + "_Cast", {acc}, {accf}, {attr_int("to", 1)}));
  const std::string ws = b.fresh(base + "_scale");
  if (axis < 0) g.set_initializer(ws, Tensor::from_floats({}, {qw.params.scale}));
  else g.set_initializer(ws, Tensor::from_floats({N}, qw.params.scales));
  const std::string scale = b.fresh(n.outputs[0] + "_scale");
  WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_scale_Mul", {xs, ws}, {scale}));
  const bool has_bias = wn.is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty();
  const std::string y = n.outputs[0];
  WQ_RETURN_IF_ERROR(g.remove_node(n.name));
  if (has_bias) {
    const std::string y0 = b.fresh(y + "_unbiased");
    WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_Mul", {accf, scale}, {y0}));
    WQ_ASSIGN_OR_RETURN(std::string bias_name, beta_scaled_bias(cx, wn));
    WQ_RETURN_IF_ERROR(b.add("Add", n.name + "_bias_Add", {y0, bias_name}, {y}));
  } else {
    WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_Mul", {accf, scale}, {y}));
  }
  return std::move(qw.report);
}

// Conv keeps QDQ weights: the dynamic chain is for MatMul/Gemm.
Result<Json> export_weight(ExportContext& cx, const WeightedNode& wn) {
  if (is_op(wn.node, "Conv")) return export_weight_qdq(cx, wn);
  return export_weight_dynamic(cx, wn);
}

}  // namespace

Status export_dynamic(ExportContext& cx) { return export_weighted_nodes(cx, export_weight); }

}  // namespace detail
}  // namespace wq
