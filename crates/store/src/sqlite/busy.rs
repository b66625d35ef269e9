//! How a connection waits for another process's write lock.
//!
//! SQLite's own busy handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20 ms and on between
//! tries. Two processes on one file (the answering server and one that delivers webhooks, or several
//! servers) hold the write lock for a millisecond or two at a time, so that first sleep alone often
//! outlasts the lock by far, and the attempts' group commit idles meanwhile (measured with
//! `scripts/bench.sh --webhooks` and `BENCH_DISPATCH=separate`). This handler looks again after 50 µs,
//! then less often, and gives up after about the same 10 s as before.

use std::os::raw::{c_int, c_void};
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;

/// Installs the handler on a new connection (in place of `busy_timeout`'s).
pub async fn install(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    // SAFETY: the handle is a live connection, locked for the call; the callback is a plain function that
    // keeps no state and does not call back into SQLite.
    let code = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(handle.as_raw_handle().as_ptr(), Some(wait), std::ptr::null_mut())
    };
    match code {
        libsqlite3_sys::SQLITE_OK => Ok(()),
        code => Err(sqlx::Error::Protocol(format!("sqlite3_busy_handler answered {code}"))),
    }
}

/// The pause before try `tries` + 1; `None` once the waits add up to about 10 s.
pub fn pause(tries: u32) -> Option<Duration> {
    match tries {
        0..20 => Some(Duration::from_micros(50)),
        20..100 => Some(Duration::from_micros(250)),
        100..10_080 => Some(Duration::from_millis(1)),
        _ => None,
    }
}

extern "C" fn wait(_: *mut c_void, tries: c_int) -> c_int {
    match pause(u32::try_from(tries).unwrap_or(u32::MAX)) {
        Some(pause) => {
            std::thread::sleep(pause);
            1
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_looks_are_quick_and_the_waits_end_after_about_ten_seconds() {
        assert_eq!(pause(0), Some(Duration::from_micros(50)));
        let total: Duration = (0..).map_while(pause).sum();
        assert!((9.5..=10.5).contains(&total.as_secs_f64()), "{total:?}");
    }
}
