//! The journal: a SQLite database (WAL) with one row per run, from start to finish.
//!
//! A row is inserted as `running` before any work and completed at the end, so a run whose
//! process died (SIGKILL, power loss) is still there and is shown as `interrupted`. Every write
//! is a short `BEGIN IMMEDIATE` transaction under a generous busy timeout, which is what lets
//! hundreds of simultaneous invocations share one file without "database is locked".

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::outcome::Outcome;
use crate::report::Report;

mod alive;
pub(crate) mod db;
mod location;
pub mod pg;
mod schema;
pub mod spool;
mod sqlite;

use crate::report;
use db::{Db, DbError, Param, Row, Statements, Tx, Value, args};

use alive::{is_alive, process_start};
pub use location::{
    checked_path, default_path, open_existing, open_existing_at, open_for, path_for, section_of,
};

/// A run as the journal shows it: its report, whose outcome is the row's state (`running` for
/// a run under way).
pub type Run = Report<State>;

/// Retention pruning runs at most this often, by whichever invocation comes along.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open journal {at}: {reason}")]
    Open { at: String, reason: String },
    #[error("cannot write journal {at}: {reason}")]
    Write { at: String, reason: String },
    #[error("cannot read journal {at}: {reason}")]
    Read { at: String, reason: String },
    #[error("no place for the journal: set [journal] path, or HOME or XDG_STATE_HOME")]
    NoDefault,
}

pub struct Journal {
    db: Db,
    /// The journal as messages name it: the SQLite file, or the PostgreSQL URL without its
    /// password.
    at: String,
    /// Where this host keeps what is its own (lock files, the spool): the SQLite file, or the
    /// default journal's place when the journal is PostgreSQL's; its directory is used.
    local: PathBuf,
    /// This host's name in runs: `[journal] host`, else the machine's.
    host: String,
    /// PostgreSQL: how to connect again when the connection is lost (URL, password).
    reconnect: Option<(String, Option<String>)>,
}

/// An earlier successful run of the same CID, file name and MD5.
#[derive(Debug, Clone)]
pub struct Previous {
    pub run_id: i64,
    pub started_at: String,
}

/// A run's `state` column: under way, or ended with its outcome (stored by name). It is bound
/// as a parameter like any value; SQLite plans with the bound value, so the partial indexes on
/// `state` still serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Accepted by `serve`, waiting for a worker.
    Queued,
    Running,
    Ended(Outcome),
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Ended(outcome) => outcome.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        match name {
            "queued" => Some(State::Queued),
            "running" => Some(State::Running),
            name => Outcome::from_name(name).map(State::Ended),
        }
    }
}

crate::named::by_name!(State, "a run state");

/// Adds every outcome `keep` selects to `args` and returns the SQL list that names them:
/// `(?4, ?5, ?6)`.
fn bind_outcomes(args: &mut Vec<Value>, keep: impl Fn(Outcome) -> bool) -> String {
    let mut list = Vec::new();
    for outcome in Outcome::all().filter(|o| keep(*o)) {
        args.push(outcome.value());
        list.push(format!("?{}", args.len()));
    }
    format!("({})", list.join(", "))
}

/// The report in `column` of a `runs` row whose id is in column 0.
fn report_at<O: serde::de::DeserializeOwned>(row: &Row, column: usize) -> Result<Report<O>, DbError> {
    let id: i64 = row.get(0)?;
    let json: String = row.get(column)?;
    serde_json::from_str(&json)
        .map_err(|e| DbError::new(format!("the report of run {id} cannot be read: {e}")))
}

/// The newest settled run of a file, from [`Journal::settled_since`].
#[derive(Debug, Clone)]
pub struct Settled {
    pub run_id: i64,
    pub outcome: Outcome,
    pub started: SystemTime,
    pub started_at: String,
}

/// What `history` asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One run, by its id.
    pub id: Option<i64>,
    pub cid: Option<String>,
    pub filename: Option<Vec<u8>>,
    pub failed: bool,
    pub count: usize,
}

/// A journal error ends the invocation as an internal error (exit 1).
pub fn failure(e: JournalError) -> crate::outcome::Failure {
    crate::outcome::Failure::new(crate::outcome::Outcome::InternalError, e.to_string())
}

