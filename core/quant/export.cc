// What the quantizer's exporters share: integer tensors, weight quantization,
// the graph Builder, and the walk over the plan that reports every node and
// hands weighted ones to a format's weight exporter (core/quant/export.h).
#include "core/quant/export.h"

#include <algorithm>
#include <cmath>

namespace wq {
namespace detail {

Result<Tensor> make_int_tensor(DType storage, const Shape& shape, const std::vector<int32_t>& q) {
  WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::zeros(storage, shape));
  switch (storage) {
    case DType::kInt8: {
      int8_t* d = t.mutable_data<int8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = int8_t(q[i]);
      break;
    }
    case DType::kUInt8: {
      uint8_t* d = t.mutable_data<uint8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = uint8_t(q[i]);
      break;
    }
    case DType::kInt32: {
      int32_t* d = t.mutable_data<int32_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = q[i];
      break;
    }
    case DType::kInt4:
    case DType::kUInt4: {
      uint8_t* d = t.mutable_data<uint8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i / 2] |= uint8_t((uint32_t(q[i]) & 0xF) << ((i & 1) * 4));
      break;
    }
    default: return internal_error(std::string("make_int_tensor: storage ") + dtype_name(storage));
  }
  return t;
}

// ---- weights ----------------------------------------------------------------

Result<QuantizedWeight> quantize_weight(const std::string& name, const Tensor& w, int axis, int block_size,
                                        const WeightRecipe& wr, bool force_signed, DType storage,
                                        const QuantParams* fixed) {
  QuantTarget target;
  target.bits = wr.bits;
  target.symmetric = wr.symmetric;
  target.is_signed = wr.symmetric || force_signed;
  WeightRangeOptions opts;
  opts.mse_refine = wr.mse_refine;
  const float* x = w.data<float>();
  const Shape shape = axis < 0 ? Shape{1, w.numel()} : w.shape();
  const int qaxis = axis < 0 ? 0 : axis;
  QuantizedWeight out;
  if (fixed != nullptr) {
    // Trained parameters (quantization-aware training), checked by set_weight_params.
    out.params = *fixed;
    if (axis < 0 && out.params.scales.empty()) {
      out.params.scales = {out.params.scale};
      out.params.zero_points = {out.params.zero_point};
    }
  } else {
    Result<QuantParams> params = weight_quant_params(x, shape, qaxis, block_size, target, opts);
    if (!params.ok()) return params.status().with_context("weight '" + name + "': ");
    out.params = std::move(params).value();
  }
  if (axis < 0) {
    out.params.scale = out.params.scales[0];
    out.params.zero_point = out.params.zero_points.empty() ? 0 : out.params.zero_points[0];
    out.params.scales.clear();
    out.params.zero_points.clear();
    out.params.axis = -1;
  }
  // Index of the scale for each element.
  const Shape& s = w.shape();
  int64_t inner = 1;
  for (size_t d = size_t(qaxis) + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t axis_len = axis < 0 ? 1 : s[size_t(qaxis)];
  const int64_t bs = block_size > 0 ? block_size : axis_len;
  const int64_t nblocks = (axis_len + bs - 1) / bs;
  const int32_t qmin = target.qmin(), qmax = target.qmax();
  std::vector<int32_t> q(size_t(w.numel()));
  double signal = 0, noise = 0;
  float wmin = x[0], wmax = x[0];
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t si = 0;
    if (axis >= 0) {
      const int64_t outer = i / (inner * axis_len);
      const int64_t a = (i / inner) % axis_len;
      const int64_t in = i % inner;
      si = block_size > 0 ? size_t((outer * nblocks + a / bs) * inner + in) : size_t(a);
    }
    const float sc = out.params.scale_at(si);
    const int32_t zp = out.params.zero_point_at(si);
    q[size_t(i)] = quantize_value(x[i], sc, zp, qmin, qmax);
    const double d = double(dequantize_value(q[size_t(i)], sc, zp)) - x[i];
    signal += double(x[i]) * x[i];
    noise += d * d;
    wmin = std::min(wmin, x[i]);
    wmax = std::max(wmax, x[i]);
  }
  WQ_ASSIGN_OR_RETURN(out.q, make_int_tensor(storage, w.shape(), q));
  Json r = Json::object();
  r.set("name", name);
  r.set("shape", Json::numbers(w.shape()));
  r.set("bits", wr.bits);
  r.set("dtype", dtype_name(storage));
  r.set("granularity", block_size > 0 ? "per-block" : axis < 0 ? "per-tensor" : "per-channel");
  if (axis >= 0) r.set("axis", axis);
  if (block_size > 0) r.set("blockSize", block_size);
  r.set("symmetric", wr.symmetric);
  r.set("min", wmin);
  r.set("max", wmax);
  float smin = out.params.scale, smax = out.params.scale;
  if (!out.params.scales.empty()) {
    smin = *std::min_element(out.params.scales.begin(), out.params.scales.end());
    smax = *std::max_element(out.params.scales.begin(), out.params.scales.end());
  }
  r.set("scaleMin", smin);
  r.set("scaleMax", smax);
  r.set("sqnrDb", sqnr_db(signal, noise));
  r.set("rmse", std::sqrt(noise / double(std::max<int64_t>(1, w.numel()))));
  r.set("histogram", weight_histogram_json(x, size_t(w.numel()), wmin, wmax));
  out.report = std::move(r);
  return out;
}

