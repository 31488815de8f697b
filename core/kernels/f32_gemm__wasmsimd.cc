// f32_gemm kernels for WASM SIMD128 (natively through SIMDe), all generated
// from one template per A-loading strategy.
//
// Register tile of f32_gemm_4x8 (MR = 4 rows of C, 8 columns = 2 vectors):
//
//                      packed B row k:  [ b0 b1 b2 b3 | b4 b5 b6 b7 ]
//                                          vb0            vb1
//   A[0][k] splat  a0 a0 a0 a0   ->   acc0  += a0*vb0   acc1  += a0*vb1
//   A[1][k] splat  a1 a1 a1 a1   ->   acc2  += a1*vb0   acc3  += a1*vb1
//   A[2][k] splat  a2 a2 a2 a2   ->   acc4  += a2*vb0   acc5  += a2*vb1
//   A[3][k] splat  a3 a3 a3 a3   ->   acc6  += a3*vb0   acc7  += a3*vb1
//
// Register budget: V8 on x86-64 allocates xmm0..xmm14 (xmm15 is its scratch)
// and schedules all MR splat loads of a step before the multiplies, so a step
// keeps 2*MR accumulators + 2 B vectors + MR splats live: 14 for MR = 4. The
// 6x8 tile spills (measured, doc/kernels.md). WASM SIMD128 has no FMA: each
// product is a mul + add.
//
// Rows past mr alias row mr-1 (same A row, same C row): they compute the same
// values, so the extra work is harmless and the stores, done from the last row
// down, leave the right values. Columns past nc are zero in the packed B.
#include <cassert>

#include "core/kernels/f32_activation_simd.h"
#include "core/kernels/f32_gemm.h"

