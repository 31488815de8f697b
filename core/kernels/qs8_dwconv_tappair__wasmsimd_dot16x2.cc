// Depthwise convolution of one channel plane, dilation 1, stride 1 or 2, any
// kernel size, by horizontal tap pairs: i32x4.dot_i16x8_s multiplies two
// adjacent int16 inputs by two adjacent taps and adds them, so one dot gives
// four outputs x two taps.
//
//   stride 2: load 8 int16 at P[2*x0 + j]  -> pairs (P[2x+j], P[2x+j+1]) for
//             outputs x0..x0+3, dot with splat(w[j], w[j+1]).
//   stride 1: the same load at P[x0 + j] gives the pairs of the even outputs
//             x0, x0+2, x0+4, x0+6; a load at P[x0 + 1 + j] gives the odd
//             ones. Two shuffles at the end put the 8 outputs back in order.
//
// An odd kernel width pairs its last tap with weight 0 (the extra input read
// lands in the plane's right padding / slack). 3x3 and 5x5 are unrolled with
// the weight splats held in registers; other sizes loop at run time.
#include <cstring>

#include "core/kernels/qconv.h"
#include "core/kernels/simd.h"

namespace wq {

namespace {

inline int32_t tap_pair(const int16_t* taps, size_t kw, size_t i, size_t j) {
  const uint32_t lo = uint16_t(taps[i * kw + j]);
  const uint32_t hi = j + 1 < kw ? uint16_t(taps[i * kw + j + 1]) : 0u;
  return int32_t(lo | (hi << 16));
}

// KH, KWP > 0: compile-time kernel (KWP = tap pairs per row); 0: run time.
template <size_t KH, size_t KWP, size_t SW>
void dw_rows(const int16_t* plane, size_t ps, size_t kh_rt, size_t kwp_rt, size_t sh, size_t oh, size_t ow,
             const v128_t* wv, int32_t bias, int32_t* acc) {
  const size_t kh = KH ? KH : kh_rt;
  const size_t kwp = KWP ? KWP : kwp_rt;
  v128_t w[KH && KWP ? KH * KWP : 1];
  if (KH && KWP) {
    for (size_t t = 0; t < kh * kwp; ++t) w[t] = wv[t];
  }
  const v128_t vb = wasm_i32x4_splat(bias);
  for (size_t y = 0; y < oh; ++y) {
    const int16_t* rows = plane + y * sh * ps;
    int32_t* out = acc + y * ow;
    for (size_t x0 = 0; x0 < ow; x0 += 8) {
      v128_t a0 = vb, a1 = vb;
      for (size_t i = 0; i < kh; ++i) {
        const int16_t* r = rows + i * ps + (SW == 2 ? 2 * x0 : x0);
        for (size_t jp = 0; jp < kwp; ++jp) {
          const v128_t wp = (KH && KWP) ? w[i * kwp + jp] : wv[i * kwp + jp];
          const v128_t v0 = wasm_v128_load(r + 2 * jp);
          const v128_t v1 = wasm_v128_load(r + 2 * jp + (SW == 2 ? 8 : 1));
          a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(v0, wp));
          a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(v1, wp));
        }
      }
      if (SW == 1) {
        const v128_t e = a0, o = a1;  // even and odd outputs
        a0 = wasm_i32x4_shuffle(e, o, 0, 4, 1, 5);
        a1 = wasm_i32x4_shuffle(e, o, 2, 6, 3, 7);
      }
      if (x0 + 8 <= ow) {
        wasm_v128_store(out + x0, a0);
        wasm_v128_store(out + x0 + 4, a1);
      } else {
        int32_t tmp[8];
        wasm_v128_store(tmp, a0);
        wasm_v128_store(tmp + 4, a1);
        std::memcpy(out + x0, tmp, (ow - x0) * sizeof(int32_t));
      }
    }
  }
}

}  // namespace

void qs8_dwconv_tappair__wasmsimd_dot16x2(const int16_t* plane, size_t plane_stride, size_t kh, size_t kw,
                                          size_t sh, size_t sw, size_t oh, size_t ow, const QDwconvChannel& c,
                                          int32_t* acc) {
  const size_t kwp = (kw + 1) / 2;
  constexpr size_t kMaxPairs = 64;  // up to 11x11; larger kernels take the scalar kernel
  if (kh * kwp > kMaxPairs) {
    qs8_dwconv__scalar(plane, plane_stride, kh, kw, sh, sw, 1, 1, oh, ow, c, acc);
    return;
  }
  v128_t wv[kMaxPairs];
  for (size_t i = 0; i < kh; ++i)
    for (size_t jp = 0; jp < kwp; ++jp) wv[i * kwp + jp] = wasm_i32x4_splat(tap_pair(c.taps, kw, i, 2 * jp));
  if (sw == 1) {
    if (kh == 3 && kw == 3) return dw_rows<3, 2, 1>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
    if (kh == 5 && kw == 5) return dw_rows<5, 3, 1>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
    return dw_rows<0, 0, 1>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
  }
  if (kh == 3 && kw == 3) return dw_rows<3, 2, 2>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
  if (kh == 5 && kw == 5) return dw_rows<5, 3, 2>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
  return dw_rows<0, 0, 2>(plane, plane_stride, kh, kwp, sh, oh, ow, wv, c.bias, acc);
}

}  // namespace wq
