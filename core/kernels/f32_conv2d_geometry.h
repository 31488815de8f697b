// The geometry of one 2-D convolution plane, shared by the depthwise kernels
// and im2col. All sizes are element counts; strides and dilations are >= 1.
#pragma once

#include <cstddef>

namespace wq {

struct F32Conv2dGeometry {
  size_t in_h = 0, in_w = 0;
  size_t out_h = 0, out_w = 0;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0;  // bottom/right padding is implied by out_h/out_w
};

}  // namespace wq
