#include "core/train/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/graph/graph_edit.h"
#include "core/ops/ops_util.h"
#include "core/train/grad_util.h"
#include "core/train/train_op.h"

namespace wq {

const char* fake_quant_mode_name(FakeQuantMode mode) {
  switch (mode) {
    case FakeQuantMode::kFrozen: return "frozen";
    case FakeQuantMode::kMovingAverage: return "moving-average";
    case FakeQuantMode::kLearned: return "learned";
  }
  return "unknown";
}

Result<FakeQuantMode> parse_fake_quant_mode(const std::string& name) {
  if (name == "frozen") return FakeQuantMode::kFrozen;
  if (name == "moving-average") return FakeQuantMode::kMovingAverage;
  if (name == "learned") return FakeQuantMode::kLearned;
  return invalid_argument("fake-quantization mode '" + name + "' is not one of frozen, moving-average, learned");
}

namespace detail {
namespace {

// Node inputs: x, scale (float32, [] or [C]), zero_point (int32, same shape),
// and in moving-average mode range (float32, [2] or [C, 2]: min, max).
// Attributes: bits, signed, symmetric, axis (absent: per tensor), mode,
// momentum; kind ("weight"/"activation") and value (the original name) for
// reporting.
constexpr size_t kScale = 1, kZeroPoint = 2, kRange = 3;

struct FqAttrs {
  int bits = 8;
  bool is_signed = false;
  bool symmetric = false;
  int64_t axis = -1;  // -1: per tensor (after normalization: >= 0 per channel)
  bool per_channel = false;
  FakeQuantMode mode = FakeQuantMode::kFrozen;
  float momentum = 0.01f;
  int32_t qmin() const { return is_signed ? -(1 << (bits - 1)) : 0; }
  int32_t qmax() const { return is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
};

FakeQuantMode mode_of(const Node& node) {
  const onnx::AttributeProto* a = node.find_attribute("mode");
  if (a == nullptr) return FakeQuantMode::kFrozen;
  Result<FakeQuantMode> m = parse_fake_quant_mode(a->s);
  return m.ok() ? m.value() : FakeQuantMode::kFrozen;
}

Result<FqAttrs> read_attrs(const KernelInit& init) {
  FqAttrs a;
  WQ_ASSIGN_OR_RETURN(int64_t bits, int_attr(init, "bits", 8));
  if (bits != 8 && bits != 4) return invalid_model(init.context() + "bits must be 8 or 4, got " + std::to_string(bits));
  a.bits = static_cast<int>(bits);
  WQ_ASSIGN_OR_RETURN(int64_t s, int_attr(init, "signed", 0));
  a.is_signed = s != 0;
  WQ_ASSIGN_OR_RETURN(int64_t sym, int_attr(init, "symmetric", 0));
  a.symmetric = sym != 0;
  a.per_channel = init.has_attr("axis");
  WQ_ASSIGN_OR_RETURN(a.axis, int_attr(init, "axis", -1));
  WQ_ASSIGN_OR_RETURN(std::string mode, init.attr_string("mode", "frozen"));
  Result<FakeQuantMode> m = parse_fake_quant_mode(mode);
  if (!m.ok()) return m.status().with_context(init.context());
  a.mode = m.value();
  WQ_ASSIGN_OR_RETURN(a.momentum, float_attr(init, "momentum", 0.01f));
  if (!(a.momentum > 0.0f && a.momentum <= 1.0f))
    return invalid_model(init.context() + "momentum must be in (0, 1], got " + std::to_string(a.momentum));
  return a;
}

// The smallest scale forward uses: a learned scale pushed to <= 0 by an
// update is clamped instead of dividing by zero.
constexpr float kMinScale = 1e-12f;

class TrainFakeQuantize final : public TrainOp {
 public:
  TrainFakeQuantize(const KernelInit& init, FqAttrs attrs) : where_(init.context()), a_(attrs) {}

