use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

/// A token with any header, signed HS256 with `secret` whatever the header says.
fn raw_token(header: Value, claims: Value, secret: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

async fn status_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let a = app.get("/policies", token).await;
    (a.status, a.body)
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_the_error_shape() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let now = chrono::Utc::now().timestamp();
    let iss = tenant.client_id.clone();
    let sign = |alg: Algorithm| {
        encode(&Header::new(alg), &json!({"iss": iss}), &EncodingKey::from_secret(tenant.secret.as_bytes())).unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("two parts", "abc.def".into()),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(json!({"iss": iss}).to_string())
            ),
        ),
        ("HS384", sign(Algorithm::HS384)),
        ("HS512", sign(Algorithm::HS512)),
        ("RS256 header", raw_token(json!({"alg": "RS256", "typ": "JWT"}), json!({"iss": iss}), &tenant.secret)),
        ("ES256 header", raw_token(json!({"alg": "ES256", "typ": "JWT"}), json!({"iss": iss}), &tenant.secret)),
        (
            "unknown issuer",
            token(&Tenant { client_id: "0123456789abcdef01234567".into(), secret: tenant.secret.clone() }, json!({})),
        ),
        ("bad signature", token(&Tenant { client_id: iss.clone(), secret: "wrong-secret".into() }, json!({}))),
        (
            "no iss",
            encode(
                &Header::new(Algorithm::HS256),
                &json!({"exp": now + 60}),
                &EncodingKey::from_secret(tenant.secret.as_bytes()),
            )
            .unwrap(),
        ),
        ("iss not a string", raw_token(json!({"alg": "HS256"}), json!({"iss": 42}), &tenant.secret)),
        ("expired", token(&tenant, json!({"exp": now - 120}))),
        ("exp not a number", token(&tenant, json!({"exp": "tomorrow"}))),
        ("personId null", token(&tenant, json!({"personId": null}))),
        ("personId not a string", token(&tenant, json!({"personId": 95236098076u64}))),
        ("peopleId null", token(&tenant, json!({"peopleId": null}))),
        ("signature stripped", {
            let t = backend(&tenant);
            t[..t.rfind('.').unwrap() + 1].to_owned()
        }),
    ];
    for (name, t) in cases {
        let (status, body) = status_with(&app, &t).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["code"], "UNAUTHORIZED", "{name}");
        assert!(body["requestId"].as_str().is_some_and(|s| !s.is_empty()), "{name}");
    }
    let a = app.call(reqwest::Method::GET, "/policies", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = app
        .http
        .get(format!("{}/policies", app.address))
        .header("Authorization", format!("Basic {}", backend(&tenant)))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn good_tokens_are_accepted_with_or_without_exp() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let now = chrono::Utc::now().timestamp();
    for claims in [json!({}), json!({"exp": now + 60}), json!({"exp": now - 10})] {
        let (status, body) = status_with(&app, &token(&tenant, claims.clone())).await;
        assert_eq!(status, StatusCode::OK, "{claims}: {body}");
    }
}

#[tokio::test]
async fn people_id_is_a_synonym_of_person_id() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let exp = chrono::Utc::now().timestamp() + 300;
    let t = token(&tenant, json!({"peopleId": PERSON_DIGITS, "exp": exp}));
    let a = app.post("/authentications", &t, json!({"policyId": "pix"})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let t = token(&tenant, json!({"peopleId": "someone-else", "exp": exp}));
    let a = app.post("/authentications", &t, json!({"policyId": "pix"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_disabled_client_or_a_rotated_secret_stops_old_tokens() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let old = backend(&tenant);
    assert_eq!(status_with(&app, &old).await.0, StatusCode::OK);

    let rotated = app
        .call(
            reqwest::Method::POST,
            &format!("/admin/clients/{}/rotate-secret", tenant.client_id),
            Some(ADMIN_TOKEN),
            Some(json!({"graceSeconds": 0})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let fresh =
        Tenant { client_id: tenant.client_id.clone(), secret: rotated.body["clientSecret"].as_str().unwrap().into() };
    assert_eq!(status_with(&app, &old).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &backend(&fresh)).await.0, StatusCode::OK);

    let off = app
        .call(reqwest::Method::POST, &format!("/admin/clients/{}/disable", tenant.client_id), Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(status_with(&app, &backend(&fresh)).await.0, StatusCode::UNAUTHORIZED);
    app.call(reqwest::Method::POST, &format!("/admin/clients/{}/enable", tenant.client_id), Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status_with(&app, &backend(&fresh)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    for t in [Some("wrong"), Some(backend(&tenant).as_str()), None] {
        let a = app.call(reqwest::Method::POST, "/admin/clients", t, Some(json!({"name": "x"}))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let list = app.call(reqwest::Method::GET, "/admin/clients", Some(ADMIN_TOKEN), None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "the refused calls created nothing");
    assert!(list.body.to_string().find(&tenant.secret).is_none(), "secrets are never listed");
}

#[tokio::test]
async fn client_secrets_are_encrypted_at_rest() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    assert_eq!(status_with(&app, &backend(&tenant)).await.0, StatusCode::OK);
    let bytes = app.db_bytes().await;
    assert!(contains(&bytes, &tenant.client_id), "sanity: the database holds the client");
    assert!(!contains(&bytes, &tenant.secret), "the secret must not be stored in clear");
}
