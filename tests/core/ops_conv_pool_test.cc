// Conv, ConvTranspose and pooling: padding modes, strides, dilations, groups,
// ceil_mode, MaxPool indices, and a sweep against a direct convolution.
#include <doctest.h>

#include <cmath>
#include <limits>

#include "tests/core/op_test_util.h"

using namespace wq;
using namespace wq::testing;

namespace {

std::vector<float> iota_floats(size_t n, float start = 0, float step = 1) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * float(i);
  return v;
}

// Deterministic pseudo-random values in [-1, 1).
std::vector<float> lcg_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = float(seed >> 8) / float(1 << 24) * 2.0f - 1.0f;
  }
  return v;
}

void check_close(const Tensor& got, const std::vector<float>& want, float tol = 1e-5f) {
  REQUIRE(got.dtype() == DType::kFloat32);
  REQUIRE(static_cast<size_t>(got.numel()) == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(got.data<float>()[i] == doctest::Approx(want[i]).epsilon(tol).scale(1.0));
  }
}

}  // namespace

TEST_CASE("Conv 2-D: valid window and explicit pads with stride") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto x = Tensor::from_floats({1, 1, 3, 3}, iota_floats(9));
  auto y = OpTest("Conv", 11, reg).input(x).const_input(Tensor::from_floats({1, 1, 2, 2}, {1, 1, 1, 1})).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{1, 1, 2, 2});
  check_close(*y, {8, 12, 20, 24});

  auto p = OpTest("Conv", 11, reg)
               .attr_ints("pads", {1, 1, 1, 1})
               .attr_ints("strides", {2, 2})
               .input(x)
               .const_input(Tensor::from_floats({1, 1, 3, 3}, std::vector<float>(9, 1)))
               .run1();
  WQ_REQUIRE_OK(p);
  CHECK(p->shape() == Shape{1, 1, 2, 2});
  check_close(*p, {8, 12, 20, 24});
}

TEST_CASE("Conv auto_pad SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto x = Tensor::from_floats({1, 1, 5}, {1, 2, 3, 4, 5});
  auto w = Tensor::from_floats({1, 1, 2}, {1, 1});
  auto up = OpTest("Conv", 11, reg).attr("auto_pad", "SAME_UPPER").attr_ints("strides", {2}).input(x).input(w).run1();
  WQ_REQUIRE_OK(up);
  CHECK(up->shape() == Shape{1, 1, 3});
  check_close(*up, {3, 7, 5});
  auto lo = OpTest("Conv", 11, reg).attr("auto_pad", "SAME_LOWER").attr_ints("strides", {2}).input(x).input(w).run1();
  WQ_REQUIRE_OK(lo);
  check_close(*lo, {1, 5, 9});
  auto valid = OpTest("Conv", 11, reg).attr("auto_pad", "VALID").attr_ints("strides", {2}).input(x).input(w).run1();
  WQ_REQUIRE_OK(valid);
  check_close(*valid, {3, 7});
  CHECK(OpTest("Conv", 11, reg).attr("auto_pad", "SAME").input(x).input(w).build().code() == StatusCode::kInvalidModel);
}

