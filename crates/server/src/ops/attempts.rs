//! Attempts that wait too long: after the policy's `attemptTtlSeconds` a waiting attempt is refused
//! (`ATTEMPT_EXPIRED`), with its `authentication.reproved` event. A sweep closes them in the
//! background, and a step-up that arrives late closes its attempt itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use smartauth_domain::policy::DEFAULT_ATTEMPT_TTL_SECONDS;
use smartauth_domain::Status;
use smartauth_store::{AttemptRecord, Millis};

use crate::attempt::AttemptDoc;
use crate::startup::App;
use crate::webhooks;

pub const EXPIRED: &str = "ATTEMPT_EXPIRED";
const SWEEP_EVERY: Duration = Duration::from_secs(5);
const SWEEP_BATCH: u32 = 200;

/// Whether a waiting attempt has outlived its policy's wait (attempts made before the setting existed
/// wait the default).
pub fn has_expired(record: &AttemptRecord, doc: &AttemptDoc, now: Millis) -> bool {
    let default = record.created_at + i64::from(DEFAULT_ATTEMPT_TTL_SECONDS) * 1000;
    now >= doc.step_up.as_ref().and_then(|r| r.expires_at).unwrap_or(default)
}

/// Refuses a waiting attempt that expired; false when another writer changed it first.
pub async fn expire(app: &App, mut record: AttemptRecord, mut doc: AttemptDoc, now: Millis) -> anyhow::Result<bool> {
    record.status = Status::Reproved.as_str().into();
    doc.decided_at = Some(now);
    doc.step_up = None;
    doc.closed_reason = Some(EXPIRED.into());
    for method in doc.methods.values_mut().filter(|m| m.status == Status::Pending.as_str()) {
        method.status = Status::Reproved.as_str().into();
        method.challenge = None;
    }
    record.version += 1;
    record.document = serde_json::to_string(&doc)?;
    let events = [webhooks::attempt_event(&record, &doc)];
    let expired = app.store.update_attempt_with(&record, None, &events).await?;
    if expired {
        app.webhook_wakeup.ring();
        metrics::counter!("smartauth_attempts_expired_total").increment(1);
        crate::telemetry::step_up_ended(&record, &doc);
    }
    Ok(expired)
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
