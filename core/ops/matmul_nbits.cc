// onnxruntime's com.microsoft MatMulNBits (block-wise quantized weights, float
// activations and output).
//
// 4 bits in blocks of 32k: qb4_pack_w, then the int8-activation path
// (accuracy_level 4, as the attribute allows) or the float-activation path;
// 2 and 8 bits, and 16-element blocks: weights dequantized once, then the
// packed f32 GEMM. Constant weights are packed when the plan is built.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/f32_gemm.h"
#include "core/kernels/qgemm_4bit.h"
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops_util.h"

namespace wq {
namespace {

using detail::NodeKernel;
using detail::optional_input;
using detail::read_attr_int;

// ---- com.microsoft MatMulNBits ------------------------------------------------------------

struct NBitsAttrs {
  int64_t k = 0, n = 0, block = 0, accuracy_level = 0, bits = 4;
  int64_t blocks() const { return (k + block - 1) / block; }
};

// Shapes of B [N, blocks, block/2], scales [N, blocks] and the packed uint4
// zero points [N, ceil(blocks/2)] against the attributes.
Status check_nbits_weights(const NBitsAttrs& a, const Tensor& b, const Tensor& scales, const Tensor* zp,
                           const std::string& where) {
  const Shape want_b = {a.n, a.blocks(), a.block / 2};
  if (b.dtype() != DType::kUInt8 || b.shape() != want_b) {
    return invalid_argument(where + "B must be uint8 " + shape_to_string(want_b) + ", got " + dtype_name(b.dtype()) +
                            " " + shape_to_string(b.shape()));
  }
  if (scales.dtype() != DType::kFloat32) {
    return unsupported(where + "scales of type " + std::string(dtype_name(scales.dtype())) +
                       " are not supported (float)");
  }
  if (scales.numel() != a.n * a.blocks()) {
    return invalid_argument(where + "scales must have N * blocks = " + std::to_string(a.n * a.blocks()) +
                            " elements, got " + shape_to_string(scales.shape()));
  }
  if (zp) {
    if (zp->dtype() != DType::kUInt8) {
      return unsupported(where + "zero_points of type " + std::string(dtype_name(zp->dtype())) +
                         " are not supported (packed uint8 only)");
    }
    const int64_t want = a.n * ((a.blocks() + 1) / 2);
    if (zp->numel() != want) {
      return invalid_argument(where + "zero_points must have N * ceil(blocks / 2) = " + std::to_string(want) +
                              " bytes, got " + shape_to_string(zp->shape()));
    }
  }
  return Status::Ok();
}

Result<QB4PackedW> pack_nbits(const NBitsAttrs& a, const Tensor& b, const Tensor& scales, const Tensor* zp,
                              const std::string& where) {
  WQ_RETURN_IF_ERROR(check_nbits_weights(a, b, scales, zp, where));
  auto packed = qb4_pack_w(b.data<uint8_t>(), false, size_t(a.k), size_t(a.n), size_t(a.block), scales.data<float>(),
                           zp ? zp->data<uint8_t>() : nullptr);
  if (!packed.ok()) return packed.status().with_context(where);
  return packed;
}

// A and the optional bias of MatMulNBits against the attributes (both kernels).
Status check_nbits_activation(const NBitsAttrs& a, const Tensor& x, const Tensor* bias, const std::string& where) {
  if (x.dtype() != DType::kFloat32) {
    return unsupported(where + "A of type " + std::string(dtype_name(x.dtype())) + " is not supported (float)");
  }
  if (x.rank() == 0 || x.shape().back() != a.k) {
    return invalid_argument(where + "A " + shape_to_string(x.shape()) + " must end in K = " + std::to_string(a.k));
  }
  if (bias && (bias->dtype() != DType::kFloat32 || bias->numel() != a.n)) {
    return invalid_argument(where + "bias must be float with N = " + std::to_string(a.n) + " elements, got " +
                            dtype_name(bias->dtype()) + " " + shape_to_string(bias->shape()));
  }
  return Status::Ok();
}

class MatMulNBitsKernel : public NodeKernel {
 public:
  MatMulNBitsKernel(const KernelInit& init, NBitsAttrs attrs, std::unique_ptr<QB4PackedW> packed)
      : NodeKernel(init), attrs_(attrs), packed_(std::move(packed)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    const Tensor* bias = optional_input(ctx, 5);
    WQ_RETURN_IF_ERROR(check_nbits_activation(attrs_, *a, bias, where()));
    Shape out = a->shape();
    out.back() = attrs_.n;
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(a->numel() / attrs_.k);
    if (m == 0) return Status::Ok();
    const QB4PackedW* w = packed_.get();
    QB4PackedW local;
    if (!w) {
      WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* scales, detail::required_input(ctx, 2, where()));
      WQ_ASSIGN_OR_RETURN(local, pack_nbits(attrs_, *b, *scales, optional_input(ctx, 3), where()));
      w = &local;
    }
    const float* pb = bias ? bias->data<float>() : nullptr;
    // accuracy_level 4 permits int8 activations (quantized per block, as the
    // attribute's definition says); anything lower keeps them in float.
    Status st = attrs_.accuracy_level == 4 ? qb4_gemm_dynamic_f32(*w, a->data<float>(), m, size_t(attrs_.k), pb,
                                                                  y->mutable_data<float>(), size_t(attrs_.n))
                                           : qb4_gemm_f32(*w, a->data<float>(), m, size_t(attrs_.k), pb,
                                                          y->mutable_data<float>(), size_t(attrs_.n));
    return st.ok() ? st : st.with_context(where());
  }

