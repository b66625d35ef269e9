//! Properties of the decision engine over generated policies, contexts and histories (issue 8, Proof):
//! it never panics, and it never approves what a hard rule blocks.
//!
//! The hard rules, read from `decision.rs` (the verdicts built with `ContextVerdict::block`):
//! - `MAX_ATTEMPTS_PER_IDENTITY`: the identity's attempts in the window reach `maxAttemptsPerIdentity.limit`;
//! - `MAX_IDENTITIES_PER_DEVICE`: device context on, the attempt names a device fingerprint, and that
//!   device is already known for `maxIdentitiesPerDevice` other identities or more;
//! - `BLOCKED_COUNTRY`: location context on, and the device's place or the address is in a blocked country
//!   (whatever the letter case on either side);
//! - `TOR_NOT_ALLOWED`: network context on, the address is a Tor exit node and `allowTor` is not set.
//!
//! Each holds on what the tenant wrote (the wire policy, with the documented defaults for what it leaves
//! out), not on the parsed [`Policy`]: a normalization that lost a rule would show here. Policies are
//! built only through [`Policy::parse`]. `PROPTEST_CASES` raises the case count (256 by default).

use chrono::{DateTime, TimeDelta, Utc};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{json, Map, Value};
use smartauth_domain::context::{DeviceInput, LocationInput};
use smartauth_domain::geo::MAX_DISTANCE_M;
use smartauth_domain::policy::MAX_TRAVEL_SPEED_KMH;
use smartauth_domain::{decide, Coordinates, Decision, DecisionInput, History, Method, NetworkFacts, Policy, Status};

/// Mixed case on purpose: policies are normalized to upper case, facts may come in either.
const COUNTRIES: &[&str] = &["BR", "KP", "kp", "pt", "US", "Ir"];
const FINGERPRINTS: &[&str] = &["phone-1", "phone-2", "tablet-3"];
/// Places near and far from each other, so that known, near, far and impossible-travel cases all occur.
const PLACES: &[(f64, f64)] =
    &[(-23.56, -46.6376), (-23.4538, -46.5333), (38.7223, -9.1393), (0.0, 0.0), (90.0, 180.0), (-90.0, -180.0)];

/// A policy as a tenant writes it: `None` leaves the field out (its default applies).
#[derive(Debug, Clone)]
struct WirePolicy {
    device: Option<WireDevice>,
    location: Option<WireLocation>,
    network: Option<WireNetwork>,
    limit: Option<(u32, u32)>,
    methods: Option<Vec<Method>>,
}

#[derive(Debug, Clone)]
struct WireDevice {
    enabled: Option<bool>,
    max_devices_per_identity: Option<u32>,
    max_identities_per_device: Option<u32>,
    allow_emulator: Option<bool>,
    allow_root_or_jailbreak: Option<bool>,
}

#[derive(Debug, Clone)]
struct WireLocation {
    enabled: Option<bool>,
    max_allowed_distance_in_meters: Option<f64>,
    max_travel_speed_kmh: Option<f64>,
    blocked_countries: Vec<String>,
}

#[derive(Debug, Clone)]
struct WireNetwork {
    enabled: Option<bool>,
    allow_proxy_or_vpn: Option<bool>,
    allow_tor: Option<bool>,
    allow_hosting: Option<bool>,
}

/// API.md's defaults for the fields a hard rule reads.
const DEFAULT_LIMIT: u32 = 10;
const DEFAULT_MAX_IDENTITIES_PER_DEVICE: u32 = 2;

fn put<T: serde::Serialize>(object: &mut Map<String, Value>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        object.insert(key.to_owned(), json!(v));
    }
}

