// Weight packing for the f32 GEMM families (done once, when a plan is built).
#include <cassert>
#include <cstring>

#include "core/kernels/f32_gemm.h"

namespace wq {

size_t f32_pack_gemm_w_size(size_t k, size_t n) {
  const size_t panels = (n + kF32GemmNr - 1) / kF32GemmNr;
  return panels * (kF32GemmNr + k * kF32GemmNr);
}

void f32_pack_gemm_w(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed, const float* bias,
                     float* packed) {
  assert(b != nullptr || k == 0 || n == 0);
  assert(b_transposed ? ldb >= k : ldb >= n);
  constexpr size_t nr = kF32GemmNr;
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    const size_t cols = n - j0 < nr ? n - j0 : nr;
    for (size_t j = 0; j < nr; ++j) *packed++ = (j < cols && bias != nullptr) ? bias[j0 + j] : 0.0f;
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < nr; ++j) {
        float v = 0.0f;
        if (j < cols) v = b_transposed ? b[(j0 + j) * ldb + kk] : b[kk * ldb + j0 + j];
        *packed++ = v;
      }
    }
  }
}

size_t f32_pack_gemm_chw_w_size(size_t m, size_t k) {
  const size_t panels = (m + kF32GemmChwMr - 1) / kF32GemmChwMr;
  return panels * (kF32GemmChwMr + k * kF32GemmChwMr);
}

void f32_pack_gemm_chw_w(size_t m, size_t k, const float* w, size_t ldw, const float* bias, float* packed) {
  assert(w != nullptr || k == 0 || m == 0);
  assert(ldw >= k);
  constexpr size_t mr = kF32GemmChwMr;
  for (size_t i0 = 0; i0 < m; i0 += mr) {
    const size_t rows = m - i0 < mr ? m - i0 : mr;
    for (size_t i = 0; i < mr; ++i) *packed++ = (i < rows && bias != nullptr) ? bias[i0 + i] : 0.0f;
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t i = 0; i < mr; ++i) *packed++ = i < rows ? w[(i0 + i) * ldw + kk] : 0.0f;
    }
  }
}

}  // namespace wq
