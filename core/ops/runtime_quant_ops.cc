// The runtime's private fused ops (webquant.runtime, quant_ops.h): the table
// that registers them, and QGemm and DynamicQMatMul. (Its QLinearConv and
// QLinearMatMul are the kernels of qlinear_conv.cc and qlinear_matmul.cc with
// optional zero points and a fused Relu / Clip clamp: quant_ops_util.h.)
//
// QGemm and DynamicQMatMul pack B once (bias folded into the panels for QGemm)
// and run the requantizing / float-output GEMM drivers.
#include "core/ops/quant_ops.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/kernels/qgemm.h"
#include "core/kernels/qquantize.h"
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops_util.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::NodeKernel;
using detail::FusedQOutput;
using detail::float_values;
using detail::fused_output_params;
using detail::int_element;
using detail::int_values;
using detail::is_q8;
using detail::optional_input;
using detail::parse_fused_output;
using detail::read_attr_int;

// ---- runtime fused ops: QGemm, DynamicQMatMul -----------------------------------------------

// A constant 8-bit matrix B ([K, N], or [N, K] with trans_b) packed for the
// int8 GEMM with its zero points (scalar or one per column) and an optional
// int32 bias (one per column) folded in.
Result<QGemmPackedW> pack_const_b(const KernelInit& init, size_t b_index, size_t zp_index, size_t bias_index,
                                  bool trans_b) {
  const Tensor* b = init.constant_input(b_index);
  if (!b) return unsupported(init.context() + "B must be a constant");
  if (!is_q8(b->dtype()) || b->rank() != 2 || b->numel() == 0) {
    return unsupported(init.context() + "B must be a non-empty 8-bit matrix, got " + dtype_name(b->dtype()) + " " +
                       shape_to_string(b->shape()));
  }
  const size_t k = size_t(trans_b ? b->dim(1) : b->dim(0)), n = size_t(trans_b ? b->dim(0) : b->dim(1));
  std::vector<int32_t> zp;
  if (init.has_input(zp_index)) {
    const Tensor* z = init.constant_input(zp_index);
    if (!z) return unsupported(init.context() + "the zero point of B must be a constant");
    if (z->dtype() != b->dtype() || (z->numel() != 1 && z->numel() != int64_t(n))) {
      return invalid_model(init.context() + "zero point of B must be one or " + std::to_string(n) + " " +
                           dtype_name(b->dtype()) + " values, got " + dtype_name(z->dtype()) + " " +
                           shape_to_string(z->shape()));
    }
    zp = int_values(*z);
  }
  std::vector<int32_t> bias;
  if (bias_index != SIZE_MAX && init.has_input(bias_index)) {
    const Tensor* c = init.constant_input(bias_index);
    if (!c || c->dtype() != DType::kInt32 || c->numel() != int64_t(n)) {
      return invalid_model(init.context() + "bias must be a constant int32 tensor of " + std::to_string(n) +
                           " values");
    }
    bias = int_values(*c);
  }
  auto packed = qgemm_pack_w(b->raw(), b->dtype() == DType::kInt8, k, n, trans_b ? 1 : n, trans_b ? k : 1,
                             zp.empty() ? nullptr : zp.data(), zp.size() > 1, bias.empty() ? nullptr : bias.data());
  if (!packed.ok()) return packed.status().with_context(init.context());
  return packed;
}

// Per-column float values (a scale) given as one value or one per column.
Result<std::vector<float>> column_values(const Tensor& t, size_t n, const std::string& what) {
  if (t.numel() != 1 && t.numel() != int64_t(n)) {
    return invalid_argument(what + " must have 1 or " + std::to_string(n) + " values, got " +
                            shape_to_string(t.shape()));
  }
  WQ_ASSIGN_OR_RETURN(std::vector<float> v, float_values(t, false, what));
  if (v.size() == 1) {
    const float one = v[0];  // assign() may reallocate before reading its argument
    v.assign(n, one);
  }
  return v;
}

