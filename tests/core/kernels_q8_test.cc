// int8 / int4 kernels against their scalar references (bit-exact), and against
// onnxruntime-node oracle vectors (tests/data/q8_oracle/*.bin).
#include <doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/kernels/qgemm_4bit.h"
#include "core/kernels/qquantize.h"
#include "core/qparams.h"
#include "tests/core/conv_shapes.h"
#include "tests/core/xorshift_rng.h"

namespace wq {
namespace {

struct Rng : test::XorshiftRng {
  explicit Rng(uint64_t seed) : XorshiftRng(seed * 0x9E3779B97F4A7C15ull + 1) {}
};

// Sizes that catch tail bugs: 1..17, around 32 and 64, primes.
const std::vector<size_t> kSmall = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
const std::vector<size_t> kMid = {1, 4, 5, 31, 32, 33, 63, 64, 65, 37, 97};
const std::vector<size_t> kKs = {1, 2, 3, 5, 7, 8, 16, 17, 31, 32, 33, 63, 64, 65, 127, 131};

}  // namespace

// ---- scalar arithmetic ------------------------------------------------------

TEST_CASE("round_half_to_even matches the IEEE default rounding") {
  CHECK(round_half_to_even(0.5f) == 0.0f);
  CHECK(round_half_to_even(1.5f) == 2.0f);
  CHECK(round_half_to_even(2.5f) == 2.0f);
  CHECK(round_half_to_even(-0.5f) == 0.0f);
  CHECK(round_half_to_even(-1.5f) == -2.0f);
  CHECK(round_half_to_even(-2.5f) == -2.0f);
  CHECK(round_half_to_even(2.4999998f) == 2.0f);
  CHECK(round_half_to_even(8388607.5f) == 8388608.0f);
  CHECK(round_half_to_even(-8388607.5f) == -8388608.0f);
  CHECK(round_half_to_even(16777216.0f) == 16777216.0f);
  Rng rng(1);
  for (int i = 0; i < 100000; ++i) {
    const float x = rng.uniform(-600.0f, 600.0f);
    const float h = std::floor(x) + 0.5f;  // an exact tie near x
    REQUIRE(round_half_to_even(x) == std::nearbyint(x));
    REQUIRE(round_half_to_even(h) == std::nearbyint(h));
  }
}

TEST_CASE("quantize_value saturates, rounds ties to even and maps NaN to qmin") {
  CHECK(quantize_value(2.5f, 1.0f, 0, 0, 255) == 2);
  CHECK(quantize_value(3.5f, 1.0f, 0, 0, 255) == 4);
  CHECK(quantize_value(-2.5f, 1.0f, 10, 0, 255) == 8);
  CHECK(quantize_value(1e9f, 0.1f, 3, 0, 255) == 255);
  CHECK(quantize_value(-1e9f, 0.1f, 3, 0, 255) == 0);
  CHECK(quantize_value(1e9f, 0.1f, 0, -128, 127) == 127);
  CHECK(quantize_value(-INFINITY, 0.1f, 0, -128, 127) == -128);
  CHECK(quantize_value(NAN, 0.1f, 7, 0, 255) == 0);
  CHECK(requantize_fp32(std::numeric_limits<int32_t>::max(), 1.0f, 0, 0, 255) == 255);
  CHECK(requantize_fp32(std::numeric_limits<int32_t>::min(), 1.0f, 0, -128, 127) == -128);
  CHECK(requantize_fp32(5, 0.5f, 0, 0, 255) == 2);   // 2.5 -> 2
  CHECK(requantize_fp32(7, 0.5f, 0, 0, 255) == 4);   // 3.5 -> 4
  CHECK(requantize_fp32(-5, 0.5f, 0, -128, 127) == -2);
}

TEST_CASE("QuantParams validation names the tensor") {
  QuantParams p = QuantParams::per_tensor(DType::kUInt8, 0.0f, 0);
  Status s = p.validate("x_scale");
  CHECK(!s.ok());
  CHECK(s.message().find("x_scale") != std::string::npos);
  CHECK(!QuantParams::per_tensor(DType::kInt8, 0.1f, 128).validate("w").ok());
  CHECK(QuantParams::per_tensor(DType::kInt8, 0.1f, -128).validate("w").ok());
  CHECK(!QuantParams::per_channel(DType::kUInt8, {0.1f, 0.2f}, {1}, 0).validate("w").ok());
  CHECK(!QuantParams::per_tensor(DType::kFloat32, 0.1f, 0).validate("w").ok());
  CHECK(QuantParams::per_tensor(DType::kUInt4, 0.1f, 15).validate("w").ok());
  CHECK(!QuantParams::per_tensor(DType::kUInt4, 0.1f, 16).validate("w").ok());
}

TEST_CASE("fused_clip_range: Relu clamps at the zero point, Clip at quantized bounds") {
  QuantParams out = QuantParams::per_tensor(DType::kUInt8, 0.05f, 100);
  int32_t lo, hi;
  fused_clip_range(out, 0.0f, INFINITY, &lo, &hi);
  CHECK(lo == 100);
  CHECK(hi == 255);
  fused_clip_range(out, 0.0f, 6.0f, &lo, &hi);
  CHECK(lo == 100);
  CHECK(hi == 220);
  fused_clip_range(out, -100.0f, 100.0f, &lo, &hi);
  CHECK(lo == 0);
  CHECK(hi == 255);
}

// ---- element-wise -----------------------------------------------------------

TEST_CASE("quantize_row_qu8/qs8 equal the reference bit for bit") {
  Rng rng(2);
  const float scales[] = {0.0078125f, 0.1f, 0.0372549f, 3.0f, 1e-6f};
  const int32_t zps_u[] = {0, 1, 128, 254, 255};
  const int32_t zps_s[] = {-128, -1, 0, 1, 127};
  for (size_t n : {size_t(1), size_t(3), size_t(15), size_t(16), size_t(17), size_t(33), size_t(64), size_t(257)}) {
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) {
      switch (rng.next() % 6) {
        case 0: x[i] = float(rng.range(-300, 300)) + 0.5f; break;  // ties once divided by 1
        case 1: x[i] = rng.uniform(-1e4f, 1e4f); break;             // saturating
        case 2: x[i] = i % 2 ? NAN : INFINITY; break;
        default: x[i] = rng.uniform(-3.0f, 3.0f); break;
      }
    }
    for (float s : scales) {
      for (int z = 0; z < 5; ++z) {
        std::vector<uint8_t> a(n), b(n);
        quantize_row_qu8_ref(x.data(), n, s, zps_u[z], a.data());
        quantize_row_qu8(x.data(), n, s, zps_u[z], b.data());
        REQUIRE(a == b);
        std::vector<int8_t> c(n), d(n);
        quantize_row_qs8_ref(x.data(), n, s, zps_s[z], c.data());
        quantize_row_qs8(x.data(), n, s, zps_s[z], d.data());
        REQUIRE(c == d);
        // Ties: x = (q + 0.5) * s exactly representable when s is a power of 2.
      }
    }
    // Ties with a power-of-two scale are exact: check the values themselves.
    std::vector<float> t = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, -127.5f, -128.5f,
                            3.5f, 4.5f, 5.5f, 6.5f, 7.5f, 8.5f, 9.5f};
    std::vector<int8_t> q(t.size());
    quantize_row_qs8(t.data(), t.size(), 1.0f, 0, q.data());
    const std::vector<int8_t> want = {0, 2, 2, 0, -2, -2, 126, 127, -128, -128, 4, 4, 6, 6, 8, 8, 10};
    CHECK(q == want);
  }
}

