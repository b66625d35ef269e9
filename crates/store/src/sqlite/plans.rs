//! The query plans of the request path, for the test that holds each statement to an index (issue 12).
//! A statement that reads a table, or an index by the tenant alone, costs O(tenant): at a million
//! identities that was three million rows a request.

use sqlx::Row;

use super::queries::*;
use super::{LearnStatement, SqliteStore};
use crate::{Learned, Result};

/// One statement of the request path and how SQLite plans to run it.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// Where the server runs it, e.g. `POST /authentications: history`.
    pub name: String,
    pub sql: String,
    /// The `detail` column of `EXPLAIN QUERY PLAN`, one line per step.
    pub steps: Vec<String>,
    /// Only the unfiltered first page of the list may search by the tenant alone: it reads the
    /// tenant's newest rows in index order and stops at the page size.
    pub reads_tenant_in_order: bool,
    /// Index searches the plan must contain, as `index (constraints)` (golden: a plan that reads
    /// through another index, or with fewer constraints, is a problem).
    pub expected: Vec<String>,
    /// The rows must come in the index's order (a page of the list), not be sorted after reading
    /// them all. The person's own devices and places may be sorted: the person's history bounds them.
    pub ordered_by_index: bool,
}

impl QueryPlan {
    /// What is wrong with the plan, if anything: a table or index scanned, an automatic index or
    /// Bloom filter built (both scan), an index searched by the tenant alone, a page sorted after
    /// reading every match, or an expected search missing.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for step in &self.steps {
            // A subscription's event types are a JSON array of a few names, and a batch of tries a JSON array
            // of its rows (`json_each`, the schema's only virtual table).
            let harmless_scan = ["SCAN CONSTANT ROW", "SCAN (subquery-"].iter().any(|s| step.starts_with(s))
                || (step.starts_with("SCAN ") && (step.ends_with("VALUES CLAUSE") || step.contains(" VIRTUAL TABLE")));
            let scans = step.starts_with("SCAN ") && !harmless_scan;
            let builds = step.contains("AUTOMATIC") || step.contains("BLOOM FILTER");
            // A tenant's webhook subscriptions are few (`MAX_WEBHOOKS_PER_CLIENT`): reading them all is fine.
            let by_tenant_alone = step.starts_with("SEARCH")
                && step.ends_with("(client_id=?)")
                && !step.contains("USING INDEX webhooks_by_client");
            let sorts = self.ordered_by_index && step.starts_with("USE TEMP B-TREE FOR ORDER BY");
            if scans || builds || sorts || (by_tenant_alone && !self.reads_tenant_in_order) {
                problems.push(step.clone());
            }
        }
        for needed in &self.expected {
            if !self.steps.iter().any(|s| s.contains(needed.as_str())) {
                problems.push(format!("no step searches {needed}"));
            }
        }
        problems
    }
}

/// The searches a page of the list must make: its index, with every equality filter the index
/// holds, and the time range and cursor as bounds of the index range.
fn list_expectations(shape: ListShape) -> Vec<String> {
    let (index, equalities): (&str, &[&str]) = match shape {
        ListShape { person: true, .. } => ("attempts_by_person", &["person_id=?"]),
        ListShape { policy: true, status: true, .. } => ("attempts_by_policy_status", &["policy_id=?", "status=?"]),
        ListShape { policy: true, .. } => ("attempts_by_policy", &["policy_id=?"]),
        ListShape { status: true, .. } => ("attempts_by_status", &["status=?"]),
        _ => ("attempts_by_client", &[]),
    };
    let mut search = format!("INDEX {index} (client_id=?");
    for e in equalities {
        search.push_str(" AND ");
        search.push_str(e);
    }
    let mut expected = vec![search];
    if shape.from {
        expected.push("created_at>?".into());
    }
    if shape.after {
        expected.push("(created_at,id)<(?,?)".into());
    } else if shape.to {
        expected.push("created_at<?".into());
    }
    expected
}

