#include "core/onnx/tensor_convert.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

namespace wq {

namespace {

using onnx::TensorProto;

std::string label(const TensorProto& p) { return p.name.empty() ? "unnamed tensor" : "tensor '" + p.name + "'"; }

// The typed field that holds elements of each type (onnx.proto, TensorProto).
enum class DataField { kNone, kFloat, kInt32, kInt64, kDouble, kUInt64 };

DataField data_field(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kComplex64: return DataField::kFloat;
    case DType::kFloat64: case DType::kComplex128: return DataField::kDouble;
    case DType::kInt64: return DataField::kInt64;
    case DType::kUInt32: case DType::kUInt64: return DataField::kUInt64;
    case DType::kInt32: case DType::kInt16: case DType::kInt8: case DType::kUInt16: case DType::kUInt8:
    case DType::kBool: case DType::kFloat16: case DType::kBFloat16: case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ: case DType::kUInt4:
    case DType::kInt4: case DType::kFloat4E2M1:
      return DataField::kInt32;
    case DType::kString: case DType::kUndefined: return DataField::kNone;
  }
  return DataField::kNone;
}

const char* data_field_name(DataField f) {
  switch (f) {
    case DataField::kFloat: return "float_data";
    case DataField::kInt32: return "int32_data";
    case DataField::kInt64: return "int64_data";
    case DataField::kDouble: return "double_data";
    case DataField::kUInt64: return "uint64_data";
    case DataField::kNone: break;
  }
  return "none";
}

size_t data_field_size(const TensorProto& p, DataField f) {
  switch (f) {
    case DataField::kFloat: return p.float_data.size();
    case DataField::kInt32: return p.int32_data.size();
    case DataField::kInt64: return p.int64_data.size();
    case DataField::kDouble: return p.double_data.size();
    case DataField::kUInt64: return p.uint64_data.size();
    case DataField::kNone: break;
  }
  return 0;
}

// Alignment a view needs: that of the scalar the kernels load (complex
// numbers are pairs of floats / doubles; 4-bit types are read bytewise).
size_t view_alignment(DType t) {
  switch (t) {
    case DType::kComplex64: return 4;
    case DType::kComplex128: return 8;
    default: break;
  }
  const int bits = dtype_bits(t);
  return bits >= 8 ? static_cast<size_t>(bits / 8) : 1;
}

// Typed-field entries per element, as a fraction num/den: complex types use
// two floats/doubles per element, 4-bit types pack two elements per int32_data.
void entries_per_element(DType t, uint64_t* num, uint64_t* den) {
  *num = 1;
  *den = 1;
  if (t == DType::kComplex64 || t == DType::kComplex128) *num = 2;
  if (dtype_bits(t) == 4) *den = 2;
}

// Accepted int32_data range per type. Floating-point bit patterns may be
// written as signed or unsigned integers of their width, so both are allowed.
void int32_range(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::kInt8: *lo = -128; *hi = 127; return;
    case DType::kUInt8: *lo = 0; *hi = 255; return;
    case DType::kInt16: *lo = -32768; *hi = 32767; return;
    case DType::kUInt16: *lo = 0; *hi = 65535; return;
    case DType::kBool: *lo = 0; *hi = 1; return;
    case DType::kFloat16: case DType::kBFloat16: *lo = -32768; *hi = 65535; return;
    default: break;  // 8-bit floats and packed 4-bit pairs: one byte per entry
  }
  *lo = -128;
  *hi = 255;
}

Result<Tensor> decode_int32_data(const TensorProto& p, DType dtype, Shape shape) {
  WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(shape)));
  const std::vector<int32_t>& v = p.int32_data;
  if (dtype == DType::kInt32) {
    if (!v.empty()) std::memcpy(t.mutable_raw(), v.data(), v.size() * sizeof(int32_t));
    return t;
  }
  int64_t lo, hi;
  int32_range(dtype, &lo, &hi);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo || v[i] > hi) {
      return invalid_model(label(p) + " of type " + dtype_name(dtype) + ": int32_data[" + std::to_string(i) +
                           "] = " + std::to_string(v[i]) + " is out of range");
    }
  }
  const int bits = dtype_bits(dtype);
  if (bits == 16) {
    uint16_t* out = t.mutable_data<uint16_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<uint16_t>(static_cast<uint32_t>(v[i]));
  } else {  // 8-bit types and packed 4-bit pairs
    uint8_t* out = t.mutable_data<uint8_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<uint8_t>(static_cast<uint32_t>(v[i]));
    // An odd 4-bit count leaves the high nibble of the last byte unused; zero
    // it so equal tensors have equal bytes.
    if (bits == 4 && (t.numel() & 1)) out[v.size() - 1] &= 0x0f;
  }
  return t;
}

