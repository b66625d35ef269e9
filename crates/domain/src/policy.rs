//! Tenant policies. The wire document is parsed strictly (unknown fields and impossible values are
//! refused) into a [`Policy`] whose fields the rest of the code can trust.

use serde::{Deserialize, Serialize};

use crate::geo::MAX_DISTANCE_M;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    FaceAuthentication,
    SmsAuthentication,
    EmailAuthentication,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::FaceAuthentication, Method::EmailAuthentication, Method::SmsAuthentication];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::FaceAuthentication => "face_authentication",
            Method::SmsAuthentication => "sms_authentication",
            Method::EmailAuthentication => "email_authentication",
        }
    }

    pub fn parse(raw: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    pub fn is_code(self) -> bool {
        matches!(self, Method::SmsAuthentication | Method::EmailAuthentication)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRules {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_max_devices")]
    pub max_devices_per_identity: u32,
    #[serde(default = "default_max_identities")]
    pub max_identities_per_device: u32,
    #[serde(default)]
    pub allow_emulator: bool,
    #[serde(default)]
    pub allow_root_or_jailbreak: bool,
    /// Whether a browser driven by automation may pass without a step-up.
    #[serde(default)]
    pub allow_automation: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationRules {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_distance")]
    pub max_allowed_distance_in_meters: f64,
    #[serde(default = "default_speed")]
    pub max_travel_speed_kmh: f64,
    #[serde(default)]
    pub blocked_countries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkRules {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub allow_proxy_or_vpn: bool,
    #[serde(default)]
    pub allow_tor: bool,
    #[serde(default)]
    pub allow_hosting: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_context: Option<DeviceRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_context: Option<LocationRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_context: Option<NetworkRules>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptLimit {
    pub limit: u32,
    pub window_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeRules {
    #[serde(default = "default_code_length")]
    pub length: u8,
    #[serde(default = "default_code_ttl")]
    pub ttl_seconds: u32,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_resend")]
    pub resend_after_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaceRules {
    #[serde(default = "default_similarity")]
    pub min_similarity: f64,
    #[serde(default = "yes")]
    pub require_liveness: bool,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The liveness score (probability that the selfie is of a live person) a face must reach when
    /// liveness is required.
    #[serde(default = "default_liveness")]
    pub min_liveness: f64,
}

/// A validated policy. Construct it only through [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub policy_id: String,
    pub name: String,
    #[serde(default)]
    pub contexts: Contexts,
    #[serde(default = "default_attempt_limit")]
    pub max_attempts_per_identity: AttemptLimit,
    #[serde(default = "default_methods")]
    pub reauthentication_methods: Vec<Method>,
    #[serde(default = "default_codes")]
    pub codes: CodeRules,
    #[serde(default = "default_face")]
    pub face: FaceRules,
    /// How long an attempt may wait for its step-up: then it is refused (`ATTEMPT_EXPIRED`).
    #[serde(default = "default_attempt_ttl")]
    pub attempt_ttl_seconds: u32,
}

/// The default wait for a step-up: a person reads a code or takes a selfie in minutes, and an attempt
/// left open longer is a transfer nobody is looking at.
pub const DEFAULT_ATTEMPT_TTL_SECONDS: u32 = 900;

fn default_attempt_ttl() -> u32 {
    DEFAULT_ATTEMPT_TTL_SECONDS
}

/// Tries of one method (a code, or a face) within one attempt, at most.
pub const MAX_TRIES_PER_METHOD: u32 = 5;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn yes() -> bool {
    true
}
fn default_max_devices() -> u32 {
    3
}
fn default_max_identities() -> u32 {
    2
}
fn default_distance() -> f64 {
    50_000.0
}
fn default_speed() -> f64 {
    900.0
}
fn default_code_length() -> u8 {
    6
}
fn default_code_ttl() -> u32 {
    300
}
fn default_max_attempts() -> u32 {
    3
}
fn default_resend() -> u32 {
    30
}
/// Measured on the packaged test images (`face_accuracy`): the same person scores 0.74 and more
/// (other photos, rescaled, recompressed, relit, rotated), different people 0.40 at most.
fn default_similarity() -> f64 {
    0.5
}
fn default_attempt_limit() -> AttemptLimit {
    AttemptLimit { limit: 10, window_seconds: 3600 }
}
fn default_methods() -> Vec<Method> {
    vec![Method::FaceAuthentication, Method::SmsAuthentication, Method::EmailAuthentication]
}
fn default_codes() -> CodeRules {
    CodeRules {
        length: default_code_length(),
        ttl_seconds: default_code_ttl(),
        max_attempts: default_max_attempts(),
        resend_after_seconds: default_resend(),
    }
}
fn default_face() -> FaceRules {
    FaceRules {
        min_similarity: default_similarity(),
        require_liveness: true,
        max_attempts: default_max_attempts(),
        min_liveness: default_liveness(),
    }
}
/// Measured on the packaged test images (`face_accuracy`): genuine captures score 0.04–1.0, most
/// above 0.9.
fn default_liveness() -> f64 {
    0.5
}

/// Above any aircraft's speed (an airliner flies at about 900 km/h); a higher bound would switch the
/// rule off without saying so (disable location_context for that).
pub const MAX_TRAVEL_SPEED_KMH: f64 = 5_000.0;

/// Policy ids appear in URLs: a short slug.
pub fn valid_policy_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// serde fills a struct from a JSON array field by field (`"codes": [8, 300]`, `"device_context": []`
/// for every default): refused, so that a policy means what it looks like.
fn objects_where_objects_belong(body: &serde_json::Value) -> Result<(), PolicyError> {
    let not_object = |path: &str| PolicyError(format!("{path}: expected a JSON object, not an array"));
    if body.is_array() {
        return Err(not_object("the policy"));
    }
    for key in ["contexts", "maxAttemptsPerIdentity", "codes", "face"] {
        if body.get(key).is_some_and(serde_json::Value::is_array) {
            return Err(not_object(key));
        }
    }
    for (name, rules) in body.get("contexts").and_then(serde_json::Value::as_object).into_iter().flatten() {
        if rules.is_array() {
            return Err(not_object(&format!("contexts.{name}")));
        }
    }
    Ok(())
}

fn check(ok: bool, message: impl Into<String>) -> Result<(), PolicyError> {
    if ok {
        Ok(())
    } else {
        Err(PolicyError(message.into()))
    }
}

impl Policy {
    /// Parses the wire document for the policy named `policy_id` (the id in the URL). A `policyId` in the
    /// body must agree with it.
    pub fn parse(policy_id: &str, mut body: serde_json::Value) -> Result<Policy, PolicyError> {
        check(valid_policy_id(policy_id), "policyId must be 1-64 characters of letters, digits, '.', '-' or '_'")?;
        // A policy as `GET /policies/{policyId}` shows it is a policy to write as it stands: its read-only
        // fields (the record's id and times, the answer's request id and warnings) are dropped, not refused, so
        // that a policy can be read, edited and written back, or replayed.
        if let Some(fields) = body.as_object_mut() {
            for field in ["id", "createdAt", "updatedAt", "requestId", "warnings"] {
                fields.remove(field);
            }
        }
        objects_where_objects_belong(&body)?;
        let mut policy: Policy = serde_path_to_error::deserialize(body).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // A wrong value, or a field the policy does not have, is named by its place
            // (`contexts.network_context.allowTorr: unknown field ...`); at the top, serde's words alone.
            match path.as_str() {
                "." | "" => PolicyError(inner),
                _ => PolicyError(format!("{path}: {inner}")),
            }
        })?;
        if policy.policy_id.is_empty() {
            policy.policy_id = policy_id.to_owned();
        }
        check(policy.policy_id == policy_id, "policyId in the body differs from the one in the URL")?;
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&mut self) -> Result<(), PolicyError> {
        let name = self.name.trim();
        check(!name.is_empty() && name.chars().count() <= 200, "name must be 1-200 characters")?;
        if let Some(c) = crate::text::hidden_in_name(name) {
            return Err(PolicyError(format!("name must not contain {}", crate::text::describe(c))));
        }
        self.name = name.to_owned();
        if let Some(d) = &self.contexts.device_context {
            check(
                (1..=1000).contains(&d.max_devices_per_identity),
                "device_context.maxDevicesPerIdentity must be between 1 and 1000",
            )?;
            check(
                (1..=1000).contains(&d.max_identities_per_device),
                "device_context.maxIdentitiesPerDevice must be between 1 and 1000",
            )?;
        }
        if let Some(l) = &mut self.contexts.location_context {
            check(
                (1.0..=MAX_DISTANCE_M).contains(&l.max_allowed_distance_in_meters),
                format!(
                    "location_context.maxAllowedDistanceInMeters must be between 1 and {MAX_DISTANCE_M} (half the \
                     Equator: no two places are farther apart)"
                ),
            )?;
            check(
                (1.0..=MAX_TRAVEL_SPEED_KMH).contains(&l.max_travel_speed_kmh),
                format!(
                    "location_context.maxTravelSpeedKmh must be between 1 and {MAX_TRAVEL_SPEED_KMH} (faster than \
                     anything people travel in)"
                ),
            )?;
            for c in &mut l.blocked_countries {
                check(
                    c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()),
                    format!("location_context.blockedCountries: {c:?} is not an ISO 3166-1 alpha-2 code"),
                )?;
                *c = c.to_ascii_uppercase();
            }
            // Each code once, so that the list holds at most 676 (26 × 26 letter pairs; ISO assigns 249), however
            // long the one sent.
            l.blocked_countries.sort_unstable();
            l.blocked_countries.dedup();
        }
        let a = &self.max_attempts_per_identity;
        check((1..=100_000).contains(&a.limit), "maxAttemptsPerIdentity.limit must be between 1 and 100000")?;
        check(
            (1..=30 * 86_400).contains(&a.window_seconds),
            "maxAttemptsPerIdentity.windowSeconds must be between 1 and 2592000",
        )?;
        let mut seen = Vec::new();
        for m in &self.reauthentication_methods {
            check(!seen.contains(m), format!("reauthenticationMethods lists {} twice", m.as_str()))?;
            seen.push(*m);
        }
        let c = &self.codes;
        // NIST SP 800-63B: at least 6 digits, valid for at most 10 minutes.
        check((6..=10).contains(&c.length), "codes.length must be between 6 and 10")?;
        check((30..=600).contains(&c.ttl_seconds), "codes.ttlSeconds must be between 30 and 600")?;
        // With the person-wide lockout (at most 100 consecutive failures, 20 by default), five tries per
        // code keeps a guess at a 6-digit code below 1 in 10,000 whatever the policy.
        check(
            (1..=MAX_TRIES_PER_METHOD).contains(&c.max_attempts),
            format!("codes.maxAttempts must be between 1 and {MAX_TRIES_PER_METHOD}"),
        )?;
        check(c.resend_after_seconds <= 3600, "codes.resendAfterSeconds must be at most 3600")?;
        check(
            (60..=86_400).contains(&self.attempt_ttl_seconds),
            "attemptTtlSeconds must be between 60 and 86400 (a day)",
        )?;
        let f = &self.face;
        check(
            f.min_similarity.is_finite() && (0.0..=1.0).contains(&f.min_similarity),
            "face.minSimilarity must be between 0 and 1",
        )?;
        check(
            (1..=MAX_TRIES_PER_METHOD).contains(&f.max_attempts),
            format!("face.maxAttempts must be between 1 and {MAX_TRIES_PER_METHOD}"),
        )?;
        check(
            f.min_liveness.is_finite() && (0.0..=1.0).contains(&f.min_liveness),
            "face.minLiveness must be between 0 and 1",
        )?;
        Ok(())
    }

    pub fn offers(&self, method: Method) -> bool {
        self.reauthentication_methods.contains(&method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> serde_json::Value {
        json!({
          "policyId": "pix-transfer",
          "name": "Pix transfer",
          "contexts": {
            "device_context":   {"enabled": true, "maxDevicesPerIdentity": 3, "maxIdentitiesPerDevice": 2, "allowEmulator": false, "allowRootOrJailbreak": false},
            "location_context": {"enabled": true, "maxAllowedDistanceInMeters": 50000, "maxTravelSpeedKmh": 900, "blockedCountries": ["kp"]},
            "network_context":  {"enabled": true, "allowProxyOrVpn": false, "allowTor": false, "allowHosting": false}
          },
          "maxAttemptsPerIdentity": {"limit": 10, "windowSeconds": 3600},
          "reauthenticationMethods": ["face_authentication", "sms_authentication", "email_authentication"],
          "codes": {"length": 8, "ttlSeconds": 300, "maxAttempts": 3, "resendAfterSeconds": 30},
          "face": {"minSimilarity": 0.80, "requireLiveness": true, "maxAttempts": 3}
        })
    }

    #[test]
    fn the_api_example_parses_and_normalizes_country_codes() {
        let p = Policy::parse("pix-transfer", example()).unwrap();
        assert_eq!(p.codes.length, 8);
        assert_eq!(p.contexts.location_context.unwrap().blocked_countries, vec!["KP"]);
    }

    #[test]
    fn blocked_countries_are_kept_once_each_and_bounded() {
        let mut body = example();
        body["contexts"]["location_context"]["blockedCountries"] = json!(["ru", "KP", "kp", "RU"]);
        let p = Policy::parse("pix-transfer", body.clone()).unwrap();
        assert_eq!(p.contexts.location_context.unwrap().blocked_countries, vec!["KP", "RU"]);
        // A review sent two million: every decision scanned them.
        body["contexts"]["location_context"]["blockedCountries"] = json!(vec!["ZZ"; 2_000_000]);
        assert_eq!(
            Policy::parse("pix-transfer", body.clone()).unwrap().contexts.location_context.unwrap().blocked_countries,
            vec!["ZZ"]
        );
    }

    #[test]
    fn a_misspelt_field_is_refused() {
        let mut body = example();
        body["contexts"]["network_context"]["allowTorr"] = json!(true);
        let err = Policy::parse("pix-transfer", body).unwrap_err();
        assert!(err.0.contains("allowTorr"), "{err}");
    }

    #[test]
    fn impossible_values_are_refused() {
        for (path, value) in [
            ("/codes/length", json!(4)),
            ("/codes/ttlSeconds", json!(3600)),
            ("/codes/maxAttempts", json!(0)),
            ("/codes/maxAttempts", json!(6)),
            ("/face/maxAttempts", json!(10)),
            ("/face/minSimilarity", json!(1.5)),
            ("/maxAttemptsPerIdentity/limit", json!(0)),
            ("/contexts/location_context/maxAllowedDistanceInMeters", json!(-1)),
            ("/contexts/location_context/maxAllowedDistanceInMeters", json!(1e308)),
            ("/contexts/location_context/maxTravelSpeedKmh", json!(1e308)),
            ("/contexts/location_context/maxTravelSpeedKmh", json!(0)),
            ("/name", json!("Pix \u{202E}refsnart")),
            ("/codes", json!([8, 300])),
            ("/contexts/device_context", json!([])),
            ("/contexts", json!([])),
            ("/contexts/location_context/blockedCountries", json!(["Brazil"])),
            ("/contexts/device_context/maxDevicesPerIdentity", json!(0)),
            ("/reauthenticationMethods", json!(["carrier_pigeon"])),
            ("/reauthenticationMethods", json!(["sms_authentication", "sms_authentication"])),
            ("/name", json!("  ")),
        ] {
            let mut body = example();
            *body.pointer_mut(path).unwrap() = value.clone();
            assert!(Policy::parse("pix-transfer", body).is_err(), "{path} = {value} was accepted");
        }
    }

    #[test]
    fn the_url_and_body_ids_must_agree() {
        assert!(Policy::parse("other", example()).is_err());
        assert!(Policy::parse("bad id!", json!({"name": "x"})).is_err());
        let p = Policy::parse("login", json!({"name": "Login"})).unwrap();
        assert_eq!(p.policy_id, "login");
        assert_eq!(p.codes.length, 6);
        assert!(p.contexts.device_context.is_none());
    }
}
