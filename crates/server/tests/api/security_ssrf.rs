//! Issue 8, SSRF: `imageUrl` reaches public addresses only, including through 6to4 and Teredo
//! addresses that carry a private IPv4 address, and its refusal does not tell a name that does not
//! resolve from a private target (which would let a client map internal names).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn transition_addresses_carrying_private_ipv4_are_refused_like_any_private_target() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let mut messages = Vec::new();
    for url in [
        "http://10.0.0.1/face.jpg",
        "http://[2002:a00:1::]/face.jpg",                         // 6to4 of 10.0.0.1
        "http://[2002:7f00:1::1]/face.jpg",                       // 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::]/latest/meta-data/",            // 6to4 of the cloud metadata service
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/face.jpg", // Teredo, client 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/face.jpg", // Teredo, client 127.0.0.1
    ] {
        let a = app
            .post("/identities", &backend(&tenant), json!({"personId": "p1", "name": "Jane", "imageUrl": url}))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{url}: {:?}", a.body);
        messages.push((url, a.body["message"].as_str().unwrap().to_owned()));
    }
    let first = messages[0].1.clone();
    assert!(first.contains("private"), "{first}");
    for (url, message) in &messages {
        assert_eq!(message, &first, "{url} is refused differently from a private address");
    }
    assert_eq!(app.count_rows("identities").await, 0);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_gets_the_same_answer_as_an_internal_one() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let refusal = |url: &'static str| {
        let (app, tenant) = (&app, &tenant);
        async move {
            let a = app
                .post("/identities", &backend(tenant), json!({"personId": "p1", "name": "Jane", "imageUrl": url}))
                .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{url}: {:?}", a.body);
            assert_eq!(a.body["code"], "BAD_REQUEST");
            a.body["message"].as_str().unwrap().to_owned()
        }
    };
    // An internal name (localhost resolves to loopback) and names that do not resolve (RFC 6761).
    let internal = refusal("http://localhost/face.jpg").await;
    for missing in ["http://no-such-host.invalid/face.jpg", "http://intranet.invalid:8080/admin"] {
        assert_eq!(refusal(missing).await, internal, "{missing} tells a missing name from an internal one");
    }
    assert!(!internal.contains("resolve:"), "no resolver detail: {internal}");
    assert_eq!(app.count_rows("identities").await, 0);
}
