// int8 GEMM: the kernel family behind QLinearMatMul, MatMulInteger,
// QLinearConv / ConvInteger (through im2col) and dynamically quantized MatMul.
//
//   C[m][n] = epilogue( sum_k A[m][k] * W[k][n] + bias[n] )
//
// Operand formats (the kernels declare them; packing adapts — gemmlowp style):
//
// * A, "int16 activations": each 8-bit activation widened to int16 with its
//   zero point already subtracted (so |a| <= 255), rows of `kc2 = round_up(K, 2)`
//   values (the pad value is 0), row stride `a_stride` elements. Subtracting the
//   zero point while widening makes every zero-point correction vanish: no row
//   sums, no column sums, and a conv's padding value is simply 0.
// * W, "packed weights": for each panel of kQGemmNr = 8 output columns (the last
//   panel zero-padded):
//       int32 bias[8]                                  (the op's int32 bias, or 0)
//       T     w[kc2 / 2][8][2]   w[kk][j][t] = W[2*kk + t][n0 + j] - w_zero_point[n0 + j]
//   with T = int8_t ("w8", when every W - zp fits in int8: symmetric int8
//   weights, or uint8 weights with zero point 128) or int16_t ("w16", always
//   exact). Zero points are folded in at pack time; the runtime never sees them.
//
// Register tile of the main kernel, 4x8c2 (A pair broadcast, dot16x2):
//
//              W panel: 2 k x 8 columns, two v128 of int16 pairs
//              +-----------------------+-----------------------+
//              | n0   n1   n2   n3     | n4   n5   n6   n7     |
//   A row 0 -> | acc00 (i32x4)         | acc01 (i32x4)         |
//   A row 1 -> | acc10                 | acc11                 |
//   A row 2 -> | acc20                 | acc21                 |
//   A row 3 -> | acc30                 | acc31                 |
//              +-----------------------+-----------------------+
//   Per k pair: 4 x load32_splat(A[m][2kk..2kk+1]), 2 weight loads, 8 x
//   i32x4.dot_i16x8_s, 8 x i32x4.add  -> 64 MACs. 8 accumulators + 2 weights +
//   1 broadcast = 11 of the 16 v128 registers.
//
// Owner: q8k. See doc/kernels.md ("int8 kernels") for measurements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"

namespace wq {

constexpr size_t kQGemmNr = 8;
constexpr size_t kQGemmMr = 4;

inline size_t qgemm_round_up2(size_t k) { return (k + 1) & ~size_t(1); }

// ---- epilogue parameters ----------------------------------------------------

// Static quantization: out = clamp(round_half_even(float(acc) * scale[n]) + zp, qmin, qmax).
// With scale_per_row (NCHW convolution computes W x im2col, so the output
// channel is the row): out = clamp(round_half_even(float(acc + row_bias[m]) *
// scale[m]) + zp, ...), scale and row_bias indexed by the row of the call.
struct QGemmRequantParams {
  const float* scale = nullptr;  // one per output column of the call (nc entries), or per row
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;  // output range after zp, narrowed by fused Relu/Clip
  bool output_signed = false;    // int8 vs uint8 storage
  bool scale_per_row = false;
  const int32_t* row_bias = nullptr;  // per row (scale_per_row only), or nullptr
};

// Dynamic quantization: out = float(acc) * (a_scale[m] * w_scale[n]) + bias[n].
struct QGemmF32Params {
  const float* a_scale = nullptr;  // one per row of the call (mr entries)
  const float* w_scale = nullptr;  // one per column (nc entries)
  const float* bias = nullptr;     // one per column, or nullptr
};

// ---- micro-kernel signatures (one per output kind) ---------------------------
// mr rows (1..MR of the kernel), nc columns (any; the kernel walks panels),
// kc2 = round_up(K, 2). `w` points at the first panel of the call. c: row stride
// cm_stride elements of the output type.
using QGemmRequantUkernel = void (*)(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride,
                                     const void* w, void* c, size_t cm_stride, const QGemmRequantParams* p);
using QGemmF32Ukernel = void (*)(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride,
                                 const void* w, float* c, size_t cm_stride, const QGemmF32Params* p);
using QGemmS32Ukernel = void (*)(size_t mr, size_t nc, size_t kc2, const int16_t* a, size_t a_stride,
                                 const void* w, int32_t* c, size_t cm_stride, const void* unused);

// The kernels (core/kernels/qs8_gemm_*.cc). Index [mr - 1] of a config table.
#define WQ_DECLARE_QGEMM_KERNELS(suffix)                                                                    \
  void qs8_gemm_##suffix(size_t, size_t, size_t, const int16_t*, size_t, const void*, void*, size_t,        \
                         const QGemmRequantParams*);                                                        \
  void qd8_f32_gemm_##suffix(size_t, size_t, size_t, const int16_t*, size_t, const void*, float*, size_t,   \
                             const QGemmF32Params*);                                                        \
  void qs8_qs32_gemm_##suffix(size_t, size_t, size_t, const int16_t*, size_t, const void*, int32_t*, size_t, \
                              const void*);
