// FineTuner on the real MNIST CNN and real digits (web/assets/mnist_samples.bin:
// the first 256 digits of the test split, bundled with the web app):
// quantization-aware fine-tuning with labels and by distillation, the export
// round trip (the QDQ graph PTQ writes, run by our runtime, computes what the
// fake-quantized session computed), float training from scratch, the training
// recipe's errors, and bad input that leaves the tuner usable.
#include <doctest.h>

#include <cmath>

#include "core/model.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "core/train/finetune.h"
#include "tests/core/mnist_samples.h"

namespace wq {
namespace {

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

using mnist_samples::read_source_file;
using mnist_samples::digits;

std::map<std::string, Tensor> batch_feeds(int first, int count) { return {{"input", mnist_samples::images(first, count)}}; }
Tensor batch_labels(int first, int count) { return mnist_samples::labels(first, count); }

std::unique_ptr<Model> mnist_model() {
  auto m = Model::load(read_source_file("examples/models/mnist_cnn.onnx"));
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  return std::move(m).value();
}

double sqnr_db(const Tensor& ref, const Tensor& got) {
  double s = 0, n = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double a = ref.data<float>()[i], b = got.data<float>()[i];
    s += a * a;
    n += (a - b) * (a - b);
  }
  return 10 * std::log10(s / std::max(n, 1e-30));
}

int argmax_hits(const Tensor& logits, int first) {
  int hits = 0;
  const int64_t n = logits.dim(0), c = logits.dim(1);
  for (int64_t r = 0; r < n; ++r) {
    const float* z = logits.data<float>() + r * c;
    hits += int(std::max_element(z, z + c) - z) == digits().labels[size_t(first + r)];
  }
  return hits;
}

constexpr int kTrain = 192;  // digits 0..191 train, 192..255 evaluate
constexpr int kBatch = 32;

std::unique_ptr<FineTuner> calibrated_tuner(const Model& m, const std::string& recipe_json) {
  auto recipe = parse_recipe(recipe_json);
  REQUIRE_MESSAGE(recipe.ok(), recipe.status().message());
  auto ft = FineTuner::create(m.graph(), *recipe);
  REQUIRE_MESSAGE(ft.ok(), ft.status().message());
  for (int s = 0; s < 4; ++s) REQUIRE((*ft)->calibrate(batch_feeds(s * 16, 16)).ok());
  return std::move(ft).value();
}

TEST_CASE("train/finetune: W4A4 with labels lowers the loss, and the export computes what training did") {
  auto m = mnist_model();
  const std::string recipe = R"({"mode": "static", "weights": {"bits": 4}, "activations": {"bits": 4},
    "training": {"epochs": 3, "batchSize": 32, "learningRate": 0.0002}})";
  auto ft = calibrated_tuner(*m, recipe);
  REQUIRE(ft->set_total_steps(3 * kTrain / kBatch).ok());
  Tensor eval_labels = batch_labels(kTrain, 256 - kTrain);
  auto eval_feeds = batch_feeds(kTrain, 256 - kTrain);
  auto before = ft->evaluate(eval_feeds, &eval_labels);
  REQUIRE_MESSAGE(before.ok(), before.status().message());
  float first_epoch = 0, last_epoch = 0;
  for (int e = 0; e < 3; ++e) {
    float sum = 0;
    for (int b = 0; b < kTrain / kBatch; ++b) {
      Tensor labels = batch_labels(b * kBatch, kBatch);
      auto s = ft->step(batch_feeds(b * kBatch, kBatch), &labels);
      REQUIRE_MESSAGE(s.ok(), s.status().message());
      CHECK(s->samples == kBatch);
      CHECK(s->learning_rate > 0);
      sum += s->loss;
    }
    (e == 0 ? first_epoch : last_epoch) = sum;
  }
  CHECK(last_epoch < 0.8f * first_epoch);
  auto after = ft->evaluate(eval_feeds, &eval_labels);
  REQUIRE(after.ok());
  MESSAGE("W4A4 held-out 64: fake-quantized before ", before->correct, ", after ", after->correct,
          "; loss ", before->loss, " -> ", after->loss);

  auto out = ft->finish();
  REQUIRE_MESSAGE(out.ok(), out.status().message());
  CHECK(out->graph.opset("") >= 21);
  int q = 0, int4_weights = 0;
  for (const Node& n : out->graph.nodes()) q += n.op_type == "QuantizeLinear";
  for (const auto& kv : out->graph.initializers()) int4_weights += kv.second.dtype() == DType::kInt4;
  CHECK(q > 0);
  CHECK(int4_weights >= 4);  // both Conv and both Gemm weights
  const Json* tr = out->report.find("training");
  REQUIRE(tr != nullptr);
  CHECK(tr->find("steps")->as_number() == 18);
  CHECK(tr->find("trainedWeightParams")->as_number() == 4);

  // The exported model, loaded from its bytes, against the session it came from.
  auto qm = Model::load(out->bytes);
  REQUIRE_MESSAGE(qm.ok(), qm.status().message());
  auto got = (*qm)->run(eval_feeds);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  auto session_out = ft->evaluate(eval_feeds, &eval_labels);
  REQUIRE(session_out.ok());
  const int export_hits = argmax_hits(got->at("logits"), kTrain);
  MESSAGE("exported QDQ model: ", export_hits, "/64 held-out, session ", session_out->correct);
  CHECK(std::abs(export_hits - int(session_out->correct)) <= 1);
}

