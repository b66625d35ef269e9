use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn pending_with_code(app: &TestApp, tenant: &Tenant) -> (String, String) {
    let a = app.attempt(tenant, PERSON, "laptop", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap().to_owned();
    let sent = app
        .post(&format!("/authentications/{id}/methods/email_authentication/send"), &sdk(tenant, PERSON), json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    (id, app.last_email_code(8).await)
}

async fn verify(app: &TestApp, tenant: &Tenant, id: &str, code: &str) -> Answer {
    app.post(
        &format!("/authentications/{id}/methods/email_authentication/verify"),
        &sdk(tenant, PERSON),
        json!({"code": code}),
    )
    .await
}

fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '9' { '0' } else { char::from(c as u8 + 1) }).collect()
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_says_how_many_attempts_are_left() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    let v = verify(&app, &tenant, &id, &wrong(&code)).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["isAuthorized"], false);
    assert_eq!(v.body["refusalReason"], "invalid_code");
    assert_eq!(v.body["attemptsLeft"], 2);
    assert_eq!(v.body["status"], "pending");
    assert_eq!(verify(&app, &tenant, &id, &code).await.body["isAuthorized"], true);
}

#[tokio::test]
async fn brute_force_locks_the_method_and_reproves_the_attempt() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["email_authentication"]})).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    for left in [2, 1, 0] {
        let v = verify(&app, &tenant, &id, &wrong(&code)).await;
        assert_eq!(v.body["attemptsLeft"], left, "{:?}", v.body);
    }
    let attempt = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert_eq!(attempt.body["status"], "reproved");
    assert_eq!(attempt.body["statusReason"], "METHODS_EXHAUSTED", "the document says why it was refused");
    assert_eq!(attempt.body["authenticationMethods"]["email_authentication"]["status"], "reproved");
    assert_eq!(attempt.body["authenticationMethods"]["email_authentication"]["attempts"].as_array().unwrap().len(), 3);
    // The right code no longer helps.
    let v = verify(&app, &tenant, &id, &code).await;
    assert_eq!(v.status, StatusCode::CONFLICT, "{:?}", v.body);
    assert_eq!(app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body["status"], "reproved");
}

#[tokio::test]
async fn a_locked_method_leaves_the_other_method_open() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    for _ in 0..3 {
        verify(&app, &tenant, &id, &wrong(&code)).await;
    }
    let v = verify(&app, &tenant, &id, &code).await;
    assert_eq!(v.body["refusalReason"], "max_attempts_exceeded", "{:?}", v.body);
    assert_eq!(v.body["status"], "pending");
    let sent = app
        .post(&format!("/authentications/{id}/methods/sms_authentication/send"), &sdk(&tenant, PERSON), json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let v = app
        .post(
            &format!("/authentications/{id}/methods/sms_authentication/verify"),
            &sdk(&tenant, PERSON),
            json!({"code": app.last_sms_code(8)}),
        )
        .await;
    assert_eq!(v.body["status"], "approved");
}

#[tokio::test]
async fn an_expired_code_is_refused_and_counts_as_a_failure() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    // Move the code's expiry into the past, as if its TTL had run out.
    let changed = app
        .sql(&format!(
            "UPDATE attempts SET document = json_set(document, '$.methods.email_authentication.challenge.expiresAt', 0) WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(changed, 1);
    let v = verify(&app, &tenant, &id, &code).await;
    assert_eq!(v.body["isAuthorized"], false);
    assert_eq!(v.body["refusalReason"], "expired_code");
    assert_eq!(v.body["attemptsLeft"], 2);
}

#[tokio::test]
async fn a_used_code_cannot_be_used_again() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    assert_eq!(verify(&app, &tenant, &id, &code).await.body["isAuthorized"], true);
    let again = verify(&app, &tenant, &id, &code).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["code"], "CONFLICT");
}

#[tokio::test]
async fn a_code_works_only_for_its_own_attempt() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (first, code) = pending_with_code(&app, &tenant).await;
    let second = app.attempt(&tenant, PERSON, "laptop", SAO_PAULO).await.body["attemptId"].as_str().unwrap().to_owned();
    app.post(&format!("/authentications/{second}/methods/email_authentication/send"), &sdk(&tenant, PERSON), json!({}))
        .await;
    // Codes are 8 random digits: the two collide with probability 1e-8.
    assert_ne!(app.last_email_code(8).await, code);
    let v = verify(&app, &tenant, &second, &code).await;
    assert_eq!(v.body["refusalReason"], "invalid_code");
    assert_eq!(verify(&app, &tenant, &first, &code).await.body["isAuthorized"], true);
}

