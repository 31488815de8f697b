// Fast float32 Conv, Gemm and MatMul on the packed SIMD kernels of
// core/kernels/ (f32_conv.h, f32_gemm.h).
//
// register_fast_f32_ops is called before the reference registrations, and
// OpRegistry::find returns the first match, so these factories see every
// Conv/Gemm/MatMul node first. A factory takes the fast path only when it can
// pack the weights once at plan time (constant float32 weights of the shapes
// below); for anything else it returns the reference kernel, built from a
// private registry filled by the reference register function. Each fast kernel
// also keeps a reference kernel and hands it inputs it did not plan for
// (another dtype or rank at run time), so invalid inputs get exactly the
// reference's checks and error messages.
//
//   Conv    2-D, W constant float32 [M, C/g, kh, kw], B absent or constant [M].
//           auto_pad SAME_* pads depend on the input size: the plan is made on
//           the first run and remade only when the resolved pads change.
//   Gemm    B constant float32, alpha folded into the packed B; C absent, or
//           constant and broadcastable along rows ([N], [1, N] or one
//           element): beta * C becomes the packed bias. transA transposes A
//           per run (M x K copies against 2*M*N*K FLOPs).
//   MatMul  B constant float32 2-D: packed once, A of any rank >= 1 is one
//           GEMM over all its rows. Otherwise (B known only at run time, or a
//           constant batched/1-D B): both float32, numpy broadcasting,
//           f32_gemm_run_unpacked per batch matrix.
//
// Weights are held once: each fast kernel owns the constants it packed
// (OpKernel::owns_constant_input), so the session frees the originals, and
// rebuilds them bit for bit from the packed copy when they are needed again
// (the reference fallback, or a run that asks for the constant by name).
// Conv with SAME_* pads keeps its weights (it re-plans per input size), and
// Gemm keeps an input that alpha or beta scaled, since the packed copy no
// longer holds it exactly.
//
// Activations are not fused here (bias only): fusing across nodes is a graph
// pass. Kernels keep their scratch between runs, so one kernel must not run
// twice at the same time (the session runs nodes one after another).
#include <algorithm>
#include <optional>

#include "core/kernels/f32_conv.h"
#include "core/kernels/f32_gemm.h"
#include "core/ops/ops_util.h"

namespace wq {
namespace {

using Factory = Result<std::unique_ptr<OpKernel>>;

// The reference implementations, reachable even though the builtin registry
// lists the fast factories first.
const OpRegistry& reference_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    register_conv_ops(*r);
    register_gemm_ops(*r);
    return r;
  }();
  return *registry;
}

Factory make_reference(const KernelInit& init) {
  const KernelFactory* f = reference_ops().find(init.domain(), init.op_type(), init.opset());
  if (f == nullptr)
    return unsupported(init.context() + "no reference kernel at opset " + std::to_string(init.opset()));
  return (*f)(init);
}

bool is_f32(const Tensor* t) { return t != nullptr && t->dtype() == DType::kFloat32; }

}  // namespace

namespace detail {

// Base of every kernel this file returns on its fast path (tests check that
// the fast path was taken with is_fast_f32_kernel).
class FastF32Kernel : public NodeKernel {
 public:
  FastF32Kernel(const KernelInit& init, std::unique_ptr<OpKernel> reference)
      : NodeKernel(init), reference_(std::move(reference)) {}

 protected:
  // Inputs this kernel planned for go to the reference kernel unchanged,
  // except constants the runtime released to us: the reference gets them
  // rebuilt from the packed copy.
  Status run_reference(KernelContext& ctx) const;
  // A kernel-library status with this node's context in front.
  Status prefixed(const Status& s) const { return s.ok() ? s : Status(s.code(), where() + s.message()); }

