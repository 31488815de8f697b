#include "core/train/train_session.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "core/onnx/tensor_convert.h"
#include "core/runtime/node_eval.h"
#include "core/runtime/node_init.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {

namespace {

using detail::add_context;
using detail::node_context;

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class ForwardOnlyOp final : public detail::TrainOp {
 public:
  explicit ForwardOnlyOp(std::unique_ptr<OpKernel> kernel) : kernel_(std::move(kernel)) {}
  Status forward(detail::TrainOpContext& ctx) override { return kernel_->run(ctx); }
  Status backward(detail::TrainOpContext&) override {
    return internal_error("backward called on a node without a gradient");
  }

 private:
  std::unique_ptr<OpKernel> kernel_;
};

}  // namespace

namespace detail {
Result<std::unique_ptr<TrainOp>> make_forward_only_op(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, init.make_inference_kernel());
  return std::unique_ptr<TrainOp>(new ForwardOnlyOp(std::move(kernel)));
}
}  // namespace detail

// ---- plan -------------------------------------------------------------------

struct TrainSession::Step {
  std::unique_ptr<detail::TrainOp> op;
  std::vector<int> in, out;           // slots; -1 = absent
  std::vector<char> input_needs_grad;  // by input
  bool has_backward = false;           // some input needs a gradient
  std::string context;                 // "node 'name' (Op): "
};

class TrainSession::Init final : public detail::NodeKernelInit<detail::TrainOpInit> {
 public:
  Init(const Node& node, int opset, std::vector<const Tensor*> constants, std::vector<char> needs_grad,
       const TrainSessionOptions& options)
      : NodeKernelInit(node, opset, std::move(constants)), needs_grad_(std::move(needs_grad)), options_(options) {}

  bool input_needs_grad(size_t i) const override { return i < needs_grad_.size() && needs_grad_[i]; }
  const TrainSessionOptions& options() const override { return options_; }
  Result<std::unique_ptr<OpKernel>> make_inference_kernel() const override {
    const KernelFactory* factory = builtin_ops().find(node().domain, node().op_type, opset());
    if (factory == nullptr)
      return unsupported(context() + "no implementation at opset " + std::to_string(opset()));
    Result<std::unique_ptr<OpKernel>> kernel = (*factory)(*this);
    if (!kernel.ok()) return add_context(kernel.status(), context());
    if (!kernel.value()) return internal_error(context() + "kernel factory returned null");
    return kernel;
  }

 private:
  std::vector<char> needs_grad_;
  const TrainSessionOptions& options_;
};

class TrainSession::Context final : public detail::TrainOpContext {
 public:
  Context(TrainSession& s, const Step& step, TrainMode mode) : s_(s), step_(step), mode_(mode) {}

  TrainMode mode() const override { return mode_; }
  const TrainSessionOptions& options() const override { return s_.options_; }

