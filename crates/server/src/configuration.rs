//! Every setting the server reads, with its default. This is the only place that reads the
//! environment; the rest of the code receives a [`Settings`]. [`SETTINGS`] is the one list of them
//! that `smartauth serve --help` prints and the README's table must match.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use ipnet::IpNet;
use smartauth_context::IntelConfig;

use crate::limits::Limits;
use crate::media::S3Settings;

/// One environment variable: its name, its default as an operator reads it, and what it does.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

const fn setting(name: &'static str, default: &'static str, meaning: &'static str) -> Setting {
    Setting { name, default, meaning }
}

/// Every variable [`Settings::from_lookup`] reads, in the order `serve --help` lists them.
pub const SETTINGS: &[Setting] = &[
    setting("SMARTAUTH_LISTEN", "127.0.0.1:8080", "address and port to listen on"),
    setting(
        "SMARTAUTH_ADMIN_LISTEN",
        "none: they answer on SMARTAUTH_LISTEN",
        "address and port for /admin/*, /metrics and /ready, which then leave the API port; keep it private",
    ),
    setting("SMARTAUTH_DATA_DIR", "./data", "the SQLite file (smartauth.db), master key, admin token hash, media"),
    setting(
        "SMARTAUTH_DATABASE_URL",
        "smartauth.db in the data dir",
        "a sqlite: URL (PostgreSQL arrives in a later version)",
    ),
    setting(
        "SMARTAUTH_ADMIN_TOKEN",
        "generated on first start, printed once",
        "the operator's token for /admin/*; only its SHA-256 is kept",
    ),
    setting(
        "SMARTAUTH_MASTER_KEY",
        "master.key in the data dir, created on first start",
        "base64 of 32 bytes; encrypts client secrets and face data. Back it up apart from the database",
    ),
    setting(
        "SMARTAUTH_TLS_CERT",
        "none: plain HTTP (put a TLS proxy in front)",
        "PEM certificate chain: HTTPS on both listeners, with HSTS; set with SMARTAUTH_TLS_KEY, re-read on SIGHUP",
    ),
    setting("SMARTAUTH_TLS_KEY", "none", "PEM private key of SMARTAUTH_TLS_CERT (PKCS#8, PKCS#1 or SEC1)"),
    setting(
        "SMARTAUTH_SMTP_URL",
        "none: email codes are not offered",
        "smtp://[user:pass@]host[:port] (plain), smtp://host:587?tls=required (STARTTLS) or smtps://host:465",
    ),
    setting(
        "SMARTAUTH_SMTP_CA_FILE",
        "none: the public web roots",
        "PEM CA certificates also trusted for the SMTP relay's TLS certificate (an internal CA)",
    ),
    setting("SMARTAUTH_SMTP_FROM", "smartauth <no-reply@localhost>", "sender of code emails"),
    setting(
        "SMARTAUTH_SMTP_TIMEOUT_SECONDS",
        "10",
        "the longest one email send may take, connection and TLS included (1 to 60); then 502",
    ),
    setting(
        "SMARTAUTH_SMS_GATEWAY_URL",
        "none: SMS codes are not offered",
        "receives POST {\"to\", \"message\"} as JSON; any 2xx is success",
    ),
    setting("SMARTAUTH_SMS_TIMEOUT_SECONDS", "5", "the longest one SMS gateway call may take (1 to 60); then 502"),
    setting(
        "SMARTAUTH_WEBHOOK_RETRY_SECONDS",
        "5,300,1800,7200,18000,36000,50400,72000,86400",
        "the waits before each retry of a failed webhook delivery (about three days in all); then it is given up",
    ),
    setting("SMARTAUTH_WEBHOOK_TIMEOUT_SECONDS", "10", "the longest one webhook delivery may take (1 to 60)"),
    setting(
        "SMARTAUTH_WEBHOOK_DISABLE_AFTER_SECONDS",
        "345600",
        "a subscription whose every delivery has failed for this long is disabled (four days: after the last retry)",
    ),
    setting(
        "SMARTAUTH_WEBHOOK_SENDERS",
        "32",
        "subscriptions one process delivers to at once (1 to 256); each sends its events one after another",
    ),
    setting(
        "SMARTAUTH_WEBHOOK_PRIORITY",
        "background",
        "background: delivering takes only the CPU that answering leaves (at full load, deliveries wait for it); \
         normal: the same share as answering",
    ),
    setting(
        "SMARTAUTH_WEBHOOK_DISPATCH",
        "true",
        "false: this process writes events but does not deliver them (another `serve` on the same database does)",
    ),
    setting(
        "SMARTAUTH_AUDIT_RETENTION_DAYS",
        "none: kept for ever",
        "audit lines older than this many days (1 to 36500) are deleted at start and hourly, with a line saying so",
    ),
    setting("SMARTAUTH_TRUSTED_PROXIES", "none", "comma-separated CIDRs whose X-Forwarded-For is believed"),
    setting(
        "SMARTAUTH_ALLOW_PRIVATE_TARGETS",
        "false",
        "let outgoing requests (imageUrl, webhook deliveries) reach private and loopback addresses",
    ),
    setting("SMARTAUTH_LOG_FORMAT", "text", "text, or json for one JSON object per line (stderr)"),
    setting(
        "RUST_LOG",
        crate::telemetry::DEFAULT_LOG_LEVELS,
        "log levels, added to the defaults: debug, smartauth=debug, debug,tract=debug (see the README)",
    ),
    setting(
        "SMARTAUTH_INTEL_DIR",
        "intel in the data dir",
        "the data sets scripts/fetch-data.sh installs (IP city and ASN, anonymizers, places, UA regexes)",
    ),
    setting("SMARTAUTH_GEOIP_CITY_MMDB", "the bundled DB-IP files", "a GeoIP2/GeoLite2 City database to use instead"),
    setting("SMARTAUTH_GEOIP_ASN_MMDB", "the bundled ASN ranges", "a GeoIP2/GeoLite2 ASN database to use instead"),
    setting(
        "SMARTAUTH_GEOIP_ANONYMOUS_MMDB",
        "the bundled iporigin ranges",
        "a GeoIP2 Anonymous-IP database to use instead",
    ),
    setting(
        "SMARTAUTH_PLACES_CSV",
        "cities.csv in the intel dir, else places.csv there, else GeoNames compiled in",
        "a places table lat,lon,name,admin1,admin2,cc[,population] for reverse geocoding",
    ),
    setting(
        "SMARTAUTH_MODELS_DIR",
        "models in the data dir",
        "the face models scripts/fetch-data.sh installs; without them face_authentication is not offered",
    ),
    setting("SMARTAUTH_FACE_WORKERS", "the number of cores", "face analyses run at once (1 to 256)"),
    setting(
        "SMARTAUTH_MEDIA_URL",
        "media in the data dir",
        "s3://bucket/prefix: attempt images (encrypted) in an S3-compatible bucket",
    ),
    setting("SMARTAUTH_S3_ENDPOINT", "AWS_ENDPOINT, else AWS S3", "the S3-compatible endpoint"),
    setting("SMARTAUTH_S3_REGION", "AWS_REGION, else us-east-1", "the bucket's region"),
    setting("SMARTAUTH_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", "the bucket's access key id"),
    setting("SMARTAUTH_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "the bucket's secret key"),
    setting(
        "SMARTAUTH_PUBLIC_URL",
        "http:// (https:// with SMARTAUTH_TLS_CERT) and the request's Host",
        "the server's address as clients reach it, for signedUrl media links",
    ),
    setting(
        "SMARTAUTH_GEOCODER_URL",
        "none: street fields are null",
        "a Nominatim-compatible endpoint for street, number, neighbourhood and postcode",
    ),
    setting(
        "SMARTAUTH_LOCKOUT_AFTER",
        "20",
        "consecutive failed code or face verifications of a person, across attempts, that lock those methods (1-100)",
    ),
    setting(
        "SMARTAUTH_LOCKOUT_FREE_FAILURES",
        "5",
        "consecutive failures before each further try must wait (1 s, doubling)",
    ),
    setting("SMARTAUTH_LOCKOUT_MAX_DELAY_SECONDS", "300", "the longest wait between two tries before the lock"),
    setting("SMARTAUTH_CODE_SENDS_PER_HOUR", "6", "codes sent to one person, and to one phone or email, per hour"),
    setting("SMARTAUTH_CODE_SENDS_PER_DAY", "24", "codes sent to one person, and to one phone or email, per day"),
    setting(
        "SMARTAUTH_THROTTLE_AUTH_FAILURES_PER_MINUTE",
        "20",
        "refused tenant or admin tokens per client address per minute, before the address gets 429 (0: off)",
    ),
    setting(
        "SMARTAUTH_THROTTLE_SDK_PER_MINUTE",
        "120",
        "requests with person-scoped (SDK) tokens per client address per minute (0: off)",
    ),
    setting(
        "SMARTAUTH_THROTTLE_DEVICE_PER_MINUTE",
        "30",
        "attempts created per device fingerprint of a tenant per minute (0: off)",
    ),
];

/// The settings as `smartauth serve --help` shows them.
pub fn help() -> String {
    let mut out = String::from("Settings (environment variables; empty counts as unset):\n");
    for s in SETTINGS {
        out.push_str(&format!("  {}\n      {}\n      [default: {}]\n", s.name, s.meaning, s.default));
    }
    out
}

/// The PEM files of the listeners' certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Email: a relay that greets slowly or does a recipient callout still answers in a few seconds;
/// past 10 s the person has given up waiting for the code.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// SMS gateways answer an HTTP POST in well under a second; 5 s leaves room for a slow one.
pub const DEFAULT_SMS_TIMEOUT: Duration = Duration::from_secs(5);

/// Webhook delivery: the Standard Webhooks retry schedule (Svix's, stretched to about three days), a
/// 10 s request timeout, and a subscription disabled after three days of nothing but failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The wait before each retry; after the last, the delivery is given up.
    pub retry: Vec<Duration>,
    pub timeout: Duration,
    pub disable_after: Duration,
    /// Whether this process runs a dispatcher (`SMARTAUTH_WEBHOOK_DISPATCH`).
    pub dispatch: bool,
    /// Subscriptions delivered to at once by this process (`SMARTAUTH_WEBHOOK_SENDERS`).
    pub senders: usize,
    /// Whether delivering yields the CPU to answering requests (`SMARTAUTH_WEBHOOK_PRIORITY`).
    pub background: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry: [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400].map(Duration::from_secs).to_vec(),
            timeout: Duration::from_secs(10),
            // Four days: longer than the retries (75.6 h), so that a delivery gets its last one.
            disable_after: Duration::from_secs(345_600),
            dispatch: true,
            senders: 32,
            background: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Settings {
    /// `SMARTAUTH_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `SMARTAUTH_ADMIN_LISTEN`: where the operator's endpoints (`/admin/*`, `/metrics`, `/ready`)
    /// answer instead of the API port. Default: on the API port with the rest.
    pub admin_listen: Option<SocketAddr>,
    /// `SMARTAUTH_DATA_DIR`, default `./data`: the SQLite file, the master key, media.
    pub data_dir: PathBuf,
    /// `SMARTAUTH_DATABASE_URL`, default the SQLite file `smartauth.db` in the data dir.
    pub database_url: Option<String>,
    /// `SMARTAUTH_ADMIN_TOKEN`: the operator's token. When unset, one is generated on first start,
    /// printed once, and only its hash is kept in the data dir.
    pub admin_token: Option<String>,
    /// `SMARTAUTH_SMTP_URL` (`smtp://[user:pass@]host:port`): where email codes are sent. Without it,
    /// `email_authentication` is not offered.
    pub smtp_url: Option<String>,
    /// `SMARTAUTH_SMTP_FROM`, default `smartauth <no-reply@localhost>`.
    pub smtp_from: String,
    /// `SMARTAUTH_SMTP_CA_FILE`: PEM CA certificates trusted for the relay's certificate, besides the
    /// public roots. Only with a TLS `SMARTAUTH_SMTP_URL`.
    pub smtp_ca_file: Option<PathBuf>,
    /// `SMARTAUTH_SMTP_TIMEOUT_SECONDS`, default 10: one email send, end to end.
    pub smtp_timeout: Duration,
    /// `SMARTAUTH_SMS_GATEWAY_URL`: receives `{"to", "message"}` as JSON. Without it, `sms_authentication` is not offered.
    pub sms_gateway_url: Option<String>,
    /// `SMARTAUTH_SMS_TIMEOUT_SECONDS`, default 5: one SMS gateway call, end to end.
    pub sms_timeout: Duration,
    /// `SMARTAUTH_WEBHOOK_*`: how webhook deliveries are retried and given up.
    pub webhooks: WebhookSettings,
    /// How long a client may take to send a request (from its first byte to its answer's), and a
    /// connection may stay idle between requests: 60 s (`crate::deadline`). Not an environment setting: it
    /// must outlast every handler; tests shorten it.
    pub client_deadline: Duration,
    /// `SMARTAUTH_AUDIT_RETENTION_DAYS`: audit lines older than this are deleted. Default: kept for ever.
    pub audit_retention_days: Option<u32>,
    /// `SMARTAUTH_TLS_CERT` and `SMARTAUTH_TLS_KEY`: HTTPS on the listeners. Default: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// `SMARTAUTH_TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: Vec<IpNet>,
    /// `SMARTAUTH_MASTER_KEY`: base64 of 32 bytes. Default: `master.key` in the data dir, created on first start.
    pub master_key: Option<String>,
    /// `SMARTAUTH_ALLOW_PRIVATE_TARGETS`: let outgoing requests reach private and loopback addresses. Default false.
    pub allow_private_targets: bool,
    /// `SMARTAUTH_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `RUST_LOG`: log directives added to [`crate::telemetry::DEFAULT_LOG_LEVELS`].
    pub log_levels: Option<String>,
    /// Where the offline data sets are, and the operator's replacements for them.
    /// `SMARTAUTH_INTEL_DIR` (default `intel` in the data dir: what `scripts/fetch-data.sh`
    /// installs), and the operator's replacements for bundled sets: `SMARTAUTH_GEOIP_CITY_MMDB` (a
    /// GeoIP2/GeoLite2 City file), `SMARTAUTH_GEOIP_ASN_MMDB` (GeoIP2/GeoLite2 ASN),
    /// `SMARTAUTH_GEOIP_ANONYMOUS_MMDB` (GeoIP2 Anonymous-IP), `SMARTAUTH_PLACES_CSV`
    /// (`lat,lon,name,admin1,admin2,cc`).
    pub intel: IntelConfig,
    /// `SMARTAUTH_MODELS_DIR`, default `models` in the data dir: the face models `scripts/fetch-data.sh`
    /// installs. Without them, `face_authentication` is not offered.
    pub models_dir: PathBuf,
    /// `SMARTAUTH_FACE_WORKERS`, default the number of CPU cores: face verifications run at once.
    pub face_workers: usize,
    /// `SMARTAUTH_MEDIA_URL` (`s3://bucket/prefix`) with `SMARTAUTH_S3_ENDPOINT`, `SMARTAUTH_S3_REGION`,
    /// `SMARTAUTH_S3_ACCESS_KEY_ID`, `SMARTAUTH_S3_SECRET_ACCESS_KEY` (else the `AWS_*` variables):
    /// attempt images in an S3-compatible bucket. Default: `media` in the data dir.
    pub media_s3: Option<S3Settings>,
    /// `SMARTAUTH_PUBLIC_URL`: the server's address as clients reach it, for media links
    /// (`signedUrl`). Default: `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// `SMARTAUTH_GEOCODER_URL`: a Nominatim-compatible endpoint for street-level reverse geocoding
    /// (`{url}/reverse?format=jsonv2&lat=..&lon=..`). Without it, street fields are `null`.
    pub geocoder_url: Option<String>,
    /// Guessing and flooding: the lockout across attempts, the caps on codes sent, the throttles.
    pub limits: Limits,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let get = |key: &str| {
            debug_assert!(SETTINGS.iter().any(|s| s.name == key), "{key} is missing from SETTINGS");
            lookup(key)
        };
        let listen = get("SMARTAUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("SMARTAUTH_LISTEN={listen:?} is not an address such as 127.0.0.1:8080"))?;
        let admin_listen = get("SMARTAUTH_ADMIN_LISTEN")
            .map(|addr| {
                addr.parse::<SocketAddr>().with_context(|| {
                    format!("SMARTAUTH_ADMIN_LISTEN={addr:?} is not an address such as 127.0.0.1:9090")
                })
            })
            .transpose()?;
        if admin_listen.is_some_and(|admin| admin == listen && admin.port() != 0) {
            bail!("SMARTAUTH_ADMIN_LISTEN is SMARTAUTH_LISTEN ({listen}): give the operator's endpoints a port of their own");
        }
        let trusted_proxies = match get("SMARTAUTH_TRUSTED_PROXIES") {
            None => vec![],
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                        .with_context(|| format!("SMARTAUTH_TRUSTED_PROXIES: {s:?} is not a CIDR such as 10.0.0.0/8"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let log_format = match get("SMARTAUTH_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("SMARTAUTH_LOG_FORMAT={other:?}: use text or json"),
        };
        let allow_private_targets = match get("SMARTAUTH_ALLOW_PRIVATE_TARGETS").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => bail!("SMARTAUTH_ALLOW_PRIVATE_TARGETS={other:?}: use true or false"),
        };
        let data_dir: PathBuf = get("SMARTAUTH_DATA_DIR").unwrap_or_else(|| "./data".into()).into();
        let intel = IntelConfig {
            dir: get("SMARTAUTH_INTEL_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("intel")),
            city_mmdb: get("SMARTAUTH_GEOIP_CITY_MMDB").map(PathBuf::from),
            asn_mmdb: get("SMARTAUTH_GEOIP_ASN_MMDB").map(PathBuf::from),
            anonymous_mmdb: get("SMARTAUTH_GEOIP_ANONYMOUS_MMDB").map(PathBuf::from),
            places_csv: get("SMARTAUTH_PLACES_CSV").map(PathBuf::from),
        };
        let models_dir = get("SMARTAUTH_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("models"));
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let face_workers = match get("SMARTAUTH_FACE_WORKERS") {
            None => cores,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .with_context(|| format!("SMARTAUTH_FACE_WORKERS={n:?}: use a number from 1 to 256"))?,
        };
        let audit_retention_days = get("SMARTAUTH_AUDIT_RETENTION_DAYS")
            .map(|n| {
                n.parse::<u32>().ok().filter(|n| (1..=36_500).contains(n)).with_context(|| {
                    format!("SMARTAUTH_AUDIT_RETENTION_DAYS={n:?}: use a number of days from 1 to 36500")
                })
            })
            .transpose()?;
        let public_url = get("SMARTAUTH_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("SMARTAUTH_PUBLIC_URL={url:?}: use an http:// or https:// URL");
            }
        }
        let media_s3 = get("SMARTAUTH_MEDIA_URL").map(|url| S3Settings {
            url,
            endpoint: get("SMARTAUTH_S3_ENDPOINT"),
            region: get("SMARTAUTH_S3_REGION"),
            access_key_id: get("SMARTAUTH_S3_ACCESS_KEY_ID"),
            secret_access_key: get("SMARTAUTH_S3_SECRET_ACCESS_KEY"),
        });
        if let Some(s3) = &media_s3 {
            if !s3.url.starts_with("s3://") {
                bail!("SMARTAUTH_MEDIA_URL={:?}: use s3://bucket or s3://bucket/prefix", s3.url);
            }
        }
        let tls = match (get("SMARTAUTH_TLS_CERT"), get("SMARTAUTH_TLS_KEY")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into(), key: key.into() }),
            (Some(_), None) => {
                bail!("SMARTAUTH_TLS_CERT is set without SMARTAUTH_TLS_KEY: set both for HTTPS, or neither")
            }
            (None, Some(_)) => {
                bail!("SMARTAUTH_TLS_KEY is set without SMARTAUTH_TLS_CERT: set both for HTTPS, or neither")
            }
        };
        let seconds = |key: &str, default: Duration| -> anyhow::Result<Duration> {
            match get(key) {
                None => Ok(default),
                Some(n) => n
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=60).contains(n))
                    .map(Duration::from_secs)
                    .with_context(|| format!("{key}={n:?}: use a number of seconds from 1 to 60")),
            }
        };
        let smtp_timeout = seconds("SMARTAUTH_SMTP_TIMEOUT_SECONDS", DEFAULT_SMTP_TIMEOUT)?;
        let sms_timeout = seconds("SMARTAUTH_SMS_TIMEOUT_SECONDS", DEFAULT_SMS_TIMEOUT)?;
        let defaults = WebhookSettings::default();
        let retry = match get("SMARTAUTH_WEBHOOK_RETRY_SECONDS") {
            None => defaults.retry,
            Some(list) => list
                .split(',')
                .map(|n| n.trim().parse::<u64>().ok().filter(|n| (1..=604_800).contains(n)).map(Duration::from_secs))
                .collect::<Option<Vec<_>>>()
                .filter(|l| !l.is_empty() && l.len() <= 20)
                .with_context(|| {
                    format!(
                        "SMARTAUTH_WEBHOOK_RETRY_SECONDS={list:?}: use 1 to 20 comma-separated waits of 1 to 604800 s"
                    )
                })?,
        };
        let disable_after =
            match get("SMARTAUTH_WEBHOOK_DISABLE_AFTER_SECONDS") {
                None => defaults.disable_after,
                Some(n) => n.parse::<u64>().ok().filter(|n| *n >= 1).map(Duration::from_secs).with_context(|| {
                    format!("SMARTAUTH_WEBHOOK_DISABLE_AFTER_SECONDS={n:?}: use a number of seconds")
                })?,
            };
        let webhooks = WebhookSettings {
            retry,
            timeout: seconds("SMARTAUTH_WEBHOOK_TIMEOUT_SECONDS", defaults.timeout)?,
            disable_after,
            dispatch: match get("SMARTAUTH_WEBHOOK_DISPATCH").as_deref() {
                None | Some("true") | Some("1") => true,
                Some("false") | Some("0") => false,
                Some(other) => bail!("SMARTAUTH_WEBHOOK_DISPATCH={other:?}: use true or false"),
            },
            senders: match get("SMARTAUTH_WEBHOOK_SENDERS") {
                None => defaults.senders,
                Some(n) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .with_context(|| format!("SMARTAUTH_WEBHOOK_SENDERS={n:?}: use a number from 1 to 256"))?,
            },
            background: match get("SMARTAUTH_WEBHOOK_PRIORITY").as_deref() {
                None | Some("background") => true,
                Some("normal") => false,
                Some(other) => bail!("SMARTAUTH_WEBHOOK_PRIORITY={other:?}: use background or normal"),
            },
        };
        let geocoder_url = get("SMARTAUTH_GEOCODER_URL");
        if let Some(url) = &geocoder_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("SMARTAUTH_GEOCODER_URL={url:?}: use an http:// or https:// URL");
            }
        }
        Ok(Settings {
            listen,
            admin_listen,
            data_dir,
            database_url: get("SMARTAUTH_DATABASE_URL"),
            admin_token: get("SMARTAUTH_ADMIN_TOKEN"),
            smtp_url: get("SMARTAUTH_SMTP_URL"),
            smtp_from: get("SMARTAUTH_SMTP_FROM").unwrap_or_else(|| "smartauth <no-reply@localhost>".into()),
            smtp_ca_file: get("SMARTAUTH_SMTP_CA_FILE").map(PathBuf::from),
            smtp_timeout,
            sms_gateway_url: get("SMARTAUTH_SMS_GATEWAY_URL"),
            sms_timeout,
            webhooks,
            client_deadline: crate::deadline::REQUEST,
            audit_retention_days,
            tls,
            trusted_proxies,
            master_key: get("SMARTAUTH_MASTER_KEY"),
            allow_private_targets,
            log_format,
            log_levels: get("RUST_LOG"),
            intel,
            models_dir,
            face_workers,
            public_url,
            media_s3,
            geocoder_url,
            limits: Limits::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let s = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert!(!s.allow_private_targets);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.admin_listen, None);
    }

    /// `serve --help` and the README list exactly what is read.
    #[test]
    fn every_variable_read_is_listed_once_and_in_the_readme() {
        let asked = std::cell::RefCell::new(Vec::new());
        Settings::from_lookup(|key| {
            asked.borrow_mut().push(key.to_owned());
            // A media URL makes the S3 settings be read too.
            (key == "SMARTAUTH_MEDIA_URL").then(|| "s3://bucket".to_owned())
        })
        .unwrap();
        let mut asked = asked.into_inner();
        asked.sort();
        asked.dedup();
        let mut listed: Vec<String> = SETTINGS.iter().map(|s| s.name.to_owned()).collect();
        listed.sort();
        let before = listed.len();
        listed.dedup();
        assert_eq!(before, listed.len(), "a setting is listed twice");
        assert_eq!(asked, listed);
        let readme = include_str!("../../../README.md");
        for s in SETTINGS {
            assert!(readme.contains(&format!("`{}`", s.name)), "{} is not in the README", s.name);
        }
    }

    #[test]
    fn the_admin_listener_needs_an_address_of_its_own() {
        let with = |value: &'static str| {
            Settings::from_lookup(move |k| match k {
                "SMARTAUTH_LISTEN" => Some("127.0.0.1:8080".into()),
                "SMARTAUTH_ADMIN_LISTEN" => Some(value.into()),
                _ => None,
            })
        };
        assert_eq!(with("127.0.0.1:9090").unwrap().admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert!(with("localhost").err().unwrap().to_string().contains("SMARTAUTH_ADMIN_LISTEN"));
        assert!(with("127.0.0.1:8080").err().unwrap().to_string().contains("a port of their own"));
    }

    #[test]
    fn tls_needs_both_files() {
        let with = |keys: &'static [&'static str]| {
            Settings::from_lookup(move |k| keys.contains(&k).then(|| format!("/etc/smartauth/{k}")))
        };
        assert_eq!(with(&[]).unwrap().tls, None);
        let both = with(&["SMARTAUTH_TLS_CERT", "SMARTAUTH_TLS_KEY"]).unwrap().tls.unwrap();
        assert_eq!(both.cert, PathBuf::from("/etc/smartauth/SMARTAUTH_TLS_CERT"));
        let only_cert = with(&["SMARTAUTH_TLS_CERT"]).err().unwrap().to_string();
        assert!(only_cert.contains("without SMARTAUTH_TLS_KEY"), "{only_cert}");
        let only_key = with(&["SMARTAUTH_TLS_KEY"]).err().unwrap().to_string();
        assert!(only_key.contains("without SMARTAUTH_TLS_CERT"), "{only_key}");
    }

    #[test]
    fn delivery_timeouts_are_bounded() {
        let with = |value: &'static str| {
            Settings::from_lookup(move |k| (k == "SMARTAUTH_SMTP_TIMEOUT_SECONDS").then(|| value.into()))
        };
        assert_eq!(with("3").unwrap().smtp_timeout, Duration::from_secs(3));
        for bad in ["0", "61", "1.5", "-1", "ten"] {
            assert!(with(bad).err().unwrap().to_string().contains("from 1 to 60"), "{bad}");
        }
        let defaults = Settings::from_lookup(|_| None).unwrap();
        assert_eq!((defaults.smtp_timeout, defaults.sms_timeout), (DEFAULT_SMTP_TIMEOUT, DEFAULT_SMS_TIMEOUT));
    }

    #[test]
    fn audit_retention_is_days_or_for_ever() {
        let with = |value: &'static str| {
            Settings::from_lookup(move |k| (k == "SMARTAUTH_AUDIT_RETENTION_DAYS").then(|| value.into()))
        };
        assert_eq!(with("365").unwrap().audit_retention_days, Some(365));
        for bad in ["0", "36501", "1.5", "-1", "a year"] {
            assert!(with(bad).err().unwrap().to_string().contains("from 1 to 36500"), "{bad}");
        }
        assert_eq!(Settings::from_lookup(|_| None).unwrap().audit_retention_days, None);
    }

    #[test]
    fn webhook_priority_is_background_or_normal() {
        let with = |value: &'static str| {
            Settings::from_lookup(move |k| (k == "SMARTAUTH_WEBHOOK_PRIORITY").then(|| value.into()))
        };
        assert!(Settings::from_lookup(|_| None).unwrap().webhooks.background);
        assert!(with("background").unwrap().webhooks.background);
        assert!(!with("normal").unwrap().webhooks.background);
        assert!(with("low").err().unwrap().to_string().contains("use background or normal"));
    }

    #[test]
    fn webhook_senders_are_bounded() {
        let with = |value: &'static str| {
            Settings::from_lookup(move |k| (k == "SMARTAUTH_WEBHOOK_SENDERS").then(|| value.into()))
        };
        assert_eq!(with("1").unwrap().webhooks.senders, 1);
        assert_eq!(with("256").unwrap().webhooks.senders, 256);
        for bad in ["0", "257", "1.5", "-1", "many"] {
            assert!(with(bad).err().unwrap().to_string().contains("from 1 to 256"), "{bad}");
        }
        assert_eq!(Settings::from_lookup(|_| None).unwrap().webhooks.senders, 32);
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Settings::from_lookup(|k| (k == "SMARTAUTH_TRUSTED_PROXIES").then(|| "10.0.0.0/8, nonsense".into()));
        assert!(err.err().unwrap().to_string().contains("nonsense"));
        let ok = Settings::from_lookup(|k| (k == "SMARTAUTH_TRUSTED_PROXIES").then(|| "10.0.0.0/8, 127.0.0.1".into()));
        assert_eq!(ok.unwrap().trusted_proxies.len(), 2);
    }
}
