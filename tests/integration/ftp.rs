//! A real FTP server: pure-ftpd on 127.0.0.1 with `pure-uploadscript` running the shipped hook
//! (`contrib/pure-ftpd/ftptrigger-upload.sh`), uploads made with `curl -T`, and the job, the hook's
//! log, the journal and a webhook receiver looked at from outside.
//!
//! Needs root (pure-uploadscript refuses to run otherwise, and the upload pipe is root's) and the
//! pure-ftpd and curl packages, which `tests/ftp/setup-servers.sh` installs (`.ci/run` calls
//! it). Without them the test says why and passes without running anything.
//!
//! pure-ftpd's upload pipe has a fixed path (`/var/run/pure-ftpd.upload.pipe`), so only one such
//! server per machine can have an upload script: the test holds a lock file for as long as its
//! servers live, and is careful to leave nothing behind (every process is killed and reaped on
//! drop, and dies with the test thread if the test process itself is killed).
//!
//! A second test runs the hook all three servers share (`contrib/ftptrigger-hook.sh`) by itself,
//! as a server would, with no server and no root: hostile names, the CID map, what it ignores.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ftp_support::{
    Daemon, FtpClient, JOB, LIMIT, PASSWORD_HASH, Pairs, Server, count, find_tool, free_port,
    history_outcomes, hook_invocations, hooked_journal, job_runs, read, skip, skip_or_fail, upload_pairs,
    wait_listening,
};
use crate::servers::HttpReceiver;
use crate::support::{World, md5_hex, wait_or_kill, write_mode};

/// The virtual user, which is also the CID. Its password is [`PASSWORD_HASH`]'s (pure-pw would
/// store an argon2id hash that takes seconds to check at every login).
const CID: &str = "acme";
/// The test's name where it says why it skips.
const TEST: &str = "ftp::pure_ftpd";
/// The uid and gid the virtual user's files belong to: `nobody`/`nogroup` on Debian. pure-ftpd
/// refuses logins that map to root.
const FTP_UID: u32 = 65534;
const FTP_GID: u32 = 65534;

/// The pipe pure-ftpd writes finished uploads to and pure-uploadscript reads them from.
const UPLOAD_PIPE: &str = "/var/run/pure-ftpd.upload.pipe";
/// Held (flock) while this test's servers run: there can be only one reader of the pipe.
const MACHINE_LOCK: &str = "/run/ftptrigger-test-pure-ftpd.lock";

fn config(webhook_url: &str) -> String {
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
root = "ftp/acme"
command = ["./job.sh", "--", "{{file}}"]
notify = ["ops-hook"]

[channel.ops-hook]
type = "webhook"
url = "{webhook_url}"
timeout = "5s"
retries = 0
"#
    )
}

#[test]
fn pure_ftpd_uploads_run_the_job_once_in_either_order_and_a_bad_sidecar_notifies() {
    let Some(tools) = Tools::find() else { return };
    let _machine = MachineLock::take();
    if let Some(pid) = foreign_upload_script() {
        let reason = format!(
            "another pure-uploadscript (pid {pid}) is reading {UPLOAD_PIPE} and would take our uploads"
        );
        skip_or_fail(TEST, &reason);
        return;
    }

    let world = World::empty();
    let hook = HttpReceiver::ok();
    world.config(&config(&hook.url()));
    world.script("job.sh", JOB);
    let server = FtpServer::start(&tools, &world);

    let Pairs { a, b, c, d } = upload_pairs(&server, &world, 0);
    server.wait_for_log("the hook to report C.csv's mismatch", |log| {
        count(log, "/C.csv: ftptrigger exit 12") >= 1
    });
    let requests = hook.wait_for(1, LIMIT);
    let body = requests[0].json();
    assert_eq!(body["event"], "run.failed", "{body}");
    assert_eq!(body["outcome"], "md5_mismatch", "{body}");
    assert_eq!(body["exit_code"], 12, "{body}");
    assert_eq!(body["cid"], CID, "{body}");
    assert_eq!(body["filename"], "C.csv", "{body}");
    assert_eq!(body["rule"], "acme-csv", "{body}");
    assert_eq!(body["md5"]["expected"], md5_hex(b"something else"), "{body}");
    assert_eq!(body["md5"]["actual"], md5_hex(c), "{body}");
    assert_eq!(requests[0].header("X-Ftptrigger-Event"), Some("run.failed"));

    // Every upload has been handled by now (each hook invocation logs exactly once, and they run
    // one at a time in upload order): the job ran exactly once per good file, never for C.
    server.wait_for_log("all eight uploads to be handled", |log| hook_invocations(log) == 8);
    let mut runs = job_runs(&world);
    runs.sort();
    assert_eq!(
        runs,
        vec![
            format!("A.csv {} 0", md5_hex(a)),
            format!("B.csv {} 0", md5_hex(b)),
            format!("D.csv {} 0", md5_hex(d))
        ],
        "{}",
        server.diagnostics()
    );
    assert_eq!(hook.count(), 1, "only the mismatch is notified: {:?}", hook.requests());

    // The journal agrees: one success per good file, C's mismatch, and at most a skipped duplicate
    // for D (when both of its hooks saw both files).
    let found = history_outcomes(&world, None);
    assert!(hooked_journal(&found), "journal outcomes: {found:?}{}", server.diagnostics());
}

