// Data-movement ops: Transpose, Concat, Split, Slice, Expand, Tile, Pad,
// Gather, GatherElements, GatherND, ScatterElements, ScatterND,
// DepthToSpace, SpaceToDepth, Trilu.
//
// Pure moves dispatch on element size only (visit_by_size), so one
// instantiation serves every dtype of that width.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;

// dst (contiguous, shape `shape`) [i] = src[offset(i)] with per-dim element
// strides (may be 0 or negative).
template <typename T>
void strided_copy(const T* src, const Shape& shape, const std::vector<int64_t>& strides, T* dst) {
  const std::vector<int64_t> s[1] = {strides};
  detail::for_each_broadcast(shape, s, [&](int64_t i, const int64_t* off) { dst[i] = src[off[0]]; });
}

// ---- Transpose / DepthToSpace / SpaceToDepth ----------------------------------------

// Writes `x` viewed as `view_shape` and permuted by `perm` into `y`.
Status permute_into(const Tensor& x, const Shape& view_shape, const std::vector<int64_t>& perm, Tensor* y,
                    const std::string& where) {
  const std::vector<int64_t> in_strides = detail::contiguous_strides(view_shape);
  Shape shape(perm.size());
  std::vector<int64_t> strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    shape[d] = view_shape[perm[d]];
    strides[d] = in_strides[perm[d]];
  }
  return detail::visit_by_size(x.dtype(), where + "input", [&](auto tag) -> Status {
    using T = decltype(tag);
    strided_copy(x.data<T>(), shape, strides, y->mutable_data<T>());
    return Status::Ok();
  });
}

class TransposeKernel : public detail::NodeKernel {
 public:
  TransposeKernel(const KernelInit& init, std::vector<int64_t> perm) : NodeKernel(init), perm_(std::move(perm)) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const size_t rank = x->rank();
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
    }
    if (perm.size() != rank)
      return invalid_argument(where() + "perm has " + std::to_string(perm.size()) + " entries for rank " +
                              std::to_string(rank));
    std::vector<bool> seen(rank, false);
    for (int64_t p : perm) {
      if (p < 0 || p >= static_cast<int64_t>(rank) || seen[p])
        return invalid_model(where() + "perm " + shape_to_string(perm) + " is not a permutation");
      seen[p] = true;
    }
    Shape out(rank);
    for (size_t d = 0; d < rank; ++d) out[d] = x->dim(perm[d]);
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    return permute_into(*x, x->shape(), perm, y, where());
  }

 private:
  std::vector<int64_t> perm_;
};

Result<std::unique_ptr<OpKernel>> make_transpose(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr perm, detail::read_ints_attr(init, "perm"));
  return std::unique_ptr<OpKernel>(new TransposeKernel(init, perm.values));
}

class DepthSpaceKernel : public detail::NodeKernel {
 public:
  DepthSpaceKernel(const KernelInit& init, bool to_space, int64_t block, bool crd)
      : NodeKernel(init), to_space_(to_space), block_(block), crd_(crd) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() != 4) return invalid_argument(where() + "input must be 4-D, got " + shape_to_string(x->shape()));
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3), b = block_;
    Shape view, out;
    std::vector<int64_t> perm;
    if (to_space_) {
      if (C % (b * b) != 0)
        return invalid_argument(where() + "channels " + std::to_string(C) + " not divisible by blocksize^2");
      const int64_t c = C / (b * b);
      if (crd_) {
        view = {N, c, b, b, H, W};
        perm = {0, 1, 4, 2, 5, 3};
      } else {
        view = {N, b, b, c, H, W};
        perm = {0, 3, 4, 1, 5, 2};
      }
      out = {N, c, H * b, W * b};
    } else {
      if (H % b != 0 || W % b != 0)
        return invalid_argument(where() + "spatial dims of " + shape_to_string(x->shape()) +
                                " not divisible by blocksize");
      view = {N, C, H / b, b, W / b, b};
      perm = {0, 3, 5, 1, 2, 4};
      out = {N, C * b * b, H / b, W / b};
    }
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    return permute_into(*x, view, perm, y, where());
  }

 private:
  bool to_space_;
  int64_t block_;
  bool crd_;
};

template <bool kToSpace>
Result<std::unique_ptr<OpKernel>> make_depth_space(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t b, detail::int_attr(init, "blocksize", 0));
  if (b <= 0) return invalid_model(init.context() + "blocksize must be positive");
  std::string mode = "DCR";
  if (kToSpace) WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "mode", "DCR", {"DCR", "CRD"}, &mode));
  return std::unique_ptr<OpKernel>(new DepthSpaceKernel(init, kToSpace, b, mode == "CRD"));
}

// ---- Concat / Split ---------------------------------------------------------------------

