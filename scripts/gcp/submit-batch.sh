#!/usr/bin/env bash
# Submits shardlearn training as a Google Cloud Batch job on Spot VMs: fills
# examples/gcp/batch-job.json from the arguments, puts examples/gcp/task.sh
# into its runnables, and runs `gcloud batch jobs submit NAME --location
# REGION --config -` (or prints the job with --dry-run).
#
#   scripts/gcp/submit-batch.sh --bucket BUCKET[/DIR] --data PATH --region REGION
#       [--job-name NAME] [--hosts N] [--slots-per-host N] [--machine-type TYPE]
#       [--provisioning-model SPOT|STANDARD|PREEMPTIBLE] [--max-retries N] [--image IMAGE]
#       [--out DIR] [--bin PATH] [--network CIDR|IF]
#       [--mlflow-uri URI] [--experiment NAME] [--mlflow-token-secret SECRET]
#       [--project PROJECT] [--dry-run] [-- TRAIN_OPTIONS...]
#
# Paths (--data, --out, --bin) are inside the bucket. TRAIN_OPTIONS go to
# `shardlearn train` as they are; the task adds --data, --checkpoint-dir,
# --watch-preemption, --model-out, --metrics-out and --tracking-dir itself.
# Needs jq; gcloud unless --dry-run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TEMPLATE=$root/examples/gcp/batch-job.json
TASK=$root/examples/gcp/task.sh
MOUNT=/mnt/disks/shardlearn
prog=submit-batch.sh

die() {
  echo "$prog: error: $*" >&2
  exit 2
}

usage() {
  sed -n '/^#   scripts/,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//'
}

bucket='' data='' region='' job='' hosts=2 slots=1 machine=n2-standard-4 model=SPOT retries=5
image=batch-debian out='' bin=bin/shardlearn network='' mlflow=${MLFLOW_TRACKING_URI:-}
experiment=${MLFLOW_EXPERIMENT_NAME:-} token_secret='' project='' dry=0
train_args=()

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --dry-run) dry=1; shift; continue ;;
    -h | --help) usage; exit 0 ;;
    --) shift; train_args=("$@"); break ;;
    --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
    --bucket | --data | --region | --job-name | --hosts | --slots-per-host | --machine-type | \
      --provisioning-model | --max-retries | --image | --out | --bin | --network | --mlflow-uri | \
      --experiment | --mlflow-token-secret | --project)
      [ $# -ge 2 ] || die "$opt needs a value"
      val=$2
      shift 2 ;;
    *) die "unknown argument '$opt' (see --help)" ;;
  esac
  case $opt in
    --bucket) bucket=$val ;;
    --data) data=$val ;;
    --region) region=$val ;;
    --job-name) job=$val ;;
    --hosts) hosts=$val ;;
    --slots-per-host) slots=$val ;;
    --machine-type) machine=$val ;;
    --provisioning-model) model=$val ;;
    --max-retries) retries=$val ;;
    --image) image=$val ;;
    --out) out=$val ;;
    --bin) bin=$val ;;
    --network) network=$val ;;
    --mlflow-uri) mlflow=$val ;;
    --experiment) experiment=$val ;;
    --mlflow-token-secret) token_secret=$val ;;
    --project) project=$val ;;
  esac
done

# A path inside the bucket: relative, no '..', no empty part.
check_path() {
  [ -n "$2" ] || die "$1 is empty"
  case "/$2/" in
    //* | */../* | */./* | *//*) die "$1: '$2' is not a plain path inside the bucket (relative, no '.', '..' or '//')" ;;
  esac
}

