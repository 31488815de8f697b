#include "core/runtime/node_eval.h"

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime/node_init.h"

namespace wq {
namespace {

// Outputs go into a vector of their own; nothing is counted or released.
class EvalContext final : public KernelContext {
 public:
  EvalContext(const Node& node, const std::vector<const Tensor*>& inputs)
      : node_(node), inputs_(inputs), outputs_(node.outputs.size()) {}

  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool has_output(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    if (i >= outputs_.size()) return internal_error("kernel allocated output " + std::to_string(i));
    WQ_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, shape));
    return &outputs_[i];
  }
  void set_output(size_t i, Tensor t) override {
    if (i < outputs_.size()) outputs_[i] = std::move(t);
  }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const Node& node_;
  const std::vector<const Tensor*>& inputs_;
  std::vector<Tensor> outputs_;
};

}  // namespace

NodeEvaluator make_node_evaluator(const OpRegistry& registry) {
  return [&registry](const Node& n, int opset, const std::vector<const Tensor*>& inputs) -> Result<std::vector<Tensor>> {
    const KernelFactory* factory = registry.find(n.domain, n.op_type, opset);
    if (!factory) return unsupported(detail::node_context(n) + "no kernel at opset " + std::to_string(opset));
    detail::NodeKernelInit<KernelInit> init(n, opset, inputs);
    EvalContext ctx(n, inputs);
    try {
      WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, (*factory)(init));
      if (!kernel) return internal_error(detail::node_context(n) + "the factory returned no kernel");
      WQ_RETURN_IF_ERROR(kernel->run(ctx));
    } catch (const std::bad_alloc&) {
      return out_of_memory(detail::node_context(n) + "out of memory while evaluating");
    } catch (const std::exception& e) {
      return internal_error(detail::node_context(n) + "kernel threw: " + e.what());
    }
    return std::move(ctx.outputs());
  };
}

}  // namespace wq
