#!/usr/bin/env bash
# Runs a libFuzzer target for a fixed time: scripts/fuzz.sh TARGET SECONDS, or scripts/fuzz.sh all SECONDS.
# Targets: gguf safetensors config tokenizer pretokenizer batchjob (sources in Fuzz/Sources/fuzz-TARGET).
# Builds Fuzz/ (a separate package; scratch path .build-fuzz) with -sanitize=fuzzer,address when needed. Seeds
# come from Fuzz/corpus/TARGET (read only); inputs the fuzzer finds go to .build-fuzz/corpus/TARGET. Exits
# non-zero on a crash, leak, timeout or memory blow-up, leaving the input in Fuzz/crashes/TARGET/ (git-ignored)
# and naming it; replay it with `.build-fuzz/release/fuzz-TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGETS=(gguf safetensors config tokenizer pretokenizer batchjob)

if [[ $# -ne 2 ]]; then
    echo "usage: $0 TARGET|all SECONDS   (targets: ${TARGETS[*]})" >&2
    exit 2
fi
target=$1 seconds=$2
[[ $seconds =~ ^[0-9]+$ ]] || { echo "error: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }
if [[ $target != all ]] && [[ ! " ${TARGETS[*]} " =~ " $target " ]]; then
    echo "error: unknown target '$target' (targets: ${TARGETS[*]} or all)" >&2
    exit 2
fi
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

# SwiftPM rebuilds only what changed, so this is quick when nothing did.
# --sanitize instruments only the Fuzz package's own targets; -Xswiftc carries the coverage instrumentation
# (and ASan) into the parsers of the root package too, without which libFuzzer mutates blind.
(cd Fuzz && nice swift build -c release --scratch-path "$ROOT/.build-fuzz" \
    --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing -Xswiftc -sanitize=fuzzer,address 2>&1 \
    | grep -vE '^\[|asan_extra_spill_area' || true)
for t in "${TARGETS[@]}"; do
    [[ -x .build-fuzz/release/fuzz-$t ]] || { echo "error: the fuzz build did not produce fuzz-$t" >&2; exit 1; }
done

run() {
    local t=$1
    local crashes=$ROOT/Fuzz/crashes/$t corpus=$ROOT/.build-fuzz/corpus/$t log=$ROOT/.build-fuzz/fuzz-$t.log
    mkdir -p "$crashes" "$corpus"
    echo "fuzz-$t: ${seconds}s (log $log)"
    local status=0
    # One allocation over 512 MB or a resident size over 2 GB counts as a crash: every input is a few KB.
    # LSan is off: Foundation's caches look like leaks to it.
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 \
    nice .build-fuzz/release/fuzz-"$t" "$corpus" "$ROOT/Fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=16384 \
        -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" | sed "s/^/  /" || true
    # A run that found nothing new is blind (the parsers were not instrumented): that checks nothing.
    if grep -q "Is the code instrumented for coverage" "$log"; then
        echo "fuzz-$t FAILED: libFuzzer saw no coverage (the parsers were built without instrumentation)" >&2
        return 1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | sed -E 's/.*(cov: [0-9]+).*/  \1 edges covered/' || true
    if [[ $status -ne 0 ]] && grep -q 'run interrupted' "$log"; then
        echo "fuzz-$t INTERRUPTED by a signal (exit $status) before ${seconds}s; no crash" >&2
        return 1
    elif [[ $status -ne 0 ]]; then
        echo "fuzz-$t FAILED (exit $status); input(s) in $crashes:" >&2
        grep -E 'ERROR:|Test unit written to|SUMMARY' "$log" | head -5 >&2 || true
        return 1
    fi
}

failed=0
if [[ $target == all ]]; then
    for t in "${TARGETS[@]}"; do run "$t" || failed=1; done
else
    run "$target" || failed=1
fi
exit $failed
