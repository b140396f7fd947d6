//! How the job runs: where its output goes, what it gets (workdir, stdin, environment), how
//! its end becomes an exit code (0, 14, 15), and what `--quiet`, `--json` and `--dry-run` print.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};

use crate::support::{Cfg, Trigger, World, is_gone, md5_hex, write_mode};

const CONTENT: &[u8] = b"statement data\n";
const WRONG_MD5: &str = "0123456789abcdef0123456789abcdef";
/// Short limits so timeout tests take seconds, not an hour.
const SHORT_LIMITS: &str = "timeout = \"1s\"\nkill_grace = \"1s\"";
/// Records the job's `$!` (its last background child) beside the script.
const RECORD_GRANDCHILD: &str = r#"echo $! > "$(dirname "$0")/grandchild.pid""#;

/// The config text for one rule `stmt` (CID `acme`, `*.zip` under `ftp/acme`) running
/// `command` (a TOML array), with `extra` keys added to the rule.
fn rule_config(command: &str, extra: &str) -> String {
    Cfg::default().rule_running("stmt", "acme", "*.zip", command, extra).text()
}

/// A world whose rule runs `./job.sh {file}`, a shell script with `body`, plus the upload
/// `ACME_1.zip`.
fn job_world(body: &str, extra: &str) -> (World, PathBuf) {
    let w = World::with(&rule_config(r#"["./job.sh", "{file}"]"#, extra), &format!("#!/bin/sh\n{body}\n"));
    let file = w.upload("ACME_1.zip", CONTENT);
    (w, file)
}

/// `ftptrigger -c <config> acme <file> --md5 <the right MD5>`.
fn trigger(w: &World, file: &Path) -> Trigger {
    w.cmd().arg("acme").arg(file).args(["--md5", &md5_hex(CONTENT)])
}

fn canonical(path: &Path) -> String {
    path.canonicalize().expect("canonicalize").to_str().expect("UTF-8 path").to_owned()
}

/// The pid the job recorded with [`RECORD_GRANDCHILD`] is gone within 2 s.
fn assert_grandchild_gone(w: &World) {
    let text = fs::read_to_string(w.path("grandchild.pid")).expect("the job recorded its grandchild");
    let pid: i32 = text.trim().parse().expect("a pid");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "grandchild {pid} outlived the run");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child spawned by hand, reading whatever of stdout/stderr is piped; kills it
/// and fails the test if it runs past `limit`.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    fn read_all(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ftptrigger hung for more than {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

// --- success, and what the job gets ---------------------------------------------------------

#[test]
fn success_exits_0_with_job_output_on_stdout_and_our_messages_on_stderr() {
    let (w, file) = job_world("echo out-line\necho err-line >&2", "");
    trigger(&w, &file)
        .run()
        .code(0)
        .stdout_is("out-line\nerr-line\n")
        .stderr_lacks("-line")
        .stderr_has("ftptrigger: command ")
        .stderr_has("succeeded");
}

/// A job that writes to stdout and stderr by turns, `out 1`, `err 1`, `out 2`...
const ALTERNATING: &str =
    "i=1\nwhile [ $i -le 200 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done";

/// What [`ALTERNATING`] wrote, in the order it wrote it.
fn alternated() -> String {
    (1..=200).map(|i| format!("out {i}\nerr {i}\n")).collect()
}

/// The job's stdout and stderr share one pipe, as `2>&1` makes them, so its output comes out
/// in the order it was written: live on our stdout (on stderr with `--json`, whose stdout is
/// the result alone), and in the output tail.
#[test]
fn stdout_and_stderr_of_the_job_keep_the_order_they_were_written_in() {
    let (w, file) = job_world(&format!("{ALTERNATING}\nexit 3"), "");
    trigger(&w, &file).run().code(14).stdout_is(&alternated());
    let run = trigger(&w, &file).arg("--json").run().code(14);
    assert!(run.stderr().starts_with(&alternated()), "{}", run.stderr());
    assert_eq!(run.json()["process"]["output_tail"], alternated());
    let quiet = trigger(&w, &file).arg("--quiet").run().code(14).stdout_is("");
    let tail = format!("--- output tail ---\n{}\n", alternated().trim_end());
    assert!(quiet.stderr().ends_with(&tail), "{}", quiet.stderr());
}

#[test]
fn relative_workdir_resolves_against_the_config_dir_from_any_cwd() {
    let (w, file) = job_world("pwd -P", r#"workdir = "work""#);
    fs::create_dir(w.path("work")).unwrap();
    let mut t = trigger(&w, &file);
    t.cmd.current_dir("/");
    t.run().code(0).stdout_is(&format!("{}\n", canonical(&w.path("work"))));
}

#[test]
fn absolute_workdir_is_used_as_is() {
    let elsewhere = tempfile::tempdir().unwrap();
    let extra = format!("workdir = {:?}", canonical(elsewhere.path()));
    let (w, file) = job_world("pwd -P", &extra);
    trigger(&w, &file).run().code(0).stdout_is(&format!("{}\n", canonical(elsewhere.path())));
}

#[test]
fn stdin_is_dev_null_even_when_ours_is_an_open_pipe_with_data() {
    let (w, file) = job_world(r#"echo "stdin bytes: $(cat | wc -c | tr -d ' ')""#, "");
    let mut t = trigger(&w, &file);
    t.cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = t.cmd.spawn().expect("spawn ftptrigger");
    // Data waiting on our stdin, and the pipe kept open: a job that inherited it would read
    // the data and then block forever.
    let mut our_stdin = child.stdin.take().unwrap();
    our_stdin.write_all(b"caller data\n").unwrap();
    let (status, stdout, stderr) = finish(child, Duration::from_secs(20));
    drop(our_stdin);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stdout, "stdin bytes: 0\n");
}

/// The job gets stdio, the verified file and the lock, and no other descriptor: not the
/// journal, the config or a notification socket of ours, nor one ftptrigger inherited (an FTP
/// server may leak its sockets to the hook). `ls` lists its own descriptors, plus the one it
/// reads the listing through.
#[test]
fn the_job_inherits_only_stdio_the_verified_file_and_the_lock() {
    let w = World::empty();
    w.config(&rule_config(r#"["/bin/ls", "-l", "/proc/self/fd/"]"#, ""));
    let file = w.upload("ACME_1.zip", CONTENT);
    let stdout = trigger(&w, &file).with_a_leaked_descriptor().run().code(0).stdout();
    let mut inherited: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .filter_map(|(left, target)| Some((left.rsplit(' ').next()?.to_owned(), target.to_owned())))
        .filter(|(fd, target)| !["0", "1", "2"].contains(&fd.as_str()) && !target.starts_with("/proc/"))
        .collect();
    inherited.sort_by(|a, b| a.1.cmp(&b.1));
    let targets: Vec<&str> = inherited.iter().map(|(_, target)| target.as_str()).collect();
    assert_eq!(targets.len(), 2, "{stdout}");
    assert_eq!(targets[0], canonical(&file), "{stdout}");
    assert!(targets[1].contains("/locks/") || targets[1].contains("lock"), "{stdout}");
}

#[test]
fn rule_env_and_inherited_env_reach_the_job() {
    let (w, file) = job_world(
        r#"echo "QUEUE=$QUEUE CALLER=$CALLER CID=$FTPTRIGGER_CID""#,
        r#"env = { QUEUE = "statements" }"#,
    );
    trigger(&w, &file)
        .env("CALLER", "from-the-hook")
        .run()
        .code(0)
        .stdout_is("QUEUE=statements CALLER=from-the-hook CID=acme\n");
}

#[test]
fn rule_env_wins_over_an_inherited_variable_of_the_same_name() {
    let (w, file) = job_world(r#"echo "QUEUE=$QUEUE""#, r#"env = { QUEUE = "statements" }"#);
    trigger(&w, &file).env("QUEUE", "inherited").run().code(0).stdout_is("QUEUE=statements\n");
}

// --- failures: exit 14 ----------------------------------------------------------------------

#[test]
fn non_zero_exit_is_14_naming_the_status() {
    let (w, file) = job_world("echo partial output\nexit 3", "");
    trigger(&w, &file)
        .run()
        .code(14)
        .stdout_is("partial output\n")
        .stderr_has("ERROR[14]:")
        .stderr_has("exited with status 3");
}

#[test]
fn killed_by_a_signal_is_14_naming_the_signal() {
    for (signal, named) in [("KILL", "signal 9 (SIGKILL)"), ("SEGV", "signal 11 (SIGSEGV)")] {
        let (w, file) = job_world(&format!("kill -{signal} $$"), "");
        trigger(&w, &file).run().code(14).stderr_has("ERROR[14]:").stderr_has(named);
    }
}

#[test]
fn json_names_the_signal_and_no_status() {
    let (w, file) = job_world("kill -KILL $$", "");
    let v = trigger(&w, &file).arg("--json").run().code(14).json();
    assert_eq!(v["outcome"], "process_failed");
    assert_eq!(v["process"]["status"], Value::Null);
    assert_eq!(v["process"]["signal"], 9);
    assert!(v["message"].as_str().unwrap().contains("signal 9 (SIGKILL)"), "{v}");
}

#[test]
fn missing_program_is_14_naming_the_path_and_the_os_error() {
    let w = World::empty();
    w.config(&rule_config(r#"["./missing-job", "{file}"]"#, ""));
    let file = w.upload("ACME_1.zip", CONTENT);
    trigger(&w, &file)
        .run()
        .code(14)
        .stderr_has("ERROR[14]:")
        .stderr_has(&canonical(w.dir.path()))
        .stderr_has("missing-job: No such file or directory");
}

#[test]
fn program_not_in_path_is_14() {
    let w = World::empty();
    w.config(&rule_config(r#"["no-such-program-ftptrigger", "{file}"]"#, ""));
    let file = w.upload("ACME_1.zip", CONTENT);
    trigger(&w, &file)
        .run()
        .code(14)
        .stderr_has("no-such-program-ftptrigger")
        .stderr_has("not found in any absolute PATH entry");
}

#[test]
fn program_that_is_not_executable_is_14_permission_denied() {
    let (w, file) = job_world("echo should not run", "");
    write_mode(&w.path("job.sh"), b"#!/bin/sh\necho should not run\n", 0o644);
    trigger(&w, &file)
        .run()
        .code(14)
        .stdout_is("")
        .stderr_has("ERROR[14]:")
        .stderr_has("job.sh: Permission denied");
}

#[test]
fn missing_workdir_is_14_naming_the_workdir() {
    let (w, file) = job_world("echo should not run", r#"workdir = "no-such-dir""#);
    trigger(&w, &file)
        .run()
        .code(14)
        .stdout_is("")
        .stderr_has("ERROR[14]:")
        .stderr_has("workdir ")
        .stderr_has("no-such-dir");
}

// --- timeouts and leftovers -----------------------------------------------------------------

#[test]
fn timeout_is_15_and_kills_the_whole_process_group() {
    let body = format!("sleep 300 &\n{RECORD_GRANDCHILD}\nwait");
    let (w, file) = job_world(&body, SHORT_LIMITS);
    let started = Instant::now();
    trigger(&w, &file)
        .timeout(Duration::from_secs(30))
        .run()
        .code(15)
        .stderr_has("ERROR[15]")
        .stderr_has("timeout of 1s");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_grandchild_gone(&w);
}

#[test]
fn a_job_ignoring_sigterm_is_sigkilled_after_kill_grace() {
    let body = format!("trap '' TERM\nsleep 300 &\n{RECORD_GRANDCHILD}\nwait");
    let (w, file) = job_world(&body, SHORT_LIMITS);
    let started = Instant::now();
    let run = trigger(&w, &file).arg("--json").timeout(Duration::from_secs(30)).run().code(15);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let v = run.json();
    assert_eq!(v["outcome"], "timed_out");
    assert_eq!(v["exit_code"], 15);
    assert!(v["message"].as_str().unwrap().starts_with("ERROR[15]"), "{v}");
    assert_eq!(v["process"]["signal"], 9, "SIGKILLed after kill_grace: {v}");
    assert_grandchild_gone(&w);
}

#[test]
fn a_background_grandchild_holding_stdout_does_not_keep_us_waiting() {
    let body = format!("sleep 300 &\n{RECORD_GRANDCHILD}\necho main job done\nexit 0");
    let (w, file) = job_world(&body, SHORT_LIMITS);
    let started = Instant::now();
    trigger(&w, &file).timeout(Duration::from_secs(30)).run().code(0).stdout_is("main job done\n");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_grandchild_gone(&w);
}

/// Runs the job (which starts a grandchild in a new session, outside the job's process group,
/// still holding the job's stdout) with ftptrigger's own output in files, so nothing here
/// waits on that pipe. Returns ftptrigger's exit code, or `None` if it was still running
/// after 10 s. The escaped grandchild is killed afterwards either way.
fn run_with_escaped_grandchild(body: &str) -> Option<i32> {
    let (w, file) = job_world(body, SHORT_LIMITS);
    let mut t = trigger(&w, &file);
    t.cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(w.path("stdout")).unwrap())
        .stderr(fs::File::create(w.path("stderr")).unwrap());
    let mut child = t.cmd.spawn().expect("spawn ftptrigger");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let pid = fs::read_to_string(w.path("grandchild.pid")).unwrap_or_default();
    if let Some(pid) = pid.trim().parse().ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::KILL);
    }
    status
}

#[test]

fn a_grandchild_in_another_session_holding_stdout_does_not_hang_a_successful_run() {
    let body = format!("setsid sleep 300 &\n{RECORD_GRANDCHILD}\nsleep 0.5\nexit 0");
    assert_eq!(run_with_escaped_grandchild(&body), Some(0), "ftptrigger still running after 10 s");
}

#[test]

fn a_grandchild_in_another_session_holding_stdout_does_not_defeat_the_timeout() {
    let body = format!("setsid sleep 300 &\n{RECORD_GRANDCHILD}\nsleep 300");
    assert_eq!(run_with_escaped_grandchild(&body), Some(15), "ftptrigger still running after 10 s");
}

// --- --quiet --------------------------------------------------------------------------------

#[test]
fn quiet_success_prints_nothing_at_all() {
    let (w, file) = job_world("echo out-line\necho err-line >&2", "");
    trigger(&w, &file).arg("--quiet").run().code(0).stdout_is("").stderr_is("");
}

#[test]
fn quiet_failure_prints_the_error_and_the_output_tail_on_stderr() {
    let (w, file) = job_world("echo line-one\necho line-two >&2\nexit 3", "");
    trigger(&w, &file)
        .arg("--quiet")
        .run()
        .code(14)
        .stdout_is("")
        .stderr_has("ERROR[14]:")
        .stderr_has("exited with status 3")
        .stderr_has("line-one")
        .stderr_has("line-two");
}

// --- --json ---------------------------------------------------------------------------------

/// The fields every JSON result carries whatever the outcome.
fn assert_envelope(v: &Value) {
    assert_eq!(v["version"], 1);
    let id = v["event_id"].as_str().expect("event_id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "event_id {id:?} is a UUID");
    for key in ["started_at", "finished_at"] {
        let t = v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"));
        assert!(t.ends_with('Z') && humantime::parse_rfc3339(t).is_ok(), "{key} {t:?} is RFC 3339 UTC");
    }
    assert!(v["started_at"].as_str() <= v["finished_at"].as_str());
}

#[test]
fn json_success_is_one_object_and_the_job_output_goes_to_stderr() {
    let (w, file) = job_world("echo to-stdout\necho to-stderr >&2", r#"tags = { product = "x" }"#);
    // A relative FILE: the result still names the canonical absolute path.
    let run = w
        .cmd()
        .args(["--json", "acme", "ftp/acme/ACME_1.zip", "--md5", &md5_hex(CONTENT)])
        .run()
        .code(0)
        .stderr_has("to-stdout\n")
        .stderr_has("to-stderr\n");
    let v = run.json();
    assert_envelope(&v);
    assert_eq!(v["event"], "run.succeeded");
    assert_eq!(v["cid"], "acme");
    assert_eq!(v["filename"], "ACME_1.zip");
    assert_eq!(v["file"], canonical(&file));
    assert_eq!(v["size"], CONTENT.len());
    assert_eq!(v["md5"], json!({ "expected": md5_hex(CONTENT), "actual": md5_hex(CONTENT) }));
    assert_eq!(v["rule"], "stmt");
    assert_eq!(v["tags"], json!({ "product": "x" }));
    assert_eq!(v["outcome"], "success");
    assert_eq!(v["exit_code"], 0);
    assert!(!v["message"].as_str().unwrap().is_empty());
    let process = &v["process"];
    let argv = process["argv"].as_array().expect("argv");
    assert_eq!(argv.len(), 2, "{argv:?}");
    assert_eq!(canonical(Path::new(argv[0].as_str().unwrap())), canonical(&w.path("job.sh")));
    assert_eq!(argv[1], canonical(&file));
    assert_eq!(process["status"], 0);
    assert_eq!(process["signal"], Value::Null);
    let tail = process["output_tail"].as_str().unwrap();
    assert!(tail.contains("to-stdout\n") && tail.contains("to-stderr\n"), "{tail:?}");
}

#[test]
fn json_process_failure_carries_status_message_and_tail() {
    let (w, file) = job_world("echo boom\nexit 3", r#"tags = { product = "x" }"#);
    let run = trigger(&w, &file).arg("--json").run().code(14).stderr_has("boom");
    let v = run.json();
    assert_envelope(&v);
    assert_eq!(v["event"], "run.failed");
    assert_eq!(v["outcome"], "process_failed");
    assert_eq!(v["exit_code"], 14);
    assert_eq!(v["rule"], "stmt");
    assert_eq!(v["tags"], json!({ "product": "x" }));
    let message = v["message"].as_str().unwrap();
    assert!(message.starts_with("ERROR[14]") && message.contains("exited with status 3"), "{message}");
    assert_eq!(v["process"]["status"], 3);
    assert_eq!(v["process"]["output_tail"], "boom\n");
}

#[test]
fn json_not_configured_is_11() {
    let (w, _) = job_world("echo should not run", "");
    let notes = w.upload("notes.txt", CONTENT);
    let run = trigger(&w, &notes).arg("--json").run().code(11);
    let v = run.json();
    assert_envelope(&v);
    assert_eq!(v["event"], "run.failed");
    assert_eq!(v["outcome"], "not_configured");
    assert_eq!(v["exit_code"], 11);
    assert_eq!(v["cid"], "acme");
    assert_eq!(v["filename"], "notes.txt");
    assert_eq!(v["rule"], Value::Null);
    assert_eq!(v["process"], Value::Null);
    assert!(v["message"].as_str().unwrap().starts_with("ERROR[11]"), "{v}");
}

#[test]
fn json_md5_mismatch_is_12_with_both_digests() {
    let (w, file) = job_world("touch \"$(dirname \"$0\")/ran\"", r#"tags = { product = "x" }"#);
    let run = w.cmd().args(["--json", "acme"]).arg(&file).args(["--md5", WRONG_MD5]).run().code(12);
    let v = run.json();
    assert_envelope(&v);
    assert_eq!(v["event"], "run.failed");
    assert_eq!(v["outcome"], "md5_mismatch");
    assert_eq!(v["exit_code"], 12);
    assert_eq!(v["md5"], json!({ "expected": WRONG_MD5, "actual": md5_hex(CONTENT) }));
    assert_eq!(v["rule"], "stmt");
    assert_eq!(v["tags"], json!({ "product": "x" }));
    assert_eq!(v["process"], Value::Null);
    assert!(v["message"].as_str().unwrap().starts_with("ERROR[12]"), "{v}");
    assert!(!w.path("ran").exists());
}

#[test]
fn output_tail_is_bounded_and_keeps_the_end() {
    let body = "head -c 1048576 /dev/zero | tr '\\0' 'x'\necho END\nexit 1";
    let (w, file) = job_world(body, "");
    let run = trigger(&w, &file).arg("--json").run().code(14);
    let v = run.json();
    let tail = v["process"]["output_tail"].as_str().unwrap();
    assert!(tail.len() <= 65536, "tail is {} bytes", tail.len());
    assert!(tail.ends_with("xxxxEND\n"), "tail ends {:?}", &tail[tail.len().saturating_sub(20)..]);
}

// --- --dry-run ------------------------------------------------------------------------------

#[test]
fn dry_run_shows_the_plan_and_runs_nothing() {
    let extra = "workdir = \"work\"\nenv = { QUEUE = \"statements\" }";
    let (w, file) = job_world("touch \"$(dirname \"$0\")/ran\"", extra);
    fs::create_dir(w.path("work")).unwrap();
    trigger(&w, &file)
        .arg("--dry-run")
        .run()
        .code(0)
        .stdout_has("argv:")
        .stdout_has(&format!("job.sh {}", canonical(&file)))
        .stdout_has(&format!("workdir: {}", canonical(&w.path("work"))))
        .stdout_has(&format!("FTPTRIGGER_MD5={}", md5_hex(CONTENT)))
        .stdout_has("QUEUE=statements");
    assert!(!w.path("ran").exists(), "the job ran in a dry run");
}

#[test]
fn dry_run_with_json_keeps_stdout_for_the_result() {
    let (w, file) = job_world("touch \"$(dirname \"$0\")/ran\"", "");
    let run = trigger(&w, &file).args(["--dry-run", "--json"]).run().code(0).stderr_has("argv:");
    assert_eq!(run.json()["outcome"], "success");
    assert!(!w.path("ran").exists(), "the job ran in a dry run");
}

#[test]
fn dry_run_still_checks_the_md5() {
    let (w, file) = job_world("touch \"$(dirname \"$0\")/ran\"", "");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", WRONG_MD5, "--dry-run"])
        .run()
        .code(12)
        .stderr_has("ERROR[12]");
    assert!(!w.path("ran").exists());
}

// --- a closed stdout ------------------------------------------------------------------------

#[test]
fn a_closed_stdout_is_not_a_panic_or_a_hang() {
    for flags in [&[][..], &["--json"][..]] {
        let (w, file) = job_world("seq 100000", "");
        let mut t = trigger(&w, &file).args(flags);
        t.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = t.cmd.spawn().expect("spawn ftptrigger");
        drop(child.stdout.take()); // `ftptrigger … | head -c 0`
        let (status, _, stderr) = finish(child, Duration::from_secs(30));
        assert!(matches!(status.code(), Some(0 | 14)), "{flags:?}: {status:?}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
    }
}
