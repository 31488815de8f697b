// Embind surface of webquant. This is the only file that knows about Embind.
//
// Nothing here throws across the boundary: every fallible call returns either
// {value} or {error: {code, message}}; the JS façade (bindings/js/index.js)
// turns the latter into a WebquantError. Bulk data
// crosses once per tensor: inputs are copied from a Uint8Array view straight
// into a core buffer, outputs are copied out with one TypedArray.slice().
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <chrono>
#include <exception>
#include <new>
#include <stdexcept>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/webquant.h"

namespace wq {
namespace {

using emscripten::val;

val error_value(const Status& s) {
  val e = val::object();
  e.set("code", std::string(status_code_name(s.code())));
  e.set("message", s.message());
  return e;
}

// Every fallible entry point returns one of two shapes: {value} on success
// (value null when there is nothing to return), {error: {code, message}} on
// failure. The JS façade's unwrap() turns the second into a WebquantError.
val error_result(const Status& s) {
  val r = val::object();
  r.set("error", error_value(s));
  return r;
}

val ok_result() {
  val r = val::object();
  r.set("value", val::null());
  return r;
}

// The boundary guard. The core returns errors as values, but a standard
// container that cannot grow throws std::bad_alloc (built with
// -fwasm-exceptions, so it unwinds instead of aborting): every entry point
// below runs inside guarded_call, which turns that into OUT_OF_MEMORY and
// anything else into INTERNAL, so the module stays usable.
template <typename F>
val guarded_call(F&& f) {
  Status failure;
  try {
    return f();
  } catch (const std::length_error&) {
    failure = out_of_memory("out of memory: a buffer would exceed the largest possible allocation");
  } catch (const std::bad_alloc&) {
    failure = out_of_memory("out of memory: the WASM heap could not grow for this call");
  } catch (const std::exception& e) {
    failure = internal_error(std::string("unexpected C++ exception: ") + e.what());
  }
  return error_result(failure);
}

template <typename M, M method>
struct Guard;
template <typename C, typename... A, val (C::*method)(A...)>
struct Guard<val (C::*)(A...), method> {
  static val call(C& self, A... args) {
    return guarded_call([&]() { return (self.*method)(args...); });
  }
};
template <typename C, typename... A, val (C::*method)(A...) const>
struct Guard<val (C::*)(A...) const, method> {
  static val call(const C& self, A... args) {
    return guarded_call([&]() { return (self.*method)(args...); });
  }
};
template <typename... A, val (*fn)(A...)>
struct Guard<val (*)(A...), fn> {
  static val call(A... args) {
    return guarded_call([&]() { return fn(args...); });
  }
};
#define WQ_GUARD(m) &::wq::Guard<decltype(m), m>::call

val shape_value(const std::vector<Dim>& dims) {
  val a = val::array();
  for (const Dim& d : dims) {
    if (d.value >= 0) a.call<void>("push", static_cast<double>(d.value));
    else if (!d.param.empty()) a.call<void>("push", d.param);
    else a.call<void>("push", val::null());
  }
  return a;
}

val value_summary(const ValueSummary& v) {
  val o = val::object();
  o.set("name", v.name);
  o.set("dtype", std::string(dtype_name(v.dtype)));
  o.set("shape", v.has_shape ? shape_value(v.shape) : val::null());
  return o;
}

val pairs_object(const std::vector<std::pair<std::string, int64_t>>& pairs) {
  val o = val::object();
  for (const auto& p : pairs) o.set(p.first, static_cast<double>(p.second));
  return o;
}

// Typed array constructor name for a dtype whose elements JS can hold.
const char* typed_array_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "Float32Array";
    case DType::kFloat64: return "Float64Array";
    case DType::kUInt8: case DType::kBool: return "Uint8Array";
    case DType::kInt8: return "Int8Array";
    case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16: return "Uint16Array";
    case DType::kInt16: return "Int16Array";
    case DType::kInt32: return "Int32Array";
    case DType::kUInt32: return "Uint32Array";
    case DType::kInt64: return "BigInt64Array";
    case DType::kUInt64: return "BigUint64Array";
    default: return nullptr;
  }
}

