#!/usr/bin/env bash
# The perplexity table of docs/results.md: Gemma 3 270M on the first 40,000 tokens of the KJV text (one
# window), per 1k-token bucket of context, for plain attention (past its 32k window) and YaRN (factor 2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/perplexity.jsonl}
[ -s data/kjv.txt ] || bash scripts/fetch_text.sh
for method in "none --no-window-check" "yarn --factor 2"; do
  # shellcheck disable=SC2086
  .build/release/longlm-dist perplexity --model models/gemma-3-270m-q4_k_m.gguf --text-file data/kjv.txt \
    --max-tokens 40000 --limit 40000 --bucket 4000 --output "$out" --method $method
done
