// Helpers shared by the backward passes in core/train (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/kernels/f32_buffer.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {
namespace detail {

// Scratch for gemm_f32: a transposed A and a packed B, grown as needed.
struct GemmScratch {
  F32Buffer a_t;
  F32Buffer packed_b;
  F32Buffer c_tmp;
};

// C[m x n] (row stride ldc) = alpha * op(A) * op(B) + (accumulate ? C : 0).
//   op(A) is m x k: A stored m x k (lda >= k), or with trans_a stored k x m (lda >= m).
//   op(B) is k x n: B stored k x n (ldb >= n), or with trans_b stored n x k (ldb >= k).
// Runs on the fast f32 GEMM kernels (f32_gemm_run_unpacked).
Status gemm_f32(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
                const float* b, size_t ldb, bool accumulate, float* c, size_t ldc, GemmScratch* scratch);

// Sums `grad` (shape `from`) over the dims broadcast from `to` (numpy rules:
// `to` right-aligned against `from`) and adds the result into `out` (numel of
// `to`). `to` must broadcast to `from`.
void add_reduced_to_shape(const float* grad, const Shape& from, const Shape& to, float* out);

// A float32 tensor of `shape` filled with zeros, with `where` on errors.
Result<Tensor> zeros_f32(const Shape& shape, const std::string& where);

// Requires a float32 tensor; kUnsupported naming `what` otherwise.
Status require_f32(const Tensor* t, const std::string& what);

// Permutes the dims of a row-major tensor: out dim d is in dim perm[d].
void transpose_f32(const float* in, const Shape& in_shape, const std::vector<int64_t>& perm, float* out);

// Index of the first non-finite value, or -1.
int64_t first_non_finite(const float* x, size_t n);

}  // namespace detail
}  // namespace wq
