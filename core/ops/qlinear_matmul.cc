// MatMulInteger and QLinearMatMul (and the runtime's QLinearMatMul, whose zero
// points are optional and whose output may carry a fused Relu / Clip clamp:
// quant_ops_util.h).
//
// B is packed with qgemm_pack_w (zero point folded in), once when it is a
// constant; A is widened row by row with its own zero point; then the int32 or
// the requantizing GEMM driver.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/kernels/qgemm.h"
#include "core/ops/ops_util.h"
#include "core/ops/quant_ops_util.h"
#include "core/qparams.h"

namespace wq {
namespace {

using detail::NodeKernel;
using detail::FusedQOutput;
using detail::float_values;
using detail::fused_output_params;
using detail::int_values;
using detail::is_q8;
using detail::optional_input;
using detail::parse_fused_output;

// ---- MatMulInteger / QLinearMatMul -----------------------------------------------------

// numpy matmul shapes: 1-D operands promoted to matrices, batch dims broadcast.
struct MatMulDims {
  Shape batch_a, batch_b, batch, out;
  int64_t m = 0, k = 0, n = 0;
};

Result<MatMulDims> matmul_dims(const Shape& a, const Shape& b, const std::string& where) {
  if (a.empty() || b.empty()) return invalid_argument(where + "inputs must not be scalars");
  Shape sa = a, sb = b;
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  MatMulDims d;
  d.m = sa[sa.size() - 2];
  d.k = sa.back();
  d.n = sb.back();
  if (sb[sb.size() - 2] != d.k) {
    return invalid_argument(where + "inner dimensions differ: " + shape_to_string(a) + " x " + shape_to_string(b));
  }
  d.batch_a.assign(sa.begin(), sa.end() - 2);
  d.batch_b.assign(sb.begin(), sb.end() - 2);
  WQ_ASSIGN_OR_RETURN(d.batch, detail::broadcast_shapes(d.batch_a, d.batch_b, where));
  d.out = d.batch;
  if (!a_vec) d.out.push_back(d.m);
  if (!b_vec) d.out.push_back(d.n);
  return d;
}

// A per-row (A side) or per-column (B side) parameter holds one value, one per
// row/column of a matrix (`per_matrix`), or one per row/column of every matrix.
Status check_line_param(const Tensor& t, int64_t per_matrix, int64_t matrices, const char* line,
                        const std::string& what) {
  const int64_t c = t.numel();
  if (c == 1 || c == per_matrix || c == per_matrix * matrices) return Status::Ok();
  return invalid_argument(what + " has shape " + shape_to_string(t.shape()) + ": expected one value, " +
                          std::to_string(per_matrix) + " (one per " + line + ") or " +
                          std::to_string(per_matrix * matrices) + " (one per " + line + " of every matrix)");
}

// The packed B matrices of a (possibly batched) MatMul operand, zero points folded in.
Result<std::vector<QGemmPackedW>> pack_b(const Tensor& b, const Tensor* b_zp, const std::string& where) {
  if (!is_q8(b.dtype())) {
    return unsupported(where + "B type " + std::string(dtype_name(b.dtype())) + " is not supported (uint8, int8)");
  }
  if (b.rank() == 0) return invalid_argument(where + "B must not be a scalar");
  if (b_zp && b_zp->dtype() != b.dtype()) {
    return invalid_argument(where + "b_zero_point is " + dtype_name(b_zp->dtype()) + " but B is " +
                            dtype_name(b.dtype()));
  }
  const Shape& s = b.shape();
  const int64_t k = s.size() == 1 ? s[0] : s[s.size() - 2];
  const int64_t n = s.size() == 1 ? 1 : s.back();
  const int64_t mats = s.size() <= 2 ? 1 : detail::dims_product(s, 0, s.size() - 2);
  std::vector<int32_t> zp;
  if (b_zp) {
    WQ_RETURN_IF_ERROR(check_line_param(*b_zp, n, mats, "column", where + "b_zero_point"));
    zp = int_values(*b_zp);
  }
  std::vector<QGemmPackedW> out;
  if (k == 0 || n == 0 || mats == 0) return out;  // nothing to multiply; run() handles empty shapes
  out.reserve(size_t(mats));
  const bool s8 = b.dtype() == DType::kInt8;
  for (int64_t i = 0; i < mats; ++i) {
    const int32_t* zpp = zp.empty() ? nullptr : zp.data() + (int64_t(zp.size()) == n * mats && mats > 1 ? i * n : 0);
    const bool per_col = zp.size() > 1;
    const uint8_t* w = static_cast<const uint8_t*>(b.raw()) + i * k * n;
    auto packed = qgemm_pack_w(w, s8, size_t(k), size_t(n), size_t(n), 1, zpp, per_col, nullptr);
    if (!packed.ok()) return packed.status().with_context(where);
    out.push_back(std::move(packed).value());
  }
  return out;
}

// Zero point (and scale) of row `r` of the flattened A rows.
inline size_t line_index(size_t count, int64_t r) { return count <= 1 ? 0 : size_t(r % int64_t(count)); }

class QMatMulKernel : public NodeKernel {
 public:
  // linear: QLinearMatMul (inputs a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp),
  // else MatMulInteger (inputs A, B, a_zero_point, b_zero_point).
  QMatMulKernel(const KernelInit& init, bool linear, FusedQOutput fused, bool prepacked,
                std::vector<QGemmPackedW> packed)
      : NodeKernel(init), linear_(linear), fused_(fused), prepacked_(prepacked), packed_(std::move(packed)) {}

