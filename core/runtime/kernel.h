// The contract between the runtime and an operator implementation.
//
// An operator is registered as a factory. When a plan is built, the runtime
// calls the factory once per node with a KernelInit: the factory reads and
// validates attributes, looks at constant inputs (initializers) and may
// pre-pack weights, and returns an OpKernel. Each run then calls
// OpKernel::run with a KernelContext that hands out inputs and allocates
// outputs. Kernels hold no pointers into the context between runs.
//
// Output shapes are computed by the kernel at run time from the actual input
// shapes; this is how symbolic dims (batch, height, width) get resolved.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace wq {

class KernelInit {
 public:
  virtual ~KernelInit() = default;
  virtual const std::string& op_type() const = 0;
  virtual const std::string& domain() const = 0;     // "" for the default ONNX domain
  virtual const std::string& node_name() const = 0;  // may be empty in the model; never empty here
  virtual int opset() const = 0;                     // opset version imported for this node's domain

  // Input slots as written in the node, including empty optional slots.
  virtual size_t num_inputs() const = 0;
  virtual bool has_input(size_t i) const = 0;  // false for absent/empty optional inputs
  virtual const std::string& input_name(size_t i) const = 0;
  // The value of input i if it is known when the plan is built (an initializer
  // or a Constant's output); nullptr otherwise.
  virtual const Tensor* constant_input(size_t i) const = 0;
  virtual size_t num_outputs() const = 0;
  virtual bool has_output(size_t i) const = 0;

  // Attributes. Getters return `fallback` (or empty) when the attribute is
  // absent; a present attribute of the wrong type is kInvalidModel.
  virtual bool has_attr(const std::string& name) const = 0;
  virtual Result<int64_t> attr_int(const std::string& name, int64_t fallback) const = 0;
  virtual Result<float> attr_float(const std::string& name, float fallback) const = 0;
  virtual Result<std::string> attr_string(const std::string& name, const std::string& fallback) const = 0;
  virtual Result<std::vector<int64_t>> attr_ints(const std::string& name) const = 0;
  virtual Result<std::vector<float>> attr_floats(const std::string& name) const = 0;
  virtual Result<std::vector<std::string>> attr_strings(const std::string& name) const = 0;
  virtual Result<Tensor> attr_tensor(const std::string& name) const = 0;  // kNotFound if absent
  // Names of all attributes present on the node (to reject unknown ones where useful).
  virtual std::vector<std::string> attr_names() const = 0;

  // "node 'name' (OpType): " — prefix for error messages.
  std::string context() const { return "node '" + node_name() + "' (" + op_type() + "): "; }
};

class KernelContext {
 public:
  virtual ~KernelContext() = default;
  virtual size_t num_inputs() const = 0;
  // nullptr for absent optional inputs.
  virtual const Tensor* input(size_t i) const = 0;
  virtual size_t num_outputs() const = 0;
  virtual bool has_output(size_t i) const = 0;
  // Allocates output i with the given dtype and shape and returns it for writing.
  virtual Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) = 0;
  // Sets output i to an existing tensor (e.g. a reshaped view of an input).
  virtual void set_output(size_t i, Tensor t) = 0;
  // Cooperative cancellation for long kernels: true once the caller asked to stop.
  virtual bool cancelled() const { return false; }
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual Status run(KernelContext& ctx) = 0;

  // Weight ownership. A kernel that packed constant input i into storage of
  // its own, never reads it through KernelContext::input(i) and can give it
  // back exactly says so here; when every reader of a constant owns it, the
  // runtime frees the original, so the weight is held once (packed) instead
  // of twice. restore_constant_input(i) then rebuilds the original, bit for
  // bit, for the rare caller that still wants it (a run that asks for the
  // value by name, a fallback to a reference kernel); it is only called where
  // owns_constant_input(i) is true.
  virtual bool owns_constant_input(size_t i) const {
    (void)i;
    return false;
  }
  virtual Result<Tensor> restore_constant_input(size_t i) const;
};

using KernelFactory = std::function<Result<std::unique_ptr<OpKernel>>(const KernelInit& init)>;

// Registry of operator implementations keyed by (domain, op_type) and an
// inclusive opset range. One global registry holds the built-in ops.
class OpRegistry {
 public:
  void add(const std::string& domain, const std::string& op_type, int min_opset, int max_opset,
           KernelFactory factory);
  // nullptr when (domain, op_type) is unknown or no entry covers `opset`.
  const KernelFactory* find(const std::string& domain, const std::string& op_type, int opset) const;
  bool knows_op(const std::string& domain, const std::string& op_type) const;
  // Every registered "domain:op_type" (domain empty for ONNX).
  std::vector<std::string> op_names() const;

 private:
  struct Entry {
    std::string domain, op_type;
    int min_opset, max_opset;
    KernelFactory factory;
  };
  std::vector<Entry> entries_;
};

// The registry with every built-in op (filled on first use by register_all_ops).
const OpRegistry& builtin_ops();
// Defined in core/ops/all_ops.cc: calls each op family's register function.
void register_all_ops(OpRegistry& registry);
// Defined in core/ops/ (the int8 ops): the runtime's private fused ops
// (core/passes/runtime_ops_spec.h), added to builtin_ops() by runtime_ops().
void register_runtime_quant_ops(OpRegistry& registry);

// Highest opset of the default domain that we claim to support.
constexpr int kMaxSupportedOpset = 21;
constexpr int kMinSupportedOpset = 7;

}  // namespace wq
