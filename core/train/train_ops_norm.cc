// BatchNormalization, LayerNormalization and Softmax.
//
// BatchNormalization computes y = x * a + b per channel with a = scale * inv_std
// and b = B - mean * a evaluated in double, exactly as the runtime's kernel does,
// from batch statistics in kTrain mode (biased variance, as ONNX; the running
// statistics move by `momentum`) and from the running statistics in kEval mode.
// LayerNormalization and Softmax run the runtime's kernels forward and
// recompute their statistics in backward.
#include <cmath>

#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

class TrainBatchNorm final : public TrainOp {
 public:
  TrainBatchNorm(const KernelInit& init, float epsilon, float momentum)
      : where_(init.context()), epsilon_(epsilon), momentum_(momentum) {}

  Status forward(TrainOpContext& ctx) override {
    const Tensor* x = ctx.input(0);
    WQ_RETURN_IF_ERROR(require_f32(x, where_ + "X"));
    if (x->rank() < 2) return invalid_argument(where_ + "X must have rank >= 2, got " + shape_to_string(x->shape()));
    const int64_t n = x->dim(0), c = x->dim(1), inner = dims_product(x->shape(), 2, x->rank());
    const char* names[5] = {"X", "scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i) {
      const Tensor* t = ctx.input(i);
      WQ_RETURN_IF_ERROR(require_f32(t, where_ + names[i]));
      if (t->rank() != 1 || t->dim(0) != c)
        return invalid_argument(where_ + names[i] + " must have shape [" + std::to_string(c) + "], got " +
                                shape_to_string(t->shape()));
    }
    const float* scale = ctx.input(1)->data<float>();
    const float* bias = ctx.input(2)->data<float>();
    const float* run_mean = ctx.input(3)->data<float>();
    const float* run_var = ctx.input(4)->data<float>();
    const float* px = x->data<float>();
    train_ = ctx.mode() == TrainMode::kTrain;
    mean_.assign(static_cast<size_t>(c), 0.0);
    inv_std_.assign(static_cast<size_t>(c), 0.0);
    std::vector<double> batch_var(static_cast<size_t>(c), 0.0);
    const double count = static_cast<double>(n * inner);
    for (int64_t ch = 0; ch < c; ++ch) {
      double m = run_mean[ch], v = run_var[ch];
      if (train_) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < inner; ++j) s += px[(i * c + ch) * inner + j];
        m = count > 0 ? s / count : 0;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < inner; ++j) {
            const double d = px[(i * c + ch) * inner + j] - m;
            s2 += d * d;
          }
        v = count > 0 ? s2 / count : 0;
        batch_var[static_cast<size_t>(ch)] = v;
      }
      mean_[static_cast<size_t>(ch)] = m;
      inv_std_[static_cast<size_t>(ch)] = 1.0 / std::sqrt(v + static_cast<double>(epsilon_));
    }
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x->shape()));
    float* py = y->mutable_data<float>();
    for (int64_t ch = 0; ch < c; ++ch) {
      const double inv_std = inv_std_[static_cast<size_t>(ch)];
      const float a = static_cast<float>(scale[ch] * inv_std);
      const float b = static_cast<float>(bias[ch] - mean_[static_cast<size_t>(ch)] * scale[ch] * inv_std);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) py[off + j] = px[off + j] * a + b;
      }
    }
    if (train_ && count > 0) {
      Tensor* rm = ctx.state_input(3);
      Tensor* rv = ctx.state_input(4);
      if (rm != nullptr) {
        float* p = rm->mutable_data<float>();
        for (int64_t ch = 0; ch < c; ++ch)
          p[ch] = static_cast<float>(p[ch] * static_cast<double>(momentum_) +
                                     mean_[static_cast<size_t>(ch)] * (1.0 - momentum_));
      }
      if (rv != nullptr) {
        float* p = rv->mutable_data<float>();
        for (int64_t ch = 0; ch < c; ++ch)
          p[ch] = static_cast<float>(p[ch] * static_cast<double>(momentum_) +
                                     batch_var[static_cast<size_t>(ch)] * (1.0 - momentum_));
      }
    }
    return Status::Ok();
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    const int64_t n = x->dim(0), c = x->dim(1), inner = dims_product(x->shape(), 2, x->rank());
    const double count = static_cast<double>(n * inner);
    if (count == 0) return Status::Ok();
    const float* px = x->data<float>();
    const float* pg = gy->data<float>();
    const float* scale = ctx.input(1)->data<float>();
    float* dx = nullptr;
    float* dscale = nullptr;
    float* dbias = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(dx, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(1)) {
      WQ_ASSIGN_OR_RETURN(dscale, ctx.input_grad(1));
    }
    if (ctx.needs_input_grad(2)) {
      WQ_ASSIGN_OR_RETURN(dbias, ctx.input_grad(2));
    }
    for (int64_t ch = 0; ch < c; ++ch) {
      const double m = mean_[static_cast<size_t>(ch)], inv_std = inv_std_[static_cast<size_t>(ch)];
      double sum_g = 0, sum_gx = 0;  // sum dy, sum dy * xhat
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          sum_g += pg[off + j];
          sum_gx += pg[off + j] * ((px[off + j] - m) * inv_std);
        }
      }
      if (dscale) dscale[ch] += static_cast<float>(sum_gx);
      if (dbias) dbias[ch] += static_cast<float>(sum_g);
      if (!dx) continue;
      const double k = scale[ch] * inv_std;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (i * c + ch) * inner;
        if (train_) {
          // The batch statistics depend on x: dx = k * (dy - mean(dy) - xhat * mean(dy * xhat)).
          const double mg = sum_g / count, mgx = sum_gx / count;
          for (int64_t j = 0; j < inner; ++j) {
            const double xhat = (px[off + j] - m) * inv_std;
            dx[off + j] += static_cast<float>(k * (pg[off + j] - mg - xhat * mgx));
          }
        } else {
          for (int64_t j = 0; j < inner; ++j) dx[off + j] += static_cast<float>(k * pg[off + j]);
        }
      }
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  float epsilon_, momentum_;
  bool train_ = false;
  std::vector<double> mean_, inv_std_;  // what the last forward normalized with
};

