// In-memory mirror of the ONNX protobuf schema (onnx.proto3, IR version <= 10)
// and its wire-format parser and serializer.
//
// Field numbers follow onnx/onnx.proto. parse_model() accepts packed and
// unpacked repeated scalars, skips unknown fields safely, bounds-checks every
// length against the remaining bytes and reports the byte offset of the first
// malformed field. serialize_model() writes every field below, so
// parse -> serialize -> parse is lossless for the fields ONNX defines.
//
// Ownership: TensorProto::raw_data is a Bytes view into the buffer passed to
// parse_model (kept alive by the shared owner), so weights are not copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace wq {
namespace onnx {

// A byte range that either views shared storage or owns its bytes.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;  // keeps `data` alive

  static Bytes copy_of(const void* p, size_t n);  // owning copy
  bool empty() const { return size == 0; }
};

struct StringStringEntryProto {
  std::string key, value;  // 1, 2
};

struct OperatorSetIdProto {
  std::string domain;   // 1
  int64_t version = 0;  // 2
};

struct TensorShapeProto {
  struct Dimension {
    bool has_value = false;  // oneof value: dim_value (1) | dim_param (2)
    int64_t dim_value = 0;
    bool has_param = false;
    std::string dim_param;
    std::string denotation;  // 3
  };
  std::vector<Dimension> dim;  // 1
};

struct TypeProto;  // recursive

struct TypeProto {
  enum class Kind { kNone, kTensor, kSequence, kMap, kOptional, kSparseTensor };
  Kind kind = Kind::kNone;
  // tensor_type (1) / sparse_tensor_type (8): elem_type 1, shape 2
  int32_t elem_type = 0;
  bool has_shape = false;
  TensorShapeProto shape;
  // sequence_type (4) / optional_type (9): elem_type 1
  std::shared_ptr<TypeProto> elem;
  // map_type (5): key_type 1, value_type 2
  int32_t map_key_type = 0;
  std::shared_ptr<TypeProto> map_value;
  std::string denotation;  // 6
};

struct ValueInfoProto {
  std::string name;  // 1
  bool has_type = false;
  TypeProto type;    // 2
  std::string doc_string;  // 3
  std::vector<StringStringEntryProto> metadata_props;  // 4
};

struct TensorProto {
  std::vector<int64_t> dims;   // 1
  int32_t data_type = 0;       // 2
  bool has_segment = false;    // 3: begin 1, end 2
  int64_t segment_begin = 0, segment_end = 0;
  std::vector<float> float_data;          // 4
  std::vector<int32_t> int32_data;        // 5
  std::vector<std::string> string_data;   // 6
  std::vector<int64_t> int64_data;        // 7
  std::string name;                       // 8
  std::string doc_string;                 // 12
  bool has_raw_data = false;
  Bytes raw_data;                         // 9
  std::vector<StringStringEntryProto> external_data;  // 13
  int32_t data_location = 0;              // 14: 0 DEFAULT, 1 EXTERNAL
  std::vector<double> double_data;        // 10
  std::vector<uint64_t> uint64_data;      // 11
  std::vector<StringStringEntryProto> metadata_props;  // 16
};

struct SparseTensorProto {
  TensorProto values;    // 1
  TensorProto indices;   // 2
  std::vector<int64_t> dims;  // 3
};

struct GraphProto;