  size_t num_inputs() const override { return step_.in.size(); }
  const Tensor* input(size_t i) const override {
    if (i >= step_.in.size() || step_.in[i] < 0) return nullptr;
    const Tensor& t = s_.values_[step_.in[i]];
    return t.defined() ? &t : nullptr;
  }
  size_t num_outputs() const override { return step_.out.size(); }
  bool has_output(size_t i) const override { return i < step_.out.size() && step_.out[i] >= 0; }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    Tensor* dst = output_slot(i);
    WQ_ASSIGN_OR_RETURN(*dst, Tensor::allocate(dtype, shape));
    return dst;
  }
  void set_output(size_t i, Tensor t) override { *output_slot(i) = std::move(t); }

  Tensor* state_input(size_t i) override {
    if (i >= step_.in.size() || step_.in[i] < 0 || !s_.is_state_[step_.in[i]]) return nullptr;
    return &s_.values_[step_.in[i]];
  }
  uint64_t random_bits() override { return splitmix64(&s_.rng_state_); }

  const Tensor* output(size_t i) const override {
    if (i >= step_.out.size() || step_.out[i] < 0) return nullptr;
    const Tensor& t = s_.values_[step_.out[i]];
    return t.defined() ? &t : nullptr;
  }
  const Tensor* output_grad(size_t i) const override {
    if (i >= step_.out.size() || step_.out[i] < 0 || !s_.grad_valid_[step_.out[i]]) return nullptr;
    return &s_.grads_[step_.out[i]];
  }
  bool needs_input_grad(size_t i) const override { return i < step_.input_needs_grad.size() && step_.input_needs_grad[i]; }

  Result<float*> input_grad(size_t i) override {
    if (!needs_input_grad(i)) return internal_error("input " + std::to_string(i) + " needs no gradient");
    const int slot = step_.in[i];
    const Tensor& value = s_.values_[slot];
    Tensor& g = s_.grads_[slot];
    if (!s_.grad_valid_[slot]) {
      // Reuse this slot's buffer from the previous backward: no allocation
      // (and no fresh pages) per step.
      if (g.defined() && s_.grad_owned_[slot] && g.shape() == value.shape()) {
        std::memset(g.mutable_raw(), 0, g.nbytes());
      } else {
        WQ_ASSIGN_OR_RETURN(g, detail::zeros_f32(value.shape(), "gradient of '" + s_.slot_names_[slot] + "': "));
        s_.grad_owned_[slot] = 1;
      }
      s_.grad_valid_[slot] = 1;
    } else if (!s_.grad_owned_[slot]) {
      WQ_ASSIGN_OR_RETURN(g, g.clone());
      s_.grad_owned_[slot] = 1;
    }
    return g.mutable_data<float>();
  }

  Status add_input_grad(size_t i, Tensor grad) override {
    if (!needs_input_grad(i)) return internal_error("input " + std::to_string(i) + " needs no gradient");
    const int slot = step_.in[i];
    const Tensor& value = s_.values_[slot];
    if (grad.dtype() != DType::kFloat32 || grad.shape() != value.shape())
      return internal_error("gradient of input " + std::to_string(i) + " has shape " +
                            shape_to_string(grad.shape()) + ", expected " + shape_to_string(value.shape()));
    if (!s_.grad_valid_[slot]) {
      s_.grads_[slot] = std::move(grad);
      s_.grad_owned_[slot] = 0;
      s_.grad_valid_[slot] = 1;
      return Status::Ok();
    }
    WQ_ASSIGN_OR_RETURN(float* dst, input_grad(i));
    const float* src = grad.data<float>();
    for (int64_t k = 0; k < grad.numel(); ++k) dst[k] += src[k];
    return Status::Ok();
  }

 private:
  Tensor* output_slot(size_t i) {
    if (i < step_.out.size() && step_.out[i] >= 0) return &s_.values_[step_.out[i]];
    // An output the graph does not use: kernels may still write it.
    if (scratch_.size() <= i) scratch_.resize(i + 1);
    return &scratch_[i];
  }

  TrainSession& s_;
  const Step& step_;
  TrainMode mode_;
  std::vector<Tensor> scratch_;
};

TrainSession::TrainSession() = default;
TrainSession::~TrainSession() = default;

Result<std::unique_ptr<TrainSession>> TrainSession::create(const Graph& graph, const TrainSessionOptions& options) {
  std::unique_ptr<TrainSession> s(new TrainSession());
  s->graph_ = graph;
  // Constant nodes become initializers, so weights exported as Constants
  // (Paddle2ONNX does this) can be trained like any other.
  for (const Node& n : graph.nodes()) {
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0].empty()) {
      s->nodes_.push_back(n);
      continue;
    }
    const int opset = static_cast<int>(graph.opset(n.domain));
    const KernelFactory* factory = builtin_ops().find(n.domain, n.op_type, opset);
    if (factory == nullptr) return unsupported(node_context(n) + "no implementation at opset " + std::to_string(opset));
    Init init(n, opset, {}, {}, s->options_);
    Result<std::unique_ptr<OpKernel>> kernel = (*factory)(init);
    if (!kernel.ok()) return add_context(kernel.status(), node_context(n));
    EvalContext fold({}, {1});
    WQ_RETURN_IF_ERROR(add_context(kernel.value()->run(fold), node_context(n)));
    if (!fold.outputs()[0].defined()) return internal_error(node_context(n) + "produced no value");
    s->extra_initializers_[n.outputs[0]] = fold.outputs()[0];
    s->constant_nodes_[n.outputs[0]] = n.name;
  }
  WQ_RETURN_IF_ERROR(s->build(options));
  return s;
}

