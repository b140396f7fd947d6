//! `ftptrigger serve`: the real binary listening on 127.0.0.1 (a free port it picks and
//! logs), driven with a real HTTP client, its journal and its jobs looked at from outside.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;
use serde_json::{Value, json};

use crate::support::{Cfg, World, md5_hex, wait_or_kill, wait_until};

pub const LIMIT: Duration = Duration::from_secs(30);

/// The job: records that it ran (one line per run in `jobs.log`) and its pid, then does what
/// the file says: `sleep N`, `exit`, or nothing.
pub const JOB: &str = r#"#!/bin/sh
printf '%s\n' "$FTPTRIGGER_FILENAME" >> "$(dirname "$0")/jobs.log"
echo $$ > "$(dirname "$0")/$FTPTRIGGER_FILENAME.pid"
env > "$(dirname "$0")/$FTPTRIGGER_FILENAME.env"
echo "output of $FTPTRIGGER_FILENAME"
what=$(cat "$1")
case "$what" in
  sleep*) exec sleep "${what#sleep }" ;;
  exit*) exit 3 ;;
esac
"#;

/// A running `ftptrigger serve`, killed and reaped when dropped.
pub struct Service {
    child: Option<Child>,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Service {
    pub fn start(w: &World) -> Service {
        Service::start_with(w, &[])
    }

    pub fn start_with(w: &World, env: &[(&str, &str)]) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftptrigger"));
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/nonexistent")
            .env("XDG_STATE_HOME", w.journal_dir())
            .envs(env.iter().copied())
            .current_dir(w.path(""))
            .arg("-c")
            .arg(w.config_path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start ftptrigger serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let _ = found.send(rest.split(['/', ' ']).next().unwrap_or("").to_owned());
                    }
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        let base = match address.recv_timeout(LIMIT) {
            Ok(base) => format!("http://{base}"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start listening:\n{}", log.lock().unwrap());
            }
        };
        Service { child: Some(child), base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_child(self.child.as_ref().expect("running"))
    }

    fn signal(&self, signal: Signal) {
        rustix::process::kill_process(self.pid(), signal).expect("signal serve");
    }

    fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("waited for once");
        wait_or_kill(&mut child, LIMIT, "ftptrigger serve")
    }

    fn kill9(&mut self) {
        self.signal(Signal::KILL);
        self.wait();
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        send(agent().post(&self.url(path)).header("Content-Type", "application/json").send(body.to_string()))
    }

    pub fn get(&self, path: &str) -> Reply {
        send(agent().get(&self.url(path)).call())
    }

    /// `GET /runs/{id}` until the run has ended.
    pub fn ended(&self, id: i64) -> Value {
        let mut last = Value::Null;
        wait_until(LIMIT, &format!("run {id} ended"), || {
            last = self.get(&format!("/runs/{id}")).json();
            !matches!(last["outcome"].as_str(), Some("queued" | "running"))
        });
        last
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(LIMIT)).build().into()
}