 private:
  std::unique_ptr<OpKernel> reference_;
};

namespace {

// Forwards to the session's context, with some inputs replaced.
class RestoredInputsContext final : public KernelContext {
 public:
  RestoredInputsContext(KernelContext& ctx, std::vector<Tensor> restored)
      : ctx_(ctx), restored_(std::move(restored)) {}
  size_t num_inputs() const override { return ctx_.num_inputs(); }
  const Tensor* input(size_t i) const override {
    return i < restored_.size() && restored_[i].defined() ? &restored_[i] : ctx_.input(i);
  }
  size_t num_outputs() const override { return ctx_.num_outputs(); }
  bool has_output(size_t i) const override { return ctx_.has_output(i); }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    return ctx_.allocate_output(i, dtype, shape);
  }
  void set_output(size_t i, Tensor t) override { ctx_.set_output(i, std::move(t)); }
  bool cancelled() const override { return ctx_.cancelled(); }

 private:
  KernelContext& ctx_;
  std::vector<Tensor> restored_;
};

}  // namespace

Status FastF32Kernel::run_reference(KernelContext& ctx) const {
  std::vector<Tensor> restored;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.input(i);
    if (!owns_constant_input(i) || (t != nullptr && t->defined())) continue;
    WQ_ASSIGN_OR_RETURN(Tensor original, restore_constant_input(i));
    restored.resize(i + 1);
    restored[i] = std::move(original);
  }
  if (restored.empty()) return reference_->run(ctx);
  RestoredInputsContext with_originals(ctx, std::move(restored));
  return reference_->run(with_originals);
}

bool is_fast_f32_kernel(const OpKernel& kernel) { return dynamic_cast<const FastF32Kernel*>(&kernel) != nullptr; }

}  // namespace detail

namespace {

using detail::FastF32Kernel;

// ---------------------------------------------------------------------------
// Conv

class FastConvKernel : public FastF32Kernel {
 public:
  FastConvKernel(const KernelInit& init, std::unique_ptr<OpKernel> reference, detail::WindowAttrs window,
                 F32ConvParams params, Tensor weights, std::optional<Tensor> bias)
      : FastF32Kernel(init, std::move(reference)),
        window_(std::move(window)),
        params_(params),
        weights_(std::move(weights)),
        bias_(std::move(bias)) {}

  // Plans now when the pads are known without the input size.
  Status plan_if_static() {
    if (window_.auto_pad == detail::AutoPad::kSameUpper || window_.auto_pad == detail::AutoPad::kSameLower)
      return Status::Ok();
    if (window_.auto_pad == detail::AutoPad::kNotSet && !window_.pads.empty()) {
      params_.pad_top = static_cast<size_t>(window_.pads[0]);
      params_.pad_left = static_cast<size_t>(window_.pads[1]);
      params_.pad_bottom = static_cast<size_t>(window_.pads[2]);
      params_.pad_right = static_cast<size_t>(window_.pads[3]);
    }
    WQ_RETURN_IF_ERROR(make_plan());
    // The plan owns packed weights; the originals are no longer needed.
    weight_shape_ = weights_.shape();
    has_bias_ = bias_.has_value();
    weights_ = Tensor();
    bias_.reset();
    static_plan_ = true;
    return Status::Ok();
  }

  bool owns_constant_input(size_t i) const override { return static_plan_ && (i == 1 || (i == 2 && has_bias_)); }

