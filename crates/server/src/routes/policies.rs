//! Policies: what a tenant considers a safe context and how an unsafe one may be cleared.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use smartauth_domain::policy::valid_policy_id;
use smartauth_domain::Policy;
use smartauth_store::PolicyRecord;

use crate::attempt::ts;
use crate::auth::Tenant;
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
    tenant: Tenant,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    tenant.require_backend()?;
    let policy = Policy::parse(&id, body).map_err(|e| ApiError::BadRequest(extract::public_message(&e.0)))?;
    let stored = ops::policies::put(&app, &Actor::tenant(&tenant), tenant.client_id(), policy).await?;
    let mut out = describe(&stored.record);
    out["warnings"] = stored.warnings.into();
    Ok(ok_json(out))
}

pub async fn read(State(app): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    tenant.require_backend()?;
    let record =
        app.store.policy(tenant.client_id(), policy_id(&id)?).await?.ok_or_else(|| ApiError::not_found("policy"))?;
    Ok(ok_json(describe(&record)))
}

pub async fn list(State(app): State<AppState>, tenant: Tenant) -> ApiResult<Response> {
    tenant.require_backend()?;
    let items: Vec<Value> = app.store.policies(tenant.client_id()).await?.iter().map(describe).collect();
    Ok(ok_json(json!({"items": items})))
}

pub async fn delete(State(app): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    tenant.require_backend()?;
    let deleted = ops::policies::delete(&app, &Actor::tenant(&tenant), tenant.client_id(), policy_id(&id)?).await?;
    if !deleted {
        return Err(ApiError::not_found("policy"));
    }
    Ok(ok_json(json!({"policyId": id, "deleted": true})))
}
