//! Runs at the same time: one run per file under a kernel lock (`--no-wait`, `lock_wait`, the
//! waiting run that finds a duplicate), many invocations sharing the journal, and signals to
//! ftptrigger (SIGKILL leaves an `interrupted` row; TERM, INT and HUP are passed on to the job).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::Value;

use crate::support::{Background, Cfg, Trigger, World, is_gone, md5_hex, wait_until, write_mode};

const CONTENT: &[u8] = b"statement data\n";

/// A job that holds its run open until the test creates `release` (at most 20 s). It logs
/// `start <run id>` and `end <run id>` to `log`, records its pid in `pids`, and exits 3 if a
/// `fail-once` flag is there (using it up).
const GATE_JOB: &str = r#"#!/bin/sh
d="$(dirname "$0")"
echo $$ >> "$d/pids"
echo "start $FTPTRIGGER_RUN_ID" >> "$d/log"
i=0
while [ ! -e "$d/release" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
echo "end $FTPTRIGGER_RUN_ID" >> "$d/log"
if [ -e "$d/fail-once" ]; then rm "$d/fail-once"; exit 3; fi
exit 0
"#;

/// A job that starts a grandchild, records both pids, and on TERM, INT or HUP writes the
/// signal's name to `marker` and exits 0.
const TRAPPING_JOB: &str = r#"#!/bin/sh
d="$(dirname "$0")"
trap 'echo TERM > "$d/marker"; exit 0' TERM
trap 'echo INT > "$d/marker"; exit 0' INT
trap 'echo HUP > "$d/marker"; exit 0' HUP
echo $$ >> "$d/pids"
sleep 300 &
echo $! > "$d/grandchild.pid"
touch "$d/started"
wait
echo "wait ended without a signal" > "$d/marker"
"#;

/// A job that ignores SIGTERM (and so does its grandchild).
const TERM_IGNORING_JOB: &str = r#"#!/bin/sh
d="$(dirname "$0")"
trap '' TERM
echo $$ >> "$d/pids"
sleep 300 &
echo $! > "$d/grandchild.pid"
touch "$d/started"
wait
"#;

/// The config of one rule `stmt` (CID `acme`, `*.zip` under `ftp/acme`, `./job.sh {file}`),
/// with `extra` keys added to the rule.
fn rule_config(extra: &str) -> String {
    Cfg::stmt(extra).text()
}

/// A world whose job is `job` (a whole script), with the upload `ACME_1.zip`.
fn job_world(job: &str, extra: &str) -> World {
    let w = World::with(&rule_config(extra), job);
    w.upload("ACME_1.zip", CONTENT);
    w
}

/// `ftptrigger -c <config> acme ftp/acme/ACME_1.zip --md5 <right>`, limited to 30 s.
fn trigger(w: &World) -> Trigger {
    trigger_with(w, &w.config_path())
}

/// The same with another config (sharing the world's journal, hence its locks).
fn trigger_with(w: &World, config: &Path) -> Trigger {
    w.cmd_no_config()
        .arg("-c")
        .arg(config)
        .arg("acme")
        .arg(w.root().join("ACME_1.zip"))
        .args(["--md5", &md5_hex(CONTENT)])
        .timeout(Duration::from_secs(30))
}

/// Kills, when dropped, the process group of every job that recorded its pid in `pids`: the
/// job a SIGKILLed ftptrigger left behind, or jobs still waiting when a test fails.
struct KillJobs(PathBuf);

impl KillJobs {
    fn of(w: &World) -> KillJobs {
        KillJobs(w.path("pids"))
    }
}

impl Drop for KillJobs {
    fn drop(&mut self) {
        let pids = fs::read_to_string(&self.0).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse().ok()).filter_map(Pid::from_raw) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

fn read_pid(path: &Path) -> i32 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().and_then(|l| l.trim().parse().ok()).expect("a pid")
}

/// Every pid recorded in `path` is gone within 3 s.
fn assert_gone(path: &Path) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        wait_until(Duration::from_secs(3), &format!("{pid} from {} is gone", path.display()), || {
            is_gone(pid)
        });
    }
}

fn started(w: &World) {
    wait_until(Duration::from_secs(10), "the job started", || w.path("started").exists());
}

/// The job of the world's [`GATE_JOB`] runs are under way: `n` have started.
fn gate_started(w: &World, n: usize) {
    wait_until(Duration::from_secs(10), &format!("{n} job(s) started"), || {
        fs::read_to_string(w.path("log")).is_ok_and(|log| log.matches("start").count() >= n)
    });
}