impl WirePolicy {
    fn document(&self) -> Value {
        let mut contexts = Map::new();
        if let Some(d) = &self.device {
            let mut o = Map::new();
            put(&mut o, "enabled", &d.enabled);
            put(&mut o, "maxDevicesPerIdentity", &d.max_devices_per_identity);
            put(&mut o, "maxIdentitiesPerDevice", &d.max_identities_per_device);
            put(&mut o, "allowEmulator", &d.allow_emulator);
            put(&mut o, "allowRootOrJailbreak", &d.allow_root_or_jailbreak);
            contexts.insert("device_context".into(), o.into());
        }
        if let Some(l) = &self.location {
            let mut o = Map::new();
            put(&mut o, "enabled", &l.enabled);
            put(&mut o, "maxAllowedDistanceInMeters", &l.max_allowed_distance_in_meters);
            put(&mut o, "maxTravelSpeedKmh", &l.max_travel_speed_kmh);
            o.insert("blockedCountries".into(), json!(l.blocked_countries));
            contexts.insert("location_context".into(), o.into());
        }
        if let Some(n) = &self.network {
            let mut o = Map::new();
            put(&mut o, "enabled", &n.enabled);
            put(&mut o, "allowProxyOrVpn", &n.allow_proxy_or_vpn);
            put(&mut o, "allowTor", &n.allow_tor);
            put(&mut o, "allowHosting", &n.allow_hosting);
            contexts.insert("network_context".into(), o.into());
        }
        let mut doc = Map::new();
        doc.insert("name".into(), "Generated".into());
        doc.insert("contexts".into(), contexts.into());
        if let Some((limit, window)) = self.limit {
            doc.insert("maxAttemptsPerIdentity".into(), json!({"limit": limit, "windowSeconds": window}));
        }
        put(&mut doc, "reauthenticationMethods", &self.methods);
        doc.into()
    }
}

/// Everything the engine reads besides the policy.
#[derive(Debug, Clone)]
struct Scenario {
    device: Option<DeviceInput>,
    location: Option<LocationInput>,
    network: NetworkFacts,
    location_country: Option<String>,
    suspicious_location: Option<&'static str>,
    history: History,
    now: DateTime<Utc>,
    available_methods: Vec<Method>,
}

/// Small values most of the time, so that the limits are met as often as not; any valid value sometimes.
fn count(small: u32, max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0..=small, 1 => 0..=max]
}

fn country() -> impl Strategy<Value = String> {
    select(COUNTRIES).prop_map(str::to_owned)
}

fn place() -> impl Strategy<Value = Coordinates> {
    prop_oneof![
        select(PLACES),
        // A few kilometres around a place: GPS noise and the 5 km travel threshold.
        (select(PLACES), -0.1f64..0.1, -0.1f64..0.1)
            .prop_map(|((la, lo), dla, dlo)| ((la + dla).clamp(-90.0, 90.0), (lo + dlo).clamp(-180.0, 180.0))),
        (-90.0f64..=90.0, -180.0f64..=180.0),
    ]
    .prop_map(|(la, lo)| Coordinates::new(la, lo).expect("generated coordinates are in range"))
}

fn methods() -> impl Strategy<Value = Vec<Method>> {
    subsequence(Method::ALL.to_vec(), 0..=3).prop_shuffle()
}

