//! Every statement of the request path is held to its plan (issue 12): none may scan a table, search
//! an index by the tenant alone (O(tenant) rows a request), or sort every matching row. Checked on a
//! store with a tenant of thousands of people, before and after the planner has statistics.

use smartauth_store::bulk::{BulkSpec, Generator};
use smartauth_store::sqlite::{bulk_load, SqliteStore};
use smartauth_store::QueryPlan;
use sqlx::Row;

fn tenant(client: &str, identities: u64, attempts: u64) -> Generator {
    Generator::new(BulkSpec {
        client_id: client.into(),
        policy_id: "pix".into(),
        identities,
        attempts,
        days: 30,
        now: 1_800_000_000_000,
        busy_person_every: None,
        template: r#"{"attemptId":"A","personId":"P","status":"approved"}"#.into(),
        template_attempt_id: "A".into(),
        template_person_id: "P".into(),
        judged: None,
    })
}

async fn store_with_two_tenants(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("smartauth.db");
    // The schema (an empty load migrates the file on its one connection), then the clients: identities
    // and attempts refer to them.
    bulk_load(&path, &tenant("big", 0, 0), |_| {}).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    sqlx::query("INSERT INTO clients (id, name, secret_enc, created_at) VALUES ('big', 'big', 'x', 0), ('small', 'small', 'x', 0)")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    bulk_load(&path, &tenant("big", 3_000, 30_000), |_| {}).await.unwrap();
    bulk_load(&path, &tenant("small", 20, 100), |_| {}).await.unwrap();
    path
}

fn problems(plans: &[QueryPlan]) -> Vec<String> {
    plans
        .iter()
        .filter(|p| !p.problems().is_empty())
        .map(|p| format!("{}: {:?}\n  {}", p.name, p.problems(), p.sql))
        .collect()
}

#[tokio::test]
async fn no_request_path_statement_reads_the_tenant_by_client_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_two_tenants(dir.path()).await;

    let store = SqliteStore::open(&path).await.unwrap();
    let plans = store.request_path_plans().await.unwrap();
    assert!(plans.len() > 48, "the list's 48 filter combinations and the other statements are all checked");
    assert_eq!(problems(&plans), Vec::<String>::new(), "with the statistics PRAGMA optimize keeps");
    store.close().await;

    // With no statistics at all (a store that was never analyzed), on a connection of its own.
    let url = format!("sqlite:{}", path.display());
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM sqlite_stat1").execute(&raw).await.unwrap();
    let _ = sqlx::query("DELETE FROM sqlite_stat4").execute(&raw).await; // only where SQLite keeps it
    raw.close().await;
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut unanalyzed = Vec::new();
    for plan in &plans {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", plan.sql)).fetch_all(&raw).await.unwrap();
        let steps = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        unanalyzed.push(QueryPlan { steps, ..plan.clone() });
    }
    assert_eq!(problems(&unanalyzed), Vec::<String>::new(), "without statistics");

    // A full ANALYZE gives the planner exact statistics: the plans must hold with them too.
    sqlx::query("ANALYZE").execute(&raw).await.unwrap();
    raw.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(problems(&store.request_path_plans().await.unwrap()), Vec::<String>::new(), "after ANALYZE");
}

#[tokio::test]
async fn the_device_sharing_count_uses_the_device_index() {
    // The statement issue 12 found reading every known context of the tenant, as POST /authentications runs it.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&store_with_two_tenants(dir.path()).await).await.unwrap();
    let plans = store.request_path_plans().await.unwrap();
    let inputs = plans.iter().find(|p| p.name == "POST /authentications: identity and history").unwrap();
    assert!(
        inputs.steps.iter().any(|s| s.contains("known_contexts_by_key (client_id=? AND kind=? AND key=?)")),
        "{:#?}",
        inputs.steps
    );
}

#[test]
fn a_plan_that_reads_the_tenant_is_flagged() {
    // The checker itself: the plan issue 12 measured, and a sort, are problems.
    let plan = |steps: &[&str], in_order: bool| QueryPlan {
        name: "t".into(),
        sql: String::new(),
        steps: steps.iter().map(|s| s.to_string()).collect(),
        reads_tenant_in_order: in_order,
        expected: vec![],
        ordered_by_index: in_order,
    };
    let measured = "SEARCH known_contexts USING COVERING INDEX sqlite_autoindex_known_contexts_1 (client_id=?)";
    assert_eq!(plan(&[measured], false).problems().len(), 1);
    assert_eq!(plan(&["SCAN k USING COVERING INDEX known_contexts_by_key"], false).problems().len(), 1);
    assert_eq!(plan(&["BLOOM FILTER ON k (key=?)"], false).problems().len(), 1);
    let mut narrower =
        plan(&["SEARCH known_contexts USING COVERING INDEX known_contexts_by_key (client_id=? AND kind=?)"], false);
    narrower.expected = vec!["known_contexts_by_key (client_id=? AND kind=? AND key=?)".into()];
    assert_eq!(narrower.problems().len(), 1, "an expected search with fewer constraints is a problem");
    assert_eq!(plan(&["SCAN attempts"], false).problems().len(), 1);
    assert_eq!(plan(&["USE TEMP B-TREE FOR ORDER BY"], true).problems().len(), 1);
    assert!(plan(&["SEARCH attempts USING INDEX attempts_by_client (client_id=?)"], true).problems().is_empty());
    assert!(plan(&["SEARCH attempts USING INDEX attempts_by_person (client_id=? AND person_id=?)"], false)
        .problems()
        .is_empty());
}