const Tensor* TrainSession::find_initializer(const std::string& name) const {
  auto it = extra_initializers_.find(name);
  if (it != extra_initializers_.end()) return &it->second;
  return graph_.find_initializer(name);
}

Status TrainSession::build(const TrainSessionOptions& options) {
  options_ = options;
  rng_state_ = options.seed;
  steps_.clear();
  slot_of_.clear();
  slot_names_.clear();
  input_slots_.clear();
  output_names_.clear();
  input_grads_.clear();
  have_forward_ = false;

  auto add_slot = [&](const std::string& name) {
    auto it = slot_of_.find(name);
    if (it != slot_of_.end()) return it->second;
    const int slot = static_cast<int>(slot_names_.size());
    slot_of_.emplace(name, slot);
    slot_names_.push_back(name);
    return slot;
  };
  for (const auto& in : graph_.input_protos()) input_slots_.push_back(add_slot(in.name));
  std::vector<std::string> init_names;
  for (const auto& kv : graph_.initializers()) init_names.push_back(kv.first);
  for (const auto& kv : extra_initializers_)
    if (!graph_.find_initializer(kv.first)) init_names.push_back(kv.first);
  for (const auto& name : init_names) add_slot(name);
  for (const Node& n : nodes_)
    for (const auto& o : n.outputs)
      if (!o.empty()) add_slot(o);
  const size_t num_slots = slot_names_.size();
  values_.assign(num_slots, Tensor());
  is_constant_.assign(num_slots, 0);
  param_of_slot_.assign(num_slots, -1);
  is_state_.assign(num_slots, 0);
  requires_grad_.assign(num_slots, 0);
  grads_.assign(num_slots, Tensor());
  grad_owned_.assign(num_slots, 0);
  grad_valid_.assign(num_slots, 0);

  // ---- which initializers are trained, and which are state ----
  std::set<std::string> trainable, state_names, default_trainable, never_trainable;
  for (const Node& n : nodes_) {
    const detail::TrainOpDef* def = detail::find_train_op(n.domain, n.op_type);
    if (def == nullptr) continue;
    std::vector<detail::InputRole> roles(n.inputs.size(), detail::InputRole::kDefault);
    if (def->roles != nullptr) def->roles(n, &roles);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Tensor* t = n.inputs[i].empty() ? nullptr : find_initializer(n.inputs[i]);
      if (t == nullptr) continue;
      switch (roles[i]) {
        case detail::InputRole::kState:
          state_names.insert(n.inputs[i]);
          break;
        case detail::InputRole::kTrainable:
          if (t->dtype() == DType::kFloat32) default_trainable.insert(n.inputs[i]);
          break;
        case detail::InputRole::kConstant:
          never_trainable.insert(n.inputs[i]);
          break;
        case detail::InputRole::kDefault:
          if (i < 32 && (def->diff_inputs & (1u << i)) && t->dtype() == DType::kFloat32 && t->numel() > 1)
            default_trainable.insert(n.inputs[i]);
          break;
      }
    }
  }
  if (!options.trainable.empty()) {
    for (const auto& name : options.trainable) {
      const Tensor* t = find_initializer(name);
      if (t == nullptr) return not_found("trainable '" + name + "' is not an initializer of the graph");
      if (t->dtype() != DType::kFloat32)
        return invalid_argument("trainable '" + name + "' has element type " + dtype_name(t->dtype()) +
                                ", expected float");
      if (state_names.count(name))
        return invalid_argument("trainable '" + name +
                                "' is a running statistic or tracked range, which is updated, not trained");
      trainable.insert(name);
    }
  } else {
    for (const auto& name : default_trainable)
      if (!never_trainable.count(name) && !state_names.count(name)) trainable.insert(name);
  }
  for (const auto& name : options.frozen) {
    if (find_initializer(name) == nullptr) return not_found("frozen '" + name + "' is not an initializer of the graph");
    trainable.erase(name);
  }

  // Parameters keep their buffers across rebuilds (fake quantization inserts
  // nodes into a session that may already have trained).
  std::vector<TrainParameter> old_params = std::move(params_);
  params_.clear();
  for (const auto& name : init_names) {
    const int slot = slot_of_[name];
    const Tensor* init = find_initializer(name);
    if (trainable.count(name)) {
      TrainParameter p;
      p.name = name;
      for (auto& old : old_params)
        if (old.name == name && old.value.shape() == init->shape()) p.value = old.value;
      if (!p.value.defined()) {
        Result<Tensor> copy = init->clone();
        if (!copy.ok()) return copy.status().with_context("parameter '" + name + "': ");
        p.value = std::move(copy).value();
      }
      param_of_slot_[slot] = static_cast<int>(params_.size());
      values_[slot] = p.value;
      params_.push_back(std::move(p));
    } else if (state_names.count(name)) {
      auto it = state_.find(name);
      if (it == state_.end() || it->second.shape() != init->shape()) {
        Result<Tensor> copy = init->clone();
        if (!copy.ok()) return copy.status().with_context("state '" + name + "': ");
        state_[name] = std::move(copy).value();
      }
      is_state_[slot] = 1;
      values_[slot] = state_[name];
    } else {
      is_constant_[slot] = 1;
      values_[slot] = *init;
    }
  }
  for (auto it = state_.begin(); it != state_.end();) it = state_names.count(it->first) ? std::next(it) : state_.erase(it);

  for (const auto& name : options.input_gradients) {
    bool found = false;
    for (const auto& in : graph_.input_protos()) found |= in.name == name && !find_initializer(name);
    if (!found) return not_found("input_gradients: '" + name + "' is not a graph input");
    requires_grad_[slot_of_[name]] = 1;
  }
  for (size_t i = 0; i < params_.size(); ++i) requires_grad_[slot_of_[params_[i].name]] = 1;

  // ---- steps: fold constants, propagate requires-grad, make ops ----
  std::vector<std::string> no_gradient;
  std::vector<Status> errors;
  for (const Node& n : nodes_) {
    const std::string ctx = node_context(n);
    const int opset = static_cast<int>(graph_.opset(n.domain));
    std::vector<int> in_slots, out_slots;
    bool all_constant = true;
    for (const auto& i : n.inputs) {
      const int slot = i.empty() ? -1 : slot_of_[i];
      in_slots.push_back(slot);
      if (slot >= 0 && !is_constant_[slot]) all_constant = false;
    }
    for (const auto& o : n.outputs) out_slots.push_back(o.empty() ? -1 : slot_of_[o]);
    std::vector<const Tensor*> constants;
    for (int slot : in_slots) constants.push_back(slot >= 0 && is_constant_[slot] ? &values_[slot] : nullptr);

    const detail::TrainOpDef* def = detail::find_train_op(n.domain, n.op_type);
    bool non_differentiable = detail::is_non_differentiable_op(n.domain, n.op_type);
    if (def != nullptr && def->differentiable != nullptr && !def->differentiable(n)) {
      def = nullptr;
      non_differentiable = true;
    }
    const KernelFactory* factory = builtin_ops().find(n.domain, n.op_type, opset);
    if (all_constant && factory != nullptr) {
      Init init(n, opset, constants, std::vector<char>(n.inputs.size(), 0), options_);
      Result<std::unique_ptr<OpKernel>> kernel = (*factory)(init);
      if (!kernel.ok()) {
        errors.push_back(add_context(kernel.status(), ctx));
        continue;
      }
      std::vector<char> has_out;
      for (int slot : out_slots) has_out.push_back(slot >= 0);
      EvalContext fold(constants, has_out);
      Status st = kernel.value()->run(fold);
      if (!st.ok()) {
        errors.push_back(add_context(st, ctx));
        continue;
      }
      for (size_t k = 0; k < out_slots.size(); ++k) {
        if (out_slots[k] < 0) continue;
        values_[out_slots[k]] = fold.outputs()[k];
        is_constant_[out_slots[k]] = 1;
      }
      continue;
    }

    Step step;
    step.context = ctx;
    step.in = in_slots;
    step.out = out_slots;
    step.input_needs_grad.assign(n.inputs.size(), 0);
    bool any_input_requires_grad = false;
    for (size_t i = 0; i < in_slots.size(); ++i) {
      if (in_slots[i] < 0 || !requires_grad_[in_slots[i]]) continue;
      any_input_requires_grad = true;
      if (def != nullptr && i < 32 && (def->diff_inputs & (1u << i))) {
        step.input_needs_grad[i] = 1;
        step.has_backward = true;
      }
    }
    if (def == nullptr && any_input_requires_grad && !non_differentiable) {
      no_gradient.push_back("node '" + n.name + "' (" + (n.domain.empty() ? "" : n.domain + ":") + n.op_type + ")");
      // Downstream nodes are on the path too: report them in the same message.
      for (int slot : out_slots)
        if (slot >= 0) requires_grad_[slot] = 1;
    }
    if (step.has_backward) {
      for (size_t k = 0; k < out_slots.size() && k < 32; ++k)
        if (out_slots[k] >= 0 && (def->diff_outputs & (1u << k))) requires_grad_[out_slots[k]] = 1;
    }
    Init init(n, opset, constants, step.input_needs_grad, options_);
    const bool train_op = def != nullptr && (step.has_backward || def->own_forward);
    Result<std::unique_ptr<detail::TrainOp>> op = train_op ? def->make(init) : detail::make_forward_only_op(init);
    if (!op.ok()) {
      errors.push_back(add_context(op.status(), ctx));
    } else if (!op.value()) {
      errors.push_back(internal_error(ctx + "factory returned null"));
    } else {
      step.op = std::move(op).value();
    }
    steps_.push_back(std::move(step));
  }

  for (const auto& out : graph_.output_protos()) output_names_.push_back(out.name);

  if (!no_gradient.empty() || !errors.empty()) {
    std::string msg;
    StatusCode code = StatusCode::kUnsupported;
    if (!no_gradient.empty()) {
      msg = "no gradient implemented for";
      for (size_t i = 0; i < no_gradient.size(); ++i) msg += (i ? ", " : " ") + no_gradient[i];
      msg += " (on the path from a trainable parameter to the outputs)";
    }
    for (const Status& e : errors) {
      if (no_gradient.empty() && msg.empty()) code = e.code();
      msg += (msg.empty() ? "" : "; ") + e.message();
    }
    return Status(code, msg);
  }
  return Status::Ok();
}