  Status forward(TrainOpContext& ctx) override {
    const Tensor* x = ctx.input(0);
    WQ_RETURN_IF_ERROR(require_f32(x, where_ + "x"));
    WQ_RETURN_IF_ERROR(layout(*x));
    const Tensor* scale = ctx.input(kScale);
    const Tensor* zp = ctx.input(kZeroPoint);
    WQ_RETURN_IF_ERROR(require_f32(scale, where_ + "scale"));
    if (zp == nullptr || zp->dtype() != DType::kInt32)
      return invalid_model(where_ + "zero_point must be an int32 tensor");
    if (scale->numel() != channels_ || zp->numel() != channels_)
      return invalid_argument(where_ + "scale/zero_point have " + std::to_string(scale->numel()) + "/" +
                              std::to_string(zp->numel()) + " values for " + std::to_string(channels_) + " channels");
    if (a_.mode == FakeQuantMode::kMovingAverage && ctx.mode() == TrainMode::kTrain) {
      WQ_RETURN_IF_ERROR(track_range(ctx, *x));
    }
    const float* ps = scale->data<float>();
    const int32_t* pz = zp->data<int32_t>();
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x->shape()));
    const float* px = x->data<float>();
    float* py = y->mutable_data<float>();
    const int32_t qmin = a_.qmin(), qmax = a_.qmax();
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t c = 0; c < channels_; ++c) {
        const float s = std::max(ps[c], kMinScale);
        const int32_t z = pz[c];
        const int64_t base = (o * channels_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i)
          py[base + i] = dequantize_value(quantize_value(px[base + i], s, z, qmin, qmax), s, z);
      }
    return Status::Ok();
  }

  Status backward(TrainOpContext& ctx) override {
    const Tensor* gy = ctx.output_grad(0);
    if (gy == nullptr) return Status::Ok();
    const Tensor* x = ctx.input(0);
    WQ_RETURN_IF_ERROR(layout(*x));
    const float* ps = ctx.input(kScale)->data<float>();
    const int32_t* pz = ctx.input(kZeroPoint)->data<int32_t>();
    const float* px = x->data<float>();
    const float* g = gy->data<float>();
    float* dx = nullptr;
    float* ds = nullptr;
    if (ctx.needs_input_grad(0)) {
      WQ_ASSIGN_OR_RETURN(dx, ctx.input_grad(0));
    }
    if (ctx.needs_input_grad(kScale)) {
      WQ_ASSIGN_OR_RETURN(ds, ctx.input_grad(kScale));
    }
    const int32_t qmin = a_.qmin(), qmax = a_.qmax();
    const int64_t per_scale = outer_ * inner_;
    for (int64_t c = 0; c < channels_; ++c) {
      const float s = std::max(ps[c], kMinScale);
      const int32_t z = pz[c];
      const float lo = static_cast<float>(qmin - z), hi = static_cast<float>(qmax - z);
      double sum_ds = 0;
      for (int64_t o = 0; o < outer_; ++o) {
        const int64_t base = (o * channels_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i) {
          const float v = px[base + i] / s;  // the division quantize_value rounds
          const bool inside = v >= lo && v <= hi;
          if (dx && inside) dx[base + i] += g[base + i];
          if (ds) {
            const float local = inside ? static_cast<float>(quantize_value(px[base + i], s, z, qmin, qmax) - z) - v
                                       : (v < lo ? lo : hi);
            sum_ds += static_cast<double>(g[base + i]) * local;
          }
        }
      }
      if (ds) {
        // LSQ's gradient scale: 1 / sqrt(elements per scale * positive levels).
        const double levels = std::max(1, qmax - z);
        ds[c] += static_cast<float>(sum_ds / std::sqrt(static_cast<double>(per_scale) * levels));
      }
    }
    return Status::Ok();
  }

 private:
  Status layout(const Tensor& x) {
    if (!a_.per_channel) {
      outer_ = 1;
      channels_ = 1;
      inner_ = x.numel();
      return Status::Ok();
    }
    WQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(a_.axis, static_cast<int64_t>(x.rank()), where_ + "axis"));
    outer_ = dims_product(x.shape(), 0, static_cast<size_t>(axis));
    channels_ = x.dim(static_cast<size_t>(axis));
    inner_ = dims_product(x.shape(), static_cast<size_t>(axis) + 1, x.rank());
    return Status::Ok();
  }

