#include "core/runtime/optimize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/graph_edit.h"
#include "core/onnx/tensor_convert.h"
#include "core/ops/quant_ops.h"
#include "core/quant/qparams.h"

namespace wq {
namespace {

// ---- reading the graph ----------------------------------------------------------

// Who produces and who reads each value. Node pointers point into the graph's
// node vector: valid until the next add_node / remove_node, so an Index is
// rebuilt after every batch of rewrites.
class Index {
 public:
  explicit Index(const Graph& g) {
    for (const Node& n : g.nodes()) {
      for (const auto& o : n.outputs)
        if (!o.empty()) producer_[o] = &n;
      for (const auto& i : n.inputs)
        if (!i.empty()) readers_[i].push_back(&n);
      // Names a subgraph may read from this scope (an over-approximation: every
      // name a subgraph node reads or a subgraph returns) are pinned.
      for (const auto& a : n.attributes) {
        if (a.g) pin_subgraph(*a.g);
        for (const auto& sg : a.graphs)
          if (sg) pin_subgraph(*sg);
      }
    }
    for (const auto& o : g.output_protos()) ++pins_[o.name];
  }

  const Node* producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : it->second;
  }
  // Node inputs reading v, plus graph outputs and subgraph reads.
  size_t uses(const std::string& v) const {
    auto r = readers_.find(v);
    auto p = pins_.find(v);
    return (r == readers_.end() ? 0 : r->second.size()) + (p == pins_.end() ? 0 : size_t(p->second));
  }
  // True when `reader` reads v through exactly one input and nothing else does.
  bool only_reader(const std::string& v, const Node* reader) const {
    if (uses(v) != 1) return false;
    auto r = readers_.find(v);
    return r != readers_.end() && r->second[0] == reader;
  }
  const std::vector<const Node*>& readers(const std::string& v) const {
    static const std::vector<const Node*> kNone;
    auto r = readers_.find(v);
    return r == readers_.end() ? kNone : r->second;
  }

 private:
  void pin_subgraph(const onnx::GraphProto& g) {
    for (const auto& n : g.node) {
      for (const auto& i : n.input)
        if (!i.empty()) ++pins_[i];
      for (const auto& a : n.attribute) {
        if (a.g) pin_subgraph(*a.g);
        for (const auto& sg : a.graphs)
          if (sg) pin_subgraph(*sg);
      }
    }
    for (const auto& o : g.output) ++pins_[o.name];
  }

  std::unordered_map<std::string, const Node*> producer_;
  std::unordered_map<std::string, std::vector<const Node*>> readers_;
  std::unordered_map<std::string, int> pins_;
};

bool is_op(const Node* n, const char* op_type) { return n && n->domain.empty() && n->op_type == op_type; }

// At least `inputs` inputs and `outputs` outputs, the first of each named (a
// malformed node must never be indexed past its end).
bool has_io(const Node* n, size_t inputs, size_t outputs) {
  return n && n->inputs.size() >= inputs && n->outputs.size() >= outputs && (inputs == 0 || !n->inputs[0].empty()) &&
         (outputs == 0 || !n->outputs[0].empty());
}

const std::string& input_at(const Node& n, size_t i) {
  static const std::string kEmpty;
  return i < n.inputs.size() ? n.inputs[i] : kEmpty;
}

const Tensor* constant(const Graph& g, const std::string& name) {
  return name.empty() ? nullptr : g.find_initializer(name);
}

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

int64_t attr_int(const Node& n, const char* name, int64_t fallback) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  return a && (a->type == onnx::AttributeProto::INT || a->type == onnx::AttributeProto::UNDEFINED) ? a->i : fallback;
}
bool attr_float(const Node& n, const char* name, float* out) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  if (!a || (a->type != onnx::AttributeProto::FLOAT && a->type != onnx::AttributeProto::UNDEFINED)) return false;
  *out = a->f;
  return true;
}

