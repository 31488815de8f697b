// Quantizer: prepare and plan (create), calibrate, and finish() — which hands
// the prepared copy to the exporter of the recipe's mode (core/quant/export.h:
// export_qdq.cc, export_dynamic.cc, export_nbits.cc, export_fp16.cc) and the
// result to the report (quant_report.cc).
#include "core/quant/quantizer.h"

#include <chrono>
#include <cmath>
#include <set>

#include "core/graph/graph_edit.h"
#include "core/graph/opset_upgrade.h"
#include "core/onnx/onnx_proto.h"
#include "core/quant/export.h"
#include "core/quant/histogram.h"
#include "core/quant/prepare.h"

namespace wq {

using detail::is_op;
using detail::is_weighted_op;
using detail::node_attr_float;
using detail::node_attr_int;

namespace {

constexpr int kReportHistogramBins = 512;  // bins kept per activation while calibrating

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Ops whose output may take the scale of their input: they only move or
// select values (doc/quantization.md, "Shared scales").
bool is_pass_through(const Node& n) {
  static const std::set<std::string> ops = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze"};
  return n.domain.empty() && ops.count(n.op_type);
}

// Inputs of `n` that are activations to quantize (static mode): every input of
// n-ary arithmetic and Concat, otherwise input 0 (weights are handled apart).
std::vector<size_t> activation_inputs(const Node& n, bool weighted) {
  static const std::set<std::string> nary = {"Add", "Sub", "Mul", "Div", "Concat", "Sum", "Max", "Min", "MatMul"};
  std::vector<size_t> idx;
  if (n.domain.empty() && nary.count(n.op_type) && !weighted) {
    for (size_t i = 0; i < n.inputs.size(); ++i) idx.push_back(i);
  } else if (!n.inputs.empty()) {
    idx.push_back(0);
  }
  return idx;
}

}  // namespace

// ---- Quantizer ----------------------------------------------------------------

Quantizer::Quantizer() = default;
Quantizer::~Quantizer() = default;

Result<std::unique_ptr<Quantizer>> Quantizer::create(const Graph& float_graph, const Recipe& recipe) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Quantizer> q(new Quantizer());
  q->recipe_ = recipe;
  q->graph_ = float_graph;  // our copy: initializers share read-only storage
  PrepareStats stats;
  WQ_RETURN_IF_ERROR(constants_to_initializers(&q->graph_, &stats));
  if (recipe.fold_batch_norm && recipe.mode != QuantMode::kFp16) WQ_RETURN_IF_ERROR(fold_batch_norm(&q->graph_, &stats));
  Json prep = Json::object();
  prep.set("constantsToInitializers", stats.constants_to_initializers);
  prep.set("batchNormsFolded", stats.batch_norms_folded);
  const int64_t opset_before = q->graph_.opset("");
  prep.set("opsetBefore", opset_before);
  // Per-axis QuantizeLinear/DequantizeLinear need opset 13.
  if (recipe.mode != QuantMode::kFp16 && opset_before < 13) {
    Status st = upgrade_opset(&q->graph_, 13);
    if (!st.ok()) return st.with_context("upgrading the model from opset " + std::to_string(opset_before) + " to 13: ");
  }
  // 4-bit weights are stored as int4/uint4, which DequantizeLinear takes from opset 21.
  const bool four_bit = recipe.mode == QuantMode::kStatic && recipe.weights.bits == 4;
  if (four_bit && q->graph_.opset("") < 21) {
    const int64_t from = q->graph_.opset("");
    Status st = upgrade_opset(&q->graph_, 21);
    if (!st.ok()) return st.with_context("upgrading the model from opset " + std::to_string(from) + " to 21 (4-bit types): ");
  }
  prep.set("opsetAfter", q->graph_.opset(""));
  q->prepare_report_ = std::move(prep);
  WQ_RETURN_IF_ERROR(q->plan());
  q->prepare_ms_ = ms_since(t0);
  return q;
}

