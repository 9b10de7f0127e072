#!/usr/bin/env bash
# Configures and builds shardlearn (strict warnings as errors).
#   scripts/build.sh [--build-dir DIR] [CMAKE_ARGS...]
# DIR defaults to build/; CMAKE_ARGS go to cmake as they are, e.g.
#   scripts/build.sh --build-dir build-asan -DSL_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
if [ "${1:-}" = "--build-dir" ]; then
  dir=${2:?--build-dir needs a directory}
  shift 2
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DSL_WERROR=ON -DSL_BUILD_TESTS=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
