// FakeQuantize: forward by hand (rounding half to even, clamping), the
// straight-through estimator, LSQ's scale gradient, moving-average ranges;
// insert_fake_quant on a CNN, exactness against the exported QDQ graph on the
// inference runtime, and quantization-aware fine-tuning.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/runtime/session.h"
#include "core/train/fake_quant.h"
#include "core/train/train_op.h"
#include "core/train/trainer.h"
#include "tests/core/train/train_test_util.h"

namespace wq {
namespace {

using train_test::attr_i;
using train_test::attr_ints;
using train_test::attr_s;
using train_test::contains;
using train_test::floats_of;
using train_test::make_session;
using train_test::ModelBuilder;
using train_test::random_tensor;
using train_test::Rng;

onnx::AttributeProto attr_f(const std::string& name, float f) { return train_test::attr_f(name, f); }

// A session computing y = FakeQuantize(x) with the given attributes and range tensors.
std::unique_ptr<TrainSession> fq_session(const Shape& x_shape, std::vector<onnx::AttributeProto> attrs, Tensor scale,
                                         Tensor zp, Tensor range = Tensor()) {
  ModelBuilder b;
  b.input("x", x_shape).output("y").node("Identity", {"x"}, {"y"});
  TrainSessionOptions o;
  o.input_gradients = {"x"};
  auto s = make_session(b.build(), o);
  Status st = s->rewrite([&](std::vector<Node>& nodes, std::map<std::string, Tensor>& inits) -> Status {
    Node fq;
    fq.name = "fq";
    fq.op_type = "FakeQuantize";
    fq.domain = detail::kTrainOpDomain;
    fq.inputs = {"x", "s", "z"};
    inits["s"] = scale;
    inits["z"] = zp;
    if (range.defined()) {
      inits["r"] = range;
      fq.inputs.push_back("r");
    }
    fq.outputs = {"y"};
    fq.attributes = std::move(attrs);
    nodes = {fq};
    return Status::Ok();
  });
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return s;
}

Tensor int32s(Shape shape, const std::vector<int32_t>& v) {
  Tensor t = Tensor::allocate(DType::kInt32, std::move(shape)).value();
  for (size_t i = 0; i < v.size(); ++i) t.mutable_data<int32_t>()[i] = v[i];
  return t;
}

TEST_SUITE("train/fake_quant") {

TEST_CASE("per-tensor uint8: rounding half to even, clamping, STE mask and the LSQ scale gradient by hand") {
  // scale 1/8, zero point 10: representable [-10/8, 245/8] = [-1.25, 30.625].
  Tensor x = Tensor::from_floats({5}, {-1.25f, -2.0f, 0.3125f, 0.4375f, 31.0f});
  auto s = fq_session({5}, {attr_i("bits", 8), attr_s("mode", "learned")}, Tensor::from_floats({}, {0.125f}),
                      int32s({}, {10}));
  REQUIRE(s->find_parameter("s") != nullptr);  // learned: the scale is a parameter, even as a scalar
  auto out = s->forward({{"x", x}}, TrainMode::kTrain);
  REQUIRE(out.ok());
  // x/s = -10, -16 (clamped to -10), 2.5 (half to even: 2), 3.5 (-> 4), 248 (clamped to 245).
  CHECK(floats_of(out->at("y")) == std::vector<float>{-1.25f, -1.25f, 0.25f, 0.5f, 30.625f});
  REQUIRE(s->backward({{"y", Tensor::from_floats({5}, {1, 1, 1, 1, 1})}}).ok());
  CHECK(floats_of(*s->input_gradient("x")) == std::vector<float>{1, 0, 1, 1, 0});
  // dy/ds: (q - zp) - x/s inside, qmin - zp / qmax - zp outside:
  // 0, -10, -0.5, 0.5, 245 -> 235, times 1 / sqrt(5 elements * 245 levels) = 1/35.
  CHECK(s->find_parameter("s")->grad.data<float>()[0] == doctest::Approx(235.0 / 35.0).epsilon(1e-6));
}

TEST_CASE("per-channel int4 symmetric along axis 0") {
  Tensor w = Tensor::from_floats({2, 3}, {0.1f, -0.35f, 1.0f, 0.1f, -0.35f, 1.0f});
  auto s = fq_session({2, 3}, {attr_i("bits", 4), attr_i("signed", 1), attr_i("axis", 0), attr_s("mode", "frozen")},
                      Tensor::from_floats({2}, {0.1f, 0.25f}), int32s({2}, {0, 0}));
  CHECK(s->find_parameter("s") == nullptr);  // frozen: not trained
  auto out = s->forward({{"x", w}}, TrainMode::kTrain);
  REQUIRE(out.ok());
  // Channel 0, scale 0.1, q in [-8, 7]: 1, -3.5 -> -4, 10 -> 7.  Channel 1, scale 0.25: 0.4 -> 0, -1.4 -> -1, 4.
  const std::vector<float> y = floats_of(out->at("y"));
  const std::vector<float> want = {0.1f, -0.4f, 0.7f, 0.0f, -0.25f, 1.0f};
  for (size_t i = 0; i < want.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-6));
  REQUIRE(s->backward({{"y", Tensor::from_floats({2, 3}, {1, 1, 1, 1, 1, 1})}}).ok());
  CHECK(floats_of(*s->input_gradient("x")) == std::vector<float>{1, 1, 0, 1, 1, 1});
}

TEST_CASE("moving-average ranges move in train mode only; scale and zero point follow the calibration mapping") {
  Tensor x = Tensor::from_floats({4}, {-1.0f, 3.0f, 0.5f, 1.0f});
  auto s = fq_session({4}, {attr_s("mode", "moving-average"), attr_f("momentum", 0.5f)},
                      Tensor::from_floats({}, {1.0f / 255.0f}), int32s({}, {0}), Tensor::from_floats({2}, {0.0f, 1.0f}));
  CHECK(s->state().size() == 3);
  REQUIRE(s->forward({{"x", x}}, TrainMode::kEval).ok());
  CHECK(floats_of(s->state().at("r")) == std::vector<float>{0.0f, 1.0f});
  REQUIRE(s->forward({{"x", x}}, TrainMode::kTrain).ok());
  // [0, 1] + 0.5 * ([-1, 3] - [0, 1]) = [-0.5, 2]: scale 2.5/255, zero point round(0.5 / scale) = 51.
  CHECK(floats_of(s->state().at("r")) == std::vector<float>{-0.5f, 2.0f});
  CHECK(s->state().at("s").data<float>()[0] == doctest::Approx(2.5f / 255.0f).epsilon(1e-6));
  CHECK(s->state().at("z").data<int32_t>()[0] == 51);
  Result<std::vector<FakeQuantState>> st = fake_quant_state(*s);
  REQUIRE(st.ok());
  REQUIRE(st->size() == 1);
  CHECK(st->at(0).mode == FakeQuantMode::kMovingAverage);
  CHECK(st->at(0).params.zero_point == 51);
  CHECK(st->at(0).ranges.at(0).min == doctest::Approx(-0.5f).epsilon(1e-5));
  CHECK(st->at(0).ranges.at(0).max == doctest::Approx(2.0f).epsilon(1e-5));
}

// Conv -> Relu -> MaxPool -> Conv -> GlobalAveragePool -> Flatten -> Gemm, opset 13.
Graph cnn(Rng& rng, int64_t opset = 13) {
  ModelBuilder b(opset);
  b.input("x", {-1, 1, 8, 8}).output("logits");
  b.initializer("w1", random_tensor({4, 1, 3, 3}, rng, -0.8f, 0.8f)).initializer("b1", random_tensor({4}, rng, -0.1f, 0.1f));
  b.initializer("w2", random_tensor({6, 4, 3, 3}, rng, -0.4f, 0.4f)).initializer("b2", random_tensor({6}, rng, -0.1f, 0.1f));
  b.initializer("w3", random_tensor({3, 6}, rng, -0.8f, 0.8f)).initializer("b3", random_tensor({3}, rng, -0.1f, 0.1f));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {attr_ints("pads", {1, 1, 1, 1})}, "conv1");
  b.node("Relu", {"c1"}, {"r1"});
  b.node("MaxPool", {"r1"}, {"p1"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})});
  b.node("Conv", {"p1", "w2", "b2"}, {"c2"}, {attr_ints("pads", {1, 1, 1, 1})}, "conv2");
  b.node("Relu", {"c2"}, {"r2"});
  b.node("GlobalAveragePool", {"r2"}, {"g"});
  b.node("Flatten", {"g"}, {"f"});
  b.node("Gemm", {"f", "w3", "b3"}, {"logits"}, {attr_i("transB", 1)}, "fc");
  return b.build();
}

