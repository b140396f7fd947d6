//! `explain CID FILE`: every candidate rule with its verdict, the command that would run, and
//! no side effects.

use crate::support::{RECORDING_JOB, World};

const RULES: &str = r#"
[[rule]]
name = "print"
cid = "acme"
pattern = "*.pdf"
root = "ftp/acme"
command = ["./job.sh", "{file}"]

[[rule]]
name = "stmt"
cid = "acme"
regex = 'ACME_(?P<cycle>\d{8})\.zip'
root = "ftp/acme"
command = ["./job.sh", "--cycle={cycle}", "{md5}", "{size}"]
env = { QUEUE = "q1" }

[[rule]]
name = "any-zip"
cid = "acme"
pattern = "*.zip"
root = "ftp/acme"
command = ["./job.sh"]

[[rule]]
name = "beta"
cid = "beta"
pattern = "*"
root = "ftp/acme"
command = ["./job.sh"]
"#;

fn world() -> World {
    World::with(RULES, RECORDING_JOB)
}

#[test]
fn lists_every_rule_with_its_verdict_and_the_command() {
    let w = world();
    let file = w.upload("ACME_20261122.zip", b"12345");
    let root = w.root().canonicalize().unwrap();
    let run = w.cmd().arg("explain").arg("acme").arg(&file).run().code(0);
    let out = run.stdout();
    let expected = [
        "  - rule print (line 2): glob *.pdf does not match".to_owned(),
        r"  * rule stmt (line 9): regex ACME_(?P<cycle>\d{8})\.zip matches: chosen".to_owned(),
        "  - rule any-zip (line 17): glob *.zip matches, but an earlier rule was chosen".to_owned(),
        "  - rule beta (line 24): for CID beta".to_owned(),
        format!(
            "  argv:    {}/job.sh --cycle=20261122 '{{md5}}' 5",
            w.dir.path().canonicalize().unwrap().display()
        ),
        format!("           FTPTRIGGER_FILE={}/ACME_20261122.zip", root.display()),
        "           QUEUE=q1".to_owned(),
    ];
    for line in &expected {
        assert!(out.lines().any(|l| l == line), "missing line {line:?} in:\n{out}");
    }
    assert!(!w.job_ran(), "explain must not run anything");
}

#[test]
fn no_matching_rule_exits_11() {
    let w = world();
    w.cmd()
        .args(["explain", "acme", "ftp/acme/notes.txt"])
        .run()
        .code(11)
        .stdout_has("no rule matches: a run would exit 11")
        // The run's ERROR line would only point back at explain.
        .stderr_is("");
}

#[test]
fn explain_speaks_json() {
    let w = world();
    let v = w.cmd().args(["explain", "--json", "acme", "ftp/acme/ACME_20261122.zip"]).run().code(0).json();
    let verdicts: Vec<&str> =
        v["rules"].as_array().unwrap().iter().map(|r| r["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["no_match", "chosen", "shadowed", "other_cid"]);
    assert_eq!(v["command"]["argv"][1], "--cycle=20261122");
    assert_eq!(v["command"]["env"]["QUEUE"], "q1");
    assert!(v["outcome"].is_null());
    let v = w.cmd().args(["explain", "--json", "acme", "ftp/acme/notes.txt"]).run().code(11).json();
    assert_eq!((v["outcome"].as_str(), v["command"].is_null()), (Some("not_configured"), true));
}

#[test]
fn file_outside_the_root_exits_13() {
    let w = world();
    std::fs::write(w.path("ACME_20261122.zip"), b"x").unwrap();
    w.cmd()
        .args(["explain", "acme", "ACME_20261122.zip"])
        .run()
        .code(13)
        .stdout_has("the file cannot be processed: file ACME_20261122.zip resolves to")
        .stdout_has("outside the root");
}
