//! Client (tenant) settings: secret rotation with overlap, whether its SDK tokens must be bound to a
//! policy, and the settings of its messages and browser origins. Each takes effect at once in this process (the
//! client cache forgets the client) and within the cache's few seconds in any other.

use serde_json::json;
use smartauth_store::{ClientRecord, Effects, Millis, Store};

use crate::ops::audit::Actor;

use crate::clients::{self, ClientCache};
use crate::crypto::{self, MasterKey};
use crate::delivery::messages::{Language, Templates};

/// How long the secret a rotation replaces keeps verifying tokens.
///
/// The default is 0, no overlap: a rotation is often the answer to a leaked secret, and a script
/// written for that must not leave it valid. A planned rotation asks for a grace period (an hour
/// covers the tokens already out, SDK tokens living 15 minutes by default, and a rolling deploy of
/// the tenant's backend). At most a week, so that a forgotten old secret does not stay valid for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod(u32);

impl GracePeriod {
    pub const DEFAULT: GracePeriod = GracePeriod(0);
    pub const MAX_SECS: u64 = 7 * 86_400;

    pub fn parse(seconds: u64) -> Result<GracePeriod, String> {
        match u32::try_from(seconds) {
            Ok(s) if seconds <= Self::MAX_SECS => Ok(GracePeriod(s)),
            _ => Err(format!(
                "graceSeconds must be between 0 (the old secret stops working at once) and {} (a week)",
                Self::MAX_SECS
            )),
        }
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

pub struct Rotated {
    /// The new secret, shown only this once.
    pub secret: String,
    /// Until when tokens signed with the replaced secret are still accepted; `None`: they are not.
    pub previous_valid_until: Option<Millis>,
}

/// Replaces the client's secret; the replaced one keeps verifying tokens for `grace` (and any secret
/// an earlier rotation kept stops at once). Attestations are signed with the new secret from now on.
/// `None` when there is no such client.
pub async fn rotate_secret(
    store: &dyn Store,
    cache: &ClientCache,
    key: &MasterKey,
    client_id: &str,
    grace: GracePeriod,
    actor: &Actor,
) -> anyhow::Result<Option<Rotated>> {
    let secret = crypto::new_secret();
    let previous_valid_until =
        (grace.secs() > 0).then(|| chrono::Utc::now().timestamp_millis() + i64::from(grace.secs()) * 1000);
    let audit = actor.line(
        Some(client_id),
        "client.secret_rotated",
        Some(client_id),
        Some(json!({"graceSeconds": grace.secs()})),
    );
    let effects = Effects { events: &[], audit: Some(&audit) };
    let found =
        store.rotate_client_secret_with(client_id, &key.encrypt_text(&secret), previous_valid_until, effects).await?;
    cache.forget(client_id);
    Ok(found.then_some(Rotated { secret, previous_valid_until }))
}

/// A change to a client's message and browser settings; `None` leaves a setting as it is, and
/// `Some(None)` resets a nullable one to its default.
#[derive(Debug, Default)]
pub struct SettingsChange {
    pub display_name: Option<Option<String>>,
    pub language: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub message_templates: Option<Option<Templates>>,
}

impl SettingsChange {
    /// Checks every value, so that nothing changes when one is wrong.
    pub fn validated(self) -> Result<SettingsChange, String> {
        let display_name = match self.display_name {
            Some(Some(name)) => Some(Some(clients::parse_display_name(&name)?)),
            other => other,
        };
        if let Some(language) = &self.language {
            Language::parse(language).ok_or_else(|| format!("language must be one of {}", Language::ALL.join(", ")))?;
        }
        let allowed_origins = match self.allowed_origins {
            Some(origins) if origins.len() > clients::MAX_ORIGINS => {
                return Err(format!("allowedOrigins: at most {} origins", clients::MAX_ORIGINS))
            }
            Some(origins) => {
                let mut parsed = Vec::with_capacity(origins.len());
                for origin in &origins {
                    let origin = clients::parse_origin(origin)?;
                    if !parsed.contains(&origin) {
                        parsed.push(origin);
                    }
                }
                Some(parsed)
            }
            None => None,
        };
        if let Some(Some(templates)) = &self.message_templates {
            templates.validate()?;
        }
        Ok(SettingsChange {
            display_name,
            language: self.language,
            allowed_origins,
            message_templates: self.message_templates,
        })
    }
}

/// A change to a client (`PATCH /admin/clients/{id}`, `smartauth clients update`): its settings, and how its
/// SDK tokens are checked. `None` leaves a value as it is.
#[derive(Debug, Default)]
pub struct ClientChange {
    pub settings: SettingsChange,
    pub sdk_token_lifetime: Option<clients::SdkTokenLifetime>,
    pub require_sdk_token_policy: Option<bool>,
}

/// What the audit trail shows of a client's changeable values. The templates' text is the tenant's: the
/// trail says whether there are any.
fn audited(c: &ClientRecord) -> serde_json::Map<String, serde_json::Value> {
    let s = &c.settings;
    let json = json!({"displayName": s.display_name, "language": s.language, "allowedOrigins": s.allowed_origins,
                      "messageTemplates": s.message_templates.is_some(),
                      "sdkTokenMaxLifetimeSeconds": c.sdk_token_max_lifetime_secs,
                      "requireSdkTokenPolicy": c.require_sdk_token_policy});
    match json {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

/// Applies a validated change (`None` when there is no such client), with one audit line
/// (`client.settings_changed`) that names the values that changed, before and after; none when nothing did.
pub async fn update(
    store: &dyn Store,
    cache: &ClientCache,
    client_id: &str,
    change: ClientChange,
    actor: &Actor,
) -> anyhow::Result<Option<ClientRecord>> {
    let Some(before) = store.client(client_id).await? else { return Ok(None) };
    let mut record = before.clone();
    let (s, c) = (&mut record.settings, change.settings);
    if let Some(name) = c.display_name {
        s.display_name = name;
    }
    if let Some(language) = c.language {
        s.language = language;
    }
    if let Some(origins) = c.allowed_origins {
        s.allowed_origins = origins;
    }
    if let Some(templates) = c.message_templates {
        s.message_templates = templates.map(|t| serde_json::to_string(&t)).transpose()?;
    }
    if let Some(lifetime) = change.sdk_token_lifetime {
        record.sdk_token_max_lifetime_secs = lifetime.secs();
    }
    if let Some(required) = change.require_sdk_token_policy {
        record.require_sdk_token_policy = required;
    }
    let (mut was, mut now) = (audited(&before), audited(&record));
    was.retain(|k, v| now.get(k) != Some(v));
    now.retain(|k, _| was.contains_key(k));
    if was.is_empty() && before.settings.message_templates == record.settings.message_templates {
        return Ok(Some(record));
    }
    if before.settings.message_templates != record.settings.message_templates {
        was.insert("messageTemplates".into(), before.settings.message_templates.is_some().into());
        now.insert("messageTemplates".into(), record.settings.message_templates.is_some().into());
    }
    // The token checks first: the audit line goes with the last write, so that it is written only when every
    // change was.
    if let Some(lifetime) = change.sdk_token_lifetime.filter(|l| l.secs() != before.sdk_token_max_lifetime_secs) {
        store.set_client_sdk_token_lifetime(client_id, lifetime.secs()).await?;
    }
    if let Some(required) = change.require_sdk_token_policy.filter(|r| *r != before.require_sdk_token_policy) {
        store.set_client_require_sdk_token_policy(client_id, required).await?;
    }
    let detail = json!({"before": was, "after": now});
    let audit = actor.line(Some(client_id), "client.settings_changed", Some(client_id), Some(detail));
    let found = store
        .set_client_settings_with(client_id, &record.settings, Effects { events: &[], audit: Some(&audit) })
        .await?;
    cache.forget(client_id);
    Ok(found.then_some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_period_is_at_most_a_week_and_may_be_zero() {
        assert_eq!(GracePeriod::parse(0).unwrap().secs(), 0);
        assert_eq!(GracePeriod::parse(604_800).unwrap().secs(), 604_800);
        assert!(GracePeriod::parse(604_801).is_err());
        assert!(GracePeriod::parse(u64::MAX).is_err());
    }
}
