#!/usr/bin/env bash
# Prefill and decode speed of longlm-dist and llama.cpp (llama-cpp-python) on the same GGUF with the same
# threads, in one run: per model, length and repeat the engines alternate (longlm-dist fast, longlm-dist exact,
# llama.cpp with flash attention off, then on), so the shared machine's noise hits all alike. Every measurement
# is one JSON line in OUT; scripts/bench/engine_table.py turns them into the tables of docs/performance.md
# (median and range per cell, llama.cpp's better flash-attention setting as the peer).
# Usage: scripts/bench/engine_vs_llamacpp.sh [OUT.jsonl]
# Environment: REPEATS (3), THREADS (2), DECODE (32), GEMMA_LENGTHS (512,2048,8192,32768),
#              SMOLLM2_LENGTHS (512,2048,8192: its trained window; plain attention past it is not a speed test);
#              a length list set empty (GEMMA_LENGTHS=) skips that model;
#              PRECISIONS ("fast exact") and FLASH_ATTN ("off on") select the columns (a 32k run may drop llama.cpp's
#              flash-attention-off column once a full run has shown it is not the better setting there)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-docs/results/engine-vs-llamacpp-$(date +%Y-%m-%d).jsonl}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
DECODE=${DECODE:-32}
BIN=${LONGLM_BIN:-.build/release/longlm-dist}
[ -x "$BIN" ] || swift build -c release --product longlm-dist >/dev/null
mkdir -p "$(dirname "$OUT")"
tag() { python3 -c 'import json,sys; m,e,p,r=sys.argv[1:5]
for line in sys.stdin:
    line=line.strip()
    if not line.startswith("{"): continue
    o=json.loads(line); o.update(model=m, engine=e, precision=p, repeat=int(r)); print(json.dumps(o, sort_keys=True), flush=True)' "$@"; }
run_model() {
  local model=$1 lengths=$2 name
  name=$(basename "$model" .gguf)
  for n in ${lengths//,/ }; do
    for r in $(seq 1 "$REPEATS"); do
      for precision in ${PRECISIONS:-fast exact}; do
        "$BIN" bench --model "$model" --lengths "$n" --threads "$THREADS" --decode-tokens "$DECODE" --precision "$precision" --json \
          | tag "$name" longlm-dist "$precision" "$r" >> "$OUT"
      done
      for fa in ${FLASH_ATTN:-off on}; do
        python3 scripts/bench/llamacpp_peer.py --model "$model" --lengths "$n" --threads "$THREADS" --decode-tokens "$DECODE" \
          --flash-attn "$fa" | tag "$name" "llama.cpp-fa-$fa" int8 "$r" >> "$OUT"
      done
      echo "$name $n repeat $r done" >&2
    done
  done
}
run_model models/gemma-3-270m-q4_k_m.gguf "${GEMMA_LENGTHS-512,2048,8192,32768}"
run_model models/SmolLM2-135M-Instruct.Q4_1.gguf "${SMOLLM2_LENGTHS-512,2048,8192}"
python3 scripts/bench/engine_table.py "$OUT"
