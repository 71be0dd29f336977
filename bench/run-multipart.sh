#!/usr/bin/env bash
# The multipart benchmark of s3gate (the figures of issue 4).
#
# Builds `s3gate` and `s3bench` in release, starts the server with a key on a fresh folder on
# the same disk as the target folder, and runs in one go:
#
#   1. dd of SIZE from /dev/zero with conv=fdatasync: what the disk takes (the reference);
#   2. a multipart upload of SIZE (PART_SIZE parts, PARALLEL in flight), UNSIGNED-PAYLOAD,
#      then the dd again (the reference is the mean of both);
#   3. the same with signed payloads (SHA-256 of every byte on both ends);
#   4. an UploadPartCopy of the object of step 2 into a new one (COPY_PART_SIZE ranges);
#   5. a multipart upload of COMPLETE_SIZE, for the latency of its CompleteMultipartUpload;
#   6. a single PutObject of COPY_SIZE, then a CopyObject of it;
#   7. a read-back of every object written (checked against what was sent; not timed).
#
# For every step it reports the server's peak RSS above its idle RSS: /proc/PID/clear_refs
# resets VmHWM at the start of the step, VmHWM at its end is the step's peak, and a sampler
# of VmRSS every 50 ms (kept in target/bench-rss.log) backs it up. Then it prints a table with
# the targets of issue 4 beside each figure and writes it as JSON to target/bench-multipart.json.
#
# Usage: bench/run-multipart.sh
#
# Environment:
#   BENCH_SIZE=4GiB             size of the dd reference, the big upload and the part copy
#   BENCH_PART_SIZE=64MiB       part size of the uploads
#   BENCH_PARALLEL=8            parts in flight
#   BENCH_COPY_PART_SIZE=512MiB range size of the UploadPartCopy
#   BENCH_COMPLETE_SIZE         size of the upload whose Complete is timed (default SIZE/2)
#   BENCH_COPY_SIZE             size of the CopyObject (default SIZE/4)
#   BENCH_DIR=target/bench-data where the scratch folder of the run (served folder and dd
#                               file) is made; the scratch folder is removed at the end
#   BENCH_JSON=target/bench-multipart.json
#   BENCH_NO_FSYNC=1            start the server with --no-fsync (dd still uses fdatasync)
#   BENCH_FRESH_SERVER=1        restart the server before each step, so that each peak is
#                               measured above the idle RSS of a fresh server (by default one
#                               server runs all steps and what a step keeps counts in the next)
#   BENCH_SIGNED=0              skip the signed-payload upload
#   BENCH_VERIFY=0              skip the read-back
#   BENCH_BUILD=0               use the binaries already in target/release
#   BENCH_KEEP=1                keep the scratch folder
#
# A quick run: BENCH_SIZE=256MiB bench/run-multipart.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
    echo "run-multipart: $*" >&2
    exit 1
}

# 4GiB, 64MiB, 64M (binary), 1GB (decimal), 123 (bytes) -> bytes
to_bytes() {
    local s=${1// /} num unit m
    num=${s%%[!0-9]*}
    unit=${s#"$num"}
    [[ -n $num ]] || die "bad size '$1'"
    case ${unit,,} in
        "" | b) m=1 ;;
        k | kib) m=1024 ;;
        m | mib) m=$((1024 ** 2)) ;;
        g | gib) m=$((1024 ** 3)) ;;
        t | tib) m=$((1024 ** 4)) ;;
        kb) m=1000 ;;
        mb) m=1000000 ;;
        gb) m=1000000000 ;;
        *) die "bad size unit in '$1'" ;;
    esac
    echo $((num * m))
}

# bytes -> "4 GiB", "256 MiB", "1.50 GiB"
human() {
    awk -v n="$1" 'BEGIN {
        split("GiB MiB KiB", u, " "); m[1] = 2^30; m[2] = 2^20; m[3] = 2^10
        for (i = 1; i <= 3; i++) if (n >= m[i]) {
            if (n % m[i] == 0) printf "%d %s", n / m[i], u[i]; else printf "%.2f %s", n / m[i], u[i]
            exit
        }
        printf "%d B", n
    }'
}

