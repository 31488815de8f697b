// What the graph passes did, by rewrite (for tests, benchmarks and logs).
#pragma once

namespace wq {

struct PassStats {
  int constant_nodes = 0;     // Constant nodes turned into initializers
  int folded_nodes = 0;       // nodes evaluated once at plan time
  int qlinear_conv = 0;       // QDQ Conv -> QLinearConv
  int qlinear_matmul = 0;     // QDQ MatMul -> QLinearMatMul
  int qgemm = 0;              // QDQ Gemm -> QGemm
  int fused_activations = 0;  // Relu / Clip clamps inside the three above
  int dynamic_matmul = 0;     // dynamic MatMulInteger chains -> DynamicQMatMul
  int passthrough = 0;        // DQ -> op -> Q  ==> op on 8-bit data (and DQ -> Q)
  int removed_nodes = 0;      // nodes dropped because nothing read them any more
};

}  // namespace wq
