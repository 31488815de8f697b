#!/usr/bin/env bash
# Installs everything webquant needs on a fresh Debian bookworm machine:
# missing Debian packages (apt) and the npm devDependencies (npm ci from the
# committed lockfile). Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v emcc >/dev/null || need+=(emscripten)
[ -f /usr/include/doctest/doctest.h ] || need+=(doctest-dev)
[ -f /usr/include/simde/wasm/simd128.h ] || need+=(libsimde-dev)
[ -d /usr/share/libonnx-testdata/data/node ] || need+=(libonnx-testdata)
# XNNPACK: native oracle and speed reference for the int8 kernels (x86-64 / arm64 only).
case "$(dpkg --print-architecture 2>/dev/null)" in
  amd64|arm64)
    [ -f /usr/include/xnnpack.h ] || need+=(libxnnpack-dev)
    [ -f /usr/include/pthreadpool.h ] || need+=(libpthreadpool-dev)
    ;;
esac
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v ccache >/dev/null || need+=(ccache)   # compiler cache: second builds in seconds

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund
fi
