#include "core/kernels/qconv.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "core/kernels/qquantize.h"

namespace wq {

namespace {

inline int32_t load_q8(const void* p, bool is_signed, size_t i) {
  return is_signed ? int32_t(static_cast<const int8_t*>(p)[i]) : int32_t(static_cast<const uint8_t*>(p)[i]);
}

template <typename T>
std::unique_ptr<T[]> alloc_array(size_t n) {
  return std::unique_ptr<T[]>(new (std::nothrow) T[n > 0 ? n : 1]);
}

}  // namespace

size_t qconv_out_dim(size_t in, size_t k, size_t stride, size_t dilation, size_t pad0, size_t pad1) {
  if (k == 0 || stride == 0 || dilation == 0) return 0;
  const size_t span = dilation * (k - 1) + 1;
  const size_t padded = in + pad0 + pad1;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

// ---- reference ----------------------------------------------------------------

void qs8_conv_acc__scalar(const QConvShape& s, const void* x, bool x_signed, int32_t x_zp, const void* w,
                          bool w_signed, const int32_t* w_zp, bool w_zp_per_channel, const int32_t* bias,
                          int32_t* acc) {
  const size_t oh = qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom);
  const size_t ow = qconv_out_dim(s.w, s.kw, s.stride_w, s.dilation_w, s.pad_left, s.pad_right);
  const size_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
  for (size_t n = 0; n < s.n; ++n)
    for (size_t co = 0; co < s.c_out; ++co) {
      const size_t g = co / cout_g;
      const int32_t zw = w_zp ? w_zp[w_zp_per_channel ? co : 0] : 0;
      for (size_t y = 0; y < oh; ++y)
        for (size_t xo = 0; xo < ow; ++xo) {
          uint32_t sum = bias ? uint32_t(bias[co]) : 0u;
          for (size_t ci = 0; ci < cin_g; ++ci)
            for (size_t ki = 0; ki < s.kh; ++ki)
              for (size_t kj = 0; kj < s.kw; ++kj) {
                const int64_t ih = int64_t(y * s.stride_h + ki * s.dilation_h) - int64_t(s.pad_top);
                const int64_t iw = int64_t(xo * s.stride_w + kj * s.dilation_w) - int64_t(s.pad_left);
                int32_t xv = x_zp;  // padding value is the zero point
                if (ih >= 0 && iw >= 0 && ih < int64_t(s.h) && iw < int64_t(s.w)) {
                  xv = load_q8(x, x_signed, ((n * s.c_in + g * cin_g + ci) * s.h + size_t(ih)) * s.w + size_t(iw));
                }
                const int32_t wv = load_q8(w, w_signed, ((co * cin_g + ci) * s.kh + ki) * s.kw + kj) - zw;
                sum += uint32_t((xv - x_zp) * wv);
              }
          acc[((n * s.c_out + co) * oh + y) * ow + xo] = int32_t(sum);
        }
    }
}

void qs8_dwconv__scalar(const int16_t* plane, size_t plane_stride, size_t kh, size_t kw, size_t sh, size_t sw,
                        size_t dh, size_t dw, size_t oh, size_t ow, const QDwconvChannel& c, int32_t* acc) {
  for (size_t y = 0; y < oh; ++y)
    for (size_t x = 0; x < ow; ++x) {
      uint32_t sum = uint32_t(c.bias);
      for (size_t i = 0; i < kh; ++i)
        for (size_t j = 0; j < kw; ++j)
          sum += uint32_t(int32_t(plane[(y * sh + i * dh) * plane_stride + x * sw + j * dw]) * int32_t(c.taps[i * kw + j]));
      acc[y * ow + x] = int32_t(sum);
    }
}

// ---- QConv --------------------------------------------------------------------

Result<QConv> QConv::create(const QConvShape& s, const void* w, bool w_signed, const int32_t* w_zp,
                            bool w_zp_per_channel, const int32_t* bias) {
  if (s.n == 0 || s.c_in == 0 || s.c_out == 0 || s.h == 0 || s.w == 0 || s.kh == 0 || s.kw == 0) {
    return invalid_argument("QConv: empty dimension in input, output channels or kernel");
  }
  if (s.groups == 0 || s.c_in % s.groups != 0 || s.c_out % s.groups != 0) {
    return invalid_argument("QConv: groups (" + std::to_string(s.groups) + ") must divide C_in (" +
                            std::to_string(s.c_in) + ") and C_out (" + std::to_string(s.c_out) + ")");
  }
  if (s.stride_h == 0 || s.stride_w == 0 || s.dilation_h == 0 || s.dilation_w == 0) {
    return invalid_argument("QConv: strides and dilations must be >= 1");
  }
  const size_t limit = size_t(1) << 24;
  if (s.h > limit || s.w > limit || s.kh > 4096 || s.kw > 4096 || s.pad_top > limit || s.pad_bottom > limit ||
      s.pad_left > limit || s.pad_right > limit || s.c_in > limit || s.c_out > limit) {
    return invalid_argument("QConv: dimensions too large");
  }
  QConv c;
  c.s_ = s;
  c.oh_ = qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom);
  c.ow_ = qconv_out_dim(s.w, s.kw, s.stride_w, s.dilation_w, s.pad_left, s.pad_right);
  if (c.oh_ == 0 || c.ow_ == 0) return invalid_argument("QConv: the kernel does not fit the padded input");
  const size_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
  const size_t taps = s.kh * s.kw;
  c.depthwise_ = s.groups == s.c_in && s.groups == s.c_out;
  if (c.depthwise_) {
    c.dw_w_.resize(s.c_out * taps);
    c.dw_bias_.resize(s.c_out);
    for (size_t co = 0; co < s.c_out; ++co) {
      const int32_t zw = w_zp ? w_zp[w_zp_per_channel ? co : 0] : 0;
      for (size_t t = 0; t < taps; ++t) c.dw_w_[co * taps + t] = int16_t(load_q8(w, w_signed, co * taps + t) - zw);
      c.dw_bias_[co] = bias ? bias[co] : 0;
    }
    return c;
  }
  const size_t k = cin_g * taps;
  for (size_t g = 0; g < s.groups; ++g) {
    const void* wg = w_signed ? static_cast<const void*>(static_cast<const int8_t*>(w) + g * cout_g * k)
                              : static_cast<const void*>(static_cast<const uint8_t*>(w) + g * cout_g * k);
    const int32_t* zg = w_zp ? (w_zp_per_channel ? w_zp + g * cout_g : w_zp) : nullptr;
    WQ_ASSIGN_OR_RETURN(QGemmPackedW pw, qgemm_pack_w(wg, w_signed, k, cout_g, 1, k, zg, w_zp_per_channel,
                                                      bias ? bias + g * cout_g : nullptr));
    c.group_w_.push_back(std::move(pw));
  }
  return c;
}

