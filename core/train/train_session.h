// TrainSession: a Graph run forward and backward, for fine-tuning in float
// (quantization-aware training inserts fake quantization into it, see
// core/train/fake_quant.h).
//
//   WQ_ASSIGN_OR_RETURN(auto ts, TrainSession::create(graph));
//   WQ_ASSIGN_OR_RETURN(auto out, ts->forward(feeds, TrainMode::kTrain));
//   WQ_ASSIGN_OR_RETURN(LossResult loss, cross_entropy_loss(out["logits"], labels));
//   WQ_RETURN_IF_ERROR(ts->backward({{"logits", loss.grad}}));
//   WQ_RETURN_IF_ERROR(optimizer->step(ts->parameters()));
//
// forward() keeps every value of the run (until the next forward() replaces
// them node by node), so backward() can read what it needs; backward() writes
// the gradient of every trainable parameter (overwriting, not accumulating:
// one batch per step, batches are streamed by the caller). Memory is one
// batch's activations and their gradients, reused from step to step.
//
// Forward equals inference, bit for bit: Conv, Gemm and MatMul run on the
// same packed f32 kernels as the runtime's fast path (core/ops/fast_f32.cc),
// repacked from the current weights each step; BatchNormalization and 2-D
// MaxPool repeat the runtime kernels' arithmetic; every other op runs the
// runtime's own kernel. So a graph exported with export_graph() gives the
// outputs forward(kEval) gave.
//
// Which nodes need a gradient: a value "requires grad" when it is a trainable
// parameter, a graph input listed in input_gradients, or a differentiable
// output of a node with a differentiable input that requires grad. Every such
// node must have a backward (core/train/train_op.h lists them); create()
// reports all that do not, by op and node name, as kUnsupported. Nodes off
// that path (shape arithmetic, Cast of a Shape, ...) run forward only on the
// runtime's kernels; nodes whose inputs are all constant are folded once.
//
// Weights stored in Constant nodes (as Paddle2ONNX writes them) are treated
// as initializers; export_graph() writes trained ones back as initializers.
//
// Ownership: a TrainSession copies the Graph (initializers stay shared,
// read-only views); trainable parameters and state (BatchNormalization
// running statistics, tracked quantization ranges) are writable copies it
// owns. The original graph and model are
// never modified. Not thread-safe: one forward/backward at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

enum class TrainMode : int {
  kTrain = 0,  // BatchNormalization uses and updates batch statistics; Dropout drops (if enabled)
  kEval = 1,   // inference semantics: running statistics, Dropout is the identity
};

struct TrainSessionOptions {
  // Initializers to train. Empty: every float32 initializer of more than one
  // element that feeds a differentiable input of a node (Conv/Gemm/MatMul
  // weights and biases, BatchNormalization and LayerNormalization scale and
  // bias, Add/Mul operands, ...). Scalars (the sqrt(2) of an Erf-based Gelu,
  // the 3 and 6 of a decomposed HardSwish) are left alone unless listed.
  std::vector<std::string> trainable;
  // Never trained, even when the default selection would take them.
  std::vector<std::string> frozen;
  // Graph inputs whose gradient backward() also computes (input_gradient()).
  std::vector<std::string> input_gradients;
  // Dropout nodes drop in kTrain mode (ratio from the node; deterministic
  // from `seed`). Off: Dropout is always the identity.
  bool dropout = false;
  uint64_t seed = 0x5eed5eedULL;
};

struct TrainParameter {
  std::string name;
  Tensor value;  // float32, owned and writable; optimizers update it in place
  Tensor grad;   // float32, value's shape; from the last backward(), valid until the next (read-only)
};

// Everything training changes (parameters, running statistics), by name.
struct TrainWeights {
  std::map<std::string, Tensor> values;
};

class TrainSession {
 public:
  ~TrainSession();
  TrainSession(const TrainSession&) = delete;
  TrainSession& operator=(const TrainSession&) = delete;

  static Result<std::unique_ptr<TrainSession>> create(const Graph& graph, const TrainSessionOptions& options = {});

