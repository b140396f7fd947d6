//! FTP servers run their hooks inside the customer's upload directory, and customers choose
//! what lies there. Nothing found in the working directory, nor a relative entry of `PATH`,
//! may choose the config, the program that runs, the journal, or a tool the hooks call.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    SYSTEM_CONFIG, SystemConfig, Trigger, World, md5_hex, no_system_config, wait_or_kill, write_mode,
};

/// A config the customer uploaded: were it used, its command would leave `marker`.
fn plant_customer_config(dir: &Path, marker: &Path) {
    let text = format!(
        "[journal]\npath = \"customer.db\"\n\n[[rule]]\ncid = \"acme\"\npattern = \"*\"\nroot = \".\"\ncommand = [\"/usr/bin/touch\", \"{}\"]\n",
        marker.display()
    );
    write_mode(&dir.join("ftpscanner.cfg"), text.as_bytes(), 0o600);
}

/// Executables named like the tools ftptrigger and the hooks call, planted in `dir`: each
/// leaves `planted/NAME` in the world if it ever runs.
fn plant_programs(w: &World, dir: &Path) {
    fs::create_dir_all(w.path("planted")).expect("mkdir");
    for name in ["dirname", "date", "tr", "tail", "logger", "ftptrigger", "sendmail", "jobtool"] {
        let body = format!("#!/bin/sh\n: > '{}/{name}'\n", w.path("planted").display());
        write_mode(&dir.join(name), body.as_bytes(), 0o755);
    }
}

