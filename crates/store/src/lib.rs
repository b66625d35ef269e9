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
use smartauth_domain::lockout::{Factor, Guards, LockoutRules, TryVerdict};
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

    async fn insert_client(&self, client: &ClientRecord) -> Result<()> {
        self.insert_client_with(client, Effects::NONE).await
    }
    async fn insert_client_with(&self, client: &ClientRecord, effects: Effects<'_>) -> Result<()>;
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    async fn clients(&self) -> Result<Vec<ClientRecord>>;
    /// Returns false when there is no such client.
    /// Replaces the client's message and browser settings; false when there is no such client.
    async fn set_client_settings(&self, client_id: &str, settings: &ClientSettings) -> Result<bool> {
        self.set_client_settings_with(client_id, settings, Effects::NONE).await
    }
    async fn set_client_settings_with(
        &self,
        client_id: &str,
        settings: &ClientSettings,
        effects: Effects<'_>,
    ) -> Result<bool>;
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
    async fn set_client_disabled(&self, client_id: &str, disabled: bool) -> Result<bool> {
        self.set_client_disabled_with(client_id, disabled, Effects::NONE).await
    }
    async fn set_client_disabled_with(&self, client_id: &str, disabled: bool, effects: Effects<'_>) -> Result<bool>;
    /// Replaces the client's secret. With `previous_valid_until`, the replaced secret is kept (as
    /// stored) to verify tokens until then; without, it is forgotten at once, and so is any secret an
    /// earlier rotation kept. Returns false when there is no such client.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_enc: &str,
        previous_valid_until: Option<Millis>,
    ) -> Result<bool> {
        self.rotate_client_secret_with(client_id, secret_enc, previous_valid_until, Effects::NONE).await
    }
    async fn rotate_client_secret_with(
        &self,
        client_id: &str,
        secret_enc: &str,
        previous_valid_until: Option<Millis>,
        effects: Effects<'_>,
    ) -> Result<bool>;
    /// Returns false when there is no such client.
    async fn set_client_require_sdk_token_policy(&self, client_id: &str, required: bool) -> Result<bool>;
    /// Returns false when there is no such client.
    async fn set_client_sdk_token_lifetime(&self, client_id: &str, seconds: u32) -> Result<bool>;

    /// `Conflict` when the person already exists for the client.
    async fn insert_identity(&self, identity: &IdentityRecord) -> Result<()> {
        self.insert_identity_with(identity, Effects::NONE).await
    }
    /// `insert_identity`, with its events and audit line in the same transaction.
    async fn insert_identity_with(&self, identity: &IdentityRecord, effects: Effects<'_>) -> Result<()>;
    async fn identity(&self, client_id: &str, person_id: &str) -> Result<Option<IdentityRecord>>;
    /// Changes the fields `change` names (the others as they are now, whoever wrote them last); the
    /// identity as changed, or none when there is no such person.
    async fn change_identity_with(
        &self,
        client_id: &str,
        person_id: &str,
        change: &IdentityChange,
        effects: Effects<'_>,
    ) -> Result<Option<IdentityRecord>>;
    /// Deletes the identity and everything learnt about it; its attempts stay, detached from the
    /// person and rewritten by `anonymize`. Returns false when there was no such identity.
    /// The ids of every attempt of the person (their images are erased with them).
    async fn attempt_ids_of(&self, client_id: &str, person_id: &str) -> Result<Vec<String>>;
    async fn erase_identity(&self, client_id: &str, person_id: &str, anonymize: &Anonymizer) -> Result<bool> {
        Ok(self.erase_identity_with(client_id, person_id, anonymize, Effects::NONE).await?.is_some())
    }
    /// As `erase_identity`, with the operation's effects; answers the attempts it detached (every attempt of
    /// the person, also those made while it ran), `None` when there was no such identity.
    async fn erase_identity_with(
        &self,
        client_id: &str,
        person_id: &str,
        anonymize: &Anonymizer,
        effects: Effects<'_>,
    ) -> Result<Option<Erased>>;

    /// Creates or replaces; the stored record keeps the first `created_at` and `id`.
    async fn put_policy(&self, policy: &PolicyRecord) -> Result<PolicyRecord> {
        self.put_policy_with(policy, Effects::NONE).await
    }
    async fn put_policy_with(&self, policy: &PolicyRecord, effects: Effects<'_>) -> Result<PolicyRecord>;
    async fn policy(&self, client_id: &str, policy_id: &str) -> Result<Option<PolicyRecord>>;
    async fn policies(&self, client_id: &str) -> Result<Vec<PolicyRecord>>;
    async fn delete_policy(&self, client_id: &str, policy_id: &str) -> Result<bool> {
        self.delete_policy_with(client_id, policy_id, Effects::NONE).await
    }
    /// Writes its effects only when there was such a policy.
    async fn delete_policy_with(&self, client_id: &str, policy_id: &str, effects: Effects<'_>) -> Result<bool>;

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
    ) -> Result<bool> {
        self.insert_attempt_with(attempt, learn, limit, &[]).await
    }
    /// `insert_attempt` with the events it causes, written only if the attempt is.
    async fn insert_attempt_with(
        &self,
        attempt: &AttemptRecord,
        learn: Option<&Learned>,
        limit: Option<&WindowLimit>,
        events: &[NewEvent],
    ) -> Result<bool>;
    async fn attempt(&self, client_id: &str, attempt_id: &str) -> Result<Option<AttemptRecord>>;
    /// Optimistic update: succeeds only if the stored version is `attempt.version - 1`.
    /// Returns false when another writer got there first (reload and retry).
    async fn update_attempt(&self, attempt: &AttemptRecord, learn: Option<&Learned>) -> Result<bool> {
        self.update_attempt_with(attempt, learn, &[]).await
    }
    /// `update_attempt` with the events it causes, written only if the update is.
    async fn update_attempt_with(
        &self,
        attempt: &AttemptRecord,
        learn: Option<&Learned>,
        events: &[NewEvent],
    ) -> Result<bool>;
    /// Waiting attempts whose `expires_at` has passed, the longest expired first.
    async fn expired_attempts(&self, now: Millis, limit: u32) -> Result<Vec<AttemptRecord>>;
    /// Newest first.
    async fn attempts(&self, client_id: &str, filter: &AttemptFilter) -> Result<Vec<AttemptRecord>>;

    /// The person's consecutive failed verifications across attempts, per factor (`None`: no failure
    /// since the last success of each factor or unlock).
    async fn guards(&self, client_id: &str, person_id: &str) -> Result<Option<Guards>>;
    /// Counts a try of `factor` as a failure before its outcome is known, if `rules` allow a try now
    /// (the factor's own failures, and no lock of either factor); atomically, so that parallel tries
    /// cannot pass the lock. Returns the verdict that held before the try (a try is counted only when
    /// it is `Allowed`).
    async fn claim_try(
        &self,
        client_id: &str,
        person_id: &str,
        factor: Factor,
        now: Millis,
        rules: &LockoutRules,
    ) -> Result<TryVerdict>;
    /// Forgets the person's failures of one factor (its success, which also ends a lock that factor's own
    /// last try set) or of all (`None`: an unlock). Returns false when there were none.
    async fn clear_failures(&self, client_id: &str, person_id: &str, factor: Option<Factor>) -> Result<bool>;
    /// Counts a code send against the caps per person and per destination, atomically, unless a cap
    /// is reached. A send whose id was already counted is allowed again without counting.
    async fn count_send(&self, send: &CodeSend, caps: &SendCaps) -> Result<SendVerdict>;

    /// An audit line on its own, for actions whose change is not in this store's tables.
    /// Policy replay: the window of the policy's newest `limit` attempts created at or after `since`,
    /// or `None` when there is none.
    async fn replay_window(
        &self,
        client_id: &str,
        policy_id: &str,
        since: Millis,
        limit: u32,
    ) -> Result<Option<ReplayWindow>>;
    /// Policy replay: up to `limit` of the policy's attempts in the window, oldest first.
    async fn replay_page(
        &self,
        client_id: &str,
        policy_id: &str,
        window: &ReplayWindow,
        limit: u32,
    ) -> Result<Vec<ReplayRecord>>;
    /// Policy replay: these people's pasts (known devices, keys and places with their first sighting,
    /// and their attempts created from `from` to `until`, but those of `policy_id` after the cursor
    /// `replayed_after` (created_at, id), which the replay reads itself), by person id: every person asked
    /// for has an entry (empty for one erased since), its means not read.
    async fn replay_pasts(
        &self,
        client_id: &str,
        people: &[String],
        policy_id: &str,
        span: ReplaySpan,
    ) -> Result<smartauth_domain::replay::Map<String, ReplayPerson>>;
    /// Policy replay: the step-up means these people have on file now, by person id (none for a person
    /// erased since), for attempts stored before each kept the means of its moment.
    async fn replay_means(
        &self,
        client_id: &str,
        people: &[String],
    ) -> Result<smartauth_domain::replay::Map<String, Means>>;
    /// Policy replay: who was approved on these fingerprints and device keys, and since when, but for the
    /// people in `leave_out` (whose own devices the caller has read with their pasts).
    async fn replay_sharing(
        &self,
        client_id: &str,
        fingerprints: &[String],
        keys: &[String],
        leave_out: &[String],
    ) -> Result<smartauth_domain::replay::Sharing>;

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// After an erasure: moves the write-ahead journal into the database file and empties the journal, so
    /// that no earlier copy of the erased rows stays in it. False when a reader still holds it (try again
    /// later); engines without such a journal answer true.
    async fn truncate_journal(&self) -> Result<bool>;
    /// Retention: deletes up to `batch` of the oldest audit lines written before `before`; returns how many.
    /// It stops at the first line of the batch that is newer, so a call reads at most `batch` lines.
    async fn prune_audit(&self, before: Millis, batch: u32) -> Result<u64>;
    /// The audit trail, newest first: one tenant's (`Some`) or everything (`None`), before the cursor `seq`.
    async fn audit(&self, client_id: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, AuditEntry)>>;

    /// Adds the subscription unless its client has `at_most` already (false then, and nothing is written):
    /// counted and inserted at once, so that subscriptions created side by side do not pass the limit.
    async fn insert_webhook(&self, webhook: &WebhookRecord, at_most: u32, effects: Effects<'_>) -> Result<bool>;
    async fn webhook(&self, client_id: &str, webhook_id: &str) -> Result<Option<WebhookRecord>>;
    async fn webhooks(&self, client_id: &str) -> Result<Vec<WebhookRecord>>;
    /// Replaces the subscription's fields if it is as the caller read it (`version`: the `updated_at` it
    /// read); false when there is no such subscription or it changed since. Its failing streak
    /// (`failing_since`) is the dispatcher's: it is only ended, when the record's is `None`.
    async fn update_webhook(&self, webhook: &WebhookRecord, version: Millis, effects: Effects<'_>) -> Result<bool>;
    /// Deletes the subscription and its deliveries; false when there was none.
    async fn delete_webhook(&self, client_id: &str, webhook_id: &str, effects: Effects<'_>) -> Result<bool>;
    /// An event for one subscription only (the test event), whatever its types.
    async fn insert_event_for(&self, webhook_id: &str, event: &NewEvent) -> Result<()>;
    /// The newest event's `seq` (0 when there is none). A dispatcher looks for new events when it changed
    /// (the look reads every enabled subscription), and now and then whatever it says: with PostgreSQL a
    /// later `seq` may commit before an earlier one.
    async fn newest_event(&self) -> Result<i64>;
    /// Takes, for `lease_ms`, the new events of up to `max_webhooks` enabled subscriptions (none in `busy`,
    /// none another process holds): for each, up to `per_webhook` events after its cursor, oldest first,
    /// as deliveries not written yet. A delivery's row is written when it is tried (`finish_deliveries`,
    /// which moves the cursor). Events are read in `seq` order; that a later `seq` is never visible before
    /// an earlier one holds with SQLite's single writer (PostgreSQL must read up to the oldest transaction
    /// still running, `pg_snapshot_xmin`).
    async fn claim_new_events(
        &self,
        now: Millis,
        lease_ms: i64,
        per_webhook: u32,
        busy: &[String],
        max_webhooks: u32,
    ) -> Result<Vec<NewEventsClaim>>;
    /// Takes due deliveries for `lease_ms`, fairly: at most `per_webhook` of each subscription (its oldest
    /// events first), none of a subscription in `busy`, `limit` in all, of `limit / per_webhook` (rounded up)
    /// subscriptions at most. Another process (or a second
    /// call) gets other ones until the lease ends or the delivery is finished.
    async fn lease_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        per_webhook: u32,
        busy: &[String],
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Records a try. A success also clears the subscription's failing streak, a failure starts it.
    async fn finish_delivery(&self, delivery: &Delivery, outcome: &DeliveryTry) -> Result<()> {
        self.finish_deliveries(&[(delivery.clone(), outcome.clone())], &[]).await
    }
    /// Records tries in one transaction: a new event's delivery gets its row, a retried one's row is
    /// updated, and the subscriptions' cursors move (`CursorMove`).
    async fn finish_deliveries(&self, finished: &[(Delivery, DeliveryTry)], cursors: &[CursorMove]) -> Result<()>;
    /// Stops a subscription's deliveries (410 from the receiver, or failing for days).
    async fn disable_webhook(&self, webhook_id: &str, at: Millis, reason: &str, effects: Effects<'_>) -> Result<bool>;
    /// A subscription's deliveries, newest first, before the cursor `seq`: those tried, and the new events
    /// after its cursor that it takes (no row yet: `pending`, no try, with the id their row will get).
    async fn deliveries(
        &self,
        client_id: &str,
        webhook_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Delivery)>>;
    /// Queues the delivery of the event at `seq` again at `now`; false when the subscription has no such
    /// delivery.
    async fn redeliver(&self, client_id: &str, webhook_id: &str, seq: i64, now: Millis) -> Result<bool>;
    /// Makes every delivery of the subscription made since `since` that waits for a retry or was given up due
    /// at `now` (none that a dispatcher is sending); returns how many.
    async fn recover_deliveries(&self, client_id: &str, webhook_id: &str, since: Millis, now: Millis) -> Result<u64>;
    /// How many deliveries wait (new events after the cursors included, counted without their types), and
    /// since when the oldest has.
    async fn delivery_queue(&self) -> Result<DeliveryQueue>;
    /// Forgets finished deliveries made before `before`, and the events before it that no delivery waits
    /// for and every enabled subscription's cursor has passed.
    async fn prune_deliveries(&self, before: Millis) -> Result<u64>;
    /// Ends the leases of deliveries this process took (until `held_until`) but will not send now. A lease
    /// that ended and was taken by another process since is not touched.
    async fn release_deliveries(&self, ids: &[String], held_until: Millis) -> Result<()>;
    /// Deliveries of the subscription that wait (new events after its cursor included).
    async fn waiting_deliveries(&self, client_id: &str, webhook_id: &str) -> Result<u64>;
}
