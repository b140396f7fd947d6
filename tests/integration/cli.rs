//! The command line itself: help, version, the `run` form, completions and the man page.

use crate::support::{Trigger, World, md5_hex};

#[test]
fn version_and_help_exit_0() {
    Trigger::bare().arg("--version").run().code(0).stdout_has(env!("CARGO_PKG_VERSION"));
    Trigger::bare().arg("--help").run().code(0).stdout_has("Exit codes:");
    Trigger::bare().args(["help", "check"]).run().code(0).stdout_has("Validate the config");
}

#[test]
fn bad_arguments_exit_2() {
    Trigger::bare().run().code(2).stderr_has("Usage:");
    Trigger::bare().args(["acme"]).run().code(2);
    // Usage errors start as every other error does.
    let run = Trigger::bare().args(["--bogus"]).run().code(2).stderr_has("--bogus");
    assert!(run.stderr().starts_with("ERROR[2]: unexpected argument '--bogus' found"), "{}", run.stderr());
    Trigger::bare().args(["acme", "f", "--md5", "x", "--md5", "y"]).run().code(2);
}

/// `--quiet` and `--json` work before or after any subcommand, and each subcommand's help says
/// what they do there, not what they do for a run.
#[test]
fn quiet_and_json_are_explained_per_subcommand_and_work_on_either_side() {
    let help = |args: &[&str]| Trigger::bare().args(args).arg("--help").run().code(0).stdout();
    assert!(help(&[]).contains("Print the run's result object as JSON"));
    let history = help(&["history"]);
    assert!(history.contains("Print one JSON object per run (JSON lines)"), "{history}");
    assert!(!history.contains("result object") && !history.contains("output tail"), "{history}");
    assert!(help(&["check"]).contains("Print nothing when the config is valid"));
    assert!(help(&["outbox", "flush"]).contains("Print only failures (on stderr)"));

    let w = World::new();
    let file = w.upload("a.zip", b"x");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(0);
    for args in [["--json", "history"], ["history", "--json"]] {
        let out = w.cmd().args(args).run().code(0).stdout();
        assert!(out.starts_with("{\"version\":") && out.lines().count() == 1, "{args:?}: {out}");
    }
    for args in [["-q", "check"], ["check", "-q"]] {
        assert_eq!(w.cmd().args(args).run().code(0).stdout(), "", "{args:?}");
    }
    assert_eq!(w.cmd().args(["outbox", "list", "--quiet"]).run().code(0).stdout(), "");
    w.cmd().args(["history", "-q", "-v"]).run().code(2).stderr_has("cannot be used with");
}

#[test]
fn run_subcommand_handles_a_cid_named_like_a_subcommand() {
    let w = World::new();
    w.config(&crate::support::BASIC_CONFIG.replace("cid = \"acme\"", "cid = \"check\""));
    let file = w.upload("a.zip", b"x");
    w.cmd().args(["run", "check"]).arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(0);
    assert!(w.job_ran());
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        Trigger::bare().args(["completions", shell]).run().code(0).stdout_has("ftptrigger");
    }
    Trigger::bare().args(["completions", "tcsh"]).run().code(2);
}

/// The checked-in man page is what the code generates. To update it after changing a flag:
/// `UPDATE_MAN=1 cargo test man_page` (see the README).
#[test]
fn man_page_is_up_to_date() {
    let generated = ftptrigger::man::render();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/ftptrigger.1");
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::write(&path, &generated).expect("write man page");
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "man/ftptrigger.1 is stale: run `UPDATE_MAN=1 cargo test man_page` and commit the result"
    );
    let text = String::from_utf8(generated).unwrap();
    for code in ["0", "1", "2", "10", "11", "12", "13", "14", "15", "16", "128+n"] {
        assert!(text.contains(&format!("\\fB{code}\\fR")), "man page documents exit code {code}");
    }
}