 private:
  NBitsAttrs attrs_;
  std::unique_ptr<QB4PackedW> packed_;
};

// ---- MatMulNBits on float weights (2 and 8 bits, 4 bits with 16-blocks) -----------------------

// B [N, blocks, block * bits / 8] (low bits first), scales [N * blocks],
// zero points [N, ceil(blocks * bits / 8)] packed the same way (default
// 2^(bits-1)), dequantized to W [N][K] = scale * (q - zp): the operator's
// definition, which onnxruntime's fp32 path also multiplies out before its GEMM.
Result<std::vector<float>> dequantize_nbits(const NBitsAttrs& a, const Tensor& b, const Tensor& scales,
                                            const Tensor* zp, const std::string& where) {
  const int64_t bits = a.bits, blocks = a.blocks(), blob = a.block * bits / 8;
  const Shape want_b = {a.n, blocks, blob};
  if (b.dtype() != DType::kUInt8 || b.shape() != want_b) {
    return invalid_argument(where + "B must be uint8 " + shape_to_string(want_b) + ", got " + dtype_name(b.dtype()) +
                            " " + shape_to_string(b.shape()));
  }
  if (scales.dtype() != DType::kFloat32) {
    return unsupported(where + "scales of type " + std::string(dtype_name(scales.dtype())) +
                       " are not supported (float)");
  }
  if (scales.numel() != a.n * blocks) {
    return invalid_argument(where + "scales must have N * blocks = " + std::to_string(a.n * blocks) +
                            " elements, got " + shape_to_string(scales.shape()));
  }
  const int64_t zp_cols = (blocks * bits + 7) / 8;
  if (zp) {
    if (zp->dtype() != DType::kUInt8) {
      return unsupported(where + "zero_points of type " + std::string(dtype_name(zp->dtype())) +
                         " are not supported (packed uint8 only)");
    }
    if (zp->numel() != a.n * zp_cols) {
      return invalid_argument(where + "zero_points must have N * ceil(blocks * bits / 8) = " +
                              std::to_string(a.n * zp_cols) + " bytes, got " + shape_to_string(zp->shape()));
    }
  }
  WQ_RETURN_IF_ERROR(detail::check_output_size({a.n, a.k}, DType::kFloat32, where));
  std::vector<float> w(size_t(a.n * a.k));
  const uint32_t mask = (1u << bits) - 1;
  const uint8_t* pb = b.data<uint8_t>();
  const float* ps = scales.data<float>();
  for (int64_t n = 0; n < a.n; ++n) {
    for (int64_t blk = 0; blk < blocks; ++blk) {
      int32_t z = int32_t(1) << (bits - 1);
      if (zp) {
        const int64_t bit = blk * bits;
        z = int32_t((uint32_t(zp->data<uint8_t>()[n * zp_cols + bit / 8]) >> (bit % 8)) & mask);
      }
      const float sc = ps[n * blocks + blk];
      const uint8_t* src = pb + (n * blocks + blk) * blob;
      const int64_t k0 = blk * a.block, k1 = std::min(a.k, k0 + a.block);
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t bit = (k - k0) * bits;
        const int32_t q = int32_t((uint32_t(src[bit / 8]) >> (bit % 8)) & mask);
        w[size_t(n * a.k + k)] = float(q - z) * sc;
      }
    }
  }
  return w;
}

