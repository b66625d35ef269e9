#!/usr/bin/env bash
# The web SDK's real-browser tests (tests/browser): Debian's chromium, driven by playwright-core, runs
# the web-bank example (examples/web-bank) against the real smartauth binary, with a fake camera.
# Needs `apt-get install -y chromium`, Node 20+, and the binary: $SMARTAUTH_BIN, default
# target/debug/smartauth (build it first: cargo build). Screenshots: target/browser/screenshots/.
# Ends with one line: "browser tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/browser-tools.sh
bin=${SMARTAUTH_BIN:-target/debug/smartauth}
if [[ ! -x $bin ]]; then
  echo "browser-test: $bin is not built: run cargo build (or set SMARTAUTH_BIN)" >&2
  echo "browser tests: 0 passed, 1 failed"
  exit 1
fi
[[ $bin == /* ]] || bin=$PWD/$bin
export SMARTAUTH_BIN=$bin
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The files run one after the other (one smartauth and one chromium at a time on a small machine);
# a test that hangs is stopped by --test-timeout, the whole run by `timeout`.
(cd tests/browser && timeout --kill-after=30 900 node --test --test-concurrency=1 --test-timeout=120000 \
  --test-reporter=spec ${BROWSER_TESTS:-bank.test.mjs sdk.test.mjs}) 2>&1 | tee "$log" || status=$?
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -1)
cancelled=$(sed -n 's/^ℹ cancelled \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(( ${failed:-0} + ${cancelled:-0} ))
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "browser tests: ${passed:-0} passed, $failed failed"
exit "$status"
