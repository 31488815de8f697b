// Static shape and value inference (shape_inference.h).
#include "core/graph/shape_inference.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/onnx/tensor_convert.h"

namespace wq {
namespace {

using Attr = onnx::AttributeProto;

const Attr* find_attr(const Node& n, const std::string& name) { return n.find_attribute(name); }

bool has_input(const Node& n, size_t i) { return i < n.inputs.size() && !n.inputs[i].empty(); }

// Typed readers with upgrade_opset's rules (absent -> fallback; present with
// another type -> an error; an attribute written without a type is trusted to
// be what the schema says). Inference reads an error as "unknown"; the
// upgrade reports it, naming the node, when it rewrites that node.
Status check_type(const Node& n, const Attr& a, Attr::Type want) {
  if (a.type == want || a.type == Attr::UNDEFINED) return Status::Ok();
  return invalid_model("node '" + n.name + "' (" + n.op_type + "): attribute '" + a.name + "' has another type");
}

Result<int64_t> int_attr(const Node& n, const std::string& name, int64_t fallback) {
  const Attr* a = find_attr(n, name);
  if (!a) return fallback;
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::INT));
  return a->i;
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
  WQ_RETURN_IF_ERROR(check_type(n, *a, Attr::INTS));
  out.present = true;
  out.values = a->ints;
  return out;
}

