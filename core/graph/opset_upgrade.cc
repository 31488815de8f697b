#include "core/graph/opset_upgrade.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

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

// ---- static facts about values --------------------------------------------------------
//
// What the upgrade needs to know without running the graph: the element type
// of a value (Clip-6 and Pad-2 bounds become inputs of that type) and its rank
// (Softmax-1..11 keep their node when the axis is the last one). Dims are
// tracked where cheap so that the length of shape tensors, and with it the
// rank of Reshape/Expand/ConstantOfShape outputs, is known. Every rule either
// derives a fact the ONNX definition guarantees or leaves it unknown.

// Ranks beyond this are treated as unknown (a declared dim could otherwise
// make us allocate a huge dims vector). Every Facts has rank <= this or -1,
// so a rank derived from other facts by max/equality stays within it.
constexpr int64_t kMaxTrackedRank = 1024;

struct Facts {
  DType dtype = DType::kUndefined;
  int64_t rank = -1;          // -1: unknown
  std::vector<int64_t> dims;  // rank entries when rank >= 0; -1: unknown dim

  static Facts of_rank(DType t, int64_t r) {
    Facts f;
    f.dtype = t;
    if (r >= 0 && r <= kMaxTrackedRank) {
      f.rank = r;
      f.dims.assign(static_cast<size_t>(r), -1);
    }
    return f;
  }
  static Facts of_shape(DType t, const std::vector<int64_t>& dims) {
    Facts f;
    f.dtype = t;
    if (static_cast<int64_t>(dims.size()) > kMaxTrackedRank) return f;
    f.rank = static_cast<int64_t>(dims.size());
    f.dims = dims;
    for (auto& d : f.dims)
      if (d < 0) d = -1;
    return f;
  }
  Facts with_dtype(DType t) const {
    Facts f = *this;
    f.dtype = t;
    return f;
  }
  bool dims_known() const {
    return rank >= 0 && std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
  }
};

// Two sources (inference and a declaration) for one value. Agreement adds
// detail; disagreement makes the fact unknown, since one of them is wrong and
// a wrong rank would turn an exact rewrite into an inexact one.
Facts merge(const Facts& a, const Facts& b) {
  Facts f;
  if (a.dtype == DType::kUndefined) f.dtype = b.dtype;
  else if (b.dtype == DType::kUndefined || a.dtype == b.dtype) f.dtype = a.dtype;
  if (a.rank < 0 || b.rank < 0) {
    const Facts& k = a.rank >= 0 ? a : b;
    f.rank = k.rank;
    f.dims = k.dims;
    return f;
  }
  if (a.rank != b.rank) return f;  // conflicting ranks: unknown
  f.rank = a.rank;
  f.dims.resize(static_cast<size_t>(f.rank));
  for (size_t i = 0; i < f.dims.size(); ++i) {
    const int64_t x = a.dims[i], y = b.dims[i];
    f.dims[i] = x < 0 ? y : (y < 0 || x == y) ? x : -1;
  }
  return f;
}

Facts facts_from_value_info(const onnx::ValueInfoProto& v) {
  if (!v.has_type || v.type.kind != onnx::TypeProto::Kind::kTensor) return {};
  const DType t = dtype_is_known(v.type.elem_type) ? static_cast<DType>(v.type.elem_type) : DType::kUndefined;
  if (!v.type.has_shape) return Facts::of_rank(t, -1);
  std::vector<int64_t> dims;
  for (const auto& d : v.type.shape.dim) dims.push_back(d.has_value && d.dim_value >= 0 ? d.dim_value : -1);
  return Facts::of_shape(t, dims);
}

