//! OAuth2 for webhook channels: the client-credentials grant against a real token endpoint
//! (tiny_http on 127.0.0.1), the token sent as the bearer, kept and renewed within one
//! process, fetched anew on a 401, and a token endpoint that is down or refuses the client.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::notify::{ARRIVED, config, outbox_json, trigger, webhook, world};
use crate::servers::{HttpReceiver, Received, Reply, closed_port};
use crate::support::{Trigger, World};

const SECRET: &str = "MARKER-client-secret-8d2e";

/// A token endpoint's answer: `tok-<n>`, valid `expires_in` seconds.
fn token(n: u32, expires_in: u64) -> Reply {
    Reply::ok()
        .header("Content-Type", "application/json")
        .body(&format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":{expires_in}}}"#))
}

/// A token endpoint answering `tok-1`, `tok-2`... each valid `expires_in` seconds.
fn token_endpoint(expires_in: u64) -> HttpReceiver {
    HttpReceiver::scripted((1..=20).map(|n| token(n, expires_in)).collect())
}

/// `http://127.0.0.1:PORT/token`.
fn token_url(endpoint: &HttpReceiver) -> String {
    endpoint.url().replace("/hook", "/token")
}

/// The `oauth2` line of a channel (client `ftptrigger`, secret in `CLIENT_SECRET`), and more.
fn oauth(token_url: &str, extra: &str) -> String {
    format!(
        "oauth2 = {{ token_url = \"{token_url}\", client_id = \"ftptrigger\", client_secret_env = \"CLIENT_SECRET\" }}\n{extra}"
    )
}

/// A world whose failures go to the webhook `hook` at `receiver`, with `channel` its keys.
fn hook_world(receiver: &HttpReceiver, channel: &str) -> World {
    world(&config("notify = [\"hook\"]", "", &webhook("hook", &receiver.url(), channel)))
}

fn with_secret(t: Trigger) -> Trigger {
    t.env("CLIENT_SECRET", SECRET)
}

fn bearers(requests: &[Received]) -> Vec<String> {
    requests.iter().map(|r| r.header("Authorization").unwrap_or("-").to_owned()).collect()
}

/// `Basic base64(id:secret)`, each form-encoded first (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

#[test]
fn a_token_is_fetched_by_client_credentials_and_sent_as_the_bearer() {
    let endpoint = token_endpoint(3600);
    let receiver = HttpReceiver::ok();
    // An id and a secret with characters the form encoding changes.
    let channel = format!(
        "oauth2 = {{ token_url = \"{}\", client_id = \"ftp trigger\", client_secret_env = \"CLIENT_SECRET\", scope = \"hooks write\" }}",
        token_url(&endpoint)
    );
    let w = hook_world(&receiver, &channel);
    trigger(&w, "fail_1.zip").env("CLIENT_SECRET", "s3:c&r+t").run().code(14);

    let asked = endpoint.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let t = &asked[0];
    assert_eq!((t.method.as_str(), t.path.as_str()), ("POST", "/token"));
    assert_eq!(t.header("Content-Type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(t.header("Authorization"), Some(basic("ftp+trigger", "s3%3Ac%26r%2Bt").as_str()));
    let form: Vec<(String, String)> = form_urlencoded::parse(&t.body).into_owned().collect();
    assert_eq!(
        form,
        [("grant_type".into(), "client_credentials".into()), ("scope".into(), "hooks write".into())]
    );
    let delivered = receiver.wait_for(1, ARRIVED);
    assert_eq!(bearers(&delivered), ["Bearer tok-1"]);
    assert_eq!(delivered[0].json()["outcome"], "process_failed");
    assert!(outbox_json(&w).is_empty(), "delivered");

    // Without a scope, the form asks for none.
    let w = hook_world(&receiver, &oauth(&token_url(&endpoint), ""));
    with_secret(trigger(&w, "fail_2.zip")).run().code(14);
    assert_eq!(endpoint.requests()[1].body_text(), "grant_type=client_credentials");
    assert_eq!(bearers(&receiver.wait_for(2, ARRIVED))[1], "Bearer tok-2");
}

/// Two runs whose deliveries the receiver turns away (503), then one `outbox flush` that
/// delivers both in one process; the token endpoint's tokens live `expires_in` seconds and
/// the receiver takes `first_takes` to accept the first. What the flush sent, and how many
/// tokens were asked for in all.
fn flush_two(expires_in: u64, first_takes: Duration) -> (Vec<String>, usize) {
    let endpoint = token_endpoint(expires_in);
    let receiver = HttpReceiver::scripted(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::ok().delay(first_takes),
        Reply::ok(),
    ]);
    let w = hook_world(&receiver, &oauth(&token_url(&endpoint), "retries = 0"));
    with_secret(trigger(&w, "fail_1.zip")).run().code(14);
    with_secret(trigger(&w, "fail_2.zip")).run().code(14);
    assert_eq!(outbox_json(&w).len(), 2, "both wait");
    assert_eq!(endpoint.count(), 2, "each run is a process of its own, with a token of its own");

    with_secret(w.cmd().args(["outbox", "flush"])).run().code(0);
    let flushed = receiver.wait_for(4, ARRIVED)[2..].to_vec();
    (bearers(&flushed), endpoint.count())
}

#[test]
fn a_token_is_kept_for_later_deliveries_of_the_process_while_it_is_fresh() {
    let (sent, asked) = flush_two(3600, Duration::from_millis(1500));
    assert_eq!(sent, ["Bearer tok-3", "Bearer tok-3"]);
    assert_eq!(asked, 3, "the flush asked once for both");
}

#[test]
fn a_token_is_renewed_once_its_expires_in_runs_out() {
    // Valid 1 s, renewed 0.1 s before: the first delivery takes 1.5 s, so the second needs a
    // new one.
    let (sent, asked) = flush_two(1, Duration::from_millis(1500));
    assert_eq!(sent, ["Bearer tok-3", "Bearer tok-4"]);
    assert_eq!(asked, 4);
}

#[test]
fn a_401_from_the_receiver_fetches_a_new_token_once_and_posts_again() {
    let endpoint = token_endpoint(3600);
    let receiver = HttpReceiver::scripted(vec![Reply::status(401), Reply::ok()]);
    let w = hook_world(&receiver, &oauth(&token_url(&endpoint), "retries = 0"));
    with_secret(trigger(&w, "fail_1.zip")).run().code(14);
    assert_eq!(bearers(&receiver.wait_for(2, ARRIVED)), ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(endpoint.count(), 2);
    assert!(outbox_json(&w).is_empty(), "delivered with the new token");

    // A receiver that refuses the new token too: one new token, one more POST, and no loop.
    let endpoint = token_endpoint(3600);
    let receiver = HttpReceiver::scripted(vec![Reply::status(401)]);
    let w = hook_world(&receiver, &oauth(&token_url(&endpoint), "retries = 3"));
    let run = with_secret(trigger(&w, "fail_1.zip")).run().code(14);
    run.stderr_has("HTTP 401");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!((endpoint.count(), receiver.count()), (2, 2));
    let pending = outbox_json(&w);
    assert_eq!(pending[0]["attempts"], 4, "two tokens, two POSTs: {pending:?}");
}

#[test]
fn a_token_endpoint_that_is_down_is_retried_and_the_delivery_waits_for_flush() {
    // Busy (503) for both attempts of the run, then up.
    let endpoint = HttpReceiver::scripted(vec![Reply::status(503), Reply::status(503), token(1, 3600)]);
    let receiver = HttpReceiver::ok();
    let url = token_url(&endpoint);
    let w = hook_world(&receiver, &oauth(&url, "retries = 1"));
    let run = with_secret(trigger(&w, "fail_1.zip")).run().code(14);
    run.stderr_has(&format!("OAuth2 token from {url}: HTTP 503 (after 2 attempts)")).stderr_has("outbox");
    assert_eq!((endpoint.count(), receiver.count()), (2, 0), "retried within the delivery's attempts");
    let pending = outbox_json(&w);
    assert_eq!((pending[0]["state"].as_str(), pending[0]["attempts"].as_i64()), (Some("pending"), Some(2)));

    with_secret(w.cmd().args(["outbox", "flush"])).run().code(0);
    assert_eq!(bearers(&receiver.wait_for(1, ARRIVED)), ["Bearer tok-1"]);
    assert!(outbox_json(&w).is_empty());

    // Not listening at all: the same, and the flush after it is up delivers.
    let down = format!("http://127.0.0.1:{}/token", closed_port());
    let w = hook_world(&receiver, &oauth(&down, "retries = 0"));
    with_secret(trigger(&w, "fail_2.zip")).run().code(14).stderr_has(&format!("OAuth2 token from {down}: "));
    assert_eq!(outbox_json(&w)[0]["state"], "pending");
    with_secret(w.cmd().args(["outbox", "flush"])).run().code(4);
    assert_eq!(outbox_json(&w)[0]["state"], "pending", "a flush keeps it too");
    let endpoint = token_endpoint(3600);
    w.config(&config(
        "notify = [\"hook\"]",
        "",
        &webhook("hook", &receiver.url(), &oauth(&token_url(&endpoint), "")),
    ));
    with_secret(w.cmd().args(["outbox", "flush"])).run().code(0);
    assert_eq!(bearers(&receiver.wait_for(2, ARRIVED))[1], "Bearer tok-1");
    assert_eq!(receiver.requests()[1].json()["filename"], "fail_2.zip");
}

/// A refusal of the client (400, 401) is the operator's to fix (a wrong secret, client id or
/// scope): not retried at once, but kept in the outbox, never given up as dead. Its message
/// names the URL and the status, never what the endpoint said.
#[test]
fn a_token_endpoint_that_refuses_the_client_keeps_the_delivery_until_it_is_fixed() {
    const SAID: &str = "MARKER-endpoint-said-0c4f";
    let refusal = |status| {
        Reply::status(status).header("Content-Type", "application/json").body(&format!(
            r#"{{"error":"invalid_client","error_description":"{SAID}","access_token":"{SAID}"}}"#
        ))
    };
    let endpoint = HttpReceiver::scripted(vec![refusal(401), refusal(400), token(1, 3600)]);
    let receiver = HttpReceiver::ok();
    let url = token_url(&endpoint);
    let w = hook_world(&receiver, &oauth(&url, "retries = 3"));
    let run = with_secret(trigger(&w, "fail_1.zip")).run().code(14);
    let run = run.stderr_has(&format!("OAuth2 token from {url}: HTTP 401"));
    assert_eq!((endpoint.count(), receiver.count()), (1, 0), "not asked again at once");

    let flush = with_secret(w.cmd().args(["outbox", "flush", "-v"])).run().code(4);
    let flush = flush.stderr_has(&format!("OAuth2 token from {url}: HTTP 400"));
    assert!(!flush.stderr().contains("dead"), "{}", flush.stderr());
    let pending = outbox_json(&w);
    assert_eq!(pending[0]["state"], "pending", "{pending:?}");
    for text in [run.stdout(), run.stderr(), flush.stdout(), flush.stderr(), format!("{pending:?}")] {
        assert!(!text.contains(SAID) && !text.contains(SECRET), "{text}");
    }

    with_secret(w.cmd().args(["outbox", "flush"])).run().code(0);
    assert_eq!(bearers(&receiver.wait_for(1, ARRIVED)), ["Bearer tok-1"]);
}

#[test]
fn a_manual_bearer_token_wins_over_oauth2() {
    let endpoint = token_endpoint(3600);
    let receiver = HttpReceiver::ok();
    let w = hook_world(&receiver, &oauth(&token_url(&endpoint), "bearer_token_env = \"HOOK_TOKEN\""));
    let checked = w
        .cmd()
        .arg("check")
        .run()
        .code(0)
        .stdout_has("channel.hook.bearer_token_env: warning: set together with oauth2")
        .stdout();
    // The client secret is never read then: that it is unset is no warning.
    assert!(!checked.contains("client_secret_env: warning"), "{checked}");
    // Without the client secret too: it is not needed.
    trigger(&w, "fail_1.zip").env("HOOK_TOKEN", "manual-token").run().code(14);
    assert_eq!(bearers(&receiver.wait_for(1, ARRIVED)), ["Bearer manual-token"]);
    assert_eq!(endpoint.count(), 0, "no token fetched");
}

#[test]
fn check_reports_each_bad_oauth2_key_at_its_line_and_column() {
    let receiver = HttpReceiver::ok();
    let channel = "oauth2 = { token_url = \"ftp://auth.example/token\", client_id = \" \", client_secret_env = \"not a name\", scope = \"\" }";
    let w = hook_world(&receiver, channel);
    let out = w.cmd().arg("check").run().code(10).stdout();
    let line = std::fs::read_to_string(w.config_path())
        .unwrap()
        .lines()
        .position(|l| l.starts_with("oauth2"))
        .unwrap()
        + 1;
    let col = |text: &str| channel.find(text).unwrap() + 1;
    for (at, problem) in [
        (col("\"ftp:"), "channel.hook.oauth2.token_url: expected an http:// or https:// URL"),
        (col("\" \""), "channel.hook.oauth2.client_id: must not be empty"),
        (
            col("\"not a name\""),
            "channel.hook.oauth2.client_secret_env: \"not a name\" is not an environment variable name",
        ),
        (col("\"\" }"), "channel.hook.oauth2.scope: must not be empty"),
    ] {
        let expected = format!("{}:{line}:{at}: {problem}", w.config_path().display());
        assert!(out.contains(&expected), "{expected}\nin\n{out}");
    }

    let w = hook_world(
        &receiver,
        "oauth2 = { token_url = \"https://u:p@auth.example/token\", client_id = \"c\", client_secret_env = \"UNSET_CLIENT_SECRET\" }",
    );
    let out = w.cmd().arg("check").run().code(10).stdout();
    assert!(out.contains("channel.hook.oauth2.token_url: no user name or password in the URL"), "{out}");
    assert!(out.contains("UNSET_CLIENT_SECRET is set neither in the environment"), "{out}");

    for (table, problem) in [
        ("{ token_url = \"https://a.example/t\", client_secret_env = \"S\" }", "missing field `client_id`"),
        (
            "{ token_url = \"https://a.example/t\", client_id = \"c\", client_secret_env = \"S\", secret = \"x\" }",
            "unknown field `secret`",
        ),
        ("\"https://a.example/t\"", "channel.hook.oauth2"),
    ] {
        let w = hook_world(&receiver, &format!("oauth2 = {table}"));
        w.cmd().arg("check").run().code(10).stdout_has(problem);
    }
}

#[test]
fn notify_test_fetches_a_token_and_says_whether_it_came() {
    let endpoint = HttpReceiver::scripted(vec![token(1, 3600), Reply::status(401)]);
    let receiver = HttpReceiver::ok();
    let url = token_url(&endpoint);
    let w = hook_world(&receiver, &oauth(&url, "retries = 0"));
    with_secret(w.cmd().args(["notify-test", "hook"]))
        .run()
        .code(0)
        .stdout_is(&format!("hook: OK (OAuth2 token from {url})\n"));
    assert_eq!(endpoint.count(), 1, "one token, for the check and the message");
    assert_eq!(bearers(&receiver.wait_for(1, ARRIVED)), ["Bearer tok-1"]);

    let run = with_secret(w.cmd().args(["notify-test", "hook", "--json"])).run().code(4);
    let line: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!((line["ok"].as_bool(), line["oauth2"]["ok"].as_bool()), (Some(false), Some(false)), "{line}");
    assert_eq!(line["oauth2"]["token_url"], url.as_str());
    assert!(
        line["error"].as_str().unwrap().starts_with(&format!("OAuth2 token from {url}: HTTP 401")),
        "{line}"
    );
    assert_eq!(receiver.count(), 1, "no message without a token");

    with_secret(w.cmd().args(["notify-test", "hook"])).run().code(4).stdout_is(&format!(
        "hook: FAILED: OAuth2 token from {url}: HTTP 401: the endpoint refuses the client\n"
    ));
}
