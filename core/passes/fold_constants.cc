#include "core/passes/fold_constants.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>

#include "core/onnx/tensor_convert.h"
#include "core/passes/pass_util.h"

namespace wq {
namespace {

// Ops whose result is not a function of their inputs, or that we never fold.
bool never_fold(const Node& n) {
  static const char* const kOps[] = {"Constant",          "RandomNormal",      "RandomUniform", "RandomNormalLike",
                                     "RandomUniformLike", "Multinomial",       "Bernoulli",     "If",
                                     "Loop",              "Scan",              "Dropout"};
  for (const char* op : kOps)
    if (n.op_type == op) return true;
  for (const auto& a : n.attributes)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

// A folded result larger than this, and more than 8x its inputs (an int4
// weight dequantized to float is exactly 8x), stays a node: Expand / Tile /
// ConstantOfShape would otherwise turn a few bytes of model into megabytes of
// heap that nothing asked for.
constexpr size_t kMaxFoldGrowthBytes = size_t(16) << 20;

}  // namespace

// Constant nodes become initializers (so every later step sees one kind of
// constant). A Constant we cannot convert stays; the session reports it.
Status constants_to_initializers(Graph* g, PassStats* st) {
  std::vector<std::string> converted;
  for (const Node& n : g->nodes()) {
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0].empty() ||
        n.attributes.size() != 1)
      continue;
    const onnx::AttributeProto& a = n.attributes[0];
    Result<Tensor> t = unsupported("");
    if (a.name == "value" && a.has_t) {
      t = tensor_from_proto(a.t);
    } else if (a.name == "value_float") {
      t = Tensor::from_floats({}, {a.f});
    } else if (a.name == "value_floats") {
      t = Tensor::from_floats({int64_t(a.floats.size())}, a.floats);
    } else if (a.name == "value_int") {
      t = Tensor::from_int64s({}, {a.i});
    } else if (a.name == "value_ints") {
      t = Tensor::from_int64s({int64_t(a.ints.size())}, a.ints);
    }
    if (!t.ok()) continue;
    g->set_initializer(n.outputs[0], std::move(t).value());
    converted.push_back(n.name);
  }
  for (const auto& name : converted) WQ_RETURN_IF_ERROR(g->remove_node(name));
  st->constant_nodes += int(converted.size());
  return Status::Ok();
}

// Evaluates every node whose inputs are all initializers (in order, so chains
// fold in one sweep) and stores its outputs as initializers. Inputs nothing
// else reads any more are dropped, so a weight is not held twice.
Status fold_constants(Graph* g, const NodeEvaluator& evaluate, const FoldOptions& options, PassStats* st) {
  const bool keep_dequantize = options.keep_dequantize;
  // The node vector does not change until the removals at the end, so one
  // Index serves the whole sweep; `released` counts reads of folded nodes.
  const detail::Index idx(*g);
  std::unordered_map<std::string, size_t> released;
  std::vector<std::string> folded;
  for (const Node& n : g->nodes()) {
    if (!n.domain.empty() || never_fold(n)) continue;
    if (keep_dequantize && n.op_type == "DequantizeLinear") continue;
    std::vector<const Tensor*> in(n.inputs.size(), nullptr);
    bool all_constant = !n.inputs.empty(), any = false;
    size_t in_bytes = 0;
    for (size_t i = 0; i < n.inputs.size() && all_constant; ++i) {
      if (n.inputs[i].empty()) continue;
      in[i] = g->find_initializer(n.inputs[i]);
      all_constant = in[i] != nullptr;
      any = true;
      if (in[i]) in_bytes += in[i]->nbytes();
    }
    if (!all_constant || !any) continue;
    const int opset = int(g->opset(n.domain));
    // Folding may not allocate more than it would keep: a result over the
    // growth limit stays a node, so it is refused before it is allocated
    // (an 81-byte ConstantOfShape must not cost a GiB and seconds at load).
    MemoryLimitScope fold_limit(std::max<uint64_t>(kMaxFoldGrowthBytes, uint64_t(in_bytes) * 8) + in_bytes,
                                "the load-time constant folding limit");
    // A node that cannot be evaluated here stays a node: the session reports
    // its error when (and only if) a run needs it.
    Result<std::vector<Tensor>> outputs = evaluate(n, opset, in);
    if (!outputs.ok() || outputs->size() != n.outputs.size()) continue;
    bool complete = true;
    size_t out_bytes = 0;
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) continue;
      complete &= (*outputs)[i].defined();
      out_bytes += (*outputs)[i].nbytes();
    }
    if (!complete || (out_bytes > kMaxFoldGrowthBytes && out_bytes / 8 > in_bytes)) continue;
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) g->set_initializer(n.outputs[i], std::move((*outputs)[i]));
    for (const auto& i : n.inputs) {
      if (i.empty()) continue;
      if (++released[i] >= idx.uses(i)) g->remove_initializer(i);
    }
    folded.push_back(n.name);
  }
  for (const auto& name : folded) WQ_RETURN_IF_ERROR(g->remove_node(name));
  st->folded_nodes += int(folded.size());
  return Status::Ok();
}

// Removes the given nodes (and, transitively, nodes among them) once nothing
// reads any of their outputs.
Status remove_dead_nodes(Graph* g, std::unordered_set<std::string> candidates, PassStats* st) {
  bool changed = true;
  while (changed && !candidates.empty()) {
    changed = false;
    std::vector<std::string> dead;
    {
      detail::Index idx(*g);
      for (const Node& n : g->nodes()) {
        if (!candidates.count(n.name)) continue;
        bool unread = true;
        for (const auto& o : n.outputs) unread &= o.empty() || idx.uses(o) == 0;
        if (unread) dead.push_back(n.name);
      }
    }
    for (const auto& name : dead) {
      WQ_RETURN_IF_ERROR(g->remove_node(name));
      candidates.erase(name);
      ++st->removed_nodes;
      changed = true;
    }
  }
  return Status::Ok();
}

std::unordered_set<std::string> used_initializers(const Graph& g) {
  std::unordered_set<std::string> used;
  const detail::Index idx(g);
  for (const auto& kv : g.initializers())
    if (idx.uses(kv.first) > 0) used.insert(kv.first);
  return used;
}

void remove_unread_initializers(Graph* g, const std::unordered_set<std::string>& were_used) {
  const detail::Index idx(*g);
  std::vector<std::string> unread;
  for (const auto& kv : g->initializers())
    if (were_used.count(kv.first) && idx.uses(kv.first) == 0) unread.push_back(kv.first);
  for (const auto& name : unread) g->remove_initializer(name);
}

}  // namespace wq
