// f32 kernels: every fast kernel against its scalar reference, the scalar
// references and the high-level GEMM / Conv against the definition computed
// in double, over awkward sizes.
//
// Error bound: a float sum of K terms differs from the exact sum by a
// reassociation/rounding error that grows like sqrt(K) * eps * sum|terms|; the
// tests allow 1e-5 * sqrt(K + 1) * (|bias| + sum|terms|), times the activation's
// Lipschitz constant. A wrong index, a dropped or doubled term, a stale tile or
// a bad tail is orders of magnitude larger.
#include <doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/kernels/f32_activation.h"
#include "core/kernels/f32_conv.h"
#include "core/kernels/f32_dwconv.h"
#include "core/kernels/f32_gemm.h"
#include "core/kernels/f32_im2col.h"

namespace wq {
namespace {

// Deterministic uniform floats in [lo, hi).
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  float next(float lo, float hi) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    const float u = static_cast<float>(state_ >> 40) / static_cast<float>(1ull << 24);
    return lo + (hi - lo) * u;
  }
  std::vector<float> vec(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = next(lo, hi);
    return v;
  }

 private:
  uint64_t state_;
};

std::vector<F32Activation> all_activations() {
  return {F32Activation::none(), F32Activation::relu(), F32Activation::clip(-0.25f, 0.75f),
          F32Activation::hard_sigmoid(0.4f, 0.5f), F32Activation::hard_swish()};
}

const char* act_name(const F32Activation& a) {
  switch (a.kind) {
    case F32ActivationKind::kNone:
      return "none";
    case F32ActivationKind::kMinMax:
      return a.min == 0.0f ? "relu" : "clip";
    case F32ActivationKind::kHardSigmoid:
      return "hardsigmoid";
    case F32ActivationKind::kHardSwish:
      return "hardswish";
  }
  return "?";
}

double activate_exact(const F32Activation& a, double x) {
  auto clamp = [](double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); };
  switch (a.kind) {
    case F32ActivationKind::kNone:
      return x;
    case F32ActivationKind::kMinMax:
      return clamp(x, a.min, a.max);
    case F32ActivationKind::kHardSigmoid:
      return clamp(static_cast<double>(a.alpha) * x + a.beta, 0.0, 1.0);
    case F32ActivationKind::kHardSwish:
      return x * clamp(static_cast<double>(a.alpha) * x + a.beta, 0.0, 1.0);
  }
  return x;
}

// Bound on |d act(x) / dx| over the range the tests produce (|x| <= ~100):
// hardswish's slope is 2*alpha*x + beta inside [-3, 3].
double lipschitz(const F32Activation& a) {
  switch (a.kind) {
    case F32ActivationKind::kHardSigmoid:
      return a.alpha;
    case F32ActivationKind::kHardSwish:
      return 1.5;
    default:
      return 1.0;
  }
}

// The exact value of one output and the scale of its rounding error.
struct Exact {
  double sum = 0.0;
  double abs_sum = 0.0;
  void add(double a, double b) {
    sum += a * b;
    abs_sum += std::fabs(a * b);
  }
};

double tolerance(size_t k, const Exact& e, const F32Activation& act) {
  return 1e-5 * std::sqrt(static_cast<double>(k) + 1.0) * e.abs_sum * lipschitz(act) + 1e-30;
}

// Counts outputs outside tolerance; reports the first few.
class Checker {
 public:
  explicit Checker(std::string what) : what_(std::move(what)) {}
  void expect_near(double got, double want, double tol, size_t index) {
    ++checked_;
    if (std::fabs(got - want) <= tol) return;  // false for NaN: a NaN is a failure
    if (bad_++ < 3) {
      MESSAGE(what_ << ": index " << index << " got " << got << " want " << want << " tol " << tol);
    }
  }
  void expect_equal(float got, float want, size_t index) {
    ++checked_;
    if (got == want) return;
    if (bad_++ < 3) MESSAGE(what_ << ": index " << index << " got " << got << " want " << want);
  }
  size_t bad() const { return bad_; }
  size_t checked() const { return checked_; }

 private:
  std::string what_;
  size_t bad_ = 0;
  size_t checked_ = 0;
};

constexpr float kGuard = -12345.0f;  // fills memory a kernel must not write

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

