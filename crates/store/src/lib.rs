//! Storage: one interface ([`Store`]) that the server talks to, and its engines. SQLite is the
//! embedded default; a PostgreSQL engine implements the same trait and must pass the same tests.
//!
//! The store keeps what the server hands it. Secrets and biometric data arrive already encrypted.

pub mod bulk;
mod records;
pub mod sqlite;

pub use records::*;
pub use sqlite::plans::QueryPlan;

use async_trait::async_trait;
use smartauth_domain::lockout::{Guard, LockoutRules, TryVerdict};
use smartauth_domain::History;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record already exists")]
    Conflict,
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Rewrites an attempt's document when its person is erased.
pub type Anonymizer = dyn Fn(&mut serde_json::Value) + Send + Sync;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;

    async fn insert_client(&self, client: &ClientRecord) -> Result<()>;
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    async fn clients(&self) -> Result<Vec<ClientRecord>>;
    /// Returns false when there is no such client.
    /// Replaces the client's message and browser settings; false when there is no such client.
    async fn set_client_settings(&self, client_id: &str, settings: &ClientSettings) -> Result<bool>;
    /// Stores a device challenge, after forgetting the person's expired ones; false (and nothing stored)
    /// when the person already has `max_outstanding` challenges waiting.
    async fn insert_device_challenge(
        &self,
        challenge: &DeviceChallenge,
        now: Millis,
        max_outstanding: u32,
    ) -> Result<bool>;
    /// Takes (deletes and returns) a challenge: a second take of the same challenge gets `None`.
    async fn take_device_challenge(&self, challenge_hash: &str) -> Result<Option<DeviceChallenge>>;
    async fn set_client_disabled(&self, client_id: &str, disabled: bool) -> Result<bool>;
    /// Replaces the client's secret. With `previous_valid_until`, the replaced secret is kept (as
    /// stored) to verify tokens until then; without, it is forgotten at once, and so is any secret an
    /// earlier rotation kept. Returns false when there is no such client.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_enc: &str,
        previous_valid_until: Option<Millis>,
    ) -> Result<bool>;
    /// Returns false when there is no such client.
    async fn set_client_require_sdk_token_policy(&self, client_id: &str, required: bool) -> Result<bool>;
    /// Returns false when there is no such client.
    async fn set_client_sdk_token_lifetime(&self, client_id: &str, seconds: u32) -> Result<bool>;

    /// `Conflict` when the person already exists for the client.
    async fn insert_identity(&self, identity: &IdentityRecord) -> Result<()>;
    async fn identity(&self, client_id: &str, person_id: &str) -> Result<Option<IdentityRecord>>;
    async fn update_identity(&self, identity: &IdentityRecord) -> Result<bool>;
    /// Deletes the identity and everything learnt about it; its attempts stay, detached from the
    /// person and rewritten by `anonymize`. Returns false when there was no such identity.
    /// The ids of every attempt of the person (their images are erased with them).
    async fn attempt_ids_of(&self, client_id: &str, person_id: &str) -> Result<Vec<String>>;
    async fn erase_identity(&self, client_id: &str, person_id: &str, anonymize: &Anonymizer) -> Result<bool>;

    /// Creates or replaces; the stored record keeps the first `created_at` and `id`.
    async fn put_policy(&self, policy: &PolicyRecord) -> Result<PolicyRecord>;
    async fn policy(&self, client_id: &str, policy_id: &str) -> Result<Option<PolicyRecord>>;
    async fn policies(&self, client_id: &str) -> Result<Vec<PolicyRecord>>;
    async fn delete_policy(&self, client_id: &str, policy_id: &str) -> Result<bool>;

    /// Everything the decision engine needs to know about the person's past.
    async fn history(&self, query: &HistoryQuery<'_>) -> Result<History>;
    /// The identity and its history together, as an attempt needs them; `None` when there is no identity.
    /// The identity comes without its face image, and with an empty `face_template_enc` when a face
    /// is enrolled: the decision only needs to know that.
    async fn decision_inputs(&self, query: &HistoryQuery<'_>) -> Result<Option<(IdentityRecord, History)>>;
    /// Stores a new attempt and, when it was approved, what it teaches about the person, atomically.
    /// With a `limit`, the attempt is stored only if the person's attempts in the window are still under
    /// it at that moment (returns false otherwise: decide again), so that parallel requests cannot all
    /// slip under the policy's limit.
    async fn insert_attempt(
        &self,
        attempt: &AttemptRecord,
        learn: Option<&Learned>,
        limit: Option<&WindowLimit>,
    ) -> Result<bool>;
    async fn attempt(&self, client_id: &str, attempt_id: &str) -> Result<Option<AttemptRecord>>;
    /// Optimistic update: succeeds only if the stored version is `attempt.version - 1`.
    /// Returns false when another writer got there first (reload and retry).
    async fn update_attempt(&self, attempt: &AttemptRecord, learn: Option<&Learned>) -> Result<bool>;
    /// Newest first.
    async fn attempts(&self, client_id: &str, filter: &AttemptFilter) -> Result<Vec<AttemptRecord>>;

    /// The person's consecutive failed verifications across attempts (`None`: no failure since the
    /// last success or unlock).
    async fn guard(&self, client_id: &str, person_id: &str) -> Result<Option<Guard>>;
    /// Counts a verification try as a failure before its outcome is known, if `rules` allow a try
    /// now; atomically, so that parallel tries cannot pass the lock. Returns the verdict that held
    /// before the try (a try is counted only when it is `Allowed`).
    async fn claim_try(
        &self,
        client_id: &str,
        person_id: &str,
        now: Millis,
        rules: &LockoutRules,
    ) -> Result<TryVerdict>;
    /// Forgets the person's failures (a success, or an unlock). Returns false when there were none.
    async fn clear_failures(&self, client_id: &str, person_id: &str) -> Result<bool>;
    /// Counts a code send against the caps per person and per destination, atomically, unless a cap
    /// is reached. A send whose id was already counted is allowed again without counting.
    async fn count_send(&self, send: &CodeSend, caps: &SendCaps) -> Result<SendVerdict>;
}
