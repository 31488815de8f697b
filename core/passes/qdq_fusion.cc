#include "core/passes/qdq_fusion.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/graph_edit.h"
#include "core/onnx/tensor_convert.h"
#include "core/passes/pass_util.h"
#include "core/passes/runtime_ops_spec.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::constant;
using detail::Editor;
using detail::has_io;
using detail::Index;
using detail::input_at;
using detail::qdq_int_values;
using detail::is_op;
using detail::is_q8;
using detail::read_float_attr;
using detail::read_int_attr;

// ---- reading quantization parameters --------------------------------------------

// Scale and zero point of a QuantizeLinear / DequantizeLinear node, when both
// are constants, the scale float32 and the zero point 8-bit (or int32 for a
// bias); per tensor, or per axis when the scale is 1-D.
struct QdqNodeParams {
  std::string scale_name, zp_name;  // zp_name empty: no zero point (0)
  DType zp_dtype = DType::kUndefined;
  // The values, as the one params type: per tensor (q.scale, q.zero_point)
  // when the scale has one element, else per axis (q.scales, q.zero_points,
  // q.axis as written: normalize it against the data's rank).
  QuantParams q;
  bool per_tensor() const { return !q.per_channel(); }
  size_t channels() const { return q.per_channel() ? q.scales.size() : 1; }
  float scale_at(size_t c) const { return q.scale_at(c); }
  int32_t zero_point_at(size_t c) const { return q.zero_point_at(c); }
  bool zero_zp() const {
    return q.zero_point == 0 && std::all_of(q.zero_points.begin(), q.zero_points.end(), [](int32_t z) { return z == 0; });
  }
};

bool read_qparams(const Graph& g, const Node& n, QdqNodeParams* p) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1 || n.outputs[0].empty()) return false;
  if (read_int_attr(n, "block_size", 0) != 0) return false;
  const Tensor* s = constant(g, n.inputs[1]);
  if (!s || s->dtype() != DType::kFloat32 || s->numel() < 1 || s->rank() > 1) return false;
  const float* sv = s->data<float>();
  for (int64_t i = 0; i < s->numel(); ++i)
    if (!std::isfinite(sv[i]) || sv[i] == 0.0f) return false;
  p->scale_name = n.inputs[1];
  p->zp_name = input_at(n, 2);
  p->zp_dtype = DType::kUndefined;
  std::vector<int32_t> zps;
  if (!p->zp_name.empty()) {
    const Tensor* z = constant(g, p->zp_name);
    if (!z || z->numel() != s->numel() || z->rank() != s->rank()) return false;
    if (!is_q8(z->dtype()) && z->dtype() != DType::kInt32) return false;
    zps = qdq_int_values(*z);
    p->zp_dtype = z->dtype();
  }
  p->q = QuantParams();
  p->q.is_signed = p->zp_dtype == DType::kInt8;
  if (s->numel() == 1) {
    p->q.scale = sv[0];
    p->q.zero_point = zps.empty() ? 0 : zps[0];
  } else {
    p->q.scales.assign(sv, sv + s->numel());
    p->q.zero_points = std::move(zps);
    p->q.axis = int(read_int_attr(n, "axis", 1));
  }
  return true;
}

// The 8-bit type a QuantizeLinear produces (kUndefined when it is not one we
// run: 16-bit, 4-bit, float8, or an unknown zero point).
DType q_output_dtype(const Graph& g, const Node& q) {
  const std::string& zp = input_at(q, 2);
  DType t = DType::kUInt8;
  if (!zp.empty()) {
    const Tensor* z = constant(g, zp);
    if (!z) return DType::kUndefined;
    t = z->dtype();
  } else {
    const int64_t od = read_int_attr(q, "output_dtype", 0);
    if (od != 0) t = od == int64_t(DType::kInt8) ? DType::kInt8 : od == int64_t(DType::kUInt8) ? DType::kUInt8
                                                                                               : DType::kUndefined;
  }
  return is_q8(t) ? t : DType::kUndefined;
}

