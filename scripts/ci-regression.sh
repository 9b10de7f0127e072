#!/usr/bin/env bash
# One regression run for CI: train on fixed data with a fixed config and seed,
# evaluate on held-out data (train --validation), then gate the run against
# models:/NAME@ALIAS and promote it when every rule holds.
#   scripts/ci-regression.sh [options] [-- TRAIN_OPTIONS...]
# Exit status: 0 the gate passed (the run is now NAME@ALIAS, unless
# --no-promote), 1 a rule is broken (nothing promoted), 2 the gate could not
# run: a bad argument, a training that failed, a run the server did not take,
# a side the gate could not read (130/143 when interrupted). Every outcome leaves OUT/junit.xml and
# OUT/summary.md saying why. See README "Regression runs in CI".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/ci-regression.sh [options] [-- TRAIN_OPTIONS...]
  --config FILE        train config (default examples/ci/regression.yaml; $SL_CI_CONFIG)
  --validation FILE    held-out data (default examples/test.svm; $SL_CI_VALIDATION)
  --model NAME         registered model (default shardlearn-example; $SL_CI_MODEL)
  --alias ALIAS        alias of the model to beat and to move (default champion; $SL_CI_ALIAS)
  --rules FILE         gate rules (default examples/ci/rules.txt; $SL_CI_RULES)
  --np N               MPI ranks (default 2; $SL_CI_NP)
  --no-promote         gate only, never move the alias (a merge request's run);
                       SL_CI_PROMOTE=0 does the same
  --out DIR            outputs: junit.xml summary.md model.json metrics.json run_id
                       train.log runs/ (default ci-out; $SL_CI_OUT)
  --tracking-uri URI   MLflow server (default $MLFLOW_TRACKING_URI)
  --shardlearn BIN     the executable (default build/shardlearn, else shardlearn on
                       PATH; $SHARDLEARN)
  --mpirun CMD         (default mpirun; $MPIRUN)
TRAIN_OPTIONS (after --) go to `shardlearn train` last and override the config.
mpirun gets only -np N and a session directory of its own; set anything else
through Open MPI's environment (OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 as root, OMPI_MCA_rmaps_base_oversubscribe=1
for more ranks than cores).
EOF
}

die() {
  echo "ci-regression: error: $*" >&2
  exit 2
}

config=${SL_CI_CONFIG:-examples/ci/regression.yaml}
validation=${SL_CI_VALIDATION:-examples/test.svm}
model=${SL_CI_MODEL:-shardlearn-example}
alias_=${SL_CI_ALIAS:-champion}
rules=${SL_CI_RULES:-examples/ci/rules.txt}
np=${SL_CI_NP:-2}
out=${SL_CI_OUT:-ci-out}
uri=${MLFLOW_TRACKING_URI:-}
bin=${SHARDLEARN:-}
mpirun=${MPIRUN:-mpirun}
promote=${SL_CI_PROMOTE:-1}

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    -h | --help) usage; exit 0 ;;
    --no-promote) promote=0; shift; continue ;;
    --) shift; break ;;
    --config | --validation | --model | --alias | --rules | --np | --out | --tracking-uri | \
      --shardlearn | --mpirun)
      [ $# -ge 2 ] || die "$opt needs a value"
      val=$2
      shift 2 ;;
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
    *) die "unknown option '$opt' (train options go after --; see --help)" ;;
  esac
  case $opt in
    --config) config=$val ;;
    --validation) validation=$val ;;
    --model) model=$val ;;
    --alias) alias_=$val ;;
    --rules) rules=$val ;;
    --np) np=$val ;;
    --out) out=$val ;;
    --tracking-uri) uri=$val ;;
    --shardlearn) bin=$val ;;
    --mpirun) mpirun=$val ;;
    *) die "unknown option '$opt' (train options go after --; see --help)" ;;
  esac
done

if [ -z "$bin" ]; then
  bin="$(dirname "$0")/../build/shardlearn"
  [ -x "$bin" ] || bin=$(command -v shardlearn) || die "no shardlearn: build it (scripts/build.sh) or give --shardlearn BIN"
fi
[ -n "$uri" ] || die "no MLflow server: set MLFLOW_TRACKING_URI or give --tracking-uri URI"
[[ $np =~ ^[1-9][0-9]*$ ]] || die "--np: '$np' is not a positive whole number"
for f in "$config" "$validation" "$rules"; do
  [[ -f $f && -r $f ]] || die "$f: no such readable file"
done
[[ -n $model && -n $alias_ ]] || die "--model and --alias must not be empty"
case $promote in
  1 | true) promote_opt=(--promote "$model@$alias_") ;;
  0 | false) promote_opt=() ;;
  *) die "SL_CI_PROMOTE: '$promote' is not 1/true or 0/false" ;;
