use reqwest::StatusCode;
use serde_json::{json, Value};

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
                // A JSON body, one that is not JSON, one of another type, none, and one over the size limit
                // (with the token that gets furthest only).
                let too_large = format!("{{\"x\": \"{}\"}}", "a".repeat(smartauth::startup::MAX_BODY_BYTES));
                let bodies: Vec<Option<(&str, &str)>> = match verb {
                    reqwest::Method::GET | reqwest::Method::DELETE => vec![None],
                    _ => vec![
                        Some(("application/json", "{}")),
                        Some(("application/json", "not json")),
                        Some(("text/plain", "hello")),
                        None,
                        Some(("application/json", too_large.as_str())),
                    ],
                };
                for token in &tokens {
                    for body in &bodies {
                        let large = body.is_some_and(|(_, b)| b.len() > 1000);
                        let furthest =
                            if template.starts_with("/admin") { Some(ADMIN_TOKEN) } else { tokens[3].as_deref() };
                        if large && (token.as_deref() != furthest || !known) {
                            continue;
                        }
                        let mut request = app.http.request(verb.clone(), format!("{}{path}", app.address));
                        if let Some(t) = token {
                            request = request.bearer_auth(t);
                        }
                        if let Some((content_type, b)) = body {
                            request = request.header("content-type", *content_type).body(b.to_string());
                        }
                        let body = body.map(|(t, b)| (t, if b.len() > 1000 { "(over the limit)" } else { b }));
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

/// `$ref`s followed to what they name.
fn deref<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(r) = node.get("$ref").and_then(Value::as_str) {
        node = r.trim_start_matches("#/").split('/').fold(spec, |n, part| &n[part]);
    }
    node
}

/// The fields of `answer` that `schema` does not name, as paths (every field of an object whose schema lists
/// its properties must be one of them; an alternative of `anyOf` documents what it names).
fn undocumented(spec: &Value, schema: &Value, answer: &Value, at: &str, out: &mut Vec<String>) {
    let schema = deref(spec, schema);
    if let Some(alternatives) = schema.get("anyOf").or(schema.get("oneOf")).and_then(Value::as_array) {
        let gaps = alternatives.iter().map(|alternative| {
            let mut gaps = Vec::new();
            undocumented(spec, alternative, answer, at, &mut gaps);
            gaps
        });
        out.extend(gaps.min_by_key(Vec::len).unwrap_or_default());
        return;
    }
    match answer {
        Value::Object(fields) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
            for (name, value) in fields {
                match properties.get(name) {
                    Some(property) => undocumented(spec, property, value, &format!("{at}.{name}"), out),
                    None if schema.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false)) => {}
                    None => out.push(format!("{at}.{name}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, value) in items.iter().enumerate().take(5) {
                    undocumented(spec, item, value, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// What a generated client reads matches what the server answers: along a tenant's first day (client,
/// policy, identity, attempts, a code, webhooks, audit, replay), every field of every JSON answer is named
/// by the schema `/openapi.json` gives for that operation and status.
#[tokio::test]
async fn every_field_an_answer_carries_is_in_its_schema() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let spec = app.call(reqwest::Method::GET, "/openapi.json", None, None).await.body;
    let mut gaps = Vec::new();
    let mut check = |method: &str, template: &str, a: &Answer| {
        let operation = &spec["paths"][template][method];
        assert!(operation.is_object(), "{method} {template} is not in the reference");
        let listed = &operation["responses"][a.status.as_str()];
        assert!(listed.is_object(), "{method} {template} answered {} unlisted: {:?}", a.status, a.body);
        let schema = &deref(&spec, listed)["content"]["application/json"]["schema"];
        if schema.is_object() {
            undocumented(&spec, schema, &a.body, &format!("{method} {template} {}", a.status.as_u16()), &mut gaps);
        }
    };
    use reqwest::Method as M;
    let admin = Some(ADMIN_TOKEN);
    let created = app.call(M::POST, "/admin/clients", admin, Some(json!({"name": "acme"}))).await;
    check("post", "/admin/clients", &created);
    let tenant = Tenant {
        client_id: created.body["clientId"].as_str().unwrap().into(),
        secret: created.body["clientSecret"].as_str().unwrap().into(),
    };
    let client = format!("/admin/clients/{}", tenant.client_id);
    check("get", "/admin/clients", &app.call(M::GET, "/admin/clients", admin, None).await);
    check(
        "patch",
        "/admin/clients/{clientId}",
        &app.call(M::PATCH, &client, admin, Some(json!({"name": "Acme"}))).await,
    );
    let b = backend(&tenant);
    app.put_policy(&tenant, "pix", json!({})).await;
    check("put", "/policies/{policyId}", &app.put("/policies/pix", &b, app.get("/policies/pix", &b).await.body).await);
    check("get", "/policies/{policyId}", &app.get("/policies/pix", &b).await);
    check("get", "/policies", &app.get("/policies", &b).await);
    let person = app
        .post(
            "/identities",
            &b,
            json!({"personId": PERSON, "name": "Ana", "email": "ana@example.com", "phone": "5521982895497"}),
        )
        .await;
    check("post", "/identities", &person);
    let identity = format!("/identities/{PERSON_DIGITS}");
    check("get", "/identities/{personId}", &app.get(&identity, &b).await);
    check(
        "patch",
        "/identities/{personId}",
        &app.call(M::PATCH, &identity, Some(&b), Some(json!({"name": "Ana B"}))).await,
    );
    let hook = app
        .post("/webhooks", &b, json!({"url": "http://127.0.0.1:9/hooks", "events": ["authentication.approved"]}))
        .await;
    check("post", "/webhooks", &hook);
    let hook = format!("/webhooks/{}", hook.body["id"].as_str().unwrap());

    let attempt = app.attempt(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    check("post", "/authentications", &attempt);
    let id = attempt.body["attemptId"].as_str().unwrap().to_owned();
    let sent = app
        .post(&format!("/authentications/{id}/methods/email_authentication/send"), &sdk(&tenant, PERSON), json!({}))
        .await;
    check("post", "/authentications/{attemptId}/methods/{method}/send", &sent);
    let (verify_path, person_token) =
        (format!("/authentications/{id}/methods/email_authentication/verify"), sdk(&tenant, PERSON));
    let verify = |code: String| app.post(&verify_path, &person_token, json!({"code": code}));
    let wrong = verify("00000000".into()).await;
    check("post", "/authentications/{attemptId}/methods/{method}/verify", &wrong);
    let right = verify(app.last_email_code(8).await).await;
    check("post", "/authentications/{attemptId}/methods/{method}/verify", &right);
    let passive = app.attempt(&tenant, PERSON, "phone-1", SAO_PAULO).await;
    check("post", "/authentications", &passive);
    for token in [&b, &sdk(&tenant, PERSON)] {
        check("get", "/authentications/{attemptId}", &app.get(&format!("/authentications/{id}"), token).await);
    }
    check("get", "/authentications", &app.get("/authentications?limit=5", &b).await);
    let challenge =
        app.post("/authentications/device-challenge", &sdk(&tenant, PERSON), json!({"policyId": "pix"})).await;
    check("post", "/authentications/device-challenge", &challenge);
    check("post", "/identities/{personId}/unlock", &app.post(&format!("{identity}/unlock"), &b, json!({})).await);
    let replayed =
        app.post("/policies/pix/replay", &b, json!({"policy": app.get("/policies/pix", &b).await.body})).await;
    check("post", "/policies/{policyId}/replay", &replayed);

    check("get", "/webhooks", &app.get("/webhooks", &b).await);
    check("get", "/webhooks/{id}", &app.get(&hook, &b).await);
    check("post", "/webhooks/{id}/test", &app.post(&format!("{hook}/test"), &b, json!({})).await);
    check("get", "/webhooks/{id}/deliveries", &app.get(&format!("{hook}/deliveries"), &b).await);
    check("post", "/webhooks/{id}/rotate-secret", &app.post(&format!("{hook}/rotate-secret"), &b, json!({})).await);
    check("patch", "/webhooks/{id}", &app.call(M::PATCH, &hook, Some(&b), Some(json!({"description": "d"}))).await);
    check("post", "/webhooks/{id}/recover", &app.post(&format!("{hook}/recover"), &b, json!({})).await);
    check("get", "/audit", &app.get("/audit", &b).await);
    check("get", "/admin/audit", &app.call(M::GET, "/admin/audit", admin, None).await);
    check("delete", "/webhooks/{id}", &app.call(M::DELETE, &hook, Some(&b), None).await);
    check("delete", "/identities/{personId}", &app.call(M::DELETE, &identity, Some(&b), None).await);
    check("delete", "/policies/{policyId}", &app.call(M::DELETE, "/policies/pix", Some(&b), None).await);
    check(
        "post",
        "/admin/clients/{clientId}/rotate-secret",
        &app.call(M::POST, &format!("{client}/rotate-secret"), admin, Some(json!({}))).await,
    );
    check(
        "post",
        "/admin/clients/{clientId}/disable",
        &app.call(M::POST, &format!("{client}/disable"), admin, None).await,
    );
    check(
        "post",
        "/admin/clients/{clientId}/enable",
        &app.call(M::POST, &format!("{client}/enable"), admin, None).await,
    );
    check("get", "/ready", &app.call(M::GET, "/ready", None, None).await);
    check("get", "/health", &app.call(M::GET, "/health", None, None).await);
    gaps.sort();
    gaps.dedup();
    assert!(gaps.is_empty(), "fields the reference does not name:\n{}", gaps.join("\n"));
}