TEST_CASE("f32_activation_apply: definitions") {
  CHECK(f32_activation_apply(F32Activation::none(), -2.5f) == -2.5f);
  CHECK(f32_activation_apply(F32Activation::relu(), -2.5f) == 0.0f);
  CHECK(f32_activation_apply(F32Activation::relu(), 2.5f) == 2.5f);
  CHECK(f32_activation_apply(F32Activation::clip(-1.0f, 6.0f), 7.0f) == 6.0f);
  CHECK(f32_activation_apply(F32Activation::clip(-1.0f, 6.0f), -3.0f) == -1.0f);
  CHECK(f32_activation_apply(F32Activation::hard_sigmoid(0.2f, 0.5f), 1.0f) == doctest::Approx(0.7f));
  CHECK(f32_activation_apply(F32Activation::hard_sigmoid(0.2f, 0.5f), 5.0f) == 1.0f);
  CHECK(f32_activation_apply(F32Activation::hard_sigmoid(0.2f, 0.5f), -5.0f) == 0.0f);
  CHECK(f32_activation_apply(F32Activation::hard_swish(), 3.0f) == 3.0f);
  CHECK(f32_activation_apply(F32Activation::hard_swish(), -3.0f) == 0.0f);
  CHECK(f32_activation_apply(F32Activation::hard_swish(), 1.0f) == doctest::Approx(2.0f / 3.0f));
  CHECK(std::isnan(f32_activation_apply(F32Activation::relu(), std::nanf(""))));
}

// ---------------------------------------------------------------------------
// f32_gemm family
// ---------------------------------------------------------------------------

const std::vector<size_t>& awkward_sizes() {
  static const std::vector<size_t> v = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                        13, 14, 15, 16, 17, 31, 32, 33, 63, 64, 65};
  return v;
}

// Runs `fn` and the scalar reference on the same packed B and compares,
// including that nothing outside the mr x nc block of C is written.
void check_gemm_kernel(const F32GemmKernelInfo& kernel, size_t mr, size_t nc, size_t kc, const F32Activation& act,
                       Lcg& rng) {
  const size_t a_stride = kc + 3;
  const size_t c_stride = nc + 5;
  // A is sized exactly so an over-read past row mr-1 trips ASan.
  const std::vector<float> a = rng.vec((mr - 1) * a_stride + kc + (kc == 0 ? 1 : 0), -2.0f, 2.0f);
  const std::vector<float> b = rng.vec(kc * nc, -1.0f, 1.0f);
  const std::vector<float> bias = rng.vec(nc, -1.0f, 1.0f);
  std::vector<float> packed(f32_pack_gemm_w_size(kc, nc));
  f32_pack_gemm_w(kc, nc, b.data(), nc, false, bias.data(), packed.data());
  std::vector<float> got(mr * c_stride, kGuard), want(mr * c_stride, kGuard);
  kernel.fn(mr, nc, kc, a.data(), a_stride, packed.data(), got.data(), c_stride, &act);
  f32_gemm__scalar(mr, nc, kc, a.data(), a_stride, packed.data(), want.data(), c_stride, &act);
  Checker check(std::string(kernel.name) + " mr=" + std::to_string(mr) + " nc=" + std::to_string(nc) +
                " kc=" + std::to_string(kc) + " act=" + act_name(act));
  for (size_t i = 0; i < mr; ++i) {
    for (size_t j = 0; j < c_stride; ++j) {
      const size_t idx = i * c_stride + j;
      if (j >= nc) {
        check.expect_equal(got[idx], kGuard, idx);
        continue;
      }
      Exact e;
      e.abs_sum = std::fabs(bias[j]);
      for (size_t k = 0; k < kc; ++k) e.add(a[i * a_stride + k], b[k * nc + j]);
      check.expect_near(got[idx], want[idx], tolerance(kc, e, act), idx);
    }
  }
  REQUIRE(check.bad() == 0);
}

TEST_CASE("f32_gemm kernels match f32_gemm__scalar over awkward sizes") {
  Lcg rng(1);
  const auto acts = all_activations();
  size_t variant = 0;
  for (size_t ki = 0; ki < f32_gemm_kernel_count(); ++ki) {
    const F32GemmKernelInfo& kernel = f32_gemm_kernel(ki);
    for (size_t mr = 1; mr <= kernel.mr; ++mr) {
      for (size_t nc : awkward_sizes()) {
        for (size_t kc : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{7}, size_t{8},
                          size_t{9}, size_t{16}, size_t{17}, size_t{31}, size_t{33}, size_t{64}, size_t{65}}) {
          check_gemm_kernel(kernel, mr, nc, kc, acts[variant++ % acts.size()], rng);
        }
      }
    }
    // Large K (prime), a few widths.
    for (size_t nc : {size_t{1}, size_t{8}, size_t{13}}) {
      check_gemm_kernel(kernel, kernel.mr, nc, 1031, acts[variant++ % acts.size()], rng);
    }
  }
}

