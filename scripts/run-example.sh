#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains on the bundled
# example data on 2 ranks, evaluates the model, and prints the results.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
# A session directory of this script's own: Open MPI 4.1 fails a job that
# starts at the same moment as another of the same user (README: several
# jobs on one host).
OMPI_MCA_orte_tmpdir_base=$(mktemp -d)
export OMPI_MCA_orte_tmpdir_base
trap 'rm -rf "$OMPI_MCA_orte_tmpdir_base"' EXIT
out=example-out
mkdir -p "$out"
# The options are in examples/train.yaml (its outputs go to example-out/);
# options given to this script override the file.
mpirun --oversubscribe -np 2 build/shardlearn train --config examples/train.yaml "$@"
echo
echo "held-out evaluation of $out/model.json:"
mpirun --oversubscribe -np 2 build/shardlearn eval --model "$out/model.json" \
  --data examples/test.svm --metrics-out "$out/eval.json"
echo
echo "model: $out/model.json   metrics: $out/metrics.json   run journal: $out/runs/"
