#!/usr/bin/env bash
# The benchmark: shardlearn on 1 and 2 ranks against scikit-learn, Spark MLlib
# and liblinear-train on one synthetic sparse data set and one objective, plus the
# cost of MLflow tracking, stopping, and shardlearn serve against mlflow models
# serve. Installs what is missing, builds, generates the data once (cached in
# bench-out/, git-ignored), runs everything in one go, prints the tables and
# writes bench-out/bench.json and bench-out/bench.md.
# What each number means: docs/benchmark.md.
#
#   scripts/bench.sh                     the full benchmark (1M rows x 2^20 features x 40 nonzeros)
#   scripts/bench.sh --rows 100000       a smaller data set (also BENCH_ROWS=100000)
#   scripts/bench.sh --write-doc         also put the tables into docs/benchmark.md
#   scripts/bench.sh --only-serve        only shardlearn serve against mlflow models serve (minutes)
#   scripts/bench.sh --only-warm         only the warm start: newton at lambda, then 0.8 lambda cold and warm
#   scripts/bench.sh --only-sources      only the load rates of plain, .gz, .zst files and parts
#   scripts/bench.sh --only-cache        only the binary cache: convert, load rate against the text parse
#   scripts/bench.sh --only-l1           only L1 logistic regression: lbfgs (OWL-QN) against liblinear-train -s 6
#   scripts/bench.sh --only-path         only the path: 10 lambdas by warm starts against one fit
#   scripts/bench.sh --only-dense        only the dense 12000 x 784 set: newton direct vs cg vs scikit-learn
#   scripts/bench.sh --only-peers        only newton on 2 ranks vs LIBLINEAR -m 2 and Snap ML n_jobs=2
#   scripts/bench.sh --only-multinomial  only multinomial (60000 x 784, 10 classes) against scikit-learn
#   scripts/bench.sh --help              every option (sizes, lambda, budgets, SGD settings)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --python
# GNU time reports each rank's peak RSS; wrk loads the servers of the serving comparison.
need=()
[ -x /usr/bin/time ] || need+=(time)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Spark MLlib, a peer, needs a Java runtime and pyspark (unless --skip-spark).
case " $* " in
  *" --skip-spark "* | *" --render "* | *" --only-stop "* | *" --only-serve "* | *" --only-warm "* | *" --only-sources "* | *" --only-cache "* | *" --only-l1 "* | *" --only-path "* | *" --only-dense "* | *" --only-peers "* | *" --only-multinomial "*) ;;
  *)
    if ! command -v java >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        openjdk-17-jre-headless >/dev/null
    fi
    ;;
esac
# The Python peers: pyspark, LIBLINEAR multi-core (built from its sdist by pip, with gcc) and Snap ML.
if ! .venv/bin/python -c "import pyspark, liblinear.liblinearutil, snapml" 2>/dev/null; then
  .venv/bin/pip install -q -r scripts/requirements-bench.txt
fi
./scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec .venv/bin/python scripts/bench/run_bench.py "$@"
