// Benchmark of the int8 / int4 kernels (single thread). Own main; not part of
// the CMake build (the numbers that matter are WASM, built by hand):
//
//   native:
//     g++ -std=c++17 -O2 -march=x86-64-v2 -I. tests/bench/q8_kernels_bench.cc \
//         core/kernels/q*.cc core/qparams.cc core/status.cc core/tensor.cc -o /tmp/q8_bench
//   WASM (what ships):
//     NODE_PATH=/usr/share/nodejs em++ -std=c++17 -O3 -msimd128 -I. tests/bench/q8_kernels_bench.cc \
//         core/kernels/q*.cc core/qparams.cc core/status.cc core/tensor.cc \
//         -sALLOW_MEMORY_GROWTH=1 -sENVIRONMENT=node -o /tmp/q8_bench.js
//     node --no-experimental-fetch /tmp/q8_bench.js [filter]
//
// Each case: warm-up, then the median (and best) of >= 20 timed runs; prints
// ms and GMAC/s. An optional argument keeps only cases whose name contains it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if defined(__EMSCRIPTEN__)
#include <emscripten.h>
#else
#include <time.h>
#endif

#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/kernels/qgemm_4bit.h"
#include "core/kernels/qquantize.h"
#include "tests/core/xorshift_rng.h"

using namespace wq;

namespace {

using Rng = test::XorshiftRng;

double wall_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// CPU time of this process: the machine is shared, and wall time mostly
// measures the other tenants. Under Node: process.cpuUsage() (user + system).
#if defined(__EMSCRIPTEN__)
EM_JS(double, cpu_ms, (), {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
});
#else
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}
#endif

std::string g_filter;

// Prints the median and best CPU time and the median wall time of >= `runs`
// timed runs (more while the total stays under ~300 ms), after two warm-ups.
void bench(const std::string& name, double macs, const std::function<void()>& fn, int runs = 21) {
  if (!g_filter.empty() && name.find(g_filter) == std::string::npos) return;
  fn();  // warm-up (also faults in the pages)
  fn();
  std::vector<double> cpu, wall;
  double total = 0;
  for (int r = 0; r < runs || (total < 300.0 && r < 200); ++r) {
    const double c0 = cpu_ms(), w0 = wall_ms();
    fn();
    const double dc = cpu_ms() - c0, dw = wall_ms() - w0;
    cpu.push_back(dc);
    wall.push_back(dw);
    total += dw;
  }
  std::sort(cpu.begin(), cpu.end());
  std::sort(wall.begin(), wall.end());
  const double med = cpu[cpu.size() / 2], best = cpu[0], wmed = wall[wall.size() / 2];
  std::printf("%-40s cpu median %8.3f ms  best %8.3f ms  %6.2f GMAC/s | wall median %8.3f ms  (%zu runs)\n",
              name.c_str(), med, best, macs / med / 1e6, wmed, cpu.size());
  std::fflush(stdout);
}

std::string shape_name(const char* what, size_t m, size_t k, size_t n) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%s %zux%zux%zu", what, m, k, n);
  return buf;
}

void bench_gemm(size_t m, size_t k, size_t n) {
  Rng rng;
  std::vector<uint8_t> a(m * k);
  std::vector<int8_t> w(k * n);
  std::vector<float> af(m * k);
  for (auto& v : a) v = uint8_t(rng.range(0, 255));
  for (auto& v : w) v = int8_t(rng.range(-127, 127));
  for (auto& v : af) v = rng.uniform(-3.0f, 3.0f);
  std::vector<float> scale(n, 0.0004f), wscale(n, 0.01f), fbias(n, 0.5f);
  std::vector<int32_t> bias(n);
  for (auto& b : bias) b = rng.range(-1000, 1000);
  std::vector<uint8_t> y(m * n);
  std::vector<float> yf(m * n);
  const int32_t zp0 = 0;
  const double macs = double(m) * double(k) * double(n);
  for (int fmt = 0; fmt < 2; ++fmt) {
    auto packed = qgemm_pack_w(w.data(), true, k, n, n, 1, &zp0, false, bias.data(), fmt);
    if (!packed.ok()) {
      std::printf("pack failed: %s\n", packed.status().to_string().c_str());
      return;
    }
    QGemmRequantParams p;
    p.scale = scale.data();
    p.zero_point = 128;
    // Each with the default Strassen-Winograd limits and with Strassen off ("direct").
    const QGemmStrassenLimits defaults = qgemm_strassen_limits();
    for (bool strassen : {true, false}) {
      QGemmStrassenLimits limits = defaults;
      if (!strassen) limits.min_m = SIZE_MAX;
      qgemm_set_strassen_limits(limits);
      size_t ms = 0, ns = 0;
      if (!strassen && !qgemm_strassen_extent(*packed, m, &ms, &ns)) {
        qgemm_set_strassen_limits(defaults);
        if (!qgemm_strassen_extent(*packed, m, &ms, &ns)) continue;  // same path twice
        qgemm_set_strassen_limits(limits);
      }
      const std::string tag = std::string(fmt == 0 ? "w8" : "w16") + (strassen ? "" : " direct");
      bench(shape_name(("qgemm static " + tag).c_str(), m, k, n), macs, [&] {
        (void)qgemm_requant(*packed, a.data(), false, m, k, 131, p, y.data(), n);
      });
      bench(shape_name(("qgemm dynamic " + tag).c_str(), m, k, n), macs, [&] {
        (void)qgemm_dynamic_f32(*packed, af.data(), m, k, true, wscale.data(), fbias.data(), yf.data(), n);
      });
    }
    qgemm_set_strassen_limits(defaults);
  }
}

