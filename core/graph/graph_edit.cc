#include "core/graph/graph_edit.h"

#include <set>

namespace wq {
namespace detail {

onnx::AttributeProto attr_int(const std::string& name, int64_t v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INT;
  a.i = v;
  return a;
}

onnx::AttributeProto attr_float(const std::string& name, float v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::FLOAT;
  a.f = v;
  return a;
}

onnx::AttributeProto attr_ints(const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INTS;
  a.ints = std::move(v);
  return a;
}

onnx::AttributeProto attr_string(const std::string& name, const std::string& v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::STRING;
  a.s = v;
  return a;
}

int64_t node_attr_int(const Node& n, const std::string& name, int64_t fallback) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  return a && a->type == onnx::AttributeProto::INT ? a->i : fallback;
}

float node_attr_float(const Node& n, const std::string& name, float fallback) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  return a && a->type == onnx::AttributeProto::FLOAT ? a->f : fallback;
}

std::map<std::string, std::vector<size_t>> consumers_of(const Graph& g) {
  std::map<std::string, std::vector<size_t>> c;
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (const std::string& in : g.nodes()[i].inputs)
      if (!in.empty()) {
        auto& v = c[in];
        if (v.empty() || v.back() != i) v.push_back(i);
      }
  return c;
}

std::map<std::string, size_t> producers_of(const Graph& g) {
  std::map<std::string, size_t> p;
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (const std::string& out : g.nodes()[i].outputs)
      if (!out.empty()) p[out] = i;
  return p;
}

bool is_graph_output(const Graph& g, const std::string& name) {
  for (const auto& o : g.outputs())
    if (o.name == name) return true;
  return false;
}

const Tensor* float_initializer(const Graph& g, const std::string& name) {
  const Tensor* t = g.find_initializer(name);
  return t && t->dtype() == DType::kFloat32 ? t : nullptr;
}

NameAllocator::NameAllocator(const Graph& g) {
  for (const auto& in : g.input_protos()) used_.insert(in.name);
  for (const auto& o : g.output_protos()) used_.insert(o.name);
  for (const auto& kv : g.initializers()) used_.insert(kv.first);
  for (const Node& n : g.nodes()) {
    for (const auto& s : n.outputs) used_.insert(s);
    for (const auto& s : n.inputs) used_.insert(s);
  }
}

std::string NameAllocator::fresh(const std::string& base) {
  std::string cand = base;
  for (int i = 1; used_.count(cand); ++i) cand = base + "_" + std::to_string(i);
  used_.insert(cand);
  return cand;
}

}  // namespace detail
}  // namespace wq