Status TrainSession::validate_feeds(const std::map<std::string, Tensor>& feeds) {
  for (const auto& kv : feeds) {
    bool known = false;
    for (const auto& in : graph_.inputs()) known |= in.name == kv.first;
    if (!known) return invalid_argument("feed '" + kv.first + "' is not an input of the graph");
  }
  const auto& inputs = graph_.inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueSummary& decl = inputs[i];
    auto it = feeds.find(decl.name);
    if (it == feeds.end()) return invalid_argument("input '" + decl.name + "' is not fed");
    const Tensor& t = it->second;
    if (!t.defined()) return invalid_argument("input '" + decl.name + "' is an empty tensor");
    if (decl.dtype != DType::kUndefined && t.dtype() != decl.dtype)
      return invalid_argument("input '" + decl.name + "' has element type " + dtype_name(t.dtype()) +
                              ", expected " + dtype_name(decl.dtype));
    if (decl.has_shape) {
      if (t.rank() != decl.shape.size())
        return invalid_argument("input '" + decl.name + "' has shape " + shape_to_string(t.shape()) + ", expected rank " +
                                std::to_string(decl.shape.size()));
      for (size_t d = 0; d < decl.shape.size(); ++d)
        if (decl.shape[d].value >= 0 && decl.shape[d].value != t.dim(d))
          return invalid_argument("input '" + decl.name + "' has shape " + shape_to_string(t.shape()) + ", dim " +
                                  std::to_string(d) + " must be " + std::to_string(decl.shape[d].value));
    }
  }
  // Slots of graph inputs (initializers excluded, as Graph::inputs() lists them).
  for (size_t i = 0; i < inputs.size(); ++i) values_[slot_of_.at(inputs[i].name)] = feeds.at(inputs[i].name);
  return Status::Ok();
}

