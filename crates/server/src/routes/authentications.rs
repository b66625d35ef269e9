//! Authentication attempts: the SDK's `verifyPolicy`, the attempt document of seed 001, and the list.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::USER_AGENT;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use smartauth_context::EnrichInput;
use smartauth_domain::context::{ClientHints, DeviceInput, LocationInput, ProvidedInfo};
use smartauth_domain::geo::MAX_DISTANCE_M;
use smartauth_domain::text;
use smartauth_domain::{decide, AttemptContext, Coordinates, DecisionInput, Id, PersonId, Status};
use smartauth_store::{AttemptFilter, AttemptRecord, HistoryQuery, WindowLimit};

use crate::attempt::{self, ts, AttemptDoc};
use crate::auth::{self, Attestation, Backend, Tenant};
use crate::crypto;
use crate::error::{current_request_id, ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::ops;
use crate::ops::devices::BindingBody;
use crate::startup::{App, AppState};
use crate::transaction::Transaction;
use crate::webhooks;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptRequest {
    person_id: Option<String>,
    people_id: Option<String>,
    policy_id: String,
    #[serde(default)]
    context: ContextBody,
    /// The transfer the attempt approves (transaction binding); see `transaction`.
    transaction: Option<crate::transaction::Sent>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ContextBody {
    device: Option<DeviceBody>,
    location: Option<LocationBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    finger_print: Option<String>,
    user_agent: Option<String>,
    #[serde(default)]
    provided_info: ProvidedInfoBody,
    #[serde(default)]
    flags: Flags,
    /// Device binding: a signature by the device's key over a server challenge (sdk/PROTOCOL.md).
    binding: Option<BindingBody>,
    /// User-Agent Client Hints, as the `Sec-CH-UA*` headers carry them.
    client_hints: Option<HintsBody>,
}

/// Client Hints in the body: `brands` (`Sec-CH-UA`), `fullVersionList` (`Sec-CH-UA-Full-Version-List`,
/// or the SDK's "Brand version, ..." text), `platform`, `platformVersion`, `model`, `mobile`. Unknown keys
/// (`architecture`, `bitness`) are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HintsBody {
    brands: Option<String>,
    full_version_list: Option<String>,
    platform: Option<String>,
    platform_version: Option<String>,
    model: Option<String>,
    mobile: Option<bool>,
}

impl HintsBody {
    fn checked(self, field: &str) -> ApiResult<ClientHints> {
        let text = |name: &str, v: Option<String>, max: usize| bounded(&format!("{field}.{name}"), v, max);
        Ok(ClientHints {
            brands: text("brands", self.brands, 512)?,
            full_version_list: text("fullVersionList", self.full_version_list, 512)?,
            platform: text("platform", self.platform, 64)?,
            platform_version: text("platformVersion", self.platform_version, 64)?,
            model: text("model", self.model, 128)?,
            mobile: self.mobile,
        })
    }
}

/// Client Hints from the request's `Sec-CH-UA*` headers (an SDK call: they describe the person's browser).
fn header_hints(headers: &HeaderMap) -> Option<ClientHints> {
    let get = |name: &str, max: usize| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty() && v.len() <= max)
    };
    // sf-strings: "Windows", "15.0.0", "SM-S918B"
    let string = |name: &str, max: usize| {
        get(name, max).map(|v| v.trim_matches('"').to_owned()).filter(|v| text::hidden_in_id(v).is_none())
    };
    let hints = ClientHints {
        brands: get("sec-ch-ua", 512).map(str::to_owned),
        full_version_list: get("sec-ch-ua-full-version-list", 512).map(str::to_owned),
        platform: string("sec-ch-ua-platform", 64),
        platform_version: string("sec-ch-ua-platform-version", 64),
        model: string("sec-ch-ua-model", 128),
        mobile: get("sec-ch-ua-mobile", 4).and_then(|v| match v {
            "?1" => Some(true),
            "?0" => Some(false),
            _ => None,
        }),
    };
    (hints != ClientHints::default()).then_some(hints)
}

