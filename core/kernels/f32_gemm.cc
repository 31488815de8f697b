// The f32 GEMM kernel table and the high-level packed GEMM.
#include "core/kernels/f32_gemm.h"

#include <cassert>
#include <string>

namespace wq {

namespace {

// Measured with tests/bench/f32_kernels_bench.cc (doc/kernels.md has the numbers).
const F32GemmConfig kWasmSimdConfig = {
    f32_gemm_4x8__wasmsimd_loadsplat,     4,          f32_gemm_1x8__wasmsimd_loadsplat,
    f32_gemm_chw_4x8__wasmsimd_loadsplat, "wasmsimd",
};
const F32GemmConfig kScalarConfig = {
    f32_gemm__scalar, 4, f32_gemm__scalar, f32_gemm_chw__scalar, "scalar",
};

const F32GemmKernelInfo kGemmKernels[] = {
    {"f32_gemm__scalar", f32_gemm__scalar, 4},
    {"f32_gemm_1x8__wasmsimd_loadsplat", f32_gemm_1x8__wasmsimd_loadsplat, 1},
    {"f32_gemm_4x8__wasmsimd_loadsplat", f32_gemm_4x8__wasmsimd_loadsplat, 4},
    {"f32_gemm_6x8__wasmsimd_loadsplat", f32_gemm_6x8__wasmsimd_loadsplat, 6},
    {"f32_gemm_4x8__wasmsimd_splat", f32_gemm_4x8__wasmsimd_splat, 4},
};

const F32GemmChwKernelInfo kGemmChwKernels[] = {
    {"f32_gemm_chw__scalar", f32_gemm_chw__scalar},
    {"f32_gemm_chw_4x8__wasmsimd_splat", f32_gemm_chw_4x8__wasmsimd_splat},
    {"f32_gemm_chw_4x8__wasmsimd_loadsplat", f32_gemm_chw_4x8__wasmsimd_loadsplat},
};

// Columns of packed B walked by one sweep over the rows of A: the block
// (k x nc floats) is sized to stay in L2 while every row tile of A passes it.
constexpr size_t kGemmBlockBytes = 128 * 1024;

}  // namespace

const F32GemmConfig& f32_gemm_config() { return kWasmSimdConfig; }
const F32GemmConfig& f32_gemm_config_scalar() { return kScalarConfig; }

size_t f32_gemm_kernel_count() { return sizeof(kGemmKernels) / sizeof(kGemmKernels[0]); }
const F32GemmKernelInfo& f32_gemm_kernel(size_t i) { return kGemmKernels[i]; }
size_t f32_gemm_chw_kernel_count() { return sizeof(kGemmChwKernels) / sizeof(kGemmChwKernels[0]); }
const F32GemmChwKernelInfo& f32_gemm_chw_kernel(size_t i) { return kGemmChwKernels[i]; }

Result<F32PackedGemm> f32_pack_gemm(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed,
                                    const float* bias, const F32Activation& act) {
  if (b_transposed ? ldb < k : ldb < n) {
    return invalid_argument("f32_pack_gemm: row stride " + std::to_string(ldb) + " of B is too small");
  }
  if (b == nullptr && k != 0 && n != 0) return invalid_argument("f32_pack_gemm: B is null");
  // k and n come from tensor shapes; keep k * n well inside size_t before packing.
  if (k > kF32BufferMaxBytes || n > kF32BufferMaxBytes || (n != 0 && k > kF32BufferMaxBytes / n)) {
    return out_of_memory("f32_pack_gemm: B of " + std::to_string(k) + " x " + std::to_string(n) + " is too large");
  }
  F32PackedGemm gemm;
  gemm.k_ = k;
  gemm.n_ = n;
  gemm.act_ = act;
  const size_t size = f32_pack_gemm_w_size(k, n);
  if (size != 0) {
    WQ_RETURN_IF_ERROR(gemm.packed_.reserve(size, "f32_pack_gemm"));
    f32_pack_gemm_w(k, n, b, ldb, b_transposed, bias, gemm.packed_.data());
  }
  return gemm;
}

namespace {

void run_packed(const F32GemmConfig& config, const float* packed, size_t k, size_t n, const F32Activation& act,
                size_t m, const float* a, size_t lda, float* c, size_t ldc) {
  assert(lda >= k && ldc >= n);
  if (m == 0 || n == 0) return;
  constexpr size_t nr = kF32GemmNr;
  const size_t panel_size = nr + k * nr;
  size_t nc_block = kGemmBlockBytes / (sizeof(float) * (k + 1)) / nr * nr;
  if (nc_block < nr) nc_block = nr;
  for (size_t n0 = 0; n0 < n; n0 += nc_block) {
    const size_t nc = n - n0 < nc_block ? n - n0 : nc_block;
    const float* w = packed + (n0 / nr) * panel_size;
    for (size_t m0 = 0; m0 < m; m0 += config.gemm_mr) {
      const size_t mr = m - m0 < config.gemm_mr ? m - m0 : config.gemm_mr;
      const F32GemmUkernelFn fn = mr == 1 ? config.gemm1 : config.gemm;
      fn(mr, nc, k, a + m0 * lda, lda, w, c + m0 * ldc + n0, ldc, &act);
    }
  }
}

}  // namespace

void f32_gemm_run(const F32GemmConfig& config, const F32PackedGemm& gemm, size_t m, const float* a, size_t lda,
                  float* c, size_t ldc) {
  run_packed(config, gemm.packed(), gemm.k(), gemm.n(), gemm.activation(), m, a, lda, c, ldc);
}

void f32_gemm_run(const F32PackedGemm& gemm, size_t m, const float* a, size_t lda, float* c, size_t ldc) {
  f32_gemm_run(f32_gemm_config(), gemm, m, a, lda, c, ldc);
}

Status f32_gemm_run_unpacked(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
                             bool b_transposed, float* c, size_t ldc, F32Buffer* scratch) {
  if (lda < k || ldc < n || (b_transposed ? ldb < k : ldb < n)) {
    return invalid_argument("f32_gemm_run_unpacked: a row stride is smaller than its row");
  }
  if (m == 0 || n == 0) return Status::Ok();
  if (k > kF32BufferMaxBytes || n > kF32BufferMaxBytes || k > kF32BufferMaxBytes / n) {
    return out_of_memory("f32_gemm_run_unpacked: B of " + std::to_string(k) + " x " + std::to_string(n) +
                         " is too large");
  }
  F32Buffer local;
  if (scratch == nullptr) scratch = &local;
  WQ_RETURN_IF_ERROR(scratch->reserve(f32_pack_gemm_w_size(k, n), "f32_gemm_run_unpacked"));
  f32_pack_gemm_w(k, n, b, ldb, b_transposed, nullptr, scratch->data());
  run_packed(f32_gemm_config(), scratch->data(), k, n, F32Activation::none(), m, a, lda, c, ldc);
  return Status::Ok();
}

}  // namespace wq
