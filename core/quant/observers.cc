#include "core/quant/observers.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace wq {

namespace {

double round_half_even_d(double x) {
  double r = std::floor(x);
  const double frac = x - r;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1.0;
  return r;
}

Status no_values(CalibrationMethod m) {
  return invalid_argument(std::string("observer (") + calibration_method_name(m) +
                          "): no values observed; feed at least one non-empty batch before asking for a range");
}

// The clip range [-t, t] intersected with the data, so a one-signed tensor
// reports its own side only (the params are the same either way).
FloatRange clip_to_data(double t, float min, float max) {
  FloatRange r;
  r.min = float(std::max(double(min), -t));
  r.max = float(std::min(double(max), t));
  return r;
}

// ---- minmax / moving-average ------------------------------------------------

class MinMaxObserver final : public Observer {
 public:
  Status observe(const float* x, size_t n) override {
    if (n == 0) return Status::Ok();
    if (x == nullptr) return invalid_argument("observer (minmax): null data for " + std::to_string(n) + " values");
    float mn, mx;
    WQ_RETURN_IF_ERROR(find_min_max_finite(x, n, &mn, &mx).with_context("observer (minmax): "));
    if (count_ == 0) {
      min_ = mn;
      max_ = mx;
    } else {
      min_ = std::min(min_, mn);
      max_ = std::max(max_, mx);
    }
    count_ += n;
    return Status::Ok();
  }
  Result<FloatRange> range(const QuantTarget& target) const override {
    WQ_RETURN_IF_ERROR(target.validate());
    if (count_ == 0) return no_values(method());
    return FloatRange{min_, max_};
  }
  CalibrationMethod method() const override { return CalibrationMethod::kMinMax; }
  uint64_t count() const override { return count_; }
  size_t state_bytes() const override { return sizeof(*this); }

 private:
  float min_ = 0.0f, max_ = 0.0f;
  uint64_t count_ = 0;
};

// PyTorch's MovingAverageMinMaxObserver: the first batch sets the range, each
// later one moves it by momentum * (batch extreme - current).
class MovingAverageObserver final : public Observer {
 public:
  explicit MovingAverageObserver(float momentum) : momentum_(momentum) {}
  Status observe(const float* x, size_t n) override {
    if (n == 0) return Status::Ok();
    if (x == nullptr) {
      return invalid_argument("observer (moving-average): null data for " + std::to_string(n) + " values");
    }
    float mn, mx;
    WQ_RETURN_IF_ERROR(find_min_max_finite(x, n, &mn, &mx).with_context("observer (moving-average): "));
    if (count_ == 0) {
      min_ = mn;
      max_ = mx;
    } else {
      min_ = min_ + momentum_ * (mn - min_);
      max_ = max_ + momentum_ * (mx - max_);
    }
    count_ += n;
    return Status::Ok();
  }
  Result<FloatRange> range(const QuantTarget& target) const override {
    WQ_RETURN_IF_ERROR(target.validate());
    if (count_ == 0) return no_values(method());
    return FloatRange{min_, max_};
  }
  CalibrationMethod method() const override { return CalibrationMethod::kMovingAverage; }
  uint64_t count() const override { return count_; }
  size_t state_bytes() const override { return sizeof(*this); }

