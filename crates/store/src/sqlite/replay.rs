//! Policy replay's reads: the policy's attempts in pages, and the pasts of the people in each page. Every
//! statement reads by policy, person or key, never the tenant whole.

use std::collections::HashMap;

use smartauth_domain::replay::{Past, PastAttempt, PastPlace, Sharing};
use smartauth_domain::{Coordinates, KnownDeviceKey};
use sqlx::{Row, SqlitePool};

use super::attempt_from;
use crate::{AttemptRecord, Millis, ReplayPerson, ReplayWindow, Result, StoreError};

/// The (created_at, id) of the `n`-th newest attempt of the policy since `since`, if there is one.
pub const NTH_NEWEST: &str = "SELECT created_at, id FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3
     ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?4";

/// The first page, then the next ones after a cursor: two statements, each with one lower bound, so that
/// the index range starts at the cursor (with `?4 IS NULL OR`, or beside `created_at >= ?3`, SQLite bounds
/// the range by the window's start, and every page scans from there). A cursor is never before `since`.
pub const FIRST_PAGE: &str = "SELECT * FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3 AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6";
pub const NEXT_PAGE: &str = "SELECT * FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND (created_at, id) > (?3, ?7) AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6";

pub const PEOPLE: &str = "SELECT person_id, email IS NOT NULL AS has_email, phone IS NOT NULL AS has_phone,
     face_template_enc IS NOT NULL AS has_face
     FROM identities WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))";

/// Every kind (networks are skipped in code): a filter on the kind lets the planner prefer the index by key,
/// which reads the tenant's every device.
pub const KNOWN: &str = "SELECT person_id, kind, key, latitude, longitude, accuracy, first_seen, last_seen
     FROM known_contexts WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))";

pub const KEYS: &str = "SELECT person_id, thumbprint, fingerprint, MIN(first_seen) AS first_seen
     FROM device_keys WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))
     GROUP BY person_id, thumbprint, fingerprint";

/// The location is read only from approved attempts: only an approval is a place the person was.
pub const ATTEMPTS: &str = "SELECT person_id, created_at,
       CASE WHEN status = 'approved' THEN json_extract(document, '$.location') END AS location
     FROM attempts INDEXED BY attempts_by_person
     WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2)) AND created_at >= ?3 AND created_at <= ?5
       AND (created_at < ?4 OR policy_id <> ?6)
     ORDER BY person_id, created_at, id";

pub const SHARED_FINGERPRINTS: &str = "SELECT key, person_id, first_seen FROM known_contexts
     WHERE client_id = ?1 AND kind = 'device' AND key IN (SELECT value FROM json_each(?2))";

pub const SHARED_KEYS: &str = "SELECT thumbprint, person_id, MIN(first_seen) AS first_seen FROM device_keys
     WHERE client_id = ?1 AND thumbprint IN (SELECT value FROM json_each(?2)) GROUP BY thumbprint, person_id";