fn release(w: &World) {
    fs::write(w.path("release"), "").unwrap();
}

/// The journal has `n` rows: a run started after the holder has its row and is about to
/// wait for the lock.
fn rows_appear(w: &World, n: usize) {
    wait_until(Duration::from_secs(10), &format!("{n} journal rows"), || w.journal_rows().len() >= n);
}

fn gate_log(w: &World) -> String {
    fs::read_to_string(w.path("log")).unwrap_or_default()
}

fn states(w: &World) -> Vec<String> {
    w.journal_rows().into_iter().map(|r| r.state).collect()
}

fn history_json(w: &World) -> Vec<Value> {
    let run = w.cmd().args(["history", "--json"]).run().code(0);
    run.stdout().lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// Creates the world's journal without a row (a dry run opens it), so the runs that follow
/// start together on a journal that exists; see
/// [`simultaneous_first_runs_on_a_new_journal_all_succeed`] for one that does not.
fn create_journal(w: &World, name: &str) {
    let file = w.root().join(name);
    let md5 = md5_hex(&fs::read(&file).unwrap());
    w.cmd().arg("acme").arg(file).args(["--md5", &md5, "--dry-run"]).run().code(0);
    assert!(w.journal_path().exists() && w.journal_rows().is_empty());
}

// --- locking ----------------------------------------------------------------------------------

#[test]
fn no_wait_exits_16_at_once_while_another_run_holds_the_lock() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let begun = Instant::now();
    trigger(&w).arg("--no-wait").run().code(16).stderr_has("ERROR[16]").stderr_has("--no-wait");
    assert!(begun.elapsed() < Duration::from_secs(2), "took {:?}", begun.elapsed());
    release(&w);
    holder.wait().code(0);
    assert_eq!(gate_log(&w), "start 1\nend 1\n");
    let busy = &w.journal_rows()[1];
    assert_eq!((busy.state.as_str(), busy.exit_code), ("busy", Some(16)));
}

#[test]
fn lock_wait_passed_exits_16_after_waiting() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let short = w.path("short-wait.cfg");
    write_mode(&short, rule_config(r#"lock_wait = "200ms""#).as_bytes(), 0o600);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let begun = Instant::now();
    trigger_with(&w, &short).run().code(16).stderr_has("ERROR[16]");
    let waited = begun.elapsed();
    assert!(waited >= Duration::from_millis(200), "gave up after {waited:?}");
    assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
    release(&w);
    holder.wait().code(0);
    assert_eq!(states(&w), ["success", "busy"]);
}

#[test]
fn busy_message_says_how_long_it_waited() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let short = w.path("short-wait.cfg");
    write_mode(&short, rule_config(r#"lock_wait = "200ms""#).as_bytes(), 0o600);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let busy = trigger_with(&w, &short).run().code(16);
    release(&w);
    holder.wait().code(0);
    busy.stderr_has("(waited 200ms)");
}

#[test]
fn a_waiting_run_finds_the_duplicate_when_the_first_succeeds() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let waiter = trigger(&w).spawn();
    rows_appear(&w, 2);
    std::thread::sleep(Duration::from_millis(200));
    release(&w);
    holder.wait().code(0);
    waiter.wait().code(0).stderr_has("already succeeded in run 1");
    assert_eq!(gate_log(&w), "start 1\nend 1\n");
    assert_eq!(states(&w), ["success", "duplicate_skipped"]);
}

#[test]
fn a_waiting_run_with_force_runs_after_the_first_not_alongside() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let waiter = trigger(&w).arg("--force").spawn();
    rows_appear(&w, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(gate_log(&w), "start 1\n", "the second job started while the first ran");
    release(&w);
    holder.wait().code(0);
    waiter.wait().code(0);
    assert_eq!(gate_log(&w), "start 1\nend 1\nstart 2\nend 2\n");
}

#[test]
fn a_waiting_run_runs_the_job_when_the_first_failed() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    fs::write(w.path("fail-once"), "").unwrap();
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let waiter = trigger(&w).spawn();
    rows_appear(&w, 2);
    release(&w);
    holder.wait().code(14);
    waiter.wait().code(0);
    assert_eq!(gate_log(&w), "start 1\nend 1\nstart 2\nend 2\n");
    assert_eq!(states(&w), ["process_failed", "success"]);
}

#[test]
fn history_shows_a_run_under_way_as_running() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let runs = history_json(&w);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["outcome"], "running", "{}", runs[0]);
    release(&w);
    holder.wait().code(0);
    assert_eq!(history_json(&w)[0]["outcome"], "success");
}

