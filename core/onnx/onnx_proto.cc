// ONNX protobuf parser and serializer over core/onnx/wire.h.
//
// Parsing follows protobuf merge semantics, so any file protobuf accepts
// parses the same way here: a singular scalar that appears twice keeps the
// last value, a singular message that appears twice is merged, repeated
// fields append, a oneof member replaces the others, and repeated scalars are
// accepted packed and unpacked. Unknown fields are skipped (and not kept).
// Stricter than protobuf: a known field with the wrong wire type is an error
// (protobuf would silently keep it as an unknown field).
//
// Serialization writes fields in field-number order, as protobuf's own
// serializer does, with the packing onnx.proto declares (proto2: only the
// TensorProto *_data fields are [packed = true]; dims, AttributeProto.floats
// and .ints are unpacked), so a file written by onnx / protobuf usually comes
// back byte-identical. Scalars are written when they differ from their
// default, plus the cases where presence carries meaning for readers such as
// onnxruntime: the value field matching AttributeProto.type (f = 0 of a FLOAT
// attribute), a dim_value of 0, and every has_* flag in onnx_proto.h.
#include "core/onnx/onnx_proto.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "core/onnx/wire.h"

namespace wq {
namespace onnx {

namespace {
struct FreeDeleter {
  void operator()(const void* p) const { std::free(const_cast<void*>(p)); }
};
}  // namespace

Bytes Bytes::copy_of(const void* p, size_t n) {
  // 64-byte aligned so tensors can view the copy in place whatever their type.
  constexpr size_t kAlign = 64;
  const size_t alloc = (n / kAlign + 1) * kAlign;
  void* buf = std::aligned_alloc(kAlign, alloc);
  Bytes b;
  if (!buf) return b;  // size 0, data null: callers see an empty buffer
  if (n) std::memcpy(buf, p, n);
  b.owner = std::shared_ptr<const void>(buf, FreeDeleter());
  b.data = static_cast<const uint8_t*>(buf);
  b.size = n;
  return b;
}

namespace {

// protobuf's default recursion limit; a Loop body inside an If branch inside
// a Scan costs three levels per subgraph, so real models stay far below it.
constexpr int kMaxNestingDepth = 100;

// The in-memory structs are much larger than their encodings (an empty
// AttributeProto costs two bytes on the wire and ~1.5 KB here), so hostile
// input made of empty messages could ask for gigabytes. The parse is charged
// for every element it creates and fails cleanly past this budget.
constexpr size_t kStructBudgetFloor = size_t(64) << 20;
constexpr size_t kStructBudgetPerInputByte = 128;
constexpr size_t kStructBudgetCap = size_t(1) << 30;

struct FieldTag {
  uint32_t number;
  WireType type;
  size_t offset;  // where the tag starts
};

class Parser {
 public:
  Parser(size_t size, std::shared_ptr<const void> owner) : owner_(std::move(owner)) {
    const size_t per_byte = size > (kStructBudgetCap / kStructBudgetPerInputByte)
                                ? kStructBudgetCap
                                : size * kStructBudgetPerInputByte;
    budget_ = kStructBudgetFloor + per_byte;
    if (budget_ > kStructBudgetCap) budget_ = kStructBudgetCap;
  }

  Status model(WireReader& r, ModelProto* m);
  Status tensor(WireReader& r, TensorProto* t);

 private:
  // ---- errors ----
  Status error_at(size_t offset, const char* field, uint32_t number, const std::string& what) const {
    std::string msg = "malformed ONNX protobuf at byte " + std::to_string(offset) + " in " + field;
    if (number) msg += " (field " + std::to_string(number) + ")";
    return invalid_model(msg + ": " + what);
  }
  Status reader_error(const WireReader& r, const char* field, uint32_t number) const {
    return error_at(r.error_offset(), field, number, r.error());
  }
  Status expect(const FieldTag& tag, WireType want, const char* field) const {
    if (tag.type == want) return Status::Ok();
    return error_at(tag.offset, field, tag.number,
                    std::string("wire type ") + wire_type_name(tag.type) + ", expected " + wire_type_name(want));
  }
  Status charge(size_t bytes, const char* field) {
    used_ += bytes;
    if (used_ <= budget_) return Status::Ok();
    return out_of_memory(std::string("ONNX model structure needs more than ") + std::to_string(budget_ >> 20) +
                         " MiB of memory while reading " + field + " (hostile or corrupt input?)");
  }

  // ---- the field loop ----
  template <typename OnField>
  Status fields(WireReader& r, const char* message, OnField&& on_field) {
    while (!r.at_end()) {
      FieldTag tag;
      tag.offset = r.offset();
      if (!r.read_tag(&tag.number, &tag.type)) return reader_error(r, message, 0);
      WQ_RETURN_IF_ERROR(on_field(tag));
    }
    return Status::Ok();
  }
  Status skip(WireReader& r, const FieldTag& tag, const char* message) {
    if (tag.type == WireType::kStartGroup || tag.type == WireType::kEndGroup) {
      return error_at(tag.offset, message, tag.number,
                      std::string("deprecated ") + wire_type_name(tag.type) + " wire type is not supported");
    }
    if (r.skip(tag.type)) return Status::Ok();
    return error_at(r.error_offset(), message, tag.number, "unknown field: " + r.error());
  }

