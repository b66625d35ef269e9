//! The SQL of the request path, named, so that the statements the server runs are the ones whose
//! plans `plans` checks (issue 12: none may read the tenant by client alone).

/// What the decision engine needs to know about a person's past, as columns of one SELECT. Parameters:
/// ?1 client, ?2 person, ?3 fingerprint, ?4 window start, ?5 attempt limit (counting stops there), ?6 the
/// device key's thumbprint: with one, the device's other people are those approved with that key (a web
/// fingerprint is shared by every phone of a model, a key by one browser).
macro_rules! history_columns {
    () => {
        "(SELECT json_group_array(key) FROM (SELECT key FROM known_contexts
            WHERE client_id = ?1 AND person_id = ?2 AND kind = 'device' AND vouched_at IS NOT NULL
            ORDER BY first_seen)) AS devices,
         CASE WHEN ?6 IS NULL THEN (SELECT COUNT(*) FROM known_contexts
            WHERE client_id = ?1 AND kind = 'device' AND key = ?3 AND person_id <> ?2)
         ELSE (SELECT COUNT(DISTINCT person_id) FROM device_keys
            WHERE client_id = ?1 AND thumbprint = ?6 AND person_id <> ?2) END AS others,
         (SELECT json_group_array(json_array(latitude, longitude, last_seen, accuracy)) FROM (SELECT latitude, longitude, last_seen, accuracy
            FROM known_contexts WHERE client_id = ?1 AND person_id = ?2 AND kind = 'location'
            ORDER BY last_seen DESC)) AS locations,
         (SELECT COUNT(*) FROM (SELECT 1 FROM attempts WHERE client_id = ?1 AND person_id = ?2 AND created_at >= ?4
            LIMIT ?5)) AS recent,
         (SELECT json_group_array(json_array(thumbprint, fingerprint)) FROM (SELECT thumbprint, fingerprint
            FROM device_keys WHERE client_id = ?1 AND person_id = ?2 AND vouched_at IS NOT NULL
            ORDER BY first_seen)) AS device_keys"
    };
}

pub const HISTORY: &str = concat!("SELECT ", history_columns!());

/// The identity and its history in one statement. The decision needs only whether a face is
/// enrolled, not the image or the template: they are left out (an empty template stands for
/// "enrolled"), which keeps this hot read small.
pub const DECISION_INPUTS: &str = concat!(
    "SELECT id, client_id, person_id, name, email, phone, created_at, updated_at, NULL AS face_image_enc, ",
    "CASE WHEN face_template_enc IS NULL THEN NULL ELSE X'' END AS face_template_enc, ",
    history_columns!(),
    " FROM identities WHERE client_id = ?1 AND person_id = ?2"
);

pub const IDENTITY: &str = "SELECT * FROM identities WHERE client_id = ? AND person_id = ?";
pub const POLICY: &str = "SELECT * FROM policies WHERE client_id = ? AND policy_id = ?";
pub const CLIENT: &str = "SELECT * FROM clients WHERE id = ?";
pub const ATTEMPT: &str = "SELECT * FROM attempts WHERE id = ? AND client_id = ?";
pub const ATTEMPT_IDS_OF: &str = "SELECT id FROM attempts WHERE client_id = ? AND person_id = ?";
pub const ATTEMPTS_OF: &str = "SELECT * FROM attempts WHERE client_id = ? AND person_id = ?";
pub const DELETE_IDENTITY: &str = "DELETE FROM identities WHERE client_id = ? AND person_id = ?";
pub const DELETE_KNOWN_CONTEXTS: &str = "DELETE FROM known_contexts WHERE client_id = ? AND person_id = ?";
pub const DELETE_DEVICE_KEYS: &str = "DELETE FROM device_keys WHERE client_id = ? AND person_id = ?";
pub const DELETE_DEVICE_CHALLENGES: &str = "DELETE FROM device_challenges WHERE client_id = ? AND person_id = ?";