  // Moving-average mode: per channel, range += momentum * (batch - range);
  // scale and zero point from the new range, as calibration maps ranges.
  Status track_range(TrainOpContext& ctx, const Tensor& x) {
    Tensor* range = ctx.state_input(kRange);
    Tensor* scale = ctx.state_input(kScale);
    Tensor* zp = ctx.state_input(kZeroPoint);
    if (range == nullptr || scale == nullptr || zp == nullptr)
      return invalid_model(where_ + "moving-average mode needs scale, zero_point and range initializers");
    if (range->dtype() != DType::kFloat32 || range->numel() != 2 * channels_)
      return invalid_model(where_ + "range must be float with 2 values per channel");
    if (x.numel() == 0) return Status::Ok();
    const float* px = x.data<float>();
    float* pr = range->mutable_data<float>();
    QuantTarget target;
    target.bits = a_.bits;
    target.is_signed = a_.is_signed;
    target.symmetric = a_.symmetric;
    for (int64_t c = 0; c < channels_; ++c) {
      float mn = px[c * inner_], mx = mn;
      for (int64_t o = 0; o < outer_; ++o) {
        const float* p = px + (o * channels_ + c) * inner_;
        for (int64_t i = 0; i < inner_; ++i) {
          mn = std::min(mn, p[i]);
          mx = std::max(mx, p[i]);
        }
      }
      if (!std::isfinite(mn) || !std::isfinite(mx)) continue;  // a NaN batch is the trainer's to report
      pr[2 * c] += a_.momentum * (mn - pr[2 * c]);
      pr[2 * c + 1] += a_.momentum * (mx - pr[2 * c + 1]);
      Result<QuantParams> q = quant_params_for_range(pr[2 * c], pr[2 * c + 1], target);
      if (!q.ok()) return q.status().with_context(where_);
      scale->mutable_data<float>()[c] = q->scale;
      zp->mutable_data<int32_t>()[c] = q->zero_point;
    }
    return Status::Ok();
  }

  std::string where_;
  FqAttrs a_;
  int64_t outer_ = 1, channels_ = 1, inner_ = 0;
};

}  // namespace

void fake_quantize_input_roles(const Node& node, std::vector<InputRole>* roles) {
  const FakeQuantMode mode = mode_of(node);
  auto set = [&](size_t i, InputRole r) {
    if (i < roles->size()) (*roles)[i] = r;
  };
  set(kZeroPoint, mode == FakeQuantMode::kMovingAverage ? InputRole::kState : InputRole::kConstant);
  set(kRange, InputRole::kState);
  switch (mode) {
    case FakeQuantMode::kFrozen: set(kScale, InputRole::kConstant); break;
    case FakeQuantMode::kMovingAverage: set(kScale, InputRole::kState); break;
    case FakeQuantMode::kLearned: set(kScale, InputRole::kTrainable); break;
  }
}

Result<std::unique_ptr<TrainOp>> make_train_fake_quantize(const TrainOpInit& init) {
  WQ_ASSIGN_OR_RETURN(FqAttrs a, read_attrs(init));
  if (init.num_inputs() < 3) return invalid_model(init.context() + "needs x, scale and zero_point");
  return std::unique_ptr<TrainOp>(new TrainFakeQuantize(init, a));
}

}  // namespace detail

// ---- the pass ------------------------------------------------------------------------------

namespace {

Status check_tensor_config(const FakeQuantTensorConfig& c, const char* what) {
  if (c.bits != 8 && c.bits != 4)
    return invalid_argument(std::string(what) + ".bits must be 8 or 4, got " + std::to_string(c.bits));
  return Status::Ok();
}

// The weight input of a node to quantize and its per-channel axis, or -1.
int weight_input(const Node& n) {
  if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") return 1;
  return -1;
}

int64_t weight_axis(const Node& n, const Tensor& w) {
  if (n.op_type == "Conv") return 0;
  if (n.op_type == "Gemm") {
    const onnx::AttributeProto* t = n.find_attribute("transB");
    return t != nullptr && t->i != 0 ? 0 : 1;
  }
  return static_cast<int64_t>(w.rank()) - 1;  // MatMul: B [..., K, N], one scale per output column
}

class Names {
 public:
  explicit Names(const std::vector<Node>& nodes, const TrainSession& s) {
    for (const Node& n : nodes) {
      nodes_.insert(n.name);
      for (const auto& v : n.inputs) values_.insert(v);
      for (const auto& v : n.outputs) values_.insert(v);
    }
    session_ = &s;
  }
  std::string value(const std::string& base) {
    std::string name = base;
    for (int k = 1; values_.count(name) || session_->find_initializer(name); ++k) name = base + "_" + std::to_string(k);
    values_.insert(name);
    return name;
  }
  std::string node(const std::string& base) {
    std::string name = base;
    for (int k = 1; nodes_.count(name); ++k) name = base + "_" + std::to_string(k);
    nodes_.insert(name);
    return name;
  }

