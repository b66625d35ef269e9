//! The decision engine: given an attempt's context, the tenant's policy and the identity's history,
//! it says for each context whether it is approved and why, and what the attempt needs next.
//! Pure: no I/O, no clock (the caller passes `now`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::context::{AttemptContext, Coordinates, NetworkFacts};
use crate::geo::{distance_m, travelled_m, TRAVEL_FLOOR_M};
use crate::policy::{Method, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Approved,
    Pending,
    Reproved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Approved => "approved",
            Status::Pending => "pending",
            Status::Reproved => "reproved",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        [Status::Approved, Status::Pending, Status::Reproved].into_iter().find(|s| s.as_str() == raw)
    }
}

/// One context's verdict: `reason` is a stable UPPER_SNAKE code, `detail` a sentence for an analyst.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextVerdict {
    pub status: Status,
    pub reason: &'static str,
    /// Most are fixed texts, borrowed: a policy replay makes hundreds of thousands of verdicts.
    pub detail: Cow<'static, str>,
    /// A hard block: no step-up method can lift it.
    #[serde(skip)]
    pub blocks: bool,
}

impl ContextVerdict {
    fn approved(reason: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ContextVerdict { status: Status::Approved, reason, detail: detail.into(), blocks: false }
    }
    fn step_up(reason: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ContextVerdict { status: Status::Reproved, reason, detail: detail.into(), blocks: false }
    }
    fn block(reason: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        ContextVerdict { status: Status::Reproved, reason, detail: detail.into(), blocks: true }
    }
    fn disabled() -> Self {
        Self::approved("CONTEXT_DISABLED", "this context is not evaluated by the policy")
    }
}

/// A device key (by its thumbprint) that an approved attempt of the identity was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDeviceKey {
    pub thumbprint: String,
    pub fingerprint: Option<String>,
}

/// What the identity has shown before, as read from storage.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Fingerprints of devices this identity was approved on.
    pub known_devices: Vec<String>,
    /// Device keys this identity was approved with, and the fingerprint each came with.
    pub known_device_keys: Vec<KnownDeviceKey>,
    /// How many *other* identities of the tenant were approved on this attempt's device.
    pub other_identities_on_device: u32,
    pub known_locations: Vec<Coordinates>,
    /// The last approved attempt that carried a location.
    pub last_approved_location: Option<(DateTime<Utc>, Coordinates)>,
    /// That location's accuracy (metres, as the client reported it), when known.
    pub last_approved_accuracy_m: Option<f64>,
    /// Attempts of this identity inside the policy's window, not counting this one.
    pub attempts_in_window: u32,
}

pub struct DecisionInput<'a> {
    pub policy: &'a Policy,
    pub context: &'a AttemptContext,
    pub network: &'a NetworkFacts,
    /// Country of the device's coordinates, when reverse geocoding knows it.
    pub location_country: Option<&'a str>,
    /// Why the coordinates themselves look made up (0,0; no populated place near), when they do.
    pub suspicious_location: Option<&'a str>,
    pub history: &'a History,
    pub now: DateTime<Utc>,
    /// Step-up methods this identity can complete (for example, email needs an address on file).
    pub available_methods: &'a [Method],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub device: ContextVerdict,
    pub location: ContextVerdict,
    pub network: ContextVerdict,
    pub valid: bool,
    pub status: Status,
    pub is_blocked: bool,
    pub is_new_context: bool,
    pub needed_reauthentications: Vec<Method>,
    /// One line saying why the attempt got its status.
    pub summary: Cow<'static, str>,
}

pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let limit = &input.policy.max_attempts_per_identity;
    if input.history.attempts_in_window >= limit.limit {
        let n = input.history.attempts_in_window;
        let detail = format!(
            "{n} attempt{} in the last {} s reach{} the policy's limit of {}",
            if n == 1 { "" } else { "s" },
            limit.window_seconds,
            if n == 1 { "es" } else { "" },
            limit.limit
        );
        let v = ContextVerdict::block("MAX_ATTEMPTS_PER_IDENTITY", detail.clone());
        return Decision {
            device: v.clone(),
            location: v.clone(),
            network: v,
            valid: false,
            status: Status::Reproved,
            is_blocked: true,
            is_new_context: true,
            needed_reauthentications: vec![],
            summary: format!("blocked: {detail}").into(),
        };
    }

    let device = judge_device(input);
    let location = judge_location(input);
    let network = judge_network(input);
    let verdicts = [&device, &location, &network];
    let valid = verdicts.iter().all(|v| v.status == Status::Approved);
    let blocking = verdicts.iter().find(|v| v.blocks).map(|v| v.reason);
    let needed: Vec<Method> =
        input.policy.reauthentication_methods.iter().copied().filter(|m| input.available_methods.contains(m)).collect();
    let failed: Vec<&str> = verdicts.iter().filter(|v| v.status == Status::Reproved).map(|v| v.reason).collect();

    let (status, needed, summary): (_, _, Cow<'static, str>) = if valid {
        (Status::Approved, vec![], "approved passively: every evaluated context is known and safe".into())
    } else if let Some(reason) = blocking {
        (Status::Reproved, vec![], format!("blocked by {reason}").into())
    } else if needed.is_empty() {
        (
            Status::Reproved,
            vec![],
            format!("reproved: {} and no step-up method is available to this identity", failed.join(", ")).into(),
        )
    } else {
        let names: Vec<&str> = needed.iter().map(|m| m.as_str()).collect();
        let summary = format!("step-up needed ({}) because of {}", names.join(" or "), failed.join(", "));
        (Status::Pending, needed, summary.into())
    };
    Decision {
        device,
        location,
        network,
        valid,
        status,
        is_blocked: blocking.is_some(),
        is_new_context: !valid,
        needed_reauthentications: needed,
        summary,
    }
}

fn judge_device(input: &DecisionInput<'_>) -> ContextVerdict {
    let Some(rules) = input.policy.contexts.device_context.as_ref().filter(|r| r.enabled) else {
        return ContextVerdict::disabled();
    };
    let Some(device) = &input.context.device else {
        return ContextVerdict::step_up("DEVICE_NOT_PROVIDED", "the attempt carries no device context");
    };
    let Some(fingerprint) = device.fingerprint.as_deref() else {
        return ContextVerdict::step_up("DEVICE_NOT_PROVIDED", "the device has no fingerprint");
    };
    let history = input.history;
    if history.other_identities_on_device >= rules.max_identities_per_device {
        return ContextVerdict::block(
            "MAX_IDENTITIES_PER_DEVICE",
            format!(
                "this device is already known for {} other identities; the policy allows {} per device",
                history.other_identities_on_device, rules.max_identities_per_device
            ),
        );
    }
    if device.emulator && !rules.allow_emulator {
        return ContextVerdict::step_up("EMULATOR_NOT_ALLOWED", "the device reports it is an emulator");
    }
    if device.rooted && !rules.allow_root_or_jailbreak {
        return ContextVerdict::step_up("ROOTED_DEVICE_NOT_ALLOWED", "the device reports it is rooted or jailbroken");
    }
    if device.automation && !rules.allow_automation {
        return ContextVerdict::step_up(
            "AUTOMATION_DETECTED",
            "the browser is driven by automation (webdriver or a headless browser)",
        );
    }
    // A key proves the device; a fingerprint can be copied (see sdk/PROTOCOL.md, "What the decision makes of it").
    let known_key = device.key.as_deref().is_some_and(|k| history.known_device_keys.iter().any(|d| d.thumbprint == k));
    if known_key {
        return ContextVerdict::approved(
            "KNOWN_DEVICE_KEY",
            "the device signed with a key approved for this identity before",
        );
    }
    if history.known_devices.iter().any(|d| d == fingerprint) {
        let bound = history.known_device_keys.iter().any(|d| d.fingerprint.as_deref() == Some(fingerprint));
        if device.key.is_some() || bound {
            let why = match device.key {
                Some(_) => "the fingerprint is known but the device signed with a key never approved for this identity",
                None => "the fingerprint is known but the device proved no key, and it was approved with one",
            };
            return ContextVerdict::step_up("KNOWN_FINGERPRINT_WITHOUT_KEY", why);
        }
        return ContextVerdict::approved(
            "KNOWN_DEVICE",
            "this device's fingerprint was approved for this identity before (a fingerprint, not a device key)",
        );
    }
    if history.known_devices.len() as u64 >= u64::from(rules.max_devices_per_identity) {
        return ContextVerdict::step_up(
            "MAX_DEVICES_PER_IDENTITY",
            format!(
                "new device, and the identity already has {} known devices (policy allows {})",
                history.known_devices.len(),
                rules.max_devices_per_identity
            ),
        );
    }
    ContextVerdict::step_up("NEW_DEVICE", "this device has never been approved for this identity")
}

