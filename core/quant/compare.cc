#include "core/quant/compare.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace wq {

struct Comparator::Stats {
  double signal = 0, noise = 0, dot = 0, ref_sq = 0, got_sq = 0, max_abs = 0;
  int64_t rows = 0, argmax_agree = 0;
  int64_t count = 0;
};

namespace {

double sqnr_db(double signal, double noise) {
  if (noise <= 0) return signal > 0 ? 200.0 : 0.0;
  if (signal <= 0) return -200.0;
  return 10.0 * std::log10(signal / noise);
}

void accumulate(const Tensor& ref, const Tensor& got, bool rows, Comparator::Stats* s) {
  const float* a = ref.data<float>();
  const float* b = got.data<float>();
  const int64_t n = ref.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i], d = x - y;
    s->signal += x * x;
    s->noise += d * d;
    s->dot += x * y;
    s->ref_sq += x * x;
    s->got_sq += y * y;
    s->max_abs = std::max(s->max_abs, std::fabs(d));
  }
  s->count += n;
  if (rows && ref.rank() >= 1 && ref.shape().back() >= 2) {
    const int64_t c = ref.shape().back();
    for (int64_t r = 0; r < n / c; ++r) {
      const float* ra = a + r * c;
      const float* rb = b + r * c;
      s->argmax_agree += (std::max_element(ra, ra + c) - ra) == (std::max_element(rb, rb + c) - rb);
      ++s->rows;
    }
  }
}

Json stats_json(const std::string& name, const Comparator::Stats& s, bool with_rows) {
  Json j = Json::object();
  j.set("name", name);
  j.set("sqnrDb", sqnr_db(s.signal, s.noise));
  const double denom = std::sqrt(s.ref_sq) * std::sqrt(s.got_sq);
  j.set("cosine", denom > 0 ? s.dot / denom : (s.ref_sq == s.got_sq ? 1.0 : 0.0));
  j.set("maxAbsError", s.max_abs);
  j.set("rmse", s.count ? std::sqrt(s.noise / double(s.count)) : 0.0);
  if (with_rows && s.rows) j.set("argmaxAgreement", double(s.argmax_agree) / double(s.rows));
  return j;
}

}  // namespace

Comparator::Comparator() = default;
Comparator::~Comparator() = default;

Result<std::unique_ptr<Comparator>> Comparator::create(const Graph& float_graph, const Graph& quant_graph,
                                                       const CompareOptions& options) {
  std::unique_ptr<Comparator> c(new Comparator());
  c->per_node_ = options.per_node;
  std::set<std::string> fin, qin;
  for (const auto& in : float_graph.inputs()) fin.insert(in.name);
  for (const auto& in : quant_graph.inputs()) qin.insert(in.name);
  if (fin != qin) return invalid_argument("compare: the models have different inputs");
  for (const auto& o : float_graph.outputs()) {
    bool found = false;
    for (const auto& q : quant_graph.outputs()) found |= q.name == o.name;
    if (!found) return invalid_argument("compare: output '" + o.name + "' of the float model is not an output of the quantized model");
    c->output_names_.push_back(o.name);
  }
  std::set<std::string> quant_values;
  for (const Node& n : quant_graph.nodes())
    for (const auto& o : n.outputs) quant_values.insert(o);
  std::set<std::string> outputs(c->output_names_.begin(), c->output_names_.end());
  for (const Node& n : float_graph.nodes()) {
    if (n.op_type == "Constant") continue;
    for (const auto& o : n.outputs) {
      if (o.empty() || !quant_values.count(o) || outputs.count(o)) continue;
      c->node_op_[o] = n.op_type;
      c->node_order_.push_back(o);
    }
  }
  WQ_ASSIGN_OR_RETURN(c->float_session_, Session::create(float_graph));
  WQ_ASSIGN_OR_RETURN(c->quant_session_, Session::create(quant_graph));
  return c;
}

