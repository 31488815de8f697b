// Packing, references and drivers of the block-wise 4-bit GEMM
// (core/kernels/qgemm_4bit.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/kernels/qgemm_4bit.h"
#include "core/kernels/qquantize.h"
#include "core/kernels/simd.h"
#include "core/qparams.h"

namespace wq {

namespace {

inline uint32_t nibble(const uint8_t* p, size_t i) { return (p[i / 2] >> ((i & 1) * 4)) & 0xF; }

// Stored (unsigned) nibble and zero point of W[n][kk], before subtraction.
inline void source_uz(const uint8_t* w4, bool w_signed, size_t k, size_t block, const uint8_t* zps, size_t n,
                      size_t kk, int32_t* u, int32_t* z) {
  const size_t blocks = (k + block - 1) / block, b = kk / block;
  const uint8_t* col = w4 + n * blocks * (block / 2);
  const uint32_t v = nibble(col, b * block + kk % block);
  if (w_signed) {
    *u = int32_t(v >= 8 ? int32_t(v) - 16 : int32_t(v)) + 8;
    *z = 8;
    return;
  }
  *u = int32_t(v);
  *z = zps ? int32_t(nibble(zps + n * ((blocks + 1) / 2), b)) : 8;
}

inline int32_t source_zp(bool w_signed, size_t k, size_t block, const uint8_t* zps, size_t n, size_t b) {
  if (w_signed || !zps) return 8;
  const size_t blocks = (k + block - 1) / block;
  return int32_t(nibble(zps + n * ((blocks + 1) / 2), b));
}

}  // namespace

int32_t qb4_source_value(const uint8_t* w4, bool w_signed, size_t k, size_t block, const uint8_t* zero_points,
                         size_t n, size_t kk) {
  int32_t u, z;
  source_uz(w4, w_signed, k, block, zero_points, n, kk, &u, &z);
  return u - z;
}

Result<QB4PackedW> qb4_pack_w(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block,
                              const float* scales, const uint8_t* zero_points) {
  if (k == 0 || n == 0) return invalid_argument("qb4_pack_w: empty weight matrix (K or N is 0)");
  if (block < kQB4SubBlock || block % kQB4SubBlock != 0 || block > 4096) {
    return unsupported("qb4_pack_w: block_size " + std::to_string(block) +
                       " is not supported (a multiple of 32 up to 4096)");
  }
  if (w_signed && zero_points) return invalid_argument("qb4_pack_w: int4 weights take no zero points");
  if (k > (size_t(1) << 26) || n > (size_t(1) << 26)) return invalid_argument("qb4_pack_w: weight matrix too large");
  QB4PackedW out;
  out.k_ = k;
  out.n_ = n;
  out.block_ = block;
  const size_t blocks = out.blocks();
  for (size_t i = 0; i < n * blocks; ++i) {
    if (std::isnan(scales[i]) || std::isinf(scales[i])) {
      return invalid_argument("qb4_pack_w: scale[" + std::to_string(i) + "] is not finite");
    }
  }
  out.uniform_zp_ = true;
  out.zp_ = 8;
  if (zero_points) {
    out.zp_ = source_zp(false, k, block, zero_points, 0, 0);
    for (size_t j = 0; j < n && out.uniform_zp_; ++j)
      for (size_t b = 0; b < blocks; ++b)
        if (source_zp(false, k, block, zero_points, j, b) != out.zp_) {
          out.uniform_zp_ = false;
          break;
        }
  }
  // Per (group, block): header + (block / 8) vectors of 16 bytes.
  const size_t hdr_bytes = out.header_bytes();
  const size_t block_bytes = hdr_bytes + (block / kQB4Kc) * 16;
  out.group_bytes_ = blocks * block_bytes;
  const size_t groups = (n + kQB4Nr - 1) / kQB4Nr;
  if (groups > (size_t(1) << 31) / out.group_bytes_) return out_of_memory("qb4_pack_w: packed weights too large");
  const size_t total = groups * out.group_bytes_;
  void* raw = ::operator new(total + 16, std::align_val_t(64), std::nothrow);
  if (!raw) return out_of_memory("qb4_pack_w: cannot allocate " + std::to_string(total) + " bytes");
  out.data_ = std::shared_ptr<void>(raw, [](void* p) { ::operator delete(p, std::align_val_t(64)); });
  uint8_t* dst = static_cast<uint8_t*>(raw);
  std::memset(dst, 0, total + 16);
  for (size_t g = 0; g < groups; ++g) {
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t* hdr = dst + g * out.group_bytes_ + b * block_bytes;
      float sc[kQB4Nr] = {0};
      int32_t zp[kQB4Nr] = {out.zp_, out.zp_, out.zp_, out.zp_};
      for (size_t c = 0; c < kQB4Nr; ++c) {
        const size_t col = g * kQB4Nr + c;
        if (col >= n) continue;
        sc[c] = scales[col * blocks + b];
        zp[c] = source_zp(w_signed, k, block, zero_points, col, b);
      }
      std::memcpy(hdr, sc, sizeof(sc));
      if (!out.uniform_zp_) std::memcpy(hdr + 16, zp, sizeof(zp));
      uint8_t* wdst = hdr + hdr_bytes;
      for (size_t v = 0; v < block / kQB4Kc; ++v) {
        uint16_t lanes[8];
        for (size_t l = 0; l < kQB4Nr; ++l) {
          const size_t col = g * kQB4Nr + l;
          for (size_t t = 0; t < 2; ++t) {
            uint32_t lane = 0;
            for (size_t q = 0; q < 4; ++q) {
              const size_t kk = b * block + v * kQB4Kc + 2 * q + t;
              uint32_t u = uint32_t(zp[l]);  // padding contributes u - zp = 0
              if (col < n && kk < k) {
                int32_t uu, zz;
                source_uz(w4, w_signed, k, block, zero_points, col, kk, &uu, &zz);
                u = uint32_t(uu);
              }
              lane |= (u & 0xF) << (4 * q);
            }
            lanes[2 * l + t] = uint16_t(lane);
          }
        }
        std::memcpy(wdst, lanes, 16);
        wdst += 16;
      }
    }
  }
  return out;
}

