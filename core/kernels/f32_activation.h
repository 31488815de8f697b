// The activation fused into the epilogue of every f32 kernel (GEMM, conv,
// depthwise conv): applied to bias + sum, once per output, before the store.
//
// Four kinds cover what the ops need: none; min/max clamping (Relu is
// [0, +inf), Clip is [min, max]); HardSigmoid clamp(alpha*x + beta, 0, 1); and
// HardSwish x * clamp(alpha*x + beta, 0, 1) (ONNX HardSwish: alpha = 1/6,
// beta = 0.5). f32_activation_apply is the definition; the SIMD epilogue in
// f32_activation_simd.h computes exactly the same operations, lane by lane, so a
// fast kernel differs from the scalar reference only by the order of its sums.
//
// NaN passes through the clamps unchanged (the comparisons are written so that
// a NaN input fails them), as ONNX Relu/Clip do in onnxruntime.
#pragma once

#include <cstdint>
#include <limits>

namespace wq {

// Append-only: a plan may keep this value.
enum class F32ActivationKind : uint8_t {
  kNone = 0,
  kMinMax = 1,       // clamp(x, min, max)
  kHardSigmoid = 2,  // clamp(alpha*x + beta, 0, 1)
  kHardSwish = 3,    // x * clamp(alpha*x + beta, 0, 1)
};

struct F32Activation {
  F32ActivationKind kind = F32ActivationKind::kNone;
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
  float alpha = 0.0f;
  float beta = 0.0f;

  static F32Activation none() { return F32Activation(); }
  static F32Activation relu() { return clip(0.0f, std::numeric_limits<float>::infinity()); }
  static F32Activation clip(float lo, float hi) {
    F32Activation a;
    a.kind = F32ActivationKind::kMinMax;
    a.min = lo;
    a.max = hi;
    return a;
  }
  // ONNX HardSigmoid defaults: alpha = 0.2, beta = 0.5.
  static F32Activation hard_sigmoid(float alpha, float beta) {
    F32Activation a;
    a.kind = F32ActivationKind::kHardSigmoid;
    a.alpha = alpha;
    a.beta = beta;
    return a;
  }
  static F32Activation hard_swish() {
    F32Activation a;
    a.kind = F32ActivationKind::kHardSwish;
    a.alpha = 1.0f / 6.0f;
    a.beta = 0.5f;
    return a;
  }
};

// Clamp that lets NaN through: both comparisons are false for NaN.
inline float f32_clamp_keep_nan(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return hi < x ? hi : x;
}

// The definition of every activation (scalar reference).
inline float f32_activation_apply(const F32Activation& act, float x) {
  switch (act.kind) {
    case F32ActivationKind::kNone:
      return x;
    case F32ActivationKind::kMinMax:
      return f32_clamp_keep_nan(x, act.min, act.max);
    case F32ActivationKind::kHardSigmoid:
      return f32_clamp_keep_nan(act.alpha * x + act.beta, 0.0f, 1.0f);
    case F32ActivationKind::kHardSwish:
      return x * f32_clamp_keep_nan(act.alpha * x + act.beta, 0.0f, 1.0f);
  }
  return x;
}

}  // namespace wq
