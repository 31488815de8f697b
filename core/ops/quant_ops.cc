// Quantized ONNX operators (see quant_ops.h) on top of the int8 / int4 kernels.
//
// What goes where:
// * element-wise (Quantize/Dequantize/DynamicQuantizeLinear): per-tensor and
//   per-axis 8-bit rows run through the vector routines of qquantize.h; every
//   other layout (block-wise, 16- and 4-bit types, float16 scales) through the
//   scalar definitions of core/qparams.h, which those routines match bit
//   for bit.
// * MatMulInteger / QLinearMatMul: B packed with qgemm_pack_w (zero point folded
//   in), A widened row by row with its own zero point, then the int32 or the
//   requantizing GEMM driver.
// * ConvInteger / QLinearConv: QConv (NCHW; 1-D convolutions as 2-D with H = 1).
// * com.microsoft MatMulNBits: 4 bits in blocks of 32k: qb4_pack_w, then the
//   int8-activation path (accuracy_level 4, as the attribute allows) or the
//   float-activation path; 2 and 8 bits, and 16-element blocks: weights
//   dequantized once, then the packed f32 GEMM.
// * the runtime's fused ops (webquant.runtime, quant_ops.h): QLinearConv and
//   QLinearMatMul are the kernels above with optional zero points and a fused
//   Relu/Clip clamp; QGemm and DynamicQMatMul pack B once (bias folded into the
//   panels for QGemm) and run the requantizing / float-output GEMM drivers.
#include "core/ops/quant_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/kernels/f32_gemm.h"
#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/kernels/qgemm_4bit.h"
#include "core/kernels/qquantize.h"
#include "core/ops/ops_util.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::NodeKernel;

constexpr const char* kMsDomain = "com.microsoft";

const Tensor* optional_input(const KernelContext& ctx, size_t i) {
  return i < ctx.num_inputs() ? ctx.input(i) : nullptr;
}

// An integer attribute, or its failure with the node's context.
Status read_attr_int(const KernelInit& init, const char* name, int64_t fallback, int64_t* out) {
  auto r = init.attr_int(name, fallback);
  if (!r.ok()) return detail::in_node(r.status(), init);
  *out = r.value();
  return Status::Ok();
}

// ---- element access -------------------------------------------------------------

// Integer range of the quantized types; false for anything else.
bool quant_range(DType t, int32_t* lo, int32_t* hi) {
  switch (t) {
    case DType::kUInt8:
      *lo = 0;
      *hi = 255;
      return true;
    case DType::kInt8:
      *lo = -128;
      *hi = 127;
      return true;
    case DType::kUInt16:
      *lo = 0;
      *hi = 65535;
      return true;
    case DType::kInt16:
      *lo = -32768;
      *hi = 32767;
      return true;
    case DType::kUInt4:
      *lo = 0;
      *hi = 15;
      return true;
    case DType::kInt4:
      *lo = -8;
      *hi = 7;
      return true;
    default:
      return false;
  }
}

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// Element i of an integer tensor; 4-bit types are packed two per byte, the
// first element in the low nibble (ONNX).
int64_t int_element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kUInt8:
      return t.data<uint8_t>()[i];
    case DType::kInt8:
      return t.data<int8_t>()[i];
    case DType::kUInt16:
      return t.data<uint16_t>()[i];
    case DType::kInt16:
      return t.data<int16_t>()[i];
    case DType::kInt32:
      return t.data<int32_t>()[i];
    case DType::kUInt4:
    case DType::kInt4: {
      const int v = (t.data<uint8_t>()[i >> 1] >> ((i & 1) * 4)) & 0xF;
      return t.dtype() == DType::kInt4 && v >= 8 ? v - 16 : v;
    }
    default:
      return 0;
  }
}

