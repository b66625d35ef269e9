//! Webhooks against a real HTTP receiver, and the audit trail.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as AxPath, State as AxState};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

/// What the receiver does with the next request to a path: answer this status (with `Retry-After`),
/// or wait before answering.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    Hang(Duration),
}

#[derive(Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<std::collections::HashMap<String, VecDeque<Reply>>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new().route("/{path}", axum::routing::post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, address)
    }

    fn script(&self, path: &str, replies: &[Reply]) {
        self.script.lock().unwrap().insert(path.into(), replies.iter().copied().collect());
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Vec<Received> {
        let start = Instant::now();
        while start.elapsed() < within {
            let got = self.at(path);
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path}: {} of {count} requests arrived within {within:?}", self.at(path).len());
    }
}

async fn receive(
    AxState(r): AxState<Receiver>,
    AxPath(path): AxPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    r.received.lock().unwrap().push(Received { path: path.clone(), headers, body, at: Instant::now() });
    let reply = r.script.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
    match reply.unwrap_or(Reply::Status(204)) {
        Reply::Status(s) => AxStatus::from_u16(s).unwrap().into_response(),
        Reply::RetryAfter(s, secs) => {
            (AxStatus::from_u16(s).unwrap(), [("retry-after", secs.to_string())]).into_response()
        }
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            AxStatus::OK.into_response()
        }
    }
}

async fn fast_retries() -> TestApp {
    spawn_app_with(|s| {
        s.allow_private_targets = true;
        s.webhooks.retry = vec![Duration::from_secs(1); 3];
        s.webhooks.timeout = Duration::from_secs(2);
    })
    .await
}

async fn subscribe(app: &TestApp, tenant: &Tenant, url: &str, events: &[&str]) -> Value {
    let a = app.post("/webhooks", &backend(tenant), json!({"url": url, "events": events, "description": "test"})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body["secret"].as_str().unwrap().starts_with("whsec_"));
    a.body
}

