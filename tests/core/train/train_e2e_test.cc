// End to end: small models built here learn synthetic separable problems
// (labels and distillation), and divergence stops training with the last
// good weights kept.
#include <doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/train/trainer.h"
#include "tests/core/train/train_test_util.h"

namespace wq {
namespace {

using train_test::attr_i;
using train_test::attr_ints;
using train_test::contains;
using train_test::floats_of;
using train_test::make_session;
using train_test::ModelBuilder;
using train_test::random_tensor;
using train_test::Rng;

// He-style uniform init for a weight with `fan_in` inputs.
Tensor init_weight(Shape shape, int64_t fan_in, Rng& rng) {
  const float a = std::sqrt(6.0f / static_cast<float>(fan_in));
  return random_tensor(std::move(shape), rng, -a, a);
}

Graph mlp(Rng& rng, int64_t in, int64_t hidden, int64_t classes) {
  ModelBuilder b;
  b.input("x", {-1, in}).output("logits");
  b.initializer("w1", init_weight({hidden, in}, in, rng)).initializer("b1", Tensor::from_floats({hidden}, std::vector<float>(hidden, 0.0f)));
  b.initializer("w2", init_weight({classes, hidden}, hidden, rng));
  b.initializer("b2", Tensor::from_floats({classes}, std::vector<float>(classes, 0.0f)));
  b.node("Gemm", {"x", "w1", "b1"}, {"h"}, {attr_i("transB", 1)});
  b.node("Relu", {"h"}, {"r"});
  b.node("Gemm", {"r", "w2", "b2"}, {"logits"}, {attr_i("transB", 1)});
  return b.build();
}

// Three Gaussian blobs in the plane, well apart.
void blobs(Rng& rng, int64_t n, Tensor* x, Tensor* labels) {
  const float cx[3] = {2.0f, -1.0f, -1.0f}, cy[3] = {0.0f, 1.7f, -1.7f};
  *x = Tensor::allocate(DType::kFloat32, {n, 2}).value();
  *labels = Tensor::allocate(DType::kInt64, {n}).value();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 3;
    // Sum of uniforms: roughly normal, std 0.4.
    float dx = 0, dy = 0;
    for (int k = 0; k < 4; ++k) dx += rng.uniform(-0.35f, 0.35f), dy += rng.uniform(-0.35f, 0.35f);
    x->mutable_data<float>()[2 * i] = cx[c] + dx;
    x->mutable_data<float>()[2 * i + 1] = cy[c] + dy;
    labels->mutable_data<int64_t>()[i] = c;
  }
}

// Rows [begin, begin + count) of a tensor.
Tensor rows(const Tensor& t, int64_t begin, int64_t count) {
  Shape s = t.shape();
  const int64_t row = t.numel() / s[0];
  s[0] = count;
  Tensor out = Tensor::allocate(t.dtype(), s).value();
  const size_t bytes = dtype_storage_bytes(t.dtype(), row);
  std::memcpy(out.mutable_raw(), static_cast<const uint8_t*>(t.raw()) + begin * bytes, count * bytes);
  return out;
}

std::unique_ptr<Trainer> make_trainer(const Graph& g, std::unique_ptr<Optimizer> opt, TrainerOptions to = {}) {
  Result<std::unique_ptr<Trainer>> t = Trainer::create(make_session(g), std::move(opt), to);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return std::move(t).value();
}

// 8x8 images of a bright horizontal bar, vertical bar or diagonal, on noise.
void bars(Rng& rng, int64_t n, Tensor* x, Tensor* labels) {
  *x = Tensor::allocate(DType::kFloat32, {n, 1, 8, 8}).value();
  *labels = Tensor::allocate(DType::kInt64, {n}).value();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 3, at = 1 + rng.below(6);
    float* img = x->mutable_data<float>() + i * 64;
    for (int64_t p = 0; p < 64; ++p) img[p] = rng.uniform(0.0f, 0.3f);
    for (int64_t k = 0; k < 8; ++k) {
      if (c == 0) img[at * 8 + k] += 1.0f;
      if (c == 1) img[k * 8 + at] += 1.0f;
      if (c == 2) img[k * 8 + (k + at) % 8] += 1.0f;
    }
    labels->mutable_data<int64_t>()[i] = c;
  }
}

