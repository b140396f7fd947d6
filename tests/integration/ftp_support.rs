//! What the real-FTP-server tests share (`ftp`, `ftp_proftpd`, `ftp_vsftpd`): finding the tools
//! and saying why a test skips, servers that die with their test, throwaway system accounts and
//! `/etc` files, uploads with `curl -T`, and the journal read from outside.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::{World, md5_hex, write_mode};

/// The FTP password every test login has.
pub const PASSWORD: &str = "ftptrigger-test";
/// `PASSWORD` as SHA-512 crypt, made with `perl -e 'print crypt("ftptrigger-test", q($6$ftptriggertest$))'`:
/// quick to check, and understood by pure-ftpd, ProFTPD's `AuthUserFile` and `/etc/shadow` alike.
pub const PASSWORD_HASH: &str = concat!(
    "$6$ftptriggertest$",
    "MTeLVbr4ZUhm8b0qzaUFvrIRDEQFxKizqp7K9xoIzgT8RAcpoJ/IKJyStX1Fw0DP4ktbHaoY6H8A3C6AQPjNg."
);

/// How long any one thing may take before a test gives up.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Where `tests/ftp/setup-servers.sh` unpacks the servers that cannot be installed beside
/// pure-ftpd (`FTPTRIGGER_TEST_SERVERS`, as for the script).
pub fn unpacked_servers() -> PathBuf {
    std::env::var_os("FTPTRIGGER_TEST_SERVERS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ftptrigger-test"))
}

/// `name` in the usual system directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// util-linux's setpriv when it knows `--pdeathsig` (2.33 and later): servers started through it
/// are killed by the kernel when the test thread that started them dies.
fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            find_tool("setpriv").filter(|setpriv| {
                Command::new(setpriv)
                    .arg("--help")
                    .output()
                    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--pdeathsig"))
            })
        })
        .as_deref()
}

/// On CI (root, with `tests/ftp/setup-servers.sh` run before) a server test must really run:
/// there a reason to skip is a failure. Elsewhere it is printed and the test passes.
pub fn skip_or_fail(test: &str, reason: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("the {test} test cannot run on CI: {reason}");
    }
    skip(test, reason);
}

pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}…: {reason}");
}

// --- processes ------------------------------------------------------------------------------

/// A server in a process group of its own: on drop the whole group (its sessions, their hooks)
/// is SIGKILLed and the server reaped. Jobs that ftptrigger started are in groups of their own
/// and end by themselves; tests wait for them before they finish.
pub struct Daemon {
    name: &'static str,
    child: Child,
}

