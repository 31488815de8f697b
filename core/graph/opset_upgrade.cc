#include "core/graph/opset_upgrade.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/graph/shape_inference.h"
#include "core/onnx/tensor_convert.h"

namespace wq {
namespace {

using Attr = onnx::AttributeProto;

std::string describe(const Node& n) { return "node '" + n.name + "' (" + n.op_type + "): "; }

// ---- attributes --------------------------------------------------------------------

const Attr* find_attr(const Node& n, const std::string& name) { return n.find_attribute(name); }

void erase_attr(Node* n, const std::string& name) {
  n->attributes.erase(std::remove_if(n->attributes.begin(), n->attributes.end(),
                                     [&](const Attr& a) { return a.name == name; }),
                      n->attributes.end());
}

void set_int_attr(Node* n, const std::string& name, int64_t v) {
  erase_attr(n, name);
  Attr a;
  a.name = name;
  a.type = Attr::INT;
  a.i = v;
  n->attributes.push_back(std::move(a));
}

void set_string_attr(Node* n, const std::string& name, const std::string& v) {
  erase_attr(n, name);
  Attr a;
  a.name = name;
  a.type = Attr::STRING;
  a.s = v;
  n->attributes.push_back(std::move(a));
}

// Typed readers: absent -> fallback; present with another type -> kInvalidModel.
// An attribute written without a type (very old exporters) is trusted to be
// what the schema says.
Status check_type(const Node& n, const Attr& a, Attr::Type want, const char* want_name) {
  if (a.type == want || a.type == Attr::UNDEFINED) return Status::Ok();
  if (!a.ref_attr_name.empty())
    return unsupported(describe(n) + "attribute '" + a.name + "' refers to a function attribute");
  return invalid_model(describe(n) + "attribute '" + a.name + "' must be " + want_name);
}

Result<int64_t> int_attr(const Node& n, const std::string& name, int64_t fallback) {
  const Attr* a = find_attr(n, name);
  if (!a) return fallback;
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::INT, "an int"));
  return a->i;
}

Result<float> float_attr(const Node& n, const std::string& name, float fallback) {
  const Attr* a = find_attr(n, name);
  if (!a) return fallback;
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::FLOAT, "a float"));
  return a->f;
}

Result<std::string> string_attr(const Node& n, const std::string& name, const std::string& fallback) {
  const Attr* a = find_attr(n, name);
  if (!a) return fallback;
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::STRING, "a string"));
  return a->s;
}

// Present (possibly empty) list, or nothing.
struct IntsAttr {
  bool present = false;
  std::vector<int64_t> values;
};

Result<IntsAttr> ints_attr(const Node& n, const std::string& name) {
  IntsAttr out;
  const Attr* a = find_attr(n, name);
  if (!a) return out;
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::INTS, "a list of ints"));
  out.present = true;
  out.values = a->ints;
  return out;
}

Result<std::vector<float>> floats_attr(const Node& n, const std::string& name) {
  const Attr* a = find_attr(n, name);
  if (!a) return std::vector<float>{};
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::FLOATS, "a list of floats"));
  return a->floats;
}

bool has_input(const Node& n, size_t i) { return i < n.inputs.size() && !n.inputs[i].empty(); }
bool has_output(const Node& n, size_t i) { return i < n.outputs.size() && !n.outputs[i].empty(); }

void trim_trailing_empty(std::vector<std::string>* names) {
  while (!names->empty() && names->back().empty()) names->pop_back();
}

// Version of each op this file knows, with the opset each signature appeared
// in (from the ONNX changelog, up to kMaxUpgradeOpset) and the rewrite that
// carries a node across the changes that are not plain supersets.
class Upgrader;
using RewriteFn = Status (*)(Upgrader& u, Node n);

struct OpRule {
  const char* op_type;
  std::vector<int> since;  // ascending
  RewriteFn rewrite;       // nullptr: every later signature accepts the node as is
};

const std::vector<OpRule>& op_rules();

class Upgrader {
 public:
  Upgrader(const Graph& g, int64_t source, int64_t target)
      : g_(g), source_(source), target_(target), shapes_(g, source) {}

  Status run(onnx::ModelProto* out);

  int64_t source() const { return source_; }
  int64_t target() const { return target_; }
  const ValueFacts& facts(const std::string& name) const { return shapes_.facts(name); }
  const ValueFacts& input_facts(const Node& n, size_t i) const { return shapes_.input_facts(n, i); }
  // The value of `name` when it is an initializer or a Constant's output.
  const Tensor* constant(const std::string& name) { return shapes_.constant(name); }

  std::string fresh_value(const std::string& base) { return fresh(base); }
  std::string fresh_node(const std::string& base) { return fresh(base); }
  // Adds an initializer under a fresh name derived from `base`; returns the name.
  std::string add_initializer(const std::string& base, Tensor t) {
    std::string name = fresh(base);
    new_initializers_.emplace_back(name, std::move(t));
    return name;
  }
  std::string add_int64s(const std::string& base, const std::vector<int64_t>& v) {
    return add_initializer(base, Tensor::from_int64s({static_cast<int64_t>(v.size())}, v));
  }
  // A scalar of the type of `like` holding float `v`: an initializer when the
  // type is known, else CastLike(v, like) from opset 15 on.
  Result<std::string> add_scalar_like(const Node& n, const std::string& base, float v, const std::string& like);
  void emit(Node n) { out_nodes_.push_back(std::move(n)); }
  // True when a node (or subgraph) reads `name` or it is a graph output.
  bool is_read(const std::string& name) const { return read_.count(name) > 0; }

