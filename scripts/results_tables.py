#!/usr/bin/env python3
"""Prints the markdown tables of docs/results.md from the JSON Lines the tools wrote.

Usage: scripts/results_tables.py [docs/results/passkey.jsonl [docs/results/perplexity.jsonl]]
One row per method: found / trials at each length, the depth and answer of every trial, and the mean seconds
per trial (prefill + a few decode steps; on this shared 2-core machine, with other work running).
"""
import collections, json, sys

path = sys.argv[1] if len(sys.argv) > 1 else "docs/results/passkey.jsonl"
rows = [json.loads(line) for line in open(path) if line.strip()]
lengths = sorted({r["length"] for r in rows})
methods = list(dict.fromkeys(r["method"] for r in rows))
by = collections.defaultdict(list)
for r in rows:
    by[(r["method"], r["length"])].append(r)

def short(n):
    """A length as people say it: 65,536 is 64k (a power-of-two multiple of 1024), 8,000 is 8k."""
    return f"{n // 1024}k" if n % 1024 == 0 else f"{n // 1000}k"


print("| method | " + " | ".join(f"{short(n)} found" for n in lengths) + " | trials (depth: answer) | s per trial |")
print("|---|" + "---:|" * len(lengths) + "---|---:|")
for m in methods:
    cells, details, seconds = [], [], []
    for n in lengths:
        trials = sorted(by[(m, n)], key=lambda r: r["trial"])
        found = sum(r["success"] for r in trials)
        cells.append(f"{found}/{len(trials)}" if trials else "-")
        for r in trials:
            mark = "found" if r["success"] else repr(r["answer"].strip()[:12])
            details.append(f"{short(n)}@{r['depth_built']:.2f}: {mark}")
            seconds.append(r["seconds"])
    mean = sum(seconds) / len(seconds) if seconds else 0
    print(f"| {m} | " + " | ".join(cells) + f" | {'; '.join(details)} | {mean:.0f} |")

# Perplexity per bucket of context, one column per method (if measured).
try:
    perplexity_path = sys.argv[2] if len(sys.argv) > 2 else "docs/results/perplexity.jsonl"
    runs = [json.loads(line) for line in open(perplexity_path) if line.strip()]
except FileNotFoundError:
    runs = []
if runs:
    print()
    print("| context (tokens) | " + " | ".join(f"{r['method']}: perplexity (cumulative)" for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for i, b in enumerate(runs[0]["buckets"]):
        cells = [f"{r['buckets'][i]['perplexity']:.2f} ({r['buckets'][i]['cumulative']:.2f})" for r in runs]
        print(f"| {b['from']}-{b['to']} | " + " | ".join(cells) + " |")
    print("| all | " + " | ".join(f"{r['perplexity']:.2f} ({r['seconds']:.0f} s)" for r in runs) + " |")
