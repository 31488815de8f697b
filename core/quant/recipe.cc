#include "core/quant/recipe.h"

#include <cmath>
#include <cstdio>

namespace wq {

const char* quant_mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::kDynamic: return "dynamic";
    case QuantMode::kStatic: return "static";
    case QuantMode::kWeightOnly: return "weight-only";
    case QuantMode::kFp16: return "fp16";
  }
  return "?";
}

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return "per-tensor";
    case Granularity::kPerChannel: return "per-channel";
    case Granularity::kPerBlock: return "per-block";
  }
  return "?";
}

std::vector<std::string> Recipe::default_op_types() const {
  switch (mode) {
    case QuantMode::kStatic:
      // Weighted ops plus the ops whose 8-bit form keeps a chain in 8 bits
      // (their inputs and outputs get QDQ, pass-through ops share scales).
      return {"Conv", "MatMul", "Gemm", "Add", "Mul", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
              "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Sigmoid", "HardSigmoid",
              "LeakyRelu", "Relu", "Clip"};
    case QuantMode::kDynamic: return {"MatMul", "Gemm", "Conv"};
    case QuantMode::kWeightOnly: return {"MatMul", "Gemm", "Conv"};
    case QuantMode::kFp16: return {};
  }
  return {};
}

namespace {

class Reader {
 public:
  Reader(const Json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  // Every key of the object must be in `allowed`.
  Status only(std::initializer_list<const char*> allowed) const {
    for (const auto& m : obj_.members()) {
      bool ok = false;
      for (const char* a : allowed) ok |= m.first == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        return invalid_argument(path_ + ": unknown key \"" + m.first + "\" (known: " + list + ")");
      }
    }
    return Status::Ok();
  }

  const Json* get(const char* key) const { return obj_.find(key); }
  std::string field(const char* key) const { return path_ + "." + key; }

  Status type_error(const char* key, const char* want, const Json& got) const {
    return invalid_argument(field(key) + ": expected " + want + ", got " + Json::type_name(got.type()));
  }

  Status read_bool(const char* key, bool* out) const {
    const Json* v = get(key);
    if (!v) return Status::Ok();
    if (!v->is_bool()) return type_error(key, "true or false", *v);
    *out = v->as_bool();
    return Status::Ok();
  }
  Status read_number(const char* key, double* out) const {
    const Json* v = get(key);
    if (!v) return Status::Ok();
    if (!v->is_number()) return type_error(key, "a number", *v);
    *out = v->as_number();
    return Status::Ok();
  }
  Status read_int(const char* key, int* out) const {
    const Json* v = get(key);
    if (!v) return Status::Ok();
    if (!v->is_number()) return type_error(key, "an integer", *v);
    const double d = v->as_number();
    char text[40];
    std::snprintf(text, sizeof(text), "%.17g", d);  // 2147483648, 0.5, 1e+300: as written
    if (d != std::floor(d)) return invalid_argument(field(key) + ": expected an integer, got " + text);
    if (std::fabs(d) > 1e9)
      return invalid_argument(field(key) + ": " + text + " is out of range (at most 1e9 in magnitude)");
    *out = int(v->as_number());
    return Status::Ok();
  }
  Status read_string(const char* key, std::string* out, bool* present = nullptr) const {
    const Json* v = get(key);
    if (present) *present = v != nullptr;
    if (!v) return Status::Ok();
    if (!v->is_string()) return type_error(key, "a string", *v);
    *out = v->as_string();
    return Status::Ok();
  }
  Status read_strings(const char* key, std::vector<std::string>* out) const {
    const Json* v = get(key);
    if (!v) return Status::Ok();
    if (!v->is_array()) return type_error(key, "an array of strings", *v);
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string())
        return invalid_argument(field(key) + "[" + std::to_string(i) + "]: expected a string, got " +
                                Json::type_name((*v)[i].type()));
      out->push_back((*v)[i].as_string());
    }
    return Status::Ok();
  }
  // A nested object; nullptr when absent.
  Result<const Json*> object(const char* key) const {
    const Json* v = get(key);
    if (!v) return static_cast<const Json*>(nullptr);
    if (!v->is_object()) return type_error(key, "an object", *v);
    return v;
  }

 private:
  const Json& obj_;
  std::string path_;
};

