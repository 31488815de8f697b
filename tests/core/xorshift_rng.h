// The deterministic generator of the int8 kernel tests and benchmarks
// (xorshift64, top bits), defined once so every file draws the same way.
#pragma once

#include <cstdint>

namespace wq {
namespace test {

struct XorshiftRng {
  uint64_t s;
  explicit XorshiftRng(uint64_t state = 0x9E3779B97F4A7C15ull) : s(state) {}
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return uint32_t(s >> 11);
  }
  int range(int lo, int hi) { return lo + int(next() % uint32_t(hi - lo + 1)); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() & 0xFFFFFF) / 16777216.0f; }
};

}  // namespace test
}  // namespace wq
