//! Webhooks: the events a tenant's backend receives, as CloudEvents 1.0, signed the Standard Webhooks
//! way, and the dispatcher that delivers them from the outbox at least once.
//!
//! Events are written by the operations that cause them, in the same transaction (the store's
//! `Effects`). The dispatcher leases due deliveries from the store (so that several processes on one
//! database deliver each once), POSTs them through the same SSRF checks as `imageUrl` (the address is
//! checked at every delivery and the connection pinned to it), and records the outcome: a 2xx is
//! delivered; a 410 disables the subscription; anything else is retried on the schedule (with jitter,
//! and never sooner than the receiver's `Retry-After`) until the schedule ends. A subscription whose
//! every delivery has failed for `disable_after` is disabled, with a warning and an audit line.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use smartauth_store::{AttemptRecord, CursorMove, Delivery, DeliveryTry, Effects, Millis, NewEvent, WebhookRecord};
use tokio::sync::{Notify, Semaphore};

use crate::attempt::AttemptDoc;
use crate::configuration::WebhookSettings;
use crate::crypto::MasterKey;
use crate::ops::audit::Actor;
use crate::startup::App;

pub const EVENT_TYPES: [&str; 7] = [
    "authentication.approved",
    "authentication.reproved",
    "authentication.pending",
    "face_authentication.completed",
    "identity.created",
    "identity.deleted",
    "policy.changed",
];
/// Sent by `POST /webhooks/{id}/test`, to that subscription only.
pub const TEST_EVENT: &str = "webhook.test";

/// A new event. Its id (the `webhook-id`) starts with its time, so that ids written one after another sit
/// side by side in the outbox's index instead of each touching a page of its own.
pub fn event(client_id: &str, kind: &str, data: Value) -> NewEvent {
    let created_at = Utc::now().timestamp_millis();
    NewEvent {
        id: format!("msg_{created_at:012x}{}", hex::encode(rand::random::<[u8; 10]>())),
        client_id: client_id.to_owned(),
        kind: kind.to_owned(),
        data: data.to_string(),
        created_at,
    }
}

/// `face_authentication.completed` for a selfie tried on an attempt: CAF's face-authentication webhook fields
/// (`personId`, `attemptId`, `isMatch`, `date`), and ours.
pub fn face_event(
    record: &AttemptRecord,
    person: &str,
    face: &crate::attempt::FaceAttempt,
    refusal: Option<&str>,
    now: Millis,
) -> NewEvent {
    event(
        &record.client_id,
        "face_authentication.completed",
        json!({
            "personId": person,
            "attemptId": record.id,
            "policyId": record.policy_id,
            "isMatch": face.is_match,
            "isAlive": face.is_alive,
            "refusalReason": refusal,
            "refusalDetail": face.refusal_detail,
            "status": record.status,
            "date": crate::attempt::ts(now),
        }),
    )
}

/// `authentication.<status>` for an attempt that was created or changed status.
pub fn attempt_event(record: &AttemptRecord, doc: &AttemptDoc) -> NewEvent {
    let status = record.status.as_str();
    event(
        &record.client_id,
        &format!("authentication.{status}"),
        json!({
            "attemptId": record.id,
            "personId": record.person_id,
            "policyId": record.policy_id,
            "status": status,
            "isAuthorized": status == "approved",
            "isBlocked": doc.evaluation.is_blocked,
            "isNewContext": doc.evaluation.is_new_context,
            "contextAnalysisResult": if doc.evaluation.valid { "VALID" } else { "INVALID" },
            "neededReauthentications": doc.evaluation.needed_reauthentications,
            "reason": doc.closed_reason,
        }),
    )
}

/// The CloudEvents 1.0 JSON body of an event.
pub fn cloud_event(d: &Delivery) -> Vec<u8> {
    let data: Value = serde_json::from_str(&d.event_data).unwrap_or(Value::Null);
    let time = chrono::DateTime::from_timestamp_millis(d.event_created_at).unwrap_or_default();
    let subject = ["attemptId", "personId", "policyId", "webhookId"].iter().find_map(|k| data.get(*k)).cloned();
    let mut body = json!({
        "specversion": "1.0",
        "type": d.event_type,
        "source": format!("smartauth/clients/{}", d.client_id),
        "id": d.event_id,
        "time": smartauth_domain::time::format(time),
        "datacontenttype": "application/json",
        "data": data,
    });
    if let Some(subject) = subject.filter(Value::is_string) {
        body["subject"] = subject;
    }
    body.to_string().into_bytes()
}

/// A new signing secret, as Standard Webhooks writes them.
pub fn new_secret() -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// `webhook-signature`: one `v1,<base64>` per secret that signs (the current one, and the previous one
/// during its overlap), space-separated.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    sign_with(&webhook_keys(secrets)?, id, timestamp, body)
}

