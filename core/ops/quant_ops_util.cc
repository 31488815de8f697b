// Shared helpers of the quantized operators (quant_ops_util.h).
#include "core/ops/quant_ops_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/ops/ops_util.h"
#include "core/ops/quant_ops.h"
#include "core/qparams.h"

namespace wq {
namespace detail {

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

// ---- output of the runtime's fused ops ---------------------------------------------------

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

}  // namespace detail
}  // namespace wq
