//! Many rows read straight from SQLite, on the caller's thread, for policy replay.
//!
//! sqlx hands a statement's rows over one at a time from its connection's thread, and for a replay's
//! hundreds of thousands of small rows that handoff cost more than the reads: the replay's statements had
//! SQLite build each answer as one JSON text instead, which the server then parsed, and building and
//! parsing it took a third of their time (`PERF=1 scripts/bench.sh --replay`). Here the statement runs on
//! the connection's own handle (sqlx's `lock_handle`, which keeps its thread off the connection meanwhile)
//! and each column is read where it lies.

use std::ffi::CStr;
use std::os::raw::c_int;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use sqlx::SqlitePool;

use crate::{Result, StoreError};

/// Runs `read` with the raw handle of one of the pool's connections, kept from sqlx's own thread meanwhile.
/// The reads block: on a multi-threaded runtime, the worker is handed off first (`block_in_place`).
pub async fn with_connection<T: Send>(
    pool: &SqlitePool,
    read: impl FnOnce(&Connection) -> Result<T> + Send,
) -> Result<T> {
    let mut pooled = pool.acquire().await?;
    let mut handle = pooled.lock_handle().await?;
    let connection = Connection { db: handle.as_raw_handle() };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| read(&connection)),
        _ => read(&connection),
    }
}

/// A connection's handle, locked for the caller. Neither `Send` nor `Sync`: sqlx opens its connections in
/// SQLite's multi-thread mode (`SQLITE_OPEN_NOMUTEX`), where a handle must never be used by two threads at
/// once; it is used only on the thread that runs `with_connection`'s reads, while sqlx's lock keeps its own
/// thread off it.
pub struct Connection {
    db: NonNull<ffi::sqlite3>,
}

impl Connection {
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| StoreError::Corrupt("statement too long".into()))?;
        // SAFETY: the handle is live and locked; the text and its length are valid for the call.
        let code = unsafe {
            ffi::sqlite3_prepare_v2(self.db.as_ptr(), sql.as_ptr().cast(), len, &mut stmt, std::ptr::null_mut())
        };
        match NonNull::new(stmt) {
            Some(stmt) if code == ffi::SQLITE_OK => Ok(Statement { connection: self, stmt }),
            _ => Err(self.error(code)),
        }
    }

    fn error(&self, code: c_int) -> StoreError {
        // SAFETY: the handle is live; SQLite's message is a NUL-terminated text it owns until the next call.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db.as_ptr())) }.to_string_lossy();
        StoreError::Backend(sqlx::Error::Protocol(format!("SQLite error {code}: {message}")))
    }
}

/// A prepared statement, finalized when dropped.
pub struct Statement<'c> {
    connection: &'c Connection,
    stmt: NonNull<ffi::sqlite3_stmt>,
}

