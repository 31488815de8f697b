// Session: a Graph compiled into an execution plan, run in float.
//
// create() resolves every value name to an integer slot, evaluates Constant
// nodes, asks the registry for one OpKernel per node and computes, for each
// intermediate value, the step after which nothing reads it. run() then only
// indexes vectors: no string lookups per node, and every intermediate buffer
// is released right after its last consumer, so peak memory follows the
// widest cut of the graph rather than its length.
//
// Ownership: a Session copies what it needs from the Graph (initializers are
// shared read-only views), so the Graph may be changed or destroyed after
// create(). A constant that every kernel reading it has packed into storage
// of its own (OpKernel::owns_constant_input) is released once the plan is
// built, so a weight is held once, packed, not also as the original; asking
// a run for it by name rebuilds it from the packed copy. Constants that still
// view memory the session does not own (the model bytes) can be copied with
// own_constants(), which lets the owner of those bytes free them. Graph
// inputs and constants are handed to kernels as const Tensor*; kernels never
// write them. Run outputs may share storage with
// feeds or constants (Identity, Reshape), so treat them as read-only unless
// writable() says otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/graph/value_summary.h"
#include "core/runtime/run_stats.h"
#include "core/runtime/kernel.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

class Graph;

struct RunOptions {
  // Checked between nodes (and by long kernels through
  // KernelContext::cancelled()); either may be null/empty.
  const std::atomic<bool>* cancel_flag = nullptr;
  std::function<bool()> cancel_callback;
  // Called with every value a step produces, right after the step and before
  // the value may be released, so a caller can collect statistics over all
  // activations (calibration, per-node error) without keeping them alive. An
  // error stops the run and is returned.
  std::function<Status(const std::string& name, const Tensor& value)> observe;
  // Cap on the bytes the run's tensors (intermediates and outputs) may hold at
  // once; over it the node that asked gets kOutOfMemory naming its output.
  // 0 = no cap.
  uint64_t memory_limit_bytes = kDefaultMemoryLimitBytes;
};

class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Builds the plan. kUnsupported lists every node without an implementation
  // ("node 'name' (OpType, opset N)") in one message, together with any
  // kernel factory errors, so a user sees all problems at once.
  static Result<std::unique_ptr<Session>> create(const Graph& graph, const OpRegistry& registry = builtin_ops());

  // Runs the plan. `output_names` may name any value of the graph (inputs,
  // initializers and intermediates included); empty = the graph outputs.
  // Only the nodes needed for the requested outputs run.
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& feeds,
                                            const std::vector<std::string>& output_names = {},
                                            const RunOptions& options = {}, RunStats* stats = nullptr);

  const std::vector<ValueSummary>& inputs() const { return inputs_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  size_t num_steps() const;  // kernels to run (Constant nodes are folded away)

  // Memory held between runs by the session's constants (packed weights held
  // by kernels are not counted). borrowed: of those, the bytes that view
  // storage the session does not own.
  int64_t constant_bytes() const;
  int64_t borrowed_constant_bytes() const;
  // Names of the constants released to the kernels that packed them, in slot order.
  std::vector<std::string> released_constants() const;
  // Copies every borrowed constant into a buffer of its own, so the storage
  // it viewed (the model bytes) can be freed. kOutOfMemory leaves the
  // constants that were not copied yet as they were.
  Status own_constants();

 private:
  struct Step;
  class Init;
  class Context;
  Session();

  Status validate_feeds(const std::map<std::string, Tensor>& feeds, std::vector<Tensor>* values) const;
  bool is_constant(int slot) const;
  Result<Tensor> constant_value(int slot) const;  // rebuilds a released constant

  std::vector<Step> steps_;
  std::unordered_map<std::string, int> slot_of_;  // value name -> slot, used per run only for feeds/outputs
  std::vector<std::string> slot_names_;
  std::vector<Tensor> constants_;           // by slot; defined only for constant slots still held
  // By slot: the (step, input) whose kernel holds a released constant; {-1, -1} otherwise.
  std::vector<std::pair<int, int>> released_to_;
  std::vector<int> input_slots_;            // parallel to inputs_
  std::vector<ValueSummary> inputs_;
  std::vector<std::string> output_names_;   // graph outputs
  std::vector<int> graph_output_slots_;
  std::vector<int> producer_step_;          // by slot; -1 for feeds and constants
  std::vector<char> graph_output_needed_;   // by step: needed when the graph outputs are requested
};

}  // namespace wq
