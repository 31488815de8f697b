// Resize (10, 11-21) and Upsample (7-9).
//
// Each axis maps output index -> input coordinate with the coordinate
// transformation mode. Nearest picks one input index per axis and gathers
// (exact for every dtype). Linear and cubic are separable, so they run as one
// 1-D pass per resized axis over a double buffer, as the ONNX reference does.
#include <algorithm>
#include <cmath>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kAsymmetric, kAlignCorners, kPytorchHalfPixel, kTfHalfPixelForNn, kTfCropAndResize,
                   kHalfPixelSymmetric };
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  std::vector<int64_t> axes;  // empty: all
  // Where scales/sizes come from.
  bool upsample_attr_scales = false;  // Upsample-7
  std::vector<float> attr_scales;
  size_t roi_input = 1, scales_input = 2, sizes_input = 3;  // Resize-11+; Resize-10/Upsample-9 use scales = 1
  bool has_roi_sizes = true;
};

// One axis of a resize: input length, output length, scale, and the
// unrounded output length the coordinate formulas use (in * scale when scales
// are given, as the ONNX reference does; the integer size otherwise).
struct AxisResize {
  int64_t in_len, out_len;
  double scale, out_len_f, roi_lo = 0, roi_hi = 1;
};

// Input coordinate of output index o along one axis.
double source_coord(const ResizeAttrs& a, int64_t o, const AxisResize& ax) {
  const double x = static_cast<double>(o), in = static_cast<double>(ax.in_len), out = ax.out_len_f;
  switch (a.coord) {
    case Coord::kHalfPixel: return (x + 0.5) / ax.scale - 0.5;
    case Coord::kPytorchHalfPixel: return out > 1 ? (x + 0.5) / ax.scale - 0.5 : 0.0;
    case Coord::kAlignCorners: return out == 1 ? 0.0 : x * (in - 1) / (out - 1);
    case Coord::kAsymmetric: return x / ax.scale;
    case Coord::kTfHalfPixelForNn: return (x + 0.5) / ax.scale;
    case Coord::kTfCropAndResize:
      return out > 1 ? ax.roi_lo * (in - 1) + x * (ax.roi_hi - ax.roi_lo) * (in - 1) / (out - 1)
                     : 0.5 * (ax.roi_lo + ax.roi_hi) * (in - 1);
    case Coord::kHalfPixelSymmetric: {
      const double adj = static_cast<double>(ax.out_len) / out;
      const double center = in / 2;
      return center * (1 - adj) + (x + 0.5) / ax.scale - 0.5;
    }
  }
  return x;
}

int64_t nearest_index(Nearest m, double x, bool downsampling) {
  switch (m) {
    case Nearest::kRoundPreferFloor:
      return x == std::floor(x) + 0.5 ? static_cast<int64_t>(std::floor(x)) : static_cast<int64_t>(std::round(x));
    case Nearest::kRoundPreferCeil: return static_cast<int64_t>(std::round(x));  // round() sends .5 away from 0
    case Nearest::kFloor: return static_cast<int64_t>(std::floor(x));
    case Nearest::kCeil: return static_cast<int64_t>(std::ceil(x));
    case Nearest::kSimple: return downsampling ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
  }
  return 0;
}

// One tap of a 1-D interpolation: input index (-1: extrapolation) and weight.
struct Tap {
  int64_t index;
  double weight;
};

std::vector<Tap> interp_taps(const ResizeAttrs& a, double x_raw, int64_t in_len) {
  // Beyond 3 samples outside the input every tap is clamped or excluded anyway;
  // clamping keeps the float -> int conversion in range.
  const double x = std::clamp(x_raw, -3.0, static_cast<double>(in_len + 2));
  const double fl = std::floor(x), t = x - fl;
  const int64_t i0 = static_cast<int64_t>(fl);
  std::vector<Tap> taps;
  if (a.mode == Mode::kLinear) {
    taps = {{i0, 1 - t}, {i0 + 1, t}};
  } else {
    const double A = a.cubic_a;
    auto far = [A](double s) { return ((A * s - 5 * A) * s + 8 * A) * s - 4 * A; };    // 1 < |s| < 2
    auto near = [A](double s) { return ((A + 2) * s - (A + 3)) * s * s + 1; };         // |s| <= 1
    taps = {{i0 - 1, far(t + 1)}, {i0, near(t)}, {i0 + 1, near(1 - t)}, {i0 + 2, far(2 - t)}};
  }
  double total = 0;
  for (Tap& tap : taps) {
    const bool outside = tap.index < 0 || tap.index >= in_len;
    if (outside && a.exclude_outside) tap.weight = 0;
    tap.index = std::clamp<int64_t>(tap.index, 0, in_len - 1);  // edge padding
    total += tap.weight;
  }
  if (a.exclude_outside && total != 0)
    for (Tap& tap : taps) tap.weight /= total;
  return taps;
}