class ConcatKernel : public detail::NodeKernel {
 public:
  ConcatKernel(const KernelInit& init, int64_t axis) : NodeKernel(init), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    std::vector<const Tensor*> ins;
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (ctx.input(i)) ins.push_back(ctx.input(i));
    if (ins.empty()) return invalid_argument(where() + "needs at least one input");
    const Tensor& first = *ins[0];
    const int64_t rank = static_cast<int64_t>(first.rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    Shape out = first.shape();
    out[axis] = 0;
    for (const Tensor* t : ins) {
      if (t->dtype() != first.dtype()) return invalid_argument(where() + "inputs must have the same type");
      bool ok = t->rank() == first.rank();
      for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || t->dim(d) == first.dim(d);
      if (!ok)
        return invalid_argument(where() + "input shapes " + shape_to_string(first.shape()) + " and " +
                                shape_to_string(t->shape()) + " differ outside axis " + std::to_string(axis));
      out[axis] += t->dim(axis);
    }
    if (dtype_bits(first.dtype()) % 8 != 0 || dtype_bits(first.dtype()) == 0)
      return unsupported(where() + "element type " + dtype_name(first.dtype()) + " is not supported");
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, first.dtype(), out));
    const size_t elem = static_cast<size_t>(dtype_bits(first.dtype()) / 8);
    const int64_t outer = detail::dims_product(out, 0, axis), inner = detail::dims_product(out, axis + 1, rank);
    auto* dst = static_cast<uint8_t*>(y->mutable_raw());
    for (int64_t o = 0; o < outer; ++o) {
      for (const Tensor* t : ins) {
        const size_t bytes = static_cast<size_t>(t->dim(axis) * inner) * elem;
        if (bytes == 0) continue;
        std::memcpy(dst, static_cast<const uint8_t*>(t->raw()) + o * bytes, bytes);
        dst += bytes;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t axis_;
};

Result<std::unique_ptr<OpKernel>> make_concat(const KernelInit& init) {
  if (!init.has_attr("axis")) return invalid_model(init.context() + "attribute axis is required");
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  return std::unique_ptr<OpKernel>(new ConcatKernel(init, axis));
}

// Split: sizes from the `split` attribute (< 13), the `split` input (>= 13),
// or equal parts over the outputs (num_outputs at 18 allows a smaller last part).
class SplitKernel : public detail::NodeKernel {
 public:
  SplitKernel(const KernelInit& init, int64_t axis, bool split_input, std::vector<int64_t> split_attr,
              bool uneven_ok)
      : NodeKernel(init), axis_(axis), split_input_(split_input), split_attr_(std::move(split_attr)),
        uneven_ok_(uneven_ok) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    const int64_t dim = x->dim(axis), n = static_cast<int64_t>(ctx.num_outputs());
    std::vector<int64_t> sizes = split_attr_;
    if (split_input_ && ctx.num_inputs() > 1 && ctx.input(1)) {
      WQ_ASSIGN_OR_RETURN(sizes, detail::tensor_to_int64s(*ctx.input(1), where() + "split"));
    }
    if (sizes.empty()) {
      if (n <= 0) return invalid_model(where() + "no outputs");
      const int64_t part = (dim + n - 1) / n;
      if (dim % n != 0 && !uneven_ok_)
        return invalid_argument(where() + "dim " + std::to_string(dim) + " cannot be split into " +
                                std::to_string(n) + " equal parts");
      for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(part, dim - i * part)));
    }
    if (static_cast<int64_t>(sizes.size()) != n)
      return invalid_argument(where() + "split has " + std::to_string(sizes.size()) + " sizes for " +
                              std::to_string(n) + " outputs");
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0) return invalid_argument(where() + "negative split size");
      total += s;
    }
    if (total != dim)
      return invalid_argument(where() + "split sizes sum to " + std::to_string(total) + ", dim is " +
                              std::to_string(dim));
    if (dtype_bits(x->dtype()) % 8 != 0 || dtype_bits(x->dtype()) == 0)
      return unsupported(where() + "element type " + dtype_name(x->dtype()) + " is not supported");
    const size_t elem = static_cast<size_t>(dtype_bits(x->dtype()) / 8);
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t inner = detail::dims_product(x->shape(), axis + 1, rank);
    const auto* src = static_cast<const uint8_t*>(x->raw());
    int64_t start = 0;
    for (int64_t k = 0; k < n; ++k) {
      Shape s = x->shape();
      s[axis] = sizes[k];
      if (ctx.has_output(k)) {
        WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(k, x->dtype(), s));
        auto* dst = static_cast<uint8_t*>(y->mutable_raw());
        const size_t bytes = static_cast<size_t>(sizes[k] * inner) * elem;
        for (int64_t o = 0; o < outer && bytes > 0; ++o)
          std::memcpy(dst + o * bytes, src + static_cast<size_t>((o * dim + start) * inner) * elem, bytes);
      }
      start += sizes[k];
    }
    return Status::Ok();
  }

 private:
  int64_t axis_;
  bool split_input_;
  std::vector<int64_t> split_attr_;
  bool uneven_ok_;
};

