//! Bearer tokens. Tenant calls carry an HS256 JWT signed with the client secret (seed 000): `iss` is
//! the clientId and is required, `exp` is enforced when present, and `personId` (or `peopleId`)
//! narrows the token to one person. Such a person-scoped (SDK) token must carry an `exp` no further
//! ahead than its client allows (`SdkTokenLifetime`). Operator calls carry the admin token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
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
    let claims: Unverified = serde_json::from_slice(&bytes).map_err(|_| unauthorized("malformed token"))?;
    match claims.iss {
        Some(serde_json::Value::String(iss)) if !iss.is_empty() => Ok(iss),
        _ => Err(unauthorized("the token has no iss claim (it must be your clientId)")),
    }
}

/// RFC 7515 §4.1.11: a token whose header lists critical extensions must be refused by a recipient
/// that does not implement them, and this server implements none (jsonwebtoken ignores the member).
fn refuse_critical_extensions(token: &str) -> Result<(), ApiError> {
    let header = token.split('.').next().ok_or_else(|| unauthorized("malformed token"))?;
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).map_err(|_| unauthorized("malformed token"))?;
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
    refuse_critical_extensions(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
    if header.alg != Algorithm::HS256 {
        return Err(unauthorized("tokens must be signed with HS256"));
    }
    let issuer = unverified_issuer(token)?;
    let client = state
        .clients
        .active(state.store.as_ref(), &state.key, &issuer)
        .await?
        .ok_or_else(|| unauthorized("invalid token"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["iss"]);
    validation.set_issuer(&[issuer.as_str()]);
    validation.validate_exp = true;
    validation.leeway = EXP_LEEWAY_SECS;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(client.secret.as_bytes()), &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
            _ => unauthorized("invalid token"),
        })?;
    let exp = expiry(&data.claims)?;
    let person = match data.claims.get("personId").or_else(|| data.claims.get("peopleId")).cloned() {
        None => None,
        Some(serde_json::Value::String(raw)) => {
            Some(PersonId::parse(&raw, false).map_err(|_| unauthorized("the token's personId is malformed"))?)
        }
        Some(_) => return Err(unauthorized("the token's personId must be a string")),
    };
    if person.is_some() {
        within_sdk_lifetime(exp, client.sdk_token_lifetime, chrono::Utc::now().timestamp())?;
    }
    Ok(Tenant { client, person })
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

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        verify_tenant_token(state, token).await
    }
}

/// The operator, authenticated by the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let presented = crypto::sha256_hex(token.as_bytes());
        if crypto::constant_time_eq(presented.as_bytes(), state.admin_token_hash.as_bytes()) {
            Ok(Admin)
        } else {
            Err(unauthorized("invalid admin token"))
        }
    }
}

/// The signed result a tenant's backend verifies with its client secret.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    pub iss: String,
    pub aud: String,
    pub attempt_id: String,
    pub person_id: Option<String>,
    pub people_id: Option<String>,
    pub policy_id: String,
    pub is_authorized: bool,
    pub is_new_context: bool,
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