 private:
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }
  void collect_names();
  Status upgrade_node(Node n);

  const Graph& g_;
  int64_t source_, target_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> read_;
  ShapeInference shapes_;  // facts inferred at the source opset
  std::vector<Node> out_nodes_;
  std::vector<std::pair<std::string, Tensor>> new_initializers_;
};

void collect_graph_names(const onnx::GraphProto& g, std::unordered_set<std::string>* names) {
  for (const auto& v : g.input) names->insert(v.name);
  for (const auto& v : g.output) names->insert(v.name);
  for (const auto& v : g.value_info) names->insert(v.name);
  for (const auto& t : g.initializer) names->insert(t.name);
  for (const auto& n : g.node) {
    names->insert(n.name);
    for (const auto& s : n.input) names->insert(s);
    for (const auto& s : n.output) names->insert(s);
    for (const auto& a : n.attribute) {
      if (a.g) collect_graph_names(*a.g, names);
      for (const auto& sg : a.graphs)
        if (sg) collect_graph_names(*sg, names);
    }
  }
}

void Upgrader::collect_names() {
  for (const auto& v : g_.input_protos()) names_.insert(v.name);
  for (const auto& v : g_.output_protos()) {
    names_.insert(v.name);
    read_.insert(v.name);
  }
  for (const auto& v : g_.value_info()) names_.insert(v.name);
  for (const auto& kv : g_.initializers()) names_.insert(kv.first);
  for (const Node& n : g_.nodes()) {
    names_.insert(n.name);
    for (const auto& s : n.inputs) {
      names_.insert(s);
      read_.insert(s);
    }
    for (const auto& s : n.outputs) names_.insert(s);
    for (const auto& a : n.attributes) {
      // Any name in a subgraph may be a capture: count it as read.
      std::unordered_set<std::string> sub;
      if (a.g) collect_graph_names(*a.g, &sub);
      for (const auto& sg : a.graphs)
        if (sg) collect_graph_names(*sg, &sub);
      names_.insert(sub.begin(), sub.end());
      read_.insert(sub.begin(), sub.end());
    }
  }
  names_.erase("");
}

Result<std::string> Upgrader::add_scalar_like(const Node& n, const std::string& base, float v,
                                              const std::string& like) {
  const DType t = facts(like).dtype;
  switch (t) {
    case DType::kFloat32:
      return add_initializer(base, Tensor::from_floats({}, {v}));
    case DType::kFloat64: {
      WQ_ASSIGN_OR_RETURN(Tensor d, Tensor::allocate(DType::kFloat64, {}));
      d.mutable_data<double>()[0] = static_cast<double>(v);
      return add_initializer(base, std::move(d));
    }
    case DType::kFloat16: {
      WQ_ASSIGN_OR_RETURN(Tensor h, Tensor::allocate(DType::kFloat16, {}));
      h.mutable_data<uint16_t>()[0] = float_to_half(v);
      return add_initializer(base, std::move(h));
    }
    case DType::kUndefined:
      break;
    default:
      return unsupported(describe(n) + "input '" + like + "' has type " + dtype_name(t) +
                         ", which this op version does not accept");
  }
  if (target_ < 15)
    return unsupported(describe(n) + "cannot infer the element type of '" + like +
                       "' to restate a float attribute as an input; declare its type in value_info or "
                       "upgrade to opset 15 or later (CastLike)");
  const std::string f = add_initializer(base + "_f32", Tensor::from_floats({}, {v}));
  Node cast;
  cast.name = fresh_node(n.name + "_castlike");
  cast.op_type = "CastLike";
  cast.inputs = {f, like};
  const std::string out = fresh_value(base);
  cast.outputs = {out};
  emit(std::move(cast));
  return out;
}

// ---- rewrites -----------------------------------------------------------------------------

// Add-1..6 and friends: legacy `broadcast`/`axis` attributes. Numpy
// broadcasting (opset 7) is a superset of suffix broadcasting, so dropping
// them is exact unless `axis` places B somewhere other than the suffix.
Status rewrite_legacy_broadcast(Upgrader& u, Node n) {
  if (u.source() < 7) {
    WQ_ASSIGN_OR_RETURN(int64_t bcast, int_attr(n, "broadcast", 0));
    if (bcast != 0 && find_attr(n, "axis")) {
      WQ_ASSIGN_OR_RETURN(int64_t axis, int_attr(n, "axis", 0));
      const ValueFacts& a = u.input_facts(n, 0);
      const ValueFacts& b = u.input_facts(n, 1);
      const bool suffix = a.rank >= 0 && b.rank >= 0 && axis == a.rank - b.rank;
      if (!suffix)
        return unsupported(describe(n) + "legacy broadcast with axis=" + std::to_string(axis) +
                           " cannot be restated without knowing the input ranks");
    }
    erase_attr(&n, "broadcast");
    erase_attr(&n, "axis");
  }
  u.emit(std::move(n));
  return Status::Ok();
}

