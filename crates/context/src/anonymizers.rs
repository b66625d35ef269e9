//! Addresses that hide a person: Tor exits, VPN and proxy services, hosting and CDN networks, bots.
//! Two sources: iporigin's `ranges.bin` (bundled), or a GeoIP2 Anonymous-IP file of the operator's.
//!
//! `ranges.bin` layout (little-endian): header `8s H Q H I I` (magic `IPORIGIN`, version, built-at
//! Unix seconds, label count, IPv4 count, IPv6 count); labels as `u16` length + UTF-8
//! `provider\tkind`; IPv4 records `u32 start, u32 end, u16 label`; IPv6 records
//! `16 bytes start, 16 bytes end, u16 label` (addresses big-endian, as on the wire).

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Mmap, Reader};

use crate::ip::IpDataError;
use crate::ranges::RangeMap;
use crate::IpFacts;

const TOR: u8 = 1;
const VPN: u8 = 2;
const PROXY: u8 = 4;
const HOSTING: u8 = 8;

pub enum Anonymizers {
    /// Flags, label and the listed range's size (so that where ranges overlap the narrower names the provider).
    Ranges {
        map: RangeMap<(u8, u16, u128)>,
        labels: Vec<Box<str>>,
        built_at: u64,
    },
    Mmdb(Reader<Mmap>),
}

impl Anonymizers {
    pub fn from_iporigin(path: &Path) -> Result<Anonymizers, IpDataError> {
        let bytes = std::fs::read(path).map_err(|e| IpDataError::Open(path.display().to_string(), e.to_string()))?;
        parse_iporigin(&bytes).map_err(|e| IpDataError::Format(path.display().to_string(), e))
    }

    pub fn from_mmdb(path: &Path) -> Result<Anonymizers, IpDataError> {
        let reader =
            Reader::open_mmap(path).map_err(|e| IpDataError::Open(path.display().to_string(), e.to_string()))?;
        Ok(Anonymizers::Mmdb(reader))
    }

