#include "core/tensor.h"

#include <atomic>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace wq {

bool dtype_is_known(int32_t v) { return v >= 1 && v <= 23; }

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kUndefined: return "undefined";
    case DType::kFloat32: return "float";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUInt16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "string";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "double";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kComplex64: return "complex64";
    case DType::kComplex128: return "complex128";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat8E4M3FN: return "float8e4m3fn";
    case DType::kFloat8E4M3FNUZ: return "float8e4m3fnuz";
    case DType::kFloat8E5M2: return "float8e5m2";
    case DType::kFloat8E5M2FNUZ: return "float8e5m2fnuz";
    case DType::kUInt4: return "uint4";
    case DType::kInt4: return "int4";
    case DType::kFloat4E2M1: return "float4e2m1";
  }
  return "unknown";
}

int dtype_bits(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kInt32: case DType::kUInt32: return 32;
    case DType::kUInt8: case DType::kInt8: case DType::kBool:
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ: return 8;
    case DType::kUInt16: case DType::kInt16: case DType::kFloat16: case DType::kBFloat16: return 16;
    case DType::kInt64: case DType::kUInt64: case DType::kFloat64: case DType::kComplex64: return 64;
    case DType::kComplex128: return 128;
    case DType::kUInt4: case DType::kInt4: case DType::kFloat4E2M1: return 4;
    case DType::kString: case DType::kUndefined: return 0;
  }
  return 0;
}

uint64_t dtype_storage_bytes(DType t, int64_t n) {
  if (n <= 0) return 0;
  const uint64_t un = static_cast<uint64_t>(n);
  const int bits = dtype_bits(t);
  if (bits == 4) return (un + 1) / 2;
  const uint64_t per = static_cast<uint64_t>(bits / 8);
  if (per != 0 && un > UINT64_MAX / per) return UINT64_MAX;  // saturates: over every limit
  return un * per;
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace detail {
struct MemoryBudget {
  uint64_t limit = 0;  // 0: none (the scope only measures)
  std::atomic<uint64_t> used{0};
  std::atomic<uint64_t> peak{0};
  std::string what;
  std::shared_ptr<MemoryBudget> parent;  // the enclosing scope, also charged
};
}  // namespace detail

namespace {
thread_local std::shared_ptr<detail::MemoryBudget> t_budget;

void charge(detail::MemoryBudget* b, uint64_t bytes) {
  for (; b; b = b->parent.get()) {
    const uint64_t now = b->used.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    uint64_t peak = b->peak.load(std::memory_order_relaxed);
    while (now > peak && !b->peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
}

struct AlignedFree {
  std::shared_ptr<detail::MemoryBudget> budget;  // charged for `bytes` (with its parents), or null
  uint64_t bytes = 0;
  void operator()(const void* p) const {
    std::free(const_cast<void*>(p));
    for (detail::MemoryBudget* b = budget.get(); b; b = b->parent.get())
      b->used.fetch_sub(bytes, std::memory_order_relaxed);
  }
};
}  // namespace

MemoryLimitScope::MemoryLimitScope(uint64_t limit_bytes, std::string what)
    : budget_(std::make_shared<detail::MemoryBudget>()), previous_(t_budget) {
  budget_->limit = limit_bytes;
  budget_->what = std::move(what);
  budget_->parent = previous_;
  t_budget = budget_;
}

MemoryLimitScope::~MemoryLimitScope() { t_budget = std::move(previous_); }

uint64_t MemoryLimitScope::used_bytes() const { return budget_->used.load(std::memory_order_relaxed); }
uint64_t MemoryLimitScope::peak_bytes() const { return budget_->peak.load(std::memory_order_relaxed); }

Result<Tensor> Tensor::allocate(DType dtype, Shape shape) {
  if (dtype == DType::kString || dtype == DType::kUndefined || dtype_bits(dtype) == 0)
    return unsupported(std::string("cannot allocate a tensor of type ") + dtype_name(dtype));
  const int64_t n = shape_numel(shape);
  if (n < 0) return invalid_argument("invalid tensor shape " + shape_to_string(shape) + " (negative or overflowing)");
  // 64-bit byte count, compared before anything narrows it to size_t.
  const uint64_t bytes = dtype_storage_bytes(dtype, n);
  if (bytes > kMaxTensorBytes)
    return out_of_memory(std::string(dtype_name(dtype)) + " tensor of shape " + shape_to_string(shape) + " needs " +
                         std::to_string(bytes) + " bytes, over the " + std::to_string(kMaxTensorBytes) +
                         "-byte limit for one tensor");
  // Every enclosing scope's limit holds (innermost first).
  for (const detail::MemoryBudget* b = t_budget.get(); b; b = b->parent.get()) {
    if (!b->limit) continue;
    const uint64_t used = b->used.load(std::memory_order_relaxed);
    if (used + bytes > b->limit)
      return out_of_memory(std::string(dtype_name(dtype)) + " tensor of shape " + shape_to_string(shape) +
                           " needs " + std::to_string(bytes) + " bytes; with " + std::to_string(used) +
                           " bytes already in use that is over " + b->what + " of " + std::to_string(b->limit) +
                           " bytes");
  }
  const size_t alloc =
      ((static_cast<size_t>(bytes) + kTensorExtraBytes + kTensorAlignment - 1) / kTensorAlignment) * kTensorAlignment;
  void* p = std::aligned_alloc(kTensorAlignment, alloc);
  if (!p) return out_of_memory("failed to allocate " + std::to_string(bytes) + " bytes for " + dtype_name(dtype) +
                               " tensor " + shape_to_string(shape) + " (the heap is full)");
  std::shared_ptr<detail::MemoryBudget> charged = t_budget;
  charge(charged.get(), bytes);
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = n;
  t.data_ = p;
  t.writable_ = true;
  const uint64_t charged_bytes = charged ? bytes : 0;
  t.owner_ = std::shared_ptr<const void>(p, AlignedFree{std::move(charged), charged_bytes});
  return t;
}

Result<Tensor> Tensor::zeros(DType dtype, Shape shape) {
  WQ_ASSIGN_OR_RETURN(Tensor t, allocate(dtype, std::move(shape)));
  if (t.nbytes()) std::memset(t.mutable_raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.writable_ = false;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
  Tensor t = allocate(DType::kFloat32, std::move(shape)).value();
  assert(static_cast<size_t>(t.numel()) == values.size());
  if (!values.empty()) std::memcpy(t.mutable_raw(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_int64s(Shape shape, const std::vector<int64_t>& values) {
  Tensor t = allocate(DType::kInt64, std::move(shape)).value();
  assert(static_cast<size_t>(t.numel()) == values.size());
  if (!values.empty()) std::memcpy(t.mutable_raw(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

void* Tensor::mutable_raw() {
  assert(writable_ && "mutable access to a read-only tensor view");
  return const_cast<void*>(data_);
}

Result<Tensor> Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel_)
    return invalid_argument("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Result<Tensor> Tensor::clone() const {
  WQ_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_, shape_));
  if (nbytes()) std::memcpy(t.mutable_raw(), data_, nbytes());
  return t;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25 rounds to 0
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(exp);  // 14 - (exp - 127) + 13 - 1 ... mantissa shift
    uint32_t q = mant >> (shift);
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias exponent, round mantissa to 10 bits, half to even.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
      x = sign | ((112u - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

float bfloat16_to_float(uint16_t b) {
  uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace wq
