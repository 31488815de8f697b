// f32_dwconv2d_chw kernels for WASM SIMD128 (natively through SIMDe).
//
// Row buffering. Each input row is copied once into scratch, zero-padded on
// both sides and split into stride_w column phases:
//
//   padded[t]   = in[iy][t - pad_left], 0 outside [0, in_w)
//   phase[r][j] = padded[j * stride_w + r]
//
// so output column ox, tap kx reads phase[(kx*dw) % sw][ox + (kx*dw) / sw]:
// for every stride and dilation, 4 adjacent outputs of one tap are 4 adjacent
// floats of one buffer, one unaligned v128 load, with no edge cases in the
// loop. A ring of (kernel_h - 1) * dilation_h + 1 buffered rows covers one
// output row's window; rows above or below the plane point at a zero row.
//
// Tile of the 3x3 / 5x5 kernels, stride_w 1 (stride_w 2 reads two phases):
//
//   output row oy, columns ox .. ox+7:     acc0 = bias   acc1 = bias
//   for ky, kx:  w = splat(w[ky][kx])      acc0 += w * row_ky[ox+kx   .. +3]
//                                          acc1 += w * row_ky[ox+kx+4 .. +7]
//
// then 4-wide and partial tails. Output lanes past out_w are computed from the
// zero tail of the buffers and never stored. The general kernel accumulates
// tap by tap into a row of scratch (any kernel size).
#include <cassert>
#include <cstdint>
#include <cstring>

#include "core/kernels/f32_activation_simd.h"
#include "core/kernels/f32_dwconv.h"

