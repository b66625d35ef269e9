//! Every setting the server reads, with its default. This is the only place that reads the
//! environment; the rest of the code receives a [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ipnet::IpNet;

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
        Ok(Settings {
            listen,
            data_dir: get("SMARTAUTH_DATA_DIR").unwrap_or_else(|| "./data".into()).into(),
            database_url: get("SMARTAUTH_DATABASE_URL"),
            admin_token: get("SMARTAUTH_ADMIN_TOKEN"),
            smtp_url: get("SMARTAUTH_SMTP_URL"),
            smtp_from: get("SMARTAUTH_SMTP_FROM").unwrap_or_else(|| "smartauth <no-reply@localhost>".into()),
            sms_gateway_url: get("SMARTAUTH_SMS_GATEWAY_URL"),
            trusted_proxies,
            master_key: get("SMARTAUTH_MASTER_KEY"),
            allow_private_targets,
            log_format,
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