std::vector<int32_t> int_values(const Tensor& t) {
  std::vector<int32_t> v(size_t(std::max<int64_t>(t.numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(int_element(t, int64_t(i)));
  return v;
}

// Values of a float tensor (scales, activations) as float. int32 is accepted
// where ONNX allows it (QuantizeLinear's x from opset 19).
Result<std::vector<float>> float_values(const Tensor& t, bool allow_int32, const std::string& what) {
  const size_t n = size_t(std::max<int64_t>(t.numel(), 0));
  std::vector<float> v(n);
  switch (t.dtype()) {
    case DType::kFloat32:
      if (n) std::memcpy(v.data(), t.raw(), n * sizeof(float));
      return v;
    case DType::kFloat16:
      for (size_t i = 0; i < n; ++i) v[i] = half_to_float(t.data<uint16_t>()[i]);
      return v;
    case DType::kBFloat16:
      for (size_t i = 0; i < n; ++i) v[i] = bfloat16_to_float(t.data<uint16_t>()[i]);
      return v;
    case DType::kInt32:
      if (!allow_int32) break;
      for (size_t i = 0; i < n; ++i) v[i] = float(t.data<int32_t>()[i]);
      return v;
    default:
      break;
  }
  return unsupported(what + ": element type " + dtype_name(t.dtype()) + " is not supported");
}

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

// ---- output of the runtime's fused ops ---------------------------------------------------

// The ops core/runtime/optimize.cc creates in kRuntimeOpDomain are QLinear-style
// ops with three liberties: zero points may be absent (0; the output type then
// comes from attribute output_dtype), and the Relu / Clip that sat between the
// float op and its QuantizeLinear narrows the output range. Because
// QuantizeLinear is monotone and maps 0 to the zero point,
// Q(clip(y, lo, hi)) = clamp(Q(y), Q(lo), Q(hi)): the clamp is exact
// (fused_clip_range quantizes the bounds with the output's own rounding).
struct FusedQOutput {
  bool fused = false;  // false: the standard ONNX op (zero points required)
  float act_min = -INFINITY, act_max = INFINITY;
  DType out_dtype = DType::kUInt8;
};

Result<FusedQOutput> parse_fused_output(const KernelInit& init) {
  FusedQOutput f;
  if (init.domain() != kRuntimeOpDomain) return f;
  f.fused = true;
  auto lo = init.attr_float("act_min", -INFINITY);
  if (!lo.ok()) return detail::in_node(lo.status(), init);
  auto hi = init.attr_float("act_max", INFINITY);
  if (!hi.ok()) return detail::in_node(hi.status(), init);
  f.act_min = lo.value();
  f.act_max = hi.value();
  if (!(f.act_min <= f.act_max)) {
    return invalid_model(init.context() + "act_min " + std::to_string(f.act_min) + " exceeds act_max " +
                         std::to_string(f.act_max));
  }
  int64_t od = int64_t(DType::kUInt8);
  WQ_RETURN_IF_ERROR(read_attr_int(init, "output_dtype", od, &od));
  if (od != int64_t(DType::kUInt8) && od != int64_t(DType::kInt8)) {
    return unsupported(init.context() + "output_dtype " + std::to_string(od) + " is not supported (uint8, int8)");
  }
  f.out_dtype = DType(od);
  return f;
}

// Output scale, type and the requantization clamp from y_scale / y_zero_point.
Status fused_output_params(const FusedQOutput& f, const Tensor& ys, const Tensor* yz, const std::string& where,
                           float* y_scale, DType* yt, QGemmRequantParams* p) {
  if (!yz && !f.fused) return invalid_argument(where + "required input y_zero_point is missing");
  if (ys.numel() != 1 || (yz && yz->numel() != 1)) {
    return invalid_argument(where + "y_scale and y_zero_point must have one element, got " +
                            shape_to_string(ys.shape()) + (yz ? " and " + shape_to_string(yz->shape()) : ""));
  }
  *yt = yz ? yz->dtype() : f.out_dtype;
  if (!is_q8(*yt)) {
    return unsupported(where + "output type " + std::string(dtype_name(*yt)) + " is not supported (uint8, int8)");
  }
  WQ_ASSIGN_OR_RETURN(std::vector<float> ysv, float_values(ys, false, where + "y_scale"));
  *y_scale = ysv[0];
  p->zero_point = yz ? int32_t(int_element(*yz, 0)) : 0;
  p->output_signed = *yt == DType::kInt8;
  p->qmin = p->output_signed ? -128 : 0;
  p->qmax = p->output_signed ? 127 : 255;
  if (f.act_min > -INFINITY || f.act_max < INFINITY) {
    fused_clip_range(QuantParams::per_tensor(*yt, *y_scale, p->zero_point), f.act_min, f.act_max, &p->qmin,
                     &p->qmax);
  }
  return Status::Ok();
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

// ---- MatMulInteger / QLinearMatMul -----------------------------------------------------

// numpy matmul shapes: 1-D operands promoted to matrices, batch dims broadcast.
struct MatMulDims {
  Shape batch_a, batch_b, batch, out;
  int64_t m = 0, k = 0, n = 0;
};

Result<MatMulDims> matmul_dims(const Shape& a, const Shape& b, const std::string& where) {
  if (a.empty() || b.empty()) return invalid_argument(where + "inputs must not be scalars");
  Shape sa = a, sb = b;
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  MatMulDims d;
  d.m = sa[sa.size() - 2];
  d.k = sa.back();
  d.n = sb.back();
  if (sb[sb.size() - 2] != d.k) {
    return invalid_argument(where + "inner dimensions differ: " + shape_to_string(a) + " x " + shape_to_string(b));
  }
  d.batch_a.assign(sa.begin(), sa.end() - 2);
  d.batch_b.assign(sb.begin(), sb.end() - 2);
  WQ_ASSIGN_OR_RETURN(d.batch, detail::broadcast_shapes(d.batch_a, d.batch_b, where));
  d.out = d.batch;
  if (!a_vec) d.out.push_back(d.m);
  if (!b_vec) d.out.push_back(d.n);
  return d;
}

// A per-row (A side) or per-column (B side) parameter holds one value, one per
// row/column of a matrix (`per_matrix`), or one per row/column of every matrix.
Status check_line_param(const Tensor& t, int64_t per_matrix, int64_t matrices, const char* line,
                        const std::string& what) {
  const int64_t c = t.numel();
  if (c == 1 || c == per_matrix || c == per_matrix * matrices) return Status::Ok();
  return invalid_argument(what + " has shape " + shape_to_string(t.shape()) + ": expected one value, " +
                          std::to_string(per_matrix) + " (one per " + line + ") or " +
                          std::to_string(per_matrix * matrices) + " (one per " + line + " of every matrix)");
}

// The packed B matrices of a (possibly batched) MatMul operand, zero points folded in.
Result<std::vector<QGemmPackedW>> pack_b(const Tensor& b, const Tensor* b_zp, const std::string& where) {
  if (!is_q8(b.dtype())) {
    return unsupported(where + "B type " + std::string(dtype_name(b.dtype())) + " is not supported (uint8, int8)");
  }
  if (b.rank() == 0) return invalid_argument(where + "B must not be a scalar");
  if (b_zp && b_zp->dtype() != b.dtype()) {
    return invalid_argument(where + "b_zero_point is " + dtype_name(b_zp->dtype()) + " but B is " +
                            dtype_name(b.dtype()));
  }
  const Shape& s = b.shape();
  const int64_t k = s.size() == 1 ? s[0] : s[s.size() - 2];
  const int64_t n = s.size() == 1 ? 1 : s.back();
  const int64_t mats = s.size() <= 2 ? 1 : detail::dims_product(s, 0, s.size() - 2);
  std::vector<int32_t> zp;
  if (b_zp) {
    WQ_RETURN_IF_ERROR(check_line_param(*b_zp, n, mats, "column", where + "b_zero_point"));
    zp = int_values(*b_zp);
  }
  std::vector<QGemmPackedW> out;
  if (k == 0 || n == 0 || mats == 0) return out;  // nothing to multiply; run() handles empty shapes
  out.reserve(size_t(mats));
  const bool s8 = b.dtype() == DType::kInt8;
  for (int64_t i = 0; i < mats; ++i) {
    const int32_t* zpp = zp.empty() ? nullptr : zp.data() + (int64_t(zp.size()) == n * mats && mats > 1 ? i * n : 0);
    const bool per_col = zp.size() > 1;
    const uint8_t* w = static_cast<const uint8_t*>(b.raw()) + i * k * n;
    auto packed = qgemm_pack_w(w, s8, size_t(k), size_t(n), size_t(n), 1, zpp, per_col, nullptr);
    if (!packed.ok()) return packed.status().with_context(where);
    out.push_back(std::move(packed).value());
  }
  return out;
}

// Zero point (and scale) of row `r` of the flattened A rows.
inline size_t line_index(size_t count, int64_t r) { return count <= 1 ? 0 : size_t(r % int64_t(count)); }

class QMatMulKernel : public NodeKernel {
 public:
  // linear: QLinearMatMul (inputs a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp),
  // else MatMulInteger (inputs A, B, a_zero_point, b_zero_point).
  QMatMulKernel(const KernelInit& init, bool linear, FusedQOutput fused, bool prepacked,
                std::vector<QGemmPackedW> packed)
      : NodeKernel(init), linear_(linear), fused_(fused), prepacked_(prepacked), packed_(std::move(packed)) {}

  static constexpr size_t kB = 1, kAZp = 2, kBZp = 3;  // MatMulInteger
  // QLinearMatMul; input 0 is A, as in MatMulInteger.
  static constexpr size_t kLAScale = 1, kLAZp = 2, kLB = 3, kLBScale = 4, kLBZp = 5, kLYScale = 6, kLYZp = 7;
  static size_t b_index(bool linear) { return linear ? kLB : kB; }
  static size_t b_zp_index(bool linear) { return linear ? kLBZp : kBZp; }

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, b_index(linear_), where()));
    const Tensor* a_zp = optional_input(ctx, linear_ ? kLAZp : kAZp);
    const Tensor* b_zp = optional_input(ctx, b_zp_index(linear_));
    if (!is_q8(a->dtype())) {
      return unsupported(where() + "A type " + std::string(dtype_name(a->dtype())) + " is not supported (uint8, int8)");
    }
    if (!is_q8(b->dtype())) {
      return unsupported(where() + "B type " + std::string(dtype_name(b->dtype())) + " is not supported (uint8, int8)");
    }
    if (a_zp && a_zp->dtype() != a->dtype()) {
      return invalid_argument(where() + "a_zero_point is " + dtype_name(a_zp->dtype()) + " but A is " +
                              dtype_name(a->dtype()));
    }
    WQ_ASSIGN_OR_RETURN(MatMulDims d, matmul_dims(a->shape(), b->shape(), where()));
    const int64_t mats_a = shape_numel(d.batch_a), mats_b = shape_numel(d.batch_b);
    std::vector<int32_t> azp;
    if (a_zp) {
      WQ_RETURN_IF_ERROR(check_line_param(*a_zp, d.m, mats_a, "row", where() + "a_zero_point"));
      azp = int_values(*a_zp);
    }

    // QLinearMatMul's scales and output parameters.
    std::vector<float> a_scale, b_scale;
    float y_scale = 1.0f;
    QGemmRequantParams out_params;
    DType yt = DType::kInt32;
    if (linear_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* as, detail::required_input(ctx, kLAScale, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* bs, detail::required_input(ctx, kLBScale, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* ys, detail::required_input(ctx, kLYScale, where()));
      WQ_RETURN_IF_ERROR(check_line_param(*as, d.m, mats_a, "row", where() + "a_scale"));
      WQ_RETURN_IF_ERROR(check_line_param(*bs, d.n, mats_b, "column", where() + "b_scale"));
      if (a_zp && a_zp->numel() != as->numel() && a_zp->numel() != 1) {
        return invalid_argument(where() + "a_zero_point and a_scale have different shapes");
      }
      WQ_RETURN_IF_ERROR(
          fused_output_params(fused_, *ys, optional_input(ctx, kLYZp), where(), &y_scale, &yt, &out_params));
      WQ_ASSIGN_OR_RETURN(a_scale, float_values(*as, false, where() + "a_scale"));
      WQ_ASSIGN_OR_RETURN(b_scale, float_values(*bs, false, where() + "b_scale"));
    }

    WQ_RETURN_IF_ERROR(detail::check_output_size(d.out, yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, d.out));
    if (y->numel() == 0) return Status::Ok();
    if (d.k == 0) {  // empty sums: 0, requantized to the zero point (inside a fused clamp)
      if (linear_) {
        const int32_t q = clamp_i32(out_params.zero_point, out_params.qmin, out_params.qmax);
        std::memset(y->mutable_raw(), q & 0xFF, y->nbytes());
      } else {
        std::memset(y->mutable_raw(), 0, y->nbytes());
      }
      return Status::Ok();
    }

    std::vector<QGemmPackedW> local;
    const std::vector<QGemmPackedW>* packed = &packed_;
    if (!prepacked_) {
      WQ_ASSIGN_OR_RETURN(local, pack_b(*b, b_zp, where()));
      packed = &local;
    }
    if (int64_t(packed->size()) != mats_b) return internal_error(where() + "packed B does not match its batch");

    Job job;
    job.a = static_cast<const uint8_t*>(a->raw());
    job.a_signed = a->dtype() == DType::kInt8;
    job.k = size_t(d.k);
    job.n = size_t(d.n);
    job.azp = &azp;
    job.a_scale = &a_scale;
    job.b_scale = &b_scale;
    job.y_scale = y_scale;
    job.params = out_params;
    job.y_bytes = yt == DType::kInt32 ? 4 : 1;
    job.y = static_cast<uint8_t*>(y->mutable_raw());

    if (mats_b == 1) {
      // One B for every A matrix: all rows of A form one GEMM.
      return rows_gemm(ctx, job, (*packed)[0], 0, 0, mats_a * d.m, 0);
    }
    const std::vector<int64_t> strides[2] = {detail::broadcast_strides(d.batch_a, d.batch),
                                             detail::broadcast_strides(d.batch_b, d.batch)};
    Status status;
    detail::for_each_broadcast(d.batch, strides, [&](int64_t i, const int64_t* off) {
      if (!status.ok()) return;
      status = rows_gemm(ctx, job, (*packed)[size_t(off[1])], off[1], off[0] * d.m, d.m, i * d.m);
    });
    return status;
  }

 private:
  struct Job {
    const uint8_t* a = nullptr;  // int8 or uint8 bytes
    bool a_signed = false;
    size_t k = 0, n = 0;
    const std::vector<int32_t>* azp = nullptr;
    const std::vector<float>* a_scale = nullptr;
    const std::vector<float>* b_scale = nullptr;
    float y_scale = 1.0f;
    QGemmRequantParams params;
    size_t y_bytes = 4;
    uint8_t* y = nullptr;
  };

  // Rows [a_row0, a_row0 + rows) of the flattened A (rows of K) times packed B
  // matrix `b_mat`, into rows starting at y_row0 of the flattened output.
  Status rows_gemm(KernelContext& ctx, const Job& job, const QGemmPackedW& w, int64_t b_mat, int64_t a_row0,
                   int64_t rows, int64_t y_row0) {
    const size_t kc2 = w.kc2(), n = job.n;
    // Requantization scales per column for per-tensor A; per-row A recomputes them.
    const size_t bs_count = job.b_scale->size();
    auto b_scale_at = [&](size_t col) {
      if (bs_count <= 1) return (*job.b_scale)[0];
      return (*job.b_scale)[bs_count == n ? col : size_t(b_mat) * n + col];
    };
    std::vector<float> scales;
    auto fill_scales = [&](float a_scale) {
      for (size_t j = 0; j < n; ++j) scales[j] = requant_scale(a_scale, b_scale_at(j), job.y_scale);
    };
    const bool per_row_scale = linear_ && job.a_scale->size() > 1;
    if (linear_) {
      scales.resize(n);
      if (!per_row_scale) fill_scales((*job.a_scale)[0]);
    }
    // A chunk of about 1 MB of int16 rows: each call widens the weights again (qgemm.h).
    const size_t mc = std::min<size_t>(size_t(rows), qgemm_a16_chunk_rows(kc2));
    if (mc != 0 && kc2 > (size_t(1) << 30) / mc) return out_of_memory(where() + "activation scratch too large");
    std::unique_ptr<int16_t[]> a16(new (std::nothrow) int16_t[mc * kc2 + 8]);
    if (!a16) return out_of_memory(where() + "cannot allocate activation scratch");
    const std::vector<int32_t>& azp = *job.azp;
    for (int64_t m0 = 0; m0 < rows; m0 += int64_t(mc)) {
      if (ctx.cancelled()) return cancelled(where() + "cancelled");
      const size_t mr = std::min<size_t>(mc, size_t(rows - m0));
      for (size_t r = 0; r < mr; ++r) {
        const int64_t row = a_row0 + m0 + int64_t(r);
        const int32_t zp = azp.empty() ? 0 : azp[line_index(azp.size(), row)];
        qgemm_pack_a_q8(job.a + size_t(row) * job.k, job.a_signed, 1, job.k, job.k, zp, a16.get() + r * kc2, kc2);
      }
      uint8_t* yrow = job.y + size_t(y_row0 + m0) * n * job.y_bytes;
      if (!linear_) {
        qgemm_s32_a16(w, a16.get(), kc2, mr, reinterpret_cast<int32_t*>(yrow), n);
      } else if (!per_row_scale) {
        QGemmRequantParams p = job.params;
        p.scale = scales.data();
        qgemm_requant_a16(w, a16.get(), kc2, mr, p, yrow, n);
      } else {
        for (size_t r = 0; r < mr; ++r) {
          const int64_t row = a_row0 + m0 + int64_t(r);
          fill_scales((*job.a_scale)[line_index(job.a_scale->size(), row)]);
          QGemmRequantParams p = job.params;
          p.scale = scales.data();
          qgemm_requant_a16(w, a16.get() + r * kc2, kc2, 1, p, yrow + r * n, n);
        }
      }
    }
    return Status::Ok();
  }

  bool linear_;
  FusedQOutput fused_;
  bool prepacked_;
  std::vector<QGemmPackedW> packed_;
};

KernelFactory qmatmul_factory(bool linear) {
  return [linear](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    WQ_ASSIGN_OR_RETURN(FusedQOutput fused, parse_fused_output(init));
    const size_t bi = QMatMulKernel::b_index(linear), zi = QMatMulKernel::b_zp_index(linear);
    const Tensor* b = init.constant_input(bi);
    const bool zp_known = !init.has_input(zi) || init.constant_input(zi) != nullptr;
    std::vector<QGemmPackedW> packed;
    const bool prepack = b != nullptr && zp_known;
    if (prepack) {
      auto p = pack_b(*b, init.has_input(zi) ? init.constant_input(zi) : nullptr, init.context());
      if (!p.ok()) return p.status();
      packed = std::move(p).value();
    }
    return std::unique_ptr<OpKernel>(new QMatMulKernel(init, linear, fused, prepack, std::move(packed)));
  };
}

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

// ---- runtime fused ops: QGemm, DynamicQMatMul -----------------------------------------------

// A constant 8-bit matrix B ([K, N], or [N, K] with trans_b) packed for the
// int8 GEMM with its zero points (scalar or one per column) and an optional
// int32 bias (one per column) folded in.
Result<QGemmPackedW> pack_const_b(const KernelInit& init, size_t b_index, size_t zp_index, size_t bias_index,
                                  bool trans_b) {
  const Tensor* b = init.constant_input(b_index);
  if (!b) return unsupported(init.context() + "B must be a constant");
  if (!is_q8(b->dtype()) || b->rank() != 2 || b->numel() == 0) {
    return unsupported(init.context() + "B must be a non-empty 8-bit matrix, got " + dtype_name(b->dtype()) + " " +
                       shape_to_string(b->shape()));
  }
  const size_t k = size_t(trans_b ? b->dim(1) : b->dim(0)), n = size_t(trans_b ? b->dim(0) : b->dim(1));
  std::vector<int32_t> zp;
  if (init.has_input(zp_index)) {
    const Tensor* z = init.constant_input(zp_index);
    if (!z) return unsupported(init.context() + "the zero point of B must be a constant");
    if (z->dtype() != b->dtype() || (z->numel() != 1 && z->numel() != int64_t(n))) {
      return invalid_model(init.context() + "zero point of B must be one or " + std::to_string(n) + " " +
                           dtype_name(b->dtype()) + " values, got " + dtype_name(z->dtype()) + " " +
                           shape_to_string(z->shape()));
    }
    zp = int_values(*z);
  }
  std::vector<int32_t> bias;
  if (bias_index != SIZE_MAX && init.has_input(bias_index)) {
    const Tensor* c = init.constant_input(bias_index);
    if (!c || c->dtype() != DType::kInt32 || c->numel() != int64_t(n)) {
      return invalid_model(init.context() + "bias must be a constant int32 tensor of " + std::to_string(n) +
                           " values");
    }
    bias = int_values(*c);
  }
  auto packed = qgemm_pack_w(b->raw(), b->dtype() == DType::kInt8, k, n, trans_b ? 1 : n, trans_b ? k : 1,
                             zp.empty() ? nullptr : zp.data(), zp.size() > 1, bias.empty() ? nullptr : bias.data());
  if (!packed.ok()) return packed.status().with_context(init.context());
  return packed;
}

// Per-column float values (a scale) given as one value or one per column.
Result<std::vector<float>> column_values(const Tensor& t, size_t n, const std::string& what) {
  if (t.numel() != 1 && t.numel() != int64_t(n)) {
    return invalid_argument(what + " must have 1 or " + std::to_string(n) + " values, got " +
                            shape_to_string(t.shape()));
  }
  WQ_ASSIGN_OR_RETURN(std::vector<float> v, float_values(t, false, what));
  if (v.size() == 1) {
    const float one = v[0];  // assign() may reallocate before reading its argument
    v.assign(n, one);
  }
  return v;
}

// QDQ Gemm (transA = 0, alpha = beta = 1) -> QuantizeLinear: the requantizing
// int8 GEMM with the int32 bias in the packed panels.
class QGemmKernel : public NodeKernel {
 public:
  enum : size_t { kA, kAScale, kAZp, kB, kBScale, kBZp, kBias, kYScale, kYZp };
  QGemmKernel(const KernelInit& init, FusedQOutput fused, QGemmPackedW packed)
      : NodeKernel(init), fused_(fused), packed_(std::move(packed)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, kA, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* as, detail::required_input(ctx, kAScale, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* bs, detail::required_input(ctx, kBScale, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ys, detail::required_input(ctx, kYScale, where()));
    const Tensor* a_zp = optional_input(ctx, kAZp);
    const size_t k = packed_.k(), n = packed_.n();
    if (!is_q8(a->dtype()) || a->rank() != 2 || a->dim(1) != int64_t(k)) {
      return invalid_argument(where() + "A must be an 8-bit matrix with K = " + std::to_string(k) + " columns, got " +
                              dtype_name(a->dtype()) + " " + shape_to_string(a->shape()));
    }
    if (a_zp && (a_zp->dtype() != a->dtype() || a_zp->numel() != 1)) {
      return invalid_argument(where() + "a_zero_point must be one " + dtype_name(a->dtype()) + " value");
    }
    if (as->numel() != 1) return invalid_argument(where() + "a_scale must have one element");
    WQ_ASSIGN_OR_RETURN(std::vector<float> asv, float_values(*as, false, where() + "a_scale"));
    WQ_ASSIGN_OR_RETURN(std::vector<float> bsv, column_values(*bs, n, where() + "b_scale"));
    float y_scale = 1.0f;
    DType yt = DType::kUInt8;
    QGemmRequantParams p;
    WQ_RETURN_IF_ERROR(fused_output_params(fused_, *ys, optional_input(ctx, kYZp), where(), &y_scale, &yt, &p));
    std::vector<float> scales(n);
    for (size_t j = 0; j < n; ++j) scales[j] = requant_scale(asv[0], bsv[j], y_scale);
    p.scale = scales.data();
    const Shape out = {a->dim(0), int64_t(n)};
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, out));
    if (y->numel() == 0) return Status::Ok();
    const int32_t azp = a_zp ? int32_t(int_element(*a_zp, 0)) : 0;
    Status st = qgemm_requant(packed_, a->raw(), a->dtype() == DType::kInt8, size_t(a->dim(0)), k, azp, p,
                              y->mutable_raw(), n);
    return st.ok() ? st : st.with_context(where());
  }

 private:
  FusedQOutput fused_;
  QGemmPackedW packed_;
};

Result<std::unique_ptr<OpKernel>> make_qgemm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(FusedQOutput fused, parse_fused_output(init));
  int64_t trans_b = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "transB", 0, &trans_b));
  WQ_ASSIGN_OR_RETURN(QGemmPackedW packed,
                      pack_const_b(init, QGemmKernel::kB, QGemmKernel::kBZp, QGemmKernel::kBias, trans_b != 0));
  return std::unique_ptr<OpKernel>(new QGemmKernel(init, fused, std::move(packed)));
}