namespace {

// Output sinks of the two conv flavours: 8-bit requantized or raw int32.
struct RequantOut {
  const QGemmRequantParams* p;
  uint8_t* y;  // same bytes for int8 / uint8
  using Tile = uint8_t;
  void gemm(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t rows, size_t co0, Tile* tile,
            size_t ld) const {
    QGemmRequantParams pp = *p;
    pp.scale = p->scale + co0;
    qgemm_requant_a16(w, a16, a_stride, rows, pp, tile, ld);
  }
  void put(size_t index, Tile v) const { y[index] = v; }
  void dw_plane(const int32_t* acc, size_t count, size_t co, size_t out_index) const {
    const int32_t qmin = p->qmin, qmax = p->qmax;
    requantize_row_qs32(acc, count, p->scale[co], p->zero_point, qmin, qmax, p->output_signed, y + out_index);
  }
};

struct S32Out {
  int32_t* y;
  using Tile = int32_t;
  void gemm(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t rows, size_t, Tile* tile,
            size_t ld) const {
    qgemm_s32_a16(w, a16, a_stride, rows, tile, ld);
  }
  void put(size_t index, Tile v) const { y[index] = v; }
  void dw_plane(const int32_t* acc, size_t count, size_t, size_t out_index) const {
    std::memcpy(y + out_index, acc, count * sizeof(int32_t));
  }
};

}  // namespace

