//! The PostgreSQL journal's connection: the URL as libpq users write it, the password from
//! the environment rather than the config, and the schema created and migrated on first use.

use super::db::{DbError, Statements, Tx, args};
use super::schema::POSTGRES;

/// Serializes migrations across every host that connects at once (an arbitrary constant of
/// ftptrigger's own: "ftptrig" in ASCII).
const MIGRATION_LOCK: i64 = 0x0066_7470_7472_6967;

/// Connects to `url`, with `password` when the URL has none. Errors name the server, never
/// the password.
pub(super) fn connect(url: &str, password: Option<&str>) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    if let Some(password) = password
        && config.get_password().is_none()
    {
        config.password(password);
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.application_name("ftptrigger");
    config.connect(postgres::NoTls).map_err(|e| DbError::from(e).to_string())
}

/// `url` without its password, for messages.
pub(super) fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Whether the schema is already the latest: the common case, answered without a lock (every
/// run connects, and would otherwise wait for every other run's check in turn).
pub(super) fn is_current(db: &dyn Statements) -> Result<bool, DbError> {
    let exists = db.query_opt("SELECT to_regclass('ftptrigger_schema') IS NOT NULL", &[])?;
    if !exists.map_or(Ok(false), |r| r.get::<bool>(0))? {
        return Ok(false);
    }
    let version = db.query_opt("SELECT version FROM ftptrigger_schema", &[])?;
    Ok(version.map_or(Ok(0), |r| r.get::<i64>(0))? >= POSTGRES.len() as i64)
}

/// Brings the schema up to date, in `tx`, holding a lock every other migrator waits for.
pub(super) fn migrate(tx: &Tx<'_>) -> Result<(), DbError> {
    tx.query("SELECT pg_advisory_xact_lock(?1)", &args![MIGRATION_LOCK])?;
    tx.execute("CREATE TABLE IF NOT EXISTS ftptrigger_schema (version BIGINT NOT NULL)", &[])?;
    let current = match tx.query_opt("SELECT version FROM ftptrigger_schema", &[])? {
        Some(row) => row.get::<i64>(0)?,
        None => {
            tx.execute("INSERT INTO ftptrigger_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    for (version, sql) in POSTGRES.iter().enumerate().skip(current.max(0) as usize) {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            tx.execute(statement, &[])?;
        }
        tx.execute("UPDATE ftptrigger_schema SET version = ?1", &args![version as i64 + 1])?;
    }
    Ok(())
}

/// The advisory lock key of a file: a hash of the CID and the file's path within its rule's
/// root, so hosts that mount the storage at different paths agree. The top two bits are 0;
/// run keys ([`run_key`]) have `01` there, so the two never meet.
pub fn file_key(cid: &str, relative: &std::path::Path) -> i64 {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = cid.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(relative.as_os_str().as_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) & 0x3FFF_FFFF_FFFF_FFFF) as i64
}

/// The advisory lock key of run `id`.
pub(super) fn run_key(id: i64) -> i64 {
    0x4000_0000_0000_0000 | (id & 0x3FFF_FFFF_FFFF_FFFF)
}

/// A duplicate of this process's TCP socket whose local port is `port` (the journal's
/// connection, as the server sees it). Found through /proc: the socket's inode from the kernel's
/// table of TCP sockets, then the descriptor that names that inode.
pub(super) fn socket_of_port(port: u16) -> Option<std::os::fd::OwnedFd> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port).then(|| fields.get(9).map(|s| (*s).to_owned()))?
        })
    })?;
    let wanted = format!("socket:[{inode}]");
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let raw = entries.flatten().find_map(|entry| {
        let target = std::fs::read_link(entry.path()).ok()?;
        (target.to_str()? == wanted).then(|| entry.file_name().to_str()?.parse::<i32>().ok())?
    })?;
    // SAFETY: `raw` names the journal connection's socket, open for as long as the connection
    // (which the caller holds) lives; it is borrowed only for the `dup` right here, on the
    // caller's thread. The copy is checked to be that socket still, so a descriptor closed and
    // reused meanwhile by another thread is never taken for it.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    let copy = rustix::io::fcntl_dupfd_cloexec(borrowed, 3).ok()?;
    let same = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&copy)))
        .is_ok_and(|t| t.to_str() == Some(wanted.as_str()));
    same.then_some(copy)
}