// Numpy broadcasting of known facts: a dim is known when every input has it
// known, or some input has a known dim other than 1 (the others must then be
// 1 or equal to it).
Facts broadcast_facts(const std::vector<const Facts*>& ins, DType dtype) {
  int64_t rank = 0;
  for (const Facts* f : ins) {
    if (f->rank < 0) return Facts::of_rank(dtype, -1);
    rank = std::max(rank, f->rank);
  }
  Facts out = Facts::of_rank(dtype, rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t known_non1 = -1;
    bool all_known = true;
    for (const Facts* f : ins) {
      const int64_t k = i - (rank - f->rank);
      if (k < 0) continue;
      const int64_t d = f->dims[static_cast<size_t>(k)];
      if (d < 0) all_known = false;
      else if (d != 1) known_non1 = d;
    }
    out.dims[static_cast<size_t>(i)] = known_non1 >= 0 ? known_non1 : all_known ? 1 : -1;
  }
  return out;
}

std::vector<int64_t> tensor_int64s(const Tensor& t) {
  std::vector<int64_t> v;
  if (t.dtype() == DType::kInt64) {
    v.assign(t.data<int64_t>(), t.data<int64_t>() + t.numel());
  } else if (t.dtype() == DType::kInt32) {
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.data<int32_t>()[i]);
  }
  return v;
}

// Axes normalised against `rank`; false when out of range or repeated.
bool normalize_axes(std::vector<int64_t> axes, int64_t rank, std::vector<int64_t>* out) {
  for (auto& a : axes) {
    if (a < -rank || a >= rank) return false;
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return false;
  *out = std::move(axes);
  return true;
}

// Length of Slice along one axis of length d (the ONNX clamping rules);
// -1 for step 0. Written so that no intermediate overflows for any int64 input.
int64_t slice_length(int64_t d, int64_t start, int64_t end, int64_t step) {
  if (step == 0) return -1;
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, d);
    end = std::clamp<int64_t>(end, 0, d);
    return end > start ? (end - start - 1) / step + 1 : 0;
  }
  start = std::clamp<int64_t>(start, 0, d - 1);
  end = std::clamp<int64_t>(end, -1, d - 1);
  if (start <= end) return 0;
  // -step overflows for INT64_MIN, which takes one element like any step <= -d.
  return step == std::numeric_limits<int64_t>::min() ? 1 : (start - end - 1) / -step + 1;
}

