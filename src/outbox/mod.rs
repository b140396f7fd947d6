//! The outbox: notifications written to the journal before their first attempt and kept
//! until delivered, so a channel that is down, or a crash mid-send, loses nothing. This module
//! owns the `outbox` command; its rows live in `store`, sending through it in `send`.

mod send;
mod store;

use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::display::escape_str;
use crate::journal::now_ms;
use crate::outcome::{Failure, Outcome};
use crate::output::{notice, print_out};

pub use send::{Flushed, after_run, flush};
pub use store::{Delivery, GIVE_UP_AFTER, Outbox, State};

/// How much `outbox` says besides the table.
#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    pub quiet: bool,
    pub json: bool,
}

/// `outbox list` prints what waits, and exits 0 once it has: pending deliveries are what it
/// lists, not a failure. `outbox flush` first retries them (and notifies runs found
/// interrupted), and exits 0 when every delivery it tried went through; else
/// `delivery_failed` (4), each failure said on stderr. What another flush or a live run is
/// sending meanwhile is theirs to report.
pub fn command(config: &Config, flush: bool, say: Verbosity) -> Result<u8, Failure> {
    let Some(mut journal) = crate::journal::open_existing(config)? else {
        if !say.json && !say.quiet {
            print_out("outbox is empty\n");
        }
        return Ok(0);
    };
    let mut failed = false;
    if flush {
        let done = send::flush(&mut journal, config).map_err(crate::journal::failure)?;
        for line in done.failed.iter().chain(&done.notices) {
            notice(line);
        }
        if done.expired > 0 {
            notice(&format!("gave up on {} deliveries pending for over 7 days: they are dead", done.expired));
        }
        if !say.quiet && !say.json {
            notice(&format!("delivered {}, still pending {}", done.delivered, done.remaining));
        }
        failed = !done.failed.is_empty() || !done.notices.is_empty() || done.expired > 0;
    }
    let rows = Outbox::of(&journal).undelivered(true).map_err(crate::journal::failure)?;
    if say.json {
        print_out(&json_lines(&rows));
    } else if !say.quiet && (!flush || !rows.is_empty()) {
        // -q is for cron: what failed was said on stderr already.
        print_out(&table(&rows, crate::history::terminal_width()));
    }
    Ok(if failed { Outcome::DeliveryFailed.code() } else { 0 })
}

/// Deliveries as JSON lines, with their age in seconds.
pub fn json_lines(rows: &[Delivery]) -> String {
    /// A delivery as `outbox --json` shows it.
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        delivery: &'a Delivery,
        age_s: i64,
    }
    let now = now_ms();
    rows.iter()
        .map(|delivery| {
            let line = Line { delivery, age_s: (now - delivery.created_ms) / 1000 };
            format!("{}\n", serde_json::to_string(&line).unwrap_or_default())
        })
        .collect()
}

/// Deliveries as a table for people, the last error cut to fit the terminal.
pub fn table(rows: &[Delivery], width: Option<usize>) -> String {
    if rows.is_empty() {
        return "outbox is empty\n".to_owned();
    }
    const HEADER: [&str; 9] =
        ["ID", "STATE", "CHANNEL", "EVENT", "CID", "FILE", "ATTEMPTS", "AGE", "LAST ERROR"];
    let now = now_ms();
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|d| {
            let age = Duration::from_secs(((now - d.created_ms) / 1000).max(0) as u64);
            let sending = d.state == State::Pending && d.claimed_until_ms.is_some_and(|t| t > now);
            [
                d.id.to_string(),
                if sending { "sending" } else { d.state.name() }.to_owned(),
                d.channel.clone(),
                d.message.event.name().to_owned(),
                d.message.cid.as_deref().map_or_else(|| "-".to_owned(), escape_str),
                d.message.filename.as_deref().map_or_else(|| "-".to_owned(), escape_str),
                d.attempts.to_string(),
                humantime::format_duration(age).to_string(),
                d.last_error.as_deref().map_or_else(|| "-".to_owned(), escape_str),
            ]
        })
        .collect();
    crate::display::table(HEADER, &cells, 8, width)
}
