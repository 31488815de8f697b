// int8 2-D convolution, NCHW in and out (QLinearConv, ConvInteger).
//
// Two paths, chosen once in QConv::create (one table, no #ifdefs elsewhere):
// * depthwise (groups == C_in == C_out): qs8_dwconv_*, a direct kernel over a
//   zero-padded int16 copy of each input plane (x - x_zp, so the padding value
//   is exactly the activation zero point, as ONNX requires). Stride 1 and 2 with
//   dilation 1 use the dot16x2 "tap pair" kernel (two horizontal taps per
//   i32x4.dot_i16x8_s); other strides / dilations use the generic kernel.
// * everything else: Y[co][p] = sum_k W[co][k] * col[k][p] per group, with the
//   weights as the GEMM's int16 A operand (rows = output channels, packed once
//   in create(): w - w_zp) and im2col built per run straight into the kernel's
//   8c2 panel layout (8 output pixels x k pairs) from a zero-padded int16 copy
//   of the input (x - x_zp, so padding is exactly the zero point). Output rows
//   are output channels, so tiles land in NCHW directly; the per-channel scale
//   and bias use the GEMM's per-row epilogue. Eight pixels in one output row
//   with stride 1 or 2 fill a panel with vector loads; others are gathered.
//
// Weights: int8 [C_out, C_in/groups, kh, kw] with per-tensor or
// per-output-channel zero points and an optional int32 bias.
//
// Owner: q8k.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/kernels/qgemm.h"
#include "core/status.h"

namespace wq {

struct QConvShape {
  size_t n = 1, c_in = 0, c_out = 0, h = 0, w = 0;
  size_t kh = 1, kw = 1;
  size_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  size_t groups = 1;
};

// Output size of one spatial dim; 0 when the window does not fit.
size_t qconv_out_dim(size_t in, size_t k, size_t stride, size_t dilation, size_t pad0, size_t pad1);

class QConv {
 public:
  // w: [c_out, c_in / groups, kh, kw] 8-bit; w_zp: c_out entries when
  // w_zp_per_channel, else 1; bias: c_out int32 or nullptr.
  static Result<QConv> create(const QConvShape& s, const void* w, bool w_signed, const int32_t* w_zp,
                              bool w_zp_per_channel, const int32_t* bias);

  const QConvShape& shape() const { return s_; }
  size_t out_h() const { return oh_; }
  size_t out_w() const { return ow_; }
  bool depthwise() const { return depthwise_; }

  // x: [n, c_in, h, w] 8-bit; y: [n, c_out, out_h, out_w] 8-bit. p.scale has
  // c_out entries (x_scale * w_scale[c] / y_scale).
  Status run(const void* x, bool x_signed, int32_t x_zp, const QGemmRequantParams& p, void* y) const;
  // ConvInteger: int32 output, no bias.
  Status run_s32(const void* x, bool x_signed, int32_t x_zp, int32_t* y) const;

 private:
  template <class Out>
  Status run_impl(const void* x, bool x_signed, int32_t x_zp, Out& out) const;

  QConvShape s_;
  size_t oh_ = 0, ow_ = 0;
  bool depthwise_ = false;
  // GEMM path: int16 weight rows [C_out][kc2] (w - zp, zero pad), int32 bias.
  std::vector<int16_t> w16_;
  std::vector<int32_t> bias_;
  // Depthwise path: per channel kh*kw weights (w - zp) as int16 pairs ready to
  // splat, plus the int32 bias.
  std::vector<int16_t> dw_w_;
  std::vector<int32_t> dw_bias_;
};

// ---- depthwise kernels (one channel plane) ------------------------------------
// Params of one channel: taps (w - zp) row-major kh x kw, int32 bias.
struct QDwconvChannel {
  const int16_t* taps;
  int32_t bias;
};
// `plane`: the zero-padded int16 input plane, row stride `plane_stride`
// elements, (h + pads) rows; writes oh x ow int32 accumulators to acc (row
// stride ow). The reference and the generic kernel take any stride/dilation.
void qs8_dwconv__scalar(const int16_t* plane, size_t plane_stride, size_t kh, size_t kw, size_t sh, size_t sw,
                        size_t dh, size_t dw, size_t oh, size_t ow, const QDwconvChannel& c, int32_t* acc);
void qs8_dwconv_tappair__wasmsimd_dot16x2(const int16_t* plane, size_t plane_stride, size_t kh, size_t kw,
                                          size_t sh, size_t sw, size_t oh, size_t ow, const QDwconvChannel& c,
                                          int32_t* acc);
// Extra int16 columns the tap-pair kernel may read right of the last tap.
constexpr size_t kQDwconvPlaneSlack = 16;

// ---- reference convolution (obviously correct, for the tests) -----------------
// acc[n][co][oh][ow] = bias[co] + sum (x - x_zp) * (w - w_zp[co]); padding is x_zp.
void qs8_conv_acc__scalar(const QConvShape& s, const void* x, bool x_signed, int32_t x_zp, const void* w,
                          bool w_signed, const int32_t* w_zp, bool w_zp_per_channel, const int32_t* bias,
                          int32_t* acc);

}  // namespace wq