template <class Out>
Status QConv::run_impl(const void* x, bool x_signed, int32_t x_zp, Out& out) const {
  const QConvShape& s = s_;
  const size_t oh = oh_, ow = ow_, pixels = oh * ow;
  const size_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
  auto xval = [&](size_t idx) -> int16_t { return int16_t(load_q8(x, x_signed, idx) - x_zp); };

  if (depthwise_) {
    // Zero-padded int16 plane per channel; width covers every vector read.
    const size_t ow_r = (ow + 7) / 8 * 8;
    const size_t pw = std::max(s.pad_left + s.w + s.pad_right, s.stride_w * ow_r + s.kw * s.dilation_w) +
                      kQDwconvPlaneSlack;
    const size_t ph = s.pad_top + s.h + s.pad_bottom;
    if (pw > (size_t(1) << 28) / std::max<size_t>(ph, 1)) return out_of_memory("QConv: depthwise plane too large");
    auto plane = alloc_array<int16_t>(ph * pw);
    auto acc = alloc_array<int32_t>(pixels);
    if (!plane || !acc) return out_of_memory("QConv: cannot allocate depthwise scratch");
    std::memset(plane.get(), 0, ph * pw * sizeof(int16_t));
    const bool fast = s.dilation_h == 1 && s.dilation_w == 1 && (s.stride_w == 1 || s.stride_w == 2);
    for (size_t n = 0; n < s.n; ++n) {
      for (size_t c = 0; c < s.c_in; ++c) {
        const size_t base = (n * s.c_in + c) * s.h * s.w;
        for (size_t i = 0; i < s.h; ++i) {
          int16_t* row = plane.get() + (s.pad_top + i) * pw + s.pad_left;
          if (x_signed) {
            qgemm_pack_a_q8(static_cast<const int8_t*>(x) + base + i * s.w, true, 1, s.w, s.w, x_zp, row, 0);
          } else {
            qgemm_pack_a_q8(static_cast<const uint8_t*>(x) + base + i * s.w, false, 1, s.w, s.w, x_zp, row, 0);
          }
          // qgemm_pack_a_q8 zero-pads odd rows by one element: that lands in
          // the right padding (or slack) and is 0 anyway.
        }
        const QDwconvChannel ch{dw_w_.data() + c * s.kh * s.kw, dw_bias_[c]};
        if (fast) {
          qs8_dwconv_tappair__wasmsimd_dot16x2(plane.get(), pw, s.kh, s.kw, s.stride_h, s.stride_w, oh, ow, ch,
                                               acc.get());
        } else {
          qs8_dwconv__scalar(plane.get(), pw, s.kh, s.kw, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, oh, ow,
                             ch, acc.get());
        }
        out.dw_plane(acc.get(), pixels, c, (n * s.c_out + c) * pixels);
      }
    }
    return Status::Ok();
  }

  const size_t k = cin_g * s.kh * s.kw, kc2 = qgemm_round_up2(k);
  // Pixels per chunk: the int16 im2col chunk stays around 128 KB.
  size_t pc = std::max<size_t>(kQGemmMr, (64 * 1024 / kc2) / kQGemmMr * kQGemmMr);
  pc = std::min(pc, (pixels + kQGemmMr - 1) / kQGemmMr * kQGemmMr);
  auto a16 = alloc_array<int16_t>(pc * kc2 + 8);
  auto tile = alloc_array<typename Out::Tile>(pc * cout_g);
  if (!a16 || !tile) return out_of_memory("QConv: cannot allocate im2col scratch");
  const bool pointwise = s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
                         s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
  for (size_t n = 0; n < s.n; ++n) {
    for (size_t g = 0; g < s.groups; ++g) {
      const size_t xbase = (n * s.c_in + g * cin_g) * s.h * s.w;
      for (size_t p0 = 0; p0 < pixels; p0 += pc) {
        const size_t rows = std::min(pc, pixels - p0);
        int16_t* A = a16.get();
        if (pointwise) {
          // A[p][ci] = x[ci][p] - zp: a transpose.
          for (size_t ci = 0; ci < cin_g; ++ci) {
            const size_t src = xbase + ci * s.h * s.w + p0;
            for (size_t r = 0; r < rows; ++r) A[r * kc2 + ci] = xval(src + r);
          }
        } else {
          for (size_t r = 0; r < rows; ++r) {
            const size_t p = p0 + r, y = p / ow, xo = p % ow;
            int16_t* dst = A + r * kc2;
            for (size_t ci = 0; ci < cin_g; ++ci) {
              for (size_t ki = 0; ki < s.kh; ++ki) {
                const int64_t ih = int64_t(y * s.stride_h + ki * s.dilation_h) - int64_t(s.pad_top);
                if (ih < 0 || ih >= int64_t(s.h)) {
                  std::memset(dst, 0, s.kw * sizeof(int16_t));
                  dst += s.kw;
                  continue;
                }
                const size_t rowbase = xbase + (ci * s.h + size_t(ih)) * s.w;
                for (size_t kj = 0; kj < s.kw; ++kj) {
                  const int64_t iw = int64_t(xo * s.stride_w + kj * s.dilation_w) - int64_t(s.pad_left);
                  *dst++ = (iw < 0 || iw >= int64_t(s.w)) ? int16_t(0) : xval(rowbase + size_t(iw));
                }
              }
            }
          }
        }
        if (k & 1) {
          for (size_t r = 0; r < rows; ++r) A[r * kc2 + k] = 0;
        }
        out.gemm(group_w_[g], A, kc2, rows, g * cout_g, tile.get(), cout_g);
        // [rows x cout_g] -> NCHW.
        for (size_t co = 0; co < cout_g; ++co) {
          const size_t ybase = (n * s.c_out + g * cout_g + co) * pixels + p0;
          for (size_t r = 0; r < rows; ++r) out.put(ybase + r, tile[r * cout_g + co]);
        }
      }
    }
  }
  return Status::Ok();
}

Status QConv::run(const void* x, bool x_signed, int32_t x_zp, const QGemmRequantParams& p, void* y) const {
  RequantOut out{&p, static_cast<uint8_t*>(y)};
  return run_impl(x, x_signed, x_zp, out);
}

Status QConv::run_s32(const void* x, bool x_signed, int32_t x_zp, int32_t* y) const {
  S32Out out{y};
  return run_impl(x, x_signed, x_zp, out);
}

}  // namespace wq