 private:
  std::set<std::string> nodes_, values_;
  const TrainSession* session_;
};

}  // namespace

Status insert_fake_quant(TrainSession* session, const FakeQuantConfig& config,
                         const std::map<std::string, FloatRange>& activation_ranges) {
  if (session == nullptr) return invalid_argument("insert_fake_quant: no session");
  WQ_RETURN_IF_ERROR(check_tensor_config(config.weights, "weights"));
  WQ_RETURN_IF_ERROR(check_tensor_config(config.activations, "activations"));
  if (config.activations.per_channel)
    return invalid_argument("activations.per_channel is not supported (activations are quantized per tensor)");
  if (!(config.momentum > 0.0f && config.momentum <= 1.0f))
    return invalid_argument("momentum must be in (0, 1], got " + std::to_string(config.momentum));
  for (const Node& n : session->nodes())
    if (n.op_type == "FakeQuantize" && n.domain == detail::kTrainOpDomain)
      return invalid_argument("the session already has fake quantization (node '" + n.name + "')");
  for (const auto& name : config.exclude_nodes) {
    bool found = false;
    for (const Node& n : session->nodes()) found |= n.name == name;
    if (!found) return not_found("exclude_nodes: no node named '" + name + "'");
  }
  for (const auto& name : config.weight_nodes) {
    bool found = false;
    for (const Node& n : session->nodes()) found |= n.name == name;
    if (!found) return not_found("weight_nodes: no node named '" + name + "'");
  }
  // Parameters' current values (the session may have trained already).
  auto current_value = [&](const std::string& name) -> const Tensor* {
    const TrainParameter* p = session->find_parameter(name);
    return p != nullptr ? &p->value : session->find_initializer(name);
  };
  std::vector<std::string> graph_outputs = session->output_names();

  return session->rewrite([&](std::vector<Node>& nodes, std::map<std::string, Tensor>& inits) -> Status {
    Names names(nodes, *session);
    auto selected = [&](const Node& n) {
      if (config.explicit_selection)
        return std::find(config.weight_nodes.begin(), config.weight_nodes.end(), n.name) != config.weight_nodes.end();
      return n.domain.empty() &&
             std::find(config.op_types.begin(), config.op_types.end(), n.op_type) != config.op_types.end() &&
             std::find(config.exclude_nodes.begin(), config.exclude_nodes.end(), n.name) == config.exclude_nodes.end();
    };
    std::map<std::string, std::vector<size_t>> consumers;
    std::map<std::string, size_t> producer;
    for (size_t k = 0; k < nodes.size(); ++k) {
      for (const auto& v : nodes[k].inputs)
        if (!v.empty()) consumers[v].push_back(k);
      for (const auto& v : nodes[k].outputs)
        if (!v.empty()) producer[v] = k;
    }
    auto is_graph_output = [&](const std::string& v) {
      return std::find(graph_outputs.begin(), graph_outputs.end(), v) != graph_outputs.end();
    };

    // What to quantize: weights by (node, input) edge; activations by value.
    struct WeightEdge {
      size_t node;
      std::string value;
    };
    std::vector<WeightEdge> weights;
    std::vector<std::string> activations;  // in discovery order
    auto add_activation = [&](const std::string& v) {
      if (!v.empty() && std::find(activations.begin(), activations.end(), v) == activations.end())
        activations.push_back(v);
    };
    for (size_t k = 0; k < nodes.size(); ++k) {
      const Node& n = nodes[k];
      if (!selected(n)) continue;
      const int wi = weight_input(n);
      for (size_t i = 0; i < n.inputs.size() && i < 2; ++i) {
        const std::string& v = n.inputs[i];
        if (v.empty()) continue;
        const Tensor* init = current_value(v);
        if (static_cast<int>(i) == wi && init != nullptr) {
          if (init->dtype() == DType::kFloat32) weights.push_back({k, v});
        } else if (init == nullptr && config.quantize_inputs && !config.explicit_selection) {
          add_activation(v);
        }
      }
      if (config.explicit_selection) continue;
      if (config.quantize_outputs && !n.outputs.empty()) {
        std::string out = n.outputs[0];
        // A lone Relu/Clip after the node: quantize its output instead.
        auto it = consumers.find(out);
        if (config.fuse_activations && it != consumers.end() && it->second.size() == 1 && !is_graph_output(out)) {
          const Node& next = nodes[it->second[0]];
          if ((next.op_type == "Relu" || next.op_type == "Clip") && next.domain.empty() && !next.outputs.empty())
            out = next.outputs[0];
        }
        add_activation(out);
      }
    }

    if (config.explicit_selection) {
      for (const std::string& v : config.activation_values) {
        if (!producer.count(v) && !consumers.count(v))
          return not_found("activation_values: no value named '" + v + "' in the session");
        add_activation(v);
      }
    }

    // FakeQuantize nodes to insert before node index k (inputs) or after (outputs).
    std::map<size_t, std::vector<Node>> before, after;
    auto make_fq = [&](const std::string& in, const std::string& out, const std::string& value, bool is_weight,
                       const FakeQuantTensorConfig& c, const QuantParams& qp, int64_t axis,
                       const std::vector<FloatRange>& ranges) -> Node {
      Node fq;
      fq.name = names.node(value + "/FakeQuantize");
      fq.op_type = "FakeQuantize";
      fq.domain = detail::kTrainOpDomain;
      const int64_t channels = static_cast<int64_t>(ranges.size());
      const Shape shape = axis >= 0 ? Shape{channels} : Shape{};
      Tensor scale = Tensor::allocate(DType::kFloat32, shape).value();
      Tensor zp = Tensor::allocate(DType::kInt32, shape).value();
      for (int64_t c2 = 0; c2 < channels; ++c2) {
        scale.mutable_data<float>()[c2] = qp.scale_at(static_cast<size_t>(c2));
        zp.mutable_data<int32_t>()[c2] = qp.zero_point_at(static_cast<size_t>(c2));
      }
      const std::string scale_name = names.value(value + "/fq_scale");
      const std::string zp_name = names.value(value + "/fq_zero_point");
      inits[scale_name] = scale;
      inits[zp_name] = zp;
      fq.inputs = {in, scale_name, zp_name};
      if (c.mode == FakeQuantMode::kMovingAverage) {
        Tensor range = Tensor::allocate(DType::kFloat32, axis >= 0 ? Shape{channels, 2} : Shape{2}).value();
        for (int64_t c2 = 0; c2 < channels; ++c2) {
          range.mutable_data<float>()[2 * c2] = ranges[static_cast<size_t>(c2)].min;
          range.mutable_data<float>()[2 * c2 + 1] = ranges[static_cast<size_t>(c2)].max;
        }
        const std::string range_name = names.value(value + "/fq_range");
        inits[range_name] = range;
        fq.inputs.push_back(range_name);
      }
      fq.outputs = {out};
      fq.attributes = {detail::attr_int("bits", c.bits), detail::attr_int("signed", c.is_signed ? 1 : 0),
                       detail::attr_int("symmetric", c.symmetric ? 1 : 0),
                       detail::attr_string("mode", fake_quant_mode_name(c.mode)),
                       detail::attr_float("momentum", config.momentum),
                       detail::attr_string("kind", is_weight ? "weight" : "activation"),
                       detail::attr_string("value", value)};
      if (axis >= 0) fq.attributes.push_back(detail::attr_int("axis", axis));
      return fq;
    };

    QuantTarget wt;
    wt.bits = config.weights.bits;
    wt.is_signed = config.weights.is_signed;
    wt.symmetric = config.weights.symmetric;
    QuantTarget at;
    at.bits = config.activations.bits;
    at.is_signed = config.activations.is_signed;
    at.symmetric = config.activations.symmetric;

    // Weights: one FakeQuantize per weight value, before its first selected consumer.
    std::map<std::string, std::string> weight_fq;  // weight -> quantized name
    for (const WeightEdge& e : weights) {
      Node& consumer = nodes[e.node];
      auto done = weight_fq.find(e.value);
      if (done != weight_fq.end()) {
        consumer.inputs[1] = done->second;
        continue;
      }
      const Tensor* w = current_value(e.value);
      std::vector<FloatRange> ranges;
      QuantParams qp;
      int64_t axis = -1;
      if (config.weights.per_channel && w->rank() >= 1) {
        axis = weight_axis(consumer, *w);
        WQ_ASSIGN_OR_RETURN(ranges, weight_ranges(w->data<float>(), w->shape(), static_cast<int>(axis), 0));
        Result<QuantParams> q = weight_quant_params(w->data<float>(), w->shape(), static_cast<int>(axis), 0, wt);
        if (!q.ok()) return q.status().with_context("weight '" + e.value + "': ");
        qp = q.value();
      } else {
        FloatRange r{0.0f, 0.0f};
        if (w->numel() > 0) {
          const float* p = w->data<float>();
          r.min = *std::min_element(p, p + w->numel());
          r.max = *std::max_element(p, p + w->numel());
        }
        ranges = {r};
        Result<QuantParams> q = quant_params_for_range(r.min, r.max, wt);
        if (!q.ok()) return q.status().with_context("weight '" + e.value + "': ");
        qp = q.value();
      }
      const std::string out = names.value(e.value + "/quantized");
      before[e.node].push_back(make_fq(e.value, out, e.value, true, config.weights, qp, axis, ranges));
      weight_fq[e.value] = out;
      consumer.inputs[1] = out;
    }

    // Activations: produced by a node -> that output is renamed and the
    // FakeQuantize takes the original name (every consumer and the graph
    // output see the quantized value); a graph input -> the selected
    // consumers read a quantized copy.
    for (const std::string& v : activations) {
      auto r = activation_ranges.find(v);
      if (r == activation_ranges.end())
        return invalid_argument("no initial range for activation '" + v + "' (calibrate it first)");
      Result<QuantParams> q = quant_params_for_range(r->second.min, r->second.max, at);
      if (!q.ok()) return q.status().with_context("activation '" + v + "': ");
      auto p = producer.find(v);
      if (p != producer.end()) {
        const std::string raw = names.value(v + "/float");
        for (auto& o : nodes[p->second].outputs)
          if (o == v) o = raw;
        after[p->second].push_back(make_fq(raw, v, v, false, config.activations, q.value(), -1, {r->second}));
      } else {
        const std::string out = names.value(v + "/quantized");
        bool first = true;
        for (size_t k : consumers[v]) {
          if (!config.explicit_selection && !selected(nodes[k])) continue;
          if (first) before[k].push_back(make_fq(v, out, v, false, config.activations, q.value(), -1, {r->second}));
          first = false;
          for (auto& in : nodes[k].inputs)
            if (in == v) in = out;
        }
      }
    }

    std::vector<Node> result;
    for (size_t k = 0; k < nodes.size(); ++k) {
      for (Node& n : before[k]) result.push_back(std::move(n));
      result.push_back(std::move(nodes[k]));
      for (Node& n : after[k]) result.push_back(std::move(n));
    }
    nodes = std::move(result);
    return Status::Ok();
  });
}

