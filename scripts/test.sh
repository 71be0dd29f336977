#!/usr/bin/env bash
# The whole test suite: unit and integration tests (aws-sdk-s3 against a real server, both
# metadata stores), then the black-box smoke run with the aws CLI, boto3, rclone and s3cmd,
# over HTTP and HTTPS.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --features s3gate-vfs/sled
SMOKE_PROFILE=debug bash scripts/smoke.sh
