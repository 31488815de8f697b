#include "core/kernels/qgemm.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "core/kernels/kernel_scratch.h"
#include "core/kernels/qquantize.h"
#include "core/kernels/qs8_gemm_c2_wasmsimd_dot16x2.h"
#include "core/kernels/simd.h"
#include "core/qparams.h"

namespace wq {

// ---- config tables ----------------------------------------------------------

const QGemmConfig& qgemm_config(QGemmWeightFormat format) {
  static const QGemmConfig kInt8 = {
      kQGemmMr,
      kQGemmNr,
      {qs8_gemm_1x8c2__wasmsimd_dot16x2, qs8_gemm_2x8c2__wasmsimd_dot16x2, qs8_gemm_3x8c2__wasmsimd_dot16x2,
       qs8_gemm_4x8c2__wasmsimd_dot16x2},
      {qd8_f32_gemm_1x8c2__wasmsimd_dot16x2, qd8_f32_gemm_2x8c2__wasmsimd_dot16x2,
       qd8_f32_gemm_3x8c2__wasmsimd_dot16x2, qd8_f32_gemm_4x8c2__wasmsimd_dot16x2},
      {qs8_qs32_gemm_1x8c2__wasmsimd_dot16x2, qs8_qs32_gemm_2x8c2__wasmsimd_dot16x2,
       qs8_qs32_gemm_3x8c2__wasmsimd_dot16x2, qs8_qs32_gemm_4x8c2__wasmsimd_dot16x2},
  };
  static const QGemmConfig kInt16 = {
      kQGemmMr,
      kQGemmNr,
      {qs8_gemm_1x8c2__wasmsimd_dot16x2_w16, qs8_gemm_2x8c2__wasmsimd_dot16x2_w16,
       qs8_gemm_3x8c2__wasmsimd_dot16x2_w16, qs8_gemm_4x8c2__wasmsimd_dot16x2_w16},
      {qd8_f32_gemm_1x8c2__wasmsimd_dot16x2_w16, qd8_f32_gemm_2x8c2__wasmsimd_dot16x2_w16,
       qd8_f32_gemm_3x8c2__wasmsimd_dot16x2_w16, qd8_f32_gemm_4x8c2__wasmsimd_dot16x2_w16},
      {qs8_qs32_gemm_1x8c2__wasmsimd_dot16x2_w16, qs8_qs32_gemm_2x8c2__wasmsimd_dot16x2_w16,
       qs8_qs32_gemm_3x8c2__wasmsimd_dot16x2_w16, qs8_qs32_gemm_4x8c2__wasmsimd_dot16x2_w16},
  };
  return format == QGemmWeightFormat::kInt8 ? kInt8 : kInt16;
}

// ---- drivers ----------------------------------------------------------------

namespace {

// Columns per N block: the block's packed weights should stay in a ~192 KB
// share of L2 while every 4-row tile of A streams over them.
size_t n_block(size_t panel_bytes) {
  constexpr size_t kL2Share = 192 * 1024;
  const size_t panels = std::max<size_t>(1, kL2Share / panel_bytes);
  return panels * kQGemmNr;
}

// From this many rows on, int8-packed weights are widened to int16 one N block
// at a time (into a block-sized scratch that stays in L2) and the _w16 kernels
// run on the copy. The w16 kernel issues 16 instead of 18 vector operations per
// 64 MACs (no i16x8.load8x8_s); the copy costs ~0.07 ms per 768x3072 weights
// under V8 (memory-bound) plus the w16 kernel's doubled weight traffic. Measured
// on 768x3072 (GMAC/s, w8 kernel -> widened): M = 16 42.0 -> 39.8, M = 24 41.5
// -> 40.9, M = 32 41.5 -> 42.4, M = 64 41.5 -> 44.5; M = 128 (q8_kernels_bench)
// 42.8 -> 46.7-48.0.
constexpr size_t kQGemmWidenMinRows = 32;
// Beyond this K a widened panel (16 bytes per k pair) would be too large to be
// worth it, and its size could overflow a 32-bit size_t.
constexpr size_t kQGemmWidenMaxKc2 = size_t(1) << 20;

// int8 panels [bias | kc2/2 x 8 x 2 int8] -> the same panels with int16 weights.
void widen_panels_w8_to_w16(const uint8_t* src, size_t panels, size_t kc2, uint8_t* dst) {
  const size_t weights = kc2 * kQGemmNr;  // per panel, a multiple of 16
  for (size_t p = 0; p < panels; ++p) {
    std::memcpy(dst, src, 32);
    const int8_t* s8 = reinterpret_cast<const int8_t*>(src + 32);
    int16_t* d16 = reinterpret_cast<int16_t*>(dst + 32);
    for (size_t i = 0; i < weights; i += 16) {
      wasm_v128_store(d16 + i, wasm_i16x8_load8x8(s8 + i));
      wasm_v128_store(d16 + i + 8, wasm_i16x8_load8x8(s8 + i + 8));
    }
    src += 32 + weights;
    dst += 32 + 2 * weights;
  }
}

// Runs call(cfg, m0, mr, n0, nc, panels) over 4-row tiles of N blocks of
// columns [n_begin, n_end) (n_begin a multiple of kQGemmNr), where `panels`
// points at the packed (or widened) panels of columns [n0, n0 + nc).
template <class Call>
void drive(const QGemmPackedW& w, size_t m, size_t n_begin, size_t n_end, Call&& call) {
  const size_t kc2 = w.kc2();
  bool widen = w.format() == QGemmWeightFormat::kInt8 && m >= kQGemmWidenMinRows && kc2 <= kQGemmWidenMaxKc2;
  const size_t panel16_bytes = 32 + kc2 * kQGemmNr * 2;
  const size_t nb = n_block(widen ? panel16_bytes : w.panel_bytes());
  uint8_t* scratch = nullptr;
  if (widen) {
    // 16 bytes of slack, like the packed weights; without memory, run the w8 kernels.
    scratch = detail::thread_scratch<detail::kScratchWidenedW>((nb / kQGemmNr) * panel16_bytes + 16);
    widen = scratch != nullptr;
  }
  const QGemmConfig& cfg = qgemm_config(widen ? QGemmWeightFormat::kInt16 : w.format());
  for (size_t n0 = n_begin; n0 < n_end; n0 += nb) {
    const size_t nc = std::min(nb, n_end - n0);
    const void* panels = w.panel(n0);
    if (widen) {
      widen_panels_w8_to_w16(static_cast<const uint8_t*>(panels), (nc + kQGemmNr - 1) / kQGemmNr, kc2, scratch);
      panels = scratch;
    }
    for (size_t m0 = 0; m0 < m; m0 += kQGemmMr) {
      const size_t mr = std::min(kQGemmMr, m - m0);
      call(cfg, m0, mr, n0, nc, panels);
    }
  }
}

// The Strassen path's epilogue for one tile of mr <= 4 rows: C (mr x cols
// int32 for columns [col0, col0 + cols), row stride ldc) plus the panels'
// bias through `epi`, which points at the tile's first output row and takes
// absolute column indices.
template <class Epi>
void epilogue_tile(const QGemmPackedW& w, const int32_t* c, size_t ldc, size_t mr, size_t col0, size_t cols,
                   Epi& epi) {
  for (size_t n0 = col0; n0 < col0 + cols; n0 += kQGemmNr) {
    const int32_t* bias = static_cast<const int32_t*>(w.panel(n0));
    const v128_t b0 = wasm_v128_load(bias), b1 = wasm_v128_load(bias + 4);
    v128_t acc[kQGemmMr][2];
    for (size_t i = 0; i < mr; ++i) {
      const int32_t* row = c + i * ldc + (n0 - col0);
      acc[i][0] = wasm_i32x4_add(wasm_v128_load(row), b0);
      acc[i][1] = wasm_i32x4_add(wasm_v128_load(row + 4), b1);
    }
    switch (mr) {
      case 1: epi.template store<1>(acc, n0, kQGemmNr); break;
      case 2: epi.template store<2>(acc, n0, kQGemmNr); break;
      case 3: epi.template store<3>(acc, n0, kQGemmNr); break;
      default: epi.template store<4>(acc, n0, kQGemmNr); break;
    }
  }
}

// Rows per Strassen call: its S1..S4 and C blocks scale with the rows.
constexpr size_t kStrassenMaxRows = 256;

// One GEMM call: the Strassen part (if any) in row chunks of at most
// kStrassenMaxRows, each finished block going to emit(c, ldc, r0, rows, col0,
// cols); everything else through direct(r0, rows, n_begin, n_end).
template <class Direct, class Emit>
void run_gemm(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, Direct&& direct, Emit&& emit) {
  size_t ms = 0, ns = 0;
  if (!qgemm_strassen_extent(w, m, &ms, &ns)) {
    direct(0, m, 0, w.n());
    return;
  }
  struct Sink final : QGemmBlockSink {
    Emit* fn;
    size_t r0 = 0, rows = 0;
    explicit Sink(Emit* e) : fn(e) {}
    void emit(const int32_t* c, size_t ldc, size_t col0, size_t cols) override {
      (*fn)(c, ldc, r0, rows, col0, cols);
    }
  } sink(&emit);
  const size_t chunks = (ms + kStrassenMaxRows - 1) / kStrassenMaxRows;
  const size_t chunk = qgemm_round_up2((ms + chunks - 1) / chunks);
  for (size_t r0 = 0; r0 < ms; r0 += chunk) {
    sink.r0 = r0;
    sink.rows = std::min(chunk, ms - r0);
    if (!qgemm_strassen(w, a16 + r0 * a_stride, a_stride, sink.rows, ns, sink)) direct(r0, sink.rows, 0, ns);
  }
  if (ns < w.n()) direct(0, ms, ns, w.n());
  if (ms < m) direct(ms, m - ms, 0, w.n());
}

}  // namespace

void qgemm_requant_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m,
                       const QGemmRequantParams& p, void* y, size_t ldy) {
  uint8_t* yb = static_cast<uint8_t*>(y);
  // Parameters for rows starting at r0 (per-row scales and biases move with the rows).
  auto params_at = [&](size_t r0) {
    QGemmRequantParams pp = p;
    if (p.scale_per_row) {
      pp.scale = p.scale + r0;
      pp.row_bias = p.row_bias ? p.row_bias + r0 : nullptr;
    }
    return pp;
  };
  auto direct = [&](size_t r0, size_t rows, size_t n_begin, size_t n_end) {
    drive(w, rows, n_begin, n_end,
          [&](const QGemmConfig& cfg, size_t m0, size_t mr, size_t n0, size_t nc, const void* panels) {
            QGemmRequantParams pp = params_at(r0 + m0);
            if (!p.scale_per_row) pp.scale = p.scale + n0;
            cfg.requant[mr - 1](mr, nc, w.kc2(), a16 + (r0 + m0) * a_stride, a_stride, panels,
                                yb + (r0 + m0) * ldy + n0, ldy, &pp);
          });
  };
  run_gemm(w, a16, a_stride, m, direct,
           [&](const int32_t* c, size_t ldc, size_t r0, size_t rows, size_t col0, size_t cols) {
             for (size_t m0 = 0; m0 < rows; m0 += kQGemmMr) {
               const QGemmRequantParams pp = params_at(r0 + m0);
               detail::QGemmRequantEpilogue epi{&pp, yb + (r0 + m0) * ldy, ldy};
               epilogue_tile(w, c + m0 * ldc, ldc, std::min(kQGemmMr, rows - m0), col0, cols, epi);
             }
           });
}

