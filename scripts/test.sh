#!/usr/bin/env bash
# The test command: installs what is needed (scripts/setup.sh), builds, and runs the whole test suite.
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
swift test "${BUILD[@]}" --skip-build 2>&1 | tee .build/test-output.txt | grep -vE "^Test Case .* (started|passed)" || true
# `swift test` output is filtered above for readability; its status decides.
if grep -qE "with [1-9][0-9]* failures?|error:|Fatal error" .build/test-output.txt; then exit 1; fi
grep -qE "Executed [1-9][0-9]* tests?, with 0 failures" .build/test-output.txt
