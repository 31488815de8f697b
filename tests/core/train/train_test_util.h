// Helpers for the training tests: a small model builder, deterministic
// inputs, and the finite-difference gradient check.
#pragma once

#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/tensor.h"
#include "core/train/train_session.h"

namespace wq {
namespace train_test {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Deterministic pseudo-random numbers (64-bit LCG, top bits).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  double uniform() {
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s_ >> 11) / 9007199254740992.0;
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(uniform()); }
  // Uniform in [-hi, -lo] U [lo, hi]: values kept away from a kink at 0.
  float away_from_zero(float lo, float hi) {
    const float v = uniform(lo, hi);
    return uniform() < 0.5 ? -v : v;
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(uniform() * static_cast<double>(n)) % n; }

 private:
  uint64_t s_;
};

inline Tensor random_tensor(Shape shape, Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::allocate(DType::kFloat32, std::move(shape)).value();
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

inline std::vector<float> floats_of(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

// ---- attributes ----------------------------------------------------------------

inline onnx::AttributeProto attr_f(const std::string& name, float f) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::FLOAT;
  a.f = f;
  return a;
}
inline onnx::AttributeProto attr_i(const std::string& name, int64_t i) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INT;
  a.i = i;
  return a;
}
inline onnx::AttributeProto attr_ints(const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::INTS;
  a.ints = std::move(v);
  return a;
}
inline onnx::AttributeProto attr_s(const std::string& name, const std::string& s) {
  onnx::AttributeProto a;
  a.name = name;
  a.type = onnx::AttributeProto::STRING;
  a.s = s;
  return a;
}

// ---- models ----------------------------------------------------------------------

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) {
    m_.ir_version = 8;
    m_.producer_name = "webquant-train-test";
    onnx::OperatorSetIdProto op;
    op.domain = "";
    op.version = opset;
    m_.opset_import.push_back(op);
    m_.has_graph = true;
    m_.graph.name = "train_test";
  }

  // A float input; dims < 0 are symbolic ("N").
  ModelBuilder& input(const std::string& name, const Shape& dims, DType dtype = DType::kFloat32) {
    onnx::ValueInfoProto v;
    v.name = name;
    v.has_type = true;
    v.type.kind = onnx::TypeProto::Kind::kTensor;
    v.type.elem_type = static_cast<int32_t>(dtype);
    v.type.has_shape = true;
    for (int64_t d : dims) {
      onnx::TensorShapeProto::Dimension dim;
      if (d >= 0) {
        dim.has_value = true;
        dim.dim_value = d;
      } else {
        dim.has_param = true;
        dim.dim_param = "N";
      }
      v.type.shape.dim.push_back(dim);
    }
    m_.graph.input.push_back(v);
    return *this;
  }

  ModelBuilder& output(const std::string& name) {
    onnx::ValueInfoProto v;
    v.name = name;
    v.has_type = true;
    v.type.kind = onnx::TypeProto::Kind::kTensor;
    v.type.elem_type = static_cast<int32_t>(DType::kFloat32);
    m_.graph.output.push_back(v);
    return *this;
  }

  ModelBuilder& initializer(const std::string& name, const Tensor& t) {
    m_.graph.initializer.push_back(tensor_to_proto(t, name));
    return *this;
  }

  ModelBuilder& node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                     std::vector<onnx::AttributeProto> attrs = {}, const std::string& name = "") {
    onnx::NodeProto n;
    n.op_type = op;
    n.input = std::move(inputs);
    n.output = std::move(outputs);
    n.attribute = std::move(attrs);
    n.name = name.empty() ? op + "_" + std::to_string(m_.graph.node.size()) : name;
    m_.graph.node.push_back(std::move(n));
    return *this;
  }

  const onnx::ModelProto& proto() const { return m_; }

  Graph build() const {
    Result<Graph> g = Graph::from_proto(m_);
    REQUIRE_MESSAGE(g.ok(), g.status().to_string());
    return std::move(g).value();
  }

 private:
  onnx::ModelProto m_;
};

