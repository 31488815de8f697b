// Hostile and mistaken models (issue 13): sizes that wrap in wasm32, outputs
// over the memory limit, attribute/shape contracts broken, names that would
// flood an error message. Every case must end in a clean status naming the
// node, never in an abort, an out-of-bounds access (ASan natively) or a
// corrupted module; each family that computes output sizes is covered:
// elementwise broadcast, MatMul, reshape-like (Expand/Tile), pads, conv/pool
// geometry, gather, resize, constant generators (ConstantOfShape/Range/OneHot).
#include <doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "tests/core/runtime_test_util.h"

using namespace wq;
using namespace wq::test;

namespace {

onnx::TensorProto int64_initializer(const std::string& name, std::vector<int64_t> dims,
                                    const std::vector<int64_t>& values) {
  onnx::TensorProto t;
  t.name = name;
  t.dims = std::move(dims);
  t.data_type = static_cast<int32_t>(DType::kInt64);
  t.has_raw_data = true;
  t.raw_data = onnx::Bytes::copy_of(values.data(), values.size() * sizeof(int64_t));
  return t;
}

// ConstantOfShape's `value`: a one-element tensor of `dtype`.
onnx::AttributeProto value_attr(DType dtype) {
  onnx::AttributeProto a;
  a.name = "value";
  a.type = onnx::AttributeProto::TENSOR;
  a.has_t = true;
  a.t.name = "value";
  a.t.dims = {1};
  a.t.data_type = static_cast<int32_t>(dtype);
  a.t.has_raw_data = true;
  const int64_t one = 1;
  const float onef = 1.0f;
  a.t.raw_data = dtype == DType::kInt64 ? onnx::Bytes::copy_of(&one, 8) : onnx::Bytes::copy_of(&onef, 4);
  return a;
}

Tensor floats(Shape shape) {
  const int64_t n = shape_numel(shape);
  return Tensor::from_floats(std::move(shape), std::vector<float>(static_cast<size_t>(n), 0.5f));
}

struct Case {
  std::string family;                      // for the CAPTURE
  onnx::ModelProto model;
  std::map<std::string, Tensor> feeds;
};

// One model per output-size family, with an output of `n` float elements
// (n = s * s for the two-dimensional ones). The node under test is always
// named "victim".
using Builder = std::function<Case(int64_t n, int64_t s)>;

std::vector<std::pair<std::string, Builder>> families() {
  std::vector<std::pair<std::string, Builder>> f;
  f.emplace_back("ConstantOfShape (shape fed)", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("shape", DType::kInt64, {1}));
    g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
    g.node.push_back(node("ConstantOfShape", {"shape"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(value_attr(DType::kFloat32));
    c.feeds["shape"] = Tensor::from_int64s({1}, {n});
    return c;
  });
  f.emplace_back("ConstantOfShape int64 (shape constant: folded at load)", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.initializer.push_back(int64_initializer("shape", {1}, {n / 2}));  // int64: n/2 elements = n floats' bytes
    g.output.push_back(value_info("y", DType::kInt64, {"n"}));
    g.node.push_back(node("ConstantOfShape", {"shape"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(value_attr(DType::kInt64));
    return c;
  });
  f.emplace_back("Range", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("limit", DType::kFloat32, {}));
    g.initializer.push_back(float_initializer("start", {}, {0.0f}));
    g.initializer.push_back(float_initializer("delta", {}, {1.0f}));
    g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
    g.node.push_back(node("Range", {"start", "limit", "delta"}, {"y"}, "victim"));
    c.feeds["limit"] = Tensor::from_floats({}, {static_cast<float>(n)});
    return c;
  });
  f.emplace_back("OneHot", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("indices", DType::kInt64, {1}));
    g.input.push_back(value_info("depth", DType::kInt64, {}));
    g.initializer.push_back(float_initializer("values", {2}, {0.0f, 1.0f}));
    g.output.push_back(value_info("y", DType::kFloat32, {1, "n"}));
    g.node.push_back(node("OneHot", {"indices", "depth", "values"}, {"y"}, "victim"));
    c.feeds["indices"] = Tensor::from_int64s({1}, {0});
    c.feeds["depth"] = Tensor::from_int64s({}, {n});
    return c;
  });
  f.emplace_back("Expand", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1}));
    g.input.push_back(value_info("shape", DType::kInt64, {1}));
    g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
    g.node.push_back(node("Expand", {"x", "shape"}, {"y"}, "victim"));
    c.feeds["x"] = floats({1});
    c.feeds["shape"] = Tensor::from_int64s({1}, {n});
    return c;
  });
  f.emplace_back("Tile", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1}));
    g.input.push_back(value_info("repeats", DType::kInt64, {1}));
    g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
    g.node.push_back(node("Tile", {"x", "repeats"}, {"y"}, "victim"));
    c.feeds["x"] = floats({1});
    c.feeds["repeats"] = Tensor::from_int64s({1}, {n});
    return c;
  });
  f.emplace_back("Mul (broadcast)", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("a", DType::kFloat32, {"s", 1}));
    g.input.push_back(value_info("b", DType::kFloat32, {1, "s"}));
    g.output.push_back(value_info("y", DType::kFloat32, {"s", "s"}));
    g.node.push_back(node("Mul", {"a", "b"}, {"y"}, "victim"));
    c.feeds["a"] = floats({s, 1});
    c.feeds["b"] = floats({1, s});
    return c;
  });
  f.emplace_back("MatMul (outer product)", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("a", DType::kFloat32, {"s", 1}));
    g.input.push_back(value_info("b", DType::kFloat32, {1, "s"}));
    g.output.push_back(value_info("y", DType::kFloat32, {"s", "s"}));
    g.node.push_back(node("MatMul", {"a", "b"}, {"y"}, "victim"));
    c.feeds["a"] = floats({s, 1});
    c.feeds["b"] = floats({1, s});
    return c;
  });
  f.emplace_back("Pad", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1}));
    g.initializer.push_back(int64_initializer("pads", {2}, {0, n - 1}));
    g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
    g.node.push_back(node("Pad", {"x", "pads"}, {"y"}, "victim"));
    c.feeds["x"] = floats({1});
    return c;
  });
  f.emplace_back("Conv1d (pads)", [](int64_t n, int64_t) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1, 1, 1}));
    g.initializer.push_back(float_initializer("w", {1, 1, 1}, {1.0f}));
    g.output.push_back(value_info("y", DType::kFloat32, {1, 1, "n"}));
    g.node.push_back(node("Conv", {"x", "w"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(ints_attr("pads", {0, n - 1}));
    c.feeds["x"] = floats({1, 1, 1});
    return c;
  });
  f.emplace_back("Conv2d (pads)", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1, 1, 1, 1}));
    g.initializer.push_back(float_initializer("w", {1, 1, 1, 1}, {1.0f}));
    g.output.push_back(value_info("y", DType::kFloat32, {1, 1, "s", "s"}));
    g.node.push_back(node("Conv", {"x", "w"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(ints_attr("pads", {0, 0, s - 1, s - 1}));
    c.feeds["x"] = floats({1, 1, 1, 1});
    return c;
  });
  f.emplace_back("MaxPool (pads)", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1, 1, 1, 1}));
    g.output.push_back(value_info("y", DType::kFloat32, {1, 1, "s", "s"}));
    g.node.push_back(node("AveragePool", {"x"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(ints_attr("kernel_shape", {1, 1}));
    g.node.back().attribute.push_back(ints_attr("pads", {0, 0, s - 1, s - 1}));
    c.feeds["x"] = floats({1, 1, 1, 1});
    return c;
  });
  f.emplace_back("Gather", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("data", DType::kFloat32, {1, "s"}));
    g.input.push_back(value_info("indices", DType::kInt64, {"s"}));
    g.output.push_back(value_info("y", DType::kFloat32, {"s", "s"}));
    g.node.push_back(node("Gather", {"data", "indices"}, {"y"}, "victim"));
    c.feeds["data"] = floats({1, s});
    c.feeds["indices"] = Tensor::from_int64s({s}, std::vector<int64_t>(static_cast<size_t>(s), 0));
    return c;
  });
  f.emplace_back("Resize", [](int64_t, int64_t s) {
    Case c{"", empty_model(17), {}};
    auto& g = c.model.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1, 1, 1, 1}));
    g.initializer.push_back(int64_initializer("sizes", {4}, {1, 1, s, s}));
    g.output.push_back(value_info("y", DType::kFloat32, {1, 1, "s", "s"}));
    g.node.push_back(node("Resize", {"x", "", "", "sizes"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(string_attr("mode", "nearest"));
    c.feeds["x"] = floats({1, 1, 1, 1});
    return c;
  });
  return f;
}

