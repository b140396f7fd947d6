//! The journal: one row per invocation past config loading, `run_id`, duplicates, `history`,
//! an unusable journal, retention, and the journal directory's mode. Real SQLite files, opened
//! here with rusqlite to count rows and to age them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Cfg, JournalRow, Trigger, World, md5_hex, wait_until};

const WRONG_MD5: &str = "0123456789abcdef0123456789abcdef";

/// Appends `<run id> <file name>` to `runs` beside itself, then: `fail*` exits 3, `slow*`
/// sleeps past its rule's timeout, and anything else succeeds unless a `fail-next` flag is
/// there (it is used up, and the run exits 4).
const JOB: &str = r#"#!/bin/sh
d="$(dirname "$0")"
name="$(basename "$1")"
echo "$FTPTRIGGER_RUN_ID $name" >> "$d/runs"
case "$name" in
  fail*) exit 3 ;;
  slow*) exec sleep 30 ;;
esac
if [ -e "$d/fail-next" ]; then rm "$d/fail-next"; exit 4; fi
echo "processed $name"
"#;

/// Rules: `slow*.zip` of acme with a 1 s timeout, any `*.zip` of acme, and `*.zip` of beta;
/// `defaults` and `journal` are added to their sections, `rule` to the acme `*.zip` rule.
fn config(journal: &str, defaults: &str, rule: &str) -> String {
    Cfg::default()
        .journal(journal)
        .defaults(defaults)
        .rule("slow", "acme", "slow*.zip", "timeout = \"1s\"\nkill_grace = \"1s\"")
        .rule("stmt", "acme", "*.zip", rule)
        .rule("beta", "beta", "*.zip", "")
        .text()
}

/// A world with [`JOB`] and [`config`]`(journal, defaults, rule)`.
fn world_with(journal: &str, defaults: &str, rule: &str) -> World {
    let w = World::with(&config(journal, defaults, rule), JOB);
    fs::create_dir_all(w.path("ftp/beta")).unwrap();
    w
}

fn world() -> World {
    world_with("", "", "")
}

/// `ftptrigger -c <config> <cid> ftp/<cid>/<name> --md5 <the MD5 of its content>` (of nothing,
/// when the file does not exist).
fn trigger(w: &World, cid: &str, name: &str) -> Trigger {
    let file = w.path(format!("ftp/{cid}/{name}"));
    let md5 = fs::read(&file).map_or_else(|_| md5_hex(b""), |content| md5_hex(&content));
    w.cmd().arg(cid).arg(file).args(["--md5", &md5])
}

/// Writes `ftp/<cid>/<name>` with `content`.
fn upload(w: &World, cid: &str, name: &str, content: &str) {
    fs::write(w.path(format!("ftp/{cid}/{name}")), content).unwrap();
}

/// How many times the job ran.
fn job_runs(w: &World) -> usize {
    fs::read_to_string(w.path("runs")).map_or(0, |text| text.lines().count())
}

/// `history` with `args`, as JSON objects.
fn history_json(w: &World, args: &[&str]) -> Vec<Value> {
    let run = w.cmd().arg("history").args(args).arg("--json").run().code(0);
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn ids(runs: &[Value]) -> Vec<i64> {
    runs.iter().map(|r| r["run_id"].as_i64().expect("run_id is an integer")).collect()
}

fn states(w: &World) -> Vec<String> {
    w.journal_rows().into_iter().map(|r| r.state).collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

// --- one row per invocation -------------------------------------------------------------------

#[test]
fn every_outcome_leaves_exactly_one_finished_row() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    upload(&w, "acme", "notes.txt", "notes");
    upload(&w, "acme", "fail.zip", "fail");
    upload(&w, "acme", "slow.zip", "slow");
    let wrong_md5 = w.cmd().arg("acme").arg(w.path("ftp/acme/ACME_1.zip")).args(["--md5", WRONG_MD5]);
    let cases = [
        (trigger(&w, "acme", "ACME_1.zip"), 0, "success"),
        (trigger(&w, "acme", "ACME_1.zip"), 0, "duplicate_skipped"),
        (trigger(&w, "acme", "notes.txt"), 11, "not_configured"),
        (wrong_md5, 12, "md5_mismatch"),
        (trigger(&w, "acme", "missing.zip"), 13, "bad_file"),
        (trigger(&w, "acme", "fail.zip"), 14, "process_failed"),
        (trigger(&w, "acme", "slow.zip").timeout(Duration::from_secs(30)), 15, "timed_out"),
    ];
    for (n, (t, code, outcome)) in cases.into_iter().enumerate() {
        t.run().code(code);
        let rows = w.journal_rows();
        assert_eq!(rows.len(), n + 1, "after {outcome}: {rows:?}");
        let expected = JournalRow {
            id: n as i64 + 1,
            state: outcome.to_owned(),
            exit_code: Some(i64::from(code)),
            finished: true,
        };
        assert_eq!(rows[n], expected, "{rows:?}");
    }
}

#[test]
fn config_and_usage_errors_write_no_row() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    // Exit 2: the --md5 given is not an MD5.
    w.cmd().arg("acme").arg(w.path("ftp/acme/ACME_1.zip")).args(["--md5", "nope"]).run().code(2);
    // Exit 10: the config is invalid.
    w.config("[[rule]]\nname = 3\n");
    trigger(&w, "acme", "ACME_1.zip").run().code(10);
    assert_eq!(states(&w), ["success"]);
}

