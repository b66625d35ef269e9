#!/usr/bin/env bash
# Regenerates crates/context/tests/data/ua-parser-js-1.0.41.tsv.gz: what ua-parser-js 1.0.41 (MIT,
# Faisal Salman) answers for every distinct user agent of the uap-core test corpus (test_ua.yaml,
# test_os.yaml, test_device.yaml), as expected results for the accuracy benchmark of our Rust parser.
#
# Usage: scripts/ua_expected.sh [UAP_CORE_DIR]
#   UAP_CORE_DIR: the uap-core folder (the one holding tests/test_ua.yaml). If not given, it is
#   found from `cargo metadata` (the `ua-parser` package's folder + /uap-core; run with --locked
#   --offline so that it never rewrites Cargo.lock), and failing that in
#   ~/.cargo/registry/src/*/ua-parser-0.2.2/uap-core.
#
# Needs node (20+) and npm with access to the npm registry. ua-parser-js and js-yaml are installed
# into a temporary folder and removed afterwards; nothing is added to the repo's package files.
# Stays on ua-parser-js 1.x on purpose: 2.x is AGPL-3.0.
set -euo pipefail
arg=""
if [[ $# -ge 1 ]]; then arg=$(cd "$1" && pwd); fi
cd "$(dirname "$0")/.."
root=$(pwd)

UA_PARSER_JS_VERSION=1.0.41
JS_YAML_VERSION=4.1.1
out="$root/crates/context/tests/data/ua-parser-js-${UA_PARSER_JS_VERSION}.tsv.gz"

uap=""
if [[ -n $arg ]]; then
    uap=$arg
else
    if manifest=$(cargo metadata --format-version 1 --locked --offline 2>/dev/null | node -e '
        let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
            const p = JSON.parse(s).packages.find(p => p.name === "ua-parser");
            if (!p) process.exit(1);
            console.log(p.manifest_path);
        });'); then
        uap="$(dirname "$manifest")/uap-core"
    else
        for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ua-parser-0.2.2/uap-core; do
            [[ -d $d ]] && uap=$d
        done
    fi
fi
if [[ -z $uap || ! -f $uap/tests/test_ua.yaml ]]; then
    echo "uap-core corpus not found (got '${uap}'); pass the uap-core folder as argument" >&2
    exit 1
fi
echo "corpus: $uap (uap-core $(node -p 'require(process.argv[1]).version' "$uap/package.json" 2>/dev/null || echo '?'))"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "ua-parser-js@${UA_PARSER_JS_VERSION}" "js-yaml@${JS_YAML_VERSION}" >/dev/null

mkdir -p "$(dirname "$out")"
node "$root/scripts/ua_expected.mjs" "$tmp/node_modules" "$uap/tests" "$out" "$UA_PARSER_JS_VERSION"