fn webhook_keys(secrets: &[String]) -> anyhow::Result<Vec<standardwebhooks::Webhook>> {
    secrets
        .iter()
        .map(|s| standardwebhooks::Webhook::new(s).map_err(|e| anyhow::anyhow!("a webhook secret: {e}")))
        .collect()
}

fn sign_with(keys: &[standardwebhooks::Webhook], id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(key.sign(id, timestamp, body).map_err(|e| anyhow::anyhow!("signing: {e}"))?);
    }
    Ok(out.join(" "))
}

/// `X-Caf-Signature`: hex HMAC-SHA256 of the raw body with the client secret, as CAF's webhooks.
pub fn caf_signature(client_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The secrets that sign for a subscription now.
pub fn signing_secrets(key: &MasterKey, w: &WebhookRecord, now: Millis) -> anyhow::Result<Vec<String>> {
    let mut secrets = vec![key.decrypt_text(&w.secret_enc)?];
    if let Some(p) = w.previous_secret.as_ref().filter(|p| p.expires_at > now) {
        secrets.push(key.decrypt_text(&p.secret_enc)?);
    }
    Ok(secrets)
}

/// Wakes the dispatcher when this process wrote an event (other processes' are found by polling), or when
/// one of its senders finished.
#[derive(Default)]
pub struct Wakeup {
    events: Notify,
    senders: Notify,
    /// How many senders have finished: what they left after a cursor is looked for again.
    finished: std::sync::atomic::AtomicU64,
}

impl Wakeup {
    /// An event was written.
    pub fn ring(&self) {
        self.events.notify_one();
    }

    fn sender_finished(&self) {
        self.finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.senders.notify_one();
    }

    /// Waits until a sender finishes, or an event was written (but no sooner than `EVENT_ROUND_GAP` after
    /// the round `last_round` started), or `IDLE_POLL` passed. Under load an event is written for every
    /// request; a round for each would read the queue and contend for the write lock hundreds of times a
    /// second while the subscriptions' senders are busy anyway. A lone event on an idle server is sent at once.
    async fn wait(&self, last_round: tokio::time::Instant) {
        let event = async {
            self.events.notified().await;
            tokio::time::sleep_until(last_round + EVENT_ROUND_GAP).await;
        };
        tokio::select! {
            _ = self.senders.notified() => {}
            _ = event => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

/// The shortest time between two rounds woken by new events (see `Wakeup::wait`).
const EVENT_ROUND_GAP: Duration = Duration::from_millis(100);
/// How often an idle dispatcher looks for due deliveries (retries, other processes' events): the events of
/// the processes that answer with `SMARTAUTH_WEBHOOK_DISPATCH=false` wait for it (at 500 ms, a delay of p50
/// 280 ms and p99 530 ms under the bench's load; at 100 ms, 43 and 120 ms). A look is two reads of an index.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often the dispatcher looks for new events when nothing says there are any (see `Looked`).
const LOOK_AT_LEAST_EVERY: Duration = Duration::from_secs(2);
/// How often the queue's gauges are read.
const GAUGES_EVERY: Duration = Duration::from_secs(1);

/// Deliveries a subscription gets in one lease (new events, or retries): sent one after another, in event
/// order.
const PER_WEBHOOK: u32 = 200;
/// Finished deliveries (and their events) are kept this long, for `GET /webhooks/{id}/deliveries`.
const KEEP_FINISHED_MS: i64 = 7 * 86_400_000;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How long a lease lasts. A sender stops taking deliveries from its batch when less than a delivery's
/// longest time (timeout, name resolution, margin) is left of it, and gives the rest back: no other process
/// takes one this process may still be sending, and a crashed process's deliveries wait about a minute.
fn lease_ms(settings: &WebhookSettings) -> i64 {
    60_000 + settings.timeout.as_millis() as i64
}

/// Runs the dispatcher until the process ends (or the `App` is dropped): it leases due deliveries fairly (a
/// few of each subscription at most, none of one it is already sending to) and gives each subscription a
/// sender of its own, so that a slow receiver holds up only its own deliveries.
///
/// It runs on a thread of its own, with a single-threaded runtime: a delivery's request, its connection's
/// task and its sender wake one another on one thread, instead of handing work between the request
/// handlers' threads at every step (measured with `scripts/bench.sh --webhooks`).
pub fn spawn(app: Arc<App>) {
    let background = app.webhook_settings.background;
    let answering = match tokio::runtime::Handle::try_current() {
        Ok(handle) => Answering(handle),
        Err(e) => {
            tracing::error!(error = %e, "the webhook dispatcher could not start; no webhook is delivered");
            return;
        }
    };
    let app = Arc::downgrade(&app);
    let started = std::thread::Builder::new().name("webhooks".into()).spawn(move || {
        if background {
            yield_to_answers();
        }
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(dispatch(app, answering)),
            Err(e) => tracing::error!(error = %e, "the webhook dispatcher could not start; no webhook is delivered"),
        }
    });
    if let Err(e) = started {
        tracing::error!(error = %e, "the webhook dispatcher could not start; no webhook is delivered");
    }
}

/// Lowers this thread's priority to the least (nice 19; the threads it starts inherit it), so that it takes
/// the CPU answering requests leaves: at full load deliveries wait, and catch up when the load falls (measured
/// with `scripts/bench.sh --webhooks`, README "Webhooks"). Its database work does not run here (`Answering`).
#[cfg(target_os = "linux")]
fn yield_to_answers() {
    // SAFETY: setpriority only reads its arguments; the id is this thread's own (on Linux a nice value is
    // a thread's).
    let lowered = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    if lowered != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, "the webhook dispatcher keeps the answering threads' priority");
    }
}

/// Elsewhere a nice value is the whole process's: the dispatcher keeps the answering threads' priority.
#[cfg(not(target_os = "linux"))]
fn yield_to_answers() {
    tracing::info!("the webhook dispatcher runs at the answering threads' priority on this system");
}

/// How long this thread has been ready to run and waiting for a CPU, in all (Linux's
/// `/proc/thread-self/schedstat`, its second field), with the thread it was read on; `None` where the
/// kernel does not say. The file stays open on each thread that reads it: one `pread` a reading.
fn waited_for_cpu() -> Option<(std::thread::ThreadId, Duration)> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::FileExt;
        thread_local! {
            static SCHEDSTAT: Option<std::fs::File> = std::fs::File::open("/proc/thread-self/schedstat").ok();
        }
        SCHEDSTAT.with(|file| {
            let mut buf = [0u8; 96];
            let n = file.as_ref()?.read_at(&mut buf, 0).ok()?;
            let nanos = std::str::from_utf8(&buf[..n]).ok()?.split_whitespace().nth(1)?.parse().ok()?;
            Some((std::thread::current().id(), Duration::from_nanos(nanos)))
        })
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// A failed try was this server's doing when its thread waited for a CPU for half the try or more: how
/// long it waited. `None` when it was not, or cannot be told (no measure, or read on two threads).
fn starved(
    before: Option<(std::thread::ThreadId, Duration)>,
    after: Option<(std::thread::ThreadId, Duration)>,
    took: Duration,
) -> Option<Duration> {
    let ((thread, from), (same, to)) = (before?, after?);
    let waited = to.checked_sub(from)?;
    (thread == same && !took.is_zero() && waited * 2 >= took).then_some(waited)
}

/// The answering threads' runtime, where the dispatcher's database work runs, at their priority. A
/// transaction driven from the dispatcher's thread would hold the database's one writer while that thread
/// waits for the CPU (and the answers wait for the writer); a connection opened from it would start its
/// SQLite thread at nice 19, for every later write of the process.
#[derive(Clone)]
struct Answering(tokio::runtime::Handle);

/// The answering threads' runtime has stopped: so does the dispatcher.
#[derive(Debug)]
struct Stopping;

impl std::fmt::Display for Stopping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server is stopping")
    }
}

