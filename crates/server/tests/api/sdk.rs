//! What the web SDK relies on (sdk/PROTOCOL.md): device binding, CORS for the client's origins, the
//! messages a person reads, and the SDK served by the binary. The SDK itself runs in a real browser in
//! tests/browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::helpers::*;

const SAO_PAULO: (f64, f64) = (-23.5600, -46.6376);

/// A device key, as the SDK keeps one in IndexedDB.
struct Device {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Device {
    fn new() -> Device {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Device { key, rng }
    }

    fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
               "y": URL_SAFE_NO_PAD.encode(&point[33..65]), "ext": true, "key_ops": ["verify"]})
    }

    fn binding(&self, challenge: &str) -> Value {
        let message = format!("smartauth-device-binding/v1.{challenge}");
        let signature = self.key.sign(&self.rng, message.as_bytes()).unwrap();
        json!({"publicKey": self.jwk(), "challenge": challenge, "signature": URL_SAFE_NO_PAD.encode(signature.as_ref())})
    }
}

async fn challenge(app: &TestApp, tenant: &Tenant, person: &str, policy: &str) -> String {
    let a = app.post("/authentications/device-challenge", &sdk(tenant, person), json!({"policyId": policy})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body["expiresAt"].is_string());
    a.body["challenge"].as_str().unwrap().to_owned()
}

