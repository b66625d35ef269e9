#!/usr/bin/env bash
# What an idle server spends with many webhook subscriptions: the CPU of `serve` over 20 s with one
# subscription, then with N (default 20,000) more, copied in with the sqlite3 shell (one tenant's row under
# N / 20 tenants' ids: 20 a tenant, the most the API allows). Nothing is delivered: the cost is the
# dispatcher's looks and the queue gauges.
#
#   bash scripts/bench-idle-dispatcher.sh [N]     (needs target/release/smartauth and the sqlite3 shell)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
BIN=${SMARTAUTH_BIN:-target/release/smartauth}
[[ -x $BIN ]] || { echo "build it first: cargo build --release" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell (apt install sqlite3)" >&2; exit 1; }
WORK=$(mktemp -d)
PORT=${IDLE_PORT:-18330}
SERVER=
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() {
  SMARTAUTH_DATA_DIR=$WORK/data SMARTAUTH_INTEL_DIR=$PWD/data/intel SMARTAUTH_LISTEN=127.0.0.1:$PORT \
    SMARTAUTH_ADMIN_TOKEN=idle-bench-admin SMARTAUTH_ALLOW_PRIVATE_TARGETS=true RUST_LOG=warn \
    "$BIN" serve > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.2; done
  echo "the server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1
}
ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
measure() { # label
  sleep 3
  local a b; a=$(ticks); sleep 20; b=$(ticks)
  echo "$1: $((b - a)) ticks of CPU in 20 s ($(getconf CLK_TCK) a second), $(awk -v t=$((b - a)) -v h="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 100 * t / h / 20 }')% of a core"
}

start
CLIENT=$(curl -sf -X POST "http://127.0.0.1:$PORT/admin/clients" -H 'Authorization: Bearer idle-bench-admin' \
  -H 'Content-Type: application/json' -d '{"name": "idle bench"}')
field() { python3 -c "import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$CLIENT" "$1"; }
TOKEN=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); from mint_token import mint; print(mint(sys.argv[1], sys.argv[2], None, 600))" \
  "$(field clientId)" "$(field clientSecret)")
HOOK=$(curl -sf -X POST "http://127.0.0.1:$PORT/webhooks" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"url": "http://127.0.0.1:9/hook", "events": ["policy.changed"]}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "idle server: $BIN (the checkout is at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)), $(nproc) cores"
measure "1 subscription"
sqlite3 "$WORK/data/smartauth.db" "PRAGMA busy_timeout = 5000;
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
  INSERT INTO webhooks SELECT printf('%024x', i), printf('c%023x', i / 20), url, events, description, secret_enc,
    previous_secret_enc, previous_secret_expires_at, disabled_at, disabled_reason, failing_since, created_at,
    updated_at, cursor_seq, cursor_lease_until
  FROM webhooks, n WHERE webhooks.id = '$HOOK';" >/dev/null
measure "$((N + 1)) subscriptions"