// Integer values of an 8-bit or int32 tensor.
std::vector<int32_t> int_values(const Tensor& t) {
  std::vector<int32_t> v(size_t(std::max<int64_t>(t.numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.dtype()) {
      case DType::kUInt8: v[i] = t.data<uint8_t>()[i]; break;
      case DType::kInt8: v[i] = t.data<int8_t>()[i]; break;
      case DType::kInt32: v[i] = t.data<int32_t>()[i]; break;
      default: v[i] = 0; break;
    }
  }
  return v;
}

// Scale and zero point of a QuantizeLinear / DequantizeLinear node, when both
// are constants, the scale float32 and the zero point 8-bit (or int32 for a
// bias); per tensor, or per axis when the scale is 1-D.
struct QParams {
  std::string scale_name, zp_name;  // zp_name empty: no zero point (0)
  std::vector<float> scales;
  std::vector<int32_t> zps;  // empty when absent
  DType zp_dtype = DType::kUndefined;
  int64_t axis = 1;  // as written (normalize against the data's rank)
  bool per_tensor() const { return scales.size() == 1; }
  bool zero_zp() const {
    return std::all_of(zps.begin(), zps.end(), [](int32_t z) { return z == 0; });
  }
};

bool read_qparams(const Graph& g, const Node& n, QParams* p) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1 || n.outputs[0].empty()) return false;
  if (attr_int(n, "block_size", 0) != 0) return false;
  const Tensor* s = constant(g, n.inputs[1]);
  if (!s || s->dtype() != DType::kFloat32 || s->numel() < 1 || s->rank() > 1) return false;
  p->scale_name = n.inputs[1];
  p->scales.assign(s->data<float>(), s->data<float>() + s->numel());
  for (float v : p->scales)
    if (!std::isfinite(v) || v == 0.0f) return false;
  p->axis = attr_int(n, "axis", 1);
  p->zp_name = input_at(n, 2);
  p->zps.clear();
  p->zp_dtype = DType::kUndefined;
  if (!p->zp_name.empty()) {
    const Tensor* z = constant(g, p->zp_name);
    if (!z || z->numel() != s->numel() || z->rank() != s->rank()) return false;
    if (!is_q8(z->dtype()) && z->dtype() != DType::kInt32) return false;
    p->zps = int_values(*z);
    p->zp_dtype = z->dtype();
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
    const int64_t od = attr_int(q, "output_dtype", 0);
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
DType dq_input_dtype(const Graph& g, const Index& idx, const Node& dq, const QParams& p) {
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
      const int64_t od = attr_int(*prod, "output_dtype", 0);
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
  QParams p;
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
  QParams p;
};

bool read_dq_weight(const Graph& g, const Index& idx, const std::string& value, size_t rank, int64_t channel_axis,
                    DqWeight* out) {
  const Node* dq = idx.producer(value);
  if (!is_op(dq, "DequantizeLinear") || !has_io(dq, 2, 1) || !read_qparams(g, *dq, &out->p)) return false;
  const Tensor* w = constant(g, dq->inputs[0]);
  if (!w || !is_q8(w->dtype()) || w->rank() != rank || w->numel() == 0) return false;
  if (out->p.zp_dtype != DType::kUndefined && out->p.zp_dtype != w->dtype()) return false;
  if (!out->p.per_tensor()) {
    const int64_t axis = out->p.axis < 0 ? out->p.axis + int64_t(rank) : out->p.axis;
    if (axis != channel_axis || int64_t(out->p.scales.size()) != w->dim(size_t(channel_axis))) return false;
  }
  out->node = dq;
  out->w = w;
  return true;
}

// The QuantizeLinear closing a pattern: per tensor, 8-bit output.
struct QOutput {
  const Node* node = nullptr;
  QParams p;
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
    attr_float(n, "min", lo);
    attr_float(n, "max", hi);
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

// ---- editing ---------------------------------------------------------------------


// One pass's edits: nodes rewritten in place right away, nodes to remove at the
// end (removal shifts the node vector under the Index), and the nodes a match
// already used, so that matches within a pass never overlap.
class Editor {
 public:
  explicit Editor(Graph* g) : g_(g) {
    for (const Node& n : g->nodes()) {
      for (const auto& o : n.outputs) names_.insert(o);
      for (const auto& i : n.inputs) names_.insert(i);
    }
    for (const auto& kv : g->initializers()) names_.insert(kv.first);
    for (const auto& in : g->input_protos()) names_.insert(in.name);
  }

  bool touched(const Node* n) const { return n && touched_.count(n->name) > 0; }
  void touch(const Node* n) {
    if (n) touched_.insert(n->name);
  }
  void remove_later(const Node* n) {
    touch(n);
    to_remove_.push_back(n->name);
  }
  // Nodes that may be dead once the pass is applied (shared DequantizeLinear, ...).
  void maybe_dead(const Node* n) {
    if (n) maybe_dead_.insert(n->name);
  }
  Node* mutable_node(const Node* n) {
    touch(n);
    return g_->mutable_node(n->name);
  }

  // A new initializer with a name no value of the graph has.
  std::string add_initializer(const std::string& base, Tensor t) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    g_->set_initializer(name, std::move(t));
    return name;
  }

  bool empty() const { return touched_.empty(); }
  Status apply() {
    for (const auto& name : to_remove_) WQ_RETURN_IF_ERROR(g_->remove_node(name));
    to_remove_.clear();
    touched_.clear();
    return Status::Ok();
  }
  const std::unordered_set<std::string>& maybe_dead() const { return maybe_dead_; }

 private:
  Graph* g_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> touched_;
  std::vector<std::string> to_remove_;
  std::unordered_set<std::string> maybe_dead_;
};

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
  QParams p;
  if (!is_op(dq, "DequantizeLinear") || !has_io(dq, 2, 1) || !read_qparams(g, *dq, &p) || !p.zero_zp()) return false;
  const Tensor* q = constant(g, dq->inputs[0]);
  if (!q || q->dtype() != DType::kInt32 || q->rank() != 1 || q->numel() != int64_t(n)) return false;
  if (!p.per_tensor() && (p.scales.size() != n || (p.axis != 0 && p.axis != -1))) return false;
  const std::vector<int32_t> v = int_values(*q);
  for (size_t c = 0; c < n; ++c) {
    const float s = p.scales[p.per_tensor() ? 0 : c];
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
bool fuse_qlinear(Graph* g, const Index& idx, const Node& q_node, Editor* ed, RuntimeOptimizeStats* st) {
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
    attr_float(*op, "alpha", &alpha);
    attr_float(*op, "beta", &beta);
    if (attr_int(*op, "transA", 0) != 0 || alpha != 1.0f) return false;
    if (!input_at(*op, 2).empty() && beta != 1.0f) return false;
    trans_b = attr_int(*op, "transB", 0) != 0;
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
    acc_scales[c] = x.p.scales[0] * (const_w ? w.p.scales[w.p.per_tensor() ? 0 : c] : b_act.p.scales[0]);
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
bool same_quantization(const QParams& a, DType a_type, const QParams& b, DType b_type) {
  if (a_type != b_type || !is_q8(a_type) || !a.per_tensor() || !b.per_tensor()) return false;
  if (std::memcmp(&a.scales[0], &b.scales[0], sizeof(float)) != 0) return false;
  const float s = a.scales[0];
  if (!(s >= FLT_MIN * 512.0f && s <= FLT_MAX / 512.0f)) return false;
  const int32_t za = a.zps.empty() ? 0 : a.zps[0], zb = b.zps.empty() ? 0 : b.zps[0];
  return za == zb;
}

bool fuse_passthrough(Graph* g, const Index& idx, const Node& q_node, Editor* ed, RuntimeOptimizeStats* st) {
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
bool fuse_dynamic_matmul(Graph* g, const Index& idx, const Node& mi, Editor* ed, RuntimeOptimizeStats* st) {
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
      attr_int(*cast, "to", 0) != int64_t(DType::kFloat32))
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

// ---- plan-time evaluation -----------------------------------------------------------

class FoldInit final : public KernelInit {
 public:
  FoldInit(const Node& node, int opset, const std::vector<const Tensor*>& constants)
      : node_(node), opset_(opset), constants_(constants) {}

  const std::string& op_type() const override { return node_.op_type; }
  const std::string& domain() const override { return node_.domain; }
  const std::string& node_name() const override { return node_.name; }
  int opset() const override { return opset_; }
  size_t num_inputs() const override { return node_.inputs.size(); }
  bool has_input(size_t i) const override { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  const std::string& input_name(size_t i) const override { return input_at(node_, i); }
  const Tensor* constant_input(size_t i) const override { return i < constants_.size() ? constants_[i] : nullptr; }
  size_t num_outputs() const override { return node_.outputs.size(); }
  bool has_output(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  bool has_attr(const std::string& name) const override { return node_.find_attribute(name) != nullptr; }

  Result<int64_t> attr_int(const std::string& name, int64_t fallback) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::INT));
    return a ? a->i : fallback;
  }
  Result<float> attr_float(const std::string& name, float fallback) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::FLOAT));
    return a ? a->f : fallback;
  }
  Result<std::string> attr_string(const std::string& name, const std::string& fallback) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::STRING));
    return a ? a->s : fallback;
  }
  Result<std::vector<int64_t>> attr_ints(const std::string& name) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::INTS));
    return a ? a->ints : std::vector<int64_t>{};
  }
  Result<std::vector<float>> attr_floats(const std::string& name) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::FLOATS));
    return a ? a->floats : std::vector<float>{};
  }
  Result<std::vector<std::string>> attr_strings(const std::string& name) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::STRINGS));
    return a ? a->strings : std::vector<std::string>{};
  }
  Result<Tensor> attr_tensor(const std::string& name) const override {
    WQ_ASSIGN_OR_RETURN(const onnx::AttributeProto* a, find(name, onnx::AttributeProto::TENSOR));
    if (!a || !a->has_t) return not_found(context() + "attribute '" + name + "' is absent");
    return tensor_from_proto(a->t);
  }
  std::vector<std::string> attr_names() const override {
    std::vector<std::string> names;
    for (const auto& a : node_.attributes) names.push_back(a.name);
    return names;
  }

 private:
  Result<const onnx::AttributeProto*> find(const std::string& name, int32_t type) const {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (a && a->type != type && a->type != onnx::AttributeProto::UNDEFINED)
      return invalid_model(context() + "attribute '" + name + "' has the wrong type");
    return a;
  }

  const Node& node_;
  int opset_;
  const std::vector<const Tensor*>& constants_;
};

