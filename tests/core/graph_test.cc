#include "core/graph/graph.h"

#include <doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/onnx/onnx_proto.h"
#include "tests/core/runtime_test_util.h"

namespace wq {
namespace {

using test::empty_model;
using test::node;
using test::contains;
using test::value_info;

std::vector<std::string> node_names(const Graph& g) {
  std::vector<std::string> names;
  for (const Node& n : g.nodes()) names.push_back(n.name);
  return names;
}

// x -> a -> b -> c -> d -> y, written to the model in the given order.
onnx::ModelProto chain_model(const std::vector<int>& file_order) {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2, 3}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2, 3}));
  const std::vector<onnx::NodeProto> chain = {
      node("Relu", {"x"}, {"t1"}, "a"), node("Relu", {"t1"}, {"t2"}, "b"), node("Relu", {"t2"}, {"t3"}, "c"),
      node("Relu", {"t3"}, {"y"}, "d")};
  for (int i : file_order) m.graph.node.push_back(chain[i]);
  return m;
}

TEST_CASE("graph: nodes written out of order are sorted topologically") {
  for (const auto& order : std::vector<std::vector<int>>{{3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}}) {
    Result<Graph> g = Graph::from_proto(chain_model(order));
    REQUIRE_MESSAGE(g.ok(), g.status().to_string());
    CHECK(node_names(g.value()) == std::vector<std::string>{"a", "b", "c", "d"});
  }
}

TEST_CASE("graph: an already sorted graph keeps its file order") {
  // Diamond: both "left" and "right" are ready after "top"; the file order
  // (right before left) must survive.
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {4}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {4}));
  m.graph.node = {node("Relu", {"x"}, {"t"}, "top"), node("Relu", {"t"}, {"r"}, "right"),
                  node("Relu", {"t"}, {"l"}, "left"), node("Add", {"l", "r"}, {"y"}, "join")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(node_names(g.value()) == std::vector<std::string>{"top", "right", "left", "join"});
}

TEST_CASE("graph: a cycle is kInvalidModel naming the nodes and tensors") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Add", {"x", "q"}, {"p"}, "n1"), node("Relu", {"p"}, {"q"}, "n2"),
                  node("Relu", {"p"}, {"y"}, "n3")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  const std::string& msg = g.status().message();
  CHECK(contains(msg, "cycle"));
  CHECK(contains(msg, "'n1'"));
  CHECK(contains(msg, "'n2'"));
  CHECK(contains(msg, "'q'"));
  CHECK(contains(msg, "'p'"));
  CHECK_FALSE(contains(msg, "'n3'"));  // n3 only waits on the cycle; it is not part of it
}

TEST_CASE("graph: a node reading its own output is a cycle") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Add", {"x", "y"}, {"y"}, "selfie")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(g.status().message(), "'selfie'"));
}

TEST_CASE("graph: an input nothing produces is kInvalidModel naming node and tensor") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Add", {"x", "ghost"}, {"y"}, "adder")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(g.status().message(), "'adder'"));
  CHECK(contains(g.status().message(), "'ghost'"));
}

TEST_CASE("graph: empty optional input and output names are not values") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Clip", {"x", "", ""}, {"y"}, "clip"), node("Dropout", {"y"}, {"z", ""}, "drop")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(g.value().nodes()[0].inputs == std::vector<std::string>{"x", "", ""});
}

TEST_CASE("graph: duplicate output names are rejected") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Relu", {"x"}, {"y"}, "first"), node("Relu", {"x"}, {"y"}, "second")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(g.status().message(), "'y'"));
  CHECK(contains(g.status().message(), "'first'"));
  CHECK(contains(g.status().message(), "'second'"));

  // A node output may not shadow a graph input either.
  onnx::ModelProto m2 = empty_model();
  m2.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m2.graph.output.push_back(value_info("x", DType::kFloat32, {2}));
  m2.graph.node = {node("Relu", {"x"}, {"x"}, "shadow")};
  Result<Graph> g2 = Graph::from_proto(m2);
  REQUIRE_FALSE(g2.ok());
  CHECK(contains(g2.status().message(), "graph input"));
}

