#include "core/quant/quantizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "core/graph/opset_upgrade.h"
#include "core/onnx/onnx_proto.h"
#include "core/graph/graph_edit.h"
#include "core/quant/histogram.h"
#include "core/quant/prepare.h"

namespace wq {

using detail::attr_int;
using detail::NameAllocator;
using detail::node_attr_float;
using detail::node_attr_int;

namespace {

constexpr int kReportBins = 64;        // histogram bins written to the report
constexpr int kReportHistogramBins = 512;  // bins kept per activation while calibrating

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool is_op(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

bool is_weighted_op(const Node& n) { return is_op(n, "Conv") || is_op(n, "Gemm") || is_op(n, "MatMul"); }

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

// Tensor of `shape` holding quantized values `q` in `storage` (int8/uint8
// containers for 8- and 4-bit values, packed nibbles for int4/uint4, int32).
Result<Tensor> make_int_tensor(DType storage, const Shape& shape, const std::vector<int32_t>& q) {
  WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::zeros(storage, shape));
  switch (storage) {
    case DType::kInt8: {
      int8_t* d = t.mutable_data<int8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = int8_t(q[i]);
      break;
    }
    case DType::kUInt8: {
      uint8_t* d = t.mutable_data<uint8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = uint8_t(q[i]);
      break;
    }
    case DType::kInt32: {
      int32_t* d = t.mutable_data<int32_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i] = q[i];
      break;
    }
    case DType::kInt4:
    case DType::kUInt4: {
      uint8_t* d = t.mutable_data<uint8_t>();
      for (size_t i = 0; i < q.size(); ++i) d[i / 2] |= uint8_t((uint32_t(q[i]) & 0xF) << ((i & 1) * 4));
      break;
    }
    default: return internal_error(std::string("make_int_tensor: storage ") + dtype_name(storage));
  }
  return t;
}

Json histogram_json_from_counts(double lower, double width, const std::vector<uint64_t>& counts) {
  size_t first = 0, last = counts.size();
  while (first < last && counts[first] == 0) ++first;
  while (last > first && counts[last - 1] == 0) --last;
  const size_t n = last - first;
  const size_t merge = n > size_t(kReportBins) ? (n + kReportBins - 1) / kReportBins : 1;
  Json counts_json = Json::array();
  for (size_t i = first; i < last; i += merge) {
    uint64_t c = 0;
    for (size_t k = i; k < std::min(last, i + merge); ++k) c += counts[k];
    counts_json.push_back(Json(c));
  }
  Json h = Json::object();
  h.set("lower", lower + double(first) * width);
  h.set("width", width * double(merge));
  h.set("counts", std::move(counts_json));
  return h;
}

Json histogram_json(const Histogram& hist) {
  if (hist.empty()) return Json();
  return histogram_json_from_counts(hist.bin_lower(0), hist.bin_width(), hist.counts());
}

// A fixed-bin histogram of a weight over [min, max].
Json weight_histogram_json(const float* x, size_t n, float lo, float hi) {
  std::vector<uint64_t> counts(kReportBins, 0);
  const double width = hi > lo ? (double(hi) - lo) / kReportBins : 1.0;
  for (size_t i = 0; i < n; ++i) {
    int b = int((double(x[i]) - lo) / width);
    counts[size_t(std::min(std::max(b, 0), kReportBins - 1))]++;
  }
  return histogram_json_from_counts(lo, width, counts);
}

double sqnr_db(double signal, double noise) {
  if (noise <= 0) return signal > 0 ? 200.0 : 0.0;  // exact: report a large finite number
  if (signal <= 0) return -200.0;
  return 10.0 * std::log10(signal / noise);
}

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
                                        const QuantParams* fixed = nullptr) {
  QuantTarget target;
  target.bits = wr.bits;
  target.symmetric = wr.symmetric;
  target.is_signed = wr.symmetric || force_signed;
  WeightRangeOptions opts;
  opts.mse_refine = wr.mse_refine;
  const float* x = w.data<float>();
  const Shape shape = axis < 0 ? Shape{1, w.numel()} : w.shape();
  const int qaxis = axis < 0 ? 0 : axis;
  QuantizedWeight out;
  if (fixed != nullptr) {
    // Trained parameters (quantization-aware training), checked by set_weight_params.
    out.params = *fixed;
    if (axis < 0 && out.params.scales.empty()) {
      out.params.scales = {out.params.scale};
      out.params.zero_points = {out.params.zero_point};
    }
  } else {
    Result<QuantParams> params = weight_quant_params(x, shape, qaxis, block_size, target, opts);
    if (!params.ok()) return params.status().with_context("weight '" + name + "': ");
    out.params = std::move(params).value();
  }
  if (axis < 0) {
    out.params.scale = out.params.scales[0];
    out.params.zero_point = out.params.zero_points.empty() ? 0 : out.params.zero_points[0];
    out.params.scales.clear();
    out.params.zero_points.clear();
    out.params.axis = -1;
  }
  // Index of the scale for each element.
  const Shape& s = w.shape();
  int64_t inner = 1;
  for (size_t d = size_t(qaxis) + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t axis_len = axis < 0 ? 1 : s[size_t(qaxis)];
  const int64_t bs = block_size > 0 ? block_size : axis_len;
  const int64_t nblocks = (axis_len + bs - 1) / bs;
  const int32_t qmin = target.qmin(), qmax = target.qmax();
  std::vector<int32_t> q(size_t(w.numel()));
  double signal = 0, noise = 0;
  float wmin = x[0], wmax = x[0];
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t si = 0;
    if (axis >= 0) {
      const int64_t outer = i / (inner * axis_len);
      const int64_t a = (i / inner) % axis_len;
      const int64_t in = i % inner;
      si = block_size > 0 ? size_t((outer * nblocks + a / bs) * inner + in) : size_t(a);
    }
    const float sc = out.params.scale_at(si);
    const int32_t zp = out.params.zero_point_at(si);
    q[size_t(i)] = quantize_value(x[i], sc, zp, qmin, qmax);
    const double d = double(dequantize_value(q[size_t(i)], sc, zp)) - x[i];
    signal += double(x[i]) * x[i];
    noise += d * d;
    wmin = std::min(wmin, x[i]);
    wmax = std::max(wmax, x[i]);
  }
  WQ_ASSIGN_OR_RETURN(out.q, make_int_tensor(storage, w.shape(), q));
  Json r = Json::object();
  r.set("name", name);
  r.set("shape", Json::numbers(w.shape()));
  r.set("bits", wr.bits);
  r.set("dtype", dtype_name(storage));
  r.set("granularity", block_size > 0 ? "per-block" : axis < 0 ? "per-tensor" : "per-channel");
  if (axis >= 0) r.set("axis", axis);
  if (block_size > 0) r.set("blockSize", block_size);
  r.set("symmetric", wr.symmetric);
  r.set("min", wmin);
  r.set("max", wmax);
  float smin = out.params.scale, smax = out.params.scale;
  if (!out.params.scales.empty()) {
    smin = *std::min_element(out.params.scales.begin(), out.params.scales.end());
    smax = *std::max_element(out.params.scales.begin(), out.params.scales.end());
  }
  r.set("scaleMin", smin);
  r.set("scaleMax", smax);
  r.set("sqnrDb", sqnr_db(signal, noise));
  r.set("rmse", std::sqrt(noise / double(std::max<int64_t>(1, w.numel()))));
  r.set("histogram", weight_histogram_json(x, size_t(w.numel()), wmin, wmax));
  out.report = std::move(r);
  return out;
}

