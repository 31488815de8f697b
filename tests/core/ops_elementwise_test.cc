// Elementwise and activation ops: broadcasting, integer semantics, Clip forms.
#include <doctest.h>

#include <cmath>
#include <limits>

#include "tests/core/op_test_util.h"

using namespace wq;
using namespace wq::testing;

TEST_CASE("Add broadcasts multidirectionally") {
  // [2,1] + [3] -> [2,3]
  auto y = OpTest("Add", 14).input(Tensor::from_floats({2, 1}, {10, 20})).input(Tensor::from_floats({3}, {1, 2, 3})).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{2, 3});
  CHECK(values_of<float>(*y) == std::vector<float>{11, 12, 13, 21, 22, 23});

  // [2,3,1] - [1,1,2] -> [2,3,2], checks the odometer over several dims.
  std::vector<float> a(6), b = {100, 200};
  for (int i = 0; i < 6; ++i) a[i] = float(i);
  auto z = OpTest("Sub", 14).input(Tensor::from_floats({2, 3, 1}, a)).input(Tensor::from_floats({1, 1, 2}, b)).run1();
  WQ_REQUIRE_OK(z);
  CHECK(z->shape() == Shape{2, 3, 2});
  std::vector<float> want;
  for (int i = 0; i < 6; ++i) want.insert(want.end(), {float(i) - 100, float(i) - 200});
  CHECK(values_of<float>(*z) == want);
}

