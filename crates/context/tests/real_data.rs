//! The enrichment against the real data sets that `scripts/fetch-data.sh` installs (the test script
//! runs it first). A missing data set fails these tests: it never skips them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use smartauth_context::ua::UserAgentInfo;
use smartauth_context::{AddressKind, EnrichInput, IntelConfig, Intelligence, LocationFlag};
use smartauth_domain::Coordinates;

fn intel() -> &'static Intelligence {
    static INTEL: OnceLock<Intelligence> = OnceLock::new();
    INTEL.get_or_init(|| {
        let dir = std::env::var_os("SMARTAUTH_INTEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/intel")));
        let intel = Intelligence::load(&IntelConfig { dir: dir.clone(), ..Default::default() });
        let missing: Vec<_> = intel.status.iter().filter(|s| !s.loaded).collect();
        assert!(
            missing.is_empty(),
            "data sets missing in {}: {missing:#?}\nrun: bash scripts/fetch-data.sh",
            dir.display()
        );
        intel
    })
}

fn ua(s: &str) -> UserAgentInfo {
    (*intel().user_agents.as_ref().expect("loaded").parse(s)).clone()
}

fn facts(ip: &str) -> smartauth_context::NetworkContext {
    intel()
        .enrich(&EnrichInput {
            tenant: "t",
            ip: ip.parse().unwrap(),
            user_agent: None,
            client_hints: None,
            fingerprint: None,
            coordinates: None,
        })
        .network
}

/// The parsed fields as ua-parser-js 1.0.41 gives them for the same string (run with Node).
fn fields(i: &UserAgentInfo) -> [Option<&str>; 10] {
    [
        i.browser.name.as_deref(),
        i.browser.version.as_deref(),
        i.browser.major.as_deref(),
        i.engine.name.as_deref(),
        i.engine.version.as_deref(),
        i.os.name.as_deref(),
        i.os.version.as_deref(),
        i.device.vendor.as_deref(),
        i.device.model.as_deref(),
        i.device.kind.as_deref(),
    ]
}

#[test]
fn current_chrome_on_windows() {
    let i = ua("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36");
    assert_eq!(
        fields(&i),
        [
            Some("Chrome"),
            Some("131.0.0.0"),
            Some("131"),
            Some("Blink"),
            Some("131.0.0.0"),
            Some("Windows"),
            Some("10"),
            None,
            None,
            None
        ]
    );
    assert_eq!(i.cpu.architecture.as_deref(), Some("amd64"));
}

#[test]
fn safari_on_iphone() {
    let i = ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1");
    assert_eq!(
        fields(&i),
        [
            Some("Mobile Safari"),
            Some("17.5"),
            Some("17"),
            Some("WebKit"),
            Some("605.1.15"),
            Some("iOS"),
            Some("17.5"),
            Some("Apple"),
            Some("iPhone"),
            Some("mobile")
        ]
    );
    assert_eq!(i.cpu.architecture, None);
}

#[test]
fn samsung_internet() {
    let i = ua("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36");
    assert_eq!(
        fields(&i),
        [
            Some("Samsung Internet"),
            Some("25.0"),
            Some("25"),
            Some("Blink"),
            Some("121.0.0.0"),
            Some("Android"),
            Some("14"),
            Some("Samsung"),
            Some("SM-S918B"),
            Some("mobile")
        ]
    );
}

#[test]
fn firefox_on_linux() {
    let i = ua("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0");
    assert_eq!(
        fields(&i),
        [
            Some("Firefox"),
            Some("133.0"),
            Some("133"),
            Some("Gecko"),
            Some("133.0"),
            Some("Linux"),
            None,
            None,
            None,
            None
        ]
    );
    assert_eq!(i.cpu.architecture.as_deref(), Some("amd64"));
}

#[test]
fn android_webview() {
    let i = ua("Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36");
    assert_eq!(
        fields(&i),
        [
            Some("Chrome WebView"),
            Some("120.0.6099.230"),
            Some("120"),
            Some("Blink"),
            Some("120.0.6099.230"),
            Some("Android"),
            Some("13"),
            Some("Google"),
            Some("Pixel 7"),
            Some("mobile")
        ]
    );
}

#[test]
fn safari_on_a_mac_has_no_device_type() {
    let i = ua("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15");
    assert_eq!(
        fields(&i),
        [
            Some("Safari"),
            Some("17.4"),
            Some("17"),
            Some("WebKit"),
            Some("605.1.15"),
            Some("Mac OS"),
            Some("10.15.7"),
            Some("Apple"),
            Some("Mac"),
            None
        ]
    );
}

