//! Notifications: which runs are told to which channels, the webhook's payload, headers and
//! signature, retries, the outbox and `outbox flush`, email, `notify-test`, and secrets. Every
//! test talks to real servers on 127.0.0.1 started by the test (see `servers.rs`).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rustix::process::{Pid, Signal};
use serde_json::Value;
use sha2::Sha256;

use crate::servers::{
    HttpReceiver, HttpsReceiver, Received, Reply, SmtpOptions, SmtpServer, Tarpit, TestCa, closed_port,
};
use crate::support::{Cfg, Run, Trigger, World, md5_hex, wait_until};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const WRONG_MD5: &str = "0123456789abcdef0123456789abcdef";

/// `fail*` prints to both streams and exits 3, `slow*` records its pid and sleeps, anything
/// else succeeds.
const JOB: &str = r#"#!/bin/sh
name="$(basename "$1")"
echo "processing $name"
case "$name" in
  fail*) echo "cannot parse $name: bad record 7" >&2; exit 3 ;;
  slow*) echo $$ > "$(dirname "$0")/job.pid"; exec sleep 60 ;;
esac
echo "done with $name"
"#;

/// One rule (`stmt`: acme, `*.zip`, [`JOB`], a tag), with `defaults` and `rule` added to their
/// sections and `channels` at the end.
pub(crate) fn config(defaults: &str, rule: &str, channels: &str) -> String {
    Cfg::stmt(&format!("tags = {{ product = \"statements\" }}\n{rule}"))
        .defaults(defaults)
        .tail(channels)
        .text()
}

pub(crate) fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!("[channel.{name}]\ntype = \"webhook\"\nurl = \"{url}\"\n{extra}\n")
}

fn email(name: &str, smtp: &str, to: &[&str], extra: &str) -> String {
    let to: Vec<String> = to.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[channel.{name}]\ntype = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"ftptrigger <ftptrigger@example.com>\"\nto = [{}]\n{extra}\n",
        to.join(", ")
    )
}

fn plain_smtp(server: &SmtpServer) -> String {
    format!("smtp+plain://127.0.0.1:{}", server.port())
}

pub(crate) fn world(config: &str) -> World {
    World::with(config, JOB)
}

/// `ftptrigger -c <config> acme ftp/acme/<name> --md5 <its MD5>`, the file written first with
/// `content` unless it exists.
pub(crate) fn trigger(w: &World, name: &str) -> Trigger {
    let path = w.root().join(name);
    if !path.exists() {
        w.upload(name, format!("content of {name}\n").as_bytes());
    }
    let md5 = md5_hex(&fs::read(&path).unwrap());
    w.cmd().arg("acme").arg(path).args(["--md5", &md5]).timeout(Duration::from_secs(30))
}

/// Runs `fail_<n>.zip`, which exits 3: outcome 14.
pub(crate) fn failed_run(w: &World, n: u32) -> Run {
    trigger(w, &format!("fail_{n}.zip")).run().code(14)
}

/// A world whose failures go to the one channel `name` (`channel` is its config text), and one
/// failed run in it, timed.
fn timed_failure(name: &str, channel: &str) -> (World, Run, Duration) {
    let w = world(&config(&format!("notify = [\"{name}\"]"), "", channel));
    let (run, took) = timed(|| failed_run(&w, 1));
    (w, run, took)
}

/// A world with one email channel `mail` to ops@example.com through `smtp`, told about what
/// the `[defaults]` key `notify` (failures) or `notify_success` says.
fn mail_world(smtp: &SmtpServer, notify: &str) -> World {
    world(&config(
        &format!("{notify} = [\"mail\"]"),
        "",
        &email("mail", &plain_smtp(smtp), &["ops@example.com"], ""),
    ))
}

/// The SMTP URL is read by a URI parser, so an IPv6 address in brackets is a host, not a
/// host and a port split at its last colon.
#[test]
fn email_reaches_an_smtp_server_on_an_ipv6_address() {
    let smtp = SmtpServer::with(SmtpOptions { ipv6: true, ..SmtpOptions::default() });
    let url = format!("smtp+plain://[::1]:{}", smtp.port());
    let w = world(&config("notify = [\"mail\"]", "", &email("mail", &url, &["ops@example.com"], "")));
    failed_run(&w, 1);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{:?}", smtp.commands());
    assert!(mails[0].text().contains("process_failed"));
}

/// `check` finds what sending would refuse: a URL lettre could not use, an address it could
/// not parse.
#[test]
fn check_refuses_smtp_urls_and_addresses_that_sending_would_refuse() {
    for (smtp, to, problem) in [
        (
            "smtp://mail.example.com:99999",
            "ops@example.com",
            "channel.mail.smtp: the port must be 1 to 65535",
        ),
        (
            "smtp://user:secret@mail.example.com",
            "ops@example.com",
            "channel.mail.smtp: no user name or password in the URL",
        ),
        ("smtp://mail.example.com/x", "ops@example.com", "nothing may follow HOST[:PORT]"),
        (
            "smtps://bad_name!.example",
            "ops@example.com",
            "channel.mail.smtp: bad_name!.example cannot be checked by TLS",
        ),
        ("smtp+plain://[::1]:25", "ops@", "channel.mail.to[0]: \"ops@\" is not an email address"),
        (
            "smtp+plain://[::1]:25",
            "ops example.com",
            "channel.mail.to[0]: \"ops example.com\" is not an email address",
        ),
    ] {
        let w = world(&config("notify = [\"mail\"]", "", &email("mail", smtp, &[to], "")));
        let run = w.cmd().arg("check").run().code(10).stdout_has(problem);
        assert!(!run.stdout().contains("secret"), "{}", run.stdout());
    }
    let w = world(&config("", "", &webhook("hook", "https:///nohost", "")));
    w.cmd().arg("check").run().code(10).stdout_has("channel.hook.url: expected an http:// or https:// URL");
}

/// `outbox list --json`, one value per line.
pub(crate) fn outbox_json(w: &World) -> Vec<Value> {
    let run = w.cmd().args(["outbox", "list", "--json"]).run().code(0);
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// How long `f` took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let begun = Instant::now();
    let value = f();
    (value, begun.elapsed())
}

/// Short: the run has exited, so whatever it sent has arrived.
pub(crate) const ARRIVED: Duration = Duration::from_secs(5);

// --- the webhook: payload and headers --------------------------------------------------------

#[test]
fn a_failure_is_posted_with_every_payload_field_and_the_headers() {
    let hook = HttpReceiver::ok();
    let w = world(&config(
        "notify = [\"hook\"]",
        "",
        &webhook("hook", &hook.url(), "headers = { X-Team = \"ops\" }"),
    ));
    let content = b"statement data\n";
    let file = w.upload("fail_1.zip", content);
    let md5 = md5_hex(content);
    let run = w.cmd().arg("--json").arg("acme").arg(&file).args(["--md5", &md5]).run().code(14);
    let result = run.json();

    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("User-Agent"), Some(format!("ftptrigger/{VERSION}").as_str()));
    assert_eq!(r.header("X-Ftptrigger-Event"), Some("run.failed"));
    assert_eq!(r.header("X-Team"), Some("ops"));
    assert_eq!(r.header("X-Ftptrigger-Signature"), None, "no secret_env, no signature");
    assert_eq!(r.header("Authorization"), None, "no bearer_token_env, no Authorization");

    let body = r.json();
    assert_eq!(body, result, "the body is the --json result of the same run");
    assert_eq!(r.header("X-Ftptrigger-Delivery"), body["event_id"].as_str());

    let canonical = file.canonicalize().unwrap();
    assert_eq!(body["version"], 1);
    assert!(uuid_like(body["event_id"].as_str().unwrap()), "{body}");
    assert_eq!(body["event"], "run.failed");
    assert_eq!(body["host"], rustix::system::uname().nodename().to_string_lossy().as_ref());
    assert_eq!(body["run_id"], 1);
    assert_eq!(body["cid"], "acme");
    assert_eq!(body["file"], canonical.to_str().unwrap());
    assert_eq!(body["filename"], "fail_1.zip");
    assert_eq!(body["size"], content.len());
    assert_eq!(body["md5"], serde_json::json!({ "expected": md5, "actual": md5 }));
    assert_eq!(body["rule"], "stmt");
    assert_eq!(body["tags"], serde_json::json!({ "product": "statements" }));
    assert_eq!(body["outcome"], "process_failed");
    assert_eq!(body["exit_code"], 14);
    assert!(body["message"].as_str().unwrap().starts_with("ERROR[14]"), "{body}");
    let process = &body["process"];
    assert_eq!(
        process["argv"],
        serde_json::json!([w.path("job.sh").to_str().unwrap(), canonical.to_str().unwrap()])
    );
    assert_eq!(process["status"], 3);
    assert_eq!(process["signal"], Value::Null);
    assert!(process["duration_ms"].is_u64(), "{body}");
    let tail = process["output_tail"].as_str().unwrap();
    assert!(tail.contains("processing fail_1.zip") && tail.contains("bad record 7"), "{tail:?}");
    for key in ["started_at", "finished_at"] {
        let at = body[key].as_str().unwrap();
        assert!(humantime::parse_rfc3339(at).is_ok() && at.ends_with('Z'), "{key}: {at}");
    }
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "version",
        "event_id",
        "event",
        "host",
        "run_id",
        "cid",
        "file",
        "filename",
        "size",
        "md5",
        "rule",
        "tags",
        "outcome",
        "exit_code",
        "message",
        "process",
        "started_at",
        "finished_at",
    ]
    .into();
    assert_eq!(keys, expected);
}