TEST_CASE("Conv dilations, groups with bias, 3-D") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto d = OpTest("Conv", 11, reg)
               .attr_ints("dilations", {2})
               .input(Tensor::from_floats({1, 1, 5}, {1, 2, 3, 4, 5}))
               .input(Tensor::from_floats({1, 1, 2}, {1, 1}))
               .run1();
  WQ_REQUIRE_OK(d);
  check_close(*d, {4, 6, 8});

  // Depthwise: each channel has its own filter, then bias.
  auto g = OpTest("Conv", 11, reg)
               .attr("group", 2)
               .input(Tensor::from_floats({1, 2, 1, 1}, {2, 3}))
               .input(Tensor::from_floats({2, 1, 1, 1}, {10, 100}))
               .input(Tensor::from_floats({2}, {1, -1}))
               .run1();
  WQ_REQUIRE_OK(g);
  check_close(*g, {21, 299});

  auto v = OpTest("Conv", 11, reg)
               .input(Tensor::from_floats({1, 1, 2, 2, 2}, iota_floats(8)))
               .input(Tensor::from_floats({1, 1, 2, 2, 2}, std::vector<float>(8, 1)))
               .run1();
  WQ_REQUIRE_OK(v);
  CHECK(v->shape() == Shape{1, 1, 1, 1, 1});
  check_close(*v, {28});

  // Mismatched channels/groups is an error, not a crash.
  auto bad = OpTest("Conv", 11, reg)
                 .attr("group", 2)
                 .input(Tensor::from_floats({1, 3, 1, 1}, {1, 2, 3}))
                 .input(Tensor::from_floats({2, 1, 1, 1}, {1, 1}))
                 .run1();
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Conv matches a direct convolution over a sweep of shapes") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  int cases = 0;
  for (int64_t C : {1, 3, 4})
    for (int64_t group : {int64_t(1), C})
      for (int64_t k : {1, 2, 3})
        for (int64_t stride : {1, 2})
          for (int64_t dil : {1, 2})
            for (int64_t pad : {0, 1, 2}) {
              const int64_t N = 2, H = 7, W = 6, M = 2 * group, Cg = C / group, Mg = M / group;
              const int64_t dk = (k - 1) * dil + 1;
              if (H + 2 * pad < dk) continue;
              // Asymmetric pads: pad at the start, pad/2 at the end.
              const int64_t pe = pad / 2;
              const int64_t OH = (H + pad + pe - dk) / stride + 1, OW = (W + pad + pe - dk) / stride + 1;
              auto xv = lcg_floats(N * C * H * W, 1 + cases);
              auto wv = lcg_floats(M * Cg * k * k, 100 + cases);
              auto bv = lcg_floats(M, 200 + cases);
              std::vector<float> want(N * M * OH * OW, 0.0f);
              for (int64_t n = 0; n < N; ++n)
                for (int64_t m = 0; m < M; ++m)
                  for (int64_t oh = 0; oh < OH; ++oh)
                    for (int64_t ow = 0; ow < OW; ++ow) {
                      double acc = bv[m];
                      const int64_t g = m / Mg;
                      for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t kh = 0; kh < k; ++kh)
                          for (int64_t kw = 0; kw < k; ++kw) {
                            const int64_t ih = oh * stride - pad + kh * dil, iw = ow * stride - pad + kw * dil;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            acc += double(xv[((n * C + g * Cg + c) * H + ih) * W + iw]) *
                                   wv[((m * Cg + c) * k + kh) * k + kw];
                          }
                      want[((n * M + m) * OH + oh) * OW + ow] = float(acc);
                    }
              auto y = OpTest("Conv", 11, reg)
                           .attr("group", group)
                           .attr_ints("strides", {stride, stride})
                           .attr_ints("dilations", {dil, dil})
                           .attr_ints("pads", {pad, pad, pe, pe})
                           .input(Tensor::from_floats({N, C, H, W}, xv))
                           .const_input(Tensor::from_floats({M, Cg, k, k}, wv))
                           .const_input(Tensor::from_floats({M}, bv))
                           .run1();
              INFO("C=" << C << " group=" << group << " k=" << k << " stride=" << stride << " dil=" << dil
                        << " pad=" << pad);
              WQ_REQUIRE_OK(y);
              REQUIRE(y->shape() == Shape{N, M, OH, OW});
              check_close(*y, want, 1e-4f);
              ++cases;
            }
  CHECK(cases > 100);
}

TEST_CASE("ConvTranspose: stride, pads, output_shape") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto x = Tensor::from_floats({1, 1, 2}, {1, 2});
  auto w = Tensor::from_floats({1, 1, 3}, {1, 1, 1});
  auto y = OpTest("ConvTranspose", 11, reg).attr_ints("strides", {2}).input(x).input(w).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{1, 1, 5});
  check_close(*y, {1, 1, 3, 2, 2});
  auto p = OpTest("ConvTranspose", 11, reg).attr_ints("strides", {2}).attr_ints("pads", {1, 1}).input(x).input(w).run1();
  WQ_REQUIRE_OK(p);
  check_close(*p, {1, 3, 2});
  // A requested output larger than the full result leaves the tail at the bias.
  auto s = OpTest("ConvTranspose", 11, reg)
               .attr_ints("strides", {2})
               .attr_ints("output_shape", {6})
               .input(x)
               .input(w)
               .input(Tensor::from_floats({1}, {0.5f}))
               .run1();
  WQ_REQUIRE_OK(s);
  check_close(*s, {1.5f, 1.5f, 3.5f, 2.5f, 2.5f, 0.5f});
  // Two output channels per group: W is [C, M/group, k].
  auto m = OpTest("ConvTranspose", 11, reg)
               .input(Tensor::from_floats({1, 1, 1}, {2}))
               .input(Tensor::from_floats({1, 2, 1}, {3, 4}))
               .run1();
  WQ_REQUIRE_OK(m);
  CHECK(m->shape() == Shape{1, 2, 1});
  check_close(*m, {6, 8});
}

