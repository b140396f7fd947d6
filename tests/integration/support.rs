//! A world per test: a temp dir with a config, an FTP root, a job script, and a builder that
//! runs the real binary against it and asserts on exactly what came out.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

/// MD5 of `content`, computed by the reference crate, as lowercase hex.
pub fn md5_hex(content: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(content))
}

/// SHA-256 of `content`, computed by the `sha2` crate, as lowercase hex.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(content))
}

/// The job most tests use: it records its argv (NUL-separated), its environment and its
/// working directory into the world's `out/` directory, and prints a line.
pub const RECORDING_JOB: &str = r#"#!/bin/sh
out="$(dirname "$0")/out"
mkdir -p "$out"
for a in "$@"; do printf '%s\0' "$a"; done > "$out/argv"
env > "$out/env"
pwd > "$out/pwd"
echo "job ran for $FTPTRIGGER_FILENAME"
"#;

/// A config with one rule for CID `acme`, files `*.zip`, running [`RECORDING_JOB`]: what
/// `Cfg::stmt("")` builds.
pub const BASIC_CONFIG: &str = r#"
[[rule]]
name = "stmt"
cid = "acme"
pattern = "*.zip"
root = "ftp/acme"
command = ["./job.sh", "{file}"]
"#;

/// A config for a test, built from the parts the test cares about; each part is TOML text
/// (`"timeout = \"1s\""`) added to its section.
#[derive(Debug, Clone, Default)]
pub struct Cfg {
    journal: String,
    defaults: String,
    rules: String,
    tail: String,
}

impl Cfg {
    /// Rule `stmt`, as in [`BASIC_CONFIG`], with `extra` lines in the rule.
    pub fn stmt(extra: &str) -> Cfg {
        Cfg::default().rule("stmt", "acme", "*.zip", extra)
    }

    /// A rule `name` for `cid`: files matching `pattern` under `ftp/<cid>`, running
    /// `./job.sh {file}`, with `extra` lines in the rule.
    pub fn rule(self, name: &str, cid: &str, pattern: &str, extra: &str) -> Cfg {
        self.rule_running(name, cid, pattern, r#"["./job.sh", "{file}"]"#, extra)
    }

    /// [`Cfg::rule`] with another `command` (a TOML array).
    pub fn rule_running(mut self, name: &str, cid: &str, pattern: &str, command: &str, extra: &str) -> Cfg {
        self.rules += &format!(
            "\n[[rule]]\nname = \"{name}\"\ncid = \"{cid}\"\npattern = \"{pattern}\"\nroot = \"ftp/{cid}\"\n\
             command = {command}\n{extra}\n"
        );
        self
    }

    pub fn journal(mut self, lines: &str) -> Cfg {
        self.journal += &format!("{lines}\n");
        self
    }

    pub fn defaults(mut self, lines: &str) -> Cfg {
        self.defaults += &format!("{lines}\n");
        self
    }

    /// Text after the rules: channels, or anything a test needs at the end.
    pub fn tail(mut self, text: &str) -> Cfg {
        self.tail += &format!("{text}\n");
        self
    }

    pub fn text(&self) -> String {
        format!("[journal]\n{}\n[defaults]\n{}{}\n{}", self.journal, self.defaults, self.rules, self.tail)
    }
}

pub struct World {
    pub dir: TempDir,
}

impl World {
    /// A world with [`BASIC_CONFIG`] and [`RECORDING_JOB`].
    pub fn new() -> World {
        World::with(BASIC_CONFIG, RECORDING_JOB)
    }

    /// A world with `config` as its config and `job` as `job.sh`.
    pub fn with(config: &str, job: &str) -> World {
        let world = World::empty();
        world.config(config);
        world.script("job.sh", job);
        world
    }

    /// Only the directories: `ftp/acme` exists, nothing else.
    pub fn empty() -> World {
        let dir = tempfile::Builder::new().prefix("ftptrigger-test-").tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("ftp/acme")).expect("root");
        World { dir }
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> PathBuf {
        self.path("ftp/acme")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("ftpscanner.cfg")
    }

    /// Writes the config with mode 0640, as an install gives it to the hook's group (a config
    /// others can write is refused).
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        write_mode(&path, on_the_backend(text).as_bytes(), 0o640);
        path
    }

    /// Writes an executable script relative to the world's dir.
    pub fn script(&self, rel: &str, body: &str) -> PathBuf {
        let path = self.path(rel);
        write_mode(&path, body.as_bytes(), 0o755);
        path
    }

    /// Writes an upload into the root; the name may be any bytes.
    pub fn upload(&self, name: impl AsRef<OsStr>, content: &[u8]) -> PathBuf {
        let path = self.root().join(name.as_ref());
        fs::write(&path, content).expect("write upload");
        path
    }

