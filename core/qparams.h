// QuantParams: the one description of an affine quantization, and the scalar
// arithmetic every quantized path in webquant is defined by.
//
// The affine map (doc/quantization.md):   real = scale * (q - zero_point)
//
// Rounding is round-half-to-even everywhere (ONNX QuantizeLinear). Requantizing
// an int32 accumulator to 8 bits is "fp32 requantization": convert to float,
// multiply by a float scale, round half to even, add the zero point, clamp. This
// is what onnxruntime's MLAS does for QLinearMatMul / QLinearConv, so our results
// and onnxruntime's agree to the last bit (see doc/quantization.md for the proof
// that clamping before or after rounding gives the same integer).
//
// Layer: beside tensor.h, below everything that quantizes: the int8 kernels
// (core/kernels/q*), the quantized ops, the graph passes, the quantizer and
// training all use this one type. Everything here is header-inline or in
// qparams.cc; it depends on nothing but Status and Tensor.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// How one tensor is quantized. Per-tensor when `scales` is empty; per-channel
// along `axis` otherwise (then `zero_points` is empty or has scales.size()
// entries). Block-wise (int4 weights) additionally sets `block_size`: one scale
// per `block_size` consecutive elements along `axis`.
struct QuantParams {
  int bits = 8;            // 8 or 4
  bool is_signed = false;  // int8/int4 vs uint8/uint4
  float scale = 1.0f;
  int32_t zero_point = 0;
  std::vector<float> scales;         // per-channel / per-block scales
  std::vector<int32_t> zero_points;  // optional, same length as scales
  int axis = -1;                     // channel axis (may be negative, Python style)
  int block_size = 0;                // 0 = not block-wise

  static QuantParams per_tensor(DType t, float scale, int32_t zero_point);
  static QuantParams per_channel(DType t, std::vector<float> scales, std::vector<int32_t> zero_points,
                                 int axis);

  bool per_channel() const { return !scales.empty(); }
  int32_t qmin() const { return is_signed ? -(1 << (bits - 1)) : 0; }
  int32_t qmax() const { return is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
  float scale_at(size_t channel) const { return scales.empty() ? scale : scales[channel]; }
  int32_t zero_point_at(size_t channel) const {
    return zero_points.empty() ? zero_point : zero_points[channel];
  }
  // kUInt8 / kInt8 / kUInt4 / kInt4; kUndefined for other widths.
  DType dtype() const;

  // Scales finite and > 0, zero points inside [qmin, qmax], array sizes consistent.
  // `what` names the tensor in the error message.
  Status validate(const std::string& what) const;
};

// True for the 8- and 4-bit integer types QuantParams can describe.
bool is_quantized_dtype(DType t);

// ---- scalar arithmetic (the reference for every vector kernel) -------------

// Round half to even, independent of the current FP rounding mode. Exact for
// every float (values >= 2^23 are already integers).
inline float round_half_to_even(float x) {
  if (!(std::fabs(x) < 8388608.0f)) return x;  // already integral, or NaN
  float r = std::floor(x);
  const float frac = x - r;  // exact below 2^23
  if (frac > 0.5f || (frac == 0.5f && std::fmod(r, 2.0f) != 0.0f)) r += 1.0f;
  return r;
}

inline int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ONNX QuantizeLinear for one value: saturate(round_half_even(x / scale) + zp).
// The division (not a multiplication by 1/scale) is what onnxruntime does, and
// the two differ in the last bit for some inputs. NaN maps to qmin, as on
// onnxruntime's x86 path (MAXPS returns its second operand for NaN).
inline int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  float v = x / scale;
  const float lo = float(qmin - zero_point), hi = float(qmax - zero_point);
  v = v > lo ? v : lo;  // NaN -> lo
  v = v < hi ? v : hi;
  return int32_t(round_half_to_even(v)) + zero_point;
}

// real = scale * (q - zero_point)
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
  return float(q - zero_point) * scale;
}

// fp32 requantization of an int32 accumulator (bias already added):
// clamp(round_half_even(float(acc) * scale) + zp, qmin, qmax).
// `scale` is in_scale * w_scale / out_scale, evaluated as (a * b) / c by
// requant_scale() below, which is onnxruntime's order.
inline int32_t requantize_fp32(int32_t acc, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  float v = float(acc) * scale;
  const float lo = float(qmin - zero_point), hi = float(qmax - zero_point);
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return int32_t(round_half_to_even(v)) + zero_point;
}

inline float requant_scale(float a_scale, float w_scale, float y_scale) { return a_scale * w_scale / y_scale; }

// Output range of a fused activation on a quantized output: Relu clamps at the
// zero point, Clip(lo, hi) at the quantized bounds. Returns [qmin, qmax]
// narrowed; lo/hi are real values.
void fused_clip_range(const QuantParams& out, float lo, float hi, int32_t* qmin, int32_t* qmax);

// DynamicQuantizeLinear parameters exactly as onnxruntime computes them:
// min' = min(0, min), max' = max(0, max); scale = (max' - min') / 255 (1.0 when
// max' == min', where ONNX would divide by zero); zp = round_half_even(clamp(
// -min' / scale, 0, 255)). `n` may be 0 (then min = max = 0).
void dynamic_quant_params_qu8(const float* x, size_t n, float* scale, uint8_t* zero_point);

// Symmetric int8 parameters for dynamic quantization of activations feeding the
// int4 kernels: scale = absmax / 127 (1.0 for an all-zero block), zp = 0.
float symmetric_scale_qs8(const float* x, size_t n);

}  // namespace wq