Status Quantizer::plan() {
  const std::vector<Node>& nodes = graph_.nodes();
  nodes_.assign(nodes.size(), NodePlan());
  // Node-name filters must name real nodes.
  std::set<std::string> node_names;
  for (const Node& n : nodes) node_names.insert(n.name);
  auto check_names = [&](const std::vector<std::string>& names, const char* field) -> Status {
    for (const std::string& nn : names) {
      if (node_names.count(nn)) continue;
      std::string examples;
      int k = 0;
      for (const Node& n : nodes) {
        if (!is_weighted_op(n)) continue;
        examples += std::string(examples.empty() ? "" : ", ") + "'" + n.name + "'";
        if (++k == 3) break;
      }
      return invalid_argument(std::string(field) + ": no node named '" + nn + "' in the model (" +
                              std::to_string(nodes.size()) + " nodes" +
                              (examples.empty() ? "" : "; e.g. " + examples) + ")");
    }
    return Status::Ok();
  };
  WQ_RETURN_IF_ERROR(check_names(recipe_.include_nodes, "recipe.include.nodes"));
  WQ_RETURN_IF_ERROR(check_names(recipe_.exclude_nodes, "recipe.exclude.nodes"));

  const std::vector<std::string> op_list =
      recipe_.include_op_types.empty() ? recipe_.default_op_types() : recipe_.include_op_types;
  const std::set<std::string> ops(op_list.begin(), op_list.end());
  const std::set<std::string> excluded_ops(recipe_.exclude_op_types.begin(), recipe_.exclude_op_types.end());
  const std::set<std::string> only(recipe_.include_nodes.begin(), recipe_.include_nodes.end());
  const std::set<std::string> excluded(recipe_.exclude_nodes.begin(), recipe_.exclude_nodes.end());

  std::vector<size_t> weighted;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    NodePlan& p = nodes_[i];
    if (!n.domain.empty() || !ops.count(n.op_type)) continue;
    if (excluded_ops.count(n.op_type)) { p.reason = "op type excluded by the recipe"; continue; }
    if (excluded.count(n.name)) { p.reason = "node excluded by the recipe"; continue; }
    if (!only.empty() && !only.count(n.name)) { p.reason = "not in recipe.include.nodes"; continue; }
    if (is_weighted_op(n)) {
      const Tensor* w = n.inputs.size() > 1 ? detail::float_initializer(graph_, n.inputs[1]) : nullptr;
      bool ok = w != nullptr;
      if (ok && is_op(n, "Conv")) {
        ok = w->rank() >= 3;
        p.weight_axis = 0;
      } else if (ok && is_op(n, "Gemm")) {
        ok = w->rank() == 2 && node_attr_int(n, "transA", 0) == 0;
        p.weight_axis = node_attr_int(n, "transB", 0) ? 0 : 1;
      } else if (ok) {  // MatMul
        ok = w->rank() == 2;
        p.weight_axis = 1;
      }
      if (ok) {
        p.weighted = true;
        weighted.push_back(i);
      } else if (recipe_.mode != QuantMode::kStatic || is_op(n, "Conv")) {
        p.reason = "weight is not a constant of a supported shape";
        continue;
      }
    } else if (recipe_.mode != QuantMode::kStatic) {
      continue;
    }
    p.selected = true;
  }
  if (!weighted.empty() && recipe_.keep_first_layer) {
    nodes_[weighted.front()].selected = nodes_[weighted.front()].weighted = false;
    nodes_[weighted.front()].reason = "first layer kept in float (recipe.keepFirstLayer)";
  }
  if (!weighted.empty() && recipe_.keep_last_layer) {
    nodes_[weighted.back()].selected = nodes_[weighted.back()].weighted = false;
    nodes_[weighted.back()].reason = "last layer kept in float (recipe.keepLastLayer)";
  }

  // NaN/Inf in the weights we are about to quantize.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes_[i].weighted) continue;
    for (size_t k = 1; k < nodes[i].inputs.size() && k < 3; ++k) {
      const Tensor* t = detail::float_initializer(graph_, nodes[i].inputs[k]);
      if (!t) continue;
      float lo, hi;
      Status st = find_min_max_finite(t->data<float>(), size_t(t->numel()), &lo, &hi);
      if (!st.ok())
        return numeric_error("initializer '" + nodes[i].inputs[k] + "' of node '" + nodes[i].name +
                             "': " + st.message());
    }
  }
  if (recipe_.mode == QuantMode::kStatic) return plan_static();
  return Status::Ok();
}

