//! The outbox's rows in the journal: writing a delivery, claiming it, recording each attempt,
//! and reading back what is left. Every query of the `outbox` table is here.

use std::time::Duration;

use serde::Serialize;

use crate::journal::db::{DbError, Param, Row, Statements, Tx, args};
use crate::journal::{Journal, JournalError, now_ms};
use crate::notify::{DeliveryError, Message};

/// Deliveries still pending after this long are given up and marked dead.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 86400);

/// Where a delivery stands (the `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not delivered yet: a run or `outbox flush` will try it.
    Pending,
    Delivered,
    /// Given up on: pending for too long, or refused in a way no later try can mend. Listed,
    /// never sent.
    Dead,
}

crate::named::by_name!(State, "a delivery state", {
    Pending => "pending",
    Delivered => "delivered",
    Dead => "dead",
});

/// One row of the outbox: a message for one channel and how its delivery stands.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub run_id: Option<i64>,
    pub channel: String,
    /// Where an event callback goes (its channel is `event:<subscription>`); none for a
    /// channel of the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(flatten)]
    pub message: Message,
    pub state: State,
    /// Every attempt to reach the receiver over all its deliveries (see [`crate::notify::Tried`]):
    /// a run's, then each flush's.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    /// A sender holds it until then (a run or a flush is delivering it now).
    pub claimed_until_ms: Option<i64>,
}

impl Delivery {
    /// Where this delivery goes.
    pub fn route(&self) -> crate::notify::Route<'_> {
        match &self.target {
            Some(url) => crate::notify::Route::Callback(url),
            None => crate::notify::Route::Channel(&self.channel),
        }
    }

    /// Reads a row of `SELECT *` by column name, so the query and the fields cannot fall out
    /// of step.
    fn read(r: &Row) -> Result<Delivery, DbError> {
        let message = Message {
            event: r.named("event")?,
            event_id: r.named("event_id")?,
            cid: r.named("cid")?,
            filename: r.named("filename")?,
            body: r.named("payload")?,
        };
        Ok(Delivery {
            id: r.named("id")?,
            run_id: r.named("run_id")?,
            channel: r.named("channel")?,
            target: r.named("target")?,
            message,
            state: r.named("state")?,
            attempts: r.named("attempts")?,
            last_error: r.named("last_error")?,
            created_ms: r.named("created_ms")?,
            claimed_until_ms: r.named("claimed_until_ms")?,
        })
    }
}

/// What an attempt at a delivery came to, as the outbox records it.
#[derive(Debug, Clone, Copy)]
pub enum Attempted<'e> {
    Delivered,
    /// Failed; it stays pending for another try.
    Kept(&'e DeliveryError),
    /// Failed in a way no later try can mend: it is dead.
    GivenUp(&'e DeliveryError),
}

/// The outbox table of a journal.
pub struct Outbox<'j> {
    journal: &'j Journal,
}

impl<'j> Outbox<'j> {
    pub fn of(journal: &'j Journal) -> Outbox<'j> {
        Outbox { journal }
    }

    /// Writes a delivery for `channel` (to `target`, for an event callback), already claimed by
    /// the caller for `lease`, and returns its id.
    pub fn enqueue(
        &self,
        run_id: Option<i64>,
        channel: &str,
        target: Option<&str>,
        message: &Message,
        lease: Duration,
    ) -> Result<i64, JournalError> {
        let now = now_ms();
        self.write(|tx| {
            tx.insert(
                "INSERT INTO outbox (run_id, channel, target, event, event_id, cid, filename, payload, state,
                                     attempts, created_ms, claimed_until_ms)
                 VALUES (?1, ?2, ?11, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10) RETURNING id",
                &args![
                    run_id,
                    channel,
                    message.event,
                    message.event_id,
                    message.cid,
                    message.filename,
                    message.body,
                    State::Pending,
                    now,
                    now + lease.as_millis() as i64,
                    target
                ],
            )
        })
    }

