//! Event subscriptions: made over `serve`'s `/events`, fired by runs from every entry point
//! (a CLI run in its own process, a run `serve` starts), their callbacks delivered through the
//! outbox to a real receiver on 127.0.0.1.

use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{JOB, LIMIT, Service, jobs_run};
use crate::servers::{HttpReceiver, Reply};
use crate::support::{Cfg, World, md5_hex, wait_until};

/// A world whose rule `stmt` (CID `acme`, `*.zip`) is tagged `product = "statements"`, with
/// `[serve]` lines `serve`.
fn world(serve: &str) -> World {
    let w = World::new();
    w.script("job.sh", JOB);
    let rule = "tags = { product = \"statements\", region = \"eu\" }";
    w.config(&Cfg::stmt(rule).tail(&format!("[serve]\n{serve}")).text());
    w
}

fn subscription(url: &str, tags: Value, extra: &[(&str, Value)]) -> Value {
    let mut body = json!({
        "listener_type": "tagged_file",
        "company_id": "acme",
        "tags": tags,
        "action": {"external_action": true, "callback_type": "webhook", "callback_url": url,
                   "delete_after_action": false},
    });
    for (key, value) in extra {
        if let Some(action_key) = key.strip_prefix("action.") {
            body["action"][action_key] = value.clone();
        } else {
            body[*key] = value.clone();
        }
    }
    body
}

fn subscribe(s: &Service, body: &Value) -> String {
    let reply = s.post("/events", body);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["value"]["event_id"].as_str().expect("an event id").to_owned()
}

/// A run of `name` (content `content`) from the CLI, in its own process.
fn cli_run(w: &World, name: &str, content: &[u8], md5: &str) -> crate::support::Run {
    let file = w.upload(name, content);
    w.cmd().arg("acme").arg(&file).args(["--md5", md5]).run()
}

