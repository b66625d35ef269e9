//! A tenant's webhook subscriptions: create, change, rotate the secret, delete, test, redeliver. Each
//! change writes its audit line in the same transaction.

use serde_json::{json, Value};
use smartauth_store::{AuditEntry, Delivery, Effects, Millis, PreviousSecret, WebhookRecord};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::fetch::FetchError;
use crate::ops::audit::Actor;
use crate::startup::App;
use crate::webhooks::{self, EVENT_TYPES};

/// Subscriptions per tenant: every event reads them all.
pub const MAX_WEBHOOKS_PER_CLIENT: u32 = 20;
/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

/// A subscription's fields as the tenant sets them.
#[derive(Debug, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    /// `Some(false)` disables, `Some(true)` enables again (and forgets the failing streak).
    pub enabled: Option<bool>,
}

async fn check_url(app: &App, url: &str) -> ApiResult<String> {
    let url = url.trim();
    if url.len() > 2048 {
        return Err(ApiError::BadRequest("url must be at most 2048 characters".into()));
    }
    match app.fetcher.check_target(url).await {
        Ok(()) => Ok(url.to_owned()),
        Err(e) => Err(ApiError::BadRequest(target_refusal(&e))),
    }
}

/// Why this server will not reach a subscription's url, in the subscription's words (the fetcher's own
/// name `imageUrl`, the other URL it fetches): at subscription, and in a delivery's `lastError`.
pub fn target_refusal(e: &FetchError) -> String {
    match e {
        FetchError::BadUrl => "url must be an http or https URL without credentials".into(),
        FetchError::NotPublic => "url must name a host that resolves to public addresses only; this one does not \
                                  resolve, or it is private, loopback or reserved (SMARTAUTH_ALLOW_PRIVATE_TARGETS \
                                  allows those)"
            .into(),
        FetchError::Failed(why) => why.clone(),
        FetchError::TooLarge => e.to_string(),
    }
}

fn check_events(events: &[String]) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::BadRequest(format!("events must name at least one of {}", EVENT_TYPES.join(", "))));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(ApiError::BadRequest(format!("unknown event {e:?}; known: {}", EVENT_TYPES.join(", "))));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

fn check_description(d: Option<String>) -> ApiResult<Option<String>> {
    match d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()) {
        Some(d) if d.chars().count() > 200 => {
            Err(ApiError::BadRequest("description must be at most 200 characters".into()))
        }
        Some(d) => match smartauth_domain::text::hidden_in_name(&d) {
            Some(c) => Err(ApiError::BadRequest(format!(
                "description must not contain {}",
                smartauth_domain::text::describe(c)
            ))),
            None => Ok(Some(d)),
        },
        None => Ok(None),
    }
}

/// How a subscription is shown (never with its secret, which is shown once, when made).
pub fn describe(w: &WebhookRecord) -> Value {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(smartauth_domain::time::format);
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "description": w.description,
        "enabled": w.disabled_at.is_none(),
        "disabledAt": w.disabled_at.and_then(time),
        "disabledReason": w.disabled_reason,
        "failingSince": w.failing_since.and_then(time),
        "previousSecretExpiresAt": w.previous_secret.as_ref().and_then(|p| time(p.expires_at)),
        "createdAt": time(w.created_at),
        "updatedAt": time(w.updated_at),
    })
}