Result<std::unique_ptr<OpKernel>> make_split(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  std::vector<int64_t> split;
  const bool split_input = init.opset() >= 13;
  if (split_input) {
    WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"split"}));
  } else {
    WQ_ASSIGN_OR_RETURN(detail::IntsAttr a, detail::read_ints_attr(init, "split"));
    split = a.values;
  }
  if (init.opset() >= 18 && init.has_attr("num_outputs")) {
    WQ_ASSIGN_OR_RETURN(int64_t n, detail::int_attr(init, "num_outputs", 0));
    if (n != static_cast<int64_t>(init.num_outputs()))
      return invalid_model(init.context() + "num_outputs=" + std::to_string(n) + " but the node has " +
                           std::to_string(init.num_outputs()) + " outputs");
  }
  return std::unique_ptr<OpKernel>(new SplitKernel(init, axis, split_input, split, init.opset() >= 18));
}

// ---- Slice -------------------------------------------------------------------------------

class SliceKernel : public detail::NodeKernel {
 public:
  // Slice-1..9 take starts/ends/axes as attributes; later versions as inputs.
  SliceKernel(const KernelInit& init, bool from_inputs, std::vector<int64_t> starts, std::vector<int64_t> ends,
              std::vector<int64_t> axes)
      : NodeKernel(init), from_inputs_(from_inputs), starts_(std::move(starts)), ends_(std::move(ends)),
        axes_(std::move(axes)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
    if (from_inputs_) {
      auto read = [&](size_t i, const char* name, std::vector<int64_t>* out) -> Status {
        const Tensor* t = i < ctx.num_inputs() ? ctx.input(i) : nullptr;
        if (!t) return Status::Ok();
        WQ_ASSIGN_OR_RETURN(*out, detail::tensor_to_int64s(*t, where() + name));
        return Status::Ok();
      };
      WQ_ASSIGN_OR_RETURN(const Tensor* st, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* en, detail::required_input(ctx, 2, where()));
      WQ_ASSIGN_OR_RETURN(starts, detail::tensor_to_int64s(*st, where() + "starts"));
      WQ_ASSIGN_OR_RETURN(ends, detail::tensor_to_int64s(*en, where() + "ends"));
      WQ_RETURN_IF_ERROR(read(3, "axes", &axes));
      WQ_RETURN_IF_ERROR(read(4, "steps", &steps));
    }
    const int64_t rank = static_cast<int64_t>(x->rank());
    if (starts.size() != ends.size())
      return invalid_argument(where() + "starts and ends have different lengths");
    if (axes.empty()) {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size())
      return invalid_argument(where() + "starts, ends, axes and steps must have the same length");
    WQ_ASSIGN_OR_RETURN(axes, detail::normalize_axes(axes, rank, where() + "axes"));

    Shape out = x->shape();
    std::vector<int64_t> begin(rank, 0), step(rank, 1);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = axes[i], dim = x->dim(a), s = steps[i];
      if (s == 0) return invalid_argument(where() + "steps must not be 0");
      int64_t lo = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t hi = ends[i] < 0 ? ends[i] + dim : ends[i];
      int64_t count;
      if (s > 0) {
        lo = std::clamp<int64_t>(lo, 0, dim);
        hi = std::clamp<int64_t>(hi, 0, dim);
        count = hi > lo ? 1 + (hi - lo - 1) / s : 0;
      } else {
        lo = std::clamp<int64_t>(lo, 0, dim - 1);
        hi = std::clamp<int64_t>(hi, -1, dim - 1);
        // -s overflows for the lowest int64; any step that large selects one element anyway.
        const int64_t back = s == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -s;
        count = lo > hi ? 1 + (lo - hi - 1) / back : 0;
      }
      begin[a] = lo;
      step[a] = s;
      out[a] = count;
    }
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    if (y->numel() == 0) return Status::Ok();
    const std::vector<int64_t> in_strides = detail::contiguous_strides(x->shape());
    int64_t base = 0;
    std::vector<int64_t> strides(rank);
    for (int64_t d = 0; d < rank; ++d) {
      base += begin[d] * in_strides[d];
      // A dim with one output element never moves, so a huge step cannot overflow.
      strides[d] = out[d] > 1 ? step[d] * in_strides[d] : 0;
    }
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      strided_copy(x->data<T>() + base, out, strides, y->mutable_data<T>());
      return Status::Ok();
    });
  }

 private:
  bool from_inputs_;
  std::vector<int64_t> starts_, ends_, axes_;
};

Result<std::unique_ptr<OpKernel>> make_slice(const KernelInit& init) {
  if (init.opset() >= 10) {
    WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"starts", "ends", "axes"}));
    return std::unique_ptr<OpKernel>(new SliceKernel(init, true, {}, {}, {}));
  }
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr starts, detail::read_ints_attr(init, "starts"));
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr ends, detail::read_ints_attr(init, "ends"));
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr axes, detail::read_ints_attr(init, "axes"));
  if (!starts.present || !ends.present) return invalid_model(init.context() + "starts and ends are required");
  return std::unique_ptr<OpKernel>(new SliceKernel(init, false, starts.values, ends.values, axes.values));
}

// ---- Expand / Tile --------------------------------------------------------------------------

class ExpandKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* s, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> dims, detail::tensor_to_int64s(*s, where() + "shape"));
    WQ_ASSIGN_OR_RETURN(Shape out, detail::broadcast_shapes(x->shape(), dims, where()));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      strided_copy(x->data<T>(), out, detail::broadcast_strides(x->shape(), out), y->mutable_data<T>());
      return Status::Ok();
    });
  }
};

class TileKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* r, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> reps, detail::tensor_to_int64s(*r, where() + "repeats"));
    if (reps.size() != x->rank())
      return invalid_argument(where() + "repeats has " + std::to_string(reps.size()) + " values for rank " +
                              std::to_string(x->rank()));
    Shape out(x->rank());
    for (size_t d = 0; d < x->rank(); ++d) {
      if (reps[d] < 0) return invalid_argument(where() + "repeats must be non-negative");
      if (x->dim(d) > 0 && reps[d] > static_cast<int64_t>(kMaxTensorBytes) / x->dim(d))
        return out_of_memory(where() + "tiled dim is too large");
      out[d] = x->dim(d) * reps[d];
    }
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, x->dtype(), where()));
    std::vector<std::vector<int64_t>> maps(x->rank());
    for (size_t d = 0; d < x->rank(); ++d)
      for (int64_t o = 0; o < out[d]; ++o) maps[d].push_back(o % x->dim(d));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    if (y->numel() == 0) return Status::Ok();
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      detail::gather_by_maps(x->data<T>(), x->shape(), maps, T{}, y->mutable_data<T>());
      return Status::Ok();
    });
  }
};

// ---- Pad -------------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

class PadKernel : public detail::NodeKernel {
 public:
  // Pad-2: pads and value are attributes. Pad-11+: inputs pads, constant_value, axes (18).
  PadKernel(const KernelInit& init, PadMode mode, bool from_inputs, std::vector<int64_t> pads, float value)
      : NodeKernel(init), mode_(mode), from_inputs_(from_inputs), attr_pads_(std::move(pads)), attr_value_(value) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    std::vector<int64_t> pads = attr_pads_, axes;
    const Tensor* value = nullptr;
    if (from_inputs_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* p, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(pads, detail::tensor_to_int64s(*p, where() + "pads"));
      value = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
      if (value && value->numel() != 1 && value->numel() != 0)
        return invalid_argument(where() + "constant_value must be a scalar");
      if (value && value->numel() == 0) value = nullptr;
      if (value && value->dtype() != x->dtype())
        return invalid_argument(where() + "constant_value must have the input's type");
      if (ctx.num_inputs() > 3 && ctx.input(3)) {
        WQ_ASSIGN_OR_RETURN(std::vector<int64_t> a, detail::tensor_to_int64s(*ctx.input(3), where() + "axes"));
        WQ_ASSIGN_OR_RETURN(axes, detail::normalize_axes(a, rank, where() + "axes"));
      }
    }
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    }
    const int64_t na = static_cast<int64_t>(axes.size());
    if (static_cast<int64_t>(pads.size()) != 2 * na)
      return invalid_argument(where() + "pads has " + std::to_string(pads.size()) + " values, expected " +
                              std::to_string(2 * na));
    std::vector<int64_t> pb(rank, 0), pe(rank, 0);
    for (int64_t i = 0; i < na; ++i) {
      pb[axes[i]] = pads[i];
      pe[axes[i]] = pads[i + na];
    }
    Shape out(rank);
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t n = x->dim(d);
      const int64_t limit = static_cast<int64_t>(kMaxTensorBytes);
      if (std::abs(pb[d]) > limit || std::abs(pe[d]) > limit) return out_of_memory(where() + "pads are too large");
      out[d] = n + pb[d] + pe[d];
      if (out[d] < 0) return invalid_argument(where() + "negative output dim after padding");
      if (out[d] > 0 && n == 0 && mode_ != PadMode::kConstant)
        return invalid_argument(where() + "cannot pad an empty dim in this mode");
    }
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, x->dtype(), where()));
    std::vector<std::vector<int64_t>> maps(rank);
    for (int64_t d = 0; d < rank; ++d)
      for (int64_t o = 0; o < out[d]; ++o) maps[d].push_back(source_index(o - pb[d], x->dim(d)));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    if (y->numel() == 0) return Status::Ok();
    return detail::visit_dtype<detail::AllTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      T fill = detail::convert<T>(attr_value_);
      if (value) fill = value->data<T>()[0];
      detail::gather_by_maps(x->data<T>(), x->shape(), maps, fill, y->mutable_data<T>());
      return Status::Ok();
    });
  }

 private:
  // Input index for output position i (relative to the unpadded start), or -1 for the constant.
  int64_t source_index(int64_t i, int64_t n) const {
    if (i >= 0 && i < n) return i;
    switch (mode_) {
      case PadMode::kConstant: return -1;
      case PadMode::kEdge: return i < 0 ? 0 : n - 1;
      case PadMode::kWrap: return ((i % n) + n) % n;
      case PadMode::kReflect: {
        if (n == 1) return 0;
        const int64_t period = 2 * (n - 1);
        int64_t m = ((i % period) + period) % period;
        return m < n ? m : period - m;
      }
    }
    return -1;
  }

  PadMode mode_;
  bool from_inputs_;
  std::vector<int64_t> attr_pads_;
  float attr_value_;
};

