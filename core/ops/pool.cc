// MaxPool, AveragePool, LpPool and the global pools, for any number of spatial dims.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;
using detail::WindowGeometry;

// For each output position of one (n, c) plane, calls
//   f(out_index, taps, num_taps, padded_count)
// where taps are the row-major offsets of the window's positions inside the
// input and padded_count counts window positions inside input + pads (what
// AveragePool divides by with count_include_pad).
template <typename F>
void for_each_pool_window(const WindowGeometry& g, F&& f) {
  const size_t nd = g.in.size();
  const int64_t kprod = shape_numel(g.kernel), out_size = shape_numel(g.out);
  const std::vector<int64_t> in_strides = detail::contiguous_strides(g.in);
  std::vector<int64_t> o(nd, 0), k(nd, 0), taps(static_cast<size_t>(kprod));
  for (int64_t out = 0; out < out_size; ++out) {
    int64_t num = 0, padded = 0;
    std::fill(k.begin(), k.end(), 0);
    for (int64_t kk = 0; kk < kprod; ++kk) {
      bool inside = true, inside_pads = true;
      int64_t off = 0;
      for (size_t d = 0; d < nd; ++d) {
        const int64_t pos = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
        if (pos < 0 || pos >= g.in[d]) inside = false;
        if (pos < -g.pad_begin[d] || pos >= g.in[d] + g.pad_end[d]) inside_pads = false;
        off += pos * in_strides[d];
      }
      if (inside) taps[num++] = off;
      if (inside_pads) ++padded;
      for (size_t d = nd; d-- > 0;) {
        if (++k[d] < g.kernel[d]) break;
        k[d] = 0;
      }
    }
    f(out, taps.data(), num, padded);
    for (size_t d = nd; d-- > 0;) {
      if (++o[d] < g.out[d]) break;
      o[d] = 0;
    }
  }
}

enum class PoolKind { kMax, kAverage, kLp };

class PoolKernel : public detail::NodeKernel {
 public:
  PoolKernel(const KernelInit& init, PoolKind kind, detail::WindowAttrs attrs, bool count_include_pad,
             int64_t storage_order, int64_t p)
      : NodeKernel(init),
        kind_(kind),
        attrs_(std::move(attrs)),
        count_include_pad_(count_include_pad),
        storage_order_(storage_order),
        p_(p) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 3)
      return invalid_argument(where() + "X must have rank >= 3 (N, C, spatial...), got " + shape_to_string(x->shape()));
    const Shape spatial(x->shape().begin() + 2, x->shape().end());
    WQ_ASSIGN_OR_RETURN(WindowGeometry g, detail::resolve_window(attrs_, spatial, attrs_.kernel_shape, where()));
    Shape out_shape = {x->dim(0), x->dim(1)};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
    const bool want_indices = kind_ == PoolKind::kMax && ctx.num_outputs() > 1 && ctx.has_output(1);
    using MaxTypes = detail::TypeList<float, double, detail::Float16, detail::BFloat16, int8_t, uint8_t>;
    using AvgTypes = detail::FloatTypes;
    auto body = [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out_shape));
      int64_t* pi = nullptr;
      if (want_indices) {
        WQ_ASSIGN_OR_RETURN(Tensor* ind, ctx.allocate_output(1, DType::kInt64, out_shape));
        pi = ind->mutable_data<int64_t>();
      }
      const int64_t in_size = shape_numel(g.in), out_size = shape_numel(g.out), planes = x->dim(0) * x->dim(1);
      const std::vector<int64_t> in_strides = detail::contiguous_strides(g.in);
      for (int64_t plane = 0; plane < planes; ++plane) {
        const T* xp = x->data<T>() + plane * in_size;
        T* yp = y->mutable_data<T>() + plane * out_size;
        for_each_pool_window(g, [&](int64_t out, const int64_t* taps, int64_t num, int64_t padded) {
          if (kind_ == PoolKind::kMax) {
            C best = std::numeric_limits<C>::lowest();
            int64_t arg = num > 0 ? taps[0] : 0;
            for (int64_t t = 0; t < num; ++t) {
              const C v = detail::load(xp[taps[t]]);
              if (v > best) best = v, arg = taps[t];
            }
            yp[out] = detail::store<T>(best);
            if (pi) pi[plane * out_size + out] = plane * in_size + index_in_storage_order(arg, g, in_strides);
          } else if constexpr (detail::is_float_v<T>) {  // AveragePool / LpPool: float types only
            C sum = 0;
            if (kind_ == PoolKind::kAverage) {
              for (int64_t t = 0; t < num; ++t) sum += detail::load(xp[taps[t]]);
              const int64_t count = count_include_pad_ ? padded : num;
              yp[out] = detail::store<T>(count > 0 ? sum / static_cast<C>(count) : C(0));
            } else {
              for (int64_t t = 0; t < num; ++t) sum += std::pow(std::abs(detail::load(xp[taps[t]])), static_cast<C>(p_));
              yp[out] = detail::store<T>(std::pow(sum, C(1) / static_cast<C>(p_)));
            }
          }
        });
      }
      return Status::Ok();
    };
    if (kind_ == PoolKind::kMax) return detail::visit_dtype<MaxTypes>(x->dtype(), where() + "input", body);
    return detail::visit_dtype<AvgTypes>(x->dtype(), where() + "input", body);
  }

 private:
  // MaxPool's Indices: the row-major offset, or with storage_order=1 the
  // column-major one (first spatial dim fastest).
  int64_t index_in_storage_order(int64_t offset, const WindowGeometry& g, const std::vector<int64_t>& strides) const {
    if (storage_order_ == 0) return offset;
    int64_t index = 0, scale = 1;
    for (size_t d = 0; d < g.in.size(); ++d) {
      const int64_t pos = (offset / strides[d]) % g.in[d];
      index += pos * scale;
      scale *= g.in[d];
    }
    return index;
  }

  PoolKind kind_;
  detail::WindowAttrs attrs_;
  bool count_include_pad_;
  int64_t storage_order_;
  int64_t p_;
};

