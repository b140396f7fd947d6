//! Telling people: which channels hear about a run, and delivering to each, with retries.
//! Every delivery goes through the outbox in the journal first, so nothing is lost when a
//! channel is down or ftptrigger dies mid-send: `outbox flush` finishes the job later.

pub mod email;
mod error;
pub mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Channel, Config};
use crate::journal::Journal;
use crate::outcome::Outcome;
use crate::report::{Event, PAYLOAD_VERSION, Report};

pub use error::DeliveryError;

/// One notification for one channel, as stored in the outbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub event: Event,
    /// Same for every attempt of a delivery, so receivers can drop repeats.
    pub event_id: String,
    /// The run's CID and file name, for the outbox listing; none for a test.
    pub cid: Option<String>,
    pub filename: Option<String>,
    /// The JSON payload, exactly as it is sent: the webhook's body, and what the email is
    /// written from.
    pub body: String,
}

/// What a message is about, read back from its body.
pub enum Payload {
    Run(Box<Report>),
    Test(TestMessage),
}

/// The `notify-test` message: the payload's envelope with `event: "test"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestMessage {
    pub version: u32,
    pub event_id: String,
    pub event: Event,
    pub host: String,
    pub message: String,
    pub sent_at: String,
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
    pub fn get(&self, var: &str) -> Result<String, DeliveryError> {
        self.config
            .secret(var, self.config.defaults.env_file.as_deref())
            .ok_or_else(|| DeliveryError::MissingSecret { var: var.to_owned() })
    }
}

/// Delivers `message` through the channel called `name`, with that channel's retries.
pub fn deliver(config: &Config, name: &str, message: &Message) -> Result<(), DeliveryError> {
    let secrets = Secrets::new(config);
    match config.channels.get(name) {
        Some(Channel::Webhook(hook)) => webhook::deliver(hook, message, &secrets),
        Some(Channel::Email(mail)) => email::deliver(mail, message, &secrets),
        None => Err(DeliveryError::UnknownChannel(name.to_owned())),
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
        Message {
            event: report.event,
            event_id: report.event_id.clone(),
            cid: Some(report.cid.clone()),
            filename: Some(report.filename.clone()),
            body: report.to_json(),
        }
    }

    /// The `notify-test` message.
    pub fn test() -> Message {
        let host = crate::report::host();
        let test = TestMessage {
            version: PAYLOAD_VERSION,
            event_id: uuid::Uuid::new_v4().to_string(),
            event: Event::Test,
            message: format!("test message from ftptrigger {} on {host}", env!("CARGO_PKG_VERSION")),
            host,
            sent_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let body = serde_json::to_string(&test).unwrap_or_default();
        Message { event: Event::Test, event_id: test.event_id, cid: None, filename: None, body }
    }

    /// The payload the body holds: a run's report, or the test message.
    pub fn payload(&self) -> Result<Payload, serde_json::Error> {
        Ok(match self.event {
            Event::Test => Payload::Test(serde_json::from_str(&self.body)?),
            Event::RunSucceeded | Event::RunFailed => Payload::Run(serde_json::from_str(&self.body)?),
        })
    }
}

/// How long one delivery through `channel` may take at worst: the outbox claim lasts this
/// long, so a flush never sends what a live run is still sending.
pub fn worst_case(config: &Config, channel: &str) -> Duration {
    let margin = Duration::from_secs(60);
    match config.channels.get(channel) {
        Some(Channel::Webhook(hook)) => {
            hook.timeout * (hook.retries + 1) + webhook::backoff(hook).longest_pauses() + margin
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
    let results: Vec<(i64, String, Result<(), DeliveryError>)> = std::thread::scope(|scope| {
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
                Ok(()) => log::info!("notified {channel} ({})", message.event.name()),
                Err(e) => log::info!("could not notify {channel}: {e}"),
            }
            let recorded = journal.attempted(id, &result);
            let result = match (result, recorded) {
                (Ok(()), Err(e)) => Err(format!("delivered, but not marked so: {e}")),
                (result, _) => result.map_err(|e| e.to_string()),
            };
            (channel, result)
        })
        .collect()
}

/// Notifies the channels that should hear about `report`, then about the runs found
/// interrupted on the way (their reports in `reaped`). Returns a line per failed delivery.
pub fn after_run(journal: &mut Journal, config: &Config, report: &Report, reaped: &[Report]) -> Vec<String> {
    let mut notices = notify(journal, config, report);
    notices.extend(notify_reaped(journal, config, reaped));
    notices
}

/// Notifies the channels of each run found interrupted (the rule's, else `[defaults]`).
pub fn notify_reaped(journal: &mut Journal, config: &Config, reaped: &[Report]) -> Vec<String> {
    reaped.iter().flat_map(|report| notify(journal, config, report)).collect()
}

/// Tells the channels that should hear about how `report`'s run ended, if its outcome is one
/// they hear about; a line per failed delivery.
fn notify(journal: &mut Journal, config: &Config, report: &Report) -> Vec<String> {
    if !report.outcome.notifies() {
        return Vec::new();
    }
    let channels = channels_for(config, report.rule.as_deref(), report.outcome.is_ok(), false);
    failures(send_all(journal, config, report.run_id, channels, &Message::from_report(report))).collect()
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
    let results: Vec<(&String, Result<(), DeliveryError>)> = std::thread::scope(|scope| {
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