impl std::error::Error for Stopping {}

impl Answering {
    /// Runs a store call on the answering threads and waits for it here.
    async fn store<T, E, F>(&self, app: &Arc<App>, work: impl FnOnce(Arc<App>) -> F) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error> + Send + 'static,
    {
        self.0.spawn(work(Arc::clone(app))).await.map_err(|_| anyhow::Error::new(Stopping))?.map_err(Into::into)
    }
}

async fn dispatch(app: std::sync::Weak<App>, on: Answering) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let Some(senders) = app.upgrade().map(|a| Arc::new(Semaphore::new(a.webhook_settings.senders))) else { return };
    let mut pruned_at: Option<std::time::Instant> = None;
    // New events and retries take turns at being served first, so that neither waits for ever for a sender
    // while subscriptions busy with the other keep every sender taken.
    let mut retries_first = false;
    let mut looked: Option<Looked> = None;
    // Ends when the server has let go of its state (a test's server, dropped).
    while let Some(app) = app.upgrade() {
        let round = tokio::time::Instant::now();
        let now = Looked::now(&app, &on).await;
        // A turn is a round with a sender free (a round with none takes nothing).
        if senders.available_permits() > 0 {
            retries_first = !retries_first;
        }
        let new_events = match (&looked, &now) {
            (Some(last), Some(now)) => last.differs(now),
            _ => true,
        };
        let started = match lease_round(&app, &on, &busy, &senders, retries_first, new_events).await {
            Ok((n, looked_now)) => {
                if looked_now {
                    looked = now;
                }
                n
            }
            Err(e) if e.is::<Stopping>() => return,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "webhook dispatch failed; retrying");
                looked = None;
                0
            }
        };
        if pruned_at.is_none_or(|at| at.elapsed() > PRUNE_EVERY) {
            pruned_at = Some(std::time::Instant::now());
            let before = Utc::now().timestamp_millis() - KEEP_FINISHED_MS;
            if let Err(e) = on.store(&app, move |app| async move { app.store.prune_deliveries(before).await }).await {
                tracing::warn!(error = %e, "pruning old webhook deliveries failed");
            }
        }
        if started == 0 {
            app.webhook_wakeup.wait(round).await;
        }
    }
}