TEST_CASE("Add rejects incompatible shapes and mixed types") {
  CHECK(OpTest("Add", 14).input(Tensor::from_floats({2}, {1, 2})).input(Tensor::from_floats({3}, {1, 2, 3})).run1().status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(OpTest("Add", 14).input(Tensor::from_floats({1}, {1})).input(Tensor::from_int64s({1}, {1})).run1().status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("integer Div truncates toward zero and reports division by zero") {
  auto y = OpTest("Div", 14)
               .input(make_tensor<int32_t>({4}, {7, -7, 7, std::numeric_limits<int32_t>::min()}))
               .input(make_tensor<int32_t>({4}, {2, 2, -2, -1}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<int32_t>(*y) == std::vector<int32_t>{3, -3, -3, std::numeric_limits<int32_t>::min()});
  auto z = OpTest("Div", 14).input(make_tensor<int64_t>({2}, {1, 2})).input(make_tensor<int64_t>({1}, {0})).run1();
  CHECK(z.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("integer Add and Mul wrap around") {
  auto y = OpTest("Add", 14)
               .input(make_tensor<int32_t>({1}, {std::numeric_limits<int32_t>::max()}))
               .input(make_tensor<int32_t>({1}, {1}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<int32_t>(*y)[0] == std::numeric_limits<int32_t>::min());
  auto z = OpTest("Mul", 14).input(make_tensor<uint8_t>({1}, {200})).input(make_tensor<uint8_t>({1}, {2})).run1();
  WQ_REQUIRE_OK(z);
  CHECK(values_of<uint8_t>(*z)[0] == 144);
}

TEST_CASE("Mod follows the divisor's sign unless fmod") {
  auto a = make_tensor<int32_t>({4}, {-4, 7, -7, 5});
  auto b = make_tensor<int32_t>({4}, {3, -3, -3, 5});
  auto y = OpTest("Mod", 13).input(a).input(b).run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<int32_t>(*y) == std::vector<int32_t>{2, -2, -1, 0});
  auto f = OpTest("Mod", 13).attr("fmod", 1).input(a).input(b).run1();
  WQ_REQUIRE_OK(f);
  CHECK(values_of<int32_t>(*f) == std::vector<int32_t>{-1, 1, -1, 0});
  CHECK(OpTest("Mod", 13).input(Tensor::from_floats({1}, {1})).input(Tensor::from_floats({1}, {1})).run1().status().code() ==
        StatusCode::kInvalidModel);
}

TEST_CASE("Pow with mixed base and exponent types") {
  auto y = OpTest("Pow", 15).input(Tensor::from_floats({3}, {2, 3, 4})).input(make_tensor<int64_t>({1}, {2})).run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<float>(*y) == std::vector<float>{4, 9, 16});
  auto z = OpTest("Pow", 15).input(make_tensor<int32_t>({2}, {3, 2})).input(Tensor::from_floats({2}, {2, -1})).run1();
  WQ_REQUIRE_OK(z);
  CHECK(values_of<int32_t>(*z) == std::vector<int32_t>{9, 0});
}

TEST_CASE("comparisons and logic produce bool") {
  auto y = OpTest("Less", 13).input(Tensor::from_floats({3}, {1, 2, 3})).input(Tensor::from_floats({1}, {2})).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->dtype() == DType::kBool);
  CHECK(values_of<bool>(*y) == std::vector<bool>{true, false, false});
  auto e = OpTest("GreaterOrEqual", 16).input(Tensor::from_floats({3}, {1, 2, 3})).input(Tensor::from_floats({1}, {2})).run1();
  WQ_REQUIRE_OK(e);
  CHECK(values_of<bool>(*e) == std::vector<bool>{false, true, true});
  auto x = OpTest("Xor", 7).input(make_tensor<bool>({2, 1}, {true, false})).input(make_tensor<bool>({2}, {true, false})).run1();
  WQ_REQUIRE_OK(x);
  CHECK(values_of<bool>(*x) == std::vector<bool>{false, true, true, false});
}

TEST_CASE("Where broadcasts all three inputs") {
  auto y = OpTest("Where", 16)
               .input(make_tensor<bool>({2, 1}, {true, false}))
               .input(make_tensor<int64_t>({2}, {1, 2}))
               .input(make_tensor<int64_t>({1}, {9}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{2, 2});
  CHECK(values_of<int64_t>(*y) == std::vector<int64_t>{1, 2, 9, 9});
}

TEST_CASE("variadic Max and Mean broadcast over all inputs") {
  auto y = OpTest("Max", 13)
               .input(Tensor::from_floats({3}, {1, 5, 3}))
               .input(Tensor::from_floats({1}, {2}))
               .input(Tensor::from_floats({2, 1}, {0, 4}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{2, 3});
  CHECK(values_of<float>(*y) == std::vector<float>{2, 5, 3, 4, 5, 4});
  auto m = OpTest("Mean", 13).input(Tensor::from_floats({2}, {1, 2})).input(Tensor::from_floats({2}, {3, 6})).run1();
  WQ_REQUIRE_OK(m);
  CHECK(values_of<float>(*m) == std::vector<float>{2, 4});
}

TEST_CASE("Clip: attributes before opset 11, optional inputs after") {
  auto x = Tensor::from_floats({4}, {-2, -0.5f, 0.5f, 2});
  auto a = OpTest("Clip", 7).attr("min", -1.0f).attr("max", 1.0f).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(values_of<float>(*a) == std::vector<float>{-1, -0.5f, 0.5f, 1});
  // Only max given: min slot empty.
  auto b = OpTest("Clip", 13).input(x).no_input().input(Tensor::from_floats({}, {0})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(values_of<float>(*b) == std::vector<float>{-2, -0.5f, 0, 0});
  // min > max: everything becomes max.
  auto c = OpTest("Clip", 13).input(x).input(Tensor::from_floats({}, {1})).input(Tensor::from_floats({}, {0})).run1();
  WQ_REQUIRE_OK(c);
  CHECK(values_of<float>(*c) == std::vector<float>{0, 0, 0, 0});
  // Integer clip without bounds keeps values.
  auto d = OpTest("Clip", 13).input(make_tensor<int8_t>({2}, {-128, 127})).input(make_tensor<int8_t>({}, {-5})).run1();
  WQ_REQUIRE_OK(d);
  CHECK(values_of<int8_t>(*d) == std::vector<int8_t>{-5, 127});
}

TEST_CASE("activations") {
  auto x = Tensor::from_floats({4}, {-3, -1, 0, 3});
  auto hs = OpTest("HardSigmoid", 7).input(x).run1();
  WQ_REQUIRE_OK(hs);
  CHECK(values_of<float>(*hs) == std::vector<float>{0, 0.3f, 0.5f, 1});
  auto hw = OpTest("HardSwish", 14).input(x).run1();
  WQ_REQUIRE_OK(hw);
  CHECK(values_of<float>(*hw)[1] == doctest::Approx(-1.0f / 3));
  CHECK(values_of<float>(*hw)[3] == 3);
  CHECK(values_of<float>(*hw)[0] == 0);
  auto sg = OpTest("Sigmoid", 13).input(Tensor::from_floats({3}, {-1000, 0, 1000})).run1();
  WQ_REQUIRE_OK(sg);
  CHECK(values_of<float>(*sg) == std::vector<float>{0, 0.5f, 1});
  auto r = OpTest("Round", 11).input(Tensor::from_floats({5}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f})).run1();
  WQ_REQUIRE_OK(r);
  CHECK(values_of<float>(*r) == std::vector<float>{0, 2, 2, -0.0f, -2});
  auto g = OpTest("Gelu", 20).attr("approximate", "exact").input(x).build();
  CHECK(g.code() == StatusCode::kUnsupported);
  CHECK(g.message().find("approximate='exact'") != std::string::npos);
}

TEST_CASE("PRelu broadcasts the slope per channel") {
  auto y = OpTest("PRelu", 16)
               .input(Tensor::from_floats({1, 2, 2}, {-1, 2, -3, 4}))
               .input(Tensor::from_floats({2, 1}, {0.5f, 2}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<float>(*y) == std::vector<float>{-0.5f, 2, -6, 4});
}

TEST_CASE("unsupported dtype names the type") {
  auto y = OpTest("Exp", 13).input(make_tensor<int32_t>({1}, {1})).run1();
  CHECK(y.status().code() == StatusCode::kUnsupported);
  CHECK(y.status().message().find("int32") != std::string::npos);
}

TEST_CASE("float16 inputs are read and written as float16") {
  // 1 + 2^-10 is the float16 right after 1 (0x3C01); 1 + 1 = 2 (0x4000).
  auto a = make_tensor<uint16_t>({2}, {0x3C00, 0x3C00}, DType::kFloat16);  // 1, 1
  auto b = make_tensor<uint16_t>({2}, {0x1400, 0x3C00}, DType::kFloat16);  // 2^-10, 1
  auto y = OpTest("Add", 14).input(a).input(b).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->dtype() == DType::kFloat16);
  CHECK(values_of<uint16_t>(*y) == std::vector<uint16_t>{0x3C01, 0x4000});
  auto r = OpTest("Relu", 14).input(make_tensor<uint16_t>({2}, {0xBC00, 0x3C00}, DType::kFloat16)).run1();
  WQ_REQUIRE_OK(r);
  CHECK(values_of<uint16_t>(*r) == std::vector<uint16_t>{0x0000, 0x3C00});
}

TEST_CASE("inputs moved from attributes are rejected as attributes") {
  auto x = Tensor::from_floats({1}, {1});
  CHECK(OpTest("Clip", 11).attr("min", 0.0f).input(x).build().code() == StatusCode::kInvalidModel);
  CHECK(OpTest("Slice", 10).attr_ints("starts", {0}).build().code() == StatusCode::kInvalidModel);
  CHECK(OpTest("Pad", 11).attr_ints("pads", {0, 0}).build().code() == StatusCode::kInvalidModel);
  CHECK(OpTest("Split", 13).attr_ints("split", {1}).build().code() == StatusCode::kInvalidModel);
  CHECK(OpTest("TopK", 10).attr("k", 1).build().code() == StatusCode::kInvalidModel);
  CHECK(OpTest("Unsqueeze", 13).attr_ints("axes", {0}).build().code() == StatusCode::kInvalidModel);
}
