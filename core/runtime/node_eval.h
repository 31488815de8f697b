// The runtime's NodeEvaluator (core/passes/fold_constants.h): runs one node's
// kernel from a registry on constant inputs, outside any plan. Used to fold
// constants when a graph is prepared for the runtime.
#pragma once

#include "core/passes/fold_constants.h"
#include "core/runtime/kernel.h"

namespace wq {

// Evaluates with the kernels of `registry` (which must outlive the result).
// A node without a kernel, a failing kernel or a C++ exception inside one is
// an error (the pass then leaves the node as it is).
NodeEvaluator make_node_evaluator(const OpRegistry& registry);

}  // namespace wq
