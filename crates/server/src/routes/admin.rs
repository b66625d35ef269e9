//! Operator endpoints, behind the admin token.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Admin;
use crate::clients::{self, SdkTokenLifetime};
use crate::delivery::messages::Templates;
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::ops::audit::Actor;
use crate::ops::clients::{self as client_ops, ClientChange, GracePeriod, SettingsChange};
use crate::startup::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    name: String,
    #[serde(default)]
    validate_cpf: bool,
    sdk_token_max_lifetime_seconds: Option<u64>,
}

fn lifetime(seconds: Option<u64>) -> ApiResult<SdkTokenLifetime> {
    seconds.map_or(Ok(SdkTokenLifetime::DEFAULT), |s| SdkTokenLifetime::parse(s).map_err(ApiError::BadRequest))
}

pub async fn create_client(
    State(app): State<AppState>,
    admin: Admin,
    Json(body): Json<NewClient>,
) -> ApiResult<Response> {
    let name = clients::parse_name(&body.name).map_err(ApiError::BadRequest)?;
    let lifetime = lifetime(body.sdk_token_max_lifetime_seconds)?;
    let actor = Actor::admin(&admin);
    let created =
        clients::create_with(app.store.as_ref(), &app.key, &name, body.validate_cpf, lifetime, &actor).await?;
    let mut out = clients::describe(&created.record);
    out["clientSecret"] = created.secret.into();
    Ok(ok_json(out))
}

pub async fn list_clients(State(app): State<AppState>, _: Admin) -> ApiResult<Response> {
    let list: Vec<_> = app.store.clients().await?.iter().map(clients::describe).collect();
    Ok(ok_json(json!({"items": list})))
}

/// The client settings that can change (`PATCH /admin/clients/{clientId}`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientChanges {
    sdk_token_max_lifetime_seconds: Option<u64>,
    require_sdk_token_policy: Option<bool>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    display_name: Option<Option<String>>,
    language: Option<String>,
    allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    message_templates: Option<Option<Templates>>,
}

pub async fn update_client(
    State(app): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
    Json(changes): Json<ClientChanges>,
) -> ApiResult<Response> {
    // Every value is checked before anything changes.
    let new_lifetime = changes.sdk_token_max_lifetime_seconds.map(|s| lifetime(Some(s))).transpose()?;
    let settings = SettingsChange {
        display_name: changes.display_name,
        language: changes.language,
        allowed_origins: changes.allowed_origins,
        message_templates: changes.message_templates,
    }
    .validated()
    .map_err(ApiError::BadRequest)?;
    let change = ClientChange {
        settings,
        sdk_token_lifetime: new_lifetime,
        require_sdk_token_policy: changes.require_sdk_token_policy,
    };
    let record = client_ops::update(app.store.as_ref(), &app.clients, &client_id, change, &Actor::admin(&admin))
        .await?
        .ok_or_else(|| ApiError::not_found("client"))?;
    app.origins.forget();
    Ok(ok_json(clients::describe(&record)))
}

async fn set_disabled(app: AppState, admin: Admin, client_id: String, disabled: bool) -> ApiResult<Response> {
    let action = if disabled { "client.disabled" } else { "client.enabled" };
    let audit = Actor::admin(&admin).line(Some(&client_id), action, Some(&client_id), None);
    let effects = smartauth_store::Effects { events: &[], audit: Some(&audit) };
    if !app.store.set_client_disabled_with(&client_id, disabled, effects).await? {
        return Err(ApiError::not_found("client"));
    }
    app.clients.forget(&client_id);
    Ok(ok_json(json!({"clientId": client_id, "disabled": disabled})))
}

pub async fn disable_client(
    State(app): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    set_disabled(app, admin, client_id, true).await
}

pub async fn enable_client(
    State(app): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    set_disabled(app, admin, client_id, false).await
}

/// `POST /admin/clients/{clientId}/rotate-secret`, with an optional body `{"graceSeconds": N}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    grace_seconds: Option<u64>,
}

pub async fn rotate_secret(
    State(app): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
    body: Option<Json<Rotation>>,
) -> ApiResult<Response> {
    // Without a body, the default grace period.
    let grace = match body.and_then(|Json(r)| r.grace_seconds) {
        None => GracePeriod::DEFAULT,
        Some(s) => GracePeriod::parse(s).map_err(ApiError::BadRequest)?,
    };
    let actor = Actor::admin(&admin);
    let rotated = client_ops::rotate_secret(app.store.as_ref(), &app.clients, &app.key, &client_id, grace, &actor)
        .await?
        .ok_or_else(|| ApiError::not_found("client"))?;
    let until = rotated.previous_valid_until.and_then(chrono::DateTime::from_timestamp_millis);
    Ok(ok_json(json!({
        "clientId": client_id,
        "clientSecret": rotated.secret,
        "graceSeconds": grace.secs(),
        "previousSecretExpiresAt": until.map(smartauth_domain::time::format),
    })))
}
