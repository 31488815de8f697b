// One level of Strassen-Winograd over the int8 GEMM kernels (see qgemm.h,
// "Strassen-Winograd").
//
// Split A (m x kc2, int16) and W (kc2 x n) into 2x2 blocks of half size:
//
//   S1 = A21 + A22   S2 = S1 - A11   S3 = A11 - A21   S4 = A12 - S2
//   T1 = B12 - B11   T2 = B22 - T1   T3 = B22 - B12   T4 = T2 - B21
//   P1 = A11 B11   P2 = A12 B21   P3 = S4 B22   P4 = A22 T4
//   P5 = S1 T1     P6 = S2 T2     P7 = S3 T3
//   C11 = P1 + P2              C12 = P1 + P6 + P5 + P3
//   C21 = P1 + P6 + P7 - P4    C22 = P1 + P6 + P7 + P5
//
// Seven half-size products instead of eight: 12.5% fewer multiply-adds. In
// floating point Strassen trades accuracy for speed; here every step is
// integer arithmetic in Z / 2^32 (the kernels' i32x4.dot_i16x8_s and
// i32x4.add wrap, like the scalar reference), so C is exactly A * W as long as
// the operand sums are exact in int16: A - zp lies in [-255, 255] and W - zp
// in [-255, 255], so a sum of up to four blocks stays within [-1020, 1020].
//
// The A sums (S1..S4, m/2 x kc2/2 each) are built once per call. W is walked
// in blocks of columns sized for L2: one pass over a block's four source
// quadrants writes all seven W operands as int16 panels (zero bias), the seven
// products run through the _w16 kernels into the block's C quadrants and one
// temporary, Winograd's additions finish the block, and the caller's sink
// applies the bias and the epilogue while the block is still in cache.
//
// Measured (tests/bench/q8_kernels_bench.cc, WASM): 7.6-9.6% faster than the
// direct path on the 128-row BERT shapes, 2-4% at 32 rows or K = 256, nothing
// at K = 128 (hence the default limits). A second level (49 products of a
// quarter size) was tried and dropped: +0-2.4% more on the 128-row shapes,
// -6% at 32 rows, for 1.75x the A scratch.
#include <algorithm>
#include <cstring>

#include "core/kernels/kernel_scratch.h"
#include "core/kernels/qgemm.h"
#include "core/kernels/simd.h"

