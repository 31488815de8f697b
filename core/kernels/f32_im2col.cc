#include "core/kernels/f32_im2col.h"

#include <cassert>
#include <cstdint>
#include <cstring>

namespace wq {

// Loop order: output-row segments of the block, then kernel column kx (whose
// valid output range is computed once, with the only divisions), then input
// channel and kernel row. Each innermost step writes one contiguous run of a
// col row: zeros, a copy (memcpy for stride 1) and zeros.
void f32_im2col_chw(const F32Conv2dGeometry& g, size_t channels, const float* input, size_t p0, size_t np, float* col,
                    size_t ldcol) {
  assert(ldcol >= np && p0 + np <= g.out_h * g.out_w);
  const size_t sw = g.stride_w;
  const size_t plane = g.in_h * g.in_w;
  size_t j = 0;
  while (j < np) {
    const size_t p = p0 + j;
    const size_t oy = p / g.out_w;
    const size_t ox0 = p % g.out_w;
    const size_t count = g.out_w - ox0 < np - j ? g.out_w - ox0 : np - j;
    for (size_t kx = 0; kx < g.kernel_w; ++kx) {
      const size_t t = kx * g.dilation_w;
      // Output columns whose tap lands inside the row: 0 <= ox*sw + t - pad_left < in_w.
      const size_t ox_lo = g.pad_left > t ? (g.pad_left - t + sw - 1) / sw : 0;
      const size_t ox_hi = g.in_w + g.pad_left > t ? (g.in_w - 1 + g.pad_left - t) / sw + 1 : 0;
      size_t lo = ox_lo > ox0 ? ox_lo : ox0;
      size_t hi = ox_hi < ox0 + count ? ox_hi : ox0 + count;
      if (lo > hi) lo = hi = ox0;
      const size_t zeros_left = lo - ox0, copy = hi - lo, zeros_right = ox0 + count - hi;
      for (size_t c = 0; c < channels; ++c) {
        for (size_t ky = 0; ky < g.kernel_h; ++ky) {
          float* d = col + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ldcol + j;
          const int64_t iy =
              static_cast<int64_t>(oy * g.stride_h + ky * g.dilation_h) - static_cast<int64_t>(g.pad_top);
          if (iy < 0 || iy >= static_cast<int64_t>(g.in_h)) {
            std::memset(d, 0, count * sizeof(float));
            continue;
          }
          std::memset(d, 0, zeros_left * sizeof(float));
          if (copy != 0) {
            const float* src = input + c * plane + static_cast<size_t>(iy) * g.in_w + (lo * sw + t - g.pad_left);
            if (sw == 1) {
              std::memcpy(d + zeros_left, src, copy * sizeof(float));
            } else {
              for (size_t i = 0; i < copy; ++i) d[zeros_left + i] = src[i * sw];
            }
          }
          std::memset(d + zeros_left + copy, 0, zeros_right * sizeof(float));
        }
      }
    }
    j += count;
  }
}

}  // namespace wq
