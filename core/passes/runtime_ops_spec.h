// The runtime's private fused ops: what the QDQ fusion pass
// (core/passes/qdq_fusion.h) writes and the int8 ops (core/ops/quant_ops.h)
// implement. They live in their own domain, imported at kRuntimeOpset on the
// copy of the graph that Model::load plans; they are never saved or exported,
// and may change in any release. builtin_ops() does not list them;
// runtime_ops() (core/runtime/optimize.h) is builtin_ops() plus these:
//   QLinearConv     ONNX QLinearConv; zero points optional; attributes act_min /
//                   act_max (a fused Relu / Clip) and output_dtype (no y_zero_point)
//   QLinearMatMul   the same liberties over ONNX QLinearMatMul
//   QGemm           a, a_scale, a_zp?, b (constant), b_scale, b_zp?, bias (int32)?,
//                   y_scale, y_zp?; attribute transB: QDQ Gemm on the int8 GEMM
//   DynamicQMatMul  x (float), b (constant 8-bit [K, N]), b_zp?, w_scale, bias?:
//                   DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale *
//                   w_scale) [-> Add(bias)] in one op, float out
// Layer: passes (below the runtime and the ops, which both look down at it).
#pragma once

namespace wq {

constexpr const char* kRuntimeOpDomain = "webquant.runtime";
constexpr int kRuntimeOpset = 1;

}  // namespace wq