TEST_CASE("graph: a graph output nothing produces is rejected") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("nowhere", DType::kFloat32, {2}));
  m.graph.node = {node("Relu", {"x"}, {"y"}, "r")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(g.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(g.status().message(), "'nowhere'"));
}

TEST_CASE("graph: a node in a domain the model does not import is rejected") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Gelu", {"x"}, {"y"}, "g", "com.example")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_FALSE(g.ok());
  CHECK(contains(g.status().message(), "com.example"));
  CHECK(contains(g.status().message(), "'g'"));
}

TEST_CASE("graph: unnamed nodes get unique generated names") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  // The second node's generated name "Relu_1" is already taken by the third.
  m.graph.node = {node("Relu", {"x"}, {"a"}), node("Relu", {"a"}, {"b"}), node("Relu", {"b"}, {"c"}, "Relu_1"),
                  node("Sigmoid", {"c"}, {"y"})};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(node_names(g.value()) == std::vector<std::string>{"Relu_0", "Relu_1_1", "Relu_1", "Sigmoid_3"});
}

TEST_CASE("graph: ai.onnx domain is the default domain") {
  onnx::ModelProto m = empty_model();
  m.opset_import[0].domain = "ai.onnx";
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("Relu", {"x"}, {"y"}, "r", "ai.onnx")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(g.value().opset("") == 17);
  CHECK(g.value().opset("ai.onnx") == 17);
  CHECK(g.value().nodes()[0].domain.empty());
  CHECK(g.value().opset("com.other") == -1);
}

TEST_CASE("graph: initializers listed as inputs (IR < 4) are constants, not inputs") {
  onnx::ModelProto m = empty_model();
  m.ir_version = 3;
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.input.push_back(value_info("w", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.initializer.push_back(test::float_initializer("w", {2}, {1.5f, -2.0f}));
  m.graph.node = {node("Add", {"x", "w"}, {"y"}, "add")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  REQUIRE(g.value().inputs().size() == 1);
  CHECK(g.value().inputs()[0].name == "x");
  const Tensor* w = g.value().find_initializer("w");
  REQUIRE(w != nullptr);
  CHECK(test::to_floats(*w) == std::vector<float>{1.5f, -2.0f});
  // Saving keeps the override entry in graph.input, as the file had it.
  onnx::ModelProto saved = g.value().to_proto();
  REQUIRE(saved.graph.input.size() == 2);
  CHECK(saved.graph.input[1].name == "w");
}

TEST_CASE("graph: value summaries carry dtype and symbolic shape") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {"batch", 3, "?", 192}));
  m.graph.output.push_back(value_info("y", DType::kInt64, {}));
  m.graph.node = {node("Shape", {"x"}, {"y"}, "s")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  const ValueSummary& in = g.value().inputs()[0];
  CHECK(in.dtype == DType::kFloat32);
  REQUIRE(in.has_shape);
  REQUIRE(in.shape.size() == 4);
  CHECK(in.shape[0].param == "batch");
  CHECK(in.shape[0].value == -1);
  CHECK(in.shape[1].value == 3);
  CHECK(in.shape[2].value == -1);
  CHECK(in.shape[2].param.empty());
  CHECK(in.shape[3].value == 192);
  CHECK(g.value().outputs()[0].dtype == DType::kInt64);
  CHECK(g.value().outputs()[0].has_shape);
  CHECK(g.value().outputs()[0].shape.empty());
}

TEST_CASE("graph: summary counts ops and parameters") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2, 3}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2, 3}));
  m.graph.initializer.push_back(test::float_initializer("b", {3}, {1, 2, 3}));
  m.graph.initializer.push_back(test::float_initializer("s", {2, 3}, {1, 2, 3, 4, 5, 6}));
  // Weights in a Constant node count as parameters too.
  onnx::NodeProto k = node("Constant", {}, {"k"}, "k");
  onnx::AttributeProto value;
  value.name = "value";
  value.type = onnx::AttributeProto::TENSOR;
  value.has_t = true;
  value.t = test::float_initializer("", {2, 2}, {1, 2, 3, 4});
  k.attribute.push_back(value);
  m.graph.node = {node("Add", {"x", "b"}, {"t1"}, "a1"), node("Relu", {"t1"}, {"t2"}, "r1"),
                  node("Mul", {"t2", "s"}, {"t3"}, "m1"), node("Relu", {"t3"}, {"t4"}, "r2"),
                  node("Relu", {"t4"}, {"y"}, "r3"), k};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  auto counts = g.value().op_counts();
  REQUIRE(counts.size() == 4);
  CHECK(counts[0] == std::make_pair(std::string("Relu"), int64_t{3}));
  CHECK(counts[1].second == 1);
  CHECK(g.value().num_parameters() == 9 + 4);
  CHECK(g.value().parameter_bytes() == 36 + 16);
}

