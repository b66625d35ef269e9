//! Policy replay's reads: the policy's attempts in pages, and the pasts of the people in each page. Every
//! statement reads by policy, person or key, never the tenant whole.

use smartauth_domain::replay::{Map, PastAttempt, PastDevice, PastKey, PastPlace, Sharing};
use smartauth_domain::{Coordinates, KnownDeviceKey};
use sqlx::SqlitePool;

use super::raw;
use crate::{Means, Millis, ReplayPerson, ReplayRecord, ReplaySpan, ReplayWindow, Result, StoreError};

/// The (created_at, id) of the `n`-th newest attempt of the policy since `since`, if there is one.
pub const NTH_NEWEST: &str = "SELECT created_at, id FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3
     ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?4";

// The statements' rows are read straight from SQLite (`raw`), column by column.

/// The judged fields when they were written at the attempt's version (see migration 13), else the document
/// (none for an erased person's attempt, which is not replayed): chosen in the statement, so that the
/// document (2 KB) is not read when the judged fields serve.
///
/// The first page, then the next ones after a cursor: two statements, each with one lower bound, so that
/// the index range starts at the cursor (with `?4 IS NULL OR`, or beside `created_at >= ?3`, SQLite bounds
/// the range by the window's start, and every page scans from there). A cursor is never before `since`.
pub const FIRST_PAGE: &str = "SELECT id, person_id, status, created_at,
       CASE WHEN judged_version = version THEN judged END,
       CASE WHEN judged_version IS NOT version AND person_id IS NOT NULL THEN document END
     FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND created_at >= ?3 AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6";
pub const NEXT_PAGE: &str = "SELECT id, person_id, status, created_at,
       CASE WHEN judged_version = version THEN judged END,
       CASE WHEN judged_version IS NOT version AND person_id IS NOT NULL THEN document END
     FROM attempts INDEXED BY attempts_by_policy
     WHERE client_id = ?1 AND policy_id = ?2 AND (created_at, id) > (?3, ?7) AND (created_at, id) <= (?4, ?5)
     ORDER BY created_at, id LIMIT ?6";

/// The means on file now: read only for attempts stored before each kept its own (see `Store::replay_means`).
pub const MEANS: &str = "SELECT person_id, face_template_enc IS NOT NULL, email IS NOT NULL, phone IS NOT NULL
     FROM identities WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))";

/// Devices and places (networks are not part of the history): the kind is filtered in the primary key,
/// which the statement names, since on the kind the planner may prefer the index by key, which reads the
/// tenant's every device. A device's `vouched_at` is when it became known (null: never vouched for).
pub const KNOWN: &str = "SELECT person_id, kind, key, latitude, longitude, accuracy, first_seen, last_seen, vouched_at
     FROM known_contexts INDEXED BY sqlite_autoindex_known_contexts_1
     WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2)) AND kind IN ('device', 'location')";

/// A key with the fingerprint it came with, its first sighting and since when it is known (null: never
/// vouched for).
pub const KEYS: &str = "SELECT person_id, thumbprint, fingerprint, MIN(first_seen), MIN(vouched_at)
     FROM device_keys WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2))
     GROUP BY person_id, thumbprint, fingerprint";

/// The location is read only from approved attempts: only an approval is a place the person was, and only
/// one whose place was vouched for (its policy looked at it, or the person stepped up: the judged fields'
/// `vouched`, absent from attempts written before it, which vouched for every place), as only those places
/// are learnt. Its coordinates, accuracy and decision time (SQLite parses the JSON once for the four), from
/// the judged fields (the same paths as in the document, which is read when they were not written at the
/// attempt's version); none of the four for an approval that did not vouch for its place.
pub const ATTEMPTS: &str = "SELECT person_id, created_at, json_extract(j, '$.location.coordinates.latitude'),
       json_extract(j, '$.location.coordinates.longitude'), json_extract(j, '$.location.accuracy'),
       json_extract(j, '$.decidedAt')
     FROM (SELECT person_id, created_at, id,
        CASE WHEN status = 'approved'
            AND (judged_version IS NOT version OR json_extract(judged, '$.vouched[1]') IS NOT 0)
          THEN CASE WHEN judged_version = version THEN judged ELSE document END END AS j
      FROM attempts INDEXED BY attempts_by_person
      WHERE client_id = ?1 AND person_id IN (SELECT value FROM json_each(?2)) AND created_at >= ?3 AND created_at <= ?5
        AND ((created_at, id) <= (?4, ?7) OR policy_id <> ?6))
     ORDER BY person_id, created_at, id";