#[tokio::test]
async fn resending_is_throttled_and_a_new_code_does_not_reset_failures() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    let path = format!("/authentications/{id}/methods/email_authentication/send");
    let again = app.post(&path, &sdk(&tenant, PERSON), json!({})).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.body["code"], "TOO_MANY_REQUESTS");
    let retry: u64 = again.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(app.mail.received.lock().unwrap().len(), 1);

    verify(&app, &tenant, &id, &wrong(&code)).await;
    verify(&app, &tenant, &id, &wrong(&code)).await;
    app.put_policy(&tenant, "pix", json!({"codes": {"resendAfterSeconds": 0}})).await;
    // The attempt keeps the rules it started with: still throttled.
    assert_eq!(app.post(&path, &sdk(&tenant, PERSON), json!({})).await.status, StatusCode::TOO_MANY_REQUESTS);
    app.sql(&format!(
        "UPDATE attempts SET document = json_set(document, '$.methods.email_authentication.challenge.sentAt', 0) WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(app.post(&path, &sdk(&tenant, PERSON), json!({})).await.status, StatusCode::OK);
    let new_code = app.last_email_code(8).await;
    let v = verify(&app, &tenant, &id, &wrong(&new_code)).await;
    assert_eq!(v.body["attemptsLeft"], 0, "failures carry over to the new code: {:?}", v.body);
    assert_eq!(verify(&app, &tenant, &id, &new_code).await.body["isAuthorized"], false);
}

#[tokio::test]
async fn no_more_than_five_codes_are_sent_for_one_attempt() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({"codes": {"resendAfterSeconds": 0}})).await;
    let id = app.attempt(&tenant, PERSON, "laptop", SAO_PAULO).await.body["attemptId"].as_str().unwrap().to_owned();
    let path = format!("/authentications/{id}/methods/email_authentication/send");
    for _ in 0..5 {
        assert_eq!(app.post(&path, &sdk(&tenant, PERSON), json!({})).await.status, StatusCode::OK);
    }
    let sixth = app.post(&path, &sdk(&tenant, PERSON), json!({})).await;
    assert_eq!(sixth.status, StatusCode::CONFLICT, "{:?}", sixth.body);
    assert_eq!(app.mail.received.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn two_simultaneous_verifications_of_the_right_code_approve_once() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let request = app
            .http
            .post(format!("{}/authentications/{id}/methods/email_authentication/verify", app.address))
            .bearer_auth(sdk(&tenant, PERSON))
            .json(&json!({"code": code}));
        set.spawn(async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        });
    }
    let answers = set.join_all().await;
    let authorized = answers.iter().filter(|(_, b)| b["isAuthorized"] == true).count();
    assert_eq!(authorized, 1, "{answers:?}");
    assert!(answers.iter().filter(|(_, b)| b["isAuthorized"] != true).all(|(s, _)| *s == StatusCode::CONFLICT));
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert_eq!(doc.body["authenticationMethods"]["email_authentication"]["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_malformed_code_is_a_400_and_costs_nothing() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    for bad in [
        json!({"code": "123"}),
        json!({"code": "abcdefgh"}),
        json!({"code": 12345678}),
        json!({}),
        json!({"code": code, "extra": 1}),
    ] {
        let v = app
            .post(
                &format!("/authentications/{id}/methods/email_authentication/verify"),
                &sdk(&tenant, PERSON),
                bad.clone(),
            )
            .await;
        assert_eq!(v.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let v = verify(&app, &tenant, &id, &code).await;
    assert_eq!(v.body["isAuthorized"], true);
    assert_eq!(v.body["attemptsLeft"], 3);
}

#[tokio::test]
async fn codes_are_not_stored_in_clear_while_the_method_is_open() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let (id, code) = pending_with_code(&app, &tenant).await;
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert!(!doc.body.to_string().contains(&code), "the open code must not be shown");
    assert!(!contains(&app.db_bytes().await, &code), "the open code must not be stored");
}

#[tokio::test]
async fn verifying_before_sending_or_an_unoffered_method_is_a_conflict() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["email_authentication"]})).await;
    let a = app.attempt(&tenant, PERSON, "laptop", SAO_PAULO).await;
    let id = a.body["attemptId"].as_str().unwrap();
    let v = verify(&app, &tenant, id, "12345678").await;
    assert_eq!(v.status, StatusCode::CONFLICT);
    let s = app
        .post(&format!("/authentications/{id}/methods/sms_authentication/send"), &sdk(&tenant, PERSON), json!({}))
        .await;
    assert_eq!(s.status, StatusCode::CONFLICT);
    assert!(app.sms.received.lock().unwrap().is_empty());
    let s = app.post(&format!("/authentications/{id}/methods/pigeon/send"), &sdk(&tenant, PERSON), json!({})).await;
    assert_eq!(s.status, StatusCode::NOT_FOUND);
}
