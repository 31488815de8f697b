// ConvInteger and QLinearConv (and the runtime's QLinearConv, whose zero points
// are optional and whose output may carry a fused Relu / Clip clamp:
// quant_ops_util.h) on QConv: NCHW, 1-D convolutions as 2-D with H = 1.
//
// Constant weights are packed on the first run, because the packed form
// depends on the input's spatial size, and again only when that changes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops_util.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::NodeKernel;
using detail::FusedQOutput;
using detail::float_values;
using detail::fused_output_params;
using detail::int_element;
using detail::int_values;
using detail::is_q8;
using detail::optional_input;
using detail::parse_fused_output;
using detail::read_attr_int;

// ---- ConvInteger / QLinearConv -------------------------------------------------------------

bool same_conv_shape(const QConvShape& a, const QConvShape& b) {
  return a.n == b.n && a.c_in == b.c_in && a.c_out == b.c_out && a.h == b.h && a.w == b.w && a.kh == b.kh &&
         a.kw == b.kw && a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.dilation_h == b.dilation_h &&
         a.dilation_w == b.dilation_w && a.pad_top == b.pad_top && a.pad_left == b.pad_left &&
         a.pad_bottom == b.pad_bottom && a.pad_right == b.pad_right && a.groups == b.groups;
}

class QConvKernel : public NodeKernel {
 public:
  // linear: QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B),
  // else ConvInteger (x, w, x_zero_point, w_zero_point).
  QConvKernel(const KernelInit& init, bool linear, FusedQOutput fused, detail::WindowAttrs window, int64_t group,
              bool weights_constant)
      : NodeKernel(init),
        linear_(linear),
        fused_(fused),
        window_(std::move(window)),
        group_(group),
        weights_constant_(weights_constant) {}