// --- the tools, and when to skip ---------------------------------------------------------------

struct Tools {
    pure_ftpd: PathBuf,
    pure_pw: PathBuf,
    pure_uploadscript: PathBuf,
    curl: PathBuf,
}

impl Tools {
    /// The tools, or `None` after printing why the test cannot run here.
    fn find() -> Option<Tools> {
        let tools =
            (find_tool("pure-ftpd"), find_tool("pure-pw"), find_tool("pure-uploadscript"), find_tool("curl"));
        let root = crate::support::is_root();
        match tools {
            (Some(pure_ftpd), Some(pure_pw), Some(pure_uploadscript), Some(curl)) if root => {
                Some(Tools { pure_ftpd, pure_pw, pure_uploadscript, curl })
            }
            (Some(_), Some(_), Some(_), Some(_)) => {
                skip(TEST, "not root (pure-uploadscript and its pipe need root)");
                None
            }
            _ if root => {
                skip_or_fail(
                    TEST,
                    "pure-ftpd or curl is missing: run tests/ftp/setup-servers.sh (as root) first",
                );
                None
            }
            _ => {
                skip(
                    TEST,
                    "pure-ftpd or curl is missing and not root to install them \
                     (tests/ftp/setup-servers.sh does, as root)",
                );
                None
            }
        }
    }
}

/// A live pure-uploadscript this test did not start: it would read (and so take) our uploads.
fn foreign_upload_script() -> Option<u32> {
    let entries = fs::read_dir("/proc").ok()?;
    entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())).find(|pid| {
        // /proc/PID/stat is "PID (COMM) STATE ...": the name is truncated to 15 bytes, and a
        // zombie (state Z) reads nothing.
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            match stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')')) {
                Some((comm, rest)) => {
                    comm.starts_with("pure-uploadscri") && !rest.trim_start().starts_with('Z')
                }
                None => false,
            }
        })
    })
}

/// An exclusive flock on [`MACHINE_LOCK`], waited for at most two minutes.
struct MachineLock {
    _file: fs::File,
}