impl SqliteStore {
    /// `EXPLAIN QUERY PLAN` of every statement that `POST /authentications`, `GET /authentications/{id}`,
    /// code send and verify, face verify, the attempt list (every combination of filters) and the
    /// erasure of a person run, on the connection that runs them.
    pub async fn request_path_plans(&self) -> Result<Vec<QueryPlan>> {
        let learned = Learned {
            client_id: String::new(),
            person_id: String::new(),
            fingerprint: Some(String::new()),
            fingerprint_vouched: true,
            location: Some((0.0, 0.0)),
            location_accuracy: Some(10.0),
            device_key: Some(String::new()),
            device_key_vouched: true,
            at: 0,
            known_at: 0,
        };
        let learn = LearnStatement::new(&learned).map(|l| l.sql("true")).unwrap_or_default();
        let by_id = "sqlite_autoindex_attempts_1 (id=?)";
        let identity = "sqlite_autoindex_identities_2 (client_id=? AND person_id=?)";
        let person_contexts = "known_contexts USING PRIMARY KEY (client_id=? AND person_id=? AND kind=?)";
        let device_sharing = "known_contexts_by_key (client_id=? AND kind=? AND key=?)";
        let window = "attempts_by_person (client_id=? AND person_id=? AND created_at>?)";
        let person_attempts = "attempts_by_person (client_id=? AND person_id=?)";
        let device_keys = "device_keys USING PRIMARY KEY (client_id=? AND person_id=?)";
        let webhooks_of = "webhooks_by_client (client_id=?)";
        let key_sharing = "device_keys_by_thumbprint (client_id=? AND thumbprint=?)";
        let history = [person_contexts, device_sharing, key_sharing, window, device_keys];
        let challenge = "sqlite_autoindex_device_challenges_1 (challenge_hash=?)";
        let challenges_of_person = "device_challenges_by_person (client_id=? AND person_id=? AND expires_at>?)";
        let challenges_of_person_before = "device_challenges_by_person (client_id=? AND person_id=? AND expires_at<?)";
        let guard = "sqlite_autoindex_identity_guards_1 (client_id=? AND person_id=?)";
        let sends_of_person = "code_sends_by_person (client_id=? AND person_id=? AND sent_at>?)";
        let sends_of_person_before = "code_sends_by_person (client_id=? AND person_id=? AND sent_at<?)";
        let table: Vec<(&str, String, Vec<&str>)> = vec![
            ("every request: the client of the token", CLIENT.into(), vec!["sqlite_autoindex_clients_1 (id=?)"]),
            (
                "POST /authentications: the policy",
                POLICY.into(),
                vec!["sqlite_autoindex_policies_2 (client_id=? AND policy_id=?)"],
            ),
            (
                "POST /authentications: identity and history",
                DECISION_INPUTS.into(),
                [identity].into_iter().chain(history).collect(),
            ),
            ("POST /authentications: history", HISTORY.into(), history.to_vec()),
            ("POST /authentications: insert", INSERT_ATTEMPT.into(), vec![identity]),
            (
                "POST /authentications: insert under the window limit",
                format!("{INSERT_ATTEMPT}{INSERT_GUARD}"),
                vec![identity, window],
            ),
            ("approval: learn device, place and network", learn, vec![]),
            ("approval: learn the device key", LEARN_DEVICE_KEY.into(), vec![by_id]),
            (
                "every attempt: its event, when a subscription wants it",
                INSERT_EVENT_OF_ATTEMPT.into(),
                vec![webhooks_of, by_id],
            ),
            (
                "dispatcher: a subscription's new events",
                NEW_EVENTS_OF.into(),
                vec!["webhook_events_of_client (client_id=? AND seq>?)"],
            ),
            (
                "dispatcher: record tries",
                RECORD_TRIES.into(),
                vec!["sqlite_autoindex_webhooks_1 (id=?)"],
            ),
            ("dispatcher: move a cursor", MOVE_CURSOR.into(), vec!["sqlite_autoindex_webhooks_1 (id=?)"]),
            (
                "expiry sweep: the expired waiting attempts",
                EXPIRED_ATTEMPTS.into(),
                vec!["attempts_expiring (expires_at<?)"],
            ),
            (
                "dispatcher: take due deliveries",
                LEASE_DELIVERIES.into(),
                vec!["webhook_deliveries_queue (webhook_id=?)"],
            ),
            (
                "dispatcher: the subscriptions with due deliveries",
                DUE_WEBHOOKS.into(),
                vec!["webhook_deliveries_due (next_try_at<?)"],
            ),
            ("POST /authentications: take the device challenge", TAKE_DEVICE_CHALLENGE.into(), vec![challenge]),
            ("device challenge: forget the expired", PRUNE_DEVICE_CHALLENGES.into(), vec![challenges_of_person_before]),
            ("device challenge: those waiting", COUNT_DEVICE_CHALLENGES.into(), vec![challenges_of_person]),
            ("device challenge: store it", INSERT_DEVICE_CHALLENGE.into(), vec![]),
            ("erasure: the device keys", DELETE_DEVICE_KEYS.into(), vec![device_keys]),
            (
                "erasure: the device challenges",
                DELETE_DEVICE_CHALLENGES.into(),
                vec!["device_challenges_by_person (client_id=? AND person_id=?)"],
            ),
            ("GET /authentications/{id}, send, verify, face: the attempt", ATTEMPT.into(), vec![by_id]),
            ("send, verify, face: the identity", IDENTITY.into(), vec![identity]),
            ("send, verify, face: update the attempt", UPDATE_ATTEMPT.into(), vec![by_id]),
            ("erasure: the person's attempt ids", ATTEMPT_IDS_OF.into(), vec![person_attempts]),
            ("erasure: the person's attempts", ATTEMPTS_OF.into(), vec![person_attempts]),
            ("erasure: an attempt detached", DETACH_ATTEMPT.into(), vec![by_id]),
            ("erasure: the identity", DELETE_IDENTITY.into(), vec![identity]),
            (
                "erasure: what was learnt",
                DELETE_KNOWN_CONTEXTS.into(),
                vec!["known_contexts USING PRIMARY KEY (client_id=? AND person_id=?)"],
            ),
            ("verify, face: the person's failures", GUARD.into(), vec![guard]),
            ("verify, face: count a try", PUT_GUARD.into(), vec![]),
            ("unlock, erasure: forget the failures", DELETE_GUARD.into(), vec![guard]),
            (
                "verify, face: a success forgets its factor's failures",
                DELETE_FACTOR_GUARD.into(),
                vec!["sqlite_autoindex_identity_guards_1 (client_id=? AND person_id=? AND factor=?)"],
            ),
            ("send: already counted", SEND_COUNTED.into(), vec!["sqlite_autoindex_code_sends_1 (id=?)"]),
            ("send: the cap per person", NTH_SEND_OF_PERSON.into(), vec![sends_of_person]),
            (
                "send: the cap per destination",
                NTH_SEND_TO_DESTINATION.into(),
                vec!["code_sends_by_destination (client_id=? AND destination=? AND sent_at>?)"],
            ),
            ("send: count it", INSERT_SEND.into(), vec![]),
            ("send: forget sends older than a day", PRUNE_SENDS.into(), vec![sends_of_person_before]),
            (
                "send: forget sends to the destination older than a day",
                PRUNE_SENDS_TO.into(),
                vec!["code_sends_by_destination (client_id=? AND destination=? AND sent_at<?)"],
            ),
            (
                "erasure: the person's sends, kept for the destination's cap",
                DETACH_SENDS.into(),
                vec!["code_sends_by_person (client_id=? AND person_id=?)"],
            ),
            // Policy replay: by policy, person or key, never the tenant whole.
            (
                "replay: the window's first attempt",
                super::replay::NTH_NEWEST.into(),
                vec!["attempts_by_policy (client_id=? AND policy_id=? AND created_at>?)"],
            ),
            (
                "replay: the first page",
                super::replay::FIRST_PAGE.into(),
                vec!["attempts_by_policy (client_id=? AND policy_id=? AND created_at>? AND (created_at,id)<(?,?))"],
            ),
            (
                "replay: the next page, from the cursor",
                super::replay::NEXT_PAGE.into(),
                vec!["attempts_by_policy (client_id=? AND policy_id=? AND (created_at,id)>(?,?) AND (created_at,id)<(?,?))"],
            ),
            ("replay: the means on file of people whose attempts kept none", super::replay::MEANS.into(), vec![identity]),
            (
                "replay: what the people were approved on",
                super::replay::KNOWN.into(),
                vec!["known_contexts USING PRIMARY KEY (client_id=? AND person_id="],
            ),
            ("replay: the people's device keys", super::replay::KEYS.into(), vec![device_keys]),
            (
                "replay: the people's other attempts",
                super::replay::ATTEMPTS.into(),
                vec!["attempts_by_person (client_id=? AND person_id=? AND created_at>? AND created_at<?)"],
            ),
            // From the indexes alone: no row read for a device only its own person used.
            (
                "replay: who shared a fingerprint",
                super::replay::SHARED_FINGERPRINTS.into(),
                vec!["COVERING INDEX known_contexts_by_key (client_id=? AND kind=? AND key=?)"],
            ),
            (
                "replay: who shared a device key",
                super::replay::SHARED_KEYS.into(),
                vec!["COVERING INDEX device_keys_by_thumbprint (client_id=? AND thumbprint=?)"],
            ),
            (
                "replay: since when another person was on a device",
                super::replay::FIRST_SEEN_ON_DEVICE.into(),
                vec!["known_contexts USING PRIMARY KEY (client_id=? AND person_id=? AND kind=? AND key=?)"],
            ),
            (
                "replay: since when another person had a device key",
                super::replay::FIRST_SEEN_WITH_KEY.into(),
                vec!["device_keys USING PRIMARY KEY (client_id=? AND person_id=? AND thumbprint=?)"],
            ),
        ];
        // (name, SQL, the list page it is if it is one, the searches it must make)
        let mut statements: Vec<(String, String, Option<ListShape>, Vec<String>)> = table
            .into_iter()
            .map(|(name, sql, expected)| {
                (name.to_string(), sql, None, expected.into_iter().map(String::from).collect())
            })
            .collect();
        for bits in 0u8..64 {
            let bit = |n: u8| bits & (1 << n) != 0;
            let shape =
                ListShape { person: bit(0), status: bit(1), policy: bit(2), from: bit(3), to: bit(4), after: bit(5) };
            if shape.to && shape.after {
                continue; // never built: see `ListShape::of`
            }
            let name = format!("GET /authentications {shape:?}");
            statements.push((name, attempt_list(shape), Some(shape), list_expectations(shape)));
        }
        let mut plans = Vec::with_capacity(statements.len());
        for (name, sql, page, expected) in statements {
            let reads_tenant_in_order = page == Some(ListShape::default());
            let ordered_by_index = page.is_some();
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&self.writer).await?;
            let steps = rows.iter().map(|r| r.try_get::<String, _>("detail")).collect::<std::result::Result<_, _>>()?;
            plans.push(QueryPlan { name, sql, steps, reads_tenant_in_order, expected, ordered_by_index });
        }
        Ok(plans)
    }
}