// ---- LayerNormalization -----------------------------------------------------------------

class TrainLayerNorm final : public TrainOp {
 public:
  TrainLayerNorm(const KernelInit& init, std::unique_ptr<OpKernel> kernel, int64_t axis, float epsilon)
      : where_(init.context()), kernel_(std::move(kernel)), axis_(axis), epsilon_(epsilon) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "X"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    const Tensor* scale = ctx.input(1);
    const Tensor* bias = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_, static_cast<int64_t>(x->rank()), where_ + "axis"));
    const Shape norm_shape(x->shape().begin() + axis, x->shape().end());
    const int64_t outer = dims_product(x->shape(), 0, axis), inner = shape_numel(norm_shape);
    if (inner <= 0) return Status::Ok();
    // Scale expanded to the normalized shape.
    std::vector<float> s(static_cast<size_t>(inner));
    {
      const std::vector<int64_t> st[1] = {broadcast_strides(scale->shape(), norm_shape)};
      const float* ps = scale->data<float>();
      for_each_broadcast(norm_shape, st, [&](int64_t i, const int64_t* off) { s[i] = ps[off[0]]; });
    }
    const bool need_x = ctx.needs_input_grad(0), need_s = ctx.needs_input_grad(1);
    const bool need_b = bias != nullptr && ctx.needs_input_grad(2);
    std::vector<float> ds(need_s ? static_cast<size_t>(inner) : 0, 0.0f);
    std::vector<float> dbv(need_b ? static_cast<size_t>(inner) : 0, 0.0f);
    float* dx = nullptr;
    if (need_x) {
      WQ_ASSIGN_OR_RETURN(dx, ctx.input_grad(0));
    }
    std::vector<float> xhat(static_cast<size_t>(inner)), dxhat(static_cast<size_t>(inner));
    const float* pxall = x->data<float>();
    const float* pgall = gy->data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      const float* px = pxall + o * inner;
      const float* pg = pgall + o * inner;
      // The statistics exactly as the kernel computed them (float, stash_type 1).
      float sum = 0;
      for (int64_t i = 0; i < inner; ++i) sum += px[i];
      const float mean = sum / static_cast<float>(inner);
      float sq = 0;
      for (int64_t i = 0; i < inner; ++i) {
        const float d = px[i] - mean;
        sq += d * d;
      }
      const float inv_std = 1.0f / std::sqrt(sq / static_cast<float>(inner) + epsilon_);
      double m1 = 0, m2 = 0;
      for (int64_t i = 0; i < inner; ++i) {
        xhat[i] = (px[i] - mean) * inv_std;
        dxhat[i] = pg[i] * s[i];
        m1 += dxhat[i];
        m2 += static_cast<double>(dxhat[i]) * xhat[i];
        if (need_s) ds[i] += pg[i] * xhat[i];
        if (need_b) dbv[i] += pg[i];
      }
      if (dx) {
        m1 /= static_cast<double>(inner);
        m2 /= static_cast<double>(inner);
        float* d = dx + o * inner;
        for (int64_t i = 0; i < inner; ++i)
          d[i] += static_cast<float>(inv_std * (dxhat[i] - m1 - xhat[i] * m2));
      }
    }
    if (need_s) {
      WQ_ASSIGN_OR_RETURN(float* dscale, ctx.input_grad(1));
      add_reduced_to_shape(ds.data(), norm_shape, scale->shape(), dscale);
    }
    if (need_b) {
      WQ_ASSIGN_OR_RETURN(float* db, ctx.input_grad(2));
      add_reduced_to_shape(dbv.data(), norm_shape, bias->shape(), db);
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  int64_t axis_;
  float epsilon_;
};

