//! Identities: enrol, change and erase a person, each with its audit line and event in the same
//! transaction as the change. The JSON API calls these; the dashboard will too.

use std::sync::Arc;

use serde_json::json;
use smartauth_store::{Effects, IdentityChange, IdentityRecord};

use crate::attempt::{anonymize, ts};
use crate::ops::audit::Actor;
use crate::startup::App;
use crate::webhooks;

/// Stores a new identity, with `identity.created`. `StoreError::Conflict` when the person exists.
pub async fn create(app: &App, actor: &Actor, record: &IdentityRecord) -> smartauth_store::Result<()> {
    let client_id = record.client_id.as_str();
    let audit = actor.line(Some(client_id), "identity.created", Some(&record.person_id), None);
    let events = [webhooks::event(
        client_id,
        "identity.created",
        json!({"personId": record.person_id, "id": record.id, "createdAt": ts(record.created_at)}),
    )];
    app.store.insert_identity_with(record, Effects { events: &events, audit: Some(&audit) }).await?;
    app.webhook_wakeup.ring();
    Ok(())
}

/// Changes the fields `change` names, each as it is now otherwise (a concurrent change to another field
/// stays), with the audit line naming them (never their values: the trail holds no contact details or faces).
/// The identity as changed; none when the person is gone. A change that names no field writes nothing (no
/// `updatedAt`, no audit line): the identity as it is.
pub async fn update(
    app: &App,
    actor: &Actor,
    client_id: &str,
    person_id: &str,
    change: &IdentityChange,
) -> smartauth_store::Result<Option<IdentityRecord>> {
    if change.fields().is_empty() {
        return app.store.identity(client_id, person_id).await;
    }
    let audit =
        actor.line(Some(client_id), "identity.updated", Some(person_id), Some(json!({"changed": change.fields()})));
    app.store.change_identity_with(client_id, person_id, change, Effects { events: &[], audit: Some(&audit) }).await
}

/// Erasure (LGPD): the identity, its face, contacts and known contexts are deleted, its attempts kept
/// anonymized (those still waiting for a step-up refused, `IDENTITY_ERASED`), and the images of its attempts
/// (selfies, and the enrolled face they were compared with) removed, with `identity.deleted`. False when
/// there was no such person.
pub async fn erase(app: &App, actor: &Actor, client_id: &str, person_id: &str) -> smartauth_store::Result<bool> {
    let audit = actor.line(Some(client_id), "identity.erased", Some(person_id), None);
    let events = [webhooks::event(client_id, "identity.deleted", json!({"personId": person_id}))];
    let effects = Effects { events: &events, audit: Some(&audit) };
    let Some(erased) = app.store.erase_identity_with(client_id, person_id, &anonymize, effects).await? else {
        return Ok(false);
    };
    app.webhook_wakeup.ring();
    app.erased.notify_one();
    // The erasure is done (no attempt can be made for the person any more); one left waiting here, should
    // the server stop, is closed by the sweep at its expiry.
    if let Err(e) = crate::ops::attempts::close_erased(app, client_id, &erased.waiting).await {
        tracing::warn!(error = %format!("{e:#}"), "an erased person's waiting attempts were not all closed");
    }
    if let Some(faces) = &app.faces {
        faces.forget_media(client_id, &erased.attempt_ids).await;
    }
    Ok(true)
}

/// How long the journal cleaner keeps trying after an erasure, once a second, while readers hold the journal.
const JOURNAL_TRIES: u32 = 60;

/// After each erasure, empties the database's journal (`Store::truncate_journal`): the rows were overwritten
/// in the database file (`secure_delete`), but the journal kept the versions written before, until the
/// next checkpoint reused its space (on a quiet server, for ever). It waits for no reader: it tries again
/// each second, up to a minute; erasures meanwhile are covered by the same emptying.
pub fn spawn_journal_cleaner(app: Arc<App>) {
    tokio::spawn(async move {
        loop {
            app.erased.notified().await;
            let mut emptied = false;
            for _ in 0..JOURNAL_TRIES {
                match app.store.truncate_journal().await {
                    Ok(true) => {
                        emptied = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "emptying the journal after an erasure failed"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            if !emptied {
                tracing::warn!("the journal could not be emptied after an erasure (readers held it for a minute)");
            }
        }
    });
}
