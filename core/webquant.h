// webquant's C++ API: the one header C++ users (and the Embind bindings)
// include. Everything it pulls in is public; everything else under core/ is
// internal and may change.
//
//   #include "core/webquant.h"
//   auto model = wq::Model::load(bytes).value();                     // parse, validate, plan
//   auto outputs = model->run({{"x", input}});                        // Result<map<name, Tensor>>
//   auto recipe = wq::parse_recipe(R"({"mode":"static"})").value();
//   auto q = wq::Quantizer::create(model->graph(), recipe).value();   // prepare + plan
//   q->calibrate(sample);                                             // static mode only
//   wq::QuantizedModel out = q->finish().value();                     // ONNX bytes + report
//
// Errors are values (Status / Result<T>, core/status.h): nothing here throws
// or aborts on bad input. Layers (doc/design.md): this header sits on top.
#pragma once

#include "core/graph/graph.h"      // Graph: what passes (quantize, compare, fine-tune) read
#include "core/model.h"            // Model, LoadOptions, ModelSummary, RunStats, supported_op_names
#include "core/quant/compare.h"    // Comparator: float vs quantized, per output and per node
#include "core/quant/quantizer.h"  // Quantizer, QuantizedModel
#include "core/quant/recipe.h"     // Recipe, parse_recipe, recipe_to_json
#include "core/status.h"           // Status, Result, StatusCode
#include "core/tensor.h"           // Tensor, DType, MemoryLimitScope
#include "core/train/finetune.h"   // FineTuner: quantization-aware fine-tuning, float training
