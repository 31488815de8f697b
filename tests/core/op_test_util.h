// Calls one operator kernel directly, without a graph or session: attributes
// come from small maps, inputs are Tensors, outputs are allocated as the
// kernel asks. Used by tests/core/ops_*.cc.
//
//   OpTest t("Conv", 11);
//   t.attr_ints("pads", {1, 1, 1, 1}).input(x).const_input(w);
//   auto out = t.run();           // Result<std::vector<Tensor>>
#pragma once

#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest.h>

#include "core/ops/ops_util.h"
#include "core/runtime/kernel.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {
namespace testing {

template <typename T> DType test_dtype();
template <> inline DType test_dtype<float>() { return DType::kFloat32; }
template <> inline DType test_dtype<double>() { return DType::kFloat64; }
template <> inline DType test_dtype<int8_t>() { return DType::kInt8; }
template <> inline DType test_dtype<uint8_t>() { return DType::kUInt8; }
template <> inline DType test_dtype<int16_t>() { return DType::kInt16; }
template <> inline DType test_dtype<uint16_t>() { return DType::kUInt16; }
template <> inline DType test_dtype<int32_t>() { return DType::kInt32; }
template <> inline DType test_dtype<uint32_t>() { return DType::kUInt32; }
template <> inline DType test_dtype<int64_t>() { return DType::kInt64; }
template <> inline DType test_dtype<uint64_t>() { return DType::kUInt64; }
template <> inline DType test_dtype<bool>() { return DType::kBool; }

// A tensor of dtype `dtype` holding `values` reinterpreted from T's storage
// (use T = uint16_t with DType::kFloat16 for raw half bits).
template <typename T>
Tensor make_tensor(Shape shape, const std::vector<T>& values, DType dtype = test_dtype<T>()) {
  Tensor t = Tensor::allocate(dtype, std::move(shape)).value();
  if (static_cast<size_t>(t.numel()) != values.size()) throw std::runtime_error("make_tensor: size mismatch");
  if (!values.empty()) {
    if constexpr (std::is_same<T, bool>::value) {
      for (size_t i = 0; i < values.size(); ++i) t.mutable_data<bool>()[i] = values[i];
    } else {
      std::memcpy(t.mutable_raw(), values.data(), values.size() * sizeof(T));
    }
  }
  return t;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<T>()[i];
  return v;
}

class TestKernelInit : public KernelInit {
 public:
  std::string op_type_, domain_, node_name_ = "test_node";
  int opset_ = 13;
  std::vector<std::optional<Tensor>> inputs_;
  std::vector<bool> constant_;
  size_t num_outputs_ = 1;
  std::map<std::string, int64_t> ints_;
  std::map<std::string, float> floats_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, std::vector<int64_t>> int_lists_;
  std::map<std::string, std::vector<float>> float_lists_;
  std::map<std::string, std::vector<std::string>> string_lists_;
  std::map<std::string, Tensor> tensors_;

  const std::string& op_type() const override { return op_type_; }
  const std::string& domain() const override { return domain_; }
  const std::string& node_name() const override { return node_name_; }
  int opset() const override { return opset_; }
  size_t num_inputs() const override { return inputs_.size(); }
  bool has_input(size_t i) const override { return i < inputs_.size() && inputs_[i].has_value(); }
  const std::string& input_name(size_t i) const override {
    static const std::vector<std::string> names = {"in0", "in1", "in2", "in3", "in4", "in5", "in6", "in7"};
    return names[i % names.size()];
  }
  const Tensor* constant_input(size_t i) const override {
    return has_input(i) && constant_[i] ? &*inputs_[i] : nullptr;
  }
  size_t num_outputs() const override { return num_outputs_; }
  bool has_output(size_t i) const override { return i < num_outputs_; }

