// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear, and the table
// that registers every quantized ONNX operator (quant_ops.h).
//
// Per-tensor and per-axis 8-bit rows run through the vector routines of
// qquantize.h; every other layout (block-wise, 16- and 4-bit types, float16
// scales) through the scalar definitions of core/qparams.h, which those
// routines match bit for bit.
#include "core/ops/quant_ops.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/qquantize.h"
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops_util.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::NodeKernel;
using detail::float_values;
using detail::int_element;
using detail::int_values;
using detail::is_q8;
using detail::optional_input;
using detail::quant_range;
using detail::read_attr_int;

constexpr const char* kMsDomain = "com.microsoft";

// ---- layout of quantization parameters ---------------------------------------------

// Where element e of a tensor finds its scale and zero point.
struct QLayout {
  enum class Kind { kTensor, kAxis, kBlock };
  Kind kind = Kind::kTensor;
  int64_t dim = 1, inner = 1;  // the quantization axis' size and the elements after it
  int64_t block = 0, blocks = 1;

  size_t index(int64_t e) const {
    switch (kind) {
      case Kind::kTensor:
        return 0;
      case Kind::kAxis:
        return size_t((e / inner) % dim);
      case Kind::kBlock: {
        const int64_t o = e / (dim * inner), d = (e / inner) % dim, i = e % inner;
        return size_t((o * blocks + d / block) * inner + i);
      }
    }
    return 0;
  }
};

// The ONNX rules: a scale with one element is per tensor; a 1-D scale with
// x.shape[axis] elements is per axis (opset 13+); with block_size (opset 21)
// the scale has x's rank and ceil(x.shape[axis] / block_size) along the axis.
// The zero point, when given, has the scale's shape.
Result<QLayout> resolve_layout(const Shape& x, const Tensor& scale, const Tensor* zp, int64_t axis, int64_t block_size,
                               int opset, const std::string& where, const char* scale_name) {
  if (zp && zp->shape() != scale.shape() && !(zp->numel() == 1 && scale.numel() == 1)) {
    return invalid_argument(where + "zero point shape " + shape_to_string(zp->shape()) + " differs from " + scale_name +
                            " shape " + shape_to_string(scale.shape()));
  }
  QLayout l;
  const int64_t rank = int64_t(x.size());
  if (scale.numel() == 1 && scale.rank() <= 1 && block_size <= 0) return l;
  if (block_size > 0) {
    if (scale.numel() == 1 && scale.rank() == 0) return l;
    WQ_ASSIGN_OR_RETURN(const int64_t ax, detail::normalize_axis(axis, rank, where + "attribute axis"));
    if (int64_t(scale.rank()) != rank) {
      return invalid_argument(where + "block-wise " + scale_name + " must have the input's rank " +
                              std::to_string(rank) + ", got shape " + shape_to_string(scale.shape()));
    }
    for (int64_t i = 0; i < rank; ++i) {
      if (i == ax) continue;
      if (scale.dim(size_t(i)) != x[size_t(i)]) {
        return invalid_argument(where + "block-wise " + scale_name + " shape " + shape_to_string(scale.shape()) +
                                " does not match input shape " + shape_to_string(x) + " outside axis " +
                                std::to_string(ax));
      }
    }
    const int64_t d = x[size_t(ax)], nb = scale.dim(size_t(ax));
    if ((d + block_size - 1) / block_size != nb) {
      return invalid_argument(where + "block_size " + std::to_string(block_size) + " gives " +
                              std::to_string((d + block_size - 1) / block_size) + " blocks along axis " +
                              std::to_string(ax) + " (size " + std::to_string(d) + "), but " + scale_name + " has " +
                              std::to_string(nb));
    }
    l.kind = QLayout::Kind::kBlock;
    l.dim = d;
    l.block = block_size;
    l.blocks = nb;
    l.inner = detail::dims_product(x, size_t(ax) + 1, x.size());
    return l;
  }
  if (opset < 13) {
    return invalid_argument(where + scale_name + " must be a scalar at opset " + std::to_string(opset) +
                            ", got shape " + shape_to_string(scale.shape()));
  }
  WQ_ASSIGN_OR_RETURN(const int64_t ax, detail::normalize_axis(axis, rank, where + "attribute axis"));
  if (scale.rank() != 1 || scale.dim(0) != x[size_t(ax)]) {
    return invalid_argument(where + "per-axis " + scale_name + " must be 1-D with " + std::to_string(x[size_t(ax)]) +
                            " elements (axis " + std::to_string(ax) + " of input " + shape_to_string(x) +
                            "), got shape " + shape_to_string(scale.shape()));
  }
  l.kind = QLayout::Kind::kAxis;
  l.dim = x[size_t(ax)];
  l.inner = detail::dims_product(x, size_t(ax) + 1, x.size());
  return l;
}

