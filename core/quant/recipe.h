// Recipe: what to quantize and how, as the user wrote it in JSON.
//
// The same JSON comes from the JS API, the web app and the CLI, so it is
// parsed and validated here, once: an unknown key, a value of the wrong type
// or an impossible combination (int4 activations, a block size that is not a
// power of two >= 16, per-block weights outside weight-only mode) is a
// kInvalidArgument naming the field ("recipe.weights.blockSize: ..."). Checks
// that need the model (a node to exclude that does not exist, a block size
// that does not divide K) are made by the quantizer.
//
// The keys and their defaults are listed in doc/quantization.md ("Recipes").
#pragma once

#include <string>
#include <vector>

#include "core/quant/observers.h"
#include "core/status.h"
#include "core/util/json.h"

namespace wq {

enum class QuantMode : int {
  kDynamic = 0,     // "dynamic": int8 weights, activations quantized at run time
  kStatic = 1,      // "static": int8 weights and activations (calibrated ranges)
  kWeightOnly = 2,  // "weight-only": int4/int8 weights, float activations
  kFp16 = 3,        // "fp16": float16 weights
};
const char* quant_mode_name(QuantMode m);

enum class Granularity : int { kPerTensor = 0, kPerChannel = 1, kPerBlock = 2 };
const char* granularity_name(Granularity g);

struct WeightRecipe {
  int bits = 8;
  Granularity granularity = Granularity::kPerChannel;
  int block_size = 32;  // per-block only
  bool symmetric = true;
  bool mse_refine = false;  // search each channel's clip ratio (observers.h WeightRangeOptions)
};

struct ActivationRecipe {
  DType dtype = DType::kUInt8;  // kUInt8 / kInt8, or kUInt4 / kInt4 (static mode; 8-bit containers behind a Clip)
  bool symmetric = false;
  int bits() const { return dtype == DType::kUInt4 || dtype == DType::kInt4 ? 4 : 8; }
};

struct CalibrationRecipe {
  ObserverOptions observer;
  int max_samples = 0;  // 0 = all the caller supplies
};

// How fine-tuning runs (quantization-aware, or plain float training). The
// caller streams batches of `batch_size` samples for `epochs` passes; the
// learning rate follows `schedule` over the whole run.
struct TrainingRecipe {
  int epochs = 1;
  int batch_size = 32;
  double learning_rate = 1e-4;
  std::string optimizer = "adam";    // "adam" | "sgd"
  double momentum = 0.9;             // sgd
  double weight_decay = 0.0;         // decoupled (AdamW) for adam, L2 for sgd
  std::string schedule = "cosine";   // "cosine" (to 0 over the run) | "constant"
  int warmup_steps = 0;              // linear warm-up before the schedule
  int max_steps = 0;                 // 0: epochs decide
  std::string loss = "auto";         // "auto" (labels: cross-entropy, none: distillation) | "cross-entropy" | "distillation" | "mse"
  double temperature = 1.0;          // distillation
  std::string output;                // the graph output the loss reads; "" = the first
  std::string weight_ranges = "learned";             // fake-quant mode for weight scales
  std::string activation_ranges = "moving-average";  // ... and activation ranges
  double range_momentum = 0.01;      // moving-average ranges
  int calibration_samples = 64;      // training samples that calibrate when no calibration set is given
  int seed = 0;                      // shuffling and (initialize "random") weight initialisation
  std::string initialize = "keep";   // "keep" | "random" (He-uniform weights, zero biases: train from scratch)
};

struct Recipe {
  QuantMode mode = QuantMode::kStatic;
  WeightRecipe weights;
  ActivationRecipe activations;
  CalibrationRecipe calibration;
  std::vector<std::string> include_op_types;  // empty = the mode's defaults
  std::vector<std::string> include_nodes;     // if set, only these nodes (plus op-type filter)
  std::vector<std::string> exclude_op_types;
  std::vector<std::string> exclude_nodes;
  bool keep_first_layer = false;
  bool keep_last_layer = false;
  bool fold_batch_norm = true;
  bool fuse_activations = true;
  int report_samples = 4;
  // Fine-tuning settings ("training" key): used by FineTuner
  // (core/train/finetune.h); quantize() ignores them.
  bool has_training = false;
  TrainingRecipe training;

  bool needs_calibration() const { return mode == QuantMode::kStatic; }
  // The op types quantized when include_op_types is empty.
  std::vector<std::string> default_op_types() const;
};

// Parses and validates. Fields absent from the JSON get the mode's defaults
// (weight-only: 4 bits, per-block 32).
Result<Recipe> parse_recipe(const std::string& json_text);
Result<Recipe> recipe_from_json(const Json& json);
// The full recipe with every default spelled out (round-trips through parse_recipe).
Json recipe_to_json(const Recipe& recipe);

}  // namespace wq