esac
mkdir -p "$out/runs" || die "$out: cannot create the output directory"

# This run's reports only: a file left by an earlier run is never mistaken
# for this one's.
rm -f "$out/junit.xml" "$out/summary.md" "$out/model.json" "$out/metrics.json" "$out/run_id"

xml_escape() {
  sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' \
    -e 's/[^[:print:]\t]//g'
}

# The gate writes its own reports; when a step before it fails, these say
# why in the same places (one JUnit test case with an <error>, the summary,
# and $GITHUB_STEP_SUMMARY on GitHub Actions). Then exit 2.
fail() {
  local step=$1 msg=$2 log=${3:-}
  echo "ci-regression: error: $msg" >&2
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<testsuites name="shardlearn ci-regression" tests="1" failures="0" errors="1">'
    echo '<testsuite name="ci-regression" tests="1" failures="0" errors="1" skipped="0">'
    printf '<testcase classname="ci-regression" name="%s"><error message="%s">' \
      "$step" "$(printf '%s' "$msg" | xml_escape)"
    [ -z "$log" ] || tail -n 30 "$log" | xml_escape
    echo '</error></testcase>'
    echo '</testsuite>'
    echo '</testsuites>'
  } >"$out/junit.xml.tmp" && mv -f "$out/junit.xml.tmp" "$out/junit.xml"
  printf '### shardlearn ci-regression: could not run\n\n%s\n' "$msg" >"$out/summary.md.tmp" &&
    mv -f "$out/summary.md.tmp" "$out/summary.md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out/summary.md" >>"$GITHUB_STEP_SUMMARY" || true; fi
  exit 2
}

# A signal's status (130, 143) passes through; any other failure is 2.
status_of() { if [ "$1" -ge 128 ]; then echo "$1"; else echo 2; fi; }

# Open MPI 4.1 races on its per-user session directory when two jobs start
# at once (README "Several jobs on one host"): this job gets its own.
OMPI_MCA_orte_tmpdir_base=$(mktemp -d "${TMPDIR:-/tmp}/sl-ci-ompi.XXXXXX")
export OMPI_MCA_orte_tmpdir_base
trap 'rm -rf "$OMPI_MCA_orte_tmpdir_base"' EXIT

# Run directories are <UTC time>-<id>; this run's is the one that is new.
list_runs() { find "$out/runs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort; }
before=$(list_runs)
set +e
"$mpirun" -np "$np" "$bin" train --config "$config" --validation "$validation" \
  --tracking-uri "$uri" --tracking-dir "$out/runs" --tracking-flush-timeout 30 \
  --model-out "$out/model.json" --metrics-out "$out/metrics.json" "$@" 2>&1 | tee "$out/train.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  [ "$rc" -lt 128 ] || exit "$rc"
  fail train "training failed (exit $rc); its output is in $out/train.log" "$out/train.log"
fi
new=$(comm -13 <(printf '%s\n' "$before") <(list_runs))
[[ -n $new && $(printf '%s\n' "$new" | wc -l) -eq 1 ]] ||
  fail train "cannot tell this run's journal in $out/runs (new: ${new:-none})"
run_dir="$out/runs/$new"

# Train leaves in the journal what the server did not take in time; the gate
# must read the whole run, so deliver the rest now (a no-op when all is in).
rc=0
"$bin" mlflow-sync "$run_dir" --tracking-uri "$uri" --timeout 60 >"$out/sync.log" 2>&1 || rc=$?
cat "$out/sync.log"
[ "$rc" -eq 0 ] || fail mlflow-sync "the run did not reach $uri (mlflow-sync exit $rc; the journal is $run_dir)" "$out/sync.log"

# state.json is written by the engine (cJSON, unformatted): "run_id":"<hex>".
run_id=$(sed -n 's/.*"run_id":"\([0-9A-Za-z]*\)".*/\1/p' "$run_dir/state.json" 2>/dev/null || true)
[ -n "$run_id" ] || fail mlflow-sync "no MLflow run id in $run_dir/state.json"
echo "$run_id" >"$out/run_id.tmp" && mv -f "$out/run_id.tmp" "$out/run_id"
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "run_id=$run_id" >>"$GITHUB_OUTPUT"; fi
echo "candidate: runs:/$run_id (journal $run_dir)"
echo

rc=0
"$bin" gate --tracking-uri "$uri" --baseline "models:/$model@$alias_" --candidate "runs:/$run_id" \
  --rules "$rules" --junit "$out/junit.xml" --summary "$out/summary.md" ${promote_opt[@]+"${promote_opt[@]}"} || rc=$?
case $rc in
  0 | 1 | 2) exit "$rc" ;;
  *) exit "$(status_of "$rc")" ;;
esac