    /// The job's recorded argv, split at NULs, byte for byte.
    pub fn recorded_argv(&self) -> Vec<OsString> {
        let bytes = fs::read(self.path("out/argv")).expect("the job ran and recorded its argv");
        bytes.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| OsStr::from_bytes(a).to_owned()).collect()
    }

    pub fn recorded(&self, what: &str) -> String {
        fs::read_to_string(self.path("out").join(what)).expect("the job ran and recorded")
    }

    pub fn job_ran(&self) -> bool {
        self.path("out/argv").exists()
    }

    /// `ftptrigger -c <config>` run from the world's dir.
    pub fn cmd(&self) -> Trigger {
        let mut t = self.cmd_no_config();
        t.cmd.arg("-c").arg(self.config_path());
        t
    }

    /// The command without `-c`, run from the world's dir, with the journal (by default) in
    /// the world's `state/`.
    pub fn cmd_no_config(&self) -> Trigger {
        let mut t = Trigger::bare();
        t.cmd.current_dir(self.dir.path()).env("XDG_STATE_HOME", self.journal_dir());
        if let Some(pg) = backend() {
            t.cmd.env(PG_PASSWORD_VAR, &pg.password);
        }
        t
    }

    /// Where the journal lives when the config does not say.
    pub fn journal_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.journal_dir().join("ftptrigger/journal.db")
    }
}

pub fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("parent dir");
    }
    fs::write(path, bytes).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Builds one invocation of the real binary.
pub struct Trigger {
    pub cmd: Command,
    timeout: Duration,
}

impl Trigger {
    /// The binary with a scrubbed environment: nothing from the developer's shell (a
    /// `FTPTRIGGER_CONFIG`, `NO_COLOR`) can change a result.
    pub fn bare() -> Trigger {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftptrigger"));
        cmd.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin").env("HOME", "/nonexistent");
        Trigger { cmd, timeout: Duration::from_secs(60) }
    }

    /// Runs ftptrigger through `sh`, which first opens /dev/null as descriptor 7 without
    /// close-on-exec: what an FTP server that leaks a descriptor to its hook hands us.
    pub fn with_a_leaked_descriptor(mut self) -> Self {
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", "exec 7</dev/null; exec \"$@\"", "sh"])
            .arg(self.cmd.get_program())
            .args(self.cmd.get_args());
        sh.env_clear();
        for (key, value) in self.cmd.get_envs() {
            if let Some(value) = value {
                sh.env(key, value);
            }
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            sh.current_dir(dir);
        }
        self.cmd = sh;
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Fails the test instead of hanging if the binary runs longer than this.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    pub fn run(self) -> Run {
        let mut assert_cmd = assert_cmd::Command::from_std(self.cmd);
        assert_cmd.timeout(self.timeout);
        let output = assert_cmd.output().expect("spawn ftptrigger");
        Run { output }
    }
}

/// What one invocation produced.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn context(&self) -> String {
        format!(
            "\n--- status: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn code(self, expected: i32) -> Self {
        assert_eq!(self.output.status.code(), Some(expected), "wrong exit code{}", self.context());
        self
    }

    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(self.stderr().contains(needle), "stderr lacks {needle:?}{}", self.context());
        self
    }

    pub fn stderr_lacks(self, needle: &str) -> Self {
        assert!(!self.stderr().contains(needle), "stderr has {needle:?}{}", self.context());
        self
    }

    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(self.stdout().contains(needle), "stdout lacks {needle:?}{}", self.context());
        self
    }

    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(self.stdout(), expected, "stdout differs{}", self.context());
        self
    }

    pub fn stderr_is(self, expected: &str) -> Self {
        assert_eq!(self.stderr(), expected, "stderr differs{}", self.context());
        self
    }

    /// stdout parsed as exactly one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let text = self.stdout();
        assert_eq!(text.lines().count(), 1, "expected one JSON line{}", self.context());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON: {e}{}", self.context()))
    }
}

/// True when running as root, where permission-based tests cannot work.
/// The state letter of process `pid` in /proc/PID/stat (`R`, `S`, `T` stopped, `Z` zombie...),
/// or `None` when there is no such process.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold anything; the state follows the last `)`.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// True once `pid` has ended: no such process, or a zombie nobody has reaped (in a container,
/// PID 1 may never reap orphans).
pub fn is_gone(pid: i32) -> bool {
    let Some(p) = rustix::process::Pid::from_raw(pid) else { return true };
    rustix::process::test_kill_process(p).is_err() || process_state(pid).is_none_or(|state| state == 'Z')
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// --- the journal, background runs and waiting (journal and concurrency tests) ---------------

/// One row of the journal's `runs` table, as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    pub state: String,
    pub exit_code: Option<i64>,
    pub finished: bool,
}

