// Losses against hand-computed values, and optimizers against hand-computed
// steps (the same numbers torch.optim gives for these hyper-parameters).
#include <doctest.h>

#include <cmath>
#include <limits>

#include "core/train/loss.h"
#include "core/train/optimizer.h"
#include "tests/core/train/train_test_util.h"

namespace wq {
namespace {

using train_test::contains;
using train_test::floats_of;

TEST_SUITE("train/loss") {

TEST_CASE("cross-entropy: value and gradient by hand") {
  // Row 0: logsumexp(1, 2, 3) - 3 = 0.4076060; row 1: log 3 = 1.0986123.
  Tensor logits = Tensor::from_floats({2, 3}, {1, 2, 3, 1, 1, 1});
  Tensor labels = Tensor::from_int64s({2}, {2, 0});
  Result<LossResult> r = cross_entropy_loss(logits, labels);
  REQUIRE(r.ok());
  CHECK(r->value == doctest::Approx(0.7531091).epsilon(1e-6));
  // (softmax - onehot) / N
  const std::vector<float> want = {0.0450153f, 0.1223642f, -0.1673795f, -1.0f / 3.0f, 1.0f / 6.0f, 1.0f / 6.0f};
  const std::vector<float> got = floats_of(r->grad);
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  // int32 labels give the same; large logits do not overflow.
  Tensor l32 = Tensor::allocate(DType::kInt32, {2}).value();
  l32.mutable_data<int32_t>()[0] = 2;
  l32.mutable_data<int32_t>()[1] = 0;
  CHECK(cross_entropy_loss(logits, l32)->value == r->value);
  Tensor big = Tensor::from_floats({1, 2}, {1000.0f, 0.0f});
  Result<LossResult> rb = cross_entropy_loss(big, Tensor::from_int64s({1}, {1}));
  REQUIRE(rb.ok());
  CHECK(rb->value == doctest::Approx(1000.0f));
  Result<int64_t> hits = count_top1_correct(logits, labels);
  REQUIRE(hits.ok());
  CHECK(hits.value() == 2);  // row 1 ties: the first maximum (class 0) counts
}

TEST_CASE("cross-entropy: bad labels name the sample; mismatched batch sizes are rejected") {
  Tensor logits = Tensor::from_floats({3, 4}, std::vector<float>(12, 0.0f));
  Result<LossResult> r = cross_entropy_loss(logits, Tensor::from_int64s({3}, {0, 3, 4}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "label 4 of sample 2"));
  r = cross_entropy_loss(logits, Tensor::from_int64s({3}, {0, -1, 1}));
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "sample 1"));
  r = cross_entropy_loss(logits, Tensor::from_int64s({2}, {0, 1}));
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.status().message(), "3 samples"));
  r = cross_entropy_loss(logits, Tensor::from_floats({3}, {0, 1, 2}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  // NaN logits give a NaN loss (the trainer reports it), not an error.
  Tensor nan = Tensor::from_floats({1, 2}, {std::numeric_limits<float>::quiet_NaN(), 0.0f});
  r = cross_entropy_loss(nan, Tensor::from_int64s({1}, {0}));
  REQUIRE(r.ok());
  CHECK(std::isnan(r->value));
}

TEST_CASE("mse: value and gradient by hand") {
  Tensor p = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  Tensor t = Tensor::from_floats({2, 2}, {1.5f, 2, 2, 5});
  Result<LossResult> r = mse_loss(p, t);
  REQUIRE(r.ok());
  CHECK(r->value == doctest::Approx(0.5625f));
  CHECK(floats_of(r->grad) == std::vector<float>{-0.25f, 0.0f, 0.5f, -0.5f});
  CHECK_FALSE(mse_loss(p, Tensor::from_floats({4}, {1, 2, 3, 4})).ok());
}

TEST_CASE("KL distillation: value, gradient and temperature by hand") {
  // teacher / T = [ln 3, 0] -> p_t = [3/4, 1/4]; student [0, 0] -> p_s = [1/2, 1/2].
  // KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308121; times T^2 = 4.
  const float ln3 = std::log(3.0f);
  Tensor teacher = Tensor::from_floats({1, 2}, {2 * ln3, 0});
  Tensor student = Tensor::from_floats({1, 2}, {0, 0});
  Result<LossResult> r = kl_distillation_loss(student, teacher, 2.0f);
  REQUIRE(r.ok());
  CHECK(r->value == doctest::Approx(0.5232486f).epsilon(1e-5));
  // T * (p_s - p_t) / rows
  const std::vector<float> g = floats_of(r->grad);
  CHECK(g[0] == doctest::Approx(-0.5f).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx(0.5f).epsilon(1e-6));
  // Identical logits: zero loss and gradient.
  Result<LossResult> same = kl_distillation_loss(teacher, teacher, 3.0f);
  REQUIRE(same.ok());
  CHECK(std::fabs(same->value) < 1e-6f);
  for (float v : floats_of(same->grad)) CHECK(std::fabs(v) < 1e-7f);
  // Finite differences on a batch with a 3-D layout (rows = 2 * 3).
  train_test::Rng rng(5);
  Tensor s = train_test::random_tensor({2, 3, 5}, rng, -2.0f, 2.0f), te = train_test::random_tensor({2, 3, 5}, rng, -2.0f, 2.0f);
  Result<LossResult> base = kl_distillation_loss(s, te, 1.5f);
  REQUIRE(base.ok());
  for (int64_t i = 0; i < s.numel(); i += 3) {
    Tensor sp = s.clone().value(), sm = s.clone().value();
    sp.mutable_data<float>()[i] += 1e-2f;
    sm.mutable_data<float>()[i] -= 1e-2f;
    const double numeric = (kl_distillation_loss(sp, te, 1.5f)->value - kl_distillation_loss(sm, te, 1.5f)->value) / 2e-2;
    CHECK(base->grad.data<float>()[i] == doctest::Approx(numeric).epsilon(2e-2).scale(0.05));
  }
  CHECK_FALSE(kl_distillation_loss(student, teacher, 0.0f).ok());
  CHECK_FALSE(kl_distillation_loss(student, Tensor::from_floats({2}, {0, 0}), 1.0f).ok());
}

}  // TEST_SUITE