// DynamicQuantizeLinear(x) -> MatMulInteger(x_q, B, x_zp, b_zp) -> Cast(float)
// -> Mul(x_scale * w_scale) [-> Add(bias)] in one pass: x is quantized exactly
// as DynamicQuantizeLinear does (one scale and zero point for the whole
// tensor, dynamic_quant_params_qu8 + quantize_row_qu8) straight into the GEMM's
// int16 operand, and the epilogue computes float(acc) * (x_scale * w_scale[n])
// + bias[n] with the same float operations in the same order as the three
// float ops, so the result is the unfused graph's bit for bit.
class DynamicQMatMulKernel : public NodeKernel {
 public:
  enum : size_t { kX, kB, kBZp, kWScale, kBias };
  DynamicQMatMulKernel(const KernelInit& init, QGemmPackedW packed, std::vector<float> w_scale,
                       std::vector<float> bias)
      : NodeKernel(init), packed_(std::move(packed)), w_scale_(std::move(w_scale)), bias_(std::move(bias)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, kX, where()));
    const size_t k = packed_.k(), n = packed_.n();
    if (x->dtype() != DType::kFloat32 || x->rank() == 0 || x->shape().back() != int64_t(k)) {
      return invalid_argument(where() + "x must be float ending in K = " + std::to_string(k) + ", got " +
                              dtype_name(x->dtype()) + " " + shape_to_string(x->shape()));
    }
    Shape out = x->shape();
    out.back() = int64_t(n);
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(x->numel()) / k;
    if (m == 0) return Status::Ok();
    const float* px = x->data<float>();
    float scale = 1.0f;
    uint8_t zp = 0;
    dynamic_quant_params_qu8(px, size_t(x->numel()), &scale, &zp);

    // Rows per chunk: about 1 MB of int16 A per call (qgemm_a16_chunk_rows).
    const size_t kc2 = packed_.kc2();
    const size_t mc = std::min(m, qgemm_a16_chunk_rows(kc2));
    if (kc2 > (size_t(1) << 30) / mc) return out_of_memory(where() + "activation scratch too large");
    std::unique_ptr<int16_t[]> a16(new (std::nothrow) int16_t[mc * kc2 + 8]);
    std::unique_ptr<uint8_t[]> row(new (std::nothrow) uint8_t[k]);
    if (!a16 || !row) return out_of_memory(where() + "cannot allocate activation scratch");
    const std::vector<float> a_scale(mc, scale);
    QGemmF32Params p{a_scale.data(), w_scale_.data(), bias_.empty() ? nullptr : bias_.data()};
    float* py = y->mutable_data<float>();
    for (size_t m0 = 0; m0 < m; m0 += mc) {
      if (ctx.cancelled()) return cancelled(where() + "cancelled");
      const size_t rows = std::min(mc, m - m0);
      for (size_t i = 0; i < rows; ++i) {
        quantize_row_qu8(px + (m0 + i) * k, k, scale, zp, row.get());
        qgemm_pack_a_q8(row.get(), false, 1, k, k, zp, a16.get() + i * kc2, 0);
      }
      qgemm_f32_a16(packed_, a16.get(), kc2, rows, p, py + m0 * n, n);
    }
    return Status::Ok();
  }

 private:
  QGemmPackedW packed_;
  std::vector<float> w_scale_, bias_;
};

