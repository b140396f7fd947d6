//! contrib/README.md's ProFTPD recipe, run for real: ProFTPD 1.3.8 on 127.0.0.1 with virtual
//! users from an `AuthUserFile` mapped to one system account, no `DefaultRoot`, and mod_exec
//! running the shipped `contrib/proftpd/ftptrigger-proftpd.sh` through the shipped
//! `contrib/proftpd/ftptrigger.conf` (copied, with only its paths changed). Uploads are made with
//! `curl -T`; the job's log, the hook's log, mod_exec's log and the journal are looked at from
//! outside.
//!
//! Needs root (to start ProFTPD and add the account) and ProFTPD unpacked by
//! `tests/ftp/setup-servers.sh` (its package conflicts with pure-ftpd's, so it is not installed;
//! `.ci/run` calls the script). Without them the test says why and passes without running
//! anything. Everything it starts dies with it: the server's process group is killed and reaped
//! on drop, the account is deleted, and all its files live in the test's temp dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::ftp_support::{
    Account, Daemon, FtpClient, JOB, PASSWORD_HASH, Pairs, Server, count, find_tool, free_port,
    history_outcomes, hook_invocations, hooked_journal, job_runs, own, read, skip, skip_or_fail,
    unpacked_servers, upload_pairs, wait_for, wait_listening,
};
use crate::support::{World, md5_hex, write_mode};

/// The virtual user (an `AuthUserFile` entry), which is also the CID.
const CID: &str = "acme";
/// The test's name where it says why it skips.
const TEST: &str = "ftp_proftpd::proftpd";

fn config() -> String {
    format!(
        r#"
[journal]
path = "state/journal.db"

[defaults]
timeout = "30s"
lock_wait = "20s"

[[rule]]
name = "acme-csv"
cid = "{CID}"
pattern = "*.csv"
root = "ftp/{CID}"
command = ["./job.sh", "--", "{{file}}"]
"#
    )
}

#[test]
fn proftpd_mod_exec_runs_the_job_once_per_pair_as_the_users_account_and_a_bad_sidecar_runs_nothing() {
    let Some(tools) = Tools::find() else { return };
    let world = World::empty();
    world.config(&config());
    world.script("job.sh", JOB);
    let server = ProFtpd::start(&tools, &world);
    let uid = server.account.uid;

    let Pairs { a, b, c: _, d } = upload_pairs(&server, &world, uid);
    server.wait_for_log("the hook to report C.csv's mismatch", |log| {
        count(log, "/C.csv: ftptrigger exit 12") == 1
    });

    // Every hook has logged its one line: the job ran once per good file, never for C, and as
    // the account the virtual user maps to.
    server.wait_for_log("all eight uploads to be handled", |log| hook_invocations(log) == 8);
    let mut runs = job_runs(&world);
    runs.sort();
    assert_eq!(
        runs,
        vec![
            format!("A.csv {} {uid}", md5_hex(a)),
            format!("B.csv {} {uid}", md5_hex(b)),
            format!("D.csv {} {uid}", md5_hex(d))
        ],
        "{}",
        server.diagnostics()
    );

    // The journal, read as that account (as the README says to): one success per good file, C's
    // mismatch, and at most a skipped duplicate for D.
    let found = history_outcomes(&world, Some(&server.account));
    assert!(hooked_journal(&found), "journal outcomes: {found:?}{}", server.diagnostics());

    // What the README's "Test it" says to look for in ExecLog: one `ExecOnCommand ... succeeded`
    // per upload, the login and the file's full path as the arguments, run with the account's uid.
    let hook = server.hook.display().to_string();
    server.wait_for("mod_exec to log all eight uploads", || {
        count(&server.exec_log(), &format!("ExecOnCommand '{hook}' succeeded")) == 8
    });
    let exec_log = server.exec_log();
    assert_eq!(count(&exec_log, &format!("with uid {uid} (euid {uid})")), 8, "{exec_log}");
    assert_eq!(count(&exec_log, &format!("'{hook}': argv[1] = {CID}\n")), 8, "{exec_log}");
    for name in ["A.csv", "A.csv.md5", "B.csv", "B.csv.md5", "C.csv", "C.csv.md5", "D.csv", "D.csv.md5"] {
        let path = world.root().join(name);
        let arg = format!("'{hook}': argv[2] = {}\n", path.display());
        assert_eq!(count(&exec_log, &arg), 1, "{arg:?} in:\n{exec_log}");
    }
}

