//! Identities: the people a tenant authenticates, with the contacts codes go to and an enrolled face.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use smartauth_domain::{Email, PersonId, Phone};
use smartauth_store::{IdentityChange, IdentityRecord, StoreError};

use crate::attempt::ts;
use crate::auth::{Backend, Tenant};
use crate::crypto;
use crate::error::{ok_json, ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::ops;
use crate::ops::audit::Actor;
use crate::startup::{App, AppState};

/// Decoded face images above this are refused.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewIdentity {
    person_id: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    image_url: Option<String>,
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityChanges {
    #[serde(default, deserialize_with = "crate::extract::present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    image: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    image_url: Option<Option<String>>,
}

/// A `PATCH`'s fields, checked: each `None` is left as it is; `Some(None)` for email and phone removes it.
/// The face is `face`: `image` and `imageUrl` as given (`imageUrl` never null), enrolled by the caller.
struct CheckedChanges<'a> {
    name: Option<String>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    face: Option<(Option<&'a str>, Option<&'a str>)>,
}

impl IdentityChanges {
    /// Every field checked before anything is fetched, analysed or read: a bad field is a 400 at once.
    fn checked(&self) -> ApiResult<CheckedChanges<'_>> {
        let name = match &self.name {
            Some(None) => {
                return Err(ApiError::BadRequest("name cannot be null: an identity always has a name".into()))
            }
            Some(Some(name)) => Some(parse_name(name)?),
            None => None,
        };
        let image_url = match &self.image_url {
            Some(None) => {
                return Err(ApiError::BadRequest(
                    "imageUrl cannot be null; send \"image\": null to remove the face".into(),
                ))
            }
            Some(Some(url)) => Some(url.as_str()),
            None => None,
        };
        let face = match (&self.image, image_url) {
            (None, None) => None,
            // `"image": null` removes the face.
            (Some(None), None) => Some((None, None)),
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "send either image or imageUrl, not both (\"image\": null removes the face)".into(),
                ))
            }
            (image, url) => Some((image.as_ref().and_then(|i| i.as_deref()), url)),
        };
        let email = self.email.as_ref().map(|e| e.as_deref().map(parse_email).transpose()).transpose()?;
        let phone = self.phone.as_ref().map(|p| p.as_deref().map(parse_phone).transpose()).transpose()?;
        Ok(CheckedChanges { name, email, phone, face })
    }
}

fn parse_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest("name must be 1-200 printable characters".into()));
    }
    if let Some(c) = smartauth_domain::text::hidden_in_name(name) {
        return Err(ApiError::BadRequest(format!("name must not contain {}", smartauth_domain::text::describe(c))));
    }
    Ok(name.to_owned())
}

fn parse_email(raw: &str) -> ApiResult<String> {
    Email::parse(raw).map(|e| e.as_str().to_owned()).map_err(ApiError::BadRequest)
}

fn parse_phone(raw: &str) -> ApiResult<String> {
    Phone::parse(raw).map(|p| p.as_str().to_owned()).map_err(ApiError::BadRequest)
}

/// The face to enrol, from `image` or `imageUrl`: exactly one usable face, or a 400 that says why.
/// Returns the image and its template, both encrypted.
async fn enrol(app: &App, image: Option<&str>, image_url: Option<&str>) -> ApiResult<(Vec<u8>, Vec<u8>)> {
    let bytes = match (image, image_url) {
        (Some(_), Some(_)) => return Err(ApiError::BadRequest("send either image or imageUrl, not both".into())),
        (Some(image), None) => ops::images::from_base64(image)?,
        (None, Some(url)) => ops::images::from_url(app, url).await?,
        (None, None) => return Err(ApiError::BadRequest("no image".into())),
    };
    let faces = app.faces.as_ref().ok_or_else(|| {
        ApiError::Unavailable("face models are not loaded on this server (run scripts/fetch-data.sh)".into())
    })?;
    let analysis = faces.analyze(bytes.clone()).await?.map_err(|refusal| {
        ApiError::BadRequest(format!(
            "image: {} ({refusal}); enrol a photo with exactly one clear face",
            refusal.reason()
        ))
    })?;
    let template = smartauth_face::template_to_bytes(&analysis.embedding);
    Ok((app.key.encrypt(&bytes), app.key.encrypt(&template)))
}

fn person_from_path(tenant: &Tenant, raw: &str) -> ApiResult<PersonId> {
    let person = PersonId::parse(raw, false).map_err(|_| ApiError::not_found("identity"))?;
    if !tenant.may_act_for(person.as_str()) {
        return Err(ApiError::not_found("identity"));
    }
    Ok(person)
}

/// With `masked`, contacts are shown as in `sentTo`: a person-scoped token is what a hijacked session
/// holds, and it must not reveal where codes go.
fn describe(i: &IdentityRecord, masked: bool) -> serde_json::Value {
    let email = i.email.as_deref().map(|e| match (masked, Email::parse(e)) {
        (true, Ok(e)) => e.masked(),
        _ => e.to_owned(),
    });
    let phone = i.phone.as_deref().map(|p| match (masked, Phone::parse(p)) {
        (true, Ok(p)) => p.masked(),
        _ => p.to_owned(),
    });
    json!({
        "id": i.id,
        "personId": i.person_id,
        "name": i.name,
        "email": email,
        "phone": phone,
        "hasFace": i.face_image_enc.is_some(),
        "createdAt": ts(i.created_at),
        "updatedAt": ts(i.updated_at),
    })
}

