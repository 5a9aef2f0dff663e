#!/usr/bin/env bash
# The SmolLM2 perplexity table of docs/results.md: SmolLM2-135M-Instruct Q4_1 (trained context 8192) on the first
# 32,768 tokens of the KJV text (one window), per 1k-token bucket of context, for plain attention (past its
# window) and the two methods that led the passkey table at 8k-16k, fitted to 32,768 tokens:
# SelfExtend G = 8, W = 2048 (as the passkey table at 32k), and YaRN factor 4 (the smallest power of two whose
# factor * 8192 holds the 32,768 tokens; the passkey table needs 8 there for its answer tokens).
# Resumable like every tool (rows already in the output are kept).
# Usage: scripts/perplexity_table_smollm2.sh [output.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/perplexity-smollm2.jsonl}
bin=${LONGLM_BIN:-.build/release/longlm-dist}
[ -s data/kjv.txt ] || bash scripts/fetch_text.sh
[ -x "$bin" ] || swift build -c release
for method in "none --no-window-check" "selfextend --group-size 8 --window 2048" "yarn --factor 4"; do
  # shellcheck disable=SC2086
  "$bin" perplexity --model models/SmolLM2-135M-Instruct.Q4_1.gguf --text-file data/kjv.txt \
    --max-tokens 32768 --limit 32768 --bucket 1024 --output "$out" --method $method
done