#[test]
fn dry_run_writes_no_row() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").arg("--dry-run").run().code(0);
    assert_eq!(w.journal_rows(), []);
    assert_eq!(job_runs(&w), 0);
    // Nor does it count as a success: the real run still runs the job.
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    assert_eq!(job_runs(&w), 1);
}

#[test]
fn json_run_id_is_the_row_id_and_the_job_gets_it_as_placeholder_and_env() {
    let w = World::empty();
    w.script("job.sh", "#!/bin/sh\necho \"$1 $FTPTRIGGER_RUN_ID\" >> \"$(dirname \"$0\")/seen\"\n");
    w.config(
        "[[rule]]\nname = \"stmt\"\ncid = \"acme\"\npattern = \"*.zip\"\nroot = \"ftp/acme\"\n\
         command = [\"./job.sh\", \"{run_id}\"]\n",
    );
    let file = w.upload("ACME_1.zip", b"one");
    let md5 = md5_hex(b"one");
    for expected in [1, 2] {
        let run = w.cmd().args(["--json", "--force", "acme"]).arg(&file).args(["--md5", &md5]).run();
        let v = run.code(0).json();
        assert!(v["run_id"].is_i64(), "run_id is an integer: {v}");
        assert_eq!(v["run_id"], expected);
        assert_eq!(w.journal_rows().last().unwrap().id, expected);
    }
    assert_eq!(fs::read_to_string(w.path("seen")).unwrap(), "1 1\n2 2\n");
}

#[test]
fn history_json_lines_have_the_fields_of_the_json_result() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    upload(&w, "acme", "fail.zip", "fail");
    upload(&w, "acme", "notes.txt", "notes");
    let results: Vec<Value> = [
        (trigger(&w, "acme", "ACME_1.zip"), 0),
        (trigger(&w, "acme", "fail.zip"), 14),
        (trigger(&w, "acme", "notes.txt"), 11),
        (trigger(&w, "acme", "ACME_1.zip"), 0),
    ]
    .into_iter()
    .map(|(t, code)| t.arg("--json").run().code(code).json())
    .collect();
    let mut history = history_json(&w, &[]);
    history.reverse();
    assert_eq!(history.len(), results.len());
    for (shown, result) in history.iter().zip(&results) {
        assert_eq!(keys(shown), keys(result), "history line {shown}\n--json result {result}");
        for nested in ["md5", "process"] {
            assert_eq!(keys(&shown[nested]), keys(&result[nested]), "{nested}: {shown}\n{result}");
        }
        for same in ["run_id", "event_id", "outcome", "exit_code", "filename", "message"] {
            assert_eq!(shown[same], result[same], "{same}: {shown}\n{result}");
        }
    }
}

#[test]
fn the_journal_is_sqlite_in_wal_mode_with_a_schema_version() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    let conn = w.journal();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    assert!(version >= 1, "user_version {version}");
}

// --- duplicates -------------------------------------------------------------------------------

#[test]
fn the_same_file_again_is_skipped_naming_the_earlier_run_and_force() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stdout_is("processed ACME_1.zip\n");
    trigger(&w, "acme", "ACME_1.zip")
        .run()
        .code(0)
        .stdout_is("")
        .stderr_has("already succeeded in run 1 at ")
        .stderr_has("--force");
    assert_eq!(job_runs(&w), 1);
    assert_eq!(states(&w), ["success", "duplicate_skipped"]);
}

