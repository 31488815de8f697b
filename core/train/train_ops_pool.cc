// MaxPool, AveragePool (any number of spatial dims) and GlobalAveragePool.
// Forward is the runtime's kernel, except 2-D MaxPool, which selects exactly
// as the kernel does but remembers what it selected. Backward routes each
// MaxPool output's gradient to the first maximum of its window (the element
// the kernel picked); AveragePool spreads it over the window.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

// For each output position of one plane: f(out_index, taps, num_taps,
// padded_count), taps being the offsets of the window's positions inside the
// input plane and padded_count the positions inside input + pads.
template <typename F>
void for_each_window(const WindowGeometry& g, std::vector<int64_t>& taps, F&& f) {
  const size_t nd = g.in.size();
  const int64_t kprod = shape_numel(g.kernel), out_size = shape_numel(g.out);
  const std::vector<int64_t> in_strides = contiguous_strides(g.in);
  std::vector<int64_t> o(nd, 0), k(nd, 0);
  taps.resize(static_cast<size_t>(kprod));
  for (int64_t out = 0; out < out_size; ++out) {
    int64_t num = 0, padded = 0;
    std::fill(k.begin(), k.end(), 0);
    for (int64_t kk = 0; kk < kprod; ++kk) {
      bool inside = true, inside_pads = true;
      int64_t off = 0;
      for (size_t d = 0; d < nd; ++d) {
        const int64_t pos = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
        if (pos < 0 || pos >= g.in[d]) inside = false;
        if (pos < -g.pad_begin[d] || pos >= g.in[d] + g.pad_end[d]) inside_pads = false;
        off += pos * in_strides[d];
      }
      if (inside) taps[static_cast<size_t>(num++)] = off;
      if (inside_pads) ++padded;
      for (size_t d = nd; d-- > 0;) {
        if (++k[d] < g.kernel[d]) break;
        k[d] = 0;
      }
    }
    f(out, taps.data(), num, padded);
    for (size_t d = nd; d-- > 0;) {
      if (++o[d] < g.out[d]) break;
      o[d] = 0;
    }
  }
}

class TrainPool final : public TrainOp {
 public:
  TrainPool(const KernelInit& init, std::unique_ptr<OpKernel> kernel, bool is_max, WindowAttrs attrs,
            bool count_include_pad)
      : where_(init.context()),
        kernel_(std::move(kernel)),
        is_max_(is_max),
        attrs_(std::move(attrs)),
        count_include_pad_(count_include_pad) {}