Status Quantizer::plan_static() {
  const std::vector<Node>& nodes = graph_.nodes();
  const auto consumers = detail::consumers_of(graph_);
  std::set<std::string> values;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes_[i].selected) continue;
    const Node& n = nodes[i];
    for (size_t k : activation_inputs(n, nodes_[i].weighted)) {
      const std::string& in = n.inputs[k];
      if (!in.empty() && !graph_.find_initializer(in)) values.insert(in);
    }
    if (!n.outputs.empty() && !n.outputs[0].empty()) values.insert(n.outputs[0]);
  }
  // Conv/Gemm/MatMul/Add followed by their only reader Relu/Clip: quantize after the activation.
  if (recipe_.fuse_activations) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (!nodes_[i].selected || !(nodes_[i].weighted || is_op(n, "Add"))) continue;
      const std::string& out = n.outputs[0];
      auto c = consumers.find(out);
      if (c == consumers.end() || c->second.size() != 1 || detail::is_graph_output(graph_, out)) continue;
      const size_t r = c->second[0];
      const Node& act = nodes[r];
      if (!(is_op(act, "Relu") || is_op(act, "Clip")) || act.inputs[0] != out) continue;
      if (is_op(act, "Clip")) {
        bool const_bounds = true;
        for (size_t k = 1; k < act.inputs.size(); ++k)
          if (!act.inputs[k].empty() && !detail::float_initializer(graph_, act.inputs[k])) const_bounds = false;
        if (!const_bounds) continue;
      }
      fused_[out] = act.outputs[0];
      values.erase(out);
      values.insert(act.outputs[0]);
      nodes_[r].selected = true;
      nodes_[r].fused_activation = true;
    }
    for (const auto& kv : fused_) values.erase(kv.first);
  }
  for (const std::string& v : values) acts_[v] = nullptr;  // observers are made on first float sight

  // Shared scales. Concat inputs take the output's scale when the Concat is
  // their only reader; pass-through outputs take their input's.
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (!nodes_[i].selected || !is_op(n, "Concat") || !values.count(n.outputs[0])) continue;
    for (const std::string& in : n.inputs) {
      auto c = consumers.find(in);
      if (values.count(in) && c != consumers.end() && c->second.size() == 1 && !detail::is_graph_output(graph_, in))
        share_.emplace_back(in, n.outputs[0]);
    }
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (!nodes_[i].selected || !is_pass_through(n)) continue;
    if (values.count(n.inputs[0]) && values.count(n.outputs[0])) share_.emplace_back(n.outputs[0], n.inputs[0]);
  }
  return Status::Ok();
}

std::vector<std::string> Quantizer::observed_values() const {
  std::vector<std::string> v;
  for (const auto& kv : acts_) v.push_back(kv.first);
  return v;
}