#[test]
fn duplicate_json_result_says_duplicate_skipped_and_exit_0() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    let v = trigger(&w, "acme", "ACME_1.zip").arg("--json").run().code(0).json();
    assert_eq!(v["outcome"], "duplicate_skipped");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["run_id"], 2);
    assert!(v["message"].as_str().unwrap().contains("run 1"), "{v}");
}

#[test]
fn force_runs_a_duplicate_again() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    trigger(&w, "acme", "ACME_1.zip").arg("--force").run().code(0).stdout_is("processed ACME_1.zip\n");
    assert_eq!(job_runs(&w), 2);
    assert_eq!(states(&w), ["success", "success"]);
}

#[test]
fn duplicates_run_in_defaults_runs_the_same_file_again() {
    let w = world_with("", r#"duplicates = "run""#, "");
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stdout_is("processed ACME_1.zip\n");
    assert_eq!(job_runs(&w), 2);
}

#[test]
fn duplicates_run_on_the_rule_runs_the_same_file_again() {
    let w = world_with("", "", r#"duplicates = "run""#);
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stdout_is("processed ACME_1.zip\n");
    assert_eq!(job_runs(&w), 2);
    // The other rules keep the default.
    upload(&w, "beta", "B.zip", "b");
    trigger(&w, "beta", "B.zip").run().code(0);
    trigger(&w, "beta", "B.zip").run().code(0).stderr_has("already succeeded");
    assert_eq!(job_runs(&w), 3);
}

#[test]
fn duplicates_skip_on_the_rule_wins_over_run_in_defaults() {
    let w = world_with("", r#"duplicates = "run""#, r#"duplicates = "skip""#);
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stderr_has("already succeeded");
    assert_eq!(job_runs(&w), 1);
}

#[test]
fn new_content_under_the_same_name_runs() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "first version");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    upload(&w, "acme", "ACME_1.zip", "second version");
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stdout_is("processed ACME_1.zip\n");
    assert_eq!(job_runs(&w), 2);
    assert_eq!(states(&w), ["success", "success"]);
}

#[test]
fn the_same_content_under_another_name_or_cid_runs() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "same");
    upload(&w, "acme", "ACME_2.zip", "same");
    upload(&w, "beta", "ACME_1.zip", "same");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    trigger(&w, "acme", "ACME_2.zip").run().code(0);
    trigger(&w, "beta", "ACME_1.zip").run().code(0);
    assert_eq!(job_runs(&w), 3);
}

#[test]
fn a_failed_run_is_not_a_duplicate() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    fs::write(w.path("fail-next"), "").unwrap();
    trigger(&w, "acme", "ACME_1.zip").run().code(14);
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stdout_is("processed ACME_1.zip\n");
    // Now it has succeeded once: the third is the duplicate, of run 2.
    trigger(&w, "acme", "ACME_1.zip").run().code(0).stderr_has("already succeeded in run 2 at ");
    assert_eq!(job_runs(&w), 2);
    assert_eq!(states(&w), ["process_failed", "success", "duplicate_skipped"]);
}

// --- history ----------------------------------------------------------------------------------

/// Six runs: 1 acme/A.zip success, 2 acme/fail.zip 14, 3 beta/B.zip success,
/// 4 acme/A.zip duplicate, 5 acme/notes.txt 11, 6 beta/A.zip success.
fn mixed_history() -> World {
    let w = world();
    upload(&w, "acme", "A.zip", "a");
    upload(&w, "acme", "fail.zip", "f");
    upload(&w, "acme", "notes.txt", "n");
    upload(&w, "beta", "B.zip", "b");
    upload(&w, "beta", "A.zip", "a");
    trigger(&w, "acme", "A.zip").run().code(0);
    trigger(&w, "acme", "fail.zip").run().code(14);
    trigger(&w, "beta", "B.zip").run().code(0);
    trigger(&w, "acme", "A.zip").run().code(0);
    trigger(&w, "acme", "notes.txt").run().code(11);
    trigger(&w, "beta", "A.zip").run().code(0);
    w
}