/// A response: its status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn send(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("the service answers");
    let body = response.body_mut().read_to_string().expect("a body");
    Reply { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

/// A world with the test job, rule `stmt` for `acme`'s `*.zip` files, and `serve` lines.
fn world(rule: &str, serve: &str) -> World {
    let w = World::new();
    w.script("job.sh", JOB);
    w.config(&Cfg::stmt(rule).defaults("lock_wait = \"0s\"").tail(&format!("[serve]\n{serve}")).text());
    w
}

fn request(name: &str, content: &[u8]) -> Value {
    json!({"cid": "acme", "filename": name, "md5": md5_hex(content)})
}

pub fn jobs_run(w: &World) -> Vec<String> {
    std::fs::read_to_string(w.path("jobs.log")).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Each outcome a run can reach gets the status SPEC's table gives it, with the result object
/// (or, asked for text, the message and the output tail) as the body.
#[test]
fn every_outcome_gets_its_status() {
    let w = world("timeout = \"1s\"\nkill_grace = \"1s\"", "workers = 2");
    let s = Service::start(&w);
    w.upload("ok.zip", b"fine");
    w.upload("fails.zip", b"exit");
    w.upload("slow.zip", b"sleep 5");

    let ok = s.post("/ftpscanner/", &request("ok.zip", b"fine"));
    assert_eq!((ok.status, ok.json()["outcome"].as_str()), (200, Some("success")), "{}", ok.body);
    assert_eq!(ok.json()["exit_code"], 0);
    let again = s.post("/ftpscanner", &request("ok.zip", b"fine"));
    assert_eq!((again.status, again.json()["outcome"].as_str()), (200, Some("duplicate_skipped")));

    let cases = [
        (
            json!({"cid": "other", "filename": "ok.zip", "md5": md5_hex(b"fine")}),
            400,
            "not_configured",
            "ERROR[11]:",
        ),
        (
            json!({"cid": "acme", "filename": "a.txt", "md5": md5_hex(b"fine")}),
            400,
            "not_configured",
            "ERROR[11]:",
        ),
        (request("ok.zip", b"other bytes"), 400, "md5_mismatch", "ERROR[12]:"),
        (request("missing.zip", b"x"), 400, "bad_file", "ERROR[13]:"),
        (request("fails.zip", b"exit"), 500, "process_failed", "ERROR[14]:"),
        (request("slow.zip", b"sleep 5"), 500, "timed_out", "ERROR[15]:"),
    ];
    for (body, status, outcome, message) in cases {
        let reply = s.post("/ftpscanner/", &body);
        let v = reply.json();
        assert_eq!((reply.status, v["outcome"].as_str()), (status, Some(outcome)), "{body}: {}", reply.body);
        assert!(v["message"].as_str().unwrap_or("").starts_with(message), "{}", reply.body);
        assert!(v["run_id"].as_i64().is_some(), "{}", reply.body);
    }

    // Busy: another run holds the file's lock (a CLI run of a slow file), and lock_wait is 0.
    w.upload("held.zip", b"sleep 3");
    let cli =
        w.cmd().arg("acme").arg(w.root().join("held.zip")).args(["--md5", &md5_hex(b"sleep 3")]).spawn();
    wait_until(LIMIT, "the CLI run's job started", || jobs_run(&w).contains(&"held.zip".to_owned()));
    let busy = s.post("/ftpscanner/", &request("held.zip", b"sleep 3"));
    assert_eq!((busy.status, busy.json()["outcome"].as_str()), (409, Some("busy")), "{}", busy.body);
    drop(cli);

    // Accept: text/plain: the message, a blank line, and the output tail.
    let text = send(
        agent()
            .post(&s.url("/ftpscanner/"))
            .header("Accept", "text/plain")
            .header("Content-Type", "application/json")
            .send(request("fails.zip", b"exit").to_string()),
    );
    assert_eq!(text.status, 500);
    assert!(text.body.starts_with("ERROR[14]: command "), "{}", text.body);
    assert!(text.body.contains("\n\nProcess output below:\noutput of fails.zip\n"), "{}", text.body);

    // Each run is in the journal, and the log has a line per request and per run.
    assert_eq!(jobs_run(&w).iter().filter(|n| *n == "ok.zip").count(), 1, "the duplicate ran");
    let log = s.log();
    assert!(log.contains("POST /ftpscanner/ 200 ") && log.contains("ms run 1\n"), "{log}");
    assert!(log.contains("run 1 acme ok.zip: success (exit 0)"), "{log}");
}

/// Bad requests: 422 naming each bad or missing field, in the replaced endpoint's shape; 413
/// over 64 KiB; nothing recorded, nothing run.
#[test]
fn bad_requests_are_refused_field_by_field() {
    let w = world("", "");
    let s = Service::start(&w);
    w.upload("a.zip", b"x");
    let reply = s.post("/ftpscanner/", &json!({"filename": "a.zip", "md5": "xyz"}));
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json(),
        json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with ftpscanner request",
               "validations": {"cid": "cid not present", "md5": "md5 must be 32 hex digits"}}})
    );
    let md5 = md5_hex(b"x");
    for (filename, why) in [
        ("../acme/a.zip", "filename must not contain .. components"),
        ("sub/../../a.zip", "filename must not contain .. components"),
        ("/etc/passwd", "filename must be relative to the CID's root, not an absolute path"),
        ("a\0.zip", "filename must not contain a NUL byte"),
    ] {
        let reply = s.post("/ftpscanner/", &json!({"cid": "acme", "filename": filename, "md5": md5}));
        assert_eq!(reply.status, 422, "{filename:?}");
        assert_eq!(reply.json()["errors"]["validations"], json!({"filename": why}), "{filename:?}");
    }
    // The same fields, form-encoded.
    let form = send(
        agent()
            .post(&s.url("/ftpscanner/"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("cid=acme&filename=..%2Fx&md5={md5}")),
    );
    assert_eq!(
        form.json()["errors"]["validations"],
        json!({"filename": "filename must not contain .. components"})
    );

    let huge = json!({"cid": "acme", "filename": "a.zip", "md5": md5, "pad": "x".repeat(70 * 1024)});
    assert_eq!(s.post("/ftpscanner/", &huge).status, 413);
    assert_eq!(s.get("/nothing/here").status, 404);
    assert_eq!(s.get("/runs").json(), json!({"runs": []}), "a refused request left a row");
    assert!(!w.path("jobs.log").exists());
}

