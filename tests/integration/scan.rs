//! `scan`: settled uploads with sidecars run once, everything else waits or is skipped; files
//! run oldest first, up to `--jobs` at once; symlinks and other customers' roots are left
//! alone; a sidecar overdue (either way round) is reported once, by webhook; `--dry-run` and
//! `--json`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rustix::process::Signal;
use serde_json::Value;

use crate::servers::HttpReceiver;
use crate::support::{Cfg, Trigger, World, md5_hex, wait_until};

const WRONG_MD5: &str = "0123456789abcdef0123456789abcdef";

/// Appends the file's name to `runs` and counts the jobs running when it starts into `peak`;
/// `fail*` exits 3, `gate*` touches `started-<name>` and holds until `release` exists (at most
/// 20 s), `busy*` takes 0.3 s; everything else succeeds at once.
const JOB: &str = r#"#!/bin/sh
d="$(dirname "$0")"
name="$(basename "$1")"
mkdir -p "$d/running"
touch "$d/running/$name"
ls "$d/running" | wc -l >> "$d/peak"
echo "$name" >> "$d/runs"
case "$name" in
  fail*) echo "cannot parse $name" >&2; rm "$d/running/$name"; exit 3 ;;
  gate*) touch "$d/started-$name"
         i=0; while [ ! -e "$d/release" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done ;;
  busy*) sleep 0.3 ;;
esac
rm "$d/running/$name"
echo "processed $name"
"#;

/// Two rules: `stmt` (acme, `*.zip` under `ftp/acme`, with `rule` added) and `beta` (beta,
/// `*.zip` under `ftp/beta`); `defaults` in `[defaults]`, `extra` at the end.
fn config(defaults: &str, rule: &str, extra: &str) -> String {
    Cfg::stmt(rule).rule("beta", "beta", "*.zip", "").defaults(defaults).tail(extra).text()
}

fn world_with(defaults: &str, rule: &str, extra: &str) -> World {
    let w = World::with(&config(defaults, rule, extra), JOB);
    fs::create_dir_all(w.path("ftp/beta")).unwrap();
    w
}

fn world() -> World {
    world_with("", "", "")
}

/// Writes `ftp/<path>` (e.g. `acme/a.zip`) with `content`.
fn put(w: &World, path: &str, content: &str) -> PathBuf {
    let file = w.path(format!("ftp/{path}"));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, content).unwrap();
    file
}

/// Writes the `md5sum`-style sidecar `ftp/<path>.md5` for the content `ftp/<path>` has (or
/// will have).
fn put_sidecar(w: &World, path: &str, content: &str) -> PathBuf {
    let name = path.rsplit('/').next().unwrap();
    put(w, &format!("{path}.md5"), &format!("{}  {name}\n", md5_hex(content.as_bytes())))
}

/// An upload and its sidecar.
fn put_both(w: &World, path: &str, content: &str) {
    put(w, path, content);
    put_sidecar(w, path, content);
}

/// `ftptrigger -c <config> scan --settle 0s`, plus `args`.
fn scan(w: &World, args: &[&str]) -> Trigger {
    w.cmd().arg("scan").args(["--settle", "0s"]).args(args)
}

/// The names the job ran for, in order.
fn runs(w: &World) -> Vec<String> {
    fs::read_to_string(w.path("runs")).map_or_else(|_| Vec::new(), |t| t.lines().map(str::to_owned).collect())
}

fn states(w: &World) -> Vec<String> {
    w.journal_rows().into_iter().map(|r| r.state).collect()
}

