//! Step-up: by one-time code (send a code by email or SMS, then verify what the user typed), or by
//! face (a selfie matched against the enrolled face, with liveness).

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use smartauth_domain::lockout::Factor;
use smartauth_domain::{Email, Method, OtpCode, Phone, Status};
use smartauth_store::{AttemptRecord, Millis};

use crate::attempt::{masked_code, ts, AttemptDoc, Challenge, MethodAttempt, MethodState, StepUpRules};
use crate::auth::Tenant;
use crate::crypto;
use crate::delivery::messages::{self, MessageFacts};
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::ops;
use crate::routes::authentications::{attestation, load};
use crate::startup::{App, AppState};

/// Codes sent per method per attempt, whatever the resend delay.
const MAX_SENDS: u32 = 5;
/// Optimistic-concurrency retries before giving up on a busy attempt.
pub(crate) const MAX_TRIES: usize = 5;

fn code_method(raw: &str) -> ApiResult<Method> {
    match Method::parse(raw) {
        Some(m) if m.is_code() => Ok(m),
        Some(_) => Err(ApiError::BadRequest(
            "face_authentication has nothing to send: post the selfie to .../methods/face_authentication/verify".into(),
        )),
        None => Err(ApiError::not_found("method")),
    }
}

/// Loads the attempt for a step-up with `method`: it must still be waiting and have offered the method.
/// Returns it with the code rules it started with.
pub(crate) async fn load_open(
    app: &App,
    tenant: &Tenant,
    attempt_id: &str,
    method: Method,
) -> ApiResult<(AttemptRecord, AttemptDoc, StepUpRules)> {
    let (record, doc) = load(app, tenant, attempt_id).await?;
    if record.status != Status::Pending.as_str() {
        return Err(ApiError::Conflict(format!("the attempt is already {}", record.status)));
    }
    let now = Utc::now().timestamp_millis();
    if ops::attempts::has_expired(&record, &doc, now) {
        ops::attempts::expire(app, record, doc, now).await?;
        return Err(ApiError::Conflict("the attempt has expired (ATTEMPT_EXPIRED); start a new one".into()));
    }
    if !doc.evaluation.needed_reauthentications.contains(&method) {
        return Err(ApiError::Conflict(format!("{} is not offered for this attempt", method.as_str())));
    }
    // A waiting attempt always carries its step-up rules.
    let rules = doc
        .step_up
        .as_ref()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a pending attempt lacks its step-up rules")))?;
    Ok((record, doc, rules))
}

pub(crate) fn state_mut(doc: &mut AttemptDoc, method: Method) -> &mut MethodState {
    doc.methods.entry(method.as_str().to_owned()).or_insert_with(|| MethodState::new(Utc::now().timestamp_millis()))
}

/// Counts a failed try of `method`: at `max_attempts` the method closes, and when every offered
/// method has closed the attempt is refused.
pub(crate) fn count_failure(
    record: &mut AttemptRecord,
    doc: &mut AttemptDoc,
    method: Method,
    max_attempts: u32,
    now: Millis,
) {
    let state = state_mut(doc, method);
    state.failures += 1;
    if state.failures < max_attempts {
        return;
    }
    state.status = Status::Reproved.as_str().into();
    state.challenge = None;
    let all_failed = doc
        .evaluation
        .needed_reauthentications
        .iter()
        .all(|m| doc.methods.get(m.as_str()).is_some_and(|s| s.status == Status::Reproved.as_str()));
    if all_failed {
        record.status = Status::Reproved.as_str().into();
        doc.closed_reason = Some(ops::attempts::METHODS_EXHAUSTED.into());
        doc.decided_at = Some(now);
        doc.step_up = None;
    }
}

pub(crate) fn busy() -> ApiError {
    ApiError::Conflict("the attempt is being changed by another request; try again".into())
}

