//! Facts about public IP addresses from offline data sets:
//!
//! - city and country from a MaxMind DB: the bundled DB-IP city files (ip-location-db's flat layout,
//!   one file per address family) or an operator's GeoIP2/GeoLite2 City file;
//! - the autonomous system from ip-location-db's ASN ranges (CSV) or a GeoIP2/GeoLite2 ASN file;
//! - hosting, VPN, proxy and Tor flags from iporigin's ranges or a GeoIP2 Anonymous-IP file.
//!
//! MaxMind DB files are memory-mapped: the operating system pages in what lookups touch.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use maxminddb::{Mmap, Reader};
use serde::Deserialize;

use crate::ranges::RangeMap;
use crate::regions::Regions;
use crate::{IpFacts, IpIntelligence};

#[derive(Debug, thiserror::Error)]
pub enum IpDataError {
    #[error("cannot open {0}: {1}")]
    Open(String, String),
    #[error("{0}: {1}")]
    Format(String, String),
}

/// The record layouts this reader understands, told apart by the file's `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// ip-location-db's flat records: `city`, `country_code`, `state1`, ...
    Flat,
    /// MaxMind's GeoIP2 / GeoLite2 City or Country records.
    GeoIp2,
}

pub struct CityDb {
    readers: Vec<(Reader<Mmap>, Layout)>,
}

#[derive(Deserialize)]
struct FlatCity<'a> {
    city: Option<&'a str>,
    country_code: Option<&'a str>,
    state1: Option<&'a str>,
}

impl CityDb {
    /// One or two files (the bundled data has one per address family; a GeoIP2 file holds both).
    pub fn open(paths: &[&Path]) -> Result<CityDb, IpDataError> {
        let mut readers = Vec::new();
        for path in paths {
            let reader = open_mmdb(path)?;
            let kind = reader.metadata.database_type.to_ascii_lowercase();
            let layout = if kind.contains("geoip2") || kind.contains("geolite2") || kind.contains("dbip-city-lite") {
                Layout::GeoIp2
            } else {
                Layout::Flat
            };
            readers.push((reader, layout));
        }
        Ok(CityDb { readers })
    }

    fn reader_for(&self, ip: IpAddr) -> Option<&(Reader<Mmap>, Layout)> {
        // A file built for IPv4 only cannot answer IPv6 (the reader returns an error); an IPv6 file
        // answers IPv4 through its IPv4 subtree only when it was built with one, which the flat
        // files were not, so each address goes to the file of its own family first.
        let want = if ip.is_ipv4() { 4 } else { 6 };
        self.readers
            .iter()
            .find(|(r, _)| r.metadata.ip_version == want)
            .or_else(|| self.readers.iter().find(|(r, _)| r.metadata.ip_version == 6))
    }

    fn lookup(&self, ip: IpAddr, regions: &Regions, facts: &mut IpFacts) {
        let Some((reader, layout)) = self.reader_for(ip) else { return };
        match layout {
            Layout::Flat => {
                if let Ok(Some(rec)) = reader.lookup::<FlatCity>(ip) {
                    fill_place(facts, regions, rec.city, rec.state1, None, None, rec.country_code);
                }
            }
            Layout::GeoIp2 => {
                if let Ok(Some(rec)) = reader.lookup::<maxminddb::geoip2::City>(ip) {
                    let sub = rec.subdivisions.as_ref().and_then(|s| s.first());
                    fill_place(
                        facts,
                        regions,
                        rec.city.as_ref().and_then(|c| en(c.names.as_ref())),
                        sub.and_then(|s| en(s.names.as_ref())),
                        sub.and_then(|s| s.iso_code),
                        rec.country.as_ref().and_then(|c| en(c.names.as_ref())),
                        rec.country.as_ref().and_then(|c| c.iso_code),
                    );
                }
            }
        }
    }
}

fn en<'a>(names: Option<&std::collections::BTreeMap<&'a str, &'a str>>) -> Option<&'a str> {
    names.and_then(|n| n.get("en")).copied()
}

/// Fills the place fields, deriving the region code and the country's name where the source lacks them.
fn fill_place(
    facts: &mut IpFacts,
    regions: &Regions,
    city: Option<&str>,
    region: Option<&str>,
    region_code: Option<&str>,
    country: Option<&str>,
    country_code: Option<&str>,
) {
    let country_code = country_code.filter(|c| c.len() == 2 && *c != "ZZ");
    facts.city = city.filter(|c| !c.is_empty()).map(str::to_owned);
    facts.country_code = country_code.map(str::to_owned);
    facts.country =
        country.map(str::to_owned).or_else(|| country_code.and_then(|c| regions.country_name(c)).map(str::to_owned));
    let region = region.filter(|r| !r.is_empty());
    // The ISO name when the region is recognised ("Sao Paulo" and "State of São Paulo" are "São Paulo").
    let iso = match (region_code, country_code, region) {
        (Some(code), Some(cc), _) => Some((code, regions.subdivision_name(cc, code).or(region))),
        (None, Some(cc), Some(name)) => regions.subdivision(cc, name).map(|(code, iso)| (code, Some(iso))),
        _ => None,
    };
    facts.region = iso.and_then(|(_, name)| name).or(region).map(str::to_owned);
    facts.region_code = iso.map(|(code, _)| code.to_owned()).or_else(|| region_code.map(str::to_owned));
}

fn open_mmdb(path: &Path) -> Result<Reader<Mmap>, IpDataError> {
    Reader::open_mmap(path).map_err(|e| IpDataError::Open(path.display().to_string(), e.to_string()))
}

/// Autonomous systems: number and organisation.
pub enum AsnDb {
    Ranges(RangeMap<(u32, u32)>, Vec<Box<str>>),
    Mmdb(Reader<Mmap>),
}

