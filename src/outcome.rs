//! The outcomes of an invocation: one table of exit codes, names, meanings and what each means
//! for the file and the channels.
//!
//! Everything that decides how `ftptrigger` ends goes through [`Outcome`], and everything said
//! about an outcome comes from its row in [`TABLE`]: the exit code an FTP server's hook sees,
//! the name in the JSON result, the journal and notifications, `--help` and the man page. So
//! they can never disagree.

use std::fmt;

/// How an outcome sets the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Exit(u8),
    /// 128 + the number of the signal that stopped ftptrigger, as shells report death by it.
    Signal,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Exit(code) => f.pad(&code.to_string()),
            Code::Signal => f.pad("128+n"),
        }
    }
}

/// One outcome's row of [`TABLE`].
#[derive(Debug)]
pub struct Row {
    pub code: Code,
    /// The name in the JSON result, the journal and notifications.
    pub name: &'static str,
    /// One line for people: `--help` and the man page.
    pub meaning: &'static str,
    /// The run did not do what it was asked: `run.failed`, the rule's `notify` channels rather
    /// than `notify_success`, `history --failed`.
    pub failure: bool,
    /// The same file, unchanged, would only end the same way again, so `scan` leaves it alone
    /// until it changes. Busy, interrupted and internal errors are worth another try.
    pub settles: bool,
    /// The channels hear about a run that ends so.
    pub notifies: bool,
    /// The HTTP status `serve` answers a run that ends so.
    pub http: u16,
    /// Which of the rule's `on_success` / `on_failure` acts on the upload afterwards.
    pub after: After,
}

/// Which lifecycle action follows an outcome (see [`crate::lifecycle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Nothing: the file stays (it was not the upload's fault, or not one to act on).
    Leave,
    OnSuccess,
    OnFailure,
    /// `on_failure`, when the run ended for the file's content type; else nothing.
    OnFailureOfContent,
}

/// Declares [`Outcome`] and [`TABLE`] from one list, so no outcome can exist without its
/// exit code, name and meaning, and the table's order is the declaration's.
macro_rules! outcomes {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident $(($field:ty))? => $code:expr, $name:literal,
            failure: $failure:literal, settles: $settles:literal, notifies: $notifies:literal,
            http: $http:literal, after: $after:ident, $meaning:expr;
    )*) => {
        /// How an invocation ended. The exit codes are a stable contract (see `shared/SPEC.md`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Outcome {
            $( $(#[doc = $doc])* $variant $(($field))?, )*
        }

        /// Every outcome's row, in the SPEC's order.
        pub const TABLE: &[Row] = &[
            $( Row {
                code: $code,
                name: $name,
                meaning: $meaning,
                failure: $failure,
                settles: $settles,
                notifies: $notifies,
                http: $http,
                after: After::$after,
            }, )*
        ];

        /// Each variant's index in [`TABLE`].
        #[repr(usize)]
        enum Position {
            $( $variant, )*
        }

        impl Outcome {
            /// This outcome's row of [`TABLE`].
            pub fn row(self) -> &'static Row {
                let position = match self {
                    $( Outcome::$variant { .. } => Position::$variant, )*
                };
                &TABLE[position as usize]
            }

            /// Every outcome, in the table's order; `Interrupted` stands for all signals, as 0.
            pub fn all() -> impl Iterator<Item = Outcome> {
                [ $( Outcome::$variant $((<$field>::default()))?, )* ].into_iter()
            }
        }
    };
}

