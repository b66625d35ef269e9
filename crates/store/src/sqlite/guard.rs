//! Guards against an operator's mistakes: a database that must already exist (a mistyped path is an
//! error, not a new empty store), and the master key's check value, kept beside the data it sealed.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use super::backup::{open_read_only, Source};
use super::{tuned, SqliteStore};
use crate::Result;

impl SqliteStore {
    /// Opens the database at `path` only if it exists, and brings its schema up to date.
    pub async fn open_existing(path: &Path) -> Result<Self> {
        Self::open_with(tuned(SqliteConnectOptions::new().filename(path)).create_if_missing(false)).await
    }

    /// The same for a `sqlite:` URL (`SMARTAUTH_DATABASE_URL`), whatever mode the URL asks for.
    pub async fn open_existing_url(url: &str) -> Result<Self> {
        Self::open_with(tuned(SqliteConnectOptions::from_str(url)?).create_if_missing(false)).await
    }

    /// The master key's check value, once one has been recorded.
    pub async fn key_check(&self) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1").fetch_optional(&self.writer).await?)
    }

    /// Records `value` unless a check value is there already, and returns the one kept: another
    /// process may have recorded its own first, and then the caller's key is compared with that one.
    pub async fn record_key_check(&self, value: &str) -> Result<String> {
        sqlx::query("INSERT OR IGNORE INTO key_check (id, value, created_at) VALUES (1, ?, ?)")
            .bind(value)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&self.writer)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1").fetch_one(&self.writer).await?)
    }
}

/// The same check value, read without changing anything (for `check` and `backup`, also while a
/// server runs). `None` when none is recorded yet, or the schema predates it.
pub async fn stored_key_check(source: Source<'_>) -> Result<Option<String>> {
    let mut connection = open_read_only(source).await?;
    let has_table: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'key_check'")
            .fetch_one(&mut connection)
            .await?;
    let value = if has_table == 0 {
        None
    } else {
        sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1").fetch_optional(&mut connection).await?
    };
    connection.close().await?;
    Ok(value)
}