/// Free-form facts from the device's own APIs: unknown keys are ignored, not refused.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ProvidedInfoBody {
    manufacturer: Option<String>,
    model: Option<String>,
    operating_system: Option<String>,
    /// The web SDK's copy of `navigator.userAgentData` (see `HintsBody`).
    client_hints: Option<HintsBody>,
    platform: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Flags {
    #[serde(default)]
    emulator: bool,
    #[serde(default)]
    rooted: bool,
    #[serde(default)]
    automation: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    latitude: f64,
    longitude: f64,
    accuracy: Option<f64>,
}

/// A device's self-description: shown to analysts, so nothing invisible (see `text`).
fn bounded(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => {
            Err(ApiError::BadRequest(format!("{field} must be at most {max} printable characters")))
        }
        Some(v) => match text::hidden_in_id(&v) {
            Some(c) => Err(ApiError::BadRequest(format!("{field} must not contain {}", text::describe(c)))),
            None => Ok(Some(v)),
        },
        None => Ok(None),
    }
}

/// The context as sent, and the device binding to check (it needs the store). `sdk_headers`: the request's
/// headers when the SDK calls from the person's device (an SDK token); its `User-Agent` and Client Hints then
/// describe the device where the body does not.
fn parse_context(
    body: ContextBody,
    sdk_headers: Option<&HeaderMap>,
) -> ApiResult<(AttemptContext, Option<BindingBody>)> {
    let mut binding = None;
    let device = match body.device {
        None => None,
        Some(d) => {
            binding = d.binding;
            let header_user_agent = sdk_headers.and_then(|h| h.get(USER_AGENT)).and_then(|v| v.to_str().ok());
            let user_agent = d.user_agent.or_else(|| header_user_agent.map(str::to_owned));
            let mut info = d.provided_info;
            let client_hints = match (d.client_hints, info.client_hints.take()) {
                (Some(h), _) => Some(h.checked("context.device.clientHints")?),
                (None, Some(h)) => Some(h.checked("providedInfo.clientHints")?),
                (None, None) => sdk_headers.and_then(header_hints),
            };
            Some(DeviceInput {
                kind: bounded("context.device.type", d.kind, 32)?,
                fingerprint: bounded("context.device.fingerPrint", d.finger_print, 256)?,
                user_agent: bounded("context.device.userAgent", user_agent, 1024)?,
                provided_info: ProvidedInfo {
                    manufacturer: bounded("providedInfo.manufacturer", info.manufacturer, 128)?,
                    model: bounded("providedInfo.model", info.model, 128)?,
                    operating_system: bounded("providedInfo.operatingSystem", info.operating_system, 128)?,
                    platform: bounded("providedInfo.platform", info.platform, 128)?,
                },
                emulator: d.flags.emulator,
                rooted: d.flags.rooted,
                automation: d.flags.automation,
                client_hints,
                key: None,
            })
        }
    };
    let location = match body.location {
        None => None,
        Some(l) => {
            let coordinates = Coordinates::new(l.latitude, l.longitude)
                .map_err(|e| ApiError::BadRequest(format!("context.location: {e}")))?;
            if l.accuracy.is_some_and(|a| !(0.0..=MAX_DISTANCE_M).contains(&a)) {
                return Err(ApiError::BadRequest(format!(
                    "context.location.accuracy must be a number of metres between 0 and {MAX_DISTANCE_M} (half the \
                     Equator)"
                )));
            }
            Some(LocationInput { coordinates, accuracy: l.accuracy })
        }
    };
    Ok((AttemptContext { device, location }, binding))
}

/// The request's `transaction`, checked (`null` is none).
fn parse_transaction(sent: Option<crate::transaction::Sent>) -> ApiResult<Option<Transaction>> {
    match sent.map(|t| t.0) {
        None | Some(Value::Null) => Ok(None),
        Some(t) => Transaction::parse(t).map(Some).map_err(ApiError::BadRequest),
    }
}

/// The person the call is about: the SDK token's, or the body's for a backend token. A body that names
/// another person than the token's gets the same answer as an unknown person.
fn resolve_person(tenant: &Tenant, from_body: Option<String>) -> ApiResult<PersonId> {
    match (from_body, &tenant.person) {
        (Some(raw), _) => {
            let person = PersonId::parse(&raw, false).map_err(|e| ApiError::BadRequest(format!("personId: {e}")))?;
            if tenant.may_act_for(person.as_str()) {
                Ok(person)
            } else {
                Err(ApiError::not_found("identity"))
            }
        }
        (None, Some(person)) => Ok(person.clone()),
        (None, None) => Err(ApiError::BadRequest("personId is required with a backend token".into())),
    }
}

