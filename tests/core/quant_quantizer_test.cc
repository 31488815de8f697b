// The quantizer end to end on real models (the MNIST CNN trained by
// scripts/train_mnist_cnn.py, the exported transformer encoder), plus the
// recipe parser, JSON, and the graph preparation passes.
#include <doctest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include "core/graph/graph.h"
#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/quant/prepare.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "core/util/json.h"
#include "tests/core/mnist_samples.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "."
#endif

namespace wq {
namespace {

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

std::unique_ptr<Model> load_model(const std::string& rel) {
  auto m = Model::load(mnist_samples::read_source_file(rel));
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  return std::move(m).value();
}

// Deterministic digit-like inputs: smooth blobs in [0, 1] (the MNIST model
// takes raw pixels). Real digits are used by the Node accuracy tests.
Tensor blob_image(int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.2f, 0.8f);
  Tensor t = Tensor::zeros(DType::kFloat32, {batch, 1, 28, 28}).value();
  float* d = t.mutable_data<float>();
  for (int b = 0; b < batch; ++b) {
    const float cx = 28 * u(rng), cy = 28 * u(rng), r = 3 + 5 * u(rng);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const float dd = std::hypot(x - cx, y - cy) - r;
        d[(b * 28 + y) * 28 + x] = std::fabs(dd) < 1.5f ? 1.0f : 0.0f;
      }
  }
  return t;
}

double sqnr(const Tensor& ref, const Tensor& got) {
  double s = 0, n = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double a = ref.data<float>()[i], b = got.data<float>()[i];
    s += a * a;
    n += (a - b) * (a - b);
  }
  return 10 * std::log10(s / std::max(n, 1e-30));
}

int count_op(const Graph& g, const std::string& op) {
  int c = 0;
  for (const Node& n : g.nodes()) c += n.op_type == op;
  return c;
}

Result<QuantizedModel> quantize_mnist(const Model& m, const std::string& recipe_json, int samples) {
  WQ_ASSIGN_OR_RETURN(Recipe r, parse_recipe(recipe_json));
  WQ_ASSIGN_OR_RETURN(auto q, Quantizer::create(m.graph(), r));
  for (int s = 0; s < samples && q->needs_calibration(); ++s) {
    // Real digits 0..31 calibrate (8 per sample); tests evaluate on digits from 64 on.
    std::map<std::string, Tensor> feeds = {{"input", mnist_samples::images(8 * (s % 4), 8)}};
    WQ_RETURN_IF_ERROR(q->calibrate(feeds));
  }
  return q->finish();
}

}  // namespace

TEST_CASE("quant/json: parse, dump and errors with offsets") {
  auto j = Json::parse(R"({"a": [1, 2.5, -3e2], "b": {"c": "x\n\u00e9"}, "d": true, "e": null})");
  REQUIRE(j.ok());
  CHECK(j->find("a")->size() == 3);
  CHECK((*j->find("a"))[2].as_number() == -300);
  CHECK(j->find("b")->find("c")->as_string() == "x\n\xc3\xa9");
  CHECK(j->dump() == R"({"a":[1,2.5,-300],"b":{"c":"x\n)" "\xc3\xa9" R"("},"d":true,"e":null})");
  auto bad = Json::parse(R"({"a": [1, 2,]})");
  REQUIRE(!bad.ok());
  CHECK(contains(bad.status().message(), "byte 12"));
  CHECK(!Json::parse(R"({"a": 1, "a": 2})").ok());
  CHECK(!Json::parse("[1] x").ok());
  CHECK(!Json::parse(std::string(300, '[')).ok());
}

