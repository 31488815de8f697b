// Every backward against central finite differences of the float forward
// (train_test::check_gradients: loss = fixed random projection of the
// outputs, summed in double). Inputs are deterministic; shapes are odd; values
// near a kink (Relu at 0, Clip bounds, pool ties) are kept farther from it
// than the difference step.
#include <doctest.h>

#include <cmath>

#include "tests/core/train/train_test_util.h"

namespace wq {
namespace {

using train_test::attr_f;
using train_test::attr_i;
using train_test::attr_ints;
using train_test::attr_s;
using train_test::check_gradients;
using train_test::GradCheck;
using train_test::ModelBuilder;
using train_test::random_tensor;
using train_test::Rng;

// x -> op -> y with the gradient checked w.r.t. x.
void check_unary(const std::string& op, std::vector<onnx::AttributeProto> attrs, const Tensor& x, int64_t opset = 17,
                 const GradCheck& opt = {}) {
  ModelBuilder b(opset);
  b.input("x", x.shape()).output("y").node(op, {"x"}, {"y"}, std::move(attrs));
  check_gradients(b.build(), {{"x", x}}, {}, {"x"}, opt);
}

Tensor away_from(Shape shape, Rng& rng, const std::vector<float>& kinks, float margin, float lo, float hi) {
  Tensor t = Tensor::allocate(DType::kFloat32, std::move(shape)).value();
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    bool ok;
    do {
      v = rng.uniform(lo, hi);
      ok = true;
      for (float k : kinks) ok &= std::fabs(v - k) > margin;
    } while (!ok);
    p[i] = v;
  }
  return t;
}

TEST_SUITE("train/grad") {

TEST_CASE("Gemm: every transA/transB combination, alpha, beta and bias shape") {
  Rng rng(1);
  const int64_t m = 5, k = 7, n = 3;
  struct Bias {
    Shape shape;
    const char* what;
  };
  const Bias biases[] = {{{n}, "[N]"}, {{1, n}, "[1,N]"}, {{}, "scalar"}, {{m, n}, "[M,N]"}, {{m, 1}, "[M,1]"}};
  int variant = 0;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Bias& bias : biases) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(bias.what);
        const float alpha = (variant % 2) ? 0.75f : 1.0f, beta = (variant % 3) ? 1.5f : 1.0f;
        ++variant;
        Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, rng);
        Tensor w = random_tensor(tb ? Shape{n, k} : Shape{k, n}, rng);
        Tensor c = random_tensor(bias.shape, rng);
        ModelBuilder b;
        b.input("a", a.shape()).output("y").initializer("w", w).initializer("c", c);
        b.node("Gemm", {"a", "w", "c"}, {"y"},
               {attr_i("transA", ta), attr_i("transB", tb), attr_f("alpha", alpha), attr_f("beta", beta)});
        check_gradients(b.build(), {{"a", a}}, {"w", "c"}, {"a"});
      }
}

TEST_CASE("Gemm without bias and with a frozen (constant, prepacked) weight") {
  Rng rng(2);
  Tensor a = random_tensor({4, 9}, rng), w = random_tensor({6, 9}, rng);
  ModelBuilder b;
  b.input("a", a.shape()).output("y").initializer("w", w).node("Gemm", {"a", "w"}, {"y"}, {attr_i("transB", 1)});
  check_gradients(b.build(), {{"a", a}}, {}, {"a"});
  check_gradients(b.build(), {{"a", a}}, {"w"}, {"a"});
}

TEST_CASE("MatMul: 2-D, batched A with a 2-D weight, broadcast batches, 1-D operands") {
  Rng rng(3);
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {
      {{5, 7}, {7, 3}},       {{2, 3, 7}, {7, 5}},       {{2, 1, 3, 4}, {3, 4, 5}}, {{3, 4, 5}, {1, 5, 2}},
      {{7}, {7, 3}},          {{4, 7}, {7}},             {{2, 4, 7}, {7}},          {{7}, {2, 7, 3}},
  };
  for (const Case& c : cases) {
    CAPTURE(shape_to_string(c.a));
    CAPTURE(shape_to_string(c.b));
    Tensor a = random_tensor(c.a, rng), w = random_tensor(c.b, rng);
    ModelBuilder b;
    b.input("a", a.shape()).output("y").initializer("w", w).node("MatMul", {"a", "w"}, {"y"});
    check_gradients(b.build(), {{"a", a}}, {"w"}, {"a"});
  }
}