void qgemm_f32_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, const QGemmF32Params& p,
                   float* y, size_t ldy) {
  auto direct = [&](size_t r0, size_t rows, size_t n_begin, size_t n_end) {
    drive(w, rows, n_begin, n_end,
          [&](const QGemmConfig& cfg, size_t m0, size_t mr, size_t n0, size_t nc, const void* panels) {
            QGemmF32Params pp;
            pp.a_scale = p.a_scale + r0 + m0;
            pp.w_scale = p.w_scale + n0;
            pp.bias = p.bias ? p.bias + n0 : nullptr;
            cfg.f32[mr - 1](mr, nc, w.kc2(), a16 + (r0 + m0) * a_stride, a_stride, panels,
                            y + (r0 + m0) * ldy + n0, ldy, &pp);
          });
  };
  run_gemm(w, a16, a_stride, m, direct,
           [&](const int32_t* c, size_t ldc, size_t r0, size_t rows, size_t col0, size_t cols) {
             for (size_t m0 = 0; m0 < rows; m0 += kQGemmMr) {
               QGemmF32Params pp = p;
               pp.a_scale = p.a_scale + r0 + m0;
               detail::QGemmF32Epilogue epi{&pp, y + (r0 + m0) * ldy, ldy};
               epilogue_tile(w, c + m0 * ldc, ldc, std::min(kQGemmMr, rows - m0), col0, cols, epi);
             }
           });
}

