// f32 GEMM: two micro-kernel families, their packing, the kernel table, and
// the high-level packed GEMM that Gemm / MatMul call.
//
// Family f32_gemm: C[M x N] = act(A[M x K] · B[K x N] + bias[N])
//   A is row-major activations (row stride a_stride); B is constant and packed
//   once into column panels (f32_pack_gemm_w). The kernel keeps an mr x 8 tile
//   of C in registers: A values are splatted, B rows are vector-loaded. This is
//   the XNNPACK NHWC GEMM, used for Gemm and MatMul.
//
// Family f32_gemm_chw: C[M x N] = act(W[M x K] · B[K x N] + bias[M])
//   W is constant (conv weights, M = output channels) packed into row panels
//   (f32_pack_gemm_chw_w); B is an NCHW activation (K = input channels, N =
//   pixels, row stride b_stride) read in place, or an im2col block. Output
//   channels are splatted, pixels are vector-loaded, and C comes out in NCHW, so
//   a 1x1 convolution is one call with no layout change.
//
// Units: every size and stride is in floats (not bytes). Kernels never read or
// write outside the rows/columns they are given (no padding constant needed):
// the packed operand is padded by its packer, tails of the strided operand are
// loaded lane by lane.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kernels/f32_activation.h"
#include "core/kernels/f32_buffer.h"
#include "core/status.h"

namespace wq {

// ---------------------------------------------------------------------------
// Family f32_gemm
// ---------------------------------------------------------------------------

// Width of a packed B panel. Every f32_gemm kernel reads this layout.
constexpr size_t kF32GemmNr = 8;

// Computes rows [0, mr) x columns [0, nc) of C.
//   mr in [1, kernel MR], nc >= 1, kc >= 0.
//   a:  row i at a + i * a_stride, kc floats.
//   w:  ceil(nc / 8) consecutive packed panels (f32_pack_gemm_w layout).
//   c:  row i at c + i * c_stride; exactly nc floats per row are written.
using F32GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w,
                                  float* c, size_t c_stride, const F32Activation* act);

void f32_gemm__scalar(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w, float* c,
                      size_t c_stride, const F32Activation* act);
// loadsplat: one v128.load32_splat per A element. 4x8 is the main tile (on
// x86 V8 allocates 15 XMM registers; 6x8 spills there, it is kept for hosts
// with 32 vector registers such as ARM64 and is tested, not selected).
void f32_gemm_1x8__wasmsimd_loadsplat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w,
                                      float* c, size_t c_stride, const F32Activation* act);
void f32_gemm_4x8__wasmsimd_loadsplat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w,
                                      float* c, size_t c_stride, const F32Activation* act);
void f32_gemm_6x8__wasmsimd_loadsplat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w,
                                      float* c, size_t c_stride, const F32Activation* act);
// splat: one v128.load of 4 consecutive A elements, then a lane shuffle each
// (XNNPACK's x86 choice; slower here because V8 hoists the 8 B loads of a
// 4-step block and spills).
void f32_gemm_4x8__wasmsimd_splat(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride, const float* w,
                                  float* c, size_t c_stride, const F32Activation* act);

// Packed B: for each panel of 8 columns [j0, j0 + 8): bias[j0 .. j0+8), then
// for k = 0 .. K-1: B[k][j0 .. j0+8). Columns >= N are zero. Total
// f32_pack_gemm_w_size(k, n) floats (SIZE_MAX if that overflows size_t).
//   b: K x N row-major (b_transposed = false, ldb >= N), or N x K row-major
//      (b_transposed = true, ldb >= K: ONNX Gemm transB = 1).
//   bias: N floats or nullptr (zero).
size_t f32_pack_gemm_w_size(size_t k, size_t n);
void f32_pack_gemm_w(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed, const float* bias,
                     float* packed);
// The inverse: writes B (same layout arguments as the packer; nullptr to
// skip) and, when bias is not null, the N bias floats back from a packed buffer. Bit-exact, so a
// caller may free the original B after packing and rebuild it on demand.
void f32_unpack_gemm_w(size_t k, size_t n, const float* packed, float* b, size_t ldb, bool b_transposed,
                       float* bias);

// ---------------------------------------------------------------------------
// Family f32_gemm_chw
// ---------------------------------------------------------------------------

// Rows per packed W panel. Every f32_gemm_chw kernel reads this layout.
constexpr size_t kF32GemmChwMr = 4;

// Computes rows [0, mr) x columns [0, nc) of C.
//   mr in [1, kF32GemmChwMr], nc >= 1, kc >= 0.
//   w:  one packed panel (f32_pack_gemm_chw_w layout); rows >= mr are zero.
//   b:  row k at b + k * b_stride, nc floats read from each row.
//   c:  row i at c + i * c_stride; exactly nc floats per row are written.
using F32GemmChwUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride,
                                     float* c, size_t c_stride, const F32Activation* act);

void f32_gemm_chw__scalar(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride, float* c,
                          size_t c_stride, const F32Activation* act);
// loadsplat: the 4 weights of a step as 4 v128.load32_splat (the main tile);
// splat: one v128 load + 4 lane shuffles.
void f32_gemm_chw_4x8__wasmsimd_loadsplat(size_t mr, size_t nc, size_t kc, const float* w, const float* b,
                                          size_t b_stride, float* c, size_t c_stride, const F32Activation* act);