Graph small_cnn(Rng& rng) {
  ModelBuilder b(13);
  b.input("x", {-1, 1, 8, 8}).output("logits");
  b.initializer("w1", init_weight({4, 1, 3, 3}, 9, rng)).initializer("b1", Tensor::from_floats({4}, {0, 0, 0, 0}));
  b.initializer("s1", Tensor::from_floats({4}, {1, 1, 1, 1})).initializer("o1", Tensor::from_floats({4}, {0, 0, 0, 0}));
  b.initializer("m1", Tensor::from_floats({4}, {0, 0, 0, 0})).initializer("v1", Tensor::from_floats({4}, {1, 1, 1, 1}));
  b.initializer("w2", init_weight({8, 4, 3, 3}, 36, rng)).initializer("b2", Tensor::from_floats({8}, std::vector<float>(8, 0.0f)));
  b.initializer("w3", init_weight({3, 8}, 8, rng)).initializer("b3", Tensor::from_floats({3}, {0, 0, 0}));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {attr_ints("pads", {1, 1, 1, 1})});
  b.node("BatchNormalization", {"c1", "s1", "o1", "m1", "v1"}, {"n1"});
  b.node("Relu", {"n1"}, {"r1"});
  b.node("MaxPool", {"r1"}, {"p1"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})});
  b.node("Conv", {"p1", "w2", "b2"}, {"c2"}, {attr_ints("pads", {1, 1, 1, 1})});
  b.node("Relu", {"c2"}, {"r2"});
  b.node("GlobalAveragePool", {"r2"}, {"g"});
  b.node("Flatten", {"g"}, {"f"});
  b.node("Gemm", {"f", "w3", "b3"}, {"logits"}, {attr_i("transB", 1)});
  return b.build();
}

TEST_SUITE("train/e2e") {

TEST_CASE("an MLP learns three blobs with SGD + momentum: the loss drops tenfold, accuracy near 100%") {
  Rng rng(31);
  Tensor x, y;
  blobs(rng, 192, &x, &y);
  SgdOptions so;
  so.learning_rate = 0.05f;
  so.momentum = 0.9f;
  auto t = make_trainer(mlp(rng, 2, 16, 3), make_sgd(so).value());
  const StepResult before = t->evaluate({{"x", x}}, y).value();
  for (int epoch = 0; epoch < 15; ++epoch)
    for (int64_t b = 0; b < 192; b += 32) {
      Result<StepResult> r = t->step({{"x", rows(x, b, 32)}}, rows(y, b, 32));
      REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    }
  const StepResult after = t->evaluate({{"x", x}}, y).value();
  INFO("MLP loss " << before.loss << " -> " << after.loss << ", accuracy " << after.correct << "/192");
  CHECK(after.loss < 0.1f * before.loss);
  CHECK(after.correct >= 188);
  CHECK(t->steps() == 90);
}

TEST_CASE("a CNN (Conv, BatchNorm, MaxPool, GlobalAveragePool) learns bar orientations with Adam") {
  Rng rng(32);
  Tensor x, y;
  bars(rng, 144, &x, &y);
  AdamOptions ao;
  ao.learning_rate = 0.02f;
  auto t = make_trainer(small_cnn(rng), make_adam(ao).value());
  const StepResult before = t->evaluate({{"x", x}}, y).value();
  for (int epoch = 0; epoch < 25; ++epoch)
    for (int64_t b = 0; b < 144; b += 16) {
      Result<StepResult> r = t->step({{"x", rows(x, b, 16)}}, rows(y, b, 16));
      REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    }
  const StepResult after = t->evaluate({{"x", x}}, y).value();
  INFO("CNN loss " << before.loss << " -> " << after.loss << ", accuracy " << after.correct << "/144");
  CHECK(after.loss < 0.2f * before.loss);
  CHECK(after.correct >= 137);
  // Fresh data from the same distribution.
  Tensor xt, yt;
  bars(rng, 60, &xt, &yt);
  CHECK(t->evaluate({{"x", xt}}, yt)->correct >= 55);
}

TEST_CASE("distillation without labels: a student matches a teacher's outputs") {
  Rng rng(33);
  const Graph teacher_graph = mlp(rng, 4, 12, 5);
  auto teacher = make_session(teacher_graph);
  Tensor x = random_tensor({128, 4}, rng, -2.0f, 2.0f);
  const Tensor teacher_logits = teacher->forward({{"x", x}}, TrainMode::kEval)->at("logits");
  AdamOptions ao;
  ao.learning_rate = 0.01f;
  TrainerOptions to;
  to.loss = LossKind::kDistillation;
  to.temperature = 2.0f;
  auto t = make_trainer(mlp(rng, 4, 24, 5), make_adam(ao).value(), to);
  const StepResult before = t->evaluate({{"x", x}}, teacher_logits).value();
  for (int epoch = 0; epoch < 40; ++epoch)
    for (int64_t b = 0; b < 128; b += 32) {
      Result<StepResult> r = t->step({{"x", rows(x, b, 32)}}, rows(teacher_logits, b, 32));
      REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    }
  const StepResult after = t->evaluate({{"x", x}}, teacher_logits).value();
  INFO("distillation loss " << before.loss << " -> " << after.loss << ", top-1 agreement " << after.correct << "/128");
  CHECK(after.loss < 0.1f * before.loss);
  CHECK(after.correct >= 115);
}

TEST_CASE("a NaN loss stops training with kNumericError naming the step; the last good weights are kept") {
  Rng rng(34);
  Tensor x = random_tensor({96, 2}, rng);
  Tensor target = random_tensor({96, 3}, rng);
  SgdOptions so;
  so.learning_rate = 0.05f;
  TrainerOptions to;
  to.loss = LossKind::kMse;
  auto t = make_trainer(mlp(rng, 2, 8, 3), make_sgd(so).value(), to);
  std::vector<TrainWeights> at_start;
  for (int64_t step = 0; step < 3; ++step) {
    at_start.emplace_back();
    REQUIRE(t->session().save_weights(&at_start.back()).ok());
    REQUIRE(t->step({{"x", rows(x, step * 32, 32)}}, rows(target, step * 32, 32)).ok());
  }
  // Step 3 has a NaN target: its loss is NaN.
  Tensor bad = rows(target, 0, 32);
  bad.mutable_data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  Result<StepResult> r = t->step({{"x", rows(x, 0, 32)}}, bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kNumericError);
  CHECK_MESSAGE(contains(r.status().message(), "step 3: loss is NaN"), r.status().message());
  // Kept: the weights step 2 started from (the last with a finite loss).
  for (const TrainParameter& p : t->session().parameters())
    CHECK_MESSAGE(floats_of(p.value) == floats_of(at_start[2].values.at(p.name)), p.name);
  // Training stays stopped.
  Result<StepResult> again = t->step({{"x", rows(x, 0, 32)}}, rows(target, 0, 32));
  CHECK(again.status().code() == StatusCode::kNumericError);
  CHECK(t->steps() == 3);
}

TEST_CASE("a non-finite gradient with a finite loss keeps the weights of that step") {
  Rng rng(37);
  Tensor x, y;
  blobs(rng, 64, &x, &y);
  auto t = make_trainer(mlp(rng, 2, 8, 3), make_sgd(SgdOptions()).value());
  REQUIRE(t->step({{"x", rows(x, 0, 32)}}, rows(y, 0, 32)).ok());
  TrainWeights start;
  REQUIRE(t->session().save_weights(&start).ok());
  // Relu turns the NaN activation into 0, so the loss stays finite, but
  // dL/dW1 = dH^T X carries the NaN input.
  Tensor bad = rows(x, 32, 32);
  bad.mutable_data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  Result<StepResult> r = t->step({{"x", bad}}, rows(y, 32, 32));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kNumericError);
  CHECK_MESSAGE(contains(r.status().message(), "step 1: the gradient of 'w1' is not finite"), r.status().message());
  for (const TrainParameter& p : t->session().parameters())
    CHECK_MESSAGE(floats_of(p.value) == floats_of(start.values.at(p.name)), p.name);
}