/// Device binding: a challenge is taken once, whoever asks first.
pub const TAKE_DEVICE_CHALLENGE: &str = "DELETE FROM device_challenges WHERE challenge_hash = ?
     RETURNING client_id, person_id, policy_id, expires_at";
pub const PRUNE_DEVICE_CHALLENGES: &str =
    "DELETE FROM device_challenges WHERE client_id = ? AND person_id = ? AND expires_at < ?";
pub const COUNT_DEVICE_CHALLENGES: &str =
    "SELECT COUNT(*) FROM device_challenges WHERE client_id = ? AND person_id = ? AND expires_at >= ?";
pub const INSERT_DEVICE_CHALLENGE: &str =
    "INSERT INTO device_challenges (challenge_hash, client_id, person_id, policy_id, expires_at) VALUES (?, ?, ?, ?, ?)";
/// An approval signed by a device key: the key becomes a known device of the person. Written only
/// when the attempt (the last value) was stored, so its person still exists.
pub const LEARN_DEVICE_KEY: &str =
    "INSERT INTO device_keys (client_id, person_id, thumbprint, fingerprint, first_seen, last_seen, vouched_at)
     SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM attempts WHERE id = ?)
     ON CONFLICT (client_id, person_id, thumbprint, fingerprint) DO UPDATE SET
       first_seen = MIN(first_seen, excluded.first_seen),
       vouched_at = COALESCE(MIN(vouched_at, excluded.vouched_at), vouched_at, excluded.vouched_at),
       last_seen = MAX(last_seen, excluded.last_seen)";

pub const DELETE_GUARD: &str = "DELETE FROM identity_guards WHERE client_id = ? AND person_id = ?";
/// A success of one factor forgets that factor's failures only, and its lock if the try that succeeded set it
/// (tries are counted before their outcome; no try of a locked factor is allowed). The other factor's lock stays.
pub const DELETE_FACTOR_GUARD: &str =
    "DELETE FROM identity_guards WHERE client_id = ? AND person_id = ? AND factor = ?";
/// Erasure keeps the person's sends for the rest of their day, without the person: the destination's
/// cap must hold across an erasure and a new identity with the same phone (a keyed hash, not the number).
pub const DETACH_SENDS: &str = "UPDATE code_sends SET person_id = '' WHERE client_id = ? AND person_id = ?";

/// Code and face verification: the person's failures across attempts.
pub const GUARD: &str =
    "SELECT factor, failures, last_try_at, locked_at FROM identity_guards WHERE client_id = ? AND person_id = ?";
pub const PUT_GUARD: &str =
    "INSERT INTO identity_guards (client_id, person_id, factor, failures, last_try_at, locked_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, person_id, factor) DO UPDATE SET failures = excluded.failures,
     last_try_at = excluded.last_try_at, locked_at = excluded.locked_at";

/// Code send: whether this request's send was already counted.
pub const SEND_COUNTED: &str = "SELECT 1 FROM code_sends WHERE id = ?";
/// The `?4`-th newest send of the person since `?3` (0-based offset): when there is one, the cap of
/// `?4 + 1` sends is reached, until it is older than the window.
pub const NTH_SEND_OF_PERSON: &str = "SELECT sent_at FROM code_sends WHERE client_id = ?1 AND person_id = ?2
     AND sent_at >= ?3 ORDER BY sent_at DESC LIMIT 1 OFFSET ?4";
pub const NTH_SEND_TO_DESTINATION: &str = "SELECT sent_at FROM code_sends WHERE client_id = ?1 AND destination = ?2
     AND sent_at >= ?3 ORDER BY sent_at DESC LIMIT 1 OFFSET ?4";
pub const INSERT_SEND: &str =
    "INSERT INTO code_sends (id, client_id, person_id, destination, sent_at) VALUES (?, ?, ?, ?, ?)";