fn set_mtime(path: &PathBuf, ago: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

// --- what runs, what waits ----------------------------------------------------------------------

#[test]
fn a_settled_file_with_its_sidecar_runs_once_and_the_next_scan_skips_it() {
    let w = world();
    put_both(&w, "acme/a.zip", "statement");
    scan(&w, &[])
        .run()
        .code(0)
        .stdout_has("success acme/a.zip (exit 0): command ")
        .stdout_has("scanned 1, ran 1, skipped 0, waiting 0, failed 0");
    assert_eq!(runs(&w), ["a.zip"]);
    assert_eq!(states(&w), ["success"]);
    // Run exactly as `ftptrigger acme FILE --md5-file SIDECAR`: the job got the canonical path.
    let history = w.cmd().args(["history", "--json"]).run().code(0);
    let run: Value = serde_json::from_str(history.stdout().trim()).unwrap();
    assert_eq!(run["md5"]["expected"], md5_hex(b"statement"));
    assert_eq!(run["file"], w.root().canonicalize().unwrap().join("a.zip").to_str().unwrap());

    scan(&w, &[]).run().code(0).stdout_is("scanned 1, ran 0, skipped 1, waiting 0, failed 0\n");
    assert_eq!(runs(&w), ["a.zip"]);
    assert_eq!(states(&w), ["success"], "a skip writes no row");
}

#[test]
fn a_file_without_its_sidecar_waits() {
    let w = world();
    put(&w, "acme/a.zip", "statement");
    scan(&w, &[]).run().code(0).stdout_is("scanned 1, ran 0, skipped 0, waiting 1, failed 0\n");
    assert!(runs(&w).is_empty());
    assert!(states(&w).is_empty());
    // -v says why.
    scan(&w, &["-v"]).run().code(0).stderr_has("waiting acme/a.zip: no MD5 sidecar ");
}

#[test]
fn a_sidecar_that_comes_first_waits_for_its_file() {
    let w = world();
    put_sidecar(&w, "acme/a.zip", "statement");
    scan(&w, &[]).run().code(0).stdout_is("scanned 1, ran 0, skipped 0, waiting 1, failed 0\n");
    put(&w, "acme/a.zip", "statement");
    scan(&w, &[]).run().code(0).stdout_has("scanned 1, ran 1, skipped 0, waiting 0, failed 0");
    assert_eq!(runs(&w), ["a.zip"]);
}

#[test]
fn files_changed_within_settle_wait() {
    let w = world();
    put_both(&w, "acme/a.zip", "statement");
    // The default is 30s: a file written just now may still be uploading.
    w.cmd().arg("scan").run().code(0).stdout_is("scanned 1, ran 0, skipped 0, waiting 1, failed 0\n");
    w.cmd().args(["scan", "--settle", "1h"]).run().code(0).stdout_has("waiting 1");
    assert!(runs(&w).is_empty());
    // A rule's own settle counts when --settle does not override it.
    w.config(&config("settle = \"1h\"", "settle = \"0s\"", ""));
    w.cmd().arg("scan").run().code(0).stdout_has("ran 1");
    assert_eq!(runs(&w), ["a.zip"]);
}

#[test]
fn a_mismatch_fails_the_scan_once() {
    let w = world();
    put(&w, "acme/a.zip", "statement");
    put(&w, "acme/a.zip.md5", &format!("{WRONG_MD5}\n"));
    put_both(&w, "acme/b.zip", "fine");
    scan(&w, &[])
        .run()
        .code(3)
        .stdout_has(&format!("md5_mismatch acme/a.zip (exit 12): ERROR[12]: MD5 {WRONG_MD5} does not match"))
        .stdout_has("success acme/b.zip (exit 0)")
        .stdout_has("scanned 2, ran 1, skipped 0, waiting 0, failed 1");
    assert_eq!(runs(&w), ["b.zip"]);
    let mut rows = states(&w);
    rows.sort();
    assert_eq!(rows, ["md5_mismatch", "success"]);

    // Reported once: the same file and sidecar are left alone (no row, no notification)...
    scan(&w, &[]).run().code(0).stdout_has("scanned 2, ran 0, skipped 2, waiting 0, failed 0");
    scan(&w, &["-v"]).run().code(0).stderr_has("skipped acme/a.zip: md5_mismatch in run ");
    assert_eq!(states(&w).len(), 2);
    // ...until a corrected sidecar comes.
    put_sidecar(&w, "acme/a.zip", "statement");
    scan(&w, &[]).run().code(0).stdout_has("success acme/a.zip");
    assert_eq!(runs(&w), ["b.zip", "a.zip"]);
}

#[test]
fn a_failing_job_fails_the_scan_with_its_output() {
    let w = world();
    put_both(&w, "acme/fail.zip", "x");
    scan(&w, &[])
        .run()
        .code(3)
        .stdout_has("process_failed acme/fail.zip (exit 14): ERROR[14]: command ")
        .stdout_has("  | cannot parse fail.zip\n");
    // --quiet, as cron runs it: the failure and the summary, nothing else.
    put_both(&w, "acme/ok.zip", "y");
    put(&w, "acme/fail.zip", "changed");
    put_sidecar(&w, "acme/fail.zip", "changed");
    let quiet = w.cmd().args(["--quiet", "scan", "--settle", "0s"]).run().code(3);
    assert!(!quiet.stdout().contains("ok.zip"), "{}", quiet.stdout());
    assert!(quiet.stdout().contains("process_failed acme/fail.zip"), "{}", quiet.stdout());
    assert!(
        quiet.stdout().ends_with("scanned 2, ran 1, skipped 0, waiting 0, failed 1\n"),
        "{}",
        quiet.stdout()
    );
    // ...and on success, nothing at all.
    w.cmd().args(["--quiet", "scan", "--settle", "0s"]).run().code(0).stdout_is("").stderr_is("");
}

#[test]
fn a_sidecar_that_cannot_be_parsed_is_reported_once() {
    let w = world();
    put(&w, "acme/a.zip", "statement");
    put(&w, "acme/a.zip.md5", "hello\n");
    scan(&w, &[]).run().code(3).stdout_has("bad_file acme/a.zip (exit 13): ERROR[13]: MD5 sidecar ");
    assert_eq!(states(&w), ["bad_file"]);
    scan(&w, &[]).run().code(0).stdout_has("skipped 1");
    assert!(runs(&w).is_empty());
}

#[test]
fn new_content_under_an_old_name_runs_and_the_same_content_is_a_duplicate() {
    let w = world();
    put_both(&w, "acme/a.zip", "one");
    scan(&w, &[]).run().code(0).stdout_has("ran 1");
    // Uploaded again, same bytes: the journal knows this MD5 succeeded.
    std::thread::sleep(Duration::from_millis(20));
    put_both(&w, "acme/a.zip", "one");
    scan(&w, &["-v"]).run().code(0).stdout_has("skipped 1").stderr_has("already succeeded in run 1");
    // New content: a new file.
    put_both(&w, "acme/a.zip", "two");
    scan(&w, &[]).run().code(0).stdout_has("ran 1");
    assert_eq!(runs(&w), ["a.zip", "a.zip"]);
    assert_eq!(states(&w), ["success", "success"]);
}

#[test]
fn duplicates_run_reruns_a_new_upload_of_the_same_content_but_not_the_same_upload() {
    let w = world_with("", "duplicates = \"run\"", "");
    put_both(&w, "acme/a.zip", "one");
    scan(&w, &[]).run().code(0).stdout_has("ran 1");
    scan(&w, &[]).run().code(0).stdout_has("skipped 1");
    std::thread::sleep(Duration::from_millis(20));
    put_both(&w, "acme/a.zip", "one");
    scan(&w, &[]).run().code(0).stdout_has("ran 1");
    assert_eq!(runs(&w), ["a.zip", "a.zip"]);
}

#[test]
fn files_run_oldest_first() {
    let w = world();
    for (name, hours) in [("b.zip", 1), ("c.zip", 3), ("a.zip", 2)] {
        let file = put(&w, &format!("acme/{name}"), name);
        let sidecar = put_sidecar(&w, &format!("acme/{name}"), name);
        set_mtime(&file, Duration::from_secs(hours * 3600));
        set_mtime(&sidecar, Duration::from_secs(hours * 3600));
    }
    scan(&w, &[]).run().code(0).stdout_has("ran 3");
    assert_eq!(runs(&w), ["c.zip", "a.zip", "b.zip"]);
}

#[test]
fn jobs_4_runs_twenty_files_each_exactly_once_several_at_a_time() {
    let w = world();
    for i in 0..20 {
        put_both(&w, &format!("acme/busy{i:02}.zip"), &format!("file {i}"));
    }
    scan(&w, &["--jobs", "4"]).run().code(0).stdout_has("scanned 20, ran 20, skipped 0, waiting 0, failed 0");
    let mut ran = runs(&w);
    ran.sort();
    let expected: Vec<String> = (0..20).map(|i| format!("busy{i:02}.zip")).collect();
    assert_eq!(ran, expected);
    assert_eq!(states(&w), vec!["success"; 20]);
    let peak = fs::read_to_string(w.path("peak")).unwrap();
    let peak = peak.lines().filter_map(|l| l.trim().parse::<u32>().ok()).max().unwrap();
    assert!((2..=4).contains(&peak), "at most 4 and more than 1 at once; peak {peak}");
    // And a second scan with as many workers finds nothing to do.
    scan(&w, &["--jobs", "4"]).run().code(0).stdout_has("skipped 20");
}

#[test]
fn jobs_must_be_at_least_one() {
    let w = world();
    w.cmd().args(["scan", "--jobs", "0"]).run().code(2);
    w.cmd().args(["scan", "--settle", "soon"]).run().code(2).stderr_has("write e.g.");
}

// --- where it looks ----------------------------------------------------------------------------

#[test]
fn subdirectories_are_walked_only_when_the_rule_is_recursive() {
    let w = world();
    put_both(&w, "acme/sub/deeper/deep.zip", "deep");
    put_both(&w, "acme/top.zip", "top");
    scan(&w, &[]).run().code(0).stdout_has("scanned 1, ran 1");
    assert_eq!(runs(&w), ["top.zip"]);
    w.config(&config("", "recursive = true", ""));
    scan(&w, &[])
        .run()
        .code(0)
        .stdout_has("success acme/sub/deeper/deep.zip")
        .stdout_has("scanned 2, ran 1, skipped 1");
    assert_eq!(runs(&w), ["top.zip", "deep.zip"]);
}

#[test]
fn symlinks_in_the_root_are_not_followed() {
    let w = world_with("", "recursive = true", "");
    put_both(&w, "outside/x.zip", "secret");
    put_both(&w, "outside/dir/y.zip", "secret too");
    let root = w.root();
    std::os::unix::fs::symlink(w.path("ftp/outside/x.zip"), root.join("link.zip")).unwrap();
    std::os::unix::fs::symlink(w.path("ftp/outside/x.zip.md5"), root.join("link.zip.md5")).unwrap();
    std::os::unix::fs::symlink(w.path("ftp/outside/dir"), root.join("linked-dir")).unwrap();
    // A real file whose sidecar is a symlink waits: the sidecar is not read through it.
    put(&w, "acme/real.zip", "secret");
    std::os::unix::fs::symlink(w.path("ftp/outside/x.zip.md5"), root.join("real.zip.md5")).unwrap();
    scan(&w, &[]).run().code(0).stdout_is("scanned 1, ran 0, skipped 0, waiting 1, failed 0\n");
    assert!(runs(&w).is_empty());
    assert!(states(&w).is_empty());
}

#[test]
fn cid_scans_only_that_customers_roots() {
    let w = world();
    put_both(&w, "acme/a.zip", "a");
    put_both(&w, "beta/b.zip", "b");
    scan(&w, &["--cid", "beta"])
        .run()
        .code(0)
        .stdout_has("success beta/b.zip")
        .stdout_has("scanned 1, ran 1");
    assert_eq!(runs(&w), ["b.zip"]);
    scan(&w, &[]).run().code(0).stdout_has("scanned 2, ran 1, skipped 1");
    assert_eq!(runs(&w), ["b.zip", "a.zip"]);
    scan(&w, &["--cid", "gamma"]).run().code(11).stderr_has("no rule has CID gamma");
}

#[test]
fn a_file_is_taken_only_by_the_first_rule_that_matches_it() {
    let w = world_with(
        "",
        "",
        "[[rule]]\nname = \"all\"\ncid = \"acme\"\npattern = \"*\"\nroot = \"ftp/acme\"\ncommand = [\"./job.sh\", \"{file}\"]\n",
    );
    put_both(&w, "acme/a.zip", "zip");
    put_both(&w, "acme/b.csv", "csv");
    let run = scan(&w, &["--json"]).run().code(0);
    let rules: BTreeMap<String, String> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["filename"].as_str().unwrap().to_owned(), v["rule"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rules, BTreeMap::from([("a.zip".into(), "stmt".into()), ("b.csv".into(), "all".into())]));
    // Neither sidecar was taken for an upload, though `*` matches them.
    let mut ran = runs(&w);
    ran.sort();
    assert_eq!(ran, ["a.zip", "b.csv"]);
}

#[test]
fn a_listing_sidecar_serves_every_file_and_is_not_an_upload() {
    let w = world_with("", "", "");
    w.config(
        "[[rule]]\nname = \"all\"\ncid = \"acme\"\npattern = \"*\"\nroot = \"ftp/acme\"\n\
         command = [\"./job.sh\", \"{file}\"]\nsidecar = \"{dir}/MD5SUMS\"\n",
    );
    put(&w, "acme/a.dat", "a");
    put(&w, "acme/b.dat", "b");
    put(&w, "acme/MD5SUMS", &format!("{}  a.dat\n{}  b.dat\n", md5_hex(b"a"), md5_hex(b"b")));
    scan(&w, &[]).run().code(0).stdout_has("scanned 2, ran 2");
    let mut ran = runs(&w);
    ran.sort();
    assert_eq!(ran, ["a.dat", "b.dat"]);
}

// --- locks, signals ----------------------------------------------------------------------------

#[test]
fn a_file_whose_run_holds_the_lock_is_skipped_without_waiting() {
    let w = world_with("lock_wait = \"1m\"", "", "");
    put_both(&w, "acme/gate.zip", "gate");
    let file = w.path("ftp/acme/gate.zip");
    let holder = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"gate")]).spawn();
    wait_until(Duration::from_secs(10), "the held run's job started", || w.path("started-gate.zip").exists());
    let started = std::time::Instant::now();
    scan(&w, &[]).run().code(0).stdout_is("scanned 1, ran 0, skipped 1, waiting 0, failed 0\n");
    assert!(started.elapsed() < Duration::from_secs(10), "the scan waited for the lock");
    assert_eq!(states(&w), ["running"], "the skip wrote no row");
    fs::write(w.path("release"), "").unwrap();
    holder.wait().code(0);
    scan(&w, &[]).run().code(0).stdout_has("skipped 1");
    assert_eq!(runs(&w), ["gate.zip"]);
}

