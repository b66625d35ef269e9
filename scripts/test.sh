#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of every crate (unit tests, and the API
# tests that start the real server with a real SQLite file, SMTP listener and HTTP SMS gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