fn judge_location(input: &DecisionInput<'_>) -> ContextVerdict {
    let Some(rules) = input.policy.contexts.location_context.as_ref().filter(|r| r.enabled) else {
        return ContextVerdict::disabled();
    };
    // Either country counts: the device's place and the address's registration.
    let countries = [(input.location_country, "device's location"), (input.network.country_code.as_deref(), "address")];
    for (country, source) in countries {
        if let Some(country) = country.filter(|c| rules.blocked_countries.iter().any(|b| b.eq_ignore_ascii_case(c))) {
            return ContextVerdict::block(
                "BLOCKED_COUNTRY",
                format!("the attempt's {source} is in {country}, which the policy blocks"),
            );
        }
    }
    let Some((here, accuracy)) = input.context.location.as_ref().map(|l| (l.coordinates, l.accuracy)) else {
        return ContextVerdict::step_up("LOCATION_NOT_PROVIDED", "the attempt carries no coordinates");
    };
    if let Some(why) = input.suspicious_location {
        return ContextVerdict::step_up("SUSPICIOUS_COORDINATES", format!("the coordinates look made up: {why}"));
    }
    if let Some((at, there)) = input.history.last_approved_location {
        let hours = (input.now - at).num_milliseconds().max(0) as f64 / 3_600_000.0;
        let apart = distance_m(here, there);
        // Only what the two fixes can tell apart is travel (see `geo::travelled_m`), and below a kilometre
        // it is noise.
        let travelled = travelled_m(apart, accuracy, input.history.last_approved_accuracy_m);
        if travelled > TRAVEL_FLOOR_M {
            let km = travelled / 1000.0;
            let speed = if hours > 0.0 { km / hours } else { f64::INFINITY };
            if speed > rules.max_travel_speed_kmh {
                return ContextVerdict::step_up(
                    "IMPOSSIBLE_TRAVEL",
                    format!(
                        "{:.0} km from the last approved location ({km:.0} km beyond both fixes' accuracy) in {:.1} h \
                         implies {} km/h (policy allows {})",
                        apart / 1000.0,
                        hours,
                        if speed.is_finite() { format!("{speed:.0}") } else { "unbounded".into() },
                        rules.max_travel_speed_kmh
                    ),
                );
            }
        }
    }
    let nearest = input.history.known_locations.iter().map(|k| distance_m(here, *k)).min_by(f64::total_cmp);
    match nearest {
        None => ContextVerdict::step_up("NEW_LOCATION", "the identity has no approved location yet"),
        Some(d) if d > rules.max_allowed_distance_in_meters => ContextVerdict::step_up(
            "DISTANCE_EXCEEDED",
            format!(
                "{:.1} km from the nearest known location (policy allows {:.1} km)",
                d / 1000.0,
                rules.max_allowed_distance_in_meters / 1000.0
            ),
        ),
        Some(d) => ContextVerdict::approved(
            "KNOWN_LOCATION",
            format!("{:.1} km from a known location, within the policy's distance", d / 1000.0),
        ),
    }
}

fn judge_network(input: &DecisionInput<'_>) -> ContextVerdict {
    let Some(rules) = input.policy.contexts.network_context.as_ref().filter(|r| r.enabled) else {
        return ContextVerdict::disabled();
    };
    let net = input.network;
    if net.is_tor == Some(true) && !rules.allow_tor {
        return ContextVerdict::block("TOR_NOT_ALLOWED", format!("{} is a Tor exit node", net.ip));
    }
    if (net.is_vpn == Some(true) || net.is_proxy == Some(true)) && !rules.allow_proxy_or_vpn {
        return ContextVerdict::step_up("PROXY_OR_VPN_NOT_ALLOWED", format!("{} belongs to a VPN or proxy", net.ip));
    }
    if net.is_hosting == Some(true) && !rules.allow_hosting {
        return ContextVerdict::step_up("HOSTING_NOT_ALLOWED", format!("{} belongs to a hosting provider", net.ip));
    }
    ContextVerdict::approved("NO_NETWORK_RISK", "no anonymizer or hosting signal for this address")
}

#[cfg(test)]
mod tests;
