// Elementwise ops with two or more inputs and multidirectional (numpy)
// broadcasting: arithmetic, comparisons, logic, Where, PRelu and the variadic
// Max/Min/Sum/Mean.
//
// Integer arithmetic wraps (two's complement) like onnxruntime; integer
// division and modulo by zero are reported as errors instead of trapping.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::AllTypes;
using detail::Compute;
using detail::FloatTypes;
using detail::IntTypes;
using detail::NumericTypes;

// out[i] = f(a[ia], b[ib]) over the broadcast of a and b (out already has the
// broadcast shape).
template <typename TA, typename TB, typename TO, typename F>
void apply_binary(const Tensor& a, const Tensor& b, Tensor* out, F&& f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out->mutable_data<TO>();
  const int64_t n = out->numel();
  if (a.numel() == n && b.numel() == n) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  } else if (a.numel() == n && b.numel() == 1) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[0]);
  } else if (a.numel() == 1 && b.numel() == n) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[0], pb[i]);
  } else {
    const std::vector<int64_t> strides[2] = {detail::broadcast_strides(a.shape(), out->shape()),
                                             detail::broadcast_strides(b.shape(), out->shape())};
    detail::for_each_broadcast(out->shape(), strides,
                               [&](int64_t i, const int64_t* off) { po[i] = f(pa[off[0]], pb[off[1]]); });
  }
}

Status same_dtype(const Tensor& a, const Tensor& b, const std::string& where) {
  if (a.dtype() != b.dtype())
    return invalid_argument(where + "input types differ: " + dtype_name(a.dtype()) + " and " +
                            dtype_name(b.dtype()));
  return Status::Ok();
}

// Ops are functors over the compute type. `check` reports a problem found
// while computing (e.g. an integer division by zero) after the loop.
struct OpState {
  Status check(const std::string&) const { return Status::Ok(); }
};

struct AddOp : OpState {
  template <typename C> C operator()(C a, C b) { return detail::wrap_add(a, b); }
};
struct SubOp : OpState {
  template <typename C> C operator()(C a, C b) { return detail::wrap_sub(a, b); }
};
struct MulOp : OpState {
  template <typename C> C operator()(C a, C b) { return detail::wrap_mul(a, b); }
};

struct DivOp {
  bool by_zero = false;
  template <typename C> C operator()(C a, C b) {
    if constexpr (std::is_integral<C>::value) {
      if (b == 0) {
        by_zero = true;
        return 0;
      }
      if constexpr (std::is_signed<C>::value) {
        if (b == C(-1)) return detail::wrap_neg(a);  // lowest / -1 overflows
      }
      return static_cast<C>(a / b);  // truncates toward zero, like onnxruntime
    } else {
      return a / b;
    }
  }
  Status check(const std::string& where) const {
    return by_zero ? invalid_argument(where + "integer division by zero") : Status::Ok();
  }
};

struct ModOp {
  bool fmod = false;
  bool by_zero = false;
  bool float_without_fmod = false;
  template <typename C> C operator()(C a, C b) {
    if constexpr (std::is_integral<C>::value) {
      if (b == 0) {
        by_zero = true;
        return 0;
      }
      if constexpr (std::is_signed<C>::value) {
        if (b == C(-1)) return 0;
      }
      C r = static_cast<C>(a % b);
      // fmod=0: the result takes the divisor's sign (Python's %).
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
      return r;
    } else {
      if (!fmod) float_without_fmod = true;
      return std::fmod(a, b);
    }
  }
  Status check(const std::string& where) const {
    if (float_without_fmod) return invalid_model(where + "fmod must be 1 for floating-point inputs");
    return by_zero ? invalid_argument(where + "integer modulo by zero") : Status::Ok();
  }
};

struct BitShiftOp : OpState {
  bool left = true;
  template <typename C> C operator()(C a, C b) {
    using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, C>;
    if (b >= C(sizeof(C) * 8)) return 0;
    return static_cast<C>(left ? static_cast<U>(static_cast<U>(a) << b) : static_cast<U>(a) >> b);
  }
};

struct PReluOp : OpState {
  template <typename C> C operator()(C x, C slope) { return x < C(0) ? detail::wrap_mul(slope, x) : x; }
};

struct MaxOp : OpState {
  template <typename C> C operator()(C a, C b) {
    if constexpr (std::is_floating_point<C>::value) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
    }
    return a < b ? b : a;
  }
};
struct MinOp : OpState {
  template <typename C> C operator()(C a, C b) {
    if constexpr (std::is_floating_point<C>::value) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
    }
    return b < a ? b : a;
  }
};

