#include "core/kernels/f32_conv.h"

#include <cassert>
#include <cstdint>
#include <string>

#include "core/kernels/f32_im2col.h"

namespace wq {

namespace {

const F32ConvConfig kWasmSimdConfig = {
    f32_gemm_chw_4x8__wasmsimd_loadsplat,
    f32_dwconv2d_chw_3x3__wasmsimd,
    f32_dwconv2d_chw_5x5__wasmsimd,
    f32_dwconv2d_chw__wasmsimd,
    "wasmsimd",
};
const F32ConvConfig kScalarConfig = {
    f32_gemm_chw__scalar, f32_dwconv2d_chw__scalar, f32_dwconv2d_chw__scalar, f32_dwconv2d_chw__scalar, "scalar",
};

// Pixels per GEMM block. The block of B (K rows x nb pixels: input planes for
// 1x1, the im2col buffer otherwise) stays in cache while every 4-channel weight
// panel sweeps it. im2col blocks are larger: each im2col row costs a fixed
// overhead that a longer run amortizes. Measured with
// tests/bench/f32_kernels_bench.cc (doc/kernels.md).
constexpr size_t kDirectBlockBytes = 32 * 1024;
constexpr size_t kDirectMinPixels = 32;
constexpr size_t kIm2colBlockBytes = 64 * 1024;
constexpr size_t kIm2colMinPixels = 128;
constexpr size_t kMaxBlockPixels = 1024;
// Dimensions above this are rejected before any size arithmetic.
constexpr size_t kMaxDim = size_t{1} << 30;

size_t block_pixels(F32ConvPath path, size_t k, size_t pixels) {
  const bool direct = path == F32ConvPath::kGemm1x1;
  const size_t bytes = direct ? kDirectBlockBytes : kIm2colBlockBytes;
  const size_t min_pixels = direct ? kDirectMinPixels : kIm2colMinPixels;
  size_t nb = bytes / (sizeof(float) * (k == 0 ? 1 : k)) / 8 * 8;
  if (nb < min_pixels) nb = min_pixels;
  if (nb > kMaxBlockPixels) nb = kMaxBlockPixels;
  return nb < pixels ? nb : pixels;
}

// a * b <= limit, without overflow (size_t is 32 bits under WASM).
bool product_within(size_t a, size_t b, size_t limit) { return a == 0 || b <= limit / a; }

size_t gemm_k(const F32ConvParams& p) { return p.in_channels / p.groups * p.kernel_h * p.kernel_w; }

F32Conv2dGeometry geometry(const F32ConvParams& p, size_t in_h, size_t in_w, size_t out_h, size_t out_w) {
  F32Conv2dGeometry g;
  g.in_h = in_h;
  g.in_w = in_w;
  g.out_h = out_h;
  g.out_w = out_w;
  g.kernel_h = p.kernel_h;
  g.kernel_w = p.kernel_w;
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  g.pad_top = p.pad_top;
  g.pad_left = p.pad_left;
  return g;
}

Status output_size(const F32ConvParams& p, size_t in_h, size_t in_w, size_t* out_h, size_t* out_w) {
  if (in_h > kMaxDim || in_w > kMaxDim) {
    return invalid_argument("Conv input of " + std::to_string(in_h) + " x " + std::to_string(in_w) + " is too large");
  }
  const size_t eff_h = (p.kernel_h - 1) * p.dilation_h + 1;
  const size_t eff_w = (p.kernel_w - 1) * p.dilation_w + 1;
  const size_t padded_h = in_h + p.pad_top + p.pad_bottom;
  const size_t padded_w = in_w + p.pad_left + p.pad_right;
  if (padded_h < eff_h || padded_w < eff_w) {
    return invalid_argument("Conv kernel " + std::to_string(eff_h) + " x " + std::to_string(eff_w) +
                            " (dilated) is larger than the padded input " + std::to_string(padded_h) + " x " +
                            std::to_string(padded_w));
  }
  *out_h = (padded_h - eff_h) / p.stride_h + 1;
  *out_w = (padded_w - eff_w) / p.stride_w + 1;
  if (!product_within(*out_h, *out_w, kMaxDim)) {
    return invalid_argument("Conv output of " + std::to_string(*out_h) + " x " + std::to_string(*out_w) +
                            " is too large");
  }
  return Status::Ok();
}

// C = W_g · B for one group, B given as K rows of `pixels` floats (row stride
// b_stride) — the input planes themselves (1x1) — or built block by block by
// im2col into `col`.
void run_gemm_group(const F32ConvConfig& config, const F32ConvPlan& plan, const F32Conv2dGeometry& g,
                    const float* w_packed, const float* input, float* output, float* col) {
  const F32ConvParams& p = plan.params();
  const size_t m = p.out_channels / p.groups;
  const size_t k = gemm_k(p);
  const size_t pixels = g.out_h * g.out_w;
  const size_t nb = block_pixels(plan.path(), k, pixels);
  const size_t panel = kF32GemmChwMr + k * kF32GemmChwMr;
  const bool direct = plan.path() == F32ConvPath::kGemm1x1;
  for (size_t p0 = 0; p0 < pixels; p0 += nb) {
    const size_t np = pixels - p0 < nb ? pixels - p0 : nb;
    const float* b = input + p0;
    size_t b_stride = pixels;  // 1x1, stride 1, no padding: in_h * in_w == pixels
    if (!direct) {
      f32_im2col_chw(g, p.in_channels / p.groups, input, p0, np, col, nb);
      b = col;
      b_stride = nb;
    }
    for (size_t m0 = 0; m0 < m; m0 += kF32GemmChwMr) {
      const size_t mr = m - m0 < kF32GemmChwMr ? m - m0 : kF32GemmChwMr;
      config.gemm_chw(mr, np, k, w_packed + (m0 / kF32GemmChwMr) * panel, b, b_stride, output + m0 * pixels + p0,
                      pixels, &plan.activation());
    }
  }
}

}  // namespace

const char* f32_conv_path_name(F32ConvPath path) {
  switch (path) {
    case F32ConvPath::kDepthwise:
      return "depthwise";
    case F32ConvPath::kGemm1x1:
      return "gemm_1x1";
    case F32ConvPath::kIm2colGemm:
      return "im2col_gemm";
  }
  return "unknown";
}

const F32ConvConfig& f32_conv_config() { return kWasmSimdConfig; }
const F32ConvConfig& f32_conv_config_scalar() { return kScalarConfig; }

Result<F32ConvPlan> f32_conv_plan(const F32ConvParams& params, const float* weights, const float* bias,
                                  const F32Activation& act) {
  const F32ConvParams& p = params;
  const size_t dims[] = {p.in_channels, p.out_channels, p.groups,  p.kernel_h, p.kernel_w,   p.stride_h, p.stride_w,
                         p.dilation_h,  p.dilation_w,   p.pad_top, p.pad_left, p.pad_bottom, p.pad_right};
  for (size_t d : dims) {
    if (d > kMaxDim) return invalid_argument("Conv: attribute value " + std::to_string(d) + " is too large");
  }
  if (p.in_channels == 0 || p.out_channels == 0 || p.groups == 0) {
    return invalid_argument("Conv: channels and group must be positive");
  }
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0) {
    return invalid_argument("Conv: group " + std::to_string(p.groups) + " does not divide input channels " +
                            std::to_string(p.in_channels) + " and output channels " + std::to_string(p.out_channels));
  }
  if (p.kernel_h == 0 || p.kernel_w == 0 || p.stride_h == 0 || p.stride_w == 0 || p.dilation_h == 0 ||
      p.dilation_w == 0) {
    return invalid_argument("Conv: kernel_shape, strides and dilations must be positive");
  }
  if (weights == nullptr) return invalid_argument("Conv: weights are null");
  // Every product below stays within kMaxDim, so later size arithmetic cannot wrap.
  if (!product_within(p.kernel_h, p.kernel_w, kMaxDim) ||
      !product_within(p.in_channels / p.groups, p.kernel_h * p.kernel_w, kMaxDim) ||
      !product_within(p.kernel_h - 1, p.dilation_h, kMaxDim - 1) ||
      !product_within(p.kernel_w - 1, p.dilation_w, kMaxDim - 1)) {
    return invalid_argument("Conv: kernel_shape / dilations / channels are too large");
  }
  const size_t k = gemm_k(p);
  if (!product_within(p.out_channels, k + 1, kF32BufferMaxBytes / sizeof(float))) {
    return out_of_memory("Conv: weight of " + std::to_string(p.out_channels) + " x " + std::to_string(k) +
                         " is too large");
  }

