// Einsum by direct summation: every label gets a loop, output labels index
// the result and the remaining labels are summed. This covers matmul-like,
// batched, transposed, diagonal, reduction and ellipsis equations with one
// obviously-correct loop nest; its cost is the product of all label sizes,
// the same as a naive matmul for matmul-like equations.
#include <algorithm>
#include <map>

#include "core/ops/ops_util.h"

namespace wq {
namespace {

using detail::Compute;

// Labels are letters; ellipsis dims get labels >= kEllipsisBase.
constexpr int kEllipsisBase = 256;

struct Term {
  std::vector<int> labels;  // may contain kEllipsisMarker before expansion
  bool has_ellipsis = false;
};
constexpr int kEllipsisMarker = -1;

Result<Term> parse_term(const std::string& s, const std::string& where) {
  Term t;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (s.compare(i, 3, "...") != 0 || t.has_ellipsis) return invalid_model(where + "malformed ellipsis in equation");
      t.has_ellipsis = true;
      t.labels.push_back(kEllipsisMarker);
      i += 2;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
      return invalid_model(where + "invalid character '" + std::string(1, c) + "' in equation");
    t.labels.push_back(static_cast<unsigned char>(c));
  }
  return t;
}

struct Equation {
  std::vector<Term> inputs;
  Term output;
  bool explicit_output = false;
};

Result<Equation> parse_equation(const std::string& eq, const std::string& where) {
  Equation e;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    WQ_ASSIGN_OR_RETURN(Term t, parse_term(lhs.substr(start, comma - start), where));
    e.inputs.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (arrow != std::string::npos) {
    e.explicit_output = true;
    WQ_ASSIGN_OR_RETURN(e.output, parse_term(eq.substr(arrow + 2), where));
  }
  return e;
}

class EinsumKernel : public detail::NodeKernel {
 public:
  EinsumKernel(const KernelInit& init, Equation eq) : NodeKernel(init), eq_(std::move(eq)) {}