pub async fn create(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Json(body): Json<NewIdentity>,
) -> ApiResult<Response> {
    let person = PersonId::parse(&body.person_id, tenant.client.validate_cpf)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (face_image_enc, face_template_enc) = match (&body.image, &body.image_url) {
        (None, None) => (None, None),
        (image, url) => {
            let (image, template) = enrol(&app, image.as_deref(), url.as_deref()).await?;
            (Some(image), Some(template))
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let record = IdentityRecord {
        id: crypto::new_id().to_string(),
        client_id: tenant.client_id().to_owned(),
        person_id: person.as_str().to_owned(),
        name: parse_name(&body.name)?,
        email: body.email.as_deref().map(parse_email).transpose()?,
        phone: body.phone.as_deref().map(parse_phone).transpose()?,
        face_image_enc,
        face_template_enc,
        created_at: now,
        updated_at: now,
    };
    match ops::identities::create(&app, &Actor::tenant(&tenant), &record).await {
        Ok(()) => Ok(ok_json(json!({"id": record.id, "personId": record.person_id, "createdAt": ts(now)}))),
        Err(StoreError::Conflict) => Err(ApiError::Conflict("an identity with this personId already exists".into())),
        Err(e) => Err(e.into()),
    }
}

pub async fn read(State(app): State<AppState>, tenant: Tenant, Path(raw): Path<String>) -> ApiResult<Response> {
    let person = person_from_path(&tenant, &raw)?;
    let identity = app
        .store
        .identity(tenant.client_id(), person.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("identity"))?;
    let mut out = describe(&identity, tenant.person.is_some());
    // Not to an SDK token: the waits and the count would let a hijacked session pace its guesses.
    if tenant.person.is_none() {
        let lockout = ops::lockout::state(&app, tenant.client_id(), person.as_str()).await?;
        out["lockout"] = serde_json::to_value(lockout).map_err(anyhow::Error::from)?;
    }
    Ok(ok_json(out))
}

/// `POST /identities/{personId}/unlock` (backend token): clears the person's failed verifications
/// and lock, so that codes and faces can be tried again.
pub async fn unlock(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let person = person_from_path(&tenant, &raw)?;
    unlocked(&app, tenant.client_id(), &person, ops::lockout::Unlocker::Tenant, Actor::tenant(&tenant)).await
}

/// `POST /admin/clients/{clientId}/identities/{personId}/unlock`: the same, by the operator.
pub async fn unlock_by_operator(
    State(app): State<AppState>,
    admin: crate::auth::Admin,
    Path((client_id, raw)): Path<(String, String)>,
) -> ApiResult<Response> {
    let person = PersonId::parse(&raw, false).map_err(|_| ApiError::not_found("identity"))?;
    app.store.client(&client_id).await?.ok_or_else(|| ApiError::not_found("client"))?;
    unlocked(&app, &client_id, &person, ops::lockout::Unlocker::Operator, Actor::admin(&admin)).await
}

async fn unlocked(
    app: &App,
    client_id: &str,
    person: &PersonId,
    by: ops::lockout::Unlocker,
    actor: Actor,
) -> ApiResult<Response> {
    app.store.identity(client_id, person.as_str()).await?.ok_or_else(|| ApiError::not_found("identity"))?;
    let cleared = ops::lockout::unlock(app, &actor, client_id, person.as_str(), by).await?;
    Ok(ok_json(json!({
        "personId": person.as_str(),
        "unlocked": cleared.as_ref().is_some_and(|c| c.locked),
        "cleared": cleared,
    })))
}

pub async fn update(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(raw): Path<String>,
    Json(changes): Json<IdentityChanges>,
) -> ApiResult<Response> {
    let person = person_from_path(&tenant, &raw)?;
    let checked = changes.checked()?;
    // The face first (fetching and analysing take a while), for the identity as it is now (none: no work for
    // nothing); then the fields are written in one statement, to that identity only (not to one erased and
    // made again meanwhile, which would get a face enrolled for another).
    let (face, of) = match checked.face {
        None => (None, None),
        Some((None, None)) => (Some(None), None),
        Some((image, url)) => {
            let current = app
                .store
                .identity(tenant.client_id(), person.as_str())
                .await?
                .ok_or_else(|| ApiError::not_found("identity"))?;
            (Some(Some(enrol(&app, image, url).await?)), Some(current.id))
        }
    };
    let change = IdentityChange {
        name: checked.name,
        email: checked.email,
        phone: checked.phone,
        face,
        updated_at: chrono::Utc::now().timestamp_millis(),
        of,
    };
    let identity = ops::identities::update(&app, &Actor::tenant(&tenant), tenant.client_id(), person.as_str(), &change)
        .await?
        .ok_or_else(|| ApiError::not_found("identity"))?;
    Ok(ok_json(describe(&identity, false)))
}

/// Erasure (LGPD): the identity, its face, contacts and known contexts are deleted; its attempts
/// remain, anonymized, for the tenant's statistics.
pub async fn erase(
    State(app): State<AppState>,
    Backend(tenant): Backend,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let person = person_from_path(&tenant, &raw)?;
    if !ops::identities::erase(&app, &Actor::tenant(&tenant), tenant.client_id(), person.as_str()).await? {
        return Err(ApiError::not_found("identity"));
    }
    Ok(ok_json(json!({"personId": person.as_str(), "deleted": true})))
}

#[doc(hidden)]
pub mod fuzz;
