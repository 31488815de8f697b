// Reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare),
// ArgMax/ArgMin, TopK and CumSum.
//
// Reductions walk the input once and accumulate into the output element its
// index maps to (output strides are 0 along reduced axes). Float types
// accumulate in double; integer types in 64 bits with wrap-around.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;

template <typename T>
using Acc = std::conditional_t<detail::is_float_v<T>, double,
                               std::conditional_t<std::is_signed<T>::value, int64_t, uint64_t>>;

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

template <typename A> A reduce_init(ReduceKind k) {
  switch (k) {
    case ReduceKind::kMax:
      return std::is_floating_point<A>::value ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest();
    case ReduceKind::kMin:
      return std::is_floating_point<A>::value ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max();
    case ReduceKind::kProd: return A(1);
    default: return A(0);
  }
}

template <typename A> A reduce_step(ReduceKind k, A acc, A v) {
  switch (k) {
    case ReduceKind::kSum: case ReduceKind::kMean: case ReduceKind::kLogSum: return detail::wrap_add(acc, v);
    case ReduceKind::kMax: return v > acc ? v : acc;
    case ReduceKind::kMin: return v < acc ? v : acc;
    case ReduceKind::kProd: return detail::wrap_mul(acc, v);
    case ReduceKind::kL1: return detail::wrap_add(acc, v < A(0) ? detail::wrap_neg(v) : v);
    case ReduceKind::kL2: case ReduceKind::kSumSquare: return detail::wrap_add(acc, detail::wrap_mul(v, v));
    case ReduceKind::kLogSumExp: return acc + static_cast<A>(std::exp(static_cast<double>(v)));
  }
  return acc;
}

template <typename A> A reduce_final(ReduceKind k, A acc, int64_t count) {
  switch (k) {
    case ReduceKind::kMean: return count > 0 ? acc / static_cast<A>(count) : acc;
    case ReduceKind::kL2: return static_cast<A>(std::sqrt(static_cast<double>(acc)));
    case ReduceKind::kLogSum: case ReduceKind::kLogSumExp: return static_cast<A>(std::log(static_cast<double>(acc)));
    default: return acc;
  }
}

struct AxesSpec {
  bool from_input = false;
  std::vector<int64_t> attr;
  bool keepdims = true;
  bool noop_with_empty_axes = false;
};

// Normalized axes to reduce (all axes when none are given).
Result<std::vector<int64_t>> resolve_axes(const AxesSpec& spec, const KernelContext& ctx, int64_t rank,
                                          const std::string& where, bool* noop) {
  std::vector<int64_t> axes = spec.attr;
  if (spec.from_input && ctx.num_inputs() > 1 && ctx.input(1)) {
    WQ_ASSIGN_OR_RETURN(axes, detail::tensor_to_int64s(*ctx.input(1), where + "axes"));
  }
  *noop = axes.empty() && spec.noop_with_empty_axes;
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  return detail::normalize_axes(axes, rank, where + "axes");
}

class ReduceKernel : public detail::NodeKernel {
 public:
  ReduceKernel(const KernelInit& init, ReduceKind kind, AxesSpec spec)
      : NodeKernel(init), kind_(kind), spec_(std::move(spec)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    bool noop = false;
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resolve_axes(spec_, ctx, rank, where(), &noop));
    if (noop) {
      ctx.set_output(0, *x);
      return Status::Ok();
    }
    Shape kept = x->shape();
    for (int64_t a : axes) kept[a] = 1;
    Shape out;
    for (int64_t d = 0; d < rank; ++d)
      if (spec_.keepdims || std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(kept[d]);
    const int64_t out_n = shape_numel(kept);
    const int64_t count = out_n > 0 ? x->numel() / out_n : 0;

    auto body = [&](auto tag) -> Status {
      using T = decltype(tag);
      using A = Acc<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out));
      std::vector<A> acc(static_cast<size_t>(out_n), reduce_init<A>(kind_));
      // Output offset for each input element: kept strides, zero along reduced axes.
      std::vector<int64_t> strides = detail::contiguous_strides(kept);
      for (int64_t a : axes) strides[a] = 0;
      const std::vector<int64_t> s[1] = {strides};
      const T* px = x->data<T>();
      detail::for_each_broadcast(x->shape(), s, [&](int64_t i, const int64_t* off) {
        acc[off[0]] = reduce_step(kind_, acc[off[0]], static_cast<A>(detail::load(px[i])));
      });
      T* py = y->mutable_data<T>();
      for (int64_t i = 0; i < out_n; ++i) {
        const A v = reduce_final(kind_, acc[i], count);
        if constexpr (detail::is_float_v<T>) {
          py[i] = detail::store<T>(static_cast<Compute<T>>(v));
        } else {
          py[i] = static_cast<T>(v);  // integer results wrap to T, as onnxruntime's do
        }
      }
      return Status::Ok();
    };
    const bool float_only = kind_ == ReduceKind::kL2 || kind_ == ReduceKind::kLogSum || kind_ == ReduceKind::kLogSumExp;
    if (float_only) return detail::visit_dtype<detail::FloatTypes>(x->dtype(), where() + "input", body);
    return detail::visit_dtype<detail::NumericTypes>(x->dtype(), where() + "input", body);
  }

 private:
  ReduceKind kind_;
  AxesSpec spec_;
};