Result<std::vector<FakeQuantState>> fake_quant_state(const TrainSession& session) {
  std::vector<FakeQuantState> out;
  auto current = [&](const std::string& name) -> const Tensor* {
    if (const TrainParameter* p = session.find_parameter(name)) return &p->value;
    auto it = session.state().find(name);
    if (it != session.state().end()) return &it->second;
    return session.find_initializer(name);
  };
  for (const Node& n : session.nodes()) {
    if (n.op_type != "FakeQuantize" || n.domain != detail::kTrainOpDomain) continue;
    FakeQuantState st;
    st.node = n.name;
    const onnx::AttributeProto* value = n.find_attribute("value");
    st.value = value != nullptr ? value->s : n.inputs[0];
    const onnx::AttributeProto* kind = n.find_attribute("kind");
    st.is_weight = kind != nullptr && kind->s == "weight";
    st.mode = detail::mode_of(n);
    const Tensor* scale = n.inputs.size() > 1 ? current(n.inputs[1]) : nullptr;
    const Tensor* zp = n.inputs.size() > 2 ? current(n.inputs[2]) : nullptr;
    if (scale == nullptr || zp == nullptr || zp->dtype() != DType::kInt32 || scale->numel() != zp->numel())
      return internal_error("FakeQuantize '" + n.name + "' has no scale/zero point");
    const onnx::AttributeProto* bits = n.find_attribute("bits");
    const onnx::AttributeProto* sgn = n.find_attribute("signed");
    const onnx::AttributeProto* axis = n.find_attribute("axis");
    st.params.bits = bits != nullptr ? static_cast<int>(bits->i) : 8;
    st.params.is_signed = sgn != nullptr && sgn->i != 0;
    const int32_t qmin = st.params.qmin(), qmax = st.params.qmax();
    std::vector<float> scales(scale->data<float>(), scale->data<float>() + scale->numel());
    std::vector<int32_t> zps(zp->data<int32_t>(), zp->data<int32_t>() + zp->numel());
    for (auto& s : scales) s = std::max(s, detail::kMinScale);
    if (axis != nullptr) {
      st.params.scales = scales;
      st.params.zero_points = zps;
      st.params.axis = static_cast<int>(axis->i);
      st.params.scale = scales.empty() ? 1.0f : scales[0];
      st.params.zero_point = zps.empty() ? 0 : zps[0];
    } else {
      st.params.scale = scales.at(0);
      st.params.zero_point = zps.at(0);
    }
    for (size_t c = 0; c < scales.size(); ++c)
      st.ranges.push_back({static_cast<float>(qmin - zps[c]) * scales[c], static_cast<float>(qmax - zps[c]) * scales[c]});
    out.push_back(std::move(st));
  }
  return out;
}

