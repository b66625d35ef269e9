//! Tenants ("clients" in the Smart Auth documents): creation, secret rotation and a short-lived cache
//! so that verifying a token does not cost a database read and a decryption on every request.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use smartauth_store::{ClientRecord, ClientSettings, Store};

use crate::cache::TtlCache;
use crate::crypto::{self, MasterKey};
use crate::delivery::messages::{Language, Templates};

pub struct ActiveClient {
    pub id: String,
    /// Signs attestations and verifies tokens.
    pub secret: String,
    /// The secret the last rotation replaced, and when it stops verifying tokens (ms since the epoch).
    pub previous: Option<(String, i64)>,
    pub validate_cpf: bool,
    pub sdk_token_lifetime: SdkTokenLifetime,
    /// Person-scoped tokens must carry a `policyId` claim.
    pub require_sdk_token_policy: bool,
    /// The name in the messages a person receives.
    pub display_name: String,
    pub language: Language,
    /// Browser origins the web SDK may call from (`https://app.example.com`, normalised).
    pub allowed_origins: Vec<String>,
    pub templates: Option<Templates>,
}

impl ActiveClient {
    /// The replaced secret, while its grace period lasts at `now` (ms since the epoch).
    pub fn previous_secret(&self, now: i64) -> Option<&str> {
        self.previous.as_ref().filter(|(_, until)| now < *until).map(|(secret, _)| secret.as_str())
    }
}

/// How far ahead of the server's clock the `exp` of a client's SDK (person-scoped) token may be.
///
/// An SDK token sits in a browser or an app, where it can leak (a script injected into the page, a
/// log, a shared device); without a bound, a leaked token acts for its person forever. The default,
/// 15 minutes, covers the longest step-up a policy allows (a code lives at most 600 s, see
/// `codes.ttlSeconds`) with time to read and type it; the tenant's backend mints a fresh token for
/// each session. Backend tokens are not bounded: they never leave the tenant's servers, and the
/// seed makes their `exp` optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTokenLifetime(u32);

impl SdkTokenLifetime {
    pub const DEFAULT: SdkTokenLifetime = SdkTokenLifetime(900);
    /// A minute is the least that survives a slow network and clocks that disagree a little; a day
    /// the most that can still be called a session.
    pub const MIN_SECS: u64 = 60;
    pub const MAX_SECS: u64 = 86_400;

    pub fn parse(seconds: u64) -> Result<SdkTokenLifetime, String> {
        match u32::try_from(seconds) {
            Ok(s) if (Self::MIN_SECS..=Self::MAX_SECS).contains(&seconds) => Ok(SdkTokenLifetime(s)),
            _ => Err(format!(
                "sdkTokenMaxLifetimeSeconds must be between {} and {} (one day)",
                Self::MIN_SECS,
                Self::MAX_SECS
            )),
        }
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

/// Clients by id; `None` remembers a disabled one. Unknown ids are not cached, so that tokens with
/// made-up issuers cannot fill or flush the cache.
#[derive(Default)]
pub struct ClientCache {
    entries: TtlCache<Option<Arc<ActiveClient>>>,
}

impl ClientCache {
    /// The enabled client with this id, or `None` when it does not exist or is disabled.
    pub async fn active(
        &self,
        store: &dyn Store,
        key: &MasterKey,
        client_id: &str,
    ) -> anyhow::Result<Option<Arc<ActiveClient>>> {
        if let Some(client) = self.entries.get(client_id) {
            return Ok(client);
        }
        let loaded = match store.client(client_id).await? {
            None => return Ok(None),
            Some(record) if record.disabled => None,
            Some(record) => Some(Arc::new(ActiveClient {
                secret: key.decrypt_text(&record.secret_enc).context("decrypting a client secret")?,
                previous: match &record.previous_secret {
                    Some(p) if p.expires_at > chrono::Utc::now().timestamp_millis() => Some((
                        key.decrypt_text(&p.secret_enc).context("decrypting a client's previous secret")?,
                        p.expires_at,
                    )),
                    _ => None,
                },
                require_sdk_token_policy: record.require_sdk_token_policy,
                display_name: record.settings.display_name.clone().unwrap_or_else(|| record.name.clone()),
                language: Language::parse(&record.settings.language).unwrap_or(Language::En),
                templates: record
                    .settings
                    .message_templates
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .context("reading a client's message templates")?,
                allowed_origins: record.settings.allowed_origins,
                id: record.id,
                validate_cpf: record.validate_cpf,
                // A value out of range in the database (written by hand) gives way to the default.
                sdk_token_lifetime: SdkTokenLifetime::parse(u64::from(record.sdk_token_max_lifetime_secs))
                    .unwrap_or(SdkTokenLifetime::DEFAULT),
            })),
        };
        self.entries.insert(client_id.to_owned(), loaded.clone());
        Ok(loaded)
    }

    pub fn forget(&self, client_id: &str) {
        self.entries.forget(client_id);
    }
}

/// A newly created client with its secret, which is shown only this once.
pub struct NewClient {
    pub record: ClientRecord,
    pub secret: String,
}

/// A client's name as the operator sees it: 1-200 characters, nothing invisible.
pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("name must be 1-200 characters".into());
    }
    if let Some(c) = smartauth_domain::text::hidden_in_name(name) {
        return Err(format!("name must not contain {}", smartauth_domain::text::describe(c)));
    }
    Ok(name.to_owned())
}