// min/max of each named value over one batch (a stand-in for the observers).
std::map<std::string, FloatRange> calibrate(TrainSession& s, const Tensor& x, const std::vector<std::string>& values) {
  auto out = s.forward({{"x", x}}, TrainMode::kEval, values);
  REQUIRE(out.ok());
  std::map<std::string, FloatRange> ranges;
  for (const auto& v : values) {
    const std::vector<float> f = floats_of(out->at(v));
    ranges[v] = {*std::min_element(f.begin(), f.end()), *std::max_element(f.begin(), f.end())};
  }
  return ranges;
}

std::vector<float> run_graph(const Graph& g, const Tensor& x, const std::string& out) {
  Result<std::unique_ptr<Session>> s = Session::create(g);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  auto r = s.value()->run({{"x", x}});
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return floats_of(r->at(out));
}

TEST_CASE("insert_fake_quant places weight, input and output quantizers; the QDQ export runs to the same outputs") {
  Rng rng(51);
  const Graph g = cnn(rng);
  auto s = make_session(g);
  Tensor x = random_tensor({4, 1, 8, 8}, rng, 0.0f, 1.0f);
  const std::map<std::string, FloatRange> ranges = calibrate(*s, x, {"x", "r1", "p1", "r2", "f", "logits"});
  FakeQuantConfig config;
  Status st = insert_fake_quant(s.get(), config, ranges);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  Result<std::vector<FakeQuantState>> fq = fake_quant_state(*s);
  REQUIRE(fq.ok());
  std::set<std::string> weights, acts;
  for (const auto& f : fq.value()) (f.is_weight ? weights : acts).insert(f.value);
  CHECK(weights == std::set<std::string>{"w1", "w2", "w3"});
  // Outputs after the fused Relus (r1, r2), not c1/c2; inputs x, p1, f; the graph output.
  CHECK(acts == std::set<std::string>{"x", "r1", "p1", "r2", "f", "logits"});
  for (const auto& f : fq.value()) {
    if (!f.is_weight) continue;
    CHECK(f.params.per_channel());
    CHECK(f.params.axis == 0);  // Conv W [M, C, kh, kw] and Gemm B with transB: output channels first
    CHECK(f.mode == FakeQuantMode::kLearned);
  }
  // Learned weight scales are parameters; activation ranges are state.
  REQUIRE(s->find_parameter("w1/fq_scale") != nullptr);
  const std::vector<float> w1_scales = floats_of(s->find_parameter("w1/fq_scale")->value);
  CHECK(s->state().count("r1/fq_range") == 1);

  auto before = s->forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(before.ok());
  Result<Graph> qdq = export_qdq_graph(*s);
  REQUIRE_MESSAGE(qdq.ok(), qdq.status().to_string());
  CHECK(floats_of(before->at("logits")) == run_graph(qdq.value(), x, "logits"));
  // Fake quantization changes the outputs (but not by much at 8 bits).
  const std::vector<float> fp = run_graph(g, x, "logits"), q = floats_of(before->at("logits"));
  CHECK(fp != q);
  for (size_t i = 0; i < fp.size(); ++i) CHECK(std::fabs(fp[i] - q[i]) < 0.1f);

  // After some steps (weights, learned scales and tracked ranges all move),
  // the export still matches the session exactly.
  Tensor labels = Tensor::from_int64s({4}, {0, 1, 2, 1});
  AdamOptions ao;
  ao.learning_rate = 0.01f;
  auto t = Trainer::create(std::move(s), make_adam(ao).value(), {}).value();
  for (int i = 0; i < 5; ++i) REQUIRE(t->step({{"x", x}}, labels).ok());
  auto after = t->session().forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(after.ok());
  Result<Graph> qdq2 = export_qdq_graph(t->session());
  REQUIRE(qdq2.ok());
  CHECK(floats_of(after->at("logits")) == run_graph(qdq2.value(), x, "logits"));
  CHECK(floats_of(t->session().find_parameter("w1/fq_scale")->value) != w1_scales);
}