#[test]
fn a_job_does_not_inherit_the_lock_of_another_job_of_the_same_scan() {
    let w = world();
    put_both(&w, "acme/busy-a.zip", "a");
    put_both(&w, "acme/gate.zip", "gate");
    let scanning = scan(&w, &["--jobs", "2"]).spawn();
    wait_until(Duration::from_secs(10), "busy-a.zip done while gate.zip runs", || {
        w.path("started-gate.zip").exists() && states(&w).contains(&"success".to_owned())
    });
    // busy-a.zip's run is over, so its lock is free: the gate job did not take it along.
    let file = w.path("ftp/acme/busy-a.zip");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"a"), "--no-wait", "--force"]).run().code(0);
    fs::write(w.path("release"), "").unwrap();
    scanning.wait().code(0).stdout_has("ran 2");
}

#[test]
fn a_signal_reaches_every_running_job_and_stops_the_scan() {
    let w = world();
    for name in ["gate1.zip", "gate2.zip", "gate3.zip"] {
        put_both(&w, &format!("acme/{name}"), name);
    }
    let scanning = scan(&w, &["--jobs", "2"]).spawn();
    wait_until(Duration::from_secs(10), "two jobs started", || {
        fs::read_dir(w.path("."))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("started-"))
            .count()
            == 2
    });
    scanning.signal(Signal::TERM);
    let run = scanning.wait().code(143).stdout_has("failed 2").stderr_has("stopped by SIGTERM");
    assert!(run.stdout().contains("waiting 1"), "the third file is left for the next scan{}", run.stdout());
    assert_eq!(states(&w), ["interrupted", "interrupted"]);
    assert_eq!(runs(&w).len(), 2);
}

