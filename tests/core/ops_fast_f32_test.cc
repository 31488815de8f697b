// The fast float32 Conv / Gemm / MatMul (core/ops/fast_f32.cc) held against
// the reference ops on a sweep of shapes and attributes.
//
// Tolerance: both sides sum the same products in different orders, so each
// output may differ by at most 2 * (K + 2) * u * sum|terms| (u = 2^-24, K the
// reduction length, +2 for the folded alpha and the bias). sum|terms| is
// computed by running the reference op on the absolute values of all inputs.
#include <doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <fstream>
#include <iterator>

#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/ops/ops_util.h"
#include "tests/core/op_test_util.h"

namespace wq {
void register_fast_f32_ops(OpRegistry& r);
namespace detail {
bool is_fast_f32_kernel(const OpKernel& kernel);
}  // namespace detail
}  // namespace wq

using namespace wq;
using namespace wq::testing;

namespace {

const OpRegistry& fast_registry() {
  static const OpRegistry* r = [] {
    auto* reg = new OpRegistry();
    register_fast_f32_ops(*reg);
    return reg;
  }();
  return *r;
}

const OpRegistry& reference_registry() {
  static const OpRegistry* r = [] {
    auto* reg = new OpRegistry();
    register_conv_ops(*reg);
    register_gemm_ops(*reg);
    return reg;
  }();
  return *r;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 12345u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  return v;
}

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  return Tensor::from_floats(shape, random_floats(static_cast<size_t>(shape_numel(shape)), seed));
}

Tensor abs_tensor(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) return t;
  std::vector<float> v = values_of<float>(t);
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_floats(t.shape(), v);
}

Result<std::unique_ptr<OpKernel>> make_kernel(const OpRegistry& r, const TestKernelInit& init) {
  const KernelFactory* f = r.find(init.domain_, init.op_type_, init.opset_);
  if (f == nullptr) return unsupported("no kernel for " + init.op_type_);
  return (*f)(init);
}

Result<Tensor> run_kernel(OpKernel& k, const std::vector<std::optional<Tensor>>& inputs) {
  TestKernelContext ctx;
  ctx.inputs_ = inputs;
  ctx.outputs_.resize(1);
  WQ_RETURN_IF_ERROR(k.run(ctx));
  return ctx.outputs_[0];
}

// A node under test: attributes and inputs (constant or not).
struct Case {
  TestKernelInit init;
  Case(const std::string& op, int opset = 13) {
    init.op_type_ = op;
    init.opset_ = opset;
  }
  Case& in(Tensor t, bool constant) {
    init.inputs_.push_back(std::move(t));
    init.constant_.push_back(constant);
    return *this;
  }
  Case& none() {
    init.inputs_.push_back(std::nullopt);
    init.constant_.push_back(false);
    return *this;
  }
};

// Builds the fast and the reference kernel for `c`, checks whether the fast
// registry took its fast path, and compares outputs on `runs` (lists of inputs;
// the first is the node's own). `k` is the reduction length.
void check_against_reference(const Case& c, bool expect_fast, int64_t k,
                             std::vector<std::vector<std::optional<Tensor>>> runs = {}) {
  if (runs.empty()) runs.push_back(c.init.inputs_);
  auto fast = make_kernel(fast_registry(), c.init);
  WQ_REQUIRE_OK(fast);
  auto ref = make_kernel(reference_registry(), c.init);
  WQ_REQUIRE_OK(ref);
  CHECK(detail::is_fast_f32_kernel(**fast) == expect_fast);
  CHECK_FALSE(detail::is_fast_f32_kernel(**ref));

  // Magnitudes: the reference op on |inputs|, |alpha|, |beta|.
  TestKernelInit abs_init = c.init;
  for (auto& t : abs_init.inputs_)
    if (t) t = abs_tensor(*t);
  for (auto& kv : abs_init.floats_) kv.second = std::fabs(kv.second);

  for (const auto& inputs : runs) {
    auto got = run_kernel(**fast, inputs);
    WQ_REQUIRE_OK(got);
    auto want = run_kernel(**ref, inputs);
    WQ_REQUIRE_OK(want);
    REQUIRE(got->shape() == want->shape());
    std::vector<std::optional<Tensor>> abs_inputs = inputs;
    for (auto& t : abs_inputs)
      if (t) t = abs_tensor(*t);
    auto abs_ref = make_kernel(reference_registry(), abs_init);
    WQ_REQUIRE_OK(abs_ref);
    auto mag = run_kernel(**abs_ref, abs_inputs);
    WQ_REQUIRE_OK(mag);
    if (got->dtype() != DType::kFloat32) {
      CHECK(std::memcmp(got->raw(), want->raw(), got->nbytes()) == 0);
      continue;
    }
    const float* g = got->data<float>();
    const float* w = want->data<float>();
    const float* m = mag->data<float>();
    const double u = std::ldexp(1.0, -24);
    int64_t bad = 0;
    std::string first_bad;
    for (int64_t i = 0; i < got->numel(); ++i) {
      const double tol = 2.0 * static_cast<double>(k + 2) * u * m[i];
      if (!(std::fabs(static_cast<double>(g[i]) - w[i]) <= tol) && bad++ == 0) {
        first_bad = "element " + std::to_string(i) + ": fast " + std::to_string(g[i]) + " reference " +
                    std::to_string(w[i]) + " tolerance " + std::to_string(tol);
      }
    }
    INFO(first_bad);
    CHECK(bad == 0);
  }
}

