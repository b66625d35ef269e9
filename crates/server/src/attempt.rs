//! An authentication attempt as the server keeps it, and its rendering as the document of seed 001.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use smartauth_context::geo::{Place, StreetAddress};
use smartauth_context::ua::UserAgentInfo;
use smartauth_context::{Enrichment, LocationFlag, NetworkContext};
use smartauth_domain::context::{DeviceInput, LocationInput};
use smartauth_domain::policy::{CodeRules, FaceRules};
use smartauth_domain::{time, AttemptContext, ContextVerdict, Decision, Method, Status};
use smartauth_store::{AttemptRecord, IdentityRecord, Millis, PolicyRecord};

use crate::transaction::Transaction;

/// The server's own record of an attempt, stored as the attempt's JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptDoc {
    /// The identity as it was when the attempt was made; emptied when the person is erased.
    pub identity: Option<IdentitySnapshot>,
    pub policy: PolicySnapshot,
    /// The policy's step-up rules as they were when the attempt started (later edits do not change a
    /// running attempt); kept only while the attempt waits for a step-up, since nothing else reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUpRules>,
    pub source_ip: String,
    pub device: Option<DeviceInput>,
    pub location: Option<LocationInput>,
    pub network: NetworkContext,
    /// The user agent as parsed when the attempt was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<UserAgentInfo>,
    /// The tenant-scoped key of the device's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
    /// The nearest populated place to the device's coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// Street detail from the external geocoder, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<StreetAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_flags: Vec<LocationFlag>,
    pub evaluation: Evaluation,
    pub methods: BTreeMap<String, MethodState>,
    pub decided_at: Option<Millis>,
    /// The transfer the attempt approves (transaction binding), with its hash for the attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<Transaction>,
    /// Why a waiting attempt was closed without a step-up outcome (`ATTEMPT_EXPIRED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<String>,
}

