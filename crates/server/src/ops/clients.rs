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

/// Whether the client's person-scoped (SDK) tokens must carry a `policyId` claim; `false` when there
/// is no such client.
pub async fn set_require_sdk_token_policy(
    store: &dyn Store,
    cache: &ClientCache,
    client_id: &str,
    required: bool,
) -> anyhow::Result<bool> {
    let found = store.set_client_require_sdk_token_policy(client_id, required).await?;
    cache.forget(client_id);
    Ok(found)
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

/// Applies a validated change; `None` when there is no such client.
pub async fn update_settings(
    store: &dyn Store,
    cache: &ClientCache,
    client_id: &str,
    change: SettingsChange,
    actor: &Actor,
) -> anyhow::Result<Option<ClientRecord>> {
    let Some(mut record) = store.client(client_id).await? else { return Ok(None) };
    let s = &mut record.settings;
    if let Some(name) = change.display_name {
        s.display_name = name;
    }
    if let Some(language) = change.language {
        s.language = language;
    }
    if let Some(origins) = change.allowed_origins {
        s.allowed_origins = origins;
    }
    if let Some(templates) = change.message_templates {
        s.message_templates = templates.map(|t| serde_json::to_string(&t)).transpose()?;
    }
    // The templates' text is the tenant's; the trail says that they changed.
    let s = &record.settings;
    let detail = json!({"displayName": s.display_name, "language": s.language, "allowedOrigins": s.allowed_origins,
                        "messageTemplates": s.message_templates.is_some()});
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