fn body_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn every_decision_reaches_the_receiver_as_a_signed_cloudevent() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.new_tenant().await;
    let all = [
        "authentication.approved",
        "authentication.pending",
        "authentication.reproved",
        "identity.created",
        "identity.deleted",
        "policy.changed",
    ];
    let hook = subscribe(&app, &tenant, &format!("{base}/all"), &all).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    app.put_policy(&tenant, "pix", json!({})).await;
    app.create_identity(&tenant, "alice").await;
    app.approve_by_email(&tenant, "alice", "fp-1", (-23.56, -46.63)).await;
    let got = receiver.wait_for("all", 4, Duration::from_secs(10)).await;
    let types: Vec<String> = got.iter().map(|r| body_of(r)["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["policy.changed", "identity.created", "authentication.pending", "authentication.approved"]);

    let approved = got.iter().find(|r| body_of(r)["type"] == "authentication.approved").unwrap();
    let event = body_of(approved);
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["datacontenttype"], "application/json");
    assert_eq!(event["source"], format!("smartauth/clients/{}", tenant.client_id));
    assert_eq!(event["data"]["personId"], "alice");
    assert_eq!(event["data"]["policyId"], "pix");
    assert_eq!(event["data"]["status"], "approved");
    assert_eq!(event["data"]["isAuthorized"], true);
    assert_eq!(approved.headers["webhook-id"].to_str().unwrap(), event["id"].as_str().unwrap());
    // The official Standard Webhooks library accepts it; a changed body is refused.
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    verifier.verify(&approved.body, &approved.headers).expect("a valid Standard Webhooks signature");
    let mut forged = approved.body.to_vec();
    forged[10] ^= 1;
    assert!(verifier.verify(&forged, &approved.headers).is_err());
    // The README's receiver code agrees.
    assert!(crate::webhook_snippet::verify(&approved.body, &approved.headers, &secret).is_some());
    assert!(crate::webhook_snippet::verify(&forged, &approved.headers, &secret).is_none());
    assert!(crate::webhook_snippet::caf_ok(&approved.body, &approved.headers, &tenant.secret));
    // CAF's header: hex HMAC-SHA256 of the raw body with the client secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(tenant.secret.as_bytes()).unwrap();
    mac.update(&approved.body);
    assert_eq!(approved.headers["x-caf-signature"].to_str().unwrap(), hex::encode(mac.finalize().into_bytes()));

    // The deliveries, newest first, all delivered at the first try. A sender records its outcomes in batches
    // (at the latest a second after a delivery), so the list may trail the receiver by that much.
    let id = hook["id"].as_str().unwrap();
    let mut list = app.get(&format!("/webhooks/{id}/deliveries?limit=2"), &backend(&tenant)).await;
    let recorded = Instant::now();
    while list.body["items"][0]["status"] != "delivered" && recorded.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        list = app.get(&format!("/webhooks/{id}/deliveries?limit=2"), &backend(&tenant)).await;
    }
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["event"], "authentication.approved");
    assert_eq!(
        (items[0]["status"].as_str(), items[0]["tries"].as_u64(), items[0]["lastResponseStatus"].as_u64()),
        (Some("delivered"), Some(1), Some(204))
    );
    let cursor = list.body["nextCursor"].as_str().unwrap();
    let rest = app.get(&format!("/webhooks/{id}/deliveries?cursor={cursor}"), &backend(&tenant)).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

    // Erasure and a test event; another tenant sees none of it.
    let erased = app.call(Method::DELETE, "/identities/alice", Some(&backend(&tenant)), None).await;
    assert_eq!(erased.status, StatusCode::OK);
    let test = app.post(&format!("/webhooks/{id}/test"), &backend(&tenant), json!({})).await;
    assert_eq!(test.status, StatusCode::OK, "{:?}", test.body);
    let got = receiver.wait_for("all", 6, Duration::from_secs(10)).await;
    let last: Vec<String> = got[4..].iter().map(|r| body_of(r)["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(last, ["identity.deleted", "webhook.test"]);
    let other = app.new_tenant().await;
    assert_eq!(app.get(&format!("/webhooks/{id}"), &backend(&other)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/webhooks/{id}/deliveries"), &backend(&other)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/webhooks", &backend(&other)).await.body["items"], json!([]));
}

#[tokio::test]
async fn a_bad_receiver_is_retried_and_stopped_without_slowing_the_others() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.tenant_with_person("alice").await;
    // 500, then a hang past the 2 s timeout, then 429 asking for 3 s, then 410.
    receiver.script(
        "bad",
        &[Reply::Status(500), Reply::Hang(Duration::from_secs(4)), Reply::RetryAfter(429, 3), Reply::Status(410)],
    );
    let bad = subscribe(&app, &tenant, &format!("{base}/bad"), &["authentication.pending"]).await;
    subscribe(&app, &tenant, &format!("{base}/good"), &["authentication.pending"]).await;
    let started = Instant::now();
    app.attempt(&tenant, "alice", "fp-1", (-23.56, -46.63)).await;
    let good = receiver.wait_for("good", 1, Duration::from_secs(5)).await;
    assert!(good[0].at - started < Duration::from_secs(2), "the healthy receiver is not held up");

    let tries = receiver.wait_for("bad", 4, Duration::from_secs(20)).await;
    let ids: Vec<_> = tries.iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "retries keep the message id, so receivers can deduplicate");
    assert!(tries[3].at - tries[2].at >= Duration::from_millis(2_900), "Retry-After: 3 was honoured");
    // 410: the subscription is disabled, and it said why; no fifth try.
    let id = bad["id"].as_str().unwrap();
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = app.get(&format!("/webhooks/{id}"), &backend(&tenant)).await.body;
        if shown["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["enabled"], false, "{shown:?}");
    assert!(shown["disabledReason"].as_str().unwrap().contains("410"));
    let delivery = &app.get(&format!("/webhooks/{id}/deliveries"), &backend(&tenant)).await.body["items"][0];
    assert_eq!(
        (delivery["status"].as_str(), delivery["tries"].as_u64(), delivery["lastResponseStatus"].as_u64()),
        (Some("failed"), Some(4), Some(410))
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(receiver.at("bad").len(), 4);
    let audit = app.get("/audit", &backend(&tenant)).await.body;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "webhook.disabled" && a["actor"] == "server"));

    // Enabled again by the tenant, a redelivery by hand reaches it.
    let enabled = app
        .call(Method::PATCH, &format!("/webhooks/{id}"), Some(&backend(&tenant)), Some(json!({"enabled": true})))
        .await;
    assert_eq!(enabled.body["enabled"], true);
    let delivery_id = delivery["id"].as_str().unwrap();
    let again =
        app.post(&format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver"), &backend(&tenant), json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    receiver.wait_for("bad", 5, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.tenant_with_person("alice").await;
    let hook = subscribe(&app, &tenant, &format!("{base}/r"), &["authentication.pending"]).await;
    let id = hook["id"].as_str().unwrap();
    let rotated = app.post(&format!("/webhooks/{id}/rotate-secret"), &backend(&tenant), json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new, hook["secret"].as_str().unwrap());
    assert!(rotated.body["previousSecretExpiresAt"].is_string());
    app.attempt(&tenant, "alice", "fp-1", (-23.56, -46.63)).await;
    let got = receiver.wait_for("r", 1, Duration::from_secs(5)).await;
    let signatures = got[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    for secret in [new, hook["secret"].as_str().unwrap()] {
        standardwebhooks::Webhook::new(secret).unwrap().verify(&got[0].body, &got[0].headers).unwrap();
    }
    // The new secret leaked: another rotation at once is refused unless it names its grace period, and with
    // 0 the leaked one stops signing now (the first secret, still in its overlap, stops too).
    let rotate = format!("/webhooks/{id}/rotate-secret");
    assert_eq!(app.post(&rotate, &backend(&tenant), json!({})).await.status, StatusCode::CONFLICT);
    for bad in [json!({"graceSeconds": 86_401}), json!({"graceSeconds": -1}), json!({"grace": 0})] {
        assert_eq!(app.post(&rotate, &backend(&tenant), bad.clone()).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let again = app.post(&rotate, &backend(&tenant), json!({"graceSeconds": 0})).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(
        again.body["previousSecretExpiresAt"],
        serde_json::Value::Null,
        "no old secret is kept: {:?}",
        again.body
    );
    let newest = again.body["secret"].as_str().unwrap();
    app.attempt(&tenant, "alice", "fp-2", (-23.56, -46.63)).await;
    let got = receiver.wait_for("r", 2, Duration::from_secs(5)).await;
    let signatures = got[1].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 1, "only the newest secret signs: {signatures}");
    standardwebhooks::Webhook::new(newest).unwrap().verify(&got[1].body, &got[1].headers).unwrap();
    assert!(standardwebhooks::Webhook::new(new).unwrap().verify(&got[1].body, &got[1].headers).is_err());
    // The secret is never shown again.
    let listed = app.get("/webhooks", &backend(&tenant)).await.body;
    assert!(!listed.to_string().contains("whsec_"));
}

#[tokio::test]
async fn subscriptions_are_checked_and_reach_only_public_addresses_by_default() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    for (body, why) in [
        (json!({"url": "http://127.0.0.1:9/x", "events": ["policy.changed"]}), "loopback"),
        (json!({"url": "http://10.0.0.1/x", "events": ["policy.changed"]}), "private"),
        (json!({"url": "http://[::1]/x", "events": ["policy.changed"]}), "loopback v6"),
        (json!({"url": "ftp://example.com/x", "events": ["policy.changed"]}), "scheme"),
        (json!({"url": "https://user:pw@example.com/x", "events": ["policy.changed"]}), "credentials"),
        (json!({"url": "https://example.com/x", "events": []}), "no events"),
        (json!({"url": "https://example.com/x", "events": ["attempt.created"]}), "unknown event"),
        (json!({"url": "https://example.com/x", "events": ["policy.changed"], "secret": "mine"}), "unknown field"),
    ] {
        let a = app.post("/webhooks", &backend(&tenant), body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}: {:?}", a.body);
    }
    assert_eq!(app.get("/webhooks", &backend(&tenant)).await.body["items"], json!([]), "nothing was stored");
    let sdk_token = sdk(&tenant, "alice");
    let a =
        app.post("/webhooks", &sdk_token, json!({"url": "https://example.com/x", "events": ["policy.changed"]})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "a person's SDK token manages nothing");
}

#[tokio::test]
async fn every_operator_and_tenant_action_is_in_the_audit_trail_without_secrets() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({})).await;
    app.put_policy(&tenant, "pix", json!({"name": "Pix, stricter"})).await;
    app.create_identity(&tenant, "alice").await;
    let patched = app
        .call(Method::PATCH, "/identities/alice", Some(&backend(&tenant)), Some(json!({"phone": "5521999990000"})))
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        app.call(Method::DELETE, "/identities/alice", Some(&backend(&tenant)), None).await.status,
        StatusCode::OK
    );
    let hook = app
        .post("/webhooks", &backend(&tenant), json!({"url": "http://127.0.0.1:9/x", "events": ["policy.changed"]}))
        .await;
    let hook_secret = hook.body["secret"].as_str().unwrap().to_owned();
    let rotated = app
        .call(Method::POST, &format!("/admin/clients/{}/rotate-secret", tenant.client_id), Some(ADMIN_TOKEN), None)
        .await;
    let new_client_secret = rotated.body["clientSecret"].as_str().unwrap().to_owned();
    let tenant = Tenant { client_id: tenant.client_id.clone(), secret: new_client_secret.clone() };

    let trail = app.get("/audit", &backend(&tenant)).await;
    assert_eq!(trail.status, StatusCode::OK, "{:?}", trail.body);
    let items = trail.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "client.secret_rotated",
            "webhook.created",
            "identity.erased",
            "identity.updated",
            "identity.created",
            "policy.changed",
            "policy.changed",
            "client.created"
        ],
        "newest first"
    );
    let change = &items[5];
    assert_eq!(change["detail"]["before"]["name"], "Pix transfer");
    assert_eq!(change["detail"]["after"]["name"], "Pix, stricter");
    assert_eq!(items[3]["detail"]["changed"], json!(["phone"]));
    for line in items {
        if line["actor"] == "admin" {
            assert!(line["ip"].is_null() && line["requestId"].is_null(), "the operator's address is not the tenant's");
            continue;
        }
        assert!(line["requestId"].as_str().is_some_and(|r| r.len() == 24), "{line}");
        assert_eq!(line["ip"], "127.0.0.1");
    }
    assert!(items.iter().any(|a| a["actor"] == "admin"));
    assert!(items.iter().all(|a| a["actor"] == "admin" || a["actor"] == format!("client:{}", tenant.client_id)));
    let text = trail.body.to_string();
    for secret in [hook_secret.as_str(), new_client_secret.as_str(), "5521999990000", "john@example.com"] {
        assert!(!text.contains(secret), "the trail holds no secret or contact detail: {secret}");
    }
    // The operator sees every tenant's; the API cannot change it.
    let wrong = app.call(Method::GET, "/audit", Some(ADMIN_TOKEN), None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body["message"].as_str().unwrap().contains("GET /admin/audit"), "{:?}", wrong.body);
    let everything = app.call(Method::GET, "/admin/audit", Some(ADMIN_TOKEN), None).await;
    assert!(everything.body["items"].as_array().unwrap().len() >= items.len());
    // Every action written is one the API reference lists.
    let reference = app.call(Method::GET, "/openapi.json", None, None).await.body;
    let listed = &reference["components"]["schemas"]["AuditLine"]["properties"]["action"]["enum"];
    for line in everything.body["items"].as_array().unwrap() {
        assert!(listed.as_array().unwrap().contains(&line["action"]), "{} is not in /openapi.json", line["action"]);
    }
    for method in [Method::POST, Method::DELETE, Method::PATCH, Method::PUT] {
        let r = app.call(method.clone(), "/audit", Some(&backend(&tenant)), Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let other = app.new_tenant().await;
    let theirs = app.get("/audit", &backend(&other)).await.body;
    assert!(theirs["items"].as_array().unwrap().iter().all(|a| a["clientId"] == other.client_id.as_str()));
}

async fn settings_lines(app: &TestApp) -> Vec<Value> {
    let trail = app.call(Method::GET, "/admin/audit?limit=200", Some(ADMIN_TOKEN), None).await.body;
    let items = trail["items"].as_array().unwrap().iter();
    items.filter(|l| l["action"] == "client.settings_changed").cloned().collect()
}

/// A client's PATCH writes one line naming what changed, before and after; one that changes nothing writes none.
#[tokio::test]
async fn a_client_change_is_one_audit_line_with_what_changed() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let path = format!("/admin/clients/{}", tenant.client_id);
    let body = json!({"language": "pt-BR", "sdkTokenMaxLifetimeSeconds": 600, "requireSdkTokenPolicy": true,
                      "displayName": null});
    let patched = app.call(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(body.clone())).await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["sdkTokenMaxLifetimeSeconds"], 600);
    assert_eq!(patched.body["requireSdkTokenPolicy"], true);
    let written = settings_lines(&app).await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(
        written[0]["detail"],
        json!({"before": {"language": "en", "sdkTokenMaxLifetimeSeconds": 900, "requireSdkTokenPolicy": false},
               "after": {"language": "pt-BR", "sdkTokenMaxLifetimeSeconds": 600, "requireSdkTokenPolicy": true}})
    );
    let again = app.call(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(body)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(settings_lines(&app).await.len(), 1, "nothing changed, nothing written");
    assert_eq!(
        (again.body["language"].as_str(), again.body["sdkTokenMaxLifetimeSeconds"].as_u64()),
        (Some("pt-BR"), Some(600))
    );
}

