#!/usr/bin/env bash
# Face matching and liveness accuracy on the test images that ship in packages: genuine and impostor
# similarity distributions, FMR/FNMR at the threshold, liveness on genuine captures and on
# presentation-attack stand-ins, as one report.
#   bash scripts/face-accuracy.sh [MIN_SIMILARITY] [MIN_LIVENESS]     # defaults: the policy's, 0.5 and 0.5
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-data.sh --test-fixtures >/dev/null
cargo run --quiet --release --locked -p smartauth-face --example face_accuracy -- "${1:-0.5}" "${2:-0.5}"
