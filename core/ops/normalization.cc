// BatchNormalization, InstanceNormalization, LayerNormalization, LRN and the
// softmax family (Softmax, LogSoftmax, Hardmax).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;
using detail::FloatTypes;

// Reads a per-channel parameter of `channels` values (any float type).
Result<std::vector<double>> channel_param(const KernelContext& ctx, size_t i, int64_t channels, const char* name,
                                          const std::string& where) {
  WQ_ASSIGN_OR_RETURN(const Tensor* t, detail::required_input(ctx, i, where));
  if (t->numel() != channels || t->rank() != 1)
    return invalid_argument(where + name + " must have shape [" + std::to_string(channels) + "], got " +
                            shape_to_string(t->shape()));
  return detail::tensor_to_doubles(*t, where + name);
}

// Writes doubles into a tensor of one of the float types.
Status store_doubles(const std::vector<double>& v, Tensor* t, const std::string& where) {
  return detail::visit_dtype<FloatTypes>(t->dtype(), where, [&](auto tag) -> Status {
    using T = decltype(tag);
    for (size_t i = 0; i < v.size(); ++i) t->mutable_data<T>()[i] = detail::store<T>(static_cast<Compute<T>>(v[i]));
    return Status::Ok();
  });
}

// ---- BatchNormalization ---------------------------------------------------------

class BatchNormKernel : public detail::NodeKernel {
 public:
  BatchNormKernel(const KernelInit& init, float epsilon, float momentum, bool training)
      : NodeKernel(init), epsilon_(epsilon), momentum_(momentum), training_(training) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 2) return invalid_argument(where() + "X must have rank >= 2, got " + shape_to_string(x->shape()));
    const int64_t N = x->dim(0), C = x->dim(1), inner = detail::dims_product(x->shape(), 2, x->rank());
    WQ_ASSIGN_OR_RETURN(std::vector<double> scale, channel_param(ctx, 1, C, "scale", where()));
    WQ_ASSIGN_OR_RETURN(std::vector<double> bias, channel_param(ctx, 2, C, "B", where()));
    WQ_ASSIGN_OR_RETURN(std::vector<double> mean, channel_param(ctx, 3, C, "input_mean", where()));
    WQ_ASSIGN_OR_RETURN(std::vector<double> var, channel_param(ctx, 4, C, "input_var", where()));

    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "X", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* px = x->data<T>();
      std::vector<double> use_mean = mean, use_var = var;
      if (training_) {
        // Batch statistics over every axis but the channel one (biased variance).
        const double count = static_cast<double>(N * inner);
        for (int64_t c = 0; c < C; ++c) {
          double s = 0, s2 = 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < inner; ++i) s += detail::load(px[(n * C + c) * inner + i]);
          const double m = count > 0 ? s / count : 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < inner; ++i) {
              const double d = detail::load(px[(n * C + c) * inner + i]) - m;
              s2 += d * d;
            }
          use_mean[c] = m;
          use_var[c] = count > 0 ? s2 / count : 0;
        }
      }
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      T* py = y->mutable_data<T>();
      for (int64_t c = 0; c < C; ++c) {
        const double inv_std = 1.0 / std::sqrt(use_var[c] + static_cast<double>(epsilon_));
        const Compute<T> a = static_cast<Compute<T>>(scale[c] * inv_std);
        const Compute<T> b = static_cast<Compute<T>>(bias[c] - use_mean[c] * scale[c] * inv_std);
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * inner;
          for (int64_t i = 0; i < inner; ++i) py[off + i] = detail::store<T>(detail::load(px[off + i]) * a + b);
        }
      }
      if (training_) {
        const Tensor* in_mean = ctx.input(3);
        const Tensor* in_var = ctx.input(4);
        std::vector<double> running_mean(C), running_var(C);
        for (int64_t c = 0; c < C; ++c) {
          running_mean[c] = mean[c] * momentum_ + use_mean[c] * (1.0 - momentum_);
          running_var[c] = var[c] * momentum_ + use_var[c] * (1.0 - momentum_);
        }
        if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
          WQ_ASSIGN_OR_RETURN(Tensor* rm, ctx.allocate_output(1, in_mean->dtype(), {C}));
          WQ_RETURN_IF_ERROR(store_doubles(running_mean, rm, where() + "running_mean"));
        }
        if (ctx.num_outputs() > 2 && ctx.has_output(2)) {
          WQ_ASSIGN_OR_RETURN(Tensor* rv, ctx.allocate_output(2, in_var->dtype(), {C}));
          WQ_RETURN_IF_ERROR(store_doubles(running_var, rv, where() + "running_var"));
        }
      }
      return Status::Ok();
    });
  }

 private:
  float epsilon_, momentum_;
  bool training_;
};