// Ops that only move or select elements of their first input.
bool is_passthrough_op(const Node* n) {
  static const char* const kOps[] = {"MaxPool", "Reshape",   "Transpose",    "Flatten",      "Squeeze", "Unsqueeze",
                                     "Slice",   "Gather",    "DepthToSpace", "SpaceToDepth", "Identity"};
  if (!n || !n->domain.empty()) return false;
  for (const char* op : kOps)
    if (n->op_type == op) return true;
  return false;
}

// The type of the quantized tensor a DequantizeLinear reads, when it is known
// before running: its zero point's type, a declared type, or the type of the
// QuantizeLinear that made it.
DType dq_input_dtype(const Graph& g, const Index& idx, const Node& dq, const QdqNodeParams& p) {
  if (p.zp_dtype != DType::kUndefined) return p.zp_dtype;
  const std::string& x = dq.inputs[0];
  if (const Tensor* t = constant(g, x)) return t->dtype();
  if (const onnx::ValueInfoProto* vi = g.find_value_info(x)) {
    const ValueSummary v = value_summary_from_proto(*vi);
    if (v.dtype != DType::kUndefined) return v.dtype;
  }
  // Through the producers that keep the type: a QuantizeLinear, one of our
  // fused ops, or a pass-through op already running on the 8-bit tensor.
  const Node* prod = idx.producer(x);
  for (int depth = 0; prod && depth < 16; ++depth) {
    if (is_op(prod, "QuantizeLinear")) return q_output_dtype(g, *prod);
    if (prod->domain == kRuntimeOpDomain && prod->op_type != "DynamicQMatMul") {
      const int64_t od = read_int_attr(*prod, "output_dtype", 0);
      return od == int64_t(DType::kInt8) ? DType::kInt8 : od == int64_t(DType::kUInt8) ? DType::kUInt8
                                                                                       : DType::kUndefined;
    }
    if (!is_passthrough_op(prod) || prod->inputs.empty()) break;
    if (const Tensor* t = constant(g, prod->inputs[0])) return t->dtype();
    prod = idx.producer(prod->inputs[0]);
  }
  return DType::kUndefined;
}

// A DequantizeLinear of an activation: per tensor, 8-bit of a known type.
struct DqInput {
  const Node* node = nullptr;
  QdqNodeParams p;
  DType dtype = DType::kUndefined;
};

bool read_dq_activation(const Graph& g, const Index& idx, const std::string& value, DqInput* out) {
  const Node* dq = idx.producer(value);
  if (!is_op(dq, "DequantizeLinear") || !has_io(dq, 2, 1) || !read_qparams(g, *dq, &out->p) || !out->p.per_tensor()) return false;
  out->node = dq;
  out->dtype = dq_input_dtype(g, idx, *dq, out->p);
  return is_q8(out->dtype);
}

// A DequantizeLinear of a constant 8-bit weight of rank `rank`, per tensor or
// per axis `channel_axis` (one scale per output channel).
struct DqWeight {
  const Node* node = nullptr;
  const Tensor* w = nullptr;
  QdqNodeParams p;
};

bool read_dq_weight(const Graph& g, const Index& idx, const std::string& value, size_t rank, int64_t channel_axis,
                    DqWeight* out) {
  const Node* dq = idx.producer(value);
  if (!is_op(dq, "DequantizeLinear") || !has_io(dq, 2, 1) || !read_qparams(g, *dq, &out->p)) return false;
  const Tensor* w = constant(g, dq->inputs[0]);
  if (!w || !is_q8(w->dtype()) || w->rank() != rank || w->numel() == 0) return false;
  if (out->p.zp_dtype != DType::kUndefined && out->p.zp_dtype != w->dtype()) return false;
  if (!out->p.per_tensor()) {
    const int64_t axis = out->p.q.axis < 0 ? out->p.q.axis + int64_t(rank) : out->p.q.axis;
    if (axis != channel_axis || int64_t(out->p.channels()) != w->dim(size_t(channel_axis))) return false;
  }
  out->node = dq;
  out->w = w;
  return true;
}