// A x B computed in double from the unpacked operands.
void check_gemm_run(const F32GemmConfig& config, size_t m, size_t n, size_t k, bool b_transposed, bool with_bias,
                    const F32Activation& act, Lcg& rng) {
  const size_t lda = k + 1, ldc = n + 2;
  const size_t ldb = b_transposed ? k + 3 : n + 3;
  const std::vector<float> a = rng.vec(m * lda, -2.0f, 2.0f);
  const std::vector<float> b = rng.vec((b_transposed ? n : k) * ldb, -1.0f, 1.0f);
  const std::vector<float> bias = rng.vec(n, -1.0f, 1.0f);
  auto packed = f32_pack_gemm(k, n, b.data(), ldb, b_transposed, with_bias ? bias.data() : nullptr, act);
  REQUIRE(packed.ok());
  std::vector<float> c(m * ldc, kGuard);
  f32_gemm_run(config, *packed, m, a.data(), lda, c.data(), ldc);
  Checker check(std::string("f32_gemm_run[") + config.name + "] m=" + std::to_string(m) + " n=" + std::to_string(n) +
                " k=" + std::to_string(k) + (b_transposed ? " transB" : "") + " act=" + act_name(act));
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < ldc; ++j) {
      const size_t idx = i * ldc + j;
      if (j >= n) {
        check.expect_equal(c[idx], kGuard, idx);
        continue;
      }
      Exact e;
      if (with_bias) {
        e.sum = bias[j];
        e.abs_sum = std::fabs(bias[j]);
      }
      for (size_t kk = 0; kk < k; ++kk) {
        e.add(a[i * lda + kk], b_transposed ? b[j * ldb + kk] : b[kk * ldb + j]);
      }
      check.expect_near(c[idx], activate_exact(act, e.sum), tolerance(k, e, act), idx);
    }
  }
  REQUIRE(check.bad() == 0);
}

TEST_CASE("f32_gemm_run (scalar and fast) matches the definition") {
  Lcg rng(2);
  const auto acts = all_activations();
  size_t variant = 0;
  for (const F32GemmConfig* config : {&f32_gemm_config_scalar(), &f32_gemm_config()}) {
    CAPTURE(config->name);
    // Each dimension swept over awkward sizes with the others awkward too.
    for (size_t s : awkward_sizes()) {
      const bool odd = s % 2 == 1;
      check_gemm_run(*config, s, 13, 7, false, true, acts[variant++ % acts.size()], rng);
      check_gemm_run(*config, 5, s, 9, odd, true, acts[variant++ % acts.size()], rng);
      check_gemm_run(*config, 6, 17, s, !odd, s % 3 != 0, acts[variant++ % acts.size()], rng);
    }
    // GEMV, primes, K = 0, large K, several column blocks.
    check_gemm_run(*config, 1, 1, 1, false, true, acts[0], rng);
    check_gemm_run(*config, 1, 257, 131, true, true, acts[1], rng);
    check_gemm_run(*config, 1, 33, 1531, false, true, acts[2], rng);
    check_gemm_run(*config, 7, 11, 0, false, true, acts[3], rng);
    check_gemm_run(*config, 37, 41, 43, true, false, acts[4], rng);
    check_gemm_run(*config, 9, 130, 500, false, true, acts[1], rng);  // > 1 block of columns
    check_gemm_run(*config, 3, 1000, 40, true, true, acts[4], rng);
  }
}