/// A client that connects and sends part of a request's head, or nothing, is cut off after
/// the header-read timeout (30 s; shortened here), while other clients are served meanwhile:
/// slow or idle connections cannot pile up.
#[test]
fn a_client_too_slow_to_send_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let w = world("", "");
    let s = Service::start_with(&w, &[("FTPTRIGGER_TEST_HEADER_TIMEOUT_MS", "500")]);
    let address = s.base.trim_start_matches("http://").to_owned();
    let connect = || {
        let stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream
    };
    let mut partial = connect();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("write");
    let mut silent = connect();
    assert_eq!(s.get("/healthz").json(), json!({"status": "ok"}));
    let started = std::time::Instant::now();
    for stream in [&mut partial, &mut silent] {
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(read.is_ok(), "not closed by the server: {read:?}");
        assert!(!String::from_utf8_lossy(&rest).contains("200 OK"), "answered an incomplete request");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());
}

/// With `token_env`, every route but /healthz needs the bearer token; without it, serve will
/// not listen beyond loopback.
#[test]
fn the_token_guards_every_route_but_healthz() {
    let w = world("", "token_env = \"API_TOKEN\"\nbase_path = \"/infosync/v1/\"");
    let s = Service::start_with(&w, &[("API_TOKEN", "s3cret-token")]);
    w.upload("a.zip", b"x");
    let path = "/infosync/v1/ftpscanner/";
    for token in [None, Some("wrong"), Some("s3cret-tokenX"), Some("")] {
        let mut call = agent().post(&s.url(path)).header("Content-Type", "application/json");
        if let Some(token) = token {
            call = call.header("Authorization", &format!("Bearer {token}"));
        }
        let reply = send(call.send(request("a.zip", b"x").to_string()));
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    }
    assert_eq!(s.get("/infosync/v1/runs").status, 401);
    assert_eq!(s.get("/infosync/v1/metrics").status, 401);
    assert_eq!(s.get("/infosync/v1/healthz").json(), json!({"status": "ok"}));
    let outside = send(agent().get(&s.url("/healthz")).header("Authorization", "Bearer s3cret-token").call());
    assert_eq!(outside.status, 404, "routes live under base_path only");
    let ok = send(
        agent()
            .post(&s.url(path))
            .header("Authorization", "Bearer s3cret-token")
            .header("Content-Type", "application/json")
            .send(request("a.zip", b"x").to_string()),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(!s.log().contains("s3cret"), "the token reached the log");
    let env = std::fs::read_to_string(w.path("a.zip.env")).expect("the job's environment");
    assert!(
        env.contains("FTPTRIGGER_RUN_ID=") && !env.contains("s3cret"),
        "the token reached the job:\n{env}"
    );
    assert_eq!(jobs_run(&w), ["a.zip"]);

    // Beyond loopback without a token: refused before listening.
    w.config(&Cfg::stmt("").tail("[serve]\nlisten = \"0.0.0.0:0\"").text());
    w.cmd().arg("serve").run().code(10).stderr_has("is not a loopback address");
    // A token_env that is not set is no open door either.
    w.config(&Cfg::stmt("").tail("[serve]\ntoken_env = \"API_TOKEN\"").text());
    w.cmd().arg("serve").run().code(10).stderr_has("names API_TOKEN, which is set neither");
}

/// `?async=true` (or `Prefer: respond-async`) answers 202 with the run's id and location at
/// once; the run then reaches its end, and `GET /runs` lists it.
#[test]
fn an_async_run_is_accepted_at_once_and_ends_later() {
    let w = world("", "");
    let s = Service::start(&w);
    w.upload("slow.zip", b"sleep 1");
    w.upload("b.zip", b"b");
    let accepted = s.post("/ftpscanner/?async=true", &request("slow.zip", b"sleep 1"));
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["run_id"].as_i64().expect("a run id");
    assert_eq!(accepted.json(), json!({"run_id": id, "status": "queued"}));
    assert_eq!(accepted.headers.get("location").and_then(|v| v.to_str().ok()), Some(&*format!("/runs/{id}")));
    let preferred = send(
        agent()
            .post(&s.url("/ftpscanner"))
            .header("Prefer", "respond-async")
            .header("Content-Type", "application/json")
            .send(request("b.zip", b"b").to_string()),
    );
    assert_eq!(preferred.status, 202);

    let ended = s.ended(id);
    assert_eq!(
        (ended["outcome"].as_str(), ended["exit_code"].as_i64()),
        (Some("success"), Some(0)),
        "{ended}"
    );
    s.ended(preferred.json()["run_id"].as_i64().expect("id"));
    let runs = s.get("/runs?count=5").json();
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2), "{runs}");
    assert_eq!(runs["runs"][1]["run_id"], id, "newest first");
    assert_eq!(s.get("/runs?cid=other").json(), json!({"runs": []}));
    assert_eq!(s.get("/runs/999").status, 404);
    let metrics = s.get("/metrics").body;
    for name in [
        "ftptrigger_runs_total{outcome=\"success\"} 2",
        "ftptrigger_run_duration_seconds_count 2",
        "ftptrigger_runs_queued 0",
        "ftptrigger_runs_running 0",
        "ftptrigger_outbox_pending 0",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
}

