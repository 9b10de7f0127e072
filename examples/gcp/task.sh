#!/bin/bash
# One task of the Cloud Batch job in examples/gcp/batch-job.json (filled in
# and submitted by scripts/gcp/submit-batch.sh). Every task runs it
# three times:
#
#   SL_STEP=prepare  on every VM, before the first barrier: checks the bucket
#                    mount and the data, installs Open MPI and the libraries
#                    shardlearn needs when they are missing, and copies the
#                    shardlearn binary out of the bucket.
#   SL_STEP=watch    on every VM, in the background from then on: passes
#                    this VM's preemption notice (from the metadata server)
#                    on to task 0 through the bucket.
#   SL_STEP=train    after the barrier: task 0 runs mpirun over the hosts in
#                    $BATCH_HOSTS_FILE and exits with its exit code (75 =
#                    checkpointed, which the job's lifecyclePolicies retry);
#                    the other tasks wait for that code and exit with it
#                    (on 0 they go on to the final barrier).
#                    While mpirun runs, a notice from any VM stops it with
#                    SIGUSR1: a checkpoint, and exit 75.
#
# Everything comes from the environment, so a test can point it at local
# things (tests/cluster/test_batch_task.py):
#   BATCH_TASK_INDEX, BATCH_HOSTS_FILE   set by Batch
#   SL_MOUNT          where the bucket is mounted      (/mnt/disks/shardlearn)
#   SL_DATA           training data, inside the bucket (required)
#   SL_OUT            this job's directory in the bucket: ckpts/, runs/,
#                     model.json, metrics.json, preempted/, attempts/ (required)
#   SL_TRAIN_ARGS     train options, one per line       (none)
#   SL_SLOTS_PER_HOST ranks per VM                      (1)
#   SL_NETWORK        CIDR or interface for MPI traffic (any)
#   SL_MPI_ARGS       more mpirun arguments, split on blanks (none)
#   SL_BIN            the shardlearn to run             (/usr/local/bin/shardlearn)
#   SL_BIN_SRC        prepare copies it from the bucket to SL_BIN (bin/shardlearn)
#   SL_MPIRUN         mpirun                            (mpirun)
#   SL_APT_PACKAGES   what prepare installs when mpirun is missing
#   GCE_METADATA_HOST the metadata server               (metadata.google.internal)
#   SL_NOTICE_POLL    seconds between task 0's looks for a notice (1)
#   SL_FOLLOW_POLL    seconds between the other tasks' looks for its exit (5)
#   MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, MLFLOW_TRACKING_TOKEN
set -uo pipefail

EXIT_CHECKPOINTED=75
me="task ${BATCH_TASK_INDEX:-?}"

die() {
  echo "task.sh: $me: error: $*" >&2
  # Task 0 in its attempt: the other tasks end with it.
  [ -z "${ATTEMPT_DIR:-}" ] || touch "$ATTEMPT_DIR/exit-1"
  exit 1
}

# A path inside the bucket, or an absolute path as it is.
in_bucket() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$SL_MOUNT/$1" ;;
  esac
}

check_env() {
  [[ ${BATCH_TASK_INDEX:-} =~ ^[0-9]+$ ]] || die "BATCH_TASK_INDEX is '${BATCH_TASK_INDEX:-}', not a task index"
  [ -n "${SL_DATA:-}" ] || die "SL_DATA is not set (the data's path in the bucket)"
  [ -n "${SL_OUT:-}" ] || die "SL_OUT is not set (this job's directory in the bucket)"
  [ -d "$SL_MOUNT" ] || die "$SL_MOUNT: the bucket is not mounted (no such directory)"
  DATA=$(in_bucket "$SL_DATA")
  OUT=$(in_bucket "$SL_OUT")
  [ -r "$DATA" ] || die "$DATA: the training data is not readable (SL_DATA=$SL_DATA)"
  [[ $SLOTS =~ ^[1-9][0-9]*$ ]] || die "SL_SLOTS_PER_HOST is '$SLOTS', not a whole number >= 1"
}

prepare() {
  if ! command -v "$MPIRUN" >/dev/null; then
    echo "$me: installing $SL_APT_PACKAGES"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # a list of package names
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $SL_APT_PACKAGES >/dev/null; } ||
      die "apt-get could not install $SL_APT_PACKAGES"
  fi
  if [ ! -x "$BIN" ]; then
    local src
    src=$(in_bucket "$SL_BIN_SRC")
    [ -f "$src" ] || die "$BIN is missing and so is $src (SL_BIN_SRC) to copy it from"
    install -D -m 0755 "$src" "$BIN" || die "cannot install $src as $BIN"
  fi
  "$BIN" --version >/dev/null 2>&1 || die "$BIN does not run (built for another system?)"
  mkdir -p "$OUT" || die "cannot create $OUT in the bucket"
  # Task 0 opens the attempt the other tasks will wait on (before the barrier,
  # so that they find it after).
  [ "$BATCH_TASK_INDEX" != 0 ] || new_attempt >/dev/null
  echo "$me on $(hostname): ready ($("$BIN" --version 2>&1 | head -n1), $(command -v "$MPIRUN"))"
}

