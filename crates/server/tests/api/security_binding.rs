//! Issue 8, transaction binding: an attempt may name the transfer it approves; the document shows it,
//! the code's message states it, and the attestation carries the SHA-256 of its RFC 8785 canonical
//! JSON and a unique `jti`. And SDK tokens bound to a policy: a person holding one cannot pick the
//! tenant's laxest policy.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const DEVICE: &str = "phone-1";

fn context() -> Value {
    json!({
        "device": {"type": "web", "fingerPrint": DEVICE, "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/127.0.0.0"},
        "location": {"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": 12.0}
    })
}

async fn start(app: &TestApp, token: &str, body: Value) -> Answer {
    let mut full = json!({"policyId": "pix", "context": context()});
    for (k, v) in body.as_object().unwrap() {
        full[k] = v.clone();
    }
    app.post("/authentications", token, full).await
}

/// The attestation's claims, checked as a tenant's backend checks them: HS256 with the client secret,
/// `aud` its clientId, not expired.
fn verified_claims(tenant: &Tenant, attestation: &str) -> Value {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[tenant.client_id.as_str()]);
    decode::<Value>(attestation, &DecodingKey::from_secret(tenant.secret.as_bytes()), &validation)
        .expect("the attestation verifies with the client secret")
        .claims
}

#[tokio::test]
async fn the_transaction_is_shown_stated_in_the_code_message_and_hashed_into_the_attestation() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    // Keys out of order, spacing and 150.00: the hash is of the canonical form whatever the sender wrote.
    let transaction: Value =
        serde_json::from_str(r#"{ "payee": {"name": "João", "key": "joao@example.com"}, "amount": 150.00, "type": "Pix", "currency": "BRL" }"#)
            .unwrap();
    let canonical = r#"{"amount":150,"currency":"BRL","payee":{"key":"joao@example.com","name":"João"},"type":"Pix"}"#;
    let expected_hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    // The backend binds the transaction in the SDK token it mints for this transfer.
    let exp = chrono::Utc::now().timestamp() + 300;
    let sdk_token = token(&tenant, json!({"exp": exp, "personId": PERSON, "transactionHash": expected_hash}));

    let a = start(&app, &sdk_token, json!({"transaction": transaction})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["status"], "pending", "a first attempt steps up: {:?}", a.body);
    let id = a.body["attemptId"].as_str().unwrap().to_owned();

    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert_eq!(doc.body["transaction"]["details"], transaction, "{:?}", doc.body);
    assert_eq!(doc.body["transaction"]["hash"], expected_hash.as_str());
    assert_eq!(doc.body["policy"]["policyId"], "pix", "the seed's fields stay");
    let person_view = app.get(&format!("/authentications/{id}"), &sdk_token).await;
    assert_eq!(
        person_view.body["transaction"]["details"]["payee"]["name"], "João",
        "the person sees what they approve"
    );

    let sent = app.post(&format!("/authentications/{id}/methods/sms_authentication/send"), &sdk_token, json!({})).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let message = app.sms.received.lock().unwrap().last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Pix of R$ 150,00 to João"), "{message}");
    let code = app.last_sms_code(8);
    let v = app
        .post(&format!("/authentications/{id}/methods/sms_authentication/verify"), &sdk_token, json!({"code": code}))
        .await;
    assert_eq!(v.body["status"], "approved", "{:?}", v.body);
    let claims = verified_claims(&tenant, v.body["attestation"].as_str().unwrap());
    assert_eq!(claims["transactionHash"], expected_hash.as_str(), "{claims}");
    assert_eq!(claims["attemptId"], id.as_str());
    let first_jti = claims["jti"].as_str().expect("a jti").to_owned();

    // The same device and place are now known: approved at once, with an attestation of its own.
    let again = start(&app, &sdk(&tenant, PERSON), json!({})).await;
    assert_eq!(again.body["status"], "approved", "{:?}", again.body);
    let claims = verified_claims(&tenant, again.body["attestation"].as_str().unwrap());
    assert!(claims.get("transactionHash").is_none(), "no transaction, no hash: {claims}");
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_ne!(claims["jti"].as_str(), Some(first_jti.as_str()), "each attestation has its own jti");
}