DType weight_storage(const Recipe& recipe) {
  const bool sym = recipe.weights.symmetric;
  const bool w4 = recipe.mode == QuantMode::kStatic && recipe.weights.bits == 4;
  return w4 ? (sym ? DType::kInt4 : DType::kUInt4) : sym ? DType::kInt8 : DType::kUInt8;
}

// ---- graph building -----------------------------------------------------------

void Builder::add_params(const std::string& base, const QuantParams& p, DType zp_type, std::string* scale_name,
                         std::string* zp_name, const Shape& blocked_shape) {
  *scale_name = fresh(base + "_scale");
  *zp_name = fresh(base + "_zero_point");
  if (p.scales.empty()) {
    g_->set_initializer(*scale_name, Tensor::from_floats({}, {p.scale}));
    g_->set_initializer(*zp_name, make_int_tensor(zp_type, {}, {p.zero_point}).value());
  } else {
    const Shape shape = blocked_shape.empty() ? Shape{int64_t(p.scales.size())} : blocked_shape;
    g_->set_initializer(*scale_name, Tensor::from_floats(shape, p.scales));
    std::vector<int32_t> zps = p.zero_points;
    zps.resize(p.scales.size(), 0);
    g_->set_initializer(*zp_name, make_int_tensor(zp_type, shape, zps).value());
  }
}

Status Builder::add(const std::string& op, const std::string& name_base, std::vector<std::string> inputs,
                    std::vector<std::string> outputs, std::vector<onnx::AttributeProto> attrs,
                    const std::string& domain) {
  Node n;
  n.op_type = op;
  n.domain = domain;
  n.name = fresh(name_base);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attrs);
  return g_->add_node(std::move(n));
}

Result<std::string> Builder::dequantized_weight(const std::string& base, const Tensor& q, const QuantParams& p,
                                                DType zp_type, const Shape& blocked_shape) {
  const std::string q_name = fresh(base + "_quantized");
  g_->set_initializer(q_name, q);
  std::string s, z;
  add_params(base, p, zp_type, &s, &z, blocked_shape);
  const std::string out = fresh(base + "_dequantized");
  std::vector<onnx::AttributeProto> attrs;
  if (!p.scales.empty()) attrs.push_back(attr_int("axis", p.axis));
  if (p.block_size > 0) attrs.push_back(attr_int("block_size", p.block_size));
  WQ_RETURN_IF_ERROR(add("DequantizeLinear", base + "_DequantizeLinear", {q_name, s, z}, {out}, attrs));
  return out;
}