Result<Tensor> decode_typed(const TensorProto& p, DType dtype, Shape shape) {
  switch (data_field(dtype)) {
    case DataField::kFloat: {
      WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(shape)));
      if (!p.float_data.empty()) std::memcpy(t.mutable_raw(), p.float_data.data(), p.float_data.size() * 4);
      return t;
    }
    case DataField::kDouble: {
      WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(shape)));
      if (!p.double_data.empty()) std::memcpy(t.mutable_raw(), p.double_data.data(), p.double_data.size() * 8);
      return t;
    }
    case DataField::kInt64: {
      WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(shape)));
      if (!p.int64_data.empty()) std::memcpy(t.mutable_raw(), p.int64_data.data(), p.int64_data.size() * 8);
      return t;
    }
    case DataField::kUInt64: {
      WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(shape)));
      const std::vector<uint64_t>& v = p.uint64_data;
      if (dtype == DType::kUInt64) {
        if (!v.empty()) std::memcpy(t.mutable_raw(), v.data(), v.size() * 8);
        return t;
      }
      uint32_t* out = t.mutable_data<uint32_t>();
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] > std::numeric_limits<uint32_t>::max()) {
          return invalid_model(label(p) + " of type uint32: uint64_data[" + std::to_string(i) +
                               "] = " + std::to_string(v[i]) + " is out of range");
        }
        out[i] = static_cast<uint32_t>(v[i]);
      }
      return t;
    }
    case DataField::kInt32: return decode_int32_data(p, dtype, std::move(shape));
    case DataField::kNone: break;
  }
  return internal_error(label(p) + ": no typed field for " + dtype_name(dtype));
}

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Realigns the payloads of one model, recursively (see align_raw_data).
class RawDataAligner {
 public:
  RawDataAligner(uint8_t* begin, size_t size) : begin_(begin), end_(begin + size) {}
  size_t moved() const { return moved_; }

  void model(onnx::ModelProto* m) {
    graph(&m->graph);
    for (auto& f : m->functions) {
      for (auto& a : f.attribute_proto) attribute(&a);
      for (auto& n : f.node) node(&n);
    }
    for (auto& t : m->training_info) {
      graph(&t.initialization);
      graph(&t.algorithm);
    }
  }

 private:
  void graph(onnx::GraphProto* g) {
    for (auto& t : g->initializer) tensor(&t);
    for (auto& t : g->sparse_initializer) sparse(&t);
    for (auto& n : g->node) node(&n);
  }
  void node(onnx::NodeProto* n) {
    for (auto& a : n->attribute) attribute(&a);
  }
  void attribute(onnx::AttributeProto* a) {
    tensor(&a->t);
    for (auto& t : a->tensors) tensor(&t);
    sparse(&a->sparse_tensor);
    for (auto& t : a->sparse_tensors) sparse(&t);
    if (a->g) graph(a->g.get());
    for (auto& g : a->graphs)
      if (g) graph(g.get());
  }
  void sparse(onnx::SparseTensorProto* t) {
    tensor(&t->values);
    tensor(&t->indices);
  }
  void tensor(TensorProto* t) {
    onnx::Bytes& raw = t->raw_data;
    if (!t->has_raw_data || raw.size == 0 || !dtype_is_known(t->data_type)) return;
    const DType dtype = static_cast<DType>(t->data_type);
    if (dtype == DType::kString) return;
    const uint8_t* data = raw.data;
    // Only views into the parsed buffer, never anything else.
    if (data < begin_ || data > end_ || raw.size > static_cast<size_t>(end_ - data)) return;
    const size_t shift = reinterpret_cast<uintptr_t>(data) % view_alignment(dtype);
    // In front of the payload: at least a one-byte tag (field 9) and the
    // length varint, both already parsed.
    const size_t header = 1 + varint_size(raw.size);
    if (shift == 0 || shift > header || static_cast<size_t>(data - begin_) < shift) return;
    uint8_t* dst = begin_ + (data - begin_) - shift;
    std::memmove(dst, data, raw.size);
    raw.data = dst;
    ++moved_;
  }

  uint8_t* begin_;
  const uint8_t* end_;
  size_t moved_ = 0;
};

}  // namespace

size_t align_raw_data(onnx::ModelProto* model, uint8_t* buffer, size_t size) {
  if (buffer == nullptr || size == 0) return 0;
  RawDataAligner aligner(buffer, size);
  aligner.model(model);
  return aligner.moved();
}