/// What the dispatcher's last look for new events saw. Looking reads every enabled subscription (an index
/// search each), so a round looks only when an event was written since (its number changed), a sender
/// finished (it may have left events after its cursor), or `LOOK_AT_LEAST_EVERY` passed (a crashed process's
/// lease ended). With 20,000 subscriptions, looking every round (10 a second) took 4% of a core idle.
struct Looked {
    newest_event: i64,
    senders_finished: u64,
    at: std::time::Instant,
}

impl Looked {
    /// What there is to see now; `None` when the newest event cannot be read (then it looks).
    async fn now(app: &Arc<App>, on: &Answering) -> Option<Looked> {
        let newest_event = on.store(app, |app| async move { app.store.newest_event().await }).await.ok()?;
        let senders_finished = app.webhook_wakeup.finished.load(std::sync::atomic::Ordering::Relaxed);
        Some(Looked { newest_event, senders_finished, at: std::time::Instant::now() })
    }

    /// Whether a look at `now` may find what this one did not.
    fn differs(&self, now: &Looked) -> bool {
        self.newest_event != now.newest_event
            || self.senders_finished != now.senders_finished
            || now.at.duration_since(self.at) >= LOOK_AT_LEAST_EVERY
    }
}

/// Reads the queue's gauges every `GAUGES_EVERY`, in every process (one that does not deliver shows the
/// backlog too, and its age grows when no process on the database delivers), until the server lets go of
/// its state.
pub fn spawn_gauges(app: Arc<App>) {
    let app = Arc::downgrade(&app);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(GAUGES_EVERY);
        loop {
            every.tick().await;
            let Some(app) = app.upgrade() else { return };
            if let Err(e) = queue_gauges(&app).await {
                tracing::warn!(error = %format!("{e:#}"), "reading the webhook queue failed");
            }
        }
    });
}

/// The queue's depth and the age of its oldest delivery, for the metrics.
async fn queue_gauges(app: &App) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    let queue = app.store.delivery_queue().await?;
    metrics::gauge!("smartauth_webhook_queue_depth").set(queue.waiting as f64);
    let age = queue.oldest_created_at.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
    metrics::gauge!("smartauth_webhook_oldest_pending_seconds").set(age);
    Ok(())
}

/// What one sender sends: a subscription's deliveries in event order, either the new events after its
/// cursor (`cursor`: held until when, and the last event read) or retries.
struct Batch {
    webhook_id: String,
    deliveries: Vec<Delivery>,
    cursor: Option<Cursor>,
    /// When the lease on the retries (or the cursor) ends.
    held_until: Millis,
}

#[derive(Clone, Copy)]
struct Cursor {
    held_until: Millis,
    through: i64,
}

