#!/usr/bin/env bash
# A fleet of three s3gate gateways (`--fleet`) over one SeaweedFS cluster, behind HAProxy
# round-robin, checked under mixed load with one gateway killed midway (scripts/fleet_check.py;
# its counts go to the README). Needs the smoke run's virtualenv (boto3 and SeaweedFS's `weed`,
# from `bash scripts/smoke.sh`) and HAProxy from Debian, installed with apt-get when missing.
#
#   FLEET_SECONDS=N    how long the load runs (default 15)
#   FLEET_BENCH=N      measure 1, 2 and 3 gateways instead, N seconds per figure
#   SMOKE_PROFILE=debug|release   which build of s3gate (default debug)
#   SMOKE_SERVER_BIN=PATH         run this s3gate binary instead of building one
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/target/smoke-venv
PROFILE=${SMOKE_PROFILE:-debug}
WORK=$ROOT/target/fleet-work
[[ -x $VENV/bin/python && -x $VENV/bin/weed ]] ||
    { echo "fleet: no $VENV with boto3 and weed: run scripts/smoke.sh first" >&2; exit 1; }

# HAProxy from Debian, as the smoke run installs chromium: CI runs as root with apt reachable.
if ! command -v haproxy >/dev/null && [[ ! -x /usr/sbin/haproxy ]]; then
    command -v apt-get >/dev/null || { echo "fleet: haproxy is not installed and apt-get is not available" >&2; exit 1; }
    echo "fleet: installing haproxy with apt-get"
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
    mkdir -p "$ROOT/target"
    "${sudo[@]}" apt-get update -qq >"$ROOT/target/haproxy-install.log" 2>&1
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq haproxy \
        >>"$ROOT/target/haproxy-install.log" 2>&1
fi

bin=${SMOKE_SERVER_BIN:-}
if [[ -z $bin ]]; then
    build=(cargo build -q -p s3gate)
    [[ $PROFILE == release ]] && build+=(--release)
    "${build[@]}"
    bin=$ROOT/target/$PROFILE/s3gate
fi
rm -rf "$WORK"
mkdir -p "$WORK"
args=("$bin" "$WORK")
if [[ -n ${FLEET_BENCH:-} ]]; then
    args+=(--bench "$FLEET_BENCH")
else
    args+=(--seconds "${FLEET_SECONDS:-15}")
fi
PATH=$VENV/bin:/usr/sbin:$PATH "$VENV/bin/python" scripts/fleet_check.py "${args[@]}"
