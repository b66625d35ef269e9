#!/usr/bin/env bash
# Load benchmark: smartauth's GET /authentications/{id} and passively approved POST /authentications at 32
# connections, beside a baseline (axum + HS256 JWT + a 2 KB SQLite row) measured in the same run. The
# server runs with every data set loaded, and each POST comes from a public address (through a trusted
# proxy) that the IP data is asked about, with a user agent and coordinates to parse and geocode.
# The server runs on core 0 and wrk on core 1. Results: bench-results/bench-<time>.txt.
#
#   bash scripts/bench.sh [DURATION_SECONDS]      # default 15; PERSONS=N sets how many identities the POST load rotates over (200)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
command -v wrk >/dev/null && command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk sqlite3; }
bash scripts/fetch-data.sh >/dev/null
cargo build --release --locked -p smartauth --bin smartauth --example bench_baseline
mkdir -p bench-results
OUT=bench-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt
WORK=$(mktemp -d)
PORT=18180; BASE_PORT=18181; SMS_PORT=18182
cleanup() { kill "${SERVER:-}" "${BASELINE:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

STARTED=$(date +%s%N)
SMARTAUTH_DATA_DIR=$WORK/data SMARTAUTH_INTEL_DIR=$PWD/data/intel SMARTAUTH_LISTEN=127.0.0.1:$PORT \
  SMARTAUTH_ADMIN_TOKEN=bench-admin SMARTAUTH_SMS_GATEWAY_URL=http://127.0.0.1:$SMS_PORT/ \
  SMARTAUTH_TRUSTED_PROXIES=127.0.0.1/32 RUST_LOG=warn \
  taskset -c 0 target/release/smartauth serve > "$WORK/server.log" 2>&1 &
SERVER=$!
taskset -c 0 target/release/examples/bench_baseline 127.0.0.1:$BASE_PORT "$WORK/baseline.db" > "$WORK/baseline.log" 2>&1 &
BASELINE=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && curl -s http://127.0.0.1:$BASE_PORT/ >/dev/null && break; sleep 0.05; done
READY_MS=$(( ($(date +%s%N) - STARTED) / 1000000 ))
rss() { awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' /proc/$SERVER/status; }
RSS_START=$(rss)

SETUP=$(python3 scripts/bench_setup.py http://127.0.0.1:$PORT bench-admin $SMS_PORT "$WORK/post.lua" "${PERSONS:-200}")
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$SETUP" "$1"; }
BACKEND=$(field backend); AID=$(field attemptId)
BASE_TOKEN=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); from mint_token import mint; print(mint('bench', 'baseline-secret', None, 0))")

run() { # name, wrk args...
  local name=$1; shift
  local raw; raw=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$raw")
  p50=$(awk '$1=="50%" {print $2}' <<<"$raw")
  p99=$(awk '$1=="99%" {print $2}' <<<"$raw")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$raw")
  printf '%-34s %12s req/s   p50 %9s   p99 %9s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" | tee -a "$OUT"
  echo "$rps" > "$WORK/$name.rps"
}

{
  echo "smartauth load benchmark, $(date -u +%FT%TZ), $(nproc) cores, ${DURATION}s per run, 32 connections, server on core 0, wrk on core 1, POST over ${PERSONS:-200} identities"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$OUT"
run baseline_get -H "Authorization: Bearer $BASE_TOKEN" http://127.0.0.1:$BASE_PORT/rows/row
run get_attempt -H "Authorization: Bearer $BACKEND" http://127.0.0.1:$PORT/authentications/$AID
run post_passive_attempt -s "$WORK/post.lua" http://127.0.0.1:$PORT/authentications
python3 - "$WORK" <<'PY' | tee -a "$OUT"
import sys
w = sys.argv[1]
rps = {n: float(open(f"{w}/{n}.rps").read()) for n in ("baseline_get", "get_attempt", "post_passive_attempt")}
print(f"GET /authentications/{{id}} vs baseline: {rps['get_attempt'] / rps['baseline_get']:.2f}x")
PY
echo "server: answering ${READY_MS} ms after start with every data set loaded; resident memory $RSS_START then, $(rss) after the runs" | tee -a "$OUT"
WAL=$WORK/data/smartauth.db-wal
echo "WAL file after the POST run: $(stat -c %s "$WAL" 2>/dev/null || echo 0) bytes" | tee -a "$OUT"
echo "attempts by status (every POST of the load must be a passive approval): $(sqlite3 "$WORK/data/smartauth.db" \
  "SELECT group_concat(status || '=' || n, ' ') FROM (SELECT status, COUNT(*) AS n FROM attempts GROUP BY status)")" | tee -a "$OUT"
