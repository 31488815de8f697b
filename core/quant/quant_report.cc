// The quantizer's report (doc/quantization.md, "Report"): histograms in a
// fixed number of bins, weight SQNR, activation parameters, and the JSON
// Quantizer::finish() returns beside the exported bytes.
#include <algorithm>
#include <cmath>

#include "core/quant/export.h"

namespace wq {
namespace detail {
namespace {

constexpr int kReportBins = 64;  // histogram bins written to the report

Json histogram_json_from_counts(double lower, double width, const std::vector<uint64_t>& counts) {
  size_t first = 0, last = counts.size();
  while (first < last && counts[first] == 0) ++first;
  while (last > first && counts[last - 1] == 0) --last;
  const size_t n = last - first;
  const size_t merge = n > size_t(kReportBins) ? (n + kReportBins - 1) / kReportBins : 1;
  Json counts_json = Json::array();
  for (size_t i = first; i < last; i += merge) {
    uint64_t c = 0;
    for (size_t k = i; k < std::min(last, i + merge); ++k) c += counts[k];
    counts_json.push_back(Json(c));
  }
  Json h = Json::object();
  h.set("lower", lower + double(first) * width);
  h.set("width", width * double(merge));
  h.set("counts", std::move(counts_json));
  return h;
}

int64_t float_parameter_bytes(const Graph& g) {
  int64_t b = 0;
  for (const auto& kv : g.initializers()) b += int64_t(kv.second.nbytes());
  return b;
}

// One entry per activation with parameters (static mode).
Json activation_reports(const ExportContext& cx) {
  Json act_reports = Json::array();
  const char* act_type_name = dtype_name(cx.recipe.activations.dtype);
  for (const auto& kv : cx.act_params) {
    Json a = Json::object();
    a.set("name", kv.first);
    a.set("dtype", act_type_name);
    a.set("scale", kv.second.scale);
    a.set("zeroPoint", kv.second.zero_point);
    a.set("clipMin", dequantize_value(kv.second.qmin(), kv.second.scale, kv.second.zero_point));
    a.set("clipMax", dequantize_value(kv.second.qmax(), kv.second.scale, kv.second.zero_point));
    auto st = cx.acts.find(kv.first);
    if (st != cx.acts.end() && st->second) {
      a.set("min", st->second->report_hist.min());
      a.set("max", st->second->report_hist.max());
      a.set("histogram", histogram_json(st->second->report_hist));
    }
    a.set("overridden", cx.range_overrides.count(kv.first) > 0 || cx.param_overrides.count(kv.first) > 0);
    act_reports.push_back(std::move(a));
  }
  return act_reports;
}

}  // namespace

Json histogram_json(const Histogram& hist) {
  if (hist.empty()) return Json();
  return histogram_json_from_counts(hist.bin_lower(0), hist.bin_width(), hist.counts());
}

Json weight_histogram_json(const float* x, size_t n, float lo, float hi) {
  std::vector<uint64_t> counts(kReportBins, 0);
  const double width = hi > lo ? (double(hi) - lo) / kReportBins : 1.0;
  for (size_t i = 0; i < n; ++i) {
    int b = int((double(x[i]) - lo) / width);
    counts[size_t(std::min(std::max(b, 0), kReportBins - 1))]++;
  }
  return histogram_json_from_counts(lo, width, counts);
}

double sqnr_db(double signal, double noise) {
  if (noise <= 0) return signal > 0 ? 200.0 : 0.0;  // exact: report a large finite number
  if (signal <= 0) return -200.0;
  return 10.0 * std::log10(signal / noise);
}

Json quantization_report(const ExportContext& cx, const QuantizedModel& out, const ReportInputs& in) {
  const Recipe& recipe = cx.recipe;
  Json report = Json::object();
  report.set("version", 1);
  report.set("mode", quant_mode_name(recipe.mode));
  report.set("recipe", recipe_to_json(recipe));
  Json sizes = Json::object();
  sizes.set("floatParameterBytes", float_parameter_bytes(cx.prepared));
  sizes.set("quantizedParameterBytes", float_parameter_bytes(out.graph));
  sizes.set("quantizedModelBytes", int64_t(out.bytes.size()));
  report.set("sizes", std::move(sizes));
  report.set("prepare", in.prepare);
  Json calib = Json::object();
  calib.set("samples", in.samples);
  calib.set("method", calibration_method_name(recipe.calibration.observer.method));
  report.set("calibration", std::move(calib));
  report.set("quantizedNodes", cx.quantized_nodes);
  report.set("nodes", cx.node_reports);
  report.set("weights", cx.weight_reports);
  report.set("activations", activation_reports(cx));
  if (recipe.mode == QuantMode::kFp16) report.set("fp16", cx.fp16_report);
  Json warnings = Json::array();
  for (const auto& w : cx.warnings) warnings.push_back(w);
  report.set("warnings", std::move(warnings));
  Json timings = Json::object();
  timings.set("prepareMs", in.prepare_ms);
  timings.set("calibrateMs", in.calibrate_ms);
  timings.set("quantizeMs", in.quantize_ms);
  report.set("timings", std::move(timings));
  return report;
}

}  // namespace detail
}  // namespace wq