TEST_SUITE("train/optimizer") {

std::vector<TrainParameter> one_param(float value) {
  TrainParameter p;
  p.name = "w";
  p.value = Tensor::from_floats({1}, {value});
  p.grad = Tensor::from_floats({1}, {0.0f});
  return {p};
}

std::vector<double> run(Optimizer& opt, const std::vector<float>& grads) {
  std::vector<TrainParameter> params = one_param(1.0f);
  std::vector<double> out;
  for (float g : grads) {
    params[0].grad.mutable_data<float>()[0] = g;
    Status st = opt.step(params);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    out.push_back(params[0].value.data<float>()[0]);
  }
  return out;
}

void check_steps(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("SGD: plain, momentum with weight decay, Nesterov") {
  SgdOptions o;
  o.learning_rate = 0.1f;
  check_steps(run(*make_sgd(o).value(), {0.5f, -0.2f}), {0.95, 0.97});
  // d = g + 0.1 p; buf = 0.9 buf + d (buf = d first); p -= 0.1 buf
  o.momentum = 0.9f;
  o.weight_decay = 0.1f;
  check_steps(run(*make_sgd(o).value(), {0.5f, -0.2f, 0.3f}), {0.94, 0.8966, 0.818574});
  o.weight_decay = 0.0f;
  o.nesterov = true;  // p -= 0.1 (g + 0.9 buf)
  check_steps(run(*make_sgd(o).value(), {0.5f, -0.2f, 0.3f}), {0.905, 0.9025, 0.82525});
}

TEST_CASE("Adam and AdamW: bias-corrected moments") {
  AdamOptions o;
  o.learning_rate = 0.1f;
  // Step 1 moves by lr exactly (m_hat / sqrt(v_hat) = sign(g)).
  check_steps(run(*make_adam(o).value(), {0.5f, -0.2f, 0.3f}), {0.9, 0.8654394, 0.8109954});
  o.weight_decay = 0.1f;  // L2 into the gradient
  check_steps(run(*make_adam(o).value(), {0.5f, -0.2f, 0.3f}), {0.9, 0.8475191, 0.7791122});
  o.decoupled_weight_decay = true;  // p *= 1 - lr * wd first
  check_steps(run(*make_adam(o).value(), {0.5f, -0.2f, 0.3f}), {0.89, 0.8465394, 0.7836300});
}

TEST_CASE("options are validated; parameter lists must not change; state round-trips") {
  SgdOptions s;
  s.learning_rate = -1.0f;
  CHECK(make_sgd(s).status().code() == StatusCode::kInvalidArgument);
  s.learning_rate = 0.1f;
  s.momentum = 1.0f;
  CHECK(contains(make_sgd(s).status().message(), "momentum"));
  AdamOptions a;
  a.beta2 = 1.0f;
  CHECK(contains(make_adam(a).status().message(), "beta2"));
  a.beta2 = 0.999f;
  a.learning_rate = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(make_adam(a).ok());

  a = AdamOptions();
  std::unique_ptr<Optimizer> opt = make_adam(a).value();
  std::vector<TrainParameter> params = one_param(1.0f);
  params[0].grad.mutable_data<float>()[0] = 1.0f;
  REQUIRE(opt->step(params).ok());
  OptimizerState saved;
  REQUIRE(opt->save_state(&saved).ok());
  const float after_one = params[0].value.data<float>()[0];
  REQUIRE(opt->step(params).ok());
  const float after_two = params[0].value.data<float>()[0];
  REQUIRE(opt->load_state(saved).ok());
  CHECK(opt->steps() == 1);
  params[0].value.mutable_data<float>()[0] = after_one;
  REQUIRE(opt->step(params).ok());
  CHECK(params[0].value.data<float>()[0] == after_two);

  std::vector<TrainParameter> other = one_param(1.0f);
  other[0].name = "v";
  Status st = opt->step(other);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(contains(st.message(), "'v'"));
  params[0].grad = Tensor();
  CHECK(contains(opt->step(params).message(), "no gradient"));
}

}  // TEST_SUITE
}  // namespace
}  // namespace wq