// Copies a core tensor into a fresh JS typed array (one bulk copy).
Result<val> tensor_to_js(const std::string& name, const Tensor& t) {
  const char* ctor = typed_array_name(t.dtype());
  if (!ctor)
    return unsupported("output '" + name + "' has type " + dtype_name(t.dtype()) +
                       ", which has no JavaScript typed array");
  val bytes = val(emscripten::typed_memory_view(t.nbytes(), static_cast<const uint8_t*>(t.raw())));
  val copy = bytes.call<val>("slice");  // owns its ArrayBuffer, independent of the WASM heap
  val arr = val::global(ctor).new_(copy["buffer"]);
  val o = val::object();
  o.set("name", name);
  o.set("dtype", std::string(dtype_name(t.dtype())));
  val shape = val::array();
  for (int64_t d : t.shape()) shape.call<void>("push", static_cast<double>(d));
  o.set("shape", shape);
  o.set("data", arr);
  return o;
}

// feed: {name, dtype: number (ONNX enum), shape: number[], bytes: Uint8Array}
Result<Tensor> tensor_from_js(const val& feed) {
  const std::string name = feed["name"].as<std::string>();
  const int dtype_value = feed["dtype"].as<int>();
  if (!dtype_is_known(dtype_value)) return invalid_argument("input '" + name + "': unknown dtype " +
                                                            std::to_string(dtype_value));
  const DType dtype = static_cast<DType>(dtype_value);
  Shape shape;
  const val js_shape = feed["shape"];
  const size_t rank = js_shape["length"].as<size_t>();
  for (size_t i = 0; i < rank; ++i) {
    const double d = js_shape[i].as<double>();
    // Range first: casting a double beyond int64 to an integer is undefined.
    if (!(d >= 0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<int64_t>(d)))
      return invalid_argument("input '" + name + "': shape dim " + std::to_string(i) +
                              " must be an integer in [0, 2^53]");
    shape.push_back(static_cast<int64_t>(d));
  }
  // The data length is checked against the shape (in 64 bits) before anything
  // is allocated, so a shape that disagrees with its buffer is named as such.
  const val bytes = feed["bytes"];
  const double n = bytes["length"].as<double>();
  const int64_t numel = shape_numel(shape);
  const uint64_t need = numel < 0 ? UINT64_MAX : dtype_storage_bytes(dtype, numel);
  if (numel < 0 || static_cast<double>(need) != n)
    return invalid_argument("input '" + name + "': data holds " + std::to_string(static_cast<uint64_t>(n)) +
                            " bytes but shape " + shape_to_string(shape) + " of " + dtype_name(dtype) + " needs " +
                            (numel < 0 ? std::string("more than 2^63 elements") : std::to_string(need)));
  WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  if (need) val(emscripten::typed_memory_view(t.nbytes(), static_cast<uint8_t*>(t.mutable_raw()))).call<void>("set", bytes);
  return t;
}

class WasmModel {
 public:
  // Returns null on success, an error object otherwise. A failed load leaves
  // the handle empty (a previous model, if any, is dropped first).
  //
  // The model is loaded run-only (core/model.h): the heap keeps the packed
  // weights, not the bytes nor the graph. A copy of the bytes stays in
  // JavaScript memory, outside the heap, for save(), quantize() and
  // compare(), which parse it again (copy_graph()) for as long as they run.
  // memory_limit: LoadOptions::memory_limit_bytes (bytes; 0 = no cap), checked by the façade.
  val load(const val& bytes_u8, double memory_limit) {
    model_.reset();
    graph_.reset();
    const size_t n = bytes_u8["length"].as<size_t>();
    std::vector<uint8_t> bytes(n);
    if (n) val(emscripten::typed_memory_view(n, bytes.data())).call<void>("set", bytes_u8);
    LoadOptions options;
    if (!(memory_limit >= 0 && memory_limit <= 9007199254740992.0))
      return error_result(invalid_argument("memoryLimitBytes must be a non-negative number of bytes"));
    options.memory_limit_bytes = static_cast<uint64_t>(memory_limit);
    const val original = bytes_u8.call<val>("slice");  // ours: the caller may change theirs
    options.original_bytes = [original]() -> Result<std::vector<uint8_t>> {
      const size_t size = original["length"].as<size_t>();
      std::vector<uint8_t> copy(size);
      if (size) val(emscripten::typed_memory_view(size, copy.data())).call<void>("set", original);
      return copy;
    };
    auto loaded = Model::load(std::move(bytes), std::move(options));
    if (!loaded.ok()) return error_result(loaded.status());
    model_ = std::move(loaded).value();
    return ok_result();
  }

  bool loaded() const { return model_ != nullptr; }

