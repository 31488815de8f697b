// Shape and data-movement ops: Reshape 0/-1/allowzero, Flatten, Squeeze and
// Unsqueeze (attribute vs input), Slice clamping and negative steps, Concat,
// Transpose, Shape start/end, Split forms, Pad modes, Gather, Tile, Expand,
// Constant*, Range, DepthToSpace, Dropout.
#include <doctest.h>

#include <limits>

#include "tests/core/op_test_util.h"

using namespace wq;
using namespace wq::testing;

namespace {

std::vector<float> iota_f(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(i);
  return v;
}

Tensor ints(std::vector<int64_t> v) { return Tensor::from_int64s({static_cast<int64_t>(v.size())}, v); }

constexpr int64_t kBig = std::numeric_limits<int64_t>::max();
constexpr int64_t kSmall = std::numeric_limits<int64_t>::min();

}  // namespace

TEST_CASE("Reshape: 0 copies, -1 infers, allowzero keeps 0") {
  auto x = Tensor::from_floats({2, 3, 4}, iota_f(24));
  auto a = OpTest("Reshape", 14).input(x).input(ints({0, -1})).run1();
  WQ_REQUIRE_OK(a);
  CHECK(a->shape() == Shape{2, 12});
  CHECK(a->shares_buffer_with(x));
  auto b = OpTest("Reshape", 14).input(x).input(ints({-1, 0, 2})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(b->shape() == Shape{4, 3, 2});
  CHECK(OpTest("Reshape", 14).input(x).input(ints({-1, -1})).run1().status().code() == StatusCode::kInvalidArgument);
  CHECK(OpTest("Reshape", 14).input(x).input(ints({5, -1})).run1().status().code() == StatusCode::kInvalidArgument);

  auto empty = Tensor::from_floats({0, 3}, {});
  auto z = OpTest("Reshape", 14).attr("allowzero", 1).input(empty).input(ints({3, 0})).run1();
  WQ_REQUIRE_OK(z);
  CHECK(z->shape() == Shape{3, 0});
  // Without allowzero the 0 copies dim 1 (3): [3, 3] has 9 elements, not 0.
  CHECK(OpTest("Reshape", 14).input(empty).input(ints({3, 0})).run1().status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Flatten axis range includes rank and negatives") {
  auto x = Tensor::from_floats({2, 3, 4}, iota_f(24));
  struct Case {
    int64_t axis;
    Shape want;
  };
  for (const Case& c : {Case{0, {1, 24}}, Case{1, {2, 12}}, Case{3, {24, 1}}, Case{-1, {6, 4}}, Case{-3, {1, 24}}}) {
    auto y = OpTest("Flatten", 13).attr("axis", c.axis).input(x).run1();
    INFO("axis " << c.axis);
    WQ_REQUIRE_OK(y);
    CHECK(y->shape() == c.want);
  }
  CHECK(OpTest("Flatten", 13).attr("axis", 4).input(x).run1().status().code() == StatusCode::kInvalidModel);
}

TEST_CASE("Squeeze/Unsqueeze axes: attribute before 13, input from 13") {
  auto x = Tensor::from_floats({1, 3, 1}, {1, 2, 3});
  auto a = OpTest("Squeeze", 11).attr_ints("axes", {-1}).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(a->shape() == Shape{1, 3});
  auto b = OpTest("Squeeze", 13).input(x).input(ints({0})).run1();
  WQ_REQUIRE_OK(b);
  CHECK(b->shape() == Shape{3, 1});
  auto c = OpTest("Squeeze", 13).input(x).run1();
  WQ_REQUIRE_OK(c);
  CHECK(c->shape() == Shape{3});
  CHECK(OpTest("Squeeze", 13).input(x).input(ints({1})).run1().status().code() == StatusCode::kInvalidArgument);
  CHECK(OpTest("Squeeze", 13).attr_ints("axes", {0}).input(x).build().code() == StatusCode::kInvalidModel);

  auto v = Tensor::from_floats({3}, {1, 2, 3});
  auto u = OpTest("Unsqueeze", 11).attr_ints("axes", {0, -1}).input(v).run1();
  WQ_REQUIRE_OK(u);
  CHECK(u->shape() == Shape{1, 3, 1});
  auto w = OpTest("Unsqueeze", 13).input(v).input(ints({2, 0})).run1();
  WQ_REQUIRE_OK(w);
  CHECK(w->shape() == Shape{1, 3, 1});
  CHECK(OpTest("Unsqueeze", 13).input(v).input(ints({0, 0})).run1().status().code() == StatusCode::kInvalidModel);
}

TEST_CASE("Slice clamps starts/ends and supports negative steps") {
  auto x = Tensor::from_floats({10}, iota_f(10));
  auto run = [&](std::vector<int64_t> s, std::vector<int64_t> e, std::vector<int64_t> st) {
    return OpTest("Slice", 13).input(x).input(ints(s)).input(ints(e)).input(ints({0})).input(ints(st)).run1();
  };
  auto a = run({-3}, {kBig}, {1});
  WQ_REQUIRE_OK(a);
  CHECK(values_of<float>(*a) == std::vector<float>{7, 8, 9});
  auto b = run({8}, {1}, {-3});
  WQ_REQUIRE_OK(b);
  CHECK(values_of<float>(*b) == std::vector<float>{8, 5, 2});
  auto c = run({100}, {-100}, {-1});
  WQ_REQUIRE_OK(c);
  CHECK(values_of<float>(*c) == std::vector<float>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  auto d = run({-1}, {kSmall}, {-4});
  WQ_REQUIRE_OK(d);
  CHECK(values_of<float>(*d) == std::vector<float>{9, 5, 1});
  auto e = run({5}, {2}, {1});
  WQ_REQUIRE_OK(e);
  CHECK(e->shape() == Shape{0});
  auto f = run({0}, {kBig}, {kBig});
  WQ_REQUIRE_OK(f);
  CHECK(values_of<float>(*f) == std::vector<float>{0});
  CHECK(run({0}, {1}, {0}).status().code() == StatusCode::kInvalidArgument);

  // 2-D with negative axes and default steps, then the opset-1 attribute form.
  auto m = Tensor::from_floats({3, 4}, iota_f(12));
  auto g = OpTest("Slice", 13).input(m).input(ints({1})).input(ints({-1})).input(ints({-1})).run1();
  WQ_REQUIRE_OK(g);
  CHECK(g->shape() == Shape{3, 2});
  CHECK(values_of<float>(*g) == std::vector<float>{1, 2, 5, 6, 9, 10});
  auto h = OpTest("Slice", 9).attr_ints("starts", {1, 0}).attr_ints("ends", {kBig, 2}).input(m).run1();
  WQ_REQUIRE_OK(h);
  CHECK(h->shape() == Shape{2, 2});
  CHECK(values_of<float>(*h) == std::vector<float>{4, 5, 8, 9});
}

TEST_CASE("Concat with a negative axis; Transpose default perm") {
  auto a = Tensor::from_floats({2, 1}, {1, 2});
  auto b = Tensor::from_floats({2, 2}, {3, 4, 5, 6});
  auto c = OpTest("Concat", 13).attr("axis", -1).input(a).input(b).run1();
  WQ_REQUIRE_OK(c);
  CHECK(c->shape() == Shape{2, 3});
  CHECK(values_of<float>(*c) == std::vector<float>{1, 3, 4, 2, 5, 6});
  CHECK(OpTest("Concat", 13).attr("axis", 0).input(a).input(b).run1().status().code() == StatusCode::kInvalidArgument);

  auto t = OpTest("Transpose", 13).input(Tensor::from_floats({2, 3}, iota_f(6))).run1();
  WQ_REQUIRE_OK(t);
  CHECK(t->shape() == Shape{3, 2});
  CHECK(values_of<float>(*t) == std::vector<float>{0, 3, 1, 4, 2, 5});
  auto p = OpTest("Transpose", 13).attr_ints("perm", {1, 2, 0}).input(Tensor::from_floats({2, 1, 3}, iota_f(6))).run1();
  WQ_REQUIRE_OK(p);
  CHECK(p->shape() == Shape{1, 3, 2});
  CHECK(values_of<float>(*p) == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(OpTest("Transpose", 13).attr_ints("perm", {0, 0}).input(b).run1().status().code() == StatusCode::kInvalidModel);
}

TEST_CASE("Shape start/end are clamped") {
  auto x = Tensor::from_floats({2, 3, 4, 5}, std::vector<float>(120));
  auto a = OpTest("Shape", 15).attr("start", -2).input(x).run1();
  WQ_REQUIRE_OK(a);
  CHECK(values_of<int64_t>(*a) == std::vector<int64_t>{4, 5});
  auto b = OpTest("Shape", 15).attr("start", 1).attr("end", -1).input(x).run1();
  WQ_REQUIRE_OK(b);
  CHECK(values_of<int64_t>(*b) == std::vector<int64_t>{3, 4});
  auto c = OpTest("Shape", 15).attr("start", 10).input(x).run1();
  WQ_REQUIRE_OK(c);
  CHECK(c->shape() == Shape{0});
}

TEST_CASE("Split: attribute, input, equal parts and num_outputs") {
  auto x = Tensor::from_floats({7}, iota_f(7));
  auto a = OpTest("Split", 11).attr_ints("split", {3, 4}).input(x).outputs(2).run();
  WQ_REQUIRE_OK(a);
  CHECK(values_of<float>((*a)[1]) == std::vector<float>{3, 4, 5, 6});
  auto b = OpTest("Split", 13).input(x).input(ints({5, 2})).outputs(2).run();
  WQ_REQUIRE_OK(b);
  CHECK(values_of<float>((*b)[0]) == std::vector<float>{0, 1, 2, 3, 4});
  auto c = OpTest("Split", 18).attr("num_outputs", 3).input(x).outputs(3).run();
  WQ_REQUIRE_OK(c);
  CHECK((*c)[0].shape() == Shape{3});
  CHECK((*c)[2].shape() == Shape{1});
  CHECK(values_of<float>((*c)[2]) == std::vector<float>{6});
  CHECK(OpTest("Split", 13).input(x).outputs(2).run().status().code() == StatusCode::kInvalidArgument);
  auto m = OpTest("Split", 13).attr("axis", -1).input(Tensor::from_floats({2, 2}, {1, 2, 3, 4})).outputs(2).run();
  WQ_REQUIRE_OK(m);
  CHECK(values_of<float>((*m)[0]) == std::vector<float>{1, 3});
}

TEST_CASE("Pad modes, negative pads and the opset-2 attribute form") {
  auto x = Tensor::from_floats({3}, {1, 2, 3});
  auto pad = [&](const char* mode, int opset = 13) {
    return OpTest("Pad", opset).attr("mode", mode).input(x).input(ints({2, 2})).run1();
  };
  auto c = pad("constant");
  WQ_REQUIRE_OK(c);
  CHECK(values_of<float>(*c) == std::vector<float>{0, 0, 1, 2, 3, 0, 0});
  auto r = pad("reflect");
  WQ_REQUIRE_OK(r);
  CHECK(values_of<float>(*r) == std::vector<float>{3, 2, 1, 2, 3, 2, 1});
  auto e = pad("edge");
  WQ_REQUIRE_OK(e);
  CHECK(values_of<float>(*e) == std::vector<float>{1, 1, 1, 2, 3, 3, 3});
  auto w = pad("wrap", 19);
  WQ_REQUIRE_OK(w);
  CHECK(values_of<float>(*w) == std::vector<float>{2, 3, 1, 2, 3, 1, 2});
  CHECK(pad("wrap", 18).status().code() == StatusCode::kUnsupported);
  auto v = OpTest("Pad", 13).input(x).input(ints({-1, 1})).input(Tensor::from_floats({}, {9})).run1();
  WQ_REQUIRE_OK(v);
  CHECK(values_of<float>(*v) == std::vector<float>{2, 3, 9});
  auto old = OpTest("Pad", 2).attr_ints("pads", {0, 1, 1, 0}).attr("value", 5.0f).input(Tensor::from_floats({1, 2}, {1, 2})).run1();
  WQ_REQUIRE_OK(old);
  CHECK(old->shape() == Shape{2, 3});
  CHECK(values_of<float>(*old) == std::vector<float>{5, 1, 2, 5, 5, 5});
  auto axes = OpTest("Pad", 18).input(Tensor::from_floats({1, 2}, {1, 2})).input(ints({1, 0})).no_input().input(ints({-1})).run1();
  WQ_REQUIRE_OK(axes);
  CHECK(values_of<float>(*axes) == std::vector<float>{0, 1, 2});
}

TEST_CASE("Gather with negative indices; GatherElements; Tile; Expand") {
  auto x = Tensor::from_floats({2, 3}, iota_f(6));
  auto g = OpTest("Gather", 13).attr("axis", 1).input(x).input(make_tensor<int64_t>({2}, {-1, 0})).run1();
  WQ_REQUIRE_OK(g);
  CHECK(g->shape() == Shape{2, 2});
  CHECK(values_of<float>(*g) == std::vector<float>{2, 0, 5, 3});
  auto s = OpTest("Gather", 13).input(x).input(make_tensor<int32_t>({}, {1})).run1();
  WQ_REQUIRE_OK(s);
  CHECK(s->shape() == Shape{3});
  CHECK(OpTest("Gather", 13).input(x).input(make_tensor<int64_t>({1}, {2})).run1().status().code() ==
        StatusCode::kInvalidArgument);
  auto ge = OpTest("GatherElements", 13).attr("axis", 1).input(x).input(make_tensor<int64_t>({2, 2}, {2, -3, 1, 1})).run1();
  WQ_REQUIRE_OK(ge);
  CHECK(values_of<float>(*ge) == std::vector<float>{2, 0, 4, 4});
  auto t = OpTest("Tile", 13).input(Tensor::from_floats({1, 2}, {1, 2})).input(ints({2, 2})).run1();
  WQ_REQUIRE_OK(t);
  CHECK(values_of<float>(*t) == std::vector<float>{1, 2, 1, 2, 1, 2, 1, 2});
  auto e = OpTest("Expand", 13).input(Tensor::from_floats({2, 1}, {1, 2})).input(ints({2, 1, 3})).run1();
  WQ_REQUIRE_OK(e);
  CHECK(e->shape() == Shape{2, 2, 3});
  CHECK(values_of<float>(*e) == std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
}

TEST_CASE("Constant forms, ConstantOfShape and Range") {
  auto c = OpTest("Constant", 13).attr_ints("value_ints", {1, 2}).run1();
  WQ_REQUIRE_OK(c);
  CHECK(c->dtype() == DType::kInt64);
  CHECK(values_of<int64_t>(*c) == std::vector<int64_t>{1, 2});
  auto f = OpTest("Constant", 13).attr("value_float", 2.5f).run1();
  WQ_REQUIRE_OK(f);
  CHECK(f->shape() == Shape{});
  auto t = OpTest("Constant", 13).attr_tensor("value", Tensor::from_floats({2}, {1, 2})).run1();
  WQ_REQUIRE_OK(t);
  CHECK(values_of<float>(*t) == std::vector<float>{1, 2});
  auto s = OpTest("Constant", 13).attr("value_string", "x").build();
  CHECK(s.code() == StatusCode::kUnsupported);
  CHECK(s.message().find("value_string") != std::string::npos);

  auto cs = OpTest("ConstantOfShape", 13).attr_tensor("value", make_tensor<int32_t>({1}, {7})).input(ints({2, 1})).run1();
  WQ_REQUIRE_OK(cs);
  CHECK(cs->dtype() == DType::kInt32);
  CHECK(values_of<int32_t>(*cs) == std::vector<int32_t>{7, 7});
  auto cz = OpTest("ConstantOfShape", 13).input(Tensor::from_int64s({0}, {})).run1();
  WQ_REQUIRE_OK(cz);
  CHECK(cz->shape() == Shape{});
  CHECK(values_of<float>(*cz) == std::vector<float>{0});

  auto r = OpTest("Range", 11).input(make_tensor<int32_t>({}, {10})).input(make_tensor<int32_t>({}, {3})).input(make_tensor<int32_t>({}, {-3})).run1();
  WQ_REQUIRE_OK(r);
  CHECK(values_of<int32_t>(*r) == std::vector<int32_t>{10, 7, 4});
  auto rf = OpTest("Range", 11).input(Tensor::from_floats({}, {1})).input(Tensor::from_floats({}, {2})).input(Tensor::from_floats({}, {0.25f})).run1();
  WQ_REQUIRE_OK(rf);
  CHECK(values_of<float>(*rf) == std::vector<float>{1, 1.25f, 1.5f, 1.75f});
  auto re = OpTest("Range", 11).input(make_tensor<int64_t>({}, {0})).input(make_tensor<int64_t>({}, {5})).input(make_tensor<int64_t>({}, {-1})).run1();
  WQ_REQUIRE_OK(re);
  CHECK(re->shape() == Shape{0});
}

TEST_CASE("DepthToSpace DCR vs CRD and SpaceToDepth round trip") {
  // C = 4, blocksize 2, H = W = 1.
  auto x = Tensor::from_floats({1, 4, 1, 1}, {0, 1, 2, 3});
  auto dcr = OpTest("DepthToSpace", 13).attr("blocksize", 2).input(x).run1();
  WQ_REQUIRE_OK(dcr);
  CHECK(dcr->shape() == Shape{1, 1, 2, 2});
  CHECK(values_of<float>(*dcr) == std::vector<float>{0, 1, 2, 3});
  auto x2 = Tensor::from_floats({1, 8, 1, 1}, iota_f(8));
  auto d2 = OpTest("DepthToSpace", 13).attr("blocksize", 2).input(x2).run1();
  WQ_REQUIRE_OK(d2);
  CHECK(values_of<float>(*d2) == std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7});
  auto c2 = OpTest("DepthToSpace", 13).attr("blocksize", 2).attr("mode", "CRD").input(x2).run1();
  WQ_REQUIRE_OK(c2);
  CHECK(values_of<float>(*c2) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  auto back = OpTest("SpaceToDepth", 13).attr("blocksize", 2).input(*d2).run1();
  WQ_REQUIRE_OK(back);
  CHECK(back->shape() == Shape{1, 8, 1, 1});
  CHECK(values_of<float>(*back) == iota_f(8));
}

TEST_CASE("Dropout in inference is the identity with an all-true mask") {
  auto x = Tensor::from_floats({2}, {1, 2});
  auto r = OpTest("Dropout", 13).input(x).outputs(2).run();
  WQ_REQUIRE_OK(r);
  CHECK((*r)[0].shares_buffer_with(x));
  CHECK(values_of<bool>((*r)[1]) == std::vector<bool>{true, true});
  auto t = OpTest("Dropout", 13).input(x).input(Tensor::from_floats({}, {0.5f})).input(make_tensor<bool>({}, {true})).run();
  CHECK(t.status().code() == StatusCode::kUnsupported);
  auto z = OpTest("Dropout", 13).input(x).input(Tensor::from_floats({}, {0.0f})).input(make_tensor<bool>({}, {true})).run1();
  WQ_REQUIRE_OK(z);
  CHECK(values_of<float>(*z) == std::vector<float>{1, 2});
}

TEST_CASE("NonZero, Compress and OneHot") {
  auto nz = OpTest("NonZero", 13).input(Tensor::from_floats({2, 2}, {1, 0, 0, 3})).run1();
  WQ_REQUIRE_OK(nz);
  CHECK(nz->shape() == Shape{2, 2});
  CHECK(values_of<int64_t>(*nz) == std::vector<int64_t>{0, 1, 0, 1});  // rows, then cols

  auto x = Tensor::from_floats({3, 2}, iota_f(6));
  auto c = OpTest("Compress", 11).attr("axis", 0).input(x).input(make_tensor<bool>({2}, {false, true})).run1();
  WQ_REQUIRE_OK(c);
  CHECK(c->shape() == Shape{1, 2});
  CHECK(values_of<float>(*c) == std::vector<float>{2, 3});
  auto flat = OpTest("Compress", 11).input(x).input(make_tensor<bool>({4}, {true, false, false, true})).run1();
  WQ_REQUIRE_OK(flat);
  CHECK(values_of<float>(*flat) == std::vector<float>{0, 3});

  auto oh = OpTest("OneHot", 11)
                .attr("axis", 0)
                .input(make_tensor<int64_t>({2}, {-1, 5}))
                .input(Tensor::from_floats({}, {3}))
                .input(Tensor::from_floats({2}, {0, 1}))
                .run1();
  WQ_REQUIRE_OK(oh);
  CHECK(oh->shape() == Shape{3, 2});
  // -1 counts from depth (2); 5 is out of range and stays all "off".
  CHECK(values_of<float>(*oh) == std::vector<float>{0, 0, 0, 0, 1, 0});
}