TEST_CASE("dequantize and requantize rows equal the reference") {
  Rng rng(3);
  for (size_t n : {size_t(1), size_t(7), size_t(8), size_t(9), size_t(16), size_t(31), size_t(100)}) {
    std::vector<uint8_t> u(n);
    std::vector<int8_t> s(n);
    std::vector<int32_t> acc(n);
    for (size_t i = 0; i < n; ++i) {
      u[i] = uint8_t(rng.next());
      s[i] = int8_t(rng.next());
      const uint32_t r = rng.next();
      acc[i] = i % 7 == 0 ? (i % 2 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min())
                          : int32_t(r % 2000001) - 1000000;
    }
    std::vector<float> f0(n), f1(n);
    dequantize_row_qu8_ref(u.data(), n, 0.037f, 255, f0.data());
    dequantize_row_qu8(u.data(), n, 0.037f, 255, f1.data());
    REQUIRE(std::memcmp(f0.data(), f1.data(), n * 4) == 0);
    dequantize_row_qs8_ref(s.data(), n, 0.5f, -128, f0.data());
    dequantize_row_qs8(s.data(), n, 0.5f, -128, f1.data());
    REQUIRE(std::memcmp(f0.data(), f1.data(), n * 4) == 0);
    for (float sc : {0.0001f, 0.00123f, 1.0f / 3.0f}) {
      std::vector<uint8_t> y0(n), y1(n);
      requantize_row_qs32_ref(acc.data(), n, sc, 7, 7, 255, false, y0.data());
      requantize_row_qs32(acc.data(), n, sc, 7, 7, 255, false, y1.data());
      REQUIRE(y0 == y1);
      std::vector<int8_t> z0(n), z1(n);
      requantize_row_qs32_ref(acc.data(), n, sc, -128, -128, 127, true, z0.data());
      requantize_row_qs32(acc.data(), n, sc, -128, -128, 127, true, z1.data());
      REQUIRE(z0 == z1);
    }
    // 8-bit -> 8-bit: u8 (zp 255) to s8 (zp -3) with scale ratio 0.7.
    std::vector<int8_t> r(n);
    requantize_row_q8(u.data(), false, n, 255, 0.7f, -3, true, r.data());
    for (size_t i = 0; i < n; ++i) REQUIRE(r[i] == int8_t(requantize_fp32(int32_t(u[i]) - 255, 0.7f, -3, -128, 127)));
  }
}

TEST_CASE("DynamicQuantizeLinear parameters follow onnxruntime") {
  float scale;
  uint8_t zp;
  const float x[] = {0.0f, 2.0f, -1.0f, 0.5f};
  dynamic_quant_params_qu8(x, 4, &scale, &zp);
  CHECK(scale == 3.0f / 255.0f);
  CHECK(zp == 85);  // round(1 / (3/255)) = 85
  const float pos[] = {1.0f, 4.0f};  // range widened to include 0
  dynamic_quant_params_qu8(pos, 2, &scale, &zp);
  CHECK(scale == 4.0f / 255.0f);
  CHECK(zp == 0);
  const float neg[] = {-2.0f, -4.0f};
  dynamic_quant_params_qu8(neg, 2, &scale, &zp);
  CHECK(zp == 255);
  const float zeros[] = {0.0f, 0.0f};
  dynamic_quant_params_qu8(zeros, 2, &scale, &zp);
  CHECK(scale == 1.0f);  // onnxruntime's choice where ONNX divides by zero
  CHECK(zp == 0);
  std::vector<uint8_t> y(4);
  dynamic_quantize_linear_qu8(x, 4, y.data(), &scale, &zp);
  CHECK(y[0] == 85);
  CHECK(y[1] == 255);
  CHECK(y[2] == 0);
  CHECK(y[3] == quantize_value(0.5f, scale, 85, 0, 255));
}

TEST_CASE("quantize_linear per-axis and block-wise pick the right scale") {
  // x: [2, 3, 2], axis 1.
  std::vector<float> x(12);
  for (size_t i = 0; i < 12; ++i) x[i] = float(i);
  QuantParams p = QuantParams::per_channel(DType::kUInt8, {1.0f, 0.5f, 0.25f}, {0, 10, 20}, 1);
  std::vector<uint8_t> y(12);
  REQUIRE(quantize_linear(x.data(), {2, 3, 2}, p, y.data()).ok());
  for (size_t o = 0; o < 2; ++o)
    for (size_t d = 0; d < 3; ++d)
      for (size_t i = 0; i < 2; ++i) {
        const size_t k = (o * 3 + d) * 2 + i;
        CHECK(y[k] == quantize_value(x[k], p.scales[d], p.zero_points[d], 0, 255));
      }
  std::vector<float> back(12);
  REQUIRE(dequantize_linear(y.data(), {2, 3, 2}, p, back.data()).ok());
  for (size_t k = 0; k < 12; ++k) CHECK(back[k] == dequantize_value(y[k], p.scales[(k / 2) % 3], p.zero_points[(k / 2) % 3]));
  // Block-wise along axis 1 with block 2: scales shape [2, 2, 2].
  QuantParams b = QuantParams::per_channel(DType::kInt8, {1, 2, 3, 4, 5, 6, 7, 8}, {}, 1);
  b.block_size = 2;
  REQUIRE(quantize_linear(x.data(), {2, 3, 2}, b, y.data()).ok());
  for (size_t o = 0; o < 2; ++o)
    for (size_t d = 0; d < 3; ++d)
      for (size_t i = 0; i < 2; ++i) {
        const size_t k = (o * 3 + d) * 2 + i;
        const float s = b.scales[(o * 2 + d / 2) * 2 + i];
        CHECK(int8_t(y[k]) == quantize_value(x[k], s, 0, -128, 127));
      }
  // Wrong number of scales is an error naming the op.
  QuantParams bad = QuantParams::per_channel(DType::kUInt8, {1.0f, 2.0f}, {}, 1);
  Status s = quantize_linear(x.data(), {2, 3, 2}, bad, y.data());
  CHECK(!s.ok());
  CHECK(s.message().find("QuantizeLinear") != std::string::npos);
  bad.axis = 5;
  CHECK(!quantize_linear(x.data(), {2, 3, 2}, bad, y.data()).ok());
}