  // ---- scalars ----
  Status varint(WireReader& r, const FieldTag& tag, const char* field, uint64_t* v) {
    WQ_RETURN_IF_ERROR(expect(tag, WireType::kVarint, field));
    if (!r.read_varint(v)) return reader_error(r, field, tag.number);
    return Status::Ok();
  }
  Status i64(WireReader& r, const FieldTag& tag, const char* field, int64_t* out) {
    uint64_t v;
    WQ_RETURN_IF_ERROR(varint(r, tag, field, &v));
    *out = static_cast<int64_t>(v);
    return Status::Ok();
  }
  // int32 and enums: protobuf truncates the 64-bit varint.
  Status i32(WireReader& r, const FieldTag& tag, const char* field, int32_t* out) {
    uint64_t v;
    WQ_RETURN_IF_ERROR(varint(r, tag, field, &v));
    *out = static_cast<int32_t>(static_cast<uint32_t>(v));
    return Status::Ok();
  }
  Status f32(WireReader& r, const FieldTag& tag, const char* field, float* out) {
    WQ_RETURN_IF_ERROR(expect(tag, WireType::kFixed32, field));
    uint32_t bits;
    if (!r.read_fixed32(&bits)) return reader_error(r, field, tag.number);
    std::memcpy(out, &bits, 4);
    return Status::Ok();
  }
  Status len(WireReader& r, const FieldTag& tag, const char* field, const uint8_t** data, size_t* size) {
    WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, field));
    if (!r.read_len(data, size)) return reader_error(r, field, tag.number);
    return Status::Ok();
  }
  Status str(WireReader& r, const FieldTag& tag, const char* field, std::string* out) {
    const uint8_t* d;
    size_t n;
    WQ_RETURN_IF_ERROR(len(r, tag, field, &d, &n));
    out->assign(reinterpret_cast<const char*>(d), n);
    return Status::Ok();
  }
  Status rep_str(WireReader& r, const FieldTag& tag, const char* field, std::vector<std::string>* out) {
    const uint8_t* d;
    size_t n;
    WQ_RETURN_IF_ERROR(len(r, tag, field, &d, &n));
    WQ_RETURN_IF_ERROR(charge(sizeof(std::string), field));
    out->emplace_back(reinterpret_cast<const char*>(d), n);
    return Status::Ok();
  }
  Status bytes_view(WireReader& r, const FieldTag& tag, const char* field, Bytes* out) {
    const uint8_t* d;
    size_t n;
    WQ_RETURN_IF_ERROR(len(r, tag, field, &d, &n));
    out->data = d;
    out->size = n;
    out->owner = owner_;
    return Status::Ok();
  }

  // ---- repeated scalars, packed or not ----
  // Varint element types: Convert maps the decoded 64-bit value to T.
  template <typename T, typename Convert>
  Status rep_varint(WireReader& r, const FieldTag& tag, const char* field, std::vector<T>* out, Convert convert) {
    if (tag.type == WireType::kVarint) {
      uint64_t v;
      if (!r.read_varint(&v)) return reader_error(r, field, tag.number);
      WQ_RETURN_IF_ERROR(charge(sizeof(T), field));
      out->push_back(convert(v));
      return Status::Ok();
    }
    if (tag.type != WireType::kLen) {
      return error_at(tag.offset, field, tag.number,
                      std::string("wire type ") + wire_type_name(tag.type) + ", expected varint or packed");
    }
    const uint8_t* d;
    size_t n;
    if (!r.read_len(&d, &n)) return reader_error(r, field, tag.number);
    const size_t count = count_packed_varints(d, n);
    WQ_RETURN_IF_ERROR(charge(count * sizeof(T), field));
    out->reserve(out->size() + count);
    WireReader p(d, d + n, r.base());
    while (!p.at_end()) {
      uint64_t v;
      if (!p.read_varint(&v)) return reader_error(p, field, tag.number);
      out->push_back(convert(v));
    }
    return Status::Ok();
  }
  // float (fixed32) and double (fixed64) elements.
  template <typename T>
  Status rep_fixed(WireReader& r, const FieldTag& tag, const char* field, std::vector<T>* out) {
    constexpr WireType kScalarType = sizeof(T) == 4 ? WireType::kFixed32 : WireType::kFixed64;
    if (tag.type == kScalarType) {
      T v;
      if constexpr (sizeof(T) == 4) {
        uint32_t bits;
        if (!r.read_fixed32(&bits)) return reader_error(r, field, tag.number);
        std::memcpy(&v, &bits, 4);
      } else {
        uint64_t bits;
        if (!r.read_fixed64(&bits)) return reader_error(r, field, tag.number);
        std::memcpy(&v, &bits, 8);
      }
      WQ_RETURN_IF_ERROR(charge(sizeof(T), field));
      out->push_back(v);
      return Status::Ok();
    }
    if (tag.type != WireType::kLen) {
      return error_at(tag.offset, field, tag.number,
                      std::string("wire type ") + wire_type_name(tag.type) + ", expected " +
                          wire_type_name(kScalarType) + " or packed");
    }
    const size_t payload_offset = r.offset();
    const uint8_t* d;
    size_t n;
    if (!r.read_len(&d, &n)) return reader_error(r, field, tag.number);
    if (n % sizeof(T) != 0) {
      return error_at(payload_offset, field, tag.number,
                      "packed payload of " + std::to_string(n) + " bytes is not a multiple of " +
                          std::to_string(sizeof(T)));
    }
    const size_t count = n / sizeof(T);
    WQ_RETURN_IF_ERROR(charge(n, field));
    const size_t old = out->size();
    out->resize(old + count);
    if (n) std::memcpy(out->data() + old, d, n);
    return Status::Ok();
  }
  Status rep_i64(WireReader& r, const FieldTag& tag, const char* field, std::vector<int64_t>* out) {
    return rep_varint(r, tag, field, out, [](uint64_t v) { return static_cast<int64_t>(v); });
  }
  Status rep_i32(WireReader& r, const FieldTag& tag, const char* field, std::vector<int32_t>* out) {
    return rep_varint(r, tag, field, out,
                      [](uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); });
  }
  Status rep_u64(WireReader& r, const FieldTag& tag, const char* field, std::vector<uint64_t>* out) {
    return rep_varint(r, tag, field, out, [](uint64_t v) { return v; });
  }