#[tokio::test]
async fn an_unbounded_or_malformed_transaction_is_a_400_and_stores_nothing() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let token = backend(&tenant);
    let wide: serde_json::Map<String, Value> = (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
    for bad in [
        json!([150, "BRL"]),
        json!("R$ 150,00"),
        json!(150),
        json!({"memo": "x".repeat(3000)}),
        json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}),
        Value::Object(wide),
        json!({"amount": 9_007_199_254_740_993_u64}),
        json!({"payee": "Jo\u{202E}ão"}),
    ] {
        let a = start(&app, &token, json!({"personId": PERSON, "transaction": bad})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains("transaction"), "{bad}: {:?}", a.body);
    }
    // As raw JSON: a number JSON cannot hold as a double (1e400), a member named twice (the backend's parser
    // may keep the other one), and a fraction past 2^53.
    for (transaction, says) in [
        (r#"{"amount": 1e400}"#, "JSON"),
        (r#"{"amount": "150.00", "payee": "João", "amount": "15000.00"}"#, "transaction"),
        (r#"{"payee": {"name": "João", "name": "Mallory"}}"#, "transaction"),
        (r#"{"amount": 9007199254740993.5}"#, "transaction"),
    ] {
        let raw = format!(r#"{{"personId": "{PERSON}", "policyId": "pix", "transaction": {transaction}}}"#);
        let a = app
            .http
            .post(format!("{}/authentications", app.address))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), StatusCode::BAD_REQUEST, "{transaction}");
        let body: Value = a.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(says), "{transaction}: {body}");
    }
    assert_eq!(app.count_rows("attempts").await, 0, "refused attempts change nothing");
}

#[tokio::test]
async fn an_amount_is_stated_to_the_cent_and_never_lengthens_the_message_past_reason() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let mut messages = Vec::new();
    for (n, amount) in [json!(1234.5), json!(1e15), json!(0.001)].into_iter().enumerate() {
        let transaction = json!({"amount": amount, "currency": "BRL", "payee": "João"});
        let a = app
            .post(
                "/authentications",
                &backend(&tenant),
                json!({"personId": PERSON, "policyId": "pix", "transaction": transaction,
                       "context": {"device": {"type": "web", "fingerPrint": format!("d{n}")}}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        let id = a.body["attemptId"].as_str().unwrap();
        let sent = app
            .post(&format!("/authentications/{id}/methods/sms_authentication/send"), &sdk(&tenant, PERSON), json!({}))
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        messages.push(app.sms.received.lock().unwrap().last().unwrap()["message"].as_str().unwrap().to_owned());
    }
    assert!(messages[0].contains("R$ 1234,50 to João"), "{}", messages[0]);
    assert!(messages[1].contains("R$ 1000000000000000.0 to João"), "as sent, past a trillion: {}", messages[1]);
    assert!(messages[2].contains("R$ 0.001 to João"), "as sent, not rounded to R$ 0,00: {}", messages[2]);
    assert!(messages.iter().all(|m| m.len() < 200), "{messages:?}");
}

#[tokio::test]
async fn an_sdk_token_bound_to_a_policy_cannot_start_an_attempt_of_another() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "lax", json!({"name": "Lax"})).await;
    let exp = chrono::Utc::now().timestamp() + 300;
    let bound = token(&tenant, json!({"exp": exp, "personId": PERSON, "policyId": "pix"}));

    let other = start(&app, &bound, json!({"policyId": "lax"})).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{:?}", other.body);
    assert!(other.body["message"].as_str().unwrap().contains("policyId"), "{:?}", other.body);
    assert_eq!(app.count_rows("attempts").await, 0);
    let own = start(&app, &bound, json!({"policyId": "pix"})).await;
    assert_eq!(own.status, StatusCode::OK, "{:?}", own.body);

    for claim in [json!(1), json!(null), json!(["pix"]), json!({"id": "pix"}), json!("")] {
        let t = token(&tenant, json!({"exp": exp, "personId": PERSON, "policyId": claim}));
        let a = start(&app, &t, json!({"policyId": "lax"})).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "policyId {claim}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains("policyId"), "{:?}", a.body);
    }
    // Backend tokens are not bound: the tenant's backend may use any of its policies.
    let backend_token = token(&tenant, json!({"exp": exp, "policyId": "pix"}));
    let a = start(&app, &backend_token, json!({"personId": PERSON, "policyId": "lax"})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn a_client_can_require_its_sdk_tokens_to_name_their_policy() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let path = format!("/admin/clients/{}", tenant.client_id);
    let patch = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.call(reqwest::Method::PATCH, path, Some(ADMIN_TOKEN), Some(body)).await }
    };
    let exp = chrono::Utc::now().timestamp() + 300;
    let unbound = token(&tenant, json!({"exp": exp, "personId": PERSON}));
    assert_eq!(start(&app, &unbound, json!({})).await.status, StatusCode::OK, "not required by default");

    let bad = patch(json!({"requireSdkTokenPolicy": "yes"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let on = patch(json!({"requireSdkTokenPolicy": true})).await;
    assert_eq!(on.status, StatusCode::OK, "{:?}", on.body);
    assert_eq!(on.body["requireSdkTokenPolicy"], true);

    let refused = start(&app, &unbound, json!({})).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "at once, in this process: {:?}", refused.body);
    assert!(refused.body["message"].as_str().unwrap().contains("policyId"), "{:?}", refused.body);
    let bound = token(&tenant, json!({"exp": exp, "personId": PERSON, "policyId": "pix"}));
    assert_eq!(start(&app, &bound, json!({})).await.status, StatusCode::OK);
    let backend_token = backend(&tenant);
    assert_eq!(start(&app, &backend_token, json!({"personId": PERSON})).await.status, StatusCode::OK);

    let off = patch(json!({"requireSdkTokenPolicy": false})).await;
    assert_eq!(off.body["requireSdkTokenPolicy"], false);
    assert_eq!(start(&app, &unbound, json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_sdk_token_names_a_transaction_only_as_its_backend_bound_it() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let transfer = json!({"type": "Estorno", "amount": 5000, "currency": "BRL", "payee": {"name": "você"}});
    // A hijacked session must not choose what the bank's own code message says is approved.
    let unbound = start(&app, &sdk(&tenant, PERSON), json!({"transaction": transfer})).await;
    assert_eq!(unbound.status, StatusCode::FORBIDDEN, "{:?}", unbound.body);
    let exp = chrono::Utc::now().timestamp() + 300;
    let other_hash = hex::encode(Sha256::digest(b"another transfer"));
    let bound = token(&tenant, json!({"exp": exp, "personId": PERSON, "transactionHash": other_hash}));
    let mismatched = start(&app, &bound, json!({"transaction": transfer})).await;
    assert_eq!(mismatched.status, StatusCode::FORBIDDEN, "{:?}", mismatched.body);
    let left_out = start(&app, &bound, json!({})).await;
    assert_eq!(
        left_out.status,
        StatusCode::FORBIDDEN,
        "a bound token cannot drop its transaction: {:?}",
        left_out.body
    );
    assert_eq!(app.count_rows("attempts").await, 0);
}

#[tokio::test]
async fn a_policy_bound_sdk_token_cannot_reach_attempts_of_another_policy() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "login", json!({"name": "Login"})).await;
    let login = start(&app, &backend(&tenant), json!({"personId": PERSON, "policyId": "login"})).await;
    let id = login.body["attemptId"].as_str().unwrap().to_owned();
    let exp = chrono::Utc::now().timestamp() + 300;
    let bound = token(&tenant, json!({"exp": exp, "personId": PERSON, "policyId": "pix"}));
    assert_eq!(app.get(&format!("/authentications/{id}"), &bound).await.status, StatusCode::NOT_FOUND);
    let send = app.post(&format!("/authentications/{id}/methods/sms_authentication/send"), &bound, json!({})).await;
    assert_eq!(send.status, StatusCode::NOT_FOUND, "{:?}", send.body);
    assert_eq!(app.get(&format!("/authentications/{id}"), &sdk(&tenant, PERSON)).await.status, StatusCode::OK);
}
