// Cast and CastLike between the numeric types and bool.
//
// float -> integer truncates toward zero; values outside the target range
// saturate and NaN becomes 0 (ONNX leaves these undefined; saturating keeps
// us free of undefined behaviour). float -> float16/bfloat16 rounds to
// nearest even. String and 8/4-bit float types are not supported.
#include "core/ops/ops_util.h"

namespace wq {
namespace {

bool castable(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16:
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kInt32: case DType::kUInt32: case DType::kInt64: case DType::kUInt64: case DType::kBool:
      return true;
    default:
      return false;
  }
}

Status cast_into(const Tensor& x, Tensor* y, const std::string& where) {
  return detail::visit_dtype<detail::AllTypes>(x.dtype(), where + "input", [&](auto from_tag) -> Status {
    using From = decltype(from_tag);
    return detail::visit_dtype<detail::AllTypes>(y->dtype(), where + "output", [&](auto to_tag) -> Status {
      using To = decltype(to_tag);
      const From* in = x.data<From>();
      To* out = y->mutable_data<To>();
      for (int64_t i = 0; i < x.numel(); ++i) out[i] = detail::convert<To>(in[i]);
      return Status::Ok();
    });
  });
}

class CastKernel : public detail::NodeKernel {
 public:
  // `like` (CastLike): the target type is input 1's type instead of `to`.
  CastKernel(const KernelInit& init, DType to, bool like) : NodeKernel(init), to_(to), like_(like) {}

  Status run(KernelContext& ctx) override {
    WQ_ASSIGN_OR_RETURN(const Tensor* x, detail::required_input(ctx, 0, where()));
    DType to = to_;
    if (like_) {
      WQ_ASSIGN_OR_RETURN(const Tensor* t, detail::required_input(ctx, 1, where()));
      to = t->dtype();
      if (!castable(to)) return unsupported(where() + "cast to " + dtype_name(to) + " is not supported");
    }
    if (!castable(x->dtype()))
      return unsupported(where() + "cast from " + dtype_name(x->dtype()) + " is not supported");
    if (x->dtype() == to) {
      ctx.set_output(0, *x);
      return Status::Ok();
    }
    WQ_ASSIGN_OR_RETURN(Tensor* y, ctx.allocate_output(0, to, x->shape()));
    return cast_into(*x, y, where());
  }

 private:
  DType to_;
  bool like_;
};

Result<std::unique_ptr<OpKernel>> make_cast(const KernelInit& init) {
  if (!init.has_attr("to")) return invalid_model(init.context() + "attribute to is required");
  auto to = init.attr_int("to", 0);
  if (!to.ok()) return detail::in_node(to.status(), init);
  if (!dtype_is_known(static_cast<int32_t>(to.value())))
    return invalid_model(init.context() + "attribute to=" + std::to_string(to.value()) + " is not a known type");
  const DType t = static_cast<DType>(to.value());
  if (!castable(t))
    return unsupported(init.context() + "attribute to=" + std::to_string(to.value()) + " (" + dtype_name(t) +
                       ") is not supported");
  return std::unique_ptr<OpKernel>(new CastKernel(init, t, false));
}

Result<std::unique_ptr<OpKernel>> make_cast_like(const KernelInit& init) {
  return std::unique_ptr<OpKernel>(new CastKernel(init, DType::kUndefined, true));
}

}  // namespace

void register_cast_ops(OpRegistry& r) {
  r.add("", "Cast", 6, kMaxSupportedOpset, make_cast);
  r.add("", "CastLike", 15, kMaxSupportedOpset, make_cast_like);
}

}  // namespace wq
