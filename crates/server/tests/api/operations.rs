use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_ready_metrics_and_docs_answer() {
    let app = spawn_app().await;
    let health = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["requestId"], health.headers["x-request-id"].to_str().unwrap());
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["delivery"], json!({"email": true, "sms": true}));

    let tenant = app.tenant_with_person(PERSON).await;
    app.attempt(&tenant, PERSON, "d", SAO_PAULO).await;
    let metrics = app.call(reqwest::Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("smartauth_http_requests_total"), "{text}");
    assert!(text.contains("smartauth_decisions_total{status=\"pending\"}"), "{text}");
    assert!(text.contains("route=\"/authentications\""));

    let spec = app.call(reqwest::Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/authentications",
        "/authentications/{attemptId}",
        "/authentications/device-challenge",
        "/identities",
        "/policies/{policyId}",
        "/policies/{policyId}/replay",
        "/webhooks",
        "/webhooks/{id}/deliveries",
        "/audit",
        "/admin/audit",
        "/sdk/smartauth.js",
    ] {
        assert!(spec.body["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    for event in smartauth::webhooks::EVENT_TYPES {
        assert!(spec.body["webhooks"].get(event).is_some(), "OpenAPI describes no {event} delivery");
    }
    let docs = app.http.get(format!("{}/docs", app.address)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("/openapi.json"));
    assert!(!html.contains("https://"), "the docs page loads nothing from outside");
}

#[tokio::test]
async fn attempts_are_listed_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.create_identity(&tenant, "other").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.attempt(&tenant, PERSON, "d", SAO_PAULO).await.body["attemptId"].as_str().unwrap().to_owned());
        // Attempts are ordered by their creation millisecond; within one millisecond, by id.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.attempt(&tenant, "other", "d", SAO_PAULO).await;
    let b = backend(&tenant);
    let first = app.get(&format!("/authentications?personId={PERSON}&limit=3"), &b).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let page1: Vec<_> =
        first.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = app.get(&format!("/authentications?personId={PERSON}&limit=3&cursor={cursor}"), &b).await;
    let page2: Vec<_> =
        second.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(second.body["nextCursor"], json!(null));
    let mut all: Vec<_> = page1.into_iter().chain(page2).collect();
    all.reverse();
    assert_eq!(all, ids, "newest first, no gaps, no repeats");
    assert_eq!(app.get("/authentications", &b).await.body["items"].as_array().unwrap().len(), 6);
    assert_eq!(app.get("/authentications?status=approved", &b).await.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.get("/authentications?status=pending&policyId=pix", &b).await.body["items"].as_array().unwrap().len(),
        6
    );
    assert_eq!(
        app.get("/authentications?from=2999-01-01T00:00:00Z", &b).await.body["items"].as_array().unwrap().len(),
        0
    );
    assert_eq!(app.get("/authentications?status=maybe", &b).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let app = spawn_app_with(|s| {
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let tenant = app.tenant_with_person(PERSON).await;
        let r = app
            .http
            .post(format!("{}/authentications", app.address))
            .bearer_auth(sdk(&tenant, PERSON))
            .header("x-forwarded-for", "203.0.113.9")
            .json(&json!({"policyId": "pix"}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        let doc =
            app.get(&format!("/authentications/{}", body["attemptId"].as_str().unwrap()), &backend(&tenant)).await;
        assert_eq!(doc.body["sourceIp"], expected, "trusted={trusted}");
    }
}

/// A generated client knows the answers the reference lists: every operation, called with no token, a
/// token of each kind, a body that is empty or not JSON, on ids that exist and ids that do not, answers
/// only statuses its entry in `/openapi.json` names.
#[tokio::test]
async fn every_status_an_operation_answers_is_in_the_reference() {
    // The throttles off, so that the answers behind them show (the 429 they give is listed for every call
    // with a token, and tested in security_tokens.rs).
    let app = spawn_app_with(|s| {
        s.limits.auth_failures_per_minute = 0;
        s.limits.sdk_per_minute = 0;
        s.limits.device_per_minute = 0;
    })
    .await;
    let tenant = app.tenant_with_person(PERSON).await;
    let sacrificed = app.tenant_with_person(PERSON).await;
    let attempt = app.attempt(&tenant, PERSON, "d", SAO_PAULO).await;
    let attempt_id = attempt.body["attemptId"].as_str().unwrap().to_owned();
    let spec = app.call(reqwest::Method::GET, "/openapi.json", None, None).await.body;
    let tokens = [
        None,
        Some(sdk(&tenant, PERSON)),
        Some(sdk(&tenant, "someone-else")),
        Some(backend(&tenant)),
        Some(ADMIN_TOKEN.to_owned()),
    ];
    let mut undocumented = Vec::new();
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Ok(verb) = method.to_uppercase().parse::<reqwest::Method>() else { continue };
            let listed = operation["responses"].as_object().unwrap();
            for (ids, known) in [(&attempt_id, true), (&"0000000000000000000000aa".to_owned(), false)] {
                let path = template
                    .replace("{attemptId}", ids)
                    .replace("{personId}", if known { PERSON } else { "nobody" })
                    .replace("{policyId}", if known { "pix" } else { "nope" })
                    // The operator's calls disable and rotate a client: another one than the tenant's.
                    .replace(
                        "{clientId}",
                        match (known, template.starts_with("/admin")) {
                            (false, _) => "cli_nope",
                            (true, true) => &sacrificed.client_id,
                            (true, false) => &tenant.client_id,
                        },
                    )
                    .replace("{method}", if known { "sms_authentication" } else { "carrier_pigeon" })
                    .replace("{id}", "wh_nope")
                    .replace("{deliveryId}", "dl_nope")
                    .replace("{name}", "selfie.jpg");
                let bodies: &[Option<&str>] = match verb {
                    reqwest::Method::GET | reqwest::Method::DELETE => &[None],
                    _ => &[Some("{}"), Some("not json"), None],
                };
                for token in &tokens {
                    for body in bodies {
                        let mut request = app.http.request(verb.clone(), format!("{}{path}", app.address));
                        if let Some(t) = token {
                            request = request.bearer_auth(t);
                        }
                        if let Some(b) = body {
                            request = request.header("content-type", "application/json").body(b.to_string());
                        }
                        let status = request.send().await.unwrap().status();
                        if !listed.contains_key(status.as_str()) && !listed.contains_key("default") {
                            undocumented.push(format!(
                                "{method} {template} answered {status} (token {}, body {body:?}, {})",
                                match token.as_deref() {
                                    None => "none",
                                    Some(ADMIN_TOKEN) => "admin",
                                    Some(_) => "a client's",
                                },
                                if known { "ids that exist" } else { "unknown ids" }
                            ));
                        }
                    }
                }
            }
        }
    }
    undocumented.dedup();
    assert!(undocumented.is_empty(), "answers the reference does not list:\n{}", undocumented.join("\n"));
}
