//! The audit trail: who did what, when, from where, under which request. Each operation builds its line
//! here and hands it to the store with its change (`Effects`), so that the line and the change commit
//! together. A line holds ids, names and what changed, never a secret, a code or an image.

use serde_json::Value;
use smartauth_store::AuditEntry;

use crate::auth::{Admin, Tenant};
use crate::crypto;
use crate::error::current_request_id;

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

/// How an audit line is shown (`GET /audit`, `GET /admin/audit`). A tenant sees where its own calls
/// came from, not the operator's address or request ids.
pub fn describe(seq: i64, a: &AuditEntry, for_tenant: bool) -> Value {
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
        "cursor": seq.to_string(),
    })
}
