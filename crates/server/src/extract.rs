//! Extractors whose rejections are API errors, so that a malformed request gets the same JSON error
//! shape as everything else.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn from_status(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge("the request body is too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("send the body as JSON with Content-Type: application/json".into())
        }
        _ => ApiError::BadRequest(text),
    }
}

pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(public_message(
                &std::error::Error::source(&e).map(ToString::to_string).unwrap_or_else(|| e.body_text()),
            ))),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::BadRequest("the request body is not valid JSON".into()))
            }
            // The body could not be read whole: the connection ended or broke under it.
            Err(e) => Err(from_status(e.status(), "the request body could not be read whole".into())),
        }
    }
}

/// `Option<Json<T>>`: a request with no body (no `Content-Type`, no length) is `None`, for a body whose every
/// field is optional; any other is read as [`Json`].
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
        let headers = req.headers();
        if headers.get(CONTENT_TYPE).is_none() && headers.get(CONTENT_LENGTH).is_none_or(|n| n == "0") {
            return Ok(None);
        }
        <Json<T> as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let text = public_message(text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text));
                // `limit: invalid digit ...` names its parameter; `unknown field ...` does itself.
                let named =
                    text.split_once(": ").is_some_and(|(p, _)| p.chars().all(|c| c.is_alphanumeric() || c == '_'));
                Err(ApiError::BadRequest(if named {
                    format!("query parameter {text}")
                } else {
                    format!("query string: {text}")
                }))
            }
            Err(e) => Err(from_status(e.status(), e.body_text())),
        }
    }
}

/// Path parameters; an undecodable one (bad percent-encoding) names nothing that exists.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::NotFound(format!("no such resource: {}", e.body_text()))),
        }
    }
}

/// A serde error as a client may read it: serde names the server's own types (`expected struct
/// AttemptRequest with 4 elements`, `expected u8`), which say nothing useful to a client and something
/// about the server. They become what the JSON should have held; the field path and position stay.
pub fn public_message(raw: &str) -> String {
    if raw.contains("did not match any variant") {
        let path = raw.split_once(": data did not match").map(|(p, _)| format!("{p}: ")).unwrap_or_default();
        return format!("{path}the value is not in any accepted form");
    }
    let words: Vec<&str> = raw.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let (word, punctuation) = split_punctuation(words[i]);
        let previous = out.last().map(String::as_str).unwrap_or("");
        let type_name_follows = words.get(i + 1).is_some_and(|w| w.starts_with(|c: char| c.is_ascii_uppercase()));
        match word {
            "struct" | "enum" if type_name_follows => {
                // Drops a "tuple" or "unit" before it, the type's name, and "with N elements" after it.
                if matches!(previous, "tuple" | "unit") {
                    out.pop();
                }
                let (_, mut tail) = split_punctuation(words[i + 1]);
                i += 2;
                if words.get(i) == Some(&"with") && words.get(i + 2).is_some_and(|w| w.starts_with("element")) {
                    tail = split_punctuation(words[i + 2]).1;
                    i += 3;
                }
                let what = if word == "struct" { "a JSON object" } else { "one of the documented values" };
                out.push(format!("{what}{tail}"));
                continue;
            }
            "sequence" if matches!(previous, "type:" | "a") => {
                if previous == "a" {
                    out.pop();
                    out.push("an".into());
                }
                out.push(format!("array{punctuation}"));
            }
            "map" if matches!(previous, "type:" | "a") => {
                if previous == "a" {
                    out.pop();
                    out.push("an".into());
                }
                out.push(format!("object{punctuation}"));
            }
            _ if previous == "expected" => out.push(format!("{}{punctuation}", primitive(word).unwrap_or(word))),
            _ => out.push(words[i].to_owned()),
        }
        i += 1;
    }
    let message = out.join(" ");
    // `[]` where an object belongs: serde reads an array into a struct field by field.
    match message.split_once("invalid length ") {
        Some((before, after)) => match after.split_once(", expected a JSON object") {
            Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{before}invalid type: array, expected a JSON object{rest}")
            }
            _ => message,
        },
        None => message,
    }
}

fn split_punctuation(word: &str) -> (&str, &str) {
    let end = word.trim_end_matches([',', ';', ':', '.', ')']).len();
    word.split_at(end)
}

/// What a JSON client should have sent where serde expected a Rust number type.
fn primitive(rust_type: &str) -> Option<&'static str> {
    Some(match rust_type {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "u128" | "usize" => "a whole number of at least 0",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "char" => "a single character",
        "unit" => "null",
        _ => return None,
    })
}

/// For `#[serde(default, deserialize_with = "crate::extract::present")]`: `Some(None)` when the field is
/// present as `null` (clear it), `None` when absent (keep it).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::public_message;

    #[test]
    fn serde_names_no_rust_type() {
        for (raw, public) in [
            (
                "invalid length 0, expected struct AttemptRequest with 4 elements at line 1 column 2",
                "invalid type: array, expected a JSON object at line 1 column 2",
            ),
            (
                "context: invalid type: sequence, expected struct ContextBody at line 1 column 14",
                "context: invalid type: array, expected a JSON object at line 1 column 14",
            ),
            (
                "context.location.accuracy: invalid type: string \"x\", expected f64 at line 1 column 9",
                "context.location.accuracy: invalid type: string \"x\", expected a number at line 1 column 9",
            ),
            (
                "invalid value: integer `300`, expected u8",
                "invalid value: integer `300`, expected a whole number from 0 to 255",
            ),
            ("invalid type: map, expected a sequence", "invalid type: object, expected an array"),
            (
                "invalid type: integer `1`, expected enum Method",
                "invalid type: integer `1`, expected one of the documented values",
            ),
            ("missing field `policyId` at line 1 column 2", "missing field `policyId` at line 1 column 2"),
            (
                "unknown field `foo`, expected one of `personId`, `policyId`",
                "unknown field `foo`, expected one of `personId`, `policyId`",
            ),
        ] {
            assert_eq!(public_message(raw), public, "{raw}");
        }
    }
}