fn uuid_like(s: &str) -> bool {
    let groups: Vec<usize> = s.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[test]
fn the_signature_is_an_hmac_of_the_exact_body_and_the_bearer_token_is_sent() {
    let hook = HttpReceiver::ok();
    let extra = "secret_env = \"HOOK_SECRET\"\nbearer_token_env = \"HOOK_TOKEN\"";
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), extra)));
    trigger(&w, "fail_1.zip")
        .env("HOOK_SECRET", "sign-with-this")
        .env("HOOK_TOKEN", "tok-123")
        .run()
        .code(14);

    let r = &hook.wait_for(1, ARRIVED)[0];
    let signature = r.header("X-Ftptrigger-Signature").expect("a signature");
    assert_eq!(signature, format!("sha256={}", hmac_hex(b"sign-with-this", &r.body)));
    assert_ne!(signature, format!("sha256={}", hmac_hex(b"another key", &r.body)));
    assert_eq!(r.header("Authorization"), Some("Bearer tok-123"));
}

#[test]
fn secrets_come_from_the_defaults_env_file_too() {
    let hook = HttpReceiver::ok();
    let extra = "secret_env = \"HOOK_SECRET\"\nbearer_token_env = \"HOOK_TOKEN\"";
    let w = world(&config(
        "notify = [\"hook\"]\nenv_file = \"secrets.env\"",
        "",
        &webhook("hook", &hook.url(), extra),
    ));
    crate::support::write_mode(
        &w.path("secrets.env"),
        b"HOOK_SECRET='from the file'\nHOOK_TOKEN=filetok\n",
        0o600,
    );
    w.cmd().arg("check").run().code(0).stdout_has("0 warnings");
    failed_run(&w, 1);

    let r = &hook.wait_for(1, ARRIVED)[0];
    assert_eq!(
        r.header("X-Ftptrigger-Signature"),
        Some(format!("sha256={}", hmac_hex(b"from the file", &r.body)).as_str())
    );
    assert_eq!(r.header("Authorization"), Some("Bearer filetok"));
}

// --- who is told -----------------------------------------------------------------------------

#[test]
fn a_success_is_notified_only_to_notify_success_channels() {
    let hook = HttpReceiver::ok();
    let channels = webhook("hook", &hook.url(), "");
    let w = world(&config("notify = [\"hook\"]", "", &channels));
    trigger(&w, "ok_1.zip").run().code(0);
    assert_eq!(hook.count(), 0, "a success with no notify_success is not notified");

    w.config(&config("notify = [\"hook\"]\nnotify_success = [\"hook\"]", "", &channels));
    trigger(&w, "ok_2.zip").run().code(0);
    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("X-Ftptrigger-Event"), Some("run.succeeded"));
    let body = requests[0].json();
    assert_eq!((body["event"].as_str(), body["outcome"].as_str()), (Some("run.succeeded"), Some("success")));
    assert_eq!(body["filename"], "ok_2.zip");
}

#[test]
fn a_skipped_duplicate_is_never_notified() {
    let hook = HttpReceiver::ok();
    let w = world(&config(
        "notify = [\"hook\"]\nnotify_success = [\"hook\"]",
        "",
        &webhook("hook", &hook.url(), ""),
    ));
    trigger(&w, "ok_1.zip").run().code(0);
    hook.wait_for(1, ARRIVED);
    trigger(&w, "ok_1.zip").run().code(0).stderr_has("already succeeded");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hook.count(), 1, "only the first run was notified");
}

/// `[defaults] notify` goes to `default-hook`, the rule's `notify` to `rule-hook`.
fn two_hooks() -> (World, HttpReceiver, HttpReceiver) {
    let (defaults, rule) = (HttpReceiver::ok(), HttpReceiver::ok());
    let channels = webhook("default-hook", &defaults.url(), "") + &webhook("rule-hook", &rule.url(), "");
    let w = world(&config("notify = [\"default-hook\"]", "notify = [\"rule-hook\"]", &channels));
    (w, defaults, rule)
}

#[test]
fn a_file_no_rule_matches_is_notified_to_the_defaults_channels() {
    let (w, defaults, rule) = two_hooks();
    trigger(&w, "notes.txt").run().code(11);
    let requests = defaults.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!((body["outcome"].as_str(), body["exit_code"].as_i64()), (Some("not_configured"), Some(11)));
    assert_eq!(body["rule"], Value::Null);
    assert_eq!(body["filename"], "notes.txt");
    assert_eq!(rule.count(), 0);
}

#[test]
fn mismatch_bad_file_and_process_failure_are_notified_to_the_rules_channels() {
    let (w, defaults, rule) = two_hooks();
    let file = w.upload("ACME_1.zip", b"data");
    w.cmd().arg("acme").arg(&file).args(["--md5", WRONG_MD5]).run().code(12);
    w.cmd().arg("acme").arg(w.root().join("missing.zip")).args(["--md5", WRONG_MD5]).run().code(13);
    failed_run(&w, 1);
    let outcomes: Vec<Value> =
        rule.wait_for(3, ARRIVED).iter().map(|r| r.json()["outcome"].clone()).collect();
    assert_eq!(outcomes, ["md5_mismatch", "bad_file", "process_failed"]);
    let md5 = &rule.requests()[0].json()["md5"];
    assert_eq!(md5["expected"], WRONG_MD5);
    assert_eq!(md5["actual"], md5_hex(b"data"));
    assert_eq!(defaults.count(), 0, "the rule's notify replaces the defaults'");
}

// --- retries ---------------------------------------------------------------------------------

