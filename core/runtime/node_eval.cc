#include "core/runtime/node_eval.h"

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime/node_init.h"

namespace wq {
Result<Tensor*> EvalContext::allocate_output(size_t i, DType dtype, const Shape& shape) {
  if (i >= outputs_.size()) return internal_error("kernel allocated output " + std::to_string(i));
  WQ_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, shape));
  return &outputs_[i];
}

NodeEvaluator make_node_evaluator(const OpRegistry& registry) {
  return [&registry](const Node& n, int opset, const std::vector<const Tensor*>& inputs) -> Result<std::vector<Tensor>> {
    const KernelFactory* factory = registry.find(n.domain, n.op_type, opset);
    if (!factory) return unsupported(detail::node_context(n) + "no kernel at opset " + std::to_string(opset));
    detail::NodeKernelInit<KernelInit> init(n, opset, inputs);
    std::vector<char> wanted;
    for (const auto& o : n.outputs) wanted.push_back(!o.empty());
    EvalContext ctx(inputs, std::move(wanted));
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
