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
    /// A step must contain this, e.g. a deep page's cursor bounding the index range.
    pub must_use: Option<String>,
    /// The rows must come in the index's order (a page of the list), not be sorted after reading
    /// them all. The person's own devices and places may be sorted: the person's history bounds them.
    pub ordered_by_index: bool,
}

impl QueryPlan {
    /// What is wrong with the plan, if anything: a table or index scanned, an index searched by the
    /// tenant alone, a page sorted after reading every matching row, or a required index unused.
    pub fn problems(&self) -> Vec<String> {
        let tables = ["attempts", "identities", "known_contexts", "policies", "clients"];
        let mut problems = Vec::new();
        for step in &self.steps {
            let scans_table = tables.iter().any(|t| step.starts_with(&format!("SCAN {t}")));
            let by_tenant_alone = step.starts_with("SEARCH") && step.ends_with("(client_id=?)");
            let sorts = self.ordered_by_index && step.starts_with("USE TEMP B-TREE FOR ORDER BY");
            if scans_table || sorts || (by_tenant_alone && !self.reads_tenant_in_order) {
                problems.push(step.clone());
            }
        }
        if let Some(needed) = &self.must_use {
            if !self.steps.iter().any(|s| s.contains(needed.as_str())) {
                problems.push(format!("no step uses {needed}"));
            }
        }
        problems
    }
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
            location: Some((0.0, 0.0)),
            ip: Some(String::new()),
            at: 0,
        };
        let learn = LearnStatement::new(&learned).map(|l| l.sql("true")).unwrap_or_default();
        let mut statements: Vec<(String, String, bool, Option<String>)> = vec![
            ("every request: the client of the token".into(), CLIENT.into(), false, None),
            ("POST /authentications: the policy".into(), POLICY.into(), false, None),
            ("POST /authentications: identity and history".into(), DECISION_INPUTS.into(), false, None),
            ("POST /authentications: history".into(), HISTORY.into(), false, Some("known_contexts_by_key".into())),
            ("POST /authentications: insert".into(), INSERT_ATTEMPT.into(), false, None),
            (
                "POST /authentications: insert under the window limit".into(),
                format!("{INSERT_ATTEMPT}{INSERT_GUARD}"),
                false,
                None,
            ),
            ("approval: learn device, place and network".into(), learn, false, None),
            ("GET /authentications/{id}, send, verify, face: the attempt".into(), ATTEMPT.into(), false, None),
            ("send, verify, face: the identity".into(), IDENTITY.into(), false, None),
            ("send, verify, face: update the attempt".into(), UPDATE_ATTEMPT.into(), false, None),
            ("erasure: the person's attempt ids".into(), ATTEMPT_IDS_OF.into(), false, None),
            ("erasure: the person's attempts".into(), ATTEMPTS_OF.into(), false, None),
            ("erasure: an attempt detached".into(), DETACH_ATTEMPT.into(), false, None),
            (
                "erasure: the identity".into(),
                "DELETE FROM identities WHERE client_id = ? AND person_id = ?".into(),
                false,
                None,
            ),
            (
                "erasure: what was learnt".into(),
                "DELETE FROM known_contexts WHERE client_id = ? AND person_id = ?".into(),
                false,
                None,
            ),
        ];
        for bits in 0u8..64 {
            let bit = |n: u8| bits & (1 << n) != 0;
            let shape =
                ListShape { person: bit(0), status: bit(1), policy: bit(2), from: bit(3), to: bit(4), after: bit(5) };
            if shape.to && shape.after {
                continue; // never built: see `ListShape::of`
            }
            let cursor = shape.after.then(|| "(created_at,id)<(?,?)".to_string());
            statements.push((format!("GET /authentications {shape:?}"), attempt_list(shape), bits == 0, cursor));
        }
        let mut plans = Vec::with_capacity(statements.len());
        for (name, sql, reads_tenant_in_order, must_use) in statements {
            let ordered_by_index = name.starts_with("GET /authentications ");
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&self.writer).await?;
            let steps = rows.iter().map(|r| r.try_get::<String, _>("detail")).collect::<std::result::Result<_, _>>()?;
            plans.push(QueryPlan { name, sql, steps, reads_tenant_in_order, must_use, ordered_by_index });
        }
        Ok(plans)
    }
}
