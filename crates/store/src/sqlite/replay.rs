//! Policy replay's reads: the policy's attempts in pages, and the pasts of the people in each page. Every
//! statement reads by policy, person or key, never the tenant whole.

use smartauth_domain::replay::{Map, Past, PastAttempt, PastDevice, PastKey, PastPlace, Sharing};
use smartauth_domain::{Coordinates, KnownDeviceKey};
use sqlx::SqlitePool;

use crate::{Millis, ReplayPerson, ReplayRecord, ReplaySpan, ReplayWindow, Result, StoreError};

/// The (created_at, id) of the `n`-th newest attempt of the policy since `since`, if there is one.
pub const NTH_NEWEST: &str = "SELECT created_at, id FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3
     ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?4";

// Every statement answers one row: its results as one JSON array. Rows one by one cross from SQLite's
// thread to the server's one at a time, and for thousands of small rows that handoff cost more than the
// reads (measured with `scripts/bench.sh --replay`).

/// The judged fields when they were written at the attempt's version (see migration 13), else the document
/// (none for an erased person's attempt, which is not replayed): chosen inside the subquery, so that the
/// document (2 KB) is not read when the judged fields serve.
///
/// The judged fields and the document are JSON the server wrote: they are put in the answer as they are
/// (`group_concat`, not `json_group_array`, which would quote them as strings, to be unquoted and parsed
/// again: a third of the page's read).
///
/// The first page, then the next ones after a cursor: two statements, each with one lower bound, so that
/// the index range starts at the cursor (with `?4 IS NULL OR`, or beside `created_at >= ?3`, SQLite bounds
/// the range by the window's start, and every page scans from there). A cursor is never before `since`.
pub const FIRST_PAGE: &str = "SELECT coalesce('[' || group_concat(
       '[' || json_quote(id) || ',' || json_quote(person_id) || ',' || json_quote(status) || ',' || created_at
         || ',' || coalesce(judged, 'null') || ',' || coalesce(document, 'null') || ']', ',') || ']', '[]')
     FROM (SELECT id, person_id, status, created_at, CASE WHEN judged_version = version THEN judged END AS judged,
             CASE WHEN judged_version IS NOT version AND person_id IS NOT NULL THEN document END AS document
           FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3 AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6)";
pub const NEXT_PAGE: &str = "SELECT coalesce('[' || group_concat(
       '[' || json_quote(id) || ',' || json_quote(person_id) || ',' || json_quote(status) || ',' || created_at
         || ',' || coalesce(judged, 'null') || ',' || coalesce(document, 'null') || ']', ',') || ']', '[]')
     FROM (SELECT id, person_id, status, created_at, CASE WHEN judged_version = version THEN judged END AS judged,
             CASE WHEN judged_version IS NOT version AND person_id IS NOT NULL THEN document END AS document
           FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND (created_at, id) > (?3, ?7) AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6)";

pub const PEOPLE: &str = "SELECT json_group_array(json_array(person_id, email IS NOT NULL, phone IS NOT NULL,
       face_template_enc IS NOT NULL))
     FROM identities WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))";

/// Devices and places (networks are not part of the history): the kind is filtered in the primary key's
/// index, which the statement names, since on the kind the planner may prefer the index by key, which reads
/// the tenant's every device. A third fewer rows read (`scripts/bench.sh --replay`). A device is
/// `[person, key, first seen, known since]` (known since: null for a device never vouched for), a place `[person, latitude, longitude, accuracy, first seen, last seen]`: a
/// third less to write and parse than every column for both.
pub const KNOWN: &str =
    "SELECT json_group_array(CASE kind WHEN 'device' THEN json_array(person_id, key, first_seen, vouched_at)
       ELSE json_array(person_id, latitude, longitude, accuracy, first_seen, last_seen) END)
     FROM known_contexts INDEXED BY sqlite_autoindex_known_contexts_1
     WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2)) AND kind IN ('device', 'location')";

/// A key is `[person, thumbprint, fingerprint, first seen, known since]` (known since: null for a key never
/// vouched for).
pub const KEYS: &str =
    "SELECT json_group_array(json_array(person_id, thumbprint, fingerprint, first_seen, known_since)) FROM
     (SELECT person_id, thumbprint, fingerprint, MIN(first_seen) AS first_seen, MIN(vouched_at) AS known_since
      FROM device_keys WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))
      GROUP BY person_id, thumbprint, fingerprint)";