// Gemm-1..6: `broadcast` became unidirectional broadcasting of C, a superset.
Status rewrite_gemm(Upgrader& u, Node n) {
  if (u.source() < 7) erase_attr(&n, "broadcast");
  u.emit(std::move(n));
  return Status::Ok();
}

// Clip-1..10: min/max float attributes -> optional inputs of the input type.
// An absent attribute meant the float limits, not infinity, so it becomes an
// input too (except for 16-bit floats, where clamping to +-FLT_MAX is a no-op).
Status rewrite_clip(Upgrader& u, Node n) {
  if (u.source() >= 11) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  const Attr* lo_attr = find_attr(n, "min");
  const Attr* hi_attr = find_attr(n, "max");
  WQ_ASSIGN_OR_RETURN(float lo, float_attr(n, "min", -std::numeric_limits<float>::max()));
  WQ_ASSIGN_OR_RETURN(float hi, float_attr(n, "max", std::numeric_limits<float>::max()));
  const DType t = u.input_facts(n, 0).dtype;
  const bool half = t == DType::kFloat16 || t == DType::kBFloat16;
  std::string lo_name, hi_name;
  if (lo_attr || !half) {
    WQ_ASSIGN_OR_RETURN(lo_name, u.add_scalar_like(n, n.name + "_min", lo, n.inputs[0]));
  }
  if (hi_attr || !half) {
    WQ_ASSIGN_OR_RETURN(hi_name, u.add_scalar_like(n, n.name + "_max", hi, n.inputs[0]));
  }
  erase_attr(&n, "min");
  erase_attr(&n, "max");
  n.inputs = {n.inputs[0], lo_name, hi_name};
  trim_trailing_empty(&n.inputs);
  u.emit(std::move(n));
  return Status::Ok();
}

// Slice-1: starts/ends/axes attributes -> int64 inputs (same clamping rules).
Status rewrite_slice(Upgrader& u, Node n) {
  if (u.source() >= 10) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  WQ_ASSIGN_OR_RETURN(IntsAttr starts, ints_attr(n, "starts"));
  WQ_ASSIGN_OR_RETURN(IntsAttr ends, ints_attr(n, "ends"));
  WQ_ASSIGN_OR_RETURN(IntsAttr axes, ints_attr(n, "axes"));
  if (!starts.present || !ends.present) return invalid_model(describe(n) + "attributes starts and ends are required");
  if (starts.values.size() != ends.values.size() || (axes.present && axes.values.size() != starts.values.size()))
    return invalid_model(describe(n) + "starts, ends and axes must have the same length");
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  std::vector<std::string> ins = {n.inputs[0], u.add_int64s(n.name + "_starts", starts.values),
                                  u.add_int64s(n.name + "_ends", ends.values)};
  if (axes.present) ins.push_back(u.add_int64s(n.name + "_axes", axes.values));
  n.inputs = std::move(ins);
  erase_attr(&n, "starts");
  erase_attr(&n, "ends");
  erase_attr(&n, "axes");
  u.emit(std::move(n));
  return Status::Ok();
}

// Moves an `axes` attribute to input 1 when the target takes it as an input.
Status axes_attribute_to_input(Upgrader& u, Node* n, int since, bool required) {
  if (u.source() >= since || u.target() < since) return Status::Ok();
  WQ_ASSIGN_OR_RETURN(IntsAttr axes, ints_attr(*n, "axes"));
  if (!has_input(*n, 0)) return invalid_model(describe(*n) + "input is missing");
  if (n->inputs.size() > 1) return invalid_model(describe(*n) + "has " + std::to_string(n->inputs.size()) + " inputs");
  if (required && !axes.present) return invalid_model(describe(*n) + "attribute axes is required");
  // An empty list meant "no axes" (all of them for Reduce*, every size-1 dim for Squeeze).
  if (axes.present && !axes.values.empty()) n->inputs.push_back(u.add_int64s(n->name + "_axes", axes.values));
  erase_attr(n, "axes");
  return Status::Ok();
}

