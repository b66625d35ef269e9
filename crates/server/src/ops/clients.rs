//! Client (tenant) settings that change how its tokens are checked: secret rotation with overlap, and
//! whether its SDK tokens must be bound to a policy. Each takes effect at once in this process (the
//! client cache forgets the client) and within the cache's few seconds in any other.

use smartauth_store::{Millis, Store};

use crate::clients::ClientCache;
use crate::crypto::{self, MasterKey};

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
) -> anyhow::Result<Option<Rotated>> {
    let secret = crypto::new_secret();
    let previous_valid_until =
        (grace.secs() > 0).then(|| chrono::Utc::now().timestamp_millis() + i64::from(grace.secs()) * 1000);
    let found = store.rotate_client_secret(client_id, &key.encrypt_text(&secret), previous_valid_until).await?;
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
