//! Attempts: a step-up's change saved with its events (`save`), and attempts that wait too long: after the policy's `attemptTtlSeconds` a waiting attempt is refused
//! (`ATTEMPT_EXPIRED`), with its `authentication.reproved` event. A sweep closes them in the
//! background, and a step-up that arrives late closes its attempt itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use smartauth_domain::policy::DEFAULT_ATTEMPT_TTL_SECONDS;
use smartauth_domain::{Method, Status};
use smartauth_store::{AttemptRecord, Learned, Millis, NewEvent};

use crate::attempt::AttemptDoc;
use crate::startup::App;
use crate::webhooks;

pub const EXPIRED: &str = "ATTEMPT_EXPIRED";
/// Why a waiting attempt was refused when its person was erased: nobody is left to step up.
pub const IDENTITY_ERASED: &str = "IDENTITY_ERASED";
/// Why an attempt was refused when every step-up method it offered ran out of tries.
pub const METHODS_EXHAUSTED: &str = "METHODS_EXHAUSTED";

/// The step-up methods this server can offer at all (face models loaded, an SMTP relay, an SMS gateway).
#[derive(Debug, Clone, Copy)]
pub struct Offers {
    face: bool,
    email: bool,
    sms: bool,
}

impl Offers {
    pub fn of(app: &App) -> Offers {
        Offers { face: app.faces.is_some(), email: app.email.is_some(), sms: app.sms.is_some() }
    }

    /// The methods a person with these means on file (an enrolled face, an email, a phone) can complete here.
    pub fn for_person(self, face: bool, email: bool, phone: bool) -> Vec<Method> {
        let offered = [
            (Method::FaceAuthentication, face && self.face),
            (Method::EmailAuthentication, email && self.email),
            (Method::SmsAuthentication, phone && self.sms),
        ];
        offered.into_iter().filter_map(|(method, yes)| yes.then_some(method)).collect()
    }
}
const SWEEP_EVERY: Duration = Duration::from_secs(5);
const SWEEP_BATCH: u32 = 200;

/// Whether a waiting attempt has outlived its policy's wait (attempts made before the setting existed
/// wait the default).
pub fn has_expired(record: &AttemptRecord, doc: &AttemptDoc, now: Millis) -> bool {
    let default = record.created_at + i64::from(DEFAULT_ATTEMPT_TTL_SECONDS) * 1000;
    now >= doc.step_up.as_ref().and_then(|r| r.expires_at).unwrap_or(default)
}

/// Refuses a waiting attempt that expired; false when another writer changed it first.
pub async fn expire(app: &App, record: AttemptRecord, doc: AttemptDoc, now: Millis) -> anyhow::Result<bool> {
    let expired = close(app, record, doc, now, EXPIRED).await?;
    if expired {
        metrics::counter!("smartauth_attempts_expired_total").increment(1);
    }
    Ok(expired)
}

/// Refuses the waiting attempts `attempt_ids` (an erased person's): `IDENTITY_ERASED`, each with its
/// `authentication.reproved` event, so that the tenant's backend learns now rather than at expiry. One
/// another writer got to first (a step-up that ended it) is left as it is; should the server stop in
/// between, the sweep closes the rest at expiry.
pub async fn close_erased(app: &App, client_id: &str, attempt_ids: &[String]) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    for id in attempt_ids {
        let Some(record) = app.store.attempt(client_id, id).await? else { continue };
        if record.status != Status::Pending.as_str() {
            continue;
        }
        let doc = AttemptDoc::from_record(&record)?;
        close(app, record, doc, now, IDENTITY_ERASED).await?;
    }
    Ok(())
}

/// Refuses a waiting attempt for `reason`, with its event; false when another writer changed it first.
async fn close(
    app: &App,
    mut record: AttemptRecord,
    mut doc: AttemptDoc,
    now: Millis,
    reason: &str,
) -> anyhow::Result<bool> {
    record.status = Status::Reproved.as_str().into();
    doc.decided_at = Some(now);
    doc.step_up = None;
    doc.closed_reason = Some(reason.into());
    for method in doc.methods.values_mut().filter(|m| m.status == Status::Pending.as_str()) {
        method.status = Status::Reproved.as_str().into();
        method.challenge = None;
    }
    record.version += 1;
    doc.store_in(&mut record)?;
    let events = [webhooks::attempt_event(&record, &doc)];
    let closed = app.store.update_attempt_with(&record, None, &events).await?;
    if closed {
        app.webhook_wakeup.ring();
        crate::telemetry::step_up_ended(&record, &doc);
    }
    Ok(closed)
}

