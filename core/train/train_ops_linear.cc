// Gemm and MatMul, forward on the fast f32 GEMM kernels exactly as the
// runtime's fast path computes them (core/ops/fast_f32.cc: alpha folded into
// the packed B, beta * C as the packed bias), backward as two GEMMs each.
#include <optional>

#include "core/kernels/f32_gemm.h"
#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

// ---- Gemm: Y = alpha * op(A) * op(B) + beta * C ---------------------------------

class TrainGemm final : public TrainOp {
 public:
  TrainGemm(const KernelInit& init, float alpha, float beta, bool trans_a, bool trans_b)
      : where_(init.context()), alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  // Frozen B and C (both constant) are packed once.
  Status pack_constant(const Tensor* b, const Tensor* c) {
    WQ_RETURN_IF_ERROR(check_b(b));
    if (c != nullptr) WQ_RETURN_IF_ERROR(require_f32(c, where_ + "C"));
    const int64_t n = trans_b_ ? b->dim(0) : b->dim(1);
    if (c != nullptr && !is_bias_row(*c, n)) return Status::Ok();
    WQ_ASSIGN_OR_RETURN(F32PackedGemm packed, pack(*b, c));
    cached_ = std::move(packed);
    return Status::Ok();
  }

  Status forward(TrainOpContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    const Tensor* c = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    WQ_RETURN_IF_ERROR(require_f32(a, where_ + "A"));
    WQ_RETURN_IF_ERROR(check_b(b));
    if (c != nullptr) WQ_RETURN_IF_ERROR(require_f32(c, where_ + "C"));
    if (a->rank() != 2) return invalid_argument(where_ + "A must be 2-D, got " + shape_to_string(a->shape()));
    const int64_t m = trans_a_ ? a->dim(1) : a->dim(0), k = trans_a_ ? a->dim(0) : a->dim(1);
    const int64_t kb = trans_b_ ? b->dim(1) : b->dim(0), n = trans_b_ ? b->dim(0) : b->dim(1);
    if (k != kb)
      return invalid_argument(where_ + "inner dimensions differ: A " + shape_to_string(a->shape()) + ", B " +
                              shape_to_string(b->shape()));
    const bool row_bias = c == nullptr || is_bias_row(*c, n);
    if (c != nullptr && !row_bias) {
      Result<Shape> s = broadcast_shapes(c->shape(), {m, n}, where_);
      if (!s.ok() || *s != Shape{m, n})
        return invalid_argument(where_ + "C of shape " + shape_to_string(c->shape()) + " does not broadcast to [" +
                                std::to_string(m) + "," + std::to_string(n) + "]");
    }
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, {m, n}));
    if (y->numel() == 0) return Status::Ok();
    std::optional<F32PackedGemm> fresh;
    const F32PackedGemm* packed = cached_ ? &*cached_ : nullptr;
    if (packed == nullptr) {
      WQ_ASSIGN_OR_RETURN(F32PackedGemm p, pack(*b, row_bias ? c : nullptr));
      fresh = std::move(p);
      packed = &*fresh;
    }
    const float* pa = a->data<float>();
    if (trans_a_) {
      WQ_RETURN_IF_ERROR(a_t_.reserve(static_cast<size_t>(m * k), "Gemm transA"));
      float* t = a_t_.data();
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < m; ++j) t[j * k + i] = pa[i * m + j];
      pa = t;
    }
    float* py = y->mutable_data<float>();
    if (k == 0) {
      std::fill(py, py + m * n, 0.0f);
    } else {
      f32_gemm_run(*packed, static_cast<size_t>(m), pa, static_cast<size_t>(k), py, static_cast<size_t>(n));
    }
    if (c != nullptr && (!row_bias || k == 0) && beta_ != 0.0f) {
      // beta * C broadcast over the rows and/or columns ([M, N], [M, 1]).
      const std::vector<int64_t> strides[1] = {broadcast_strides(c->shape(), {m, n})};
      const float* pc = c->data<float>();
      for_each_broadcast(Shape{m, n}, strides, [&](int64_t i, const int64_t* off) { py[i] += beta_ * pc[off[0]]; });
    }
    return Status::Ok();
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* g = ctx.output_grad(0);
    if (g == nullptr) return Status::Ok();
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    const size_t m = static_cast<size_t>(g->dim(0)), n = static_cast<size_t>(g->dim(1));
    const size_t k = static_cast<size_t>(trans_a_ ? a->dim(0) : a->dim(1));
    const float* pg = g->data<float>();
    const float* pa = a->data<float>();
    const float* pb = b->data<float>();
    const size_t lda = static_cast<size_t>(a->dim(1)), ldb = static_cast<size_t>(b->dim(1));
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(float* da, ctx.input_grad(0));
      if (!trans_a_) {
        // dA[m x k] = alpha * G * op(B)^T
        WQ_RETURN_IF_ERROR(gemm_f32(false, !trans_b_, m, k, n, alpha_, pg, n, pb, ldb, true, da, k, &scratch_));
      } else {
        // dA[k x m] = alpha * op(B) * G^T
        WQ_RETURN_IF_ERROR(gemm_f32(trans_b_, true, k, m, n, alpha_, pb, ldb, pg, n, true, da, m, &scratch_));
      }
    }
    if (ctx.needs_input_grad(1)) {
      WQ_ASSIGN_OR_RETURN(float* db, ctx.input_grad(1));
      if (!trans_b_) {
        // dB[k x n] = alpha * op(A)^T * G
        WQ_RETURN_IF_ERROR(gemm_f32(!trans_a_, false, k, n, m, alpha_, pa, lda, pg, n, true, db, n, &scratch_));
      } else {
        // dB[n x k] = alpha * G^T * op(A)
        WQ_RETURN_IF_ERROR(gemm_f32(true, trans_a_, n, k, m, alpha_, pg, n, pa, lda, true, db, k, &scratch_));
      }
    }
    if (ctx.num_inputs() > 2 && ctx.needs_input_grad(2) && beta_ != 0.0f) {
      const Tensor* c = ctx.input(2);
      WQ_ASSIGN_OR_RETURN(float* dc, ctx.input_grad(2));
      std::vector<float> sum(static_cast<size_t>(c->numel()), 0.0f);
      add_reduced_to_shape(pg, g->shape(), c->shape(), sum.data());
      for (size_t i = 0; i < sum.size(); ++i) dc[i] += beta_ * sum[i];
    }
    return Status::Ok();
  }

 private:
  Status check_b(const Tensor* b) const {
    WQ_RETURN_IF_ERROR(require_f32(b, where_ + "B"));
    if (b->rank() != 2) return invalid_argument(where_ + "B must be 2-D, got " + shape_to_string(b->shape()));
    return Status::Ok();
  }

  static bool is_bias_row(const Tensor& c, int64_t n) {
    return (c.numel() == 1 && c.rank() <= 2) || (c.rank() == 1 && c.dim(0) == n) ||
           (c.rank() == 2 && c.dim(0) == 1 && c.dim(1) == n);
  }

  // As make_fast_gemm: alpha * B packed, beta * C (a row) as the bias.
  Result<F32PackedGemm> pack(const Tensor& b, const Tensor* c) {
    const size_t k = static_cast<size_t>(trans_b_ ? b.dim(1) : b.dim(0));
    const size_t n = static_cast<size_t>(trans_b_ ? b.dim(0) : b.dim(1));
    bias_.clear();
    if (c != nullptr && beta_ != 0.0f) {
      bias_.resize(n);
      const bool one = c->numel() == 1;
      const float* pc = c->data<float>();
      for (size_t j = 0; j < n; ++j) bias_[j] = beta_ * pc[one ? 0 : j];
    }
    const float* pb = b.data<float>();
    if (alpha_ != 1.0f) {
      scaled_.resize(static_cast<size_t>(b.numel()));
      for (size_t i = 0; i < scaled_.size(); ++i) scaled_[i] = alpha_ * pb[i];
      pb = scaled_.data();
    }
    Result<F32PackedGemm> packed = f32_pack_gemm(k, n, pb, static_cast<size_t>(b.dim(1)), trans_b_,
                                                 bias_.empty() ? nullptr : bias_.data(), F32Activation::none());
    if (!packed.ok()) return packed.status().with_context(where_);
    return packed;
  }

  std::string where_;
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  std::optional<F32PackedGemm> cached_;
  std::vector<float> bias_, scaled_;
  F32Buffer a_t_;
  GemmScratch scratch_;
};

