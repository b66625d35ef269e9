#!/usr/bin/env bash
# Face verification under load, and whether the rest of the API keeps its latency meanwhile:
# selfies alone, wrk on GET /authentications/{id} alone, then both at once (each: a new attempt,
# then a selfie matched against the enrolled face, with liveness). The server uses both cores, as in
# production. Results: bench-results/face-<time>.txt.
#
#   bash scripts/bench-face.sh [SECONDS] [FACE_CLIENTS]     # defaults 20 and 4
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-20}
CLIENTS=${2:-4}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
bash scripts/fetch-data.sh --test-fixtures >/dev/null
cargo build --release --locked -p smartauth --bin smartauth
mkdir -p bench-results
OUT=bench-results/face-$(date -u +%Y%m%dT%H%M%SZ).txt
WORK=$(mktemp -d)
PORT=18190
cleanup() { kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
SMARTAUTH_DATA_DIR=$WORK/data SMARTAUTH_INTEL_DIR=$PWD/data/intel SMARTAUTH_MODELS_DIR=$PWD/data/models \
  SMARTAUTH_LISTEN=127.0.0.1:$PORT SMARTAUTH_ADMIN_TOKEN=bench-admin RUST_LOG=warn \
  SMARTAUTH_FACE_WORKERS=${FACE_WORKERS:-$(nproc)} \
  SMARTAUTH_THROTTLE_SDK_PER_MINUTE=0 SMARTAUTH_THROTTLE_DEVICE_PER_MINUTE=0 SMARTAUTH_LOCKOUT_AFTER=100 \
  target/release/smartauth serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
SETUP=$(python3 scripts/bench_face.py http://127.0.0.1:$PORT bench-admin setup "$WORK/setup.json")
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$SETUP" "$1"; }
BACKEND=$(field backend); AID=$(field attemptId)
get() {
  local raw; raw=$(wrk -t1 -c16 -d"${SECONDS_RUN}s" --latency -H "Authorization: Bearer $BACKEND" \
    "http://127.0.0.1:$PORT/authentications/$AID")
  printf '%s: %s req/s, p50 %s, p99 %s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$raw")" \
    "$(awk '$1=="50%" {print $2}' <<<"$raw")" "$(awk '$1=="99%" {print $2}' <<<"$raw")"
}
{
  echo "face benchmark, $(date -u +%FT%TZ), $(nproc) cores, ${SECONDS_RUN}s per run, commit $(git rev-parse --short HEAD)"
  echo "selfies alone: $(python3 scripts/bench_face.py http://127.0.0.1:$PORT bench-admin load "$WORK/setup.json" "$SECONDS_RUN" "$CLIENTS")"
  get "GET /authentications/{id} alone (16 connections)"
  python3 scripts/bench_face.py http://127.0.0.1:$PORT bench-admin load "$WORK/setup.json" "$SECONDS_RUN" "$CLIENTS" \
    > "$WORK/face.txt" &
  FACE=$!
  sleep 1
  get "GET /authentications/{id} while selfies are verified"
  wait $FACE
  echo "selfies meanwhile: $(cat "$WORK/face.txt")"
} | tee "$OUT"
