//! Fetching an image the client points at (`imageUrl`), without letting the client reach what only
//! the server can: every address a name resolves to is checked (no private, loopback, link-local,
//! reserved or multicast targets unless the operator allows them), the connection goes to the
//! checked address (no second lookup an attacker could answer differently), each redirect is
//! checked again, and size and time are bounded. A name that does not resolve and a name that
//! resolves to a forbidden address get the same answer: otherwise `imageUrl` would tell a client
//! which internal names exist. Transition addresses (6to4, Teredo) are judged by the IPv4 address
//! they carry (`smartauth_context::classify`).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use smartauth_context::{classify, AddressKind};

/// The largest image fetched.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// For the whole fetch, redirects included.
pub const TIMEOUT: Duration = Duration::from_secs(8);
const MAX_REDIRECTS: usize = 3;
/// A resolver that does not answer in time is a name that does not resolve (the same answer again).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a webhook receiver's checked address serves its deliveries before the name is looked up and
/// checked again. Looking it up at every delivery made each of a subscription's deliveries, sent one after
/// another, wait for a DNS round trip where no local resolver caches (glibc does not): at 10 ms, 100
/// deliveries a second at most. A name that moves is followed within this time, or at once after a
/// delivery that could not reach the old address; every connection still goes to a checked address.
const REUSE_RESOLUTION: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("imageUrl must be an http or https URL")]
    BadUrl,
    /// The host does not resolve, or it is (or resolves to) an address this server does not fetch
    /// from: one error for both.
    #[error(
        "imageUrl must name a host that resolves to public addresses only; this one does not resolve, or it is \
         private, loopback or reserved"
    )]
    NotPublic,
    #[error("imageUrl could not be fetched: {0}")]
    Failed(String),
    #[error("the image at imageUrl is larger than {} MiB", MAX_BYTES >> 20)]
    TooLarge,
}

/// A receiver's answer to a POST.
pub struct Posted {
    pub status: u16,
    /// `Retry-After` in seconds, when the receiver sent one.
    pub retry_after: Option<u64>,
}

pub struct SafeFetcher {
    allow_private: bool,
    /// Webhook clients by name and checked address.
    clients: quick_cache::sync::Cache<(String, SocketAddr), reqwest::Client>,
    /// Webhook receivers' names and ports, with the address checked for them and when it was looked up.
    resolved: quick_cache::sync::Cache<(String, u16), (SocketAddr, Instant)>,
    reuse_resolution: Duration,
}