 private:
  float momentum_;
  float min_ = 0.0f, max_ = 0.0f;
  uint64_t count_ = 0;
};

// ---- entropy -----------------------------------------------------------------

// TensorRT's entropy calibration over the |x| histogram h[0..k): for every
// candidate i (bins kept, nq <= i <= k) the reference P is h[0..i) with the
// clipped mass h[i..k) added to its last bin, and Q is h[0..i) merged into nq
// levels and expanded back, each level's mass spread evenly over the bins of
// that level where P is non-zero. Returns the i with the least KL(P || Q).
//
// Within one level Q is constant, so sum p*log(p/q) = sum p*log p - log q *
// sum p, and prefix sums of h, h*log h and (h > 0) make each candidate cost
// O(nq) instead of O(i). Q is mixed with 1e-4 of the uniform distribution so
// that a level with no mass of its own (only clipped outliers) costs a large
// but finite divergence, the role onnxruntime's smooth_distribution plays.
int64_t entropy_bins(const std::vector<uint64_t>& h, int64_t nq) {
  const int64_t k = int64_t(h.size());
  if (k <= nq) return k;
  std::vector<double> ph(size_t(k) + 1, 0.0), phl(size_t(k) + 1, 0.0);
  std::vector<int64_t> pnz(size_t(k) + 1, 0);
  for (int64_t t = 0; t < k; ++t) {
    const double c = double(h[size_t(t)]);
    ph[size_t(t) + 1] = ph[size_t(t)] + c;
    phl[size_t(t) + 1] = phl[size_t(t)] + (c > 0 ? c * std::log(c) : 0.0);
    pnz[size_t(t) + 1] = pnz[size_t(t)] + (c > 0 ? 1 : 0);
  }
  const double total = ph[size_t(k)];
  const double log_total = std::log(total);
  constexpr double kMix = 1e-4;

  int64_t best = k;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int64_t i = nq; i <= k; ++i) {
    const double kept = ph[size_t(i)];
    if (kept <= 0) continue;  // Q would be empty
    const double outliers = total - kept;
    const double uniform = kMix / double(i);
    double kl = 0.0;
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t a = j * i / nq, b = (j + 1) * i / nq;
      const double level_mass = ph[size_t(b)] - ph[size_t(a)];
      // Bins of this level where P > 0; the last bin of the last level also
      // holds the outliers.
      const bool last = b == i;
      const int64_t e = last ? i - 1 : b;
      const double p_last = last ? double(h[size_t(i - 1)]) + outliers : 0.0;
      const int64_t nz = (pnz[size_t(e)] - pnz[size_t(a)]) + (p_last > 0 ? 1 : 0);
      if (nz == 0) continue;
      const double q = (1.0 - kMix) * (level_mass / double(nz)) / kept + uniform;
      const double log_q = std::log(q);
      const double mass = ph[size_t(e)] - ph[size_t(a)];  // P on [a, e)
      if (mass > 0) kl += (phl[size_t(e)] - phl[size_t(a)] - mass * log_total) / total - (mass / total) * log_q;
      if (p_last > 0) {
        const double p = p_last / total;
        kl += p * (std::log(p) - log_q);
      }
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return best;
}

// ---- mse ---------------------------------------------------------------------

// Integral of (t - round(t))^2 from -1/2 to u: k/12 whole periods plus the
// part of the current one (u = k + v, v in [-1/2, 1/2)).
double rounding_error_primitive(double u) {
  const double k = std::floor(u + 0.5);
  const double v = u - k;
  return k / 12.0 + (v * v * v + 0.125) / 3.0;
}

struct Bin {
  double lo, hi;  // the part of the bin inside [min, max]; lo == hi for a point
  double count;
};

// Expected squared error of quantizing the histogram's values with `p`,
// taking the values uniform inside each bin: clipped tails integrate
// (x - bound)^2, the inside integrates the rounding error exactly (the
// quantization grid is the multiples of the scale because zero_point is an
// integer).
double expected_squared_error(const std::vector<Bin>& bins, const QuantParams& p) {
  const double s = p.scale;
  const double lo_q = s * double(p.qmin() - p.zero_point), hi_q = s * double(p.qmax() - p.zero_point);
  const double s3 = s * s * s;
  double total = 0.0;
  for (const Bin& b : bins) {
    if (b.hi <= b.lo) {
      const double x = b.lo;
      double q = std::min(std::max(x, lo_q), hi_q);
      q = s * round_half_even_d(q / s);
      q = std::min(std::max(q, lo_q), hi_q);
      total += b.count * (x - q) * (x - q);
      continue;
    }
    double integral = 0.0;
    if (b.lo < lo_q) {
      const double e = std::min(b.hi, lo_q);
      integral += ((e - lo_q) * (e - lo_q) * (e - lo_q) - (b.lo - lo_q) * (b.lo - lo_q) * (b.lo - lo_q)) / 3.0;
    }
    if (b.hi > hi_q) {
      const double a = std::max(b.lo, hi_q);
      integral += ((b.hi - hi_q) * (b.hi - hi_q) * (b.hi - hi_q) - (a - hi_q) * (a - hi_q) * (a - hi_q)) / 3.0;
    }
    const double a = std::max(b.lo, lo_q), e = std::min(b.hi, hi_q);
    if (e > a) integral += s3 * (rounding_error_primitive(e / s) - rounding_error_primitive(a / s));
    total += b.count * integral / (b.hi - b.lo);
  }
  return total;
}

std::vector<Bin> occupied_bins(const Histogram& h) {
  std::vector<Bin> out;
  const double w = h.bin_width();
  for (int i = 0; i < h.bins(); ++i) {
    if (h.count(i) == 0) continue;
    const double lo = h.bin_lower(i);
    out.push_back(Bin{std::max(lo, double(h.min())), std::min(lo + w, double(h.max())), double(h.count(i))});
  }
  return out;
}

// Least f(j) over integers j in [1, n]: 64 evenly spaced candidates, then 64
// within one step of the best, until the step is 1. Ties keep the larger j
// (the wider, less clipped range).
template <typename F>
int64_t search_1d(int64_t n, F f) {
  constexpr int64_t kPoints = 64;
  int64_t lo = 1, hi = n, best = n;
  double best_err = f(n);
  for (;;) {
    const int64_t step = std::max<int64_t>(1, (hi - lo) / kPoints);
    for (int64_t j = hi; j >= lo; j -= step) {
      if (j == best) continue;
      const double e = f(j);
      if (e < best_err || (e == best_err && j > best)) {
        best_err = e;
        best = j;
      }
    }
    if (step == 1) return best;
    lo = std::max<int64_t>(1, best - step);
    hi = std::min(n, best + step);
  }
}

// Candidates for a clip bound of magnitude up to `extent`: every bin edge,
// capped so that a far-from-zero tensor does not make millions.
int64_t grid_size(double extent, double bin_width) {
  const double n = std::ceil(extent / bin_width);
  return int64_t(std::min(std::max(n, 1.0), double(1 << 20)));
}

// ---- histogram methods --------------------------------------------------------

class HistogramObserver final : public Observer {
 public:
  HistogramObserver(CalibrationMethod method, double percentile, Histogram h)
      : method_(method), percentile_(percentile), hist_(std::move(h)) {}

