//! Sending through the outbox: each delivery is written before its first attempt and marked
//! when done, so a channel that is down, or a crash mid-send, loses nothing; `outbox flush`
//! retries what is left, claiming each row so two senders never send one twice.

use crate::config::Config;
use crate::events;
use crate::journal::{Journal, JournalError};
use crate::notify::{self, DeliveryError, Message, Route};
use crate::report::Report;

use super::store::{Attempted, Outbox};

/// Which failed deliveries stay pending for another try.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// Every one: after a run, whose operator has just been told that the message waits in
    /// the outbox and may yet mend the channel (a URL, a secret) before the next flush.
    Every,
    /// Those a later try may deliver unchanged; a flush that meets a refusal again gives up.
    Retryable,
}

impl Keep {
    fn verdict(self, result: &Result<(), DeliveryError>) -> Attempted<'_> {
        match (result, self) {
            (Ok(()), _) => Attempted::Delivered,
            (Err(e), Keep::Retryable) if !e.retry_later() => Attempted::GivenUp(e),
            (Err(e), _) => Attempted::Kept(e),
        }
    }
}

/// Notifies the channels that should hear about `report`, then about the runs found
/// interrupted on the way (their reports in `reaped`). Returns a line per failed delivery.
pub fn after_run(journal: &mut Journal, config: &Config, report: &Report, reaped: &[Report]) -> Vec<String> {
    let mut notices = notify(journal, config, report);
    notices.extend(notify_reaped(journal, config, reaped));
    notices
}

/// Notifies the channels of each run found interrupted (the rule's, else `[defaults]`).
fn notify_reaped(journal: &Journal, config: &Config, reaped: &[Report]) -> Vec<String> {
    reaped.iter().flat_map(|report| notify(journal, config, report)).collect()
}

/// One delivery to make: through a channel of the config, or to an event subscription's
/// callback URL (`target`).
struct Outgoing {
    channel: String,
    target: Option<String>,
    message: Message,
}

impl Outgoing {
    fn route(&self) -> Route<'_> {
        match &self.target {
            Some(url) => Route::Callback(url),
            None => Route::Channel(&self.channel),
        }
    }
}

/// Tells the channels that should hear how `report`'s run ended, and fires the event
/// subscriptions it matches; a line per failed delivery.
fn notify(journal: &Journal, config: &Config, report: &Report) -> Vec<String> {
    let message = Message::from_report(report);
    let mut outgoing: Vec<Outgoing> = notify::channels_for(config, report)
        .iter()
        .map(|channel| Outgoing { channel: channel.clone(), target: None, message: message.clone() })
        .collect();
    let mut lines = Vec::new();
    match events::Store::of(journal).fired_by(report) {
        Ok(fired) => outgoing.extend(fired.into_iter().map(|(sub, message)| Outgoing {
            channel: sub.channel(),
            target: Some(sub.action.callback_url),
            message,
        })),
        Err(e) => lines.push(format!("event subscriptions not read: {e}")),
    }
    if !outgoing.is_empty() {
        lines.extend(send_all(journal, config, report.run_id, &outgoing));
    }
    lines
}

/// Writes one delivery per destination to the outbox, then tries them all at once. Returns a
/// line per delivery that failed; those stay in the outbox for `outbox flush`. One that cannot
/// be written there (the journal refuses writes) is still tried, once, rather than dropped.
fn send_all(journal: &Journal, config: &Config, run_id: Option<i64>, outgoing: &[Outgoing]) -> Vec<String> {
    let outbox = Outbox::of(journal);
    let queued: Vec<(Result<i64, String>, &Outgoing)> = outgoing
        .iter()
        .map(|out| {
            let lease = notify::worst_case(config, out.route());
            let id = outbox.enqueue(run_id, &out.channel, out.target.as_deref(), &out.message, lease);
            (id.map_err(|e| e.to_string()), out)
        })
        .collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let sends: Vec<_> = queued
            .into_iter()
            .map(|(id, out)| {
                scope.spawn(move || (id, out, notify::deliver(config, out.route(), &out.message)))
            })
            .collect();
        sends.into_iter().filter_map(|s| s.join().ok()).collect()
    });
    let mut lines = Vec::new();
    for (id, out, tried) in results {
        let channel = out.channel.as_str();
        let notify::Tried { attempts, result } = tried;
        match &result {
            Ok(()) => log::info!("notified {channel} ({})", out.message.event.name()),
            Err(e) => log::info!("could not notify {channel}: {e}"),
        }
        if result.is_ok() {
            done_with(journal, channel);
        }
        let id = match id {
            Ok(id) => id,
            Err(unqueued) => {
                if let Err(e) = result {
                    lines.push(format!(
                        "notification to {channel} failed: {e}; and it could not be kept in the outbox \
                         ({unqueued}), so it is lost"
                    ));
                }
                continue;
            }
        };
        let recorded = outbox.attempted(id, Keep::Every.verdict(&result), attempts);
        let failed = |error: &dyn std::fmt::Display| {
            format!("notification to {channel} failed: {error}; it waits in the outbox")
        };
        match (result, recorded) {
            (Ok(()), Ok(())) => {}
            (Ok(()), Err(e)) => lines.push(failed(&format!("delivered, but not marked so: {e}"))),
            (Err(e), _) => lines.push(failed(&e)),
        }
    }
    lines
}

/// After a delivery along `channel` went through: a one-shot event subscription is done.
fn done_with(journal: &Journal, channel: &str) {
    if let Some(id) = events::subscription_of(channel)
        && let Err(e) = events::Store::of(journal).delivered(id)
    {
        log::info!("event subscription {id} was delivered but not removed: {e}");
    }
}

/// What `outbox flush` did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub delivered: usize,
    /// A line per delivery that failed again, given up on (as refused for good) or not.
    pub failed: Vec<String>,
    /// Deliveries given up on because they were pending too long.
    pub expired: usize,
    pub remaining: usize,
    /// Trouble notifying runs found interrupted.
    pub notices: Vec<String>,
}

/// Retries every pending delivery, oldest first, each claimed so that a concurrent flush or
/// a live run never sends it too. One whose channel refuses it for good is given up on.
pub fn flush(journal: &mut Journal, config: &Config) -> Result<Flushed, JournalError> {
    // Runs kept in the spool while a shared journal was out of reach are written first.
    let mut notices = crate::journal::spool::replay(journal, config);
    // A run killed outright is otherwise found only by the next upload; cron finds it here.
    let reaped = journal.reap_interrupted()?;
    notices.extend(notify_reaped(journal, config, &reaped));
    let outbox = Outbox::of(journal);
    let mut done = Flushed { expired: outbox.give_up_old()?, notices, ..Flushed::default() };
    for pending in outbox.undelivered(false)? {
        if !outbox.claim(pending.id, notify::worst_case(config, pending.route()))? {
            continue;
        }
        let notify::Tried { attempts, result } = notify::deliver(config, pending.route(), &pending.message);
        let verdict = Keep::Retryable.verdict(&result);
        outbox.attempted(pending.id, verdict, attempts)?;
        let Err(e) = &result else {
            done_with(journal, &pending.channel);
            done.delivered += 1;
            continue;
        };
        let mut line = format!("{} (delivery {}): {e}", pending.channel, pending.id);
        if let Attempted::GivenUp(_) = verdict {
            line.push_str("; retrying cannot help, so it is dead");
        }
        done.failed.push(line);
    }
    done.remaining = outbox.undelivered(false)?.len();
    Ok(done)
}