/// Takes what is due (new events after the subscriptions' cursors when `new_events`, and retries;
/// `retries_first`: in that order) and starts a sender per subscription. Returns how many senders it started,
/// and whether it looked for new events.
async fn lease_round(
    app: &Arc<App>,
    on: &Answering,
    busy: &Arc<Mutex<HashSet<String>>>,
    senders: &Arc<Semaphore>,
    retries_first: bool,
    new_events: bool,
) -> anyhow::Result<(usize, bool)> {
    // The leases run from here: a sender's time to send is counted from it, not from when it started.
    let leased_at = std::time::Instant::now();
    let now = Utc::now().timestamp_millis();
    let mut free = senders.available_permits();
    if free == 0 {
        return Ok((0, false));
    }
    let mut skip: Vec<String> = busy.lock().map(|b| b.iter().cloned().collect()).unwrap_or_default();
    let lease = lease_ms(&app.webhook_settings);
    let mut batches = Vec::new();
    let order = if retries_first { [false, true] } else { [true, false] };
    let mut looked = false;
    for take_new in order {
        if free == 0 || (take_new && !new_events) {
            continue;
        }
        let taken = if take_new {
            let busy_now = skip.clone();
            let claimed = on
                .store(app, move |app| async move {
                    app.store.claim_new_events(now, lease, PER_WEBHOOK, &busy_now, free as u32).await
                })
                .await;
            let claims = match claimed {
                Ok(claims) => {
                    looked = true;
                    claims
                }
                // What the other step took is sent all the same, rather than held until its lease ends.
                Err(e) if !batches.is_empty() && !e.is::<Stopping>() => {
                    tracing::warn!(error = %format!("{e:#}"), "looking for new webhook events failed; retrying");
                    break;
                }
                Err(e) => return Err(e),
            };
            claims
                .into_iter()
                .map(|claim| Batch {
                    webhook_id: claim.webhook_id,
                    deliveries: claim.deliveries,
                    cursor: Some(Cursor { held_until: now + lease, through: claim.through }),
                    held_until: now + lease,
                })
                .collect::<Vec<_>>()
        } else {
            let busy_now = skip.clone();
            let leased = on
                .store(app, move |app| async move {
                    app.store.lease_deliveries(now, lease, PER_WEBHOOK, &busy_now, free as u32 * PER_WEBHOOK).await
                })
                .await;
            let taken = match leased {
                Ok(taken) => taken,
                Err(e) if !batches.is_empty() && !e.is::<Stopping>() => {
                    tracing::warn!(error = %format!("{e:#}"), "looking for webhook retries failed; retrying");
                    break;
                }
                Err(e) => return Err(e),
            };
            let mut by_webhook: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
            for d in taken {
                by_webhook.entry(d.webhook_id.clone()).or_default().push(d);
            }
            by_webhook
                .into_iter()
                .map(|(webhook_id, deliveries)| Batch { webhook_id, deliveries, cursor: None, held_until: now + lease })
                .collect()
        };
        free = free.saturating_sub(taken.len());
        skip.extend(taken.iter().map(|b| b.webhook_id.clone()));
        batches.extend(taken);
    }
    let count = batches.len();
    for batch in batches {
        let Ok(permit) = Arc::clone(senders).acquire_owned().await else { break };
        if let Ok(mut b) = busy.lock() {
            b.insert(batch.webhook_id.clone());
        }
        let (app, on, busy) = (Arc::clone(app), on.clone(), Arc::clone(busy));
        tokio::spawn(async move {
            let budget = Duration::from_millis(lease as u64) - app.webhook_settings.timeout - Duration::from_secs(10);
            let (webhook_id, held_until) = (batch.webhook_id.clone(), batch.held_until);
            let rest = send_batch(&app, &on, batch, leased_at, budget).await;
            // A slow receiver: the retries this sender will not reach in its lease go back to the queue now
            // (new events it did not reach stay after the cursor, which is let go of).
            if !rest.is_empty() {
                let released = on
                    .store(&app, move |app| async move { app.store.release_deliveries(&rest, held_until).await })
                    .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "giving back webhook deliveries failed; their lease will end");
                }
            }
            if let Ok(mut b) = busy.lock() {
                b.remove(&webhook_id);
            }
            drop(permit);
            app.webhook_wakeup.sender_finished();
        });
    }
    Ok((count, looked))
}

/// Sends a subscription's deliveries one after another, in event order, and records them in batches (one
/// write transaction for many, so that delivering does not crowd out the attempts' writes); new events'
/// cursor moves with each record, past the last event tried. Stops at the lease's budget, at a failure to
/// send or record, or when the subscription is disabled or gone. Returns the retries it did not send.
async fn send_batch(
    app: &Arc<App>,
    on: &Answering,
    batch: Batch,
    started: std::time::Instant,
    budget: Duration,
) -> Vec<String> {
    const FLUSH_EVERY: usize = 200;
    let Batch { webhook_id, deliveries, cursor, .. } = batch;
    let client_id = match deliveries.first() {
        Some(d) => d.client_id.clone(),
        // Only events the subscription does not take: its cursor moves past them.
        None => {
            let tried_through = cursor.map(|c| c.through);
            let mut record = Record { done: Vec::new(), webhook_id: &webhook_id, cursor, tried_through };
            record.flush(app, on, true).await;
            return Vec::new();
        }
    };
    // Deleted since: its deliveries went with it. A failure to read it (or its secrets, below) keeps the
    // leases, so that the deliveries wait for them to end instead of being taken again at once.
    let read = || {
        let (client_id, webhook_id) = (client_id.clone(), webhook_id.clone());
        on.store(app, move |app| async move { app.store.webhook(&client_id, &webhook_id).await })
    };
    let mut webhook = match read().await {
        Ok(Some(webhook)) => webhook,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::warn!(webhook_id, error = %e, "reading a webhook subscription failed; its deliveries wait");
            return Vec::new();
        }
    };
    // The secrets, once for the batch (a rotation reaches the next batch; the old secret stays valid a day).
    let keys = match signing_keys(app, on, &webhook).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(webhook_id, error = %format!("{e:#}"), "webhook secrets unreadable; deliveries wait");
            return Vec::new();
        }
    };
    let mut record = Record { done: Vec::new(), webhook_id: &webhook_id, cursor, tried_through: None };
    let mut flushed_at = std::time::Instant::now();
    let mut left = deliveries.into_iter();
    let mut all_tried = true;
    for d in left.by_ref() {
        let stop = match deliver(app, on, &webhook, &keys, &d).await {
            Ok((outcome, stop)) => {
                if outcome.status != "delivered" && webhook.failing_since.is_none() {
                    webhook.failing_since = Some(outcome.at);
                } else if outcome.status == "delivered" {
                    webhook.failing_since = None;
                }
                record.tried_through = Some(d.seq);
                record.done.push((d, outcome));
                stop
            }
            Err(e) => {
                // Not recorded: a new event stays after the cursor, a retry's lease ends; both are sent again.
                tracing::warn!(webhook_id = %d.webhook_id, event_id = %d.event_id, error = %format!("{e:#}"), "webhook delivery not recorded");
                all_tried = false;
                true
            }
        };
        let mut changed = false;
        if record.done.len() >= FLUSH_EVERY || flushed_at.elapsed() > Duration::from_millis(1000) {
            if !record.flush(app, on, false).await {
                all_tried = false;
                break;
            }
            flushed_at = std::time::Instant::now();
            // Deleted, disabled or changed (its URL, its types, its secret) since the batch began: the rest
            // waits for the next round, which reads it again (nothing goes to an old URL a second later).
            changed = !matches!(read().await,
                Ok(Some(current)) if current.updated_at == webhook.updated_at && current.disabled_at.is_none());
            all_tried &= !changed;
        }
        if stop || changed || started.elapsed() > budget {
            break;
        }
    }
    let rest: Vec<String> = left.map(|d| d.id).collect();
    // Every event read was tried: the cursor goes past the last one read, those not taken included.
    if all_tried && rest.is_empty() {
        record.tried_through = cursor.map(|c| c.through);
    }
    record.flush(app, on, true).await;
    if cursor.is_some() {
        Vec::new()
    } else {
        rest
    }
}

