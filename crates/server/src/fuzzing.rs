//! Entry points for the fuzz targets in `fuzz/`: not an API (hidden from the docs, changed at will).
//!
//! Each takes bytes a client controls and runs them through the server's own parsing and validation,
//! up to where I/O would begin (storage, fetching an `imageUrl`, face analysis). Each returns what the
//! client would be answered: `Ok` or the [`ApiError`] that becomes a 4xx. A panic is the bug a fuzzer
//! looks for. Where a route's parts are private, a hidden `fuzz` module beside it runs them in the
//! route's order (`routes/*/fuzz.rs`, `auth/fuzz.rs`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::header::CONTENT_TYPE;
use axum::http::Request;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;
use smartauth_domain::{PersonId, Policy};

use crate::clients::{ActiveClient, SdkTokenLifetime};
use crate::error::{ApiError, ApiResult};
use crate::extract;

pub use crate::routes::fuzzing::{attempt_body, identity_body, identity_changes_body, verify_body};

/// The client whose secret signs the tokens of [`signed_token`].
pub const CLIENT_ID: &str = "fuzz-client";
pub const CLIENT_SECRET: &str = "fuzz-secret-0123456789abcdef0123456789abcdef";

pub fn client() -> Arc<ActiveClient> {
    Arc::new(ActiveClient {
        id: CLIENT_ID.into(),
        secret: CLIENT_SECRET.into(),
        previous: None,
        validate_cpf: true,
        sdk_token_lifetime: SdkTokenLifetime::DEFAULT,
        require_sdk_token_policy: false,
        display_name: "Fuzz".into(),
        language: crate::delivery::messages::Language::En,
        allowed_origins: Vec::new(),
        templates: None,
    })
}

/// A JSON request body as the routes' `Json` extractor reads it (with its error messages).
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(bytes.to_vec()))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    futures::executor::block_on(extract::Json::<T>::from_request(request, &())).map(|extract::Json(v)| v)
}

/// `PUT /policies/{policyId}`: the body as `routes::policies::put` parses and validates it.
pub fn policy_body(policy_id: &str, bytes: &[u8]) -> ApiResult<Policy> {
    let body: serde_json::Value = json_body(bytes)?;
    Policy::parse(policy_id, body).map_err(|e| ApiError::BadRequest(extract::public_message(&e.0)))
}

/// A bearer token as `auth::verify_tenant_token` checks it, for the client of [`client`] (any other
/// issuer is refused as an unknown client would be).
pub fn token(token: &str) -> ApiResult<Option<PersonId>> {
    crate::auth::fuzz::verify(token, &client(), chrono::Utc::now().timestamp())
}

/// A token with this header and these claims (any bytes), signed HS256 with [`CLIENT_SECRET`]: what
/// lets a fuzzer reach the claims' checks behind the signature.
pub fn signed_token(header: &[u8], claims: &[u8]) -> String {
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(CLIENT_SECRET.as_bytes()).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    //! The fuzz targets' seeds, and every input a fuzzer found a bug with, run here on every test run.
    use super::*;
    use smartauth_domain::Method;

    const HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn a_signed_backend_token_is_accepted_and_a_forged_one_is_not() {
        let good = signed_token(HEADER, br#"{"iss":"fuzz-client"}"#);
        assert!(token(&good).unwrap().is_none());
        let sdk = format!(
            r#"{{"iss":"fuzz-client","personId":"95236098076","exp":{}}}"#,
            chrono::Utc::now().timestamp() + 60
        );
        assert_eq!(token(&signed_token(HEADER, sdk.as_bytes())).unwrap().unwrap().as_str(), "95236098076");
        let other = signed_token(HEADER, br#"{"iss":"fuzz-client","personId":"95236098076"}"#);
        let forged = format!("{}.{}", good.rsplit_once('.').unwrap().0, other.rsplit_once('.').unwrap().1);
        assert!(token(&forged).is_err());
        assert!(token(&signed_token(HEADER, br#"{"iss":"other-client"}"#)).is_err());
        assert!(token(&signed_token(HEADER, br#"{"iss":"fuzz-client","exp":-1}"#)).is_err());
        assert!(token(&signed_token(br#"{"alg":"HS256","crit":["x"]}"#, br#"{"iss":"fuzz-client"}"#)).is_err());
    }

    #[test]
    fn the_api_examples_parse_and_bad_bodies_are_4xx() {
        let attempt = br#"{"personId": "95236098076", "policyId": "pix-transfer", "context": {"device": {"type": "web",
            "fingerPrint": "ASDiknh123", "providedInfo": {"manufacturer": "Apple"}, "flags": {"emulator": false}},
            "location": {"latitude": -23.56, "longitude": -46.6376, "accuracy": 12.45}}}"#;
        attempt_body(attempt).unwrap();
        identity_body(br#"{"personId": "952.360.980-76", "name": "John Doe", "email": "john@example.com", "phone": "5521982895497"}"#)
            .unwrap();
        identity_changes_body(br#"{"name": "John", "email": null}"#).unwrap();
        verify_body(Method::SmsAuthentication, 8, br#"{"code": "12345678"}"#).unwrap();
        assert!(verify_body(Method::FaceAuthentication, 8, br#"{"code": "12345678"}"#).is_err());
        policy_body("login", br#"{"name": "Login"}"#).unwrap();
        for bad in [&b"{"[..], b"[]", b"null", b"{\"personId\": 1}", b"\xff"] {
            let verify = verify_body(Method::EmailAuthentication, 6, bad);
            for result in [attempt_body(bad), identity_body(bad), verify, policy_body("p", bad).map(drop)] {
                assert!(matches!(result, Err(ApiError::BadRequest(_))), "{:?}", String::from_utf8_lossy(bad));
            }
        }
    }
}
