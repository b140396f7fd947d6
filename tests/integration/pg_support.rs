//! A PostgreSQL server for the journal tests: one throwaway cluster shared by the whole test
//! process ([`server`]), clusters of a test's own ([`private`]) for tests that stop and start
//! the database, or the server `FTPTRIGGER_TEST_PG_URL` names. Each test takes a database of its
//! own ([`PgServer::fresh_database`]).
//!
//! A throwaway cluster needs root (PostgreSQL will not run as root, so `initdb` and `pg_ctl` run
//! as the `postgres` user) and the server binaries (`tests/pg/setup-postgres.sh` installs them);
//! it lives in a temp dir, listens on 127.0.0.1 and a free port only, and takes passwords
//! (scram-sha-256) for a superuser `postgres` with a password made up per cluster.
//!
//! Cleanup. The test harness runs tests on threads of one process and never drops statics, and
//! `pg_ctl` detaches the server from whoever started it (a session of its own), so nothing in
//! the process can be relied on to stop the shared cluster. Each cluster therefore has a keeper:
//! a small `sh` (started first, in a process group of its own so a Ctrl-C at the terminal does
//! not cut its cleanup short) that runs every `initdb` and `pg_ctl` of the cluster, one at a
//! time, as the test process asks for them on its stdin. That stdin is a pipe whose only writer
//! is the test process (Rust opens pipes close-on-exec, so no other child holds it): the kernel
//! closes it when the process ends, however it ends (return, panic, SIGKILL). The keeper then
//! finishes the command it is running, if any (so a start under way cannot outlive the cleanup),
//! runs `pg_ctl stop -m immediate` and removes the temp dir. A private cluster closes the pipe
//! on drop and waits for its keeper: when the drop returns, the cluster and its files are gone.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crate::ftp_support::{find_tool, free_port, skip_or_fail};
use crate::support::is_root;

/// The superuser of a throwaway cluster (KEEPER spells it out too).
const SUPERUSER: &str = "postgres";
/// The OS account the throwaway clusters run as (KEEPER spells it out too).
const OS_USER: &str = "postgres";

/// A PostgreSQL server the tests may use: a throwaway cluster, or `FTPTRIGGER_TEST_PG_URL`'s.
pub struct PgServer {
    /// `postgres://user:password@host:port`, as given (percent-encoding kept).
    base: String,
    /// `?...` after the database in `FTPTRIGGER_TEST_PG_URL` (sslmode and the like), or "".
    query: String,
    /// The database `CREATE DATABASE` is run in.
    admin_db: String,
    port: u16,
    password: String,
    psql: PathBuf,
    cluster: Option<Cluster>,
}

/// A cluster this process started, through its keeper.
struct Cluster {
    /// The temp dir: data directory, socket, log.
    dir: PathBuf,
    /// None once dropped; the lock also keeps commands one at a time.
    keeper: Mutex<Option<Keeper>>,
}

/// The keeper `sh` (see the module's comment): a command line to its stdin, an exit status line
/// back, the command's output in `DIR/out`. Closing `stdin` stops the cluster.
struct Keeper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The server shared by every test in this process: started by the first call, reused by the
/// rest. None, after printing why, when there is none to be had (on CI that is a failure).
pub fn server() -> Option<&'static PgServer> {
    static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var("FTPTRIGGER_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => PgServer::external(&url),
        _ => PgServer::throwaway(),
    });
    match shared {
        Ok(server) => Some(server),
        Err(reason) => {
            skip_or_fail(&current_test(), reason);
            None
        }
    }
}

/// A cluster of the caller's own, stopped and removed when it is dropped: for tests that stop
/// and start the database, which would disturb every other test on the shared one. Needs root
/// even when `FTPTRIGGER_TEST_PG_URL` is set.
pub fn private() -> Option<PgServer> {
    if !is_root() {
        skip_or_fail(
            &current_test(),
            "a private cluster needs root (FTPTRIGGER_TEST_PG_URL serves only shared tests)",
        );
        return None;
    }
    match PgServer::throwaway() {
        Ok(server) => Some(server),
        Err(reason) => {
            skip_or_fail(&current_test(), &reason);
            None
        }
    }
}

/// The running test's name: the harness names each test's thread after it.
fn current_test() -> String {
    std::thread::current().name().unwrap_or("a PostgreSQL test").to_string()
}

