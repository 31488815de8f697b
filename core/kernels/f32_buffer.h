// F32Buffer: an owned, 64-byte aligned array of floats for packed weights and
// scratch. Move-only. Allocation never throws: f32_buffer_allocate returns
// kOutOfMemory for a size it refuses (over kF32BufferMaxBytes) or cannot get.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <utility>

#include "core/status.h"

namespace wq {

// Larger than any weight or scratch block a plan needs; keeps a bad size from
// reaching the allocator (ASan aborts on absurd requests instead of failing).
constexpr size_t kF32BufferMaxBytes = size_t{1} << 31;

class F32Buffer {
 public:
  F32Buffer() = default;
  F32Buffer(F32Buffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  F32Buffer& operator=(F32Buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  F32Buffer(const F32Buffer&) = delete;
  F32Buffer& operator=(const F32Buffer&) = delete;
  ~F32Buffer() { release(); }

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }  // in floats

  // Makes the buffer hold at least n floats (contents unspecified after growth).
  Status reserve(size_t n, const char* what) {
    if (n <= size_) return Status::Ok();
    if (n > kF32BufferMaxBytes / sizeof(float)) {
      return out_of_memory(std::string(what) + ": " + std::to_string(n) + " floats exceeds the buffer limit");
    }
    void* p = ::operator new(n * sizeof(float), std::align_val_t(kAlignment), std::nothrow);
    if (p == nullptr) {
      return out_of_memory(std::string(what) + ": cannot allocate " + std::to_string(n) + " floats");
    }
    release();
    data_ = static_cast<float*>(p);
    size_ = n;
    return Status::Ok();
  }

 private:
  static constexpr size_t kAlignment = 64;
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t(kAlignment));
    data_ = nullptr;
    size_ = 0;
  }
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace wq