// ---- Softmax --------------------------------------------------------------------------------

class TrainSoftmax final : public TrainOp {
 public:
  TrainSoftmax(const KernelInit& init, std::unique_ptr<OpKernel> kernel, int64_t axis, bool coerce_2d)
      : where_(init.context()), kernel_(std::move(kernel)), axis_(axis), coerce_2d_(coerce_2d) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "input"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* y = ctx.output(0);
    const int64_t rank = static_cast<int64_t>(y->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_, rank, where_ + "axis"));
    const int64_t outer = dims_product(y->shape(), 0, axis);
    const int64_t n = coerce_2d_ ? dims_product(y->shape(), axis, rank) : y->dim(axis);
    const int64_t inner = coerce_2d_ ? 1 : dims_product(y->shape(), axis + 1, rank);
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const float* py = y->data<float>();
    const float* pg = gy->data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        const int64_t base = o * n * inner + in;
        double dot = 0;
        for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(pg[base + i * inner]) * py[base + i * inner];
        for (int64_t i = 0; i < n; ++i) {
          const int64_t at = base + i * inner;
          dx[at] += static_cast<float>(py[at] * (pg[at] - dot));
        }
      }
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  int64_t axis_;
  bool coerce_2d_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_batch_norm(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(float eps, float_attr(init, "epsilon", 1e-5f));
  WQ_ASSIGN_OR_RETURN(float momentum, float_attr(init, "momentum", 0.9f));
  if (init.opset() < 9) {
    WQ_ASSIGN_OR_RETURN(int64_t spatial, int_attr(init, "spatial", 1));
    if (spatial != 1)
      return unsupported(init.context() + "attribute spatial=" + std::to_string(spatial) + " is not supported");
  }
  WQ_ASSIGN_OR_RETURN(int64_t mode, int_attr(init, "training_mode", 0));
  if (mode != 0)
    return unsupported(init.context() + "training_mode=1 nodes are not supported; TrainMode selects the statistics");
  for (size_t i = 1; i < init.num_outputs(); ++i)
    if (init.has_output(i))
      return unsupported(init.context() + "optional outputs (running or saved mean/var) are not supported");
  if (init.num_inputs() != 5) return invalid_model(init.context() + "expects 5 inputs");
  return std::unique_ptr<TrainOp>(new TrainBatchNorm(init, eps, momentum));
}

Result<std::unique_ptr<TrainOp>> make_train_layer_norm(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, int_attr(init, "axis", -1));
  WQ_ASSIGN_OR_RETURN(float eps, float_attr(init, "epsilon", 1e-5f));
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainLayerNorm(init, std::move(kernel), axis, eps));
}

Result<std::unique_ptr<TrainOp>> make_train_softmax(const TrainOpInit& init) {
  const bool coerce = init.opset() < 13;
  WQ_ASSIGN_OR_RETURN(int64_t axis, int_attr(init, "axis", coerce ? 1 : -1));
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainSoftmax(init, std::move(kernel), axis, coerce));
}

}  // namespace detail
}  // namespace wq
