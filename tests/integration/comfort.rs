//! What an operator sees: the progress bar while hashing big files (on a terminal only), and
//! `-v` / `-vv` saying what happens.

use std::process::Command;

use crate::support::{World, md5_hex};

/// A file just past the size that earns a progress bar.
const BIG: usize = 64 << 20;

fn big_upload(w: &World) -> (std::path::PathBuf, String) {
    let content = vec![7u8; BIG];
    let file = w.upload("big.zip", &content);
    (file, md5_hex(&content))
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let w = World::new();
    let (file, md5) = big_upload(&w);
    // Not a terminal (the test's pipes): no bar.
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5]).arg("--force").run().code(0).stderr_lacks("hashing");
    // A terminal: util-linux `script` runs the command on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let shell_cmd = format!(
        "XDG_STATE_HOME={} {} -c {} acme {} --md5 {md5} --force",
        w.journal_dir().display(),
        env!("CARGO_BIN_EXE_ftptrigger"),
        w.config_path().display(),
        file.display()
    );
    let out = Command::new("script")
        .args(["-qec", &shell_cmd, "/dev/null"])
        .current_dir(w.dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("hashing big.zip"), "a progress bar on the terminal: {text:?}");
    // --quiet means quiet, terminal or not.
    let out = Command::new("script")
        .args(["-qec", &format!("{shell_cmd} --quiet"), "/dev/null"])
        .current_dir(w.dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hashing"), "no bar with --quiet: {text:?}");
}

#[test]
fn verbose_says_what_happens_and_quiet_by_default() {
    let w = World::new();
    let file = w.upload("a.zip", b"x");
    let md5 = md5_hex(b"x");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5]).run().code(0).stderr_lacks("info:");
    w.cmd()
        .arg("-v")
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5, "--force"])
        .run()
        .code(0)
        .stderr_has("ftptrigger: info: rule stmt (glob *.zip) takes a.zip")
        .stderr_has("ftptrigger: info: running ")
        .stderr_lacks("debug:");
    w.cmd()
        .arg("-vv")
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5, "--force"])
        .run()
        .code(0)
        .stderr_has("ftptrigger: debug: locking ");
}

#[test]
fn errors_say_what_to_do_next() {
    let w = World::new();
    let file = w.upload("notes.txt", b"x");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(11).stderr_has(&format!(
        "`ftptrigger -c {} explain acme {}` shows every rule's verdict",
        w.config_path().display(),
        file.display()
    ));
}
