#include "core/quant/prepare.h"

#include <cmath>

#include "core/onnx/tensor_convert.h"
#include "core/graph/graph_edit.h"

namespace wq {

Status constants_to_initializers(Graph* graph, PrepareStats* stats) {
  std::vector<std::string> folded;
  for (const Node& n : graph->nodes()) {
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1) continue;
    const onnx::AttributeProto* v = n.find_attribute("value");
    if (!v || !v->has_t || n.attributes.size() != 1) continue;
    Result<Tensor> t = tensor_from_proto(v->t);
    if (!t.ok()) return Status(t.status().code(), "Constant node '" + n.name + "': " + t.status().message());
    graph->set_initializer(n.outputs[0], std::move(t).value());
    folded.push_back(n.name);
  }
  for (const std::string& name : folded) WQ_RETURN_IF_ERROR(graph->remove_node(name));
  if (stats) stats->constants_to_initializers += int(folded.size());
  if (!folded.empty()) WQ_RETURN_IF_ERROR(graph->validate_and_sort());
  return Status::Ok();
}

namespace {

// Reads a per-channel float constant of `channels` elements.
const Tensor* channel_param(const Graph& g, const std::string& name, int64_t channels) {
  const Tensor* t = detail::float_initializer(g, name);
  return t && t->numel() == channels ? t : nullptr;
}

}  // namespace

Status fold_batch_norm(Graph* graph, PrepareStats* stats) {
  detail::NameAllocator names(*graph);
  bool changed = true;
  int folded = 0;
  std::vector<std::string> replaced;  // initializers the folds stopped reading
  while (changed) {
    changed = false;
    const auto consumers = detail::consumers_of(*graph);
    const auto producers = detail::producers_of(*graph);
    for (const Node& bn : graph->nodes()) {
      if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() < 5) continue;
      if (detail::node_attr_int(bn, "training_mode", 0) != 0) continue;
      if (bn.outputs.size() > 1) {
        bool extra = false;
        for (size_t i = 1; i < bn.outputs.size(); ++i) extra |= !bn.outputs[i].empty();
        if (extra) continue;
      }
      auto p = producers.find(bn.inputs[0]);
      if (p == producers.end()) continue;
      const Node& prev = graph->nodes()[p->second];
      const bool is_conv = prev.op_type == "Conv" && prev.domain.empty();
      const bool is_gemm = prev.op_type == "Gemm" && prev.domain.empty();
      if (!is_conv && !is_gemm) continue;
      if (consumers.at(bn.inputs[0]).size() != 1 || detail::is_graph_output(*graph, bn.inputs[0])) continue;
      if (prev.inputs.size() < 2) continue;
      const Tensor* w = detail::float_initializer(*graph, prev.inputs[1]);
      if (!w || w->rank() < 2) continue;
      int64_t out_channels;
      int w_axis;  // axis of W that indexes output channels
      if (is_conv) {
        out_channels = w->dim(0);
        w_axis = 0;
      } else {
        if (w->rank() != 2 || detail::node_attr_int(prev, "transA", 0) != 0) continue;
        const bool trans_b = detail::node_attr_int(prev, "transB", 0) != 0;
        w_axis = trans_b ? 0 : 1;
        out_channels = w->dim(size_t(w_axis));
      }
      const Tensor* gamma = channel_param(*graph, bn.inputs[1], out_channels);
      const Tensor* beta = channel_param(*graph, bn.inputs[2], out_channels);
      const Tensor* mean = channel_param(*graph, bn.inputs[3], out_channels);
      const Tensor* var = channel_param(*graph, bn.inputs[4], out_channels);
      if (!gamma || !beta || !mean || !var) continue;
      const Tensor* bias = nullptr;
      if (prev.inputs.size() > 2 && !prev.inputs[2].empty()) {
        bias = channel_param(*graph, prev.inputs[2], out_channels);
        if (!bias) continue;  // broadcast Gemm bias or computed bias: leave alone
        if (is_gemm && (detail::node_attr_float(prev, "beta", 1.0f) != 1.0f)) continue;
      }
      const float eps = detail::node_attr_float(bn, "epsilon", 1e-5f);

      std::vector<float> s(static_cast<size_t>(out_channels)), b(static_cast<size_t>(out_channels));
      for (int64_t c = 0; c < out_channels; ++c) {
        const float v = var->data<float>()[c] + eps;
        if (!(v > 0) || !std::isfinite(v))
          return numeric_error("BatchNormalization '" + bn.name + "': variance + epsilon of channel " +
                               std::to_string(c) + " is " + std::to_string(v) + ", cannot fold");
        s[size_t(c)] = gamma->data<float>()[c] / std::sqrt(v);
        const float b0 = bias ? bias->data<float>()[c] : 0.0f;
        b[size_t(c)] = (b0 - mean->data<float>()[c]) * s[size_t(c)] + beta->data<float>()[c];
      }
      WQ_ASSIGN_OR_RETURN(Tensor new_w, w->clone());
      float* wd = new_w.mutable_data<float>();
      if (w_axis == 0) {
        const int64_t inner = w->numel() / out_channels;
        for (int64_t c = 0; c < out_channels; ++c)
          for (int64_t i = 0; i < inner; ++i) wd[c * inner + i] *= s[size_t(c)];
      } else {
        const int64_t rows = w->dim(0);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < out_channels; ++c) wd[r * out_channels + c] *= s[size_t(c)];
      }
      const std::string prev_name = prev.name, bn_name = bn.name, bn_out = bn.outputs[0];
      for (size_t i = 1; i < 5; ++i) replaced.push_back(bn.inputs[i]);
      replaced.push_back(prev.inputs[1]);
      if (bias) replaced.push_back(prev.inputs[2]);
      const std::string w_name = names.fresh(prev.inputs[1] + "_bn_folded");
      const std::string b_name = names.fresh(prev.name + "_bias_bn_folded");
      graph->set_initializer(w_name, std::move(new_w));
      graph->set_initializer(b_name, Tensor::from_floats({out_channels}, b));
      Node* conv = graph->mutable_node(prev_name);
      conv->inputs[1] = w_name;
      if (conv->inputs.size() < 3) conv->inputs.resize(3);
      conv->inputs[2] = b_name;
      if (is_gemm) {
        // beta must be 1 for the new bias (it was 1 or there was no bias).
        for (auto& a : conv->attributes)
          if (a.name == "beta") a.f = 1.0f;
      }
      conv->outputs[0] = bn_out;
      WQ_RETURN_IF_ERROR(graph->remove_node(bn_name));
      ++folded;
      changed = true;
      break;  // indices changed; rescan
    }
  }
  // Drop weights nothing reads any more.
  if (folded) {
    const auto consumers = detail::consumers_of(*graph);
    for (const auto& name : replaced)
      if (!consumers.count(name) && !detail::is_graph_output(*graph, name)) graph->remove_initializer(name);
    WQ_RETURN_IF_ERROR(graph->validate_and_sort());
  }
  if (stats) stats->batch_norms_folded += folded;
  return Status::Ok();
}

}  // namespace wq