Result<std::unique_ptr<OpKernel>> make_batch_norm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(float eps, detail::float_attr(init, "epsilon", 1e-5f));
  WQ_ASSIGN_OR_RETURN(float momentum, detail::float_attr(init, "momentum", 0.9f));
  bool training = false;
  if (init.opset() < 9) {
    WQ_ASSIGN_OR_RETURN(int64_t spatial, detail::int_attr(init, "spatial", 1));
    if (spatial != 1)
      return unsupported(init.context() + "attribute spatial=" + std::to_string(spatial) + " is not supported");
  }
  if (init.opset() >= 14) {
    WQ_ASSIGN_OR_RETURN(int64_t mode, detail::int_attr(init, "training_mode", 0));
    training = mode != 0;
  } else {
    for (size_t i = 1; i < init.num_outputs(); ++i)
      if (init.has_output(i))
        return unsupported(init.context() + "training outputs (mean, var, saved_mean, saved_var) before opset 14 "
                                            "are not supported");
  }
  return std::unique_ptr<OpKernel>(new BatchNormKernel(init, eps, momentum, training));
}

// ---- InstanceNormalization -------------------------------------------------------

class InstanceNormKernel : public detail::NodeKernel {
 public:
  InstanceNormKernel(const KernelInit& init, float epsilon) : NodeKernel(init), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 3) return invalid_argument(where() + "X must have rank >= 3, got " + shape_to_string(x->shape()));
    const int64_t N = x->dim(0), C = x->dim(1), inner = detail::dims_product(x->shape(), 2, x->rank());
    WQ_ASSIGN_OR_RETURN(std::vector<double> scale, channel_param(ctx, 1, C, "scale", where()));
    WQ_ASSIGN_OR_RETURN(std::vector<double> bias, channel_param(ctx, 2, C, "B", where()));
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "X", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
          const T* px = x->data<T>() + (n * C + c) * inner;
          T* py = y->mutable_data<T>() + (n * C + c) * inner;
          double s = 0, s2 = 0;
          for (int64_t i = 0; i < inner; ++i) s += detail::load(px[i]);
          const double mean = inner > 0 ? s / static_cast<double>(inner) : 0;
          for (int64_t i = 0; i < inner; ++i) {
            const double d = detail::load(px[i]) - mean;
            s2 += d * d;
          }
          const double var = inner > 0 ? s2 / static_cast<double>(inner) : 0;
          const double a = scale[c] / std::sqrt(var + static_cast<double>(epsilon_));
          for (int64_t i = 0; i < inner; ++i)
            py[i] = detail::store<T>(static_cast<Compute<T>>((detail::load(px[i]) - mean) * a + bias[c]));
        }
      }
      return Status::Ok();
    });
  }

 private:
  float epsilon_;
};

Result<std::unique_ptr<OpKernel>> make_instance_norm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(float eps, detail::float_attr(init, "epsilon", 1e-5f));
  return std::unique_ptr<OpKernel>(new InstanceNormKernel(init, eps));
}

// ---- LayerNormalization ----------------------------------------------------------