TEST_CASE("graph: save -> load round trip keeps structure, data and metadata") {
  onnx::ModelProto m = empty_model(13);
  m.ir_version = 7;
  m.producer_version = "1.2.3";
  m.doc_string = "model doc";
  m.model_version = 42;
  m.metadata_props.push_back({"author", "webquant"});
  onnx::OperatorSetIdProto custom;
  custom.domain = "com.example";
  custom.version = 2;
  m.opset_import.push_back(custom);
  onnx::FunctionProto fn;
  fn.name = "MyFn";
  fn.domain = "com.example";
  m.functions.push_back(fn);
  m.graph.doc_string = "graph doc";
  m.graph.input.push_back(value_info("x", DType::kFloat32, {"batch", 3}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {"batch", 3}));
  m.graph.value_info.push_back(value_info("t", DType::kFloat32, {"batch", 3}));
  m.graph.initializer.push_back(test::float_initializer("w", {3}, {0.5f, -1.0f, 2.0f}));
  onnx::TensorProto ints;  // int64 data given in the typed field, written back as raw_data
  ints.name = "shape";
  ints.dims = {2};
  ints.data_type = static_cast<int32_t>(DType::kInt64);
  ints.int64_data = {-1, 3};
  m.graph.initializer.push_back(ints);
  onnx::NodeProto mul = node("Mul", {"x", "w"}, {"t"}, "mul");
  mul.doc_string = "node doc";
  onnx::NodeProto reshape = node("Reshape", {"t", "shape"}, {"y"});  // unnamed
  reshape.attribute.push_back(test::int_attr("allowzero", 0));
  m.graph.node = {reshape, mul};  // out of order on purpose

  Result<Graph> g1 = Graph::from_proto(m);
  REQUIRE_MESSAGE(g1.ok(), g1.status().to_string());
  std::vector<uint8_t> bytes = onnx::serialize_model(g1.value().to_proto());
  auto owner = std::make_shared<std::vector<uint8_t>>(bytes);
  Result<onnx::ModelProto> parsed = onnx::parse_model(owner->data(), owner->size(), owner);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().to_string());
  const onnx::ModelProto& p = parsed.value();
  CHECK(p.ir_version == 7);
  CHECK(p.producer_name == "webquant-test");
  CHECK(p.producer_version == "1.2.3");
  CHECK(p.doc_string == "model doc");
  CHECK(p.model_version == 42);
  REQUIRE(p.metadata_props.size() == 1);
  CHECK(p.metadata_props[0].value == "webquant");
  REQUIRE(p.functions.size() == 1);
  CHECK(p.functions[0].name == "MyFn");
  CHECK(p.graph.doc_string == "graph doc");
  CHECK(p.graph.name == "test_graph");
  REQUIRE(p.graph.value_info.size() == 1);
  CHECK(p.graph.value_info[0].type.shape.dim[0].dim_param == "batch");
  for (const auto& init : p.graph.initializer) CHECK(init.has_raw_data);

  Result<Graph> g2 = Graph::from_proto(p);
  REQUIRE_MESSAGE(g2.ok(), g2.status().to_string());
  const Graph& a = g1.value();
  const Graph& b = g2.value();
  CHECK(node_names(b) == std::vector<std::string>{"mul", "Reshape_0"});
  CHECK(b.nodes()[0].doc_string == "node doc");
  REQUIRE(b.nodes()[1].find_attribute("allowzero") != nullptr);
  CHECK(b.nodes()[1].find_attribute("allowzero")->type == onnx::AttributeProto::INT);
  CHECK(b.opset("") == 13);
  CHECK(b.opset("com.example") == 2);
  REQUIRE(b.initializers().size() == a.initializers().size());
  for (const auto& kv : a.initializers()) {
    const Tensor* other = b.find_initializer(kv.first);
    REQUIRE(other != nullptr);
    CHECK(other->dtype() == kv.second.dtype());
    CHECK(other->shape() == kv.second.shape());
    REQUIRE(other->nbytes() == kv.second.nbytes());
    CHECK(std::memcmp(other->raw(), kv.second.raw(), other->nbytes()) == 0);
  }
  const Tensor* shape = b.find_initializer("shape");
  REQUIRE(shape != nullptr);
  CHECK(shape->data<int64_t>()[0] == -1);
  CHECK(shape->data<int64_t>()[1] == 3);
  CHECK(b.inputs()[0].shape[0].param == "batch");
}