  val summary() const {
    if (!model_) return error_result(not_loaded());
    const ModelSummary& s = model_->summary();
    val o = val::object();
    o.set("irVersion", static_cast<double>(s.ir_version));
    o.set("producerName", s.producer_name);
    o.set("producerVersion", s.producer_version);
    o.set("domain", s.domain);
    o.set("modelVersion", static_cast<double>(s.model_version));
    o.set("docString", s.doc_string);
    o.set("opsets", pairs_object(s.opsets));
    val ins = val::array(), outs = val::array();
    for (const auto& v : s.inputs) ins.call<void>("push", value_summary(v));
    for (const auto& v : s.outputs) outs.call<void>("push", value_summary(v));
    o.set("inputs", ins);
    o.set("outputs", outs);
    val ops = val::array();
    for (const auto& p : s.op_counts) {
      val e = val::object();
      e.set("opType", p.first);
      e.set("count", static_cast<double>(p.second));
      ops.call<void>("push", e);
    }
    o.set("opCounts", ops);
    o.set("numNodes", static_cast<double>(s.num_nodes));
    o.set("numInitializers", static_cast<double>(s.num_initializers));
    o.set("numParameters", static_cast<double>(s.num_parameters));
    o.set("parameterBytes", static_cast<double>(s.parameter_bytes));
    o.set("modelBytes", static_cast<double>(s.model_bytes));
    val meta = val::object();
    for (const auto& kv : s.metadata) meta.set(kv.first, kv.second);
    o.set("metadata", meta);
    val r = val::object();
    r.set("value", o);
    return r;
  }

  // feeds: array of {name, dtype, shape, bytes}; output_names: array of
  // strings (empty = the graph outputs). Returns {value: [outputs...], stats}
  // or {error}.
  val run(const val& feeds, const val& output_names) {
    if (!model_) return error_result(not_loaded());
    std::map<std::string, Tensor> inputs;
    const size_t nf = feeds["length"].as<size_t>();
    for (size_t i = 0; i < nf; ++i) {
      auto t = tensor_from_js(feeds[i]);
      if (!t.ok()) return error_result(t.status());
      inputs.emplace(feeds[i]["name"].as<std::string>(), std::move(t).value());
    }
    std::vector<std::string> names;
    const size_t nn = output_names["length"].as<size_t>();
    for (size_t i = 0; i < nn; ++i) names.push_back(output_names[i].as<std::string>());

    auto outputs = names.empty() ? model_->run(inputs) : model_->run(inputs, names);
    inputs.clear();
    if (!outputs.ok()) return error_result(outputs.status());
    val arr = val::array();
    std::vector<std::string> order = names;
    if (order.empty())
      for (const auto& v : model_->outputs()) order.push_back(v.name);
    for (const std::string& name : order) {
      auto it = outputs.value().find(name);
      if (it == outputs.value().end()) return error_result(internal_error("output '" + name + "' missing"));
      auto js = tensor_to_js(name, it->second);
      if (!js.ok()) return error_result(js.status());
      arr.call<void>("push", js.value());
    }
    const RunStats& st = model_->last_run_stats();
    val stats = val::object();
    stats.set("milliseconds", st.milliseconds);
    stats.set("peakActivationBytes", static_cast<double>(st.peak_activation_bytes));
    stats.set("totalAllocatedBytes", static_cast<double>(st.total_allocated_bytes));
    val r = val::object();
    r.set("value", arr);
    r.set("stats", stats);
    return r;
  }

  val save() const {
    if (!model_) return error_result(not_loaded());
    auto bytes = model_->save();
    if (!bytes.ok()) return error_result(bytes.status());
    val r = val::object();
    r.set("value", val(emscripten::typed_memory_view(bytes->size(), bytes->data())).call<val>("slice"));
    return r;
  }

  void dispose() {
    model_.reset();
    graph_.reset();
  }
  const Model* model() const { return model_.get(); }

  // The user's graph, for passes (quantize, compare), parsed again from the
  // bytes kept in JavaScript. Shared while a pass holds it, so quantize() and
  // the comparison in its report parse the float model once.
  Result<std::shared_ptr<const Graph>> graph() const {
    if (!model_) return not_loaded();
    if (std::shared_ptr<const Graph> g = graph_.lock()) return g;
    Result<Graph> g = model_->copy_graph();
    if (!g.ok()) return g.status();
    auto shared = std::make_shared<const Graph>(std::move(g).value());
    graph_ = shared;
    return shared;
  }