bool act_is_signed(DType t) { return t == DType::kInt8 || t == DType::kInt4; }

// ---- graph building -----------------------------------------------------------

class Builder {
 public:
  explicit Builder(Graph* g) : g_(g), names_(*g) {}

  std::string fresh(const std::string& base) { return names_.fresh(base); }

  // Scale and zero-point initializers for `p` stored as `zp_type`; per-axis
  // parameters become 1-D (or the blocked scale shape when given).
  void add_params(const std::string& base, const QuantParams& p, DType zp_type, std::string* scale_name,
                  std::string* zp_name, const Shape& blocked_shape = {}) {
    *scale_name = fresh(base + "_scale");
    *zp_name = fresh(base + "_zero_point");
    if (p.scales.empty()) {
      g_->set_initializer(*scale_name, Tensor::from_floats({}, {p.scale}));
      g_->set_initializer(*zp_name, make_int_tensor(zp_type, {}, {p.zero_point}).value());
    } else {
      const Shape shape = blocked_shape.empty() ? Shape{int64_t(p.scales.size())} : blocked_shape;
      g_->set_initializer(*scale_name, Tensor::from_floats(shape, p.scales));
      std::vector<int32_t> zps = p.zero_points;
      zps.resize(p.scales.size(), 0);
      g_->set_initializer(*zp_name, make_int_tensor(zp_type, shape, zps).value());
    }
  }

  Status add(const std::string& op, const std::string& name_base, std::vector<std::string> inputs,
             std::vector<std::string> outputs, std::vector<onnx::AttributeProto> attrs = {},
             const std::string& domain = "") {
    Node n;
    n.op_type = op;
    n.domain = domain;
    n.name = fresh(name_base);
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    n.attributes = std::move(attrs);
    return g_->add_node(std::move(n));
  }

