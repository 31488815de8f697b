#include "core/kernels/qquantize.h"

#include <algorithm>
#include <vector>

#include "core/kernels/qsimd_util.h"
#include "core/kernels/simd.h"

namespace wq {

// ---- references -------------------------------------------------------------

void quantize_row_qu8_ref(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = uint8_t(quantize_value(x[i], scale, zero_point, 0, 255));
}

void quantize_row_qs8_ref(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = int8_t(quantize_value(x[i], scale, zero_point, -128, 127));
}

void dequantize_row_qu8_ref(const uint8_t* x, size_t n, float scale, int32_t zero_point, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_value(x[i], scale, zero_point);
}

void dequantize_row_qs8_ref(const int8_t* x, size_t n, float scale, int32_t zero_point, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = dequantize_value(x[i], scale, zero_point);
}

void requantize_row_qs32_ref(const int32_t* acc, size_t n, float scale, int32_t zero_point, int32_t qmin,
                             int32_t qmax, bool y_signed, void* y) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t q = requantize_fp32(acc[i], scale, zero_point, qmin, qmax);
    if (y_signed) {
      static_cast<int8_t*>(y)[i] = int8_t(q);
    } else {
      static_cast<uint8_t*>(y)[i] = uint8_t(q);
    }
  }
}

// ---- vector versions --------------------------------------------------------

namespace {

// x / scale, clamped to [lo, hi] (NaN -> lo), rounded half to even, plus zp.
inline v128_t quantize4(v128_t x, v128_t vscale, v128_t vlo, v128_t vhi, v128_t vzp) {
  v128_t v = wasm_f32x4_div(x, vscale);
  v = wasm_f32x4_pmax(vlo, v);  // lo < v ? v : lo  -- NaN -> lo
  v = wasm_f32x4_pmin(vhi, v);  // v < hi ? v : hi
  return wasm_i32x4_add(detail::round_to_i32_magic(v), vzp);
}

template <bool kSigned, typename T>
void quantize_row(const float* x, size_t n, float scale, int32_t zero_point, T* y) {
  const int32_t qmin = kSigned ? -128 : 0, qmax = kSigned ? 127 : 255;
  const v128_t vscale = wasm_f32x4_splat(scale);
  const v128_t vlo = wasm_f32x4_splat(float(qmin - zero_point));
  const v128_t vhi = wasm_f32x4_splat(float(qmax - zero_point));
  const v128_t vzp = wasm_i32x4_splat(zero_point);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v128_t q0 = quantize4(wasm_v128_load(x + i), vscale, vlo, vhi, vzp);
    const v128_t q1 = quantize4(wasm_v128_load(x + i + 4), vscale, vlo, vhi, vzp);
    const v128_t q2 = quantize4(wasm_v128_load(x + i + 8), vscale, vlo, vhi, vzp);
    const v128_t q3 = quantize4(wasm_v128_load(x + i + 12), vscale, vlo, vhi, vzp);
    wasm_v128_store(y + i, detail::narrow_i32_to_8<kSigned>(q0, q1, q2, q3));
  }
  for (; i < n; ++i) y[i] = T(quantize_value(x[i], scale, zero_point, qmin, qmax));
}

template <typename T>
void dequantize_row(const T* x, size_t n, float scale, int32_t zero_point, float* y) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  const v128_t vzp = wasm_i32x4_splat(zero_point);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v128_t w = std::is_signed<T>::value ? wasm_i16x8_load8x8(x + i) : wasm_u16x8_load8x8(x + i);
    const v128_t lo = wasm_i32x4_sub(wasm_i32x4_extend_low_i16x8(w), vzp);
    const v128_t hi = wasm_i32x4_sub(wasm_i32x4_extend_high_i16x8(w), vzp);
    wasm_v128_store(y + i, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(lo), vscale));
    wasm_v128_store(y + i + 4, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(hi), vscale));
  }
  for (; i < n; ++i) y[i] = dequantize_value(x[i], scale, zero_point);
}