impl SafeFetcher {
    pub fn new(allow_private: bool) -> SafeFetcher {
        SafeFetcher {
            allow_private,
            clients: quick_cache::sync::Cache::new(256),
            resolved: quick_cache::sync::Cache::new(1024),
            reuse_resolution: REUSE_RESOLUTION,
        }
    }

    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        tokio::time::timeout(TIMEOUT, self.fetch_inner(url))
            .await
            .map_err(|_| FetchError::Failed(format!("no answer within {} s", TIMEOUT.as_secs())))?
    }

    async fn fetch_inner(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut url = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl)?;
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
                return Err(FetchError::BadUrl);
            }
            let host = url.host_str().ok_or(FetchError::BadUrl)?.to_owned();
            let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
            let target = self.resolve(&host, port).await?;
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve the name again, and reach its own network: never use one here.
                .no_proxy()
                .timeout(TIMEOUT)
                .user_agent(concat!("smartauth/", env!("CARGO_PKG_VERSION")))
                // Connect to the address that was checked, whatever DNS says next.
                .resolve(&host, target)
                .build()
                .map_err(|e| FetchError::Failed(e.to_string()))?;
            let mut response = client.get(url.clone()).send().await.map_err(|e| FetchError::Failed(e.to_string()))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| FetchError::Failed("a redirect without a location".into()))?;
                url = url.join(location).map_err(|_| FetchError::BadUrl)?;
                continue;
            }
            if !response.status().is_success() {
                return Err(FetchError::Failed(format!("the server answered {}", response.status())));
            }
            if response.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
                return Err(FetchError::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Failed(e.to_string()))? {
                if body.len() + chunk.len() > MAX_BYTES {
                    return Err(FetchError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
        Err(FetchError::Failed(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// POSTs `body` to `url` (a webhook delivery) under the same rules: the name is resolved and checked
    /// (again after `REUSE_RESOLUTION`, or after a delivery that could not reach it), the connection goes to
    /// the checked address, and redirects are not followed.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Posted, FetchError> {
        let url = self.checked(url)?;
        let host = url.host_str().ok_or(FetchError::BadUrl)?.to_owned();
        let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
        let target = self.resolve_reused(&host, port, |h, p| async move { self.resolve(&h, p).await }).await?;
        // One client (its pooled connections) per checked address of a name: keep-alive across deliveries,
        // and a name that resolves elsewhere next time gets a client of its own.
        let key = (host.clone(), target);
        let client = match self.clients.get(&key) {
            Some(client) => client,
            None => {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .user_agent(concat!("smartauth-webhooks/", env!("CARGO_PKG_VERSION")))
                    .resolve(&host, target)
                    .build()
                    .map_err(|e| FetchError::Failed(e.to_string()))?;
                self.clients.insert(key, client.clone());
                client
            }
        };
        let mut request =
            client.post(url).timeout(timeout).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| {
            // The name may have moved: the next delivery looks it up again.
            self.resolved.remove(&(host.clone(), port));
            match e.is_timeout() {
                true => FetchError::Failed(format!("no answer within {} s", timeout.as_secs())),
                false => FetchError::Failed("the receiver could not be reached".into()),
            }
        })?;
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let status = response.status().as_u16();
        // The answer's body is read to its end (and thrown away), so that the connection goes back to the
        // pool for the next delivery: a response dropped unread closes it. The status is the outcome; the
        // body gets a short while of its own (and 64 KB) and no more, so that a receiver that trickles one
        // does not hold its subscription's deliveries: its connection is closed instead.
        const READ_AT_MOST: usize = 64 * 1024;
        const READ_FOR: Duration = Duration::from_secs(1);
        let mut response = response;
        let _ = tokio::time::timeout(READ_FOR, async {
            let mut read = 0;
            while read <= READ_AT_MOST {
                match response.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    Ok(None) | Err(_) => break,
                }
            }
        })
        .await;
        Ok(Posted { status, retry_after })
    }

    /// Whether `url` is a target this server would reach: http(s), no credentials, and a name that
    /// resolves to allowed addresses only.
    pub async fn check_target(&self, url: &str) -> Result<(), FetchError> {
        let url = self.checked(url)?;
        let host = url.host_str().ok_or(FetchError::BadUrl)?.to_owned();
        self.resolve(&host, url.port_or_known_default().ok_or(FetchError::BadUrl)?).await.map(|_| ())
    }

    fn checked(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let url = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::BadUrl);
        }
        Ok(url)
    }

    /// The checked address `resolve` gave for this name within `reuse_resolution`, else `resolve`'s answer
    /// now (kept when it is an address).
    async fn resolve_reused<F, R>(&self, host: &str, port: u16, resolve: F) -> Result<SocketAddr, FetchError>
    where
        F: FnOnce(String, u16) -> R,
        R: std::future::Future<Output = Result<SocketAddr, FetchError>>,
    {
        let key = (host.to_owned(), port);
        if let Some((address, at)) = self.resolved.get(&key) {
            if at.elapsed() < self.reuse_resolution {
                return Ok(address);
            }
        }
        let address = resolve(key.0.clone(), port).await?;
        self.resolved.insert(key, (address, Instant::now()));
        Ok(address)
    }

    /// The address to connect to: every address of the name must be allowed.
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, FetchError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(_)) | Err(_) => return Err(FetchError::NotPublic),
            },
        };
        if addresses.is_empty() {
            return Err(FetchError::NotPublic);
        }
        if !self.allow_private && addresses.iter().any(|a| !allowed(a.ip())) {
            return Err(FetchError::NotPublic);
        }
        Ok(addresses[0])
    }
}