TEST_CASE("train/finetune: int8 distillation keeps the teacher's answers; export loads and matches float") {
  auto m = mnist_model();
  auto ft = calibrated_tuner(*m, R"({"mode": "static", "training": {"learningRate": 0.0001, "batchSize": 32}})");
  REQUIRE(ft->set_total_steps(kTrain / kBatch).ok());
  for (int b = 0; b < kTrain / kBatch; ++b) {
    auto s = ft->step(batch_feeds(b * kBatch, kBatch), nullptr);
    REQUIRE_MESSAGE(s.ok(), s.status().message());
    CHECK(s->correct >= 0);  // agreement with the teacher's argmax
  }
  // Labels cannot appear in a label-free run.
  Tensor labels = batch_labels(0, kBatch);
  auto mixed = ft->step(batch_feeds(0, kBatch), &labels);
  REQUIRE_FALSE(mixed.ok());
  CHECK(contains(mixed.status().message(), "has labels"));
  auto out = ft->finish();
  REQUIRE_MESSAGE(out.ok(), out.status().message());
  auto qm = Model::load(out->bytes);
  REQUIRE(qm.ok());
  auto feeds = batch_feeds(kTrain, 64);
  auto f = m->run(feeds);
  auto q = (*qm)->run(feeds);
  REQUIRE((f.ok() && q.ok()));
  const double db = sqnr_db(f->at("logits"), q->at("logits"));
  MESSAGE("int8 distilled export vs float: ", db, " dB");
  CHECK(db > 25.0);
  CHECK(argmax_hits(q->at("logits"), kTrain) >= argmax_hits(f->at("logits"), kTrain) - 2);
}

