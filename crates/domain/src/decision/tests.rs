use super::*;
use crate::context::{DeviceInput, LocationInput};
use chrono::Duration;
use serde_json::json;

const SAO_PAULO: (f64, f64) = (-23.5600, -46.6376);
const GUARULHOS: (f64, f64) = (-23.4538, -46.5333);
const LISBON: (f64, f64) = (38.7223, -9.1393);

fn policy() -> Policy {
    Policy::parse(
        "pix",
        json!({
            "name": "Pix",
            "contexts": {
                "device_context": {"maxDevicesPerIdentity": 2, "maxIdentitiesPerDevice": 2},
                "location_context": {"maxAllowedDistanceInMeters": 50000, "maxTravelSpeedKmh": 900, "blockedCountries": ["KP"]},
                "network_context": {}
            },
            "maxAttemptsPerIdentity": {"limit": 5, "windowSeconds": 3600},
            "reauthenticationMethods": ["face_authentication", "sms_authentication", "email_authentication"]
        }),
    )
    .unwrap()
}

fn at(point: (f64, f64)) -> Coordinates {
    Coordinates::new(point.0, point.1).unwrap()
}

fn context(fingerprint: &str, point: (f64, f64)) -> AttemptContext {
    AttemptContext {
        device: Some(DeviceInput { fingerprint: Some(fingerprint.into()), ..Default::default() }),
        location: Some(LocationInput { coordinates: at(point), accuracy: Some(10.0) }),
    }
}

