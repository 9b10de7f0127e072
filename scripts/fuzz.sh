#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang, -fsanitize=fuzzer with
# ASan and UBSan) into build-fuzz/ and runs each for SECONDS on a working copy
# of its seed corpus and its regression inputs. See docs/fuzzing.md.
#   scripts/fuzz.sh [SECONDS] [--ci] [--only T[,T...]] [--jobs N] [--update-corpus]
#     SECONDS          per target (default 60); 0: build and replay only
#     --ci             a fresh working corpus and logs of this run alone, as CI runs it
#     --only           these targets (fuzz_libsvm,...) instead of all
#     --jobs N         targets fuzzed side by side (default 2, at most nproc)
#     --update-corpus  merge what the run found into tests/fuzz/corpus/ (only
#                      inputs that add coverage; nothing is written there otherwise)
# Before fuzzing, every input in tests/fuzz/regressions/<target>/ is replayed
# once: it must pass, except known-* inputs, which record a bug that is not
# fixed yet (docs/fuzzing.md) and are expected to fail; while fuzzing, the
# targets skip those known bugs (SL_FUZZ_SKIP_KNOWN=1) so the run goes on to
# find new ones.
# Exit status: 0 clean; 1 a crash, leak, timeout, failed check or build;
# 77 no clang/libFuzzer and none could be installed (1 instead when CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=60
ci=0
only=""
jobs=2
update=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) ci=1 ;;
    --only) only="${2:?--only needs a list of targets}"; shift ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    --update-corpus) update=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *[!0-9]*|'') echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    *) seconds="$1" ;;
  esac
  shift
done
n=$(nproc)
[ "$jobs" -gt "$n" ] && jobs=$n
[ "$jobs" -lt 1 ] && jobs=1

all_targets=(fuzz_libsvm fuzz_csv fuzz_hashed fuzz_range fuzz_model fuzz_state fuzz_journal fuzz_mlflow fuzz_options
             fuzz_gate fuzz_registry fuzz_config fuzz_serve)
if [ -n "$only" ]; then IFS=, read -r -a targets <<< "$only"; else targets=("${all_targets[@]}"); fi
# Largest input per target: lines and small files; journals and scripted
# server answers need room for several records.
declare -A max_len=([fuzz_libsvm]=4096 [fuzz_csv]=4096 [fuzz_hashed]=4096 [fuzz_range]=4096 [fuzz_model]=4096
                    [fuzz_state]=2048 [fuzz_journal]=8192 [fuzz_mlflow]=16384 [fuzz_options]=1024
                    [fuzz_gate]=4096 [fuzz_registry]=8192
                    [fuzz_config]=4096 [fuzz_serve]=8192)

# --- the toolchain ----------------------------------------------------------
out=$root/build-fuzz
mkdir -p "$out"

# Prints the first clang that links a libFuzzer target, or nothing.
find_clang() {
  local cc
  for cc in ${FUZZ_CC:-} clang clang-14 clang-15 clang-16 clang-19; do
    command -v "$cc" >/dev/null 2>&1 || continue
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n; }\n' \
      > "$out/probe.c"
    if "$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1; then
      echo "$cc"
      return
    fi
  done
}

no_toolchain() {
  echo "fuzz.sh: $1" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "fuzz.sh: skipped (not CI)" >&2
  exit 77
}

cc=$(find_clang)
if [ -z "$cc" ]; then
  # Debian 12: clang-14 has the compiler, libclang-rt-14-dev the libFuzzer and
  # sanitizer runtimes.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz.sh: installing clang-14 and libclang-rt-14-dev" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 libclang-rt-14-dev; } \
         >"$out/apt.log" 2>&1; then
      tail -5 "$out/apt.log" >&2
      no_toolchain "cannot install clang-14/libclang-rt-14-dev (see build-fuzz/apt.log)"
    fi
    cc=$(find_clang)
  fi
  [ -n "$cc" ] || no_toolchain "no clang with libFuzzer (-fsanitize=fuzzer); install clang-14 and libclang-rt-14-dev"
fi
command -v mpicc >/dev/null 2>&1 || no_toolchain "no mpicc: install the build dependencies first (scripts/deps.sh)"

# --- the build ----------------------------------------------------------------
# Engine sources are compiled as they are, with coverage instrumentation
# (fuzzer-no-link); the targets link them with the fuzzer's main. No target
# calls MPI_Init: libmpi is linked only because src/core/comm.c is.
read -r -a mpi_cflags <<< "$(mpicc --showme:compile)"
read -r -a mpi_libs <<< "$(mpicc --showme:link)"
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
cflags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L "${san[@]}" -Isrc -Iinclude
        -Itests/fuzz "${mpi_cflags[@]}")
