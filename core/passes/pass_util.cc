#include "core/passes/pass_util.h"

#include <algorithm>

namespace wq {
namespace detail {

bool is_op(const Node* n, const char* op_type) { return n && n->domain.empty() && n->op_type == op_type; }

// At least `inputs` inputs and `outputs` outputs, the first of each named (a
// malformed node must never be indexed past its end).
bool has_io(const Node* n, size_t inputs, size_t outputs) {
  return n && n->inputs.size() >= inputs && n->outputs.size() >= outputs && (inputs == 0 || !n->inputs[0].empty()) &&
         (outputs == 0 || !n->outputs[0].empty());
}

const std::string& input_at(const Node& n, size_t i) {
  static const std::string kEmpty;
  return i < n.inputs.size() ? n.inputs[i] : kEmpty;
}

const Tensor* constant(const Graph& g, const std::string& name) {
  return name.empty() ? nullptr : g.find_initializer(name);
}

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

int64_t read_int_attr(const Node& n, const char* name, int64_t fallback) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  return a && (a->type == onnx::AttributeProto::INT || a->type == onnx::AttributeProto::UNDEFINED) ? a->i : fallback;
}
bool read_float_attr(const Node& n, const char* name, float* out) {
  const onnx::AttributeProto* a = n.find_attribute(name);
  if (!a || (a->type != onnx::AttributeProto::FLOAT && a->type != onnx::AttributeProto::UNDEFINED)) return false;
  *out = a->f;
  return true;
}

// Integer values of an 8-bit or int32 tensor.
std::vector<int32_t> qdq_int_values(const Tensor& t) {
  std::vector<int32_t> v(size_t(std::max<int64_t>(t.numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.dtype()) {
      case DType::kUInt8: v[i] = t.data<uint8_t>()[i]; break;
      case DType::kInt8: v[i] = t.data<int8_t>()[i]; break;
      case DType::kInt32: v[i] = t.data<int32_t>()[i]; break;
      default: v[i] = 0; break;
    }
  }
  return v;
}

}  // namespace detail
}  // namespace wq