class LayerNormKernel : public detail::NodeKernel {
 public:
  LayerNormKernel(const KernelInit& init, int64_t axis, float epsilon)
      : NodeKernel(init), axis_(axis), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* scale, detail::required_input(ctx, 1, where()));
    const Tensor* bias = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, static_cast<int64_t>(x->rank()), where() + "axis"));
    const Shape norm_shape(x->shape().begin() + axis, x->shape().end());
    const int64_t outer = detail::dims_product(x->shape(), 0, axis), inner = shape_numel(norm_shape);
    // Scale and B broadcast unidirectionally to the normalized dims.
    auto param_strides = [&](const Tensor* p, const char* name) -> Result<std::vector<int64_t>> {
      WQ_ASSIGN_OR_RETURN(Shape s, detail::broadcast_shapes(p->shape(), norm_shape, where()));
      if (s != norm_shape || p->rank() > norm_shape.size())
        return invalid_argument(where() + name + " of shape " + shape_to_string(p->shape()) +
                                " does not broadcast to " + shape_to_string(norm_shape));
      if (p->dtype() != x->dtype()) return invalid_argument(where() + name + " must have the type of X");
      return detail::broadcast_strides(p->shape(), norm_shape);
    };
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> scale_strides, param_strides(scale, "Scale"));
    std::vector<int64_t> bias_strides;
    if (bias) {
      WQ_ASSIGN_OR_RETURN(bias_strides, param_strides(bias, "B"));
    }

    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "X", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      Shape stat_shape = x->shape();
      for (size_t d = static_cast<size_t>(axis); d < stat_shape.size(); ++d) stat_shape[d] = 1;
      float* mean_out = nullptr;
      float* inv_out = nullptr;
      if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
        WQ_ASSIGN_OR_RETURN(Tensor* t, ctx.allocate_output(1, DType::kFloat32, stat_shape));
        mean_out = t->mutable_data<float>();
      }
      if (ctx.num_outputs() > 2 && ctx.has_output(2)) {
        WQ_ASSIGN_OR_RETURN(Tensor* t, ctx.allocate_output(2, DType::kFloat32, stat_shape));
        inv_out = t->mutable_data<float>();
      }
      // Expand Scale and B to the normalized shape once.
      std::vector<C> s(static_cast<size_t>(inner)), b(static_cast<size_t>(inner), C(0));
      {
        const std::vector<int64_t> ss[1] = {scale_strides};
        detail::for_each_broadcast(norm_shape, ss, [&](int64_t i, const int64_t* off) {
          s[i] = detail::load(scale->data<T>()[off[0]]);
        });
        if (bias) {
          const std::vector<int64_t> bs[1] = {bias_strides};
          detail::for_each_broadcast(norm_shape, bs, [&](int64_t i, const int64_t* off) {
            b[i] = detail::load(bias->data<T>()[off[0]]);
          });
        }
      }
      for (int64_t o = 0; o < outer; ++o) {
        const T* px = x->data<T>() + o * inner;
        T* py = y->mutable_data<T>() + o * inner;
        // Statistics in float (stash_type 1), like the reference.
        float sum = 0;
        for (int64_t i = 0; i < inner; ++i) sum += static_cast<float>(detail::load(px[i]));
        const float mean = inner > 0 ? sum / static_cast<float>(inner) : 0.0f;
        float sq = 0;
        for (int64_t i = 0; i < inner; ++i) {
          const float d = static_cast<float>(detail::load(px[i])) - mean;
          sq += d * d;
        }
        const float var = inner > 0 ? sq / static_cast<float>(inner) : 0.0f;
        const float inv_std = 1.0f / std::sqrt(var + epsilon_);
        for (int64_t i = 0; i < inner; ++i) {
          const float n = (static_cast<float>(detail::load(px[i])) - mean) * inv_std;
          py[i] = detail::store<T>(static_cast<C>(n) * s[i] + b[i]);
        }
        if (mean_out) mean_out[o] = mean;
        if (inv_out) inv_out[o] = inv_std;
      }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
  float epsilon_;
};

