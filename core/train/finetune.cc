#include "core/train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <set>

#include "core/graph/graph_edit.h"
#include "core/onnx/onnx_proto.h"
#include "core/train/fake_quant.h"
#include "core/train/optimizer.h"

namespace wq {

namespace {

constexpr double kPi = 3.14159265358979323846;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Result<std::unique_ptr<Optimizer>> make_optimizer(const TrainingRecipe& t) {
  if (t.optimizer == "sgd") {
    SgdOptions o;
    o.learning_rate = float(t.learning_rate);
    o.momentum = float(t.momentum);
    o.weight_decay = float(t.weight_decay);
    return make_sgd(o);
  }
  AdamOptions o;
  o.learning_rate = float(t.learning_rate);
  o.weight_decay = float(t.weight_decay);
  o.decoupled_weight_decay = true;
  return make_adam(o);
}

Result<FakeQuantMode> range_mode(const std::string& name, const char* field) {
  Result<FakeQuantMode> m = parse_fake_quant_mode(name);
  if (!m.ok()) return invalid_argument(std::string("recipe.training.") + field + ": " + m.status().message());
  return m;
}

}  // namespace

FineTuner::FineTuner() = default;
FineTuner::~FineTuner() = default;

Result<std::unique_ptr<FineTuner>> FineTuner::create(const Graph& float_graph, const Recipe& recipe) {
  if (!recipe.has_training)
    return invalid_argument("recipe.training: missing (fine-tuning needs epochs, batchSize, learningRate, ...)");
  if (recipe.mode != QuantMode::kStatic)
    return invalid_argument(std::string("recipe.mode: quantization-aware fine-tuning needs \"static\" (got \"") +
                            quant_mode_name(recipe.mode) + "\")");
  if (recipe.training.initialize != "keep")
    return invalid_argument("recipe.training.initialize: \"" + recipe.training.initialize +
                            "\" is for float training; quantization-aware fine-tuning starts from the trained model");
  WQ_RETURN_IF_ERROR(range_mode(recipe.training.weight_ranges, "weightRanges").status());
  WQ_RETURN_IF_ERROR(range_mode(recipe.training.activation_ranges, "activationRanges").status());
  std::unique_ptr<FineTuner> ft(new FineTuner());
  ft->training_ = recipe.training;
  ft->recipe_ = recipe;
  ft->graph_ = float_graph;
  WQ_ASSIGN_OR_RETURN(ft->quantizer_, Quantizer::create(float_graph, recipe));
  const Graph& prepared = ft->quantizer_->prepared_graph();
  ft->output_ = recipe.training.output.empty() && !prepared.outputs().empty() ? prepared.outputs()[0].name
                                                                               : recipe.training.output;
  bool found = false;
  for (const auto& o : prepared.outputs()) found |= o.name == ft->output_;
  if (!found) return invalid_argument("recipe.training.output: the model has no output named '" + ft->output_ + "'");
  return ft;
}

Result<std::unique_ptr<FineTuner>> FineTuner::create_float(const Graph& graph, const TrainingRecipe& training) {
  std::unique_ptr<FineTuner> ft(new FineTuner());
  ft->training_ = training;
  ft->graph_ = graph;
  if (training.initialize == "random") {
    Graph g = graph;
    WQ_RETURN_IF_ERROR(initialize_weights(&g, uint64_t(training.seed)).status());
    ft->graph_ = std::move(g);
  }
  ft->output_ = training.output.empty() && !graph.outputs().empty() ? graph.outputs()[0].name : training.output;
  bool found = false;
  for (const auto& o : graph.outputs()) found |= o.name == ft->output_;
  if (!found) return invalid_argument("recipe.training.output: the model has no output named '" + ft->output_ + "'");
  // Made now, so an op without a gradient is reported before any data is read.
  WQ_ASSIGN_OR_RETURN(ft->pending_, TrainSession::create(ft->graph_));
  return ft;
}

Status FineTuner::calibrate(const std::map<std::string, Tensor>& feeds) {
  if (!quantizer_) return failed_precondition("calibration is only used by quantization-aware fine-tuning");
  if (started_) return failed_precondition("calibration samples must come before the first training step");
  return quantizer_->calibrate(feeds);
}

int64_t FineTuner::calibration_samples() const { return quantizer_ ? quantizer_->samples_seen() : 0; }

Status FineTuner::set_total_steps(int64_t steps) {
  if (steps < 0) return invalid_argument("total steps must be >= 0, got " + std::to_string(steps));
  total_steps_ = steps;
  return Status::Ok();
}

int64_t FineTuner::steps() const { return trainer_ ? trainer_->steps() : 0; }

float FineTuner::learning_rate_at(int64_t step) const {
  const double base = training_.learning_rate;
  const int64_t warm = training_.warmup_steps;
  if (step < warm) return float(base * double(step + 1) / double(warm + 1));
  int64_t total = total_steps_;
  if (training_.max_steps > 0) total = total > 0 ? std::min<int64_t>(total, training_.max_steps) : training_.max_steps;
  if (training_.schedule != "cosine" || total <= warm) return float(base);
  const double t = std::min(1.0, double(step - warm) / double(std::max<int64_t>(1, total - warm)));
  // Cosine to zero, with a floor so the last steps still move (and stay > 0).
  return float(std::max(base * 0.5 * (1.0 + std::cos(kPi * t)), base * 1e-3));
}

Status FineTuner::start(bool with_labels) {
  with_labels_ = with_labels;
  const std::string& l = training_.loss;
  if (l == "auto") loss_ = with_labels ? LossKind::kCrossEntropy : LossKind::kDistillation;
  else if (l == "cross-entropy") loss_ = LossKind::kCrossEntropy;
  else if (l == "distillation") loss_ = LossKind::kDistillation;
  else loss_ = LossKind::kMse;
  if (loss_ == LossKind::kCrossEntropy && !with_labels)
    return invalid_argument("recipe.training.loss: \"cross-entropy\" needs labels; without labels use \"distillation\" or \"mse\"");
  if (loss_ == LossKind::kDistillation && with_labels)
    return invalid_argument("recipe.training.loss: \"distillation\" learns from the float model, not from labels; "
                            "drop the labels or use \"cross-entropy\"");

  std::unique_ptr<TrainSession> session;
  if (quantizer_) {
    if (quantizer_->samples_seen() == 0)
      return failed_precondition("quantization-aware fine-tuning needs calibration samples before the first step "
                                 "(they initialise the quantization ranges)");
    WQ_ASSIGN_OR_RETURN(session, TrainSession::create(quantizer_->prepared_graph()));
    WQ_ASSIGN_OR_RETURN(auto ranges, quantizer_->activation_ranges());
    std::set<std::string> shared;
    for (const auto& s : quantizer_->shared_activations()) shared.insert(s.first);
    FakeQuantConfig c;
    c.explicit_selection = true;
    for (const auto& wn : quantizer_->weight_nodes()) c.weight_nodes.push_back(wn.first);
    std::map<std::string, FloatRange> initial;
    for (const auto& kv : ranges) {
      if (shared.count(kv.first)) continue;
      c.activation_values.push_back(kv.first);
      initial[kv.first] = kv.second;
    }
    const WeightRecipe& w = recipe_.weights;
    WQ_ASSIGN_OR_RETURN(FakeQuantMode wm, range_mode(training_.weight_ranges, "weightRanges"));
    WQ_ASSIGN_OR_RETURN(FakeQuantMode am, range_mode(training_.activation_ranges, "activationRanges"));
    c.weights = {w.bits, w.symmetric, w.symmetric, w.granularity != Granularity::kPerTensor, wm};
    const QuantTarget at = QuantTarget::for_dtype(recipe_.activations.dtype, recipe_.activations.symmetric);
    c.activations = {at.bits, at.is_signed, at.symmetric, false, am};
    c.momentum = float(training_.range_momentum);
    Status st = insert_fake_quant(session.get(), c, initial);
    if (!st.ok()) return st.with_context("inserting fake quantization: ");
    fake_quant_nodes_ = int(c.weight_nodes.size() + c.activation_values.size());
  } else {
    session = std::move(pending_);
  }
  if (!with_labels) {
    Result<std::unique_ptr<Session>> t = Session::create(graph_);
    if (!t.ok()) return t.status().with_context("preparing the float teacher: ");
    teacher_ = std::move(t).value();
  }
  WQ_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt, make_optimizer(training_));
  TrainerOptions o;
  o.output = output_;
  o.loss = loss_;
  o.temperature = float(training_.temperature);
  WQ_ASSIGN_OR_RETURN(trainer_, Trainer::create(std::move(session), std::move(opt), o));
  started_ = true;
  return Status::Ok();
}

