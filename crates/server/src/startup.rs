//! Builds the application from [`Settings`]: storage, keys, delivery clients, the router and its
//! middleware; and runs it until a shutdown signal.

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use futures::future::{BoxFuture, FutureExt};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use smartauth_context::Intelligence;
use smartauth_store::{PolicyRecord, Store};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::cache::TtlCache;
use crate::clients::ClientCache;
use crate::configuration::Settings;
use crate::crypto::{self, MasterKey};
use crate::delivery::email::EmailClient;
use crate::delivery::sms::SmsClient;
use crate::error::{ApiError, REQUEST_ID};
use crate::faces::Faces;
use crate::fetch::SafeFetcher;
use crate::geocoder::Geocoder;
use crate::limits::{Limits, Throttles};
use crate::media::MediaStore;
use crate::ops::store::{Create, Opened};
use crate::tls::{self, Certificates, TlsListener};
use crate::{ops, routes, telemetry};

/// Request bodies above this are refused with 413 (face images are the largest legitimate bodies).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub struct App {
    pub store: Arc<dyn Store>,
    pub key: MasterKey,
    pub clients: ClientCache,
    pub policies: TtlCache<Option<Arc<PolicyRecord>>>,
    pub admin_token_hash: String,
    pub intel: Arc<Intelligence>,
    pub geocoder: Option<Geocoder>,
    /// Face authentication; `None` when the models are not installed.
    pub faces: Option<Faces>,
    pub fetcher: SafeFetcher,
    pub public_url: Option<String>,
    /// Whether the listeners speak HTTPS (`SMARTAUTH_TLS_CERT`), for links built from `Host`.
    pub https: bool,
    pub email: Option<EmailClient>,
    pub sms: Option<SmsClient>,
    pub trusted_proxies: Vec<IpNet>,
    pub metrics: PrometheusHandle,
    pub limits: Limits,
    pub throttles: Throttles,
    /// Every client's allowed browser origins, for CORS preflights.
    pub origins: crate::cors::Origins,
    pub webhook_settings: crate::configuration::WebhookSettings,
    /// Wakes the webhook dispatcher when an event was written here.
    pub webhook_wakeup: crate::webhooks::Wakeup,
    /// Rung after an erasure: the journal still holds the erased rows (`ops::identities::spawn_journal_cleaner`).
    pub erased: tokio::sync::Notify,
}

pub type AppState = Arc<App>;

impl App {
    /// The tenant's policy, through the cache (policy edits in this process evict it at once).
    pub async fn policy(&self, client_id: &str, policy_id: &str) -> anyhow::Result<Option<Arc<PolicyRecord>>> {
        let key = policy_cache_key(client_id, policy_id);
        if let Some(hit) = self.policies.get(&key) {
            return Ok(hit);
        }
        let loaded = self.store.policy(client_id, policy_id).await?.map(Arc::new);
        self.policies.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Where clients reach this server, for links: `SMARTAUTH_PUBLIC_URL`, else the request's `Host`
    /// (over https when the server speaks TLS).
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
            .unwrap_or("localhost");
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{host}")
    }

    pub fn forget_policy(&self, client_id: &str, policy_id: &str) {
        self.policies.forget(&policy_cache_key(client_id, policy_id));
    }

    /// The address the attempt comes from: the peer, or the first address in `X-Forwarded-For`
    /// that is not a trusted proxy, when the peer itself is a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        forwarded_client(peer, headers, &self.trusted_proxies)
    }
}

/// Walks `X-Forwarded-For` from the nearest hop back while each hop is a trusted proxy. A hop that
/// is not an address (after taking off a port, as some proxies append one) ends the walk at the
/// last address a trusted proxy vouched for: skipping it would let the client's own entries through.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop_address(hop) else {
            return client;
        };
        client = ip;
        if !trusted(&ip) {
            return ip;
        }
    }
    client
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn hop_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

fn policy_cache_key(client_id: &str, policy_id: &str) -> String {
    format!("{client_id}/{policy_id}")
}

