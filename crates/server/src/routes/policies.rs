//! Policies: what a tenant considers a safe context and how an unsafe one may be cleared.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use smartauth_domain::policy::valid_policy_id;
use smartauth_domain::Policy;
use smartauth_store::PolicyRecord;

use crate::attempt::ts;
use crate::auth::Tenant;
use crate::crypto;
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::startup::{App, AppState};

fn describe(record: &PolicyRecord) -> Value {
    let mut doc = serde_json::to_value(&record.policy).unwrap_or_else(|_| json!({}));
    doc["id"] = record.id.clone().into();
    doc["createdAt"] = ts(record.created_at).into();
    doc["updatedAt"] = ts(record.updated_at).into();
    doc
}

/// Rules the server accepts but cannot apply with the data it has: said plainly, so that a tenant does
/// not believe it is protected by them.
fn unenforceable_rules(app: &App, policy: &Policy) -> Vec<String> {
    let mut warnings = Vec::new();
    let contexts = &policy.contexts;
    if let Some(n) = contexts.network_context.as_ref().filter(|n| n.enabled && !app.intel.knows_anonymizers()) {
        if !(n.allow_proxy_or_vpn && n.allow_tor && n.allow_hosting) {
            warnings.push(
                "network_context: the anonymizer ranges are not loaded (run scripts/fetch-data.sh), so the VPN, \
                 proxy, Tor and hosting rules cannot refuse anything"
                    .to_owned(),
            );
        }
    }
    if !app.intel.knows_countries()
        && contexts.location_context.as_ref().is_some_and(|l| l.enabled && !l.blocked_countries.is_empty())
    {
        warnings.push(
            "location_context.blockedCountries: no IP city or places data is loaded (run scripts/fetch-data.sh), \
             so countries are not recognised"
                .to_owned(),
        );
    }
    if app.faces.is_none() && policy.reauthentication_methods.contains(&smartauth_domain::Method::FaceAuthentication) {
        warnings.push(
            "reauthenticationMethods: face models are not loaded (run scripts/fetch-data.sh), so face_authentication \
             is not offered"
                .to_owned(),
        );
    }
    warnings
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
    let policy = Policy::parse(&id, body).map_err(|e| ApiError::BadRequest(e.0))?;
    let now = chrono::Utc::now().timestamp_millis();
    let record = PolicyRecord {
        id: crypto::new_id().to_string(),
        client_id: tenant.client_id().to_owned(),
        policy,
        created_at: now,
        updated_at: now,
    };
    let stored = app.store.put_policy(&record).await?;
    app.forget_policy(tenant.client_id(), &stored.policy.policy_id);
    let mut out = describe(&stored);
    out["warnings"] = unenforceable_rules(&app, &stored.policy).into();
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
    let deleted = app.store.delete_policy(tenant.client_id(), policy_id(&id)?).await?;
    app.forget_policy(tenant.client_id(), &id);
    if !deleted {
        return Err(ApiError::not_found("policy"));
    }
    Ok(ok_json(json!({"policyId": id, "deleted": true})))
}
