//! Context enrichment: what the server can tell about an attempt beyond what the client sent, from
//! offline data only. Address classification needs no data; user agents (`ua`), addresses (`ip`,
//! `anonymizers`) and coordinates (`geo`) are read from data sets that `Intelligence` loads, each of
//! which an operator can replace with their own file.

pub mod anonymizers;
pub mod geo;
pub mod hints;
pub mod intelligence;
pub mod ip;
pub mod ranges;
pub mod regions;
pub mod ua;

pub use intelligence::{device_key, EnrichInput, Enrichment, IntelConfig, Intelligence, LocationFlag};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use smartauth_domain::NetworkFacts;

/// The kind of address the request came from. Only `Public` addresses are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressKind {
    Public,
    Private,
    Loopback,
    Reserved,
}

/// What a data source knows about a public address. Every field is optional: a source fills what it can.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpFacts {
    pub as_code: Option<u32>,
    pub as_name: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub region_code: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    pub is_vpn: Option<bool>,
    pub is_proxy: Option<bool>,
    pub is_tor: Option<bool>,
    pub is_hosting: Option<bool>,
    /// Who runs the range when it is a known hosting, CDN, VPN or Tor range (`Amazon AWS (hosting)`).
    pub provider: Option<String>,
}

/// A source of facts about public IP addresses.
pub trait IpIntelligence: Send + Sync {
    fn lookup(&self, ip: IpAddr) -> IpFacts;

    /// Whether any data backs this source: without data, rules on IP facts cannot refuse anything.
    fn has_data(&self) -> bool {
        true
    }
}

/// The source used when no data set is installed: it knows nothing, so the rules judge only what
/// the client sent.
pub struct NoIpData;

impl IpIntelligence for NoIpData {
    fn lookup(&self, _ip: IpAddr) -> IpFacts {
        IpFacts::default()
    }

    fn has_data(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkContext {
    pub ip: IpAddr,
    pub kind: AddressKind,
    pub facts: IpFacts,
}

impl NetworkContext {
    /// The facts the decision engine judges.
    pub fn decision_facts(&self) -> NetworkFacts {
        NetworkFacts {
            ip: self.ip.to_string(),
            country_code: self.facts.country_code.clone(),
            is_vpn: self.facts.is_vpn,
            is_proxy: self.facts.is_proxy,
            is_tor: self.facts.is_tor,
            is_hosting: self.facts.is_hosting,
        }
    }
}

/// Classifies the address (IPv4-mapped IPv6 is treated as the IPv4 it carries) and looks up public ones.
pub fn network_context(ip: IpAddr, intel: &dyn IpIntelligence) -> NetworkContext {
    let ip = canonical(ip);
    let kind = classify(ip);
    let facts = if kind == AddressKind::Public { intel.lookup(ip) } else { IpFacts::default() };
    NetworkContext { ip, kind, facts }
}

pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub fn classify(ip: IpAddr) -> AddressKind {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let o = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_private() || ip.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1])) {
        // RFC 1918, link-local and carrier-grade NAT (RFC 6598) are inside someone's network.
        AddressKind::Private
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
    {
        AddressKind::Reserved
    } else {
        AddressKind::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressKind {
    let s = ip.segments();
    if let Some(kind) = classify_embedded_v4(s) {
        return kind;
    }
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
        AddressKind::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] & 0xe000) != 0x2000
    {
        // Documentation, and everything outside global unicast 2000::/3.
        AddressKind::Reserved
    } else {
        AddressKind::Public
    }
}

/// Transition addresses carry an IPv4 address, and a packet to them is delivered there by a relay:
/// they are what that address is (a 6to4 address of 10.0.0.1 reaches 10.0.0.1, not the Internet).
/// - 6to4 (`2002::/16`, RFC 3056): the IPv4 address is the next 32 bits.
/// - Teredo (`2001:0::/32`, RFC 4380): the server's IPv4 address is bits 32-63, the client's the last
///   32 bits inverted; the address is public only when both are.
fn classify_embedded_v4(s: [u16; 8]) -> Option<AddressKind> {
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match (s[0], s[1]) {
        (0x2002, _) => Some(classify_v4(v4(s[1], s[2]))),
        (0x2001, 0x0000) => {
            let server = classify_v4(v4(s[2], s[3]));
            let client = classify_v4(v4(!s[6], !s[7]));
            Some(if client != AddressKind::Public { client } else { server })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Everything;
    impl IpIntelligence for Everything {
        fn lookup(&self, _ip: IpAddr) -> IpFacts {
            IpFacts { country_code: Some("BR".into()), is_vpn: Some(true), ..Default::default() }
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        assert_eq!(classify(ip("127.0.0.1")), AddressKind::Loopback);
        assert_eq!(classify(ip("::1")), AddressKind::Loopback);
        assert_eq!(classify(ip("10.1.2.3")), AddressKind::Private);
        assert_eq!(classify(ip("100.64.0.1")), AddressKind::Private);
        assert_eq!(classify(ip("fd00::1")), AddressKind::Private);
        assert_eq!(classify(ip("192.0.2.1")), AddressKind::Reserved);
        assert_eq!(classify(ip("2001:db8::1")), AddressKind::Reserved);
        assert_eq!(classify(ip("8.8.8.8")), AddressKind::Public);
        assert_eq!(classify(ip("2804:d0c::1")), AddressKind::Public);
    }

    #[test]
    fn six_to_four_and_teredo_addresses_are_what_they_carry() {
        // 6to4 of 10.0.0.1, 127.0.0.1, 192.168.1.1, 169.254.169.254 (cloud metadata), 8.8.8.8.
        assert_eq!(classify(ip("2002:a00:1::")), AddressKind::Private);
        assert_eq!(classify(ip("2002:7f00:1::1")), AddressKind::Loopback);
        assert_eq!(classify(ip("2002:c0a8:101::")), AddressKind::Private);
        assert_eq!(classify(ip("2002:a9fe:a9fe::")), AddressKind::Private);
        assert_eq!(classify(ip("2002:808:808::1")), AddressKind::Public);
        // Teredo: server 65.54.227.120; client 10.0.0.1, 127.0.0.1, 8.8.8.8 (stored inverted).
        assert_eq!(classify(ip("2001:0:4136:e378:8000:63bf:f5ff:fffe")), AddressKind::Private);
        assert_eq!(classify(ip("2001:0:4136:e378:8000:63bf:80ff:fffe")), AddressKind::Loopback);
        assert_eq!(classify(ip("2001:0:4136:e378:8000:63bf:f7f7:f7f7")), AddressKind::Public);
        // A Teredo server inside a private network.
        assert_eq!(classify(ip("2001:0:a00:1:8000:63bf:f7f7:f7f7")), AddressKind::Private);
        // Outside those prefixes nothing changes.
        assert_eq!(classify(ip("2001:4860:4860::8888")), AddressKind::Public);
    }

    #[test]
    fn ipv4_mapped_addresses_are_their_ipv4() {
        let ctx = network_context(ip("::ffff:8.8.8.8"), &Everything);
        assert_eq!(ctx.ip, ip("8.8.8.8"));
        assert_eq!(ctx.decision_facts().country_code.as_deref(), Some("BR"));
    }

    #[test]
    fn only_public_addresses_are_looked_up() {
        let ctx = network_context(ip("192.168.0.10"), &Everything);
        assert_eq!(ctx.kind, AddressKind::Private);
        assert_eq!(ctx.facts, IpFacts::default());
        assert_eq!(ctx.decision_facts().is_vpn, None);
    }
}