TEST_CASE("4-bit export needs opset 21; missing ranges and bad configs are errors that change nothing") {
  Rng rng(52);
  auto s = make_session(cnn(rng));
  Tensor x = random_tensor({2, 1, 8, 8}, rng, 0.0f, 1.0f);
  std::map<std::string, FloatRange> ranges = calibrate(*s, x, {"x", "r1", "p1", "r2", "f", "logits"});
  const size_t nodes = s->nodes().size();
  FakeQuantConfig config;
  config.weights.bits = 3;
  CHECK(contains(insert_fake_quant(s.get(), config, ranges).message(), "weights.bits"));
  config = FakeQuantConfig();
  config.exclude_nodes = {"nope"};
  CHECK(insert_fake_quant(s.get(), config, ranges).code() == StatusCode::kNotFound);
  config = FakeQuantConfig();
  std::map<std::string, FloatRange> partial = ranges;
  partial.erase("p1");
  Status st = insert_fake_quant(s.get(), config, partial);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(contains(st.message(), "'p1'"));
  CHECK(s->nodes().size() == nodes);
  REQUIRE(s->forward({{"x", x}}, TrainMode::kTrain).ok());

  config.weights.bits = 4;
  config.exclude_nodes = {"fc"};
  REQUIRE(insert_fake_quant(s.get(), config, ranges).ok());
  CHECK(contains(insert_fake_quant(s.get(), config, ranges).message(), "already has fake quantization"));
  Result<Graph> qdq = export_qdq_graph(*s);
  CHECK(qdq.status().code() == StatusCode::kUnsupported);
  CHECK(contains(qdq.status().message(), "opset >= 21"));
  // fc is excluded: its weight stays float.
  const std::vector<FakeQuantState> states = fake_quant_state(*s).value();
  CHECK(states.size() == 6);  // w1, w2 and x, r1, p1, r2: f and logits belong to fc alone
  for (const auto& f : states) CHECK(f.value != "w3");
}

