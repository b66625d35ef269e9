#!/usr/bin/env bash
# The webhook tests (tests/webhooks): the real smartauth binary delivers to a receiver in the test; every
# delivery is verified with the official Standard Webhooks libraries, npm `standardwebhooks` and PyPI
# `standardwebhooks` (through the tenant snippets in tests/webhooks/snippets/), and X-Caf-Signature; then
# the crash test kills the server with SIGKILL under load and checks at-least-once delivery.
# Needs Node 20+, python3, and the binary: $SMARTAUTH_BIN, default target/debug/smartauth (cargo build).
# Installs (pinned; a re-run only checks): npm ci in tests/webhooks, PyPI standardwebhooks and jsonschema into
# data/.venv.
# WEBHOOK_TESTS picks the files (default: signatures.test.mjs crash.test.mjs).
# Output: target/webhooks/ (server logs, crash-figures.json). Ends with one line:
# "webhook tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=data/.venv
STANDARDWEBHOOKS_PY=1.1.0
JSONSCHEMA_PY=4.26.0

fail_setup() {
  echo "webhook-test: $1" >&2
  echo "webhook tests: 0 passed, 1 failed"
  exit 1
}

bin=${SMARTAUTH_BIN:-target/debug/smartauth}
[[ -x $bin ]] || fail_setup "$bin is not built: run cargo build (or set SMARTAUTH_BIN)"
[[ $bin == /* ]] || bin=$PWD/$bin
export SMARTAUTH_BIN=$bin

# PyPI standardwebhooks, pinned, into the project's venv.
if ! "$VENV/bin/python" -c "import standardwebhooks, sys; sys.exit(standardwebhooks.__version__ != '$STANDARDWEBHOOKS_PY')" 2>/dev/null; then
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV" || fail_setup "python3 -m venv $VENV failed"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "standardwebhooks==$STANDARDWEBHOOKS_PY" \
    || fail_setup "pip install standardwebhooks==$STANDARDWEBHOOKS_PY failed"
  echo "installed standardwebhooks $STANDARDWEBHOOKS_PY (PyPI) in $VENV"
else
  echo "ok standardwebhooks $STANDARDWEBHOOKS_PY (PyPI)"
fi
# PyPI jsonschema: every delivery the signature tests receive is checked against the CloudEvent schema the API
# reference publishes (crates/server/src/assets/openapi.json). Installed pinned when missing; a version already in
# the venv (moto's server, scripts/test-tools.sh, depends on it) is kept, so as not to change what moto runs on.
if ! "$VENV/bin/python" -c "import jsonschema" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "jsonschema==$JSONSCHEMA_PY" \
    || fail_setup "pip install jsonschema==$JSONSCHEMA_PY failed"
  echo "installed jsonschema $JSONSCHEMA_PY (PyPI) in $VENV"
else
  echo "ok jsonschema $("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('jsonschema'))") (PyPI)"
fi
export WEBHOOK_TEST_PYTHON=$ROOT/$VENV/bin/python

# npm ci only when node_modules is missing or older than the lock file.
cd "$ROOT/tests/webhooks"
if [[ ! -f node_modules/.package-lock.json || node_modules/.package-lock.json -ot package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error || fail_setup "npm ci in tests/webhooks failed"
fi
echo "ok standardwebhooks $(node -p "require('./node_modules/standardwebhooks/package.json').version") (npm)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# One file at a time (one smartauth at a time on a small machine); a test that hangs is stopped by
# --test-timeout, the whole run by `timeout`.
timeout --kill-after=30 900 node --test --test-concurrency=1 --test-timeout=600000 \
  --test-reporter=spec ${WEBHOOK_TESTS:-signatures.test.mjs crash.test.mjs} 2>&1 | tee "$log" || status=$?
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -1)
cancelled=$(sed -n 's/^ℹ cancelled \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(( ${failed:-0} + ${cancelled:-0} ))
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "webhook tests: ${passed:-0} passed, $failed failed"
exit "$status"
