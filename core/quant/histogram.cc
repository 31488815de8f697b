#include "core/quant/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace wq {

namespace {

// The smallest bin width is the smallest positive float, so an all-zero batch
// (or one denormal value) still gets a valid grid.
constexpr int kMinExponent = -149;
// Bins are at least max|x| * 2^-40 wide: below float resolution anyway, and
// it keeps every bin index far inside int64.
constexpr int kMaxIndexBits = 40;

// floor(k / 2^s) for any int64 k without relying on the sign behaviour of >>.
int64_t floor_div_pow2(int64_t k, int s) {
  if (s <= 0) return k;
  if (s >= 63) return k < 0 ? -1 : 0;
  return k >= 0 ? (k >> s) : -(((-(k + 1)) >> s) + 1);
}

// Only for x inside a window fitted by fit_exponent(), where |x| * inv_width
// <= 2^41.
int64_t bin_of(double x, double inv_width) { return int64_t(std::floor(x * inv_width)); }

}  // namespace

Status find_min_max_finite(const float* x, size_t n, float* min, float* max) {
  float mn = std::numeric_limits<float>::infinity(), mx = -mn;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) {
      if (bad++ == 0) first_bad = i;
      continue;
    }
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  if (bad != 0) {
    const float v = x[first_bad];
    const char* what = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    return numeric_error(std::to_string(bad) + " of " + std::to_string(n) +
                         " values are NaN/Inf; first at index " + std::to_string(first_bad) + " (" + what + ")");
  }
  *min = mn;
  *max = mx;
  return Status::Ok();
}

Result<Histogram> Histogram::create(int bins) {
  if (bins < kMinBins || bins > kMaxBins) {
    return invalid_argument("histogram bins = " + std::to_string(bins) + " must be in [" +
                            std::to_string(kMinBins) + ", " + std::to_string(kMaxBins) + "]");
  }
  return Histogram(bins);
}

double Histogram::bin_width() const { return std::ldexp(1.0, exponent_); }

double Histogram::bin_lower(int i) const { return double(first_bin_ + i) * bin_width(); }

int Histogram::fit_exponent(double lo, double hi, int from) const {
  const int64_t n = bins();
  int e = std::max(from, kMinExponent);
  // Lower bounds that are cheap to compute; the loop below settles the rest
  // (at most two or three steps, since floor() can cost one bin per side).
  const double span = hi - lo;
  if (span > 0) e = std::max(e, std::ilogb(span / double(n - 1)));
  const double amax = std::max(std::fabs(lo), std::fabs(hi));
  if (amax > 0) e = std::max(e, std::ilogb(amax) - kMaxIndexBits);
  for (;; ++e) {
    const double inv = std::ldexp(1.0, -e);
    if (bin_of(hi, inv) - bin_of(lo, inv) + 1 <= n) return e;
  }
}

void Histogram::rebin(int exponent, int64_t first_bin) {
  const int s = exponent - exponent_;
  const int64_t n = bins();
  std::vector<uint64_t> moved(counts_.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t c = counts_[size_t(i)];
    if (c == 0) continue;
    int64_t j = floor_div_pow2(first_bin_ + i, s) - first_bin;
    // Every occupied old bin lies inside [min, max], which the new window
    // covers; the clamp only keeps a bug from writing out of bounds.
    j = std::min(std::max(j, int64_t(0)), n - 1);
    moved[size_t(j)] += c;
  }
  counts_.swap(moved);
  exponent_ = exponent;
  first_bin_ = first_bin;
}

