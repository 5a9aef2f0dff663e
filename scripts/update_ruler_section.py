#!/usr/bin/env python3
"""Rewrites the RULER section of docs/results.md from the grid's JSON Lines: keeps the section's prose (up to its
first table), updates "(N samples so far)", and replaces the tables with `scripts/ruler_table.py`'s output.

Usage: scripts/update_ruler_section.py [results.jsonl] [docs/results.md]
The section runs from its "## RULER-style synthetic tasks" heading to the next "## " heading or the end of the file.
"""
import json, re, subprocess, sys
from pathlib import Path

results = sys.argv[1] if len(sys.argv) > 1 else "docs/results/ruler.jsonl"
doc_path = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/results.md")
doc = doc_path.read_text()
start = doc.index("## RULER-style synthetic tasks")
following = doc.find("\n## ", start + 1)
end = len(doc) if following < 0 else following + 1
section = doc[start:end]
prose = section[:section.index("\n**") + 1]
samples = sum(1 for line in open(results) if line.strip() and json.loads(line).get("kind") == "ruler")
prose = re.sub(r"\(\d+ samples so far\)", f"({samples} samples so far)", prose)
script = Path(__file__).with_name("ruler_table.py")
tables = subprocess.run([sys.executable, str(script), results], check=True, capture_output=True, text=True).stdout
doc_path.write_text(doc[:start] + prose + tables.strip() + "\n" + ("\n" if following >= 0 else "") + doc[end:])
print(f"{doc_path}: RULER section rewritten from {samples} samples")
