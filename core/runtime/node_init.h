// NodeKernelInit: the KernelInit of one graph Node (its op, inputs, outputs,
// attributes and constant inputs), shared by the runtime's Session and the
// training session, which extends KernelInit with training facts. `Base` is
// KernelInit or an interface derived from it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/onnx/tensor_convert.h"
#include "core/runtime/kernel.h"

namespace wq {
namespace detail {

const char* attr_type_name(int32_t type);  // "INT", "FLOATS", ... (session.cc)

inline std::string node_context(const Node& n) { return "node '" + n.name + "' (" + n.op_type + "): "; }

// Kernels may already prefix their messages with the node context (they get
// it from KernelInit::context()); never prefix twice.
inline Status add_context(const Status& s, const std::string& context) {
  if (s.ok() || s.message().compare(0, context.size(), context) == 0) return s;
  return s.with_context(context);
}

template <class Base>
class NodeKernelInit : public Base {
 public:
  // `constants[i]`: the value of input i when it is a constant, else null.
  NodeKernelInit(const Node& node, int opset, std::vector<const Tensor*> constants)
      : node_(node), opset_(opset), constants_(std::move(constants)) {}

  const std::string& op_type() const override { return node_.op_type; }
  const std::string& domain() const override { return node_.domain; }
  const std::string& node_name() const override { return node_.name; }
  int opset() const override { return opset_; }

  size_t num_inputs() const override { return node_.inputs.size(); }
  bool has_input(size_t i) const override { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  const std::string& input_name(size_t i) const override {
    static const std::string kEmpty;
    return i < node_.inputs.size() ? node_.inputs[i] : kEmpty;
  }
  const Tensor* constant_input(size_t i) const override { return i < constants_.size() ? constants_[i] : nullptr; }
  size_t num_outputs() const override { return node_.outputs.size(); }
  bool has_output(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }

  bool has_attr(const std::string& name) const override { return node_.find_attribute(name) != nullptr; }

  Result<int64_t> attr_int(const std::string& name, int64_t fallback) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return fallback;
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::INT));
    return a->i;
  }
  Result<float> attr_float(const std::string& name, float fallback) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return fallback;
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::FLOAT));
    return a->f;
  }
  Result<std::string> attr_string(const std::string& name, const std::string& fallback) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return fallback;
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::STRING));
    return a->s;
  }
  Result<std::vector<int64_t>> attr_ints(const std::string& name) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return std::vector<int64_t>{};
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::INTS));
    return a->ints;
  }
  Result<std::vector<float>> attr_floats(const std::string& name) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return std::vector<float>{};
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::FLOATS));
    return a->floats;
  }
  Result<std::vector<std::string>> attr_strings(const std::string& name) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return std::vector<std::string>{};
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::STRINGS));
    return a->strings;
  }
  Result<Tensor> attr_tensor(const std::string& name) const override {
    const onnx::AttributeProto* a = node_.find_attribute(name);
    if (!a) return not_found(this->context() + "attribute '" + name + "' is absent");
    WQ_RETURN_IF_ERROR(check_type(*a, onnx::AttributeProto::TENSOR));
    Result<Tensor> t = tensor_from_proto(a->t);
    if (!t.ok()) return add_context(t.status(), this->context() + "attribute '" + name + "': ");
    return t;
  }
  std::vector<std::string> attr_names() const override {
    std::vector<std::string> names;
    for (const auto& a : node_.attributes) names.push_back(a.name);
    return names;
  }

 protected:
  const Node& node() const { return node_; }

 private:
  Status check_type(const onnx::AttributeProto& a, int32_t want) const {
    // IR version 1 models may leave `type` unset; then trust the caller.
    if (a.type == want || a.type == onnx::AttributeProto::UNDEFINED) return Status::Ok();
    return invalid_model(this->context() + "attribute '" + a.name + "' has type " + attr_type_name(a.type) +
                         ", expected " + attr_type_name(want));
  }

  const Node& node_;
  int opset_;
  std::vector<const Tensor*> constants_;
};

}  // namespace detail
}  // namespace wq
