#!/usr/bin/env python3
"""Tables from scripts/bench/engine_vs_llamacpp.sh's JSON lines: per model and length, the median (and range
over repeats) of prefill and decode tokens/s for longlm-dist (fast and exact) and llama.cpp (flash attention off
and on); the peer is llama.cpp's better setting by median, and the ratios are longlm-dist fast over the peer."""
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
cells = collections.defaultdict(list)
for r in rows:
    engine = r["engine"] if r["engine"] != "longlm-dist" else f"longlm-dist-{r['precision']}"
    cells[(r["model"], r["length"], engine)].append((r["prefill_tokens_per_second"], r["decode_tokens_per_second"]))

def cell(values, i):
    xs = [v[i] for v in values]
    return statistics.median(xs), min(xs), max(xs)

def fmt(m):
    return f"{m[0]:.1f} ({m[1]:.0f}-{m[2]:.0f})"

for model in sorted({k[0] for k in cells}):
    print(f"\n{model}\n")
    print("| prompt | what | longlm-dist fast | longlm-dist exact | llama.cpp FA off | llama.cpp FA on | fast / best llama.cpp |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for length in sorted({k[1] for k in cells if k[0] == model}):
        for i, what in [(0, "prefill tok/s"), (1, "decode tok/s")]:
            get = lambda e: cell(cells[(model, length, e)], i) if cells.get((model, length, e)) else None
            fast, exact, off, on = (get(e) for e in ["longlm-dist-fast", "longlm-dist-exact", "llama.cpp-fa-off", "llama.cpp-fa-on"])
            peers = [p for p in (off, on) if p]
            peer = max(peers, key=lambda p: p[0]) if peers else None
            ratio = f"{fast[0] / peer[0]:.2f}x" if fast and peer else "-"
            print(f"| {length} | {what} | " + " | ".join(fmt(x) if x else "-" for x in (fast, exact, off, on)) + f" | {ratio} |")