fn wire_policy() -> impl Strategy<Value = WirePolicy> {
    let device = (
        option::of(any::<bool>()),
        option::of(prop_oneof![1u32..=4, 1u32..=1000]),
        option::of(prop_oneof![1u32..=4, 1u32..=1000]),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(enabled, max_devices_per_identity, max_identities_per_device, allow_emulator, allow_root)| {
            WireDevice {
                enabled,
                max_devices_per_identity,
                max_identities_per_device,
                allow_emulator,
                allow_root_or_jailbreak: allow_root,
            }
        });
    let location = (
        option::of(any::<bool>()),
        option::of(prop_oneof![1.0f64..=100_000.0, 1.0f64..=MAX_DISTANCE_M]),
        option::of(1.0f64..=MAX_TRAVEL_SPEED_KMH),
        prop::collection::vec(country(), 0..=3),
    )
        .prop_map(|(enabled, distance, speed, blocked_countries)| WireLocation {
            enabled,
            max_allowed_distance_in_meters: distance,
            max_travel_speed_kmh: speed,
            blocked_countries,
        });
    let network =
        (option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<bool>()), option::of(any::<bool>()))
            .prop_map(|(enabled, allow_proxy_or_vpn, allow_tor, allow_hosting)| WireNetwork {
                enabled,
                allow_proxy_or_vpn,
                allow_tor,
                allow_hosting,
            });
    (
        option::of(device),
        option::of(location),
        option::of(network),
        option::of((prop_oneof![1u32..=6, 1u32..=100_000], 1u32..=30 * 86_400)),
        option::of(methods()),
    )
        .prop_map(|(device, location, network, limit, methods)| WirePolicy {
            device,
            location,
            network,
            limit,
            methods,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let device =
        (option::of(select(FINGERPRINTS)), any::<bool>(), any::<bool>()).prop_map(|(fingerprint, emulator, rooted)| {
            DeviceInput { fingerprint: fingerprint.map(str::to_owned), emulator, rooted, ..Default::default() }
        });
    let location = (place(), option::of(0.0f64..=MAX_DISTANCE_M))
        .prop_map(|(coordinates, accuracy)| LocationInput { coordinates, accuracy });
    let network = (
        option::of(country()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(country_code, is_vpn, is_proxy, is_tor, is_hosting)| NetworkFacts {
            ip: "198.51.100.7".into(),
            country_code,
            is_vpn,
            is_proxy,
            is_tor,
            is_hosting,
        });
    // Any instant from 1970 to about 2220, and a last approval up to a month before it or a day after
    // it (clocks disagree).
    let now = (0i64..=8_000_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).expect("in chrono's range"));
    let last_approved = option::of((-30 * 86_400i64..=86_400, place()));
    let history = (
        prop::collection::vec(select(FINGERPRINTS).prop_map(str::to_owned), 0..=4),
        count(6, 1005),
        prop::collection::vec(place(), 0..=3),
        count(8, 100_010),
    );
    (
        option::of(device),
        option::of(location),
        network,
        option::of(country()),
        option::of(Just("the coordinates are 0,0")),
        now,
        last_approved,
        history,
        methods(),
    )
        .prop_map(
            |(
                device,
                location,
                network,
                location_country,
                suspicious_location,
                now,
                last_approved,
                (known_devices, other_identities_on_device, known_locations, attempts_in_window),
                available_methods,
            )| Scenario {
                device,
                location,
                network,
                location_country,
                suspicious_location,
                history: History {
                    known_devices,
                    known_device_keys: Vec::new(),
                    other_identities_on_device,
                    known_locations,
                    last_approved_location: last_approved.map(|(offset, at)| (now + TimeDelta::seconds(offset), at)),
                    last_approved_accuracy_m: None,
                    attempts_in_window,
                },
                now,
                available_methods,
            },
        )
}

/// The hard rules whose condition holds, judged from the wire policy and the scenario alone.
fn hard_rules_that_hold(wire: &WirePolicy, s: &Scenario) -> Vec<&'static str> {
    let mut holding = Vec::new();
    let limit = wire.limit.map_or(DEFAULT_LIMIT, |(limit, _)| limit);
    if s.history.attempts_in_window >= limit {
        holding.push("MAX_ATTEMPTS_PER_IDENTITY");
    }
    if let Some(d) = wire.device.as_ref().filter(|d| d.enabled != Some(false)) {
        let max = d.max_identities_per_device.unwrap_or(DEFAULT_MAX_IDENTITIES_PER_DEVICE);
        let fingerprinted = s.device.as_ref().is_some_and(|d| d.fingerprint.is_some());
        if fingerprinted && s.history.other_identities_on_device >= max {
            holding.push("MAX_IDENTITIES_PER_DEVICE");
        }
    }
    if let Some(l) = wire.location.as_ref().filter(|l| l.enabled != Some(false)) {
        let blocked = |country: Option<&str>| {
            country.is_some_and(|c| l.blocked_countries.iter().any(|b| b.eq_ignore_ascii_case(c)))
        };
        if blocked(s.location_country.as_deref()) || blocked(s.network.country_code.as_deref()) {
            holding.push("BLOCKED_COUNTRY");
        }
    }
    if let Some(n) = wire.network.as_ref().filter(|n| n.enabled != Some(false)) {
        if s.network.is_tor == Some(true) && n.allow_tor != Some(true) {
            holding.push("TOR_NOT_ALLOWED");
        }
    }
    holding
}

