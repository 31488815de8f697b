// Optimizers: update TrainSession parameters in place from their gradients.
//
// The update rules are PyTorch's (torch.optim.SGD with dampening 0, and
// torch.optim.Adam / AdamW), so hyper-parameters carry over. An optimizer
// binds to the parameter list on its first step (names and shapes) and keeps
// one state tensor per parameter and slot (momentum; Adam's two moments).
// Everything is deterministic.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/train/train_session.h"

namespace wq {

struct SgdOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;      // in [0, 1)
  float weight_decay = 0.0f;  // L2: grad += weight_decay * param
  bool nesterov = false;      // needs momentum > 0
};

struct AdamOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;  // in [0, 1)
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;
  // false: L2 added to the gradient (Adam); true: decoupled decay,
  // param *= 1 - lr * weight_decay before the update (AdamW).
  bool decoupled_weight_decay = false;
};

// Per-parameter state and step count, for rolling an optimizer back.
struct OptimizerState {
  int64_t steps = 0;
  std::vector<Tensor> slots;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter from its `grad`. kInvalidArgument (nothing
  // updated) when a gradient is missing or has the wrong shape, or when the
  // parameters differ (names, shapes) from those of the first step.
  virtual Status step(std::vector<TrainParameter>& params) = 0;

  virtual float learning_rate() const = 0;
  // kInvalidArgument unless finite and > 0.
  virtual Status set_learning_rate(float lr) = 0;
  virtual const char* name() const = 0;  // "sgd", "adam"
  int64_t steps() const { return steps_; }

  // Copies of the state (reusing `out`'s buffers when shapes match) and back.
  Status save_state(OptimizerState* out) const;
  Status load_state(const OptimizerState& state);

 protected:
  // Binds to `params` on the first call, checks them afterwards, and checks
  // every gradient.
  Status prepare(const std::vector<TrainParameter>& params, size_t slots_per_param);

  int64_t steps_ = 0;
  std::vector<std::string> names_;
  std::vector<Shape> shapes_;
  std::vector<Tensor> slots_;  // slots_per_param consecutive tensors per parameter
};

// kInvalidArgument naming the option that is out of range.
Result<std::unique_ptr<Optimizer>> make_sgd(const SgdOptions& options);
Result<std::unique_ptr<Optimizer>> make_adam(const AdamOptions& options);

}  // namespace wq