Status read_weights(const Json& j, QuantMode mode, WeightRecipe* w, bool* granularity_given) {
  Reader r(j, "recipe.weights");
  WQ_RETURN_IF_ERROR(r.only({"bits", "granularity", "blockSize", "symmetric", "mseRefine"}));
  WQ_RETURN_IF_ERROR(r.read_int("bits", &w->bits));
  if (w->bits != 8 && w->bits != 4)
    return invalid_argument("recipe.weights.bits: must be 8 or 4, got " + std::to_string(w->bits));
  std::string g;
  WQ_RETURN_IF_ERROR(r.read_string("granularity", &g, granularity_given));
  if (*granularity_given) {
    if (g == "per-tensor") w->granularity = Granularity::kPerTensor;
    else if (g == "per-channel") w->granularity = Granularity::kPerChannel;
    else if (g == "per-block") w->granularity = Granularity::kPerBlock;
    else return invalid_argument("recipe.weights.granularity: unknown \"" + g + "\" (per-tensor, per-channel, per-block)");
  }
  const bool block_given = r.get("blockSize") != nullptr;
  WQ_RETURN_IF_ERROR(r.read_int("blockSize", &w->block_size));
  WQ_RETURN_IF_ERROR(r.read_bool("symmetric", &w->symmetric));
  WQ_RETURN_IF_ERROR(r.read_bool("mseRefine", &w->mse_refine));
  if (w->granularity == Granularity::kPerBlock && mode != QuantMode::kWeightOnly)
    return invalid_argument(std::string("recipe.weights.granularity: per-block weights need mode \"weight-only\" (mode is \"") +
                            quant_mode_name(mode) + "\")");
  if (block_given && w->granularity != Granularity::kPerBlock)
    return invalid_argument("recipe.weights.blockSize: only meaningful with granularity \"per-block\"");
  if (w->block_size < 16 || (w->block_size & (w->block_size - 1)) != 0)
    return invalid_argument("recipe.weights.blockSize: must be a power of two >= 16 (e.g. 32, 64, 128), got " +
                            std::to_string(w->block_size));
  return Status::Ok();
}

Status read_activations(const Json& j, QuantMode mode, ActivationRecipe* a) {
  Reader r(j, "recipe.activations");
  WQ_RETURN_IF_ERROR(r.only({"dtype", "symmetric", "bits"}));
  int bits = 8;
  const bool bits_given = r.get("bits") != nullptr;
  WQ_RETURN_IF_ERROR(r.read_int("bits", &bits));
  if (bits != 8 && bits != 4)
    return invalid_argument("recipe.activations.bits: must be 8 or 4, got " + std::to_string(bits));
  std::string dt;
  bool given = false;
  WQ_RETURN_IF_ERROR(r.read_string("dtype", &dt, &given));
  if (given) {
    if (dt == "uint8") a->dtype = DType::kUInt8;
    else if (dt == "int8") a->dtype = DType::kInt8;
    else if (dt == "uint4") a->dtype = DType::kUInt4;
    else if (dt == "int4") a->dtype = DType::kInt4;
    else return invalid_argument("recipe.activations.dtype: must be \"uint8\", \"int8\", \"uint4\" or \"int4\", got \"" + dt + "\"");
    if (bits_given && bits != a->bits())
      return invalid_argument("recipe.activations.bits: " + std::to_string(bits) + " contradicts dtype \"" + dt + "\"");
  } else if (bits == 4) {
    a->dtype = DType::kUInt4;
  }
  WQ_RETURN_IF_ERROR(r.read_bool("symmetric", &a->symmetric));
  if (a->bits() == 4 && mode != QuantMode::kStatic)
    return invalid_argument(std::string("recipe.activations.bits: 4-bit activations need mode \"static\" (mode is \"") +
                            quant_mode_name(mode) + "\")");
  return Status::Ok();
}