  // ---- messages ----
  // Parses the length-delimited sub-message of `tag` with body(sub_reader).
  template <typename Body>
  Status msg(WireReader& r, const FieldTag& tag, const char* field, Body&& body) {
    const uint8_t* d;
    size_t n;
    WQ_RETURN_IF_ERROR(len(r, tag, field, &d, &n));
    if (depth_ >= kMaxNestingDepth) {
      return error_at(tag.offset, field, tag.number,
                      "messages nested deeper than " + std::to_string(kMaxNestingDepth) + " levels");
    }
    ++depth_;
    WireReader sub(d, d + n, r.base());
    Status s = body(sub);
    --depth_;
    return s;
  }
  template <typename T, typename Parse>
  Status rep_msg(WireReader& r, const FieldTag& tag, const char* field, std::vector<T>* out, Parse parse) {
    WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, field));
    WQ_RETURN_IF_ERROR(charge(sizeof(T), field));
    out->emplace_back();
    T* item = &out->back();
    return msg(r, tag, field, [&](WireReader& s) { return (this->*parse)(s, item); });
  }
  template <typename T, typename Parse>
  Status one_msg(WireReader& r, const FieldTag& tag, const char* field, T* out, Parse parse) {
    return msg(r, tag, field, [&](WireReader& s) { return (this->*parse)(s, out); });
  }
  template <typename T, typename Parse>
  Status shared_msg(WireReader& r, const FieldTag& tag, const char* field, std::shared_ptr<T>* out,
                    Parse parse) {
    WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, field));
    if (!*out) {
      WQ_RETURN_IF_ERROR(charge(sizeof(T), field));
      *out = std::make_shared<T>();
    }
    T* item = out->get();
    return msg(r, tag, field, [&](WireReader& s) { return (this->*parse)(s, item); });
  }

  Status entry(WireReader& r, StringStringEntryProto* e);
  Status opset(WireReader& r, OperatorSetIdProto* o);
  Status shape(WireReader& r, TensorShapeProto* s);
  Status dimension(WireReader& r, TensorShapeProto::Dimension* d);
  Status type(WireReader& r, TypeProto* t);
  Status type_tensor(WireReader& r, TypeProto* t);
  Status type_sparse_tensor(WireReader& r, TypeProto* t);
  Status type_sequence(WireReader& r, TypeProto* t);
  Status type_optional(WireReader& r, TypeProto* t);
  Status type_map(WireReader& r, TypeProto* t);
  Status type_tensor_fields(WireReader& r, TypeProto* t, const char* message, const char* elem_type_field,
                            const char* shape_field);
  Status value_info(WireReader& r, ValueInfoProto* v);
  Status segment(WireReader& r, TensorProto* t);
  Status sparse_tensor(WireReader& r, SparseTensorProto* s);
  Status attribute(WireReader& r, AttributeProto* a);
  Status node(WireReader& r, NodeProto* n);
  Status annotation(WireReader& r, TensorAnnotation* a);
  Status graph(WireReader& r, GraphProto* g);
  Status function(WireReader& r, FunctionProto* f);
  Status training_info(WireReader& r, TrainingInfoProto* t);

  std::shared_ptr<const void> owner_;
  int depth_ = 0;
  size_t used_ = 0;
  size_t budget_ = 0;
};

Status Parser::entry(WireReader& r, StringStringEntryProto* e) {
  return fields(r, "StringStringEntryProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "StringStringEntryProto.key", &e->key);
      case 2: return str(r, tag, "StringStringEntryProto.value", &e->value);
      default: return skip(r, tag, "StringStringEntryProto");
    }
  });
}

Status Parser::opset(WireReader& r, OperatorSetIdProto* o) {
  return fields(r, "OperatorSetIdProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "OperatorSetIdProto.domain", &o->domain);
      case 2: return i64(r, tag, "OperatorSetIdProto.version", &o->version);
      default: return skip(r, tag, "OperatorSetIdProto");
    }
  });
}

Status Parser::dimension(WireReader& r, TensorShapeProto::Dimension* d) {
  return fields(r, "TensorShapeProto.Dimension", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1:  // oneof value: the last member seen wins
        WQ_RETURN_IF_ERROR(i64(r, tag, "TensorShapeProto.Dimension.dim_value", &d->dim_value));
        d->has_value = true;
        d->has_param = false;
        d->dim_param.clear();
        return Status::Ok();
      case 2:
        WQ_RETURN_IF_ERROR(str(r, tag, "TensorShapeProto.Dimension.dim_param", &d->dim_param));
        d->has_param = true;
        d->has_value = false;
        d->dim_value = 0;
        return Status::Ok();
      case 3: return str(r, tag, "TensorShapeProto.Dimension.denotation", &d->denotation);
      default: return skip(r, tag, "TensorShapeProto.Dimension");
    }
  });
}

Status Parser::shape(WireReader& r, TensorShapeProto* s) {
  return fields(r, "TensorShapeProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return rep_msg(r, tag, "TensorShapeProto.dim", &s->dim, &Parser::dimension);
      default: return skip(r, tag, "TensorShapeProto");
    }
  });
}

