// Loss functions for training: each returns the loss value and its gradient
// with respect to the prediction, ready for TrainSession::backward().
//
// Values are computed in double and averaged over the batch, so the gradient
// of a batch is the mean of the per-sample gradients (the learning rate does
// not depend on the batch size). A NaN/Inf prediction gives a NaN/Inf loss,
// not an error: the Trainer turns it into kNumericError with the step.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"

namespace wq {

struct LossResult {
  float value = 0.0f;
  Tensor grad;  // d(value)/d(prediction): float32, the prediction's shape
};

// Softmax cross-entropy of logits [N, C] against class indices [N] (int64 or
// int32), averaged over N:  mean_n( logsumexp(z_n) - z_n[label_n] ).
// kInvalidArgument for logits that are not float32 2-D, labels whose count
// differs from N, and a label outside [0, C) (naming the sample index).
Result<LossResult> cross_entropy_loss(const Tensor& logits, const Tensor& labels);

// Mean squared error over all elements:  mean( (p - t)^2 ).
// kInvalidArgument when the shapes or types differ.
Result<LossResult> mse_loss(const Tensor& prediction, const Tensor& target);

// Knowledge distillation (Hinton et al. 2015):
//   T^2 * mean_rows KL( softmax(teacher / T) || softmax(student / T) )
// over the last axis (rows = numel / C). The T^2 factor keeps the gradient
// magnitude independent of T:  d/d student = T * (p_student - p_teacher) / rows.
// kInvalidArgument for mismatched shapes or a temperature that is not > 0.
Result<LossResult> kl_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                                        float temperature);

// Samples whose largest logit (first on ties) is the label; same checks as
// cross_entropy_loss.
Result<int64_t> count_top1_correct(const Tensor& logits, const Tensor& labels);

}  // namespace wq