// The QuantizeLinear closing a pattern: per tensor, 8-bit output.
struct QOutput {
  const Node* node = nullptr;
  QdqNodeParams p;
  DType dtype = DType::kUndefined;
};

bool read_q_output(const Graph& g, const Node& q, QOutput* out) {
  if (!is_op(&q, "QuantizeLinear") || !has_io(&q, 2, 1) || !read_qparams(g, q, &out->p) || !out->p.per_tensor())
    return false;
  out->dtype = q_output_dtype(g, q);
  if (!is_q8(out->dtype)) return false;
  out->node = &q;
  return true;
}

// Relu, or Clip with constant bounds, as real bounds of a fused clamp.
bool read_activation(const Graph& g, const Node& n, float* lo, float* hi) {
  if (is_op(&n, "Relu")) {
    *lo = 0.0f;
    *hi = INFINITY;
    return n.inputs.size() == 1;
  }
  if (!is_op(&n, "Clip")) return false;
  *lo = -INFINITY;
  *hi = INFINITY;
  if (g.opset("") < 11) {
    read_float_attr(n, "min", lo);
    read_float_attr(n, "max", hi);
  } else {
    for (size_t i = 1; i <= 2; ++i) {
      const std::string& name = input_at(n, i);
      if (name.empty()) continue;
      const Tensor* t = constant(g, name);
      if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
      (i == 1 ? *lo : *hi) = t->data<float>()[0];
    }
  }
  return !std::isnan(*lo) && !std::isnan(*hi) && *lo <= *hi;
}

// ---- QDQ Conv / MatMul / Gemm ---------------------------------------------------------

// bias / (x_scale * w_scale) rounded half to even, computed in float as
// onnxruntime's quantizer does; false when it is not a finite int32.
bool quantize_bias(double bias, float acc_scale, int32_t* out) {
  if (!(acc_scale > 0.0f) || !std::isfinite(acc_scale)) return false;
  const float v = round_half_to_even(float(bias) / acc_scale);
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return false;
  *out = int32_t(v);
  return true;
}

// The int32 bias of a fused op from the float op's bias input: a float
// constant, or DequantizeLinear of an int32 constant. `acc_scales` holds
// x_scale * w_scale[c] for each of the n output channels.
bool fused_bias(const Graph& g, const Index& idx, const std::string& value, const std::vector<float>& acc_scales,
                std::vector<int32_t>* bias, const Node** dq_bias) {
  const size_t n = acc_scales.size();
  bias->assign(n, 0);
  *dq_bias = nullptr;
  if (const Tensor* b = constant(g, value)) {
    // [n], [1, n] or one value for all channels (Gemm broadcasts C).
    if (b->dtype() != DType::kFloat32) return false;
    const bool one = b->numel() == 1 && b->rank() <= 1;
    const bool row = b->numel() == int64_t(n) && (b->rank() == 1 || (b->rank() == 2 && b->dim(0) == 1));
    if (!one && !row) return false;
    for (size_t c = 0; c < n; ++c)
      if (!quantize_bias(b->data<float>()[one ? 0 : c], acc_scales[c], &(*bias)[c])) return false;
    return true;
  }
  const Node* dq = idx.producer(value);
  QdqNodeParams p;
  if (!is_op(dq, "DequantizeLinear") || !has_io(dq, 2, 1) || !read_qparams(g, *dq, &p) || !p.zero_zp()) return false;
  const Tensor* q = constant(g, dq->inputs[0]);
  if (!q || q->dtype() != DType::kInt32 || q->rank() != 1 || q->numel() != int64_t(n)) return false;
  if (!p.per_tensor() && (p.channels() != n || (p.q.axis != 0 && p.q.axis != -1))) return false;
  const std::vector<int32_t> v = qdq_int_values(*q);
  for (size_t c = 0; c < n; ++c) {
    const float s = p.scale_at(p.per_tensor() ? 0 : c);
    if (std::fabs(s - acc_scales[c]) <= 1e-6f * acc_scales[c]) {
      (*bias)[c] = v[c];  // the usual case: the int32 bias is in accumulator units already
    } else if (!quantize_bias(double(v[c]) * double(s), acc_scales[c], &(*bias)[c])) {
      return false;
    }
  }
  *dq_bias = dq;
  return true;
}