  bool has_attr(const std::string& n) const override {
    return ints_.count(n) || floats_.count(n) || strings_.count(n) || int_lists_.count(n) ||
           float_lists_.count(n) || string_lists_.count(n) || tensors_.count(n);
  }
  Result<int64_t> attr_int(const std::string& n, int64_t fallback) const override {
    return get(ints_, n, fallback);
  }
  Result<float> attr_float(const std::string& n, float fallback) const override {
    return get(floats_, n, fallback);
  }
  Result<std::string> attr_string(const std::string& n, const std::string& fallback) const override {
    return get(strings_, n, fallback);
  }
  Result<std::vector<int64_t>> attr_ints(const std::string& n) const override { return get(int_lists_, n, std::vector<int64_t>{}); }
  Result<std::vector<float>> attr_floats(const std::string& n) const override {
    return get(float_lists_, n, std::vector<float>{});
  }
  Result<std::vector<std::string>> attr_strings(const std::string& n) const override {
    return get(string_lists_, n, std::vector<std::string>{});
  }
  Result<Tensor> attr_tensor(const std::string& n) const override {
    auto it = tensors_.find(n);
    if (it != tensors_.end()) return it->second;
    if (has_attr(n)) return invalid_model("attribute " + n + " is not a tensor");
    return not_found("attribute " + n + " is absent");
  }
  std::vector<std::string> attr_names() const override {
    std::vector<std::string> names;
    auto add = [&](const auto& m) {
      for (const auto& kv : m) names.push_back(kv.first);
    };
    add(ints_), add(floats_), add(strings_), add(int_lists_), add(float_lists_), add(string_lists_),
        add(tensors_);
    return names;
  }

 private:
  template <typename M, typename V>
  Result<V> get(const M& m, const std::string& n, V fallback) const {
    auto it = m.find(n);
    if (it != m.end()) return it->second;
    if (has_attr(n)) return invalid_model("attribute " + n + " has the wrong type");
    return fallback;
  }
};

class TestKernelContext : public KernelContext {
 public:
  std::vector<std::optional<Tensor>> inputs_;
  std::vector<Tensor> outputs_;
  size_t num_outputs_ = 1;

  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override {
    return i < inputs_.size() && inputs_[i].has_value() ? &*inputs_[i] : nullptr;
  }
  size_t num_outputs() const override { return num_outputs_; }
  bool has_output(size_t i) const override { return i < num_outputs_; }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    if (i >= num_outputs_) return internal_error("allocate_output: no output " + std::to_string(i));
    WQ_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, shape));
    // Poison fresh outputs so a kernel that leaves elements unwritten fails its test.
    if (outputs_[i].nbytes()) std::memset(outputs_[i].mutable_raw(), 0xA5, outputs_[i].nbytes());
    return &outputs_[i];
  }
  void set_output(size_t i, Tensor t) override {
    if (i < num_outputs_) outputs_[i] = std::move(t);
  }
};

// Only the reference (scalar) op families of core/ops, without the fast
// kernels builtin_ops() registers ahead of them, so tests can pin either.
inline const OpRegistry& reference_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    register_elementwise_ops(*r);
    register_activation_ops(*r);
    register_gemm_ops(*r);
    register_einsum_ops(*r);
    register_conv_ops(*r);
    register_pool_ops(*r);
    register_normalization_ops(*r);
    register_shape_ops(*r);
    register_tensor_ops(*r);
    register_cast_ops(*r);
    register_reduce_ops(*r);
    register_resize_ops(*r);
    return r;
  }();
  return *registry;
}

