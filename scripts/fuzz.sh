#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/fuzz_targets: the router, aws-chunked bodies, Range
# headers, the XML request bodies, and SigV4/SigV2 authentication), each starting from its corpus
# in fuzz/corpus (requests captured from real clients, and the inputs of past findings).
#
# The targets are built with the stable toolchain and libFuzzer's coverage, without a sanitizer
# (`-s none`: AddressSanitizer needs nightly, and the code under test is safe Rust, where what a
# fuzzer finds is a panic, a hang or runaway memory, which libFuzzer reports itself).
# cargo-fuzz is installed from crates.io when missing.
#
# Environment:
#   FUZZ_SECONDS=20   time per target
#   FUZZ_TARGETS="router chunked"   a subset
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"

SECONDS_EACH=${FUZZ_SECONDS:-20}
TARGETS=${FUZZ_TARGETS:-router chunked range xml auth}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked -q
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/s3gate-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "fuzz: building the targets"
cargo fuzz build -O -s none >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log"
    exit 1
}
failed=0
for t in $TARGETS; do
    mkdir -p "$WORK/$t"
    # New inputs go to a scratch folder: the corpus in the repository only grows by hand.
    if cargo fuzz run -O -s none "$t" "$WORK/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" >"$WORK/$t.log" 2>&1; then
        echo "fuzz: $t: $(grep -E '^Done' "$WORK/$t.log" | tail -1)"
    else
        echo "fuzz: $t: FAILED (the input is in fuzz/artifacts/$t)"
        grep -E -A12 'panicked|ERROR: ' "$WORK/$t.log" | head -n 30
        failed=1
    fi
done
exit "$failed"