/// What the operator must be told once, at first start.
pub struct FirstStart {
    pub admin_token: Option<String>,
}

/// The admin token's hash: from `SMARTAUTH_ADMIN_TOKEN`, else from the data dir, else a new token
/// that is returned so it can be printed once.
fn admin_token_hash(settings: &Settings) -> anyhow::Result<(String, Option<String>)> {
    if let Some(token) = &settings.admin_token {
        return Ok((crypto::sha256_hex(token.as_bytes()), None));
    }
    let path = settings.data_dir.join("admin-token.sha256");
    if path.exists() {
        let hash = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((hash.trim().to_owned(), None));
    }
    let token = crypto::new_secret();
    let hash = crypto::sha256_hex(token.as_bytes());
    crypto::write_private(&path, &hash)?;
    Ok((hash, Some(token)))
}

pub async fn build_state(settings: &Settings) -> anyhow::Result<(AppState, FirstStart)> {
    // What the settings name is checked first: a refused start creates no data dir or store.
    if let Some(files) = &settings.tls {
        Certificates::load(files)?;
    }
    let email = settings.smtp_url.as_deref().map(|url| EmailClient::new(url, settings)).transpose()?;
    let sms = settings.sms_gateway_url.as_deref().map(|url| SmsClient::new(url, settings.sms_timeout)).transpose()?;
    let geocoder = settings.geocoder_url.as_deref().map(Geocoder::new).transpose()?;
    let Opened { store, key } = ops::store::open(settings, Create::Allowed).await?;
    ops::store::warn_about_exposed_files(settings);
    let (admin_token_hash, generated) = admin_token_hash(settings)?;
    let intel = load_intelligence(settings).await?;
    let faces = load_faces(settings).await;
    let app = App {
        store,
        key,
        clients: ClientCache::default(),
        policies: TtlCache::default(),
        admin_token_hash,
        intel,
        geocoder,
        faces,
        fetcher: SafeFetcher::new(settings.allow_private_targets),
        public_url: settings.public_url.clone(),
        https: settings.tls.is_some(),
        email,
        sms,
        trusted_proxies: settings.trusted_proxies.clone(),
        metrics: telemetry::metrics_handle(),
        limits: settings.limits.clone(),
        throttles: Throttles::new(&settings.limits),
        origins: crate::cors::Origins::default(),
        webhook_settings: settings.webhooks.clone(),
        webhook_wakeup: crate::webhooks::Wakeup::default(),
        erased: tokio::sync::Notify::new(),
    };
    Ok((Arc::new(app), FirstStart { admin_token: generated }))
}

/// Loads the offline data sets (once per process and configuration) and says what is missing.
async fn load_intelligence(settings: &Settings) -> anyhow::Result<Arc<Intelligence>> {
    let config = settings.intel.clone();
    let intel = tokio::task::spawn_blocking(move || Intelligence::shared(&config)).await?;
    let fix = format!(
        "run `scripts/fetch-data.sh {}` from the repository, or set SMARTAUTH_INTEL_DIR to the directory it filled \
         (data/intel in the repository)",
        settings.intel.dir.display()
    );
    for set in &intel.status {
        if set.loaded {
            tracing::info!(data_set = set.name, source = %set.source, load_ms = set.load_ms, date = set.date.as_deref().unwrap_or("-"), "data set loaded");
        } else {
            tracing::warn!(
                data_set = set.name,
                source = %set.source,
                error = set.error.as_deref().unwrap_or("-"),
                fix,
                "data set not loaded: its fields stay null"
            );
        }
    }
    Ok(intel)
}