// --- the tools, and when to skip ---------------------------------------------------------------

struct Tools {
    proftpd: PathBuf,
    /// The unpacked package's modules, for `ModulePath`.
    modules: PathBuf,
    curl: PathBuf,
}

impl Tools {
    /// The tools, or `None` after printing why the test cannot run here.
    fn find() -> Option<Tools> {
        let tree = unpacked_servers().join("proftpd-core");
        let proftpd = tree.join("usr/sbin/proftpd");
        let modules = tree.join("usr/lib/proftpd");
        let have = proftpd.is_file() && modules.join("mod_exec.so").is_file();
        let root = crate::support::is_root();
        match (have, find_tool("curl"), find_tool("useradd")) {
            (true, Some(curl), Some(_)) if root => Some(Tools { proftpd, modules, curl }),
            (true, Some(_), Some(_)) => {
                skip(TEST, "not root (starting ProFTPD and adding its account need root)");
                None
            }
            _ if root => {
                let reason = format!(
                    "ProFTPD (unpacked in {}), curl or useradd is missing: run tests/ftp/setup-servers.sh \
                     (as root) first",
                    tree.display()
                );
                skip_or_fail(TEST, &reason);
                None
            }
            _ => {
                skip(
                    TEST,
                    "ProFTPD or curl is missing and not root to fetch them (tests/ftp/setup-servers.sh \
                     does, as root)",
                );
                None
            }
        }
    }
}

// --- the server ---------------------------------------------------------------------------------

/// ProFTPD in the foreground (`-n`) on 127.0.0.1, set up as contrib/README.md says.
struct ProFtpd {
    client: FtpClient,
    dir: PathBuf,
    /// The installed copy of contrib/proftpd/ftptrigger-proftpd.sh that ExecOnCommand runs.
    hook: PathBuf,
    // Dropped in this order: the server (and its sessions' hooks), then its account.
    _proftpd: Daemon,
    account: Account,
}

impl ProFtpd {
    fn start(tools: &Tools, world: &World) -> ProFtpd {
        let dir = world.dir.path().to_path_buf();
        let root = world.root();

        // `useradd --system -d /srv/ftp -s /usr/sbin/nologin ftp-customers`: the account the
        // virtual users map to, and so the one hooks, ftptrigger and the jobs run as.
        let ftp_home = world.path("ftp");
        let account = Account::add("p", &["--system", "-d", &path_str(&ftp_home), "-s", "/usr/sbin/nologin"]);
        let (uid, gid) = (account.uid, account.gid);
        // `install -d -o ftp-customers -g ftp-customers /srv/ftp/acme /var/lib/ftptrigger`; the
        // config readable by that account; the logs (hook.log, as the README's "Test it" adds,
        // and the job's) files it may write.
        own(&dir, 0, 0, 0o755);
        own(&ftp_home, 0, 0, 0o755);
        own(&root, uid, gid, 0o755);
        fs::create_dir_all(world.path("state")).expect("mkdir");
        own(&world.path("state"), uid, gid, 0o755);
        own(&world.config_path(), 0, gid, 0o640);
        for log in ["hook.log", "jobs.log"] {
            write_mode(&world.path(log), b"", 0o644);
            own(&world.path(log), uid, gid, 0o644);
        }

        // `ftpasswd --passwd --name=acme --uid=... --gid=... --home=/srv/ftp/acme --shell=/bin/false`
        let passwd = world.path("ftpd.passwd");
        let line = format!("{CID}:{PASSWORD_HASH}:{uid}:{gid}::{}:/bin/false\n", root.display());
        write_mode(&passwd, line.as_bytes(), 0o600);

        // "Install": both scripts into one directory, mode 755, and ftptrigger.conf as shipped
        // but for its paths (and the two debugging lines the README's "Test it" adds).
        let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
        let lib = world.path("lib/ftptrigger");
        for script in ["ftptrigger-hook.sh", "proftpd/ftptrigger-proftpd.sh"] {
            let text = fs::read(contrib.join(script)).expect("read a contrib script");
            let name = Path::new(script).file_name().expect("a file name");
            write_mode(&lib.join(name), &text, 0o755);
        }
        let hook = lib.join("ftptrigger-proftpd.sh");
        let hook_log = world.path("hook.log");
        let exec_conf = installed_conf(
            &read(&contrib.join("proftpd/ftptrigger.conf")),
            &[
                ("/var/log/proftpd/exec.log", path_str(&world.path("exec.log"))),
                ("/usr/local/bin/ftptrigger", env!("CARGO_BIN_EXE_ftptrigger").to_owned()),
                ("/etc/ftptrigger/ftpscanner.cfg", path_str(&world.config_path())),
                ("/usr/local/lib/ftptrigger/ftptrigger-proftpd.sh", path_str(&hook)),
                (
                    "# ExecEnviron FTPTRIGGER_HOOK_LOG /var/log/ftptrigger/hook.log",
                    format!(
                        "ExecEnviron FTPTRIGGER_HOOK_LOG {}\n  ExecEnviron FTPTRIGGER_HOOK_DEBUG 1",
                        hook_log.display()
                    ),
                ),
            ],
        );
        write_mode(&world.path("conf.d/ftptrigger.conf"), exec_conf.as_bytes(), 0o644);

        // A port the OS just handed out may be taken again before ProFTPD binds it: retry.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let conf = world.path("proftpd.conf");
            write_mode(&conf, server_conf(tools, world, &account, port).as_bytes(), 0o644);
            let log = fs::File::create(dir.join("proftpd.log")).expect("log file");
            let mut proftpd = Daemon::spawn("proftpd", &tools.proftpd, |cmd| {
                cmd.arg("-n")
                    .arg("-c")
                    .arg(&conf)
                    .env_clear()
                    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                    .stdout(Stdio::null())
                    .stderr(log);
            });
            match wait_listening(port, &mut [&mut proftpd]) {
                Ok(()) => {
                    let client = FtpClient {
                        curl: tools.curl.clone(),
                        port,
                        login: CID.to_owned(),
                        outgoing: dir.join("outgoing"),
                    };
                    return ProFtpd { client, dir, hook, _proftpd: proftpd, account };
                }
                Err(why) => {
                    last_failure = format!("{why}\n--- proftpd.log:\n{}", read(&dir.join("proftpd.log")));
                }
            }
        }
        panic!("proftpd did not start: {last_failure}");
    }

    fn exec_log(&self) -> String {
        read(&self.dir.join("exec.log"))
    }

    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        wait_for(what, done, || self.diagnostics());
    }
}