Status rewrite_squeeze(Upgrader& u, Node n) {
  WQ_RETURN_IF_ERROR(axes_attribute_to_input(u, &n, 13, false));
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_unsqueeze(Upgrader& u, Node n) {
  WQ_RETURN_IF_ERROR(axes_attribute_to_input(u, &n, 13, true));
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_reduce_sum(Upgrader& u, Node n) {
  WQ_RETURN_IF_ERROR(axes_attribute_to_input(u, &n, 13, false));
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_reduce(Upgrader& u, Node n) {
  WQ_RETURN_IF_ERROR(axes_attribute_to_input(u, &n, 18, false));
  u.emit(std::move(n));
  return Status::Ok();
}

// Split-2..11: `split` attribute -> input (13); from 18 a split without
// sizes must say how many parts it makes (num_outputs).
Status rewrite_split(Upgrader& u, Node n) {
  if (u.source() < 2) return unsupported(describe(n) + "Split-1 is not supported; re-export at opset 2 or later");
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  if (u.source() < 13) {
    WQ_ASSIGN_OR_RETURN(IntsAttr split, ints_attr(n, "split"));
    if (n.inputs.size() > 1) return invalid_model(describe(n) + "has " + std::to_string(n.inputs.size()) + " inputs");
    if (split.present && !split.values.empty()) n.inputs.push_back(u.add_int64s(n.name + "_split", split.values));
    erase_attr(&n, "split");
  }
  if (u.source() < 18 && u.target() >= 18 && !has_input(n, 1) && !find_attr(n, "num_outputs"))
    set_int_attr(&n, "num_outputs", static_cast<int64_t>(n.outputs.size()));
  u.emit(std::move(n));
  return Status::Ok();
}

// Softmax/LogSoftmax/Hardmax-1..11 normalise the input coerced to 2-D at
// `axis` (default 1); from 13 they normalise along `axis` alone. The two agree
// when every dim after `axis` is 1 (in particular axis = rank - 1); otherwise
// Flatten(axis) -> op(axis=-1) -> Reshape(Shape(x)) computes the old result
// with the same per-row arithmetic.
Status rewrite_softmax(Upgrader& u, Node n) {
  if (u.source() >= 13) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  if (!has_input(n, 0) || !has_output(n, 0)) return invalid_model(describe(n) + "input or output is missing");
  WQ_ASSIGN_OR_RETURN(int64_t axis, int_attr(n, "axis", 1));
  const ValueFacts& x = u.input_facts(n, 0);
  if (x.rank >= 0) {
    const int64_t a = axis < 0 ? axis + x.rank : axis;
    if (a < 0 || a >= x.rank)
      return invalid_model(describe(n) + "axis " + std::to_string(axis) + " is out of range for rank " +
                           std::to_string(x.rank));
    bool trailing_ones = true;
    for (int64_t d = a + 1; d < x.rank; ++d) trailing_ones = trailing_ones && x.dims[static_cast<size_t>(d)] == 1;
    if (trailing_ones) {
      set_int_attr(&n, "axis", a == x.rank - 1 ? -1 : a);
      u.emit(std::move(n));
      return Status::Ok();
    }
  }
  const std::string in = n.inputs[0], out = n.outputs[0];
  Node shape;
  shape.name = u.fresh_node(n.name + "_shape");
  shape.op_type = "Shape";
  shape.inputs = {in};
  shape.outputs = {u.fresh_value(out + "_shape")};
  Node flat;
  flat.name = u.fresh_node(n.name + "_flatten");
  flat.op_type = "Flatten";
  flat.inputs = {in};
  flat.outputs = {u.fresh_value(out + "_2d")};
  set_int_attr(&flat, "axis", axis);
  Node reshape;
  reshape.name = u.fresh_node(n.name + "_reshape");
  reshape.op_type = "Reshape";
  reshape.inputs = {u.fresh_value(out + "_2d_out"), shape.outputs[0]};
  reshape.outputs = {out};
  // A zero in Shape(x) is a real zero-sized dim, not "copy from the input".
  if (u.target() >= 14) set_int_attr(&reshape, "allowzero", 1);
  n.inputs[0] = flat.outputs[0];
  n.outputs[0] = reshape.inputs[0];
  set_int_attr(&n, "axis", -1);
  u.emit(std::move(shape));
  u.emit(std::move(flat));
  u.emit(std::move(n));
  u.emit(std::move(reshape));
  return Status::Ok();
}

// Pad-2: pads/value attributes -> inputs (11).
Status rewrite_pad(Upgrader& u, Node n) {
  if (u.source() >= 11) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  if (u.source() < 2) return unsupported(describe(n) + "Pad-1 is not supported; re-export at opset 2 or later");
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  WQ_ASSIGN_OR_RETURN(IntsAttr pads, ints_attr(n, "pads"));
  WQ_ASSIGN_OR_RETURN(std::string mode, string_attr(n, "mode", "constant"));
  WQ_ASSIGN_OR_RETURN(float value, float_attr(n, "value", 0.0f));
  if (!pads.present) return invalid_model(describe(n) + "attribute pads is required");
  std::vector<std::string> ins = {n.inputs[0], u.add_int64s(n.name + "_pads", pads.values)};
  // 0 is the default constant_value; -0.0 and NaN are not (they differ in bits).
  if (mode == "constant" && !(value == 0.0f && !std::signbit(value))) {
    WQ_ASSIGN_OR_RETURN(std::string c, u.add_scalar_like(n, n.name + "_value", value, n.inputs[0]));
    ins.push_back(c);
  }
  n.inputs = std::move(ins);
  erase_attr(&n, "pads");
  erase_attr(&n, "value");
  u.emit(std::move(n));
  return Status::Ok();
}

// TopK-1: k attribute -> int64 [1] input (10).
Status rewrite_topk(Upgrader& u, Node n) {
  if (u.source() >= 10) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  if (!find_attr(n, "k")) return invalid_model(describe(n) + "attribute k is required");
  WQ_ASSIGN_OR_RETURN(int64_t k, int_attr(n, "k", 0));
  n.inputs = {n.inputs[0], u.add_int64s(n.name + "_k", {k})};
  erase_attr(&n, "k");
  u.emit(std::move(n));
  return Status::Ok();
}

// Dropout-1..11 in inference is the identity, so it becomes Identity. Its
// mask output is another matter: the ONNX reference makes it all true,
// onnxruntime all false (from 12 on both say true), so a mask that anything
// reads has no exact equivalent; an unread one is dropped.
Status rewrite_dropout(Upgrader& u, Node n) {
  if (u.source() >= 12) {
    u.emit(std::move(n));
    return Status::Ok();
  }
  if (!has_input(n, 0) || !has_output(n, 0)) return invalid_model(describe(n) + "input or output is missing");
  if (u.source() < 7) {
    WQ_ASSIGN_OR_RETURN(int64_t is_test, int_attr(n, "is_test", 0));
    if (is_test == 0) return unsupported(describe(n) + "is_test=0 (training-mode dropout) has no inference equivalent");
  }
  if (has_output(n, 1) && u.is_read(n.outputs[1]))
    return unsupported(describe(n) + "mask output '" + n.outputs[1] +
                       "' is used, and its inference value before opset 12 is all true in the ONNX reference but "
                       "all false in onnxruntime");
  n.attributes.clear();
  n.op_type = "Identity";
  n.inputs = {n.inputs[0]};
  n.outputs = {n.outputs[0]};
  u.emit(std::move(n));
  return Status::Ok();
}

// BatchNormalization: is_test (gone at 7), spatial (gone at 9) and the
// training outputs (redefined at 14) have no inference-mode equivalent unless
// they already describe inference.
Status rewrite_batch_norm(Upgrader& u, Node n) {
  if (u.source() < 7) {
    WQ_ASSIGN_OR_RETURN(int64_t is_test, int_attr(n, "is_test", 0));
    if (is_test == 0) return unsupported(describe(n) + "is_test=0 (training mode) has no inference equivalent");
    erase_attr(&n, "is_test");
  }
  if (u.source() < 9) {
    WQ_ASSIGN_OR_RETURN(int64_t spatial, int_attr(n, "spatial", 1));
    if (spatial != 1) return unsupported(describe(n) + "spatial=" + std::to_string(spatial) + " was removed in opset 9");
    erase_attr(&n, "spatial");
  }
  if (u.source() < 14 && u.target() >= 14) {
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty())
        return unsupported(describe(n) + "training outputs (mean, var, saved_mean, saved_var) were redefined "
                                         "in opset 14");
    trim_trailing_empty(&n.outputs);
  }
  u.emit(std::move(n));
  return Status::Ok();
}

// Concat-1: axis was optional with default 1.
Status rewrite_concat(Upgrader& u, Node n) {
  if (u.source() < 4 && !find_attr(n, "axis")) set_int_attr(&n, "axis", 1);
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_cast(Upgrader& u, Node n) {
  if (u.source() < 6) {
    const Attr* to = find_attr(n, "to");
    if (to && to->type == Attr::STRING)
      return unsupported(describe(n) + "Cast-1 with a string 'to' is not supported; re-export at opset 6 or later");
  }
  u.emit(std::move(n));
  return Status::Ok();
}

Status reject_before(Upgrader& u, Node n, int64_t since, const char* what) {
  if (u.source() < since) return unsupported(describe(n) + what);
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_tile(Upgrader& u, Node n) {
  return reject_before(u, std::move(n), 6, "Tile-1 (tiles/axis inputs) is not supported");
}
Status rewrite_reshape(Upgrader& u, Node n) {
  return reject_before(u, std::move(n), 5, "Reshape-1 (shape attribute) is not supported");
}
Status rewrite_lppool(Upgrader& u, Node n) {
  return reject_before(u, std::move(n), 2, "LpPool-1 (float p) is not supported");
}

// Resize-10 and Upsample-7/9 -> Resize-11+. Both use asymmetric coordinates
// (x / scale); linear is then the same formula. Nearest truncates when an axis
// is upsampled and rounds up when it is downsampled (onnxruntime's and our
// opset-10 rule), which Resize-11 expresses as nearest_mode floor or ceil, one
// mode for all axes. Axes with scale 1 land on integers, where both agree.
Status convert_to_resize(Upgrader& u, Node n, const std::string& mode, const std::string& scales,
                         const std::vector<float>* scale_values, bool is_upsample) {
  std::string nearest_mode;
  if (mode == "nearest") {
    std::vector<double> s;
    if (scale_values) {
      s.assign(scale_values->begin(), scale_values->end());
    } else if (const Tensor* t = u.constant(scales)) {
      if (t->dtype() != DType::kFloat32)
        return invalid_model(describe(n) + "scales must be float, got " + dtype_name(t->dtype()));
      s.assign(t->data<float>(), t->data<float>() + t->numel());
    } else if (!is_upsample) {
      return unsupported(describe(n) + "nearest with scales '" + scales +
                         "' that are not constant: the opset-10 rounding depends on whether each axis is up- or "
                         "downsampled");
    }
    bool up = false, down = false;
    for (double v : s) {
      up = up || v > 1.0;
      down = down || v < 1.0;
    }
    // Upsample requires scales >= 1, so unknown scales upsample.
    if (up && down)
      return unsupported(describe(n) + "nearest with scales that both up- and downsample has no single nearest_mode");
    nearest_mode = down ? "ceil" : "floor";
  } else if (mode != "linear") {
    return invalid_model(describe(n) + "mode '" + mode + "' is not valid before opset 11");
  }
  n.op_type = "Resize";
  n.attributes.clear();
  set_string_attr(&n, "mode", mode);
  set_string_attr(&n, "coordinate_transformation_mode", "asymmetric");
  if (!nearest_mode.empty()) set_string_attr(&n, "nearest_mode", nearest_mode);
  n.inputs = {n.inputs[0], "", scales};  // roi is optional from 13 on
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_resize(Upgrader& u, Node n) {
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  if (u.source() < 11) {
    if (!has_input(n, 1)) return invalid_model(describe(n) + "scales input is missing");
    WQ_ASSIGN_OR_RETURN(std::string mode, string_attr(n, "mode", "nearest"));
    const std::string scales = n.inputs[1];
    return convert_to_resize(u, std::move(n), mode, scales, nullptr, false);
  }
  if (u.source() < 13 && u.target() >= 13) {
    WQ_ASSIGN_OR_RETURN(std::string c, string_attr(n, "coordinate_transformation_mode", "half_pixel"));
    if (c == "tf_half_pixel_for_nn")
      return unsupported(describe(n) + "coordinate_transformation_mode tf_half_pixel_for_nn was removed in opset "
                                       "13 and no other mode computes the same coordinates");
  }
  u.emit(std::move(n));
  return Status::Ok();
}

Status rewrite_upsample(Upgrader& u, Node n) {
  if (u.source() < 7) return unsupported(describe(n) + "Upsample-1 (height_scale/width_scale) is not supported");
  if (!has_input(n, 0)) return invalid_model(describe(n) + "input is missing");
  WQ_ASSIGN_OR_RETURN(std::string mode, string_attr(n, "mode", "nearest"));
  if (mode == "bilinear") mode = "linear";  // Upsample-7 spelling
  if (u.source() < 9) {
    WQ_ASSIGN_OR_RETURN(std::vector<float> scales, floats_attr(n, "scales"));
    if (scales.empty()) return invalid_model(describe(n) + "attribute scales is required");
    const std::string name =
        u.add_initializer(n.name + "_scales", Tensor::from_floats({static_cast<int64_t>(scales.size())}, scales));
    return convert_to_resize(u, std::move(n), mode, name, &scales, true);
  }
  if (!has_input(n, 1)) return invalid_model(describe(n) + "scales input is missing");
  const std::string scales = n.inputs[1];
  return convert_to_resize(u, std::move(n), mode, scales, nullptr, true);
}

// Scatter-9/10 is ScatterElements-11 under its old name (11 added negative
// indices, a superset); Scatter itself is deprecated from 11.
Status rewrite_scatter(Upgrader& u, Node n) {
  if (u.source() < 11) n.op_type = "ScatterElements";
  u.emit(std::move(n));
  return Status::Ok();
}

// The default-domain ops webquant implements. `since` lists the opsets in
// which each op's definition changed, up to 21; a change without a rewrite
// only widened types or added attributes/inputs whose defaults keep the old
// behaviour (ONNX changelog).
const std::vector<OpRule>& op_rules() {
  static const std::vector<OpRule> rules = {
      {"Abs", {1, 6, 13}, nullptr},
      {"Acos", {7}, nullptr},
      {"Acosh", {9}, nullptr},
      {"Add", {1, 6, 7, 13, 14}, rewrite_legacy_broadcast},
      {"And", {1, 7}, rewrite_legacy_broadcast},
      {"ArgMax", {1, 11, 12, 13}, nullptr},
      {"ArgMin", {1, 11, 12, 13}, nullptr},
      {"Asin", {7}, nullptr},
      {"Asinh", {9}, nullptr},
      {"Atan", {7}, nullptr},
      {"Atanh", {9}, nullptr},
      {"AveragePool", {1, 7, 10, 11, 19}, nullptr},
      {"BatchNormalization", {1, 6, 7, 9, 14, 15}, rewrite_batch_norm},
      {"BitShift", {11}, nullptr},
      {"Cast", {1, 6, 9, 13, 19, 21}, rewrite_cast},
      {"CastLike", {15, 19, 21}, nullptr},
      {"Ceil", {1, 6, 13}, nullptr},
      {"Celu", {12}, nullptr},
      {"Clip", {1, 6, 11, 12, 13}, rewrite_clip},
      {"Compress", {9, 11}, nullptr},
      {"Concat", {1, 4, 11, 13}, rewrite_concat},
      {"Constant", {1, 9, 11, 12, 13, 19, 21}, nullptr},
      {"ConstantOfShape", {9, 20, 21}, nullptr},
      {"Conv", {1, 11}, nullptr},
      {"ConvInteger", {10}, nullptr},
      {"ConvTranspose", {1, 11}, nullptr},
      {"Cos", {7}, nullptr},
      {"Cosh", {9}, nullptr},
      {"CumSum", {11, 14}, nullptr},
      {"DepthToSpace", {1, 11, 13}, nullptr},
      {"DequantizeLinear", {10, 13, 19, 21}, nullptr},
      {"Div", {1, 6, 7, 13, 14}, rewrite_legacy_broadcast},
      {"Dropout", {1, 6, 7, 10, 12, 13}, rewrite_dropout},
      {"DynamicQuantizeLinear", {11}, nullptr},
      {"Einsum", {12}, nullptr},
      {"Elu", {1, 6}, nullptr},
      {"Equal", {1, 7, 11, 13, 19}, rewrite_legacy_broadcast},
      {"Erf", {9, 13}, nullptr},
      {"Exp", {1, 6, 13}, nullptr},
      {"Expand", {8, 13}, nullptr},
      {"EyeLike", {9}, nullptr},
      {"Flatten", {1, 9, 11, 13, 21}, nullptr},
      {"Floor", {1, 6, 13}, nullptr},
      {"Gather", {1, 11, 13}, nullptr},
      {"GatherElements", {11, 13}, nullptr},
      {"GatherND", {11, 12, 13}, nullptr},
      {"Gelu", {20}, nullptr},
      {"Gemm", {1, 6, 7, 9, 11, 13}, rewrite_gemm},
      {"GlobalAveragePool", {1}, nullptr},
      {"GlobalMaxPool", {1}, nullptr},
      {"Greater", {1, 7, 9, 13}, rewrite_legacy_broadcast},
      {"GreaterOrEqual", {12, 16}, nullptr},
      {"HardSigmoid", {1, 6}, nullptr},
      {"HardSwish", {14}, nullptr},
      {"Hardmax", {1, 11, 13}, rewrite_softmax},
      {"Identity", {1, 13, 14, 16, 19, 21}, nullptr},
      {"InstanceNormalization", {1, 6}, nullptr},
      {"IsInf", {10, 20}, nullptr},
      {"IsNaN", {9, 13, 20}, nullptr},
      {"LRN", {1, 13}, nullptr},
      {"LayerNormalization", {17}, nullptr},
      {"LeakyRelu", {1, 6, 16}, nullptr},
      {"Less", {1, 7, 9, 13}, rewrite_legacy_broadcast},
      {"LessOrEqual", {12, 16}, nullptr},
      {"Log", {1, 6, 13}, nullptr},
      {"LogSoftmax", {1, 11, 13}, rewrite_softmax},
      {"LpPool", {1, 2, 11, 18}, rewrite_lppool},
      {"MatMul", {1, 9, 13}, nullptr},
      {"MatMulInteger", {10}, nullptr},
      {"Max", {1, 6, 8, 12, 13}, nullptr},
      {"MaxPool", {1, 8, 10, 11, 12}, nullptr},
      {"Mean", {1, 6, 8, 13}, nullptr},
      {"MeanVarianceNormalization", {9, 13}, nullptr},
      {"Min", {1, 6, 8, 12, 13}, nullptr},
      {"Mish", {18}, nullptr},
      {"Mod", {10, 13}, nullptr},
      {"Mul", {1, 6, 7, 13, 14}, rewrite_legacy_broadcast},
      {"Neg", {1, 6, 13}, nullptr},
      {"NonZero", {9, 13}, nullptr},
      {"Not", {1}, nullptr},
      {"OneHot", {9, 11}, nullptr},
      {"Or", {1, 7}, rewrite_legacy_broadcast},
      {"PRelu", {1, 6, 7, 9, 16}, nullptr},
      {"Pad", {1, 2, 11, 13, 18, 19, 21}, rewrite_pad},
      {"Pow", {1, 7, 12, 13, 15}, rewrite_legacy_broadcast},
      {"QLinearConv", {10}, nullptr},
      {"QLinearMatMul", {10, 21}, nullptr},
      {"QuantizeLinear", {10, 13, 19, 21}, nullptr},
      {"Range", {11}, nullptr},
      {"Reciprocal", {1, 6, 13}, nullptr},
      {"ReduceL1", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceL2", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceLogSum", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceLogSumExp", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceMax", {1, 11, 12, 13, 18, 20}, rewrite_reduce},
      {"ReduceMean", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceMin", {1, 11, 12, 13, 18, 20}, rewrite_reduce},
      {"ReduceProd", {1, 11, 13, 18}, rewrite_reduce},
      {"ReduceSum", {1, 11, 13}, rewrite_reduce_sum},
      {"ReduceSumSquare", {1, 11, 13, 18}, rewrite_reduce},
      {"Relu", {1, 6, 13, 14}, nullptr},
      {"Reshape", {1, 5, 13, 14, 19, 21}, rewrite_reshape},
      {"Resize", {10, 11, 13, 18, 19}, rewrite_resize},
      {"Round", {11}, nullptr},
      {"Scatter", {9, 11}, rewrite_scatter},
      {"ScatterElements", {11, 13, 16, 18}, nullptr},
      {"ScatterND", {11, 13, 16, 18}, nullptr},
      {"Selu", {1, 6}, nullptr},
      {"Shape", {1, 13, 15, 19, 21}, nullptr},
      {"Shrink", {9}, nullptr},
      {"Sigmoid", {1, 6, 13}, nullptr},
      {"Sign", {9, 13}, nullptr},
      {"Sin", {7}, nullptr},
      {"Sinh", {9}, nullptr},
      {"Size", {1, 13, 19, 21}, nullptr},
      {"Slice", {1, 10, 11, 13}, rewrite_slice},
      {"Softmax", {1, 11, 13}, rewrite_softmax},
      {"Softplus", {1}, nullptr},
      {"Softsign", {1}, nullptr},
      {"SpaceToDepth", {1, 13}, nullptr},
      {"Split", {1, 2, 11, 13, 18}, rewrite_split},
      {"Sqrt", {1, 6, 13}, nullptr},
      {"Squeeze", {1, 11, 13, 21}, rewrite_squeeze},
      {"Sub", {1, 6, 7, 13, 14}, rewrite_legacy_broadcast},
      {"Sum", {1, 6, 8, 13}, nullptr},
      {"Tan", {7}, nullptr},
      {"Tanh", {1, 6, 13}, nullptr},
      {"ThresholdedRelu", {10}, nullptr},
      {"Tile", {1, 6, 13}, rewrite_tile},
      {"TopK", {1, 10, 11}, rewrite_topk},
      {"Transpose", {1, 13, 21}, nullptr},
      {"Trilu", {14}, nullptr},
      {"Unsqueeze", {1, 11, 13, 21}, rewrite_unsqueeze},
      {"Upsample", {1, 7, 9, 10}, rewrite_upsample},
      {"Where", {9, 16}, nullptr},
      {"Xor", {1, 7}, rewrite_legacy_broadcast},
  };
  return rules;
}

const OpRule* find_rule(const std::string& op_type) {
  static const std::unordered_map<std::string, const OpRule*> index = [] {
    std::unordered_map<std::string, const OpRule*> m;
    for (const OpRule& r : op_rules()) m[r.op_type] = &r;
    return m;
  }();
  auto it = index.find(op_type);
  return it == index.end() ? nullptr : it->second;
}

// The signature in force at `opset`: the last `since` <= opset, or -1.
int version_at(const OpRule& r, int64_t opset) {
  int v = -1;
  for (int s : r.since)
    if (s <= opset) v = s;
  return v;
}

Status Upgrader::upgrade_node(Node n) {
  if (!n.domain.empty()) {
    emit(std::move(n));
    return Status::Ok();
  }
  const OpRule* rule = find_rule(n.op_type);
  if (!rule)
    return unsupported(describe(n) + "no opset upgrade rule for " + n.op_type + " (not an op webquant implements)");
  const int from = version_at(*rule, source_);
  if (from < 0)
    return invalid_model(describe(n) + n.op_type + " does not exist at opset " + std::to_string(source_));
  // consumed_inputs was a no-op hint of opset-1 ops, removed in 6.
  if (source_ < 6) erase_attr(&n, "consumed_inputs");
  if (version_at(*rule, target_) == from || !rule->rewrite) {
    emit(std::move(n));
    return Status::Ok();
  }
  return rule->rewrite(*this, std::move(n));
}

int64_t min_ir_version(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  return 7;
}

Status Upgrader::run(onnx::ModelProto* out) {
  collect_names();
  for (const Node& n : g_.nodes()) WQ_RETURN_IF_ERROR(upgrade_node(n));

  onnx::ModelProto m = g_.to_proto();
  m.graph.node.clear();
  m.graph.node.reserve(out_nodes_.size());
  for (Node& n : out_nodes_) {
    onnx::NodeProto np;
    np.name = std::move(n.name);
    np.op_type = std::move(n.op_type);
    np.domain = std::move(n.domain);
    np.input = std::move(n.inputs);
    np.output = std::move(n.outputs);
    np.attribute = std::move(n.attributes);
    np.doc_string = std::move(n.doc_string);
    np.overload = std::move(n.overload);
    np.metadata_props = std::move(n.metadata_props);
    m.graph.node.push_back(std::move(np));
  }
  for (auto& kv : new_initializers_) m.graph.initializer.push_back(tensor_to_proto(kv.second, kv.first));
  bool found = false;
  for (auto& op : m.opset_import) {
    if (op.domain.empty() || op.domain == "ai.onnx") {
      op.version = target_;
      found = true;
    }
  }
  if (!found) {
    onnx::OperatorSetIdProto op;
    op.version = target_;
    m.opset_import.push_back(op);
  }
  m.ir_version = std::max(m.ir_version, min_ir_version(target_));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace

Status upgrade_opset(Graph* graph, int64_t target) {
  if (!graph) return invalid_argument("upgrade_opset: graph is null");
  if (target < kMinUpgradeOpset || target > kMaxUpgradeOpset)
    return invalid_argument("upgrade_opset: target opset " + std::to_string(target) + " is outside [" +
                            std::to_string(kMinUpgradeOpset) + ", " + std::to_string(kMaxUpgradeOpset) + "]");
  const int64_t source = graph->opset("");
  if (source >= target) return Status::Ok();
  // No default-domain import means no default-domain node: only the import changes.
  const int64_t from = source < 0 ? target : source;
  if (from < 1) return invalid_model("upgrade_opset: default-domain opset " + std::to_string(source) + " is not valid");

  onnx::ModelProto upgraded;
  Upgrader u(*graph, from, target);
  WQ_RETURN_IF_ERROR(u.run(&upgraded));
  Result<Graph> g = Graph::from_proto(upgraded);
  if (!g.ok()) return g.status().with_context("upgrade_opset: the upgraded graph is invalid: ");
  *graph = std::move(g).value();
  return Status::Ok();
}

}  // namespace wq