SIZE=$(to_bytes "${BENCH_SIZE:-4GiB}")
PART_SIZE=$(to_bytes "${BENCH_PART_SIZE:-64MiB}")
PARALLEL=${BENCH_PARALLEL:-8}
COPY_PART_SIZE=$(to_bytes "${BENCH_COPY_PART_SIZE:-512MiB}")
COMPLETE_SIZE=$(to_bytes "${BENCH_COMPLETE_SIZE:-$((SIZE / 2))}")
COPY_SIZE=$(to_bytes "${BENCH_COPY_SIZE:-$((SIZE / 4))}")
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench-data}
OUT_JSON=${BENCH_JSON:-$ROOT/target/bench-multipart.json}
RSS_LOG=$ROOT/target/bench-rss.log
SERVER_LOG=$ROOT/target/bench-server.log
SIGNED=${BENCH_SIGNED:-1}
VERIFY=${BENCH_VERIFY:-1}
FRESH=${BENCH_FRESH_SERVER:-0}
AK=benchak
SK=benchsecretkey
BUCKET=bench

# Targets of issue 4.
RSS_TARGET_MIB=32
RATIO_TARGET=0.70
COMPLETE_TARGET_S=0.5
COPY_TARGET_S=0.2

command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || die "BENCH_PARALLEL must be a positive integer"

if [[ ${BENCH_BUILD:-1} == 1 ]]; then
    echo "run-multipart: building s3gate and s3bench (release)" >&2
    cargo build --release --quiet -p s3gate -p s3gate-bench
fi
S3GATE=$ROOT/target/release/s3gate
S3BENCH=$ROOT/target/release/s3bench
[[ -x $S3GATE && -x $S3BENCH ]] || die "missing $S3GATE or $S3BENCH"

if pgrep -x rustc >/dev/null 2>&1; then
    echo "run-multipart: warning: a rustc is running, the figures will be skewed" >&2
fi

SERVER_PID=
SAMPLER_PID=
WORK=
cleanup() {
    local rc=$?
    stop_server
    if [[ $rc -ne 0 && -s $SERVER_LOG ]]; then
        echo "run-multipart: failed; the end of the server log ($SERVER_LOG):" >&2
        tail -n 20 "$SERVER_LOG" | sed 's/^/  | /' >&2
    fi
    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        [[ -z $WORK ]] || rm -rf "$WORK"
        rmdir "$BENCH_DIR" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$BENCH_DIR" "$(dirname "$OUT_JSON")"
WORK=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
mkdir "$WORK/root"
FS_TYPE=$(findmnt -n -o FSTYPE --target "$WORK" 2>/dev/null || df --output=fstype "$WORK" | tail -n 1)

# ------------------------------------------------------------------ the server

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=
for p in $(seq 19380 19480); do
    if port_free "$p"; then
        PORT=$p
        break
    fi
done
[[ -n $PORT ]] || die "no free port in 19380-19480"
ENDPOINT=http://127.0.0.1:$PORT

SERVER_ARGS=(serve "$WORK/root" --addr "127.0.0.1:$PORT" --auth-key "$AK,$SK" --log-level warn)
if [[ ${BENCH_NO_FSYNC:-0} == 1 ]]; then
    SERVER_ARGS+=(--no-fsync)
fi

status_kb() { # status_kb FIELD -> kB from /proc/PID/status
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status"
}

# VmRSS and VmHWM of the server every 50 ms: "epoch-seconds rss-kB hwm-kB"; ends with it.
sampler() {
    local k v rest rss hwm
    while [[ -r /proc/$SERVER_PID/status ]]; do
        rss=0 hwm=0
        while read -r k v rest; do
            case $k in
                VmRSS:) rss=$v ;;
                VmHWM:) hwm=$v ;;
            esac
        done <"/proc/$SERVER_PID/status" 2>/dev/null || break
        echo "$EPOCHREALTIME $rss $hwm"
        sleep 0.05
    done
}

