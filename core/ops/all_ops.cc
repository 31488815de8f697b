// The one place that lists every op family; builtin_ops() calls this once.
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops.h"

namespace wq {

// core/ops/fast_f32.cc: Conv/Gemm/MatMul on packed f32 kernels; must come
// before the reference families (find returns the first match).
void register_fast_f32_ops(OpRegistry& r);

void register_all_ops(OpRegistry& r) {
  register_fast_f32_ops(r);
  register_elementwise_ops(r);
  register_activation_ops(r);
  register_gemm_ops(r);
  register_einsum_ops(r);
  register_conv_ops(r);
  register_pool_ops(r);
  register_normalization_ops(r);
  register_shape_ops(r);
  register_tensor_ops(r);
  register_cast_ops(r);
  register_reduce_ops(r);
  register_resize_ops(r);
  register_quant_ops(r);
}

}  // namespace wq