template <PoolKind kKind>
Result<std::unique_ptr<OpKernel>> make_pool(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(detail::WindowAttrs a, detail::parse_window_attrs(init));
  if (a.kernel_shape.empty()) return invalid_model(init.context() + "kernel_shape is required");
  WQ_ASSIGN_OR_RETURN(int64_t count_include_pad, detail::int_attr(init, "count_include_pad", 0));
  WQ_ASSIGN_OR_RETURN(int64_t storage_order, detail::int_attr(init, "storage_order", 0));
  WQ_ASSIGN_OR_RETURN(int64_t p, detail::int_attr(init, "p", 2));
  if (storage_order != 0 && storage_order != 1)
    return invalid_model(init.context() + "storage_order must be 0 or 1, got " + std::to_string(storage_order));
  if (kKind == PoolKind::kLp && p <= 0)
    return unsupported(init.context() + "attribute p=" + std::to_string(p) + " is not supported");
  return std::unique_ptr<OpKernel>(
      new PoolKernel(init, kKind, std::move(a), count_include_pad != 0, storage_order, p));
}

// GlobalAveragePool / GlobalMaxPool: one window covering all spatial dims.
template <PoolKind kKind>
class GlobalPoolKernel : public detail::NodeKernel {
 public:
  using NodeKernel::NodeKernel;

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->rank() < 2) return invalid_argument(where() + "X must have rank >= 2, got " + shape_to_string(x->shape()));
    Shape out_shape = x->shape();
    for (size_t i = 2; i < out_shape.size(); ++i) out_shape[i] = 1;
    return detail::visit_dtype<detail::FloatTypes>(x->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using C = Compute<T>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x->dtype(), out_shape));
      const int64_t planes = x->dim(0) * x->dim(1);
      const int64_t size = planes > 0 ? x->numel() / planes : 0;
      for (int64_t p = 0; p < planes; ++p) {
        const T* xp = x->data<T>() + p * size;
        C acc = kKind == PoolKind::kMax ? std::numeric_limits<C>::lowest() : C(0);
        for (int64_t i = 0; i < size; ++i) {
          const C v = detail::load(xp[i]);
          acc = kKind == PoolKind::kMax ? std::max(acc, v) : acc + v;
        }
        if (kKind == PoolKind::kAverage) acc = size > 0 ? acc / static_cast<C>(size) : C(0);
        y->mutable_data<T>()[p] = detail::store<T>(acc);
      }
      return Status::Ok();
    });
  }
};

}  // namespace

void register_pool_ops(OpRegistry& r) {
  constexpr int kMax = kMaxSupportedOpset;
  r.add("", "MaxPool", 1, kMax, make_pool<PoolKind::kMax>);
  r.add("", "AveragePool", 1, kMax, make_pool<PoolKind::kAverage>);
  r.add("", "LpPool", 2, kMax, make_pool<PoolKind::kLp>);
  r.add("", "GlobalAveragePool", 1, kMax, detail::simple_factory<GlobalPoolKernel<PoolKind::kAverage>>());
  r.add("", "GlobalMaxPool", 1, kMax, detail::simple_factory<GlobalPoolKernel<PoolKind::kMax>>());
}

}  // namespace wq
