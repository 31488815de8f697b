// Calibration observers and the fixed-size histogram (core/quant/observers.h,
// core/quant/histogram.h): ranges and QuantParams against hand-computed values
// and brute force over the same deterministic data.
#include <doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/quant/histogram.h"
#include "core/quant/observers.h"
#include "core/qparams.h"

namespace wq {
namespace {

// splitmix64: fully specified, so the data is the same natively and in WASM
// (std:: distributions are not).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  // Laplace(0, b) by inverting its CDF.
  float laplace(double b) {
    const double u = uniform() - 0.5;
    const double m = std::max(1e-300, 1.0 - 2.0 * std::fabs(u));
    return float((u < 0 ? 1.0 : -1.0) * b * std::log(m));
  }
};

std::unique_ptr<Observer> make(CalibrationMethod m, int bins = Histogram::kDefaultBins) {
  ObserverOptions o;
  o.method = m;
  o.bins = bins;
  Result<std::unique_ptr<Observer>> r = make_observer(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

void feed(Observer& obs, const std::vector<float>& x, size_t batch) {
  for (size_t i = 0; i < x.size(); i += batch) {
    const Status s = obs.observe(x.data() + i, std::min(batch, x.size() - i));
    REQUIRE(s.ok());
  }
}

QuantTarget target(int bits, bool is_signed, bool symmetric) {
  QuantTarget t;
  t.bits = bits;
  t.is_signed = is_signed;
  t.symmetric = symmetric;
  return t;
}

// Mean squared error of quantizing x with p, using the runtime's own scalar ops.
double quant_mse(const std::vector<float>& x, const QuantParams& p) {
  double e = 0;
  for (float v : x) {
    const float y = dequantize_value(quantize_value(v, p.scale, p.zero_point, p.qmin(), p.qmax()), p.scale,
                                     p.zero_point);
    e += double(v - y) * double(v - y);
  }
  return e / double(x.size());
}

// Laplace(0, 1) samples plus a few far outliers on both sides.
std::vector<float> heavy_tailed(size_t n, int outliers, float outlier_mag, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = rng.laplace(1.0);
  for (int i = 0; i < outliers; ++i) {
    const size_t at = size_t(rng.next() % n);
    x[at] = (i % 2 ? -1.0f : 1.0f) * outlier_mag * (1.0f + 0.25f * float(rng.uniform()));
  }
  return x;
}

// ---- quant_params_for_range -------------------------------------------------------

TEST_CASE("quant_params_for_range: asymmetric uint8 / int8 from hand-computed values") {
  Result<QuantParams> u = quant_params_for_range(-1.0f, 3.0f, target(8, false, false));
  REQUIRE(u.ok());
  CHECK(u->scale == 4.0f / 255.0f);
  // 0 - (-1) / (4/255) = 63.75 -> 64
  CHECK(u->zero_point == 64);
  CHECK(u->bits == 8);
  CHECK_FALSE(u->is_signed);

  Result<QuantParams> s = quant_params_for_range(-1.0f, 3.0f, target(8, true, false));
  REQUIRE(s.ok());
  CHECK(s->scale == u->scale);
  CHECK(s->zero_point == u->zero_point - 128);  // uint8 and int8 differ by 128 only
  CHECK(s->is_signed);

  // Ranges that do not include zero are widened to it.
  Result<QuantParams> pos = quant_params_for_range(2.0f, 5.1f, target(8, false, false));
  REQUIRE(pos.ok());
  CHECK(pos->scale == float(5.1f / 255.0));
  CHECK(pos->zero_point == 0);
  Result<QuantParams> neg = quant_params_for_range(-6.0f, -1.0f, target(8, true, false));
  REQUIRE(neg.ok());
  CHECK(neg->scale == float(6.0 / 255.0));
  CHECK(neg->zero_point == 127);
}

TEST_CASE("quant_params_for_range: symmetric zero points and scales, 8 and 4 bits") {
  Result<QuantParams> s8 = quant_params_for_range(-0.5f, 2.54f, target(8, true, true));
  REQUIRE(s8.ok());
  CHECK(s8->zero_point == 0);
  CHECK(s8->scale == float(2.54 / 127.0));
  Result<QuantParams> u8 = quant_params_for_range(-0.5f, 2.54f, target(8, false, true));
  REQUIRE(u8.ok());
  CHECK(u8->zero_point == 128);
  CHECK(u8->scale == float(2.54 / 127.0));
  Result<QuantParams> s4 = quant_params_for_range(-3.5f, 1.0f, target(4, true, true));
  REQUIRE(s4.ok());
  CHECK(s4->zero_point == 0);
  CHECK(s4->scale == 0.5f);
  CHECK(s4->qmin() == -8);
  CHECK(s4->qmax() == 7);
  Result<QuantParams> u4 = quant_params_for_range(-3.5f, 1.0f, target(4, false, true));
  REQUIRE(u4.ok());
  CHECK(u4->zero_point == 8);
  CHECK(u4->scale == 0.5f);
  // Asymmetric 4-bit: 15 steps over [-1, 2].
  Result<QuantParams> a4 = quant_params_for_range(-1.0f, 2.0f, target(4, false, false));
  REQUIRE(a4.ok());
  CHECK(a4->scale == 0.2f);
  CHECK(a4->zero_point == 5);
  CHECK(a4->validate("a4").ok());
}

TEST_CASE("quant_params_for_range: real zero is exactly representable for every target") {
  Rng rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const float a = float((rng.uniform() - 0.5) * std::pow(10.0, 6 * rng.uniform() - 3));
    const float b = float((rng.uniform() - 0.5) * std::pow(10.0, 6 * rng.uniform() - 3));
    for (int bits : {8, 4}) {
      for (bool is_signed : {false, true}) {
        for (bool sym : {false, true}) {
          const QuantTarget t = target(bits, is_signed, sym);
          Result<QuantParams> p = quant_params_for_range(std::min(a, b), std::max(a, b), t);
          REQUIRE(p.ok());
          REQUIRE(p->validate("p").ok());
          CHECK(quantize_value(0.0f, p->scale, p->zero_point, p->qmin(), p->qmax()) == p->zero_point);
          CHECK(dequantize_value(p->zero_point, p->scale, p->zero_point) == 0.0f);
          // The range itself is covered to within half a step at either end.
          const float lo = std::min(std::min(a, b), 0.0f), hi = std::max(std::max(a, b), 0.0f);
          CHECK(dequantize_value(p->qmin(), p->scale, p->zero_point) <= lo + 0.5001f * p->scale);
          CHECK(dequantize_value(p->qmax(), p->scale, p->zero_point) >= hi - 0.5001f * p->scale);
        }
      }
    }
  }
}

TEST_CASE("quant_params_for_range: degenerate and bad ranges") {
  Result<QuantParams> z = quant_params_for_range(0.0f, 0.0f, target(8, false, false));
  REQUIRE(z.ok());
  CHECK(z->scale == 1.0f);
  CHECK(z->zero_point == 0);
  Result<QuantParams> zs = quant_params_for_range(0.0f, 0.0f, target(8, true, false));
  REQUIRE(zs.ok());
  CHECK(zs->zero_point == -128);
  Result<QuantParams> tiny = quant_params_for_range(0.0f, 1e-42f, target(8, false, false));
  REQUIRE(tiny.ok());
  CHECK(tiny->scale == std::numeric_limits<float>::min());
  CHECK(tiny->validate("tiny").ok());
  // The whole float range still gives a finite scale.
  Result<QuantParams> big = quant_params_for_range(-FLT_MAX, FLT_MAX, target(8, false, false));
  REQUIRE(big.ok());
  CHECK(std::isfinite(big->scale));
  CHECK(big->validate("big").ok());

  CHECK(quant_params_for_range(1.0f, -1.0f, target(8, false, false)).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(quant_params_for_range(NAN, 1.0f, target(8, false, false)).status().code() == StatusCode::kNumericError);
  CHECK(quant_params_for_range(0.0f, INFINITY, target(8, false, false)).status().code() ==
        StatusCode::kNumericError);
  CHECK(quant_params_for_range(0.0f, 1.0f, target(16, false, false)).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(QuantTarget::for_dtype(DType::kFloat32, false).validate().code() == StatusCode::kInvalidArgument);
  const QuantTarget i4 = QuantTarget::for_dtype(DType::kInt4, true);
  CHECK(i4.bits == 4);
  CHECK(i4.is_signed);
  CHECK(i4.symmetric);
}

// ---- names and options -------------------------------------------------------------

TEST_CASE("calibration method names round-trip and options are validated") {
  for (int m = 0; m <= 4; ++m) {
    const CalibrationMethod method = CalibrationMethod(m);
    Result<CalibrationMethod> back = parse_calibration_method(calibration_method_name(method));
    REQUIRE(back.ok());
    CHECK(*back == method);
  }
  Result<CalibrationMethod> bad = parse_calibration_method("kl");
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("entropy") != std::string::npos);

  ObserverOptions o;
  o.method = CalibrationMethod::kMovingAverage;
  o.momentum = 0.0f;
  CHECK(make_observer(o).status().code() == StatusCode::kInvalidArgument);
  o.momentum = 1.5f;
  CHECK(make_observer(o).status().message().find("momentum") != std::string::npos);
  o = ObserverOptions();
  o.method = CalibrationMethod::kPercentile;
  o.percentile = 0.0;
  CHECK(make_observer(o).status().message().find("percentile") != std::string::npos);
  o.percentile = 100.5;
  CHECK(make_observer(o).status().code() == StatusCode::kInvalidArgument);
  o = ObserverOptions();
  o.method = CalibrationMethod::kEntropy;
  o.bins = 4;
  CHECK(make_observer(o).status().message().find("bins") != std::string::npos);
  o.bins = Histogram::kMaxBins + 1;
  CHECK(make_observer(o).status().code() == StatusCode::kInvalidArgument);
}

// ---- minmax / moving average ----------------------------------------------------------

TEST_CASE("minmax observer: exact running extremes over batches") {
  auto obs = make(CalibrationMethod::kMinMax);
  const std::vector<float> a = {0.5f, -0.25f, 3.0f};
  const std::vector<float> b = {-7.125f, 1.0f};
  const std::vector<float> c = {2.0f, 10.5f, -1.0f, 0.0f};
  REQUIRE(obs->observe(a.data(), a.size()).ok());
  Result<FloatRange> r1 = obs->range(target(8, false, false));
  REQUIRE(r1.ok());
  CHECK(r1->min == -0.25f);
  CHECK(r1->max == 3.0f);
  REQUIRE(obs->observe(b.data(), b.size()).ok());
  REQUIRE(obs->observe(nullptr, 0).ok());  // empty batch: no-op
  REQUIRE(obs->observe(c.data(), c.size()).ok());
  Result<FloatRange> r = obs->range(target(8, false, false));
  REQUIRE(r.ok());
  CHECK(r->min == -7.125f);
  CHECK(r->max == 10.5f);
  CHECK(obs->count() == 9);
  Result<QuantParams> p = obs->quant_params(target(8, false, false));
  REQUIRE(p.ok());
  CHECK(p->scale == float(17.625 / 255.0));
  CHECK(p->zero_point == int32_t(std::lround(7.125 / double(float(17.625 / 255.0)))));
  CHECK(obs->histogram() == nullptr);
}

TEST_CASE("moving-average observer matches a hand-computed EMA") {
  ObserverOptions o;
  o.method = CalibrationMethod::kMovingAverage;
  o.momentum = 0.25f;
  Result<std::unique_ptr<Observer>> made = make_observer(o);
  REQUIRE(made.ok());
  Observer& obs = **made;
  // Batch extremes: (-1, 2), (-5, 6), (0.5, 1), (-3, 10).
  const std::vector<std::vector<float>> batches = {
      {0.0f, -1.0f, 2.0f}, {6.0f, -5.0f}, {0.5f, 1.0f, 0.75f}, {-3.0f, 10.0f, 4.0f}};
  // min: -1; -1 + .25*(-5+1) = -2; -2 + .25*(0.5+2) = -1.375; -1.375 + .25*(-3+1.375) = -1.78125
  // max:  2;  2 + .25*(6-2) = 3;  3 + .25*(1-3) = 2.5;  2.5 + .25*(10-2.5) = 4.375
  const float want_min[] = {-1.0f, -2.0f, -1.375f, -1.78125f};
  const float want_max[] = {2.0f, 3.0f, 2.5f, 4.375f};
  for (size_t i = 0; i < batches.size(); ++i) {
    REQUIRE(obs.observe(batches[i].data(), batches[i].size()).ok());
    Result<FloatRange> r = obs.range(target(8, true, false));
    REQUIRE(r.ok());
    CHECK(r->min == want_min[i]);
    CHECK(r->max == want_max[i]);
  }
  CHECK(obs.method() == CalibrationMethod::kMovingAverage);
}

// ---- errors ---------------------------------------------------------------------------

TEST_CASE("every observer: empty -> error, NaN/Inf -> numeric error naming count and first index, state kept") {
  for (int m = 0; m <= 4; ++m) {
    CAPTURE(m);
    auto obs = make(CalibrationMethod(m));
    Result<FloatRange> empty = obs->range(target(8, false, false));
    CHECK(empty.status().code() == StatusCode::kInvalidArgument);
    CHECK(empty.status().message().find("no values") != std::string::npos);
    CHECK(obs->quant_params(target(8, true, true)).status().code() == StatusCode::kInvalidArgument);
    REQUIRE(obs->observe(nullptr, 0).ok());
    CHECK(obs->range(target(8, false, false)).status().code() == StatusCode::kInvalidArgument);
    CHECK(obs->observe(nullptr, 3).code() == StatusCode::kInvalidArgument);

    const std::vector<float> good = {-1.0f, 0.5f, 2.0f, 1.0f};
    REQUIRE(obs->observe(good.data(), good.size()).ok());
    Result<FloatRange> before = obs->range(target(8, false, false));
    REQUIRE(before.ok());

    std::vector<float> bad = {100.0f, 1.0f, -50.0f, NAN, 3.0f, INFINITY, -INFINITY, 7.0f};
    const Status s = obs->observe(bad.data(), bad.size());
    CHECK(s.code() == StatusCode::kNumericError);
    CHECK(s.message().find("3 of 8") != std::string::npos);
    CHECK(s.message().find("index 3") != std::string::npos);
    CHECK(s.message().find(calibration_method_name(CalibrationMethod(m))) != std::string::npos);
    std::vector<float> inf_first = {INFINITY, 1.0f};
    const Status s2 = obs->observe(inf_first.data(), inf_first.size());
    CHECK(s2.code() == StatusCode::kNumericError);
    CHECK(s2.message().find("index 0 (inf)") != std::string::npos);

    // The rejected batches changed nothing: not the count, not the range.
    CHECK(obs->count() == 4);
    Result<FloatRange> after = obs->range(target(8, false, false));
    REQUIRE(after.ok());
    CHECK(after->min == before->min);
    CHECK(after->max == before->max);
    CHECK(obs->range(target(3, false, false)).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("every observer: all-zero, constant and far-from-zero data give valid params") {
  const std::vector<float> zeros(1000, 0.0f), sevens(1000, 7.0f);
  std::vector<float> far;
  for (int i = 0; i < 5000; ++i) far.push_back(999.0f + float(i % 1001) / 1000.0f);
  for (int m = 0; m <= 4; ++m) {
    CAPTURE(m);
    for (const QuantTarget& t : {target(8, false, false), target(8, true, true), target(4, false, false)}) {
      auto z = make(CalibrationMethod(m));
      feed(*z, zeros, 300);
      Result<FloatRange> rz = z->range(t);
      REQUIRE(rz.ok());
      CHECK(rz->min == 0.0f);
      CHECK(rz->max == 0.0f);
      Result<QuantParams> pz = z->quant_params(t);
      REQUIRE(pz.ok());
      CHECK(pz->scale == 1.0f);
      CHECK(quant_mse(zeros, *pz) == 0.0);

      auto c = make(CalibrationMethod(m));
      feed(*c, sevens, 300);
      Result<FloatRange> rc = c->range(t);
      REQUIRE(rc.ok());
      CHECK(rc->min == 7.0f);
      CHECK(rc->max == 7.0f);

      auto f = make(CalibrationMethod(m));
      feed(*f, far, 700);
      Result<FloatRange> rf = f->range(t);
      REQUIRE(rf.ok());
      CHECK(rf->min >= 999.0f);
      CHECK(rf->max <= 1000.0f);
      // Clipping values that all sit near the top of [0, max] never pays.
      CHECK(rf->max >= (m == int(CalibrationMethod::kPercentile) ? 999.9f : 999.0f));
      Result<QuantParams> pf = f->quant_params(t);
      REQUIRE(pf.ok());
      CHECK(pf->validate("far").ok());
    }
  }
}

// ---- histogram ---------------------------------------------------------------------------

TEST_CASE("histogram: growing range across batches gives exactly the counts of one batch") {
  // Batches whose range widens on both sides by orders of magnitude.
  Rng rng(11);
  std::vector<float> all;
  std::vector<std::vector<float>> batches;
  for (int b = 0; b < 40; ++b) {
    const double scale = std::pow(1.6, b) * 1e-3;
    const double shift = (b % 3 == 0) ? -0.3 * scale : 0.1 * scale;
    std::vector<float> x(257 + size_t(b));
    for (float& v : x) v = float(shift + scale * (rng.uniform() - 0.5));
    all.insert(all.end(), x.begin(), x.end());
    batches.push_back(std::move(x));
  }
  for (int bins : {8, 100, 2048}) {
    CAPTURE(bins);
    Result<Histogram> grown = Histogram::create(bins), once = Histogram::create(bins),
                      reversed = Histogram::create(bins);
    REQUIRE(grown.ok());
    for (const auto& x : batches) REQUIRE(grown->add(x.data(), x.size()).ok());
    for (size_t i = batches.size(); i-- > 0;) REQUIRE(reversed->add(batches[i].data(), batches[i].size()).ok());
    REQUIRE(once->add(all.data(), all.size()).ok());
    CHECK(grown->bin_exponent() == once->bin_exponent());
    CHECK(grown->first_bin() == once->first_bin());
    CHECK(grown->counts() == once->counts());
    CHECK(reversed->counts() == once->counts());
    CHECK(grown->total() == all.size());
    CHECK(grown->min() == *std::min_element(all.begin(), all.end()));
    CHECK(grown->max() == *std::max_element(all.begin(), all.end()));
    // And the counts are the brute-force bins floor(x / w).
    std::vector<uint64_t> brute(size_t(bins), 0);
    const double w = once->bin_width();
    for (float v : all) {
      const int64_t k = int64_t(std::floor(double(v) / w)) - once->first_bin();
      REQUIRE(k >= 0);
      REQUIRE(k < bins);
      ++brute[size_t(k)];
    }
    CHECK(once->counts() == brute);
    // Never fewer than half the bins span the data.
    const int64_t used = int64_t(std::floor(double(once->max()) / w)) - once->first_bin() + 1;
    CHECK(used * 2 >= bins - 2);
    CHECK(used <= bins);
  }
}

TEST_CASE("histogram: folding onto |x|, data far from zero, single values") {
  Result<Histogram> h = Histogram::create(64);
  REQUIRE(h.ok());
  const std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.25f, 1.0f, 2.9f, -2.0f};
  REQUIRE(h->add(x.data(), x.size()).ok());
  const Histogram::Folded f = h->abs_counts();
  uint64_t sum = 0;
  for (uint64_t c : f.counts) sum += c;
  CHECK(sum == x.size());
  CHECK(f.width() == h->bin_width());
  for (float v : x) {
    // Each |v| lies in the folded bin that holds it.
    const double a = std::fabs(double(v));
    const size_t j = size_t(std::floor(a / f.width()));
    const bool here = j < f.counts.size() && f.counts[j] > 0;
    const bool below = j > 0 && a == double(j) * f.width() && f.counts[j - 1] > 0;
    CHECK((here || below));
  }

  // Values far from zero: the fold merges whole bins but stays within bins().
  Result<Histogram> far = Histogram::create(64);
  std::vector<float> y;
  for (int i = 0; i <= 1000; ++i) y.push_back(999.0f + float(i) / 1000.0f);
  REQUIRE(far->add(y.data(), y.size()).ok());
  const Histogram::Folded ff = far->abs_counts();
  CHECK(ff.counts.size() <= 64u);
  CHECK(ff.width() >= far->bin_width());
  // |x| percentiles of one-signed data keep the full resolution.
  CHECK(std::fabs(far->abs_quantile(0.5) - 999.5) <= far->bin_width());
  for (float& v : y) v = -v;
  Result<Histogram> neg = Histogram::create(64);
  REQUIRE(neg->add(y.data(), y.size()).ok());
  CHECK(std::fabs(neg->abs_quantile(0.9) - 999.9) <= neg->bin_width());

  // A single repeated value, and all zeros.
  Result<Histogram> one = Histogram::create(16);
  const std::vector<float> sevens(100, 7.0f);
  REQUIRE(one->add(sevens.data(), sevens.size()).ok());
  CHECK(one->quantile(0.5) == 7.0);
  CHECK(one->abs_quantile(0.99) == 7.0);
  Result<Histogram> zeros = Histogram::create(16);
  const std::vector<float> z(10, 0.0f);
  REQUIRE(zeros->add(z.data(), z.size()).ok());
  CHECK(zeros->quantile(1.0) == 0.0);
  // Then a batch 40 orders of magnitude wider still merges exactly.
  const std::vector<float> wide = {-1e30f, 1e30f};
  REQUIRE(zeros->add(wide.data(), wide.size()).ok());
  CHECK(zeros->total() == 12);
  uint64_t s = 0;
  for (uint64_t c : zeros->counts()) s += c;
  CHECK(s == 12);
  const double zw = zeros->bin_width();
  CHECK(zeros->count(0) == 1);  // the window starts at the bin of the minimum
  CHECK(zeros->count(int(-zeros->first_bin())) == 10);
  CHECK(zeros->count(int(int64_t(std::floor(1e30 / zw)) - zeros->first_bin())) == 1);
}

TEST_CASE("observer memory does not depend on the number of batches") {
  for (int m = 0; m <= 4; ++m) {
    CAPTURE(m);
    auto few = make(CalibrationMethod(m), 512);
    auto many = make(CalibrationMethod(m), 512);
    Rng rng(3);
    std::vector<float> batch(1000);
    for (int b = 0; b < 1000; ++b) {
      // Growing range, so the histogram re-bins along the way.
      for (float& v : batch) v = rng.laplace(1.0 + b * 0.01);
      if (b < 10) REQUIRE(few->observe(batch.data(), batch.size()).ok());
      REQUIRE(many->observe(batch.data(), batch.size()).ok());
    }
    CHECK(few->count() == 10000);
    CHECK(many->count() == 1000000);
    CHECK(few->state_bytes() == many->state_bytes());
    CHECK(many->state_bytes() < 512 * 8 + 512);
    if (m >= int(CalibrationMethod::kPercentile)) {
      REQUIRE(many->histogram() != nullptr);
      CHECK(many->histogram()->bins() == 512);
      CHECK(few->histogram()->bins() == 512);
      CHECK(many->histogram()->counts().capacity() == 512);
    } else {
      CHECK(many->histogram() == nullptr);
    }
  }
}

// ---- percentile ------------------------------------------------------------------------------

TEST_CASE("percentile observer: uniform integers with outliers, within one bin of the exact percentile") {
  // 0..9999 (each once) shuffled into batches, plus outliers at -5000 and 60000.
  std::vector<float> x;
  for (int i = 0; i < 10000; ++i) x.push_back(float(i));
  Rng rng(5);
  for (size_t i = x.size(); i > 1; --i) std::swap(x[i - 1], x[size_t(rng.next() % i)]);
  x.push_back(60000.0f);
  x.push_back(-5000.0f);
  std::vector<float> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  auto exact = [&](const std::vector<float>& s, double p) {  // order statistic ceil(p n)
    const size_t k = size_t(std::ceil(p / 100.0 * double(s.size())));
    return double(s[std::max<size_t>(k, 1) - 1]);
  };

  for (double p : {99.0, 99.9, 95.0}) {
    CAPTURE(p);
    ObserverOptions o;
    o.method = CalibrationMethod::kPercentile;
    o.percentile = p;
    Result<std::unique_ptr<Observer>> obs = make_observer(o);
    REQUIRE(obs.ok());
    feed(**obs, x, 777);
    const double w = (*obs)->histogram()->bin_width();
    CHECK(w <= 64.0);  // 65000 / 2048 rounded up to a power of two
    Result<FloatRange> r = (*obs)->range(target(8, false, false));
    REQUIRE(r.ok());
    CHECK(std::fabs(double(r->max) - exact(sorted, p)) <= w);
    CHECK(std::fabs(double(r->min) - exact(sorted, 100.0 - p)) <= w);
    CHECK(r->max < 60000.0f);  // the outlier is clipped
    CHECK(r->min > -5000.0f);

    // Symmetric targets use |x|.
    std::vector<float> a = x;
    for (float& v : a) v = std::fabs(v);
    std::sort(a.begin(), a.end());
    Result<FloatRange> rs = (*obs)->range(target(8, true, true));
    REQUIRE(rs.ok());
    CHECK(std::fabs(double(rs->max) - exact(a, p)) <= w);
    CHECK(rs->min == -5000.0f);  // [-T, T] clipped to the data, which stops at -5000 > -T
    Result<QuantParams> qp = (*obs)->quant_params(target(8, true, true));
    REQUIRE(qp.ok());
    CHECK(qp->scale == float(double(rs->max) / 127.0));
  }

  ObserverOptions o;
  o.method = CalibrationMethod::kPercentile;
  o.percentile = 100.0;
  Result<std::unique_ptr<Observer>> all = make_observer(o);
  REQUIRE(all.ok());
  feed(**all, x, 4096);
  Result<FloatRange> r = (*all)->range(target(8, false, false));
  REQUIRE(r.ok());
  CHECK(r->min == -5000.0f);
  CHECK(r->max == 60000.0f);
}

// ---- entropy and mse ------------------------------------------------------------------------------

TEST_CASE("entropy and mse clip heavy tails and beat minmax on quantization error") {
  struct Case {
    QuantTarget t;
    size_t n;
    int outliers;
    float mag;
  };
  const Case cases[] = {
      {target(8, false, false), 1000000, 2, 40.0f},
      {target(8, true, true), 1000000, 2, 40.0f},
      {target(4, true, true), 50000, 20, 30.0f},
      {target(4, false, false), 50000, 20, 30.0f},
  };
  for (const Case& c : cases) {
    CAPTURE(c.t.bits);
    CAPTURE(c.t.is_signed);
    CAPTURE(c.t.symmetric);
    const std::vector<float> x = heavy_tailed(c.n, c.outliers, c.mag, 42);
    auto minmax = make(CalibrationMethod::kMinMax);
    auto entropy = make(CalibrationMethod::kEntropy);
    auto mse = make(CalibrationMethod::kMse);
    feed(*minmax, x, 1000);
    feed(*entropy, x, 1000);
    feed(*mse, x, 1000);
    Result<FloatRange> rm = minmax->range(c.t), re = entropy->range(c.t), rq = mse->range(c.t);
    REQUIRE(rm.ok());
    REQUIRE(re.ok());
    REQUIRE(rq.ok());
    // Tighter than minmax on both sides (the outliers are on both sides).
    CHECK(re->max < 0.9f * rm->max);
    CHECK(re->min > 0.9f * rm->min);
    CHECK(rq->max < 0.9f * rm->max);
    CHECK(rq->min > 0.9f * rm->min);
    Result<QuantParams> pm = minmax->quant_params(c.t), pe = entropy->quant_params(c.t),
                        pq = mse->quant_params(c.t);
    REQUIRE(pm.ok());
    REQUIRE(pe.ok());
    REQUIRE(pq.ok());
    const double em = quant_mse(x, *pm), ee = quant_mse(x, *pe), eq = quant_mse(x, *pq);
    INFO("bits " << c.t.bits << " sym " << c.t.symmetric << ": minmax [" << rm->min << ", " << rm->max
                    << "] mse " << em << "; entropy [" << re->min << ", " << re->max << "] mse " << ee
                    << "; mse [" << rq->min << ", " << rq->max << "] mse " << eq);
    CHECK(ee < em);
    CHECK(eq < em);
    // The mse observer minimises (an estimate of) exactly this quantity.
    CHECK(eq <= ee * 1.02);
    if (c.n <= 50000) {
      // ... and lands within 1% of the best clip range on a fine grid,
      // measured on the data itself.
      double best = std::numeric_limits<double>::infinity();
      const float amax = std::max(-rm->min, rm->max);
      for (int j = 1; j <= 400; ++j) {
        const float t = amax * float(j) / 400.0f;
        Result<QuantParams> p = c.t.symmetric ? quant_params_for_range(-t, t, c.t)
                                              : quant_params_for_range(std::max(-t, rm->min), std::min(t, rm->max), c.t);
        REQUIRE(p.ok());
        best = std::min(best, quant_mse(x, *p));
      }
      INFO("grid best " << best);
      CHECK(eq <= 1.01 * best);
    }
  }
}

// TensorRT's entropy calibration written out naively: P and Q built bin by
// bin for every candidate. Returns the number of |x| bins kept.
int64_t naive_entropy_bins(const std::vector<uint64_t>& h, int64_t nq) {
  const int64_t k = int64_t(h.size());
  if (k <= nq) return k;
  int64_t best = k;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int64_t i = nq; i <= k; ++i) {
    std::vector<double> p(static_cast<size_t>(i), 0.0), q(static_cast<size_t>(i), 0.0);
    double outliers = 0;
    for (int64_t t = 0; t < k; ++t) (t < i ? p[size_t(t)] : outliers) += double(h[size_t(t)]);
    p[size_t(i - 1)] += outliers;
    double sum_h = 0;
    for (int64_t t = 0; t < i; ++t) sum_h += double(h[size_t(t)]);
    if (sum_h == 0) continue;
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t a = j * i / nq, b = (j + 1) * i / nq;
      double mass = 0;
      int64_t nz = 0;
      for (int64_t t = a; t < b; ++t) {
        mass += double(h[size_t(t)]);
        nz += p[size_t(t)] > 0;
      }
      for (int64_t t = a; t < b; ++t)
        if (p[size_t(t)] > 0) q[size_t(t)] = mass / double(nz);
    }
    double sum_p = 0;
    for (double v : p) sum_p += v;
    double kl = 0;
    for (int64_t t = 0; t < i; ++t) {
      if (p[size_t(t)] == 0) continue;
      const double pn = p[size_t(t)] / sum_p;
      const double qn = (1.0 - 1e-4) * q[size_t(t)] / sum_h + 1e-4 / double(i);
      kl += pn * std::log(pn / qn);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return best;
}

TEST_CASE("entropy observer: threshold equals a naive TensorRT-style search over the same histogram") {
  struct Case {
    QuantTarget t;
    int64_t nq;
    bool relu;
    int bins;
  };
  const Case cases[] = {
      {target(8, true, true), 127, false, 2048}, {target(8, false, true), 127, false, 1024},
      {target(8, false, false), 127, false, 4096}, {target(8, false, false), 255, true, 2048},
      {target(4, true, true), 7, false, 2048},    {target(4, false, false), 15, true, 256},
  };
  for (const Case& c : cases) {
    CAPTURE(c.nq);
    CAPTURE(c.bins);
    std::vector<float> x = heavy_tailed(20000, 6, 15.0f, 1234 + uint64_t(c.nq));
    if (c.relu)
      for (float& v : x) v = std::max(v, 0.0f);
    auto obs = make(CalibrationMethod::kEntropy, c.bins);
    feed(*obs, x, 999);
    const Histogram::Folded f = obs->histogram()->abs_counts();
    const int64_t i = naive_entropy_bins(f.counts, c.nq);
    REQUIRE(i < int64_t(f.counts.size()));  // it does clip
    Result<FloatRange> r = obs->range(c.t);
    REQUIRE(r.ok());
    CHECK(double(r->max) == double(i) * f.width());
    if (!c.relu) CHECK(double(r->min) == -double(i) * f.width());
  }
}

TEST_CASE("mse observer: fewer bits clip harder; clean uniform data is not clipped") {
  const std::vector<float> x = heavy_tailed(50000, 0, 0.0f, 9);
  auto mse = make(CalibrationMethod::kMse);
  feed(*mse, x, 5000);
  Result<FloatRange> r8 = mse->range(target(8, true, true)), r4 = mse->range(target(4, true, true));
  REQUIRE(r8.ok());
  REQUIRE(r4.ok());
  CHECK(r4->max < 0.8f * r8->max);

  // Uniform data has no tail worth clipping.
  std::vector<float> u;
  for (int i = 0; i < 20000; ++i) u.push_back(float(i % 2001) / 1000.0f - 1.0f);
  auto mu = make(CalibrationMethod::kMse);
  auto eu = make(CalibrationMethod::kEntropy);
  feed(*mu, u, 3000);
  feed(*eu, u, 3000);
  for (const QuantTarget& t : {target(8, false, false), target(8, true, true)}) {
    Result<FloatRange> r = mu->range(t);
    REQUIRE(r.ok());
    CHECK(r->max >= 0.97f);
    CHECK(r->min <= -0.97f);
    Result<FloatRange> e = eu->range(t);
    REQUIRE(e.ok());
    CHECK(e->max >= 0.9f);
  }
}

TEST_CASE("entropy observer: post-ReLU data uses all levels on one side") {
  // Half-Laplace (ReLU of Laplace) with a long tail.
  std::vector<float> x = heavy_tailed(100000, 6, 20.0f, 21);
  for (float& v : x) v = std::max(v, 0.0f);
  auto e = make(CalibrationMethod::kEntropy);
  feed(*e, x, 10000);
  Result<FloatRange> ru8 = e->range(target(8, false, false));
  Result<FloatRange> rs8 = e->range(target(8, true, true));
  REQUIRE(ru8.ok());
  REQUIRE(rs8.ok());
  CHECK(ru8->min == 0.0f);
  CHECK(ru8->max < 20.0f);
  // 255 levels on [0, T] against 127: the unsigned target keeps more range.
  CHECK(ru8->max >= rs8->max);
  Result<QuantParams> p = e->quant_params(target(8, false, false));
  REQUIRE(p.ok());
  CHECK(p->zero_point == 0);
}

// ---- weights -----------------------------------------------------------------------------------

TEST_CASE("weight ranges per channel and per block are exact min/max") {
  // Shape [3, 2, 5]: value = 100*a + 10*b + c, with a sign flip on odd c.
  const Shape shape = {3, 2, 5};
  std::vector<float> w(30);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 5; ++c) w[size_t(a * 10 + b * 5 + c)] = float((c % 2 ? -1 : 1) * (100 * a + 10 * b + c));

  // axis 0: channel a covers b, c.
  Result<std::vector<FloatRange>> r0 = weight_ranges(w.data(), shape, 0, 0);
  REQUIRE(r0.ok());
  REQUIRE(r0->size() == 3u);
  for (int a = 0; a < 3; ++a) {
    CHECK((*r0)[size_t(a)].min == -float(100 * a + 13));
    CHECK((*r0)[size_t(a)].max == float(100 * a + 14));
  }
  // axis -1 (= 2): channel c covers a, b.
  Result<std::vector<FloatRange>> r2 = weight_ranges(w.data(), shape, -1, 0);
  REQUIRE(r2.ok());
  REQUIRE(r2->size() == 5u);
  for (int c = 0; c < 5; ++c) {
    const float lo = float(c), hi = float(210 + c);
    CHECK((*r2)[size_t(c)].min == (c % 2 ? -hi : lo));
    CHECK((*r2)[size_t(c)].max == (c % 2 ? -lo : hi));
  }
  // Blocks of 2 along axis 2 (length 5 -> 3 blocks, the last of one element):
  // scale shape [3, 2, 3].
  Result<std::vector<FloatRange>> rb = weight_ranges(w.data(), shape, 2, 2);
  REQUIRE(rb.ok());
  REQUIRE(rb->size() == 18u);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b)
      for (int k = 0; k < 3; ++k) {
        float lo = INFINITY, hi = -INFINITY;
        for (int c = 2 * k; c < std::min(5, 2 * k + 2); ++c) {
          lo = std::min(lo, w[size_t(a * 10 + b * 5 + c)]);
          hi = std::max(hi, w[size_t(a * 10 + b * 5 + c)]);
        }
        const FloatRange& g = (*rb)[size_t((a * 2 + b) * 3 + k)];
        CHECK(g.min == lo);
        CHECK(g.max == hi);
      }
  // Blocks along K of a MatMul weight [K=5, N=3] with B = 4: scale shape [2, 3].
  std::vector<float> m(15);
  for (int i = 0; i < 15; ++i) m[size_t(i)] = float(i * (i % 3 == 1 ? -1 : 1));
  Result<QuantParams> qb = weight_quant_params(m.data(), {5, 3}, 0, 4, target(4, true, true));
  REQUIRE(qb.ok());
  CHECK(qb->axis == 0);
  CHECK(qb->block_size == 4);
  REQUIRE(qb->scales.size() == 6u);
  REQUIRE(qb->zero_points.size() == 6u);
  CHECK(qb->validate("qb").ok());
  // Block (0, n=1) holds rows 0..3 of column 1: 1, -4, 7, -10 -> amax 10.
  CHECK(qb->scales[1] == float(10.0 / 7.0));
  // Block (1, n=2) holds row 4, column 2: 14.
  CHECK(qb->scales[5] == 2.0f);
  for (int32_t z : qb->zero_points) CHECK(z == 0);
}

TEST_CASE("weight_quant_params per channel: uint8/int8, symmetric, mse refinement") {
  // [4 output channels, 256 inputs]: Laplace values (heavy-tailed, as trained
  // weights are), a different spread per channel.
  Rng rng(17);
  const int oc = 4, ic = 256;
  std::vector<float> w(size_t(oc * ic));
  for (int o = 0; o < oc; ++o)
    for (int i = 0; i < ic; ++i) w[size_t(o * ic + i)] = rng.laplace(0.02 * (o + 1));

  Result<QuantParams> u8 = weight_quant_params(w.data(), {oc, ic}, 0, 0, target(8, false, false));
  Result<QuantParams> s8 = weight_quant_params(w.data(), {oc, ic}, 0, 0, target(8, true, false));
  REQUIRE(u8.ok());
  REQUIRE(s8.ok());
  CHECK(u8->per_channel());
  CHECK(u8->axis == 0);
  CHECK(u8->block_size == 0);
  Result<std::vector<FloatRange>> ranges = weight_ranges(w.data(), {oc, ic}, 0, 0);
  REQUIRE(ranges.ok());
  for (int o = 0; o < oc; ++o) {
    Result<QuantParams> one = quant_params_for_range((*ranges)[size_t(o)].min, (*ranges)[size_t(o)].max,
                                                     target(8, false, false));
    REQUIRE(one.ok());
    CHECK(u8->scales[size_t(o)] == one->scale);
    CHECK(u8->zero_points[size_t(o)] == one->zero_point);
    CHECK(s8->scales[size_t(o)] == one->scale);
    CHECK(s8->zero_points[size_t(o)] == one->zero_point - 128);
  }

  auto channel_error = [&](const QuantParams& p, int o) {
    double e = 0;
    for (int i = 0; i < ic; ++i) {
      const float x = w[size_t(o * ic + i)];
      const float y = dequantize_value(
          quantize_value(x, p.scales[size_t(o)], p.zero_points[size_t(o)], p.qmin(), p.qmax()), p.scales[size_t(o)],
          p.zero_points[size_t(o)]);
      e += double(x - y) * double(x - y);
    }
    return e;
  };
  for (const QuantTarget& t : {target(4, true, true), target(4, false, false), target(8, true, true)}) {
    Result<QuantParams> plain = weight_quant_params(w.data(), {oc, ic}, 0, 0, t);
    WeightRangeOptions opt;
    opt.mse_refine = true;
    Result<QuantParams> refined = weight_quant_params(w.data(), {oc, ic}, 0, 0, t, opt);
    REQUIRE(plain.ok());
    REQUIRE(refined.ok());
    CHECK(refined->validate("refined").ok());
    double sum_plain = 0, sum_refined = 0;
    for (int o = 0; o < oc; ++o) {
      const double ep = channel_error(*plain, o), er = channel_error(*refined, o);
      CHECK(er <= ep);
      CHECK(refined->scales[size_t(o)] <= plain->scales[size_t(o)]);
      sum_plain += ep;
      sum_refined += er;
    }
    INFO("bits " << t.bits << " sym " << t.symmetric << ": squared error " << sum_plain << " -> " << sum_refined);
    if (t.bits == 4) CHECK(sum_refined < sum_plain);
    if (t.bits == 4 && t.symmetric) CHECK(sum_refined < 0.8 * sum_plain);
    if (!t.symmetric) {
      // Each end on its own comes close to the best of every (lo, hi) pair of
      // ratios on the same grid, found by brute force.
      double sum_brute = 0;
      for (int o = 0; o < oc; ++o) {
        const FloatRange& r = (*ranges)[size_t(o)];
        double best = std::numeric_limits<double>::infinity();
        for (int a = 0; a <= opt.mse_steps; ++a)
          for (int b = 0; b <= opt.mse_steps; ++b) {
            const float ra = 1.0f - (1.0f - opt.mse_min_ratio) * float(a) / float(opt.mse_steps);
            const float rb = 1.0f - (1.0f - opt.mse_min_ratio) * float(b) / float(opt.mse_steps);
            Result<QuantParams> q = quant_params_for_range(r.min * ra, r.max * rb, t);
            REQUIRE(q.ok());
            double e = 0;
            for (int i = 0; i < ic; ++i) {
              const float x = w[size_t(o * ic + i)];
              const float y =
                  dequantize_value(quantize_value(x, q->scale, q->zero_point, q->qmin(), q->qmax()), q->scale,
                                   q->zero_point);
              e += double(x - y) * double(x - y);
            }
            best = std::min(best, e);
          }
        sum_brute += best;
      }
      INFO("brute-force best " << sum_brute);
      CHECK(sum_refined <= 1.05 * sum_brute);
    }
  }
}

TEST_CASE("weight helpers reject bad input with named errors") {
  const std::vector<float> w = {1.0f, 2.0f, NAN, 4.0f, INFINITY, 6.0f};
  Result<QuantParams> nan = weight_quant_params(w.data(), {2, 3}, 0, 0, target(8, true, true));
  CHECK(nan.status().code() == StatusCode::kNumericError);
  CHECK(nan.status().message().find("2 of 6") != std::string::npos);
  CHECK(nan.status().message().find("index 2") != std::string::npos);
  CHECK(nan.status().message().find("[2,3]") != std::string::npos);
  const std::vector<float> ok = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  CHECK(weight_ranges(ok.data(), {2, 3}, 2, 0).status().code() == StatusCode::kInvalidArgument);
  CHECK(weight_ranges(ok.data(), {2, 3}, -3, 0).status().code() == StatusCode::kInvalidArgument);
  CHECK(weight_ranges(ok.data(), {2, 3}, 0, -1).status().code() == StatusCode::kInvalidArgument);
  CHECK(weight_ranges(ok.data(), {}, 0, 0).status().code() == StatusCode::kInvalidArgument);
  CHECK(weight_ranges(ok.data(), {2, 0}, 0, 0).status().message().find("empty") != std::string::npos);
  CHECK(weight_ranges(nullptr, {2, 3}, 0, 0).status().code() == StatusCode::kInvalidArgument);
  CHECK(weight_quant_params(ok.data(), {2, 3}, 0, 0, target(2, true, true)).status().code() ==
        StatusCode::kInvalidArgument);
  WeightRangeOptions bad;
  bad.mse_refine = true;
  bad.mse_steps = 0;
  CHECK(weight_quant_params(ok.data(), {2, 3}, 0, 0, target(8, true, true), bad).status().message().find(
            "mse_steps") != std::string::npos);
  bad.mse_steps = 10;
  bad.mse_min_ratio = 0.0f;
  CHECK(weight_quant_params(ok.data(), {2, 3}, 0, 0, target(8, true, true), bad).status().code() ==
        StatusCode::kInvalidArgument);
  // Block size larger than the axis: one block per column.
  Result<QuantParams> big = weight_quant_params(ok.data(), {2, 3}, 0, 64, target(8, true, true));
  REQUIRE(big.ok());
  CHECK(big->scales.size() == 3u);
}

}  // namespace
}  // namespace wq
