//! An authentication attempt as the server keeps it, and its rendering as the document of seed 001.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use smartauth_context::NetworkContext;
use smartauth_domain::context::{DeviceInput, LocationInput};
use smartauth_domain::{time, ContextVerdict, Decision, Method, Policy, Status};
use smartauth_store::{AttemptRecord, Millis};

/// The server's own record of an attempt, stored as the attempt's JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptDoc {
    /// The identity as it was when the attempt was made; emptied when the person is erased.
    pub identity: Option<IdentitySnapshot>,
    pub policy: PolicySnapshot,
    /// The policy's rules at the time of the attempt: later edits do not change a running attempt.
    pub rules: Policy,
    pub source_ip: String,
    pub device: Option<DeviceInput>,
    pub location: Option<LocationInput>,
    pub network: NetworkContext,
    pub evaluation: Evaluation,
    pub methods: BTreeMap<String, MethodState>,
    pub decided_at: Option<Millis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySnapshot {
    pub id: String,
    pub name: String,
    pub person_id: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySnapshot {
    pub id: String,
    pub name: String,
    pub policy_id: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub status: String,
    pub reason: String,
    pub detail: String,
}

impl From<&ContextVerdict> for Verdict {
    fn from(v: &ContextVerdict) -> Self {
        Verdict { status: v.status.as_str().into(), reason: v.reason.into(), detail: v.detail.clone() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub device_context: Verdict,
    pub location_context: Verdict,
    pub network_context: Verdict,
    pub valid: bool,
    pub is_blocked: bool,
    pub is_new_context: bool,
    pub needed_reauthentications: Vec<Method>,
    pub summary: String,
}

impl From<&Decision> for Evaluation {
    fn from(d: &Decision) -> Self {
        Evaluation {
            device_context: (&d.device).into(),
            location_context: (&d.location).into(),
            network_context: (&d.network).into(),
            valid: d.valid,
            is_blocked: d.is_blocked,
            is_new_context: d.is_new_context,
            needed_reauthentications: d.needed_reauthentications.clone(),
            summary: d.summary.clone(),
        }
    }
}

/// A step-up method's progress within one attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodState {
    pub status: String,
    pub created_at: Millis,
    pub attempts: Vec<MethodAttempt>,
    /// Failed verifications; a new code does not reset it.
    pub failures: u32,
    pub sends: u32,
    pub challenge: Option<Challenge>,
}

impl MethodState {
    pub fn new(now: Millis) -> Self {
        MethodState {
            status: "pending".into(),
            created_at: now,
            attempts: vec![],
            failures: 0,
            sends: 0,
            challenge: None,
        }
    }
}

/// The code currently out, kept only as a keyed hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    pub code_hash: String,
    pub sent_at: Millis,
    pub expires_at: Millis,
    pub sent_to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodAttempt {
    pub refusal_reason: Option<String>,
    /// Known only once the method has ended with this code verified: codes are stored as hashes.
    pub expected_code: Option<String>,
    pub provided_code: Option<String>,
    pub sent_to: Option<String>,
    pub created_at: Millis,
}

impl AttemptDoc {
    pub fn from_record(record: &AttemptRecord) -> anyhow::Result<AttemptDoc> {
        serde_json::from_str(&record.document).map_err(|e| anyhow::anyhow!("attempt {} is unreadable: {e}", record.id))
    }

    pub fn method(&self, m: Method) -> Option<&MethodState> {
        self.methods.get(m.as_str())
    }
}

pub fn ts(ms: Millis) -> String {
    time::format(DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default())
}

/// Erasure (LGPD): the attempt stays for statistics, without anything that points at the person.
pub fn anonymize(document: &mut Value) {
    if let Some(map) = document.as_object_mut() {
        map.insert("identity".into(), Value::Null);
        map.insert("location".into(), Value::Null);
        if let Some(device) = map.get_mut("device").and_then(Value::as_object_mut) {
            device.insert("fingerprint".into(), Value::Null);
        }
        if let Some(methods) = map.get_mut("methods").and_then(Value::as_object_mut) {
            for state in methods.values_mut() {
                if let Some(state) = state.as_object_mut() {
                    state.insert("challenge".into(), Value::Null);
                    if let Some(attempts) = state.get_mut("attempts").and_then(Value::as_array_mut) {
                        for a in attempts.iter_mut().filter_map(Value::as_object_mut) {
                            a.insert("sentTo".into(), Value::Null);
                        }
                    }
                }
            }
        }
    }
}

/// `GET /authentications/{attemptId}`: every field of seed 001, same names and nesting; what the
/// server does not know is `null`. Fields beyond the seed's are added beside them, never instead.
pub fn render(record: &AttemptRecord, doc: &AttemptDoc) -> Value {
    let identity = match &doc.identity {
        Some(i) => {
            json!({"id": i.id, "name": i.name, "personId": i.person_id, "createdAt": ts(i.created_at)})
        }
        None => json!({"id": null, "name": null, "personId": null, "createdAt": null}),
    };
    let device = doc.device.clone().unwrap_or_default();
    let info = &device.provided_info;
    let location = match &doc.location {
        Some(l) => json!({
            "type": "Point",
            "coordinates": [l.coordinates.latitude(), l.coordinates.longitude()],
            "accuracy": l.accuracy.map(|a| a.to_string()),
        }),
        None => Value::Null,
    };
    let facts = &doc.network.facts;
    let methods: serde_json::Map<String, Value> = Method::ALL
        .iter()
        .map(|m| {
            let rendered = doc.method(*m).map(|state| render_method(*m, state));
            (m.as_str().to_owned(), rendered.unwrap_or(Value::Null))
        })
        .collect();
    let e = &doc.evaluation;
    let verdict = |v: &Verdict| json!({"status": v.status, "reason": v.reason, "detail": v.detail});
    json!({
        "id": record.id,
        "identity": identity,
        "policy": {
            "id": doc.policy.id,
            "name": doc.policy.name,
            "policyId": doc.policy.policy_id,
            "createdAt": ts(doc.policy.created_at),
        },
        "createdAt": ts(record.created_at),
        "status": record.status,
        "context": {
            "device": {
                "info": {
                    "userAgent": device.user_agent,
                    "browser": {"name": null, "version": null, "major": null},
                    "engine": {"name": null, "version": null},
                    "os": {"name": null, "version": null},
                    "device": {"vendor": null, "model": null, "type": null},
                    "cpu": {"architecture": null},
                },
                "fingerPrint": device.fingerprint,
                "providedInfo": {
                    "manufacturer": info.manufacturer,
                    "model": info.model,
                    "operatingSystem": info.operating_system,
                    "platform": info.platform,
                },
                "createdAt": ts(record.created_at),
                "type": device.kind,
                "emulator": device.emulator,
                "rooted": device.rooted,
            },
            "location": {
                "reverseGeolocation": {
                    "formattedAddress": null, "streetName": null, "streetNumber": null, "neighborhood": null,
                    "city": null, "region": null, "regionCode": null, "country": null, "countryCode": null, "zipcode": null,
                },
                "location": location,
            },
            "network": {
                "ip": doc.network.ip.to_string(),
                "asCode": facts.as_code,
                "asName": facts.as_name,
                "isVpn": facts.is_vpn,
                "location": {
                    "city": facts.city,
                    "region": facts.region,
                    "regionCode": facts.region_code,
                    "country": facts.country,
                    "countryCode": facts.country_code,
                },
                "isProxy": facts.is_proxy,
                "isTor": facts.is_tor,
                "isHosting": facts.is_hosting,
                "addressKind": doc.network.kind,
            },
        },
        "contextAnalysisResult": if e.valid { "VALID" } else { "INVALID" },
        "authenticationMethods": methods,
        "sourceIp": doc.source_ip,
        "contextEvaluation": {
            "device_context": verdict(&e.device_context),
            "location_context": verdict(&e.location_context),
            "network_context": verdict(&e.network_context),
        },
        "personId": record.person_id,
        "isBlocked": e.is_blocked,
        "isNewContext": e.is_new_context,
        "neededReauthentications": e.needed_reauthentications,
        "decisionSummary": e.summary,
    })
}

fn render_method(method: Method, state: &MethodState) -> Value {
    let attempts: Vec<Value> = state
        .attempts
        .iter()
        .map(|a| {
            if method.is_code() {
                json!({
                    "refusalReason": a.refusal_reason,
                    "expectedCode": a.expected_code,
                    "providedCode": a.provided_code,
                    "sentTo": a.sent_to,
                    "createdAt": ts(a.created_at),
                })
            } else {
                json!({
                    "refusalReason": a.refusal_reason,
                    "providedFace": {"signedUrl": null},
                    "expectedFace": {"signedUrl": null},
                    "faceMatch": {"isMatch": null, "similarity": null},
                    "liveness": {"isAlive": null},
                    "createdAt": ts(a.created_at),
                })
            }
        })
        .collect();
    if method.is_code() {
        json!({"status": state.status, "attempts": attempts, "createdAt": ts(state.created_at)})
    } else {
        json!({"status": state.status, "attempts": attempts})
    }
}

/// The attempt's status as the domain knows it.
pub fn status_of(record: &AttemptRecord) -> Status {
    Status::parse(&record.status).unwrap_or(Status::Reproved)
}