/// The location is read only from approved attempts: only an approval is a place the person was, and only
/// one whose place was vouched for (its policy looked at it, or the person stepped up: the judged fields'
/// `vouched`, absent from attempts written before it, which vouched for every place), as only those places
/// are learnt. Its location and decision time, from the judged fields (the same paths as in the document,
/// which is read when they were not written at the attempt's version).
pub const ATTEMPTS: &str = "SELECT json_group_array(json_array(person_id, created_at, approval)) FROM
     (SELECT person_id, created_at,
        CASE WHEN status = 'approved'
            AND (judged_version IS NOT version OR json_extract(judged, '$.vouched[1]') IS NOT 0)
          THEN json_extract(CASE WHEN judged_version = version THEN judged ELSE document END,
            '$.location', '$.decidedAt') END AS approval
      FROM attempts INDEXED BY attempts_by_person
      WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2)) AND created_at >= ?3 AND created_at <= ?5
        AND ((created_at, id) <= (?4, ?7) OR policy_id <> ?6)
      ORDER BY person_id, created_at, id)";

/// Who was approved on each device, but the people left out (?3: the caller has their own devices). The
/// index by key holds the person, so a device only they used is a look in it and no row read.
pub const SHARED_FINGERPRINTS: &str = "SELECT json_group_array(json_array(key, person_id, first_seen))
     FROM known_contexts WHERE client_id = ?1 AND kind = 'device' AND key IN (SELECT value FROM json_each(?2))
       AND person_id NOT IN (SELECT value FROM json_each(?3))";

pub const SHARED_KEYS: &str = "SELECT json_group_array(json_array(thumbprint, person_id, first_seen)) FROM
     (SELECT thumbprint, person_id, MIN(first_seen) AS first_seen FROM device_keys
      WHERE client_id = ?1 AND thumbprint IN (SELECT value FROM json_each(?2))
        AND person_id NOT IN (SELECT value FROM json_each(?3))
      GROUP BY thumbprint, person_id)";

/// The one JSON array a statement above answers, parsed.
fn rows<T: serde::de::DeserializeOwned>(aggregate: String, what: &str) -> Result<Vec<T>> {
    serde_json::from_str(&aggregate).map_err(|e| StoreError::Corrupt(format!("replay {what}: {e}")))
}

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
) -> Result<Vec<ReplayRecord>> {
    let query = match &w.after {
        // ?3 is the cursor's time, ?7 its id.
        Some((at, _)) => sqlx::query_scalar::<_, String>(NEXT_PAGE).bind(client_id).bind(policy_id).bind(at),
        None => sqlx::query_scalar::<_, String>(FIRST_PAGE).bind(client_id).bind(policy_id).bind(w.since),
    };
    let query = query.bind(w.until.0).bind(&w.until.1).bind(i64::from(limit));
    let query = match &w.after {
        Some((_, id)) => query.bind(id),
        None => query,
    };
    type Raw = Option<Box<serde_json::value::RawValue>>;
    type Page = (String, Option<String>, String, Millis, Raw, Raw);
    let page: Vec<Page> = rows(query.fetch_one(pool).await?, "page")?;
    Ok(page
        .into_iter()
        .map(|(id, person_id, status, created_at, judged, document)| ReplayRecord {
            id,
            person_id,
            status,
            created_at,
            judged,
            document,
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct StoredLocation {
    coordinates: Coordinates,
    accuracy: Option<f64>,
}

/// A row of [`KNOWN`]: a device or a place, told apart by their second member (a key is text, a latitude a
/// number).
enum Known {
    Device(String, String, Millis, Option<Millis>),
    Place(String, Option<f64>, Option<f64>, Option<f64>, Millis, Millis),
}

impl<'de> serde::Deserialize<'de> for Known {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum KeyOrLatitude {
            Key(String),
            Latitude(Option<f64>),
        }
        struct Row;
        impl<'de> serde::de::Visitor<'de> for Row {
            type Value = Known;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a known device or place")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Known, A::Error> {
                fn next<'de, T: serde::Deserialize<'de>, A: serde::de::SeqAccess<'de>>(
                    seq: &mut A,
                ) -> std::result::Result<T, A::Error> {
                    seq.next_element()?.ok_or_else(|| serde::de::Error::custom("a known context's row is short"))
                }
                let person: String = next(&mut seq)?;
                Ok(match next(&mut seq)? {
                    KeyOrLatitude::Key(key) => Known::Device(person, key, next(&mut seq)?, next(&mut seq)?),
                    KeyOrLatitude::Latitude(lat) => {
                        Known::Place(person, lat, next(&mut seq)?, next(&mut seq)?, next(&mut seq)?, next(&mut seq)?)
                    }
                })
            }
        }
        deserializer.deserialize_seq(Row)
    }
}

impl Known {
    fn person(&self) -> &str {
        match self {
            Known::Device(p, ..) | Known::Place(p, ..) => p,
        }
    }
}

/// An approval's location and time as `json_extract` hands them over: an array, or its text.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Approval {
    Array(Option<StoredLocation>, Option<Millis>),
    Text(String),
}

