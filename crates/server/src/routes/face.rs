//! Face step-up: a selfie is matched against the identity's enrolled face, with liveness; and the
//! media links (`signedUrl`) that show the selfie and the enrolled image to the tenant.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use smartauth_domain::lockout::Factor;
use smartauth_domain::{Method, Status};
use smartauth_face::{similarity, template_from_bytes, QualityIssue, Refusal};
use smartauth_store::{AttemptRecord, Millis};

use crate::attempt::{FaceAttempt, MethodAttempt};
use crate::auth::Tenant;
use crate::crypto;
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::Path;
use crate::faces::{media_name, valid_media_name};
use crate::ops;
use crate::routes::authentications::attestation;
use crate::routes::methods::{busy, count_failure, load_open, state_mut, Selfie, MAX_TRIES};
use crate::startup::{App, AppState};
use crate::webhooks;

const FACE: Method = Method::FaceAuthentication;
/// At or above this, the selfie is the enrolled capture itself, not a new one.
const REPLAY_SIMILARITY: f32 = 0.97;

pub async fn verify(
    app: &App,
    tenant: &Tenant,
    attempt_id: &str,
    image: Option<Selfie>,
    image_url: Option<String>,
    code: Option<String>,
) -> ApiResult<Response> {
    if code.is_some() {
        return Err(ApiError::BadRequest("face_authentication takes an image (image or imageUrl), not a code".into()));
    }
    let (record, doc, rules) = load_open(app, tenant, attempt_id, FACE).await?;
    let faces =
        app.faces.as_ref().ok_or_else(|| ApiError::Unavailable("face models are not loaded on this server".into()))?;
    let face_rules = rules.face;
    if let Some(state) = doc.method(FACE) {
        if state.status == Status::Reproved.as_str() || state.failures >= face_rules.max_attempts {
            return Ok(answer(&record, false, 0, Some("max_attempts_exceeded"), None, None, None));
        }
        if state.status != Status::Pending.as_str() {
            return Err(ApiError::Conflict("face_authentication has already ended for this attempt".into()));
        }
    }
    let person = record.person_id.clone().ok_or_else(|| ApiError::not_found("attempt"))?;
    ops::lockout::check(app, &record.client_id, &person, Factor::Face).await?;
    // What the request carries is checked first (a base64 image decoded and checked, a URL's host checked):
    // a body that is no selfie is a 400 that does not count. Then the person's allowance is counted, before
    // anything is fetched or analysed: those cost the server, whatever comes of them.
    let selfie = match (image, image_url) {
        (Some(_), Some(_)) => return Err(ApiError::BadRequest("send either image or imageUrl, not both".into())),
        (Some(Selfie::Base64(image)), None) => Ok(crate::ops::images::from_base64(&image)?),
        // A form's file was checked as it was read (`VerifyInput`).
        (Some(Selfie::Bytes(bytes)), None) => Ok(bytes),
        (None, Some(url)) => {
            app.fetcher.check_target(&url).await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Err(url)
        }
        (None, None) => return Err(ApiError::BadRequest("image (base64) or imageUrl is required".into())),
    };
    if let Err(wait) = faces.allow(&record.client_id, &person) {
        return Err(ApiError::TooManyRequests {
            message: "too many face verifications for this person lately; try again later".into(),
            retry_after_secs: wait.as_secs() + 1,
        });
    }
    let bytes = match selfie {
        Ok(bytes) => bytes,
        Err(url) => crate::ops::images::from_url(app, &url).await?,
    };
    let identity =
        app.store.identity(&record.client_id, &person).await?.ok_or_else(|| ApiError::not_found("identity"))?;
    let template = identity
        .face_template_enc
        .as_deref()
        .map(|t| app.key.decrypt(t))
        .transpose()?
        .and_then(|t| template_from_bytes(&t))
        .ok_or_else(|| ApiError::Conflict("the identity has no enrolled face".into()))?;

    // An image enrolled before metadata was removed on the way in loses it here, before it is compared or kept.
    let enrolled_image = identity
        .face_image_enc
        .as_deref()
        .map(|i| app.key.decrypt(i))
        .transpose()?
        .map(|i| smartauth_face::metadata::without_metadata(&i).unwrap_or(i));
    let analysis = faces.analyze(bytes.clone()).await?;
    let mut face = FaceAttempt::default();
    let detail = analysis.as_ref().err().and_then(Refusal::detail);
    face.refusal_detail = detail.map(|d| d.code().to_owned());
    let refusal = match &analysis {
        // Not an image at all: a client error, not a try.
        Err(Refusal::BadImage(why)) => return Err(ApiError::BadRequest(format!("image: {why}"))),
        Err(refusal) => Some(refusal.reason()),
        Ok(a) => {
            let score = similarity(&a.embedding, &template);
            let is_match = f64::from(score) >= face_rules.min_similarity;
            // A copy of the enrolled photo (the same capture, rescaled or recompressed) is not a live
            // selfie: two captures of a person never come this close.
            let replayed = score >= REPLAY_SIMILARITY || enrolled_image.as_deref() == Some(bytes.as_slice());
            let is_alive = f64::from(a.liveness) >= face_rules.min_liveness && !replayed;
            (face.similarity, face.is_match, face.liveness, face.is_alive) =
                (Some(score), Some(is_match), Some(a.liveness), Some(is_alive));
            if !is_match {
                Some("face_mismatch")
            } else if (face_rules.require_liveness || replayed) && !is_alive {
                Some("person_not_alive")
            } else {
                None
            }
        }
    };

    // A try against the person's lockout, now that it is one (an image that is not one is not).
    ops::lockout::claim(app, &record.client_id, &person, Factor::Face).await?;

    // Both images are kept with the attempt, encrypted, for the analyst's review; they are written once
    // the try is recorded, so that no image is kept for a try that was not.
    let media_id = crypto::new_id().to_string();
    face.provided = Some(media_name(&media_id, "provided"));
    face.expected = enrolled_image.as_ref().map(|_| media_name(&media_id, "expected"));

    for _ in 0..MAX_TRIES {
        let (mut record, mut doc, _) = load_open(app, tenant, attempt_id, FACE).await?;
        if record.person_id.is_none() {
            // The person was erased meanwhile.
            return Err(ApiError::not_found("attempt"));
        }
        let now: Millis = Utc::now().timestamp_millis();
        let state = state_mut(&mut doc, FACE);
        if state.status != Status::Pending.as_str() || state.failures >= face_rules.max_attempts {
            return Ok(answer(&record, false, 0, Some("max_attempts_exceeded"), None, None, None));
        }
        state.attempts.push(MethodAttempt {
            refusal_reason: refusal.map(str::to_owned),
            expected_code: None,
            provided_code: None,
            sent_to: None,
            created_at: now,
            face: Some(face.clone()),
        });
        let approved = refusal.is_none();
        if approved {
            state.status = Status::Approved.as_str().into();
            record.status = Status::Approved.as_str().into();
            doc.decided_at = Some(now);
            doc.step_up = None;
        } else {
            count_failure(&mut record, &mut doc, FACE, face_rules.max_attempts, now);
        }
        let left = face_rules.max_attempts.saturating_sub(doc.method(FACE).map_or(0, |s| s.failures));
        let completed = webhooks::face_event(&record, &person, &face, refusal, now);
        if !ops::attempts::save(app, &mut record, &doc, approved, vec![completed]).await? {
            continue;
        }
        let images = [(face.provided.as_ref(), Some(&bytes)), (face.expected.as_ref(), enrolled_image.as_ref())];
        for (name, image) in images {
            if let (Some(name), Some(image)) = (name, image) {
                faces.store_media(&app.key, &record.client_id, &record.id, name, image).await?;
            }
        }
        // An erasure that ran while the images were written has already deleted the attempt's folder:
        // delete them again rather than keep a biometric image of an erased person.
        if app.store.identity(&record.client_id, &person).await?.is_none() {
            faces.forget_media(&record.client_id, std::slice::from_ref(&record.id)).await;
            return Err(ApiError::not_found("attempt"));
        }
        if approved {
            ops::lockout::succeeded(app, &record.client_id, &person, Factor::Face).await?;
        }
        metrics::counter!("smartauth_face_verifications_total", "outcome" => refusal.unwrap_or("approved"))
            .increment(1);
        if let Some(detail) = detail {
            metrics::counter!("smartauth_face_quality_refusals_total", "detail" => detail.code()).increment(1);
        }
        let token = if approved { Some(attestation(tenant, &record, &doc)?) } else { None };
        let mut shown = face.clone();
        if tenant.person.is_some() {
            // The exact score would let a client tune a forged image until it passes.
            (shown.similarity, shown.liveness) = (None, None);
        }
        return Ok(answer(&record, approved, left, refusal, detail, Some(&shown), token));
    }
    Err(busy())
}

