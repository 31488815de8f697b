// Weight-only export (doc/quantization.md, "Modes and what is exported"):
// per-block 4-bit MatMul/Gemm weights become com.microsoft MatMulNBits (B
// stored [N, K], K-blocks, packed nibbles); Conv and per-tensor/per-channel
// weights take the QDQ path (export_qdq.cc); activations stay float.
#include "core/quant/export.h"

namespace wq {
namespace detail {
namespace {

// Weight-only per-block MatMul/Gemm: com.microsoft MatMulNBits (4-bit, K-blocks).
Result<Json> export_weight_nbits(ExportContext& cx, const WeightedNode& wn) {
  const Node& n = wn.node;
  Graph& g = cx.g;
  Builder& b = cx.b;
  const bool sym = cx.recipe.weights.symmetric;
  const std::string& base = wn.base;
  if (cx.recipe.weights.bits != 4)
    return unsupported("node '" + n.name + "': per-block 8-bit weights are not supported; use bits 4 or per-channel");
  Tensor wnk = wn.wf;  // MatMulNBits stores B transposed: [N, K]
  if (wn.plan.weight_axis == 1) {
    const int64_t K = wn.w.dim(0), N = wn.w.dim(1);
    WQ_ASSIGN_OR_RETURN(wnk, Tensor::allocate(DType::kFloat32, {N, K}));
    for (int64_t r = 0; r < K; ++r)
      for (int64_t c = 0; c < N; ++c) wnk.mutable_data<float>()[c * K + r] = wn.wf.data<float>()[r * N + c];
  }
  const int64_t N = wnk.dim(0), K = wnk.dim(1);
  const int bs = cx.recipe.weights.block_size;
  // K need not be a multiple of the block: the last block of each row is
  // padded (MatMulNBits: ceil(K / block_size) blocks per column).
  const int64_t blocks = (K + bs - 1) / bs;
  // Unsigned 4-bit codes: symmetric uses the implicit zero point 8.
  WQ_ASSIGN_OR_RETURN(QuantizedWeight qw, quantize_weight(base, wnk, 1, bs, cx.recipe.weights, false, DType::kInt32));
  const int32_t* codes = qw.q.data<int32_t>();
  WQ_ASSIGN_OR_RETURN(Tensor packed, Tensor::zeros(DType::kUInt8, {N, blocks, bs / 2}));
  uint8_t* pd = packed.mutable_data<uint8_t>();
  const int32_t zp_shift = sym ? 8 : 0;  // symmetric codes are signed [-8, 7]
  for (int64_t r = 0; r < N; ++r) {
    for (int64_t c = 0; c < blocks * bs; ++c) {
      // Padding holds the block's zero code, so it dequantizes to exactly 0.
      const uint32_t u = c < K ? uint32_t(codes[r * K + c] + zp_shift) & 0xF
                               : uint32_t(sym ? 8 : qw.params.zero_points[size_t(r * blocks + c / bs)]) & 0xF;
      const int64_t idx = r * blocks * bs + c;
      pd[idx / 2] |= uint8_t(u << ((idx & 1) * 4));
    }
  }
  const std::string bq = b.fresh(base + "_nbits");
  const std::string sc = b.fresh(base + "_scales");
  g.set_initializer(bq, packed);
  g.set_initializer(sc, Tensor::from_floats({N * blocks}, qw.params.scales));
  std::vector<std::string> ins = {n.inputs[0], bq, sc};
  if (!sym) {
    const int64_t zbytes = (blocks + 1) / 2;
    WQ_ASSIGN_OR_RETURN(Tensor zt, Tensor::zeros(DType::kUInt8, {N * zbytes}));
    for (int64_t r = 0; r < N; ++r)
      for (int64_t bl = 0; bl < blocks; ++bl)
        zt.mutable_data<uint8_t>()[r * zbytes + bl / 2] |=
            uint8_t((uint32_t(qw.params.zero_points[size_t(r * blocks + bl)]) & 0xF) << ((bl & 1) * 4));
    const std::string zn = b.fresh(base + "_zero_points");
    g.set_initializer(zn, zt);
    ins.push_back(zn);
  }
  const std::string y = n.outputs[0];
  const bool has_bias = wn.is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty();
  const std::string mm_out = has_bias ? b.fresh(y + "_unbiased") : y;
  WQ_RETURN_IF_ERROR(g.remove_node(n.name));
  WQ_RETURN_IF_ERROR(b.add("MatMulNBits", n.name + "_MatMulNBits", ins, {mm_out},
                           {attr_int("K", K), attr_int("N", N), attr_int("bits", 4), attr_int("block_size", bs)},
                           "com.microsoft"));
  cx.used_ms_domain = true;
  if (has_bias) {
    WQ_ASSIGN_OR_RETURN(std::string bias_name, beta_scaled_bias(cx, wn));
    WQ_RETURN_IF_ERROR(b.add("Add", n.name + "_bias_Add", {mm_out, bias_name}, {y}));
  }
  qw.report.set("dtype", sym ? "int4" : "uint4");
  return std::move(qw.report);
}

// Conv and per-tensor/per-channel weights: DequantizeLinear(int8/uint8 W).
Result<Json> export_weight(ExportContext& cx, const WeightedNode& wn) {
  if (is_op(wn.node, "Conv") || cx.recipe.weights.granularity != Granularity::kPerBlock)
    return export_weight_qdq(cx, wn);
  return export_weight_nbits(cx, wn);
}

}  // namespace

Status export_weight_only(ExportContext& cx) { return export_weighted_nodes(cx, export_weight); }

}  // namespace detail
}  // namespace wq