    pub fn len(&self) -> usize {
        match self {
            Anonymizers::Ranges { map, .. } => map.len(),
            Anonymizers::Mmdb(r) => r.metadata.node_count as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets every flag: an address the data does not list is known not to be listed (`false`).
    pub(crate) fn lookup(&self, ip: IpAddr, facts: &mut IpFacts) {
        let (flags, provider) = match self {
            Anonymizers::Ranges { map, labels, .. } => match map.get(ip) {
                Some((flags, label, _)) => (*flags, labels.get(*label as usize).map(|l| l.to_string())),
                None => (0, None),
            },
            Anonymizers::Mmdb(reader) => match reader.lookup::<maxminddb::geoip2::AnonymousIp>(ip) {
                Ok(Some(r)) => {
                    let on = |b: Option<bool>, f: u8| if b == Some(true) { f } else { 0 };
                    let flags = on(r.is_tor_exit_node, TOR)
                        | on(r.is_anonymous_vpn, VPN)
                        | on(r.is_public_proxy, PROXY)
                        | on(r.is_residential_proxy, PROXY)
                        | on(r.is_hosting_provider, HOSTING);
                    (flags, None)
                }
                _ => (0, None),
            },
        };
        facts.is_tor = Some(flags & TOR != 0);
        facts.is_vpn = Some(flags & VPN != 0);
        facts.is_proxy = Some(flags & PROXY != 0);
        facts.is_hosting = Some(flags & HOSTING != 0);
        facts.provider = provider;
    }
}

fn kind_flags(kind: &str) -> u8 {
    match kind {
        "tor" => TOR,
        "vpn" => VPN,
        "proxy" => PROXY,
        // Data centres, CDNs and crawlers: machines, not people at home or on a phone.
        "hosting" | "cdn" | "bot" | "cloud" | "datacenter" => HOSTING,
        _ => 0,
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or("the file is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

fn parse_iporigin(bytes: &[u8]) -> Result<Anonymizers, String> {
    let mut c = Cursor { bytes, at: 0 };
    if c.take(8)? != b"IPORIGIN" {
        return Err("not an iporigin ranges file (bad magic)".into());
    }
    let version = c.u16()?;
    if version != 1 {
        return Err(format!("iporigin format version {version} is not supported (1 is)"));
    }
    let built_at = c.u64()?;
    let label_count = c.u16()?;
    let v4_count = c.u32()? as usize;
    let v6_count = c.u32()? as usize;
    let mut labels = Vec::with_capacity(label_count as usize);
    let mut label_flags = Vec::with_capacity(label_count as usize);
    for _ in 0..label_count {
        let len = c.u16()? as usize;
        let text = std::str::from_utf8(c.take(len)?).map_err(|_| "a label is not UTF-8")?;
        let (provider, kind) = text.split_once('\t').unwrap_or((text, ""));
        label_flags.push(kind_flags(kind));
        labels.push(format!("{provider} ({kind})").into_boxed_str());
    }
    let flags_of = |label: u16| -> Result<u8, String> {
        label_flags.get(label as usize).copied().ok_or_else(|| format!("label {label} does not exist"))
    };
    let mut v4 = Vec::with_capacity(v4_count);
    for _ in 0..v4_count {
        let (start, end, label) = (c.u32()?, c.u32()?, c.u16()?);
        v4.push((start, end, (flags_of(label)?, label, u128::from(end.wrapping_sub(start)))));
    }
    let mut v6 = Vec::with_capacity(v6_count);
    for _ in 0..v6_count {
        let start = u128::from_be_bytes(c.take(16)?.try_into().expect("16 bytes"));
        let end = u128::from_be_bytes(c.take(16)?.try_into().expect("16 bytes"));
        let label = c.u16()?;
        v6.push((start, end, (flags_of(label)?, label, end.wrapping_sub(start))));
    }
    if c.at != bytes.len() {
        return Err(format!("{} bytes after the last record", bytes.len() - c.at));
    }
    // Overlaps (a Tor exit inside a hosting range) carry both flags; the narrower label wins.
    let map = RangeMap::build(v4, v6, |a, b| {
        let narrower = if b.2 < a.2 { b } else { a };
        (a.0 | b.0, narrower.1, narrower.2)
    });
    Ok(Anonymizers::Ranges { map, labels, built_at })
}

impl Anonymizers {
    /// When the bundled ranges were built (Unix seconds).
    pub fn built_at(&self) -> Option<u64> {
        match self {
            Anonymizers::Ranges { built_at, .. } => Some(*built_at),
            Anonymizers::Mmdb(r) => Some(r.metadata.build_epoch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ranges.bin with the given labels and IPv4 ranges.
    fn file(labels: &[&str], v4: &[(u32, u32, u16)]) -> Vec<u8> {
        let mut b = b"IPORIGIN".to_vec();
        b.extend(1u16.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend((labels.len() as u16).to_le_bytes());
        b.extend((v4.len() as u32).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        for l in labels {
            b.extend((l.len() as u16).to_le_bytes());
            b.extend(l.as_bytes());
        }
        for (s, e, l) in v4 {
            b.extend(s.to_le_bytes());
            b.extend(e.to_le_bytes());
            b.extend(l.to_le_bytes());
        }
        b
    }

    #[test]
    fn an_exit_inside_a_hosting_range_has_both_flags_and_the_narrower_name() {
        let base = u32::from_be_bytes([10, 1, 0, 0]);
        let bytes = file(&["Cloud\thosting", "Tor\ttor"], &[(base + 5, base + 5, 1), (base, base + 65535, 0)]);
        let anon = parse_iporigin(&bytes).unwrap();
        let at = |ip: [u8; 4]| {
            let mut f = IpFacts::default();
            anon.lookup(IpAddr::from(ip), &mut f);
            (f.is_tor, f.is_hosting, f.provider)
        };
        assert_eq!(at([10, 1, 0, 5]), (Some(true), Some(true), Some("Tor (tor)".into())));
        assert_eq!(at([10, 1, 0, 6]), (Some(false), Some(true), Some("Cloud (hosting)".into())));
        assert_eq!(at([10, 2, 0, 0]), (Some(false), Some(false), None));
    }

    #[test]
    fn a_truncated_or_foreign_file_is_refused() {
        let bytes = file(&["Cloud\thosting"], &[(1, 2, 0)]);
        assert!(parse_iporigin(&bytes[..bytes.len() - 1]).is_err());
        assert!(parse_iporigin(b"NOTORIGIN").is_err());
        assert!(parse_iporigin(&file(&["Cloud\thosting"], &[(1, 2, 7)])).is_err(), "a label that does not exist");
    }
}