// ---- GEMM -------------------------------------------------------------------

namespace {

struct GemmCase {
  size_t m, n, k;
  bool a_signed, w_signed;
  int32_t a_zp;
  std::vector<int32_t> w_zp;  // 1 or n entries
  int force_format;           // -1, 0 (int8), 1 (int16)
  int32_t y_zp, qmin, qmax;
  bool y_signed;
  bool with_bias;
  uint64_t seed;
  bool saturate = false;  // extreme inputs
};

void run_gemm_case(const GemmCase& c) {
  CAPTURE(c.m);
  CAPTURE(c.n);
  CAPTURE(c.k);
  CAPTURE(c.a_signed);
  CAPTURE(c.w_signed);
  CAPTURE(c.a_zp);
  CAPTURE(c.force_format);
  Rng rng(c.seed);
  std::vector<uint8_t> a(c.m * c.k), w(c.k * c.n);
  for (auto& v : a) v = c.saturate ? (c.a_signed ? uint8_t(rng.next() % 2 ? 0x80 : 0x7F) : uint8_t(rng.next() % 2 ? 0 : 255))
                                   : uint8_t(rng.next());
  const bool zp_per_col = c.w_zp.size() > 1;
  for (size_t kk = 0; kk < c.k; ++kk) {
    for (size_t j = 0; j < c.n; ++j) {
      uint8_t v = uint8_t(rng.next());
      if (c.force_format == 0) {
        // Keep W - zp inside int8 so the int8 format is exact.
        const int32_t zw = c.w_zp[zp_per_col ? j : 0];
        int32_t lo = std::max(c.w_signed ? -128 : 0, zw - 128), hi = std::min(c.w_signed ? 127 : 255, zw + 127);
        const int32_t q = c.saturate ? (rng.next() % 2 ? lo : hi) : rng.range(lo, hi);
        v = uint8_t(q);
      }
      w[kk * c.n + j] = v;
    }
  }
  std::vector<int32_t> bias(c.n);
  for (auto& b : bias) b = rng.range(-100000, 100000);
  const int32_t* bias_p = c.with_bias ? bias.data() : nullptr;

  auto packed = qgemm_pack_w(w.data(), c.w_signed, c.k, c.n, c.n, 1, c.w_zp.data(), zp_per_col, bias_p, c.force_format);
  REQUIRE(packed.ok());
  if (c.force_format == 0) REQUIRE(packed->format() == QGemmWeightFormat::kInt8);
  if (c.force_format == 1) REQUIRE(packed->format() == QGemmWeightFormat::kInt16);

  std::vector<int32_t> acc(c.m * c.n);
  qs8_gemm_acc__scalar(c.m, c.n, c.k, a.data(), c.a_signed, c.k, c.a_zp, w.data(), c.w_signed, c.n, 1, c.w_zp.data(),
                       zp_per_col, bias_p, acc.data(), c.n);

  // int32 output (MatMulInteger) — bias is part of the packed panel.
  std::vector<int32_t> acc2(c.m * c.n, 12345);
  REQUIRE(qgemm_s32(*packed, a.data(), c.a_signed, c.m, c.k, c.a_zp, acc2.data(), c.n).ok());
  REQUIRE(acc == acc2);

  // Requantized 8-bit output.
  std::vector<float> scale(c.n);
  for (auto& s : scale) s = rng.uniform(0.00001f, 0.01f);
  QGemmRequantParams p;
  p.scale = scale.data();
  p.zero_point = c.y_zp;
  p.qmin = c.qmin;
  p.qmax = c.qmax;
  p.output_signed = c.y_signed;
  std::vector<uint8_t> y0(c.m * c.n), y1(c.m * c.n, 0xCD);
  qs8_gemm__scalar(c.m, c.n, acc.data(), c.n, p, y0.data(), c.n);
  REQUIRE(qgemm_requant(*packed, a.data(), c.a_signed, c.m, c.k, c.a_zp, p, y1.data(), c.n).ok());
  REQUIRE(y0 == y1);

  // Float output (dynamic quantization epilogue) over the same accumulators.
  std::vector<float> a_scale(c.m), fbias(c.n);
  for (auto& s : a_scale) s = rng.uniform(0.001f, 0.1f);
  for (auto& b : fbias) b = rng.uniform(-1.0f, 1.0f);
  QGemmF32Params fp{a_scale.data(), scale.data(), fbias.data()};
  std::vector<float> f0(c.m * c.n), f1(c.m * c.n);
  qd8_f32_gemm__scalar(c.m, c.n, acc.data(), c.n, fp, f0.data(), c.n);
  const size_t kc2 = qgemm_round_up2(c.k);
  std::vector<int16_t> a16(c.m * kc2 + 8);
  qgemm_pack_a_q8(a.data(), c.a_signed, c.m, c.k, c.k, c.a_zp, a16.data(), kc2);
  qgemm_f32_a16(*packed, a16.data(), kc2, c.m, fp, f1.data(), c.n);
  REQUIRE(std::memcmp(f0.data(), f1.data(), f0.size() * 4) == 0);
}

GemmCase make_case(size_t m, size_t n, size_t k, uint64_t i) {
  GemmCase c;
  c.m = m;
  c.n = n;
  c.k = k;
  c.seed = i * 7919 + m * 131 + n * 17 + k;
  c.a_signed = i % 2 == 1;
  c.w_signed = (i / 2) % 3 != 0;
  const int32_t a_zps_u[] = {0, 255, 128, 1};
  const int32_t a_zps_s[] = {-128, 127, 0, -1};
  c.a_zp = c.a_signed ? a_zps_s[i % 4] : a_zps_u[(i / 3) % 4];
  const int fmt[] = {-1, 0, 1};
  c.force_format = fmt[i % 3];
  const bool per_col = (i / 5) % 2 == 0;
  const int32_t w_zps_u[] = {0, 255, 128};
  const int32_t w_zps_s[] = {0, -128, 127};
  if (per_col) {
    c.w_zp.resize(n);
    for (size_t j = 0; j < n; ++j) c.w_zp[j] = c.w_signed ? w_zps_s[(i + j) % 3] : w_zps_u[(i + j) % 3];
  } else {
    c.w_zp = {c.w_signed ? w_zps_s[i % 3] : w_zps_u[i % 3]};
  }
  c.y_signed = (i / 7) % 2 == 0;
  if (c.y_signed) {
    const int32_t zps[] = {-128, 127, 0};
    c.y_zp = zps[i % 3];
    c.qmin = -128;
    c.qmax = 127;
  } else {
    const int32_t zps[] = {0, 255, 128};
    c.y_zp = zps[i % 3];
    c.qmin = i % 4 == 0 ? c.y_zp : 0;  // fused Relu sometimes
    c.qmax = 255;
  }
  c.with_bias = i % 4 != 1;
  c.saturate = i % 11 == 0;
  return c;
}

}  // namespace