/// Who was approved on each device: from the index by key alone (it holds the whole primary key of these
/// tables), so a device is a look in it and no row read. The people the caller left out (it has their own
/// devices) are skipped as the rows are read (in the statement, `NOT IN`, SQLite built an index of them
/// first, which took as long as the reads); the first sighting of the others, few, is then read by the
/// primary key (`FIRST_SEEN_ON_DEVICE`, `FIRST_SEEN_WITH_KEY`).
pub const SHARED_FINGERPRINTS: &str = "SELECT key, person_id
     FROM known_contexts WHERE client_id = ?1 AND kind = 'device' AND key IN (SELECT value FROM json_each(?2))";

pub const SHARED_KEYS: &str = "SELECT DISTINCT thumbprint, person_id FROM device_keys
      WHERE client_id = ?1 AND thumbprint IN (SELECT value FROM json_each(?2))";

pub const FIRST_SEEN_ON_DEVICE: &str =
    "SELECT first_seen FROM known_contexts WHERE client_id = ?1 AND person_id = ?2 AND kind = 'device' AND key = ?3";

pub const FIRST_SEEN_WITH_KEY: &str =
    "SELECT MIN(first_seen) FROM device_keys WHERE client_id = ?1 AND person_id = ?2 AND thumbprint = ?3";

fn json_list(values: &[String]) -> Result<String> {
    serde_json::to_string(values).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn required<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| StoreError::Corrupt(format!("replay read: {what} is null")))
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
    raw::with_connection(pool, |c| {
        let mut statement = match &w.after {
            // ?3 is the cursor's time, ?7 its id.
            Some((at, id)) => {
                let mut s = c.prepare(NEXT_PAGE)?;
                s.int(3, *at)?.text(7, id)?;
                s
            }
            None => {
                let mut s = c.prepare(FIRST_PAGE)?;
                s.int(3, w.since)?;
                s
            }
        };
        statement.text(1, client_id)?.text(2, policy_id)?.int(4, w.until.0)?.text(5, &w.until.1)?;
        statement.int(6, i64::from(limit))?;
        let mut page = Vec::with_capacity(limit.min(100_000) as usize);
        statement.each(|row| {
            page.push(ReplayRecord {
                id: row.string(0)?,
                person_id: row.text(1)?.map(str::to_owned),
                status: row.string(2)?,
                created_at: required(row.int(3)?, "created_at")?,
                judged: row.text(4)?.map(str::to_owned),
                document: row.text(5)?.map(str::to_owned),
            });
            Ok(())
        })?;
        Ok(page)
    })
    .await
}

