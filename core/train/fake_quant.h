// Fake quantization for quantization-aware training.
//
// A FakeQuantize node (domain kTrainOpDomain, internal to training) computes
//
//   y = dequantize_value(quantize_value(x, s, zp, qmin, qmax), s, zp)
//
// with exactly the rounding and clamping of QuantizeLinear/DequantizeLinear
// (core/qparams.h), per tensor or per channel, 8 or 4 bits, so a trained
// session computes what the quantized graph will. Backward is the
// straight-through estimator: dy/dx = 1 where x / s lies inside
// [qmin - zp, qmax - zp], else 0. The range (scale, zero point) is, per mode:
//
//   frozen          fixed at its initial value (from calibration);
//   moving-average  in kTrain mode each batch moves the tracked [min, max] by
//                   range += momentum * (batch range - range), and the scale and
//                   zero point follow through quant_params_for_range() (the
//                   calibration mapping); kEval uses them unchanged;
//   learned         the scale is a trained parameter (LSQ, Esser et al. 2019):
//                   dy/ds = (q - zp) - x / s inside the range, qmin - zp or
//                   qmax - zp outside, times the gradient scale
//                   1 / sqrt(elements per scale * (qmax - zp)); the zero point
//                   stays fixed.
//
// insert_fake_quant() puts FakeQuantize nodes into a TrainSession on the
// weights of Conv/Gemm/MatMul and on their activation inputs and outputs (an
// output followed by a lone Relu/Clip is quantized after it, as the quantizer
// fuses activations). Training then updates weights, ranges and scales;
// fake_quant_state() reads the ranges back for the quantizer, and
// export_qdq_graph() writes the session as a QuantizeLinear/DequantizeLinear
// graph that the runtime evaluates exactly as the session does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/quant/observers.h"
#include "core/qparams.h"
#include "core/status.h"
#include "core/train/train_session.h"

namespace wq {

// Append-only: the names are what recipes spell.
enum class FakeQuantMode : int {
  kFrozen = 0,         // "frozen"
  kMovingAverage = 1,  // "moving-average"
  kLearned = 2,        // "learned"
};
const char* fake_quant_mode_name(FakeQuantMode mode);
Result<FakeQuantMode> parse_fake_quant_mode(const std::string& name);

struct FakeQuantTensorConfig {
  int bits = 8;  // 8 or 4
  bool is_signed = false;
  bool symmetric = false;
  bool per_channel = false;  // weights only: along the output-channel axis
  FakeQuantMode mode = FakeQuantMode::kMovingAverage;
};

struct FakeQuantConfig {
  // Defaults as the quantizer's static mode: int8 symmetric per-channel
  // weights, uint8 asymmetric per-tensor activations.
  FakeQuantTensorConfig weights = {8, true, true, true, FakeQuantMode::kLearned};
  FakeQuantTensorConfig activations = {8, false, false, false, FakeQuantMode::kMovingAverage};
  float momentum = 0.01f;  // moving-average, in (0, 1]
  std::vector<std::string> op_types = {"Conv", "Gemm", "MatMul"};
  std::vector<std::string> exclude_nodes;
  bool quantize_inputs = true;    // activation inputs of the selected nodes
  bool quantize_outputs = true;   // their outputs
  bool fuse_activations = true;   // quantize after a lone following Relu/Clip
  // Explicit selection (the quantizer's plan, core/train/finetune.h): when
  // `explicit_selection` is set, the weights of exactly `weight_nodes` and
  // exactly the activations `activation_values` are quantized (op_types,
  // exclude_nodes, quantize_inputs/outputs and fuse_activations are ignored);
  // a graph input among them is quantized for every consumer.
  bool explicit_selection = false;
  std::vector<std::string> weight_nodes;
  std::vector<std::string> activation_values;
};

// Inserts FakeQuantize nodes (see above). `activation_ranges` gives the
// initial [min, max] of every activation to quantize, by value name (from
// calibration: Observer::range()); a missing one is kInvalidArgument naming
// it. Weight ranges come from the weights (weight_quant_params()).
// kInvalidArgument for a bad config (bits, momentum, per-channel
// activations) or a session that already has fake quantization, kNotFound
// for an excluded node that does not exist. On error the session is
// unchanged.
Status insert_fake_quant(TrainSession* session, const FakeQuantConfig& config,
                         const std::map<std::string, FloatRange>& activation_ranges);

struct FakeQuantState {
  std::string node;   // the FakeQuantize node
  std::string value;  // what it quantizes: a weight or an activation of the original graph
  bool is_weight = false;
  FakeQuantMode mode = FakeQuantMode::kFrozen;
  QuantParams params;               // current scale(s) and zero point(s)
  std::vector<FloatRange> ranges;   // per tensor or channel: [(qmin - zp) s, (qmax - zp) s]
};
// Every FakeQuantize node of the session, in node order.
Result<std::vector<FakeQuantState>> fake_quant_state(const TrainSession& session);

// The session's graph with the current weights, each FakeQuantize written as
// QuantizeLinear -> DequantizeLinear with the current scale and zero point
// (weights stay float initializers in front of their pair). kUnsupported when
// the model's opset cannot express it: per-channel needs opset >= 13, 4-bit
// types opset >= 21.
Result<Graph> export_qdq_graph(const TrainSession& session);

}  // namespace wq