Result<std::unique_ptr<Model>> load(const onnx::ModelProto& m, uint64_t limit = kDefaultMemoryLimitBytes) {
  LoadOptions options;
  options.memory_limit_bytes = limit;
  return Model::load(onnx::serialize_model(m), std::move(options));
}

// A small real graph that must keep loading and running bit for bit after
// every bad case (a corrupted heap would show here, or under ASan).
void check_module_still_works() {
  onnx::ModelProto m = empty_model(17);
  auto& g = m.graph;
  g.input.push_back(value_info("x", DType::kFloat32, {1, 2, 4, 4}));
  g.initializer.push_back(float_initializer("w", {3, 2, 3, 3}, std::vector<float>(54, 0.25f)));
  g.initializer.push_back(float_initializer("b", {3}, {1.0f, 2.0f, 3.0f}));
  g.output.push_back(value_info("y", DType::kFloat32, {1, 3, 4, 4}));
  g.node.push_back(node("Conv", {"x", "w", "b"}, {"y"}, "good_conv"));
  g.node.back().attribute.push_back(ints_attr("pads", {1, 1, 1, 1}));
  auto model = load(m);
  REQUIRE(model.ok());
  std::map<std::string, Tensor> feeds;
  feeds["x"] = floats({1, 2, 4, 4});
  auto out = model.value()->run(feeds);
  REQUIRE(out.ok());
  const Tensor& y = out.value().at("y");
  // Corner: 2 channels x 4 taps x 0.5 x 0.25 + bias; centre: 2 x 9 taps.
  CHECK(y.data<float>()[0] == doctest::Approx(1.0f + 1.0f));
  CHECK(y.data<float>()[5] == doctest::Approx(1.0f + 2.25f));
}

}  // namespace