outcomes! {
    Success => Code::Exit(0), "success", failure: false, settles: true, notifies: true, http: 200, after: OnSuccess,
        "the command ran and exited 0 (or --dry-run found nothing wrong)";
    DuplicateSkipped => Code::Exit(0), "duplicate_skipped", failure: false, settles: true, notifies: false, http: 200, after: Leave,
        "this CID, file name and MD5 already succeeded before; nothing ran (--force runs it anyway)";
    InternalError => Code::Exit(1), "internal_error", failure: true, settles: false, notifies: false, http: 500, after: Leave,
        "unexpected failure (an I/O error, a bug); the message says what";
    Usage => Code::Exit(2), "usage", failure: true, settles: false, notifies: false, http: 400, after: Leave,
        "bad arguments, or a malformed --md5 or --sha256 value";
    ScanFailed => Code::Exit(3), "scan_failed", failure: true, settles: false, notifies: false, http: 500, after: Leave,
        "scan only: at least one file failed";
    /// A notification that `notify-test` or `outbox flush` sent did not go through; never the
    /// outcome of a run, whose exit code notification trouble does not change.
    DeliveryFailed => Code::Exit(4), "delivery_failed", failure: true, settles: false, notifies: false, http: 500, after: Leave,
        "notify-test, outbox flush: a notification was not delivered (each failure is reported; \
         outbox flush leaves it in the outbox, or gives it up as dead)";
    ConfigError => Code::Exit(10), "config_error", failure: true, settles: false, notifies: false, http: 500, after: Leave,
        "the config is missing, unreadable, invalid, writable by others, or owned by another user";
    NotConfigured => Code::Exit(11), "not_configured", failure: true, settles: true, notifies: true, http: 400, after: Leave,
        "the CID and file name combination is not set up for processing";
    Md5Mismatch => Code::Exit(12), "md5_mismatch", failure: true, settles: true, notifies: true, http: 400, after: OnFailure,
        "the MD5 (or SHA-256) given does not match the file's";
    BadFile => Code::Exit(13), "bad_file", failure: true, settles: true, notifies: true, http: 400, after: OnFailureOfContent,
        "the file is missing, unreadable, not a regular file, a symlink, outside the CID's root, \
         changed while being verified, or of a content type the rule does not accept; or its MD5 or \
         SHA-256 sidecar is unreadable, malformed, or gives it two different digests";
    ProcessFailed => Code::Exit(14), "process_failed", failure: true, settles: true, notifies: true, http: 500, after: OnFailure,
        "the command exited non-zero, was killed by a signal, or could not start";
    TimedOut => Code::Exit(15), "timed_out", failure: true, settles: true, notifies: true, http: 500, after: OnFailure,
        "the command ran past its timeout and its whole process group was killed";
    Busy => Code::Exit(16), "busy", failure: true, settles: false, notifies: true, http: 409, after: Leave,
        "another run of the same CID and file holds the lock";
    /// `ftptrigger` itself received this signal number.
    Interrupted(i32) => Code::Signal, "interrupted", failure: true, settles: false, notifies: true, http: 503, after: Leave,
        "ftptrigger itself got signal n (TERM, INT, HUP)";
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self.row().code {
            Code::Exit(code) => code,
            // A wrapper that re-raises the signal reports the same 128+n a shell would.
            Code::Signal => u8::try_from(128 + self.signal().clamp(1, 127)).unwrap_or(255),
        }
    }

    /// The signal that stopped ftptrigger, for `Interrupted`; 0 for every other outcome.
    fn signal(self) -> i32 {
        match self {
            Outcome::Interrupted(signal) => signal,
            _ => 0,
        }
    }

    /// The name used in the JSON result, the journal and notifications.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The outcome called `name`. A name carries no signal number: an `interrupted` read back
    /// has signal 0 (the exit code, when it is known, is recorded beside the name).
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::all().find(|outcome| outcome.name() == name)
    }

    /// True for the outcomes that mean the run did what it was asked.
    pub fn is_ok(self) -> bool {
        !self.row().failure
    }

    /// True when the same file, unchanged, would only end the same way again.
    pub fn settles(self) -> bool {
        self.row().settles
    }

    /// True when the channels hear about a run that ends so.
    pub fn notifies(self) -> bool {
        self.row().notifies
    }

    /// The HTTP status `serve` answers a run that ends so.
    pub fn http_status(self) -> u16 {
        self.row().http
    }

    /// Which lifecycle action follows a run that ends so.
    pub fn after(self) -> After {
        self.row().after
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// In JSON and in the journal, by name.
crate::named::by_name!(Outcome, "an outcome");

/// The exit code table for `--help`: a code and a name a line (the man page has the meanings).
pub fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:");
    for row in TABLE {
        text.push_str(&format!("\n  {:<6} {}", row.code, row.name));
    }
    text.push_str("\nftptrigger(1) says what each means.");
    text
}