TEST_CASE("MaxPool ceil_mode adds a partial window; one starting in the padding is dropped") {
  auto x = Tensor::from_floats({1, 1, 4, 4}, iota_floats(16));
  auto floor = OpTest("MaxPool", 12).attr_ints("kernel_shape", {3, 3}).attr_ints("strides", {2, 2}).input(x).run1();
  WQ_REQUIRE_OK(floor);
  CHECK(floor->shape() == Shape{1, 1, 1, 1});
  check_close(*floor, {10});
  auto ceil = OpTest("MaxPool", 12)
                  .attr_ints("kernel_shape", {3, 3})
                  .attr_ints("strides", {2, 2})
                  .attr("ceil_mode", 1)
                  .input(x)
                  .run1();
  WQ_REQUIRE_OK(ceil);
  CHECK(ceil->shape() == Shape{1, 1, 2, 2});
  check_close(*ceil, {10, 11, 14, 15});
  // in=5, k=2, s=3, pads (0,1): ceil gives 3 windows but the third would start at 6 >= 5.
  auto edge = OpTest("MaxPool", 12)
                  .attr_ints("kernel_shape", {2})
                  .attr_ints("strides", {3})
                  .attr_ints("pads", {0, 1})
                  .attr("ceil_mode", 1)
                  .input(Tensor::from_floats({1, 1, 5}, {1, 2, 3, 4, 5}))
                  .run1();
  WQ_REQUIRE_OK(edge);
  CHECK(edge->shape() == Shape{1, 1, 2});
  check_close(*edge, {2, 5});
}

TEST_CASE("MaxPool pads ignore padded positions; Indices in both storage orders") {
  auto x = Tensor::from_floats({1, 1, 2, 2}, {-5, -4, -3, -2});
  auto y = OpTest("MaxPool", 12).attr_ints("kernel_shape", {2, 2}).attr_ints("pads", {1, 1, 1, 1}).attr_ints("strides", {2, 2}).input(x).run1();
  WQ_REQUIRE_OK(y);
  check_close(*y, {-5, -4, -3, -2});  // a zero pad would have won

  auto z = Tensor::from_floats({2, 1, 2, 2}, {1, 4, 3, 2, 0, 0, 9, 0});
  auto r = OpTest("MaxPool", 12).attr_ints("kernel_shape", {2, 2}).input(z).outputs(2).run();
  WQ_REQUIRE_OK(r);
  check_close((*r)[0], {4, 9});
  CHECK(values_of<int64_t>((*r)[1]) == std::vector<int64_t>{1, 6});  // offsets include the batch
  auto c = OpTest("MaxPool", 12).attr_ints("kernel_shape", {2, 2}).attr("storage_order", 1).input(z).outputs(2).run();
  WQ_REQUIRE_OK(c);
  // Column-major: (h=0, w=1) -> 1*2 + 0 = 2; (h=1, w=0) -> 0*2 + 1 = 1, plus 4 for the second image.
  CHECK(values_of<int64_t>((*c)[1]) == std::vector<int64_t>{2, 5});
}

TEST_CASE("AveragePool count_include_pad and ceil_mode") {
  auto x = Tensor::from_floats({1, 1, 2, 2}, {1, 2, 3, 4});
  auto base = [&](int include) {
    return OpTest("AveragePool", 11)
        .attr_ints("kernel_shape", {2, 2})
        .attr_ints("strides", {2, 2})
        .attr_ints("pads", {1, 1, 1, 1})
        .attr("count_include_pad", include)
        .input(x)
        .run1();
  };
  auto ex = base(0);
  WQ_REQUIRE_OK(ex);
  check_close(*ex, {1, 2, 3, 4});
  auto in = base(1);
  WQ_REQUIRE_OK(in);
  check_close(*in, {0.25f, 0.5f, 0.75f, 1});
  // ceil_mode: the partial window averages only the real elements.
  auto c = OpTest("AveragePool", 11)
               .attr_ints("kernel_shape", {2})
               .attr_ints("strides", {2})
               .attr("ceil_mode", 1)
               .input(Tensor::from_floats({1, 1, 5}, {1, 2, 3, 4, 5}))
               .run1();
  WQ_REQUIRE_OK(c);
  check_close(*c, {1.5f, 3.5f, 5});
}

TEST_CASE("global pools reduce all spatial dims") {
  auto x = Tensor::from_floats({1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, -8});
  auto a = OpTest("GlobalAveragePool", 1).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(a->shape() == Shape{1, 2, 1, 1});
  check_close(*a, {2.5f, -3.5f});
  auto m = OpTest("GlobalMaxPool", 1).input(x).run1();
  WQ_REQUIRE_OK(m);
  check_close(*m, {4, -1});
}

TEST_CASE("pool attribute errors") {
  CHECK(OpTest("MaxPool", 12).input(Tensor::from_floats({1, 1, 2}, {1, 2})).build().code() == StatusCode::kInvalidModel);
  auto big = OpTest("MaxPool", 12).attr_ints("kernel_shape", {5}).input(Tensor::from_floats({1, 1, 2}, {1, 2})).run1();
  CHECK(big.status().code() == StatusCode::kInvalidArgument);
}