# The Open MPI hostfile: one line per VM of $BATCH_HOSTS_FILE with its slots,
# this VM first, so that rank 0 (the model, the journal, MLflow, the
# preemption watcher) runs beside mpirun. (Open MPI 4.1 maps the local node
# first anyway; the order says so rather than relying on it.)
write_hostfile() {
  local hosts=() self line h
  self=$(hostname)
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    for h in $line; do
      [[ " ${hosts[*]} " == *" $h "* ]] || hosts+=("$h")
    done
  done <"$BATCH_HOSTS_FILE"
  [ ${#hosts[@]} -gt 0 ] || die "$BATCH_HOSTS_FILE lists no hosts"
  for h in "${hosts[@]}"; do
    if [ "$h" = "$self" ] || [ "${h%%.*}" = "${self%%.*}" ]; then
      echo "$h slots=$SLOTS"
    fi
  done >"$1"
  for h in "${hosts[@]}"; do
    if [ "$h" != "$self" ] && [ "${h%%.*}" != "${self%%.*}" ]; then
      echo "$h slots=$SLOTS"
    fi
  done >>"$1"
  NP=$((${#hosts[@]} * SLOTS))
}

# Attempts: a directory per start of task 0 in $OUT/attempts, named by its
# UTC time so the newest sorts last; task 0 leaves its exit code in it as a
# file exit-CODE. (Files and listings: Cloud Storage FUSE caches names it has
# looked up, not directory listings.)
current_attempt() {
  find "$ATTEMPTS" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort | tail -n1
}

new_attempt() {
  local a
  a=$(date -u +%Y%m%dT%H%M%S.%NZ)
  mkdir -p "$ATTEMPTS/$a" || die "cannot create $ATTEMPTS/$a in the bucket"
  echo "$a"
}

outcome() {
  find "$ATTEMPTS/$1" -mindepth 1 -maxdepth 1 -name 'exit-*' -printf '%f\n' 2>/dev/null | head -n1
}

# Tasks other than 0: end as task 0's attempt ends, so that all the tasks
# stop, are retried and meet at the first barrier together; a newer attempt
# (task 0 started again, its VM preempted before it could say) is a retry too.
follow() {
  local attempt code newest
  attempt=$(current_attempt)
  [ -n "$attempt" ] || die "task 0 has opened no attempt in $ATTEMPTS"
  echo "$me on $(hostname): task 0 runs mpirun (attempt $attempt); waiting for its exit code"
  while :; do
    code=$(outcome "$attempt")
    if [ -n "$code" ]; then
      echo "$me: task 0 exited ${code#exit-}: so does this task"
      exit "${code#exit-}"
    fi
    newest=$(current_attempt)
    if [ "$newest" != "$attempt" ]; then
      echo "$me: task 0 started again (attempt $newest) before attempt $attempt ended: exit $EXIT_CHECKPOINTED to start again with it"
      exit "$EXIT_CHECKPOINTED"
    fi
    sleep "${SL_FOLLOW_POLL:-5}"
  done
}

train() {
  if [ "$BATCH_TASK_INDEX" != 0 ]; then
    follow
  fi
  local attempt
  attempt=$(current_attempt)
  # Run without the prepare step (by hand): an attempt of its own.
  if [ -z "$attempt" ] || [ -n "$(outcome "$attempt")" ]; then
    attempt=$(new_attempt) || exit 1
  fi
  ATTEMPT_DIR=$ATTEMPTS/$attempt
  [ -r "${BATCH_HOSTS_FILE:-}" ] || die "BATCH_HOSTS_FILE '${BATCH_HOSTS_FILE:-}' is not readable (requireHostsFile)"
  local hostfile
  hostfile=$(mktemp) || die "mktemp failed"
  trap 'rm -f "$hostfile"' EXIT
  write_hostfile "$hostfile"

  local mpi=(--hostfile "$hostfile" -np "$NP")
  if [ -n "${SL_NETWORK:-}" ]; then
    mpi+=(--mca btl "tcp,vader,self" --mca btl_tcp_if_include "$SL_NETWORK" --mca oob_tcp_if_include "$SL_NETWORK")
  fi
  # shellcheck disable=SC2206 # documented as split on blanks
  mpi+=(${SL_MPI_ARGS:-})
  # The token goes to the ranks through the environment, never the command line.
  [ -n "${MLFLOW_TRACKING_TOKEN:-}" ] && mpi+=(-x MLFLOW_TRACKING_TOKEN)
  local args=()
  [ -n "${SL_TRAIN_ARGS:-}" ] && mapfile -t args <<<"$SL_TRAIN_ARGS"
  local cmd=("$BIN" train --data "$DATA" --checkpoint-dir "$OUT/ckpts" --watch-preemption
    --model-out "$OUT/model.json" --metrics-out "$OUT/metrics.json" --tracking-dir "$OUT/runs")
  [ -n "${MLFLOW_TRACKING_URI:-}" ] && cmd+=(--tracking-uri "$MLFLOW_TRACKING_URI")
  [ -n "${MLFLOW_EXPERIMENT_NAME:-}" ] && cmd+=(--experiment "$MLFLOW_EXPERIMENT_NAME")
  cmd+=("${args[@]}")

  # Batch runs the runnables as root.
  if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  # Notices of this attempt only: an earlier attempt's VMs are gone. The
  # directory is made here, as task 0 then lists it (Cloud Storage FUSE
  # caches a missing name for a while, but not a directory listing).
  rm -rf "$NOTICES"
  mkdir -p "$NOTICES" || die "cannot create $NOTICES in the bucket"
  echo "$me on $(hostname): $NP rank(s) on $(wc -l <"$hostfile") host(s): ${cmd[*]}"
  "$MPIRUN" "${mpi[@]}" "${cmd[@]}" &
  local pid=$! rc notice=''
  # A stop (SIGTERM when the VM shuts down or the job is cancelled) reaches
  # the ranks as SIGUSR1, the signal Open MPI forwards at once: they
  # checkpoint and exit 75. A SIGTERM to mpirun would leave them a second.
  trap 'kill -USR1 $pid 2>/dev/null' TERM INT USR1
  # Rank 0 watches this VM's notice itself (--watch-preemption); another VM's
  # comes from its watch step through the bucket.
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$notice" ]; then
      notice=$(find "$NOTICES" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | head -n1)
      if [ -n "$notice" ]; then
        echo "$me: preemption notice on $notice: checkpointing"
        kill -USR1 "$pid" 2>/dev/null
      fi
    fi
    sleep "${SL_NOTICE_POLL:-1}" &
    wait $! 2>/dev/null
  done
  wait "$pid"
  rc=$?
  # A preempted VM that took its ranks before they could checkpoint: the
  # last periodic checkpoint is there to continue from, so this is a retry too.
  if [ -n "$notice" ] && [ "$rc" != 0 ] && [ "$rc" != "$EXIT_CHECKPOINTED" ]; then
    echo "$me: mpirun exited $rc after $notice was preempted: exit $EXIT_CHECKPOINTED to continue from the last checkpoint" >&2
    rc=$EXIT_CHECKPOINTED
  fi
  touch "$ATTEMPT_DIR/exit-$rc" || echo "$me: warning: cannot leave exit-$rc in $ATTEMPT_DIR" >&2
  case $rc in
    0) echo "$me: done: model in $OUT/model.json" ;;
    "$EXIT_CHECKPOINTED") echo "$me: checkpointed in $OUT/ckpts: exit $rc, for Batch to retry the task" ;;
    *) echo "$me: mpirun exited $rc" >&2 ;;
  esac
  exit "$rc"
}

# Every VM (a background runnable): long-polls its own metadata server and,
# when instance/preempted turns TRUE, leaves a notice in the bucket for task 0,
# which stops the run with a checkpoint while this VM has its ~30 s left.
watch() {
  local host=${GCE_METADATA_HOST:-metadata.google.internal} etag=NONE v warned=0
  hdr=$(mktemp) || die "mktemp failed" # global: the EXIT trap runs after watch returns
  trap 'rm -f "$hdr"' EXIT
  while :; do
    if v=$(curl -sS -f -m 90 -D "$hdr" -H 'Metadata-Flavor: Google' \
      "http://$host/computeMetadata/v1/instance/preempted?wait_for_change=true&timeout_sec=60&last_etag=$etag" 2>&1); then
      etag=$(tr -d '\r' <"$hdr" | awk 'tolower($1) == "etag:" { print $2 }')
      [ -n "$etag" ] || etag=NONE
      if [ "$v" = TRUE ]; then
        if ! { mkdir -p "$NOTICES" && date -u +%FT%TZ >"$NOTICES/$(hostname)"; }; then
          die "cannot leave the preemption notice in $NOTICES"
        fi
        echo "$me on $(hostname): preemption notice: passed on to task 0"
        return 0
      fi
    else
      [ $warned = 1 ] || echo "$me: warning: no metadata server at $host ($v): retrying every 10 s" >&2
      warned=1
      sleep 10
    fi
  done
}

SL_MOUNT=${SL_MOUNT:-/mnt/disks/shardlearn}
SL_BIN_SRC=${SL_BIN_SRC:-bin/shardlearn}
SL_APT_PACKAGES=${SL_APT_PACKAGES:-openmpi-bin libopenblas0 libcurl4 libcjson1 libyaml-0-2 libssl3 zlib1g libzstd1}
BIN=${SL_BIN:-/usr/local/bin/shardlearn}
MPIRUN=${SL_MPIRUN:-mpirun}
SLOTS=${SL_SLOTS_PER_HOST:-1}

check_env
NOTICES=$OUT/preempted
ATTEMPTS=$OUT/attempts
case ${SL_STEP:-} in
  prepare) prepare ;;
  watch) watch ;;
  train) train ;;
  *) die "SL_STEP is '${SL_STEP:-}': prepare, watch or train" ;;
esac
