//! Tenants ("clients" in the Smart Auth documents): creation, secret rotation and a short-lived cache
//! so that verifying a token does not cost a database read and a decryption on every request.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use smartauth_store::{ClientRecord, Store};

use crate::cache::TtlCache;
use crate::crypto::{self, MasterKey};

pub struct ActiveClient {
    pub id: String,
    pub secret: String,
    pub validate_cpf: bool,
}

/// Clients by id; `None` remembers a disabled one. Unknown ids are not cached, so that tokens with
/// made-up issuers cannot fill or flush the cache.
#[derive(Default)]
pub struct ClientCache {
    entries: TtlCache<Option<Arc<ActiveClient>>>,
}

impl ClientCache {
    /// The enabled client with this id, or `None` when it does not exist or is disabled.
    pub async fn active(
        &self,
        store: &dyn Store,
        key: &MasterKey,
        client_id: &str,
    ) -> anyhow::Result<Option<Arc<ActiveClient>>> {
        if let Some(client) = self.entries.get(client_id) {
            return Ok(client);
        }
        let loaded = match store.client(client_id).await? {
            None => return Ok(None),
            Some(record) if record.disabled => None,
            Some(record) => Some(Arc::new(ActiveClient {
                secret: key.decrypt_text(&record.secret_enc).context("decrypting a client secret")?,
                id: record.id,
                validate_cpf: record.validate_cpf,
            })),
        };
        self.entries.insert(client_id.to_owned(), loaded.clone());
        Ok(loaded)
    }

    pub fn forget(&self, client_id: &str) {
        self.entries.forget(client_id);
    }
}

/// A newly created client with its secret, which is shown only this once.
pub struct NewClient {
    pub record: ClientRecord,
    pub secret: String,
}

pub async fn create(store: &dyn Store, key: &MasterKey, name: &str, validate_cpf: bool) -> anyhow::Result<NewClient> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty() && name.chars().count() <= 200, "a client name must be 1-200 characters");
    let secret = crypto::new_secret();
    let record = ClientRecord {
        id: crypto::new_id().to_string(),
        name: name.to_owned(),
        secret_enc: key.encrypt_text(&secret),
        disabled: false,
        validate_cpf,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    store.insert_client(&record).await?;
    Ok(NewClient { record, secret })
}

/// Replaces the secret; tokens signed with the old one stop working. `None` when there is no such client.
pub async fn rotate_secret(store: &dyn Store, key: &MasterKey, client_id: &str) -> anyhow::Result<Option<String>> {
    let secret = crypto::new_secret();
    Ok(store.set_client_secret(client_id, &key.encrypt_text(&secret)).await?.then_some(secret))
}

/// How a client is shown to the operator (never with its secret).
pub fn describe(c: &ClientRecord) -> serde_json::Value {
    let created = chrono::DateTime::from_timestamp_millis(c.created_at).unwrap_or_default();
    json!({
        "clientId": c.id,
        "name": c.name,
        "disabled": c.disabled,
        "validateCpf": c.validate_cpf,
        "createdAt": smartauth_domain::time::format(created),
    })
}
