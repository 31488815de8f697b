// Weight packing for the f32 GEMM families (done once, when a plan is built),
// and its exact inverse for callers that free the original weights.
#include <cassert>
#include <cstdint>
#include <cstring>

#include "core/kernels/f32_conv.h"
#include "core/kernels/f32_dwconv.h"
#include "core/kernels/f32_gemm.h"

namespace wq {

namespace {

// panels * (nr + k * nr) floats, SIZE_MAX if that does not fit (size_t is 32
// bits under WASM); no allocation accepts SIZE_MAX.
size_t panel_floats(size_t count, size_t nr, size_t k) {
  const uint64_t panels = (static_cast<uint64_t>(count) + nr - 1) / nr;
  if (k >= UINT64_MAX / nr - 1) return SIZE_MAX;
  const uint64_t per_panel = nr + static_cast<uint64_t>(k) * nr;
  if (panels > UINT64_MAX / per_panel) return SIZE_MAX;
  const uint64_t total = panels * per_panel;
  return total > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(total);
}

}  // namespace

size_t f32_pack_gemm_w_size(size_t k, size_t n) { return panel_floats(n, kF32GemmNr, k); }

void f32_pack_gemm_w(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed, const float* bias,
                     float* packed) {
  assert(b != nullptr || k == 0 || n == 0);
  assert(b_transposed ? ldb >= k : ldb >= n);
  constexpr size_t nr = kF32GemmNr;
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    const size_t cols = n - j0 < nr ? n - j0 : nr;
    for (size_t j = 0; j < nr; ++j) *packed++ = (j < cols && bias != nullptr) ? bias[j0 + j] : 0.0f;
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < nr; ++j) {
        float v = 0.0f;
        if (j < cols) v = b_transposed ? b[(j0 + j) * ldb + kk] : b[kk * ldb + j0 + j];
        *packed++ = v;
      }
    }
  }
}

void f32_unpack_gemm_w(size_t k, size_t n, const float* packed, float* b, size_t ldb, bool b_transposed,
                       float* bias) {
  assert(packed != nullptr || k == 0 || n == 0);
  assert(b_transposed ? ldb >= k : ldb >= n);
  constexpr size_t nr = kF32GemmNr;
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    const size_t cols = n - j0 < nr ? n - j0 : nr;
    if (bias != nullptr)
      for (size_t j = 0; j < cols; ++j) bias[j0 + j] = packed[j];
    packed += nr;
    if (b == nullptr) {
      packed += k * nr;
      continue;
    }
    for (size_t kk = 0; kk < k; ++kk, packed += nr) {
      for (size_t j = 0; j < cols; ++j) {
        if (b_transposed) {
          b[(j0 + j) * ldb + kk] = packed[j];
        } else {
          b[kk * ldb + j0 + j] = packed[j];
        }
      }
    }
  }
}

void F32PackedGemm::unpack(float* b, size_t ldb, bool b_transposed, float* bias) const {
  f32_unpack_gemm_w(k_, n_, packed_.data(), b, ldb, b_transposed, bias);
}

size_t f32_pack_gemm_chw_w_size(size_t m, size_t k) { return panel_floats(m, kF32GemmChwMr, k); }

void f32_pack_gemm_chw_w(size_t m, size_t k, const float* w, size_t ldw, const float* bias, float* packed) {
  assert(w != nullptr || k == 0 || m == 0);
  assert(ldw >= k);
  constexpr size_t mr = kF32GemmChwMr;
  for (size_t i0 = 0; i0 < m; i0 += mr) {
    const size_t rows = m - i0 < mr ? m - i0 : mr;
    for (size_t i = 0; i < mr; ++i) *packed++ = (i < rows && bias != nullptr) ? bias[i0 + i] : 0.0f;
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t i = 0; i < mr; ++i) *packed++ = i < rows ? w[(i0 + i) * ldw + kk] : 0.0f;
    }
  }
}

void f32_unpack_gemm_chw_w(size_t m, size_t k, const float* packed, float* w, size_t ldw, float* bias) {
  assert(packed != nullptr || k == 0 || m == 0);
  assert(ldw >= k);
  constexpr size_t mr = kF32GemmChwMr;
  for (size_t i0 = 0; i0 < m; i0 += mr) {
    const size_t rows = m - i0 < mr ? m - i0 : mr;
    if (bias != nullptr)
      for (size_t i = 0; i < rows; ++i) bias[i0 + i] = packed[i];
    packed += mr;
    if (w == nullptr) {
      packed += k * mr;
      continue;
    }
    for (size_t kk = 0; kk < k; ++kk, packed += mr) {
      for (size_t i = 0; i < rows; ++i) w[(i0 + i) * ldw + kk] = packed[i];
    }
  }
}

void f32_unpack_dwconv2d_chw_w(size_t channels, size_t kh, size_t kw, const float* packed, float* weights,
                               float* bias) {
  const size_t taps = kh * kw;
  for (size_t c = 0; c < channels; ++c, packed += 1 + taps) {
    if (bias != nullptr) bias[c] = packed[0];
    if (weights != nullptr)
      for (size_t i = 0; i < taps; ++i) weights[c * taps + i] = packed[1 + i];
  }
}

// Mirrors the packing in f32_conv_plan (core/kernels/f32_conv.cc).
void f32_conv_unpack_weights(const F32ConvPlan& plan, float* weights, float* bias) {
  const F32ConvParams& p = plan.params_;
  if (plan.path_ == F32ConvPath::kDepthwise) {
    f32_unpack_dwconv2d_chw_w(p.out_channels, p.kernel_h, p.kernel_w, plan.packed_.data(), weights, bias);
    return;
  }
  const size_t m = p.out_channels / p.groups;
  const size_t k = p.in_channels / p.groups * p.kernel_h * p.kernel_w;
  const size_t group_size = f32_pack_gemm_chw_w_size(m, k);
  for (size_t grp = 0; grp < p.groups; ++grp) {
    // Either output may be absent (restoring only the bias): no offset from null.
    f32_unpack_gemm_chw_w(m, k, plan.packed_.data() + grp * group_size,
                          weights != nullptr ? weights + grp * m * k : nullptr, k,
                          bias != nullptr ? bias + grp * m : nullptr);
  }
}

}  // namespace wq
