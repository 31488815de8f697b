// The scalar references of the int8 GEMM family: the integer accumulator
// (qs8_gemm_acc__scalar), requantization to 8 bits (qs8_gemm__scalar) and the
// dynamic float output (qd8_f32_gemm__scalar). Obviously correct and slow:
// the tests hold every fast path (core/kernels/qgemm.cc drivers, the
// wasmsimd micro-kernels, Strassen-Winograd) against them.
#include "core/kernels/qgemm.h"

#include <cstddef>
#include <cstdint>

#include "core/qparams.h"

namespace wq {

// ---- reference --------------------------------------------------------------

namespace {
inline int32_t load_q8(const void* p, bool is_signed, size_t i) {
  return is_signed ? int32_t(static_cast<const int8_t*>(p)[i]) : int32_t(static_cast<const uint8_t*>(p)[i]);
}
}  // namespace

void qs8_gemm_acc__scalar(size_t m, size_t n, size_t k, const void* a, bool a_signed, size_t lda, int32_t a_zp,
                          const void* w, bool w_signed, size_t w_k_stride, size_t w_n_stride, const int32_t* w_zp,
                          bool w_zp_per_column, const int32_t* bias, int32_t* acc, size_t ldacc) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const int32_t zw = w_zp ? w_zp[w_zp_per_column ? j : 0] : 0;
      // Modular int32 arithmetic, like the SIMD kernels (and without signed-overflow UB).
      uint32_t sum = bias ? uint32_t(bias[j]) : 0u;
      for (size_t kk = 0; kk < k; ++kk) {
        const int32_t av = load_q8(a, a_signed, i * lda + kk) - a_zp;
        const int32_t wv = load_q8(w, w_signed, kk * w_k_stride + j * w_n_stride) - zw;
        sum += uint32_t(av * wv);
      }
      acc[i * ldacc + j] = int32_t(sum);
    }
  }
}

void qs8_gemm__scalar(size_t m, size_t n, const int32_t* acc, size_t ldacc, const QGemmRequantParams& p, void* c,
                      size_t ldc) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int32_t a = acc[i * ldacc + j];
      const float s = p.scale_per_row ? p.scale[i] : p.scale[j];
      if (p.scale_per_row && p.row_bias) a = int32_t(uint32_t(a) + uint32_t(p.row_bias[i]));
      const int32_t q = requantize_fp32(a, s, p.zero_point, p.qmin, p.qmax);
      if (p.output_signed) {
        static_cast<int8_t*>(c)[i * ldc + j] = int8_t(q);
      } else {
        static_cast<uint8_t*>(c)[i * ldc + j] = uint8_t(q);
      }
    }
  }
}

void qd8_f32_gemm__scalar(size_t m, size_t n, const int32_t* acc, size_t ldacc, const QGemmF32Params& p, float* c,
                          size_t ldc) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const float s = p.a_scale[i] * p.w_scale[j];
      c[i * ldc + j] = float(acc[i * ldacc + j]) * s + (p.bias ? p.bias[j] : 0.0f);
    }
  }
}

}  // namespace wq
