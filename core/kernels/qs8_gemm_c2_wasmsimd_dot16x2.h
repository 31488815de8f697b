// The MRx8c2 dot16x2 GEMM body shared by every qs8 GEMM kernel file (internal).
// See core/kernels/qgemm.h for the operand formats and the register tile.
//
// Owner: q8k.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/kernels/qgemm.h"
#include "core/kernels/qsimd_util.h"
#include "core/kernels/simd.h"

namespace wq {
namespace detail {

// The accumulator array must never reach memory: if the epilogue is not
// inlined, clang keeps acc[][] in memory and the inner loop stores all eight
// accumulators every k pair (measured: 20% slower under V8).
#if defined(__GNUC__)
#define WQ_QGEMM_INLINE inline __attribute__((always_inline))
#else
#define WQ_QGEMM_INLINE inline
#endif
// GCC (native builds) does not fully unroll the MR loops on its own and then
// keeps the accumulators in memory; clang does.
#if defined(__GNUC__) && !defined(__clang__)
#define WQ_QGEMM_UNROLL _Pragma("GCC unroll 8")
#else
#define WQ_QGEMM_UNROLL
#endif

// Two weight vectors (columns 0-3 and 4-7, k pairs interleaved) as int16.
inline void qgemm_load_w(const int8_t* w, v128_t* w0, v128_t* w1) {
  // i16x8.load8x8_s: one pmovsxbw with a memory operand on x64.
  *w0 = wasm_i16x8_load8x8(w);
  *w1 = wasm_i16x8_load8x8(w + 8);
}
inline void qgemm_load_w(const int16_t* w, v128_t* w0, v128_t* w1) {
  *w0 = wasm_v128_load(w);
  *w1 = wasm_v128_load(w + 8);
}

// acc[i][0..1] += A[i][kk..kk+1] (broadcast pair) . W pair panel.
template <size_t MR, typename WT>
WQ_QGEMM_INLINE void qgemm_step(const int16_t* const* ar, size_t kk, const WT* wp, v128_t (*acc)[2]) {
  v128_t w0, w1;
  qgemm_load_w(wp, &w0, &w1);
  WQ_QGEMM_UNROLL
  for (size_t i = 0; i < MR; ++i) {
    const v128_t va = wasm_v128_load32_splat(ar[i] + kk);
    acc[i][0] = wasm_i32x4_add(acc[i][0], wasm_i32x4_dot_i16x8(va, w0));
    acc[i][1] = wasm_i32x4_add(acc[i][1], wasm_i32x4_dot_i16x8(va, w1));
  }
}

// Walks the nc columns panel by panel; `epi(acc, n0, nb)` stores one MR x nb tile.
template <size_t MR, typename WT, class Epilogue>
inline void qgemm_c2(size_t nc, size_t kc2, const int16_t* a, size_t a_stride, const void* w, Epilogue& epi) {
  const int16_t* ar[MR];
  WQ_QGEMM_UNROLL
  for (size_t i = 0; i < MR; ++i) ar[i] = a + i * a_stride;
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  for (size_t n0 = 0; n0 < nc; n0 += kQGemmNr) {
    v128_t acc[MR][2];
    const v128_t b0 = wasm_v128_load(wb);
    const v128_t b1 = wasm_v128_load(wb + 16);
    WQ_QGEMM_UNROLL
    for (size_t i = 0; i < MR; ++i) {
      acc[i][0] = b0;
      acc[i][1] = b1;
    }
    const WT* wp = reinterpret_cast<const WT*>(wb + 32);
    // One k pair per iteration: unrolling further makes V8 keep two sets of
    // broadcasts and weights live and spill accumulators (measured).
#if defined(__clang__)
#pragma clang loop unroll(disable)
#endif
    for (size_t kk = 0; kk < kc2; kk += 2) {
      qgemm_step<MR>(ar, kk, wp, acc);
      wp += 16;
    }
    wb = reinterpret_cast<const uint8_t*>(wp);
    const size_t nb = nc - n0 < kQGemmNr ? nc - n0 : kQGemmNr;
    epi.template store<MR>(acc, n0, nb);
  }
}

struct QGemmRequantEpilogue {
  const QGemmRequantParams* p;
  uint8_t* c;  // int8 or uint8 storage, same bytes
  size_t cm_stride;

