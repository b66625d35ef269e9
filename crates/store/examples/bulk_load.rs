//! Loads a tenant at size straight into a SQLite file (the server stopped), for
//! `scripts/bench.sh --at-size`:
//!
//!     bulk_load DB CLIENT_ID POLICY_ID IDENTITIES ATTEMPTS DAYS TEMPLATE_FILE TEMPLATE_ATTEMPT_ID TEMPLATE_PERSON_ID \
//!         [JUDGED_FILE]
//!
//! TEMPLATE_FILE holds a document the server wrote for a real attempt; every generated attempt is a
//! copy with its own ids. JUDGED_FILE, the same attempt's judged fields (the `judged` column), when given. Person 0 gets one attempt in 2,000 (thousands in all), for the erasure
//! measurement. Prints one `key: value` line per figure.

use std::time::Instant;

use smartauth_store::bulk::{BulkSpec, Generator};
use smartauth_store::sqlite::{bulk_load, SqliteStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (db, client, policy, identities, attempts, days, template, template_attempt, template_person, judged) =
        match &args[..] {
            [a, b, c, d, e, f, g, h, i] => (a, b, c, d, e, f, g, h, i, None),
            [a, b, c, d, e, f, g, h, i, j] => (a, b, c, d, e, f, g, h, i, Some(j)),
            _ => {
                return Err("usage: bulk_load DB CLIENT_ID POLICY_ID IDENTITIES ATTEMPTS DAYS TEMPLATE_FILE \
                    TEMPLATE_ATTEMPT_ID TEMPLATE_PERSON_ID [JUDGED_FILE]"
                    .into())
            }
        };
    let spec = BulkSpec {
        client_id: client.clone(),
        policy_id: policy.clone(),
        identities: identities.parse()?,
        attempts: attempts.parse()?,
        days: days.parse()?,
        now: chrono::Utc::now().timestamp_millis(),
        busy_person_every: Some(2_000),
        template: std::fs::read_to_string(template)?.trim_end().to_string(),
        template_attempt_id: template_attempt.clone(),
        template_person_id: template_person.clone(),
        judged: judged
            .map(std::fs::read_to_string)
            .transpose()?
            .map(|j| j.trim_end().to_string())
            .filter(|j| !j.is_empty()),
    };
    let path = std::path::Path::new(db);
    let report = bulk_load(path, &Generator::new(spec), |line| eprintln!("bulk_load: {line}")).await?;
    println!("identities: {}", report.identities);
    println!("known_contexts: {}", report.known_contexts);
    println!("attempts: {}", report.attempts);
    println!("identities_seconds: {:.1}", report.identities_time.as_secs_f64());
    println!("attempts_seconds: {:.1}", report.attempts_time.as_secs_f64());
    println!("document_bytes_mean: {:.0}", report.document_bytes as f64 / report.attempts.max(1) as f64);

    // The load wrote without syncing: flush it now, so that the figures below are not its writeback.
    let started = Instant::now();
    std::fs::File::open(path)?.sync_all()?;
    println!("flush_to_disk_seconds: {:.1}", started.elapsed().as_secs_f64());

    // What the server's start and its hourly refresh of the planner's statistics cost at this size.
    let started = Instant::now();
    let store = SqliteStore::open(path).await?;
    println!("first_open_with_optimize_ms: {:.0}", started.elapsed().as_secs_f64() * 1000.0);
    let started = Instant::now();
    store.optimize().await?;
    println!("periodic_optimize_ms: {:.0}", started.elapsed().as_secs_f64() * 1000.0);
    store.close().await;
    Ok(())
}
