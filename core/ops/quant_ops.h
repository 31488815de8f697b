// Quantized ONNX operators on the int8 / int4 kernels (core/kernels/q*):
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// QLinearMatMul, ConvInteger, QLinearConv, and onnxruntime's com.microsoft
// MatMulNBits (4-bit block-wise weights).
//
// Owner: qops. The arithmetic is doc/quantization.md's; the kernels' layouts
// are doc/kernels.md's. Weights that are initializers are packed once (when
// the plan is built, or for convolutions on the first run, because the packed
// form depends on the input's spatial size) and reused by every run.
//
// One file per operator family, in core/ops/:
//   quantize_linear.cc      QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
//                           and register_quant_ops (the table of every op here)
//   qlinear_matmul.cc       MatMulInteger, QLinearMatMul
//   qlinear_conv.cc         ConvInteger, QLinearConv
//   matmul_nbits.cc         com.microsoft MatMulNBits (int4 and float-weight paths)
//   runtime_quant_ops.cc    QGemm, DynamicQMatMul and register_runtime_quant_ops
//   quant_ops_util.{h,cc}   what they share: element access, the output
//                           parameters of the fused ops, the shared factories
#pragma once

#include "core/passes/runtime_ops_spec.h"
#include "core/runtime/kernel.h"

namespace wq {

void register_quant_ops(OpRegistry& r);

// The runtime's private fused ops (kRuntimeOpDomain; what they are:
// core/passes/runtime_ops_spec.h), registered into runtime_ops().
void register_runtime_quant_ops(OpRegistry& r);

}  // namespace wq
