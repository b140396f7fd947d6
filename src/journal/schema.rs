//! The journal's schema, as the migrations that build it.

/// SQLite's: each entry migrates the schema from version `index` to `index + 1` (the version
/// is the database's `user_version`).
pub(super) const SQLITE: &[&str] = &[
    r#"
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    state       TEXT    NOT NULL,  -- 'running' or the outcome name
    cid         TEXT    NOT NULL,
    filename    BLOB    NOT NULL,  -- exact bytes of the base name
    md5         TEXT,              -- the file's actual MD5, once known
    exit_code   INTEGER,
    pid         INTEGER NOT NULL,
    pid_start   INTEGER,           -- start time of pid, to tell a reused pid apart
    host        TEXT    NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    report      TEXT    NOT NULL   -- the JSON result, as --json prints it
);
CREATE INDEX runs_success ON runs (cid, filename, md5) WHERE state = 'success';
CREATE INDEX runs_running ON runs (state) WHERE state = 'running';
CREATE INDEX runs_started ON runs (started_ms);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"#,
    r#"
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER,
    channel          TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    cid              TEXT,
    filename         TEXT,
    payload          TEXT    NOT NULL,  -- the JSON body, exactly as it is sent
    state            TEXT    NOT NULL,  -- 'pending', 'delivered' or 'dead'
    attempts         INTEGER NOT NULL,
    last_error       TEXT,
    created_ms       INTEGER NOT NULL,
    claimed_until_ms INTEGER,           -- a sender holds it until then
    delivered_ms     INTEGER
);
CREATE INDEX outbox_pending ON outbox (state) WHERE state = 'pending';
"#,
    // `scan` asks, for every file it sees, how that file's latest run ended.
    r#"
CREATE INDEX runs_file ON runs (cid, filename, started_ms);
"#,
    // `serve` accepts runs before a worker is free: they wait as `queued` rows, with what the
    // request asked for, and survive a restart of the service.
    r#"
ALTER TABLE runs ADD COLUMN request TEXT;
CREATE INDEX runs_queued ON runs (id) WHERE state = 'queued';
"#,
    // Event subscriptions (`POST /events`), and where an event's callback goes: an outbox row
    // for a subscription has no channel in the config, only its URL.
    r#"
CREATE TABLE events (
    id                  TEXT    PRIMARY KEY,  -- a UUID
    company_id          TEXT    NOT NULL,
    listener_type       TEXT    NOT NULL,
    tags                TEXT    NOT NULL,     -- JSON object of strings
    outcomes            TEXT    NOT NULL,     -- JSON array of outcome names
    callback_url        TEXT    NOT NULL,
    callback_type       TEXT    NOT NULL,
    delete_after_action INTEGER NOT NULL,
    created_ms          INTEGER NOT NULL,
    fired_run_id        INTEGER               -- a one-shot event: the run it fired for
);
CREATE INDEX events_company ON events (company_id);
ALTER TABLE outbox ADD COLUMN target TEXT;
"#,
];

/// PostgreSQL's schema is SQLite's, step for step, in PostgreSQL's words: 64-bit integers,
/// `BIGSERIAL` keys, `BYTEA` for bytes. One text for both, so they cannot drift apart.
pub(super) fn for_postgres(sqlite: &str) -> String {
    sqlite
        .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
        .replace("INTEGER", "BIGINT")
        .replace("BLOB", "BYTEA")
}
