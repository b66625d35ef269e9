//! The bearer-token path for the fuzz targets (`crate::fuzzing`): `verify_tenant_token` with the client
//! given instead of looked up, and `now` given for the SDK token's lifetime. Keep the steps in step with it.

use super::*;

pub fn verify(token: &str, client: &ActiveClient, now: i64) -> Result<Option<PersonId>, ApiError> {
    refuse_critical_extensions(token)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
    if header.alg != Algorithm::HS256 {
        return Err(unauthorized("tokens must be signed with HS256"));
    }
    let issuer = unverified_issuer(token)?;
    if issuer != client.id {
        return Err(unauthorized("invalid token"));
    }
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
        within_sdk_lifetime(exp, client.sdk_token_lifetime, now)?;
    }
    Ok(person)
}
