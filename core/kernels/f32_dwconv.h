// Family f32_dwconv2d_chw: depthwise 2-D convolution of one NCHW plane,
//   out[oy][ox] = act(bias + sum_{ky,kx} w[ky][kx] * in[oy*sh - pt + ky*dh][ox*sw - pl + kx*dw])
// with zero padding. The caller loops over channels (and maps an output
// channel to its input plane, which also covers a channel multiplier).
//
// Packed weights of one channel: [bias, w[0][0], w[0][1], ..., w[kh-1][kw-1]]
// (1 + kh*kw floats; f32_pack_dwconv2d_chw_w packs all channels).
#pragma once

#include <cstddef>

#include "core/kernels/f32_activation.h"
#include "core/kernels/f32_conv2d_geometry.h"

namespace wq {

// g: the plane geometry (for the _3x3/_5x5 kernels kernel_h/kernel_w must match).
// input: g.in_h x g.in_w floats; output: g.out_h x g.out_w floats, all written.
// weights: 1 + kernel_h*kernel_w floats.
// scratch: f32_dwconv2d_chw_scratch_size(g) floats owned by the caller, contents
//   ignored on entry; the scalar reference does not use it (may be null).
using F32DwConv2dChwUkernelFn = void (*)(const F32Conv2dGeometry& g, const float* input, const float* weights,
                                         float* output, float* scratch, const F32Activation* act);

void f32_dwconv2d_chw__scalar(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                              float* scratch, const F32Activation* act);
// Row-buffered SIMD kernels: any stride, dilation and padding.
void f32_dwconv2d_chw_3x3__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                    float* scratch, const F32Activation* act);
void f32_dwconv2d_chw_5x5__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                    float* scratch, const F32Activation* act);
void f32_dwconv2d_chw__wasmsimd(const F32Conv2dGeometry& g, const float* input, const float* weights, float* output,
                                float* scratch, const F32Activation* act);

size_t f32_dwconv2d_chw_scratch_size(const F32Conv2dGeometry& g);

// weights: [channels, 1, kh, kw] (ONNX depthwise Conv weight); bias: channels
// floats or nullptr. packed: channels * (1 + kh*kw) floats.
void f32_pack_dwconv2d_chw_w(size_t channels, size_t kh, size_t kw, const float* weights, const float* bias,
                             float* packed);
// The inverse (bit-exact): weights and biases, either nullptr to skip.
void f32_unpack_dwconv2d_chw_w(size_t channels, size_t kh, size_t kw, const float* packed, float* weights,
                               float* bias);

}  // namespace wq