/// Sends older than the longest window (a day) count for nothing.
pub const PRUNE_SENDS: &str = "DELETE FROM code_sends WHERE client_id = ? AND person_id = ? AND sent_at < ?";
/// The same for the destination, which also prunes the sends erasure detached.
pub const PRUNE_SENDS_TO: &str = "DELETE FROM code_sends WHERE client_id = ? AND destination = ? AND sent_at < ?";
/// Erasure: an attempt detached from its person, if it is still the version that was anonymized.
pub const DETACH_ATTEMPT: &str =
    "UPDATE attempts SET person_id = NULL, document = ?, judged = NULL, judged_version = NULL, version = version + 1
     WHERE id = ? AND version = ?";
pub const UPDATE_ATTEMPT: &str =
    "UPDATE attempts SET status = ?, document = ?, judged = ?, judged_version = ?, version = ?
     WHERE id = ? AND client_id = ? AND version = ?";

/// A new attempt, stored only while its person has an identity (an erasure may have happened since
/// the decision); `INSERT_GUARD` is appended when the policy limits attempts in a window.
pub const INSERT_ATTEMPT: &str =
    "INSERT INTO attempts (id, client_id, person_id, policy_id, status, created_at, version, document, expires_at,
       judged, judged_version)
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM identities WHERE client_id = ? AND person_id = ?)";
pub const INSERT_GUARD: &str =
    " AND (SELECT COUNT(*) FROM (SELECT 1 FROM attempts WHERE client_id = ? AND person_id = ? AND created_at >= ?
       LIMIT ?)) < ?";

/// Which filters a page of the attempt list has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListShape {
    pub person: bool,
    pub status: bool,
    pub policy: bool,
    pub from: bool,
    pub to: bool,
    pub after: bool,
}

impl ListShape {
    /// The clauses a filter needs. A cursor already lies before `to` (it is the last row of a page
    /// that was), so `to` is left out with one: the index range then ends at the cursor, and a deep
    /// page reads only its own rows.
    pub fn of(f: &crate::AttemptFilter) -> Self {
        ListShape {
            person: f.person_id.is_some(),
            status: f.status.is_some(),
            policy: f.policy_id.is_some(),
            from: f.from.is_some(),
            to: f.to.is_some() && f.after.is_none(),
            after: f.after.is_some(),
        }
    }
}

/// A page of the attempt list, newest first. The cursor is a row-value comparison so that it bounds
/// the index range (page 1,000 reads a page, not 1,000 pages); the parameters follow the order of
/// the clauses: client, person, status, policy, from, to, cursor (created_at, id), limit.
///
/// The index is named, not left to the planner: without statistics it picked `attempts_by_status` for
/// a person's approved attempts (every approval of the tenant read to find one person's) and the
/// time index for a status within a month. The most selective filter leads: the person (whose history
/// bounds the read), then policy and status, policy, status, and else the tenant's newest rows.
pub fn attempt_list(shape: ListShape) -> String {
    let index = match shape {
        ListShape { person: true, .. } => "attempts_by_person",
        ListShape { policy: true, status: true, .. } => "attempts_by_policy_status",
        ListShape { policy: true, .. } => "attempts_by_policy",
        ListShape { status: true, .. } => "attempts_by_status",
        _ => "attempts_by_client",
    };
    let mut sql = format!("SELECT * FROM attempts INDEXED BY {index} WHERE client_id = ?");
    for (on, clause) in [
        (shape.person, " AND person_id = ?"),
        (shape.status, " AND status = ?"),
        (shape.policy, " AND policy_id = ?"),
        (shape.from, " AND created_at >= ?"),
        (shape.to, " AND created_at < ?"),
        (shape.after, " AND (created_at, id) < (?, ?)"),
    ] {
        if on {
            sql.push_str(clause);
        }
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    sql
}

/// Outbox: the event, only when a subscription of the tenant wants its type. Values: id, client, type,
/// data, created_at, then client and type again. The subscriptions' cursors find it (`NEW_EVENTS_OF`).
pub const INSERT_EVENT: &str = "INSERT INTO webhook_events (id, client_id, type, data, created_at)
     SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.client_id = ? AND w.disabled_at IS NULL
       AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = ?))";