Result<std::unique_ptr<OpKernel>> make_dynamic_qmatmul(const KernelInit& init) {
  using K = DynamicQMatMulKernel;
  WQ_ASSIGN_OR_RETURN(QGemmPackedW packed, pack_const_b(init, K::kB, K::kBZp, SIZE_MAX, false));
  const Tensor* ws = init.constant_input(K::kWScale);
  if (!ws) return unsupported(init.context() + "w_scale must be a constant");
  WQ_ASSIGN_OR_RETURN(std::vector<float> w_scale, column_values(*ws, packed.n(), init.context() + "w_scale"));
  std::vector<float> bias;
  if (init.has_input(K::kBias)) {
    const Tensor* b = init.constant_input(K::kBias);
    if (!b || b->dtype() != DType::kFloat32 || b->numel() != int64_t(packed.n())) {
      return unsupported(init.context() + "bias must be a constant float tensor of " + std::to_string(packed.n()) +
                         " values");
    }
    bias.assign(b->data<float>(), b->data<float>() + b->numel());
  }
  return std::unique_ptr<OpKernel>(new K(init, std::move(packed), std::move(w_scale), std::move(bias)));
}

// ---- com.microsoft MatMulNBits ------------------------------------------------------------

struct NBitsAttrs {
  int64_t k = 0, n = 0, block = 0, accuracy_level = 0, bits = 4;
  int64_t blocks() const { return (k + block - 1) / block; }
};