TEST_CASE("outputs of exactly 4 GiB are refused, not wrapped to 0 bytes (every size family)") {
  // 2^30 float elements = 2^32 bytes: a size_t product in wasm32 wraps to 0.
  const int64_t n = int64_t(1) << 30, s = int64_t(1) << 15;
  for (const auto& entry : families()) {
    const std::string& family = entry.first;
    const Builder& build = entry.second;
    CAPTURE(family);
    Case c = build(n, s);
    MemoryLimitScope measure(0, "the test's measurement");
    auto model = load(c.model);
    REQUIRE_MESSAGE(model.ok(), model.status().to_string());
    auto out = model.value()->run(c.feeds);
    REQUIRE(!out.ok());
    CAPTURE(out.status().to_string());
    CHECK(out.status().code() == StatusCode::kOutOfMemory);
    CHECK(contains(out.status().message(), "node 'victim'"));
    CHECK(measure.peak_bytes() < (uint64_t(1) << 20));  // refused before anything big was allocated
    check_module_still_works();
  }
}

TEST_CASE("an output over the memory limit fails with OUT_OF_MEMORY naming the node and the limit") {
  // 2^22 floats = 16 MiB: fine without a limit, over an 8 MiB one.
  const int64_t n = int64_t(1) << 22, s = int64_t(1) << 11;
  for (const auto& entry : families()) {
    const std::string& family = entry.first;
    const Builder& build = entry.second;
    CAPTURE(family);
    Case c = build(n, s);
    {
      auto model = load(c.model, uint64_t(8) << 20);
      REQUIRE_MESSAGE(model.ok(), model.status().to_string());
      auto out = model.value()->run(c.feeds);
      REQUIRE(!out.ok());
      CAPTURE(out.status().to_string());
      CHECK(out.status().code() == StatusCode::kOutOfMemory);
      CHECK(contains(out.status().message(), "node 'victim'"));
      CHECK(contains(out.status().message(), "memory limit"));
      // The model stays usable: the same run fails the same way again.
      auto again = model.value()->run(c.feeds);
      CHECK(again.status().code() == StatusCode::kOutOfMemory);
    }
    {
      // Without the limit the same model runs: the limit is what refused it.
      auto model = load(c.model, 0);
      REQUIRE(model.ok());
      auto out = model.value()->run(c.feeds);
      REQUIRE_MESSAGE(out.ok(), out.status().to_string());
      const Tensor& y = out.value().begin()->second;
      CHECK(static_cast<int64_t>(y.nbytes()) == n * 4);
    }
    check_module_still_works();
  }
}