  Status run(KernelContext& ctx) override {
    const size_t n_in = eq_.inputs.size();
    if (ctx.num_inputs() != n_in)
      return invalid_argument(where() + "equation has " + std::to_string(n_in) + " inputs, node has " +
                              std::to_string(ctx.num_inputs()));
    std::vector<const Tensor*> ins(n_in);
    for (size_t k = 0; k < n_in; ++k) {
      WQ_ASSIGN_OR_RETURN(ins[k], detail::required_input(ctx, k, where()));
      if (ins[k]->dtype() != ins[0]->dtype()) return invalid_argument(where() + "inputs must have the same type");
    }
    // Expand ellipses into right-aligned labels and collect label sizes.
    std::vector<std::vector<int>> labels(n_in);
    int ell_rank = 0;
    for (size_t k = 0; k < n_in; ++k) {
      const Term& t = eq_.inputs[k];
      const int explicit_dims = static_cast<int>(t.labels.size()) - (t.has_ellipsis ? 1 : 0);
      const int r = static_cast<int>(ins[k]->rank());
      if ((t.has_ellipsis && r < explicit_dims) || (!t.has_ellipsis && r != explicit_dims))
        return invalid_argument(where() + "input " + std::to_string(k) + " of shape " +
                                shape_to_string(ins[k]->shape()) + " does not match its equation term");
      if (t.has_ellipsis) ell_rank = std::max(ell_rank, r - explicit_dims);
    }
    std::map<int, int64_t> size;
    for (size_t k = 0; k < n_in; ++k) {
      const Term& t = eq_.inputs[k];
      const int r = static_cast<int>(ins[k]->rank());
      const int ell = t.has_ellipsis ? r - (static_cast<int>(t.labels.size()) - 1) : 0;
      for (int l : t.labels) {
        if (l != kEllipsisMarker) {
          labels[k].push_back(l);
          continue;
        }
        for (int j = 0; j < ell; ++j) labels[k].push_back(kEllipsisBase + ell_rank - ell + j);
      }
      for (int d = 0; d < r; ++d) {
        const int l = labels[k][d];
        const int64_t dim = ins[k]->dim(d);
        auto it = size.find(l);
        if (it == size.end() || it->second == 1) {
          size[l] = dim;
        } else if (dim != it->second && dim != 1) {
          return invalid_argument(where() + "label dims disagree (" + std::to_string(it->second) + " vs " +
                                  std::to_string(dim) + ")");
        }
      }
    }
    // Output labels.
    std::vector<int> out_labels;
    if (eq_.explicit_output) {
      for (int l : eq_.output.labels) {
        if (l == kEllipsisMarker) {
          for (int j = 0; j < ell_rank; ++j) out_labels.push_back(kEllipsisBase + j);
        } else {
          if (!size.count(l)) return invalid_model(where() + "output label not found in inputs");
          out_labels.push_back(l);
        }
      }
    } else {
      for (int j = 0; j < ell_rank; ++j) out_labels.push_back(kEllipsisBase + j);
      std::map<int, int> count;
      for (const auto& ls : labels)
        for (int l : ls) ++count[l];
      for (const auto& kv : count)  // std::map: alphabetical (uppercase before lowercase, as numpy)
        if (kv.second == 1 && kv.first < kEllipsisBase) out_labels.push_back(kv.first);
    }
    // All labels: output first, then summed.
    std::vector<int> all = out_labels;
    for (const auto& kv : size)
      if (std::find(all.begin(), all.end(), kv.first) == all.end()) all.push_back(kv.first);
    for (int l : all)
      if (!size.count(l)) size[l] = 1;  // an ellipsis label only some inputs have
    Shape out_shape, loop;
    for (int l : out_labels) out_shape.push_back(size[l]);
    for (int l : all) loop.push_back(size[l]);
    WQ_RETURN_IF_ERROR(detail::check_output_size(out_shape, ins[0]->dtype(), where()));
    // Strides of each loop label in the output and in every input (diagonals add up).
    const size_t nl = all.size();
    std::vector<std::vector<int64_t>> strides(n_in + 1, std::vector<int64_t>(nl, 0));
    {
      const std::vector<int64_t> os = detail::contiguous_strides(out_shape);
      for (size_t i = 0; i < out_labels.size(); ++i) strides[n_in][i] = os[i];
      for (size_t k = 0; k < n_in; ++k) {
        const std::vector<int64_t> is = detail::contiguous_strides(ins[k]->shape());
        for (size_t d = 0; d < labels[k].size(); ++d) {
          const size_t pos = std::find(all.begin(), all.end(), labels[k][d]) - all.begin();
          if (ins[k]->dim(d) != 1) strides[k][pos] += is[d];
        }
      }
    }
    return detail::visit_dtype<detail::NumericTypes>(ins[0]->dtype(), where() + "input", [&](auto tag) -> Status {
      using T = decltype(tag);
      using A = std::conditional_t<detail::is_float_v<T>, double, Compute<T>>;
      WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, ins[0]->dtype(), out_shape));
      std::vector<A> acc(static_cast<size_t>(y->numel()), A(0));
      const int64_t total = shape_numel(loop);
      std::vector<int64_t> idx(nl, 0), off(n_in + 1, 0);
      for (int64_t it = 0; it < total && !acc.empty(); ++it) {
        A prod = A(1);
        for (size_t k = 0; k < n_in; ++k) prod = detail::wrap_mul(prod, static_cast<A>(detail::load(ins[k]->data<T>()[off[k]])));
        acc[off[n_in]] = detail::wrap_add(acc[off[n_in]], prod);
        for (size_t d = nl; d-- > 0;) {
          for (size_t k = 0; k <= n_in; ++k) off[k] += strides[k][d];
          if (++idx[d] < loop[d]) break;
          for (size_t k = 0; k <= n_in; ++k) off[k] -= strides[k][d] * loop[d];
          idx[d] = 0;
        }
      }
      for (size_t i = 0; i < acc.size(); ++i) y->mutable_data<T>()[i] = detail::store<T>(static_cast<Compute<T>>(acc[i]));
      return Status::Ok();
    });
  }

 private:
  Equation eq_;
};

Result<std::unique_ptr<OpKernel>> make_einsum(const KernelInit& init) {
  auto eq = init.attr_string("equation", "");
  if (!eq.ok()) return detail::in_node(eq.status(), init);
  if (eq->empty()) return invalid_model(init.context() + "attribute equation is required");
  WQ_ASSIGN_OR_RETURN(Equation e, parse_equation(eq.value(), init.context()));
  return std::unique_ptr<OpKernel>(new EinsumKernel(init, std::move(e)));
}

}  // namespace

void register_einsum_ops(OpRegistry& r) { r.add("", "Einsum", 12, kMaxSupportedOpset, make_einsum); }

}  // namespace wq