impl World {
    /// The journal at [`World::journal_path`], opened directly with SQLite.
    pub fn journal(&self) -> rusqlite::Connection {
        open_journal(&self.journal_path())
    }

    /// The rows of the journal at `path`, oldest first; none when there is no journal.
    pub fn journal_rows(&self) -> Vec<JournalRow> {
        match backend() {
            Some(pg) => pg.rows(),
            None => journal_rows_at(&self.journal_path()),
        }
    }
}

pub fn open_journal(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("open journal {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    conn
}

pub fn journal_rows_at(path: &Path) -> Vec<JournalRow> {
    if !path.exists() {
        return Vec::new();
    }
    let conn = open_journal(path);
    // A journal being created by an invocation that is starting may not have its tables yet.
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'", [], |r| {
            r.get(0)
        })
        .expect("read schema");
    if tables == 0 {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare("SELECT id, state, exit_code, finished_ms IS NOT NULL FROM runs ORDER BY id")
        .expect("query runs");
    let rows = stmt
        .query_map([], |r| {
            Ok(JournalRow { id: r.get(0)?, state: r.get(1)?, exit_code: r.get(2)?, finished: r.get(3)? })
        })
        .expect("query runs");
    rows.collect::<Result<_, _>>().expect("read runs")
}

/// Polls `done` every 20 ms; fails the test naming `what` if it is still false after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "gave up after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` at most `limit`; past it, kills it and fails the test naming `what`.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An invocation running in the background, its output going to anonymous temp files.
/// Dropped while still running, it is SIGKILLed and reaped, so a failing test leaves nothing.
pub struct Background {
    child: Option<std::process::Child>,
    stdout: fs::File,
    stderr: fs::File,
    timeout: Duration,
}

impl Trigger {
    /// Starts the invocation without waiting for it; stdin is /dev/null.
    pub fn spawn(mut self) -> Background {
        let stdout = tempfile::tempfile().expect("temp file");
        let stderr = tempfile::tempfile().expect("temp file");
        self.cmd
            .stdin(std::process::Stdio::null())
            .stdout(stdout.try_clone().expect("dup"))
            .stderr(stderr.try_clone().expect("dup"));
        let child = self.cmd.spawn().expect("spawn ftptrigger");
        Background { child: Some(child), stdout, stderr, timeout: self.timeout }
    }
}

impl Background {
    pub fn pid(&self) -> rustix::process::Pid {
        let child = self.child.as_ref().expect("not waited for yet");
        rustix::process::Pid::from_child(child)
    }

    /// Sends `signal` to ftptrigger itself (not to its process group).
    pub fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(self.pid(), signal).expect("signal ftptrigger");
    }

    /// Waits for the end, at most the [`Trigger::timeout`]; past it ftptrigger is killed and
    /// the test fails.
    pub fn wait(mut self) -> Run {
        use std::io::{Read, Seek};
        let mut child = self.child.take().expect("waited for once");
        let status = wait_or_kill(&mut child, self.timeout, "ftptrigger");
        let read = |f: &mut fs::File| {
            let mut bytes = Vec::new();
            f.rewind().and_then(|()| f.read_to_end(&mut bytes)).expect("read output");
            bytes
        };
        let (stdout, stderr) = (read(&mut self.stdout), read(&mut self.stderr));
        Run { output: Output { status, stdout, stderr } }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// --- the system-wide config, which one test creates -----------------------------------------

pub const SYSTEM_CONFIG: &str = "/etc/ftptrigger/ftpscanner.cfg";

static SYSTEM_CONFIG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held by each test whose result depends on whether [`SYSTEM_CONFIG`] exists, since one test
/// creates it. `None`, with a note, when the machine has one of its own: tests never touch it.
pub fn no_system_config(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = SYSTEM_CONFIG_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if Path::new(SYSTEM_CONFIG).exists() {
        eprintln!("skipped {test}: this machine has {SYSTEM_CONFIG}");
        return None;
    }
    Some(guard)
}

/// A throwaway [`SYSTEM_CONFIG`], removed on drop (with its directory, when this made it).
pub struct SystemConfig {
    made_dir: bool,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl SystemConfig {
    /// `None`, with a note, when not root or when the machine has one of its own.
    pub fn install(text: &str, test: &str) -> Option<SystemConfig> {
        if !is_root() {
            eprintln!("skipped {test}: only root may write {SYSTEM_CONFIG}");
            return None;
        }
        let lock = no_system_config(test)?;
        let dir = Path::new(SYSTEM_CONFIG).parent().expect("a directory");
        let installed = SystemConfig { made_dir: !dir.exists(), _lock: lock };
        write_mode(Path::new(SYSTEM_CONFIG), text.as_bytes(), 0o600);
        Some(installed)
    }
}

impl Drop for SystemConfig {
    fn drop(&mut self) {
        let _ = fs::remove_file(SYSTEM_CONFIG);
        if self.made_dir {
            let _ = fs::remove_dir(Path::new(SYSTEM_CONFIG).parent().expect("a directory"));
        }
    }
}

// --- the PostgreSQL journal, for tests that run as they are against both backends ----------

/// The variable a config made for PostgreSQL names as its `password_env`.
const PG_PASSWORD_VAR: &str = "FTPTRIGGER_TEST_PGPASS";

/// The database the tests of this thread use instead of a SQLite file (see [`on_postgresql`]).
#[derive(Clone)]
pub struct PgBackend {
    /// Without the password.
    url: String,
    /// With it, for `psql`.
    full: String,
    password: String,
}

thread_local! {
    static BACKEND: std::cell::RefCell<Option<PgBackend>> = const { std::cell::RefCell::new(None) };
}

fn backend() -> Option<PgBackend> {
    BACKEND.with(|b| b.borrow().clone())
}

/// Until the guard is dropped, the worlds of this thread keep their journal in a fresh
/// PostgreSQL database: configs get `[journal] url` (unless they name a journal themselves),
/// invocations its password, and `journal_rows` reads it. None, after saying why, when there
/// is no PostgreSQL server to be had. A test written for SQLite that reads the journal only
/// through the binary and `journal_rows` runs unchanged against PostgreSQL inside it.
pub fn on_postgresql(hint: &str) -> Option<impl Drop> {
    let pg = crate::pg_support::server()?;
    let full = pg.fresh_database(hint);
    let url = full.replacen(&format!(":{}@", pg.password()), "@", 1);
    BACKEND.with(|b| *b.borrow_mut() = Some(PgBackend { url, full, password: pg.password().to_owned() }));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            BACKEND.with(|b| *b.borrow_mut() = None);
        }
    }
    Some(Reset)
}

