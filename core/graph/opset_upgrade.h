// Opset upgrade: rewrites a graph exported at an older default-domain opset
// into an equivalent graph at a newer one (13..21), so passes can emit nodes
// that only exist in newer opsets (per-axis QuantizeLinear/DequantizeLinear
// need 13, blocked int4 DequantizeLinear needs 21) into old models.
//
// "Equivalent" means exactly equal outputs for every input the original graph
// accepts, not "close": every rewrite moves a value from an attribute to an
// initializer of the same type, or restates a changed definition with ops
// whose arithmetic is the same (Softmax-1's 2-D coercion becomes Flatten ->
// Softmax-13 -> Reshape unless the input rank is known statically). Where an
// old definition cannot be restated exactly, the upgrade fails and names the
// node.
#pragma once

#include <cstdint>

#include "core/graph/graph.h"
#include "core/status.h"

namespace wq {

// The targets upgrade_opset accepts.
constexpr int64_t kMinUpgradeOpset = 13;
constexpr int64_t kMaxUpgradeOpset = 21;

// Upgrades the default ONNX domain of `graph` to opset `target`: rewrites
// every node whose definition changes between the imported opset and
// `target`, sets the import to `target` and raises the IR version to one that
// allows it. Other domains are left alone. A graph already at `target` or
// newer is left as it is (never downgrades).
//
// New constant inputs become initializers with names unused in the graph;
// new nodes are named after the node they replace. Original value names are
// kept, so graph outputs and value_info stay valid.
//
// Errors (the graph is then unchanged): kInvalidArgument for a null graph or a
// target outside [kMinUpgradeOpset, kMaxUpgradeOpset]; kUnsupported naming
// the node and op when an op has no upgrade rule (ops with subgraphs, ops
// webquant does not implement) or a definition cannot be restated exactly
// (e.g. Resize tf_half_pixel_for_nn past opset 13, Resize-10 nearest with
// scales that are not constant, a Dropout-1..11 mask output that something
// reads, Clip-6 bounds when the input type cannot be inferred below opset
// 15); kInvalidModel for nodes that are malformed for
// the opset they claim (an op newer than the import, a mistyped attribute).
Status upgrade_opset(Graph* graph, int64_t target);

}  // namespace wq