 private:
  static Status not_loaded() { return invalid_argument("no model is loaded in this handle"); }
  std::unique_ptr<Model> model_;
  mutable std::weak_ptr<const Graph> graph_;
};

// feeds: array of {name, dtype, shape, bytes} -> named core tensors.
Result<std::map<std::string, Tensor>> feeds_from_js(const val& feeds) {
  std::map<std::string, Tensor> inputs;
  const size_t nf = feeds["length"].as<size_t>();
  for (size_t i = 0; i < nf; ++i) {
    WQ_ASSIGN_OR_RETURN(Tensor t, tensor_from_js(feeds[i]));
    inputs.emplace(feeds[i]["name"].as<std::string>(), std::move(t));
  }
  return inputs;
}

val bytes_value(const std::vector<uint8_t>& bytes) {
  return val(emscripten::typed_memory_view(bytes.size(), bytes.data())).call<val>("slice");
}

// {bytes, report} of a quantized or trained model, or {error}.
val model_result(const Result<QuantizedModel>& out) {
  if (!out.ok()) return error_result(out.status());
  val r = val::object();
  r.set("bytes", bytes_value(out->bytes));
  r.set("report", out->report.dump());
  return r;
}

// Quantizer handle: create -> calibrate* -> finish. Every call returns null /
// a value object, or {error}.
class WasmQuantizer {
 public:
  val create(const WasmModel& model, const std::string& recipe_json) {
    quantizer_.reset();
    if (!model.model()) return error_result(invalid_argument("quantize: the model handle is empty (disposed?)"));
    auto recipe = parse_recipe(recipe_json);
    if (!recipe.ok()) return error_result(recipe.status());
    auto graph = model.graph();
    if (!graph.ok()) return error_result(graph.status());
    auto q = Quantizer::create(**graph, *recipe);
    if (!q.ok()) return error_result(q.status());
    quantizer_ = std::move(q).value();
    graph_ = std::move(graph).value();
    return ok_result();
  }
  std::string recipe() const { return quantizer_ ? recipe_to_json(quantizer_->recipe()).dump() : std::string(); }
  bool needs_calibration() const { return quantizer_ && quantizer_->needs_calibration(); }
  double samples_seen() const { return quantizer_ ? double(quantizer_->samples_seen()) : 0.0; }
  val calibrate(const val& feeds) {
    if (!quantizer_) return error_result(not_created());
    auto inputs = feeds_from_js(feeds);
    if (!inputs.ok()) return error_result(inputs.status().with_context("calibration sample " +
                                                                      std::to_string(quantizer_->samples_seen()) + ": "));
    Status st = quantizer_->calibrate(*inputs);
    return st.ok() ? ok_result() : error_result(st);
  }
  val set_activation_range(const std::string& name, double min, double max) {
    if (!quantizer_) return error_result(not_created());
    Status st = quantizer_->set_activation_range(name, float(min), float(max));
    return st.ok() ? ok_result() : error_result(st);
  }
  val finish() {
    if (!quantizer_) return error_result(not_created());
    return model_result(quantizer_->finish());
  }
  void dispose() {
    quantizer_.reset();
    graph_.reset();
  }

 private:
  static Status not_created() { return failed_precondition("the quantizer was not created (create() failed?)"); }
  std::unique_ptr<Quantizer> quantizer_;
  std::shared_ptr<const Graph> graph_;  // the float graph, shared with compare() while quantizing
};

