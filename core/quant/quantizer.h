// Quantizer: float graph + recipe (+ calibration samples) -> quantized ONNX
// graph and a report (doc/quantization.md, "The quantizer").
//
//   auto q = Quantizer::create(model.graph(), recipe);      // prepare + plan
//   for (sample : calibration) q->calibrate(sample);        // static mode only
//   auto out = q->finish();                                 // QDQ / dynamic / int4 / fp16 graph
//
// The quantizer works on its own copy of the graph: the caller's graph (and the
// model bytes behind it) is never modified. Calibration runs the prepared float
// graph once per sample with an observe hook on the session, so only running
// statistics and fixed-size histograms are kept (memory independent of the
// number of samples). The output graph uses only standard ONNX operators
// (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// Cast) plus com.microsoft MatMulNBits for int4 weight-only MatMul/Gemm, so
// onnxruntime (node and web) loads it; webquant's runtime fuses the patterns
// onto its int8/int4 kernels at load (core/runtime/optimize.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/quant/observers.h"
#include "core/qparams.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/util/json.h"

namespace wq {

struct QuantizedModel {
  Graph graph;
  std::vector<uint8_t> bytes;  // graph serialized as ONNX
  Json report;                 // see doc/quantization.md, "Report"
};

class Quantizer {
 public:
  ~Quantizer();
  Quantizer(const Quantizer&) = delete;
  Quantizer& operator=(const Quantizer&) = delete;

  // Copies and prepares the graph (constants to initializers, BatchNorm
  // folding, opset upgrade where per-axis scales need it) and decides what to
  // quantize. kInvalidArgument names the recipe field for what only the model
  // can reveal (an excluded node that does not exist, a block size that does
  // not divide K of node X); kNumericError names the initializer holding
  // NaN/Inf.
  static Result<std::unique_ptr<Quantizer>> create(const Graph& float_graph, const Recipe& recipe);

  const Recipe& recipe() const { return recipe_; }
  bool needs_calibration() const { return recipe_.needs_calibration(); }
  // The graph inputs every calibration sample must feed.
  const std::vector<ValueSummary>& inputs() const { return graph_.inputs(); }
  // The prepared float graph the plan refers to.
  const Graph& prepared_graph() const { return graph_; }

  // Observes one calibration sample (float feeds by input name). Errors carry
  // "calibration sample N: " and name the input (wrong shape or dtype), or the
  // value holding NaN/Inf; a failed sample leaves the statistics unchanged.
  Status calibrate(const std::map<std::string, Tensor>& feeds, const RunOptions& options = {});
  int64_t samples_seen() const { return samples_; }

  // Fixes the range of an activation instead of its calibrated one.
  Status set_activation_range(const std::string& value, float min, float max);
  // Fixes the exact scale and zero point of an activation (per tensor, of the
  // recipe's activation type): quantization-aware training hands its trained
  // parameters back this way, so the export computes what training did.
  Status set_activation_params(const std::string& value, const QuantParams& params);
  // Fixes the scale(s) and zero point(s) of a weight that static mode
  // quantizes (by initializer name), with the recipe's bits, signedness and
  // granularity (per-channel along the node's output-channel axis).
  Status set_weight_params(const std::string& weight, const QuantParams& params);

  // The range finish() would quantize each activation with (after
  // calibration; overrides included; before shared scales are applied).
  Result<std::map<std::string, FloatRange>> activation_ranges() const;
  // (value, source) pairs: `value` is exported with `source`'s parameters
  // (pass-through outputs take their input's, Concat inputs the output's).
  const std::vector<std::pair<std::string, std::string>>& shared_activations() const { return share_; }
  // The nodes whose weights finish() quantizes, with their weight's
  // output-channel axis.
  std::vector<std::pair<std::string, int>> weight_nodes() const;

  // Builds the quantized graph. Static mode needs at least one calibration
  // sample (kFailedPrecondition otherwise).
  Result<QuantizedModel> finish();

  // Names of the activations static quantization observes (sorted).
  std::vector<std::string> observed_values() const;

  struct ActivationStats;
  struct NodePlan;

 private:
  Quantizer();
  Status plan();
  Status plan_static();
  Status observe_value(const std::string& name, const Tensor& value);

  Recipe recipe_;
  Graph graph_;
  Json prepare_report_;
  std::unique_ptr<Session> session_;  // calibration, created on first sample
  std::vector<NodePlan> nodes_;       // parallel to graph_.nodes()
  std::map<std::string, std::unique_ptr<ActivationStats>> acts_;
  std::map<std::string, FloatRange> overrides_;
  std::map<std::string, QuantParams> param_overrides_;   // activations, exact
  std::map<std::string, QuantParams> weight_overrides_;  // by weight initializer
  // Conv/Gemm/MatMul output -> the Relu/Clip output that carries its quantization.
  std::map<std::string, std::string> fused_;
  std::vector<std::pair<std::string, std::string>> share_;  // (dst, src): dst takes src's params
  int64_t samples_ = 0;
  double calibrate_ms_ = 0;
  double prepare_ms_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace wq