pub async fn send(
    State(app): State<AppState>,
    tenant: Tenant,
    Path((attempt_id, method)): Path<(String, String)>,
) -> ApiResult<Response> {
    let method = code_method(&method)?;
    // One id for every retry of this request, so that its send counts once against the caps.
    let send_id = crypto::new_id().to_string();
    for _ in 0..MAX_TRIES {
        let (mut record, mut doc, rules) = load_open(&app, &tenant, &attempt_id, method).await?;
        let rules = rules.codes;
        let person = record.person_id.clone().ok_or_else(|| ApiError::not_found("attempt"))?;
        // A code for a person whose methods are locked could never be verified.
        ops::lockout::check(&app, &record.client_id, &person, Factor::Code).await?;
        let identity =
            app.store.identity(&record.client_id, &person).await?.ok_or_else(|| ApiError::not_found("identity"))?;
        let now = Utc::now().timestamp_millis();
        let state = state_mut(&mut doc, method);
        if state.status != Status::Pending.as_str() {
            return Err(ApiError::Conflict(format!("{} has already ended for this attempt", method.as_str())));
        }
        if let Some(last) = &state.challenge {
            let ready_at = last.sent_at + i64::from(rules.resend_after_seconds) * 1000;
            if now < ready_at {
                return Err(ApiError::TooManyRequests {
                    message: "a code was sent moments ago; wait before asking for another".into(),
                    retry_after_secs: ((ready_at - now + 999) / 1000) as u64,
                });
            }
        }
        if state.sends >= MAX_SENDS {
            return Err(ApiError::Conflict(format!(
                "no more than {MAX_SENDS} codes are sent for one attempt; start a new attempt"
            )));
        }
        let (destination, masked) = match method {
            Method::EmailAuthentication => {
                let email = identity.email.as_deref().map(Email::parse).and_then(Result::ok);
                let email = email.ok_or_else(|| ApiError::Conflict("the identity has no email address".into()))?;
                (email.as_str().to_owned(), email.masked())
            }
            _ => {
                let phone = identity.phone.as_deref().map(Phone::parse).and_then(Result::ok);
                let phone = phone.ok_or_else(|| ApiError::Conflict("the identity has no phone number".into()))?;
                (phone.as_str().to_owned(), phone.masked())
            }
        };
        ops::sends::count(&app, &send_id, &record.client_id, &person, &destination).await?;
        let code = crypto::new_code(rules.length);
        let expires_at = now + i64::from(rules.ttl_seconds) * 1000;
        let code_hash = app.key.code_hash(&record.id, method.as_str(), &code);
        state.sends += 1;
        state.challenge = Some(Challenge { code_hash, sent_at: now, expires_at, sent_to: masked.clone() });
        if !ops::attempts::save(&app, &mut record, &doc, false, Vec::new()).await? {
            continue;
        }
        // A failed delivery still counts against the resend delay and the caps: a gateway that
        // stores the message and then answers an error may well have delivered it.
        if let Err(e) =
            deliver(&app, &tenant, method, &destination, &code, rules.ttl_seconds, doc.transaction.as_ref()).await
        {
            tracing::warn!(attempt_id = %record.id, method = method.as_str(), error = %format!("{e:#}"), "code delivery failed");
            crate::telemetry::code_sent(method, false);
            return Err(ApiError::BadGateway(format!(
                "the code could not be delivered by {}; try again in {} s",
                method.as_str(),
                rules.resend_after_seconds.max(1)
            )));
        }
        crate::telemetry::code_sent(method, true);
        return Ok(ok_json(json!({
            "method": method.as_str(),
            "sent": true,
            "sentTo": masked,
            "expiresAt": ts(expires_at),
            "resendAfterSeconds": rules.resend_after_seconds,
        })));
    }
    Err(busy())
}

async fn deliver(
    app: &App,
    tenant: &Tenant,
    method: Method,
    to: &str,
    code: &str,
    ttl: u32,
    transaction: Option<&crate::transaction::Transaction>,
) -> anyhow::Result<()> {
    let client = &tenant.client;
    // The host alone: browsers read `@host #code`, with no port (Chromium's parser stops at ':').
    let webotp_host =
        client.allowed_origins.first().and_then(|o| url::Url::parse(o).ok()?.host_str().map(str::to_owned));
    let webotp_origin = webotp_host.as_deref();
    let facts = MessageFacts {
        app_name: &client.display_name,
        code,
        ttl_seconds: ttl,
        transaction,
        language: client.language,
        webotp_origin,
    };
    match method {
        Method::EmailAuthentication => {
            let email = app.email.as_ref().ok_or_else(|| anyhow::anyhow!("email is not configured"))?;
            email.send(to, messages::email(client.templates.as_ref(), &facts)).await
        }
        _ => {
            let sms = app.sms.as_ref().ok_or_else(|| anyhow::anyhow!("SMS is not configured"))?;
            sms.send(to, &messages::sms(client.templates.as_ref(), &facts)).await
        }
    }
}

