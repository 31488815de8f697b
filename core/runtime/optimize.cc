#include "core/runtime/optimize.h"

#include <string>
#include <unordered_set>
#include <utility>

#include "core/graph/graph.h"
#include "core/passes/fold_constants.h"
#include "core/passes/qdq_fusion.h"
#include "core/runtime/node_eval.h"

namespace wq {

Status optimize_for_runtime(Graph* graph, RuntimeOptimizeStats* stats) {
  RuntimeOptimizeStats local;
  RuntimeOptimizeStats* st = stats ? stats : &local;
  *st = RuntimeOptimizeStats();
  const NodeEvaluator evaluate = make_node_evaluator(builtin_ops());
  const std::unordered_set<std::string> used = used_initializers(*graph);

  WQ_RETURN_IF_ERROR(constants_to_initializers(graph, st));
  FoldOptions keep_dq;
  keep_dq.keep_dequantize = true;
  WQ_RETURN_IF_ERROR(fold_constants(graph, evaluate, keep_dq, st));
  std::unordered_set<std::string> maybe_dead;
  WQ_RETURN_IF_ERROR(fuse_qdq_patterns(graph, st, &maybe_dead));
  WQ_RETURN_IF_ERROR(remove_dead_nodes(graph, std::move(maybe_dead), st));
  WQ_RETURN_IF_ERROR(fold_constants(graph, evaluate, FoldOptions(), st));
  // Initializers only the rewritten nodes read.
  remove_unread_initializers(graph, used);
  // Every rewrite keeps the node order topological; checking costs one sort.
  Status valid = graph->validate_and_sort();
  return valid.ok() ? valid : internal_error("optimize_for_runtime broke the graph: " + valid.message());
}

const OpRegistry& runtime_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry(builtin_ops());
    register_runtime_quant_ops(*r);
    return r;
  }();
  return *registry;
}

}  // namespace wq