Result<Tensor> FineTuner::target_for(const std::map<std::string, Tensor>& feeds, const Tensor* labels) {
  if (labels) return *labels;
  Result<std::map<std::string, Tensor>> out = teacher_->run(feeds, {output_});
  if (!out.ok()) return out.status().with_context("float teacher: ");
  return out->at(output_);
}

Result<FineTuneStep> FineTuner::step(const std::map<std::string, Tensor>& feeds, const Tensor* labels) {
  if (!started_) WQ_RETURN_IF_ERROR(start(labels != nullptr));
  if ((labels != nullptr) != with_labels_)
    return invalid_argument(std::string("step ") + std::to_string(trainer_->steps()) + ": this run trains " +
                            (with_labels_ ? "with labels, but the batch has none"
                                          : "from the float model (no labels), but the batch has labels"));
  if (training_.max_steps > 0 && trainer_->steps() >= training_.max_steps)
    return failed_precondition("recipe.training.maxSteps: " + std::to_string(training_.max_steps) + " steps done");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string where = "step " + std::to_string(trainer_->steps()) + ": ";
  Result<Tensor> target = target_for(feeds, labels);
  if (!target.ok()) return target.status().with_context(where);
  const float lr = learning_rate_at(trainer_->steps());
  WQ_RETURN_IF_ERROR(trainer_->optimizer().set_learning_rate(lr));
  Result<StepResult> r = trainer_->step(feeds, *target);
  if (!r.ok()) return r.status();
  train_ms_ += ms_since(t0);
  samples_trained_ += r->samples;
  FineTuneStep s;
  s.step = r->step;
  s.loss = r->loss;
  s.samples = r->samples;
  s.correct = r->correct;
  s.learning_rate = lr;
  return s;
}