inline std::unique_ptr<TrainSession> make_session(const Graph& g, const TrainSessionOptions& options = {}) {
  Result<std::unique_ptr<TrainSession>> s = TrainSession::create(g, options);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

// ---- finite differences -------------------------------------------------------------

struct GradCheck {
  TrainMode mode = TrainMode::kTrain;
  float step = 1e-2f;  // central difference step
  // |analytic - numeric| <= rtol * |numeric| + atol * max(1, max |analytic| of the tensor)
  double rtol = 1e-2;
  double atol = 2e-3;
  int max_checks = 48;  // elements checked per tensor (spread evenly)
};

// loss = sum_i r_i * y_i over every graph output (r fixed pseudo-random,
// summed in double); returns the loss and fills `weights` on first use.
inline double projected_loss(const std::map<std::string, Tensor>& outputs, std::map<std::string, std::vector<double>>& weights) {
  double loss = 0;
  for (const auto& kv : outputs) {
    const Tensor& y = kv.second;
    std::vector<double>& w = weights[kv.first];
    if (w.empty()) {
      Rng rng(0xabcdef + w.size() + kv.first.size());
      for (int64_t i = 0; i < y.numel(); ++i) w.push_back(rng.uniform() * 2.0 - 1.0);
    }
    REQUIRE(static_cast<int64_t>(w.size()) == y.numel());
    for (int64_t i = 0; i < y.numel(); ++i) loss += w[static_cast<size_t>(i)] * y.data<float>()[i];
  }
  return loss;
}

// Checks d(loss)/d(each trainable parameter and each listed input) against
// central differences. `params` must be initializers of the graph.
inline void check_gradients(const Graph& graph, std::map<std::string, Tensor> feeds,
                            const std::vector<std::string>& params, const std::vector<std::string>& inputs,
                            const GradCheck& opt = {}) {
  TrainSessionOptions so;
  so.trainable = params;
  so.input_gradients = inputs;
  std::unique_ptr<TrainSession> s = make_session(graph, so);
  std::map<std::string, std::vector<double>> weights;
  auto run = [&]() -> double {
    Result<std::map<std::string, Tensor>> out = s->forward(feeds, opt.mode);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    return projected_loss(out.value(), weights);
  };
  {
    Result<std::map<std::string, Tensor>> out = s->forward(feeds, opt.mode);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    projected_loss(out.value(), weights);
    std::map<std::string, Tensor> seeds;
    for (const auto& kv : out.value()) {
      Tensor g = Tensor::allocate(DType::kFloat32, kv.second.shape()).value();
      const std::vector<double>& w = weights[kv.first];
      for (int64_t i = 0; i < g.numel(); ++i) g.mutable_data<float>()[i] = static_cast<float>(w[static_cast<size_t>(i)]);
      seeds[kv.first] = g;
    }
    Status st = s->backward(seeds);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
  }
  auto check_tensor = [&](const std::string& name, float* values, int64_t n, const float* analytic) {
    double scale = 1.0;
    for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(static_cast<double>(analytic[i])));
    const int64_t stride = std::max<int64_t>(1, n / opt.max_checks);
    int failures = 0;
    for (int64_t i = 0; i < n; i += stride) {
      const float orig = values[i];
      values[i] = orig + opt.step;
      const double up = run();
      values[i] = orig - opt.step;
      const double down = run();
      values[i] = orig;
      const double numeric = (up - down) / (2.0 * opt.step);
      const double a = analytic[i];
      const double tol = opt.rtol * std::fabs(numeric) + opt.atol * scale;
      if (std::fabs(a - numeric) > tol && failures++ < 5) {
        FAIL_CHECK("d/d " << name << "[" << i << "]: analytic " << a << ", numeric " << numeric << " (tol " << tol
                          << ")");
      }
    }
    CHECK_MESSAGE(failures == 0, name << ": " << failures << " gradient mismatches");
  };
  for (const std::string& p : params) {
    const TrainParameter* tp = s->find_parameter(p);
    REQUIRE_MESSAGE(tp != nullptr, p);
    // Copy the analytic gradient: the runs below overwrite nothing, but be explicit.
    const std::vector<float> analytic = floats_of(tp->grad);
    Tensor value = tp->value;
    check_tensor(p, value.mutable_data<float>(), value.numel(), analytic.data());
  }
  for (const std::string& in : inputs) {
    const Tensor* g = s->input_gradient(in);
    REQUIRE_MESSAGE(g != nullptr, in);
    const std::vector<float> analytic = floats_of(*g);
    Tensor copy = feeds.at(in).clone().value();
    feeds[in] = copy;
    check_tensor(in, copy.mutable_data<float>(), copy.numel(), analytic.data());
  }
}

}  // namespace train_test
}  // namespace wq
