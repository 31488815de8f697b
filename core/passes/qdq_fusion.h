// QDQ fusion: quantized patterns onto the int8 kernels, as a table of rules.
//
// Each rule is a selector and an action in one function (onnxruntime's
// qdq_transformer keeps them as selector/action pairs): it is given a node of
// its anchor op type, checks the whole pattern around it, and if it matches
// rewrites it through the Editor. The driver (fuse_qdq_patterns) visits every
// node once per sweep, tries the rules of its op type in table order, and
// sweeps again until nothing changes; a sweep never lets two matches share a
// node. Adding a fusion is adding a row to kQdqFusionRules.
//
// The rules (what they match, and why each is exact, is in core/runtime/optimize.h):
//   passthrough     DequantizeLinear -> {MaxPool, Reshape, Transpose, ...} ->
//                   QuantizeLinear with equal parameters ==> the op on 8-bit data
//   qlinear         DequantizeLinear -> Conv / MatMul / Gemm [-> Relu | Clip] ->
//                   QuantizeLinear ==> runtime QLinearConv / QLinearMatMul / QGemm
//   dynamic_matmul  DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add]
//                   ==> runtime DynamicQMatMul
// Layer: passes. What it writes is specified in core/passes/runtime_ops_spec.h.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "core/passes/pass_stats.h"
#include "core/status.h"

namespace wq {

class Graph;

// Applies the rules until nothing changes. Nodes a rewrite may have left
// unread (a shared DequantizeLinear, ...) are added to *maybe_dead; the
// caller removes them once nothing reads them (remove_dead_nodes).
Status fuse_qdq_patterns(Graph* graph, PassStats* stats, std::unordered_set<std::string>* maybe_dead);

// The rule table, for tests and logs: name and anchor op of each row.
struct QdqFusionRuleInfo {
  const char* name;
  const char* anchor_op;
};
std::vector<QdqFusionRuleInfo> qdq_fusion_rules();

}  // namespace wq