void qgemm_s32_a16(const QGemmPackedW& w, const int16_t* a16, size_t a_stride, size_t m, int32_t* y, size_t ldy) {
  auto direct = [&](size_t r0, size_t rows, size_t n_begin, size_t n_end) {
    drive(w, rows, n_begin, n_end,
          [&](const QGemmConfig& cfg, size_t m0, size_t mr, size_t n0, size_t nc, const void* panels) {
            cfg.s32[mr - 1](mr, nc, w.kc2(), a16 + (r0 + m0) * a_stride, a_stride, panels,
                            y + (r0 + m0) * ldy + n0, ldy, nullptr);
          });
  };
  run_gemm(w, a16, a_stride, m, direct,
           [&](const int32_t* c, size_t ldc, size_t r0, size_t rows, size_t col0, size_t cols) {
             for (size_t m0 = 0; m0 < rows; m0 += kQGemmMr) {
               detail::QGemmS32Epilogue epi{y + (r0 + m0) * ldy, ldy};
               epilogue_tile(w, c + m0 * ldc, ldc, std::min(kQGemmMr, rows - m0), col0, cols, epi);
             }
           });
}

// Each chunk re-widens int8 weights (drive()), so chunks are large: 168 rows at
// K = 3072 (256 KB chunks, 40 rows, cost 2% on 128x3072x768).
size_t qgemm_a16_chunk_rows(size_t kc2) {
  return std::max<size_t>(kQGemmMr, (1024 * 1024 / (std::max<size_t>(kc2, 1) * 2)) / kQGemmMr * kQGemmMr);
}

