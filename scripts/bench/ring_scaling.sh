#!/usr/bin/env bash
# One process vs 2 ranks (zigzag and contiguous) on the same prompt: prefill time, the ring's --stats per
# layer, the fraction of time blocked on communication and the load balance (max over mean busy time per
# layer). Usage: TOKENS=16384 scripts/bench/ring_scaling.sh   (needs data/kjv.txt: scripts/fetch_text.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
TOKENS=${TOKENS:-16384}
bin=.build/release/longlm-dist
model=models/gemma-3-270m-q4_k_m.gguf
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c $((TOKENS * 6)) data/kjv.txt > "$work/text.txt"
"$bin" tokenize --model "$model" --file "$work/text.txt" > "$work/all-ids.txt"
tr -s ' \n' '\n' < "$work/all-ids.txt" | sed '/^$/d' > "$work/ids-lines.txt"
[ "$(wc -l < "$work/ids-lines.txt")" -ge "$TOKENS" ] || { echo "ring_scaling: the text gave fewer than $TOKENS tokens" >&2; exit 1; }
sed -n "1,${TOKENS}p" "$work/ids-lines.txt" | paste -sd, > "$work/ids.txt"
common=(generate --model "$model" --tokens-file "$work/ids.txt" --max-new-tokens 1 --json)
echo "== 1 process, 2 threads" >&2
"$bin" "${common[@]}" --threads 2 > "$work/single.json"
for layout in zigzag contiguous; do
  echo "== 2 ranks, 1 thread each, $layout" >&2
  mpirun -np 2 --oversubscribe --bind-to none "$bin" "${common[@]}" --layout "$layout" --stats > "$work/$layout.json" 2> "$work/$layout.stats"
done
python3 - "$work" "$TOKENS" <<'PY'
import json, re, sys, collections
work, tokens = sys.argv[1], int(sys.argv[2])
single = json.load(open(f"{work}/single.json"))["prefill_seconds"]
print(f"prompt {tokens} tokens; 1 process (2 threads): prefill {single:.1f} s ({tokens/single:.0f} tokens/s)")
line = re.compile(r"\[rank (\d+)\] layer +(\d+): compute ([\d.]+) s, blocked ([\d.]+) s .* sent (\d+) B, received (\d+) B")
for layout in ["zigzag", "contiguous"]:
    seconds = json.load(open(f"{work}/{layout}.json"))["prefill_seconds"]
    layers = collections.defaultdict(dict)
    for m in map(line.search, open(f"{work}/{layout}.stats")):
        if m:
            r, l, c, b, s, _ = m.groups()
            layers[int(l)][int(r)] = (float(c), float(b), int(s))
    compute = sum(c for l in layers.values() for c, b, s in l.values())
    blocked = sum(b for l in layers.values() for c, b, s in l.values())
    sent = sum(s for l in layers.values() for c, b, s in l.values())
    # Busy time per layer: a rank's attention compute; balance = max over ranks / mean over ranks.
    def balance(keys):
        ratios = [max(c for c, b, s in layers[k].values()) / (sum(c for c, b, s in layers[k].values()) / len(layers[k])) for k in keys]
        return sum(ratios) / len(ratios), max(ratios)
    glob = [k for k in layers if k % 6 == 5]
    slide = [k for k in layers if k % 6 != 5]
    gm, gx = balance(glob)
    print(f"2 ranks {layout}: prefill {seconds:.1f} s ({tokens/seconds:.0f} tokens/s, {single/seconds:.2f}x one process); "
          f"attention compute {compute:.1f} s, blocked {blocked:.2f} s ({100*blocked/(compute+blocked):.1f}% of attention time); "
          f"sent {sent/2**20:.1f} MiB; global-layer balance max/mean {gm:.3f} (worst {gx:.3f})")
    for k in sorted(glob):
        row = layers[k]
        print(f"   global layer {k:2d}: " + ", ".join(f"rank {r} compute {row[r][0]:.2f} s blocked {row[r][1]:.3f} s sent {row[r][2]/2**20:.1f} MiB" for r in sorted(row)))
    k = slide[0]
    print(f"   sliding layer {k:2d}: " + ", ".join(f"rank {r} compute {layers[k][r][0]:.3f} s blocked {layers[k][r][1]:.3f} s sent {layers[k][r][2]/2**10:.0f} KiB" for r in sorted(layers[k])))
PY
