//! `POST /authentications/{attemptId}/methods/{method}/verify` for the fuzz targets (`crate::fuzzing`):
//! the body parsed and checked as `verify` (and `face::verify` for a selfie) do before they load the
//! attempt, with `code_length` standing for the attempt's policy.

use super::*;
use crate::fuzzing::json_body;
use crate::ops::images::from_base64;

pub fn verify_body(method: Method, code_length: u8, bytes: &[u8]) -> ApiResult<()> {
    let body: VerifyBody = json_body(bytes)?;
    if method == Method::FaceAuthentication {
        if body.code.is_some() {
            return Err(ApiError::BadRequest("face_authentication takes an image, not a code".into()));
        }
        return match (body.image, body.image_url) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest("send either image or imageUrl, not both".into())),
            (Some(image), None) => from_base64(&image).map(drop),
            (None, Some(_)) => Ok(()),
            (None, None) => Err(ApiError::BadRequest("image (base64) or imageUrl is required".into())),
        };
    }
    let method = code_method(method.as_str())?;
    if body.image.is_some() || body.image_url.is_some() {
        return Err(ApiError::BadRequest(format!("{} takes a code, not an image", method.as_str())));
    }
    let code = body.code.ok_or_else(|| ApiError::BadRequest("code is required".into()))?;
    OtpCode::parse(&code, code_length).map(drop).map_err(ApiError::BadRequest)
}