// Switching TypeProto's oneof `value` to another member clears the old one.
void set_type_kind(TypeProto* t, TypeProto::Kind kind) {
  if (t->kind == kind) return;
  t->kind = kind;
  t->elem_type = 0;
  t->has_shape = false;
  t->shape = TensorShapeProto();
  t->elem.reset();
  t->map_key_type = 0;
  t->map_value.reset();
}

Status Parser::type_tensor_fields(WireReader& r, TypeProto* t, const char* message, const char* elem_type_field,
                                  const char* shape_field) {
  return fields(r, message, [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return i32(r, tag, elem_type_field, &t->elem_type);
      case 2:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, shape_field));
        t->has_shape = true;
        return one_msg(r, tag, shape_field, &t->shape, &Parser::shape);
      default: return skip(r, tag, message);
    }
  });
}

Status Parser::type_tensor(WireReader& r, TypeProto* t) {
  return type_tensor_fields(r, t, "TypeProto.Tensor", "TypeProto.Tensor.elem_type", "TypeProto.Tensor.shape");
}

Status Parser::type_sparse_tensor(WireReader& r, TypeProto* t) {
  return type_tensor_fields(r, t, "TypeProto.SparseTensor", "TypeProto.SparseTensor.elem_type",
                            "TypeProto.SparseTensor.shape");
}

Status Parser::type_sequence(WireReader& r, TypeProto* t) {
  return fields(r, "TypeProto.Sequence", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return shared_msg(r, tag, "TypeProto.Sequence.elem_type", &t->elem, &Parser::type);
      default: return skip(r, tag, "TypeProto.Sequence");
    }
  });
}

Status Parser::type_optional(WireReader& r, TypeProto* t) {
  return fields(r, "TypeProto.Optional", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return shared_msg(r, tag, "TypeProto.Optional.elem_type", &t->elem, &Parser::type);
      default: return skip(r, tag, "TypeProto.Optional");
    }
  });
}

Status Parser::type_map(WireReader& r, TypeProto* t) {
  return fields(r, "TypeProto.Map", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return i32(r, tag, "TypeProto.Map.key_type", &t->map_key_type);
      case 2: return shared_msg(r, tag, "TypeProto.Map.value_type", &t->map_value, &Parser::type);
      default: return skip(r, tag, "TypeProto.Map");
    }
  });
}

Status Parser::type(WireReader& r, TypeProto* t) {
  return fields(r, "TypeProto", [&](const FieldTag& tag) -> Status {
    using Kind = TypeProto::Kind;
    switch (tag.number) {
      case 1:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TypeProto.tensor_type"));
        set_type_kind(t, Kind::kTensor);
        return one_msg(r, tag, "TypeProto.tensor_type", t, &Parser::type_tensor);
      case 4:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TypeProto.sequence_type"));
        set_type_kind(t, Kind::kSequence);
        return one_msg(r, tag, "TypeProto.sequence_type", t, &Parser::type_sequence);
      case 5:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TypeProto.map_type"));
        set_type_kind(t, Kind::kMap);
        return one_msg(r, tag, "TypeProto.map_type", t, &Parser::type_map);
      case 6: return str(r, tag, "TypeProto.denotation", &t->denotation);
      case 8:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TypeProto.sparse_tensor_type"));
        set_type_kind(t, Kind::kSparseTensor);
        return one_msg(r, tag, "TypeProto.sparse_tensor_type", t, &Parser::type_sparse_tensor);
      case 9:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TypeProto.optional_type"));
        set_type_kind(t, Kind::kOptional);
        return one_msg(r, tag, "TypeProto.optional_type", t, &Parser::type_optional);
      default: return skip(r, tag, "TypeProto");
    }
  });
}

Status Parser::value_info(WireReader& r, ValueInfoProto* v) {
  return fields(r, "ValueInfoProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "ValueInfoProto.name", &v->name);
      case 2:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "ValueInfoProto.type"));
        v->has_type = true;
        return one_msg(r, tag, "ValueInfoProto.type", &v->type, &Parser::type);
      case 3: return str(r, tag, "ValueInfoProto.doc_string", &v->doc_string);
      case 4: return rep_msg(r, tag, "ValueInfoProto.metadata_props", &v->metadata_props, &Parser::entry);
      default: return skip(r, tag, "ValueInfoProto");
    }
  });
}

Status Parser::segment(WireReader& r, TensorProto* t) {
  return fields(r, "TensorProto.Segment", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return i64(r, tag, "TensorProto.Segment.begin", &t->segment_begin);
      case 2: return i64(r, tag, "TensorProto.Segment.end", &t->segment_end);
      default: return skip(r, tag, "TensorProto.Segment");
    }
  });
}

Status Parser::tensor(WireReader& r, TensorProto* t) {
  return fields(r, "TensorProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return rep_i64(r, tag, "TensorProto.dims", &t->dims);
      case 2: return i32(r, tag, "TensorProto.data_type", &t->data_type);
      case 3:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TensorProto.segment"));
        t->has_segment = true;
        return one_msg(r, tag, "TensorProto.segment", t, &Parser::segment);
      case 4: return rep_fixed(r, tag, "TensorProto.float_data", &t->float_data);
      case 5: return rep_i32(r, tag, "TensorProto.int32_data", &t->int32_data);
      case 6: return rep_str(r, tag, "TensorProto.string_data", &t->string_data);
      case 7: return rep_i64(r, tag, "TensorProto.int64_data", &t->int64_data);
      case 8: return str(r, tag, "TensorProto.name", &t->name);
      case 9:
        WQ_RETURN_IF_ERROR(bytes_view(r, tag, "TensorProto.raw_data", &t->raw_data));
        t->has_raw_data = true;
        return Status::Ok();
      case 10: return rep_fixed(r, tag, "TensorProto.double_data", &t->double_data);
      case 11: return rep_u64(r, tag, "TensorProto.uint64_data", &t->uint64_data);
      case 12: return str(r, tag, "TensorProto.doc_string", &t->doc_string);
      case 13: return rep_msg(r, tag, "TensorProto.external_data", &t->external_data, &Parser::entry);
      case 14: return i32(r, tag, "TensorProto.data_location", &t->data_location);
      case 16: return rep_msg(r, tag, "TensorProto.metadata_props", &t->metadata_props, &Parser::entry);
      default: return skip(r, tag, "TensorProto");
    }
  });
}

