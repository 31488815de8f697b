// Calibration observers: streaming statistics of a tensor's values over the
// user's calibration data, turned into QuantParams for a target integer type
// (doc/quantization.md, "Observers").
//
// An observer is fed batches of floats with observe() and keeps only running
// statistics or a fixed-size Histogram, never the values themselves, so its
// memory (state_bytes()) does not depend on how many batches it has seen. A
// batch containing NaN/Inf is rejected whole with kNumericError (count and
// first index in the message) and leaves the observer unchanged.
//
// Every range becomes parameters through quant_params_for_range(), which
// widens the range to include 0 first, so real 0 is exactly q = zero_point.
//
// Weights are not observed: weight_quant_params() reads the whole tensor once,
// per output channel or per block, with min/max ranges optionally refined by
// searching the clip ratio with the least squared error.
//
// Owner: calibration (the "observe" pass calls make_observer per activation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/quant/histogram.h"
#include "core/qparams.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// The integer type and mapping a range is quantized to.
struct QuantTarget {
  int bits = 8;            // 8 or 4
  bool is_signed = false;  // int8/int4 vs uint8/uint4
  // Symmetric: the range is [-a, a] with a = max(|min|, |max|); zero point 0
  // (signed) or 2^(bits-1) (unsigned: 128 / 8).
  bool symmetric = false;

  // bits/is_signed from kUInt8 / kInt8 / kUInt4 / kInt4; any other type gives
  // bits = 0, which validate() reports.
  static QuantTarget for_dtype(DType t, bool symmetric);
  int32_t qmin() const { return is_signed ? -(1 << (bits - 1)) : 0; }
  int32_t qmax() const { return is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
  Status validate() const;
};

struct FloatRange {
  float min = 0.0f;
  float max = 0.0f;
};

// Scale and zero point for [min, max] (doc/quantization.md, "Observers"):
//   widen to include 0: min = min(min, 0), max = max(max, 0);
//   asymmetric: scale = (max - min) / (qmax - qmin),
//               zero_point = clamp(round_half_even(qmin - min / scale));
//   symmetric:  a = max(-min, max), zero_point = 0 or 2^(bits-1),
//               scale = a / (qmax - zero_point)  (127, 7; qmin stays usable);
//   an all-zero range gets scale 1; a scale below FLT_MIN is raised to it.
// kInvalidArgument for a bad target or min > max, kNumericError for NaN/Inf.
Result<QuantParams> quant_params_for_range(float min, float max, const QuantTarget& target);

// Append-only: the names are what recipes spell.
enum class CalibrationMethod : int {
  kMinMax = 0,         // "minmax": running min and max
  kMovingAverage = 1,  // "moving-average": EMA of per-batch min and max
  kPercentile = 2,     // "percentile": the p-th percentile (|x| when symmetric)
  kEntropy = 3,        // "entropy": KL-divergence threshold (TensorRT style)
  kMse = 4,            // "mse": clip range with the least expected squared error
};
const char* calibration_method_name(CalibrationMethod m);
// kInvalidArgument listing the valid names for anything else.
Result<CalibrationMethod> parse_calibration_method(const std::string& name);

struct ObserverOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  // moving-average: new = old + momentum * (batch - old), as PyTorch's
  // averaging_constant. In (0, 1].
  float momentum = 0.01f;
  // percentile: in (0, 100]. Asymmetric targets clip both tails at
  // (100 - p) and p; symmetric targets clip |x| at p.
  double percentile = 99.99;
  // percentile / entropy / mse: histogram bins, Histogram::kMinBins..kMaxBins.
  int bins = Histogram::kDefaultBins;
};

class Observer {
 public:
  virtual ~Observer() = default;

  // Adds a batch. n == 0 is a no-op. kNumericError (state unchanged) if any
  // value is NaN/Inf; kInvalidArgument for null data with n > 0.
  virtual Status observe(const float* x, size_t n) = 0;

  // The calibrated clip range for `target` (histogram methods depend on the
  // bit width and symmetry). Not yet widened to include 0.
  // kInvalidArgument when nothing has been observed or the target is bad.
  virtual Result<FloatRange> range(const QuantTarget& target) const = 0;

  // quant_params_for_range(range(target)).
  Result<QuantParams> quant_params(const QuantTarget& target) const;

  virtual CalibrationMethod method() const = 0;
  // Number of values observed so far.
  virtual uint64_t count() const = 0;
  // Bytes of state; fixed after construction.
  virtual size_t state_bytes() const = 0;
  // The histogram of histogram methods, nullptr for minmax / moving-average.
  virtual const Histogram* histogram() const { return nullptr; }
};

// kInvalidArgument for options out of range (naming the field).
Result<std::unique_ptr<Observer>> make_observer(const ObserverOptions& options);

// ---- weights ---------------------------------------------------------------

struct WeightRangeOptions {
  // Shrink each channel's (or block's) min/max by the ratio r in
  // {1, 1 - d, 1 - 2d, ..., mse_min_ratio} (d = (1 - mse_min_ratio) / mse_steps)
  // that minimises sum (x - dequantize(quantize(x)))^2 over its values; on
  // asymmetric targets then each end alone over the same ratios. Plain
  // min/max wins ties. Costs (mse_steps + 1) passes over the weight (three
  // times that when asymmetric).
  bool mse_refine = false;
  int mse_steps = 20;
  float mse_min_ratio = 0.2f;
};

// min/max of every channel along `axis` of a weight of shape `shape` (row
// major, axis may be negative), or with block_size > 0 of every block of
// block_size consecutive elements along `axis`. Per-channel: shape[axis]
// ranges. Block-wise: one range per element of the scale shape, which is
// `shape` with shape[axis] replaced by ceil(shape[axis] / block_size) (ONNX
// DequantizeLinear's blocked layout), in row-major order.
// kInvalidArgument for a bad axis / block size / empty tensor, kNumericError
// naming the count and first flat index of NaN/Inf values.
Result<std::vector<FloatRange>> weight_ranges(const float* w, const Shape& shape, int axis, int block_size);

// QuantParams with per-channel (block_size == 0) or per-block scales and zero
// points laid out as weight_ranges(); axis normalized to >= 0.
Result<QuantParams> weight_quant_params(const float* w, const Shape& shape, int axis, int block_size,
                                        const QuantTarget& target, const WeightRangeOptions& options = {});

}  // namespace wq