#[tokio::test]
async fn a_waiting_attempt_expires_with_its_event() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.tenant_with_person("alice").await;
    app.put_policy(&tenant, "pix", json!({"attemptTtlSeconds": 60})).await;
    let bad = app.put("/policies/pix", &backend(&tenant), json!({"name": "x", "attemptTtlSeconds": 30})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "at least a minute");
    subscribe(&app, &tenant, &format!("{base}/exp"), &["authentication.reproved"]).await;
    let late =
        app.attempt(&tenant, "alice", "fp-1", (-23.56, -46.63)).await.body["attemptId"].as_str().unwrap().to_owned();
    let swept =
        app.attempt(&tenant, "alice", "fp-2", (-23.56, -46.63)).await.body["attemptId"].as_str().unwrap().to_owned();
    // Make both two minutes old.
    app.sql(
        "UPDATE attempts SET created_at = created_at - 120000, expires_at = 1,
           document = json_set(document, '$.stepUp.expiresAt', 1)",
    )
    .await;

    // A code asked for too late closes the attempt on the spot.
    let send = app
        .post(&format!("/authentications/{late}/methods/sms_authentication/send"), &sdk(&tenant, "alice"), json!({}))
        .await;
    assert_eq!(send.status, StatusCode::CONFLICT, "{:?}", send.body);
    assert!(send.body["message"].as_str().unwrap().contains("ATTEMPT_EXPIRED"));
    let doc = app.get(&format!("/authentications/{late}"), &backend(&tenant)).await.body;
    assert_eq!((doc["status"].as_str(), doc["statusReason"].as_str()), (Some("reproved"), Some("ATTEMPT_EXPIRED")));
    // The other is closed by the sweep, within its period.
    let mut status = String::new();
    for _ in 0..80 {
        status = app.get(&format!("/authentications/{swept}"), &backend(&tenant)).await.body["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "reproved" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "reproved");
    let got = receiver.wait_for("exp", 2, Duration::from_secs(5)).await;
    for r in &got {
        let event = body_of(r);
        assert_eq!(event["type"], "authentication.reproved");
        assert_eq!(event["data"]["reason"], "ATTEMPT_EXPIRED");
    }
    let mut ids: Vec<_> = got.iter().map(|r| body_of(r)["data"]["attemptId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    let mut expected = vec![late, swept];
    expected.sort();
    assert_eq!(ids, expected);
}

/// An erased person's attempts waiting for a step-up are refused at once (`IDENTITY_ERASED`), each with its
/// event: nobody is left to complete them, and the backend must not wait for their expiry to learn it. A
/// decided attempt keeps its outcome.
#[tokio::test]
async fn an_erased_person_s_waiting_attempts_are_refused_with_their_event() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.tenant_with_person("alice").await;
    subscribe(&app, &tenant, &format!("{base}/gone"), &["authentication.reproved"]).await;
    let waiting = app.attempt(&tenant, "alice", "fp-1", (-23.56, -46.63)).await.body;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let waiting = waiting["attemptId"].as_str().unwrap().to_owned();
    let approved = app.approve_by_email(&tenant, "alice", "fp-2", (-23.56, -46.63)).await;

    let erased = app.call(Method::DELETE, "/identities/alice", Some(&backend(&tenant)), None).await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    let doc = app.get(&format!("/authentications/{waiting}"), &backend(&tenant)).await.body;
    assert_eq!((doc["status"].as_str(), doc["statusReason"].as_str()), (Some("reproved"), Some("IDENTITY_ERASED")));
    assert_eq!(doc["personId"], Value::Null, "{doc}");
    let doc = app.get(&format!("/authentications/{approved}"), &backend(&tenant)).await.body;
    assert_eq!(doc["status"], "approved", "{doc}");
    let got = receiver.wait_for("gone", 1, Duration::from_secs(5)).await;
    let event = body_of(&got[0]);
    assert_eq!(event["data"]["attemptId"], waiting.as_str(), "{event}");
    assert_eq!(event["data"]["reason"], "IDENTITY_ERASED", "{event}");
    assert_eq!(event["data"]["personId"], Value::Null, "the event names no erased person: {event}");
}

#[tokio::test]
async fn one_tenant_s_slow_receiver_does_not_hold_up_another_s() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let slow_tenant = app.new_tenant().await;
    receiver.script("slow", &[Reply::Hang(Duration::from_secs(4)); 200]);
    let slow = subscribe(&app, &slow_tenant, &format!("{base}/slow"), &["policy.changed"]).await;
    let id = slow["id"].as_str().unwrap();
    for _ in 0..70 {
        app.post(&format!("/webhooks/{id}/test"), &backend(&slow_tenant), json!({})).await;
    }
    let other = app.new_tenant().await;
    subscribe(&app, &other, &format!("{base}/quick"), &["policy.changed"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    app.put_policy(&other, "pix", json!({})).await;
    let got = receiver.wait_for("quick", 1, Duration::from_secs(10)).await;
    assert!(got[0].at - started < Duration::from_secs(2), "delivered in {:?}", got[0].at - started);
    // Test events are capped per subscription, and refused for a disabled one.
    let mut last = StatusCode::OK;
    for _ in 0..40 {
        last = app.post(&format!("/webhooks/{id}/test"), &backend(&slow_tenant), json!({})).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let off = Some(json!({"enabled": false}));
    app.call(Method::PATCH, &format!("/webhooks/{id}"), Some(&backend(&slow_tenant)), off).await;
    let refused = app.post(&format!("/webhooks/{id}/test"), &backend(&slow_tenant), json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    // Nothing would be sent: a redelivery is refused too, not answered as queued.
    let again = app.post(&format!("/webhooks/{id}/deliveries/x/redeliver"), &backend(&slow_tenant), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    // A second rotation inside the first one's overlap is refused: it would end the overlap at once.
    let rotate = format!("/webhooks/{id}/rotate-secret");
    assert_eq!(app.post(&rotate, &backend(&slow_tenant), json!({})).await.status, StatusCode::OK);
    assert_eq!(app.post(&rotate, &backend(&slow_tenant), json!({})).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_subscription_deleted_or_moved_mid_batch_gets_nothing_more_a_second_later() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.new_tenant().await;
    receiver.script("slow", &[Reply::Hang(Duration::from_millis(200)); 40]);
    let hook = subscribe(&app, &tenant, &format!("{base}/slow"), &["policy.changed"]).await;
    let id = hook["id"].as_str().unwrap();
    for n in 0..30 {
        app.put_policy(&tenant, &format!("p{n}"), json!({})).await;
    }
    receiver.wait_for("slow", 2, Duration::from_secs(10)).await;
    // Moved to another URL: the old one gets at most the second's worth the batch had begun.
    let moved = json!({"url": format!("{base}/new")});
    let changed = app.call(Method::PATCH, &format!("/webhooks/{id}"), Some(&backend(&tenant)), Some(moved)).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let at_change = receiver.at("slow").len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let old_url = receiver.at("slow").len();
    assert!(old_url <= at_change + 7, "{old_url} requests to the old URL, {at_change} when it changed");
    assert!(old_url < 30, "the batch did not run to its end on the old URL");
    // The rest goes to the new URL, none lost.
    let new_url = receiver.wait_for("new", 30 - old_url, Duration::from_secs(10)).await;
    let mut ids: Vec<String> =
        receiver.at("slow").iter().chain(&new_url).map(|r| body_of(r)["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "every event once at least");
}

#[tokio::test]
async fn a_subscription_passes_the_events_it_does_not_take() {
    let app = fast_retries().await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.new_tenant().await;
    subscribe(&app, &tenant, &format!("{base}/policies"), &["policy.changed"]).await;
    subscribe(&app, &tenant, &format!("{base}/people"), &["identity.created"]).await;
    app.create_identity(&tenant, "alice").await;
    receiver.wait_for("people", 1, Duration::from_secs(10)).await;
    // The policies' subscription read the identity's event too, and moved past it: nothing waits.
    let waiting =
        "SELECT COUNT(*) FROM webhooks w JOIN webhook_events e ON e.client_id = w.client_id AND e.seq > w.cursor_seq";
    let started = Instant::now();
    while app.scalar(waiting).await > 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.scalar(waiting).await, 0, "no cursor stays behind an event its subscription does not take");
    app.put_policy(&tenant, "pix", json!({})).await;
    receiver.wait_for("policies", 1, Duration::from_secs(10)).await;
    assert_eq!(receiver.at("people").len(), 1);
}

#[tokio::test]
async fn a_process_that_does_not_dispatch_leaves_its_events_to_one_that_does() {
    // An API-only process (SMARTAUTH_WEBHOOK_DISPATCH=false) writes the events with their changes...
    let api = spawn_app_with(|s| {
        s.allow_private_targets = true;
        s.webhooks.dispatch = false;
    })
    .await;
    let (receiver, base) = Receiver::start().await;
    let tenant = api.new_tenant().await;
    let hook = subscribe(&api, &tenant, &format!("{base}/hook"), &["policy.changed"]).await;
    api.put_policy(&tenant, "pix", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.at("hook").is_empty(), "this process delivers nothing");
    // The waiting event is listed, not tried yet.
    let listed = api.get(&format!("/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), &backend(&tenant)).await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", listed.body);
    assert_eq!(
        (items[0]["event"].as_str(), items[0]["status"].as_str(), items[0]["tries"].as_u64()),
        (Some("policy.changed"), Some("pending"), Some(0))
    );
    // ...and a dispatching process on the same database delivers them.
    let mut settings = smartauth::configuration::Settings::from_lookup(|_| None).unwrap();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = api.data_dir.path().to_path_buf();
    settings.intel.dir = intel_dir();
    settings.allow_private_targets = true;
    let (state, _) = smartauth::startup::build_state(&settings).await.unwrap();
    let dispatcher = smartauth::startup::Server::bind(&settings, state).await.unwrap();
    tokio::spawn(dispatcher.run_until(std::future::pending()));
    let got = receiver.wait_for("hook", 1, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["policyId"].as_str()), (Some("policy.changed"), Some("pix")));
}

#[tokio::test]
async fn audit_lines_past_their_retention_are_deleted_with_a_line_saying_so() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    app.put_policy(&tenant, "pix", json!({"name": "Pix, stricter"})).await;
    let written = app.scalar("SELECT COUNT(*) FROM audit_log").await;
    assert!(written >= 3, "client, identity and policy lines: {written}");
    // All but the newest line are 40 days old.
    app.sql("UPDATE audit_log SET at = at - 40 * 86400000 WHERE seq < (SELECT MAX(seq) FROM audit_log)").await;

    // A server with a 30-day retention on the same data deletes them as it starts.
    let dir = app.data_dir.path().to_path_buf();
    let kept = spawn_app_with(move |s| {
        s.data_dir = dir;
        s.audit_retention_days = Some(30);
    })
    .await;
    let pruned = "SELECT COUNT(*) FROM audit_log WHERE action = 'audit.pruned'";
    for _ in 0..50 {
        if app.scalar(pruned).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trail = kept.call(Method::GET, "/admin/audit", Some(ADMIN_TOKEN), None).await.body;
    let items = trail["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["audit.pruned", "policy.changed"], "{trail}");
    assert_eq!(items[0]["actor"], "server");
    assert_eq!(items[0]["detail"]["lines"], written - 1);
    assert_eq!(items[0]["detail"]["retentionDays"], 30);
    // The tenant's own trail shows what is left of it, not the operator's line.
    let theirs = app.get("/audit", &backend(&tenant)).await.body;
    let actions: Vec<&str> =
        theirs["items"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["policy.changed"], "{theirs}");
}

/// A tenant subscribed to `policy.changed` at a receiver whose first `failures` answers are 503, on a server
/// that retries once, an hour after the first try (the second failure gives a delivery up). Returns the app,
/// the receiver (its path is `down`), the tenant, its backend token and the subscription's id.
async fn receiver_down_for(failures: usize) -> (TestApp, Receiver, Tenant, String, String) {
    let app = spawn_app_with(|s| {
        s.allow_private_targets = true;
        s.webhooks.retry = vec![Duration::from_secs(3600)];
    })
    .await;
    let (receiver, base) = Receiver::start().await;
    let tenant = app.tenant_with_person("alice").await;
    let token = backend(&tenant);
    receiver.script("down", &vec![Reply::Status(503); failures]);
    let hook = subscribe(&app, &tenant, &format!("{base}/down"), &["policy.changed"]).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    (app, receiver, tenant, token, id)
}

/// After a receiver's outage, `recover` sends now what waits for a retry hours away, and the trail says who
/// asked.
#[tokio::test]
async fn recover_sends_again_now_what_waits_for_its_retry_after_an_outage() {
    let (app, receiver, tenant, token, id) = receiver_down_for(2).await;
    let id = id.as_str();
    app.put_policy(&tenant, "pix", json!({})).await;
    app.put_policy(&tenant, "ted", json!({})).await;
    receiver.wait_for("down", 2, Duration::from_secs(10)).await;
    async fn listed(app: &TestApp, id: &str, token: &str) -> Vec<Value> {
        app.get(&format!("/webhooks/{id}/deliveries"), token).await.body["items"].as_array().unwrap().clone()
    }
    let mut items = Vec::new();
    for _ in 0..50 {
        items = listed(&app, id, &token).await;
        if items.len() == 2 && items.iter().all(|d| d["tries"] == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(items.iter().all(|d| d["status"] == "pending" && d["tries"] == 1), "waiting an hour: {items:?}");

    // Bad requests change nothing.
    let bad = app.post(&format!("/webhooks/{id}/recover"), &token, json!({"since": "yesterday"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let unknown = app.post("/webhooks/nope/recover", &token, json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let later = app.post(&format!("/webhooks/{id}/recover"), &token, json!({"since": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(later.body["queued"], 0, "{:?}", later.body);
    assert_eq!(receiver.at("down").len(), 2);

    // The receiver is back: both are sent at once, not in an hour. `since` is optional, and so is the body.
    let asked = Instant::now();
    let recovered = app.call(Method::POST, &format!("/webhooks/{id}/recover"), Some(&token), None).await;
    assert_eq!(
        (recovered.status, recovered.body["queued"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{:?}",
        recovered.body
    );
    let got = receiver.wait_for("down", 4, Duration::from_secs(10)).await;
    assert!(got[3].at - asked < Duration::from_secs(5));
    let first: Vec<_> = got[..2].iter().map(|r| r.headers["webhook-id"].clone()).collect();
    let again: Vec<_> = got[2..].iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert_eq!(first, again, "the same events, in the same order");
    for _ in 0..50 {
        items = listed(&app, id, &token).await;
        if items.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(items.iter().all(|d| d["status"] == "delivered" && d["tries"] == 2), "{items:?}");
    let trail = app.get("/audit", &token).await.body;
    let line = trail["items"].as_array().unwrap().iter().find(|a| a["action"] == "webhook.recovered").cloned();
    let line = line.unwrap_or_else(|| panic!("no webhook.recovered line: {trail}"));
    assert_eq!((line["target"].as_str(), &line["detail"]["queued"]), (Some(id), &json!(2)), "{line}");
}

/// A delivery a dispatcher holds shows as being sent, with its next try at the end of the hold: what a process
/// killed mid-delivery leaves, until its hold ends and another sends it again. `recover` leaves it alone.
#[tokio::test]
async fn a_held_delivery_says_it_is_being_sent_and_when_it_is_tried_again() {
    let (app, receiver, tenant, token, id) = receiver_down_for(1).await;
    app.put_policy(&tenant, "pix", json!({})).await;
    receiver.wait_for("down", 1, Duration::from_secs(10)).await;
    let path = format!("/webhooks/{id}/deliveries");
    let mut item = Value::Null;
    for _ in 0..50 {
        item = app.get(&path, &token).await.body["items"][0].clone();
        if item["tries"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((&item["status"], &item["sending"]), (&json!("pending"), &json!(false)), "{item}");
    // A process takes it and dies: held for two hours (past its retry, an hour away).
    let held_until = chrono::Utc::now().timestamp_millis() + 2 * 3_600_000;
    app.sql(&format!("UPDATE webhook_deliveries SET lease_until = {held_until}")).await;
    let shown = app.get(&path, &token).await.body["items"][0].clone();
    assert_eq!((&shown["status"], &shown["sending"]), (&json!("pending"), &json!(true)), "{shown}");
    let next = chrono::DateTime::parse_from_rfc3339(shown["nextTryAt"].as_str().unwrap()).unwrap();
    assert_eq!(next.timestamp_millis(), held_until, "{shown}");
    let recovered = app.post(&format!("/webhooks/{id}/recover"), &token, json!({})).await;
    assert_eq!(recovered.body["queued"], 0, "{:?}", recovered.body);
}

/// Events and audit lines are numbered in one sequence for all tenants: a tenant shown those numbers could count
/// the other tenants' events between two of its own. Delivery ids and page cursors name them sealed, each valid
/// for its own list only.
#[tokio::test]
async fn ids_and_cursors_do_not_show_the_numbering_all_tenants_share() {
    let app = fast_retries().await;
    let (_receiver, base) = Receiver::start().await;
    let tenant = app.new_tenant().await;
    let other = app.new_tenant().await;
    let hook = subscribe(&app, &tenant, &format!("{base}/a"), &["identity.created"]).await;
    let second = subscribe(&app, &tenant, &format!("{base}/b"), &["identity.created"]).await;
    let (id, second_id) = (hook["id"].as_str().unwrap(), second["id"].as_str().unwrap());
    for person in ["p1", "p2", "p3"] {
        app.create_identity(&tenant, person).await;
        app.create_identity(&other, person).await;
    }
    let list = app.get(&format!("/webhooks/{id}/deliveries?limit=2"), &backend(&tenant)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let items = list.body["items"].as_array().unwrap();
    let cursor = list.body["nextCursor"].as_str().unwrap().to_owned();
    let ids: Vec<String> = items.iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    let trail = app.get("/audit?limit=2", &backend(&tenant)).await;
    let audit_cursor = trail.body["nextCursor"].as_str().unwrap().to_owned();

    // No number of the shared sequences appears in them, in decimal or in hex.
    let numbers =
        app.scalar("SELECT COUNT(*) FROM webhook_events").await + app.scalar("SELECT COUNT(*) FROM audit_log").await;
    assert!(numbers >= 8, "{numbers}");
    let seqs =
        app.scalar("SELECT MAX(seq) FROM webhook_events").await.max(app.scalar("SELECT MAX(seq) FROM audit_log").await);
    let shown: Vec<&str> = ids.iter().map(String::as_str).chain([cursor.as_str(), audit_cursor.as_str()]).collect();
    for name in &shown {
        assert_eq!(name.len(), 32, "{name}");
        assert!(!name.contains(id), "a delivery id does not carry its subscription's: {name}");
        for seq in 1..=seqs {
            assert!(!name.starts_with(&format!("{seq:012x}")) && name.parse::<i64>().ok() != Some(seq), "{name}");
        }
    }
    assert_ne!(ids[0][..8], ids[1][..8], "neighbouring deliveries share nothing visible");

    // Each works where it was given, and only there.
    let b = backend(&tenant);
    let rest = app.get(&format!("/webhooks/{id}/deliveries?cursor={cursor}"), &b).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1, "{:?}", rest.body);
    let wrong = app.get(&format!("/webhooks/{second_id}/deliveries?cursor={cursor}"), &b).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "another subscription's cursor: {:?}", wrong.body);
    assert!(wrong.body["message"].as_str().unwrap().contains("cursor"), "{:?}", wrong.body);
    assert_eq!(app.get(&format!("/audit?cursor={cursor}"), &b).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&format!("/audit?cursor={audit_cursor}"), &b).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/audit?cursor={audit_cursor}"), &backend(&other)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.get("/audit?cursor=5", &b).await.status, StatusCode::BAD_REQUEST, "a bare number");
    let redeliver = |hook: &str, delivery: &str| format!("/webhooks/{hook}/deliveries/{delivery}/redeliver");
    let again = app.post(&redeliver(id, &ids[0]), &b, json!({})).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::OK, &json!(ids[0])), "{:?}", again.body);
    let elsewhere = app.post(&redeliver(second_id, &ids[0]), &b, json!({})).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "another subscription's delivery id: {:?}", elsewhere.body);
    // The ids earlier versions gave (the number in hex, then the subscription) are not taken.
    let seq = app.scalar("SELECT MAX(seq) FROM webhook_deliveries").await;
    let plain = app.post(&redeliver(id, &format!("{seq:012x}{id}")), &b, json!({})).await;
    assert_eq!(plain.status, StatusCode::NOT_FOUND, "{:?}", plain.body);
}

/// Every sender busy with subscriptions that always have new events: a retry that falls due still goes out
/// (new events and retries take turns), instead of waiting until the others' queues are empty.
#[tokio::test]
async fn a_retry_is_sent_while_every_sender_is_busy_with_new_events() {
    let app = spawn_app_with(|s| {
        s.allow_private_targets = true;
        s.webhooks.retry = vec![Duration::from_secs(1); 3];
        s.webhooks.timeout = Duration::from_secs(2);
        s.webhooks.senders = 1;
    })
    .await;
    let (receiver, base) = Receiver::start().await;
    let (flaky_tenant, busy_tenant) = (app.new_tenant().await, app.new_tenant().await);
    receiver.script("flaky", &[Reply::Status(500)]);
    receiver.script("busy", &[Reply::Hang(Duration::from_millis(150)); 200]);
    subscribe(&app, &flaky_tenant, &format!("{base}/flaky"), &["policy.changed"]).await;
    subscribe(&app, &busy_tenant, &format!("{base}/busy"), &["policy.changed"]).await;
    app.put_policy(&flaky_tenant, "pix", json!({})).await;
    let failed = receiver.wait_for("flaky", 1, Duration::from_secs(5)).await[0].at;
    // Ten events a second for the busy subscription, which takes 150 ms each: it always has new ones waiting.
    let flood = Instant::now();
    let mut n = 0;
    while flood.elapsed() < Duration::from_secs(8) && receiver.at("flaky").len() < 2 {
        app.put_policy(&busy_tenant, &format!("p{n}"), json!({})).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tries = receiver.at("flaky");
    assert_eq!(tries.len(), 2, "the retry waited behind the busy subscription's {n} events for 8 s");
    let waited = tries[1].at - failed;
    assert!(waited < Duration::from_secs(5), "the retry, due after 1 s, went out after {waited:?}");
    let busy = receiver.at("busy").len();
    assert!(busy >= 3 && busy < n, "the busy subscription was delivering, with a queue: {busy} of {n}");
}

/// A receiver that answers every delivery `200` with a body (as most frameworks do; 20 KB here), and counts the
/// connections it was opened: the deliveries are read to their end, so that one connection serves them all.
#[tokio::test]
async fn deliveries_to_a_receiver_that_answers_with_a_body_share_one_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = fast_retries().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = Arc::clone(&r);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: its head, then as many bytes as its Content-Length says.
                    let head_end = loop {
                        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buffer.len() < head_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..head_end + length);
                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    // A body of 20 KB, after the head: the status is known before the body has come.
                    let body = format!("{{\"received\":true,\"echo\":\"{}\"}}", "x".repeat(20_000));
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if socket.write_all(body.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let tenant = app.new_tenant().await;
    subscribe(&app, &tenant, &url, &["identity.created"]).await;
    for i in 0..5 {
        app.create_identity(&tenant, &format!("person-{i}")).await;
        let start = Instant::now();
        while requests.load(std::sync::atomic::Ordering::SeqCst) < i + 1 {
            assert!(start.elapsed() < Duration::from_secs(10), "delivery {} did not arrive", i + 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1, "one connection for five deliveries");
}

/// A client has 20 subscriptions at most, however they are made: 40 created side by side make 20 (each was
/// counted before any was written, and 38 of 40 got through).
#[tokio::test]
async fn the_subscription_limit_holds_when_they_are_made_side_by_side() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let token = backend(&tenant);
    let made = futures::future::join_all((0..40).map(|i| {
        let body = json!({"url": format!("https://1.1.1.1/hooks/{i}"), "events": ["identity.deleted"]});
        app.post("/webhooks", &token, body)
    }))
    .await;
    let created = made.iter().filter(|a| a.status == StatusCode::OK).count();
    let refused = made.iter().filter(|a| a.status == StatusCode::CONFLICT).count();
    assert_eq!((created, refused), (20, 20), "{:?}", made.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(app.get("/webhooks", &token).await.body["items"].as_array().unwrap().len(), 20);
    let audit = app.get("/audit?limit=100", &token).await.body;
    let lines = audit["items"].as_array().unwrap().iter().filter(|l| l["action"] == "webhook.created").count();
    assert_eq!(lines, 20, "an audit line for each one made, none for the refused");
}

/// A thread's nice value, from its `stat` file: after the command's closing parenthesis, state is field 3 and
/// nice field 19.
fn nice(stat: &str) -> i64 {
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(16).unwrap().parse().unwrap()
}

/// The nice value of each thread of this process named `name`.
fn thread_nices(name: &str) -> Vec<i64> {
    let mut nices = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
        else {
            continue; // a thread that ended meanwhile
        };
        if comm.trim() == name {
            nices.push(nice(&stat));
        }
    }
    nices
}

/// The dispatcher sends at the lowest priority, and its database work runs at the answering threads': a
/// transaction it drove at nice 19 would hold the one writer while it waits for the CPU, and a connection it
/// opened would run every later write on a nice-19 SQLite thread.
#[tokio::test]
async fn the_dispatcher_takes_only_the_cpu_answering_leaves() {
    let app = fast_retries().await;
    let nices = thread_nices("webhooks");
    assert!(!nices.is_empty(), "a server that delivers has a dispatcher thread");
    assert!(nices.contains(&19), "by default it runs at the lowest priority: {nices:?}");
    // It delivers (it leased, sent and recorded), and the thread that answers (this test's runtime) keeps its
    // priority.
    let (receiver, base) = Receiver::start().await;
    let tenant = app.new_tenant().await;
    subscribe(&app, &tenant, &format!("{base}/hooks"), &["identity.created", "identity.deleted"]).await;
    for person in ["ana", "bia", "caio"] {
        app.create_identity(&tenant, person).await;
    }
    let erased = app.call(Method::DELETE, "/identities/ana", Some(&backend(&tenant)), None).await;
    assert_eq!(erased.status, StatusCode::OK);
    assert_eq!(receiver.wait_for("hooks", 4, Duration::from_secs(10)).await.len(), 4);
    assert_eq!(app.get("/identities/bia", &backend(&tenant)).await.status, StatusCode::OK);
    assert_eq!(nice(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()), 0);
    // SQLite's threads (one per connection, named by sqlx; `comm` keeps 15 characters), of every server in
    // this process: none was started from the dispatcher's thread.
    let databases = thread_nices("sqlx-sqlite-wor");
    assert!(!databases.is_empty(), "the store's connections have their threads");
    assert!(databases.iter().all(|n| *n == 0), "database threads at nice {databases:?}");
}
