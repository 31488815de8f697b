// Native speed reference: our int8 GEMM (the WASM-SIMD kernel source compiled
// through SIMDe, SSE4.2 on x86-64-v2) against XNNPACK's int8 operators, single
// thread, on the GEMM shapes. Static quantization on both sides: int8
// activations with a zero point, int8 weights, int8 requantized output.
//
//   bash scripts/bench/native_xnnpack.sh [filter]     (configures, builds, runs)
//
// Columns: ours with int8-packed and int16-packed weights (qgemm_requant, which
// includes widening A once per call), XNNPACK fully_connected_nc_qs8 (per-tensor
// weights) and convolution2d_nhwc_qc8 as a 1x1 conv (per-channel weights).
// XNNPACK dispatches at run time to the widest kernels the CPU has (AVX2 /
// AVX-512 here); ours is SSE-width code by construction, so this table says how
// far the portable 128-bit kernel is from a native library, not what WASM does.
// Every pair of outputs is also compared (they must be equal bit for bit).
// Time: median (and best) process CPU time of >= 15 runs after two warm-ups.
#include <xnnpack.h>

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/kernels/qgemm.h"
#include "core/qparams.h"
#include "tests/core/xorshift_rng.h"

using namespace wq;

namespace {

using Rng = test::XorshiftRng;

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

struct Timing {
  double median_ms = 0, best_ms = 0;
};

Timing time_it(const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> t;
  double total = 0;
  for (int r = 0; r < 15 || (total < 400.0 && r < 300); ++r) {
    const double c0 = cpu_ms();
    fn();
    const double dt = cpu_ms() - c0;
    t.push_back(dt);
    total += dt;
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[0]};
}

bool check(xnn_status s, const char* what) {
  if (s != xnn_status_success) std::printf("%s failed: status %d\n", what, int(s));
  return s == xnn_status_success;
}

void bench_shape(size_t m, size_t k, size_t n) {
  Rng rng;
  std::vector<int8_t> a(m * k + XNN_EXTRA_BYTES), w(n * k);  // w: [n][k], XNNPACK's layout
  for (auto& v : a) v = int8_t(rng.range(-128, 127));
  for (auto& v : w) v = int8_t(rng.range(-127, 127));
  std::vector<int32_t> bias(n);
  for (auto& b : bias) b = rng.range(-5000, 5000);
  const int8_t a_zp = 3, y_zp = -2;
  const float a_scale = 0.02f, y_scale = 0.5f;
  const float w_scale = 0.004f / std::max(1.0f, float(k) / 768.0f);
  std::vector<float> w_scales(n);
  for (size_t j = 0; j < n; ++j) w_scales[j] = w_scale * (0.75f + 0.5f * float(j % 7) / 7.0f);
  const double macs = double(m) * double(k) * double(n);
  auto gmacs = [&](const Timing& t) { return macs / (t.median_ms * 1e6); };

  // XNNPACK, per-tensor (fully connected qs8) and per-channel (1x1 conv qc8).
  xnn_operator_t fc = nullptr, conv = nullptr;
  std::vector<int8_t> y_fc(m * n), y_conv(m * n);
  if (!check(xnn_create_fully_connected_nc_qs8(k, n, k, n, a_zp, a_scale, w_scale, w.data(), bias.data(), y_zp,
                                               y_scale, -128, 127, 0, &fc),
             "xnn_create_fully_connected_nc_qs8") ||
      !check(xnn_setup_fully_connected_nc_qs8(fc, m, a.data(), y_fc.data(), nullptr), "setup fc")) {
    return;
  }
  if (!check(xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, k, n, k, n, a_zp, a_scale,
                                               w_scales.data(), w.data(), bias.data(), y_zp, y_scale, -128, 127, 0,
                                               &conv),
             "xnn_create_convolution2d_nhwc_qc8") ||
      !check(xnn_setup_convolution2d_nhwc_qc8(conv, 1, m, 1, a.data(), y_conv.data(), nullptr), "setup conv")) {
    xnn_delete_operator(fc);
    return;
  }
  const Timing t_fc = time_it([&] { xnn_run_operator(fc, nullptr); });
  const Timing t_conv = time_it([&] { xnn_run_operator(conv, nullptr); });

  // Ours, the same two problems, both weight formats.
  const int32_t zp0 = 0;
  std::vector<float> s_tensor(n, requant_scale(a_scale, w_scale, y_scale)), s_channel(n);
  for (size_t j = 0; j < n; ++j) s_channel[j] = requant_scale(a_scale, w_scales[j], y_scale);
  Timing t_ours[2];
  bool equal = true;
  for (int fmt = 0; fmt < 2; ++fmt) {
    auto packed = qgemm_pack_w(w.data(), true, k, n, 1, k, &zp0, false, bias.data(), fmt);
    if (!packed.ok()) {
      std::printf("qgemm_pack_w failed: %s\n", packed.status().to_string().c_str());
      return;
    }
    QGemmRequantParams p;
    p.zero_point = y_zp;
    p.qmin = -128;
    p.qmax = 127;
    p.output_signed = true;
    std::vector<int8_t> y(m * n);
    p.scale = s_channel.data();
    (void)qgemm_requant(*packed, a.data(), true, m, k, a_zp, p, y.data(), n);
    equal = equal && y == y_conv;
    p.scale = s_tensor.data();
    t_ours[fmt] = time_it([&] { (void)qgemm_requant(*packed, a.data(), true, m, k, a_zp, p, y.data(), n); });
    equal = equal && y == y_fc;
  }
  xnn_delete_operator(fc);
  xnn_delete_operator(conv);