// DequantizeLinear(x) -> {Conv, MatMul, Gemm} <- DequantizeLinear(w) [-> Relu |
// Clip] -> QuantizeLinear. Rewrites the QuantizeLinear in place.
bool fuse_qlinear(Graph* g, const Index& idx, const Node& q_node, Editor* ed, PassStats* st) {
  QOutput q;
  if (!read_q_output(*g, q_node, &q)) return false;
  const Node* prev = idx.producer(q_node.inputs[0]);
  if (!prev || !idx.only_reader(q_node.inputs[0], &q_node)) return false;
  const Node* act = nullptr;
  float act_lo = -INFINITY, act_hi = INFINITY;
  if (has_io(prev, 1, 1) && read_activation(*g, *prev, &act_lo, &act_hi)) {
    act = prev;
    prev = idx.producer(act->inputs[0]);
    if (!prev || !idx.only_reader(act->inputs[0], act)) return false;
  }
  const Node* op = prev;
  if (!has_io(op, 2, 1)) return false;
  const bool conv = is_op(op, "Conv"), matmul = is_op(op, "MatMul"), gemm = is_op(op, "Gemm");
  if (!conv && !matmul && !gemm) return false;
  if (op->outputs.size() != 1 || op->inputs.size() < 2) return false;
  if (ed->touched(op) || ed->touched(act) || ed->touched(&q_node)) return false;

  DqInput x;
  if (!read_dq_activation(*g, idx, op->inputs[0], &x)) return false;

  // Weights: layout, output channels and the per-channel axis by op.
  size_t w_rank = 2;
  int64_t channel_axis = 1;
  bool trans_b = false;
  if (conv) {
    const Tensor* w = nullptr;
    const Node* dq = idx.producer(op->inputs[1]);
    if (is_op(dq, "DequantizeLinear") && has_io(dq, 1, 1)) w = constant(*g, dq->inputs[0]);
    if (!w || (w->rank() != 3 && w->rank() != 4)) return false;  // QConv: 1-D and 2-D convolutions
    w_rank = w->rank();
    channel_axis = 0;
  } else if (gemm) {
    float alpha = 1.0f, beta = 1.0f;
    read_float_attr(*op, "alpha", &alpha);
    read_float_attr(*op, "beta", &beta);
    if (read_int_attr(*op, "transA", 0) != 0 || alpha != 1.0f) return false;
    if (!input_at(*op, 2).empty() && beta != 1.0f) return false;
    trans_b = read_int_attr(*op, "transB", 0) != 0;
    channel_axis = trans_b ? 0 : 1;
  }
  DqWeight w;
  const bool const_w = read_dq_weight(*g, idx, op->inputs[1], w_rank, channel_axis, &w);
  // QLinearMatMul also takes a run-time B (attention): per tensor, known type.
  DqInput b_act;
  if (!const_w && !(matmul && read_dq_activation(*g, idx, op->inputs[1], &b_act))) return false;
  const size_t channels = const_w ? size_t(w.w->dim(size_t(channel_axis))) : 1;

  // The output-channel accumulator scales, for the bias.
  std::vector<float> acc_scales(channels);
  for (size_t c = 0; c < channels; ++c)
    acc_scales[c] = x.p.scale_at(0) * (const_w ? w.p.scale_at(w.p.per_tensor() ? 0 : c) : b_act.p.scale_at(0));
  std::vector<int32_t> bias;
  const Node* dq_bias = nullptr;
  const std::string& bias_in = matmul ? std::string() : input_at(*op, 2);
  if (!bias_in.empty() && !fused_bias(*g, idx, bias_in, acc_scales, &bias, &dq_bias)) return false;

  // The rewrite: QuantizeLinear becomes the fused op.
  const std::string base = q_node.name + "/";
  std::string bias_name;
  if (!bias_in.empty()) {
    Tensor t = Tensor::allocate(DType::kInt32, {int64_t(channels)}).value();
    std::memcpy(t.mutable_raw(), bias.data(), bias.size() * sizeof(int32_t));
    bias_name = ed->add_initializer(base + "bias_int32", std::move(t));
  }
  std::vector<onnx::AttributeProto> attrs;
  if (conv) {
    for (const auto& a : op->attributes) attrs.push_back(a);
  } else if (gemm) {
    attrs.push_back(detail::attr_int("transB", trans_b ? 1 : 0));
  }
  if (act) {
    if (act_lo > -INFINITY) attrs.push_back(detail::attr_float("act_min", act_lo));
    if (act_hi < INFINITY) attrs.push_back(detail::attr_float("act_max", act_hi));
  }
  attrs.push_back(detail::attr_int("output_dtype", int64_t(q.dtype)));
  const std::string x_q = x.node->inputs[0], out = q_node.outputs[0];
  std::vector<std::string> inputs;
  if (const_w) {
    inputs = {x_q, x.p.scale_name, x.p.zp_name, w.node->inputs[0], w.p.scale_name, w.p.zp_name};
  } else {
    inputs = {x_q, x.p.scale_name, x.p.zp_name, b_act.node->inputs[0], b_act.p.scale_name, b_act.p.zp_name};
  }
  if (gemm) inputs.push_back(bias_name);
  inputs.push_back(q.p.scale_name);
  inputs.push_back(q.p.zp_name);
  if (conv && !bias_name.empty()) inputs.push_back(bias_name);

  ed->maybe_dead(x.node);
  ed->maybe_dead(const_w ? w.node : b_act.node);
  ed->maybe_dead(dq_bias);
  ed->remove_later(op);
  if (act) ed->remove_later(act);
  Node* n = ed->mutable_node(&q_node);
  n->op_type = conv ? "QLinearConv" : gemm ? "QGemm" : "QLinearMatMul";
  n->domain = kRuntimeOpDomain;
  n->inputs = std::move(inputs);
  n->attributes = std::move(attrs);
  (conv ? st->qlinear_conv : gemm ? st->qgemm : st->qlinear_matmul) += 1;
  if (act) ++st->fused_activations;
  return true;
}