impl Statement<'_> {
    /// Binds text to parameter `?index` (SQLite keeps its own copy).
    pub fn text(&mut self, index: c_int, value: &str) -> Result<&mut Self> {
        let len = c_int::try_from(value.len()).map_err(|_| StoreError::Corrupt("parameter too long".into()))?;
        // SAFETY: the statement is live; SQLITE_TRANSIENT makes SQLite copy the bytes before returning.
        let code = unsafe {
            ffi::sqlite3_bind_text(self.stmt.as_ptr(), index, value.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT())
        };
        self.check(code)
    }

    pub fn int(&mut self, index: c_int, value: i64) -> Result<&mut Self> {
        // SAFETY: the statement is live.
        let code = unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value) };
        self.check(code)
    }

    /// Back to before its first row, to be bound and run again.
    pub fn reset(&mut self) -> Result<&mut Self> {
        // SAFETY: the statement is live. (`sqlite3_reset` answers the last step's error, already reported.)
        unsafe { ffi::sqlite3_reset(self.stmt.as_ptr()) };
        Ok(self)
    }

    fn check(&mut self, code: c_int) -> Result<&mut Self> {
        match code {
            ffi::SQLITE_OK => Ok(self),
            code => Err(self.connection.error(code)),
        }
    }

    /// Steps to the next row: `f` reads it. Every row, in order.
    pub fn each(&mut self, mut f: impl FnMut(&Row<'_>) -> Result<()>) -> Result<()> {
        loop {
            // SAFETY: the statement is live and its parameters bound.
            match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
                ffi::SQLITE_ROW => f(&Row { stmt: self.stmt, _statement: std::marker::PhantomData })?,
                ffi::SQLITE_DONE => return Ok(()),
                code => return Err(self.connection.error(code)),
            }
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is live and not used after this.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The row a statement stands on; its columns are valid until the statement steps again.
pub struct Row<'s> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    _statement: std::marker::PhantomData<&'s ()>,
}

impl<'s> Row<'s> {
    fn kind(&self, column: c_int) -> c_int {
        // SAFETY: the statement stands on a row.
        unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), column) }
    }

    /// A column's text; none for NULL.
    pub fn text(&self, column: c_int) -> Result<Option<&str>> {
        if self.kind(column) == ffi::SQLITE_NULL {
            return Ok(None);
        }
        // SAFETY: the statement stands on a row; the text stays valid until the next step (the borrow of the
        // row), and its length is read after it, as SQLite asks.
        let bytes = unsafe {
            let text = ffi::sqlite3_column_text(self.stmt.as_ptr(), column);
            let len = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), column);
            if text.is_null() {
                // A value that is not NULL comes back as none only when SQLite ran out of memory.
                return Err(StoreError::Backend(sqlx::Error::Protocol("SQLite could not return a text".into())));
            }
            std::slice::from_raw_parts(text, usize::try_from(len).unwrap_or(0))
        };
        std::str::from_utf8(bytes).map(Some).map_err(|e| StoreError::Corrupt(format!("replay read: {e}")))
    }

    /// A column's text, which must be there.
    pub fn string(&self, column: c_int) -> Result<String> {
        self.text(column)?
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Corrupt(format!("replay read: column {column} is null")))
    }

    /// A column's integer; none for NULL; an error for a value of another kind.
    pub fn int(&self, column: c_int) -> Result<Option<i64>> {
        match self.kind(column) {
            ffi::SQLITE_NULL => Ok(None),
            // SAFETY: the statement stands on a row.
            ffi::SQLITE_INTEGER => Ok(Some(unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), column) })),
            other => Err(not_a_number(column, other)),
        }
    }

    /// A column's number (an integer counts); none for NULL; an error for a value of another kind.
    pub fn real(&self, column: c_int) -> Result<Option<f64>> {
        match self.kind(column) {
            ffi::SQLITE_NULL => Ok(None),
            // SAFETY: the statement stands on a row.
            ffi::SQLITE_FLOAT | ffi::SQLITE_INTEGER => {
                Ok(Some(unsafe { ffi::sqlite3_column_double(self.stmt.as_ptr(), column) }))
            }
            other => Err(not_a_number(column, other)),
        }
    }
}

fn not_a_number(column: c_int, kind: c_int) -> StoreError {
    StoreError::Corrupt(format!("replay read: column {column} holds a value of type {kind}, not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn columns_are_read_as_their_kind_and_a_number_is_never_made_up() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let rows = with_connection(&pool, |c| {
            let mut statement = c.prepare("SELECT ?1, 7, 2.5, NULL UNION ALL SELECT 'é', -1, 3, 'x'")?;
            statement.text(1, "abc")?;
            let mut rows = Vec::new();
            statement.each(|row| {
                rows.push((row.string(0)?, row.int(1)?, row.real(2)?, row.text(3)?.map(str::to_owned)));
                assert!(row.int(0).is_err() && row.real(0).is_err(), "text is not a number");
                Ok(())
            })?;
            Ok(rows)
        })
        .await
        .unwrap();
        assert_eq!(
            rows,
            [("abc".into(), Some(7), Some(2.5), None), ("é".into(), Some(-1), Some(3.0), Some("x".into()))]
        );
        let error = with_connection(&pool, |c| c.prepare("SELEC 1").map(drop)).await.unwrap_err();
        assert!(error.to_string().contains("syntax error"), "{error}");
    }
}
