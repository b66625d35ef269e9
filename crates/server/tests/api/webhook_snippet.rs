//! The README's Rust snippet for receivers ("Receiving them"), compiled and run against real deliveries:
//! the text between the markers is the README's, verbatim (`the_readme_carries_this_snippet`).
use axum::http;

// snippet start
// Cargo.toml: standardwebhooks = "1", hmac = "0.12", sha2 = "0.10", hex = "0.4", serde_json = "1",
// and http = "1" (axum 0.7/0.8's HeaderMap is this one).
use hmac::{Hmac, Mac};
use http::HeaderMap;

/// The CloudEvent of a genuine delivery, or None (answer 400). `body`: the raw bytes as received.
fn verify_delivery(body: &[u8], headers: &HeaderMap, webhook_secret: &str) -> Option<serde_json::Value> {
    let webhook = standardwebhooks::Webhook::new(webhook_secret).ok()?; // "whsec_..."
    webhook.verify(body, headers).ok()?; // webhook-id, webhook-timestamp (5 min), webhook-signature
    serde_json::from_slice(body).ok()
}

/// X-Caf-Signature: hex HMAC-SHA256 of the raw body with the client secret (compared in constant time).
fn caf_signature_ok(body: &[u8], headers: &HeaderMap, client_secret: &str) -> bool {
    let Some(given) = headers.get("x-caf-signature").and_then(|v| hex::decode(v.as_bytes()).ok()) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(client_secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}
// snippet end

pub(crate) fn verify(body: &[u8], headers: &HeaderMap, webhook_secret: &str) -> Option<serde_json::Value> {
    verify_delivery(body, headers, webhook_secret)
}

pub(crate) fn caf_ok(body: &[u8], headers: &HeaderMap, client_secret: &str) -> bool {
    caf_signature_ok(body, headers, client_secret)
}

#[test]
fn the_readme_carries_this_snippet() {
    let this = include_str!("webhook_snippet.rs");
    let start = this.find("// snippet start\n").unwrap() + "// snippet start\n".len();
    let end = this.find("// snippet end").unwrap();
    assert!(include_str!("../../../../README.md").contains(&this[start..end]), "README.md and this file differ");
}