  static constexpr size_t kB = 1, kAZp = 2, kBZp = 3;  // MatMulInteger
  // QLinearMatMul; input 0 is A, as in MatMulInteger.
  static constexpr size_t kLAScale = 1, kLAZp = 2, kLB = 3, kLBScale = 4, kLBZp = 5, kLYScale = 6, kLYZp = 7;
  static size_t b_index(bool linear) { return linear ? kLB : kB; }
  static size_t b_zp_index(bool linear) { return linear ? kLBZp : kBZp; }

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* a, detail::required_input(ctx, 0, where()));
    WQ_ASSIGN_OR_RETURN(const Tensor* b, detail::required_input(ctx, b_index(linear_), where()));
    const Tensor* a_zp = optional_input(ctx, linear_ ? kLAZp : kAZp);
    const Tensor* b_zp = optional_input(ctx, b_zp_index(linear_));
    if (!is_q8(a->dtype())) {
      return unsupported(where() + "A type " + std::string(dtype_name(a->dtype())) + " is not supported (uint8, int8)");
    }
    if (!is_q8(b->dtype())) {
      return unsupported(where() + "B type " + std::string(dtype_name(b->dtype())) + " is not supported (uint8, int8)");
    }
    if (a_zp && a_zp->dtype() != a->dtype()) {
      return invalid_argument(where() + "a_zero_point is " + dtype_name(a_zp->dtype()) + " but A is " +
                              dtype_name(a->dtype()));
    }
    WQ_ASSIGN_OR_RETURN(MatMulDims d, matmul_dims(a->shape(), b->shape(), where()));
    const int64_t mats_a = shape_numel(d.batch_a), mats_b = shape_numel(d.batch_b);
    std::vector<int32_t> azp;
    if (a_zp) {
      WQ_RETURN_IF_ERROR(check_line_param(*a_zp, d.m, mats_a, "row", where() + "a_zero_point"));
      azp = int_values(*a_zp);
    }

