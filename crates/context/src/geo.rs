//! Offline reverse geocoding: the nearest populated place to a point. The places come from
//! `places.csv` in the data directory (countries-states-cities, 152k places with accented names and
//! ISO state codes, ODbL) or, without it, from the GeoNames cities1000 table that the
//! `reverse_geocoder` crate compiles in (144,563 places in ASCII, CC-BY-4.0); ISO 3166 codes and
//! names come from pycountry's tables. Street-level detail needs an external geocoder
//! (see `Geocoder` in the server); without one those fields stay `null`.

use std::sync::Arc;

use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;
use serde::{Deserialize, Serialize};
use smartauth_domain::geo::distance_m;
use smartauth_domain::Coordinates;

use std::collections::HashMap;

use crate::regions::{fold, Regions};

/// A point further than this from any populated place of the table has no city (open sea, ice).
pub const MAX_PLACE_DISTANCE_KM: f64 = 150.0;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    pub city: Option<String>,
    pub region: Option<String>,
    pub region_code: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    /// Distance from the point to the place's centre.
    pub distance_km: f64,
}

/// What a street-level geocoder (external, optional) adds to the offline place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreetAddress {
    pub street_name: Option<String>,
    pub street_number: Option<String>,
    pub neighborhood: Option<String>,
    pub zipcode: Option<String>,
}

pub struct OfflineGeocoder {
    table: Table,
    regions: Arc<Regions>,
    /// (country, name without accents) → the name with its accents, for the places that have any:
    /// IP city databases often spell in ASCII ("Sao Paulo").
    spellings: HashMap<(String, String), String>,
}

enum Table {
    /// GeoNames cities1000 as the `reverse_geocoder` crate compiles it in: no population, so the nearest.
    Compiled(reverse_geocoder::ReverseGeocoder),
    Csv(PlaceTable),
}

/// One place of a CSV table.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    lat: f64,
    lon: f64,
    name: String,
    admin1: String,
    admin2: String,
    cc: String,
    /// People living there, when the table says (`cities.csv` does; an empty cell is unknown).
    #[serde(default, deserialize_with = "csv::invalid_option")]
    population: Option<u64>,
}

struct PlaceTable {
    rows: Vec<Row>,
    tree: ImmutableKdTree<f64, u32, 3, 32>,
    /// Whether the table has populations: then a place reaches as far as its size (`reach_km`).
    weighted: bool,
}

/// Candidates for the weighted rule are the places within this distance (a big city's reach is 30 km).
const SEARCH_KM: f64 = 60.0;
/// A place's reach: the radius of a disc holding its population at 5,000 people per km² (a typical urban
/// density: r = √(P / (π · 5000)) ≈ 0.008 · √P km), at least 1 km (a place without a population) and at
/// most 30 km (so that a metropolitan figure does not swallow the cities around it). Chosen from that
/// density, not fitted to the city test set.
fn reach_km(population: Option<u64>) -> f64 {
    population.map_or(1.0, |p| (0.008 * (p as f64).sqrt()).clamp(1.0, 30.0))
}

const EARTH_RADIUS_KM: f64 = 6371.0088;

fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The squared straight-line distance between two points of the unit sphere `km` apart on its surface.
fn chord_squared(km: f64) -> f64 {
    let chord = 2.0 * (km / (2.0 * EARTH_RADIUS_KM)).sin();
    chord * chord
}

impl PlaceTable {
    fn read(path: &std::path::Path) -> std::io::Result<PlaceTable> {
        let mut reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
        let weighted = reader.headers().map_err(std::io::Error::other)?.iter().any(|h| h == "population");
        let mut rows = Vec::new();
        for row in reader.deserialize::<Row>() {
            let row = row.map_err(std::io::Error::other)?;
            if Coordinates::new(row.lat, row.lon).is_err() {
                return Err(std::io::Error::other(format!("{}: coordinates out of range: {}", row.name, row.lat)));
            }
            rows.push(row);
        }
        if rows.is_empty() || rows.len() > u32::MAX as usize {
            return Err(std::io::Error::other("the places table is empty"));
        }
        let points: Vec<[f64; 3]> = rows.iter().map(|r| unit_vector(r.lat, r.lon)).collect();
        Ok(PlaceTable { tree: ImmutableKdTree::new_from_slice(&points), rows, weighted })
    }

