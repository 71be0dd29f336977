#!/usr/bin/env bash
# The whole test suite: unit and integration tests (aws-sdk-s3 against a real server, both
# metadata stores), the black-box smoke run with the aws CLI, boto3, rclone and s3cmd over HTTP
# and HTTPS (and remotes served by other programs, and the crash test), then a short run of
# every fuzz target, with the fleet check (scripts/fleet.sh) after the smoke run. Tests that
# need a program the smoke run installs (SeaweedFS's `weed`, rclone) are `#[ignore]`d, so a
# machine without it never counts them as passed; they run after the smoke run.
#
# Most integration tests wait on their server (sockets, restarts, timers) rather than use a
# core, so they run four at a time even on two cores. The smoke run and the fleet check serve
# with the binary that `cargo test` has just built (same profile and features) instead of
# building another one.
#
# The tests run every thread, the servers' workers included, on 1.5 MiB of stack where a
# thread has 2 MiB by default: a request whose futures near a worker's stack in this unoptimised
# build fails here, every time, with 0.5 MiB to spare, not now and then in a server's worker.
# Built first without it: the compiler takes its own stack from the same variable.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_STACK=1572864
cargo test --workspace --features s3gate-vfs/sled --no-run
RUST_MIN_STACK=$TEST_STACK cargo test --workspace --features s3gate-vfs/sled -- --test-threads=4
export SMOKE_SERVER_BIN=$PWD/target/debug/s3gate
SMOKE_PROFILE=debug bash scripts/smoke.sh
# Three gateways with --fleet over SeaweedFS behind HAProxy, one killed under load (under a minute).
bash scripts/fleet.sh
RUST_MIN_STACK=$TEST_STACK S3GATE_WEED=$PWD/target/smoke-venv/bin/weed \
    S3GATE_RCLONE=$PWD/target/smoke-venv/bin/rclone cargo test --workspace --features s3gate-vfs/sled --test s3 -- --ignored
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
