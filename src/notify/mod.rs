//! Telling people: which channels hear about a run, and delivering one message to one
//! channel (email, webhook) with that channel's retries. Keeping messages until they are
//! delivered is the outbox's business (`crate::outbox`).

pub mod email;
mod error;
mod oauth2;
pub mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Channel, Config};
use crate::outcome::Outcome;
use crate::report::{Event, PAYLOAD_VERSION, Report};

pub use error::DeliveryError;
// Runs and `scan` still ask for this here; it sends through the outbox, which owns it.

/// One notification for one channel, as stored in the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub event: Event,
    /// Same for every attempt of a delivery, so receivers can drop repeats.
    pub event_id: String,
    /// The run's CID and file name, for the outbox listing; none for a test.
    pub cid: Option<String>,
    pub filename: Option<String>,
    /// The JSON payload, exactly as it is sent: the webhook's body, and what the email is
    /// written from.
    #[serde(skip)]
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

/// How one delivery through a channel went.
#[derive(Debug)]
pub struct Tried {
    /// The attempts it made to reach the receiver: each HTTP request, retries included, or the
    /// hand-over of an email to the server or to sendmail. None when it failed before one
    /// could start (an unset secret, an unusable CA file).
    pub attempts: u32,
    pub result: Result<(), DeliveryError>,
}

/// Where a delivery goes: a channel of the config, or the callback URL of an event
/// subscription (whose deliveries the outbox files under the channel name `event:<id>`).
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    Channel(&'a str),
    Callback(&'a str),
}

/// The webhook an event callback to `url` goes through: signed with `[serve]
/// callback_secret_env` when set, with the retries and timeout of a webhook channel's defaults.
pub fn callback_hook(config: &Config, url: &str) -> crate::config::Webhook {
    crate::config::Webhook {
        url: url.to_owned(),
        secret_env: config.serve.callback_secret_env.clone(),
        bearer_token_env: None,
        headers: std::collections::BTreeMap::new(),
        timeout: Duration::from_secs(10),
        retries: 3,
        ca: None,
        oauth2: None,
    }
}

/// Delivers `message` along `route`, with the channel's retries.
pub fn deliver(config: &Config, route: Route<'_>, message: &Message) -> Tried {
    let secrets = Secrets::new(config);
    let name = match route {
        Route::Channel(name) => name,
        Route::Callback(url) => return webhook::deliver(&callback_hook(config, url), message, &secrets),
    };
    match config.channels.get(name) {
        Some(Channel::Webhook(hook)) => webhook::deliver(hook, message, &secrets),
        Some(Channel::Email(mail)) => {
            let result = email::deliver(mail, message, &secrets);
            // Only an answer from the server (or sendmail) means the hand-over was attempted.
            let attempted =
                matches!(&result, Ok(()) | Err(DeliveryError::Unavailable(_) | DeliveryError::Refused(_)));
            Tried { attempts: u32::from(attempted), result }
        }
        None => Tried { attempts: 0, result: Err(DeliveryError::UnknownChannel(name.to_owned())) },
    }
}

/// The channels to tell how `report`'s run ended: none for an outcome nobody hears about,
/// else those of the rule that matched (or of `[defaults]` when none did), for failures or
/// for successes.
pub fn channels_for<'c>(config: &'c Config, report: &Report) -> &'c [String] {
    if !report.outcome.notifies() {
        return &[];
    }
    let settings = (report.rule.as_deref())
        .and_then(|r| config.rules.iter().find(|x| x.name == r))
        .map_or(&config.defaults, |r| &r.settings);
    if report.outcome.is_ok() { &settings.notify_success } else { &settings.notify }
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

/// How long one delivery along `route` may take at worst: the outbox claim lasts this long,
/// so a flush never sends what a live run is still sending.
pub fn worst_case(config: &Config, route: Route<'_>) -> Duration {
    let margin = Duration::from_secs(60);
    let hook_worst = |hook: &crate::config::Webhook| {
        hook.timeout * webhook::most_requests(hook) + webhook::backoff(hook).longest_pauses() + margin
    };
    let channel = match route {
        Route::Channel(name) => name,
        Route::Callback(url) => return hook_worst(&callback_hook(config, url)),
    };
    match config.channels.get(channel) {
        Some(Channel::Webhook(hook)) => hook_worst(hook),
        Some(Channel::Email(mail)) => email::deadline(mail) + margin,
        None => margin,
    }
}

/// `notify-test`: an `event: "test"` message through each channel (or the one named), a line
/// each; exit 0 only if all went through, else `delivery_failed` (4).
pub fn test_command(config: &Config, only: Option<&str>, json: bool) -> Result<u8, crate::outcome::Failure> {
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
    let results: Vec<(&String, Tested)> = std::thread::scope(|scope| {
        let sends: Vec<_> =
            names.iter().map(|name| scope.spawn(|| (*name, test_one(config, name, &message)))).collect();
        sends.into_iter().filter_map(|s| s.join().ok()).collect()
    });
    let mut text = String::new();
    for (name, Tested { token, result }) in &results {
        match (json, result) {
            // --json: a line per channel, `{"channel": .., "ok": .., "error": ..}`, and
            // `"oauth2": {"token_url": .., "ok": ..}` for a channel that gets its token so.
            (true, _) => {
                #[derive(serde::Serialize)]
                struct Token<'a> {
                    token_url: &'a str,
                    ok: bool,
                }
                #[derive(serde::Serialize)]
                struct Line<'a> {
                    channel: &'a str,
                    ok: bool,
                    error: Option<String>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    oauth2: Option<Token<'a>>,
                }
                let error = result.as_ref().err().map(ToString::to_string);
                let oauth2 = token.map(|(token_url, ok)| Token { token_url, ok });
                let line = Line { channel: name, ok: result.is_ok(), error, oauth2 };
                text.push_str(&format!("{}\n", serde_json::to_string(&line).unwrap_or_default()));
            }
            (false, Ok(())) => match token {
                Some((url, _)) => text.push_str(&format!("{name}: OK (OAuth2 token from {url})\n")),
                None => text.push_str(&format!("{name}: OK\n")),
            },
            (false, Err(e)) => match token {
                Some((url, true)) => {
                    text.push_str(&format!("{name}: FAILED: {e} (OAuth2 token from {url}: OK)\n"));
                }
                _ => text.push_str(&format!("{name}: FAILED: {e}\n")),
            },
        }
    }
    crate::output::print_out(&text);
    Ok(if results.iter().all(|(_, t)| t.result.is_ok()) { 0 } else { Outcome::DeliveryFailed.code() })
}

/// How `notify-test` went through one channel.
struct Tested<'c> {
    /// For a webhook that gets its token by OAuth2: the token URL, and whether a token came
    /// (when none did, that is the error).
    token: Option<(&'c str, bool)>,
    result: Result<(), DeliveryError>,
}

/// `notify-test` through the channel `name`: for a webhook with OAuth2, a token first; the
/// test message only once one came.
fn test_one<'c>(config: &'c Config, name: &str, message: &Message) -> Tested<'c> {
    if let Some(Channel::Webhook(hook)) = config.channels.get(name)
        && let Some((url, got)) = oauth2::test(hook, &Secrets::new(config))
    {
        let came = got.is_ok();
        let result = got.and_then(|()| deliver(config, Route::Channel(name), message).result);
        return Tested { token: Some((url, came)), result };
    }
    Tested { token: None, result: deliver(config, Route::Channel(name), message).result }
}
