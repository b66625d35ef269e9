//! The HTTP API, one file per section of API.md.

use axum::routing::{get, patch, post, put};
use axum::Router;

use crate::startup::AppState;

mod admin;
mod authentications;
mod docs;
mod face;
mod health;
mod identities;
mod methods;
mod policies;
mod webhooks;

/// The request body parsers as their routes run them, for the fuzz targets (`crate::fuzzing`).
#[doc(hidden)]
pub mod fuzzing {
    pub use super::authentications::fuzz::attempt_body;
    pub use super::identities::fuzz::{identity_body, identity_changes_body};
    pub use super::methods::fuzz::verify_body;
}

/// Every route on one port (without `SMARTAUTH_ADMIN_LISTEN`).
pub fn router() -> Router<AppState> {
    api().merge(operator())
}

/// The routes for clients: the API, its documentation and liveness. The web SDK's (`/authentications`
/// and below) answer browsers from the clients' allowed origins (`crate::cors`).
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .route("/identities", post(identities::create))
        .route("/identities/{person_id}", get(identities::read).patch(identities::update).delete(identities::erase))
        .route("/identities/{person_id}/unlock", post(identities::unlock))
        .route("/policies", get(policies::list))
        .route("/policies/{policy_id}", put(policies::put).get(policies::read).delete(policies::delete))
        .route("/policies/{policy_id}/replay", post(policies::replay))
        .route("/sdk/smartauth.js", get(docs::sdk))
        .route("/authentications", post(authentications::create).get(authentications::list))
        .route("/authentications/device-challenge", post(authentications::device_challenge))
        .route("/authentications/{attempt_id}", get(authentications::read))
        .route("/authentications/{attempt_id}/methods/{method}/send", post(methods::send))
        .route("/authentications/{attempt_id}/methods/{method}/verify", post(methods::verify))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/webhooks/{id}", get(webhooks::read).patch(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/deliveries/{delivery_id}/redeliver", post(webhooks::redeliver))
        .route("/webhooks/{id}/recover", post(webhooks::recover))
        .route("/audit", get(webhooks::tenant_audit))
        .route("/media/{client_id}/{attempt_id}/{name}", get(face::media))
}

/// The routes for `SMARTAUTH_ADMIN_LISTEN`: the operator's, with liveness so that either port can be probed.
pub fn operator_port() -> Router<AppState> {
    operator().route("/health", get(health::health))
}

/// What tells more about the server than its clients need: the admin API, readiness (it names the
/// data files) and metrics.
fn operator() -> Router<AppState> {
    Router::new()
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/admin/audit", get(webhooks::operator_audit))
        .route("/admin/clients", post(admin::create_client).get(admin::list_clients))
        .route("/admin/clients/{client_id}", patch(admin::update_client))
        .route("/admin/clients/{client_id}/disable", post(admin::disable_client))
        .route("/admin/clients/{client_id}/enable", post(admin::enable_client))
        .route("/admin/clients/{client_id}/rotate-secret", post(admin::rotate_secret))
        .route("/admin/clients/{client_id}/identities/{person_id}/unlock", post(identities::unlock_by_operator))
}