libs=("${mpi_libs[@]}" -lcjson -lyaml -lcurl -lz -lzstd -lcrypto -lopenblas -lm -lpthread -lmurmurhash)

core=(src/core/*.c)
io=(src/io/*.c) # byte sources: the readers list and read through them
data=(src/data/*.c)
model=(src/model/*.c)
track=()
for f in src/track/*.c; do [ "$f" = src/track/http.c ] || track+=("$f"); done
common=("${core[@]}" "${io[@]}" "${data[@]}" tests/fuzz/fuzz_util.c)
declare -A sources=(
  [fuzz_libsvm]="${common[*]} tests/fuzz/chunk_pool.c"
  [fuzz_csv]="${common[*]} tests/fuzz/chunk_pool.c"
  [fuzz_hashed]="${common[*]} tests/fuzz/chunk_pool.c"
  [fuzz_range]="${common[*]} tests/fuzz/chunk_pool.c"
  [fuzz_model]="${common[*]} ${model[*]}"
  [fuzz_state]="${common[*]} ${track[*]} tests/fuzz/http_stub.c"
  [fuzz_journal]="${common[*]} ${track[*]} tests/fuzz/http_stub.c"
  [fuzz_mlflow]="${common[*]} ${track[*]} tests/fuzz/http_stub.c"
  [fuzz_options]="${common[*]} src/cli/options.c"
  [fuzz_gate]="${common[*]} ${track[*]} tests/fuzz/http_stub.c src/cli/gate_rules.c src/cli/gate_report.c"
  [fuzz_registry]="${common[*]} ${track[*]} tests/fuzz/http_stub.c"
  [fuzz_config]="${common[*]} src/cli/options.c src/cli/config.c"
  [fuzz_serve]="${common[*]} ${model[*]} src/serve/request.c src/serve/fast.c src/serve/raw.c src/serve/g17.c"
)

# One object per source, shared by the targets; rebuilt when the source, any
# header or this script is newer.
obj_of() { local s=${1//\//_}; echo "$out/obj/${s%.c}.o"; }
mkdir -p "$out/obj"
newest_header=$(find src include tests/fuzz scripts/fuzz.sh -name '*.h' -o -name fuzz.sh | xargs ls -t | sed -n 1p)
declare -A want=()
for t in "${targets[@]}"; do
  [ -n "${sources[$t]:-}" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
  for s in ${sources[$t]} "tests/fuzz/$t.c"; do want[$s]=1; done
done
stale=()
for s in "${!want[@]}"; do
  o=$(obj_of "$s")
  if [ ! -e "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then stale+=("$s"); fi
done
compile() { # source object; a temporary name of this process: two runs may share build-fuzz/
  "$cc" "${cflags[@]}" -fsanitize=fuzzer-no-link -Wall -Wextra -c "$1" -o "$2.$$.tmp" && mv "$2.$$.tmp" "$2"
}
echo "fuzz.sh: $cc, ${#stale[@]} source(s) to compile"
failed=0
for s in "${stale[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$n" ]; do wait -n || failed=1; done
  compile "$s" "$(obj_of "$s")" &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
for s in "${stale[@]}"; do [ -e "$(obj_of "$s")" ] && [ ! "$s" -nt "$(obj_of "$s")" ] || failed=1; done
[ "$failed" = 0 ] || { echo "fuzz.sh: compilation failed" >&2; exit 1; }
for t in "${targets[@]}"; do
  objs=()
  for s in ${sources[$t]} "tests/fuzz/$t.c"; do objs+=("$(obj_of "$s")"); done
  wrap=()
  # sl_range_open's 4 MiB buffer from a reused block: see tests/fuzz/chunk_pool.c.
  case " ${sources[$t]} " in
    *" tests/fuzz/chunk_pool.c "*) wrap=(-Wl,--wrap=sl_malloc_check,--wrap=sl_realloc_check,--wrap=free) ;;
  esac
  "$cc" "${san[@]}" -fsanitize=fuzzer "${objs[@]}" "${wrap[@]}" "${libs[@]}" -o "$out/$t.$$.tmp"
  mv "$out/$t.$$.tmp" "$out/$t"
done

# The sanitizers' options are this script's own, not the caller's: a known-*
# input fails on purpose, and must not land in a report folder that another
# run (scripts/test.sh --sanitize, log_path) counts as a failure. No target
# starts MPI, so no leak needs a suppression.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
unset LSAN_OPTIONS
status=0
# The targets' scratch folders (tests/fuzz/fuzz_util.h), on tmpfs when there
# is one; libFuzzer's exits skip the targets' own clean-up.
tmpbase=/dev/shm
[ -d "$tmpbase" ] && [ -w "$tmpbase" ] || tmpbase=${TMPDIR:-/tmp}
SL_FUZZ_TMPDIR=$(mktemp -d "$tmpbase/sl-fuzz-run.XXXXXX")
export SL_FUZZ_TMPDIR
# Logs and working corpora: build-fuzz/logs/ and build-fuzz/corpus/, kept
# between runs; with --ci a folder of this run alone (several may run at
# once, e.g. ctest while a long run goes on), removed when the run is clean.
if [ "$ci" = 1 ]; then
  run=$(mktemp -d "$out/ci.XXXXXX")
  logs=$run/logs corpora=$run/corpus
else
  run="" logs=$out/logs corpora=$out/corpus
fi
mkdir -p "$logs" "$corpora"
cleanup() {
  rm -rf "$SL_FUZZ_TMPDIR"
  if [ -n "$run" ] && [ "$status" = 0 ]; then rm -rf "$run"; fi
}
trap cleanup EXIT

# --- the regression inputs, once each ------------------------------------------
for t in "${targets[@]}"; do
  dir=tests/fuzz/regressions/$t
  [ -d "$dir" ] || continue
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    log=$logs/replay-$t-$(basename "$f").log
    if SL_FUZZ_SKIP_KNOWN=0 "$out/$t" -timeout=10 -rss_limit_mb=2048 "$f" >"$log" 2>&1; then
      rc=0
    else
      rc=$?
    fi
    case "$(basename "$f")" in
      known-*)
        if [ "$rc" = 0 ]; then
          echo "replay $t $(basename "$f"): passes now - the known bug looks fixed: rename the input" \
               "(drop known-) and remove its skip in tests/fuzz/$t.c"
        else
          echo "replay $t $(basename "$f"): fails as recorded (known bug, see docs/fuzzing.md)"
        fi ;;
      *)
        if [ "$rc" = 0 ]; then
          echo "replay $t $(basename "$f"): ok"
        else
          echo "replay $t $(basename "$f"): FAILED (exit $rc), log: ${log#"$root"/}"
          grep -a -m3 -E 'ERROR|runtime error|fuzz check failed' "$log" || true
          status=1
        fi ;;
    esac
  done
done
[ "$seconds" = 0 ] && exit "$status"

# --- fuzzing --------------------------------------------------------------------
export SL_FUZZ_SKIP_KNOWN=1

fuzz_one() { # target
  local t=$1 work=$corpora/$1 args=()
  mkdir -p "$work" "$out/artifacts/$t"
  [ -f "tests/fuzz/dict/$t.dict" ] && args+=("-dict=tests/fuzz/dict/$t.dict")
  local inputs=("$work" "tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
  "$out/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len="${max_len[$t]}" -artifact_prefix="$out/artifacts/$t/" "${args[@]}" "${inputs[@]}" \
    >"$logs/$t.log" 2>&1
}

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds}s each, $jobs at a time"
declare -A pid_of=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 0.2; done
  fuzz_one "$t" &
  pid_of[$t]=$!
done
printf '%-14s %10s %8s %8s %7s  %s\n' target executions exec/s cov corpus result
for t in "${targets[@]}"; do
  log=$logs/$t.log
  if wait "${pid_of[$t]}"; then result=ok; else result="FAILED (log: ${log#"$root"/})"; status=1; fi
  # -a: the log can hold raw bytes (libFuzzer's recommended dictionary).
  execs=$(grep -a '^stat::number_of_executed_units:' "$log" | tail -1 | tr -dc 0-9)
  rate=$(grep -a '^stat::average_exec_per_sec:' "$log" | tail -1 | tr -dc 0-9)
  cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -aoE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-14s %10s %8s %8s %7s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${corp:-?}" "$result"
  if [ "$result" != ok ]; then
    grep -a -m5 -E 'ERROR|runtime error|fuzz check failed|Test unit written' "$log" || true
  fi
  if [ "$update" = 1 ] && [ "$result" = ok ]; then
    "$out/$t" -merge=1 -max_len="${max_len[$t]}" "tests/fuzz/corpus/$t" "$corpora/$t" \
      >"$logs/merge-$t.log" 2>&1 || { echo "merge $t failed" >&2; status=1; }
  fi
done
exit "$status"