impl AsnDb {
    /// ip-location-db's CSV files (`start,end,asn,organisation`, addresses dotted or as integers).
    pub fn from_csv(paths: &[&Path]) -> Result<AsnDb, IpDataError> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut orgs: Vec<Box<str>> = Vec::new();
        let mut index: HashMap<Box<str>, u32> = HashMap::new();
        for path in paths {
            let name = path.display().to_string();
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_path(path)
                .map_err(|e| IpDataError::Open(name.clone(), e.to_string()))?;
            let mut record = csv::StringRecord::new();
            let mut line = 0u64;
            while reader.read_record(&mut record).map_err(|e| IpDataError::Format(name.clone(), e.to_string()))? {
                line += 1;
                let bad =
                    || IpDataError::Format(name.clone(), format!("line {line} is not start,end,asn,organisation"));
                let (Some(start), Some(end), Some(asn)) = (record.get(0), record.get(1), record.get(2)) else {
                    return Err(bad());
                };
                let Ok(asn) = asn.trim().parse::<u32>() else {
                    if line == 1 {
                        continue; // a header line
                    }
                    return Err(bad());
                };
                let org = record.get(3).unwrap_or("").trim();
                let org_id = match index.get(org) {
                    Some(id) => *id,
                    None => {
                        let id = orgs.len() as u32;
                        orgs.push(org.into());
                        index.insert(org.into(), id);
                        id
                    }
                };
                match parse_range(start, end) {
                    (Some(IpAddr::V4(s)), Some(IpAddr::V4(e))) => v4.push((u32::from(s), u32::from(e), (asn, org_id))),
                    (Some(IpAddr::V6(s)), Some(IpAddr::V6(e))) => {
                        v6.push((u128::from(s), u128::from(e), (asn, org_id)))
                    }
                    _ => return Err(bad()),
                }
            }
        }
        let ranges = RangeMap::build(v4, v6, |a, _| *a);
        Ok(AsnDb::Ranges(ranges, orgs))
    }

    /// A GeoIP2 / GeoLite2 ASN file.
    pub fn from_mmdb(path: &Path) -> Result<AsnDb, IpDataError> {
        Ok(AsnDb::Mmdb(open_mmdb(path)?))
    }

    pub fn len(&self) -> usize {
        match self {
            AsnDb::Ranges(r, _) => r.len(),
            AsnDb::Mmdb(r) => r.metadata.node_count as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, ip: IpAddr, facts: &mut IpFacts) {
        match self {
            AsnDb::Ranges(ranges, orgs) => {
                if let Some((asn, org)) = ranges.get(ip) {
                    facts.as_code = Some(*asn);
                    facts.as_name = orgs.get(*org as usize).filter(|o| !o.is_empty()).map(|o| o.to_string());
                }
            }
            AsnDb::Mmdb(reader) => {
                if let Ok(Some(rec)) = reader.lookup::<maxminddb::geoip2::Asn>(ip) {
                    facts.as_code = rec.autonomous_system_number;
                    facts.as_name = rec.autonomous_system_organization.map(str::to_owned);
                }
            }
        }
    }
}

/// A range's two ends, dotted/colon addresses or integers. Integer ranges are IPv6 when either end
/// needs more than 32 bits (an IPv6 range never fits below 2^32 at both ends in practice).
fn parse_range(start: &str, end: &str) -> (Option<IpAddr>, Option<IpAddr>) {
    let (start, end) = (start.trim(), end.trim());
    if let (Ok(s), Ok(e)) = (start.parse::<IpAddr>(), end.parse::<IpAddr>()) {
        return (Some(s), Some(e));
    }
    let (Ok(s), Ok(e)) = (start.parse::<u128>(), end.parse::<u128>()) else { return (None, None) };
    match (u32::try_from(s), u32::try_from(e)) {
        (Ok(s), Ok(e)) => (Some(IpAddr::V4(Ipv4Addr::from(s))), Some(IpAddr::V4(Ipv4Addr::from(e)))),
        _ => (Some(IpAddr::V6(Ipv6Addr::from(s))), Some(IpAddr::V6(Ipv6Addr::from(e)))),
    }
}

/// Everything the bundled or configured sets know about an address.
pub struct IpDatabase {
    pub city: Option<CityDb>,
    pub asn: Option<AsnDb>,
    pub anonymizers: Option<crate::anonymizers::Anonymizers>,
    pub regions: Arc<Regions>,
}

impl IpIntelligence for IpDatabase {
    fn lookup(&self, ip: IpAddr) -> IpFacts {
        let mut facts = IpFacts::default();
        if let Some(city) = &self.city {
            city.lookup(ip, &self.regions, &mut facts);
        }
        if let Some(asn) = &self.asn {
            asn.lookup(ip, &mut facts);
        }
        if let Some(anon) = &self.anonymizers {
            anon.lookup(ip, &mut facts);
        }
        facts
    }

    fn has_data(&self) -> bool {
        self.city.is_some() || self.asn.is_some() || self.anonymizers.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_dotted_or_as_integers_of_one_family() {
        let v4 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(parse_range("1.0.0.0", "1.0.0.255"), (v4("1.0.0.0"), v4("1.0.0.255")));
        assert_eq!(parse_range("16777216", "16777471"), (v4("1.0.0.0"), v4("1.0.0.255")));
        // An IPv6 range whose start fits 32 bits is still IPv6.
        let (s, e) = parse_range("0", "340282366920938463463374607431768211455");
        assert!(matches!((s, e), (Some(IpAddr::V6(_)), Some(IpAddr::V6(_)))));
        assert_eq!(parse_range("x", "1"), (None, None));
    }
}
