// What the quantizer's exporters share (internal; doc/quantization.md, "The
// quantizer"). Quantizer::finish() copies the prepared graph, builds an
// ExportContext over it and hands it to the exporter of the recipe's mode:
//
//   static       export_static       core/quant/export_qdq.cc      QuantizeLinear/DequantizeLinear
//   dynamic      export_dynamic      core/quant/export_dynamic.cc  DynamicQuantizeLinear + MatMulInteger
//   weight-only  export_weight_only  core/quant/export_nbits.cc    com.microsoft MatMulNBits, QDQ weights
//   fp16         export_fp16         core/quant/export_fp16.cc     float16 initializers + Cast
//
// Every exporter walks the plan with export_weighted_nodes (the node reports)
// and hands each weighted node to its per-node weight exporter; Conv (and
// per-channel weight-only) weights go through export_weight_qdq in every
// mode. The report is assembled apart (core/quant/quant_report.cc).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/graph_edit.h"
#include "core/quant/histogram.h"
#include "core/quant/observers.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "core/qparams.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/util/json.h"

namespace wq {

struct Quantizer::ActivationStats {
  std::unique_ptr<Observer> observer;
  Histogram report_hist;
  explicit ActivationStats(Histogram h) : report_hist(std::move(h)) {}
};

struct Quantizer::NodePlan {
  bool selected = false;
  bool weighted = false;  // weight input is a constant we quantize
  std::string reason;     // why a node of a quantizable type was left in float
  int weight_axis = 0;    // output-channel axis of input 1
  bool fused_activation = false;  // a Relu/Clip carrying its producer's quantization
};

namespace detail {

inline bool is_op(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

inline bool is_weighted_op(const Node& n) { return is_op(n, "Conv") || is_op(n, "Gemm") || is_op(n, "MatMul"); }

// Tensor of `shape` holding quantized values `q` in `storage` (int8/uint8
// containers for 8- and 4-bit values, packed nibbles for int4/uint4, int32).
Result<Tensor> make_int_tensor(DType storage, const Shape& shape, const std::vector<int32_t>& q);

// ---- weights ----------------------------------------------------------------

struct QuantizedWeight {
  Tensor q;               // quantized values in `storage`
  QuantParams params;     // per-tensor or per-axis (axis normalised)
  Json report;
};

// Quantizes a float weight. axis < 0: per tensor; block_size > 0: blocks of
// that many elements along `axis`. `storage` is the container dtype.
Result<QuantizedWeight> quantize_weight(const std::string& name, const Tensor& w, int axis, int block_size,
                                        const WeightRecipe& wr, bool force_signed, DType storage,
                                        const QuantParams* fixed = nullptr);

// The container of quantized weights: int4/uint4 for 4-bit static weights
// (opset 21, see Quantizer::create), int8/uint8 otherwise.
DType weight_storage(const Recipe& recipe);

// ---- graph building -----------------------------------------------------------

class Builder {
 public:
  explicit Builder(Graph* g) : g_(g), names_(*g) {}

  std::string fresh(const std::string& base) { return names_.fresh(base); }

  // Scale and zero-point initializers for `p` stored as `zp_type`; per-axis
  // parameters become 1-D (or the blocked scale shape when given).
  void add_params(const std::string& base, const QuantParams& p, DType zp_type, std::string* scale_name,
                  std::string* zp_name, const Shape& blocked_shape = {});

  Status add(const std::string& op, const std::string& name_base, std::vector<std::string> inputs,
             std::vector<std::string> outputs, std::vector<onnx::AttributeProto> attrs = {},
             const std::string& domain = "");

  // DequantizeLinear of a quantized initializer; returns the float value name.
  Result<std::string> dequantized_weight(const std::string& base, const Tensor& q, const QuantParams& p,
                                         DType zp_type, const Shape& blocked_shape = {});

  Graph& graph() { return *g_; }

 private:
  Graph* g_;
  NameAllocator names_;
};

// Replaces input `from` of every node (except those in `skip`) with `to`.
void rewire_consumers(Graph* g, const std::string& from, const std::string& to, const std::set<std::string>& skip);

// Drops initializers of the prepared graph that nothing in `g` reads any more
// (the float weights the exporter replaced).
void drop_replaced_initializers(Graph* g, const Graph& prepared);

// ---- the export ---------------------------------------------------------------

// The quantizer's state after planning and calibration (read only), the graph
// being built, and what the exporters record along the way for the report.
struct ExportContext {
  ExportContext(const Recipe& recipe, const Graph& prepared, const std::vector<Quantizer::NodePlan>& plan,
                const std::map<std::string, std::unique_ptr<Quantizer::ActivationStats>>& acts,
                const std::map<std::string, FloatRange>& range_overrides,
                const std::map<std::string, QuantParams>& param_overrides,
                const std::map<std::string, QuantParams>& weight_overrides,
                const std::map<std::string, std::string>& fused,
                const std::vector<std::pair<std::string, std::string>>& shared, std::vector<std::string>& warnings,
                Graph& g, Builder& b)
      : recipe(recipe), prepared(prepared), plan(plan), acts(acts), range_overrides(range_overrides),
        param_overrides(param_overrides), weight_overrides(weight_overrides), fused(fused), shared(shared),
        warnings(warnings), g(g), b(b) {}

  const Recipe& recipe;
  const Graph& prepared;                              // the plan's graph (never modified)
  const std::vector<Quantizer::NodePlan>& plan;       // parallel to prepared.nodes()
  const std::map<std::string, std::unique_ptr<Quantizer::ActivationStats>>& acts;
  const std::map<std::string, FloatRange>& range_overrides;
  const std::map<std::string, QuantParams>& param_overrides;   // activations, exact
  const std::map<std::string, QuantParams>& weight_overrides;  // by weight initializer
  const std::map<std::string, std::string>& fused;             // producer output -> Relu/Clip output
  const std::vector<std::pair<std::string, std::string>>& shared;  // (dst, src)
  std::vector<std::string>& warnings;
  Graph& g;    // the copy being exported
  Builder& b;  // fresh names and nodes in `g`

  // Filled by the exporters.
  std::map<std::string, QuantParams> act_params;  // static: activation -> parameters
  std::set<std::string> removed_nodes;            // fused activations the range made redundant
  bool used_ms_domain = false;                    // com.microsoft ops were added
  int quantized_nodes = 0;
  Json node_reports = Json::array();
  Json weight_reports = Json::array();
  Json fp16_report = Json::object();
};

// A weighted node (Conv/Gemm/MatMul with a constant weight) as the weight
// exporters see it.
struct WeightedNode {
  const Node& node;  // in the prepared graph
  const Quantizer::NodePlan& plan;
  Tensor w;          // the float weight (input 1)
  Tensor wf;         // w with Gemm's alpha folded in
  bool is_gemm;
  float alpha, beta;
  std::string base;  // the weight initializer's name
};

// Quantizes one weighted node's weight; returns its weight report.
using WeightExporter = Result<Json> (*)(ExportContext& cx, const WeightedNode& wn);

// Walks the plan in graph order, adds a node report for every node of a
// quantizable type, and hands each weighted node to `export_weight` (nullptr:
// weights stay as they are, fp16).
Status export_weighted_nodes(ExportContext& cx, WeightExporter export_weight);

// The name of the bias a rewritten Gemm adds: input 2, or a copy scaled by beta.
Result<std::string> beta_scaled_bias(ExportContext& cx, const WeightedNode& wn);

// One exporter per output format.
Status export_static(ExportContext& cx);       // export_qdq.cc
Status export_dynamic(ExportContext& cx);      // export_dynamic.cc
Status export_weight_only(ExportContext& cx);  // export_nbits.cc
Status export_fp16(ExportContext& cx);         // export_fp16.cc

// QDQ weight: DequantizeLinear(int8/int4 W) feeds the float op; in static
// mode an int32 bias when the input is quantized (export_qdq.cc).
Result<Json> export_weight_qdq(ExportContext& cx, const WeightedNode& wn);

// ---- the report (quant_report.cc) -----------------------------------------------

Json histogram_json(const Histogram& hist);
// A fixed-bin histogram of a weight over [lo, hi].
Json weight_histogram_json(const float* x, size_t n, float lo, float hi);
double sqnr_db(double signal, double noise);

// The quantizer's bookkeeping outside the export.
struct ReportInputs {
  const Json& prepare;
  int64_t samples;
  double prepare_ms, calibrate_ms, quantize_ms;
};

// The report of a finished export (doc/quantization.md, "Report").
Json quantization_report(const ExportContext& cx, const QuantizedModel& out, const ReportInputs& in);

}  // namespace detail
}  // namespace wq