// --- overdue sidecars ---------------------------------------------------------------------------

#[test]
fn an_overdue_sidecar_is_reported_once_by_webhook_either_way_round() {
    let hook = HttpReceiver::ok();
    let w = world_with(
        "sidecar_wait = \"1s\"\nnotify = [\"hook\"]",
        "",
        &format!("[channel.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", hook.url()),
    );
    put(&w, "acme/late.zip", "late");
    put_sidecar(&w, "acme/lost.zip", "lost");
    scan(&w, &[]).run().code(0).stdout_has("waiting 2");
    std::thread::sleep(Duration::from_millis(1300));
    scan(&w, &[])
        .run()
        .code(3)
        .stdout_has("bad_file acme/late.zip (exit 13): ERROR[13]: file ")
        .stdout_has("has had no MD5 sidecar ")
        .stdout_has("bad_file acme/lost.zip.md5 (exit 13): ERROR[13]: MD5 sidecar ")
        .stdout_has("scanned 2, ran 0, skipped 0, waiting 0, failed 2");
    let requests = hook.wait_for(2, Duration::from_secs(10));
    let mut reported: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| r.json())
        .map(|v| {
            assert_eq!(v["event"], "run.failed");
            assert_eq!(v["rule"], "stmt");
            (
                v["filename"].as_str().unwrap().into(),
                v["outcome"].as_str().unwrap().into(),
                v["exit_code"].to_string(),
            )
        })
        .collect();
    reported.sort();
    assert_eq!(
        reported,
        [
            ("late.zip".into(), "bad_file".into(), "13".into()),
            ("lost.zip.md5".into(), "bad_file".into(), "13".into())
        ]
    );
    assert_eq!(states(&w), ["bad_file", "bad_file"]);

    // Not again.
    scan(&w, &[]).run().code(0).stdout_has("skipped 2");
    assert_eq!(hook.count(), 2);
    assert_eq!(states(&w).len(), 2);
    // The sidecar that finally comes makes the file run.
    put_sidecar(&w, "acme/late.zip", "late");
    scan(&w, &[]).run().code(0).stdout_has("success acme/late.zip");
    assert_eq!(runs(&w), ["late.zip"]);
}