TEST_CASE("4-bit weights and activations at opset 21: the QDQ export matches the session") {
  Rng rng(53);
  auto s = make_session(cnn(rng, 21));
  Tensor x = random_tensor({3, 1, 8, 8}, rng, 0.0f, 1.0f);
  std::map<std::string, FloatRange> ranges = calibrate(*s, x, {"x", "r1", "p1", "r2", "f", "logits"});
  FakeQuantConfig config;
  config.weights.bits = 4;
  config.activations.bits = 4;
  config.activations.mode = FakeQuantMode::kLearned;
  REQUIRE(insert_fake_quant(s.get(), config, ranges).ok());
  CHECK(s->find_parameter("r1/fq_scale") != nullptr);
  auto out = s->forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(out.ok());
  Result<Graph> qdq = export_qdq_graph(*s);
  REQUIRE_MESSAGE(qdq.ok(), qdq.status().to_string());
  CHECK(floats_of(out->at("logits")) == run_graph(qdq.value(), x, "logits"));
}

// Eight classes around a circle, close enough that 4-bit rounding costs accuracy.
void ring(Rng& rng, int64_t n, Tensor* x, Tensor* labels) {
  *x = Tensor::allocate(DType::kFloat32, {n, 2}).value();
  *labels = Tensor::allocate(DType::kInt64, {n}).value();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 8;
    const float a = 6.2831853f * static_cast<float>(c) / 8.0f;
    float dx = 0, dy = 0;
    for (int k = 0; k < 4; ++k) dx += rng.uniform(-0.3f, 0.3f), dy += rng.uniform(-0.3f, 0.3f);
    x->mutable_data<float>()[2 * i] = 2.0f * std::cos(a) + dx;
    x->mutable_data<float>()[2 * i + 1] = 2.0f * std::sin(a) + dy;
    labels->mutable_data<int64_t>()[i] = c;
  }
}

