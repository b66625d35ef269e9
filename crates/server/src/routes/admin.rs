//! Operator endpoints, behind the admin token.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Admin;
use crate::clients::{self, SdkTokenLifetime};
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path};
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

pub async fn create_client(State(app): State<AppState>, _: Admin, Json(body): Json<NewClient>) -> ApiResult<Response> {
    let name = clients::parse_name(&body.name).map_err(ApiError::BadRequest)?;
    let lifetime = lifetime(body.sdk_token_max_lifetime_seconds)?;
    let created = clients::create_with(app.store.as_ref(), &app.key, &name, body.validate_cpf, lifetime).await?;
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
}

pub async fn update_client(
    State(app): State<AppState>,
    _: Admin,
    Path(client_id): Path<String>,
    Json(changes): Json<ClientChanges>,
) -> ApiResult<Response> {
    if let Some(seconds) = changes.sdk_token_max_lifetime_seconds {
        let lifetime = lifetime(Some(seconds))?;
        if !clients::set_sdk_token_lifetime(app.store.as_ref(), &app.clients, &client_id, lifetime).await? {
            return Err(ApiError::not_found("client"));
        }
    }
    let record = app.store.client(&client_id).await?.ok_or_else(|| ApiError::not_found("client"))?;
    Ok(ok_json(clients::describe(&record)))
}

async fn set_disabled(app: AppState, client_id: String, disabled: bool) -> ApiResult<Response> {
    if !app.store.set_client_disabled(&client_id, disabled).await? {
        return Err(ApiError::not_found("client"));
    }
    app.clients.forget(&client_id);
    Ok(ok_json(json!({"clientId": client_id, "disabled": disabled})))
}

pub async fn disable_client(
    State(app): State<AppState>,
    _: Admin,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    set_disabled(app, client_id, true).await
}

pub async fn enable_client(
    State(app): State<AppState>,
    _: Admin,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    set_disabled(app, client_id, false).await
}

pub async fn rotate_secret(
    State(app): State<AppState>,
    _: Admin,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    let secret = clients::rotate_secret(app.store.as_ref(), &app.key, &client_id)
        .await?
        .ok_or_else(|| ApiError::not_found("client"))?;
    app.clients.forget(&client_id);
    Ok(ok_json(json!({"clientId": client_id, "clientSecret": secret})))
}