#[test]
fn a_5xx_is_retried_and_every_attempt_carries_the_same_event_id() {
    let hook = HttpReceiver::scripted(vec![Reply::status(503), Reply::status(503), Reply::ok()]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    failed_run(&w, 1).stderr_lacks("outbox");
    let requests = hook.wait_for(3, ARRIVED);
    assert_eq!(requests.len(), 3);
    let event_id = requests[0].json()["event_id"].as_str().unwrap().to_owned();
    for r in &requests {
        assert_eq!(r.header("X-Ftptrigger-Delivery"), Some(event_id.as_str()));
        assert_eq!(r.body, requests[0].body, "every attempt sends the same bytes");
    }
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_is("outbox is empty\n");
}

#[test]
fn a_429_retry_after_is_honoured() {
    let hook = HttpReceiver::scripted(vec![Reply::status(429).header("Retry-After", "1"), Reply::ok()]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    failed_run(&w, 1);
    let requests = hook.wait_for(2, ARRIVED);
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}, not after Retry-After: 1");
    assert!(outbox_json(&w).is_empty());
}

#[test]
fn a_408_is_retried() {
    let hook = HttpReceiver::scripted(vec![Reply::status(408), Reply::ok()]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    failed_run(&w, 1).stderr_lacks("outbox");
    assert_eq!(hook.wait_for(2, ARRIVED).len(), 2);
}

#[test]
fn a_retry_after_beyond_the_cap_is_left_to_the_outbox() {
    let hook = HttpReceiver::scripted(vec![Reply::status(429).header("Retry-After", "3600"), Reply::ok()]);
    let w = world(&config(
        "notify = [\"hook\"]",
        "",
        &webhook("hook", &hook.url(), "timeout = \"1s\"\nretries = 1"),
    ));
    let (run, took) = timed(|| trigger(&w, "fail_1.zip").timeout(Duration::from_secs(90)).run().code(14));
    assert!(took < Duration::from_secs(5), "a receiver asking for an hour held the run {took:?}");
    run.stderr_has("outbox");
    assert_eq!(hook.count(), 1);
}

#[test]
fn a_400_is_final_and_the_delivery_waits_in_the_outbox() {
    let hook = HttpReceiver::scripted(vec![Reply::status(400)]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    failed_run(&w, 1).stderr_has("notification to hook failed").stderr_has("outbox");
    assert_eq!(hook.count(), 1, "a 400 is not retried");
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_has("HTTP 400");
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["state"], "pending");
    assert_eq!(pending[0]["attempts"], 1);
}

/// A secret that is not set is the operator's to fix: the delivery waits for it, however many
/// flushes come first, and goes once it is set.
#[test]
fn a_delivery_waiting_for_an_unset_secret_is_kept_until_it_is_set() {
    let hook = HttpReceiver::ok();
    let w = world(&config(
        "notify = [\"hook\"]",
        "",
        &webhook("hook", &hook.url(), "bearer_token_env = \"HOOK_TOKEN\""),
    ));
    failed_run(&w, 1).stderr_has("HOOK_TOKEN is not set");
    for _ in 0..2 {
        w.cmd().args(["outbox", "flush"]).run().code(4).stderr_has("HOOK_TOKEN is not set");
        let pending = outbox_json(&w);
        assert_eq!(pending[0]["state"], "pending", "{pending:?}");
        assert_eq!(pending[0]["attempts"], 0, "no request was made: {pending:?}");
    }
    assert_eq!(hook.count(), 0);
    w.cmd().args(["outbox", "flush"]).env("HOOK_TOKEN", "t0ken").run().code(0);
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].header("authorization"), Some("Bearer t0ken"));
}

#[test]
fn a_redirect_is_not_followed_and_counts_as_a_failure() {
    let elsewhere = HttpReceiver::ok();
    let hook = HttpReceiver::scripted(vec![Reply::status(302).header("Location", &elsewhere.url())]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    failed_run(&w, 1).stderr_has("outbox");
    assert_eq!(hook.count(), 1, "a redirect is final");
    assert_eq!(elsewhere.count(), 0, "the redirect was not followed");
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0]["last_error"].as_str().unwrap().contains("302"), "{}", pending[0]);
}

// --- the outbox ------------------------------------------------------------------------------

/// Deliveries waiting are what `outbox list` lists, not a failure: it exits 0. A flush that
/// leaves one pending, or gives one up, exits 4 (`delivery_failed`): exit 1 is for trouble of
/// ftptrigger's own.
#[test]
fn outbox_list_exits_0_with_deliveries_pending_and_a_flush_that_fails_exits_4() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 0")));
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_is("outbox is empty\n");
    failed_run(&w, 1).stderr_has("it waits in the outbox");
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_has(" pending ");
    w.cmd().args(["outbox", "list", "--json"]).run().code(0).stdout_has("\"state\":\"pending\"");
    w.cmd().args(["outbox"]).run().code(0).stdout_has(" pending ");
    w.cmd().args(["-q", "outbox", "list"]).run().code(0).stdout_is("");
    w.cmd().args(["outbox", "flush"]).run().code(4).stderr_has("delivered 0, still pending 1");
    // For cron: -q prints only what failed, on stderr.
    let quiet = w.cmd().args(["-q", "outbox", "flush"]).run().code(4).stdout_is("");
    assert!(
        quiet.stderr().contains("notification to hook failed") || quiet.stderr().contains("hook"),
        "{}",
        quiet.stderr()
    );
    let hook = HttpReceiver::ok();
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    w.cmd().args(["outbox", "flush"]).run().code(0).stderr_has("delivered 1, still pending 0");
}

/// `ATTEMPTS` (`attempts` in JSON) counts what the last error counts: the requests made to the
/// receiver, retries included, by the run's delivery and then by each flush's.
#[test]
fn outbox_attempts_count_every_request_as_the_last_error_does() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 1")));
    failed_run(&w, 1).stderr_has("(after 2 attempts); it waits in the outbox");
    let table = w.cmd().args(["outbox", "list"]).run().code(0).stdout();
    assert!(table.lines().next().unwrap().contains(" ATTEMPTS "), "{table}");
    let row: Vec<&str> = table.lines().nth(1).expect("one delivery").split_whitespace().collect();
    assert_eq!(row[6], "2", "ATTEMPTS in {table}");
    assert!(table.lines().nth(1).unwrap().ends_with("(after 2 attempts)"), "{table}");
    w.cmd().args(["outbox", "flush"]).run().code(4).stderr_has("(after 2 attempts)");
    let listed = outbox_json(&w);
    assert_eq!(listed[0]["attempts"], 4, "two requests by the run, two by the flush: {listed:?}");
    assert!(listed[0]["last_error"].as_str().unwrap().ends_with("(after 2 attempts)"), "{listed:?}");
}

#[test]
fn an_unreachable_webhook_leaves_the_delivery_in_the_outbox_and_flush_sends_it_once() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 0")));
    let run = failed_run(&w, 1);
    let run = run.stderr_has("ERROR[14]").stderr_has("notification to hook failed").stderr_has("outbox");

    let table = w.cmd().args(["outbox", "list"]).run().code(0);
    for column in ["CHANNEL", "EVENT", "CID", "FILE", "ATTEMPTS", "AGE", "LAST ERROR"] {
        assert!(table.stdout().lines().next().unwrap().contains(column), "{}", table.stdout());
    }
    let row = table.stdout().lines().nth(1).expect("one row").to_owned();
    for cell in ["pending", "hook", "run.failed", "acme", "fail_1.zip"] {
        assert!(row.contains(cell), "{cell} not in {row:?}");
    }
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let d = &pending[0];
    assert_eq!((d["channel"].as_str(), d["event"].as_str()), (Some("hook"), Some("run.failed")));
    assert_eq!((d["cid"].as_str(), d["filename"].as_str()), (Some("acme"), Some("fail_1.zip")));
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("pending"), Some(1)));
    assert!(!d["last_error"].as_str().unwrap_or_default().is_empty(), "{d}");
    assert!(d["age_s"].is_i64(), "{d}");
    drop(run);

    // The outbox keeps the channel's name; the current config says where it is now.
    let hook = HttpReceiver::ok();
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    w.cmd().args(["outbox", "flush"]).run().code(0);
    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("X-Ftptrigger-Delivery"), d["event_id"].as_str());
    let body = requests[0].json();
    assert_eq!((body["run_id"].as_i64(), body["filename"].as_str()), (Some(1), Some("fail_1.zip")));

    w.cmd().args(["outbox", "flush"]).run().code(0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hook.count(), 1, "a second flush sends nothing");
    w.cmd().args(["outbox", "list"]).run().code(0).stdout_is("outbox is empty\n");
}