fn run(policy: &Policy, s: &Scenario) -> Decision {
    let context = smartauth_domain::AttemptContext { device: s.device.clone(), location: s.location.clone() };
    decide(&DecisionInput {
        policy,
        context: &context,
        network: &s.network,
        location_country: s.location_country.as_deref(),
        suspicious_location: s.suspicious_location,
        history: &s.history,
        now: s.now,
        available_methods: &s.available_methods,
    })
}

proptest! {
    #[test]
    fn a_hard_rule_that_holds_always_reproves_and_blocks(wire in wire_policy(), s in scenario()) {
        let document = wire.document();
        let policy = Policy::parse("generated", document.clone())
            .unwrap_or_else(|e| panic!("a valid policy was refused ({e}): {document}"));
        // Never panics: any panic in `decide` fails the property with the inputs that caused it.
        let d = run(&policy, &s);
        let holding = hard_rules_that_hold(&wire, &s);
        let verdicts = [("device", &d.device), ("location", &d.location), ("network", &d.network)];

        if holding.is_empty() {
            prop_assert!(!d.is_blocked, "blocked although no hard rule holds: {d:?}");
            prop_assert!(verdicts.iter().all(|(_, v)| !v.blocks), "a verdict blocks although no hard rule holds: {d:?}");
        } else {
            prop_assert_ne!(d.status, Status::Approved, "{:?} hold, yet approved: {:?}", holding, d);
            prop_assert_eq!(d.status, Status::Reproved, "{:?} hold: {:?}", holding, d);
            prop_assert!(d.is_blocked && !d.valid && d.is_new_context, "{holding:?} hold: {d:?}");
            prop_assert!(d.needed_reauthentications.is_empty(), "{holding:?} hold, yet a step-up is offered: {d:?}");
            let blocking: Vec<&str> = verdicts.iter().filter(|(_, v)| v.blocks).map(|(_, v)| v.reason).collect();
            prop_assert!(
                blocking.iter().all(|r| holding.contains(r)),
                "blocked by {blocking:?}, which do not hold (holding: {holding:?})"
            );
            // The context a rule belongs to is itself reproved and blocking (by that rule or by the attempt limit).
            for (rule, context) in
                [("MAX_IDENTITIES_PER_DEVICE", "device"), ("BLOCKED_COUNTRY", "location"), ("TOR_NOT_ALLOWED", "network")]
            {
                if holding.contains(&rule) {
                    let (_, v) = verdicts.iter().find(|(name, _)| *name == context).expect("three contexts");
                    prop_assert!(v.status == Status::Reproved && v.blocks, "{rule} holds, yet the {context} verdict is {v:?}");
                }
            }
        }

        // Whatever holds, the decision agrees with itself.
        prop_assert_eq!(d.valid, verdicts.iter().all(|(_, v)| v.status == Status::Approved));
        prop_assert_eq!(d.status == Status::Approved, d.valid);
        prop_assert_eq!(d.is_new_context, !d.valid);
        match d.status {
            Status::Approved => prop_assert!(d.needed_reauthentications.is_empty() && !d.is_blocked),
            Status::Pending => prop_assert!(
                !d.needed_reauthentications.is_empty()
                    && d.needed_reauthentications.iter().all(|m| policy.offers(*m) && s.available_methods.contains(m)),
                "pending must offer only methods both the policy and the identity have: {d:?}"
            ),
            Status::Reproved => prop_assert!(d.needed_reauthentications.is_empty()),
        }
    }
}