Status FineTuner::begin(bool with_labels) {
  if (started_) {
    if (with_labels != with_labels_)
      return failed_precondition(std::string("this run already trains ") + (with_labels_ ? "with labels" : "without labels"));
    return Status::Ok();
  }
  return start(with_labels);
}

Result<FineTuneStep> FineTuner::evaluate(const std::map<std::string, Tensor>& feeds, const Tensor* labels) {
  if (!started_) WQ_RETURN_IF_ERROR(start(labels != nullptr));
  FineTuneStep s;
  s.step = trainer_->steps();
  s.learning_rate = trainer_->optimizer().learning_rate();
  if (labels != nullptr && !with_labels_) {
    // Validation labels in a label-free run: score against them directly.
    WQ_ASSIGN_OR_RETURN(auto out, trainer_->session().forward(feeds, TrainMode::kEval, {output_}));
    const Tensor& logits = out.at(output_);
    WQ_ASSIGN_OR_RETURN(LossResult l, cross_entropy_loss(logits, *labels));
    WQ_ASSIGN_OR_RETURN(s.correct, count_top1_correct(logits, *labels));
    s.loss = l.value;
    s.samples = logits.rank() > 0 ? logits.dim(0) : 1;
    return s;
  }
  if (labels == nullptr && with_labels_)
    return invalid_argument("evaluate: this run trains with labels, but the batch has none");
  WQ_ASSIGN_OR_RETURN(Tensor target, target_for(feeds, labels));
  WQ_ASSIGN_OR_RETURN(StepResult r, trainer_->evaluate(feeds, target));
  s.loss = r.loss;
  s.samples = r.samples;
  s.correct = r.correct;
  return s;
}

