// Our int8 GEMM and convolution against XNNPACK's operators (native x86 only;
// Debian's libxnnpack-dev, 2022-02). Built when CMake finds XNNPACK
// (WQ_XNNPACK_ORACLE, which defines WQ_HAVE_XNNPACK); otherwise this file is empty.
//
// XNNPACK computes what ONNX's QLinearMatMul / QLinearConv compute, in NHWC:
//   y = clamp(round_half_even(acc * (x_scale * w_scale / y_scale)) + y_zp, y_min, y_max)
// in fp32 on x86 (and, as measured, with the same fp32 scale as our
// requant_scale()). Operators used (every int8 GEMM / conv of the 2022 header):
//   xnn_create_fully_connected_nc_qs8   int8 x, symmetric per-tensor int8 W
//   xnn_create_fully_connected_nc_qu8   uint8 x, uint8 W with a zero point
//   xnn_create_convolution2d_nhwc_qc8   int8 x, symmetric per-channel int8 W (also
//                                       as a 1x1 conv = per-channel GEMM)
//   xnn_create_convolution2d_nhwc_qs8   int8 x, per-tensor int8 W
//   xnn_create_convolution2d_nhwc_qu8   uint8 x, uint8 W with a zero point
// The qs8/qc8 operators take int8 activations only. Our uint8 path is held to
// them through the exact identity x - zp == (x - 128) - (zp - 128): XNNPACK gets
// x - 128 with zero point zp - 128 (and an int8 output with zero point and
// bounds shifted by -128), which changes no accumulator and no rounding.
//
// Bound: the measured difference is stated in doc/kernels.md and asserted below
// (kMaxLsb, kMaxDiffFraction). Set WQ_XNNPACK_ORACLE_STATS=1 to print per-test
// counts.
#if defined(WQ_HAVE_XNNPACK) && WQ_HAVE_XNNPACK

#include <doctest.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/qparams.h"
#include "tests/core/conv_shapes.h"
#include "tests/core/xorshift_rng.h"