/// An outcome with the one-line message that explains it, e.g.
/// `ERROR[12]: MD5 … does not match the file's MD5 … after transfer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub outcome: Outcome,
    pub detail: String,
}

impl Failure {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Failure { outcome, detail: detail.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR[{}]: {}", self.outcome.code(), self.detail)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins every exit code of the SPEC's table: changing one breaks hooks in the field.
    #[test]
    fn exit_codes_match_the_spec() {
        let pinned = [
            (Outcome::Success, 0, "success"),
            (Outcome::DuplicateSkipped, 0, "duplicate_skipped"),
            (Outcome::InternalError, 1, "internal_error"),
            (Outcome::Usage, 2, "usage"),
            (Outcome::ScanFailed, 3, "scan_failed"),
            (Outcome::DeliveryFailed, 4, "delivery_failed"),
            (Outcome::ConfigError, 10, "config_error"),
            (Outcome::NotConfigured, 11, "not_configured"),
            (Outcome::Md5Mismatch, 12, "md5_mismatch"),
            (Outcome::BadFile, 13, "bad_file"),
            (Outcome::ProcessFailed, 14, "process_failed"),
            (Outcome::TimedOut, 15, "timed_out"),
            (Outcome::Busy, 16, "busy"),
            (Outcome::Interrupted(15), 143, "interrupted"),
            (Outcome::Interrupted(2), 130, "interrupted"),
            (Outcome::Interrupted(1), 129, "interrupted"),
        ];
        for (outcome, code, name) in pinned {
            assert_eq!(outcome.code(), code, "{outcome:?}");
            assert_eq!(outcome.name(), name);
            if outcome.row().code != Code::Signal {
                assert_eq!(outcome.row().code, Code::Exit(code));
            }
        }
        let names: Vec<&str> = TABLE.iter().map(|row| row.name).collect();
        let in_order: Vec<&str> = pinned[..14].iter().map(|(_, _, name)| *name).collect();
        assert_eq!(names, in_order, "the table lists every outcome once, in the SPEC's order");
    }

    /// The SPEC: every outcome from 11 to 16 is a failure, written to the journal and notified.
    #[test]
    fn outcomes_11_to_16_are_notified_failures() {
        for row in TABLE {
            if let Code::Exit(11..=16) = row.code {
                assert!(row.failure && row.notifies, "{}", row.name);
            }
            assert_eq!(row.failure, !matches!(row.code, Code::Exit(0)), "{}", row.name);
        }
    }

    /// Names go out as JSON strings and come back as the same outcome.
    #[test]
    fn serde_uses_the_name() {
        let names: Vec<&str> = Outcome::all().map(Outcome::name).collect();
        assert_eq!(names, TABLE.iter().map(|row| row.name).collect::<Vec<_>>());
        for row in TABLE {
            let outcome = Outcome::from_name(row.name).expect("every name reads back");
            let json = serde_json::to_string(&outcome).expect("serializes");
            assert_eq!(json, format!("\"{}\"", row.name));
            assert_eq!(serde_json::from_str::<Outcome>(&json).expect("deserializes"), outcome);
        }
        assert!(serde_json::from_str::<Outcome>("\"finished\"").is_err());
        assert!(Outcome::from_name("running").is_none(), "a run under way has no outcome yet");
    }

    #[test]
    fn help_lists_every_code() {
        let help = exit_codes_help();
        assert!(help.starts_with("Exit codes:\n  0      success\n  0      duplicate_skipped\n"), "{help}");
        assert!(help.contains("\n  16     busy\n  128+n  interrupted\n"), "{help}");
        assert_eq!(help.lines().count(), TABLE.len() + 2);
    }

    #[test]
    fn failure_message_has_the_spec_prefix() {
        let f = Failure::new(
            Outcome::NotConfigured,
            "CID acme and file name X.zip are not set up for processing",
        );
        assert_eq!(f.to_string(), "ERROR[11]: CID acme and file name X.zip are not set up for processing");
    }
}