// axes_input_since: the opset from which axes is an input (13 for ReduceSum, 18 for the rest).
template <ReduceKind kKind, int kAxesInputSince>
Result<std::unique_ptr<OpKernel>> make_reduce(const KernelInit& init) {
  AxesSpec spec;
  WQ_ASSIGN_OR_RETURN(int64_t keep, detail::int_attr(init, "keepdims", 1));
  spec.keepdims = keep != 0;
  if (init.opset() >= kAxesInputSince) {
    WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"axes"}));
    spec.from_input = true;
    WQ_ASSIGN_OR_RETURN(int64_t noop, detail::int_attr(init, "noop_with_empty_axes", 0));
    spec.noop_with_empty_axes = noop != 0;
  } else {
    WQ_ASSIGN_OR_RETURN(detail::IntsAttr axes, detail::read_ints_attr(init, "axes"));
    spec.attr = axes.values;
  }
  return std::unique_ptr<OpKernel>(new ReduceKernel(init, kKind, std::move(spec)));
}

// ---- ArgMax / ArgMin ---------------------------------------------------------------------

class ArgKernel : public detail::NodeKernel {
 public:
  ArgKernel(const KernelInit& init, bool is_max, int64_t axis, bool keepdims, bool last)
      : NodeKernel(init), is_max_(is_max), axis_(axis), keepdims_(keepdims), last_(last) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    const int64_t n = x->dim(axis);
    if (n == 0) return invalid_argument(where() + "cannot take arg over an empty axis");
    Shape out = x->shape();
    if (keepdims_) {
      out[axis] = 1;
    } else {
      out.erase(out.begin() + axis);
    }
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t inner = detail::dims_product(x->shape(), axis + 1, rank);
    return detail::visit_dtype<detail::NumericTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, DType::kInt64, out));
      const T* px = x->data<T>();
      int64_t* py = y->mutable_data<int64_t>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          const T* p = px + o * n * inner + in;
          auto best = detail::load(p[0]);
          int64_t arg = 0;
          for (int64_t i = 1; i < n; ++i) {
            const auto v = detail::load(p[i * inner]);
            const bool better = is_max_ ? (v > best || (last_ && v == best)) : (v < best || (last_ && v == best));
            if (better) best = v, arg = i;
          }
          py[o * inner + in] = arg;
        }
      return Status::Ok();
    });
  }

 private:
  bool is_max_;
  int64_t axis_;
  bool keepdims_, last_;
};

template <bool kMax>
Result<std::unique_ptr<OpKernel>> make_arg(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", 0));
  WQ_ASSIGN_OR_RETURN(int64_t keep, detail::int_attr(init, "keepdims", 1));
  WQ_ASSIGN_OR_RETURN(int64_t last, detail::int_attr(init, "select_last_index", 0));
  return std::unique_ptr<OpKernel>(new ArgKernel(init, kMax, axis, keep != 0, last != 0));
}

// ---- TopK ------------------------------------------------------------------------------------

class TopKKernel : public detail::NodeKernel {
 public:
  // TopK-1 takes k as an attribute; from 10 it is input 1.
  TopKKernel(const KernelInit& init, int64_t axis, bool largest, int64_t attr_k, bool k_input)
      : NodeKernel(init), axis_(axis), largest_(largest), attr_k_(attr_k), k_input_(k_input) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    int64_t k = attr_k_;
    if (k_input_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* kt, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(std::vector<int64_t> kv, detail::tensor_to_int64s(*kt, where() + "K"));
      if (kv.size() != 1) return invalid_argument(where() + "K must have one element");
      k = kv[0];
    }
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(axis_, rank, where() + "axis"));
    const int64_t n = x->dim(axis);
    if (k < 0 || k > n)
      return invalid_argument(where() + "K=" + std::to_string(k) + " is out of range for axis size " + std::to_string(n));
    Shape out = x->shape();
    out[axis] = k;
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t inner = detail::dims_product(x->shape(), axis + 1, rank);
    return detail::visit_dtype<detail::NumericTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      WQ_ASSIGN_OR_RETURN(Tensor* values, ctx.allocate_output(0, x->dtype(), out));
      Tensor* indices = nullptr;
      if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
        WQ_ASSIGN_OR_RETURN(indices, ctx.allocate_output(1, DType::kInt64, out));
      }
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::vector<Compute<T>> row(static_cast<size_t>(n));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          const T* p = x->data<T>() + o * n * inner + in;
          for (int64_t i = 0; i < n; ++i) row[i] = detail::load(p[i * inner]);
          std::iota(order.begin(), order.end(), int64_t(0));
          // Ties keep the lower index first, as the spec requires.
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            return largest_ ? row[a] > row[b] : row[a] < row[b];
          });
          for (int64_t j = 0; j < k; ++j) {
            const int64_t at = o * k * inner + j * inner + in;
            values->mutable_data<T>()[at] = p[order[j] * inner];
            if (indices) indices->mutable_data<int64_t>()[at] = order[j];
          }
        }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
  bool largest_;
  int64_t attr_k_;
  bool k_input_;
};