  Status observe(const float* x, size_t n) override {
    return hist_.add(x, n).with_context(std::string("observer (") + calibration_method_name(method_) + "): ");
  }

  Result<FloatRange> range(const QuantTarget& target) const override {
    WQ_RETURN_IF_ERROR(target.validate());
    if (hist_.empty()) return no_values(method_);
    switch (method_) {
      case CalibrationMethod::kPercentile: return percentile_range(target);
      case CalibrationMethod::kEntropy: return entropy_range(target);
      default: return mse_range(target);
    }
  }

  CalibrationMethod method() const override { return method_; }
  uint64_t count() const override { return hist_.total(); }
  size_t state_bytes() const override { return sizeof(*this) - sizeof(Histogram) + hist_.state_bytes(); }
  const Histogram* histogram() const override { return &hist_; }

 private:
  FloatRange percentile_range(const QuantTarget& target) const {
    const double q = percentile_ / 100.0;
    if (target.symmetric) return clip_to_data(hist_.abs_quantile(q), hist_.min(), hist_.max());
    return FloatRange{float(hist_.quantile(1.0 - q)), float(hist_.quantile(q))};
  }

  FloatRange entropy_range(const QuantTarget& target) const {
    // Levels available on one side of zero: all of them for one-signed data
    // on an asymmetric target, half otherwise.
    int64_t nq;
    if (target.symmetric) {
      nq = target.qmax() - (target.is_signed ? 0 : (1 << (target.bits - 1)));
    } else if (hist_.min() >= 0.0f || hist_.max() <= 0.0f) {
      nq = target.qmax() - target.qmin();
    } else {
      nq = (target.qmax() - target.qmin()) / 2;
    }
    const Histogram::Folded f = hist_.abs_counts();
    const int64_t i = entropy_bins(f.counts, nq);
    const double amax = std::max(std::fabs(double(hist_.min())), std::fabs(double(hist_.max())));
    const double t = i >= int64_t(f.counts.size()) ? amax : double(i) * f.width();
    return clip_to_data(t, hist_.min(), hist_.max());
  }

