// Block-wise int4 GEMV kernels, one activation row, columns in groups of 4.
// Layout and exact semantics:
// core/kernels/qgemm_4bit.h ("c2 nibbles").
//
// Register tile per 8 k (qd8 path), one group G of 4 columns:
//
//   W vector (8 x u16, 4 nibbles each)      A pair broadcast (a[k], a[k+1]), k = k0 + 2q
//   q = 0..3: N = W & (0xF << 4q)  ->  acc_G += dot16x2(N, A_q * f_q)   lanes = columns 0..3
//   (plane 3 is W >> 12; f = 256, 16, 1, 256 makes every product 256x the MAC)
//
// Per 32 weights: 4 AND/shift + 4 dot + 4 add (see dot_nibbles), and the block
// epilogue is one shift / convert / multiply / add per 4 columns -- the dot's
// output lanes already are the columns, so nothing is reduced horizontally.
#include "core/kernels/qgemm_4bit.h"
#include "core/kernels/simd.h"

namespace wq {

namespace {

// acc += 256 * sum over q of dot(nibble plane q, pair broadcast q).
// The planes are masked in place instead of shifted down: (w & 0x00F0) is
// 16 * plane 1 and (w & 0x0F00) is 256 * plane 2, and the activations were
// pre-scaled per plane by (256, 16, 1, 256) (qb4_gemm_dynamic_f32), so every
// product carries the same factor 256 and one accumulator holds them all; the
// block epilogue shifts it back (exact: a multiple of 256). Four AND/shift per
// 32 weights instead of six.
inline v128_t dot_nibbles(v128_t w, v128_t m0, v128_t m1, v128_t m2, v128_t b0, v128_t b1, v128_t b2, v128_t b3,
                          v128_t acc) {
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_v128_and(w, m0), b0));
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_v128_and(w, m1), b1));
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_v128_and(w, m2), b2));
  return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_u16x8_shr(w, 12), b3));
}

// One block's integer result -> float, zero-point corrected and scaled into facc.
template <bool kUniformZp>
inline v128_t qd8_block_epilogue(v128_t acc, v128_t ws, v128_t zp, const float* a_scale4, const int32_t* a_corr4,
                                 v128_t facc) {
  const v128_t corr = wasm_v128_load(a_corr4);
  const v128_t d = wasm_i32x4_sub(wasm_i32x4_shr(acc, 8), kUniformZp ? corr : wasm_i32x4_mul(zp, corr));
  return wasm_f32x4_add(facc,
                        wasm_f32x4_mul(wasm_f32x4_convert_i32x4(d), wasm_f32x4_mul(ws, wasm_v128_load(a_scale4))));
}

template <bool kUniformZp, size_t kGroups>
void gemv_qd8(const uint8_t* const* gp, size_t blocks, size_t block, const int16_t* a16, const float* a_scale4,
              const int32_t* a_corr4, float* y) {
  const v128_t m0 = wasm_i16x8_splat(0x000F), m1 = wasm_i16x8_splat(0x00F0), m2 = wasm_i16x8_splat(0x0F00);
  const size_t hdr = kUniformZp ? 16 : 32;
  const size_t vecs = block / kQB4Kc;
  const uint8_t* p[kGroups];
  v128_t f[kGroups];
  for (size_t i = 0; i < kGroups; ++i) {
    p[i] = gp[i];
    f[i] = wasm_f32x4_splat(0.0f);
  }
  for (size_t b = 0; b < blocks; ++b) {
    v128_t ws[kGroups], zp[kGroups], acc[kGroups];
    for (size_t i = 0; i < kGroups; ++i) {
      ws[i] = wasm_v128_load(p[i]);
      zp[i] = kUniformZp ? ws[i] : wasm_v128_load(p[i] + 16);
      p[i] += hdr;
      acc[i] = wasm_i32x4_splat(0);
    }
    const int16_t* ab = a16 + b * block;
    for (size_t v = 0; v < vecs; ++v) {
      const v128_t b0 = wasm_v128_load32_splat(ab);
      const v128_t b1 = wasm_v128_load32_splat(ab + 2);
      const v128_t b2 = wasm_v128_load32_splat(ab + 4);
      const v128_t b3 = wasm_v128_load32_splat(ab + 6);
      ab += kQB4Kc;
      for (size_t i = 0; i < kGroups; ++i) {
        acc[i] = dot_nibbles(wasm_v128_load(p[i]), m0, m1, m2, b0, b1, b2, b3, acc[i]);
        p[i] += 16;
      }
    }
    for (size_t i = 0; i < kGroups; ++i) {
      f[i] = qd8_block_epilogue<kUniformZp>(acc[i], ws[i], zp[i], a_scale4 + 4 * b, a_corr4 + 4 * b, f[i]);
    }
  }
  for (size_t i = 0; i < kGroups; ++i) wasm_v128_store(y + i * kQB4Nr, f[i]);
}