Result<std::map<std::string, Tensor>> TrainSession::forward(const std::map<std::string, Tensor>& feeds,
                                                            TrainMode mode,
                                                            const std::vector<std::string>& output_names) {
  have_forward_ = false;
  const std::vector<std::string>& names = output_names.empty() ? output_names_ : output_names;
  for (const auto& name : names)
    if (!slot_of_.count(name)) return not_found("requested output '" + name + "' is not a value of the graph");
  // Re-read parameters (the caller may have replaced a tensor in parameters()).
  for (size_t i = 0; i < params_.size(); ++i) {
    const int slot = slot_of_[params_[i].name];
    const Tensor& v = params_[i].value;
    if (v.dtype() != DType::kFloat32 || v.shape() != values_[slot].shape() || !v.writable())
      return invalid_argument("parameter '" + params_[i].name + "' was replaced by a tensor of another type or shape");
    values_[slot] = v;
  }
  WQ_RETURN_IF_ERROR(validate_feeds(feeds));
  for (const Step& step : steps_) {
    // The previous step's values are dropped one node at a time, just before
    // their replacements are allocated, so the allocator reuses the same
    // blocks instead of returning memory and faulting fresh pages each step.
    for (int slot : step.out)
      if (slot >= 0) values_[slot] = Tensor();
    Context ctx(*this, step, mode);
    Status st = step.op->forward(ctx);
    if (!st.ok()) return add_context(st, step.context);
    for (size_t i = 0; i < step.out.size(); ++i)
      if (step.out[i] >= 0 && !values_[step.out[i]].defined())
        return internal_error(step.context + "did not produce output " + std::to_string(i));
  }
  have_forward_ = true;
  std::map<std::string, Tensor> out;
  for (const auto& name : names) out[name] = values_[slot_of_[name]];
  return out;
}

