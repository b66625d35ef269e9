//! The embedded engine: one SQLite file in WAL mode. All writes go through a single connection, so
//! writers queue in the pool instead of failing with SQLITE_BUSY; reads use their own connections.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use smartauth_domain::lockout::{Factor, Guard, Guards, LockoutRules, TryVerdict};
use smartauth_domain::{Coordinates, History, KnownDeviceKey, Policy};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqlitePool};

use tokio::sync::{mpsc, oneshot};

use crate::*;

pub mod backup;
mod batch;
mod bulk_load;
mod busy;
pub mod guard;
pub(crate) mod plans;
mod queries;
mod raw;
pub(crate) mod replay;

pub use bulk_load::{bulk_load, BulkReport};

use queries::*;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_face_template.sql")),
    (3, include_str!("../../migrations/sqlite/0003_request_path_indexes.sql")),
    (4, include_str!("../../migrations/sqlite/0004_client_sdk_token_lifetime.sql")),
    (5, include_str!("../../migrations/sqlite/0005_key_check.sql")),
    (6, include_str!("../../migrations/sqlite/0006_guessing_and_sends.sql")),
    (7, include_str!("../../migrations/sqlite/0007_client_secret_rotation.sql")),
    (8, include_str!("../../migrations/sqlite/0008_web_sdk.sql")),
    (9, include_str!("../../migrations/sqlite/0009_webhooks_and_audit.sql")),
    (10, include_str!("../../migrations/sqlite/0010_webhook_fan_out.sql")),
    (11, include_str!("../../migrations/sqlite/0011_guards_per_factor.sql")),
    (12, include_str!("../../migrations/sqlite/0012_location_accuracy.sql")),
    (13, include_str!("../../migrations/sqlite/0013_attempt_judged.sql")),
    (14, include_str!("../../migrations/sqlite/0014_webhook_cursors.sql")),
    (15, include_str!("../../migrations/sqlite/0015_person_attempts_cover.sql")),
    (16, include_str!("../../migrations/sqlite/0016_known_device_vouched.sql")),
    (17, include_str!("../../migrations/sqlite/0017_no_known_networks.sql")),
    (18, include_str!("../../migrations/sqlite/0018_device_key_vouched.sql")),
    (19, include_str!("../../migrations/sqlite/0019_known_contexts_clustered.sql")),
];

/// How much of the file a reader maps (`PRAGMA mmap_size`).
pub const READER_MMAP_BYTES: &str = "1099511627776";

pub struct SqliteStore {
    /// How its connections are opened (for `truncate_journal`'s own one).
    options: SqliteConnectOptions,
    writer: SqlitePool,
    reader: SqlitePool,
    /// Policy replays read through their own connection (one runs at a time in a process): they do not take
    /// the readers the requests use, and the pages a replay maps stay mapped for the next one. Each connection
    /// maps the file apart, and a page first touched through a mapping costs a page fault: spread over the
    /// four readers, a replay paid a tenth of its time in them (`PERF=1 scripts/bench.sh --replay`).
    replayer: SqlitePool,
    /// New attempts are written in groups by one task (see `batch`).
    batcher: mpsc::Sender<batch::InsertJob>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(tuned(SqliteConnectOptions::new().filename(path))).await
    }

    /// The same for a `sqlite:` URL (`SMARTAUTH_DATABASE_URL`).
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::open_with(tuned(SqliteConnectOptions::from_str(url)?)).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        // A local file needs no liveness round trip before each use; every connection waits for another
        // process's write lock with `busy`'s handler.
        let pool = || {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .after_connect(|connection, _| Box::pin(busy::install(connection)))
        };
        let writer = pool().max_connections(1).connect_with(options.clone()).await?;
        migrate(&writer).await?;
        optimize(&writer, OPTIMIZE_AT_OPEN).await?;
        let own = options.clone();
        // Readers map the file instead of copying each page through a read call: a replay or a page of the
        // attempt list touches thousands of pages (the writer keeps ordinary I/O). Up to 1 TiB, the cap
        // `.cargo/config.toml` compiles SQLite with (2 GB without it).
        let mapped = options.read_only(true).pragma("mmap_size", READER_MMAP_BYTES);
        let reader = pool().max_connections(4).min_connections(1).connect_with(mapped.clone()).await?;
        let replayer = pool().max_connections(1).min_connections(0).idle_timeout(None).connect_lazy_with(mapped);
        let batcher = batch::start(writer.clone());
        tokio::spawn(optimize_periodically(writer.clone()));
        Ok(SqliteStore { options: own, writer, reader, replayer, batcher })
    }

    /// Closes every connection (the file can then be opened by another process in any mode).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        self.replayer.close().await;
    }

    /// Refreshes the planner's statistics where they are stale (`PRAGMA optimize`), as SQLite
    /// recommends for long-running processes; runs at open and every hour on its own.
    pub async fn optimize(&self) -> Result<()> {
        optimize(&self.writer, OPTIMIZE_PERIODIC).await
    }
}

/// At open, every table is considered, not only those this connection has queried (0x10002).
const OPTIMIZE_AT_OPEN: &str = "PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;";
const OPTIMIZE_PERIODIC: &str = "PRAGMA analysis_limit = 400; PRAGMA optimize;";

/// `analysis_limit` bounds each index's sample to about 400 rows, so that this costs milliseconds
/// at any size instead of reading whole tables (measured by `scripts/bench.sh --at-size`).
async fn optimize(pool: &SqlitePool, sql: &str) -> Result<()> {
    let started = std::time::Instant::now();
    sqlx::raw_sql(sql).execute(pool).await?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "refreshed the query planner's statistics");
    Ok(())
}

async fn optimize_periodically(pool: SqlitePool) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.tick().await;
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = optimize(&pool, OPTIMIZE_PERIODIC).await {
            tracing::warn!(error = %e, "could not refresh the query planner's statistics");
        }
    }
}

/// The settings every connection gets, whichever way the file was named.
fn tuned(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // Keeps the WAL from growing without bound under sustained writes.
        .pragma("journal_size_limit", "67108864")
        .pragma("wal_autocheckpoint", "1000")
        // Erased personal data is overwritten, not left in free pages.
        .pragma("secure_delete", "ON")
}

async fn migrate(pool: &SqlitePool) -> Result<()> {
    migrate_to(pool, i64::MAX).await
}

async fn migrate_to(pool: &SqlitePool, last: i64) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;
    check_applied(pool).await?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetch_one(pool).await?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current && *v <= last) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at, checksum) VALUES (?, ?, ?)")
            .bind(version)
            .bind(chrono::Utc::now().timestamp_millis())
            .bind(checksum(sql))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// A migration's SHA-256, of its text with line ends as `\n` (a checkout with CRLF line ends is the same
