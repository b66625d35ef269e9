use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_policy_is_created_replaced_listed_and_deleted() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let b = backend(&tenant);
    let made = app.put_policy(&tenant, "pix", json!({})).await;
    assert_eq!(made["policyId"], "pix");
    assert_eq!(made["codes"]["length"], 8);
    assert_eq!(made["face"]["requireLiveness"], true, "defaults are filled in and shown");
    let created_at = made["createdAt"].clone();

    let replaced = app.put_policy(&tenant, "pix", json!({"name": "Pix v2"})).await;
    assert_eq!(replaced["name"], "Pix v2");
    assert_eq!(replaced["createdAt"], created_at);
    assert_eq!(replaced["id"], made["id"]);

    // A policy as read (id, times, request id and all) is written back edited, as it stands.
    let mut read = app.get("/policies/pix", &b).await.body;
    read["name"] = "Pix v3".into();
    let written = app.put("/policies/pix", &b, read).await;
    assert_eq!(written.status, StatusCode::OK, "{:?}", written.body);
    assert_eq!(written.body["name"], "Pix v3");
    assert_eq!((&written.body["id"], &written.body["createdAt"]), (&made["id"], &created_at));

    app.put_policy(&tenant, "login", json!({})).await;
    let list = app.get("/policies", &b).await;
    let ids: Vec<_> =
        list.body["items"].as_array().unwrap().iter().map(|p| p["policyId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec!["login", "pix"]);

    let del = app.call(reqwest::Method::DELETE, "/policies/pix", Some(&b), None).await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(app.get("/policies/pix", &b).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(reqwest::Method::DELETE, "/policies/pix", Some(&b), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_misspelt_policy_field_is_refused_and_the_old_policy_stays() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({})).await;
    let a = app
        .put(
            "/policies/pix",
            &backend(&tenant),
            json!({"name": "weaker", "contexts": {"network_context": {"allowTorr": true}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with("contexts.network_context.allowTorr: unknown field `allowTorr`"),
        "{:?}",
        a.body
    );
    assert_eq!(app.get("/policies/pix", &backend(&tenant)).await.body["name"], "Pix transfer");
    // A value of the wrong kind is named by its place in the policy.
    for (body, place) in [
        (json!({"name": "x", "codes": "x"}), "codes: "),
        (json!({"name": "x", "codes": {"length": "six"}}), "codes.length: "),
        (
            json!({"name": "x", "contexts": {"device_context": {"maxDevicesPerIdentity": -1}}}),
            "contexts.device_context.maxDevicesPerIdentity: ",
        ),
    ] {
        let a = app.put("/policies/pix", &backend(&tenant), body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        let message = a.body["message"].as_str().unwrap();
        assert!(message.starts_with(place), "{body}: {message}");
        assert!(!message.contains("struct") && !message.contains("u32"), "no type of the server's: {message}");
    }
    assert_eq!(app.get("/policies/pix", &backend(&tenant)).await.body["name"], "Pix transfer");
}

#[tokio::test]
async fn rules_that_cannot_be_enforced_without_data_are_named() {
    let policy = json!({"contexts": {"location_context": {"blockedCountries": ["KP"]}}});
    // With the data sets installed, every rule can be applied.
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    assert_eq!(app.put_policy(&tenant, "pix", policy.clone()).await["warnings"], json!([]));

    // Without them (an empty data directory), the anonymizer rules cannot refuse anything; countries
    // are still known from the device's coordinates (the places table compiled into the binary).
    let empty = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.intel.dir = empty.path().to_path_buf()).await;
    let tenant = app.new_tenant().await;
    let warned = app.put_policy(&tenant, "pix", policy).await;
    let warnings: Vec<String> = serde_json::from_value(warned["warnings"].clone()).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("network_context") && warnings[0].contains("fetch-data"));
    let quiet = app
        .put_policy(
            &tenant,
            "open",
            json!({"contexts": {"network_context": {"enabled": false}, "location_context": {"blockedCountries": []}}}),
        )
        .await;
    assert_eq!(quiet["warnings"], json!([]));
}

#[tokio::test]
async fn methods_this_server_cannot_offer_are_named_in_the_warnings() {
    let methods = json!({"reauthenticationMethods": ["sms_authentication", "email_authentication"]});
    let warnings =
        |answer: serde_json::Value| -> Vec<String> { serde_json::from_value(answer["warnings"].clone()).unwrap() };

    // Without an SMTP relay, email codes cannot be sent: the tenant is told, SMS is not mentioned.
    let app = spawn_app_with(|s| s.smtp_url = None).await;
    let tenant = app.new_tenant().await;
    let warned = warnings(app.put_policy(&tenant, "pix", methods.clone()).await);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("email_authentication") && warned[0].contains("SMARTAUTH_SMTP_URL"), "{warned:?}");

    // With neither channel, each is named, and the consequence is said.
    let app = spawn_app_with(|s| {
        s.smtp_url = None;
        s.sms_gateway_url = None;
    })
    .await;
    let tenant = app.new_tenant().await;
    let warned = warnings(app.put_policy(&tenant, "pix", methods.clone()).await);
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert!(warned[0].contains("sms_authentication") && warned[0].contains("SMARTAUTH_SMS_GATEWAY_URL"));
    assert!(warned[1].contains("email_authentication"));
    assert!(warned[2].contains("reproved"), "{warned:?}");
    app.create_identity(&tenant, "95236098076").await;
    let attempt = app.attempt(&tenant, "95236098076", "new-device", (-23.56, -46.6376)).await;
    assert_eq!(attempt.body["status"], "reproved", "the warning tells the truth: {:?}", attempt.body);

    // With both configured, nothing to say.
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    assert_eq!(app.put_policy(&tenant, "pix", methods).await["warnings"], json!([]));
}

#[tokio::test]
async fn an_attempt_against_a_missing_policy_is_404() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let a = app.post("/authentications", &sdk(&tenant, PERSON), json!({"policyId": "nope"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count_rows("attempts").await, 0);
}
