// Graph rewrites that make a loaded model run fast, applied to the copy of
// the graph that Model::load plans (the user's graph, which Model::save
// writes, is never touched).
//
// In order:
//  1. Constant nodes become initializers, and every deterministic node whose
//     inputs are all constants is evaluated once (except DequantizeLinear, so
//     the fusions below still see the quantized weights).
//  2. Quantized patterns run on the int8 kernels instead of op by op in float:
//     - DequantizeLinear(x) -> Conv / MatMul / Gemm (weights DequantizeLinear of
//       a constant, per tensor or per output channel; bias a float constant or
//       DequantizeLinear of an int32 constant) [-> Relu | Clip] -> QuantizeLinear
//       ==> webquant.runtime QLinearConv / QLinearMatMul / QGemm, the activation
//       an exact output clamp;
//     - DynamicQuantizeLinear -> MatMulInteger(constant B) -> Cast -> Mul(x_scale *
//       w_scale) [-> Add(constant bias)] ==> webquant.runtime DynamicQMatMul;
//     - DequantizeLinear -> {MaxPool, Reshape, Transpose, Flatten, Squeeze,
//       Unsqueeze, Slice, Gather, DepthToSpace, SpaceToDepth, Identity} ->
//       QuantizeLinear with the same scale and zero point ==> the op on the
//       8-bit tensor (and DequantizeLinear -> QuantizeLinear ==> Identity).
//  3. Whatever is still constant (DequantizeLinear of weights no fusion took)
//     is evaluated once; nodes and initializers the rewrites left unread are
//     dropped.
//
// Exactness (doc/quantization.md has the arithmetic):
//  - the pass-through ops, DynamicQMatMul and the fused Relu / Clip clamps give
//    the unfused graph's results bit for bit;
//  - the QLinear fusions compute the integer accumulator exactly and requantize
//    it once ("fp32 requantization", as onnxruntime's fused kernels do), where
//    the unfused graph sums rounded float products and divides by y_scale: the
//    two differ by one step, and only where the exact value lies within float
//    rounding of a rounding boundary. They agree with onnxruntime bit for bit
//    wherever onnxruntime fuses the same pattern;
//  - a float bias becomes int32 as onnxruntime's quantizer makes it:
//    round_half_even(bias / (x_scale * w_scale)) in float (so up to half a step
//    of the accumulator away from the float bias); an int32 bias whose scale is
//    not x_scale * w_scale (to 1e-6 relative) is rescaled to it the same way.
//
// Values that a rewrite removes (the float tensors between a fused pattern's
// DequantizeLinear and QuantizeLinear) no longer exist in the optimized graph,
// so Session::run cannot return them by name; graph outputs are never removed.
//
// Owner: the runtime, which assembles the graph passes (core/passes/:
// fold_constants.h, qdq_fusion.h) into this pipeline and hands them its
// kernels as the NodeEvaluator. Everything the fusions create lives in
// kRuntimeOpDomain (core/passes/runtime_ops_spec.h) and only runs with
// runtime_ops().
#pragma once

#include "core/passes/pass_stats.h"
#include "core/passes/runtime_ops_spec.h"
#include "core/runtime/kernel.h"
#include "core/status.h"

namespace wq {

class Graph;

// What optimize_for_runtime did, by rewrite (for tests, benchmarks and logs).
using RuntimeOptimizeStats = PassStats;

// Rewrites `graph` in place. Fails only on an internal inconsistency; a
// pattern that does not match exactly is left as it is.
Status optimize_for_runtime(Graph* graph, RuntimeOptimizeStats* stats = nullptr);

// builtin_ops() plus the runtime's fused ops; plan optimized graphs with it.
const OpRegistry& runtime_ops();

}  // namespace wq
