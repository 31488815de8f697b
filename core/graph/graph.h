// Graph: webquant's graph IR, the form every pass reads and writes.
//
// A Graph is built from an onnx::ModelProto and validated once: nodes are
// kept in topological order, every node input has exactly one producer (a
// graph input, an initializer or an earlier node), and every graph output is
// produced. Passes mutate it through the small API below and call
// validate_and_sort() to re-establish those invariants before the graph is
// planned or saved.
//
// Ownership: initializers are Tensors; those loaded from a model are read-only
// views on the model bytes (the Tensor keeps the bytes alive), so a Graph can
// outlive the ModelProto it came from. Everything of the original model that
// the IR does not model (metadata, functions, training_info, graph doc string,
// quantization annotations, ...) is kept verbatim and written back by
// to_proto(), so load -> save loses nothing ONNX defines.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/graph/value_summary.h"
#include "core/onnx/onnx_proto.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

struct Node {
  std::string name;  // unique-ified: unnamed nodes get "<OpType>_<index>"
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain ("ai.onnx" is normalised to "")
  std::vector<std::string> inputs;   // "" = absent optional input
  std::vector<std::string> outputs;  // "" = absent optional output
  // Kept as protos: kernels read them through KernelInit, and saving needs
  // them unchanged (subgraphs, tensors, ref_attr_name).
  std::vector<onnx::AttributeProto> attributes;
  std::string doc_string;
  std::string overload;                                      // kept for lossless save
  std::vector<onnx::StringStringEntryProto> metadata_props;  // kept for lossless save

  const onnx::AttributeProto* find_attribute(const std::string& attr_name) const;
};

// Dtype and symbolic shape of a declared value; non-tensor types (sequence,
// map, optional) give dtype kUndefined and has_shape false.
ValueSummary value_summary_from_proto(const onnx::ValueInfoProto& info);
// True when the declared type is a tensor (or undeclared, which we treat as a tensor).
bool value_is_tensor(const onnx::ValueInfoProto& info);

class Graph {
 public:
  Graph() = default;

  // Builds and validates. kInvalidModel names the node and tensor at fault
  // (cycle, input nothing produces, duplicate output, unproduced graph
  // output, domain not imported); kUnsupported for features we cannot
  // represent (sparse initializers, external data via tensor_from_proto).
  static Result<Graph> from_proto(const onnx::ModelProto& model);
  // The model with this graph in it; initializers are written as raw_data.
  onnx::ModelProto to_proto() const;

  // ---- reading ------------------------------------------------------------
  const std::vector<Node>& nodes() const { return nodes_; }
  // Graph inputs the caller must feed (initializers excluded).
  const std::vector<ValueSummary>& inputs() const { return inputs_; }
  const std::vector<ValueSummary>& outputs() const { return outputs_; }
  const std::vector<onnx::ValueInfoProto>& input_protos() const { return input_protos_; }
  const std::vector<onnx::ValueInfoProto>& output_protos() const { return output_protos_; }
  const std::vector<onnx::ValueInfoProto>& value_info() const { return value_info_; }
  const std::map<std::string, Tensor>& initializers() const { return initializers_; }
  const Tensor* find_initializer(const std::string& name) const;
  // Opset imported for `domain` ("" or "ai.onnx" = default domain); -1 if not imported.
  int64_t opset(const std::string& domain) const;
  const std::map<std::string, int64_t>& opset_imports() const { return opsets_; }
  // Declared type of a value (graph input/output or value_info), or nullptr.
  const onnx::ValueInfoProto* find_value_info(const std::string& name) const;
  int64_t ir_version() const { return meta_.ir_version; }

  // ---- summary --------------------------------------------------------------
  std::vector<std::pair<std::string, int64_t>> op_counts() const;  // most frequent first
  // Elements / bytes of all weights: initializers and Constant-node tensors.
  int64_t num_parameters() const;
  int64_t parameter_bytes() const;

  // ---- mutation (for passes) ---------------------------------------------------
  // Appends a node (name generated if empty). Call validate_and_sort() after a
  // batch of edits; until then nodes() may be out of order.
  Status add_node(Node node);
  Status remove_node(const std::string& node_name);
  // For rewiring a node's inputs/attributes in place; nullptr if absent.
  Node* mutable_node(const std::string& node_name);
  // Adds or replaces an initializer.
  void set_initializer(const std::string& name, Tensor value);
  bool remove_initializer(const std::string& name);
  // Imports `domain` ("" = default ONNX domain) at `version`, replacing any
  // previous version (passes that emit new ops or upgrade the opset).
  void set_opset_import(const std::string& domain, int64_t version);
  // Renames a value everywhere: producer, consumers, graph inputs/outputs,
  // value_info, initializers.
  Status rename_value(const std::string& from, const std::string& to);
  // Re-checks every invariant and restores topological order.
  Status validate_and_sort();

 private:
  std::string unique_node_name(const std::string& op_type, size_t index) const;
  void refresh_summaries();

  std::vector<Node> nodes_;
  std::map<std::string, Tensor> initializers_;
  std::vector<std::string> initializer_order_;  // file order, so saving is stable
  std::map<std::string, std::string> initializer_doc_;  // initializer doc strings, kept for save
  std::vector<onnx::ValueInfoProto> input_protos_;   // real inputs, file order
  // IR<4 models also list initializers as inputs; those entries are kept
  // only to be written back (the value is treated as constant).
  std::vector<onnx::ValueInfoProto> initializer_input_protos_;
  std::vector<onnx::ValueInfoProto> output_protos_;
  std::vector<onnx::ValueInfoProto> value_info_;
  std::vector<ValueSummary> inputs_, outputs_;
  std::map<std::string, int64_t> opsets_;
  // The original model minus nodes, initializers, inputs, outputs and
  // value_info: everything else is written back as is.
  onnx::ModelProto meta_;
};

}  // namespace wq