class ResizeKernel : public detail::NodeKernel {
 public:
  ResizeKernel(const KernelInit& init, ResizeAttrs attrs) : NodeKernel(init), a_(std::move(attrs)) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    const int64_t rank = static_cast<int64_t>(x->rank());
    std::vector<int64_t> axes = a_.axes;
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    } else {
      WQ_ASSIGN_OR_RETURN(axes, detail::normalize_axes(axes, rank, where() + "axes"));
    }
    const size_t na = axes.size();
    // Per-axis geometry over the full rank; unlisted axes stay as they are.
    std::vector<AxisResize> geo(rank);
    for (int64_t d = 0; d < rank; ++d)
      geo[d] = AxisResize{x->dim(d), x->dim(d), 1.0, static_cast<double>(x->dim(d))};
    Shape out = x->shape();
    auto input = [&](size_t i) -> const Tensor* {
      const Tensor* t = i < ctx.num_inputs() ? ctx.input(i) : nullptr;
      return t && t->numel() > 0 ? t : nullptr;  // an empty tensor means "not given"
    };
    std::vector<double> scales_in, sizes_in;
    if (a_.upsample_attr_scales) {
      scales_in.assign(a_.attr_scales.begin(), a_.attr_scales.end());
    } else if (const Tensor* s = input(a_.scales_input)) {
      WQ_ASSIGN_OR_RETURN(scales_in, detail::tensor_to_doubles(*s, where() + "scales"));
    }
    if (a_.has_roi_sizes) {
      if (const Tensor* s = input(a_.sizes_input)) {
        WQ_ASSIGN_OR_RETURN(std::vector<int64_t> v, detail::tensor_to_int64s(*s, where() + "sizes"));
        sizes_in.assign(v.begin(), v.end());
      }
    }
    if (scales_in.empty() == sizes_in.empty())
      return invalid_argument(where() + "exactly one of scales and sizes must be given");
    if (!scales_in.empty()) {
      if (scales_in.size() != na)
        return invalid_argument(where() + "scales has " + std::to_string(scales_in.size()) + " values for " +
                                std::to_string(na) + " axes");
      for (size_t i = 0; i < na; ++i) {
        if (!(scales_in[i] > 0)) return invalid_argument(where() + "scales must be positive");
        // Computed in float like onnxruntime, so e.g. 3 * 0.6f floors the same way.
        const float size = std::floor(static_cast<float>(x->dim(axes[i])) * static_cast<float>(scales_in[i]));
        if (!(size <= static_cast<float>(kMaxTensorBytes)))
          return out_of_memory(where() + "resized axis " + std::to_string(axes[i]) + " is too large");
        AxisResize& g = geo[axes[i]];
        g.out_len = out[axes[i]] = static_cast<int64_t>(size);
        g.scale = scales_in[i];
        g.out_len_f = static_cast<double>(g.in_len) * scales_in[i];
      }
    } else {
      if (sizes_in.size() != na)
        return invalid_argument(where() + "sizes has " + std::to_string(sizes_in.size()) + " values for " +
                                std::to_string(na) + " axes");
      for (size_t i = 0; i < na; ++i) {
        if (sizes_in[i] < 0) return invalid_argument(where() + "sizes must be non-negative");
        AxisResize& g = geo[axes[i]];
        g.out_len = out[axes[i]] = static_cast<int64_t>(sizes_in[i]);
        g.out_len_f = sizes_in[i];
        g.scale = g.in_len > 0 ? sizes_in[i] / static_cast<double>(g.in_len) : 1.0;
      }
    }
    if (a_.coord == Coord::kTfCropAndResize) {
      const Tensor* r = input(a_.roi_input);
      if (!r) return invalid_argument(where() + "roi is required for tf_crop_and_resize");
      WQ_ASSIGN_OR_RETURN(std::vector<double> roi, detail::tensor_to_doubles(*r, where() + "roi"));
      if (roi.size() != 2 * na) return invalid_argument(where() + "roi must have 2 values per axis");
      for (size_t i = 0; i < na; ++i) {
        geo[axes[i]].roi_lo = roi[i];
        geo[axes[i]].roi_hi = roi[i + na];
      }
    }
    WQ_RETURN_IF_ERROR(detail::check_output_size(out, x->dtype(), where()));
    for (int64_t d = 0; d < rank; ++d)
      if (x->dim(d) == 0 && out[d] > 0) return invalid_argument(where() + "cannot resize an empty axis");

    if (a_.mode == Mode::kNearest) return run_nearest(ctx, *x, out, geo);
    return run_interp(ctx, *x, out, geo);
  }

 private:
  bool extrapolates(double c, int64_t in_len) const {
    return a_.coord == Coord::kTfCropAndResize && (c < 0 || c > static_cast<double>(in_len - 1));
  }

  Status run_nearest(KernelContext& ctx, const Tensor& x, const Shape& out, const std::vector<AxisResize>& geo) {
    const size_t rank = x.rank();
    std::vector<std::vector<int64_t>> maps(rank);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t n = x.dim(d);
      for (int64_t o = 0; o < out[d]; ++o) {
        const double c = source_coord(a_, o, geo[d]);
        if (extrapolates(c, n)) {
          maps[d].push_back(-1);
          continue;
        }
        // Clamping first keeps the float -> int conversion in range for extreme scales.
        const double cc = std::clamp(c, -1.0, static_cast<double>(n));
        maps[d].push_back(std::clamp<int64_t>(nearest_index(a_.nearest, cc, geo[d].scale < 1.0), 0, n - 1));
      }
    }
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x.dtype(), out));
    if (y->numel() == 0) return Status::Ok();
    return detail::visit_dtype<detail::AllTypes>(x.dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      detail::gather_by_maps(x.data<T>(), x.shape(), maps, detail::convert<T>(a_.extrapolation), y->mutable_data<T>());
      return Status::Ok();
    });
  }

  Status run_interp(KernelContext& ctx, const Tensor& x, const Shape& out, const std::vector<AxisResize>& geo) {
    return detail::visit_dtype<detail::FloatTypes>(x.dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      Shape cur = x.shape();
      std::vector<double> buf(static_cast<size_t>(x.numel()));
      for (size_t i = 0; i < buf.size(); ++i) buf[i] = detail::load(x.data<T>()[i]);
      // Resize the innermost axes first, like the reference's recursion.
      for (size_t d = cur.size(); d-- > 0;) {
        const int64_t n = cur[d], m = out[d];
        std::vector<std::vector<Tap>> taps(static_cast<size_t>(m));
        bool identity = n == m;
        for (int64_t o = 0; o < m; ++o) {
          const double c = source_coord(a_, o, geo[d]);
          if (!extrapolates(c, n)) taps[o] = interp_taps(a_, c, n);  // empty taps: extrapolation value
          identity = identity && c == static_cast<double>(o);
        }
        if (identity) continue;
        const int64_t outer = detail::dims_product(cur, 0, d), inner = detail::dims_product(cur, d + 1, cur.size());
        WQ_ASSIGN_OR_RETURN(const size_t next_count,
                            detail::scratch_count(outer * m * inner, sizeof(double), where() + "resize buffer"));
        std::vector<double> next(next_count);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t j = 0; j < m; ++j) {
            double* dst = next.data() + (o * m + j) * inner;
            if (taps[j].empty()) {
              std::fill(dst, dst + inner, a_.extrapolation);
              continue;
            }
            std::fill(dst, dst + inner, 0.0);
            for (const Tap& t : taps[j]) {
              const double* src = buf.data() + (o * n + t.index) * inner;
              for (int64_t i = 0; i < inner; ++i) dst[i] += t.weight * src[i];
            }
          }
        buf.swap(next);
        cur[d] = m;
      }
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, x.dtype(), out));
      for (size_t i = 0; i < buf.size(); ++i) y->mutable_data<T>()[i] = detail::store<T>(static_cast<Compute<T>>(buf[i]));
      return Status::Ok();
    });
  }

  ResizeAttrs a_;
};