class FoldContext final : public KernelContext {
 public:
  FoldContext(const Node& node, const std::vector<const Tensor*>& inputs)
      : node_(node), inputs_(inputs), outputs_(node.outputs.size()) {}

  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool has_output(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    if (i >= outputs_.size()) return internal_error("kernel allocated output " + std::to_string(i));
    WQ_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, shape));
    return &outputs_[i];
  }
  void set_output(size_t i, Tensor t) override {
    if (i < outputs_.size()) outputs_[i] = std::move(t);
  }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const Node& node_;
  const std::vector<const Tensor*>& inputs_;
  std::vector<Tensor> outputs_;
};

// Ops whose result is not a function of their inputs, or that we never fold.
bool never_fold(const Node& n) {
  static const char* const kOps[] = {"Constant",          "RandomNormal",      "RandomUniform", "RandomNormalLike",
                                     "RandomUniformLike", "Multinomial",       "Bernoulli",     "If",
                                     "Loop",              "Scan",              "Dropout"};
  for (const char* op : kOps)
    if (n.op_type == op) return true;
  for (const auto& a : n.attributes)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

// A folded result larger than this, and more than 8x its inputs (an int4
// weight dequantized to float is exactly 8x), stays a node: Expand / Tile /
// ConstantOfShape would otherwise turn a few bytes of model into megabytes of
// heap that nothing asked for.
constexpr size_t kMaxFoldGrowthBytes = size_t(16) << 20;

// Evaluates every node whose inputs are all initializers (in order, so chains
// fold in one sweep) and stores its outputs as initializers. Inputs nothing
// else reads any more are dropped, so a weight is not held twice.
Status fold_constants(Graph* g, bool keep_dequantize, RuntimeOptimizeStats* st) {
  // The node vector does not change until the removals at the end, so one
  // Index serves the whole sweep; `released` counts reads of folded nodes.
  const Index idx(*g);
  std::unordered_map<std::string, size_t> released;
  std::vector<std::string> folded;
  for (const Node& n : g->nodes()) {
    if (!n.domain.empty() || never_fold(n)) continue;
    if (keep_dequantize && n.op_type == "DequantizeLinear") continue;
    std::vector<const Tensor*> in(n.inputs.size(), nullptr);
    bool all_constant = !n.inputs.empty(), any = false;
    size_t in_bytes = 0;
    for (size_t i = 0; i < n.inputs.size() && all_constant; ++i) {
      if (n.inputs[i].empty()) continue;
      in[i] = g->find_initializer(n.inputs[i]);
      all_constant = in[i] != nullptr;
      any = true;
      if (in[i]) in_bytes += in[i]->nbytes();
    }
    if (!all_constant || !any) continue;
    const int opset = int(g->opset(n.domain));
    const KernelFactory* factory = builtin_ops().find(n.domain, n.op_type, opset);
    if (!factory) continue;
    FoldInit init(n, opset, in);
    FoldContext ctx(n, in);
    // Folding may not allocate more than it would keep: a result over the
    // growth limit stays a node, so it is refused before it is allocated
    // (an 81-byte ConstantOfShape must not cost a GiB and seconds at load).
    MemoryLimitScope fold_limit(std::max<uint64_t>(kMaxFoldGrowthBytes, uint64_t(in_bytes) * 8) + in_bytes,
                                "the load-time constant folding limit");
    // A node that cannot be evaluated here stays a node: the session reports
    // its error when (and only if) a run needs it.
    try {
      Result<std::unique_ptr<OpKernel>> kernel = (*factory)(init);
      if (!kernel.ok() || !kernel.value() || !kernel.value()->run(ctx).ok()) continue;
    } catch (const std::exception&) {
      continue;
    }
    bool complete = true;
    size_t out_bytes = 0;
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) continue;
      complete &= ctx.outputs()[i].defined();
      out_bytes += ctx.outputs()[i].nbytes();
    }
    if (!complete || (out_bytes > kMaxFoldGrowthBytes && out_bytes / 8 > in_bytes)) continue;
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) g->set_initializer(n.outputs[i], std::move(ctx.outputs()[i]));
    for (const auto& i : n.inputs) {
      if (i.empty()) continue;
      if (++released[i] >= idx.uses(i)) g->remove_initializer(i);
    }
    folded.push_back(n.name);
  }
  for (const auto& name : folded) WQ_RETURN_IF_ERROR(g->remove_node(name));
  st->folded_nodes += int(folded.size());
  return Status::Ok();
}

