//! Issue 8, leaks: a code that may still be valid is never stored or shown; a person-scoped (SDK)
//! token sees the outcome of its attempt and what to do next, not the evidence; error messages do not
//! name the server's own types.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn pending(app: &TestApp, tenant: &Tenant) -> String {
    let a = app.attempt(tenant, PERSON, "laptop", SAO_PAULO).await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    a.body["attemptId"].as_str().unwrap().to_owned()
}

async fn step(app: &TestApp, tenant: &Tenant, id: &str, method: &str, action: &str, body: Value) -> Answer {
    app.post(&format!("/authentications/{id}/methods/{method}/{action}"), &sdk(tenant, PERSON), body).await
}

#[tokio::test]
async fn a_live_code_typed_into_the_wrong_method_is_neither_stored_nor_shown() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let id = pending(&app, &tenant).await;
    assert_eq!(step(&app, &tenant, &id, "email_authentication", "send", json!({})).await.status, StatusCode::OK);
    assert_eq!(step(&app, &tenant, &id, "sms_authentication", "send", json!({})).await.status, StatusCode::OK);
    let sms_code = app.last_sms_code(8);

    // The person types the SMS code into the email box.
    let wrong_box = step(&app, &tenant, &id, "email_authentication", "verify", json!({"code": sms_code})).await;
    assert_eq!(wrong_box.body["refusalReason"], "invalid_code", "{:?}", wrong_box.body);

    for (who, t) in [("backend", backend(&tenant)), ("sdk", sdk(&tenant, PERSON))] {
        let doc = app.get(&format!("/authentications/{id}"), &t).await;
        assert_eq!(doc.status, StatusCode::OK);
        assert!(!doc.body.to_string().contains(&sms_code), "the {who} token is shown the live SMS code: {}", doc.body);
    }
    let backend_doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    let tried = &backend_doc["authenticationMethods"]["email_authentication"]["attempts"][0];
    assert_eq!(tried["providedCode"], "********", "a refused code is shown as its length only");
    assert_eq!(tried["expectedCode"], Value::Null);
    let stored = app.scalar(&format!("SELECT COUNT(*) FROM attempts WHERE instr(document, '{sms_code}') > 0")).await;
    assert_eq!(stored, 0, "the live SMS code is stored in clear");

    // The code was never disclosed, so it still does its job; once spent, it may be shown.
    let approved = step(&app, &tenant, &id, "sms_authentication", "verify", json!({"code": sms_code})).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    let sms = &doc["authenticationMethods"]["sms_authentication"]["attempts"][0];
    assert_eq!(sms["providedCode"], sms_code.as_str());
    assert_eq!(sms["expectedCode"], sms_code.as_str());
}

#[tokio::test]
async fn the_sdk_token_sees_the_outcome_and_the_next_step_not_the_evidence() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let id = pending(&app, &tenant).await;
    step(&app, &tenant, &id, "email_authentication", "send", json!({})).await;
    step(&app, &tenant, &id, "email_authentication", "verify", json!({"code": "00000000"})).await;

    let seen = app.get(&format!("/authentications/{id}"), &sdk(&tenant, PERSON)).await;
    assert_eq!(seen.status, StatusCode::OK);
    let doc = &seen.body;
    // The outcome and what to do next.
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["contextAnalysisResult"], "INVALID");
    assert_eq!(doc["isBlocked"], false);
    assert_eq!(doc["neededReauthentications"], json!(["email_authentication", "sms_authentication"]));
    let email = &doc["authenticationMethods"]["email_authentication"];
    assert_eq!(email["status"], "pending");
    assert_eq!(email["attemptsLeft"], 2);
    assert_eq!(email["attempts"][0]["refusalReason"], "invalid_code");
    assert_eq!(email["attempts"][0]["sentTo"], "j***@example.com");
    assert_eq!(doc["authenticationMethods"]["sms_authentication"]["attemptsLeft"], 3);
    // Not the evidence: which rule fired, what the network and location looked like, the summary.
    for evidence in ["contextEvaluation", "decisionSummary", "context", "sourceIp", "identity"] {
        assert!(doc.get(evidence).is_none(), "the SDK view has {evidence}: {doc}");
    }
    let text = doc.to_string();
    for reason in ["NEW_DEVICE", "NEW_LOCATION", "laptop", "providedCode", "expectedCode"] {
        assert!(!text.contains(reason), "the SDK view mentions {reason}: {doc}");
    }

    // The tenant's backend still reads the whole document.
    let full = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body;
    assert_eq!(full["contextEvaluation"]["device_context"]["reason"], "NEW_DEVICE");
    assert!(full["decisionSummary"].is_string());
    assert_eq!(full["context"]["device"]["fingerPrint"], "laptop");
}

#[tokio::test]
async fn error_messages_do_not_name_the_servers_types() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let b = backend(&tenant);
    let cases: Vec<(reqwest::Method, &str, Value)> = vec![
        (reqwest::Method::POST, "/authentications", json!([])),
        (reqwest::Method::POST, "/authentications", json!({"personId": PERSON, "policyId": "pix", "context": []})),
        (
            reqwest::Method::POST,
            "/authentications",
            json!({"personId": PERSON, "policyId": "pix",
                   "context": {"location": {"latitude": "north", "longitude": 0}}}),
        ),
        (reqwest::Method::POST, "/identities", json!([1, 2, 3])),
        (reqwest::Method::PUT, "/policies/p2", json!([])),
        (reqwest::Method::PUT, "/policies/p2", json!({"name": "P", "codes": {"length": 300}})),
        (reqwest::Method::PUT, "/policies/p2", json!({"name": "P", "contexts": {"device_context": []}})),
        (reqwest::Method::POST, "/admin/clients", json!([])),
    ];
    for (method, path, body) in cases {
        let token = if path.starts_with("/admin") { ADMIN_TOKEN.to_owned() } else { b.clone() };
        let a = app.call(method.clone(), path, Some(&token), Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {:?}", a.body);
        let message = a.body["message"].as_str().unwrap();
        for internal in ["struct", "enum ", "AttemptRequest", "ContextBody", "LocationBody", "NewIdentity", "u8", "f64"]
        {
            assert!(!message.contains(internal), "{method} {path} {body}: {message:?} names {internal}");
        }
        assert!(message.contains("expected"), "the message still says what was expected: {message:?}");
    }
}