// Shapes of B [N, blocks, block/2], scales [N, blocks] and the packed uint4
// zero points [N, ceil(blocks/2)] against the attributes.
Status check_nbits_weights(const NBitsAttrs& a, const Tensor& b, const Tensor& scales, const Tensor* zp,
                           const std::string& where) {
  const Shape want_b = {a.n, a.blocks(), a.block / 2};
  if (b.dtype() != DType::kUInt8 || b.shape() != want_b) {
    return invalid_argument(where + "B must be uint8 " + shape_to_string(want_b) + ", got " + dtype_name(b.dtype()) +
                            " " + shape_to_string(b.shape()));
  }
  if (scales.dtype() != DType::kFloat32) {
    return unsupported(where + "scales of type " + std::string(dtype_name(scales.dtype())) +
                       " are not supported (float)");
  }
  if (scales.numel() != a.n * a.blocks()) {
    return invalid_argument(where + "scales must have N * blocks = " + std::to_string(a.n * a.blocks()) +
                            " elements, got " + shape_to_string(scales.shape()));
  }
  if (zp) {
    if (zp->dtype() != DType::kUInt8) {
      return unsupported(where + "zero_points of type " + std::string(dtype_name(zp->dtype())) +
                         " are not supported (packed uint8 only)");
    }
    const int64_t want = a.n * ((a.blocks() + 1) / 2);
    if (zp->numel() != want) {
      return invalid_argument(where + "zero_points must have N * ceil(blocks / 2) = " + std::to_string(want) +
                              " bytes, got " + shape_to_string(zp->shape()));
    }
  }
  return Status::Ok();
}