class WasmComparator {
 public:
  val create(const WasmModel& float_model, const WasmModel& quant_model, bool per_node) {
    comparator_.reset();
    graphs_[0].reset();
    graphs_[1].reset();
    if (!float_model.model() || !quant_model.model())
      return error_result(invalid_argument("compare: a model handle is empty (disposed?)"));
    CompareOptions options;
    options.per_node = per_node;
    auto float_graph = float_model.graph();
    if (!float_graph.ok()) return error_result(float_graph.status());
    auto quant_graph = quant_model.graph();
    if (!quant_graph.ok()) return error_result(quant_graph.status());
    auto c = Comparator::create(**float_graph, **quant_graph, options);
    if (!c.ok()) return error_result(c.status());
    comparator_ = std::move(c).value();
    graphs_[0] = std::move(float_graph).value();
    graphs_[1] = std::move(quant_graph).value();
    return ok_result();
  }
  // labels: null or an array of integers (one per row of the first output).
  val add_sample(const val& feeds, const val& labels) {
    if (!comparator_) return error_result(failed_precondition("the comparator was not created"));
    auto inputs = feeds_from_js(feeds);
    if (!inputs.ok())
      return error_result(inputs.status().with_context("sample " + std::to_string(comparator_->samples()) + ": "));
    std::vector<int64_t> l;
    const bool has_labels = !labels.isNull() && !labels.isUndefined();
    if (has_labels) {
      const size_t n = labels["length"].as<size_t>();
      for (size_t i = 0; i < n; ++i) {
        const double v = labels[i].as<double>();
        if (!(v >= 0 && v <= 2147483647.0) || v != static_cast<double>(static_cast<int64_t>(v)))
          return error_result(invalid_argument("sample " + std::to_string(comparator_->samples()) + ": label " +
                                              std::to_string(i) + " must be a class index (an integer >= 0), got " +
                                              val(v).call<std::string>("toString")));
        l.push_back(static_cast<int64_t>(v));
      }
    }
    Status st = comparator_->add_sample(*inputs, has_labels ? &l : nullptr);
    return st.ok() ? ok_result() : error_result(st);
  }
  std::string report() const { return comparator_ ? comparator_->report().dump() : std::string("{}"); }
  void dispose() {
    comparator_.reset();
    graphs_[0].reset();
    graphs_[1].reset();
  }

 private:
  std::unique_ptr<Comparator> comparator_;
  std::shared_ptr<const Graph> graphs_[2];  // kept while comparing, so a concurrent pass can share them
};

// Fine-tuning handle: create -> calibrate* -> step* / evaluate* -> finish.
// quantization_aware: the recipe's static quantization with fake quantization
// in the loop; otherwise plain float training by recipe.training.
class WasmFineTuner {
 public:
  val create(const WasmModel& model, const std::string& recipe_json, bool quantization_aware) {
    tuner_.reset();
    if (!model.model()) return error_result(invalid_argument("finetune: the model handle is empty (disposed?)"));
    auto recipe = parse_recipe(recipe_json);
    if (!recipe.ok()) return error_result(recipe.status());
    auto graph = model.graph();
    if (!graph.ok()) return error_result(graph.status());
    auto t = quantization_aware ? FineTuner::create(**graph, *recipe) : FineTuner::create_float(**graph, recipe->training);
    if (!t.ok()) return error_result(t.status());
    tuner_ = std::move(t).value();
    recipe_ = recipe_to_json(*recipe).dump();
    graph_ = std::move(graph).value();
    return ok_result();
  }
  std::string recipe() const { return recipe_; }
  std::string output() const { return tuner_ ? tuner_->output() : std::string(); }
  val calibrate(const val& feeds) {
    if (!tuner_) return error_result(not_created());
    const std::string where = "calibration sample " + std::to_string(tuner_->calibration_samples()) + ": ";
    auto inputs = feeds_from_js(feeds);
    if (!inputs.ok()) return error_result(inputs.status().with_context(where));
    Status st = tuner_->calibrate(*inputs);
    return st.ok() ? ok_result() : error_result(st);
  }
  val set_total_steps(double steps) {
    if (!tuner_) return error_result(not_created());
    Status st = tuner_->set_total_steps(int64_t(steps));
    return st.ok() ? ok_result() : error_result(st);
  }
  val begin(bool with_labels) {
    if (!tuner_) return error_result(not_created());
    Status st = tuner_->begin(with_labels);
    return st.ok() ? ok_result() : error_result(st);
  }
  // labels: null, or a tensor {name, dtype, shape, bytes} (class indices or targets).
  val step(const val& feeds, const val& labels) { return run(feeds, labels, false); }
  val evaluate(const val& feeds, const val& labels) { return run(feeds, labels, true); }
  val finish() {
    if (!tuner_) return error_result(not_created());
    return model_result(tuner_->finish());
  }
  void dispose() {
    tuner_.reset();
    graph_.reset();
  }