#[test]
fn history_is_newest_first_and_shows_20_by_default() {
    let w = world();
    for i in 0..25 {
        let name = format!("F{i:02}.zip");
        upload(&w, "acme", &name, &name);
        trigger(&w, "acme", &name).run().code(0);
    }
    let runs = history_json(&w, &[]);
    assert_eq!(ids(&runs), (6..=25).rev().collect::<Vec<_>>());
    assert_eq!(runs[0]["filename"], "F24.zip");
    assert_eq!(runs[0]["outcome"], "success");
    // The table: a header and the same 20 runs.
    let table = w.cmd().arg("history").run().code(0).stdout();
    assert_eq!(table.lines().count(), 21, "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("25 "), "{table}");
}

#[test]
fn history_count_limits_the_runs_shown() {
    let w = mixed_history();
    assert_eq!(ids(&history_json(&w, &["--count", "3"])), [6, 5, 4]);
    assert_eq!(ids(&history_json(&w, &["-n", "1"])), [6]);
    assert_eq!(ids(&history_json(&w, &["--count", "100"])), [6, 5, 4, 3, 2, 1]);
}

#[test]
fn history_cid_shows_only_that_cid() {
    let w = mixed_history();
    assert_eq!(ids(&history_json(&w, &["--cid", "beta"])), [6, 3]);
    assert_eq!(ids(&history_json(&w, &["--cid", "nobody"])), Vec::<i64>::new());
}

#[test]
fn history_file_shows_only_that_file_name() {
    let w = mixed_history();
    assert_eq!(ids(&history_json(&w, &["--file", "A.zip"])), [6, 4, 1]);
    assert_eq!(ids(&history_json(&w, &["--file", "A.zip", "--cid", "acme"])), [4, 1]);
}

#[test]
fn history_failed_shows_only_runs_that_did_not_succeed() {
    let w = mixed_history();
    let failed = history_json(&w, &["--failed"]);
    assert_eq!(ids(&failed), [5, 2]);
    assert_eq!(failed[0]["outcome"], "not_configured");
    assert_eq!(failed[1]["outcome"], "process_failed");
    assert_eq!(failed[1]["exit_code"], 14);
    assert_eq!(ids(&history_json(&w, &["--failed", "--count", "1"])), [5]);
}

#[test]
fn history_table_has_the_header_and_a_line_per_run() {
    let w = mixed_history();
    let table = w.cmd().arg("history").run().code(0).stdout();
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["RUN", "STARTED", "CID", "FILE", "OUTCOME", "EXIT", "DURATION"], "{table}");
    assert_eq!(lines.len(), 7, "{table}");
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    // RUN, STARTED (date, time and offset), CID, FILE, OUTCOME, EXIT, DURATION.
    assert_eq!(first.len(), 9, "{table}");
    assert_eq!((first[0], first[4], first[5], first[6], first[7]), ("6", "beta", "A.zip", "success", "0"));
    let failed: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!((failed[0], failed[6], failed[7]), ("2", "process_failed", "14"), "{table}");
    assert!(lines[3].contains("duplicate_skipped"), "{table}");
}

/// Every report ftptrigger writes reads back; one that does not (a journal edited by hand) is
/// an error that names the run, rather than a row shown with nothing in it.
#[test]
fn history_names_a_run_whose_report_cannot_be_read() {
    let w = mixed_history();
    w.journal().execute("UPDATE runs SET report = '{\"version\": 1}' WHERE id = 3", []).unwrap();
    w.cmd().arg("history").run().code(1).stderr_has("the report of run 3 cannot be read");
    assert_eq!(ids(&history_json(&w, &["--count", "2"])), [6, 5], "the runs after it still read");
}

#[test]
fn history_of_an_empty_journal_is_just_the_header() {
    let w = world();
    let table = w.cmd().arg("history").run().code(0).stdout();
    assert_eq!(table.split_whitespace().collect::<Vec<_>>().len(), 7, "{table:?}");
    w.cmd().args(["history", "--json"]).run().code(0).stdout_is("");
}

/// The line on stderr that says which journal `history` read.
fn whence(w: &World, runs: usize) -> String {
    format!("ftptrigger: {runs} runs from journal {}\n", w.journal_path().display())
}

/// `history` says which journal it read, on stderr (stdout stays the table or JSON lines;
/// `--quiet` drops the line).
#[test]
fn history_names_the_journal_it_read() {
    let w = mixed_history();
    w.cmd().arg("history").run().code(0).stderr_is(&whence(&w, 6));
    w.cmd().args(["history", "--json", "-n", "2"]).run().code(0).stderr_is(&whence(&w, 2));
    w.cmd().args(["--quiet", "history"]).run().code(0).stderr_is("");
}