Result<std::unique_ptr<OpKernel>> make_pad(const KernelInit& init) {
  std::string mode;
  std::vector<std::string> modes = {"constant", "reflect", "edge"};
  if (init.opset() >= 19) modes.push_back("wrap");
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "mode", "constant", modes, &mode));
  const PadMode m = mode == "constant" ? PadMode::kConstant
                    : mode == "reflect" ? PadMode::kReflect
                    : mode == "edge"    ? PadMode::kEdge
                                        : PadMode::kWrap;
  if (init.opset() >= 11) {
    WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"pads", "value"}));
    return std::unique_ptr<OpKernel>(new PadKernel(init, m, true, {}, 0.0f));
  }
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr pads, detail::read_ints_attr(init, "pads"));
  if (!pads.present) return invalid_model(init.context() + "attribute pads is required");
  auto value = init.attr_float("value", 0.0f);
  if (!value.ok()) return detail::in_node(value.status(), init);
  return std::unique_ptr<OpKernel>(new PadKernel(init, m, false, pads.values, value.value()));
}

// ---- Gather family -------------------------------------------------------------------------

// Reads index values and maps negatives into [0, dim).
Result<std::vector<int64_t>> read_indices(const Tensor& t, int64_t dim, const std::string& where) {
  WQ_ASSIGN_OR_RETURN(std::vector<int64_t> idx, detail::tensor_to_int64s(t, where + "indices"));
  for (int64_t& i : idx) {
    if (i < -dim || i >= dim)
      return invalid_argument(where + "index " + std::to_string(i) + " is out of range for dim " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  return idx;
}

class GatherKernel : public detail::NodeKernel {
 public:
  GatherKernel(const KernelInit& init, int64_t axis) : NodeKernel(init), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 1, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    const int64_t dim = x->dim(axis);
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(*ind, dim, where()));
    Shape out(x->shape().begin(), x->shape().begin() + axis);
    out.insert(out.end(), ind->shape().begin(), ind->shape().end());
    out.insert(out.end(), x->shape().begin() + axis + 1, x->shape().end());
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t inner = detail::dims_product(x->shape(), axis + 1, rank);
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (size_t j = 0; j < idx.size(); ++j) {
          const T* src = px + (o * dim + idx[j]) * inner;
          std::copy(src, src + inner, py);
          py += inner;
        }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

template <typename K>
Result<std::unique_ptr<OpKernel>> make_axis_op(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  return std::unique_ptr<OpKernel>(new K(init, axis));
}

// Checks GatherElements/ScatterElements shapes: same rank, indices dims within data dims.
Status check_elements_shapes(const Tensor& data, const Tensor& ind, const std::string& where) {
  if (ind.rank() != data.rank())
    return invalid_argument(where + "indices rank " + std::to_string(ind.rank()) + " differs from data rank " +
                            std::to_string(data.rank()));
  return Status::Ok();
}

class GatherElementsKernel : public detail::NodeKernel {
 public:
  GatherElementsKernel(const KernelInit& init, int64_t axis) : NodeKernel(init), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 1, where()));
    WQ_RETURN_IF_ERROR(check_elements_shapes(*x, *ind, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && ind->dim(d) > x->dim(d))
        return invalid_argument(where() + "indices shape " + shape_to_string(ind->shape()) + " exceeds data shape " +
                                shape_to_string(x->shape()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(*ind, x->dim(axis), where()));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), ind->shape()));
    std::vector<int64_t> strides = detail::contiguous_strides(x->shape());
    const int64_t axis_stride = strides[axis];
    strides[axis] = 0;
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      const std::vector<int64_t> s[1] = {strides};
      detail::for_each_broadcast(ind->shape(), s, [&](int64_t i, const int64_t* off) {
        py[i] = px[off[0] + idx[i] * axis_stride];
      });
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

// ScatterElements: a copy of data with updates written at indices along axis,
// optionally combined with a reduction (add/mul from 16, max/min from 18).
enum class ScatterReduce { kNone, kAdd, kMul, kMax, kMin };

Result<ScatterReduce> parse_reduction(const KernelInit& init) {
  std::string r;
  std::vector<std::string> ok = {"none"};
  if (init.opset() >= 16) ok.insert(ok.end(), {"add", "mul"});
  if (init.opset() >= 18) ok.insert(ok.end(), {"max", "min"});
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "reduction", "none", ok, &r));
  if (r == "add") return ScatterReduce::kAdd;
  if (r == "mul") return ScatterReduce::kMul;
  if (r == "max") return ScatterReduce::kMax;
  if (r == "min") return ScatterReduce::kMin;
  return ScatterReduce::kNone;
}