/// A run accepted but not started when the service is killed outright stays queued, and
/// runs when the service starts again.
#[test]
fn a_queued_run_survives_kill_9_and_runs_after_the_restart() {
    let w = world("", "workers = 1");
    let mut s = Service::start(&w);
    w.upload("slow.zip", b"sleep 30");
    w.upload("next.zip", b"next");
    let first = s.post("/ftpscanner/?async=true", &request("slow.zip", b"sleep 30")).json();
    wait_until(LIMIT, "the first job started", || jobs_run(&w).contains(&"slow.zip".to_owned()));
    let second = s.post("/ftpscanner/?async=true", &request("next.zip", b"next")).json();
    let second = second["run_id"].as_i64().expect("id");
    assert_eq!(s.get(&format!("/runs/{second}")).json()["outcome"], "queued");
    s.kill9();
    // The first job, orphaned, would sleep on for 30 s: it is this test's to end.
    let orphan = std::fs::read_to_string(w.path("slow.zip.pid")).expect("the job's pid");
    if let Some(pid) = orphan.trim().parse().ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }

    let s = Service::start(&w);
    let ended = s.ended(second);
    assert_eq!(ended["outcome"], "success", "{ended}");
    assert_eq!(jobs_run(&w).iter().filter(|n| *n == "next.zip").count(), 1);
    let first = s.get(&format!("/runs/{}", first["run_id"])).json();
    assert_eq!(first["outcome"], "interrupted", "{first}");
    assert!(s.log().contains("1 queued runs from before the last stop"), "{}", s.log());
}

/// SIGHUP reloads the config; one with errors is refused, the old one kept and the reason
/// logged. A change of the file reloads it too.
#[test]
fn sighup_reloads_a_good_config_and_keeps_the_old_one_for_a_broken_one() {
    let w = world("", "");
    let s = Service::start(&w);
    std::fs::create_dir_all(w.path("ftp/beta")).expect("mkdir");
    std::fs::write(w.path("ftp/beta/b.zip"), b"b").expect("upload");
    let beta = json!({"cid": "beta", "filename": "b.zip", "md5": md5_hex(b"b")});
    assert_eq!(s.post("/ftpscanner/", &beta).status, 400, "beta is not configured yet");

    w.config(&Cfg::stmt("").rule("b", "beta", "*.zip", "").tail("[serve]").text());
    s.signal(Signal::HUP);
    wait_until(LIMIT, "the reload", || s.log().contains("reloaded (SIGHUP)"));
    let reply = s.post("/ftpscanner/", &beta);
    assert_eq!((reply.status, reply.json()["outcome"].as_str()), (200, Some("success")), "{}", reply.body);

    w.config("[[rule]]\ncid = \"acme\"\ntimeout = \"soon\"\n");
    s.signal(Signal::HUP);
    wait_until(LIMIT, "the refusal", || s.log().contains("config not reloaded (SIGHUP)"));
    assert!(s.log().contains("timeout"), "the problem is not logged:\n{}", s.log());
    w.upload("a.zip", b"a");
    assert_eq!(s.post("/ftpscanner/", &request("a.zip", b"a")).status, 200, "the old config is gone");

    // No signal: the file changing is enough.
    w.config(&Cfg::stmt("").tail("[serve]").text());
    wait_until(LIMIT, "the reload on change", || s.log().contains("reloaded (the file changed)"));
    assert_eq!(s.post("/ftpscanner/", &beta).status, 400, "beta is gone again");
}