/// Tries not recorded yet, and the cursor they move.
struct Record<'a> {
    done: Vec<(Delivery, DeliveryTry)>,
    webhook_id: &'a str,
    cursor: Option<Cursor>,
    /// The last event tried (the cursor goes past it when the tries are recorded).
    tried_through: Option<i64>,
}

impl Record<'_> {
    /// Records the tries (and moves the cursor; `last`: lets go of it too). False when that failed: the
    /// tries are sent again (at least once).
    async fn flush(&mut self, app: &Arc<App>, on: &Answering, last: bool) -> bool {
        let moved: Vec<CursorMove> = self
            .cursor
            .filter(|_| last || self.tried_through.is_some())
            .map(|c| CursorMove {
                webhook_id: self.webhook_id.to_owned(),
                through: self.tried_through.unwrap_or(0),
                release: last,
                held_until: c.held_until,
            })
            .into_iter()
            .collect();
        if self.done.is_empty() && moved.is_empty() {
            return true;
        }
        let done = std::mem::take(&mut self.done);
        let count = done.len();
        let recorded = on.store(app, move |app| async move { app.store.finish_deliveries(&done, &moved).await }).await;
        if let Err(e) = &recorded {
            tracing::warn!(error = %format!("{e:#}"), count, "webhook deliveries not recorded");
            // The cursor stays where the last record left it: these events are sent again.
            self.tried_through = None;
        }
        recorded.is_ok()
    }
}

/// What signs a subscription's deliveries: its secrets (Standard Webhooks) and the client's secret
/// (`X-Caf-Signature`; none when the client is disabled).
struct SigningKeys {
    webhooks: Vec<standardwebhooks::Webhook>,
    client_secret: Option<String>,
}

async fn signing_keys(app: &Arc<App>, on: &Answering, webhook: &WebhookRecord) -> anyhow::Result<SigningKeys> {
    let webhooks = webhook_keys(&signing_secrets(&app.key, webhook, Utc::now().timestamp_millis())?)?;
    let client_id = webhook.client_id.clone();
    let client_secret = on
        .store(app, move |app| async move {
            let client = app.clients.active(app.store.as_ref(), &app.key, &client_id).await?;
            anyhow::Ok(client.map(|c| c.secret.clone()))
        })
        .await?;
    Ok(SigningKeys { webhooks, client_secret })
}

