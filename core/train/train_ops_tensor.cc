// ReduceMean/ReduceSum, Pow, Cast between floats, and the indexing ops Slice
// and Gather (the pieces of decomposed LayerNorm, attention head splits and
// embedding lookups in exported transformer and PP-OCR models).
//
// Slice and Gather find where each output element came from by running their
// own forward kernel on an int64 "iota" tensor (element i holds i) in place of
// the data, then scatter-add the gradient there. The index map is therefore
// exactly the forward's, whatever the attributes (negative and clamped
// starts/ends, steps, negative indices).
#include <cmath>
#include <cstring>

#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

// A KernelContext over given inputs, keeping the outputs (to rerun a kernel in backward).
class LocalContext final : public KernelContext {
 public:
  LocalContext(std::vector<const Tensor*> inputs, size_t num_outputs)
      : inputs_(std::move(inputs)), outputs_(num_outputs) {}
  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool has_output(size_t i) const override { return i == 0; }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    if (i >= outputs_.size()) return internal_error("output index out of range");
    WQ_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, shape));
    return &outputs_[i];
  }
  void set_output(size_t i, Tensor t) override {
    if (i < outputs_.size()) outputs_[i] = std::move(t);
  }
  const Tensor& output(size_t i) const { return outputs_[i]; }

 private:
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
};

// ---- ReduceMean / ReduceSum ---------------------------------------------------------------------

class TrainReduce final : public TrainOp {
 public:
  TrainReduce(const KernelInit& init, std::unique_ptr<OpKernel> kernel, bool mean, bool axes_from_input,
              std::vector<int64_t> attr_axes, bool noop_with_empty_axes)
      : where_(init.context()),
        kernel_(std::move(kernel)),
        mean_(mean),
        axes_from_input_(axes_from_input),
        attr_axes_(std::move(attr_axes)),
        noop_with_empty_axes_(noop_with_empty_axes) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "data"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    const int64_t rank = static_cast<int64_t>(x->rank());
    std::vector<int64_t> axes = attr_axes_;
    if (axes_from_input_ && ctx.num_inputs() > 1 && ctx.input(1) != nullptr) {
      WQ_ASSIGN_OR_RETURN(axes, tensor_to_int64s(*ctx.input(1), where_ + "axes"));
    }
    if (axes.empty() && noop_with_empty_axes_) return ctx.add_input_grad(0, gy->reshaped(x->shape()).value());
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    } else {
      WQ_ASSIGN_OR_RETURN(axes, normalize_axes(axes, rank, where_ + "axes"));
    }
    Shape kept = x->shape();
    for (int64_t a : axes) kept[static_cast<size_t>(a)] = 1;
    const int64_t out_n = shape_numel(kept);
    const float scale = mean_ && out_n > 0 && x->numel() > 0 ? static_cast<float>(out_n) / static_cast<float>(x->numel()) : 1.0f;
    std::vector<int64_t> strides = contiguous_strides(kept);
    for (int64_t a : axes) strides[static_cast<size_t>(a)] = 0;
    const std::vector<int64_t> s[1] = {strides};
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const float* g = gy->data<float>();
    for_each_broadcast(x->shape(), s, [&](int64_t i, const int64_t* off) { dx[i] += g[off[0]] * scale; });
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  bool mean_, axes_from_input_;
  std::vector<int64_t> attr_axes_;
  bool noop_with_empty_axes_;
};

// ---- Pow ------------------------------------------------------------------------------------------

class TrainPow final : public TrainOp {
 public:
  TrainPow(const KernelInit& init, std::unique_ptr<OpKernel> kernel) : where_(init.context()), kernel_(std::move(kernel)) {}