Result<std::unique_ptr<OpKernel>> make_layer_norm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", -1));
  WQ_ASSIGN_OR_RETURN(float eps, detail::float_attr(init, "epsilon", 1e-5f));
  WQ_ASSIGN_OR_RETURN(int64_t stash, detail::int_attr(init, "stash_type", 1));
  if (stash != 1) return unsupported(init.context() + "attribute stash_type=" + std::to_string(stash) + " is not supported");
  return std::unique_ptr<OpKernel>(new LayerNormKernel(init, axis, eps));
}

// ---- LRN ---------------------------------------------------------------------------

class LrnKernel : public detail::NodeKernel {
 public:
  LrnKernel(const KernelInit& init, int64_t size, float alpha, float beta, float bias)
      : NodeKernel(init), size_(size), alpha_(alpha), beta_(beta), bias_(bias) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 3) return invalid_argument(where() + "X must have rank >= 3, got " + shape_to_string(x->shape()));
    const int64_t N = x->dim(0), C = x->dim(1), inner = detail::dims_product(x->shape(), 2, x->rank());
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "X", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      const int64_t lo = (size_ - 1) / 2, hi = size_ - 1 - lo;  // floor and ceil of (size-1)/2
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < inner; ++i) {
            double sq = 0;
            for (int64_t k = std::max<int64_t>(0, c - lo); k <= std::min(C - 1, c + hi); ++k) {
              const double v = detail::load(x->data<T>()[(n * C + k) * inner + i]);
              sq += v * v;
            }
            const int64_t at = (n * C + c) * inner + i;
            const double d = std::pow(bias_ + alpha_ / static_cast<double>(size_) * sq, beta_);
            y->mutable_data<T>()[at] =
                detail::store<T>(static_cast<Compute<T>>(detail::load(x->data<T>()[at]) / d));
          }
      return Status::Ok();
    });
  }

 private:
  int64_t size_;
  float alpha_, beta_, bias_;
};

Result<std::unique_ptr<OpKernel>> make_lrn(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t size, detail::int_attr(init, "size", 0));
  if (size <= 0) return invalid_model(init.context() + "attribute size must be positive");
  WQ_ASSIGN_OR_RETURN(float alpha, detail::float_attr(init, "alpha", 1e-4f));
  WQ_ASSIGN_OR_RETURN(float beta, detail::float_attr(init, "beta", 0.75f));
  WQ_ASSIGN_OR_RETURN(float bias, detail::float_attr(init, "bias", 1.0f));
  return std::unique_ptr<OpKernel>(new LrnKernel(init, size, alpha, beta, bias));
}

// ---- MeanVarianceNormalization ------------------------------------------------------

// (X - mean) / sqrt(var + 1e-9) over `axes` (default N, H, W), as the
// function body in the ONNX spec defines it.
class MvnKernel : public detail::NodeKernel {
 public:
  MvnKernel(const KernelInit& init, std::vector<int64_t> axes) : NodeKernel(init), axes_(std::move(axes)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                        detail::normalize_axes(axes_, static_cast<int64_t>(x->rank()), where() + "axes"));
    Shape kept = x->shape();
    for (int64_t a : axes) kept[a] = 1;
    std::vector<int64_t> strides = detail::contiguous_strides(kept);
    for (int64_t a : axes) strides[a] = 0;
    const std::vector<int64_t> s[1] = {strides};
    const int64_t groups = shape_numel(kept), count = groups > 0 ? x->numel() / groups : 0;
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "X", [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* px = x->data<T>();
      std::vector<double> sum(groups, 0.0), sq(groups, 0.0);
      detail::for_each_broadcast(x->shape(), s, [&](int64_t i, const int64_t* off) { sum[off[0]] += detail::load(px[i]); });
      for (double& v : sum) v /= static_cast<double>(std::max<int64_t>(count, 1));
      detail::for_each_broadcast(x->shape(), s, [&](int64_t i, const int64_t* off) {
        const double d = detail::load(px[i]) - sum[off[0]];
        sq[off[0]] += d * d;
      });
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      T* py = y->mutable_data<T>();
      detail::for_each_broadcast(x->shape(), s, [&](int64_t i, const int64_t* off) {
        const double var = sq[off[0]] / static_cast<double>(std::max<int64_t>(count, 1));
        py[i] = detail::store<T>(static_cast<Compute<T>>((detail::load(px[i]) - sum[off[0]]) / std::sqrt(var + 1e-9)));
      });
      return Status::Ok();
    });
  }

 private:
  std::vector<int64_t> axes_;
};