class MatMulNBitsF32Kernel : public NodeKernel {
 public:
  MatMulNBitsF32Kernel(const KernelInit& init, NBitsAttrs attrs, std::unique_ptr<F32PackedGemm> packed,
                       bool bias_packed)
      : NodeKernel(init), attrs_(attrs), packed_(std::move(packed)), bias_packed_(bias_packed) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    const Tensor* bias = optional_input(ctx, 5);
    WQ_RETURN_IF_ERROR(check_nbits_activation(attrs_, *a, bias, where()));
    Shape out = a->shape();
    out.back() = attrs_.n;
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(a->numel() / attrs_.k);
    if (m == 0) return Status::Ok();
    const F32PackedGemm* gemm = packed_.get();
    F32PackedGemm local;
    if (!gemm) {
      WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, 1, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* scales, detail::required_input(ctx, 2, where()));
      WQ_ASSIGN_OR_RETURN(std::vector<float> w, dequantize_nbits(attrs_, *b, *scales, optional_input(ctx, 3), where()));
      auto p = f32_pack_gemm(size_t(attrs_.k), size_t(attrs_.n), w.data(), size_t(attrs_.k), true,
                             bias ? bias->data<float>() : nullptr, F32Activation::none());
      if (!p.ok()) return p.status().with_context(where());
      local = std::move(p).value();
      gemm = &local;
    } else if (bias && !bias_packed_) {
      return internal_error(where() + "bias appeared after the weights were packed without it");
    }
    f32_gemm_run(*gemm, m, a->data<float>(), size_t(attrs_.k), y->mutable_data<float>(), size_t(attrs_.n));
    return Status::Ok();
  }

 private:
  NBitsAttrs attrs_;
  std::unique_ptr<F32PackedGemm> packed_;
  bool bias_packed_;
};

Result<std::unique_ptr<OpKernel>> make_matmul_nbits_f32(const KernelInit& init, const NBitsAttrs& a) {
  const Tensor* b = init.constant_input(1);
  const Tensor* scales = init.constant_input(2);
  auto known = [&](size_t i) { return !init.has_input(i) || init.constant_input(i) != nullptr; };
  std::unique_ptr<F32PackedGemm> packed;
  bool bias_packed = false;
  if (b && scales && known(3) && known(5)) {
    WQ_ASSIGN_OR_RETURN(std::vector<float> w,
                        dequantize_nbits(a, *b, *scales, init.has_input(3) ? init.constant_input(3) : nullptr,
                                         init.context()));
    const Tensor* bias = init.has_input(5) ? init.constant_input(5) : nullptr;
    if (bias && (bias->dtype() != DType::kFloat32 || bias->numel() != a.n)) {
      return invalid_model(init.context() + "bias must be float with N = " + std::to_string(a.n) + " elements, got " +
                           dtype_name(bias->dtype()) + " " + shape_to_string(bias->shape()));
    }
    auto p = f32_pack_gemm(size_t(a.k), size_t(a.n), w.data(), size_t(a.k), true,
                           bias ? bias->data<float>() : nullptr, F32Activation::none());
    if (!p.ok()) return p.status().with_context(init.context());
    packed = std::make_unique<F32PackedGemm>(std::move(p).value());
    bias_packed = bias != nullptr;
  }
  return std::unique_ptr<OpKernel>(new MatMulNBitsF32Kernel(init, a, std::move(packed), bias_packed));
}

}  // namespace

