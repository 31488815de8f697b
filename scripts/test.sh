#!/usr/bin/env bash
# Runs every webquant test on a fresh or existing checkout:
#   setup (apt + npm ci) -> build (native + WASM) -> doctest native (ASan+UBSan)
#   -> doctest WASM under Node -> ONNX conformance (native and WASM, checked
#   against tests/conformance/expected_pass.txt) -> Node API tests -> browser tests.
# Every suite runs even if an earlier one failed; the exit code is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
bash scripts/setup.sh || exit 1
echo "test: setup took $((SECONDS - t0)) s"
t0=$SECONDS
bash scripts/build.sh all || { echo "test: build failed"; exit 1; }
echo "test: build took $((SECONDS - t0)) s"

ONNX_NODE_TESTS=/usr/share/libonnx-testdata/data/node
mkdir -p artifacts
failed=()
run_suite() {
  local name="$1" t0=$SECONDS; shift
  echo
  echo "==== $name"
  if "$@"; then echo "==== $name: ok ($((SECONDS - t0)) s)"; else echo "==== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}

run_suite "doctest (native, ASan+UBSan)" build/native-asan/wq_tests --no-colors=true
run_suite "doctest (wasm)" node --no-experimental-fetch build/wasm/wq_tests.cjs --no-colors=true
run_suite "onnx conformance (native)" build/native-asan/wq_conformance "$ONNX_NODE_TESTS" \
  --expect tests/conformance/expected_pass.txt --table artifacts/conformance-native.md
run_suite "onnx conformance (wasm)" node --no-experimental-fetch build/wasm/wq_conformance.cjs "$ONNX_NODE_TESTS" \
  --expect tests/conformance/expected_pass.txt --table artifacts/conformance-wasm.md
run_suite "node API tests" node --test --test-reporter=spec tests/node/
run_suite "fuzz (wasm module)" node tests/fuzz/run.mjs
run_suite "browser tests" node --test --test-reporter=spec tests/e2e/

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "test: FAILED suites: ${failed[*]}"
  exit 1
fi
echo "test: all suites passed"