Result<std::unique_ptr<OpKernel>> make_topk(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t axis, detail::int_attr(init, "axis", -1));
  WQ_ASSIGN_OR_RETURN(int64_t largest, detail::int_attr(init, "largest", 1));
  WQ_ASSIGN_OR_RETURN(int64_t k, detail::int_attr(init, "k", 0));
  const bool k_input = init.opset() >= 10;
  if (k_input) WQ_RETURN_IF_ERROR(detail::reject_moved_attrs(init, {"k"}));
  if (!k_input && !init.has_attr("k")) return invalid_model(init.context() + "attribute k is required");
  return std::unique_ptr<OpKernel>(new TopKKernel(init, axis, largest != 0, k, k_input));
}

// ---- CumSum ------------------------------------------------------------------------------------

class CumSumKernel : public detail::NodeKernel {
 public:
  CumSumKernel(const KernelInit& init, bool exclusive, bool reverse)
      : NodeKernel(init), exclusive_(exclusive), reverse_(reverse) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 1, where()));
    WQ_ASSIGN_OR_RETURN(std::vector<int64_t> av, detail::tensor_to_int64s(*a, where() + "axis"));
    if (av.size() != 1) return invalid_argument(where() + "axis must be a scalar");
    const int64_t rank = static_cast<int64_t>(x->rank());
    WQ_ASSIGN_OR_RETURN(int64_t axis, detail::normalize_axis(av[0], rank, where() + "axis"));
    const int64_t n = x->dim(axis);
    const int64_t outer = detail::dims_product(x->shape(), 0, axis);
    const int64_t inner = detail::dims_product(x->shape(), axis + 1, rank);
    return detail::visit_dtype<detail::NumericTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), x->shape()));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          const T* p = x->data<T>() + o * n * inner + in;
          T* q = y->mutable_data<T>() + o * n * inner + in;
          C sum = 0;
          for (int64_t s = 0; s < n; ++s) {
            const int64_t i = reverse_ ? n - 1 - s : s;
            const C v = detail::load(p[i * inner]);
            if (exclusive_) {
              q[i * inner] = detail::store<T>(sum);
              sum = detail::wrap_add(sum, v);
            } else {
              sum = detail::wrap_add(sum, v);
              q[i * inner] = detail::store<T>(sum);
            }
          }
        }
      return Status::Ok();
    });
  }

 private:
  bool exclusive_, reverse_;
};

Result<std::unique_ptr<OpKernel>> make_cumsum(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(int64_t ex, detail::int_attr(init, "exclusive", 0));
  WQ_ASSIGN_OR_RETURN(int64_t rev, detail::int_attr(init, "reverse", 0));
  return std::unique_ptr<OpKernel>(new CumSumKernel(init, ex != 0, rev != 0));
}

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  constexpr int kMax = kMaxSupportedOpset;
  r.add("", "ReduceSum", 1, kMax, make_reduce<ReduceKind::kSum, 13>);
  r.add("", "ReduceMean", 1, kMax, make_reduce<ReduceKind::kMean, 18>);
  r.add("", "ReduceMax", 1, kMax, make_reduce<ReduceKind::kMax, 18>);
  r.add("", "ReduceMin", 1, kMax, make_reduce<ReduceKind::kMin, 18>);
  r.add("", "ReduceProd", 1, kMax, make_reduce<ReduceKind::kProd, 18>);
  r.add("", "ReduceL1", 1, kMax, make_reduce<ReduceKind::kL1, 18>);
  r.add("", "ReduceL2", 1, kMax, make_reduce<ReduceKind::kL2, 18>);
  r.add("", "ReduceLogSum", 1, kMax, make_reduce<ReduceKind::kLogSum, 18>);
  r.add("", "ReduceLogSumExp", 1, kMax, make_reduce<ReduceKind::kLogSumExp, 18>);
  r.add("", "ReduceSumSquare", 1, kMax, make_reduce<ReduceKind::kSumSquare, 18>);
  r.add("", "ArgMax", 1, kMax, make_arg<true>);
  r.add("", "ArgMin", 1, kMax, make_arg<false>);
  r.add("", "TopK", 1, kMax, make_topk);
  r.add("", "CumSum", 11, kMax, make_cumsum);
}

}  // namespace wq
