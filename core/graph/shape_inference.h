// Static shape and value inference: what graph passes can know about each value
// of a graph without running it, to decide whether a rewrite is exact. Used by
// upgrade_opset (core/graph/opset_upgrade.cc), which needs the element type of
// a value (Clip-6 and Pad-2 bounds become inputs of that type) and its rank
// (Softmax-1..11 keep their node when the axis is the last one).
//
// Dims are tracked where cheap so that the length of shape tensors, and with
// it the rank of Reshape/Expand/ConstantOfShape outputs, is known. Every rule
// either derives a fact the ONNX definition guarantees or leaves it unknown.
// Graph inputs are known as declared; a declaration of a computed value (graph
// output, value_info) that disagrees with inference makes the fact unknown.
// Only default-domain nodes are inferred: the outputs of other domains are
// known as far as they are declared.
//
// Owner: graph. Internal to graph passes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/graph/graph.h"
#include "core/tensor.h"

namespace wq {

// Ranks beyond this are treated as unknown (a declared dim could otherwise
// make us allocate a huge dims vector). Every ValueFacts has rank <= this or -1,
// so a rank derived from other facts by max/equality stays within it.
constexpr int64_t kMaxTrackedRank = 1024;

// What is known about one value: its element type (kUndefined: unknown), its
// rank and its dims.
struct ValueFacts {
  DType dtype = DType::kUndefined;
  int64_t rank = -1;          // -1: unknown
  std::vector<int64_t> dims;  // rank entries when rank >= 0; -1: unknown dim

  static ValueFacts of_rank(DType t, int64_t r) {
    ValueFacts f;
    f.dtype = t;
    if (r >= 0 && r <= kMaxTrackedRank) {
      f.rank = r;
      f.dims.assign(static_cast<size_t>(r), -1);
    }
    return f;
  }
  static ValueFacts of_shape(DType t, const std::vector<int64_t>& dims) {
    ValueFacts f;
    f.dtype = t;
    if (static_cast<int64_t>(dims.size()) > kMaxTrackedRank) return f;
    f.rank = static_cast<int64_t>(dims.size());
    f.dims = dims;
    for (auto& d : f.dims)
      if (d < 0) d = -1;
    return f;
  }
  ValueFacts with_dtype(DType t) const {
    ValueFacts f = *this;
    f.dtype = t;
    return f;
  }
  bool dims_known() const {
    return rank >= 0 && std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
  }
};

// The facts of every value of one graph, inferred once when constructed. The
// graph must outlive this object and stay unchanged.
class ShapeInference {
 public:
  // Reads the default-domain nodes of `g` with the definitions in force at
  // `opset` (the graph's default-domain import).
  ShapeInference(const Graph& g, int64_t opset);

  // Everything known about `name`; unknown (dtype kUndefined, rank -1) for a
  // name the graph does not have.
  const ValueFacts& facts(const std::string& name) const;
  // Facts of input i of `n`; unknown for an absent or empty input.
  const ValueFacts& input_facts(const Node& n, size_t i) const;
  // The value of `name` when it is an initializer or a Constant's output
  // (decoded once and kept); nullptr otherwise.
  const Tensor* constant(const std::string& name);

 private:
  void infer_facts();
  ValueFacts infer_output(const Node& n, size_t out_index);

  const Graph& g_;
  int64_t opset_;
  std::unordered_map<std::string, ValueFacts> facts_;
  std::unordered_map<std::string, const Node*> constant_nodes_;  // output -> Constant node
  std::map<std::string, Tensor> decoded_constants_;
};

}  // namespace wq
