// SIMD form of f32_activation_apply for kernel epilogues (internal to the
// kernels). The operations are the scalar definition's, lane by lane:
//   clamp:  x < lo ? lo : x  is  wasm_f32x4_pmax(x, lo),
//           hi < x ? hi : x  is  wasm_f32x4_pmin(x, hi),
// which also keeps NaN like the scalar code. pmin/pmax are single instructions
// on x86 (minps/maxps), unlike wasm_f32x4_min/max.
#pragma once

#include <cstddef>

#include "core/kernels/f32_activation.h"
#include "core/kernels/simd.h"

namespace wq {
namespace detail {

WQ_KERNEL_INLINE v128_t f32x4_clamp_keep_nan(v128_t x, v128_t lo, v128_t hi) {
  return wasm_f32x4_pmin(wasm_f32x4_pmax(x, lo), hi);
}

// Applies `act` to n accumulators in place. The switch runs once per tile,
// outside the reduction loop; with n a compile-time constant the loops unroll.
template <size_t N>
WQ_KERNEL_INLINE void f32x4_activate(const F32Activation& act, v128_t (&acc)[N]) {
  switch (act.kind) {
    case F32ActivationKind::kNone:
      return;
    case F32ActivationKind::kMinMax: {
      const v128_t lo = wasm_f32x4_splat(act.min);
      const v128_t hi = wasm_f32x4_splat(act.max);
      WQ_UNROLL
      for (size_t i = 0; i < N; ++i) acc[i] = f32x4_clamp_keep_nan(acc[i], lo, hi);
      return;
    }
    case F32ActivationKind::kHardSigmoid:
    case F32ActivationKind::kHardSwish: {
      const v128_t alpha = wasm_f32x4_splat(act.alpha);
      const v128_t beta = wasm_f32x4_splat(act.beta);
      const v128_t zero = wasm_f32x4_splat(0.0f);
      const v128_t one = wasm_f32x4_splat(1.0f);
      const bool swish = act.kind == F32ActivationKind::kHardSwish;
      WQ_UNROLL
      for (size_t i = 0; i < N; ++i) {
        v128_t t = wasm_f32x4_add(wasm_f32x4_mul(alpha, acc[i]), beta);
        t = f32x4_clamp_keep_nan(t, zero, one);
        acc[i] = swish ? wasm_f32x4_mul(acc[i], t) : t;
      }
      return;
    }
  }
}

// Stores the first n (1..3) lanes of v to p.
WQ_KERNEL_INLINE void f32x4_store_partial(float* p, v128_t v, size_t n) {
  if (n & 2) {
    wasm_v128_store64_lane(p, v, 0);
    v = wasm_i64x2_shuffle(v, v, 1, 1);
    p += 2;
  }
  if (n & 1) wasm_v128_store32_lane(p, v, 0);
}

// Loads the first n (1..3) floats at p into the low lanes; the other lanes are
// zero. Reads exactly n floats.
WQ_KERNEL_INLINE v128_t f32x4_load_partial(const float* p, size_t n) {
  if (n == 1) return wasm_v128_load32_zero(p);
  v128_t v = wasm_v128_load64_zero(p);
  if (n == 3) v = wasm_v128_load32_lane(p + 2, v, 2);
  return v;
}

}  // namespace detail
}  // namespace wq