TEST_CASE("MatMul of two activations (attention-style batched product)") {
  Rng rng(4);
  Tensor a = random_tensor({2, 3, 4}, rng), c = random_tensor({2, 4, 5}, rng);
  ModelBuilder b;
  b.input("a", a.shape()).input("c", c.shape()).output("y").node("MatMul", {"a", "c"}, {"y"});
  check_gradients(b.build(), {{"a", a}, {"c", c}}, {}, {"a", "c"});
}

TEST_CASE("Conv: kernels, strides, pads, dilations, groups, depthwise, bias") {
  Rng rng(5);
  struct Case {
    const char* what;
    int64_t n, cin, h, w, cout, kh, kw, group;
    std::vector<int64_t> strides, pads, dilations;
    std::string auto_pad;
    bool bias;
  };
  const Case cases[] = {
      {"3x3 pad 1", 2, 3, 5, 6, 4, 3, 3, 1, {}, {1, 1, 1, 1}, {}, "", true},
      {"3x3 stride 2, asymmetric pads", 1, 2, 7, 6, 3, 3, 3, 1, {2, 2}, {1, 0, 0, 2}, {}, "", true},
      {"2x3 dilation 2", 2, 2, 7, 8, 3, 2, 3, 1, {}, {0, 1, 0, 1}, {2, 2}, "", false},
      {"1x1", 2, 5, 3, 4, 3, 1, 1, 1, {}, {}, {}, "", true},
      {"groups 2", 1, 4, 5, 5, 6, 3, 3, 2, {}, {1, 1, 1, 1}, {}, "", true},
      {"depthwise", 2, 3, 6, 5, 3, 3, 3, 3, {}, {1, 1, 1, 1}, {}, "", true},
      {"depthwise x2 multiplier, stride 2", 1, 3, 7, 7, 6, 3, 3, 3, {2, 2}, {1, 1, 1, 1}, {}, "", true},
      {"5x5 SAME_UPPER stride 2", 1, 2, 9, 7, 3, 5, 5, 1, {2, 2}, {}, {}, "SAME_UPPER", true},
      {"stride 3, no pad, odd size", 1, 3, 11, 10, 2, 3, 2, 1, {3, 3}, {}, {}, "", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Tensor x = random_tensor({c.n, c.cin, c.h, c.w}, rng);
    Tensor w = random_tensor({c.cout, c.cin / c.group, c.kh, c.kw}, rng, -0.5f, 0.5f);
    Tensor bias = random_tensor({c.cout}, rng);
    std::vector<onnx::AttributeProto> attrs = {attr_i("group", c.group)};
    if (!c.strides.empty()) attrs.push_back(attr_ints("strides", c.strides));
    if (!c.pads.empty()) attrs.push_back(attr_ints("pads", c.pads));
    if (!c.dilations.empty()) attrs.push_back(attr_ints("dilations", c.dilations));
    if (!c.auto_pad.empty()) attrs.push_back(attr_s("auto_pad", c.auto_pad));
    ModelBuilder b;
    b.input("x", x.shape()).output("y").initializer("w", w);
    std::vector<std::string> params = {"w"};
    if (c.bias) {
      b.initializer("b", bias).node("Conv", {"x", "w", "b"}, {"y"}, attrs);
      params.push_back("b");
    } else {
      b.node("Conv", {"x", "w"}, {"y"}, attrs);
    }
    check_gradients(b.build(), {{"x", x}}, params, {"x"});
  }
}

TEST_CASE("Conv: a large input exercises the blocked im2col path") {
  Rng rng(6);
  // K = 2 * 3 * 3 = 18, so a block is 14563 pixels; 1 x 2 x 130 x 130 has 16900 (two blocks).
  Tensor x = random_tensor({1, 2, 130, 130}, rng);
  Tensor w = random_tensor({2, 2, 3, 3}, rng, -0.5f, 0.5f);
  ModelBuilder b;
  b.input("x", x.shape()).output("y").initializer("w", w).node("Conv", {"x", "w"}, {"y"}, {attr_ints("pads", {1, 1, 1, 1})});
  GradCheck opt;
  opt.max_checks = 12;
  check_gradients(b.build(), {{"x", x}}, {"w"}, {"x"}, opt);
}

TEST_CASE("BatchNormalization: training (batch statistics) and inference mode") {
  Rng rng(7);
  for (TrainMode mode : {TrainMode::kTrain, TrainMode::kEval}) {
    CAPTURE(static_cast<int>(mode));
    Tensor x = random_tensor({3, 4, 3, 5}, rng, -2.0f, 2.0f);
    Tensor scale = random_tensor({4}, rng, 0.5f, 1.5f), bias = random_tensor({4}, rng);
    Tensor mean = random_tensor({4}, rng), var = random_tensor({4}, rng, 0.5f, 2.0f);
    ModelBuilder b;
    b.input("x", x.shape()).output("y").initializer("scale", scale).initializer("bias", bias);
    b.initializer("mean", mean).initializer("var", var);
    b.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"}, {attr_f("epsilon", 1e-3f)});
    GradCheck opt;
    opt.mode = mode;
    check_gradients(b.build(), {{"x", x}}, {"scale", "bias"}, {"x"}, opt);
  }
}

TEST_CASE("BatchNormalization on [N, C] (after a Gemm)") {
  Rng rng(8);
  Tensor x = random_tensor({6, 3}, rng, -2.0f, 2.0f);
  ModelBuilder b;
  b.input("x", x.shape()).output("y").initializer("scale", random_tensor({3}, rng, 0.5f, 1.5f));
  b.initializer("bias", random_tensor({3}, rng)).initializer("mean", random_tensor({3}, rng));
  b.initializer("var", random_tensor({3}, rng, 0.5f, 2.0f));
  b.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  check_gradients(b.build(), {{"x", x}}, {"scale", "bias"}, {"x"});
}

TEST_CASE("activations") {
  Rng rng(9);
  const Shape shape = {3, 5, 7};
  const float h = GradCheck().step;
  check_unary("Relu", {}, away_from(shape, rng, {0.0f}, 3 * h, -2.0f, 2.0f));
  check_unary("LeakyRelu", {attr_f("alpha", 0.1f)}, away_from(shape, rng, {0.0f}, 3 * h, -2.0f, 2.0f));
  // HardSigmoid kinks where alpha * x + beta is 0 or 1: x = -beta/alpha, (1 - beta)/alpha.
  check_unary("HardSigmoid", {attr_f("alpha", 0.3f), attr_f("beta", 0.4f)},
              away_from(shape, rng, {-0.4f / 0.3f, 0.6f / 0.3f}, 3 * h, -3.0f, 3.0f));
  check_unary("HardSwish", {}, away_from(shape, rng, {-3.0f, 3.0f}, 3 * h, -4.5f, 4.5f));
  check_unary("Sigmoid", {}, random_tensor(shape, rng, -4.0f, 4.0f));
  check_unary("Tanh", {}, random_tensor(shape, rng, -2.0f, 2.0f));
  check_unary("Erf", {}, random_tensor(shape, rng, -2.0f, 2.0f));
  check_unary("Gelu", {}, random_tensor(shape, rng, -3.0f, 3.0f), 20);
  check_unary("Gelu", {attr_s("approximate", "tanh")}, random_tensor(shape, rng, -3.0f, 3.0f), 20);
  check_unary("Identity", {}, random_tensor(shape, rng));
  check_unary("Softmax", {}, random_tensor(shape, rng, -3.0f, 3.0f));
  check_unary("Softmax", {attr_i("axis", 1)}, random_tensor(shape, rng, -3.0f, 3.0f));
  // Opset 11: softmax over the flattened dims from axis 1.
  check_unary("Softmax", {attr_i("axis", 1)}, random_tensor(shape, rng, -3.0f, 3.0f), 11);
}

TEST_CASE("Clip: bounds from inputs (opset 11+) and from attributes (opset 6..10)") {
  Rng rng(10);
  const float h = GradCheck().step;
  Tensor x = away_from({4, 9}, rng, {-0.5f, 0.8f}, 3 * h, -2.0f, 2.0f);
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("lo", Tensor::from_floats({}, {-0.5f}));
    b.initializer("hi", Tensor::from_floats({}, {0.8f})).node("Clip", {"x", "lo", "hi"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    ModelBuilder b(13);  // only a lower bound (Relu6-like exports give both; this gives one)
    b.input("x", x.shape()).output("y").initializer("lo", Tensor::from_floats({}, {-0.5f}));
    b.node("Clip", {"x", "lo"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  check_unary("Clip", {attr_f("min", -0.5f), attr_f("max", 0.8f)}, x, 9);
}

TEST_CASE("Add, Sub, Mul, Div with broadcasting") {
  Rng rng(11);
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}}, {{2, 3, 4}, {}}, {{1, 4}, {3, 1}}, {{5}, {2, 3, 5}}};
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const Case& c : cases) {
      CAPTURE(op);
      CAPTURE(shape_to_string(c.a));
      CAPTURE(shape_to_string(c.b));
      Tensor a = random_tensor(c.a, rng);
      // Divisors kept away from 0.
      Tensor d = Tensor::allocate(DType::kFloat32, c.b).value();
      for (int64_t i = 0; i < d.numel(); ++i) d.mutable_data<float>()[i] = rng.away_from_zero(0.5f, 1.5f);
      ModelBuilder b;
      b.input("a", a.shape()).input("b", d.shape()).output("y").node(op, {"a", "b"}, {"y"});
      check_gradients(b.build(), {{"a", a}, {"b", d}}, {}, {"a", "b"});
    }
  }
}