Status read_calibration(const Json& j, CalibrationRecipe* c) {
  Reader r(j, "recipe.calibration");
  WQ_RETURN_IF_ERROR(r.only({"method", "percentile", "bins", "momentum", "maxSamples"}));
  std::string m;
  bool given = false;
  WQ_RETURN_IF_ERROR(r.read_string("method", &m, &given));
  if (given) {
    Result<CalibrationMethod> method = parse_calibration_method(m);
    if (!method.ok()) return invalid_argument("recipe.calibration.method: " + method.status().message());
    c->observer.method = *method;
  }
  WQ_RETURN_IF_ERROR(r.read_number("percentile", &c->observer.percentile));
  if (!(c->observer.percentile > 0 && c->observer.percentile <= 100))
    return invalid_argument("recipe.calibration.percentile: must be in (0, 100], got " +
                            std::to_string(c->observer.percentile));
  WQ_RETURN_IF_ERROR(r.read_int("bins", &c->observer.bins));
  if (c->observer.bins < Histogram::kMinBins || c->observer.bins > Histogram::kMaxBins)
    return invalid_argument("recipe.calibration.bins: must be in [" + std::to_string(Histogram::kMinBins) + ", " +
                            std::to_string(Histogram::kMaxBins) + "], got " + std::to_string(c->observer.bins));
  double momentum = c->observer.momentum;
  WQ_RETURN_IF_ERROR(r.read_number("momentum", &momentum));
  if (!(momentum > 0 && momentum <= 1))
    return invalid_argument("recipe.calibration.momentum: must be in (0, 1], got " + std::to_string(momentum));
  c->observer.momentum = float(momentum);
  WQ_RETURN_IF_ERROR(r.read_int("maxSamples", &c->max_samples));
  if (c->max_samples < 0)
    return invalid_argument("recipe.calibration.maxSamples: must be >= 0 (0 = all), got " +
                            std::to_string(c->max_samples));
  return Status::Ok();
}

Status read_filter(const Json& j, const char* name, std::vector<std::string>* op_types,
                   std::vector<std::string>* nodes) {
  Reader r(j, std::string("recipe.") + name);
  WQ_RETURN_IF_ERROR(r.only({"opTypes", "nodes"}));
  WQ_RETURN_IF_ERROR(r.read_strings("opTypes", op_types));
  WQ_RETURN_IF_ERROR(r.read_strings("nodes", nodes));
  return Status::Ok();
}

Status read_one_of(const Reader& r, const char* key, std::initializer_list<const char*> allowed, std::string* out) {
  WQ_RETURN_IF_ERROR(r.read_string(key, out));
  std::string list;
  for (const char* a : allowed) {
    if (*out == a) return Status::Ok();
    list += std::string(list.empty() ? "" : ", ") + a;
  }
  return invalid_argument(r.field(key) + ": unknown \"" + *out + "\" (" + list + ")");
}

Status read_training(const Json& j, TrainingRecipe* t) {
  Reader r(j, "recipe.training");
  WQ_RETURN_IF_ERROR(r.only({"epochs", "batchSize", "learningRate", "optimizer", "momentum", "weightDecay", "schedule",
                             "warmupSteps", "maxSteps", "loss", "temperature", "output", "weightRanges",
                             "activationRanges", "rangeMomentum", "calibrationSamples", "seed", "initialize"}));
  auto int_in = [&](const char* key, int* v, int lo, int hi) -> Status {
    WQ_RETURN_IF_ERROR(r.read_int(key, v));
    if (*v < lo || *v > hi)
      return invalid_argument(r.field(key) + ": must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                              "], got " + std::to_string(*v));
    return Status::Ok();
  };
  WQ_RETURN_IF_ERROR(int_in("epochs", &t->epochs, 1, 10000));
  WQ_RETURN_IF_ERROR(int_in("batchSize", &t->batch_size, 1, 65536));
  WQ_RETURN_IF_ERROR(int_in("warmupSteps", &t->warmup_steps, 0, 1 << 30));
  WQ_RETURN_IF_ERROR(int_in("maxSteps", &t->max_steps, 0, 1 << 30));
  WQ_RETURN_IF_ERROR(int_in("calibrationSamples", &t->calibration_samples, 1, 1 << 30));
  WQ_RETURN_IF_ERROR(int_in("seed", &t->seed, 0, 2147483647));
  WQ_RETURN_IF_ERROR(r.read_number("learningRate", &t->learning_rate));
  if (!(t->learning_rate > 0 && t->learning_rate <= 1e6))
    return invalid_argument(r.field("learningRate") + ": must be in (0, 1e6], got " + std::to_string(t->learning_rate));
  WQ_RETURN_IF_ERROR(r.read_number("momentum", &t->momentum));
  if (!(t->momentum >= 0 && t->momentum < 1))
    return invalid_argument(r.field("momentum") + ": must be in [0, 1), got " + std::to_string(t->momentum));
  WQ_RETURN_IF_ERROR(r.read_number("weightDecay", &t->weight_decay));
  if (!(t->weight_decay >= 0 && t->weight_decay < 1))
    return invalid_argument(r.field("weightDecay") + ": must be in [0, 1), got " + std::to_string(t->weight_decay));
  WQ_RETURN_IF_ERROR(r.read_number("temperature", &t->temperature));
  if (!(t->temperature > 0 && t->temperature <= 100))
    return invalid_argument(r.field("temperature") + ": must be in (0, 100], got " + std::to_string(t->temperature));
  WQ_RETURN_IF_ERROR(r.read_number("rangeMomentum", &t->range_momentum));
  if (!(t->range_momentum > 0 && t->range_momentum <= 1))
    return invalid_argument(r.field("rangeMomentum") + ": must be in (0, 1], got " + std::to_string(t->range_momentum));
  WQ_RETURN_IF_ERROR(read_one_of(r, "optimizer", {"adam", "sgd"}, &t->optimizer));
  WQ_RETURN_IF_ERROR(read_one_of(r, "schedule", {"cosine", "constant"}, &t->schedule));
  WQ_RETURN_IF_ERROR(read_one_of(r, "loss", {"auto", "cross-entropy", "distillation", "mse"}, &t->loss));
  WQ_RETURN_IF_ERROR(read_one_of(r, "weightRanges", {"learned", "moving-average", "frozen"}, &t->weight_ranges));
  WQ_RETURN_IF_ERROR(read_one_of(r, "activationRanges", {"moving-average", "learned", "frozen"}, &t->activation_ranges));
  WQ_RETURN_IF_ERROR(read_one_of(r, "initialize", {"keep", "random"}, &t->initialize));
  WQ_RETURN_IF_ERROR(r.read_string("output", &t->output));
  return Status::Ok();
}