fn json_list(values: &[String]) -> Result<String> {
    serde_json::to_string(values).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn window(
    pool: &SqlitePool,
    client_id: &str,
    policy_id: &str,
    since: Millis,
    limit: u32,
) -> Result<Option<ReplayWindow>> {
    let nth =
        |n: i64| sqlx::query_as::<_, (Millis, String)>(NTH_NEWEST).bind(client_id).bind(policy_id).bind(since).bind(n);
    let Some(until) = nth(0).fetch_optional(pool).await? else {
        return Ok(None);
    };
    let after = nth(i64::from(limit)).fetch_optional(pool).await?;
    Ok(Some(ReplayWindow { since, after, until }))
}

pub async fn page(
    pool: &SqlitePool,
    client_id: &str,
    policy_id: &str,
    w: &ReplayWindow,
    limit: u32,
) -> Result<Vec<AttemptRecord>> {
    let query = match &w.after {
        // ?3 is the cursor's time, ?7 its id.
        Some((at, _)) => sqlx::query(NEXT_PAGE).bind(client_id).bind(policy_id).bind(at),
        None => sqlx::query(FIRST_PAGE).bind(client_id).bind(policy_id).bind(w.since),
    };
    let query = query.bind(w.until.0).bind(&w.until.1).bind(i64::from(limit));
    let query = match &w.after {
        Some((_, id)) => query.bind(id),
        None => query,
    };
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(attempt_from).collect()
}

#[derive(serde::Deserialize)]
struct StoredLocation {
    coordinates: Coordinates,
    accuracy: Option<f64>,
}

pub async fn pasts(
    pool: &SqlitePool,
    client_id: &str,
    people: &[String],
    policy_id: &str,
    (from, start, until): (Millis, Millis, Millis),
) -> Result<HashMap<String, ReplayPerson>> {
    let list = json_list(people)?;
    let mut out: HashMap<String, ReplayPerson> = HashMap::with_capacity(people.len());
    for row in sqlx::query(PEOPLE).bind(client_id).bind(&list).fetch_all(pool).await? {
        out.insert(
            row.try_get("person_id")?,
            ReplayPerson {
                past: Past::default(),
                has_email: row.try_get("has_email")?,
                has_phone: row.try_get("has_phone")?,
                has_face: row.try_get("has_face")?,
            },
        );
    }
    for row in sqlx::query(KNOWN).bind(client_id).bind(&list).fetch_all(pool).await? {
        let person: String = row.try_get("person_id")?;
        let Some(p) = out.get_mut(&person) else { continue };
        let first_seen: Millis = row.try_get("first_seen")?;
        match row.try_get::<&str, _>("kind")? {
            "device" => p.past.devices.push((row.try_get("key")?, first_seen)),
            "network" => {}
            _ => {
                let (lat, lon): (Option<f64>, Option<f64>) = (row.try_get("latitude")?, row.try_get("longitude")?);
                let (Some(lat), Some(lon)) = (lat, lon) else { continue };
                p.past.places.push(PastPlace {
                    coordinates: Coordinates::new(lat, lon).map_err(StoreError::Corrupt)?,
                    accuracy_m: row.try_get("accuracy")?,
                    first_seen,
                    last_seen: row.try_get("last_seen")?,
                });
            }
        }
    }
    for row in sqlx::query(KEYS).bind(client_id).bind(&list).fetch_all(pool).await? {
        let person: String = row.try_get("person_id")?;
        let Some(p) = out.get_mut(&person) else { continue };
        let fingerprint: String = row.try_get("fingerprint")?;
        let key = KnownDeviceKey {
            thumbprint: row.try_get("thumbprint")?,
            fingerprint: (!fingerprint.is_empty()).then_some(fingerprint),
        };
        p.past.keys.push((key, row.try_get("first_seen")?));
    }
    let rows = sqlx::query(ATTEMPTS)
        .bind(client_id)
        .bind(&list)
        .bind(from)
        .bind(start)
        .bind(until)
        .bind(policy_id)
        .fetch_all(pool)
        .await?;
    for row in rows {
        let person: String = row.try_get("person_id")?;
        let Some(p) = out.get_mut(&person) else { continue };
        let location: Option<String> = row.try_get("location")?;
        let approved_at = match location {
            Some(raw) => serde_json::from_str::<Option<StoredLocation>>(&raw)
                .map_err(|e| StoreError::Corrupt(format!("attempt location: {e}")))?
                .map(|l| (l.coordinates, l.accuracy)),
            None => None,
        };
        p.past.attempts.push(PastAttempt { at: row.try_get("created_at")?, approved_at });
    }
    Ok(out)
}

pub async fn sharing(pool: &SqlitePool, client_id: &str, fingerprints: &[String], keys: &[String]) -> Result<Sharing> {
    let mut out = Sharing::default();
    if !fingerprints.is_empty() {
        let rows = sqlx::query_as::<_, (String, String, Millis)>(SHARED_FINGERPRINTS)
            .bind(client_id)
            .bind(json_list(fingerprints)?)
            .fetch_all(pool)
            .await?;
        for (key, person, first) in rows {
            out.by_fingerprint.entry(key).or_default().push((person, first));
        }
    }
    if !keys.is_empty() {
        let rows = sqlx::query_as::<_, (String, String, Millis)>(SHARED_KEYS)
            .bind(client_id)
            .bind(json_list(keys)?)
            .fetch_all(pool)
            .await?;
        for (key, person, first) in rows {
            out.by_key.entry(key).or_default().push((person, first));
        }
    }
    Ok(out)
}
