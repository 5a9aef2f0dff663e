#!/usr/bin/env python3
"""Prints the RULER-style tables of docs/results.md from the JSON Lines `longlm-dist ruler` wrote.

Usage: scripts/ruler_table.py results.jsonl [threshold]
One table per model and method: the mean score (%) per task and length, the average per length, and the effective length
(the longest length up to which every tested length averages at least the threshold, 0.85 by default), computed
as the command computes it. Needle tasks with both haystacks are reported per haystack.
"""
import collections, json, sys

path = sys.argv[1]
threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.85
rows = [json.loads(line) for line in open(path) if line.strip() and json.loads(line).get("kind") == "ruler"]
model_name = lambda r: r["model"].rstrip("/").split("/")[-1]
groups = list(dict.fromkeys((model_name(r), r["method"]) for r in rows))   # one table per model and method
for model, method in groups:
    mine = [r for r in rows if (model_name(r), r["method"]) == (model, method)]
    lengths = sorted({r["length"] for r in mine})
    haystacks = {r["haystack"] for r in mine if r["task"].startswith("niah")}

    def name(r):
        return f"{r['task']} ({r['haystack']})" if r["task"].startswith("niah") and len(haystacks) > 1 else r["task"]

    cells = collections.defaultdict(list)
    for r in mine:
        cells[(name(r), r["length"])].append(r["score"])
    # Every task of the suite is a row, run or not yet (a grid still running shows its missing cells as "-").
    niah = ["niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery"]
    expected = [f"{t} ({h})" if len(haystacks) > 1 else t for t in niah for h in sorted(haystacks)] \
        + ["variable_tracking", "frequent_words"]
    tasks = expected + [t for t in dict.fromkeys(name(r) for r in mine) if t not in expected]
    print(f"**{model}, {method}** (score %)\n")
    print("| task | " + " | ".join(f"{n // 1024}k" if n % 1024 == 0 else str(n) for n in lengths) + " |")
    print("|---|" + "---:|" * len(lengths))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    for t in tasks:
        print(f"| {t} | " + " | ".join(f"{100 * mean(cells[(t, n)]):.0f}" if cells[(t, n)] else "-" for n in lengths) + " |")
    averages = [mean([mean(cells[(t, n)]) for t in tasks if cells[(t, n)]]) for n in lengths]
    # A length whose row is missing a task (a run still going) gets no average: it would not be comparable.
    complete = [all(cells[(t, n)] for t in tasks) for n in lengths]
    print("| average | " + " | ".join(f"{100 * a:.1f}" if whole else "(incomplete)" for a, whole in zip(averages, complete)) + " |")
    # How each length was run: samples per cell, and the attention tiles (records written before the BF16 tiles
    # existed carry no field: they ran f32 tiles).
    print("| samples per cell | " + " | ".join(str(max((len(cells[(t, n)]) for t in tasks), default=0)) for n in lengths) + " |")
    tiles = lambda n: "/".join(sorted({str(r.get("attention_tiles", "f32")) for r in mine if r["length"] == n}))
    print("| attention tiles | " + " | ".join(tiles(n) for n in lengths) + " |")
    effective = None
    for n, a, whole in zip(lengths, averages, complete):
        if not whole or a < threshold:
            break
        effective = n
    print(f"\nEffective length (average >= {100 * threshold:.0f}%, complete lengths only): "
          + (f"{effective} tokens" if effective else "none") + "\n")
