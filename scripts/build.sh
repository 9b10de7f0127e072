#!/usr/bin/env bash
# Configures and builds shardlearn into build/ (strict warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSL_WERROR=ON -DSL_BUILD_TESTS=ON "$@" >/dev/null
cmake --build build -j"$(nproc)"
