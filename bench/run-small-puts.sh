#!/usr/bin/env bash
# Durable small PUTs through the log against the usual path: s3bench's PUT of COUNT objects of
# 4 KiB, 32 in flight, SigV4, fsync on, each round on a fresh folder and a fresh server, once with
# --small-put-log 64K and once without, alternating which goes first from one round to the next.
#
# Prints each mode's ops/s per round, then the median with the lowest and highest, and the
# median of the rounds' ratios (log / usual path).
#
# Environment:
#   BENCH_BUILD=0          use the binaries named below as they are (else built in release)
#   S3GATE_BIN, S3BENCH    the binaries (default: target/release/s3gate and s3bench)
#   BENCH_ROUNDS=3         alternating rounds
#   BENCH_SMALL=2000       4 KiB objects per PUT batch
#   BENCH_DIR=target/bench-data
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${BENCH_ROUNDS:-3}
SMALL=${BENCH_SMALL:-2000}
BASE=${BENCH_DIR:-$ROOT/target/bench-data}
WORK=$BASE/small-puts-$$
S3GATE_BIN=${S3GATE_BIN:-$ROOT/target/release/s3gate}
S3BENCH=${S3BENCH:-$ROOT/target/release/s3bench}
AK=benchak
SK=benchsk
PID=

log() { echo "run-small-puts: $*" >&2; }
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ${BENCH_BUILD:-1} != 0 ]]; then
    cargo build --release -p s3gate -p s3gate-bench >&2
fi
mkdir -p "$WORK"

# one MODE ("log" or "usual"): a fresh server and folder, the PUT batch; prints ops/s.
one() {
    local data=$WORK/data-$1 port
    rm -rf "$data"
    mkdir -p "$data"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    local extra=()
    [[ $1 == log ]] && extra=(--small-put-log 64K)
    "$S3GATE_BIN" serve "$data" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        "${extra[@]}" >"$WORK/server-$1.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    local s3=("$S3BENCH" --endpoint "http://127.0.0.1:$port" --access-key "$AK" --secret-key "$SK")
    "${s3[@]}" create-bucket >/dev/null 2>&1
    "${s3[@]}" --json put --count "$SMALL" --size 4096 --concurrency 32 --prefix small/ 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.loads(sys.stdin.read())["ops_s"]))'
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    rm -rf "$data"
}

declare -a LOGGED USUAL
for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then order=(log usual); else order=(usual log); fi
    for m in "${order[@]}"; do
        v=$(one "$m")
        log "round $r, $m: $v ops/s"
        if [[ $m == log ]]; then LOGGED+=("$v"); else USUAL+=("$v"); fi
    done
done

python3 - "${LOGGED[*]}" "${USUAL[*]}" <<'EOF'
import statistics, sys
logged = [float(x) for x in sys.argv[1].split()]
usual = [float(x) for x in sys.argv[2].split()]
ratios = [a / b for a, b in zip(logged, usual)]
def show(name, xs, unit):
    print(f"{name}: median {statistics.median(xs):.2f} {unit} (lowest {min(xs):.2f}, highest {max(xs):.2f})")
show("PUT 4 KiB x 32 in flight, --small-put-log 64K", logged, "ops/s")
show("PUT 4 KiB x 32 in flight, usual path (fsync of file and folder)", usual, "ops/s")
show("ratio log / usual, per round", ratios, "x")
EOF