struct AttributeProto {
  // AttributeType enum values from onnx.proto.
  enum Type : int32_t {
    UNDEFINED = 0, FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, GRAPH = 5, FLOATS = 6, INTS = 7,
    STRINGS = 8, TENSORS = 9, GRAPHS = 10, SPARSE_TENSOR = 11, SPARSE_TENSORS = 12, TYPE_PROTO = 13,
    TYPE_PROTOS = 14
  };
  std::string name;            // 1
  std::string ref_attr_name;   // 21
  std::string doc_string;      // 13
  int32_t type = UNDEFINED;    // 20
  float f = 0;                 // 2
  int64_t i = 0;               // 3
  std::string s;               // 4 (bytes)
  bool has_t = false;
  TensorProto t;               // 5
  std::shared_ptr<GraphProto> g;          // 6
  bool has_sparse_tensor = false;
  SparseTensorProto sparse_tensor;        // 22
  bool has_tp = false;
  TypeProto tp;                           // 14
  std::vector<float> floats;              // 7
  std::vector<int64_t> ints;              // 8
  std::vector<std::string> strings;       // 9
  std::vector<TensorProto> tensors;       // 10
  std::vector<std::shared_ptr<GraphProto>> graphs;  // 11
  std::vector<SparseTensorProto> sparse_tensors;    // 23
  std::vector<TypeProto> type_protos;     // 15
};

struct NodeProto {
  std::vector<std::string> input;   // 1
  std::vector<std::string> output;  // 2
  std::string name;                 // 3
  std::string op_type;              // 4
  std::string domain;               // 7
  std::string overload;             // 8
  std::vector<AttributeProto> attribute;  // 5
  std::string doc_string;           // 6
  std::vector<StringStringEntryProto> metadata_props;  // 9
};

struct TensorAnnotation {
  std::string tensor_name;  // 1
  std::vector<StringStringEntryProto> quant_parameter_tensor_names;  // 2
};

struct GraphProto {
  std::vector<NodeProto> node;               // 1
  std::string name;                          // 2
  std::vector<TensorProto> initializer;      // 5
  std::vector<SparseTensorProto> sparse_initializer;  // 15
  std::string doc_string;                    // 10
  std::vector<ValueInfoProto> input;         // 11
  std::vector<ValueInfoProto> output;        // 12
  std::vector<ValueInfoProto> value_info;    // 13
  std::vector<TensorAnnotation> quantization_annotation;  // 14
  std::vector<StringStringEntryProto> metadata_props;     // 16
};

struct FunctionProto {
  std::string name;                      // 1
  std::vector<std::string> input;        // 4
  std::vector<std::string> output;       // 5
  std::vector<std::string> attribute;    // 6
  std::vector<AttributeProto> attribute_proto;  // 11
  std::vector<NodeProto> node;           // 7
  std::string doc_string;                // 8
  std::vector<OperatorSetIdProto> opset_import;  // 9
  std::string domain;                    // 10
  std::string overload;                  // 13
  std::vector<ValueInfoProto> value_info;  // 12
  std::vector<StringStringEntryProto> metadata_props;  // 14
};

struct TrainingInfoProto {
  GraphProto initialization;  // 1
  bool has_initialization = false;
  GraphProto algorithm;       // 2
  bool has_algorithm = false;
  std::vector<StringStringEntryProto> initialization_binding;  // 3
  std::vector<StringStringEntryProto> update_binding;          // 4
};

struct ModelProto {
  int64_t ir_version = 0;                          // 1
  std::vector<OperatorSetIdProto> opset_import;    // 8
  std::string producer_name;                       // 2
  std::string producer_version;                    // 3
  std::string domain;                              // 4
  int64_t model_version = 0;                       // 5
  std::string doc_string;                          // 6
  bool has_graph = false;
  GraphProto graph;                                // 7
  std::vector<StringStringEntryProto> metadata_props;  // 14
  std::vector<TrainingInfoProto> training_info;    // 20
  std::vector<FunctionProto> functions;            // 25
};

// Parses ONNX model bytes. `owner` keeps `data` alive for raw_data views
// (pass the shared buffer the bytes live in).
Result<ModelProto> parse_model(const uint8_t* data, size_t size, std::shared_ptr<const void> owner);
// Parses a serialized TensorProto (the .pb files of ONNX backend tests).
Result<TensorProto> parse_tensor(const uint8_t* data, size_t size, std::shared_ptr<const void> owner);

std::vector<uint8_t> serialize_model(const ModelProto& model);
std::vector<uint8_t> serialize_tensor(const TensorProto& tensor);

}  // namespace onnx
}  // namespace wq
