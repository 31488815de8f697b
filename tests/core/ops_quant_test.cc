// Quantized operators (core/ops/quant_ops.h) through the kernel registry.
//
// The oracle is onnxruntime: tests/data/q8_oracle (q8k's vectors, reused here
// through the operators) and tests/data/qops_oracle (made by the generate.mjs
// next to the data). Integer results must match bit for bit; MatMulNBits, a
// float GEMM, within the error bounds derived in its test. Every oracle case
// runs twice: with the initializers as constants (weights packed when the plan
// is built) and as run-time inputs (packed per run).
#include <doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/kernels/qconv.h"
#include "core/kernels/qgemm.h"
#include "core/qparams.h"
#include "core/runtime/kernel.h"
#include "core/tensor.h"
#include "tests/core/op_test_util.h"

#ifndef WQ_SOURCE_DIR
#define WQ_SOURCE_DIR "."
#endif

namespace wq {
namespace {

using testing::TestKernelContext;
using testing::TestKernelInit;

// ---- oracle files (format: tests/data/qops_oracle/generate.mjs) -------------------

std::map<std::string, Tensor> read_oracle(const std::string& dir, const std::string& name) {
  std::map<std::string, Tensor> out;
  const std::string path = std::string(WQ_SOURCE_DIR) + "/tests/data/" + dir + "/" + name;
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing oracle file " << path);
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t o = 0;
  auto need = [&](size_t n) { REQUIRE_MESSAGE(o + n <= buf.size(), "truncated oracle file " << path); };
  auto u8 = [&]() {
    need(1);
    return buf[o++];
  };
  auto u32 = [&]() {
    need(4);
    uint32_t v;
    std::memcpy(&v, &buf[o], 4);
    o += 4;
    return v;
  };
  need(8);
  REQUIRE(std::memcmp(buf.data(), "WQO1", 4) == 0);
  o = 4;
  const uint32_t count = u32();
  for (uint32_t i = 0; i < count; ++i) {
    const size_t len = u8();
    need(len);
    const std::string tname(reinterpret_cast<const char*>(&buf[o]), len);
    o += len;
    const int dtype = u8();
    const size_t rank = u8();
    Shape dims;
    for (size_t r = 0; r < rank; ++r) {
      need(8);
      int64_t d;
      std::memcpy(&d, &buf[o], 8);
      o += 8;
      dims.push_back(d);
    }
    const uint32_t nbytes = u32();
    need(nbytes);
    REQUIRE(dtype_is_known(dtype));
    auto t = Tensor::allocate(DType(dtype), dims);
    REQUIRE(t.ok());
    REQUIRE_MESSAGE(t->nbytes() == nbytes, tname << ": " << nbytes << " bytes for shape " << shape_to_string(dims));
    if (nbytes) std::memcpy(t->mutable_raw(), &buf[o], nbytes);
    o += nbytes;
    out[tname] = std::move(t).value();
  }
  return out;
}

std::string text_of(const Tensor& t) { return std::string(t.data<char>(), size_t(t.numel())); }

std::vector<int64_t> ints_of(const Tensor& t) {
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

// ---- one node, built by hand or from an oracle file ---------------------------------

struct Node {
  TestKernelInit init;

  Node(const std::string& op, int opset, const std::string& domain = "") {
    init.op_type_ = op;
    init.opset_ = opset;
    init.domain_ = domain;
  }
  Node& in(const Tensor& t, bool constant = false) {
    init.inputs_.push_back(t);
    init.constant_.push_back(constant);
    return *this;
  }
  Node& none() {
    init.inputs_.push_back(std::nullopt);
    init.constant_.push_back(false);
    return *this;
  }
  Node& attr(const std::string& n, int64_t v) {
    init.ints_[n] = v;
    return *this;
  }
  Node& attr_ints(const std::string& n, std::vector<int64_t> v) {
    init.int_lists_[n] = std::move(v);
    return *this;
  }
  Node& attr_str(const std::string& n, const std::string& v) {
    init.strings_[n] = v;
    return *this;
  }
  Node& outputs(size_t n) {
    init.num_outputs_ = n;
    return *this;
  }

  Result<std::unique_ptr<OpKernel>> make() const {
    const KernelFactory* f = builtin_ops().find(init.domain_, init.op_type_, init.opset_);
    if (!f) return unsupported("no kernel for " + init.op_type_ + " at opset " + std::to_string(init.opset_));
    return (*f)(init);
  }
  // Runs `kernel` on `inputs` (default: the node's own).
  Result<std::vector<Tensor>> run_with(OpKernel& kernel, const std::vector<std::optional<Tensor>>& inputs) const {
    TestKernelContext ctx;
    ctx.inputs_ = inputs;
    ctx.num_outputs_ = init.num_outputs_;
    ctx.outputs_.resize(init.num_outputs_);
    WQ_RETURN_IF_ERROR(kernel.run(ctx));
    return ctx.outputs_;
  }
  Result<std::vector<Tensor>> run() const {
    WQ_ASSIGN_OR_RETURN(auto k, make());
    return run_with(*k, init.inputs_);
  }
};

// A node from a qops_oracle file; `constants` keeps initializers constant.
Node node_from_oracle(const std::map<std::string, Tensor>& o, bool constants, std::vector<Tensor>* want) {
  Node node(text_of(o.at("meta.op")), int(ints_of(o.at("meta.opset"))[0]), text_of(o.at("meta.domain")));
  std::map<int, std::pair<Tensor, bool>> slots;
  std::map<int, Tensor> outs;
  for (const auto& kv : o) {
    const std::string& name = kv.first;
    auto slot_of = [&](size_t prefix) { return std::stoi(name.substr(prefix)); };
    if (name.rfind("attr.", 0) == 0) {
      const std::string a = name.substr(5);
      const std::vector<int64_t> v = ints_of(kv.second);
      // Window attributes are lists even with one value.
      if (a == "pads" || a == "strides" || a == "dilations" || a == "kernel_shape") {
        node.attr_ints(a, v);
      } else {
        node.attr(a, v[0]);
      }
    } else if (name.rfind("sattr.", 0) == 0) {
      node.attr_str(name.substr(6), text_of(kv.second));
    } else if (name.rfind("in.", 0) == 0) {
      slots[slot_of(3)] = {kv.second, false};
    } else if (name.rfind("init.", 0) == 0) {
      slots[slot_of(5)] = {kv.second, constants};
    } else if (name.rfind("out.", 0) == 0) {
      outs[slot_of(4)] = kv.second;
    }
  }
  const int last = slots.empty() ? -1 : slots.rbegin()->first;
  for (int i = 0; i <= last; ++i) {
    auto it = slots.find(i);
    if (it == slots.end()) {
      node.none();
    } else {
      node.in(it->second.first, it->second.second);
    }
  }
  want->clear();
  for (const auto& kv : outs) want->push_back(kv.second);
  node.outputs(want->size());
  return node;
}

void require_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  INFO(what);
  REQUIRE(int(got.dtype()) == int(want.dtype()));
  REQUIRE(shape_to_string(got.shape()) == shape_to_string(want.shape()));
  REQUIRE(got.nbytes() == want.nbytes());
  const uint8_t* g = static_cast<const uint8_t*>(got.raw());
  const uint8_t* w = static_cast<const uint8_t*>(want.raw());
  for (size_t i = 0; i < got.nbytes(); ++i) {
    if (g[i] != w[i]) {
      FAIL_CHECK("first difference at byte " << i << ": got " << int(g[i]) << ", want " << int(w[i]));
      return;
    }
  }
}

Tensor q8_tensor(DType t, Shape shape, const std::vector<int32_t>& v) {
  Tensor x = Tensor::allocate(t, std::move(shape)).value();
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::kInt8) {
      x.mutable_data<int8_t>()[i] = int8_t(v[i]);
    } else {
      x.mutable_data<uint8_t>()[i] = uint8_t(v[i]);
    }
  }
  return x;
}