// Attributes axis / block_size shared by QuantizeLinear and DequantizeLinear.
struct QdqAttrs {
  int64_t axis = 1;
  int64_t block_size = 0;
};

Result<QdqAttrs> parse_qdq_attrs(const KernelInit& init) {
  QdqAttrs a;
  if (init.opset() >= 13) WQ_RETURN_IF_ERROR(read_attr_int(init, "axis", 1, &a.axis));
  if (init.opset() >= 21) {
    WQ_RETURN_IF_ERROR(read_attr_int(init, "block_size", 0, &a.block_size));
    if (a.block_size < 0) {
      return invalid_model(init.context() + "attribute block_size must be >= 0, got " + std::to_string(a.block_size));
    }
  }
  return a;
}

// ---- QuantizeLinear ------------------------------------------------------------------

class QuantizeLinearKernel : public NodeKernel {
 public:
  QuantizeLinearKernel(const KernelInit& init, QdqAttrs attrs, DType out_dtype, bool out_dtype_set)
      : NodeKernel(init), opset_(init.opset()), attrs_(attrs), out_dtype_(out_dtype), out_dtype_set_(out_dtype_set) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* scale, detail::required_input(ctx, 1, where()));
    const Tensor* zp = optional_input(ctx, 2);
    const DType yt = zp ? zp->dtype() : out_dtype_;
    if (zp && out_dtype_set_ && zp->dtype() != out_dtype_) {
      return invalid_argument(where() + "y_zero_point is " + dtype_name(zp->dtype()) +
                              " but attribute output_dtype is " + dtype_name(out_dtype_));
    }
    int32_t lo, hi;
    if (!quant_range(yt, &lo, &hi)) {
      return unsupported(where() + "output type " + dtype_name(yt) +
                         " is not supported (uint8, int8, uint16, int16, uint4, int4)");
    }
    WQ_ASSIGN_OR_RETURN(QLayout layout, resolve_layout(x->shape(), *scale, zp, attrs_.axis, attrs_.block_size, opset_,
                                                       where(), "y_scale"));
    WQ_ASSIGN_OR_RETURN(std::vector<float> sc, float_values(*scale, false, where() + "y_scale"));
    const std::vector<int32_t> zps = zp ? int_values(*zp) : std::vector<int32_t>(sc.size(), 0);
    WQ_RETURN_IF_ERROR(detail::check_output_size(x->shape(), yt, where()));
    // x as float: borrowed when it already is.
    std::vector<float> converted;
    const float* xf = nullptr;
    if (x->dtype() == DType::kFloat32) {
      xf = x->data<float>();
    } else {
      WQ_ASSIGN_OR_RETURN(converted, float_values(*x, opset_ >= 19, where() + "input x"));
      xf = converted.data();
    }
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, x->shape()));
    const int64_t n = x->numel();
    if (n == 0) return Status::Ok();

    if (is_q8(yt) && layout.kind != QLayout::Kind::kBlock) {
      const bool s8 = yt == DType::kInt8;
      auto row = [&](int64_t e0, int64_t len, size_t p) {
        if (s8) {
          quantize_row_qs8(xf + e0, size_t(len), sc[p], zps[p], y->mutable_data<int8_t>() + e0);
        } else {
          quantize_row_qu8(xf + e0, size_t(len), sc[p], zps[p], y->mutable_data<uint8_t>() + e0);
        }
      };
      if (layout.kind == QLayout::Kind::kTensor) {
        row(0, n, 0);
      } else {
        for (int64_t e0 = 0; e0 < n; e0 += layout.inner) row(e0, layout.inner, layout.index(e0));
      }
      return Status::Ok();
    }
    const bool four_bit = dtype_bits(yt) == 4;
    if (four_bit) std::memset(y->mutable_raw(), 0, y->nbytes());
    for (int64_t e = 0; e < n; ++e) {
      const size_t p = layout.index(e);
      const int32_t q = quantize_value(xf[e], sc[p], zps[p], lo, hi);
      switch (yt) {
        case DType::kUInt16:
          y->mutable_data<uint16_t>()[e] = uint16_t(q);
          break;
        case DType::kInt16:
          y->mutable_data<int16_t>()[e] = int16_t(q);
          break;
        case DType::kUInt8:
          y->mutable_data<uint8_t>()[e] = uint8_t(q);
          break;
        case DType::kInt8:
          y->mutable_data<int8_t>()[e] = int8_t(q);
          break;
        default:  // 4-bit: two per byte, low nibble first
          y->mutable_data<uint8_t>()[e >> 1] |= uint8_t((uint32_t(q) & 0xF) << ((e & 1) * 4));
          break;
      }
    }
    return Status::Ok();
  }

 private:
  int opset_;
  QdqAttrs attrs_;
  DType out_dtype_;
  bool out_dtype_set_;
};

