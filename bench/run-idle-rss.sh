#!/usr/bin/env bash
# The resident size of an idle server after its start-up, as bench/run-peers.sh takes it (a
# folder of BENCH_LIST empty files in 100 folders, whose index the first start fills; then a
# second start, its first answer, one second, VmRSS), in BENCH_ROUNDS rounds alternating with
# `rclone serve s3` on the same folder: the reference, started and measured the same way.
# Before each start the server's binary leaves the page cache, so that every start reads its
# code as a start after a reboot does: most of an idle server's RSS is its code mapped from the
# page cache, and the kernel maps it a page-cache folio at a time, whose size depends on how the
# file came into the cache (a `cat` or a copy of the binary makes larger folios than the faults
# of a start, and raised the idle RSS by 2.5 MiB).
# A second s3gate binary (S3GATE_OTHER, e.g. a build of another commit) joins every round.
# After its idle RSS, each s3gate start is timed on what the index's memory serves: a flat
# ListObjectsV2 of the BENCH_LIST keys and a walk of their tree with `/` (each the mean of 5
# after one untimed, `s3bench list --light`), so that memory saved is checked against speed lost.
#
# Prints each figure's median with its lowest and highest, and the median of the rounds' ratios
# (rclone / s3gate, and other / s3gate), with the lowest and highest.
#
# Environment:
#   BENCH_BUILD=0          use the binaries as they are (else s3gate is built in release)
#   S3GATE_BIN, S3BENCH    default target/release/s3gate and s3bench
#   S3GATE_OTHER           a second s3gate binary measured beside it (optional)
#   BENCH_ROUNDS=5
#   BENCH_LIST=20000
#   BENCH_DIR=target/bench-data
#   BENCH_KEEP=1           keep the work folder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
LIST=${BENCH_LIST:-20000}
BASE=${BENCH_DIR:-$ROOT/target/bench-data}
WORK=$BASE/idle-rss-$$
S3GATE_BIN=${S3GATE_BIN:-$ROOT/target/release/s3gate}
S3BENCH=${S3BENCH:-$ROOT/target/release/s3bench}
OTHER=${S3GATE_OTHER:-}
AK=benchak
SK=benchsk

bench_build
bench_rclone

mkdir -p "$WORK/data/bench"
python3 - "$WORK/data/bench/list" "$LIST" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:03d}")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"f{i:06d}"), "wb").close()
EOF

up() {
    for _ in $(seq 300); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return
        sleep 0.1
    done
    log "no answer on port $1"
    exit 1
}

# listing PORT [ARGS]: seconds of one listing of the keys (the mean of 5, after one), ARGS added.
listing() {
    "$S3BENCH" --endpoint "http://127.0.0.1:$1" --access-key "$AK" --secret-key "$SK" --json \
        list --light --prefix list/ --repeat 5 --warmup 1 "${@:2}" 2>/dev/null |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["listing_s"])'
}
# uncached FILE: FILE's pages leave the page cache (written out first: a fresh build's are dirty).
uncached() {
    python3 - "$1" <<'EOF2'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
EOF2
}
# idle NAME: starts that server, waits for its first answer and one second, prints VmRSS in MiB;
# for s3gate, then the seconds of a flat listing and of a walk.
idle() {
    local p pid
    p=$(free_port)
    case $1 in
    s3gate | other)
        local bin=$S3GATE_BIN
        [[ $1 == other ]] && bin=$OTHER
        uncached "$bin"
        "$bin" serve "$WORK/data" --addr "127.0.0.1:$p" --auth-key "$AK,$SK" --log-level warn \
            >>"$WORK/$1.log" 2>&1 &
        ;;
    rclone)
        uncached "$RCLONE"
        "$RCLONE" serve s3 "$WORK/data" --addr "127.0.0.1:$p" --auth-key "$AK,$SK" \
            >>"$WORK/rclone.log" 2>&1 &
        ;;
    esac
    pid=$!
    bench_started "$pid"
    up "$p"
    sleep 1
    awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$pid/status"
    [[ $1 != rclone ]] && printf ' %s %s' "$(listing "$p")" "$(listing "$p" --walk)"
    echo
    bench_stop "$pid"
}

# The first start fills the index; every start measured after it reads the filled one.
servers=(s3gate rclone)
[[ -n $OTHER ]] && servers+=(other)
idle s3gate >/dev/null
[[ -n $OTHER ]] && idle other >/dev/null
declare -A RSS LIST WALK
for r in $(seq "$ROUNDS"); do
    # The order rotates, so that no server always follows the same one.
    n=${#servers[@]}
    for i in $(seq 0 $((n - 1))); do
        s=${servers[$(((i + r) % n))]}
        read -r v l w <<<"$(idle "$s")"
        log "round $r, $s: $v MiB${l:+, listing $l s, walk $w s}"
        RSS[$s]="${RSS[$s]:-} $v"
        LIST[$s]="${LIST[$s]:-} ${l:-}"
        WALK[$s]="${WALK[$s]:-} ${w:-}"
    done
done

python3 - "${RSS[s3gate]}" "${RSS[rclone]}" "${RSS[other]:-}" "${LIST[s3gate]}" "${LIST[other]:-}" \
    "${WALK[s3gate]}" "${WALK[other]:-}" "$LIST" <<'EOF'
import statistics, sys
s3gate, rclone, other, s3list, olist, s3walk, owalk = (
    [float(x) for x in a.split()] for a in sys.argv[1:8])
keys = f"{int(sys.argv[8]):,} keys"
def show(name, xs, unit):
    print(f"{name}: median {statistics.median(xs):.4g} {unit} (lowest {min(xs):.4g}, highest {max(xs):.4g})")
show("idle RSS, s3gate", s3gate, "MiB")
show("idle RSS, rclone serve s3", rclone, "MiB")
show("rclone / s3gate, per round", [b / a for a, b in zip(s3gate, rclone)], "x")
show(f"ListObjectsV2 of {keys}, s3gate", s3list, "s")
show(f"walk of {keys} with /, s3gate", s3walk, "s")
if other:
    show("idle RSS, S3GATE_OTHER", other, "MiB")
    show("idle RSS, S3GATE_OTHER / s3gate, per round", [b / a for a, b in zip(s3gate, other)], "x")
    show(f"ListObjectsV2 of {keys}, S3GATE_OTHER", olist, "s")
    show("  S3GATE_OTHER / s3gate, per round", [b / a for a, b in zip(s3list, olist)], "x")
    show(f"walk of {keys} with /, S3GATE_OTHER", owalk, "s")
    show("  S3GATE_OTHER / s3gate, per round", [b / a for a, b in zip(s3walk, owalk)], "x")
EOF