  Result<FloatRange> mse_range(const QuantTarget& target) const {
    const std::vector<Bin> bins = occupied_bins(hist_);
    const double w = hist_.bin_width();
    const double mn = std::min(double(hist_.min()), 0.0), mx = std::max(double(hist_.max()), 0.0);
    Status failed;
    auto error_of = [&](double lo, double hi) {
      Result<QuantParams> p = quant_params_for_range(float(lo), float(hi), target);
      if (!p.ok()) {
        failed = p.status();
        return std::numeric_limits<double>::infinity();
      }
      return expected_squared_error(bins, *p);
    };
    double lo = mn, hi = mx;
    if (target.symmetric) {
      const double amax = std::max(-mn, mx);
      const int64_t n = grid_size(amax, w);
      const double t = amax * double(search_1d(n, [&](int64_t j) {
                         const double c = amax * double(j) / double(n);
                         return error_of(-c, c);
                       })) /
                       double(n);
      lo = -t;
      hi = t;
    } else {
      // Shrink both ends together first (the common case of a heavy tail on
      // both sides), then let each end move on its own.
      const int64_t n = grid_size(std::max(-mn, mx), w);
      const double a = double(search_1d(n, [&](int64_t j) {
                         const double r = double(j) / double(n);
                         return error_of(mn * r, mx * r);
                       })) /
                       double(n);
      lo = mn * a;
      hi = mx * a;
      if (mx > 0) {
        const int64_t m = grid_size(mx, w);
        hi = mx * double(search_1d(m, [&](int64_t j) { return error_of(lo, mx * double(j) / double(m)); })) /
             double(m);
      }
      if (mn < 0) {
        const int64_t m = grid_size(-mn, w);
        lo = mn * double(search_1d(m, [&](int64_t j) { return error_of(mn * double(j) / double(m), hi); })) /
             double(m);
      }
    }
    WQ_RETURN_IF_ERROR(failed);
    return FloatRange{float(std::max(lo, double(hist_.min()))), float(std::min(hi, double(hist_.max())))};
  }

  CalibrationMethod method_;
  double percentile_;
  Histogram hist_;
};

}  // namespace

// ---- targets and params -------------------------------------------------------

QuantTarget QuantTarget::for_dtype(DType t, bool symmetric) {
  QuantTarget q;
  q.symmetric = symmetric;
  switch (t) {
    case DType::kUInt8: q.bits = 8; q.is_signed = false; break;
    case DType::kInt8: q.bits = 8; q.is_signed = true; break;
    case DType::kUInt4: q.bits = 4; q.is_signed = false; break;
    case DType::kInt4: q.bits = 4; q.is_signed = true; break;
    default: q.bits = 0; break;
  }
  return q;
}

Status QuantTarget::validate() const {
  if (bits != 8 && bits != 4) {
    return invalid_argument("quantization target must be 8 or 4 bits, got " + std::to_string(bits));
  }
  return Status::Ok();
}

Result<QuantParams> quant_params_for_range(float min, float max, const QuantTarget& target) {
  WQ_RETURN_IF_ERROR(target.validate());
  if (!std::isfinite(min) || !std::isfinite(max)) {
    return numeric_error("quantization range [" + std::to_string(min) + ", " + std::to_string(max) +
                         "] is not finite");
  }
  if (min > max) {
    return invalid_argument("quantization range min " + std::to_string(min) + " > max " + std::to_string(max));
  }
  // Widen to include 0 so that real 0 is exactly q = zero_point (zero padding,
  // ReLU outputs and masked values must not pick up an offset).
  const double lo = std::min(double(min), 0.0), hi = std::max(double(max), 0.0);
  QuantParams p;
  p.bits = target.bits;
  p.is_signed = target.is_signed;
  const int32_t qmin = target.qmin(), qmax = target.qmax();
  if (target.symmetric) {
    const double a = std::max(-lo, hi);
    const int32_t zp = target.is_signed ? 0 : (1 << (target.bits - 1));
    float scale = a > 0 ? float(a / double(qmax - zp)) : 1.0f;
    p.scale = std::max(scale, FLT_MIN);
    p.zero_point = zp;
  } else {
    const double span = hi - lo;
    float scale = span > 0 ? float(span / double(qmax - qmin)) : 1.0f;
    scale = std::max(scale, FLT_MIN);
    const double zp = std::min(std::max(double(qmin) - lo / double(scale), double(qmin)), double(qmax));
    p.scale = scale;
    p.zero_point = int32_t(round_half_even_d(zp));
  }
  return p;
}

const char* calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kMovingAverage: return "moving-average";
    case CalibrationMethod::kPercentile: return "percentile";
    case CalibrationMethod::kEntropy: return "entropy";
    case CalibrationMethod::kMse: return "mse";
  }
  return "unknown";
}

