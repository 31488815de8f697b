// Ops that move data without arithmetic (Identity, Flatten, Reshape, Squeeze,
// Unsqueeze, Transpose, Concat) and Dropout.
#include <algorithm>
#include <cstring>

#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

// Same elements, new shape: the gradient is the output's, reshaped back.
class TrainReshapeLike final : public TrainOp {
 public:
  TrainReshapeLike(const KernelInit& init, std::unique_ptr<OpKernel> kernel)
      : where_(init.context()), kernel_(std::move(kernel)) {}

  Status forward(TrainOpContext& ctx) override { return kernel_->run(ctx); }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    Result<Tensor> g = gy->reshaped(ctx.input(0)->shape());
    if (!g.ok()) return g.status().with_context(where_);
    return ctx.add_input_grad(0, std::move(g).value());
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
};

class TrainTranspose final : public TrainOp {
 public:
  TrainTranspose(const KernelInit& init, std::unique_ptr<OpKernel> kernel, std::vector<int64_t> perm)
      : where_(init.context()), kernel_(std::move(kernel)), perm_(std::move(perm)) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "input"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const size_t rank = gy->rank();
    std::vector<int64_t> perm = perm_;
    if (perm.empty())
      for (size_t d = 0; d < rank; ++d) perm.push_back(static_cast<int64_t>(rank - 1 - d));
    if (perm.size() != rank) return invalid_argument(where_ + "perm does not match the input rank");
    // y dim d is x dim perm[d], so x dim perm[d] is y dim d.
    std::vector<int64_t> inverse(rank);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t p = perm[d] < 0 ? perm[d] + static_cast<int64_t>(rank) : perm[d];
      inverse[static_cast<size_t>(p)] = static_cast<int64_t>(d);
    }
    WQ_ASSIGN_OR_RETURN(Tensor dx, Tensor::allocate(DType::kFloat32, ctx.input(0)->shape()));
    transpose_f32(gy->data<float>(), gy->shape(), inverse, dx.mutable_data<float>());
    return ctx.add_input_grad(0, std::move(dx));
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  std::vector<int64_t> perm_;
};

class TrainConcat final : public TrainOp {
 public:
  TrainConcat(const KernelInit& init, std::unique_ptr<OpKernel> kernel, int64_t axis)
      : where_(init.context()), kernel_(std::move(kernel)), axis_(axis) {}

  Status forward(TrainOpContext& ctx) override {
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (ctx.input(i)) WQ_RETURN_IF_ERROR(require_f32(ctx.input(i), where_ + "input " + std::to_string(i)));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const int64_t rank = static_cast<int64_t>(gy->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_, rank, where_ + "axis"));
    const int64_t outer = dims_product(gy->shape(), 0, axis);
    const int64_t out_row = dims_product(gy->shape(), axis, rank);
    const float* g = gy->data<float>();
    int64_t offset = 0;  // within one outer row of the output
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* x = ctx.input(i);
      if (x == nullptr) continue;
      const int64_t row = dims_product(x->shape(), static_cast<size_t>(axis), x->rank());
      if (ctx.needs_input_grad(i) && row > 0) {
        WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(i));
        for (int64_t o = 0; o < outer; ++o) {
          const float* src = g + o * out_row + offset;
          float* dst = dx + o * row;
          for (int64_t j = 0; j < row; ++j) dst[j] += src[j];
        }
      }
      offset += row;
    }
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  int64_t axis_;
};

// Identity in kEval mode or with options.dropout off; in kTrain mode with
// dropout on, zeroes each element with probability `ratio` (from the seeded
// generator) and scales the rest by 1 / (1 - ratio).
class TrainDropout final : public TrainOp {
 public:
  TrainDropout(const KernelInit& init, float attr_ratio, bool ratio_from_input)
      : where_(init.context()), attr_ratio_(attr_ratio), ratio_from_input_(ratio_from_input) {}

  Status forward(TrainOpContext& ctx) override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return invalid_argument(where_ + "input is missing");
    float ratio = attr_ratio_;
    if (ratio_from_input_ && ctx.num_inputs() > 1 && ctx.input(1) != nullptr) {
      WQ_ASSIGN_OR_RETURN(double r, scalar_as_double(*ctx.input(1), where_ + "ratio"));
      ratio = static_cast<float>(r);
    }
    if (!(ratio >= 0.0f && ratio < 1.0f))
      return invalid_argument(where_ + "ratio must be in [0, 1), got " + std::to_string(ratio));
    dropping_ = ctx.mode() == TrainMode::kTrain && ctx.options().dropout && ratio > 0.0f;
    const int64_t n = x->numel();
    if (!dropping_) {
      ctx.set_output(0, *x);
    } else {
      WQ_RETURN_IF_ERROR(require_f32(x, where_ + "input"));
      scale_ = 1.0f / (1.0f - ratio);
      mask_.resize(static_cast<size_t>(n));
      // A uniform 24-bit fraction per element, kept when >= ratio.
      const uint32_t threshold = static_cast<uint32_t>(static_cast<double>(ratio) * 16777216.0);
      for (int64_t i = 0; i < n; ++i) mask_[static_cast<size_t>(i)] = (ctx.random_bits() >> 40) >= threshold;
      WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x->shape()));
      const float* px = x->data<float>();
      float* py = y->mutable_data<float>();
      for (int64_t i = 0; i < n; ++i) py[i] = mask_[static_cast<size_t>(i)] ? px[i] * scale_ : 0.0f;
    }
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
      WQ_ASSIGN_OR_RETURN(Tensor * m, ctx.allocate_output(1, DType::kBool, x->shape()));
      bool* pm = m->mutable_data<bool>();
      for (int64_t i = 0; i < n; ++i) pm[i] = dropping_ ? mask_[static_cast<size_t>(i)] != 0 : true;
    }
    return Status::Ok();
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    if (!dropping_) return ctx.add_input_grad(0, *gy);
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const float* g = gy->data<float>();
    for (int64_t i = 0; i < gy->numel(); ++i)
      if (mask_[static_cast<size_t>(i)]) dx[i] += g[i] * scale_;
    return Status::Ok();
  }

 private:
  std::string where_;
  float attr_ratio_;
  bool ratio_from_input_;
  bool dropping_ = false;
  float scale_ = 1.0f;
  std::vector<uint8_t> mask_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_reshape_like(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainReshapeLike(init, std::move(kernel)));
}

Result<std::unique_ptr<TrainOp>> make_train_transpose(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  WQ_ASSIGN_OR_RETURN(std::vector<int64_t> perm, init.attr_ints("perm"));
  return std::unique_ptr<TrainOp>(new TrainTranspose(init, std::move(kernel), std::move(perm)));
}

Result<std::unique_ptr<TrainOp>> make_train_concat(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  WQ_ASSIGN_OR_RETURN(int64_t axis, int_attr(init, "axis", 0));
  if (!init.has_attr("axis")) return invalid_model(init.context() + "attribute axis is required");
  return std::unique_ptr<TrainOp>(new TrainConcat(init, std::move(kernel), axis));
}

Result<std::unique_ptr<TrainOp>> make_train_dropout(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(float ratio, float_attr(init, "ratio", 0.5f));
  return std::unique_ptr<TrainOp>(new TrainDropout(init, ratio, init.opset() >= 12));
}

}  // namespace detail
}  // namespace wq