impl AttemptDoc {
    /// Writes the document into its record, with the fields a policy replay judges
    /// (`ops::replay::Judged`) beside it while the attempt has its person (an erased person's is not
    /// replayed, and keeps none).
    pub fn store_in(&self, record: &mut AttemptRecord) -> serde_json::Result<()> {
        record.document = serde_json::to_string(self)?;
        record.judged = match record.person_id {
            Some(_) => Some(serde_json::to_string(&crate::ops::replay::Judged::of(self))?),
            None => None,
        };
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUpRules {
    pub codes: CodeRules,
    pub face: FaceRules,
    /// When the attempt stops waiting (the policy's `attemptTtlSeconds` after it was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

impl StepUpRules {
    /// The policy's rules, with tries per method held to today's bound: a policy stored before the
    /// bound may allow more.
    pub fn bounded(codes: &CodeRules, face: &FaceRules) -> StepUpRules {
        let mut rules = StepUpRules { codes: codes.clone(), face: face.clone(), expires_at: None };
        let most = smartauth_domain::policy::MAX_TRIES_PER_METHOD;
        rules.codes.max_attempts = rules.codes.max_attempts.min(most);
        rules.face.max_attempts = rules.face.max_attempts.min(most);
        rules
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySnapshot {
    pub id: String,
    pub name: String,
    pub person_id: String,
    pub created_at: Millis,
    /// The step-up means it had on file (an enrolled face, an email, a phone): what a policy replay offers
    /// the attempt. Absent from attempts stored before it was kept (a replay reads today's for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub means: Option<[bool; 3]>,
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
        Verdict { status: v.status.as_str().into(), reason: v.reason.into(), detail: v.detail.to_string() }
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
            summary: d.summary.to_string(),
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
    /// The verified code (spent, so harmless); a refused one only as `masked_code`, since it may be a
    /// live code of another method or attempt (typed into the wrong box).
    pub provided_code: Option<String>,
    pub sent_to: Option<String>,
    pub created_at: Millis,
    /// A face attempt's outcome; absent for codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceAttempt>,
}

/// What one selfie gave. Scores are `None` when the image was refused before matching.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceAttempt {
    /// Media names (see `faces::media_name`) of the selfie and of the enrolled image it was compared with.
    pub provided: Option<String>,
    pub expected: Option<String>,
    pub similarity: Option<f32>,
    pub is_match: Option<bool>,
    pub liveness: Option<f32>,
    pub is_alive: Option<bool>,
    /// What to fix when the selfie was refused for its quality (`face_too_small`, `too_dark`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_detail: Option<String>,
}

/// Signs media links while a document is rendered.
pub struct MediaLinks<'a> {
    pub key: &'a crate::crypto::MasterKey,
    pub base: String,
    pub now: i64,
    /// Links and scores are for the tenant's backend only: a person-scoped (SDK) token is what a
    /// hijacked session holds, and the enrolled photo or the exact similarity would help an attacker
    /// pass the face step-up.
    pub for_backend: bool,
}

impl AttemptDoc {
    /// The record of a freshly decided attempt.
    pub fn new(
        identity: &IdentityRecord,
        policy: &PolicyRecord,
        context: &AttemptContext,
        source_ip: IpAddr,
        enrichment: &Enrichment,
        decision: &Decision,
        created_at: Millis,
    ) -> AttemptDoc {
        let rules = &policy.policy;
        let pending = decision.status == Status::Pending;
        AttemptDoc {
            identity: Some(IdentitySnapshot {
                id: identity.id.clone(),
                name: identity.name.clone(),
                person_id: identity.person_id.clone(),
                created_at: identity.created_at,
                means: Some([identity.face_template_enc.is_some(), identity.email.is_some(), identity.phone.is_some()]),
            }),
            policy: PolicySnapshot {
                id: policy.id.clone(),
                name: rules.name.clone(),
                policy_id: rules.policy_id.clone(),
                created_at: policy.created_at,
            },
            step_up: pending.then(|| StepUpRules {
                expires_at: Some(created_at + i64::from(rules.attempt_ttl_seconds) * 1000),
                ..StepUpRules::bounded(&rules.codes, &rules.face)
            }),
            source_ip: source_ip.to_string(),
            device: context.device.clone(),
            location: context.location.clone(),
            network: enrichment.network.clone(),
            user_agent: enrichment.user_agent.as_deref().cloned(),
            device_key: enrichment.device_key.clone(),
            place: enrichment.place.clone(),
            street: enrichment.street.as_deref().cloned(),
            location_flags: enrichment.location_flags.clone(),
            evaluation: decision.into(),
            methods: decision
                .needed_reauthentications
                .iter()
                .map(|m| (m.as_str().to_owned(), MethodState::new(created_at)))
                .collect(),
            decided_at: (!pending).then_some(created_at),
            transaction: None,
            closed_reason: None,
        }
    }

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

/// How a refused code is kept and shown: its length, not its digits.
pub fn masked_code(code: &str) -> String {
    "*".repeat(code.chars().count())
}

/// What an erased attempt shows where the client's address was.
pub const ERASED_IP: &str = "0.0.0.0";

/// Erasure (LGPD): the attempt stays for statistics (when, which policy, which verdicts and reasons),
/// without anything that points at the person: identity, place, device, address, code destinations.
pub fn anonymize(document: &mut Value) {
    if let Some(map) = document.as_object_mut() {
        map.insert("identity".into(), Value::Null);
        map.insert("location".into(), Value::Null);
        map.insert("device".into(), Value::Null);
        map.insert("sourceIp".into(), ERASED_IP.into());
        for key in ["userAgent", "deviceKey", "place", "street", "locationFlags"] {
            map.remove(key);
        }
        // The payee and the accounts are about the person's dealings; the hash alone stays.
        if let Some(transaction) = map.get_mut("transaction").and_then(Value::as_object_mut) {
            transaction.remove("details");
        }
        if let Some(network) = map.get_mut("network").and_then(Value::as_object_mut) {
            network.insert("ip".into(), ERASED_IP.into());
            // The country and the anonymizer flags stay (statistics); the city and network do not.
            if let Some(facts) = network.get_mut("facts").and_then(Value::as_object_mut) {
                for key in ["city", "region", "regionCode", "asCode", "asName", "provider"] {
                    facts.insert(key.into(), Value::Null);
                }
            }
        }
        // The analyst's sentences may quote the address or the device.
        if let Some(evaluation) = map.get_mut("evaluation").and_then(Value::as_object_mut) {
            for verdict in evaluation.values_mut().filter_map(Value::as_object_mut) {
                if verdict.contains_key("detail") {
                    verdict.insert("detail".into(), "erased with the identity".into());
                }
            }
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
/// Serialized straight from these views (no intermediate JSON tree): this is the hottest read.
pub fn render<'a>(
    request_id: String,
    record: &'a AttemptRecord,
    doc: &'a AttemptDoc,
    links: &'a MediaLinks<'a>,
) -> SeedDocument<'a> {
    let e = &doc.evaluation;
    let device = doc.device.as_ref();
    let info = device.map(|d| &d.provided_info);
    let facts = &doc.network.facts;
    let method = |m: Method| MethodView { method: m, state: doc.method(m), record, links };
    SeedDocument {
        request_id,
        id: &record.id,
        identity: IdentityView {
            id: doc.identity.as_ref().map(|i| i.id.as_str()),
            name: doc.identity.as_ref().map(|i| i.name.as_str()),
            person_id: doc.identity.as_ref().map(|i| i.person_id.as_str()),
            created_at: doc.identity.as_ref().map(|i| ts(i.created_at)),
        },
        policy: PolicyView {
            id: &doc.policy.id,
            name: &doc.policy.name,
            policy_id: &doc.policy.policy_id,
            created_at: ts(doc.policy.created_at),
        },
        created_at: ts(record.created_at),
        status: &record.status,
        status_reason: doc.closed_reason.as_deref(),
        context: ContextView {
            device: DeviceView {
                info: DeviceInfo {
                    user_agent: device.and_then(|d| d.user_agent.as_deref()),
                    parsed: doc.user_agent.as_ref().unwrap_or(&NOTHING_PARSED),
                },
                finger_print: device.and_then(|d| d.fingerprint.as_deref()),
                device_key: doc.device_key.as_deref(),
                provided_info: ProvidedInfoView {
                    manufacturer: info.and_then(|i| i.manufacturer.as_deref()),
                    model: info.and_then(|i| i.model.as_deref()),
                    operating_system: info.and_then(|i| i.operating_system.as_deref()),
                    platform: info.and_then(|i| i.platform.as_deref()),
                },
                created_at: ts(record.created_at),
                kind: device.and_then(|d| d.kind.as_deref()),
                emulator: device.is_some_and(|d| d.emulator),
                rooted: device.is_some_and(|d| d.rooted),
                automation: device.is_some_and(|d| d.automation),
                key_thumbprint: device.and_then(|d| d.key.as_deref()),
            },
            location: LocationView {
                reverse_geolocation: ReverseGeolocation::new(doc.place.as_ref(), doc.street.as_ref()),
                flags: &doc.location_flags,
                location: doc.location.as_ref().map(|l| PointView {
                    kind: "Point",
                    coordinates: [l.coordinates.latitude(), l.coordinates.longitude()],
                    accuracy: l.accuracy.map(|a| a.to_string()),
                }),
            },
            network: NetworkView {
                ip: doc.network.ip.to_string(),
                as_code: facts.as_code,
                as_name: facts.as_name.as_deref(),
                is_vpn: facts.is_vpn,
                location: IpLocationView {
                    city: facts.city.as_deref(),
                    region: facts.region.as_deref(),
                    region_code: facts.region_code.as_deref(),
                    country: facts.country.as_deref(),
                    country_code: facts.country_code.as_deref(),
                },
                is_proxy: facts.is_proxy,
                is_tor: facts.is_tor,
                is_hosting: facts.is_hosting,
                provider: facts.provider.as_deref(),
                address_kind: doc.network.kind,
            },
        },
        context_analysis_result: if e.valid { "VALID" } else { "INVALID" },
        authentication_methods: MethodsView {
            face_authentication: method(Method::FaceAuthentication),
            email_authentication: method(Method::EmailAuthentication),
            sms_authentication: method(Method::SmsAuthentication),
        },
        source_ip: &doc.source_ip,
        context_evaluation: EvaluationView {
            device_context: &e.device_context,
            location_context: &e.location_context,
            network_context: &e.network_context,
        },
        person_id: record.person_id.as_deref(),
        is_blocked: e.is_blocked,
        is_new_context: e.is_new_context,
        needed_reauthentications: &e.needed_reauthentications,
        decision_summary: &e.summary,
        transaction: doc.transaction.as_ref().map(TransactionView::from),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedDocument<'a> {
    request_id: String,
    id: &'a str,
    identity: IdentityView<'a>,
    policy: PolicyView<'a>,
    created_at: String,
    status: &'a str,
    /// Beside the seed's fields: why a waiting attempt was closed (`ATTEMPT_EXPIRED`, `METHODS_EXHAUSTED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<&'a str>,
    context: ContextView<'a>,
    context_analysis_result: &'static str,
    authentication_methods: MethodsView<'a>,
    source_ip: &'a str,
    context_evaluation: EvaluationView<'a>,
    person_id: Option<&'a str>,
    is_blocked: bool,
    is_new_context: bool,
    needed_reauthentications: &'a [Method],
    decision_summary: &'a str,
    /// Beside the seed's fields: the transfer the attempt approves, when it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<TransactionView<'a>>,
}

/// `{"details": {...as sent...}, "hash": "<hex SHA-256 of its RFC 8785 canonical JSON>"}`; the
/// details are gone once the person is erased.
#[derive(Serialize)]
pub struct TransactionView<'a> {
    details: Option<&'a serde_json::Map<String, Value>>,
    hash: &'a str,
}

impl<'a> From<&'a Transaction> for TransactionView<'a> {
    fn from(t: &'a Transaction) -> Self {
        TransactionView { details: (!t.details.is_empty()).then_some(&t.details), hash: &t.hash }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityView<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    person_id: Option<&'a str>,
    created_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyView<'a> {
    id: &'a str,
    name: &'a str,
    policy_id: &'a str,
    created_at: String,
}

#[derive(Serialize)]
struct ContextView<'a> {
    device: DeviceView<'a>,
    location: LocationView<'a>,
    network: NetworkView<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceView<'a> {
    info: DeviceInfo<'a>,
    finger_print: Option<&'a str>,
    /// Beside the seed's fields: a stable, tenant-scoped key derived from the fingerprint.
    device_key: Option<&'a str>,
    provided_info: ProvidedInfoView<'a>,
    created_at: String,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    emulator: bool,
    rooted: bool,
    /// Beside the seed's fields: the browser was driven by automation, as the SDK saw it.
    automation: bool,
    /// Beside the seed's fields: the RFC 7638 thumbprint of the device key that signed the attempt.
    key_thumbprint: Option<&'a str>,
}

/// The parsed user agent, in ua-parser-js's shape; every leaf is null when nothing was parsed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo<'a> {
    user_agent: Option<&'a str>,
    #[serde(flatten)]
    parsed: &'a UserAgentInfo,
}

static NOTHING_PARSED: UserAgentInfo = UserAgentInfo {
    browser: smartauth_context::ua::Browser { name: None, version: None, major: None },
    engine: smartauth_context::ua::NameVersion { name: None, version: None },
    os: smartauth_context::ua::NameVersion { name: None, version: None },
    device: smartauth_context::ua::Device { vendor: None, model: None, kind: None },
    cpu: smartauth_context::ua::Cpu { architecture: None },
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProvidedInfoView<'a> {
    manufacturer: Option<&'a str>,
    model: Option<&'a str>,
    operating_system: Option<&'a str>,
    platform: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocationView<'a> {
    reverse_geolocation: ReverseGeolocation,
    location: Option<PointView>,
    /// Beside the seed's fields: what looks wrong with the coordinates.
    flags: &'a [LocationFlag],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReverseGeolocation {
    formatted_address: Option<String>,
    street_name: Option<String>,
    street_number: Option<String>,
    neighborhood: Option<String>,
    city: Option<String>,
    region: Option<String>,
    region_code: Option<String>,
    country: Option<String>,
    country_code: Option<String>,
    zipcode: Option<String>,
}

impl ReverseGeolocation {
    fn new(place: Option<&Place>, street: Option<&StreetAddress>) -> ReverseGeolocation {
        let street = street.cloned().unwrap_or_default();
        let place = place.cloned().unwrap_or_default();
        // The seed's shape: "Rua X, 221b - Bairro, Cidade - SP, 00000-000, Brazil".
        let mut parts: Vec<String> = Vec::new();
        if let Some(name) = &street.street_name {
            let mut s = name.clone();
            if let Some(n) = &street.street_number {
                s.push_str(&format!(", {n}"));
            }
            if let Some(b) = &street.neighborhood {
                s.push_str(&format!(" - {b}"));
            }
            parts.push(s);
        }
        let mut town = place.city.clone().unwrap_or_default();
        if let Some(region) = place.region_code.as_ref().or(place.region.as_ref()) {
            town = if town.is_empty() { region.clone() } else { format!("{town} - {region}") };
        }
        if !town.is_empty() {
            parts.push(town);
        }
        if let Some(zip) = &street.zipcode {
            parts.push(zip.clone());
        }
        if let Some(country) = &place.country {
            parts.push(country.clone());
        }
        ReverseGeolocation {
            formatted_address: (!parts.is_empty()).then(|| parts.join(", ")),
            street_name: street.street_name,
            street_number: street.street_number,
            neighborhood: street.neighborhood,
            city: place.city,
            region: place.region,
            region_code: place.region_code,
            country: place.country,
            country_code: place.country_code,
            zipcode: street.zipcode,
        }
    }
}

#[derive(Serialize)]
struct PointView {
    #[serde(rename = "type")]
    kind: &'static str,
    /// `[latitude, longitude]`, as in the seed's example.
    coordinates: [f64; 2],
    /// A string, as in the seed.
    accuracy: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkView<'a> {
    ip: String,
    as_code: Option<u32>,
    as_name: Option<&'a str>,
    is_vpn: Option<bool>,
    location: IpLocationView<'a>,
    is_proxy: Option<bool>,
    is_tor: Option<bool>,
    is_hosting: Option<bool>,
    /// Who runs the range, for hosting, CDN, VPN and Tor ranges.
    provider: Option<&'a str>,
    address_kind: smartauth_context::AddressKind,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IpLocationView<'a> {
    city: Option<&'a str>,
    region: Option<&'a str>,
    region_code: Option<&'a str>,
    country: Option<&'a str>,
    country_code: Option<&'a str>,
}

#[derive(Serialize)]
struct MethodsView<'a> {
    face_authentication: MethodView<'a>,
    email_authentication: MethodView<'a>,
    sms_authentication: MethodView<'a>,
}

#[derive(Serialize)]
struct EvaluationView<'a> {
    device_context: &'a Verdict,
    location_context: &'a Verdict,
    network_context: &'a Verdict,
}

/// A method the attempt did not offer keeps the seed's shape: `status` null and no attempts.
struct MethodView<'a> {
    method: Method,
    state: Option<&'a MethodState>,
    record: &'a AttemptRecord,
    links: &'a MediaLinks<'a>,
}

