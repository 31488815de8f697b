// Small builders for hand-made ONNX models in graph and session tests.
// Header-only, so each test file gets its own inline copies.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/onnx/onnx_proto.h"
#include "core/tensor.h"

namespace wq {
namespace test {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A dim spec: a number >= 0 is fixed, a name is symbolic, "?" is unknown.
struct DimSpec {
  DimSpec(int64_t v) : value(v) {}             // NOLINT: implicit for brace lists
  DimSpec(const char* p) : param(p) {}         // NOLINT
  int64_t value = -1;
  std::string param;
};

inline onnx::ValueInfoProto value_info(const std::string& name, DType dtype, std::vector<DimSpec> dims) {
  onnx::ValueInfoProto v;
  v.name = name;
  v.has_type = true;
  v.type.kind = onnx::TypeProto::Kind::kTensor;
  v.type.elem_type = static_cast<int32_t>(dtype);
  v.type.has_shape = true;
  for (const auto& d : dims) {
    onnx::TensorShapeProto::Dimension dim;
    if (d.value >= 0) {
      dim.has_value = true;
      dim.dim_value = d.value;
    } else if (d.param != "?") {
      dim.has_param = true;
      dim.dim_param = d.param;
    }
    v.type.shape.dim.push_back(dim);
  }
  return v;
}

inline onnx::NodeProto node(const std::string& op_type, std::vector<std::string> inputs,
                            std::vector<std::string> outputs, const std::string& name = "",
                            const std::string& domain = "") {
  onnx::NodeProto n;
  n.op_type = op_type;
  n.input = std::move(inputs);
  n.output = std::move(outputs);
  n.name = name;
  n.domain = domain;
  return n;
}

inline onnx::AttributeProto float_attr(const std::string& name, float f) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::FLOAT;
  a.f = f;
  return a;
}

inline onnx::AttributeProto int_attr(const std::string& name, int64_t i) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INT;
  a.i = i;
  return a;
}

inline onnx::AttributeProto ints_attr(const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INTS;
  a.ints = std::move(v);
  return a;
}

inline onnx::AttributeProto string_attr(const std::string& name, const std::string& s) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::STRING;
  a.s = s;
  return a;
}

// Float initializer stored as raw_data (little-endian, as ONNX writes it).
inline onnx::TensorProto float_initializer(const std::string& name, std::vector<int64_t> dims,
                                           const std::vector<float>& values) {
  onnx::TensorProto t;
  t.name = name;
  t.dims = std::move(dims);
  t.data_type = static_cast<int32_t>(DType::kFloat32);
  t.has_raw_data = true;
  t.raw_data = onnx::Bytes::copy_of(values.data(), values.size() * sizeof(float));
  return t;
}

// A model with one default-domain opset import; nodes/inputs/outputs are
// filled by the caller.
inline onnx::ModelProto empty_model(int64_t opset = 17) {
  onnx::ModelProto m;
  m.ir_version = 8;
  m.producer_name = "webquant-test";
  onnx::OperatorSetIdProto op;
  op.domain = "";
  op.version = opset;
  m.opset_import.push_back(op);
  m.has_graph = true;
  m.graph.name = "test_graph";
  return m;
}

inline std::vector<float> to_floats(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

}  // namespace test
}  // namespace wq