TEST_CASE("qgemm: every kernel equals the scalar reference over small shapes") {
  uint64_t i = 0;
  for (size_t m : kSmall)
    for (size_t n : kSmall)
      for (size_t k : {size_t(1), size_t(2), size_t(3), size_t(8), size_t(17)}) run_gemm_case(make_case(m, n, k, i++));
}

TEST_CASE("qgemm: tails around 32 and 64, primes, every K") {
  uint64_t i = 1000;
  for (size_t m : kMid)
    for (size_t n : kMid)
      for (size_t k : kKs) {
        if (m * n * k > 400000) continue;
        run_gemm_case(make_case(m, n, k, i++));
      }
}

TEST_CASE("qgemm: GEMV and large K") {
  uint64_t i = 5000;
  for (size_t n : {size_t(1), size_t(7), size_t(8), size_t(64), size_t(257)}) run_gemm_case(make_case(1, n, 4096, i++));
  for (size_t n : {size_t(19), size_t(40)}) run_gemm_case(make_case(5, n, 4096, i++));
  run_gemm_case(make_case(3, 9, 4097, i++));
  // From 32 rows on, int8 panels are widened per N block: large K makes the blocks
  // two panels (16 columns) wide, so N = 43 spans three, the last ending in a partial panel.
  for (size_t m : {size_t(21), size_t(33)}) {
    for (int fmt : {0, 1}) {
      GemmCase c = make_case(m, 43, 4096, i++);
      c.force_format = fmt;
      run_gemm_case(c);
    }
  }
}

TEST_CASE("qgemm: saturating extremes in every format") {
  uint64_t i = 9000;
  for (int fmt : {0, 1}) {
    for (bool a_signed : {false, true}) {
      GemmCase c = make_case(6, 13, 300, i++);
      c.force_format = fmt;
      c.a_signed = a_signed;
      c.a_zp = a_signed ? -128 : 0;
      c.w_zp = {c.w_signed ? 0 : 128};
      c.saturate = true;
      run_gemm_case(c);
    }
  }
}

namespace {

// Lowers the Strassen-Winograd limits for one test and restores them after.
struct StrassenLimitsScope {
  QGemmStrassenLimits saved = qgemm_strassen_limits();
  explicit StrassenLimitsScope(QGemmStrassenLimits l) { qgemm_set_strassen_limits(l); }
  ~StrassenLimitsScope() { qgemm_set_strassen_limits(saved); }
};

}  // namespace

TEST_CASE("qgemm: the Strassen-Winograd path equals the scalar reference bit for bit") {
  const StrassenLimitsScope scope({2, 1, 16});
  // The sweep must reach the Strassen path (even rows, 16-column halves, kc2 % 4 == 0)
  // and its leftovers: an odd last row, columns past the last multiple of 16, and
  // K with kc2 % 4 == 2 (direct path).
  size_t strassen_cases = 0;
  uint64_t i = 20000;
  for (size_t m : {size_t(2), size_t(3), size_t(8), size_t(9), size_t(34), size_t(67)}) {
    for (size_t n : {size_t(16), size_t(17), size_t(32), size_t(47), size_t(96)}) {
      for (size_t k : {size_t(3), size_t(4), size_t(6), size_t(15), size_t(64), size_t(301)}) {
        GemmCase c = make_case(m, n, k, i++);
        auto probe = qgemm_pack_w(std::vector<int8_t>(k * n).data(), true, k, n, n, 1, nullptr, false, nullptr);
        REQUIRE(probe.ok());
        size_t ms = 0, ns = 0;
        if (qgemm_strassen_extent(*probe, m, &ms, &ns)) ++strassen_cases;
        run_gemm_case(c);
      }
    }
  }
  CHECK(strassen_cases >= 80);
  // Operand sums at their extremes: A - zp = +-255 and W - zp = +-255 (int16
  // weights) or -128/127 (int8 weights), so S4 and T4 reach +-1020.
  for (int fmt : {0, 1}) {
    for (bool a_signed : {false, true}) {
      GemmCase c = make_case(40, 48, 200, i++);
      c.force_format = fmt;
      c.a_signed = a_signed;
      c.a_zp = a_signed ? -128 : 0;
      c.w_signed = fmt == 0;
      c.w_zp = {fmt == 0 ? 0 : 128};
      c.saturate = true;
      run_gemm_case(c);
    }
  }
}

TEST_CASE("qgemm: Strassen-Winograd with per-row scales (convolution form) and at the default limits") {
  Rng rng(4242);
  const size_t m = 130, k = 264, n = 272;  // 65 row pairs, kc2 % 4 == 0, 17 panels of 16
  std::vector<uint8_t> a(m * k);
  std::vector<int8_t> w(k * n);
  for (auto& v : a) v = uint8_t(rng.next());
  for (auto& v : w) v = int8_t(rng.range(-128, 127));
  std::vector<int32_t> bias(n), row_bias(m);
  for (auto& b : bias) b = rng.range(-50000, 50000);
  for (auto& b : row_bias) b = rng.range(-50000, 50000);
  auto packed = qgemm_pack_w(w.data(), true, k, n, n, 1, nullptr, false, bias.data());
  REQUIRE(packed.ok());
  size_t ms = 0, ns = 0;
  REQUIRE(qgemm_strassen_extent(*packed, m, &ms, &ns));  // the default limits take this shape
  CHECK(ms == m);
  CHECK(ns == n);
  std::vector<int32_t> acc(m * n);
  qs8_gemm_acc__scalar(m, n, k, a.data(), false, k, 117, w.data(), true, n, 1, nullptr, false, bias.data(), acc.data(),
                       n);
  const size_t kc2 = qgemm_round_up2(k);
  std::vector<int16_t> a16(m * kc2 + 8);
  qgemm_pack_a_q8(a.data(), false, m, k, k, 117, a16.data(), kc2);
  std::vector<float> scale(m);
  for (auto& s : scale) s = rng.uniform(0.00001f, 0.001f);
  QGemmRequantParams p;
  p.scale = scale.data();
  p.scale_per_row = true;
  p.row_bias = row_bias.data();
  p.zero_point = 3;
  p.qmin = -128;
  p.qmax = 127;
  p.output_signed = true;
  std::vector<int8_t> want(m * n), got(m * n);
  qs8_gemm__scalar(m, n, acc.data(), n, p, want.data(), n);
  qgemm_requant_a16(*packed, a16.data(), kc2, m, p, got.data(), n);
  CHECK(want == got);
  std::vector<int32_t> got32(m * n);
  qgemm_s32_a16(*packed, a16.data(), kc2, m, got32.data(), n);
  CHECK(acc == got32);
}