pub async fn pasts(
    pool: &SqlitePool,
    client_id: &str,
    people: &[String],
    policy_id: &str,
    span: ReplaySpan,
) -> Result<Map<String, ReplayPerson>> {
    let list = json_list(people)?;
    raw::with_connection(pool, |c| {
        // Every person has an entry: one erased since has nothing in the tables below, and its empty past.
        let mut out: Map<String, ReplayPerson> = Map::with_capacity_and_hasher(people.len(), Default::default());
        out.extend(people.iter().map(|p| (p.clone(), ReplayPerson::default())));
        let mut statement = c.prepare(KNOWN)?;
        statement.text(1, client_id)?.text(2, &list)?;
        statement.each(|row| {
            let Some(p) = out.get_mut(required(row.text(0)?, "person_id")?) else { return Ok(()) };
            let first_seen = required(row.int(6)?, "first_seen")?;
            match row.text(1)? {
                Some("device") => p.past.devices.push(PastDevice {
                    fingerprint: row.string(2)?,
                    first_seen,
                    known_since: row.int(8)?,
                }),
                _ => {
                    let (Some(lat), Some(lon)) = (row.real(3)?, row.real(4)?) else { return Ok(()) };
                    let coordinates = Coordinates::new(lat, lon).map_err(StoreError::Corrupt)?;
                    let last_seen = required(row.int(7)?, "last_seen")?;
                    p.past.places.push(PastPlace { coordinates, accuracy_m: row.real(5)?, first_seen, last_seen });
                }
            }
            Ok(())
        })?;
        let mut statement = c.prepare(KEYS)?;
        statement.text(1, client_id)?.text(2, &list)?;
        statement.each(|row| {
            let Some(p) = out.get_mut(required(row.text(0)?, "person_id")?) else { return Ok(()) };
            let fingerprint = required(row.text(2)?, "fingerprint")?;
            let key = KnownDeviceKey {
                thumbprint: row.string(1)?,
                fingerprint: (!fingerprint.is_empty()).then(|| fingerprint.to_owned()),
            };
            p.past.keys.push(PastKey {
                key,
                first_seen: required(row.int(3)?, "first_seen")?,
                known_since: row.int(4)?,
            });
            Ok(())
        })?;
        let (before_at, before_id) = &span.replayed_after;
        let mut statement = c.prepare(ATTEMPTS)?;
        statement.text(1, client_id)?.text(2, &list)?.int(3, span.from)?.int(4, *before_at)?.int(5, span.until)?;
        statement.text(6, policy_id)?.text(7, before_id)?;
        statement.each(|row| {
            let Some(p) = out.get_mut(required(row.text(0)?, "person_id")?) else { return Ok(()) };
            let place = match (row.real(2)?, row.real(3)?) {
                (Some(lat), Some(lon)) => {
                    Some((Coordinates::new(lat, lon).map_err(StoreError::Corrupt)?, row.real(4)?))
                }
                _ => None,
            };
            p.past.attempts.push(PastAttempt::new(required(row.int(1)?, "created_at")?, place, row.int(5)?));
            Ok(())
        })?;
        Ok(out)
    })
    .await
}

pub async fn means(pool: &SqlitePool, client_id: &str, people: &[String]) -> Result<Map<String, Means>> {
    let list = json_list(people)?;
    raw::with_connection(pool, |c| {
        let mut out: Map<String, Means> = Map::with_capacity_and_hasher(people.len(), Default::default());
        let mut statement = c.prepare(MEANS)?;
        statement.text(1, client_id)?.text(2, &list)?;
        statement.each(|row| {
            // SQLite's truth values are the numbers 0 and 1.
            let yes = |column| Ok::<_, StoreError>(row.int(column)? == Some(1));
            out.insert(row.string(0)?, Means { face: yes(1)?, email: yes(2)?, phone: yes(3)? });
            Ok(())
        })?;
        Ok(out)
    })
    .await
}

pub async fn sharing(
    pool: &SqlitePool,
    client_id: &str,
    fingerprints: &[String],
    keys: &[String],
    leave_out: &[String],
) -> Result<Sharing> {
    let leave_out: foldhash::HashSet<&str> = leave_out.iter().map(String::as_str).collect();
    let (fingerprints, keys) = (json_list(fingerprints)?, json_list(keys)?);
    raw::with_connection(pool, |c| {
        let mut out = Sharing::default();
        for (sql, first_seen, values, into) in [
            (SHARED_FINGERPRINTS, FIRST_SEEN_ON_DEVICE, &fingerprints, &mut out.by_fingerprint),
            (SHARED_KEYS, FIRST_SEEN_WITH_KEY, &keys, &mut out.by_key),
        ] {
            if values == "[]" {
                continue;
            }
            let mut others: Vec<(String, String)> = Vec::new();
            let mut statement = c.prepare(sql)?;
            statement.text(1, client_id)?.text(2, values)?;
            statement.each(|row| {
                let person = required(row.text(1)?, "person_id")?;
                if !leave_out.contains(person) {
                    others.push((row.string(0)?, person.to_owned()));
                }
                Ok(())
            })?;
            let mut lookup = c.prepare(first_seen)?;
            for (device, person) in others {
                lookup.reset()?.text(1, client_id)?.text(2, &person)?.text(3, &device)?;
                let mut first = None;
                lookup.each(|row| {
                    first = row.int(0)?;
                    Ok(())
                })?;
                // Gone since the read above (an erasure): not on the device any more.
                if let Some(first) = first {
                    into.entry(device).or_default().push((person, first));
                }
            }
        }
        Ok(out)
    })
    .await
}
