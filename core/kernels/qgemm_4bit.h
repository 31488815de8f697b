// Block-wise 4-bit weight-only GEMV / GEMM (MatMulNBits-style weights).
//
// Weights: W[n][k] (one column of the MatMul per n), 4-bit values q in blocks of
// `block` consecutive k (block a multiple of 32), each block with a float scale
// and an optional 4-bit zero point (default 8 for uint4; signed int4 is stored
// as q + 8 with zero point zp + 8). real W = scale * (q - zp).
//
// Two activation paths:
// * qd8: activations quantized at run time to int8, symmetric, one scale per
//   block (ggml's q8 style), integer dot products per block, then
//       y[n] = bias[n] + sum_b float(dot_b - zp[n,b] * asum_b) * (w_scale[n,b] * a_scale_b)
//   accumulated over blocks in order. Bit-exact against qb4_gemm_qd8__scalar.
// * f32: float activations, weights converted on the fly. Per block and column
//   the kernel keeps two partial sums (even k, odd k; each in increasing k) and
//   adds them at the end of the block; qb4_gemm_f32__scalar follows that order,
//   so the two agree bit for bit (and both are within fp32 rounding of the exact
//   dequantize-and-multiply result).
//
// Packed layout, "c2 nibbles" (the int8 GEMM's 8c2 idea at 4 bits): per group
// of 4 columns and per block, float scale[4], then int32 zero_point[4] unless
// every zero point is the same ("uniform": none given, signed int4, or one
// value throughout -- the usual case), then per 8 k one v128 of 8 uint16 lanes:
//
//     lane 2l + t  (column l = 0..3, t = 0..1) holds nibbles q = 0..3 at bits
//     4q..4q+3 = W[l][k0 + 2q + t]
//
// so (v >> 4q) & 0xF is an int16 vector whose lane pairs are (W[l][k], W[l][k+1])
// for k = k0 + 2q, and i32x4.dot_i16x8_s with the broadcast activation pair
// (a[k], a[k+1]) adds two MACs into lane l: the four output lanes are the four
// columns, with no horizontal reduction.
//
// Owner: q8k.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"

namespace wq {

constexpr size_t kQB4Nr = 4;
constexpr size_t kQB4SubBlock = 32;  // block sizes are multiples of this
constexpr size_t kQB4Kc = 8;         // k per packed vector

class QB4PackedW {
 public:
  size_t k() const { return k_; }
  size_t n() const { return n_; }
  size_t block() const { return block_; }
  size_t blocks() const { return (k_ + block_ - 1) / block_; }
  size_t kpad() const { return blocks() * block_; }
  size_t group_bytes() const { return group_bytes_; }
  bool uniform_zero_point() const { return uniform_zp_; }
  int32_t zero_point() const { return zp_; }  // the uniform zero point
  size_t header_bytes() const { return uniform_zp_ ? 16 : 32; }
  const uint8_t* group(size_t g) const { return static_cast<const uint8_t*>(data_.get()) + g * group_bytes_; }
  size_t nbytes() const { return group_bytes_ * ((n_ + kQB4Nr - 1) / kQB4Nr); }

 private:
  friend Result<QB4PackedW> qb4_pack_w(const uint8_t*, bool, size_t, size_t, size_t, const float*, const uint8_t*);
  size_t k_ = 0, n_ = 0, block_ = 0, group_bytes_ = 0;
  bool uniform_zp_ = true;
  int32_t zp_ = 8;
  std::shared_ptr<void> data_;
};

// Packs onnxruntime MatMulNBits inputs: w4 is [n][blocks][block / 2] bytes (low
// nibble = even k), scales [n][blocks], zero_points [n][ceil(blocks / 2)] bytes
// of packed uint4 (low nibble first) or nullptr (zero point 8). w_signed: the
// nibbles are int4 (then zero_points must be nullptr, zero point 0).
Result<QB4PackedW> qb4_pack_w(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block,
                              const float* scales, const uint8_t* zero_points);

// The value of W[n][k] before scaling: q - zp (the reference's view of the
// source layout, also used by the tests).
int32_t qb4_source_value(const uint8_t* w4, bool w_signed, size_t k, size_t block, const uint8_t* zero_points,
                         size_t n, size_t kk);

// ---- references -----------------------------------------------------------------
// y[m][n] for the qd8 path (activations quantized per block with
// quantize_row_qs8_ref, scale = symmetric_scale_qs8(block)).
void qb4_gemm_qd8__scalar(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block, const float* scales,
                          const uint8_t* zero_points, const float* a, size_t m, size_t lda, const float* bias,
                          float* y, size_t ldy);
void qb4_gemm_f32__scalar(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block, const float* scales,
                          const uint8_t* zero_points, const float* a, size_t m, size_t lda, const float* bias,
                          float* y, size_t ldy);

// ---- kernels (one row, all column groups) ------------------------------------------
// a16: kpad int16, the int8 activations widened and pre-scaled by nibble plane:
// a16[k] = a_q[k] * (256, 16, 1, 256)[(k % 8) / 2] (see the kernel). Per block b, four copies each (so the
// kernel loads instead of splatting): a_scale4[4b..4b+3] = a_scale_b and
// a_corr4 = zp * asum_b (uniform zero point) or asum_b (per-block zero points).
// y: 4 * groups floats (bias not added).
void qb4_gemv_qd8_1x4__wasmsimd_dot16x2(size_t groups, const QB4PackedW& w, const int16_t* a16,
                                        const float* a_scale4, const int32_t* a_corr4, float* y);
// a: kpad floats (zero padded); a_sum: per block (even-k sum + odd-k sum), each in increasing k.
void qb4_gemv_f32_1x4__wasmsimd(size_t groups, const QB4PackedW& w, const float* a, const float* a_sum, float* y);

// ---- drivers ------------------------------------------------------------------------
Status qb4_gemm_dynamic_f32(const QB4PackedW& w, const float* a, size_t m, size_t lda, const float* bias, float* y,
                            size_t ldy);
Status qb4_gemm_f32(const QB4PackedW& w, const float* a, size_t m, size_t lda, const float* bias, float* y,
                    size_t ldy);

}  // namespace wq
