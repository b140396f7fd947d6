//! Telling people: which channels hear about a run, and delivering to each, with retries.
//! Every delivery goes through the outbox in the journal first, so nothing is lost when a
//! channel is down or ftptrigger dies mid-send: `outbox flush` finishes the job later.

pub mod email;
pub mod webhook;

use std::time::Duration;

use crate::config::{Channel, Config};
use crate::journal::Journal;
use crate::outcome::Outcome;
use crate::report::Report;

/// One notification for one channel, as stored in the outbox.
#[derive(Debug, Clone)]
pub struct Message {
    /// `run.failed`, `run.succeeded` or `test`.
    pub event: String,
    /// Same for every attempt of a delivery, so receivers can drop repeats.
    pub event_id: String,
    /// The JSON payload: the webhook's body, and what the email is written from.
    pub body: String,
}

/// Secret lookup for channels: the environment, then `[defaults] env_file`.
pub struct Secrets<'a> {
    config: &'a Config,
}

impl<'a> Secrets<'a> {
    pub fn new(config: &'a Config) -> Self {
        Secrets { config }
    }

    /// The secret's value, or an error naming the variable (never the value).
    pub fn get(&self, var: &str) -> Result<String, String> {
        self.config
            .secret(var, self.config.defaults.env_file.as_deref())
            .ok_or_else(|| format!("secret variable {var} is not set (environment or [defaults] env_file)"))
    }
}

/// What one attempt came to.
pub(crate) enum Attempt {
    Done,
    Retry { error: String, after: Option<std::time::Duration> },
    Final(String),
}

/// Delivers `message` through the channel called `name`, with that channel's retries.
pub fn deliver(config: &Config, name: &str, message: &Message) -> Result<(), String> {
    let secrets = Secrets::new(config);
    match config.channels.get(name) {
        Some(Channel::Webhook(hook)) => webhook::deliver(hook, message, &secrets),
        Some(Channel::Email(mail)) => email::deliver(mail, message, &secrets),
        None => Err(format!("channel {name} is not in the config any more")),
    }
}

/// The channels to tell about a run that ended with `outcome`, by the rule that matched (or
/// `[defaults]` when none did).
pub fn channels_for<'c>(
    config: &'c Config,
    rule: Option<&str>,
    outcome_ok: bool,
    skipped: bool,
) -> &'c [String] {
    if skipped {
        return &[];
    }
    let settings = rule
        .and_then(|r| config.rules.iter().find(|x| x.name == r))
        .map_or(&config.defaults, |r| &r.settings);
    if outcome_ok { &settings.notify_success } else { &settings.notify }
}

impl Message {
    /// The notification for a finished run: its JSON result is the payload.
    pub fn from_report(report: &Report) -> Message {
        Message { event: report.event.to_owned(), event_id: report.event_id.clone(), body: report.to_json() }
    }