struct ConvCase {
  int64_t n, c, h, w, m, group, kh, kw, stride_h, stride_w, dil_h, dil_w;
  std::vector<int64_t> pads;  // empty: none
  const char* auto_pad;       // nullptr: attribute absent
  bool bias;
};

Case conv_case(const ConvCase& p, uint32_t seed, bool const_w = true) {
  Case c("Conv", 11);
  c.in(random_tensor({p.n, p.c, p.h, p.w}, seed), false);
  c.in(random_tensor({p.m, p.c / p.group, p.kh, p.kw}, seed + 1), const_w);
  if (p.bias) c.in(random_tensor({p.m}, seed + 2), true);
  c.init.ints_["group"] = p.group;
  c.init.int_lists_["strides"] = {p.stride_h, p.stride_w};
  c.init.int_lists_["dilations"] = {p.dil_h, p.dil_w};
  if (!p.pads.empty()) c.init.int_lists_["pads"] = p.pads;
  if (p.auto_pad) c.init.strings_["auto_pad"] = p.auto_pad;
  return c;
}

}  // namespace

TEST_CASE("fast f32 Conv matches the reference Conv") {
  const std::vector<ConvCase> cases = {
      // n  c  h   w   m  g  kh kw sh sw dh dw pads
      {1, 3, 9, 11, 8, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true},     // plain 3x3
      {2, 5, 7, 6, 13, 1, 3, 3, 2, 2, 1, 1, {1, 0, 0, 1}, nullptr, false},    // strided, asymmetric pads
      {1, 16, 10, 10, 24, 1, 1, 1, 1, 1, 1, 1, {}, nullptr, true},            // 1x1
      {1, 16, 10, 10, 24, 1, 1, 1, 2, 2, 1, 1, {}, nullptr, true},            // 1x1 strided
      {1, 8, 12, 9, 8, 8, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true},     // depthwise 3x3
      {2, 8, 12, 9, 8, 8, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}, nullptr, true},     // depthwise 3x3 s2
      {1, 6, 11, 13, 12, 6, 5, 5, 1, 2, 1, 1, {2, 2, 2, 2}, nullptr, true},   // depthwise 5x5, multiplier 2
      {1, 4, 9, 9, 4, 4, 2, 4, 1, 1, 1, 1, {0, 1, 1, 2}, nullptr, false},     // depthwise other size
      {1, 12, 8, 8, 18, 3, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true},    // grouped
      {1, 4, 13, 12, 7, 1, 3, 2, 1, 1, 2, 3, {2, 1, 2, 1}, nullptr, true},    // dilated
      {1, 3, 10, 7, 5, 1, 3, 3, 2, 2, 1, 1, {}, "SAME_UPPER", true},
      {1, 3, 10, 7, 5, 1, 4, 4, 2, 3, 1, 1, {}, "SAME_LOWER", false},
      {1, 3, 10, 7, 5, 1, 3, 3, 1, 1, 1, 1, {}, "VALID", true},
      {1, 40, 6, 5, 9, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true},     // long reduction (K = 360)
      {3, 2, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, {}, nullptr, true},                // 1x1 image
  };
  uint32_t seed = 1;
  for (const ConvCase& p : cases) {
    CAPTURE(seed);
    const int64_t k = p.c / p.group * p.kh * p.kw;
    Case c = conv_case(p, seed);
    // A second, larger input through the same kernel: SAME pads are re-resolved.
    auto second = c.init.inputs_;
    second[0] = random_tensor({p.n, p.c, p.h + 3, p.w + 2}, seed + 7);
    check_against_reference(c, true, k, {c.init.inputs_, second, c.init.inputs_});
    seed += 10;
  }
}