void bench_gemm4(size_t m, size_t k, size_t n, size_t block) {
  Rng rng;
  std::vector<uint8_t> w4((k * n + 1) / 2);
  for (auto& v : w4) v = uint8_t(rng.next());
  const size_t nb = (k + block - 1) / block;
  std::vector<float> scales(n * nb);
  for (auto& s : scales) s = rng.uniform(0.001f, 0.02f);
  std::vector<uint8_t> zps((n * nb + 1) / 2, 0x88);
  std::vector<float> a(m * k), bias(n, 0.25f), y(m * n);
  for (auto& v : a) v = rng.uniform(-2.0f, 2.0f);
  auto packed = qb4_pack_w(w4.data(), false, k, n, block, scales.data(), zps.data());
  if (!packed.ok()) {
    std::printf("int4 pack failed: %s\n", packed.status().to_string().c_str());
    return;
  }
  const double macs = double(m) * double(k) * double(n);
  char tag[64];
  std::snprintf(tag, sizeof(tag), "int4 b%zu qd8", block);
  bench(shape_name(tag, m, k, n), macs,
        [&] { (void)qb4_gemm_dynamic_f32(*packed, a.data(), m, k, bias.data(), y.data(), n); });
  std::snprintf(tag, sizeof(tag), "int4 b%zu f32act", block);
  bench(shape_name(tag, m, k, n), macs,
        [&] { (void)qb4_gemm_f32(*packed, a.data(), m, k, bias.data(), y.data(), n); });
}

void bench_conv(const char* what, size_t c_in, size_t c_out, size_t h, size_t w, size_t kernel, size_t stride,
                size_t groups) {
  Rng rng;
  QConvShape s;
  s.n = 1;
  s.c_in = c_in;
  s.c_out = c_out;
  s.h = h;
  s.w = w;
  s.kh = s.kw = kernel;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = kernel / 2;
  s.groups = groups;
  const size_t kpg = (c_in / groups) * kernel * kernel;
  std::vector<int8_t> wt(c_out * kpg);
  for (auto& v : wt) v = int8_t(rng.range(-127, 127));
  std::vector<int32_t> bias(c_out);
  for (auto& b : bias) b = rng.range(-500, 500);
  std::vector<float> scale(c_out, 0.0005f);
  const int32_t zp0 = 0;
  auto conv = QConv::create(s, wt.data(), true, &zp0, false, bias.data());
  if (!conv.ok()) {
    std::printf("conv create failed: %s\n", conv.status().to_string().c_str());
    return;
  }
  std::vector<uint8_t> x(c_in * h * w);
  for (auto& v : x) v = uint8_t(rng.range(0, 255));
  std::vector<uint8_t> y(c_out * conv->out_h() * conv->out_w());
  QGemmRequantParams p;
  p.scale = scale.data();
  p.zero_point = 100;
  const double macs = double(c_out) * double(conv->out_h() * conv->out_w()) * double(kpg);
  char name[128];
  std::snprintf(name, sizeof(name), "qconv %s %zux%zux%zu->%zu", what, h, w, c_in, c_out);
  bench(name, macs, [&] { (void)conv->run(x.data(), false, 120, p, y.data()); });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_filter = argv[1];
  const size_t shapes[][3] = {{128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}, {1, 4096, 4096}, {1, 4096, 11008}};
  for (const auto& s : shapes) bench_gemm(s[0], s[1], s[2]);
  for (const auto& s : shapes) bench_gemm4(s[0], s[1], s[2], 32);
  bench_gemm4(1, 4096, 4096, 128);
  bench_conv("1x1", 32, 64, 112, 112, 1, 1, 1);
  bench_conv("dw3x3", 32, 32, 112, 112, 3, 1, 32);
  bench_conv("dw3x3s2", 64, 64, 112, 112, 3, 2, 64);
  bench_conv("1x1", 512, 512, 14, 14, 1, 1, 1);
  bench_conv("dw3x3", 512, 512, 14, 14, 3, 1, 512);
  bench_conv("dw5x5", 480, 480, 14, 14, 5, 1, 480);
  bench_conv("3x3", 64, 64, 56, 56, 3, 1, 1);
  {
    // Element-wise quantization throughput (elements/s reported as "GMAC/s").
    Rng rng;
    std::vector<float> x(1 << 20);
    for (auto& v : x) v = rng.uniform(-10.0f, 10.0f);
    std::vector<uint8_t> q(x.size());
    float sc;
    uint8_t zp;
    bench("DynamicQuantizeLinear 1M (Gelem/s)", double(x.size()),
          [&] { dynamic_quantize_linear_qu8(x.data(), x.size(), q.data(), &sc, &zp); });
  }
  return 0;
}