// ---- pass-through ops on 8-bit data ------------------------------------------------------


// Q(op(DQ(x))) == op(x) when both use the same scale and zero point: these ops
// only move or select elements (MaxPool selects the largest, and dequantizing is
// increasing), and Q(DQ(q)) == q because (q - zp) * s / s rounds back to
// q - zp for any normal scale whose range stays finite.
bool same_quantization(const QdqNodeParams& a, DType a_type, const QdqNodeParams& b, DType b_type) {
  if (a_type != b_type || !is_q8(a_type) || !a.per_tensor() || !b.per_tensor()) return false;
  const float s = a.scale_at(0), sb = b.scale_at(0);
  if (std::memcmp(&s, &sb, sizeof(float)) != 0) return false;
  if (!(s >= FLT_MIN * 512.0f && s <= FLT_MAX / 512.0f)) return false;
  const int32_t za = a.zero_point_at(0), zb = b.zero_point_at(0);
  return za == zb;
}

bool fuse_passthrough(Graph* g, const Index& idx, const Node& q_node, Editor* ed, PassStats* st) {
  QOutput q;
  if (!read_q_output(*g, q_node, &q) || ed->touched(&q_node)) return false;
  const Node* op = idx.producer(q_node.inputs[0]);
  const Node* dq_node = op;
  const bool direct = is_op(op, "DequantizeLinear");  // DQ -> Q
  if (!direct) {
    if (!is_passthrough_op(op) || ed->touched(op) || op->inputs.empty()) return false;
    if (!idx.only_reader(q_node.inputs[0], &q_node)) return false;
    for (size_t i = 1; i < op->outputs.size(); ++i)
      if (!op->outputs[i].empty()) return false;  // MaxPool's Indices
    dq_node = idx.producer(op->inputs[0]);
    if (!is_op(dq_node, "DequantizeLinear") || !has_io(dq_node, 2, 1)) return false;
    // The data input only: every other input (shape, axes, indices) is not quantized.
    for (size_t i = 1; i < op->inputs.size(); ++i)
      if (op->inputs[i] == op->inputs[0]) return false;
  }
  DqInput x;
  if (!read_dq_activation(*g, idx, dq_node->outputs[0], &x)) return false;
  if (!same_quantization(x.p, x.dtype, q.p, q.dtype)) return false;
  ed->maybe_dead(x.node);
  if (direct) {
    Node* n = ed->mutable_node(&q_node);
    n->op_type = "Identity";
    n->inputs = {x.node->inputs[0]};
    n->attributes.clear();
  } else {
    const std::string out = q_node.outputs[0];
    ed->remove_later(&q_node);
    Node* n = ed->mutable_node(op);
    n->inputs[0] = x.node->inputs[0];
    n->outputs[0] = out;
  }
  ++st->passthrough;
  return true;
}