namespace wq {
namespace {

size_t round_up4(size_t n) { return (n + 3) & ~size_t{3}; }

struct Layout {
  size_t window;  // rows in the ring
  size_t lp;      // floats per phase buffer
  size_t row;     // floats per buffered row (stride_w phases)
  size_t out_wp;  // out_w rounded up to whole vectors
};

Layout layout_of(const F32Conv2dGeometry& g) {
  Layout l;
  l.window = (g.kernel_h - 1) * g.dilation_h + 1;
  l.out_wp = round_up4(g.out_w);
  l.lp = round_up4(l.out_wp + ((g.kernel_w - 1) * g.dilation_w) / g.stride_w);
  l.row = g.stride_w * l.lp;
  return l;
}

// Copies input row `in_row` into its phase buffers `dst` (layout above).
void fill_row(const float* in_row, const F32Conv2dGeometry& g, const Layout& l, float* dst) {
  const size_t sw = g.stride_w;
  const size_t pl = g.pad_left;
  const size_t w = g.in_w;
  for (size_t r = 0; r < sw; ++r) {
    float* ph = dst + r * l.lp;
    // Valid j: 0 <= j*sw + r - pl < w.
    size_t j_lo = pl > r ? (pl - r + sw - 1) / sw : 0;
    size_t j_hi = w + pl > r ? (w - 1 + pl - r) / sw + 1 : 0;
    if (j_hi > l.lp) j_hi = l.lp;
    if (j_lo > j_hi) j_lo = j_hi;
    std::memset(ph, 0, j_lo * sizeof(float));
    size_t j = j_lo;
    if (j_lo < j_hi) {
      const size_t first = j_lo * sw + r - pl;  // input column of ph[j_lo]
      const float* src = in_row + first;
      if (sw == 1) {
        std::memcpy(ph + j, src, (j_hi - j) * sizeof(float));
        j = j_hi;
      } else if (sw == 2) {
        // 4 outputs from 8 inputs, while all 8 lie inside the row.
        for (; j + 4 <= j_hi && first + 2 * (j - j_lo) + 8 <= w; j += 4) {
          const v128_t v0 = wasm_v128_load(in_row + first + 2 * (j - j_lo));
          const v128_t v1 = wasm_v128_load(in_row + first + 2 * (j - j_lo) + 4);
          wasm_v128_store(ph + j, wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
        }
      }
      for (; j < j_hi; ++j) ph[j] = src[(j - j_lo) * sw];
    }
    std::memset(ph + j_hi, 0, (l.lp - j_hi) * sizeof(float));
  }
}

// The ring of buffered rows. Output rows are visited in order, so the window
// [iy_min, iy_max] only moves down: rows are filled once, in order, and a row
// in the current window has not been overwritten (its slot is reused only by
// row iy + window, which is past the window).
class RowRing {
 public:
  RowRing(const F32Conv2dGeometry& g, const Layout& l, const float* input, float* scratch)
      : g_(g), l_(l), input_(input), zero_(scratch), slots_(scratch + l.row) {
    std::memset(zero_, 0, l.row * sizeof(float));
  }

  // Makes rows [iy_min, iy_max] of the plane available (called once per
  // output row). Rows above iy_min are never needed again and are skipped.
  void advance(int64_t iy_min, int64_t iy_max) {
    const int64_t last = iy_max < static_cast<int64_t>(g_.in_h) ? iy_max : static_cast<int64_t>(g_.in_h) - 1;
    if (next_ < iy_min) next_ = iy_min;
    for (; next_ <= last; ++next_) {
      fill_row(input_ + static_cast<size_t>(next_) * g_.in_w, g_, l_, slot(next_));
    }
  }

  const float* row(int64_t iy) const {
    if (iy < 0 || iy >= static_cast<int64_t>(g_.in_h)) return zero_;
    return slot(iy);
  }

 private:
  float* slot(int64_t iy) const { return slots_ + (static_cast<size_t>(iy) % l_.window) * l_.row; }

  const F32Conv2dGeometry& g_;
  const Layout& l_;
  const float* input_;
  float* zero_;
  float* slots_;
  int64_t next_ = 0;
};

int64_t first_row(const F32Conv2dGeometry& g, size_t oy) {
  return static_cast<int64_t>(oy * g.stride_h) - static_cast<int64_t>(g.pad_top);
}

template <size_t N>
WQ_KERNEL_INLINE void store_row_tile(float* out, size_t ox, size_t out_w, v128_t (&acc)[N]) {
  for (size_t v = 0; v < N; ++v) {
    const size_t x = ox + 4 * v;
    if (x + 4 <= out_w) {
      wasm_v128_store(out + x, acc[v]);
    } else if (x < out_w) {
      detail::f32x4_store_partial(out + x, acc[v], out_w - x);
    }
  }
}

// NV vectors of one output row for a KH x KW kernel, stride_w SW, dilation_w 1.
// rows[ky * SW + r] is phase r of the buffered row for tap row ky.
// Up to 3x3 the bias and weight splats stay in registers for the whole plane;
// larger kernels would spill them, so they are splatted from memory per tile.
// (The tap loops are left to the compiler: forcing a full unroll of the 25
// taps of 5x5 costs a third of its speed under V8.)
template <size_t KH, size_t KW>
struct TapWeights {
  static constexpr bool kInRegisters = KH * KW <= 9;
  WQ_KERNEL_INLINE explicit TapWeights(const float* w) : w_(w) {
    if (kInRegisters) {
      for (size_t t = 0; t < 1 + KH * KW; ++t) v_[t] = wasm_v128_load32_splat(w + t);
    }
  }
  // t = 0: bias; t = 1 + ky * KW + kx: tap weight.
  WQ_KERNEL_INLINE v128_t operator[](size_t t) const { return kInRegisters ? v_[t] : wasm_v128_load32_splat(w_ + t); }

 private:
  const float* w_;
  v128_t v_[kInRegisters ? 1 + KH * KW : 1];
};

template <size_t KH, size_t KW, size_t SW, size_t NV>
WQ_KERNEL_INLINE void fixed_tile(const float* const (&rows)[KH * SW], const TapWeights<KH, KW>& vw, size_t ox,
                                 const F32Activation& act, float* out, size_t out_w) {
  v128_t acc[NV];
  for (size_t v = 0; v < NV; ++v) acc[v] = vw[0];
  for (size_t ky = 0; ky < KH; ++ky) {
    for (size_t kx = 0; kx < KW; ++kx) {
      const float* p = rows[ky * SW + kx % SW] + kx / SW + ox;
      const v128_t w_tap = vw[1 + ky * KW + kx];
      for (size_t v = 0; v < NV; ++v) {
        acc[v] = wasm_f32x4_add(acc[v], wasm_f32x4_mul(wasm_v128_load(p + 4 * v), w_tap));
      }
    }
  }
  detail::f32x4_activate(act, acc);
  store_row_tile(out, ox, out_w, acc);
}

template <size_t KH, size_t KW, size_t SW>
void dwconv_fixed(const F32Conv2dGeometry& g, const float* input, const float* w, float* output, float* scratch,
                  const F32Activation& act) {
  const Layout l = layout_of(g);
  RowRing ring(g, l, input, scratch);
  const TapWeights<KH, KW> vw(w);
  for (size_t oy = 0; oy < g.out_h; ++oy) {
    const int64_t iy0 = first_row(g, oy);
    ring.advance(iy0, iy0 + static_cast<int64_t>((KH - 1) * g.dilation_h));
    const float* rows[KH * SW];
    for (size_t ky = 0; ky < KH; ++ky) {
      const float* row = ring.row(iy0 + static_cast<int64_t>(ky * g.dilation_h));
      for (size_t r = 0; r < SW; ++r) rows[ky * SW + r] = row + r * l.lp;
    }
    float* out = output + oy * g.out_w;
    size_t ox = 0;
    for (; ox + 8 <= l.out_wp; ox += 8) fixed_tile<KH, KW, SW, 2>(rows, vw, ox, act, out, g.out_w);
    if (ox < l.out_wp) fixed_tile<KH, KW, SW, 1>(rows, vw, ox, act, out, g.out_w);
  }
}

// Any kernel size, stride and dilation: tap by tap into an accumulator row.
void dwconv_general(const F32Conv2dGeometry& g, const float* input, const float* w, float* output, float* scratch,
                    const F32Activation& act) {
  const Layout l = layout_of(g);
  float* acc_row = scratch;
  RowRing ring(g, l, input, scratch + l.out_wp);
  const v128_t vbias = wasm_v128_load32_splat(w);
  for (size_t oy = 0; oy < g.out_h; ++oy) {
    const int64_t iy0 = first_row(g, oy);
    ring.advance(iy0, iy0 + static_cast<int64_t>((g.kernel_h - 1) * g.dilation_h));
    for (size_t ox = 0; ox < l.out_wp; ox += 4) wasm_v128_store(acc_row + ox, vbias);
    for (size_t ky = 0; ky < g.kernel_h; ++ky) {
      const int64_t iy = iy0 + static_cast<int64_t>(ky * g.dilation_h);
      if (iy < 0 || iy >= static_cast<int64_t>(g.in_h)) continue;
      const float* row = ring.row(iy);
      for (size_t kx = 0; kx < g.kernel_w; ++kx) {
        const size_t t = kx * g.dilation_w;
        const float* p = row + (t % g.stride_w) * l.lp + t / g.stride_w;
        const v128_t vw = wasm_v128_load32_splat(w + 1 + ky * g.kernel_w + kx);
        for (size_t ox = 0; ox < l.out_wp; ox += 4) {
          const v128_t a = wasm_v128_load(acc_row + ox);
          wasm_v128_store(acc_row + ox, wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(p + ox), vw)));
        }
      }
    }
    float* out = output + oy * g.out_w;
    for (size_t ox = 0; ox < l.out_wp; ox += 4) {
      v128_t acc[1] = {wasm_v128_load(acc_row + ox)};
      detail::f32x4_activate(act, acc);
      store_row_tile(out, ox, g.out_w, acc);
    }
  }
}

[[maybe_unused]] bool geometry_ok(const F32Conv2dGeometry& g) {
  return g.kernel_h >= 1 && g.kernel_w >= 1 && g.stride_h >= 1 && g.stride_w >= 1 && g.dilation_h >= 1 &&
         g.dilation_w >= 1;
}

template <size_t K>
void dwconv_square(const F32Conv2dGeometry& g, const float* input, const float* w, float* output, float* scratch,
                   const F32Activation& act) {
  assert(g.kernel_h == K && g.kernel_w == K);
  if (g.dilation_w == 1 && g.stride_w == 1) {
    dwconv_fixed<K, K, 1>(g, input, w, output, scratch, act);
  } else if (g.dilation_w == 1 && g.stride_w == 2) {
    dwconv_fixed<K, K, 2>(g, input, w, output, scratch, act);
  } else {
    dwconv_general(g, input, w, output, scratch, act);
  }
}

}  // namespace