impl PgServer {
    /// `postgres://…/db` for database `db` on this server, password included.
    pub fn url_for(&self, db: &str) -> String {
        format!("{}/{db}{}", self.base, self.query)
    }

    /// Creates a database no other call (in any test process) gets, and returns its URL.
    /// `name_hint` (say, the test's name) makes it recognisable; the rest makes it unique.
    pub fn fresh_database(&self, name_hint: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let hint: String = name_hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(32)
            .collect();
        let name = format!(
            "ftpt_{hint}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        self.sql(&self.admin_db, &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        self.url_for(&name)
    }

    /// The password of the URLs ("" when `FTPTRIGGER_TEST_PG_URL` has none): tests check that it
    /// appears in no output.
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` with `psql` in database `db` (a name or a whole URL), tuples only, unaligned:
    /// the rows, `|` between columns. For looking at a journal from outside.
    pub fn sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let url = if db.contains("://") { db.to_string() } else { self.url_for(db) };
        psql_url(&self.psql, &url, sql)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections drop, as in a crash).
    /// On the shared server this disturbs every test running: use a [`private`] one.
    /// A private cluster only: serves TLS with `cert` and `key` (PEM) from now on (restarts it).
    pub fn enable_tls(&self, cert: &str, key: &str) {
        let cluster = self.cluster.as_ref().expect("a cluster of this process");
        let data = cluster.dir.join("data");
        let owner =
            std::fs::metadata(&data).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).expect("data dir");
        for (name, text, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write the TLS file");
            std::os::unix::fs::chown(&path, Some(owner), None).expect("chown");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .expect("chmod");
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).expect("postgresql.conf");
        self.stop();
        self.start();
    }

    pub fn stop(&self) {
        self.cluster("stop").run("stop").unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts it again, on the same port, and waits until it accepts connections.
    pub fn start(&self) {
        self.cluster("start").run(&format!("start {}", self.port)).unwrap_or_else(|e| panic!("{e}"));
    }

    fn cluster(&self, what: &str) -> &Cluster {
        self.cluster.as_ref().unwrap_or_else(|| {
            panic!("cannot {what} the server of FTPTRIGGER_TEST_PG_URL: use pg_support::private()")
        })
    }

    /// The server `url` names; `CREATE DATABASE` runs in its database.
    fn external(url: &str) -> Result<PgServer, String> {
        let bad = || {
            format!("FTPTRIGGER_TEST_PG_URL is not postgres://user:password@host:port/db: {}", redact(url))
        };
        let rest =
            url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")).ok_or_else(bad)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (db, query) = path.split_once('?').map_or((path, ""), |(db, q)| (db, q));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let password = userinfo.split_once(':').map(|(_, p)| percent_decode(p)).unwrap_or_default();
        let port = match hostport.rsplit_once(':') {
            Some((_, port)) if !port.ends_with(']') => port.parse().map_err(|_| bad())?,
            _ => 5432,
        };
        let psql = pg_bin("psql").ok_or("FTPTRIGGER_TEST_PG_URL is set but psql is not installed")?;
        let server = PgServer {
            base: format!("postgres://{authority}"),
            query: if query.is_empty() { String::new() } else { format!("?{query}") },
            admin_db: if db.is_empty() { "postgres".to_string() } else { percent_decode(db) },
            port,
            password,
            psql,
            cluster: None,
        };
        server
            .sql(&server.admin_db, "SELECT 1")
            .map_err(|e| format!("FTPTRIGGER_TEST_PG_URL ({}) does not answer: {e}", redact(url)))?;
        Ok(server)
    }

    /// Starts a cluster in a temp dir of its own, through its keeper.
    fn throwaway() -> Result<PgServer, String> {
        if !is_root() {
            return Err("needs root or FTPTRIGGER_TEST_PG_URL".to_string());
        }
        let missing = |tool| format!("{tool} not found (tests/pg/setup-postgres.sh installs PostgreSQL)");
        let initdb = pg_bin("initdb").ok_or_else(|| missing("initdb"))?;
        let pg_ctl = pg_bin("pg_ctl").ok_or_else(|| missing("pg_ctl"))?;
        let psql = pg_bin("psql").ok_or_else(|| missing("psql"))?;
        let (uid, gid) = os_user().ok_or(format!("no {OS_USER} account to run PostgreSQL as"))?;
        let runuser = find_tool("runuser").ok_or("runuser not found")?;

        let dir = tempfile::Builder::new()
            .prefix("ftptrigger-pg-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            .keep();
        let keeper = Keeper::spawn(&runuser, &initdb, &pg_ctl, &dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            format!("cannot start the cluster's keeper: {e}")
        })?;
        let cluster = Cluster { dir, keeper: Mutex::new(Some(keeper)) };
        // From here on, dropping `cluster` (an error included) stops it and removes the dir.
        std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;

        let password = uuid::Uuid::new_v4().simple().to_string();
        let pwfile = cluster.dir.join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).map_err(|e| format!("pwfile: {e}"))?;
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
        let started = Instant::now();
        cluster.run("initdb")?;

        // A free port can be taken by someone else before the server binds it: a few tries.
        let mut tries = 0;
        let port = loop {
            let port = free_port();
            match cluster.run(&format!("start {port}")) {
                Ok(()) => break port,
                Err(e) if tries < 2 && e.contains("could not bind") => tries += 1,
                Err(e) => return Err(e),
            }
        };
        let server = PgServer {
            base: format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}"),
            query: String::new(),
            admin_db: "postgres".to_string(),
            port,
            password,
            psql,
            cluster: Some(cluster),
        };
        // Over TCP with the password, as ftptrigger will connect.
        server.sql("postgres", "SELECT 1").map_err(|e| format!("the new cluster does not answer: {e}"))?;
        eprintln!(
            "pg_support: PostgreSQL on 127.0.0.1:{port}, initdb and start took {:.1?}",
            started.elapsed()
        );
        Ok(server)
    }
}

impl Cluster {
    /// Has the keeper run `command` (`initdb`, `start PORT`, `stop`); an error with its output.
    fn run(&self, command: &str) -> Result<(), String> {
        let mut keeper = self.keeper.lock().unwrap_or_else(|e| e.into_inner());
        let keeper = keeper.as_mut().ok_or("the cluster is gone")?;
        let mut status = String::new();
        writeln!(keeper.stdin, "{command}")
            .and_then(|()| keeper.stdin.flush())
            .and_then(|()| keeper.stdout.read_line(&mut status))
            .map_err(|e| format!("{command}: the cluster's keeper: {e}"))?;
        match status.trim() {
            "0" => Ok(()),
            status => {
                let out = std::fs::read_to_string(self.dir.join("out")).unwrap_or_default();
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                Err(format!("{command}: exit status {status:?}:\n{out}\nserver log:\n{log}"))
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let Keeper { mut child, stdin, stdout } = keeper;
            drop(stdin);
            drop(stdout);
            let _ = child.wait();
        }
    }
}

/// The keeper: `sh -c KEEPER sh RUNUSER INITDB PG_CTL DIR`. Each command's output goes to
/// DIR/out, not to the pipes, so no server it starts holds them. The server: no fsync (the
/// cluster is thrown away, and what the kernel holds survives a server crash), but commits still
/// wait for their WAL write, so a committed row survives `stop` as it would a real crash.
/// SIGPIPE ignored: a status nobody reads any more must not kill it before it cleans up.
const KEEPER: &str = r#"
trap '' PIPE INT HUP
runuser=$1 initdb=$2 pg_ctl=$3 dir=$4
cd "$dir" || exit 1
as_postgres() { "$runuser" -u postgres -- "$@" <"/dev/null" >"$dir/out" 2>&1; }
while read -r command port; do
    case $command in
    initdb)
        as_postgres "$initdb" -D "$dir/data" --pwfile="$dir/pwfile" -U postgres --auth=scram-sha-256 \
            -E UTF8 --locale=C --no-sync
        status=$?
        rm -f "$dir/pwfile"
        ;;
    start)
        as_postgres "$pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/log" \
            -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        status=$?
        ;;
    stop)
        as_postgres "$pg_ctl" stop -w -t 60 -m immediate -D "$dir/data"
        status=$?
        ;;
    *) status=127 ;;
    esac
    echo "$status"
done
cd /
if [ -f "$dir/data/postmaster.pid" ]; then
    "$runuser" -u postgres -- "$pg_ctl" stop -w -t 60 -m immediate -D "$dir/data" </dev/null >/dev/null 2>&1
fi
rm -rf "$dir"
"#;

impl Keeper {
    fn spawn(runuser: &Path, initdb: &Path, pg_ctl: &Path, dir: &Path) -> std::io::Result<Keeper> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(KEEPER)
            .arg("sh")
            .args([runuser, initdb, pg_ctl, dir])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .current_dir("/")
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Keeper { child, stdin, stdout })
    }
}

fn checked(out: Output) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// `psql` against `url`, the password handed over in PGPASSWORD rather than on the command line
/// (where `ps` shows it). The caller's PG* variables are left out so they cannot redirect it.
fn psql_url(psql: &Path, url: &str, sql: &str) -> Result<String, String> {
    let (url, password) = split_password(url);
    let mut command = Command::new(psql);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.env("PGCONNECT_TIMEOUT", "10").current_dir("/").stdin(Stdio::piped());
    command.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f", "-"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", psql.display()))?;
    // The SQL on stdin: `-c` would show it in `ps`, and it may hold a secret too.
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(sql.as_bytes())
        .map_err(|e| format!("psql stdin: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    checked(out)?;
    Ok(stdout)
}

/// `url` without its password, and the password (percent-decoded).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), None) };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, hostport)) = authority.rsplit_once('@') else { return (url.to_string(), None) };
    let Some((user, password)) = userinfo.split_once(':') else { return (url.to_string(), None) };
    (format!("{scheme}://{user}@{hostport}{tail}"), Some(percent_decode(password)))
}

/// `url` with its password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    match split_password(url) {
        (bare, Some(_)) => bare.replacen('@', ":***@", 1),
        (bare, None) => bare,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server program: from the newest /usr/lib/postgresql/VERSION/bin (Debian keeps initdb and
/// pg_ctl only there), else the usual system directories.
fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin").join(name)))
        })
        .collect();
    versions.sort();
    versions.into_iter().rev().map(|(_, path)| path).find(|path| path.is_file()).or_else(|| find_tool(name))
}

/// The uid and gid of [`OS_USER`], from `getent passwd`.
fn os_user() -> Option<(u32, u32)> {
    let out = Command::new("getent").args(["passwd", OS_USER]).output().ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    let mut fields = line.trim_end().split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

// --- the tests of this module ---------------------------------------------------------------

#[test]
fn a_fresh_database_answers_over_its_url() {
    let Some(pg) = server() else { return };
    let url = pg.fresh_database("select one");
    assert_eq!(pg.sql(&url, "SELECT 1").unwrap(), "1");
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    assert_eq!(pg.sql(&url, "SELECT current_database()").unwrap(), name);
    assert!(url.contains(&format!(":{}/", pg.port())), "{}", redact(&url));

    let other = pg.fresh_database("select one");
    assert_ne!(url, other, "every call gets a database of its own");
    assert!(std::ptr::eq(pg, server().unwrap()), "one shared server per process");
}

#[test]
fn a_throwaway_cluster_wants_its_password() {
    let Some(pg) = server() else { return };
    if pg.cluster.is_none() {
        return; // FTPTRIGGER_TEST_PG_URL's server has its own rules
    }
    assert_eq!(pg.password().len(), 32);
    let url = pg.fresh_database("password");
    let wrong = url.replace(pg.password(), "not-the-password");
    let err = pg.sql(&wrong, "SELECT 1").unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn a_private_cluster_stops_and_starts_again() {
    let Some(pg) = private() else { return };
    let url = pg.fresh_database("restart");
    pg.sql(&url, "CREATE TABLE t (n int); INSERT INTO t VALUES (42)").unwrap();

    pg.stop();
    let err = pg.sql(&url, "SELECT 1").unwrap_err();
    assert!(err.contains("Connection refused") || err.contains("connection refused"), "{err}");

    pg.start();
    assert_eq!(pg.sql(&url, "SELECT n FROM t").unwrap(), "42");

    let dir = pg.cluster("inspect").dir.clone();
    drop(pg);
    assert!(!dir.exists(), "{} is left after drop", dir.display());
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new(), "the cluster outlived its drop");
}

/// The command lines of the processes that name `path` in theirs (a postmaster names its data
/// directory).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

#[test]
fn urls_lose_their_password_for_psql_and_messages() {
    let (bare, password) = split_password("postgres://u:p%40ss@127.0.0.1:5433/db?sslmode=disable");
    assert_eq!(bare, "postgres://u@127.0.0.1:5433/db?sslmode=disable");
    assert_eq!(password.as_deref(), Some("p@ss"));
    assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    assert_eq!(split_password("postgres://h/db"), ("postgres://h/db".to_string(), None));
}