/// A code for the code methods; a selfie (`image`, base64, or `imageUrl`) for face_authentication.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyBody {
    code: Option<String>,
    image: Option<String>,
    image_url: Option<String>,
}

enum Outcome {
    Approved,
    Refused(&'static str),
}

/// A selfie as sent: base64 text in a JSON body, or a file's bytes in a multipart form (already checked:
/// size, JPEG or PNG).
pub enum Selfie {
    Base64(String),
    Bytes(Vec<u8>),
}

/// What a verify call carries: a JSON body (`code`, or `image` in base64, or `imageUrl`), or, for
/// `face_authentication`, a `multipart/form-data` body whose one part `image` is the selfie's file (JPEG
/// or PNG), as a phone's upload sends it.
pub struct VerifyInput {
    code: Option<String>,
    image: Option<Selfie>,
    image_url: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for VerifyInput {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // A method that does not exist is a 404 whatever the body, as for `send`.
        use axum::extract::FromRequestParts as _;
        let (mut parts, body) = req.into_parts();
        if let Ok(Path((_, method))) = Path::<(String, String)>::from_request_parts(&mut parts, state).await {
            if Method::parse(&method).is_none() {
                return Err(ApiError::not_found("method"));
            }
        }
        let req = axum::extract::Request::from_parts(parts, body);
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let Json(body) = Json::<VerifyBody>::from_request(req, state).await.map_err(|e| match e {
                ApiError::UnsupportedMediaType(_) => ApiError::UnsupportedMediaType(
                    "send the body as JSON with Content-Type: application/json, or a selfie as multipart/form-data"
                        .into(),
                ),
                other => other,
            })?;
            return Ok(VerifyInput {
                code: body.code,
                image: body.image.map(Selfie::Base64),
                image_url: body.image_url,
            });
        }
        let form_error = |e: axum::extract::multipart::MultipartError| {
            crate::extract::from_status(e.status(), format!("the multipart body could not be read: {}", e.body_text()))
        };
        let mut form = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| crate::extract::from_status(e.status(), e.body_text()))?;
        let mut image = None;
        while let Some(field) = form.next_field().await.map_err(form_error)? {
            match field.name() {
                // Checked here (size, JPEG or PNG), before the selfie counts against the person's allowance, as a
                // JSON body too large is refused before it is read.
                Some("image") if image.is_none() => {
                    image = Some(crate::ops::images::checked(field.bytes().await.map_err(form_error)?.to_vec())?)
                }
                Some("image") => return Err(ApiError::BadRequest("the form has more than one image part".into())),
                other => {
                    // Echoed as printable ASCII only: no control or invisible characters from the client.
                    let name: String = other.unwrap_or("").chars().filter(char::is_ascii_graphic).take(40).collect();
                    return Err(ApiError::BadRequest(format!(
                        "unknown form part `{name}`: a multipart body is for face_authentication, with the selfie as \
                         its `image` part only"
                    )));
                }
            }
        }
        let image = image.ok_or_else(|| ApiError::BadRequest("the form has no `image` part".into()))?;
        Ok(VerifyInput { code: None, image: Some(Selfie::Bytes(image)), image_url: None })
    }
}