Status Quantizer::observe_value(const std::string& name, const Tensor& value) {
  auto it = acts_.find(name);
  if (it == acts_.end() || value.dtype() != DType::kFloat32) return Status::Ok();
  if (!it->second) {
    WQ_ASSIGN_OR_RETURN(Histogram h, Histogram::create(kReportHistogramBins));
    auto stats = std::make_unique<ActivationStats>(std::move(h));
    // Graph inputs keep their full observed range: they are usually
    // normalised data (pixels in [0, 1]) whose extremes carry information,
    // and clipping methods such as entropy saturate them (all-white pixels).
    ObserverOptions options = recipe_.calibration.observer;
    bool is_input = false;
    for (const auto& in : graph_.inputs()) is_input |= in.name == name;
    if (is_input) options.method = CalibrationMethod::kMinMax;
    WQ_ASSIGN_OR_RETURN(stats->observer, make_observer(options));
    it->second = std::move(stats);
  }
  const float* x = value.data<float>();
  const size_t n = size_t(value.numel());
  Status st = it->second->observer->observe(x, n);
  if (!st.ok()) return st.with_context("value '" + name + "': ");
  return it->second->report_hist.add(x, n);
}

Status Quantizer::calibrate(const std::map<std::string, Tensor>& feeds, const RunOptions& options) {
  if (!needs_calibration())
    return failed_precondition(std::string("calibration samples are only used in static mode (mode is \"") +
                               quant_mode_name(recipe_.mode) + "\")");
  const std::string where = "calibration sample " + std::to_string(samples_) + ": ";
  if (recipe_.calibration.max_samples > 0 && samples_ >= recipe_.calibration.max_samples) return Status::Ok();
  for (const auto& kv : feeds) {
    if (kv.second.dtype() != DType::kFloat32) continue;
    float lo, hi;
    Status st = find_min_max_finite(kv.second.data<float>(), size_t(kv.second.numel()), &lo, &hi);
    if (!st.ok()) return st.with_context(where + "input '" + kv.first + "': ");
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (!session_) {
    Result<std::unique_ptr<Session>> s = Session::create(graph_);
    if (!s.ok()) return s.status().with_context("preparing calibration: ");
    session_ = std::move(s).value();
  }
  RunOptions opts = options;
  opts.observe = [this](const std::string& name, const Tensor& t) { return observe_value(name, t); };
  Result<std::map<std::string, Tensor>> out = session_->run(feeds, {}, opts);
  if (!out.ok()) return out.status().with_context(where);
  for (const auto& kv : feeds) WQ_RETURN_IF_ERROR(observe_value(kv.first, kv.second).with_context(where));
  ++samples_;
  calibrate_ms_ += ms_since(t0);
  return Status::Ok();
}

Status Quantizer::set_activation_range(const std::string& value, float min, float max) {
  if (!acts_.count(value))
    return invalid_argument("set_activation_range: '" + value + "' is not an activation this recipe quantizes");
  if (!std::isfinite(min) || !std::isfinite(max) || min > max)
    return invalid_argument("set_activation_range: bad range [" + std::to_string(min) + ", " + std::to_string(max) +
                            "] for '" + value + "'");
  overrides_[value] = FloatRange{min, max};
  return Status::Ok();
}

Status Quantizer::set_activation_params(const std::string& value, const QuantParams& params) {
  if (!acts_.count(value))
    return invalid_argument("set_activation_params: '" + value + "' is not an activation this recipe quantizes");
  const QuantTarget t = QuantTarget::for_dtype(recipe_.activations.dtype, recipe_.activations.symmetric);
  if (params.per_channel() || params.bits != t.bits || params.is_signed != t.is_signed)
    return invalid_argument("set_activation_params: '" + value + "' needs per-tensor " +
                            dtype_name(recipe_.activations.dtype) + " parameters");
  WQ_RETURN_IF_ERROR(params.validate("activation '" + value + "'"));
  param_overrides_[value] = params;
  return Status::Ok();
}

Status Quantizer::set_weight_params(const std::string& weight, const QuantParams& params) {
  if (recipe_.mode != QuantMode::kStatic)
    return failed_precondition("set_weight_params: only static mode takes fixed weight parameters");
  const std::vector<Node>& nodes = graph_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes_[i].weighted || nodes[i].inputs[1] != weight) continue;
    const std::string what = "weight '" + weight + "'";
    if (is_op(nodes[i], "Gemm") && node_attr_float(nodes[i], "alpha", 1.0f) != 1.0f)
      return unsupported("set_weight_params: " + what + " feeds a Gemm with alpha != 1");
    const Tensor* w = graph_.find_initializer(weight);
    const bool per_channel = recipe_.weights.granularity != Granularity::kPerTensor;
    const bool is_signed = recipe_.weights.symmetric;
    if (params.bits != recipe_.weights.bits || params.is_signed != is_signed || params.per_channel() != per_channel)
      return invalid_argument("set_weight_params: " + what + " needs " + std::to_string(recipe_.weights.bits) + "-bit " +
                              (is_signed ? "signed " : "unsigned ") + (per_channel ? "per-channel" : "per-tensor") +
                              " parameters");
    if (per_channel) {
      const int axis = nodes_[i].weight_axis;
      const int given = params.axis < 0 ? params.axis + int(w->rank()) : params.axis;
      if (given != axis || int64_t(params.scales.size()) != w->dim(size_t(axis)))
        return invalid_argument("set_weight_params: " + what + " needs " + std::to_string(w->dim(size_t(axis))) +
                                " scales along axis " + std::to_string(axis));
    }
    WQ_RETURN_IF_ERROR(params.validate(what));
    QuantParams p = params;
    if (per_channel) p.axis = nodes_[i].weight_axis;
    weight_overrides_[weight] = std::move(p);
    return Status::Ok();
  }
  return invalid_argument("set_weight_params: '" + weight + "' is not a weight this recipe quantizes");
}