Json training_to_json(const TrainingRecipe& t) {
  Json j = Json::object();
  j.set("epochs", t.epochs);
  j.set("batchSize", t.batch_size);
  j.set("learningRate", t.learning_rate);
  j.set("optimizer", t.optimizer);
  j.set("momentum", t.momentum);
  j.set("weightDecay", t.weight_decay);
  j.set("schedule", t.schedule);
  j.set("warmupSteps", t.warmup_steps);
  j.set("maxSteps", t.max_steps);
  j.set("loss", t.loss);
  j.set("temperature", t.temperature);
  j.set("output", t.output);
  j.set("weightRanges", t.weight_ranges);
  j.set("activationRanges", t.activation_ranges);
  j.set("rangeMomentum", t.range_momentum);
  j.set("calibrationSamples", t.calibration_samples);
  j.set("seed", t.seed);
  j.set("initialize", t.initialize);
  return j;
}

}  // namespace

Result<Recipe> recipe_from_json(const Json& json) {
  if (!json.is_object()) return invalid_argument(std::string("recipe: expected an object, got ") + Json::type_name(json.type()));
  Reader r(json, "recipe");
  WQ_RETURN_IF_ERROR(r.only({"mode", "weights", "activations", "calibration", "include", "exclude", "keepFirstLayer",
                             "keepLastLayer", "foldBatchNorm", "fuseActivations", "report", "training"}));
  Recipe recipe;
  std::string mode;
  bool mode_given = false;
  WQ_RETURN_IF_ERROR(r.read_string("mode", &mode, &mode_given));
  if (!mode_given) return invalid_argument("recipe.mode: missing (dynamic, static, weight-only, fp16)");
  if (mode == "dynamic") recipe.mode = QuantMode::kDynamic;
  else if (mode == "static") recipe.mode = QuantMode::kStatic;
  else if (mode == "weight-only") recipe.mode = QuantMode::kWeightOnly;
  else if (mode == "fp16") recipe.mode = QuantMode::kFp16;
  else return invalid_argument("recipe.mode: unknown \"" + mode + "\" (dynamic, static, weight-only, fp16)");

  if (recipe.mode == QuantMode::kWeightOnly) {
    recipe.weights.bits = 4;
    recipe.weights.granularity = Granularity::kPerBlock;
  }
  WQ_ASSIGN_OR_RETURN(const Json* weights, r.object("weights"));
  bool granularity_given = false;
  if (weights) WQ_RETURN_IF_ERROR(read_weights(*weights, recipe.mode, &recipe.weights, &granularity_given));
  WQ_ASSIGN_OR_RETURN(const Json* acts, r.object("activations"));
  if (acts) WQ_RETURN_IF_ERROR(read_activations(*acts, recipe.mode, &recipe.activations));
  WQ_ASSIGN_OR_RETURN(const Json* calib, r.object("calibration"));
  if (calib) WQ_RETURN_IF_ERROR(read_calibration(*calib, &recipe.calibration));
  WQ_ASSIGN_OR_RETURN(const Json* include, r.object("include"));
  if (include) WQ_RETURN_IF_ERROR(read_filter(*include, "include", &recipe.include_op_types, &recipe.include_nodes));
  WQ_ASSIGN_OR_RETURN(const Json* exclude, r.object("exclude"));
  if (exclude) WQ_RETURN_IF_ERROR(read_filter(*exclude, "exclude", &recipe.exclude_op_types, &recipe.exclude_nodes));
  WQ_RETURN_IF_ERROR(r.read_bool("keepFirstLayer", &recipe.keep_first_layer));
  WQ_RETURN_IF_ERROR(r.read_bool("keepLastLayer", &recipe.keep_last_layer));
  WQ_RETURN_IF_ERROR(r.read_bool("foldBatchNorm", &recipe.fold_batch_norm));
  WQ_RETURN_IF_ERROR(r.read_bool("fuseActivations", &recipe.fuse_activations));
  WQ_ASSIGN_OR_RETURN(const Json* report, r.object("report"));
  if (report) {
    Reader rr(*report, "recipe.report");
    WQ_RETURN_IF_ERROR(rr.only({"samples"}));
    WQ_RETURN_IF_ERROR(rr.read_int("samples", &recipe.report_samples));
    if (recipe.report_samples < 0 || recipe.report_samples > 1000)
      return invalid_argument("recipe.report.samples: must be in [0, 1000], got " +
                              std::to_string(recipe.report_samples));
  }
  WQ_ASSIGN_OR_RETURN(const Json* training, r.object("training"));
  if (training) {
    WQ_RETURN_IF_ERROR(read_training(*training, &recipe.training));
    recipe.has_training = true;
  }
  if (recipe.mode == QuantMode::kWeightOnly && !granularity_given && recipe.weights.bits == 8)
    recipe.weights.granularity = Granularity::kPerChannel;
  return recipe;
}