#[test]
fn each_refusal_has_its_exact_form_and_a_subscription_is_listed_got_and_deleted() {
    let w = world("");
    let s = Service::start(&w);
    let url = "https://downstream.example/ftp-events";
    let cases = [
        (
            json!({"company_id": "acme"}),
            json!({"code": 422, "message": "Invalid listener_type, check with the admin for the valid types"}),
        ),
        (
            subscription(url, json!({"p": "s"}), &[("listener_type", json!("room"))]),
            json!({"code": 422, "message": "Invalid listener_type, check with the admin for the valid types"}),
        ),
        (
            json!({"listener_type": "tagged_file"}),
            json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with tagged_file event type",
                   "data": null, "data2": null, "validations": {"company_id": "company_id not present",
                   "tags": "tags not present", "action": "action not present"}}}),
        ),
        (
            subscription(url, json!("statements"), &[]),
            json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with tagged_file event type",
                   "data": null, "data2": null, "validations": {"tags": "tags must be formatted as a Map<String:String>"}}}),
        ),
        (
            subscription(url, json!({"foo": true}), &[]),
            json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with tagged_file event type",
                   "data": null, "data2": null, "validations": {"tags": "tags must be formatted as a Map<String:String>",
                   "tags.foo": "true is not formatted as a string"}}}),
        ),
        (
            subscription(
                "ftp://downstream.example/",
                json!({"p": "s"}),
                &[("action.callback_type", json!("email")), ("action.external_action", json!(false))],
            ),
            json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with tagged_file event type",
                   "data": null, "data2": null, "validations": {
                   "action.callback_url": "callback_url must be an http or https URL",
                   "action.callback_type": "callback_type must be webhook",
                   "action.external_action": "external_action must be true"}}}),
        ),
    ];
    for (body, expected) in cases {
        let reply = s.post("/events", &body);
        assert_eq!((reply.status, reply.json()), (422, expected), "{body}");
    }
    assert_eq!(s.get("/events").json(), json!({"events": []}), "a refused subscription was stored");

    let reply = s.post("/events", &subscription(url, json!({"product": "statements"}), &[]));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["value"]["event_id"].as_str().expect("an id").to_owned();
    assert_eq!(
        reply.json(),
        json!({"status": "Created", "value": {"event_id": id, "listener_type": "tagged_file", "company_id": "acme",
               "tags": {"product": "statements"}}})
    );
    let got = s.get(&format!("/events/{id}")).json();
    assert_eq!((got["event_id"].as_str(), got["outcomes"].clone()), (Some(&*id), json!(["success"])));
    assert_eq!(got["action"]["callback_url"], url);
    assert_eq!(s.get("/events?company_id=acme").json()["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(s.get("/events?company_id=other").json(), json!({"events": []}));
    let delete = |id: &str| {
        crate::serve::send(crate::serve::agent().delete(&s.url(&format!("/events/{id}"))).call()).status
    };
    assert_eq!(delete(&id), 204);
    assert_eq!(delete(&id), 404);
    assert_eq!(s.get(&format!("/events/{id}")).status, 404);
}

/// A run from the CLI and a run `serve` starts each fire a matching subscription, with the
/// callback body of SPEC; one whose tags do not match stays quiet; callbacks are signed.
#[test]
fn runs_from_the_cli_and_from_serve_fire_matching_events() {
    let hook = HttpReceiver::ok();
    let quiet = HttpReceiver::ok();
    let w = world("callback_secret_env = \"CALLBACK_KEY\"");
    let s = Service::start_with(&w, &[("CALLBACK_KEY", "k3y")]);
    let id = subscribe(&s, &subscription(&hook.url(), json!({"product": "statements"}), &[]));
    subscribe(&s, &subscription(&quiet.url(), json!({"product": "invoices"}), &[]));

    // The CLI process signs with the key from its own environment.
    let file = w.upload("a.zip", b"a");
    w.cmd().env("CALLBACK_KEY", "k3y").arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run().code(0);
    let got = hook.wait_for(1, LIMIT);
    let body = got[0].json();
    let history = w.cmd().args(["history", "--json"]).run().code(0).stdout();
    let run: Value = serde_json::from_str(history.lines().next().expect("a run")).expect("JSON");
    assert_eq!(
        body,
        json!({"event_id": id, "room_id": "", "callback_url": hook.url(), "callback_type": "webhook",
               "data": {"file_register_uuid": run["event_id"], "filename": "a.zip",
                        "tags": {"product": "statements", "region": "eu"}, "cid": "acme", "run_id": 1,
                        "outcome": "success", "md5": md5_hex(b"a")}})
    );
    let signed =
        |i: usize| format!("sha256={}", ftptrigger::notify::webhook::sign(b"k3y", &got_body(&hook, i)));
    assert_eq!(got[0].header("x-ftptrigger-signature").map(str::to_owned), Some(signed(0)));

    w.upload("b.zip", b"b");
    let reply = s.post("/ftpscanner/", &json!({"cid": "acme", "filename": "b.zip", "md5": md5_hex(b"b")}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let got = hook.wait_for(2, LIMIT);
    let body = got[1].json();
    assert_eq!(
        (body["data"]["filename"].as_str(), body["data"]["run_id"].as_i64()),
        (Some("b.zip"), Some(2))
    );
    assert_eq!(got[1].header("x-ftptrigger-signature").map(str::to_owned), Some(signed(1)));

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(quiet.count(), 0, "a subscription whose tags do not match fired");
    assert_eq!(hook.count(), 2);
}

fn got_body(hook: &HttpReceiver, i: usize) -> String {
    hook.requests()[i].body_text()
}

/// `outcomes` chooses which endings fire: a mismatch fires a subscription for `md5_mismatch`
/// and not the one for successes.
#[test]
fn an_event_for_mismatches_fires_on_a_mismatch_only() {
    let mismatches = HttpReceiver::ok();
    let successes = HttpReceiver::ok();
    let w = world("");
    let s = Service::start(&w);
    let tags = json!({"region": "eu"});
    subscribe(&s, &subscription(&mismatches.url(), tags.clone(), &[("outcomes", json!(["md5_mismatch"]))]));
    subscribe(&s, &subscription(&successes.url(), tags, &[]));
    cli_run(&w, "a.zip", b"a", &md5_hex(b"not a")).code(12);
    let got = mismatches.wait_for(1, LIMIT);
    assert_eq!(got[0].json()["data"]["outcome"], "md5_mismatch");
    assert_eq!(got[0].json()["data"]["md5"], md5_hex(b"a"), "data.md5 is the file's actual MD5");
    assert_eq!(successes.count(), 0);
}

/// A one-shot subscription fires for one run only, even when two matching runs end at once,
/// and is gone once its callback is delivered.
#[test]
fn a_one_shot_event_fires_once_under_two_concurrent_runs() {
    let hook = HttpReceiver::ok();
    let w = world("");
    let s = Service::start(&w);
    let once = subscription(
        &hook.url(),
        json!({"product": "statements"}),
        &[("action.delete_after_action", json!(true))],
    );
    let id = subscribe(&s, &once);
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let name = format!("f{i}.zip");
            let file = w.upload(&name, name.as_bytes());
            w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(name.as_bytes())]).spawn()
        })
        .collect();
    for run in runs {
        run.wait().code(0);
    }
    hook.wait_for(1, LIMIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hook.count(), 1, "a one-shot event fired more than once");
    assert_eq!(jobs_run(&w).len(), 6);
    assert_eq!(s.get(&format!("/events/{id}")).status, 404, "delivered, it should be gone");
}

/// A receiver that is down: the callback waits in the outbox (listed under `event:<id>`), and
/// `outbox flush` delivers it, once.
#[test]
fn a_callback_to_a_receiver_that_is_down_waits_for_outbox_flush() {
    let hook = HttpReceiver::scripted(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::status(503),
        Reply::status(503),
        Reply::ok(),
    ]);
    let w = world("");
    let s = Service::start(&w);
    let id = subscribe(&s, &subscription(&hook.url(), json!({"product": "statements"}), &[]));
    let run = cli_run(&w, "a.zip", b"a", &md5_hex(b"a")).code(0);
    assert!(run.stderr().contains(&format!("notification to event:{id} failed")), "{}", run.stderr());
    assert_eq!(hook.count(), 4, "1 + 3 retries");
    let listed = w.cmd().args(["outbox", "list", "--json"]).run().code(0).stdout();
    assert!(listed.contains(&format!("\"channel\":\"event:{id}\"")), "{listed}");
    w.cmd().args(["outbox", "flush"]).run().code(0);
    wait_until(LIMIT, "the callback delivered", || hook.count() == 5);
    assert_eq!(hook.requests()[4].json()["event_id"], id);
    w.cmd().args(["outbox", "flush"]).run().code(0);
    assert_eq!(hook.count(), 5, "delivered twice");
    assert_eq!(w.cmd().args(["outbox", "list", "--json"]).run().code(0).stdout(), "");
}
