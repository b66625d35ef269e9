use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const TABLES: [&str; 5] = ["clients", "identities", "policies", "attempts", "known_contexts"];

async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for t in TABLES {
        counts.push(app.count_rows(t).await);
    }
    counts
}

async fn version(conn: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("PRAGMA data_version").fetch_one(conn).await.unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_400_for_every_endpoint_and_write_nothing() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let pending = app.attempt(&tenant, PERSON, "laptop", SAO_PAULO).await;
    let id = pending.body["attemptId"].as_str().unwrap().to_owned();
    let b = backend(&tenant);
    let before = snapshot(&app).await;
    // SQLite changes this number on a connection whenever another connection commits: it catches an
    // UPDATE that row counts would not.
    let url = format!("sqlite://{}?mode=ro", app.data_dir.path().join("smartauth.db").display());
    let mut watcher = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let data_version = version(&mut watcher).await;

    let cases: Vec<(reqwest::Method, String, Value)> = vec![
        (reqwest::Method::POST, "/identities".into(), json!({"name": "No person id"})),
        (reqwest::Method::POST, "/identities".into(), json!({"personId": "p1", "name": "X", "email": "not-an-email"})),
        (reqwest::Method::POST, "/identities".into(), json!({"personId": "p1", "name": "X", "phone": "call me"})),
        (
            reqwest::Method::POST,
            "/identities".into(),
            json!({"personId": "p1", "name": "X", "image": "bm90IGFuIGltYWdl"}),
        ),
        (reqwest::Method::POST, "/identities".into(), json!({"personId": "p1", "name": "X", "surname": "typo"})),
        (reqwest::Method::POST, "/identities".into(), json!({"personId": "a b", "name": "X"})),
        (reqwest::Method::POST, "/identities".into(), json!({"personId": "p1", "name": ""})),
        (reqwest::Method::POST, "/identities".into(), json!([1, 2, 3])),
        (reqwest::Method::PATCH, format!("/identities/{PERSON_DIGITS}"), json!({"email": "nope"})),
        (reqwest::Method::PATCH, format!("/identities/{PERSON_DIGITS}"), json!({"nickname": "x"})),
        (reqwest::Method::PUT, "/policies/p2".into(), json!({"name": "P", "codes": {"length": 4}})),
        (reqwest::Method::PUT, "/policies/p2".into(), json!({"name": "P", "reauthenticationMethods": ["telepathy"]})),
        (
            reqwest::Method::PUT,
            "/policies/p2".into(),
            json!({"name": "P", "contexts": {"network_context": {"allowTorr": true}}}),
        ),
        (reqwest::Method::PUT, "/policies/p2".into(), json!({"policyId": "other", "name": "P"})),
        (reqwest::Method::PUT, "/policies/p2".into(), json!("just a string")),
        (reqwest::Method::POST, "/authentications".into(), json!({"personId": PERSON})),
        (reqwest::Method::POST, "/authentications".into(), json!({"policyId": "pix"})),
        (
            reqwest::Method::POST,
            "/authentications".into(),
            json!({"personId": PERSON, "policyId": "pix", "context": {"location": {"latitude": 91, "longitude": 0}}}),
        ),
        (
            reqwest::Method::POST,
            "/authentications".into(),
            json!({"personId": PERSON, "policyId": "pix", "context": {"location": {"latitude": "north", "longitude": 0}}}),
        ),
        (
            reqwest::Method::POST,
            "/authentications".into(),
            json!({"personId": PERSON, "policyId": "pix", "context": {"device": {"fingerPrint": "x".repeat(300)}}}),
        ),
        (
            reqwest::Method::POST,
            "/authentications".into(),
            json!({"personId": PERSON, "policyId": "pix", "context": {"device": {"flags": {"emulator": "no"}}}}),
        ),
        (
            reqwest::Method::POST,
            "/authentications".into(),
            json!({"personId": PERSON, "policyId": "pix", "contxt": {}}),
        ),
        (
            reqwest::Method::POST,
            format!("/authentications/{id}/methods/email_authentication/verify"),
            json!({"code": null}),
        ),
        (reqwest::Method::POST, "/admin/clients".into(), json!({"name": ""})),
        (reqwest::Method::POST, "/admin/clients".into(), json!({"nom": "typo"})),
    ];
    for (method, path, body) in cases {
        let token = if path.starts_with("/admin") { ADMIN_TOKEN.to_owned() } else { b.clone() };
        let a = app.call(method.clone(), &path, Some(&token), Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {:?}", a.body);
        assert_eq!(a.body["code"], "BAD_REQUEST");
        assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Invalid JSON and wrong content type.
    for path in ["/identities", "/authentications", "/admin/clients"] {
        let token = if path.starts_with("/admin") { ADMIN_TOKEN.to_owned() } else { b.clone() };
        let r = app
            .http
            .post(format!("{}{path}", app.address))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let r = app
            .http
            .post(format!("{}{path}", app.address))
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(snapshot(&app).await, before, "a rejected request must change nothing");
    assert_eq!(version(&mut watcher).await, data_version, "no commit happened while bad requests were refused");
    let doc = app.get(&format!("/authentications/{id}"), &b).await;
    assert_eq!(doc.body["authenticationMethods"]["email_authentication"]["attempts"], json!([]));
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let huge = "A".repeat(11 * 1024 * 1024);
    let a = app.post("/identities", &backend(&tenant), json!({"personId": "p", "name": "X", "image": huge})).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(app.count_rows("identities").await, 0);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let a = app.get("/nowhere", &backend(&tenant)).await;
    assert_eq!((a.status, a.body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));
    let a = app.call(reqwest::Method::DELETE, "/authentications", Some(&backend(&tenant)), None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.body["code"], "METHOD_NOT_ALLOWED");
    let a = app.get("/authentications/not-an-id", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = app.get("/authentications?limit=0", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = app.get("/authentications?from=yesterday", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = app.get("/authentications?cursor=zzz", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // A query parameter of the wrong kind is named, in the API's words, not the framework's.
    let a = app.get("/authentications?limit=ten", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body["message"].as_str().unwrap().starts_with("query parameter limit: "), "{:?}", a.body);
    let a = app.get("/authentications?colour=red", &backend(&tenant)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let message = a.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("query parameter colour: unknown field `colour`") && !message.contains("Failed"),
        "{message}"
    );
    // A step-up method that does not exist is a 404 whatever the body says (it used to be a 400 or a 415
    // about the body, as if the method existed).
    let path = format!("{}/authentications/0000000000000000000000aa/methods/carrier_pigeon/verify", app.address);
    for (content_type, body) in [
        ("application/json", "not json"),
        ("text/plain", "hello"),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n",
        ),
    ] {
        let r = app.http.post(&path).bearer_auth(backend(&tenant)).header("content-type", content_type).body(body);
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{content_type}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "NOT_FOUND");
    }
}