Status Parser::sparse_tensor(WireReader& r, SparseTensorProto* s) {
  return fields(r, "SparseTensorProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return one_msg(r, tag, "SparseTensorProto.values", &s->values, &Parser::tensor);
      case 2: return one_msg(r, tag, "SparseTensorProto.indices", &s->indices, &Parser::tensor);
      case 3: return rep_i64(r, tag, "SparseTensorProto.dims", &s->dims);
      default: return skip(r, tag, "SparseTensorProto");
    }
  });
}

Status Parser::attribute(WireReader& r, AttributeProto* a) {
  return fields(r, "AttributeProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "AttributeProto.name", &a->name);
      case 2: return f32(r, tag, "AttributeProto.f", &a->f);
      case 3: return i64(r, tag, "AttributeProto.i", &a->i);
      case 4: return str(r, tag, "AttributeProto.s", &a->s);
      case 5:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "AttributeProto.t"));
        a->has_t = true;
        return one_msg(r, tag, "AttributeProto.t", &a->t, &Parser::tensor);
      case 6: return shared_msg(r, tag, "AttributeProto.g", &a->g, &Parser::graph);
      case 7: return rep_fixed(r, tag, "AttributeProto.floats", &a->floats);
      case 8: return rep_i64(r, tag, "AttributeProto.ints", &a->ints);
      case 9: return rep_str(r, tag, "AttributeProto.strings", &a->strings);
      case 10: return rep_msg(r, tag, "AttributeProto.tensors", &a->tensors, &Parser::tensor);
      case 11: {
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "AttributeProto.graphs"));
        WQ_RETURN_IF_ERROR(charge(sizeof(GraphProto) + sizeof(a->graphs[0]), "AttributeProto.graphs"));
        a->graphs.push_back(std::make_shared<GraphProto>());
        GraphProto* g = a->graphs.back().get();
        return one_msg(r, tag, "AttributeProto.graphs", g, &Parser::graph);
      }
      case 13: return str(r, tag, "AttributeProto.doc_string", &a->doc_string);
      case 14:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "AttributeProto.tp"));
        a->has_tp = true;
        return one_msg(r, tag, "AttributeProto.tp", &a->tp, &Parser::type);
      case 15: return rep_msg(r, tag, "AttributeProto.type_protos", &a->type_protos, &Parser::type);
      case 20: return i32(r, tag, "AttributeProto.type", &a->type);
      case 21: return str(r, tag, "AttributeProto.ref_attr_name", &a->ref_attr_name);
      case 22:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "AttributeProto.sparse_tensor"));
        a->has_sparse_tensor = true;
        return one_msg(r, tag, "AttributeProto.sparse_tensor", &a->sparse_tensor, &Parser::sparse_tensor);
      case 23:
        return rep_msg(r, tag, "AttributeProto.sparse_tensors", &a->sparse_tensors, &Parser::sparse_tensor);
      default: return skip(r, tag, "AttributeProto");
    }
  });
}

Status Parser::node(WireReader& r, NodeProto* n) {
  return fields(r, "NodeProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return rep_str(r, tag, "NodeProto.input", &n->input);
      case 2: return rep_str(r, tag, "NodeProto.output", &n->output);
      case 3: return str(r, tag, "NodeProto.name", &n->name);
      case 4: return str(r, tag, "NodeProto.op_type", &n->op_type);
      case 5: return rep_msg(r, tag, "NodeProto.attribute", &n->attribute, &Parser::attribute);
      case 6: return str(r, tag, "NodeProto.doc_string", &n->doc_string);
      case 7: return str(r, tag, "NodeProto.domain", &n->domain);
      case 8: return str(r, tag, "NodeProto.overload", &n->overload);
      case 9: return rep_msg(r, tag, "NodeProto.metadata_props", &n->metadata_props, &Parser::entry);
      default: return skip(r, tag, "NodeProto");
    }
  });
}

Status Parser::annotation(WireReader& r, TensorAnnotation* a) {
  return fields(r, "TensorAnnotation", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "TensorAnnotation.tensor_name", &a->tensor_name);
      case 2:
        return rep_msg(r, tag, "TensorAnnotation.quant_parameter_tensor_names", &a->quant_parameter_tensor_names,
                       &Parser::entry);
      default: return skip(r, tag, "TensorAnnotation");
    }
  });
}

Status Parser::graph(WireReader& r, GraphProto* g) {
  return fields(r, "GraphProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return rep_msg(r, tag, "GraphProto.node", &g->node, &Parser::node);
      case 2: return str(r, tag, "GraphProto.name", &g->name);
      case 5: return rep_msg(r, tag, "GraphProto.initializer", &g->initializer, &Parser::tensor);
      case 10: return str(r, tag, "GraphProto.doc_string", &g->doc_string);
      case 11: return rep_msg(r, tag, "GraphProto.input", &g->input, &Parser::value_info);
      case 12: return rep_msg(r, tag, "GraphProto.output", &g->output, &Parser::value_info);
      case 13: return rep_msg(r, tag, "GraphProto.value_info", &g->value_info, &Parser::value_info);
      case 14:
        return rep_msg(r, tag, "GraphProto.quantization_annotation", &g->quantization_annotation,
                       &Parser::annotation);
      case 15:
        return rep_msg(r, tag, "GraphProto.sparse_initializer", &g->sparse_initializer, &Parser::sparse_tensor);
      case 16: return rep_msg(r, tag, "GraphProto.metadata_props", &g->metadata_props, &Parser::entry);
      default: return skip(r, tag, "GraphProto");
    }
  });
}