namespace {

struct A16Scratch {
  std::unique_ptr<int16_t[]> data;
  Status allocate(size_t rows, size_t kc2, const char* what) {
    if (kc2 != 0 && rows > (size_t(1) << 30) / kc2) {
      return out_of_memory(std::string(what) + ": activation scratch too large");
    }
    data.reset(new (std::nothrow) int16_t[rows * kc2 + 8]);
    if (!data) return out_of_memory(std::string(what) + ": cannot allocate activation scratch");
    return Status::Ok();
  }
};

}  // namespace

Status qgemm_requant(const QGemmPackedW& w, const void* a, bool a_signed, size_t m, size_t lda, int32_t a_zp,
                     const QGemmRequantParams& p, void* y, size_t ldy) {
  const size_t kc2 = w.kc2(), mc = std::min(m, qgemm_a16_chunk_rows(kc2));
  A16Scratch s;
  WQ_RETURN_IF_ERROR(s.allocate(mc, kc2, "qgemm_requant"));
  for (size_t m0 = 0; m0 < m; m0 += mc) {
    const size_t rows = std::min(mc, m - m0);
    const void* arow = a_signed ? static_cast<const void*>(static_cast<const int8_t*>(a) + m0 * lda)
                                : static_cast<const void*>(static_cast<const uint8_t*>(a) + m0 * lda);
    qgemm_pack_a_q8(arow, a_signed, rows, w.k(), lda, a_zp, s.data.get(), kc2);
    qgemm_requant_a16(w, s.data.get(), kc2, rows, p, static_cast<uint8_t*>(y) + m0 * ldy, ldy);
  }
  return Status::Ok();
}