size_t f32_dwconv2d_chw_scratch_size(const F32Conv2dGeometry& g) {
  // zero row + ring + the general kernel's accumulator row: the Layout sizes,
  // in 64 bits and saturating, so a geometry whose scratch does not fit in
  // size_t (32 bits under WASM) asks for SIZE_MAX, which no allocation meets;
  // when it fits, every Layout field fits too.
  if (g.stride_w == 0) return SIZE_MAX;
  auto mul = [](uint64_t a, uint64_t b) { return (a != 0 && b > UINT64_MAX / 4 / a) ? UINT64_MAX / 4 : a * b; };
  auto up4 = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
  const uint64_t window = mul(g.kernel_h - 1, g.dilation_h) + 1;
  const uint64_t out_wp = up4(g.out_w);
  const uint64_t lp = up4(out_wp + mul(g.kernel_w - 1, g.dilation_w) / g.stride_w);
  const uint64_t total = mul(window + 1, mul(g.stride_w, lp)) + out_wp;
  return total > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(total);
}

void f32_dwconv2d_chw_3x3__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                    float* scratch, const F32Activation* act) {
  assert(geometry_ok(g) && scratch != nullptr && act != nullptr);
  dwconv_square<3>(g, input, weights, output, scratch, *act);
}

void f32_dwconv2d_chw_5x5__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                    float* scratch, const F32Activation* act) {
  assert(geometry_ok(g) && scratch != nullptr && act != nullptr);
  dwconv_square<5>(g, input, weights, output, scratch, *act);
}

void f32_dwconv2d_chw__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                float* scratch, const F32Activation* act) {
  assert(geometry_ok(g) && scratch != nullptr && act != nullptr);
  dwconv_general(g, input, weights, output, scratch, *act);
}

}  // namespace wq