template <bool kSigned>
void requantize_row(const int32_t* acc, size_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                    void* yv) {
  using T = typename std::conditional<kSigned, int8_t, uint8_t>::type;
  T* y = static_cast<T*>(yv);
  const detail::RequantFp32 rq(scale, zero_point, qmin, qmax);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v128_t q0 = rq.apply(wasm_v128_load(acc + i));
    const v128_t q1 = rq.apply(wasm_v128_load(acc + i + 4));
    const v128_t q2 = rq.apply(wasm_v128_load(acc + i + 8));
    const v128_t q3 = rq.apply(wasm_v128_load(acc + i + 12));
    wasm_v128_store(y + i, detail::narrow_i32_to_8<kSigned>(q0, q1, q2, q3));
  }
  for (; i < n; ++i) y[i] = T(requantize_fp32(acc[i], scale, zero_point, qmin, qmax));
}

}  // namespace

void quantize_row_qu8(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y) {
  quantize_row<false>(x, n, scale, zero_point, y);
}

void quantize_row_qs8(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y) {
  quantize_row<true>(x, n, scale, zero_point, y);
}

void dequantize_row_qu8(const uint8_t* x, size_t n, float scale, int32_t zero_point, float* y) {
  dequantize_row(x, n, scale, zero_point, y);
}

void dequantize_row_qs8(const int8_t* x, size_t n, float scale, int32_t zero_point, float* y) {
  dequantize_row(x, n, scale, zero_point, y);
}

void requantize_row_qs32(const int32_t* acc, size_t n, float scale, int32_t zero_point, int32_t qmin,
                         int32_t qmax, bool y_signed, void* y) {
  if (y_signed) {
    requantize_row<true>(acc, n, scale, zero_point, qmin, qmax, y);
  } else {
    requantize_row<false>(acc, n, scale, zero_point, qmin, qmax, y);
  }
}

void requantize_row_q8(const void* x, bool x_signed, size_t n, int32_t x_zero_point, float scale,
                       int32_t y_zero_point, bool y_signed, void* y) {
  // Through an int32 staging row of bounded size: the subtraction of the input
  // zero point is exact in int32, then the fp32 requantization is shared.
  constexpr size_t kChunk = 256;
  int32_t tmp[kChunk];
  const int32_t qmin = y_signed ? -128 : 0, qmax = y_signed ? 127 : 255;
  for (size_t i0 = 0; i0 < n; i0 += kChunk) {
    const size_t len = std::min(kChunk, n - i0);
    for (size_t i = 0; i < len; ++i) {
      const int32_t v = x_signed ? int32_t(static_cast<const int8_t*>(x)[i0 + i])
                                 : int32_t(static_cast<const uint8_t*>(x)[i0 + i]);
      tmp[i] = v - x_zero_point;
    }
    void* out = y_signed ? static_cast<void*>(static_cast<int8_t*>(y) + i0)
                         : static_cast<void*>(static_cast<uint8_t*>(y) + i0);
    requantize_row_qs32(tmp, len, scale, y_zero_point, qmin, qmax, y_signed, out);
  }
}

void dynamic_quantize_linear_qu8(const float* x, size_t n, uint8_t* y, float* y_scale, uint8_t* y_zero_point) {
  dynamic_quant_params_qu8(x, n, y_scale, y_zero_point);
  quantize_row_qu8(x, n, *y_scale, *y_zero_point, y);
}

// ---- tensor level -----------------------------------------------------------