pub async fn pasts(
    pool: &SqlitePool,
    client_id: &str,
    people: &[String],
    policy_id: &str,
    span: ReplaySpan,
) -> Result<Map<String, ReplayPerson>> {
    let list = json_list(people)?;
    let fetch = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(client_id).bind(list.clone());
    let mut out: Map<String, ReplayPerson> = Map::with_capacity_and_hasher(people.len(), Default::default());
    // SQLite's truth values are the numbers 0 and 1.
    let found: Vec<(String, u8, u8, u8)> = rows(fetch(PEOPLE).fetch_one(pool).await?, "people")?;
    for (person, email, phone, face) in found {
        let (has_email, has_phone, has_face) = (email == 1, phone == 1, face == 1);
        out.insert(person, ReplayPerson { past: Past::default(), has_email, has_phone, has_face });
    }
    let known: Vec<Known> = rows(fetch(KNOWN).fetch_one(pool).await?, "known contexts")?;
    for row in known {
        let Some(p) = out.get_mut(row.person()) else { continue };
        match row {
            Known::Device(_, fingerprint, first_seen, known_since) => {
                p.past.devices.push(PastDevice { fingerprint, first_seen, known_since })
            }
            Known::Place(_, lat, lon, accuracy_m, first_seen, last_seen) => {
                let (Some(lat), Some(lon)) = (lat, lon) else { continue };
                let coordinates = Coordinates::new(lat, lon).map_err(StoreError::Corrupt)?;
                p.past.places.push(PastPlace { coordinates, accuracy_m, first_seen, last_seen });
            }
        }
    }
    type KeyRow = (String, String, String, Millis, Option<Millis>);
    let keys: Vec<KeyRow> = rows(fetch(KEYS).fetch_one(pool).await?, "device keys")?;
    for (person, thumbprint, fingerprint, first_seen, known_since) in keys {
        let Some(p) = out.get_mut(&person) else { continue };
        let key = KnownDeviceKey { thumbprint, fingerprint: (!fingerprint.is_empty()).then_some(fingerprint) };
        p.past.keys.push(PastKey { key, first_seen, known_since });
    }
    let (before_at, before_id) = span.replayed_after;
    let attempts = fetch(ATTEMPTS)
        .bind(span.from)
        .bind(before_at)
        .bind(span.until)
        .bind(policy_id)
        .bind(before_id)
        .fetch_one(pool)
        .await?;
    let attempts: Vec<(String, Millis, Option<Approval>)> = rows(attempts, "attempts")?;
    for (person, at, approval) in attempts {
        let Some(p) = out.get_mut(&person) else { continue };
        let (location, decided_at) = match approval {
            Some(Approval::Array(location, decided_at)) => (location, decided_at),
            Some(Approval::Text(raw)) => serde_json::from_str::<(Option<StoredLocation>, Option<Millis>)>(&raw)
                .map_err(|e| StoreError::Corrupt(format!("attempt location: {e}")))?,
            None => (None, None),
        };
        p.past.attempts.push(PastAttempt::new(at, location.map(|l| (l.coordinates, l.accuracy)), decided_at));
    }
    Ok(out)
}

pub async fn sharing(
    pool: &SqlitePool,
    client_id: &str,
    fingerprints: &[String],
    keys: &[String],
    leave_out: &[String],
) -> Result<Sharing> {
    let mut out = Sharing::default();
    let leave_out = json_list(leave_out)?;
    for (sql, values, into) in
        [(SHARED_FINGERPRINTS, fingerprints, &mut out.by_fingerprint), (SHARED_KEYS, keys, &mut out.by_key)]
    {
        if values.is_empty() {
            continue;
        }
        let found = sqlx::query_scalar::<_, String>(sql)
            .bind(client_id)
            .bind(json_list(values)?)
            .bind(&leave_out)
            .fetch_one(pool)
            .await?;
        for (key, person, first) in rows::<(String, String, Millis)>(found, "shared devices")? {
            into.entry(key).or_default().push((person, first));
        }
    }
    Ok(out)
}