Status Parser::function(WireReader& r, FunctionProto* f) {
  return fields(r, "FunctionProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return str(r, tag, "FunctionProto.name", &f->name);
      case 4: return rep_str(r, tag, "FunctionProto.input", &f->input);
      case 5: return rep_str(r, tag, "FunctionProto.output", &f->output);
      case 6: return rep_str(r, tag, "FunctionProto.attribute", &f->attribute);
      case 7: return rep_msg(r, tag, "FunctionProto.node", &f->node, &Parser::node);
      case 8: return str(r, tag, "FunctionProto.doc_string", &f->doc_string);
      case 9: return rep_msg(r, tag, "FunctionProto.opset_import", &f->opset_import, &Parser::opset);
      case 10: return str(r, tag, "FunctionProto.domain", &f->domain);
      case 11: return rep_msg(r, tag, "FunctionProto.attribute_proto", &f->attribute_proto, &Parser::attribute);
      case 12: return rep_msg(r, tag, "FunctionProto.value_info", &f->value_info, &Parser::value_info);
      case 13: return str(r, tag, "FunctionProto.overload", &f->overload);
      case 14: return rep_msg(r, tag, "FunctionProto.metadata_props", &f->metadata_props, &Parser::entry);
      default: return skip(r, tag, "FunctionProto");
    }
  });
}

Status Parser::training_info(WireReader& r, TrainingInfoProto* t) {
  return fields(r, "TrainingInfoProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TrainingInfoProto.initialization"));
        t->has_initialization = true;
        return one_msg(r, tag, "TrainingInfoProto.initialization", &t->initialization, &Parser::graph);
      case 2:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "TrainingInfoProto.algorithm"));
        t->has_algorithm = true;
        return one_msg(r, tag, "TrainingInfoProto.algorithm", &t->algorithm, &Parser::graph);
      case 3:
        return rep_msg(r, tag, "TrainingInfoProto.initialization_binding", &t->initialization_binding,
                       &Parser::entry);
      case 4: return rep_msg(r, tag, "TrainingInfoProto.update_binding", &t->update_binding, &Parser::entry);
      default: return skip(r, tag, "TrainingInfoProto");
    }
  });
}

Status Parser::model(WireReader& r, ModelProto* m) {
  return fields(r, "ModelProto", [&](const FieldTag& tag) -> Status {
    switch (tag.number) {
      case 1: return i64(r, tag, "ModelProto.ir_version", &m->ir_version);
      case 2: return str(r, tag, "ModelProto.producer_name", &m->producer_name);
      case 3: return str(r, tag, "ModelProto.producer_version", &m->producer_version);
      case 4: return str(r, tag, "ModelProto.domain", &m->domain);
      case 5: return i64(r, tag, "ModelProto.model_version", &m->model_version);
      case 6: return str(r, tag, "ModelProto.doc_string", &m->doc_string);
      case 7:
        WQ_RETURN_IF_ERROR(expect(tag, WireType::kLen, "ModelProto.graph"));
        m->has_graph = true;
        return one_msg(r, tag, "ModelProto.graph", &m->graph, &Parser::graph);
      case 8: return rep_msg(r, tag, "ModelProto.opset_import", &m->opset_import, &Parser::opset);
      case 14: return rep_msg(r, tag, "ModelProto.metadata_props", &m->metadata_props, &Parser::entry);
      case 20: return rep_msg(r, tag, "ModelProto.training_info", &m->training_info, &Parser::training_info);
      case 25: return rep_msg(r, tag, "ModelProto.functions", &m->functions, &Parser::function);
      default: return skip(r, tag, "ModelProto");
    }
  });
}

// ---------------------------------------------------------------------------
// Serialization. Every emitter is a template over WireWriter / WireSizer.

template <typename S> void emit(S& s, const StringStringEntryProto& e);
template <typename S> void emit(S& s, const OperatorSetIdProto& o);
template <typename S> void emit(S& s, const TensorShapeProto::Dimension& d);
template <typename S> void emit(S& s, const TensorShapeProto& sh);
template <typename S> void emit(S& s, const TypeProto& t);
template <typename S> void emit(S& s, const ValueInfoProto& v);
template <typename S> void emit(S& s, const TensorProto& t);
template <typename S> void emit(S& s, const SparseTensorProto& t);
template <typename S> void emit(S& s, const AttributeProto& a);
template <typename S> void emit(S& s, const NodeProto& n);
template <typename S> void emit(S& s, const TensorAnnotation& a);
template <typename S> void emit(S& s, const GraphProto& g);
template <typename S> void emit(S& s, const FunctionProto& f);
template <typename S> void emit(S& s, const TrainingInfoProto& t);
template <typename S> void emit(S& s, const ModelProto& m);

