#include "core/ops/ops_util.h"

#include <algorithm>

namespace wq {
namespace detail {

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

int64_t dims_product(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
    return invalid_model(what + ": axis " + std::to_string(axis) + " is out of range for rank " +
                         std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Result<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                            const std::string& what) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_model(what + ": axis " + std::to_string(a) + " is out of range for rank " +
                           std::to_string(rank));
    const int64_t n = a < 0 ? a + rank : a;
    if (std::find(out.begin(), out.end(), n) != out.end())
      return invalid_model(what + ": axis " + std::to_string(a) + " is repeated");
    out.push_back(n);
  }
  return out;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b, const std::string& what) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      return invalid_argument(what + ": shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                              " cannot be broadcast");
    }
  }
  return out;
}

Status check_output_size(const Shape& shape, DType dtype, const std::string& where) {
  const int64_t n = shape_numel(shape);
  if (n < 0) return invalid_argument(where + "invalid output shape " + shape_to_string(shape));
  for (int64_t d : shape)
    if (static_cast<uint64_t>(d) > kMaxTensorBytes)
      return out_of_memory(where + "output shape " + shape_to_string(shape) + " is too large");
  if (static_cast<uint64_t>(n) > kMaxTensorBytes || dtype_storage_bytes(dtype, n) > kMaxTensorBytes)
    return out_of_memory(where + "output shape " + shape_to_string(shape) + " is too large");
  return Status::Ok();
}

Result<size_t> scratch_count(int64_t n, size_t elem_bytes, const std::string& what) {
  if (n < 0 || static_cast<uint64_t>(n) > kMaxTensorBytes / elem_bytes)
    return out_of_memory(what + " needs " + std::to_string(n) + " elements of " + std::to_string(elem_bytes) +
                         " bytes, over the " + std::to_string(kMaxTensorBytes) + "-byte limit for one buffer");
  return static_cast<size_t>(n);
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = contiguous_strides(in);
  const size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) strides[offset + i] = in[i] == 1 ? 0 : own[i];
  return strides;
}

Result<std::vector<int64_t>> tensor_to_int64s(const Tensor& t, const std::string& what) {
  std::vector<int64_t> out(static_cast<size_t>(std::max<int64_t>(t.numel(), 0)));
  if (t.dtype() == DType::kInt64) {
    if (!out.empty()) std::memcpy(out.data(), t.raw(), out.size() * sizeof(int64_t));
  } else if (t.dtype() == DType::kInt32) {
    const int32_t* p = t.data<int32_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  } else {
    return invalid_argument(what + " must be int32 or int64, got " + dtype_name(t.dtype()));
  }
  return out;
}

