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
