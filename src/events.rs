//! Event subscriptions: downstream systems ask, over `serve`'s `POST /events`, to hear about a
//! customer's runs. Stored in the journal, so every entry point (a CLI run, `scan`, `serve`)
//! fires them from the one place every run ends (`outbox::after_run`); each callback is an
//! outbox delivery like any notification: retried, listed, never sent twice.
//!
//! The request and error shapes are those of the event API this replaces (SPEC, "Events"):
//! callers already parse them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::journal::db::{DbError, Statements, Tx, args};
use crate::journal::{Journal, JournalError, now_ms};
use crate::notify::Message;
use crate::outcome::Outcome;
use crate::report::Report;

/// The only listener type there is.
const TAGGED_FILE: &str = "tagged_file";

/// A stored subscription.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub event_id: String,
    pub listener_type: String,
    pub company_id: String,
    pub tags: BTreeMap<String, String>,
    pub outcomes: Vec<String>,
    pub action: Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub external_action: bool,
    pub callback_type: String,
    pub callback_url: String,
    pub delete_after_action: bool,
}

/// Why a `POST /events` body was refused: the 422 body to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub Value);

impl Subscription {
    /// The subscription a `POST /events` body asks for, or the 422 body that says what is
    /// wrong, in the exact forms of SPEC's "Events".
    pub fn from_request(body: &Value) -> Result<Subscription, Refused> {
        let Some(fields) = body.as_object() else {
            return Err(invalid(BTreeMap::from([(
                "body".to_owned(),
                "body must be a JSON object".to_owned(),
            )])));
        };
        if fields.get("listener_type").and_then(Value::as_str) != Some(TAGGED_FILE) {
            return Err(Refused(json!({
                "code": 422,
                "message": "Invalid listener_type, check with the admin for the valid types",
            })));
        }
        let mut problems = BTreeMap::new();
        let company_id = match fields.get("company_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                problems.insert("company_id".to_owned(), "company_id not present".to_owned());
                String::new()
            }
            Some(_) => {
                problems.insert("company_id".to_owned(), "company_id must be a string".to_owned());
                String::new()
            }
        };
        let tags = tags(fields.get("tags"), &mut problems);
        let outcomes = outcomes(fields.get("outcomes"), &mut problems);
        let action = action(fields.get("action"), &mut problems);
        match action {
            Some(action) if problems.is_empty() => Ok(Subscription {
                event_id: uuid::Uuid::new_v4().to_string(),
                listener_type: TAGGED_FILE.to_owned(),
                company_id,
                tags,
                outcomes,
                action,
            }),
            _ => Err(invalid(problems)),
        }
    }

    /// The 201 body: the subscription's id and what it listens for.
    pub fn created(&self) -> Value {
        json!({
            "status": "Created",
            "value": {
                "event_id": self.event_id,
                "listener_type": self.listener_type,
                "company_id": self.company_id,
                "tags": self.tags,
            },
        })
    }

    /// Whether a run that ended as `report` says fires this subscription: its CID, every tag
    /// of the subscription among the rule's (same value), its outcome among `outcomes`.
    fn fires_for(&self, report: &Report) -> bool {
        self.company_id == report.cid
            && self.tags.iter().all(|(k, v)| report.tags.get(k) == Some(v))
            && self.outcomes.iter().any(|o| o == report.outcome.name())
    }

    /// The callback for the run of `report`, as the outbox keeps and sends it.
    fn callback(&self, report: &Report) -> Message {
        let body = json!({
            "event_id": self.event_id,
            "room_id": "",
            "callback_url": self.action.callback_url,
            "callback_type": self.action.callback_type,
            "data": {
                "file_register_uuid": report.event_id,
                "filename": report.filename,
                "tags": report.tags,
                "cid": report.cid,
                "run_id": report.run_id,
                "outcome": report.outcome.name(),
                "md5": report.md5.actual,
            },
        });
        Message {
            event: report.event,
            // One id per callback, the same on every retry of it.
            event_id: uuid::Uuid::new_v4().to_string(),
            cid: Some(report.cid.clone()),
            filename: Some(report.filename.clone()),
            body: body.to_string(),
        }
    }

    /// The outbox's name for this subscription's deliveries.
    pub fn channel(&self) -> String {
        channel_of(&self.event_id)
    }
}

/// The outbox's channel name for deliveries to subscription `id`.
pub fn channel_of(id: &str) -> String {
    format!("event:{id}")
}

/// The subscription a channel name of [`channel_of`] names.
pub fn subscription_of(channel: &str) -> Option<&str> {
    channel.strip_prefix("event:")
}

fn invalid(problems: BTreeMap<String, String>) -> Refused {
    Refused(json!({
        "code": 422,
        "message": "Validation fail",
        "errors": {"text": "Problem with tagged_file event type", "data": null, "data2": null, "validations": problems},
    }))
}

