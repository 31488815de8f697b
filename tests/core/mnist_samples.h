// Real MNIST digits for C++ tests: web/assets/mnist_samples.bin holds the first
// 256 digits of the test split (format in examples/lib/mnist.mjs), bundled with
// the web app, so native and WASM test binaries read real data without Node.
#pragma once

#include <doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/tensor.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "."
#endif

namespace wq {
namespace mnist_samples {

struct Digits {
  std::vector<float> pixels;  // [n, 784], 0..1
  std::vector<int64_t> labels;
  int n = 0;
};

// A file of the source tree (WQ_SOURCE_DIR), read whole.
inline std::vector<uint8_t> read_source_file(const std::string& rel) {
  std::ifstream f(std::string(WQ_SOURCE_DIR) + "/" + rel, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), rel);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline const Digits& digits() {
  static const Digits d = [] {
    Digits out;
    const std::vector<uint8_t> b = read_source_file("web/assets/mnist_samples.bin");
    REQUIRE(b.size() > 20);
    REQUIRE(std::memcmp(b.data(), "WQMN", 4) == 0);
    uint32_t n = 0;
    std::memcpy(&n, b.data() + 8, 4);
    REQUIRE(b.size() == 20 + n + size_t(n) * 784);
    out.n = int(n);
    for (uint32_t i = 0; i < n; ++i) out.labels.push_back(b[20 + i]);
    for (size_t i = 0; i < size_t(n) * 784; ++i)
      out.pixels.push_back(std::round(float(b[20 + n + i]) * 1000.0f / 255.0f) / 1000.0f);
    return out;
  }();
  return d;
}

// Digits first .. first + count - 1 as a [count, 1, 28, 28] batch.
inline Tensor images(int first, int count) {
  const Digits& d = digits();
  REQUIRE(first + count <= d.n);
  std::vector<float> px(d.pixels.begin() + first * 784, d.pixels.begin() + (first + count) * 784);
  return Tensor::from_floats({count, 1, 28, 28}, px);
}

inline Tensor labels(int first, int count) {
  Tensor t = Tensor::allocate(DType::kInt64, {count}).value();
  for (int i = 0; i < count; ++i) t.mutable_data<int64_t>()[i] = digits().labels[size_t(first + i)];
  return t;
}

}  // namespace mnist_samples
}  // namespace wq