// a * b, or -1 when either is unknown or the product overflows.
int64_t mul_dims(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return -1;
  return a * b;
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
  Upgrader(const Graph& g, int64_t source, int64_t target) : g_(g), source_(source), target_(target) {}

  Status run(onnx::ModelProto* out);

  int64_t source() const { return source_; }
  int64_t target() const { return target_; }
  const Facts& facts(const std::string& name) const {
    static const Facts kUnknown;
    auto it = facts_.find(name);
    return it == facts_.end() ? kUnknown : it->second;
  }
  const Facts& input_facts(const Node& n, size_t i) const {
    static const Facts kUnknown;
    return has_input(n, i) ? facts(n.inputs[i]) : kUnknown;
  }
  // The value of `name` when it is an initializer or a Constant's output.
  const Tensor* constant(const std::string& name);

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
  void infer_facts();
  Facts infer_output(const Node& n, size_t out_index);
  Status upgrade_node(Node n);

  const Graph& g_;
  int64_t source_, target_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> read_;
  std::unordered_map<std::string, Facts> facts_;
  std::unordered_map<std::string, const Node*> constant_nodes_;  // output -> Constant node
  std::map<std::string, Tensor> decoded_constants_;
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

const Tensor* Upgrader::constant(const std::string& name) {
  if (name.empty()) return nullptr;
  if (const Tensor* t = g_.find_initializer(name)) return t;
  auto done = decoded_constants_.find(name);
  if (done != decoded_constants_.end()) return &done->second;
  auto it = constant_nodes_.find(name);
  if (it == constant_nodes_.end()) return nullptr;
  const Node& n = *it->second;
  Tensor t;
  if (const Attr* a = find_attr(n, "value"); a && a->has_t) {
    Result<Tensor> r = tensor_from_proto(a->t);
    if (!r.ok()) return nullptr;
    t = std::move(r).value();
  } else if (const Attr* a = find_attr(n, "value_float")) {
    t = Tensor::from_floats({}, {a->f});
  } else if (const Attr* a = find_attr(n, "value_floats")) {
    t = Tensor::from_floats({static_cast<int64_t>(a->floats.size())}, a->floats);
  } else if (const Attr* a = find_attr(n, "value_int")) {
    t = Tensor::from_int64s({}, {a->i});
  } else if (const Attr* a = find_attr(n, "value_ints")) {
    t = Tensor::from_int64s({static_cast<int64_t>(a->ints.size())}, a->ints);
  } else {
    return nullptr;
  }
  return &decoded_constants_.emplace(name, std::move(t)).first->second;
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

// ---- inference ------------------------------------------------------------------------

const std::set<std::string>& same_as_input0_ops() {
  static const std::set<std::string> ops = {
      "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BatchNormalization", "Ceil", "Celu", "Clip",
      "Cos", "Cosh", "CumSum", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
      "Hardmax", "Identity", "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Log", "LogSoftmax",
      "LRN", "MeanVarianceNormalization", "Mish", "Neg", "Reciprocal", "Relu", "Round", "Selu", "Shrink",
      "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh",
      "ThresholdedRelu", "Trilu"};
  return ops;
}

// Ops whose output has the rank of input 0 (dims unknown in general).
const std::set<std::string>& same_rank_ops() {
  static const std::set<std::string> ops = {
      "AveragePool", "Conv", "ConvTranspose", "DepthToSpace", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
      "MaxPool", "Pad", "Resize", "Scatter", "ScatterElements", "ScatterND", "SpaceToDepth", "Tile", "TopK",
      "Upsample"};
  return ops;
}

Facts Upgrader::infer_output(const Node& n, size_t k) {
  const std::string& op = n.op_type;
  const Facts& x = input_facts(n, 0);
  auto dtype_of_input = [&](size_t i) { return input_facts(n, i).dtype; };
  auto attr_i = [&](const char* name, int64_t fallback) {
    Result<int64_t> r = int_attr(n, name, fallback);
    return r.ok() ? r.value() : fallback;
  };
  // Axes given as an attribute before `since`, as a constant input from it on.
  auto axes_of = [&](int since, size_t input, bool* known) -> std::vector<int64_t> {
    *known = false;
    if (source_ < since) {
      Result<IntsAttr> a = ints_attr(n, "axes");
      if (!a.ok() || !a.value().present) return {};
      *known = true;
      return a.value().values;
    }
    if (!has_input(n, input)) return {};
    const Tensor* t = constant(n.inputs[input]);
    if (!t) return {};
    *known = true;
    return tensor_int64s(*t);
  };

  if (op == "Constant") {
    if (const Attr* a = find_attr(n, "value"); a && a->has_t && dtype_is_known(a->t.data_type))
      return Facts::of_shape(static_cast<DType>(a->t.data_type), a->t.dims);
    if (find_attr(n, "value_float")) return Facts::of_shape(DType::kFloat32, {});
    if (const Attr* a = find_attr(n, "value_floats")) return Facts::of_shape(DType::kFloat32, {int64_t(a->floats.size())});
    if (find_attr(n, "value_int")) return Facts::of_shape(DType::kInt64, {});
    if (const Attr* a = find_attr(n, "value_ints")) return Facts::of_shape(DType::kInt64, {int64_t(a->ints.size())});
    return {};
  }
  if (same_as_input0_ops().count(op)) {
    if (k == 0) return x;
    if (op == "Dropout" && k == 1) return x.with_dtype(source_ >= 10 ? DType::kBool : x.dtype);
    return {};
  }
  if (op == "IsNaN" || op == "IsInf" || op == "Not") return x.with_dtype(DType::kBool);
  if (op == "Cast") {
    const Attr* a = find_attr(n, "to");
    if (!a || a->type == Attr::STRING || !dtype_is_known(static_cast<int32_t>(a->i))) return x.with_dtype(DType::kUndefined);
    return x.with_dtype(static_cast<DType>(a->i));
  }
  if (op == "CastLike") return x.with_dtype(dtype_of_input(1));

  static const std::set<std::string> kNumericBroadcast = {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu",
                                                          "BitShift", "Max", "Min", "Mean", "Sum"};
  static const std::set<std::string> kBoolBroadcast = {"And", "Or", "Xor", "Equal", "Less", "Greater",
                                                       "LessOrEqual", "GreaterOrEqual"};
  const bool numeric = kNumericBroadcast.count(op) > 0, boolean = kBoolBroadcast.count(op) > 0;
  if (numeric || boolean || op == "Where") {
    if (k != 0) return {};
    // Before opset 7 B was broadcast to A's shape (legacy attributes).
    if (source_ < 7 && find_attr(n, "broadcast")) return boolean ? x.with_dtype(DType::kBool) : x;
    std::vector<const Facts*> ins;
    for (size_t i = 0; i < n.inputs.size(); ++i) ins.push_back(&input_facts(n, i));
    if (ins.empty()) return {};
    const DType t = boolean ? DType::kBool : op == "Where" ? dtype_of_input(1) : x.dtype;
    return broadcast_facts(ins, t);
  }
  if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    if (k != 0) return {};
    const bool q = op == "QLinearMatMul";
    const Facts& a = x;
    const Facts& b = input_facts(n, q ? 3 : 1);
    const DType t = op == "MatMul" ? x.dtype : op == "MatMulInteger" ? DType::kInt32 : dtype_of_input(7);
    if (a.rank < 1 || b.rank < 1) return Facts::of_rank(t, -1);
    int64_t r;
    if (a.rank == 1 && b.rank == 1) r = 0;
    else if (a.rank == 1) r = b.rank - 1;
    else if (b.rank == 1) r = a.rank - 1;
    else r = std::max(a.rank, b.rank);
    return Facts::of_rank(t, r);
  }
  if (op == "Gemm") return k == 0 ? Facts::of_rank(x.dtype, 2) : Facts{};
  if (op == "ConvInteger") return k == 0 ? Facts::of_rank(DType::kInt32, x.rank) : Facts{};
  if (op == "QLinearConv") return k == 0 ? Facts::of_rank(dtype_of_input(7), x.rank) : Facts{};
  if (op == "QuantizeLinear") {
    if (k != 0) return {};
    DType t = DType::kUInt8;
    if (has_input(n, 2)) t = dtype_of_input(2);
    else if (const Attr* a = find_attr(n, "output_dtype"); a && dtype_is_known(static_cast<int32_t>(a->i)) && a->i != 0)
      t = static_cast<DType>(a->i);
    return x.with_dtype(t);
  }
  if (op == "DequantizeLinear") return k == 0 ? x.with_dtype(dtype_of_input(1)) : Facts{};
  if (op == "DynamicQuantizeLinear") {
    if (k == 0) return x.with_dtype(DType::kUInt8);
    return Facts::of_shape(k == 1 ? DType::kFloat32 : DType::kUInt8, {});
  }
  if (same_rank_ops().count(op)) {
    if (op == "TopK" && k == 1) return Facts::of_rank(DType::kInt64, x.rank);
    if (op == "MaxPool" && k == 1) return Facts::of_rank(DType::kInt64, x.rank);
    if (k != 0) return {};
    return Facts::of_rank(x.dtype, x.rank);
  }
  if (op == "Transpose") {
    if (k != 0 || x.rank < 0) return Facts::of_rank(x.dtype, -1);
    Result<IntsAttr> perm = ints_attr(n, "perm");
    Facts out = Facts::of_rank(x.dtype, x.rank);
    if (!perm.ok()) return Facts::of_rank(x.dtype, -1);
    if (!perm.value().present) {
      std::reverse_copy(x.dims.begin(), x.dims.end(), out.dims.begin());
      return out;
    }
    const auto& p = perm.value().values;
    if (static_cast<int64_t>(p.size()) != x.rank) return Facts::of_rank(x.dtype, -1);
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i] < 0 || p[i] >= x.rank) return Facts::of_rank(x.dtype, -1);
      out.dims[i] = x.dims[static_cast<size_t>(p[i])];
    }
    return out;
  }
  if (op == "Slice") {
    if (k != 0 || x.rank < 0) return Facts::of_rank(x.dtype, -1);
    Facts out = Facts::of_rank(x.dtype, x.rank);
    std::vector<int64_t> starts, ends, axes, steps;
    bool known = true;
    if (source_ < 10) {
      Result<IntsAttr> s = ints_attr(n, "starts"), e = ints_attr(n, "ends"), a = ints_attr(n, "axes");
      if (!s.ok() || !e.ok() || !a.ok()) return out;
      starts = s.value().values;
      ends = e.value().values;
      axes = a.value().values;
    } else {
      auto read = [&](size_t i, std::vector<int64_t>* v) {
        if (!has_input(n, i)) return;
        const Tensor* t = constant(n.inputs[i]);
        if (t) *v = tensor_int64s(*t);
        else known = false;
      };
      read(1, &starts);
      read(2, &ends);
      read(3, &axes);
      read(4, &steps);
    }
    if (!known || starts.size() != ends.size()) return out;
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size()) return out;
    out.dims = x.dims;
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t a = axes[i] < 0 ? axes[i] + x.rank : axes[i];
      if (a < 0 || a >= x.rank) return Facts::of_rank(x.dtype, x.rank);
      const int64_t d = x.dims[static_cast<size_t>(a)];
      out.dims[static_cast<size_t>(a)] = d < 0 ? -1 : slice_length(d, starts[i], ends[i], steps[i]);
    }
    return out;
  }
  if (op == "Concat") {
    if (k != 0) return {};
    int64_t rank = -1;
    for (size_t i = 0; i < n.inputs.size(); ++i) rank = std::max(rank, input_facts(n, i).rank);
    if (rank < 0) return Facts::of_rank(x.dtype, -1);
    int64_t axis = attr_i("axis", source_ < 4 ? 1 : 0);
    if (axis < 0) axis += rank;
    Facts out = Facts::of_rank(x.dtype, rank);
    if (axis < 0 || axis >= rank) return out;
    int64_t sum = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Facts& f = input_facts(n, i);
      if (f.rank != rank) {
        sum = -1;
        continue;
      }
      for (int64_t d = 0; d < rank; ++d) {
        const int64_t v = f.dims[static_cast<size_t>(d)];
        if (d == axis) {
          sum = (sum < 0 || v < 0 || v > std::numeric_limits<int64_t>::max() - sum) ? -1 : sum + v;
        } else if (v >= 0) {
          out.dims[static_cast<size_t>(d)] = v;
        }
      }
    }
    out.dims[static_cast<size_t>(axis)] = sum;
    return out;
  }
  if (op == "Split") return Facts::of_rank(x.dtype, x.rank);
  if (op == "Gather") {
    if (k != 0) return {};
    const Facts& idx = input_facts(n, 1);
    if (x.rank < 1 || idx.rank < 0) return Facts::of_rank(x.dtype, -1);
    int64_t axis = attr_i("axis", 0);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis >= x.rank) return Facts::of_rank(x.dtype, -1);
    std::vector<int64_t> dims(x.dims.begin(), x.dims.begin() + axis);
    dims.insert(dims.end(), idx.dims.begin(), idx.dims.end());
    dims.insert(dims.end(), x.dims.begin() + axis + 1, x.dims.end());
    return Facts::of_shape(x.dtype, dims);
  }
  if (op == "GatherElements") return k == 0 ? input_facts(n, 1).with_dtype(x.dtype) : Facts{};
  if (op == "GatherND") {
    const Facts& idx = input_facts(n, 1);
    if (k != 0 || x.rank < 0 || idx.rank < 1) return Facts::of_rank(x.dtype, -1);
    const int64_t last = idx.dims.back(), batch = attr_i("batch_dims", 0);
    if (last < 0 || last > x.rank || batch < 0 || batch > x.rank) return Facts::of_rank(x.dtype, -1);
    const int64_t r = idx.rank - 1 + x.rank - last - batch;
    return Facts::of_rank(x.dtype, r >= 0 ? r : -1);
  }
  if (op == "OneHot") {
    const Facts& idx = x;
    return k == 0 ? Facts::of_rank(dtype_of_input(2), idx.rank < 0 ? -1 : idx.rank + 1) : Facts{};
  }
  if (op == "ArgMax" || op == "ArgMin") {
    if (k != 0 || x.rank < 0) return Facts::of_rank(DType::kInt64, -1);
    int64_t axis = attr_i("axis", 0);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis >= x.rank) return Facts::of_rank(DType::kInt64, -1);
    std::vector<int64_t> dims = x.dims;
    if (attr_i("keepdims", 1) != 0) dims[static_cast<size_t>(axis)] = 1;
    else dims.erase(dims.begin() + axis);
    return Facts::of_shape(DType::kInt64, dims);
  }
  if (op.compare(0, 6, "Reduce") == 0) {
    if (k != 0 || x.rank < 0) return Facts::of_rank(x.dtype, -1);
    bool known = false;
    const std::vector<int64_t> axes = axes_of(op == "ReduceSum" ? 13 : 18, 1, &known);
    const bool keep = attr_i("keepdims", 1) != 0;
    const bool noop = attr_i("noop_with_empty_axes", 0) != 0;
    const bool axes_given = source_ < (op == "ReduceSum" ? 13 : 18) ? known : has_input(n, 1);
    if (axes_given && !known) return Facts::of_rank(x.dtype, keep ? x.rank : -1);
    std::vector<int64_t> norm;
    if (axes.empty()) {
      if (noop) return x;
      for (int64_t d = 0; d < x.rank; ++d) norm.push_back(d);
    } else if (!normalize_axes(axes, x.rank, &norm)) {
      return Facts::of_rank(x.dtype, -1);
    }
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < x.rank; ++d) {
      const bool reduced = std::binary_search(norm.begin(), norm.end(), d);
      if (!reduced) dims.push_back(x.dims[static_cast<size_t>(d)]);
      else if (keep) dims.push_back(1);
    }
    return Facts::of_shape(x.dtype, dims);
  }
  if (op == "Shape") {
    if (x.rank < 0) return Facts::of_rank(DType::kInt64, 1);
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + x.rank : v, 0, x.rank); };
    const int64_t s = clamp(attr_i("start", 0));
    const int64_t e = find_attr(n, "end") ? clamp(attr_i("end", 0)) : x.rank;
    return Facts::of_shape(DType::kInt64, {std::max<int64_t>(0, e - s)});
  }
  if (op == "Size") return Facts::of_shape(DType::kInt64, {});
  if (op == "Flatten") {
    if (k != 0) return {};
    if (!x.dims_known()) return Facts::of_rank(x.dtype, 2);
    int64_t axis = attr_i("axis", 1);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis > x.rank) return Facts::of_rank(x.dtype, 2);
    int64_t a = 1, b = 1;
    for (int64_t d = 0; d < x.rank; ++d) {
      int64_t& side = d < axis ? a : b;
      side = mul_dims(side, x.dims[static_cast<size_t>(d)]);
    }
    return Facts::of_shape(x.dtype, {a, b});
  }
  if (op == "Reshape") {
    if (k != 0 || source_ < 5) return Facts::of_rank(x.dtype, -1);
    const Facts& s = input_facts(n, 1);
    Facts out = Facts::of_rank(x.dtype, s.rank == 1 ? s.dims[0] : -1);
    const Tensor* c = has_input(n, 1) ? constant(n.inputs[1]) : nullptr;
    if (!c) return out;
    const std::vector<int64_t> v = tensor_int64s(*c);
    if (out.rank >= 0 && static_cast<int64_t>(v.size()) != out.rank) return Facts::of_rank(x.dtype, -1);
    out = Facts::of_rank(x.dtype, static_cast<int64_t>(v.size()));
    if (out.rank < 0) return out;
    const bool allowzero = attr_i("allowzero", 0) != 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] > 0 || (v[i] == 0 && allowzero)) out.dims[i] = v[i];
      else if (v[i] == 0 && static_cast<int64_t>(i) < x.rank) out.dims[i] = x.dims[i];
    }
    return out;
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    if (k != 0 || x.rank < 0) return Facts::of_rank(x.dtype, -1);
    bool known = false;
    const std::vector<int64_t> axes = axes_of(13, 1, &known);
    if (op == "Squeeze") {
      if (!known) {
        if (source_ >= 13 && has_input(n, 1)) return Facts::of_rank(x.dtype, -1);
        if (!x.dims_known()) return Facts::of_rank(x.dtype, -1);
        std::vector<int64_t> dims;
        for (int64_t d : x.dims)
          if (d != 1) dims.push_back(d);
        return Facts::of_shape(x.dtype, dims);
      }
      std::vector<int64_t> norm;
      if (!normalize_axes(axes, x.rank, &norm)) return Facts::of_rank(x.dtype, -1);
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < x.rank; ++d)
        if (!std::binary_search(norm.begin(), norm.end(), d)) dims.push_back(x.dims[static_cast<size_t>(d)]);
      return Facts::of_shape(x.dtype, dims);
    }
    if (!known) return Facts::of_rank(x.dtype, -1);
    const int64_t out_rank = x.rank + static_cast<int64_t>(axes.size());
    std::vector<int64_t> norm;
    if (!normalize_axes(axes, out_rank, &norm)) return Facts::of_rank(x.dtype, -1);
    std::vector<int64_t> dims;
    size_t src = 0;
    for (int64_t d = 0; d < out_rank; ++d) {
      if (std::binary_search(norm.begin(), norm.end(), d)) dims.push_back(1);
      else dims.push_back(x.dims[src++]);
    }
    return Facts::of_shape(x.dtype, dims);
  }
  if (op == "Expand") {
    const Facts& s = input_facts(n, 1);
    if (k != 0 || x.rank < 0 || s.rank != 1 || s.dims[0] < 0) return Facts::of_rank(x.dtype, -1);
    return Facts::of_rank(x.dtype, std::max(x.rank, s.dims[0]));
  }
  if (op == "ConstantOfShape") {
    DType t = DType::kFloat32;
    if (const Attr* a = find_attr(n, "value"); a && a->has_t) {
      if (!dtype_is_known(a->t.data_type)) return {};
      t = static_cast<DType>(a->t.data_type);
    }
    return Facts::of_rank(t, x.rank == 1 ? x.dims[0] : -1);
  }
  if (op == "NonZero") return Facts::of_rank(DType::kInt64, 2);
  if (op == "Range") return Facts::of_rank(x.dtype, 1);
  if (op == "EyeLike") {
    const Attr* a = find_attr(n, "dtype");
    const DType t = a && dtype_is_known(static_cast<int32_t>(a->i)) ? static_cast<DType>(a->i) : x.dtype;
    return Facts::of_rank(t, 2);
  }
  if (op == "Compress") return Facts::of_rank(x.dtype, find_attr(n, "axis") ? x.rank : 1);
  if (op == "Einsum") return Facts::of_rank(x.dtype, -1);
  return {};
}

void Upgrader::infer_facts() {
  for (const auto& kv : g_.initializers()) facts_[kv.first] = Facts::of_shape(kv.second.dtype(), kv.second.shape());
  for (const auto& v : g_.input_protos()) facts_[v.name] = facts_from_value_info(v);
  std::unordered_map<std::string, Facts> declared;
  for (const auto* list : {&g_.output_protos(), &g_.value_info()})
    for (const auto& v : *list) declared[v.name] = facts_from_value_info(v);
  for (const Node& n : g_.nodes()) {
    if (n.domain.empty() && n.op_type == "Constant")
      for (const auto& o : n.outputs)
        if (!o.empty()) constant_nodes_[o] = &n;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const std::string& o = n.outputs[k];
      if (o.empty()) continue;
      Facts f = n.domain.empty() ? infer_output(n, k) : Facts{};
      auto d = declared.find(o);
      if (d != declared.end()) f = merge(f, d->second);
      facts_[o] = std::move(f);
    }
  }
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
      const Facts& a = u.input_facts(n, 0);
      const Facts& b = u.input_facts(n, 1);
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
  const Facts& x = u.input_facts(n, 0);
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
  infer_facts();
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
