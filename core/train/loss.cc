#include "core/train/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace wq {
namespace {

// Logits [N, C] and labels [N] checked; labels read as int64.
Status read_labels(const Tensor& logits, const Tensor& labels, const char* what, std::vector<int64_t>* out) {
  if (logits.dtype() != DType::kFloat32 || logits.rank() != 2)
    return invalid_argument(std::string(what) + ": logits must be float [N, C], got " + dtype_name(logits.dtype()) +
                            " " + shape_to_string(logits.shape()));
  if (labels.dtype() != DType::kInt64 && labels.dtype() != DType::kInt32)
    return invalid_argument(std::string(what) + ": labels must be int64 or int32, got " + dtype_name(labels.dtype()));
  const int64_t n = logits.dim(0), c = logits.dim(1);
  if (labels.numel() != n || labels.rank() > 1)
    return invalid_argument(std::string(what) + ": labels have shape " + shape_to_string(labels.shape()) +
                            " but the batch has " + std::to_string(n) + " samples");
  if (c <= 0) return invalid_argument(std::string(what) + ": logits have no classes");
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = labels.dtype() == DType::kInt64 ? labels.data<int64_t>()[i] : labels.data<int32_t>()[i];
    if (l < 0 || l >= c)
      return invalid_argument(std::string(what) + ": label " + std::to_string(l) + " of sample " + std::to_string(i) +
                              " is outside [0, " + std::to_string(c) + ")");
    (*out)[static_cast<size_t>(i)] = l;
  }
  return Status::Ok();
}

// p = softmax(z * inv_t) of one row in double; returns log(sum exp(z * inv_t - max)) + max.
double softmax_row(const float* z, int64_t c, double inv_t, std::vector<double>* p) {
  p->resize(static_cast<size_t>(c));
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < c; ++j) mx = std::max(mx, z[j] * inv_t);
  if (!std::isfinite(mx)) mx = 0;  // all -inf or NaN: let NaN/Inf propagate through the sum
  double sum = 0;
  for (int64_t j = 0; j < c; ++j) {
    (*p)[static_cast<size_t>(j)] = std::exp(z[j] * inv_t - mx);
    sum += (*p)[static_cast<size_t>(j)];
  }
  for (int64_t j = 0; j < c; ++j) (*p)[static_cast<size_t>(j)] /= sum;
  return std::log(sum) + mx;
}

}  // namespace

Result<LossResult> cross_entropy_loss(const Tensor& logits, const Tensor& labels) {
  std::vector<int64_t> l;
  WQ_RETURN_IF_ERROR(read_labels(logits, labels, "cross_entropy_loss", &l));
  const int64_t n = logits.dim(0), c = logits.dim(1);
  LossResult r;
  WQ_ASSIGN_OR_RETURN(r.grad, Tensor::allocate(DType::kFloat32, logits.shape()));
  const float* z = logits.data<float>();
  float* g = r.grad.mutable_data<float>();
  std::vector<double> p;
  double total = 0;
  const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* zi = z + i * c;
    const double lse = softmax_row(zi, c, 1.0, &p);
    total += lse - zi[l[static_cast<size_t>(i)]];
    for (int64_t j = 0; j < c; ++j)
      g[i * c + j] = static_cast<float>((p[static_cast<size_t>(j)] - (j == l[static_cast<size_t>(i)] ? 1.0 : 0.0)) * inv_n);
  }
  r.value = static_cast<float>(total * inv_n);
  return r;
}

Result<LossResult> mse_loss(const Tensor& prediction, const Tensor& target) {
  if (prediction.dtype() != DType::kFloat32 || target.dtype() != DType::kFloat32)
    return invalid_argument("mse_loss: prediction and target must be float");
  if (prediction.shape() != target.shape())
    return invalid_argument("mse_loss: prediction " + shape_to_string(prediction.shape()) + " and target " +
                            shape_to_string(target.shape()) + " differ in shape");
  LossResult r;
  WQ_ASSIGN_OR_RETURN(r.grad, Tensor::allocate(DType::kFloat32, prediction.shape()));
  const int64_t n = prediction.numel();
  const float* p = prediction.data<float>();
  const float* t = target.data<float>();
  float* g = r.grad.mutable_data<float>();
  const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(p[i]) - t[i];
    total += d * d;
    g[i] = static_cast<float>(2.0 * d * inv_n);
  }
  r.value = static_cast<float>(total * inv_n);
  return r;
}

Result<LossResult> kl_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                                        float temperature) {
  if (!(temperature > 0.0f) || !std::isfinite(temperature))
    return invalid_argument("kl_distillation_loss: temperature must be > 0, got " + std::to_string(temperature));
  if (student_logits.dtype() != DType::kFloat32 || teacher_logits.dtype() != DType::kFloat32)
    return invalid_argument("kl_distillation_loss: logits must be float");
  if (student_logits.shape() != teacher_logits.shape())
    return invalid_argument("kl_distillation_loss: student " + shape_to_string(student_logits.shape()) +
                            " and teacher " + shape_to_string(teacher_logits.shape()) + " differ in shape");
  if (student_logits.rank() == 0 || student_logits.shape().back() <= 0)
    return invalid_argument("kl_distillation_loss: logits need a class axis");
  const int64_t c = student_logits.shape().back(), rows = student_logits.numel() / c;
  LossResult r;
  WQ_ASSIGN_OR_RETURN(r.grad, Tensor::allocate(DType::kFloat32, student_logits.shape()));
  const double t = temperature, inv_t = 1.0 / t, inv_rows = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
  std::vector<double> ps, pt;
  double total = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* s = student_logits.data<float>() + i * c;
    const float* te = teacher_logits.data<float>() + i * c;
    const double lse_s = softmax_row(s, c, inv_t, &ps);
    const double lse_t = softmax_row(te, c, inv_t, &pt);
    double kl = 0;
    for (int64_t j = 0; j < c; ++j) {
      const double q = pt[static_cast<size_t>(j)];
      if (q > 0) kl += q * ((te[j] * inv_t - lse_t) - (s[j] * inv_t - lse_s));
      r.grad.mutable_data<float>()[i * c + j] =
          static_cast<float>(t * (ps[static_cast<size_t>(j)] - q) * inv_rows);
    }
    total += kl;
  }
  r.value = static_cast<float>(t * t * total * inv_rows);
  return r;
}

Result<int64_t> count_top1_correct(const Tensor& logits, const Tensor& labels) {
  std::vector<int64_t> l;
  WQ_RETURN_IF_ERROR(read_labels(logits, labels, "count_top1_correct", &l));
  const int64_t n = logits.dim(0), c = logits.dim(1);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data<float>() + i * c;
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (z[j] > z[best]) best = j;
    correct += best == l[static_cast<size_t>(i)];
  }
  return correct;
}

}  // namespace wq
