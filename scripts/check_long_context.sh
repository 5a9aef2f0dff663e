#!/usr/bin/env bash
# Every context-extension method on the default model (Gemma 3 270M, trained context 32768) with a prompt
# past that window: the run must finish and give finite logits. Prints tokens, seconds and the top token
# per method. Text: Debian's license texts (/usr/share/common-licenses), repeated to the length asked.
# Usage: scripts/check_long_context.sh [TOKENS]   (default 34000)
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS=${1:-34000}
MODEL=models/gemma-3-270m-q4_k_m.gguf
B=.build/release/longlm-dist
swift build -c release --product longlm-dist >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/text.txt"
while [ "$(wc -c < "$work/text.txt")" -lt $((TOKENS * 5)) ]; do cat /usr/share/common-licenses/* >> "$work/text.txt"; done
$B tokenize --model $MODEL --file "$work/text.txt" | tr ' ' '\n' | awk -v n="$TOKENS" 'NR <= n' > "$work/ids.txt"
methods=(
  "none --no-window-check"
  "linear --factor 2" "ntk --factor 2" "dynamic-ntk --factor 2" "consistent-ntk --factor 2"
  "yarn --factor 2" "llama3 --factor 2"
  "selfextend --group-size 4 --window 4096" "dca" "gali" "selfextend --group-size 4 --window 4096 --logn"
)
for m in "${methods[@]}"; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  $B logits --model $MODEL --tokens-file "$work/ids.txt" --output "$work/out.npy" --method $m 2>"$work/err.txt" || { echo "$m: FAILED: $(tail -1 "$work/err.txt")"; continue; }
  python3 -c "
import numpy as np, sys
x = np.load('$work/out.npy')
print('$m'.ljust(45), 'tokens', $TOKENS, 'seconds', $(($(date +%s) - start)), 'finite', bool(np.isfinite(x).all()), 'top', int(x[-1].argmax()), 'max', float(x.max()))
"
done