Result<CalibrationMethod> parse_calibration_method(const std::string& name) {
  for (CalibrationMethod m : {CalibrationMethod::kMinMax, CalibrationMethod::kMovingAverage,
                              CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    if (name == calibration_method_name(m)) return m;
  }
  return invalid_argument("unknown calibration method '" + name +
                          "'; expected minmax, moving-average, percentile, entropy or mse");
}

Result<QuantParams> Observer::quant_params(const QuantTarget& target) const {
  WQ_ASSIGN_OR_RETURN(FloatRange r, range(target));
  return quant_params_for_range(r.min, r.max, target);
}

Result<std::unique_ptr<Observer>> make_observer(const ObserverOptions& o) {
  switch (o.method) {
    case CalibrationMethod::kMinMax: return std::unique_ptr<Observer>(new MinMaxObserver());
    case CalibrationMethod::kMovingAverage:
      if (!(o.momentum > 0.0f && o.momentum <= 1.0f)) {
        return invalid_argument("observer options: momentum = " + std::to_string(o.momentum) +
                                " must be in (0, 1]");
      }
      return std::unique_ptr<Observer>(new MovingAverageObserver(o.momentum));
    case CalibrationMethod::kPercentile:
    case CalibrationMethod::kEntropy:
    case CalibrationMethod::kMse: {
      if (o.method == CalibrationMethod::kPercentile && !(o.percentile > 0.0 && o.percentile <= 100.0)) {
        return invalid_argument("observer options: percentile = " + std::to_string(o.percentile) +
                                " must be in (0, 100]");
      }
      Result<Histogram> h = Histogram::create(o.bins);
      if (!h.ok()) return h.status().with_context("observer options: ");
      return std::unique_ptr<Observer>(new HistogramObserver(o.method, o.percentile, std::move(h).value()));
    }
  }
  return invalid_argument("observer options: unknown calibration method " + std::to_string(int(o.method)));
}

// ---- weights -------------------------------------------------------------------

namespace {

struct WeightLayout {
  int axis = 0;
  int64_t outer = 1, dim = 1, inner = 1;
  int64_t blocks = 0;  // per block_size along axis; 0 = per-channel
  int64_t groups = 0;
};

Result<WeightLayout> weight_layout(const float* w, const Shape& shape, int axis, int block_size) {
  const int rank = int(shape.size());
  if (rank == 0) return invalid_argument("weight: per-channel quantization needs rank >= 1, got a scalar");
  if (axis < -rank || axis >= rank) {
    return invalid_argument("weight: axis " + std::to_string(axis) + " out of range for shape " +
                            shape_to_string(shape));
  }
  if (block_size < 0) return invalid_argument("weight: block_size " + std::to_string(block_size) + " < 0");
  const int64_t numel = shape_numel(shape);
  if (numel < 0) return invalid_argument("weight: invalid shape " + shape_to_string(shape));
  if (numel == 0) return invalid_argument("weight: empty tensor of shape " + shape_to_string(shape));
  if (w == nullptr) return invalid_argument("weight: null data");
  WeightLayout l;
  l.axis = axis < 0 ? axis + rank : axis;
  for (int d = 0; d < l.axis; ++d) l.outer *= shape[size_t(d)];
  l.dim = shape[size_t(l.axis)];
  for (int d = l.axis + 1; d < rank; ++d) l.inner *= shape[size_t(d)];
  if (block_size > 0) {
    l.blocks = (l.dim + block_size - 1) / block_size;
    l.groups = l.outer * l.blocks * l.inner;
  } else {
    l.groups = l.dim;
  }
  float mn, mx;
  WQ_RETURN_IF_ERROR(find_min_max_finite(w, size_t(numel), &mn, &mx).with_context("weight " + shape_to_string(shape) + ": "));
  return l;
}

// Calls f(flat_index, group) for every element in memory order.
template <typename F>
void for_each_weight(const WeightLayout& l, int block_size, F f) {
  int64_t idx = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t d = 0; d < l.dim; ++d) {
      const int64_t base = l.blocks > 0 ? (o * l.blocks + d / block_size) * l.inner : -1;
      for (int64_t i = 0; i < l.inner; ++i, ++idx) f(idx, l.blocks > 0 ? base + i : d);
    }
  }
}

