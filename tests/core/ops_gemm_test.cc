// Gemm, MatMul (numpy broadcasting, 1-D operands) and Einsum.
#include <doctest.h>

#include <limits>

#include "tests/core/op_test_util.h"

using namespace wq;
using namespace wq::testing;

namespace {

std::vector<float> seq(size_t n, float start = 1) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + float(i);
  return v;
}

// Naive batched product of row-major [B, M, K] x [B, K, N].
std::vector<float> naive_bmm(const std::vector<float>& a, const std::vector<float>& b, int64_t B, int64_t M,
                             int64_t K, int64_t N) {
  std::vector<float> c(B * M * N, 0);
  for (int64_t p = 0; p < B; ++p)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        for (int64_t k = 0; k < K; ++k) c[(p * M + i) * N + j] += a[(p * M + i) * K + k] * b[(p * K + k) * N + j];
  return c;
}

}  // namespace

TEST_CASE("Gemm transposes, alpha/beta and C broadcasting") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto a = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  auto b = Tensor::from_floats({2, 2}, {5, 6, 7, 8});
  auto plain = OpTest("Gemm", 13, reg).input(a).input(b).run1();
  WQ_REQUIRE_OK(plain);
  CHECK(values_of<float>(*plain) == std::vector<float>{19, 22, 43, 50});
  auto ta = OpTest("Gemm", 13, reg).attr("transA", 1).input(a).input(b).run1();
  WQ_REQUIRE_OK(ta);
  CHECK(values_of<float>(*ta) == std::vector<float>{26, 30, 38, 44});
  auto tb = OpTest("Gemm", 13, reg).attr("transB", 1).input(a).input(b).run1();
  WQ_REQUIRE_OK(tb);
  CHECK(values_of<float>(*tb) == std::vector<float>{17, 23, 39, 53});
  auto row = OpTest("Gemm", 13, reg).attr("alpha", 2.0f).attr("beta", 0.5f).input(a).input(b).input(Tensor::from_floats({2}, {10, 20})).run1();
  WQ_REQUIRE_OK(row);
  CHECK(values_of<float>(*row) == std::vector<float>{43, 54, 91, 110});
  auto col = OpTest("Gemm", 13, reg).input(a).input(b).input(Tensor::from_floats({2, 1}, {1, 2})).run1();
  WQ_REQUIRE_OK(col);
  CHECK(values_of<float>(*col) == std::vector<float>{20, 23, 45, 52});
  auto scalar = OpTest("Gemm", 13, reg).input(a).input(b).input(Tensor::from_floats({}, {1})).run1();
  WQ_REQUIRE_OK(scalar);
  CHECK(values_of<float>(*scalar) == std::vector<float>{20, 23, 44, 51});
  // A non-square case catches swapped leading dimensions: [2,3] x [2,3]^T.
  auto r = OpTest("Gemm", 13, reg).attr("transB", 1).input(Tensor::from_floats({2, 3}, seq(6))).input(Tensor::from_floats({2, 3}, seq(6))).run1();
  WQ_REQUIRE_OK(r);
  CHECK(r->shape() == Shape{2, 2});
  CHECK(values_of<float>(*r) == std::vector<float>{14, 32, 32, 77});
  // C that does not broadcast to [M, N].
  CHECK(OpTest("Gemm", 13, reg).input(a).input(b).input(Tensor::from_floats({3}, {1, 2, 3})).run1().status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("MatMul broadcasts batch dims") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  // [2,1,2,3] x [3,2] -> [2,1,2,2]
  auto a = seq(12), b = seq(6);
  auto y = OpTest("MatMul", 13, reg).input(Tensor::from_floats({2, 1, 2, 3}, a)).input(Tensor::from_floats({3, 2}, b)).run1();
  WQ_REQUIRE_OK(y);
  CHECK(y->shape() == Shape{2, 1, 2, 2});
  std::vector<float> bb = b;
  bb.insert(bb.end(), b.begin(), b.end());
  CHECK(values_of<float>(*y) == naive_bmm(a, bb, 2, 2, 3, 2));

  // [2,1,2,3] x [3,3,2]: batch [2,1] and [3] broadcast to [2,3].
  auto b3 = seq(18, -5);
  auto z = OpTest("MatMul", 13, reg).input(Tensor::from_floats({2, 1, 2, 3}, a)).input(Tensor::from_floats({3, 3, 2}, b3)).run1();
  WQ_REQUIRE_OK(z);
  CHECK(z->shape() == Shape{2, 3, 2, 2});
  std::vector<float> ea, eb;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      ea.insert(ea.end(), a.begin() + i * 6, a.begin() + i * 6 + 6);
      eb.insert(eb.end(), b3.begin() + j * 6, b3.begin() + j * 6 + 6);
    }
  CHECK(values_of<float>(*z) == naive_bmm(ea, eb, 6, 2, 3, 2));
}

