//! Issue 8, tokens: an `exp` that cannot be a date, a header with critical extensions and a
//! person-scoped (SDK) token that never expires are refused; backend tokens keep the seed's optional
//! `exp`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

/// A token with this header and these claims, written as raw JSON text (so that numbers serde_json
/// cannot hold, such as 2^64, reach the server as sent), signed HS256 with the tenant's secret.
fn signed(tenant: &Tenant, header: &str, claims: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header);
    let c = URL_SAFE_NO_PAD.encode(claims);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(tenant.secret.as_bytes()).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn with_exp(tenant: &Tenant, exp: &str) -> String {
    signed(tenant, r#"{"alg":"HS256","typ":"JWT"}"#, &format!(r#"{{"iss":"{}","exp":{exp}}}"#, tenant.client_id))
}

async fn refused(app: &TestApp, token: &str) -> Value {
    let a = app.get("/policies", token).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.body["code"], "UNAUTHORIZED");
    a.body
}

#[tokio::test]
async fn an_exp_that_is_not_a_whole_number_of_seconds_is_refused() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let soon = chrono::Utc::now().timestamp() + 60;
    for exp in [
        "-1".to_owned(),
        "-1.5".to_owned(),
        "18446744073709551616".to_owned(), // 2^64
        "9223372036854775807".to_owned(),  // i64::MAX: a date past the year 10000
        "1e300".to_owned(),
        "null".to_owned(),
        format!("{soon}.5"),
        format!("\"{soon}\""),
    ] {
        let body = refused(&app, &with_exp(&tenant, &exp)).await;
        assert!(body["message"].as_str().unwrap().contains("exp"), "exp {exp}: {body}");
    }
    let a = app.get("/policies", &with_exp(&tenant, &soon.to_string())).await;
    assert_eq!(a.status, StatusCode::OK, "a whole number in the future is fine: {:?}", a.body);
}