TEST_CASE("train/finetune: float training from scratch learns real digits") {
  auto m = mnist_model();
  auto recipe = parse_recipe(R"({"mode": "static", "training": {"initialize": "random", "learningRate": 0.002,
                                 "batchSize": 32, "seed": 7, "schedule": "constant"}})");
  REQUIRE(recipe.ok());
  auto ft = FineTuner::create_float(m->graph(), recipe->training);
  REQUIRE_MESSAGE(ft.ok(), ft.status().message());
  Tensor eval_labels = batch_labels(kTrain, 64);
  auto eval_feeds = batch_feeds(kTrain, 64);
  auto before = (*ft)->evaluate(eval_feeds, &eval_labels);
  REQUIRE(before.ok());
  for (int e = 0; e < 6; ++e)
    for (int b = 0; b < kTrain / kBatch; ++b) {
      Tensor labels = batch_labels(b * kBatch, kBatch);
      auto s = (*ft)->step(batch_feeds(b * kBatch, kBatch), &labels);
      REQUIRE_MESSAGE(s.ok(), s.status().message());
    }
  auto after = (*ft)->evaluate(eval_feeds, &eval_labels);
  REQUIRE(after.ok());
  MESSAGE("from scratch on 192 digits: held-out 64 correct ", before->correct, " -> ", after->correct);
  CHECK(before->correct <= 20);  // random weights: about chance
  CHECK(after->correct >= 40);
  auto out = (*ft)->finish();
  REQUIRE(out.ok());
  auto tm = Model::load(out->bytes);
  REQUIRE(tm.ok());
  auto r = (*tm)->run(eval_feeds);
  REQUIRE(r.ok());
  CHECK(argmax_hits(r->at("logits"), kTrain) == after->correct);
  // The caller's model is untouched.
  auto orig = m->run(eval_feeds);
  REQUIRE(orig.ok());
  CHECK(argmax_hits(orig->at("logits"), kTrain) >= 60);
}

TEST_CASE("train/finetune: recipe errors name the field") {
  struct Case { const char* json; const char* field; };
  const Case cases[] = {
      {R"({"mode": "static", "training": {"epoch": 1}})", "recipe.training: unknown key \"epoch\""},
      {R"({"mode": "static", "training": {"learningRate": 0}})", "recipe.training.learningRate"},
      {R"({"mode": "static", "training": {"learningRate": "fast"}})", "recipe.training.learningRate"},
      {R"({"mode": "static", "training": {"optimizer": "rmsprop"}})", "recipe.training.optimizer"},
      {R"({"mode": "static", "training": {"batchSize": 0}})", "recipe.training.batchSize"},
      {R"({"mode": "static", "training": {"loss": "hinge"}})", "recipe.training.loss"},
      {R"({"mode": "static", "training": {"weightRanges": "magic"}})", "recipe.training.weightRanges"},
      {R"({"mode": "static", "training": []})", "recipe.training"},
      {R"({"mode": "dynamic", "activations": {"bits": 4}})", "recipe.activations.bits"},
      {R"({"mode": "static", "activations": {"bits": 3}})", "recipe.activations.bits"},
      {R"({"mode": "static", "activations": {"bits": 8, "dtype": "uint4"}})", "recipe.activations.bits"},
  };
  for (const Case& c : cases) {
    auto r = parse_recipe(c.json);
    REQUIRE_FALSE_MESSAGE(r.ok(), c.json);
    CHECK_MESSAGE(contains(r.status().message(), c.field), r.status().message());
  }
  // Round trip with every default spelled out.
  auto r = parse_recipe(R"({"mode": "static", "activations": {"bits": 4}, "training": {"epochs": 2}})");
  REQUIRE(r.ok());
  auto again = recipe_from_json(recipe_to_json(*r));
  REQUIRE(again.ok());
  CHECK(again->has_training);
  CHECK(again->training.epochs == 2);
  CHECK(again->activations.dtype == DType::kUInt4);
  CHECK(recipe_to_json(*again).dump() == recipe_to_json(*r).dump());

  auto m = mnist_model();
  auto dyn = parse_recipe(R"({"mode": "dynamic", "training": {}})");
  REQUIRE(dyn.ok());
  auto ft = FineTuner::create(m->graph(), *dyn);
  REQUIRE_FALSE(ft.ok());
  CHECK(contains(ft.status().message(), "recipe.mode"));
  auto no_training = parse_recipe(R"({"mode": "static"})");
  auto ft2 = FineTuner::create(m->graph(), *no_training);
  REQUIRE_FALSE(ft2.ok());
  CHECK(contains(ft2.status().message(), "recipe.training"));
  auto bad_out = parse_recipe(R"({"mode": "static", "training": {"output": "nope"}})");
  auto ft3 = FineTuner::create(m->graph(), *bad_out);
  REQUIRE_FALSE(ft3.ok());
  CHECK(contains(ft3.status().message(), "'nope'"));
}