Result<Mode> parse_mode(const KernelInit& init, bool allow_cubic) {
  std::string m;
  std::vector<std::string> ok = {"nearest", "linear"};
  if (allow_cubic) ok.push_back("cubic");
  // Upsample-7 also accepted "bilinear" as a spelling of linear.
  if (init.op_type() == "Upsample") ok.push_back("bilinear");
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "mode", "nearest", ok, &m));
  if (m == "nearest") return Mode::kNearest;
  if (m == "cubic") return Mode::kCubic;
  return Mode::kLinear;
}

Result<std::unique_ptr<OpKernel>> make_resize(const KernelInit& init) {
  ResizeAttrs a;
  const int opset = init.opset();
  WQ_ASSIGN_OR_RETURN(a.mode, parse_mode(init, opset >= 11));
  if (opset < 11) {
    // Resize-10: asymmetric coordinates, truncating nearest; inputs X, scales.
    a.coord = Coord::kAsymmetric;
    a.nearest = Nearest::kSimple;
    a.scales_input = 1;
    a.has_roi_sizes = false;
    return std::unique_ptr<OpKernel>(new ResizeKernel(init, std::move(a)));
  }
  std::string c;
  std::vector<std::string> coords = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                                     "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  if (opset >= 19) coords.push_back("half_pixel_symmetric");
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "coordinate_transformation_mode", "half_pixel", coords, &c));
  a.coord = c == "half_pixel"             ? Coord::kHalfPixel
            : c == "asymmetric"           ? Coord::kAsymmetric
            : c == "align_corners"        ? Coord::kAlignCorners
            : c == "pytorch_half_pixel"   ? Coord::kPytorchHalfPixel
            : c == "tf_half_pixel_for_nn" ? Coord::kTfHalfPixelForNn
            : c == "tf_crop_and_resize"   ? Coord::kTfCropAndResize
                                          : Coord::kHalfPixelSymmetric;
  std::string n;
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "nearest_mode", "round_prefer_floor",
                                                 {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}, &n));
  a.nearest = n == "round_prefer_floor"  ? Nearest::kRoundPreferFloor
              : n == "round_prefer_ceil" ? Nearest::kRoundPreferCeil
              : n == "floor"             ? Nearest::kFloor
                                         : Nearest::kCeil;
  WQ_ASSIGN_OR_RETURN(float cubic_a, detail::float_attr(init, "cubic_coeff_a", -0.75f));
  WQ_ASSIGN_OR_RETURN(int64_t exclude_outside, detail::int_attr(init, "exclude_outside", 0));
  WQ_ASSIGN_OR_RETURN(float extrapolation, detail::float_attr(init, "extrapolation_value", 0.0f));
  WQ_ASSIGN_OR_RETURN(int64_t antialias, detail::int_attr(init, "antialias", 0));
  a.cubic_a = cubic_a;
  a.exclude_outside = exclude_outside != 0;
  a.extrapolation = extrapolation;
  if (antialias != 0)
    return unsupported(init.context() + "attribute antialias=" + std::to_string(antialias) + " is not supported");
  WQ_RETURN_IF_ERROR(detail::require_string_attr(init, "keep_aspect_ratio_policy", "stretch", {"stretch"}, nullptr));
  WQ_ASSIGN_OR_RETURN(detail::IntsAttr axes, detail::read_ints_attr(init, "axes"));
  a.axes = axes.values;
  return std::unique_ptr<OpKernel>(new ResizeKernel(init, std::move(a)));
}

Result<std::unique_ptr<OpKernel>> make_upsample(const KernelInit& init) {
  ResizeAttrs a;
  WQ_ASSIGN_OR_RETURN(a.mode, parse_mode(init, false));
  a.coord = Coord::kAsymmetric;
  a.nearest = Nearest::kSimple;
  a.has_roi_sizes = false;
  if (init.opset() < 9) {
    a.upsample_attr_scales = true;
    auto s = init.attr_floats("scales");
    if (!s.ok()) return detail::in_node(s.status(), init);
    a.attr_scales = s.value();
    if (a.attr_scales.empty()) return invalid_model(init.context() + "attribute scales is required");
  } else {
    a.scales_input = 1;
  }
  return std::unique_ptr<OpKernel>(new ResizeKernel(init, std::move(a)));
}

}  // namespace

void register_resize_ops(OpRegistry& r) {
  r.add("", "Resize", 10, kMaxSupportedOpset, make_resize);
  r.add("", "Upsample", kMinSupportedOpset, 9, make_upsample);
}

}  // namespace wq