class OpTest {
 public:
  // Kernels come from `registry` (default: builtin_ops(), what the runtime uses).
  explicit OpTest(std::string op_type, int opset = 13, const OpRegistry* registry = nullptr) : registry_(registry) {
    init_.op_type_ = std::move(op_type);
    init_.opset_ = opset;
  }
  OpTest& attr(const std::string& n, int64_t v) { init_.ints_[n] = v; return *this; }
  OpTest& attr(const std::string& n, int v) { init_.ints_[n] = v; return *this; }
  OpTest& attr(const std::string& n, float v) { init_.floats_[n] = v; return *this; }
  OpTest& attr(const std::string& n, const std::string& v) { init_.strings_[n] = v; return *this; }
  OpTest& attr(const std::string& n, const char* v) { init_.strings_[n] = v; return *this; }
  OpTest& attr_ints(const std::string& n, std::vector<int64_t> v) { init_.int_lists_[n] = std::move(v); return *this; }
  OpTest& attr_floats(const std::string& n, std::vector<float> v) { init_.float_lists_[n] = std::move(v); return *this; }
  OpTest& attr_tensor(const std::string& n, Tensor v) { init_.tensors_[n] = std::move(v); return *this; }
  // A run-time input (not known at plan-build time).
  OpTest& input(Tensor t) { return add(std::move(t), false); }
  // An input known when the plan is built (an initializer).
  OpTest& const_input(Tensor t) { return add(std::move(t), true); }
  // An empty optional input slot.
  OpTest& no_input() {
    init_.inputs_.push_back(std::nullopt);
    init_.constant_.push_back(false);
    return *this;
  }
  OpTest& outputs(size_t n) { init_.num_outputs_ = n; return *this; }

  // Runs the factory only (attribute validation).
  Status build() const {
    WQ_ASSIGN_OR_RETURN(auto k, make());
    (void)k;
    return Status::Ok();
  }

  Result<std::vector<Tensor>> run() const {
    WQ_ASSIGN_OR_RETURN(auto kernel, make());
    TestKernelContext ctx;
    ctx.inputs_ = init_.inputs_;
    ctx.num_outputs_ = init_.num_outputs_;
    ctx.outputs_.resize(init_.num_outputs_);
    WQ_RETURN_IF_ERROR(kernel->run(ctx));
    return ctx.outputs_;
  }

  // Runs and returns output 0; fails the enclosing test on error.
  Result<Tensor> run1() const {
    WQ_ASSIGN_OR_RETURN(auto outs, run());
    return outs[0];
  }

 private:
  OpTest& add(Tensor t, bool constant) {
    init_.inputs_.push_back(std::move(t));
    init_.constant_.push_back(constant);
    return *this;
  }
  Result<std::unique_ptr<OpKernel>> make() const {
    const OpRegistry& registry = registry_ ? *registry_ : builtin_ops();
    const KernelFactory* f = registry.find(init_.domain_, init_.op_type_, init_.opset_);
    if (!f) return unsupported("no kernel for " + init_.op_type_ + " at opset " + std::to_string(init_.opset_));
    return (*f)(init_);
  }
  TestKernelInit init_;
  const OpRegistry* registry_;
};

}  // namespace testing
}  // namespace wq

// Runs the enclosing test case twice, with `reg` pointing at the reference
// kernels and then at the builtin registry (which may pick fast kernels).
#define WQ_REFERENCE_AND_BUILTIN(reg)                                          \
  const ::wq::OpRegistry* reg = &::wq::testing::reference_ops();               \
  SUBCASE("reference kernels") { reg = &::wq::testing::reference_ops(); }      \
  SUBCASE("builtin registry") { reg = &::wq::builtin_ops(); }

// REQUIRE that a Result/Status-returning expression succeeded, printing the
// error message otherwise.
#define WQ_REQUIRE_OK(expr)                                   \
  do {                                                        \
    const auto& wq_req_ = (expr);                             \
    INFO(::wq::testing::status_of(wq_req_).to_string());      \
    REQUIRE(::wq::testing::status_of(wq_req_).ok());          \
  } while (0)

namespace wq {
namespace testing {
inline const Status& status_of(const Status& s) { return s; }
template <typename T> const Status& status_of(const Result<T>& r) { return r.status(); }
}  // namespace testing
}  // namespace wq