/// Loads the face models (once per process); without them the server runs without face authentication.
async fn load_faces(settings: &Settings) -> Option<Faces> {
    let media = match &settings.media_s3 {
        None => MediaStore::files(settings.data_dir.join("media")),
        Some(s3) => match MediaStore::s3(s3) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "face authentication is off: its media store cannot be set up");
                return None;
            }
        },
    };
    let (models, workers) = (settings.models_dir.clone(), settings.face_workers);
    let started = Instant::now();
    let loaded = tokio::task::spawn_blocking(move || Faces::load(&models, media, workers)).await;
    match loaded {
        Ok(Ok(faces)) => {
            tracing::info!(
                load_ms = started.elapsed().as_millis() as u64,
                workers = settings.face_workers,
                "face models loaded"
            );
            Some(faces)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                error = %e,
                fix = "run scripts/fetch-data.sh from the repository, which puts them in its data/models; \
                       with another SMARTAUTH_DATA_DIR, set SMARTAUTH_MODELS_DIR to that directory",
                "face models not loaded: face_authentication is not offered"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "face models not loaded");
            None
        }
    }
}

/// Every route on one port, as `serve` answers without `SMARTAUTH_ADMIN_LISTEN`.
pub fn router(state: AppState) -> Router {
    let cors = crate::cors::layer(state.clone());
    finish(routes::router(), state).layer(cors)
}

/// The fallbacks, middleware and state every port's routes get.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound("no such endpoint; see /docs".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("method not allowed on this endpoint".into())
        })
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()))
        .layer(middleware::from_fn(request_context))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Gives every request an id (body field and `x-request-id` header), an access log line and metrics.
