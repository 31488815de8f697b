// Small SIMD128 building blocks shared by the int8 kernels (internal).
//
// Rounding: `round_to_i32_magic` adds 1.5 * 2^23 and reads the float's bits.
// For |v| <= 2^22 the sum lies in [2^23, 2^24) where the float spacing is 1, so
// the addition itself rounds to the nearest integer with ties to even (WASM and
// x86 SSE always use that mode), and the low mantissa bits are that integer.
// Every caller clamps to an 8-bit range first, so the precondition holds.
//
// Owner: q8k.
#pragma once

#include <cstdint>

#include "core/kernels/simd.h"

namespace wq {
namespace detail {

constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23
constexpr int32_t kRoundMagicBits = 0x4B400000;

inline v128_t round_to_i32_magic(v128_t v) {
  return wasm_i32x4_sub(wasm_f32x4_add(v, wasm_f32x4_splat(kRoundMagic)), wasm_i32x4_splat(kRoundMagicBits));
}

// Four int32x4 vectors already inside the 8-bit range -> 16 bytes.
template <bool kSigned>
inline v128_t narrow_i32_to_8(v128_t q0, v128_t q1, v128_t q2, v128_t q3) {
  const v128_t w0 = wasm_i16x8_narrow_i32x4(q0, q1);
  const v128_t w1 = wasm_i16x8_narrow_i32x4(q2, q3);
  return kSigned ? wasm_i8x16_narrow_i16x8(w0, w1) : wasm_u8x16_narrow_i16x8(w0, w1);
}

// fp32 requantization of int32x4 accumulators (bias already added):
// clamp(float(acc) * scale, qmin - zp, qmax - zp), round half to even, + zp.
// The zero point rides along in the magic-number subtraction.
struct RequantFp32 {
  v128_t lo, hi, magic, magic_minus_zp, scale;
  RequantFp32(float s, int32_t zp, int32_t qmin, int32_t qmax)
      : lo(wasm_f32x4_splat(float(qmin - zp))),
        hi(wasm_f32x4_splat(float(qmax - zp))),
        magic(wasm_f32x4_splat(kRoundMagic)),
        magic_minus_zp(wasm_i32x4_splat(kRoundMagicBits - zp)),
        scale(wasm_f32x4_splat(s)) {}
  inline v128_t apply_scaled(v128_t f) const {
    f = wasm_f32x4_pmax(lo, f);
    f = wasm_f32x4_pmin(hi, f);
    return wasm_i32x4_sub(wasm_f32x4_add(f, magic), magic_minus_zp);
  }
  inline v128_t apply(v128_t acc) const { return apply_scaled(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), scale)); }
  inline v128_t apply(v128_t acc, v128_t per_channel_scale) const {
    return apply_scaled(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), per_channel_scale));
  }
};

}  // namespace detail
}  // namespace wq