WQ_DECLARE_QGEMM_KERNELS(1x8c2__wasmsimd_dot16x2)
WQ_DECLARE_QGEMM_KERNELS(2x8c2__wasmsimd_dot16x2)
WQ_DECLARE_QGEMM_KERNELS(3x8c2__wasmsimd_dot16x2)
WQ_DECLARE_QGEMM_KERNELS(4x8c2__wasmsimd_dot16x2)
WQ_DECLARE_QGEMM_KERNELS(1x8c2__wasmsimd_dot16x2_w16)
WQ_DECLARE_QGEMM_KERNELS(2x8c2__wasmsimd_dot16x2_w16)
WQ_DECLARE_QGEMM_KERNELS(3x8c2__wasmsimd_dot16x2_w16)
WQ_DECLARE_QGEMM_KERNELS(4x8c2__wasmsimd_dot16x2_w16)
#undef WQ_DECLARE_QGEMM_KERNELS

// One table per weight format (XNNPACK's gemm-config): kernels by mr.
struct QGemmConfig {
  size_t mr = kQGemmMr, nr = kQGemmNr;
  QGemmRequantUkernel requant[kQGemmMr];
  QGemmF32Ukernel f32[kQGemmMr];
  QGemmS32Ukernel s32[kQGemmMr];
};
enum class QGemmWeightFormat { kInt8, kInt16 };
const QGemmConfig& qgemm_config(QGemmWeightFormat format);

// ---- scalar reference (obviously correct, unpacked operands) -----------------
// A: m x k, 8-bit (`a_signed`), row stride lda, zero point a_zp.
// W: element (kk, n) at w[kk * w_k_stride + n * w_n_stride], 8-bit (`w_signed`),
//    zero point w_zp[n] (w_zp_per_column) or w_zp[0].
// bias: n int32 or nullptr. acc[m][n] = sum_k (A - a_zp)(W - w_zp) + bias[n].
void qs8_gemm_acc__scalar(size_t m, size_t n, size_t k, const void* a, bool a_signed, size_t lda, int32_t a_zp,
                          const void* w, bool w_signed, size_t w_k_stride, size_t w_n_stride, const int32_t* w_zp,
                          bool w_zp_per_column, const int32_t* bias, int32_t* acc, size_t ldacc);
// The three epilogues over the reference accumulators.
void qs8_gemm__scalar(size_t m, size_t n, const int32_t* acc, size_t ldacc, const QGemmRequantParams& p, void* c,
                      size_t ldc);
void qd8_f32_gemm__scalar(size_t m, size_t n, const int32_t* acc, size_t ldacc, const QGemmF32Params& p, float* c,
                          size_t ldc);

// ---- packing ----------------------------------------------------------------

// Packed weights in one of the two formats above, 64-byte aligned, with the
// kernel's read-past-the-end slack.
class QGemmPackedW {
 public:
  size_t k() const { return k_; }
  size_t n() const { return n_; }
  size_t kc2() const { return qgemm_round_up2(k_); }
  QGemmWeightFormat format() const { return format_; }
  const void* data() const { return data_.get(); }
  size_t panel_bytes() const { return panel_bytes_; }
  const void* panel(size_t n0) const {  // n0 a multiple of kQGemmNr
    return static_cast<const uint8_t*>(data_.get()) + (n0 / kQGemmNr) * panel_bytes_;
  }
  size_t nbytes() const { return nbytes_; }

  // A view of int16 panels in the layout above, built elsewhere (QConv's
  // im2col): k x n, `data` 16-byte padded past the last panel; it must outlive
  // the view.
  static QGemmPackedW view_int16(const void* data, size_t k, size_t n);

 private:
  friend Result<QGemmPackedW> qgemm_pack_w(const void*, bool, size_t, size_t, size_t, size_t, const int32_t*,
                                           bool, const int32_t*, int);
  size_t k_ = 0, n_ = 0, panel_bytes_ = 0, nbytes_ = 0;
  QGemmWeightFormat format_ = QGemmWeightFormat::kInt16;
  std::shared_ptr<void> data_;
};

// Packs W (element (kk, n) at w[kk * w_k_stride + n * w_n_stride]: for ONNX
// MatMul B [K, N] use (N, 1); for Conv weights [N, K] use (1, K)).
// force_format: -1 = choose (int8 when exact), 0 = int8 (fails if not exact), 1 = int16.
Result<QGemmPackedW> qgemm_pack_w(const void* w, bool w_signed, size_t k, size_t n, size_t w_k_stride,
                                  size_t w_n_stride, const int32_t* w_zp, bool w_zp_per_column,
                                  const int32_t* bias, int force_format = -1);