TEST_CASE("train/finetune: bad batches are errors naming what is wrong; the tuner keeps working") {
  auto m = mnist_model();
  auto recipe = parse_recipe(R"({"mode": "static", "training": {"learningRate": 0.0001}})");
  REQUIRE(recipe.ok());
  auto ft0 = FineTuner::create(m->graph(), *recipe);
  REQUIRE(ft0.ok());
  Tensor labels = batch_labels(0, 8);
  auto uncalibrated = (*ft0)->step(batch_feeds(0, 8), &labels);
  REQUIRE_FALSE(uncalibrated.ok());
  CHECK(contains(uncalibrated.status().message(), "calibration"));

  auto ft = calibrated_tuner(*m, R"({"mode": "static", "training": {"learningRate": 0.0001}})");
  // Label out of range.
  Tensor bad = batch_labels(0, 8);
  bad.mutable_data<int64_t>()[3] = 10;
  auto s1 = ft->step(batch_feeds(0, 8), &bad);
  REQUIRE_FALSE(s1.ok());
  CHECK_MESSAGE(contains(s1.status().message(), "3"), s1.status().message());
  // Label count differs from the batch.
  Tensor short_labels = batch_labels(0, 5);
  auto s2 = ft->step(batch_feeds(0, 8), &short_labels);
  REQUIRE_FALSE(s2.ok());
  // Wrong input shape names the input.
  std::map<std::string, Tensor> wrong = {{"input", Tensor::zeros(DType::kFloat32, {8, 1, 27, 28}).value()}};
  auto s3 = ft->step(wrong, &labels);
  REQUIRE_FALSE(s3.ok());
  CHECK_MESSAGE(contains(s3.status().message(), "input"), s3.status().message());
  // Calibration after training started is refused.
  auto good = ft->step(batch_feeds(0, 8), &labels);
  REQUIRE_MESSAGE(good.ok(), good.status().message());
  CHECK(good->step == 0);
  auto late = ft->calibrate(batch_feeds(0, 8));
  REQUIRE_FALSE(late.ok());
  CHECK(contains(late.message(), "before the first training step"));
  auto good2 = ft->step(batch_feeds(8, 8), &labels);
  REQUIRE(good2.ok());
  CHECK(good2->step == 1);
}

TEST_CASE("train/finetune: a diverging learning rate stops with the last good weights, and finish still exports") {
  auto m = mnist_model();
  auto recipe = parse_recipe(R"({"mode": "static", "training": {"optimizer": "sgd", "learningRate": 100000,
                                 "schedule": "constant"}})");
  REQUIRE(recipe.ok());
  auto ft = FineTuner::create_float(m->graph(), recipe->training);
  REQUIRE(ft.ok());
  Status failure;
  int ok_steps = 0;
  for (int b = 0; b < 20 && failure.ok(); ++b) {
    Tensor labels = batch_labels((b * 16) % 240, 16);
    auto s = (*ft)->step(batch_feeds((b * 16) % 240, 16), &labels);
    if (s.ok()) ++ok_steps;
    else failure = s.status();
  }
  REQUIRE_FALSE(failure.ok());
  CHECK(failure.code() == StatusCode::kNumericError);
  CHECK_MESSAGE(contains(failure.message(), "step"), failure.message());
  auto out = (*ft)->finish();
  REQUIRE_MESSAGE(out.ok(), out.status().message());
  auto tm = Model::load(out->bytes);
  REQUIRE(tm.ok());
  auto r = (*tm)->run(batch_feeds(0, 4));
  REQUIRE(r.ok());
  for (int64_t i = 0; i < r->at("logits").numel(); ++i) CHECK(std::isfinite(r->at("logits").data<float>()[i]));
  CHECK(out->report.find("training")->find("stoppedBy") != nullptr);
}

}  // namespace
}  // namespace wq