fn allowed(ip: IpAddr) -> bool {
    classify(ip) == AddressKind::Public
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn transition_addresses_carrying_private_ipv4_are_not_fetched() {
        for blocked in [
            "2002:a00:1::",                         // 6to4 of 10.0.0.1
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::",                     // 6to4 of 169.254.169.254, the cloud metadata service
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
            "::ffff:10.0.0.1",
            "fd00::1",
        ] {
            assert!(!allowed(ip(blocked)), "{blocked} was allowed");
        }
        for public in ["2002:808:808::1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "2001:4860:4860::8888", "8.8.8.8"] {
            assert!(allowed(ip(public)), "{public} was refused");
        }
    }

    #[tokio::test]
    async fn a_receivers_checked_address_is_reused_for_a_while_and_a_refusal_never() {
        let mut fetcher = SafeFetcher::new(false);
        let lookups = std::sync::atomic::AtomicU32::new(0);
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        let lookup = |answer: Result<SocketAddr, ()>| {
            let lookups = &lookups;
            move |_: String, _: u16| async move {
                lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                answer.map_err(|_| FetchError::NotPublic)
            }
        };
        let count = || lookups.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..5 {
            assert_eq!(fetcher.resolve_reused("hooks.example", 443, lookup(Ok(public))).await.unwrap(), public);
        }
        assert_eq!(count(), 1, "five deliveries within the reuse period: one lookup");
        // Another port of the same name is another receiver.
        fetcher.resolve_reused("hooks.example", 8443, lookup(Ok(public))).await.unwrap();
        assert_eq!(count(), 2);
        // A refused name is looked up (and refused) every time: nothing of it is kept.
        for _ in 0..3 {
            let refused = fetcher.resolve_reused("inside.example", 443, lookup(Err(()))).await;
            assert!(matches!(refused, Err(FetchError::NotPublic)));
        }
        assert_eq!(count(), 5);
        // After the reuse period, or once a delivery could not reach it, the name is looked up again.
        fetcher.resolved.remove(&("hooks.example".to_owned(), 443));
        fetcher.resolve_reused("hooks.example", 443, lookup(Ok(public))).await.unwrap();
        assert_eq!(count(), 6);
        fetcher.reuse_resolution = Duration::ZERO;
        fetcher.resolve_reused("hooks.example", 443, lookup(Ok(public))).await.unwrap();
        assert_eq!(count(), 7);
    }

    #[tokio::test]
    async fn a_receiver_that_cannot_be_reached_is_looked_up_again_next_time() {
        let fetcher = SafeFetcher::new(true);
        let key = ("127.0.0.1".to_owned(), 9);
        let sent = fetcher.post("http://127.0.0.1:9/hooks", &[], b"{}".to_vec(), Duration::from_secs(2)).await;
        assert!(matches!(sent, Err(FetchError::Failed(_))), "port 9 answers nothing");
        assert!(fetcher.resolved.get(&key).is_none(), "its address is forgotten");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_looks_like_a_private_target() {
        let fetcher = SafeFetcher::new(false);
        let mut messages = Vec::new();
        // RFC 6761: .invalid never resolves; localhost is loopback; then literal private addresses.
        for url in [
            "http://no-such-host.invalid/face.jpg",
            "http://localhost/face.jpg",
            "http://10.0.0.1/face.jpg",
            "http://[2002:a00:1::]/face.jpg",
        ] {
            let error = fetcher.fetch(url).await.expect_err(url);
            assert!(matches!(error, FetchError::NotPublic), "{url}: {error}");
            messages.push(error.to_string());
        }
        messages.dedup();
        assert_eq!(messages.len(), 1, "{messages:?}");
    }
}