# Starts the server, waits until it answers, takes its idle RSS and starts the sampler.
start_server() {
    "$S3GATE" "${SERVER_ARGS[@]}" >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        if curl -s -o /dev/null --max-time 1 "$ENDPOINT/"; then
            break
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start"
        sleep 0.1
    done
    curl -s -o /dev/null --max-time 1 "$ENDPOINT/" || die "the server does not answer on $ENDPOINT"
    sleep 1
    IDLE_KB=$(status_kb VmRSS)
    sampler >>"$RSS_LOG" &
    SAMPLER_PID=$!
}

stop_server() {
    if [[ -n $SAMPLER_PID ]]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=
    fi
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

: >"$SERVER_LOG"
: >"$RSS_LOG"
start_server
FIRST_IDLE_KB=$IDLE_KB

# --------------------------------------------------------------------- phases

HWM_RESET=0
PHASE_T0=
PHASE_START_MIB=
# Starts a step: with BENCH_FRESH_SERVER=1 on a restarted server (and its own idle RSS).
phase_begin() {
    sync
    if [[ $FRESH == 1 ]]; then
        stop_server
        start_server
    fi
    if echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null; then
        HWM_RESET=1
    else
        HWM_RESET=0
    fi
    PHASE_START_MIB=$(awk -v k="$(status_kb VmRSS)" -v idle="$IDLE_KB" \
        'BEGIN { p = (k - idle) / 1024; if (p < 0) p = 0; printf "%.1f", p }')
    PHASE_T0=$EPOCHREALTIME
}

# Peak RSS of the server above idle during the step, in MiB (one decimal).
phase_peak_mib() {
    local hwm=0 sampled
    if [[ $HWM_RESET == 1 ]]; then
        hwm=$(status_kb VmHWM)
    fi
    sleep 0.06 # one more sample
    sampled=$(awk -v t0="$PHASE_T0" '$1 >= t0 && $2 > m { m = $2 } END { print m + 0 }' "$RSS_LOG")
    awk -v a="$hwm" -v b="$sampled" -v idle="$IDLE_KB" \
        'BEGIN { p = (a > b ? a : b) - idle; if (p < 0) p = 0; printf "%.1f", p / 1024 }'
}

bench() { # bench ARGS... -> the JSON line of s3bench
    "$S3BENCH" --endpoint "$ENDPOINT" --access-key "$AK" --secret-key "$SK" --bucket "$BUCKET" \
        --json "$@"
}

ROWS=()
# row NAME RESULT VS_DD RSS_MIB TARGET MET [JSON-EXTRA]; a row with RSS_MIB is a server step
# and also records the RSS the step began with and the idle RSS it is measured against.
row() {
    local start="" idle=""
    if [[ -n $4 ]]; then
        start=$PHASE_START_MIB
        idle=$(awk -v k="$IDLE_KB" 'BEGIN { printf "%.1f", k / 1024 }')
    fi
    ROWS+=("$(jq -cn --arg w "$1" --arg r "$2" --arg d "$3" --arg m "$4" --arg t "$5" --arg ok "$6" \
        --arg start "$start" --arg idle "$idle" --argjson x "${7:-null}" \
        '{workload: $w, result: $r, vs_dd: ($d | tonumber? // null),
          server_peak_rss_above_idle_mib: ($m | tonumber? // null),
          server_rss_above_idle_at_step_start_mib: ($start | tonumber? // null),
          server_idle_rss_mib: ($idle | tonumber? // null), target: $t,
          met: (if $ok == "yes" then true elif $ok == "no" then false else null end),
          details: $x}')")
}

fge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
flt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
yesno() { if "$@"; then echo yes; else echo no; fi; }
both() { if [[ $1 == yes && $2 == yes ]]; then echo yes; else echo no; fi; }
rss_ok() { flt "$1" "$RSS_TARGET_MIB"; }
s3() { printf '%.3f' "$1"; }
mbs() { printf '%.1f MB/s' "$1"; }
parts() { if [[ $1 == 1 ]]; then echo "1 part"; else echo "$1 parts"; fi; }

# complete_row JSON FIELD: the Complete of a multipart workload, and the speed of the whole
# (parts and Complete) beside it.
complete_row() {
    local total
    total=$(jq -r ".$2" <<<"$1")
    row "  its CompleteMultipartUpload ($(parts "$(jq -r .parts <<<"$1")")); parts + Complete: $(mbs "$total")" \
        "$(s3 "$(jq -r .complete_s <<<"$1")") s" "$(ratio "$total" "$DD_MBS")" "" "-" "" null
}

echo "run-multipart: s3gate pid $SERVER_PID on $ENDPOINT, $WORK ($FS_TYPE), idle RSS $(awk -v k="$IDLE_KB" 'BEGIN { printf "%.1f", k / 1024 }') MiB" >&2

# 1. dd: the disk reference, before the big upload and again after it (the disk of a virtual
# machine drifts: the ratios are taken against the mean of the two).
if ((SIZE % (64 << 20) == 0)); then
    DD_ARGS=(bs=64M count=$((SIZE >> 26)))
else
    DD_ARGS=(bs=1M count=$(((SIZE + (1 << 20) - 1) >> 20)))
fi
run_dd() { # -> "bytes seconds MB/s"
    local out line bytes secs
    sync
    out=$(LC_ALL=C dd if=/dev/zero of="$WORK/dd.bin" "${DD_ARGS[@]}" conv=fdatasync 2>&1)
    rm -f "$WORK/dd.bin"
    line=$(tail -n 1 <<<"$out")
    bytes=$(awk '{ print $1 }' <<<"$line")
    secs=$(awk -F', ' '{ split($(NF - 1), s, " "); print s[1] }' <<<"$line")
    [[ $bytes =~ ^[0-9]+$ && -n $secs ]] || die "cannot read the output of dd: $out"
    echo "$bytes $secs $(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')"
    echo "dd $(human "$bytes") (${DD_ARGS[*]}, conv=fdatasync): $secs s = $(mbs "$(awk -v b="$bytes" -v s="$secs" 'BEGIN { print b / 1e6 / s }')")" >&2
}
read -r DD_BYTES DD1_SECS DD1_MBS <<<"$(run_dd)"

bench create-bucket >/dev/null

# 2. The big multipart upload, then dd again.
phase_begin
J=$(bench multipart-put --key big.bin --size "$SIZE" --part-size "$PART_SIZE" --parallel "$PARALLEL")
RSS=$(phase_peak_mib)
read -r _ DD2_SECS DD2_MBS <<<"$(run_dd)"
DD_MBS=$(awk -v a="$DD1_MBS" -v b="$DD2_MBS" 'BEGIN { printf "%.1f", (a + b) / 2 }')
DD_NAME="dd $(human "$DD_BYTES") from /dev/zero, ${DD_ARGS[0]}, conv=fdatasync"
row "$DD_NAME, before the uploads" "$(mbs "$DD1_MBS")" "$(ratio "$DD1_MBS" "$DD_MBS")" "" \
    "reference: the mean, $(mbs "$DD_MBS")" "" \
    "$(jq -cn --argjson b "$DD_BYTES" --argjson s "$DD1_SECS" '{bytes: $b, seconds: $s}')"
row "$DD_NAME, after the first upload" "$(mbs "$DD2_MBS")" "$(ratio "$DD2_MBS" "$DD_MBS")" "" \
    "" "" "$(jq -cn --argjson b "$DD_BYTES" --argjson s "$DD2_SECS" '{bytes: $b, seconds: $s}')"
MBS=$(jq -r .upload_mb_s <<<"$J")
R=$(ratio "$MBS" "$DD_MBS")
row "multipart-put $(human "$SIZE"), $(human "$PART_SIZE") parts, $PARALLEL in flight" "$(mbs "$MBS")" "$R" "$RSS" \
    ">= $RATIO_TARGET x dd; RSS < $RSS_TARGET_MIB MiB" "$(both "$(yesno fge "$R" "$RATIO_TARGET")" "$(yesno rss_ok "$RSS")")" "$J"
complete_row "$J" total_mb_s

# 3. The same, payloads signed.
if [[ $SIGNED == 1 ]]; then
    phase_begin
    J=$(bench multipart-put --sign-payload --key big-signed.bin --size "$SIZE" --part-size "$PART_SIZE" --parallel "$PARALLEL")
    RSS=$(phase_peak_mib)
    MBS=$(jq -r .upload_mb_s <<<"$J")
    R=$(ratio "$MBS" "$DD_MBS")
    row "multipart-put $(human "$SIZE") as above, signed payload (SHA-256)" "$(mbs "$MBS")" "$R" "$RSS" \
        "RSS < $RSS_TARGET_MIB MiB (speed: information)" "$(yesno rss_ok "$RSS")" "$J"
fi

# 4. UploadPartCopy of the big object.
phase_begin
J=$(bench part-copy --src big.bin --key big-copy.bin --part-size "$COPY_PART_SIZE" --parallel "$PARALLEL")
RSS=$(phase_peak_mib)
MBS=$(jq -r .copy_mb_s <<<"$J")
row "part-copy $(human "$SIZE"), $(human "$COPY_PART_SIZE") ranges, $PARALLEL in flight" "$(mbs "$MBS")" \
    "$(ratio "$MBS" "$DD_MBS")" "$RSS" "RSS < $RSS_TARGET_MIB MiB" "$(yesno rss_ok "$RSS")" "$J"
complete_row "$J" total_mb_s

# 5. The Complete of a COMPLETE_SIZE upload.
phase_begin
J=$(bench multipart-put --key complete.bin --size "$COMPLETE_SIZE" --part-size "$PART_SIZE" --parallel "$PARALLEL")
RSS=$(phase_peak_mib)
C=$(jq -r .complete_s <<<"$J")
row "CompleteMultipartUpload of $(human "$COMPLETE_SIZE") ($(parts "$(jq -r .parts <<<"$J")"))" "$(s3 "$C") s" "" "$RSS" \
    "< $COMPLETE_TARGET_S s; RSS < $RSS_TARGET_MIB MiB" "$(both "$(yesno flt "$C" "$COMPLETE_TARGET_S")" "$(yesno rss_ok "$RSS")")" "$J"
row "  (the upload before it)" "$(mbs "$(jq -r .upload_mb_s <<<"$J")")" \
    "$(ratio "$(jq -r .upload_mb_s <<<"$J")" "$DD_MBS")" "" "-" "" null

# 6. PutObject, then CopyObject.
phase_begin
J=$(bench put --prefix copy-src- --count 1 --size "$COPY_SIZE" --concurrency 1)
RSS=$(phase_peak_mib)
MBS=$(jq -r .mb_s <<<"$J")
row "PutObject $(human "$COPY_SIZE") (one request)" "$(mbs "$MBS")" "$(ratio "$MBS" "$DD_MBS")" "$RSS" \
    "RSS < $RSS_TARGET_MIB MiB" "$(yesno rss_ok "$RSS")" "$J"

phase_begin
J=$(bench copy --src copy-src-0 --key copy-dst.bin)
RSS=$(phase_peak_mib)
C=$(jq -r .copy_s <<<"$J")
row "CopyObject $(human "$COPY_SIZE")" "$(s3 "$C") s" "" "$RSS" "< $COPY_TARGET_S s; RSS < $RSS_TARGET_MIB MiB" \
    "$(both "$(yesno flt "$C" "$COPY_TARGET_S")" "$(yesno rss_ok "$RSS")")" "$J"

# 7. Read everything back.
if [[ $VERIFY == 1 ]]; then
    phase_begin
    T0=$EPOCHREALTIME
    VERIFIED=()
    VERIFIED+=("$(bench verify --key big.bin)")
    if [[ $SIGNED == 1 ]]; then
        VERIFIED+=("$(bench verify --key big-signed.bin)")
    fi
    VERIFIED+=("$(bench verify --key big-copy.bin --same-as big.bin)")
    VERIFIED+=("$(bench verify --key complete.bin)")
    VERIFIED+=("$(bench verify --key copy-src-0)")
    VERIFIED+=("$(bench verify --key copy-dst.bin --same-as copy-src-0)")
    RSS=$(phase_peak_mib)
    SECS=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    row "read-back of the ${#VERIFIED[@]} objects (GET, contents checked)" "all match (${SECS} s)" "" "$RSS" \
        "RSS < $RSS_TARGET_MIB MiB" "$(yesno rss_ok "$RSS")" "$(printf '%s\n' "${VERIFIED[@]}" | jq -cs .)"
fi

# ---------------------------------------------------------------------- report

DATE=$(date -u +%Y-%m-%d)
jq -n --arg date "$DATE" --arg fs "$FS_TYPE" --argjson cores "$(nproc)" --arg kernel "$(uname -r)" \
    --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --argjson mem_mib "$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)" \
    --argjson idle "$(awk -v k="$FIRST_IDLE_KB" 'BEGIN { printf "%.1f", k / 1024 }')" \
    --argjson fsync "$([[ ${BENCH_NO_FSYNC:-0} == 1 ]] && echo false || echo true)" \
    --argjson fresh "$([[ $FRESH == 1 ]] && echo true || echo false)" \
    --argjson size "$SIZE" --argjson part "$PART_SIZE" --argjson parallel "$PARALLEL" \
    --argjson copy_part "$COPY_PART_SIZE" --argjson complete_size "$COMPLETE_SIZE" --argjson copy_size "$COPY_SIZE" \
    --argjson hwm_reset "$([[ $HWM_RESET == 1 ]] && echo true || echo false)" \
    --argjson dd1 "$DD1_MBS" --argjson dd2 "$DD2_MBS" --argjson dd "$DD_MBS" \
    '{date: $date, machine: {cores: $cores, cpu: $cpu, memory_mib: $mem_mib, filesystem: $fs, kernel: $kernel},
      server: {idle_rss_mib: $idle, fsync: $fsync, fresh_server_per_step: $fresh,
               peak_rss_above_idle_mib: ([$ARGS.positional[] | .server_peak_rss_above_idle_mib // empty] | max),
               per_step_peak_from_vmhwm_reset: $hwm_reset},
      dd_mb_s: {before: $dd1, after: $dd2, reference: $dd},
      sizes: {size: $size, part_size: $part, parallel: $parallel, copy_part_size: $copy_part,
              complete_size: $complete_size, copy_size: $copy_size},
      rows: $ARGS.positional}' --jsonargs "${ROWS[@]}" >"$OUT_JSON"

echo
jq -r '"s3gate multipart benchmark, \(.date): \(.machine.cores) cores, \(.machine.filesystem), server idle RSS \(.server.idle_rss_mib) MiB, fsync \(.server.fsync), "
    + (if .server.fresh_server_per_step then "a fresh server for each step" else "one server for all steps" end)' "$OUT_JSON"
echo
echo "| workload | result | vs dd | server peak RSS above idle (at step start) | target | met |"
echo "|---|---|---|---|---|---|"
jq -r 'def two: (. * 100 | round) as $n
           | "\($n / 100 | floor).\($n % 100 | tostring | if length < 2 then "0" + . else . end)";
       def one: (. * 10 | round) as $n | "\($n / 10 | floor).\($n % 10)";
       .rows[]
       | "| \(.workload) | \(.result) | \(if .vs_dd == null then "" else (.vs_dd | two) end) | "
         + (if .server_peak_rss_above_idle_mib == null then ""
            else "\(.server_peak_rss_above_idle_mib | one) MiB (\(.server_rss_above_idle_at_step_start_mib | one))" end)
         + " | \(.target) | \(if .met == true then "yes" elif .met == false then "**no**" else "" end) |"' "$OUT_JSON"
echo
echo "MB = 10^6 bytes; vs dd: against the mean of the two dd runs. JSON: $OUT_JSON; RSS samples: $RSS_LOG"