// ---- MatMul: numpy matmul with batch broadcasting -------------------------------------

struct MatMulShapes {
  Shape sa, sb;            // promoted to rank >= 2
  Shape batch_a, batch_b, batch;
  int64_t m = 0, k = 0, n = 0;
  Shape out;
};

Result<MatMulShapes> matmul_shapes(const Tensor& a, const Tensor& b, const std::string& where) {
  if (a.rank() == 0 || b.rank() == 0) return invalid_argument(where + "inputs must have rank >= 1");
  MatMulShapes s;
  s.sa = a.shape();
  s.sb = b.shape();
  const bool a_vec = s.sa.size() == 1, b_vec = s.sb.size() == 1;
  if (a_vec) s.sa.insert(s.sa.begin(), 1);
  if (b_vec) s.sb.push_back(1);
  s.m = s.sa[s.sa.size() - 2];
  s.k = s.sa.back();
  s.n = s.sb.back();
  if (s.sb[s.sb.size() - 2] != s.k)
    return invalid_argument(where + "inner dimensions differ: " + shape_to_string(a.shape()) + " x " +
                            shape_to_string(b.shape()));
  s.batch_a.assign(s.sa.begin(), s.sa.end() - 2);
  s.batch_b.assign(s.sb.begin(), s.sb.end() - 2);
  WQ_ASSIGN_OR_RETURN(s.batch, broadcast_shapes(s.batch_a, s.batch_b, where));
  s.out = s.batch;
  if (!a_vec) s.out.push_back(s.m);
  if (!b_vec) s.out.push_back(s.n);
  return s;
}