/// `tags`: a map of strings with at least one entry; each value that is not a string named.
fn tags(value: Option<&Value>, problems: &mut BTreeMap<String, String>) -> BTreeMap<String, String> {
    let map = match value {
        None | Some(Value::Null) => {
            problems.insert("tags".to_owned(), "tags not present".to_owned());
            return BTreeMap::new();
        }
        Some(Value::Object(map)) => map,
        Some(_) => {
            problems.insert("tags".to_owned(), "tags must be formatted as a Map<String:String>".to_owned());
            return BTreeMap::new();
        }
    };
    if map.is_empty() {
        problems.insert("tags".to_owned(), "tags must hold at least one entry".to_owned());
    }
    let mut tags = BTreeMap::new();
    for (key, value) in map {
        match value {
            Value::String(s) => {
                tags.insert(key.clone(), s.clone());
            }
            other => {
                problems
                    .insert("tags".to_owned(), "tags must be formatted as a Map<String:String>".to_owned());
                problems.insert(format!("tags.{key}"), format!("{other} is not formatted as a string"));
            }
        }
    }
    tags
}

/// `outcomes`: outcome names; `["success"]` when absent.
fn outcomes(value: Option<&Value>, problems: &mut BTreeMap<String, String>) -> Vec<String> {
    let items = match value {
        None | Some(Value::Null) => return vec![Outcome::Success.name().to_owned()],
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            problems.insert(
                "outcomes".to_owned(),
                "outcomes must be a non-empty list of outcome names".to_owned(),
            );
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(Outcome::from_name) {
            Some(outcome) => names.push(outcome.name().to_owned()),
            None => {
                let known: Vec<&str> = Outcome::all().map(Outcome::name).collect();
                problems.insert(
                    format!("outcomes.{i}"),
                    format!("{item} is not an outcome; known: {}", known.join(", ")),
                );
            }
        }
    }
    names
}

/// `action`: a webhook callback to an http(s) URL.
fn action(value: Option<&Value>, problems: &mut BTreeMap<String, String>) -> Option<Action> {
    let Some(Value::Object(fields)) = value else {
        problems.insert("action".to_owned(), "action not present".to_owned());
        return None;
    };
    let mut ok = true;
    let mut problem = |key: &str, text: &str| {
        problems.insert(format!("action.{key}"), text.to_owned());
        ok = false;
    };
    if fields.get("external_action") != Some(&Value::Bool(true)) {
        problem("external_action", "external_action must be true");
    }
    if fields.get("callback_type").and_then(Value::as_str) != Some("webhook") {
        problem("callback_type", "callback_type must be webhook");
    }
    let url = fields.get("callback_url").and_then(Value::as_str).unwrap_or("");
    let parsed = url.parse::<ureq::http::Uri>().ok();
    let web = parsed.as_ref().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if !web {
        problem("callback_url", "callback_url must be an http or https URL");
    }
    let delete_after_action = match fields.get("delete_after_action") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problem("delete_after_action", "delete_after_action must be true or false");
            false
        }
    };
    ok.then(|| Action {
        external_action: true,
        callback_type: "webhook".to_owned(),
        callback_url: url.to_owned(),
        delete_after_action,
    })
}

/// The `events` table of a journal: every query of it is here.
pub struct Store<'j> {
    journal: &'j Journal,
}

impl<'j> Store<'j> {
    pub fn of(journal: &'j Journal) -> Store<'j> {
        Store { journal }
    }

    pub fn insert(&self, sub: &Subscription) -> Result<(), JournalError> {
        let write = |tx: &Tx<'_>| {
            tx.execute(
                "INSERT INTO events (id, company_id, listener_type, tags, outcomes, callback_url, callback_type,
                                     delete_after_action, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &args![
                    sub.event_id,
                    sub.company_id,
                    sub.listener_type,
                    serde_json::to_string(&sub.tags).unwrap_or_default(),
                    serde_json::to_string(&sub.outcomes).unwrap_or_default(),
                    sub.action.callback_url,
                    sub.action.callback_type,
                    sub.action.delete_after_action,
                    now_ms()
                ],
            )
        };
        self.journal.write(write).map(|_| ()).map_err(|e| self.journal.write_error(e))
    }

    /// Every subscription (of `company_id`, when given), oldest first.
    pub fn list(&self, company_id: Option<&str>) -> Result<Vec<Subscription>, JournalError> {
        self.select(
            "WHERE CAST(?1 AS TEXT) IS NULL OR company_id = CAST(?1 AS TEXT) ORDER BY created_ms, id",
            company_id,
        )
    }

    pub fn get(&self, id: &str) -> Result<Option<Subscription>, JournalError> {
        Ok(self.select("WHERE id = ?1", Some(id))?.pop())
    }