Result<std::map<std::string, FloatRange>> Quantizer::activation_ranges() const {
  const QuantTarget target = QuantTarget::for_dtype(recipe_.activations.dtype, recipe_.activations.symmetric);
  std::map<std::string, FloatRange> out;
  for (const auto& kv : acts_) {
    auto ov = overrides_.find(kv.first);
    if (ov != overrides_.end()) {
      out[kv.first] = ov->second;
    } else if (kv.second && kv.second->observer->count() > 0) {
      Result<FloatRange> r = kv.second->observer->range(target);
      if (!r.ok()) return r.status().with_context("activation '" + kv.first + "': ");
      out[kv.first] = *r;
    }
  }
  return out;
}

std::vector<std::pair<std::string, int>> Quantizer::weight_nodes() const {
  std::vector<std::pair<std::string, int>> out;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].weighted) out.emplace_back(graph_.nodes()[i].name, nodes_[i].weight_axis);
  return out;
}

Result<QuantizedModel> Quantizer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  if (recipe_.mode == QuantMode::kStatic && samples_ == 0 && overrides_.empty() && param_overrides_.empty())
    return failed_precondition("static quantization needs calibration samples, and none were given");

  Graph g = graph_;
  detail::Builder b(&g);
  detail::ExportContext cx{recipe_, graph_, nodes_, acts_, overrides_, param_overrides_, weight_overrides_,
                           fused_, share_, warnings_, g, b};
  switch (recipe_.mode) {
    case QuantMode::kStatic: WQ_RETURN_IF_ERROR(detail::export_static(cx)); break;
    case QuantMode::kDynamic: WQ_RETURN_IF_ERROR(detail::export_dynamic(cx)); break;
    case QuantMode::kWeightOnly: WQ_RETURN_IF_ERROR(detail::export_weight_only(cx)); break;
    case QuantMode::kFp16: WQ_RETURN_IF_ERROR(detail::export_fp16(cx)); break;
  }
  detail::drop_replaced_initializers(&g, graph_);
  if (cx.used_ms_domain && g.opset("com.microsoft") < 1) g.set_opset_import("com.microsoft", 1);
  WQ_RETURN_IF_ERROR(g.validate_and_sort());

  QuantizedModel out;
  out.graph = std::move(g);
  out.bytes = onnx::serialize_model(out.graph.to_proto());
  out.report = detail::quantization_report(
      cx, out, {prepare_report_, samples_, prepare_ms_, calibrate_ms_, ms_since(t0)});
  return out;
}

}  // namespace wq