impl MachineLock {
    fn take() -> MachineLock {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(MACHINE_LOCK)
            .unwrap_or_else(|e| panic!("open {MACHINE_LOCK}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return MachineLock { _file: file },
                Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {
                    assert!(
                        Instant::now() < deadline,
                        "another pure-ftpd test held {MACHINE_LOCK} for two minutes"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("flock {MACHINE_LOCK}: {e}"),
            }
        }
    }
}

// --- the server -----------------------------------------------------------------------------------

/// pure-ftpd in the foreground on 127.0.0.1, one virtual user `acme` chrooted to the world's
/// `ftp/acme`, and pure-uploadscript running the contrib hook with this world's config.
struct FtpServer {
    client: FtpClient,
    dir: PathBuf,
    // Dropped in this order: the reader of the pipe first, then the server.
    _upload_script: Daemon,
    _ftpd: Daemon,
}

impl FtpServer {
    fn start(tools: &Tools, world: &World) -> FtpServer {
        let dir = world.dir.path().to_path_buf();
        let root = world.root();
        // The virtual user's files belong to FTP_UID, which must reach and write its home.
        for d in [dir.as_path(), dir.join("ftp").as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o711)).expect("chmod");
        }
        std::os::unix::fs::chown(&root, Some(FTP_UID), Some(FTP_GID)).expect("chown the FTP root");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");

        // The user database: a passwd file in pure-pw's format, compiled with `pure-pw mkdb`.
        let passwd = world.path("pureftpd.passwd");
        let pdb = world.path("pureftpd.pdb");
        let line = format!("{CID}:{PASSWORD_HASH}:{FTP_UID}:{FTP_GID}::{}/./::::::::::::\n", root.display());
        write_mode(&passwd, line.as_bytes(), 0o600);
        let out = Command::new(&tools.pure_pw)
            .arg("mkdb")
            .arg(&pdb)
            .arg("-f")
            .arg(&passwd)
            .stdin(Stdio::null())
            .output()
            .expect("run pure-pw");
        assert!(out.status.success(), "pure-pw mkdb failed: {}", String::from_utf8_lossy(&out.stderr));

        let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/pure-ftpd/ftptrigger-upload.sh");
        let mode = fs::metadata(&hook).expect("the contrib hook exists").permissions().mode();
        assert!(mode & 0o111 != 0, "{} is not executable (mode {mode:o})", hook.display());

        // A port the OS just handed out may be taken again before pure-ftpd binds it: retry.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let ftpd_log = fs::File::create(dir.join("pure-ftpd.log")).expect("log file");
            let mut ftpd = Daemon::spawn("pure-ftpd", &tools.pure_ftpd, |cmd| {
                cmd.arg("-S")
                    .arg(format!("127.0.0.1,{port}"))
                    .arg("-l")
                    .arg(format!("puredb:{}", pdb.display()))
                    .args(["-E", "-H", "-A", "-o", "-f", "none"])
                    .arg("-g")
                    .arg(dir.join("pure-ftpd.pid"))
                    .env_clear()
                    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                    .stdout(ftpd_log.try_clone().expect("dup"))
                    .stderr(ftpd_log);
            });
            // pure-ftpd creates the pipe, then waits for its reader before it listens.
            let deadline = Instant::now() + LIMIT;
            while !Path::new(UPLOAD_PIPE).exists() && ftpd.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let upload_script = Daemon::spawn("pure-uploadscript", &tools.pure_uploadscript, |cmd| {
                cmd.arg("-p")
                    .arg(dir.join("pure-uploadscript.pid"))
                    .arg("-r")
                    .arg(&hook)
                    .env_clear()
                    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                    .env("HOME", "/nonexistent")
                    .env("FTPTRIGGER_BIN", env!("CARGO_BIN_EXE_ftptrigger"))
                    .env("FTPTRIGGER_CONFIG", world.config_path())
                    .env("FTPTRIGGER_HOOK_LOG", dir.join("hook.log"))
                    .env("FTPTRIGGER_HOOK_DEBUG", "1")
                    .stdout(Stdio::null())
                    .stderr(fs::File::create(dir.join("pure-uploadscript.log")).expect("log file"));
            });
            let mut upload_script = upload_script;
            // (pure-ftpd listens only once pure-uploadscript has opened the pipe)
            match wait_listening(port, &mut [&mut ftpd, &mut upload_script]) {
                Ok(()) => {
                    let client = FtpClient {
                        curl: tools.curl.clone(),
                        port,
                        login: CID.to_owned(),
                        outgoing: dir.join("outgoing"),
                    };
                    return FtpServer { client, dir, _upload_script: upload_script, _ftpd: ftpd };
                }
                Err(why) => {
                    last_failure = format!(
                        "{why}\n--- pure-ftpd.log:\n{}\n--- pure-uploadscript.log:\n{}",
                        read(&dir.join("pure-ftpd.log")),
                        read(&dir.join("pure-uploadscript.log"))
                    );
                }
            }
        }
        panic!("pure-ftpd did not start: {last_failure}");
    }
}

impl Server for FtpServer {
    fn client(&self) -> &FtpClient {
        &self.client
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn logs(&self) -> &'static [&'static str] {
        &["hook.log", "jobs.log", "pure-ftpd.log", "pure-uploadscript.log"]
    }

    fn uploads(&self) -> PathBuf {
        self.dir.join("ftp/acme")
    }
}

// --- the shared hook on its own: no server, no root needed -----------------------------------

/// Runs `contrib/ftptrigger-hook.sh LOGIN FILE` as a server would, with the world's config, a CID
/// map and the debug log on; returns its exit code.
fn run_hook(world: &World, login: &str, file: &Path, bin: &Path) -> Option<i32> {
    run_hook_with(world, login, file, bin, &[])
}

