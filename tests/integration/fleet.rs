//! The PostgreSQL journal (`[journal] url`): the same runs, duplicates, history, outbox and
//! events as with SQLite, in a database several hosts share. Each test gets a fresh database
//! on a throwaway cluster (`pg_support`).

use serde_json::Value;

use crate::pg_support::{self, PgServer};
use crate::support::{Cfg, World, md5_hex};

/// A fresh database: its URL without the password, which goes in `PGPASS` instead (a config
/// must not hold one), and with it, for `psql`.
fn database(pg: &PgServer, hint: &str) -> (String, String) {
    let url = pg.fresh_database(hint);
    (url.replacen(&format!(":{}@", pg.password()), "@", 1), url)
}

/// A world whose journal is the database at `url`, this host called `host`.
fn world(url: &str, host: &str) -> World {
    let w = World::new();
    let journal = format!("url = \"{url}\"\npassword_env = \"PGPASS\"\nhost = \"{host}\"");
    w.config(&Cfg::stmt("").journal(&journal).text());
    w
}

fn history(w: &World, pg: &PgServer) -> Vec<Value> {
    let out = w.cmd().env("PGPASS", pg.password()).args(["history", "--json"]).run().code(0).stdout();
    out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

#[test]
fn runs_duplicates_and_history_live_in_postgresql() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "runs");
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    let run = |w: &World| {
        w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run()
    };
    let first = run(&w).code(0);
    assert!(w.job_ran(), "{}", first.stderr());
    run(&w).code(0).stderr_has("already succeeded in run 1");

    let runs = history(&w, pg);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!((runs[1]["outcome"].as_str(), runs[1]["host"].as_str()), (Some("success"), Some("ftp1")));
    assert_eq!(runs[0]["outcome"], "duplicate_skipped");
    assert!(!w.journal_path().exists(), "a SQLite journal was made too");
    let count = pg.sql(&full, "SELECT count(*) FROM runs").expect("psql");
    assert_eq!(count.trim(), "2");
}

#[test]
fn an_unreachable_database_is_exit_1_naming_it_and_nothing_runs() {
    let Some(pg) = pg_support::server() else { return };
    let url = format!("postgres://postgres@127.0.0.1:{}/nosuchdb_ftptrigger", pg.port());
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    let run =
        w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run();
    let run = run.code(1).stderr_has("cannot open journal postgres://postgres@127.0.0.1:");
    assert!(!run.stderr().contains(pg.password()), "{}", run.stderr());
    assert!(!w.job_ran());
}

#[test]
fn check_refuses_a_password_in_the_url_and_path_beside_url() {
    let w = World::new();
    w.config(&Cfg::stmt("").journal("url = \"postgres://u:secret@db/x\"\npath = \"j.db\"").text());
    let out = w.cmd().arg("check").run().code(10).stdout();
    assert!(out.contains("journal.url: holds a password"), "{out}");
    assert!(out.contains("journal.path: set path (SQLite) or url (PostgreSQL), not both"), "{out}");
    assert!(!out.contains("secret"), "{out}");
}

/// A journal made by an older ftptrigger (schema version 1: runs and meta only, a run in it) is
/// migrated on first use, and what it held is still there.
#[test]
fn an_older_schema_is_migrated_on_first_use() {
    let Some(pg) = pg_support::server() else { return };
    let (url, full) = database(pg, "migrate");
    let v1 = "CREATE TABLE runs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, cid TEXT NOT NULL,
                  filename BYTEA NOT NULL, md5 TEXT, exit_code BIGINT, pid BIGINT NOT NULL, pid_start BIGINT,
                  host TEXT NOT NULL, started_ms BIGINT NOT NULL, finished_ms BIGINT, report TEXT NOT NULL);
              CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
              CREATE TABLE ftptrigger_schema (version BIGINT NOT NULL);
              INSERT INTO ftptrigger_schema VALUES (1);";
    pg.sql(&full, v1).expect("an old schema");
    let w = world(&url, "ftp1");
    let file = w.upload("a.zip", b"a");
    w.cmd().env("PGPASS", pg.password()).arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run().code(0);
    assert_eq!(pg.sql(&full, "SELECT version FROM ftptrigger_schema").expect("psql").trim(), "5");
    let tables = pg.sql(
        &full,
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('outbox', 'events')",
    );
    assert_eq!(tables.expect("psql").trim(), "2");
    assert_eq!(history(&w, pg).len(), 1);
}