Tensor scalar_f(float v) { return testing::make_tensor<float>({}, {v}); }
Tensor scalar_q(DType t, int32_t v) { return q8_tensor(t, {}, {v}); }

uint32_t g_seed = 0x9e3779b9u;
uint32_t next_rand() {
  g_seed ^= g_seed << 13;
  g_seed ^= g_seed >> 17;
  g_seed ^= g_seed << 5;
  return g_seed;
}
int32_t rand_q8(DType t) { return t == DType::kInt8 ? int32_t(next_rand() % 256) - 128 : int32_t(next_rand() % 256); }
std::vector<int32_t> rand_q8s(DType t, size_t n) {
  std::vector<int32_t> v(n);
  for (auto& x : v) x = rand_q8(t);
  return v;
}

// ---- onnxruntime oracle cases ---------------------------------------------------------

TEST_CASE("qops oracle: integer operators match onnxruntime bit for bit") {
  const char* files[] = {"dql_axis_s8.bin",      "dql_int32.bin",     "dql_blocked_u8.bin", "dql_int4_axis.bin",
                         "dql_uint4.bin",        "ql_axis_s8.bin",    "ql_blocked_s8.bin",  "ql_uint16.bin",
                         "mmi_batched_u8s8.bin", "mmi_s8u8_nozp.bin", "qlmm_percol.bin",    "convinteger_grouped.bin",
                         "qlinearconv_1d_s8.bin"};
  for (const char* file : files) {
    for (bool constants : {true, false}) {
      CAPTURE(file);
      CAPTURE(constants);
      const auto o = read_oracle("qops_oracle", file);
      std::vector<Tensor> want;
      const Node node = node_from_oracle(o, constants, &want);
      auto got = node.run();
      WQ_REQUIRE_OK(got);
      REQUIRE(got->size() == want.size());
      for (size_t i = 0; i < want.size(); ++i)
        require_identical((*got)[i], want[i], std::string(file) + " output " + std::to_string(i));
    }
  }
}

TEST_CASE("qops oracle: QuantizeLinear to int4 is the int8 result clamped to [-8, 7]") {
  const auto o = read_oracle("qops_oracle", "ql_for_int4.bin");
  const Tensor& x = o.at("in.0.x");
  const Tensor& want8 = o.at("out.0.y");
  Tensor zp = Tensor::zeros(DType::kInt4, {}).value();
  zp.mutable_data<uint8_t>()[0] = uint8_t(o.at("init.2.z").data<int8_t>()[0] & 0xF);
  auto got = Node("QuantizeLinear", 21).in(x).in(o.at("init.1.s"), true).in(zp, true).run();
  WQ_REQUIRE_OK(got);
  const Tensor& y = (*got)[0];
  REQUIRE(y.dtype() == DType::kInt4);
  REQUIRE(y.numel() == x.numel());
  int distinct_clamps = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int32_t q8 = want8.data<int8_t>()[i];
    const int32_t want = std::min(7, std::max(-8, q8));
    distinct_clamps += want != q8;
    const int nib = (y.data<uint8_t>()[i >> 1] >> ((i & 1) * 4)) & 0xF;
    CHECK((nib >= 8 ? nib - 16 : nib) == want);
  }
  CHECK(distinct_clamps > 0);                                               // the case exercises saturation
  if (x.numel() & 1) CHECK((y.data<uint8_t>()[x.numel() >> 1] >> 4) == 0);  // the pad nibble is written as 0
}

// q8k's vectors (tests/data/q8_oracle) through the operators.
struct Q8Case {
  const char* file;
  const char* op;
  int opset;
  std::vector<const char*> inputs;  // by slot; the first is a run-time input, the rest initializers
  std::vector<const char*> outputs;
};