fn answer(
    record: &AttemptRecord,
    authorized: bool,
    left: u32,
    refusal: Option<&str>,
    detail: Option<QualityIssue>,
    face: Option<&FaceAttempt>,
    attestation: Option<String>,
) -> Response {
    let fix = detail.map(|d| match d {
        QualityIssue::FaceTooSmall => "the face is too small: move closer to the camera",
        QualityIssue::FaceCutOff => "the face is cut off: centre it in the frame, a little farther away",
        QualityIssue::TooDark => "the face is too dark: find more light, facing it",
        QualityIssue::TooBright => "the face is too bright: move away from direct light",
        QualityIssue::Blurred => "the face is blurred: hold still, and clean the lens",
        QualityIssue::HeadTurned => "the head is turned: face the camera",
        QualityIssue::EyesClosed => "the eyes look closed: open your eyes",
        QualityIssue::Unmeasurable => "the face in the image cannot be used: take another selfie",
    });
    let message = match refusal {
        None => "face verified; the attempt is approved".to_owned(),
        Some("max_attempts_exceeded") => "too many failed face verifications; this method is closed".to_owned(),
        Some("face_mismatch") => "the face does not match the enrolled face".to_owned(),
        Some("person_not_alive") => "the selfie does not look like a live person".to_owned(),
        Some("face_not_found") => "no face was found in the image".to_owned(),
        Some("multiple_faces") => "more than one face is in the image".to_owned(),
        Some(_) => match fix {
            Some(fix) => fix.to_owned(),
            None => "the face in the image cannot be used (light, focus, size, pose or eyes)".to_owned(),
        },
    };
    let mut out = json!({
        "isAuthorized": authorized,
        "attemptsLeft": left,
        "message": message,
        "status": record.status,
        "refusalReason": refusal,
        "refusalDetail": detail.map(QualityIssue::code),
        "faceMatch": {
            "isMatch": face.and_then(|f| f.is_match),
            "similarity": face.and_then(|f| f.similarity).map(|s| format!("{s:.4}")),
        },
        "liveness": {"isAlive": face.and_then(|f| f.is_alive)},
    });
    if let Some(a) = attestation {
        out["attestation"] = a.into();
    }
    ok_json(out)
}

