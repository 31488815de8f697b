// Ops that only change a tensor's shape or produce shape/constant values:
// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (inference),
// Shape, Size, Constant, ConstantOfShape, Range, EyeLike.
//
// Reshape-like ops return views that share the input's buffer.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;

// An int list given as an attribute before opset `input_since` and as input
// `input_index` from then on. Absent (has == false) when neither is given.
struct IntsSource {
  bool from_input = false;
  size_t input_index = 0;
  bool has_attr = false;
  std::vector<int64_t> attr;

  Result<std::vector<int64_t>> get(const KernelContext& ctx, const std::string& where, const char* name,
                                   bool* present) const {
    if (!from_input) {
      *present = has_attr;
      return attr;
    }
    const Tensor* t = input_index < ctx.num_inputs() ? ctx.input(input_index) : nullptr;
    *present = t != nullptr;
    if (!t) return std::vector<int64_t>{};
    return detail::tensor_to_int64s(*t, where + name);
  }
};

Result<IntsSource> ints_source(const KernelInit& init, const char* name, int input_since, size_t input_index) {
  IntsSource s;
  s.input_index = input_index;
  if (init.opset() >= input_since) {
    s.from_input = true;
    WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {name}));
    return s;
  }
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr a, detail::read_ints_attr(init, name));
  s.has_attr = a.present;
  s.attr = a.values;
  return s;
}

Status set_view(KernelContext& ctx, const Tensor& x, Shape shape, const std::string& where) {
  auto v = x.reshaped(std::move(shape));
  if (!v.ok()) return v.status().with_context(where);
  ctx.set_output(0, std::move(v).value());
  return Status::Ok();
}

// ---- Reshape ----------------------------------------------------------------------

Result<Shape> reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allow_zero,
                             const std::string& where) {
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allow_zero) {
      if (i >= in.size())
        return invalid_argument(where + "shape value 0 at index " + std::to_string(i) + " has no input dim to copy");
      d = in[i];
    }
    if (d == -1) {
      if (infer >= 0) return invalid_argument(where + "shape has more than one -1");
      infer = static_cast<int>(i);
      out[i] = -1;
      continue;
    }
    if (d < 0) return invalid_argument(where + "invalid shape value " + std::to_string(d));
    out[i] = d;
    known *= d;
  }
  const int64_t total = shape_numel(in);
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      return invalid_argument(where + "cannot infer -1 when reshaping " + shape_to_string(in) + " to " +
                              shape_to_string(spec));
    out[infer] = total / known;
  }
  if (shape_numel(out) != total)
    return invalid_argument(where + "cannot reshape " + shape_to_string(in) + " to " + shape_to_string(out));
  return out;
}

class ReshapeKernel : public detail::NodeKernel {
 public:
  ReshapeKernel(const KernelInit& init, bool allow_zero) : NodeKernel(init), allow_zero_(allow_zero) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* s, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> spec, detail::tensor_to_int64s(*s, where() + "shape"));
    WQ_ASSIGN_OR_RETURN(Shape out, reshape_target(x->shape(), spec, allow_zero_, where()));
    return set_view(ctx, *x, out, where());
  }

 private:
  bool allow_zero_;
};

Result<std::unique_ptr<OpKernel>> make_reshape(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t az, detail::int_attr(init, "allowzero", 0));
  return std::unique_ptr<OpKernel>(new ReshapeKernel(init, az != 0));
}

// ---- Flatten ----------------------------------------------------------------------

class FlattenKernel : public detail::NodeKernel {
 public:
  FlattenKernel(const KernelInit& init, int64_t axis) : NodeKernel(init), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    // axis lies in [-rank, rank]; axis == rank gives [numel, 1].
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis > rank)
      return invalid_model(where() + "axis " + std::to_string(axis_) + " is out of range for rank " +
                           std::to_string(rank));
    const Shape out = {detail::dims_product(x->shape(), 0, axis), detail::dims_product(x->shape(), axis, rank)};
    return set_view(ctx, *x, out, where());
  }

 private:
  int64_t axis_;
};

Result<std::unique_ptr<OpKernel>> make_flatten(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 1));
  return std::unique_ptr<OpKernel>(new FlattenKernel(init, axis));
}

// ---- Squeeze / Unsqueeze -------------------------------------------------------------

class SqueezeKernel : public detail::NodeKernel {
 public:
  SqueezeKernel(const KernelInit& init, IntsSource axes) : NodeKernel(init), axes_(std::move(axes)) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    bool present = false;
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_.get(ctx, where(), "axes", &present));
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(axes, detail::normalize_axes(axes, rank, where() + "axes"));
    Shape out;
    for (int64_t d = 0; d < rank; ++d) {
      const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
      if (listed && x->dim(d) != 1)
        return invalid_argument(where() + "cannot squeeze axis " + std::to_string(d) + " of size " +
                                std::to_string(x->dim(d)));
      const bool drop = present && !axes.empty() ? listed : x->dim(d) == 1;
      if (!drop) out.push_back(x->dim(d));
    }
    return set_view(ctx, *x, out, where());
  }

 private:
  IntsSource axes_;
};