TEST_CASE("quant/recipe: defaults per mode and round trip") {
  auto r = parse_recipe(R"({"mode": "static"})");
  REQUIRE(r.ok());
  CHECK(r->weights.bits == 8);
  CHECK(r->weights.granularity == Granularity::kPerChannel);
  CHECK(r->activations.dtype == DType::kUInt8);
  CHECK(r->calibration.observer.method == CalibrationMethod::kMinMax);
  auto w = parse_recipe(R"({"mode": "weight-only"})");
  REQUIRE(w.ok());
  CHECK(w->weights.bits == 4);
  CHECK(w->weights.granularity == Granularity::kPerBlock);
  CHECK(w->weights.block_size == 32);
  auto full = parse_recipe(R"({"mode":"static","weights":{"bits":8,"granularity":"per-tensor","symmetric":false},
      "activations":{"dtype":"int8","symmetric":true},"calibration":{"method":"percentile","percentile":99.9},
      "exclude":{"nodes":["n1"]},"keepFirstLayer":true})");
  REQUIRE(full.ok());
  auto again = recipe_from_json(recipe_to_json(*full));
  REQUIRE(again.ok());
  CHECK(recipe_to_json(*again).dump() == recipe_to_json(*full).dump());
  CHECK(again->calibration.observer.method == CalibrationMethod::kPercentile);
  CHECK(again->activations.dtype == DType::kInt8);
  CHECK(again->exclude_nodes == std::vector<std::string>{"n1"});
}

TEST_CASE("quant/recipe: errors name the field") {
  struct Case { const char* json; const char* field; };
  const Case cases[] = {
      {R"({})", "recipe.mode"},
      {R"({"mode": "int3"})", "recipe.mode"},
      {R"({"mode": "static", "colour": 1})", "unknown key \"colour\""},
      {R"({"mode": "static", "weights": {"bits": 3}})", "recipe.weights.bits"},
      {R"({"mode": "static", "weights": {"granularity": "per-block"}})", "recipe.weights.granularity"},
      {R"({"mode": "weight-only", "weights": {"blockSize": 24}})", "recipe.weights.blockSize"},
      {R"({"mode": "dynamic", "activations": {"bits": 4}})", "recipe.activations.bits"},
      {R"({"mode": "static", "activations": {"dtype": "int2"}})", "recipe.activations.dtype"},
      {R"({"mode": "static", "calibration": {"method": "magic"}})", "recipe.calibration.method"},
      {R"({"mode": "static", "calibration": {"percentile": 0}})", "recipe.calibration.percentile"},
      {R"({"mode": "static", "exclude": {"nodes": "n1"}})", "recipe.exclude.nodes"},
      {R"({"mode": "static", "exclude": {"nodes": [1]}})", "recipe.exclude.nodes[0]"},
      {R"({"mode": "static", "keepFirstLayer": "yes"})", "recipe.keepFirstLayer"},
      {R"({"mode": "static",)", "JSON"},
  };
  for (const Case& c : cases) {
    auto r = parse_recipe(c.json);
    REQUIRE_MESSAGE(!r.ok(), c.json);
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(r.status().message(), c.field), r.status().message());
  }
}

TEST_CASE("quant/prepare: BatchNorm folding keeps the MNIST CNN's outputs") {
  auto m = load_model("examples/models/mnist_cnn.onnx");
  Graph g = m->graph();
  const int bn_before = count_op(g, "BatchNormalization");
  REQUIRE(bn_before == 2);
  PrepareStats stats;
  REQUIRE(constants_to_initializers(&g, &stats).ok());
  REQUIRE(fold_batch_norm(&g, &stats).ok());
  CHECK(stats.batch_norms_folded == 2);
  CHECK(count_op(g, "BatchNormalization") == 0);
  auto s0 = Session::create(m->graph());
  auto s1 = Session::create(g);
  REQUIRE(s0.ok());
  REQUIRE(s1.ok());
  std::map<std::string, Tensor> feeds = {{"input", blob_image(3, 7)}};
  auto y0 = (*s0)->run(feeds);
  auto y1 = (*s1)->run(feeds);
  REQUIRE(y0.ok());
  REQUIRE(y1.ok());
  const Tensor& a = y0->at("logits");
  const Tensor& b = y1->at("logits");
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(std::fabs(a.data<float>()[i] - b.data<float>()[i]) < 1e-4f);
  // The source graph is untouched.
  CHECK(count_op(m->graph(), "BatchNormalization") == 2);
}

