#include "core/kernels/qconv.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "core/kernels/qquantize.h"
#include "core/kernels/simd.h"

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
  const size_t cin_g = s.c_in / s.groups;
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
  const size_t k = cin_g * taps, kc2 = qgemm_round_up2(k);
  if (s.c_out > (size_t(1) << 28) / kc2) return invalid_argument("QConv: weight tensor too large");
  c.w16_.assign(s.c_out * kc2 + 8, 0);
  c.bias_.assign(s.c_out, 0);
  for (size_t co = 0; co < s.c_out; ++co) {
    const int32_t zw = w_zp ? w_zp[w_zp_per_channel ? co : 0] : 0;
    for (size_t kk = 0; kk < k; ++kk) c.w16_[co * kc2 + kk] = int16_t(load_q8(w, w_signed, co * k + kk) - zw);
    c.bias_[co] = bias ? bias[co] : 0;
  }
  return c;
}

namespace {

// Output sinks of the two conv flavours: 8-bit requantized or raw int32.
struct RequantOut {
  const QGemmRequantParams* p;
  uint8_t* y;  // same bytes for int8 / uint8
  // rows [co0, co0 + mr) x pixels [p0, p0 + nc) of one image, row stride `pixels`.
  void tile(size_t mr, size_t nc, size_t kc2, const int16_t* w_rows, const void* panels, size_t co0,
            const int32_t* bias, size_t out_offset, size_t pixels) const {
    QGemmRequantParams pp = *p;
    pp.scale = p->scale + co0;
    pp.scale_per_row = true;
    pp.row_bias = bias + co0;
    qgemm_config(QGemmWeightFormat::kInt16).requant[mr - 1](mr, nc, kc2, w_rows, kc2, panels, y + out_offset, pixels,
                                                             &pp);
  }
  // Rows [co0, co0 + rows) x the pixels of `panels` through the GEMM drivers,
  // which take the Strassen-Winograd path where it applies.
  void gemm(const QGemmPackedW& panels, const int16_t* w_rows, size_t kc2, size_t rows, size_t co0,
            const int32_t* bias, size_t out_offset, size_t pixels) const {
    QGemmRequantParams pp = *p;
    pp.scale = p->scale + co0;
    pp.scale_per_row = true;
    pp.row_bias = bias + co0;
    qgemm_requant_a16(panels, w_rows, kc2, rows, pp, y + out_offset, pixels);
  }
  void dw_plane(const int32_t* acc, size_t count, size_t co, size_t out_index) const {
    requantize_row_qs32(acc, count, p->scale[co], p->zero_point, p->qmin, p->qmax, p->output_signed, y + out_index);
  }
};

struct S32Out {
  int32_t* y;
  void tile(size_t mr, size_t nc, size_t kc2, const int16_t* w_rows, const void* panels, size_t, const int32_t*,
            size_t out_offset, size_t pixels) const {
    qgemm_config(QGemmWeightFormat::kInt16).s32[mr - 1](mr, nc, kc2, w_rows, kc2, panels, y + out_offset, pixels,
                                                         nullptr);
  }
  void gemm(const QGemmPackedW& panels, const int16_t* w_rows, size_t kc2, size_t rows, size_t, const int32_t*,
            size_t out_offset, size_t pixels) const {
    qgemm_s32_a16(panels, w_rows, kc2, rows, y + out_offset, pixels);
  }
  void dw_plane(const int32_t* acc, size_t count, size_t, size_t out_index) const {
    std::memcpy(y + out_index, acc, count * sizeof(int32_t));
  }
};

// Writes one 8c2 panel (zero bias header, then k pairs x 8 pixels x 2) for
// output pixels [p0, p0 + np) from the padded planes. koff[k]: offset of tap k
// (channel, ki, kj) in the padded group image; kc2 / 2 pairs, odd K padded 0.
void im2col_panel(const int16_t* xpad, size_t wp, const QConvShape& s, size_t ow, const int32_t* koff, size_t k,
                  size_t p0, size_t np, int16_t* out) {
  std::memset(out, 0, 32);  // the panel's int32 bias header
  int16_t* dst = out + 16;
  size_t offs[kQGemmNr];
  for (size_t j = 0; j < kQGemmNr; ++j) {
    const size_t p = p0 + (j < np ? j : np - 1);
    offs[j] = (p / ow) * s.stride_h * wp + (p % ow) * s.stride_w;
  }
  const bool one_row = np == kQGemmNr && (p0 / ow) == ((p0 + kQGemmNr - 1) / ow);
  const size_t kc2 = qgemm_round_up2(k);
  if (one_row && (s.stride_w == 1 || s.stride_w == 2)) {
    const int16_t* base = xpad + offs[0];
    for (size_t kk = 0; kk < kc2; kk += 2) {
      v128_t v0, v1 = wasm_i16x8_splat(0);
      if (s.stride_w == 1) {
        v0 = wasm_v128_load(base + koff[kk]);
        if (kk + 1 < k) v1 = wasm_v128_load(base + koff[kk + 1]);
      } else {
        const int16_t* b0 = base + koff[kk];
        v0 = wasm_i16x8_shuffle(wasm_v128_load(b0), wasm_v128_load(b0 + 8), 0, 2, 4, 6, 8, 10, 12, 14);
        if (kk + 1 < k) {
          const int16_t* b1 = base + koff[kk + 1];
          v1 = wasm_i16x8_shuffle(wasm_v128_load(b1), wasm_v128_load(b1 + 8), 0, 2, 4, 6, 8, 10, 12, 14);
        }
      }
      wasm_v128_store(dst, wasm_i16x8_shuffle(v0, v1, 0, 8, 1, 9, 2, 10, 3, 11));
      wasm_v128_store(dst + 8, wasm_i16x8_shuffle(v0, v1, 4, 12, 5, 13, 6, 14, 7, 15));
      dst += 16;
    }
    return;
  }
  for (size_t kk = 0; kk < kc2; kk += 2) {
    for (size_t j = 0; j < kQGemmNr; ++j) {
      dst[2 * j] = xpad[offs[j] + size_t(koff[kk])];
      dst[2 * j + 1] = kk + 1 < k ? xpad[offs[j] + size_t(koff[kk + 1])] : int16_t(0);
    }
    dst += 16;
  }
}

}  // namespace

