//! An operator's own MaxMind databases in GeoIP2 layouts replace the bundled sets. MaxMind's
//! published test databases (fetched by `scripts/fetch-data.sh --test-fixtures` from the geoip2
//! package's source distribution) stand in for commercial GeoIP2 City, GeoLite2 ASN and GeoIP2
//! Anonymous-IP files: same formats, fake data.

use std::path::PathBuf;

use smartauth_context::{EnrichInput, IntelConfig, Intelligence, IpFacts};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn intel() -> Intelligence {
    let fixtures = root().join("data/test-fixtures/geoip2");
    let config = IntelConfig {
        dir: root().join("data/intel"),
        city_mmdb: Some(fixtures.join("GeoIP2-City-Test.mmdb")),
        asn_mmdb: Some(fixtures.join("GeoLite2-ASN-Test.mmdb")),
        anonymous_mmdb: Some(fixtures.join("GeoIP2-Anonymous-IP-Test.mmdb")),
        places_csv: None,
    };
    let intel = Intelligence::load(&config);
    let missing: Vec<_> = intel.status.iter().filter(|s| !s.loaded).collect();
    assert!(missing.is_empty(), "{missing:#?}\nrun: bash scripts/fetch-data.sh --test-fixtures");
    intel
}

fn facts(intel: &Intelligence, ip: &str) -> IpFacts {
    intel
        .enrich(&EnrichInput {
            tenant: "t",
            ip: ip.parse().unwrap(),
            user_agent: None,
            client_hints: None,
            fingerprint: None,
            coordinates: None,
        })
        .network
        .facts
}

#[test]
fn a_geoip2_city_file_gives_city_subdivision_and_country() {
    let intel = intel();
    let london = facts(&intel, "81.2.69.142");
    assert_eq!(london.city.as_deref(), Some("London"));
    assert_eq!(london.region_code.as_deref(), Some("ENG"));
    assert_eq!(london.region.as_deref(), Some("England"));
    assert_eq!((london.country.as_deref(), london.country_code.as_deref()), (Some("United Kingdom"), Some("GB")));

    let san_diego = facts(&intel, "2001:480:10::1");
    assert_eq!(san_diego.city.as_deref(), Some("San Diego"));
    assert_eq!((san_diego.region_code.as_deref(), san_diego.country_code.as_deref()), (Some("CA"), Some("US")));

    // The status names the operator's file.
    let city = intel.status.iter().find(|s| s.name == "ipCity").unwrap();
    assert!(city.source.ends_with("GeoIP2-City-Test.mmdb"), "{}", city.source);
}

#[test]
fn a_geolite2_asn_file_gives_the_autonomous_system() {
    let intel = intel();
    let telstra = facts(&intel, "1.128.0.0");
    assert_eq!((telstra.as_code, telstra.as_name.as_deref()), (Some(1221), Some("Telstra Pty Ltd")));
    let sunrise = facts(&intel, "2001:1700::1");
    assert_eq!(sunrise.as_code, Some(6730));
    let unknown = facts(&intel, "8.8.8.8");
    assert_eq!((unknown.as_code, unknown.as_name), (None, None));
}

#[test]
fn a_geoip2_anonymous_ip_file_gives_the_flags() {
    let intel = intel();
    let flags = |ip: &str| {
        let f = facts(&intel, ip);
        (f.is_vpn, f.is_tor, f.is_proxy, f.is_hosting)
    };
    assert_eq!(flags("1.2.0.1"), (Some(true), Some(false), Some(false), Some(false)));
    assert_eq!(flags("65.0.0.1"), (Some(false), Some(true), Some(false), Some(false)));
    assert_eq!(flags("186.30.236.1"), (Some(false), Some(false), Some(true), Some(false)));
    assert_eq!(flags("71.160.223.1"), (Some(false), Some(false), Some(false), Some(true)));
    assert_eq!(flags("81.2.69.142"), (Some(true), Some(true), Some(true), Some(true)));
    // Listed with no flag set, and not listed at all: known not to be an anonymizer.
    assert_eq!(flags("8.8.8.8"), (Some(false), Some(false), Some(false), Some(false)));
}