class UnsqueezeKernel : public detail::NodeKernel {
 public:
  UnsqueezeKernel(const KernelInit& init, IntsSource axes) : NodeKernel(init), axes_(std::move(axes)) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    bool present = false;
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_.get(ctx, where(), "axes", &present));
    if (!present) return invalid_argument(where() + "axes is required");
    const int64_t out_rank = static_cast<int64_t>(x->rank() + axes.size());
    WQ_ASSIGN_OR_RETURN(axes, detail::normalize_axes(axes, out_rank, where() + "axes"));
    Shape out;
    size_t next = 0;
    for (int64_t d = 0; d < out_rank; ++d) {
      if (std::find(axes.begin(), axes.end(), d) != axes.end()) {
        out.push_back(1);
      } else {
        out.push_back(x->dim(next++));
      }
    }
    return set_view(ctx, *x, out, where());
  }

 private:
  IntsSource axes_;
};

template <typename K>
Result<std::unique_ptr<OpKernel>> make_axes_op(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(IntsSource axes, ints_source(init, "axes", 13, 1));
  return std::unique_ptr<OpKernel>(new K(init, std::move(axes)));
}

// ---- Identity / Dropout ---------------------------------------------------------------

class IdentityKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    ctx.set_output(0, *x);
    return Status::Ok();
  }
};

// Inference-mode Dropout: the output is the input and the mask is all ones.
// Training (random masks) is not supported unless the ratio is 0.
class DropoutKernel : public detail::NodeKernel {
 public:
  DropoutKernel(const KernelInit& init, float attr_ratio, bool legacy_mask)
      : NodeKernel(init), attr_ratio_(attr_ratio), legacy_mask_(legacy_mask) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const Tensor* ratio = ctx.num_inputs() > 1 ? ctx.input(1) : nullptr;
    const Tensor* training = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (training) {
      if (training->dtype() != DType::kBool || training->numel() != 1)
        return invalid_argument(where() + "training_mode must be a bool scalar");
      double r = attr_ratio_;
      if (ratio) {
        WQ_ASSIGN_OR_RETURN(r, detail::scalar_as_double(*ratio, where() + "ratio"));
      }
      if (training->data<bool>()[0] && r != 0.0)
        return unsupported(where() + "training_mode=true with ratio " + std::to_string(r) +
                           " (random dropout) is not supported");
    }
    ctx.set_output(0, *x);
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
      // Dropout-7 typed the mask like the input; from 10 on it is bool.
      const DType mask_type = legacy_mask_ ? x->dtype() : DType::kBool;
      WQ_ASSIGN_OR_RETURN(Tensor* mask, ctx.allocate_output(1, mask_type, x->shape()));
      WQ_RETURN_IF_ERROR(detail::visit_dtype<detail::AllTypes>(mask_type, where() + "mask", [&](auto tag) {
        using T = decltype(tag);
        std::fill(mask->mutable_data<T>(), mask->mutable_data<T>() + mask->numel(), detail::convert<T>(1));
        return Status::Ok();
      }));
    }
    return Status::Ok();
  }

 private:
  float attr_ratio_;
  bool legacy_mask_;
};

Result<std::unique_ptr<OpKernel>> make_dropout(const KernelInit& init) {
  auto ratio = init.attr_float("ratio", 0.5f);
  if (!ratio.ok()) return detail::in_node(ratio.status(), init);
  // Reject a constant training_mode=true up front when the ratio is known to be non-zero.
  const Tensor* training = init.num_inputs() > 2 ? init.constant_input(2) : nullptr;
  if (training && training->dtype() == DType::kBool && training->numel() == 1 && training->data<bool>()[0]) {
    double r = 0.5;  // the default when the ratio input is absent
    const Tensor* rt = init.num_inputs() > 1 ? init.constant_input(1) : nullptr;
    if (rt) {
      WQ_ASSIGN_OR_RETURN(r, detail::scalar_as_double(*rt, init.context() + "ratio"));
    }
    const bool ratio_known = rt || !init.has_input(1);
    if (ratio_known && r != 0.0)
      return unsupported(init.context() + "training_mode=true (random dropout) is not supported");
  }
  return std::unique_ptr<OpKernel>(new DropoutKernel(init, ratio.value(), init.opset() < 10));
}

// ---- Shape / Size -------------------------------------------------------------------------

