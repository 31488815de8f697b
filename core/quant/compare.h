// Comparator: float model vs quantized model on the same samples
// (doc/quantization.md, "Report").
//
// Per sample, the float graph runs once with an observe hook that keeps a copy
// of every activation the quantized graph also names, then the quantized graph
// runs (as exported, QDQ nodes executed as written) and each matching value is
// compared and dropped. Peak memory is one sample's float activations; the
// statistics are running sums, so any number of samples fits.
//
// Metrics: SQNR = 10 log10(sum x^2 / sum (x - y)^2) in dB, cosine similarity,
// max |x - y|, argmax agreement over the last axis (top-1 agreement for
// classifiers), and accuracy against labels when the caller has them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/session.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/util/json.h"

namespace wq {

struct CompareOptions {
  bool per_node = true;  // compare intermediate activations, not only outputs
};

class Comparator {
 public:
  ~Comparator();
  // The graphs must declare the same inputs and outputs (by name).
  static Result<std::unique_ptr<Comparator>> create(const Graph& float_graph, const Graph& quant_graph,
                                                    const CompareOptions& options = {});
  // One sample. `labels` (may be null) holds one class per row of the first
  // output, for accuracy. Errors carry "sample N: ".
  Status add_sample(const std::map<std::string, Tensor>& feeds, const std::vector<int64_t>* labels = nullptr,
                    const RunOptions& options = {});
  int64_t samples() const { return samples_; }
  Json report() const;

  struct Stats;

 private:
  Comparator();
  std::unique_ptr<Session> float_session_, quant_session_;
  std::vector<std::string> output_names_;
  std::map<std::string, std::string> node_op_;  // value -> op type of its float producer
  std::vector<std::string> node_order_;         // values in float graph order
  std::map<std::string, std::unique_ptr<Stats>> stats_;
  int64_t samples_ = 0;
  int64_t labelled_rows_ = 0, float_correct_ = 0, quant_correct_ = 0;
  bool per_node_ = true;
};

}  // namespace wq