/// A new subscription and its secret (shown once).
pub async fn create(
    app: &App,
    actor: &Actor,
    client_id: &str,
    url: &str,
    events: &[String],
    description: Option<String>,
) -> ApiResult<(WebhookRecord, String)> {
    let url = check_url(app, url).await?;
    let events = check_events(events)?;
    let description = check_description(description)?;
    let secret = webhooks::new_secret();
    let now = chrono::Utc::now().timestamp_millis();
    let record = WebhookRecord {
        id: crypto::new_id().to_string(),
        client_id: client_id.to_owned(),
        url,
        events,
        description,
        secret_enc: app.key.encrypt_text(&secret),
        previous_secret: None,
        disabled_at: None,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let audit = actor.line(
        Some(client_id),
        "webhook.created",
        Some(&record.id),
        Some(json!({"url": record.url, "events": record.events})),
    );
    let effects = Effects { events: &[], audit: Some(&audit) };
    if !app.store.insert_webhook(&record, MAX_WEBHOOKS_PER_CLIENT, effects).await? {
        return Err(ApiError::Conflict(format!(
            "a client has at most {MAX_WEBHOOKS_PER_CLIENT} webhook subscriptions"
        )));
    }
    Ok((record, secret))
}

pub async fn update(app: &App, actor: &Actor, client_id: &str, id: &str, changes: Changes) -> ApiResult<WebhookRecord> {
    let mut record = app.store.webhook(client_id, id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    let version = record.updated_at;
    let before = describe(&record);
    if let Some(url) = changes.url {
        record.url = check_url(app, &url).await?;
    }
    if let Some(events) = changes.events {
        record.events = check_events(&events)?;
    }
    if let Some(description) = changes.description {
        record.description = check_description(description)?;
    }
    let now = chrono::Utc::now().timestamp_millis();
    match changes.enabled {
        Some(false) if record.disabled_at.is_none() => {
            record.disabled_at = Some(now);
            record.disabled_reason = Some("disabled by the tenant".into());
        }
        Some(true) => {
            record.disabled_at = None;
            record.disabled_reason = None;
            record.failing_since = None;
        }
        _ => {}
    }
    record.updated_at = now;
    let detail = json!({"before": before, "after": describe(&record)});
    let audit = actor.line(Some(client_id), "webhook.changed", Some(id), Some(detail));
    save(app, &record, version, &audit).await?;
    Ok(record)
}

/// Writes a changed subscription read at `version`: 404 when it is gone, 409 when it changed meanwhile.
async fn save(app: &App, record: &WebhookRecord, version: Millis, audit: &AuditEntry) -> ApiResult<()> {
    if app.store.update_webhook(record, version, Effects { events: &[], audit: Some(audit) }).await? {
        return Ok(());
    }
    match app.store.webhook(&record.client_id, &record.id).await? {
        Some(_) => Err(ApiError::Conflict(
            "the subscription changed while this request was being made (its receiver may have disabled it): read \
             it again and retry"
                .into(),
        )),
        None => Err(ApiError::not_found("webhook")),
    }
}

/// A new secret; the old one keeps signing beside it (two signatures) for 24 hours.
/// A new signing secret; the one it replaces keeps signing beside it for `grace_seconds` (0 to 86,400; by
/// default 24 h). Without `grace_seconds`, a rotation during another's overlap is refused: it would end that
/// overlap at once. Naming it rotates all the same (a leaked secret: `0` stops it now); the older secret,
/// if it still signed, stops.
pub async fn rotate_secret(
    app: &App,
    actor: &Actor,
    client_id: &str,
    id: &str,
    grace_seconds: Option<u32>,
) -> ApiResult<(WebhookRecord, String)> {
    if grace_seconds.is_some_and(|s| i64::from(s) * 1000 > ROTATION_OVERLAP_MS) {
        return Err(ApiError::BadRequest(
            "graceSeconds must be between 0 (the old secret stops signing at once) and 86400 (24 h)".into(),
        ));
    }
    let mut record = app.store.webhook(client_id, id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    let version = record.updated_at;
    let now = chrono::Utc::now().timestamp_millis();
    if grace_seconds.is_none() && record.previous_secret.as_ref().is_some_and(|p| p.expires_at > now) {
        return Err(ApiError::Conflict(
            "the secret was rotated less than 24 hours ago and the previous one still signs; rotate again when its \
             overlap ends (previousSecretExpiresAt), or name graceSeconds to rotate now (0 stops the current secret \
             at once)"
                .into(),
        ));
    }
    let overlap = grace_seconds.map_or(ROTATION_OVERLAP_MS, |s| i64::from(s) * 1000);
    let secret = webhooks::new_secret();
    // With no overlap the old secret is gone at once: nothing of it is kept (nor shown as expiring).
    record.previous_secret =
        (overlap > 0).then(|| PreviousSecret { secret_enc: record.secret_enc.clone(), expires_at: now + overlap });
    record.secret_enc = app.key.encrypt_text(&secret);
    record.updated_at = now;
    let detail = json!({"graceSeconds": overlap / 1000});
    let audit = actor.line(Some(client_id), "webhook.secret_rotated", Some(id), Some(detail));
    save(app, &record, version, &audit).await?;
    Ok((record, secret))
}

pub async fn delete(app: &App, actor: &Actor, client_id: &str, id: &str) -> ApiResult<()> {
    let audit = actor.line(Some(client_id), "webhook.deleted", Some(id), None);
    match app.store.delete_webhook(client_id, id, Effects { events: &[], audit: Some(&audit) }).await? {
        true => Ok(()),
        false => Err(ApiError::not_found("webhook")),
    }
}

/// The subscription, to send to: 404 when there is none, 409 when it is disabled (nothing would be sent).
async fn enabled(app: &App, client_id: &str, id: &str) -> ApiResult<WebhookRecord> {
    let record = app.store.webhook(client_id, id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    if record.disabled_at.is_some() {
        return Err(ApiError::Conflict(
            "the subscription is disabled; enable it first (PATCH {\"enabled\": true})".into(),
        ));
    }
    Ok(record)
}

/// Deliveries a subscription may have waiting before test events are refused.
const MAX_WAITING_FOR_TEST: u64 = 100;

/// Queues a `webhook.test` event for this subscription only.
pub async fn test(app: &App, client_id: &str, id: &str) -> ApiResult<String> {
    let record = enabled(app, client_id, id).await?;
    if app.store.waiting_deliveries(client_id, id).await? >= MAX_WAITING_FOR_TEST {
        return Err(ApiError::TooManyRequests {
            message: format!("{MAX_WAITING_FOR_TEST} deliveries already wait for this subscription"),
            retry_after_secs: 60,
        });
    }
    let event = webhooks::event(client_id, webhooks::TEST_EVENT, json!({"webhookId": record.id, "test": true}));
    app.store.insert_event_for(&record.id, &event).await?;
    app.webhook_wakeup.ring();
    Ok(event.id)
}

pub async fn redeliver(app: &App, client_id: &str, id: &str, delivery_id: &str) -> ApiResult<()> {
    enabled(app, client_id, id).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let Some(seq) = app.key.open_position(&position_scope(id), delivery_id) else {
        return Err(ApiError::not_found("delivery"));
    };
    if !app.store.redeliver(client_id, id, seq, now).await? {
        return Err(ApiError::not_found("delivery"));
    }
    app.webhook_wakeup.ring();
    Ok(())
}

/// What a subscription's delivery ids and page cursors are valid for ([`crate::crypto::MasterKey::seal_position`]):
/// the event's place in the outbox, shared by all tenants, is never shown as it is.
pub fn position_scope(webhook_id: &str) -> String {
    format!("webhook:{webhook_id}")
}

/// A delivery as the API lists it, at `now`, with its `id`: its event's place in the outbox, sealed
/// ([`crate::ops::pages::SharedPage::name`]).
pub fn describe_delivery(id: &str, d: &Delivery, now: Millis) -> Value {
    let time = |ms: Millis| chrono::DateTime::from_timestamp_millis(ms).map(smartauth_domain::time::format);
    // Held by a dispatcher: being sent now, or, if that process died, sent again when its hold ends.
    let held = d.lease_until.filter(|&until| d.status == "pending" && until > now);
    json!({
        "id": id,
        "eventId": d.event_id,
        "event": d.event_type,
        "status": d.status,
        "tries": d.tries,
        "lastResponseStatus": d.last_status,
        "lastError": d.last_error,
        "lastTryAt": d.last_try_at.and_then(time),
        "nextTryAt": (d.status == "pending").then(|| time(d.next_try_at.max(held.unwrap_or(0)))).flatten(),
        "sending": held.is_some(),
        "createdAt": time(d.created_at),
    })
}

/// After a receiver's outage: every delivery of the subscription made since `since` that waits for its next
/// retry, or was given up, is sent again now instead of at the end of its backoff. Returns how many. Its audit
/// line follows the change (it names how many were queued), unlike the other changes here.
pub async fn recover(app: &App, actor: &Actor, client_id: &str, id: &str, since: Millis) -> ApiResult<u64> {
    enabled(app, client_id, id).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let queued = app.store.recover_deliveries(client_id, id, since, now).await?;
    let detail = json!({"since": crate::attempt::ts(since), "queued": queued});
    app.store.insert_audit(&actor.line(Some(client_id), "webhook.recovered", Some(id), Some(detail))).await?;
    app.webhook_wakeup.ring();
    Ok(queued)
}
