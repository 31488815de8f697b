// RunStats: what one Session::run measured, for memory and speed reporting.
// Owned by the runtime; the public API (core/model.h) hands it on.
#pragma once

#include <cstdint>

namespace wq {

struct RunStats {
  int64_t peak_activation_bytes = 0;  // max bytes of live intermediate tensors during the run
  int64_t total_allocated_bytes = 0;  // sum of all intermediate allocations
  double milliseconds = 0;
};

}  // namespace wq