// Two sources (inference and a declaration) for one value. Agreement adds
// detail; disagreement makes the fact unknown, since one of them is wrong and
// a wrong rank would turn an exact rewrite into an inexact one.
ValueFacts merge(const ValueFacts& a, const ValueFacts& b) {
  ValueFacts f;
  if (a.dtype == DType::kUndefined) f.dtype = b.dtype;
  else if (b.dtype == DType::kUndefined || a.dtype == b.dtype) f.dtype = a.dtype;
  if (a.rank < 0 || b.rank < 0) {
    const ValueFacts& k = a.rank >= 0 ? a : b;
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

ValueFacts facts_from_value_info(const onnx::ValueInfoProto& v) {
  if (!v.has_type || v.type.kind != onnx::TypeProto::Kind::kTensor) return {};
  const DType t = dtype_is_known(v.type.elem_type) ? static_cast<DType>(v.type.elem_type) : DType::kUndefined;
  if (!v.type.has_shape) return ValueFacts::of_rank(t, -1);
  std::vector<int64_t> dims;
  for (const auto& d : v.type.shape.dim) dims.push_back(d.has_value && d.dim_value >= 0 ? d.dim_value : -1);
  return ValueFacts::of_shape(t, dims);
}

// Numpy broadcasting of known facts: a dim is known when every input has it
// known, or some input has a known dim other than 1 (the others must then be
// 1 or equal to it).
ValueFacts broadcast_facts(const std::vector<const ValueFacts*>& ins, DType dtype) {
  int64_t rank = 0;
  for (const ValueFacts* f : ins) {
    if (f->rank < 0) return ValueFacts::of_rank(dtype, -1);
    rank = std::max(rank, f->rank);
  }
  ValueFacts out = ValueFacts::of_rank(dtype, rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t known_non1 = -1;
    bool all_known = true;
    for (const ValueFacts* f : ins) {
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

}  // namespace

ShapeInference::ShapeInference(const Graph& g, int64_t opset) : g_(g), opset_(opset) { infer_facts(); }

const ValueFacts& ShapeInference::facts(const std::string& name) const {
  static const ValueFacts kUnknown;
  auto it = facts_.find(name);
  return it == facts_.end() ? kUnknown : it->second;
}

const ValueFacts& ShapeInference::input_facts(const Node& n, size_t i) const {
  static const ValueFacts kUnknown;
  return has_input(n, i) ? facts(n.inputs[i]) : kUnknown;
}

const Tensor* ShapeInference::constant(const std::string& name) {
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

ValueFacts ShapeInference::infer_output(const Node& n, size_t k) {
  const std::string& op = n.op_type;
  const ValueFacts& x = input_facts(n, 0);
  auto dtype_of_input = [&](size_t i) { return input_facts(n, i).dtype; };
  auto attr_i = [&](const char* name, int64_t fallback) {
    Result<int64_t> r = int_attr(n, name, fallback);
    return r.ok() ? r.value() : fallback;
  };
  // Axes given as an attribute before `since`, as a constant input from it on.
  auto axes_of = [&](int since, size_t input, bool* known) -> std::vector<int64_t> {
    *known = false;
    if (opset_ < since) {
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
      return ValueFacts::of_shape(static_cast<DType>(a->t.data_type), a->t.dims);
    if (find_attr(n, "value_float")) return ValueFacts::of_shape(DType::kFloat32, {});
    if (const Attr* a = find_attr(n, "value_floats")) return ValueFacts::of_shape(DType::kFloat32, {int64_t(a->floats.size())});
    if (find_attr(n, "value_int")) return ValueFacts::of_shape(DType::kInt64, {});
    if (const Attr* a = find_attr(n, "value_ints")) return ValueFacts::of_shape(DType::kInt64, {int64_t(a->ints.size())});
    return {};
  }
  if (same_as_input0_ops().count(op)) {
    if (k == 0) return x;
    if (op == "Dropout" && k == 1) return x.with_dtype(opset_ >= 10 ? DType::kBool : x.dtype);
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
    if (opset_ < 7 && find_attr(n, "broadcast")) return boolean ? x.with_dtype(DType::kBool) : x;
    std::vector<const ValueFacts*> ins;
    for (size_t i = 0; i < n.inputs.size(); ++i) ins.push_back(&input_facts(n, i));
    if (ins.empty()) return {};
    const DType t = boolean ? DType::kBool : op == "Where" ? dtype_of_input(1) : x.dtype;
    return broadcast_facts(ins, t);
  }
  if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    if (k != 0) return {};
    const bool q = op == "QLinearMatMul";
    const ValueFacts& a = x;
    const ValueFacts& b = input_facts(n, q ? 3 : 1);
    const DType t = op == "MatMul" ? x.dtype : op == "MatMulInteger" ? DType::kInt32 : dtype_of_input(7);
    if (a.rank < 1 || b.rank < 1) return ValueFacts::of_rank(t, -1);
    int64_t r;
    if (a.rank == 1 && b.rank == 1) r = 0;
    else if (a.rank == 1) r = b.rank - 1;
    else if (b.rank == 1) r = a.rank - 1;
    else r = std::max(a.rank, b.rank);
    return ValueFacts::of_rank(t, r);
  }
  if (op == "Gemm") return k == 0 ? ValueFacts::of_rank(x.dtype, 2) : ValueFacts{};
  if (op == "ConvInteger") return k == 0 ? ValueFacts::of_rank(DType::kInt32, x.rank) : ValueFacts{};
  if (op == "QLinearConv") return k == 0 ? ValueFacts::of_rank(dtype_of_input(7), x.rank) : ValueFacts{};
  if (op == "QuantizeLinear") {
    if (k != 0) return {};
    DType t = DType::kUInt8;
    if (has_input(n, 2)) t = dtype_of_input(2);
    else if (const Attr* a = find_attr(n, "output_dtype"); a && dtype_is_known(static_cast<int32_t>(a->i)) && a->i != 0)
      t = static_cast<DType>(a->i);
    return x.with_dtype(t);
  }
  if (op == "DequantizeLinear") return k == 0 ? x.with_dtype(dtype_of_input(1)) : ValueFacts{};
  if (op == "DynamicQuantizeLinear") {
    if (k == 0) return x.with_dtype(DType::kUInt8);
    return ValueFacts::of_shape(k == 1 ? DType::kFloat32 : DType::kUInt8, {});
  }
  if (same_rank_ops().count(op)) {
    if (op == "TopK" && k == 1) return ValueFacts::of_rank(DType::kInt64, x.rank);
    if (op == "MaxPool" && k == 1) return ValueFacts::of_rank(DType::kInt64, x.rank);
    if (k != 0) return {};
    return ValueFacts::of_rank(x.dtype, x.rank);
  }
  if (op == "Transpose") {
    if (k != 0 || x.rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    Result<IntsAttr> perm = ints_attr(n, "perm");
    ValueFacts out = ValueFacts::of_rank(x.dtype, x.rank);
    if (!perm.ok()) return ValueFacts::of_rank(x.dtype, -1);
    if (!perm.value().present) {
      std::reverse_copy(x.dims.begin(), x.dims.end(), out.dims.begin());
      return out;
    }
    const auto& p = perm.value().values;
    if (static_cast<int64_t>(p.size()) != x.rank) return ValueFacts::of_rank(x.dtype, -1);
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i] < 0 || p[i] >= x.rank) return ValueFacts::of_rank(x.dtype, -1);
      out.dims[i] = x.dims[static_cast<size_t>(p[i])];
    }
    return out;
  }
  if (op == "Slice") {
    if (k != 0 || x.rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    ValueFacts out = ValueFacts::of_rank(x.dtype, x.rank);
    std::vector<int64_t> starts, ends, axes, steps;
    bool known = true;
    if (opset_ < 10) {
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
      if (a < 0 || a >= x.rank) return ValueFacts::of_rank(x.dtype, x.rank);
      const int64_t d = x.dims[static_cast<size_t>(a)];
      out.dims[static_cast<size_t>(a)] = d < 0 ? -1 : slice_length(d, starts[i], ends[i], steps[i]);
    }
    return out;
  }
  if (op == "Concat") {
    if (k != 0) return {};
    int64_t rank = -1;
    for (size_t i = 0; i < n.inputs.size(); ++i) rank = std::max(rank, input_facts(n, i).rank);
    if (rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    int64_t axis = attr_i("axis", opset_ < 4 ? 1 : 0);
    if (axis < 0) axis += rank;
    ValueFacts out = ValueFacts::of_rank(x.dtype, rank);
    if (axis < 0 || axis >= rank) return out;
    int64_t sum = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueFacts& f = input_facts(n, i);
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
  if (op == "Split") return ValueFacts::of_rank(x.dtype, x.rank);
  if (op == "Gather") {
    if (k != 0) return {};
    const ValueFacts& idx = input_facts(n, 1);
    if (x.rank < 1 || idx.rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    int64_t axis = attr_i("axis", 0);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis >= x.rank) return ValueFacts::of_rank(x.dtype, -1);
    std::vector<int64_t> dims(x.dims.begin(), x.dims.begin() + axis);
    dims.insert(dims.end(), idx.dims.begin(), idx.dims.end());
    dims.insert(dims.end(), x.dims.begin() + axis + 1, x.dims.end());
    return ValueFacts::of_shape(x.dtype, dims);
  }
  if (op == "GatherElements") return k == 0 ? input_facts(n, 1).with_dtype(x.dtype) : ValueFacts{};
  if (op == "GatherND") {
    const ValueFacts& idx = input_facts(n, 1);
    if (k != 0 || x.rank < 0 || idx.rank < 1) return ValueFacts::of_rank(x.dtype, -1);
    const int64_t last = idx.dims.back(), batch = attr_i("batch_dims", 0);
    if (last < 0 || last > x.rank || batch < 0 || batch > x.rank) return ValueFacts::of_rank(x.dtype, -1);
    const int64_t r = idx.rank - 1 + x.rank - last - batch;
    return ValueFacts::of_rank(x.dtype, r >= 0 ? r : -1);
  }
  if (op == "OneHot") {
    const ValueFacts& idx = x;
    return k == 0 ? ValueFacts::of_rank(dtype_of_input(2), idx.rank < 0 ? -1 : idx.rank + 1) : ValueFacts{};
  }
  if (op == "ArgMax" || op == "ArgMin") {
    if (k != 0 || x.rank < 0) return ValueFacts::of_rank(DType::kInt64, -1);
    int64_t axis = attr_i("axis", 0);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis >= x.rank) return ValueFacts::of_rank(DType::kInt64, -1);
    std::vector<int64_t> dims = x.dims;
    if (attr_i("keepdims", 1) != 0) dims[static_cast<size_t>(axis)] = 1;
    else dims.erase(dims.begin() + axis);
    return ValueFacts::of_shape(DType::kInt64, dims);
  }
  if (op.compare(0, 6, "Reduce") == 0) {
    if (k != 0 || x.rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    bool known = false;
    const std::vector<int64_t> axes = axes_of(op == "ReduceSum" ? 13 : 18, 1, &known);
    const bool keep = attr_i("keepdims", 1) != 0;
    const bool noop = attr_i("noop_with_empty_axes", 0) != 0;
    const bool axes_given = opset_ < (op == "ReduceSum" ? 13 : 18) ? known : has_input(n, 1);
    if (axes_given && !known) return ValueFacts::of_rank(x.dtype, keep ? x.rank : -1);
    std::vector<int64_t> norm;
    if (axes.empty()) {
      if (noop) return x;
      for (int64_t d = 0; d < x.rank; ++d) norm.push_back(d);
    } else if (!normalize_axes(axes, x.rank, &norm)) {
      return ValueFacts::of_rank(x.dtype, -1);
    }
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < x.rank; ++d) {
      const bool reduced = std::binary_search(norm.begin(), norm.end(), d);
      if (!reduced) dims.push_back(x.dims[static_cast<size_t>(d)]);
      else if (keep) dims.push_back(1);
    }
    return ValueFacts::of_shape(x.dtype, dims);
  }
  if (op == "Shape") {
    if (x.rank < 0) return ValueFacts::of_rank(DType::kInt64, 1);
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + x.rank : v, 0, x.rank); };
    const int64_t s = clamp(attr_i("start", 0));
    const int64_t e = find_attr(n, "end") ? clamp(attr_i("end", 0)) : x.rank;
    return ValueFacts::of_shape(DType::kInt64, {std::max<int64_t>(0, e - s)});
  }
  if (op == "Size") return ValueFacts::of_shape(DType::kInt64, {});
  if (op == "Flatten") {
    if (k != 0) return {};
    if (!x.dims_known()) return ValueFacts::of_rank(x.dtype, 2);
    int64_t axis = attr_i("axis", 1);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis > x.rank) return ValueFacts::of_rank(x.dtype, 2);
    int64_t a = 1, b = 1;
    for (int64_t d = 0; d < x.rank; ++d) {
      int64_t& side = d < axis ? a : b;
      side = mul_dims(side, x.dims[static_cast<size_t>(d)]);
    }
    return ValueFacts::of_shape(x.dtype, {a, b});
  }
  if (op == "Reshape") {
    if (k != 0 || opset_ < 5) return ValueFacts::of_rank(x.dtype, -1);
    const ValueFacts& s = input_facts(n, 1);
    ValueFacts out = ValueFacts::of_rank(x.dtype, s.rank == 1 ? s.dims[0] : -1);
    const Tensor* c = has_input(n, 1) ? constant(n.inputs[1]) : nullptr;
    if (!c) return out;
    const std::vector<int64_t> v = tensor_int64s(*c);
    if (out.rank >= 0 && static_cast<int64_t>(v.size()) != out.rank) return ValueFacts::of_rank(x.dtype, -1);
    out = ValueFacts::of_rank(x.dtype, static_cast<int64_t>(v.size()));
    if (out.rank < 0) return out;
    const bool allowzero = attr_i("allowzero", 0) != 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] > 0 || (v[i] == 0 && allowzero)) out.dims[i] = v[i];
      else if (v[i] == 0 && static_cast<int64_t>(i) < x.rank) out.dims[i] = x.dims[i];
    }
    return out;
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    if (k != 0 || x.rank < 0) return ValueFacts::of_rank(x.dtype, -1);
    bool known = false;
    const std::vector<int64_t> axes = axes_of(13, 1, &known);
    if (op == "Squeeze") {
      if (!known) {
        if (opset_ >= 13 && has_input(n, 1)) return ValueFacts::of_rank(x.dtype, -1);
        if (!x.dims_known()) return ValueFacts::of_rank(x.dtype, -1);
        std::vector<int64_t> dims;
        for (int64_t d : x.dims)
          if (d != 1) dims.push_back(d);
        return ValueFacts::of_shape(x.dtype, dims);
      }
      std::vector<int64_t> norm;
      if (!normalize_axes(axes, x.rank, &norm)) return ValueFacts::of_rank(x.dtype, -1);
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < x.rank; ++d)
        if (!std::binary_search(norm.begin(), norm.end(), d)) dims.push_back(x.dims[static_cast<size_t>(d)]);
      return ValueFacts::of_shape(x.dtype, dims);
    }
    if (!known) return ValueFacts::of_rank(x.dtype, -1);
    const int64_t out_rank = x.rank + static_cast<int64_t>(axes.size());
    std::vector<int64_t> norm;
    if (!normalize_axes(axes, out_rank, &norm)) return ValueFacts::of_rank(x.dtype, -1);
    std::vector<int64_t> dims;
    size_t src = 0;
    for (int64_t d = 0; d < out_rank; ++d) {
      if (std::binary_search(norm.begin(), norm.end(), d)) dims.push_back(1);
      else dims.push_back(x.dims[src++]);
    }
    return ValueFacts::of_shape(x.dtype, dims);
  }
  if (op == "Expand") {
    const ValueFacts& s = input_facts(n, 1);
    if (k != 0 || x.rank < 0 || s.rank != 1 || s.dims[0] < 0) return ValueFacts::of_rank(x.dtype, -1);
    return ValueFacts::of_rank(x.dtype, std::max(x.rank, s.dims[0]));
  }
  if (op == "ConstantOfShape") {
    DType t = DType::kFloat32;
    if (const Attr* a = find_attr(n, "value"); a && a->has_t) {
      if (!dtype_is_known(a->t.data_type)) return {};
      t = static_cast<DType>(a->t.data_type);
    }
    return ValueFacts::of_rank(t, x.rank == 1 ? x.dims[0] : -1);
  }
  if (op == "NonZero") return ValueFacts::of_rank(DType::kInt64, 2);
  if (op == "Range") return ValueFacts::of_rank(x.dtype, 1);
  if (op == "EyeLike") {
    const Attr* a = find_attr(n, "dtype");
    const DType t = a && dtype_is_known(static_cast<int32_t>(a->i)) ? static_cast<DType>(a->i) : x.dtype;
    return ValueFacts::of_rank(t, 2);
  }
  if (op == "Compress") return ValueFacts::of_rank(x.dtype, find_attr(n, "axis") ? x.rank : 1);
  if (op == "Einsum") return ValueFacts::of_rank(x.dtype, -1);
  return {};
}

void ShapeInference::infer_facts() {
  for (const auto& kv : g_.initializers()) facts_[kv.first] = ValueFacts::of_shape(kv.second.dtype(), kv.second.shape());
  for (const auto& v : g_.input_protos()) facts_[v.name] = facts_from_value_info(v);
  std::unordered_map<std::string, ValueFacts> declared;
  for (const auto* list : {&g_.output_protos(), &g_.value_info()})
    for (const auto& v : *list) declared[v.name] = facts_from_value_info(v);
  for (const Node& n : g_.nodes()) {
    if (n.domain.empty() && n.op_type == "Constant")
      for (const auto& o : n.outputs)
        if (!o.empty()) constant_nodes_[o] = &n;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const std::string& o = n.outputs[k];
      if (o.empty()) continue;
      ValueFacts f = n.domain.empty() ? infer_output(n, k) : ValueFacts{};
      auto d = declared.find(o);
      if (d != declared.end()) f = merge(f, d->second);
      facts_[o] = std::move(f);
    }
  }
}

}  // namespace wq