impl Serialize for MethodView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let code = self.method.is_code();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("status", &self.state.map(|s| &s.status))?;
        let attempts: Vec<Value> = self
            .state
            .map(|s| s.attempts.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                if code {
                    // Records written before refused codes were masked are masked as they are read.
                    let provided = match &a.refusal_reason {
                        Some(_) => a.provided_code.as_deref().map(masked_code),
                        None => a.provided_code.clone(),
                    };
                    json!({
                        "refusalReason": a.refusal_reason,
                        "expectedCode": a.expected_code,
                        "providedCode": provided,
                        "sentTo": a.sent_to,
                        "createdAt": ts(a.created_at),
                    })
                } else {
                    let mut face = a.face.clone().unwrap_or_default();
                    if !self.links.for_backend {
                        (face.provided, face.expected, face.similarity, face.liveness) = (None, None, None, None);
                    }
                    let link = |name: &Option<String>| {
                        name.as_deref().map(|n| {
                            crate::faces::signed_link(
                                self.links.key,
                                &self.links.base,
                                &self.record.client_id,
                                &self.record.id,
                                n,
                                self.links.now,
                            )
                        })
                    };
                    json!({
                        "refusalReason": a.refusal_reason,
                        "refusalDetail": face.refusal_detail,
                        "providedFace": {"signedUrl": link(&face.provided)},
                        "expectedFace": {"signedUrl": link(&face.expected)},
                        // A string, as in the seed.
                        "faceMatch": {"isMatch": face.is_match, "similarity": face.similarity.map(|s| format!("{s:.4}"))},
                        "liveness": {"isAlive": face.is_alive, "score": face.liveness.map(|s| format!("{s:.4}"))},
                        "createdAt": ts(a.created_at),
                    })
                }
            })
            .collect();
        map.serialize_entry("attempts", &attempts)?;
        if code {
            map.serialize_entry("createdAt", &self.state.map(|s| ts(s.created_at)))?;
        } else if self.state.is_some() {
            // Selfies refused for their quality (what to fix: light, distance...) apart from faces that were
            // compared and did not match, or did not look alive. (A method not offered keeps the seed's shape.)
            let tries = self.state.map(|s| s.attempts.as_slice()).unwrap_or_default();
            let count = |reasons: &[&str]| {
                tries.iter().filter(|a| a.refusal_reason.as_deref().is_some_and(|r| reasons.contains(&r))).count()
            };
            map.serialize_entry("qualityRefusals", &count(&["poor_quality", "face_not_found", "multiple_faces"]))?;
            map.serialize_entry("mismatches", &count(&["face_mismatch", "person_not_alive"]))?;
        }
        map.end()
    }
}

