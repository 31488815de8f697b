// resave_model: parse an ONNX model with webquant's reader and write it back
// with webquant's writer. Used to check, with onnxruntime as the oracle, that
// a re-saved model loads and computes exactly like the original.
//
//   g++ -std=c++17 -O2 -I. tests/tools/resave_model.cc core/onnx/*.cc core/status.cc core/tensor.cc \
//       -o build/resave_model
//   build/resave_model in.onnx out.onnx
//
// Prints the node count and whether the output bytes equal the input bytes.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "core/onnx/onnx_proto.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s in.onnx out.onnx\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::istreambuf_iterator<char>(in),
                                                      std::istreambuf_iterator<char>());
  auto model = wq::onnx::parse_model(bytes->data(), bytes->size(), bytes);
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[1], model.status().to_string().c_str());
    return 1;
  }
  const std::vector<uint8_t> out = wq::onnx::serialize_model(model.value());
  std::ofstream f(argv[2], std::ios::binary);
  f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", argv[2]);
    return 1;
  }
  std::printf("%s: %zu nodes, %zu -> %zu bytes, %s\n", argv[1], model->graph.node.size(), bytes->size(), out.size(),
              out == *bytes ? "byte-identical" : "bytes differ");
  return 0;
}