    /// The `notify-test` message: the payload's envelope with `event: "test"`.
    pub fn test() -> Message {
        let event_id = uuid::Uuid::new_v4().to_string();
        let host = crate::report::host();
        let body = serde_json::json!({
            "version": crate::report::PAYLOAD_VERSION,
            "event_id": event_id,
            "event": "test",
            "host": host,
            "message": format!("test message from ftptrigger {} on {host}", env!("CARGO_PKG_VERSION")),
            "sent_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        });
        Message { event: "test".to_owned(), event_id, body: body.to_string() }
    }

    /// A payload stored earlier (an interrupted run found later).
    pub fn from_payload(body: String) -> Message {
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let text = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
        Message { event: text("event"), event_id: text("event_id"), body }
    }
}

/// How long one delivery through `channel` may take at worst: the outbox claim lasts this
/// long, so a flush never sends what a live run is still sending.
pub fn worst_case(config: &Config, channel: &str) -> Duration {
    let margin = Duration::from_secs(60);
    match config.channels.get(channel) {
        Some(Channel::Webhook(hook)) => {
            hook.timeout * (hook.retries + 1) + webhook::longest_pauses(hook.retries) + margin
        }
        Some(Channel::Email(mail)) => email::deadline(mail) + margin,
        None => margin,
    }
}

/// Writes one delivery per channel to the outbox, then tries them all at once. Returns what
/// each came to; failures stay in the outbox for `outbox flush`.
pub fn send_all(
    journal: &mut Journal,
    config: &Config,
    run_id: Option<i64>,
    channels: &[String],
    message: &Message,
) -> Vec<(String, Result<(), String>)> {
    let mut queued = Vec::new();
    for channel in channels {
        match journal.enqueue(run_id, channel, message, worst_case(config, channel)) {
            Ok(id) => queued.push((id, channel.clone())),
            Err(e) => return vec![(channel.clone(), Err(format!("not queued: {e}")))],
        }
    }
    let results: Vec<(i64, String, Result<(), String>)> = std::thread::scope(|scope| {
        let sends: Vec<_> = queued
            .into_iter()
            .map(|(id, channel)| {
                scope.spawn(move || {
                    let result = deliver(config, &channel, message);
                    (id, channel, result)
                })
            })
            .collect();
        sends.into_iter().filter_map(|s| s.join().ok()).collect()
    });
    results
        .into_iter()
        .map(|(id, channel, result)| {
            match &result {
                Ok(()) => log::info!("notified {channel} ({})", message.event),
                Err(e) => log::info!("could not notify {channel}: {e}"),
            }
            let recorded = journal.attempted(id, &result);
            let result = match (result, recorded) {
                (Ok(()), Err(e)) => Err(format!("delivered, but not marked so: {e}")),
                (result, _) => result,
            };
            (channel, result)
        })
        .collect()
}

/// Notifies the channels that should hear about `report`, then about the runs found
/// interrupted on the way (their payloads in `reaped`). Returns a line per failed delivery.
pub fn after_run(journal: &mut Journal, config: &Config, report: &Report, reaped: &[String]) -> Vec<String> {
    let mut notices = Vec::new();
    if report.outcome.notifies() {
        let channels = channels_for(config, report.rule.as_deref(), report.outcome.is_ok(), false);
        let results = send_all(journal, config, report.run_id, channels, &Message::from_report(report));
        notices.extend(failures(results));
    }
    notices.extend(notify_reaped(journal, config, reaped));
    notices
}

/// Notifies the channels of each run found interrupted (the rule's, else `[defaults]`).
pub fn notify_reaped(journal: &mut Journal, config: &Config, reaped: &[String]) -> Vec<String> {
    let mut notices = Vec::new();
    for payload in reaped {
        let value: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
        let channels = channels_for(config, value["rule"].as_str(), false, false);
        let message = Message::from_payload(payload.clone());
        notices.extend(failures(send_all(journal, config, value["run_id"].as_i64(), channels, &message)));
    }
    notices
}

fn failures(results: Vec<(String, Result<(), String>)>) -> impl Iterator<Item = String> {
    results.into_iter().filter_map(|(channel, result)| {
        result.err().map(|e| format!("notification to {channel} failed: {e}; it waits in the outbox"))
    })
}

/// `notify-test`: an `event: "test"` message through each channel (or the one named), a line
/// each; exit 0 only if all went through.
pub fn test_command(config: &Config, only: Option<&str>) -> Result<u8, crate::outcome::Failure> {
    let names: Vec<&String> =
        config.channels.keys().filter(|n| only.is_none_or(|o| o == n.as_str())).collect();
    if names.is_empty() {
        let defined: Vec<&str> = config.channels.keys().map(String::as_str).collect();
        let detail = match only {
            Some(name) => format!("no channel named {name:?}; defined: {}", defined.join(", ")),
            None => "the config defines no channels".to_owned(),
        };
        return Err(crate::outcome::Failure::new(Outcome::Usage, detail));
    }
    let message = Message::test();
    let results: Vec<(&String, Result<(), String>)> = std::thread::scope(|scope| {
        let sends: Vec<_> =
            names.iter().map(|name| scope.spawn(|| (*name, deliver(config, name, &message)))).collect();
        sends.into_iter().filter_map(|s| s.join().ok()).collect()
    });
    let mut text = String::new();
    for (name, result) in &results {
        match result {
            Ok(()) => text.push_str(&format!("{name}: OK\n")),
            Err(e) => text.push_str(&format!("{name}: FAILED: {e}\n")),
        }
    }
    crate::output::print_out(&text);
    Ok(if results.iter().all(|(_, r)| r.is_ok()) { 0 } else { Outcome::InternalError.code() })
}

/// What `outbox flush` did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub delivered: usize,
    pub failed: Vec<String>,
    pub given_up: usize,
    pub remaining: usize,
    /// Trouble notifying runs found interrupted.
    pub notices: Vec<String>,
}

/// Retries every pending delivery, oldest first, each claimed so that a concurrent flush or
/// a live run never sends it too.
pub fn flush(journal: &mut Journal, config: &Config) -> Result<Flushed, crate::journal::JournalError> {
    // A run killed outright is otherwise found only by the next upload; cron finds it here.
    let reaped = journal.reap_interrupted()?;
    let notices = notify_reaped(journal, config, &reaped);
    let mut done = Flushed { given_up: journal.give_up_old()?, notices, ..Flushed::default() };
    for pending in journal.undelivered(false)? {
        if !journal.claim(pending.id, worst_case(config, &pending.channel))? {
            continue;
        }
        let result = deliver(config, &pending.channel, &pending.message());
        journal.attempted(pending.id, &result)?;
        match result {
            Ok(()) => done.delivered += 1,
            Err(e) => done.failed.push(format!("{} (delivery {}): {e}", pending.channel, pending.id)),
        }
    }
    done.remaining = journal.undelivered(false)?.len();
    Ok(done)
}
