#!/usr/bin/env bash
# The README's demo command: set up, build the WASM module, quantize the bundled
# MNIST CNN to static int8 with real digits and compare it with float, then
# serve the web app on localhost (Ctrl-C to stop; --no-serve to skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh module >/dev/null
mkdir -p artifacts
node examples/quantize_and_compare.mjs --out artifacts/mnist_cnn.static.onnx
if [[ "${1:-}" == "--no-serve" ]]; then exit 0; fi
exec node scripts/serve.mjs