    /// Claims a pending delivery for `lease`; false when it is delivered, dead, or another
    /// process holds an unexpired claim.
    pub fn claim(&self, id: i64, lease: Duration) -> Result<bool, JournalError> {
        let now = now_ms();
        let claimed = self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET claimed_until_ms = ?3
                 WHERE id = ?1 AND state = ?4 AND (claimed_until_ms IS NULL OR claimed_until_ms < ?2)",
                &args![id, now, now + lease.as_millis() as i64, State::Pending],
            )
        });
        claimed.map(|n| n == 1)
    }

    /// Records a delivery that made `attempts` attempts, and releases the claim.
    pub fn attempted(&self, id: i64, attempt: Attempted<'_>, attempts: u32) -> Result<(), JournalError> {
        let now = now_ms();
        let (state, error, delivered_ms) = match attempt {
            Attempted::Delivered => (State::Delivered, None, Some(now)),
            Attempted::Kept(e) => (State::Pending, Some(e.to_string()), None),
            Attempted::GivenUp(e) => (State::Dead, Some(e.to_string()), None),
        };
        let recorded = self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = ?2, attempts = attempts + ?5, last_error = ?3, delivered_ms = ?4,
                                   claimed_until_ms = NULL
                 WHERE id = ?1",
                &args![id, state, error, delivered_ms, attempts],
            )
        });
        recorded.map(|_| ())
    }

    /// Deliveries not yet delivered, oldest first: pending ones, and dead ones when asked.
    pub fn undelivered(&self, with_dead: bool) -> Result<Vec<Delivery>, JournalError> {
        // `state = ?1` alone, not a list, lets SQLite use the partial index of pending rows:
        // delivered ones are never removed, so a flush would otherwise read them all.
        let (sql, dead) = if with_dead {
            ("SELECT * FROM outbox WHERE state IN (?1, ?2) ORDER BY id", Some(State::Dead))
        } else {
            ("SELECT * FROM outbox WHERE state = ?1 ORDER BY id", None)
        };
        let args: Vec<_> = [Some(State::Pending), dead].into_iter().flatten().map(|s| s.value()).collect();
        let read = || -> Result<Vec<Delivery>, DbError> {
            self.journal.db().query(sql, &args)?.iter().map(Delivery::read).collect()
        };
        read().map_err(|e| self.journal.read_error(e))
    }

    /// Marks pending deliveries older than [`GIVE_UP_AFTER`] dead; returns how many.
    pub fn give_up_old(&self) -> Result<usize, JournalError> {
        let cutoff = now_ms() - GIVE_UP_AFTER.as_millis() as i64;
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = ?2 WHERE state = ?3 AND created_ms < ?1",
                &args![cutoff, State::Dead, State::Pending],
            )
        })
        .map(|n| n as usize)
    }

    fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, DbError>) -> Result<T, JournalError> {
        self.journal.write(f).map_err(|e| self.journal.write_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Event;

    /// `outbox --json` shows a delivery with the message's fields in line and in place, and
    /// without the payload (the run's report, which `history` shows).
    #[test]
    fn a_delivery_is_listed_with_its_message_in_line_and_no_payload() {
        let message = Message {
            event: Event::RunFailed,
            event_id: "e-1".into(),
            cid: Some("acme".into()),
            filename: Some("a.zip".into()),
            body: "{\"secret\":\"payload\"}".into(),
        };
        let delivery = Delivery {
            id: 3,
            run_id: Some(7),
            channel: "hook".into(),
            target: None,
            message,
            state: State::Pending,
            attempts: 4,
            last_error: Some("HTTP 503 (after 4 attempts)".into()),
            created_ms: 1000,
            claimed_until_ms: None,
        };
        assert_eq!(
            serde_json::to_string(&delivery).expect("serializes"),
            "{\"id\":3,\"run_id\":7,\"channel\":\"hook\",\"event\":\"run.failed\",\"event_id\":\"e-1\",\
             \"cid\":\"acme\",\"filename\":\"a.zip\",\"state\":\"pending\",\"attempts\":4,\
             \"last_error\":\"HTTP 503 (after 4 attempts)\",\"created_ms\":1000,\"claimed_until_ms\":null}"
        );
    }
}
