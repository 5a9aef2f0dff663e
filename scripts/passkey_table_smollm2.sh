#!/usr/bin/env bash
# The SmolLM2 passkey table of docs/results.md: SmolLM2-135M-Instruct Q4_1 (Llama architecture, trained context
# 8192), 3 trials (depths 1/6, 1/2, 5/6) per length, every method with parameters fixed before the runs:
#   selfextend: W = 2048 (a quarter of 8192) and the smallest power-of-two G that fits: 4 up to 16k, 8 at 32k, 16 at 64k
#   yarn, ntk:  the smallest power-of-two factor (at least 2) whose factor * 8192 holds the prompt and the 8-token
#               answer: 2 at 8k, 4 at 16k, 8 at 32k, 16 at 64k
#   dca, gali:  their defaults for the model (DCA S = 6144, w = 1024; GALI local window 128, chunk 3000)
#   none:       plain RoPE, past the window with --no-window-check
# The prompt is plain text ending in "The pass key is" (a completion, not a chat turn: asked as a chat turn this
# 135M model answers in prose even at 2k tokens). Resumable: trials already in the output are skipped.
# Usage: scripts/passkey_table_smollm2.sh [output.jsonl] [lengths]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/passkey-smollm2.jsonl}
lengths=${2:-8000 16384 32768 65536}
bin=${LONGLM_BIN:-.build/release/longlm-dist}
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$(dirname "$out")"
[ -x "$bin" ] || swift build -c release
for n in $lengths; do
  factor=2
  while [ $((8192 * factor)) -lt $((n + 8)) ]; do factor=$((factor * 2)); done
  group=4
  if [ "$n" -gt 16384 ]; then group=8; fi
  if [ "$n" -gt 32768 ]; then group=16; fi
  for method in "none --no-window-check" "selfextend --group-size $group --window 2048" "dca" "yarn --factor $factor" \
                "ntk --factor $factor" "gali"; do
    # shellcheck disable=SC2086
    "$bin" passkey --model "$model" --length "$n" --trials 3 --output "$out" --quiet --method $method
  done
done
