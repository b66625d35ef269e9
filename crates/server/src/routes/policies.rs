//! Policies: what a tenant considers a safe context and how an unsafe one may be cleared.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use smartauth_domain::policy::valid_policy_id;
use smartauth_domain::Policy;
use smartauth_store::PolicyRecord;

use crate::attempt::ts;
use crate::auth::Backend;
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{self, Json, Path};
use crate::ops;
use crate::ops::audit::Actor;
use crate::startup::AppState;

fn describe(record: &PolicyRecord) -> Value {
    let mut doc = serde_json::to_value(&record.policy).unwrap_or_else(|_| json!({}));
    doc["id"] = record.id.clone().into();
    doc["createdAt"] = ts(record.created_at).into();
    doc["updatedAt"] = ts(record.updated_at).into();
    doc
}

fn policy_id(raw: &str) -> ApiResult<&str> {
    if valid_policy_id(raw) {
        Ok(raw)
    } else {
        Err(ApiError::not_found("policy"))
    }
}

pub async fn put(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let policy = Policy::parse(&id, body).map_err(|e| ApiError::BadRequest(extract::public_message(&e.0)))?;
    let stored = ops::policies::put(&app, &Actor::tenant(&tenant), tenant.client_id(), policy).await?;
    let mut out = describe(&stored.record);
    out["warnings"] = stored.warnings.into();
    Ok(ok_json(out))
}

pub async fn read(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let record =
        app.store.policy(tenant.client_id(), policy_id(&id)?).await?.ok_or_else(|| ApiError::not_found("policy"))?;
    Ok(ok_json(describe(&record)))
}

pub async fn list(State(app): State<AppState>, Backend(tenant): Backend) -> ApiResult<Response> {
    let items: Vec<Value> = app.store.policies(tenant.client_id()).await?.iter().map(describe).collect();
    Ok(ok_json(json!({"items": items})))
}

pub async fn delete(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let deleted = ops::policies::delete(&app, &Actor::tenant(&tenant), tenant.client_id(), policy_id(&id)?).await?;
    if !deleted {
        return Err(ApiError::not_found("policy"));
    }
    Ok(ok_json(json!({"policyId": id, "deleted": true})))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayBody {
    policy: Value,
    limit: Option<i64>,
    since: Option<String>,
}

/// `POST /policies/{policyId}/replay`: what a candidate policy would have decided on the policy's past
/// attempts, next to what was decided. Reads only.
pub async fn replay(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    Json(body): Json<ReplayBody>,
) -> ApiResult<Response> {
    let client_id = tenant.client_id();
    let current =
        app.policy(client_id, policy_id(&id)?).await?.ok_or_else(|| ApiError::not_found("policy"))?.policy.clone();
    let candidate = Policy::parse(&id, body.policy)
        .map_err(|e| ApiError::BadRequest(format!("policy: {}", extract::public_message(&e.0))))?;
    let limit = body.limit.unwrap_or(i64::from(ops::replay::DEFAULT_ATTEMPTS));
    let limit = u32::try_from(limit)
        .ok()
        .filter(|l| (1..=ops::replay::MAX_ATTEMPTS).contains(l))
        .ok_or_else(|| ApiError::BadRequest(format!("limit must be between 1 and {}", ops::replay::MAX_ATTEMPTS)))?;
    let since = body.since.as_deref().map(super::authentications::since_millis).transpose()?;
    let request = ops::replay::Request { candidate, since, limit };
    match ops::replay::replay(&app, client_id, std::sync::Arc::new(current), request).await {
        Ok(report) => Ok(ok_json(serde_json::to_value(report?).map_err(anyhow::Error::from)?)),
        Err(ops::replay::Refusal::TenantBusy) => Err(ApiError::TooManyRequests {
            message: "a replay of yours is already running; one at a time (each ends within 30 s)".into(),
            retry_after_secs: 30,
        }),
        Err(ops::replay::Refusal::ServerBusy) => Err(ApiError::TooManyRequests {
            message: "the server is busy with another replay; try again in 30 s".into(),
            retry_after_secs: 30,
        }),
    }
}