Result<std::unique_ptr<OpKernel>> make_mvn(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr axes, detail::read_ints_attr(init, "axes"));
  return std::unique_ptr<OpKernel>(new MvnKernel(init, axes.present ? axes.values : std::vector<int64_t>{0, 2, 3}));
}

// ---- Softmax / LogSoftmax / Hardmax -----------------------------------------------

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// Before opset 13 the input is coerced to 2-D [prod(dims < axis), prod(dims >= axis)]
// and normalized over the second dim; from 13 on, over `axis` alone.
class SoftmaxKernel : public detail::NodeKernel {
 public:
  SoftmaxKernel(const KernelInit& init, SoftmaxKind kind, int64_t axis, bool coerce_2d)
      : NodeKernel(init), kind_(kind), axis_(axis), coerce_2d_(coerce_2d) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    if (rank == 0) return invalid_argument(where() + "input must have rank >= 1");
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t n = coerce_2d_ ? detail::dims_product(x->shape(), axis, rank) : x->dim(axis);
    const int64_t inner = coerce_2d_ ? 1 : detail::dims_product(x->shape(), axis + 1, rank);
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t in = 0; in < inner; ++in) {
          const int64_t base = o * n * inner + in;
          C mx = -std::numeric_limits<C>::infinity();
          int64_t arg = 0;
          for (int64_t i = 0; i < n; ++i) {
            const C v = detail::load(px[base + i * inner]);
            if (v > mx) mx = v, arg = i;
          }
          if (kind_ == SoftmaxKind::kHardmax) {
            for (int64_t i = 0; i < n; ++i) py[base + i * inner] = detail::store<T>(C(i == arg ? 1 : 0));
            continue;
          }
          C sum = 0;
          for (int64_t i = 0; i < n; ++i) sum += std::exp(detail::load(px[base + i * inner]) - mx);
          if (kind_ == SoftmaxKind::kSoftmax) {
            for (int64_t i = 0; i < n; ++i)
              py[base + i * inner] = detail::store<T>(std::exp(detail::load(px[base + i * inner]) - mx) / sum);
          } else {
            const C log_sum = std::log(sum);
            for (int64_t i = 0; i < n; ++i)
              py[base + i * inner] = detail::store<T>(detail::load(px[base + i * inner]) - mx - log_sum);
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  SoftmaxKind kind_;
  int64_t axis_;
  bool coerce_2d_;
};

template <SoftmaxKind kKind>
Result<std::unique_ptr<OpKernel>> make_softmax(const KernelInit& init) {
  const bool coerce = init.opset() < 13;
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", coerce ? 1 : -1));
  return std::unique_ptr<OpKernel>(new SoftmaxKernel(init, kKind, axis, coerce));
}

}  // namespace

void register_normalization_ops(OpRegistry& r) {
  constexpr int kMin = kMinSupportedOpset, kMax = kMaxSupportedOpset;
  r.add("", "BatchNormalization", kMin, kMax, make_batch_norm);
  r.add("", "InstanceNormalization", 6, kMax, make_instance_norm);
  r.add("", "LayerNormalization", 17, kMax, make_layer_norm);
  r.add("", "LRN", 1, kMax, make_lrn);
  r.add("", "MeanVarianceNormalization", 9, kMax, make_mvn);
  r.add("", "Softmax", 1, kMax, make_softmax<SoftmaxKind::kSoftmax>);
  r.add("", "LogSoftmax", 1, kMax, make_softmax<SoftmaxKind::kLogSoftmax>);
  r.add("", "Hardmax", 1, kMax, make_softmax<SoftmaxKind::kHardmax>);
}

}  // namespace wq