#[test]
fn garbage_and_huge_user_agents_parse_to_nothing_without_failing() {
    let i = ua("\u{0}\u{ffff}not a browser at all");
    assert_eq!(fields(&i), [None; 10]);
    let huge = "Mozilla/5.0 (".repeat(10_000);
    let _ = ua(&huge);
}

#[test]
fn a_public_resolver_gives_its_autonomous_system_and_country() {
    let google = facts("8.8.8.8");
    assert_eq!(google.kind, AddressKind::Public);
    assert_eq!(google.facts.as_code, Some(15169));
    assert_eq!(google.facts.as_name.as_deref(), Some("Google LLC"));
    assert_eq!(google.facts.country_code.as_deref(), Some("US"));
    assert_eq!(google.facts.country.as_deref(), Some("United States"));
    assert_eq!(google.facts.region_code.as_deref(), Some("CA"));
    assert_eq!(google.facts.is_hosting, Some(true));
    assert_eq!(google.facts.is_tor, Some(false));

    let cloudflare = facts("2606:4700:4700::1111");
    assert_eq!(cloudflare.facts.as_code, Some(13335));
    assert_eq!(cloudflare.facts.as_name.as_deref(), Some("Cloudflare, Inc."));
}

#[test]
fn a_brazilian_address_gets_its_state_code() {
    let sp = facts("201.6.0.1");
    assert_eq!(sp.facts.country_code.as_deref(), Some("BR"));
    assert_eq!(sp.facts.country.as_deref(), Some("Brazil"));
    assert_eq!(sp.facts.region_code.as_deref(), Some("SP"));
    assert_eq!(sp.facts.region.as_deref(), Some("São Paulo"), "the ISO name, not DB-IP's ASCII one");
    assert_eq!(sp.facts.city.as_deref(), Some("São Paulo"), "the places table's spelling, not DB-IP's ASCII one");
    assert!(sp.facts.as_code.is_some());
    assert_eq!(sp.facts.is_vpn, Some(false));
    assert_eq!(sp.facts.is_hosting, Some(false));
    // Amazon's São Paulo region is in the same city, but a hosting range.
    let aws = facts("177.71.128.1");
    assert_eq!((aws.facts.is_hosting, aws.facts.as_code), (Some(true), Some(16509)));
    assert_eq!(aws.facts.provider.as_deref(), Some("Amazon AWS (hosting)"));
}

#[test]
fn tor_exits_vpns_and_ipv4_mapped_addresses_are_flagged() {
    let tor = facts("185.220.101.1");
    assert_eq!(tor.facts.is_tor, Some(true));
    assert_eq!(tor.decision_facts().is_tor, Some(true));
    let mapped = facts("::ffff:185.220.101.1");
    assert_eq!(mapped.ip, "185.220.101.1".parse::<IpAddr>().unwrap());
    assert_eq!(mapped.facts.is_tor, Some(true));
    let vpn = facts("23.144.160.67");
    assert_eq!(vpn.facts.is_vpn, Some(true));
    assert!(vpn.facts.provider.as_deref().unwrap_or_default().contains("Mullvad"));
}

#[test]
fn documentation_private_and_loopback_addresses_are_not_looked_up() {
    for (ip, kind) in [
        ("192.0.2.1", AddressKind::Reserved),
        ("2001:db8::1", AddressKind::Reserved),
        ("10.0.0.1", AddressKind::Private),
        ("127.0.0.1", AddressKind::Loopback),
    ] {
        let n = facts(ip);
        assert_eq!(n.kind, kind, "{ip}");
        assert_eq!(n.facts, Default::default(), "{ip} must not be looked up");
    }
}

fn place_at(lat: f64, lon: f64, ip: &str) -> smartauth_context::Enrichment {
    intel().enrich(&EnrichInput {
        tenant: "t",
        ip: ip.parse().unwrap(),
        user_agent: None,
        client_hints: None,
        fingerprint: None,
        coordinates: Some(Coordinates::new(lat, lon).unwrap()),
    })
}

