//! Issue 8, odd values: every number has a sane range, and text shown to people (device ids, names,
//! addresses) carries no invisible formatting characters such as U+202E, which reverses what follows
//! it on screen. Each refusal is a 400 that changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const RLO: char = '\u{202E}';

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in ["clients", "identities", "policies", "attempts", "known_contexts"] {
        out.push(app.count_rows(table).await);
    }
    out
}

fn attempt_with(device: Value, location: Value) -> Value {
    json!({"personId": PERSON, "policyId": "pix", "context": {"device": device, "location": location}})
}

#[tokio::test]
async fn numbers_out_of_any_sane_range_are_refused() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let b = backend(&tenant);
    let before = counts(&app).await;
    let policy = app.get("/policies/pix", &b).await.body;
    let place = |accuracy: Value| json!({"latitude": SAO_PAULO.0, "longitude": SAO_PAULO.1, "accuracy": accuracy});
    let device = json!({"type": "web", "fingerPrint": "laptop"});
    for accuracy in [json!(1e308), json!(20_037_509), json!(-1)] {
        let a = app.post("/authentications", &b, attempt_with(device.clone(), place(accuracy.clone()))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "accuracy {accuracy}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains("accuracy"), "{:?}", a.body);
    }
    for (field, value) in [
        ("maxAllowedDistanceInMeters", json!(1e308)),
        ("maxAllowedDistanceInMeters", json!(40_000_000)),
        ("maxAllowedDistanceInMeters", json!(0.5)),
        ("maxTravelSpeedKmh", json!(1e308)),
        ("maxTravelSpeedKmh", json!(0)),
    ] {
        let body = json!({"name": "Pix", "contexts": {"location_context": {field: value}}});
        let a = app.put("/policies/pix", &b, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field} {value}: {:?}", a.body);
        assert!(a.body["message"].as_str().unwrap().contains(field), "{:?}", a.body);
    }
    assert_eq!(counts(&app).await, before, "a refused value changes nothing");
    let unchanged = app.get("/policies/pix", &b).await.body;
    assert_eq!(unchanged["contexts"], policy["contexts"]);

    // The edges themselves are fine.
    let a = app.post("/authentications", &b, attempt_with(device, place(json!(20_037_508)))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let edge = json!({"name": "Pix", "contexts": {
        "location_context": {"maxAllowedDistanceInMeters": 20_037_508, "maxTravelSpeedKmh": 5000}
    }});
    assert_eq!(app.put("/policies/edge", &b, edge).await.status, StatusCode::OK);
}

#[tokio::test]
async fn invisible_formatting_characters_are_refused_where_people_read_the_text() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    let b = backend(&tenant);
    let before = counts(&app).await;
    let spoofed = format!("device-{RLO}gpj.exe");
    let cases: Vec<(reqwest::Method, &str, Value)> = vec![
        (reqwest::Method::POST, "/authentications", attempt_with(json!({"fingerPrint": spoofed}), Value::Null)),
        (
            reqwest::Method::POST,
            "/authentications",
            attempt_with(json!({"fingerPrint": "lap\u{200B}top"}), Value::Null),
        ),
        (reqwest::Method::POST, "/authentications", attempt_with(json!({"type": format!("web{RLO}")}), Value::Null)),
        (
            reqwest::Method::POST,
            "/authentications",
            attempt_with(json!({"providedInfo": {"model": format!("iPhone{RLO} 12")}}), Value::Null),
        ),
        (reqwest::Method::POST, "/identities", json!({"personId": "p2", "name": format!("John {RLO}eoD")})),
        (
            reqwest::Method::POST,
            "/identities",
            json!({"personId": "p2", "name": "John", "email": format!("john{RLO}@example.com")}),
        ),
        (reqwest::Method::PATCH, "/identities/95236098076", json!({"name": format!("Mallory{RLO}")})),
        (reqwest::Method::PUT, "/policies/pix", json!({"name": format!("Pix {RLO}refsnart")})),
        (reqwest::Method::POST, "/admin/clients", json!({"name": format!("acme{RLO}")})),
        (reqwest::Method::POST, "/identities", json!({"personId": format!("p{RLO}2"), "name": "John"})),
    ];
    for (method, path, body) in cases {
        let token = if path.starts_with("/admin") { ADMIN_TOKEN.to_owned() } else { b.clone() };
        let a = app.call(method.clone(), path, Some(&token), Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {:?}", a.body);
        assert_eq!(a.body["code"], "BAD_REQUEST");
    }
    assert_eq!(counts(&app).await, before, "a refused request changes nothing");
    assert_eq!(app.get("/identities/95236098076", &b).await.body["name"], "John Doe");

    // Joiners belong in names (Persian, Indic, emoji), and ordinary accents everywhere.
    let persian = app.post("/identities", &b, json!({"personId": "p3", "name": "مهر\u{200C}داد"})).await;
    assert_eq!(persian.status, StatusCode::OK, "{:?}", persian.body);
    let accented =
        app.post("/authentications", &b, attempt_with(json!({"fingerPrint": "João-laptop"}), Value::Null)).await;
    assert_eq!(accented.status, StatusCode::OK, "{:?}", accented.body);
}
