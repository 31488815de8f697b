// 2-D Conv. Forward is the runtime's fast path (f32_conv_plan + f32_conv_run
// on the current weights, so the output is the one inference computes).
// Backward, per image and group, over blocks of output pixels:
//
//   col  = im2col(x)                 [K x np]   K = Cin/g * kh * kw
//   dW  += dY[:, block] * col^T      [Cout/g x K]
//   dcol = W^T * dY[:, block]        [K x np]  -> col2im, added into dX
//   dB  += sum over pixels of dY
//
// Depthwise convolutions (one input channel per group) use direct loops
// instead: their GEMMs would have a single row.
#include <algorithm>
#include <optional>

#include "core/kernels/f32_conv.h"
#include "core/kernels/f32_conv2d_geometry.h"
#include "core/kernels/f32_im2col.h"
#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

// Floats of one im2col block in backward (1 MiB), as a bound on scratch.
constexpr size_t kColBlockFloats = size_t{1} << 18;

// Adds col (the layout f32_im2col_chw writes) back into the input planes.
// Walks the block one output-row segment at a time, so the only divisions
// are per segment.
void col2im_add_chw(const F32Conv2dGeometry& g, size_t channels, const float* col, size_t p0, size_t np, size_t ldcol,
                    float* dx) {
  const size_t plane = g.in_h * g.in_w;
  const int64_t in_h = static_cast<int64_t>(g.in_h), in_w = static_cast<int64_t>(g.in_w);
  for (size_t c = 0; c < channels; ++c) {
    for (size_t ky = 0; ky < g.kernel_h; ++ky) {
      for (size_t kx = 0; kx < g.kernel_w; ++kx) {
        const float* row = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ldcol;
        const int64_t off_x = static_cast<int64_t>(kx * g.dilation_w) - static_cast<int64_t>(g.pad_left);
        size_t j = 0;
        while (j < np) {
          const size_t p = p0 + j;
          const size_t oy = p / g.out_w, ox0 = p % g.out_w;
          const size_t count = std::min(g.out_w - ox0, np - j);
          const int64_t iy = static_cast<int64_t>(oy * g.stride_h + ky * g.dilation_h) - static_cast<int64_t>(g.pad_top);
          if (iy >= 0 && iy < in_h) {
            float* drow = dx + c * plane + static_cast<size_t>(iy) * g.in_w;
            for (size_t t = 0; t < count; ++t) {
              const int64_t ix = static_cast<int64_t>((ox0 + t) * g.stride_w) + off_x;
              if (ix >= 0 && ix < in_w) drow[ix] += row[j + t];
            }
          }
          j += count;
        }
      }
    }
  }
}

class TrainConv final : public TrainOp {
 public:
  TrainConv(const KernelInit& init, WindowAttrs window, int64_t group)
      : where_(init.context()), window_(std::move(window)), group_(group) {}

  void set_constant_weights(bool constant) { constant_weights_ = constant; }

  Status forward(TrainOpContext& ctx) override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_RETURN_IF_ERROR(resolve(x, w, b));
    const size_t n = static_cast<size_t>(x->dim(0));
    WQ_ASSIGN_OR_RETURN(Tensor * y,
                        ctx.allocate_output(0, DType::kFloat32,
                                            {x->dim(0), w->dim(0), static_cast<int64_t>(geom_.out_h),
                                             static_cast<int64_t>(geom_.out_w)}));
    if (y->numel() == 0) return Status::Ok();
    const bool reuse = constant_weights_ && plan_ && planned_params_ok();
    if (!reuse) {
      Result<F32ConvPlan> plan =
          f32_conv_plan(params_, w->data<float>(), b ? b->data<float>() : nullptr, F32Activation::none());
      if (!plan.ok()) return plan.status().with_context(where_);
      plan_ = std::move(plan).value();
    }
    Status st = f32_conv_run(*plan_, n, geom_.in_h, geom_.in_w, x->data<float>(), y->mutable_data<float>(), &scratch_);
    return st.ok() ? st : st.with_context(where_);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_RETURN_IF_ERROR(resolve(x, w, b));
    const size_t batch = static_cast<size_t>(x->dim(0));
    const size_t cin = params_.in_channels, cout = params_.out_channels, groups = params_.groups;
    const size_t cin_g = cin / groups, cout_g = cout / groups;
    const size_t kh = params_.kernel_h, kw = params_.kernel_w;
    const size_t in_plane = geom_.in_h * geom_.in_w, out_plane = geom_.out_h * geom_.out_w;
    const size_t k = cin_g * kh * kw;
    const float* px = x->data<float>();
    const float* pw = w->data<float>();
    const float* pg = gy->data<float>();
    float* dx = nullptr;
    float* dw = nullptr;
    float* db = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(dx, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(1)) {
      WQ_ASSIGN_OR_RETURN(dw, ctx.input_grad(1));
    }
    if (b != nullptr && ctx.needs_input_grad(2)) {
      WQ_ASSIGN_OR_RETURN(db, ctx.input_grad(2));
    }
    if (db != nullptr) {
      for (size_t i = 0; i < batch; ++i)
        for (size_t co = 0; co < cout; ++co) {
          const float* g = pg + (i * cout + co) * out_plane;
          double s = 0;
          for (size_t p = 0; p < out_plane; ++p) s += g[p];
          db[co] += static_cast<float>(s);
        }
    }
    if (dx == nullptr && dw == nullptr) return Status::Ok();
    if (out_plane == 0) return Status::Ok();