TEST_CASE("the same value used twice (x * x, x + x) accumulates both gradients") {
  Rng rng(12);
  Tensor x = random_tensor({3, 4}, rng);
  ModelBuilder b;
  b.input("x", x.shape()).output("y").output("z").node("Mul", {"x", "x"}, {"y"}).node("Add", {"x", "y"}, {"t"});
  b.node("Identity", {"t"}, {"z"});
  check_gradients(b.build(), {{"x", x}}, {}, {"x"});
}

TEST_CASE("Erf-based Gelu decomposition (as PyTorch exports it)") {
  Rng rng(13);
  Tensor x = random_tensor({4, 6}, rng, -3.0f, 3.0f);
  ModelBuilder b(13);
  b.input("x", x.shape()).output("y");
  b.initializer("sqrt2", Tensor::from_floats({}, {1.4142135f})).initializer("one", Tensor::from_floats({}, {1.0f}));
  b.initializer("half", Tensor::from_floats({}, {0.5f}));
  b.node("Div", {"x", "sqrt2"}, {"d"}).node("Erf", {"d"}, {"e"}).node("Add", {"e", "one"}, {"p"});
  b.node("Mul", {"x", "p"}, {"q"}).node("Mul", {"q", "half"}, {"y"});
  check_gradients(b.build(), {{"x", x}}, {}, {"x"});
}

