// Cast rounding/saturation, reductions (axes attribute vs input by opset),
// ArgMax/ArgMin, TopK, CumSum, and Resize coordinate modes.
#include <doctest.h>

#include <cmath>
#include <limits>

#include "tests/core/op_test_util.h"

using namespace wq;
using namespace wq::testing;

namespace {

Tensor ints(std::vector<int64_t> v) { return Tensor::from_int64s({static_cast<int64_t>(v.size())}, v); }

void check_close(const Tensor& got, const std::vector<float>& want, float tol = 1e-5f) {
  REQUIRE(static_cast<size_t>(got.numel()) == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(got.data<float>()[i] == doctest::Approx(want[i]).epsilon(tol).scale(1.0));
  }
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

}  // namespace

TEST_CASE("Cast float -> int truncates toward zero and saturates; NaN -> 0") {
  auto x = Tensor::from_floats({5}, {1.9f, -1.9f, 3e9f, -3e9f, kNaN});
  auto y = OpTest("Cast", 13).attr("to", int(DType::kInt32)).input(x).run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<int32_t>(*y) == std::vector<int32_t>{1, -1, std::numeric_limits<int32_t>::max(),
                                                         std::numeric_limits<int32_t>::min(), 0});
  auto big = OpTest("Cast", 13).attr("to", int(DType::kInt64)).input(Tensor::from_floats({3}, {9.3e18f, -9.3e18f, -9.2e18f})).run1();
  WQ_REQUIRE_OK(big);
  CHECK(values_of<int64_t>(*big)[0] == std::numeric_limits<int64_t>::max());
  CHECK(values_of<int64_t>(*big)[1] == std::numeric_limits<int64_t>::min());
  CHECK(values_of<int64_t>(*big)[2] == static_cast<int64_t>(-9.2e18f));
  auto ub = OpTest("Cast", 13).attr("to", int(DType::kUInt64)).input(Tensor::from_floats({2}, {1.9e19f, -1})).run1();
  WQ_REQUIRE_OK(ub);
  CHECK(values_of<uint64_t>(*ub) == std::vector<uint64_t>{std::numeric_limits<uint64_t>::max(), 0});
  auto u = OpTest("Cast", 13).attr("to", int(DType::kUInt8)).input(Tensor::from_floats({3}, {-1, 300, 2.5f})).run1();
  WQ_REQUIRE_OK(u);
  CHECK(values_of<uint8_t>(*u) == std::vector<uint8_t>{0, 255, 2});
}