TEST_CASE("quant/quantizer: static int8 MNIST CNN is QDQ, loads, and stays close to float") {
  auto m = load_model("examples/models/mnist_cnn.onnx");
  const auto original = m->save().value();
  auto out = quantize_mnist(*m, R"({"mode": "static"})", 8);
  REQUIRE_MESSAGE(out.ok(), out.status().message());
  const Graph& g = out->graph;
  CHECK(count_op(g, "BatchNormalization") == 0);
  CHECK(count_op(g, "Relu") == 0);  // uint8 asymmetric after Relu: the range clamps at 0 already
  CHECK(count_op(g, "QuantizeLinear") >= 5);
  CHECK(count_op(g, "DequantizeLinear") >= 9);
  // Per-channel int8 weights, int32 biases.
  int int8_weights = 0, int32_bias = 0;
  for (const auto& kv : g.initializers()) {
    int8_weights += kv.second.dtype() == DType::kInt8 && kv.second.numel() > 100;
    int32_bias += kv.second.dtype() == DType::kInt32 && kv.second.numel() > 1 && contains(kv.first, "_quantized");
  }
  CHECK(int8_weights == 4);
  CHECK(int32_bias == 4);
  CHECK(out->report.find("sizes")->find("quantizedModelBytes")->as_number() <
        0.3 * double(original.size()));
  // Our runtime loads the exported bytes and agrees with float.
  auto qm = Model::load(out->bytes);
  REQUIRE_MESSAGE(qm.ok(), qm.status().message());
  std::map<std::string, Tensor> feeds = {{"input", mnist_samples::images(64, 32)}};
  auto yf = m->run(feeds);
  auto yq = (*qm)->run(feeds);
  REQUIRE(yf.ok());
  REQUIRE(yq.ok());
  CHECK(sqnr(yf->at("logits"), yq->at("logits")) > 20.0);
  // The input model is unchanged.
  CHECK(m->save().value() == original);
}

TEST_CASE("quant/quantizer: every mode produces a loadable model") {
  auto m = load_model("examples/models/mnist_cnn.onnx");
  std::map<std::string, Tensor> feeds = {{"input", mnist_samples::images(64, 32)}};
  auto yf = m->run(feeds);
  REQUIRE(yf.ok());
  struct Case { const char* recipe; double min_sqnr; const char* must_have; };
  const Case cases[] = {
      {R"({"mode": "dynamic"})", 25, "MatMulInteger"},
      {R"({"mode": "weight-only"})", 15, "MatMulNBits"},
      {R"({"mode": "weight-only", "weights": {"bits": 4, "granularity": "per-block", "blockSize": 32, "symmetric": false}})", 15, "MatMulNBits"},
      {R"({"mode": "weight-only", "weights": {"bits": 8, "granularity": "per-channel"}})", 30, "DequantizeLinear"},
      {R"({"mode": "fp16"})", 50, "Cast"},
      {R"({"mode": "static", "activations": {"dtype": "int8", "symmetric": true}})", 18, "QuantizeLinear"},
      // Entropy calibration is left to the real-data accuracy script: on 32
      // digits its sparse 2048-bin histograms clip ReLU outputs hard, as KL
      // calibration does with too little data.
      {R"({"mode": "static", "weights": {"granularity": "per-tensor"}, "calibration": {"method": "percentile"}})", 20, "QuantizeLinear"},
      {R"({"mode": "static", "calibration": {"method": "moving-average"}})", 20, "QuantizeLinear"},
      {R"({"mode": "static", "calibration": {"method": "mse"}, "keepFirstLayer": true, "keepLastLayer": true})", 18, "QuantizeLinear"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.recipe));
    auto out = quantize_mnist(*m, c.recipe, 4);
    REQUIRE_MESSAGE(out.ok(), out.status().message());
    CHECK(count_op(out->graph, c.must_have) > 0);
    auto qm = Model::load(out->bytes);
    REQUIRE_MESSAGE(qm.ok(), qm.status().message());
    auto yq = (*qm)->run(feeds);
    REQUIRE_MESSAGE(yq.ok(), yq.status().message());
    CHECK(sqnr(yf->at("logits"), yq->at("logits")) > c.min_sqnr);
  }
}

