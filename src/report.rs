//! The result of one run: the `--json` object and the payload every notification carries.
//!
//! A [`Report`] is typed from start to end and becomes JSON only where it leaves the program:
//! `--json`, the webhook body, the journal's `report` column and `history --json`. What comes
//! back from the journal or the outbox is read into the same types.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::exec::{Finished, Job};
use crate::outcome::{Failure, Outcome};

/// Version of the payload's shape; bumped only for incompatible changes.
pub const PAYLOAD_VERSION: u32 = 1;

/// A run's result. Its outcome is an [`Outcome`] for a run's own result; the journal shows
/// runs with a `journal::State` there instead, since a run under way has none yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report<O = Outcome> {
    pub version: u32,
    pub event_id: String,
    pub event: Event,
    pub host: String,
    pub run_id: Option<i64>,
    pub cid: String,
    pub file: String,
    pub filename: String,
    pub size: Option<u64>,
    pub md5: DigestPair,
    /// Only when the sender's digest was a SHA-256; the MD5 is made and shown all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<DigestPair>,
    pub rule: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outcome: O,
    /// Unknown (null) for a run whose ftptrigger died without recording how it ended.
    pub exit_code: Option<u8>,
    pub message: String,
    pub process: Option<Process>,
    /// Where `on_success` / `on_failure` moved the file, absolute; absent when it stayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    /// Not serialized: the exact bytes of the file name (JSON holds a lossy copy). Empty in a
    /// report read back from JSON.
    #[serde(skip)]
    pub filename_raw: Vec<u8>,
}

/// What a notification is about: the payload's `event` and the `X-Ftptrigger-Event` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    RunSucceeded,
    RunFailed,
    /// `notify-test`.
    Test,
}

impl Event {
    /// The event a run that ended with `outcome` sends.
    pub fn of(outcome: Outcome) -> Event {
        if outcome.is_ok() { Event::RunSucceeded } else { Event::RunFailed }
    }
}

// In the payload, the `X-Ftptrigger-Event` header and the outbox's `event` column, by name.
crate::named::by_name!(Event, "an event", {
    RunSucceeded => "run.succeeded",
    RunFailed => "run.failed",
    Test => "test",
});

/// The digest the sender claimed, and the file's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DigestPair {
    pub expected: Option<String>,
    pub actual: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    pub argv: Vec<String>,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub output_tail: String,
}

impl Process {
    pub fn new(job: &Job, finished: Option<&Finished>) -> Process {
        Process {
            argv: job.argv().iter().map(|a| lossy(a)).collect(),
            status: finished.and_then(|f| f.status),
            signal: finished.and_then(|f| f.signal),
            duration_ms: finished.map_or(0, |f| f.duration.as_millis() as u64),
            output_tail: finished.map(|f| f.tail.clone()).unwrap_or_default(),
        }
    }
}

impl Report {
    /// A report for a run that is starting: everything but the outcome. Until [`Report::finish`]
    /// it reads as a success; the journal's row says `running` meanwhile, and that is what
    /// `history` shows.
    pub fn start(cid: &str, file: &OsStr, filename: &OsStr) -> Report {
        let now = SystemTime::now();
        Report {
            version: PAYLOAD_VERSION,
            event_id: uuid::Uuid::new_v4().to_string(),
            event: Event::RunSucceeded,
            host: host(),
            run_id: None,
            cid: cid.to_owned(),
            file: lossy(file),
            filename: lossy(filename),
            size: None,
            md5: DigestPair::default(),
            sha256: None,
            rule: None,
            tags: BTreeMap::new(),
            outcome: Outcome::Success,
            exit_code: Some(0),
            message: String::new(),
            process: None,
            moved_to: None,
            started_at: timestamp(now),
            finished_at: timestamp(now),
            filename_raw: filename.as_bytes().to_vec(),
        }
    }

    /// Records how the run ended.
    pub fn finish(&mut self, result: Result<String, Failure>) {
        let (outcome, message) = match result {
            Ok(message) => (Outcome::Success, message),
            // A skipped duplicate ends well: its message is news, not an error.
            Err(failure) if failure.outcome.is_ok() => (failure.outcome, failure.detail),
            Err(failure) => (failure.outcome, failure.to_string()),
        };
        self.outcome = outcome;
        self.exit_code = Some(outcome.code());
        self.event = Event::of(outcome);
        self.message = message;
        self.finished_at = timestamp(SystemTime::now());
    }

    pub fn filename_bytes(&self) -> &[u8] {
        &self.filename_raw
    }
}

impl<O: Serialize> Report<O> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }
}

/// JSON has no room for bytes that are not UTF-8; those become U+FFFD there (the job itself
/// always gets the exact bytes).
fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

pub fn host() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_out_and_come_back_by_name() {
        for (event, json) in [
            (Event::RunSucceeded, "\"run.succeeded\""),
            (Event::RunFailed, "\"run.failed\""),
            (Event::Test, "\"test\""),
        ] {
            assert_eq!(serde_json::to_string(&event).expect("serializes"), json);
            assert_eq!(serde_json::from_str::<Event>(json).expect("deserializes"), event);
        }
        let unknown = serde_json::from_str::<Event>("\"run.started\"").expect_err("not an event");
        assert!(unknown.to_string().contains("an event ftptrigger does not know"), "{unknown}");
    }

    /// What goes into the journal comes back the same, down to the bytes it is written as.
    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let mut report = Report::start("acme", OsStr::new("/srv/ftp/acme/a.zip"), OsStr::new("a.zip"));
        report.run_id = Some(7);
        report.tags.insert("product".into(), "statements".into());
        report.md5.expected = Some("0".repeat(32));
        report.finish(Err(Failure::new(Outcome::Interrupted(15), "got SIGTERM")));
        let json = report.to_json();
        assert!(!json.contains("sha256"), "no SHA-256 pair without a SHA-256: {json}");
        let back: Report = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.outcome.name(), "interrupted");
        assert_eq!(back.exit_code, Some(143));
        assert_eq!(back.to_json(), json);

        report.sha256 = Some(DigestPair { expected: Some("e".repeat(64)), actual: None });
        let json = report.to_json();
        assert!(
            json.contains(
                r#""md5":{"expected":"00000000000000000000000000000000","actual":null},"sha256":{"#
            )
        );
        let back: Report = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.sha256.and_then(|pair| pair.expected), Some("e".repeat(64)));
    }
}