TEST_CASE("q8 oracle: QuantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, QLinearConv") {
  const std::vector<Q8Case> cases = {
      {"quantize_u8.bin", "QuantizeLinear", 13, {"x", "s", "z"}, {"y"}},
      {"quantize_s8.bin", "QuantizeLinear", 10, {"x", "s", "z"}, {"y"}},
      {"quantize_axis.bin", "QuantizeLinear", 13, {"x", "s", "z"}, {"y"}},
      {"dql_mixed.bin", "DynamicQuantizeLinear", 11, {"x"}, {"y", "y_scale", "y_zero_point"}},
      {"dql_positive.bin", "DynamicQuantizeLinear", 11, {"x"}, {"y", "y_scale", "y_zero_point"}},
      {"dql_zero.bin", "DynamicQuantizeLinear", 11, {"x"}, {"y", "y_scale", "y_zero_point"}},
      {"matmulinteger.bin", "MatMulInteger", 10, {"a", "b", "az", "bz"}, {"y"}},
      {"qlinearmatmul_u8s8.bin", "QLinearMatMul", 10, {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"}},
      {"qlinearmatmul_u8u8.bin", "QLinearMatMul", 10, {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"}},
      {"qlinearmatmul_s8s8.bin", "QLinearMatMul", 21, {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"}},
      {"qlinearconv_dense.bin", "QLinearConv", 10, {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"}},
      {"qlinearconv_strided.bin", "QLinearConv", 10, {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"}},
      {"qlinearconv_depthwise.bin", "QLinearConv", 10, {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"}},
      {"qlinearconv_dw_s2.bin", "QLinearConv", 10, {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"}},
      {"qlinearconv_grouped_u8w.bin", "QLinearConv", 10, {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"}},
  };
  for (const Q8Case& c : cases) {
    for (bool constants : {true, false}) {
      CAPTURE(c.file);
      CAPTURE(constants);
      const auto o = read_oracle("q8_oracle", c.file);
      Node node(c.op, c.opset);
      for (size_t i = 0; i < c.inputs.size(); ++i) node.in(o.at(std::string("in.") + c.inputs[i]), constants && i > 0);
      for (const auto& kv : o) {
        if (kv.first.rfind("attr.", 0) != 0) continue;
        const std::string a = kv.first.substr(5);
        if (a == "axis" || a == "group") {
          node.attr(a, ints_of(kv.second)[0]);
        } else {
          node.attr_ints(a, ints_of(kv.second));
        }
      }
      node.outputs(c.outputs.size());
      auto got = node.run();
      WQ_REQUIRE_OK(got);
      for (size_t i = 0; i < c.outputs.size(); ++i) {
        const Tensor& want = o.at(std::string("out.") + c.outputs[i]);
        // The oracle stores scalars with whatever rank onnxruntime reported.
        const Tensor& g = (*got)[i];
        if (want.numel() == 1 && g.numel() == 1) {
          REQUIRE(int(g.dtype()) == int(want.dtype()));
          CHECK(std::memcmp(g.raw(), want.raw(), g.nbytes()) == 0);
        } else {
          require_identical(g, want, std::string(c.file) + " " + c.outputs[i]);
        }
      }
    }
  }
}

// ---- MatMulNBits ---------------------------------------------------------------------

// MatMulNBits against onnxruntime. Neither result is exact, so each is held to
// the exact product of the dequantized weights (in double), with a bound that
// follows from how it computes:
// * fp32 accumulation (accuracy_level 0, and onnxruntime's own result at either
//   level): |err| <= kF32 * S, S = sum_k |a_k w_k| + |bias|. A K-term fp32 sum
//   carries at most ~K * 2^-24 relative error; K <= 300 here gives 1.8e-5, and
//   kF32 = 2e-5 covers it.
// * int8 activations (accuracy_level 4): each block's activations are rounded
//   to multiples of a_scale_b = max|a| / 127, so each product moves by at most
//   a_scale_b / 2 * |w_k|: |err| <= Q + kF32 * S with Q = sum_b a_scale_b / 2 *
//   sum_{k in b} |w_k|.
// And ours against onnxruntime at either level: 2 * kF32 * S, because
// onnxruntime's int8 path quantizes each activation block exactly as ours does
// (scale max|a| / 127), leaving only the order of the fp32 sums.
TEST_CASE("MatMulNBits matches onnxruntime within the fp32 / int8-activation error bounds") {
  constexpr double kF32 = 2e-5;
  for (const char* file : {"nbits_gemv_zp_acc4.bin", "nbits_gemv_zp_acc0.bin", "nbits_gemm_nozp_acc0.bin",
                           "nbits_gemm_nozp_acc4.bin", "nbits_gemm_zp_b128_acc4.bin"}) {
    for (bool constants : {true, false}) {
      CAPTURE(file);
      CAPTURE(constants);
      const auto o = read_oracle("qops_oracle", file);
      std::vector<Tensor> want;
      const Node node = node_from_oracle(o, constants, &want);
      auto got = node.run();
      WQ_REQUIRE_OK(got);
      const Tensor& y = (*got)[0];
      REQUIRE(shape_to_string(y.shape()) == shape_to_string(want[0].shape()));

      const int64_t K = ints_of(o.at("attr.K"))[0], N = ints_of(o.at("attr.N"))[0];
      const int64_t block = ints_of(o.at("attr.block_size"))[0], level = ints_of(o.at("attr.accuracy_level"))[0];
      const int64_t blocks = (K + block - 1) / block;
      const Tensor& a = o.at("in.0.a");
      const Tensor& b = o.at("init.1.b");
      const float* scales = o.at("init.2.scales").data<float>();
      const uint8_t* zps = o.count("init.3.zp") ? o.at("init.3.zp").data<uint8_t>() : nullptr;
      const float* bias = o.count("init.5.bias") ? o.at("init.5.bias").data<float>() : nullptr;
      std::vector<double> w(size_t(N * K));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t bb = k / block, t = k % block;
          const int q = (b.data<uint8_t>()[(n * blocks + bb) * (block / 2) + t / 2] >> ((t & 1) * 4)) & 0xF;
          const int z = zps ? (zps[n * ((blocks + 1) / 2) + bb / 2] >> ((bb & 1) * 4)) & 0xF : 8;
          w[size_t(n * K + k)] = double(scales[n * blocks + bb]) * (q - z);
        }
      const int64_t M = a.numel() / K;
      for (int64_t m = 0; m < M; ++m) {
        const float* row = a.data<float>() + m * K;
        std::vector<double> a_half_step(static_cast<size_t>(blocks));
        for (int64_t bb = 0; bb < blocks; ++bb) {
          float mx = 0;
          for (int64_t k = bb * block; k < std::min(K, (bb + 1) * block); ++k) mx = std::max(mx, std::fabs(row[k]));
          a_half_step[size_t(bb)] = double(mx) / 127.0 / 2.0;
        }
        for (int64_t n = 0; n < N; ++n) {
          double exact = bias ? bias[n] : 0.0, s = bias ? std::fabs(bias[n]) : 0.0, q = 0;
          for (int64_t k = 0; k < K; ++k) {
            const double p = double(row[k]) * w[size_t(n * K + k)];
            exact += p;
            s += std::fabs(p);
            q += a_half_step[size_t(k / block)] * std::fabs(w[size_t(n * K + k)]);
          }
          const double ours = y.data<float>()[m * N + n], ort = want[0].data<float>()[m * N + n];
          const double bound = (level == 4 ? q : 0.0) + kF32 * s + 1e-30;
          CAPTURE(m);
          CAPTURE(n);
          CHECK(std::fabs(ours - exact) <= bound);
          CHECK(std::fabs(ort - exact) <= bound);
          // Both sides quantize activations the same way (symmetric, per block,
          // round half to even), so only the fp32 sums differ.
          CHECK(std::fabs(ours - ort) <= 2 * kF32 * s + 1e-30);
        }
      }
    }
  }
}

// ---- MatMulInteger / QLinearMatMul against the scalar definition -----------------------

// Naive batched matmul of 8-bit operands with per-row A and per-column B zero
// points, then (QLinearMatMul) fp32 requantization: the definition in
// doc/quantization.md written as loops.
struct RefMatMul {
  Shape a_shape, b_shape;
  DType at, bt;
  std::vector<int32_t> a, b, a_zp, b_zp;  // zero points: 1, per row / column, or per row / column of every matrix
  std::vector<float> a_scale, b_scale;
  float y_scale = 1;
  int32_t y_zp = 0;
  DType yt = DType::kUInt8;
};

// Output values (int32 accumulators or requantized) in the output's row-major order.
std::vector<int32_t> ref_matmul(const RefMatMul& r, bool linear, Shape* out_shape) {
  Shape sa = r.a_shape, sb = r.b_shape;
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const size_t rank = std::max(ba.size(), bb.size());
  Shape batch(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - ba.size() ? 1 : ba[i - (rank - ba.size())];
    const int64_t db = i < rank - bb.size() ? 1 : bb[i - (rank - bb.size())];
    batch[i] = std::max(da, db);
  }
  *out_shape = batch;
  if (!a_vec) out_shape->push_back(M);
  if (!b_vec) out_shape->push_back(N);
  const int64_t nbatch = shape_numel(batch);
  std::vector<int32_t> y;
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    // Offsets of A's and B's matrices for this batch index (broadcast).
    int64_t ia = 0, ib = 0, rem = bi, sa_mul = 1, sb_mul = 1;
    for (size_t d = rank; d-- > 0;) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      const size_t oa = rank - ba.size(), ob = rank - bb.size();
      if (d >= oa) {
        const int64_t dim = ba[d - oa];
        ia += (dim == 1 ? 0 : idx) * sa_mul;
        sa_mul *= dim;
      }
      if (d >= ob) {
        const int64_t dim = bb[d - ob];
        ib += (dim == 1 ? 0 : idx) * sb_mul;
        sb_mul *= dim;
      }
    }
    for (int64_t m = 0; m < M; ++m) {
      const int64_t row = ia * M + m;
      const size_t azi = r.a_zp.size() <= 1 ? 0 : size_t(row % int64_t(r.a_zp.size()));
      const int32_t az = r.a_zp.empty() ? 0 : r.a_zp[azi];
      for (int64_t n = 0; n < N; ++n) {
        const size_t bzi = r.b_zp.size() <= 1 ? 0 : size_t(int64_t(r.b_zp.size()) == N ? n : ib * N + n);
        const int32_t bz = r.b_zp.empty() ? 0 : r.b_zp[bzi];
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += int64_t(r.a[size_t((ia * M + m) * K + k)] - az) * (r.b[size_t((ib * K + k) * N + n)] - bz);
        if (!linear) {
          y.push_back(int32_t(acc));
          continue;
        }
        const float as = r.a_scale[r.a_scale.size() == 1 ? 0 : size_t(row % int64_t(r.a_scale.size()))];
        const float bs = r.b_scale[r.b_scale.size() == 1 ? 0 : size_t(int64_t(r.b_scale.size()) == N ? n : ib * N + n)];
        const bool s8 = r.yt == DType::kInt8;
        y.push_back(
            requantize_fp32(int32_t(acc), requant_scale(as, bs, r.y_scale), r.y_zp, s8 ? -128 : 0, s8 ? 127 : 255));
      }
    }
  }
  return y;
}

std::vector<int32_t> values_as_i32(const Tensor& t) {
  std::vector<int32_t> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.dtype()) {
      case DType::kInt32:
        v[i] = t.data<int32_t>()[i];
        break;
      case DType::kInt8:
        v[i] = t.data<int8_t>()[i];
        break;
      default:
        v[i] = t.data<uint8_t>()[i];
        break;
    }
  }
  return v;
}

// Shape of a per-row / per-column parameter with `count` values.
Shape line_shape(size_t count) { return count == 1 ? Shape{} : Shape{int64_t(count)}; }

void check_qmatmul(const RefMatMul& r, bool linear, bool constants) {
  Shape out_shape;
  const std::vector<int32_t> want = ref_matmul(r, linear, &out_shape);
  Node node(linear ? "QLinearMatMul" : "MatMulInteger", 10);
  const Tensor a = q8_tensor(r.at, r.a_shape, r.a), b = q8_tensor(r.bt, r.b_shape, r.b);
  auto zp_or_none = [&](DType t, const std::vector<int32_t>& zp, bool constant) {
    if (zp.empty()) {
      node.none();
    } else {
      node.in(q8_tensor(t, line_shape(zp.size()), zp), constant);
    }
  };
  if (linear) {
    node.in(a).in(testing::make_tensor<float>(line_shape(r.a_scale.size()), r.a_scale));
    zp_or_none(r.at, r.a_zp, false);
    node.in(b, constants).in(testing::make_tensor<float>(line_shape(r.b_scale.size()), r.b_scale), constants);
    zp_or_none(r.bt, r.b_zp, constants);
    node.in(scalar_f(r.y_scale), constants).in(scalar_q(r.yt, r.y_zp), constants);
  } else {
    node.in(a).in(b, constants);
    zp_or_none(r.at, r.a_zp, false);
    zp_or_none(r.bt, r.b_zp, constants);
  }
  auto got = node.run();
  WQ_REQUIRE_OK(got);
  const Tensor& y = (*got)[0];
  REQUIRE(shape_to_string(y.shape()) == shape_to_string(out_shape));
  REQUIRE(y.dtype() == (linear ? r.yt : DType::kInt32));
  CHECK(values_as_i32(y) == want);
}

RefMatMul random_matmul(Shape a_shape, Shape b_shape, DType at, DType bt, size_t a_zp_count, size_t b_zp_count) {
  RefMatMul r;
  r.a_shape = std::move(a_shape);
  r.b_shape = std::move(b_shape);
  r.at = at;
  r.bt = bt;
  r.a = rand_q8s(at, size_t(shape_numel(r.a_shape)));
  r.b = rand_q8s(bt, size_t(shape_numel(r.b_shape)));
  r.a_zp = rand_q8s(at, a_zp_count);
  r.b_zp = rand_q8s(bt, b_zp_count);
  return r;
}

TEST_CASE("MatMulInteger / QLinearMatMul match the scalar definition (tails, GEMV, zero points, both signs)") {
  const int64_t shapes[][3] = {{1, 1, 1},   {1, 16, 8}, {1, 33, 17}, {2, 3, 9},    {3, 17, 7},  {4, 8, 8},
                               {5, 15, 16}, {7, 2, 31}, {9, 64, 9},  {17, 31, 33}, {33, 5, 65}, {65, 130, 3}};
  const DType types[] = {DType::kUInt8, DType::kInt8};
  int c = 0;
  for (const auto& s : shapes) {
    const int64_t M = s[0], K = s[1], N = s[2];
    for (DType at : types)
      for (DType bt : types) {
        ++c;
        CAPTURE(M);
        CAPTURE(K);
        CAPTURE(N);
        CAPTURE(int(at));
        CAPTURE(int(bt));
        // Zero points: none, per tensor, per row / per column in turn.
        const size_t a_zp = c % 3 == 0 ? 0 : (c % 3 == 1 ? 1 : size_t(M));
        const size_t b_zp = c % 4 == 0 ? 0 : (c % 4 == 1 ? 1 : size_t(N));
        RefMatMul r = random_matmul({M, K}, {K, N}, at, bt, a_zp, b_zp);
        check_qmatmul(r, false, c % 2 == 0);
        // QLinearMatMul needs zero points of A and B (same shapes as the scales).
        if (r.a_zp.empty()) r.a_zp = rand_q8s(at, 1);
        if (r.b_zp.empty()) r.b_zp = rand_q8s(bt, 1);
        for (size_t i = 0; i < r.a_zp.size(); ++i) r.a_scale.push_back(0.01f + float(next_rand() % 100) * 1e-4f);
        for (size_t i = 0; i < r.b_zp.size(); ++i) r.b_scale.push_back(0.002f + float(next_rand() % 100) * 1e-4f);
        r.y_scale = 0.05f + float(next_rand() % 50) * 0.01f;
        r.yt = c % 2 ? DType::kInt8 : DType::kUInt8;
        r.y_zp = rand_q8(r.yt);
        check_qmatmul(r, true, c % 2 == 1);
      }
  }
}

TEST_CASE("MatMulInteger / QLinearMatMul broadcast batches and vectors like numpy") {
  for (bool constants : {true, false}) {
    CAPTURE(constants);
    // A batches broadcast against B batches; per-row A and per-matrix per-column B zero points.
    RefMatMul r = random_matmul({2, 1, 5, 7}, {3, 7, 6}, DType::kUInt8, DType::kInt8, 2 * 5, 3 * 6);
    check_qmatmul(r, false, constants);
    r.a_scale.assign(1, 0.02f);
    r.a_zp.assign(1, 100);
    r.b_scale.clear();
    for (int i = 0; i < 3 * 6; ++i) r.b_scale.push_back(0.003f * float(1 + i % 5));
    r.y_scale = 0.3f;
    r.y_zp = 128;
    check_qmatmul(r, true, constants);
    // One B for a batch of A (rows folded into one GEMM), per-row A scales.
    RefMatMul f = random_matmul({3, 4, 9}, {9, 10}, DType::kInt8, DType::kUInt8, 3 * 4, 10);
    f.a_scale.clear();
    for (int i = 0; i < 12; ++i) f.a_scale.push_back(0.01f * float(1 + i % 4));
    f.b_scale.assign(10, 0.01f);
    f.y_scale = 0.2f;
    f.y_zp = -3;
    f.yt = DType::kInt8;
    check_qmatmul(f, false, constants);
    check_qmatmul(f, true, constants);
    // Vectors: [K] x [K, N] -> [N] and [M, K] x [K] -> [M].
    check_qmatmul(random_matmul({12}, {12, 5}, DType::kUInt8, DType::kUInt8, 1, 5), false, constants);
    check_qmatmul(random_matmul({4, 12}, {12}, DType::kInt8, DType::kInt8, 4, 1), false, constants);
  }
}

TEST_CASE("constant weights are packed when the plan is built") {
  // The factory packs the initializer; a run sees the packed copy even if the
  // (by contract unchanging) input slot held something else.
  const Tensor a = q8_tensor(DType::kUInt8, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b1 = q8_tensor(DType::kInt8, {3, 2}, {1, 0, 0, 1, 1, 1});
  const Tensor b2 = q8_tensor(DType::kInt8, {3, 2}, {0, 0, 0, 0, 0, 0});
  Node node("MatMulInteger", 10);
  node.in(a).in(b1, true);
  auto kernel = node.make();
  WQ_REQUIRE_OK(kernel);
  auto y = node.run_with(**kernel, {a, b2});
  WQ_REQUIRE_OK(y);
  CHECK(testing::values_of<int32_t>((*y)[0]) == std::vector<int32_t>{4, 5, 10, 11});
  // A run-time B is packed per run.
  Node dynamic("MatMulInteger", 10);
  dynamic.in(a).in(b1);
  auto dk = dynamic.make();
  WQ_REQUIRE_OK(dk);
  y = dynamic.run_with(**dk, {a, b2});
  WQ_REQUIRE_OK(y);
  CHECK(testing::values_of<int32_t>((*y)[0]) == std::vector<int32_t>{0, 0, 0, 0});
}

// ---- convolutions against the reference ------------------------------------------------

TEST_CASE("QLinearConv / ConvInteger match the reference and repack when the input shape changes") {
  struct ConvCase {
    int64_t c_in, c_out, kh, kw, group;
    std::vector<int64_t> strides, pads, dilations;
    bool per_channel;
  };
  const ConvCase cases[] = {
      {3, 8, 3, 3, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},
      {6, 6, 3, 3, 6, {2, 2}, {1, 0, 1, 1}, {1, 1}, true},   // depthwise
      {4, 8, 3, 3, 4, {1, 1}, {1, 1, 1, 1}, {1, 1}, false},  // channel multiplier 2
      {4, 6, 1, 1, 2, {1, 1}, {0, 0, 0, 0}, {1, 1}, false},
      {2, 5, 2, 3, 1, {2, 1}, {0, 2, 1, 0}, {2, 1}, true},
  };
  for (const ConvCase& cc : cases) {
    for (bool linear : {true, false}) {
      CAPTURE(cc.c_in);
      CAPTURE(cc.c_out);
      CAPTURE(cc.group);
      CAPTURE(linear);
      const DType xt = DType::kUInt8, wt = linear ? DType::kInt8 : DType::kUInt8;
      const Shape wshape = {cc.c_out, cc.c_in / cc.group, cc.kh, cc.kw};
      const Tensor w = q8_tensor(wt, wshape, rand_q8s(wt, size_t(shape_numel(wshape))));
      std::vector<int32_t> wzp = rand_q8s(wt, cc.per_channel && linear ? size_t(cc.c_out) : 1);
      std::vector<float> ws;
      for (size_t i = 0; i < wzp.size(); ++i) ws.push_back(0.002f + 0.001f * float(i % 7));
      std::vector<int32_t> bias(size_t(cc.c_out));
      for (auto& v : bias) v = int32_t(next_rand() % 4001) - 2000;
      const int32_t xz = 117, yz = 9;
      const float xs = 0.03f, ys = 0.11f;
      Node node(linear ? "QLinearConv" : "ConvInteger", 10);
      node.attr_ints("strides", cc.strides).attr_ints("pads", cc.pads).attr_ints("dilations", cc.dilations);
      node.attr("group", cc.group);
      const Tensor wzp_t = q8_tensor(wt, line_shape(wzp.size()), wzp);
      const Tensor bias_t = testing::make_tensor<int32_t>({cc.c_out}, bias);
      // Inputs by slot; slot 0 (x) is filled per run.
      std::vector<std::optional<Tensor>> slots;
      if (linear) {
        slots = {std::nullopt,
                 scalar_f(xs),
                 scalar_q(xt, xz),
                 w,
                 testing::make_tensor<float>(line_shape(ws.size()), ws),
                 wzp_t,
                 scalar_f(ys),
                 scalar_q(DType::kUInt8, yz),
                 bias_t};
      } else {
        slots = {std::nullopt, w, scalar_q(xt, xz), wzp_t};
      }
      node.in(q8_tensor(xt, {1, cc.c_in, 1, 1}, std::vector<int32_t>(size_t(cc.c_in), 0)));
      for (size_t i = 1; i < slots.size(); ++i) node.in(*slots[i], true);
      auto kernel = node.make();
      WQ_REQUIRE_OK(kernel);
      const int64_t sizes[][3] = {{1, 9, 9}, {2, 6, 11}, {1, 9, 9}, {1, 5, 16}};
      for (const auto& sz : sizes) {
        CAPTURE(sz[1]);
        CAPTURE(sz[2]);
        const Shape xshape = {sz[0], cc.c_in, sz[1], sz[2]};
        const std::vector<int32_t> xv = rand_q8s(xt, size_t(shape_numel(xshape)));
        slots[0] = q8_tensor(xt, xshape, xv);
        auto got = node.run_with(**kernel, slots);
        WQ_REQUIRE_OK(got);
        QConvShape s;
        s.n = size_t(sz[0]);
        s.c_in = size_t(cc.c_in);
        s.c_out = size_t(cc.c_out);
        s.h = size_t(sz[1]);
        s.w = size_t(sz[2]);
        s.kh = size_t(cc.kh);
        s.kw = size_t(cc.kw);
        s.stride_h = size_t(cc.strides[0]);
        s.stride_w = size_t(cc.strides[1]);
        s.dilation_h = size_t(cc.dilations[0]);
        s.dilation_w = size_t(cc.dilations[1]);
        s.pad_top = size_t(cc.pads[0]);
        s.pad_left = size_t(cc.pads[1]);
        s.pad_bottom = size_t(cc.pads[2]);
        s.pad_right = size_t(cc.pads[3]);
        s.groups = size_t(cc.group);
        const size_t oh = qconv_out_dim(s.h, s.kh, s.stride_h, s.dilation_h, s.pad_top, s.pad_bottom);
        const size_t ow = qconv_out_dim(s.w, s.kw, s.stride_w, s.dilation_w, s.pad_left, s.pad_right);
        std::vector<int32_t> acc(s.n * s.c_out * oh * ow);
        std::vector<uint8_t> xb(xv.begin(), xv.end()), wb(size_t(w.nbytes()));
        std::memcpy(wb.data(), w.raw(), wb.size());
        qs8_conv_acc__scalar(s, xb.data(), false, xz, wb.data(), wt == DType::kInt8, wzp.data(), wzp.size() > 1,
                             linear ? bias.data() : nullptr, acc.data());
        const Tensor& y = (*got)[0];
        REQUIRE(shape_to_string(y.shape()) == shape_to_string({sz[0], cc.c_out, int64_t(oh), int64_t(ow)}));
        std::vector<int32_t> want = acc;
        if (linear) {
          for (size_t i = 0; i < acc.size(); ++i) {
            const size_t co = (i / (oh * ow)) % s.c_out;
            want[i] = requantize_fp32(acc[i], requant_scale(xs, ws[ws.size() == 1 ? 0 : co], ys), yz, 0, 255);
          }
        }
        CHECK(values_as_i32(y) == want);
      }
    }
  }
}

// ---- element-wise details ---------------------------------------------------------------

TEST_CASE("DequantizeLinear with a float16 scale produces float16 (opset 19)") {
  const Tensor x = q8_tensor(DType::kInt8, {5}, {-128, -1, 0, 7, 127});
  Tensor s = Tensor::allocate(DType::kFloat16, {}).value();
  s.mutable_data<uint16_t>()[0] = float_to_half(0.0625f);
  const Tensor z = scalar_q(DType::kInt8, 3);
  auto got = Node("DequantizeLinear", 19).in(x).in(s, true).in(z, true).run();
  WQ_REQUIRE_OK(got);
  const Tensor& y = (*got)[0];
  REQUIRE(y.dtype() == DType::kFloat16);
  const int32_t xs[] = {-128, -1, 0, 7, 127};
  for (int i = 0; i < 5; ++i) CHECK(y.data<uint16_t>()[i] == float_to_half(float(xs[i] - 3) * 0.0625f));
}

TEST_CASE("QuantizeLinear output type: uint8 by default, output_dtype at opset 21") {
  const Tensor x = testing::make_tensor<float>({4}, {-1.0f, 0.26f, 1.5f, 300.0f});
  auto u8 = Node("QuantizeLinear", 13).in(x).in(scalar_f(0.5f)).run();
  WQ_REQUIRE_OK(u8);
  CHECK((*u8)[0].dtype() == DType::kUInt8);
  CHECK(testing::values_of<uint8_t>((*u8)[0]) == std::vector<uint8_t>{0, 1, 3, 255});
  auto s8 = Node("QuantizeLinear", 21).attr("output_dtype", int64_t(DType::kInt8)).in(x).in(scalar_f(0.5f)).run();
  WQ_REQUIRE_OK(s8);
  CHECK((*s8)[0].dtype() == DType::kInt8);
  CHECK(testing::values_of<int8_t>((*s8)[0]) == std::vector<int8_t>{-2, 1, 3, 127});
}

TEST_CASE("DynamicQuantizeLinear returns scalar scale and zero point") {
  const Tensor x = testing::make_tensor<float>({2, 3}, {-1.0f, 0.0f, 2.0f, 0.5f, -0.25f, 1.0f});
  auto got = Node("DynamicQuantizeLinear", 11).outputs(3).in(x).run();
  WQ_REQUIRE_OK(got);
  CHECK((*got)[0].shape() == Shape{2, 3});
  CHECK((*got)[1].rank() == 0);
  CHECK((*got)[2].rank() == 0);
  CHECK((*got)[1].data<float>()[0] == doctest::Approx(3.0f / 255.0f));
  CHECK(int((*got)[2].data<uint8_t>()[0]) == 85);
}

// ---- errors ------------------------------------------------------------------------------

void require_code(const Status& s, StatusCode code, const std::string& needle) {
  INFO(s.to_string());
  CHECK(s.code() == code);
  CHECK(s.message().find(needle) != std::string::npos);
}

template <typename R>
Status status_of_run(const R& r) {
  return r.ok() ? Status::Ok() : r.status();
}

TEST_CASE("MatMulNBits rejects what it does not implement, naming the attribute or input") {
  const int64_t K = 64, N = 4;
  auto base = [&](int64_t block) {
    Node n("MatMulNBits", 1, "com.microsoft");
    n.attr("K", K).attr("N", N).attr("block_size", block);
    const int64_t blocks = (K + block - 1) / block;
    n.in(Tensor::zeros(DType::kFloat32, {1, K}).value());
    n.in(Tensor::zeros(DType::kUInt8, {N, blocks, block / 2}).value(), true);
    n.in(testing::make_tensor<float>({N, blocks}, std::vector<float>(size_t(N * blocks), 0.5f)), true);
    return n;
  };
  // bits 2 and 8 and 16-element blocks run (tests/core/runtime_optimize_test.cc); 3 bits do not.
  require_code(status_of_run(base(32).attr("bits", 3).make()), StatusCode::kUnsupported, "bits");
  require_code(status_of_run(base(32).attr("weight_prepacked", 1).make()), StatusCode::kUnsupported,
               "weight_prepacked");
  require_code(status_of_run(base(32).attr("accuracy_level", 9).make()), StatusCode::kInvalidModel, "accuracy_level");
  require_code(status_of_run(base(24).make()), StatusCode::kInvalidModel, "block_size");
  {
    Node n = base(32);
    n.in(Tensor::zeros(DType::kFloat32, {N, 2}).value(), true);  // float zero points
    require_code(status_of_run(n.make()), StatusCode::kUnsupported, "zero_points");
  }
  {
    Node n = base(32);
    n.none().in(Tensor::zeros(DType::kInt32, {K}).value(), true);  // g_idx
    require_code(status_of_run(n.make()), StatusCode::kUnsupported, "g_idx");
  }
  {
    Node n("MatMulNBits", 1, "com.microsoft");
    n.attr("N", N).attr("block_size", 32);
    require_code(status_of_run(n.make()), StatusCode::kInvalidModel, "K");
  }
  {
    // A's last dimension must be K; B's shape must follow the attributes.
    Node n = base(32);
    n.init.inputs_[0] = Tensor::zeros(DType::kFloat32, {1, K + 1}).value();
    require_code(status_of_run(n.run()), StatusCode::kInvalidArgument, "K");
    Node bad = base(32);
    bad.init.inputs_[1] = Tensor::zeros(DType::kUInt8, {N, 1, 16}).value();
    require_code(status_of_run(bad.make()), StatusCode::kInvalidArgument, "B must be uint8");
  }
}

TEST_CASE("quantized operators reject unsupported types and malformed parameters") {
  const Tensor x = testing::make_tensor<float>({2, 3}, {0, 1, 2, 3, 4, 5});
  // QuantizeLinear to float8 (opset 21 output_dtype) is not implemented.
  require_code(status_of_run(Node("QuantizeLinear", 21).attr("output_dtype", int64_t(DType::kFloat8E4M3FN)).make()),
               StatusCode::kUnsupported, "output_dtype");
  // Per-axis scales need opset 13.
  require_code(status_of_run(Node("QuantizeLinear", 10).in(x).in(testing::make_tensor<float>({3}, {1, 1, 1})).run()),
               StatusCode::kInvalidArgument, "scalar");
  // Block-wise scale with the wrong number of blocks.
  require_code(status_of_run(Node("QuantizeLinear", 21)
                                 .attr("axis", 1)
                                 .attr("block_size", 2)
                                 .in(x)
                                 .in(testing::make_tensor<float>({2, 1}, {1, 1}))
                                 .run()),
               StatusCode::kInvalidArgument, "block_size");
  // Per-axis scale of the wrong length.
  require_code(status_of_run(Node("DequantizeLinear", 13)
                                 .attr("axis", 0)
                                 .in(q8_tensor(DType::kUInt8, {2, 3}, {0, 1, 2, 3, 4, 5}))
                                 .in(testing::make_tensor<float>({3}, {1, 1, 1}))
                                 .run()),
               StatusCode::kInvalidArgument, "per-axis");
  // float8 inputs are not implemented.
  require_code(
      status_of_run(
          Node("DequantizeLinear", 21).in(Tensor::zeros(DType::kFloat8E4M3FN, {2}).value()).in(scalar_f(1.0f)).run()),
      StatusCode::kUnsupported, "float8");
  // Zero point type must match the data.
  require_code(status_of_run(Node("MatMulInteger", 10)
                                 .in(q8_tensor(DType::kUInt8, {1, 2}, {1, 2}))
                                 .in(q8_tensor(DType::kInt8, {2, 1}, {1, 2}))
                                 .in(scalar_q(DType::kInt8, 0))
                                 .run()),
               StatusCode::kInvalidArgument, "a_zero_point");
  require_code(status_of_run(Node("MatMulInteger", 10)
                                 .in(q8_tensor(DType::kUInt8, {1, 2}, {1, 2}))
                                 .in(q8_tensor(DType::kInt8, {3, 1}, {1, 2, 3}))
                                 .run()),
               StatusCode::kInvalidArgument, "inner dimensions");
  require_code(status_of_run(Node("MatMulInteger", 10)
                                 .in(q8_tensor(DType::kUInt8, {2, 2}, {1, 2, 3, 4}))
                                 .in(q8_tensor(DType::kInt8, {2, 2}, {1, 2, 3, 4}))
                                 .in(q8_tensor(DType::kUInt8, {3}, {1, 2, 3}))
                                 .run()),
               StatusCode::kInvalidArgument, "a_zero_point");
  // 3-D convolutions are not implemented.
  require_code(status_of_run(Node("ConvInteger", 10)
                                 .in(Tensor::zeros(DType::kUInt8, {1, 1, 2, 2, 2}).value())
                                 .in(Tensor::zeros(DType::kUInt8, {1, 1, 1, 1, 1}).value(), true)
                                 .run()),
               StatusCode::kUnsupported, "1-D and 2-D");
  require_code(
      status_of_run(Node("DynamicQuantizeLinear", 11).outputs(3).in(q8_tensor(DType::kUInt8, {2}, {1, 2})).run()),
      StatusCode::kUnsupported, "uint8");
}

}  // namespace
}  // namespace wq
