// f32_gemm_chw kernels for WASM SIMD128 (natively through SIMDe).
//
// Register tile of f32_gemm_chw_4x8 (4 output channels x 8 pixels):
//
//                         B row k (input channel k, pixels n .. n+7):
//                              [ x0 x1 x2 x3 | x4 x5 x6 x7 ]
//                                   vb0           vb1
//   W[0][k] splat  w0 w0 w0 w0  ->  acc0 += w0*vb0   acc1 += w0*vb1
//   W[1][k] splat  w1 w1 w1 w1  ->  acc2 += w1*vb0   acc3 += w1*vb1
//   W[2][k] splat  w2 w2 w2 w2  ->  acc4 += w2*vb0   acc5 += w2*vb1
//   W[3][k] splat  w3 w3 w3 w3  ->  acc6 += w3*vb0   acc7 += w3*vb1
//
// The four weights of step k are adjacent in the packed panel: the _splat
// variants load them as one v128 and shuffle each lane out, the _loadsplat
// variants use four v128.load32_splat. acc row i is output channel i, pixels
// n .. n+7: stored straight into the NCHW output.
//
// Pixel tails: full 4-pixel vectors first, then 1..3 pixels loaded lane by
// lane, so nothing past the last pixel of B is read. Rows past mr alias row
// mr-1 of C and are stored first (from the last row down), so the real row's
// values land last; their packed weights and bias are zero.
#include <cassert>

#include "core/kernels/f32_activation_simd.h"
#include "core/kernels/f32_gemm.h"

namespace wq {
namespace {

constexpr size_t kMr = kF32GemmChwMr;
static_assert(kMr == 4, "the tile below splats the four weights of one v128");

// One tile: 4 rows x (4 * NV) pixels, or 4 rows x `partial` (1..3) pixels.
template <size_t NV, bool kPartial, bool kLoadSplat>
WQ_KERNEL_INLINE void chw_tile(size_t kc, const float* w, const float* b, size_t b_stride, float* const (&cp)[kMr],
                               size_t partial, const F32Activation& act) {
  v128_t acc[kMr * NV];
  const v128_t vbias = wasm_v128_load(w);
  const v128_t vbias_rows[kMr] = {
      wasm_i32x4_shuffle(vbias, vbias, 0, 0, 0, 0), wasm_i32x4_shuffle(vbias, vbias, 1, 1, 1, 1),
      wasm_i32x4_shuffle(vbias, vbias, 2, 2, 2, 2), wasm_i32x4_shuffle(vbias, vbias, 3, 3, 3, 3)};
  WQ_UNROLL
  for (size_t i = 0; i < kMr; ++i) {
    WQ_UNROLL
    for (size_t v = 0; v < NV; ++v) acc[i * NV + v] = vbias_rows[i];
  }
  const float* wk = w + kMr;
  const float* bk = b;
  for (size_t k = 0; k < kc; ++k) {
    v128_t vb[NV];
    if (kPartial) {
      vb[0] = detail::f32x4_load_partial(bk, partial);
    } else {
      WQ_UNROLL
      for (size_t v = 0; v < NV; ++v) vb[v] = wasm_v128_load(bk + 4 * v);
    }
    bk += b_stride;
    if (kLoadSplat) {
      WQ_UNROLL
      for (size_t i = 0; i < kMr; ++i) {
        const v128_t vw = wasm_v128_load32_splat(wk + i);
        WQ_UNROLL
        for (size_t v = 0; v < NV; ++v) acc[i * NV + v] = wasm_f32x4_add(acc[i * NV + v], wasm_f32x4_mul(vw, vb[v]));
      }
    } else {
      const v128_t vw = wasm_v128_load(wk);
      const v128_t vw_rows[kMr] = {wasm_i32x4_shuffle(vw, vw, 0, 0, 0, 0), wasm_i32x4_shuffle(vw, vw, 1, 1, 1, 1),
                                   wasm_i32x4_shuffle(vw, vw, 2, 2, 2, 2), wasm_i32x4_shuffle(vw, vw, 3, 3, 3, 3)};
      WQ_UNROLL
      for (size_t i = 0; i < kMr; ++i) {
        WQ_UNROLL
        for (size_t v = 0; v < NV; ++v) {
          acc[i * NV + v] = wasm_f32x4_add(acc[i * NV + v], wasm_f32x4_mul(vw_rows[i], vb[v]));
        }
      }
    }
    wk += kMr;
  }
  detail::f32x4_activate(act, acc);
  WQ_UNROLL
  for (size_t r = 0; r < kMr; ++r) {  // last row first
    const size_t i = kMr - 1 - r;
    if (kPartial) {
      detail::f32x4_store_partial(cp[i], acc[i * NV], partial);
    } else {
      WQ_UNROLL
      for (size_t v = 0; v < NV; ++v) wasm_v128_store(cp[i] + 4 * v, acc[i * NV + v]);
    }
  }
}

template <size_t NV, bool kLoadSplat>
void gemm_chw(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride, float* c,
              size_t c_stride, const F32Activation* act) {
  assert(mr >= 1 && mr <= kMr && nc >= 1 && act != nullptr);
  float* cp[kMr];
  cp[0] = c;
  WQ_UNROLL
  for (size_t i = 1; i < kMr; ++i) cp[i] = i < mr ? cp[i - 1] + c_stride : cp[i - 1];
  // Full tiles, then whole vectors, then 1..3 pixels.
  size_t step = 4 * NV;
  while (nc != 0) {
    if (nc < step) step = nc >= 4 ? 4 : nc;
    if (step == 4 * NV) {
      chw_tile<NV, false, kLoadSplat>(kc, w, b, b_stride, cp, 0, *act);
    } else if (step >= 4) {
      chw_tile<1, false, kLoadSplat>(kc, w, b, b_stride, cp, 0, *act);
    } else {
      chw_tile<1, true, kLoadSplat>(kc, w, b, b_stride, cp, step, *act);
    }
    b += step;
    WQ_UNROLL
    for (size_t i = 0; i < kMr; ++i) cp[i] += step;
    nc -= step;
  }
}

}  // namespace

#define WQ_DEFINE_F32_GEMM_CHW(NAME, NV, LOADSPLAT)                                                     \
  void NAME(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride, float* c, \
            size_t c_stride, const F32Activation* act) {                                                \
    gemm_chw<NV, LOADSPLAT>(mr, nc, kc, w, b, b_stride, c, c_stride, act);                              \
  }

WQ_DEFINE_F32_GEMM_CHW(f32_gemm_chw_4x8__wasmsimd_splat, 2, false)
WQ_DEFINE_F32_GEMM_CHW(f32_gemm_chw_4x8__wasmsimd_loadsplat, 2, true)

#undef WQ_DEFINE_F32_GEMM_CHW

}  // namespace wq