TEST_CASE("qgemm_pack_w rejects bad shapes and impossible int8 packing") {
  const uint8_t w[4] = {0, 255, 3, 4};
  const int32_t zp = 0;
  CHECK(!qgemm_pack_w(w, false, 0, 2, 2, 1, &zp, false, nullptr).ok());
  auto r = qgemm_pack_w(w, false, 2, 2, 2, 1, &zp, false, nullptr, 0);  // 255 - 0 does not fit int8
  CHECK(!r.ok());
  auto ok = qgemm_pack_w(w, false, 2, 2, 2, 1, &zp, false, nullptr);
  REQUIRE(ok.ok());
  CHECK(ok->format() == QGemmWeightFormat::kInt16);
}

TEST_CASE("qgemm_dynamic_f32 equals reference quantize + integer GEMM + scale") {
  Rng rng(77);
  for (size_t m : {size_t(1), size_t(3), size_t(9)}) {
    for (bool per_row : {true, false}) {
      const size_t k = 37, n = 21;
      std::vector<float> a(m * k);
      for (auto& v : a) v = rng.uniform(-2.0f, 3.0f);
      std::vector<int8_t> w(k * n);
      for (auto& v : w) v = int8_t(rng.range(-127, 127));
      std::vector<float> ws(n), bias(n);
      for (auto& s : ws) s = rng.uniform(0.001f, 0.01f);
      for (auto& b : bias) b = rng.uniform(-1, 1);
      const int32_t zp0 = 0;
      auto packed = qgemm_pack_w(w.data(), true, k, n, n, 1, &zp0, false, nullptr);
      REQUIRE(packed.ok());
      std::vector<float> y(m * n);
      REQUIRE(qgemm_dynamic_f32(*packed, a.data(), m, k, per_row, ws.data(), bias.data(), y.data(), n).ok());
      // Reference: quantize each row (or the tensor) with DynamicQuantizeLinear
      // semantics, integer GEMM, then the float epilogue.
      std::vector<uint8_t> aq(m * k);
      std::vector<float> a_scale(m);
      std::vector<int32_t> a_zp(m);
      float ts;
      uint8_t tz;
      dynamic_quant_params_qu8(a.data(), m * k, &ts, &tz);
      for (size_t i = 0; i < m; ++i) {
        float s = ts;
        uint8_t z = tz;
        if (per_row) dynamic_quant_params_qu8(a.data() + i * k, k, &s, &z);
        quantize_row_qu8_ref(a.data() + i * k, k, s, z, aq.data() + i * k);
        a_scale[i] = s;
        a_zp[i] = z;
      }
      std::vector<int32_t> acc(m * n);
      for (size_t i = 0; i < m; ++i)
        qs8_gemm_acc__scalar(1, n, k, aq.data() + i * k, false, k, a_zp[i], w.data(), true, n, 1, &zp0, false, nullptr,
                             acc.data() + i * n, n);
      std::vector<float> want(m * n);
      QGemmF32Params fp{a_scale.data(), ws.data(), bias.data()};
      qd8_f32_gemm__scalar(m, n, acc.data(), n, fp, want.data(), n);
      REQUIRE(std::memcmp(want.data(), y.data(), y.size() * 4) == 0);
    }
  }
}

// ---- convolution --------------------------------------------------------------

namespace {

struct ConvCase {
  QConvShape s;
  bool x_signed, w_signed, per_channel;
  int32_t x_zp;
  uint64_t seed;
};

void run_conv_case(const ConvCase& c) {
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
  CAPTURE(s.pad_top);
  CAPTURE(s.pad_left);
  CAPTURE(s.groups);
  CAPTURE(c.x_zp);
  Rng rng(c.seed);
  const size_t cin_g = s.c_in / s.groups;
  std::vector<uint8_t> x(s.n * s.c_in * s.h * s.w), w(s.c_out * cin_g * s.kh * s.kw);
  for (auto& v : x) v = uint8_t(rng.next());
  for (auto& v : w) v = uint8_t(rng.next());
  std::vector<int32_t> zp(c.per_channel ? s.c_out : 1);
  for (auto& z : zp) z = c.w_signed ? (rng.next() % 3 == 0 ? -128 : 0) : (rng.next() % 2 ? 128 : 255);
  std::vector<int32_t> bias(s.c_out);
  for (auto& b : bias) b = rng.range(-20000, 20000);
  auto conv = QConv::create(s, w.data(), c.w_signed, zp.data(), c.per_channel, bias.data());
  REQUIRE(conv.ok());
  const size_t oh = conv->out_h(), ow = conv->out_w();
  REQUIRE(oh == qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom));
  std::vector<int32_t> acc(s.n * s.c_out * oh * ow);
  qs8_conv_acc__scalar(s, x.data(), c.x_signed, c.x_zp, w.data(), c.w_signed, zp.data(), c.per_channel, bias.data(),
                       acc.data());
  std::vector<float> scale(s.c_out);
  for (auto& v : scale) v = rng.uniform(0.0001f, 0.004f);
  QGemmRequantParams p;
  p.scale = scale.data();
  p.output_signed = c.seed % 2 == 0;
  p.zero_point = p.output_signed ? -5 : 133;
  p.qmin = p.output_signed ? -128 : 0;
  p.qmax = p.output_signed ? 127 : 255;
  std::vector<uint8_t> want(acc.size()), got(acc.size(), 0xEE);
  const size_t planes = s.n * s.c_out, pix = oh * ow;
  for (size_t pl = 0; pl < planes; ++pl) {
    QGemmRequantParams pc = p;
    std::vector<float> sc(pix, scale[pl % s.c_out]);
    pc.scale = sc.data();
    qs8_gemm__scalar(1, pix, acc.data() + pl * pix, pix, pc, want.data() + pl * pix, pix);
  }
  REQUIRE(conv->run(x.data(), c.x_signed, c.x_zp, p, got.data()).ok());
  REQUIRE(want == got);
  // ConvInteger (no bias): a conv built without bias must equal acc - bias.
  auto conv0 = QConv::create(s, w.data(), c.w_signed, zp.data(), c.per_channel, nullptr);
  REQUIRE(conv0.ok());
  std::vector<int32_t> raw(acc.size());
  REQUIRE(conv0->run_s32(x.data(), c.x_signed, c.x_zp, raw.data()).ok());
  for (size_t i = 0; i < acc.size(); ++i) REQUIRE(uint32_t(raw[i]) == uint32_t(acc[i]) - uint32_t(bias[(i / pix) % s.c_out]));
}

}  // namespace

TEST_CASE("qconv: GEMM and depthwise paths equal the reference convolution") {
  uint64_t seed = 1;
  Rng pick(99);
  for (int t = 0; t < 260; ++t) {
    ConvCase c;
    if (!test::random_conv_shape(pick, t, 0, &c.s)) continue;
    c.x_signed = t % 2 == 1;
    c.w_signed = t % 3 != 2;
    c.per_channel = t % 2 == 0;
    const int32_t zps_u[] = {0, 255, 128, 17};
    const int32_t zps_s[] = {-128, 127, 0, -3};
    c.x_zp = c.x_signed ? zps_s[t % 4] : zps_u[(t / 2) % 4];
    c.seed = seed++;
    run_conv_case(c);
  }
}