    /// The place a person would name: the nearest, or with populations, the one with the smallest
    /// distance over reach among those within `SEARCH_KM` (a multiplicatively weighted Voronoi
    /// diagram: downtown Rio is Rio, not Niterói across the bay, though Niterói's point is nearer), within the
    /// nearest place's country.
    fn pick(&self, at: Coordinates) -> &Row {
        let query = unit_vector(at.latitude(), at.longitude());
        let nearest = &self.rows[self.tree.nearest_one::<SquaredEuclidean>(&query).item as usize];
        if self.weighted {
            // Only places of the nearest place's country compete: a city's reach does not cross a border (the
            // country decides `BLOCKED_COUNTRY`; Shenzhen must not name a town in Hong Kong).
            let best = self
                .tree
                .within_unsorted::<SquaredEuclidean>(&query, chord_squared(SEARCH_KM))
                .into_iter()
                .filter(|n| self.rows[n.item as usize].cc == nearest.cc)
                .map(|n| {
                    let row = &self.rows[n.item as usize];
                    (
                        distance_m(at, Coordinates::new(row.lat, row.lon).unwrap_or(at))
                            / 1000.0
                            / reach_km(row.population),
                        row,
                    )
                })
                .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
            if let Some((_, row)) = best {
                return row;
            }
        }
        nearest
    }
}

impl OfflineGeocoder {
    /// Builds the search tree over the compiled-in table (a few hundred milliseconds, once).
    pub fn new(regions: Arc<Regions>) -> OfflineGeocoder {
        OfflineGeocoder {
            table: Table::Compiled(reverse_geocoder::ReverseGeocoder::new()),
            regions,
            spellings: HashMap::new(),
        }
    }

    /// A places table in CSV (`lat,lon,name,admin1,admin2,cc`, and `population` when it has one, as
    /// `cities.csv` does; `admin2` holds the ISO 3166-2 code of the region where the table knows it).
    pub fn from_csv(path: &std::path::Path, regions: Arc<Regions>) -> std::io::Result<OfflineGeocoder> {
        let table = PlaceTable::read(path)?;
        let mut spellings = HashMap::new();
        for row in table.rows.iter().filter(|r| !r.name.is_ascii()) {
            spellings.entry((row.cc.clone(), fold(&row.name))).or_insert_with(|| row.name.clone());
        }
        Ok(OfflineGeocoder { table: Table::Csv(table), regions, spellings })
    }

    /// How many places the table holds, and whether they are weighted by population.
    pub fn size(&self) -> (Option<usize>, bool) {
        match &self.table {
            Table::Compiled(_) => (None, false),
            Table::Csv(t) => (Some(t.rows.len()), t.weighted),
        }
    }

    /// The place's name with its accents, when the table knows one (`BR`, `Sao Paulo` → `São Paulo`).
    pub fn spelled(&self, country: &str, name: &str) -> Option<&str> {
        if !name.is_ascii() || self.spellings.is_empty() {
            return None;
        }
        self.spellings.get(&(country.to_owned(), fold(name))).map(String::as_str)
    }

    /// The place a person would name for the point (see `PlaceTable::pick`), or `None` far from any.
    pub fn nearest(&self, at: Coordinates) -> Option<Place> {
        let (lat, lon, name, admin1, admin2, cc) = match &self.table {
            Table::Compiled(g) => {
                let r = g.search((at.latitude(), at.longitude())).record;
                (r.lat, r.lon, &r.name, &r.admin1, &r.admin2, &r.cc)
            }
            Table::Csv(t) => {
                let r = t.pick(at);
                (r.lat, r.lon, &r.name, &r.admin1, &r.admin2, &r.cc)
            }
        };
        let place_at = Coordinates::new(lat, lon).ok()?;
        let distance_km = distance_m(at, place_at) / 1000.0;
        if distance_km > MAX_PLACE_DISTANCE_KM {
            return None;
        }
        let cc = cc.as_str();
        // A places table with ISO codes carries the code in `admin2`; GeoNames' carries a district
        // name there, so its region is found by name.
        let by_code = self.regions.subdivision_name(cc, admin2).map(|name| (admin2.as_str(), name));
        let (region_code, region) = match by_code.or_else(|| self.regions.subdivision(cc, admin1)) {
            Some((code, name)) => (Some(code.to_owned()), Some(name.to_owned())),
            None => (None, (!admin1.is_empty()).then(|| admin1.clone())),
        };
        Some(Place {
            city: Some(name.clone()),
            region,
            region_code,
            country: self.regions.country_name(cc).map(str::to_owned),
            country_code: Some(cc.to_owned()),
            distance_km,
        })
    }
}