// ---- dynamic quantization ------------------------------------------------------------

// DynamicQuantizeLinear(x) -> MatMulInteger(x_q, B, x_zp, b_zp) -> Cast(float)
// -> Mul(., Mul(x_scale, w_scale)) [-> Add(., bias)]. Rewrites the last node.
bool fuse_dynamic_matmul(Graph* g, const Index& idx, const Node& mi, Editor* ed, PassStats* st) {
  if (!is_op(&mi, "MatMulInteger") || mi.inputs.size() < 3 || mi.outputs.size() != 1 || ed->touched(&mi)) return false;
  const Node* dql = idx.producer(mi.inputs[0]);
  if (!is_op(dql, "DynamicQuantizeLinear") || !has_io(dql, 1, 3) || dql->outputs[0] != mi.inputs[0] ||
      dql->outputs[2].empty() || mi.inputs[2] != dql->outputs[2] || dql->outputs[1].empty())
    return false;
  const Tensor* b = constant(*g, mi.inputs[1]);
  if (!b || !is_q8(b->dtype()) || b->rank() != 2 || b->numel() == 0) return false;
  const int64_t n = b->dim(1);
  const std::string& b_zp = input_at(mi, 3);
  if (!b_zp.empty()) {
    const Tensor* z = constant(*g, b_zp);
    if (!z || z->dtype() != b->dtype() || (z->numel() != 1 && !(z->rank() == 1 && z->dim(0) == n))) return false;
  }
  const std::string& acc = mi.outputs[0];
  const Node* cast = idx.readers(acc).empty() ? nullptr : idx.readers(acc)[0];
  if (!is_op(cast, "Cast") || !has_io(cast, 1, 1) || !idx.only_reader(acc, cast) ||
      read_int_attr(*cast, "to", 0) != int64_t(DType::kFloat32))
    return false;
  const Node* mul = idx.readers(cast->outputs[0]).empty() ? nullptr : idx.readers(cast->outputs[0])[0];
  if (!is_op(mul, "Mul") || !has_io(mul, 2, 1) || !idx.only_reader(cast->outputs[0], mul) || mul->inputs.size() != 2)
    return false;
  const std::string& scale = mul->inputs[0] == cast->outputs[0] ? mul->inputs[1] : mul->inputs[0];
  const Node* smul = idx.producer(scale);
  if (!is_op(smul, "Mul") || smul->inputs.size() != 2) return false;
  const std::string& ws_name = smul->inputs[0] == dql->outputs[1] ? smul->inputs[1] : smul->inputs[0];
  if (smul->inputs[0] != dql->outputs[1] && smul->inputs[1] != dql->outputs[1]) return false;
  const Tensor* ws = constant(*g, ws_name);
  // Rank <= 1 keeps the product's shape that of the MatMul.
  if (!ws || ws->dtype() != DType::kFloat32 || ws->rank() > 1 || (ws->numel() != 1 && ws->numel() != n)) return false;

  const Node* last = mul;
  std::string bias_name;
  const auto& mul_readers = idx.readers(mul->outputs[0]);
  if (mul_readers.size() == 1 && is_op(mul_readers[0], "Add") && has_io(mul_readers[0], 2, 1) &&
      idx.only_reader(mul->outputs[0], mul_readers[0]) && mul_readers[0]->inputs.size() == 2) {
    const Node* add = mul_readers[0];
    const std::string& other = add->inputs[0] == mul->outputs[0] ? add->inputs[1] : add->inputs[0];
    const Tensor* bias = constant(*g, other);
    if (bias && bias->dtype() == DType::kFloat32 && bias->rank() == 1 && bias->dim(0) == n &&
        other != mul->outputs[0]) {
      last = add;
      bias_name = other;
    }
  }
  if (ed->touched(cast) || ed->touched(mul) || ed->touched(last)) return false;
  ed->maybe_dead(dql);
  ed->maybe_dead(smul);
  ed->remove_later(&mi);
  ed->remove_later(cast);
  if (last != mul) ed->remove_later(mul);
  Node* f = ed->mutable_node(last);
  f->op_type = "DynamicQMatMul";
  f->domain = kRuntimeOpDomain;
  f->inputs = {dql->inputs[0], mi.inputs[1], b_zp, ws_name, bias_name};
  f->attributes.clear();
  ++st->dynamic_matmul;
  return true;
}