#[test]
fn two_flushes_at_once_deliver_each_delivery_exactly_once() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 0")));
    for n in 1..=3 {
        failed_run(&w, n);
    }
    let queued: BTreeSet<String> =
        outbox_json(&w).iter().map(|d| d["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(queued.len(), 3);

    let hook = HttpReceiver::scripted(vec![Reply::ok().delay(Duration::from_secs(1))]);
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    let flushes: Vec<_> = (0..2).map(|_| w.cmd().args(["outbox", "flush"]).spawn()).collect();
    for flush in flushes {
        let run = flush.wait();
        assert_eq!(run.output.status.code(), Some(0), "each delivered what it claimed:\n{}", run.stderr());
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.header("X-Ftptrigger-Delivery").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent.len(), 3, "each delivery once: {sent:?}");
    assert_eq!(sent.iter().cloned().collect::<BTreeSet<_>>(), queued);
    w.cmd().args(["outbox", "list"]).run().code(0);
}

#[test]
fn flush_sends_the_oldest_first() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 0")));
    for n in 1..=3 {
        failed_run(&w, n);
    }
    let hook = HttpReceiver::ok();
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    w.cmd().args(["outbox", "flush"]).run().code(0);
    let runs: Vec<Value> = hook.wait_for(3, ARRIVED).iter().map(|r| r.json()["run_id"].clone()).collect();
    assert_eq!(runs, [1, 2, 3]);
}

#[test]
fn deliveries_pending_for_over_7_days_are_given_up_and_listed_dead() {
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &dead, "retries = 0")));
    failed_run(&w, 1);
    failed_run(&w, 2);
    let eight_days_ms = 8 * 86_400_000_i64;
    w.journal()
        .execute("UPDATE outbox SET created_ms = created_ms - ?1 WHERE run_id = 1", [eight_days_ms])
        .unwrap();

    let hook = HttpReceiver::ok();
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    w.cmd().args(["outbox", "flush"]).run().stderr_has("gave up on 1");
    let sent: Vec<Value> = hook.wait_for(1, ARRIVED).iter().map(|r| r.json()["run_id"].clone()).collect();
    assert_eq!(sent, [2], "the old one is not sent");
    let left = outbox_json(&w);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((left[0]["run_id"].as_i64(), left[0]["state"].as_str()), (Some(1), Some("dead")));
    w.cmd().args(["outbox", "list"]).run().stdout_has("dead");
    w.cmd().args(["outbox", "flush"]).run();
    assert_eq!(hook.count(), 1, "a dead delivery is never sent");
}

/// A run keeps every failed delivery (its operator was told it waits in the outbox); a flush
/// that is refused again gives up on it, and keeps retrying one whose receiver is only down.
#[test]
fn flush_gives_up_on_a_refused_delivery_and_keeps_retrying_a_failing_one() {
    let refusing = HttpReceiver::scripted(vec![Reply::status(400)]);
    let failing = HttpReceiver::scripted(vec![Reply::status(503)]);
    let channels = webhook("refusing", &refusing.url(), "retries = 0")
        + &webhook("failing", &failing.url(), "retries = 0");
    let w = world(&config("notify = [\"refusing\", \"failing\"]", "", &channels));
    failed_run(&w, 1);
    let states = |w: &World| -> Vec<(String, String, i64)> {
        let mut rows: Vec<_> = outbox_json(w)
            .iter()
            .map(|d| {
                (
                    d["channel"].as_str().unwrap().into(),
                    d["state"].as_str().unwrap().into(),
                    d["attempts"].as_i64().unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let row = |channel: &str, state: &str, attempts| (channel.to_owned(), state.to_owned(), attempts);
    assert_eq!(states(&w), [row("failing", "pending", 1), row("refusing", "pending", 1)]);

    w.cmd()
        .args(["outbox", "flush"])
        .run()
        .code(4)
        .stderr_has("refusing (delivery ")
        .stderr_has("HTTP 400 (not retried); retrying cannot help, so it is dead")
        .stderr_has("failing (delivery ")
        .stderr_has("HTTP 503 (after 1 attempt)");
    assert_eq!(states(&w), [row("failing", "pending", 2), row("refusing", "dead", 2)]);
    let listed = outbox_json(&w);
    let refused = listed.iter().find(|d| d["channel"] == "refusing").unwrap();
    assert_eq!(refused["last_error"], "HTTP 400 (not retried)");

    w.cmd().args(["outbox", "flush"]).run().code(4).stderr_lacks("refusing");
    assert_eq!((refusing.count(), failing.count()), (2, 3), "the refused one is not sent again");
    assert_eq!(states(&w), [row("failing", "pending", 3), row("refusing", "dead", 2)]);
}

/// The same for email: a mailbox over quota (452) is worth another try, one that does not
/// exist (550) is not; each recipient is a channel of its own here.
#[test]
fn flush_gives_up_on_a_permanent_smtp_reply_and_keeps_a_transient_one() {
    let smtp = SmtpServer::start();
    let channels = email("full", &plain_smtp(&smtp), &["full@example.com"], "")
        + &email("gone", &plain_smtp(&smtp), &["gone@example.com"], "");
    let w = world(&config("notify = [\"full\", \"gone\"]", "", &channels));
    failed_run(&w, 1).stderr_has("notification to full failed").stderr_has("notification to gone failed");
    assert!(outbox_json(&w).iter().all(|d| d["state"] == "pending"), "{:?}", outbox_json(&w));

    w.cmd().args(["outbox", "flush"]).run().code(4).stderr_has("so it is dead");
    let listed = outbox_json(&w);
    let field =
        |channel: &str, name: &str| listed.iter().find(|d| d["channel"] == channel).unwrap()[name].clone();
    assert_eq!(
        (field("full", "state"), field("gone", "state")),
        ("pending".into(), "dead".into()),
        "{listed:?}"
    );
    assert!(field("full", "last_error").as_str().unwrap().contains("452"), "{listed:?}");
    assert!(field("gone", "last_error").as_str().unwrap().contains("550"), "{listed:?}");
    assert!(smtp.mails().is_empty());
}

#[test]
fn a_crash_while_sending_loses_nothing() {
    let silent = Tarpit::silent();
    let w = world(&config(
        "notify = [\"hook\"]",
        "",
        &webhook("hook", &silent.url(), "timeout = \"30s\"\nretries = 0"),
    ));
    let run = trigger(&w, "fail_1.zip").spawn();
    wait_until(Duration::from_secs(10), "the notification is being sent", || silent.accepted() == 1);
    run.signal(Signal::KILL);
    run.wait();
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((pending[0]["state"].as_str(), pending[0]["attempts"].as_i64()), (Some("pending"), Some(0)));

    // The dead sender's claim keeps a flush off it until the claim runs out (not a failure of
    // that flush, which tried nothing)...
    let hook = HttpReceiver::ok();
    w.config(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "retries = 0")));
    w.cmd().args(["outbox", "flush"]).run().code(0).stderr_has("delivered 0, still pending 1");
    assert_eq!(hook.count(), 0);
    // ...then it goes, once.
    w.journal().execute("UPDATE outbox SET claimed_until_ms = 0", []).unwrap();
    w.cmd().args(["outbox", "flush"]).run().code(0);
    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("X-Ftptrigger-Delivery"), pending[0]["event_id"].as_str());
}

#[test]
fn a_flush_while_the_run_is_still_sending_does_not_send_again() {
    let hook = HttpReceiver::scripted(vec![Reply::ok().delay(Duration::from_secs(2))]);
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    let run = trigger(&w, "fail_1.zip").spawn();
    hook.wait_for(1, Duration::from_secs(10));
    w.cmd().args(["outbox", "flush"]).run();
    run.wait().code(14);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hook.count(), 1, "sent once, by the run");
    assert!(outbox_json(&w).is_empty());
}

// --- a slow or hanging receiver cannot hold the run -----------------------------------------

#[test]
fn a_webhook_that_never_answers_is_cut_off_by_its_timeout() {
    let silent = Tarpit::silent();
    let (w, run, took) =
        timed_failure("hook", &webhook("hook", &silent.url(), "timeout = \"1s\"\nretries = 0"));
    run.stderr_has("outbox");
    assert!(took < Duration::from_secs(3), "the run took {took:?} with a 1 s webhook timeout");
    assert_eq!(silent.accepted(), 1);
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1);
    assert!(pending[0]["last_error"].as_str().unwrap().contains("timed out"), "{}", pending[0]);
}

#[test]
fn a_response_body_that_never_ends_cannot_hold_the_run() {
    let hook = HttpReceiver::endless_body();
    let (w, run, took) =
        timed_failure("hook", &webhook("hook", &hook.url(), "timeout = \"10s\"\nretries = 0"));
    run.stderr_lacks("outbox");
    assert!(took < Duration::from_secs(3), "the run took {took:?}: the endless body held it");
    assert_eq!(hook.count(), 1);
    assert!(outbox_json(&w).is_empty(), "a 200 is a delivery, whatever the body");
}