  Result<Tensor> restore_constant_input(size_t i) const override {
    if (!owns_constant_input(i) || !plan_) return OpKernel::restore_constant_input(i);
    const Shape shape = i == 1 ? weight_shape_ : Shape{static_cast<int64_t>(params_.out_channels)};
    WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DType::kFloat32, shape));
    f32_conv_unpack_weights(*plan_, i == 1 ? t.mutable_data<float>() : nullptr,
                            i == 2 ? t.mutable_data<float>() : nullptr);
    return t;
  }

  Status run(KernelContext& ctx) override {
    const Tensor* x = ctx.input(0);
    if (!is_f32(x) || x->rank() != 4 || x->dim(1) != static_cast<int64_t>(params_.in_channels) ||
        x->numel() == 0) {
      return run_reference(ctx);
    }
    const Shape spatial = {x->dim(2), x->dim(3)};
    const std::vector<int64_t> kernel = {static_cast<int64_t>(params_.kernel_h),
                                         static_cast<int64_t>(params_.kernel_w)};
    WQ_ASSIGN_OR_RETURN(detail::WindowGeometry g, detail::resolve_window(window_, spatial, kernel, where()));
    const size_t pads[4] = {static_cast<size_t>(g.pad_begin[0]), static_cast<size_t>(g.pad_begin[1]),
                            static_cast<size_t>(g.pad_end[0]), static_cast<size_t>(g.pad_end[1])};
    if (!plan_ || pads[0] != params_.pad_top || pads[1] != params_.pad_left || pads[2] != params_.pad_bottom ||
        pads[3] != params_.pad_right) {
      params_.pad_top = pads[0];
      params_.pad_left = pads[1];
      params_.pad_bottom = pads[2];
      params_.pad_right = pads[3];
      WQ_RETURN_IF_ERROR(make_plan());
    }
    const size_t n = static_cast<size_t>(x->dim(0)), h = static_cast<size_t>(x->dim(2)),
                 w = static_cast<size_t>(x->dim(3));
    size_t oh = 0, ow = 0;
    WQ_RETURN_IF_ERROR(prefixed(f32_conv_output_size(*plan_, h, w, &oh, &ow)));
    if (static_cast<int64_t>(oh) != g.out[0] || static_cast<int64_t>(ow) != g.out[1])
      return internal_error(where() + "conv plan output " + std::to_string(oh) + "x" + std::to_string(ow) +
                            " differs from " + shape_to_string(g.out));
    const size_t m = params_.out_channels;
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32,
                                                        {x->dim(0), static_cast<int64_t>(m), g.out[0], g.out[1]}));
    if (y->numel() == 0) return Status::Ok();
    const float* px = x->data<float>();
    float* py = y->mutable_data<float>();
    const size_t in_image = params_.in_channels * h * w, out_image = m * oh * ow;
    for (size_t i = 0; i < n; ++i) {
      if (ctx.cancelled()) return cancelled(where() + "cancelled");
      WQ_RETURN_IF_ERROR(prefixed(f32_conv_run(*plan_, 1, h, w, px + i * in_image, py + i * out_image, &scratch_)));
    }
    return Status::Ok();
  }

 private:
  Status make_plan() {
    plan_.reset();
    Result<F32ConvPlan> plan = f32_conv_plan(params_, weights_.data<float>(),
                                             bias_ ? bias_->data<float>() : nullptr, F32Activation::none());
    WQ_RETURN_IF_ERROR(prefixed(plan.status()));
    plan_ = std::move(plan).value();
    return Status::Ok();
  }

  detail::WindowAttrs window_;
  F32ConvParams params_;
  Tensor weights_;  // kept only while the pads depend on the input size
  std::optional<Tensor> bias_;
  std::optional<F32ConvPlan> plan_;
  bool static_plan_ = false;  // planned once: the plan holds the only copy of W and B
  Shape weight_shape_;
  bool has_bias_ = false;
  F32Buffer scratch_;
};

bool valid_window_list(const std::vector<int64_t>& v, size_t want, int64_t min_value) {
  if (v.empty()) return true;
  if (v.size() != want) return false;
  return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x >= min_value; });
}