TEST_CASE("a diverging learning rate is detected, and the kept weights are finite") {
  Rng rng(35);
  Tensor x, y;
  blobs(rng, 96, &x, &y);
  SgdOptions so;
  so.learning_rate = 1e6f;
  so.momentum = 0.9f;
  auto t = make_trainer(mlp(rng, 2, 8, 3), make_sgd(so).value());
  Status failure;
  int64_t step = 0;
  for (; step < 200 && failure.ok(); ++step) {
    Result<StepResult> r = t->step({{"x", rows(x, (step % 3) * 32, 32)}}, rows(y, (step % 3) * 32, 32));
    if (!r.ok()) failure = r.status();
  }
  REQUIRE_FALSE(failure.ok());
  CHECK(failure.code() == StatusCode::kNumericError);
  CHECK(contains(failure.message(), "step " + std::to_string(step - 1)));
  for (const TrainParameter& p : t->session().parameters())
    for (float v : floats_of(p.value)) REQUIRE(std::isfinite(v));
  // The kept weights give a finite loss.
  CHECK(std::isfinite(t->evaluate({{"x", x}}, y)->loss));
}

TEST_CASE("bad batches are errors that leave the weights and statistics untouched") {
  Rng rng(36);
  Tensor x, y;
  bars(rng, 16, &x, &y);
  SgdOptions so;
  auto t = make_trainer(small_cnn(rng), make_sgd(so).value());
  TrainWeights before;
  REQUIRE(t->session().save_weights(&before).ok());
  Tensor labels = y.clone().value();
  labels.mutable_data<int64_t>()[7] = 3;
  Result<StepResult> r = t->step({{"x", x}}, labels);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "sample 7"));
  r = t->step({{"x", x}}, rows(y, 0, 15));
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "16 samples"));
  r = t->step({{"x", random_tensor({16, 1, 8, 9}, rng)}}, y);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  TrainWeights after;
  REQUIRE(t->session().save_weights(&after).ok());
  for (const auto& kv : before.values) CHECK_MESSAGE(floats_of(kv.second) == floats_of(after.values.at(kv.first)), kv.first);
  // And training goes on.
  CHECK(t->step({{"x", x}}, y).ok());
  CHECK(Trainer::create(make_session(small_cnn(rng)), make_sgd(so).value(), {"nope"}).status().code() ==
        StatusCode::kInvalidArgument);
}

}  // TEST_SUITE

