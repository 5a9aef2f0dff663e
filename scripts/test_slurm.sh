#!/usr/bin/env bash
# cluster/*.slurm under a real Slurm on this machine (cluster/local-slurm.sh: one node, munge, slurmctld,
# slurmd), 2 tasks on the tiny checkpoint Tests/Fixtures/hf-tiny-tools:
#   a. generate.slurm: the job completes; its log has the same generated tokens as one process and each of the
#      2 ranks' --stats lines;
#   b. batch.slurm: every id gets a result from 2 ranks; the same command resubmitted with more jobs appended
#      runs only the new ones (finished lines kept as they were, one line per id);
#   c. a rank that fails ends the job: rank 1 exits 3 before starting (rank 0 would wait for it forever), then
#      rank 1 fails after MPI started (its model path does not resolve) while rank 0 waits on it; both jobs
#      must end FAILED with a non-zero code long before their 2-minute time limit.
# Ends with "slurm: N passed, M failed" and brings Slurm down again. Needs root (installs slurm-wlm and munge
# the first time) and the release binary: LONGLM_BIN (default .build/release/longlm-dist).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export LONGLM_BIN=${LONGLM_BIN:-$repo/.build/release/longlm-dist}
case "$LONGLM_BIN" in /*) ;; *) LONGLM_BIN=$repo/$LONGLM_BIN ;; esac
export MODEL=$repo/Tests/Fixtures/hf-tiny-tools
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Method options the CLI tests use on this checkpoint (trained context 256; the documents here are longer).
METHOD=(--method selfextend --group-size 4 --window 64)
# Two tasks on the one node, one core each, whatever the scripts' #SBATCH lines ask for a real cluster.
SBATCH=(sbatch --parsable --wait --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=2)
JOB_TIMEOUT=150     # seconds the test waits for one job (its --time limit is 2 minutes)

if [ ! -x "$LONGLM_BIN" ]; then
  echo "test_slurm: no binary at $LONGLM_BIN (swift build -c release, or set LONGLM_BIN)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/longlm-test-slurm.XXXXXX)
passed=0 failed=0
started=$(date +%s)

finish() {
  bash cluster/local-slurm.sh down >/dev/null 2>&1 || true
}
trap finish EXIT

pass() { echo "  ok: $*"; passed=$((passed + 1)); }
fail() { echo "  FAILED: $*" >&2; failed=$((failed + 1)); }

# Runs sbatch --wait with the given options and script; sets job (its id), rc (sbatch's exit status: the
# job's exit code), state and code (JobState and ExitCode from scontrol), seconds (the job's RunTime; sbatch
# --wait itself polls the job every few seconds, so it returns up to ~10 s later) and waited (sbatch's wait).
submit() {
  local out t0 info runtime
  t0=$(date +%s)
  out=$(timeout "$JOB_TIMEOUT" "${SBATCH[@]}" "$@" 2>"$work/sbatch.err")
  rc=$?
  waited=$(( $(date +%s) - t0 ))
  job=$(echo "$out" | head -n 1 | cut -d';' -f1)
  if [ $rc = 124 ] && [ -n "$job" ]; then
    echo "  job $job still running after $JOB_TIMEOUT s: cancelling it" >&2
    scancel "$job" 2>/dev/null || true
  fi
  info=$(scontrol show job "$job" 2>/dev/null)
  state=$(echo "$info" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  code=$(echo "$info" | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2)
  runtime=$(echo "$info" | grep -o 'RunTime=[0-9:-]*' | cut -d= -f2)      # [D-]HH:MM:SS
  seconds=$(echo "${runtime:-99:99:99}" | awk -F'[-:]' '{ s = 0; for (i = 1; i <= NF; i++) s = s * (i == NF - 2 && NF == 4 ? 24 : 60) + $i; print s }')
  echo "  job ${job:-?}: sbatch exit $rc after $waited s; $state, ExitCode=$code, ran $seconds s"
  [ -s "$work/sbatch.err" ] && sed 's/^/  sbatch: /' "$work/sbatch.err" >&2
  return 0
}

# The "id" values of a JSON Lines file, one a line, in file order.
ids_of() { grep -o '"id":"[^"]*"' "$1" | cut -d'"' -f4; }

echo "== Slurm up"
if ! timeout 900 bash cluster/local-slurm.sh up; then
  echo "test_slurm: could not bring up Slurm (see above)" >&2
  echo "slurm: 0 passed, 1 failed"
  exit 1
fi
slurm_up=$(date +%s)

# ---- a. generate.slurm ----
echo "== a. generate.slurm, 2 ranks"
# A document of ~560 tokens, split between the 2 ranks.
words=""
for i in $(seq 0 149); do words="$words word$(( (i * 37 + 11) % 50 ))"; done
echo "$words" > "$work/doc.txt"
expected=$("$LONGLM_BIN" generate --model "$MODEL" --prompt-file "$work/doc.txt" --max-new-tokens 12 --json --quiet \
  --threads 1 "${METHOD[@]}" | grep -o '"ids":\[[^]]*\]')
submit --output="$work/generate-%j.log" cluster/generate.slurm "$work/doc.txt" --max-new-tokens 12 --json "${METHOD[@]}"
log=$work/generate-$job.log
if [ "$rc" = 0 ] && [ "$state" = COMPLETED ] && [ "$code" = 0:0 ]; then pass "the generate job completed (exit 0)"
else fail "generate job: sbatch exit $rc, state $state, ExitCode $code (log $log)"; tail -20 "$log" >&2; fi
got=$(grep -o '"ids":\[[^]]*\]' "$log" 2>/dev/null | head -n 1)
if [ -n "$expected" ] && [ "$got" = "$expected" ]; then pass "the log has the single-process tokens: $got"
else fail "generated tokens: log has '${got}', one process gives '${expected}'"; fi
if grep -q '^\[rank 0\] layer  0: compute' "$log" && grep -q '^\[rank 1\] layer  0: compute' "$log" \
   && grep -q '^\[rank 1\] layer  1: compute' "$log" && grep -q '"ranks":2,' "$log"; then
  pass "--stats lines of ranks 0 and 1, and the result says 2 ranks"
else fail "per-rank --stats lines missing from $log"; grep '^\[rank' "$log" >&2; fi

# ---- b. batch.slurm, then resubmitted with more jobs ----
echo "== b. batch.slurm, 2 ranks, then resubmitted with 2 more jobs"
jobs=$work/jobs.jsonl results=$work/results.jsonl
write_job() { echo "{\"id\": \"doc$1\", \"document\": \"$(for w in $(seq 1 $((30 + $1 * 25))); do printf 'word%d ' $(( (w * 7 + $1) % 50 )); done)\", \"max_new_tokens\": 4}"; }
for i in 0 1 2 3; do write_job $i; done > "$jobs"
batch_args=(cluster/batch.slurm "$jobs" "$results" --quiet "${METHOD[@]}")
submit --output="$work/batch-%j.log" "${batch_args[@]}"
if [ "$rc" = 0 ] && [ "$state" = COMPLETED ]; then pass "the batch job completed"
else fail "batch job: sbatch exit $rc, state $state (log $work/batch-$job.log)"; tail -20 "$work/batch-$job.log" >&2; fi
if [ "$(ids_of "$results" | tr '\n' ' ')" = "doc0 doc1 doc2 doc3 " ] && [ "$(grep -c '"text":' "$results")" = 4 ] \
   && [ "$(grep -c '"ranks":2' "$results")" = 4 ]; then
  pass "each of the 4 ids has one result, computed by 2 ranks"
else fail "results after the first batch job:"; cat "$results" >&2; fi
cp "$results" "$work/results-first.jsonl"
for i in 4 5; do write_job $i; done >> "$jobs"
submit --output="$work/batch-%j.log" "${batch_args[@]}"
second_log=$work/batch-$job.log
if [ "$rc" = 0 ] && [ "$state" = COMPLETED ]; then pass "the resubmitted batch job completed"
else fail "resubmitted batch job: sbatch exit $rc, state $state (log $second_log)"; tail -20 "$second_log" >&2; fi
if [ "$(ids_of "$results" | tr '\n' ' ')" = "doc0 doc1 doc2 doc3 doc4 doc5 " ] \
   && [ "$(head -n 4 "$results")" = "$(cat "$work/results-first.jsonl")" ] \
   && grep -q "2 done, 0 failed, 4 already in" "$second_log"; then
  pass "it resumed: 4 finished ids skipped and kept as they were, the 2 new ones done (one line per id)"
else fail "after the resubmission (log $second_log):"; cat "$results" >&2; grep "batch:" "$second_log" >&2; fi

# ---- c. a failing rank ends the job ----
echo "== c. one rank fails"
cat > "$work/rank1-exits.sh" <<EOF
#!/bin/sh
# Rank 1 exits 3 at once; rank 0 runs and would wait for rank 1 forever.
if [ "\${OMPI_COMM_WORLD_RANK:-\${SLURM_PROCID:-0}}" = 1 ]; then echo "rank 1: exiting 3 on purpose" >&2; exit 3; fi
exec "$LONGLM_BIN" "\$@"
EOF
cat > "$work/rank1-lost.sh" <<EOF
#!/bin/sh
# Rank 1 runs in another directory, where the job's relative model path does not exist: it fails after MPI has
# started (the command lines agree), while rank 0 has loaded the model and waits for it.
if [ "\${OMPI_COMM_WORLD_RANK:-\${SLURM_PROCID:-0}}" = 1 ]; then cd /; fi
exec "$LONGLM_BIN" "\$@"
EOF
chmod +x "$work/rank1-exits.sh" "$work/rank1-lost.sh"
LONGLM_BIN=$work/rank1-exits.sh submit --output="$work/fail-exit-%j.log" cluster/generate.slurm "$work/doc.txt" --max-new-tokens 12 "${METHOD[@]}"
log=$work/fail-exit-$job.log
if [ "$rc" = 3 ] && [ "$state" = FAILED ] && [ "$code" = 3:0 ] && [ "$seconds" -lt 60 ] && grep -q "exiting 3 on purpose" "$log"; then
  pass "rank 1 exiting 3 ended the job: FAILED, exit code 3, after $seconds s"
else fail "rank 1 exiting 3: sbatch exit $rc, state $state, ExitCode $code after $seconds s (log $log)"; tail -20 "$log" >&2; fi
MODEL=Tests/Fixtures/hf-tiny-tools LONGLM_BIN=$work/rank1-lost.sh \
  submit --output="$work/fail-lost-%j.log" cluster/generate.slurm "$work/doc.txt" --max-new-tokens 12 "${METHOD[@]}"
log=$work/fail-lost-$job.log
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$state" = FAILED ] && [ "$code" != 0:0 ] && [ "$seconds" -lt 60 ] \
   && grep -q "rank 1: model path Tests/Fixtures/hf-tiny-tools does not exist" "$log"; then
  pass "rank 1 failing after MPI started ended the job: FAILED, ExitCode $code, after $seconds s"
else fail "rank 1 failing after start: sbatch exit $rc, state $state, ExitCode $code after $seconds s (log $log)"; tail -20 "$log" >&2; fi

if [ $failed = 0 ]; then rm -rf "$work"; else echo "test_slurm: logs kept in $work" >&2; fi
echo "test_slurm: Slurm up in $((slurm_up - started)) s, jobs in $(( $(date +%s) - slurm_up )) s"
echo "slurm: $passed passed, $failed failed"
[ $failed = 0 ]
