// FineTuner: quantization-aware fine-tuning (and plain float training) driven
// by a recipe, on batches the caller streams in.
//
// Quantization-aware (recipe.mode "static" with a "training" section):
//
//   auto ft = FineTuner::create(model.graph(), recipe).value();
//   for (sample : calibration) ft->calibrate(sample);   // the PTQ observers
//   ft->set_total_steps(epochs * batches_per_epoch);     // for the lr schedule
//   for (batch : batches) ft->step(batch.feeds, &batch.labels);  // or nullptr: distillation
//   QuantizedModel out = ft->finish().value();           // the same QDQ form PTQ writes
//
// The quantizer (core/quant/quantizer.h) prepares the graph (BatchNorm folded,
// opset raised where the export needs it) and decides what is quantized; the
// calibrated ranges initialise FakeQuantize nodes on exactly the weights and
// activations the quantizer will quantize (values that share another's
// parameters at export get none: their quantization is exact without one).
// Training runs on a TrainSession of the prepared graph. finish() hands the
// trained weights, the trained weight scales and activation parameters back to
// a quantizer over the trained graph, so the export is PTQ's own QDQ graph
// computing what training computed (up to the int32 rounding of biases).
//
// Without labels the float model is the teacher: its output on each batch is
// the target (loss "distillation": KL on softmax with temperature; "mse":
// squared error to the teacher's output, for maps and regressions).
//
// Plain training (create_float): the same loop without fake quantization and
// without the quantizer; initialize "random" re-initialises the weights first
// (He-uniform, zero biases, unit BatchNorm), so a model can be trained from
// scratch. finish() returns the trained float graph.
//
// Bad input is an error naming the field, value, node or step; a diverging
// step (NaN/Inf loss, gradient or weight) is kNumericError naming the step,
// and the session keeps the last good weights (finish() still works). The
// caller's graph is never modified.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/train/trainer.h"
#include "core/util/json.h"

namespace wq {

struct FineTuneStep {
  int64_t step = 0;      // 0-based
  float loss = 0.0f;
  int64_t samples = 0;   // batch size
  int64_t correct = -1;  // top-1 hits against the labels or the teacher's argmax (-1: not a classifier output)
  float learning_rate = 0.0f;
};

class FineTuner {
 public:
  ~FineTuner();
  FineTuner(const FineTuner&) = delete;
  FineTuner& operator=(const FineTuner&) = delete;

  // Quantization-aware: recipe.mode must be "static" and recipe.has_training.
  static Result<std::unique_ptr<FineTuner>> create(const Graph& float_graph, const Recipe& recipe);
  // Plain float training of `graph` by `training`.
  static Result<std::unique_ptr<FineTuner>> create_float(const Graph& graph, const TrainingRecipe& training);

  bool quantization_aware() const { return quantizer_ != nullptr; }
  const TrainingRecipe& training() const { return training_; }
  // The graph inputs every batch must feed.
  const std::vector<ValueSummary>& inputs() const { return graph_.inputs(); }
  // The output the loss reads.
  const std::string& output() const { return output_; }

  // One calibration sample (quantization-aware only, before the first step).
  Status calibrate(const std::map<std::string, Tensor>& feeds);
  int64_t calibration_samples() const;
  // Steps of the whole run, for the warm-up and cosine schedule (0: unknown,
  // constant learning rate after warm-up). recipe maxSteps, when set, caps it.
  Status set_total_steps(int64_t steps);

  // Fixes whether this run learns from labels or from the float model and
  // builds the training session (done by the first step() otherwise): an op
  // without a gradient is reported here, before any batch is read.
  Status begin(bool with_labels);

  // One optimisation step on a batch. `labels`: class indices [N] (int64 or
  // int32) for cross-entropy, a float tensor of the output's shape for mse;
  // nullptr: the float model's output is the target. Every step of a run
  // must agree on having labels or not.
  Result<FineTuneStep> step(const std::map<std::string, Tensor>& feeds, const Tensor* labels);
  // Loss and top-1 hits of the current (fake-quantized) model; changes
  // nothing. With class-index labels in a label-free run, the loss is the
  // cross-entropy against them (validation accuracy of a distilled model).
  Result<FineTuneStep> evaluate(const std::map<std::string, Tensor>& feeds, const Tensor* labels);
  int64_t steps() const;

  // The trained model: quantized by the recipe (quantization-aware), or the
  // trained float graph. report: the quantizer's report (if any) plus a
  // "training" object. The tuner stays usable (more steps, finish again).
  Result<QuantizedModel> finish();

 private:
  FineTuner();
  Status start(bool with_labels);
  Result<Tensor> target_for(const std::map<std::string, Tensor>& feeds, const Tensor* labels);
  float learning_rate_at(int64_t step) const;

  TrainingRecipe training_;
  Recipe recipe_;
  Graph graph_;  // the caller's graph (copy; initializers shared read-only)
  std::unique_ptr<Quantizer> quantizer_;   // quantization-aware only
  std::unique_ptr<Session> teacher_;       // label-free runs
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<TrainSession> pending_;  // float training: the session before the first step
  std::string output_;
  bool started_ = false;
  bool with_labels_ = false;
  LossKind loss_ = LossKind::kCrossEntropy;
  int64_t total_steps_ = 0;
  int64_t samples_trained_ = 0;
  double train_ms_ = 0;
  int fake_quant_nodes_ = 0;
};

// He-uniform initialisation of every Conv/Gemm/MatMul weight of `graph`
// (bound sqrt(6 / fan_in)), zero biases, BatchNormalization scale 1, bias 0,
// mean 0, variance 1; deterministic from `seed`. Returns the number of
// tensors written.
Result<int> initialize_weights(Graph* graph, uint64_t seed);

}  // namespace wq
