#!/usr/bin/env bash
# The headline run, measured: one 128k-token document (a passkey prompt of 131,072 tokens, the key at half depth)
# through Gemma 3 270M with SelfExtend (G = 8, W = 8192) under mpirun -np 1 (one plain process), 2, 4, 8 on this machine (ranks
# beyond its cores are oversubscribed: a functional and memory check, not a speed claim). Each run appends one
# JSON line: ranks, wall seconds, prefill seconds and tokens/s, whether the key was found, each rank's peak
# resident memory (GNU time's maximum RSS of every rank's process) and the memory plan `info` predicts per rank.
# Resumable: rank counts already in the output are skipped.
# Usage: scripts/headline_128k.sh [output.jsonl] ["1 2 4 8"]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/results/headline-128k.jsonl}
rank_counts=${2:-1 2 4 8}
bin=${LONGLM_BIN:-.build/release/longlm-dist}
model=models/gemma-3-270m-q4_k_m.gguf
length=${LENGTH:-131072}   # LENGTH=4096 for a quick check of the script
method=(--method selfextend --group-size 8 --window 8192)
[ -x "$bin" ] || swift build -c release
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$(dirname "$out")"
touch "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for np in $rank_counts; do
  if grep -q "\"ranks\": *$np[,}]" "$out"; then echo "np $np: already in $out"; continue; fi
  # The plan per rank for the whole sequence (prompt + 8 answer tokens), as every run checks it.
  plan=$("$bin" info --model "$model" --tokens $((length + 8)) --ranks "$np" --kv-type f16 "${method[@]}" \
         | awk '/total per rank/ {print $(NF-1), $NF}')
  start=$(date +%s.%N)
  # shellcheck disable=SC2016
  mpirun --oversubscribe --bind-to none -np "$np" sh -c \
    'exec /usr/bin/time -f "peak_kib rank=$OMPI_COMM_WORLD_RANK %M" "$@"' sh \
    "$bin" passkey --model "$model" --length "$length" --trials 1 --depths 0.5 "${method[@]}" \
    --output "$work/passkey-$np.jsonl" --quiet 2> "$work/stderr.txt" > "$work/stdout.txt" || {
      echo "np $np failed:"; tail -5 "$work/stderr.txt"; continue; }
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  python3 - "$work/passkey-$np.jsonl" "$work/stderr.txt" "$np" "$wall" "$plan" "$out" <<'EOF'
import json, re, sys
trial_path, stderr_path, np_, wall, plan, out = sys.argv[1:]
trial = json.loads(open(trial_path).read().strip().splitlines()[-1])
peaks = {}
for line in open(stderr_path):
    m = re.search(r"peak_kib rank=(\d+) (\d+)", line)
    if m:
        peaks[int(m.group(1))] = int(m.group(2)) * 1024
value, unit = plan.split()
plan_bytes = float(value) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
record = {
    "kind": "headline", "model": trial["model"], "method": trial["method"], "ranks": int(np_),
    "tokens": trial["tokens"], "success": trial["success"], "key": trial["key"], "answer": trial["answer"],
    "wall_seconds": round(float(wall), 1), "prefill_seconds": round(trial["prefill_seconds"], 1),
    "prefill_tokens_per_second": round(trial["tokens"] / trial["prefill_seconds"], 1),
    "peak_resident_bytes_per_rank": [peaks.get(r) for r in range(int(np_))],
    "plan_bytes_per_rank": int(plan_bytes),
    "plan_over_measured": [round(plan_bytes / peaks[r], 3) if peaks.get(r) else None for r in range(int(np_))],
}
with open(out, "a") as f:
    f.write(json.dumps(record) + "\n")
print(json.dumps(record))
EOF
done