/// Runs each of `tests` (written for SQLite) again inside [`on_postgresql`], each in a fresh
/// database named after it; none when there is no PostgreSQL server to be had.
pub fn run_on_postgresql(tests: &[(&str, fn())]) {
    for (name, test) in tests {
        let Some(_journal) = on_postgresql(name) else { return };
        eprintln!("on PostgreSQL: {name}");
        test();
    }
}

/// `text` with its journal in this thread's PostgreSQL database, if there is one.
fn on_the_backend(text: &str) -> String {
    let Some(pg) = backend() else { return text.to_owned() };
    let lines = format!("url = \"{}\"\npassword_env = \"{PG_PASSWORD_VAR}\"\n", pg.url);
    match text.find("[journal]\n") {
        // A config that names its own journal keeps it.
        Some(at)
            if text[at..]
                .split("\n[")
                .next()
                .is_some_and(|s| s.contains("path =") || s.contains("url =")) =>
        {
            text.to_owned()
        }
        Some(at) => {
            format!("{}{lines}{}", &text[..at + "[journal]\n".len()], &text[at + "[journal]\n".len()..])
        }
        None => format!("[journal]\n{lines}\n{text}"),
    }
}

impl World {
    /// Everything the journal holds, as text: the SQLite file and its WAL byte for byte, or
    /// every table of the PostgreSQL database; each with what it is.
    pub fn journal_contents(&self) -> Vec<(String, String)> {
        if let Some(pg) = backend() {
            let server = crate::pg_support::server().expect("the server of this backend");
            return ["runs", "outbox", "events", "meta"]
                .iter()
                .filter_map(|table| {
                    let text = server.sql(&pg.full, &format!("SELECT * FROM {table}")).ok()?;
                    Some((format!("table {table}"), text))
                })
                .collect();
        }
        let wal = PathBuf::from(format!("{}-wal", self.journal_path().display()));
        [self.journal_path(), wal]
            .into_iter()
            .filter_map(|file| {
                let bytes = fs::read(&file).ok()?;
                Some((file.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()))
            })
            .collect()
    }
}

impl PgBackend {
    fn rows(&self) -> Vec<JournalRow> {
        let pg = crate::pg_support::server().expect("the server of this backend");
        let sql = "SELECT id, state, coalesce(exit_code, -1), finished_ms IS NOT NULL FROM runs ORDER BY id";
        let Ok(out) = pg.sql(&self.full, sql) else { return Vec::new() };
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split('|').collect();
                JournalRow {
                    id: f[0].parse().expect("an id"),
                    state: f[1].to_owned(),
                    exit_code: f[2].parse::<i64>().ok().filter(|c| *c >= 0),
                    finished: f[3] == "t",
                }
            })
            .collect()
    }
}
