#!/usr/bin/env bash
# Prefill and decode speed of longlm-dist and llama.cpp on the default model, measured in the same run,
# alternating engines per length so the shared machine's noise hits both alike. Needs llama-cpp-python.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-models/gemma-3-270m-q4_k_m.gguf}
LENGTHS=${LENGTHS:-512,2048,8192}
THREADS=${THREADS:-2}
swift build -c release --product longlm-dist >/dev/null
for n in ${LENGTHS//,/ }; do
  .build/release/longlm-dist bench --model "$MODEL" --lengths "$n" --threads "$THREADS" --json | sed 's/^/longlm-dist /'
  python3 scripts/bench/llamacpp_peer.py --model "$MODEL" --lengths "$n" --threads "$THREADS" | sed 's/^/llama.cpp   /'
done
