// The random convolution shapes swept by the int8 convolution tests (against
// the scalar reference and against XNNPACK), defined once.
#pragma once

#include <cstddef>

#include "core/kernels/qconv.h"
#include "tests/core/xorshift_rng.h"

namespace wq {
namespace test {

// Shape t of the sweep, drawn from `pick`: kernels 1, 2, 3, 5 (sometimes
// mixed), strides 1-3, dilation 2 now and then, asymmetric padding, odd
// sizes, batch 2 every 13th; t % 4 picks dense, grouped (2), depthwise or
// depthwise with multiplier 2. Every 8th dense shape gets `dense_extra_cin`
// more input channels (a longer K). False when the kernel does not fit the
// padded input (the caller skips the shape).
inline bool random_conv_shape(XorshiftRng& pick, int t, size_t dense_extra_cin, QConvShape* out) {
  const size_t kernels[] = {1, 2, 3, 5};
  QConvShape s;
  const int kind = t % 4;
  s.n = t % 13 == 0 ? 2 : 1;
  s.kh = kernels[pick.next() % 4];
  s.kw = t % 5 == 0 ? kernels[pick.next() % 4] : s.kh;
  s.stride_h = 1 + pick.next() % 3;
  s.stride_w = t % 3 == 0 ? s.stride_h : 1 + pick.next() % 2;
  s.dilation_h = t % 7 == 0 ? 2 : 1;
  s.dilation_w = t % 11 == 0 ? 2 : 1;
  s.pad_top = pick.next() % 3;
  s.pad_bottom = pick.next() % 3;
  s.pad_left = pick.next() % 3;
  s.pad_right = t % 2 ? s.pad_left : pick.next() % 3;
  s.h = 1 + pick.next() % 12 + (t % 17 == 0 ? 20 : 0);
  s.w = 1 + pick.next() % 19 + (t % 19 == 0 ? 30 : 0);
  const size_t ch = 1 + pick.next() % 6;
  if (kind == 0) {
    s.groups = 1;
    s.c_in = ch + (t % 8 == 0 ? dense_extra_cin : 0);
    s.c_out = 1 + pick.next() % 17;
  } else if (kind == 1) {
    s.groups = 2;
    s.c_in = 2 * ch;
    s.c_out = 2 * (1 + pick.next() % 9);
  } else if (kind == 2) {
    s.groups = s.c_in = s.c_out = ch + (t % 9 == 0 ? 16 : 0);
  } else {
    s.groups = s.c_in = ch;
    s.c_out = 2 * ch;
  }
  if (qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom) == 0 ||
      qconv_out_dim(s.w, s.kw, s.stride_w, s.dilation_w, s.pad_left, s.pad_right) == 0) {
    return false;
  }
  *out = s;
  return true;
}

}  // namespace test
}  // namespace wq