Status qgemm_s32(const QGemmPackedW& w, const void* a, bool a_signed, size_t m, size_t lda, int32_t a_zp,
                 int32_t* y, size_t ldy) {
  const size_t kc2 = w.kc2(), mc = std::min(m, qgemm_a16_chunk_rows(kc2));
  A16Scratch s;
  WQ_RETURN_IF_ERROR(s.allocate(mc, kc2, "qgemm_s32"));
  for (size_t m0 = 0; m0 < m; m0 += mc) {
    const size_t rows = std::min(mc, m - m0);
    const void* arow = a_signed ? static_cast<const void*>(static_cast<const int8_t*>(a) + m0 * lda)
                                : static_cast<const void*>(static_cast<const uint8_t*>(a) + m0 * lda);
    qgemm_pack_a_q8(arow, a_signed, rows, w.k(), lda, a_zp, s.data.get(), kc2);
    qgemm_s32_a16(w, s.data.get(), kc2, rows, y + m0 * ldy, ldy);
  }
  return Status::Ok();
}

Status qgemm_dynamic_f32(const QGemmPackedW& w, const float* a, size_t m, size_t lda, bool per_row,
                         const float* w_scale, const float* bias, float* y, size_t ldy) {
  const size_t kc2 = w.kc2(), mc = std::min(m, qgemm_a16_chunk_rows(kc2));
  A16Scratch s;
  WQ_RETURN_IF_ERROR(s.allocate(mc, kc2, "qgemm_dynamic_f32"));
  std::unique_ptr<float[]> a_scale(new (std::nothrow) float[m > 0 ? m : 1]);
  if (!a_scale) return out_of_memory("qgemm_dynamic_f32: cannot allocate row scales");
  if (!per_row && m > 0) {
    // One (scale, zp) over the whole tensor: compute it first, then quantize
    // every chunk with it.
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < m; ++i) {
      for (size_t kk = 0; kk < w.k(); ++kk) {
        mn = std::min(mn, a[i * lda + kk]);
        mx = std::max(mx, a[i * lda + kk]);
      }
    }
    float scale;
    uint8_t zp;
    const float both[2] = {mn, mx};
    dynamic_quant_params_qu8(both, 2, &scale, &zp);
    std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[w.k()]);
    if (!buf) return out_of_memory("qgemm_dynamic_f32: cannot allocate quantization buffer");
    for (size_t m0 = 0; m0 < m; m0 += mc) {
      const size_t rows = std::min(mc, m - m0);
      for (size_t i = 0; i < rows; ++i) {
        quantize_row_qu8(a + (m0 + i) * lda, w.k(), scale, zp, buf.get());
        qgemm_pack_a_q8(buf.get(), false, 1, w.k(), w.k(), zp, s.data.get() + i * kc2, 0);
        a_scale[m0 + i] = scale;
      }
      QGemmF32Params p{a_scale.get() + m0, w_scale, bias};
      qgemm_f32_a16(w, s.data.get(), kc2, rows, p, y + m0 * ldy, ldy);
    }
    return Status::Ok();
  }
  for (size_t m0 = 0; m0 < m; m0 += mc) {
    const size_t rows = std::min(mc, m - m0);
    qgemm_quantize_a_f32(a + m0 * lda, rows, w.k(), lda, true, s.data.get(), kc2, a_scale.get() + m0, nullptr);
    QGemmF32Params p{a_scale.get() + m0, w_scale, bias};
    qgemm_f32_a16(w, s.data.get(), kc2, rows, p, y + m0 * ldy, ldy);
  }
  return Status::Ok();
}

}  // namespace wq