Factory make_fast_conv(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> reference, make_reference(init));
  const Tensor* w = init.constant_input(1);
  if (!is_f32(w) || w->rank() != 4) return Factory(std::move(reference));
  for (size_t d = 0; d < 4; ++d)
    if (w->dim(d) <= 0) return Factory(std::move(reference));
  const Tensor* b = nullptr;
  if (init.has_input(2)) {
    b = init.constant_input(2);
    if (!is_f32(b) || b->rank() != 1 || b->dim(0) != w->dim(0)) return Factory(std::move(reference));
  }
  // The reference factory has accepted the attributes; anything unusual that
  // it only checks against the input at run time stays with it.
  WQ_ASSIGN_OR_RETURN(detail::WindowAttrs window, detail::parse_window_attrs(init));
  WQ_ASSIGN_OR_RETURN(int64_t group, detail::int_attr(init, "group", 1));
  const std::vector<int64_t> kernel = {w->dim(2), w->dim(3)};
  if (window.ceil_mode || group <= 0 || w->dim(0) % group != 0) return Factory(std::move(reference));
  if (!window.kernel_shape.empty() && window.kernel_shape != kernel) return Factory(std::move(reference));
  if (!valid_window_list(window.strides, 2, 1) || !valid_window_list(window.dilations, 2, 1) ||
      !valid_window_list(window.pads, 4, 0)) {
    return Factory(std::move(reference));
  }
  F32ConvParams p;
  p.in_channels = static_cast<size_t>(w->dim(1) * group);
  p.out_channels = static_cast<size_t>(w->dim(0));
  p.groups = static_cast<size_t>(group);
  p.kernel_h = static_cast<size_t>(w->dim(2));
  p.kernel_w = static_cast<size_t>(w->dim(3));
  if (!window.strides.empty()) {
    p.stride_h = static_cast<size_t>(window.strides[0]);
    p.stride_w = static_cast<size_t>(window.strides[1]);
  }
  if (!window.dilations.empty()) {
    p.dilation_h = static_cast<size_t>(window.dilations[0]);
    p.dilation_w = static_cast<size_t>(window.dilations[1]);
  }
  std::optional<Tensor> bias;
  if (b != nullptr) bias = *b;
  auto k = std::make_unique<FastConvKernel>(init, std::move(reference), std::move(window), p, *w, std::move(bias));
  WQ_RETURN_IF_ERROR(k->plan_if_static());
  return std::unique_ptr<OpKernel>(std::move(k));
}

// ---------------------------------------------------------------------------
// Gemm

// What a packed Gemm can give back exactly: B when alpha is 1, C when beta
// is 1 (then the packed bias is C broadcast along the row).
struct GemmOriginals {
  bool b = false;
  Shape b_shape;
  bool b_transposed = false;
  bool c = false;
  Shape c_shape;
};

class FastGemmKernel : public FastF32Kernel {
 public:
  FastGemmKernel(const KernelInit& init, std::unique_ptr<OpKernel> reference, F32PackedGemm packed, bool trans_a,
                 GemmOriginals originals)
      : FastF32Kernel(init, std::move(reference)),
        packed_(std::move(packed)),
        trans_a_(trans_a),
        originals_(std::move(originals)) {}

  bool owns_constant_input(size_t i) const override { return (i == 1 && originals_.b) || (i == 2 && originals_.c); }

  Result<Tensor> restore_constant_input(size_t i) const override {
    if (!owns_constant_input(i)) return OpKernel::restore_constant_input(i);
    if (i == 1) {
      WQ_ASSIGN_OR_RETURN(Tensor b, Tensor::allocate(DType::kFloat32, originals_.b_shape));
      packed_.unpack(b.mutable_data<float>(), static_cast<size_t>(originals_.b_shape[1]), originals_.b_transposed,
                     nullptr);
      return b;
    }
    std::vector<float> bias(packed_.n());
    packed_.unpack(nullptr, originals_.b_transposed ? packed_.k() : packed_.n(), originals_.b_transposed,
                   bias.data());
    WQ_ASSIGN_OR_RETURN(Tensor c, Tensor::allocate(DType::kFloat32, originals_.c_shape));
    // C is [N], [1, N] or one element broadcast to all N.
    std::copy(bias.begin(), bias.begin() + c.numel(), c.mutable_data<float>());
    return c;
  }

  Status run(KernelContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const int64_t k = static_cast<int64_t>(packed_.k());
    if (!is_f32(a) || a->rank() != 2 || (trans_a_ ? a->dim(0) : a->dim(1)) != k) return run_reference(ctx);
    const int64_t m = trans_a_ ? a->dim(1) : a->dim(0);
    const int64_t n = static_cast<int64_t>(packed_.n());
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, {m, n}));
    if (y->numel() == 0) return Status::Ok();
    const float* pa = a->data<float>();
    if (trans_a_) {
      WQ_RETURN_IF_ERROR(a_t_.reserve(static_cast<size_t>(m * k), "Gemm transA"));
      float* t = a_t_.data();
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < m; ++j) t[j * k + i] = pa[i * m + j];
      pa = t;
    }
    f32_gemm_run(packed_, static_cast<size_t>(m), pa, static_cast<size_t>(k), y->mutable_data<float>(),
                 static_cast<size_t>(n));
    return Status::Ok();
  }

 private:
  F32PackedGemm packed_;
  bool trans_a_;
  GemmOriginals originals_;
  F32Buffer a_t_;
};