 private:
  static Status not_created() { return failed_precondition("the fine-tuner was not created (create() failed?)"); }
  val run(const val& feeds, const val& labels, bool eval) {
    if (!tuner_) return error_result(not_created());
    const std::string where = eval ? "evaluation batch: " : "batch " + std::to_string(tuner_->steps()) + ": ";
    auto inputs = feeds_from_js(feeds);
    if (!inputs.ok()) return error_result(inputs.status().with_context(where));
    Tensor target;
    const bool has_labels = !labels.isNull() && !labels.isUndefined();
    if (has_labels) {
      auto t = tensor_from_js(labels);
      if (!t.ok()) return error_result(t.status().with_context(where));
      target = std::move(t).value();
    }
    auto r = eval ? tuner_->evaluate(*inputs, has_labels ? &target : nullptr)
                  : tuner_->step(*inputs, has_labels ? &target : nullptr);
    if (!r.ok()) return error_result(r.status());
    val o = val::object();
    o.set("step", double(r->step));
    o.set("loss", r->loss);
    o.set("samples", double(r->samples));
    o.set("correct", double(r->correct));
    o.set("learningRate", r->learning_rate);
    val out = val::object();
    out.set("value", o);
    return out;
  }
  std::unique_ptr<FineTuner> tuner_;
  std::string recipe_;
  std::shared_ptr<const Graph> graph_;
};

// The recipe with every default filled in, or {error} naming the field.
val normalize_recipe(const std::string& recipe_json) {
  auto recipe = parse_recipe(recipe_json);
  if (!recipe.ok()) return error_result(recipe.status());
  val r = val::object();
  r.set("value", recipe_to_json(*recipe).dump());
  return r;
}

val supported_ops() {
  val a = val::array();
  for (const std::string& n : supported_op_names()) a.call<void>("push", n);
  return a;
}

// Bytes currently reserved by the WASM heap (grows, never shrinks).
double heap_size() { return static_cast<double>(__builtin_wasm_memory_size(0)) * 65536.0; }

}  // namespace
}  // namespace wq

EMSCRIPTEN_BINDINGS(webquant) {
  emscripten::class_<wq::WasmModel>("WasmModel")
      .constructor<>()
      .function("load", WQ_GUARD(&wq::WasmModel::load))
      .function("loaded", &wq::WasmModel::loaded)
      .function("summary", WQ_GUARD(&wq::WasmModel::summary))
      .function("run", WQ_GUARD(&wq::WasmModel::run))
      .function("save", WQ_GUARD(&wq::WasmModel::save))
      .function("dispose", &wq::WasmModel::dispose);
  emscripten::class_<wq::WasmQuantizer>("WasmQuantizer")
      .constructor<>()
      .function("create", WQ_GUARD(&wq::WasmQuantizer::create))
      .function("recipe", &wq::WasmQuantizer::recipe)
      .function("needsCalibration", &wq::WasmQuantizer::needs_calibration)
      .function("samplesSeen", &wq::WasmQuantizer::samples_seen)
      .function("calibrate", WQ_GUARD(&wq::WasmQuantizer::calibrate))
      .function("setActivationRange", WQ_GUARD(&wq::WasmQuantizer::set_activation_range))
      .function("finish", WQ_GUARD(&wq::WasmQuantizer::finish))
      .function("dispose", &wq::WasmQuantizer::dispose);
  emscripten::class_<wq::WasmComparator>("WasmComparator")
      .constructor<>()
      .function("create", WQ_GUARD(&wq::WasmComparator::create))
      .function("addSample", WQ_GUARD(&wq::WasmComparator::add_sample))
      .function("report", &wq::WasmComparator::report)
      .function("dispose", &wq::WasmComparator::dispose);
  emscripten::class_<wq::WasmFineTuner>("WasmFineTuner")
      .constructor<>()
      .function("create", WQ_GUARD(&wq::WasmFineTuner::create))
      .function("recipe", &wq::WasmFineTuner::recipe)
      .function("output", &wq::WasmFineTuner::output)
      .function("calibrate", WQ_GUARD(&wq::WasmFineTuner::calibrate))
      .function("setTotalSteps", WQ_GUARD(&wq::WasmFineTuner::set_total_steps))
      .function("begin", WQ_GUARD(&wq::WasmFineTuner::begin))
      .function("step", WQ_GUARD(&wq::WasmFineTuner::step))
      .function("evaluate", WQ_GUARD(&wq::WasmFineTuner::evaluate))
      .function("finish", WQ_GUARD(&wq::WasmFineTuner::finish))
      .function("dispose", &wq::WasmFineTuner::dispose);
  emscripten::function("normalizeRecipe", WQ_GUARD(&wq::normalize_recipe));
  emscripten::function("supportedOps", &wq::supported_ops);
  emscripten::function("heapSize", &wq::heap_size);
}
