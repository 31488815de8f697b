#include "core/runtime/session.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <stdexcept>
#include <utility>

#include "core/graph/graph.h"
#include "core/onnx/tensor_convert.h"
#include "core/runtime/node_init.h"

namespace wq {

namespace {

using detail::add_context;
using detail::node_context;

std::string describe_type(const ValueSummary& v) {
  std::string s = dtype_name(v.dtype);
  if (!v.has_shape) return s;
  s += " [";
  for (size_t i = 0; i < v.shape.size(); ++i) {
    if (i) s += ",";
    s += v.shape[i].value >= 0 ? std::to_string(v.shape[i].value)
                               : (v.shape[i].param.empty() ? std::string("?") : v.shape[i].param);
  }
  return s + "]";
}

const char* non_tensor_kind(const onnx::ValueInfoProto& info) {
  switch (info.type.kind) {
    case onnx::TypeProto::Kind::kSequence: return "a sequence";
    case onnx::TypeProto::Kind::kMap: return "a map";
    case onnx::TypeProto::Kind::kOptional: return "an optional";
    case onnx::TypeProto::Kind::kSparseTensor: return "a sparse tensor";
    default: return "not a tensor";
  }
}

// Constant nodes are folded when the plan is built, so their values are
// visible to consumers' factories through constant_input().
Result<Tensor> evaluate_constant(const Node& n) {
  if (n.attributes.size() != 1)
    return invalid_model(node_context(n) + "Constant needs exactly one value attribute, got " +
                         std::to_string(n.attributes.size()));
  const onnx::AttributeProto& a = n.attributes[0];
  if (a.name == "value") {
    if (!a.has_t) return invalid_model(node_context(n) + "attribute 'value' holds no tensor");
    Result<Tensor> t = tensor_from_proto(a.t);
    if (!t.ok()) return add_context(t.status(), node_context(n));
    return t;
  }
  if (a.name == "value_float") {
    Tensor t = Tensor::from_floats({}, {a.f});
    return t;
  }
  if (a.name == "value_floats") return Tensor::from_floats({static_cast<int64_t>(a.floats.size())}, a.floats);
  if (a.name == "value_int") return Tensor::from_int64s({}, {a.i});
  if (a.name == "value_ints") return Tensor::from_int64s({static_cast<int64_t>(a.ints.size())}, a.ints);
  if (a.name == "value_string" || a.name == "value_strings")
    return unsupported(node_context(n) + "string constants are not supported");
  if (a.name == "sparse_value") return unsupported(node_context(n) + "sparse constants are not supported");
  return invalid_model(node_context(n) + "unknown Constant attribute '" + a.name + "'");
}

}  // namespace

namespace detail {
const char* attr_type_name(int32_t type) {
  switch (type) {
    case onnx::AttributeProto::FLOAT: return "FLOAT";
    case onnx::AttributeProto::INT: return "INT";
    case onnx::AttributeProto::STRING: return "STRING";
    case onnx::AttributeProto::TENSOR: return "TENSOR";
    case onnx::AttributeProto::GRAPH: return "GRAPH";
    case onnx::AttributeProto::FLOATS: return "FLOATS";
    case onnx::AttributeProto::INTS: return "INTS";
    case onnx::AttributeProto::STRINGS: return "STRINGS";
    case onnx::AttributeProto::TENSORS: return "TENSORS";
    case onnx::AttributeProto::GRAPHS: return "GRAPHS";
    case onnx::AttributeProto::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case onnx::AttributeProto::SPARSE_TENSORS: return "SPARSE_TENSORS";
    case onnx::AttributeProto::TYPE_PROTO: return "TYPE_PROTO";
    case onnx::AttributeProto::TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}
}  // namespace detail

// ---- plan -------------------------------------------------------------------

struct Session::Step {
  std::unique_ptr<OpKernel> kernel;
  std::vector<int> input_slots;              // -1 = absent optional input
  std::vector<const Tensor*> const_inputs;   // non-null where the input is a constant
  std::vector<int> output_slots;             // -1 = absent optional output
  std::vector<int> release_after;            // intermediates whose last reader is this step
  std::string context;                       // "node 'name' (OpType): "
};

class Session::Init final : public detail::NodeKernelInit<KernelInit> {
 public:
  using NodeKernelInit::NodeKernelInit;
};

Session::Session() = default;
Session::~Session() = default;
size_t Session::num_steps() const { return steps_.size(); }

bool Session::is_constant(int slot) const { return constants_[slot].defined() || released_to_[slot].first >= 0; }

Result<Tensor> Session::constant_value(int slot) const {
  const std::pair<int, int> at = released_to_[slot];
  if (at.first < 0) return constants_[slot];
  const Step& step = steps_[at.first];
  Result<Tensor> t = step.kernel->restore_constant_input(static_cast<size_t>(at.second));
  if (!t.ok()) return add_context(t.status(), step.context + "restoring constant '" + slot_names_[slot] + "': ");
  return t;
}

int64_t Session::constant_bytes() const {
  int64_t total = 0;
  for (const Tensor& t : constants_)
    if (t.defined()) total += static_cast<int64_t>(t.nbytes());
  return total;
}

int64_t Session::borrowed_constant_bytes() const {
  int64_t total = 0;
  for (const Tensor& t : constants_)
    if (t.defined() && !t.writable()) total += static_cast<int64_t>(t.nbytes());
  return total;
}

std::vector<std::string> Session::released_constants() const {
  std::vector<std::string> names;
  for (size_t slot = 0; slot < released_to_.size(); ++slot)
    if (released_to_[slot].first >= 0) names.push_back(slot_names_[slot]);
  return names;
}

Status Session::own_constants() {
  for (size_t slot = 0; slot < constants_.size(); ++slot) {
    Tensor& t = constants_[slot];
    if (!t.defined() || t.writable()) continue;
    Result<Tensor> copy = t.clone();
    if (!copy.ok()) return copy.status().with_context("constant '" + slot_names_[slot] + "': ");
    // Assigned in place: steps point at this Tensor.
    t = std::move(copy).value();
  }
  return Status::Ok();
}

Result<std::unique_ptr<Session>> Session::create(const Graph& graph, const OpRegistry& registry) {
  std::unique_ptr<Session> s(new Session());
  std::vector<std::string> unsupported_nodes;
  std::vector<std::pair<std::string, int>> unsupported_kinds;  // ("OpType (opset N)", count), first-seen order
  std::vector<Status> errors;

  // Pass 1: one slot per value name.
  auto add_slot = [&](const std::string& name) {
    auto it = s->slot_of_.find(name);
    if (it != s->slot_of_.end()) return it->second;
    const int slot = static_cast<int>(s->slot_names_.size());
    s->slot_of_.emplace(name, slot);
    s->slot_names_.push_back(name);
    return slot;
  };
  for (const auto& in : graph.input_protos()) {
    s->input_slots_.push_back(add_slot(in.name));
    s->inputs_.push_back(value_summary_from_proto(in));
    if (!value_is_tensor(in))
      errors.push_back(unsupported("input '" + in.name + "' is " + non_tensor_kind(in) + ", not a tensor"));
  }
  for (const auto& kv : graph.initializers()) add_slot(kv.first);
  for (const Node& n : graph.nodes())
    for (const auto& o : n.outputs)
      if (!o.empty()) add_slot(o);
  const size_t num_slots = s->slot_names_.size();
  // Sized once: steps keep pointers into it.
  s->constants_.resize(num_slots);
  s->producer_step_.assign(num_slots, -1);
  for (const auto& kv : graph.initializers()) s->constants_[s->slot_of_[kv.first]] = kv.second;

  std::vector<char> available(num_slots, 0);
  for (int slot : s->input_slots_) available[slot] = 1;
  for (const auto& kv : graph.initializers()) available[s->slot_of_[kv.first]] = 1;

  // Pass 2: one step per non-Constant node.
  for (const Node& n : graph.nodes()) {
    const std::string ctx = node_context(n);
    bool inputs_ok = true;
    for (const auto& i : n.inputs) {
      if (i.empty()) continue;
      auto it = s->slot_of_.find(i);
      if (it == s->slot_of_.end() || !available[it->second]) {
        errors.push_back(invalid_model(ctx + "input '" + i + "' is not produced before this node"));
        inputs_ok = false;
      }
    }
    if (!inputs_ok) {
      // Report this node once, not every consumer downstream of it.
      for (const auto& o : n.outputs)
        if (!o.empty()) available[s->slot_of_[o]] = 1;
      continue;
    }

    if (n.op_type == "Constant" && n.domain.empty()) {
      if (n.outputs.size() != 1 || n.outputs[0].empty()) {
        errors.push_back(invalid_model(ctx + "Constant must have exactly one output"));
        continue;
      }
      Result<Tensor> value = evaluate_constant(n);
      if (!value.ok()) {
        errors.push_back(value.status());
        continue;
      }
      const int slot = s->slot_of_[n.outputs[0]];
      s->constants_[slot] = std::move(value).value();
      available[slot] = 1;
      continue;
    }

    Step step;
    step.context = ctx;
    for (const auto& i : n.inputs) {
      const int slot = i.empty() ? -1 : s->slot_of_[i];
      step.input_slots.push_back(slot);
      step.const_inputs.push_back(slot >= 0 && s->constants_[slot].defined() ? &s->constants_[slot] : nullptr);
    }
    for (const auto& o : n.outputs) {
      const int slot = o.empty() ? -1 : s->slot_of_[o];
      step.output_slots.push_back(slot);
      if (slot >= 0) {
        available[slot] = 1;
        s->producer_step_[slot] = static_cast<int>(s->steps_.size());
      }
    }

    const int opset = static_cast<int>(graph.opset(n.domain));
    const KernelFactory* factory = registry.find(n.domain, n.op_type, opset);
    if (!factory) {
      const std::string op = (n.domain.empty() ? "" : n.domain + ":") + n.op_type;
      const std::string version = "opset " + std::to_string(opset);
      unsupported_nodes.push_back("node '" + n.name + "' (" + op + ", " + version + ")");
      const std::string kind = op + " (" + version + ")";
      auto it = std::find_if(unsupported_kinds.begin(), unsupported_kinds.end(),
                             [&](const std::pair<std::string, int>& k) { return k.first == kind; });
      if (it == unsupported_kinds.end()) {
        unsupported_kinds.emplace_back(kind, 1);
      } else {
        ++it->second;
      }
    } else {
      Init init(n, opset, step.const_inputs);
      Result<std::unique_ptr<OpKernel>> kernel = internal_error(ctx + "factory threw");
      try {
        kernel = (*factory)(init);
      } catch (const std::exception& e) {
        kernel = internal_error(ctx + "kernel factory threw: " + e.what());
      }
      if (!kernel.ok()) {
        errors.push_back(add_context(kernel.status(), ctx));
      } else if (!kernel.value()) {
        errors.push_back(internal_error(ctx + "kernel factory returned null"));
      } else {
        step.kernel = std::move(kernel).value();
      }
    }
    s->steps_.push_back(std::move(step));
  }

  for (const auto& out : graph.output_protos()) {
    auto it = s->slot_of_.find(out.name);
    if (it == s->slot_of_.end() || !available[it->second]) {
      errors.push_back(invalid_model("graph output '" + out.name + "' is never produced"));
      continue;
    }
    s->output_names_.push_back(out.name);
    s->graph_output_slots_.push_back(it->second);
  }

  if (!unsupported_nodes.empty() || !errors.empty()) {
    std::string msg;
    StatusCode code = StatusCode::kUnsupported;
    if (!unsupported_nodes.empty()) {
      // Grouped first (what to implement), then every node (where it is).
      msg = "unsupported operators:";
      for (size_t i = 0; i < unsupported_kinds.size(); ++i)
        msg += (i ? ", " : " ") + unsupported_kinds[i].first + " x" + std::to_string(unsupported_kinds[i].second);
      msg += "; nodes: ";
      for (size_t i = 0; i < unsupported_nodes.size(); ++i) msg += (i ? ", " : "") + unsupported_nodes[i];
    } else {
      code = errors[0].code();
      for (const Status& e : errors)
        if (e.code() != StatusCode::kUnsupported) {
          code = e.code();
          break;
        }
    }
    for (size_t i = 0; i < errors.size(); ++i) msg += (msg.empty() ? "" : "; ") + errors[i].message();
    return Status(code, msg);
  }

  // Liveness: an intermediate is released after the last step that reads it,
  // or right after its producer when nothing reads it. Feeds and constants are
  // not ours to release; graph outputs live until the end of the run.
  std::vector<int> last_use(num_slots, -1);
  for (size_t k = 0; k < s->steps_.size(); ++k)
    for (int slot : s->steps_[k].input_slots)
      if (slot >= 0) last_use[slot] = static_cast<int>(k);
  std::vector<char> is_graph_output(num_slots, 0);
  for (int slot : s->graph_output_slots_) is_graph_output[slot] = 1;
  for (size_t slot = 0; slot < num_slots; ++slot) {
    const int producer = s->producer_step_[slot];
    if (producer < 0 || is_graph_output[slot]) continue;
    const int release_at = last_use[slot] >= producer ? last_use[slot] : producer;
    s->steps_[release_at].release_after.push_back(static_cast<int>(slot));
  }

  // Constants every reader packed for itself are released: the kernels hold
  // the only copy from now on. Graph outputs stay (a run returns them).
  s->released_to_.assign(num_slots, {-1, -1});
  std::vector<int> readers(num_slots, 0), owners(num_slots, 0);
  std::vector<std::pair<int, int>> owner(num_slots, {-1, -1});
  for (size_t k = 0; k < s->steps_.size(); ++k) {
    const Step& st = s->steps_[k];
    for (size_t i = 0; i < st.input_slots.size(); ++i) {
      const int slot = st.input_slots[i];
      if (slot < 0 || st.const_inputs[i] == nullptr) continue;
      ++readers[slot];
      if (st.kernel->owns_constant_input(i)) {
        ++owners[slot];
        owner[slot] = {static_cast<int>(k), static_cast<int>(i)};
      }
    }
  }
  for (size_t slot = 0; slot < num_slots; ++slot) {
    if (readers[slot] == 0 || owners[slot] != readers[slot] || is_graph_output[slot]) continue;
    s->constants_[slot] = Tensor();
    s->released_to_[slot] = owner[slot];
  }

  s->graph_output_needed_.assign(s->steps_.size(), 0);
  std::vector<char> wanted(num_slots, 0);
  for (int slot : s->graph_output_slots_) wanted[slot] = 1;
  for (size_t k = s->steps_.size(); k-- > 0;) {
    const Step& st = s->steps_[k];
    bool needed = false;
    for (int o : st.output_slots) needed |= o >= 0 && wanted[o];
    if (!needed) continue;
    s->graph_output_needed_[k] = 1;
    for (int i : st.input_slots)
      if (i >= 0) wanted[i] = 1;
  }
  return s;
}

// ---- run --------------------------------------------------------------------

namespace {

// Counts live intermediate bytes per buffer, not per value, so outputs that
// alias an input (Identity, Reshape) are neither double-counted nor treated
// as freed while another value still holds the buffer.
struct BufferLedger {
  struct Buffer {
    int64_t bytes;
    int refs;
  };
  std::vector<Buffer> buffers;
  int64_t live = 0, peak = 0, total = 0;