  template <size_t MR>
  WQ_QGEMM_INLINE void store(v128_t (*acc)[2], size_t n0, size_t nb) {
    const RequantFp32 rq(1.0f, p->zero_point, p->qmin, p->qmax);
    v128_t s0 = rq.scale, s1 = rq.scale;  // per column: loaded below; per row: splatted per row
    if (!p->scale_per_row) {
      float sbuf[kQGemmNr];
      const float* s = p->scale + n0;
      if (nb < kQGemmNr) {
        std::memcpy(sbuf, s, nb * sizeof(float));
        for (size_t j = nb; j < kQGemmNr; ++j) sbuf[j] = 0.0f;
        s = sbuf;
      }
      s0 = wasm_v128_load(s);
      s1 = wasm_v128_load(s + 4);
    }
    WQ_QGEMM_UNROLL
    for (size_t i = 0; i < MR; ++i) {
      v128_t a0 = acc[i][0], a1 = acc[i][1];
      if (p->scale_per_row) {
        s0 = s1 = wasm_f32x4_splat(p->scale[i]);
        if (p->row_bias) {
          const v128_t b = wasm_i32x4_splat(p->row_bias[i]);
          a0 = wasm_i32x4_add(a0, b);
          a1 = wasm_i32x4_add(a1, b);
        }
      }
      const v128_t q0 = rq.apply(a0, s0);
      const v128_t q1 = rq.apply(a1, s1);
      const v128_t w16 = wasm_i16x8_narrow_i32x4(q0, q1);
      const v128_t b = p->output_signed ? wasm_i8x16_narrow_i16x8(w16, w16) : wasm_u8x16_narrow_i16x8(w16, w16);
      uint8_t* dst = c + i * cm_stride + n0;
      if (nb == kQGemmNr) {
        wasm_v128_store64_lane(dst, b, 0);
      } else {
        uint8_t tmp[16];
        wasm_v128_store(tmp, b);
        std::memcpy(dst, tmp, nb);
      }
    }
  }
};

struct QGemmF32Epilogue {
  const QGemmF32Params* p;
  float* c;
  size_t cm_stride;

  template <size_t MR>
  WQ_QGEMM_INLINE void store(v128_t (*acc)[2], size_t n0, size_t nb) {
    float sbuf[kQGemmNr], bbuf[kQGemmNr] = {0};
    const float* s = p->w_scale + n0;
    const float* bias = p->bias ? p->bias + n0 : bbuf;
    if (nb < kQGemmNr) {
      std::memcpy(sbuf, s, nb * sizeof(float));
      for (size_t j = nb; j < kQGemmNr; ++j) sbuf[j] = 0.0f;
      s = sbuf;
      if (p->bias) {
        std::memcpy(bbuf, p->bias + n0, nb * sizeof(float));
        bias = bbuf;
      }
    }
    const v128_t s0 = wasm_v128_load(s), s1 = wasm_v128_load(s + 4);
    const v128_t bv0 = wasm_v128_load(bias), bv1 = wasm_v128_load(bias + 4);
    WQ_QGEMM_UNROLL
    for (size_t i = 0; i < MR; ++i) {
      const v128_t as = wasm_f32x4_splat(p->a_scale[i]);
      const v128_t f0 =
          wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][0]), wasm_f32x4_mul(as, s0)), bv0);
      const v128_t f1 =
          wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][1]), wasm_f32x4_mul(as, s1)), bv1);
      float* dst = c + i * cm_stride + n0;
      if (nb == kQGemmNr) {
        wasm_v128_store(dst, f0);
        wasm_v128_store(dst + 4, f1);
      } else {
        float tmp[8];
        wasm_v128_store(tmp, f0);
        wasm_v128_store(tmp + 4, f1);
        std::memcpy(dst, tmp, nb * sizeof(float));
      }
    }
  }
};

struct QGemmS32Epilogue {
  int32_t* c;
  size_t cm_stride;

  template <size_t MR>
  WQ_QGEMM_INLINE void store(v128_t (*acc)[2], size_t n0, size_t nb) {
    WQ_QGEMM_UNROLL
    for (size_t i = 0; i < MR; ++i) {
      int32_t* dst = c + i * cm_stride + n0;
      if (nb == kQGemmNr) {
        wasm_v128_store(dst, acc[i][0]);
        wasm_v128_store(dst + 4, acc[i][1]);
      } else {
        int32_t tmp[8];
        wasm_v128_store(tmp, acc[i][0]);
        wasm_v128_store(tmp + 4, acc[i][1]);
        std::memcpy(dst, tmp, nb * sizeof(int32_t));
      }
    }
  }
};

}  // namespace detail
}  // namespace wq

// Defines the three output kinds of one MR x 8c2 kernel over weight type WT.
#define WQ_DEFINE_QGEMM_C2_KERNELS(suffix, MR, WT)                                                          \
  void qs8_gemm_##suffix(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride, const void* w, \
                         void* c, size_t cm_stride, const QGemmRequantParams* p) {                          \
    (void)mr;                                                                                               \
    detail::QGemmRequantEpilogue epi{p, static_cast<uint8_t*>(c), cm_stride};                               \
    detail::qgemm_c2<MR, WT>(nc, kc2, a, a_stride, w, epi);                                                 \
  }                                                                                                         \
  void qd8_f32_gemm_##suffix(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride,           \
                             const void* w, float* c, size_t cm_stride, const QGemmF32Params* p) {          \
    (void)mr;                                                                                               \
    detail::QGemmF32Epilogue epi{p, c, cm_stride};                                                          \
    detail::qgemm_c2<MR, WT>(nc, kc2, a, a_stride, w, epi);                                                 \
  }                                                                                                         \
  void qs8_qs32_gemm_##suffix(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride,          \
                              const void* w, int32_t* c, size_t cm_stride, const void*) {                   \
    (void)mr;                                                                                               \
    detail::QGemmS32Epilogue epi{c, cm_stride};                                                             \
    detail::qgemm_c2<MR, WT>(nc, kc2, a, a_stride, w, epi);                                                 \
  }
