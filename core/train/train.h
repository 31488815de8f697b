// The training API in one include: TrainSession (forward and backward over a
// Graph), losses, optimizers, the Trainer loop with divergence detection, and
// fake quantization for quantization-aware training. Everything else in
// core/train/ (train_op.h, grad_util.h, the op files) is internal.
#pragma once

#include "core/train/fake_quant.h"
#include "core/train/loss.h"
#include "core/train/optimizer.h"
#include "core/train/train_session.h"
#include "core/train/trainer.h"
