#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing
# (Debian packages; scikit-learn and mlflow into .venv), builds with strict
# warnings, and runs every test through ctest (multi-rank tests under mpirun,
# reference tests against scikit-learn, tracking tests against a real
# `mlflow server` that the tests start on 127.0.0.1 and stop).
#   scripts/test.sh [CTEST_ARGS...]             build/, the whole suite
#   scripts/test.sh --sanitize [CTEST_ARGS...]  build-asan/ with ASan + UBSan
# --sanitize runs the C tests, the CLI tests and the tracking tests from the
# sanitized build (the Python tests run the binary that ctest hands them),
# with LeakSanitizer as well except in three reference tests (see below).
# The first report ends that process with SIGABRT; every report is also
# written to build-asan/sanitizer-reports/, and any file there fails the run,
# so a report cannot hide in a process whose failure a test expects.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  shift
fi
./scripts/deps.sh --python
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Tests side by side, one a core: every mpirun has a session directory of its
# own (tests/CMakeLists.txt, common.py) and every server a free port.
jobs=-j"$(nproc)"
if [ "$sanitize" = 0 ]; then
  ./scripts/build.sh
  cd build
  exec ctest "$jobs" --output-on-failure --no-tests=error --timeout 600 "$@"
fi

./scripts/build.sh --build-dir build-asan -DSL_SANITIZE=ON
supp=$PWD/tests/sanitize
reports=$PWD/build-asan/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
# mpirun hands the environment to its ranks on one host; the Python tests copy
# os.environ into every process they start.
halt="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export UBSAN_OPTIONS="$halt:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
# fast_unwind_on_malloc=0: Open MPI unloads its components in MPI_Finalize, so
# only a full unwind at malloc time names the Open MPI frames that lsan.supp
# matches (see there).
with_leaks="$halt:detect_leaks=1:fast_unwind_on_malloc=0:log_path=$reports/asan"
no_leaks="$halt:detect_leaks=0:log_path=$reports/asan"
# Not run here: package_embed builds programs against the installed library
# with the package's own flags, which carry no -fsanitize, so they cannot link
# it; the *_tsan tests and fuzz_smoke run builds of their own
# (ThreadSanitizer; clang's libFuzzer in build-fuzz/), and ran in the plain suite.
# track_faults too: its SIGTERM case needs an SGD epoch shorter than the second
# mpirun waits before SIGKILL, which a sanitizer build on a shared machine
# does not always make; its fault paths run in the plain and TSan builds.
elsewhere='^package_(embed|dockerfile)$|_tsan$|^fuzz_|^track_faults$'
# Matching those suppressions costs every process ~2 s at exit. The reference
# tests that train dozens of models to compare numbers run the same CLI
# paths as ref_predict and the tracking tests, which look for leaks: they run
# under ASan and UBSan without the leak check (their losses, weights and L1
# paths are leak-checked in track_losses and track_l1; the hashed reader by
# fuzz_hashed). So does ci_regression: at the
# exit of the mlflow-sync that scripts/ci-regression.sh runs, LeakSanitizer's
# own tracer thread crashes ("Tracer caught signal 11", every time here) before
# it looks for leaks; mlflow-sync's leaks are checked in track_hostile and
# track_secrets.
numeric='^ref_(optimum|ranks|golden|losses|weights|warm_start|standardize|l1|multinomial)(_cg|_direct)?$|^hashing$|^ci_regression$'
cd build-asan
status=0
if [ $# -gt 0 ]; then # the tests asked for, all with the leak check
  ASAN_OPTIONS=$with_leaks ctest "$jobs" --output-on-failure --no-tests=error --timeout 900 \
    -E "$elsewhere" "$@" || status=$?
else
  ASAN_OPTIONS=$with_leaks ctest "$jobs" --output-on-failure --no-tests=error --timeout 900 \
    -E "$elsewhere|$numeric" || status=$?
  ASAN_OPTIONS=$no_leaks ctest "$jobs" --output-on-failure --no-tests=error --timeout 900 \
    -R "$numeric" || status=$?
fi
if [ -n "$(ls -A "$reports")" ]; then
  echo "sanitizer reports:"
  for f in "$reports"/*; do
    echo "==> $f"
    cat "$f"
  done
  status=1
fi
exit "$status"
