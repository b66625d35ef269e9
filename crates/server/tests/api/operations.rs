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