Factory make_fast_gemm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> reference, make_reference(init));
  WQ_ASSIGN_OR_RETURN(float alpha, detail::float_attr(init, "alpha", 1.0f));
  WQ_ASSIGN_OR_RETURN(float beta, detail::float_attr(init, "beta", 1.0f));
  WQ_ASSIGN_OR_RETURN(int64_t trans_a, detail::int_attr(init, "transA", 0));
  WQ_ASSIGN_OR_RETURN(int64_t trans_b, detail::int_attr(init, "transB", 0));
  const Tensor* b = init.constant_input(1);
  if (!is_f32(b) || b->rank() != 2 || b->numel() == 0) return Factory(std::move(reference));
  const size_t k = static_cast<size_t>(trans_b ? b->dim(1) : b->dim(0));
  const size_t n = static_cast<size_t>(trans_b ? b->dim(0) : b->dim(1));
  GemmOriginals originals;
  originals.b = alpha == 1.0f;
  originals.b_shape = b->shape();
  originals.b_transposed = trans_b != 0;
  std::vector<float> bias;
  if (init.has_input(2)) {
    const Tensor* c = init.constant_input(2);
    if (!is_f32(c)) return Factory(std::move(reference));
    const bool one = c->numel() == 1 && c->rank() <= 2;
    const bool row = (c->rank() == 1 && c->dim(0) == static_cast<int64_t>(n)) ||
                     (c->rank() == 2 && c->dim(0) == 1 && c->dim(1) == static_cast<int64_t>(n));
    if (!one && !row) return Factory(std::move(reference));  // [M, N] or [M, 1]: not a bias
    if (beta != 0.0f) {
      bias.resize(n);
      const float* pc = c->data<float>();
      // beta == 1 copies C as it is (even a signalling NaN), so it can be restored.
      for (size_t j = 0; j < n; ++j) bias[j] = beta == 1.0f ? pc[one ? 0 : j] : beta * pc[one ? 0 : j];
    }
    originals.c = beta == 1.0f;
    originals.c_shape = c->shape();
  }
  const float* pb = b->data<float>();
  std::vector<float> scaled;
  if (alpha != 1.0f) {
    scaled.resize(static_cast<size_t>(b->numel()));
    for (size_t i = 0; i < scaled.size(); ++i) scaled[i] = alpha * pb[i];
    pb = scaled.data();
  }
  Result<F32PackedGemm> packed = f32_pack_gemm(k, n, pb, static_cast<size_t>(b->dim(1)), trans_b != 0,
                                               bias.empty() ? nullptr : bias.data(), F32Activation::none());
  if (!packed.ok()) return Status(packed.status().code(), init.context() + packed.status().message());
  return std::unique_ptr<OpKernel>(new FastGemmKernel(init, std::move(reference), std::move(packed).value(),
                                                      trans_a != 0, std::move(originals)));
}

// ---------------------------------------------------------------------------
// MatMul

// B constant [K, N]: every row of A (any leading dims) through one packed GEMM.
class FastMatMulPackedKernel : public FastF32Kernel {
 public:
  FastMatMulPackedKernel(const KernelInit& init, std::unique_ptr<OpKernel> reference, F32PackedGemm packed)
      : FastF32Kernel(init, std::move(reference)), packed_(std::move(packed)) {}

  bool owns_constant_input(size_t i) const override { return i == 1; }

  Result<Tensor> restore_constant_input(size_t i) const override {
    if (i != 1) return OpKernel::restore_constant_input(i);
    const int64_t k = static_cast<int64_t>(packed_.k()), n = static_cast<int64_t>(packed_.n());
    WQ_ASSIGN_OR_RETURN(Tensor b, Tensor::allocate(DType::kFloat32, {k, n}));
    packed_.unpack(b.mutable_data<float>(), packed_.n(), false, nullptr);
    return b;
  }

