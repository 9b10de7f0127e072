#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing
# (Debian packages; scikit-learn and mlflow into .venv), builds with strict
# warnings, and runs every test through ctest (multi-rank tests under mpirun,
# reference tests against scikit-learn, tracking tests against a real
# `mlflow server` that the tests start on 127.0.0.1 and stop).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --python
./scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd build
ctest --output-on-failure --no-tests=error --timeout 600 "$@"
