#!/usr/bin/env bash
# The RULER-style tables of docs/results.md: every task of `longlm-dist ruler` (needle tasks in both haystacks,
# 7-digit values), seed 0, the CLI defaults (--precision fast, f16 KV cache), parameters fixed before the runs:
#
#   Gemma 3 270M Q4_K_M (trained context 32,768):
#     none        4k, 8k, 16k, 32k (inside the trained window)
#     selfextend  W = 8192 (a quarter of 32,768), the smallest power-of-two G whose window holds the prompt and the
#                 answer: G = 4 at 64k, G = 8 at 128k
#   SmolLM2-135M-Instruct Q4_1 (trained context 8,192):
#     none        4k, 8k (inside the trained window)
#     selfextend  W = 2048, G = 4 at 16k, 8 at 32k, 16 at 64k (as the passkey table)
#     yarn        the smallest power-of-two factor whose window holds the sequence: 2 at 16k, 4 at 32k, 8 at 64k
#     dca         the model's defaults (S = 6144, w = 1024), at 16k only
#     (at 32k and 64k only SelfExtend and YaRN, the two methods that led the SmolLM2 passkey table at 32k: an 8k
#     prompt takes 45 s here and a 64k one about 20 minutes, so every method at every length is out of reach)
#
# A length is the whole sequence, prompt and answer (docs/ruler.md).
# Samples per cell: 2 up to 16k, 1 from 32k (a 128k prompt takes about 20 minutes here).
# The grid runs in the order below, short lengths first, so a partial run still gives whole rows. Resumable: the
# samples already in the output are skipped, so stopping and rerunning the script continues where it stopped.
# Usage: scripts/ruler_runs.sh [output.jsonl] [step...]   (steps: the names below; default all, in order)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/ruler.jsonl}
shift || true
bin=${LONGLM_BIN:-.build/release/longlm-dist}
gemma=models/gemma-3-270m-q4_k_m.gguf
smollm=models/SmolLM2-135M-Instruct.Q4_1.gguf
tasks=niah_single,niah_multikey,niah_multivalue,niah_multiquery,variable_tracking,frequent_words
[ -x "$bin" ] || swift build -c release
[ -f data/kjv.txt ] || bash scripts/fetch_text.sh
mkdir -p "$(dirname "$out")"

ruler() {  # model samples lengths method-arguments...  (one length at a time, so a stopped grid has whole rows)
  local model=$1 samples=$2 lengths=$3 n
  shift 3
  for n in ${lengths//,/ }; do
    "$bin" ruler --model "$model" --tasks "$tasks" --haystacks noise,text --lengths "$n" \
      --samples "$samples" --seed 0 --output "$out" --quiet "$@"
  done
}

smollm_factor() {  # the smallest power-of-two factor (at least 2) with factor * 8192 >= n
  local n=$1 factor=2
  while [ $((8192 * factor)) -lt "$n" ]; do factor=$((factor * 2)); done
  echo "$factor"
}

run_step() {
  case $1 in
    gemma-short)   ruler "$gemma" 2 4096,8192,16384 --method none ;;
    smollm-short)  ruler "$smollm" 2 4096,8192 --method none ;;
    smollm-16k)    ruler "$smollm" 2 16384 --method selfextend --group-size 4 --window 2048
                   ruler "$smollm" 2 16384 --method yarn --factor "$(smollm_factor 16384)"
                   ruler "$smollm" 2 16384 --method dca ;;
    gemma-32k)     ruler "$gemma" 1 32768 --method none ;;
    smollm-32k)    ruler "$smollm" 1 32768 --method selfextend --group-size 8 --window 2048
                   ruler "$smollm" 1 32768 --method yarn --factor "$(smollm_factor 32768)" ;;
    gemma-64k)     ruler "$gemma" 1 65536 --method selfextend --group-size 4 --window 8192 ;;
    smollm-64k)    ruler "$smollm" 1 65536 --method selfextend --group-size 16 --window 2048
                   ruler "$smollm" 1 65536 --method yarn --factor "$(smollm_factor 65536)" ;;
    gemma-128k)    ruler "$gemma" 1 131072 --method selfextend --group-size 8 --window 8192 ;;
    *) echo "unknown step '$1'" >&2; exit 2 ;;
  esac
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(gemma-short smollm-short smollm-16k gemma-32k smollm-32k gemma-64k smollm-64k gemma-128k)
for step in "${steps[@]}"; do
  echo "== $step ($(date +%H:%M))"
  run_step "$step"
done