// Constant nodes become initializers (so every later step sees one kind of
// constant). A Constant we cannot convert stays; the session reports it.
Status constants_to_initializers(Graph* g, RuntimeOptimizeStats* st) {
  std::vector<std::string> converted;
  for (const Node& n : g->nodes()) {
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0].empty() ||
        n.attributes.size() != 1)
      continue;
    const onnx::AttributeProto& a = n.attributes[0];
    Result<Tensor> t = unsupported("");
    if (a.name == "value" && a.has_t) {
      t = tensor_from_proto(a.t);
    } else if (a.name == "value_float") {
      t = Tensor::from_floats({}, {a.f});
    } else if (a.name == "value_floats") {
      t = Tensor::from_floats({int64_t(a.floats.size())}, a.floats);
    } else if (a.name == "value_int") {
      t = Tensor::from_int64s({}, {a.i});
    } else if (a.name == "value_ints") {
      t = Tensor::from_int64s({int64_t(a.ints.size())}, a.ints);
    }
    if (!t.ok()) continue;
    g->set_initializer(n.outputs[0], std::move(t).value());
    converted.push_back(n.name);
  }
  for (const auto& name : converted) WQ_RETURN_IF_ERROR(g->remove_node(name));
  st->constant_nodes += int(converted.size());
  return Status::Ok();
}

