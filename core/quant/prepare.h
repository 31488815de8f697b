// Graph preparation before quantization (doc/quantization.md, "Preparing the
// graph"). Each pass takes a graph and rewrites it in place; the result
// computes the same function in float (up to float rounding for folds).
#pragma once

#include "core/graph/graph.h"
#include "core/status.h"

namespace wq {

struct PrepareStats {
  int constants_to_initializers = 0;
  int batch_norms_folded = 0;
};

// Constant nodes holding a tensor (`value` attribute) become initializers of
// the same name, so weights given as Constant nodes are quantized like any
// other initializer.
Status constants_to_initializers(Graph* graph, PrepareStats* stats);

// Conv -> BatchNormalization and Gemm -> BatchNormalization (inference mode,
// all BN parameters constant, the Conv/Gemm output read by nothing else)
// become one Conv/Gemm with scaled weights and a new bias:
//   s = gamma / sqrt(var + eps);  W'[c] = W[c] * s[c];  b'[c] = (b[c] - mean[c]) * s[c] + beta[c].
// Weights shared with another node are copied, never changed in place.
Status fold_batch_norm(Graph* graph, PrepareStats* stats);

}  // namespace wq
