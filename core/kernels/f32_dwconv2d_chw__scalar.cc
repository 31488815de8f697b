// Scalar reference for f32_dwconv2d_chw: the definition, one output at a time.
#include <cassert>

#include "core/kernels/f32_dwconv.h"

namespace wq {

void f32_dwconv2d_chw__scalar(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                              float* /*scratch*/, const F32Activation* act) {
  assert(act != nullptr);
  for (size_t oy = 0; oy < g.out_h; ++oy) {
    for (size_t ox = 0; ox < g.out_w; ++ox) {
      float acc = weights[0];
      for (size_t ky = 0; ky < g.kernel_h; ++ky) {
        for (size_t kx = 0; kx < g.kernel_w; ++kx) {
          // Unsigned wrap-around turns "left of / above the plane" into "too large".
          const size_t iy = oy * g.stride_h + ky * g.dilation_h - g.pad_top;
          const size_t ix = ox * g.stride_w + kx * g.dilation_w - g.pad_left;
          if (iy < g.in_h && ix < g.in_w) acc += weights[1 + ky * g.kernel_w + kx] * input[iy * g.in_w + ix];
        }
      }
      output[oy * g.out_w + ox] = f32_activation_apply(*act, acc);
    }
  }
}

void f32_pack_dwconv2d_chw_w(size_t channels, size_t kh, size_t kw, const float* weights, const float* bias,
                             float* packed) {
  for (size_t c = 0; c < channels; ++c) {
    *packed++ = bias != nullptr ? bias[c] : 0.0f;
    for (size_t i = 0; i < kh * kw; ++i) *packed++ = weights[c * kh * kw + i];
  }
}

}  // namespace wq
