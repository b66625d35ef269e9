//! Policies: store one, and say plainly which of its rules this server cannot apply, so that a tenant
//! does not believe it is protected by them.

use serde_json::json;
use smartauth_domain::{Method, Policy};
use smartauth_store::{Effects, PolicyRecord};

use crate::crypto;
use crate::ops::audit::Actor;
use crate::startup::App;
use crate::webhooks;

pub struct Stored {
    pub record: PolicyRecord,
    /// Rules and methods the server accepted but cannot apply or offer with its data and settings.
    pub warnings: Vec<String>,
}

/// Creates or replaces the tenant's policy of that id, with its `policy.changed` event and an audit
/// line that holds the policy before and after.
pub async fn put(app: &App, actor: &Actor, client_id: &str, policy: Policy) -> smartauth_store::Result<Stored> {
    let now = chrono::Utc::now().timestamp_millis();
    let before = app.store.policy(client_id, &policy.policy_id).await?;
    let change = if before.is_some() { "updated" } else { "created" };
    let detail = json!({"before": before.as_ref().map(|b| &b.policy), "after": &policy});
    let audit = actor.line(Some(client_id), "policy.changed", Some(&policy.policy_id), Some(detail));
    let events =
        [webhooks::event(client_id, "policy.changed", json!({"policyId": policy.policy_id, "change": change}))];
    let record = PolicyRecord {
        id: crypto::new_id().to_string(),
        client_id: client_id.to_owned(),
        policy,
        created_at: now,
        updated_at: now,
    };
    let record = app.store.put_policy_with(&record, Effects { events: &events, audit: Some(&audit) }).await?;
    app.forget_policy(client_id, &record.policy.policy_id);
    app.webhook_wakeup.ring();
    let mut warnings = unenforceable_rules(app, &record.policy);
    warnings.extend(left_out(
        &record.policy,
        "the policy",
        "it approves without looking at it, and its approvals do not make it known to other policies",
    ));
    Ok(Stored { record, warnings })
}

/// Deletes the tenant's policy, with its event and audit line; false when there was none.
pub async fn delete(app: &App, actor: &Actor, client_id: &str, policy_id: &str) -> smartauth_store::Result<bool> {
    let before = app.store.policy(client_id, policy_id).await?;
    let detail = json!({"before": before.as_ref().map(|b| &b.policy), "after": null});
    let audit = actor.line(Some(client_id), "policy.deleted", Some(policy_id), Some(detail));
    let events = [webhooks::event(client_id, "policy.changed", json!({"policyId": policy_id, "change": "deleted"}))];
    let deleted =
        app.store.delete_policy_with(client_id, policy_id, Effects { events: &events, audit: Some(&audit) }).await?;
    app.forget_policy(client_id, policy_id);
    app.webhook_wakeup.ring();
    Ok(deleted)
}

/// Why this server cannot offer `method` to anyone, or `None` when it can.
pub fn why_not_offered(app: &App, method: Method) -> Option<&'static str> {
    match method {
        Method::FaceAuthentication if app.faces.is_none() => {
            Some("face models are not loaded (run scripts/fetch-data.sh, or set SMARTAUTH_MODELS_DIR)")
        }
        Method::EmailAuthentication if app.email.is_none() => Some("no SMTP relay is configured (SMARTAUTH_SMTP_URL)"),
        Method::SmsAuthentication if app.sms.is_none() => {
            Some("no SMS gateway is configured (SMARTAUTH_SMS_GATEWAY_URL)")
        }
        _ => None,
    }
}

/// What a replay's answer warns of its candidate: the rules this server cannot enforce, as `PUT` says, and
/// the contexts it leaves out (they are not evaluated, so a partial candidate reads as lenient).
pub fn candidate_warnings(app: &App, candidate: &Policy) -> Vec<String> {
    let mut warnings = unenforceable_rules(app, candidate);
    warnings.extend(left_out(candidate, "the candidate", "a partial candidate reads as lenient"));
    warnings
}

/// A note for each context `policy` leaves out (not evaluated; `{}` turns one on with its defaults).
fn left_out(policy: &Policy, what: &str, so: &str) -> Vec<String> {
    let c = &policy.contexts;
    [
        ("device_context", c.device_context.is_none()),
        ("location_context", c.location_context.is_none()),
        ("network_context", c.network_context.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| {
        format!(
            "contexts.{name} is left out of {what}, so it is not evaluated ({{}} evaluates it with its defaults): {so}"
        )
    })
    .collect()
}

fn unenforceable_rules(app: &App, policy: &Policy) -> Vec<String> {
    let mut warnings = Vec::new();
    if policy.codes.ttl_seconds > policy.attempt_ttl_seconds {
        warnings.push(format!(
            "codes.ttlSeconds ({} s) is longer than attemptTtlSeconds ({} s): a code outlives its attempt, which \
             expires first",
            policy.codes.ttl_seconds, policy.attempt_ttl_seconds
        ));
    }
    let contexts = &policy.contexts;
    if let Some(n) = contexts.network_context.as_ref().filter(|n| n.enabled && !app.intel.knows_anonymizers()) {
        if !(n.allow_proxy_or_vpn && n.allow_tor && n.allow_hosting) {
            warnings.push(
                "network_context: the anonymizer ranges are not loaded (run scripts/fetch-data.sh), so the VPN, \
                 proxy, Tor and hosting rules cannot refuse anything"
                    .to_owned(),
            );
        }
    }
    if !app.intel.knows_countries()
        && contexts.location_context.as_ref().is_some_and(|l| l.enabled && !l.blocked_countries.is_empty())
    {
        warnings.push(
            "location_context.blockedCountries: no IP city or places data is loaded (run scripts/fetch-data.sh), \
             so countries are not recognised"
                .to_owned(),
        );
    }
    let methods = &policy.reauthentication_methods;
    let mut offered = 0;
    for &method in methods {
        match why_not_offered(app, method) {
            Some(reason) => {
                warnings.push(format!("reauthenticationMethods: {reason}, so {} is not offered", method.as_str()))
            }
            None => offered += 1,
        }
    }
    if offered == 0 && !methods.is_empty() {
        warnings.push(
            "reauthenticationMethods: this server can offer none of them, so every attempt that needs a step-up is \
             reproved"
                .to_owned(),
        );
    }
    warnings
}
