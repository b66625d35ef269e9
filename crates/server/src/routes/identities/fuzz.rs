//! `POST /identities` and `PATCH /identities/{personId}` for the fuzz targets (`crate::fuzzing`): the
//! bodies parsed and validated as `create` and `update` do, without fetching `imageUrl`, analysing the
//! face or touching the store.

use super::*;
use crate::fuzzing::{client, json_body};

/// `POST /identities`, for a tenant that validates CPFs.
pub fn identity_body(bytes: &[u8]) -> ApiResult<()> {
    let body: NewIdentity = json_body(bytes)?;
    PersonId::parse(&body.person_id, client().validate_cpf).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    face(body.image.as_deref(), body.image_url.as_deref())?;
    parse_name(&body.name)?;
    body.email.as_deref().map(parse_email).transpose()?;
    body.phone.as_deref().map(parse_phone).transpose()?;
    Ok(())
}

/// `PATCH /identities/{personId}`.
pub fn identity_changes_body(bytes: &[u8]) -> ApiResult<()> {
    let changes: IdentityChanges = json_body(bytes)?;
    match changes.checked()?.face {
        None | Some((None, None)) => Ok(()),
        Some((image, url)) => face(image, url),
    }
}

/// `enrol` up to the fetch and the analysis.
fn face(image: Option<&str>, image_url: Option<&str>) -> ApiResult<()> {
    match (image, image_url) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest("send either image or imageUrl, not both".into())),
        (Some(image), None) => crate::ops::images::from_base64(image).map(drop),
        (None, Some(_)) | (None, None) => Ok(()),
    }
}
