//! contrib/README.md's vsftpd recipe, run for real: vsftpd 3.0.3 on 127.0.0.1 with the README's
//! `/etc/vsftpd.conf` lines (taken from the README itself, only `/srv/ftp` changed), a customer
//! that is a local account without a shell, its home in the scan account's group (setgid), and
//! `ftptrigger scan` run as that service account by the shipped cron line
//! (`contrib/cron/ftptrigger.cron`). Uploads are made with `curl -T`; the job's log, the scan's
//! output and the journal are looked at from outside.
//!
//! Needs root (to start vsftpd, add the accounts and the PAM service) and vsftpd unpacked by
//! `tests/ftp/setup-servers.sh` (its package conflicts with pure-ftpd's, so it is not installed;
//! `.ci/run` calls the script). Without them the test says why and passes without running
//! anything. Everything it starts or adds goes on drop: the server's process group is killed and
//! reaped, the accounts and `/etc/pam.d/ftptrigger-test-vsftpd-PID` are removed, and the rest
//! lives in the test's temp dir.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ftp_support::{
    Account, Daemon, EtcFile, FtpClient, JOB, LIMIT, PASSWORD_HASH, Server, find_tool, free_port,
    history_outcomes, job_runs, outcomes, own, read, skip, skip_or_fail, unpacked_servers, wait_listening,
};
use crate::support::{Run, Trigger, World, md5_hex, write_mode};

/// The test's name where it says why it skips.
const TEST: &str = "ftp_vsftpd::vsftpd";
/// How long a file must sit unchanged before a scan takes it (`settle`, 30 s by default).
const SETTLE: Duration = Duration::from_secs(1);

fn config(cid: &str) -> String {
    format!(
        r#"
[journal]
path = "state/journal.db"

[defaults]
timeout = "30s"
settle = "{}s"

[[rule]]
name = "customer-csv"
cid = "{cid}"
pattern = "*.csv"
root = "ftp/{cid}"
command = ["./job.sh", "--", "{{file}}"]
"#,
        SETTLE.as_secs()
    )
}

#[test]
fn vsftpd_uploads_are_processed_once_by_the_cron_scan_as_the_service_account() {
    let Some(tools) = Tools::find() else { return };
    let world = World::empty();
    let server = Vsftpd::start(&tools, &world);
    let (cid, scan) = (server.customer.name.clone(), &server.scan);

    let a = b"id,amount\n1,10\n2,20\n";
    server.upload("A.csv", a);
    server.upload("A.csv.md5", format!("{}  A.csv\n", md5_hex(a)).as_bytes());
    let b = b"id,amount\n3,30\n";
    server.upload("B.csv.md5", format!("{}\n", md5_hex(b).to_uppercase()).as_bytes());
    server.upload("B.csv", b);
    let c = b"id,amount\n5,50\n";
    server.upload("C.csv", c);
    server.upload("C.csv.md5", format!("{}  C.csv\n", md5_hex(b"something else")).as_bytes());
    let d = b"id,amount\n4,40\n";
    server.upload("D.csv", d);

    // What the recipe's settings promise: each upload is the customer's, in the scan account's
    // group (the setgid home), and readable by that group (local_umask=022).
    let root = world.path("ftp").join(&cid);
    for name in ["A.csv", "A.csv.md5", "B.csv", "B.csv.md5", "C.csv", "C.csv.md5", "D.csv"] {
        let meta =
            fs::metadata(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}{}", server.diagnostics()));
        assert_eq!(
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
            (server.customer.uid, scan.gid, 0o644),
            "{name}: owner, group, mode"
        );
    }

    // The cron line, once the files have settled: A and B run, C is a mismatch (reported, so the
    // scan exits 3 and cron would mail it), D waits for its sidecar.
    std::thread::sleep(SETTLE + Duration::from_millis(300));
    let first = server.cron_scan().code(3);
    let said = format!("{}{}", first.stdout(), first.stderr());
    assert!(said.contains("C.csv") && said.contains("exit 12"), "the scan's report:\n{said}");
    assert!(!said.contains("A.csv") && !said.contains("B.csv"), "--quiet reports only failures:\n{said}");
    let uid = scan.uid;
    let mut runs = job_runs(&world);
    runs.sort();
    assert_eq!(
        runs,
        vec![format!("A.csv {} {uid}", md5_hex(a)), format!("B.csv {} {uid}", md5_hex(b))],
        "{}",
        server.diagnostics()
    );
    assert_eq!(
        history_outcomes(&world, Some(scan)),
        outcomes(&[("A.csv", "success"), ("B.csv", "success"), ("C.csv", "md5_mismatch")])
    );

    // D's sidecar comes; the next scan runs D alone, quietly: nothing done is done again, and the
    // mismatch already reported is not reported twice.
    server.upload("D.csv.md5", format!("MD5 (D.csv) = {}\n", md5_hex(d)).as_bytes());
    std::thread::sleep(SETTLE + Duration::from_millis(300));
    server.cron_scan().code(0).stdout_is("").stderr_is("");
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
    assert_eq!(
        history_outcomes(&world, Some(scan)),
        outcomes(&[
            ("A.csv", "success"),
            ("B.csv", "success"),
            ("C.csv", "md5_mismatch"),
            ("D.csv", "success")
        ])
    );
}

