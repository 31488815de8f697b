#!/usr/bin/env bash
# Builds every target: the WASM module for JS (dist/webquant.{js,wasm}), the
# doctest binary natively (ASan+UBSan) and in WASM, and the conformance runner
# natively and in WASM. Build trees live under build/.
#   build.sh [all|module|native|wasm]   (module = only dist/webquant.{js,wasm})
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
export NODE_PATH=/usr/share/nodejs  # Debian's emcc loads acorn from there

what="${1:-all}"

# Compiler cache across builds and CI runs on the same machine (outside the clone):
# every configuration compiles through ccache when it is installed (setup.sh installs it).
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/webquant-ccache}"
  export CCACHE_BASEDIR="$PWD"        # paths under the clone hash relative: clones elsewhere hit too
  export CCACHE_NOHASHDIR=1
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-6G}"
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# One native configuration (ASan+UBSan) for both native test binaries: the
# conformance runner gets the sanitizers too, and wq_core is compiled once
# natively instead of twice. scripts/conformance_update.sh uses the same tree.
build_native() {
  cmake -S . -B build/native-asan "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWQ_SANITIZE=ON >/dev/null
  cmake --build build/native-asan -j"$JOBS" --target wq_tests wq_conformance
}

build_wasm() {
  emcmake cmake -S . -B build/wasm "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/wasm -j"$JOBS" --target webquant wq_tests wq_conformance
}

build_module() {
  emcmake cmake -S . -B build/wasm "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/wasm -j"$JOBS" --target webquant
}

stage() {  # stage NAME CMD...: runs it and prints its wall time
  local name="$1" t0=$SECONDS; shift
  "$@"
  echo "build: $name took $((SECONDS - t0)) s"
}

case "$what" in
  module) stage module build_module ;;
  native) stage native build_native ;;
  wasm) stage wasm build_wasm ;;
  all) stage wasm build_wasm; stage native build_native ;;
  *) echo "usage: build.sh [all|module|native|wasm]" >&2; exit 2 ;;
esac