void f32_gemm_chw_4x8__wasmsimd_splat(size_t mr, size_t nc, size_t kc, const float* w, const float* b, size_t b_stride,
                                      float* c, size_t c_stride, const F32Activation* act);

// Packed W: for each panel of 4 rows [i0, i0 + 4): bias[i0 .. i0+4), then for
// k = 0 .. K-1: W[i0 .. i0+4][k]. Rows >= M are zero. Total
// f32_pack_gemm_chw_w_size(m, k) floats (SIZE_MAX if that overflows size_t);
// panel p starts at p * (4 + 4 * k).
//   w: M x K row-major, ldw >= K (a Conv weight [Cout, Cin/g, kh, kw] of one
//      group is M = Cout/g rows of K = Cin/g * kh * kw).
//   bias: M floats or nullptr (zero).
size_t f32_pack_gemm_chw_w_size(size_t m, size_t k);
void f32_pack_gemm_chw_w(size_t m, size_t k, const float* w, size_t ldw, const float* bias, float* packed);
// The inverse (bit-exact): W (M x K, row stride ldw; nullptr to skip) and,
// when bias is not null, the M bias floats.
void f32_unpack_gemm_chw_w(size_t m, size_t k, const float* packed, float* w, size_t ldw, float* bias);

// ---------------------------------------------------------------------------
// The kernel table: the only place that chooses a kernel.
// ---------------------------------------------------------------------------

struct F32GemmConfig {
  F32GemmUkernelFn gemm;  // the main tile, gemm_mr rows
  size_t gemm_mr;
  F32GemmUkernelFn gemm1;        // one row (GEMV and M tails of one row)
  F32GemmChwUkernelFn gemm_chw;  // kF32GemmChwMr rows
  const char* name;
};

// The fast kernels (wasmsimd; natively the same code through SIMDe).
const F32GemmConfig& f32_gemm_config();
// The scalar references, for tests and for comparing plans.
const F32GemmConfig& f32_gemm_config_scalar();

// Every kernel of each family, for tests and benchmarks.
struct F32GemmKernelInfo {
  const char* name;
  F32GemmUkernelFn fn;
  size_t mr;
};
struct F32GemmChwKernelInfo {
  const char* name;
  F32GemmChwUkernelFn fn;
};
size_t f32_gemm_kernel_count();
const F32GemmKernelInfo& f32_gemm_kernel(size_t i);
size_t f32_gemm_chw_kernel_count();
const F32GemmChwKernelInfo& f32_gemm_chw_kernel(size_t i);

// ---------------------------------------------------------------------------
// High-level GEMM with a constant right-hand side (Gemm, MatMul).
// ---------------------------------------------------------------------------

// B packed once with its bias and fused activation. Owns its packed weights;
// holds no pointer to the caller's B or bias after f32_pack_gemm returns.
class F32PackedGemm {
 public:
  F32PackedGemm() = default;
  size_t k() const { return k_; }
  size_t n() const { return n_; }
  const F32Activation& activation() const { return act_; }
  const float* packed() const { return packed_.data(); }
  // Writes back the B (K x N row-major, or N x K when b_transposed; row
  // stride ldb) and bias (N floats), either nullptr to skip, that were packed,
  // exactly, with alpha folded in as it was (f32_unpack_gemm_w).
  void unpack(float* b, size_t ldb, bool b_transposed, float* bias) const;

 private:
  friend Result<F32PackedGemm> f32_pack_gemm(size_t, size_t, const float*, size_t, bool, const float*,
                                             const F32Activation&);
  size_t k_ = 0;
  size_t n_ = 0;
  F32Activation act_;
  F32Buffer packed_;
};

// Packs B (K x N, or N x K when b_transposed) and bias (N floats or nullptr).
// ldb is B's row stride (>= N, or >= K when transposed). Fails only on
// allocation (kOutOfMemory) or bad sizes (kInvalidArgument).
Result<F32PackedGemm> f32_pack_gemm(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed,
                                    const float* bias, const F32Activation& act);

// C[M x N] = act(A[M x K] · B + bias). A row stride lda >= K, C row stride
// ldc >= N; A and C must not overlap. No scratch, no allocation.
void f32_gemm_run(const F32PackedGemm& gemm, size_t m, const float* a, size_t lda, float* c, size_t ldc);
// The same with an explicit kernel table (tests run plans on the scalar one).
void f32_gemm_run(const F32GemmConfig& config, const F32PackedGemm& gemm, size_t m, const float* a, size_t lda,
                  float* c, size_t ldc);

// Both operands known only at run time (MatMul without a constant B, e.g.
// attention): packs B into `scratch` (grown as needed, owned by the caller,
// reusable across calls; nullptr: a temporary) and runs the GEMM, no bias and
// no activation. The
// packing costs K*N copies against 2*M*N*K FLOPs. kOutOfMemory if scratch
// cannot grow, kInvalidArgument for strides that are too small.
Status f32_gemm_run_unpacked(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
                             bool b_transposed, float* c, size_t ldc, F32Buffer* scratch);

}  // namespace wq