Result<QB4PackedW> pack_nbits(const NBitsAttrs& a, const Tensor& b, const Tensor& scales, const Tensor* zp,
                              const std::string& where) {
  WQ_RETURN_IF_ERROR(check_nbits_weights(a, b, scales, zp, where));
  auto packed = qb4_pack_w(b.data<uint8_t>(), false, size_t(a.k), size_t(a.n), size_t(a.block), scales.data<float>(),
                           zp ? zp->data<uint8_t>() : nullptr);
  if (!packed.ok()) return packed.status().with_context(where);
  return packed;
}

// A and the optional bias of MatMulNBits against the attributes (both kernels).
Status check_nbits_activation(const NBitsAttrs& a, const Tensor& x, const Tensor* bias, const std::string& where) {
  if (x.dtype() != DType::kFloat32) {
    return unsupported(where + "A of type " + std::string(dtype_name(x.dtype())) + " is not supported (float)");
  }
  if (x.rank() == 0 || x.shape().back() != a.k) {
    return invalid_argument(where + "A " + shape_to_string(x.shape()) + " must end in K = " + std::to_string(a.k));
  }
  if (bias && (bias->dtype() != DType::kFloat32 || bias->numel() != a.n)) {
    return invalid_argument(where + "bias must be float with N = " + std::to_string(a.n) + " elements, got " +
                            dtype_name(bias->dtype()) + " " + shape_to_string(bias->shape()));
  }
  return Status::Ok();
}

