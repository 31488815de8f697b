#include "core/runtime/kernel.h"

#include <algorithm>

namespace wq {

Result<Tensor> OpKernel::restore_constant_input(size_t i) const {
  return internal_error("constant input " + std::to_string(i) + " was released by a kernel that cannot restore it");
}

void OpRegistry::add(const std::string& domain, const std::string& op_type, int min_opset, int max_opset,
                     KernelFactory factory) {
  entries_.push_back(Entry{domain, op_type, min_opset, max_opset, std::move(factory)});
}

const KernelFactory* OpRegistry::find(const std::string& domain, const std::string& op_type, int opset) const {
  for (const Entry& e : entries_) {
    if (e.domain == domain && e.op_type == op_type && opset >= e.min_opset && opset <= e.max_opset)
      return &e.factory;
  }
  return nullptr;
}

bool OpRegistry::knows_op(const std::string& domain, const std::string& op_type) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.domain == domain && e.op_type == op_type; });
}

std::vector<std::string> OpRegistry::op_names() const {
  std::vector<std::string> names;
  for (const Entry& e : entries_) {
    std::string n = e.domain.empty() ? e.op_type : e.domain + ":" + e.op_type;
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

const OpRegistry& builtin_ops() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    register_all_ops(*r);
    return r;
  }();
  return *registry;
}

}  // namespace wq