/// A display name for messages: 1-64 characters, nothing invisible (it is sent to people's phones).
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err("displayName must be 1-64 characters".into());
    }
    if let Some(c) = smartauth_domain::text::hidden_in_name(name) {
        return Err(format!("displayName must not contain {}", smartauth_domain::text::describe(c)));
    }
    Ok(name.to_owned())
}

/// At most this many allowed origins per client.
pub const MAX_ORIGINS: usize = 20;

/// A browser origin, as browsers send it in `Origin`: `https://host[:port]`, lowercase, without a path.
/// Plain `http` only for loopback hosts (development: browsers treat them as secure contexts).
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let bad = || format!("allowedOrigins: {raw:?} is not an origin like https://app.example.com");
    let url = url::Url::parse(raw.trim()).map_err(|_| bad())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !bare || !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
        return Err(bad());
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("allowedOrigins: {raw:?} must use https (http is accepted for loopback only)")),
        _ => return Err(bad()),
    }
    Ok(url.origin().ascii_serialization())
}

pub async fn create(store: &dyn Store, key: &MasterKey, name: &str, validate_cpf: bool) -> anyhow::Result<NewClient> {
    create_with(store, key, name, validate_cpf, SdkTokenLifetime::DEFAULT, &crate::ops::audit::Actor::cli()).await
}

/// `create`, with the client's SDK token lifetime chosen by the operator.
pub async fn create_with(
    store: &dyn Store,
    key: &MasterKey,
    name: &str,
    validate_cpf: bool,
    sdk_token_lifetime: SdkTokenLifetime,
    actor: &crate::ops::audit::Actor,
) -> anyhow::Result<NewClient> {
    let name = parse_name(name).map_err(anyhow::Error::msg)?;
    let secret = crypto::new_secret();
    let record = ClientRecord {
        id: crypto::new_id().to_string(),
        name,
        secret_enc: key.encrypt_text(&secret),
        disabled: false,
        validate_cpf,
        sdk_token_max_lifetime_secs: sdk_token_lifetime.secs(),
        previous_secret: None,
        require_sdk_token_policy: false,
        settings: ClientSettings::default(),
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    let detail = serde_json::json!({"name": record.name, "validateCpf": validate_cpf});
    let audit = actor.line(Some(&record.id), "client.created", Some(&record.id), Some(detail));
    store.insert_client_with(&record, smartauth_store::Effects { events: &[], audit: Some(&audit) }).await?;
    Ok(NewClient { record, secret })
}

/// How a client is shown to the operator (never with its secret).
pub fn describe(c: &ClientRecord) -> serde_json::Value {
    let created = chrono::DateTime::from_timestamp_millis(c.created_at).unwrap_or_default();
    json!({
        "clientId": c.id,
        "name": c.name,
        "disabled": c.disabled,
        "validateCpf": c.validate_cpf,
        "sdkTokenMaxLifetimeSeconds": c.sdk_token_max_lifetime_secs,
        "requireSdkTokenPolicy": c.require_sdk_token_policy,
        "displayName": c.settings.display_name,
        "language": c.settings.language,
        "allowedOrigins": c.settings.allowed_origins,
        "messageTemplates": c.settings.message_templates.as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
        // While the secret a rotation replaced still verifies tokens (null when none does).
        "previousSecretExpiresAt": c.previous_secret.as_ref()
            .filter(|p| p.expires_at > chrono::Utc::now().timestamp_millis())
            .and_then(|p| chrono::DateTime::from_timestamp_millis(p.expires_at))
            .map(smartauth_domain::time::format),
        "createdAt": smartauth_domain::time::format(created),
    })
}