#[tokio::test]
async fn a_header_with_critical_extensions_is_refused() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let claims = format!(r#"{{"iss":"{}"}}"#, tenant.client_id);
    for header in [
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        r#"{"alg":"HS256","crit":[]}"#,
    ] {
        let body = refused(&app, &signed(&tenant, header, &claims)).await;
        assert!(body["message"].as_str().unwrap().contains("crit"), "{header}: {body}");
    }
    let a = app.get("/policies", &signed(&tenant, r#"{"alg":"HS256","typ":"JWT"}"#, &claims)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn a_token_that_names_a_claim_twice_is_not_yet_valid_or_names_two_people_is_refused() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let (iss, soon) = (tenant.client_id.clone(), chrono::Utc::now().timestamp() + 60);
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    for (header, claims, says) in [
        // The backend may have meant the first policy; this server's parser would keep the last.
        (
            header.to_owned(),
            format!(r#"{{"iss":"{iss}","exp":{soon},"personId":"{PERSON_DIGITS}","policyId":"pix","policyId":"lax"}}"#),
            "twice",
        ),
        (header.to_owned(), format!(r#"{{"iss":"{iss}","iss":"{iss}"}}"#), "twice"),
        (r#"{"alg":"HS256","alg":"HS256"}"#.to_owned(), format!(r#"{{"iss":"{iss}"}}"#), "twice"),
        (header.to_owned(), format!(r#"{{"iss":"{iss}","nbf":{}}}"#, soon + 3600), "nbf"),
        (
            header.to_owned(),
            format!(r#"{{"iss":"{iss}","exp":{soon},"personId":"{PERSON_DIGITS}","peopleId":"11144477735"}}"#),
            "different people",
        ),
    ] {
        let a = app.get("/identities/11144477735", &signed(&tenant, &header, &claims)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{claims}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains(says), "{claims}: {:?}", a.body);
    }
    let fine = format!(
        r#"{{"iss":"{iss}","nbf":{},"personId":"{PERSON_DIGITS}","peopleId":"{PERSON_DIGITS}","exp":{soon}}}"#,
        soon - 120
    );
    let a = app.get(&format!("/identities/{PERSON_DIGITS}"), &signed(&tenant, header, &fine)).await;
    assert_ne!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
}

#[tokio::test]
async fn an_sdk_token_must_expire_within_its_clients_lifetime() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let now = chrono::Utc::now().timestamp();
    let person = |claims: Value| {
        let mut claims = claims;
        claims["personId"] = PERSON.into();
        token(&tenant, claims)
    };
    let start = |t: String| {
        let app = &app;
        async move { app.post("/authentications", &t, json!({"policyId": "pix"})).await }
    };

    let never = start(person(json!({}))).await;
    assert_eq!(never.status, StatusCode::UNAUTHORIZED, "an SDK token without exp: {:?}", never.body);
    let day = start(person(json!({"exp": now + 86_400}))).await;
    assert_eq!(day.status, StatusCode::UNAUTHORIZED, "a day-long SDK token: {:?}", day.body);
    assert!(day.body["message"].as_str().unwrap().contains("900"), "{:?}", day.body);
    let ok = start(person(json!({"exp": now + 600}))).await;
    assert_eq!(ok.status, StatusCode::OK, "within the default 900 s: {:?}", ok.body);

    // Backend tokens keep the seed's optional exp.
    assert_eq!(app.get("/policies", &token(&tenant, json!({}))).await.status, StatusCode::OK);
    assert_eq!(app.get("/policies", &token(&tenant, json!({"exp": now + 86_400 * 30}))).await.status, StatusCode::OK);

    // The operator may allow longer SDK tokens for this client, within a day.
    let path = format!("/admin/clients/{}", tenant.client_id);
    let admin = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.call(reqwest::Method::PATCH, path, Some(ADMIN_TOKEN), Some(body)).await }
    };
    for bad in [
        json!({"sdkTokenMaxLifetimeSeconds": 0}),
        json!({"sdkTokenMaxLifetimeSeconds": 86_401}),
        json!({"sdkTokenMaxLifetimeSeconds": -5}),
    ] {
        let a = admin(bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", a.body);
    }
    let listed = app.call(reqwest::Method::GET, "/admin/clients", Some(ADMIN_TOKEN), None).await;
    assert_eq!(listed.body["items"][0]["sdkTokenMaxLifetimeSeconds"], 900, "refused changes change nothing");
    let changed = admin(json!({"sdkTokenMaxLifetimeSeconds": 7200})).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["sdkTokenMaxLifetimeSeconds"], 7200);
    let hour = start(person(json!({"exp": now + 3600}))).await;
    assert_eq!(hour.status, StatusCode::OK, "an hour, now allowed: {:?}", hour.body);
    assert_eq!(start(person(json!({"exp": now + 86_400}))).await.status, StatusCode::UNAUTHORIZED);

    let unknown = app
        .call(
            reqwest::Method::PATCH,
            "/admin/clients/0123456789abcdef01234567",
            Some(ADMIN_TOKEN),
            Some(json!({"sdkTokenMaxLifetimeSeconds": 600})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let tenant_token = backend(&tenant);
    let not_admin = app
        .call(reqwest::Method::PATCH, &path, Some(&tenant_token), Some(json!({"sdkTokenMaxLifetimeSeconds": 600})))
        .await;
    assert_eq!(not_admin.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_can_be_created_with_its_sdk_token_lifetime() {
    let app = spawn_app().await;
    let create = |body: Value| {
        let app = &app;
        async move { app.call(reqwest::Method::POST, "/admin/clients", Some(ADMIN_TOKEN), Some(body)).await }
    };
    let short = create(json!({"name": "kiosk", "sdkTokenMaxLifetimeSeconds": 120})).await;
    assert_eq!(short.status, StatusCode::OK, "{:?}", short.body);
    assert_eq!(short.body["sdkTokenMaxLifetimeSeconds"], 120);
    let default = create(json!({"name": "bank"})).await;
    assert_eq!(default.body["sdkTokenMaxLifetimeSeconds"], 900);
    let bad = create(json!({"name": "forever", "sdkTokenMaxLifetimeSeconds": 1e12})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    assert_eq!(app.count_rows("clients").await, 2);
}

async fn rotate(app: &TestApp, tenant: &Tenant, body: Option<Value>) -> Answer {
    let path = format!("/admin/clients/{}/rotate-secret", tenant.client_id);
    app.call(reqwest::Method::POST, &path, Some(ADMIN_TOKEN), body).await
}

fn attestation_verifies(secret: &str, attestation: &str) -> bool {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(attestation, &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()), &validation)
        .is_ok()
}

#[tokio::test]
async fn a_rotated_secret_keeps_verifying_tokens_for_its_grace_period_only() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let old_backend = backend(&tenant);
    let old_sdk = sdk(&tenant, PERSON);
    app.approve_by_email(&tenant, PERSON, "laptop", SAO_PAULO).await;

    let rotated_at = tokio::time::Instant::now();
    let rotated = rotate(&app, &tenant, Some(json!({"graceSeconds": 3}))).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(rotated.body["graceSeconds"], 3);
    assert!(rotated.body["previousSecretExpiresAt"].is_string(), "{:?}", rotated.body);
    let fresh =
        Tenant { client_id: tenant.client_id.clone(), secret: rotated.body["clientSecret"].as_str().unwrap().into() };
    assert_ne!(fresh.secret, tenant.secret);

    // Within the grace period both secrets verify tokens; the attestation is signed with the new one only.
    assert_eq!(app.get("/policies", &old_backend).await.status, StatusCode::OK, "the old backend token still works");
    assert_eq!(app.get("/policies", &backend(&fresh)).await.status, StatusCode::OK);
    let known = app
        .post(
            "/authentications",
            &old_sdk,
            json!({"policyId": "pix", "context": {
                "device": {"type": "web", "fingerPrint": "laptop", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/127.0.0.0"},
                "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 12.45}
            }}),
        )
        .await;
    assert_eq!(
        known.body["status"], "approved",
        "an SDK token of the old secret still starts attempts: {:?}",
        known.body
    );
    let attestation = known.body["attestation"].as_str().unwrap();
    assert!(attestation_verifies(&fresh.secret, attestation), "signed with the new secret");
    assert!(!attestation_verifies(&tenant.secret, attestation), "not with the old one");

    tokio::time::sleep_until(rotated_at + std::time::Duration::from_millis(3_300)).await;
    let late = app.get("/policies", &old_backend).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "after the grace period: {:?}", late.body);
    assert_eq!(
        app.post("/authentications", &old_sdk, json!({"policyId": "pix"})).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/policies", &backend(&fresh)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_emergency_rotation_stops_the_old_secret_at_once() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let old = backend(&tenant);
    for bad in [
        json!({"graceSeconds": -1}),
        json!({"graceSeconds": 604_801}),
        json!({"graceSeconds": "1h"}),
        json!({"grace": 5}),
    ] {
        let a = rotate(&app, &tenant, Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", a.body);
    }
    assert_eq!(app.get("/policies", &old).await.status, StatusCode::OK, "refused rotations change nothing");

    // A planned rotation, then an emergency one: neither replaced secret verifies anything.
    let planned = rotate(&app, &tenant, Some(json!({"graceSeconds": 3600}))).await;
    assert_eq!(planned.body["graceSeconds"], 3600, "{:?}", planned.body);
    let second =
        Tenant { client_id: tenant.client_id.clone(), secret: planned.body["clientSecret"].as_str().unwrap().into() };
    assert_eq!(app.get("/policies", &old).await.status, StatusCode::OK);
    // No body is an emergency rotation: a script written for a leaked secret must not leave it valid.
    let emergency = rotate(&app, &tenant, None).await;
    assert_eq!(emergency.body["graceSeconds"], 0, "the default grace period: {:?}", emergency.body);
    assert_eq!(emergency.status, StatusCode::OK, "{:?}", emergency.body);
    assert!(emergency.body["previousSecretExpiresAt"].is_null());
    let third =
        Tenant { client_id: tenant.client_id.clone(), secret: emergency.body["clientSecret"].as_str().unwrap().into() };
    assert_eq!(app.get("/policies", &old).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/policies", &backend(&second)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/policies", &backend(&third)).await.status, StatusCode::OK);
}