// Widens m rows of 8-bit activations to the int16 A operand (a - zp, zero pad).
void qgemm_pack_a_q8(const void* a, bool a_signed, size_t m, size_t k, size_t lda, int32_t a_zp, int16_t* out,
                     size_t out_stride);
// Dynamic quantization of float rows (DynamicQuantizeLinear semantics: uint8,
// scale/zp from min/max including 0) straight into the int16 A operand.
// per_row: one (scale, zp) per row, else one for the whole m x k block.
// Writes m scales to row_scale (and zps to row_zp when not null).
void qgemm_quantize_a_f32(const float* x, size_t m, size_t k, size_t ldx, bool per_row, int16_t* out,
                          size_t out_stride, float* row_scale, uint8_t* row_zp);

// ---- drivers (blocking over M and N for the caches; single-threaded) --------
//
// With int8-packed weights and at least 32 rows per call, the drivers widen the
// weights to int16 one N block at a time (per-thread scratch of ~200 KB, kept
// across calls) and run the _w16 kernels: the same accumulators, ~9% faster
// under V8 at 128 rows. The copy is made per call, so callers that chunk A
// should make chunks as large as qgemm_a16_chunk_rows() allows.

// Strassen-Winograd. From `limits` on (rows, K, columns), the drivers compute
// the even rows and the first multiple-of-16 columns with one level of
// Strassen-Winograd (core/kernels/qgemm_strassen.cc): seven half-size products
// through the _w16 kernels instead of eight, 12.5% fewer multiply-adds, plus
// block sums; C is finished one L2-sized block of columns at a time and handed
// to the call's epilogue (QGemmBlockSink). Exact, not an
// approximation: all of it is integer arithmetic modulo 2^32 on operands that
// stay exact in int16, so the output is the same bits as the direct path's.
// Needs kc2 % 4 == 0. The remaining row / columns take the direct path.
struct QGemmStrassenLimits {
  size_t min_m = 32, min_k = 256, min_n = 128;
};
QGemmStrassenLimits qgemm_strassen_limits();
// Process-wide; for tests and benchmarks (min_m = SIZE_MAX turns it off).
void qgemm_set_strassen_limits(const QGemmStrassenLimits& limits);
// The part of an m x k x n call (kc2 = round_up(k, 2)) the Strassen path
// takes: *ms rows, *ns columns; false when it does not apply.
bool qgemm_strassen_extent(size_t m, size_t k, size_t n, size_t* ms, size_t* ns);
inline bool qgemm_strassen_extent(const QGemmPackedW& w, size_t m, size_t* ms, size_t* ns) {
  return qgemm_strassen_extent(m, w.k(), w.n(), ms, ns);
}
// Receives the Strassen path's results one block at a time: C (without the
// bias; every row of the call, row stride ldc) for columns [col0, col0 + cols).
class QGemmBlockSink {
 public:
  virtual void emit(const int32_t* c, size_t ldc, size_t col0, size_t cols) = 0;

 protected:
  ~QGemmBlockSink() = default;
};
// C = A * W[:, 0..n) for m rows (m even, n a multiple of 16), handed to
// `sink` block by block; false (nothing emitted) when scratch cannot be
// allocated.
bool qgemm_strassen(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, size_t n,
                    QGemmBlockSink& sink);

// Rows of int16 A per call that keep the A copy around 1 MB (a multiple of 4).
size_t qgemm_a16_chunk_rows(size_t kc2);

// y[m][n] (8-bit, row stride ldy) = requant(A * W + bias) with the A operand
// already in int16 form.
void qgemm_requant_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m,
                       const QGemmRequantParams& p, void* y, size_t ldy);
void qgemm_f32_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, const QGemmF32Params& p,
                   float* y, size_t ldy);
void qgemm_s32_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, int32_t* y, size_t ldy);

// Convenience: QLinearMatMul-style static GEMM from 8-bit A.
Status qgemm_requant(const QGemmPackedW& w, const void* a, bool a_signed, size_t m, size_t lda, int32_t a_zp,
                     const QGemmRequantParams& p, void* y, size_t ldy);
// MatMulInteger-style int32 output from 8-bit A.
Status qgemm_s32(const QGemmPackedW& w, const void* a, bool a_signed, size_t m, size_t lda, int32_t a_zp,
                 int32_t* y, size_t ldy);
// Dynamically quantized MatMul: float A, float out = acc * a_scale * w_scale[n] + bias[n].
Status qgemm_dynamic_f32(const QGemmPackedW& w, const float* a, size_t m, size_t lda, bool per_row,
                         const float* w_scale, const float* bias, float* y, size_t ldy);

}  // namespace wq