TEST_CASE("Cast to float16 / bfloat16 rounds to nearest even") {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1.0).
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties to 1 + 2^-9.
  auto h = OpTest("Cast", 13).attr("to", int(DType::kFloat16)).input(Tensor::from_floats({3}, {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65520.0f})).run1();
  WQ_REQUIRE_OK(h);
  CHECK(h->dtype() == DType::kFloat16);
  CHECK(values_of<uint16_t>(*h) == std::vector<uint16_t>{0x3C00, 0x3C02, 0x7C00});
  auto b = OpTest("Cast", 13).attr("to", int(DType::kBFloat16)).input(Tensor::from_floats({2}, {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(values_of<uint16_t>(*b) == std::vector<uint16_t>{0x3F80, 0x3F82});
  auto back = OpTest("Cast", 13).attr("to", int(DType::kFloat32)).input(*h).run1();
  WQ_REQUIRE_OK(back);
  CHECK(values_of<float>(*back) == std::vector<float>{1.0f, 1.0f + 0x1p-9f, std::numeric_limits<float>::infinity()});
}

TEST_CASE("Cast to and from bool, int narrowing, same type, unsupported targets") {
  auto b = OpTest("Cast", 13).attr("to", int(DType::kBool)).input(make_tensor<int64_t>({3}, {0, -7, 2})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(values_of<bool>(*b) == std::vector<bool>{false, true, true});
  auto f = OpTest("Cast", 13).attr("to", int(DType::kFloat32)).input(*b).run1();
  WQ_REQUIRE_OK(f);
  CHECK(values_of<float>(*f) == std::vector<float>{0, 1, 1});
  auto n = OpTest("Cast", 13).attr("to", int(DType::kInt8)).input(make_tensor<int32_t>({2}, {300, -129})).run1();
  WQ_REQUIRE_OK(n);
  CHECK(values_of<int8_t>(*n) == std::vector<int8_t>{44, 127});
  auto same = Tensor::from_floats({1}, {1});
  auto s = OpTest("Cast", 13).attr("to", int(DType::kFloat32)).input(same).run1();
  WQ_REQUIRE_OK(s);
  CHECK(values_of<float>(*s) == std::vector<float>{1});
  auto str = OpTest("Cast", 13).attr("to", int(DType::kString)).build();
  CHECK(str.code() == StatusCode::kUnsupported);
  CHECK(str.message().find("to=8") != std::string::npos);
  CHECK(OpTest("Cast", 19).attr("to", int(DType::kFloat8E4M3FN)).build().code() == StatusCode::kUnsupported);
  auto like = OpTest("CastLike", 15).input(Tensor::from_floats({1}, {2.7f})).input(make_tensor<int64_t>({0}, {})).run1();
  WQ_REQUIRE_OK(like);
  CHECK(values_of<int64_t>(*like) == std::vector<int64_t>{2});
}

TEST_CASE("Reduce axes: attribute before 13/18, input after; keepdims; noop_with_empty_axes") {
  auto x = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto a = OpTest("ReduceSum", 11).attr_ints("axes", {1}).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(a->shape() == Shape{2, 1});
  check_close(*a, {6, 15});
  auto b = OpTest("ReduceSum", 13).attr("keepdims", 0).input(x).input(ints({-2})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(b->shape() == Shape{3});
  check_close(*b, {5, 7, 9});
  auto all = OpTest("ReduceSum", 13).attr("keepdims", 0).input(x).run1();
  WQ_REQUIRE_OK(all);
  CHECK(all->shape() == Shape{});
  check_close(*all, {21});
  auto noop = OpTest("ReduceSum", 13).attr("noop_with_empty_axes", 1).input(x).input(Tensor::from_int64s({0}, {})).run1();
  WQ_REQUIRE_OK(noop);
  CHECK(noop->shape() == Shape{2, 3});
  // ReduceMean takes axes as an attribute until 17 and as an input from 18.
  auto m17 = OpTest("ReduceMean", 17).attr_ints("axes", {0}).input(x).run1();
  WQ_REQUIRE_OK(m17);
  check_close(*m17, {2.5f, 3.5f, 4.5f});
  auto m18 = OpTest("ReduceMean", 18).input(x).input(ints({0})).run1();
  WQ_REQUIRE_OK(m18);
  check_close(*m18, {2.5f, 3.5f, 4.5f});
  CHECK(OpTest("ReduceMean", 18).attr_ints("axes", {0}).build().code() == StatusCode::kInvalidModel);
}

TEST_CASE("Reduce kinds") {
  auto x = Tensor::from_floats({2, 2}, {-1, 2, 3, -4});
  auto run = [&](const char* op) { return OpTest(op, 13).attr_ints("axes", {1}).attr("keepdims", 0).input(x).run1(); };
  struct Case {
    const char* op;
    std::vector<float> want;
  };
  for (const Case& c : {Case{"ReduceMax", {2, 3}}, Case{"ReduceMin", {-1, -4}}, Case{"ReduceProd", {-2, -12}},
                        Case{"ReduceL1", {3, 7}}, Case{"ReduceL2", {std::sqrt(5.0f), 5}},
                        Case{"ReduceSumSquare", {5, 25}}, Case{"ReduceLogSumExp", {std::log(std::exp(-1.0f) + std::exp(2.0f)), std::log(std::exp(3.0f) + std::exp(-4.0f))}}}) {
    INFO(c.op);
    auto y = run(c.op);
    WQ_REQUIRE_OK(y);
    check_close(*y, c.want);
  }
  auto i = OpTest("ReduceSum", 13).input(make_tensor<int32_t>({3}, {1, 2, 3})).run1();
  WQ_REQUIRE_OK(i);
  CHECK(values_of<int32_t>(*i) == std::vector<int32_t>{6});
}

TEST_CASE("ArgMax/ArgMin with select_last_index") {
  auto x = Tensor::from_floats({2, 3}, {1, 5, 5, 2, 0, 0});
  auto a = OpTest("ArgMax", 13).attr("axis", 1).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(a->shape() == Shape{2, 1});
  CHECK(values_of<int64_t>(*a) == std::vector<int64_t>{1, 0});
  auto l = OpTest("ArgMax", 13).attr("axis", -1).attr("keepdims", 0).attr("select_last_index", 1).input(x).run1();
  WQ_REQUIRE_OK(l);
  CHECK(l->shape() == Shape{2});
  CHECK(values_of<int64_t>(*l) == std::vector<int64_t>{2, 0});
  auto m = OpTest("ArgMin", 13).attr("axis", 1).attr("select_last_index", 1).input(x).run1();
  WQ_REQUIRE_OK(m);
  CHECK(values_of<int64_t>(*m) == std::vector<int64_t>{0, 2});
}

TEST_CASE("TopK: ties keep the lower index, smallest, k as attribute before 10") {
  auto x = Tensor::from_floats({1, 5}, {3, 1, 3, 2, 5});
  auto r = OpTest("TopK", 11).input(x).input(ints({3})).outputs(2).run();
  WQ_REQUIRE_OK(r);
  check_close((*r)[0], {5, 3, 3});
  CHECK(values_of<int64_t>((*r)[1]) == std::vector<int64_t>{4, 0, 2});
  auto s = OpTest("TopK", 11).attr("largest", 0).input(x).input(ints({2})).outputs(2).run();
  WQ_REQUIRE_OK(s);
  CHECK(values_of<int64_t>((*s)[1]) == std::vector<int64_t>{1, 3});
  auto old = OpTest("TopK", 9).attr("k", 1).input(x).outputs(2).run();
  WQ_REQUIRE_OK(old);
  check_close((*old)[0], {5});
  CHECK(OpTest("TopK", 11).input(x).input(ints({6})).outputs(2).run().status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("CumSum exclusive and reverse") {
  auto x = Tensor::from_floats({4}, {1, 2, 3, 4});
  auto axis = make_tensor<int32_t>({}, {0});
  auto a = OpTest("CumSum", 14).input(x).input(axis).run1();
  WQ_REQUIRE_OK(a);
  check_close(*a, {1, 3, 6, 10});
  auto e = OpTest("CumSum", 14).attr("exclusive", 1).input(x).input(axis).run1();
  WQ_REQUIRE_OK(e);
  check_close(*e, {0, 1, 3, 6});
  auto r = OpTest("CumSum", 14).attr("reverse", 1).input(x).input(axis).run1();
  WQ_REQUIRE_OK(r);
  check_close(*r, {10, 9, 7, 4});
  auto re = OpTest("CumSum", 14).attr("reverse", 1).attr("exclusive", 1).input(x).input(axis).run1();
  WQ_REQUIRE_OK(re);
  check_close(*re, {9, 7, 4, 0});
}

TEST_CASE("Resize coordinate modes") {
  auto x = Tensor::from_floats({1, 2}, {1, 2});
  auto scales = Tensor::from_floats({2}, {1, 2});
  auto resize = [&](const char* mode, const char* coord, const char* nearest = "round_prefer_floor") {
    return OpTest("Resize", 13)
        .attr("mode", mode)
        .attr("coordinate_transformation_mode", coord)
        .attr("nearest_mode", nearest)
        .input(x)
        .no_input()
        .input(scales)
        .run1();
  };
  auto lin = resize("linear", "half_pixel");
  WQ_REQUIRE_OK(lin);
  check_close(*lin, {1, 1.25f, 1.75f, 2});
  auto asym = resize("linear", "asymmetric");
  WQ_REQUIRE_OK(asym);
  check_close(*asym, {1, 1.5f, 2, 2});
  auto nf = resize("nearest", "asymmetric", "floor");
  WQ_REQUIRE_OK(nf);
  check_close(*nf, {1, 1, 2, 2});
  // half_pixel coords for 4 from 2: -0.25, 0.25, 0.75, 1.25; ceil -> 0, 1, 1, 2 -> clamped 1.
  auto nc = resize("nearest", "half_pixel", "ceil");
  WQ_REQUIRE_OK(nc);
  check_close(*nc, {1, 2, 2, 2});
  auto ac = OpTest("Resize", 13)
                .attr("mode", "linear")
                .attr("coordinate_transformation_mode", "align_corners")
                .input(x)
                .no_input()
                .no_input()
                .input(ints({1, 3}))
                .run1();
  WQ_REQUIRE_OK(ac);
  check_close(*ac, {1, 1.5f, 2});
  auto up = OpTest("Upsample", 9).input(x).input(scales).run1();
  WQ_REQUIRE_OK(up);
  check_close(*up, {1, 1, 2, 2});
  CHECK(OpTest("Resize", 18).attr("antialias", 1).build().code() == StatusCode::kUnsupported);
  CHECK(OpTest("Resize", 13).attr("mode", "area").build().code() == StatusCode::kUnsupported);
  CHECK(OpTest("Resize", 13).input(x).no_input().input(scales).input(ints({1, 4})).run1().status().code() ==
        StatusCode::kInvalidArgument);
}