TEST_CASE("quant/quantizer: int4 weight-only with K not a multiple of the block pads the last block") {
  // Both dense layers of the MNIST CNN: K = 1568 = 12.25 blocks of 128, K = 64 = half a block.
  auto m = load_model("examples/models/mnist_cnn.onnx");
  std::map<std::string, Tensor> feeds = {{"input", mnist_samples::images(64, 32)}};
  auto yf = m->run(feeds);
  REQUIRE(yf.ok());
  for (const char* recipe : {R"({"mode": "weight-only", "weights": {"blockSize": 128}})",
                             R"({"mode": "weight-only", "weights": {"bits": 4, "granularity": "per-block", "blockSize": 128, "symmetric": false}})"}) {
    INFO(std::string(recipe));
    const bool sym = std::string(recipe).find("false") == std::string::npos;
    auto out = quantize_mnist(*m, recipe, 0);
    REQUIRE_MESSAGE(out.ok(), out.status().message());
    int padded = 0;
    for (const Node& n : out->graph.nodes()) {
      if (n.op_type != "MatMulNBits") continue;
      const Tensor* b = out->graph.find_initializer(n.inputs[1]);
      REQUIRE(b != nullptr);
      int64_t k = 0;
      for (const auto& a : n.attributes) k = a.name == "K" ? a.i : k;
      const int64_t blocks = b->dim(1), per_row = blocks * 128;
      if (k % 128 == 0) continue;
      ++padded;
      CHECK(blocks == (k + 127) / 128);
      // Padding nibbles hold the zero code: 8, or the block's zero point.
      const Tensor* zp = sym ? nullptr : out->graph.find_initializer(n.inputs[3]);
      const uint8_t* pb = b->data<uint8_t>();
      for (int64_t r = 0; r < b->dim(0); ++r) {
        int zcode = 8;
        if (zp) {
          const int64_t zb = (blocks + 1) / 2, bl = blocks - 1;
          zcode = (zp->data<uint8_t>()[r * zb + bl / 2] >> ((bl & 1) * 4)) & 0xF;
        }
        for (int64_t c = k; c < per_row; ++c) {
          const int64_t idx = r * per_row + c;
          REQUIRE(((pb[idx / 2] >> ((idx & 1) * 4)) & 0xF) == zcode);
        }
      }
    }
    CHECK(padded == 2);
    auto qm = Model::load(out->bytes);
    REQUIRE_MESSAGE(qm.ok(), qm.status().message());
    auto yq = (*qm)->run(feeds);
    REQUIRE(yq.ok());
    CHECK(sqnr(yf->at("logits"), yq->at("logits")) > 15);
  }
}