Result<QuantizedModel> FineTuner::finish() {
  if (!started_) return failed_precondition("finish: no training step has run");
  const TrainSession& session = trainer_->session();
  Json training = Json::object();
  training.set("steps", trainer_->steps());
  training.set("samples", samples_trained_);
  training.set("trainMs", train_ms_);
  training.set("samplesPerSecond", train_ms_ > 0 ? double(samples_trained_) * 1000.0 / train_ms_ : 0.0);
  training.set("loss", loss_kind_name(loss_));
  training.set("withLabels", with_labels_);
  training.set("optimizer", training_.optimizer);
  training.set("output", output_);
  training.set("quantizationAware", quantizer_ != nullptr);
  if (!trainer_->failure().ok()) training.set("stoppedBy", trainer_->failure().message());

  if (!quantizer_) {
    QuantizedModel out;
    WQ_ASSIGN_OR_RETURN(out.graph, session.export_graph());
    out.bytes = onnx::serialize_model(out.graph.to_proto());
    Json report = Json::object();
    report.set("training", std::move(training));
    out.report = std::move(report);
    return out;
  }

  // The trained float weights, quantized with the trained parameters.
  WQ_ASSIGN_OR_RETURN(Graph trained, session.export_graph());
  WQ_ASSIGN_OR_RETURN(std::vector<FakeQuantState> states, fake_quant_state(session));
  Result<std::unique_ptr<Quantizer>> qr = Quantizer::create(trained, recipe_);
  if (!qr.ok()) return qr.status().with_context("quantizing the trained model: ");
  std::unique_ptr<Quantizer> q = std::move(qr).value();
  int weights = 0, activations = 0;
  for (const FakeQuantState& s : states) {
    if (s.is_weight) {
      Status st = q->set_weight_params(s.value, s.params);
      if (!st.ok()) return st.with_context("trained weight parameters: ");
      ++weights;
    } else {
      Status st = q->set_activation_params(s.value, s.params);
      if (!st.ok()) return st.with_context("trained activation parameters: ");
      ++activations;
    }
  }
  // Values without a FakeQuantize take another's parameters at export; give
  // them a range too so finish() has every activation.
  WQ_ASSIGN_OR_RETURN(auto calibrated, quantizer_->activation_ranges());
  std::set<std::string> have;
  for (const auto& s : states)
    if (!s.is_weight) have.insert(s.value);
  for (const auto& kv : calibrated)
    if (!have.count(kv.first)) WQ_RETURN_IF_ERROR(q->set_activation_range(kv.first, kv.second.min, kv.second.max));
  training.set("trainedWeightParams", weights);
  training.set("trainedActivationParams", activations);
  training.set("calibrationSamples", quantizer_->samples_seen());
  Result<QuantizedModel> out = q->finish();
  if (!out.ok()) return out.status().with_context("quantizing the trained model: ");
  out->report.set("training", std::move(training));
  return out;
}

Result<int> initialize_weights(Graph* graph, uint64_t seed) {
  std::mt19937_64 rng(seed);
  int written = 0;
  auto fill = [&](const std::string& name, float lo, float hi, bool uniform) -> Status {
    const Tensor* t = detail::float_initializer(*graph, name);
    if (!t) return Status::Ok();
    WQ_ASSIGN_OR_RETURN(Tensor v, Tensor::allocate(DType::kFloat32, t->shape()));
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < v.numel(); ++i) v.mutable_data<float>()[i] = uniform ? u(rng) : lo;
    graph->set_initializer(name, std::move(v));
    ++written;
    return Status::Ok();
  };
  for (const Node& n : graph->nodes()) {
    if (!n.domain.empty()) continue;
    const bool conv = n.op_type == "Conv", gemm = n.op_type == "Gemm", matmul = n.op_type == "MatMul";
    if (conv || gemm || matmul) {
      if (n.inputs.size() < 2) continue;
      const Tensor* w = detail::float_initializer(*graph, n.inputs[1]);
      if (!w || w->rank() < 2) continue;
      int64_t fan_in = 1;
      if (conv) {
        for (size_t d = 1; d < w->rank(); ++d) fan_in *= w->dim(d);
      } else if (gemm) {
        fan_in = detail::node_attr_int(n, "transB", 0) ? w->dim(1) : w->dim(0);
      } else {
        fan_in = w->dim(0);
      }
      const float bound = std::sqrt(6.0f / float(std::max<int64_t>(1, fan_in)));
      WQ_RETURN_IF_ERROR(fill(n.inputs[1], -bound, bound, true));
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) WQ_RETURN_IF_ERROR(fill(n.inputs[2], 0.0f, 0.0f, false));
    } else if (n.op_type == "BatchNormalization" && n.inputs.size() >= 5) {
      WQ_RETURN_IF_ERROR(fill(n.inputs[1], 1.0f, 1.0f, false));
      WQ_RETURN_IF_ERROR(fill(n.inputs[2], 0.0f, 0.0f, false));
      WQ_RETURN_IF_ERROR(fill(n.inputs[3], 0.0f, 0.0f, false));
      WQ_RETURN_IF_ERROR(fill(n.inputs[4], 1.0f, 1.0f, false));
    }
  }
  if (written == 0) return invalid_argument("recipe.training.initialize: the model has no Conv/Gemm/MatMul weights to initialise");
  return written;
}

}  // namespace wq
