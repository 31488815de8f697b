// wq::Model — the public C++ entry point for a loaded ONNX model.
//
// Owns the model bytes (weights view into them; load() moves misaligned
// payloads in place so that they can), the parsed ONNX model, the graph IR,
// and the execution plan (built at load, so unsupported operators are
// reported before the first run). The plan holds each weight once: fast
// kernels pack their weights and the plan lets go of the originals.
//
// Run-only loading (LoadOptions::original_bytes) goes further: once the plan
// is built, the model drops its bytes, parsed model and graph too, so between
// runs it holds little more than the packed weights. The original bytes stay
// with the caller (the WASM binding keeps them in JavaScript memory, outside
// the heap) and are parsed again when graph(), proto(), copy_graph() or save()
// need them.
// Part of the public C++ API (core/webquant.h includes it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/value_summary.h"  // Dim, ValueSummary
#include "core/runtime/run_stats.h"    // RunStats
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

namespace onnx { struct ModelProto; }
class Graph;
class Session;

struct ModelSummary {
  int64_t ir_version = 0;
  std::string producer_name, producer_version, domain, doc_string;
  int64_t model_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;  // (domain, version); "" = ai.onnx
  std::vector<ValueSummary> inputs, outputs;             // graph inputs exclude initializers
  std::vector<std::pair<std::string, int64_t>> op_counts;  // (op_type, count), most frequent first
  int64_t num_nodes = 0;
  int64_t num_initializers = 0;
  int64_t num_parameters = 0;   // elements in all initializers
  int64_t parameter_bytes = 0;  // bytes of all initializers
  int64_t model_bytes = 0;      // size of the loaded file
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props
};

struct LoadOptions {
  // When set, the model is run-only: load() frees its own copy of the bytes,
  // the parsed model and the graph once the plan is built, and calls this to
  // get the same bytes back whenever the graph is needed again. It must
  // return exactly the bytes given to load().
  std::function<Result<std::vector<uint8_t>>()> original_bytes;
  // Cap on what loading (load-time constant folding, planning) and then each
  // run may hold in tensors at once; over it the step that asked fails with
  // kOutOfMemory naming the node and the limit. 0 = no cap.
  uint64_t memory_limit_bytes = kDefaultMemoryLimitBytes;
};

// Every operator the runtime implements, as "domain:op_type" (domain empty
// for ONNX's own), for listing what a model may use.
std::vector<std::string> supported_op_names();

class Model {
 public:
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Parses and validates. Errors: kInvalidModel (malformed bytes, naming the
  // byte offset or field), kUnsupported (lists every node whose op/opset we do
  // not implement, by node name, in one message). Never aborts on bad bytes.
  static Result<std::unique_ptr<Model>> load(std::vector<uint8_t> bytes);
  static Result<std::unique_ptr<Model>> load(std::vector<uint8_t> bytes, LoadOptions options);

  const ModelSummary& summary() const { return summary_; }
  const std::vector<ValueSummary>& inputs() const { return summary_.inputs; }
  const std::vector<ValueSummary>& outputs() const { return summary_.outputs; }

  // Runs the graph in float on `feeds` (every graph input by name). Errors
  // name the input (unknown name, wrong dtype, wrong rank, mismatched fixed
  // or symbolic dim) or the failing node. Returns every graph output.
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& feeds);
  // Same, but returns the named outputs; names may be any value in the graph
  // (intermediate activations too), which the quantizer uses.
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& feeds,
                                            const std::vector<std::string>& output_names);
  const RunStats& last_run_stats() const { return stats_; }

  // Serializes the current graph to ONNX protobuf bytes. A run-only model
  // parses its original bytes again for this and keeps nothing of it.
  Result<std::vector<uint8_t>> save() const;

  // The user's graph (not the optimized one the plan runs). A run-only model
  // parses it again on first use and keeps it from then on; if that fails
  // (the bytes source failed, or memory ran out) these return an empty
  // ModelProto / Graph. Passes that only need the graph for a while should
  // prefer copy_graph(), which reports errors and keeps nothing.
  const onnx::ModelProto& proto() const;
  const Graph& graph() const;
  // A graph the caller owns: a copy of graph() (initializers share storage),
  // or for a run-only model one parsed again from the original bytes, whose
  // storage lives as long as the copy.
  Result<Graph> copy_graph() const;
  // False for a run-only model until graph() or proto() brought the graph back.
  bool holds_graph() const { return graph_ != nullptr; }
  // Whether the bytes given to load() are still in memory: always for a
  // model that keeps its graph; for a run-only model only while some
  // constant still views them (see LoadOptions).
  bool holds_model_bytes() const { return !loaded_bytes_.expired(); }

 private:
  Model();
  Status restore_graph() const;  // run-only models: parse the original bytes again

  std::shared_ptr<const std::vector<uint8_t>> bytes_;
  std::weak_ptr<const std::vector<uint8_t>> loaded_bytes_;
  // Mutable so that a run-only model can bring its graph back on demand.
  mutable std::unique_ptr<onnx::ModelProto> proto_;
  mutable std::unique_ptr<Graph> graph_;
  std::unique_ptr<Session> session_;
  std::function<Result<std::vector<uint8_t>>()> original_bytes_;  // run-only models
  ModelSummary summary_;
  RunStats stats_;
  uint64_t memory_limit_bytes_ = kDefaultMemoryLimitBytes;
};

}  // namespace wq
