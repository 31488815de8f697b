#include "core/graph/graph.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/onnx/tensor_convert.h"

namespace wq {

namespace {

std::string normalize_domain(const std::string& domain) { return domain == "ai.onnx" ? std::string() : domain; }

std::string describe(const Node& n) { return "node '" + n.name + "' (" + n.op_type + ")"; }

// Names a subgraph (If/Loop/Scan body) reads from enclosing scopes. The outer
// graph must schedule their producers before the node that owns the subgraph.
void collect_captures(const onnx::GraphProto& g, const std::unordered_set<std::string>& outer_scope,
                      std::set<std::string>* captures) {
  std::unordered_set<std::string> local = outer_scope;
  for (const auto& in : g.input) local.insert(in.name);
  for (const auto& init : g.initializer) local.insert(init.name);
  for (const auto& sp : g.sparse_initializer) local.insert(sp.values.name);
  // Values produced anywhere in this body are local to it, whatever the order.
  for (const auto& n : g.node)
    for (const auto& o : n.output) local.insert(o);
  for (const auto& n : g.node) {
    for (const auto& i : n.input)
      if (!i.empty() && !local.count(i)) captures->insert(i);
    for (const auto& a : n.attribute) {
      if (a.g) collect_captures(*a.g, local, captures);
      for (const auto& sg : a.graphs)
        if (sg) collect_captures(*sg, local, captures);
    }
  }
  for (const auto& o : g.output)
    if (!local.count(o.name)) captures->insert(o.name);
}

// Every value a node reads: explicit inputs plus subgraph captures.
std::vector<std::string> node_reads(const Node& n) {
  std::vector<std::string> reads;
  for (const auto& i : n.inputs)
    if (!i.empty()) reads.push_back(i);
  std::set<std::string> captures;
  for (const auto& a : n.attributes) {
    if (a.g) collect_captures(*a.g, {}, &captures);
    for (const auto& sg : a.graphs)
      if (sg) collect_captures(*sg, {}, &captures);
  }
  reads.insert(reads.end(), captures.begin(), captures.end());
  return reads;
}

}  // namespace

const onnx::AttributeProto* Node::find_attribute(const std::string& attr_name) const {
  for (const auto& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

bool value_is_tensor(const onnx::ValueInfoProto& info) {
  return !info.has_type || info.type.kind == onnx::TypeProto::Kind::kTensor ||
         info.type.kind == onnx::TypeProto::Kind::kNone;
}

ValueSummary value_summary_from_proto(const onnx::ValueInfoProto& info) {
  ValueSummary v;
  v.name = info.name;
  if (!info.has_type || info.type.kind != onnx::TypeProto::Kind::kTensor) return v;
  if (dtype_is_known(info.type.elem_type)) v.dtype = static_cast<DType>(info.type.elem_type);
  v.has_shape = info.type.has_shape;
  if (v.has_shape) {
    for (const auto& d : info.type.shape.dim) {
      Dim dim;
      if (d.has_value && d.dim_value >= 0) {
        dim.value = d.dim_value;
      } else if (d.has_param) {
        dim.param = d.dim_param;
      }
      v.shape.push_back(std::move(dim));
    }
  }
  return v;
}

Result<Graph> Graph::from_proto(const onnx::ModelProto& model) {
  if (!model.has_graph) return invalid_model("model has no graph");
  const onnx::GraphProto& g = model.graph;
  Graph graph;

  graph.meta_ = model;
  onnx::GraphProto& mg = graph.meta_.graph;
  mg.node.clear();
  mg.initializer.clear();
  mg.input.clear();
  mg.output.clear();
  mg.value_info.clear();

  if (!g.sparse_initializer.empty())
    return unsupported("sparse initializer '" + g.sparse_initializer[0].values.name + "' is not supported");

  for (const auto& op : model.opset_import) {
    const std::string d = normalize_domain(op.domain);
    if (graph.opsets_.count(d))
      return invalid_model("opset_import lists domain '" + op.domain + "' twice");
    graph.opsets_[d] = op.version;
  }
  // IR versions before 3 had no opset_import: the default domain is opset 1.
  if (model.opset_import.empty()) graph.opsets_[""] = 1;

  for (const auto& t : g.initializer) {
    if (t.name.empty()) return invalid_model("an initializer has no name");
    if (graph.initializers_.count(t.name)) return invalid_model("initializer '" + t.name + "' is defined twice");
    Result<Tensor> tensor = tensor_from_proto(t);
    if (!tensor.ok()) return tensor.status().with_context("initializer '" + t.name + "': ");
    graph.initializers_.emplace(t.name, std::move(tensor).value());
    graph.initializer_order_.push_back(t.name);
    if (!t.doc_string.empty()) graph.initializer_doc_[t.name] = t.doc_string;
  }

  std::set<std::string> input_names;
  for (const auto& in : g.input) {
    if (in.name.empty()) return invalid_model("a graph input has no name");
    if (!input_names.insert(in.name).second) return invalid_model("graph input '" + in.name + "' is listed twice");
    if (graph.initializers_.count(in.name)) {
      graph.initializer_input_protos_.push_back(in);
    } else {
      graph.input_protos_.push_back(in);
    }
  }
  for (const auto& out : g.output) {
    if (out.name.empty()) return invalid_model("a graph output has no name");
    graph.output_protos_.push_back(out);
  }
  graph.value_info_ = g.value_info;

  graph.nodes_.reserve(g.node.size());
  // Node names identify nodes in every pass (remove_node, mutable_node, the
  // recipe's include/exclude), so they are made unique here: an unnamed node
  // gets "<op>_<index>", and a name that an earlier node already has gets a
  // "_<k>" suffix, as if unnamed (a duplicated name would otherwise make a
  // pass edit the wrong node).
  std::unordered_set<std::string> used_names;
  std::unordered_set<std::string> seen_names;
  std::vector<char> duplicate(g.node.size(), 0);
  for (size_t i = 0; i < g.node.size(); ++i) {
    const std::string& name = g.node[i].name;
    if (name.empty()) continue;
    used_names.insert(name);
    duplicate[i] = !seen_names.insert(name).second;
  }
  for (size_t i = 0; i < g.node.size(); ++i) {
    const onnx::NodeProto& np = g.node[i];
    Node n;
    n.name = np.name;
    n.op_type = np.op_type;
    n.domain = normalize_domain(np.domain);
    n.inputs = np.input;
    n.outputs = np.output;
    n.attributes = np.attribute;
    n.doc_string = np.doc_string;
    n.overload = np.overload;
    n.metadata_props = np.metadata_props;
    if (n.op_type.empty()) return invalid_model("node #" + std::to_string(i) + " ('" + n.name + "') has no op_type");
    if (n.name.empty() || duplicate[i]) {
      std::string base = n.name.empty() ? n.op_type + "_" + std::to_string(i) : n.name;
      n.name = base;
      for (int k = 1; used_names.count(n.name); ++k) n.name = base + "_" + std::to_string(k);
      used_names.insert(n.name);
    }
    graph.nodes_.push_back(std::move(n));
  }

  WQ_RETURN_IF_ERROR(graph.validate_and_sort());
  return graph;
}

Status Graph::validate_and_sort() {
  // Who produces each value: -1 graph input, -2 initializer, >= 0 node index.
  std::unordered_map<std::string, int> producer;
  for (const auto& in : input_protos_) {
    if (initializers_.count(in.name)) continue;
    producer[in.name] = -1;
  }
  for (const auto& kv : initializers_) producer[kv.first] = -2;

  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (!opsets_.count(n.domain))
      return invalid_model(describe(n) + " uses domain '" + n.domain + "', which the model does not import");
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      auto it = producer.find(o);
      if (it == producer.end()) {
        producer.emplace(o, static_cast<int>(i));
      } else if (it->second == -1) {
        return invalid_model(describe(n) + " output '" + o + "' has the same name as a graph input");
      } else if (it->second == -2) {
        return invalid_model(describe(n) + " output '" + o + "' has the same name as an initializer");
      } else {
        return invalid_model("value '" + o + "' is produced twice: by " + describe(nodes_[it->second]) + " and " +
                             describe(n));
      }
    }
  }

  // Kahn's algorithm; among ready nodes the earliest in the current order goes
  // first, so an already sorted graph keeps its order exactly.
  const size_t n_nodes = nodes_.size();
  std::vector<std::vector<int>> consumers(n_nodes);
  std::vector<int> pending(n_nodes, 0);
  std::vector<std::vector<std::string>> reads(n_nodes);
  for (size_t i = 0; i < n_nodes; ++i) {
    reads[i] = node_reads(nodes_[i]);
    for (const auto& name : reads[i]) {
      auto it = producer.find(name);
      if (it == producer.end())
        return invalid_model(describe(nodes_[i]) + " input '" + name +
                             "' is not produced by any node, graph input or initializer");
      if (it->second >= 0) {
        consumers[it->second].push_back(static_cast<int>(i));
        ++pending[i];
      }
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n_nodes; ++i)
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  std::vector<int> order;
  order.reserve(n_nodes);
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int c : consumers[i])
      if (--pending[c] == 0) ready.push(c);
  }
  if (order.size() != n_nodes) {
    // Walk from the first stuck node along unfinished producers until a node
    // repeats; that loop is the cycle we report.
    int start = 0;
    while (pending[start] == 0) ++start;
    std::vector<int> path;
    std::vector<std::string> via;
    std::unordered_map<int, size_t> seen;
    int cur = start;
    while (!seen.count(cur)) {
      seen[cur] = path.size();
      path.push_back(cur);
      int next = -1;
      for (const auto& name : reads[cur]) {
        const int p = producer[name];
        if (p >= 0 && pending[p] > 0) {
          next = p;
          via.push_back(name);
          break;
        }
      }
      if (next < 0) break;  // cannot happen: a stuck node waits on a stuck producer
      cur = next;
    }
    std::string msg = "graph has a cycle: ";
    if (seen.count(cur)) {
      const size_t from = seen[cur];
      // path[k] reads via[k], which path[k+1] produces; print producer first.
      msg += describe(nodes_[path[from]]);
      for (size_t k = from; k < path.size(); ++k) {
        const int next = (k + 1 < path.size()) ? path[k + 1] : path[from];
        msg += " reads '" + via[k] + "' from " + describe(nodes_[next]);
        if (k + 1 < path.size()) msg += ", which";
      }
    } else {
      msg += describe(nodes_[start]) + " can never run";
    }
    return invalid_model(msg);
  }