TEST_CASE("f32_gemm_run_unpacked matches the definition and reuses its scratch") {
  Lcg rng(6);
  F32Buffer scratch;
  struct Shape {
    size_t m, n, k;
    bool b_transposed;
  };
  for (const Shape& s : {Shape{80, 80, 30, true}, Shape{1, 17, 65, false}, Shape{33, 9, 1, true},
                         Shape{5, 130, 257, false}, Shape{7, 3, 0, false}}) {
    const size_t lda = s.k + 2, ldc = s.n + 1, ldb = (s.b_transposed ? s.k : s.n) + 3;
    const std::vector<float> a = rng.vec(s.m * lda, -2.0f, 2.0f);
    const std::vector<float> b = rng.vec((s.b_transposed ? s.n : s.k) * ldb, -1.0f, 1.0f);
    std::vector<float> c(s.m * ldc, kGuard);
    REQUIRE(f32_gemm_run_unpacked(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, s.b_transposed, c.data(), ldc, &scratch)
                .ok());
    Checker check("f32_gemm_run_unpacked m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                  " k=" + std::to_string(s.k));
    for (size_t i = 0; i < s.m; ++i) {
      for (size_t j = 0; j < ldc; ++j) {
        if (j >= s.n) {
          check.expect_equal(c[i * ldc + j], kGuard, i * ldc + j);
          continue;
        }
        Exact e;
        for (size_t kk = 0; kk < s.k; ++kk) {
          e.add(a[i * lda + kk], s.b_transposed ? b[j * ldb + kk] : b[kk * ldb + j]);
        }
        check.expect_near(c[i * ldc + j], e.sum, tolerance(s.k, e, F32Activation::none()), i * ldc + j);
      }
    }
    REQUIRE(check.bad() == 0);
  }
  std::vector<float> x(16, 1.0f);
  CHECK(f32_gemm_run_unpacked(2, 4, 4, x.data(), 3, x.data(), 4, false, x.data(), 4, &scratch).code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("f32_pack_gemm rejects bad arguments") {
  std::vector<float> b(12, 1.0f);
  CHECK(f32_pack_gemm(3, 4, b.data(), 3, false, nullptr, F32Activation::none()).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(f32_pack_gemm(3, 4, b.data(), 2, true, nullptr, F32Activation::none()).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(f32_pack_gemm(3, 4, nullptr, 4, false, nullptr, F32Activation::none()).status().code() ==
        StatusCode::kInvalidArgument);
  const size_t huge = std::numeric_limits<size_t>::max() / 4;
  CHECK(f32_pack_gemm(huge, huge, b.data(), huge, false, nullptr, F32Activation::none()).status().code() ==
        StatusCode::kOutOfMemory);
  CHECK(f32_pack_gemm(3, 4, b.data(), 4, false, nullptr, F32Activation::none()).ok());
}

// ---------------------------------------------------------------------------
// f32_gemm_chw family
// ---------------------------------------------------------------------------

void check_gemm_chw_kernel(const F32GemmChwKernelInfo& kernel, size_t mr, size_t nc, size_t kc,
                           const F32Activation& act, Lcg& rng) {
  const size_t b_stride = nc + 3;
  const size_t c_stride = nc + 2;
  // B sized exactly: the last row ends at column nc, so a tail over-read trips ASan.
  const std::vector<float> b = rng.vec(kc == 0 ? 1 : (kc - 1) * b_stride + nc, -2.0f, 2.0f);
  const std::vector<float> w = rng.vec(mr * kc, -1.0f, 1.0f);
  const std::vector<float> bias = rng.vec(mr, -1.0f, 1.0f);
  std::vector<float> packed(f32_pack_gemm_chw_w_size(mr, kc));
  f32_pack_gemm_chw_w(mr, kc, w.data(), kc, bias.data(), packed.data());
  // C has exactly mr rows: a store to an aliased row past mr-1 would land out of bounds.
  std::vector<float> got((mr - 1) * c_stride + nc + 2, kGuard), want(got.size(), kGuard);
  kernel.fn(mr, nc, kc, packed.data(), b.data(), b_stride, got.data(), c_stride, &act);
  f32_gemm_chw__scalar(mr, nc, kc, packed.data(), b.data(), b_stride, want.data(), c_stride, &act);
  Checker check(std::string(kernel.name) + " mr=" + std::to_string(mr) + " nc=" + std::to_string(nc) +
                " kc=" + std::to_string(kc) + " act=" + act_name(act));
  for (size_t idx = 0; idx < got.size(); ++idx) {
    const size_t i = idx / c_stride, j = idx % c_stride;
    if (j >= nc) {
      check.expect_equal(got[idx], kGuard, idx);
      continue;
    }
    Exact e;
    e.abs_sum = std::fabs(bias[i]);
    for (size_t k = 0; k < kc; ++k) e.add(w[i * kc + k], b[k * b_stride + j]);
    check.expect_near(got[idx], want[idx], tolerance(kc, e, act), idx);
  }
  REQUIRE(check.bad() == 0);
}

TEST_CASE("f32_gemm_chw kernels match f32_gemm_chw__scalar over awkward sizes") {
  Lcg rng(3);
  const auto acts = all_activations();
  size_t variant = 0;
  for (size_t ki = 0; ki < f32_gemm_chw_kernel_count(); ++ki) {
    const F32GemmChwKernelInfo& kernel = f32_gemm_chw_kernel(ki);
    for (size_t mr = 1; mr <= kF32GemmChwMr; ++mr) {
      for (size_t nc : awkward_sizes()) {
        for (size_t kc : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{8}, size_t{9}, size_t{16},
                          size_t{17}, size_t{27}, size_t{33}, size_t{64}}) {
          check_gemm_chw_kernel(kernel, mr, nc, kc, acts[variant++ % acts.size()], rng);
        }
      }
    }
    for (size_t nc : {size_t{1}, size_t{12}, size_t{67}}) {
      check_gemm_chw_kernel(kernel, kF32GemmChwMr, nc, 1031, acts[variant++ % acts.size()], rng);
    }
  }
}

// ---------------------------------------------------------------------------
// f32_dwconv2d_chw family
// ---------------------------------------------------------------------------

struct DwCase {
  size_t h, w, k_h, k_w, s_h, s_w, d_h, d_w, pt, pl, pb, pr;
};

F32Conv2dGeometry dw_geometry(const DwCase& c) {
  F32Conv2dGeometry g;
  g.in_h = c.h;
  g.in_w = c.w;
  g.kernel_h = c.k_h;
  g.kernel_w = c.k_w;
  g.stride_h = c.s_h;
  g.stride_w = c.s_w;
  g.dilation_h = c.d_h;
  g.dilation_w = c.d_w;
  g.pad_top = c.pt;
  g.pad_left = c.pl;
  g.out_h = (c.h + c.pt + c.pb - ((c.k_h - 1) * c.d_h + 1)) / c.s_h + 1;
  g.out_w = (c.w + c.pl + c.pr - ((c.k_w - 1) * c.d_w + 1)) / c.s_w + 1;
  return g;
}

bool dw_fits(const DwCase& c) {
  return c.h + c.pt + c.pb >= (c.k_h - 1) * c.d_h + 1 && c.w + c.pl + c.pr >= (c.k_w - 1) * c.d_w + 1;
}

void check_dwconv(const char* name, F32DwConv2dChwUkernelFn fn, const DwCase& c, const F32Activation& act, Lcg& rng) {
  const F32Conv2dGeometry g = dw_geometry(c);
  const std::vector<float> in = rng.vec(g.in_h * g.in_w, -2.0f, 2.0f);  // exact size: no over-read
  const std::vector<float> w = rng.vec(1 + g.kernel_h * g.kernel_w, -1.0f, 1.0f);
  std::vector<float> scratch(f32_dwconv2d_chw_scratch_size(g), kGuard);
  std::vector<float> got(g.out_h * g.out_w + 3, kGuard), want(got.size(), kGuard);
  fn(g, in.data(), w.data(), got.data(), scratch.data(), &act);
  f32_dwconv2d_chw__scalar(g, in.data(), w.data(), want.data(), nullptr, &act);
  Checker check(std::string(name) + " in " + std::to_string(c.h) + "x" + std::to_string(c.w) + " k " +
                std::to_string(c.k_h) + "x" + std::to_string(c.k_w) + " s " + std::to_string(c.s_h) + "," +
                std::to_string(c.s_w) + " d " + std::to_string(c.d_h) + "," + std::to_string(c.d_w) + " pads " +
                std::to_string(c.pt) + "," + std::to_string(c.pl) + "," + std::to_string(c.pb) + "," +
                std::to_string(c.pr) + " act=" + act_name(act));
  for (size_t idx = 0; idx < got.size(); ++idx) {
    if (idx >= g.out_h * g.out_w) {
      check.expect_equal(got[idx], kGuard, idx);
      continue;
    }
    const size_t oy = idx / g.out_w, ox = idx % g.out_w;
    Exact e;
    e.sum = w[0];
    e.abs_sum = std::fabs(w[0]);
    for (size_t ky = 0; ky < g.kernel_h; ++ky) {
      for (size_t kx = 0; kx < g.kernel_w; ++kx) {
        const int64_t iy = static_cast<int64_t>(oy * g.stride_h + ky * g.dilation_h) - static_cast<int64_t>(c.pt);
        const int64_t ix = static_cast<int64_t>(ox * g.stride_w + kx * g.dilation_w) - static_cast<int64_t>(c.pl);
        if (iy < 0 || ix < 0 || iy >= static_cast<int64_t>(c.h) || ix >= static_cast<int64_t>(c.w)) continue;
        e.add(w[1 + ky * g.kernel_w + kx], in[static_cast<size_t>(iy) * c.w + static_cast<size_t>(ix)]);
      }
    }
    const double tol = tolerance(g.kernel_h * g.kernel_w, e, act);
    check.expect_near(want[idx], activate_exact(act, e.sum), tol, idx);  // the reference itself
    check.expect_near(got[idx], want[idx], tol, idx);
  }
  REQUIRE(check.bad() == 0);
}

TEST_CASE("f32_dwconv2d_chw kernels match f32_dwconv2d_chw__scalar") {
  Lcg rng(4);
  const auto acts = all_activations();
  size_t variant = 0;
  struct Kernel {
    const char* name;
    F32DwConv2dChwUkernelFn fn;
    size_t k;  // 0: any
  };
  const Kernel kernels[] = {{"f32_dwconv2d_chw_3x3__wasmsimd", f32_dwconv2d_chw_3x3__wasmsimd, 3},
                            {"f32_dwconv2d_chw_5x5__wasmsimd", f32_dwconv2d_chw_5x5__wasmsimd, 5},
                            {"f32_dwconv2d_chw__wasmsimd", f32_dwconv2d_chw__wasmsimd, 0}};
  const size_t widths[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 33};
  for (const Kernel& kernel : kernels) {
    const size_t sizes[] = {kernel.k ? kernel.k : 3, kernel.k ? kernel.k : 1, kernel.k ? kernel.k : 7};
    for (size_t ks : sizes) {
      const size_t kw = kernel.k ? ks : (ks == 1 ? 3 : ks);  // the general kernel also gets non-square
      for (size_t stride : {1, 2, 3}) {
        for (size_t dil : {1, 2}) {
          for (size_t pad : {size_t{0}, ks / 2, ks - 1}) {
            for (size_t w : widths) {
              const size_t h = 1 + (w * 7 + stride) % 11;
              // Asymmetric strides and pads exercise the (2,1) / (1,2) PP-OCR layers.
              DwCase c{h,
                       w,
                       ks,
                       kw,
                       stride,
                       1 + (stride + w) % 3,
                       dil,
                       dil == 2 && w % 2 ? 1 : dil,
                       pad,
                       pad,
                       pad + (w % 3 == 0),
                       pad};
              if (!dw_fits(c)) continue;
              check_dwconv(kernel.name, kernel.fn, c, acts[variant++ % acts.size()], rng);
            }
          }
        }
      }
    }
  }
  // PP-OCR-sized planes.
  check_dwconv("f32_dwconv2d_chw_3x3__wasmsimd", f32_dwconv2d_chw_3x3__wasmsimd, {40, 80, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
               acts[4], rng);
  check_dwconv("f32_dwconv2d_chw_5x5__wasmsimd", f32_dwconv2d_chw_5x5__wasmsimd, {12, 80, 5, 5, 2, 1, 1, 1, 2, 2, 2, 2},
               acts[4], rng);
  check_dwconv("f32_dwconv2d_chw_5x5__wasmsimd", f32_dwconv2d_chw_5x5__wasmsimd, {20, 20, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
               acts[1], rng);
}

// ---------------------------------------------------------------------------
// Conv (high level): im2col, 1x1, depthwise, groups
// ---------------------------------------------------------------------------

struct ConvCase {
  size_t batch, cin, cout, groups, h, w, k_h, k_w, s_h, s_w, d_h, d_w, pt, pl, pb, pr;
  bool bias;
};

void check_conv(const F32ConvConfig& config, const ConvCase& c, const F32Activation& act, Lcg& rng,
                F32ConvPath expected_path) {
  F32ConvParams p;
  p.in_channels = c.cin;
  p.out_channels = c.cout;
  p.groups = c.groups;
  p.kernel_h = c.k_h;
  p.kernel_w = c.k_w;
  p.stride_h = c.s_h;
  p.stride_w = c.s_w;
  p.dilation_h = c.d_h;
  p.dilation_w = c.d_w;
  p.pad_top = c.pt;
  p.pad_left = c.pl;
  p.pad_bottom = c.pb;
  p.pad_right = c.pr;
  const size_t cin_g = c.cin / c.groups, cout_g = c.cout / c.groups;
  const std::vector<float> w = rng.vec(c.cout * cin_g * c.k_h * c.k_w, -1.0f, 1.0f);
  const std::vector<float> bias = rng.vec(c.cout, -1.0f, 1.0f);
  const std::vector<float> x = rng.vec(c.batch * c.cin * c.h * c.w, -2.0f, 2.0f);
  auto plan = f32_conv_plan(p, w.data(), c.bias ? bias.data() : nullptr, act);
  REQUIRE(plan.ok());
  CHECK(plan->path() == expected_path);
  size_t oh = 0, ow = 0;
  REQUIRE(f32_conv_output_size(*plan, c.h, c.w, &oh, &ow).ok());
  std::vector<float> y(c.batch * c.cout * oh * ow + 5, kGuard);
  F32Buffer scratch;
  REQUIRE(f32_conv_run(config, *plan, c.batch, c.h, c.w, x.data(), y.data(), &scratch).ok());
  CHECK(scratch.size() == f32_conv_scratch_size(*plan, c.h, c.w));
  Checker check(std::string("conv[") + config.name + "," + f32_conv_path_name(plan->path()) + "] n" +
                std::to_string(c.batch) + " cin" + std::to_string(c.cin) + " cout" + std::to_string(c.cout) + " g" +
                std::to_string(c.groups) + " in" + std::to_string(c.h) + "x" + std::to_string(c.w) + " k" +
                std::to_string(c.k_h) + "x" + std::to_string(c.k_w) + " s" + std::to_string(c.s_h) + "," +
                std::to_string(c.s_w) + " d" + std::to_string(c.d_h) + "," + std::to_string(c.d_w) + " p" +
                std::to_string(c.pt) + "," + std::to_string(c.pl) + "," + std::to_string(c.pb) + "," +
                std::to_string(c.pr) + " act=" + act_name(act));
  const size_t k = cin_g * c.k_h * c.k_w;
  for (size_t idx = 0; idx < y.size(); ++idx) {
    if (idx >= c.batch * c.cout * oh * ow) {
      check.expect_equal(y[idx], kGuard, idx);
      continue;
    }
    const size_t ox = idx % ow, oy = idx / ow % oh, co = idx / (ow * oh) % c.cout, n = idx / (ow * oh * c.cout);
    const size_t grp = co / cout_g;
    Exact e;
    if (c.bias) {
      e.sum = bias[co];
      e.abs_sum = std::fabs(bias[co]);
    }
    for (size_t ci = 0; ci < cin_g; ++ci) {
      for (size_t ky = 0; ky < c.k_h; ++ky) {
        for (size_t kx = 0; kx < c.k_w; ++kx) {
          const int64_t iy = static_cast<int64_t>(oy * c.s_h + ky * c.d_h) - static_cast<int64_t>(c.pt);
          const int64_t ix = static_cast<int64_t>(ox * c.s_w + kx * c.d_w) - static_cast<int64_t>(c.pl);
          if (iy < 0 || ix < 0 || iy >= static_cast<int64_t>(c.h) || ix >= static_cast<int64_t>(c.w)) continue;
          const size_t in_c = grp * cin_g + ci;
          e.add(w[((co * cin_g + ci) * c.k_h + ky) * c.k_w + kx],
                x[((n * c.cin + in_c) * c.h + static_cast<size_t>(iy)) * c.w + static_cast<size_t>(ix)]);
        }
      }
    }
    check.expect_near(y[idx], activate_exact(act, e.sum), tolerance(k, e, act), idx);
  }
  REQUIRE(check.bad() == 0);
}

TEST_CASE("f32_conv_run (scalar and fast) matches the definition") {
  Lcg rng(5);
  const auto acts = all_activations();
  using P = F32ConvPath;
  struct Named {
    ConvCase c;
    P path;
  };
  const Named cases[] = {
      // PP-OCR shapes (reduced spatial size).
      {{1, 3, 8, 1, 33, 35, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true}, P::kIm2colGemm},    // stem, > 1 pixel block
      {{1, 16, 16, 16, 20, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},  // dw 3x3 s1
      {{1, 32, 32, 32, 13, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},  // dw 3x3 s2
      {{1, 8, 8, 8, 12, 20, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},     // dw 3x3 s(2,1)
      {{1, 12, 12, 12, 9, 18, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},   // dw 3x3 s(1,2)
      {{1, 24, 24, 24, 11, 10, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true}, P::kDepthwise},  // dw 5x5 s1
      {{1, 16, 16, 16, 10, 14, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, true}, P::kDepthwise},  // dw 5x5 s2
      {{1, 16, 16, 16, 6, 40, 5, 5, 2, 1, 1, 1, 2, 2, 2, 2, true}, P::kDepthwise},   // dw 5x5 s(2,1)
      {{1, 24, 96, 1, 9, 13, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true}, P::kGemm1x1},      // pointwise
      {{1, 3, 5, 1, 40, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true}, P::kGemm1x1},       // > 1 pixel block
      {{2, 96, 24, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true}, P::kGemm1x1},       // squeeze-excite, batch 2
      {{1, 40, 6, 1, 1, 23, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, true}, P::kIm2colGemm},    // rec 1x3, pads (0,1)
      {{1, 10, 7, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false}, P::kIm2colGemm},    // dense 3x3, no bias
      // Everything else the general paths must handle.
      {{2, 4, 6, 2, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kIm2colGemm},    // groups 2
      {{1, 6, 9, 3, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true}, P::kGemm1x1},       // grouped 1x1
      {{1, 4, 8, 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},    // channel multiplier 2
      {{1, 5, 7, 1, 12, 13, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true}, P::kIm2colGemm},  // dilation 2
      {{1, 6, 6, 6, 12, 13, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3, true}, P::kDepthwise},   // dw dilation (2,3)
      {{1, 3, 4, 1, 8, 9, 2, 3, 1, 2, 1, 1, 0, 2, 1, 0, true}, P::kIm2colGemm},    // asymmetric pads
      {{1, 5, 3, 1, 9, 10, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, true}, P::kIm2colGemm},   // 1x1 stride 2
      {{1, 5, 3, 1, 4, 5, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, true}, P::kIm2colGemm},    // 1x1 padded
      {{1, 2, 3, 1, 11, 12, 7, 7, 3, 2, 1, 1, 3, 3, 3, 3, true}, P::kIm2colGemm},  // 7x7 stride (3,2)
      {{1, 3, 3, 3, 9, 9, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, true}, P::kDepthwise},     // dw 7x7: general kernel
      {{1, 4, 4, 4, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kDepthwise},     // 1x1 input, padded
      {{1, 4, 5, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kIm2colGemm},    // 1x1 input, dense
      {{3, 1, 2, 1, 6, 7, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, true}, P::kIm2colGemm},    // one input channel, batch 3
      {{1, 130, 9, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, P::kIm2colGemm},  // K = 1170: small blocks
  };
  size_t variant = 0;
  for (const F32ConvConfig* config : {&f32_conv_config_scalar(), &f32_conv_config()}) {
    for (const Named& named : cases) {
      check_conv(*config, named.c, acts[variant++ % acts.size()], rng, named.path);
    }
  }
}

TEST_CASE("f32_conv_plan and f32_conv_output_size reject bad geometry") {
  std::vector<float> w(64, 0.5f);
  F32ConvParams p;
  p.in_channels = 4;
  p.out_channels = 4;
  p.kernel_h = p.kernel_w = 3;
  p.groups = 3;  // does not divide 4
  CHECK(f32_conv_plan(p, w.data(), nullptr, F32Activation::none()).status().code() == StatusCode::kInvalidArgument);
  p.groups = 4;
  p.stride_w = 0;
  CHECK(f32_conv_plan(p, w.data(), nullptr, F32Activation::none()).status().code() == StatusCode::kInvalidArgument);
  p.stride_w = 1;
  CHECK(f32_conv_plan(p, nullptr, nullptr, F32Activation::none()).status().code() == StatusCode::kInvalidArgument);
  // Attribute values whose products would wrap a 32-bit size_t are rejected up front.
  p.dilation_h = size_t{1} << 29;  // (3 - 1) * 2^29 = 2^30: the dilated kernel is too large
  CHECK(f32_conv_plan(p, w.data(), nullptr, F32Activation::none()).status().code() == StatusCode::kInvalidArgument);
  p.dilation_h = 1;
  p.kernel_h = p.kernel_w = size_t{1} << 16;
  CHECK(f32_conv_plan(p, w.data(), nullptr, F32Activation::none()).status().code() == StatusCode::kInvalidArgument);
  p.kernel_h = p.kernel_w = 3;
  CHECK(f32_pack_gemm_w_size(SIZE_MAX / 2, SIZE_MAX / 2) == SIZE_MAX);
  CHECK(f32_pack_gemm_chw_w_size(SIZE_MAX / 2, 3) == SIZE_MAX);
  auto plan = f32_conv_plan(p, w.data(), nullptr, F32Activation::none());
  REQUIRE(plan.ok());
  size_t oh = 0, ow = 0;
  CHECK(f32_conv_output_size(*plan, 2, 5, &oh, &ow).code() == StatusCode::kInvalidArgument);  // 3 > 2
  REQUIRE(f32_conv_output_size(*plan, 3, 5, &oh, &ow).ok());
  CHECK(oh == 1);
  CHECK(ow == 3);
  std::vector<float> x(2 * 5 * 4), y(64);
  CHECK(f32_conv_run(*plan, 1, 2, 5, x.data(), y.data(), nullptr).code() == StatusCode::kInvalidArgument);
  CHECK(f32_conv_run(F32ConvPlan(), 1, 3, 5, x.data(), y.data(), nullptr).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("f32_conv scratch stays bounded on large images") {
  std::vector<float> w(96 * 24 * 9, 0.5f);
  F32ConvParams p;
  p.in_channels = 96;
  p.out_channels = 24;
  p.kernel_h = p.kernel_w = 3;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  auto dense = f32_conv_plan(p, w.data(), nullptr, F32Activation::none());
  REQUIRE(dense.ok());
  const size_t k = 96 * 9;
  CHECK(f32_conv_scratch_size(*dense, 64, 64) == f32_conv_scratch_size(*dense, 4000, 4000));
  CHECK(f32_conv_scratch_size(*dense, 4000, 4000) <= 128 * k);
  p.groups = p.out_channels = 96;
  auto depthwise = f32_conv_plan(p, w.data(), nullptr, F32Activation::none());
  REQUIRE(depthwise.ok());
  CHECK(f32_conv_scratch_size(*depthwise, 4000, 4000) <= 5 * 4100);  // a few padded rows
  p.groups = 1;
  p.kernel_h = p.kernel_w = 1;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 0;
  auto pointwise = f32_conv_plan(p, w.data(), nullptr, F32Activation::none());
  REQUIRE(pointwise.ok());
  CHECK(pointwise->path() == F32ConvPath::kGemm1x1);
  CHECK(f32_conv_scratch_size(*pointwise, 4000, 4000) == 0);
}

// im2col is covered by the conv cases; this pins its layout directly.
TEST_CASE("f32_im2col_chw: layout, padding and block offsets") {
  F32Conv2dGeometry g;
  g.in_h = 2;
  g.in_w = 3;
  g.kernel_h = 1;
  g.kernel_w = 2;
  g.pad_left = 1;
  g.out_h = 2;
  g.out_w = 4;  // (3 + 1 + 1 - 2) / 1 + 1 with pad_right = 1
  const float in[6] = {1, 2, 3, 4, 5, 6};
  float col[2 * 5];
  for (float& v : col) v = kGuard;
  f32_im2col_chw(g, 1, in, 2, 5, col, 5);  // pixels 2..6: (0,2) (0,3) (1,0) (1,1) (1,2)
  const float want[10] = {2, 3, 0, 4, 5,   // tap kx=0 reads column ox - 1
                          3, 0, 4, 5, 6};  // tap kx=1 reads column ox
  for (int i = 0; i < 10; ++i) CHECK(col[i] == want[i]);
}

}  // namespace
}  // namespace wq
