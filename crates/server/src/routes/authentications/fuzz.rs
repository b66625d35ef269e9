//! `POST /authentications` for the fuzz targets (`crate::fuzzing`): the body parsed and validated as
//! `create` does before it reads the policy and the store.

use std::sync::Arc;

use super::*;
use crate::fuzzing::{client, json_body};

/// The body as a backend token and as an SDK token (for person `95236098076`, with the request's
/// User-Agent and Client Hints headers) would have it checked: `Ok` when both accept it, else the first refusal.
pub fn attempt_body(bytes: &[u8]) -> ApiResult<()> {
    let backend = Tenant { client: client(), person: None, policy: None, transaction_hash: None, ip: None };
    let sdk = Tenant {
        client: Arc::clone(&backend.client),
        person: PersonId::parse("95236098076", false).ok(),
        policy: None,
        transaction_hash: None,
        ip: None,
    };
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148".parse().unwrap());
    headers.insert("sec-ch-ua-platform", "\"Android\"".parse().unwrap());
    let as_backend = check(bytes, &backend, None);
    let as_sdk = check(bytes, &sdk, Some(&headers));
    as_backend.and(as_sdk)
}

fn check(bytes: &[u8], tenant: &Tenant, sdk_headers: Option<&HeaderMap>) -> ApiResult<()> {
    let body: AttemptRequest = json_body(bytes)?;
    resolve_person(tenant, body.person_id.or(body.people_id))?;
    parse_transaction(body.transaction)?;
    parse_context(body.context, sdk_headers)?;
    if !smartauth_domain::policy::valid_policy_id(&body.policy_id) {
        return Err(ApiError::not_found("policy"));
    }
    Ok(())
}