class MatMulNBitsKernel : public NodeKernel {
 public:
  MatMulNBitsKernel(const KernelInit& init, NBitsAttrs attrs, std::unique_ptr<QB4PackedW> packed)
      : NodeKernel(init), attrs_(attrs), packed_(std::move(packed)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    const Tensor* bias = optional_input(ctx, 5);
    WQ_RETURN_IF_ERROR(check_nbits_activation(attrs_, *a, bias, where()));
    Shape out = a->shape();
    out.back() = attrs_.n;
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(a->numel() / attrs_.k);
    if (m == 0) return Status::Ok();
    const QB4PackedW* w = packed_.get();
    QB4PackedW local;
    if (!w) {
      WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* scales, detail::required_input(ctx, 2, where()));
      WQ_ASSIGN_OR_RETURN(local, pack_nbits(attrs_, *b, *scales, optional_input(ctx, 3), where()));
      w = &local;
    }
    const float* pb = bias ? bias->data<float>() : nullptr;
    // accuracy_level 4 permits int8 activations (quantized per block, as the
    // attribute's definition says); anything lower keeps them in float.
    Status st = attrs_.accuracy_level == 4 ? qb4_gemm_dynamic_f32(*w, a->data<float>(), m, size_t(attrs_.k), pb,
                                                                  y->mutable_data<float>(), size_t(attrs_.n))
                                           : qb4_gemm_f32(*w, a->data<float>(), m, size_t(attrs_.k), pb,
                                                          y->mutable_data<float>(), size_t(attrs_.n));
    return st.ok() ? st : st.with_context(where());
  }

 private:
  NBitsAttrs attrs_;
  std::unique_ptr<QB4PackedW> packed_;
};

// ---- MatMulNBits on float weights (2 and 8 bits, 4 bits with 16-blocks) -----------------------

// B [N, blocks, block * bits / 8] (low bits first), scales [N * blocks],
// zero points [N, ceil(blocks * bits / 8)] packed the same way (default
// 2^(bits-1)), dequantized to W [N][K] = scale * (q - zp): the operator's
// definition, which onnxruntime's fp32 path also multiplies out before its GEMM.
Result<std::vector<float>> dequantize_nbits(const NBitsAttrs& a, const Tensor& b, const Tensor& scales,
                                            const Tensor* zp, const std::string& where) {
  const int64_t bits = a.bits, blocks = a.blocks(), blob = a.block * bits / 8;
  const Shape want_b = {a.n, blocks, blob};
  if (b.dtype() != DType::kUInt8 || b.shape() != want_b) {
    return invalid_argument(where + "B must be uint8 " + shape_to_string(want_b) + ", got " + dtype_name(b.dtype()) +
                            " " + shape_to_string(b.shape()));
  }
  if (scales.dtype() != DType::kFloat32) {
    return unsupported(where + "scales of type " + std::string(dtype_name(scales.dtype())) +
                       " are not supported (float)");
  }
  if (scales.numel() != a.n * blocks) {
    return invalid_argument(where + "scales must have N * blocks = " + std::to_string(a.n * blocks) +
                            " elements, got " + shape_to_string(scales.shape()));
  }
  const int64_t zp_cols = (blocks * bits + 7) / 8;
  if (zp) {
    if (zp->dtype() != DType::kUInt8) {
      return unsupported(where + "zero_points of type " + std::string(dtype_name(zp->dtype())) +
                         " are not supported (packed uint8 only)");
    }
    if (zp->numel() != a.n * zp_cols) {
      return invalid_argument(where + "zero_points must have N * ceil(blocks * bits / 8) = " +
                              std::to_string(a.n * zp_cols) + " bytes, got " + shape_to_string(zp->shape()));
    }
  }
  WQ_RETURN_IF_ERROR(detail::check_output_size({a.n, a.k}, DType::kFloat32, where));
  std::vector<float> w(size_t(a.n * a.k));
  const uint32_t mask = (1u << bits) - 1;
  const uint8_t* pb = b.data<uint8_t>();
  const float* ps = scales.data<float>();
  for (int64_t n = 0; n < a.n; ++n) {
    for (int64_t blk = 0; blk < blocks; ++blk) {
      int32_t z = int32_t(1) << (bits - 1);
      if (zp) {
        const int64_t bit = blk * bits;
        z = int32_t((uint32_t(zp->data<uint8_t>()[n * zp_cols + bit / 8]) >> (bit % 8)) & mask);
      }
      const float sc = ps[n * blocks + blk];
      const uint8_t* src = pb + (n * blocks + blk) * blob;
      const int64_t k0 = blk * a.block, k1 = std::min(a.k, k0 + a.block);
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t bit = (k - k0) * bits;
        const int32_t q = int32_t((uint32_t(src[bit / 8]) >> (bit % 8)) & mask);
        w[size_t(n * a.k + k)] = float(q - z) * sc;
      }
    }
  }
  return w;
}

class MatMulNBitsF32Kernel : public NodeKernel {
 public:
  MatMulNBitsF32Kernel(const KernelInit& init, NBitsAttrs attrs, std::unique_ptr<F32PackedGemm> packed,
                       bool bias_packed)
      : NodeKernel(init), attrs_(attrs), packed_(std::move(packed)), bias_packed_(bias_packed) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    const Tensor* bias = optional_input(ctx, 5);
    WQ_RETURN_IF_ERROR(check_nbits_activation(attrs_, *a, bias, where()));
    Shape out = a->shape();
    out.back() = attrs_.n;
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(a->numel() / attrs_.k);
    if (m == 0) return Status::Ok();
    const F32PackedGemm* gemm = packed_.get();
    F32PackedGemm local;
    if (!gemm) {
      WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* scales, detail::required_input(ctx, 2, where()));
      WQ_ASSIGN_OR_RETURN(std::vector<float> w, dequantize_nbits(attrs_, *b, *scales, optional_input(ctx, 3), where()));
      auto p = f32_pack_gemm(size_t(attrs_.k), size_t(attrs_.n), w.data(), size_t(attrs_.k), true,
                             bias ? bias->data<float>() : nullptr, F32Activation::none());
      if (!p.ok()) return p.status().with_context(where());
      local = std::move(p).value();
      gemm = &local;
    } else if (bias && !bias_packed_) {
      return internal_error(where() + "bias appeared after the weights were packed without it");
    }
    f32_gemm_run(*gemm, m, a->data<float>(), size_t(attrs_.k), y->mutable_data<float>(), size_t(attrs_.n));
    return Status::Ok();
  }

 private:
  NBitsAttrs attrs_;
  std::unique_ptr<F32PackedGemm> packed_;
  bool bias_packed_;
};

