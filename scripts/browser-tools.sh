#!/usr/bin/env bash
# What the real-browser tests (tests/browser) need besides the server binary, installed from the
# registries (pinned; a re-run only checks):
# - Debian's chromium (not downloaded here: `apt-get install -y chromium`; playwright-core drives it and
#   never downloads a browser of its own);
# - playwright-core, by `npm ci` in tests/browser from its committed package-lock.json;
# - Pillow (PyPI, into data/.venv), which turns the packaged face photo into the fake camera feeds
#   chromium plays: target/browser/face.y4m (data/test-fixtures/faces/fr_obama2.jpg) and
#   target/browser/dim.y4m (the same photo in a dark room) and target/browser/black.y4m (a covered camera).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=data/.venv
PILLOW_VERSION=12.0.0
OUT=target/browser

if ! command -v chromium >/dev/null 2>&1 && [[ -z ${CHROMIUM:-} ]]; then
  # Debian's chromium, from apt (as root, or through sudo).
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "browser-tools: installing Debian's chromium with apt" >&2
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { echo "browser-tools: chromium is not installed and apt could not install it: apt-get install -y chromium" >&2; exit 1; }
fi
echo "ok chromium: ${CHROMIUM:-$(command -v chromium)}"

# The data sets, face models and test photos the server and the feeds need (a re-run only verifies).
if [[ ! -f data/test-fixtures/faces/fr_obama2.jpg || ! -f data/models/fr_feature.onnx || ! -f data/intel/places.csv ]]; then
  bash scripts/fetch-data.sh --test-fixtures
fi

if ! "$VENV/bin/python" -c "import PIL, sys; sys.exit(PIL.__version__ != '$PILLOW_VERSION')" 2>/dev/null; then
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "Pillow==$PILLOW_VERSION"
  echo "installed Pillow $PILLOW_VERSION in $VENV"
else
  echo "ok Pillow $PILLOW_VERSION"
fi

mkdir -p "$OUT"
make=tests/browser/make_y4m.py
photo=data/test-fixtures/faces/fr_obama2.jpg
if [[ ! -s $OUT/face.y4m || $OUT/face.y4m -ot $make || $OUT/face.y4m -ot $photo ]]; then
  "$VENV/bin/python" "$make" face "$photo" "$OUT/face.y4m" --png "$OUT/face-frame.png"
fi
if [[ ! -s $OUT/dim.y4m || $OUT/dim.y4m -ot $make || $OUT/dim.y4m -ot $photo ]]; then
  "$VENV/bin/python" "$make" dim "$photo" "$OUT/dim.y4m" --png "$OUT/dim-frame.png"
fi
if [[ ! -s $OUT/black.y4m || $OUT/black.y4m -ot $make ]]; then
  "$VENV/bin/python" "$make" black "$OUT/black.y4m"
fi
echo "ok camera feeds: $OUT/face.y4m, $OUT/dim.y4m, $OUT/black.y4m"

# npm ci only when node_modules is missing or older than the lock file.
cd "$ROOT/tests/browser"
if [[ ! -f node_modules/.package-lock.json || node_modules/.package-lock.json -ot package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "ok playwright-core $(node -p "require('./node_modules/playwright-core/package.json').version")"