/// SIGTERM: new requests get 503, the running job has `shutdown_grace`, then gets TERM and is
/// recorded `interrupted` (its caller gets 503); the service exits 0.
#[test]
fn sigterm_lets_running_jobs_end_then_interrupts_them() {
    let w = world("", "shutdown_grace = \"1s\"\nworkers = 1");
    let mut s = Service::start(&w);
    w.upload("slow.zip", b"sleep 30");
    let url = s.url("/ftpscanner/");
    let waiting = std::thread::spawn(move || {
        send(
            agent()
                .post(&url)
                .header("Content-Type", "application/json")
                .send(request("slow.zip", b"sleep 30").to_string()),
        )
    });
    wait_until(LIMIT, "the job started", || jobs_run(&w).contains(&"slow.zip".to_owned()));
    s.signal(Signal::TERM);
    wait_until(LIMIT, "the stop began", || s.log().contains("got SIGTERM: stopping"));
    let refused = s.get("/healthz");
    assert_eq!(refused.status, 503);
    let status = s.wait();
    assert_eq!(status.code(), Some(0), "{}", s.log());
    let reply = waiting.join().expect("the caller");
    assert_eq!(
        (reply.status, reply.json()["outcome"].as_str()),
        (503, Some("interrupted")),
        "{}",
        reply.body
    );
    assert!(s.log().contains("passing SIGTERM to their process groups"), "{}", s.log());
    let history = w.cmd().args(["history", "--json"]).run().code(0).stdout();
    assert!(history.contains("\"outcome\":\"interrupted\""), "{history}");
}

/// The README's `curl` lines, run as written against a service set up as the README's
/// `[serve]` example: each works, and answers what the README says it does.
#[test]
fn the_readmes_curl_commands_work() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped the_readmes_curl_commands_work: curl is not installed");
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme.split("## Running as a service").nth(1).expect("the section");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("its sh block");
    let commands: Vec<String> = block.replace("\\\n", " ").lines().map(str::to_owned).collect();
    assert_eq!(commands.len(), 7, "{commands:#?}");

    let w = world("", "base_path = \"/infosync/v1\"\ntoken_env = \"FTPTRIGGER_API_TOKEN\"");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ftp/acme/ACME_20261122_stmt.csv");
    w.upload("ACME_20261122_stmt.zip", &std::fs::read(example).expect("the example upload"));
    let token = "readme-token";
    let s = Service::start_with(&w, &[("FTPTRIGGER_API_TOKEN", token)]);
    let expected = [
        "\"outcome\":\"success\"",
        "already succeeded in run 1",
        "\"status\":\"queued\"",
        "{\"runs\":[",
        "\"run_id\":1,",
        "{\"status\":\"ok\"}",
        "ftptrigger_runs_total{outcome=\"success\"} 1",
    ];
    for (command, answer) in commands.iter().zip(expected) {
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .env("BASE", s.url("/infosync/v1"))
            .env("TOKEN", token)
            .output()
            .expect("run curl");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(answer), "{command}\nanswered: {stdout}\nexpected: {answer}");
    }
}

/// `scan_every` scans inside the service (a file with its sidecar gets processed with no one
/// asking), and `flush_every` retries the outbox (a notification refused once is delivered).
#[test]
fn the_service_scans_and_flushes_on_its_own() {
    use crate::servers::{HttpReceiver, Reply};
    let hook = HttpReceiver::scripted(vec![Reply::status(503), Reply::ok()]);
    let w = World::new();
    w.script("job.sh", JOB);
    let channel = format!("[channel.ops]\ntype = \"webhook\"\nurl = \"{}\"\nretries = 0\n", hook.url());
    let serve = "[serve]\nscan_every = \"1s\"\nflush_every = \"1s\"";
    w.config(&Cfg::stmt("settle = \"0s\"\nnotify = [\"ops\"]").tail(&channel).tail(serve).text());
    let s = Service::start(&w);

    w.upload("bad.zip", b"exit");
    std::fs::write(w.root().join("bad.zip.md5"), format!("{}  bad.zip\n", md5_hex(b"exit")))
        .expect("sidecar");
    wait_until(LIMIT, "a scan ran the file", || {
        s.get("/runs").json()["runs"][0]["outcome"] == "process_failed"
    });
    // The first delivery was refused (503); a flush in the service delivers it.
    let got = hook.wait_for(2, LIMIT);
    assert_eq!(got[1].json()["outcome"], "process_failed");
    wait_until(LIMIT, "the outbox is empty", || {
        s.get("/metrics").body.contains("ftptrigger_outbox_pending 0")
    });
    assert_eq!(jobs_run(&w), ["bad.zip"], "a later scan ran the failed file again");
}