class ShapeKernel : public detail::NodeKernel {
 public:
  ShapeKernel(const KernelInit& init, int64_t start, bool has_end, int64_t end)
      : NodeKernel(init), start_(start), has_end_(has_end), end_(end) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    auto clamp = [&](int64_t v) { return std::min(std::max(v < 0 ? v + rank : v, int64_t(0)), rank); };
    const int64_t s = clamp(start_), e = has_end_ ? clamp(end_) : rank;
    const int64_t n = std::max<int64_t>(0, e - s);
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kInt64, {n}));
    for (int64_t i = 0; i < n; ++i) y->mutable_data<int64_t>()[i] = x->dim(s + i);
    return Status::Ok();
  }

 private:
  int64_t start_;
  bool has_end_;
  int64_t end_;
};

Result<std::unique_ptr<OpKernel>> make_shape(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t start, detail::int_attr(init, "start", 0));
  WQ_ASSIGN_OR_RETURN(int64_t end, detail::int_attr(init, "end", 0));
  return std::unique_ptr<OpKernel>(new ShapeKernel(init, start, init.has_attr("end"), end));
}

class SizeKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kInt64, {}));
    y->mutable_data<int64_t>()[0] = x->numel();
    return Status::Ok();
  }
};

// ---- Constant / ConstantOfShape ----------------------------------------------------------

class ConstantKernel : public detail::NodeKernel {
 public:
  ConstantKernel(const KernelInit& init, Tensor value) : NodeKernel(init), value_(std::move(value)) {}
  Status run(KernelContext& ctx) override {
    ctx.set_output(0, value_);
    return Status::Ok();
  }

 private:
  Tensor value_;
};

Result<std::unique_ptr<OpKernel>> make_constant(const KernelInit& init) {
  const std::vector<std::string> names = init.attr_names();
  if (names.size() != 1)
    return invalid_model(init.context() + "Constant needs exactly one value attribute, got " +
                         std::to_string(names.size()));
  const std::string& name = names[0];
  Tensor value;
  if (name == "value") {
    auto t = init.attr_tensor("value");
    if (!t.ok()) return detail::in_node(t.status(), init);
    value = std::move(t).value();
  } else if (name == "value_float") {
    auto v = init.attr_float(name, 0);
    if (!v.ok()) return detail::in_node(v.status(), init);
    value = Tensor::from_floats({}, {v.value()});
  } else if (name == "value_floats") {
    auto v = init.attr_floats(name);
    if (!v.ok()) return detail::in_node(v.status(), init);
    value = Tensor::from_floats({static_cast<int64_t>(v->size())}, v.value());
  } else if (name == "value_int") {
    auto v = init.attr_int(name, 0);
    if (!v.ok()) return detail::in_node(v.status(), init);
    value = Tensor::from_int64s({}, {v.value()});
  } else if (name == "value_ints") {
    auto v = init.attr_ints(name);
    if (!v.ok()) return detail::in_node(v.status(), init);
    value = Tensor::from_int64s({static_cast<int64_t>(v->size())}, v.value());
  } else if (name == "value_string" || name == "value_strings" || name == "sparse_value") {
    return unsupported(init.context() + "attribute " + name + " is not supported");
  } else {
    return invalid_model(init.context() + "unknown attribute " + name);
  }
  return std::unique_ptr<OpKernel>(new ConstantKernel(init, std::move(value)));
}

class ConstantOfShapeKernel : public detail::NodeKernel {
 public:
  ConstantOfShapeKernel(const KernelInit& init, Tensor value) : NodeKernel(init), value_(std::move(value)) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* s, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> dims, detail::tensor_to_int64s(*s, where() + "input"));
    for (int64_t d : dims)
      if (d < 0) return invalid_argument(where() + "negative dim " + std::to_string(d) + " in shape");
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, value_.dtype(), dims));
    const size_t bytes = value_.nbytes();
    auto* out = static_cast<uint8_t*>(y->mutable_raw());
    for (int64_t i = 0; i < y->numel(); ++i) std::memcpy(out + i * bytes, value_.raw(), bytes);
    return Status::Ok();
  }

 private:
  Tensor value_;
};

Result<std::unique_ptr<OpKernel>> make_constant_of_shape(const KernelInit& init) {
  Tensor value = Tensor::from_floats({1}, {0.0f});
  if (init.has_attr("value")) {
    auto t = init.attr_tensor("value");
    if (!t.ok()) return detail::in_node(t.status(), init);
    value = std::move(t).value();
    if (value.numel() != 1)
      return invalid_model(init.context() + "value must have exactly one element, got " +
                           shape_to_string(value.shape()));
    if (dtype_bits(value.dtype()) < 8)
      return unsupported(init.context() + "value of type " + dtype_name(value.dtype()) + " is not supported");
  }
  return std::unique_ptr<OpKernel>(new ConstantOfShapeKernel(init, std::move(value)));
}