template <typename T>
T scatter_combine(ScatterReduce r, T old, T upd) {
  using C = Compute<T>;
  const C a = detail::load(old), b = detail::load(upd);
  switch (r) {
    case ScatterReduce::kNone: return upd;
    case ScatterReduce::kAdd: return detail::store<T>(detail::wrap_add(a, b));
    case ScatterReduce::kMul: return detail::store<T>(detail::wrap_mul(a, b));
    case ScatterReduce::kMax: return a < b ? upd : old;
    case ScatterReduce::kMin: return b < a ? upd : old;
  }
  return upd;
}

class ScatterElementsKernel : public detail::NodeKernel {
 public:
  ScatterElementsKernel(const KernelInit& init, int64_t axis, ScatterReduce r)
      : NodeKernel(init), axis_(axis), reduce_(r) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* upd, detail::required_input(ctx, 2, where()));
    WQ_RETURN_IF_ERROR(check_elements_shapes(*x, *ind, where()));
    if (upd->shape() != ind->shape() || upd->dtype() != x->dtype())
      return invalid_argument(where() + "updates must match indices' shape and data's type");
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && ind->dim(d) > x->dim(d))
        return invalid_argument(where() + "indices shape exceeds data shape");
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(*ind, x->dim(axis), where()));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
    if (x->nbytes()) std::memcpy(y->mutable_raw(), x->raw(), x->nbytes());
    std::vector<int64_t> strides = detail::contiguous_strides(x->shape());
    const int64_t axis_stride = strides[axis];
    strides[axis] = 0;
    return detail::visit_dtype<detail::AllTypes>(x->dtype(), where() + "data", [&](auto tag) -> Status {
      using T = decltype(tag);
      T* py = y->mutable_data<T>();
      const T* pu = upd->data<T>();
      const std::vector<int64_t> s[1] = {strides};
      detail::for_each_broadcast(ind->shape(), s, [&](int64_t i, const int64_t* off) {
        T& dst = py[off[0] + idx[i] * axis_stride];
        if constexpr (std::is_same<T, bool>::value) {
          dst = pu[i];
        } else {
          dst = scatter_combine(reduce_, dst, pu[i]);
        }
      });
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
  ScatterReduce reduce_;
};

Result<std::unique_ptr<OpKernel>> make_scatter_elements(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  WQ_ASSIGN_OR_RETURN(ScatterReduce r, parse_reduction(init));
  return std::unique_ptr<OpKernel>(new ScatterElementsKernel(init, axis, r));
}

// Offsets of the slices selected by GatherND/ScatterND index tuples.
struct NdPlan {
  std::vector<int64_t> offsets;  // one per index tuple, in elements of data
  int64_t slice = 1;             // elements per slice
  Shape tuple_shape;             // indices.shape[:-1]
};

Result<NdPlan> plan_nd(const Tensor& data, const Tensor& ind, int64_t batch_dims, const std::string& where) {
  const int64_t r = static_cast<int64_t>(data.rank()), q = static_cast<int64_t>(ind.rank());
  if (q < 1) return invalid_argument(where + "indices must have rank >= 1");
  const int64_t m = ind.dim(q - 1);
  if (batch_dims < 0 || batch_dims >= std::min(r, q) || m > r - batch_dims || m < 1)
    return invalid_argument(where + "indices shape " + shape_to_string(ind.shape()) + " does not fit data shape " +
                            shape_to_string(data.shape()) + " with batch_dims " + std::to_string(batch_dims));
  for (int64_t d = 0; d < batch_dims; ++d)
    if (ind.dim(d) != data.dim(d)) return invalid_argument(where + "batch dims of data and indices differ");
  WQ_ASSIGN_OR_RETURN(std::vector<int64_t> raw, detail::tensor_to_int64s(ind, where + "indices"));
  const std::vector<int64_t> strides = detail::contiguous_strides(data.shape());
  NdPlan p;
  p.tuple_shape.assign(ind.shape().begin(), ind.shape().end() - 1);
  p.slice = detail::dims_product(data.shape(), batch_dims + m, r);
  const int64_t tuples = shape_numel(p.tuple_shape);
  const int64_t per_batch = batch_dims > 0 ? tuples / detail::dims_product(ind.shape(), 0, batch_dims) : tuples;
  const int64_t batch_stride = batch_dims > 0 ? strides[batch_dims - 1] : 0;
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = (per_batch > 0 ? t / per_batch : 0) * batch_stride;
    for (int64_t k = 0; k < m; ++k) {
      int64_t i = raw[t * m + k];
      const int64_t dim = data.dim(batch_dims + k);
      if (i < -dim || i >= dim)
        return invalid_argument(where + "index " + std::to_string(i) + " out of range for dim " + std::to_string(dim));
      if (i < 0) i += dim;
      off += i * strides[batch_dims + k];
    }
    p.offsets.push_back(off);
  }
  return p;
}