  F32ConvPlan plan;
  plan.params_ = p;
  plan.act_ = act;
  if (p.groups == p.in_channels && p.in_channels > 1) {
    plan.path_ = F32ConvPath::kDepthwise;
    const size_t taps = p.kernel_h * p.kernel_w;
    WQ_RETURN_IF_ERROR(plan.packed_.reserve(p.out_channels * (1 + taps), "Conv depthwise weights"));
    f32_pack_dwconv2d_chw_w(p.out_channels, p.kernel_h, p.kernel_w, weights, bias, plan.packed_.data());
    return plan;
  }
  const bool pointwise = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                         p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0;
  plan.path_ = pointwise ? F32ConvPath::kGemm1x1 : F32ConvPath::kIm2colGemm;
  const size_t m = p.out_channels / p.groups;
  const size_t group_size = f32_pack_gemm_chw_w_size(m, k);
  if (!product_within(group_size, p.groups, SIZE_MAX)) return out_of_memory("Conv: packed weights are too large");
  WQ_RETURN_IF_ERROR(plan.packed_.reserve(group_size * p.groups, "Conv weights"));
  for (size_t grp = 0; grp < p.groups; ++grp) {
    f32_pack_gemm_chw_w(m, k, weights + grp * m * k, k, bias != nullptr ? bias + grp * m : nullptr,
                        plan.packed_.data() + grp * group_size);
  }
  return plan;
}