// Values whose windows have a unique maximum, with gaps wider than the step.
Tensor distinct_values(Shape shape, Rng& rng) {
  Tensor t = Tensor::allocate(DType::kFloat32, std::move(shape)).value();
  const int64_t n = t.numel();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(rng.below(i + 1))]);
  for (int64_t i = 0; i < n; ++i) t.mutable_data<float>()[i] = -2.0f + 0.05f * static_cast<float>(perm[static_cast<size_t>(i)]);
  return t;
}

TEST_CASE("MaxPool and AveragePool") {
  Rng rng(14);
  struct Case {
    const char* op;
    std::vector<int64_t> kernel, strides, pads;
    int64_t ceil, count_include_pad;
  };
  const Case cases[] = {
      {"MaxPool", {2, 2}, {2, 2}, {}, 0, 0},         {"MaxPool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0},
      {"MaxPool", {3, 2}, {2, 2}, {}, 1, 0},         {"AveragePool", {2, 2}, {2, 2}, {}, 0, 0},
      {"AveragePool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0}, {"AveragePool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 1},
      {"AveragePool", {3, 2}, {1, 2}, {0, 1, 1, 0}, 1, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.op);
    CAPTURE(shape_to_string(c.kernel));
    Tensor x = distinct_values({2, 3, 7, 5}, rng);
    std::vector<onnx::AttributeProto> attrs = {attr_ints("kernel_shape", c.kernel), attr_ints("strides", c.strides),
                                               attr_i("ceil_mode", c.ceil)};
    if (!c.pads.empty()) attrs.push_back(attr_ints("pads", c.pads));
    if (std::string(c.op) == "AveragePool") attrs.push_back(attr_i("count_include_pad", c.count_include_pad));
    check_unary(c.op, attrs, x);
  }
  check_unary("GlobalAveragePool", {}, random_tensor({2, 3, 5, 4}, rng));
}

TEST_CASE("Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat") {
  Rng rng(15);
  Tensor x = random_tensor({2, 3, 4}, rng);
  check_unary("Flatten", {attr_i("axis", 2)}, x);
  check_unary("Transpose", {attr_ints("perm", {1, 2, 0})}, x);
  check_unary("Transpose", {}, x);
  {
    ModelBuilder b;
    b.input("x", x.shape()).output("y").initializer("shape", Tensor::from_int64s({2}, {4, -1}));
    b.node("Reshape", {"x", "shape"}, {"r"}).node("Mul", {"r", "r"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    ModelBuilder b;
    b.input("x", {2, 1, 4}).output("y").initializer("axes", Tensor::from_int64s({1}, {1}));
    b.node("Squeeze", {"x", "axes"}, {"s"}).node("Unsqueeze", {"s", "axes"}, {"u"}).node("Mul", {"u", "u"}, {"y"});
    check_gradients(b.build(), {{"x", random_tensor({2, 1, 4}, rng)}}, {}, {"x"});
  }
  for (int64_t axis : {0, 1, -1}) {
    CAPTURE(axis);
    Shape sa = {2, 3, 4}, sb = {2, 3, 4};
    sb[static_cast<size_t>(axis < 0 ? 2 : axis)] = 5;
    Tensor a = random_tensor(sa, rng), c = random_tensor(sb, rng);
    ModelBuilder b;
    b.input("a", sa).input("c", sb).output("y").node("Concat", {"a", "c", "a"}, {"y"}, {attr_i("axis", axis)});
    check_gradients(b.build(), {{"a", a}, {"c", c}}, {}, {"a", "c"});
  }
}

TEST_CASE("LayerNormalization over the last axis and over the last two") {
  Rng rng(16);
  {
    Tensor x = random_tensor({3, 4, 6}, rng, -2.0f, 2.0f);
    ModelBuilder b;
    b.input("x", x.shape()).output("y").initializer("s", random_tensor({6}, rng, 0.5f, 1.5f));
    b.initializer("b", random_tensor({6}, rng));
    b.node("LayerNormalization", {"x", "s", "b"}, {"y"}, {attr_f("epsilon", 1e-4f)});
    check_gradients(b.build(), {{"x", x}}, {"s", "b"}, {"x"});
  }
  {
    Tensor x = random_tensor({3, 4, 5}, rng, -2.0f, 2.0f);
    ModelBuilder b;
    // Scale broadcast over the normalized [4, 5] from [5]; no bias.
    b.input("x", x.shape()).output("y").initializer("s", random_tensor({5}, rng, 0.5f, 1.5f));
    b.node("LayerNormalization", {"x", "s"}, {"y"}, {attr_i("axis", 1)});
    check_gradients(b.build(), {{"x", x}}, {"s"}, {"x"});
  }
}

TEST_CASE("Dropout: identity in eval mode and with dropout off; masked and scaled in train mode") {
  Rng rng(17);
  Tensor x = random_tensor({4, 50}, rng);
  ModelBuilder b(13);
  b.input("x", x.shape()).output("y").initializer("ratio", Tensor::from_floats({}, {0.25f}));
  b.node("Dropout", {"x", "ratio"}, {"y"});
  const Graph g = b.build();
  check_gradients(g, {{"x", x}}, {}, {"x"});
  TrainSessionOptions so;
  so.dropout = true;
  so.input_gradients = {"x"};
  auto s = train_test::make_session(g, so);
  auto eval = s->forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(eval.ok());
  CHECK(train_test::floats_of(eval->at("y")) == train_test::floats_of(x));
  auto train = s->forward({{"x", x}}, TrainMode::kTrain);
  REQUIRE(train.ok());
  const std::vector<float> y = train_test::floats_of(train->at("y")), xs = train_test::floats_of(x);
  int dropped = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0.0f) {
      ++dropped;
    } else {
      CHECK(y[i] == doctest::Approx(xs[i] / 0.75f).epsilon(1e-6));
    }
  }
  CHECK(dropped > 25);  // 200 elements at 25%: 50 expected
  CHECK(dropped < 80);
  Tensor ones = Tensor::from_floats(x.shape(), std::vector<float>(200, 1.0f));
  REQUIRE(s->backward({{"y", ones}}).ok());
  const std::vector<float> dx = train_test::floats_of(*s->input_gradient("x"));
  for (size_t i = 0; i < y.size(); ++i) CHECK(dx[i] == (y[i] == 0.0f ? 0.0f : 1.0f / 0.75f));
  // Same seed, same masks.
  auto s2 = train_test::make_session(g, so);
  auto train2 = s2->forward({{"x", x}}, TrainMode::kTrain);
  REQUIRE(train2.ok());
  CHECK(train_test::floats_of(train2->at("y")) == y);
}

TEST_CASE("unary math: Sqrt, Exp, Log, Neg, Reciprocal") {
  Rng rng(18);
  const Shape shape = {3, 7};
  check_unary("Sqrt", {}, random_tensor(shape, rng, 0.5f, 3.0f));
  check_unary("Exp", {}, random_tensor(shape, rng, -2.0f, 1.5f));
  check_unary("Log", {}, random_tensor(shape, rng, 0.5f, 3.0f));
  check_unary("Neg", {}, random_tensor(shape, rng));
  Tensor r = Tensor::allocate(DType::kFloat32, shape).value();
  for (int64_t i = 0; i < r.numel(); ++i) r.mutable_data<float>()[i] = rng.away_from_zero(0.5f, 2.0f);
  check_unary("Reciprocal", {}, r);
}

TEST_CASE("Pow: constant exponents of float and integer type, and a trained exponent") {
  Rng rng(19);
  Tensor x = random_tensor({3, 5}, rng, 0.5f, 2.0f);
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("two", Tensor::from_floats({}, {2.0f}));
    b.node("Pow", {"x", "two"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("three", Tensor::from_int64s({}, {3}));
    b.node("Pow", {"x", "three"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    ModelBuilder b(13);  // a per-column exponent, trained, broadcast over rows
    b.input("x", x.shape()).output("y").initializer("p", random_tensor({5}, rng, 0.5f, 2.5f));
    b.node("Pow", {"x", "p"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {"p"}, {"x"});
  }
}

TEST_CASE("ReduceMean and ReduceSum: axes from attributes and from inputs, keepdims, all axes") {
  Rng rng(20);
  Tensor x = random_tensor({2, 3, 4}, rng);
  check_unary("ReduceMean", {attr_ints("axes", {-1})}, x, 13);
  check_unary("ReduceMean", {attr_ints("axes", {0, 2}), attr_i("keepdims", 0)}, x, 13);
  check_unary("ReduceMean", {}, x, 13);
  {
    ModelBuilder b(18);
    b.input("x", x.shape()).output("y").initializer("axes", Tensor::from_int64s({1}, {1}));
    b.node("ReduceMean", {"x", "axes"}, {"y"}, {attr_i("keepdims", 0)});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("axes", Tensor::from_int64s({2}, {0, -1}));
    b.node("ReduceSum", {"x", "axes"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
}

TEST_CASE("LayerNorm decomposed as opset-13 exports write it (ReduceMean, Sub, Pow, Sqrt, Div)") {
  Rng rng(21);
  Tensor x = random_tensor({3, 4, 6}, rng, -2.0f, 2.0f);
  ModelBuilder b(13);
  b.input("x", x.shape()).output("y").initializer("two", Tensor::from_floats({}, {2.0f}));
  b.initializer("eps", Tensor::from_floats({}, {1e-5f})).initializer("gamma", random_tensor({6}, rng, 0.5f, 1.5f));
  b.initializer("beta", random_tensor({6}, rng));
  b.node("ReduceMean", {"x"}, {"m"}, {attr_ints("axes", {-1})}).node("Sub", {"x", "m"}, {"d"});
  b.node("Pow", {"d", "two"}, {"d2"}).node("ReduceMean", {"d2"}, {"v"}, {attr_ints("axes", {-1})});
  b.node("Add", {"v", "eps"}, {"ve"}).node("Sqrt", {"ve"}, {"sd"}).node("Div", {"d", "sd"}, {"n"});
  b.node("Mul", {"n", "gamma"}, {"s"}).node("Add", {"s", "beta"}, {"y"});
  check_gradients(b.build(), {{"x", x}}, {"gamma", "beta"}, {"x"});
}

TEST_CASE("Slice (attributes and inputs, negative steps) and Gather (embeddings, repeated and negative indices)") {
  Rng rng(22);
  Tensor x = random_tensor({4, 5, 6}, rng);
  check_unary("Slice", {attr_ints("starts", {1, 0}), attr_ints("ends", {3, 100}), attr_ints("axes", {0, 2})}, x, 9);
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("starts", Tensor::from_int64s({2}, {-1, 4}));
    b.initializer("ends", Tensor::from_int64s({2}, {-100, 0})).initializer("axes", Tensor::from_int64s({2}, {1, 2}));
    b.initializer("steps", Tensor::from_int64s({2}, {-2, -1}));
    b.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
  {
    // Embedding lookup: table [7, 3] trained, token 2 used twice.
    ModelBuilder b(13);
    b.input("ids", {2, 3}, DType::kInt64).output("y").initializer("table", random_tensor({7, 3}, rng));
    b.node("Gather", {"table", "ids"}, {"y"});
    check_gradients(b.build(), {{"ids", Tensor::from_int64s({2, 3}, {2, 0, 6, 2, 5, 1})}}, {"table"}, {});
  }
  {
    ModelBuilder b(13);
    b.input("x", x.shape()).output("y").initializer("idx", Tensor::from_int64s({3}, {-1, 0, 3}));
    b.node("Gather", {"x", "idx"}, {"y"}, {attr_i("axis", 1)});
    check_gradients(b.build(), {{"x", x}}, {}, {"x"});
  }
}

TEST_CASE("Cast: float to float carries the gradient; a cast to integers is off the gradient path") {
  Rng rng(23);
  Tensor x = random_tensor({3, 4}, rng);
  check_unary("Cast", {attr_i("to", 1)}, x, 13);
  ModelBuilder b(13);
  // y = x * float(int(x > ...)): the integer branch carries no gradient.
  b.input("x", x.shape()).output("y").node("Cast", {"x"}, {"xi"}, {attr_i("to", 7)});
  b.node("Cast", {"xi"}, {"xf"}, {attr_i("to", 1)}).node("Mul", {"x", "xf"}, {"y"});
  check_gradients(b.build(), {{"x", random_tensor({3, 4}, rng, -3.0f, 3.0f)}}, {}, {"x"});
}

}  // TEST_SUITE
}  // namespace
}  // namespace wq