pub async fn verify(
    State(app): State<AppState>,
    tenant: Tenant,
    Path((attempt_id, method)): Path<(String, String)>,
    body: VerifyInput,
) -> ApiResult<Response> {
    if Method::parse(&method) == Some(Method::FaceAuthentication) {
        return crate::routes::face::verify(&app, &tenant, &attempt_id, body.image, body.image_url, body.code).await;
    }
    let method = code_method(&method)?;
    if body.image.is_some() || body.image_url.is_some() {
        return Err(ApiError::BadRequest(format!("{} takes a code, not an image", method.as_str())));
    }
    let code = body.code.ok_or_else(|| ApiError::BadRequest("code is required".into()))?;
    // The code the claimed try is compared with: one claim, one code.
    let mut claimed: Option<String> = None;
    for _ in 0..MAX_TRIES {
        let (mut record, mut doc, rules) = load_open(&app, &tenant, &attempt_id, method).await?;
        let rules = rules.codes;
        let now: Millis = Utc::now().timestamp_millis();
        let state = state_mut(&mut doc, method);
        if state.status == Status::Reproved.as_str() {
            crate::telemetry::code_refused(method, "max_attempts_exceeded");
            return Ok(answer(&record, false, 0, "max_attempts_exceeded", None));
        }
        let Some(challenge) = state.challenge.clone() else {
            return Err(ApiError::Conflict(format!(
                "no code has been sent; call .../methods/{}/send first",
                method.as_str()
            )));
        };
        let code = OtpCode::parse(&code, rules.length).map_err(ApiError::BadRequest)?;
        let person = record.person_id.clone().ok_or_else(|| ApiError::not_found("attempt"))?;
        // Counted as a failure across the person's attempts before the code is compared.
        match &claimed {
            None => {
                ops::lockout::claim(&app, &record.client_id, &person, Factor::Code).await?;
                claimed = Some(challenge.code_hash.clone());
            }
            // A new code was sent while this try was being recorded: it was claimed against another.
            Some(hash) if *hash != challenge.code_hash => return Err(busy()),
            Some(_) => {}
        }
        let outcome = if now >= challenge.expires_at {
            Outcome::Refused("expired_code")
        } else if crypto::constant_time_eq(
            app.key.code_hash(&record.id, method.as_str(), code.as_str()).as_bytes(),
            challenge.code_hash.as_bytes(),
        ) {
            Outcome::Approved
        } else {
            Outcome::Refused("invalid_code")
        };
        let entry = |refusal: Option<&str>, expected: Option<&str>| MethodAttempt {
            refusal_reason: refusal.map(str::to_owned),
            expected_code: expected.map(str::to_owned),
            // A refused code may be live elsewhere (the SMS code typed into the email box): never kept.
            provided_code: Some(match refusal {
                Some(_) => masked_code(code.as_str()),
                None => code.as_str().to_owned(),
            }),
            sent_to: Some(challenge.sent_to.clone()),
            created_at: now,
            face: None,
        };
        let approved = matches!(outcome, Outcome::Approved);
        match outcome {
            Outcome::Approved => {
                state.status = Status::Approved.as_str().into();
                state.challenge = None;
                state.attempts.push(entry(None, Some(code.as_str())));
                record.status = Status::Approved.as_str().into();
                doc.decided_at = Some(now);
                doc.step_up = None;
            }
            Outcome::Refused(reason) => {
                state.attempts.push(entry(Some(reason), None));
                count_failure(&mut record, &mut doc, method, rules.max_attempts, now);
            }
        }
        let failures = doc.method(method).map_or(0, |s| s.failures);
        let left = rules.max_attempts.saturating_sub(failures);
        if !ops::attempts::save(&app, &mut record, &doc, approved, Vec::new()).await? {
            continue;
        }
        if approved {
            ops::lockout::succeeded(&app, &record.client_id, &person, Factor::Code).await?;
        }
        let refusal = if let Outcome::Refused(reason) = outcome { Some(reason) } else { None };
        crate::telemetry::code_checked(method, refusal);
        return Ok(match outcome {
            Outcome::Approved => answer(&record, true, left, "", Some(attestation(&tenant, &record, &doc)?)),
            Outcome::Refused(reason) => answer(&record, false, left, reason, None),
        });
    }
    Err(busy())
}

fn answer(record: &AttemptRecord, authorized: bool, left: u32, refusal: &str, attestation: Option<String>) -> Response {
    let message = match refusal {
        "" => "code verified; the attempt is approved".to_owned(),
        "expired_code" => "the code has expired; ask for a new one".to_owned(),
        "max_attempts_exceeded" => "too many wrong codes; this method is closed for this attempt".to_owned(),
        _ if left == 0 => "wrong code; no attempts left for this method".to_owned(),
        _ => format!("wrong code; {left} attempt(s) left"),
    };
    let mut out = json!({
        "isAuthorized": authorized,
        "attemptsLeft": left,
        "message": message,
        "status": record.status,
        "refusalReason": if refusal.is_empty() { None } else { Some(refusal) },
    });
    if let Some(a) = attestation {
        out["attestation"] = a.into();
    }
    ok_json(out)
}

#[doc(hidden)]
pub mod fuzz;