Result<std::vector<double>> tensor_to_doubles(const Tensor& t, const std::string& what) {
  std::vector<double> out(static_cast<size_t>(std::max<int64_t>(t.numel(), 0)));
  Status s = visit_dtype<NumericTypes>(t.dtype(), what, [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(load(p[i]));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Status in_node(const Status& s, const KernelInit& init) {
  const std::string prefix = init.context();
  if (s.ok() || s.message().compare(0, prefix.size(), prefix) == 0) return s;
  return s.with_context(prefix);
}

Result<int64_t> int_attr(const KernelInit& init, const std::string& name, int64_t fallback) {
  auto v = init.attr_int(name, fallback);
  if (!v.ok()) return in_node(v.status(), init);
  return v.value();
}

Result<float> float_attr(const KernelInit& init, const std::string& name, float fallback) {
  auto v = init.attr_float(name, fallback);
  if (!v.ok()) return in_node(v.status(), init);
  return v.value();
}

Result<IntsAttr> read_ints_attr(const KernelInit& init, const std::string& name) {
  IntsAttr a;
  a.present = init.has_attr(name);
  if (a.present) {
    auto v = init.attr_ints(name);
    if (!v.ok()) return detail::in_node(v.status(), init);
    a.values = std::move(v).value();
  }
  return a;
}

Status require_string_attr(const KernelInit& init, const std::string& name, const std::string& fallback,
                           const std::vector<std::string>& supported, std::string* value) {
  auto v = init.attr_string(name, fallback);
  if (!v.ok()) return detail::in_node(v.status(), init);
  if (std::find(supported.begin(), supported.end(), v.value()) == supported.end())
    return unsupported(init.context() + "attribute " + name + "='" + v.value() + "' is not supported");
  if (value) *value = v.value();
  return Status::Ok();
}

Status reject_moved_attrs(const KernelInit& init, const std::vector<std::string>& names) {
  for (const std::string& n : names)
    if (init.has_attr(n))
      return invalid_model(init.context() + n + " is an input at opset " + std::to_string(init.opset()) +
                           ", not an attribute");
  return Status::Ok();
}

Result<const Tensor*> required_input(const KernelContext& ctx, size_t i, const std::string& where) {
  const Tensor* t = i < ctx.num_inputs() ? ctx.input(i) : nullptr;
  if (!t) return invalid_argument(where + "required input " + std::to_string(i) + " is missing");
  return t;
}

Result<double> scalar_as_double(const Tensor& t, const std::string& what) {
  if (t.numel() != 1)
    return invalid_argument(what + " must have exactly one element, got shape " + shape_to_string(t.shape()));
  WQ_ASSIGN_OR_RETURN(std::vector<double> v, tensor_to_doubles(t, what));
  return v[0];
}

Result<AutoPad> parse_auto_pad(const KernelInit& init) {
  auto v = init.attr_string("auto_pad", "NOTSET");
  if (!v.ok()) return detail::in_node(v.status(), init);
  const std::string& s = v.value();
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return invalid_model(init.context() + "attribute auto_pad='" + s + "' is not a valid value");
}

Result<WindowAttrs> parse_window_attrs(const KernelInit& init) {
  WindowAttrs a;
  WQ_ASSIGN_OR_RETURN(a.auto_pad, parse_auto_pad(init));
  WQ_ASSIGN_OR_RETURN(IntsAttr k, read_ints_attr(init, "kernel_shape"));
  WQ_ASSIGN_OR_RETURN(IntsAttr s, read_ints_attr(init, "strides"));
  WQ_ASSIGN_OR_RETURN(IntsAttr p, read_ints_attr(init, "pads"));
  WQ_ASSIGN_OR_RETURN(IntsAttr d, read_ints_attr(init, "dilations"));
  a.kernel_shape = k.values;
  a.strides = s.values;
  a.pads = p.values;
  a.dilations = d.values;
  auto ceil = init.attr_int("ceil_mode", 0);
  if (!ceil.ok()) return detail::in_node(ceil.status(), init);
  a.ceil_mode = ceil.value() != 0;
  // Bounded here, once, so that every window computation after it ((k - 1) *
  // dilation, input + pads, in 64 bits; the kernels' size_t in wasm32) stays
  // in range: no real model comes near 2^31 in any of these.
  const auto check = [&](const std::vector<int64_t>& values, const char* name, int64_t min) -> Status {
    for (int64_t v : values) {
      if (v < min || v > kMaxWindowAttr)
        return invalid_model(init.context() + "attribute " + name + " has value " + std::to_string(v) +
                             ", outside [" + std::to_string(min) + ", " + std::to_string(kMaxWindowAttr) + "]");
    }
    return Status::Ok();
  };
  WQ_RETURN_IF_ERROR(check(a.kernel_shape, "kernel_shape", 1));
  WQ_RETURN_IF_ERROR(check(a.strides, "strides", 1));
  WQ_RETURN_IF_ERROR(check(a.dilations, "dilations", 1));
  WQ_RETURN_IF_ERROR(check(a.pads, "pads", 0));
  return a;
}

Result<WindowGeometry> resolve_window(const WindowAttrs& attrs, const Shape& spatial_in,
                                      const std::vector<int64_t>& kernel, const std::string& where) {
  const size_t n = spatial_in.size();
  auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) -> Status {
    if (!v.empty() && v.size() != want)
      return invalid_model(where + name + " has " + std::to_string(v.size()) + " values, expected " +
                           std::to_string(want));
    return Status::Ok();
  };
  WQ_RETURN_IF_ERROR(check_len(kernel, n, "kernel_shape"));
  if (kernel.size() != n) return invalid_model(where + "kernel_shape is required");
  WQ_RETURN_IF_ERROR(check_len(attrs.strides, n, "strides"));
  WQ_RETURN_IF_ERROR(check_len(attrs.dilations, n, "dilations"));
  WQ_RETURN_IF_ERROR(check_len(attrs.pads, 2 * n, "pads"));

  WindowGeometry g;
  g.in = spatial_in;
  g.kernel = kernel;
  g.stride = attrs.strides.empty() ? std::vector<int64_t>(n, 1) : attrs.strides;
  g.dilation = attrs.dilations.empty() ? std::vector<int64_t>(n, 1) : attrs.dilations;
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  g.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = spatial_in[i], s = g.stride[i];
    const int64_t dk = (kernel[i] - 1) * g.dilation[i] + 1;
    if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      g.pad_begin[i] = attrs.auto_pad == AutoPad::kSameUpper ? total / 2 : (total + 1) / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      g.out[i] = out;
      continue;
    }
    if (attrs.auto_pad == AutoPad::kNotSet && !attrs.pads.empty()) {
      g.pad_begin[i] = attrs.pads[i];
      g.pad_end[i] = attrs.pads[i + n];
    }
    const int64_t span = in + g.pad_begin[i] + g.pad_end[i] - dk;
    if (span < 0)
      return invalid_argument(where + "kernel extent " + std::to_string(dk) + " exceeds padded input size " +
                              std::to_string(in + g.pad_begin[i] + g.pad_end[i]) + " in spatial dim " +
                              std::to_string(i));
    int64_t out = span / s + 1;
    if (attrs.ceil_mode) {
      out = (span + s - 1) / s + 1;
      // The last window must start inside the input or the begin padding.
      if ((out - 1) * s >= in + g.pad_begin[i]) --out;
    }
    g.out[i] = out;
  }
  return g;
}

}  // namespace detail
}  // namespace wq
