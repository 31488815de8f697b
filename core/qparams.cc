#include "core/qparams.h"

#include <algorithm>
#include <cmath>

namespace wq {

namespace {

bool quant_type_bits(DType t, int* bits, bool* is_signed) {
  switch (t) {
    case DType::kUInt8: *bits = 8; *is_signed = false; return true;
    case DType::kInt8: *bits = 8; *is_signed = true; return true;
    case DType::kUInt4: *bits = 4; *is_signed = false; return true;
    case DType::kInt4: *bits = 4; *is_signed = true; return true;
    default: return false;
  }
}

}  // namespace

bool is_quantized_dtype(DType t) {
  int bits;
  bool s;
  return quant_type_bits(t, &bits, &s);
}

QuantParams QuantParams::per_tensor(DType t, float scale, int32_t zero_point) {
  QuantParams p;
  if (!quant_type_bits(t, &p.bits, &p.is_signed)) p.bits = 0;  // validate() reports it
  p.scale = scale;
  p.zero_point = zero_point;
  return p;
}

QuantParams QuantParams::per_channel(DType t, std::vector<float> scales, std::vector<int32_t> zero_points,
                                     int axis) {
  QuantParams p;
  if (!quant_type_bits(t, &p.bits, &p.is_signed)) p.bits = 0;
  p.scales = std::move(scales);
  p.zero_points = std::move(zero_points);
  p.axis = axis;
  if (!p.scales.empty()) p.scale = p.scales[0];
  if (!p.zero_points.empty()) p.zero_point = p.zero_points[0];
  return p;
}

DType QuantParams::dtype() const {
  if (bits == 8) return is_signed ? DType::kInt8 : DType::kUInt8;
  if (bits == 4) return is_signed ? DType::kInt4 : DType::kUInt4;
  return DType::kUndefined;
}

Status QuantParams::validate(const std::string& what) const {
  if (bits != 8 && bits != 4) {
    return unsupported(what + ": quantized type must be (u)int8 or (u)int4, got " + std::to_string(bits) +
                       " bits");
  }
  auto check_scale = [&](float s, size_t i) -> Status {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      return invalid_argument(what + ": scale[" + std::to_string(i) + "] = " + std::to_string(s) +
                              " must be finite and > 0");
    }
    return Status::Ok();
  };
  auto check_zp = [&](int32_t z, size_t i) -> Status {
    if (z < qmin() || z > qmax()) {
      return invalid_argument(what + ": zero_point[" + std::to_string(i) + "] = " + std::to_string(z) +
                              " outside [" + std::to_string(qmin()) + ", " + std::to_string(qmax()) + "]");
    }
    return Status::Ok();
  };
  if (scales.empty()) {
    WQ_RETURN_IF_ERROR(check_scale(scale, 0));
    if (!zero_points.empty()) return invalid_argument(what + ": per-channel zero points without per-channel scales");
    WQ_RETURN_IF_ERROR(check_zp(zero_point, 0));
  } else {
    for (size_t i = 0; i < scales.size(); ++i) WQ_RETURN_IF_ERROR(check_scale(scales[i], i));
    if (!zero_points.empty() && zero_points.size() != scales.size()) {
      return invalid_argument(what + ": " + std::to_string(zero_points.size()) + " zero points for " +
                              std::to_string(scales.size()) + " scales");
    }
    for (size_t i = 0; i < zero_points.size(); ++i) WQ_RETURN_IF_ERROR(check_zp(zero_points[i], i));
    if (zero_points.empty()) WQ_RETURN_IF_ERROR(check_zp(zero_point, 0));
  }
  if (block_size < 0) return invalid_argument(what + ": negative block_size");
  return Status::Ok();
}

void fused_clip_range(const QuantParams& out, float lo, float hi, int32_t* qmin, int32_t* qmax) {
  int32_t a = out.qmin(), b = out.qmax();
  // A bound outside the representable range changes nothing; inside it, the
  // bound is quantized with the output's own rounding so that a value equal to
  // the bound maps to the bound.
  if (lo > -INFINITY) a = std::max(a, quantize_value(lo, out.scale, out.zero_point, out.qmin(), out.qmax()));
  if (hi < INFINITY) b = std::min(b, quantize_value(hi, out.scale, out.zero_point, out.qmin(), out.qmax()));
  if (a > b) a = b;
  *qmin = a;
  *qmax = b;
}

void dynamic_quant_params_qu8(const float* x, size_t n, float* scale, uint8_t* zero_point) {
  float mn = 0.0f, mx = 0.0f;
  if (n > 0) {
    mn = mx = x[0];
    for (size_t i = 1; i < n; ++i) {
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
  }
  mn = std::min(mn, 0.0f);
  mx = std::max(mx, 0.0f);
  const float s = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float zp = 0.0f - mn / s;
  zp = std::max(0.0f, std::min(255.0f, zp));
  *scale = s;
  *zero_point = uint8_t(round_half_to_even(zp));
}

float symmetric_scale_qs8(const float* x, size_t n) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax > 0.0f ? amax / 127.0f : 1.0f;
}

}  // namespace wq
