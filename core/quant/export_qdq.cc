// Static QDQ export (doc/quantization.md, "Modes and what is exported"):
// calibrated activation parameters, fused Relu/Clip the range makes
// redundant, weights as DequantizeLinear(int8/int4 W) with int32 biases, and
// QuantizeLinear/DequantizeLinear pairs on activations (4-bit activations
// through a Clip to the 16-level range). export_weight_qdq also serves the
// Conv (and per-channel weight-only) weights of the other modes.
#include <algorithm>
#include <cmath>

#include "core/quant/export.h"

namespace wq {
namespace detail {
namespace {

bool act_is_signed(DType t) { return t == DType::kInt8 || t == DType::kInt4; }

// Activation -> parameters: exact overrides, else fixed or calibrated ranges;
// then shared scales (pass-through outputs, Concat inputs).
Status activation_params(ExportContext& cx) {
  std::map<std::string, QuantParams>& act_params = cx.act_params;
  const QuantTarget target = QuantTarget::for_dtype(cx.recipe.activations.dtype, cx.recipe.activations.symmetric);
  for (const auto& kv : cx.acts) {
    FloatRange r;
    auto exact = cx.param_overrides.find(kv.first);
    if (exact != cx.param_overrides.end()) {
      act_params[kv.first] = exact->second;
      continue;
    }
    auto ov = cx.range_overrides.find(kv.first);
    if (ov != cx.range_overrides.end()) {
      r = ov->second;
    } else if (kv.second && kv.second->observer->count() > 0) {
      WQ_ASSIGN_OR_RETURN(r, kv.second->observer->range(target));
    } else {
      continue;  // never seen as a float tensor (shape values, unused branches)
    }
    Result<QuantParams> p = quant_params_for_range(r.min, r.max, target);
    if (!p.ok()) return p.status().with_context("activation '" + kv.first + "': ");
    act_params[kv.first] = std::move(p).value();
  }
  for (const auto& sh : cx.shared) {
    auto src = act_params.find(sh.second);
    if (src != act_params.end() && act_params.count(sh.first)) act_params[sh.first] = src->second;
  }
  return Status::Ok();
}

// Fused activations that quantization makes redundant: the producer writes
// the Relu/Clip output directly when the quantized range lies within it.
Status remove_redundant_activations(ExportContext& cx) {
  Graph& g = cx.g;
  for (const auto& kv : cx.fused) {
    auto p = cx.act_params.find(kv.second);
    if (p == cx.act_params.end()) continue;
    const QuantParams& qp = p->second;
    const float lo = dequantize_value(qp.qmin(), qp.scale, qp.zero_point);
    const float hi = dequantize_value(qp.qmax(), qp.scale, qp.zero_point);
    const Node* act = nullptr;
    const Node* producer = nullptr;
    for (const Node& n : g.nodes()) {
      if (!n.outputs.empty() && n.outputs[0] == kv.second) act = &n;
      if (!n.outputs.empty() && n.outputs[0] == kv.first) producer = &n;
    }
    if (!act || !producer) continue;
    bool redundant = false;
    if (is_op(*act, "Relu")) {
      redundant = qp.zero_point == qp.qmin();
    } else {
      float cmin = -INFINITY, cmax = INFINITY;
      if (act->inputs.size() > 1 && !act->inputs[1].empty()) cmin = cx.prepared.find_initializer(act->inputs[1])->data<float>()[0];
      if (act->inputs.size() > 2 && !act->inputs[2].empty()) cmax = cx.prepared.find_initializer(act->inputs[2])->data<float>()[0];
      redundant = lo >= cmin && hi <= cmax;
    }
    if (!redundant) continue;
    const std::string act_name = act->name, prod_name = producer->name;
    g.mutable_node(prod_name)->outputs[0] = kv.second;
    WQ_RETURN_IF_ERROR(g.remove_node(act_name));
    cx.removed_nodes.insert(act_name);
  }
  return Status::Ok();
}

// QuantizeLinear/DequantizeLinear on every activation with parameters.
Status quantize_activations(ExportContext& cx) {
  Graph& g = cx.g;
  Builder& b = cx.b;
  std::set<std::string> graph_inputs;
  for (const auto& in : g.inputs()) graph_inputs.insert(in.name);
  // 4-bit activations travel in 8-bit containers behind a Clip to the
  // 16-level range: QuantizeLinear then yields exactly the 4-bit codes
  // (doc/quantization.md, "4-bit activations"). onnxruntime 1.30 rejects
  // uint4 activations around MaxPool at its default optimisation level, and
  // 8-bit containers run on the int8 kernels.
  const bool a4 = cx.recipe.activations.bits() == 4;
  const DType act_type = a4 ? (act_is_signed(cx.recipe.activations.dtype) ? DType::kInt8 : DType::kUInt8)
                            : cx.recipe.activations.dtype;
  for (const auto& kv : cx.act_params) {
    const std::string& v = kv.first;
    std::string s, z;
    b.add_params(v, kv.second, act_type, &s, &z);
    const std::string vq = b.fresh(v + "_quantized");
    // The tensor QuantizeLinear reads: `in`, or its clipped copy (4-bit).
    auto clipped = [&](const std::string& in) -> Result<std::string> {
      if (!a4) return in;
      const QuantParams& qp = kv.second;
      const std::string lo = b.fresh(v + "_clip_min"), hi = b.fresh(v + "_clip_max"), out = b.fresh(v + "_clipped");
      g.set_initializer(lo, Tensor::from_floats({}, {float(qp.qmin() - qp.zero_point) * qp.scale}));
      g.set_initializer(hi, Tensor::from_floats({}, {float(qp.qmax() - qp.zero_point) * qp.scale}));
      WQ_RETURN_IF_ERROR(b.add("Clip", v + "_Clip4", {in, lo, hi}, {out}));
      return out;
    };
    if (graph_inputs.count(v)) {
      const std::string vdq = b.fresh(v + "_dequantized");
      rewire_consumers(&g, v, vdq, {});
      WQ_ASSIGN_OR_RETURN(std::string qin, clipped(v));
      WQ_RETURN_IF_ERROR(b.add("QuantizeLinear", v + "_QuantizeLinear", {qin, s, z}, {vq}));
      WQ_RETURN_IF_ERROR(b.add("DequantizeLinear", v + "_DequantizeLinear", {vq, s, z}, {vdq}));
    } else {
      // The producer now writes v_float; DequantizeLinear writes v, so
      // consumers and graph outputs keep their names.
      const std::string vf = b.fresh(v + "_float");
      bool found = false;
      std::string producer;
      for (const Node& n : g.nodes())
        for (const auto& o : n.outputs)
          if (o == v) { producer = n.name; found = true; }
      if (!found) continue;
      for (auto& o : g.mutable_node(producer)->outputs)
        if (o == v) o = vf;
      WQ_ASSIGN_OR_RETURN(std::string qin, clipped(vf));
      WQ_RETURN_IF_ERROR(b.add("QuantizeLinear", v + "_QuantizeLinear", {qin, s, z}, {vq}));
      WQ_RETURN_IF_ERROR(b.add("DequantizeLinear", v + "_DequantizeLinear", {vq, s, z}, {v}));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Json> export_weight_qdq(ExportContext& cx, const WeightedNode& wn) {
  const Node& n = wn.node;
  const Recipe& recipe = cx.recipe;
  const bool is_static = recipe.mode == QuantMode::kStatic;
  const DType w8_type = weight_storage(recipe);
  const int axis = recipe.weights.granularity == Granularity::kPerTensor ? -1 : wn.plan.weight_axis;
  auto fixed = cx.weight_overrides.find(wn.base);
  const QuantParams* fixed_params = fixed != cx.weight_overrides.end() && is_static ? &fixed->second : nullptr;
  WQ_ASSIGN_OR_RETURN(QuantizedWeight qw, quantize_weight(wn.base, wn.wf, axis, 0, recipe.weights, false, w8_type, fixed_params));
  if (fixed_params) qw.report.set("trained", true);
  WQ_ASSIGN_OR_RETURN(std::string wdq, cx.b.dequantized_weight(wn.base, qw.q, qw.params, w8_type));
  Node* gn = cx.g.mutable_node(n.name);
  gn->inputs[1] = wdq;
  if (wn.alpha != 1.0f)
    for (auto& a : gn->attributes)
      if (a.name == "alpha") a.f = 1.0f;
  // Bias as int32 with scale x_scale * w_scale when the input is quantized.
  auto xp = cx.act_params.find(n.inputs[0]);
  const Tensor* bias = n.inputs.size() > 2 && !n.inputs[2].empty() ? float_initializer(cx.prepared, n.inputs[2]) : nullptr;
  const int64_t channels = wn.w.dim(size_t(wn.plan.weight_axis));
  if (is_static && xp != cx.act_params.end() && bias && bias->numel() == channels) {
    QuantParams bp;
    bp.bits = 32;
    bp.is_signed = true;
    bp.axis = 0;
    std::vector<int32_t> bq(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      const float s = xp->second.scale * qw.params.scale_at(size_t(c));
      bp.scales.push_back(s);
      const double v = std::nearbyint(double(bias->data<float>()[c]) * wn.beta / double(s));
      bq[size_t(c)] = int32_t(std::max(-2147483648.0, std::min(2147483647.0, v)));
    }
    bp.zero_points.assign(size_t(channels), 0);
    WQ_ASSIGN_OR_RETURN(Tensor bt, make_int_tensor(DType::kInt32, {channels}, bq));
    WQ_ASSIGN_OR_RETURN(std::string bdq, cx.b.dequantized_weight(n.inputs[2], bt, bp, DType::kInt32));
    gn = cx.g.mutable_node(n.name);
    gn->inputs[2] = bdq;
    if (wn.beta != 1.0f)
      for (auto& a : gn->attributes)
        if (a.name == "beta") a.f = 1.0f;
  }
  return std::move(qw.report);
}

Status export_static(ExportContext& cx) {
  WQ_RETURN_IF_ERROR(activation_params(cx));
  WQ_RETURN_IF_ERROR(remove_redundant_activations(cx));
  WQ_RETURN_IF_ERROR(export_weighted_nodes(cx, export_weight_qdq));
  return quantize_activations(cx);
}

}  // namespace detail
}  // namespace wq