namespace {

// A k x k convolution with k / 2 padding on every side.
ConvCase square_conv(size_t cin, size_t cout, size_t h, size_t w, size_t k, size_t stride, size_t groups,
                     uint64_t seed) {
  ConvCase c;
  c.s.c_in = cin;
  c.s.c_out = cout;
  c.s.h = h;
  c.s.w = w;
  c.s.kh = c.s.kw = k;
  c.s.stride_h = c.s.stride_w = stride;
  c.s.pad_top = c.s.pad_left = c.s.pad_bottom = c.s.pad_right = k / 2;
  c.s.groups = groups;
  c.seed = seed;
  return c;
}

}  // namespace

TEST_CASE("qconv: MobileNet-like shapes (1x1, 3x3 depthwise s1/s2, 5x5 depthwise)") {
  uint64_t seed = 500;
  auto mk = [&](size_t cin, size_t cout, size_t hw, size_t k, size_t stride, size_t groups) {
    ConvCase c = square_conv(cin, cout, hw, hw, k, stride, groups, seed++);
    c.x_signed = false;
    c.w_signed = true;
    c.per_channel = true;
    c.x_zp = 3;
    return c;
  };
  run_conv_case(mk(16, 24, 28, 1, 1, 1));
  run_conv_case(mk(8, 8, 29, 3, 1, 8));
  run_conv_case(mk(8, 8, 30, 3, 2, 8));
  run_conv_case(mk(8, 8, 15, 5, 1, 8));
  run_conv_case(mk(8, 8, 16, 5, 2, 8));
  run_conv_case(mk(3, 16, 33, 3, 2, 1));
}

TEST_CASE("qconv: the Strassen-Winograd path (through the GEMM drivers) equals the reference convolution") {
  auto mk = [](size_t cin, size_t cout, size_t h, size_t w, size_t k, size_t stride, size_t groups, uint64_t seed) {
    ConvCase c = square_conv(cin, cout, h, w, k, stride, groups, seed);
    c.x_signed = seed % 2 == 1;
    c.w_signed = seed % 3 != 2;
    c.per_channel = seed % 2 == 0;
    c.x_zp = c.x_signed ? -7 : 201;
    return c;
  };
  auto takes_strassen = [](const ConvCase& c) {
    const size_t cin_g = c.s.c_in / c.s.groups, cout_g = c.s.c_out / c.s.groups;
    const size_t oh = qconv_out_dim(c.s.h, c.s.kh, c.s.stride_h, 1, c.s.pad_top, c.s.pad_bottom);
    const size_t ow = qconv_out_dim(c.s.w, c.s.kw, c.s.stride_w, 1, c.s.pad_left, c.s.pad_right);
    size_t ms = 0, ns = 0;
    return qgemm_strassen_extent(cout_g, cin_g * c.s.kh * c.s.kw, oh * ow, &ms, &ns);
  };
  {
    // At the default limits: a 1x1 layer (K = 256) and a 3x3 layer (K = 288).
    for (const ConvCase& c : {mk(256, 64, 14, 14, 1, 1, 1, 1), mk(32, 48, 20, 19, 3, 1, 1, 2)}) {
      REQUIRE(takes_strassen(c));
      run_conv_case(c);
    }
  }
  // Lowered limits: odd channel counts (a direct last row), pixel counts that
  // leave columns past the last multiple of 16, both kc2 % 4 cases, groups,
  // strides and two images.
  const StrassenLimitsScope scope({2, 1, 16});
  int taken = 0;
  uint64_t seed = 100;
  for (size_t cin : {size_t(2), size_t(3), size_t(8)})
    for (size_t cout : {size_t(2), size_t(7), size_t(12)})
      for (size_t k : {size_t(1), size_t(3)})
        for (size_t stride : {size_t(1), size_t(2)}) {
          ConvCase c = mk(cin * 2, cout * 2, 9 + seed % 5, 11 + seed % 7, k, stride, seed % 3 == 0 ? 2 : 1, seed);
          c.s.n = seed % 4 == 0 ? 2 : 1;
          ++seed;
          taken += takes_strassen(c);
          run_conv_case(c);
        }
  CHECK(taken >= 20);
}

TEST_CASE("QConv::create rejects inconsistent shapes") {
  const int8_t w[8] = {0};
  const int32_t zp = 0;
  QConvShape s;
  s.c_in = 3;
  s.c_out = 4;
  s.h = s.w = 4;
  s.kh = s.kw = 1;
  s.groups = 2;  // does not divide c_in
  CHECK(!QConv::create(s, w, true, &zp, false, nullptr).ok());
  s.groups = 1;
  s.kh = s.kw = 7;  // window larger than the input
  CHECK(!QConv::create(s, w, true, &zp, false, nullptr).ok());
  s.kh = s.kw = 1;
  s.stride_h = 0;
  CHECK(!QConv::create(s, w, true, &zp, false, nullptr).ok());
}

// ---- int4 block-wise ----------------------------------------------------------------

namespace {

void run_qb4_case(size_t m, size_t k, size_t n, size_t block, bool w_signed, bool with_zp, uint64_t seed) {
  CAPTURE(m);
  CAPTURE(k);
  CAPTURE(n);
  CAPTURE(block);
  CAPTURE(w_signed);
  CAPTURE(with_zp);
  Rng rng(seed);
  const size_t blocks = (k + block - 1) / block;
  std::vector<uint8_t> w4(n * blocks * block / 2);
  for (auto& v : w4) v = uint8_t(rng.next());
  std::vector<float> scales(n * blocks);
  for (auto& s : scales) s = rng.uniform(0.001f, 0.05f);
  std::vector<uint8_t> zps(n * ((blocks + 1) / 2));
  for (auto& z : zps) z = uint8_t(rng.next());
  const uint8_t* zp = with_zp ? zps.data() : nullptr;
  std::vector<float> a(m * k), bias(n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = i % 29 == 0 ? 0.0f : rng.uniform(-4.0f, 4.0f);
  if (m > 1) std::fill(a.begin(), a.begin() + std::min(k, block), 0.0f);  // an all-zero block (scale 1 path)
  for (auto& b : bias) b = rng.uniform(-1.0f, 1.0f);
  auto packed = qb4_pack_w(w4.data(), w_signed, k, n, block, scales.data(), zp);
  REQUIRE(packed.ok());
  std::vector<float> want(m * n), got(m * n, -1.0f);
  qb4_gemm_qd8__scalar(w4.data(), w_signed, k, n, block, scales.data(), zp, a.data(), m, k, bias.data(), want.data(), n);
  REQUIRE(qb4_gemm_dynamic_f32(*packed, a.data(), m, k, bias.data(), got.data(), n).ok());
  REQUIRE(std::memcmp(want.data(), got.data(), want.size() * 4) == 0);
  qb4_gemm_f32__scalar(w4.data(), w_signed, k, n, block, scales.data(), zp, a.data(), m, k, bias.data(), want.data(), n);
  REQUIRE(qb4_gemm_f32(*packed, a.data(), m, k, bias.data(), got.data(), n).ok());
  REQUIRE(std::memcmp(want.data(), got.data(), want.size() * 4) == 0);
  // Named error bound for the float path against exact (double) dequantize-and-multiply:
  // |err| <= 1e-5 * sum |a * w| + 1e-6 (fp32 accumulation over at most a few thousand terms).
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double exact = bias[j], mag = std::fabs(bias[j]);
      for (size_t kk = 0; kk < k; ++kk) {
        const double wv = double(scales[j * blocks + kk / block]) *
                          qb4_source_value(w4.data(), w_signed, k, block, zp, j, kk);
        exact += double(a[i * k + kk]) * wv;
        mag += std::fabs(double(a[i * k + kk]) * wv);
      }
      REQUIRE(std::fabs(double(got[i * n + j]) - exact) <= 1e-5 * mag + 1e-6);
    }
}

}  // namespace

