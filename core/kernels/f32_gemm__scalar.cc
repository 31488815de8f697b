// Scalar references for both f32 GEMM families: one output at a time, bias
// first, then the products in k order, then the activation. Fast kernels are
// tested against these on the same packed operands.
#include <cassert>

#include "core/kernels/f32_gemm.h"

namespace wq {

void f32_gemm__scalar(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w, float* c,
                      size_t c_stride, const F32Activation* act) {
  assert(mr >= 1 && nc >= 1 && act != nullptr);
  constexpr size_t nr = kF32GemmNr;
  const size_t panel_size = nr + kc * nr;
  for (size_t i = 0; i < mr; ++i) {
    for (size_t j = 0; j < nc; ++j) {
      const float* panel = w + (j / nr) * panel_size;
      float acc = panel[j % nr];  // bias
      for (size_t k = 0; k < kc; ++k) acc += a[i * a_stride + k] * panel[nr + k * nr + j % nr];
      c[i * c_stride + j] = f32_activation_apply(*act, acc);
    }
  }
}

void f32_gemm_chw__scalar(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride, float* c,
                          size_t c_stride, const F32Activation* act) {
  assert(mr >= 1 && mr <= kF32GemmChwMr && nc >= 1 && act != nullptr);
  constexpr size_t mr_panel = kF32GemmChwMr;
  for (size_t i = 0; i < mr; ++i) {
    for (size_t j = 0; j < nc; ++j) {
      float acc = w[i];  // bias
      for (size_t k = 0; k < kc; ++k) acc += w[mr_panel + k * mr_panel + i] * b[k * b_stride + j];
      c[i * c_stride + j] = f32_activation_apply(*act, acc);
    }
  }
}

}  // namespace wq