  // Runs every node. `output_names` may name any value (empty: the graph
  // outputs). Errors: kInvalidArgument naming a missing/unknown feed or a
  // dtype/rank/fixed-dim mismatch with the declared input, kNotFound for an
  // unknown output name, node errors prefixed with the node.
  Result<std::map<std::string, Tensor>> forward(const std::map<std::string, Tensor>& feeds, TrainMode mode,
                                                const std::vector<std::string>& output_names = {});

  // Back-propagates d(loss)/d(value) given for values of the last forward()
  // (usually the graph outputs). Each gradient must be float32 of its value's
  // shape (kInvalidArgument naming the value otherwise). Afterwards every
  // parameter's `grad` holds d(loss)/d(parameter) (zero when no gradient
  // reaches it) until the next backward(), which reuses its buffer.
  Status backward(const std::map<std::string, Tensor>& output_grads);

  std::vector<TrainParameter>& parameters() { return params_; }
  const std::vector<TrainParameter>& parameters() const { return params_; }
  const TrainParameter* find_parameter(const std::string& name) const;
  // Gradient of a graph input listed in options.input_gradients, from the
  // last backward(); nullptr before it.
  const Tensor* input_gradient(const std::string& name) const;
  // BatchNormalization running means and variances (updated in kTrain mode).
  const std::map<std::string, Tensor>& state() const { return state_; }

  // Copies of all parameters and state (reusing `out`'s buffers when the
  // shapes match), and back. load_weights() checks names and shapes
  // (kInvalidArgument) and changes nothing on error.
  Status save_weights(TrainWeights* out) const;
  Status load_weights(const TrainWeights& weights);

  // The graph this session was made from, with the current parameter and
  // state values as its initializers. Nodes added by rewrite() (fake
  // quantization) are not in it: export_qdq_graph() writes those.
  Result<Graph> export_graph() const;

  const std::vector<std::string>& output_names() const { return output_names_; }

  // For passes over a session (fake quantization): `edit` may change the
  // nodes that run (keeping them in topological order) and add initializers;
  // the session is then re-planned with its options, keeping the current
  // values of parameters and state that still exist. On error the session is
  // left as it was.
  Status rewrite(const std::function<Status(std::vector<Node>& nodes,
                                            std::map<std::string, Tensor>& initializers)>& edit);
  const std::vector<Node>& nodes() const { return nodes_; }
  // An initializer of the graph or one added by rewrite(); nullptr if absent.
  // (Parameters and state have their current values in parameters()/state().)
  const Tensor* find_initializer(const std::string& name) const;
  // "node 'n' (Op)" of every node that runs (after constant folding), in order.
  std::vector<std::string> node_descriptions() const;

 private:
  struct Step;
  class Init;
  class Context;
  TrainSession();

  Status build(const TrainSessionOptions& options);
  Status validate_feeds(const std::map<std::string, Tensor>& feeds);

  Graph graph_;                                         // as given (export_graph starts from it)
  std::vector<Node> nodes_;                             // what runs, in topological order
  std::map<std::string, Tensor> extra_initializers_;   // Constant nodes' values, and added by passes
  std::map<std::string, std::string> constant_nodes_;  // value -> the Constant node that made it
  TrainSessionOptions options_;
  std::vector<Step> steps_;
  std::map<std::string, int> slot_of_;
  std::vector<std::string> slot_names_;
  std::vector<Tensor> values_;       // by slot: constants always, everything else during a step
  std::vector<char> is_constant_;    // by slot: initializer (not trained) or folded value
  std::vector<int> param_of_slot_;   // by slot: index into params_ or -1
  std::vector<char> is_state_;       // by slot: running statistic (writable, not trained)
  std::vector<char> requires_grad_;  // by slot
  std::vector<Tensor> grads_;        // by slot: this backward's gradient if grad_valid_, else a reusable buffer
  std::vector<char> grad_owned_;     // by slot: grads_[slot] is a buffer only this slot writes
  std::vector<char> grad_valid_;     // by slot: grads_[slot] holds this backward's gradient
  std::vector<TrainParameter> params_;
  std::map<std::string, Tensor> state_;
  std::vector<int> input_slots_;  // parallel to graph_.inputs()
  std::map<std::string, Tensor> input_grads_;
  std::vector<std::string> output_names_;
  bool have_forward_ = false;
  uint64_t rng_state_ = 0;
};

}  // namespace wq