#[test]
fn sao_paulo_coordinates_give_sao_paulo_sp_brazil() {
    let e = place_at(-23.5600, -46.6376, "201.6.0.1");
    let p = e.place.expect("a place");
    assert_eq!(p.city.as_deref(), Some("São Paulo"));
    assert_eq!(p.region.as_deref(), Some("São Paulo"));
    assert_eq!(p.region_code.as_deref(), Some("SP"));
    assert_eq!(p.country.as_deref(), Some("Brazil"));
    assert_eq!(p.country_code.as_deref(), Some("BR"));
    assert!(e.location_flags.is_empty(), "{:?}", e.location_flags);
}

#[test]
fn suspicious_coordinates_are_flagged() {
    assert!(place_at(0.0, 0.0, "201.6.0.1").location_flags.contains(&LocationFlag::NullIsland));
    // Mid-Atlantic: no populated place within reach.
    let sea = place_at(-20.0, -25.0, "201.6.0.1");
    assert!(sea.place.is_none());
    assert!(sea.location_flags.contains(&LocationFlag::NoNearbyPlace));
    // Lisbon with a Brazilian address.
    let lisbon = place_at(38.7223, -9.1393, "201.6.0.1");
    assert_eq!(lisbon.place.unwrap().country_code.as_deref(), Some("PT"));
    assert!(lisbon.location_flags.contains(&LocationFlag::FarFromIpCountry));
}

#[test]
fn device_keys_are_stable_within_a_tenant_and_differ_across_tenants() {
    let a = smartauth_context::device_key("tenant-a", "fp-123");
    assert_eq!(a, smartauth_context::device_key("tenant-a", " fp-123 "));
    assert_ne!(a, smartauth_context::device_key("tenant-b", "fp-123"));
    assert_eq!(a.len(), 32);
}