Status Histogram::add(const float* x, size_t n) {
  if (n == 0) return Status::Ok();
  if (x == nullptr) return invalid_argument("histogram: null data for " + std::to_string(n) + " values");
  float bmin, bmax;
  WQ_RETURN_IF_ERROR(find_min_max_finite(x, n, &bmin, &bmax));

  const int64_t nb = bins();
  if (total_ == 0) {
    const int e = fit_exponent(bmin, bmax, kMinExponent);
    exponent_ = e;
    first_bin_ = bin_of(bmin, std::ldexp(1.0, -e));
    std::fill(counts_.begin(), counts_.end(), 0);
    min_ = bmin;
    max_ = bmax;
  } else {
    const float mn = std::min(min_, bmin), mx = std::max(max_, bmax);
    // Compared in double: a batch far wider than the current grid has bin
    // indices beyond int64 at the old width.
    const double inv = std::ldexp(1.0, -exponent_);
    if (std::floor(double(mn) * inv) < double(first_bin_) ||
        std::floor(double(mx) * inv) > double(first_bin_ + nb - 1)) {
      const int e = fit_exponent(mn, mx, exponent_);
      rebin(e, bin_of(mn, std::ldexp(1.0, -e)));
    }
    min_ = mn;
    max_ = mx;
  }

  const double inv = std::ldexp(1.0, -exponent_);
  const int64_t first = first_bin_;
  uint64_t* counts = counts_.data();
  for (size_t i = 0; i < n; ++i) {
    int64_t j = bin_of(x[i], inv) - first;
    j = j < 0 ? 0 : (j >= nb ? nb - 1 : j);  // never taken: the window covers [min, max]
    ++counts[j];
  }
  total_ += n;
  return Status::Ok();
}

double quantile_of_counts(const uint64_t* counts, size_t n, double origin, double width, double q) {
  uint64_t total = 0;
  for (size_t j = 0; j < n; ++j) total += counts[j];
  if (total == 0) return origin;
  q = std::min(std::max(q, 0.0), 1.0);
  const double target = q * double(total);
  double cum = 0;
  for (size_t j = 0; j < n; ++j) {
    const double c = double(counts[j]);
    if (c > 0 && cum + c >= target) {
      const double frac = std::max(0.0, target - cum) / c;
      return origin + (double(j) + frac) * width;
    }
    cum += c;
  }
  return origin + double(n) * width;
}

double Histogram::quantile(double q) const {
  if (empty()) return 0.0;
  const double w = bin_width();
  const double v = quantile_of_counts(counts_.data(), counts_.size(), double(first_bin_) * w, w, q);
  return std::min(std::max(v, double(min_)), double(max_));
}

double Histogram::abs_quantile(double q) const {
  if (empty()) return 0.0;
  // One-signed data needs no folding, so it keeps the full resolution even
  // when it lies far from zero (where abs_counts() has to merge bins).
  if (min_ >= 0.0f) return quantile(q);
  if (max_ <= 0.0f) return -quantile(1.0 - q);
  const Folded f = abs_counts();
  const double amax = std::max(-double(min_), double(max_));
  return std::min(quantile_of_counts(f.counts.data(), f.counts.size(), 0.0, f.width(), q), amax);
}

double Histogram::Folded::width() const { return std::ldexp(1.0, exponent); }

Histogram::Folded Histogram::abs_counts() const {
  Folded f;
  if (empty()) return f;
  const double amax = std::max(std::fabs(double(min_)), std::fabs(double(max_)));
  int s = 0;
  while (floor_div_pow2(bin_of(amax, std::ldexp(1.0, -exponent_)), s) + 1 > int64_t(bins())) ++s;
  f.exponent = exponent_ + s;
  const int64_t k = floor_div_pow2(bin_of(amax, std::ldexp(1.0, -exponent_)), s) + 1;
  f.counts.assign(size_t(k), 0);
  for (int64_t i = 0; i < bins(); ++i) {
    const uint64_t c = counts_[size_t(i)];
    if (c == 0) continue;
    const int64_t g = first_bin_ + i;
    int64_t j = floor_div_pow2(g >= 0 ? g : -g - 1, s);
    j = std::min(j, k - 1);  // never taken: |x| <= amax
    f.counts[size_t(j)] += c;
  }
  return f;
}

}  // namespace wq