    if (cin_g == 1 && groups > 1) {
      // Depthwise (with channel multiplier cout_g): direct loops, as the
      // GEMMs would have cout_g (usually one) rows.
      for (size_t i = 0; i < batch; ++i) {
        for (size_t co = 0; co < cout; ++co) {
          const size_t ci = co / cout_g;
          const float* xp = px + (i * cin + ci) * in_plane;
          float* dxp = dx ? dx + (i * cin + ci) * in_plane : nullptr;
          const float* wp = pw + co * kh * kw;
          float* dwp = dw ? dw + co * kh * kw : nullptr;
          const float* g = pg + (i * cout + co) * out_plane;
          for (size_t oy = 0; oy < geom_.out_h; ++oy) {
            for (size_t ox = 0; ox < geom_.out_w; ++ox) {
              const float gv = g[oy * geom_.out_w + ox];
              for (size_t ky = 0; ky < kh; ++ky) {
                const int64_t iy = static_cast<int64_t>(oy * geom_.stride_h + ky * geom_.dilation_h) -
                                   static_cast<int64_t>(geom_.pad_top);
                if (iy < 0 || iy >= static_cast<int64_t>(geom_.in_h)) continue;
                for (size_t kx = 0; kx < kw; ++kx) {
                  const int64_t ix = static_cast<int64_t>(ox * geom_.stride_w + kx * geom_.dilation_w) -
                                     static_cast<int64_t>(geom_.pad_left);
                  if (ix < 0 || ix >= static_cast<int64_t>(geom_.in_w)) continue;
                  const size_t at = static_cast<size_t>(iy) * geom_.in_w + static_cast<size_t>(ix);
                  if (dwp) dwp[ky * kw + kx] += gv * xp[at];
                  if (dxp) dxp[at] += gv * wp[ky * kw + kx];
                }
              }
            }
          }
        }
      }
      return Status::Ok();
    }