/// `GET /authentications/{attemptId}` for a person-scoped (SDK) token: the outcome and what to do
/// next, not the evidence. A hijacked session holds such a token; the verdicts' reasons and details,
/// the network and location findings and the summary would tell it which signal to fake on its
/// next try. The tenant's backend token reads the full document (`render`).
pub fn render_for_person<'a>(request_id: String, record: &'a AttemptRecord, doc: &'a AttemptDoc) -> PersonDocument<'a> {
    let e = &doc.evaluation;
    let method = |m: Method| PersonMethodView::new(m, doc);
    PersonDocument {
        request_id,
        id: &record.id,
        person_id: record.person_id.as_deref(),
        policy: PersonPolicyView { policy_id: &doc.policy.policy_id, name: &doc.policy.name },
        created_at: ts(record.created_at),
        status: &record.status,
        status_reason: doc.closed_reason.as_deref(),
        context_analysis_result: if e.valid { "VALID" } else { "INVALID" },
        is_blocked: e.is_blocked,
        is_new_context: e.is_new_context,
        needed_reauthentications: &e.needed_reauthentications,
        transaction: doc.transaction.as_ref().map(TransactionView::from),
        authentication_methods: PersonMethodsView {
            face_authentication: method(Method::FaceAuthentication),
            email_authentication: method(Method::EmailAuthentication),
            sms_authentication: method(Method::SmsAuthentication),
        },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonDocument<'a> {
    request_id: String,
    id: &'a str,
    person_id: Option<&'a str>,
    policy: PersonPolicyView<'a>,
    created_at: String,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<&'a str>,
    context_analysis_result: &'static str,
    is_blocked: bool,
    is_new_context: bool,
    needed_reauthentications: &'a [Method],
    /// What the person is approving: dynamic linking makes the payer aware of amount and payee.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<TransactionView<'a>>,
    authentication_methods: PersonMethodsView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonPolicyView<'a> {
    policy_id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct PersonMethodsView {
    face_authentication: PersonMethodView,
    email_authentication: PersonMethodView,
    sms_authentication: PersonMethodView,
}

/// A method's progress: its status, the tries left while it is open, and each try's outcome (the
/// refusal reason the verify answer gave, and where a code went, masked).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonMethodView {
    status: Option<String>,
    attempts_left: Option<u32>,
    attempts: Vec<PersonMethodAttempt>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonMethodAttempt {
    refusal_reason: Option<String>,
    /// What to fix in a selfie refused for its quality: the person's to know.
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_to: Option<String>,
    created_at: String,
}

impl PersonMethodView {
    fn new(method: Method, doc: &AttemptDoc) -> PersonMethodView {
        let Some(state) = doc.method(method) else {
            return PersonMethodView { status: None, attempts_left: None, attempts: vec![] };
        };
        let max_attempts = doc.step_up.as_ref().filter(|_| state.status == Status::Pending.as_str()).map(|rules| {
            if method.is_code() {
                rules.codes.max_attempts
            } else {
                rules.face.max_attempts
            }
        });
        PersonMethodView {
            status: Some(state.status.clone()),
            attempts_left: max_attempts.map(|max| max.saturating_sub(state.failures)),
            attempts: state
                .attempts
                .iter()
                .map(|a| PersonMethodAttempt {
                    refusal_reason: a.refusal_reason.clone(),
                    refusal_detail: a.face.as_ref().and_then(|f| f.refusal_detail.clone()),
                    sent_to: a.sent_to.clone(),
                    created_at: ts(a.created_at),
                })
                .collect(),
        }
    }
}

/// The attempt's status as the domain knows it.
pub fn status_of(record: &AttemptRecord) -> Status {
    Status::parse(&record.status).unwrap_or(Status::Reproved)
}