// A length-delimited sub-message written by body(sink): sized first, then
// written. For the sizer the body runs once.
template <typename S, typename Body>
void put_msg_with(S& s, uint32_t field, Body&& body) {
  WireSizer sz;
  body(sz);
  s.len_header(field, sz.size());
  if constexpr (S::kWrites) {
    body(s);
  } else {
    s.sized_payload(sz.size());
  }
}
template <typename S, typename M>
void put_msg(S& s, uint32_t field, const M& m) {
  put_msg_with(s, field, [&](auto& sink) { emit(sink, m); });
}
template <typename S, typename M>
void put_msgs(S& s, uint32_t field, const std::vector<M>& v) {
  for (const M& m : v) put_msg(s, field, m);
}
template <typename S>
void put_str(S& s, uint32_t field, const std::string& v) {
  if (!v.empty()) put_string_field(s, field, v);
}
template <typename S>
void put_strs(S& s, uint32_t field, const std::vector<std::string>& v) {
  for (const std::string& x : v) put_string_field(s, field, x);  // empty elements are elements
}
template <typename S>
void put_i64(S& s, uint32_t field, int64_t v) {
  if (v != 0) put_varint_field(s, field, int64_wire(v));
}
template <typename S>
void put_i32(S& s, uint32_t field, int32_t v) {
  if (v != 0) put_varint_field(s, field, int32_wire(v));
}
uint64_t u64_wire(uint64_t v) { return v; }

template <typename S>
void emit(S& s, const StringStringEntryProto& e) {
  put_str(s, 1, e.key);
  put_str(s, 2, e.value);
}

template <typename S>
void emit(S& s, const OperatorSetIdProto& o) {
  // onnx's make_opsetid always sets the domain, "" included; writing it keeps
  // re-saved files byte-identical to the originals.
  put_string_field(s, 1, o.domain);
  put_i64(s, 2, o.version);
}

template <typename S>
void emit(S& s, const TensorShapeProto::Dimension& d) {
  if (d.has_value) {
    put_varint_field(s, 1, int64_wire(d.dim_value));  // 0 is a real extent, keep it
  } else if (d.has_param) {
    put_string_field(s, 2, d.dim_param);
  }
  put_str(s, 3, d.denotation);
}

template <typename S>
void emit(S& s, const TensorShapeProto& sh) {
  put_msgs(s, 1, sh.dim);
}

// TypeProto.Tensor and TypeProto.SparseTensor share the layout.
template <typename S>
void emit_type_tensor(S& s, const TypeProto& t) {
  put_i32(s, 1, t.elem_type);
  if (t.has_shape) put_msg(s, 2, t.shape);  // an empty shape is a scalar, not "unknown rank"
}

template <typename S>
void emit_type_elem(S& s, const TypeProto& t) {
  if (t.elem) put_msg(s, 1, *t.elem);
}

template <typename S>
void emit(S& s, const TypeProto& t) {
  using Kind = TypeProto::Kind;
  switch (t.kind) {
    case Kind::kTensor: put_msg_with(s, 1, [&](auto& sink) { emit_type_tensor(sink, t); }); break;
    case Kind::kSequence: put_msg_with(s, 4, [&](auto& sink) { emit_type_elem(sink, t); }); break;
    case Kind::kMap:
      put_msg_with(s, 5, [&](auto& sink) {
        put_i32(sink, 1, t.map_key_type);
        if (t.map_value) put_msg(sink, 2, *t.map_value);
      });
      break;
    default: break;
  }
  put_str(s, 6, t.denotation);
  switch (t.kind) {
    case Kind::kSparseTensor: put_msg_with(s, 8, [&](auto& sink) { emit_type_tensor(sink, t); }); break;
    case Kind::kOptional: put_msg_with(s, 9, [&](auto& sink) { emit_type_elem(sink, t); }); break;
    default: break;
  }
}

template <typename S>
void emit(S& s, const ValueInfoProto& v) {
  put_str(s, 1, v.name);
  if (v.has_type) put_msg(s, 2, v.type);
  put_str(s, 3, v.doc_string);
  put_msgs(s, 4, v.metadata_props);
}

template <typename S>
void emit(S& s, const TensorProto& t) {
  put_unpacked_varints(s, 1, t.dims, &int64_wire);
  put_i32(s, 2, t.data_type);
  if (t.has_segment) {
    put_msg_with(s, 3, [&](auto& sink) {
      put_i64(sink, 1, t.segment_begin);
      put_i64(sink, 2, t.segment_end);
    });
  }
  put_packed_fixed(s, 4, t.float_data);
  put_packed_varints(s, 5, t.int32_data, &int32_wire);
  put_strs(s, 6, t.string_data);
  put_packed_varints(s, 7, t.int64_data, &int64_wire);
  put_str(s, 8, t.name);
  if (t.has_raw_data) put_bytes_field(s, 9, t.raw_data.data, t.raw_data.size);
  put_packed_fixed(s, 10, t.double_data);
  put_packed_varints(s, 11, t.uint64_data, &u64_wire);
  put_str(s, 12, t.doc_string);
  put_msgs(s, 13, t.external_data);
  put_i32(s, 14, t.data_location);
  put_msgs(s, 16, t.metadata_props);
}

template <typename S>
void emit(S& s, const SparseTensorProto& t) {
  put_msg(s, 1, t.values);
  put_msg(s, 2, t.indices);
  put_unpacked_varints(s, 3, t.dims, &int64_wire);
}

