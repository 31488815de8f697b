// Histogram: a fixed-size, streaming histogram of float activations whose
// range grows as calibration batches arrive (doc/quantization.md, "Observers").
//
// Why this grid. Bins are anchored at zero and have a power-of-two width
// w = 2^e: global bin k holds [k*w, (k+1)*w). The histogram stores a window of
// bins() consecutive global bins starting at first_bin(). When a batch falls
// outside the window, e grows by the least s that makes the whole range fit and
// old bin k becomes new bin floor(k / 2^s). A new bin is exactly the union of
// 2^s old bins, so re-binning moves whole counts and never splits one: after
// any sequence of batches the counts equal those of adding every value at once
// (both end with the least power of two whose window covers [min, max]). The
// price is resolution: the data covers between (bins()-2)/2 and bins() bins,
// never fewer than half. PyTorch's HistogramObserver keeps exactly bins() bins
// over [min, max] but has to spread old counts across new bins by assuming a
// uniform density, which is approximate and depends on batch order;
// onnxruntime's collector keeps the bin width and adds bins, so its memory
// grows with the range. We wanted order-independent, exact counts in fixed
// memory.
//
// Dividing a float by a power of two in double is exact, so the bin of a value
// is floor(x * 2^-e) with no rounding at bin edges, natively and in WASM.
//
// Owner: the calibration observers (core/quant/observers.*).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace wq {

// Scans a batch once: min and max of the values, or kNumericError naming how
// many values are NaN/Inf and the index (and value) of the first. `x` may be
// null when n == 0; then *min = +inf, *max = -inf.
Status find_min_max_finite(const float* x, size_t n, float* min, float* max);

class Histogram {
 public:
  static constexpr int kMinBins = 8;
  static constexpr int kMaxBins = 1 << 16;
  static constexpr int kDefaultBins = 2048;

  // kInvalidArgument unless kMinBins <= bins <= kMaxBins. The only allocation
  // of the histogram's state happens here.
  static Result<Histogram> create(int bins);

  // Adds n values. Rejects the whole batch (state unchanged) with
  // kNumericError if any value is NaN/Inf. Allocates only when the range grows
  // (one temporary of bins() counts), never per value.
  Status add(const float* x, size_t n);

  int bins() const { return int(counts_.size()); }
  uint64_t total() const { return total_; }
  bool empty() const { return total_ == 0; }
  // Exact extremes of everything added (meaningless when empty()).
  float min() const { return min_; }
  float max() const { return max_; }

  // Bin i (0 <= i < bins()) holds [bin_lower(i), bin_lower(i) + bin_width()).
  int bin_exponent() const { return exponent_; }
  double bin_width() const;
  int64_t first_bin() const { return first_bin_; }
  double bin_lower(int i) const;
  uint64_t count(int i) const { return counts_[size_t(i)]; }
  const std::vector<uint64_t>& counts() const { return counts_; }

  // Value below which a fraction q (0..1) of the mass lies, interpolating
  // linearly inside the bin that holds it and clamped to [min(), max()]. The
  // result is within one bin width of the exact order statistic.
  double quantile(double q) const;
  // Same for |x|, at the full resolution of the histogram.
  double abs_quantile(double q) const;

  // The same data folded onto |x|: counts[j] holds values with |x| in
  // [j*w, (j+1)*w] where w = 2^exponent. A negative bin k folds onto -k-1
  // exactly, because the grid is symmetric about zero. When the data straddles
  // zero, w is bin_width() and counts has at most bins() entries; when it lies
  // away from zero (all in [999, 1000], say), whole bins are merged as in
  // add() until [0, max|x|] fits in bins() entries. Empty when empty().
  struct Folded {
    int exponent = 0;
    std::vector<uint64_t> counts;
    double width() const;
  };
  Folded abs_counts() const;

  // Bytes of state; independent of how many values were added.
  size_t state_bytes() const { return sizeof(*this) + counts_.capacity() * sizeof(uint64_t); }

 private:
  explicit Histogram(int bins) : counts_(size_t(bins), 0) {}
  // Least exponent >= from such that [lo, hi] fits the window.
  int fit_exponent(double lo, double hi, int from) const;
  void rebin(int exponent, int64_t first_bin);

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  float min_ = 0.0f, max_ = 0.0f;
  int exponent_ = 0;
  int64_t first_bin_ = 0;
};

// Value below which a fraction q of the mass of `counts` lies, where entry j
// covers [origin + j*width, origin + (j+1)*width) (linear inside a bin).
// Returns origin for an all-zero array.
double quantile_of_counts(const uint64_t* counts, size_t n, double origin, double width, double q);

}  // namespace wq