TEST_CASE("MatMul 1-D operands drop the promoted dim") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto v = Tensor::from_floats({3}, {1, 2, 3});
  auto m = Tensor::from_floats({2, 3, 2}, seq(12));
  auto vm = OpTest("MatMul", 13, reg).input(v).input(m).run1();
  WQ_REQUIRE_OK(vm);
  CHECK(vm->shape() == Shape{2, 2});
  CHECK(values_of<float>(*vm) == std::vector<float>{22, 28, 58, 64});
  auto mv = OpTest("MatMul", 13, reg).input(Tensor::from_floats({2, 3}, seq(6))).input(v).run1();
  WQ_REQUIRE_OK(mv);
  CHECK(mv->shape() == Shape{2});
  CHECK(values_of<float>(*mv) == std::vector<float>{14, 32});
  auto vv = OpTest("MatMul", 13, reg).input(v).input(v).run1();
  WQ_REQUIRE_OK(vv);
  CHECK(vv->shape() == Shape{});
  CHECK(values_of<float>(*vv) == std::vector<float>{14});
  auto bad = OpTest("MatMul", 13, reg).input(v).input(Tensor::from_floats({2, 2}, seq(4))).run1();
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("MatMul on integers wraps instead of overflowing") {
  WQ_REFERENCE_AND_BUILTIN(reg)
  auto y = OpTest("MatMul", 13, reg)
               .input(make_tensor<int32_t>({1, 2}, {std::numeric_limits<int32_t>::max(), 1}))
               .input(make_tensor<int32_t>({2, 1}, {2, 3}))
               .run1();
  WQ_REQUIRE_OK(y);
  CHECK(values_of<int32_t>(*y)[0] == 1);  // 2 * (2^31 - 1) + 3 wraps to 1
}

TEST_CASE("Einsum: matmul, batched, transpose, diagonal, sum, ellipsis, implicit output") {
  auto a = Tensor::from_floats({2, 3}, seq(6));
  auto b = Tensor::from_floats({3, 2}, seq(6));
  auto mm = OpTest("Einsum", 12).attr("equation", "ij,jk->ik").input(a).input(b).run1();
  WQ_REQUIRE_OK(mm);
  CHECK(values_of<float>(*mm) == naive_bmm(seq(6), seq(6), 1, 2, 3, 2));
  auto t = OpTest("Einsum", 12).attr("equation", "ij->ji").input(a).run1();
  WQ_REQUIRE_OK(t);
  CHECK(t->shape() == Shape{3, 2});
  CHECK(values_of<float>(*t) == std::vector<float>{1, 4, 2, 5, 3, 6});
  auto d = OpTest("Einsum", 12).attr("equation", "ii->i").input(Tensor::from_floats({2, 2}, {1, 2, 3, 4})).run1();
  WQ_REQUIRE_OK(d);
  CHECK(values_of<float>(*d) == std::vector<float>{1, 4});
  auto s = OpTest("Einsum", 12).attr("equation", "ij->").input(a).run1();
  WQ_REQUIRE_OK(s);
  CHECK(s->shape() == Shape{});
  CHECK(values_of<float>(*s) == std::vector<float>{21});
  auto bm = OpTest("Einsum", 12)
                .attr("equation", "...ij,...jk->...ik")
                .input(Tensor::from_floats({2, 2, 3}, seq(12)))
                .input(Tensor::from_floats({3, 2}, seq(6)))
                .run1();
  WQ_REQUIRE_OK(bm);
  CHECK(bm->shape() == Shape{2, 2, 2});
  auto bb = seq(6);
  bb.insert(bb.end(), bb.begin(), bb.end());
  CHECK(values_of<float>(*bm) == naive_bmm(seq(12), bb, 2, 2, 3, 2));
  // Implicit output: labels seen once, alphabetically -> "ik".
  auto im = OpTest("Einsum", 12).attr("equation", "ij,jk").input(a).input(b).run1();
  WQ_REQUIRE_OK(im);
  CHECK(values_of<float>(*im) == values_of<float>(*mm));
  auto ip = OpTest("Einsum", 12).attr("equation", "i,i").input(Tensor::from_floats({3}, {1, 2, 3})).input(Tensor::from_floats({3}, {4, 5, 6})).run1();
  WQ_REQUIRE_OK(ip);
  CHECK(values_of<float>(*ip) == std::vector<float>{32});
  CHECK(OpTest("Einsum", 12).attr("equation", "ij,jk->ik").input(a).input(a).run1().status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(OpTest("Einsum", 12).attr("equation", "i1->i").input(a).build().code() == StatusCode::kInvalidModel);
}