/// The same, written only if the attempt (the last value) was stored: for the grouped attempt writes.
pub const INSERT_EVENT_OF_ATTEMPT: &str = "INSERT INTO webhook_events (id, client_id, type, data, created_at)
     SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.client_id = ? AND w.disabled_at IS NULL
       AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = ?))
       AND EXISTS (SELECT 1 FROM attempts WHERE id = ?)";
/// The dispatcher: enabled subscriptions with events after their cursor that no process holds, the furthest
/// behind first. It reads every subscription (a few per tenant), each with one search of the cursors' index.
/// Values: now, limit.
pub const WEBHOOKS_WITH_NEW_EVENTS: &str = "SELECT w.id FROM webhooks w
     WHERE w.disabled_at IS NULL AND (w.cursor_lease_until IS NULL OR w.cursor_lease_until < ?1)
       AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.client_id = w.client_id AND e.seq > w.cursor_seq)
     ORDER BY w.cursor_seq LIMIT ?2";
/// The dispatcher holds those subscriptions' cursors until the lease's end. Values: the lease's end, the
/// ids (a JSON array), now.
pub const CLAIM_CURSORS: &str = "UPDATE webhooks SET cursor_lease_until = ?1
     WHERE id IN (SELECT value FROM json_each(?2)) AND disabled_at IS NULL
       AND (cursor_lease_until IS NULL OR cursor_lease_until < ?3)
     RETURNING id, client_id, cursor_seq, events";
/// A tenant's events after a subscription's cursor, oldest first. Values: client, cursor, limit.
pub const NEW_EVENTS_OF: &str = "SELECT seq, id, type, data, created_at, webhook_id FROM webhook_events
     WHERE client_id = ? AND seq > ? ORDER BY seq LIMIT ?";
/// Tries recorded: a new event's delivery gets its row, a retried one's row is updated (none for a
/// subscription deleted since). One row a try, as a JSON array: id, status, next try, response status,
/// error, time, seq, subscription, client, event id, event time.
pub const RECORD_TRIES: &str = "INSERT INTO webhook_deliveries (id, status, next_try_at, last_status, last_error,
       last_try_at, seq, webhook_id, client_id, event_id, created_at, tries, lease_until)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6,
       j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, 1, NULL
     FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = j.value ->> 7)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, tries = tries + 1, next_try_at = excluded.next_try_at,
       lease_until = NULL, last_status = excluded.last_status, last_error = excluded.last_error,
       last_try_at = excluded.last_try_at";
/// A cursor moves past the events tried (never back), and is let go of when the dispatcher is done, unless
/// another process holds it now. Values: through, release (0/1), the lease it held, the subscription.
pub const MOVE_CURSOR: &str = "UPDATE webhooks SET cursor_seq = MAX(cursor_seq, ?1),
       cursor_lease_until = CASE WHEN ?2 AND cursor_lease_until = ?3 THEN NULL ELSE cursor_lease_until END
     WHERE id = ?4";
