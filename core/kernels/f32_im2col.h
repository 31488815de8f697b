// im2col for NCHW convolution, one output-pixel block at a time (so the
// column buffer stays bounded however large the image is).
#pragma once

#include <cstddef>

#include "core/kernels/f32_conv2d_geometry.h"

namespace wq {

// For `channels` consecutive input planes of g.in_h x g.in_w floats at `input`,
// writes col[k * ldcol + j] = input value under tap k for output pixel p0 + j
// (0 where the tap falls in the padding), for j in [0, np) and
// k = (c * kernel_h + ky) * kernel_w + kx — the order of a Conv weight
// [Cout, Cin/g, kh, kw] row, so col is the B operand of f32_gemm_chw.
// Output pixels are numbered row-major over g.out_h x g.out_w; p0 + np must
// not exceed their count; ldcol >= np.
void f32_im2col_chw(const F32Conv2dGeometry& g, size_t channels, const float* input, size_t p0, size_t np, float* col,
                    size_t ldcol);

}  // namespace wq
