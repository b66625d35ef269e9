//! Bearer tokens. Tenant calls carry an HS256 JWT signed with the client secret (seed 000): `iss` is
//! the clientId and is required, `exp` is enforced when present, and `personId` (or `peopleId`)
//! narrows the token to one person. Such a person-scoped (SDK) token must carry an `exp` no further
//! ahead than its client allows (`SdkTokenLifetime`), and may carry a `policyId` that binds the
//! attempts it starts to that policy (which its client may require). After a secret rotation, the
//! replaced secret still verifies tokens until its grace period ends. Operator calls carry the admin token.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use smartauth_domain::PersonId;

use crate::clients::{ActiveClient, SdkTokenLifetime};
use crate::crypto;
use crate::error::ApiError;
use crate::startup::AppState;

/// Leeway for `exp`, for clocks that disagree a little.
const EXP_LEEWAY_SECS: u64 = 30;
pub const ATTESTATION_LIFETIME_SECS: i64 = 120;

/// The tenant a request acts for, and the person it is limited to, if any.
pub struct Tenant {
    pub client: Arc<ActiveClient>,
    pub person: Option<PersonId>,
    /// The only policy a person-scoped token may start attempts with (its `policyId` claim).
    pub policy: Option<String>,
    /// The transaction a person-scoped token may start an attempt for (its `transactionHash` claim).
    pub transaction_hash: Option<String>,
    /// The caller's address (through trusted proxies), for the audit trail.
    pub ip: Option<IpAddr>,
}

impl Tenant {
    pub fn client_id(&self) -> &str {
        &self.client.id
    }

    /// Management calls need the tenant's backend token, not a person-scoped SDK token.
    pub fn require_backend(&self) -> Result<(), ApiError> {
        match self.person {
            None => Ok(()),
            Some(_) => Err(ApiError::Forbidden("this call needs a backend token (one without personId)".into())),
        }
    }

    /// Whether the token may act for `person`. Callers answer 404 when not, so as not to reveal the person.
    pub fn may_act_for(&self, person: &str) -> bool {
        self.person.as_ref().is_none_or(|p| p.as_str() == person)
    }

    /// A person-scoped token may name a transaction only when the backend bound it in the token: a
    /// hijacked session must not choose what the bank's own code message says it approves. Such a
    /// token also cannot leave its transaction out.
    pub fn may_name_transaction(&self, hash: Option<&str>) -> Result<(), ApiError> {
        if self.person.is_none() || self.transaction_hash.as_deref() == hash {
            return Ok(());
        }
        Err(ApiError::Forbidden(match (&self.transaction_hash, hash) {
            (None, _) => "an SDK token cannot name a transaction on its own: start the attempt from your backend, \
                          or mint the SDK token with the transaction's transactionHash claim"
                .into(),
            (Some(_), None) => "this SDK token is bound to a transaction (its transactionHash claim): send it".into(),
            (Some(_), Some(_)) => "the transaction is not the one this SDK token is bound to (transactionHash)".into(),
        }))
    }

    /// Whether an existing attempt of `policy_id` is within a policy-bound token's reach.
    pub fn reaches_policy(&self, policy_id: &str) -> bool {
        self.policy.as_deref().is_none_or(|bound| bound == policy_id)
    }

