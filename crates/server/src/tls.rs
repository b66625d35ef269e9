//! HTTPS on the listeners (`SMARTAUTH_TLS_CERT`, `SMARTAUTH_TLS_KEY`), with rustls and its `ring`
//! provider. The certificate and key are re-read on SIGHUP: new connections get the new pair, and a
//! pair that does not load is logged and the one in use kept. Handshakes run beside the accept loop,
//! each bounded in time, so a client that stalls its handshake holds up no one else; at most
//! `HANDSHAKES_PER_ADDRESS` at once from one address (more are closed at once), and `HANDSHAKES` in all
//! (more wait in the kernel's backlog), so that stalled handshakes cannot take the memory or the ports.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::configuration::TlsFiles;

/// `Strict-Transport-Security` on every response over TLS: one year, the value browsers and the
/// HSTS preload list expect. Without `includeSubDomains`: the operator's other hosts under the
/// same name may not speak HTTPS, and this server cannot know.
pub const HSTS: &str = "max-age=31536000";

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once, in all and from one client address.
const HANDSHAKES: usize = 1024;
pub const HANDSHAKES_PER_ADDRESS: u32 = 32;
/// Handshaken connections waiting for the HTTP server to take them.
const BACKLOG: usize = 128;

/// The certificate served to new connections, replaceable while the server runs.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Reads the pair; any problem with it is a start-up error that names the file.
    pub fn load(files: &TlsFiles) -> anyhow::Result<Arc<Certificates>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(files, &provider)?;
        Ok(Arc::new(Certificates { files: files.clone(), provider, current: RwLock::new(Arc::new(current)) }))
    }

    /// Reads the files again; on failure the pair in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(read_pair(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The rustls configuration of a listener: HTTP/1.1 (what the router speaks), TLS 1.2 and 1.3.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("setting up TLS")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Re-reads the pair on every SIGHUP, for as long as the task runs.
    #[cfg(unix)]
    pub fn reload_on_sighup(self: Arc<Self>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match self.reload() {
                    Ok(()) => {
                        tracing::info!(cert = %self.files.cert.display(), "SIGHUP: TLS certificate and key reloaded")
                    }
                    Err(e) => tracing::error!(
                        error = %format!("{e:#}"),
                        "SIGHUP: the TLS certificate and key were not reloaded; the previous ones are still served"
                    ),
                }
            }
        }))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The chain and key, checked to belong together. Errors name the file, never its content.
fn read_pair(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_file = files.cert.display();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("SMARTAUTH_TLS_CERT={cert_file}: not a readable PEM certificate file"))?;
    anyhow::ensure!(!chain.is_empty(), "SMARTAUTH_TLS_CERT={cert_file}: the file holds no PEM certificate");
    let key_file = files.key.display();
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!("SMARTAUTH_TLS_KEY={key_file}: not a readable PEM private key (PKCS#8, PKCS#1 or SEC1)")
    })?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!("SMARTAUTH_TLS_CERT={cert_file} and SMARTAUTH_TLS_KEY={key_file} do not make a usable pair")
    })
}

/// Adds [`HSTS`] to a response.
pub async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

/// A TCP listener whose connections come out of a TLS handshake; the peer's address comes along,
/// so `ConnectInfo<SocketAddr>` is the client's address as over plain HTTP.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// `uncapped`: addresses whose handshakes are not capped per address (the trusted proxies: a load
    /// balancer connects for every client).
    pub fn new(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        uncapped: Arc<Vec<ipnet::IpNet>>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (ready, incoming) = mpsc::channel(BACKLOG);
        let accepting = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), ready, uncapped));
        Ok(TlsListener { incoming, local, accepting })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    uncapped: Arc<Vec<ipnet::IpNet>>,
) {
    let all = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
    let per_address: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, u32>>> = Arc::default();
    loop {
        let Ok(permit) = Arc::clone(&all).acquire_owned().await else { return };
        let (stream, peer) = tokio::select! {
            _ = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // As axum does: a connection that failed is skipped, anything else (such as
                    // running out of file descriptors) waits a moment before trying again.
                    if !is_connection_error(&e) {
                        tracing::error!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        // An IPv6 client has a /64 to pick addresses from: counted as one, as the throttles do.
        let address = crate::limits::address_key(peer.ip());
        let proxy = uncapped.iter().any(|net| net.contains(&peer.ip()));
        let admitted = per_address.lock().is_ok_and(|mut counts| {
            let count = counts.entry(address).or_insert(0);
            let admitted = proxy || *count < HANDSHAKES_PER_ADDRESS;
            *count += u32::from(admitted);
            admitted
        });
        if !admitted {
            tracing::debug!(%peer, "too many TLS handshakes from this address at once; connection closed");
            metrics::counter!("smartauth_throttled_total", "throttle" => "tls_handshakes").increment(1);
            continue; // the stream is dropped: closed
        }
        let _ = stream.set_nodelay(true);
        let (acceptor, ready, per_address) = (acceptor.clone(), ready.clone(), Arc::clone(&per_address));
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            release(&per_address, address);
            drop(permit);
            match handshake {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                // Plain HTTP, scanners, clients that distrust the certificate: not the server's fault.
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// One handshake of `address` ended.
fn release(
    per_address: &std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, u32>>,
    address: std::net::IpAddr,
) {
    if let Ok(mut counts) = per_address.lock() {
        if let Some(count) = counts.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
