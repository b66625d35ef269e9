//! Every setting the server reads, with its default. This is the only place that reads the
//! environment; the rest of the code receives a [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ipnet::IpNet;
use smartauth_context::IntelConfig;

use crate::media::S3Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Settings {
    /// `SMARTAUTH_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
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
    /// `SMARTAUTH_SMS_GATEWAY_URL`: receives `{"to", "message"}` as JSON. Without it, `sms_authentication` is not offered.
    pub sms_gateway_url: Option<String>,
    /// `SMARTAUTH_TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: Vec<IpNet>,
    /// `SMARTAUTH_MASTER_KEY`: base64 of 32 bytes. Default: `master.key` in the data dir, created on first start.
    pub master_key: Option<String>,
    /// `SMARTAUTH_ALLOW_PRIVATE_TARGETS`: let outgoing requests reach private and loopback addresses. Default false.
    pub allow_private_targets: bool,
    /// `SMARTAUTH_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
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
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let listen = get("SMARTAUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen
            .parse()
            .with_context(|| format!("SMARTAUTH_LISTEN={listen:?} is not an address such as 127.0.0.1:8080"))?;
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
        let geocoder_url = get("SMARTAUTH_GEOCODER_URL");
        if let Some(url) = &geocoder_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("SMARTAUTH_GEOCODER_URL={url:?}: use an http:// or https:// URL");
            }
        }
        Ok(Settings {
            listen,
            data_dir,
            database_url: get("SMARTAUTH_DATABASE_URL"),
            admin_token: get("SMARTAUTH_ADMIN_TOKEN"),
            smtp_url: get("SMARTAUTH_SMTP_URL"),
            smtp_from: get("SMARTAUTH_SMTP_FROM").unwrap_or_else(|| "smartauth <no-reply@localhost>".into()),
            sms_gateway_url: get("SMARTAUTH_SMS_GATEWAY_URL"),
            trusted_proxies,
            master_key: get("SMARTAUTH_MASTER_KEY"),
            allow_private_targets,
            log_format,
            intel,
            models_dir,
            face_workers,
            public_url,
            media_s3,
            geocoder_url,
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
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Settings::from_lookup(|k| (k == "SMARTAUTH_TRUSTED_PROXIES").then(|| "10.0.0.0/8, nonsense".into()));
        assert!(err.err().unwrap().to_string().contains("nonsense"));
        let ok = Settings::from_lookup(|k| (k == "SMARTAUTH_TRUSTED_PROXIES").then(|| "10.0.0.0/8, 127.0.0.1".into()));
        assert_eq!(ok.unwrap().trusted_proxies.len(), 2);
    }
}