    /// A token bound to a policy starts attempts of that policy only.
    pub fn may_use_policy(&self, policy_id: &str) -> Result<(), ApiError> {
        match &self.policy {
            Some(bound) if bound != policy_id => Err(ApiError::Forbidden(format!(
                "this SDK token is bound to policy {bound:?} (its policyId claim) and cannot start an attempt of \
                 policy {policy_id:?}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The claims as raw JSON: a present-but-null or non-string `personId` must be refused, not read as
/// "no person" (which would widen the token to the whole tenant).
type Claims = serde_json::Map<String, serde_json::Value>;

#[derive(Deserialize)]
struct Unverified {
    iss: Option<serde_json::Value>,
}

/// The latest `exp` that means a date (9999-12-31T23:59:59Z); anything later is a probe or a bug.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

fn unauthorized(why: &str) -> ApiError {
    ApiError::Unauthorized(why.to_owned())
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing Authorization header; send Authorization: Bearer <token>"))?
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be: Bearer <token>"));
    }
    Ok(token.trim())
}

/// Reads `iss` before the signature is checked, to know which secret checks it.
fn unverified_issuer(token: &str) -> Result<String, ApiError> {
    let payload = token.split('.').nth(1).ok_or_else(|| unauthorized("malformed token"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| unauthorized("malformed token"))?;
    no_member_twice(&bytes, "claims")?;
    let claims: Unverified = serde_json::from_slice(&bytes).map_err(|_| unauthorized("malformed token"))?;
    match claims.iss {
        Some(serde_json::Value::String(iss)) if !iss.is_empty() => Ok(iss),
        _ => Err(unauthorized("the token has no iss claim (it must be your clientId)")),
    }
}

/// A header or claims object that names a member twice ({"policyId": "p", "policyId": "lax"}) is refused:
/// the backend that minted it and this server could read different values (RFC 7519 §4 lets a recipient
/// refuse such a token, and RFC 8259 leaves the outcome to the parser).
fn no_member_twice(json: &[u8], part: &str) -> Result<(), ApiError> {
    match crate::transaction::names_a_member_twice(json) {
        true => Err(unauthorized(&format!("the token's {part} name a member twice"))),
        false => Ok(()),
    }
}

/// RFC 7515 §4.1.11: a token whose header lists critical extensions must be refused by a recipient
/// that does not implement them, and this server implements none (jsonwebtoken ignores the member).
fn refuse_critical_extensions(token: &str) -> Result<(), ApiError> {
    let header = token.split('.').next().ok_or_else(|| unauthorized("malformed token"))?;
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).map_err(|_| unauthorized("malformed token"))?;
    no_member_twice(&bytes, "header")?;
    let header: Claims = serde_json::from_slice(&bytes).map_err(|_| unauthorized("malformed token"))?;
    if header.contains_key("crit") {
        return Err(unauthorized(
            "the token's header lists critical extensions (crit), which this server does not support",
        ));
    }
    Ok(())
}

/// `exp` as whole seconds since the Unix epoch. jsonwebtoken skips an `exp` it cannot read as an
/// unsigned integer (negative, fractional beyond rounding, past 2^64, null), which would make such a
/// token never expire: every one of them is refused here instead.
fn expiry(claims: &Claims) -> Result<Option<i64>, ApiError> {
    match claims.get("exp") {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(exp) if (0..=MAX_NUMERIC_DATE).contains(&exp) => Ok(Some(exp)),
            _ => Err(unauthorized(
                "the token's exp must be a whole number of seconds since the Unix epoch, before the year 10000",
            )),
        },
        Some(_) => Err(unauthorized("the token's exp must be a number of seconds since the Unix epoch")),
    }
}

pub async fn verify_tenant_token(state: &AppState, token: &str) -> Result<Tenant, ApiError> {
    let issuer = token_issuer(token)?;
    let client = state
        .clients
        .active(state.store.as_ref(), &state.key, &issuer)
        .await?
        .ok_or_else(|| unauthorized("invalid token"))?;
    tenant_for(token, &issuer, client, chrono::Utc::now().timestamp_millis())
}

/// What is checked before the client is looked up: the header, and the issuer the token names.
fn token_issuer(token: &str) -> Result<String, ApiError> {
    refuse_critical_extensions(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
    if header.alg != Algorithm::HS256 {
        return Err(unauthorized("tokens must be signed with HS256"));
    }
    unverified_issuer(token)
}

/// The signature and the claims, for `client` (the issuer's), at `now` (ms since the epoch).
fn tenant_for(token: &str, issuer: &str, client: Arc<ActiveClient>, now: i64) -> Result<Tenant, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["iss"]);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = true;
    // A token that says it is not valid yet is not (RFC 7519 §4.1.5), when it says so.
    validation.validate_nbf = true;
    validation.leeway = EXP_LEEWAY_SECS;
    validation.validate_aud = false;
    let decode =
        |secret: &str| jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation);
    // The signature is checked before the claims: a token of the replaced secret fails on it alone.
    let data = match decode(&client.secret) {
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            match client.previous_secret(now) {
                Some(previous) => decode(previous),
                None => Err(e),
            }
        }
        decoded => decoded,
    }
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
        jsonwebtoken::errors::ErrorKind::ImmatureSignature => unauthorized("the token is not valid yet (nbf)"),
        _ => unauthorized("invalid token"),
    })?;
    let exp = expiry(&data.claims)?;
    if let (Some(a), Some(b)) = (data.claims.get("personId"), data.claims.get("peopleId")) {
        if a != b {
            return Err(unauthorized("the token's personId and peopleId name different people"));
        }
    }
    let person = match data.claims.get("personId").or_else(|| data.claims.get("peopleId")).cloned() {
        None => None,
        Some(serde_json::Value::String(raw)) => {
            Some(PersonId::parse(&raw, false).map_err(|_| unauthorized("the token's personId is malformed"))?)
        }
        Some(_) => return Err(unauthorized("the token's personId must be a string")),
    };
    let (mut policy, mut transaction_hash) = (None, None);
    if person.is_some() {
        within_sdk_lifetime(exp, client.sdk_token_lifetime, now / 1000)?;
        policy = bound_policy(&data.claims, client.require_sdk_token_policy)?;
        transaction_hash = match data.claims.get("transactionHash") {
            None => None,
            Some(serde_json::Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(h.to_ascii_lowercase())
            }
            Some(_) => return Err(unauthorized("the token's transactionHash must be 64 hex digits (SHA-256)")),
        };
    }
    Ok(Tenant { client, person, policy, transaction_hash, ip: None })
}

