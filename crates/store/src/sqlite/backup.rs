//! Online backup and inspection of a SQLite database that a server may be using at the same time.
//! Both open the file read-only and never create it: a wrong path is an error, not a new empty database.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::Result;

/// Which database: the file in the data dir, or a `sqlite:` URL (`SMARTAUTH_DATABASE_URL`).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Url(&'a str),
}

pub(super) async fn open_read_only(source: Source<'_>) -> Result<SqliteConnection> {
    let options = match source {
        Source::File(path) => SqliteConnectOptions::new().filename(path),
        Source::Url(url) => SqliteConnectOptions::from_str(url)?,
    };
    // Not `tuned`: it asks for WAL, which a read-only connection cannot switch to, and a backup is
    // written in the default journal mode (a restored backup must pass `smartauth check`).
    let options = options.create_if_missing(false).read_only(true).busy_timeout(std::time::Duration::from_secs(10));
    Ok(options.connect().await?)
}

/// Writes a consistent copy of the whole database to `dest` (`VACUUM INTO`: one read transaction, so
/// writers carry on and the copy is the database as of one instant). `dest` must not exist.
pub async fn copy_to(source: Source<'_>, dest: &Path) -> Result<()> {
    let mut connection = open_read_only(source).await?;
    let dest = dest.to_str().ok_or_else(|| {
        sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the backup path is not UTF-8"))
    })?;
    sqlx::query("VACUUM INTO ?").bind(dest).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// How far the database's schema is migrated, against what this build expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The last migration applied to the database (0: none, an empty or foreign file).
    pub applied: i64,
    /// The last migration this build knows.
    pub expected: i64,
}

pub async fn schema_state(source: Source<'_>) -> Result<SchemaState> {
    let mut connection = open_read_only(source).await?;
    let has_table: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
            .fetch_one(&mut connection)
            .await?;
    let applied: i64 = if has_table == 0 {
        0
    } else {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetch_one(&mut connection).await?
    };
    connection.close().await?;
    let expected = super::MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0);
    Ok(SchemaState { applied, expected })
}