class GatherNDKernel : public detail::NodeKernel {
 public:
  GatherNDKernel(const KernelInit& init, int64_t batch_dims) : NodeKernel(init), batch_dims_(batch_dims) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(NdPlan p, plan_nd(*x, *ind, batch_dims_, where()));
    Shape out = p.tuple_shape;
    const int64_t m = ind->dim(ind->rank() - 1);
    out.insert(out.end(), x->shape().begin() + batch_dims_ + m, x->shape().end());
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    return detail::visit_by_size(x->dtype(), where() + "data", [&](auto tag) -> Status {
      using T = decltype(tag);
      T* py = y->mutable_data<T>();
      for (size_t t = 0; t < p.offsets.size(); ++t)
        std::copy(x->data<T>() + p.offsets[t], x->data<T>() + p.offsets[t] + p.slice, py + t * p.slice);
      return Status::Ok();
    });
  }

 private:
  int64_t batch_dims_;
};

class ScatterNDKernel : public detail::NodeKernel {
 public:
  ScatterNDKernel(const KernelInit& init, ScatterReduce r) : NodeKernel(init), reduce_(r) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* upd, detail::required_input(ctx, 2, where()));
    WQ_ASSIGN_OR_RETURN(NdPlan p, plan_nd(*x, *ind, 0, where()));
    if (upd->dtype() != x->dtype() || upd->numel() != static_cast<int64_t>(p.offsets.size()) * p.slice)
      return invalid_argument(where() + "updates shape " + shape_to_string(upd->shape()) + " does not match");
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
    if (x->nbytes()) std::memcpy(y->mutable_raw(), x->raw(), x->nbytes());
    return detail::visit_dtype<detail::AllTypes>(x->dtype(), where() + "data", [&](auto tag) -> Status {
      using T = decltype(tag);
      T* py = y->mutable_data<T>();
      const T* pu = upd->data<T>();
      for (size_t t = 0; t < p.offsets.size(); ++t)
        for (int64_t j = 0; j < p.slice; ++j) {
          T& dst = py[p.offsets[t] + j];
          if constexpr (std::is_same<T, bool>::value) {
            dst = pu[t * p.slice + j];
          } else {
            dst = scatter_combine(reduce_, dst, pu[t * p.slice + j]);
          }
        }
      return Status::Ok();
    });
  }

 private:
  ScatterReduce reduce_;
};

Result<std::unique_ptr<OpKernel>> make_gather_nd(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t b, detail::int_attr(init, "batch_dims", 0));
  return std::unique_ptr<OpKernel>(new GatherNDKernel(init, b));
}

Result<std::unique_ptr<OpKernel>> make_scatter_nd(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(ScatterReduce r, parse_reduction(init));
  return std::unique_ptr<OpKernel>(new ScatterNDKernel(init, r));
}

// ---- Trilu ----------------------------------------------------------------------------------

class TriluKernel : public detail::NodeKernel {
 public:
  TriluKernel(const KernelInit& init, bool upper) : NodeKernel(init), upper_(upper) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 2) return invalid_argument(where() + "input must have rank >= 2");
    int64_t k = 0;
    if (ctx.num_inputs() > 1 && ctx.input(1)) {
      WQ_ASSIGN_OR_RETURN(std::vector<int64_t> kv, detail::tensor_to_int64s(*ctx.input(1), where() + "k"));
      if (kv.size() != 1) return invalid_argument(where() + "k must be a scalar");
      k = kv[0];
    }
    const int64_t rows = x->dim(x->rank() - 2), cols = x->dim(x->rank() - 1);
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
    return detail::visit_dtype<detail::AllTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T zero = detail::convert<T>(0);
      for (int64_t i = 0; i < x->numel(); ++i) {
        const int64_t c = i % cols, r = (i / cols) % rows;
        const bool keep = upper_ ? c - r >= k : c - r <= k;
        y->mutable_data<T>()[i] = keep ? x->data<T>()[i] : zero;
      }
      return Status::Ok();
    });
  }

 private:
  bool upper_;
};

Result<std::unique_ptr<OpKernel>> make_trilu(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t upper, detail::int_attr(init, "upper", 1));
  return std::unique_ptr<OpKernel>(new TriluKernel(init, upper != 0));
}

// ---- NonZero / Compress / OneHot ---------------------------------------------------------

class NonZeroKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    // A scalar is treated as shape [1], as onnxruntime does.
    const Shape shape = x->rank() == 0 ? Shape{1} : x->shape();
    std::vector<int64_t> hits;
    WQ_RETURN_IF_ERROR(detail::visit_dtype<detail::AllTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      for (int64_t i = 0; i < x->numel(); ++i)
        if (detail::convert<bool>(x->data<T>()[i])) hits.push_back(i);
      return Status::Ok();
    }));
    const int64_t rank = static_cast<int64_t>(shape.size()), n = static_cast<int64_t>(hits.size());
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kInt64, {rank, n}));
    const std::vector<int64_t> strides = detail::contiguous_strides(shape);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < rank; ++d) y->mutable_data<int64_t>()[d * n + j] = (hits[j] / strides[d]) % shape[d];
    return Status::Ok();
  }
};