    size_t np = std::max<size_t>(64, kColBlockFloats / std::max<size_t>(k, 1));
    np = std::min(np, out_plane);
    WQ_RETURN_IF_ERROR(col_.reserve(k * np, "Conv backward im2col"));
    if (dx) WQ_RETURN_IF_ERROR(dcol_.reserve(k * np, "Conv backward col2im"));
    for (size_t i = 0; i < batch; ++i) {
      for (size_t grp = 0; grp < groups; ++grp) {
        const float* xg = px + (i * cin + grp * cin_g) * in_plane;
        const float* gg = pg + (i * cout + grp * cout_g) * out_plane;
        const float* wg = pw + grp * cout_g * k;
        for (size_t p0 = 0; p0 < out_plane; p0 += np) {
          const size_t nb = std::min(np, out_plane - p0);
          if (dw) {
            f32_im2col_chw(geom_, cin_g, xg, p0, nb, col_.data(), nb);
            WQ_RETURN_IF_ERROR(gemm_f32(false, true, cout_g, k, nb, 1.0f, gg + p0, out_plane, col_.data(), nb, true,
                                        dw + grp * cout_g * k, k, &gemm_));
          }
          if (dx) {
            WQ_RETURN_IF_ERROR(gemm_f32(true, false, k, nb, cout_g, 1.0f, wg, k, gg + p0, out_plane, false,
                                        dcol_.data(), nb, &gemm_));
            col2im_add_chw(geom_, cin_g, dcol_.data(), p0, nb, nb, dx + (i * cin + grp * cin_g) * in_plane);
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  bool planned_params_ok() const {
    const F32ConvParams& p = plan_->params();
    return p.pad_top == params_.pad_top && p.pad_left == params_.pad_left && p.pad_bottom == params_.pad_bottom &&
           p.pad_right == params_.pad_right && p.in_channels == params_.in_channels;
  }

  // Checks the inputs and fills params_ and geom_ for this input size.
  Status resolve(const Tensor* x, const Tensor* w, const Tensor* b) {
    WQ_RETURN_IF_ERROR(require_f32(x, where_ + "X"));
    WQ_RETURN_IF_ERROR(require_f32(w, where_ + "W"));
    if (b != nullptr) WQ_RETURN_IF_ERROR(require_f32(b, where_ + "B"));
    if (x->rank() != 4 || w->rank() != 4)
      return unsupported(where_ + "training supports 2-D Conv only (X " + shape_to_string(x->shape()) + ", W " +
                         shape_to_string(w->shape()) + ")");
    const int64_t m = w->dim(0);
    if (m % group_ != 0 || x->dim(1) != w->dim(1) * group_)
      return invalid_argument(where_ + "X " + shape_to_string(x->shape()) + " and W " + shape_to_string(w->shape()) +
                              " do not match with group=" + std::to_string(group_));
    if (b != nullptr && (b->rank() != 1 || b->dim(0) != m))
      return invalid_argument(where_ + "B must have shape [" + std::to_string(m) + "], got " +
                              shape_to_string(b->shape()));
    const std::vector<int64_t> kernel = {w->dim(2), w->dim(3)};
    if (!window_.kernel_shape.empty() && window_.kernel_shape != kernel)
      return invalid_argument(where_ + "kernel_shape " + shape_to_string(window_.kernel_shape) +
                              " differs from the weights' " + shape_to_string(kernel));
    for (int64_t v : window_.strides)
      if (v < 1) return invalid_model(where_ + "strides must be >= 1");
    for (int64_t v : window_.dilations)
      if (v < 1) return invalid_model(where_ + "dilations must be >= 1");
    for (int64_t v : window_.pads)
      if (v < 0) return invalid_model(where_ + "pads must be >= 0");
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, resolve_window(window_, {x->dim(2), x->dim(3)}, kernel, where_));
    params_.in_channels = static_cast<size_t>(x->dim(1));
    params_.out_channels = static_cast<size_t>(m);
    params_.groups = static_cast<size_t>(group_);
    params_.kernel_h = static_cast<size_t>(kernel[0]);
    params_.kernel_w = static_cast<size_t>(kernel[1]);
    params_.stride_h = static_cast<size_t>(g.stride[0]);
    params_.stride_w = static_cast<size_t>(g.stride[1]);
    params_.dilation_h = static_cast<size_t>(g.dilation[0]);
    params_.dilation_w = static_cast<size_t>(g.dilation[1]);
    params_.pad_top = static_cast<size_t>(g.pad_begin[0]);
    params_.pad_left = static_cast<size_t>(g.pad_begin[1]);
    params_.pad_bottom = static_cast<size_t>(g.pad_end[0]);
    params_.pad_right = static_cast<size_t>(g.pad_end[1]);
    geom_.in_h = static_cast<size_t>(x->dim(2));
    geom_.in_w = static_cast<size_t>(x->dim(3));
    geom_.out_h = static_cast<size_t>(g.out[0]);
    geom_.out_w = static_cast<size_t>(g.out[1]);
    geom_.kernel_h = params_.kernel_h;
    geom_.kernel_w = params_.kernel_w;
    geom_.stride_h = params_.stride_h;
    geom_.stride_w = params_.stride_w;
    geom_.dilation_h = params_.dilation_h;
    geom_.dilation_w = params_.dilation_w;
    geom_.pad_top = params_.pad_top;
    geom_.pad_left = params_.pad_left;
    return Status::Ok();
  }

  std::string where_;
  WindowAttrs window_;
  int64_t group_;
  bool constant_weights_ = false;
  F32ConvParams params_;
  F32Conv2dGeometry geom_;
  std::optional<F32ConvPlan> plan_;
  F32Buffer scratch_, col_, dcol_;
  GemmScratch gemm_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_conv(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(WindowAttrs window, parse_window_attrs(init));
  WQ_ASSIGN_OR_RETURN(int64_t group, int_attr(init, "group", 1));
  if (group <= 0) return invalid_model(init.context() + "group must be positive, got " + std::to_string(group));
  if (window.ceil_mode) return unsupported(init.context() + "ceil_mode is not supported for Conv");
  auto op = std::make_unique<TrainConv>(init, std::move(window), group);
  op->set_constant_weights(init.constant_input(1) != nullptr &&
                           (!init.has_input(2) || init.constant_input(2) != nullptr));
  return std::unique_ptr<TrainOp>(std::move(op));
}

}  // namespace detail
}  // namespace wq