Status Comparator::add_sample(const std::map<std::string, Tensor>& feeds, const std::vector<int64_t>* labels,
                              const RunOptions& options) {
  const std::string where = "sample " + std::to_string(samples_) + ": ";
  std::map<std::string, Tensor> kept;
  RunOptions fopts = options;
  if (per_node_) {
    fopts.observe = [&](const std::string& name, const Tensor& t) -> Status {
      if (t.dtype() != DType::kFloat32 || !node_op_.count(name)) return Status::Ok();
      WQ_ASSIGN_OR_RETURN(Tensor copy, t.clone());
      kept[name] = std::move(copy);
      return Status::Ok();
    };
  }
  Result<std::map<std::string, Tensor>> fout = float_session_->run(feeds, {}, fopts);
  if (!fout.ok()) return fout.status().with_context(where + "float model: ");
  std::map<std::string, Stats> node_stats;
  RunOptions qopts = options;
  if (per_node_) {
    qopts.observe = [&](const std::string& name, const Tensor& t) -> Status {
      auto it = kept.find(name);
      if (it == kept.end()) return Status::Ok();
      if (t.dtype() == DType::kFloat32 && t.shape() == it->second.shape())
        accumulate(it->second, t, false, &node_stats[name]);
      kept.erase(it);
      return Status::Ok();
    };
  }
  Result<std::map<std::string, Tensor>> qout = quant_session_->run(feeds, {}, qopts);
  if (!qout.ok()) return qout.status().with_context(where + "quantized model: ");
  // Outputs first, so a failure leaves the running sums unchanged.
  std::map<std::string, Stats> out_stats;
  for (const std::string& name : output_names_) {
    const Tensor& a = fout->at(name);
    const Tensor& b = qout->at(name);
    if (a.dtype() != DType::kFloat32) continue;
    if (b.dtype() != DType::kFloat32 || a.shape() != b.shape())
      return invalid_argument(where + "output '" + name + "' differs in type or shape: " + shape_to_string(a.shape()) +
                              " vs " + shape_to_string(b.shape()));
    accumulate(a, b, true, &out_stats[name]);
  }
  if (labels && !output_names_.empty()) {
    const Tensor& a = fout->at(output_names_[0]);
    const Tensor& b = qout->at(output_names_[0]);
    if (a.dtype() != DType::kFloat32 || a.rank() < 1)
      return invalid_argument(where + "labels given but the first output is not a float tensor of scores");
    const int64_t c = a.shape().back();
    const int64_t rows = c > 0 ? a.numel() / c : 0;
    if (int64_t(labels->size()) != rows)
      return invalid_argument(where + "got " + std::to_string(labels->size()) + " labels for " + std::to_string(rows) +
                              " rows of output '" + output_names_[0] + "'");
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t label = (*labels)[size_t(r)];
      if (label < 0 || label >= c)
        return invalid_argument(where + "label " + std::to_string(label) + " of row " + std::to_string(r) +
                                " is outside [0, " + std::to_string(c) + ")");
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* ra = a.data<float>() + r * c;
      const float* rb = b.data<float>() + r * c;
      float_correct_ += (std::max_element(ra, ra + c) - ra) == (*labels)[size_t(r)];
      quant_correct_ += (std::max_element(rb, rb + c) - rb) == (*labels)[size_t(r)];
    }
    labelled_rows_ += rows;
  }
  auto merge = [this](std::map<std::string, Stats>& from) {
    for (auto& kv : from) {
      auto& dst = stats_[kv.first];
      if (!dst) dst = std::make_unique<Stats>();
      Stats& d = *dst;
      const Stats& s = kv.second;
      d.signal += s.signal;
      d.noise += s.noise;
      d.dot += s.dot;
      d.ref_sq += s.ref_sq;
      d.got_sq += s.got_sq;
      d.max_abs = std::max(d.max_abs, s.max_abs);
      d.rows += s.rows;
      d.argmax_agree += s.argmax_agree;
      d.count += s.count;
    }
  };
  merge(out_stats);
  merge(node_stats);
  ++samples_;
  return Status::Ok();
}

Json Comparator::report() const {
  Json r = Json::object();
  r.set("samples", samples_);
  Json outs = Json::array();
  for (const std::string& name : output_names_) {
    auto it = stats_.find(name);
    if (it != stats_.end()) outs.push_back(stats_json(name, *it->second, true));
  }
  r.set("outputs", std::move(outs));
  Json nodes = Json::array();
  for (const std::string& name : node_order_) {
    auto it = stats_.find(name);
    if (it == stats_.end()) continue;
    Json j = stats_json(name, *it->second, false);
    j.set("opType", node_op_.at(name));
    nodes.push_back(std::move(j));
  }
  r.set("nodes", std::move(nodes));
  if (labelled_rows_) {
    Json acc = Json::object();
    acc.set("count", labelled_rows_);
    acc.set("float", double(float_correct_) / double(labelled_rows_));
    acc.set("quantized", double(quant_correct_) / double(labelled_rows_));
    r.set("accuracy", std::move(acc));
  }
  return r;
}

}  // namespace wq