#[test]
fn a_mistyped_subcommand_is_suggested_not_taken_for_a_cid() {
    Trigger::bare()
        .arg("histroy")
        .run()
        .code(2)
        .stderr_has("unrecognized subcommand 'histroy': did you mean 'history'?");
    Trigger::bare().args(["-q", "outbx"]).run().code(2).stderr_has("did you mean 'outbox'?");
    // With a FILE after it, the word is a CID: the usual complaint about the missing MD5.
    Trigger::bare().args(["histroy", "f.zip"]).run().code(2).stderr_lacks("did you mean").stderr_has("--md5");
}

/// `make install` installs the binary it is given (what `make` built, by default), never
/// building as root, with the man page, completions, the example config and contrib/.
#[test]
fn make_install_installs_what_was_built_and_the_docs() {
    if std::process::Command::new("make").arg("--version").output().is_err() {
        eprintln!("skipped: no make");
        return;
    }
    let dest = tempfile::tempdir().unwrap();
    let make = |args: &[&str]| {
        std::process::Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .arg(format!("DESTDIR={}", dest.path().display()))
            .output()
            .unwrap()
    };
    let missing = make(&["install", "BIN=/nonexistent/ftptrigger"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not built: run 'make' first"));
    let done = make(&["install", &format!("BIN={}", env!("CARGO_BIN_EXE_ftptrigger"))]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let root = dest.path().join("usr/local");
    for file in [
        "bin/ftptrigger",
        "share/man/man1/ftptrigger.1",
        "share/bash-completion/completions/ftptrigger",
        "share/doc/ftptrigger/ftpscanner.cfg.example",
        "share/doc/ftptrigger/contrib/ftptrigger-hook.sh",
        "share/doc/ftptrigger/contrib/proftpd/ftptrigger.conf",
    ] {
        assert!(root.join(file).is_file(), "{file} was not installed");
    }
    assert!(make(&["uninstall"]).status.success());
    assert!(!root.join("bin/ftptrigger").exists() && !root.join("share/doc/ftptrigger").exists());
}

/// With --json, stdout carries the result object even when the arguments are wrong.
#[test]
fn a_bad_md5_with_json_still_prints_the_result_object() {
    let run = Trigger::bare().args(["--json", "acme", "x.zip", "--md5", "abc"]).run().code(2);
    let v = run.json();
    assert_eq!(
        (v["outcome"].as_str(), v["exit_code"].as_u64(), v["cid"].as_str()),
        (Some("usage"), Some(2), Some("acme"))
    );
    assert!(v["message"].as_str().unwrap().starts_with("ERROR[2]: --md5: expected 32 hex digits"), "{v}");
    Trigger::bare()
        .args(["acme", "x.zip", "--md5", "abc"])
        .run()
        .code(2)
        .stdout_is("")
        .stderr_has("ERROR[2]: --md5:");
}

/// A closed pipe is success (the reader had enough); a full disk is not: what was asked for is
/// lost, so the exit is 1 and stderr says why.
#[test]
fn a_full_stdout_is_an_error_and_a_closed_pipe_is_not() {
    let w = crate::support::World::new();
    let mut t = w.cmd();
    t.cmd.arg("check").stdout(std::fs::File::options().write(true).open("/dev/full").unwrap());
    let out = t.cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write to stdout: No space left on device"));
    let mut t = w.cmd();
    let mut child = t.cmd.arg("check").stdout(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// A failure names the file it was about, and a --md5 of hex digits says how many it got.
#[test]
fn failures_name_the_file_and_a_short_md5_its_length() {
    let w = crate::support::World::with(crate::support::BASIC_CONFIG, "#!/bin/sh\nexit 3\n");
    let file = w.upload("ACME_1.zip", b"x");
    let md5 = crate::support::md5_hex(b"x");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5])
        .run()
        .code(14)
        .stderr_has("exited with status 3 (file ACME_1.zip)");
    let other = crate::support::md5_hex(b"y");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &other])
        .run()
        .code(12)
        .stderr_has("after transfer (file ACME_1.zip)");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5[..31]])
        .run()
        .code(2)
        .stderr_has("expected 32 hex digits, got 31");
}