template <bool kUniformZp>
void gemv_qd8_all(size_t groups, const QB4PackedW& w, const int16_t* a16, const float* a_scale4,
                  const int32_t* a_corr4, float* y) {
  // One group (4 columns) per pass. Two groups sharing each activation
  // broadcast was 5-8% faster while the weights sit in L3 (4096 x 4096) but
  // 15-20% slower streaming from DRAM (4096 x 11008); three or four groups were
  // slower in both (measured under V8 on Zen 5). The template keeps the option.
  constexpr size_t kStep = 1;
  size_t g = 0;
  const uint8_t* gp[kStep];
  for (; g + kStep <= groups; g += kStep) {
    for (size_t i = 0; i < kStep; ++i) gp[i] = w.group(g + i);
    gemv_qd8<kUniformZp, kStep>(gp, w.blocks(), w.block(), a16, a_scale4, a_corr4, y + g * kQB4Nr);
  }
  for (; g < groups; ++g) {
    gp[0] = w.group(g);
    gemv_qd8<kUniformZp, 1>(gp, w.blocks(), w.block(), a16, a_scale4, a_corr4, y + g * kQB4Nr);
  }
}

}  // namespace

void qb4_gemv_qd8_1x4__wasmsimd_dot16x2(size_t groups, const QB4PackedW& w, const int16_t* a16,
                                        const float* a_scale4, const int32_t* a_corr4, float* y) {
  if (w.uniform_zero_point()) {
    gemv_qd8_all<true>(groups, w, a16, a_scale4, a_corr4, y);
  } else {
    gemv_qd8_all<false>(groups, w, a16, a_scale4, a_corr4, y);
  }
}

// ---- float activations ----------------------------------------------------------

namespace {

// acc_lo (columns 0, 1) / acc_hi (columns 2, 3) += nibbles(q) * (a[k], a[k+1], a[k], a[k+1]).
inline void fma_q(v128_t n, v128_t apair, v128_t* lo, v128_t* hi) {
  const v128_t flo = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(n));
  const v128_t fhi = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(n));
  *lo = wasm_f32x4_add(*lo, wasm_f32x4_mul(flo, apair));
  *hi = wasm_f32x4_add(*hi, wasm_f32x4_mul(fhi, apair));
}

}  // namespace

void qb4_gemv_f32_1x4__wasmsimd(size_t groups, const QB4PackedW& w, const float* a, const float* a_sum, float* y) {
  const size_t blocks = w.blocks(), block = w.block(), vecs = block / kQB4Kc;
  const bool uniform = w.uniform_zero_point();
  const size_t hdr = w.header_bytes();
  const v128_t mask = wasm_i16x8_splat(0xF);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* p = w.group(g);
    v128_t facc = wasm_f32x4_splat(0.0f);
    for (size_t b = 0; b < blocks; ++b) {
      const v128_t ws = wasm_v128_load(p);
      const v128_t zpf = uniform ? wasm_f32x4_splat(float(w.zero_point()))
                                 : wasm_f32x4_convert_i32x4(wasm_v128_load(p + 16));
      p += hdr;
      v128_t lo = wasm_f32x4_splat(0.0f), hi = lo;
      const float* ab = a + b * block;
      for (size_t v = 0; v < vecs; ++v) {
        const v128_t wv = wasm_v128_load(p);
        p += 16;
        fma_q(wasm_v128_and(wv, mask), wasm_v128_load64_splat(ab), &lo, &hi);
        fma_q(wasm_v128_and(wasm_u16x8_shr(wv, 4), mask), wasm_v128_load64_splat(ab + 2), &lo, &hi);
        fma_q(wasm_v128_and(wasm_u16x8_shr(wv, 8), mask), wasm_v128_load64_splat(ab + 4), &lo, &hi);
        fma_q(wasm_u16x8_shr(wv, 12), wasm_v128_load64_splat(ab + 6), &lo, &hi);
        ab += kQB4Kc;
      }
      // lanes (even k, odd k) of each column -> one sum per column.
      const v128_t sq = wasm_f32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6), wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7));
      const v128_t corr = wasm_f32x4_mul(zpf, wasm_f32x4_splat(a_sum[b]));
      facc = wasm_f32x4_add(facc, wasm_f32x4_mul(wasm_f32x4_sub(sq, corr), ws));
    }
    wasm_v128_store(y + g * kQB4Nr, facc);
  }
}

}  // namespace wq