/// A tarpit that answers a byte at a time, each byte well within any per-read timeout: only a
/// deadline on the whole exchange cuts it off.
#[test]
fn a_webhook_that_trickles_its_answer_is_cut_off_by_its_timeout() {
    let tarpit =
        Tarpit::trickling(b"HTTP/1.1 200 OK\r\n", b"X-Slow: aaaaaaaaaaaa\r\n", Duration::from_millis(200));
    let (w, run, took) =
        timed_failure("hook", &webhook("hook", &tarpit.url(), "timeout = \"2s\"\nretries = 0"));
    run.stderr_has("outbox");
    assert!(took < Duration::from_secs(5), "the run took {took:?} with a 2 s webhook timeout");
    assert_eq!(tarpit.accepted(), 1);
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
}

// --- email -----------------------------------------------------------------------------------

#[test]
fn a_failure_email_names_the_outcome_and_holds_the_facts_for_all_recipients_at_once() {
    let smtp = SmtpServer::start();
    let to = ["ops@example.com", "oncall@example.com", "acme-support@example.net"];
    let w = world(&config("notify = [\"mail\"]", "", &email("mail", &plain_smtp(&smtp), &to, "")));
    let content = b"statement data\n";
    let file = w.upload("fail_1.zip", content);
    let md5 = md5_hex(content);
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5]).run().code(14);

    let mails = smtp.wait_for(1, ARRIVED);
    assert_eq!(mails.len(), 1, "one message for every recipient");
    let data_commands = smtp.commands().iter().filter(|c| c.eq_ignore_ascii_case("DATA")).count();
    assert_eq!(data_commands, 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "ftptrigger@example.com");
    assert_eq!(mail.to, to);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[ftptrigger] FAILED acme/fail_1.zip: process_failed (exit 14)")
    );
    assert!(mail.header("From").unwrap().contains("ftptrigger@example.com"), "{}", mail.text());
    let to_header = mail.header("To").unwrap();
    assert!(to.iter().all(|a| to_header.contains(a)), "{to_header}");
    assert!(mail.header("Content-Type").unwrap().starts_with("text/plain"), "{}", mail.text());

    let body = mail.body();
    let canonical = file.canonicalize().unwrap();
    for needle in [
        "ERROR[14]",
        &format!("MD5 expected   {md5}"),
        &format!("MD5 actual     {md5}"),
        w.path("job.sh").to_str().unwrap(),
        canonical.to_str().unwrap(),
        "Duration (ms)",
        "processing fail_1.zip",
        "cannot parse fail_1.zip: bad record 7",
    ] {
        assert!(body.contains(needle), "the body lacks {needle:?}:\n{body}");
    }
}

/// A file name is the customer's (over SFTP it may hold CR and LF): in the subject it must not
/// start a header of its own, such as a Bcc that would mail the report to someone else.
#[test]
fn a_file_name_cannot_add_a_header_or_a_recipient_to_the_email() {
    let smtp = SmtpServer::start();
    let w = mail_world(&smtp, "notify");
    let file = w.upload("x\r\nBcc: evil@example.com\r\nX-Evil: 1\r\n.zip", b"statement data\n");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"other data\n")]).run().code(12);
    let mails = smtp.wait_for(1, ARRIVED);
    let mail = &mails[0];
    assert_eq!(mail.to, ["ops@example.com"]);
    assert_eq!(mail.header("Bcc"), None, "{}", mail.text());
    assert_eq!(mail.header("X-Evil"), None, "{}", mail.text());
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains("x??Bcc: evil@example.com??X-Evil: 1??.zip"), "{subject}");
}

#[test]
fn a_mismatch_email_shows_both_md5s() {
    let smtp = SmtpServer::start();
    let w = mail_world(&smtp, "notify");
    let file = w.upload("ACME_1.zip", b"data");
    w.cmd().arg("acme").arg(&file).args(["--md5", WRONG_MD5]).run().code(12);
    let mail = &smtp.wait_for(1, ARRIVED)[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[ftptrigger] FAILED acme/ACME_1.zip: md5_mismatch (exit 12)")
    );
    let body = mail.body();
    assert!(body.contains(WRONG_MD5) && body.contains(&md5_hex(b"data")), "{body}");
}

#[test]
fn a_success_email_says_ok() {
    let smtp = SmtpServer::start();
    let w = mail_world(&smtp, "notify_success");
    trigger(&w, "ok_1.zip").run().code(0);
    let mail = &smtp.wait_for(1, ARRIVED)[0];
    assert_eq!(mail.header("Subject").as_deref(), Some("[ftptrigger] OK acme/ok_1.zip: success (exit 0)"));
    assert!(mail.body().contains("done with ok_1.zip"), "{}", mail.body());
}

#[test]
fn smtp_auth_sends_the_username_and_the_password_from_its_variable() {
    let smtp = SmtpServer::with_auth("ftptrigger", "mail-pass-42");
    let extra = "username = \"ftptrigger\"\npassword_env = \"SMTP_PASSWORD\"";
    let w = world(&config(
        "notify = [\"mail\"]",
        "",
        &email("mail", &plain_smtp(&smtp), &["ops@example.com"], extra),
    ));
    trigger(&w, "fail_1.zip").env("SMTP_PASSWORD", "mail-pass-42").run().code(14).stderr_lacks("outbox");
    let mail = &smtp.wait_for(1, ARRIVED)[0];
    assert_eq!(mail.auth, Some(("ftptrigger".to_owned(), "mail-pass-42".to_owned())));
}

#[test]
fn smtp_with_starttls_required_fails_against_a_server_without_it_and_sends_nothing_in_clear() {
    let smtp = SmtpServer::start();
    let url = format!("smtp://127.0.0.1:{}", smtp.port());
    let w = world(&config(
        "notify = [\"mail\"]",
        "",
        &email("mail", &url, &["ops@example.com"], "timeout = \"5s\""),
    ));
    failed_run(&w, 1).stderr_has("notification to mail failed").stderr_has("outbox");
    // It said hello, saw no STARTTLS offered, and went no further.
    let commands = smtp.commands();
    assert!(commands.first().is_some_and(|c| c.starts_with("EHLO")), "{commands:?}");
    assert!(
        commands.iter().all(|c| c.starts_with("EHLO") || c.eq_ignore_ascii_case("QUIT")),
        "nothing may be sent without TLS: {commands:?}"
    );
    assert!(smtp.mails().is_empty());
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["channel"], "mail");
    assert!(pending[0]["last_error"].as_str().unwrap().contains("STARTTLS"), "{}", pending[0]);
}

#[test]
fn an_smtp_server_that_never_speaks_is_cut_off_by_the_timeout() {
    let silent = Tarpit::silent();
    let url = format!("smtp+plain://127.0.0.1:{}", silent.port());
    let (w, run, took) =
        timed_failure("mail", &email("mail", &url, &["ops@example.com"], "timeout = \"1s\""));
    run.stderr_has("outbox");
    assert!(took < Duration::from_secs(4), "the run took {took:?} with a 1 s SMTP timeout");
    assert_eq!(silent.accepted(), 1);
    assert_eq!(outbox_json(&w).len(), 1);
}

/// An SMTP tarpit greets a byte at a time, forever (`220-` continuation lines), each byte
/// within the per-operation timeout: the deadline on the whole delivery cuts it off, at
/// `timeout` for each step a conversation with one recipient has (11 here: 5.5 s).
#[test]
fn an_smtp_server_that_trickles_its_greeting_is_cut_off_by_the_deadline() {
    let tarpit = Tarpit::trickling(b"", b"220-slow\r\n", Duration::from_millis(100));
    let url = format!("smtp+plain://127.0.0.1:{}", tarpit.port());
    let (w, run, took) =
        timed_failure("mail", &email("mail", &url, &["ops@example.com"], "timeout = \"500ms\""));
    run.stderr_has("outbox");
    assert!(took < Duration::from_secs(9), "the run took {took:?}: the trickle held it");
    assert!(took > Duration::from_secs(5), "cut off after {took:?}, before the deadline of 5.5 s");
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0]["last_error"].as_str().unwrap().contains("5s 500ms"), "{}", pending[0]);
}

