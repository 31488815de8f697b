#!/usr/bin/env bash
# The README's demo command: set up, build the WASM module, run the demo on a bundled real model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh module >/dev/null
node examples/demo_classifier.mjs