    // QLinearMatMul's scales and output parameters.
    std::vector<float> a_scale, b_scale;
    float y_scale = 1.0f;
    QGemmRequantParams out_params;
    DType yt = DType::kInt32;
    if (linear_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* as, detail::required_input(ctx, kLAScale, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* bs, detail::required_input(ctx, kLBScale, where()));
      WQ_ASSIGN_OR_RETURN(const Tensor* ys, detail::required_input(ctx, kLYScale, where()));
      WQ_RETURN_IF_ERROR(check_line_param(*as, d.m, mats_a, "row", where() + "a_scale"));
      WQ_RETURN_IF_ERROR(check_line_param(*bs, d.n, mats_b, "column", where() + "b_scale"));
      if (a_zp && a_zp->numel() != as->numel() && a_zp->numel() != 1) {
        return invalid_argument(where() + "a_zero_point and a_scale have different shapes");
      }
      WQ_RETURN_IF_ERROR(
          fused_output_params(fused_, *ys, optional_input(ctx, kLYZp), where(), &y_scale, &yt, &out_params));
      WQ_ASSIGN_OR_RETURN(a_scale, float_values(*as, false, where() + "a_scale"));
      WQ_ASSIGN_OR_RETURN(b_scale, float_values(*bs, false, where() + "b_scale"));
    }

