#!/usr/bin/env bash
# Runs every cargo fuzz target in fuzz/ for a bounded time and prints executions and crashes per
# target. Not run by CI: it needs the nightly toolchain and minutes per target.
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]     (default: 60 s, every target)
#
# FUZZ_SANITIZER: none (default) or address. The targets are safe Rust over safe parsers, where a
#   bug shows as a panic, which libFuzzer catches either way; AddressSanitizer also instruments the
#   C and assembly of ring and the image crates' unsafe code, at the cost of a much longer first build
#   (the server's dependency tree: tract, sqlx, rustls) and about half the executions per second.
# FUZZ_TIMEOUT: seconds one input may take before it counts as a crash (a hang), 10 by default.
# FUZZ_BUILD_ARGS: more cargo fuzz build/run options; `--no-default-features policy` builds only the
#   policy target's small tree (the others need the server's or the context crate's).
#
# The seeds in fuzz/corpus/<target>/ are read, never written: what the fuzzer learns goes to
# fuzz/target/corpus/<target>/ and crashing inputs to fuzz/artifacts/<target>/ (both git-ignored).
# A crash found here becomes a regression test in the crate's normal tests.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-10}
read -r -a build_args <<<"${FUZZ_BUILD_ARGS:-}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "cargo fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
if [ ! -f data/intel/regexes.yaml ]; then
    echo "the user_agent target reads data/intel/regexes.yaml: run scripts/fetch-data.sh first" >&2
    exit 1
fi

cd fuzz
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build for every target; each run below reuses it.
cargo +nightly fuzz build -s "$sanitizer" "${build_args[@]}"

mkdir -p target/logs
summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "target/corpus/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    log="target/logs/$t.log"
    echo "== $t: ${seconds}s"
    status=0
    cargo +nightly fuzz run -s "$sanitizer" "${build_args[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
    rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -n 1)
    units=$(ls "target/corpus/$t" | wc -l)
    crashes=$(($(ls "artifacts/$t" | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="? (exit $status, see fuzz/$log)"
    fi
    if [ "$status" -ne 0 ]; then
        failed=1
        grep -m 1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" || true
        ls -t "artifacts/$t" | head -n 1 | sed "s|^|   input: fuzz/artifacts/$t/|"
    fi
    summary+=("$(printf '%-22s %12s %10s %8s   %s' "$t" "${execs:-?}" "${rate:-?}" "$units" "$crashes")")
done

echo
printf '%-22s %12s %10s %8s   %s\n' target executions "exec/s" corpus crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
