#!/usr/bin/env bash
# Builds everything: the native library with CMake (build/), then the .NET solution (Release).
# Idempotent and runnable from any folder. Extra CMake arguments: HB_CMAKE_ARGS="-DHB_CUDA=ON".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HB_BUILD_DIR:-$ROOT/build}"
CONFIG="${HB_DOTNET_CONFIG:-Release}"
JOBS="${HB_JOBS:-$(nproc 2>/dev/null || echo 2)}"

generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then generator=(-G Ninja); fi

echo "==> native: configure ($BUILD_DIR)"
# shellcheck disable=SC2086
mkdir -p "$BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${HB_CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; echo "build.sh: CMake configure failed (log above)" >&2; exit 1; }
grep -E "^-- humpback:" "$BUILD_DIR/configure.log" || true
echo "==> native: build"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "==> dotnet: build ($CONFIG)"
dotnet build "$ROOT/Humpback.sln" -c "$CONFIG" -nologo -v quiet -clp:ErrorsOnly
echo "==> built: $BUILD_DIR/lib/libhumpback.so and src/Humpback.Cli/bin/$CONFIG/net10.0/humpback.dll"