  Status forward(TrainOpContext& ctx) override {
    const Tensor* x = ctx.input(0);
    WQ_RETURN_IF_ERROR(require_f32(x, where_ + "X"));
    argmax_valid_ = false;
    if (is_max_ && x->rank() == 4 && !(ctx.num_outputs() > 1 && ctx.has_output(1))) return max_pool_2d(ctx, *x);
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    if (argmax_valid_) {
      WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
      const int64_t planes = x->dim(0) * x->dim(1), in_size = x->dim(2) * x->dim(3);
      const int64_t out_size = planes > 0 ? gy->numel() / planes : 0;
      const float* g = gy->data<float>();
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t o = 0; o < out_size; ++o) {
          const int32_t a = argmax_[static_cast<size_t>(p * out_size + o)];
          if (a >= 0) dx[p * in_size + a] += g[p * out_size + o];
        }
      return Status::Ok();
    }
    const Shape spatial(x->shape().begin() + 2, x->shape().end());
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, resolve_window(attrs_, spatial, attrs_.kernel_shape, where_));
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const int64_t in_size = shape_numel(g.in), out_size = shape_numel(g.out), planes = x->dim(0) * x->dim(1);
    for (int64_t plane = 0; plane < planes; ++plane) {
      const float* xp = x->data<float>() + plane * in_size;
      const float* gp = gy->data<float>() + plane * out_size;
      float* dp = dx + plane * in_size;
      for_each_window(g, taps_, [&](int64_t out, const int64_t* taps, int64_t num, int64_t padded) {
        if (num == 0) return;
        if (is_max_) {
          float best = std::numeric_limits<float>::lowest();
          int64_t arg = taps[0];
          for (int64_t t = 0; t < num; ++t)
            if (xp[taps[t]] > best) best = xp[taps[t]], arg = taps[t];
          dp[arg] += gp[out];
        } else {
          const int64_t count = count_include_pad_ ? padded : num;
          if (count == 0) return;
          const float share = gp[out] / static_cast<float>(count);
          for (int64_t t = 0; t < num; ++t) dp[taps[t]] += share;
        }
      });
    }
    return Status::Ok();
  }

 private:
  // 2-D MaxPool that also records, per output, the offset of the element it
  // took inside its input plane (-1 for a window entirely in the padding).
  // The same selection as the runtime's kernel: the first strict maximum,
  // starting from the lowest float, so the outputs are identical.
  Status max_pool_2d(TrainOpContext& ctx, const Tensor& x) {
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, resolve_window(attrs_, {x.dim(2), x.dim(3)}, attrs_.kernel_shape, where_));
    const int64_t planes = x.dim(0) * x.dim(1), in_h = x.dim(2), in_w = x.dim(3);
    const int64_t oh = g.out[0], ow = g.out[1];
    if (in_h * in_w > INT32_MAX) return unsupported(where_ + "input plane too large");
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, {x.dim(0), x.dim(1), oh, ow}));
    argmax_.resize(static_cast<size_t>(planes * oh * ow));
    const float* px = x.data<float>();
    float* py = y->mutable_data<float>();
    for (int64_t p = 0; p < planes; ++p) {
      const float* xp = px + p * in_h * in_w;
      for (int64_t oy = 0; oy < oh; ++oy) {
        for (int64_t ox = 0; ox < ow; ++ox) {
          float best = std::numeric_limits<float>::lowest();
          int32_t arg = -1;
          for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
            const int64_t iy = oy * g.stride[0] - g.pad_begin[0] + ky * g.dilation[0];
            if (iy < 0 || iy >= in_h) continue;
            for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
              const int64_t ix = ox * g.stride[1] - g.pad_begin[1] + kx * g.dilation[1];
              if (ix < 0 || ix >= in_w) continue;
              const int32_t at = static_cast<int32_t>(iy * in_w + ix);
              if (arg < 0) arg = at;  // the kernel's default: the first tap
              if (xp[at] > best) best = xp[at], arg = at;
            }
          }
          const int64_t o = (p * oh + oy) * ow + ox;
          py[o] = best;
          argmax_[static_cast<size_t>(o)] = arg;
        }
      }
    }
    argmax_valid_ = true;
    return Status::Ok();
  }

  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  bool is_max_;
  WindowAttrs attrs_;
  bool count_include_pad_;
  std::vector<int64_t> taps_;
  bool argmax_valid_ = false;
  std::vector<int32_t> argmax_;
};

class TrainGlobalAveragePool final : public TrainOp {
 public:
  TrainGlobalAveragePool(const KernelInit& init, std::unique_ptr<OpKernel> kernel)
      : where_(init.context()), kernel_(std::move(kernel)) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "X"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    const int64_t planes = x->dim(0) * x->dim(1);
    const int64_t size = planes > 0 ? x->numel() / planes : 0;
    if (size == 0) return Status::Ok();
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const float* g = gy->data<float>();
    for (int64_t p = 0; p < planes; ++p) {
      const float share = g[p] / static_cast<float>(size);
      float* d = dx + p * size;
      for (int64_t i = 0; i < size; ++i) d[i] += share;
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_pool(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  WQ_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(init));
  WQ_ASSIGN_OR_RETURN(int64_t count_include_pad, int_attr(init, "count_include_pad", 0));
  const bool is_max = init.op_type() == "MaxPool";
  return std::unique_ptr<TrainOp>(new TrainPool(init, std::move(kernel), is_max, std::move(attrs), count_include_pad != 0));
}

Result<std::unique_ptr<TrainOp>> make_train_global_average_pool(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainGlobalAveragePool(init, std::move(kernel)));
}

}  // namespace detail
}  // namespace wq