namespace wq {
namespace {

constexpr size_t kNr = kF32GemmNr;

template <size_t MR>
WQ_KERNEL_INLINE void setup_rows(size_t mr, const float* a, size_t a_stride, float* c, size_t c_stride,
                                 const float* (&ap)[MR], float* (&cp)[MR]) {
  ap[0] = a;
  cp[0] = c;
  WQ_UNROLL
  for (size_t i = 1; i < MR; ++i) {
    ap[i] = i < mr ? ap[i - 1] + a_stride : ap[i - 1];
    cp[i] = i < mr ? cp[i - 1] + c_stride : cp[i - 1];
  }
}

template <size_t MR>
WQ_KERNEL_INLINE void init_from_bias(const float* w, v128_t (&acc)[2 * MR]) {
  acc[0] = wasm_v128_load(w);
  acc[1] = wasm_v128_load(w + 4);
  WQ_UNROLL
  for (size_t i = 1; i < MR; ++i) {
    acc[2 * i] = acc[0];
    acc[2 * i + 1] = acc[1];
  }
}

// acc[row i] += splat(A[i][k]) * B row k, for one k, A elements loaded by splat.
template <size_t MR>
WQ_KERNEL_INLINE void step_loadsplat(const float* const (&ak)[MR], size_t k, const float* wk, v128_t (&acc)[2 * MR]) {
  const v128_t vb0 = wasm_v128_load(wk);
  const v128_t vb1 = wasm_v128_load(wk + 4);
  WQ_UNROLL
  for (size_t i = 0; i < MR; ++i) {
    const v128_t va = wasm_v128_load32_splat(ak[i] + k);
    acc[2 * i] = wasm_f32x4_add(acc[2 * i], wasm_f32x4_mul(va, vb0));
    acc[2 * i + 1] = wasm_f32x4_add(acc[2 * i + 1], wasm_f32x4_mul(va, vb1));
  }
}

// The same for lane L of already loaded A vectors.
template <int L, size_t MR>
WQ_KERNEL_INLINE void step_lane(const v128_t (&va)[MR], const float* wk, v128_t (&acc)[2 * MR]) {
  const v128_t vb0 = wasm_v128_load(wk);
  const v128_t vb1 = wasm_v128_load(wk + 4);
  WQ_UNROLL
  for (size_t i = 0; i < MR; ++i) {
    const v128_t vs = wasm_i32x4_shuffle(va[i], va[i], L, L, L, L);
    acc[2 * i] = wasm_f32x4_add(acc[2 * i], wasm_f32x4_mul(vs, vb0));
    acc[2 * i + 1] = wasm_f32x4_add(acc[2 * i + 1], wasm_f32x4_mul(vs, vb1));
  }
}

// Activation and store of one tile; returns false when nc is exhausted.
template <size_t MR>
WQ_KERNEL_INLINE bool finish_tile(const F32Activation& act, v128_t (&acc)[2 * MR], float* (&cp)[MR], size_t& nc) {
  detail::f32x4_activate(act, acc);
  if (nc >= kNr) {
    WQ_UNROLL
    for (size_t r = 0; r < MR; ++r) {  // last row first
      const size_t i = MR - 1 - r;
      wasm_v128_store(cp[i], acc[2 * i]);
      wasm_v128_store(cp[i] + 4, acc[2 * i + 1]);
      cp[i] += kNr;
    }
    nc -= kNr;
    return nc != 0;
  }
  WQ_UNROLL
  for (size_t r = 0; r < MR; ++r) {  // last row first
    const size_t i = MR - 1 - r;
    float* p = cp[i];
    v128_t v = acc[2 * i];
    if (nc & 4) {
      wasm_v128_store(p, v);
      p += 4;
      v = acc[2 * i + 1];
    }
    if (nc & 3) detail::f32x4_store_partial(p, v, nc & 3);
  }
  return false;
}

template <size_t MR>
void gemm_loadsplat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w, float* c,
                    size_t c_stride, const F32Activation* act) {
  assert(mr >= 1 && mr <= MR && nc >= 1 && act != nullptr);
  const float* ap[MR];
  float* cp[MR];
  setup_rows<MR>(mr, a, a_stride, c, c_stride, ap, cp);
  for (;;) {
    v128_t acc[2 * MR];
    init_from_bias<MR>(w, acc);
    w += kNr;
    for (size_t k = 0; k < kc; ++k) {
      step_loadsplat<MR>(ap, k, w, acc);
      w += kNr;
    }
    if (!finish_tile<MR>(*act, acc, cp, nc)) return;
  }
}

template <size_t MR>
void gemm_splat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w, float* c,
                size_t c_stride, const F32Activation* act) {
  assert(mr >= 1 && mr <= MR && nc >= 1 && act != nullptr);
  const float* ap[MR];
  float* cp[MR];
  setup_rows<MR>(mr, a, a_stride, c, c_stride, ap, cp);
  for (;;) {
    v128_t acc[2 * MR];
    init_from_bias<MR>(w, acc);
    w += kNr;
    size_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      v128_t va[MR];
      WQ_UNROLL
      for (size_t i = 0; i < MR; ++i) va[i] = wasm_v128_load(ap[i] + k);
      step_lane<0, MR>(va, w, acc);
      step_lane<1, MR>(va, w + kNr, acc);
      step_lane<2, MR>(va, w + 2 * kNr, acc);
      step_lane<3, MR>(va, w + 3 * kNr, acc);
      w += 4 * kNr;
    }
    for (; k < kc; ++k) {
      step_loadsplat<MR>(ap, k, w, acc);
      w += kNr;
    }
    if (!finish_tile<MR>(*act, acc, cp, nc)) return;
  }
}

}  // namespace

#define WQ_DEFINE_F32_GEMM(NAME, IMPL, MR)                                                              \
  void NAME(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w, float* c, \
            size_t c_stride, const F32Activation* act) {                                                \
    IMPL<MR>(mr, nc, kc, a, a_stride, w, c, c_stride, act);                                             \
  }

WQ_DEFINE_F32_GEMM(f32_gemm_1x8__wasmsimd_loadsplat, gemm_loadsplat, 1)
WQ_DEFINE_F32_GEMM(f32_gemm_4x8__wasmsimd_loadsplat, gemm_loadsplat, 4)
WQ_DEFINE_F32_GEMM(f32_gemm_6x8__wasmsimd_loadsplat, gemm_loadsplat, 6)
WQ_DEFINE_F32_GEMM(f32_gemm_4x8__wasmsimd_splat, gemm_splat, 4)

#undef WQ_DEFINE_F32_GEMM

}  // namespace wq
