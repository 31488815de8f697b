// Per-thread scratch buffers kept across kernel calls (internal).
//
// A fresh block per call made glibc hand the top of the heap back to the OS
// after every call and fault it in again (native 128x768x768 GEMM: 1.9 ->
// 2.7 ms), so the drivers keep one buffer per slot and thread, grown on demand.
// The buffers live until the thread ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace wq {
namespace detail {

// At least `bytes` bytes for slot kSlot of this thread, or nullptr when the
// allocation fails (the previous contents are not kept when it grows).
template <int kSlot>
uint8_t* thread_scratch(size_t bytes) {
  thread_local std::unique_ptr<uint8_t[]> buf;
  thread_local size_t capacity = 0;
  if (capacity < bytes) {
    buf.reset(new (std::nothrow) uint8_t[bytes]);
    capacity = buf ? bytes : 0;
  }
  return buf.get();
}

// Slots in use (one per distinct buffer that can be live at the same time).
enum ScratchSlot : int {
  kScratchWidenedW = 0,  // qgemm.cc: one N block of int16 panels
  kScratchStrassenA,     // qgemm_strassen.cc: S1..S4
  kScratchStrassenC,     // qgemm_strassen.cc: one block of C and one product
  kScratchStrassenW,     // qgemm_strassen.cc: one block of W sums
};

}  // namespace detail
}  // namespace wq
