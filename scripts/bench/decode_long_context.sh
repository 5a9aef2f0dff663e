#!/usr/bin/env bash
# Decode speed after a long prompt: for each context length and rank count, one prefill of the first N tokens of
# data/kjv.txt whose KV cache is saved (`generate --save-kv`), then `repeats` decode runs that load it
# (`--load-kv`: only the prompt's last token is run again) and generate `steps` tokens each. Appends one JSON
# line per decode run: context, ranks, and the decode steps' tokens/s. The run of the prompt's last token builds
# the global layers' transformed keys (kept for every later step), so it is timed apart: first_step_seconds.
# Usage: scripts/bench/decode_long_context.sh [output.jsonl] ["8192 32768 131072"] ["1 2"]
# Environment: LONGLM_BIN, MODEL (Gemma 3 270M), METHOD (SelfExtend G = 8, W = 8192), STEPS (32), REPEATS (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-docs/results/decode-long-context.jsonl}
lengths=${2:-8192 32768 131072}
rank_counts=${3:-1 2}
bin=${LONGLM_BIN:-.build/release/longlm-dist}
model=${MODEL:-models/gemma-3-270m-q4_k_m.gguf}
read -r -a method <<< "${METHOD:---method selfextend --group-size 8 --window 8192}"
steps=${STEPS:-32}
repeats=${REPEATS:-2}
[ -f data/kjv.txt ] || bash scripts/fetch_text.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 4000000 data/kjv.txt > "$work/text.txt"
"$bin" tokenize --model "$model" --file "$work/text.txt" > "$work/ids.txt"

run() {   # run RANKS ARGS...: one process, or mpirun with RANKS ranks
  local np=$1; shift
  if [ "$np" = 1 ]; then "$bin" "$@"; else mpirun --oversubscribe --bind-to none -np "$np" "$bin" "$@"; fi
}

for length in $lengths; do
  python3 -c "import sys; ids = open(sys.argv[1]).read().split(); open(sys.argv[2], 'w').write(','.join(ids[:int(sys.argv[3])]))" \
    "$work/ids.txt" "$work/prompt.txt" "$length"
  for np in $rank_counts; do
    rm -rf "$work/kv"
    run "$np" generate --model "$model" --tokens-file "$work/prompt.txt" -n 1 "${method[@]}" --save-kv "$work/kv" \
        --json --quiet > "$work/prefill.json"
    for repeat in $(seq "$repeats"); do
      run "$np" generate --model "$model" --tokens-file "$work/prompt.txt" -n "$steps" "${method[@]}" --load-kv "$work/kv" \
          --json --quiet > "$work/decode.json"
      python3 - "$work/prefill.json" "$work/decode.json" "$length" "$np" "$model" "$out" <<'EOF'
import json, subprocess, sys
prefill, decode = (json.load(open(p)) for p in sys.argv[1:3])
length, np_, model, out = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
# n generated tokens are n - 1 decode steps after the first token's logits (the last token is sampled, not run).
steps = len(decode["ids"]) - 1
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
record = {"kind": "decode", "model": model, "method": decode["method"], "context": length, "ranks": np_,
          "prefill_seconds": round(prefill["prefill_seconds"], 1),
          "reused_prompt_tokens": decode["reused_prompt_tokens"], "first_step_seconds": round(decode["prefill_seconds"], 3),
          "steps": steps, "decode_seconds": round(decode["decode_seconds"], 3),
          "decode_tokens_per_second": round(steps / decode["decode_seconds"], 2), "code": commit}
open(out, "a").write(json.dumps(record) + "\n")
print(json.dumps(record))
EOF
    done
  done
done
