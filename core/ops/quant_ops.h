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

#include "core/runtime/kernel.h"

namespace wq {

void register_quant_ops(OpRegistry& r);

// The runtime's private fused ops. core/runtime/optimize.cc rewrites QDQ and
// dynamically quantized patterns into them on the copy of the graph it plans
// (importing kRuntimeOpDomain at kRuntimeOpset there); they are never saved or
// exported, and may change in any release. builtin_ops() does not list them;
// runtime_ops() (core/runtime/optimize.h) is builtin_ops() plus these:
//   QLinearConv     ONNX QLinearConv; zero points optional; attributes act_min /
//                   act_max (a fused Relu / Clip) and output_dtype (no y_zero_point)
//   QLinearMatMul   the same liberties over ONNX QLinearMatMul
//   QGemm           a, a_scale, a_zp?, b (constant), b_scale, b_zp?, bias (int32)?,
//                   y_scale, y_zp?; attribute transB: QDQ Gemm on the int8 GEMM
//   DynamicQMatMul  x (float), b (constant 8-bit [K, N]), b_zp?, w_scale, bias?:
//                   DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale *
//                   w_scale) [-> Add(bias)] in one op, float out
constexpr const char* kRuntimeOpDomain = "webquant.runtime";
constexpr int kRuntimeOpset = 1;
void register_runtime_quant_ops(OpRegistry& r);

}  // namespace wq