Result<std::unique_ptr<OpKernel>> make_quantize_linear(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(QdqAttrs attrs, parse_qdq_attrs(init));
  DType out = DType::kUInt8;
  bool out_set = false;
  if (init.opset() >= 21 && init.has_attr("output_dtype")) {
    int64_t od = 0;
    WQ_RETURN_IF_ERROR(read_attr_int(init, "output_dtype", 0, &od));
    int32_t lo, hi;
    if (od != 0) {
      if (od < 0 || od > 255 || !dtype_is_known(int32_t(od)) || !quant_range(DType(od), &lo, &hi)) {
        return unsupported(init.context() + "attribute output_dtype=" + std::to_string(od) +
                           " is not supported (uint8, int8, uint16, int16, uint4, int4)");
      }
      out = DType(od);
      out_set = true;
    }
  }
  return std::unique_ptr<OpKernel>(new QuantizeLinearKernel(init, attrs, out, out_set));
}

// ---- DequantizeLinear ----------------------------------------------------------------

class DequantizeLinearKernel : public NodeKernel {
 public:
  DequantizeLinearKernel(const KernelInit& init, QdqAttrs attrs)
      : NodeKernel(init), opset_(init.opset()), attrs_(attrs) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* scale, detail::required_input(ctx, 1, where()));
    const Tensor* zp = optional_input(ctx, 2);
    int32_t lo, hi;
    if (!quant_range(x->dtype(), &lo, &hi) && x->dtype() != DType::kInt32) {
      return unsupported(where() + "input type " + dtype_name(x->dtype()) +
                         " is not supported (uint8, int8, int32, uint16, int16, uint4, int4)");
    }
    if (zp && zp->dtype() != x->dtype()) {
      return invalid_argument(where() + "x_zero_point is " + dtype_name(zp->dtype()) + " but x is " +
                              dtype_name(x->dtype()));
    }
    const DType yt = scale->dtype();
    if (yt != DType::kFloat32 && yt != DType::kFloat16 && yt != DType::kBFloat16) {
      return unsupported(where() + "x_scale type " + dtype_name(yt) + " is not supported (float, float16, bfloat16)");
    }
    WQ_ASSIGN_OR_RETURN(QLayout layout, resolve_layout(x->shape(), *scale, zp, attrs_.axis, attrs_.block_size, opset_,
                                                       where(), "x_scale"));
    WQ_ASSIGN_OR_RETURN(std::vector<float> sc, float_values(*scale, false, where() + "x_scale"));
    const std::vector<int32_t> zps = zp ? int_values(*zp) : std::vector<int32_t>(sc.size(), 0);
    WQ_RETURN_IF_ERROR(detail::check_output_size(x->shape(), yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, x->shape()));
    const int64_t n = x->numel();
    if (n == 0) return Status::Ok();

    if (yt == DType::kFloat32 && is_q8(x->dtype()) && layout.kind != QLayout::Kind::kBlock) {
      float* yf = y->mutable_data<float>();
      const bool s8 = x->dtype() == DType::kInt8;
      auto row = [&](int64_t e0, int64_t len, size_t p) {
        if (s8) {
          dequantize_row_qs8(x->data<int8_t>() + e0, size_t(len), sc[p], zps[p], yf + e0);
        } else {
          dequantize_row_qu8(x->data<uint8_t>() + e0, size_t(len), sc[p], zps[p], yf + e0);
        }
      };
      if (layout.kind == QLayout::Kind::kTensor) {
        row(0, n, 0);
      } else {
        for (int64_t e0 = 0; e0 < n; e0 += layout.inner) row(e0, layout.inner, layout.index(e0));
      }
      return Status::Ok();
    }
    for (int64_t e = 0; e < n; ++e) {
      const size_t p = layout.index(e);
      // int64: an int32 input minus its zero point must not overflow.
      const float v = float(int_element(*x, e) - int64_t(zps[p])) * sc[p];
      switch (yt) {
        case DType::kFloat16:
          y->mutable_data<uint16_t>()[e] = float_to_half(v);
          break;
        case DType::kBFloat16:
          y->mutable_data<uint16_t>()[e] = float_to_bfloat16(v);
          break;
        default:
          y->mutable_data<float>()[e] = v;
          break;
      }
    }
    return Status::Ok();
  }

 private:
  int opset_;
  QdqAttrs attrs_;
};

