// The runtime's NodeEvaluator (core/passes/fold_constants.h): runs one node's
// kernel from a registry on constant inputs, outside any plan. Used to fold
// constants when a graph is prepared for the runtime.
#pragma once

#include <utility>
#include <vector>

#include "core/passes/fold_constants.h"
#include "core/runtime/kernel.h"

namespace wq {

// The KernelContext of a node run once outside any plan (constant folding
// here and in the training session): given inputs, outputs kept in a vector
// of their own, nothing counted or released.
class EvalContext final : public KernelContext {
 public:
  // has_output[i]: whether output i is wanted (the node names it).
  EvalContext(std::vector<const Tensor*> inputs, std::vector<char> has_output)
      : inputs_(std::move(inputs)), outputs_(has_output.size()), has_output_(std::move(has_output)) {}

  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool has_output(size_t i) const override { return i < has_output_.size() && has_output_[i]; }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override;
  void set_output(size_t i, Tensor t) override {
    if (i < outputs_.size()) outputs_[i] = std::move(t);
  }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<char> has_output_;
};

// Evaluates with the kernels of `registry` (which must outlive the result).
// A node without a kernel, a failing kernel or a C++ exception inside one is
// an error (the pass then leaves the node as it is).
NodeEvaluator make_node_evaluator(const OpRegistry& registry);

}  // namespace wq