class TrainMatMul final : public TrainOp {
 public:
  explicit TrainMatMul(const KernelInit& init) : where_(init.context()) {}

  Status forward(TrainOpContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    WQ_RETURN_IF_ERROR(require_f32(a, where_ + "A"));
    WQ_RETURN_IF_ERROR(require_f32(b, where_ + "B"));
    WQ_ASSIGN_OR_RETURN(MatMulShapes s, matmul_shapes(*a, *b, where_));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, s.out));
    if (y->numel() == 0) return Status::Ok();
    float* py = y->mutable_data<float>();
    const float* pa = a->data<float>();
    const float* pb = b->data<float>();
    const size_t k = static_cast<size_t>(s.k), n = static_cast<size_t>(s.n);
    if (s.batch_b.empty()) {
      // One GEMM over every row of A (the runtime's packed path for a 2-D B).
      const size_t rows = static_cast<size_t>(a->numel() / std::max<int64_t>(s.k, 1));
      return gemm_f32(false, false, rows, n, k, 1.0f, pa, k, pb, n, false, py, n, &scratch_).with_context(where_);
    }
    const std::vector<int64_t> strides[2] = {broadcast_strides(s.batch_a, s.batch),
                                             broadcast_strides(s.batch_b, s.batch)};
    const size_t m = static_cast<size_t>(s.m);
    Status status = Status::Ok();
    for_each_broadcast(s.batch, strides, [&](int64_t i, const int64_t* off) {
      if (!status.ok()) return;
      status = gemm_f32(false, false, m, n, k, 1.0f, pa + off[0] * m * k, k, pb + off[1] * k * n, n, false,
                        py + i * m * n, n, &scratch_);
    });
    return status.ok() ? status : status.with_context(where_);
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* g = ctx.output_grad(0);
    if (g == nullptr) return Status::Ok();
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    WQ_ASSIGN_OR_RETURN(MatMulShapes s, matmul_shapes(*a, *b, where_));
    const float* pg = g->data<float>();
    const float* pa = a->data<float>();
    const float* pb = b->data<float>();
    const size_t m = static_cast<size_t>(s.m), k = static_cast<size_t>(s.k), n = static_cast<size_t>(s.n);
    float* da = nullptr;
    float* db = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(da, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(1)) {
      WQ_ASSIGN_OR_RETURN(db, ctx.input_grad(1));
    }
    if (s.batch_b.empty()) {
      const size_t rows = static_cast<size_t>(a->numel() / std::max<int64_t>(s.k, 1));
      // dA[rows x k] = G * B^T;  dB[k x n] = A^T * G
      if (da) WQ_RETURN_IF_ERROR(gemm_f32(false, true, rows, k, n, 1.0f, pg, n, pb, n, true, da, k, &scratch_));
      if (db) WQ_RETURN_IF_ERROR(gemm_f32(true, false, k, n, rows, 1.0f, pa, k, pg, n, true, db, n, &scratch_));
      return Status::Ok();
    }
    const std::vector<int64_t> strides[2] = {broadcast_strides(s.batch_a, s.batch),
                                             broadcast_strides(s.batch_b, s.batch)};
    Status status = Status::Ok();
    for_each_broadcast(s.batch, strides, [&](int64_t i, const int64_t* off) {
      if (!status.ok()) return;
      const float* gi = pg + i * m * n;
      if (da) {
        status = gemm_f32(false, true, m, k, n, 1.0f, gi, n, pb + off[1] * k * n, n, true, da + off[0] * m * k, k,
                          &scratch_);
      }
      if (db && status.ok()) {
        status = gemm_f32(true, false, k, n, m, 1.0f, pa + off[0] * m * k, k, gi, n, true, db + off[1] * k * n, n,
                          &scratch_);
      }
    });
    return status;
  }

 private:
  std::string where_;
  GemmScratch scratch_;
};

}  // namespace

Result<std::unique_ptr<TrainOp>> make_train_gemm(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(float alpha, float_attr(init, "alpha", 1.0f));
  WQ_ASSIGN_OR_RETURN(float beta, float_attr(init, "beta", 1.0f));
  WQ_ASSIGN_OR_RETURN(int64_t trans_a, int_attr(init, "transA", 0));
  WQ_ASSIGN_OR_RETURN(int64_t trans_b, int_attr(init, "transB", 0));
  auto op = std::make_unique<TrainGemm>(init, alpha, beta, trans_a != 0, trans_b != 0);
  const Tensor* b = init.constant_input(1);
  const bool c_constant = !init.has_input(2) || init.constant_input(2) != nullptr;
  if (b != nullptr && c_constant) WQ_RETURN_IF_ERROR(op->pack_constant(b, init.has_input(2) ? init.constant_input(2) : nullptr));
  return std::unique_ptr<TrainOp>(std::move(op));
}

Result<std::unique_ptr<TrainOp>> make_train_matmul(const TrainOpInit& init) {
  return std::unique_ptr<TrainOp>(new TrainMatMul(init));
}

}  // namespace detail
}  // namespace wq