std::vector<FloatRange> group_ranges(const float* w, const WeightLayout& l, int block_size) {
  std::vector<FloatRange> r(size_t(l.groups),
                            FloatRange{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()});
  for_each_weight(l, block_size, [&](int64_t idx, int64_t g) {
    FloatRange& x = r[size_t(g)];
    x.min = std::min(x.min, w[idx]);
    x.max = std::max(x.max, w[idx]);
  });
  return r;
}

}  // namespace

Result<std::vector<FloatRange>> weight_ranges(const float* w, const Shape& shape, int axis, int block_size) {
  WQ_ASSIGN_OR_RETURN(WeightLayout l, weight_layout(w, shape, axis, block_size));
  return group_ranges(w, l, block_size);
}

Result<QuantParams> weight_quant_params(const float* w, const Shape& shape, int axis, int block_size,
                                        const QuantTarget& target, const WeightRangeOptions& options) {
  WQ_RETURN_IF_ERROR(target.validate());
  if (options.mse_refine) {
    if (options.mse_steps < 1 || options.mse_steps > 1000) {
      return invalid_argument("weight options: mse_steps = " + std::to_string(options.mse_steps) +
                              " must be in [1, 1000]");
    }
    if (!(options.mse_min_ratio > 0.0f && options.mse_min_ratio <= 1.0f)) {
      return invalid_argument("weight options: mse_min_ratio = " + std::to_string(options.mse_min_ratio) +
                              " must be in (0, 1]");
    }
  }
  WQ_ASSIGN_OR_RETURN(WeightLayout l, weight_layout(w, shape, axis, block_size));
  std::vector<FloatRange> ranges = group_ranges(w, l, block_size);
  const size_t groups = ranges.size();

  if (options.mse_refine) {
    std::vector<float> scale(groups);
    std::vector<int32_t> zp(groups);
    std::vector<FloatRange> candidate(groups), best = ranges;
    std::vector<double> err(groups), best_err(groups, std::numeric_limits<double>::infinity());
    const int32_t qmin = target.qmin(), qmax = target.qmax();
    // Stage 0 shrinks both ends by one ratio; on asymmetric targets stages 1
    // and 2 then move the upper and the lower end alone (a channel's tails are
    // rarely equally heavy). A candidate replaces the best only if strictly
    // better, so plain min/max (tried first) wins ties.
    const int stages = target.symmetric ? 1 : 3;
    for (int stage = 0; stage < stages; ++stage) {
      for (int step = 0; step <= options.mse_steps; ++step) {
        const float r = 1.0f - (1.0f - options.mse_min_ratio) * float(step) / float(options.mse_steps);
        for (size_t g = 0; g < groups; ++g) {
          FloatRange c = best[g];
          if (stage != 2) c.max = ranges[g].max * r;
          if (stage != 1) c.min = ranges[g].min * r;
          candidate[g] = c;
          WQ_ASSIGN_OR_RETURN(QuantParams p, quant_params_for_range(c.min, c.max, target));
          scale[g] = p.scale;
          zp[g] = p.zero_point;
        }
        std::fill(err.begin(), err.end(), 0.0);
        // Measured with the runtime's own quantize/dequantize, so the choice is
        // optimal for what the kernels will actually compute.
        for_each_weight(l, block_size, [&](int64_t idx, int64_t g) {
          const float x = w[idx];
          const float y = dequantize_value(quantize_value(x, scale[size_t(g)], zp[size_t(g)], qmin, qmax),
                                           scale[size_t(g)], zp[size_t(g)]);
          err[size_t(g)] += double(x - y) * double(x - y);
        });
        for (size_t g = 0; g < groups; ++g) {
          if (err[g] < best_err[g]) {
            best_err[g] = err[g];
            best[g] = candidate[g];
          }
        }
      }
    }
    ranges = std::move(best);
  }

  QuantParams out;
  out.bits = target.bits;
  out.is_signed = target.is_signed;
  out.axis = l.axis;
  out.block_size = block_size;
  out.scales.resize(groups);
  out.zero_points.resize(groups);
  for (size_t g = 0; g < groups; ++g) {
    WQ_ASSIGN_OR_RETURN(QuantParams p, quant_params_for_range(ranges[g].min, ranges[g].max, target));
    out.scales[g] = p.scale;
    out.zero_points[g] = p.zero_point;
  }
  out.scale = out.scales[0];
  out.zero_point = out.zero_points[0];
  return out;
}

}  // namespace wq