async fn signed_attempt(
    app: &TestApp,
    tenant: &Tenant,
    person: &str,
    fingerprint: &str,
    binding: Option<Value>,
) -> Answer {
    let mut device = json!({"type": "web", "fingerPrint": fingerprint, "userAgent": "Mozilla/5.0 Chrome/127.0.0.0"});
    if let Some(b) = binding {
        device["binding"] = b;
    }
    let body = json!({"policyId": "pix", "context": {"device": device,
        "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 10.0}}});
    app.post("/authentications", &sdk(tenant, person), body).await
}

async fn device_reason(app: &TestApp, tenant: &Tenant, attempt: &Answer) -> String {
    let id = attempt.body["attemptId"].as_str().expect("an attempt");
    let doc = app.get(&format!("/authentications/{id}"), &backend(tenant)).await.body;
    doc["contextEvaluation"]["device_context"]["reason"].as_str().unwrap().to_owned()
}

async fn approve_by_sms(app: &TestApp, tenant: &Tenant, person: &str, attempt: &Answer) {
    let id = attempt.body["attemptId"].as_str().unwrap();
    let token = sdk(tenant, person);
    let sent = app.post(&format!("/authentications/{id}/methods/sms_authentication/send"), &token, json!({})).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    assert_eq!(sent.body["resendAfterSeconds"], 30);
    let code = app.last_sms_code(8);
    let v = app
        .post(&format!("/authentications/{id}/methods/sms_authentication/verify"), &token, json!({"code": code}))
        .await;
    assert_eq!(v.body["status"], "approved", "{:?}", v.body);
}

#[tokio::test]
async fn a_device_key_approved_once_is_a_known_device_even_with_a_new_fingerprint() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    let device = Device::new();
    let first = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-1",
        Some(device.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(first.body["status"], "pending", "{:?}", first.body);
    approve_by_sms(&app, &tenant, "alice", &first).await;

    // The browser updated (another fingerprint) but kept its key: passive approval.
    let again = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-2",
        Some(device.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(again.body["status"], "approved", "{:?}", again.body);
    assert_eq!(device_reason(&app, &tenant, &again).await, "KNOWN_DEVICE_KEY");
    let id = again.body["attemptId"].as_str().unwrap();
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    assert_eq!(doc["context"]["device"]["keyThumbprint"].as_str().map(str::len), Some(43));

    // The first fingerprint copied into a browser without the key (a new key, or none): a step-up.
    let copied = Device::new();
    let stolen = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-1",
        Some(copied.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(stolen.body["status"], "pending");
    assert_eq!(device_reason(&app, &tenant, &stolen).await, "KNOWN_FINGERPRINT_WITHOUT_KEY");
    let bare = signed_attempt(&app, &tenant, "alice", "fp-1", None).await;
    assert_eq!(bare.body["status"], "pending");
    assert_eq!(device_reason(&app, &tenant, &bare).await, "KNOWN_FINGERPRINT_WITHOUT_KEY");

    // Alice's key means nothing for Bob.
    app.create_identity(&tenant, "bob").await;
    let bobs = signed_attempt(
        &app,
        &tenant,
        "bob",
        "fp-1",
        Some(device.binding(&challenge(&app, &tenant, "bob", "pix").await)),
    )
    .await;
    assert_eq!(bobs.body["status"], "pending");
    assert_eq!(device_reason(&app, &tenant, &bobs).await, "NEW_DEVICE");
}

#[tokio::test]
async fn a_challenge_is_used_once_and_only_for_its_person_and_policy() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    app.create_identity(&tenant, "bob").await;
    app.put_policy(&tenant, "login", json!({})).await;
    let device = Device::new();
    let attempts_before = app.count_rows("attempts").await;
    let refused = |a: &Answer| {
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
        assert_eq!(a.body["code"], "INVALID_DEVICE_BINDING");
    };

    let used = challenge(&app, &tenant, "alice", "pix").await;
    let ok = signed_attempt(&app, &tenant, "alice", "fp", Some(device.binding(&used))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    refused(&signed_attempt(&app, &tenant, "alice", "fp", Some(device.binding(&used))).await);

    // Issued for Bob, or for another policy.
    refused(
        &signed_attempt(
            &app,
            &tenant,
            "alice",
            "fp",
            Some(device.binding(&challenge(&app, &tenant, "bob", "pix").await)),
        )
        .await,
    );
    refused(
        &signed_attempt(
            &app,
            &tenant,
            "alice",
            "fp",
            Some(device.binding(&challenge(&app, &tenant, "alice", "login").await)),
        )
        .await,
    );
    // Made up, or signed by another key than the one sent (and then it is used up too).
    refused(
        &signed_attempt(
            &app,
            &tenant,
            "alice",
            "fp",
            Some(device.binding("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        )
        .await,
    );
    let fresh = challenge(&app, &tenant, "alice", "pix").await;
    let mut forged = Device::new().binding(&fresh);
    forged["publicKey"] = device.jwk();
    refused(&signed_attempt(&app, &tenant, "alice", "fp", Some(forged)).await);
    refused(&signed_attempt(&app, &tenant, "alice", "fp", Some(device.binding(&fresh))).await);
    // Not a P-256 key.
    let mut rsa = device.binding(&challenge(&app, &tenant, "alice", "pix").await);
    rsa["publicKey"]["crv"] = "P-384".into();
    refused(&signed_attempt(&app, &tenant, "alice", "fp", Some(rsa)).await);
    assert_eq!(app.count_rows("attempts").await, attempts_before + 1, "a refused binding creates no attempt");

    // An expired challenge.
    let late = challenge(&app, &tenant, "alice", "pix").await;
    app.sql("UPDATE device_challenges SET expires_at = 0").await;
    refused(&signed_attempt(&app, &tenant, "alice", "fp", Some(device.binding(&late))).await);

    // Challenges are for known people and policies of the tenant only.
    let nobody =
        app.post("/authentications/device-challenge", &sdk(&tenant, "carol"), json!({"policyId": "pix"})).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let other = app.new_tenant().await;
    app.create_identity(&other, "alice").await;
    let cross = app.post("/authentications/device-challenge", &sdk(&other, "alice"), json!({"policyId": "pix"})).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND, "the other tenant has no policy pix");
}

#[tokio::test]
async fn automation_is_stepped_up_unless_the_policy_allows_it() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    let body = |fp: &str| {
        json!({"policyId": "pix", "context": {"device": {"fingerPrint": fp, "flags": {"automation": true}},
               "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 10.0}}})
    };
    let first = app.post("/authentications", &sdk(&tenant, "alice"), body("fp")).await;
    approve_by_sms(&app, &tenant, "alice", &first).await;
    let again = app.post("/authentications", &sdk(&tenant, "alice"), body("fp")).await;
    assert_eq!(again.body["status"], "pending");
    assert_eq!(device_reason(&app, &tenant, &again).await, "AUTOMATION_DETECTED");
    app.put_policy(&tenant, "pix", json!({"contexts": {"device_context": {"allowAutomation": true}}})).await;
    let allowed = app.post("/authentications", &sdk(&tenant, "alice"), body("fp")).await;
    assert_eq!(allowed.body["status"], "approved", "{:?}", allowed.body);
}

async fn set_client(app: &TestApp, tenant: &Tenant, body: Value) -> Answer {
    app.call(Method::PATCH, &format!("/admin/clients/{}", tenant.client_id), Some(ADMIN_TOKEN), Some(body)).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browsers_may_call_from_the_client_s_allowed_origins_only() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    let other = app.new_tenant().await;
    let a =
        set_client(&app, &tenant, json!({"allowedOrigins": ["https://bank.example.com", "http://127.0.0.1:3000/"]}))
            .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["allowedOrigins"], json!(["https://bank.example.com", "http://127.0.0.1:3000"]));
    set_client(&app, &other, json!({"allowedOrigins": ["https://other.example.com"]})).await;

    let allowed = preflight(&app, "/authentications", "https://bank.example.com").await;
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://bank.example.com");
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let step_up =
        preflight(&app, "/authentications/abc/methods/sms_authentication/verify", "http://127.0.0.1:3000").await;
    assert_eq!(step_up.headers()["access-control-allow-origin"], "http://127.0.0.1:3000");
    for (path, origin) in [
        ("/authentications", "https://evil.example.com"),
        ("/authentications", "null"),
        ("/identities", "https://bank.example.com"),
        ("/policies/pix", "https://bank.example.com"),
        ("/admin/clients", "https://bank.example.com"),
    ] {
        let r = preflight(&app, path, origin).await;
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path} from {origin}");
    }

    // With a token: only from the token's own client's origins, and a refused call changes nothing.
    let call = |origin: &'static str, tenant: &Tenant| {
        app.http
            .post(format!("{}/authentications/device-challenge", app.address))
            .bearer_auth(sdk(tenant, "alice"))
            .header("origin", origin)
            .json(&json!({"policyId": "pix"}))
            .send()
    };
    let ok = call("https://bank.example.com", &tenant).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://bank.example.com");
    assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase().contains("retry-after"));
    let before = app.count_rows("device_challenges").await;
    let elsewhere = call("https://other.example.com", &tenant).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN, "another client's origin");
    assert_eq!(call("https://evil.example.com", &tenant).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count_rows("device_challenges").await, before);
    // Servers send no Origin: nothing changes for them.
    let server =
        app.post("/authentications/device-challenge", &sdk(&tenant, "alice"), json!({"policyId": "pix"})).await;
    assert_eq!(server.status, StatusCode::OK);

    // Bad settings are refused whole.
    for bad in [
        json!({"allowedOrigins": ["http://bank.example.com"]}),
        json!({"allowedOrigins": ["https://bank.example.com/app"]}),
        json!({"allowedOrigins": ["*"]}),
        json!({"language": "fr"}),
        json!({"displayName": "Banco\u{202e}"}),
        json!({"allowedOrigins": ["https://ok.example.com"], "language": "xx"}),
    ] {
        let r = set_client(&app, &tenant, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let kept = app.call(Method::GET, "/admin/clients", Some(ADMIN_TOKEN), None).await;
    let mine =
        kept.body["items"].as_array().unwrap().iter().find(|c| c["clientId"] == tenant.client_id.as_str()).unwrap();
    assert_eq!(mine["allowedOrigins"], json!(["https://bank.example.com", "http://127.0.0.1:3000"]));
}

#[tokio::test]
async fn messages_speak_the_client_s_language_under_its_name_with_the_webotp_line() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    set_client(
        &app,
        &tenant,
        json!({"displayName": "Banco Exemplo", "language": "pt-BR", "allowedOrigins": ["https://app.example.com:8443"]}),
    )
    .await;
    let sms_of =
        |app: &TestApp| app.sms.received.lock().unwrap().last().unwrap()["message"].as_str().unwrap().to_owned();

    let first = app.attempt(&tenant, "alice", "fp", SAO_PAULO).await;
    approve_by_sms(&app, &tenant, "alice", &first).await;
    let text = sms_of(&app);
    let code = find_code(&text, 8).unwrap();
    assert!(text.starts_with(&format!("Banco Exemplo: seu código de verificação é {code}. Vale por 5 min.")), "{text}");
    assert!(text.ends_with(&format!("\n\n@app.example.com #{code}")), "{text}");

    // The email: plain text and HTML, in Portuguese, with the code in both.
    let second = app.attempt(&tenant, "alice", "fp-new", (-22.9068, -43.1729)).await;
    let id = second.body["attemptId"].as_str().unwrap();
    let sent = app
        .post(&format!("/authentications/{id}/methods/email_authentication/send"), &sdk(&tenant, "alice"), json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let code = app.last_email_code(8).await;
    let mail = app.mail.received.lock().unwrap().last().unwrap().data.clone();
    assert!(
        mail.contains("multipart/alternative") && mail.contains("text/html") && mail.contains("text/plain"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Banco Exemplo: seu "), "the subject: {mail}");
    assert!(mail.matches(&code).count() >= 2, "the code in both parts");

    // The tenant's own SMS template.
    let own = json!({"messageTemplates": {"sms": "{{code}} é seu código {{appName}}{{#transaction}} para {{transaction}}{{/transaction}}"}});
    assert_eq!(set_client(&app, &tenant, own).await.status, StatusCode::OK);
    let third = app.attempt(&tenant, "alice", "fp-other", (-22.9068, -43.1729)).await;
    let id = third.body["attemptId"].as_str().unwrap();
    app.post(&format!("/authentications/{id}/methods/sms_authentication/send"), &sdk(&tenant, "alice"), json!({}))
        .await;
    let code = app.last_sms_code(8);
    assert_eq!(sms_of(&app), format!("{code} é seu código Banco Exemplo\n\n@app.example.com #{code}"));
    for bad in [
        json!({"messageTemplates": {"sms": "no code here"}}),
        json!({"messageTemplates": {"emailHtml": "{{code}} {{password}}"}}),
        json!({"messageTemplates": {"emailSubject": "your code is {{code}}"}}),
    ] {
        assert_eq!(set_client(&app, &tenant, bad.clone()).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // null goes back to ours.
    assert_eq!(set_client(&app, &tenant, json!({"messageTemplates": null})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_sdk_is_served_by_the_binary_to_any_page() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/sdk/smartauth.js", app.address))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("export class SmartAuth") || body.contains("export { SmartAuth"),
        "an ES module exporting SmartAuth"
    );
    assert_eq!(body, include_str!("../../../../sdk/web/smartauth.js"));
}

#[tokio::test]
async fn people_sharing_a_common_fingerprint_are_told_apart_by_their_keys() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("u1").await;
    for person in ["u2", "u3"] {
        app.create_identity(&tenant, person).await;
    }
    // Two people approved on a phone model everybody has: the fingerprint is shared by design.
    for person in ["u1", "u2"] {
        let device = Device::new();
        let a = signed_attempt(
            &app,
            &tenant,
            person,
            "fp-iphone15-ptBR",
            Some(device.binding(&challenge(&app, &tenant, person, "pix").await)),
        )
        .await;
        approve_by_sms(&app, &tenant, person, &a).await;
    }
    // A third person on the same model, with a browser of their own: a step-up, not a block.
    let third = Device::new();
    let a = signed_attempt(
        &app,
        &tenant,
        "u3",
        "fp-iphone15-ptBR",
        Some(third.binding(&challenge(&app, &tenant, "u3", "pix").await)),
    )
    .await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    assert_eq!(a.body["isBlocked"], false);
    // Without keys the fingerprint still counts (maxIdentitiesPerDevice 2).
    let bare = signed_attempt(&app, &tenant, "u3", "fp-iphone15-ptBR", None).await;
    assert_eq!(bare.body["isBlocked"], true, "{:?}", bare.body);
}

#[tokio::test]
async fn a_known_key_does_not_make_new_fingerprints_known_and_a_lax_policy_does_not_make_keys_known() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    let device = Device::new();
    let first = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-1",
        Some(device.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    approve_by_sms(&app, &tenant, "alice", &first).await;
    // The key approves a fingerprint it never came with; that fingerprint is not learnt from it.
    let planted = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-victim",
        Some(device.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(planted.body["status"], "approved");
    let bare = signed_attempt(&app, &tenant, "alice", "fp-victim", None).await;
    assert_eq!(device_reason(&app, &tenant, &bare).await, "NEW_DEVICE");

    // A policy that does not look at devices approves a new key passively, but does not make it known.
    let off = json!({"enabled": false});
    app.put_policy(
        &tenant,
        "lax",
        json!({"contexts": {"device_context": off, "location_context": off, "network_context": off}}),
    )
    .await;
    let stranger = Device::new();
    let challenge_lax =
        app.post("/authentications/device-challenge", &sdk(&tenant, "alice"), json!({"policyId": "lax"})).await;
    let body = json!({"policyId": "lax", "context": {"device": {"fingerPrint": "fp-x",
        "binding": stranger.binding(challenge_lax.body["challenge"].as_str().unwrap())}}});
    let lax = app.post("/authentications", &sdk(&tenant, "alice"), body).await;
    assert_eq!(lax.body["status"], "approved", "{:?}", lax.body);
    let strict = signed_attempt(
        &app,
        &tenant,
        "alice",
        "fp-1",
        Some(stranger.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(strict.body["status"], "pending");
    assert_eq!(device_reason(&app, &tenant, &strict).await, "KNOWN_FINGERPRINT_WITHOUT_KEY");
}

#[tokio::test]
async fn an_origin_matching_the_host_header_is_not_taken_for_the_server_s_own() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person("alice").await;
    let host = app.address.trim_start_matches("http://").to_owned();
    for (origin, host) in [(app.address.clone(), host), ("http://evil.example".to_owned(), "evil.example".to_owned())] {
        let r = app
            .http
            .post(format!("{}/authentications/device-challenge", app.address))
            .bearer_auth(sdk(&tenant, "alice"))
            .header("origin", &origin)
            .header("host", host)
            .json(&json!({"policyId": "pix"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
    }
}

#[tokio::test]
async fn a_stranger_sending_a_person_s_fingerprint_does_not_throttle_the_person_s_own_device() {
    let app =
        spawn_app_with(|s| s.limits = smartauth::limits::Limits { device_per_minute: 2, ..Default::default() }).await;
    let tenant = app.tenant_with_person("alice").await;
    app.create_identity(&tenant, "mallory").await;
    for _ in 0..2 {
        let a = signed_attempt(&app, &tenant, "mallory", "alice-phone", None).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let third = signed_attempt(&app, &tenant, "mallory", "alice-phone", None).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "the fingerprint's own bucket is spent");
    // Alice's browser proves its key: it has a bucket of its own.
    let device = Device::new();
    let mine = signed_attempt(
        &app,
        &tenant,
        "alice",
        "alice-phone",
        Some(device.binding(&challenge(&app, &tenant, "alice", "pix").await)),
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
}
