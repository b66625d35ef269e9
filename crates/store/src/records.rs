use smartauth_domain::Policy;

/// Times are milliseconds since the Unix epoch throughout storage.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    pub id: String,
    pub name: String,
    /// The client secret, encrypted with the master key.
    pub secret_enc: String,
    pub disabled: bool,
    pub validate_cpf: bool,
    /// How far ahead of now the `exp` of the client's SDK (person-scoped) tokens may be.
    pub sdk_token_max_lifetime_secs: u32,
    /// The secret a rotation replaced (encrypted like `secret_enc`), while it is still accepted.
    pub previous_secret: Option<PreviousSecret>,
    /// Whether the client's SDK (person-scoped) tokens must name the policy they may use.
    pub require_sdk_token_policy: bool,
    pub settings: ClientSettings,
    pub created_at: Millis,
}

/// What shapes the messages a person receives and where the web SDK may run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// The name people see in their messages (the client's name when unset).
    pub display_name: Option<String>,
    /// `pt-BR` or `en`.
    pub language: String,
    /// Browser origins (`https://app.example.com`) the web SDK may call from.
    pub allowed_origins: Vec<String>,
    /// The tenant's own message templates, as JSON (`None`: the built-in ones).
    pub message_templates: Option<String>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            display_name: None,
            language: "en".into(),
            allowed_origins: Vec::new(),
            message_templates: None,
        }
    }
}

/// A challenge waiting for a device's signature (device binding), by the SHA-256 of the challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceChallenge {
    pub challenge_hash: String,
    pub client_id: String,
    pub person_id: String,
    pub policy_id: String,
    pub expires_at: Millis,
}

/// A replaced client secret that still verifies tokens until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousSecret {
    pub secret_enc: String,
    pub expires_at: Millis,
}

/// A change to an identity, field by field: `None` leaves a field as it is, `Some(None)` removes a contact
/// or the face. Written in one statement, so that two changes to different fields at once both stay.
#[derive(Debug, Clone, Default)]
pub struct IdentityChange {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    /// The enrolled face's image and template, both encrypted with the master key.
    pub face: Option<Option<(Vec<u8>, Vec<u8>)>>,
    pub updated_at: Millis,
    /// The identity (its `id`) the change was made for, when it was read first (a face enrolled for it): the
    /// change applies to that one only, not to one erased and made again since under the same person id.
    pub of: Option<String>,
}

impl IdentityChange {
    /// The fields it changes, by their API names.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("email", self.email.is_some()),
            ("phone", self.phone.is_some()),
            ("face", self.face.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, yes)| yes.then_some(field))
        .collect()
    }
}

#[derive(Clone, PartialEq)]
pub struct IdentityRecord {
    pub id: String,
    pub client_id: String,
    pub person_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The enrolled face image, encrypted with the master key.
    pub face_image_enc: Option<Vec<u8>>,
    /// The enrolled face's template (embedding), encrypted with the master key.
    pub face_template_enc: Option<Vec<u8>>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl std::fmt::Debug for IdentityRecord {
    // Personal data stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRecord")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: String,
    pub client_id: String,
    pub policy: Policy,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub id: String,
    pub client_id: String,
    /// `None` once the person has been erased.
    pub person_id: Option<String>,
    pub policy_id: String,
    pub status: String,
    pub created_at: Millis,
    /// Starts at 1; each update increments it.
    pub version: i64,
    /// The server's own JSON document for the attempt (context, evaluation, methods), as text: the
    /// server parses it straight into its own types.
    pub document: String,
    /// When a waiting attempt stops waiting (the expiry sweep reads it); `None` for a decided one.
    pub expires_at: Option<Millis>,
    /// What a policy replay judges of the attempt, in the server's compact JSON, written with the document;
    /// `None` for attempts stored before it existed and for erased ones.
    pub judged: Option<String>,
}

#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub client_id: &'a str,
    pub person_id: &'a str,
    pub fingerprint: Option<&'a str>,
    /// The thumbprint of the device key the attempt proved (device binding): when there is one, the
    /// device is shared with the people who were approved with this key, not with this fingerprint.
    pub device_key: Option<&'a str>,
    /// Attempts created at or after this instant count towards the policy's limit.
    pub window_start: Millis,
    /// The policy's limit: counting stops there, so that hammering one identity cannot make each
    /// check slower.
    pub attempt_limit: u32,
}

/// At most `limit` attempts of the person created at or after `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    pub window_start: Millis,
    pub limit: u32,
}

/// What an approved attempt teaches about its person.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    pub client_id: String,
    pub person_id: String,
    pub fingerprint: Option<String>,
    /// Whether the approval vouched for the fingerprint (its policy evaluated devices, or the person stepped
    /// up): only then does it become a known device of the person. Else it is only counted among the
    /// device's people (`maxIdentitiesPerDevice`).
    pub fingerprint_vouched: bool,
    pub location: Option<(f64, f64)>,
    /// The location's accuracy in metres, as the client reported it.
    pub location_accuracy: Option<f64>,
    /// The thumbprint of the device key that signed the attempt (device binding).
    pub device_key: Option<String>,
    /// Whether the approval vouched for the key (as for `fingerprint_vouched`): else it is only counted.
    pub device_key_vouched: bool,
    /// When the attempt was made: the sighting (`last_seen`; the travel check's time).
    pub at: Millis,
    /// When it was approved: from then on its device, place and key are known (`first_seen`). Later than
    /// `at` for an attempt approved by a step-up.
    pub known_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub person_id: Option<String>,
    pub status: Option<String>,
    pub policy_id: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Continue after this (created_at, id), exclusive.
    pub after: Option<(Millis, String)>,
    pub limit: u32,
}