// --- TLS with the operator's own certificate authority ---------------------------------------

/// An internal SMTP relay with a certificate from the company's CA, over STARTTLS (`smtp://`)
/// and TLS from the first byte (`smtps://`): with `ca_file` naming that CA the message goes
/// through; without it, the public roots do not know the CA and nothing is sent.
#[test]
fn smtp_to_a_server_of_a_private_ca_delivers_with_its_ca_file_and_not_without() {
    let ca = TestCa::new();
    let ca_file = ca.write_pem();
    let trust = format!("ca_file = \"{}\"", ca_file.path().display());
    for (scheme, starttls) in [("smtp", true), ("smtps", false)] {
        let smtp = SmtpServer::with_tls(&ca, starttls);
        let url = format!("{scheme}://127.0.0.1:{}", smtp.port());
        let (_, run, _) = timed_failure("mail", &email("mail", &url, &["ops@example.com"], &trust));
        run.stderr_lacks("outbox");
        let mails = smtp.wait_for(1, ARRIVED);
        assert_eq!(mails[0].to, ["ops@example.com"], "{scheme}");
        assert!(
            mails[0].header("Subject").unwrap().contains("FAILED acme/fail_1.zip"),
            "{}",
            mails[0].text()
        );
        if starttls {
            assert!(
                smtp.commands().iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")),
                "{:?}",
                smtp.commands()
            );
        }

        let (_, run, _) = timed_failure("mail", &email("mail", &url, &["ops@example.com"], ""));
        run.stderr_has("outbox").stderr_has("certificate");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            smtp.mails().len(),
            1,
            "{scheme}: a message went to a server whose certificate was not checked"
        );
    }
}

/// The same for a webhook: with `ca_file`, a receiver whose certificate the private CA signed
/// gets the event; without it, the run refuses to talk to it.
#[test]
fn https_to_a_receiver_of_a_private_ca_delivers_with_its_ca_file_and_not_without() {
    let ca = TestCa::new();
    let hook = HttpsReceiver::start(&ca);
    let ca_file = ca.write_pem();
    let trust = format!("ca_file = \"{}\"\nretries = 0", ca_file.path().display());
    let (_, run, _) = timed_failure("hook", &webhook("hook", &hook.url(), &trust));
    run.stderr_lacks("outbox");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1);
    let event: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(event["outcome"], "process_failed");

    let (w, run, _) = timed_failure("hook", &webhook("hook", &hook.url(), "retries = 0"));
    run.stderr_has("outbox");
    assert!(
        outbox_json(&w)[0]["last_error"].as_str().unwrap().contains("certificate"),
        "{:?}",
        outbox_json(&w)
    );
    assert_eq!(hook.bodies().len(), 1, "an event went to a receiver whose certificate was not checked");
}

// --- notify-test -----------------------------------------------------------------------------

#[test]
fn notify_test_sends_a_test_event_through_every_channel() {
    let hook = HttpReceiver::ok();
    let smtp = SmtpServer::start();
    let channels =
        webhook("hook", &hook.url(), "") + &email("mail", &plain_smtp(&smtp), &["ops@example.com"], "");
    let w = world(&config("", "", &channels));
    let run = w.cmd().arg("notify-test").run().code(0);
    let mut lines: Vec<String> = run.stdout().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["hook: OK", "mail: OK"]);

    let r = &hook.wait_for(1, ARRIVED)[0];
    assert_eq!(r.header("X-Ftptrigger-Event"), Some("test"));
    let body = r.json();
    assert_eq!(body["event"], "test");
    assert_eq!(r.header("X-Ftptrigger-Delivery"), body["event_id"].as_str());
    let mail = &smtp.wait_for(1, ARRIVED)[0];
    assert!(mail.header("Subject").unwrap().starts_with("[ftptrigger] TEST"), "{}", mail.text());
    // A test is not a delivery: nothing is queued.
    assert!(outbox_json(&w).is_empty());
}

/// A test message that does not go through is `delivery_failed` (exit 4), not an internal
/// error: nothing in ftptrigger went wrong, a channel or its receiver did.
#[test]
fn notify_test_reports_each_failure_and_exits_4() {
    let hook = HttpReceiver::ok();
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let channels = webhook("hook", &hook.url(), "") + &webhook("dead", &dead, "retries = 0");
    let w = world(&config("", "", &channels));
    let run = w.cmd().arg("notify-test").run().code(4);
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().any(|l| l == "hook: OK"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("dead: ") && l.contains("FAILED")), "{stdout}");
    assert_eq!(hook.count(), 1);
    // --json: a line per channel.
    let run = w.cmd().args(["notify-test", "--json"]).run().code(4);
    let mut lines: Vec<Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines.sort_by_key(|l| l["channel"].as_str().unwrap_or_default().to_owned());
    assert_eq!((lines[0]["channel"].as_str(), lines[0]["ok"].as_bool()), (Some("dead"), Some(false)));
    assert!(lines[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        (lines[1]["channel"].as_str(), lines[1]["ok"].as_bool(), lines[1]["error"].is_null()),
        (Some("hook"), Some(true), true)
    );
}

#[test]
fn notify_test_with_a_name_sends_only_through_that_channel() {
    let (a, b) = (HttpReceiver::ok(), HttpReceiver::ok());
    let w = world(&config("", "", &(webhook("hook-a", &a.url(), "") + &webhook("hook-b", &b.url(), ""))));
    w.cmd().args(["notify-test", "hook-a"]).run().code(0).stdout_is("hook-a: OK\n");
    assert_eq!(a.wait_for(1, ARRIVED).len(), 1);
    assert_eq!(b.count(), 0);
    w.cmd().args(["notify-test", "nope"]).run().code(2).stderr_has("nope");
    assert_eq!((a.count(), b.count()), (1, 0));
}

// --- secrets ---------------------------------------------------------------------------------

#[test]
fn an_unset_secret_fails_its_delivery_naming_the_variable_and_check_warns() {
    let (signed, bearer) = (HttpReceiver::ok(), HttpReceiver::ok());
    let smtp = SmtpServer::with_auth("ftptrigger", "whatever");
    let channels = webhook("signed", &signed.url(), "secret_env = \"UNSET_HOOK_SECRET\"")
        + &webhook("bearer", &bearer.url(), "bearer_token_env = \"UNSET_HOOK_TOKEN\"")
        + &email(
            "mail",
            &plain_smtp(&smtp),
            &["ops@example.com"],
            "username = \"ftptrigger\"\npassword_env = \"UNSET_SMTP_PASSWORD\"",
        );
    let w = world(&config("notify = [\"signed\", \"bearer\", \"mail\"]", "", &channels));
    let check = w.cmd().arg("check").run().code(0);
    for var in ["UNSET_HOOK_SECRET", "UNSET_HOOK_TOKEN", "UNSET_SMTP_PASSWORD"] {
        assert!(check.stdout().contains(var), "check does not warn about {var}:\n{}", check.stdout());
    }

    let run = failed_run(&w, 1);
    assert_eq!(
        (signed.count(), bearer.count(), smtp.mails().len()),
        (0, 0, 0),
        "nothing sent without its secret"
    );
    let pending = outbox_json(&w);
    assert_eq!(pending.len(), 3, "{pending:?}");
    for (channel, var) in
        [("signed", "UNSET_HOOK_SECRET"), ("bearer", "UNSET_HOOK_TOKEN"), ("mail", "UNSET_SMTP_PASSWORD")]
    {
        let d =
            pending.iter().find(|d| d["channel"] == channel).unwrap_or_else(|| panic!("{channel} queued"));
        assert!(d["last_error"].as_str().unwrap_or_default().contains(var), "{d}");
        assert!(run.stderr().contains(var), "stderr does not name {var}:\n{}", run.stderr());
    }
}

