// Microbenchmark of the f32 kernels: GFLOP/s of the high-level GEMM and Conv
// on MatMul shapes and PP-OCR-like conv layers, plus every f32_gemm /
// f32_gemm_chw kernel variant on one shape. Not part of wq_tests; build by hand.
//
// Run from the repository root. Native (SIMDe), one line:
//   g++ -std=c++17 -O2 -DNDEBUG -march=x86-64-v2 -I. tests/bench/f32_kernels_bench.cc core/kernels/f32_*.cc
//       core/status.cc -o /tmp/f32_kernels_bench && /tmp/f32_kernels_bench
// WASM (what ships), one line:
//   NODE_PATH=/usr/share/nodejs em++ -std=c++17 -O3 -DNDEBUG -msimd128 -I. tests/bench/f32_kernels_bench.cc
//       core/kernels/f32_*.cc core/status.cc -sALLOW_MEMORY_GROWTH=1 -o /tmp/f32_kernels_bench.js
//   node --no-experimental-fetch /tmp/f32_kernels_bench.js
// Pass a substring to run only the rows whose name contains it.
//
// Each row reports the best of several timed batches, in process CPU time
// (under Node: process.cpuUsage), as milliseconds per call and
// GFLOP/s counting a multiply-add as 2 FLOPs (padding taps included for conv,
// as onnxruntime counts them).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#if defined(__EMSCRIPTEN__)
#include <emscripten.h>  // EM_ASM: CPU time from Node (benchmark only; core/ never includes this)
#endif

#include "core/kernels/f32_conv.h"
#include "core/kernels/f32_gemm.h"