template <class Out>
Status QConv::run_impl(const void* x, bool x_signed, int32_t x_zp, Out& out) const {
  const QConvShape& s = s_;
  const size_t oh = oh_, ow = ow_, pixels = oh * ow;
  const size_t cin_g = s.c_in / s.groups, cout_g = s.c_out / s.groups;
  // Zero-padded int16 planes (x - zp); the width covers every vector read.
  const size_t ph = s.pad_top + s.h + s.pad_bottom;
  const size_t ow_r = (ow + 7) / 8 * 8;
  const size_t pw = std::max(s.pad_left + s.w + s.pad_right, s.stride_w * ow_r + s.kw * s.dilation_w) +
                    kQDwconvPlaneSlack;
  const size_t planes = depthwise_ ? 1 : cin_g;
  if (pw > (size_t(1) << 28) / std::max<size_t>(ph * planes, 1)) return out_of_memory("QConv: padded input too large");
  auto xpad = alloc_array<int16_t>(planes * ph * pw);
  if (!xpad) return out_of_memory("QConv: cannot allocate the padded input");
  std::memset(xpad.get(), 0, planes * ph * pw * sizeof(int16_t));
  auto fill_plane = [&](size_t src_plane, int16_t* dst) {
    for (size_t i = 0; i < s.h; ++i) {
      int16_t* row = dst + (s.pad_top + i) * pw + s.pad_left;
      const size_t src = src_plane * s.h * s.w + i * s.w;
      if (x_signed) {
        qgemm_pack_a_q8(static_cast<const int8_t*>(x) + src, true, 1, s.w, s.w, x_zp, row, 0);
      } else {
        qgemm_pack_a_q8(static_cast<const uint8_t*>(x) + src, false, 1, s.w, s.w, x_zp, row, 0);
      }
      // An odd width writes one 0 past the row: right padding or slack, 0 anyway.
    }
  };

  if (depthwise_) {
    auto acc = alloc_array<int32_t>(pixels);
    if (!acc) return out_of_memory("QConv: cannot allocate depthwise scratch");
    const bool fast = s.dilation_h == 1 && s.dilation_w == 1 && (s.stride_w == 1 || s.stride_w == 2);
    for (size_t n = 0; n < s.n; ++n) {
      for (size_t c = 0; c < s.c_in; ++c) {
        fill_plane(n * s.c_in + c, xpad.get());
        const QDwconvChannel ch{dw_w_.data() + c * s.kh * s.kw, dw_bias_[c]};
        if (fast) {
          qs8_dwconv_tappair__wasmsimd_dot16x2(xpad.get(), pw, s.kh, s.kw, s.stride_h, s.stride_w, oh, ow, ch,
                                               acc.get());
        } else {
          qs8_dwconv__scalar(xpad.get(), pw, s.kh, s.kw, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, oh, ow,
                             ch, acc.get());
        }
        out.dw_plane(acc.get(), pixels, c, (n * s.c_out + c) * pixels);
      }
    }
    return Status::Ok();
  }

  const size_t k = cin_g * s.kh * s.kw, kc2 = qgemm_round_up2(k);
  std::vector<int32_t> koff(kc2);
  for (size_t ci = 0, kk = 0; ci < cin_g; ++ci)
    for (size_t ki = 0; ki < s.kh; ++ki)
      for (size_t kj = 0; kj < s.kw; ++kj) koff[kk++] = int32_t((ci * ph + ki * s.dilation_h) * pw + kj * s.dilation_w);
  // Pixels per block: the block's panels stay around 96 KB (L2) while every
  // 4-channel row tile of the weights streams over them. When the GEMM of a
  // group is large enough for Strassen-Winograd (qgemm.h), blocks of ~2 MB of
  // panels (at least 128 pixels) go through the GEMM drivers instead, which
  // block for the caches themselves.
  const size_t panel_elems = 16 + kc2 * kQGemmNr;  // int16 per panel
  size_t ms = 0, ns = 0;
  const bool strassen = qgemm_strassen_extent(cout_g, k, pixels, &ms, &ns);
  size_t pb = std::max<size_t>(1, (96 * 1024 / 2) / panel_elems) * kQGemmNr;
  if (strassen) pb = std::max<size_t>(128, ((size_t(1) << 20) / panel_elems) * kQGemmNr / 16 * 16);
  pb = std::min(pb, ow_r * oh);
  auto panels = alloc_array<int16_t>((pb / kQGemmNr) * panel_elems + 8);
  if (!panels) return out_of_memory("QConv: cannot allocate im2col panels");
  for (size_t n = 0; n < s.n; ++n) {
    for (size_t g = 0; g < s.groups; ++g) {
      for (size_t ci = 0; ci < cin_g; ++ci) fill_plane(n * s.c_in + g * cin_g + ci, xpad.get() + ci * ph * pw);
      for (size_t p0 = 0; p0 < pixels; p0 += pb) {
        const size_t nc = std::min(pb, pixels - p0);
        for (size_t q = 0; q < nc; q += kQGemmNr) {
          im2col_panel(xpad.get(), pw, s, ow, koff.data(), k, p0 + q, std::min(kQGemmNr, nc - q),
                       panels.get() + (q / kQGemmNr) * panel_elems);
        }
        if (strassen) {
          const size_t co_abs = g * cout_g;
          out.gemm(QGemmPackedW::view_int16(panels.get(), k, nc), w16_.data() + co_abs * kc2, kc2, cout_g, co_abs,
                   bias_.data(), (n * s.c_out + co_abs) * pixels + p0, pixels);
          continue;
        }
        for (size_t co = 0; co < cout_g; co += kQGemmMr) {
          const size_t mr = std::min(kQGemmMr, cout_g - co), co_abs = g * cout_g + co;
          out.tile(mr, nc, kc2, w16_.data() + co_abs * kc2, panels.get(), co_abs, bias_.data(),
                   (n * s.c_out + co_abs) * pixels + p0, pixels);
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
