// Packing for the int8 GEMM family: weights into the panel formats the
// micro-kernels read (QGemmPackedW, int8 / int16 / int4-widened, zero-point
// corrections folded in at pack time) and activations into int16 rows
// (qgemm_pack_a_q8, qgemm_quantize_a_f32). See doc/kernels.md for the layouts.
#include "core/kernels/qgemm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/kernels/kernel_scratch.h"
#include "core/kernels/qquantize.h"
#include "core/kernels/qs8_gemm_c2_wasmsimd_dot16x2.h"
#include "core/kernels/simd.h"
#include "core/qparams.h"

namespace wq {

// ---- packing ----------------------------------------------------------------

namespace {

inline int32_t load_q8(const void* p, bool is_signed, size_t i) {
  return is_signed ? int32_t(static_cast<const int8_t*>(p)[i]) : int32_t(static_cast<const uint8_t*>(p)[i]);
}

// 64-byte aligned, never-throwing allocation shared by the packed formats.
std::shared_ptr<void> aligned_alloc_shared(size_t bytes) {
  void* p = ::operator new(bytes, std::align_val_t(64), std::nothrow);
  if (!p) return nullptr;
  return std::shared_ptr<void>(p, [](void* q) { ::operator delete(q, std::align_val_t(64)); });
}

constexpr size_t kMaxPackedBytes = size_t(1) << 31;

template <typename WT>
void pack_panels(const void* w, bool w_signed, size_t k, size_t n, size_t ks, size_t ns, const int32_t* w_zp,
                 bool zp_per_col, const int32_t* bias, size_t panel_bytes, uint8_t* out) {
  const size_t kc2 = qgemm_round_up2(k);
  for (size_t n0 = 0; n0 < n; n0 += kQGemmNr) {
    uint8_t* panel = out + (n0 / kQGemmNr) * panel_bytes;
    int32_t b[kQGemmNr] = {0};
    for (size_t j = 0; j < kQGemmNr && n0 + j < n; ++j) b[j] = bias ? bias[n0 + j] : 0;
    std::memcpy(panel, b, sizeof(b));
    WT* dst = reinterpret_cast<WT*>(panel + 32);
    for (size_t kk = 0; kk < kc2; kk += 2) {
      for (size_t j = 0; j < kQGemmNr; ++j) {
        for (size_t t = 0; t < 2; ++t) {
          int32_t v = 0;
          const size_t col = n0 + j, row = kk + t;
          if (col < n && row < k) {
            const int32_t zw = w_zp ? w_zp[zp_per_col ? col : 0] : 0;
            v = load_q8(w, w_signed, row * ks + col * ns) - zw;
          }
          *dst++ = WT(v);
        }
      }
    }
  }
}

}  // namespace

Result<QGemmPackedW> qgemm_pack_w(const void* w, bool w_signed, size_t k, size_t n, size_t w_k_stride,
                                  size_t w_n_stride, const int32_t* w_zp, bool w_zp_per_column,
                                  const int32_t* bias, int force_format) {
  if (k == 0 || n == 0) return invalid_argument("qgemm_pack_w: empty weight matrix (K or N is 0)");
  if (k > (size_t(1) << 28) || n > (size_t(1) << 28)) {
    return invalid_argument("qgemm_pack_w: weight matrix " + std::to_string(k) + "x" + std::to_string(n) +
                            " is too large");
  }
  // int8 storage is exact when every W - zp fits in int8.
  bool fits8 = true;
  for (size_t j = 0; j < n && fits8; ++j) {
    const int32_t zw = w_zp ? w_zp[w_zp_per_column ? j : 0] : 0;
    for (size_t kk = 0; kk < k; ++kk) {
      const int32_t v = load_q8(w, w_signed, kk * w_k_stride + j * w_n_stride) - zw;
      if (v < -128 || v > 127) {
        fits8 = false;
        break;
      }
    }
  }
  QGemmWeightFormat format = fits8 ? QGemmWeightFormat::kInt8 : QGemmWeightFormat::kInt16;
  if (force_format == 0) {
    if (!fits8) return invalid_argument("qgemm_pack_w: W - zero_point does not fit in int8");
    format = QGemmWeightFormat::kInt8;
  } else if (force_format == 1) {
    format = QGemmWeightFormat::kInt16;
  }
  const size_t kc2 = qgemm_round_up2(k);
  const size_t wbytes = format == QGemmWeightFormat::kInt8 ? 1 : 2;
  const size_t panel_bytes = 32 + kc2 * kQGemmNr * wbytes;
  const size_t panels = (n + kQGemmNr - 1) / kQGemmNr;
  if (panels > kMaxPackedBytes / panel_bytes) {
    return out_of_memory("qgemm_pack_w: packed weights exceed " + std::to_string(kMaxPackedBytes) + " bytes");
  }
  const size_t nbytes = panels * panel_bytes;
  QGemmPackedW out;
  out.data_ = aligned_alloc_shared(nbytes + 16);
  if (!out.data_) return out_of_memory("qgemm_pack_w: cannot allocate " + std::to_string(nbytes) + " bytes");
  uint8_t* dst = static_cast<uint8_t*>(out.data_.get());
  std::memset(dst + nbytes, 0, 16);
  if (format == QGemmWeightFormat::kInt8) {
    pack_panels<int8_t>(w, w_signed, k, n, w_k_stride, w_n_stride, w_zp, w_zp_per_column, bias, panel_bytes, dst);
  } else {
    pack_panels<int16_t>(w, w_signed, k, n, w_k_stride, w_n_stride, w_zp, w_zp_per_column, bias, panel_bytes, dst);
  }
  out.k_ = k;
  out.n_ = n;
  out.panel_bytes_ = panel_bytes;
  out.nbytes_ = nbytes;
  out.format_ = format;
  return out;
}

QGemmPackedW QGemmPackedW::view_int16(const void* data, size_t k, size_t n) {
  QGemmPackedW v;
  // Non-owning: an aliasing shared_ptr with no control block.
  v.data_ = std::shared_ptr<void>(std::shared_ptr<void>(), const_cast<void*>(data));
  v.k_ = k;
  v.n_ = n;
  v.format_ = QGemmWeightFormat::kInt16;
  v.panel_bytes_ = 32 + qgemm_round_up2(k) * kQGemmNr * 2;
  v.nbytes_ = (n + kQGemmNr - 1) / kQGemmNr * v.panel_bytes_;
  return v;
}

void qgemm_pack_a_q8(const void* a, bool a_signed, size_t m, size_t k, size_t lda, int32_t a_zp, int16_t* out,
                     size_t out_stride) {
  const v128_t vzp = wasm_i16x8_splat(int16_t(a_zp));
  for (size_t i = 0; i < m; ++i) {
    int16_t* dst = out + i * out_stride;
    size_t kk = 0;
    if (a_signed) {
      const int8_t* src = static_cast<const int8_t*>(a) + i * lda;
      for (; kk + 8 <= k; kk += 8) wasm_v128_store(dst + kk, wasm_i16x8_sub(wasm_i16x8_load8x8(src + kk), vzp));
      for (; kk < k; ++kk) dst[kk] = int16_t(src[kk] - a_zp);
    } else {
      const uint8_t* src = static_cast<const uint8_t*>(a) + i * lda;
      for (; kk + 8 <= k; kk += 8) wasm_v128_store(dst + kk, wasm_i16x8_sub(wasm_u16x8_load8x8(src + kk), vzp));
      for (; kk < k; ++kk) dst[kk] = int16_t(src[kk] - a_zp);
    }
    if (k & 1) dst[k] = 0;
  }
}

void qgemm_quantize_a_f32(const float* x, size_t m, size_t k, size_t ldx, bool per_row, int16_t* out,
                          size_t out_stride, float* row_scale, uint8_t* row_zp) {
  float scale = 1.0f;
  uint8_t zp = 0;
  if (!per_row) {
    // Parameters over the whole block (rows may be strided).
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < m; ++i) {
      for (size_t kk = 0; kk < k; ++kk) {
        mn = std::min(mn, x[i * ldx + kk]);
        mx = std::max(mx, x[i * ldx + kk]);
      }
    }
    const float both[2] = {mn, mx};
    dynamic_quant_params_qu8(both, 2, &scale, &zp);
  }
  uint8_t buf[512];
  for (size_t i = 0; i < m; ++i) {
    const float* row = x + i * ldx;
    if (per_row) dynamic_quant_params_qu8(row, k, &scale, &zp);
    row_scale[i] = scale;
    if (row_zp) row_zp[i] = zp;
    int16_t* dst = out + i * out_stride;
    for (size_t k0 = 0; k0 < k; k0 += sizeof(buf)) {
      const size_t len = std::min(sizeof(buf), k - k0);
      quantize_row_qu8(row + k0, len, scale, zp, buf);
      qgemm_pack_a_q8(buf, false, 1, len, len, zp, dst + k0, 0);
    }
    if (k & 1) dst[k] = 0;
  }
}

}  // namespace wq