template <typename S>
void emit(S& s, const AttributeProto& a) {
  // The value field that AttributeProto.type names is written even when it
  // holds the default (f = 0.0 of a FLOAT attribute): readers that test
  // has_f()/has_i()/has_s() (onnx checker, onnxruntime) must see it. An
  // attribute referring to a parent function attribute carries no value.
  const bool is_ref = !a.ref_attr_name.empty();
  uint32_t f_bits;
  std::memcpy(&f_bits, &a.f, 4);
  put_str(s, 1, a.name);
  if (f_bits != 0 || (a.type == AttributeProto::FLOAT && !is_ref)) put_float_field(s, 2, a.f);
  if (a.i != 0 || (a.type == AttributeProto::INT && !is_ref)) put_varint_field(s, 3, int64_wire(a.i));
  if (!a.s.empty() || (a.type == AttributeProto::STRING && !is_ref)) put_string_field(s, 4, a.s);
  if (a.has_t) put_msg(s, 5, a.t);
  if (a.g) put_msg(s, 6, *a.g);
  put_unpacked_floats(s, 7, a.floats);
  put_unpacked_varints(s, 8, a.ints, &int64_wire);
  put_strs(s, 9, a.strings);
  put_msgs(s, 10, a.tensors);
  for (const auto& g : a.graphs) {
    if (g) {
      put_msg(s, 11, *g);
    } else {
      put_msg(s, 11, GraphProto());
    }
  }
  put_str(s, 13, a.doc_string);
  if (a.has_tp) put_msg(s, 14, a.tp);
  put_msgs(s, 15, a.type_protos);
  put_i32(s, 20, a.type);
  put_str(s, 21, a.ref_attr_name);
  if (a.has_sparse_tensor) put_msg(s, 22, a.sparse_tensor);
  put_msgs(s, 23, a.sparse_tensors);
}

template <typename S>
void emit(S& s, const NodeProto& n) {
  put_strs(s, 1, n.input);
  put_strs(s, 2, n.output);
  put_str(s, 3, n.name);
  put_str(s, 4, n.op_type);
  put_msgs(s, 5, n.attribute);
  put_str(s, 6, n.doc_string);
  put_str(s, 7, n.domain);
  put_str(s, 8, n.overload);
  put_msgs(s, 9, n.metadata_props);
}

template <typename S>
void emit(S& s, const TensorAnnotation& a) {
  put_str(s, 1, a.tensor_name);
  put_msgs(s, 2, a.quant_parameter_tensor_names);
}

template <typename S>
void emit(S& s, const GraphProto& g) {
  put_msgs(s, 1, g.node);
  put_str(s, 2, g.name);
  put_msgs(s, 5, g.initializer);
  put_str(s, 10, g.doc_string);
  put_msgs(s, 11, g.input);
  put_msgs(s, 12, g.output);
  put_msgs(s, 13, g.value_info);
  put_msgs(s, 14, g.quantization_annotation);
  put_msgs(s, 15, g.sparse_initializer);
  put_msgs(s, 16, g.metadata_props);
}

template <typename S>
void emit(S& s, const FunctionProto& f) {
  put_str(s, 1, f.name);
  put_strs(s, 4, f.input);
  put_strs(s, 5, f.output);
  put_strs(s, 6, f.attribute);
  put_msgs(s, 7, f.node);
  put_str(s, 8, f.doc_string);
  put_msgs(s, 9, f.opset_import);
  put_str(s, 10, f.domain);
  put_msgs(s, 11, f.attribute_proto);
  put_msgs(s, 12, f.value_info);
  put_str(s, 13, f.overload);
  put_msgs(s, 14, f.metadata_props);
}

template <typename S>
void emit(S& s, const TrainingInfoProto& t) {
  if (t.has_initialization) put_msg(s, 1, t.initialization);
  if (t.has_algorithm) put_msg(s, 2, t.algorithm);
  put_msgs(s, 3, t.initialization_binding);
  put_msgs(s, 4, t.update_binding);
}

template <typename S>
void emit(S& s, const ModelProto& m) {
  put_i64(s, 1, m.ir_version);
  put_str(s, 2, m.producer_name);
  put_str(s, 3, m.producer_version);
  put_str(s, 4, m.domain);
  put_i64(s, 5, m.model_version);
  put_str(s, 6, m.doc_string);
  if (m.has_graph) put_msg(s, 7, m.graph);
  put_msgs(s, 8, m.opset_import);
  put_msgs(s, 14, m.metadata_props);
  put_msgs(s, 20, m.training_info);
  put_msgs(s, 25, m.functions);
}

template <typename M>
std::vector<uint8_t> serialize(const M& m) {
  WireSizer sz;
  emit(sz, m);
  std::vector<uint8_t> out;
  out.reserve(sz.size());
  WireWriter w(&out);
  emit(w, m);
  return out;
}

}  // namespace

Result<ModelProto> parse_model(const uint8_t* data, size_t size, std::shared_ptr<const void> owner) {
  // Zero bytes are the empty ModelProto (what serialize_model writes for it);
  // rejecting a model without a graph is the loader's job.
  if (!data && size) return invalid_argument("parse_model: null data with nonzero size");
  ModelProto m;
  if (size == 0) return m;
  Parser parser(size, std::move(owner));
  WireReader r(data, data + size, data);
  WQ_RETURN_IF_ERROR(parser.model(r, &m));
  return m;
}

Result<TensorProto> parse_tensor(const uint8_t* data, size_t size, std::shared_ptr<const void> owner) {
  if (!data && size) return invalid_argument("parse_tensor: null data with nonzero size");
  TensorProto t;
  if (size == 0) return t;  // the empty message: every field at its default
  Parser parser(size, std::move(owner));
  WireReader r(data, data + size, data);
  WQ_RETURN_IF_ERROR(parser.tensor(r, &t));
  return t;
}

std::vector<uint8_t> serialize_model(const ModelProto& model) { return serialize(model); }

std::vector<uint8_t> serialize_tensor(const TensorProto& tensor) { return serialize(tensor); }

}  // namespace onnx
}  // namespace wq