  Status forward(TrainOpContext& ctx) override {
    WQ_RETURN_IF_ERROR(require_f32(ctx.input(0), where_ + "X"));
    return kernel_->run(ctx);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    // The exponent as floats, whatever its type (exports often use an int or double 2).
    WQ_ASSIGN_OR_RETURN(std::vector<double> e, tensor_to_doubles(*b, where_ + "Y"));
    float* da = nullptr;
    float* db = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(da, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(1)) {
      WQ_RETURN_IF_ERROR(require_f32(b, where_ + "Y"));
      WQ_ASSIGN_OR_RETURN(db, ctx.input_grad(1));
    }
    const float* pa = a->data<float>();
    const float* g = gy->data<float>();
    const std::vector<int64_t> strides[2] = {broadcast_strides(a->shape(), gy->shape()),
                                             broadcast_strides(b->shape(), gy->shape())};
    for_each_broadcast(gy->shape(), strides, [&](int64_t i, const int64_t* off) {
      const float x = pa[off[0]], p = static_cast<float>(e[static_cast<size_t>(off[1])]);
      if (da) da[off[0]] += g[i] * p * std::pow(x, p - 1.0f);
      // d(x^p)/dp = x^p ln x, defined for x > 0 (0 where the power is 0).
      if (db && x > 0.0f) db[off[1]] += g[i] * std::pow(x, p) * std::log(x);
    });
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
};

// ---- Cast between float types (only float32 -> float32 carries a gradient) ---------------------

class TrainCast final : public TrainOp {
 public:
  explicit TrainCast(std::unique_ptr<OpKernel> kernel) : kernel_(std::move(kernel)) {}
  Status forward(TrainOpContext& ctx) override { return kernel_->run(ctx); }
  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    const Tensor* x = ctx.input(0);
    if (gy == nullptr || x->dtype() != DType::kFloat32) return Status::Ok();
    return ctx.add_input_grad(0, *gy);
  }

 private:
  std::unique_ptr<OpKernel> kernel_;
};

// ---- Slice / Gather -----------------------------------------------------------------------------

class TrainIndexMove final : public TrainOp {
 public:
  TrainIndexMove(const KernelInit& init, std::unique_ptr<OpKernel> kernel)
      : where_(init.context()), kernel_(std::move(kernel)) {}

  Status forward(TrainOpContext& ctx) override { return kernel_->run(ctx); }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    WQ_RETURN_IF_ERROR(require_f32(x, where_ + "data"));
    if (!iota_.defined() || iota_.shape() != x->shape()) {
      WQ_ASSIGN_OR_RETURN(iota_, Tensor::allocate(DType::kInt64, x->shape()));
      int64_t* p = iota_.mutable_data<int64_t>();
      for (int64_t i = 0; i < iota_.numel(); ++i) p[i] = i;
    }
    std::vector<const Tensor*> inputs = {&iota_};
    for (size_t i = 1; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.input(i));
    LocalContext local(std::move(inputs), ctx.num_outputs());
    Status st = kernel_->run(local);
    if (!st.ok()) return st;
    const Tensor& idx = local.output(0);
    if (idx.dtype() != DType::kInt64 || idx.numel() != gy->numel())
      return internal_error(where_ + "index map does not match the output");
    WQ_ASSIGN_OR_RETURN(float* dx, ctx.input_grad(0));
    const int64_t* pi = idx.data<int64_t>();
    const float* g = gy->data<float>();
    for (int64_t i = 0; i < gy->numel(); ++i) dx[pi[i]] += g[i];
    return Status::Ok();
  }

 private:
  std::string where_;
  std::unique_ptr<OpKernel> kernel_;
  Tensor iota_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_reduce(const TrainOpInit& init) {
  const bool mean = init.op_type() == "ReduceMean";
  const int axes_input_since = mean ? 18 : 13;
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  std::vector<int64_t> axes;
  bool noop = false;
  if (init.opset() < axes_input_since) {
    WQ_ASSIGN_OR_RETURN(IntsAttr a, read_ints_attr(init, "axes"));
    axes = a.values;
  } else {
    WQ_ASSIGN_OR_RETURN(int64_t n, int_attr(init, "noop_with_empty_axes", 0));
    noop = n != 0;
  }
  return std::unique_ptr<TrainOp>(
      new TrainReduce(init, std::move(kernel), mean, init.opset() >= axes_input_since, std::move(axes), noop));
}

Result<std::unique_ptr<TrainOp>> make_train_pow(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainPow(init, std::move(kernel)));
}

Result<std::unique_ptr<TrainOp>> make_train_cast(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainCast(std::move(kernel)));
}

Result<std::unique_ptr<TrainOp>> make_train_index_move(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new TrainIndexMove(init, std::move(kernel)));
}

bool cast_is_differentiable(const Node& node) {
  const onnx::AttributeProto* to = node.find_attribute("to");
  return to != nullptr && to->i == static_cast<int64_t>(DType::kFloat32);
}

}  // namespace detail
}  // namespace wq
