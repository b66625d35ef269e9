//! The audit trail: who did what, when, from where, under which request. Each operation builds its line
//! here and hands it to the store with its change (`Effects`), so that the line and the change commit
//! together. A line holds ids, names and what changed, never a secret, a code or an image.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use smartauth_store::AuditEntry;

use crate::auth::{Admin, Tenant};
use crate::crypto;
use crate::error::current_request_id;
use crate::startup::App;

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `admin`, `client:<clientId>` (a backend token), `sdk:<clientId>` (a person-scoped token), `cli`.
    pub who: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn admin(admin: &Admin) -> Actor {
        Actor { who: "admin".into(), ip: Some(admin.ip.to_string()) }
    }

    pub fn tenant(tenant: &Tenant) -> Actor {
        let kind = if tenant.person.is_some() { "sdk" } else { "client" };
        Actor { who: format!("{kind}:{}", tenant.client_id()), ip: tenant.ip.map(|ip| ip.to_string()) }
    }

    /// The operator at the command line.
    pub fn cli() -> Actor {
        Actor { who: "cli".into(), ip: None }
    }

    /// The server itself (a subscription disabled for failing, say).
    pub fn server() -> Actor {
        Actor { who: "server".into(), ip: None }
    }

    pub fn line(
        &self,
        client_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        detail: Option<Value>,
    ) -> AuditEntry {
        let request_id = current_request_id();
        AuditEntry {
            id: crypto::new_id().to_string(),
            client_id: client_id.map(str::to_owned),
            actor: self.who.clone(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            detail: detail.map(|d| d.to_string()),
            ip: self.ip.clone(),
            request_id: (!request_id.is_empty()).then_some(request_id),
            at: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// What an audit page's cursors are valid for ([`crate::crypto::MasterKey::seal_position`]): a tenant's trail, or
/// the operator's whole one. A line's place in the trail is shared by all tenants and never shown as it is.
pub fn position_scope(client_id: Option<&str>) -> String {
    match client_id {
        Some(c) => format!("audit:{c}"),
        None => "audit:*".to_owned(),
    }
}

/// How an audit line is shown (`GET /audit`, `GET /admin/audit`), with its `cursor` (the page after it
/// starts there). A tenant sees where its own calls came from, not the operator's address or request ids.
pub fn describe(a: &AuditEntry, cursor: &str, for_tenant: bool) -> Value {
    let own = !for_tenant || a.actor.starts_with("client:") || a.actor.starts_with("sdk:");
    let at = chrono::DateTime::from_timestamp_millis(a.at).unwrap_or_default();
    serde_json::json!({
        "id": a.id,
        "clientId": a.client_id,
        "actor": a.actor,
        "action": a.action,
        "target": a.target,
        "detail": a.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
        "ip": if own { a.ip.as_deref() } else { None },
        "requestId": if own { a.request_id.as_deref() } else { None },
        "at": smartauth_domain::time::format(at),
        "cursor": cursor,
    })
}

/// How often lines past their retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: u32 = 1_000;

/// Deletes, at start and then hourly, the audit lines older than `days` (`SMARTAUTH_AUDIT_RETENTION_DAYS`).
pub fn spawn_pruner(app: Arc<App>, days: u32) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = prune(&app, days).await {
                tracing::warn!(error = %format!("{e:#}"), "pruning the audit trail failed; retrying in an hour");
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    });
}

/// Deletes the lines older than `days`, a batch at a time (each its own short write), and says so in a
/// line of its own: the trail shows when and up to when it was cut. Returns how many went.
pub async fn prune(app: &App, days: u32) -> anyhow::Result<u64> {
    let now = chrono::Utc::now();
    let before = now - chrono::Duration::days(i64::from(days));
    let mut pruned = 0;
    loop {
        let batch = app.store.prune_audit(before.timestamp_millis(), PRUNE_BATCH).await?;
        pruned += batch;
        if batch < u64::from(PRUNE_BATCH) {
            break;
        }
    }
    if pruned > 0 {
        let before = smartauth_domain::time::format(before);
        let detail = serde_json::json!({"before": before, "lines": pruned, "retentionDays": days});
        app.store.insert_audit(&Actor::server().line(None, "audit.pruned", None, Some(detail))).await?;
        tracing::info!(lines = pruned, %before, "audit lines past their retention deleted");
    }
    Ok(pruned)
}