fn planted_that_ran(w: &World) -> Vec<String> {
    let entries = fs::read_dir(w.path("planted")).expect("read planted/");
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// `ftptrigger acme a.zip --md5 ...` started inside the upload directory, without `-c`.
fn run_inside_the_upload_dir(w: &World) -> Trigger {
    w.upload("a.zip", b"x");
    let mut t = Trigger::bare();
    t.cmd.current_dir(w.root()).env("XDG_STATE_HOME", w.journal_dir());
    t.args(["acme", "a.zip", "--md5", &md5_hex(b"x")])
}

#[test]
fn a_config_in_the_working_directory_is_never_used() {
    let Some(_no_system_config) = no_system_config("a_config_in_the_working_directory_is_never_used") else {
        return;
    };
    let w = World::new();
    let marker = w.path("customer-config-used");
    plant_customer_config(&w.root(), &marker);
    run_inside_the_upload_dir(&w).run().code(10).stderr_is(&format!(
        "ERROR[10]: no config file found; tried {SYSTEM_CONFIG}, since neither --config nor FTPTRIGGER_CONFIG \
         names one; the working directory is never searched (pass --config, or start from ftpscanner.cfg.example)\n"
    ));
    assert!(!marker.exists() && !w.job_ran());
    assert!(!w.root().join("customer.db").exists(), "the customer's config chose a journal");
}

#[test]
fn with_a_system_config_the_one_in_the_working_directory_is_still_never_used() {
    let w = World::new();
    let system = format!(
        "[journal]\npath = \"{}\"\n\n[[rule]]\ncid = \"acme\"\npattern = \"*.zip\"\nroot = \"{}\"\ncommand = [\"{}\", \"{{file}}\"]\n",
        w.path("state/journal.db").display(),
        w.root().display(),
        w.path("job.sh").display()
    );
    let Some(_installed) =
        SystemConfig::install(&system, "with_a_system_config_the_one_in_the_working_directory…")
    else {
        return;
    };
    let marker = w.path("customer-config-used");
    plant_customer_config(&w.root(), &marker);
    run_inside_the_upload_dir(&w).run().code(0);
    assert!(w.job_ran(), "the system config's job ran");
    assert!(!marker.exists(), "the customer's config was used");
}

#[test]
fn a_relative_ftptrigger_config_is_refused_rather_than_looked_up_in_the_working_directory() {
    let w = World::new();
    let marker = w.path("customer-config-used");
    plant_customer_config(&w.root(), &marker);
    run_inside_the_upload_dir(&w).env("FTPTRIGGER_CONFIG", "ftpscanner.cfg").run().code(10).stderr_has(
        "ERROR[10]: FTPTRIGGER_CONFIG must be an absolute path, not ftpscanner.cfg: a relative one would be \
         looked up in the working directory",
    );
    assert!(!marker.exists());
}

/// A bare command name is found in PATH's absolute entries only, and the job runs in the
/// config's directory unless `workdir` says otherwise.
#[test]
fn a_bare_command_is_never_found_through_a_relative_path_entry_and_runs_in_the_configs_directory() {
    let w = World::with(
        "[[rule]]\ncid = \"acme\"\npattern = \"*.zip\"\nroot = \"ftp/acme\"\ncommand = [\"jobtool\", \"{file}\"]\n",
        "",
    );
    plant_programs(&w, &w.root());
    w.script("bin/jobtool", "#!/bin/sh\npwd > \"${0%/*}/../jobtool.pwd\"\n");
    let path = format!(".::{}:/usr/bin:/bin", w.path("bin").display());
    let config = w.config_path();
    run_inside_the_upload_dir(&w).arg("-c").arg(&config).env("PATH", &path).run().code(0);
    assert_eq!(planted_that_ran(&w), Vec::<String>::new());
    let pwd = fs::read_to_string(w.path("jobtool.pwd")).expect("the operator's jobtool ran");
    assert_eq!(Path::new(pwd.trim()), w.dir.path().canonicalize().unwrap());

    // Found nowhere but in the working directory: the job cannot start (exit 14), and says why.
    w.upload("b.zip", b"y");
    let mut t = Trigger::bare();
    t.cmd.current_dir(w.root()).env("XDG_STATE_HOME", w.journal_dir()).env("PATH", ".:");
    t.arg("-c")
        .arg(&config)
        .args(["acme", "b.zip", "--md5", &md5_hex(b"y")])
        .run()
        .code(14)
        .stderr_has("cannot run jobtool: not found in any absolute PATH entry");
    assert_eq!(planted_that_ran(&w), Vec::<String>::new());
}

#[test]
fn sendmail_is_never_found_through_a_relative_path_entry() {
    let w = World::with(
        r#"
[journal]
path = "state/journal.db"

[defaults]
notify = ["mail"]

[[rule]]
cid = "acme"
pattern = "*.zip"
root = "ftp/acme"
command = ["./job.sh"]

[channel.mail]
type = "email"
transport = "sendmail"
from = "ftptrigger@example.com"
to = ["ops@example.com"]
"#,
        "#!/bin/sh\nexit 3\n",
    );
    plant_programs(&w, &w.root());
    // The operator's sendmail, in an absolute PATH entry after the relative one.
    w.script("bin/sendmail", "#!/bin/sh\ncat > \"${0%/*}/../mail.txt\"\n");
    let path = format!(".:{}:/usr/bin:/bin", w.path("bin").display());
    let config = w.config_path();
    run_inside_the_upload_dir(&w).arg("-c").arg(&config).env("PATH", &path).run().code(14);
    let mail = fs::read_to_string(w.path("mail.txt")).expect("the operator's sendmail got the message");
    assert!(mail.contains("process_failed"), "{mail}");
    assert_eq!(planted_that_ran(&w), Vec::<String>::new());
}

/// `HOME` is often the FTP account's own upload tree: the default journal there would be the
/// customer's to forge or delete. Refused, as is a `HOME` that is not absolute.
#[test]
fn a_journal_inside_a_rules_root_is_refused_and_a_relative_home_is_ignored() {
    let w = World::new();
    w.upload("a.zip", b"x");
    let run = |home: &OsStr| {
        let mut t = Trigger::bare();
        t.cmd.current_dir(w.root()).env("HOME", home);
        t.arg("-c").arg(w.config_path()).args(["acme", "a.zip", "--md5", &md5_hex(b"x")]).run()
    };
    run(w.root().as_os_str()).code(10).stderr_has(&format!(
        "ERROR[10]: the journal {}/.local/state/ftptrigger/journal.db lies inside the root {} of rule stmt, \
         where customers can write",
        w.root().display(),
        w.root().display()
    ));
    run(OsStr::new(".")).code(1).stderr_has("no place for the journal");
    assert!(!w.job_ran());
    assert!(!w.root().join(".local").exists(), "a journal was made in the upload directory");
}

// --- the contrib hooks ----------------------------------------------------------------------

/// The three server wrappers, each run as its server would: (script, how the login and the
/// file reach it).
#[derive(Clone, Copy, Debug)]
enum Server {
    ProFtpd,
    PureFtpd,
    SftpGo,
}

impl Server {
    const ALL: [Server; 3] = [Server::ProFtpd, Server::PureFtpd, Server::SftpGo];

    fn command(self, login: &str, file: &Path) -> Command {
        let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
        let mut cmd = Command::new("/bin/sh");
        match self {
            Server::ProFtpd => {
                cmd.arg(contrib.join("proftpd/ftptrigger-proftpd.sh")).arg(login).arg(file);
            }
            Server::PureFtpd => {
                cmd.arg(contrib.join("pure-ftpd/ftptrigger-upload.sh")).arg(file).env("UPLOAD_VUSER", login);
            }
            Server::SftpGo => {
                cmd.arg(contrib.join("sftpgo/ftptrigger-sftpgo.sh"))
                    .env("FTPTRIGGER_SFTPGO_USER", login)
                    .env("FTPTRIGGER_SFTPGO_PATH", file)
                    .env("FTPTRIGGER_SFTPGO_STATUS", "1");
            }
        }
        cmd
    }
}

/// Runs `server`'s wrapper for `name` (and its sidecar) inside the upload directory, with `.`
/// first in PATH, and `FTPTRIGGER_CONFIG` set to `config` when given.
fn run_wrapper(w: &World, server: Server, name: &str, config: Option<&OsStr>) {
    let data = w.upload(name, name.as_bytes());
    fs::write(w.root().join(format!("{name}.md5")), format!("{}\n", md5_hex(name.as_bytes())))
        .expect("sidecar");
    let mut cmd = server.command("acme", &data);
    cmd.current_dir(w.root())
        .env_remove("FTPTRIGGER_CONFIG")
        .env("PATH", ".:/usr/local/bin:/usr/bin:/bin")
        .env("FTPTRIGGER_BIN", env!("CARGO_BIN_EXE_ftptrigger"))
        .env("FTPTRIGGER_HOOK_LOG", w.path("hook.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(config) = config {
        cmd.env("FTPTRIGGER_CONFIG", config);
    }
    let mut child = cmd.spawn().expect("run the hook");
    let status = wait_or_kill(&mut child, Duration::from_secs(30), &format!("{server:?}'s hook"));
    assert_eq!(status.code(), Some(0), "{server:?}");
}

fn hook_world() -> (World, PathBuf) {
    let w = World::with(
        "[journal]\npath = \"state/journal.db\"\n\n[[rule]]\nname = \"stmt\"\ncid = \"acme\"\npattern = \"*.zip\"\n\
         root = \"ftp/acme\"\ncommand = [\"./job.sh\", \"{file}\"]\n",
        "#!/bin/sh\nprintf '%s\\n' \"$FTPTRIGGER_FILENAME\" >> \"$(dirname \"$0\")/jobs.log\"\n",
    );
    let marker = w.path("customer-config-used");
    plant_customer_config(&w.root(), &marker);
    plant_programs(&w, &w.root());
    (w, marker)
}

#[test]
fn each_contrib_hook_run_inside_an_upload_directory_never_uses_what_lies_there() {
    let (w, marker) = hook_world();
    let log = || fs::read_to_string(w.path("hook.log")).unwrap_or_default();
    for server in Server::ALL {
        let name = format!("{server:?}.zip");
        run_wrapper(&w, server, &name, Some(w.config_path().as_os_str()));
        let jobs = fs::read_to_string(w.path("jobs.log")).unwrap_or_default();
        assert!(jobs.lines().any(|l| l == name), "{server:?}: the operator's job did not run:\n{}", log());
    }
    assert!(!marker.exists(), "the customer's config was used");
    assert_eq!(planted_that_ran(&w), Vec::<String>::new(), "a program in the upload directory ran");

    // A relative FTPTRIGGER_CONFIG would be resolved somewhere a customer might write: refused.
    run_wrapper(&w, Server::ProFtpd, "relative.zip", Some(OsStr::new("ftpscanner.cfg")));
    assert!(
        log().contains("FTPTRIGGER_CONFIG must be an absolute path, not ftpscanner.cfg; nothing ran"),
        "{}",
        log()
    );
    assert!(!marker.exists());
}

#[test]
fn each_contrib_hook_without_a_config_setting_passes_the_system_config_never_the_working_directorys() {
    let Some(_no_system_config) = no_system_config("each_contrib_hook_without_a_config_setting…") else {
        return;
    };
    let (w, marker) = hook_world();
    for server in Server::ALL {
        run_wrapper(&w, server, &format!("{server:?}.zip"), None);
    }
    let log = fs::read_to_string(w.path("hook.log")).unwrap_or_default();
    let refused = format!("ERROR[10]: no config file found; tried {SYSTEM_CONFIG}");
    assert_eq!(log.matches(&refused).count(), 3, "{log}");
    assert!(!marker.exists(), "the customer's config was used");
    assert!(!w.path("jobs.log").exists());
    assert_eq!(planted_that_ran(&w), Vec::<String>::new(), "a program in the upload directory ran");
}

/// Root running by hand on the FTP account's journal would leave root-owned files there that
/// the account's next hook cannot open: refused, with the command that works.
#[test]
fn root_is_refused_on_a_journal_another_account_owns() {
    if !crate::support::is_root() {
        eprintln!("skipped root_is_refused_on_a_journal_another_account_owns: needs root");
        return;
    }
    let w = World::new();
    let dir = w.journal_dir().join("ftptrigger");
    fs::create_dir_all(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    let file = w.upload("a.zip", b"x");
    let run = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(2);
    run.stderr_has("(uid 65534); run ftptrigger as that account (`sudo -u ");
    assert!(!w.job_ran());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "root left files in the account's journal directory");
    w.cmd().arg("history").run().code(2).stderr_has("(uid 65534)");
}

/// Root's first run must not create the journal for root alone when the hooks' account will
/// need it: not inside a directory that account owns, and not while the config is shared with
/// the account's group (as the README installs it). Nothing is created; the message has the fix.
#[test]
fn root_does_not_create_a_journal_the_hooks_account_needs() {
    if !crate::support::is_root() {
        eprintln!("skipped root_does_not_create_a_journal_the_hooks_account_needs: needs root");
        return;
    }
    // The journal's parent belongs to the account: its new directory would be root's.
    let w = World::new();
    fs::create_dir_all(w.journal_dir()).expect("mkdir");
    std::os::unix::fs::chown(w.journal_dir(), Some(65534), Some(65534)).expect("chown");
    let file = w.upload("a.zip", b"x");
    let run = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(2);
    run.stderr_has(&format!("(its directory {})", w.journal_dir().display()));
    assert!(!w.job_ran());
    assert!(!w.journal_dir().join("ftptrigger").exists(), "root created the journal directory");

    // A missing journal directory under root's own, with the config shared with a group.
    let w = World::new();
    std::os::unix::fs::chown(w.config_path(), Some(0), Some(65534)).expect("chgrp");
    fs::set_permissions(w.config_path(), std::os::unix::fs::PermissionsExt::from_mode(0o640)).expect("chmod");
    let file = w.upload("a.zip", b"x");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5_hex(b"x")])
        .run()
        .code(2)
        .stderr_has("does not exist, and the config is shared with group ")
        .stderr_has(&format!("-m 0700 {}", w.journal_dir().join("ftptrigger").display()));
    assert!(!w.job_ran());
    assert!(!w.journal_dir().join("ftptrigger").exists(), "root created the journal directory");

    // Once the directory exists (root's, as a root-only setup has it), root runs.
    fs::create_dir_all(w.journal_dir().join("ftptrigger")).expect("mkdir");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(0);
    assert!(w.job_ran());
}

/// A config only root can read passes for root and fails every hook of the FTP account:
/// `check` says so.
#[test]
fn check_warns_of_a_config_only_root_can_read() {
    if !crate::support::is_root() {
        eprintln!("skipped check_warns_of_a_config_only_root_can_read: needs root");
        return;
    }
    let w = World::new();
    let out = w.cmd().arg("check").run().code(0).stdout();
    assert!(!out.contains("only root can read"), "{out}");
    write_mode(&w.config_path(), fs::read(w.config_path()).unwrap().as_slice(), 0o600);
    w.cmd().arg("check").run().code(0).stdout_has("only root can read it (mode 0600)");
}