  // DequantizeLinear of a quantized initializer; returns the float value name.
  Result<std::string> dequantized_weight(const std::string& base, const Tensor& q, const QuantParams& p,
                                         DType zp_type, const Shape& blocked_shape = {}) {
    const std::string q_name = fresh(base + "_quantized");
    g_->set_initializer(q_name, q);
    std::string s, z;
    add_params(base, p, zp_type, &s, &z, blocked_shape);
    const std::string out = fresh(base + "_dequantized");
    std::vector<onnx::AttributeProto> attrs;
    if (!p.scales.empty()) attrs.push_back(attr_int("axis", p.axis));
    if (p.block_size > 0) attrs.push_back(attr_int("block_size", p.block_size));
    WQ_RETURN_IF_ERROR(add("DequantizeLinear", base + "_DequantizeLinear", {q_name, s, z}, {out}, attrs));
    return out;
  }

  Graph& graph() { return *g_; }

 private:
  Graph* g_;
  NameAllocator names_;
};

// Replaces input `from` of every node (except those in `skip`) with `to`.
void rewire_consumers(Graph* g, const std::string& from, const std::string& to, const std::set<std::string>& skip) {
  std::vector<std::string> node_names;
  for (const Node& n : g->nodes())
    if (!skip.count(n.name)) node_names.push_back(n.name);
  for (const std::string& nn : node_names) {
    Node* n = g->mutable_node(nn);
    for (auto& in : n->inputs)
      if (in == from) in = to;
  }
}

int64_t float_parameter_bytes(const Graph& g) {
  int64_t b = 0;
  for (const auto& kv : g.initializers()) b += int64_t(kv.second.nbytes());
  return b;
}

}  // namespace

