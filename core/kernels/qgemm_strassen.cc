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
// The A sums (S1..S4, m/2 x kc2/2 each) are built once per call. The W sums
// are built one L2-sized block of panels at a time into int16 panels (like
// the drivers' block widening) and run through the _w16 kernels with a zero
// bias; the caller adds the bias in its epilogue pass.
#include <algorithm>
#include <cstring>

#include "core/kernels/kernel_scratch.h"
#include "core/kernels/qgemm.h"
#include "core/kernels/simd.h"

namespace wq {

namespace {

QGemmStrassenLimits g_limits;

// S1..S4 (mh x kh each, stride kh) from the four A blocks, each read once.
void build_a_ops(const int16_t* a, size_t a_stride, size_t mh, size_t kh, int16_t* s1, int16_t* s2, int16_t* s3,
                 int16_t* s4) {
  for (size_t i = 0; i < mh; ++i) {
    const int16_t* a11 = a + i * a_stride;
    const int16_t* a12 = a11 + kh;
    const int16_t* a21 = a11 + mh * a_stride;
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
}

// The W operands, built together (build_w_ops).
enum WOp : size_t { kWB11, kWB21, kWB22, kWT1, kWT2, kWT3, kWT4, kNumWOps };

inline v128_t load_w_i16(const int8_t* p) { return wasm_i16x8_load8x8(p); }
inline v128_t load_w_i16(const int16_t* p) { return wasm_v128_load(p); }

// The seven W operands, in the order of kWOps, of panels [p0, p0 + np) of each
// N half, as int16 panels [zero bias | kh/2 x 8 x 2], slot s at
// out + s * slot_bytes. One pass reads each source panel once (from memory:
// reading it once per operand instead cost ~0.5 ms of 6.4 on 128x768x3072).
template <typename WT>
void build_w_ops_typed(const QGemmPackedW& w, size_t kh, size_t hp, size_t p0, size_t np, uint8_t* out,
                       size_t slot_bytes) {
  const size_t elems = kh * kQGemmNr;  // per panel and K half, a multiple of 16 (kh is even)
  const uint8_t* base = static_cast<const uint8_t*>(w.data());
  for (size_t q = 0; q < np; ++q) {
    const WT* left = reinterpret_cast<const WT*>(base + (p0 + q) * w.panel_bytes() + 32);
    const WT* right = reinterpret_cast<const WT*>(base + (hp + p0 + q) * w.panel_bytes() + 32);
    const WT* b11 = left;
    const WT* b21 = left + elems;
    const WT* b12 = right;
    const WT* b22 = right + elems;
    int16_t* dst[kNumWOps];
    for (size_t o = 0; o < kNumWOps; ++o) {
      uint8_t* panel = out + o * slot_bytes + q * (32 + 2 * elems);
      std::memset(panel, 0, 32);
      dst[o] = reinterpret_cast<int16_t*>(panel + 32);
    }
    for (size_t e = 0; e < elems; e += 8) {
      const v128_t x11 = load_w_i16(b11 + e), x12 = load_w_i16(b12 + e);
      const v128_t x21 = load_w_i16(b21 + e), x22 = load_w_i16(b22 + e);
      const v128_t t3 = wasm_i16x8_sub(x22, x12);  // B22 - B12
      const v128_t t2 = wasm_i16x8_add(t3, x11);   // B22 - (B12 - B11)
      wasm_v128_store(dst[kWB11] + e, x11);
      wasm_v128_store(dst[kWB21] + e, x21);
      wasm_v128_store(dst[kWB22] + e, x22);
      wasm_v128_store(dst[kWT1] + e, wasm_i16x8_sub(x12, x11));
      wasm_v128_store(dst[kWT2] + e, t2);
      wasm_v128_store(dst[kWT3] + e, t3);
      wasm_v128_store(dst[kWT4] + e, wasm_i16x8_sub(t2, x21));
    }
  }
}

void build_w_ops(const QGemmPackedW& w, size_t kh, size_t hp, size_t p0, size_t np, uint8_t* out,
                 size_t slot_bytes) {
  if (w.format() == QGemmWeightFormat::kInt8) {
    build_w_ops_typed<int8_t>(w, kh, hp, p0, np, out, slot_bytes);
  } else {
    build_w_ops_typed<int16_t>(w, kh, hp, p0, np, out, slot_bytes);
  }
}

// Element-wise int32 block updates over mh x nh (nh a multiple of 8).
template <class F>
void for_blocks(size_t mh, size_t nh, F&& f) {
  for (size_t i = 0; i < mh; ++i) {
    for (size_t j = 0; j < nh; j += 4) f(i, j);
  }
}
void add_block(int32_t* d, size_t ldd, const int32_t* s, size_t lds, size_t mh, size_t nh) {
  for_blocks(mh, nh, [&](size_t i, size_t j) {
    int32_t* p = d + i * ldd + j;
    wasm_v128_store(p, wasm_i32x4_add(wasm_v128_load(p), wasm_v128_load(s + i * lds + j)));
  });
}
void sub_block(int32_t* d, size_t ldd, const int32_t* s, size_t lds, size_t mh, size_t nh) {
  for_blocks(mh, nh, [&](size_t i, size_t j) {
    int32_t* p = d + i * ldd + j;
    wasm_v128_store(p, wasm_i32x4_sub(wasm_v128_load(p), wasm_v128_load(s + i * lds + j)));
  });
}

// dst (mh x cols, stride ldd) = a_op (mh x kh, stride a_stride) * the
// int16 panels of one W operand.
void product(size_t mh, size_t kh, size_t cols, const int16_t* a_op, size_t a_stride, const uint8_t* w_op,
             int32_t* dst, size_t ldd) {
  const QGemmConfig& cfg = qgemm_config(QGemmWeightFormat::kInt16);
  for (size_t m0 = 0; m0 < mh; m0 += kQGemmMr) {
    const size_t mr = std::min(kQGemmMr, mh - m0);
    cfg.s32[mr - 1](mr, cols, kh, a_op + m0 * a_stride, a_stride, w_op, dst + m0 * ldd, ldd, nullptr);
  }
}

}  // namespace

QGemmStrassenLimits qgemm_strassen_limits() { return g_limits; }
void qgemm_set_strassen_limits(const QGemmStrassenLimits& limits) { g_limits = limits; }

bool qgemm_strassen_extent(const QGemmPackedW& w, size_t m, size_t* ms, size_t* ns) {
  *ms = m & ~size_t(1);
  *ns = w.n() & ~size_t(15);
  const size_t kc2 = w.kc2();
  return *ms >= std::max<size_t>(g_limits.min_m, 2) && *ns >= std::max<size_t>(g_limits.min_n, 16) &&
         w.k() >= g_limits.min_k && kc2 % 4 == 0 && kc2 <= (size_t(1) << 20);
}

bool qgemm_strassen(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, size_t n,
                    QGemmBlockSink& sink) {
  const size_t mh = m / 2, nh = n / 2, kh = w.kc2() / 2, hp = nh / kQGemmNr;
  if (mh == 0 || hp == 0 || kh > (size_t(1) << 26) / mh) return false;
  // Panels per block (per N half): the seven W operands of a block within
  // ~448 KB and its C quadrants within ~256 KB, so both stay in L2 while the
  // products and the additions run over them.
  const size_t panel_bytes = 32 + kh * kQGemmNr * 2;
  size_t bp = std::max<size_t>(1, (448 * 1024) / (kNumWOps * panel_bytes));
  bp = std::min(bp, std::max<size_t>(1, (256 * 1024) / (m * 2 * kQGemmNr * sizeof(int32_t))));
  bp = std::min(bp, hp);
  const size_t cb = bp * kQGemmNr, ldc = 2 * cb, slot_bytes = bp * panel_bytes;
  const size_t a_op_elems = mh * kh;
  uint8_t* a_ops = detail::thread_scratch<detail::kScratchStrassenA>(4 * a_op_elems * sizeof(int16_t) + 16);
  uint8_t* c_buf = detail::thread_scratch<detail::kScratchStrassenC>((m * ldc + mh * cb) * sizeof(int32_t) + 16);
  uint8_t* w_buf = detail::thread_scratch<detail::kScratchStrassenW>(kNumWOps * slot_bytes + 16);
  if (!a_ops || !c_buf || !w_buf) return false;

  int16_t* s1 = reinterpret_cast<int16_t*>(a_ops);
  int16_t* s2 = s1 + a_op_elems;
  int16_t* s3 = s2 + a_op_elems;
  int16_t* s4 = s3 + a_op_elems;
  build_a_ops(a16, a_stride, mh, kh, s1, s2, s3, s4);
  const int16_t* a11 = a16;
  const int16_t* a12 = a16 + kh;
  const int16_t* a22 = a16 + mh * a_stride + kh;

  // One block: [C11 C12; C21 C22] (m x 2*cb, stride ldc) and T (mh x cb).
  int32_t* c11 = reinterpret_cast<int32_t*>(c_buf);
  int32_t* c12 = c11 + cb;
  int32_t* c21 = c11 + mh * ldc;
  int32_t* c22 = c21 + cb;
  int32_t* t = c11 + m * ldc;

  auto w_op = [&](WOp o) { return w_buf + o * slot_bytes; };
  for (size_t p0 = 0; p0 < hp; p0 += bp) {
    const size_t np = std::min(bp, hp - p0), cols = np * kQGemmNr;
    build_w_ops(w, kh, hp, p0, np, w_buf, slot_bytes);
    product(mh, kh, cols, s2, kh, w_op(kWT2), c22, ldc);         // C22 = P6
    product(mh, kh, cols, a11, a_stride, w_op(kWB11), c11, ldc);  // C11 = P1
    add_block(c22, ldc, c11, ldc, mh, cols);                      // C22 = P1 + P6 (U2)
    product(mh, kh, cols, s3, kh, w_op(kWT3), c21, ldc);          // C21 = P7
    add_block(c21, ldc, c22, ldc, mh, cols);                      // C21 = U2 + P7 (U3)
    product(mh, kh, cols, s1, kh, w_op(kWT1), t, cb);             // T = P5
    for_blocks(mh, cols, [&](size_t i, size_t j) {
      const v128_t p5 = wasm_v128_load(t + i * cb + j);
      int32_t* d12 = c12 + i * ldc + j;
      int32_t* d22 = c22 + i * ldc + j;
      wasm_v128_store(d12, wasm_i32x4_add(wasm_v128_load(d22), p5));                 // C12 = U2 + P5 (U4)
      wasm_v128_store(d22, wasm_i32x4_add(wasm_v128_load(c21 + i * ldc + j), p5));  // C22 = U3 + P5 (U7)
    });
    product(mh, kh, cols, s4, kh, w_op(kWB22), t, cb);            // T = P3
    add_block(c12, ldc, t, cb, mh, cols);                         // C12 = U4 + P3
    product(mh, kh, cols, a22, a_stride, w_op(kWT4), t, cb);      // T = P4
    sub_block(c21, ldc, t, cb, mh, cols);                         // C21 = U3 - P4
    product(mh, kh, cols, a12, a_stride, w_op(kWB21), t, cb);     // T = P2
    add_block(c11, ldc, t, cb, mh, cols);                         // C11 = P1 + P2
    sink.emit(c11, ldc, p0 * kQGemmNr, cols);                     // [C11; C21]
    sink.emit(c12, ldc, nh + p0 * kQGemmNr, cols);                // [C12; C22]
  }
  return true;
}

}  // namespace wq