// ---- the rule table ------------------------------------------------------------------

using FusionAction = bool (*)(Graph* g, const Index& idx, const Node& anchor, Editor* ed, PassStats* st);

struct FusionRule {
  const char* name;
  const char* anchor_op;  // default domain
  FusionAction apply;     // false: no match (nothing changed)
};

// Order matters where two rules share an anchor: the first that matches wins.
constexpr FusionRule kQdqFusionRules[] = {
    {"passthrough", "QuantizeLinear", fuse_passthrough},
    {"qlinear", "QuantizeLinear", fuse_qlinear},
    {"dynamic_matmul", "MatMulInteger", fuse_dynamic_matmul},
};

}  // namespace

std::vector<QdqFusionRuleInfo> qdq_fusion_rules() {
  std::vector<QdqFusionRuleInfo> out;
  for (const FusionRule& r : kQdqFusionRules) out.push_back({r.name, r.anchor_op});
  return out;
}

Status fuse_qdq_patterns(Graph* graph, PassStats* st, std::unordered_set<std::string>* maybe_dead) {
  const size_t before = size_t(st->qlinear_conv + st->qlinear_matmul + st->qgemm + st->dynamic_matmul);
  // Sweeps until nothing changes: pass-through rewrites can expose new matches.
  for (int sweep = 0; sweep < 64; ++sweep) {
    Editor ed(graph);
    {
      const Index idx(*graph);
      for (const Node& n : graph->nodes()) {
        if (ed.touched(&n) || !n.domain.empty()) continue;
        for (const FusionRule& rule : kQdqFusionRules) {
          if (n.op_type != rule.anchor_op) continue;
          if (rule.apply(graph, idx, n, &ed, st)) break;
        }
      }
    }
    const bool changed = !ed.empty();
    maybe_dead->insert(ed.maybe_dead().begin(), ed.maybe_dead().end());
    WQ_RETURN_IF_ERROR(ed.apply());
    if (!changed) break;
  }
  if (size_t(st->qlinear_conv + st->qlinear_matmul + st->qgemm + st->dynamic_matmul) > before)
    graph->set_opset_import(kRuntimeOpDomain, kRuntimeOpset);
  return Status::Ok();
}

}  // namespace wq