TEST_CASE("fast f32 Conv delegates what it does not plan for") {
  const ConvCase p = {1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true};
  // Weights known only at run time.
  check_against_reference(conv_case(p, 3, false), false, 27);
  // Bias known only at run time.
  Case rb = conv_case({1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {}, nullptr, false}, 4);
  rb.in(random_tensor({4}, 5), false);
  check_against_reference(rb, false, 27);
  // 1-D convolution.
  Case c1("Conv", 11);
  c1.in(random_tensor({2, 3, 10}, 6), false).in(random_tensor({4, 3, 3}, 7), true);
  check_against_reference(c1, false, 9);
  // float64.
  Case cd("Conv", 11);
  auto w64 = Tensor::allocate(DType::kFloat64, {2, 1, 1, 1}).value();
  w64.mutable_data<double>()[0] = 0.5;
  w64.mutable_data<double>()[1] = -2.0;
  auto x64 = Tensor::allocate(DType::kFloat64, {1, 1, 2, 2}).value();
  for (int i = 0; i < 4; ++i) x64.mutable_data<double>()[i] = i + 1;
  cd.in(x64, false).in(w64, true);
  check_against_reference(cd, false, 1);
}

TEST_CASE("fast f32 Conv passes bad inputs to the reference checks") {
  const ConvCase p = {1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true};
  Case c = conv_case(p, 9);
  auto fast = make_kernel(fast_registry(), c.init);
  WQ_REQUIRE_OK(fast);
  REQUIRE(detail::is_fast_f32_kernel(**fast));
  std::vector<std::optional<Tensor>> wrong_channels = c.init.inputs_;
  wrong_channels[0] = random_tensor({1, 5, 8, 8}, 10);
  CHECK(run_kernel(**fast, wrong_channels).status().code() == StatusCode::kInvalidArgument);
  // Kernel larger than the padded input.
  std::vector<std::optional<Tensor>> tiny = c.init.inputs_;
  tiny[0] = random_tensor({1, 3, 1, 8}, 11);
  const Case valid = conv_case({1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {}, nullptr, true}, 12);
  auto fast_valid = make_kernel(fast_registry(), valid.init);
  WQ_REQUIRE_OK(fast_valid);
  CHECK(run_kernel(**fast_valid, tiny).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("fast f32 Gemm matches the reference Gemm") {
  struct GemmCase {
    int64_t m, k, n;
    int trans_a, trans_b;
    float alpha, beta;
    Shape c_shape;  // {} with c_kind 0: no C
    int c_kind;     // 0 none, 1 constant, 2 run time
    bool fast;
  };
  const std::vector<GemmCase> cases = {
      {5, 7, 9, 0, 0, 1.0f, 1.0f, {}, 0, true},
      {5, 7, 9, 1, 0, 1.0f, 1.0f, {9}, 1, true},
      {4, 33, 17, 0, 1, 0.5f, 2.0f, {1, 17}, 1, true},
      {4, 33, 17, 1, 1, -1.5f, 0.25f, {}, 1, true},     // scalar C
      {1, 64, 10, 0, 1, 1.0f, 1.0f, {10}, 1, true},     // GEMV (classifier head)
      {13, 300, 8, 0, 0, 1.0f, 0.0f, {3, 8}, 1, false},  // [M, N] C is not a bias
      {6, 12, 11, 0, 0, 1.0f, 1.0f, {6, 1}, 1, false},   // column C
      {6, 12, 11, 0, 1, 1.0f, 1.0f, {11}, 2, false},     // C at run time
  };
  uint32_t seed = 100;
  for (const GemmCase& p : cases) {
    CAPTURE(seed);
    Case c("Gemm", 13);
    c.in(random_tensor(p.trans_a ? Shape{p.k, p.m} : Shape{p.m, p.k}, seed), false);
    c.in(random_tensor(p.trans_b ? Shape{p.n, p.k} : Shape{p.k, p.n}, seed + 1), true);
    if (p.c_kind != 0) {
      Shape cs = p.c_shape;
      if (cs == Shape{3, 8}) cs = {p.m, p.n};
      c.in(random_tensor(cs, seed + 2), p.c_kind == 1);
    }
    c.init.ints_["transA"] = p.trans_a;
    c.init.ints_["transB"] = p.trans_b;
    c.init.floats_["alpha"] = p.alpha;
    c.init.floats_["beta"] = p.beta;
    auto second = c.init.inputs_;
    second[0] = random_tensor(p.trans_a ? Shape{p.k, p.m + 3} : Shape{p.m + 3, p.k}, seed + 5);
    if (p.c_kind != 0 && second[2]->rank() == 2 && second[2]->dim(0) > 1) second.clear();
    if (second.empty())
      check_against_reference(c, p.fast, p.k);
    else
      check_against_reference(c, p.fast, p.k, {c.init.inputs_, second});
    seed += 10;
  }
  // B at run time.
  Case rb("Gemm", 13);
  rb.in(random_tensor({3, 4}, 7), false).in(random_tensor({4, 5}, 8), false);
  check_against_reference(rb, false, 4);
}

TEST_CASE("fast f32 MatMul matches the reference MatMul") {
  struct MatMulCase {
    Shape a, b;
    bool const_b;
    bool fast;
  };
  const std::vector<MatMulCase> cases = {
      {{7, 20}, {20, 9}, true, true},
      {{2, 3, 5, 16}, {16, 12}, true, true},  // batched A, constant B: one GEMM
      {{16}, {16, 3}, true, true},            // 1-D A
      {{1, 200}, {200, 1}, true, true},
      {{4, 6}, {6}, true, true},              // 1-D constant B: unpacked
      {{2, 3, 4}, {5, 2, 4, 6}, true, true},   // constant batched B: unpacked
      {{5, 7}, {7, 9}, false, true},
      {{2, 1, 3, 4}, {5, 4, 6}, false, true},  // broadcast batch dims
      {{3, 8}, {2, 8, 5}, false, true},
      {{8}, {8}, false, true},                 // both 1-D: scalar out
      {{3, 2, 8}, {8}, false, true},
      {{2, 4, 70}, {2, 70, 33}, false, true},  // attention-like
      {{0, 16}, {16, 3}, true, true},          // empty A
      {{2, 0, 5}, {2, 5, 4}, false, true},
      {{3, 0}, {0, 4}, false, true},           // K = 0: zeros
      {{3, 0}, {0, 4}, true, true},            // empty constant B: unpacked
  };
  uint32_t seed = 300;
  for (const MatMulCase& p : cases) {
    CAPTURE(seed);
    Case c("MatMul", 13);
    c.in(random_tensor(p.a, seed), false).in(random_tensor(p.b, seed + 1), p.const_b);
    check_against_reference(c, p.fast, p.a.back());
    seed += 10;
  }
  // Other element types go to the reference at run time (not constant B) or
  // at plan time (constant B).
  Case i32("MatMul", 13);
  i32.in(Tensor::allocate(DType::kInt32, {2, 2}).value(), false);
  i32.in(Tensor::allocate(DType::kInt32, {2, 2}).value(), true);
  for (auto& t : i32.init.inputs_)
    for (int i = 0; i < 4; ++i) t->mutable_data<int32_t>()[i] = i - 1;
  check_against_reference(i32, false, 2);
  i32.init.constant_[1] = false;
  check_against_reference(i32, true, 2);
  // Mismatched inner dims: the reference's error.
  Case bad("MatMul", 13);
  bad.in(random_tensor({2, 3}, 1), false).in(random_tensor({4, 2}, 2), false);
  auto fast = make_kernel(fast_registry(), bad.init);
  WQ_REQUIRE_OK(fast);
  CHECK(run_kernel(**fast, bad.init.inputs_).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("the builtin registry picks the fast f32 kernels first") {
  Case c = conv_case({1, 3, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, nullptr, true}, 1);
  auto k = make_kernel(builtin_ops(), c.init);
  WQ_REQUIRE_OK(k);
  CHECK(detail::is_fast_f32_kernel(**k));
  Case g("Gemm", 13);
  g.in(random_tensor({2, 3}, 1), false).in(random_tensor({3, 4}, 2), true);
  auto kg = make_kernel(builtin_ops(), g.init);
  WQ_REQUIRE_OK(kg);
  CHECK(detail::is_fast_f32_kernel(**kg));
}

namespace {

// One ONNX backend node test with every input after the first made constant
// (as weights are in real models), so the fast path runs on the official data.
void check_node_test_with_constant_weights(const std::string& name) {
  CAPTURE(name);
  const std::string dir = "/usr/share/libonnx-testdata/data/node/" + name + "/";
  std::ifstream f(dir + "model.onnx", std::ios::binary);
  REQUIRE(f.good());
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  auto model = onnx::parse_model(bytes->data(), bytes->size(), bytes);
  WQ_REQUIRE_OK(model);
  REQUIRE(model->graph.node.size() == 1);
  const onnx::NodeProto& node = model->graph.node[0];
  TestKernelInit init;
  init.op_type_ = node.op_type;
  for (const auto& op : model->opset_import)
    if (op.domain.empty() || op.domain == "ai.onnx") init.opset_ = static_cast<int>(op.version);
  using A = onnx::AttributeProto;
  for (const A& a : node.attribute) {
    switch (a.type) {
      case A::INT: init.ints_[a.name] = a.i; break;
      case A::FLOAT: init.floats_[a.name] = a.f; break;
      case A::STRING: init.strings_[a.name] = a.s; break;
      case A::INTS: init.int_lists_[a.name] = a.ints; break;
      case A::FLOATS: init.float_lists_[a.name] = a.floats; break;
      default: FAIL("unexpected attribute type for " << a.name);
    }
  }
  for (size_t i = 0; i < node.input.size(); ++i) {
    auto t = read_tensor_pb(dir + "test_data_set_0/input_" + std::to_string(i) + ".pb");
    WQ_REQUIRE_OK(t);
    init.inputs_.push_back(*t);
    init.constant_.push_back(i > 0);
  }
  auto want = read_tensor_pb(dir + "test_data_set_0/output_0.pb");
  WQ_REQUIRE_OK(want);
  auto kernel = make_kernel(fast_registry(), init);
  WQ_REQUIRE_OK(kernel);
  CHECK(detail::is_fast_f32_kernel(**kernel));
  auto got = run_kernel(**kernel, init.inputs_);
  WQ_REQUIRE_OK(got);
  REQUIRE(got->shape() == want->shape());
  REQUIRE(got->dtype() == DType::kFloat32);
  // The backend tests' own tolerance (rtol 1e-3, atol 1e-7).
  for (int64_t i = 0; i < got->numel(); ++i) {
    const float g = got->data<float>()[i], w = want->data<float>()[i];
    INFO("element " << i << ": got " << g << " want " << w);
    REQUIRE(std::fabs(g - w) <= 1e-7f + 1e-3f * std::fabs(w));
  }
}

}  // namespace

TEST_CASE("fast f32 ops pass the ONNX node tests with constant weights") {
  for (const char* name :
       {"test_basic_conv_with_padding", "test_basic_conv_without_padding", "test_conv_with_autopad_same",
        "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_strides_no_padding",
        "test_conv_with_strides_padding", "test_gemm_all_attributes", "test_gemm_alpha", "test_gemm_beta",
        "test_gemm_default_no_bias", "test_gemm_default_scalar_bias", "test_gemm_default_single_elem_vector_bias",
        "test_gemm_default_vector_bias", "test_gemm_default_zero_bias", "test_gemm_transposeA",
        "test_gemm_transposeB", "test_matmul_2d", "test_matmul_3d", "test_matmul_4d"}) {
    check_node_test_with_constant_weights(name);
  }
}