namespace {

struct AxisSplit {
  int64_t outer = 1, dim = 1, inner = 1;
};

Result<AxisSplit> split_at_axis(const Shape& shape, const QuantParams& p, const char* what) {
  AxisSplit s;
  if (!p.per_channel()) {
    const int64_t n = shape_numel(shape);
    if (n < 0) return invalid_argument(std::string(what) + ": invalid shape " + shape_to_string(shape));
    s.inner = n;
    return s;
  }
  const int64_t rank = int64_t(shape.size());
  int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  if (axis < 0 || axis >= rank) {
    return invalid_argument(std::string(what) + ": axis " + std::to_string(p.axis) + " out of range for shape " +
                            shape_to_string(shape));
  }
  for (int64_t i = 0; i < axis; ++i) s.outer *= shape[i];
  s.dim = shape[axis];
  for (int64_t i = axis + 1; i < rank; ++i) s.inner *= shape[i];
  const int64_t expected =
      p.block_size > 0 ? s.outer * ((s.dim + p.block_size - 1) / p.block_size) * s.inner : s.dim;
  if (int64_t(p.scales.size()) != expected) {
    return invalid_argument(std::string(what) + ": " + std::to_string(p.scales.size()) +
                            " scales, expected " + std::to_string(expected) + " for shape " +
                            shape_to_string(shape) + (p.block_size > 0 ? " (block-wise)" : " (per-axis)"));
  }
  return s;
}

// Index into scales / zero_points for element (o, d, i).
inline size_t param_index(const QuantParams& p, const AxisSplit& s, int64_t o, int64_t d, int64_t i) {
  if (p.block_size <= 0) return size_t(d);
  const int64_t nb = (s.dim + p.block_size - 1) / p.block_size;
  return size_t((o * nb + d / p.block_size) * s.inner + i);
}

}  // namespace

Status quantize_linear(const float* x, const Shape& shape, const QuantParams& p, void* y) {
  WQ_RETURN_IF_ERROR(p.validate("QuantizeLinear"));
  if (p.bits != 8) return unsupported("QuantizeLinear: only 8-bit outputs are implemented");
  WQ_ASSIGN_OR_RETURN(AxisSplit s, split_at_axis(shape, p, "QuantizeLinear"));
  auto row = [&](const float* src, size_t n, float scale, int32_t zp, size_t offset) {
    if (p.is_signed) {
      quantize_row_qs8(src, n, scale, zp, static_cast<int8_t*>(y) + offset);
    } else {
      quantize_row_qu8(src, n, scale, zp, static_cast<uint8_t*>(y) + offset);
    }
  };
  if (!p.per_channel()) {
    row(x, size_t(s.inner), p.scale, p.zero_point, 0);
    return Status::Ok();
  }
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t d = 0; d < s.dim; ++d) {
      const size_t base = size_t((o * s.dim + d) * s.inner);
      if (p.block_size <= 0) {
        row(x + base, size_t(s.inner), p.scales[d], p.zero_point_at(size_t(d)), base);
      } else {
        for (int64_t i = 0; i < s.inner; ++i) {
          const size_t k = param_index(p, s, o, d, i);
          row(x + base + i, 1, p.scales[k], p.zero_point_at(k), base + size_t(i));
        }
      }
    }
  }
  return Status::Ok();
}

Status dequantize_linear(const void* x, const Shape& shape, const QuantParams& p, float* y) {
  WQ_RETURN_IF_ERROR(p.validate("DequantizeLinear"));
  if (p.bits != 8) return unsupported("DequantizeLinear: only 8-bit inputs are implemented here");
  WQ_ASSIGN_OR_RETURN(AxisSplit s, split_at_axis(shape, p, "DequantizeLinear"));
  auto row = [&](size_t offset, size_t n, float scale, int32_t zp) {
    if (p.is_signed) {
      dequantize_row_qs8(static_cast<const int8_t*>(x) + offset, n, scale, zp, y + offset);
    } else {
      dequantize_row_qu8(static_cast<const uint8_t*>(x) + offset, n, scale, zp, y + offset);
    }
  };
  if (!p.per_channel()) {
    row(0, size_t(s.inner), p.scale, p.zero_point);
    return Status::Ok();
  }
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t d = 0; d < s.dim; ++d) {
      const size_t base = size_t((o * s.dim + d) * s.inner);
      if (p.block_size <= 0) {
        row(base, size_t(s.inner), p.scales[d], p.zero_point_at(size_t(d)));
      } else {
        for (int64_t i = 0; i < s.inner; ++i) {
          const size_t k = param_index(p, s, o, d, i);
          row(base + size_t(i), 1, p.scales[k], p.zero_point_at(k));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace wq