    /// Deletes subscription `id`; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, JournalError> {
        let write = |tx: &Tx<'_>| tx.execute("DELETE FROM events WHERE id = ?1", &args![id]);
        self.journal.write(write).map(|n| n == 1).map_err(|e| self.journal.write_error(e))
    }

    fn select(&self, filter: &str, arg: Option<&str>) -> Result<Vec<Subscription>, JournalError> {
        let sql = format!(
            "SELECT id, listener_type, company_id, tags, outcomes, callback_url, callback_type, delete_after_action
             FROM events {filter}"
        );
        let read = || -> Result<Vec<Subscription>, DbError> {
            let rows = self.journal.db().query(&sql, &args![arg])?;
            rows.iter()
                .map(|r| {
                    Ok(Subscription {
                        event_id: r.get(0)?,
                        listener_type: r.get(1)?,
                        company_id: r.get(2)?,
                        tags: serde_json::from_str(&r.get::<String>(3)?).unwrap_or_default(),
                        outcomes: serde_json::from_str(&r.get::<String>(4)?).unwrap_or_default(),
                        action: Action {
                            external_action: true,
                            callback_url: r.get(5)?,
                            callback_type: r.get(6)?,
                            delete_after_action: r.get(7)?,
                        },
                    })
                })
                .collect()
        };
        read().map_err(|e| self.journal.read_error(e))
    }

    /// The subscriptions `report`'s run fires, each with its callback. A one-shot subscription
    /// is taken for this run here, in one write: of two runs that end at once, only one gets it.
    pub fn fired_by(&self, report: &Report) -> Result<Vec<(Subscription, Message)>, JournalError> {
        let Some(run_id) = report.run_id else { return Ok(Vec::new()) };
        let mut fired = Vec::new();
        for sub in self.list(Some(&report.cid))?.into_iter().filter(|s| s.fires_for(report)) {
            if sub.action.delete_after_action && !self.take_once(&sub.event_id, run_id)? {
                continue;
            }
            let message = sub.callback(report);
            fired.push((sub, message));
        }
        Ok(fired)
    }

    /// Marks one-shot subscription `id` as fired by `run_id`; false when a run took it first.
    fn take_once(&self, id: &str, run_id: i64) -> Result<bool, JournalError> {
        let write = |tx: &Tx<'_>| {
            tx.execute(
                "UPDATE events SET fired_run_id = ?2 WHERE id = ?1 AND fired_run_id IS NULL",
                &args![id, run_id],
            )
        };
        self.journal.write(write).map(|n| n == 1).map_err(|e| self.journal.write_error(e))
    }

    /// After a callback to subscription `id` was delivered: a one-shot subscription is done.
    pub fn delivered(&self, id: &str) -> Result<(), JournalError> {
        let write = |tx: &Tx<'_>| {
            tx.execute(
                "DELETE FROM events WHERE id = ?1 AND delete_after_action = 1 AND fired_run_id IS NOT NULL",
                &args![id],
            )
        };
        self.journal.write(write).map(|_| ()).map_err(|e| self.journal.write_error(e))
    }
}

/// The list body of `GET /events`.
pub fn listing(subs: &[Subscription]) -> Value {
    let events: Vec<Value> = subs.iter().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)).collect();
    let mut body = Map::new();
    body.insert("events".to_owned(), Value::Array(events));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: Value) -> Value {
        Subscription::from_request(&body).expect_err("refused").0
    }

    fn request() -> Value {
        json!({
            "listener_type": "tagged_file",
            "company_id": "acme",
            "tags": {"product": "statements"},
            "action": {"external_action": true, "callback_type": "webhook",
                       "callback_url": "https://downstream.example/ftp-events", "delete_after_action": false},
        })
    }

    #[test]
    fn a_good_request_makes_a_subscription_for_successes() {
        let sub = Subscription::from_request(&request()).expect("accepted");
        assert_eq!(sub.outcomes, ["success"]);
        let created = sub.created();
        assert_eq!(created["status"], "Created");
        assert_eq!(created["value"]["tags"], json!({"product": "statements"}));
        assert_eq!(created["value"]["event_id"].as_str().map(str::len), Some(36));
    }

    #[test]
    fn each_refusal_has_the_exact_form() {
        let mut body = request();
        body["listener_type"] = json!("other");
        assert_eq!(
            refused(body),
            json!({"code": 422, "message": "Invalid listener_type, check with the admin for the valid types"})
        );
        let v = refused(json!({"listener_type": "tagged_file"}));
        assert_eq!(
            v,
            json!({"code": 422, "message": "Validation fail", "errors": {"text": "Problem with tagged_file event type",
                   "data": null, "data2": null, "validations": {"company_id": "company_id not present",
                   "tags": "tags not present", "action": "action not present"}}})
        );
        let mut body = request();
        body["tags"] = json!({"foo": true, "ok": "yes"});
        body["action"] =
            json!({"external_action": false, "callback_type": "email", "callback_url": "ftp://x"});
        assert_eq!(
            refused(body)["errors"]["validations"],
            json!({"tags": "tags must be formatted as a Map<String:String>", "tags.foo": "true is not formatted as a string",
                   "action.external_action": "external_action must be true",
                   "action.callback_type": "callback_type must be webhook",
                   "action.callback_url": "callback_url must be an http or https URL"})
        );
    }
}
