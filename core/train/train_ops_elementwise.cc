// Activations and unary math, Clip and the broadcasting arithmetic ops. Forward is the
// runtime's kernel; backward multiplies by the local derivative and, for
// broadcast operands, sums over the broadcast dims while accumulating.
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

enum class UnaryKind {
  kRelu, kLeakyRelu, kHardSigmoid, kHardSwish, kSigmoid, kTanh, kErf, kGelu, kGeluTanh, kSqrt, kExp, kLog, kNeg,
  kReciprocal
};

class TrainUnary final : public TrainOp {
 public:
  TrainUnary(const KernelInit& init, std::unique_ptr<OpKernel> kernel, UnaryKind kind, float alpha, float beta)
      : where_(init.context()), kernel_(std::move(kernel)), kind_(kind), alpha_(alpha), beta_(beta) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "input"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const float* x = ctx.input(0)->data<float>();
    const float* y = ctx.output(0)->data<float>();
    const float* g = gy->data<float>();
    const int64_t n = gy->numel();
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    switch (kind_) {
      case UnaryKind::kRelu:
        for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? g[i] : 0.0f;
        break;
      case UnaryKind::kLeakyRelu:
        for (int64_t i = 0; i < n; ++i) dx[i] += x[i] < 0.0f ? alpha_ * g[i] : g[i];
        break;
      case UnaryKind::kHardSigmoid:
        for (int64_t i = 0; i < n; ++i) {
          const float v = alpha_ * x[i] + beta_;
          dx[i] += v > 0.0f && v < 1.0f ? alpha_ * g[i] : 0.0f;
        }
        break;
      case UnaryKind::kHardSwish:
        // x * clamp(x/6 + 1/2, 0, 1): slope 0 below -3, 1 above 3, x/3 + 1/2 between.
        for (int64_t i = 0; i < n; ++i) {
          const float t = x[i] / 6.0f + 0.5f;
          dx[i] += t <= 0.0f ? 0.0f : (t >= 1.0f ? g[i] : g[i] * (x[i] / 3.0f + 0.5f));
        }
        break;
      case UnaryKind::kSigmoid:
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] * y[i] * (1.0f - y[i]);
        break;
      case UnaryKind::kTanh:
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] * (1.0f - y[i] * y[i]);
        break;
      case UnaryKind::kErf: {
        const float k = 1.1283791670955126f;  // 2 / sqrt(pi)
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] * k * std::exp(-x[i] * x[i]);
        break;
      }
      case UnaryKind::kGelu: {
        // Phi(x) + x * phi(x)
        const float inv_sqrt2 = 0.7071067811865476f, inv_sqrt_2pi = 0.3989422804014327f;
        for (int64_t i = 0; i < n; ++i) {
          const float cdf = 0.5f * (1.0f + std::erf(x[i] * inv_sqrt2));
          const float pdf = inv_sqrt_2pi * std::exp(-0.5f * x[i] * x[i]);
          dx[i] += g[i] * (cdf + x[i] * pdf);
        }
        break;
      }
      case UnaryKind::kGeluTanh: {
        const float k = 0.7978845608028654f, c = 0.044715f;
        for (int64_t i = 0; i < n; ++i) {
          const float xi = x[i];
          const float t = std::tanh(k * (xi + c * xi * xi * xi));
          dx[i] += g[i] * (0.5f * (1.0f + t) + 0.5f * xi * (1.0f - t * t) * k * (1.0f + 3.0f * c * xi * xi));
        }
        break;
      }
      case UnaryKind::kSqrt:
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] * 0.5f / y[i];
        break;
      case UnaryKind::kExp:
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] * y[i];
        break;
      case UnaryKind::kLog:
        for (int64_t i = 0; i < n; ++i) dx[i] += g[i] / x[i];
        break;
      case UnaryKind::kNeg:
        for (int64_t i = 0; i < n; ++i) dx[i] -= g[i];
        break;
      case UnaryKind::kReciprocal:
        for (int64_t i = 0; i < n; ++i) dx[i] -= g[i] * y[i] * y[i];
        break;
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  UnaryKind kind_;
  float alpha_, beta_;
};

// ---- Clip ------------------------------------------------------------------------------

class TrainClip final : public TrainOp {
 public:
  TrainClip(const KernelInit& init, std::unique_ptr<OpKernel> kernel, bool from_inputs, float lo, float hi)
      : where_(init.context()), kernel_(std::move(kernel)), from_inputs_(from_inputs), lo_(lo), hi_(hi) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "input"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    float lo = lo_, hi = hi_;
    if (from_inputs_) {
      lo = -std::numeric_limits<float>::infinity();
      hi = std::numeric_limits<float>::infinity();
      if (ctx.num_inputs() > 1 && ctx.input(1)) lo = ctx.input(1)->data<float>()[0];
      if (ctx.num_inputs() > 2 && ctx.input(2)) hi = ctx.input(2)->data<float>()[0];
    }
    const float* x = ctx.input(0)->data<float>();
    const float* g = gy->data<float>();
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    // The gradient passes where the value passes (both bounds included, as
    // PyTorch's clamp).
    for (int64_t i = 0; i < gy->numel(); ++i) dx[i] += x[i] >= lo && x[i] <= hi ? g[i] : 0.0f;
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  bool from_inputs_;
  float lo_, hi_;
};

