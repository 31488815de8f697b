// Tensor: a dtype, a shape and a (possibly shared, possibly read-only) buffer.
//
// Ownership: a Tensor holds a shared_ptr to whatever keeps its bytes alive. A
// tensor made by Tensor::allocate owns a fresh, writable, 64-byte aligned
// buffer. A tensor made by Tensor::view borrows bytes owned by someone else
// (typically the loaded model's byte buffer) and is read-only: mutable_data()
// on it is a bug. Copies of a Tensor share the buffer; clone() deep-copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace wq {

// Values are ONNX TensorProto.DataType; append-only.
enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
};

bool dtype_is_known(int32_t value);
const char* dtype_name(DType t);  // ONNX spelling: "float", "uint8", "int64", ...
// Storage bits per element (4 for int4/uint4/float4, 0 for string/undefined).
int dtype_bits(DType t);
// Bytes to store n elements (packed two per byte for 4-bit types). Always
// 64-bit: in wasm32 a size_t product wraps at 4 GiB (a [2^30] float tensor
// would need "0" bytes), so callers compare this against a limit before they
// narrow it to size_t.
uint64_t dtype_storage_bytes(DType t, int64_t n);

using Shape = std::vector<int64_t>;

// Product of dims; -1 if any dim is negative or the product overflows int64.
int64_t shape_numel(const Shape& s);
std::string shape_to_string(const Shape& s);  // "[1,3,48,192]"

// Alignment of every buffer Tensor::allocate hands out, and the slack after
// its end that SIMD kernels may read (never write).
constexpr size_t kTensorAlignment = 64;
constexpr size_t kTensorExtraBytes = 16;
// Largest single buffer we try to allocate; beyond it allocate() fails cleanly
// instead of exhausting the WASM heap.
constexpr size_t kMaxTensorBytes = size_t(1) << 31;

// Default cap on what one load or one run may allocate through
// Tensor::allocate (see MemoryLimitScope): well under the 4 GiB a wasm32
// module can address, so a hostile or mistaken model gets OUT_OF_MEMORY
// naming the node instead of exhausting the page's heap.
constexpr uint64_t kDefaultMemoryLimitBytes = uint64_t(3) << 29;  // 1.5 GiB

namespace detail {
struct MemoryBudget;
}

// While alive, every Tensor::allocate on this thread is charged to a budget
// of `limit_bytes`; a tensor that would take the live total over the limit
// fails with kOutOfMemory (naming the shape, the bytes and `what`, e.g.
// "the run's memory limit (RunOptions::memory_limit_bytes)") before anything
// is allocated. Freeing a tensor gives its bytes back, even after the scope
// ended. Scopes nest: an allocation is charged to every enclosing scope and
// must fit all their limits. limit_bytes 0 = no limit (the scope measures:
// used_bytes(), peak_bytes()).
class MemoryLimitScope {
 public:
  MemoryLimitScope(uint64_t limit_bytes, std::string what);
  ~MemoryLimitScope();
  MemoryLimitScope(const MemoryLimitScope&) = delete;
  MemoryLimitScope& operator=(const MemoryLimitScope&) = delete;
  uint64_t used_bytes() const;
  uint64_t peak_bytes() const;

 private:
  std::shared_ptr<detail::MemoryBudget> budget_, previous_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialized writable buffer. Fails with kOutOfMemory / kInvalidArgument
  // for impossible shapes; string tensors are not supported.
  static Result<Tensor> allocate(DType dtype, Shape shape);
  // Same, zero-filled.
  static Result<Tensor> zeros(DType dtype, Shape shape);
  // Read-only view over `data` (which must hold dtype_storage_bytes(dtype, numel)
  // bytes); `owner` keeps the bytes alive.
  static Tensor view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner);
  // Convenience for tests and small constants.
  static Tensor from_floats(Shape shape, const std::vector<float>& values);
  static Tensor from_int64s(Shape shape, const std::vector<int64_t>& values);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_[i]; }
  int64_t numel() const { return numel_; }
  // Fits size_t for every tensor allocate() made or a loader validated.
  size_t nbytes() const { return static_cast<size_t>(dtype_storage_bytes(dtype_, numel_)); }
  bool writable() const { return writable_; }

  const void* raw() const { return data_; }
  void* mutable_raw();  // asserts writable()
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> T* mutable_data() { return static_cast<T*>(mutable_raw()); }

  // Same buffer, new shape with the same numel (Reshape/Flatten/Squeeze share storage).
  Result<Tensor> reshaped(Shape shape) const;
  // Deep copy into a fresh writable buffer.
  Result<Tensor> clone() const;
  // True when this tensor shares storage with `other`.
  bool shares_buffer_with(const Tensor& other) const { return owner_ && owner_ == other.owner_; }

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  const void* data_ = nullptr;
  bool writable_ = false;
  std::shared_ptr<const void> owner_;
};

// float16 / bfloat16 conversions (round to nearest even), used by Cast and the fp16 mode.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);

}  // namespace wq