#[test]
fn every_data_set_reports_itself() {
    let names: Vec<_> = intel().status.iter().map(|s| s.name).collect();
    for n in ["iso3166", "userAgents", "ipCity", "ipAsn", "ipAnonymizers", "places"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let asn = intel().status.iter().find(|s| s.name == "ipAsn").unwrap();
    assert!(asn.entries.unwrap() > 400_000);
    assert_eq!(asn.date.as_deref(), Some("2026-06-17"));
}

/// Folded for comparison: no accents, case, hyphens or apostrophes.
fn folded(name: &str) -> String {
    smartauth_context::regions::fold(name).to_lowercase().replace(['-', '\'', '’'], " ")
}

#[test]
fn downtown_rio_is_rio_not_niteroi_across_the_bay() {
    // Niterói's point is nearer than Rio's, but Rio is 15 times its size.
    let rio = place_at(-22.9068, -43.1729, "201.6.0.1").place.expect("a place");
    assert_eq!(rio.city.as_deref(), Some("Rio de Janeiro"));
    assert_eq!(rio.region_code.as_deref(), Some("RJ"));
    // The rule's known cost: downtown Niterói, 6 km from Rio's point across the bay, is named Rio too (the one
    // centre of the test set the weighting breaks; README, "Places").
    let se = place_at(-23.5505, -46.6333, "201.6.0.1").place.expect("a place");
    assert_eq!(se.city.as_deref(), Some("São Paulo"), "not the Sé district whose point is 400 m away");
}

/// The city test set (318 centres: Brazil's 27 capitals, 122 other Brazilian cities, 169 of the world's
/// largest; landmark coordinates, not GeoNames'): the place named must be one of the row's names, in its
/// country, for at least 95% of the rows (96.9% measured with cities.csv; 80.8% with the nearest point of
/// countrystatecity's places.csv before).
#[test]
fn city_centres_are_named_after_their_city() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/city_centres.csv");
    let mut reader = csv::Reader::from_path(path).expect("the city test set");
    let (mut right, mut rows, mut capitals_wrong) = (0, 0, Vec::new());
    for row in reader.records() {
        let row = row.expect("a row");
        let (lat, lon): (f64, f64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        let names: Vec<String> = row[3].split('|').map(folded).collect();
        let place = place_at(lat, lon, "201.6.0.1").place;
        let ok = place.as_ref().is_some_and(|p| {
            p.country_code.as_deref() == Some(&row[4]) && p.city.as_deref().is_some_and(|c| names.contains(&folded(c)))
        });
        rows += 1;
        right += usize::from(ok);
        if !ok && rows <= 27 {
            capitals_wrong.push(format!("{} → {:?}", &row[2], place.and_then(|p| p.city)));
        }
    }
    assert_eq!(rows, 318);
    let share = right as f64 / rows as f64;
    assert!(share >= 0.95, "{right} of {rows} named right ({:.1}%)", share * 100.0);
    assert!(capitals_wrong.len() <= 1, "Brazilian capitals named wrong: {capitals_wrong:?}");
}

/// Families the second corpus found missing (issue 13), as ua-parser-js 1.0.41 names them (run with Node):
/// systems that name themselves beside another, tablets known by their maker's model numbers, TVs by theirs.
#[test]
fn newer_platforms_and_tablets_known_by_model() {
    let os_and_type = |s: &str| {
        let i = ua(s);
        (i.os.name.clone(), i.os.version.clone(), i.device.kind.clone())
    };
    let some = |v: &str| Some(v.to_owned());
    for (agent, os, version, kind) in [
        (
            "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.11.0.302) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/99.0.4844.88 HuaweiBrowser/14.0.2.311 Mobile Safari/537.36",
            "HarmonyOS",
            "12",
            Some("mobile"),
        ),
        ("server-bag [Watch OS,9.1,20S75,Watch6,2]", "watchOS", "9.1", Some("wearable")),
        (
            "Mozilla/5.0 (Linux; Android 9; AFTKA) AppleWebKit/537.36 (KHTML, like Gecko) Silk/118.3.1 like \
             Chrome/118.0.5993.155 Safari/537.36",
            "Android",
            "9",
            Some("smarttv"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; BAH3-W09) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Android",
            "10",
            Some("tablet"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Android",
            "12",
            Some("tablet"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/127.0.0.0 Mobile \
             DuckDuckGo/5 Safari/537.36",
            "Android",
            "13",
            Some("mobile"),
        ),
        (
            "Opera/9.80 NETTV/4.5.0 Mozilla/5.0 (Linux armv7i; CE-HTML/1.0; U; en) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/49.0.2623.75 Safari/537.36 Tbrowser/2.0",
            "NETTV",
            "4.5.0",
            None,
        ),
    ] {
        assert_eq!(os_and_type(agent), (some(os), some(version), kind.map(str::to_owned)), "{agent}");
    }
}

#[test]
fn a_big_city_does_not_name_a_town_across_a_border() {
    // Sheung Shui, Hong Kong: Shenzhen is far bigger and near, but in another country (it would decide
    // BLOCKED_COUNTRY for CN); Kreuzlingen, Switzerland, beside Konstanz, Germany.
    let sheung_shui = place_at(22.5015, 114.1280, "201.6.0.1").place.expect("a place");
    assert_eq!(sheung_shui.country_code.as_deref(), Some("HK"), "{sheung_shui:?}");
    let kreuzlingen = place_at(47.6500, 9.1750, "201.6.0.1").place.expect("a place");
    assert_eq!(kreuzlingen.country_code.as_deref(), Some("CH"), "{kreuzlingen:?}");
}

/// A browser's or a bot's product token is not a device model: Huawei agents that name their model only
/// after the Android version read as model `Browser` (out of `HuaweiBrowser/`), 172 of the second corpus.
#[test]
fn a_browser_token_is_not_a_device_model() {
    let model = |s: &str| ua(s).device.model.clone();
    for (agent, expected) in [
        (
            "Mozilla/5.0 (Linux; Android 10; NZA-AL00; HMSCore 6.1.0.314) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/88.0.4324.93 HuaweiBrowser/11.1.5.310 Mobile Safari/537.36",
            Some("NZA-AL00"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.11.0.302) AppleWebKit/537.36 (KHTML, like \
             Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.2.311 Mobile Safari/537.36",
            Some("NOH-AN00"),
        ),
        (
            "Mozilla/5.0 (PC; OpenHarmony 6.1; Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/132.0.0.0 Safari/537.36 ArkWeb/6.1.0.100 HuaweiBrowser/6.1.3.321",
            None,
        ),
        (
            "Opera/9.80 (Linux armv6l; Opera TV Store/5599) Presto/2.12.362 Version/12.11 SonyCEBrowser/1.0 \
             (BDP8G_AX; BDP2013/M14.R.0197; AUS; )",
            None,
        ),
        // A model glued to its maker stays a model.
        (
            "Mozilla/5.0 (Symbian/3; Series60/5.2 NokiaN8-00/014.002; Profile/MIDP-2.1 Configuration/CLDC-1.1; \
             en-us) AppleWebKit/525 (KHTML, like Gecko) Version/3.0 BrowserNG/7.2.6.4 3gpp-gba",
            Some("N8-00"),
        ),
    ] {
        assert_eq!(model(agent).as_deref(), expected, "{agent}");
    }
}
