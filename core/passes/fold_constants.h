// Constant folding and pruning: graph -> graph passes that evaluate what is
// known before any input arrives and drop what nothing reads.
//
// The passes do not run kernels themselves: whoever calls them hands in a
// NodeEvaluator (the runtime's is make_node_evaluator in
// core/runtime/node_eval.h), so this layer stays below the runtime.
// Layer: passes.
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/graph/graph.h"
#include "core/passes/pass_stats.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// Evaluates one node on constant inputs (null for absent optional inputs):
// one tensor per node output (undefined where the output name is empty), or
// an error, after which folding leaves the node as it is.
using NodeEvaluator =
    std::function<Result<std::vector<Tensor>>(const Node& node, int opset, const std::vector<const Tensor*>& inputs)>;

struct FoldOptions {
  // Leave DequantizeLinear nodes alone, so a fusion still sees quantized weights.
  bool keep_dequantize = false;
};

// Constant nodes become initializers (so every later step sees one kind of
// constant). A Constant that cannot be converted stays; the session reports it.
Status constants_to_initializers(Graph* g, PassStats* stats);

// Evaluates every deterministic node whose inputs are all initializers (in
// order, so chains fold in one sweep) and stores its outputs as initializers.
// Inputs nothing else reads any more are dropped, so a weight is not held
// twice. A result larger than 16 MiB and more than 8x its inputs stays a node,
// and is refused before it is allocated (a MemoryLimitScope around each node).
Status fold_constants(Graph* g, const NodeEvaluator& evaluate, const FoldOptions& options, PassStats* stats);

// Removes the given nodes (and, transitively, nodes among them) once nothing
// reads any of their outputs.
Status remove_dead_nodes(Graph* g, std::unordered_set<std::string> candidates, PassStats* stats);

// The initializers some node, graph output or subgraph reads.
std::unordered_set<std::string> used_initializers(const Graph& g);
// Drops the initializers among `were_used` that nothing reads any more.
void remove_unread_initializers(Graph* g, const std::unordered_set<std::string>& were_used);

}  // namespace wq