/// No journal where `history` looks, or no runs in it, is said, with where runs made as
/// another user are: the default journal is per user, and the FTP server's hooks run as its
/// account. A journal the config names is the same for everyone, so no such hint.
#[test]
fn history_without_a_journal_says_where_it_looked_and_where_other_users_runs_are() {
    let w = world();
    let run =
        w.cmd().arg("history").run().code(0).stdout_is("RUN  STARTED  CID  FILE  OUTCOME  EXIT  DURATION\n");
    let looked = format!(
        "ftptrigger: no journal at {}: nothing has been recorded there; ",
        w.journal_path().display()
    );
    assert!(run.stderr().starts_with(&looked), "{}", run.stderr());
    for hint in
        ["journal is per user", "the FTP server's account", "that user's journal", "set [journal] path in "]
    {
        assert!(run.stderr().contains(hint), "{hint:?} in {}", run.stderr());
    }
    w.cmd().args(["history", "--json"]).run().code(0).stdout_is("").stderr_has(&looked);
    assert!(!w.journal_path().exists(), "looking created the journal");

    let w = mixed_history();
    let none = format!("ftptrigger: no runs to show in journal {}; ", w.journal_path().display());
    w.cmd().args(["history", "--cid", "nobody"]).run().code(0).stderr_has(&none).stderr_has("per user");

    let w = world_with(r#"path = "var/journal.db""#, "", "");
    let looked = format!(
        "ftptrigger: no journal at {}: nothing has been recorded there\n",
        w.path("var/journal.db").display()
    );
    w.cmd().arg("history").run().code(0).stderr_is(&looked);
}

/// The table shows when each run started in local time with its offset; `TZ` is set here, so
/// the machine's own zone cannot change the result. JSON keeps RFC 3339 UTC.
#[test]
fn history_shows_local_time_with_its_offset_and_json_keeps_utc() {
    let w = mixed_history();
    let utc = history_json(&w, &["-n", "1"])[0]["started_at"].as_str().unwrap().to_owned();
    assert!(utc.ends_with('Z') && utc.len() == 20, "{utc}");
    let started = humantime::parse_rfc3339(&utc).unwrap();
    let east = |secs| started + Duration::from_secs(secs);
    let west = |secs| started - Duration::from_secs(secs);
    for (tz, local, offset) in
        [("UTC0", started, "+00:00"), ("IST-5:30", east(19_800), "+05:30"), ("EST5", west(18_000), "-05:00")]
    {
        let local = humantime::format_rfc3339_seconds(local).to_string().replace('T', " ").replace('Z', "");
        let table = w.cmd().arg("history").env("TZ", tz).run().code(0).stdout();
        let line = table.lines().nth(1).unwrap();
        assert!(line.starts_with(&format!("6    {local} {offset}  beta ")), "TZ={tz}: {table}");
    }
}

/// `history` and `outbox list` need only the journal, so a config whose rules have errors
/// still serves them, with a line saying it is broken. A run needs its rules and is refused,
/// its message counting the errors: the warnings printed with them stop nothing.
#[test]
fn history_and_outbox_list_read_the_journal_of_a_config_whose_rules_have_errors() {
    let w = mixed_history();
    let unset_secret = "[channel.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"FTPTRIGGER_TEST_UNSET\"\n";
    w.config(&(config("", "", "timeout = \"soon\"\ncommand_typo = 1") + unset_secret));
    let broken = format!(
        "ftptrigger: config {} is invalid (2 errors): `ftptrigger check` lists them; reading the journal it names all \
         the same\n",
        w.config_path().display()
    );
    let run = w.cmd().arg("history").run().code(0);
    assert_eq!(run.stderr(), format!("{broken}{}", whence(&w, 6)));
    assert_eq!(run.stdout().lines().count(), 7, "{}", run.stdout());
    assert_eq!(ids(&history_json(&w, &[])), [6, 5, 4, 3, 2, 1]);
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_is("outbox is empty\n").stderr_is(&broken);
    w.cmd().args(["--quiet", "history"]).run().code(0).stderr_is("");

    upload(&w, "acme", "C.zip", "c");
    let refused = format!("ERROR[10]: config {} is invalid (2 errors)\n", w.config_path().display());
    trigger(&w, "acme", "C.zip")
        .run()
        .code(10)
        .stderr_has("secret_env: warning: FTPTRIGGER_TEST_UNSET is set neither")
        .stderr_has(&refused);
    assert_eq!(ids(&history_json(&w, &[])), [6, 5, 4, 3, 2, 1], "the refused run wrote no row");
}

/// What `history` needs of the config, `[journal]`, must itself be valid: if it is not, every
/// problem of the config is printed, as for any command.
#[test]
fn history_of_a_config_whose_journal_section_has_errors_is_refused_with_every_problem() {
    let w = world_with(r#"retention = "forever""#, "", r#"timeout = "soon""#);
    w.cmd()
        .arg("history")
        .run()
        .code(10)
        .stderr_has("journal.retention: invalid duration")
        .stderr_has("rule[1].timeout: invalid duration")
        .stderr_has("is invalid (2 errors)");
}

/// The journal of a config with broken rules is still refused inside a rule's root, whose
/// customers could have planted it: the roots are read as written.
#[test]
fn a_journal_inside_a_root_is_refused_even_when_the_rules_have_errors() {
    let w = world_with(r#"path = "ftp/beta/journal.db""#, "", r#"timeout = "soon""#);
    fs::create_dir_all(w.path("ftp/beta")).unwrap();
    let inside = format!("the journal {} lies inside the root ", w.path("ftp/beta/journal.db").display());
    w.cmd().arg("history").run().code(10).stderr_has(&inside).stderr_has("of rule beta");
    w.cmd().args(["outbox", "list"]).run().code(10).stderr_has(&inside);
}

#[test]
fn history_into_a_closed_pipe_is_not_a_panic() {
    let w = mixed_history();
    for json in [false, true] {
        let mut t = w.cmd().arg("history");
        if json {
            t = t.arg("--json");
        }
        t.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = t.cmd.spawn().expect("spawn ftptrigger");
        drop(child.stdout.take()); // `ftptrigger history | head -c 0`
        let pid = rustix::process::Pid::from_child(&child);
        let mut done = None;
        wait_until(Duration::from_secs(20), "history ends", || {
            done = child.try_wait().unwrap();
            done.is_some()
        });
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = done.unwrap();
        assert_eq!(status.code(), Some(0), "pid {pid:?} json {json}: {status:?}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn history_piped_into_head_prints_the_header_and_no_panic() {
    let w = mixed_history();
    let script = r#""$0" -c "$1" history | head -1"#;
    let mut t = Trigger::bare();
    t.cmd = std::process::Command::new("sh");
    t.cmd
        .args(["-c", script, env!("CARGO_BIN_EXE_ftptrigger")])
        .arg(w.config_path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("XDG_STATE_HOME", w.journal_dir());
    let run = t.run().code(0).stderr_lacks("panicked");
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());
    assert!(run.stdout().starts_with("RUN "), "{}", run.stdout());
}

// --- a journal that cannot be used ------------------------------------------------------------

#[test]
fn journal_under_a_regular_file_is_error_1_and_nothing_runs() {
    // A regular file where a directory should be stops root too.
    let w = world_with(r#"path = "blocker/journal.db""#, "", "");
    fs::write(w.path("blocker"), "not a directory").unwrap();
    upload(&w, "acme", "ACME_1.zip", "one");
    let expected = format!("ERROR[1]: cannot open journal {}:", w.path("blocker/journal.db").display());
    trigger(&w, "acme", "ACME_1.zip").run().code(1).stderr_has(&expected).stdout_is("");
    assert_eq!(job_runs(&w), 0, "the job ran unrecorded");
    let v = trigger(&w, "acme", "ACME_1.zip").arg("--json").run().code(1).json();
    assert_eq!(v["outcome"], "internal_error");
    assert_eq!(job_runs(&w), 0, "the job ran unrecorded");
}

#[test]
fn journal_that_is_not_a_database_is_error_1_and_nothing_runs() {
    let w = world_with(r#"path = "journal.db""#, "", "");
    fs::write(w.path("journal.db"), "this is not SQLite, and it is long enough to have a header...").unwrap();
    upload(&w, "acme", "ACME_1.zip", "one");
    let expected = format!("ERROR[1]: cannot open journal {}:", w.path("journal.db").display());
    trigger(&w, "acme", "ACME_1.zip").run().code(1).stderr_has(&expected);
    assert_eq!(job_runs(&w), 0, "the job ran unrecorded");
}

#[test]
fn history_of_an_unusable_journal_is_error_1() {
    let w = world_with(r#"path = "blocker/journal.db""#, "", "");
    fs::write(w.path("blocker"), "not a directory").unwrap();
    w.cmd().arg("history").run().code(1).stderr_has("ERROR[1]: cannot open journal ");
}

#[test]
fn journal_directory_is_created_with_mode_0700() {
    let mode = |p: std::path::PathBuf| fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    // The default place, under $XDG_STATE_HOME.
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    assert_eq!(mode(w.path("state/ftptrigger")), 0o700);
    // A configured path whose directories do not exist yet.
    let w = world_with(r#"path = "var/lib/ftptrigger/journal.db""#, "", "");
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    assert_eq!(mode(w.path("var/lib/ftptrigger")), 0o700);
    assert!(w.path("var/lib/ftptrigger/journal.db").is_file());
    assert!(!w.journal_path().exists(), "the configured path was not used");
}

// --- retention --------------------------------------------------------------------------------

const DAY_MS: i64 = 86_400_000;

/// Makes runs `ids` look `days` days older than they are.
fn backdate(w: &World, ids: &[i64], days: i64) {
    let conn = w.journal();
    for id in ids {
        conn.execute("UPDATE runs SET started_ms = started_ms - ?1 WHERE id = ?2", [days * DAY_MS, *id])
            .unwrap();
    }
}

/// Forgets when the journal was last pruned, so the next invocation prunes.
fn prune_is_due(w: &World) {
    w.journal().execute("DELETE FROM meta WHERE key = 'last_prune'", []).unwrap();
}

#[test]
fn runs_older_than_retention_are_pruned_and_newer_ones_stay() {
    let w = world_with(r#"retention = "1d""#, "", "");
    for name in ["A.zip", "B.zip", "C.zip"] {
        upload(&w, "acme", name, name);
        trigger(&w, "acme", name).run().code(0);
    }
    backdate(&w, &[1, 2], 2);
    prune_is_due(&w);
    upload(&w, "acme", "D.zip", "D.zip");
    trigger(&w, "acme", "D.zip").run().code(0);
    let left: Vec<i64> = w.journal_rows().iter().map(|r| r.id).collect();
    assert_eq!(left, [3, 4]);
}

/// Notifications go with the runs: delivered ones (and dead ones) older than retention are
/// deleted; a pending one stays whatever its age, for `outbox flush`.
#[test]
fn settled_notifications_older_than_retention_are_pruned_and_pending_ones_stay() {
    let hook = crate::servers::HttpReceiver::ok();
    let channels = format!(
        "{}{}",
        crate::notify::webhook("up", &hook.url(), ""),
        crate::notify::webhook("down", "http://127.0.0.1:9/", "retries = 0\ntimeout = \"1s\"")
    );
    let w = World::with(
        &Cfg::stmt("notify_success = [\"up\", \"down\"]")
            .journal("retention = \"1d\"")
            .tail(&channels)
            .text(),
        JOB,
    );
    upload(&w, "acme", "A.zip", "a");
    trigger(&w, "acme", "A.zip").run().code(0);
    let states = |w: &World| -> Vec<String> {
        let conn = w.journal();
        let mut stmt = conn.prepare("SELECT state FROM outbox ORDER BY channel").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(states(&w), ["pending", "delivered"]);
    w.journal().execute("UPDATE outbox SET created_ms = created_ms - ?1", [2 * DAY_MS]).unwrap();
    prune_is_due(&w);
    upload(&w, "acme", "B.zip", "b");
    trigger(&w, "acme", "B.zip").run().code(0);
    let left: Vec<(String, String)> = {
        let conn = w.journal();
        let mut stmt = conn.prepare("SELECT channel, filename FROM outbox ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let left: Vec<(&str, &str)> = left.iter().map(|(c, f)| (c.as_str(), f.as_str())).collect();
    assert_eq!(left, [("down", "A.zip"), ("up", "B.zip"), ("down", "B.zip")]);
}

/// A notification the outbox cannot take (here SQLite refuses the insert) is still sent, and
/// every channel of the run is tried: one that then fails is said to be lost, not queued.
#[test]
fn a_notification_the_outbox_refuses_is_still_sent_to_every_channel() {
    let hook = crate::servers::HttpReceiver::ok();
    let channels = format!(
        "{}{}",
        crate::notify::webhook("down", "http://127.0.0.1:9/", "retries = 0\ntimeout = \"1s\""),
        crate::notify::webhook("up", &hook.url(), "")
    );
    let w = World::with(&Cfg::stmt("notify_success = [\"down\", \"up\"]").tail(&channels).text(), JOB);
    upload(&w, "acme", "A.zip", "a");
    trigger(&w, "acme", "A.zip").run().code(0);
    w.journal()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refused'); END;",
        )
        .unwrap();
    upload(&w, "acme", "B.zip", "b");
    let run = trigger(&w, "acme", "B.zip").run().code(0);
    assert_eq!(hook.wait_for(2, Duration::from_secs(10)).len(), 2, "B's notification did not reach up");
    run.stderr_has("notification to down failed")
        .stderr_has("could not be kept in the outbox (")
        .stderr_has("outbox refused")
        .stderr_lacks("notification to up");
}

#[test]
fn pruning_happens_at_most_once_an_hour() {
    let w = world_with(r#"retention = "1d""#, "", "");
    upload(&w, "acme", "A.zip", "a");
    upload(&w, "acme", "B.zip", "b");
    trigger(&w, "acme", "A.zip").run().code(0); // prunes (never done before) and notes when
    backdate(&w, &[1], 2);
    trigger(&w, "acme", "B.zip").run().code(0);
    assert_eq!(w.journal_rows().len(), 2, "pruned again within the hour");
}

#[test]
fn journal_file_is_readable_by_its_owner_only() {
    let w = world();
    upload(&w, "acme", "ACME_1.zip", "one");
    trigger(&w, "acme", "ACME_1.zip").run().code(0);
    let mode = fs::metadata(w.journal_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "file names and job output are private");
    // The WAL stays between runs (no checkpoint on close); it holds the same rows.
    let wal = w.journal_path().with_extension("db-wal");
    let mode = fs::metadata(&wal).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the WAL holds the same rows");
}

/// Runs leave the WAL in place rather than checkpoint it at every close, but it is copied into
/// the database every 64 pages, so it stays small: each run rebuilds its index from all of it.
#[test]
fn the_wal_stays_small_over_many_runs() {
    let w = world();
    for i in 0..40 {
        let name = format!("ACME_{i}.zip");
        upload(&w, "acme", &name, &format!("content {i}"));
        trigger(&w, "acme", &name).run().code(0);
    }
    let wal = fs::metadata(w.journal_path().with_extension("db-wal")).unwrap().len();
    assert!(wal < 512 << 10, "the WAL grew to {wal} bytes over 40 runs");
    assert_eq!(history_json(&w, &["-n", "100"]).len(), 40);
}

#[test]
fn history_of_a_journal_that_does_not_exist_yet_is_empty_and_creates_nothing() {
    let w = world();
    w.cmd().arg("history").run().code(0).stdout_is("RUN  STARTED  CID  FILE  OUTCOME  EXIT  DURATION\n");
    assert!(!w.journal_path().exists());
}

/// The tests above that look at the journal only through the binary and `journal_rows` (one
/// row per invocation, run ids, duplicates, `history`), run again as they are against a
/// PostgreSQL journal, each in a fresh database.
#[test]
fn the_journal_tests_pass_on_postgresql_too() {
    let tests: &[(&str, fn())] = &[
        ("outcomes", every_outcome_leaves_exactly_one_finished_row),
        ("config_usage", config_and_usage_errors_write_no_row),
        ("dry_run", dry_run_writes_no_row),
        ("run_id", json_run_id_is_the_row_id_and_the_job_gets_it_as_placeholder_and_env),
        ("history_fields", history_json_lines_have_the_fields_of_the_json_result),
        ("dup", the_same_file_again_is_skipped_naming_the_earlier_run_and_force),
        ("dup_json", duplicate_json_result_says_duplicate_skipped_and_exit_0),
        ("force", force_runs_a_duplicate_again),
        ("dup_defaults", duplicates_run_in_defaults_runs_the_same_file_again),
        ("dup_rule", duplicates_run_on_the_rule_runs_the_same_file_again),
        ("dup_wins", duplicates_skip_on_the_rule_wins_over_run_in_defaults),
        ("new_content", new_content_under_the_same_name_runs),
        ("other_name", the_same_content_under_another_name_or_cid_runs),
        ("failed_dup", a_failed_run_is_not_a_duplicate),
        ("newest", history_is_newest_first_and_shows_20_by_default),
        ("count", history_count_limits_the_runs_shown),
        ("cid", history_cid_shows_only_that_cid),
        ("file", history_file_shows_only_that_file_name),
        ("failed", history_failed_shows_only_runs_that_did_not_succeed),
    ];
    crate::support::run_on_postgresql(tests);
}