/// migration).
fn checksum(sql: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sql.replace("\r\n", "\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each migration the database has applied must be the one this build carries: a migration edited after a
/// database applied it would leave that database with another schema than the build's, silently. The
/// database keeps each one's checksum (written with it; for those applied before checksums were kept, the
/// first start of a build that keeps them writes this build's). A mismatch stops the start, naming it.
async fn check_applied(pool: &SqlitePool) -> Result<()> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('schema_migrations')").fetch_all(pool).await?;
    if !columns.iter().any(|c| c == "checksum") {
        // Another process starting on the same file may add it first.
        if let Err(e) = sqlx::query("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT").execute(pool).await {
            if !e.to_string().contains("duplicate column name") {
                return Err(e.into());
            }
        }
    }
    let applied: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version").fetch_all(pool).await?;
    for (version, stored) in applied {
        let Some((_, sql)) = MIGRATIONS.iter().find(|(v, _)| *v == version) else { continue };
        let expected = checksum(sql);
        match stored {
            Some(stored) if stored != expected => {
                return Err(StoreError::Corrupt(format!(
                    "database migration {version} differs from the one this build carries (checksum {stored} in \
                     the database, {expected} here): the migration was changed after this database applied it"
                )))
            }
            Some(_) => {}
            None => {
                sqlx::query("UPDATE schema_migrations SET checksum = ? WHERE version = ? AND checksum IS NULL")
                    .bind(&expected)
                    .bind(version)
                    .execute(pool)
                    .await?;
            }
        }
    }
    Ok(())
}

fn bind_history<'q>(query: Query<'q>, q: &HistoryQuery<'q>) -> Query<'q> {
    query
        .bind(q.client_id)
        .bind(q.person_id)
        .bind(q.fingerprint)
        .bind(q.window_start)
        .bind(i64::from(q.attempt_limit))
        .bind(q.device_key)
}

fn history_from(row: &SqliteRow) -> Result<History> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("history: {e}"));
    let known_devices: Vec<String> = serde_json::from_str(row.try_get("devices")?).map_err(corrupt)?;
    let locations: Vec<(f64, f64, i64, Option<f64>)> =
        serde_json::from_str(row.try_get("locations")?).map_err(corrupt)?;
    let mut known_locations = Vec::with_capacity(locations.len());
    let mut last_approved_location = None;
    let mut last_approved_accuracy_m = None;
    for (lat, lon, seen, accuracy) in locations {
        let c = Coordinates::new(lat, lon).map_err(StoreError::Corrupt)?;
        if last_approved_location.is_none() {
            let at = chrono::DateTime::from_timestamp_millis(seen)
                .ok_or_else(|| StoreError::Corrupt("known location time out of range".into()))?;
            last_approved_location = Some((at, c));
            last_approved_accuracy_m = accuracy;
        }
        known_locations.push(c);
    }
    let others: i64 = row.try_get("others")?;
    let recent: i64 = row.try_get("recent")?;
    let keys: Vec<(String, String)> = serde_json::from_str(row.try_get("device_keys")?).map_err(corrupt)?;
    Ok(History {
        known_devices,
        known_device_keys: keys
            .into_iter()
            .map(|(thumbprint, fingerprint)| KnownDeviceKey {
                thumbprint,
                fingerprint: (!fingerprint.is_empty()).then_some(fingerprint),
            })
            .collect(),
        other_identities_on_device: u32::try_from(others).unwrap_or(u32::MAX),
        known_locations,
        last_approved_location,
        last_approved_accuracy_m,
        attempts_in_window: u32::try_from(recent).unwrap_or(u32::MAX),
    })
}

/// The person's guards from their rows (one per factor that has failures).
fn guards_from(rows: &[SqliteRow]) -> Result<Option<Guards>> {
    let mut guards = Guards::default();
    for row in rows {
        let factor: String = row.try_get("factor")?;
        let factor =
            Factor::parse(&factor).ok_or_else(|| StoreError::Corrupt(format!("a guard's factor {factor:?}")))?;
        *guards.own_mut(factor) = Guard {
            consecutive_failures: u32::try_from(row.try_get::<i64, _>("failures")?)
                .map_err(|_| StoreError::Corrupt("a failure count is out of range".into()))?,
            last_try_at: row.try_get("last_try_at")?,
            locked_at: row.try_get("locked_at")?,
        };
    }
    Ok((!rows.is_empty()).then_some(guards))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn origins_json(origins: &[String]) -> String {
    serde_json::Value::from(origins).to_string()
}

fn client_from(row: &SqliteRow) -> Result<ClientRecord> {
    Ok(ClientRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_enc: row.try_get("secret_enc")?,
        disabled: row.try_get("disabled")?,
        validate_cpf: row.try_get("validate_cpf")?,
        sdk_token_max_lifetime_secs: u32::try_from(row.try_get::<i64, _>("sdk_token_max_lifetime_seconds")?)
            .map_err(|_| StoreError::Corrupt("a client's SDK token lifetime is out of range".into()))?,
        previous_secret: match (
            row.try_get::<Option<String>, _>("previous_secret_enc")?,
            row.try_get::<Option<i64>, _>("previous_secret_expires_at")?,
        ) {
            (Some(secret_enc), Some(expires_at)) => Some(PreviousSecret { secret_enc, expires_at }),
            _ => None,
        },
        require_sdk_token_policy: row.try_get("require_sdk_token_policy")?,
        settings: ClientSettings {
            display_name: row.try_get("display_name")?,
            language: row.try_get("language")?,
            allowed_origins: serde_json::from_str(row.try_get("allowed_origins")?)
                .map_err(|e| StoreError::Corrupt(format!("a client's allowed origins: {e}")))?,
            message_templates: row.try_get("message_templates")?,
        },
        created_at: row.try_get("created_at")?,
    })
}

fn identity_from(row: &SqliteRow) -> Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        person_id: row.try_get("person_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        face_image_enc: row.try_get("face_image_enc")?,
        face_template_enc: row.try_get("face_template_enc")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn policy_from(row: &SqliteRow) -> Result<PolicyRecord> {
    let document: String = row.try_get("document")?;
    let policy: Policy = serde_json::from_str(&document).map_err(|e| StoreError::Corrupt(format!("policy: {e}")))?;
    Ok(PolicyRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        policy,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn attempt_from(row: &SqliteRow) -> Result<AttemptRecord> {
    let document: String = row.try_get("document")?;
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        person_id: row.try_get("person_id")?,
        policy_id: row.try_get("policy_id")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        version: row.try_get("version")?,
        document,
        expires_at: row.try_get("expires_at")?,
        judged: row.try_get("judged")?,
    })
}

/// An attempt's id, version and document with its person taken out.
/// An attempt rewritten for erasure: its id, version and anonymized document, and whether it was waiting.
type Anonymized = (String, i64, String, bool);

fn anonymized(row: &SqliteRow, anonymize: &Anonymizer) -> Result<Anonymized> {
    let attempt = attempt_from(row)?;
    let mut document: serde_json::Value = serde_json::from_str(&attempt.document)
        .map_err(|e| StoreError::Corrupt(format!("attempt {}: {e}", attempt.id)))?;
    anonymize(&mut document);
    Ok((attempt.id, attempt.version, document.to_string(), attempt.status == "pending"))
}

/// Stores an anonymized attempt, if it is still the version that was anonymized (a newer one is
/// found again, still attached, and anonymized inside the transaction).
async fn detach(tx: &mut sqlx::SqliteConnection, id: &str, version: i64, document: &str) -> Result<()> {
    sqlx::query(DETACH_ATTEMPT).bind(document).bind(id).bind(version).execute(&mut *tx).await?;
    Ok(())
}

/// The columns of a new identity, and one row of their values.
const IDENTITY_COLUMNS: &str = "(client_id, person_id, id, name, email, phone, face_image_enc, face_template_enc, \
                                created_at, updated_at)";
const IDENTITY_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn bind_identity<'q>(query: Query<'q>, i: &'q IdentityRecord) -> Query<'q> {
    query
        .bind(&i.client_id)
        .bind(&i.person_id)
        .bind(&i.id)
        .bind(&i.name)
        .bind(&i.email)
        .bind(&i.phone)
        .bind(&i.face_image_enc)
        .bind(&i.face_template_enc)
        .bind(i.created_at)
        .bind(i.updated_at)
}

/// The eleven values of a new attempt, in `INSERT_ATTEMPT`'s order.
fn bind_attempt<'q>(query: Query<'q>, a: &'q AttemptRecord) -> Query<'q> {
    query
        .bind(&a.id)
        .bind(&a.client_id)
        .bind(&a.person_id)
        .bind(&a.policy_id)
        .bind(&a.status)
        .bind(a.created_at)
        .bind(a.version)
        .bind(&a.document)
        .bind(a.expires_at)
        .bind(&a.judged)
        .bind(a.judged.as_ref().map(|_| a.version))
}

/// Rounds to about 100 m so that one place is one row.
fn location_cell(lat: f64, lon: f64) -> String {
    format!("{:.3},{:.3}", lat, lon)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// One row of what an approval taught (a device or a place): kind, key, latitude, longitude, accuracy, and
/// whether it vouched for it (only a device may be written unvouched: counted, not known).
type LearntRow = (&'static str, String, Option<f64>, Option<f64>, Option<f64>, bool);

/// What an approval taught, as one multi-row upsert.
struct LearnStatement<'a> {
    learned: &'a Learned,
    rows: Vec<LearntRow>,
}

impl<'a> LearnStatement<'a> {
    /// `None` when there is nothing to learn.
    fn new(l: &'a Learned) -> Option<Self> {
        let mut rows = Vec::with_capacity(3);
        if let Some(fp) = &l.fingerprint {
            rows.push(("device", fp.clone(), None, None, None, l.fingerprint_vouched));
        }
        if let Some((lat, lon)) = l.location {
            rows.push(("location", location_cell(lat, lon), Some(lat), Some(lon), l.location_accuracy, true));
        }
        (!rows.is_empty()).then_some(LearnStatement { learned: l, rows })
    }

    /// The SQL, without a trailing `;`; the rows are written only where `condition` holds.
    fn sql(&self, condition: &str) -> String {
        let mut sql = String::from(
            "INSERT INTO known_contexts
               (client_id, person_id, kind, key, latitude, longitude, accuracy, first_seen, last_seen, vouched_at)
             SELECT * FROM (VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; self.rows.len()].join(", "));
        sql.push_str(") WHERE ");
        sql.push_str(condition);
        sql.push_str(
            // Writes may finish out of order: the newest sighting wins, never an older one.
            " ON CONFLICT (client_id, person_id, kind, key) DO UPDATE SET
               first_seen = MIN(first_seen, excluded.first_seen),
               vouched_at = COALESCE(MIN(vouched_at, excluded.vouched_at), vouched_at, excluded.vouched_at),
               last_seen = MAX(last_seen, excluded.last_seen),
               latitude = CASE WHEN excluded.last_seen >= last_seen THEN excluded.latitude ELSE latitude END,
               longitude = CASE WHEN excluded.last_seen >= last_seen THEN excluded.longitude ELSE longitude END,
               accuracy = CASE WHEN excluded.last_seen >= last_seen THEN excluded.accuracy ELSE accuracy END",
        );
        sql
    }

    /// How many values `bind` adds.
    fn bind_count(&self) -> usize {
        self.rows.len() * 10
    }

    fn bind<'q>(self, mut query: Query<'q>) -> Query<'q>
    where
        'a: 'q,
    {
        let l = self.learned;
        for (kind, key, lat, lon, accuracy, vouched) in self.rows {
            query = query
                .bind(&l.client_id)
                .bind(&l.person_id)
                .bind(kind)
                .bind(key)
                .bind(lat)
                .bind(lon)
                .bind(accuracy)
                .bind(l.known_at)
                .bind(l.at)
                .bind(vouched.then_some(l.known_at));
        }
        query
    }
}

async fn learn(tx: &mut sqlx::SqliteConnection, l: &Learned, attempt_id: &str) -> Result<()> {
    if let Some(statement) = LearnStatement::new(l) {
        let sql = statement.sql("true");
        statement.bind(sqlx::query(&sql)).execute(&mut *tx).await?;
    }
    if l.device_key.is_some() {
        bind_device_key(sqlx::query(LEARN_DEVICE_KEY), l, attempt_id).execute(&mut *tx).await?;
    }
    Ok(())
}

/// How many values `bind_device_key` adds.
pub(crate) const DEVICE_KEY_BINDS: usize = 8;

/// The values of `LEARN_DEVICE_KEY` ([`DEVICE_KEY_BINDS`]). The key's fingerprint is the one it came with when the approval
/// vouched for that fingerprint too, else none ('').
fn bind_device_key<'q>(query: Query<'q>, l: &'q Learned, attempt_id: &'q str) -> Query<'q> {
    query
        .bind(&l.client_id)
        .bind(&l.person_id)
        .bind(&l.device_key)
        .bind(l.fingerprint.as_deref().filter(|_| l.fingerprint_vouched).unwrap_or_default())
        .bind(l.known_at)
        .bind(l.at)
        .bind(l.device_key_vouched.then_some(l.known_at))
        .bind(attempt_id)
}

