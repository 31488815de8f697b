#include "core/model.h"

#include <algorithm>

#include "core/graph/graph.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/runtime/optimize.h"
#include "core/runtime/session.h"

namespace wq {

namespace {

// A run-only model copies the constants its kernels did not pack (shapes,
// scales, embedding tables, weights of ops without a fast kernel) so that the
// model bytes can go, when that frees at least half of them. Otherwise (the
// int8 weights of a quantized model, which the int8 kernels do not release)
// the constants keep viewing the bytes, which then stay: the copy would cost
// more while loading than it saves afterwards.
constexpr int64_t kOwnConstantsFraction = 2;

struct Parsed {
  std::shared_ptr<const std::vector<uint8_t>> bytes;  // raw_data views into these
  onnx::ModelProto proto;
};

// The shared buffer owns the bytes; raw_data views into it. Payloads are
// realigned in place first, so that weights can view the bytes instead of
// being copied.
Result<Parsed> parse(std::vector<uint8_t> bytes) {
  auto buffer = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  WQ_ASSIGN_OR_RETURN(onnx::ModelProto proto, onnx::parse_model(buffer->data(), buffer->size(), buffer));
  align_raw_data(&proto, buffer->data(), buffer->size());
  return Parsed{std::move(buffer), std::move(proto)};
}

Result<Parsed> reparse(const std::function<Result<std::vector<uint8_t>>()>& original_bytes) {
  if (!original_bytes) return internal_error("the model keeps no graph and has no source for its bytes");
  Result<std::vector<uint8_t>> bytes = original_bytes();
  if (!bytes.ok()) return bytes.status().with_context("reading the original model bytes again: ");
  Result<Parsed> parsed = parse(std::move(bytes).value());
  if (!parsed.ok()) return parsed.status().with_context("parsing the original model bytes again: ");
  return parsed;
}

}  // namespace

std::vector<std::string> supported_op_names() { return builtin_ops().op_names(); }

Model::Model() = default;
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(std::vector<uint8_t> bytes) { return load(std::move(bytes), {}); }

Result<std::unique_ptr<Model>> Model::load(std::vector<uint8_t> bytes, LoadOptions options) {
  if (bytes.empty()) return invalid_model("the model is empty (0 bytes)");
  const int64_t model_bytes = static_cast<int64_t>(bytes.size());
  const bool run_only = static_cast<bool>(options.original_bytes);
  std::unique_ptr<Model> m(new Model());
  WQ_ASSIGN_OR_RETURN(Parsed parsed, parse(std::move(bytes)));
  m->loaded_bytes_ = parsed.bytes;
  WQ_ASSIGN_OR_RETURN(Graph graph, Graph::from_proto(parsed.proto));

  ModelSummary& s = m->summary_;
  const onnx::ModelProto& p = parsed.proto;
  s.ir_version = p.ir_version;
  s.producer_name = p.producer_name;
  s.producer_version = p.producer_version;
  s.domain = p.domain;
  s.doc_string = p.doc_string;
  s.model_version = p.model_version;
  for (const auto& kv : graph.opset_imports()) s.opsets.emplace_back(kv.first, kv.second);
  s.inputs = graph.inputs();
  s.outputs = graph.outputs();
  s.op_counts = graph.op_counts();
  s.num_nodes = static_cast<int64_t>(graph.nodes().size());
  s.num_initializers = static_cast<int64_t>(graph.initializers().size());
  s.num_parameters = graph.num_parameters();
  s.parameter_bytes = graph.parameter_bytes();
  s.model_bytes = model_bytes;
  for (const auto& e : p.metadata_props) s.metadata.emplace_back(e.key, e.value);

  // The plan runs an optimized graph (quantized patterns fused onto the int8
  // kernels, constants folded); the user's graph, which save() writes, stays
  // as it was. A run-only model needs the user's graph no more, so the
  // optimizer gets it instead of a copy. Building the plan here reports
  // unsupported ops at load time. An optimizer failure is a bug of ours,
  // never a reason to refuse a model: the graph as written still runs.
  m->memory_limit_bytes_ = options.memory_limit_bytes;
  MemoryLimitScope memory_limit(options.memory_limit_bytes,
                                "the model's memory limit (LoadOptions::memory_limit_bytes)");
  if (!run_only) m->graph_ = std::make_unique<Graph>(std::move(graph));
  Graph runtime = run_only ? std::move(graph) : *m->graph_;
  if (!optimize_for_runtime(&runtime).ok()) {
    if (run_only) {
      WQ_ASSIGN_OR_RETURN(runtime, Graph::from_proto(parsed.proto));
    } else {
      runtime = *m->graph_;
    }
  }
  WQ_ASSIGN_OR_RETURN(m->session_, Session::create(runtime, runtime_ops()));

  if (!run_only) {
    m->bytes_ = std::move(parsed.bytes);
    m->proto_ = std::make_unique<onnx::ModelProto>(std::move(parsed.proto));
    return m;
  }
  // Run-only: the packed weights replaced their originals in the plan; copy
  // the few constants that still view the bytes, and the bytes, the parsed
  // model and the runtime graph go when this returns. A failed copy only
  // keeps the bytes alive.
  m->original_bytes_ = std::move(options.original_bytes);
  if (m->session_->borrowed_constant_bytes() <= model_bytes / kOwnConstantsFraction)
    (void)m->session_->own_constants();
  return m;
}

Status Model::restore_graph() const {
  WQ_ASSIGN_OR_RETURN(Parsed parsed, reparse(original_bytes_));
  WQ_ASSIGN_OR_RETURN(Graph graph, Graph::from_proto(parsed.proto));
  proto_ = std::make_unique<onnx::ModelProto>(std::move(parsed.proto));
  graph_ = std::make_unique<Graph>(std::move(graph));
  return Status::Ok();
}

const onnx::ModelProto& Model::proto() const {
  static const onnx::ModelProto kEmpty;
  if (!proto_ && !restore_graph().ok()) return kEmpty;
  return *proto_;
}

const Graph& Model::graph() const {
  static const Graph kEmpty;
  if (!graph_ && !restore_graph().ok()) return kEmpty;
  return *graph_;
}

Result<Graph> Model::copy_graph() const {
  if (graph_) return *graph_;
  WQ_ASSIGN_OR_RETURN(Parsed parsed, reparse(original_bytes_));
  return Graph::from_proto(parsed.proto);
}

Result<std::map<std::string, Tensor>> Model::run(const std::map<std::string, Tensor>& feeds) {
  return run(feeds, {});
}

Result<std::map<std::string, Tensor>> Model::run(const std::map<std::string, Tensor>& feeds,
                                                 const std::vector<std::string>& output_names) {
  RunStats stats;
  RunOptions options;
  options.memory_limit_bytes = memory_limit_bytes_;
  Result<std::map<std::string, Tensor>> out = session_->run(feeds, output_names, options, &stats);
  if (out.ok()) stats_ = stats;
  return out;
}

Result<std::vector<uint8_t>> Model::save() const {
  if (graph_) return onnx::serialize_model(graph_->to_proto());
  // Run-only: parsed again for the occasion, nothing kept.
  WQ_ASSIGN_OR_RETURN(Parsed parsed, reparse(original_bytes_));
  WQ_ASSIGN_OR_RETURN(Graph graph, Graph::from_proto(parsed.proto));
  return onnx::serialize_model(graph.to_proto());
}

}  // namespace wq