/// The `policyId` claim of a person-scoped token. Like `personId`, a present but non-string value is
/// refused rather than read as "any policy"; backend tokens are not bound (the claim is not read).
fn bound_policy(claims: &Claims, required: bool) -> Result<Option<String>, ApiError> {
    match claims.get("policyId") {
        None if required => Err(unauthorized(
            "this client requires a policyId claim in tokens with personId (SDK tokens): mint the token with the \
             policy the person may use",
        )),
        None => Ok(None),
        Some(serde_json::Value::String(id)) if smartauth_domain::policy::valid_policy_id(id) => Ok(Some(id.clone())),
        Some(serde_json::Value::String(_)) => Err(unauthorized("the token's policyId is malformed")),
        Some(_) => Err(unauthorized("the token's policyId must be a string")),
    }
}

/// A person-scoped token must expire, and no later than its client allows (with the same leeway as
/// for expiry, for a backend whose clock runs a little ahead).
fn within_sdk_lifetime(exp: Option<i64>, lifetime: SdkTokenLifetime, now: i64) -> Result<(), ApiError> {
    let max = lifetime.secs();
    let exp = exp.ok_or_else(|| {
        unauthorized(&format!("a token with personId (an SDK token) must carry exp, at most {max} s ahead"))
    })?;
    if exp - now > i64::from(max) + EXP_LEEWAY_SECS as i64 {
        return Err(unauthorized(&format!(
            "the token's exp is {} s ahead; this client's SDK tokens may live at most {max} s \
             (the operator's sdkTokenMaxLifetimeSeconds)",
            exp - now
        )));
    }
    Ok(())
}

/// A tenant's backend token, for management calls: an SDK token (with `personId`) is refused with a 403
/// before the request's path, query or body is read, so that the answer does not depend on them.
pub struct Backend(pub Tenant);

impl FromRequestParts<AppState> for Backend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        tenant.require_backend()?;
        Ok(Backend(tenant))
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = request_ip(parts, state);
        state.throttles.before_token(ip)?;
        let verified = match bearer(parts) {
            // The operator's token where a tenant's is needed: say so, rather than "malformed token".
            Ok(token) if !token.contains('.') && is_admin_token(state, token) => Err(unauthorized(
                "this is the operator's admin token; this endpoint takes a client's JWT (the operator's endpoints \
                 are under /admin: the audit trail of every tenant is GET /admin/audit)",
            )),
            Ok(token) => verify_tenant_token(state, token).await,
            Err(e) => Err(e),
        };
        let mut tenant = counting_refusals(state, ip, verified)?;
        tenant.ip = Some(ip);
        crate::telemetry::note_client(tenant.client_id());
        if tenant.person.is_some() {
            state.throttles.sdk_request(ip)?;
        }
        // A browser page may use a token only from an origin its client allows (CORS keeps the answer
        // from the page; this keeps the request from having effects).
        if let Some(origin) = crate::cors::cross_origin(&parts.headers, state.public_url.as_deref()) {
            if !tenant.client.allowed_origins.iter().any(|o| o == origin) {
                return Err(ApiError::Forbidden(format!(
                    "calls from the origin {origin} are not allowed for this client (see allowedOrigins)"
                )));
            }
        }
        Ok(tenant)
    }
}

