//! The result of one run: the `--json` object and the payload every notification carries.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use serde::Serialize;

use crate::exec::{Finished, Job};
use crate::outcome::{Failure, Outcome};

/// Version of the payload's shape; bumped only for incompatible changes.
pub const PAYLOAD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub event_id: String,
    pub event: &'static str,
    pub host: String,
    pub run_id: Option<i64>,
    pub cid: String,
    pub file: String,
    pub filename: String,
    pub size: Option<u64>,
    pub md5: Md5Pair,
    pub rule: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outcome: Outcome,
    pub exit_code: u8,
    pub message: String,
    pub process: Option<Process>,
    pub started_at: String,
    pub finished_at: String,
    /// Not serialized: the exact bytes of the file name (JSON holds a lossy copy).
    #[serde(skip)]
    pub filename_raw: Vec<u8>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Md5Pair {
    pub expected: Option<String>,
    pub actual: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
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
    /// A report for a run that is starting: everything but the outcome.
    pub fn start(cid: &str, file: &OsStr, filename: &OsStr) -> Report {
        let now = SystemTime::now();
        Report {
            version: PAYLOAD_VERSION,
            event_id: uuid::Uuid::new_v4().to_string(),
            event: "run.succeeded",
            host: host(),
            run_id: None,
            cid: cid.to_owned(),
            file: lossy(file),
            filename: lossy(filename),
            size: None,
            md5: Md5Pair::default(),
            rule: None,
            tags: BTreeMap::new(),
            outcome: Outcome::Success,
            exit_code: 0,
            message: String::new(),
            process: None,
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
        self.exit_code = outcome.code();
        self.event = if outcome.is_ok() { "run.succeeded" } else { "run.failed" };
        self.message = message;
        self.finished_at = timestamp(SystemTime::now());
    }

    pub fn filename_bytes(&self) -> &[u8] {
        &self.filename_raw
    }

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