Status f32_conv_output_size(const F32ConvPlan& plan, size_t in_h, size_t in_w, size_t* out_h, size_t* out_w) {
  return output_size(plan.params(), in_h, in_w, out_h, out_w);
}

size_t f32_conv_scratch_size(const F32ConvPlan& plan, size_t in_h, size_t in_w) {
  size_t out_h = 0, out_w = 0;
  if (!output_size(plan.params(), in_h, in_w, &out_h, &out_w).ok()) return 0;
  switch (plan.path()) {
    case F32ConvPath::kDepthwise:
      return f32_dwconv2d_chw_scratch_size(geometry(plan.params(), in_h, in_w, out_h, out_w));
    case F32ConvPath::kGemm1x1:
      return 0;
    case F32ConvPath::kIm2colGemm: {
      const size_t k = gemm_k(plan.params());
      const size_t nb = block_pixels(plan.path(), k, out_h * out_w);
      return product_within(k, nb, SIZE_MAX) ? k * nb : SIZE_MAX;  // SIZE_MAX: the reserve fails
    }
  }
  return 0;
}

Status f32_conv_run(const F32ConvConfig& config, const F32ConvPlan& plan, size_t batch, size_t in_h, size_t in_w,
                    const float* input, float* output, F32Buffer* scratch) {
  const F32ConvParams& p = plan.params();
  if (p.in_channels == 0) return invalid_argument("f32_conv_run: the plan was not made by f32_conv_plan");
  size_t out_h = 0, out_w = 0;
  WQ_RETURN_IF_ERROR(output_size(p, in_h, in_w, &out_h, &out_w));
  const F32Conv2dGeometry g = geometry(p, in_h, in_w, out_h, out_w);
  const size_t in_plane = in_h * in_w;
  const size_t out_plane = out_h * out_w;
  if (batch == 0 || out_plane == 0) return Status::Ok();

  F32Buffer local;
  if (scratch == nullptr) scratch = &local;
  WQ_RETURN_IF_ERROR(scratch->reserve(f32_conv_scratch_size(plan, in_h, in_w), "Conv scratch"));

  for (size_t n = 0; n < batch; ++n) {
    const float* in_n = input + n * p.in_channels * in_plane;
    float* out_n = output + n * p.out_channels * out_plane;
    if (plan.path() == F32ConvPath::kDepthwise) {
      F32DwConv2dChwUkernelFn fn = config.dwconv;
      if (p.kernel_h == 3 && p.kernel_w == 3) fn = config.dwconv_3x3;
      if (p.kernel_h == 5 && p.kernel_w == 5) fn = config.dwconv_5x5;
      const size_t multiplier = p.out_channels / p.in_channels;
      const size_t w_size = 1 + p.kernel_h * p.kernel_w;
      for (size_t co = 0; co < p.out_channels; ++co) {
        fn(g, in_n + (co / multiplier) * in_plane, plan.packed_.data() + co * w_size, out_n + co * out_plane,
           scratch->data(), &plan.activation());
      }
      continue;
    }
    const size_t cin_g = p.in_channels / p.groups;
    const size_t cout_g = p.out_channels / p.groups;
    const size_t group_size = f32_pack_gemm_chw_w_size(cout_g, gemm_k(p));
    for (size_t grp = 0; grp < p.groups; ++grp) {
      run_gemm_group(config, plan, g, plan.packed_.data() + grp * group_size, in_n + grp * cin_g * in_plane,
                     out_n + grp * cout_g * out_plane, scratch->data());
    }
  }
  return Status::Ok();
}

Status f32_conv_run(const F32ConvPlan& plan, size_t batch, size_t in_h, size_t in_w, const float* input, float* output,
                    F32Buffer* scratch) {
  return f32_conv_run(f32_conv_config(), plan, batch, in_h, in_w, input, output, scratch);
}

}  // namespace wq
