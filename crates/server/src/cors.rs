//! Browsers (the web SDK): cross-origin calls to the attempt endpoints are answered for the origins
//! some client allows (`allowedOrigins`), and a person-scoped call is accepted only from its own
//! client's origins (checked with the token, in `auth`).
//!
//! A preflight carries no token, so it is answered for the union of every client's origins; the
//! request that follows is then held to its client's list. The union is read again after a few seconds
//! (other processes on the same database change it too) or at once after a change here.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::request::Parts as RequestParts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::startup::AppState;

const FRESH_FOR: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Origins {
    union: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl Origins {
    async fn union(&self, state: &AppState) -> Arc<HashSet<String>> {
        if let Some((at, set)) = self.union.read().ok().and_then(|u| u.clone()) {
            if at.elapsed() < FRESH_FOR {
                return set;
            }
        }
        let set: Arc<HashSet<String>> = match state.store.clients().await {
            Ok(clients) => {
                Arc::new(clients.into_iter().filter(|c| !c.disabled).flat_map(|c| c.settings.allowed_origins).collect())
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the clients' allowed origins failed");
                return Arc::default();
            }
        };
        if let Ok(mut u) = self.union.write() {
            *u = Some((Instant::now(), set.clone()));
        }
        set
    }

    /// Forgets the union after a client's settings changed in this process.
    pub fn forget(&self) {
        if let Ok(mut u) = self.union.write() {
            *u = None;
        }
    }
}

/// The CORS answer of the SDK's endpoints.
pub fn layer(state: AppState) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &RequestParts| {
            let sdk_path = is_sdk_path(parts.uri.path());
            async move {
                match origin.to_str() {
                    Ok(origin) if sdk_path => state.origins.union(&state).await.contains(origin),
                    _ => false,
                }
            }
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, header::HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}

/// What the web SDK calls: attempts, their device challenge and their step-up methods.
fn is_sdk_path(path: &str) -> bool {
    path == "/authentications" || path.starts_with("/authentications/")
}

/// The browser origin of a request from another site: `None` for calls from servers (no `Origin`) and
/// for pages of `SMARTAUTH_PUBLIC_URL` itself. The `Host` header is not trusted for this: a DNS
/// rebinding page sends a `Host` that matches its own origin.
pub fn cross_origin<'h>(headers: &'h HeaderMap, public_url: Option<&str>) -> Option<&'h str> {
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("null");
    let own = public_url.and_then(|u| url::Url::parse(u).ok()).map(|u| u.origin().ascii_serialization());
    (own.as_deref() != Some(origin)).then_some(origin)
}
