//! Face images on their way in: from base64 (optionally a `data:` URL), an upload or an `imageUrl`, each a
//! JPEG or PNG of at most 8 MiB, kept without its metadata. Enrolment, face verification and the multipart
//! step-up all take images through here; the dashboard will too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{ApiError, ApiResult};
use crate::fetch::FetchError;
use crate::startup::App;

pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!("image is larger than {} MiB", MAX_IMAGE_BYTES >> 20))
}

/// An image sent as base64 (optionally as a `data:` URL).
pub fn from_base64(raw: &str) -> ApiResult<Vec<u8>> {
    let body = raw.trim();
    let body = match body.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, b)| b).unwrap_or(""),
        None => body,
    };
    if body.len() > MAX_IMAGE_BYTES * 4 / 3 + 4 {
        return Err(too_large());
    }
    let bytes = STANDARD.decode(body).map_err(|_| ApiError::BadRequest("image is not valid base64".into()))?;
    checked(bytes)
}

/// An image fetched from `imageUrl` (the fetcher's address checks and size bound apply).
pub async fn from_url(app: &App, url: &str) -> ApiResult<Vec<u8>> {
    let fetched = app.fetcher.fetch(url).await.map_err(|e| match e {
        FetchError::TooLarge => ApiError::PayloadTooLarge(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    checked(fetched)
}

/// An image's bytes, however they came: a JPEG or PNG within the size bound, without its metadata.
pub fn checked(bytes: Vec<u8>) -> ApiResult<Vec<u8>> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let png = bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    if !(jpeg || png) {
        return Err(ApiError::BadRequest("image must be a JPEG or PNG file".into()));
    }
    // Everything after this sees (and keeps) the image without its metadata: a phone's photo carries where
    // it was taken.
    smartauth_face::metadata::without_metadata(&bytes).ok_or_else(|| {
        ApiError::BadRequest(
            "image: the image cannot be decoded: the file is truncated, malformed, or made of too many segments".into(),
        )
    })
}
