#!/usr/bin/env bash
# Native int8 GEMM benchmark: ours (WASM-SIMD source through SIMDe) vs XNNPACK,
# single thread, on the issue's shapes (tests/bench/q8_xnnpack_bench.cc).
# Needs libxnnpack-dev and libpthreadpool-dev (scripts/setup.sh installs them).
#   bash scripts/bench/native_xnnpack.sh [shape filter, e.g. 128x768]
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS="${JOBS:-2}"
BUILD="${BUILD_DIR:-build/native-xnnpack-bench}"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWQ_XNNPACK_ORACLE=ON -DWQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target wq_xnnpack_bench >/dev/null
"$BUILD/wq_xnnpack_bench" "$@"