#[test]
fn secret_values_appear_nowhere_but_where_they_are_sent() {
    const SIGNING: &str = "MARKER-signing-7f3a91";
    const TOKEN: &str = "MARKER-token-c4e2d8";
    const PASSWORD: &str = "MARKER-password-9b1f05";
    const CLIENT_SECRET: &str = "MARKER-client-secret-3b8e";
    const ISSUED: &str = "MARKER-issued-token-6f1a";
    let hook = HttpReceiver::ok();
    let smtp = SmtpServer::with_auth("ftptrigger", PASSWORD);
    let dead = format!("http://127.0.0.1:{}/hook", closed_port());
    let signed = "secret_env = \"HOOK_SECRET\"\nbearer_token_env = \"HOOK_TOKEN\"";
    // OAuth2: an endpoint that issues a token, and one that refuses the client with an answer
    // that echoes the secret and a token, which must go no further.
    let issued = format!(r#"{{"access_token":"{ISSUED}","token_type":"Bearer","expires_in":3600}}"#);
    let tokens = HttpReceiver::scripted(vec![Reply::ok().body(&issued)]);
    let echo = format!(
        r#"{{"error":"invalid_client","error_description":"{CLIENT_SECRET}","access_token":"{ISSUED}"}}"#
    );
    let refusing = HttpReceiver::scripted(vec![Reply::status(400).body(&echo)]);
    let oauth_hook = HttpReceiver::ok();
    let oauth = |endpoint: &HttpReceiver| {
        let url = endpoint.url().replace("/hook", "/token");
        format!(
            "oauth2 = {{ token_url = \"{url}\", client_id = \"ftptrigger\", client_secret_env = \"CLIENT_SECRET\" }}"
        )
    };
    let channels = webhook("hook", &hook.url(), signed)
        + &webhook("dead", &dead, &format!("{signed}\nretries = 0"))
        + &email(
            "mail",
            &plain_smtp(&smtp),
            &["ops@example.com"],
            "username = \"ftptrigger\"\npassword_env = \"SMTP_PASSWORD\"",
        )
        + &webhook("oauth", &oauth_hook.url(), &oauth(&tokens))
        + &webhook("refused", &oauth_hook.url(), &oauth(&refusing));
    let notify = "notify = [\"hook\", \"dead\", \"mail\", \"oauth\", \"refused\"]";
    let w = world(&config(notify, "", &channels));
    let with_secrets = |t: Trigger| {
        t.env("HOOK_SECRET", SIGNING)
            .env("HOOK_TOKEN", TOKEN)
            .env("SMTP_PASSWORD", PASSWORD)
            .env("CLIENT_SECRET", CLIENT_SECRET)
    };

    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, run: &Run| {
        outputs.push((format!("{what} stdout"), run.stdout()));
        outputs.push((format!("{what} stderr"), run.stderr()));
    };
    keep("--json run", &with_secrets(trigger(&w, "fail_1.zip").arg("--json")).run().code(14));
    keep("-v run", &with_secrets(trigger(&w, "fail_2.zip").arg("-v")).run().code(14));
    keep("history", &with_secrets(w.cmd().args(["history", "--json"])).run().code(0));
    keep("outbox list", &with_secrets(w.cmd().args(["outbox", "list", "--json"])).run().code(0));
    keep("outbox flush", &with_secrets(w.cmd().args(["outbox", "flush", "-v"])).run().code(4));
    keep("explain", &with_secrets(w.cmd().args(["explain", "acme"]).arg(w.root().join("fail_1.zip"))).run());
    keep("check", &with_secrets(w.cmd().arg("check")).run().code(0));
    keep("notify-test", &with_secrets(w.cmd().arg("notify-test")).run());

    let requests = hook.wait_for(3, ARRIVED);
    let mails = smtp.wait_for(3, ARRIVED);
    // The issued token reaches the receiver in Authorization and nothing else; the client
    // secret goes to the token endpoints in Basic auth only.
    let delivered = oauth_hook.wait_for(3, ARRIVED);
    assert!(delivered.iter().all(|r| r.header("Authorization") == Some(&format!("Bearer {ISSUED}"))));
    let asked: Vec<_> = tokens.requests().into_iter().chain(refusing.requests()).collect();
    assert!(
        asked.len() >= 3
            && asked.iter().all(|r| r.header("Authorization").is_some_and(|a| a.starts_with("Basic ")))
    );
    for r in delivered.iter().chain(&asked) {
        outputs.push(("OAuth2 request".into(), all_but_authorization(r)));
    }
    assert_secrets_only_where_sent(
        &w,
        outputs,
        &requests,
        &mails,
        TOKEN,
        PASSWORD,
        &[SIGNING, TOKEN, PASSWORD, CLIENT_SECRET, ISSUED],
    );
}

#[test]
fn channel_secrets_are_not_passed_to_the_job() {
    let hook = HttpReceiver::ok();
    let tokens = HttpReceiver::scripted(vec![Reply::ok().body(r#"{"access_token":"t","expires_in":60}"#)]);
    let keys = format!(
        "secret_env = \"HOOK_SECRET\"\noauth2 = {{ token_url = \"{}\", client_id = \"c\", client_secret_env = \"HOOK_CLIENT_SECRET\" }}",
        tokens.url()
    );
    let w = World::with(
        &config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), &keys)),
        "#!/bin/sh\nenv | grep HOOK_\nexit 3\n",
    );
    let run = trigger(&w, "fail_1.zip")
        .env("HOOK_SECRET", "MARKER-job-env-5e1d")
        .env("HOOK_CLIENT_SECRET", "MARKER-job-env-client-77a0")
        .arg("--json")
        .run()
        .code(14);
    for marker in ["MARKER-job-env-5e1d", "MARKER-job-env-client-77a0"] {
        assert!(!run.stdout().contains(marker), "{}", run.stdout());
        assert!(!hook.wait_for(1, ARRIVED)[0].body_text().contains(marker));
    }
    assert_eq!(
        hook.requests()[0].header("Authorization"),
        Some("Bearer t"),
        "the secret was set for ftptrigger"
    );
}

// --- runs that died --------------------------------------------------------------------------

/// Kills the process group of the job whose pid is in `job.pid` when dropped.
struct KillJob(PathBuf);

impl Drop for KillJob {
    fn drop(&mut self) {
        let pid = fs::read_to_string(&self.0).unwrap_or_default();
        if let Some(pid) = pid.trim().parse().ok().and_then(Pid::from_raw) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
    }
}

/// Starts `slow_1.zip` and SIGKILLs ftptrigger once the job runs; the job is killed too.
fn sigkill_a_run(w: &World) {
    let job = KillJob(w.path("job.pid"));
    let run = trigger(w, "slow_1.zip").spawn();
    wait_until(Duration::from_secs(10), "the job started", || {
        fs::read_to_string(w.path("job.pid")).is_ok_and(|s| s.ends_with('\n'))
    });
    run.signal(Signal::KILL);
    let killed = run.wait();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed.output.status), Some(9));
    drop(job);
}

#[test]
fn a_sigkilled_run_is_notified_as_interrupted_by_the_next_invocation() {
    let hook = HttpReceiver::ok();
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    sigkill_a_run(&w);
    assert_eq!(hook.count(), 0, "nobody could tell yet");

    trigger(&w, "ok_1.zip").run().code(0);
    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body = requests[0].json();
    assert_eq!(body["event"], "run.failed");
    assert_eq!(body["outcome"], "interrupted");
    assert_eq!((body["run_id"].as_i64(), body["filename"].as_str()), (Some(1), Some("slow_1.zip")));
    assert_eq!(requests[0].header("X-Ftptrigger-Delivery"), body["event_id"].as_str());

    trigger(&w, "ok_2.zip").run().code(0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hook.count(), 1, "it is told once");
}

#[test]
fn a_run_stopped_by_sigterm_is_notified_as_interrupted() {
    let hook = HttpReceiver::ok();
    let w = world(&config("notify = [\"hook\"]", "", &webhook("hook", &hook.url(), "")));
    let _job = KillJob(w.path("job.pid"));
    let run = trigger(&w, "slow_1.zip").spawn();
    wait_until(Duration::from_secs(10), "the job started", || {
        fs::read_to_string(w.path("job.pid")).is_ok_and(|s| s.ends_with('\n'))
    });
    run.signal(Signal::TERM);
    run.wait().code(143);
    let requests = hook.wait_for(1, ARRIVED);
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!((body["outcome"].as_str(), body["exit_code"].as_i64()), (Some("interrupted"), Some(143)));
    assert_eq!(body["rule"], "stmt");
}

