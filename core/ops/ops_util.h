// Shared helpers for the reference operator implementations in core/ops/.
//
// Everything here is internal to core/ops: dtype dispatch, attribute and
// constant-input parsing, shape arithmetic (strides, broadcasting, conv/pool
// windows) and the one scalar GEMM every matrix-shaped op goes through. The
// kernels are plain scalar C++ written to be obviously correct; fast SIMD
// paths live in core/kernels/ and are checked against these.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/runtime/kernel.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// One registration function per op family; register_all_ops calls them all.
void register_elementwise_ops(OpRegistry& r);
void register_activation_ops(OpRegistry& r);
void register_gemm_ops(OpRegistry& r);
void register_conv_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_normalization_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_tensor_ops(OpRegistry& r);
void register_cast_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_resize_ops(OpRegistry& r);
void register_einsum_ops(OpRegistry& r);

namespace detail {

// ---------------------------------------------------------------------------
// Element types

// 16-bit float storage types. Arithmetic on them happens in float (see
// Compute<T>), so kernels are written once per compute type.
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

template <typename T> struct ComputeOf { using type = T; };
template <> struct ComputeOf<Float16> { using type = float; };
template <> struct ComputeOf<BFloat16> { using type = float; };
template <typename T> using Compute = typename ComputeOf<T>::type;

template <typename T> inline Compute<T> load(T v) { return v; }
inline float load(Float16 v) { return half_to_float(v.bits); }
inline float load(BFloat16 v) { return bfloat16_to_float(v.bits); }

template <typename T> inline T store(Compute<T> v) { return v; }
template <> inline Float16 store<Float16>(float v) { return Float16{float_to_half(v)}; }
template <> inline BFloat16 store<BFloat16>(float v) { return BFloat16{float_to_bfloat16(v)}; }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<double>() { return DType::kFloat64; }
template <> constexpr DType dtype_of<Float16>() { return DType::kFloat16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::kBFloat16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUInt64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

template <typename T> constexpr bool is_float_v =
    std::is_floating_point<T>::value || std::is_same<T, Float16>::value || std::is_same<T, BFloat16>::value;

// Type lists for dispatch.
template <typename... Ts> struct TypeList {};
using FloatTypes = TypeList<float, double, Float16, BFloat16>;
using IntTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using SignedTypes = TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t>;
using NumericTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                              uint32_t, int64_t, uint64_t>;
using AllTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                          uint32_t, int64_t, uint64_t, bool>;
// Same-size stand-ins for ops that only move elements around.
using CopyTypes = TypeList<uint8_t, uint16_t, uint32_t, uint64_t>;

template <typename F>
Status visit_types_impl(DType, F&, TypeList<>, bool* matched) {
  *matched = false;
  return Status::Ok();
}
template <typename F, typename T, typename... Rest>
Status visit_types_impl(DType t, F& f, TypeList<T, Rest...>, bool* matched) {
  if (t == dtype_of<T>()) {
    *matched = true;
    return f(T{});
  }
  return visit_types_impl(t, f, TypeList<Rest...>{}, matched);
}

// Calls f(T{}) for the T in List whose dtype is `t`; kUnsupported otherwise.
// `what` names the node and tensor for the error message.
template <typename List, typename F>
Status visit_dtype(DType t, const std::string& what, F&& f) {
  bool matched = false;
  Status s = visit_types_impl(t, f, List{}, &matched);
  if (!matched) return unsupported(what + ": element type " + dtype_name(t) + " is not supported");
  return s;
}

// Calls f(U{}) with an unsigned type of the same byte width as `t` (for pure
// data movement: Transpose, Concat, Slice, Gather, ...).
template <typename F>
Status visit_by_size(DType t, const std::string& what, F&& f) {
  switch (dtype_bits(t)) {
    case 8: return f(uint8_t{});
    case 16: return f(uint16_t{});
    case 32: return f(uint32_t{});
    case 64: return f(uint64_t{});
    default: return unsupported(what + ": element type " + dtype_name(t) + " is not supported");
  }
}

// ---------------------------------------------------------------------------
// Numeric helpers that avoid undefined behaviour

// Wrapping integer arithmetic (two's complement), as onnxruntime does in practice.
template <typename T> inline T wrap_add(T a, T b) {
  if constexpr (std::is_integral<T>::value && std::is_signed<T>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return static_cast<T>(a + b);
  }
}
template <typename T> inline T wrap_sub(T a, T b) {
  if constexpr (std::is_integral<T>::value && std::is_signed<T>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return static_cast<T>(a - b);
  }
}
template <typename T> inline T wrap_mul(T a, T b) {
  if constexpr (std::is_integral<T>::value) {
    // Promote small unsigned types to unsigned int explicitly: uint16*uint16
    // would otherwise promote to (signed) int and may overflow.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return static_cast<T>(a * b);
  }
}
template <typename T> inline T wrap_neg(T a) { return wrap_sub(T(0), a); }

// Float to integer conversion that truncates toward zero and saturates at the
// type's range (NaN becomes 0) instead of invoking undefined behaviour.
template <typename I, typename F> inline I saturate_cast(F v) {
  static_assert(std::is_integral<I>::value, "integer target");
  if (std::is_same<I, bool>::value) return static_cast<I>(v != F(0));
  if (std::isnan(v)) return I(0);
  // Both bounds are exact in double: lowest is 0 or -2^k, and the exclusive
  // upper bound is 2^digits. (No long double: it is software-emulated in WASM.)
  const double x = std::trunc(static_cast<double>(v));
  const double lo = static_cast<double>(std::numeric_limits<I>::lowest());
  const double hi_exclusive = std::ldexp(1.0, std::numeric_limits<I>::digits);
  if (x <= lo) return std::numeric_limits<I>::lowest();
  if (x >= hi_exclusive) return std::numeric_limits<I>::max();
  return static_cast<I>(x);
}

// Converts between any two element types, as Cast does.
template <typename To, typename From> inline To convert(From v) {
  if constexpr (std::is_same<To, From>::value) {
    return v;
  } else if constexpr (std::is_same<To, bool>::value) {
    return load(v) != Compute<From>(0);
  } else if constexpr (std::is_same<From, bool>::value) {
    return store<To>(static_cast<Compute<To>>(v ? 1 : 0));
  } else if constexpr (is_float_v<To>) {
    if constexpr (std::is_same<From, double>::value && std::is_same<Compute<To>, float>::value) {
      return store<To>(static_cast<float>(v));
    } else {
      return store<To>(static_cast<Compute<To>>(load(v)));
    }
  } else if constexpr (is_float_v<From>) {
    return saturate_cast<To>(load(v));
  } else {
    return static_cast<To>(v);  // integer to integer: modular
  }
}

// ---------------------------------------------------------------------------
// Shapes

std::vector<int64_t> contiguous_strides(const Shape& shape);
// Product of shape[begin, end).
int64_t dims_product(const Shape& shape, size_t begin, size_t end);

// Maps axis in [-rank, rank) to [0, rank); kInvalidModel naming `what` otherwise.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank, const std::string& what);
// Normalizes a list of axes and rejects duplicates.
Result<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                            const std::string& what);

// Multidirectional (numpy) broadcasting of two shapes.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b, const std::string& what);
// kOutOfMemory when a tensor of this shape and type could not be allocated
// (checked before building per-element helper tables).
Status check_output_size(const Shape& shape, DType dtype, const std::string& where);
// Element count for a kernel's scratch buffer of `n` elements of `elem_bytes`
// each, checked in 64 bits against kMaxTensorBytes before it is narrowed to
// size_t (which is 32 bits in wasm32): kOutOfMemory naming `what` otherwise.
Result<size_t> scratch_count(int64_t n, size_t elem_bytes, const std::string& what);

// Element strides to read `in` as if it had shape `out` (0 along broadcast dims).
// `in` must be broadcastable to `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Calls f(out_index, offsets) for every element of `out_shape` in row-major
// order, where offsets[k] is the matching element offset in input k described
// by strides[k] (from broadcast_strides). N is the number of inputs.
template <size_t N, typename F>
void for_each_broadcast(const Shape& out_shape, const std::vector<int64_t> (&strides)[N], F&& f) {
  const size_t rank = out_shape.size();
  const int64_t total = shape_numel(out_shape);
  if (total <= 0) return;
  if (rank == 0) {
    int64_t offsets[N] = {};
    f(int64_t(0), offsets);
    return;
  }
  const int64_t inner = out_shape[rank - 1];
  int64_t inner_stride[N];
  for (size_t k = 0; k < N; ++k) inner_stride[k] = strides[k][rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t base[N] = {};
  for (int64_t out = 0; out < total; out += inner) {
    int64_t offsets[N];
    for (size_t k = 0; k < N; ++k) offsets[k] = base[k];
    for (int64_t i = 0; i < inner; ++i) {
      f(out + i, offsets);
      for (size_t k = 0; k < N; ++k) offsets[k] += inner_stride[k];
    }
    // Advance the odometer over the outer dims.
    for (size_t d = rank - 1; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) base[k] += strides[k][d];
      if (idx[d] < out_shape[d]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= strides[k][d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

// out[o_0, ..., o_n] = in[maps[0][o_0], ..., maps[n][o_n]], or `fill` where
// any map entry is -1. Used by Tile, Pad and
// nearest-neighbour Resize.
template <typename T>
void gather_by_maps(const T* in, const Shape& in_shape, const std::vector<std::vector<int64_t>>& maps, T fill,
                    T* out) {
  const size_t rank = in_shape.size();
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const std::vector<int64_t> strides = detail::contiguous_strides(in_shape);
  Shape out_shape(rank);
  for (size_t d = 0; d < rank; ++d) out_shape[d] = static_cast<int64_t>(maps[d].size());
  const int64_t total = shape_numel(out_shape);
  if (total <= 0) return;
  std::vector<int64_t> idx(rank, 0);
  const std::vector<int64_t>& last = maps[rank - 1];
  for (int64_t o = 0; o < total; o += out_shape[rank - 1]) {
    int64_t base = 0;
    bool valid = true;
    for (size_t d = 0; d + 1 < rank; ++d) {
      const int64_t m = maps[d][idx[d]];
      if (m < 0) valid = false;
      base += m * strides[d];
    }
    for (int64_t j = 0; j < out_shape[rank - 1]; ++j)
      out[o + j] = valid && last[j] >= 0 ? in[base + last[j]] : fill;
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------
// Reading attributes and small tensors

// Prefixes a failed status with the node context unless the runtime already did.
Status in_node(const Status& s, const KernelInit& init);

// Scalar attributes with the node context on errors.
Result<int64_t> int_attr(const KernelInit& init, const std::string& name, int64_t fallback);
Result<float> float_attr(const KernelInit& init, const std::string& name, float fallback);

// Integer values of an int32/int64 tensor (shape tensors, axes, pads, ...).
Result<std::vector<int64_t>> tensor_to_int64s(const Tensor& t, const std::string& what);
// Values of a float/double/float16/int tensor as double (scales, Range, ...).
Result<std::vector<double>> tensor_to_doubles(const Tensor& t, const std::string& what);

// The integer list given either as attribute `attr` (used when opset < the
// version where it became an input) or as constant input `input` at plan
// time. For inputs unknown at plan time, the kernel reads them at run time.
struct IntsAttr {
  bool present = false;
  std::vector<int64_t> values;
};
Result<IntsAttr> read_ints_attr(const KernelInit& init, const std::string& name);

// Rejects attribute `name` if present and not equal to `expected` (for modes
// we do not implement): kUnsupported naming the attribute and the value.
Status require_string_attr(const KernelInit& init, const std::string& name, const std::string& fallback,
                           const std::vector<std::string>& supported, std::string* value);

// kInvalidModel if any of `names` is present as an attribute: from the node's
// opset on they are inputs (e.g. Slice's starts/ends from 10).
Status reject_moved_attrs(const KernelInit& init, const std::vector<std::string>& names);

// The required input `i` of a run, or kInvalidArgument naming it.
Result<const Tensor*> required_input(const KernelContext& ctx, size_t i, const std::string& where);

// Scalar value of a one-element tensor, converted to double.
Result<double> scalar_as_double(const Tensor& t, const std::string& what);

// ---------------------------------------------------------------------------
// Conv / pool window geometry

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };
Result<AutoPad> parse_auto_pad(const KernelInit& init);

// Attributes shared by Conv, ConvTranspose and the pools.
struct WindowAttrs {
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel_shape;  // empty: from the weights (Conv)
  std::vector<int64_t> strides;       // empty: all 1
  std::vector<int64_t> pads;          // empty: all 0; [begin..., end...]
  std::vector<int64_t> dilations;     // empty: all 1
  bool ceil_mode = false;
};
// Largest kernel_shape / strides / pads / dilations value accepted.
constexpr int64_t kMaxWindowAttr = (int64_t(1) << 31) - 1;
// kInvalidModel for values out of [1 (0 for pads), kMaxWindowAttr].
Result<WindowAttrs> parse_window_attrs(const KernelInit& init);

// Resolved geometry for `n` spatial dims.
struct WindowGeometry {
  std::vector<int64_t> in, kernel, stride, dilation, pad_begin, pad_end, out;
};
// Computes pads (for auto_pad) and output sizes; `where` prefixes errors.
Result<WindowGeometry> resolve_window(const WindowAttrs& attrs, const Shape& spatial_in,
                                      const std::vector<int64_t>& kernel, const std::string& where);

// ---------------------------------------------------------------------------
// Reference GEMM

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, with row-major leading
// dimensions lda/ldb/ldc (of the stored, untransposed matrices). beta == 0
// overwrites C without reading it. Accumulates in Compute<T>; integer types
// wrap on overflow.
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, Compute<T> alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, Compute<T> beta, T* C, int64_t ldc) {
  using C_t = Compute<T>;
  std::vector<C_t> row(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    std::fill(row.begin(), row.end(), C_t(0));
    for (int64_t k = 0; k < K; ++k) {
      const C_t a = load(trans_a ? A[k * lda + m] : A[m * lda + k]);
      if (!trans_b) {
        const T* b = B + k * ldb;
        for (int64_t n = 0; n < N; ++n) row[n] = wrap_add(row[n], wrap_mul(a, load(b[n])));
      } else {
        for (int64_t n = 0; n < N; ++n) row[n] = wrap_add(row[n], wrap_mul(a, load(B[n * ldb + k])));
      }
    }
    T* c = C + m * ldc;
    for (int64_t n = 0; n < N; ++n) {
      C_t v = wrap_mul(alpha, row[n]);
      if (beta != C_t(0)) v = wrap_add(v, wrap_mul(beta, load(c[n])));
      c[n] = store<T>(v);
    }
  }
}

// The float GEMM that Conv (im2col), MatMul and Gemm call; replaced by the
// SIMD kernels in core/kernels/ later.
inline void gemm_f32_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                         int64_t ldc) {
  gemm_ref<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ---------------------------------------------------------------------------
// Kernel plumbing

// Base for kernels: keeps the node's error-message prefix.
class NodeKernel : public OpKernel {
 public:
  explicit NodeKernel(const KernelInit& init) : where_(init.context()) {}

 protected:
  // Prefix for error messages: "node 'x' (Op): ".
  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

// A factory for kernels that need nothing from the node but its name.
template <typename K>
KernelFactory simple_factory() {
  return [](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(new K(init));
  };
}

}  // namespace detail
}  // namespace wq