/// Whether the person completed a step-up on the attempt.
fn stepped_up(doc: &AttemptDoc) -> bool {
    doc.methods.values().any(|m| m.status == Status::Approved.as_str())
}

/// Which of the attempt's device, location and network an approval vouches for (see `learned_from`): those
/// its policy evaluated, or all after a step-up. A replay reads the location's (an approval whose place
/// was not vouched for is not the last approved place a travel is measured from, as it is not learnt).
pub fn vouched(doc: &AttemptDoc) -> [bool; 3] {
    let stepped_up = stepped_up(doc);
    let e = &doc.evaluation;
    [&e.device_context, &e.location_context, &e.network_context].map(|v| stepped_up || v.reason != "CONTEXT_DISABLED")
}

/// What an approved attempt teaches about its person. No network: nothing reads a known one (the network
/// check looks at the address itself), so the address is not kept. A place and a device are learnt as known
/// only when something vouched for them: the policy evaluated them (and approved), or the person completed
/// a step-up (they proved who they are, there, on that device). A policy that does not look at a context
/// must not make it known for the strict ones: a login that ignores places, approving a known phone in a new
/// city, would make that city safe for transfers. A fingerprint not vouched for is still recorded, as seen
/// but not known, to count the device's people. A known key does not teach the fingerprint it came with
/// without a step-up, so that one key cannot make any number of fingerprints known (a web fingerprint is
/// shared by every phone of a model).
pub fn learned_from(record: &AttemptRecord, doc: &AttemptDoc) -> Option<Learned> {
    let stepped_up = stepped_up(doc);
    let [device_vouched, location, _] = vouched(doc);
    // The fingerprint and the key are recorded whatever the policy looked at, as their rows also count the
    // people of a device (`maxIdentitiesPerDevice`), which a device-blind login must not hide; they become
    // known to the person only when vouched for.
    let key = doc.device.as_ref().and_then(|d| d.key.clone());
    let fingerprint = doc.device.as_ref().and_then(|d| d.fingerprint.clone());
    let by_key_alone = !stepped_up && doc.evaluation.device_context.reason == "KNOWN_DEVICE_KEY";
    let location = doc.location.as_ref().filter(|_| location);
    Some(Learned {
        client_id: record.client_id.clone(),
        person_id: record.person_id.clone()?,
        fingerprint,
        fingerprint_vouched: device_vouched && !by_key_alone,
        location: location.map(|l| (l.coordinates.latitude(), l.coordinates.longitude())),
        location_accuracy: location.and_then(|l| l.accuracy),
        device_key: key,
        device_key_vouched: device_vouched,
        at: record.created_at,
        known_at: doc.decided_at.unwrap_or(record.created_at).max(record.created_at),
    })
}

/// Writes a step-up's change to a waiting attempt, with `extra` events and, when the attempt ended, its
/// `authentication.<status>` event, in one transaction.
pub async fn save(
    app: &App,
    record: &mut AttemptRecord,
    doc: &AttemptDoc,
    approved: bool,
    extra: Vec<NewEvent>,
) -> anyhow::Result<bool> {
    record.version += 1;
    doc.store_in(record)?;
    let learned = if approved { learned_from(record, doc) } else { None };
    let mut events = extra;
    if record.status != Status::Pending.as_str() {
        events.push(webhooks::attempt_event(record, doc));
    }
    let saved = app.store.update_attempt_with(record, learned.as_ref(), &events).await?;
    if saved && !events.is_empty() {
        app.webhook_wakeup.ring();
    }
    if saved {
        crate::telemetry::step_up_ended(record, doc);
    }
    Ok(saved)
}

/// Closes the waiting attempts whose time is up (every tenant's, the longest expired first); returns how
/// many.
pub async fn sweep_once(app: &App) -> anyhow::Result<usize> {
    let now = Utc::now().timestamp_millis();
    let mut closed = 0;
    for record in app.store.expired_attempts(now, SWEEP_BATCH).await? {
        // One unreadable document must not stop the sweep for everyone.
        let doc = match AttemptDoc::from_record(&record) {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(attempt_id = %record.id, error = %e, "an expired attempt cannot be read; skipped");
                continue;
            }
        };
        if expire(app, record, doc, now).await? {
            closed += 1;
        }
    }
    Ok(closed)
}

pub fn spawn_sweeper(app: Arc<App>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = sweep_once(&app).await {
                tracing::warn!(error = %format!("{e:#}"), "closing expired attempts failed; retrying");
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    });
}