TEST_CASE("qb4: int4 block-wise GEMV/GEMM equal their references") {
  uint64_t seed = 1;
  for (size_t block : {size_t(32), size_t(64), size_t(128)})
    for (size_t k : {size_t(32), size_t(64), size_t(100), size_t(256), size_t(257)})
      for (size_t n : {size_t(1), size_t(3), size_t(4), size_t(5), size_t(8), size_t(17)}) {
        const bool w_signed = seed % 3 == 0;
        run_qb4_case(seed % 4 == 0 ? 3 : 1, k, n, block, w_signed, !w_signed && seed % 2 == 0, seed);
        ++seed;
      }
  run_qb4_case(1, 4096, 33, 32, false, true, 999);
  run_qb4_case(2, 4096, 9, 128, true, false, 1000);
}

TEST_CASE("qb4_pack_w rejects unsupported blocks and inconsistent inputs") {
  std::vector<uint8_t> w4(64);
  std::vector<float> sc(4, 0.1f);
  const uint8_t zp[4] = {0x88, 0x88, 0x88, 0x88};
  CHECK(!qb4_pack_w(w4.data(), false, 32, 1, 16, sc.data(), nullptr).ok());  // block 16
  CHECK(!qb4_pack_w(w4.data(), false, 32, 1, 48, sc.data(), nullptr).ok());  // not a multiple of 32
  CHECK(!qb4_pack_w(w4.data(), true, 32, 1, 32, sc.data(), zp).ok());         // int4 with zero points
  CHECK(!qb4_pack_w(w4.data(), false, 0, 1, 32, sc.data(), nullptr).ok());
  sc[0] = NAN;
  CHECK(!qb4_pack_w(w4.data(), false, 32, 1, 32, sc.data(), nullptr).ok());
}

// ---- onnxruntime oracle vectors (tests/data/q8_oracle, made by generate.mjs) ---------

namespace {

struct OracleTensor {
  int dtype = 0;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
  size_t numel() const {
    size_t n = 1;
    for (int64_t d : dims) n *= size_t(d);
    return n;
  }
  template <typename T>
  T scalar() const {
    T v;
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
  }
};

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "."
#endif

std::map<std::string, OracleTensor> load_oracle(const std::string& name) {
  std::map<std::string, OracleTensor> out;
  const std::string path = std::string(WQ_SOURCE_DIR) + "/tests/data/q8_oracle/" + name;
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing oracle file " << path);
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t o = 0;
  auto need = [&](size_t n) { REQUIRE_MESSAGE(o + n <= buf.size(), "truncated oracle file " << path); };
  auto u8 = [&]() { need(1); return buf[o++]; };
  auto u32 = [&]() { need(4); uint32_t v; std::memcpy(&v, &buf[o], 4); o += 4; return v; };
  need(4);
  REQUIRE(std::memcmp(buf.data(), "WQO1", 4) == 0);
  o = 4;
  const uint32_t count = u32();
  for (uint32_t i = 0; i < count; ++i) {
    const size_t len = u8();
    need(len);
    std::string tname(reinterpret_cast<const char*>(&buf[o]), len);
    o += len;
    OracleTensor t;
    t.dtype = u8();
    const size_t rank = u8();
    for (size_t r = 0; r < rank; ++r) {
      need(8);
      int64_t d;
      std::memcpy(&d, &buf[o], 8);
      o += 8;
      t.dims.push_back(d);
    }
    const uint32_t nbytes = u32();
    need(nbytes);
    t.bytes.assign(buf.begin() + long(o), buf.begin() + long(o + nbytes));
    o += nbytes;
    out[tname] = std::move(t);
  }
  return out;
}

constexpr int kOnnxInt8 = 3;  // ONNX TensorProto data type (uint8 is 2)

int32_t q8_scalar(const OracleTensor& t) {
  return t.dtype == kOnnxInt8 ? int32_t(t.scalar<int8_t>()) : int32_t(t.scalar<uint8_t>());
}

std::vector<int64_t> attr_or(const std::map<std::string, OracleTensor>& o, const std::string& name,
                             std::vector<int64_t> fallback) {
  auto it = o.find("attr." + name);
  if (it == o.end()) return fallback;
  return std::vector<int64_t>(it->second.as<int64_t>(), it->second.as<int64_t>() + it->second.numel());
}

}  // namespace

TEST_CASE("oracle: QuantizeLinear matches onnxruntime (ties, saturation, NaN, per-axis)") {
  for (const char* file : {"quantize_u8.bin", "quantize_s8.bin"}) {
    CAPTURE(file);
    auto o = load_oracle(file);
    const OracleTensor& x = o.at("in.x");
    const float s = o.at("in.s").scalar<float>();
    const int32_t z = q8_scalar(o.at("in.z"));
    std::vector<uint8_t> y(x.numel());
    if (o.at("in.z").dtype == kOnnxInt8) {
      quantize_row_qs8(x.as<float>(), x.numel(), s, z, reinterpret_cast<int8_t*>(y.data()));
    } else {
      quantize_row_qu8(x.as<float>(), x.numel(), s, z, y.data());
    }
    const OracleTensor& want = o.at("out.y");
    for (size_t i = 0; i < y.size(); ++i) {
      CAPTURE(i);
      CAPTURE(x.as<float>()[i]);
      REQUIRE(int(y[i]) == int(want.bytes[i]));
    }
  }
  auto o = load_oracle("quantize_axis.bin");
  const OracleTensor& s = o.at("in.s");
  const OracleTensor& z = o.at("in.z");
  QuantParams p = QuantParams::per_channel(DType::kUInt8, std::vector<float>(s.as<float>(), s.as<float>() + 3),
                                           {z.as<uint8_t>()[0], z.as<uint8_t>()[1], z.as<uint8_t>()[2]},
                                           int(attr_or(o, "axis", {1})[0]));
  std::vector<uint8_t> y(30);
  REQUIRE(quantize_linear(o.at("in.x").as<float>(), {2, 3, 5}, p, y.data()).ok());
  CHECK(y == o.at("out.y").bytes);
}