// --- the tools, and when to skip ---------------------------------------------------------------

struct Tools {
    vsftpd: PathBuf,
    /// The package's own PAM service file, `/etc/pam.d/vsftpd` once installed.
    pam: PathBuf,
    curl: PathBuf,
}

impl Tools {
    /// The tools, or `None` after printing why the test cannot run here.
    fn find() -> Option<Tools> {
        let tree = unpacked_servers().join("vsftpd");
        let (vsftpd, pam) = (tree.join("usr/sbin/vsftpd"), tree.join("etc/pam.d/vsftpd"));
        let have = vsftpd.is_file() && pam.is_file();
        let others = ["useradd", "flock"].iter().all(|tool| find_tool(tool).is_some());
        let root = crate::support::is_root();
        match (have && others, find_tool("curl")) {
            (true, Some(curl)) if root => Some(Tools { vsftpd, pam, curl }),
            (true, Some(_)) => {
                skip(TEST, "not root (starting vsftpd and adding its accounts and PAM service need root)");
                None
            }
            _ if root => {
                let reason = format!(
                    "vsftpd (unpacked in {}), curl, useradd or flock is missing: run \
                     tests/ftp/setup-servers.sh (as root) first",
                    tree.display()
                );
                skip_or_fail(TEST, &reason);
                None
            }
            _ => {
                skip(
                    TEST,
                    "vsftpd or curl is missing and not root to fetch them (tests/ftp/setup-servers.sh \
                     does, as root)",
                );
                None
            }
        }
    }
}

// --- the server ---------------------------------------------------------------------------------

/// vsftpd in the foreground on 127.0.0.1, set up as contrib/README.md says.
struct Vsftpd {
    client: FtpClient,
    dir: PathBuf,
    // Dropped in this order: the server, its PAM service, the customer, the scan account (whose
    // group the customer is in).
    _vsftpd: Daemon,
    _pam: EtcFile,
    customer: Account,
    scan: Account,
}