// Compress: keeps the slices along `axis` (or elements of the flattened
// input) whose condition is true; a short condition counts as false beyond its end.
class CompressKernel : public detail::NodeKernel {
 public:
  CompressKernel(const KernelInit& init, bool has_axis, int64_t axis)
      : NodeKernel(init), has_axis_(has_axis), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* c, detail::required_input(ctx, 1, where()));
    if (c->dtype() != DType::kBool || c->rank() != 1)
      return invalid_argument(where() + "condition must be a 1-D bool tensor");
    Shape view = has_axis_ ? x->shape() : Shape{x->numel()};
    int64_t axis = 0;
    if (has_axis_) {
      WQ_ASSIGN_OR_RETURN(axis, detail::normalize_axis(axis_, static_cast<int64_t>(x->rank()), where() + "axis"));
    }
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < std::min(c->numel(), view[axis]); ++i)
      if (c->data<bool>()[i]) keep.push_back(i);
    Shape out = view;
    out[axis] = static_cast<int64_t>(keep.size());
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
    const int64_t outer = detail::dims_product(view, 0, axis), inner = detail::dims_product(view, axis + 1, view.size());
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      T* py = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k : keep) {
          const T* src = x->data<T>() + (o * view[axis] + k) * inner;
          py = std::copy(src, src + inner, py);
        }
      return Status::Ok();
    });
  }

 private:
  bool has_axis_;
  int64_t axis_;
};

Result<std::unique_ptr<OpKernel>> make_compress(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  return std::unique_ptr<OpKernel>(new CompressKernel(init, init.has_attr("axis"), axis));
}

// OneHot: output[..., i, ...] = values[1] where i == indices[...] (negative
// indices count from depth), values[0] elsewhere; `axis` places the new dim.
class OneHotKernel : public detail::NodeKernel {
 public:
  OneHotKernel(const KernelInit& init, int64_t axis) : NodeKernel(init), axis_(axis) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* ind, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* dt, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* values, detail::required_input(ctx, 2, where()));
    WQ_ASSIGN_OR_RETURN(double depth_v, detail::scalar_as_double(*dt, where() + "depth"));
    if (!(depth_v >= 1 && depth_v <= static_cast<double>(kMaxTensorBytes)))
      return invalid_argument(where() + "depth must be positive");
    const int64_t depth = static_cast<int64_t>(depth_v);
    if (values->numel() != 2) return invalid_argument(where() + "values must have two elements");
    WQ_ASSIGN_OR_RETURN(std::vector<double> idx, detail::tensor_to_doubles(*ind, where() + "indices"));
    const int64_t out_rank = static_cast<int64_t>(ind->rank()) + 1;
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, out_rank, where() + "axis"));
    Shape out = ind->shape();
    out.insert(out.begin() + axis, depth);
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, values->dtype(), where()));
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, values->dtype(), out));
    const int64_t outer = detail::dims_product(ind->shape(), 0, axis);
    const int64_t inner = detail::dims_product(ind->shape(), axis, ind->rank());
    return detail::visit_by_size(values->dtype(), where() + "values", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T off = values->data<T>()[0], on = values->data<T>()[1];
      T* py = y->mutable_data<T>();
      std::fill(py, py + y->numel(), off);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          double v = std::trunc(idx[o * inner + i]);
          if (v < 0) v += static_cast<double>(depth);
          if (v >= 0 && v < static_cast<double>(depth)) py[(o * depth + static_cast<int64_t>(v)) * inner + i] = on;
        }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

Result<std::unique_ptr<OpKernel>> make_onehot(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", -1));
  return std::unique_ptr<OpKernel>(new OneHotKernel(init, axis));
}

}  // namespace

void register_tensor_ops(OpRegistry& r) {
  constexpr int kMax = kMaxSupportedOpset;
  r.add("", "Transpose", 1, kMax, make_transpose);
  r.add("", "DepthToSpace", 1, kMax, make_depth_space<true>);
  r.add("", "SpaceToDepth", 1, kMax, make_depth_space<false>);
  r.add("", "Concat", 4, kMax, make_concat);
  r.add("", "Split", 2, kMax, make_split);
  r.add("", "Slice", 1, kMax, make_slice);
  r.add("", "Expand", 8, kMax, detail::simple_factory<ExpandKernel>());
  r.add("", "Tile", 6, kMax, detail::simple_factory<TileKernel>());
  r.add("", "Pad", 2, kMax, make_pad);
  r.add("", "Gather", 1, kMax, make_axis_op<GatherKernel>);
  r.add("", "GatherElements", 11, kMax, make_axis_op<GatherElementsKernel>);
  r.add("", "GatherND", 11, kMax, make_gather_nd);
  r.add("", "Scatter", 9, 10, make_scatter_elements);  // deprecated alias
  r.add("", "ScatterElements", 11, kMax, make_scatter_elements);
  r.add("", "ScatterND", 11, kMax, make_scatter_nd);
  r.add("", "Trilu", 14, kMax, make_trilu);
  r.add("", "NonZero", 9, kMax, detail::simple_factory<NonZeroKernel>());
  r.add("", "Compress", 9, kMax, make_compress);
  r.add("", "OneHot", 9, kMax, make_onehot);
}

}  // namespace wq