// ---- references -------------------------------------------------------------------

void qb4_gemm_qd8__scalar(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block, const float* scales,
                          const uint8_t* zero_points, const float* a, size_t m, size_t lda, const float* bias,
                          float* y, size_t ldy) {
  const size_t blocks = (k + block - 1) / block;
  std::vector<int8_t> q(block);
  for (size_t i = 0; i < m; ++i) {
    std::vector<float> f(n, 0.0f);
    for (size_t b = 0; b < blocks; ++b) {
      const size_t k0 = b * block, len = std::min(block, k - k0);
      const float as = symmetric_scale_qs8(a + i * lda + k0, len);
      quantize_row_qs8_ref(a + i * lda + k0, len, as, 0, q.data());
      for (size_t j = 0; j < n; ++j) {
        int32_t d = 0;
        for (size_t t = 0; t < len; ++t) d += int32_t(q[t]) * qb4_source_value(w4, w_signed, k, block, zero_points, j, k0 + t);
        f[j] += float(d) * (scales[j * blocks + b] * as);
      }
    }
    for (size_t j = 0; j < n; ++j) y[i * ldy + j] = f[j] + (bias ? bias[j] : 0.0f);
  }
}

void qb4_gemm_f32__scalar(const uint8_t* w4, bool w_signed, size_t k, size_t n, size_t block, const float* scales,
                          const uint8_t* zero_points, const float* a, size_t m, size_t lda, const float* bias,
                          float* y, size_t ldy) {
  const size_t blocks = (k + block - 1) / block;
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      float f = 0.0f;
      for (size_t b = 0; b < blocks; ++b) {
        // Two partial sums, k even / k odd, increasing k; padding k (beyond K) adds 0 * zp.
        float p[2] = {0, 0}, pa[2] = {0, 0};
        int32_t z = source_zp(w_signed, k, block, zero_points, j, b);
        for (size_t t = 0; t < block; ++t) {
          const size_t kk = b * block + t;
          const float av = kk < k ? a[i * lda + kk] : 0.0f;
          int32_t u = z;
          if (kk < k) {
            int32_t zz;
            source_uz(w4, w_signed, k, block, zero_points, j, kk, &u, &zz);
          }
          p[t % 2] += av * float(u);
          pa[t % 2] += av;
        }
        const float sq = p[0] + p[1];
        const float sa = pa[0] + pa[1];
        f += (sq - float(z) * sa) * scales[j * blocks + b];
      }
      y[i * ldy + j] = f + (bias ? bias[j] : 0.0f);
    }
  }
}