#[test]
fn a_sigkilled_run_is_notified_to_its_rules_channels() {
    let (w, defaults, rule) = two_hooks();
    sigkill_a_run(&w);
    trigger(&w, "ok_1.zip").run().code(0);
    std::thread::sleep(Duration::from_millis(200));
    let (to_rule, to_defaults) = (rule.requests(), defaults.requests());
    assert_eq!(to_rule.len(), 1, "the rule's channel is told; defaults got {to_defaults:?}");
    assert_eq!(to_rule[0].json()["outcome"], "interrupted");
    assert_eq!(to_rule[0].json()["rule"], "stmt");
    assert_eq!(to_defaults.len(), 0);
}

/// Every outcome a run can have (0 and 10 to 16), with an email and a webhook channel that are
/// told about all of them: the secrets' values reach only the SMTP AUTH exchange, the
/// Authorization header and the HMAC, never an output, the journal or a message.
#[test]
fn secrets_stay_secret_for_every_outcome() {
    const SIGNING: &str = "MARKER-every-signing-41c0";
    const TOKEN: &str = "MARKER-every-token-a7d3";
    const PASSWORD: &str = "MARKER-every-password-2e98";
    let hook = HttpReceiver::ok();
    let smtp = SmtpServer::with_auth("ftptrigger", PASSWORD);
    let channels =
        webhook("hook", &hook.url(), "secret_env = \"HOOK_SECRET\"\nbearer_token_env = \"HOOK_TOKEN\"")
            + &email(
                "mail",
                &plain_smtp(&smtp),
                &["ops@example.com"],
                "username = \"ftptrigger\"\npassword_env = \"SMTP_PASSWORD\"",
            );
    let everyone = "notify = [\"hook\", \"mail\"]\nnotify_success = [\"hook\", \"mail\"]";
    let w = world(&config(everyone, "timeout = \"1s\"\nkill_grace = \"1s\"", &channels));
    let bad = w.path("bad.cfg");
    crate::support::write_mode(
        &bad,
        format!("{}\nnot_a_key = 1\n", config(everyone, "", &channels)).as_bytes(),
        0o600,
    );
    let secret =
        |t: Trigger| t.env("HOOK_SECRET", SIGNING).env("HOOK_TOKEN", TOKEN).env("SMTP_PASSWORD", PASSWORD);

    let mut runs: Vec<(String, Run)> = Vec::new();
    runs.push(("0".into(), secret(trigger(&w, "ok_1.zip")).arg("--json").run().code(0)));
    runs.push((
        "10".into(),
        secret(w.cmd_no_config().arg("-c").arg(&bad).args(["acme", "x.zip", "--md5", WRONG_MD5]))
            .run()
            .code(10),
    ));
    let nobody = w.upload("n.zip", b"n");
    runs.push((
        "11".into(),
        secret(w.cmd().arg("nobody").arg(&nobody).args(["--md5", &md5_hex(b"n")])).run().code(11),
    ));
    let mismatch = w.upload("m.zip", b"m");
    runs.push((
        "12".into(),
        secret(w.cmd().arg("acme").arg(&mismatch).args(["--md5", WRONG_MD5])).run().code(12),
    ));
    runs.push((
        "13".into(),
        secret(w.cmd().arg("acme").arg(w.root().join("gone.zip")).args(["--md5", WRONG_MD5])).run().code(13),
    ));
    runs.push(("14".into(), secret(trigger(&w, "fail_1.zip")).arg("-v").run().code(14)));
    let holder = secret(trigger(&w, "slow_1.zip")).spawn();
    wait_until(Duration::from_secs(10), "the slow job to start", || w.path("job.pid").exists());
    runs.push(("16".into(), secret(trigger(&w, "slow_1.zip")).arg("--no-wait").run().code(16)));
    runs.push(("15".into(), holder.wait().code(15)));
    runs.push(("history".into(), secret(w.cmd().args(["history", "--json"])).run().code(0)));
    runs.push(("outbox".into(), secret(w.cmd().args(["outbox", "list", "--json"])).run()));
    runs.push((
        "explain".into(),
        secret(w.cmd().args(["explain", "acme"]).arg(w.root().join("ok_1.zip"))).run().code(0),
    ));

    let mut seen: Vec<(String, String)> = Vec::new();
    for (what, run) in &runs {
        seen.push((format!("{what}: stdout"), run.stdout()));
        seen.push((format!("{what}: stderr"), run.stderr()));
    }
    // 0, 11, 12, 13, 14, 15 and 16 each reach both channels.
    let requests = hook.wait_for(7, ARRIVED);
    let mails = smtp.wait_for(7, ARRIVED);
    let outcomes: BTreeSet<String> =
        requests.iter().filter_map(|r| r.json()["outcome"].as_str().map(str::to_owned)).collect();
    let want =
        ["busy", "bad_file", "md5_mismatch", "not_configured", "process_failed", "success", "timed_out"];
    assert_eq!(outcomes, want.iter().map(|s| s.to_string()).collect(), "every outcome was notified");
    assert_secrets_only_where_sent(&w, seen, &requests, &mails, TOKEN, PASSWORD, &[SIGNING, TOKEN, PASSWORD]);
}

/// A request as a secret could show in it, bar the header it is meant for: every other header
/// and the body.
fn all_but_authorization(r: &Received) -> String {
    let others: Vec<String> = r
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("Authorization"))
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    format!("{}\n{}", others.join("\n"), r.body_text())
}

/// The secrets reached the servers where they belong (the bearer token in `Authorization`,
/// the password in SMTP AUTH) and are in nothing else: not in `seen` (what the commands
/// printed), a webhook body or another header, an email, the journal or its WAL.
fn assert_secrets_only_where_sent(
    w: &World,
    mut seen: Vec<(String, String)>,
    requests: &[crate::servers::Received],
    mails: &[crate::servers::Mail],
    token: &str,
    password: &str,
    markers: &[&str],
) {
    assert!(requests.iter().all(|r| r.header("Authorization") == Some(&format!("Bearer {token}"))));
    assert!(mails.iter().all(|m| m.auth == Some(("ftptrigger".to_owned(), password.to_owned()))));
    for r in requests {
        seen.push(("webhook".into(), all_but_authorization(r)));
    }
    for m in mails {
        seen.push(("email".into(), m.text()));
    }
    let stored = w.journal_contents();
    assert!(!stored.is_empty(), "the journal was read");
    seen.extend(stored);
    for (what, text) in &seen {
        for marker in markers {
            assert!(!text.contains(marker), "{marker} leaked into {what}:\n{text}");
        }
    }
}

/// The outbox and secret tests above, run again as they are against a PostgreSQL journal, each
/// in a fresh database: deliveries kept, flushed exactly once, claimed by one flush of two, and
/// secrets nowhere but where they are sent.
#[test]
fn the_outbox_and_secret_tests_pass_on_postgresql_too() {
    let tests: &[(&str, fn())] = &[
        ("failure_posted", a_failure_is_posted_with_every_payload_field_and_the_headers),
        ("skipped_dup", a_skipped_duplicate_is_never_notified),
        ("unset_secret", a_delivery_waiting_for_an_unset_secret_is_kept_until_it_is_set),
        ("attempts", outbox_attempts_count_every_request_as_the_last_error_does),
        ("unreachable", an_unreachable_webhook_leaves_the_delivery_in_the_outbox_and_flush_sends_it_once),
        ("two_flushes", two_flushes_at_once_deliver_each_delivery_exactly_once),
        ("oldest_first", flush_sends_the_oldest_first),
        ("gives_up", flush_gives_up_on_a_refused_delivery_and_keeps_retrying_a_failing_one),
        ("still_sending", a_flush_while_the_run_is_still_sending_does_not_send_again),
        ("secrets", secret_values_appear_nowhere_but_where_they_are_sent),
        ("job_env", channel_secrets_are_not_passed_to_the_job),
        ("every_outcome", secrets_stay_secret_for_every_outcome),
    ];
    crate::support::run_on_postgresql(tests);
}