TEST_CASE("load-time constant folding does not allocate what it would not keep") {
  // An 81-byte-class model: ConstantOfShape of a constant shape of 2^28
  // floats (1 GiB). Folding would allocate it at load only to drop it (over
  // the fold growth limit); the fold limit refuses it before allocating, so
  // loading allocates almost nothing, and the run (which really needs the
  // GiB) reports the memory limit.
  onnx::ModelProto m = empty_model(17);
  auto& g = m.graph;
  g.initializer.push_back(int64_initializer("shape", {1}, {int64_t(1) << 28}));
  g.output.push_back(value_info("y", DType::kFloat32, {"n"}));
  g.node.push_back(node("ConstantOfShape", {"shape"}, {"y"}, "victim"));
  g.node.back().attribute.push_back(value_attr(DType::kFloat32));
  MemoryLimitScope measure(0, "the test's measurement");
  auto model = load(m, 0);  // no model limit: only the fold limit can keep the load small
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  CHECK(measure.peak_bytes() < (uint64_t(1) << 20));
  model = load(m, uint64_t(64) << 20);
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  auto out = model.value()->run({});
  REQUIRE(!out.ok());
  CHECK(out.status().code() == StatusCode::kOutOfMemory);
  CHECK(contains(out.status().message(), "node 'victim'"));
  check_module_still_works();
}

TEST_CASE("Conv whose group, weight and bias disagree is rejected before touching memory") {
  struct Variant {
    const char* what;
    std::vector<int64_t> x, w, b;
    int64_t group;
  };
  const Variant variants[] = {
      {"bias, group 2, W in-channels = X channels", {1, 16, 8, 8}, {32, 16, 3, 3}, {32}, 2},
      {"no bias, group 2, W in-channels = X channels", {1, 16, 8, 8}, {32, 16, 3, 3}, {}, 2},
      {"bias of the wrong length", {1, 16, 8, 8}, {32, 16, 3, 3}, {16}, 1},
      {"group does not divide the output channels", {1, 16, 8, 8}, {30, 4, 3, 3}, {30}, 4},
      {"group larger than the channels", {1, 16, 8, 8}, {32, 1, 3, 3}, {32}, 32},
      {"depthwise group with X channels off by one", {1, 15, 8, 8}, {16, 1, 3, 3}, {16}, 16},
      {"W rank differs from X", {1, 16, 8, 8}, {32, 16, 3}, {32}, 1},
  };
  for (const Variant& v : variants) {
    CAPTURE(v.what);
    onnx::ModelProto m = empty_model(17);
    auto& g = m.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {v.x[0], v.x[1], v.x[2], v.x[3]}));
    g.initializer.push_back(float_initializer("w", v.w, std::vector<float>(size_t(shape_numel(v.w)), 0.1f)));
    std::vector<std::string> inputs = {"x", "w"};
    if (!v.b.empty()) {
      g.initializer.push_back(float_initializer("b", v.b, std::vector<float>(size_t(v.b[0]), 1.0f)));
      inputs.push_back("b");
    }
    g.output.push_back(value_info("y", DType::kFloat32, {}));
    g.output.back().type.has_shape = false;
    g.node.push_back(node("Conv", inputs, {"y"}, "victim"));
    g.node.back().attribute.push_back(int_attr("group", v.group));
    auto model = load(m);
    if (model.ok()) {
      std::map<std::string, Tensor> feeds;
      feeds["x"] = floats(v.x);
      auto out = model.value()->run(feeds);
      REQUIRE(!out.ok());
      CAPTURE(out.status().to_string());
      CHECK((out.status().code() == StatusCode::kInvalidArgument || out.status().code() == StatusCode::kInvalidModel));
      CHECK(contains(out.status().message(), "node 'victim'"));
    } else {
      CAPTURE(model.status().to_string());
      CHECK((model.status().code() == StatusCode::kInvalidModel ||
             model.status().code() == StatusCode::kInvalidArgument));
      CHECK(contains(model.status().message(), "victim"));
    }
    check_module_still_works();
  }
}

TEST_CASE("window attributes beyond 2^31 are refused by name (pads of 2^32 used to be INTERNAL)") {
  for (int64_t pad : {int64_t(1) << 32, int64_t(1) << 62, int64_t(-1)}) {
    CAPTURE(pad);
    onnx::ModelProto m = empty_model(17);
    auto& g = m.graph;
    g.input.push_back(value_info("x", DType::kFloat32, {1, 1, 4, 4}));
    g.initializer.push_back(float_initializer("w", {1, 1, 1, 1}, {1.0f}));
    g.output.push_back(value_info("y", DType::kFloat32, {}));
    g.output.back().type.has_shape = false;
    g.node.push_back(node("Conv", {"x", "w"}, {"y"}, "victim"));
    g.node.back().attribute.push_back(ints_attr("pads", {0, 0, pad, 0}));
    auto model = load(m);
    Status st = model.status();
    if (model.ok()) {
      std::map<std::string, Tensor> feeds;
      feeds["x"] = floats({1, 1, 4, 4});
      st = model.value()->run(feeds).status();
    }
    CAPTURE(st.to_string());
    CHECK(st.code() == StatusCode::kInvalidModel);
    CHECK(contains(st.message(), "victim"));
    CHECK(contains(st.message(), "pads"));
  }
  check_module_still_works();
}

