#!/usr/bin/env bash
# What keeping versions costs: the same workloads in a bucket whose versioning is Enabled and in
# one that never kept versions, on one s3gate (release build, fsync on, SigV4 through s3bench),
# alternating which goes first from one round to the next.
#
# Workloads, per object size (4 KiB, 32 in flight; 1 MiB, 8 in flight):
#   overwrite  a PUT of every key again (the versioned bucket keeps what it replaces);
#   get        a GET of every key (the current version);
#   delete     a DeleteObject of every key (the versioned bucket adds a delete marker).
# Then a listing: ListObjectVersions of a bucket holding VERSIONS versions (VERSIONS/5 keys, 5
# versions each) against ListObjectsV2 of a bucket of VERSIONS keys, 1000 entries a page, paged
# to the end and read without the SDK's parse (s3bench --light): the server's cost of one page.
#
# Prints, for each, the median of the rounds' ratios (versioned / unversioned; for the listing,
# a version page / a key page, in the time the client waits and in the server's CPU time read
# from /proc) with the lowest and highest, and writes the rounds to target/bench-versions.json.
#
# Environment:
#   BENCH_BUILD=0          use the release binaries already in target/release
#   BENCH_ROUNDS=3         alternating rounds
#   BENCH_SMALL=2000       4 KiB objects per round
#   BENCH_MID=200          1 MiB objects per round
#   BENCH_VERSIONS=100000  versions in the listing bucket
#   BENCH_DIR=target/bench-data
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${BENCH_ROUNDS:-3}
SMALL=${BENCH_SMALL:-2000}
MID=${BENCH_MID:-200}
VERSIONS=${BENCH_VERSIONS:-100000}
BASE=${BENCH_DIR:-$ROOT/target/bench-data}
WORK=$BASE/versions-$$
JSON=$ROOT/target/bench-versions.json
AK=benchak
SK=benchsk
PID=

log() { echo "run-versions: $*" >&2; }
cleanup() {
    local rc=$?
    [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
    if ((rc != 0)); then
        log "failed; the last lines of s3bench's and s3gate's logs:"
        tail -n 20 "$WORK/s3bench.log" "$WORK/s3gate.log" >&2 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ${BENCH_BUILD:-1} == 1 ]]; then
    log "building s3gate and s3bench (release)"
    cargo build --release -q -p s3gate -p s3gate-bench
fi
S3BENCH=$ROOT/target/release/s3bench
mkdir -p "$WORK/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ROOT/target/release/s3gate" serve "$WORK/data" --addr "127.0.0.1:$PORT" --auth-key "$AK,$SK" \
    --log-level warn >>"$WORK/s3gate.log" 2>&1 &
PID=$!
for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done

: >"$WORK/results.jsonl"
bench() { # bench BUCKET LABEL ARGS...
    local bucket=$1 label=$2
    shift 2
    "$S3BENCH" --endpoint "http://127.0.0.1:$PORT" --access-key "$AK" --secret-key "$SK" \
        --bucket "$bucket" --json --label "$label" "$@" >>"$WORK/results.jsonl" 2>>"$WORK/s3bench.log"
}
bucket() { # bucket NAME versioned|plain: a fresh bucket
    bench "$1" setup create-bucket
    [[ $2 == plain ]] || bench "$1" setup versioning --status Enabled
}

for ((r = 1; r <= ROUNDS; r++)); do
    order=(plain versioned)
    ((r % 2)) || order=(versioned plain)
    for size in 4KiB 1MiB; do
        count=$SMALL conc=32
        [[ $size == 1MiB ]] && count=$MID conc=8
        for mode in "${order[@]}"; do
            b="r$r-$mode-${size,,}"
            log "round $r, $size, $mode"
            bucket "$b" "$mode"
            batch=(--count "$count" --size "$size" --concurrency "$conc" --prefix o/)
            bench "$b" setup put "${batch[@]}"
            bench "$b" "$r $size $mode overwrite" put "${batch[@]}"
            bench "$b" "$r $size $mode get" get "${batch[@]}"
            bench "$b" "$r $size $mode delete" delete "${batch[@]}"
        done
    done
done

log "filling the listing buckets: $VERSIONS versions, and as many keys"
bucket lst-versions versioned
bucket lst-keys plain
keys=$((VERSIONS / 5))
for v in 1 2 3 4 5; do
    bench lst-versions setup put --count "$keys" --size 1 --concurrency 32 --prefix k/
done
for part in 0 1 2 3 4; do
    bench lst-keys setup put --count "$keys" --size 1 --concurrency 32 --prefix "k$part/"
done
# The server's user and system time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
for ((r = 1; r <= ROUNDS; r++)); do
    order=(lst-keys lst-versions)
    ((r % 2)) || order=(lst-versions lst-keys)
    for b in "${order[@]}"; do
        versions=()
        [[ $b == lst-versions ]] && versions=(--versions)
        before=$(cpu_ticks)
        bench "$b" "$r list $b" list --light --repeat 3 --warmup 1 "${versions[@]}"
        # The server's CPU time over the warm-up and the measured listing, shared out per page.
        echo "{\"label\": \"$r list $b cpu\", \"ticks\": $(($(cpu_ticks) - before)), \"listings\": 4}" \
            >>"$WORK/results.jsonl"
    done
done

python3 - "$WORK/results.jsonl" "$JSON" "$ROUNDS" "$(getconf CLK_TCK)" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
rounds = int(sys.argv[3])
by = {r["label"]: r for r in rows if r.get("label") != "setup"}
def line(name, ratios, target):
    ratios.sort()
    print(f"| {name} | {statistics.median(ratios):.2f} | {ratios[0]:.2f} to {ratios[-1]:.2f} | {target} |")
print("| workload | versioned / unversioned, median | lowest to highest | target |")
print("|---|---|---|---|")
for size in ["4KiB", "1MiB"]:
    for op, target in [("overwrite", "time <= 1.10"), ("delete", "time <= 1.10"), ("get", "time <= 1.00")]:
        # Ratio of times: versioned seconds / unversioned seconds.
        ratios = [by[f"{r} {size} versioned {op}"]["total_s"] / by[f"{r} {size} plain {op}"]["total_s"]
                  for r in range(1, rounds + 1)]
        line(f"{op} {size}", ratios, target)
ratios = []
for r in range(1, rounds + 1):
    v, k = by[f"{r} list lst-versions"], by[f"{r} list lst-keys"]
    ratios.append((v["seconds"] / v["pages"]) / (k["seconds"] / k["pages"]))
v = by["1 list lst-versions"]
line(f"a ListObjectVersions page ({v['entries'] // v['repeat']} versions, {v['pages'] // v['repeat']} pages) vs a ListObjectsV2 page", ratios, "time <= 1.00")
def cpu_per_page(r, b):
    c, l = by[f"{r} list {b} cpu"], by[f"{r} list {b}"]
    return c["ticks"] / int(sys.argv[4]) / (c["listings"] * l["pages"] / l["repeat"])
# A small listing may take less than a clock tick: such rounds measure nothing.
cpu = [cpu_per_page(r, "lst-versions") / cpu_per_page(r, "lst-keys")
       for r in range(1, rounds + 1) if cpu_per_page(r, "lst-keys") > 0]
if cpu:
    line("the same, the server's CPU time", cpu, "")
else:
    print("| the same, the server's CPU time | too short to measure (BENCH_VERSIONS) | | |")
EOF
