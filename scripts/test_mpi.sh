#!/usr/bin/env bash
# The MPI communicator tests (Tests/LongLMDistributedTests/MPICommunicatorTests.swift) under real mpirun:
# 3 ranks over shared memory, then over TCP on loopback; then the watchdog test on its own (a stopped rank
# makes the others time out and end the job with code 7). Expects the test build of scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TESTS=.build/release/longlm-distPackageTests.xctest
CLASS=LongLMDistributedTests.MPICommunicatorTests
MPIRUN=(mpirun --oversubscribe --bind-to none -np 3)
status=0

for transport in vader tcp; do
  if [ $transport = tcp ]; then btl=(--mca pml ob1 --mca btl self,tcp --mca btl_tcp_if_include lo); else btl=(--mca btl self,vader); fi
  log=.build/test-mpi-$transport.txt
  timeout 300 "${MPIRUN[@]}" "${btl[@]}" "$TESTS" "$CLASS" > "$log" 2>&1
  rc=$?
  # 13 tests on each of 3 ranks; one (the watchdog test) skips itself here and runs below.
  finished=$(grep -cE "Executed 13 tests, with 1 test skipped and 0 failures" "$log")
  if [ $rc -ne 0 ] || [ "$finished" -lt 3 ] || grep -qE "error:|failed \(" "$log"; then
    echo "test_mpi: MPI communicator tests over $transport failed (exit $rc; log $log):" >&2
    grep -E "error|failed|Fatal" "$log" | head -20 >&2
    status=1
  else
    echo "MPI communicator tests over $transport: 3 ranks x 12 passed, 0 failed"
  fi
done

log=.build/test-mpi-watchdog.txt
start=$(date +%s)
LONGLM_MPI_ABORT_TEST=1 timeout 120 "${MPIRUN[@]}" --mca btl self,vader -x LONGLM_MPI_ABORT_TEST "$TESTS" \
  "$CLASS/testStoppedPeerTimesOutAndAbortEndsTheJob" > "$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
if [ $rc -eq 7 ] && grep -q "barrier timed out after 2.0 s" "$log" && [ $elapsed -lt 60 ]; then
  echo "MPI watchdog test: a stopped rank ended the job with code 7 after ${elapsed} s: 1 passed, 0 failed"
else
  echo "test_mpi: the watchdog test expected exit 7 and a barrier timeout within 60 s; got exit $rc after ${elapsed} s (log $log)" >&2
  tail -5 "$log" >&2
  status=1
fi
exit $status