impl Vsftpd {
    fn start(tools: &Tools, world: &World) -> Vsftpd {
        let dir = world.dir.path().to_path_buf();
        // The service account the scan runs as; its own group plays the README's `ftp-scan`.
        let scan = Account::add("s", &["--system", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"]);
        // `useradd -d /srv/ftp/acme -s /usr/sbin/nologin acme`, a password, and
        // `usermod -aG ftp-scan acme`. Its login is the CID.
        let ftp = world.path("ftp");
        let home_of = format!("{}/{{name}}", ftp.display());
        let customer = Account::add(
            "c",
            &["-d", &home_of, "-s", "/usr/sbin/nologin", "-p", PASSWORD_HASH, "-G", &scan.name],
        );
        let home = ftp.join(&customer.name);
        // `chgrp ftp-scan /srv/ftp/acme; chmod 2750 /srv/ftp/acme`
        fs::create_dir_all(&home).expect("mkdir");
        own(&dir, 0, 0, 0o755);
        own(&ftp, 0, 0, 0o755);
        own(&home, customer.uid, scan.gid, 0o2750);
        // The config, the journal and the job's log for the scan account.
        world.config(&config(&customer.name));
        own(&world.config_path(), 0, scan.gid, 0o640);
        world.script("job.sh", JOB);
        fs::create_dir_all(world.path("state")).expect("mkdir");
        own(&world.path("state"), scan.uid, scan.gid, 0o755);
        write_mode(&world.path("jobs.log"), b"", 0o644);
        own(&world.path("jobs.log"), scan.uid, scan.gid, 0o644);
        let empty = world.path("empty");
        fs::create_dir_all(&empty).expect("mkdir");

        // The package's PAM service, as its own name, less pam_shells: that module accepts only
        // shells listed in /etc/shells, where the README has nologin added, and this test does
        // not edit a file the whole machine reads.
        let pam_name = format!("ftptrigger-test-vsftpd-{}", std::process::id());
        let stack: String = read(&tools.pam)
            .lines()
            .filter(|line| !line.contains("pam_shells.so"))
            .map(|line| format!("{line}\n"))
            .collect();
        let pam = EtcFile::create(Path::new("/etc/pam.d").join(&pam_name), &stack, 0o644);

        // A port the OS just handed out may be taken again before vsftpd binds it: retry.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let conf = world.path("vsftpd.conf");
            write_mode(&conf, server_conf(world, port, &pam_name, &empty).as_bytes(), 0o600);
            let log = fs::File::create(dir.join("vsftpd.out")).expect("log file");
            let mut vsftpd = Daemon::spawn("vsftpd", &tools.vsftpd, |cmd| {
                cmd.arg(&conf)
                    .env_clear()
                    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                    .stdout(log.try_clone().expect("dup"))
                    .stderr(log);
            });
            match wait_listening(port, &mut [&mut vsftpd]) {
                Ok(()) => {
                    let client = FtpClient {
                        curl: tools.curl.clone(),
                        port,
                        login: customer.name.clone(),
                        outgoing: dir.join("outgoing"),
                    };
                    return Vsftpd { client, dir, _vsftpd: vsftpd, _pam: pam, customer, scan };
                }
                Err(why) => {
                    last_failure = format!(
                        "{why}\n--- vsftpd.out:\n{}\n--- vsftpd.log:\n{}",
                        read(&dir.join("vsftpd.out")),
                        read(&dir.join("vsftpd.log"))
                    );
                }
            }
        }
        panic!("vsftpd did not start: {last_failure}");
    }

    /// The shipped cron line's command, run as the scan account the way cron would (`/bin/sh -c`,
    /// the cron file's PATH), with only the installed paths changed: `ftptrigger` found first in
    /// a directory of this test's, the config from `FTPTRIGGER_CONFIG`, the flock in a directory
    /// of the temp dir that is, like /run/lock, everyone's (mode 1777).
    fn cron_scan(&self) -> Run {
        use std::os::unix::process::CommandExt;
        let cron = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/cron/ftptrigger.cron"));
        let line = cron
            .lines()
            .find(|l| !l.starts_with('#') && l.contains(" scan"))
            .expect("ftptrigger.cron has a scan line");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let command = fields[6..].join(" ");
        let lock = "/run/lock/ftptrigger-scan.lock";
        assert_eq!(command.matches(lock).count(), 1, "the cron line's lock: {line}");
        let run_lock = self.dir.join("run-lock");
        if !run_lock.exists() {
            fs::create_dir_all(&run_lock).expect("mkdir");
            own(&run_lock, 0, 0, 0o1777);
        }
        let command = command.replace(lock, &run_lock.join("ftptrigger-scan.lock").display().to_string());
        let path = cron.lines().find_map(|l| l.strip_prefix("PATH=")).expect("ftptrigger.cron sets PATH");

        let bin = self.dir.join("bin");
        if !bin.join("ftptrigger").exists() {
            fs::create_dir_all(&bin).expect("mkdir");
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ftptrigger"), bin.join("ftptrigger"))
                .expect("symlink");
        }
        let mut cron_job = Command::new("/bin/sh");
        cron_job
            .args(["-c", &command])
            .current_dir(&self.dir)
            .env_clear()
            .env("SHELL", "/bin/sh")
            .env("PATH", format!("{}:{path}", bin.display()))
            .env("HOME", "/nonexistent")
            .env("FTPTRIGGER_CONFIG", self.dir.join("ftpscanner.cfg"))
            .stdin(Stdio::null())
            .uid(self.scan.uid)
            .gid(self.scan.gid);
        let mut scan = Trigger::bare().timeout(LIMIT);
        scan.cmd = cron_job;
        scan.run()
    }
}

impl Server for Vsftpd {
    fn client(&self) -> &FtpClient {
        &self.client
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn logs(&self) -> &'static [&'static str] {
        &["jobs.log", "vsftpd.log", "vsftpd.out"]
    }

    fn uploads(&self) -> PathBuf {
        self.dir.join("ftp").join(&self.customer.name)
    }
}

/// The README's `/etc/vsftpd.conf` lines, as the README has them, homes under this test's
/// `ftp/`; then what only a test needs: 127.0.0.1 and a free port, in the foreground, its own
/// PAM service, empty directory and logs.
fn server_conf(world: &World, port: u16, pam: &str, empty: &Path) -> String {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/README.md"));
    let recipe = readme
        .split_once("**vsftpd on Debian 12")
        .and_then(|(_, rest)| rest.split_once("```ini\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("contrib/README.md has the vsftpd.conf lines");
    let srv = "local_root=/srv/ftp/$USER";
    assert_eq!(recipe.matches(srv).count(), 1, "the recipe's local_root:\n{recipe}");
    let recipe = recipe.replace(srv, &format!("local_root={}/$USER", world.path("ftp").display()));
    let dir = world.dir.path().display();
    format!(
        "# contrib/README.md\n{recipe}\n# this test's\n\
         listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
         anonymous_enable=NO\nlocal_enable=YES\npasv_address=127.0.0.1\n\
         secure_chroot_dir={empty}\npam_service_name={pam}\n\
         xferlog_enable=YES\nvsftpd_log_file={dir}/vsftpd.log\n",
        empty = empty.display()
    )
}