namespace wq {
namespace {

// Largest |ours - XNNPACK| in output units, and the largest fraction of
// outputs allowed to differ at all. Both are 0: over 1.7 million outputs
// (9,300 exact ties) none differed (doc/kernels.md, "XNNPACK").
constexpr int kMaxLsb = 0;
constexpr double kMaxDiffFraction = 0.0;

struct Rng : test::XorshiftRng {
  explicit Rng(uint64_t seed) : XorshiftRng(seed * 0x9E3779B97F4A7C15ull + 7) {}
};

bool xnn_ready() {
  static const xnn_status status = xnn_initialize(nullptr);
  return status == xnn_status_success;
}

// Owns one operator.
struct XnnOp {
  xnn_operator_t op = nullptr;
  XnnOp() = default;
  XnnOp(const XnnOp&) = delete;
  XnnOp& operator=(const XnnOp&) = delete;
  ~XnnOp() {
    if (op) xnn_delete_operator(op);
  }
};

// XNNPACK may read XNN_EXTRA_BYTES past its inputs.
std::vector<uint8_t> padded_bytes(size_t n) { return std::vector<uint8_t>(n + XNN_EXTRA_BYTES, 0); }

// Difference statistics of one test case.
struct DiffStats {
  const char* name;
  size_t compared = 0, differing = 0, clamped = 0, ties = 0;
  int max_lsb = 0;
  explicit DiffStats(const char* n) : name(n) {}
  // Both outputs as stored bytes of the same signedness; [lo, hi] the output
  // clamp (outputs there carry no information about the rounding).
  void add(const uint8_t* ours, const uint8_t* theirs, size_t n, bool is_signed, int lo, int hi) {
    for (size_t i = 0; i < n; ++i) {
      const int a = is_signed ? int(int8_t(ours[i])) : int(ours[i]);
      const int b = is_signed ? int(int8_t(theirs[i])) : int(theirs[i]);
      const int d = std::abs(a - b);
      if (d != 0) ++differing;
      if (b == lo || b == hi) ++clamped;
      max_lsb = std::max(max_lsb, d);
    }
    compared += n;
  }
  // Exact halfway cases among the unrounded outputs acc * scale.
  void count_ties(const int32_t* acc, size_t n, const float* scale, size_t scale_stride, size_t group) {
    for (size_t i = 0; i < n; ++i) {
      const float v = float(acc[i]) * scale[(i / group) * scale_stride];
      if (std::fabs(v) < 1e6f && v - std::floor(v) == 0.5f) ++ties;
    }
  }
  void check(bool expect_ties = true) const {
    const char* env = std::getenv("WQ_XNNPACK_ORACLE_STATS");
    if (env && *env && *env != '0') {
      std::printf("xnnpack oracle %-24s %7zu outputs (%4.1f%% clamped, %zu exact ties), %zu differ (max %d LSB)\n",
                  name, compared, 100.0 * double(clamped) / double(compared ? compared : 1), ties, differing, max_lsb);
    }
    INFO(name << ": " << differing << " of " << compared << " outputs differ, max " << max_lsb << " LSB");
    CHECK(compared > 0);
    // The comparison must be about rounding, not about saturated outputs.
    CHECK(double(clamped) <= 0.2 * double(compared));
    if (expect_ties) CHECK(ties > 0);  // round half to even was exercised
    CHECK(max_lsb <= kMaxLsb);
    CHECK(double(differing) <= kMaxDiffFraction * double(compared));
  }
};

// Scales: "pow2" makes x_scale and y_scale powers of two, so every order of
// the product x_scale * w_scale / y_scale gives the same float; the other mode
// draws all three freely (then only the order of the operations could differ).
// w_scale is chosen so the largest |accumulator| of the case lands at
// `reach` output steps (times a per-channel factor in [0.5, 1]): outputs spread
// over the 8-bit range without saturating, so almost every output tests rounding.
// "ties" (with pow2) makes every scale a power of two, so the requantization
// scale is 2^-j and many products land exactly on .5: round half to even is
// then checked against XNNPACK on real ties.
struct Scales {
  float x, y;
  std::vector<float> w;
};
Scales draw_scales(Rng& rng, int64_t max_abs_acc, int32_t reach, size_t channels, bool per_channel, bool pow2,
                   bool ties) {
  Scales s;
  if (pow2) {
    s.x = std::ldexp(1.0f, -rng.range(5, 9));
    s.y = std::ldexp(1.0f, -rng.range(2, 6));
  } else {
    s.x = rng.uniform(0.002f, 0.05f);
    s.y = rng.uniform(0.01f, 0.2f);
  }
  const float target = float(reach) / float(std::max<int64_t>(max_abs_acc, 1));
  s.w.resize(per_channel ? channels : 1);
  for (float& w : s.w) {
    w = target * s.y / s.x * rng.uniform(0.5f, 1.0f);
    if (pow2 && ties) w = std::ldexp(1.0f, std::ilogb(w));  // largest power of two <= w
  }
  return s;
}

// Output steps from the zero point to the nearer end of [lo, hi], less one.
int32_t output_reach(int32_t zp, int32_t lo, int32_t hi) { return std::max(1, std::min(hi - zp, zp - lo) - 1); }

int64_t max_abs(const std::vector<int32_t>& v) {
  int64_t m = 0;
  for (int32_t a : v) m = std::max<int64_t>(m, std::abs(int64_t(a)));
  return m;
}

// ---- GEMM -------------------------------------------------------------------------

enum class GemmKind { kQs8, kQu8, kQc8 };

struct GemmOracleCase {
  size_t m, n, k;
  GemmKind kind;
  bool x_unsigned;  // kQc8 / kQs8: run ours on uint8 activations (shifted identity above)
  int force_format;  // ours: -1 choose, 0 int8, 1 int16
  bool pow2_scales;
  bool narrow_range;  // output clamp narrower than the type (fused Relu-like)
  uint64_t seed;
  bool small = false;  // values within +-3 of their zero points: small accumulators, many exact ties
};

// A value of the 8-bit type within +-3 of zp (zp in the type's range).
uint8_t near_zero_point(Rng& rng, bool is_signed, int32_t zp) {
  const int lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  const int v = std::min(hi, std::max(lo, int(zp) + rng.range(-3, 3)));
  return uint8_t(v);
}

void run_gemm_oracle(const GemmOracleCase& c, DiffStats& stats) {
  CAPTURE(c.m);
  CAPTURE(c.n);
  CAPTURE(c.k);
  CAPTURE(int(c.kind));
  CAPTURE(c.x_unsigned);
  CAPTURE(c.force_format);
  Rng rng(c.seed);
  const bool xnn_signed = c.kind != GemmKind::kQu8;  // XNNPACK's activation / output type
  const bool ours_x_signed = xnn_signed && !c.x_unsigned;
  const int shift = (xnn_signed && c.x_unsigned) ? 128 : 0;  // ours = xnn + shift

  // Activations as XNNPACK sees them, and ours.
  const int32_t x_zp_x = xnn_signed ? rng.range(-128, 127) : rng.range(0, 255);
  const int32_t x_zp_o = x_zp_x + shift;
  std::vector<uint8_t> xx = padded_bytes(c.m * c.k), xo(c.m * c.k);
  for (size_t i = 0; i < c.m * c.k; ++i) {
    xx[i] = c.small ? near_zero_point(rng, xnn_signed, x_zp_x) : uint8_t(rng.next());
    xo[i] = uint8_t(int(xnn_signed ? int(int8_t(xx[i])) : int(xx[i])) + shift);
  }

  // Weights W[n][k] (XNNPACK's fully-connected layout).
  const bool w_signed = c.kind != GemmKind::kQu8;
  int32_t w_zp = 0;
  if (c.kind == GemmKind::kQu8) w_zp = rng.next() % 3 == 0 ? 128 : rng.range(0, 255);
  std::vector<uint8_t> w(c.n * c.k);
  for (auto& v : w) v = c.small ? near_zero_point(rng, w_signed, w_zp) : uint8_t(rng.next());
  std::vector<int32_t> bias(c.n);
  for (auto& b : bias) b = c.small ? rng.range(-20, 20) : rng.range(-30000, 30000);
  const int32_t y_zp_x = xnn_signed ? rng.range(-100, 100) : rng.range(20, 235);
  int32_t y_min_x = xnn_signed ? -128 : 0, y_max_x = xnn_signed ? 127 : 255;
  // Accumulator magnitudes (our reference; only used to pick the scales).
  std::vector<int32_t> acc(c.m * c.n);
  qs8_gemm_acc__scalar(c.m, c.n, c.k, xo.data(), ours_x_signed, c.k, x_zp_x + shift, w.data(), w_signed, 1, c.k,
                       &w_zp, false, bias.data(), acc.data(), c.n);
  const Scales sc = draw_scales(rng, max_abs(acc), output_reach(y_zp_x, y_min_x, y_max_x), c.n,
                                c.kind == GemmKind::kQc8, c.pow2_scales, c.seed % 2 == 0);
  if (c.narrow_range) {
    y_min_x = y_zp_x;  // Relu
    y_max_x -= 7;
  }

  // XNNPACK.
  REQUIRE(xnn_ready());
  std::vector<uint8_t> yx(c.m * c.n, 0xA5);
  XnnOp op;
  xnn_status st = xnn_status_success;
  switch (c.kind) {
    case GemmKind::kQs8:
      st = xnn_create_fully_connected_nc_qs8(c.k, c.n, c.k, c.n, int8_t(x_zp_x), sc.x, sc.w[0],
                                             reinterpret_cast<const int8_t*>(w.data()), bias.data(), int8_t(y_zp_x),
                                             sc.y, int8_t(y_min_x), int8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_fully_connected_nc_qs8(op.op, c.m, reinterpret_cast<const int8_t*>(xx.data()),
                                            reinterpret_cast<int8_t*>(yx.data()), nullptr);
      break;
    case GemmKind::kQu8:
      st = xnn_create_fully_connected_nc_qu8(c.k, c.n, c.k, c.n, uint8_t(x_zp_x), sc.x, uint8_t(w_zp), sc.w[0],
                                             w.data(), bias.data(), uint8_t(y_zp_x), sc.y, uint8_t(y_min_x),
                                             uint8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_fully_connected_nc_qu8(op.op, c.m, xx.data(), yx.data(), nullptr);
      break;
    case GemmKind::kQc8:
      // A 1x1 convolution over an M x 1 image is a GEMM with per-channel scales.
      st = xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, c.k, c.n, c.k, c.n, int8_t(x_zp_x), sc.x,
                                             sc.w.data(), reinterpret_cast<const int8_t*>(w.data()), bias.data(),
                                             int8_t(y_zp_x), sc.y, int8_t(y_min_x), int8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_convolution2d_nhwc_qc8(op.op, 1, c.m, 1, reinterpret_cast<const int8_t*>(xx.data()),
                                            reinterpret_cast<int8_t*>(yx.data()), nullptr);
      break;
  }
  REQUIRE(st == xnn_status_success);
  REQUIRE(xnn_run_operator(op.op, nullptr) == xnn_status_success);

  // Ours: same real-valued problem, outputs in our storage type.
  auto packed = qgemm_pack_w(w.data(), w_signed, c.k, c.n, /*w_k_stride=*/1, /*w_n_stride=*/c.k, &w_zp, false,
                             bias.data(), c.force_format);
  REQUIRE(packed.ok());
  std::vector<float> scale(c.n);
  for (size_t j = 0; j < c.n; ++j) scale[j] = requant_scale(sc.x, sc.w[sc.w.size() > 1 ? j : 0], sc.y);
  QGemmRequantParams p;
  p.scale = scale.data();
  p.output_signed = xnn_signed && !c.x_unsigned;
  p.zero_point = y_zp_x + shift;
  p.qmin = y_min_x + shift;
  p.qmax = y_max_x + shift;
  for (size_t i = 0; i < c.m; ++i) stats.count_ties(acc.data() + i * c.n, c.n, scale.data(), 1, 1);
  std::vector<uint8_t> yo(c.m * c.n, 0x5A);
  REQUIRE(qgemm_requant(*packed, xo.data(), ours_x_signed, c.m, c.k, x_zp_o, p, yo.data(), c.n).ok());
  // Back to XNNPACK's type for the comparison.
  if (shift) {
    for (auto& v : yo) v = uint8_t(int(v) - shift);
  }
  stats.add(yo.data(), yx.data(), yo.size(), xnn_signed, y_min_x, y_max_x);
}

const size_t kGemmM[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64};
const size_t kGemmN[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65};
const size_t kGemmK[] = {1, 2, 3, 7, 8, 9, 16, 31, 32, 33, 64, 127, 300, 1024};

void sweep_gemm(GemmKind kind, DiffStats& stats, uint64_t seed0) {
  uint64_t i = seed0;
  for (size_t m : kGemmM)
    for (size_t n : kGemmN)
      for (size_t k : kGemmK) {
        if (m * n * k > 300000) continue;
        ++i;
        // Every third shape: thin the sweep, keep every m, n and k represented.
        if ((m + 3 * n + 7 * k + i) % 3 != 0 && m * n * k > 2000) continue;
        GemmOracleCase c{m, n, k, kind, false, -1, false, false, i};
        c.x_unsigned = kind != GemmKind::kQu8 && i % 2 == 1;
        c.force_format = int(i % 3) - 1;
        if (kind == GemmKind::kQu8 && c.force_format == 0) c.force_format = 1;  // any W zero point: int16
        c.pow2_scales = i % 4 < 2;
        c.narrow_range = i % 7 == 0;
        run_gemm_oracle(c, stats);
      }
}

}  // namespace

TEST_CASE("xnnpack oracle: GEMM, per-tensor int8 weights (fully_connected_nc_qs8)") {
  DiffStats stats("gemm qs8");
  sweep_gemm(GemmKind::kQs8, stats, 1);
  stats.check();
}

TEST_CASE("xnnpack oracle: GEMM, uint8 weights with a zero point (fully_connected_nc_qu8)") {
  DiffStats stats("gemm qu8");
  sweep_gemm(GemmKind::kQu8, stats, 100000);
  stats.check();
}

TEST_CASE("xnnpack oracle: GEMM, per-channel int8 weights (1x1 convolution2d_nhwc_qc8)") {
  DiffStats stats("gemm qc8 (per-channel)");
  sweep_gemm(GemmKind::kQc8, stats, 200000);
  stats.check();
}

TEST_CASE("xnnpack oracle: GEMM with exact ties (power-of-two scales, small accumulators)") {
  DiffStats stats("gemm ties");
  uint64_t i = 400000;
  for (GemmKind kind : {GemmKind::kQs8, GemmKind::kQu8, GemmKind::kQc8})
    for (size_t m : {1, 3, 4, 9})
      for (size_t n : {1, 8, 13})
        for (size_t k : {1, 2, 5, 16, 33}) {
          ++i;
          GemmOracleCase c{m, n, k, kind, kind != GemmKind::kQu8 && i % 2 == 0, int(i % 2), true, false, 2 * i};
          if (kind == GemmKind::kQu8) c.force_format = 1;
          c.small = true;
          run_gemm_oracle(c, stats);
        }
  stats.check();
  CHECK(stats.ties * 20 >= stats.compared);  // at least 5% of the outputs are exact ties
}

TEST_CASE("xnnpack oracle: GEMM on the issue's shapes (qc8, per-channel)") {
  DiffStats stats("gemm qc8 large");
  const size_t shapes[][3] = {{128, 768, 768}, {128, 3072, 768}, {1, 4096, 4096}};
  uint64_t i = 300000;
  for (const auto& s : shapes) {
    for (bool x_unsigned : {false, true}) {
      GemmOracleCase c{s[0], s[2], s[1], GemmKind::kQc8, x_unsigned, -1, false, false, ++i};
      run_gemm_oracle(c, stats);
    }
  }
  stats.check(/*expect_ties=*/false);
}

// ---- convolution ------------------------------------------------------------------

namespace {

enum class ConvKind { kQc8, kQs8, kQu8 };

struct ConvOracleCase {
  QConvShape s;
  ConvKind kind;
  bool x_unsigned;
  bool pow2_scales;
  uint64_t seed;
  bool small = false;  // as GemmOracleCase::small
};

void run_conv_oracle(const ConvOracleCase& c, DiffStats& stats) {
  const QConvShape& s = c.s;
  CAPTURE(s.c_in);
  CAPTURE(s.c_out);
  CAPTURE(s.h);
  CAPTURE(s.w);
  CAPTURE(s.kh);
  CAPTURE(s.kw);
  CAPTURE(s.stride_h);
  CAPTURE(s.stride_w);
  CAPTURE(s.dilation_h);
  CAPTURE(s.dilation_w);
  CAPTURE(s.pad_top);
  CAPTURE(s.pad_left);
  CAPTURE(s.pad_bottom);
  CAPTURE(s.pad_right);
  CAPTURE(s.groups);
  CAPTURE(int(c.kind));
  CAPTURE(c.x_unsigned);
  Rng rng(c.seed);
  const size_t oh = qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom);
  const size_t ow = qconv_out_dim(s.w, s.kw, s.stride_w, s.dilation_w, s.pad_left, s.pad_right);
  REQUIRE(oh > 0);
  REQUIRE(ow > 0);
  const size_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups, taps = s.kh * s.kw;
  const bool xnn_signed = c.kind != ConvKind::kQu8;
  const int shift = (xnn_signed && c.x_unsigned) ? 128 : 0;
  const bool ours_x_signed = xnn_signed && !c.x_unsigned;

  // Input: ours NCHW, XNNPACK NHWC, same values (up to the shift).
  const int32_t x_zp_x = xnn_signed ? rng.range(-128, 127) : rng.range(0, 255);
  const size_t hw = s.h * s.w;
  std::vector<uint8_t> xo(s.n * s.c_in * hw), xx = padded_bytes(s.n * s.c_in * hw);
  for (size_t b = 0; b < s.n; ++b)
    for (size_t ch = 0; ch < s.c_in; ++ch)
      for (size_t p = 0; p < hw; ++p) {
        const uint8_t v = c.small ? near_zero_point(rng, xnn_signed, x_zp_x) : uint8_t(rng.next());
        xx[(b * hw + p) * s.c_in + ch] = v;
        xo[(b * s.c_in + ch) * hw + p] = uint8_t(int(xnn_signed ? int(int8_t(v)) : int(v)) + shift);
      }

  // Weights: ours [c_out][cin_g][kh][kw]; XNNPACK [g][cout_g][kh][kw][cin_g].
  int32_t w_zp = 0;
  if (c.kind == ConvKind::kQu8) w_zp = rng.next() % 3 == 0 ? 128 : rng.range(0, 255);
  std::vector<uint8_t> wo(s.c_out * cin_g * taps), wx(wo.size());
  for (auto& v : wo) v = c.small ? near_zero_point(rng, c.kind != ConvKind::kQu8, w_zp) : uint8_t(rng.next());
  for (size_t g = 0; g < s.groups; ++g)
    for (size_t o = 0; o < cout_g; ++o)
      for (size_t ci = 0; ci < cin_g; ++ci)
        for (size_t t = 0; t < taps; ++t) {
          const size_t co = g * cout_g + o;
          wx[((g * cout_g + o) * taps + t) * cin_g + ci] = wo[(co * cin_g + ci) * taps + t];
        }
  std::vector<int32_t> bias(s.c_out);
  for (auto& b : bias) b = c.small ? rng.range(-20, 20) : rng.range(-30000, 30000);
  const int32_t y_zp_x = xnn_signed ? rng.range(-100, 100) : rng.range(20, 235);
  const int32_t y_min_x = xnn_signed ? -128 : 0, y_max_x = xnn_signed ? 127 : 255;
  std::vector<int32_t> acc(s.n * s.c_out * oh * ow);
  qs8_conv_acc__scalar(s, xo.data(), ours_x_signed, x_zp_x + shift, wo.data(), c.kind != ConvKind::kQu8, &w_zp, false,
                       bias.data(), acc.data());
  const Scales sc = draw_scales(rng, max_abs(acc), output_reach(y_zp_x, y_min_x, y_max_x), s.c_out,
                                c.kind == ConvKind::kQc8, c.pow2_scales, c.seed % 2 == 0);

  REQUIRE(xnn_ready());
  std::vector<uint8_t> yx(s.n * oh * ow * s.c_out, 0xA5);
  XnnOp op;
  const uint32_t pt = uint32_t(s.pad_top), pr = uint32_t(s.pad_right), pb = uint32_t(s.pad_bottom),
                 pl = uint32_t(s.pad_left);
  xnn_status st = xnn_status_success;
  switch (c.kind) {
    case ConvKind::kQc8:
      st = xnn_create_convolution2d_nhwc_qc8(
          pt, pr, pb, pl, uint32_t(s.kh), uint32_t(s.kw), uint32_t(s.stride_h), uint32_t(s.stride_w),
          uint32_t(s.dilation_h), uint32_t(s.dilation_w), uint32_t(s.groups), cin_g, cout_g, s.c_in, s.c_out,
          int8_t(x_zp_x), sc.x, sc.w.data(), reinterpret_cast<const int8_t*>(wx.data()), bias.data(), int8_t(y_zp_x),
          sc.y, int8_t(y_min_x), int8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_convolution2d_nhwc_qc8(op.op, s.n, s.h, s.w, reinterpret_cast<const int8_t*>(xx.data()),
                                            reinterpret_cast<int8_t*>(yx.data()), nullptr);
      break;
    case ConvKind::kQs8:
      st = xnn_create_convolution2d_nhwc_qs8(
          pt, pr, pb, pl, uint32_t(s.kh), uint32_t(s.kw), uint32_t(s.stride_h), uint32_t(s.stride_w),
          uint32_t(s.dilation_h), uint32_t(s.dilation_w), uint32_t(s.groups), cin_g, cout_g, s.c_in, s.c_out,
          int8_t(x_zp_x), sc.x, sc.w[0], reinterpret_cast<const int8_t*>(wx.data()), bias.data(), int8_t(y_zp_x), sc.y,
          int8_t(y_min_x), int8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_convolution2d_nhwc_qs8(op.op, s.n, s.h, s.w, reinterpret_cast<const int8_t*>(xx.data()),
                                            reinterpret_cast<int8_t*>(yx.data()), nullptr);
      break;
    case ConvKind::kQu8:
      st = xnn_create_convolution2d_nhwc_qu8(pt, pr, pb, pl, uint32_t(s.kh), uint32_t(s.kw), uint32_t(s.stride_h),
                                             uint32_t(s.stride_w), uint32_t(s.dilation_h), uint32_t(s.dilation_w),
                                             uint32_t(s.groups), cin_g, cout_g, s.c_in, s.c_out, uint8_t(x_zp_x), sc.x,
                                             uint8_t(w_zp), sc.w[0], wx.data(), bias.data(), uint8_t(y_zp_x), sc.y,
                                             uint8_t(y_min_x), uint8_t(y_max_x), 0, &op.op);
      REQUIRE(st == xnn_status_success);
      st = xnn_setup_convolution2d_nhwc_qu8(op.op, s.n, s.h, s.w, xx.data(), yx.data(), nullptr);
      break;
  }
  REQUIRE(st == xnn_status_success);
  REQUIRE(xnn_run_operator(op.op, nullptr) == xnn_status_success);

  // Ours.
  auto conv = QConv::create(s, wo.data(), c.kind != ConvKind::kQu8, &w_zp, false, bias.data());
  REQUIRE(conv.ok());
  REQUIRE(conv->out_h() == oh);
  REQUIRE(conv->out_w() == ow);
  std::vector<float> scale(s.c_out);
  for (size_t co = 0; co < s.c_out; ++co) scale[co] = requant_scale(sc.x, sc.w[sc.w.size() > 1 ? co : 0], sc.y);
  QGemmRequantParams p;
  p.scale = scale.data();
  p.output_signed = ours_x_signed;
  p.zero_point = y_zp_x + shift;
  p.qmin = y_min_x + shift;
  p.qmax = y_max_x + shift;
  for (size_t b = 0; b < s.n; ++b) {
    stats.count_ties(acc.data() + b * s.c_out * oh * ow, s.c_out * oh * ow, scale.data(), 1, oh * ow);
  }
  std::vector<uint8_t> yo(s.n * s.c_out * oh * ow, 0x5A);
  REQUIRE(conv->run(xo.data(), ours_x_signed, x_zp_x + shift, p, yo.data()).ok());
  // NCHW -> NHWC, back to XNNPACK's type.
  std::vector<uint8_t> yo_nhwc(yo.size());
  const size_t opix = oh * ow;
  for (size_t b = 0; b < s.n; ++b)
    for (size_t co = 0; co < s.c_out; ++co)
      for (size_t q = 0; q < opix; ++q)
        yo_nhwc[(b * opix + q) * s.c_out + co] = uint8_t(int(yo[(b * s.c_out + co) * opix + q]) - shift);
  stats.add(yo_nhwc.data(), yx.data(), yx.size(), xnn_signed, y_min_x, y_max_x);
}

// Random awkward shapes: kernels 1/2/3/5 (and 1x3-style mixes), strides 1-3,
// dilations 1-2, asymmetric padding, odd sizes; dense, grouped, depthwise and
// depthwise with a channel multiplier.
void sweep_conv(ConvKind kind, int count, DiffStats& stats, uint64_t seed0, bool small = false) {
  Rng pick(seed0);
  int done = 0;
  for (int t = 0; done < count && t < 20 * count; ++t) {
    ConvOracleCase c;
    if (!test::random_conv_shape(pick, t, 29, &c.s)) continue;
    c.kind = kind;
    c.x_unsigned = kind != ConvKind::kQu8 && t % 2 == 1;
    c.pow2_scales = t % 4 < 2;
    c.seed = seed0 * 1000 + uint64_t(t);
    c.small = small;
    if (small) c.pow2_scales = true;
    run_conv_oracle(c, stats);
    ++done;
  }
  CHECK(done == count);
}

ConvOracleCase mobilenet_case(size_t cin, size_t cout, size_t hw, size_t k, size_t stride, size_t groups,
                              ConvKind kind, uint64_t seed) {
  ConvOracleCase c;
  c.s.c_in = cin;
  c.s.c_out = cout;
  c.s.h = c.s.w = hw;
  c.s.kh = c.s.kw = k;
  c.s.stride_h = c.s.stride_w = stride;
  c.s.pad_top = c.s.pad_left = c.s.pad_bottom = c.s.pad_right = k / 2;
  c.s.groups = groups;
  c.kind = kind;
  c.x_unsigned = kind != ConvKind::kQu8;
  c.pow2_scales = false;
  c.seed = seed;
  return c;
}

}  // namespace

TEST_CASE("xnnpack oracle: convolution, per-channel int8 weights (convolution2d_nhwc_qc8)") {
  DiffStats stats("conv qc8 (per-channel)");
  sweep_conv(ConvKind::kQc8, 160, stats, 11);
  stats.check();
}

TEST_CASE("xnnpack oracle: convolution, per-tensor int8 weights (convolution2d_nhwc_qs8)") {
  DiffStats stats("conv qs8");
  sweep_conv(ConvKind::kQs8, 120, stats, 12);
  stats.check();
}

TEST_CASE("xnnpack oracle: convolution, uint8 weights with a zero point (convolution2d_nhwc_qu8)") {
  DiffStats stats("conv qu8");
  sweep_conv(ConvKind::kQu8, 120, stats, 13);
  stats.check();
}

TEST_CASE("xnnpack oracle: convolution with exact ties (power-of-two scales, small accumulators)") {
  DiffStats stats("conv ties");
  sweep_conv(ConvKind::kQc8, 40, stats, 21, true);
  sweep_conv(ConvKind::kQs8, 40, stats, 22, true);
  sweep_conv(ConvKind::kQu8, 40, stats, 23, true);
  stats.check();
  CHECK(stats.ties * 20 >= stats.compared);
}

TEST_CASE("xnnpack oracle: MobileNet-like layers (1x1, depthwise 3x3 s1/s2, 5x5, dense 3x3)") {
  DiffStats stats("conv mobilenet");
  uint64_t seed = 700;
  for (ConvKind kind : {ConvKind::kQc8, ConvKind::kQu8}) {
    run_conv_oracle(mobilenet_case(32, 64, 28, 1, 1, 1, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(32, 32, 29, 3, 1, 32, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(64, 64, 30, 3, 2, 64, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(48, 48, 14, 5, 1, 48, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(16, 16, 15, 5, 2, 16, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(3, 16, 33, 3, 2, 1, kind, ++seed), stats);
    run_conv_oracle(mobilenet_case(24, 40, 20, 3, 1, 1, kind, ++seed), stats);
  }
  stats.check(/*expect_ties=*/false);
}

}  // namespace wq

#endif  // WQ_HAVE_XNNPACK