namespace wq {

namespace {

QGemmStrassenLimits g_limits;

// The seven products, in the order of the comment above; a product's W
// operand lives in slot P of the W scratch.
enum Product : size_t { kP1, kP2, kP3, kP4, kP5, kP6, kP7, kNumProducts };

// An int16 matrix: element (i, k) at p[i * stride + k].
struct A16 {
  const int16_t* p;
  size_t stride;
};

// S1..S4 (mh x kh each, stride kh, at s + (j - 1) * mh * kh) from the four
// blocks of `a` (2mh x 2kh), each read once; returns every product's A operand.
void build_a_ops(A16 a, size_t mh, size_t kh, int16_t* s, A16* ops) {
  int16_t* s1 = s;
  int16_t* s2 = s1 + mh * kh;
  int16_t* s3 = s2 + mh * kh;
  int16_t* s4 = s3 + mh * kh;
  for (size_t i = 0; i < mh; ++i) {
    const int16_t* a11 = a.p + i * a.stride;
    const int16_t* a12 = a11 + kh;
    const int16_t* a21 = a11 + mh * a.stride;
    const int16_t* a22 = a21 + kh;
    const size_t o = i * kh;
    size_t k = 0;
    for (; k + 8 <= kh; k += 8) {
      const v128_t x11 = wasm_v128_load(a11 + k), x12 = wasm_v128_load(a12 + k);
      const v128_t x21 = wasm_v128_load(a21 + k), x22 = wasm_v128_load(a22 + k);
      const v128_t v1 = wasm_i16x8_add(x21, x22);
      const v128_t v2 = wasm_i16x8_sub(v1, x11);
      wasm_v128_store(s1 + o + k, v1);
      wasm_v128_store(s2 + o + k, v2);
      wasm_v128_store(s3 + o + k, wasm_i16x8_sub(x11, x21));
      wasm_v128_store(s4 + o + k, wasm_i16x8_sub(x12, v2));
    }
    for (; k < kh; ++k) {
      const int v1 = a21[k] + a22[k], v2 = v1 - a11[k];
      s1[o + k] = int16_t(v1);
      s2[o + k] = int16_t(v2);
      s3[o + k] = int16_t(a11[k] - a21[k]);
      s4[o + k] = int16_t(a12[k] - v2);
    }
  }
  ops[kP1] = {a.p, a.stride};
  ops[kP2] = {a.p + kh, a.stride};
  ops[kP3] = {s4, kh};
  ops[kP4] = {a.p + mh * a.stride + kh, a.stride};
  ops[kP5] = {s1, kh};
  ops[kP6] = {s2, kh};
  ops[kP7] = {s3, kh};
}

// Panels of W in the packed layout [int32 bias[8] | kc2/2 x 8 x 2 weights].
struct Panels {
  const uint8_t* base;
  size_t panel_bytes;
  bool w8;  // int8 weights, else int16
};

inline v128_t load_w_i16(const int8_t* p) { return wasm_i16x8_load8x8(p); }
inline v128_t load_w_i16(const int16_t* p) { return wasm_v128_load(p); }

// The seven W operands of panels [p0, p0 + np) of each N half (hp panels per
// half; K halves of kh rows) as int16 panels [zero bias | kh/2 x 8 x 2], the
// operand of product P at out + P * slot_bytes. One pass reads each source
// panel once (reading it once per operand instead cost ~0.5 ms of 6.4 on
// 128x768x3072: the source comes from memory).
template <typename WT>
void build_w_ops_typed(const Panels& w, size_t kh, size_t hp, size_t p0, size_t np, uint8_t* out,
                       size_t slot_bytes) {
  const size_t elems = kh * kQGemmNr;  // per panel and K half, a multiple of 16 (kh is even)
  for (size_t q = 0; q < np; ++q) {
    const WT* left = reinterpret_cast<const WT*>(w.base + (p0 + q) * w.panel_bytes + 32);
    const WT* right = reinterpret_cast<const WT*>(w.base + (hp + p0 + q) * w.panel_bytes + 32);
    const WT* b11 = left;
    const WT* b21 = left + elems;
    const WT* b12 = right;
    const WT* b22 = right + elems;
    int16_t* dst[kNumProducts];
    for (size_t o = 0; o < kNumProducts; ++o) {
      uint8_t* panel = out + o * slot_bytes + q * (32 + 2 * elems);
      std::memset(panel, 0, 32);
      dst[o] = reinterpret_cast<int16_t*>(panel + 32);
    }
    for (size_t e = 0; e < elems; e += 8) {
      const v128_t x11 = load_w_i16(b11 + e), x12 = load_w_i16(b12 + e);
      const v128_t x21 = load_w_i16(b21 + e), x22 = load_w_i16(b22 + e);
      const v128_t t3 = wasm_i16x8_sub(x22, x12);  // T3 = B22 - B12
      const v128_t t2 = wasm_i16x8_add(t3, x11);   // T2 = B22 - (B12 - B11)
      wasm_v128_store(dst[kP1] + e, x11);
      wasm_v128_store(dst[kP2] + e, x21);
      wasm_v128_store(dst[kP3] + e, x22);
      wasm_v128_store(dst[kP4] + e, wasm_i16x8_sub(t2, x21));  // T4
      wasm_v128_store(dst[kP5] + e, wasm_i16x8_sub(x12, x11));  // T1
      wasm_v128_store(dst[kP6] + e, t2);
      wasm_v128_store(dst[kP7] + e, t3);
    }
  }
}

void build_w_ops(const Panels& w, size_t kh, size_t hp, size_t p0, size_t np, uint8_t* out, size_t slot_bytes) {
  if (w.w8) {
    build_w_ops_typed<int8_t>(w, kh, hp, p0, np, out, slot_bytes);
  } else {
    build_w_ops_typed<int16_t>(w, kh, hp, p0, np, out, slot_bytes);
  }
}

// Element-wise int32 block updates over mh x cols (cols a multiple of 8).
template <class F>
void for_blocks(size_t mh, size_t cols, F&& f) {
  for (size_t i = 0; i < mh; ++i) {
    for (size_t j = 0; j < cols; j += 4) f(i, j);
  }
}
void add_block(int32_t* d, size_t ldd, const int32_t* s, size_t lds, size_t mh, size_t cols) {
  for_blocks(mh, cols, [&](size_t i, size_t j) {
    int32_t* p = d + i * ldd + j;
    wasm_v128_store(p, wasm_i32x4_add(wasm_v128_load(p), wasm_v128_load(s + i * lds + j)));
  });
}
void sub_block(int32_t* d, size_t ldd, const int32_t* s, size_t lds, size_t mh, size_t cols) {
  for_blocks(mh, cols, [&](size_t i, size_t j) {
    int32_t* p = d + i * ldd + j;
    wasm_v128_store(p, wasm_i32x4_sub(wasm_v128_load(p), wasm_v128_load(s + i * lds + j)));
  });
}

// C quadrants (mh x cols each, stride ldc) from the seven products in
// Winograd's order, with one mh x cols temporary t (stride ldt);
// product(P, dst, ldd) writes P into dst.
template <class ProductFn>
void winograd(size_t mh, size_t cols, int32_t* c11, int32_t* c12, int32_t* c21, int32_t* c22, size_t ldc, int32_t* t,
              size_t ldt, ProductFn&& product) {
  product(kP6, c22, ldc);
  product(kP1, c11, ldc);
  add_block(c22, ldc, c11, ldc, mh, cols);  // C22 = P1 + P6 (U2)
  product(kP7, c21, ldc);
  add_block(c21, ldc, c22, ldc, mh, cols);  // C21 = U2 + P7 (U3)
  product(kP5, t, ldt);
  for_blocks(mh, cols, [&](size_t i, size_t j) {
    const v128_t p5 = wasm_v128_load(t + i * ldt + j);
    int32_t* d22 = c22 + i * ldc + j;
    wasm_v128_store(c12 + i * ldc + j, wasm_i32x4_add(wasm_v128_load(d22), p5));  // C12 = U2 + P5 (U4)
    wasm_v128_store(d22, wasm_i32x4_add(wasm_v128_load(c21 + i * ldc + j), p5));  // C22 = U3 + P5 (U7)
  });
  product(kP3, t, ldt);
  add_block(c12, ldc, t, ldt, mh, cols);  // C12 = U4 + P3
  product(kP4, t, ldt);
  sub_block(c21, ldc, t, ldt, mh, cols);  // C21 = U3 - P4
  product(kP2, t, ldt);
  add_block(c11, ldc, t, ldt, mh, cols);  // C11 = P1 + P2
}

// dst (mh x cols, stride ldd) = a (mh x kh) * int16 panels w, by the kernels.
void kernel_product(size_t mh, size_t kh, size_t cols, A16 a, const uint8_t* w, int32_t* dst, size_t ldd) {
  const QGemmConfig& cfg = qgemm_config(QGemmWeightFormat::kInt16);
  for (size_t m0 = 0; m0 < mh; m0 += kQGemmMr) {
    const size_t mr = std::min(kQGemmMr, mh - m0);
    cfg.s32[mr - 1](mr, cols, kh, a.p + m0 * a.stride, a.stride, w, dst + m0 * ldd, ldd, nullptr);
  }
}

// Whether an m x kc2 x n problem may be split (m, kc2, n even enough and
// within the limits).
bool level_fits(size_t m, size_t kc2, size_t n) {
  return m >= std::max<size_t>(g_limits.min_m, 2) && m % 2 == 0 && kc2 >= g_limits.min_k && kc2 % 4 == 0 &&
         n >= std::max<size_t>(g_limits.min_n, 16) && n % 16 == 0;
}

}  // namespace

QGemmStrassenLimits qgemm_strassen_limits() { return g_limits; }
void qgemm_set_strassen_limits(const QGemmStrassenLimits& limits) { g_limits = limits; }

bool qgemm_strassen_extent(size_t m, size_t k, size_t n, size_t* ms, size_t* ns) {
  *ms = m & ~size_t(1);
  *ns = n & ~size_t(15);
  const size_t kc2 = qgemm_round_up2(k);
  // Beyond K = 64K the scratch (A sums: rows x K int16, W operands) would run to
  // tens of MB; such calls take the direct path.
  return level_fits(*ms, kc2, *ns) && kc2 <= (size_t(1) << 16);
}

bool qgemm_strassen(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, size_t n,
                    QGemmBlockSink& sink) {
  const size_t mh = m / 2, nh = n / 2, kh = w.kc2() / 2, hp = nh / kQGemmNr;
  if (mh == 0 || hp == 0 || kh > (size_t(1) << 26) / mh) return false;
  // Panels per block (per N half): the seven W operands of a block within
  // ~448 KB and its C quadrants within ~256 KB, so both stay in L2 while the
  // products and the additions run over them.
  const size_t panel_bytes = 32 + kh * kQGemmNr * 2;
  size_t bp = std::max<size_t>(1, (448 * 1024) / (kNumProducts * panel_bytes));
  bp = std::min(bp, std::max<size_t>(1, (256 * 1024) / (m * 2 * kQGemmNr * sizeof(int32_t))));
  bp = std::min(bp, hp);
  const size_t cb = bp * kQGemmNr, ldc = 2 * cb, slot_bytes = bp * panel_bytes;
  uint8_t* a_buf = detail::thread_scratch<detail::kScratchStrassenA>(4 * mh * kh * sizeof(int16_t) + 16);
  uint8_t* c_buf = detail::thread_scratch<detail::kScratchStrassenC>((m * ldc + mh * cb) * sizeof(int32_t) + 16);
  uint8_t* w_buf = detail::thread_scratch<detail::kScratchStrassenW>(kNumProducts * slot_bytes + 16);
  if (!a_buf || !c_buf || !w_buf) return false;

  int16_t* s = reinterpret_cast<int16_t*>(a_buf);
  A16 a_ops[kNumProducts];
  build_a_ops({a16, a_stride}, mh, kh, s, a_ops);

  // One block: [C11 C12; C21 C22] (m x 2*cb, stride ldc) and T (mh x cb).
  int32_t* c11 = reinterpret_cast<int32_t*>(c_buf);
  int32_t* t = c11 + m * ldc;

  for (size_t p0 = 0; p0 < hp; p0 += bp) {
    const size_t np = std::min(bp, hp - p0), cols = np * kQGemmNr;
    build_w_ops({static_cast<const uint8_t*>(w.data()), w.panel_bytes(), w.format() == QGemmWeightFormat::kInt8},
                kh, hp, p0, np, w_buf, slot_bytes);
    auto product = [&](size_t p, int32_t* dst, size_t ldd) {
      kernel_product(mh, kh, cols, a_ops[p], w_buf + p * slot_bytes, dst, ldd);
    };
    winograd(mh, cols, c11, c11 + cb, c11 + mh * ldc, c11 + mh * ldc + cb, ldc, t, cb, product);
    sink.emit(c11, ldc, p0 * kQGemmNr, cols);        // [C11; C21]
    sink.emit(c11 + cb, ldc, nh + p0 * kQGemmNr, cols);  // [C12; C22]
  }
  return true;
}

}  // namespace wq
