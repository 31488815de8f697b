// Gemm and MatMul on top of detail::gemm_ref.
#include <algorithm>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;
using MatTypes = detail::TypeList<float, double, detail::Float16, detail::BFloat16, int32_t, int64_t, uint32_t,
                                  uint64_t>;

// Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcast to [M, N].
class GemmKernel : public detail::NodeKernel {
 public:
  GemmKernel(const KernelInit& init, float alpha, float beta, bool trans_a, bool trans_b)
      : NodeKernel(init), alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
    const Tensor* c = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    if (a->rank() != 2 || b->rank() != 2)
      return invalid_argument(where() + "A and B must be 2-D, got " + shape_to_string(a->shape()) + " and " +
                              shape_to_string(b->shape()));
    if (a->dtype() != b->dtype() || (c && c->dtype() != a->dtype()))
      return invalid_argument(where() + "A, B and C must have the same type");
    const int64_t M = trans_a_ ? a->dim(1) : a->dim(0);
    const int64_t K = trans_a_ ? a->dim(0) : a->dim(1);
    const int64_t KB = trans_b_ ? b->dim(1) : b->dim(0);
    const int64_t N = trans_b_ ? b->dim(0) : b->dim(1);
    if (K != KB)
      return invalid_argument(where() + "inner dimensions differ: A " + shape_to_string(a->shape()) + " B " +
                              shape_to_string(b->shape()));
    const Shape out_shape = {M, N};
    if (c) {
      // C must broadcast unidirectionally to [M, N].
      WQ_ASSIGN_OR_RETURN(Shape s, detail::broadcast_shapes(c->shape(), out_shape, where()));
      if (s != out_shape || c->rank() > 2)
        return invalid_argument(where() + "C of shape " + shape_to_string(c->shape()) +
                                " does not broadcast to " + shape_to_string(out_shape));
    }
    return detail::visit_dtype<MatTypes>(a->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, a->dtype(), out_shape));
      T* py = y->mutable_data<T>();
      Compute<T> beta = static_cast<Compute<T>>(beta_);
      if (c && beta != Compute<T>(0)) {
        const std::vector<int64_t> strides[1] = {detail::broadcast_strides(c->shape(), out_shape)};
        const T* pc = c->data<T>();
        detail::for_each_broadcast(out_shape, strides, [&](int64_t i, const int64_t* off) { py[i] = pc[off[0]]; });
      } else {
        beta = Compute<T>(0);
      }
      detail::gemm_ref<T>(trans_a_, trans_b_, M, N, K, static_cast<Compute<T>>(alpha_), a->data<T>(), a->dim(1),
                          b->data<T>(), b->dim(1), beta, py, N);
      return Status::Ok();
    });
  }

 private:
  float alpha_, beta_;
  bool trans_a_, trans_b_;
};

Result<std::unique_ptr<OpKernel>> make_gemm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(float alpha, detail::float_attr(init, "alpha", 1.0f));
  WQ_ASSIGN_OR_RETURN(float beta, detail::float_attr(init, "beta", 1.0f));
  WQ_ASSIGN_OR_RETURN(int64_t trans_a, detail::int_attr(init, "transA", 0));
  WQ_ASSIGN_OR_RETURN(int64_t trans_b, detail::int_attr(init, "transB", 0));
  return std::unique_ptr<OpKernel>(new GemmKernel(init, alpha, beta, trans_a != 0, trans_b != 0));
}

// MatMul with numpy semantics: 1-D operands are promoted to matrices and the
// added dim removed again; leading (batch) dims broadcast.
class MatMulKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
    if (a->dtype() != b->dtype()) return invalid_argument(where() + "A and B must have the same type");
    if (a->rank() == 0 || b->rank() == 0) return invalid_argument(where() + "MatMul inputs must not be scalars");
    Shape sa = a->shape(), sb = b->shape();
    const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
    if (a_vec) sa.insert(sa.begin(), 1);
    if (b_vec) sb.push_back(1);
    const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
    if (sb[sb.size() - 2] != K)
      return invalid_argument(where() + "inner dimensions differ: " + shape_to_string(a->shape()) + " x " +
                              shape_to_string(b->shape()));
    const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    WQ_ASSIGN_OR_RETURN(Shape batch, detail::broadcast_shapes(batch_a, batch_b, where()));
    Shape out_shape = batch;
    if (!a_vec) out_shape.push_back(M);
    if (!b_vec) out_shape.push_back(N);

    return detail::visit_dtype<MatTypes>(a->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, a->dtype(), out_shape));
      if (y->numel() == 0) return Status::Ok();
      // Offsets of each batch's matrices, in units of whole matrices.
      const std::vector<int64_t> strides[2] = {detail::broadcast_strides(batch_a, batch),
                                               detail::broadcast_strides(batch_b, batch)};
      const T* pa = a->data<T>();
      const T* pb = b->data<T>();
      T* py = y->mutable_data<T>();
      auto one = [&](int64_t i, const int64_t* off) {
        detail::gemm_ref<T>(false, false, M, N, K, Compute<T>(1), pa + off[0] * M * K, K, pb + off[1] * K * N, N,
                            Compute<T>(0), py + i * M * N, N);
      };
      detail::for_each_broadcast(batch, strides, one);  // calls once for rank-0 batch
      return Status::Ok();
    });
  }
};

}  // namespace

void register_gemm_ops(OpRegistry& r) {
  r.add("", "Gemm", kMinSupportedOpset, kMaxSupportedOpset, make_gemm);
  r.add("", "MatMul", 1, kMaxSupportedOpset, detail::simple_factory<MatMulKernel>());
}

}  // namespace wq