namespace wq {
namespace {

// CPU time of this process, not wall time: the machine is shared, and time
// spent descheduled would otherwise be charged to the kernel.
double now_seconds() {
#if defined(__EMSCRIPTEN__)
  return EM_ASM_DOUBLE({
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
#else
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
#endif
}

// Best seconds per call of fn over `reps` batches of >= min_batch seconds.
template <typename Fn>
double best_time(Fn&& fn, int reps = 15, double min_batch = 0.02) {
  fn();  // warm up (and let V8 tier up)
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    int iters = 0;
    const double t0 = now_seconds();
    double t = t0;
    do {
      fn();
      ++iters;
      t = now_seconds();
    } while (t - t0 < min_batch);
    best = std::min(best, (t - t0) / iters);
  }
  return best;
}

std::vector<float> filled(size_t n, unsigned seed) {
  std::vector<float> v(n);
  unsigned s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 9) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

const char* g_filter = nullptr;
bool selected(const std::string& name) { return g_filter == nullptr || name.find(g_filter) != std::string::npos; }

void report(const std::string& name, double seconds, double flops) {
  std::printf("%-80s %9.3f ms %7.2f GFLOP/s\n", name.c_str(), seconds * 1e3, flops / seconds * 1e-9);
  std::fflush(stdout);
}

void bench_gemm(const char* label, size_t m, size_t k, size_t n, const F32GemmConfig& config) {
  const std::string name = std::string("gemm ") + label + " " + std::to_string(m) + "x" + std::to_string(k) + "x" +
                           std::to_string(n) + " [" + config.name + "]";
  if (!selected(name)) return;
  const std::vector<float> a = filled(m * k, 1), b = filled(k * n, 2), bias = filled(n, 3);
  std::vector<float> c(m * n);
  auto packed = f32_pack_gemm(k, n, b.data(), n, false, bias.data(), F32Activation::none());
  if (!packed.ok()) return;
  const double t = best_time([&] { f32_gemm_run(config, *packed, m, a.data(), k, c.data(), n); });
  report(name, t, 2.0 * m * k * n);
}

void bench_gemm_kernels(size_t m, size_t k, size_t n) {
  for (size_t i = 0; i < f32_gemm_kernel_count(); ++i) {
    const F32GemmKernelInfo& kernel = f32_gemm_kernel(i);
    if (kernel.mr == 1 && m != 1) continue;
    F32GemmConfig config = f32_gemm_config();
    config.gemm = kernel.fn;
    config.gemm_mr = kernel.mr;
    config.name = kernel.name;
    bench_gemm("kernel", m, k, n, config);
  }
}

struct ConvShape {
  const char* label;
  size_t cin, cout, groups, h, w, k, stride_h, stride_w, pad;
  F32Activation act;
};

void bench_conv(const ConvShape& s, const F32ConvConfig& config) {
  F32ConvParams p;
  p.in_channels = s.cin;
  p.out_channels = s.cout;
  p.groups = s.groups;
  p.kernel_h = p.kernel_w = s.k;
  p.stride_h = s.stride_h;
  p.stride_w = s.stride_w;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = s.pad;
  const std::vector<float> w = filled(s.cout * (s.cin / s.groups) * s.k * s.k, 4), bias = filled(s.cout, 5);
  const std::vector<float> x = filled(s.cin * s.h * s.w, 6);
  auto plan = f32_conv_plan(p, w.data(), bias.data(), s.act);
  if (!plan.ok()) return;
  size_t oh = 0, ow = 0;
  if (!f32_conv_output_size(*plan, s.h, s.w, &oh, &ow).ok()) return;
  char name[160];
  std::snprintf(name, sizeof(name), "conv %-11s %3zu->%3zu g%-3zu %3zux%-3zu k%zu s%zu,%zu %-11s [%s]", s.label, s.cin,
                s.cout, s.groups, s.h, s.w, s.k, s.stride_h, s.stride_w, f32_conv_path_name(plan->path()), config.name);
  if (!selected(name)) return;
  std::vector<float> y(s.cout * oh * ow);
  F32Buffer scratch;
  const double t = best_time([&] {
    if (!f32_conv_run(config, *plan, 1, s.h, s.w, x.data(), y.data(), &scratch).ok()) std::abort();
  });
  report(name, t, 2.0 * s.cout * oh * ow * (s.cin / s.groups) * s.k * s.k);
}

void bench_conv_kernels(const ConvShape& s) {
  for (size_t i = 0; i < f32_gemm_chw_kernel_count(); ++i) {
    F32ConvConfig config = f32_conv_config();
    config.gemm_chw = f32_gemm_chw_kernel(i).fn;
    config.name = f32_gemm_chw_kernel(i).name;
    if (std::strstr(config.name, "scalar") == nullptr) bench_conv(s, config);
  }
}

}  // namespace
}  // namespace wq

int main(int argc, char** argv) {
  using namespace wq;
  if (argc > 1) g_filter = argv[1];
#if defined(__wasm_simd128__)
  const char* build = "WASM SIMD128";
#else
  const char* build = "native, WASM intrinsics through SIMDe";
#endif
  std::printf("f32 kernels (%s kernels), %s\n", f32_gemm_config().name, build);

  // MatMul: the onnxruntime-web reference shape, PP-OCRv4 rec shapes (80 tokens), GEMV.
  bench_gemm("ort-ref", 128, 768, 3072, f32_gemm_config());
  bench_gemm("rec-qkv", 80, 120, 360, f32_gemm_config());
  bench_gemm("rec-mlp", 80, 120, 240, f32_gemm_config());
  bench_gemm("rec-head", 80, 120, 6625, f32_gemm_config());
  bench_gemm("square", 256, 256, 256, f32_gemm_config());
  bench_gemm("gemv", 1, 768, 3072, f32_gemm_config());
  bench_gemm("scalar", 128, 768, 3072, f32_gemm_config_scalar());
  bench_gemm_kernels(128, 768, 3072);

  // PP-OCRv4 det at 640x640 (feature maps 320..20) and rec at 48x320; channel
  // counts from the models' weights.
  const F32Activation hs = F32Activation::hard_swish(), relu = F32Activation::relu(), none = F32Activation::none();
  const ConvShape shapes[] = {
      {"det-stem", 3, 16, 1, 640, 640, 3, 2, 2, 1, hs},     {"det-dw3", 16, 16, 16, 320, 320, 3, 1, 1, 1, hs},
      {"det-pw", 16, 32, 1, 320, 320, 1, 1, 1, 0, hs},      {"det-dw3s2", 32, 32, 32, 320, 320, 3, 2, 2, 1, hs},
      {"det-pw", 32, 48, 1, 160, 160, 1, 1, 1, 0, hs},      {"det-pw", 96, 96, 1, 80, 80, 1, 1, 1, 0, hs},
      {"det-dw5", 192, 192, 192, 40, 40, 5, 1, 1, 2, hs},   {"det-dw5s2", 192, 192, 192, 40, 40, 5, 2, 2, 2, hs},
      {"det-pw", 192, 384, 1, 20, 20, 1, 1, 1, 0, hs},      {"det-pw", 384, 384, 1, 20, 20, 1, 1, 1, 0, hs},
      {"det-dw5", 384, 384, 384, 20, 20, 5, 1, 1, 2, hs},   {"det-neck3x3", 96, 24, 1, 160, 160, 3, 1, 1, 1, none},
      {"det-neck3x3", 96, 24, 1, 20, 20, 3, 1, 1, 1, none}, {"rec-dw3s21", 64, 64, 64, 12, 160, 3, 2, 1, 1, hs},
      {"rec-dw5", 240, 240, 240, 3, 80, 5, 1, 1, 2, hs},    {"rec-pw", 240, 240, 1, 3, 80, 1, 1, 1, 0, hs},
      {"rec-pw", 480, 480, 1, 1, 40, 1, 1, 1, 0, hs},       {"cls-pw", 16, 88, 1, 12, 48, 1, 1, 1, 0, relu},
  };
  for (const ConvShape& s : shapes) bench_conv(s, f32_conv_config());
  bench_conv_kernels(shapes[5]);
  bench_conv_kernels(shapes[11]);
  bench_conv(shapes[11], f32_conv_config_scalar());
  bench_conv(shapes[6], f32_conv_config_scalar());
  return 0;
}