#[test]
fn ten_simultaneous_runs_of_one_file_run_the_job_once() {
    let job = "#!/bin/sh\necho \"$FTPTRIGGER_RUN_ID\" >> \"$(dirname \"$0\")/runs\"\nsleep 0.3\n";
    let w = job_world(job, "");
    create_journal(&w, "ACME_1.zip");
    let runs: Vec<Background> = (0..10).map(|_| trigger(&w).spawn()).collect();
    for run in runs {
        run.wait().code(0).stderr_lacks("database is locked");
    }
    let ran = fs::read_to_string(w.path("runs")).unwrap();
    assert_eq!(ran.lines().count(), 1, "the job ran more than once: {ran}");
    let mut states = states(&w);
    assert_eq!(states.len(), 10);
    states.sort();
    assert_eq!(states.iter().filter(|s| *s == "success").count(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|s| *s == "duplicate_skipped").count(), 9, "{states:?}");
}

#[test]
fn two_hundred_parallel_runs_on_distinct_files_lose_nothing() {
    let job = "#!/bin/sh\necho \"$FTPTRIGGER_FILENAME\" >> \"$(dirname \"$0\")/runs\"\n";
    let w = job_world(job, "");
    let names: Vec<String> = (0..200).map(|i| format!("F{i:03}.zip")).collect();
    for name in &names {
        w.upload(name, name.as_bytes());
    }
    create_journal(&w, &names[0]);
    // Waves of 50 at once: gentle on a small machine, still far more than SQLite's one writer.
    for wave in names.chunks(50) {
        let runs: Vec<Background> = wave
            .iter()
            .map(|name| {
                w.cmd()
                    .arg("acme")
                    .arg(w.root().join(name))
                    .args(["--md5", &md5_hex(name.as_bytes())])
                    .timeout(Duration::from_secs(120))
                    .spawn()
            })
            .collect();
        for run in runs {
            run.wait().code(0).stderr_lacks("database is locked").stderr_lacks("ERROR");
        }
    }
    let rows = w.journal_rows();
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|r| r.state == "success" && r.exit_code == Some(0) && r.finished), "{rows:?}");
    let mut ran: Vec<String> =
        fs::read_to_string(w.path("runs")).unwrap().lines().map(String::from).collect();
    ran.sort();
    assert_eq!(ran, names);
}

#[test]
fn simultaneous_first_runs_on_a_new_journal_all_succeed() {
    // The race is in the first moments of a journal's life, so it takes many fresh journals
    // to see it: 30 journals, each created by 20 invocations starting together.
    const ROUNDS: usize = 30;
    let job = "#!/bin/sh\nexit 0\n";
    let w = job_world(job, "");
    let names: Vec<String> = (0..20).map(|i| format!("F{i:02}.zip")).collect();
    for name in &names {
        w.upload(name, name.as_bytes());
    }
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let state = w.path(format!("state-{round}"));
        let runs: Vec<Background> = names
            .iter()
            .map(|name| {
                let t =
                    w.cmd().arg("acme").arg(w.root().join(name)).args(["--md5", &md5_hex(name.as_bytes())]);
                t.env("XDG_STATE_HOME", &state).timeout(Duration::from_secs(120)).spawn()
            })
            .collect();
        let mut succeeded = 0;
        for run in runs {
            let run = run.wait();
            if run.output.status.code() == Some(0) {
                succeeded += 1;
            } else {
                failures.push(format!("round {round}: {:?} {}", run.output.status, run.stderr()));
            }
        }
        // Whatever failed, nothing that succeeded was lost.
        let rows = crate::support::journal_rows_at(&state.join("ftptrigger/journal.db"));
        assert_eq!(rows.iter().filter(|r| r.state == "success").count(), succeeded);
    }
    let total = ROUNDS * names.len();
    assert!(failures.is_empty(), "{} of {total} failed:\n{}", failures.len(), failures.join(""));
}

// --- SIGKILL: the row is left behind and shown as interrupted --------------------------------