// Removes the given nodes (and, transitively, nodes among them) once nothing
// reads any of their outputs.
Status remove_dead(Graph* g, std::unordered_set<std::string> candidates, RuntimeOptimizeStats* st) {
  bool changed = true;
  while (changed && !candidates.empty()) {
    changed = false;
    std::vector<std::string> dead;
    {
      Index idx(*g);
      for (const Node& n : g->nodes()) {
        if (!candidates.count(n.name)) continue;
        bool unread = true;
        for (const auto& o : n.outputs) unread &= o.empty() || idx.uses(o) == 0;
        if (unread) dead.push_back(n.name);
      }
    }
    for (const auto& name : dead) {
      WQ_RETURN_IF_ERROR(g->remove_node(name));
      candidates.erase(name);
      ++st->removed_nodes;
      changed = true;
    }
  }
  return Status::Ok();
}

}  // namespace

Status optimize_for_runtime(Graph* graph, RuntimeOptimizeStats* stats) {
  RuntimeOptimizeStats local;
  RuntimeOptimizeStats* st = stats ? stats : &local;
  *st = RuntimeOptimizeStats();

  std::unordered_set<std::string> used_initializers;
  {
    Index idx(*graph);
    for (const auto& kv : graph->initializers())
      if (idx.uses(kv.first) > 0) used_initializers.insert(kv.first);
  }

  WQ_RETURN_IF_ERROR(constants_to_initializers(graph, st));
  WQ_RETURN_IF_ERROR(fold_constants(graph, /*keep_dequantize=*/true, st));

  // Fusions, until nothing changes: a pass never lets two matches share a
  // node, and pass-through rewrites can expose new matches.
  std::unordered_set<std::string> maybe_dead;
  for (int pass = 0; pass < 64; ++pass) {
    Editor ed(graph);
    {
      const Index idx(*graph);
      for (const Node& n : graph->nodes()) {
        if (ed.touched(&n)) continue;
        if (is_op(&n, "QuantizeLinear")) {
          if (!fuse_passthrough(graph, idx, n, &ed, st)) fuse_qlinear(graph, idx, n, &ed, st);
        } else if (is_op(&n, "MatMulInteger")) {
          fuse_dynamic_matmul(graph, idx, n, &ed, st);
        }
      }
    }
    const bool changed = !ed.empty();
    maybe_dead.insert(ed.maybe_dead().begin(), ed.maybe_dead().end());
    WQ_RETURN_IF_ERROR(ed.apply());
    if (!changed) break;
  }
  if (st->qlinear_conv + st->qlinear_matmul + st->qgemm + st->dynamic_matmul > 0)
    graph->set_opset_import(kRuntimeOpDomain, kRuntimeOpset);
  WQ_RETURN_IF_ERROR(remove_dead(graph, std::move(maybe_dead), st));
  WQ_RETURN_IF_ERROR(fold_constants(graph, /*keep_dequantize=*/false, st));

  // Initializers only the rewritten nodes read.
  const Index idx(*graph);
  std::vector<std::string> unread;
  for (const auto& kv : graph->initializers())
    if (used_initializers.count(kv.first) && idx.uses(kv.first) == 0) unread.push_back(kv.first);
  for (const auto& name : unread) graph->remove_initializer(name);
  // Every rewrite keeps the node order topological; checking costs one sort.
  Status valid = graph->validate_and_sort();
  return valid.ok() ? valid : internal_error("optimize_for_runtime broke the graph: " + valid.message());
}

const OpRegistry& runtime_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry(builtin_ops());
    register_runtime_quant_ops(*r);
    return r;
  }();
  return *registry;
}

}  // namespace wq