  Status run(KernelContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const int64_t k = static_cast<int64_t>(packed_.k());
    if (!is_f32(a) || a->rank() == 0 || a->shape().back() != k) return run_reference(ctx);
    Shape out_shape(a->shape().begin(), a->shape().end() - 1);
    out_shape.push_back(static_cast<int64_t>(packed_.n()));
    const int64_t m = detail::dims_product(a->shape(), 0, a->rank() - 1);
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out_shape));
    if (y->numel() == 0) return Status::Ok();
    f32_gemm_run(packed_, static_cast<size_t>(m), a->data<float>(), static_cast<size_t>(k),
                 y->mutable_data<float>(), packed_.n());
    return Status::Ok();
  }

 private:
  F32PackedGemm packed_;
};

// Both operands at run time (attention): numpy batch broadcasting, one
// unpacked GEMM per output matrix.
class FastMatMulKernel : public FastF32Kernel {
 public:
  using FastF32Kernel::FastF32Kernel;

  Status run(KernelContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (!is_f32(a) || !is_f32(b) || a->rank() == 0 || b->rank() == 0) return run_reference(ctx);
    Shape sa = a->shape(), sb = b->shape();
    const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
    if (a_vec) sa.insert(sa.begin(), 1);
    if (b_vec) sb.push_back(1);
    const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
    if (sb[sb.size() - 2] != k) return run_reference(ctx);
    const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    Result<Shape> batch = detail::broadcast_shapes(batch_a, batch_b, where());
    if (!batch.ok()) return run_reference(ctx);
    Shape out_shape = *batch;
    if (!a_vec) out_shape.push_back(m);
    if (!b_vec) out_shape.push_back(n);
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out_shape));
    if (y->numel() == 0) return Status::Ok();
    float* py = y->mutable_data<float>();
    if (k == 0) {
      std::fill(py, py + y->numel(), 0.0f);
      return Status::Ok();
    }
    const std::vector<int64_t> strides[2] = {detail::broadcast_strides(batch_a, *batch),
                                             detail::broadcast_strides(batch_b, *batch)};
    const float* pa = a->data<float>();
    const float* pb = b->data<float>();
    Status status = Status::Ok();
    detail::for_each_broadcast(*batch, strides, [&](int64_t i, const int64_t* off) {
      if (!status.ok()) return;
      status = f32_gemm_run_unpacked(static_cast<size_t>(m), static_cast<size_t>(n), static_cast<size_t>(k),
                                     pa + off[0] * m * k, static_cast<size_t>(k), pb + off[1] * k * n,
                                     static_cast<size_t>(n), false, py + i * m * n, static_cast<size_t>(n),
                                     &scratch_);
    });
    return prefixed(status);
  }

 private:
  F32Buffer scratch_;
};

Factory make_fast_matmul(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> reference, make_reference(init));
  if (!init.has_input(1)) return Factory(std::move(reference));
  const Tensor* b = init.constant_input(1);
  if (!is_f32(b) && b != nullptr) return Factory(std::move(reference));
  // Run-time B, and constant B that is not one packable matrix (batched,
  // 1-D or empty): unpacked GEMMs per batch.
  if (b == nullptr || b->rank() != 2 || b->numel() == 0)
    return std::unique_ptr<OpKernel>(new FastMatMulKernel(init, std::move(reference)));
  Result<F32PackedGemm> packed = f32_pack_gemm(static_cast<size_t>(b->dim(0)), static_cast<size_t>(b->dim(1)),
                                               b->data<float>(), static_cast<size_t>(b->dim(1)), false, nullptr,
                                               F32Activation::none());
  if (!packed.ok()) return Status(packed.status().code(), init.context() + packed.status().message());
  return std::unique_ptr<OpKernel>(new FastMatMulPackedKernel(init, std::move(reference), std::move(packed).value()));
}

}  // namespace

void register_fast_f32_ops(OpRegistry& r) {
  r.add("", "Conv", 1, kMaxSupportedOpset, make_fast_conv);
  r.add("", "Gemm", kMinSupportedOpset, kMaxSupportedOpset, make_fast_gemm);
  r.add("", "MatMul", 1, kMaxSupportedOpset, make_fast_matmul);
}

}  // namespace wq
