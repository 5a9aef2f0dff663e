#!/usr/bin/env bash
# Writes data/kjv.txt, the default long text of `longlm-dist perplexity` and of the needle haystack in
# docs/results.md: the King James Bible (public domain), from Debian's bible-kjv-text package, printed by
# its own `bible` program (Genesis 1:1 to Revelation 22:21) with the verse numbers removed. About 1 M tokens
# for Gemma 3. Nothing is downloaded except the Debian package (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bible >/dev/null; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bible-kjv >/dev/null
fi
mkdir -p data
bible -l200 gen1:1-rev22:21 | sed 's/^ *[0-9]* //' > data/kjv.txt.partial
[ "$(wc -w < data/kjv.txt.partial)" -gt 700000 ] || { echo "fetch_text: data/kjv.txt came out too short" >&2; exit 1; }
mv data/kjv.txt.partial data/kjv.txt
