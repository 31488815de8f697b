// Small helpers graph passes (quantizer, runtime optimizer) share for reading
// and building nodes. Internal (wq::detail).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace wq {
namespace detail {

onnx::AttributeProto attr_int(const std::string& name, int64_t v);
onnx::AttributeProto attr_float(const std::string& name, float v);
onnx::AttributeProto attr_ints(const std::string& name, std::vector<int64_t> v);
onnx::AttributeProto attr_string(const std::string& name, const std::string& v);

int64_t node_attr_int(const Node& n, const std::string& name, int64_t fallback);
float node_attr_float(const Node& n, const std::string& name, float fallback);

// value name -> indices of the nodes that read it (in graph order).
std::map<std::string, std::vector<size_t>> consumers_of(const Graph& g);
// value name -> index of the producing node.
std::map<std::string, size_t> producers_of(const Graph& g);
bool is_graph_output(const Graph& g, const std::string& name);

// A float32 initializer, or nullptr.
const Tensor* float_initializer(const Graph& g, const std::string& name);

// Hands out value names not used anywhere in a graph (nor handed out before),
// derived from a base name: "x_quantized", "x_quantized_1", ...
class NameAllocator {
 public:
  explicit NameAllocator(const Graph& g);
  std::string fresh(const std::string& base);

 private:
  std::set<std::string> used_;
};

}  // namespace detail
}  // namespace wq