pub fn attestation(tenant: &Tenant, record: &AttemptRecord, doc: &AttemptDoc) -> ApiResult<String> {
    let now = Utc::now().timestamp();
    let claims = Attestation {
        iss: "smartauth".into(),
        aud: record.client_id.clone(),
        jti: crypto::new_id().to_string(),
        attempt_id: record.id.clone(),
        person_id: record.person_id.clone(),
        people_id: record.person_id.clone(),
        policy_id: record.policy_id.clone(),
        is_authorized: record.status == Status::Approved.as_str(),
        is_new_context: doc.evaluation.is_new_context,
        transaction_hash: doc.transaction.as_ref().map(|t| t.hash.clone()),
        iat: now,
        exp: now + auth::ATTESTATION_LIFETIME_SECS,
    };
    Ok(auth::sign_attestation(&tenant.client.secret, &claims)?)
}

pub async fn create(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    tenant: Tenant,
    Json(body): Json<AttemptRequest>,
) -> ApiResult<Response> {
    let person = resolve_person(&tenant, body.person_id.or(body.people_id))?;
    tenant.may_use_policy(&body.policy_id)?;
    let transaction = parse_transaction(body.transaction)?;
    tenant.may_name_transaction(transaction.as_ref().map(|t| t.hash.as_str()))?;
    // The request's own User-Agent and Client Hints describe the person's device only when the SDK calls from it.
    let (mut context, binding) = parse_context(body.context, tenant.person.as_ref().map(|_| &headers))?;
    let client_id = tenant.client_id();
    let policy = match smartauth_domain::policy::valid_policy_id(&body.policy_id) {
        true => app.policy(client_id, &body.policy_id).await?,
        false => None,
    }
    .ok_or_else(|| ApiError::not_found("policy"))?;
    if let (Some(binding), Some(device)) = (binding, context.device.as_mut()) {
        device.key = Some(ops::devices::verify(&app, binding, client_id, person.as_str(), &body.policy_id).await?);
    }
    // By the device's proven key when it has one. Else, from a browser or app (an SDK token), by the person
    // and the fingerprint: a fingerprint is anyone's to send, and throttling by it alone would let a stranger
    // slow a person's own device down by sending its fingerprint (one address trying many people is the
    // address throttle's to stop). From the tenant's backend, by the fingerprint alone: one device tried
    // for many people is throttled, and only the tenant can send it so.
    if let Some(device) = context.device.as_ref() {
        match (device.key.as_deref(), device.fingerprint.as_deref(), tenant.person.is_some()) {
            (Some(key), _, _) => app.throttles.device_attempt(client_id, &format!("key:{key}"))?,
            (None, Some(fingerprint), true) => {
                app.throttles.device_attempt(client_id, &format!("person:{}\0{fingerprint}", person.as_str()))?
            }
            (None, Some(fingerprint), false) => app.throttles.device_attempt(client_id, fingerprint)?,
            (None, None, _) => {}
        }
    }

    let rules = &policy.policy;
    let source_ip = app.client_ip(peer.ip(), &headers);
    let coordinates = context.location.as_ref().map(|l| l.coordinates);
    let mut enrichment = app.intel.enrich(&EnrichInput {
        tenant: client_id,
        ip: source_ip,
        user_agent: context.device.as_ref().and_then(|d| d.user_agent.as_deref()),
        client_hints: context.device.as_ref().and_then(|d| d.client_hints.as_ref()),
        fingerprint: context.device.as_ref().and_then(|d| d.fingerprint.as_deref()),
        coordinates,
    });
    if let (Some(geocoder), Some(at)) = (&app.geocoder, coordinates) {
        enrichment.street = geocoder.reverse(at).await;
    }
    let network = &enrichment.network;
    let place_country = enrichment.place.as_ref().and_then(|p| p.country_code.as_deref());
    let suspicious_location = enrichment.location_flags.iter().find_map(|f| f.suspicion());
    let limit = &rules.max_attempts_per_identity;
    // Decide, then store only if the person is still enrolled and under the attempt limit at that moment;
    // a request that lost that race decides again, and then sees the limit (or the erasure).
    let mut tries = 0;
    let (decision, record, doc) = loop {
        tries += 1;
        let now = Utc::now();
        let window = WindowLimit {
            window_start: now.timestamp_millis() - i64::from(limit.window_seconds) * 1000,
            limit: limit.limit,
        };
        let (identity, history) = app
            .store
            .decision_inputs(&HistoryQuery {
                client_id,
                person_id: person.as_str(),
                fingerprint: context.device.as_ref().and_then(|d| d.fingerprint.as_deref()),
                device_key: context.device.as_ref().and_then(|d| d.key.as_deref()),
                window_start: window.window_start,
                attempt_limit: window.limit,
            })
            .await?
            .ok_or_else(|| ApiError::not_found("identity"))?;
        let methods = ops::attempts::Offers::of(&app).for_person(
            identity.face_template_enc.is_some(),
            identity.email.is_some(),
            identity.phone.is_some(),
        );
        let decision = decide(&DecisionInput {
            policy: rules,
            context: &context,
            network: &network.decision_facts(),
            location_country: place_country,
            suspicious_location,
            history: &history,
            now,
            available_methods: &methods,
        });
        let created_at = now.timestamp_millis();
        let mut doc = AttemptDoc::new(&identity, &policy, &context, source_ip, &enrichment, &decision, created_at);
        doc.transaction = transaction.clone();
        let mut record = AttemptRecord {
            id: crypto::new_id().to_string(),
            client_id: client_id.to_owned(),
            person_id: Some(person.as_str().to_owned()),
            policy_id: rules.policy_id.clone(),
            status: decision.status.as_str().to_owned(),
            created_at,
            version: 1,
            document: String::new(),
            expires_at: doc.step_up.as_ref().and_then(|r| r.expires_at),
            judged: None,
        };
        doc.store_in(&mut record).map_err(anyhow::Error::from)?;
        let learned =
            (decision.status == Status::Approved).then(|| ops::attempts::learned_from(&record, &doc)).flatten();
        // Attempts refused for the limit itself are always recorded.
        let guard = (history.attempts_in_window < limit.limit).then_some(&window);
        let events = [webhooks::attempt_event(&record, &doc)];
        if app.store.insert_attempt_with(&record, learned.as_ref(), guard, &events).await? {
            app.webhook_wakeup.ring();
            break (decision, record, doc);
        }
        if tries >= 5 {
            return Err(ApiError::Conflict("too many simultaneous attempts for this identity; try again".into()));
        }
    };
    metrics::counter!("smartauth_decisions_total", "status" => decision.status.as_str()).increment(1);
    crate::telemetry::attempt_decided(&decision);
    tracing::info!(attempt_id = %record.id, status = decision.status.as_str(), summary = %decision.summary, "attempt decided");

    let approved = decision.status == Status::Approved;
    let mut out = json!({
        "attemptId": record.id,
        "status": decision.status.as_str(),
        "isAuthorized": approved,
        "isBlocked": decision.is_blocked,
        "isNewContext": decision.is_new_context,
        "contextAnalysisResult": if decision.valid { "VALID" } else { "INVALID" },
        "neededReauthentications": decision.needed_reauthentications,
    });
    if approved {
        out["attestation"] = attestation(&tenant, &record, &doc)?.into();
    }
    Ok(ok_json(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChallengeRequest {
    person_id: Option<String>,
    people_id: Option<String>,
    policy_id: String,
}

/// `POST /authentications/device-challenge`: a challenge for the device to sign in its next attempt.
pub async fn device_challenge(
    State(app): State<AppState>,
    tenant: Tenant,
    Json(body): Json<ChallengeRequest>,
) -> ApiResult<Response> {
    let person = resolve_person(&tenant, body.person_id.or(body.people_id))?;
    tenant.may_use_policy(&body.policy_id)?;
    let client_id = tenant.client_id();
    let policy = match smartauth_domain::policy::valid_policy_id(&body.policy_id) {
        true => app.policy(client_id, &body.policy_id).await?,
        false => None,
    };
    if policy.is_none() {
        return Err(ApiError::not_found("policy"));
    }
    if app.store.identity(client_id, person.as_str()).await?.is_none() {
        return Err(ApiError::not_found("identity"));
    }
    let issued = ops::devices::issue(&app, client_id, person.as_str(), &body.policy_id).await?;
    Ok(ok_json(json!({"challenge": issued.challenge, "expiresAt": attempt::ts(issued.expires_at)})))
}

/// Loads an attempt the caller may see; anything else is 404, without saying why.
pub async fn load(app: &App, tenant: &Tenant, raw_id: &str) -> ApiResult<(AttemptRecord, AttemptDoc)> {
    let id = Id::parse(raw_id).ok_or_else(|| ApiError::not_found("attempt"))?;
    let record =
        app.store.attempt(tenant.client_id(), id.as_str()).await?.ok_or_else(|| ApiError::not_found("attempt"))?;
    let visible = match &tenant.person {
        None => true,
        Some(p) => record.person_id.as_deref() == Some(p.as_str()) && tenant.reaches_policy(&record.policy_id),
    };
    if !visible {
        return Err(ApiError::not_found("attempt"));
    }
    let doc = AttemptDoc::from_record(&record)?;
    Ok((record, doc))
}

pub async fn read(
    State(app): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (record, doc) = load(&app, &tenant, &id).await?;
    if tenant.person.is_some() {
        return Ok(axum::Json(attempt::render_for_person(current_request_id(), &record, &doc)).into_response());
    }
    let links = attempt::MediaLinks {
        key: &app.key,
        base: app.base_url(&headers),
        now: Utc::now().timestamp(),
        for_backend: tenant.person.is_none(),
    };
    Ok(axum::Json(attempt::render(current_request_id(), &record, &doc, &links)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    person_id: Option<String>,
    status: Option<String>,
    policy_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn parse_time(field: &str, raw: &str) -> ApiResult<i64> {
    parse_instant(field, raw).map(|t| t.timestamp_millis())
}

/// `since` in milliseconds, rounded up: a thing made before the instant named is not after it.
pub(super) fn since_millis(raw: &str) -> ApiResult<i64> {
    let at = parse_instant("since", raw)?;
    Ok(at.timestamp_millis() + i64::from(at.timestamp_subsec_nanos() % 1_000_000 != 0))
}

/// A time a client names, or the 400 that says how to write one.
pub(super) fn parse_instant(field: &str, raw: &str) -> ApiResult<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(raw)
        .map_err(|_| ApiError::BadRequest(format!("{field} must be an RFC 3339 time such as 2024-01-01T00:00:00Z")))
}

fn parse_cursor(raw: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::BadRequest("cursor is not one this server returned".into());
    let (at, id) = raw.split_once('-').ok_or_else(bad)?;
    let id = Id::parse(id).ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

pub async fn list(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 200".into()));
    }
    if let Some(s) = &q.status {
        Status::parse(s).ok_or_else(|| ApiError::BadRequest("status must be approved, pending or reproved".into()))?;
    }
    let filter = AttemptFilter {
        person_id: q
            .person_id
            .as_deref()
            .map(|p| PersonId::parse(p, false).map(|p| p.as_str().to_owned()))
            .transpose()
            .map_err(|e| ApiError::BadRequest(format!("personId: {e}")))?,
        status: q.status,
        policy_id: q.policy_id,
        from: q.from.as_deref().map(|t| parse_time("from", t)).transpose()?,
        to: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        after: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let records = app.store.attempts(tenant.client_id(), &filter).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| format!("{}-{}", r.created_at, r.id)))
        .flatten();
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            let doc = AttemptDoc::from_record(r).ok();
            let e = doc.as_ref().map(|d| &d.evaluation);
            json!({
                "id": r.id,
                "personId": r.person_id,
                "policyId": r.policy_id,
                "status": r.status,
                "createdAt": ts(r.created_at),
                "contextAnalysisResult": e.map(|e| if e.valid { "VALID" } else { "INVALID" }),
                "isBlocked": e.map(|e| e.is_blocked),
                "decisionSummary": e.map(|e| e.summary.clone()),
            })
        })
        .collect();
    Ok(ok_json(json!({"items": items, "nextCursor": next_cursor})))
}

#[doc(hidden)]
pub mod fuzz;
