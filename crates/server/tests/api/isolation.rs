use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn another_tenant_sees_nothing_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.tenant_with_person(PERSON).await;
    let intruder = app.tenant_with_person("intruder-person").await;
    let a = app.attempt(&owner, PERSON, "laptop", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap();
    let t = backend(&intruder);

    for path in [format!("/authentications/{id}"), format!("/identities/{PERSON_DIGITS}")] {
        let r = app.get(&path, &t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body["code"], "NOT_FOUND");
    }
    let sent = app.post(&format!("/authentications/{id}/methods/email_authentication/send"), &t, json!({})).await;
    assert_eq!(sent.status, StatusCode::NOT_FOUND);
    let del = app.call(reqwest::Method::DELETE, &format!("/identities/{PERSON_DIGITS}"), Some(&t), None).await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
    let attempt = app.post("/authentications", &t, json!({"personId": PERSON, "policyId": "pix"})).await;
    assert_eq!(attempt.status, StatusCode::NOT_FOUND);
    let list = app.get("/authentications", &t).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    // The intruder's own policy id "pix" is its own; the owner's is untouched.
    app.put_policy(&intruder, "pix", json!({"name": "changed by intruder"})).await;
    assert_eq!(app.get("/policies/pix", &backend(&owner)).await.body["name"], "Pix transfer");
    assert_eq!(app.get(&format!("/identities/{PERSON_DIGITS}"), &backend(&owner)).await.status, StatusCode::OK);
    assert_eq!(app.mail.received.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn a_person_token_acts_only_for_its_person() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.create_identity(&tenant, "other-person").await;
    let theirs = app.attempt(&tenant, "other-person", "d", SAO_PAULO).await;
    let their_id = theirs.body["attemptId"].as_str().unwrap();
    let mine = sdk(&tenant, PERSON);

    assert_eq!(app.get(&format!("/authentications/{their_id}"), &mine).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/identities/other-person", &mine).await.status, StatusCode::NOT_FOUND);
    let started = app.post("/authentications", &mine, json!({"personId": "other-person", "policyId": "pix"})).await;
    assert_eq!(started.status, StatusCode::NOT_FOUND);
    let code =
        app.post(&format!("/authentications/{their_id}/methods/email_authentication/send"), &mine, json!({})).await;
    assert_eq!(code.status, StatusCode::NOT_FOUND);
    // Its own person is readable, with the CPF written either way, but contacts only masked: a person
    // token is what a hijacked session holds.
    let own = app.get(&format!("/identities/{PERSON}"), &mine).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["email"], "j***@example.com");
    assert_eq!(own.body["phone"], "+55*******5497");
    assert_eq!(app.get(&format!("/identities/{PERSON}"), &backend(&tenant)).await.body["email"], "john@example.com");
    // Management calls need the backend token.
    assert_eq!(app.get("/policies", &mine).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/authentications", &mine).await.status, StatusCode::FORBIDDEN);
    let made = app.post("/identities", &mine, json!({"personId": "x", "name": "X"})).await;
    assert_eq!(made.status, StatusCode::FORBIDDEN);
}