/// Sends one delivery and says how it went; the caller records it. `true` beside it: stop sending to this
/// subscription (it was disabled by the answer).
async fn deliver(
    app: &Arc<App>,
    on: &Answering,
    webhook: &WebhookRecord,
    keys: &SigningKeys,
    d: &Delivery,
) -> anyhow::Result<(DeliveryTry, bool)> {
    let settings = &app.webhook_settings;
    let now = Utc::now().timestamp_millis();
    if webhook.disabled_at.is_some() {
        return Ok((given_up(now, "the subscription is disabled"), true));
    }
    let body = cloud_event(d);
    let timestamp = now / 1000;
    let mut headers = vec![
        ("webhook-id", d.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", sign_with(&keys.webhooks, &d.event_id, timestamp, &body)?),
    ];
    if let Some(secret) = &keys.client_secret {
        headers.push(("x-caf-signature", caf_signature(secret, &body)));
    }
    let (sent, waited_before) = (std::time::Instant::now(), waited_for_cpu());
    let answer = app.fetcher.post(&webhook.url, &headers, body, settings.timeout).await;
    let took = sent.elapsed();
    if answer.is_err() && took >= settings.timeout {
        // Starved at the server's limit (the thread runs at nice 19), a try can run into its timeout with
        // the answer unread: that is not the receiver failing. Not recorded, the delivery is sent again (at
        // least once). Only a try that lasted its whole timeout: a refused connection fails at once.
        if let Some(waited) = starved(waited_before, waited_for_cpu(), took) {
            metrics::counter!("smartauth_webhook_deliveries_total", "outcome" => "deferred").increment(1);
            anyhow::bail!(
                "not sent in time: this server's delivery thread waited {} of {} ms for a CPU; sent again, not \
                 counted against the receiver",
                waited.as_millis(),
                took.as_millis()
            );
        }
    }
    let at = Utc::now().timestamp_millis();
    let tries = d.tries + 1;
    let (outcome, label) = match answer {
        Ok(posted) if (200..300).contains(&posted.status) => (
            DeliveryTry {
                at,
                status: "delivered".into(),
                next_try_at: at,
                last_status: Some(posted.status),
                last_error: None,
            },
            "delivered",
        ),
        Ok(posted) if posted.status == 410 => {
            let reason = "the receiver answered 410 Gone";
            disable(app, on, webhook, at, reason).await?;
            let mut outcome = given_up(at, reason);
            outcome.last_status = Some(410);
            (outcome, "gone")
        }
        Ok(posted) => {
            let error = format!("the receiver answered {}", posted.status);
            let mut outcome = retry(settings, tries, at, posted.retry_after, &error);
            outcome.last_status = Some(posted.status);
            (outcome, "failed")
        }
        Err(e) => (retry(settings, tries, at, None, &crate::ops::webhooks::target_refusal(&e)), "failed"),
    };
    metrics::counter!("smartauth_webhook_deliveries_total", "outcome" => label).increment(1);
    if label == "delivered" {
        let delay = (at - d.event_created_at).max(0) as f64 / 1000.0;
        metrics::histogram!("smartauth_webhook_delivery_delay_seconds").record(delay);
    }
    let mut stop = label == "gone";
    let failing_for = webhook.failing_since.map(|since| at - since);
    if label == "failed" && failing_for.is_some_and(|ms| ms >= settings.disable_after.as_millis() as i64) {
        let reason = format!("every delivery has failed for {} s", settings.disable_after.as_secs());
        disable(app, on, webhook, at, &reason).await?;
        stop = true;
    }
    Ok((outcome, stop))
}

fn given_up(at: Millis, error: &str) -> DeliveryTry {
    DeliveryTry { at, status: "failed".into(), next_try_at: at, last_status: None, last_error: Some(error.into()) }
}

/// The next try after `tries` failures: the schedule's wait, ±10 % so that retries spread out, and
/// never sooner than the receiver asked (`Retry-After`, at most a day). Past the schedule: given up.
fn retry(settings: &WebhookSettings, tries: u32, at: Millis, retry_after: Option<u64>, error: &str) -> DeliveryTry {
    let Some(wait) = settings.retry.get(tries as usize - 1) else {
        return given_up(at, error);
    };
    let jitter = 0.9 + rand::random::<f64>() * 0.2;
    let mut wait_ms = (wait.as_millis() as f64 * jitter) as i64;
    if let Some(asked) = retry_after {
        wait_ms = wait_ms.max(asked.min(86_400) as i64 * 1000);
    }
    DeliveryTry {
        at,
        status: "pending".into(),
        next_try_at: at + wait_ms,
        last_status: None,
        last_error: Some(error.chars().take(200).collect()),
    }
}

async fn disable(
    app: &Arc<App>,
    on: &Answering,
    webhook: &WebhookRecord,
    at: Millis,
    reason: &str,
) -> anyhow::Result<()> {
    let audit = Actor::server().line(
        Some(&webhook.client_id),
        "webhook.disabled",
        Some(&webhook.id),
        Some(json!({"reason": reason, "url": webhook.url})),
    );
    let (webhook_id, why) = (webhook.id.clone(), reason.to_owned());
    let disabled = on
        .store(app, move |app| async move {
            app.store.disable_webhook(&webhook_id, at, &why, Effects { events: &[], audit: Some(&audit) }).await
        })
        .await?;
    if disabled {
        tracing::warn!(webhook_id = %webhook.id, client_id = %webhook.client_id, reason, "webhook subscription disabled");
        metrics::counter!("smartauth_webhooks_disabled_total").increment(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that shares its CPU with three busy ones waits for it most of the time, and a try it made
    /// then is put down to the server; once the busy ones are gone, a thread that only slept is not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_kept_from_the_cpu_is_told_apart() {
        // Pins this thread to one CPU, the one it is on (a CPU it may use); returns it.
        fn pin(cpu: Option<usize>) -> usize {
            // SAFETY: sched_getcpu has no arguments; a zeroed cpu_set_t is an empty set; CPU_SET and
            // sched_setaffinity(0) act on this thread's own set.
            unsafe {
                let cpu = cpu.unwrap_or_else(|| usize::try_from(libc::sched_getcpu()).expect("on a CPU"));
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                assert_eq!(libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set), 0);
                cpu
            }
        }
        // Works until this thread has had `cpu` of CPU time, however long that takes.
        fn work(cpu: Duration) {
            let used = || {
                let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: clock_gettime writes the timespec it is given.
                assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) }, 0);
                Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
            };
            let start = used();
            while used() - start < cpu {
                std::hint::spin_loop();
            }
        }
        let measured = std::thread::spawn(|| {
            let cpu = pin(None);
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let busy: Vec<_> = (0..3)
                .map(|_| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        pin(Some(cpu));
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            std::hint::spin_loop();
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(20));
            let (start, before) = (std::time::Instant::now(), waited_for_cpu());
            work(Duration::from_millis(40));
            let (after, took) = (waited_for_cpu(), start.elapsed());
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            busy.into_iter().for_each(|t| t.join().unwrap());
            let (idle_start, idle) = (std::time::Instant::now(), waited_for_cpu());
            std::thread::sleep(Duration::from_millis(200));
            let idle_after = waited_for_cpu();
            (before, after, took, idle, idle_after, idle_start.elapsed())
        });
        let (before, after, took, idle, idle_after, idle_took) = measured.join().unwrap();
        let waited = starved(before, after, took).expect("kept from the CPU for most of the try");
        assert!(waited >= took / 2 && waited <= took, "waited {waited:?} of {took:?}");
        assert_eq!(starved(idle, idle_after, idle_took), None, "a thread that only slept was not kept waiting");
    }

    #[test]
    fn a_failure_is_put_down_to_the_server_only_when_it_waited_half_the_try() {
        let here = std::thread::current().id();
        let other = std::thread::spawn(|| std::thread::current().id()).join().unwrap();
        let at = |thread, ms| Some((thread, Duration::from_millis(ms)));
        let ten = Duration::from_secs(10);
        assert_eq!(starved(at(here, 1_000), at(here, 7_000), ten), Some(Duration::from_secs(6)));
        assert_eq!(starved(at(here, 1_000), at(here, 5_999), ten), None, "under half: the receiver's");
        assert_eq!(starved(at(here, 1_000), at(other, 9_000), ten), None, "read on another thread");
        assert_eq!(starved(None, at(here, 9_000), ten), None, "no measure");
        assert_eq!(starved(at(here, 9_000), at(here, 1_000), ten), None);
    }

    #[test]
    fn a_delivery_refused_for_its_address_says_so_in_the_subscriptions_words() {
        let why = crate::ops::webhooks::target_refusal(&crate::fetch::FetchError::NotPublic);
        assert!(why.starts_with("url must name a host") && why.contains("SMARTAUTH_ALLOW_PRIVATE_TARGETS"), "{why}");
        assert!(!why.contains("imageUrl"));
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_honour_retry_after_then_give_up() {
        let settings = WebhookSettings::default();
        let first = retry(&settings, 1, 0, None, "500");
        assert_eq!(first.status, "pending");
        assert!((4_500..=5_500).contains(&first.next_try_at), "{}", first.next_try_at);
        let asked = retry(&settings, 1, 0, Some(120), "429");
        assert!(asked.next_try_at >= 120_000);
        let total: u64 = settings.retry.iter().map(Duration::as_secs).sum();
        assert!((2.5 * 86_400.0..=3.5 * 86_400.0).contains(&(total as f64)), "about three days: {total} s");
        let last = retry(&settings, settings.retry.len() as u32 + 1, 0, None, "500");
        assert_eq!(last.status, "failed");
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one_and_verifies_with_its_library() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"test": 2432232314}"#;
        // The Standard Webhooks specification's example.
        let signed =
            signature(std::slice::from_ref(&secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
        headers.insert("webhook-timestamp", Utc::now().timestamp().to_string().parse().unwrap());
        let now = Utc::now().timestamp();
        let fresh = signature(&[secret.clone(), new_secret()], "msg_p5jXN8AQM9LWM0D4loKWxJek", now, body).unwrap();
        headers.insert("webhook-signature", fresh.parse().unwrap());
        standardwebhooks::Webhook::new(&secret).unwrap().verify(body, &headers).unwrap();
    }
}