namespace detail {

Result<std::unique_ptr<OpKernel>> make_matmul_nbits(const KernelInit& init) {
  NBitsAttrs a;
  for (const char* req : {"K", "N", "block_size"}) {
    if (!init.has_attr(req)) return invalid_model(init.context() + "required attribute " + req + " is missing");
  }
  int64_t k = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "K", 0, &k));
  int64_t n = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "N", 0, &n));
  int64_t bits = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "bits", 4, &bits));
  int64_t block = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "block_size", 0, &block));
  int64_t level = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "accuracy_level", 0, &level));
  int64_t prepacked = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "weight_prepacked", 0, &prepacked));
  if (k <= 0 || n <= 0) {
    return invalid_model(init.context() + "attributes K and N must be positive, got K=" + std::to_string(k) +
                         " N=" + std::to_string(n));
  }
  if (k > (int64_t(1) << 26) || n > (int64_t(1) << 26)) {
    return unsupported(init.context() + "attributes K=" + std::to_string(k) + " N=" + std::to_string(n) +
                       " are too large");
  }
  if (block < 16 || (block & (block - 1)) != 0) {
    return invalid_model(init.context() + "attribute block_size must be a power of two >= 16, got " +
                         std::to_string(block));
  }
  if (bits != 2 && bits != 4 && bits != 8) {
    return unsupported(init.context() + "attribute bits=" + std::to_string(bits) + " is not supported (2, 4, 8)");
  }
  if (block > 4096) {
    return unsupported(init.context() + "attribute block_size=" + std::to_string(block) +
                       " is not supported (up to 4096)");
  }
  if (level < 0 || level > 4) {
    return invalid_model(init.context() + "attribute accuracy_level must be in 0..4, got " + std::to_string(level));
  }
  if (prepacked != 0) {
    return unsupported(init.context() + "attribute weight_prepacked=" + std::to_string(prepacked) +
                       " is not supported (0)");
  }
  if (init.has_input(4)) return unsupported(init.context() + "input g_idx is not supported");
  a.k = k;
  a.n = n;
  a.block = block;
  a.accuracy_level = level;
  a.bits = bits;
  // The 4-bit kernels take blocks that are multiples of 32; other widths and
  // block sizes run on float weights (dequantized once) and the f32 GEMM.
  if (bits != 4 || block % int64_t(kQB4SubBlock) != 0) return make_matmul_nbits_f32(init, a);
  std::unique_ptr<QB4PackedW> packed;
  const Tensor* b = init.constant_input(1);
  const Tensor* scales = init.constant_input(2);
  const bool zp_known = !init.has_input(3) || init.constant_input(3) != nullptr;
  if (b && scales && zp_known) {
    auto p = pack_nbits(a, *b, *scales, init.has_input(3) ? init.constant_input(3) : nullptr, init.context());
    if (!p.ok()) return p.status();
    packed = std::make_unique<QB4PackedW>(std::move(p).value());
  } else if (init.has_input(3) && init.constant_input(3) && init.constant_input(3)->dtype() != DType::kUInt8) {
    return unsupported(init.context() + "zero_points of type " +
                       std::string(dtype_name(init.constant_input(3)->dtype())) +
                       " are not supported (packed uint8 only)");
  }
  return std::unique_ptr<OpKernel>(new MatMulNBitsKernel(init, a, std::move(packed)));
}

}  // namespace detail
}  // namespace wq