  static size_t w_index(bool linear) { return linear ? 3 : 1; }
  static size_t w_zp_index(bool linear) { return linear ? 5 : 3; }

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* w, detail::required_input(ctx, w_index(linear_), where()));
    const Tensor* x_zp = optional_input(ctx, 2);
    const Tensor* w_zp = optional_input(ctx, w_zp_index(linear_));
    const Tensor* bias = linear_ ? optional_input(ctx, 8) : nullptr;
    if (!is_q8(x->dtype()) || !is_q8(w->dtype())) {
      return unsupported(where() + "x and w types " + dtype_name(x->dtype()) + ", " + dtype_name(w->dtype()) +
                         " are not supported (uint8, int8)");
    }
    if (x->rank() != 3 && x->rank() != 4) {
      return unsupported(where() + "only 1-D and 2-D convolutions are supported, got input " +
                         shape_to_string(x->shape()));
    }
    if (w->rank() != x->rank()) {
      return invalid_argument(where() + "w " + shape_to_string(w->shape()) + " and x " + shape_to_string(x->shape()) +
                              " have different ranks");
    }
    if (x_zp && (x_zp->dtype() != x->dtype() || x_zp->numel() != 1)) {
      return invalid_argument(where() + "x_zero_point must be one " + dtype_name(x->dtype()) + " value, got " +
                              dtype_name(x_zp->dtype()) + " " + shape_to_string(x_zp->shape()));
    }
    const int64_t N = x->dim(0), C = x->dim(1), M = w->dim(0), G = group_;
    if (C % G != 0 || M % G != 0 || w->dim(1) != C / G) {
      return invalid_argument(where() + "channels do not match groups: x " + shape_to_string(x->shape()) + ", w " +
                              shape_to_string(w->shape()) + ", group " + std::to_string(G));
    }
    if (w_zp) {
      if (w_zp->dtype() != w->dtype()) {
        return invalid_argument(where() + "w_zero_point is " + dtype_name(w_zp->dtype()) + " but w is " +
                                dtype_name(w->dtype()));
      }
      if (w_zp->numel() != 1 && (w_zp->rank() != 1 || w_zp->dim(0) != M)) {
        return invalid_argument(where() + "w_zero_point must be a scalar or have " + std::to_string(M) +
                                " elements, got " + shape_to_string(w_zp->shape()));
      }
    }
    if (bias && (bias->dtype() != DType::kInt32 || bias->rank() != 1 || bias->dim(0) != M)) {
      return invalid_argument(where() + "B must be int32 of shape [" + std::to_string(M) + "], got " +
                              dtype_name(bias->dtype()) + " " + shape_to_string(bias->shape()));
    }
    const std::vector<int64_t> kernel(w->shape().begin() + 2, w->shape().end());
    if (!window_.kernel_shape.empty() && window_.kernel_shape != kernel) {
      return invalid_argument(where() + "kernel_shape " + shape_to_string(window_.kernel_shape) + " does not match w " +
                              shape_to_string(w->shape()));
    }
    const Shape spatial(x->shape().begin() + 2, x->shape().end());
    WQ_ASSIGN_OR_RETURN(detail::WindowGeometry g, detail::resolve_window(window_, spatial, kernel, where()));

    // Output parameters.
    std::vector<float> scales;
    QGemmRequantParams p;
    DType yt = DType::kInt32;
    if (linear_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* xs, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* ws, detail::required_input(ctx, 4, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* ys, detail::required_input(ctx, 6, where()));
      if (!x_zp && !fused_.fused) return invalid_argument(where() + "required input x_zero_point is missing");
      if (xs->numel() != 1) return invalid_argument(where() + "x_scale must have one element");
      if (ws->numel() != 1 && (ws->rank() != 1 || ws->dim(0) != M)) {
        return invalid_argument(where() + "w_scale must be a scalar or have " + std::to_string(M) + " elements, got " +
                                shape_to_string(ws->shape()));
      }
      float y_scale = 1.0f;
      WQ_RETURN_IF_ERROR(fused_output_params(fused_, *ys, optional_input(ctx, 7), where(), &y_scale, &yt, &p));
      WQ_ASSIGN_OR_RETURN(std::vector<float> xsv, float_values(*xs, false, where() + "x_scale"));
      WQ_ASSIGN_OR_RETURN(std::vector<float> wsv, float_values(*ws, false, where() + "w_scale"));
      scales.resize(size_t(M));
      for (int64_t c = 0; c < M; ++c)
        scales[size_t(c)] = requant_scale(xsv[0], wsv[wsv.size() == 1 ? 0 : size_t(c)], y_scale);
      p.scale = scales.data();
    }

    Shape out_shape = {N, M};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
    WQ_RETURN_IF_ERROR(detail::check_output_size(out_shape, yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, out_shape));
    if (y->numel() == 0) return Status::Ok();

    QConvShape s;
    s.n = size_t(N);
    s.c_in = size_t(C);
    s.c_out = size_t(M);
    s.groups = size_t(G);
    const bool two_d = spatial.size() == 2;
    s.h = two_d ? size_t(spatial[0]) : 1;
    s.w = size_t(spatial.back());
    s.kh = two_d ? size_t(kernel[0]) : 1;
    s.kw = size_t(kernel.back());
    s.stride_h = two_d ? size_t(g.stride[0]) : 1;
    s.stride_w = size_t(g.stride.back());
    s.dilation_h = two_d ? size_t(g.dilation[0]) : 1;
    s.dilation_w = size_t(g.dilation.back());
    s.pad_top = two_d ? size_t(g.pad_begin[0]) : 0;
    s.pad_bottom = two_d ? size_t(g.pad_end[0]) : 0;
    s.pad_left = size_t(g.pad_begin.back());
    s.pad_right = size_t(g.pad_end.back());

    // The packed weights depend on the input size (QConv::create takes the
    // whole shape), so constant weights are packed on the first run and again
    // only when the input shape changes.
    const QConv* conv = nullptr;
    QConv local;
    if (weights_constant_ && cached_ && same_conv_shape(cached_->shape(), s)) {
      conv = &*cached_;
    } else {
      const std::vector<int32_t> wzp = w_zp ? int_values(*w_zp) : std::vector<int32_t>();
      auto created = QConv::create(s, w->raw(), w->dtype() == DType::kInt8, wzp.empty() ? nullptr : wzp.data(),
                                   wzp.size() > 1, bias ? bias->data<int32_t>() : nullptr);
      if (!created.ok()) return created.status().with_context(where());
      if (weights_constant_) {
        cached_ = std::make_unique<QConv>(std::move(created).value());
        conv = &*cached_;
      } else {
        local = std::move(created).value();
        conv = &local;
      }
    }
    const int32_t xz = x_zp ? int32_t(int_element(*x_zp, 0)) : 0;
    const bool x_signed = x->dtype() == DType::kInt8;
    Status st = linear_ ? conv->run(x->raw(), x_signed, xz, p, y->mutable_raw())
                        : conv->run_s32(x->raw(), x_signed, xz, y->mutable_data<int32_t>());
    return st.ok() ? st : st.with_context(where());
  }

 private:
  bool linear_;
  FusedQOutput fused_;
  detail::WindowAttrs window_;
  int64_t group_;
  bool weights_constant_;
  std::unique_ptr<QConv> cached_;
};

}  // namespace

namespace detail {

KernelFactory qconv_factory(bool linear) {
  return [linear](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    WQ_ASSIGN_OR_RETURN(FusedQOutput fused, parse_fused_output(init));
    WQ_ASSIGN_OR_RETURN(detail::WindowAttrs window, detail::parse_window_attrs(init));
    int64_t group = 0;
    WQ_RETURN_IF_ERROR(read_attr_int(init, "group", 1, &group));
    if (group <= 0) return invalid_model(init.context() + "attribute group must be positive");
    auto known = [&](size_t i) { return !init.has_input(i) || init.constant_input(i) != nullptr; };
    const size_t wi = QConvKernel::w_index(linear), zi = QConvKernel::w_zp_index(linear);
    const bool constant = init.constant_input(wi) != nullptr && known(zi) && (!linear || known(8));
    return std::unique_ptr<OpKernel>(new QConvKernel(init, linear, fused, std::move(window), group, constant));
  };
}

}  // namespace detail
}  // namespace wq