/// [`run_hook`] with more variables in the hook's environment.
fn run_hook_with(world: &World, login: &str, file: &Path, bin: &Path, env: &[(&str, &str)]) -> Option<i32> {
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ftptrigger-hook.sh");
    let mut child = Command::new("/bin/sh")
        .arg(hook)
        .arg(login)
        .arg(file)
        .current_dir(world.dir.path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("FTPTRIGGER_BIN", bin)
        .env("FTPTRIGGER_CONFIG", world.config_path())
        .env("FTPTRIGGER_CID_MAP", world.path("cid.map"))
        .env("FTPTRIGGER_HOOK_LOG", world.path("hook.log"))
        .env("FTPTRIGGER_HOOK_DEBUG", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the hook");
    wait_or_kill(&mut child, LIMIT, "the hook").code()
}

/// The job for the hook test: one line per run, `<cid>|<file name>`.
const CID_JOB: &str = r#"#!/bin/sh
printf '%s|%s\n' "$FTPTRIGGER_CID" "$FTPTRIGGER_FILENAME" >> "$(dirname "$0")/jobs.log"
"#;

/// With `FTPTRIGGER_SIDECAR_SUFFIX=.sha256` the hook pairs files with `sha256sum` listings and
/// runs them with `--sha256-file`: once per pair, whichever arrives second, and a wrong digest
/// is exit 12 in its log.
#[test]
fn the_hook_pairs_files_with_sha256_sidecars() {
    let world = World::empty();
    world.config("[journal]\npath = \"state/journal.db\"\n\n[[rule]]\ncid = \"acme\"\npattern = \"*.csv\"\nroot = \"ftp/acme\"\ncommand = [\"./job.sh\", \"--\", \"{file}\"]\n");
    world.script("job.sh", CID_JOB);
    write_mode(&world.path("cid.map"), b"acme acme\n", 0o644);
    let bin = Path::new(env!("CARGO_BIN_EXE_ftptrigger"));
    let sha256 = [("FTPTRIGGER_SIDECAR_SUFFIX", ".sha256")];
    let sha256sum = |content: &[u8]| {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(content))
    };
    let data = world.upload("a.csv", b"1\n");
    assert_eq!(run_hook_with(&world, "acme", &data, bin, &sha256), Some(0));
    let sidecar = world.upload("a.csv.sha256", format!("{}  a.csv\n", sha256sum(b"1\n")).as_bytes());
    assert_eq!(run_hook_with(&world, "acme", &sidecar, bin, &sha256), Some(0));
    assert_eq!(read(&world.path("jobs.log")), "acme|a.csv\n", "{}", read(&world.path("hook.log")));

    let bad = world.upload("b.csv", b"2\n");
    world.upload("b.csv.sha256", format!("{}  b.csv\n", sha256sum(b"other")).as_bytes());
    assert_eq!(run_hook_with(&world, "acme", &bad, bin, &sha256), Some(0));
    let log = read(&world.path("hook.log"));
    assert!(log.contains("b.csv: ftptrigger exit 12") && log.contains("SHA-256"), "{log}");
    assert_eq!(read(&world.path("jobs.log")), "acme|a.csv\n");
}

#[test]
fn the_hook_pairs_files_maps_logins_and_never_runs_a_name() {
    let world = World::empty();
    world.config(
        r#"
[journal]
path = "state/journal.db"

[[rule]]
cid = "acme"
pattern = "*"
root = "ftp/acme"
command = ["./job.sh", "--", "{file}"]

[[rule]]
cid = "check"
pattern = "*"
root = "ftp/check"
command = ["./job.sh", "--", "{file}"]
"#,
    );
    world.script("job.sh", CID_JOB);
    write_mode(&world.path("cid.map"), b"# login  CID\nacme-ftp   acme\nadmin -\n\n", 0o644);
    fs::create_dir_all(world.path("ftp/check")).expect("mkdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_ftptrigger"));
    let log = || read(&world.path("hook.log"));
    let jobs = || read(&world.path("jobs.log"));
    let pair = |dir: &str, name: &str, content: &[u8]| {
        let data = world.path(dir).join(name);
        fs::write(&data, content).expect("write");
        let sidecar = world.path(dir).join(format!("{name}.md5"));
        fs::write(&sidecar, format!("{}\n", md5_hex(content))).expect("write");
        (data, sidecar)
    };

    // A hostile name, data first: the first call waits, the second runs the job with the name intact.
    let hostile = "-x $(touch pwned) `touch pwned` 'q' \"d\" ;*.csv";
    let (data, sidecar) = pair("ftp/acme", hostile, b"1\n");
    fs::rename(&sidecar, world.path("sidecar.tmp")).expect("hide the sidecar");
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert!(log().contains(&format!("{hostile}: waiting for the sidecar")), "{}", log());
    assert_eq!(jobs(), "");
    fs::rename(world.path("sidecar.tmp"), &sidecar).expect("the sidecar arrives");
    assert_eq!(run_hook(&world, "acme", &sidecar, bin), Some(0));
    assert_eq!(jobs(), format!("acme|{hostile}\n"), "{}", log());
    // Called again for the same pair (both hooks saw both files): a skipped duplicate, logged
    // as one.
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert_eq!(jobs(), format!("acme|{hostile}\n"), "{}", log());
    assert!(
        log().contains(&format!("{hostile}: skipped, duplicate of run 1 (ftptrigger exit 0)")),
        "{}",
        log()
    );
    let pwned = fs::read_dir(world.dir.path()).unwrap().flatten().any(|e| e.file_name() == "pwned");
    assert!(!pwned && !world.root().join("pwned").exists(), "a name was run by a shell");
    // A control character reaches the job as it is, and the log as `?` (one line per message).
    let (data, _) = pair("ftp/acme", "new\nline.csv", b"1b\n");
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert_eq!(jobs(), format!("acme|{hostile}\nacme|new\nline.csv\n"), "{}", log());
    assert!(log().contains("/new?line.csv: done (ftptrigger exit 0)"), "{}", log());

    // A mapped login, and a CID named like a subcommand (the hook says `run`).
    let (data, _) = pair("ftp/acme", "mapped.csv", b"2\n");
    assert_eq!(run_hook(&world, "acme-ftp", &data, bin), Some(0));
    let (_, sidecar) = pair("ftp/check", "sub.csv", b"3\n");
    assert_eq!(run_hook(&world, "check", &sidecar, bin), Some(0));
    assert_eq!(
        jobs(),
        format!("acme|{hostile}\nacme|new\nline.csv\nacme|mapped.csv\ncheck|sub.csv\n"),
        "{}",
        log()
    );

    // Started nothing: an ignored login, a relative path, pure-ftpd's temporary file, a bare
    // ".md5", a file whose sidecar never came.
    let (data, _) = pair("ftp/acme", "admin.csv", b"4\n");
    assert_eq!(run_hook(&world, "admin", &data, bin), Some(0));
    assert_eq!(run_hook(&world, "acme", Path::new("ftp/acme/mapped.csv"), bin), Some(0));
    let temp = world.root().join(".pureftpd-upload.5f3a.csv");
    fs::write(&temp, b"partial").expect("write");
    assert_eq!(run_hook(&world, "acme", &temp, bin), Some(0));
    let bare = world.root().join(".md5");
    fs::write(&bare, md5_hex(b"")).expect("write");
    assert_eq!(run_hook(&world, "acme", &bare, bin), Some(0));
    let lonely = world.root().join("lonely.csv");
    fs::write(&lonely, b"5\n").expect("write");
    assert_eq!(run_hook(&world, "acme", &lonely, bin), Some(0));
    assert_eq!(
        jobs(),
        format!("acme|{hostile}\nacme|new\nline.csv\nacme|mapped.csv\ncheck|sub.csv\n"),
        "{}",
        log()
    );
    for why in [
        "admin.csv: ignored: the CID map says to ignore this login",
        "ignored: no absolute path given (ftp/acme/mapped.csv)",
        ".pureftpd-upload.5f3a.csv: ignored: a server's own file",
        ".md5: ignored: a sidecar with no data file name",
        "lonely.csv: waiting for the sidecar",
    ] {
        assert!(log().contains(why), "the log lacks {why:?}:\n{}", log());
    }

    // Failures are logged with ftptrigger's message, and the hook still exits 0.
    let (data, sidecar) = pair("ftp/acme", "bad.csv", b"6\n");
    fs::write(&sidecar, format!("{}\n", md5_hex(b"other"))).expect("write");
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert!(log().contains("bad.csv: ftptrigger exit 12"), "{}", log());
    assert!(log().contains("ERROR[12]: MD5"), "{}", log());
    assert_eq!(run_hook(&world, "acme", &data, Path::new("/nonexistent/ftptrigger")), Some(0));
    assert!(log().contains("/nonexistent/ftptrigger is not an executable file; nothing ran"), "{}", log());
}

