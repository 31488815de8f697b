// qs8 GEMM, MR x 8c2 tile (MR = 1..4), int16 packed weights (any weight zero
// point, W - zp in [-255, 255]), dot16x2 accumulation.
// Body: qs8_gemm_c2_wasmsimd_dot16x2.h.
#include "core/kernels/qs8_gemm_c2_wasmsimd_dot16x2.h"

namespace wq {

WQ_DEFINE_QGEMM_C2_KERNELS(1x8c2__wasmsimd_dot16x2_w16, 1, int16_t)
WQ_DEFINE_QGEMM_C2_KERNELS(2x8c2__wasmsimd_dot16x2_w16, 2, int16_t)
WQ_DEFINE_QGEMM_C2_KERNELS(3x8c2__wasmsimd_dot16x2_w16, 3, int16_t)
WQ_DEFINE_QGEMM_C2_KERNELS(4x8c2__wasmsimd_dot16x2_w16, 4, int16_t)

}  // namespace wq
