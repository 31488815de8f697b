// The contract between TrainSession and one operator's forward and backward
// (internal to core/train).
//
// A TrainOp is made once per node by its factory from a TrainOpInit (the
// node's attributes and constant inputs, as KernelInit gives them to inference
// kernels, plus which inputs need a gradient). Each step TrainSession calls
// forward() with a TrainOpContext that hands out inputs and takes outputs (it
// is a KernelContext, so an op may simply run the runtime's inference kernel),
// and later backward(), where the same context also gives the forward values,
// the gradients of the outputs and accumulators for the gradients of the
// inputs. An op may keep what it computed in forward() for backward() (batch
// statistics, dropout masks); forward() of the next step overwrites it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/kernel.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/train/train_session.h"

namespace wq {
namespace detail {

class TrainOpContext : public KernelContext {
 public:
  virtual TrainMode mode() const = 0;
  virtual const TrainSessionOptions& options() const = 0;

  // ---- forward (KernelContext: input, allocate_output, set_output) ----------
  // Writable input `i` when it is a running statistic (BatchNormalization
  // mean/var initializers); nullptr otherwise.
  virtual Tensor* state_input(size_t i) = 0;
  // 64 random bits from the session's seeded generator.
  virtual uint64_t random_bits() = 0;

  // ---- backward ----------------------------------------------------------------
  // Forward value of output i (nullptr if absent).
  virtual const Tensor* output(size_t i) const = 0;
  // d(loss)/d(output i), or nullptr when no gradient reaches it (zero).
  virtual const Tensor* output_grad(size_t i) const = 0;
  virtual bool needs_input_grad(size_t i) const = 0;
  // A float32 buffer of input i's shape to add d(loss)/d(input i) into
  // (zeros on first use). Only for inputs with needs_input_grad(i).
  virtual Result<float*> input_grad(size_t i) = 0;
  // Adds a whole gradient tensor (float32, input i's shape); may keep `grad`
  // without copying, so the op must not write to it afterwards.
  virtual Status add_input_grad(size_t i, Tensor grad) = 0;
};

class TrainOp {
 public:
  virtual ~TrainOp() = default;
  virtual Status forward(TrainOpContext& ctx) = 0;
  // Called only when some input needs a gradient and some output has one.
  virtual Status backward(TrainOpContext& ctx) = 0;
};

class TrainOpInit : public KernelInit {
 public:
  virtual bool input_needs_grad(size_t i) const = 0;
  virtual const TrainSessionOptions& options() const = 0;
  // The runtime's inference kernel for this node (for ops whose forward is
  // exactly inference).
  virtual Result<std::unique_ptr<OpKernel>> make_inference_kernel() const = 0;
};

using TrainOpFactory = Result<std::unique_ptr<TrainOp>> (*)(const TrainOpInit& init);

// What an initializer feeding an input slot is to training.
enum class InputRole : uint8_t {
  kDefault = 0,    // trained by default when float32, more than one element, and the slot is differentiable
  kTrainable = 1,  // trained by default whatever its size (learned quantization scales)
  kConstant = 2,   // never trained by default (frozen quantization ranges)
  kState = 3,      // updated by forward in kTrain mode, never trained (running statistics, tracked ranges)
};
// Fills roles (sized to node.inputs) for one node.
using InputRolesFn = void (*)(const Node& node, std::vector<InputRole>* roles);

// One entry per op type with a gradient.
struct TrainOpDef {
  const char* domain;
  const char* op_type;
  // Bit i set: input i is differentiable (a gradient may flow into it).
  uint32_t diff_inputs;
  // Bit i set: output i carries a gradient (indices, masks and statistics do not).
  uint32_t diff_outputs;
  // The op's forward is its own (training semantics or the fast kernels on
  // changing weights). Otherwise forward is the runtime's kernel, and a node
  // needing no gradient runs as a plain forward-only node (so integer shape
  // arithmetic through Add/Mul/Concat/... keeps working).
  bool own_forward;
  TrainOpFactory make;
  InputRolesFn roles;  // nullptr: every input kDefault
  // false: this node carries no gradient (Cast to an integer type) and runs
  // forward only; nullptr: always differentiable.
  bool (*differentiable)(const Node& node);
};

// nullptr when the op has no gradient.
const TrainOpDef* find_train_op(const std::string& domain, const std::string& op_type);
// Ops whose outputs never carry a gradient (Shape, comparisons, ...): they run
// forward only even when an input requires grad.
bool is_non_differentiable_op(const std::string& domain, const std::string& op_type);
// Every op type with a gradient, "Domain:Op" for non-default domains (sorted).
std::vector<std::string> train_op_names();

// An op that runs the runtime's inference kernel forward and has no backward
// (nodes off the gradient path).
Result<std::unique_ptr<TrainOp>> make_forward_only_op(const TrainOpInit& init);

// Factories, one per family file.
Result<std::unique_ptr<TrainOp>> make_train_gemm(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_matmul(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_conv(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_batch_norm(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_layer_norm(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_softmax(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_unary(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_clip(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_binary(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_pool(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_global_average_pool(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_reshape_like(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_transpose(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_concat(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_dropout(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_fake_quantize(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_reduce(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_pow(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_cast(const TrainOpInit& init);
Result<std::unique_ptr<TrainOp>> make_train_index_move(const TrainOpInit& init);
bool cast_is_differentiable(const Node& node);
void batch_norm_input_roles(const Node& node, std::vector<InputRole>* roles);
void fake_quantize_input_roles(const Node& node, std::vector<InputRole>* roles);

// The domain of webquant's own training ops (FakeQuantize).
constexpr const char* kTrainOpDomain = "com.webquant.train";

}  // namespace detail
}  // namespace wq