  int add(int64_t bytes) {
    buffers.push_back({bytes, 1});
    live += bytes;
    total += bytes;
    if (live > peak) peak = live;
    return static_cast<int>(buffers.size()) - 1;
  }
  void retain(int id) { ++buffers[id].refs; }
  void release(int id) {
    if (--buffers[id].refs == 0) live -= buffers[id].bytes;
  }
};

}  // namespace

class Session::Context final : public KernelContext {
 public:
  Context(std::vector<Tensor>& values, std::vector<int>& buffer_of, BufferLedger& ledger, const RunOptions& options)
      : values_(values), buffer_of_(buffer_of), ledger_(ledger), options_(options) {}

  void begin(const Step* step) {
    step_ = step;
    error_ = Status::Ok();
  }
  // Drops outputs of absent optional slots a kernel wrote anyway.
  void end() {
    for (size_t i = 0; i < scratch_.size(); ++i) {
      if (scratch_buffer_[i] >= 0) ledger_.release(scratch_buffer_[i]);
      scratch_buffer_[i] = -1;
      scratch_[i] = Tensor();
    }
  }
  const Status& error() const { return error_; }

  size_t num_inputs() const override { return step_->input_slots.size(); }
  const Tensor* input(size_t i) const override {
    if (i >= step_->input_slots.size()) return nullptr;
    if (const Tensor* c = step_->const_inputs[i]) return c;
    const int slot = step_->input_slots[i];
    return slot < 0 ? nullptr : &values_[slot];
  }
  size_t num_outputs() const override { return step_->output_slots.size(); }
  bool has_output(size_t i) const override { return i < step_->output_slots.size() && step_->output_slots[i] >= 0; }

