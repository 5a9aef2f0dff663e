#!/usr/bin/env bash
# The passkey table of docs/results.md: Gemma 3 270M, 3 trials (depths 1/6, 1/2, 5/6) at each length, for
# every method with its default parameters. Resumable: trials already in the output are skipped.
# Usage: scripts/passkey_table.sh [output.jsonl] [lengths]   (about 1.5 hours on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/passkey.jsonl}
lengths=${2:-30000 48000}
mkdir -p "$(dirname "$out")"
bin=.build/release/longlm-dist
model=models/gemma-3-270m-q4_k_m.gguf
[ -x "$bin" ] || swift build -c release
for n in $lengths; do
  for method in "none --no-window-check" "selfextend" "gali" "dca" "ntk --factor 2" "yarn --factor 2"; do
    # shellcheck disable=SC2086
    "$bin" passkey --model "$model" --length "$n" --trials 3 --output "$out" --method $method
  done
done