#[test]
fn sigkill_mid_run_shows_interrupted_and_the_file_runs_again_once_the_job_is_gone() {
    let job = r#"#!/bin/sh
d="$(dirname "$0")"
if mkdir "$d/first" 2>/dev/null; then
  echo $$ >> "$d/pids"
  touch "$d/started"
  sleep 60
fi
echo "second run"
"#;
    let w = job_world(job, "");
    let _cleanup = KillJobs::of(&w);
    let first = trigger(&w).spawn();
    started(&w);
    first.signal(Signal::KILL);
    let killed = first.wait();
    assert_eq!(killed.output.status.signal(), Some(9));

    // Nobody has recorded the end yet, but history knows the process is gone.
    assert_eq!(states(&w), ["running"]);
    let runs = history_json(&w);
    assert_eq!(runs[0]["run_id"], 1);
    assert_eq!(runs[0]["outcome"], "interrupted", "{}", runs[0]);
    assert_eq!(runs[0]["exit_code"], Value::Null);
    w.cmd().arg("history").run().code(0).stdout_has("interrupted");

    // The orphaned job still holds the file's lock (it inherited it), so nothing runs
    // alongside it...
    trigger(&w).arg("--no-wait").run().code(16).stderr_has("holds its lock");
    // ...and once it is gone too, the interrupted run is no success and blocks nothing: the
    // same file runs again at once.
    let job = read_pid(&w.path("pids"));
    let _ = kill_process_group(Pid::from_raw(job).unwrap(), Signal::KILL);
    wait_until(Duration::from_secs(5), "the orphaned job to end", || is_gone(job));
    let begun = Instant::now();
    trigger(&w).arg("--no-wait").run().code(0).stdout_is("second run\n");
    assert!(begun.elapsed() < Duration::from_secs(5), "took {:?}", begun.elapsed());
    // That invocation recorded the dead run for good.
    let rows = w.journal_rows();
    assert_eq!((rows[0].state.as_str(), rows[0].finished), ("interrupted", true), "{rows:?}");
    assert_eq!(rows[1].state, "busy");
    assert_eq!(rows[2].state, "success");
    let runs = history_json(&w);
    assert_eq!(runs[2]["outcome"], "interrupted");
    assert!(runs[2]["message"].as_str().unwrap().contains("died"), "{}", runs[2]);
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// A run killed with SIGKILL and reaped, its job killed too: one row left `running`.
fn killed_run() -> World {
    let w = job_world(TRAPPING_JOB, "");
    let cleanup = KillJobs::of(&w);
    let run = trigger(&w).spawn();
    started(&w);
    run.signal(Signal::KILL);
    run.wait();
    drop(cleanup);
    assert_eq!(states(&w), ["running"]);
    w
}

#[test]
fn a_row_whose_pid_now_names_another_process_is_interrupted() {
    let w = killed_run();
    // The pid is reused by a live process (this test) that started at another time.
    let me = std::process::id();
    let started = start_time(me);
    w.journal().execute("UPDATE runs SET pid = ?1, pid_start = ?2", [i64::from(me), started + 1]).unwrap();
    assert_eq!(history_json(&w)[0]["outcome"], "interrupted");
    // Whereas the same pid with its own start time is taken for the run, still going.
    w.journal().execute("UPDATE runs SET pid_start = ?1", [started]).unwrap();
    assert_eq!(history_json(&w)[0]["outcome"], "running");
}

#[test]
fn a_killed_ftptrigger_not_yet_reaped_is_shown_interrupted() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let run = trigger(&w).spawn();
    gate_started(&w, 1);
    run.signal(Signal::KILL);
    // Dead, but its parent (this test) has not waited for it: a zombie, as under a hook runner
    // that reaps late or a container init that never reaps.
    let pid = run.pid().as_raw_nonzero().get();
    wait_until(Duration::from_secs(5), "ftptrigger is a zombie", || is_gone(pid));
    let shown = history_json(&w)[0]["outcome"].clone();
    release(&w);
    // A new invocation should also record it for good.
    let other = w.upload("ACME_2.zip", CONTENT);
    let md5 = md5_hex(CONTENT);
    w.cmd().arg("acme").arg(other).args(["--md5", &md5]).timeout(Duration::from_secs(30)).run().code(0);
    let recorded = states(&w)[0].clone();
    run.wait();
    assert_eq!(shown, "interrupted");
    assert_eq!(recorded, "interrupted");
}

#[test]
fn sigterm_while_hashing_is_143_and_nothing_runs() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    // 8 GiB of holes: hashing it takes far longer than this test waits.
    let big = fs::File::create(w.root().join("BIG.zip")).unwrap();
    big.set_len(8 << 30).unwrap();
    let run = w
        .cmd()
        .arg("acme")
        .arg(w.root().join("BIG.zip"))
        .args(["--md5", &md5_hex(CONTENT)])
        .timeout(Duration::from_secs(30))
        .spawn();
    rows_appear(&w, 1);
    std::thread::sleep(Duration::from_millis(300));
    let begun = Instant::now();
    run.signal(Signal::TERM);
    run.wait().code(143).stderr_has("ERROR[143]").stderr_has("while hashing");
    assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
    assert_eq!(states(&w), ["interrupted"]);
    assert_eq!(gate_log(&w), "", "the job ran");
}

