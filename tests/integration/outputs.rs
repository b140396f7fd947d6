//! What people read, as snapshots beside this file (`snapshots/`): `explain`, `history`,
//! `check` and the `--json` result. A change of wording shows up as a diff to review; accept it
//! with `INSTA_UPDATE=always cargo test outputs` (or `cargo insta review`).
//!
//! The parts that differ from run to run are replaced before comparing: the test's directory,
//! times, durations, ids and the host name.

use crate::support::{Cfg, RECORDING_JOB, Run, World, md5_hex};

/// Compares `text` with the snapshot `name`, with this run's variable parts replaced.
fn snapshot(w: &World, name: &str, text: &str) {
    let dir = w.dir.path().to_string_lossy().into_owned();
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    for (pattern, with) in [
        (regex_escape(&dir), "[DIR]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)".into(), "[TIME]"),
        // As wide as the time it stands for, so the table's columns still line up.
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d".into(), "YYYY-MM-DD hh:mm:ss"),
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".into(), "[UUID]"),
        (r#""duration_ms": \d+"#.into(), r#""duration_ms": "[MS]""#),
        (r"succeeded in \d+(\.\d+)?m?s".into(), "succeeded in [DURATION]"),
        (r"(success +0 +)\S+".into(), "${1}[DURATION]"),
        (format!(r#"("host": ?)"{}""#, regex_escape(&host)), r#"${1}"[HOST]""#),
    ] {
        settings.add_filter(&pattern, with);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '/' { c.to_string() } else { format!("\\{c}") })
        .collect()
}

fn world() -> World {
    let config = Cfg::stmt("tags = { product = \"statements\" }")
        .journal("path = \"state/journal.db\"")
        .rule_running(
            "print",
            "acme",
            "ACME_*.pdf",
            r#"["./job.sh", "--", "{filename}"]"#,
            "timeout = \"10m\"",
        )
        .rule("beta", "beta", "*", "");
    World::with(&config.text(), RECORDING_JOB)
}

fn trigger(w: &World, name: &str, md5: &str) -> Run {
    let file = w.upload(name, name.as_bytes());
    w.cmd().arg("--json").arg("acme").arg(file).args(["--md5", md5]).run()
}

#[test]
fn explain_lists_every_candidate_and_the_command() {
    let w = world();
    w.upload("ACME_1.pdf", b"pdf");
    let run = w.cmd().args(["explain", "acme", "ftp/acme/ACME_1.pdf"]).run().code(0);
    snapshot(&w, "explain", &run.stdout());
}

#[test]
fn history_shows_runs_newest_first() {
    let w = world();
    trigger(&w, "a.zip", &md5_hex(b"a.zip")).code(0);
    trigger(&w, "b.zip", &md5_hex(b"not b")).code(12);
    trigger(&w, "a.zip", &md5_hex(b"a.zip")).code(0);
    // Times are shown in the local zone: TZ pins it, whatever the machine's.
    let run = w.cmd().arg("history").env("TZ", "CET-1").run().code(0);
    snapshot(&w, "history", &run.stdout());
    let json = w.cmd().args(["history", "--json", "--count", "1"]).run().code(0);
    snapshot(&w, "history-json", &json.stdout());
}

#[test]
fn check_names_each_problem_with_its_place() {
    let w = World::with(
        &Cfg::stmt("timeout = \"soon\"\ncommand_typo = 1").defaults("notify = [\"nowhere\"]").text(),
        RECORDING_JOB,
    );
    let run = w.cmd().arg("check").run().code(10);
    snapshot(&w, "check", &run.stdout());
}

#[test]
fn the_json_result_of_a_run() {
    let w = world();
    let run = trigger(&w, "a.zip", &md5_hex(b"a.zip")).code(0);
    let pretty = serde_json::to_string_pretty(&run.json()).expect("JSON");
    snapshot(&w, "json-success", &pretty);
    let run = trigger(&w, "c.zip", &md5_hex(b"not c")).code(12);
    let pretty = serde_json::to_string_pretty(&run.json()).expect("JSON");
    snapshot(&w, "json-md5-mismatch", &pretty);
}