// QDQ Gemm (transA = 0, alpha = beta = 1) -> QuantizeLinear: the requantizing
// int8 GEMM with the int32 bias in the packed panels.
class QGemmKernel : public NodeKernel {
 public:
  enum : size_t { kA, kAScale, kAZp, kB, kBScale, kBZp, kBias, kYScale, kYZp };
  QGemmKernel(const KernelInit& init, FusedQOutput fused, QGemmPackedW packed)
      : NodeKernel(init), fused_(fused), packed_(std::move(packed)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, kA, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* as, detail::required_input(ctx, kAScale, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* bs, detail::required_input(ctx, kBScale, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* ys, detail::required_input(ctx, kYScale, where()));
    const Tensor* a_zp = optional_input(ctx, kAZp);
    const size_t k = packed_.k(), n = packed_.n();
    if (!is_q8(a->dtype()) || a->rank() != 2 || a->dim(1) != int64_t(k)) {
      return invalid_argument(where() + "A must be an 8-bit matrix with K = " + std::to_string(k) + " columns, got " +
                              dtype_name(a->dtype()) + " " + shape_to_string(a->shape()));
    }
    if (a_zp && (a_zp->dtype() != a->dtype() || a_zp->numel() != 1)) {
      return invalid_argument(where() + "a_zero_point must be one " + dtype_name(a->dtype()) + " value");
    }
    if (as->numel() != 1) return invalid_argument(where() + "a_scale must have one element");
    WQ_ASSIGN_OR_RETURN(std::vector<float> asv, float_values(*as, false, where() + "a_scale"));
    WQ_ASSIGN_OR_RETURN(std::vector<float> bsv, column_values(*bs, n, where() + "b_scale"));
    float y_scale = 1.0f;
    DType yt = DType::kUInt8;
    QGemmRequantParams p;
    WQ_RETURN_IF_ERROR(fused_output_params(fused_, *ys, optional_input(ctx, kYZp), where(), &y_scale, &yt, &p));
    std::vector<float> scales(n);
    for (size_t j = 0; j < n; ++j) scales[j] = requant_scale(asv[0], bsv[j], y_scale);
    p.scale = scales.data();
    const Shape out = {a->dim(0), int64_t(n)};
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, out));
    if (y->numel() == 0) return Status::Ok();
    const int32_t azp = a_zp ? int32_t(int_element(*a_zp, 0)) : 0;
    Status st = qgemm_requant(packed_, a->raw(), a->dtype() == DType::kInt8, size_t(a->dim(0)), k, azp, p,
                              y->mutable_raw(), n);
    return st.ok() ? st : st.with_context(where());
  }

 private:
  FusedQOutput fused_;
  QGemmPackedW packed_;
};

Result<std::unique_ptr<OpKernel>> make_qgemm(const KernelInit& init) {
  WQ_ASSIGN_OR_RETURN(FusedQOutput fused, parse_fused_output(init));
  int64_t trans_b = 0;
  WQ_RETURN_IF_ERROR(read_attr_int(init, "transB", 0, &trans_b));
  WQ_ASSIGN_OR_RETURN(QGemmPackedW packed,
                      pack_const_b(init, QGemmKernel::kB, QGemmKernel::kBZp, QGemmKernel::kBias, trans_b != 0));
  return std::unique_ptr<OpKernel>(new QGemmKernel(init, fused, std::move(packed)));
}

