// Trainer: one optimization step per call on a batch the caller streams in
// (forward in kTrain mode, loss, backward, optimizer update), with divergence
// detection.
//
//   auto trainer = Trainer::create(std::move(session), std::move(optimizer), {"logits"}).value();
//   for (batch : batches) {
//     Result<StepResult> r = trainer->step({{"input", batch.images}}, batch.labels);
//     if (!r.ok()) ...  // kNumericError: diverged; trainer->session() holds the last good weights
//   }
//   Graph trained = trainer->session().export_graph().value();
//
// Divergence: when a step's loss, a gradient or an updated weight is NaN/Inf,
// the step fails with kNumericError naming the step, the session is rolled
// back to the weights (and running statistics, and optimizer state) of the
// last step whose loss was finite, and every later step() returns the same
// error. This costs one copy of the weights and optimizer state per step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "core/train/loss.h"
#include "core/train/optimizer.h"
#include "core/train/train_session.h"

namespace wq {

// Append-only: the names are what recipes spell.
enum class LossKind : int {
  kCrossEntropy = 0,  // "cross-entropy": target = class indices [N]
  kMse = 1,           // "mse": target = a float tensor of the output's shape
  kDistillation = 2,  // "distillation": target = teacher logits of the output's shape
};

struct TrainerOptions {
  std::string output;  // the graph output the loss reads; empty = the first graph output
  LossKind loss = LossKind::kCrossEntropy;
  float temperature = 1.0f;  // kDistillation, > 0
};

struct StepResult {
  int64_t step = 0;     // 0-based index of this step among successful steps
  float loss = 0.0f;
  int64_t samples = 0;  // rows of the output (batch size)
  int64_t correct = -1;  // top-1 hits: against the labels (kCrossEntropy) or the teacher's argmax (kDistillation)
};

class Trainer {
 public:
  // kInvalidArgument for a null session/optimizer, an output the graph does
  // not have, or a temperature <= 0.
  static Result<std::unique_ptr<Trainer>> create(std::unique_ptr<TrainSession> session,
                                                 std::unique_ptr<Optimizer> optimizer, const TrainerOptions& options);

  Result<StepResult> step(const std::map<std::string, Tensor>& feeds, const Tensor& target);
  // The loss and hits in kEval mode; changes nothing.
  Result<StepResult> evaluate(const std::map<std::string, Tensor>& feeds, const Tensor& target);

  TrainSession& session() { return *session_; }
  Optimizer& optimizer() { return *optimizer_; }
  int64_t steps() const { return steps_; }
  // The error that stopped training, or Ok.
  const Status& failure() const { return failure_; }

 private:
  Trainer() = default;
  Result<LossResult> loss(const Tensor& output, const Tensor& target) const;
  Result<int64_t> correct(const Tensor& output, const Tensor& target) const;
  Status restore(const TrainWeights& w, const OptimizerState& o);

  std::unique_ptr<TrainSession> session_;
  std::unique_ptr<Optimizer> optimizer_;
  TrainerOptions options_;
  int64_t steps_ = 0;
  Status failure_;
  bool have_good_ = false;
  TrainWeights good_, pending_;
  OptimizerState good_opt_, pending_opt_;
};

// "cross-entropy" / "mse" / "distillation"; kInvalidArgument listing them otherwise.
Result<LossKind> parse_loss_kind(const std::string& name);
const char* loss_kind_name(LossKind kind);

}  // namespace wq