  Result<Tensor*> allocate_output(size_t i, DType dtype, const Shape& shape) override {
    if (i >= step_->output_slots.size())
      return internal_error("kernel allocated output " + std::to_string(i) + " but the node has " +
                            std::to_string(step_->output_slots.size()));
    Result<Tensor> t = Tensor::allocate(dtype, shape);
    if (!t.ok()) return t.status().with_context("output " + std::to_string(i) + ": ");
    const int64_t bytes = static_cast<int64_t>(t.value().nbytes());
    Tensor* dst = store(i, std::move(t).value(), ledger_.add(bytes));
    return dst;
  }

  void set_output(size_t i, Tensor t) override {
    if (i >= step_->output_slots.size()) {
      error_ = internal_error("kernel set output " + std::to_string(i) + " but the node has " +
                              std::to_string(step_->output_slots.size()));
      return;
    }
    if (!t.defined()) {
      error_ = internal_error("kernel set output " + std::to_string(i) + " to an undefined tensor");
      return;
    }
    // An alias of an input shares that input's buffer (or none, for feeds and
    // constants, which are not intermediates); anything else is a new buffer.
    int buffer = -2;
    for (size_t j = 0; j < step_->input_slots.size() && buffer == -2; ++j) {
      const Tensor* in = input(j);
      if (!in || !t.shares_buffer_with(*in)) continue;
      const int slot = step_->input_slots[j];
      buffer = step_->const_inputs[j] ? -1 : buffer_of_[slot];
      if (buffer >= 0) ledger_.retain(buffer);
    }
    if (buffer == -2) buffer = ledger_.add(static_cast<int64_t>(t.nbytes()));
    store(i, std::move(t), buffer);
  }