#[test]
fn an_upload_that_keeps_the_senders_old_mtime_is_not_overdue() {
    let w = world();
    let file = put(&w, "acme/old.zip", "old");
    set_mtime(&file, Duration::from_secs(3 * 86400));
    // Its sidecar may be on its way: it arrived just now, whatever its mtime says.
    scan(&w, &[]).run().code(0).stdout_has("waiting 1");
    assert!(states(&w).is_empty());
}

// --- dry run, JSON, config ---------------------------------------------------------------------

#[test]
fn dry_run_lists_and_runs_nothing() {
    let w = world();
    put_both(&w, "acme/a.zip", "a");
    put(&w, "acme/b.zip", "b");
    scan(&w, &["--dry-run"])
        .run()
        .code(0)
        .stdout_has("would run acme/a.zip: rule stmt, sidecar ")
        .stdout_has("waiting acme/b.zip: no MD5 sidecar ")
        .stdout_has("dry run: scanned 2, would run 1, would report 0, skipped 0, waiting 1");
    assert!(runs(&w).is_empty());
    assert!(!w.journal_path().exists(), "a dry run creates no journal");
}

#[test]
fn json_prints_each_result_on_stdout_and_the_summary_on_stderr() {
    let w = world();
    put_both(&w, "acme/a.zip", "a");
    put_both(&w, "acme/fail.zip", "f");
    let run =
        scan(&w, &["--json"]).run().code(3).stderr_has("scanned 2, ran 1, skipped 0, waiting 0, failed 1");
    let results: BTreeMap<String, Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .map(|v| (v["filename"].as_str().unwrap().to_owned(), v))
        .collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results["a.zip"]["outcome"], "success");
    assert_eq!(results["fail.zip"]["outcome"], "process_failed");
    assert_eq!(results["fail.zip"]["exit_code"], 14);
    assert!(
        results["fail.zip"]["process"]["output_tail"].as_str().unwrap().contains("cannot parse fail.zip")
    );
    assert!(results.values().all(|r| r["run_id"].is_i64()));
}

#[test]
fn check_reports_bad_scan_keys_with_their_position() {
    let w = world_with(
        "settle = \"soon\"\nsidecar_wait = \"0s\"",
        "recursive = \"yes\"\nsidecar = \"{file}.{md5}\"",
        "",
    );
    w.cmd()
        .arg("check")
        .run()
        .code(10)
        .stdout_has(":4:10: defaults.settle: invalid duration \"soon\"")
        .stdout_has(":5:16: defaults.sidecar_wait: must be longer than 0s")
        .stdout_has(":13:13: rule[0].recursive: invalid type: string \"yes\", expected a boolean")
        .stdout_has(":14:11: rule[0].sidecar: `{md5}` is not known before the file is hashed")
        .stdout_has(": 4 errors");
    w.config(&config("", "sidecar = \"{file}\"", ""));
    w.cmd().arg("check").run().code(10).stdout_has("rule[0].sidecar: names the file itself");
    w.config(&config("", "sidecar = \"checksums/{stem}.md5\"\nrecursive = true", ""));
    w.cmd().arg("check").run().code(0);
}