Result<Tensor> tensor_from_proto(const TensorProto& p) {
  if (p.data_location == 1) {
    return unsupported(label(p) + " stores its data in an external file (data_location EXTERNAL); "
                       "external data is not supported");
  }
  if (p.data_location != 0) {
    return invalid_model(label(p) + " has invalid data_location " + std::to_string(p.data_location));
  }
  if (p.data_type == 0) return invalid_model(label(p) + " has no data_type");
  if (!dtype_is_known(p.data_type)) {
    return unsupported(label(p) + " has element type " + std::to_string(p.data_type) + ", which is not supported");
  }
  const DType dtype = static_cast<DType>(p.data_type);
  if (dtype == DType::kString) return unsupported(label(p) + " is a string tensor; strings are not supported");
  if (p.has_segment) return unsupported(label(p) + " is stored in segments, which is not supported");

  Shape shape(p.dims.begin(), p.dims.end());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return invalid_model(label(p) + " has negative dimension " + std::to_string(shape[i]) + " at axis " +
                           std::to_string(i));
    }
  }
  const int64_t numel = shape_numel(shape);
  if (numel < 0) return invalid_model(label(p) + ": element count of shape " + shape_to_string(shape) + " overflows");
  const std::string what = label(p) + " of type " + dtype_name(dtype) + " and shape " + shape_to_string(shape);

  // Exactly one place may hold the values.
  const DataField own = data_field(dtype);
  const DataField all[] = {DataField::kFloat, DataField::kInt32, DataField::kInt64, DataField::kDouble,
                           DataField::kUInt64};
  for (DataField f : all) {
    if (data_field_size(p, f) == 0) continue;
    if (f != own) return invalid_model(what + " has values in " + data_field_name(f));
    if (p.has_raw_data) return invalid_model(what + " has values in both raw_data and " + data_field_name(f));
  }
  if (!p.string_data.empty()) return invalid_model(what + " has values in string_data");

  // 16 bytes per element at most, so this bound keeps the products in range.
  if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / 32) {
    return invalid_model(what + " is too large");
  }

  if (p.has_raw_data) {
    const uint64_t need = (dtype_bits(dtype) == 4) ? (static_cast<uint64_t>(numel) + 1) / 2
                                                   : static_cast<uint64_t>(numel) * (dtype_bits(dtype) / 8);
    if (p.raw_data.size != need) {
      return invalid_model(what + " needs " + std::to_string(need) + " bytes of raw_data, got " +
                           std::to_string(p.raw_data.size));
    }
    const bool aligned = reinterpret_cast<uintptr_t>(p.raw_data.data) % view_alignment(dtype) == 0;
    // Without an owner nothing would keep a view's bytes alive, so copy.
    if (need > 0 && aligned && p.raw_data.owner) return Tensor::view(dtype, shape, p.raw_data.data, p.raw_data.owner);
    WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
    if (need) std::memcpy(t.mutable_raw(), p.raw_data.data, static_cast<size_t>(need));
    return t;
  }

  uint64_t num, den;
  entries_per_element(dtype, &num, &den);
  const uint64_t need = (static_cast<uint64_t>(numel) * num + den - 1) / den;
  const size_t have = data_field_size(p, own);
  if (have != need) {
    return invalid_model(what + " needs " + std::to_string(need) + " values in " + data_field_name(own) + ", got " +
                         std::to_string(have));
  }
  return decode_typed(p, dtype, std::move(shape));
}

onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name) {
  TensorProto p;
  p.name = name;
  p.data_type = static_cast<int32_t>(tensor.dtype());
  p.dims.assign(tensor.shape().begin(), tensor.shape().end());
  if (!tensor.defined()) return p;
  p.has_raw_data = true;
  const size_t n = tensor.nbytes();
  if (n > 0) {
    p.raw_data.data = static_cast<const uint8_t*>(tensor.raw());
    p.raw_data.size = n;
    // A copy of the Tensor shares (and so keeps alive) its buffer.
    p.raw_data.owner = std::make_shared<Tensor>(tensor);
  }
  return p;
}

Result<Tensor> read_tensor_pb(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return not_found("cannot open tensor file '" + path + "'");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  if (std::fseek(f, 0, SEEK_END) != 0) return invalid_argument("cannot seek in tensor file '" + path + "'");
  const long end = std::ftell(f);
  if (end < 0) return invalid_argument("cannot size tensor file '" + path + "'");
  if (std::fseek(f, 0, SEEK_SET) != 0) return invalid_argument("cannot seek in tensor file '" + path + "'");
  const size_t size = static_cast<size_t>(end);
  if (size > kMaxTensorBytes) return out_of_memory("tensor file '" + path + "' is larger than the tensor limit");
  // 64-byte aligned storage, so the parsed raw_data can be viewed in place.
  void* mem = std::aligned_alloc(64, (size / 64 + 1) * 64);
  if (!mem) return out_of_memory("cannot allocate " + std::to_string(size) + " bytes for '" + path + "'");
  std::shared_ptr<const void> owner(mem, [](const void* q) { std::free(const_cast<void*>(q)); });
  if (size && std::fread(mem, 1, size, f) != size) {
    return invalid_argument("short read from tensor file '" + path + "'");
  }
  const uint8_t* data = static_cast<const uint8_t*>(mem);
  auto proto = onnx::parse_tensor(data, size, owner);
  if (!proto.ok()) return proto.status().with_context("tensor file '" + path + "': ");
  auto t = tensor_from_proto(proto.value());
  if (!t.ok()) return t.status().with_context("tensor file '" + path + "': ");
  return t;
}

}  // namespace wq