Result<std::unique_ptr<OpKernel>> make_dequantize_linear(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(QdqAttrs attrs, parse_qdq_attrs(init));
  return std::unique_ptr<OpKernel>(new DequantizeLinearKernel(init, attrs));
}

// ---- DynamicQuantizeLinear -------------------------------------------------------------

class DynamicQuantizeLinearKernel : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    if (x->dtype() != DType::kFloat32) {
      return unsupported(where() + "input type " + dtype_name(x->dtype()) + " is not supported (float)");
    }
    WQ_RETURN_IF_ERROR(detail::check_output_size(x->shape(), DType::kUInt8, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kUInt8, x->shape()));
    float scale = 1.0f;
    uint8_t zp = 0;
    dynamic_quantize_linear_qu8(x->data<float>(), size_t(x->numel()), y->mutable_data<uint8_t>(), &scale, &zp);
    if (ctx.has_output(1)) {
      WQ_ASSIGN_OR_RETURN(Tensor * s, ctx.allocate_output(1, DType::kFloat32, {}));
      *s->mutable_data<float>() = scale;
    }
    if (ctx.has_output(2)) {
      WQ_ASSIGN_OR_RETURN(Tensor * z, ctx.allocate_output(2, DType::kUInt8, {}));
      *z->mutable_data<uint8_t>() = zp;
    }
    return Status::Ok();
  }
};

}  // namespace

void register_quant_ops(OpRegistry& r) {
  r.add("", "QuantizeLinear", 10, kMaxSupportedOpset, make_quantize_linear);
  r.add("", "DequantizeLinear", 10, kMaxSupportedOpset, make_dequantize_linear);
  r.add("", "DynamicQuantizeLinear", 11, kMaxSupportedOpset, detail::simple_factory<DynamicQuantizeLinearKernel>());
  r.add("", "MatMulInteger", 10, kMaxSupportedOpset, detail::qmatmul_factory(false));
  r.add("", "QLinearMatMul", 10, kMaxSupportedOpset, detail::qmatmul_factory(true));
  r.add("", "ConvInteger", 10, kMaxSupportedOpset, detail::qconv_factory(false));
  r.add("", "QLinearConv", 10, kMaxSupportedOpset, detail::qconv_factory(true));
  r.add(kMsDomain, "MatMulNBits", 1, 1, detail::make_matmul_nbits);
}

}  // namespace wq
