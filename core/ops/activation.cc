// Unary elementwise ops: math functions and activations, plus Clip.
//
// Each op is a small functor over the compute type (float for float/float16/
// bfloat16, double, or the integer type itself); UnaryKernel applies it over
// the whole tensor with the dtype dispatch done once per run.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;
using detail::FloatTypes;
using detail::NumericTypes;
using detail::SignedTypes;

template <typename Op, typename = void> struct HasCreate : std::false_type {};
template <typename Op>
struct HasCreate<Op, std::void_t<decltype(Op::create(std::declval<const KernelInit&>()))>> : std::true_type {};

template <typename Op> Result<Op> create_op(const KernelInit& init) {
  if constexpr (HasCreate<Op>::value) {
    return Op::create(init);
  } else {
    return Op{};
  }
}

template <typename Types, typename Op>
class UnaryKernel : public detail::NodeKernel {
 public:
  UnaryKernel(const KernelInit& init, Op op) : NodeKernel(init), op_(op) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    return detail::visit_dtype<Types>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      for (int64_t i = 0; i < x->numel(); ++i) out[i] = detail::store<T>(op_(detail::load(in[i])));
      return Status::Ok();
    });
  }

 private:
  Op op_;
};

template <typename Types, typename Op>
void add_unary(OpRegistry& r, const char* name, int min_opset, int max_opset = kMaxSupportedOpset) {
  r.add("", name, min_opset, max_opset, [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    WQ_ASSIGN_OR_RETURN(Op op, create_op<Op>(init));
    return std::unique_ptr<OpKernel>(new UnaryKernel<Types, Op>(init, op));
  });
}

// ---- math ------------------------------------------------------------------

#define WQ_UNARY_FN(Name, expr)                               \
  struct Name {                                               \
    template <typename C> C operator()(C x) const { return expr; } \
  };

WQ_UNARY_FN(ExpOp, std::exp(x))
WQ_UNARY_FN(LogOp, std::log(x))
WQ_UNARY_FN(SqrtOp, std::sqrt(x))
WQ_UNARY_FN(ReciprocalOp, C(1) / x)
WQ_UNARY_FN(FloorOp, std::floor(x))
WQ_UNARY_FN(CeilOp, std::ceil(x))
WQ_UNARY_FN(RoundOp, std::nearbyint(x))  // default rounding mode: half to even
WQ_UNARY_FN(ErfOp, std::erf(x))
WQ_UNARY_FN(SinOp, std::sin(x))
WQ_UNARY_FN(CosOp, std::cos(x))
WQ_UNARY_FN(TanOp, std::tan(x))
WQ_UNARY_FN(AsinOp, std::asin(x))
WQ_UNARY_FN(AcosOp, std::acos(x))
WQ_UNARY_FN(AtanOp, std::atan(x))
WQ_UNARY_FN(SinhOp, std::sinh(x))
WQ_UNARY_FN(CoshOp, std::cosh(x))
WQ_UNARY_FN(AsinhOp, std::asinh(x))
WQ_UNARY_FN(AcoshOp, std::acosh(x))
WQ_UNARY_FN(AtanhOp, std::atanh(x))
WQ_UNARY_FN(TanhOp, std::tanh(x))
WQ_UNARY_FN(SoftsignOp, x / (C(1) + std::abs(x)))
WQ_UNARY_FN(ReluOp, x > C(0) ? x : C(0))
WQ_UNARY_FN(NegOp, detail::wrap_neg(x))
#undef WQ_UNARY_FN

struct AbsOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_unsigned<C>::value) {
      return x;
    } else {
      return x < C(0) ? detail::wrap_neg(x) : x;
    }
  }
};

struct SignOp {
  template <typename C> C operator()(C x) const {
    if (x > C(0)) return C(1);
    if (x < C(0)) return static_cast<C>(-1);
    return x;  // keeps 0 and NaN
  }
};

struct SigmoidOp {
  template <typename C> C operator()(C x) const {
    // Split by sign so exp never overflows into inf/inf.
    if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
    const C e = std::exp(x);
    return e / (C(1) + e);
  }
};

struct SoftplusOp {
  template <typename C> C operator()(C x) const {
    return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
};

struct MishOp {
  template <typename C> C operator()(C x) const {
    const C sp = x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    return x * std::tanh(sp);
  }
};

// ---- parameterized activations -----------------------------------------------

struct LeakyReluOp {
  float alpha;
  static Result<LeakyReluOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 0.01f));
    return LeakyReluOp{a};
  }
  template <typename C> C operator()(C x) const { return x < C(0) ? C(alpha) * x : x; }
};

struct EluOp {
  float alpha;
  static Result<EluOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 1.0f));
    return EluOp{a};
  }
  template <typename C> C operator()(C x) const { return x < C(0) ? C(alpha) * (std::exp(x) - C(1)) : x; }
};

struct CeluOp {
  float alpha;
  static Result<CeluOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 1.0f));
    if (a == 0.0f) return invalid_model(init.context() + "alpha must not be 0");
    return CeluOp{a};
  }
  template <typename C> C operator()(C x) const {
    const C a(alpha);
    return std::max(C(0), x) + std::min(C(0), a * (std::exp(x / a) - C(1)));
  }
};

