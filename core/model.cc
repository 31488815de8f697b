#include "core/model.h"

#include <algorithm>

#include "core/graph/graph.h"
#include "core/onnx/onnx_proto.h"
#include "core/runtime/optimize.h"
#include "core/runtime/session.h"

namespace wq {

Model::Model() = default;
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(std::vector<uint8_t> bytes) {
  if (bytes.empty()) return invalid_model("the model is empty (0 bytes)");
  std::unique_ptr<Model> m(new Model());
  // The shared buffer owns the bytes; raw_data and initializers view into it.
  m->bytes_ = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  const std::vector<uint8_t>& b = *m->bytes_;
  WQ_ASSIGN_OR_RETURN(onnx::ModelProto proto, onnx::parse_model(b.data(), b.size(), m->bytes_));
  m->proto_ = std::make_unique<onnx::ModelProto>(std::move(proto));
  WQ_ASSIGN_OR_RETURN(Graph graph, Graph::from_proto(*m->proto_));
  m->graph_ = std::make_unique<Graph>(std::move(graph));
  // The plan runs an optimized copy (quantized patterns fused onto the int8
  // kernels, constants folded); graph_ stays the user's graph, which save()
  // writes. Building the plan here reports unsupported ops at load time.
  // An optimizer failure is a bug of ours, never a reason to refuse a model:
  // the graph as written still runs.
  Graph runtime = *m->graph_;
  const bool optimized = optimize_for_runtime(&runtime).ok();
  WQ_ASSIGN_OR_RETURN(m->session_, Session::create(optimized ? runtime : *m->graph_, runtime_ops()));

  ModelSummary& s = m->summary_;
  const onnx::ModelProto& p = *m->proto_;
  s.ir_version = p.ir_version;
  s.producer_name = p.producer_name;
  s.producer_version = p.producer_version;
  s.domain = p.domain;
  s.doc_string = p.doc_string;
  s.model_version = p.model_version;
  for (const auto& kv : m->graph_->opset_imports()) s.opsets.emplace_back(kv.first, kv.second);
  s.inputs = m->graph_->inputs();
  s.outputs = m->graph_->outputs();
  s.op_counts = m->graph_->op_counts();
  s.num_nodes = static_cast<int64_t>(m->graph_->nodes().size());
  s.num_initializers = static_cast<int64_t>(m->graph_->initializers().size());
  s.num_parameters = m->graph_->num_parameters();
  s.parameter_bytes = m->graph_->parameter_bytes();
  s.model_bytes = static_cast<int64_t>(b.size());
  for (const auto& e : p.metadata_props) s.metadata.emplace_back(e.key, e.value);
  return m;
}

Result<std::map<std::string, Tensor>> Model::run(const std::map<std::string, Tensor>& feeds) {
  return run(feeds, {});
}

Result<std::map<std::string, Tensor>> Model::run(const std::map<std::string, Tensor>& feeds,
                                                 const std::vector<std::string>& output_names) {
  RunStats stats;
  Result<std::map<std::string, Tensor>> out = session_->run(feeds, output_names, RunOptions(), &stats);
  if (out.ok()) stats_ = stats;
  return out;
}

Result<std::vector<uint8_t>> Model::save() const {
  return onnx::serialize_model(graph_->to_proto());
}

}  // namespace wq