Graph ring_mlp(Rng& rng) {
  ModelBuilder b;
  b.input("x", {-1, 2}).output("logits");
  b.initializer("w1", random_tensor({32, 2}, rng, -1.0f, 1.0f)).initializer("b1", random_tensor({32}, rng, -0.1f, 0.1f));
  b.initializer("w2", random_tensor({32, 32}, rng, -0.4f, 0.4f)).initializer("b2", random_tensor({32}, rng, -0.1f, 0.1f));
  b.initializer("w3", random_tensor({8, 32}, rng, -0.4f, 0.4f)).initializer("b3", random_tensor({8}, rng, -0.1f, 0.1f));
  b.node("Gemm", {"x", "w1", "b1"}, {"h1"}, {attr_i("transB", 1)}, "fc1").node("Relu", {"h1"}, {"r1"});
  b.node("Gemm", {"r1", "w2", "b2"}, {"h2"}, {attr_i("transB", 1)}, "fc2").node("Relu", {"h2"}, {"r2"});
  b.node("Gemm", {"r2", "w3", "b3"}, {"logits"}, {attr_i("transB", 1)}, "fc3");
  return b.build();
}

Tensor batch_rows(const Tensor& t, int64_t begin, int64_t count) {
  Shape s = t.shape();
  const int64_t row = t.numel() / s[0];
  s[0] = count;
  Tensor out = Tensor::allocate(t.dtype(), s).value();
  const size_t bytes = dtype_storage_bytes(t.dtype(), row);
  std::memcpy(out.mutable_raw(), static_cast<const uint8_t*>(t.raw()) + begin * bytes, count * bytes);
  return out;
}

void train_epochs(Trainer& t, const Tensor& x, const Tensor& y, int epochs, int64_t batch) {
  for (int e = 0; e < epochs; ++e)
    for (int64_t b = 0; b + batch <= x.dim(0); b += batch) {
      Result<StepResult> r = t.step({{"x", batch_rows(x, b, batch)}}, batch_rows(y, b, batch));
      REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    }
}

TEST_CASE("quantization-aware fine-tuning at W4A4 recovers what post-training fake quantization loses") {
  Rng rng(54);
  Tensor x, y, xt, yt;
  ring(rng, 2048, &x, &y);
  ring(rng, 1024, &xt, &yt);
  AdamOptions ao;
  ao.learning_rate = 0.01f;
  auto t = Trainer::create(make_session(ring_mlp(rng)), make_adam(ao).value(), {}).value();
  train_epochs(*t, x, y, 15, 64);
  const StepResult fp = t->evaluate({{"x", xt}}, yt).value();
  // Post-training quantization as the starting point: 4-bit per-tensor
  // weights and 4-bit activations with calibrated ranges.
  auto s = make_session(t->session().export_graph().value());
  const std::map<std::string, FloatRange> ranges = calibrate(*s, x, {"x", "r1", "r2", "logits"});
  FakeQuantConfig config;
  config.weights.bits = 4;
  config.weights.per_channel = false;
  config.activations.bits = 4;
  REQUIRE(insert_fake_quant(s.get(), config, ranges).ok());
  ao.learning_rate = 0.0005f;
  auto q = Trainer::create(std::move(s), make_adam(ao).value(), {}).value();
  const StepResult ptq = q->evaluate({{"x", xt}}, yt).value();
  train_epochs(*q, x, y, 10, 64);
  const StepResult qat = q->evaluate({{"x", xt}}, yt).value();
  INFO("held-out: float loss " << fp.loss << " acc " << fp.correct << "/1024; W4A4 PTQ loss " << ptq.loss << " acc "
                     << ptq.correct << "; QAT loss " << qat.loss << " acc " << qat.correct);
  CHECK(qat.loss < ptq.loss);
  CHECK(qat.correct > ptq.correct);
  CHECK(qat.correct >= fp.correct - 5);
}

}  // TEST_SUITE
}  // namespace
}  // namespace wq