/// Without a log file and without a syslog daemon, `logger` drops a line and still exits 0:
/// the hook then writes to its stderr, where the server may keep it.
#[test]
fn the_hook_logs_to_stderr_when_no_syslog_listens() {
    if Path::new("/dev/log").exists() {
        eprintln!("skipped: this machine has a syslog socket at /dev/log");
        return;
    }
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ftptrigger-hook.sh");
    let out = Command::new("/bin/sh")
        .arg(hook)
        .args(["acme", "relative/x.csv"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("FTPTRIGGER_HOOK_DEBUG", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the hook");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("debug: acme: ignored: no absolute path given (relative/x.csv)"), "{stderr}");
}

/// The README's cron line and systemd unit line are the ones contrib/ ships.
#[test]
fn the_readmes_scan_lines_are_contribs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&dir.join("README.md"));
    for (file, marker) in
        [("contrib/cron/ftptrigger.cron", "flock -n"), ("contrib/cron/ftptrigger-scan.service", "ExecStart=")]
    {
        let shipped = read(&dir.join(file));
        let line = shipped.lines().find(|l| l.contains(marker) && !l.starts_with('#')).expect("the line");
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(readme.lines().any(|l| words(l) == words(line)), "README lacks {file}'s line:\n{line}");
    }
}

/// A sender who uploads the sidecar first, reusing a name: the new sidecar meets the old data
/// file, already processed. The hook waits for the new data file instead of reporting a
/// mismatch, and runs the pair when it comes.
#[test]
fn a_new_sidecar_before_its_data_file_waits_instead_of_a_false_mismatch() {
    let world = World::empty();
    world.config(
        "[journal]\npath = \"state/journal.db\"\n\n[[rule]]\ncid = \"acme\"\npattern = \"*\"\nroot = \"ftp/acme\"\n\
         command = [\"./job.sh\", \"--\", \"{file}\"]\n",
    );
    world.script("job.sh", CID_JOB);
    write_mode(&world.path("cid.map"), b"", 0o644);
    let bin = Path::new(env!("CARGO_BIN_EXE_ftptrigger"));
    let (data, sidecar) = (world.root().join("feed.csv"), world.root().join("feed.csv.md5"));
    fs::write(&data, b"monday\n").expect("write");
    fs::write(&sidecar, format!("{}\n", md5_hex(b"monday\n"))).expect("write");
    assert_eq!(run_hook(&world, "acme", &sidecar, bin), Some(0));
    let jobs = || read(&world.path("jobs.log"));
    assert_eq!(jobs(), "acme|feed.csv\n");
    // Tuesday's sidecar comes first; Monday's file is still there, older.
    let monday = fs::File::options().write(true).open(&data).expect("open");
    monday.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)).expect("set mtime");
    fs::write(&sidecar, format!("{}\n", md5_hex(b"tuesday\n"))).expect("write");
    assert_eq!(run_hook(&world, "acme", &sidecar, bin), Some(0));
    let log = read(&world.path("hook.log"));
    assert!(log.contains("feed.csv.md5: waiting for the data file"), "{log}");
    assert!(
        !history_outcomes(&world, None).iter().any(|(_, o)| o == "md5_mismatch"),
        "{:?}",
        history_outcomes(&world, None)
    );
    assert_eq!(jobs(), "acme|feed.csv\n");
    fs::write(&data, b"tuesday\n").expect("write");
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert_eq!(jobs(), "acme|feed.csv\nacme|feed.csv\n");

    // Wednesday's pair, sent back to back: the data file's hook already ran the pair when the
    // sidecar's hook comes (the sidecar the newer of the two). That sidecar is the file's own,
    // not a stale pair: it finds the duplicate instead of waiting for a file that never comes.
    let wednesday = fs::File::options().write(true).truncate(true).open(&data).expect("open");
    std::io::Write::write_all(&mut &wednesday, b"wednesday\n").expect("write");
    wednesday.set_modified(std::time::SystemTime::now() - Duration::from_secs(5)).expect("set mtime");
    fs::write(&sidecar, format!("MD5 (feed.csv) = {}\n", md5_hex(b"wednesday\n"))).expect("write");
    assert_eq!(run_hook(&world, "acme", &data, bin), Some(0));
    assert_eq!(run_hook(&world, "acme", &sidecar, bin), Some(0));
    let log = read(&world.path("hook.log"));
    assert!(log.contains("feed.csv: skipped, duplicate of run "), "{log}");
    assert_eq!(log.matches("waiting for the data file").count(), 1, "{log}");
    assert_eq!(jobs(), "acme|feed.csv\nacme|feed.csv\nacme|feed.csv\n");
}
