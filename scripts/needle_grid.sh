#!/usr/bin/env bash
# The needle heatmap of docs/results.md: Gemma 3 270M with YaRN (factor 2, the best method of the 30k passkey
# table), the default needle in KJV prose, lengths x depths. Resumable (cells already in the output are skipped).
# Usage: scripts/needle_grid.sh [lengths] [depths]
set -euo pipefail
cd "$(dirname "$0")/.."
lengths=${1:-8000,24000,40000}
depths=${2:-0,0.5,1}
[ -s data/kjv.txt ] || bash scripts/fetch_text.sh
.build/release/longlm-dist needle --model models/gemma-3-270m-q4_k_m.gguf --haystack-file data/kjv.txt \
  --lengths "$lengths" --depths "$depths" --method yarn --factor 2 \
  --output docs/results/needle-yarn.jsonl --csv docs/results/needle-yarn.csv --svg docs/results/needle-yarn.svg