impl Journal {
    /// Opens (creating if needed) the SQLite journal at `path`; its directory is made with
    /// mode 0700, since runs record file names and command output.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let at = path.display().to_string();
        let fail = |reason: String| JournalError::Open {
            at: at.clone(),
            reason: format!("{reason} (check [journal] path and that this user may write its directory)"),
        };
        let conn = sqlite::open(path).map_err(fail)?;
        let journal = Journal {
            db: Db::Sqlite(conn),
            at: at.clone(),
            local: path.to_owned(),
            host: report::host(),
            reconnect: None,
        };
        Ok(journal)
    }

    /// Connects to the PostgreSQL journal at `url` (its password, if any, from `password`),
    /// creating or migrating its schema. `local` anchors this host's lock files and spool.
    pub fn connect(
        url: &str,
        password: Option<&str>,
        local: &Path,
        host: &str,
    ) -> Result<Journal, JournalError> {
        let at = pg::redacted(url);
        let client =
            pg::connect(url, password).map_err(|reason| JournalError::Open { at: at.clone(), reason })?;
        let db = Db::Postgres(std::cell::RefCell::new(client));
        let reconnect = Some((url.to_owned(), password.map(str::to_owned)));
        let journal =
            Journal { db, at: at.clone(), local: local.to_owned(), host: host.to_owned(), reconnect };
        journal.migrate_postgres().map_err(|e| JournalError::Open { at, reason: e.to_string() })?;
        Ok(journal)
    }

    /// Whether the journal is shared by several hosts (PostgreSQL), and so may be out of reach
    /// while a run goes on.
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// PostgreSQL: connects again, after the connection was lost.
    pub fn reconnect(&mut self) -> Result<(), JournalError> {
        let Some((url, password)) = &self.reconnect else { return Ok(()) };
        let client = pg::connect(url, password.as_deref())
            .map_err(|reason| JournalError::Open { at: self.at.clone(), reason })?;
        self.db = Db::Postgres(std::cell::RefCell::new(client));
        Ok(())
    }

    fn migrate_postgres(&self) -> Result<(), DbError> {
        if pg::is_current(&self.db)? {
            return Ok(());
        }
        self.db.write(pg::migrate)
    }

    /// Names this host `host` in the runs it records (`[journal] host`).
    pub fn with_host(mut self, host: &str) -> Journal {
        self.host = host.to_owned();
        self
    }

    /// For a connection that answers callers waiting on it (`serve`'s): see
    /// `sqlite::for_waiting_callers`. PostgreSQL needs nothing of the kind.
    pub fn for_waiting_callers(&mut self) -> Result<(), JournalError> {
        match &mut self.db {
            Db::Sqlite(conn) => sqlite::for_waiting_callers(conn)
                .map_err(|e| JournalError::Write { at: self.at.clone(), reason: e.to_string() }),
            Db::Postgres(_) => Ok(()),
        }
    }

    /// The path whose directory holds this host's lock files.
    pub fn path(&self) -> &Path {
        &self.local
    }

    /// The journal as messages name it.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// This host's name in runs.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn write_error(&self, e: impl ToString) -> JournalError {
        JournalError::Write { at: self.at.clone(), reason: e.to_string() }
    }

    pub(crate) fn read_error(&self, e: impl ToString) -> JournalError {
        JournalError::Read { at: self.at.clone(), reason: e.to_string() }
    }

    /// Inserts the `running` row for a run that is starting and returns its id.
    pub fn begin(&mut self, report: &Report) -> Result<i64, JournalError> {
        let ids = self.insert(State::Running, &[(report, None)])?;
        ids.first().copied().ok_or_else(|| self.write_error("no row was inserted"))
    }

    /// Records runs `serve` accepted but has no worker for yet, each with its request (what a
    /// worker needs to start it, as JSON), in one transaction: callers waiting together are
    /// recorded together. Returns their ids, in order.
    pub fn enqueue(&mut self, runs: &[(&Report, &str)]) -> Result<Vec<i64>, JournalError> {
        let rows: Vec<(&Report, Option<&str>)> =
            runs.iter().map(|&(report, request)| (report, Some(request))).collect();
        self.insert(State::Queued, &rows)
    }

    fn insert(&mut self, state: State, runs: &[(&Report, Option<&str>)]) -> Result<Vec<i64>, JournalError> {
        let pid = std::process::id();
        let start = process_start(pid);
        let result = self.write(|tx| {
            let mut ids = Vec::with_capacity(runs.len());
            for (report, request) in runs {
                ids.push(tx.insert(
                    "INSERT INTO runs (state, cid, filename, pid, pid_start, host, started_ms, report, request)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                    &args![
                        state,
                        report.cid,
                        report.filename_bytes(),
                        pid,
                        start,
                        report.host,
                        now_ms(),
                        report.to_json(),
                        request
                    ],
                )?);
            }
            // A running row's session lock, taken before the row is visible to anyone: what
            // proves this run alive to every host (see `alive`).
            if state == State::Running {
                for id in &ids {
                    self.lock_run(tx, *id)?;
                }
            }
            Ok(ids)
        });
        result.map_err(|e| self.write_error(e))
    }

    /// PostgreSQL: takes the session-level lock of run `id` (held until this connection ends,
    /// or `unlock_all`). SQLite: nothing; the pid in the row does that job on one host.
    fn lock_run(&self, db: &dyn Statements, id: i64) -> Result<(), DbError> {
        if let Db::Postgres(_) = self.db {
            db.query("SELECT pg_advisory_lock(?1)", &args![pg::run_key(id)])?;
        }
        Ok(())
    }

    /// Whether the run of a `running` row is alive. SQLite: its process, by pid and start time
    /// (a row of another host counts as alive). PostgreSQL: whether any session, on any host,
    /// holds the run's lock: the run's own connection holds it from the insert on, and so
    /// does its job, orphaned or not, which inherits that connection's socket.
    fn alive(&self, row_host: &str, pid: i64, start: Option<i64>, id: i64) -> Result<bool, DbError> {
        match self.db {
            Db::Sqlite(_) => Ok(is_alive(pid, start, row_host == self.host)),
            Db::Postgres(_) => {
                let key = pg::run_key(id);
                let free: bool = self
                    .db
                    .query_opt("SELECT pg_try_advisory_lock(?1)", &args![key])?
                    .map_or(Ok(false), |r| r.get(0))?;
                if free {
                    self.db.query("SELECT pg_advisory_unlock(?1)", &args![key])?;
                }
                Ok(!free)
            }
        }
    }

    /// PostgreSQL: takes the cluster-wide lock of file `key` (CID and path within the rule's
    /// root, see `pg::file_key`), trying for up to `wait`; false when another run, of any
    /// host, holds it. SQLite: true; the local lock file is the lock.
    pub fn lock_file(&self, key: i64, wait: Duration, stop: impl Fn() -> bool) -> Result<bool, JournalError> {
        if let Db::Sqlite(_) = self.db {
            return Ok(true);
        }
        let waiting =
            crate::retry::Backoff::within(wait).pauses(Duration::from_millis(5), Duration::from_millis(100));
        let taken = waiting.run(|_| {
            let row = self.db.query_opt("SELECT pg_try_advisory_lock(?1)", &args![key]);
            match row.and_then(|r| r.map_or(Ok(false), |r| r.get::<bool>(0))) {
                Ok(true) => Ok(true),
                Ok(false) if stop() => Err(crate::retry::Failed::Stop(None)),
                Ok(false) => Err(crate::retry::Failed::Retry(None)),
                Err(e) => Err(crate::retry::Failed::Stop(Some(e))),
            }
        });
        match taken {
            Ok(taken) => Ok(taken),
            Err(gave_up) => match gave_up.into_error() {
                Some(e) => Err(self.write_error(e)),
                None => Ok(false),
            },
        }
    }

    /// PostgreSQL: lets go of every lock this connection holds (the file's, the run's) once
    /// the run is recorded, so the next run of the file need not wait for the notifications.
    pub fn unlock_all(&self) {
        if let Db::Postgres(_) = self.db {
            let _ = self.db.query("SELECT pg_advisory_unlock_all()", &[]);
        }
    }

    /// PostgreSQL: this connection's socket, for a job to inherit (see `alive`). None with
    /// SQLite, or when the socket cannot be told apart (a Unix-domain connection).
    pub fn session_socket(&self) -> Option<std::os::fd::OwnedFd> {
        let Db::Postgres(_) = self.db else { return None };
        let port: Option<i64> = self.db.query_opt("SELECT inet_client_port()", &[]).ok()??.get(0).ok()?;
        pg::socket_of_port(u16::try_from(port?).ok()?)
    }

    /// Turns queued run `id` into this process's running run; false when it is not queued
    /// (any more): another worker or service took it.
    pub fn claim(&mut self, id: i64, report: &Report) -> Result<bool, JournalError> {
        let pid = std::process::id();
        let result = self.write(|tx| {
            tx.execute(
                "UPDATE runs SET state = ?2, pid = ?3, pid_start = ?4, started_ms = ?5, report = ?6
                 WHERE id = ?1 AND state = ?7",
                &args![
                    id,
                    State::Running,
                    pid,
                    process_start(pid),
                    now_ms(),
                    report.to_json(),
                    State::Queued
                ],
            )
            .and_then(|changed| {
                // As `insert` does for a run that starts: the lock that proves it alive.
                if changed == 1 {
                    self.lock_run(tx, id)?;
                }
                Ok(changed)
            })
        });
        result.map(|changed| changed == 1).map_err(|e| self.write_error(e))
    }

    /// The queued runs, oldest first: their ids and requests.
    pub fn queued(&self) -> Result<Vec<(i64, String)>, JournalError> {
        let read = || -> Result<Vec<(i64, String)>, DbError> {
            let rows = self.db.query(
                "SELECT id, coalesce(request, '') FROM runs WHERE state = ?1 ORDER BY id",
                &args![State::Queued],
            )?;
            rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
        };
        read().map_err(|e| self.read_error(e))
    }

    /// How many runs are in `state`.
    pub fn count(&self, state: State) -> Result<u64, JournalError> {
        let read = || -> Result<i64, DbError> {
            let row = self.db.query_opt("SELECT count(*) FROM runs WHERE state = ?1", &args![state])?;
            row.map_or(Ok(0), |r| r.get(0))
        };
        read().map(|n| n.max(0) as u64).map_err(|e| self.read_error(e))
    }

    /// Brings a running row up to date before the job starts (rule, canonical file, MD5s,
    /// argv), so a run that dies during the job is reported with everything known about it.
    pub fn checkpoint(&self, report: &Report) -> Result<(), JournalError> {
        let Some(id) = report.run_id else { return Ok(()) };
        let result = self.write(|tx| {
            tx.execute(
                "UPDATE runs SET md5 = ?2, report = ?3 WHERE id = ?1 AND state = ?4",
                &args![id, report.md5.actual, report.to_json(), State::Running],
            )
        });
        result.map(|_| ()).map_err(|e| self.write_error(e))
    }

    /// Completes the run's row with its outcome.
    pub fn finish(&mut self, report: &Report) -> Result<(), JournalError> {
        let Some(id) = report.run_id else { return Ok(()) };
        // This commit is the one that keeps a file from running twice, so it alone waits for
        // the disk (and takes every earlier write of this run with it).
        let durable = |level: &str| match &self.db {
            Db::Sqlite(conn) => conn.pragma_update(None, "synchronous", level).map_err(DbError::from),
            // Every PostgreSQL commit waits for the disk (synchronous_commit on).
            Db::Postgres(_) => Ok(()),
        };
        let result = durable("FULL").and_then(|()| {
            self.write(|tx| {
                tx.execute(
                    "UPDATE runs SET state = ?2, md5 = ?3, exit_code = ?4, finished_ms = ?5, report = ?6
                     WHERE id = ?1",
                    &args![
                        id,
                        State::Ended(report.outcome),
                        report.md5.actual,
                        report.exit_code,
                        now_ms(),
                        report.to_json()
                    ],
                )
            })
        });
        let _ = durable("NORMAL");
        result.map(|_| ()).map_err(|e| self.write_error(e))
    }

    /// The latest successful run of this CID, file name and MD5, if any.
    pub fn previous_success(
        &self,
        cid: &str,
        filename: &[u8],
        md5: &str,
    ) -> Result<Option<Previous>, JournalError> {
        let read = || -> Result<Option<Previous>, DbError> {
            let row = self.db.query_opt(
                "SELECT id, started_ms FROM runs
                 WHERE state = ?4 AND cid = ?1 AND filename = ?2 AND md5 = ?3
                 ORDER BY id DESC LIMIT 1",
                &args![cid, filename, md5, State::Ended(Outcome::Success)],
            )?;
            row.map(|r| Ok(Previous { run_id: r.get(0)?, started_at: rfc3339_ms(r.get(1)?) })).transpose()
        };
        read().map_err(|e| self.write_error(e))
    }

    /// The newest run of this CID and file name that started after `since` and ended in an
    /// outcome that settles the file (see [`Outcome::settles`]): `scan` leaves such a file alone
    /// until it changes again.
    pub fn settled_since(
        &self,
        cid: &str,
        filename: &[u8],
        since: SystemTime,
    ) -> Result<Option<Settled>, JournalError> {
        let since_ms = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let mut args = Vec::from(args![cid, filename, since_ms]);
        let settled = bind_outcomes(&mut args, Outcome::settles);
        let read = || -> Result<Option<Settled>, DbError> {
            let row = self.db.query_opt(
                &format!(
                    "SELECT id, state, started_ms FROM runs
                     WHERE cid = ?1 AND filename = ?2 AND started_ms > ?3 AND state IN {settled}
                     ORDER BY id DESC LIMIT 1"
                ),
                &args,
            )?;
            let Some(r) = row else { return Ok(None) };
            let started_ms: i64 = r.get(2)?;
            Ok(Some(Settled {
                run_id: r.get(0)?,
                outcome: r.get(1)?,
                started: UNIX_EPOCH + Duration::from_millis(started_ms.max(0) as u64),
                started_at: rfc3339_ms(started_ms),
            }))
        };
        read().map_err(|e| self.write_error(e))
    }

    /// The newest run of this CID and file name still marked running, other than `except`:
    /// its id and pid, to name the holder of a lock.
    pub fn running(
        &self,
        cid: &str,
        filename: &[u8],
        except: Option<i64>,
    ) -> Result<Option<(i64, i64)>, JournalError> {
        let read = || -> Result<Option<(i64, i64)>, DbError> {
            let row = self.db.query_opt(
                "SELECT id, pid FROM runs WHERE state = ?4 AND cid = ?1 AND filename = ?2 AND id != ?3
                 ORDER BY id DESC LIMIT 1",
                &args![cid, filename, except.unwrap_or(0), State::Running],
            )?;
            row.map(|r| Ok((r.get(0)?, r.get(1)?))).transpose()
        };
        read().map_err(|e| self.write_error(e))
    }

    /// Runs newest first. A row left `running` by a process that is gone is shown as
    /// `interrupted`.
    pub fn history(&self, filter: &Filter) -> Result<Vec<Run>, JournalError> {
        let mut sql = String::from("SELECT id, state, pid, pid_start, host, report FROM runs WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(id) = filter.id {
            args.push(id.value());
            sql.push_str(&format!(" AND id = ?{}", args.len()));
        }
        if let Some(cid) = &filter.cid {
            args.push(cid.value());
            sql.push_str(&format!(" AND cid = ?{}", args.len()));
        }
        if let Some(name) = &filter.filename {
            args.push(name.value());
            sql.push_str(&format!(" AND filename = ?{}", args.len()));
        }
        if filter.failed {
            sql.push_str(&format!(" AND state NOT IN {}", bind_outcomes(&mut args, Outcome::is_ok)));
        }
        args.push((filter.count as i64).value());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        let read = || -> Result<Vec<Run>, DbError> {
            let mut runs = Vec::new();
            for r in self.db.query(&sql, &args)? {
                let state: State = r.get(1)?;
                let alive = self.alive(&r.get::<String>(4)?, r.get(2)?, r.get(3)?, r.get(0)?)?;
                let mut run: Run = report_at(&r, 5)?;
                run.run_id = Some(r.get(0)?);
                match state {
                    // A run still under way, or waiting, has not failed (yet).
                    State::Queued | State::Running if alive && filter.failed => continue,
                    State::Queued => run.outcome = State::Queued,
                    State::Running if alive => run.outcome = State::Running,
                    State::Running => run.outcome = State::Ended(Outcome::Interrupted(0)),
                    State::Ended(_) => {}
                }
                // A run not recorded as ended has no exit code (yet, or ever).
                if !matches!(state, State::Ended(_)) {
                    run.exit_code = None;
                }
                runs.push(run);
            }
            Ok(runs)
        };
        read().map_err(|e| self.read_error(e))
    }

    /// Records runs whose process died without finishing its row as `interrupted`, so the
    /// history tells the truth, and returns their reports so notifications can follow.
    pub fn reap_interrupted(&mut self) -> Result<Vec<Report>, JournalError> {
        self.mark_interrupted().map_err(|e| self.write_error(e))
    }

    fn mark_interrupted(&mut self) -> Result<Vec<Report>, DbError> {
        // SQLite: only this host's rows can be judged (by pid). PostgreSQL: every host's (by
        // the run's lock), so a run whose host died outright is reaped by the others.
        let rows = match self.db {
            Db::Sqlite(_) => self.db.query(
                "SELECT id, pid, pid_start, report, filename, host FROM runs WHERE state = ?2 AND host = ?1",
                &args![self.host, State::Running],
            )?,
            Db::Postgres(_) => self.db.query(
                "SELECT id, pid, pid_start, report, filename, host FROM runs WHERE state = ?1",
                &args![State::Running],
            )?,
        };
        let mut dead: Vec<(i64, Report)> = Vec::new();
        for r in rows {
            let (id, pid, start) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if self.alive(&r.get::<String>(5)?, pid, start, id)? {
                continue;
            }
            let mut report: Report = report_at(&r, 3)?;
            report.filename_raw = r.get(4)?;
            dead.push((id, interrupted(report, id, pid)));
        }
        if dead.is_empty() {
            return Ok(Vec::new());
        }
        // Only the process whose update changes the row reports it, so two invocations that
        // find the same dead run do not both notify.
        self.write(|tx| {
            let mut reaped = Vec::new();
            for (id, report) in dead {
                let changed = tx.execute(
                    "UPDATE runs SET state = ?4, finished_ms = ?2, report = ?3 WHERE id = ?1 AND state = ?5",
                    &args![id, now_ms(), report.to_json(), State::Ended(report.outcome), State::Running],
                )?;
                if changed == 1 {
                    reaped.push(report);
                }
            }
            Ok(reaped)
        })
    }

    /// Deletes runs older than `retention`, at most once per `PRUNE_EVERY` across all
    /// invocations. Returns how many rows went, or `None` when it was not this one's turn.
    pub fn prune_if_due(&mut self, retention: Duration) -> Result<Option<usize>, JournalError> {
        let now = now_ms();
        let due = |db: &dyn Statements| -> Result<bool, DbError> {
            let last = db.query_opt("SELECT value FROM meta WHERE key = 'last_prune'", &[])?;
            let last: Option<i64> = last.map(|r| r.get(0)).transpose()?;
            Ok(last.is_none_or(|t| now - t >= PRUNE_EVERY.as_millis() as i64))
        };
        if !due(&self.db).map_err(|e| self.write_error(e))? {
            return Ok(None);
        }
        let cutoff = now - retention.as_millis() as i64;
        let result = self.write(|tx| {
            if !due(tx)? {
                return Ok(None);
            }
            let n = tx.execute(
                "DELETE FROM runs WHERE started_ms < ?1 AND state NOT IN (?2, ?3)",
                &args![cutoff, State::Running, State::Queued],
            )?;
            // And the notifications that are settled (delivered, or given up on) as long: a
            // pending one stays whatever its age, until `outbox flush` delivers or gives it up.
            tx.execute(
                "DELETE FROM outbox WHERE created_ms < ?1 AND state IN (?2, ?3)",
                &args![cutoff, crate::outbox::State::Delivered, crate::outbox::State::Dead],
            )?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('last_prune', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &args![now],
            )?;
            Ok(Some(n as usize))
        });
        result.map_err(|e| self.write_error(e))
    }

    /// Statements outside a transaction, for what reads.
    pub(crate) fn db(&self) -> &dyn Statements {
        &self.db
    }

    /// Runs `f` in a write transaction (SQLite: the write lock is taken up front, under the
    /// busy timeout, rather than on the first write, where SQLite cannot wait for it).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, DbError>) -> Result<T, DbError> {
        self.db.write(f)
    }
}

/// The report of run `id` as far as it got, ended as interrupted: which signal stopped it, if
/// any, and so its exit code, are unknown.
fn interrupted(mut report: Report, id: i64, pid: i64) -> Report {
    let outcome = Outcome::Interrupted(0);
    report.run_id = Some(id);
    report.event = crate::report::Event::of(outcome);
    report.outcome = outcome;
    report.exit_code = None;
    report.message = format!(
        "interrupted: ftptrigger (pid {pid}) died before it could record how the run ended (SIGKILL, power loss)"
    );
    // When it died is unknown; this is when it was found dead.
    report.finished_at = rfc3339_ms(now_ms());
    report
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn rfc3339_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