// ---- Add / Sub / Mul / Div ---------------------------------------------------------------

enum class BinaryKind { kAdd, kSub, kMul, kDiv };

class TrainBinary final : public TrainOp {
 public:
  TrainBinary(const KernelInit& init, std::unique_ptr<OpKernel> kernel, BinaryKind kind)
      : where_(init.context()), kernel_(std::move(kernel)), kind_(kind) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "A"));
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(1), where_ + "B"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    float* da = nullptr;
    float* db = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(da, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(1)) {
      WQ_ASSIGN_OR_RETURN(db, ctx.input_grad(1));
    }
    const float* pa = a->data<float>();
    const float* pb = b->data<float>();
    const float* g = gy->data<float>();
    const BinaryKind kind = kind_;
    auto body = [&](int64_t i, int64_t ia, int64_t ib) {
      const float gi = g[i];
      switch (kind) {
        case BinaryKind::kAdd:
          if (da) da[ia] += gi;
          if (db) db[ib] += gi;
          break;
        case BinaryKind::kSub:
          if (da) da[ia] += gi;
          if (db) db[ib] -= gi;
          break;
        case BinaryKind::kMul:
          if (da) da[ia] += gi * pb[ib];
          if (db) db[ib] += gi * pa[ia];
          break;
        case BinaryKind::kDiv:
          if (da) da[ia] += gi / pb[ib];
          if (db) db[ib] -= gi * pa[ia] / (pb[ib] * pb[ib]);
          break;
      }
    };
    const Shape& out = gy->shape();
    const int64_t n = gy->numel();
    if (a->shape() == out && b->shape() == out) {
      for (int64_t i = 0; i < n; ++i) body(i, i, i);
    } else {
      const std::vector<int64_t> strides[2] = {broadcast_strides(a->shape(), out), broadcast_strides(b->shape(), out)};
      for_each_broadcast(out, strides, [&](int64_t i, const int64_t* off) { body(i, off[0], off[1]); });
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  BinaryKind kind_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_unary(const TrainOpInit& init) {
  const std::string& op = init.op_type();
  UnaryKind kind;
  float alpha = 0.0f, beta = 0.0f;
  if (op == "Relu") {
    kind = UnaryKind::kRelu;
  } else if (op == "LeakyRelu") {
    kind = UnaryKind::kLeakyRelu;
    WQ_ASSIGN_OR_RETURN(alpha, float_attr(init, "alpha", 0.01f));
  } else if (op == "HardSigmoid") {
    kind = UnaryKind::kHardSigmoid;
    WQ_ASSIGN_OR_RETURN(alpha, float_attr(init, "alpha", 0.2f));
    WQ_ASSIGN_OR_RETURN(beta, float_attr(init, "beta", 0.5f));
  } else if (op == "HardSwish") {
    kind = UnaryKind::kHardSwish;
  } else if (op == "Sigmoid") {
    kind = UnaryKind::kSigmoid;
  } else if (op == "Tanh") {
    kind = UnaryKind::kTanh;
  } else if (op == "Erf") {
    kind = UnaryKind::kErf;
  } else if (op == "Gelu") {
    std::string mode;
    WQ_RETURN_IF_ERROR(require_string_attr(init, "approximate", "none", {"none", "tanh"}, &mode));
    kind = mode == "tanh" ? UnaryKind::kGeluTanh : UnaryKind::kGelu;
  } else if (op == "Sqrt") {
    kind = UnaryKind::kSqrt;
  } else if (op == "Exp") {
    kind = UnaryKind::kExp;
  } else if (op == "Log") {
    kind = UnaryKind::kLog;
  } else if (op == "Neg") {
    kind = UnaryKind::kNeg;
  } else if (op == "Reciprocal") {
    kind = UnaryKind::kReciprocal;
  } else {
    return internal_error(init.context() + "not a unary activation");
  }
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainUnary(init, std::move(kernel), kind, alpha, beta));
}

Result<std::unique_ptr<TrainOp>> make_train_clip(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  if (init.opset() < 11) {
    WQ_ASSIGN_OR_RETURN(float lo, float_attr(init, "min", -std::numeric_limits<float>::max()));
    WQ_ASSIGN_OR_RETURN(float hi, float_attr(init, "max", std::numeric_limits<float>::max()));
    return std::unique_ptr<TrainOp>(new TrainClip(init, std::move(kernel), false, lo, hi));
  }
  return std::unique_ptr<TrainOp>(new TrainClip(init, std::move(kernel), true, 0.0f, 0.0f));
}

Result<std::unique_ptr<TrainOp>> make_train_binary(const TrainOpInit& init) {
  const std::string& op = init.op_type();
  BinaryKind kind;
  if (op == "Add") {
    kind = BinaryKind::kAdd;
  } else if (op == "Sub") {
    kind = BinaryKind::kSub;
  } else if (op == "Mul") {
    kind = BinaryKind::kMul;
  } else if (op == "Div") {
    kind = BinaryKind::kDiv;
  } else {
    return internal_error(init.context() + "not a binary arithmetic op");
  }
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainBinary(init, std::move(kernel), kind));
}

}  // namespace detail
}  // namespace wq
