// qs8 GEMM, MR x 8c2 tile (MR = 1..4), int8 packed weights widened in the
// kernel by i16x8.load8x8_s, dot16x2 accumulation. The 1..3-row variants cover
// the M % 4 remainder and GEMV. Body: qs8_gemm_c2_wasmsimd_dot16x2.h.
#include "core/kernels/qs8_gemm_c2_wasmsimd_dot16x2.h"

namespace wq {

WQ_DEFINE_QGEMM_C2_KERNELS(1x8c2__wasmsimd_dot16x2, 1, int8_t)
WQ_DEFINE_QGEMM_C2_KERNELS(2x8c2__wasmsimd_dot16x2, 2, int8_t)
WQ_DEFINE_QGEMM_C2_KERNELS(3x8c2__wasmsimd_dot16x2, 3, int8_t)
WQ_DEFINE_QGEMM_C2_KERNELS(4x8c2__wasmsimd_dot16x2, 4, int8_t)

}  // namespace wq