/// The operator, authenticated by the admin token.
pub struct Admin {
    /// The caller's address (through trusted proxies), for the audit trail.
    pub ip: IpAddr,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = request_ip(parts, state);
        state.throttles.before_token(ip)?;
        let verified = bearer(parts).and_then(|token| match is_admin_token(state, token) {
            true => Ok(Admin { ip }),
            false => Err(unauthorized("invalid admin token")),
        });
        counting_refusals(state, ip, verified)
    }
}

fn is_admin_token(state: &AppState, token: &str) -> bool {
    let presented = crypto::sha256_hex(token.as_bytes());
    crypto::constant_time_eq(presented.as_bytes(), state.admin_token_hash.as_bytes())
}

/// The client's address (through trusted proxies), for the throttles.
fn request_ip(parts: &Parts, state: &AppState) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip());
    state.client_ip(peer, &parts.headers)
}

/// A refused token counts against its address (guessing admin tokens or client secrets).
fn counting_refusals<T>(state: &AppState, ip: IpAddr, verified: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(ApiError::Unauthorized(_)) = &verified {
        state.throttles.token_refused(ip)?;
    }
    verified
}

/// The signed result a tenant's backend verifies with its client secret.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    pub iss: String,
    pub aud: String,
    /// Unique per attestation (RFC 7519 §4.1.7), for a backend that keeps the ones it has accepted.
    pub jti: String,
    pub attempt_id: String,
    pub person_id: Option<String>,
    pub people_id: Option<String>,
    pub policy_id: String,
    pub is_authorized: bool,
    pub is_new_context: bool,
    /// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the attempt's transaction, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_hash: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

pub fn sign_attestation(secret: &str, claims: &Attestation) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: &str) -> Claims {
        serde_json::from_str(&format!(r#"{{"exp": {exp}}}"#)).unwrap()
    }

    #[test]
    fn only_a_whole_number_of_seconds_is_an_exp() {
        assert_eq!(expiry(&Claims::new()).unwrap(), None);
        assert_eq!(expiry(&claims("1700000000")).unwrap(), Some(1_700_000_000));
        for bad in ["-1", "-1.5", "1700000000.5", "18446744073709551616", "1e300", "253402300800", "null", "\"1\""] {
            assert!(expiry(&claims(bad)).is_err(), "exp {bad} was accepted");
        }
    }

    #[test]
    fn a_policy_claim_binds_a_person_scoped_token_when_present_or_required() {
        let claims = |json: &str| -> Claims { serde_json::from_str(json).unwrap() };
        assert_eq!(bound_policy(&claims("{}"), false).unwrap(), None);
        assert!(bound_policy(&claims("{}"), true).is_err());
        assert_eq!(bound_policy(&claims(r#"{"policyId": "pix"}"#), true).unwrap().as_deref(), Some("pix"));
        for bad in ["null", "1", r#"["pix"]"#, r#"{"id": "pix"}"#, r#""""#, r#""pix\u202e""#] {
            assert!(bound_policy(&claims(&format!(r#"{{"policyId": {bad}}}"#)), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_sdk_token_expires_within_its_clients_lifetime() {
        let now = 1_700_000_000;
        let lifetime = SdkTokenLifetime::DEFAULT;
        assert!(within_sdk_lifetime(None, lifetime, now).is_err());
        assert!(within_sdk_lifetime(Some(now + 900), lifetime, now).is_ok());
        assert!(within_sdk_lifetime(Some(now + 930), lifetime, now).is_ok(), "the clock leeway");
        assert!(within_sdk_lifetime(Some(now + 931), lifetime, now).is_err());
        let day = SdkTokenLifetime::parse(86_400).unwrap();
        assert!(within_sdk_lifetime(Some(now + 86_400), day, now).is_ok());
        assert!(SdkTokenLifetime::parse(59).is_err() && SdkTokenLifetime::parse(86_401).is_err());
    }
}

#[doc(hidden)]
pub mod fuzz;