/// Writes an operation's outbox events (the subscriptions' cursors find them: `claim_new_events`) and its
/// audit line, inside the operation's transaction.
async fn write_effects(tx: &mut sqlx::SqliteConnection, effects: Effects<'_>) -> Result<()> {
    for e in effects.events {
        bind_event(sqlx::query(INSERT_EVENT), e).execute(&mut *tx).await?;
    }
    if let Some(a) = effects.audit {
        bind_audit(sqlx::query(INSERT_AUDIT), a).execute(&mut *tx).await?;
    }
    Ok(())
}

/// Commits the change with its effects when it happened; rolls back (and writes nothing) when it did not.
async fn finish(mut tx: sqlx::Transaction<'_, sqlx::Sqlite>, changed: bool, effects: Effects<'_>) -> Result<bool> {
    if changed {
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
    }
    Ok(changed)
}

/// `GIVE_UP_NEW_EVENTS`, with the reason as each delivery's error.
async fn give_up_new_events(tx: &mut sqlx::SqliteConnection, webhook_id: &str, at: Millis, reason: &str) -> Result<()> {
    let error = format!("not sent: the subscription was disabled ({reason})");
    sqlx::query(GIVE_UP_NEW_EVENTS).bind(webhook_id).bind(at).bind(&error).execute(&mut *tx).await?;
    sqlx::query(SKIP_NEW_EVENTS).bind(webhook_id).execute(&mut *tx).await?;
    // Its retries too: none would be sent, and they would count as waiting until their time came.
    sqlx::query(
        "UPDATE webhook_deliveries INDEXED BY webhook_deliveries_queue SET status = 'failed', lease_until = NULL,
           last_error = ?2
         WHERE webhook_id = ?1 AND status = 'pending'
           AND EXISTS (SELECT 1 FROM webhooks WHERE id = ?1 AND disabled_at IS NULL)",
    )
    .bind(webhook_id)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The seven values of `INSERT_EVENT` (the first seven of `INSERT_EVENT_OF_ATTEMPT`).
fn bind_event<'q>(query: Query<'q>, e: &'q NewEvent) -> Query<'q> {
    query.bind(&e.id).bind(&e.client_id).bind(&e.kind).bind(&e.data).bind(e.created_at).bind(&e.client_id).bind(&e.kind)
}

fn bind_audit<'q>(query: Query<'q>, a: &'q AuditEntry) -> Query<'q> {
    query
        .bind(&a.id)
        .bind(&a.client_id)
        .bind(&a.actor)
        .bind(&a.action)
        .bind(&a.target)
        .bind(&a.detail)
        .bind(&a.ip)
        .bind(&a.request_id)
        .bind(a.at)
}

fn audit_from(row: &SqliteRow) -> Result<(i64, AuditEntry)> {
    Ok((
        row.try_get("seq")?,
        AuditEntry {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            detail: row.try_get("detail")?,
            ip: row.try_get("ip")?,
            request_id: row.try_get("request_id")?,
            at: row.try_get("at")?,
        },
    ))
}

fn webhook_from(row: &SqliteRow) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(row.try_get("events")?)
            .map_err(|e| StoreError::Corrupt(format!("a webhook's events: {e}")))?,
        description: row.try_get("description")?,
        secret_enc: row.try_get("secret_enc")?,
        previous_secret: match (
            row.try_get::<Option<String>, _>("previous_secret_enc")?,
            row.try_get::<Option<i64>, _>("previous_secret_expires_at")?,
        ) {
            (Some(secret_enc), Some(expires_at)) => Some(PreviousSecret { secret_enc, expires_at }),
            _ => None,
        },
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: row.try_get("failing_since")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery_from(row: &SqliteRow) -> Result<(i64, Delivery)> {
    let status: Option<i64> = row.try_get("last_status")?;
    Ok((
        row.try_get("seq")?,
        Delivery {
            id: row.try_get("id")?,
            seq: row.try_get("seq")?,
            webhook_id: row.try_get("webhook_id")?,
            client_id: row.try_get("client_id")?,
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
            event_data: row.try_get("event_data")?,
            event_created_at: row.try_get("event_created_at")?,
            status: row.try_get("status")?,
            tries: u32::try_from(row.try_get::<i64, _>("tries")?).unwrap_or(u32::MAX),
            next_try_at: row.try_get("next_try_at")?,
            last_status: status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.try_get("last_error")?,
            last_try_at: row.try_get("last_try_at")?,
            created_at: row.try_get("created_at")?,
            lease_until: row.try_get("lease_until")?,
        },
    ))
}

/// The delivery of a new event (`NEW_EVENTS_OF`'s row) to a subscription, before its first try writes its row:
/// its id is the one that row gets.
fn new_delivery(event: &SqliteRow, webhook_id: &str, client_id: &str, lease_until: Option<Millis>) -> Result<Delivery> {
    let seq: i64 = event.try_get("seq")?;
    let created_at: Millis = event.try_get("created_at")?;
    Ok(Delivery {
        id: format!("{seq:012x}{webhook_id}"),
        seq,
        webhook_id: webhook_id.to_owned(),
        client_id: client_id.to_owned(),
        event_id: event.try_get("id")?,
        event_type: event.try_get("type")?,
        event_data: event.try_get("data")?,
        event_created_at: created_at,
        status: "pending".into(),
        tries: 0,
        next_try_at: created_at,
        last_status: None,
        last_error: None,
        last_try_at: None,
        created_at,
        lease_until,
    })
}

fn bind_webhook<'q>(query: Query<'q>, w: &'q WebhookRecord) -> Query<'q> {
    query
        .bind(&w.client_id)
        .bind(&w.url)
        .bind(serde_json::Value::from(w.events.clone()).to_string())
        .bind(&w.description)
        .bind(&w.secret_enc)
        .bind(w.previous_secret.as_ref().map(|p| p.secret_enc.clone()))
        .bind(w.previous_secret.as_ref().map(|p| p.expires_at))
        .bind(w.disabled_at)
        .bind(&w.disabled_reason)
        .bind(w.failing_since)
        .bind(w.updated_at)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        if self.batcher.is_closed() {
            return Err(StoreError::Corrupt("the attempt writer has stopped".into()));
        }
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        Ok(())
    }

    async fn insert_client_with(&self, c: &ClientRecord, effects: Effects<'_>) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO clients (id, name, secret_enc, disabled, validate_cpf, sdk_token_max_lifetime_seconds,
                                  previous_secret_enc, previous_secret_expires_at, require_sdk_token_policy, created_at,
                                  display_name, language, allowed_origins, message_templates)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_enc)
        .bind(c.disabled)
        .bind(c.validate_cpf)
        .bind(i64::from(c.sdk_token_max_lifetime_secs))
        .bind(c.previous_secret.as_ref().map(|p| p.secret_enc.as_str()))
        .bind(c.previous_secret.as_ref().map(|p| p.expires_at))
        .bind(c.require_sdk_token_policy)
        .bind(c.created_at)
        .bind(&c.settings.display_name)
        .bind(&c.settings.language)
        .bind(origins_json(&c.settings.allowed_origins))
        .bind(&c.settings.message_templates)
        .execute(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict } else { e.into() })?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let row = sqlx::query(CLIENT).bind(client_id).fetch_optional(&self.reader).await?;
        row.as_ref().map(client_from).transpose()
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = sqlx::query("SELECT * FROM clients ORDER BY created_at, id").fetch_all(&self.reader).await?;
        rows.iter().map(client_from).collect()
    }

    async fn set_client_settings_with(
        &self,
        client_id: &str,
        s: &ClientSettings,
        effects: Effects<'_>,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE clients SET display_name = ?, language = ?, allowed_origins = ?, message_templates = ? WHERE id = ?",
        )
        .bind(&s.display_name)
        .bind(&s.language)
        .bind(origins_json(&s.allowed_origins))
        .bind(&s.message_templates)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn insert_device_challenge(&self, c: &DeviceChallenge, now: Millis, max_outstanding: u32) -> Result<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(PRUNE_DEVICE_CHALLENGES).bind(&c.client_id).bind(&c.person_id).bind(now).execute(&mut *tx).await?;
        let outstanding: i64 = sqlx::query_scalar(COUNT_DEVICE_CHALLENGES)
            .bind(&c.client_id)
            .bind(&c.person_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if outstanding >= i64::from(max_outstanding) {
            return Ok(false);
        }
        sqlx::query(INSERT_DEVICE_CHALLENGE)
            .bind(&c.challenge_hash)
            .bind(&c.client_id)
            .bind(&c.person_id)
            .bind(&c.policy_id)
            .bind(c.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn take_device_challenge(&self, challenge_hash: &str) -> Result<Option<DeviceChallenge>> {
        let row = sqlx::query(TAKE_DEVICE_CHALLENGE).bind(challenge_hash).fetch_optional(&self.writer).await?;
        row.map(|r| {
            Ok(DeviceChallenge {
                challenge_hash: challenge_hash.to_owned(),
                client_id: r.try_get("client_id")?,
                person_id: r.try_get("person_id")?,
                policy_id: r.try_get("policy_id")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn set_client_disabled_with(&self, client_id: &str, disabled: bool, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("UPDATE clients SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn set_client_sdk_token_lifetime(&self, client_id: &str, seconds: u32) -> Result<bool> {
        let done = sqlx::query("UPDATE clients SET sdk_token_max_lifetime_seconds = ? WHERE id = ?")
            .bind(i64::from(seconds))
            .bind(client_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_client_secret_with(
        &self,
        client_id: &str,
        secret_enc: &str,
        previous_valid_until: Option<Millis>,
        effects: Effects<'_>,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        // The right-hand sides read the row as it was: the replaced secret moves over in one statement.
        let done = sqlx::query(
            "UPDATE clients SET previous_secret_enc = CASE WHEN ?1 IS NULL THEN NULL ELSE secret_enc END,
                                previous_secret_expires_at = ?1, secret_enc = ?2
             WHERE id = ?3",
        )
        .bind(previous_valid_until)
        .bind(secret_enc)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn set_client_require_sdk_token_policy(&self, client_id: &str, required: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE clients SET require_sdk_token_policy = ? WHERE id = ?")
            .bind(required)
            .bind(client_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_identity_with(&self, i: &IdentityRecord, effects: Effects<'_>) -> Result<()> {
        let sql = format!("INSERT INTO identities {IDENTITY_COLUMNS} VALUES {IDENTITY_ROW}");
        let mut tx = self.writer.begin().await?;
        bind_identity(sqlx::query(&sql), i).execute(&mut *tx).await.map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict
            } else {
                e.into()
            }
        })?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn identity(&self, client_id: &str, person_id: &str) -> Result<Option<IdentityRecord>> {
        let row = sqlx::query(IDENTITY).bind(client_id).bind(person_id).fetch_optional(&self.reader).await?;
        row.as_ref().map(identity_from).transpose()
    }

    async fn change_identity_with(
        &self,
        client_id: &str,
        person_id: &str,
        change: &IdentityChange,
        effects: Effects<'_>,
    ) -> Result<Option<IdentityRecord>> {
        let mut tx = self.writer.begin().await?;
        let face = change.face.as_ref().map(|f| f.as_ref().map(|(image, template)| (image, template)));
        let row = sqlx::query(
            "UPDATE identities SET name = COALESCE(?3, name),
                email = CASE WHEN ?4 THEN ?5 ELSE email END,
                phone = CASE WHEN ?6 THEN ?7 ELSE phone END,
                face_image_enc = CASE WHEN ?8 THEN ?9 ELSE face_image_enc END,
                face_template_enc = CASE WHEN ?8 THEN ?10 ELSE face_template_enc END,
                updated_at = ?11
             WHERE client_id = ?1 AND person_id = ?2 AND (?12 IS NULL OR id = ?12)
             RETURNING *",
        )
        .bind(client_id)
        .bind(person_id)
        .bind(&change.name)
        .bind(change.email.is_some())
        .bind(change.email.clone().flatten())
        .bind(change.phone.is_some())
        .bind(change.phone.clone().flatten())
        .bind(face.is_some())
        .bind(face.flatten().map(|(image, _)| image))
        .bind(face.flatten().map(|(_, template)| template))
        .bind(change.updated_at)
        .bind(&change.of)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = row.as_ref().map(identity_from).transpose()?;
        finish(tx, changed.is_some(), effects).await?;
        Ok(changed)
    }

    async fn attempt_ids_of(&self, client_id: &str, person_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(ATTEMPT_IDS_OF).bind(client_id).bind(person_id).fetch_all(&self.reader).await?)
    }

    async fn erase_identity_with(
        &self,
        client_id: &str,
        person_id: &str,
        anonymize: &Anonymizer,
        effects: Effects<'_>,
    ) -> Result<Option<Erased>> {
        // The person's attempts are read and rewritten before the write transaction begins: in a large
        // store their rows lie all over the file, and reading them inside the transaction held every
        // other write for the whole read (1.6 s for 5,000 attempts among 10 million). The transaction
        // then writes pages that are already in memory, and rewrites there any attempt written or
        // changed since the read.
        let rows = sqlx::query(ATTEMPTS_OF).bind(client_id).bind(person_id).fetch_all(&self.reader).await?;
        let rewritten = rows.iter().map(|row| anonymized(row, anonymize)).collect::<Result<Vec<_>>>()?;
        let mut tx = self.writer.begin().await?;
        let deleted = sqlx::query(DELETE_IDENTITY).bind(client_id).bind(person_id).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        for statement in
            [DELETE_KNOWN_CONTEXTS, DELETE_DEVICE_KEYS, DELETE_DEVICE_CHALLENGES, DELETE_GUARD, DETACH_SENDS]
        {
            sqlx::query(statement).bind(client_id).bind(person_id).execute(&mut *tx).await?;
        }
        let mut erased = Erased::default();
        for (id, version, document, waiting) in rewritten {
            detach(&mut tx, &id, version, &document).await?;
            if waiting {
                erased.waiting.push(id.clone());
            }
            erased.attempt_ids.push(id);
        }
        // Attempts made or changed since the read are still attached: their state now is the one that counts.
        let changed = sqlx::query(ATTEMPTS_OF).bind(client_id).bind(person_id).fetch_all(&mut *tx).await?;
        for row in &changed {
            let (id, version, document, waiting) = anonymized(row, anonymize)?;
            detach(&mut tx, &id, version, &document).await?;
            erased.waiting.retain(|w| *w != id);
            if waiting {
                erased.waiting.push(id.clone());
            }
            if !erased.attempt_ids.contains(&id) {
                erased.attempt_ids.push(id);
            }
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(Some(erased))
    }

    async fn put_policy_with(&self, p: &PolicyRecord, effects: Effects<'_>) -> Result<PolicyRecord> {
        let document = serde_json::to_string(&p.policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO policies (client_id, policy_id, id, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (client_id, policy_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        )
        .bind(&p.client_id)
        .bind(&p.policy.policy_id)
        .bind(&p.id)
        .bind(document)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(POLICY).bind(&p.client_id).bind(&p.policy.policy_id).fetch_one(&mut *tx).await?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        policy_from(&row)
    }

    async fn policy(&self, client_id: &str, policy_id: &str) -> Result<Option<PolicyRecord>> {
        let row = sqlx::query(POLICY).bind(client_id).bind(policy_id).fetch_optional(&self.reader).await?;
        row.as_ref().map(policy_from).transpose()
    }

    async fn policies(&self, client_id: &str) -> Result<Vec<PolicyRecord>> {
        let rows = sqlx::query("SELECT * FROM policies WHERE client_id = ? ORDER BY policy_id")
            .bind(client_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(policy_from).collect()
    }

    async fn delete_policy_with(&self, client_id: &str, policy_id: &str, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM policies WHERE client_id = ? AND policy_id = ?")
            .bind(client_id)
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn history(&self, q: &HistoryQuery<'_>) -> Result<History> {
        let row = bind_history(sqlx::query(HISTORY), q).fetch_one(&self.writer).await?;
        history_from(&row)
    }

    async fn decision_inputs(&self, q: &HistoryQuery<'_>) -> Result<Option<(IdentityRecord, History)>> {
        // One statement on the writer's connection, which the attempt's write uses next: that connection's
        // page cache is never invalidated by another writer, while a reader's is after every write.
        let row = bind_history(sqlx::query(DECISION_INPUTS), q).fetch_optional(&self.writer).await?;
        row.map(|row| Ok((identity_from(&row)?, history_from(&row)?))).transpose()
    }

    async fn insert_attempt_with(
        &self,
        a: &AttemptRecord,
        learned: Option<&Learned>,
        limit: Option<&WindowLimit>,
        events: &[NewEvent],
    ) -> Result<bool> {
        let (done, result) = oneshot::channel();
        let job = batch::InsertJob {
            attempt: a.clone(),
            learned: learned.cloned(),
            limit: limit.copied(),
            events: events.to_vec(),
            done,
        };
        let stopped = || StoreError::Corrupt("the attempt writer has stopped".into());
        self.batcher.send(job).await.map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }

    async fn attempt(&self, client_id: &str, attempt_id: &str) -> Result<Option<AttemptRecord>> {
        let row = sqlx::query(ATTEMPT).bind(attempt_id).bind(client_id).fetch_optional(&self.reader).await?;
        row.as_ref().map(attempt_from).transpose()
    }

    async fn update_attempt_with(
        &self,
        a: &AttemptRecord,
        learned: Option<&Learned>,
        events: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(UPDATE_ATTEMPT)
            .bind(&a.status)
            .bind(&a.document)
            .bind(&a.judged)
            .bind(a.judged.as_ref().map(|_| a.version))
            .bind(a.version)
            .bind(&a.id)
            .bind(&a.client_id)
            .bind(a.version - 1)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(l) = learned {
            learn(&mut tx, l, &a.id).await?;
        }
        write_effects(&mut tx, Effects { events, audit: None }).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn guards(&self, client_id: &str, person_id: &str) -> Result<Option<Guards>> {
        let rows = sqlx::query(GUARD).bind(client_id).bind(person_id).fetch_all(&self.reader).await?;
        guards_from(&rows)
    }

    async fn claim_try(
        &self,
        client_id: &str,
        person_id: &str,
        factor: Factor,
        now: Millis,
        rules: &LockoutRules,
    ) -> Result<TryVerdict> {
        // The single writer connection serialises this read and write against every other claim of
        // this process; IMMEDIATE takes the write lock first, so that another process sharing the file
        // cannot commit between the read and the write.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(GUARD).bind(client_id).bind(person_id).fetch_all(&mut *tx).await?;
        let guard = guards_from(&rows)?.unwrap_or_default().for_try(factor);
        let verdict = rules.verdict(&guard, now);
        if verdict == TryVerdict::Allowed {
            let next = rules.after_try(&guard, now);
            sqlx::query(PUT_GUARD)
                .bind(client_id)
                .bind(person_id)
                .bind(factor.as_str())
                .bind(i64::from(next.consecutive_failures))
                .bind(next.last_try_at)
                .bind(next.locked_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(verdict)
    }

    async fn clear_failures(&self, client_id: &str, person_id: &str, factor: Option<Factor>) -> Result<bool> {
        let done = match factor {
            None => sqlx::query(DELETE_GUARD).bind(client_id).bind(person_id).execute(&self.writer).await?,
            Some(factor) => {
                sqlx::query(DELETE_FACTOR_GUARD)
                    .bind(client_id)
                    .bind(person_id)
                    .bind(factor.as_str())
                    .execute(&self.writer)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    async fn count_send(&self, send: &CodeSend, caps: &SendCaps) -> Result<SendVerdict> {
        const HOUR: Millis = 3_600_000;
        const DAY: Millis = 24 * HOUR;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if sqlx::query(SEND_COUNTED).bind(&send.id).fetch_optional(&mut *tx).await?.is_some() {
            return Ok(SendVerdict::Allowed);
        }
        let mut retry_at: Option<Millis> = None;
        for (sql, key) in [(NTH_SEND_OF_PERSON, &send.person_id), (NTH_SEND_TO_DESTINATION, &send.destination)] {
            for (window, cap) in [(HOUR, caps.per_hour), (DAY, caps.per_day)] {
                let nth: Option<Millis> = sqlx::query_scalar(sql)
                    .bind(&send.client_id)
                    .bind(key)
                    .bind(send.at - window)
                    .bind(i64::from(cap.max(1) - 1))
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(at) = nth {
                    retry_at = retry_at.max(Some(at + window));
                }
            }
        }
        if let Some(retry_at) = retry_at {
            return Ok(SendVerdict::CapReached { retry_at });
        }
        sqlx::query(PRUNE_SENDS)
            .bind(&send.client_id)
            .bind(&send.person_id)
            .bind(send.at - DAY)
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE_SENDS_TO)
            .bind(&send.client_id)
            .bind(&send.destination)
            .bind(send.at - DAY)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_SEND)
            .bind(&send.id)
            .bind(&send.client_id)
            .bind(&send.person_id)
            .bind(&send.destination)
            .bind(send.at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SendVerdict::Allowed)
    }

    async fn attempts(&self, client_id: &str, f: &AttemptFilter) -> Result<Vec<AttemptRecord>> {
        // A cursor at or after `to` (one the client made up, or a `to` changed between pages) is
        // brought back to `to`, which `ListShape::of` then leaves out of the statement.
        let after = match (&f.after, f.to) {
            (Some((at, _)), Some(to)) if *at >= to => Some((to, String::new())),
            (after, _) => after.clone(),
        };
        let f = &AttemptFilter { after, ..f.clone() };
        let shape = ListShape::of(f);
        let sql = attempt_list(shape);
        let mut query = sqlx::query(&sql).bind(client_id);
        for v in [&f.person_id, &f.status, &f.policy_id].into_iter().flatten() {
            query = query.bind(v);
        }
        for v in [f.from, f.to.filter(|_| shape.to)].into_iter().flatten() {
            query = query.bind(v);
        }
        if let Some((at, id)) = &f.after {
            query = query.bind(at).bind(id);
        }
        let rows = query.bind(i64::from(f.limit)).fetch_all(&self.reader).await?;
        rows.iter().map(attempt_from).collect()
    }

    async fn expired_attempts(&self, now: Millis, limit: u32) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(EXPIRED_ATTEMPTS).bind(now).bind(i64::from(limit)).fetch_all(&self.reader).await?;
        rows.iter().map(attempt_from).collect()
    }

    async fn replay_window(
        &self,
        client_id: &str,
        policy_id: &str,
        since: Millis,
        limit: u32,
    ) -> Result<Option<ReplayWindow>> {
        replay::window(&self.replayer, client_id, policy_id, since, limit).await
    }

    async fn replay_page(
        &self,
        client_id: &str,
        policy_id: &str,
        window: &ReplayWindow,
        limit: u32,
    ) -> Result<Vec<ReplayRecord>> {
        replay::page(&self.replayer, client_id, policy_id, window, limit).await
    }

    async fn replay_pasts(
        &self,
        client_id: &str,
        people: &[String],
        policy_id: &str,
        span: ReplaySpan,
    ) -> Result<smartauth_domain::replay::Map<String, ReplayPerson>> {
        replay::pasts(&self.replayer, client_id, people, policy_id, span).await
    }

    async fn replay_means(
        &self,
        client_id: &str,
        people: &[String],
    ) -> Result<smartauth_domain::replay::Map<String, Means>> {
        replay::means(&self.replayer, client_id, people).await
    }

    async fn replay_sharing(
        &self,
        client_id: &str,
        fingerprints: &[String],
        keys: &[String],
        leave_out: &[String],
    ) -> Result<smartauth_domain::replay::Sharing> {
        replay::sharing(&self.replayer, client_id, fingerprints, keys, leave_out).await
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()> {
        bind_audit(sqlx::query(INSERT_AUDIT), entry).execute(&self.writer).await?;
        Ok(())
    }

    async fn truncate_journal(&self) -> Result<bool> {
        // A connection of its own that does not wait: TRUNCATE takes the write lock and would otherwise hold
        // it while readers finish, stalling the attempts' writes; busy now means try again later.
        let mut connection = self.options.clone().busy_timeout(Duration::ZERO).connect().await?;
        let done =
            sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut connection).await;
        connection.close().await?;
        match done {
            Ok((busy, _, _)) => Ok(busy == 0),
            // SQLITE_BUSY (5) or SQLITE_LOCKED (6), in the low byte of the extended code.
            Err(sqlx::Error::Database(e))
                if e.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn prune_audit(&self, before: Millis, batch: u32) -> Result<u64> {
        let done = sqlx::query(PRUNE_AUDIT).bind(i64::from(batch)).bind(before).execute(&self.writer).await?;
        Ok(done.rows_affected())
    }

    async fn audit(&self, client_id: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, AuditEntry)>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE (?1 IS NULL OR client_id = ?1) AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        )
        .bind(client_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audit_from).collect()
    }

    async fn insert_webhook(&self, w: &WebhookRecord, at_most: u32, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        // Its cursor starts after the last event: it gets the events written from now on. The client's count
        // is read by the statement that inserts (?1 is the client).
        let sql = format!(
            "INSERT INTO webhooks (client_id, url, events, description, secret_enc, previous_secret_enc,
               previous_secret_expires_at, disabled_at, disabled_reason, failing_since, updated_at, id, created_at,
               cursor_seq)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, {LAST_EVENT}
             WHERE (SELECT COUNT(*) FROM webhooks WHERE client_id = ?1) < ?14",
        );
        let query = sqlx::query(&sql);
        let inserted = bind_webhook(query, w)
            .bind(&w.id)
            .bind(w.created_at)
            .bind(i64::from(at_most))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn webhook(&self, client_id: &str, webhook_id: &str) -> Result<Option<WebhookRecord>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE id = ? AND client_id = ?")
            .bind(webhook_id)
            .bind(client_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    async fn webhooks(&self, client_id: &str) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query("SELECT * FROM webhooks WHERE client_id = ? ORDER BY created_at, id")
            .bind(client_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    async fn update_webhook(&self, w: &WebhookRecord, version: Millis, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        // Still as the caller read it: a change made since (the dispatcher disabling it) is not undone unseen.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM webhooks WHERE id = ? AND client_id = ? AND updated_at = ?")
                .bind(&w.id)
                .bind(&w.client_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if current.is_none() {
            return Ok(false);
        }
        // Disabled: the new events it has not tried are given up (and listed so).
        if let Some(at) = w.disabled_at {
            give_up_new_events(&mut tx, &w.id, at, w.disabled_reason.as_deref().unwrap_or("disabled")).await?;
        }
        // Enabled again: it gets the events written from now on, not those of while it was off.
        if w.disabled_at.is_none() {
            sqlx::query(&format!(
                "UPDATE webhooks SET cursor_seq = {LAST_EVENT} WHERE id = ? AND client_id = ? AND disabled_at IS NOT NULL"
            ))
            .bind(&w.id)
            .bind(&w.client_id)
            .execute(&mut *tx)
            .await?;
        }
        let query = sqlx::query(
            // The failing streak is the dispatcher's: the caller may only end it (enabling the subscription).
            "UPDATE webhooks SET client_id = ?, url = ?, events = ?, description = ?, secret_enc = ?,
               previous_secret_enc = ?, previous_secret_expires_at = ?, disabled_at = ?, disabled_reason = ?,
               failing_since = CASE WHEN ? IS NULL THEN NULL ELSE failing_since END, updated_at = ?
             WHERE id = ? AND client_id = ?",
        );
        let done = bind_webhook(query, w).bind(&w.id).bind(&w.client_id).execute(&mut *tx).await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn delete_webhook(&self, client_id: &str, webhook_id: &str, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = ? AND client_id = ?")
            .bind(webhook_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = ? AND client_id = ?")
            .bind(webhook_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn insert_event_for(&self, webhook_id: &str, e: &NewEvent) -> Result<()> {
        // After the subscription's cursor, in its order: only that subscription takes it.
        sqlx::query(
            "INSERT INTO webhook_events (id, client_id, type, data, created_at, webhook_id) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.id)
        .bind(&e.client_id)
        .bind(&e.kind)
        .bind(&e.data)
        .bind(e.created_at)
        .bind(webhook_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn newest_event(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(NEWEST_EVENT).fetch_one(&self.reader).await?)
    }

    async fn claim_new_events(
        &self,
        now: Millis,
        lease_ms: i64,
        per_webhook: u32,
        busy: &[String],
        max_webhooks: u32,
    ) -> Result<Vec<NewEventsClaim>> {
        let wanted = i64::from(max_webhooks) + busy.len() as i64;
        let due: Vec<String> =
            sqlx::query_scalar(WEBHOOKS_WITH_NEW_EVENTS).bind(now).bind(wanted).fetch_all(&self.reader).await?;
        let due: Vec<String> = due.into_iter().filter(|w| !busy.contains(w)).take(max_webhooks as usize).collect();
        // Nothing new: no write lock for nothing.
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // One statement takes them all: atomic among processes (a cursor another one took is skipped).
        let held_until = now + lease_ms;
        let claimed = sqlx::query(CLAIM_CURSORS)
            .bind(held_until)
            .bind(serde_json::Value::from(due).to_string())
            .bind(now)
            .fetch_all(&self.writer)
            .await?;
        let mut claims = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let webhook_id: String = row.try_get("id")?;
            let client_id: String = row.try_get("client_id")?;
            let cursor: i64 = row.try_get("cursor_seq")?;
            let types: Vec<String> = serde_json::from_str(row.try_get("events")?)
                .map_err(|e| StoreError::Corrupt(format!("a webhook's events: {e}")))?;
            let events = sqlx::query(NEW_EVENTS_OF)
                .bind(&client_id)
                .bind(cursor)
                .bind(i64::from(per_webhook))
                .fetch_all(&self.reader)
                .await?;
            let mut through = cursor;
            let mut deliveries = Vec::with_capacity(events.len());
            for event in &events {
                through = event.try_get("seq")?;
                let kind: String = event.try_get("type")?;
                let target: Option<String> = event.try_get("webhook_id")?;
                let takes = match target {
                    Some(target) => target == webhook_id,
                    None => types.contains(&kind),
                };
                if takes {
                    deliveries.push(new_delivery(event, &webhook_id, &client_id, Some(held_until))?);
                }
            }
            claims.push(NewEventsClaim { webhook_id, deliveries, through });
        }
        Ok(claims)
    }

    async fn lease_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        per_webhook: u32,
        busy: &[String],
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        // At most as many subscriptions as `limit` fills with `per_webhook` each: the caller has a sender for
        // each of them, and a batch leased without one would wait while its lease runs out.
        let subscriptions = limit.div_ceil(per_webhook.max(1)) as usize;
        let wanted = (subscriptions + busy.len()) as i64;
        let due: Vec<String> =
            sqlx::query_scalar(DUE_WEBHOOKS).bind(now).bind(now).bind(wanted).fetch_all(&self.reader).await?;
        let due: Vec<&String> = due.iter().filter(|w| !busy.contains(w)).take(subscriptions).collect();
        // Nothing to take (or only what this process is sending already): no write lock for nothing.
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // One write transaction takes them all: SQLite's single writer makes it atomic among processes.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut ids: Vec<String> = Vec::new();
        for webhook_id in due {
            if ids.len() >= limit as usize {
                break;
            }
            let taken: Vec<String> = sqlx::query_scalar(LEASE_DELIVERIES)
                .bind(now + lease_ms)
                .bind(webhook_id)
                .bind(now)
                .bind(now)
                .bind(i64::from(per_webhook))
                .fetch_all(&mut *tx)
                .await?;
            ids.extend(taken);
        }
        tx.commit().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.seq
             WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.seq"
        );
        // Through a reader: committed, they are there for a new read, and the one writer is not held while the
        // caller takes the rows.
        let rows = sqlx::query(&sql).bind(serde_json::Value::from(ids).to_string()).fetch_all(&self.reader).await?;
        rows.iter().map(|r| delivery_from(r).map(|(_, d)| d)).collect()
    }

    async fn finish_deliveries(&self, finished: &[(Delivery, DeliveryTry)], cursors: &[CursorMove]) -> Result<()> {
        if finished.is_empty() && cursors.is_empty() {
            return Ok(());
        }
        // One statement for the whole batch (its rows as a JSON array), so that recording many tries costs
        // one round trip to the database's thread, not two a try.
        let rows: Vec<serde_json::Value> = finished
            .iter()
            .map(|(d, o)| {
                serde_json::json!([
                    d.id,
                    o.status,
                    o.next_try_at,
                    o.last_status,
                    o.last_error,
                    o.at,
                    d.seq,
                    d.webhook_id,
                    d.client_id,
                    d.event_id,
                    d.event_created_at
                ])
            })
            .collect();
        // Each subscription's failing streak after the batch: `None` when its last try was delivered, else
        // when the streak began; and whether a delivery in the batch ended an earlier streak.
        let mut health: Vec<(&str, Option<Millis>, bool)> = Vec::new();
        for (d, o) in finished {
            let i = match health.iter().position(|(w, _, _)| *w == d.webhook_id) {
                Some(i) => i,
                None => {
                    health.push((&d.webhook_id, None, false));
                    health.len() - 1
                }
            };
            let entry = &mut health[i];
            if o.status == "delivered" {
                (entry.1, entry.2) = (None, true);
            } else if entry.1.is_none() {
                entry.1 = Some(o.at);
            }
        }
        let mut tx = self.writer.begin().await?;
        if !rows.is_empty() {
            sqlx::query(RECORD_TRIES).bind(serde_json::Value::from(rows).to_string()).execute(&mut *tx).await?;
        }
        for c in cursors {
            sqlx::query(MOVE_CURSOR)
                .bind(c.through)
                .bind(c.release)
                .bind(c.held_until)
                .bind(&c.webhook_id)
                .execute(&mut *tx)
                .await?;
        }
        for (webhook_id, failing_since, recovered) in health {
            let sql = match (failing_since, recovered) {
                (None, _) => "UPDATE webhooks SET failing_since = NULL WHERE id = ?2 AND failing_since IS NOT NULL",
                // A success in the batch ended the earlier streak: this one began after it.
                (Some(_), true) => "UPDATE webhooks SET failing_since = ?1 WHERE id = ?2",
                (Some(_), false) => "UPDATE webhooks SET failing_since = ?1 WHERE id = ?2 AND failing_since IS NULL",
            };
            sqlx::query(sql).bind(failing_since).bind(webhook_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn disable_webhook(&self, webhook_id: &str, at: Millis, reason: &str, effects: Effects<'_>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        give_up_new_events(&mut tx, webhook_id, at, reason).await?;
        let done = sqlx::query(
            "UPDATE webhooks SET disabled_at = ?, disabled_reason = ?, updated_at = ? WHERE id = ? AND disabled_at IS NULL",
        )
        .bind(at)
        .bind(reason)
        .bind(at)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, effects).await
    }

    async fn deliveries(
        &self,
        client_id: &str,
        webhook_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Delivery)>> {
        let before = before.unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.seq
             WHERE d.webhook_id = ? AND d.client_id = ? AND d.seq < ? ORDER BY d.seq DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(webhook_id)
            .bind(client_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        let mut listed = rows.iter().map(delivery_from).collect::<Result<Vec<_>>>()?;
        // The new events after an enabled subscription's cursor wait for their first try, with no row yet.
        let waiting = sqlx::query(NEW_DELIVERIES_OF)
            .bind(webhook_id)
            .bind(client_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        for event in &waiting {
            let d = new_delivery(event, webhook_id, client_id, event.try_get("cursor_lease_until")?)?;
            if !listed.iter().any(|(_, l)| l.id == d.id) {
                listed.push((d.seq, d));
            }
        }
        listed.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        listed.truncate(limit as usize);
        Ok(listed)
    }

    async fn redeliver(&self, client_id: &str, webhook_id: &str, seq: i64, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries INDEXED BY webhook_deliveries_of
             SET status = 'pending', next_try_at = ?, lease_until = NULL
             WHERE webhook_id = ? AND seq = ? AND client_id = ?",
        )
        .bind(now)
        .bind(webhook_id)
        .bind(seq)
        .bind(client_id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        // A new event's delivery, not tried yet (no row): it is on its way already.
        let waiting: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT 1 FROM {NEW_DELIVERIES} AND e.seq = ? AND w.id = ? AND w.client_id = ?"
        ))
        .bind(seq)
        .bind(webhook_id)
        .bind(client_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(waiting.is_some())
    }

    async fn recover_deliveries(&self, client_id: &str, webhook_id: &str, since: Millis, now: Millis) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries INDEXED BY webhook_deliveries_of
             SET status = 'pending', next_try_at = ?1, lease_until = NULL
             WHERE webhook_id = ?2 AND client_id = ?3 AND created_at >= ?4
               AND (status = 'failed' OR (status = 'pending' AND (lease_until IS NULL OR lease_until < ?1)))",
        )
        .bind(now)
        .bind(webhook_id)
        .bind(client_id)
        .bind(since)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn delivery_queue(&self) -> Result<DeliveryQueue> {
        // The events after each enabled subscription's cursor, counted in the cursors' index alone: read every
        // second, it must stay cheap when nothing delivers and they pile up (checking each one's type made it a
        // tenth of a core at 100,000). A few may be of types the subscription does not take (it passes them).
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest,
               (SELECT COUNT(*) FROM webhooks w JOIN webhook_events e
                  ON e.client_id = w.client_id AND e.seq > w.cursor_seq WHERE w.disabled_at IS NULL) AS new,
               (SELECT MIN((SELECT e.created_at FROM webhook_events e
                  WHERE e.client_id = w.client_id AND e.seq > w.cursor_seq ORDER BY e.seq LIMIT 1))
                FROM webhooks w WHERE w.disabled_at IS NULL) AS oldest_new
             FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?;
        let oldest_new: Option<Millis> = row.try_get("oldest_new")?;
        let oldest: Option<Millis> = row.try_get("oldest")?;
        Ok(DeliveryQueue {
            waiting: u64::try_from(row.try_get::<i64, _>("n")? + row.try_get::<i64, _>("new")?).unwrap_or(0),
            oldest_created_at: oldest.into_iter().chain(oldest_new).min(),
        })
    }

    async fn prune_deliveries(&self, before: Millis) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        // Events are in time order by `seq`: those before the first one of `before` or later, read from the
        // oldest. A delivery is made at its event's time, so the finished ones of these events are gone.
        sqlx::query(
            "DELETE FROM webhook_events
             WHERE seq < COALESCE((SELECT seq FROM webhook_events WHERE created_at >= ?1 ORDER BY seq LIMIT 1),
                                  9223372036854775807)
               AND created_at < ?1
               AND seq NOT IN (SELECT seq FROM webhook_deliveries WHERE status = 'pending')
               AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.client_id = webhook_events.client_id
                                 AND w.disabled_at IS NULL AND w.cursor_seq < webhook_events.seq)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deliveries.rows_affected())
    }

    async fn release_deliveries(&self, ids: &[String], held_until: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = NULL
             WHERE id IN (SELECT value FROM json_each(?)) AND lease_until = ?",
        )
        .bind(serde_json::Value::from(ids.to_vec()).to_string())
        .bind(held_until)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn waiting_deliveries(&self, client_id: &str, webhook_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?1 AND client_id = ?2
                       AND status = 'pending')
                  + (SELECT COUNT(*) FROM {NEW_DELIVERIES} AND w.id = ?1 AND w.client_id = ?2)"
        ))
        .bind(webhook_id)
        .bind(client_id)
        .fetch_one(&self.reader)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database file and one connection to it, left unmigrated: a test brings it to the schema of an
    /// earlier version, writes that version's rows, and opens it as a store to see the migrations since.
    async fn database() -> (tempfile::TempDir, SqliteConnectOptions, SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let options = tuned(SqliteConnectOptions::new().filename(dir.path().join("old.db")));
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.unwrap();
        (dir, options, pool)
    }

    /// Migration 14 on a database whose dispatcher had fanned out some events and not others: the cursors
    /// start before the first event still waiting, and the outbox's sequence carries on past every event
    /// ever written (none gets a `seq` a cursor has passed).
    #[tokio::test]
    async fn the_cursors_start_where_the_fan_out_stopped() {
        let (_dir, options, pool) = database().await;
        migrate_to(&pool, 13).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO webhooks (id, client_id, url, events, secret_enc, created_at, updated_at)
               VALUES ('w1', 'c1', 'https://x', '[\"policy.changed\"]', 's', 1, 1);
             INSERT INTO webhook_events (id, client_id, type, data, created_at, fanned_out) VALUES
               ('e1', 'c1', 'policy.changed', '{}', 1, 1), ('e2', 'c1', 'policy.changed', '{}', 2, 0),
               ('e3', 'c1', 'policy.changed', '{}', 3, 0), ('e4', 'c1', 'policy.changed', '{}', 4, 0);
             INSERT INTO webhook_deliveries (id, seq, webhook_id, client_id, event_id, status, next_try_at, created_at)
               VALUES ('000000000001w1', 1, 'w1', 'c1', 'e1', 'delivered', 1, 1);
             DELETE FROM webhook_events WHERE seq = 4;",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let store = SqliteStore::open_with(options).await.unwrap();
        let claims = store.claim_new_events(10, 1_000, 10, &[], 10).await.unwrap();
        let events: Vec<_> = claims[0].deliveries.iter().map(|d| d.event_id.as_str()).collect();
        assert_eq!(events, ["e2", "e3"], "the delivered one is not sent again");
        let e = NewEvent {
            id: "e5".into(),
            client_id: "c1".into(),
            kind: "policy.changed".into(),
            data: "{}".into(),
            created_at: 5,
        };
        store.insert_event_for("w1", &e).await.unwrap();
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM webhook_events WHERE id = 'e5'")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(seq, 5, "after the deleted fourth");
    }

    /// Migration 19 rewrites known contexts and device keys as tables kept in key order: what a person was
    /// approved on before it is still theirs after it, and still counts them on a shared device.
    #[tokio::test]
    async fn known_contexts_and_keys_survive_their_rewrite() {
        let (_dir, options, pool) = database().await;
        migrate_to(&pool, 18).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO known_contexts (client_id, person_id, kind, key, latitude, longitude, first_seen, last_seen,
                 accuracy, vouched_at) VALUES
               ('c1', 'ana', 'device', 'fp-1', NULL, NULL, 10, 20, NULL, 10),
               ('c1', 'ana', 'location', 'cell-1', -22.9, -43.2, 10, 20, 15.0, 10),
               ('c1', 'bia', 'device', 'fp-1', NULL, NULL, 30, 30, NULL, NULL);
             INSERT INTO device_keys (client_id, person_id, thumbprint, fingerprint, first_seen, last_seen, vouched_at)
               VALUES ('c1', 'ana', 'k-1', 'fp-1', 10, 20, 10), ('c1', 'bia', 'k-1', '', 30, 30, NULL);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let store = SqliteStore::open_with(options).await.unwrap();
        let q = HistoryQuery {
            client_id: "c1",
            person_id: "ana",
            fingerprint: Some("fp-1"),
            device_key: None,
            window_start: 0,
            attempt_limit: 10,
        };
        let ana = store.history(&q).await.unwrap();
        assert_eq!(ana.known_devices, ["fp-1"]);
        assert_eq!(ana.known_locations.len(), 1);
        assert_eq!(ana.known_device_keys.len(), 1);
        assert_eq!(ana.other_identities_on_device, 1, "bia, seen on it");
        let bia = store.history(&HistoryQuery { person_id: "bia", device_key: Some("k-1"), ..q }).await.unwrap();
        assert!(bia.known_devices.is_empty() && bia.known_device_keys.is_empty(), "seen, never vouched for");
        assert_eq!(bia.other_identities_on_device, 1, "ana, by the key");
        let without_rowid: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('known_contexts', 'device_keys') AND sql LIKE '%WITHOUT ROWID'",
        )
        .fetch_one(&store.reader)
        .await
        .unwrap();
        assert_eq!(without_rowid, 2);
    }

    /// An applied migration edited since stops the start, naming it; a database from before checksums were kept
    /// gets this build's at its first start.
    #[tokio::test]
    async fn an_applied_migration_changed_since_is_refused() {
        let (_dir, options, pool) = database().await;
        sqlx::raw_sql("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        // Applied by a build that kept no checksums.
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 5) {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations VALUES (?, 1)").bind(version).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = SqliteStore::open_with(options.clone()).await.unwrap();
        let sums: i64 =
            sqlx::query_scalar("SELECT COUNT(checksum) FROM schema_migrations").fetch_one(&store.reader).await.unwrap();
        assert_eq!(sums as usize, MIGRATIONS.len(), "the old five given theirs, the new ones written with theirs");
        sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3")
            .execute(&store.writer)
            .await
            .unwrap();
        store.close().await;
        let refused = SqliteStore::open_with(options).await.err().expect("the start is refused");
        assert!(refused.to_string().contains("migration 3 differs"), "{refused}");
        assert_eq!(checksum("a\r\nb\n"), checksum("a\nb\n"), "line ends do not count");
    }

    /// SQLite as built here (`.cargo/config.toml`) lets a reader map a file past 2 GB: a build without the
    /// flag would silently read every page beyond it through a call again.
    #[tokio::test]
    async fn readers_map_past_two_gigabytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let mapped: i64 = sqlx::query_scalar("PRAGMA mmap_size").fetch_one(&store.reader).await.unwrap();
        assert_eq!(mapped.to_string(), READER_MMAP_BYTES, "SQLite was built without LIBSQLITE3_FLAGS");
    }
}
