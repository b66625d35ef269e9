#!/usr/bin/env bash
# Tools the tests run as real peers, installed from PyPI into data/.venv (pinned; a re-run only checks):
# moto's server, an S3-compatible endpoint for the media-store tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=data/.venv
MOTO_VERSION=5.1.0
if [[ -x $VENV/bin/moto_server ]] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "ok moto $MOTO_VERSION"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
echo "installed moto $MOTO_VERSION in $VENV"