// Comparisons and logic produce bool.
struct EqualOp : OpState {
  template <typename C> bool operator()(C a, C b) { return a == b; }
};
struct LessOp : OpState {
  template <typename C> bool operator()(C a, C b) { return a < b; }
};
struct GreaterOp : OpState {
  template <typename C> bool operator()(C a, C b) { return a > b; }
};
struct LessOrEqualOp : OpState {
  template <typename C> bool operator()(C a, C b) { return a <= b; }
};
struct GreaterOrEqualOp : OpState {
  template <typename C> bool operator()(C a, C b) { return a >= b; }
};
struct AndOp : OpState {
  bool operator()(bool a, bool b) { return a && b; }
};
struct OrOp : OpState {
  bool operator()(bool a, bool b) { return a || b; }
};
struct XorOp : OpState {
  bool operator()(bool a, bool b) { return a != b; }
};

template <typename Types, typename Op, bool kBoolOut>
class BinaryKernel : public detail::NodeKernel {
 public:
  BinaryKernel(const KernelInit& init, Op op) : NodeKernel(init), op_(op) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
    WQ_RETURN_IF_ERROR(same_dtype(*a, *b, where()));
    WQ_ASSIGN_OR_RETURN(Shape shape, detail::broadcast_shapes(a->shape(), b->shape(), where()));
    return detail::visit_dtype<Types>(a->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using O = std::conditional_t<kBoolOut, bool, T>;
      Op op = op_;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, kBoolOut ? DType::kBool : a->dtype(), shape));
      apply_binary<T, T, O>(*a, *b, y, [&](T x, T z) -> O {
        if constexpr (kBoolOut) {
          return op(detail::load(x), detail::load(z));
        } else {
          return detail::store<T>(op(detail::load(x), detail::load(z)));
        }
      });
      return op.check(where());
    });
  }

 private:
  Op op_;
};

template <typename Types, typename Op, bool kBoolOut = false>
void add_binary(OpRegistry& r, const char* name, int min_opset, Op op = Op{}) {
  r.add("", name, min_opset, kMaxSupportedOpset, [op](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(new BinaryKernel<Types, Op, kBoolOut>(init, op));
  });
}

Result<std::unique_ptr<OpKernel>> make_mod(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t fmod, detail::int_attr(init, "fmod", 0));
  ModOp op;
  op.fmod = fmod != 0;
  return std::unique_ptr<OpKernel>(new BinaryKernel<NumericTypes, ModOp, false>(init, op));
}

Result<std::unique_ptr<OpKernel>> make_bitshift(const KernelInit& init) {
  std::string dir;
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "direction", "", {"LEFT", "RIGHT"}, &dir));
  BitShiftOp op;
  op.left = dir == "LEFT";
  using UnsignedTypes = detail::TypeList<uint8_t, uint16_t, uint32_t, uint64_t>;
  return std::unique_ptr<OpKernel>(new BinaryKernel<UnsignedTypes, BitShiftOp, false>(init, op));
}

// ---- Pow: base and exponent may have different types -------------------------

template <typename T, typename E>
T pow_value(T x, E e) {
  const Compute<T> bx = detail::load(x);
  const Compute<E> ex = detail::load(e);
  if constexpr (std::is_same<Compute<T>, float>::value && std::is_same<Compute<E>, float>::value) {
    return detail::store<T>(std::pow(bx, ex));
  }
  const double r = std::pow(static_cast<double>(bx), static_cast<double>(ex));
  if constexpr (std::is_integral<T>::value) {
    return detail::saturate_cast<T>(r);
  }
  return detail::store<T>(static_cast<Compute<T>>(r));
}

class PowKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(Shape shape, detail::broadcast_shapes(a->shape(), b->shape(), where()));
    using BaseTypes = detail::TypeList<float, double, detail::Float16, detail::BFloat16, int32_t, int64_t>;
    return detail::visit_dtype<BaseTypes>(a->dtype(), where() + "base", [&](auto base_tag) -> Status {
      using T = decltype(base_tag);
      return detail::visit_dtype<NumericTypes>(b->dtype(), where() + "exponent", [&](auto exp_tag) -> Status {
        using E = decltype(exp_tag);
        WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, a->dtype(), shape));
        apply_binary<T, E, T>(*a, *b, y, [](T x, E e) { return pow_value<T, E>(x, e); });
        return Status::Ok();
      });
    });
  }
};

// ---- Not / Where ---------------------------------------------------------------

class NotKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->dtype() != DType::kBool)
      return unsupported(where() + "input type " + dtype_name(x->dtype()) + " is not supported (bool only)");
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kBool, x->shape()));
    for (int64_t i = 0; i < x->numel(); ++i) y->mutable_data<bool>()[i] = !x->data<bool>()[i];
    return Status::Ok();
  }
};

class WhereKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* c, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* y, detail::required_input(ctx, 2, where()));
    if (c->dtype() != DType::kBool)
      return invalid_argument(where() + "condition must be bool, got " + dtype_name(c->dtype()));
    WQ_RETURN_IF_ERROR(same_dtype(*x, *y, where()));
    WQ_ASSIGN_OR_RETURN(Shape s, detail::broadcast_shapes(c->shape(), x->shape(), where()));
    WQ_ASSIGN_OR_RETURN(s, detail::broadcast_shapes(s, y->shape(), where()));
    return detail::visit_by_size(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* out, ctx.allocate_output(0, x->dtype(), s));
      const std::vector<int64_t> strides[3] = {detail::broadcast_strides(c->shape(), s),
                                               detail::broadcast_strides(x->shape(), s),
                                               detail::broadcast_strides(y->shape(), s)};
      const bool* pc = c->data<bool>();
      const T* px = x->data<T>();
      const T* py = y->data<T>();
      T* po = out->mutable_data<T>();
      detail::for_each_broadcast(s, strides, [&](int64_t i, const int64_t* off) {
        po[i] = pc[off[0]] ? px[off[1]] : py[off[2]];
      });
      return Status::Ok();
    });
  }
};

// ---- variadic Max / Min / Sum / Mean ---------------------------------------------

template <typename Types, typename Op, bool kMean>
class VariadicKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;

  Status run(KernelContext& ctx) override {
    std::vector<const Tensor*> ins;
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (ctx.input(i)) ins.push_back(ctx.input(i));
    if (ins.empty()) return invalid_argument(where() + "needs at least one input");
    Shape shape = ins[0]->shape();
    for (size_t i = 1; i < ins.size(); ++i) {
      WQ_RETURN_IF_ERROR(same_dtype(*ins[0], *ins[i], where()));
      WQ_ASSIGN_OR_RETURN(shape, detail::broadcast_shapes(shape, ins[i]->shape(), where()));
    }
    return detail::visit_dtype<Types>(ins[0]->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, ins[0]->dtype(), shape));
      // Accumulate in the compute type so float16 sums round once.
      std::vector<C> acc(static_cast<size_t>(y->numel()));
      const std::vector<int64_t> first[1] = {detail::broadcast_strides(ins[0]->shape(), shape)};
      const T* p0 = ins[0]->data<T>();
      detail::for_each_broadcast(shape, first, [&](int64_t i, const int64_t* off) { acc[i] = detail::load(p0[off[0]]); });
      Op op;
      for (size_t k = 1; k < ins.size(); ++k) {
        const std::vector<int64_t> strides[1] = {detail::broadcast_strides(ins[k]->shape(), shape)};
        const T* pk = ins[k]->data<T>();
        detail::for_each_broadcast(shape, strides,
                                   [&](int64_t i, const int64_t* off) { acc[i] = op(acc[i], detail::load(pk[off[0]])); });
      }
      T* out = y->mutable_data<T>();
      for (size_t i = 0; i < acc.size(); ++i) {
        C v = acc[i];
        if constexpr (kMean) v = v / static_cast<C>(ins.size());
        out[i] = detail::store<T>(v);
      }
      return Status::Ok();
    });
  }
};

// Versions 6 required equal shapes; 8 added broadcasting, a superset.
template <typename Types, typename Op, bool kMean = false>
void add_variadic(OpRegistry& r, const char* name) {
  r.add("", name, 6, kMaxSupportedOpset, [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(new VariadicKernel<Types, Op, kMean>(init));
  });
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  constexpr int kMin = kMinSupportedOpset, kMax = kMaxSupportedOpset;
  using BoolTypes = detail::TypeList<bool>;
  add_binary<NumericTypes, AddOp>(r, "Add", kMin);
  add_binary<NumericTypes, SubOp>(r, "Sub", kMin);
  add_binary<NumericTypes, MulOp>(r, "Mul", kMin);
  add_binary<NumericTypes, DivOp>(r, "Div", kMin);
  add_binary<NumericTypes, PReluOp>(r, "PRelu", kMin);
  add_binary<AllTypes, EqualOp, true>(r, "Equal", kMin);
  add_binary<NumericTypes, LessOp, true>(r, "Less", kMin);
  add_binary<NumericTypes, GreaterOp, true>(r, "Greater", kMin);
  add_binary<NumericTypes, LessOrEqualOp, true>(r, "LessOrEqual", 12);
  add_binary<NumericTypes, GreaterOrEqualOp, true>(r, "GreaterOrEqual", 12);
  add_binary<BoolTypes, AndOp, true>(r, "And", kMin);
  add_binary<BoolTypes, OrOp, true>(r, "Or", kMin);
  add_binary<BoolTypes, XorOp, true>(r, "Xor", kMin);
  r.add("", "Mod", 10, kMax, make_mod);
  r.add("", "BitShift", 11, kMax, make_bitshift);
  r.add("", "Pow", kMin, kMax, detail::simple_factory<PowKernel>());
  r.add("", "Not", 1, kMax, detail::simple_factory<NotKernel>());
  r.add("", "Where", 9, kMax, detail::simple_factory<WhereKernel>());
  add_variadic<NumericTypes, MaxOp>(r, "Max");
  add_variadic<NumericTypes, MinOp>(r, "Min");
  add_variadic<NumericTypes, AddOp>(r, "Sum");
  add_variadic<FloatTypes, AddOp, true>(r, "Mean");
}

}  // namespace wq