TEST_CASE("graph: subgraph reads from the outer scope order the outer graph") {
  // The If's then-branch reads "late", produced by a node written after the If.
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.input.push_back(value_info("cond", DType::kBool, {}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  auto branch = std::make_shared<onnx::GraphProto>();
  branch->node = {node("Identity", {"late"}, {"out"}, "inner")};
  branch->output.push_back(value_info("out", DType::kFloat32, {2}));
  onnx::NodeProto iff = node("If", {"cond"}, {"y"}, "if");
  onnx::AttributeProto then_branch;
  then_branch.name = "then_branch";
  then_branch.type = onnx::AttributeProto::GRAPH;
  then_branch.g = branch;
  iff.attribute.push_back(then_branch);
  m.graph.node = {iff, node("Relu", {"x"}, {"late"}, "producer")};
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(node_names(g.value()) == std::vector<std::string>{"producer", "if"});
}

TEST_CASE("graph: mutation API keeps the graph valid") {
  Result<Graph> r = Graph::from_proto(chain_model({0, 1, 2, 3}));
  REQUIRE(r.ok());
  Graph g = std::move(r).value();

  // Insert a Sigmoid between c and d: append it, rewire d, re-sort.
  Node extra;
  extra.op_type = "Sigmoid";
  extra.inputs = {"t3"};
  extra.outputs = {"t3s"};
  REQUIRE(g.add_node(extra).ok());
  CHECK(g.nodes().back().name == "Sigmoid_4");
  Node* d = g.mutable_node("d");
  REQUIRE(d != nullptr);
  d->inputs[0] = "t3s";
  REQUIRE(g.validate_and_sort().ok());
  CHECK(node_names(g) == std::vector<std::string>{"a", "b", "c", "Sigmoid_4", "d"});

  // A second node with an existing name is refused.
  extra.name = "a";
  CHECK(g.add_node(extra).code() == StatusCode::kInvalidArgument);

  REQUIRE(g.rename_value("t1", "t1r").ok());
  CHECK(g.nodes()[0].outputs[0] == "t1r");
  CHECK(g.nodes()[1].inputs[0] == "t1r");
  REQUIRE(g.rename_value("x", "input").ok());
  CHECK(g.inputs()[0].name == "input");
  CHECK(g.nodes()[0].inputs[0] == "input");
  CHECK(g.rename_value("nope", "x2").code() == StatusCode::kNotFound);
  CHECK(g.rename_value("t1r", "t2").code() == StatusCode::kInvalidArgument);
  CHECK(g.remove_node("nope").code() == StatusCode::kNotFound);
  CHECK(g.validate_and_sort().ok());

  // Removing c leaves the Sigmoid without a producer: validation names both.
  REQUIRE(g.remove_node("c").ok());
  Status s = g.validate_and_sort();
  CHECK(s.code() == StatusCode::kInvalidModel);
  CHECK(contains(s.message(), "'t3'"));
  CHECK(contains(s.message(), "'Sigmoid_4'"));

  // An initializer can stand in for the removed producer.
  g.set_initializer("t3", Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6}));
  CHECK(g.validate_and_sort().ok());
  CHECK(g.num_parameters() == 6);
  CHECK(g.remove_initializer("t3"));
  CHECK_FALSE(g.remove_initializer("t3"));
  CHECK(g.validate_and_sort().code() == StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace wq
