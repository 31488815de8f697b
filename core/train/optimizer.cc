#include "core/train/optimizer.h"

#include <cmath>
#include <cstring>

namespace wq {
namespace {

bool finite_positive(float v) { return std::isfinite(v) && v > 0.0f; }
bool in_unit(float v) { return std::isfinite(v) && v >= 0.0f && v < 1.0f; }

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const SgdOptions& o) : o_(o) {}

  Status step(std::vector<TrainParameter>& params) override {
    const bool momentum = o_.momentum != 0.0f;
    WQ_RETURN_IF_ERROR(prepare(params, momentum ? 1 : 0));
    const float lr = o_.learning_rate, wd = o_.weight_decay, mu = o_.momentum;
    for (size_t i = 0; i < params.size(); ++i) {
      float* p = params[i].value.mutable_data<float>();
      const float* g = params[i].grad.data<float>();
      float* buf = momentum ? slots_[i].mutable_data<float>() : nullptr;
      const int64_t n = params[i].value.numel();
      for (int64_t j = 0; j < n; ++j) {
        float d = g[j] + wd * p[j];
        if (momentum) {
          // The first step starts the buffer at the gradient (PyTorch).
          buf[j] = steps_ == 0 ? d : mu * buf[j] + d;
          d = o_.nesterov ? d + mu * buf[j] : buf[j];
        }
        p[j] -= lr * d;
      }
    }
    ++steps_;
    return Status::Ok();
  }

  float learning_rate() const override { return o_.learning_rate; }
  Status set_learning_rate(float lr) override {
    if (!finite_positive(lr)) return invalid_argument("learning rate must be finite and > 0");
    o_.learning_rate = lr;
    return Status::Ok();
  }
  const char* name() const override { return "sgd"; }

 private:
  SgdOptions o_;
};

class Adam final : public Optimizer {
 public:
  explicit Adam(const AdamOptions& o) : o_(o) {}

  Status step(std::vector<TrainParameter>& params) override {
    WQ_RETURN_IF_ERROR(prepare(params, 2));
    const int64_t t = steps_ + 1;
    const double bias1 = 1.0 - std::pow(static_cast<double>(o_.beta1), static_cast<double>(t));
    const double bias2 = 1.0 - std::pow(static_cast<double>(o_.beta2), static_cast<double>(t));
    const float step_size = static_cast<float>(o_.learning_rate / bias1);
    const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
    const float b1 = o_.beta1, b2 = o_.beta2, wd = o_.weight_decay, eps = o_.epsilon;
    const float decay = o_.decoupled_weight_decay ? 1.0f - o_.learning_rate * wd : 1.0f;
    for (size_t i = 0; i < params.size(); ++i) {
      float* p = params[i].value.mutable_data<float>();
      const float* g = params[i].grad.data<float>();
      float* m = slots_[2 * i].mutable_data<float>();
      float* v = slots_[2 * i + 1].mutable_data<float>();
      const int64_t n = params[i].value.numel();
      for (int64_t j = 0; j < n; ++j) {
        float gj = g[j];
        if (o_.decoupled_weight_decay) {
          p[j] *= decay;
        } else {
          gj += wd * p[j];
        }
        m[j] = b1 * m[j] + (1.0f - b1) * gj;
        v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
        const float denom = std::sqrt(v[j]) / bias2_sqrt + eps;
        p[j] -= step_size * m[j] / denom;
      }
    }
    ++steps_;
    return Status::Ok();
  }

  float learning_rate() const override { return o_.learning_rate; }
  Status set_learning_rate(float lr) override {
    if (!finite_positive(lr)) return invalid_argument("learning rate must be finite and > 0");
    o_.learning_rate = lr;
    return Status::Ok();
  }
  const char* name() const override { return "adam"; }

 private:
  AdamOptions o_;
};

}  // namespace

