// What the quantized operators of core/ops/ share (quant_ops.h lists them and
// the file each lives in): reading integer and float elements of quantized
// tensors, the output parameters of the runtime's fused QLinear-style ops, and
// the kernel factories the registration tables in quantize_linear.cc and
// runtime_quant_ops.cc name. Internal (wq::detail).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/qgemm.h"
#include "core/runtime/kernel.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {
namespace detail {

// Input i of a node, or nullptr when the node has fewer inputs (or i is empty).
const Tensor* optional_input(const KernelContext& ctx, size_t i);

// An integer attribute, or its failure with the node's context.
Status read_attr_int(const KernelInit& init, const char* name, int64_t fallback, int64_t* out);

// ---- element access -------------------------------------------------------------

// Integer range of the quantized types; false for anything else.
bool quant_range(DType t, int32_t* lo, int32_t* hi);

inline bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// Element i of an integer tensor; 4-bit types are packed two per byte, the
// first element in the low nibble (ONNX).
inline int64_t int_element(const Tensor& t, int64_t i) {
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

std::vector<int32_t> int_values(const Tensor& t);

// Values of a float tensor (scales, activations) as float. int32 is accepted
// where ONNX allows it (QuantizeLinear's x from opset 19).
Result<std::vector<float>> float_values(const Tensor& t, bool allow_int32, const std::string& what);

// ---- output of the runtime's fused ops ---------------------------------------------------

// The ops the QDQ fusion (core/passes/qdq_fusion.cc) creates in kRuntimeOpDomain are QLinear-style
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

Result<FusedQOutput> parse_fused_output(const KernelInit& init);

// Output scale, type and the requantization clamp from y_scale / y_zero_point.
Status fused_output_params(const FusedQOutput& f, const Tensor& ys, const Tensor* yz, const std::string& where,
                           float* y_scale, DType* yt, QGemmRequantParams* p);

// ---- factories the registration tables share ---------------------------------------------

// qlinear_matmul.cc: QLinearMatMul (linear) or MatMulInteger.
KernelFactory qmatmul_factory(bool linear);
// qlinear_conv.cc: QLinearConv (linear) or ConvInteger.
KernelFactory qconv_factory(bool linear);
// matmul_nbits.cc: com.microsoft MatMulNBits.
Result<std::unique_ptr<OpKernel>> make_matmul_nbits(const KernelInit& init);

}  // namespace detail
}  // namespace wq