// ---- Quantizer ----------------------------------------------------------------

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
  Builder b(&g);
  const std::vector<Node> nodes = graph_.nodes();  // the plan's indices refer to these
  Json node_reports = Json::array();
  Json weight_reports = Json::array();
  Json act_reports = Json::array();
  int quantized_nodes = 0;

  // ---- static: activation parameters -----------------------------------------
  std::map<std::string, QuantParams> act_params;
  if (recipe_.mode == QuantMode::kStatic) {
    const QuantTarget target = QuantTarget::for_dtype(recipe_.activations.dtype, recipe_.activations.symmetric);
    for (const auto& kv : acts_) {
      FloatRange r;
      auto exact = param_overrides_.find(kv.first);
      if (exact != param_overrides_.end()) {
        act_params[kv.first] = exact->second;
        continue;
      }
      auto ov = overrides_.find(kv.first);
      if (ov != overrides_.end()) {
        r = ov->second;
      } else if (kv.second && kv.second->observer->count() > 0) {
        WQ_ASSIGN_OR_RETURN(r, kv.second->observer->range(target));
      } else {
        continue;  // never seen as a float tensor (shape values, unused branches)
      }
      Result<QuantParams> p = quant_params_for_range(r.min, r.max, target);
      if (!p.ok()) return p.status().with_context("activation '" + kv.first + "': ");
      act_params[kv.first] = std::move(p).value();
    }
    for (const auto& sh : share_) {
      auto src = act_params.find(sh.second);
      if (src != act_params.end() && act_params.count(sh.first)) act_params[sh.first] = src->second;
    }
    const DType act_type = recipe_.activations.dtype;
    const char* act_type_name = dtype_name(act_type);
    for (const auto& kv : act_params) {
      Json a = Json::object();
      a.set("name", kv.first);
      a.set("dtype", act_type_name);
      a.set("scale", kv.second.scale);
      a.set("zeroPoint", kv.second.zero_point);
      a.set("clipMin", dequantize_value(kv.second.qmin(), kv.second.scale, kv.second.zero_point));
      a.set("clipMax", dequantize_value(kv.second.qmax(), kv.second.scale, kv.second.zero_point));
      auto st = acts_.find(kv.first);
      if (st != acts_.end() && st->second) {
        a.set("min", st->second->report_hist.min());
        a.set("max", st->second->report_hist.max());
        a.set("histogram", histogram_json(st->second->report_hist));
      }
      a.set("overridden", overrides_.count(kv.first) > 0 || param_overrides_.count(kv.first) > 0);
      act_reports.push_back(std::move(a));
    }
  }

  // ---- fused activations that quantization makes redundant ---------------------
  std::set<std::string> removed_nodes;
  for (const auto& kv : fused_) {
    auto p = act_params.find(kv.second);
    if (p == act_params.end()) continue;
    const QuantParams& qp = p->second;
    const float lo = dequantize_value(qp.qmin(), qp.scale, qp.zero_point);
    const float hi = dequantize_value(qp.qmax(), qp.scale, qp.zero_point);
    const Node* act = nullptr;
    const Node* producer = nullptr;
    for (const Node& n : g.nodes()) {
      if (!n.outputs.empty() && n.outputs[0] == kv.second) act = &n;
      if (!n.outputs.empty() && n.outputs[0] == kv.first) producer = &n;
    }
    if (!act || !producer) continue;
    bool redundant = false;
    if (is_op(*act, "Relu")) {
      redundant = qp.zero_point == qp.qmin();
    } else {
      float cmin = -INFINITY, cmax = INFINITY;
      if (act->inputs.size() > 1 && !act->inputs[1].empty()) cmin = graph_.find_initializer(act->inputs[1])->data<float>()[0];
      if (act->inputs.size() > 2 && !act->inputs[2].empty()) cmax = graph_.find_initializer(act->inputs[2])->data<float>()[0];
      redundant = lo >= cmin && hi <= cmax;
    }
    if (!redundant) continue;
    const std::string act_name = act->name, prod_name = producer->name;
    g.mutable_node(prod_name)->outputs[0] = kv.second;
    WQ_RETURN_IF_ERROR(g.remove_node(act_name));
    removed_nodes.insert(act_name);
  }

  // ---- weighted nodes -----------------------------------------------------------
  const Granularity gran = recipe_.weights.granularity;
  const bool sym = recipe_.weights.symmetric;
  // 4-bit static weights are stored as int4/uint4 (opset 21, see create());
  // other modes keep 8-bit containers.
  const bool w4 = recipe_.mode == QuantMode::kStatic && recipe_.weights.bits == 4;
  const DType w8_type = w4 ? (sym ? DType::kInt4 : DType::kUInt4) : sym ? DType::kInt8 : DType::kUInt8;
  bool used_ms_domain = false;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    const NodePlan& p = nodes_[i];
    Json nr = Json::object();
    const bool quantizable_type = is_weighted_op(n) || (recipe_.mode == QuantMode::kStatic && p.selected);
    if (!quantizable_type && p.reason.empty()) continue;
    nr.set("name", n.name);
    nr.set("opType", n.op_type);
    nr.set("output", n.outputs.empty() ? "" : n.outputs[0]);
    if (!p.selected && !p.weighted) {
      nr.set("quantized", false);
      nr.set("reason", p.reason.empty() ? "not selected by the recipe" : p.reason);
      node_reports.push_back(std::move(nr));
      continue;
    }
    if (p.fused_activation) nr.set("fusedInto", removed_nodes.count(n.name) ? "removed (range covers it)" : "kept");
    if (!p.weighted || recipe_.mode == QuantMode::kFp16) {
      nr.set("quantized", recipe_.mode == QuantMode::kStatic);
      node_reports.push_back(std::move(nr));
      if (recipe_.mode == QuantMode::kStatic) ++quantized_nodes;
      continue;
    }
    Node* gn = g.mutable_node(n.name);
    const Tensor w = *graph_.find_initializer(n.inputs[1]);
    const bool is_gemm = is_op(n, "Gemm");
    const float alpha = is_gemm ? node_attr_float(n, "alpha", 1.0f) : 1.0f;
    const float beta = is_gemm ? node_attr_float(n, "beta", 1.0f) : 1.0f;
    Tensor wf = w;
    if (alpha != 1.0f) {  // fold alpha into the weight
      WQ_ASSIGN_OR_RETURN(wf, w.clone());
      for (int64_t k = 0; k < wf.numel(); ++k) wf.mutable_data<float>()[k] *= alpha;
    }
    const std::string base = n.inputs[1];

    if (recipe_.mode == QuantMode::kStatic ||
        (recipe_.mode == QuantMode::kDynamic && is_op(n, "Conv")) ||
        (recipe_.mode == QuantMode::kWeightOnly && (is_op(n, "Conv") || gran != Granularity::kPerBlock))) {
      // QDQ weights: DequantizeLinear(int8 W) feeds the float op.
      const int axis = gran == Granularity::kPerTensor ? -1 : p.weight_axis;
      WeightRecipe wr = recipe_.weights;
      auto fixed = weight_overrides_.find(base);
      const QuantParams* fixed_params = fixed != weight_overrides_.end() && recipe_.mode == QuantMode::kStatic ? &fixed->second : nullptr;
      WQ_ASSIGN_OR_RETURN(QuantizedWeight qw, quantize_weight(base, wf, axis, 0, wr, false, w8_type, fixed_params));
      if (fixed_params) qw.report.set("trained", true);
      WQ_ASSIGN_OR_RETURN(std::string wdq, b.dequantized_weight(base, qw.q, qw.params, w8_type));
      gn = g.mutable_node(n.name);
      gn->inputs[1] = wdq;
      if (alpha != 1.0f)
        for (auto& a : gn->attributes)
          if (a.name == "alpha") a.f = 1.0f;
      // Bias as int32 with scale x_scale * w_scale when the input is quantized.
      auto xp = act_params.find(n.inputs[0]);
      const Tensor* bias = n.inputs.size() > 2 && !n.inputs[2].empty() ? detail::float_initializer(graph_, n.inputs[2]) : nullptr;
      const int64_t channels = w.dim(size_t(p.weight_axis));
      if (recipe_.mode == QuantMode::kStatic && xp != act_params.end() && bias && bias->numel() == channels) {
        QuantParams bp;
        bp.bits = 32;
        bp.is_signed = true;
        bp.axis = 0;
        std::vector<int32_t> bq(static_cast<size_t>(channels));
        for (int64_t c = 0; c < channels; ++c) {
          const float s = xp->second.scale * qw.params.scale_at(size_t(c));
          bp.scales.push_back(s);
          const double v = std::nearbyint(double(bias->data<float>()[c]) * beta / double(s));
          bq[size_t(c)] = int32_t(std::max(-2147483648.0, std::min(2147483647.0, v)));
        }
        bp.zero_points.assign(size_t(channels), 0);
        WQ_ASSIGN_OR_RETURN(Tensor bt, make_int_tensor(DType::kInt32, {channels}, bq));
        WQ_ASSIGN_OR_RETURN(std::string bdq, b.dequantized_weight(n.inputs[2], bt, bp, DType::kInt32));
        gn = g.mutable_node(n.name);
        gn->inputs[2] = bdq;
        if (beta != 1.0f)
          for (auto& a : gn->attributes)
            if (a.name == "beta") a.f = 1.0f;
      }
      Json wrj = qw.report;
      wrj.set("node", n.name);
      weight_reports.push_back(std::move(wrj));
    } else if (recipe_.mode == QuantMode::kDynamic) {
      // y = (DynamicQuantizeLinear(x) (*) W_q) * (x_scale * w_scale) + bias
      Tensor wkn = wf;  // [K, N]
      if (p.weight_axis == 0) {  // Gemm transB: W is [N, K]
        const int64_t N = w.dim(0), K = w.dim(1);
        WQ_ASSIGN_OR_RETURN(wkn, Tensor::allocate(DType::kFloat32, {K, N}));
        for (int64_t r = 0; r < N; ++r)
          for (int64_t c = 0; c < K; ++c) wkn.mutable_data<float>()[c * N + r] = wf.data<float>()[r * K + c];
      }
      const int64_t N = wkn.dim(1);
      const int axis = gran == Granularity::kPerTensor ? -1 : 1;
      WQ_ASSIGN_OR_RETURN(QuantizedWeight qw, quantize_weight(base, wkn, axis, 0, recipe_.weights, false, w8_type));
      const std::string wq = b.fresh(base + "_quantized");
      g.set_initializer(wq, qw.q);
      std::vector<std::string> mmi_inputs = {"", wq, "", ""};
      if (!sym) {
        const std::string zp = b.fresh(base + "_zero_point");
        std::vector<int32_t> zps = qw.params.zero_points;
        if (axis < 0) zps = {qw.params.zero_point};
        WQ_ASSIGN_OR_RETURN(Tensor zt, make_int_tensor(DType::kUInt8, axis < 0 ? Shape{} : Shape{N}, zps));
        g.set_initializer(zp, zt);
        mmi_inputs[3] = zp;
      }
      const std::string x = n.inputs[0];
      const std::string xq = b.fresh(x + "_quantized"), xs = b.fresh(x + "_scale"), xz = b.fresh(x + "_zero_point");
      WQ_RETURN_IF_ERROR(b.add("DynamicQuantizeLinear", n.name + "_DynamicQuantizeLinear", {x}, {xq, xs, xz}));
      mmi_inputs[0] = xq;
      mmi_inputs[2] = xz;
      const std::string acc = b.fresh(n.outputs[0] + "_int32");
      WQ_RETURN_IF_ERROR(b.add("MatMulInteger", n.name + "_MatMulInteger", mmi_inputs, {acc}));
      const std::string accf = b.fresh(n.outputs[0] + "_int32_float");
      WQ_RETURN_IF_ERROR(b.add("Cast", n.name + "_Cast", {acc}, {accf}, {attr_int("to", 1)}));
      const std::string ws = b.fresh(base + "_scale");
      if (axis < 0) g.set_initializer(ws, Tensor::from_floats({}, {qw.params.scale}));
      else g.set_initializer(ws, Tensor::from_floats({N}, qw.params.scales));
      const std::string scale = b.fresh(n.outputs[0] + "_scale");
      WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_scale_Mul", {xs, ws}, {scale}));
      const Tensor* bias = is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty()
                               ? detail::float_initializer(graph_, n.inputs[2]) : nullptr;
      const bool has_bias = is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty();
      const std::string y = n.outputs[0];
      WQ_RETURN_IF_ERROR(g.remove_node(n.name));
      if (has_bias) {
        const std::string y0 = b.fresh(y + "_unbiased");
        WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_Mul", {accf, scale}, {y0}));
        std::string bias_name = n.inputs[2];
        if (beta != 1.0f) {
          if (!bias) return unsupported("node '" + n.name + "': Gemm with beta != 1 and a computed bias");
          WQ_ASSIGN_OR_RETURN(Tensor bt, bias->clone());
          for (int64_t k = 0; k < bt.numel(); ++k) bt.mutable_data<float>()[k] *= beta;
          bias_name = b.fresh(n.inputs[2] + "_beta");
          g.set_initializer(bias_name, bt);
        }
        WQ_RETURN_IF_ERROR(b.add("Add", n.name + "_bias_Add", {y0, bias_name}, {y}));
      } else {
        WQ_RETURN_IF_ERROR(b.add("Mul", n.name + "_Mul", {accf, scale}, {y}));
      }
      Json wrj = qw.report;
      wrj.set("node", n.name);
      weight_reports.push_back(std::move(wrj));
    } else {
      // Weight-only per-block MatMul/Gemm: com.microsoft MatMulNBits (4-bit, K-blocks).
      if (recipe_.weights.bits != 4)
        return unsupported("node '" + n.name + "': per-block 8-bit weights are not supported; use bits 4 or per-channel");
      Tensor wnk = wf;  // MatMulNBits stores B transposed: [N, K]
      if (p.weight_axis == 1) {
        const int64_t K = w.dim(0), N = w.dim(1);
        WQ_ASSIGN_OR_RETURN(wnk, Tensor::allocate(DType::kFloat32, {N, K}));
        for (int64_t r = 0; r < K; ++r)
          for (int64_t c = 0; c < N; ++c) wnk.mutable_data<float>()[c * K + r] = wf.data<float>()[r * N + c];
      }
      const int64_t N = wnk.dim(0), K = wnk.dim(1);
      const int bs = recipe_.weights.block_size;
      // K need not be a multiple of the block: the last block of each row is
      // padded (MatMulNBits: ceil(K / block_size) blocks per column).
      const int64_t blocks = (K + bs - 1) / bs;
      // Unsigned 4-bit codes: symmetric uses the implicit zero point 8.
      WeightRecipe wr = recipe_.weights;
      WQ_ASSIGN_OR_RETURN(QuantizedWeight qw, quantize_weight(base, wnk, 1, bs, wr, false, DType::kInt32));
      const int32_t* codes = qw.q.data<int32_t>();
      WQ_ASSIGN_OR_RETURN(Tensor packed, Tensor::zeros(DType::kUInt8, {N, blocks, bs / 2}));
      uint8_t* pd = packed.mutable_data<uint8_t>();
      const int32_t zp_shift = sym ? 8 : 0;  // symmetric codes are signed [-8, 7]
      for (int64_t r = 0; r < N; ++r) {
        for (int64_t c = 0; c < blocks * bs; ++c) {
          // Padding holds the block's zero code, so it dequantizes to exactly 0.
          const uint32_t u = c < K ? uint32_t(codes[r * K + c] + zp_shift) & 0xF
                                   : uint32_t(sym ? 8 : qw.params.zero_points[size_t(r * blocks + c / bs)]) & 0xF;
          const int64_t idx = r * blocks * bs + c;
          pd[idx / 2] |= uint8_t(u << ((idx & 1) * 4));
        }
      }
      const std::string bq = b.fresh(base + "_nbits");
      const std::string sc = b.fresh(base + "_scales");
      g.set_initializer(bq, packed);
      g.set_initializer(sc, Tensor::from_floats({N * blocks}, qw.params.scales));
      std::vector<std::string> ins = {n.inputs[0], bq, sc};
      if (!sym) {
        const int64_t zbytes = (blocks + 1) / 2;
        WQ_ASSIGN_OR_RETURN(Tensor zt, Tensor::zeros(DType::kUInt8, {N * zbytes}));
        for (int64_t r = 0; r < N; ++r)
          for (int64_t bl = 0; bl < blocks; ++bl)
            zt.mutable_data<uint8_t>()[r * zbytes + bl / 2] |=
                uint8_t((uint32_t(qw.params.zero_points[size_t(r * blocks + bl)]) & 0xF) << ((bl & 1) * 4));
        const std::string zn = b.fresh(base + "_zero_points");
        g.set_initializer(zn, zt);
        ins.push_back(zn);
      }
      const std::string y = n.outputs[0];
      const bool has_bias = is_gemm && n.inputs.size() > 2 && !n.inputs[2].empty();
      const std::string mm_out = has_bias ? b.fresh(y + "_unbiased") : y;
      WQ_RETURN_IF_ERROR(g.remove_node(n.name));
      WQ_RETURN_IF_ERROR(b.add("MatMulNBits", n.name + "_MatMulNBits", ins, {mm_out},
                               {attr_int("K", K), attr_int("N", N), attr_int("bits", 4), attr_int("block_size", bs)},
                               "com.microsoft"));
      used_ms_domain = true;
      if (has_bias) {
        std::string bias_name = n.inputs[2];
        if (beta != 1.0f) {
          const Tensor* bias = detail::float_initializer(graph_, n.inputs[2]);
          if (!bias) return unsupported("node '" + n.name + "': Gemm with beta != 1 and a computed bias");
          WQ_ASSIGN_OR_RETURN(Tensor bt, bias->clone());
          for (int64_t k = 0; k < bt.numel(); ++k) bt.mutable_data<float>()[k] *= beta;
          bias_name = b.fresh(n.inputs[2] + "_beta");
          g.set_initializer(bias_name, bt);
        }
        WQ_RETURN_IF_ERROR(b.add("Add", n.name + "_bias_Add", {mm_out, bias_name}, {y}));
      }
      Json wrj = qw.report;
      wrj.set("node", n.name);
      wrj.set("dtype", sym ? "int4" : "uint4");
      weight_reports.push_back(std::move(wrj));
    }
    nr.set("quantized", true);
    node_reports.push_back(std::move(nr));
    ++quantized_nodes;
  }

  // ---- static: QuantizeLinear/DequantizeLinear on activations -------------------
  if (recipe_.mode == QuantMode::kStatic) {
    std::set<std::string> graph_inputs;
    for (const auto& in : g.inputs()) graph_inputs.insert(in.name);
    // 4-bit activations travel in 8-bit containers behind a Clip to the
    // 16-level range: QuantizeLinear then yields exactly the 4-bit codes
    // (doc/quantization.md, "4-bit activations"). onnxruntime 1.30 rejects
    // uint4 activations around MaxPool at its default optimisation level, and
    // 8-bit containers run on the int8 kernels.
    const bool a4 = recipe_.activations.bits() == 4;
    const DType act_type = a4 ? (act_is_signed(recipe_.activations.dtype) ? DType::kInt8 : DType::kUInt8)
                              : recipe_.activations.dtype;
    for (const auto& kv : act_params) {
      const std::string& v = kv.first;
      std::string s, z;
      b.add_params(v, kv.second, act_type, &s, &z);
      const std::string vq = b.fresh(v + "_quantized");
      // The tensor QuantizeLinear reads: `in`, or its clipped copy (4-bit).
      auto clipped = [&](const std::string& in) -> Result<std::string> {
        if (!a4) return in;
        const QuantParams& qp = kv.second;
        const std::string lo = b.fresh(v + "_clip_min"), hi = b.fresh(v + "_clip_max"), out = b.fresh(v + "_clipped");
        g.set_initializer(lo, Tensor::from_floats({}, {float(qp.qmin() - qp.zero_point) * qp.scale}));
        g.set_initializer(hi, Tensor::from_floats({}, {float(qp.qmax() - qp.zero_point) * qp.scale}));
        WQ_RETURN_IF_ERROR(b.add("Clip", v + "_Clip4", {in, lo, hi}, {out}));
        return out;
      };
      if (graph_inputs.count(v)) {
        const std::string vdq = b.fresh(v + "_dequantized");
        rewire_consumers(&g, v, vdq, {});
        WQ_ASSIGN_OR_RETURN(std::string qin, clipped(v));
        WQ_RETURN_IF_ERROR(b.add("QuantizeLinear", v + "_QuantizeLinear", {qin, s, z}, {vq}));
        WQ_RETURN_IF_ERROR(b.add("DequantizeLinear", v + "_DequantizeLinear", {vq, s, z}, {vdq}));
      } else {
        // The producer now writes v_float; DequantizeLinear writes v, so
        // consumers and graph outputs keep their names.
        const std::string vf = b.fresh(v + "_float");
        bool found = false;
        std::string producer;
        for (const Node& n : g.nodes())
          for (const auto& o : n.outputs)
            if (o == v) { producer = n.name; found = true; }
        if (!found) continue;
        for (auto& o : g.mutable_node(producer)->outputs)
          if (o == v) o = vf;
        WQ_ASSIGN_OR_RETURN(std::string qin, clipped(vf));
        WQ_RETURN_IF_ERROR(b.add("QuantizeLinear", v + "_QuantizeLinear", {qin, s, z}, {vq}));
        WQ_RETURN_IF_ERROR(b.add("DequantizeLinear", v + "_DequantizeLinear", {vq, s, z}, {v}));
      }
    }
  }

  // ---- fp16: float16 initializers + Cast -------------------------------------------
  Json fp16_report = Json::object();
  if (recipe_.mode == QuantMode::kFp16) {
    int converted = 0, kept = 0;
    std::vector<std::string> names;
    for (const auto& kv : g.initializers())
      if (kv.second.dtype() == DType::kFloat32 && kv.second.numel() >= 16) names.push_back(kv.first);
    const auto consumers = detail::consumers_of(g);
    for (const std::string& name : names) {
      if (!consumers.count(name)) continue;
      const Tensor t = *g.find_initializer(name);
      const float* x = t.data<float>();
      bool fits = true;
      for (int64_t k = 0; k < t.numel() && fits; ++k) fits = std::isfinite(x[k]) && std::fabs(x[k]) <= 65504.0f;
      if (!fits) {
        ++kept;
        warnings_.push_back("initializer '" + name + "' kept in float32: values outside the float16 range");
        continue;
      }
      WQ_ASSIGN_OR_RETURN(Tensor h, Tensor::allocate(DType::kFloat16, t.shape()));
      uint16_t* hd = h.mutable_data<uint16_t>();
      for (int64_t k = 0; k < t.numel(); ++k) hd[k] = float_to_half(x[k]);
      const std::string hn = b.fresh(name + "_float16");
      const std::string fn = b.fresh(name + "_float");
      g.set_initializer(hn, h);
      rewire_consumers(&g, name, fn, {});
      WQ_RETURN_IF_ERROR(b.add("Cast", name + "_Cast", {hn}, {fn}, {attr_int("to", 1)}));
      ++converted;
    }
    fp16_report.set("initializersConverted", converted);
    fp16_report.set("initializersKept", kept);
  }

  // Drop initializers nothing reads any more (the float weights we replaced).
  {
    const auto consumers = detail::consumers_of(g);
    std::set<std::string> graph_ins;
    for (const auto& in : g.input_protos()) graph_ins.insert(in.name);
    std::vector<std::string> dead;
    for (const auto& kv : g.initializers())
      if (!consumers.count(kv.first) && !detail::is_graph_output(g, kv.first) && !graph_ins.count(kv.first) &&
          graph_.find_initializer(kv.first) != nullptr)
        dead.push_back(kv.first);
    for (const auto& name : dead) g.remove_initializer(name);
  }
  if (used_ms_domain && g.opset("com.microsoft") < 1) g.set_opset_import("com.microsoft", 1);
  WQ_RETURN_IF_ERROR(g.validate_and_sort());

  QuantizedModel out;
  out.graph = std::move(g);
  out.bytes = onnx::serialize_model(out.graph.to_proto());

  Json report = Json::object();
  report.set("version", 1);
  report.set("mode", quant_mode_name(recipe_.mode));
  report.set("recipe", recipe_to_json(recipe_));
  Json sizes = Json::object();
  sizes.set("floatParameterBytes", float_parameter_bytes(graph_));
  sizes.set("quantizedParameterBytes", float_parameter_bytes(out.graph));
  sizes.set("quantizedModelBytes", int64_t(out.bytes.size()));
  report.set("sizes", std::move(sizes));
  report.set("prepare", prepare_report_);
  Json calib = Json::object();
  calib.set("samples", samples_);
  calib.set("method", calibration_method_name(recipe_.calibration.observer.method));
  report.set("calibration", std::move(calib));
  report.set("quantizedNodes", quantized_nodes);
  report.set("nodes", std::move(node_reports));
  report.set("weights", std::move(weight_reports));
  report.set("activations", std::move(act_reports));
  if (recipe_.mode == QuantMode::kFp16) report.set("fp16", std::move(fp16_report));
  Json warnings = Json::array();
  for (const auto& w : warnings_) warnings.push_back(w);
  report.set("warnings", std::move(warnings));
  Json timings = Json::object();
  timings.set("prepareMs", prepare_ms_);
  timings.set("calibrateMs", calibrate_ms_);
  timings.set("quantizeMs", ms_since(t0));
  report.set("timings", std::move(timings));
  out.report = std::move(report);
  return out;
}

}  // namespace wq
