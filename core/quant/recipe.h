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
  DType dtype = DType::kUInt8;
  bool symmetric = false;
};

struct CalibrationRecipe {
  ObserverOptions observer;
  int max_samples = 0;  // 0 = all the caller supplies
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
  // Issue 6 adds the training settings; kept verbatim so a recipe round-trips.
  Json training;

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