  bool cancelled() const override {
    return (options_.cancel_flag && options_.cancel_flag->load(std::memory_order_relaxed)) ||
           (options_.cancel_callback && options_.cancel_callback());
  }

 private:
  Tensor* store(size_t i, Tensor t, int buffer) {
    const int slot = step_->output_slots[i];
    if (slot < 0) {
      if (scratch_.size() <= i) {
        scratch_.resize(i + 1);
        scratch_buffer_.resize(i + 1, -1);
      }
      if (scratch_buffer_[i] >= 0) ledger_.release(scratch_buffer_[i]);
      scratch_[i] = std::move(t);
      scratch_buffer_[i] = buffer;
      return &scratch_[i];
    }
    if (buffer_of_[slot] >= 0) ledger_.release(buffer_of_[slot]);  // a kernel writing the same output twice
    values_[slot] = std::move(t);
    buffer_of_[slot] = buffer;
    return &values_[slot];
  }

  std::vector<Tensor>& values_;
  std::vector<int>& buffer_of_;
  BufferLedger& ledger_;
  const RunOptions& options_;
  const Step* step_ = nullptr;
  Status error_;
  std::vector<Tensor> scratch_;
  std::vector<int> scratch_buffer_;
};

Status Session::validate_feeds(const std::map<std::string, Tensor>& feeds, std::vector<Tensor>* values) const {
  for (const auto& kv : feeds) {
    bool known = false;
    for (const auto& in : inputs_) known |= in.name == kv.first;
    if (known) continue;
    std::string msg = "unknown input '" + kv.first + "'";
    auto it = slot_of_.find(kv.first);
    if (it != slot_of_.end() && is_constant(it->second)) msg += " (it is a constant of the model)";
    msg += "; the model's inputs are:";
    for (size_t i = 0; i < inputs_.size(); ++i) msg += (i ? ", '" : " '") + inputs_[i].name + "'";
    if (inputs_.empty()) msg += " none";
    return invalid_argument(msg);
  }

  struct Binding {
    int64_t value;
    size_t input, dim;
  };
  std::map<std::string, Binding> bound;
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const ValueSummary& decl = inputs_[k];
    auto it = feeds.find(decl.name);
    if (it == feeds.end())
      return invalid_argument("missing input '" + decl.name + "' (" + describe_type(decl) + ")");
    const Tensor& t = it->second;
    if (!t.defined()) return invalid_argument("input '" + decl.name + "' is an undefined tensor");
    if (decl.dtype != DType::kUndefined && t.dtype() != decl.dtype)
      return invalid_argument("input '" + decl.name + "' has dtype " + dtype_name(t.dtype()) +
                              ", but the model declares " + dtype_name(decl.dtype));
    if (decl.has_shape) {
      if (t.rank() != decl.shape.size())
        return invalid_argument("input '" + decl.name + "' has rank " + std::to_string(t.rank()) + " " +
                                shape_to_string(t.shape()) + ", but the model declares rank " +
                                std::to_string(decl.shape.size()) + " (" + describe_type(decl) + ")");
      for (size_t d = 0; d < decl.shape.size(); ++d) {
        const Dim& dim = decl.shape[d];
        const int64_t actual = t.dim(d);
        if (dim.value >= 0) {
          if (actual != dim.value)
            return invalid_argument("input '" + decl.name + "' dim " + std::to_string(d) + " is " +
                                    std::to_string(actual) + ", but the model declares " +
                                    std::to_string(dim.value) + " (" + describe_type(decl) + ")");
        } else if (!dim.param.empty()) {
          auto b = bound.find(dim.param);
          if (b == bound.end()) {
            bound.emplace(dim.param, Binding{actual, k, d});
          } else if (b->second.value != actual) {
            return invalid_argument("input '" + decl.name + "' dim " + std::to_string(d) + " ('" + dim.param +
                                    "') is " + std::to_string(actual) + ", but input '" +
                                    inputs_[b->second.input].name + "' dim " + std::to_string(b->second.dim) +
                                    " bound '" + dim.param + "' to " + std::to_string(b->second.value));
          }
        }
      }
    }
    (*values)[input_slots_[k]] = t;
  }
  return Status::Ok();
}

Result<std::map<std::string, Tensor>> Session::run(const std::map<std::string, Tensor>& feeds,
                                                   const std::vector<std::string>& output_names,
                                                   const RunOptions& options, RunStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  const size_t num_slots = slot_names_.size();
  std::vector<Tensor> values(num_slots);
  WQ_RETURN_IF_ERROR(validate_feeds(feeds, &values));

  // Resolve requested outputs; intermediates among them must survive the run.
  const std::vector<std::string>& names = output_names.empty() ? output_names_ : output_names;
  std::vector<int> out_slots;
  out_slots.reserve(names.size());
  for (const auto& name : names) {
    auto it = slot_of_.find(name);
    if (it == slot_of_.end()) return not_found("requested output '" + name + "' is not a value of the graph");
    out_slots.push_back(it->second);
  }
  std::vector<char> keep;
  const std::vector<char>* needed = &graph_output_needed_;
  std::vector<char> custom_needed;
  if (!output_names.empty()) {
    keep.assign(num_slots, 0);
    for (int slot : out_slots) keep[slot] = 1;
    std::vector<char> wanted = keep;
    custom_needed.assign(steps_.size(), 0);
    for (size_t k = steps_.size(); k-- > 0;) {
      bool need = false;
      for (int o : steps_[k].output_slots) need |= o >= 0 && wanted[o];
      if (!need) continue;
      custom_needed[k] = 1;
      for (int i : steps_[k].input_slots)
        if (i >= 0) wanted[i] = 1;
    }
    needed = &custom_needed;
  }

  std::vector<int> buffer_of(num_slots, -1);
  BufferLedger ledger;
  MemoryLimitScope memory_limit(options.memory_limit_bytes, "the run's memory limit (RunOptions::memory_limit_bytes)");
  Context ctx(values, buffer_of, ledger, options);
  for (size_t k = 0; k < steps_.size(); ++k) {
    const Step& step = steps_[k];
    if ((*needed)[k]) {
      if (ctx.cancelled()) return cancelled("run cancelled before " + step.context.substr(0, step.context.size() - 2));
      ctx.begin(&step);
      Status st;
      try {
        st = step.kernel->run(ctx);
      } catch (const std::length_error&) {
        st = out_of_memory("a buffer inside the kernel would exceed the largest possible allocation");
      } catch (const std::bad_alloc&) {
        // A container inside the kernel could not grow: the heap is full.
        st = out_of_memory("out of memory inside the kernel (the heap is full)");
      } catch (const std::exception& e) {
        st = internal_error(std::string("kernel threw: ") + e.what());
      }
      ctx.end();
      if (st.ok()) st = ctx.error();
      if (!st.ok()) return add_context(st, step.context);
      for (size_t i = 0; i < step.output_slots.size(); ++i) {
        const int slot = step.output_slots[i];
        if (slot >= 0 && !values[slot].defined())
          // Every kernel writes every output its operator defines, so an
          // output left empty is one the node lists beyond them.
          return invalid_model(step.context + "lists output " + std::to_string(i) + " ('" + slot_names_[slot] +
                               "'), which this operator does not produce");
      }
      if (options.observe) {
        for (int slot : step.output_slots) {
          if (slot < 0) continue;
          Status st_obs = options.observe(slot_names_[slot], values[slot]);
          if (!st_obs.ok()) return st_obs;
        }
      }
    }
    for (int slot : step.release_after) {
      if (!keep.empty() && keep[slot]) continue;
      values[slot] = Tensor();
      if (buffer_of[slot] >= 0) ledger.release(buffer_of[slot]);
      buffer_of[slot] = -1;
    }
  }

  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < names.size(); ++i) {
    const int slot = out_slots[i];
    if (released_to_[slot].first >= 0) {
      WQ_ASSIGN_OR_RETURN(result[names[i]], constant_value(slot));
      continue;
    }
    const Tensor& v = constants_[slot].defined() ? constants_[slot] : values[slot];
    if (!v.defined()) return internal_error("output '" + names[i] + "' was not computed");
    result[names[i]] = v;
  }
  if (stats) {
    stats->peak_activation_bytes = ledger.peak;
    stats->total_allocated_bytes = ledger.total;
    stats->milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  return result;
}

}  // namespace wq
