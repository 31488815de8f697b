// Conv and ConvTranspose for any number of spatial dims (1-D/2-D/3-D...).
//
// Conv lowers each (image, group) to one GEMM over an im2col buffer:
//   Y_g[Mg, out] = W_g[Mg, Cg*K] x col[Cg*K, out]
// ConvTranspose runs the adjoint: col = W_g^T x X_g, then col2im scatters
// (adds) col into the output. K is the product of the kernel dims.
#include <algorithm>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;
using detail::FloatTypes;
using detail::WindowGeometry;

// Walks every (kernel offset, output position) pair of one channel and calls
// f(col_index, input_offset_or_-1). The last spatial dim is the inner loop.
// Used in both directions: gather for im2col, scatter for col2im.
template <typename F>
void for_each_window_tap(const WindowGeometry& g, F&& f) {
  const size_t nd = g.in.size();
  const int64_t kprod = shape_numel(g.kernel), out_size = shape_numel(g.out);
  const std::vector<int64_t> in_strides = detail::contiguous_strides(g.in);
  std::vector<int64_t> k(nd, 0), o(nd, 0);
  const size_t last = nd - 1;
  for (int64_t kk = 0; kk < kprod; ++kk) {
    // kernel offset multi-index for kk
    for (int64_t r = kk, d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      k[d] = r % g.kernel[d];
      r /= g.kernel[d];
    }
    std::fill(o.begin(), o.end(), 0);
    int64_t col = kk * out_size;
    for (int64_t outer = 0; outer < out_size; outer += g.out[last]) {
      // Input offset and validity of the outer dims.
      bool valid = true;
      int64_t base = 0;
      for (size_t d = 0; d < last; ++d) {
        const int64_t pos = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
        if (pos < 0 || pos >= g.in[d]) valid = false;
        base += pos * in_strides[d];
      }
      const int64_t shift = k[last] * g.dilation[last] - g.pad_begin[last];
      for (int64_t ow = 0; ow < g.out[last]; ++ow, ++col) {
        const int64_t pos = ow * g.stride[last] + shift;
        f(col, valid && pos >= 0 && pos < g.in[last] ? base + pos : int64_t(-1));
      }
      for (size_t d = last; d-- > 0;) {
        if (++o[d] < g.out[d]) break;
        o[d] = 0;
      }
    }
  }
}

struct ConvAttrs {
  detail::WindowAttrs window;
  int64_t group = 1;
  // ConvTranspose only.
  std::vector<int64_t> output_padding, output_shape;
};

Result<ConvAttrs> parse_conv_attrs(const KernelInit& init, bool transpose) {
  ConvAttrs a;
  WQ_ASSIGN_OR_RETURN(a.window, detail::parse_window_attrs(init));
  WQ_ASSIGN_OR_RETURN(a.group, detail::int_attr(init, "group", 1));
  if (a.group <= 0) return invalid_model(init.context() + "group must be positive");
  if (transpose) {
    WQ_ASSIGN_OR_RETURN(auto op, detail::read_ints_attr(init, "output_padding"));
    WQ_ASSIGN_OR_RETURN(auto os, detail::read_ints_attr(init, "output_shape"));
    a.output_padding = op.values;
    a.output_shape = os.values;
  }
  return a;
}

// Common input checks; returns the kernel spatial dims taken from W.
Result<std::vector<int64_t>> check_conv_inputs(const Tensor& x, const Tensor& w, const Tensor* b,
                                               const ConvAttrs& a, const std::string& where) {
  if (x.rank() < 3)
    return invalid_argument(where + "X must have rank >= 3 (N, C, spatial...), got " + shape_to_string(x.shape()));
  if (w.rank() != x.rank())
    return invalid_argument(where + "W rank " + std::to_string(w.rank()) + " differs from X rank " +
                            std::to_string(x.rank()));
  if (w.dtype() != x.dtype() || (b && b->dtype() != x.dtype()))
    return invalid_argument(where + "X, W and B must have the same type");
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  if (!a.window.kernel_shape.empty() && a.window.kernel_shape != kernel)
    return invalid_model(where + "kernel_shape " + shape_to_string(a.window.kernel_shape) +
                         " does not match W " + shape_to_string(w.shape()));
  return kernel;
}