    WQ_RETURN_IF_ERROR(detail::check_output_size(d.out, yt, where()));
    WQ_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, d.out));
    if (y->numel() == 0) return Status::Ok();
    if (d.k == 0) {  // empty sums: 0, requantized to the zero point (inside a fused clamp)
      if (linear_) {
        const int32_t q = clamp_i32(out_params.zero_point, out_params.qmin, out_params.qmax);
        std::memset(y->mutable_raw(), q & 0xFF, y->nbytes());
      } else {
        std::memset(y->mutable_raw(), 0, y->nbytes());
      }
      return Status::Ok();
    }

    std::vector<QGemmPackedW> local;
    const std::vector<QGemmPackedW>* packed = &packed_;
    if (!prepacked_) {
      WQ_ASSIGN_OR_RETURN(local, pack_b(*b, b_zp, where()));
      packed = &local;
    }
    if (int64_t(packed->size()) != mats_b) return internal_error(where() + "packed B does not match its batch");

    Job job;
    job.a = static_cast<const uint8_t*>(a->raw());
    job.a_signed = a->dtype() == DType::kInt8;
    job.k = size_t(d.k);
    job.n = size_t(d.n);
    job.azp = &azp;
    job.a_scale = &a_scale;
    job.b_scale = &b_scale;
    job.y_scale = y_scale;
    job.params = out_params;
    job.y_bytes = yt == DType::kInt32 ? 4 : 1;
    job.y = static_cast<uint8_t*>(y->mutable_raw());

    if (mats_b == 1) {
      // One B for every A matrix: all rows of A form one GEMM.
      return rows_gemm(ctx, job, (*packed)[0], 0, 0, mats_a * d.m, 0);
    }
    const std::vector<int64_t> strides[2] = {detail::broadcast_strides(d.batch_a, d.batch),
                                             detail::broadcast_strides(d.batch_b, d.batch)};
    Status status;
    detail::for_each_broadcast(d.batch, strides, [&](int64_t i, const int64_t* off) {
      if (!status.ok()) return;
      status = rows_gemm(ctx, job, (*packed)[size_t(off[1])], off[1], off[0] * d.m, d.m, i * d.m);
    });
    return status;
  }

 private:
  struct Job {
    const uint8_t* a = nullptr;  // int8 or uint8 bytes
    bool a_signed = false;
    size_t k = 0, n = 0;
    const std::vector<int32_t>* azp = nullptr;
    const std::vector<float>* a_scale = nullptr;
    const std::vector<float>* b_scale = nullptr;
    float y_scale = 1.0f;
    QGemmRequantParams params;
    size_t y_bytes = 4;
    uint8_t* y = nullptr;
  };

  // Rows [a_row0, a_row0 + rows) of the flattened A (rows of K) times packed B
  // matrix `b_mat`, into rows starting at y_row0 of the flattened output.
  Status rows_gemm(KernelContext& ctx, const Job& job, const QGemmPackedW& w, int64_t b_mat, int64_t a_row0,
                   int64_t rows, int64_t y_row0) {
    const size_t kc2 = w.kc2(), n = job.n;
    // Requantization scales per column for per-tensor A; per-row A recomputes them.
    const size_t bs_count = job.b_scale->size();
    auto b_scale_at = [&](size_t col) {
      if (bs_count <= 1) return (*job.b_scale)[0];
      return (*job.b_scale)[bs_count == n ? col : size_t(b_mat) * n + col];
    };
    std::vector<float> scales;
    auto fill_scales = [&](float a_scale) {
      for (size_t j = 0; j < n; ++j) scales[j] = requant_scale(a_scale, b_scale_at(j), job.y_scale);
    };
    const bool per_row_scale = linear_ && job.a_scale->size() > 1;
    if (linear_) {
      scales.resize(n);
      if (!per_row_scale) fill_scales((*job.a_scale)[0]);
    }
    // A chunk of about 1 MB of int16 rows: each call widens the weights again (qgemm.h).
    const size_t mc = std::min<size_t>(size_t(rows), qgemm_a16_chunk_rows(kc2));
    if (mc != 0 && kc2 > (size_t(1) << 30) / mc) return out_of_memory(where() + "activation scratch too large");
    std::unique_ptr<int16_t[]> a16(new (std::nothrow) int16_t[mc * kc2 + 8]);
    if (!a16) return out_of_memory(where() + "cannot allocate activation scratch");
    const std::vector<int32_t>& azp = *job.azp;
    for (int64_t m0 = 0; m0 < rows; m0 += int64_t(mc)) {
      if (ctx.cancelled()) return cancelled(where() + "cancelled");
      const size_t mr = std::min<size_t>(mc, size_t(rows - m0));
      for (size_t r = 0; r < mr; ++r) {
        const int64_t row = a_row0 + m0 + int64_t(r);
        const int32_t zp = azp.empty() ? 0 : azp[line_index(azp.size(), row)];
        qgemm_pack_a_q8(job.a + size_t(row) * job.k, job.a_signed, 1, job.k, job.k, zp, a16.get() + r * kc2, kc2);
      }
      uint8_t* yrow = job.y + size_t(y_row0 + m0) * n * job.y_bytes;
      if (!linear_) {
        qgemm_s32_a16(w, a16.get(), kc2, mr, reinterpret_cast<int32_t*>(yrow), n);
      } else if (!per_row_scale) {
        QGemmRequantParams p = job.params;
        p.scale = scales.data();
        qgemm_requant_a16(w, a16.get(), kc2, mr, p, yrow, n);
      } else {
        for (size_t r = 0; r < mr; ++r) {
          const int64_t row = a_row0 + m0 + int64_t(r);
          fill_scales((*job.a_scale)[line_index(job.a_scale->size(), row)]);
          QGemmRequantParams p = job.params;
          p.scale = scales.data();
          qgemm_requant_a16(w, a16.get() + r * kc2, kc2, 1, p, yrow + r * n, n);
        }
      }
    }
    return Status::Ok();
  }

  bool linear_;
  FusedQOutput fused_;
  bool prepacked_;
  std::vector<QGemmPackedW> packed_;
};

}  // namespace

namespace detail {

KernelFactory qmatmul_factory(bool linear) {
  return [linear](const KernelInit& init) -> Result<std::unique_ptr<OpKernel>> {
    WQ_ASSIGN_OR_RETURN(FusedQOutput fused, parse_fused_output(init));
    const size_t bi = QMatMulKernel::b_index(linear), zi = QMatMulKernel::b_zp_index(linear);
    const Tensor* b = init.constant_input(bi);
    const bool zp_known = !init.has_input(zi) || init.constant_input(zi) != nullptr;
    std::vector<QGemmPackedW> packed;
    const bool prepack = b != nullptr && zp_known;
    if (prepack) {
      auto p = pack_b(*b, init.has_input(zi) ? init.constant_input(zi) : nullptr, init.context());
      if (!p.ok()) return p.status();
      packed = std::move(p).value();
    }
    return std::unique_ptr<OpKernel>(new QMatMulKernel(init, linear, fused, prepack, std::move(packed)));
  };
}

}  // namespace detail
}  // namespace wq