/// `GET /media/{clientId}/{attemptId}/{name}?expires=..&signature=..`: an attempt's image, for as long
/// as its signed link is valid and the attempt keeps its person (erasure deletes the images).
pub async fn media(
    State(app): State<AppState>,
    Path((client_id, attempt_id, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let forbidden = || ApiError::Forbidden("the link is invalid or has expired".into());
    let expires: i64 = query.get("expires").and_then(|e| e.parse().ok()).ok_or_else(forbidden)?;
    let signature = query.get("signature").ok_or_else(forbidden)?;
    if !valid_media_name(&name) || client_id.len() > 64 || attempt_id.len() > 64 {
        return Err(forbidden());
    }
    let expected = app.key.media_signature(&[&client_id, &attempt_id, &name, &expires.to_string()]);
    if !crypto::constant_time_eq(expected.as_bytes(), signature.as_bytes()) || Utc::now().timestamp() > expires {
        return Err(forbidden());
    }
    let faces = app.faces.as_ref().ok_or_else(|| ApiError::not_found("image"))?;
    let record = app.store.attempt(&client_id, &attempt_id).await?;
    if record.as_ref().and_then(|r| r.person_id.as_ref()).is_none() {
        return Err(ApiError::not_found("image"));
    }
    let image =
        faces.read_media(&app.key, &client_id, &attempt_id, &name).await.ok_or_else(|| ApiError::not_found("image"))?;
    let kind = if image.starts_with(&[0x89, b'P', b'N', b'G']) { "image/png" } else { "image/jpeg" };
    Ok(([(CONTENT_TYPE, kind), (CACHE_CONTROL, "private, no-store"), (X_CONTENT_TYPE_OPTIONS, "nosniff")], image)
        .into_response())
}
