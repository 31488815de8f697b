// wq::Model — the public C++ entry point for a loaded ONNX model.
//
// Owns the model bytes (initializers view into them where alignment allows),
// the parsed ONNX model, the graph IR, and the execution plan (built at load,
// so unsupported operators are reported before the first run).
// Bindings use only this header, core/status.h and core/tensor.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace wq {

namespace onnx { struct ModelProto; }
class Graph;
class Session;

// One dimension of a declared shape: a fixed size, a symbolic name, or unknown.
struct Dim {
  int64_t value = -1;   // >= 0 when fixed
  std::string param;    // symbolic name ("batch") when value < 0; empty = unknown
};

struct ValueSummary {
  std::string name;
  DType dtype = DType::kUndefined;
  bool has_shape = false;  // false when the model declares no shape at all
  std::vector<Dim> shape;
};

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

// Statistics from the last run, for memory and speed reporting.
struct RunStats {
  int64_t peak_activation_bytes = 0;  // max bytes of live intermediate tensors during the run
  int64_t total_allocated_bytes = 0;  // sum of all intermediate allocations
  double milliseconds = 0;
};

class Model {
 public:
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Parses and validates. Errors: kInvalidModel (malformed bytes, naming the
  // byte offset or field), kUnsupported (lists every node whose op/opset we do
  // not implement, by node name, in one message). Never aborts on bad bytes.
  static Result<std::unique_ptr<Model>> load(std::vector<uint8_t> bytes);

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

  // Serializes the current graph to ONNX protobuf bytes.
  Result<std::vector<uint8_t>> save() const;

  const onnx::ModelProto& proto() const { return *proto_; }
  const Graph& graph() const { return *graph_; }

 private:
  Model();
  std::shared_ptr<const std::vector<uint8_t>> bytes_;
  std::unique_ptr<onnx::ModelProto> proto_;
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<Session> session_;
  ModelSummary summary_;
  RunStats stats_;
};

}  // namespace wq