// ---- Range -------------------------------------------------------------------------------

class RangeKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    const Tensor* in[3];
    for (size_t i = 0; i < 3; ++i) {
      WQ_ASSIGN_OR_RETURN(in[i], detail::required_input(ctx, i, where()));
      if (in[i]->numel() != 1)
        return invalid_argument(where() + "input " + std::to_string(i) + " must be a scalar, got " +
                                shape_to_string(in[i]->shape()));
      if (in[i]->dtype() != in[0]->dtype()) return invalid_argument(where() + "inputs must have the same type");
    }
    using RangeTypes = detail::TypeList<float, double, int16_t, int32_t, int64_t>;
    return detail::visit_dtype<RangeTypes>(in[0]->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T start = in[0]->data<T>()[0], limit = in[1]->data<T>()[0], delta = in[2]->data<T>()[0];
      if (delta == T(0)) return invalid_argument(where() + "delta must not be 0");
      int64_t n = 0;
      if constexpr (std::is_integral<T>::value) {
        int64_t diff = 0;
        const int64_t d = delta;
        if (__builtin_sub_overflow(static_cast<int64_t>(limit), static_cast<int64_t>(start), &diff))
          return invalid_argument(where() + "range limits overflow");
        if (d == -1 && diff == std::numeric_limits<int64_t>::min())
          return invalid_argument(where() + "range has too many elements");
        n = diff / d + ((diff % d != 0 && (diff > 0) == (d > 0)) ? 1 : 0);
      } else {
        const double v = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
        if (!(v < 1e12)) return invalid_argument(where() + "range has too many elements");
        n = static_cast<int64_t>(std::max(0.0, v));
      }
      n = std::max<int64_t>(n, 0);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, in[0]->dtype(), {n}));
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_integral<T>::value) {
          y->mutable_data<T>()[i] = static_cast<T>(start + i * static_cast<int64_t>(delta));
        } else {
          y->mutable_data<T>()[i] = static_cast<T>(start + static_cast<T>(i) * delta);
        }
      }
      return Status::Ok();
    });
  }
};

// ---- EyeLike -------------------------------------------------------------------------------

class EyeLikeKernel : public detail::NodeKernel {
 public:
  EyeLikeKernel(const KernelInit& init, bool has_dtype, DType dtype, int64_t k)
      : NodeKernel(init), has_dtype_(has_dtype), dtype_(dtype), k_(k) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() != 2) return invalid_argument(where() + "input must be 2-D, got " + shape_to_string(x->shape()));
    const DType dt = has_dtype_ ? dtype_ : x->dtype();
    return detail::visit_dtype<detail::AllTypes>(dt, where() + "output", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, dt, x->shape()));
      const int64_t rows = x->dim(0), cols = x->dim(1);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          y->mutable_data<T>()[r * cols + c] = detail::convert<T>(c - r == k_ ? 1 : 0);
      return Status::Ok();
    });
  }

 private:
  bool has_dtype_;
  DType dtype_;
  int64_t k_;
};

Result<std::unique_ptr<OpKernel>> make_eyelike(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t k, detail::int_attr(init, "k", 0));
  WQ_ASSIGN_OR_RETURN(int64_t dt, detail::int_attr(init, "dtype", 0));
  if (init.has_attr("dtype") && !dtype_is_known(static_cast<int32_t>(dt)))
    return invalid_model(init.context() + "unknown dtype " + std::to_string(dt));
  return std::unique_ptr<OpKernel>(new EyeLikeKernel(init, init.has_attr("dtype"), static_cast<DType>(dt), k));
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  constexpr int kMin = kMinSupportedOpset, kMax = kMaxSupportedOpset;
  r.add("", "Reshape", 5, kMax, make_reshape);
  r.add("", "Flatten", 1, kMax, make_flatten);
  r.add("", "Squeeze", 1, kMax, make_axes_op<SqueezeKernel>);
  r.add("", "Unsqueeze", 1, kMax, make_axes_op<UnsqueezeKernel>);
  r.add("", "Identity", 1, kMax, detail::simple_factory<IdentityKernel>());
  r.add("", "Dropout", kMin, kMax, make_dropout);
  r.add("", "Shape", 1, kMax, make_shape);
  r.add("", "Size", 1, kMax, detail::simple_factory<SizeKernel>());
  r.add("", "Constant", 1, kMax, make_constant);
  r.add("", "ConstantOfShape", 9, kMax, make_constant_of_shape);
  r.add("", "Range", 11, kMax, detail::simple_factory<RangeKernel>());
  r.add("", "EyeLike", 9, kMax, make_eyelike);
}

}  // namespace wq