Result<Graph> export_qdq_graph(const TrainSession& session) {
  WQ_ASSIGN_OR_RETURN(Graph g, session.export_graph());
  WQ_ASSIGN_OR_RETURN(std::vector<FakeQuantState> states, fake_quant_state(session));
  std::map<std::string, const FakeQuantState*> by_node;
  for (const auto& s : states) by_node[s.node] = &s;
  const int64_t opset = g.opset("");
  std::vector<std::string> old_nodes;
  for (const Node& n : g.nodes()) old_nodes.push_back(n.name);
  for (const auto& name : old_nodes) WQ_RETURN_IF_ERROR(g.remove_node(name));
  for (const Node& n : session.nodes()) {
    auto it = by_node.find(n.name);
    if (it == by_node.end()) {
      WQ_RETURN_IF_ERROR(g.add_node(n));
      continue;
    }
    const FakeQuantState& s = *it->second;
    const std::string ctx = "FakeQuantize '" + n.name + "': ";
    if (s.params.per_channel() && opset < 13)
      return unsupported(ctx + "per-channel QuantizeLinear needs opset >= 13, the model has " + std::to_string(opset));
    if (s.params.bits == 4 && opset < 21)
      return unsupported(ctx + "4-bit QuantizeLinear needs opset >= 21, the model has " + std::to_string(opset));
    const DType qtype = s.params.dtype();
    const size_t channels = s.params.per_channel() ? s.params.scales.size() : 1;
    const Shape shape = s.params.per_channel() ? Shape{static_cast<int64_t>(channels)} : Shape{};
    WQ_ASSIGN_OR_RETURN(Tensor scale, Tensor::allocate(DType::kFloat32, shape));
    WQ_ASSIGN_OR_RETURN(Tensor zp, Tensor::zeros(qtype, shape));
    for (size_t c = 0; c < channels; ++c) {
      scale.mutable_data<float>()[c] = s.params.scale_at(c);
      const int32_t z = s.params.zero_point_at(c);
      uint8_t* raw = static_cast<uint8_t*>(zp.mutable_raw());
      if (s.params.bits == 8) {
        raw[c] = static_cast<uint8_t>(z & 0xff);
      } else {
        const uint8_t nib = static_cast<uint8_t>(z & 0x0f);
        raw[c / 2] = static_cast<uint8_t>(c % 2 ? (raw[c / 2] & 0x0f) | (nib << 4) : (raw[c / 2] & 0xf0) | nib);
      }
    }
    const std::string scale_name = n.inputs[1] + "/qdq_scale", zp_name = n.inputs[1] + "/qdq_zero_point";
    g.set_initializer(scale_name, scale);
    g.set_initializer(zp_name, zp);
    const std::string q = n.outputs[0] + "/q";
    Node qn, dq;
    qn.name = n.name + "/QuantizeLinear";
    qn.op_type = "QuantizeLinear";
    qn.inputs = {n.inputs[0], scale_name, zp_name};
    qn.outputs = {q};
    dq.name = n.name + "/DequantizeLinear";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {q, scale_name, zp_name};
    dq.outputs = {n.outputs[0]};
    if (s.params.per_channel()) {
      qn.attributes.push_back(detail::attr_int("axis", s.params.axis));
      dq.attributes.push_back(detail::attr_int("axis", s.params.axis));
    }
    WQ_RETURN_IF_ERROR(g.add_node(std::move(qn)));
    WQ_RETURN_IF_ERROR(g.add_node(std::move(dq)));
  }
  WQ_RETURN_IF_ERROR(g.validate_and_sort());
  return g;
}

}  // namespace wq