impl Server for ProFtpd {
    fn client(&self) -> &FtpClient {
        &self.client
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn logs(&self) -> &'static [&'static str] {
        &["hook.log", "jobs.log", "exec.log", "proftpd.log"]
    }

    fn uploads(&self) -> PathBuf {
        self.dir.join("ftp/acme")
    }
}

/// The server's own config: what a stock proftpd.conf would hold, kept to this test's files and
/// 127.0.0.1, then the README's `users.conf` lines and the installed ftptrigger.conf (which the
/// stock config reaches through `Include /etc/proftpd/conf.d/`).
fn server_conf(tools: &Tools, world: &World, account: &Account, port: u16) -> String {
    let dir = world.dir.path().display();
    format!(
        r#"ServerName "ftptrigger test"
ServerType standalone
Port {port}
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User {user}
Group {user}
PidFile {dir}/proftpd.pid
ScoreboardFile {dir}/proftpd.scoreboard
DelayTable none
WtmpLog off
UseReverseDNS off
ModulePath {modules}
<IfModule mod_ctrls.c>
  ControlsEngine off
</IfModule>
# Debian's /etc/proftpd/modules.conf
LoadModule mod_exec.c

# contrib/README.md, ProFTPD, "Virtual users": /etc/proftpd/conf.d/users.conf
AuthUserFile {dir}/ftpd.passwd
AuthOrder mod_auth_file.c
RequireValidShell off

Include {dir}/conf.d/ftptrigger.conf
"#,
        user = account.name,
        modules = tools.modules.display(),
    )
}

/// `shipped` with each `(from, to)` replaced; each `from` must occur exactly once, so that a
/// change to the shipped file fails here instead of testing something else.
fn installed_conf(shipped: &str, replacements: &[(&str, String)]) -> String {
    replacements.iter().fold(shipped.to_owned(), |text, (from, to)| {
        assert_eq!(text.matches(from).count(), 1, "contrib/proftpd/ftptrigger.conf: {from:?} once");
        text.replace(from, to)
    })
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_owned()
}