  char shape[64];
  std::snprintf(shape, sizeof(shape), "%zux%zux%zu", m, k, n);
  std::printf("| %-13s | %7.3f | %5.1f | %7.3f | %5.1f | %7.3f | %5.1f | %7.3f | %5.1f | %5.2fx | %s |\n", shape,
              t_ours[0].median_ms, gmacs(t_ours[0]), t_ours[1].median_ms, gmacs(t_ours[1]), t_fc.median_ms,
              gmacs(t_fc), t_conv.median_ms, gmacs(t_conv),
              std::min(t_ours[0].median_ms, t_ours[1].median_ms) / t_fc.median_ms, equal ? "yes" : "NO");
  std::fflush(stdout);
}

#if defined(__x86_64__)
// The ceiling of the WASM int8 GEMM's instruction mix on this CPU: V8 turns
// i32x4.dot_i16x8_s into (v)pmaddwd and i32x4.add into (v)paddd on xmm
// registers, 8 + 8 of them per 64 MACs in the 4x8c2 tile. Eight independent
// accumulators, no loads: nothing but the vector pipes limits this loop.
// Written in assembly so that no compiler can fold or vectorize it differently.
double dot16x2_ceiling_gmacs(bool with_w8_widen) {
  const long iters = 50000000;
  alignas(16) int16_t buf[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const double c0 = cpu_ms();
  for (long i = 0; i < iters; ++i) {
    if (with_w8_widen) {
      // + the two i16x8.load8x8_s (vpmovsxbw) of the int8 weight format.
      __asm__ volatile(
          "vpmovsxbw (%0), %%xmm15\n vpmovsxbw 8(%0), %%xmm12\n"
          "vpmaddwd %%xmm15, %%xmm14, %%xmm8\n vpaddd %%xmm8, %%xmm0, %%xmm0\n"
          "vpmaddwd %%xmm12, %%xmm14, %%xmm9\n vpaddd %%xmm9, %%xmm1, %%xmm1\n"
          "vpmaddwd %%xmm15, %%xmm13, %%xmm10\n vpaddd %%xmm10, %%xmm2, %%xmm2\n"
          "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm3, %%xmm3\n"
          "vpmaddwd %%xmm15, %%xmm14, %%xmm8\n vpaddd %%xmm8, %%xmm4, %%xmm4\n"
          "vpmaddwd %%xmm12, %%xmm14, %%xmm9\n vpaddd %%xmm9, %%xmm5, %%xmm5\n"
          "vpmaddwd %%xmm15, %%xmm13, %%xmm10\n vpaddd %%xmm10, %%xmm6, %%xmm6\n"
          "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm7, %%xmm7\n"
          :
          : "r"(buf)
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
            "xmm12", "xmm13", "xmm14", "xmm15", "memory");
    } else {
      __asm__ volatile(
          "vpmaddwd %%xmm15, %%xmm14, %%xmm8\n vpaddd %%xmm8, %%xmm0, %%xmm0\n"
          "vpmaddwd %%xmm12, %%xmm14, %%xmm9\n vpaddd %%xmm9, %%xmm1, %%xmm1\n"
          "vpmaddwd %%xmm15, %%xmm13, %%xmm10\n vpaddd %%xmm10, %%xmm2, %%xmm2\n"
          "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm3, %%xmm3\n"
          "vpmaddwd %%xmm15, %%xmm14, %%xmm8\n vpaddd %%xmm8, %%xmm4, %%xmm4\n"
          "vpmaddwd %%xmm12, %%xmm14, %%xmm9\n vpaddd %%xmm9, %%xmm5, %%xmm5\n"
          "vpmaddwd %%xmm15, %%xmm13, %%xmm10\n vpaddd %%xmm10, %%xmm6, %%xmm6\n"
          "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm7, %%xmm7\n"
          :
          :
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
            "xmm12", "xmm13", "xmm14", "xmm15");
    }
  }
  const double ms = cpu_ms() - c0;
  return 64.0 * double(iters) / (ms * 1e6);
}

bool cpu_has_avx() { return __builtin_cpu_supports("avx"); }
#endif

}  // namespace

int main(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::printf("xnn_initialize failed (CPU without SSE2?)\n");
    return 1;
  }
#if defined(__x86_64__)
  if (cpu_has_avx()) {
    std::printf("Ceiling of the WASM kernel's instruction mix on this CPU (xmm vpmaddwd + vpaddd, 16 per 64 MACs):\n"
                "  int16 weights (_w16) %.1f GMAC/s, int8 weights (+2 vpmovsxbw) %.1f GMAC/s\n\n",
                dot16x2_ceiling_gmacs(false), dot16x2_ceiling_gmacs(true));
  }
#endif
  std::printf("int8 GEMM, single thread, median CPU time (ms) and GMAC/s\n\n");
  std::printf("| M x K x N | ours w8 ms | GMAC/s | ours w16 ms | GMAC/s | XNNPACK qs8 FC ms | GMAC/s | "
              "XNNPACK qc8 1x1 ms | GMAC/s | XNNPACK speed-up | bit-exact |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  const size_t shapes[][3] = {{128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}, {1, 4096, 4096}};
  for (const auto& s : shapes) {
    char name[64];
    std::snprintf(name, sizeof(name), "%zux%zux%zu", s[0], s[1], s[2]);
    if (!filter.empty() && std::string(name).find(filter) == std::string::npos) continue;
    bench_shape(s[0], s[1], s[2]);
  }
  xnn_deinitialize();
  return 0;
}