bucket=${bucket#gs://}
bucket=${bucket%/}
[ -n "$bucket" ] || die "--bucket is required (the Cloud Storage bucket, e.g. my-bucket or my-bucket/dir)"
[[ ${bucket%%/*} =~ ^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$ ]] ||
  die "--bucket: '${bucket%%/*}' is not a Cloud Storage bucket name (lowercase letters, digits, '-', '_', '.')"
[[ $bucket != */* ]] || check_path --bucket "${bucket#*/}"
[ -n "$data" ] || die "--data is required (the training data's path inside the bucket)"
check_path --data "$data"
# whole NAME VALUE MIN MAX: VALUE is a whole number in [MIN, MAX].
whole() {
  if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || [ $((10#$2)) -lt "$3" ] || [ $((10#$2)) -gt "$4" ]; then
    die "$1: '$2' is not a whole number from $3 to $4${5:-}"
  fi
}
whole --hosts "$hosts" 1 1000 " (the hosts file holds up to 1000 VMs)"
whole --slots-per-host "$slots" 1 1024
whole --max-retries "$retries" 0 10 " (Batch's range)"
hosts=$((10#$hosts)) slots=$((10#$slots)) retries=$((10#$retries))
[[ $machine =~ ^[a-z][a-z0-9-]*$ ]] || die "--machine-type: '$machine' is not a machine type (e.g. n2-standard-4)"
case $model in SPOT | STANDARD | PREEMPTIBLE) ;; *) die "--provisioning-model: '$model' is not SPOT, STANDARD or PREEMPTIBLE" ;; esac
[ -n "$image" ] || die "--image is empty"
check_path --bin "$bin"
[ -z "$mlflow" ] || [[ $mlflow =~ ^https?://[^[:space:]]+$ ]] || die "--mlflow-uri: '$mlflow' is not an http:// or https:// URL"
[ -z "$token_secret" ] || [[ $token_secret =~ ^projects/[^/]+/secrets/[^/]+/versions/[^/]+$ ]] ||
  die "--mlflow-token-secret: '$token_secret' is not projects/PROJECT/secrets/NAME/versions/VERSION"
[ -z "$network" ] || [[ $network =~ ^[A-Za-z0-9./:_-]+$ ]] || die "--network: '$network' is not a CIDR or an interface name"
if [ -z "$job" ]; then
  job=shardlearn-$(date -u +%Y%m%d-%H%M%S)
fi
# Batch job names: a lowercase letter first, then lowercase letters, digits and '-', at most 63.
[[ $job =~ ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
  die "--job-name: '$job' is not a Batch job name (a lowercase letter, then lowercase letters, digits, '-'; at most 63)"
[ -n "$out" ] || out=jobs/$job
check_path --out "$out"
if [ $dry -eq 0 ]; then
  [ -n "$region" ] || die "--region is required (e.g. us-central1)"
fi
[ -z "$region" ] || [[ $region =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "--region: '$region' is not a region (e.g. us-central1)"
command -v jq >/dev/null || die "jq is not installed (scripts/deps.sh installs it)"
[ -r "$TEMPLATE" ] || die "$TEMPLATE: not readable"
[ -r "$TASK" ] || die "$TASK: not readable"

train_lines=
if [ ${#train_args[@]} -gt 0 ]; then
  for a in "${train_args[@]}"; do
    [[ $a != *$'\n'* ]] || die "a train option holds a newline: '$a'"
  done
  train_lines=$(printf '%s\n' "${train_args[@]}")
fi

spec=$(jq --rawfile task "$TASK" --arg bucket "$bucket" --arg mount "$MOUNT" --arg data "$data" \
  --arg out "$out" --arg bin "$bin" --arg slots "$slots" --arg train "$train_lines" \
  --arg network "$network" --arg mlflow "$mlflow" --arg experiment "$experiment" \
  --arg secret "$token_secret" --arg machine "$machine" --arg model "$model" --arg image "$image" \
  --arg job "$job" --argjson hosts "$hosts" --argjson retries "$retries" '
  .taskGroups[0] |= (
    .taskCount = $hosts
    | .taskSpec.runnables |= map(if .script then .script.text = $task else . end)
    | .taskSpec.maxRetryCount = $retries
    | .taskSpec.volumes[0].gcs.remotePath = $bucket
    | .taskSpec.volumes[0].mountPath = $mount
    | .taskSpec.environment.variables = ({
        SL_MOUNT: $mount, SL_DATA: $data, SL_OUT: $out, SL_BIN_SRC: $bin,
        SL_SLOTS_PER_HOST: $slots, SL_TRAIN_ARGS: $train, SL_NETWORK: $network,
        MLFLOW_TRACKING_URI: $mlflow, MLFLOW_EXPERIMENT_NAME: $experiment
      } | with_entries(select(.value != "")))
    | if $secret != "" then .taskSpec.environment.secretVariables = {MLFLOW_TRACKING_TOKEN: $secret}
      else del(.taskSpec.environment.secretVariables) end)
  | .allocationPolicy.instances[0].policy |= (
      .machineType = $machine | .provisioningModel = $model | .bootDisk.image = $image)
  | .labels.job = $job' "$TEMPLATE") || die "jq could not fill $TEMPLATE"

if [ $dry -eq 1 ]; then
  printf '%s\n' "$spec"
  exit 0
fi
gcloud=${GCLOUD:-gcloud}
command -v "$gcloud" >/dev/null ||
  die "gcloud is not installed ($gcloud not found): install the Google Cloud CLI, or use --dry-run to print the job"
args=(batch jobs submit "$job" --location "$region" --config -)
[ -z "$project" ] || args+=(--project "$project")
printf '%s\n' "$spec" | "$gcloud" "${args[@]}"
