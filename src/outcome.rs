//! The outcomes of an invocation: one table of exit codes, JSON/journal names and meanings.
//!
//! Everything that decides how `ftptrigger` ends goes through [`Outcome`], so the exit code an
//! FTP server's hook sees, the `outcome` field of the JSON result and the man page can never
//! disagree.

use std::fmt;

/// How an invocation ended. The exit codes are a stable contract (see `shared/SPEC.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    DuplicateSkipped,
    InternalError,
    Usage,
    ScanFailed,
    ConfigError,
    NotConfigured,
    Md5Mismatch,
    BadFile,
    ProcessFailed,
    TimedOut,
    Busy,
    /// `ftptrigger` itself received this signal number.
    Interrupted(i32),
}

/// One row of the exit code table, as the man page and `--help` print it.
pub struct ExitRow {
    pub code: &'static str,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// The exit code table, in the order the SPEC lists it.
pub const EXIT_TABLE: &[ExitRow] = &[
    row("0", "success", "the command ran and exited 0 (or --dry-run found nothing wrong)"),
    row(
        "0",
        "duplicate_skipped",
        "this CID, file name and MD5 already succeeded before; nothing ran (--force runs it anyway)",
    ),
    row("1", "internal_error", "unexpected failure (an I/O error, a bug); the message says what"),
    row("2", "usage", "bad arguments, or a malformed --md5 value or sidecar"),
    row("3", "scan_failed", "scan only: at least one file failed"),
    row(
        "10",
        "config_error",
        "the config is missing, unreadable, invalid, writable by others, or owned by another user",
    ),
    row("11", "not_configured", "the CID and file name combination is not set up for processing"),
    row("12", "md5_mismatch", "the MD5 given does not match the file's MD5"),
    row(
        "13",
        "bad_file",
        "the file is missing, unreadable, not a regular file, a symlink, outside the CID's root, \
         or changed while being verified",
    ),
    row("14", "process_failed", "the command exited non-zero, was killed by a signal, or could not start"),
    row("15", "timed_out", "the command ran past its timeout and its whole process group was killed"),
    row("16", "busy", "another run of the same CID and file holds the lock"),
    row("128+n", "interrupted", "ftptrigger itself got signal n (TERM, INT, HUP)"),
];

const fn row(code: &'static str, name: &'static str, meaning: &'static str) -> ExitRow {
    ExitRow { code, name, meaning }
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success | Outcome::DuplicateSkipped => 0,
            Outcome::InternalError => 1,
            Outcome::Usage => 2,
            Outcome::ScanFailed => 3,
            Outcome::ConfigError => 10,
            Outcome::NotConfigured => 11,
            Outcome::Md5Mismatch => 12,
            Outcome::BadFile => 13,
            Outcome::ProcessFailed => 14,
            Outcome::TimedOut => 15,
            Outcome::Busy => 16,
            // Shells report death by signal n as 128+n; a wrapper that re-raises gets the same.
            Outcome::Interrupted(signal) => u8::try_from(128 + signal.clamp(1, 127)).unwrap_or(255),
        }
    }

    /// The name used in the JSON result, the journal and notifications.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::DuplicateSkipped => "duplicate_skipped",
            Outcome::InternalError => "internal_error",
            Outcome::Usage => "usage",
            Outcome::ScanFailed => "scan_failed",
            Outcome::ConfigError => "config_error",
            Outcome::NotConfigured => "not_configured",
            Outcome::Md5Mismatch => "md5_mismatch",
            Outcome::BadFile => "bad_file",
            Outcome::ProcessFailed => "process_failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Busy => "busy",
            Outcome::Interrupted(_) => "interrupted",
        }
    }

    /// True for the outcomes that mean the run did what it was asked.
    pub fn is_ok(self) -> bool {
        self.code() == 0
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
            let listed = EXIT_TABLE.iter().find(|r| r.name == name).expect("listed in EXIT_TABLE");
            if !matches!(outcome, Outcome::Interrupted(_)) {
                assert_eq!(listed.code, code.to_string());
            }
        }
        assert_eq!(EXIT_TABLE.len(), 13);
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
