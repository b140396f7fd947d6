//! The SQLite journal's connection: WAL, its durability settings, its busy waits, and its
//! schema version in `user_version`.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::schema::SQLITE;
use crate::retry::{Backoff, Failed, GaveUp};

/// How long a writer waits for another before giving up. Writes take milliseconds; this only
/// matters under a storm of simultaneous invocations.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The WAL is copied into the database once it holds this many pages (4 KiB each; a run
/// writes about ten).
const WAL_PAGES: i64 = 64;

/// Opens (creating if needed) the database at `path`, tuned and migrated.
pub(super) fn open(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
    }
    let created = !path.exists();
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    if created {
        // File names and job output are nobody else's business; SQLite gives the -wal and
        // -shm files the database's mode.
        let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    // WAL lets readers and the one writer proceed together. NORMAL does not wait for the
    // disk on every commit (the database stays consistent, and a lost `running` row after
    // a power cut only loses the trace of an unfinished run); `finish` commits with FULL,
    // so a recorded `success` survives power loss, which is what keeps a file from
    // running twice.
    // Switching a new file to WAL can report "locked" without consulting the busy
    // handler when many processes create the journal at once, so that step retries.
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("cannot switch to WAL mode (got {mode})"));
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| e.to_string())?;
    // The last connection to close would copy the WAL into the database and delete it: two
    // fsyncs at every run's end, and two more when the next run creates a new WAL. Instead
    // the WAL stays, and the automatic checkpoint copies it every WAL_PAGES pages (a few
    // runs). Kept small, because the first connection of each run re-reads the whole WAL
    // to rebuild its index.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(|e| e.to_string())?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES).map_err(|e| e.to_string())?;
    retry_busy(|| migrate(&conn)).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current >= SQLITE.len() as i64 {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the write lock.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in SQLITE.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
    }
    tx.commit()
}

/// For a connection that answers callers waiting on it (`serve`'s): it never checkpoints the
/// WAL itself (the runs' connections do, and a checkpoint waits for the disk), and it waits for
/// another writer in steps of a quarter millisecond, not in SQLite's default steps of up to
/// 100 ms, which would be the callers' wait.
pub(super) fn for_waiting_callers(conn: &mut Connection) -> rusqlite::Result<()> {
    fn short_steps(attempt: i32) -> bool {
        std::thread::sleep(Duration::from_micros(250));
        // The same patience as BUSY_TIMEOUT: 240,000 steps of 250 µs.
        attempt < 240_000
    }
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_handler(Some(short_steps))
}

/// Runs `f` again while SQLite says the database is busy or locked, for up to
/// [`BUSY_TIMEOUT`], pausing a little longer each time.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let busy = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    };
    Backoff::within(BUSY_TIMEOUT)
        .pauses(Duration::from_millis(2), Duration::from_millis(100))
        .run(|_| f().map_err(|e| if busy(&e) { Failed::Retry(e) } else { Failed::Stop(e) }))
        .map_err(GaveUp::into_error)
}