Result<std::unique_ptr<OpKernel>> make_matmul_nbits_f32(const KernelInit& init, const NBitsAttrs& a) {
  const Tensor* b = init.constant_input(1);
  const Tensor* scales = init.constant_input(2);
  auto known = [&](size_t i) { return !init.has_input(i) || init.constant_input(i) != nullptr; };
  std::unique_ptr<F32PackedGemm> packed;
  bool bias_packed = false;
  if (b && scales && known(3) && known(5)) {
    WQ_ASSIGN_OR_RETURN(std::vector<float> w,
                        dequantize_nbits(a, *b, *scales, init.has_input(3) ? init.constant_input(3) : nullptr,
                                         init.context()));
    const Tensor* bias = init.has_input(5) ? init.constant_input(5) : nullptr;
    if (bias && (bias->dtype() != DType::kFloat32 || bias->numel() != a.n)) {
      return invalid_model(init.context() + "bias must be float with N = " + std::to_string(a.n) + " elements, got " +
                           dtype_name(bias->dtype()) + " " + shape_to_string(bias->shape()));
    }
    auto p = f32_pack_gemm(size_t(a.k), size_t(a.n), w.data(), size_t(a.k), true,
                           bias ? bias->data<float>() : nullptr, F32Activation::none());
    if (!p.ok()) return p.status().with_context(init.context());
    packed = std::make_unique<F32PackedGemm>(std::move(p).value());
    bias_packed = bias != nullptr;
  }
  return std::unique_ptr<OpKernel>(new MatMulNBitsF32Kernel(init, a, std::move(packed), bias_packed));
}

Result<std::unique_ptr<OpKernel>> make_matmul_nbits(const KernelInit& init) {
  NBitsAttrs a;
  for (const char* req : {"K", "N", "block_size"}) {
    if (!init.has_attr(req)) return invalid_model(init.context() + "required attribute " + req + " is missing");
  }
  int64_t k = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "K", 0, &k));
  int64_t n = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "N", 0, &n));
  int64_t bits = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "bits", 4, &bits));
  int64_t block = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "block_size", 0, &block));
  int64_t level = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "accuracy_level", 0, &level));
  int64_t prepacked = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "weight_prepacked", 0, &prepacked));
  if (k <= 0 || n <= 0) {
    return invalid_model(init.context() + "attributes K and N must be positive, got K=" + std::to_string(k) +
                         " N=" + std::to_string(n));
  }
  if (k > (int64_t(1) << 26) || n > (int64_t(1) << 26)) {
    return unsupported(init.context() + "attributes K=" + std::to_string(k) + " N=" + std::to_string(n) +
                       " are too large");
  }
  if (block < 16 || (block & (block - 1)) != 0) {
    return invalid_model(init.context() + "attribute block_size must be a power of two >= 16, got " +
                         std::to_string(block));
  }
  if (bits != 2 && bits != 4 && bits != 8) {
    return unsupported(init.context() + "attribute bits=" + std::to_string(bits) + " is not supported (2, 4, 8)");
  }
  if (block > 4096) {
    return unsupported(init.context() + "attribute block_size=" + std::to_string(block) +
                       " is not supported (up to 4096)");
  }
  if (level < 0 || level > 4) {
    return invalid_model(init.context() + "attribute accuracy_level must be in 0..4, got " + std::to_string(level));
  }
  if (prepacked != 0) {
    return unsupported(init.context() + "attribute weight_prepacked=" + std::to_string(prepacked) +
                       " is not supported (0)");
  }
  if (init.has_input(4)) return unsupported(init.context() + "input g_idx is not supported");
  a.k = k;
  a.n = n;
  a.block = block;
  a.accuracy_level = level;
  a.bits = bits;
  // The 4-bit kernels take blocks that are multiples of 32; other widths and
  // block sizes run on float weights (dequantized once) and the f32 GEMM.
  if (bits != 4 || block % int64_t(kQB4SubBlock) != 0) return make_matmul_nbits_f32(init, a);
  std::unique_ptr<QB4PackedW> packed;
  const Tensor* b = init.constant_input(1);
  const Tensor* scales = init.constant_input(2);
  const bool zp_known = !init.has_input(3) || init.constant_input(3) != nullptr;
  if (b && scales && zp_known) {
    auto p = pack_nbits(a, *b, *scales, init.has_input(3) ? init.constant_input(3) : nullptr, init.context());
    if (!p.ok()) return p.status();
    packed = std::make_unique<QB4PackedW>(std::move(p).value());
  } else if (init.has_input(3) && init.constant_input(3) && init.constant_input(3)->dtype() != DType::kUInt8) {
    return unsupported(init.context() + "zero_points of type " +
                       std::string(dtype_name(init.constant_input(3)->dtype())) +
                       " are not supported (packed uint8 only)");
  }
  return std::unique_ptr<OpKernel>(new MatMulNBitsKernel(init, a, std::move(packed)));
}

}  // namespace

void register_quant_ops(OpRegistry& r) {
  r.add("", "QuantizeLinear", 10, kMaxSupportedOpset, make_quantize_linear);
  r.add("", "DequantizeLinear", 10, kMaxSupportedOpset, make_dequantize_linear);
  r.add("", "DynamicQuantizeLinear", 11, kMaxSupportedOpset, detail::simple_factory<DynamicQuantizeLinearKernel>());
  r.add("", "MatMulInteger", 10, kMaxSupportedOpset, qmatmul_factory(false));
  r.add("", "QLinearMatMul", 10, kMaxSupportedOpset, qmatmul_factory(true));
  r.add("", "ConvInteger", 10, kMaxSupportedOpset, qconv_factory(false));
  r.add("", "QLinearConv", 10, kMaxSupportedOpset, qconv_factory(true));
  r.add(kMsDomain, "MatMulNBits", 1, 1, make_matmul_nbits);
}

void register_runtime_quant_ops(OpRegistry& r) {
  r.add(kRuntimeOpDomain, "QLinearConv", kRuntimeOpset, kRuntimeOpset, qconv_factory(true));
  r.add(kRuntimeOpDomain, "QLinearMatMul", kRuntimeOpset, kRuntimeOpset, qmatmul_factory(true));
  r.add(kRuntimeOpDomain, "QGemm", kRuntimeOpset, kRuntimeOpset, make_qgemm);
  r.add(kRuntimeOpDomain, "DynamicQMatMul", kRuntimeOpset, kRuntimeOpset, make_dynamic_qmatmul);
}

}  // namespace wq
