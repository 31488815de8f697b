// Dim and ValueSummary: what a model declares about one of its values (a
// graph input or output): name, element type and shape with fixed, symbolic
// or unknown dims. Owned by the graph layer (the graph reads them from
// ValueInfoProto); the runtime checks feeds against them and the public API
// (core/model.h) reports them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace wq {

// One dimension of a declared shape: a fixed size, a symbolic name, or unknown.
struct Dim {
  int64_t value = -1;   // >= 0 when fixed
  std::string param;    // symbolic name ("batch") when value < 0; empty = unknown
};

struct ValueSummary {
  std::string name;
  DType dtype = DType::kUndefined;
  bool has_shape = false;  // false when the model declares no shape at all
  std::vector<Dim> shape;
};

}  // namespace wq
