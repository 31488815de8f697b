// Weight packing for the f32 GEMM families (done once, when a plan is built).
#include <cassert>
#include <cstdint>
#include <cstring>

#include "core/kernels/f32_gemm.h"

namespace wq {

namespace {

// panels * (nr + k * nr) floats, SIZE_MAX if that does not fit (size_t is 32
// bits under WASM); no allocation accepts SIZE_MAX.
size_t panel_floats(size_t count, size_t nr, size_t k) {
  const uint64_t panels = (static_cast<uint64_t>(count) + nr - 1) / nr;
  if (k >= UINT64_MAX / nr - 1) return SIZE_MAX;
  const uint64_t per_panel = nr + static_cast<uint64_t>(k) * nr;
  if (panels > UINT64_MAX / per_panel) return SIZE_MAX;
  const uint64_t total = panels * per_panel;
  return total > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(total);
}

}  // namespace

size_t f32_pack_gemm_w_size(size_t k, size_t n) { return panel_floats(n, kF32GemmNr, k); }

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

size_t f32_pack_gemm_chw_w_size(size_t m, size_t k) { return panel_floats(m, kF32GemmChwMr, k); }

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