Status TrainSession::backward(const std::map<std::string, Tensor>& output_grads) {
  if (!have_forward_) return invalid_argument("backward() needs a forward() first (each forward allows one backward)");
  // Gradients of the last backward become reusable buffers.
  std::fill(grad_valid_.begin(), grad_valid_.end(), 0);
  for (const auto& kv : output_grads) {
    auto it = slot_of_.find(kv.first);
    if (it == slot_of_.end()) return not_found("gradient given for '" + kv.first + "', which is not a value of the graph");
    const Tensor& value = values_[it->second];
    const Tensor& g = kv.second;
    if (g.dtype() != DType::kFloat32 || g.shape() != value.shape())
      return invalid_argument("gradient of '" + kv.first + "' has type " + dtype_name(g.dtype()) + " " +
                              shape_to_string(g.shape()) + ", expected float " + shape_to_string(value.shape()));
    grads_[it->second] = g;
    grad_owned_[it->second] = 0;
    grad_valid_[it->second] = 1;
  }
  for (size_t k = steps_.size(); k-- > 0;) {
    const Step& step = steps_[k];
    if (!step.has_backward) continue;
    bool any = false;
    for (int slot : step.out) any |= slot >= 0 && grad_valid_[slot];
    if (!any) continue;
    Context ctx(*this, step, TrainMode::kTrain);
    Status st = step.op->backward(ctx);
    if (!st.ok()) return add_context(st, step.context);
  }
  for (TrainParameter& p : params_) {
    const int slot = slot_of_[p.name];
    if (grad_valid_[slot]) {
      p.grad = grads_[slot];
    } else {
      WQ_ASSIGN_OR_RETURN(p.grad, detail::zeros_f32(p.value.shape(), "gradient of '" + p.name + "': "));
    }
  }
  input_grads_.clear();
  for (const auto& name : options_.input_gradients) {
    const int slot = slot_of_[name];
    if (grad_valid_[slot]) {
      input_grads_[name] = grads_[slot];
    } else {
      WQ_ASSIGN_OR_RETURN(input_grads_[name], detail::zeros_f32(values_[slot].shape(), "gradient of '" + name + "': "));
    }
  }
  // Values and gradient buffers stay allocated for the next step (forward
  // replaces them node by node).
  have_forward_ = false;
  return Status::Ok();
}

