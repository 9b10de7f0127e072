#!/usr/bin/env bash
# Installs what shardlearn needs on a Debian machine, only what is missing.
#   scripts/deps.sh          Debian packages for building and running
#   scripts/deps.sh --python also the Python test tools in .venv (scikit-learn, mlflow)
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev
      libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev zlib1g-dev libzstd-dev liblinear-tools python3 python3-venv
      libmicrohttpd-dev  # the HTTP server of `shardlearn serve`
      libmurmurhash-dev  # MurmurHash3 of hashed categorical columns (FeatureHasher's)
      iproute2   # `ip netns` for the multi-host test (tests/cluster)
      slurm-wlm munge   # a real Slurm for the Slurm test (tests/cluster/test_slurm.py)
      zstd      # writes the .zst parts of the data tests (tests/io)
      jq        # scripts/gcp/submit-batch.sh fills the Cloud Batch job spec
      debootstrap)  # Debian 12 roots in which tests/package/test_dockerfile.py builds the Dockerfile
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--python" ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # Pinned so that the reference optimum and the server behaviour are stable;
  # installed again whenever the pins change.
  want=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
  have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "installing Python test tools into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r scripts/requirements-test.txt
    echo "$want" > .venv/.requirements.sha256
  fi
fi
