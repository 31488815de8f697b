// Element-wise quantize / dequantize / requantize between float, int32
// accumulators and 8-bit tensors.
//
// Every routine has a `_ref` twin written as the plain loop over the scalar
// definitions in core/qparams.h; the vector versions must match it bit for
// bit (tests/core/kernels_q8_test.cc). Naming follows ggml: what it does, to
// which type: quantize_row_qu8 = float -> uint8 for one contiguous row.
//
// Owner: q8k (int8 kernels).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/qparams.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// ---- references -------------------------------------------------------------
// y[i] = saturate(round_half_even(x[i] / scale) + zp)
void quantize_row_qu8_ref(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y);
void quantize_row_qs8_ref(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y);
// y[i] = (x[i] - zp) * scale
void dequantize_row_qu8_ref(const uint8_t* x, size_t n, float scale, int32_t zero_point, float* y);
void dequantize_row_qs8_ref(const int8_t* x, size_t n, float scale, int32_t zero_point, float* y);
// y[i] = clamp(round_half_even(float(acc[i]) * scale) + zp, qmin, qmax), stored
// as uint8 (qmin >= 0) or int8 (qmax <= 127) according to `y_signed`.
void requantize_row_qs32_ref(const int32_t* acc, size_t n, float scale, int32_t zero_point, int32_t qmin,
                             int32_t qmax, bool y_signed, void* y);

// ---- vector versions (WASM SIMD128; SIMDe natively) -------------------------
void quantize_row_qu8(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y);
void quantize_row_qs8(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y);
void dequantize_row_qu8(const uint8_t* x, size_t n, float scale, int32_t zero_point, float* y);
void dequantize_row_qs8(const int8_t* x, size_t n, float scale, int32_t zero_point, float* y);
void requantize_row_qs32(const int32_t* acc, size_t n, float scale, int32_t zero_point, int32_t qmin,
                         int32_t qmax, bool y_signed, void* y);
// 8-bit -> 8-bit with new parameters: y = requantize_fp32(x - x_zp, x_scale / y_scale, y_zp).
void requantize_row_q8(const void* x, bool x_signed, size_t n, int32_t x_zero_point, float scale,
                       int32_t y_zero_point, bool y_signed, void* y);

// ONNX DynamicQuantizeLinear (uint8): parameters as onnxruntime computes them
// (dynamic_quant_params_qu8), then quantize_row_qu8.
void dynamic_quantize_linear_qu8(const float* x, size_t n, uint8_t* y, float* y_scale, uint8_t* y_zero_point);

// ---- tensor-level (per-tensor, per-axis, block-wise along the axis) -----------
// ONNX QuantizeLinear / DequantizeLinear over a tensor of `shape`. Per-axis and
// block-wise layouts follow the ONNX opset-21 definition: scales has shape[axis]
// entries (per-axis) or ceil(shape[axis] / block_size) per slice (block-wise).
// 8-bit output only for quantize; dequantize accepts 8-bit inputs.
Status quantize_linear(const float* x, const Shape& shape, const QuantParams& p, void* y);
Status dequantize_linear(const void* x, const Shape& shape, const QuantParams& p, float* y);

}  // namespace wq