fn known_history() -> History {
    History {
        known_devices: vec!["phone-1".into()],
        known_device_keys: Vec::new(),
        other_identities_on_device: 0,
        known_locations: vec![at(SAO_PAULO)],
        last_approved_location: Some((now() - Duration::days(1), at(SAO_PAULO))),
        last_approved_accuracy_m: None,
        attempts_in_window: 1,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
}

const ALL_METHODS: [Method; 3] = [Method::FaceAuthentication, Method::SmsAuthentication, Method::EmailAuthentication];

fn run(policy: &Policy, ctx: &AttemptContext, net: &NetworkFacts, history: &History, methods: &[Method]) -> Decision {
    decide(&DecisionInput {
        policy,
        context: ctx,
        network: net,
        location_country: None,
        suspicious_location: None,
        history,
        now: now(),
        available_methods: methods,
    })
}

fn net() -> NetworkFacts {
    NetworkFacts { ip: "198.51.100.7".into(), ..Default::default() }
}

#[test]
fn a_known_device_near_a_known_place_is_approved_passively() {
    let d = run(&policy(), &context("phone-1", GUARULHOS), &net(), &known_history(), &ALL_METHODS);
    assert_eq!(d.status, Status::Approved);
    assert!(d.valid && !d.is_new_context && !d.is_blocked);
    assert!(d.needed_reauthentications.is_empty());
    assert_eq!(
        (d.device.reason, d.location.reason, d.network.reason),
        ("KNOWN_DEVICE", "KNOWN_LOCATION", "NO_NETWORK_RISK")
    );
}

#[test]
fn a_new_identity_must_step_up_with_the_methods_in_policy_order() {
    let d = run(&policy(), &context("phone-1", SAO_PAULO), &net(), &History::default(), &ALL_METHODS);
    assert_eq!(d.status, Status::Pending);
    assert_eq!(d.device.reason, "NEW_DEVICE");
    assert_eq!(d.location.reason, "NEW_LOCATION");
    assert_eq!(d.needed_reauthentications, ALL_METHODS.to_vec());
    assert!(d.is_new_context && !d.is_blocked && !d.valid);
    assert!(d.summary.contains("NEW_DEVICE"), "{}", d.summary);
}

#[test]
fn only_methods_the_identity_can_complete_are_offered() {
    let d = run(&policy(), &context("phone-2", SAO_PAULO), &net(), &known_history(), &[Method::EmailAuthentication]);
    assert_eq!(d.needed_reauthentications, vec![Method::EmailAuthentication]);
    let d = run(&policy(), &context("phone-2", SAO_PAULO), &net(), &known_history(), &[]);
    assert_eq!(d.status, Status::Reproved);
    assert!(!d.is_blocked);
}

#[test]
fn a_new_device_steps_up_and_too_many_devices_is_named() {
    let d = run(&policy(), &context("phone-9", SAO_PAULO), &net(), &known_history(), &ALL_METHODS);
    assert_eq!((d.status, d.device.reason), (Status::Pending, "NEW_DEVICE"));
    let mut h = known_history();
    h.known_devices.push("tablet".into());
    let d = run(&policy(), &context("phone-9", SAO_PAULO), &net(), &h, &ALL_METHODS);
    assert_eq!((d.status, d.device.reason), (Status::Pending, "MAX_DEVICES_PER_IDENTITY"));
}

#[test]
fn a_device_shared_by_too_many_identities_is_blocked() {
    let mut h = known_history();
    h.other_identities_on_device = 2;
    let d = run(&policy(), &context("phone-1", SAO_PAULO), &net(), &h, &ALL_METHODS);
    assert_eq!((d.status, d.device.reason), (Status::Reproved, "MAX_IDENTITIES_PER_DEVICE"));
    assert!(d.is_blocked);
    assert!(d.needed_reauthentications.is_empty());
    h.other_identities_on_device = 1;
    assert_eq!(run(&policy(), &context("phone-1", SAO_PAULO), &net(), &h, &ALL_METHODS).status, Status::Approved);
}

#[test]
fn emulators_and_rooted_devices_step_up_unless_allowed() {
    let mut ctx = context("phone-1", SAO_PAULO);
    ctx.device.as_mut().unwrap().emulator = true;
    let d = run(&policy(), &ctx, &net(), &known_history(), &ALL_METHODS);
    assert_eq!((d.status, d.device.reason), (Status::Pending, "EMULATOR_NOT_ALLOWED"));
    let mut p = policy();
    p.contexts.device_context.as_mut().unwrap().allow_emulator = true;
    assert_eq!(run(&p, &ctx, &net(), &known_history(), &ALL_METHODS).status, Status::Approved);

    let mut ctx = context("phone-1", SAO_PAULO);
    ctx.device.as_mut().unwrap().rooted = true;
    let d = run(&policy(), &ctx, &net(), &known_history(), &ALL_METHODS);
    assert_eq!(d.device.reason, "ROOTED_DEVICE_NOT_ALLOWED");
}

#[test]
fn a_missing_device_or_location_is_not_trusted() {
    let ctx = AttemptContext { device: None, location: None };
    let d = run(&policy(), &ctx, &net(), &known_history(), &ALL_METHODS);
    assert_eq!((d.device.reason, d.location.reason), ("DEVICE_NOT_PROVIDED", "LOCATION_NOT_PROVIDED"));
    assert_eq!(d.status, Status::Pending);
}

#[test]
fn a_location_beyond_the_allowed_distance_steps_up() {
    let mut h = known_history();
    h.last_approved_location = None;
    // Rio de Janeiro is about 360 km from São Paulo.
    let d = run(&policy(), &context("phone-1", (-22.9068, -43.1729)), &net(), &h, &ALL_METHODS);
    assert_eq!((d.status, d.location.reason), (Status::Pending, "DISTANCE_EXCEEDED"));
    assert!(d.location.detail.contains("km"), "{}", d.location.detail);
    let mut p = policy();
    p.contexts.location_context.as_mut().unwrap().max_allowed_distance_in_meters = 400_000.0;
    assert_eq!(run(&p, &context("phone-1", (-22.9068, -43.1729)), &net(), &h, &ALL_METHODS).status, Status::Approved);
}

#[test]
fn travelling_faster_than_the_policy_allows_is_impossible_travel() {
    let mut h = known_history();
    h.known_locations.push(at(LISBON));
    h.last_approved_location = Some((now() - Duration::hours(1), at(SAO_PAULO)));
    let d = run(&policy(), &context("phone-1", LISBON), &net(), &h, &ALL_METHODS);
    assert_eq!((d.status, d.location.reason), (Status::Pending, "IMPOSSIBLE_TRAVEL"));
    // Twelve hours is enough for the flight.
    h.last_approved_location = Some((now() - Duration::hours(12), at(SAO_PAULO)));
    assert_eq!(run(&policy(), &context("phone-1", LISBON), &net(), &h, &ALL_METHODS).status, Status::Approved);
}

/// A context at `point` whose fix is `accuracy` metres wide.
fn fix(point: (f64, f64), accuracy: Option<f64>) -> AttemptContext {
    let mut c = context("phone-1", point);
    c.location.as_mut().unwrap().accuracy = accuracy;
    c
}

#[test]
fn travel_is_judged_on_what_the_fixes_can_tell_apart() {
    // Paulista Avenue, and a point 16 km east of it; the last approval ten seconds ago.
    let (here, east) = (SAO_PAULO, (-23.5600, -46.4807));
    let mut h = known_history();
    h.known_locations.push(at(east));
    h.last_approved_location = Some((now() - Duration::seconds(10), at(here)));
    let travel = |h: &History, c: &AttemptContext| run(&policy(), c, &net(), h, &ALL_METHODS).location.reason;
    // Two precise fixes 16 km apart in ten seconds: a real signal.
    h.last_approved_accuracy_m = Some(15.0);
    assert_eq!(travel(&h, &fix(east, Some(15.0))), "IMPOSSIBLE_TRAVEL");
    // A precise fix and a coarse 20 km network fix: they may be the same place.
    assert_eq!(travel(&h, &fix(east, Some(20_000.0))), "KNOWN_LOCATION");
    h.last_approved_accuracy_m = Some(20_000.0);
    assert_eq!(travel(&h, &fix(east, Some(15.0))), "KNOWN_LOCATION");
    // No fix may excuse more than 25 km: Campinas (about 85 km) ten seconds later is still impossible.
    let campinas = (-22.9056, -47.0608);
    h.known_locations.push(at(campinas));
    h.last_approved_accuracy_m = Some(15.0);
    assert_eq!(travel(&h, &fix(campinas, Some(1e7))), "IMPOSSIBLE_TRAVEL");
    // ...and plausible after two hours (60 km beyond the excuse, at 30 km/h).
    h.last_approved_location = Some((now() - Duration::hours(2), at(here)));
    assert_eq!(travel(&h, &fix(campinas, Some(1e7))), "KNOWN_LOCATION");
    // Unknown accuracies count as 2 km each: 4 km apart is no travel, as before.
    h.last_approved_location = Some((now(), at(here)));
    h.last_approved_accuracy_m = None;
    let near = (-23.5600, -46.5984); // 4 km east
    h.known_locations.push(at(near));
    assert_eq!(travel(&h, &fix(near, None)), "KNOWN_LOCATION");
    // Two exact fixes 4 km apart at the same instant are not.
    h.last_approved_accuracy_m = Some(0.0);
    assert_eq!(travel(&h, &fix(near, Some(0.0))), "IMPOSSIBLE_TRAVEL");
}

#[test]
fn gps_jitter_is_not_travel() {
    let mut h = known_history();
    h.last_approved_location = Some((now(), at(SAO_PAULO)));
    let d = run(&policy(), &context("phone-1", (-23.5610, -46.6380)), &net(), &h, &ALL_METHODS);
    assert_eq!(d.status, Status::Approved);
}

#[test]
fn a_blocked_country_is_a_hard_block() {
    let mut n = net();
    n.country_code = Some("kp".into());
    let d = run(&policy(), &context("phone-1", SAO_PAULO), &n, &known_history(), &ALL_METHODS);
    assert_eq!((d.status, d.location.reason), (Status::Reproved, "BLOCKED_COUNTRY"));
    assert!(d.is_blocked);
}

#[test]
fn a_device_in_a_blocked_country_is_blocked_even_from_an_allowed_address() {
    let (p, ctx, n, h) = (policy(), context("phone-1", SAO_PAULO), net(), known_history());
    let mut input = DecisionInput {
        policy: &p,
        context: &ctx,
        network: &n,
        location_country: Some("KP"),
        suspicious_location: None,
        history: &h,
        now: now(),
        available_methods: &ALL_METHODS,
    };
    let d = decide(&input);
    assert_eq!((d.status, d.location.reason), (Status::Reproved, "BLOCKED_COUNTRY"));
    assert!(d.location.detail.contains("device's location"));
    input.location_country = Some("BR");
    assert_eq!(decide(&input).status, Status::Approved);
}

#[test]
fn made_up_coordinates_ask_for_more() {
    let (p, ctx, n, h) = (policy(), context("phone-1", SAO_PAULO), net(), known_history());
    let d = decide(&DecisionInput {
        policy: &p,
        context: &ctx,
        network: &n,
        location_country: None,
        suspicious_location: Some("0,0 is where devices without a fix say they are"),
        history: &h,
        now: now(),
        available_methods: &ALL_METHODS,
    });
    assert_eq!((d.status, d.location.reason), (Status::Pending, "SUSPICIOUS_COORDINATES"));
    assert!(!d.is_blocked);
}

#[test]
fn network_anonymizers_follow_the_policy() {
    let cases = [
        (NetworkFacts { is_tor: Some(true), ..net() }, Status::Reproved, "TOR_NOT_ALLOWED", true),
        (NetworkFacts { is_vpn: Some(true), ..net() }, Status::Pending, "PROXY_OR_VPN_NOT_ALLOWED", false),
        (NetworkFacts { is_proxy: Some(true), ..net() }, Status::Pending, "PROXY_OR_VPN_NOT_ALLOWED", false),
        (NetworkFacts { is_hosting: Some(true), ..net() }, Status::Pending, "HOSTING_NOT_ALLOWED", false),
        (
            NetworkFacts { is_vpn: Some(false), is_tor: Some(false), ..net() },
            Status::Approved,
            "NO_NETWORK_RISK",
            false,
        ),
    ];
    for (n, status, reason, blocked) in cases {
        let d = run(&policy(), &context("phone-1", SAO_PAULO), &n, &known_history(), &ALL_METHODS);
        assert_eq!((d.status, d.network.reason, d.is_blocked), (status, reason, blocked), "{n:?}");
    }
    let mut p = policy();
    let rules = p.contexts.network_context.as_mut().unwrap();
    rules.allow_tor = true;
    rules.allow_proxy_or_vpn = true;
    let n = NetworkFacts { is_tor: Some(true), is_vpn: Some(true), ..net() };
    assert_eq!(run(&p, &context("phone-1", SAO_PAULO), &n, &known_history(), &ALL_METHODS).status, Status::Approved);
}

#[test]
fn too_many_attempts_block_every_context_with_the_seed_reason() {
    let mut h = known_history();
    h.attempts_in_window = 5;
    let d = run(&policy(), &context("phone-1", SAO_PAULO), &net(), &h, &ALL_METHODS);
    assert_eq!(d.status, Status::Reproved);
    assert!(d.is_blocked);
    for v in [&d.device, &d.location, &d.network] {
        assert_eq!((v.status, v.reason), (Status::Reproved, "MAX_ATTEMPTS_PER_IDENTITY"));
    }
    assert!(d.device.detail.starts_with("5 attempts in the last 3600 s reach"), "{}", d.device.detail);
    h.attempts_in_window = 4;
    assert_eq!(run(&policy(), &context("phone-1", SAO_PAULO), &net(), &h, &ALL_METHODS).status, Status::Approved);
    let mut one = policy();
    one.max_attempts_per_identity.limit = 1;
    h.attempts_in_window = 1;
    let d = run(&one, &context("phone-1", SAO_PAULO), &net(), &h, &ALL_METHODS);
    assert!(d.device.detail.starts_with("1 attempt in the last 3600 s reaches"), "{}", d.device.detail);
}

#[test]
fn disabled_contexts_are_not_evaluated() {
    let p = Policy::parse("open", json!({"name": "open", "contexts": {"device_context": {"enabled": false}}})).unwrap();
    let d = run(&p, &AttemptContext::default(), &net(), &History::default(), &ALL_METHODS);
    assert_eq!(d.status, Status::Approved);
    assert_eq!(d.device.reason, "CONTEXT_DISABLED");
    assert_eq!(d.location.reason, "CONTEXT_DISABLED");
}

fn device_reason(device: DeviceInput, history: &History) -> (&'static str, Status) {
    let policy = device_policy(false);
    let ctx = AttemptContext { device: Some(device), location: None };
    let d = run(&policy, &ctx, &NetworkFacts::default(), history, &ALL_METHODS);
    (d.device.reason, d.device.status)
}

fn device_policy(allow_automation: bool) -> Policy {
    let body = json!({"name": "P", "contexts": {"device_context": {"allowAutomation": allow_automation}},
                      "reauthenticationMethods": ["sms_authentication"]});
    Policy::parse("p", body).unwrap()
}

fn keyed(fingerprint: &str, key: Option<&str>) -> DeviceInput {
    DeviceInput { fingerprint: Some(fingerprint.into()), key: key.map(str::to_owned), ..Default::default() }
}

#[test]
fn a_known_device_key_is_a_known_device_even_when_the_fingerprint_changed() {
    let mut h = known_history();
    h.known_device_keys.push(KnownDeviceKey { thumbprint: "key-1".into(), fingerprint: Some("phone-1".into()) });
    assert_eq!(device_reason(keyed("phone-1", Some("key-1")), &h), ("KNOWN_DEVICE_KEY", Status::Approved));
    assert_eq!(device_reason(keyed("updated-browser", Some("key-1")), &h), ("KNOWN_DEVICE_KEY", Status::Approved));
}

#[test]
fn a_known_fingerprint_without_its_key_is_evidence_not_proof() {
    let mut h = known_history();
    h.known_device_keys.push(KnownDeviceKey { thumbprint: "key-1".into(), fingerprint: Some("phone-1".into()) });
    // A copied fingerprint from another browser: a new key, or none at all.
    assert_eq!(device_reason(keyed("phone-1", Some("key-2")), &h), ("KNOWN_FINGERPRINT_WITHOUT_KEY", Status::Reproved));
    assert_eq!(device_reason(keyed("phone-1", None), &h), ("KNOWN_FINGERPRINT_WITHOUT_KEY", Status::Reproved));
    // A fingerprint approved before keys existed, sent again with a new key: still a new key.
    let legacy = known_history();
    assert_eq!(
        device_reason(keyed("phone-1", Some("key-2")), &legacy),
        ("KNOWN_FINGERPRINT_WITHOUT_KEY", Status::Reproved)
    );
    // Without any key, a fingerprint-only device keeps the seed's behaviour.
    assert_eq!(device_reason(keyed("phone-1", None), &legacy), ("KNOWN_DEVICE", Status::Approved));
}

#[test]
fn automation_is_stepped_up_unless_the_policy_allows_it() {
    let h = known_history();
    let mut device = keyed("phone-1", None);
    device.automation = true;
    assert_eq!(device_reason(device.clone(), &h), ("AUTOMATION_DETECTED", Status::Reproved));
    let policy = device_policy(true);
    let ctx = AttemptContext { device: Some(device), location: None };
    let d = run(&policy, &ctx, &NetworkFacts::default(), &h, &ALL_METHODS);
    assert_eq!(d.device.reason, "KNOWN_DEVICE");
}