// ---- drivers ------------------------------------------------------------------------

namespace {

template <typename T>
std::unique_ptr<T[]> alloc_array(size_t n) {
  return std::unique_ptr<T[]>(new (std::nothrow) T[n > 0 ? n : 1]);
}

void finish_row(const float* acc, size_t n, const float* bias, float* y) {
  for (size_t j = 0; j < n; ++j) y[j] = acc[j] + (bias ? bias[j] : 0.0f);
}

}  // namespace

Status qb4_gemm_dynamic_f32(const QB4PackedW& w, const float* a, size_t m, size_t lda, const float* bias, float* y,
                            size_t ldy) {
  const size_t kpad = w.kpad(), blocks = w.blocks(), block = w.block(), k = w.k();
  const size_t groups = (w.n() + kQB4Nr - 1) / kQB4Nr;
  auto a16 = alloc_array<int16_t>(kpad + 8);
  auto q = alloc_array<int8_t>(block);
  auto a_scale4 = alloc_array<float>(blocks * 4);
  auto a_corr4 = alloc_array<int32_t>(blocks * 4);
  auto acc = alloc_array<float>(groups * kQB4Nr);
  if (!a16 || !q || !a_scale4 || !a_corr4 || !acc) {
    return out_of_memory("qb4_gemm_dynamic_f32: scratch allocation failed");
  }
  for (size_t i = 0; i < m; ++i) {
    const float* row = a + i * lda;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t k0 = b * block, len = std::min(block, k - k0);
      const float as = symmetric_scale_qs8(row + k0, len);
      quantize_row_qs8(row + k0, len, as, 0, q.get());
      // Pre-scale by nibble plane so the kernel can mask planes in place.
      static const int16_t kPlaneScale[4] = {256, 16, 1, 256};
      int32_t sum = 0;
      for (size_t t = 0; t < len; ++t) {
        a16[k0 + t] = int16_t(q[t] * kPlaneScale[(t % 8) / 2]);
        sum += q[t];
      }
      for (size_t t = len; t < block; ++t) a16[k0 + t] = 0;
      const int32_t corr = w.uniform_zero_point() ? w.zero_point() * sum : sum;
      for (size_t l = 0; l < 4; ++l) {
        a_scale4[4 * b + l] = as;
        a_corr4[4 * b + l] = corr;
      }
    }
    qb4_gemv_qd8_1x4__wasmsimd_dot16x2(groups, w, a16.get(), a_scale4.get(), a_corr4.get(), acc.get());
    finish_row(acc.get(), w.n(), bias, y + i * ldy);
  }
  return Status::Ok();
}

Status qb4_gemm_f32(const QB4PackedW& w, const float* a, size_t m, size_t lda, const float* bias, float* y,
                    size_t ldy) {
  const size_t kpad = w.kpad(), blocks = w.blocks(), block = w.block(), k = w.k();
  const size_t groups = (w.n() + kQB4Nr - 1) / kQB4Nr;
  auto ap = alloc_array<float>(kpad + 8);
  auto a_sum = alloc_array<float>(blocks);
  auto acc = alloc_array<float>(groups * kQB4Nr);
  if (!ap || !a_sum || !acc) return out_of_memory("qb4_gemm_f32: scratch allocation failed");
  for (size_t i = 0; i < m; ++i) {
    std::memcpy(ap.get(), a + i * lda, k * sizeof(float));
    for (size_t t = k; t < kpad; ++t) ap[t] = 0.0f;
    for (size_t b = 0; b < blocks; ++b) {
      // Same order as the kernel: even-k and odd-k sums, then their sum.
      float e = 0.0f, o = 0.0f;
      for (size_t t = 0; t < block; t += 2) {
        e += ap[b * block + t];
        o += ap[b * block + t + 1];
      }
      a_sum[b] = e + o;
    }
    qb4_gemv_f32_1x4__wasmsimd(groups, w, ap.get(), a_sum.get(), acc.get());
    finish_row(acc.get(), w.n(), bias, y + i * ldy);
  }
  return Status::Ok();
}

}  // namespace wq