Status Optimizer::prepare(const std::vector<TrainParameter>& params, size_t slots_per_param) {
  if (names_.empty() && shapes_.empty() && steps_ == 0 && slots_.empty()) {
    for (const auto& p : params) {
      names_.push_back(p.name);
      shapes_.push_back(p.value.shape());
    }
  }
  if (params.size() != names_.size())
    return invalid_argument(std::string(name()) + ": got " + std::to_string(params.size()) +
                            " parameters, the first step had " + std::to_string(names_.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    const TrainParameter& p = params[i];
    if (p.name != names_[i] || p.value.shape() != shapes_[i])
      return invalid_argument(std::string(name()) + ": parameter " + std::to_string(i) + " is '" + p.name + "' " +
                              shape_to_string(p.value.shape()) + ", the first step had '" + names_[i] + "' " +
                              shape_to_string(shapes_[i]));
    if (p.value.dtype() != DType::kFloat32 || !p.value.writable())
      return invalid_argument(std::string(name()) + ": parameter '" + p.name + "' is not a writable float tensor");
    if (!p.grad.defined() || p.grad.dtype() != DType::kFloat32 || p.grad.shape() != p.value.shape())
      return invalid_argument(std::string(name()) + ": parameter '" + p.name +
                              "' has no gradient of its shape (call TrainSession::backward first)");
  }
  if (slots_.empty() && slots_per_param > 0) {
    for (size_t i = 0; i < params.size(); ++i)
      for (size_t s = 0; s < slots_per_param; ++s) {
        WQ_ASSIGN_OR_RETURN(Tensor t, Tensor::zeros(DType::kFloat32, shapes_[i]));
        slots_.push_back(std::move(t));
      }
  }
  return Status::Ok();
}

Status Optimizer::save_state(OptimizerState* out) const {
  out->steps = steps_;
  out->slots.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    Tensor& dst = out->slots[i];
    if (!dst.defined() || dst.shape() != slots_[i].shape() || !dst.writable() || dst.shares_buffer_with(slots_[i])) {
      WQ_ASSIGN_OR_RETURN(dst, slots_[i].clone());
    } else {
      std::memcpy(dst.mutable_raw(), slots_[i].raw(), slots_[i].nbytes());
    }
  }
  return Status::Ok();
}

Status Optimizer::load_state(const OptimizerState& state) {
  if (state.slots.size() != slots_.size())
    return invalid_argument(std::string(name()) + ": state has " + std::to_string(state.slots.size()) +
                            " tensors, expected " + std::to_string(slots_.size()));
  for (size_t i = 0; i < slots_.size(); ++i)
    if (state.slots[i].shape() != slots_[i].shape() || state.slots[i].dtype() != DType::kFloat32)
      return invalid_argument(std::string(name()) + ": state tensor " + std::to_string(i) + " has shape " +
                              shape_to_string(state.slots[i].shape()) + ", expected " +
                              shape_to_string(slots_[i].shape()));
  for (size_t i = 0; i < slots_.size(); ++i)
    if (!state.slots[i].shares_buffer_with(slots_[i]))
      std::memcpy(slots_[i].mutable_raw(), state.slots[i].raw(), slots_[i].nbytes());
  steps_ = state.steps;
  return Status::Ok();
}

Result<std::unique_ptr<Optimizer>> make_sgd(const SgdOptions& o) {
  if (!finite_positive(o.learning_rate)) return invalid_argument("sgd: learningRate must be finite and > 0");
  if (!in_unit(o.momentum)) return invalid_argument("sgd: momentum must be in [0, 1)");
  if (!(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f))
    return invalid_argument("sgd: weightDecay must be finite and >= 0");
  if (o.nesterov && o.momentum == 0.0f) return invalid_argument("sgd: nesterov needs momentum > 0");
  return std::unique_ptr<Optimizer>(new Sgd(o));
}

Result<std::unique_ptr<Optimizer>> make_adam(const AdamOptions& o) {
  if (!finite_positive(o.learning_rate)) return invalid_argument("adam: learningRate must be finite and > 0");
  if (!in_unit(o.beta1)) return invalid_argument("adam: beta1 must be in [0, 1)");
  if (!in_unit(o.beta2)) return invalid_argument("adam: beta2 must be in [0, 1)");
  if (!finite_positive(o.epsilon)) return invalid_argument("adam: epsilon must be finite and > 0");
  if (!(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f))
    return invalid_argument("adam: weightDecay must be finite and >= 0");
  return std::unique_ptr<Optimizer>(new Adam(o));
}

}  // namespace wq
