#!/usr/bin/env bash
# Durable small PUTs through the log against the usual path and against `rclone serve s3` (the
# reference, which does not sync): s3bench's PUT of COUNT objects of 4 KiB, 32 in flight, SigV4,
# each round on a fresh folder and a fresh server: s3gate with --small-put-log 64K, s3gate
# without it (fsync on in both), rclone; the order rotates from one round to the next.
# With S3GATE_OTHER, a second s3gate binary (a build of another commit) runs with the log too.
#
# Prints each mode's ops/s per round, then the median with the lowest and highest, and the
# median of the rounds' ratios (each against the usual path and against rclone, within a round).
#
# Environment:
#   BENCH_BUILD=0          use the binaries named below as they are (else built in release)
#   S3GATE_BIN, S3BENCH    the binaries (default: target/release/s3gate and s3bench)
#   S3GATE_OTHER           a second s3gate binary, run with the log (optional)
#   BENCH_ROUNDS=3         rounds
#   BENCH_SMALL=2000       4 KiB objects per PUT batch
#   BENCH_LOG=64K          the log's bound
#   BENCH_DIR=target/bench-data
#   BENCH_KEEP=1           keep the work folder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
SMALL=${BENCH_SMALL:-2000}
BASE=${BENCH_DIR:-$ROOT/target/bench-data}
WORK=$BASE/small-puts-$$
S3GATE_BIN=${S3GATE_BIN:-$ROOT/target/release/s3gate}
S3BENCH=${S3BENCH:-$ROOT/target/release/s3bench}
OTHER=${S3GATE_OTHER:-}
BOUND=${BENCH_LOG:-64K}
AK=benchak
SK=benchsk

bench_build
bench_rclone
mkdir -p "$WORK"

# one MODE ("log", "usual", "rclone" or "other"): a fresh server and folder, the PUT batch;
# prints ops/s.
one() {
    # Every run's folder stays until the end: on ext4 without a journal (this machine's disk)
    # a new file's inode is looked for past those deleted in the last 5 to 35 s, so a run right
    # after the deletion of thousands of files paid for them.
    local data=$WORK/data-$1-$2 port pid
    mkdir -p "$data"
    port=$(free_port)
    case $1 in
    log) "$S3GATE_BIN" serve "$data" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        --small-put-log "$BOUND" >"$WORK/server-$1.log" 2>&1 & ;;
    usual) "$S3GATE_BIN" serve "$data" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        >"$WORK/server-$1.log" 2>&1 & ;;
    other) "$OTHER" serve "$data" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        --small-put-log "$BOUND" >"$WORK/server-$1.log" 2>&1 & ;;
    rclone) "$RCLONE" serve s3 "$data" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        >"$WORK/server-$1.log" 2>&1 & ;;
    esac
    pid=$!
    bench_started "$pid"
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    local s3=("$S3BENCH" --endpoint "http://127.0.0.1:$port" --access-key "$AK" --secret-key "$SK")
    "${s3[@]}" create-bucket >/dev/null 2>&1
    "${s3[@]}" --json put --count "$SMALL" --size 4096 --concurrency 32 --prefix small/ 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.loads(sys.stdin.read())["ops_s"]))'
    bench_stop "$pid"
}

MODES=(log usual rclone)
[[ -n $OTHER ]] && MODES+=(other)
declare -A OPS
for r in $(seq "$ROUNDS"); do
    n=${#MODES[@]}
    for i in $(seq 0 $((n - 1))); do
        m=${MODES[$(((i + r) % n))]}
        v=$(one "$m" "$r")
        log "round $r, $m: $v ops/s"
        OPS[$m]="${OPS[$m]:-} $v"
    done
done

python3 - "$BOUND" "${OPS[log]}" "${OPS[usual]}" "${OPS[rclone]}" "${OPS[other]:-}" <<'EOF'
import statistics, sys
bound = sys.argv[1]
logged, usual, rclone = ([float(x) for x in a.split()] for a in sys.argv[2:5])
other = [float(x) for x in sys.argv[5].split()]
def show(name, xs, unit):
    print(f"{name}: median {statistics.median(xs):.2f} {unit} (lowest {min(xs):.2f}, highest {max(xs):.2f})")
def ratio(a, b):
    return [x / y for x, y in zip(a, b)]
show(f"PUT 4 KiB x 32 in flight, --small-put-log {bound}", logged, "ops/s")
show("PUT 4 KiB x 32 in flight, usual path (fsync of file and folder)", usual, "ops/s")
show("PUT 4 KiB x 32 in flight, rclone serve s3 (no sync)", rclone, "ops/s")
show("ratio log / usual, per round", ratio(logged, usual), "x")
show("ratio log / rclone, per round", ratio(logged, rclone), "x")
show("ratio usual / rclone, per round", ratio(usual, rclone), "x")
if other:
    show(f"PUT 4 KiB x 32 in flight, S3GATE_OTHER with --small-put-log {bound}", other, "ops/s")
    show("ratio log / S3GATE_OTHER's log, per round", ratio(logged, other), "x")
EOF