struct SeluOp {
  float alpha, gamma;
  static Result<SeluOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 1.67326319217681884765625f));
    WQ_ASSIGN_OR_RETURN(float g, detail::float_attr(init, "gamma", 1.05070102214813232421875f));
    return SeluOp{a, g};
  }
  template <typename C> C operator()(C x) const {
    return x > C(0) ? C(gamma) * x : C(gamma) * (C(alpha) * std::exp(x) - C(alpha));
  }
};

struct ThresholdedReluOp {
  float alpha;
  static Result<ThresholdedReluOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 1.0f));
    return ThresholdedReluOp{a};
  }
  template <typename C> C operator()(C x) const { return x > C(alpha) ? x : C(0); }
};

struct HardSigmoidOp {
  float alpha, beta;
  static Result<HardSigmoidOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float a, detail::float_attr(init, "alpha", 0.2f));
    WQ_ASSIGN_OR_RETURN(float b, detail::float_attr(init, "beta", 0.5f));
    return HardSigmoidOp{a, b};
  }
  template <typename C> C operator()(C x) const {
    return std::max(C(0), std::min(C(1), C(alpha) * x + C(beta)));
  }
};

struct HardSwishOp {
  template <typename C> C operator()(C x) const {
    return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
  }
};

struct ShrinkOp {
  float bias, lambd;
  static Result<ShrinkOp> create(const KernelInit& init) {
    WQ_ASSIGN_OR_RETURN(float b, detail::float_attr(init, "bias", 0.0f));
    WQ_ASSIGN_OR_RETURN(float l, detail::float_attr(init, "lambd", 0.5f));
    return ShrinkOp{b, l};
  }
  template <typename C> C operator()(C x) const {
    // Computed in double so integer inputs neither overflow nor lose the bias.
    const double v = static_cast<double>(x);
    double r = 0;
    if (v < -lambd) r = v + bias;
    if (v > lambd) r = v - bias;
    if constexpr (std::is_integral<C>::value) {
      return detail::saturate_cast<C>(r);
    } else {
      return static_cast<C>(r);
    }
  }
};

struct GeluOp {
  bool tanh_approx;
  static Result<GeluOp> create(const KernelInit& init) {
    std::string mode;
    WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "approximate", "none", {"none", "tanh"}, &mode));
    return GeluOp{mode == "tanh"};
  }
  template <typename C> C operator()(C x) const {
    if (tanh_approx) {
      const C k = static_cast<C>(0.7978845608028654);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * static_cast<C>(0.7071067811865476)));
  }
};

// ---- Clip --------------------------------------------------------------------

// Clip-6: min/max are float attributes. Clip-11+: optional scalar inputs of
// the input's type (absent means unbounded).
class ClipKernel : public detail::NodeKernel {
 public:
  ClipKernel(const KernelInit& init, bool from_inputs, float min, float max)
      : NodeKernel(init), from_inputs_(from_inputs), attr_min_(min), attr_max_(max) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    using List = detail::NumericTypes;
    return detail::visit_dtype<List>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if (std::is_floating_point<C>::value) {
        lo = -std::numeric_limits<C>::infinity();
        hi = std::numeric_limits<C>::infinity();
      }
      if (!from_inputs_) {
        if (!detail::is_float_v<T>) return unsupported(where() + "Clip-6 supports float types only");
        lo = static_cast<C>(attr_min_);
        hi = static_cast<C>(attr_max_);
      } else {
        for (size_t i = 1; i <= 2; ++i) {
          const Tensor* b = i < ctx.num_inputs() ? ctx.input(i) : nullptr;
          if (!b) continue;
          if (b->dtype() != x->dtype())
            return invalid_argument(where() + (i == 1 ? "min" : "max") + " has type " + dtype_name(b->dtype()) +
                                    ", expected " + dtype_name(x->dtype()));
          if (b->numel() != 1)
            return invalid_argument(where() + (i == 1 ? "min" : "max") + " must be a scalar, got shape " +
                                    shape_to_string(b->shape()));
          (i == 1 ? lo : hi) = detail::load(b->data<T>()[0]);
        }
      }
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      for (int64_t i = 0; i < x->numel(); ++i) {
        const C v = detail::load(in[i]);
        // min(max(x, lo), hi): when lo > hi every value becomes hi, as the spec says.
        C r = v < lo ? lo : v;
        r = r > hi ? hi : r;
        out[i] = detail::store<T>(r);
      }
      return Status::Ok();
    });
  }

 private:
  bool from_inputs_;
  float attr_min_, attr_max_;
};

Result<std::unique_ptr<OpKernel>> make_clip6(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(float lo, detail::float_attr(init, "min", -std::numeric_limits<float>::max()));
  WQ_ASSIGN_OR_RETURN(float hi, detail::float_attr(init, "max", std::numeric_limits<float>::max()));
  return std::unique_ptr<OpKernel>(new ClipKernel(init, false, lo, hi));
}

