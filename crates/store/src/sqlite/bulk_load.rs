//! Writes a generated tenant (`crate::bulk`) straight into a SQLite file, in large transactions of
//! multi-row INSERTs, with no journal: the at-size benchmark's loader. Nothing else may have the file
//! open meanwhile; the file is back in WAL mode when it returns.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{bind_attempt, bind_identity, migrate, tuned, LearnStatement, Query, IDENTITY_COLUMNS, IDENTITY_ROW};
use crate::bulk::Generator;
use crate::{Learned, Result};

/// Rows per INSERT statement, and statements per transaction.
const IDENTITY_ROWS: u64 = 500;
const ATTEMPT_ROWS: u64 = 200;
const STATEMENTS_PER_TX: u64 = 250;

/// What a load wrote, and how long each part took.
#[derive(Debug, Clone)]
pub struct BulkReport {
    pub identities: u64,
    pub known_contexts: u64,
    pub attempts: u64,
    pub identities_time: Duration,
    pub attempts_time: Duration,
    /// Bytes of attempt documents written, in all.
    pub document_bytes: u64,
}

/// Loads the generator's identities, their known contexts and its attempts into the database at
/// `path` (created and migrated if needed); `progress` hears about every million attempts.
pub async fn bulk_load(path: &Path, g: &Generator, mut progress: impl FnMut(&str)) -> Result<BulkReport> {
    let options = tuned(SqliteConnectOptions::new().filename(path))
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-2000000")
        .pragma("secure_delete", "OFF");
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    migrate(&pool).await?;
    let spec = g.spec();

    let started = Instant::now();
    let mut known_contexts = 0;
    let mut tx = pool.begin().await?;
    let mut statements = 0u64;
    for first in (0..spec.identities).step_by(IDENTITY_ROWS as usize) {
        let rows: Vec<_> = (first..(first + IDENTITY_ROWS).min(spec.identities)).map(|i| g.identity(i)).collect();
        let sql =
            format!("INSERT INTO identities {IDENTITY_COLUMNS} VALUES {}", vec![IDENTITY_ROW; rows.len()].join(", "));
        let mut query: Query<'_> = sqlx::query(&sql).persistent(true);
        for (i, _) in &rows {
            query = bind_identity(query, i);
        }
        query.execute(&mut *tx).await?;
        known_contexts += learn_all(&mut tx, rows.iter().map(|(_, l)| l)).await?;
        statements += 1;
        if statements.is_multiple_of(STATEMENTS_PER_TX) {
            tx.commit().await?;
            tx = pool.begin().await?;
        }
    }
    tx.commit().await?;
    let identities_time = started.elapsed();
    progress(&format!("{} identities, {known_contexts} known contexts in {identities_time:.1?}", spec.identities));

    let started = Instant::now();
    let mut document_bytes = 0u64;
    let mut tx = pool.begin().await?;
    let mut statements = 0u64;
    for first in (0..spec.attempts).step_by(ATTEMPT_ROWS as usize) {
        let rows: Vec<_> = (first..(first + ATTEMPT_ROWS).min(spec.attempts)).map(|n| g.attempt(n)).collect();
        let sql = format!(
            "INSERT INTO attempts (id, client_id, person_id, policy_id, status, created_at, version, document, expires_at, \
             judged, judged_version) VALUES {}",
            vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", ")
        );
        let mut query: Query<'_> = sqlx::query(&sql).persistent(true);
        for a in &rows {
            document_bytes += a.document.len() as u64;
            query = bind_attempt(query, a);
        }
        query.execute(&mut *tx).await?;
        statements += 1;
        if statements.is_multiple_of(STATEMENTS_PER_TX) {
            tx.commit().await?;
            tx = pool.begin().await?;
        }
        let done = first + rows.len() as u64;
        if done.is_multiple_of(1_000_000) {
            let rate = done as f64 / started.elapsed().as_secs_f64();
            progress(&format!("{done} attempts, {rate:.0} a second"));
        }
    }
    tx.commit().await?;
    let attempts_time = started.elapsed();
    sqlx::raw_sql("PRAGMA journal_mode = WAL").execute(&pool).await?;
    pool.close().await;
    Ok(BulkReport {
        identities: spec.identities,
        known_contexts,
        attempts: spec.attempts,
        identities_time,
        attempts_time,
        document_bytes,
    })
}

async fn learn_all<'a>(tx: &mut sqlx::SqliteConnection, learned: impl Iterator<Item = &'a Learned>) -> Result<u64> {
    let mut rows = 0;
    for l in learned {
        if let Some(statement) = LearnStatement::new(l) {
            rows += statement.rows.len() as u64;
            let sql = statement.sql("true");
            statement.bind(sqlx::query(&sql).persistent(true)).execute(&mut *tx).await?;
        }
    }
    Ok(rows)
}