/// A code about to be sent (or whose delivery was tried), for the caps on messages.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSend {
    /// Unique per request, so that a retried request is counted once.
    pub id: String,
    pub client_id: String,
    pub person_id: String,
    /// A keyed hash of the phone number or email address, never the address itself.
    pub destination: String,
    pub at: Millis,
}

/// Codes sent per person and per destination, per hour and per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCaps {
    pub per_hour: u32,
    pub per_day: u32,
}

/// Whether a code may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendVerdict {
    /// Counted.
    Allowed,
    /// A cap is reached; the next send fits at this instant.
    CapReached { retry_at: Millis },
}

/// A tenant's webhook subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub id: String,
    pub client_id: String,
    pub url: String,
    /// Event types it receives.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// The signing secret (`whsec_…`), sealed with the master key.
    pub secret_enc: String,
    /// The secret a rotation replaced, which keeps signing beside the new one until `expires_at`.
    pub previous_secret: Option<PreviousSecret>,
    /// When and why deliveries stopped (410 from the receiver, failing for days, or the tenant).
    pub disabled_at: Option<Millis>,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed (none since the last success).
    pub failing_since: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An event for the outbox: written with the change that caused it, for the subscriptions that want it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub client_id: String,
    pub kind: String,
    /// The CloudEvent's `data`, as JSON.
    pub data: String,
    pub created_at: Millis,
}

/// One line of the audit trail. Holds no secrets and no biometrics.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    /// The tenant the action concerns; `None` for the operator's own (a client created, say).
    pub client_id: Option<String>,
    /// `admin` (the operator's token), `client:<clientId>` (a backend token), `cli` (the command line).
    pub actor: String,
    /// `client.created`, `policy.changed`, `identity.erased`…
    pub action: String,
    pub target: Option<String>,
    /// A JSON object.
    pub detail: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub at: Millis,
}

/// What an operation writes besides its change, in the same transaction: outbox events and its audit line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects<'a> {
    pub events: &'a [NewEvent],
    pub audit: Option<&'a AuditEntry>,
}

impl Effects<'_> {
    pub const NONE: Effects<'static> = Effects { events: &[], audit: None };
}

/// A delivery of an event to one subscription, with the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    /// Its event's place in the outbox (the order a subscription's deliveries are sent in).
    pub seq: i64,
    pub webhook_id: String,
    pub client_id: String,
    pub event_id: String,
    pub event_type: String,
    pub event_data: String,
    pub event_created_at: Millis,
    /// `pending`, `delivered` or `failed` (retries given up).
    pub status: String,
    pub tries: u32,
    pub next_try_at: Millis,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_try_at: Option<Millis>,
    pub created_at: Millis,
    /// Until when a dispatcher holds it (sending it now; if that process died, it is sent again then).
    pub lease_until: Option<Millis>,
}

/// The result of one try, as the dispatcher records it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryTry {
    pub at: Millis,
    /// `delivered`, `pending` (retry at `next_try_at`) or `failed`.
    pub status: String,
    pub next_try_at: Millis,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// New events a dispatcher took for one subscription (`Store::claim_new_events`): their deliveries, in
/// order, and the last event read (those the subscription does not take included), where its cursor goes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEventsClaim {
    pub webhook_id: String,
    pub deliveries: Vec<Delivery>,
    pub through: i64,
}

/// Where a subscription's cursor goes when tries are recorded: past `through` (the events up to it are
/// tried or not taken), and whether the dispatcher lets go of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorMove {
    pub webhook_id: String,
    pub through: i64,
    pub release: bool,
    /// The lease the claim took (`Delivery::lease_until`): a cursor another process holds now is kept.
    pub held_until: Millis,
}

/// The dispatcher's view of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryQueue {
    pub waiting: u64,
    pub oldest_created_at: Option<Millis>,
}

/// Policy replay: one person's past (see `smartauth_domain::replay`), and the step-up means on file now,
/// once read (`Store::replay_means`): only an attempt stored without its own means asks for them.
#[derive(Debug, Clone, Default)]
pub struct ReplayPerson {
    pub past: smartauth_domain::replay::Past,
    pub means: Option<Means>,
}

/// The step-up means an identity has on file: an enrolled face, an email address, a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Means {
    pub face: bool,
    pub email: bool,
    pub phone: bool,
}

/// Policy replay: the people's attempts to read for their pasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySpan {
    pub from: Millis,
    pub until: Millis,
    /// The policy's attempts after this (created_at, id) are replayed, so not read as the past.
    pub replayed_after: (Millis, String),
}

/// One attempt as a replay reads it: what it judged, and how it ended.
#[derive(Debug, Clone)]
pub struct ReplayRecord {
    pub id: String,
    /// `None` once the person has been erased.
    pub person_id: Option<String>,
    pub status: String,
    pub created_at: Millis,
    /// The judged fields (`AttemptRecord::judged`) when the attempt has them, else its whole `document`.
    pub judged: Option<String>,
    pub document: Option<String>,
}

/// Policy replay: which of the policy's attempts to read, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Only attempts created at or after this instant.
    pub since: Millis,
    /// Only attempts after this (created_at, id), exclusive.
    pub after: Option<(Millis, String)>,
    /// Only attempts up to this (created_at, id), inclusive: the newest when the replay began.
    pub until: (Millis, String),
}

/// The attempts an erasure detached from their person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Erased {
    /// Every one of them (their images are erased with them).
    pub attempt_ids: Vec<String>,
    /// Those that were waiting for a step-up when detached (to be refused: nobody is left to step up).
    pub waiting: Vec<String>,
}