const TrainParameter* TrainSession::find_parameter(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

const Tensor* TrainSession::input_gradient(const std::string& name) const {
  auto it = input_grads_.find(name);
  return it == input_grads_.end() ? nullptr : &it->second;
}

Status TrainSession::save_weights(TrainWeights* out) const {
  auto save = [&](const std::string& name, const Tensor& v) -> Status {
    Tensor& dst = out->values[name];
    if (!dst.defined() || dst.shape() != v.shape() || dst.dtype() != v.dtype() || !dst.writable() ||
        dst.shares_buffer_with(v)) {
      WQ_ASSIGN_OR_RETURN(dst, v.clone());
      return Status::Ok();
    }
    std::memcpy(dst.mutable_raw(), v.raw(), v.nbytes());
    return Status::Ok();
  };
  for (const auto& p : params_) WQ_RETURN_IF_ERROR(save(p.name, p.value));
  for (const auto& kv : state_) WQ_RETURN_IF_ERROR(save(kv.first, kv.second));
  return Status::Ok();
}

Status TrainSession::load_weights(const TrainWeights& weights) {
  auto check = [&](const std::string& name, const Tensor& dst) -> Status {
    auto it = weights.values.find(name);
    if (it == weights.values.end()) return invalid_argument("load_weights: '" + name + "' is missing");
    if (it->second.dtype() != dst.dtype() || it->second.shape() != dst.shape())
      return invalid_argument("load_weights: '" + name + "' has shape " + shape_to_string(it->second.shape()) +
                              ", expected " + shape_to_string(dst.shape()));
    return Status::Ok();
  };
  for (const auto& p : params_) WQ_RETURN_IF_ERROR(check(p.name, p.value));
  for (const auto& kv : state_) WQ_RETURN_IF_ERROR(check(kv.first, kv.second));
  for (auto& p : params_) {
    const Tensor& src = weights.values.at(p.name);
    if (!src.shares_buffer_with(p.value)) std::memcpy(p.value.mutable_raw(), src.raw(), src.nbytes());
  }
  for (auto& kv : state_) {
    const Tensor& src = weights.values.at(kv.first);
    if (!src.shares_buffer_with(kv.second)) std::memcpy(kv.second.mutable_raw(), src.raw(), src.nbytes());
  }
  return Status::Ok();
}

Result<Graph> TrainSession::export_graph() const {
  Graph g = graph_;
  // Trained values of Constant nodes replace those nodes as initializers.
  // Parameters and state added by rewrite() (fake-quantization ranges) are
  // not part of the graph: fake_quant_state() reports them.
  bool removed = false;
  auto put = [&](const std::string& name, const Tensor& value) -> Status {
    auto c = constant_nodes_.find(name);
    if (c != constant_nodes_.end()) {
      WQ_RETURN_IF_ERROR(g.remove_node(c->second));
      removed = true;
    } else if (graph_.find_initializer(name) == nullptr) {
      return Status::Ok();
    }
    WQ_ASSIGN_OR_RETURN(Tensor copy, value.clone());
    g.set_initializer(name, std::move(copy));
    return Status::Ok();
  };
  for (const auto& p : params_) WQ_RETURN_IF_ERROR(put(p.name, p.value));
  for (const auto& kv : state_) WQ_RETURN_IF_ERROR(put(kv.first, kv.second));
  if (removed) WQ_RETURN_IF_ERROR(g.validate_and_sort());
  return g;
}

Status TrainSession::rewrite(
    const std::function<Status(std::vector<Node>& nodes, std::map<std::string, Tensor>& initializers)>& edit) {
  std::vector<Node> old_nodes = nodes_;
  std::map<std::string, Tensor> old_extra = extra_initializers_;
  Status st = edit(nodes_, extra_initializers_);
  if (st.ok()) st = build(options_);
  if (!st.ok()) {
    nodes_ = std::move(old_nodes);
    extra_initializers_ = std::move(old_extra);
    Status again = build(options_);
    return again.ok() ? st : again;
  }
  return Status::Ok();
}

std::vector<std::string> TrainSession::node_descriptions() const {
  std::vector<std::string> out;
  for (const Step& s : steps_) out.push_back(s.context.substr(0, s.context.size() - 2));
  return out;
}

}  // namespace wq