TEST_CASE("oracle: DynamicQuantizeLinear matches onnxruntime (scale bits, zero point, data)") {
  for (const char* file : {"dql_mixed.bin", "dql_positive.bin", "dql_zero.bin"}) {
    CAPTURE(file);
    auto o = load_oracle(file);
    const OracleTensor& x = o.at("in.x");
    std::vector<uint8_t> y(x.numel());
    float scale;
    uint8_t zp;
    dynamic_quantize_linear_qu8(x.as<float>(), x.numel(), y.data(), &scale, &zp);
    const float want_scale = o.at("out.y_scale").scalar<float>();
    CHECK(std::memcmp(&scale, &want_scale, 4) == 0);
    CHECK(int(zp) == int(o.at("out.y_zero_point").scalar<uint8_t>()));
    CHECK(y == o.at("out.y").bytes);
  }
}

TEST_CASE("oracle: MatMulInteger matches onnxruntime") {
  auto o = load_oracle("matmulinteger.bin");
  const OracleTensor &a = o.at("in.a"), &b = o.at("in.b"), &bz = o.at("in.bz");
  const size_t m = size_t(a.dims[0]), k = size_t(a.dims[1]), n = size_t(b.dims[1]);
  std::vector<int32_t> zps(n);
  for (size_t j = 0; j < n; ++j) zps[j] = bz.as<int8_t>()[j];
  for (int fmt : {-1, 1}) {
    auto packed = qgemm_pack_w(b.as<int8_t>(), true, k, n, n, 1, zps.data(), true, nullptr, fmt);
    REQUIRE(packed.ok());
    std::vector<int32_t> y(m * n);
    REQUIRE(qgemm_s32(*packed, a.as<uint8_t>(), false, m, k, q8_scalar(o.at("in.az")), y.data(), n).ok());
    const OracleTensor& want = o.at("out.y");
    REQUIRE(std::memcmp(y.data(), want.bytes.data(), want.bytes.size()) == 0);
  }
}

TEST_CASE("oracle: QLinearMatMul matches onnxruntime (u8s8, u8u8, s8s8)") {
  for (const char* file : {"qlinearmatmul_u8s8.bin", "qlinearmatmul_u8u8.bin", "qlinearmatmul_s8s8.bin"}) {
    CAPTURE(file);
    auto o = load_oracle(file);
    const OracleTensor &a = o.at("in.a"), &b = o.at("in.b");
    const size_t m = size_t(a.dims[0]), k = size_t(a.dims[1]), n = size_t(b.dims[1]);
    const bool a_signed = a.dtype == kOnnxInt8, b_signed = b.dtype == kOnnxInt8;
    const bool y_signed = o.at("in.yz").dtype == kOnnxInt8;
    const int32_t bz = q8_scalar(o.at("in.bz"));
    const float scale = requant_scale(o.at("in.as").scalar<float>(), o.at("in.bs").scalar<float>(),
                                      o.at("in.ys").scalar<float>());
    std::vector<float> scales(n, scale);
    QGemmRequantParams p;
    p.scale = scales.data();
    p.zero_point = q8_scalar(o.at("in.yz"));
    p.qmin = y_signed ? -128 : 0;
    p.qmax = y_signed ? 127 : 255;
    p.output_signed = y_signed;
    for (int fmt : {-1, 1}) {
      auto packed = qgemm_pack_w(b.bytes.data(), b_signed, k, n, n, 1, &bz, false, nullptr, fmt);
      REQUIRE(packed.ok());
      std::vector<uint8_t> y(m * n);
      REQUIRE(qgemm_requant(*packed, a.bytes.data(), a_signed, m, k, q8_scalar(o.at("in.az")), p, y.data(), n).ok());
      CHECK(y == o.at("out.y").bytes);
    }
  }
}

TEST_CASE("oracle: QLinearConv matches onnxruntime (dense, strided, dilated, depthwise, grouped)") {
  for (const char* file : {"qlinearconv_dense.bin", "qlinearconv_strided.bin", "qlinearconv_depthwise.bin",
                           "qlinearconv_dw_s2.bin", "qlinearconv_grouped_u8w.bin"}) {
    CAPTURE(file);
    auto o = load_oracle(file);
    const OracleTensor &x = o.at("in.x"), &w = o.at("in.w"), &ws = o.at("in.ws");
    QConvShape s;
    s.n = size_t(x.dims[0]);
    s.c_in = size_t(x.dims[1]);
    s.h = size_t(x.dims[2]);
    s.w = size_t(x.dims[3]);
    s.c_out = size_t(w.dims[0]);
    s.kh = size_t(w.dims[2]);
    s.kw = size_t(w.dims[3]);
    const auto pads = attr_or(o, "pads", {0, 0, 0, 0});
    const auto strides = attr_or(o, "strides", {1, 1});
    const auto dil = attr_or(o, "dilations", {1, 1});
    s.pad_top = size_t(pads[0]);
    s.pad_left = size_t(pads[1]);
    s.pad_bottom = size_t(pads[2]);
    s.pad_right = size_t(pads[3]);
    s.stride_h = size_t(strides[0]);
    s.stride_w = size_t(strides[1]);
    s.dilation_h = size_t(dil[0]);
    s.dilation_w = size_t(dil[1]);
    s.groups = size_t(attr_or(o, "group", {1})[0]);
    const int32_t wz = q8_scalar(o.at("in.wz"));
    auto conv = QConv::create(s, w.bytes.data(), w.dtype == kOnnxInt8, &wz, false, o.at("in.b").as<int32_t>());
    REQUIRE(conv.ok());
    std::vector<float> scales(s.c_out);
    const float xs = o.at("in.xs").scalar<float>(), ys = o.at("in.ys").scalar<float>();
    for (size_t c = 0; c < s.c_out; ++c) scales[c] = requant_scale(xs, ws.numel() == 1 ? ws.as<float>()[0] : ws.as<float>()[c], ys);
    QGemmRequantParams p;
    p.scale = scales.data();
    p.zero_point = q8_scalar(o.at("in.yz"));
    std::vector<uint8_t> y(o.at("out.y").bytes.size());
    REQUIRE(conv->run(x.bytes.data(), false, q8_scalar(o.at("in.xz")), p, y.data()).ok());
    CHECK(y == o.at("out.y").bytes);
  }
}

}  // namespace wq