class ConvKernel : public detail::NodeKernel {
 public:
  ConvKernel(const KernelInit& init, ConvAttrs attrs) : NodeKernel(init), attrs_(std::move(attrs)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* w, detail::required_input(ctx, 1, where()));
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, check_conv_inputs(*x, *w, b, attrs_, where()));
    const int64_t N = x->dim(0), C = x->dim(1), M = w->dim(0), G = attrs_.group;
    if (C % G != 0 || M % G != 0 || w->dim(1) != C / G)
      return invalid_argument(where() + "channels do not match groups: X " + shape_to_string(x->shape()) + ", W " +
                              shape_to_string(w->shape()) + ", group " + std::to_string(G));
    if (b && (b->rank() != 1 || b->dim(0) != M))
      return invalid_argument(where() + "B must have shape [" + std::to_string(M) + "], got " +
                              shape_to_string(b->shape()));
    const Shape spatial(x->shape().begin() + 2, x->shape().end());
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, detail::resolve_window(attrs_.window, spatial, kernel, where()));
    Shape out_shape = {N, M};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());

    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out_shape));
      const int64_t in_size = shape_numel(g.in), out_size = shape_numel(g.out), kprod = shape_numel(g.kernel);
      const int64_t Cg = C / G, Mg = M / G, rows = Cg * kprod;
      const bool direct = kprod == 1 && in_size == out_size && g.pad_begin == std::vector<int64_t>(g.in.size(), 0) &&
                          g.stride == std::vector<int64_t>(g.in.size(), 1);
      WQ_ASSIGN_OR_RETURN(const size_t col_count,
                          detail::scratch_count(direct ? 0 : rows * out_size, sizeof(T), where() + "im2col buffer"));
      std::vector<T> col(col_count);
      const T* px = x->data<T>();
      const T* pw = w->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t grp = 0; grp < G; ++grp) {
          if (ctx.cancelled()) return cancelled(where() + "cancelled");
          const T* xg = px + (n * C + grp * Cg) * in_size;
          const T* cols = xg;
          if (!direct) {
            for (int64_t c = 0; c < Cg; ++c) {
              const T* xc = xg + c * in_size;
              T* dst = col.data() + c * kprod * out_size;
              for_each_window_tap(g, [&](int64_t i, int64_t src) {
                dst[i] = src >= 0 ? xc[src] : detail::store<T>(Compute<T>(0));
              });
            }
            cols = col.data();
          }
          T* yg = py + (n * M + grp * Mg) * out_size;
          detail::gemm_ref<T>(false, false, Mg, out_size, rows, Compute<T>(1), pw + grp * Mg * rows, rows, cols,
                              out_size, Compute<T>(0), yg, out_size);
        }
        if (b) {
          for (int64_t m = 0; m < M; ++m) {
            const Compute<T> bias = detail::load(b->data<T>()[m]);
            T* ym = py + (n * M + m) * out_size;
            for (int64_t i = 0; i < out_size; ++i) ym[i] = detail::store<T>(detail::load(ym[i]) + bias);
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  ConvAttrs attrs_;
};

class ConvTransposeKernel : public detail::NodeKernel {
 public:
  ConvTransposeKernel(const KernelInit& init, ConvAttrs attrs) : NodeKernel(init), attrs_(std::move(attrs)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* w, detail::required_input(ctx, 1, where()));
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, check_conv_inputs(*x, *w, b, attrs_, where()));
    const int64_t N = x->dim(0), C = x->dim(1), G = attrs_.group;
    if (C % G != 0 || w->dim(0) != C)
      return invalid_argument(where() + "channels do not match groups: X " + shape_to_string(x->shape()) + ", W " +
                              shape_to_string(w->shape()) + ", group " + std::to_string(G));
    const int64_t Mg = w->dim(1), M = Mg * G, Cg = C / G;
    if (b && (b->rank() != 1 || b->dim(0) != M))
      return invalid_argument(where() + "B must have shape [" + std::to_string(M) + "], got " +
                              shape_to_string(b->shape()));
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, geometry(*x, kernel));
    Shape out_shape = {N, M};
    out_shape.insert(out_shape.end(), g.in.begin(), g.in.end());

    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C_t = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out_shape));
      // In the col2im view, the ConvTranspose output plays the role of a
      // convolution input (g.in) and the ConvTranspose input that of its output (g.out).
      const int64_t out_size = shape_numel(g.in), in_size = shape_numel(g.out), kprod = shape_numel(g.kernel);
      const int64_t rows = Mg * kprod;
      WQ_ASSIGN_OR_RETURN(const size_t col_count,
                          detail::scratch_count(rows * in_size, sizeof(T), where() + "col2im buffer"));
      std::vector<T> col(col_count);
      std::vector<C_t> acc(static_cast<size_t>(out_size));
      const T* px = x->data<T>();
      const T* pw = w->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t grp = 0; grp < G; ++grp) {
          if (ctx.cancelled()) return cancelled(where() + "cancelled");
          // col[Mg*K, in] = W_g^T[Mg*K, Cg] x X_g[Cg, in]
          detail::gemm_ref<T>(true, false, rows, in_size, Cg, C_t(1), pw + grp * Cg * rows, rows,
                              px + (n * C + grp * Cg) * in_size, in_size, C_t(0), col.data(), in_size);
          for (int64_t m = 0; m < Mg; ++m) {
            std::fill(acc.begin(), acc.end(), C_t(0));
            const T* cm = col.data() + m * kprod * in_size;
            for_each_window_tap(g, [&](int64_t i, int64_t dst) {
              if (dst >= 0) acc[dst] += detail::load(cm[i]);
            });
            const int64_t oc = grp * Mg + m;
            const C_t bias = b ? detail::load(b->data<T>()[oc]) : C_t(0);
            T* ym = py + (n * M + oc) * out_size;
            for (int64_t i = 0; i < out_size; ++i) ym[i] = detail::store<T>(acc[i] + bias);
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  // Geometry of the equivalent convolution whose input is our output.
  Result<WindowGeometry> geometry(const Tensor& x, const std::vector<int64_t>& kernel) const {
    const detail::WindowAttrs& a = attrs_.window;
    const size_t nd = kernel.size();
    auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) -> Status {
      if (!v.empty() && v.size() != want)
        return invalid_model(where() + name + " has " + std::to_string(v.size()) + " values, expected " +
                             std::to_string(want));
      return Status::Ok();
    };
    WQ_RETURN_IF_ERROR(check_len(a.strides, nd, "strides"));
    WQ_RETURN_IF_ERROR(check_len(a.dilations, nd, "dilations"));
    WQ_RETURN_IF_ERROR(check_len(a.pads, 2 * nd, "pads"));
    WQ_RETURN_IF_ERROR(check_len(attrs_.output_padding, nd, "output_padding"));
    // output_shape may list only the spatial dims or the full shape.
    std::vector<int64_t> out_spatial = attrs_.output_shape;
    if (out_spatial.size() == nd + 2) out_spatial.erase(out_spatial.begin(), out_spatial.begin() + 2);
    WQ_RETURN_IF_ERROR(check_len(out_spatial, nd, "output_shape"));

    WindowGeometry g;
    g.kernel = kernel;
    g.out.assign(x.shape().begin() + 2, x.shape().end());
    g.stride = a.strides.empty() ? std::vector<int64_t>(nd, 1) : a.strides;
    g.dilation = a.dilations.empty() ? std::vector<int64_t>(nd, 1) : a.dilations;
    g.pad_begin.assign(nd, 0);
    g.pad_end.assign(nd, 0);
    g.in.assign(nd, 0);
    for (size_t i = 0; i < nd; ++i) {
      const int64_t in = g.out[i], s = g.stride[i];
      const int64_t dk = (kernel[i] - 1) * g.dilation[i] + 1;
      const int64_t opad = attrs_.output_padding.empty() ? 0 : attrs_.output_padding[i];
      const int64_t full = s * (in - 1) + opad + dk;
      const bool same = a.auto_pad == detail::AutoPad::kSameUpper || a.auto_pad == detail::AutoPad::kSameLower;
      if (!out_spatial.empty() || same) {
        const int64_t out = !out_spatial.empty() ? out_spatial[i] : in * s;
        // A requested output larger than the full result is not negative
        // padding: the extra tail positions just receive no contributions.
        const int64_t total = std::max<int64_t>(0, full - out);
        if (a.auto_pad == detail::AutoPad::kSameUpper) {
          g.pad_begin[i] = total / 2;
          g.pad_end[i] = total - total / 2;
        } else {
          g.pad_begin[i] = total - total / 2;
          g.pad_end[i] = total / 2;
        }
        g.in[i] = out;
      } else {
        if (a.auto_pad == detail::AutoPad::kNotSet && !a.pads.empty()) {
          g.pad_begin[i] = a.pads[i];
          g.pad_end[i] = a.pads[i + nd];
        }
        g.in[i] = full - g.pad_begin[i] - g.pad_end[i];
      }
      if (g.in[i] <= 0)
        return invalid_argument(where() + "computed output size " + std::to_string(g.in[i]) + " in spatial dim " +
                                std::to_string(i) + " is not positive");
    }
    return g;
  }

  ConvAttrs attrs_;
};

Result<std::unique_ptr<OpKernel>> make_conv(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(ConvAttrs a, parse_conv_attrs(init, false));
  if (a.window.ceil_mode) return invalid_model(init.context() + "Conv has no ceil_mode");
  return std::unique_ptr<OpKernel>(new ConvKernel(init, std::move(a)));
}

Result<std::unique_ptr<OpKernel>> make_conv_transpose(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(ConvAttrs a, parse_conv_attrs(init, true));
  return std::unique_ptr<OpKernel>(new ConvTransposeKernel(init, std::move(a)));
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.add("", "Conv", 1, kMaxSupportedOpset, make_conv);
  r.add("", "ConvTranspose", 1, kMaxSupportedOpset, make_conv_transpose);
}

}  // namespace wq