/// Whether subscription `w` takes event `e`: one of its types, or an event for it alone (the test event).
macro_rules! takes {
    () => {
        "(e.webhook_id = w.id OR (e.webhook_id IS NULL AND e.type IN (SELECT value FROM json_each(w.events))))"
    };
}
/// The deliveries of new events, not tried yet (no row): each enabled subscription's events after its cursor
/// that it takes. A `FROM` clause, ending in a `WHERE` more conditions can follow with `AND`.
pub const NEW_DELIVERIES: &str = concat!(
    "webhooks w JOIN webhook_events e ON e.client_id = w.client_id AND e.seq > w.cursor_seq
     WHERE w.disabled_at IS NULL AND ",
    takes!()
);
/// A subscription's new events, newest first, for its list of deliveries. Values: subscription, client,
/// before (a `seq`), limit.
pub const NEW_DELIVERIES_OF: &str = concat!(
    "SELECT e.seq, e.id, e.type, e.data, e.created_at, e.webhook_id, w.cursor_lease_until
     FROM webhooks w JOIN webhook_events e ON e.client_id = w.client_id AND e.seq > w.cursor_seq
     WHERE w.id = ? AND w.client_id = ? AND w.disabled_at IS NULL AND e.seq < ? AND ",
    takes!(),
    " ORDER BY e.seq DESC LIMIT ?"
);
/// A subscription being disabled gives up the new events it has not tried: each gets a `failed` row (listed,
/// and sent by `recover` once it is enabled again), and its cursor goes to the last event, so that once
/// enabled again it gets the events written from then on. Does nothing to a subscription already disabled.
/// Values: the subscription, now, the reason.
pub const GIVE_UP_NEW_EVENTS: &str = concat!(
    "INSERT INTO webhook_deliveries (id, seq, webhook_id, client_id, event_id, status, tries, next_try_at, last_error,
       created_at)
     SELECT printf('%012x', e.seq) || w.id, e.seq, w.id, w.client_id, e.id, 'failed', 0, ?2, ?3, e.created_at
     FROM webhooks w JOIN webhook_events e ON e.client_id = w.client_id AND e.seq > w.cursor_seq
     WHERE w.id = ?1 AND w.disabled_at IS NULL AND ",
    takes!(),
    " ON CONFLICT (id) DO NOTHING"
);
/// The newest event's place: where a new (or enabled again, or disabled) subscription's cursor goes.
macro_rules! last_event {
    () => {
        "(SELECT COALESCE(MAX(seq), 0) FROM webhook_events)"
    };
}
pub const LAST_EVENT: &str = last_event!();
pub const NEWEST_EVENT: &str = concat!("SELECT ", last_event!());
/// Then its cursor goes past them (the value: the subscription).
pub const SKIP_NEW_EVENTS: &str =
    concat!("UPDATE webhooks SET cursor_seq = ", last_event!(), " WHERE id = ? AND disabled_at IS NULL");
pub const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (id, client_id, actor, action, target, detail, ip, request_id, at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Subscriptions with due deliveries that no one is sending, the longest waiting first: read through the due
/// deliveries (the planner would otherwise walk every waiting one). Values: now, now, limit.
pub const DUE_WEBHOOKS: &str = "SELECT webhook_id FROM webhook_deliveries INDEXED BY webhook_deliveries_due
     WHERE status = 'pending' AND next_try_at <= ?
       AND (lease_until IS NULL OR lease_until < ?)
     GROUP BY webhook_id ORDER BY MIN(seq) LIMIT ?";
/// The dispatcher takes a subscription's due deliveries, oldest event first. Values: the lease's end, the
/// subscription, now, now, limit.
pub const LEASE_DELIVERIES: &str = "UPDATE webhook_deliveries SET lease_until = ?
     WHERE id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending' AND next_try_at <= ?
       AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?)
     RETURNING id";
/// A delivery and its event (joined by `seq`: `JOIN webhook_events e ON e.seq = d.seq`).
pub const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.client_id, d.event_id, d.status, d.tries, d.next_try_at,
     d.last_status, d.last_error, d.last_try_at, d.created_at, d.seq, d.lease_until, e.type AS event_type, e.data AS event_data,
     e.created_at AS event_created_at";

/// The expiry sweep: waiting attempts past their `expires_at` (the partial index `attempts_expiring`).
pub const EXPIRED_ATTEMPTS: &str =
    "SELECT * FROM attempts WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?";

/// Audit retention: the oldest `?1` lines (by `seq`, the order they were written in), those of them written
/// before `?2`. Lines are written in time order, so the first newer one ends what is due.
pub const PRUNE_AUDIT: &str = "DELETE FROM audit_log WHERE seq IN
     (SELECT seq FROM (SELECT seq, at FROM audit_log ORDER BY seq LIMIT ?1) WHERE at < ?2)";
