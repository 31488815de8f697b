// fp16 export (doc/quantization.md, "Modes and what is exported"): float32
// initializers of 16 or more elements that fit float16 are stored as float16
// and Cast back to float32 where they are read; nodes and activations stay
// float32.
#include <cmath>

#include "core/quant/export.h"

namespace wq {
namespace detail {

Status export_fp16(ExportContext& cx) {
  WQ_RETURN_IF_ERROR(export_weighted_nodes(cx, nullptr));  // node reports only
  Graph& g = cx.g;
  Builder& b = cx.b;
  int converted = 0, kept = 0;
  std::vector<std::string> names;
  for (const auto& kv : g.initializers())
    if (kv.second.dtype() == DType::kFloat32 && kv.second.numel() >= 16) names.push_back(kv.first);
  const auto consumers = consumers_of(g);
  for (const std::string& name : names) {
    if (!consumers.count(name)) continue;
    const Tensor t = *g.find_initializer(name);
    const float* x = t.data<float>();
    bool fits = true;
    for (int64_t k = 0; k < t.numel() && fits; ++k) fits = std::isfinite(x[k]) && std::fabs(x[k]) <= 65504.0f;
    if (!fits) {
      ++kept;
      cx.warnings.push_back("initializer '" + name + "' kept in float32: values outside the float16 range");
      continue;
    }
    WQ_ASSIGN_OR_RETURN(Tensor h, Tensor::allocate(DType::kFloat16, t.shape()));
    uint16_t* hd = h.mutable_data<uint16_t>();
    for (int64_t k = 0; k < t.numel(); ++k) hd[k] = float_to_half(x[k]);
    const std::string hn = b.fresh(name + "_float16");
    const std::string fn = b.fresh(name + "_float");
    g.set_initializer(hn, h);
    rewire_consumers(&g, name, fn, {});
    WQ_RETURN_IF_ERROR(b.add("Cast", name + "_Cast", {hn}, {fn}, {attr_int("to", 1)}));
    ++converted;
  }
  cx.fp16_report.set("initializersConverted", converted);
  cx.fp16_report.set("initializersKept", kept);
  return Status::Ok();
}

}  // namespace detail
}  // namespace wq
