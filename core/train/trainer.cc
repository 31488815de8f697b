#include "core/train/trainer.h"

#include <cmath>
#include <utility>
#include <vector>

#include "core/train/grad_util.h"

namespace wq {

Result<LossKind> parse_loss_kind(const std::string& name) {
  if (name == "cross-entropy") return LossKind::kCrossEntropy;
  if (name == "mse") return LossKind::kMse;
  if (name == "distillation") return LossKind::kDistillation;
  return invalid_argument("loss '" + name + "' is not one of cross-entropy, mse, distillation");
}

const char* loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::kCrossEntropy: return "cross-entropy";
    case LossKind::kMse: return "mse";
    case LossKind::kDistillation: return "distillation";
  }
  return "unknown";
}

Result<std::unique_ptr<Trainer>> Trainer::create(std::unique_ptr<TrainSession> session,
                                                 std::unique_ptr<Optimizer> optimizer, const TrainerOptions& options) {
  if (!session) return invalid_argument("Trainer: no session");
  if (!optimizer) return invalid_argument("Trainer: no optimizer");
  std::unique_ptr<Trainer> t(new Trainer());
  t->options_ = options;
  if (t->options_.output.empty()) {
    if (session->output_names().empty()) return invalid_argument("Trainer: the graph has no outputs");
    t->options_.output = session->output_names()[0];
  } else {
    bool found = false;
    for (const auto& n : session->output_names()) found |= n == options.output;
    if (!found) return invalid_argument("Trainer: '" + options.output + "' is not a graph output");
  }
  if (options.loss == LossKind::kDistillation && !(options.temperature > 0.0f && std::isfinite(options.temperature)))
    return invalid_argument("Trainer: temperature must be > 0");
  if (session->parameters().empty()) return invalid_argument("Trainer: the session has no trainable parameters");
  t->session_ = std::move(session);
  t->optimizer_ = std::move(optimizer);
  return t;
}

Result<LossResult> Trainer::loss(const Tensor& output, const Tensor& target) const {
  switch (options_.loss) {
    case LossKind::kCrossEntropy: return cross_entropy_loss(output, target);
    case LossKind::kMse: return mse_loss(output, target);
    case LossKind::kDistillation: return kl_distillation_loss(output, target, options_.temperature);
  }
  return internal_error("Trainer: unknown loss");
}

Result<int64_t> Trainer::correct(const Tensor& output, const Tensor& target) const {
  if (output.rank() != 2) return int64_t{-1};
  if (options_.loss == LossKind::kCrossEntropy) return count_top1_correct(output, target);
  if (options_.loss != LossKind::kDistillation) return int64_t{-1};
  // Agreement with the teacher's top-1.
  const int64_t n = target.dim(0), c = target.dim(1);
  WQ_ASSIGN_OR_RETURN(Tensor labels, Tensor::allocate(DType::kInt64, {n}));
  for (int64_t i = 0; i < n; ++i) {
    const float* z = target.data<float>() + i * c;
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (z[j] > z[best]) best = j;
    labels.mutable_data<int64_t>()[i] = best;
  }
  return count_top1_correct(output, labels);
}

Status Trainer::restore(const TrainWeights& w, const OptimizerState& o) {
  WQ_RETURN_IF_ERROR(session_->load_weights(w));
  return optimizer_->load_state(o);
}

Result<StepResult> Trainer::step(const std::map<std::string, Tensor>& feeds, const Tensor& target) {
  if (!failure_.ok()) return failure_;
  WQ_RETURN_IF_ERROR(session_->save_weights(&pending_));
  WQ_RETURN_IF_ERROR(optimizer_->save_state(&pending_opt_));
  const std::string step_name = "step " + std::to_string(steps_);
  // A failure before the loss is known (bad feeds, bad target) leaves
  // everything as it was, BatchNormalization statistics included.
  auto undo = [&](const Status& s) -> Status {
    Status r = restore(pending_, pending_opt_);
    return r.ok() ? s : r;
  };
  Result<std::map<std::string, Tensor>> out = session_->forward(feeds, TrainMode::kTrain, {options_.output});
  if (!out.ok()) return undo(out.status().with_context(step_name + ": "));
  const Tensor y = out->at(options_.output);
  Result<LossResult> l = loss(y, target);
  if (!l.ok()) return undo(l.status().with_context(step_name + ": "));

  auto diverged = [&](const std::string& what) -> Status {
    failure_ = numeric_error(step_name + ": " + what + "; training stopped" +
                             (have_good_ ? ", the weights of the last step with a finite loss were kept"
                                         : ", the initial weights were kept"));
    Status r = have_good_ ? restore(good_, good_opt_) : restore(pending_, pending_opt_);
    return r.ok() ? failure_ : r;
  };
  if (!std::isfinite(l->value)) return diverged(std::string("loss is ") + (std::isnan(l->value) ? "NaN" : "infinite"));
  // The weights this step started from gave a finite loss: they are now the
  // ones to fall back to.
  std::swap(good_, pending_);
  std::swap(good_opt_, pending_opt_);
  have_good_ = true;

  StepResult r;
  r.step = steps_;
  r.loss = l->value;
  r.samples = y.rank() > 0 ? y.dim(0) : 1;
  WQ_ASSIGN_OR_RETURN(r.correct, correct(y, target));

  Status st = session_->backward({{options_.output, l->grad}});
  if (!st.ok()) {
    Status u = restore(good_, good_opt_);
    return u.ok() ? st.with_context(step_name + ": ") : u;
  }
  for (const TrainParameter& p : session_->parameters()) {
    const int64_t bad = detail::first_non_finite(p.grad.data<float>(), static_cast<size_t>(p.grad.numel()));
    if (bad >= 0) return diverged("the gradient of '" + p.name + "' is not finite at index " + std::to_string(bad));
  }
  st = optimizer_->step(session_->parameters());
  if (!st.ok()) {
    Status u = restore(good_, good_opt_);
    return u.ok() ? st.with_context(step_name + ": ") : u;
  }
  for (const TrainParameter& p : session_->parameters()) {
    const int64_t bad = detail::first_non_finite(p.value.data<float>(), static_cast<size_t>(p.value.numel()));
    if (bad >= 0) return diverged("the update made '" + p.name + "' not finite at index " + std::to_string(bad));
  }
  ++steps_;
  return r;
}

Result<StepResult> Trainer::evaluate(const std::map<std::string, Tensor>& feeds, const Tensor& target) {
  Result<std::map<std::string, Tensor>> out = session_->forward(feeds, TrainMode::kEval, {options_.output});
  if (!out.ok()) return out.status();
  const Tensor y = out->at(options_.output);
  WQ_ASSIGN_OR_RETURN(LossResult l, loss(y, target));
  StepResult r;
  r.step = steps_;
  r.loss = l.value;
  r.samples = y.rank() > 0 ? y.dim(0) : 1;
  WQ_ASSIGN_OR_RETURN(r.correct, correct(y, target));
  return r;
}

}  // namespace wq