TEST_CASE("a node named like another node is renamed, so passes edit the right one; quantization works") {
  onnx::ModelProto m = empty_model(17);
  auto& g = m.graph;
  g.input.push_back(value_info("x", DType::kFloat32, {1, 2, 4, 4}));
  g.initializer.push_back(float_initializer("w1", {2, 2, 3, 3}, std::vector<float>(36, 0.25f)));
  g.initializer.push_back(float_initializer("w2", {2, 2, 3, 3}, std::vector<float>(36, -0.5f)));
  g.output.push_back(value_info("y", DType::kFloat32, {1, 2, 4, 4}));
  g.node.push_back(node("Conv", {"x", "w1"}, {"h"}, "same"));
  g.node.back().attribute.push_back(ints_attr("pads", {1, 1, 1, 1}));
  g.node.push_back(node("Relu", {"h"}, {"r"}, "same"));
  g.node.push_back(node("Conv", {"r", "w2"}, {"y"}, "same"));
  g.node.back().attribute.push_back(ints_attr("pads", {1, 1, 1, 1}));
  auto model = load(m);
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  std::map<std::string, Tensor> feeds;
  feeds["x"] = floats({1, 2, 4, 4});
  auto out = model.value()->run(feeds);
  REQUIRE(out.ok());
  for (const char* mode : {"static", "dynamic"}) {
    CAPTURE(mode);
    auto recipe = parse_recipe(std::string("{\"mode\":\"") + mode + "\"}");
    REQUIRE(recipe.ok());
    auto q = Quantizer::create(model.value()->graph(), recipe.value());
    REQUIRE_MESSAGE(q.ok(), q.status().to_string());
    if (q.value()->needs_calibration()) REQUIRE(q.value()->calibrate(feeds).ok());
    auto result = q.value()->finish();
    REQUIRE_MESSAGE(result.ok(), result.status().to_string());
    auto quantized = Model::load(result.value().bytes);
    REQUIRE_MESSAGE(quantized.ok(), quantized.status().to_string());
    auto qout = quantized.value()->run(feeds);
    REQUIRE_MESSAGE(qout.ok(), qout.status().to_string());
    CHECK(qout.value().at("y").shape() == out.value().at("y").shape());
  }
  check_module_still_works();
}

TEST_CASE("error messages are bounded and escaped, whatever names the model uses") {
  const std::string long_name(1 << 20, 'n');  // a 1 MiB node/value name
  onnx::ModelProto m = empty_model(17);
  auto& g = m.graph;
  g.input.push_back(value_info("x", DType::kFloat32, {2}));
  g.output.push_back(value_info("y", DType::kFloat32, {2}));
  g.node.push_back(node("Relu", {long_name + "\x01\n\x7f"}, {"y"}, long_name));
  auto model = load(m);
  REQUIRE(!model.ok());
  const std::string& msg = model.status().message();
  CAPTURE(msg.substr(0, 300));
  CHECK(msg.size() <= kMaxMessageChars + 64);
  CHECK(contains(msg, "(name cut: +"));
  for (char ch : msg) CHECK_FALSE((static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f));

  // Escaping keeps short names readable and marks control characters,
  // bytes that are not UTF-8, C1 controls and bidirectional overrides; other
  // UTF-8 passes through.
  const Status st = invalid_model("value 'a\nb\x01' is bad");
  CHECK(st.message() == "value 'a\\nb\\x01' is bad");
  CHECK(invalid_model("name '\xff\xc2\x85\xe2\x80\xae\xc3\xa9'").message() ==
        "name '\\xff\\u0085\\u202e\xc3\xa9'");
  // A name of 1 MiB of control characters escapes to more than the cap: still bounded.
  const Status controls = invalid_model("value '" + std::string(1 << 20, '\x01') + "'");
  CHECK(controls.message().size() <= kMaxMessageChars + 64);
  // Messages without names or control characters are unchanged.
  CHECK(invalid_argument("recipe.weights.bits: must be 4 or 8, got 3").message() ==
        "recipe.weights.bits: must be 4 or 8, got 3");
  // A long message is cut with a marker saying how much is missing.
  const Status flood = unsupported(std::string(3 * kMaxMessageChars, 'x'));
  CHECK(flood.message().size() < kMaxMessageChars + 64);
  CHECK(contains(flood.message(), "more bytes)"));
}
