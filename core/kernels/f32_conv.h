// High-level f32 2-D convolution (ONNX Conv, NCHW in and out) with fused bias
// and activation. The Conv operator builds a plan once from the constant
// weights and runs it per inference:
//
//   F32ConvParams p;  p.in_channels = 16; p.out_channels = 32; p.kernel_h = p.kernel_w = 3; ...
//   WQ_ASSIGN_OR_RETURN(F32ConvPlan plan, f32_conv_plan(p, w, b, F32Activation::relu()));
//   size_t oh, ow;  WQ_RETURN_IF_ERROR(f32_conv_output_size(plan, h, w, &oh, &ow));
//   WQ_RETURN_IF_ERROR(f32_conv_run(plan, n, h, w, x, y, &scratch));   // F32Buffer scratch
//
// Paths (chosen by the plan, see F32ConvPath):
//   depthwise    groups == in_channels and out_channels a multiple of it:
//                f32_dwconv2d_chw, 3x3 and 5x5 fast kernels, any other size general.
//   gemm_1x1     1x1, stride 1, no padding: f32_gemm_chw straight on the input
//                planes (no copy), blocked over pixels.
//   im2col_gemm  everything else (any kernel, stride, dilation, padding, groups):
//                im2col of a block of output pixels, then f32_gemm_chw.
//
// Ownership: the plan owns its packed weights and keeps no pointer to the
// caller's weight or bias after f32_conv_plan returns. Scratch belongs to the
// caller: an F32Buffer that f32_conv_run grows to f32_conv_scratch_size()
// floats, or nullptr for a temporary. It is bounded, never proportional to the
// image: an im2col block of at most K * max(128, 16384 / K) floats
// (K = in_channels / groups * kernel_h * kernel_w), a few padded input rows for
// depthwise, nothing for 1x1. One scratch may be reused across calls and
// plans, but not by two runs at the same time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kernels/f32_activation.h"
#include "core/kernels/f32_buffer.h"
#include "core/kernels/f32_dwconv.h"
#include "core/kernels/f32_gemm.h"
#include "core/status.h"

namespace wq {

// ONNX Conv attributes for 2-D (explicit pads; the operator resolves auto_pad).
struct F32ConvParams {
  size_t in_channels = 0;
  size_t out_channels = 0;
  size_t groups = 1;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

enum class F32ConvPath : uint8_t { kDepthwise = 0, kGemm1x1 = 1, kIm2colGemm = 2 };
const char* f32_conv_path_name(F32ConvPath path);  // "depthwise", "gemm_1x1", "im2col_gemm"

// The kernels a conv plan runs: the one table for Conv.
struct F32ConvConfig {
  F32GemmChwUkernelFn gemm_chw;
  F32DwConv2dChwUkernelFn dwconv_3x3;
  F32DwConv2dChwUkernelFn dwconv_5x5;
  F32DwConv2dChwUkernelFn dwconv;  // any kernel size
  const char* name;
};
const F32ConvConfig& f32_conv_config();         // wasmsimd (natively through SIMDe)
const F32ConvConfig& f32_conv_config_scalar();  // the scalar references

class F32ConvPlan {
 public:
  F32ConvPlan() = default;
  const F32ConvParams& params() const { return params_; }
  const F32Activation& activation() const { return act_; }
  F32ConvPath path() const { return path_; }

 private:
  friend Result<F32ConvPlan> f32_conv_plan(const F32ConvParams&, const float*, const float*, const F32Activation&);
  friend Status f32_conv_run(const F32ConvConfig&, const F32ConvPlan&, size_t, size_t, size_t, const float*, float*,
                             F32Buffer*);
  friend void f32_conv_unpack_weights(const F32ConvPlan&, float*, float*);
  F32ConvParams params_;
  F32Activation act_;
  F32ConvPath path_ = F32ConvPath::kIm2colGemm;
  F32Buffer packed_;  // per group: f32_pack_gemm_chw_w, or per channel: f32_pack_dwconv2d_chw_w
};

// weights: [out_channels, in_channels / groups, kernel_h, kernel_w];
// bias: out_channels floats or nullptr. kInvalidArgument for inconsistent
// params (channels not divisible by groups, zero kernel/stride/dilation),
// kOutOfMemory if the packed weights cannot be allocated.
Result<F32ConvPlan> f32_conv_plan(const F32ConvParams& params, const float* weights, const float* bias,
                                  const F32Activation& act);

// Writes back the weights ([out_channels, in_channels / groups, kernel_h,
// kernel_w]) and the out_channels biases (either nullptr to skip) the plan
// packed, bit for bit (zeros for a plan made without bias), so a caller may
// free its originals once the plan is made.
void f32_conv_unpack_weights(const F32ConvPlan& plan, float* weights, float* bias);

// Output height and width for an input of in_h x in_w; kInvalidArgument if the
// (dilated) kernel does not fit in the padded input.
Status f32_conv_output_size(const F32ConvPlan& plan, size_t in_h, size_t in_w, size_t* out_h, size_t* out_w);

// Floats of scratch f32_conv_run needs for this input size (0 if none).
size_t f32_conv_scratch_size(const F32ConvPlan& plan, size_t in_h, size_t in_w);

// input: [batch, in_channels, in_h, in_w]; output: [batch, out_channels, out_h, out_w]
// (must not overlap the input). scratch is grown as needed (kOutOfMemory if it
// cannot be; nullptr: a temporary is allocated). Other failures:
// kInvalidArgument from f32_conv_output_size.
Status f32_conv_run(const F32ConvPlan& plan, size_t batch, size_t in_h, size_t in_w, const float* input, float* output,
                    F32Buffer* scratch);
// The same with an explicit kernel table (tests run plans on the scalar one).
Status f32_conv_run(const F32ConvConfig& config, const F32ConvPlan& plan, size_t batch, size_t in_h, size_t in_w,
                    const float* input, float* output, F32Buffer* scratch);

}  // namespace wq
