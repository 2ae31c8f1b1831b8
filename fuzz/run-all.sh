#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo-fuzz (nightly), each from
# its kept corpus into a scratch corpus (so the kept seeds stay small), and prints
# libFuzzer's final stats per target. New crashes land in fuzz/artifacts/<target>/.
#
#   fuzz/run-all.sh 600            # ten minutes per target
#   FUZZ_SCRATCH=/tmp/x fuzz/run-all.sh 30
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-60}"
SCRATCH="${FUZZ_SCRATCH:-${TMPDIR:-/tmp}/tunnel-fuzz}"
TARGETS=(poll_frames sse stdio_frames response_timeout prmd codex_app_server)
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$SCRATCH/$t"
    echo "== $t (${SECONDS_PER_TARGET}s)"
    if ! cargo +nightly fuzz run "$t" "$SCRATCH/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1 \
        2> >(grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|artifact_prefix|Test unit written)' >&2); then
        echo "!! $t found a failure (see fuzz/artifacts/$t/)"
        status=1
    fi
done
exit $status