TEST_CASE("quant/quantizer: errors name the node, the field or the sample") {
  auto m = load_model("examples/models/mnist_cnn.onnx");
  auto exclude_missing = quantize_mnist(*m, R"({"mode": "static", "exclude": {"nodes": ["no_such_node"]}})", 1);
  REQUIRE(!exclude_missing.ok());
  CHECK(contains(exclude_missing.status().message(), "recipe.exclude.nodes: no node named 'no_such_node'"));

  auto r = parse_recipe(R"({"mode": "static"})").value();
  auto q = Quantizer::create(m->graph(), r).value();
  auto none = q->finish();
  REQUIRE(!none.ok());
  CHECK(none.status().code() == StatusCode::kFailedPrecondition);
  Tensor wrong = Tensor::zeros(DType::kFloat32, {1, 1, 27, 28}).value();
  Status st = q->calibrate({{"input", wrong}});
  REQUIRE(!st.ok());
  CHECK(contains(st.message(), "calibration sample 0"));
  CHECK(contains(st.message(), "input"));
  Tensor nan = blob_image(1, 3);
  nan.mutable_data<float>()[5] = NAN;
  st = q->calibrate({{"input", nan}});
  REQUIRE(!st.ok());
  CHECK(st.code() == StatusCode::kNumericError);
  CHECK(contains(st.message(), "calibration sample 0: input 'input'"));
  // After errors the quantizer still works.
  REQUIRE(q->calibrate({{"input", blob_image(2, 4)}}).ok());
  CHECK(q->samples_seen() == 1);
  CHECK(q->finish().ok());

  // NaN in a weight: named, and the model untouched.
  Graph g = m->graph();
  std::string wname;
  for (const Node& n : g.nodes())
    if (n.op_type == "Gemm") wname = n.inputs[1];
  Tensor w = g.find_initializer(wname)->clone().value();
  w.mutable_data<float>()[3] = INFINITY;
  g.set_initializer(wname, w);
  auto bad = Quantizer::create(g, parse_recipe(R"({"mode": "dynamic"})").value());
  REQUIRE(!bad.ok());
  CHECK(bad.status().code() == StatusCode::kNumericError);
  CHECK(contains(bad.status().message(), wname));
}

TEST_CASE("quant/quantizer: calibration memory does not grow with samples") {
  auto m = load_model("examples/models/mnist_cnn.onnx");
  auto r = parse_recipe(R"({"mode": "static", "calibration": {"method": "entropy"}})").value();
  auto q = Quantizer::create(m->graph(), r).value();
  REQUIRE(q->calibrate({{"input", blob_image(2, 1)}}).ok());
  auto first = q->finish();
  REQUIRE(first.ok());
  for (int s = 0; s < 20; ++s) REQUIRE(q->calibrate({{"input", blob_image(2, uint32_t(s + 2))}}).ok());
  auto later = q->finish();
  REQUIRE(later.ok());
  // The histograms in the report have a bounded number of bins whatever the sample count.
  for (const Json& a : later->report.find("activations")->items())
    if (const Json* h = a.find("histogram")) CHECK(h->find("counts")->size() <= 64);
  CHECK(later->report.find("calibration")->find("samples")->as_number() == 21);
}

TEST_CASE("quant/quantizer: dynamic int8 transformer encoder") {
  auto m = load_model("examples/models/encoder_opset17.onnx");
  auto r = parse_recipe(R"({"mode": "dynamic"})").value();
  auto q = Quantizer::create(m->graph(), r);
  REQUIRE_MESSAGE(q.ok(), q.status().message());
  auto out = (*q)->finish();
  REQUIRE_MESSAGE(out.ok(), out.status().message());
  CHECK(count_op(out->graph, "MatMulInteger") >= 12);
  auto qm = Model::load(out->bytes);
  REQUIRE_MESSAGE(qm.ok(), qm.status().message());
  std::map<std::string, Tensor> feeds;
  for (const ValueSummary& in : m->inputs()) {
    Shape shape;
    for (const Dim& d : in.shape) shape.push_back(d.value >= 0 ? d.value : (shape.empty() ? 1 : 16));
    Tensor t = Tensor::zeros(in.dtype, shape).value();
    if (in.dtype == DType::kInt64)
      for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<int64_t>()[i] = (i * 37 + 5) % 100;
    else if (in.dtype == DType::kFloat32)
      for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = 1.0f;
    feeds[in.name] = t;
  }
  auto yf = m->run(feeds);
  auto yq = (*qm)->run(feeds);
  REQUIRE_MESSAGE(yf.ok(), yf.status().message());
  REQUIRE_MESSAGE(yq.ok(), yq.status().message());
  for (const auto& kv : *yf)
    if (kv.second.dtype() == DType::kFloat32) CHECK(sqnr(kv.second, yq->at(kv.first)) > 15.0);
}

}  // namespace wq
