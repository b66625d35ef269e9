//! Offline reverse geocoding: the nearest populated place to a point. The places come from
//! `places.csv` in the data directory (countries-states-cities, 152k places with accented names and
//! ISO state codes, ODbL) or, without it, from the GeoNames cities1000 table that the
//! `reverse_geocoder` crate compiles in (144,563 places in ASCII, CC-BY-4.0); ISO 3166 codes and
//! names come from pycountry's tables. Street-level detail needs an external geocoder
//! (see `Geocoder` in the server); without one those fields stay `null`.

use std::sync::Arc;

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
    inner: reverse_geocoder::ReverseGeocoder,
    regions: Arc<Regions>,
    /// (country, name without accents) → the name with its accents, for the places that have any:
    /// IP city databases often spell in ASCII ("Sao Paulo").
    spellings: HashMap<(String, String), String>,
}

impl OfflineGeocoder {
    /// Builds the search tree over the compiled-in table (a few hundred milliseconds, once).
    pub fn new(regions: Arc<Regions>) -> OfflineGeocoder {
        OfflineGeocoder { inner: reverse_geocoder::ReverseGeocoder::new(), regions, spellings: HashMap::new() }
    }

    /// A table of the operator's in the same CSV shape (`lat,lon,name,admin1,admin2,cc`).
    pub fn from_csv(path: &std::path::Path, regions: Arc<Regions>) -> std::io::Result<OfflineGeocoder> {
        let inner = reverse_geocoder::ReverseGeocoder::from_path(path)?;
        let mut spellings = HashMap::new();
        let mut reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
        for row in reader.records() {
            let row = row.map_err(std::io::Error::other)?;
            if let (Some(name), Some(cc)) = (row.get(2), row.get(5)) {
                if !name.is_ascii() {
                    spellings.entry((cc.to_owned(), fold(name))).or_insert_with(|| name.to_owned());
                }
            }
        }
        Ok(OfflineGeocoder { inner, regions, spellings })
    }

    /// The place's name with its accents, when the table knows one (`BR`, `Sao Paulo` → `São Paulo`).
    pub fn spelled(&self, country: &str, name: &str) -> Option<&str> {
        if !name.is_ascii() || self.spellings.is_empty() {
            return None;
        }
        self.spellings.get(&(country.to_owned(), fold(name))).map(String::as_str)
    }

    pub fn nearest(&self, at: Coordinates) -> Option<Place> {
        let found = self.inner.search((at.latitude(), at.longitude()));
        let r = found.record;
        let place_at = Coordinates::new(r.lat, r.lon).ok()?;
        let distance_km = distance_m(at, place_at) / 1000.0;
        if distance_km > MAX_PLACE_DISTANCE_KM {
            return None;
        }
        let cc = r.cc.as_str();
        // A places table with ISO codes carries the code in `admin2`; GeoNames' carries a district
        // name there, so its region is found by name.
        let by_code = self.regions.subdivision_name(cc, &r.admin2).map(|name| (r.admin2.as_str(), name));
        let (region_code, region) = match by_code.or_else(|| self.regions.subdivision(cc, &r.admin1)) {
            Some((code, name)) => (Some(code.to_owned()), Some(name.to_owned())),
            None => (None, (!r.admin1.is_empty()).then(|| r.admin1.clone())),
        };
        Some(Place {
            city: Some(r.name.clone()),
            region,
            region_code,
            country: self.regions.country_name(cc).map(str::to_owned),
            country_code: Some(cc.to_owned()),
            distance_km,
        })
    }
}