  for (const auto& out : output_protos_)
    if (!producer.count(out.name))
      return invalid_model("graph output '" + out.name + "' is not produced by any node, graph input or initializer");

  std::vector<Node> sorted;
  sorted.reserve(n_nodes);
  for (int i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
  refresh_summaries();
  return Status::Ok();
}

void Graph::refresh_summaries() {
  inputs_.clear();
  for (const auto& in : input_protos_) inputs_.push_back(value_summary_from_proto(in));
  outputs_.clear();
  for (const auto& out : output_protos_) outputs_.push_back(value_summary_from_proto(out));
}

onnx::ModelProto Graph::to_proto() const {
  onnx::ModelProto m = meta_;
  m.has_graph = true;
  onnx::GraphProto& g = m.graph;
  g.input = input_protos_;
  for (const auto& in : initializer_input_protos_)
    if (initializers_.count(in.name)) g.input.push_back(in);
  g.output = output_protos_;
  g.value_info = value_info_;
  g.node.reserve(nodes_.size());
  for (const Node& n : nodes_) {
    onnx::NodeProto np;
    np.name = n.name;
    np.op_type = n.op_type;
    np.domain = n.domain;
    np.input = n.inputs;
    np.output = n.outputs;
    np.attribute = n.attributes;
    np.doc_string = n.doc_string;
    np.overload = n.overload;
    np.metadata_props = n.metadata_props;
    g.node.push_back(std::move(np));
  }
  g.initializer.reserve(initializers_.size());
  for (const auto& name : initializer_order_) {
    auto it = initializers_.find(name);
    if (it == initializers_.end()) continue;
    onnx::TensorProto tp = tensor_to_proto(it->second, name);
    auto doc = initializer_doc_.find(name);
    if (doc != initializer_doc_.end()) tp.doc_string = doc->second;
    g.initializer.push_back(std::move(tp));
  }
  // Opsets may have been added by passes (e.g. a quantizer importing a newer opset).
  m.opset_import.clear();
  for (const auto& kv : opsets_) {
    onnx::OperatorSetIdProto op;
    op.domain = kv.first;
    op.version = kv.second;
    m.opset_import.push_back(op);
  }
  return m;
}

const Tensor* Graph::find_initializer(const std::string& name) const {
  auto it = initializers_.find(name);
  return it == initializers_.end() ? nullptr : &it->second;
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets_.find(normalize_domain(domain));
  return it == opsets_.end() ? -1 : it->second;
}

const onnx::ValueInfoProto* Graph::find_value_info(const std::string& name) const {
  for (const auto* list : {&input_protos_, &initializer_input_protos_, &output_protos_, &value_info_})
    for (const auto& v : *list)
      if (v.name == name) return &v;
  return nullptr;
}

std::vector<std::pair<std::string, int64_t>> Graph::op_counts() const {
  std::map<std::string, int64_t> counts;
  for (const Node& n : nodes_) ++counts[n.domain.empty() ? n.op_type : n.domain + ":" + n.op_type];
  std::vector<std::pair<std::string, int64_t>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

namespace {

// Weights held in Constant nodes (paddle2onnx and older exporters put them
// there instead of in initializers); calls f(numel, bytes) for each.
template <typename F>
void for_each_constant_tensor(const std::vector<Node>& nodes, F f) {
  for (const Node& n : nodes) {
    if (n.op_type != "Constant" || !n.domain.empty()) continue;
    const onnx::AttributeProto* a = n.find_attribute("value");
    if (!a || !a->has_t || !dtype_is_known(a->t.data_type)) continue;
    const int64_t numel = shape_numel(a->t.dims);
    if (numel < 0) continue;
    f(numel, static_cast<int64_t>(dtype_storage_bytes(static_cast<DType>(a->t.data_type), numel)));
  }
}

}  // namespace

int64_t Graph::num_parameters() const {
  int64_t n = 0;
  for (const auto& kv : initializers_) n += kv.second.numel();
  for_each_constant_tensor(nodes_, [&](int64_t numel, int64_t) { n += numel; });
  return n;
}

int64_t Graph::parameter_bytes() const {
  int64_t n = 0;
  for (const auto& kv : initializers_) n += static_cast<int64_t>(kv.second.nbytes());
  for_each_constant_tensor(nodes_, [&](int64_t, int64_t bytes) { n += bytes; });
  return n;
}

std::string Graph::unique_node_name(const std::string& op_type, size_t index) const {
  std::unordered_set<std::string> names;
  for (const Node& n : nodes_) names.insert(n.name);
  const std::string base = op_type + "_" + std::to_string(index);
  std::string name = base;
  for (int k = 1; names.count(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

Status Graph::add_node(Node node) {
  if (node.op_type.empty()) return invalid_argument("add_node: node '" + node.name + "' has no op_type");
  node.domain = normalize_domain(node.domain);
  if (node.name.empty()) {
    node.name = unique_node_name(node.op_type, nodes_.size());
  } else {
    for (const Node& n : nodes_)
      if (n.name == node.name) return invalid_argument("add_node: a node named '" + node.name + "' already exists");
  }
  nodes_.push_back(std::move(node));
  return Status::Ok();
}

Status Graph::remove_node(const std::string& node_name) {
  auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == node_name; });
  if (it == nodes_.end()) return not_found("remove_node: no node named '" + node_name + "'");
  nodes_.erase(it);
  return Status::Ok();
}

Node* Graph::mutable_node(const std::string& node_name) {
  for (Node& n : nodes_)
    if (n.name == node_name) return &n;
  return nullptr;
}

void Graph::set_initializer(const std::string& name, Tensor value) {
  auto it = initializers_.find(name);
  if (it == initializers_.end()) {
    initializers_.emplace(name, std::move(value));
    initializer_order_.push_back(name);
  } else {
    it->second = std::move(value);
  }
}

void Graph::set_opset_import(const std::string& domain, int64_t version) {
  opsets_[normalize_domain(domain)] = version;
}

bool Graph::remove_initializer(const std::string& name) {
  if (!initializers_.erase(name)) return false;
  initializer_order_.erase(std::remove(initializer_order_.begin(), initializer_order_.end(), name),
                           initializer_order_.end());
  initializer_doc_.erase(name);
  return true;
}

Status Graph::rename_value(const std::string& from, const std::string& to) {
  if (from.empty() || to.empty()) return invalid_argument("rename_value: names must not be empty");
  if (from == to) return Status::Ok();
  bool exists = false, taken = initializers_.count(to) > 0;
  for (const auto& in : input_protos_) taken |= in.name == to;
  for (const Node& n : nodes_) {
    for (const auto& o : n.outputs) {
      taken |= o == to;
      exists |= o == from;
    }
    for (const auto& i : n.inputs) exists |= i == from;
  }
  exists |= initializers_.count(from) > 0;
  for (const auto& in : input_protos_) exists |= in.name == from;
  if (!exists) return not_found("rename_value: no value named '" + from + "'");
  if (taken) return invalid_argument("rename_value: a value named '" + to + "' already exists");

  for (Node& n : nodes_) {
    for (auto& o : n.outputs)
      if (o == from) o = to;
    for (auto& i : n.inputs)
      if (i == from) i = to;
  }
  for (auto* list : {&input_protos_, &initializer_input_protos_, &output_protos_, &value_info_})
    for (auto& v : *list)
      if (v.name == from) v.name = to;
  auto it = initializers_.find(from);
  if (it != initializers_.end()) {
    Tensor t = std::move(it->second);
    initializers_.erase(it);
    initializers_.emplace(to, std::move(t));
    std::replace(initializer_order_.begin(), initializer_order_.end(), from, to);
    auto doc = initializer_doc_.find(from);
    if (doc != initializer_doc_.end()) {
      initializer_doc_[to] = doc->second;
      initializer_doc_.erase(from);
    }
  }
  refresh_summaries();
  return Status::Ok();
}

}  // namespace wq