// Throughput of the MNIST CNN architecture (examples/models/mnist_cnn.onnx:
// Conv 1->16, BN, Relu, MaxPool, Conv 16->32, BN, Relu, MaxPool, Gemm 1568->64,
// Relu, Gemm 64->10) on random 28x28 batches of 64 with Adam. Skipped by
// default: run with -ts=train-bench --no-skip.
TEST_SUITE("train-bench") {

TEST_CASE("MNIST CNN training throughput" * doctest::skip()) {
  Rng rng(41);
  ModelBuilder b(13);
  b.input("input", {-1, 1, 28, 28}).output("logits");
  b.initializer("w1", init_weight({16, 1, 3, 3}, 9, rng)).initializer("b1", Tensor::zeros(DType::kFloat32, {16}).value());
  b.initializer("s1", Tensor::from_floats({16}, std::vector<float>(16, 1.0f))).initializer("o1", Tensor::zeros(DType::kFloat32, {16}).value());
  b.initializer("m1", Tensor::zeros(DType::kFloat32, {16}).value()).initializer("v1", Tensor::from_floats({16}, std::vector<float>(16, 1.0f)));
  b.initializer("w2", init_weight({32, 16, 3, 3}, 144, rng)).initializer("b2", Tensor::zeros(DType::kFloat32, {32}).value());
  b.initializer("s2", Tensor::from_floats({32}, std::vector<float>(32, 1.0f))).initializer("o2", Tensor::zeros(DType::kFloat32, {32}).value());
  b.initializer("m2", Tensor::zeros(DType::kFloat32, {32}).value()).initializer("v2", Tensor::from_floats({32}, std::vector<float>(32, 1.0f)));
  b.initializer("w3", init_weight({64, 1568}, 1568, rng)).initializer("b3", Tensor::zeros(DType::kFloat32, {64}).value());
  b.initializer("w4", init_weight({10, 64}, 64, rng)).initializer("b4", Tensor::zeros(DType::kFloat32, {10}).value());
  const std::vector<onnx::AttributeProto> pad = {attr_ints("pads", {1, 1, 1, 1})};
  const std::vector<onnx::AttributeProto> pool = {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})};
  b.node("Conv", {"input", "w1", "b1"}, {"c1"}, pad).node("BatchNormalization", {"c1", "s1", "o1", "m1", "v1"}, {"n1"});
  b.node("Relu", {"n1"}, {"r1"}).node("MaxPool", {"r1"}, {"p1"}, pool);
  b.node("Conv", {"p1", "w2", "b2"}, {"c2"}, pad).node("BatchNormalization", {"c2", "s2", "o2", "m2", "v2"}, {"n2"});
  b.node("Relu", {"n2"}, {"r2"}).node("MaxPool", {"r2"}, {"p2"}, pool).node("Flatten", {"p2"}, {"f"});
  b.node("Gemm", {"f", "w3", "b3"}, {"h"}, {attr_i("transB", 1)}).node("Relu", {"h"}, {"r3"});
  b.node("Gemm", {"r3", "w4", "b4"}, {"logits"}, {attr_i("transB", 1)});
  auto t = make_trainer(b.build(), make_adam(AdamOptions()).value());
  const int64_t batch = 64;
  Tensor x = random_tensor({batch, 1, 28, 28}, rng, 0.0f, 1.0f);
  Tensor y = Tensor::allocate(DType::kInt64, {batch}).value();
  for (int64_t i = 0; i < batch; ++i) y.mutable_data<int64_t>()[i] = i % 10;
  REQUIRE(t->step({{"input", x}}, y).ok());  // warm-up
  const int steps = 10;
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) REQUIRE(t->step({{"input", x}}, y).ok());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("MNIST CNN training: %.1f samples/s (batch %lld, %d steps in %.2f s)\n", steps * batch / seconds,
              static_cast<long long>(batch), steps, seconds);
}

}  // TEST_SUITE
}  // namespace
}  // namespace wq
