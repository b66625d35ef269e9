//! Webhook subscriptions (`POST /webhooks` and below) and the audit trail (`GET /audit`, `GET /admin/audit`).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Admin, Backend};
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::ops::audit::{self, Actor};
use crate::ops::pages::SharedPage;
use crate::ops::webhooks::{self as ops, Changes};
use crate::startup::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    url: String,
    events: Vec<String>,
    description: Option<String>,
}

pub async fn create(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Json(body): Json<NewWebhook>,
) -> ApiResult<Response> {
    let actor = Actor::tenant(&tenant);
    let (record, secret) =
        ops::create(&app, &actor, tenant.client_id(), &body.url, &body.events, body.description).await?;
    let mut out = ops::describe(&record);
    out["secret"] = secret.into();
    Ok(ok_json(out))
}

pub async fn list(State(app): State<AppState>, Backend(tenant): Backend) -> ApiResult<Response> {
    let items: Vec<Value> = app.store.webhooks(tenant.client_id()).await?.iter().map(ops::describe).collect();
    Ok(ok_json(json!({"items": items})))
}

pub async fn read(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let record = app.store.webhook(tenant.client_id(), &id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(ok_json(ops::describe(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    url: Option<String>,
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    description: Option<Option<String>>,
    enabled: Option<bool>,
}

pub async fn update(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    Json(body): Json<WebhookChanges>,
) -> ApiResult<Response> {
    let changes = Changes { url: body.url, events: body.events, description: body.description, enabled: body.enabled };
    let record = ops::update(&app, &Actor::tenant(&tenant), tenant.client_id(), &id, changes).await?;
    Ok(ok_json(ops::describe(&record)))
}

pub async fn delete(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    ops::delete(&app, &Actor::tenant(&tenant), tenant.client_id(), &id).await?;
    Ok(ok_json(json!({"id": id, "deleted": true})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    grace_seconds: Option<u32>,
}

/// `POST /webhooks/{id}/rotate-secret`, with an optional body `{"graceSeconds": N}`.
pub async fn rotate_secret(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    body: Option<Json<Rotation>>,
) -> ApiResult<Response> {
    let grace = body.and_then(|Json(r)| r.grace_seconds);
    let (record, secret) = ops::rotate_secret(&app, &Actor::tenant(&tenant), tenant.client_id(), &id, grace).await?;
    let mut out = ops::describe(&record);
    out["secret"] = secret.into();
    Ok(ok_json(out))
}

pub async fn test(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let event_id = ops::test(&app, tenant.client_id(), &id).await?;
    Ok(ok_json(json!({"eventId": event_id, "queued": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn deliveries(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    Query(q): Query<Page>,
) -> ApiResult<Response> {
    let page = SharedPage::open(&app.key, ops::position_scope(&id), q.limit, q.cursor.as_deref())?;
    if app.store.webhook(tenant.client_id(), &id).await?.is_none() {
        return Err(ApiError::not_found("webhook"));
    }
    let rows = app.store.deliveries(tenant.client_id(), &id, page.before, page.limit).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let items: Vec<Value> = rows.iter().map(|(seq, d)| ops::describe_delivery(&page.name(*seq), d, now)).collect();
    let next = page.next_cursor(rows.iter().map(|(seq, _)| *seq));
    Ok(ok_json(json!({"items": items, "nextCursor": next})))
}

pub async fn redeliver(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    ops::redeliver(&app, tenant.client_id(), &id, &delivery_id).await?;
    Ok(ok_json(json!({"id": delivery_id, "queued": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    since: Option<String>,
}

/// `POST /webhooks/{id}/recover` `{"since"?}`: after an outage, the deliveries waiting for a retry or given up
/// (since `since`; by default all that are kept, a week) are sent again now.
pub async fn recover(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(id): Path<String>,
    body: Option<Json<Recover>>,
) -> ApiResult<Response> {
    let body = body.map_or(Recover { since: None }, |Json(b)| b);
    let since = body.since.as_deref().map(super::authentications::since_millis).transpose()?.unwrap_or(0);
    let queued = ops::recover(&app, &Actor::tenant(&tenant), tenant.client_id(), &id, since).await?;
    Ok(ok_json(json!({"id": id, "queued": queued})))
}

async fn audit_page(app: &AppState, client_id: Option<&str>, q: &Page) -> ApiResult<Response> {
    let page = SharedPage::open(&app.key, audit::position_scope(client_id), q.limit, q.cursor.as_deref())?;
    let rows = app.store.audit(client_id, page.before, page.limit).await?;
    let items: Vec<Value> =
        rows.iter().map(|(seq, a)| audit::describe(a, &page.name(*seq), client_id.is_some())).collect();
    let next = page.next_cursor(rows.iter().map(|(seq, _)| *seq));
    Ok(ok_json(json!({"items": items, "nextCursor": next})))
}

/// `GET /audit`: the tenant's own trail.
pub async fn tenant_audit(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Query(q): Query<Page>,
) -> ApiResult<Response> {
    audit_page(&app, Some(tenant.client_id()), &q).await
}

/// `GET /admin/audit`: everything.
pub async fn operator_audit(State(app): State<AppState>, _: Admin, Query(q): Query<Page>) -> ApiResult<Response> {
    audit_page(&app, None, &q).await
}