impl Daemon {
    pub fn spawn(name: &'static str, program: &Path, configure: impl FnOnce(&mut Command)) -> Daemon {
        use std::os::unix::process::CommandExt;
        let mut cmd = match setpriv() {
            Some(setpriv) => {
                let mut cmd = Command::new(setpriv);
                cmd.args(["--pdeathsig", "KILL", "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.stdin(Stdio::null()).process_group(0);
        configure(&mut cmd);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon { name, child }
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name))
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The group is ours (made at spawn) and its id cannot be reused while it has members.
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`; an error if one of `daemons`
/// exits first or it takes longer than [`LIMIT`].
pub fn wait_listening(port: u16, daemons: &mut [&mut Daemon]) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        for daemon in daemons.iter_mut() {
            if let Some(status) = daemon.exited() {
                return Err(format!("{} exited ({status}) before 127.0.0.1:{port} listened", daemon.name()));
            }
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listened on 127.0.0.1:{port} within {LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `done` every 20 ms for at most [`LIMIT`]; then fails naming `what`, with `diagnostics`.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool, diagnostics: impl Fn() -> String) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "gave up after {LIMIT:?} waiting for {what}{}", diagnostics());
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- uploads --------------------------------------------------------------------------------

/// `curl -T` into the home of one login on 127.0.0.1:`port`.
pub struct FtpClient {
    pub curl: PathBuf,
    pub port: u16,
    pub login: String,
    /// Where the files to upload are written first.
    pub outgoing: PathBuf,
}

impl FtpClient {
    /// Uploads `content` as `name`; curl's complaint when it fails.
    pub fn upload(&self, name: &str, content: &[u8]) -> Result<(), String> {
        let local = self.outgoing.join(name);
        write_mode(&local, content, 0o644);
        let out = Command::new(&self.curl)
            .args(["--silent", "--show-error", "--max-time", "30", "--connect-timeout", "10"])
            .arg("--user")
            .arg(format!("{}:{PASSWORD}", self.login))
            .arg("-T")
            .arg(&local)
            .arg(format!("ftp://127.0.0.1:{}/", self.port))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("curl -T {name} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }
}

// --- a server under test -------------------------------------------------------------------

/// What the server tests drive: uploads with `curl -T`, and, for a server that runs a hook per
/// upload, the hook's log in `hook.log` of the test's directory.
pub trait Server {
    fn client(&self) -> &FtpClient;
    /// The test's directory: the world, with the server's own files.
    fn dir(&self) -> &Path;
    /// The logs in [`Server::dir`] worth seeing when something went wrong, in order.
    fn logs(&self) -> &'static [&'static str];
    /// Where the customer's uploads land.
    fn uploads(&self) -> PathBuf;

    /// Everything worth seeing when something went wrong: each log, then the uploads there.
    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for log in self.logs() {
            out.push_str(&format!("\n--- {log}:\n{}", read(&self.dir().join(log))));
        }
        out + &format!("\n--- files:\n{:?}", names_in(&self.uploads()))
    }

    /// `curl -T` of `content` as NAME; fails the test if curl does.
    fn upload(&self, name: &str, content: &[u8]) {
        if let Err(why) = self.client().upload(name, content) {
            panic!("{why}{}", self.diagnostics());
        }
    }

    fn hook_log(&self) -> String {
        read(&self.dir().join("hook.log"))
    }

    /// Polls the hook's log until `done` says so, for at most [`LIMIT`]: the hook runs
    /// asynchronously, after the server has finished the upload.
    fn wait_for_log(&self, what: &str, done: impl Fn(&str) -> bool)
    where
        Self: Sized,
    {
        wait_for(what, || done(&self.hook_log()), || self.diagnostics());
    }
}

/// The contents [`upload_pairs`] sent: A, B and D with their sidecars, C with a wrong one.
pub struct Pairs {
    pub a: &'static [u8],
    pub b: &'static [u8],
    pub c: &'static [u8],
    pub d: &'static [u8],
}

/// The uploads every hooked server gets, each handled before the next: A then its sidecar (the
/// first hook waits, the second runs the job, as `uid`); B's sidecar first (bare hex, upper case),
/// then B; D and its sidecar back to back (both hooks may see both files: ftptrigger's lock and
/// duplicate check still run the job once); then C, and once its hook waits, a sidecar that
/// gives another MD5 (had both hooks seen both files, each would report the mismatch). What the
/// mismatch comes to is the caller's to check.
pub fn upload_pairs(server: &impl Server, world: &World, uid: u32) -> Pairs {
    let pairs = Pairs {
        a: b"id,amount\n1,10\n2,20\n",
        b: b"id,amount\n3,30\n",
        c: b"id,amount\n5,50\n",
        d: b"id,amount\n4,40\n",
    };
    server.upload("A.csv", pairs.a);
    server.wait_for_log("the hook to see A.csv wait for its sidecar", |log| {
        count(log, "/A.csv: waiting for the sidecar") == 1
    });
    server.upload("A.csv.md5", format!("{}  A.csv\n", md5_hex(pairs.a)).as_bytes());
    server.wait_for_log("the hook to run A.csv", |log| count(log, "/A.csv: done (ftptrigger exit 0)") == 1);
    assert_eq!(
        job_runs(world),
        vec![format!("A.csv {} {uid}", md5_hex(pairs.a))],
        "{}",
        server.diagnostics()
    );

    server.upload("B.csv.md5", format!("{}\n", md5_hex(pairs.b).to_uppercase()).as_bytes());
    server.wait_for_log("the hook to see B.csv.md5 wait for its data file", |log| {
        count(log, "/B.csv.md5: waiting for the data file") == 1
    });
    server.upload("B.csv", pairs.b);
    server.wait_for_log("the hook to run B.csv", |log| count(log, "/B.csv: done (ftptrigger exit 0)") == 1);

    server.upload("D.csv", pairs.d);
    server.upload("D.csv.md5", format!("MD5 (D.csv) = {}\n", md5_hex(pairs.d)).as_bytes());
    server.wait_for_log("the hook to handle both D uploads", |log| both_handled(log, "D.csv"));

    server.upload("C.csv", pairs.c);
    server.wait_for_log("the hook to see C.csv wait for its sidecar", |log| {
        count(log, "/C.csv: waiting for the sidecar") == 1
    });
    server.upload("C.csv.md5", format!("{}  C.csv\n", md5_hex(b"something else")).as_bytes());
    pairs
}

// --- what the tests look at -----------------------------------------------------------------

/// The job the server tests run: one line per run, `<file name> <md5> <uid>`, appended to
/// `jobs.log` beside it.
pub const JOB: &str = r#"#!/bin/sh
printf '%s %s %s\n' "$FTPTRIGGER_FILENAME" "$FTPTRIGGER_MD5" "$(id -u)" >> "$(dirname "$0")/jobs.log"
"#;

/// The runs [`JOB`] recorded in the world's `jobs.log`, in order.
pub fn job_runs(world: &World) -> Vec<String> {
    read(&world.path("jobs.log")).lines().map(str::to_owned).collect()
}

/// The names in `dir`, for a test's diagnostics; none when it cannot be read.
fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
    fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default()
}

pub fn read(path: &Path) -> String {
    fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// How many times the hook ran: every line it logs is tagged `ftptrigger-hook[PID]`, one PID per
/// invocation.
pub fn hook_invocations(log: &str) -> usize {
    let mut pids: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split_once("ftptrigger-hook[").and_then(|(_, rest)| rest.split_once(']')))
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids.len()
}

/// `(file name, outcome)` of every run in the journal, from `ftptrigger history --json`, sorted;
/// run as `account` when given (a journal its account writes is never opened by root, which
/// could leave it files the account cannot write).
pub fn history_outcomes(world: &World, account: Option<&Account>) -> Vec<(String, String)> {
    use std::os::unix::process::CommandExt;
    let mut history = world.cmd().args(["history", "--json", "--count", "100"]);
    if let Some(account) = account {
        history.cmd.uid(account.uid).gid(account.gid);
    }
    let run = history.run().code(0);
    let mut outcomes: Vec<_> = run
        .stdout()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("history --json line");
            (
                row["filename"].as_str().unwrap_or("?").to_owned(),
                row["outcome"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    outcomes.sort();
    outcomes
}

/// The journal the hooked servers' tests expect (from [`history_outcomes`]): A, B and D
/// succeeded, C was an `md5_mismatch`, and D, whose two files came back to back, may also have
/// a skipped duplicate (when both of its hooks saw both files).
pub fn hooked_journal(found: &[(String, String)]) -> bool {
    let mut expected =
        vec![("A.csv", "success"), ("B.csv", "success"), ("C.csv", "md5_mismatch"), ("D.csv", "success")];
    let without_duplicate = outcomes(&expected);
    expected.push(("D.csv", "duplicate_skipped"));
    found == without_duplicate || found == outcomes(&expected)
}

/// `[(name, outcome)]` as owned, sorted pairs, to compare with [`history_outcomes`].
pub fn outcomes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs.iter().map(|(f, o)| ((*f).to_owned(), (*o).to_owned())).collect();
    v.sort();
    v
}

// --- throwaway accounts and /etc files ------------------------------------------------------

/// useradd and userdel take /etc/passwd's lock and fail at once when another holds it: one at a
/// time in this process, and a few tries against other processes.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn account_tool(tool: &str, args: &[&str]) {
    let _one = ACCOUNTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut last = String::new();
    for _ in 0..20 {
        let out = Command::new(tool).args(args).stdin(Stdio::null()).output();
        match out {
            Ok(out) if out.status.success() => return,
            Ok(out) => last = format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{tool} {args:?} failed: {last}");
}

/// A system account made for one test (`useradd`), deleted on drop with its own group
/// (`userdel`, and `groupdel` when userdel left the group).
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl Account {
    /// A new account named `ftptt-<tag><pid>[-n]` (a name no account has yet), made with
    /// `useradd <args> NAME`, `{name}` in `args` standing for the name. Its group is its own, of
    /// the same name (`-U`), unless `args` say otherwise.
    pub fn add(tag: &str, args: &[&str]) -> Account {
        let base = format!("ftptt-{tag}{}", std::process::id());
        let name = (0..)
            .map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") })
            .find(|name| passwd_entry(name).is_none() && !group_exists(name))
            .expect("a free name");
        let mut all: Vec<String> = args.iter().map(|arg| arg.replace("{name}", &name)).collect();
        if !args.contains(&"-g") && !args.contains(&"-N") {
            all.push("-U".to_owned());
        }
        all.push(name.clone());
        account_tool("useradd", &all.iter().map(String::as_str).collect::<Vec<_>>());
        let (uid, gid) = passwd_entry(&name).unwrap_or_else(|| panic!("useradd made no account {name}"));
        Account { name, uid, gid }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        if passwd_entry(&self.name).is_some() {
            account_tool("userdel", &[&self.name]);
        }
        // userdel keeps a group that another account has as its primary one.
        if group_exists(&self.name) {
            account_tool("groupdel", &[&self.name]);
        }
    }
}

/// The uid and gid of `name`, from /etc/passwd.
fn passwd_entry(name: &str) -> Option<(u32, u32)> {
    read(Path::new("/etc/passwd")).lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [n, _, uid, gid, ..] if *n == name => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

fn group_exists(name: &str) -> bool {
    read(Path::new("/etc/group")).lines().any(|line| line.split(':').next() == Some(name))
}

/// A file under /etc that one test writes and removes on drop. It must not exist before: a test
/// never overwrites what the machine has.
pub struct EtcFile {
    path: PathBuf,
}

impl EtcFile {
    pub fn create(path: PathBuf, text: &str, mode: u32) -> EtcFile {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let made = EtcFile { path };
        file.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("write {}: {e}", made.path.display()));
        made
    }
}

impl Drop for EtcFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Gives `path` to `uid`:`gid` with `mode`.
pub fn own(path: &Path, uid: u32, gid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// True once the hook's log shows both uploads of `name` and its sidecar, sent back to back,
/// handled: the job run once and, for the other upload, either a wait for its partner (the first
/// hook ran before the second file landed) or a skipped duplicate (both hooks saw both files).
pub fn both_handled(log: &str, name: &str) -> bool {
    count(log, &format!("/{name}: done (ftptrigger exit 0)"))
        + count(log, &format!("/{name}: waiting for the sidecar"))
        + count(log, &format!("/{name}: skipped, duplicate of run"))
        == 2
}
