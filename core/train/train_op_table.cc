// The one table of ops with a gradient: which inputs and outputs carry one,
// and the factory. Add an op here and in its family file.
#include <algorithm>
#include <cstring>

#include "core/train/train_op.h"

namespace wq {
namespace detail {
namespace {

constexpr uint32_t kIn0 = 1u << 0;
constexpr uint32_t kIn01 = (1u << 0) | (1u << 1);
constexpr uint32_t kIn012 = (1u << 0) | (1u << 1) | (1u << 2);
constexpr uint32_t kAll = 0xffffffffu;
constexpr uint32_t kOut0 = 1u << 0;

const TrainOpDef kTrainOps[] = {
    {"", "Gemm", kIn012, kOut0, true, make_train_gemm, nullptr, nullptr},
    {"", "MatMul", kIn01, kOut0, true, make_train_matmul, nullptr, nullptr},
    {"", "Conv", kIn012, kOut0, true, make_train_conv, nullptr, nullptr},
    // scale, B; not the running mean/var.
    {"", "BatchNormalization", kIn012, kOut0, true, make_train_batch_norm, batch_norm_input_roles, nullptr},
    {"", "LayerNormalization", kIn012, kOut0, false, make_train_layer_norm, nullptr, nullptr},
    {"", "Softmax", kIn0, kOut0, false, make_train_softmax, nullptr, nullptr},
    {"", "Relu", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "LeakyRelu", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "HardSigmoid", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "HardSwish", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Sigmoid", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Tanh", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Erf", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Gelu", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Sqrt", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Exp", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Log", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Neg", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Reciprocal", kIn0, kOut0, false, make_train_unary, nullptr, nullptr},
    {"", "Identity", kIn0, kOut0, false, make_train_reshape_like, nullptr, nullptr},
    {"", "Clip", kIn0, kOut0, false, make_train_clip, nullptr, nullptr},
    {"", "Add", kIn01, kOut0, false, make_train_binary, nullptr, nullptr},
    {"", "Sub", kIn01, kOut0, false, make_train_binary, nullptr, nullptr},
    {"", "Mul", kIn01, kOut0, false, make_train_binary, nullptr, nullptr},
    {"", "Div", kIn01, kOut0, false, make_train_binary, nullptr, nullptr},
    {"", "Pow", kIn01, kOut0, false, make_train_pow, nullptr, nullptr},
    {"", "ReduceMean", kIn0, kOut0, false, make_train_reduce, nullptr, nullptr},
    {"", "ReduceSum", kIn0, kOut0, false, make_train_reduce, nullptr, nullptr},
    {"", "Cast", kIn0, kOut0, false, make_train_cast, nullptr, cast_is_differentiable},
    {"", "Slice", kIn0, kOut0, false, make_train_index_move, nullptr, nullptr},
    {"", "Gather", kIn0, kOut0, false, make_train_index_move, nullptr, nullptr},
    {"", "MaxPool", kIn0, kOut0, false, make_train_pool, nullptr, nullptr},
    {"", "AveragePool", kIn0, kOut0, false, make_train_pool, nullptr, nullptr},
    {"", "GlobalAveragePool", kIn0, kOut0, false, make_train_global_average_pool, nullptr, nullptr},
    {"", "Flatten", kIn0, kOut0, false, make_train_reshape_like, nullptr, nullptr},
    {"", "Reshape", kIn0, kOut0, false, make_train_reshape_like, nullptr, nullptr},
    {"", "Squeeze", kIn0, kOut0, false, make_train_reshape_like, nullptr, nullptr},
    {"", "Unsqueeze", kIn0, kOut0, false, make_train_reshape_like, nullptr, nullptr},
    {"", "Transpose", kIn0, kOut0, false, make_train_transpose, nullptr, nullptr},
    {"", "Concat", kAll, kOut0, false, make_train_concat, nullptr, nullptr},
    {"", "Dropout", kIn0, kOut0, true, make_train_dropout, nullptr, nullptr},
    // x and (learned) scale; not the zero point or the tracked range.
    {kTrainOpDomain, "FakeQuantize", kIn01, kOut0, true, make_train_fake_quantize, fake_quantize_input_roles, nullptr},
};

// Outputs are integers, booleans or shapes: no gradient flows through them.
const char* const kNonDifferentiable[] = {
    "Shape", "Size",  "Equal",   "Less",   "Greater", "LessOrEqual", "GreaterOrEqual", "Not",
    "And",   "Or",    "Xor",     "ArgMax", "ArgMin",  "NonZero",     "IsNaN",          "IsInf",
    "Sign",  "Floor", "Ceil",    "Round",  "ConstantOfShape", "EyeLike", "Range",
};

}  // namespace

const TrainOpDef* find_train_op(const std::string& domain, const std::string& op_type) {
  for (const TrainOpDef& d : kTrainOps)
    if (domain == d.domain && op_type == d.op_type) return &d;
  return nullptr;
}

bool is_non_differentiable_op(const std::string& domain, const std::string& op_type) {
  if (!domain.empty()) return false;
  for (const char* name : kNonDifferentiable)
    if (op_type == name) return true;
  return false;
}

void batch_norm_input_roles(const Node& node, std::vector<InputRole>* roles) {
  for (size_t i = 3; i < 5 && i < roles->size(); ++i) (*roles)[i] = InputRole::kState;
}

std::vector<std::string> train_op_names() {
  std::vector<std::string> names;
  for (const TrainOpDef& d : kTrainOps) {
    std::string n = std::strlen(d.domain) ? std::string(d.domain) + ":" + d.op_type : std::string(d.op_type);
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace detail
}  // namespace wq