// --- TERM, INT, HUP: passed on to the job's group, recorded, 128+n ---------------------------

/// Sends `signal` to ftptrigger while [`TRAPPING_JOB`] runs: the job gets the same signal,
/// ftptrigger exits `code`, the row is `interrupted`, and nothing of the job is left.
fn signal_is_forwarded(signal: Signal, name: &str, code: i32) {
    let w = job_world(TRAPPING_JOB, "kill_grace = \"5s\"");
    let _cleanup = KillJobs::of(&w);
    let run = trigger(&w).arg("--json").spawn();
    started(&w);
    let begun = Instant::now();
    run.signal(signal);
    let run = run.wait().code(code).stderr_lacks("panicked");
    assert!(begun.elapsed() < Duration::from_secs(4), "took {:?}", begun.elapsed());
    assert_eq!(fs::read_to_string(w.path("marker")).unwrap().trim(), name, "the job got another signal");
    let v = run.json();
    assert_eq!(v["outcome"], "interrupted");
    assert_eq!(v["exit_code"], code);
    let message = v["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("ERROR[{code}]")), "{message}");
    assert!(message.contains(&format!("SIG{name}")), "{message}");
    let row = &w.journal_rows()[0];
    assert_eq!((row.state.as_str(), row.exit_code, row.finished), ("interrupted", Some(code.into()), true));
    assert_gone(&w.path("pids"));
    assert_gone(&w.path("grandchild.pid"));
}

#[test]
fn sigterm_is_forwarded_to_the_job_and_exits_143() {
    signal_is_forwarded(Signal::TERM, "TERM", 143);
}

#[test]
fn sigint_is_forwarded_to_the_job_and_exits_130() {
    signal_is_forwarded(Signal::INT, "INT", 130);
}

#[test]
fn sighup_is_forwarded_to_the_job_and_exits_129() {
    signal_is_forwarded(Signal::HUP, "HUP", 129);
}

#[test]
fn a_job_ignoring_sigterm_is_sigkilled_after_kill_grace() {
    let w = job_world(TERM_IGNORING_JOB, "kill_grace = \"1s\"");
    let _cleanup = KillJobs::of(&w);
    let run = trigger(&w).arg("--json").spawn();
    started(&w);
    let begun = Instant::now();
    run.signal(Signal::TERM);
    let run = run.wait().code(143);
    let took = begun.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "took {took:?}");
    let v = run.json();
    assert_eq!(v["outcome"], "interrupted");
    assert_eq!(v["process"]["signal"], 9, "SIGKILLed after kill_grace: {v}");
    assert_eq!(w.journal_rows()[0].state, "interrupted");
    assert_gone(&w.path("pids"));
    assert_gone(&w.path("grandchild.pid"));
}

#[test]
fn sigterm_while_waiting_for_the_lock_is_143_and_recorded() {
    let w = job_world(GATE_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let holder = trigger(&w).spawn();
    gate_started(&w, 1);
    let waiter = trigger(&w).spawn();
    rows_appear(&w, 2);
    std::thread::sleep(Duration::from_millis(200));
    let begun = Instant::now();
    waiter.signal(Signal::TERM);
    waiter.wait().code(143).stderr_has("ERROR[143]").stderr_has("while waiting for the lock");
    assert!(begun.elapsed() < Duration::from_secs(2), "took {:?}", begun.elapsed());
    let row = &w.journal_rows()[1];
    assert_eq!((row.state.as_str(), row.exit_code, row.finished), ("interrupted", Some(143), true));
    release(&w);
    holder.wait().code(0);
    assert_eq!(gate_log(&w), "start 1\nend 1\n", "the interrupted run ran the job");
}

#[test]
fn the_job_leads_its_own_process_group() {
    // What the signal tests and `KillJobs` rely on: the job's pid names its whole group.
    let w = job_world(TRAPPING_JOB, "");
    let _cleanup = KillJobs::of(&w);
    let run = trigger(&w).spawn();
    started(&w);
    let job = Pid::from_raw(read_pid(&w.path("pids"))).expect("a pid");
    assert_eq!(rustix::process::getpgid(Some(job)).ok(), Some(job));
    assert_ne!(rustix::process::getpgid(Some(run.pid())).ok(), Some(job));
    run.signal(Signal::TERM);
    run.wait().code(143);
}
