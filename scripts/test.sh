#!/usr/bin/env bash
# The test command: installs what is needed (scripts/setup.sh), builds, and runs the whole test suite:
# the XCTest suite on one process, the MPI communicator tests under mpirun (3 ranks, shared memory and
# TCP, and the watchdog test that ends its job), the Slurm job scripts under a real one-node Slurm
# (scripts/test_slurm.sh), the server tests (scripts/test_server.py), then each fuzz
# target for a short budget (FUZZ_SECONDS, 20).
# Fails on any failure and on any skipped test not listed in scripts/test-skips-allowed.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
# Tests run optimised (release with -enable-testing): the numeric kernels need whole-module optimisation,
# and the Gemma 3 reference tests take minutes in a debug build.
BUILD=(-c release -Xswiftc -enable-testing)
if ! swift build "${BUILD[@]}" --build-tests > .build-log.txt 2>&1; then
  grep -E "error:" -A 3 .build-log.txt | head -n 60
  echo "test.sh: the build failed (full log: .build-log.txt)" >&2
  exit 1
fi
tail -n 1 .build-log.txt
OUT=.build/test-output.txt
# The MPI communicator class needs mpirun around it: it runs below, not here.
swift test "${BUILD[@]}" --skip-build --skip MPICommunicatorTests 2>&1 | tee "$OUT" | grep -vE "^Test Case .* (started|passed)" || true
# `swift test` output is filtered above for readability; its status decides.
if grep -qE "with [1-9][0-9]* failures?|error:|Fatal error" "$OUT"; then exit 1; fi
grep -qE "Executed [1-9][0-9]* tests?, with .*0 failures" "$OUT" || { echo "test.sh: the XCTest run did not finish" >&2; exit 1; }

unexpected=$(grep -oE "^Test Case '[^']+' skipped" "$OUT" | sed -E "s/^Test Case '(-\[)?([^ ]+)[ .]([^]']+)\]?' skipped/\2.\3/" \
  | grep -vxF -f <(grep -vE '^(#|$)' scripts/test-skips-allowed.txt) || true)
if [ -n "$unexpected" ]; then
  echo "test.sh: tests skipped that are not on scripts/test-skips-allowed.txt:" >&2
  echo "$unexpected" >&2
  exit 1
fi

bash scripts/test_mpi.sh | tee .build/test-mpi-summary.txt
mpi_passed=$(grep -oE "[0-9]+ passed" .build/test-mpi-summary.txt | awk '{s += $1} END {print s + 0}')

# The cluster job scripts under a real one-node Slurm (cluster/local-slurm.sh; installs slurm-wlm and munge).
timeout 900 bash scripts/test_slurm.sh | tee .build/test-slurm-summary.txt
slurm_passed=$(grep -oE "^slurm: [0-9]+ passed" .build/test-slurm-summary.txt | grep -oE "[0-9]+" || echo 0)
[ "$slurm_passed" -gt 0 ] || { echo "test.sh: the Slurm tests did not finish" >&2; exit 1; }

# The server over real HTTP with curl and the openai client, alone and under mpirun (docs/server.md).
python3 scripts/test_server.py | tee .build/test-server-summary.txt
server_passed=$(grep -oE "^server: [0-9]+ passed" .build/test-server-summary.txt | grep -oE "[0-9]+" || echo 0)
[ "$server_passed" -gt 0 ] || { echo "test.sh: the server tests did not finish" >&2; exit 1; }

# Each fuzz target for a short fixed budget (a long run is recorded in docs/reliability.md).
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
bash scripts/fuzz.sh all "$FUZZ_SECONDS" | tee .build/test-fuzz-summary.txt
fuzz_passed=$(grep -cE "^fuzz-[a-z]+: ${FUZZ_SECONDS}s" .build/test-fuzz-summary.txt || true)

summary=$(grep -E "Executed [0-9]+ tests?, with" "$OUT" | tail -n 1)
executed=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
skipped=$(echo "$summary" | grep -oE "[0-9]+ tests? skipped" | grep -oE "^[0-9]+" || echo 0)
echo "total: $((executed - skipped + mpi_passed + slurm_passed + server_passed + fuzz_passed)) passed, 0 failed, $skipped skipped"
