// Shared tools of the graph passes (core/passes/): who produces and who reads
// each value (Index), one pass's batch of edits (Editor), and small readers
// of node attributes and constant inputs. Internal: namespace wq::detail.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/graph/graph.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {
namespace detail {


// Who produces and who reads each value. Node pointers point into the graph's
// node vector: valid until the next add_node / remove_node, so an Index is
// rebuilt after every batch of rewrites.
class Index {
 public:
  explicit Index(const Graph& g) {
    for (const Node& n : g.nodes()) {
      for (const auto& o : n.outputs)
        if (!o.empty()) producer_[o] = &n;
      for (const auto& i : n.inputs)
        if (!i.empty()) readers_[i].push_back(&n);
      // Names a subgraph may read from this scope (an over-approximation: every
      // name a subgraph node reads or a subgraph returns) are pinned.
      for (const auto& a : n.attributes) {
        if (a.g) pin_subgraph(*a.g);
        for (const auto& sg : a.graphs)
          if (sg) pin_subgraph(*sg);
      }
    }
    for (const auto& o : g.output_protos()) ++pins_[o.name];
  }

  const Node* producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : it->second;
  }
  // Node inputs reading v, plus graph outputs and subgraph reads.
  size_t uses(const std::string& v) const {
    auto r = readers_.find(v);
    auto p = pins_.find(v);
    return (r == readers_.end() ? 0 : r->second.size()) + (p == pins_.end() ? 0 : size_t(p->second));
  }
  // True when `reader` reads v through exactly one input and nothing else does.
  bool only_reader(const std::string& v, const Node* reader) const {
    if (uses(v) != 1) return false;
    auto r = readers_.find(v);
    return r != readers_.end() && r->second[0] == reader;
  }
  const std::vector<const Node*>& readers(const std::string& v) const {
    static const std::vector<const Node*> kNone;
    auto r = readers_.find(v);
    return r == readers_.end() ? kNone : r->second;
  }

 private:
  void pin_subgraph(const onnx::GraphProto& g) {
    for (const auto& n : g.node) {
      for (const auto& i : n.input)
        if (!i.empty()) ++pins_[i];
      for (const auto& a : n.attribute) {
        if (a.g) pin_subgraph(*a.g);
        for (const auto& sg : a.graphs)
          if (sg) pin_subgraph(*sg);
      }
    }
    for (const auto& o : g.output) ++pins_[o.name];
  }

  std::unordered_map<std::string, const Node*> producer_;
  std::unordered_map<std::string, std::vector<const Node*>> readers_;
  std::unordered_map<std::string, int> pins_;
};

bool is_op(const Node* n, const char* op_type);
// At least `inputs` inputs and `outputs` outputs, the first of each named (a
// malformed node must never be indexed past its end).
bool has_io(const Node* n, size_t inputs, size_t outputs);
const std::string& input_at(const Node& n, size_t i);
// The initializer called `name`, or null (also for an empty name).
const Tensor* constant(const Graph& g, const std::string& name);
bool is_q8(DType t);
// An INT attribute's value, or `fallback` when absent or of another type.
int64_t read_int_attr(const Node& n, const char* name, int64_t fallback);
// A FLOAT attribute's value into *out; false when absent or of another type.
bool read_float_attr(const Node& n, const char* name, float* out);
// Integer values of an 8-bit or int32 tensor.
std::vector<int32_t> qdq_int_values(const Tensor& t);

// One pass's edits: nodes rewritten in place right away, nodes to remove at the
// end (removal shifts the node vector under the Index), and the nodes a match
// already used, so that matches within a pass never overlap.
class Editor {
 public:
  explicit Editor(Graph* g) : g_(g) {
    for (const Node& n : g->nodes()) {
      for (const auto& o : n.outputs) names_.insert(o);
      for (const auto& i : n.inputs) names_.insert(i);
    }
    for (const auto& kv : g->initializers()) names_.insert(kv.first);
    for (const auto& in : g->input_protos()) names_.insert(in.name);
  }

  bool touched(const Node* n) const { return n && touched_.count(n->name) > 0; }
  void touch(const Node* n) {
    if (n) touched_.insert(n->name);
  }
  void remove_later(const Node* n) {
    touch(n);
    to_remove_.push_back(n->name);
  }
  // Nodes that may be dead once the pass is applied (shared DequantizeLinear, ...).
  void maybe_dead(const Node* n) {
    if (n) maybe_dead_.insert(n->name);
  }
  Node* mutable_node(const Node* n) {
    touch(n);
    return g_->mutable_node(n->name);
  }

  // A new initializer with a name no value of the graph has.
  std::string add_initializer(const std::string& base, Tensor t) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    g_->set_initializer(name, std::move(t));
    return name;
  }

  bool empty() const { return touched_.empty(); }
  Status apply() {
    for (const auto& name : to_remove_) WQ_RETURN_IF_ERROR(g_->remove_node(name));
    to_remove_.clear();
    touched_.clear();
    return Status::Ok();
  }
  const std::unordered_set<std::string>& maybe_dead() const { return maybe_dead_; }

 private:
  Graph* g_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> touched_;
  std::vector<std::string> to_remove_;
  std::unordered_set<std::string> maybe_dead_;
};

}  // namespace detail
}  // namespace wq