Result<Recipe> parse_recipe(const std::string& json_text) {
  Result<Json> json = Json::parse(json_text);
  if (!json.ok()) return invalid_argument("recipe: " + json.status().message());
  return recipe_from_json(*json);
}

Json recipe_to_json(const Recipe& recipe) {
  Json j = Json::object();
  j.set("mode", quant_mode_name(recipe.mode));
  Json w = Json::object();
  w.set("bits", recipe.weights.bits);
  w.set("granularity", granularity_name(recipe.weights.granularity));
  if (recipe.weights.granularity == Granularity::kPerBlock) w.set("blockSize", recipe.weights.block_size);
  w.set("symmetric", recipe.weights.symmetric);
  w.set("mseRefine", recipe.weights.mse_refine);
  j.set("weights", std::move(w));
  Json a = Json::object();
  a.set("dtype", dtype_name(recipe.activations.dtype));
  a.set("bits", recipe.activations.bits());
  a.set("symmetric", recipe.activations.symmetric);
  j.set("activations", std::move(a));
  Json c = Json::object();
  c.set("method", calibration_method_name(recipe.calibration.observer.method));
  c.set("percentile", recipe.calibration.observer.percentile);
  c.set("bins", recipe.calibration.observer.bins);
  c.set("momentum", double(recipe.calibration.observer.momentum));
  c.set("maxSamples", recipe.calibration.max_samples);
  j.set("calibration", std::move(c));
  auto strings = [](const std::vector<std::string>& v) {
    Json arr = Json::array();
    for (const auto& s : v) arr.push_back(s);
    return arr;
  };
  Json inc = Json::object();
  inc.set("opTypes", strings(recipe.include_op_types));
  inc.set("nodes", strings(recipe.include_nodes));
  j.set("include", std::move(inc));
  Json exc = Json::object();
  exc.set("opTypes", strings(recipe.exclude_op_types));
  exc.set("nodes", strings(recipe.exclude_nodes));
  j.set("exclude", std::move(exc));
  j.set("keepFirstLayer", recipe.keep_first_layer);
  j.set("keepLastLayer", recipe.keep_last_layer);
  j.set("foldBatchNorm", recipe.fold_batch_norm);
  j.set("fuseActivations", recipe.fuse_activations);
  Json rep = Json::object();
  rep.set("samples", recipe.report_samples);
  j.set("report", std::move(rep));
  if (recipe.has_training) j.set("training", training_to_json(recipe.training));
  return j;
}

}  // namespace wq
