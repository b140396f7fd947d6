//! The outbox: deliveries written to the journal before their first attempt and marked when
//! done, so a channel that is down, or a crash mid-send, loses nothing. `outbox flush` retries
//! what is left, claiming each row so two flushes at once never send one twice.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::config::Config;
use crate::display::escape_str;
use crate::journal::{Journal, JournalError, now_ms};
use crate::notify;
use crate::notify::{DeliveryError, Message};
use crate::outcome::{Failure, Outcome};
use crate::output::{notice, print_out};
use crate::report::Event;

/// Deliveries still pending after this long are given up and marked dead.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 86400);

/// One row of the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub run_id: Option<i64>,
    pub channel: String,
    pub event: Event,
    pub event_id: String,
    pub cid: Option<String>,
    pub filename: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    /// A sender holds it until then (a run or a flush is delivering it now).
    pub claimed_until_ms: Option<i64>,
    #[serde(skip)]
    pub body: String,
}

impl Delivery {
    pub fn message(&self) -> Message {
        Message {
            event: self.event,
            event_id: self.event_id.clone(),
            cid: self.cid.clone(),
            filename: self.filename.clone(),
            body: self.body.clone(),
        }
    }
}

const COLUMNS: &str = "id, run_id, channel, event, event_id, cid, filename, state, attempts, last_error, \
                       created_ms, claimed_until_ms, payload";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        run_id: r.get(1)?,
        channel: r.get(2)?,
        event: r.get(3)?,
        event_id: r.get(4)?,
        cid: r.get(5)?,
        filename: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get(8)?,
        last_error: r.get(9)?,
        created_ms: r.get(10)?,
        claimed_until_ms: r.get(11)?,
        body: r.get(12)?,
    })
}

impl Journal {
    /// Writes a delivery for `channel`, already claimed by the caller for `lease`, and returns
    /// its id.
    pub fn enqueue(
        &mut self,
        run_id: Option<i64>,
        channel: &str,
        message: &Message,
        lease: Duration,
    ) -> Result<i64, JournalError> {
        let now = now_ms();
        let result = self.immediate(|tx| {
            tx.execute(
                "INSERT INTO outbox (run_id, channel, event, event_id, cid, filename, payload, state, attempts,
                                     created_ms, claimed_until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9)",
                params![
                    run_id,
                    channel,
                    message.event,
                    message.event_id,
                    message.cid,
                    message.filename,
                    message.body,
                    now,
                    now + lease.as_millis() as i64
                ],
            )?;
            Ok(tx.last_insert_rowid())
        });
        result.map_err(|e| self.write_error(e))
    }

    /// Claims a pending delivery for `lease`; false when it is delivered, dead, or another
    /// process holds an unexpired claim.
    pub fn claim(&mut self, id: i64, lease: Duration) -> Result<bool, JournalError> {
        let now = now_ms();
        let result = self.immediate(|tx| {
            tx.execute(
                "UPDATE outbox SET claimed_until_ms = ?3
                 WHERE id = ?1 AND state = 'pending' AND (claimed_until_ms IS NULL OR claimed_until_ms < ?2)",
                params![id, now, now + lease.as_millis() as i64],
            )
        });
        result.map(|n| n == 1).map_err(|e| self.write_error(e))
    }

    /// Records an attempt's result and releases the claim.
    pub fn attempted(&mut self, id: i64, result: &Result<(), DeliveryError>) -> Result<(), JournalError> {
        let now = now_ms();
        let done = self.immediate(|tx| match result {
            Ok(()) => tx.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_ms = ?2,
                                   last_error = NULL, claimed_until_ms = NULL WHERE id = ?1",
                params![id, now],
            ),
            Err(error) => tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, claimed_until_ms = NULL WHERE id = ?1",
                params![id, error.to_string()],
            ),
        });
        done.map(|_| ()).map_err(|e| self.write_error(e))
    }

    /// Deliveries not yet delivered, oldest first: pending ones, and dead ones when asked.
    pub fn undelivered(&self, with_dead: bool) -> Result<Vec<Delivery>, JournalError> {
        let states = if with_dead { "('pending', 'dead')" } else { "('pending')" };
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE state IN {states} ORDER BY id");
        let read = |e| self.write_error(e);
        let mut stmt = self.conn().prepare(&sql).map_err(read)?;
        let rows = stmt.query_map([], row).map_err(read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(read)
    }

    pub fn delivery(&self, id: i64) -> Result<Option<Delivery>, JournalError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
        self.conn().query_row(&sql, [id], row).optional().map_err(|e| self.write_error(e))
    }

    /// Marks pending deliveries older than [`GIVE_UP_AFTER`] dead; returns how many.
    pub fn give_up_old(&mut self) -> Result<usize, JournalError> {
        let cutoff = now_ms() - GIVE_UP_AFTER.as_millis() as i64;
        let result = self.immediate(|tx| {
            tx.execute(
                "UPDATE outbox SET state = 'dead' WHERE state = 'pending' AND created_ms < ?1",
                [cutoff],
            )
        });
        result.map_err(|e| self.write_error(e))
    }
}

/// How much `outbox` says besides the table.
#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    pub quiet: bool,
    pub json: bool,
}

/// `outbox list` prints what waits; `outbox flush` first retries it (and notifies runs found
/// interrupted). Exit 0 only when nothing is left pending and nothing was given up on.
pub fn command(config: &Config, flush: bool, say: Verbosity) -> Result<u8, Failure> {
    let Some(mut journal) = crate::journal::open_existing(config)? else {
        if !say.json {
            print_out("outbox is empty\n");
        }
        return Ok(0);
    };
    let mut given_up = 0;
    if flush {
        let done = notify::flush(&mut journal, config).map_err(crate::journal::failure)?;
        for line in done.failed.iter().chain(&done.notices) {
            notice(line);
        }
        if done.given_up > 0 {
            notice(&format!(
                "gave up on {} deliveries pending for over 7 days: they are dead",
                done.given_up
            ));
        }
        if !say.quiet && !say.json {
            notice(&format!("delivered {}, still pending {}", done.delivered, done.remaining));
        }
        given_up = done.given_up;
    }
    let rows = journal.undelivered(true).map_err(crate::journal::failure)?;
    if say.json {
        print_out(&json_lines(&rows));
    } else if !flush || !rows.is_empty() {
        print_out(&table(&rows, crate::history::terminal_width()));
    }
    let pending = rows.iter().any(|r| r.state == "pending");
    Ok(if pending || given_up > 0 { Outcome::InternalError.code() } else { 0 })
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
            let sending = d.state == "pending" && d.claimed_until_ms.is_some_and(|t| t > now);
            [
                d.id.to_string(),
                if sending { "sending".to_owned() } else { d.state.clone() },
                d.channel.clone(),
                d.event.name().to_owned(),
                d.cid.as_deref().map_or_else(|| "-".to_owned(), escape_str),
                d.filename.as_deref().map_or_else(|| "-".to_owned(), escape_str),
                d.attempts.to_string(),
                humantime::format_duration(age).to_string(),
                d.last_error.as_deref().map_or_else(|| "-".to_owned(), escape_str),
            ]
        })
        .collect();
    crate::display::table(HEADER, &cells, 8, width)
}