// DynamicQuantizeLinear(x) -> MatMulInteger(x_q, B, x_zp, b_zp) -> Cast(float)
// -> Mul(x_scale * w_scale) [-> Add(bias)] in one pass: x is quantized exactly
// as DynamicQuantizeLinear does (one scale and zero point for the whole
// tensor, dynamic_quant_params_qu8 + quantize_row_qu8) straight into the GEMM's
// int16 operand, and the epilogue computes float(acc) * (x_scale * w_scale[n])
// + bias[n] with the same float operations in the same order as the three
// float ops, so the result is the unfused graph's bit for bit.
class DynamicQMatMulKernel : public NodeKernel {
 public:
  enum : size_t { kX, kB, kBZp, kWScale, kBias };
  DynamicQMatMulKernel(const KernelInit& init, QGemmPackedW packed, std::vector<float> w_scale,
                       std::vector<float> bias)
      : NodeKernel(init), packed_(std::move(packed)), w_scale_(std::move(w_scale)), bias_(std::move(bias)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, kX, where()));
    const size_t k = packed_.k(), n = packed_.n();
    if (x->dtype() != DType::kFloat32 || x->rank() == 0 || x->shape().back() != int64_t(k)) {
      return invalid_argument(where() + "x must be float ending in K = " + std::to_string(k) + ", got " +
                              dtype_name(x->dtype()) + " " + shape_to_string(x->shape()));
    }
    Shape out = x->shape();
    out.back() = int64_t(n);
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, DType::kFloat32, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
    const size_t m = size_t(x->numel()) / k;
    if (m == 0) return Status::Ok();
    const float* px = x->data<float>();
    float scale = 1.0f;
    uint8_t zp = 0;
    dynamic_quant_params_qu8(px, size_t(x->numel()), &scale, &zp);

    // Rows per chunk: about 1 MB of int16 A per call (qgemm_a16_chunk_rows).
    const size_t kc2 = packed_.kc2();
    const size_t mc = std::min(m, qgemm_a16_chunk_rows(kc2));
    if (kc2 > (size_t(1) << 30) / mc) return out_of_memory(where() + "activation scratch too large");
    std::unique_ptr<int16_t[]> a16(new (std::nothrow) int16_t[mc * kc2 + 8]);
    std::unique_ptr<uint8_t[]> row(new (std::nothrow) uint8_t[k]);
    if (!a16 || !row) return out_of_memory(where() + "cannot allocate activation scratch");
    const std::vector<float> a_scale(mc, scale);
    QGemmF32Params p{a_scale.data(), w_scale_.data(), bias_.empty() ? nullptr : bias_.data()};
    float* py = y->mutable_data<float>();
    for (size_t m0 = 0; m0 < m; m0 += mc) {
      if (ctx.cancelled()) return cancelled(where() + "cancelled");
      const size_t rows = std::min(mc, m - m0);
      for (size_t i = 0; i < rows; ++i) {
        quantize_row_qu8(px + (m0 + i) * k, k, scale, zp, row.get());
        qgemm_pack_a_q8(row.get(), false, 1, k, k, zp, a16.get() + i * kc2, 0);
      }
      qgemm_f32_a16(packed_, a16.get(), kc2, rows, p, py + m0 * n, n);
    }
    return Status::Ok();
  }

 private:
  QGemmPackedW packed_;
  std::vector<float> w_scale_, bias_;
};

Result<std::unique_ptr<OpKernel>> make_dynamic_qmatmul(const KernelInit& init) {
  using K = DynamicQMatMulKernel;
  WQ_ASSIGN_OR_RETURN(QGemmPackedW packed, pack_const_b(init, K::kB, K::kBZp, SIZE_MAX, false));
  const Tensor* ws = init.constant_input(K::kWScale);
  if (!ws) return unsupported(init.context() + "w_scale must be a constant");
  WQ_ASSIGN_OR_RETURN(std::vector<float> w_scale, column_values(*ws, packed.n(), init.context() + "w_scale"));
  std::vector<float> bias;
  if (init.has_input(K::kBias)) {
    const Tensor* b = init.constant_input(K::kBias);
    if (!b || b->dtype() != DType::kFloat32 || b->numel() != int64_t(packed.n())) {
      return unsupported(init.context() + "bias must be a constant float tensor of " + std::to_string(packed.n()) +
                         " values");
    }
    bias.assign(b->data<float>(), b->data<float>() + b->numel());
  }
  return std::unique_ptr<OpKernel>(new K(init, std::move(packed), std::move(w_scale), std::move(bias)));
}

}  // namespace

void register_runtime_quant_ops(OpRegistry& r) {
  r.add(kRuntimeOpDomain, "QLinearConv", kRuntimeOpset, kRuntimeOpset, detail::qconv_factory(true));
  r.add(kRuntimeOpDomain, "QLinearMatMul", kRuntimeOpset, kRuntimeOpset, detail::qmatmul_factory(true));
  r.add(kRuntimeOpDomain, "QGemm", kRuntimeOpset, kRuntimeOpset, make_qgemm);
  r.add(kRuntimeOpDomain, "DynamicQMatMul", kRuntimeOpset, kRuntimeOpset, make_dynamic_qmatmul);
}

}  // namespace wq