Result<std::unique_ptr<OpKernel>> make_clip11(const KernelInit& init) {
  WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"min", "max"}));
  return std::unique_ptr<OpKernel>(new ClipKernel(init, true, 0, 0));
}

// ---- predicates with bool outputs ---------------------------------------------

class IsNaNKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kBool, x->shape()));
      for (int64_t i = 0; i < x->numel(); ++i) y->mutable_data<bool>()[i] = std::isnan(detail::load(x->data<T>()[i]));
      return Status::Ok();
    });
  }
};

class IsInfKernel : public detail::NodeKernel {
 public:
  IsInfKernel(const KernelInit& init, bool neg, bool pos) : NodeKernel(init), neg_(neg), pos_(pos) {}
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    return detail::visit_dtype<FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kBool, x->shape()));
      for (int64_t i = 0; i < x->numel(); ++i) {
        const auto v = detail::load(x->data<T>()[i]);
        y->mutable_data<bool>()[i] = std::isinf(v) && ((v > 0 && pos_) || (v < 0 && neg_));
      }
      return Status::Ok();
    });
  }

 private:
  bool neg_, pos_;
};

Result<std::unique_ptr<OpKernel>> make_isinf(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t neg, detail::int_attr(init, "detect_negative", 1));
  WQ_ASSIGN_OR_RETURN(int64_t pos, detail::int_attr(init, "detect_positive", 1));
  return std::unique_ptr<OpKernel>(new IsInfKernel(init, neg != 0, pos != 0));
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  constexpr int kMin = kMinSupportedOpset;
  add_unary<FloatTypes, ExpOp>(r, "Exp", 6);
  add_unary<FloatTypes, LogOp>(r, "Log", 6);
  add_unary<FloatTypes, SqrtOp>(r, "Sqrt", 6);
  add_unary<FloatTypes, ReciprocalOp>(r, "Reciprocal", 6);
  add_unary<FloatTypes, FloorOp>(r, "Floor", 6);
  add_unary<FloatTypes, CeilOp>(r, "Ceil", 6);
  add_unary<FloatTypes, RoundOp>(r, "Round", 11);
  add_unary<FloatTypes, ErfOp>(r, "Erf", 9);
  add_unary<FloatTypes, SinOp>(r, "Sin", kMin);
  add_unary<FloatTypes, CosOp>(r, "Cos", kMin);
  add_unary<FloatTypes, TanOp>(r, "Tan", kMin);
  add_unary<FloatTypes, AsinOp>(r, "Asin", kMin);
  add_unary<FloatTypes, AcosOp>(r, "Acos", kMin);
  add_unary<FloatTypes, AtanOp>(r, "Atan", kMin);
  add_unary<FloatTypes, SinhOp>(r, "Sinh", 9);
  add_unary<FloatTypes, CoshOp>(r, "Cosh", 9);
  add_unary<FloatTypes, AsinhOp>(r, "Asinh", 9);
  add_unary<FloatTypes, AcoshOp>(r, "Acosh", 9);
  add_unary<FloatTypes, AtanhOp>(r, "Atanh", 9);
  add_unary<FloatTypes, TanhOp>(r, "Tanh", 6);
  add_unary<FloatTypes, SigmoidOp>(r, "Sigmoid", 6);
  add_unary<FloatTypes, SoftplusOp>(r, "Softplus", 1);
  add_unary<FloatTypes, SoftsignOp>(r, "Softsign", 1);
  add_unary<FloatTypes, MishOp>(r, "Mish", 18);
  // Relu gained signed integer types at 14; accepting them earlier is harmless.
  add_unary<SignedTypes, ReluOp>(r, "Relu", 6);
  add_unary<SignedTypes, NegOp>(r, "Neg", 6);
  add_unary<NumericTypes, AbsOp>(r, "Abs", 6);
  add_unary<NumericTypes, SignOp>(r, "Sign", 9);
  add_unary<FloatTypes, LeakyReluOp>(r, "LeakyRelu", 6);
  add_unary<FloatTypes, EluOp>(r, "Elu", 6);
  add_unary<FloatTypes, CeluOp>(r, "Celu", 12);
  add_unary<FloatTypes, SeluOp>(r, "Selu", 6);
  add_unary<FloatTypes, ThresholdedReluOp>(r, "ThresholdedRelu", 10);
  add_unary<FloatTypes, HardSigmoidOp>(r, "HardSigmoid", 6);
  add_unary<FloatTypes, HardSwishOp>(r, "HardSwish", 14);
  add_unary<NumericTypes, ShrinkOp>(r, "Shrink", 9);
  add_unary<FloatTypes, GeluOp>(r, "Gelu", 20);
  r.add("", "Clip", 6, 10, make_clip6);
  r.add("", "Clip", 11, kMaxSupportedOpset, make_clip11);
  r.add("", "IsNaN", 9, kMaxSupportedOpset, [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(new IsNaNKernel(init));
  });
  r.add("", "IsInf", 10, kMaxSupportedOpset, make_isinf);
}

}  // namespace wq