/// The log line names the route's template, never the path (which holds person ids), and the client
/// a verified token named; never a token, a code or a body.
async fn request_context(request: Request, next: Next) -> Response {
    let request_id = crypto::new_id().to_string();
    let method = request.method().clone();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let started = Instant::now();
    let (mut response, client_id) =
        telemetry::with_client(REQUEST_ID.scope(request_id.clone(), next.run(request))).instrument(span).await;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let latency_us = elapsed.as_micros() as u64;
    tracing::info!(request_id = %request_id, %method, %route, status, latency_us, client_id = client_id.as_deref(), "served");
    let method = static_method(&method);
    metrics::counter!("smartauth_http_requests_total", "method" => method, "route" => route.clone(), "status" => status_class(status))
        .increment(1);
    metrics::histogram!("smartauth_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// Label values are static strings: no allocation per request, and a bounded set of series.
fn static_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        413 => "413",
        429 => "429",
        500 => "500",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

pub struct Server {
    listener: TcpListener,
    router: Router,
    /// `SMARTAUTH_ADMIN_LISTEN`: the operator's endpoints on a port of their own.
    admin: Option<(TcpListener, Router)>,
    /// `SMARTAUTH_TLS_CERT`: both ports speak HTTPS with this certificate.
    tls: Option<Arc<Certificates>>,
    /// Re-reads the certificate on SIGHUP, from the moment the ports are bound.
    reloading: Option<tokio::task::JoinHandle<()>>,
    /// `SMARTAUTH_TRUSTED_PROXIES`: a load balancer in front connects for every client, so its handshakes
    /// are not capped per address.
    trusted_proxies: Arc<Vec<IpNet>>,
    /// `Settings::client_deadline`.
    deadline: std::time::Duration,
}

impl Server {
    /// Binds the ports and starts the webhook dispatcher.
    pub async fn bind(settings: &Settings, state: AppState) -> anyhow::Result<Server> {
        if state.webhook_settings.dispatch {
            crate::webhooks::spawn(Arc::clone(&state));
        }
        crate::webhooks::spawn_gauges(Arc::clone(&state));
        crate::ops::attempts::spawn_sweeper(Arc::clone(&state));
        crate::ops::identities::spawn_journal_cleaner(Arc::clone(&state));
        if let Some(days) = settings.audit_retention_days {
            crate::ops::audit::spawn_pruner(Arc::clone(&state), days);
        }
        // Before binding: a certificate that does not load is a start-up error, not a dead port.
        let tls = settings.tls.as_ref().map(Certificates::load).transpose()?;
        #[cfg(unix)]
        let reloading = tls.clone().map(Certificates::reload_on_sighup).transpose()?;
        #[cfg(not(unix))]
        let reloading = None;
        let secure = |router: Router| match &tls {
            Some(_) => router.layer(middleware::map_response(tls::strict_transport_security)),
            None => router,
        };
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
        let trusted_proxies = Arc::new(settings.trusted_proxies.clone());
        let Some(admin_addr) = settings.admin_listen else {
            return Ok(Server {
                listener,
                router: secure(router(state)),
                admin: None,
                tls,
                reloading,
                trusted_proxies,
                deadline: settings.client_deadline,
            });
        };
        let admin = TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("listening on {admin_addr} (SMARTAUTH_ADMIN_LISTEN)"))?;
        Ok(Server {
            listener,
            router: secure(finish(routes::api(), state.clone()).layer(crate::cors::layer(state.clone()))),
            admin: Some((admin, secure(finish(routes::operator_port(), state)))),
            tls,
            reloading,
            trusted_proxies,
            deadline: settings.client_deadline,
        })
    }

    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/admin/*`, `/metrics` and `/ready` answer, when not on [`Server::local_addr`].
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(listener, _)| listener.local_addr().expect("a bound listener has an address"))
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (on both ports).
    /// With TLS, SIGHUP re-reads the certificate and key.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let config = self.tls.as_ref().map(Certificates::server_config).transpose()?;
        let (stop, mut stopped) = tokio::sync::watch::channel(());
        let exempt = &self.trusted_proxies;
        let deadline = self.deadline;
        let api = serve_port(self.listener, self.router, config.clone(), exempt, deadline, async move {
            shutdown.await;
            drop(stop);
        })?;
        let served = match self.admin {
            None => api.await,
            Some((listener, router)) => {
                let admin = serve_port(listener, router, config, exempt, deadline, async move {
                    // Ends when the API server's shutdown drops the sender.
                    let _ = stopped.changed().await;
                })?;
                tokio::try_join!(api, admin).map(|_| ())
            }
        };
        if let Some(task) = self.reloading {
            task.abort();
        }
        Ok(served?)
    }
}

/// One port: plain HTTP, or HTTPS when there is a TLS configuration.
fn serve_port(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: &Arc<Vec<IpNet>>,
    deadline: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<BoxFuture<'static, std::io::Result<()>>> {
    use crate::deadline::WithDeadlines;
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    // Tapped, a wrapped listener gets axum's `ConnectInfo<SocketAddr>` for its `Addr`: the peer's.
    Ok(match tls {
        None => {
            let listener = WithDeadlines::new(listener, deadline).tap_io(|_| {});
            axum::serve(listener, service).with_graceful_shutdown(shutdown).into_future().boxed()
        }
        Some(config) => {
            let listener = TlsListener::new(listener, config, Arc::clone(trusted_proxies))?;
            let listener = WithDeadlines::new(listener, deadline).tap_io(|_| {});
            axum::serve(listener, service).with_graceful_shutdown(shutdown).into_future().boxed()
        }
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

pub fn data_dir_note(path: &Path) -> String {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

#[cfg(test)]
mod forwarded_tests {
    use super::*;

    fn client(peer: &str, xff: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        forwarded_client(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn the_client_is_the_nearest_address_no_trusted_proxy_vouches_for_beyond() {
        assert_eq!(client("10.0.0.1", "198.51.100.9, 203.0.113.7, 10.0.0.2"), "203.0.113.7");
        assert_eq!(client("203.0.113.50", "198.51.100.9"), "203.0.113.50", "an untrusted peer's header is ignored");
    }

    #[test]
    fn a_hop_with_a_port_is_read_and_one_that_is_no_address_stops_the_walk() {
        assert_eq!(client("10.0.0.1", "198.51.100.9, 203.0.113.7:4711"), "203.0.113.7");
        assert_eq!(client("10.0.0.1", "198.51.100.9, [2001:db8::7]:4711"), "2001:db8::7");
        // Before the fix the garbage hop was skipped and the client's own 198.51.100.9 was believed.
        assert_eq!(client("10.0.0.1", "198.51.100.9, unknown"), "10.0.0.1");
    }
}