void rewire_consumers(Graph* g, const std::string& from, const std::string& to, const std::set<std::string>& skip) {
  std::vector<std::string> node_names;
  for (const Node& n : g->nodes())
    if (!skip.count(n.name)) node_names.push_back(n.name);
  for (const std::string& nn : node_names) {
    Node* n = g->mutable_node(nn);
    for (auto& in : n->inputs)
      if (in == from) in = to;
  }
}

void drop_replaced_initializers(Graph* g, const Graph& prepared) {
  const auto consumers = consumers_of(*g);
  std::set<std::string> graph_ins;
  for (const auto& in : g->input_protos()) graph_ins.insert(in.name);
  std::vector<std::string> dead;
  for (const auto& kv : g->initializers())
    if (!consumers.count(kv.first) && !is_graph_output(*g, kv.first) && !graph_ins.count(kv.first) &&
        prepared.find_initializer(kv.first) != nullptr)
      dead.push_back(kv.first);
  for (const auto& name : dead) g->remove_initializer(name);
}

// ---- the walk over the plan -----------------------------------------------------

Status export_weighted_nodes(ExportContext& cx, WeightExporter export_weight) {
  const bool is_static = cx.recipe.mode == QuantMode::kStatic;
  const std::vector<Node>& nodes = cx.prepared.nodes();  // the plan's indices refer to these
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    const Quantizer::NodePlan& p = cx.plan[i];
    Json nr = Json::object();
    const bool quantizable_type = is_weighted_op(n) || (is_static && p.selected);
    if (!quantizable_type && p.reason.empty()) continue;
    nr.set("name", n.name);
    nr.set("opType", n.op_type);
    nr.set("output", n.outputs.empty() ? "" : n.outputs[0]);
    if (!p.selected && !p.weighted) {
      nr.set("quantized", false);
      nr.set("reason", p.reason.empty() ? "not selected by the recipe" : p.reason);
      cx.node_reports.push_back(std::move(nr));
      continue;
    }
    if (p.fused_activation) nr.set("fusedInto", cx.removed_nodes.count(n.name) ? "removed (range covers it)" : "kept");
    if (!p.weighted || export_weight == nullptr) {
      nr.set("quantized", is_static);
      cx.node_reports.push_back(std::move(nr));
      if (is_static) ++cx.quantized_nodes;
      continue;
    }
    const Tensor w = *cx.prepared.find_initializer(n.inputs[1]);
    const bool is_gemm = is_op(n, "Gemm");
    const float alpha = is_gemm ? node_attr_float(n, "alpha", 1.0f) : 1.0f;
    const float beta = is_gemm ? node_attr_float(n, "beta", 1.0f) : 1.0f;
    Tensor wf = w;
    if (alpha != 1.0f) {  // fold alpha into the weight
      WQ_ASSIGN_OR_RETURN(wf, w.clone());
      for (int64_t k = 0; k < wf.numel(); ++k) wf.mutable_data<float>()[k] *= alpha;
    }
    const WeightedNode wn{n, p, w, wf, is_gemm, alpha, beta, n.inputs[1]};
    WQ_ASSIGN_OR_RETURN(Json wrj, export_weight(cx, wn));
    wrj.set("node", n.name);
    cx.weight_reports.push_back(std::move(wrj));
    nr.set("quantized", true);
    cx.node_reports.push_back(std::move(nr));
    ++cx.quantized_nodes;
  }
  return Status::Ok();
}

Result<std::string> beta_scaled_bias(ExportContext& cx, const WeightedNode& wn) {
  const Node& n = wn.node;
  if (wn.beta == 1.0f) return n.inputs[2];
  const Tensor* bias = float_initializer(cx.prepared, n.inputs[2]);
  if (!bias) return unsupported("node '" + n.name + "': Gemm with beta != 1 and a computed bias");
  WQ_ASSIGN_OR_RETURN(Tensor bt, bias->clone());
  for (int64_t k = 0; k < bt.numel(); ++k) bt.mutable_data<float>()[k] *= wn.beta;
  const std::string bias_name = cx.b.fresh(n.inputs[2] + "_beta");
  cx.g.set_initializer(bias_name, bt);
  return bias_name;
}

}  // namespace detail
}  // namespace wq
