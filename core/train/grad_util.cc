#include "core/train/grad_util.h"

#include <cmath>
#include <cstring>

#include "core/kernels/f32_gemm.h"
#include "core/ops/ops_util.h"

namespace wq {
namespace detail {

Status gemm_f32(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
                const float* b, size_t ldb, bool accumulate, float* c, size_t ldc, GemmScratch* scratch) {
  if (m == 0 || n == 0) return Status::Ok();
  if (k == 0) {
    if (!accumulate)
      for (size_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, n * sizeof(float));
    return Status::Ok();
  }
  // The kernels take A untransposed: copy op(A) once (m * k against 2 * m * n * k FLOPs).
  if (trans_a) {
    if (m > kF32BufferMaxBytes / sizeof(float) / k) return out_of_memory("gemm_f32: A is too large");
    WQ_RETURN_IF_ERROR(scratch->a_t.reserve(m * k, "gemm_f32 transposed A"));
    float* t = scratch->a_t.data();
    for (size_t j = 0; j < k; ++j) {
      const float* row = a + j * lda;
      for (size_t i = 0; i < m; ++i) t[i * k + j] = row[i];
    }
    a = t;
    lda = k;
  }
  const bool direct = !accumulate && alpha == 1.0f;
  float* dst = c;
  size_t ldd = ldc;
  if (!direct) {
    if (m > kF32BufferMaxBytes / sizeof(float) / n) return out_of_memory("gemm_f32: C is too large");
    WQ_RETURN_IF_ERROR(scratch->c_tmp.reserve(m * n, "gemm_f32 product"));
    dst = scratch->c_tmp.data();
    ldd = n;
  }
  WQ_RETURN_IF_ERROR(f32_gemm_run_unpacked(m, n, k, a, lda, b, ldb, trans_b, dst, ldd, &scratch->packed_b));
  if (!direct) {
    for (size_t i = 0; i < m; ++i) {
      float* crow = c + i * ldc;
      const float* drow = dst + i * n;
      if (accumulate) {
        for (size_t j = 0; j < n; ++j) crow[j] += alpha * drow[j];
      } else {
        for (size_t j = 0; j < n; ++j) crow[j] = alpha * drow[j];
      }
    }
  }
  return Status::Ok();
}

void add_reduced_to_shape(const float* grad, const Shape& from, const Shape& to, float* out) {
  const int64_t total = shape_numel(from);
  if (total <= 0) return;
  const int64_t to_numel = shape_numel(to);
  if (to_numel == total) {
    for (int64_t i = 0; i < total; ++i) out[i] += grad[i];
    return;
  }
  if (to_numel == 1) {
    double s = 0;
    for (int64_t i = 0; i < total; ++i) s += grad[i];
    out[0] += static_cast<float>(s);
    return;
  }
  const std::vector<int64_t> strides[1] = {broadcast_strides(to, from)};
  for_each_broadcast(from, strides, [&](int64_t i, const int64_t* off) { out[off[0]] += grad[i]; });
}

Result<Tensor> zeros_f32(const Shape& shape, const std::string& where) {
  Result<Tensor> t = Tensor::zeros(DType::kFloat32, shape);
  if (!t.ok()) return t.status().with_context(where);
  return t;
}

Status require_f32(const Tensor* t, const std::string& what) {
  if (t == nullptr) return invalid_argument(what + " is missing");
  if (t->dtype() != DType::kFloat32)
    return unsupported(what + " has element type " + dtype_name(t->dtype()) + "; training supports float only");
  return Status::Ok();
}

void transpose_f32(const float* in, const Shape& in_shape, const std::vector<int64_t>& perm, float* out) {
  const size_t rank = in_shape.size();
  const int64_t total = shape_numel(in_shape);
  if (total <= 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const std::vector<int64_t> in_strides = contiguous_strides(in_shape);
  Shape out_shape(rank);
  std::vector<int64_t> src_strides(rank);  // input stride of each output dim
  for (size_t d = 0; d < rank; ++d) {
    out_shape[d] = in_shape[static_cast<size_t>(perm[d])];
    src_strides[d] = in_strides[static_cast<size_t>(perm[d])];
  }
  const std::vector<int64_t> strides[1] = {src_strides};
  // for_each_broadcast walks `out_shape` row-major and tracks the input offset.
  for_each_broadcast(out_shape, strides, [&](int64_t i, const int64_t* off) { out[i] = in[off[0]]; });
}

int64_t first_non_finite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace detail
}  // namespace wq
