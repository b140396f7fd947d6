//! Printing: where each kind of line a scan makes goes, and how it reads.

use std::borrow::Cow;
use std::path::Path;

use serde::Serialize;

use super::{Found, Tally};
use crate::display::escape;
use crate::outcome::Failure;
use crate::output::{notice, print_out};
use crate::report::Report;

/// A file in `scan --dry-run --json`: what would happen to it, and why.
#[derive(Serialize)]
struct DryRunLine<'a> {
    cid: &'a str,
    file: Cow<'a, str>,
    rule: &'a str,
    action: &'a str,
    reason: &'a str,
}

/// Where each kind of line goes: results on stdout (JSON lines with `--json`), trouble on
/// stderr, files left for later in the `-v` log (or on stdout in a dry run, which is for
/// reading).
pub(super) struct Printer {
    pub(super) json: bool,
    pub(super) quiet: bool,
    pub(super) dry_run: bool,
}

impl Printer {
    /// A file processed or reported: its outcome line, with the job's output tail when it
    /// failed (job output is never streamed in a scan), or its JSON result.
    pub(super) fn result(&self, shown: &str, report: &Report) {
        if self.json {
            print_out(&format!("{}\n", report.to_json()));
            return;
        }
        let failed = !report.outcome.is_ok();
        if self.quiet && !failed {
            return;
        }
        let mut text =
            format!("{} {shown} (exit {}): {}\n", report.outcome, report.outcome.code(), report.message);
        let tail = report.process.as_ref().map_or("", |p| p.output_tail.trim_end());
        if failed && !tail.is_empty() {
            for line in tail.lines() {
                text.push_str(&format!("  | {line}\n"));
            }
        }
        print_out(&text);
    }

    /// What became of an abandoned partial upload: a line on stdout (`{"partial": .., "action": ..}`
    /// with `--json`); `--quiet` keeps it out of cron's mail.
    pub(super) fn partial(&self, shown: &str, action: &str) {
        if self.json {
            let line = serde_json::json!({"partial": shown, "action": action});
            print_out(&format!("{line}\n"));
        } else if !self.quiet {
            print_out(&format!("{action}: {shown}\n"));
        }
    }

    /// Notification trouble, which does not change the outcome; `--quiet` keeps it to failures.
    pub(super) fn notices(&self, notices: &[String], ok: bool) {
        if !(self.quiet && ok) {
            for line in notices {
                notice(line);
            }
        }
    }

    pub(super) fn problem(&self, text: &str) {
        eprintln!("ftptrigger: {text}");
    }

    /// A file left alone this time, and why.
    pub(super) fn left(&self, file: &Found<'_>, what: &str, why: &str) {
        self.dry(file, what, why);
        if !self.dry_run {
            log::info!("{what} {}: {why}", file.shown);
        }
    }

    pub(super) fn would_run(&self, file: &Found<'_>, sidecar: &Path) {
        let why = format!("rule {}, sidecar {}", file.rule.name, escape(sidecar.as_os_str()));
        self.dry(file, "would run", &why);
    }

    pub(super) fn would_report(&self, file: &Found<'_>, failure: &Failure) {
        self.dry(file, "would report", &failure.to_string());
    }

    /// In a dry run, a line per file: what would happen to it, and why.
    fn dry(&self, file: &Found<'_>, what: &str, why: &str) {
        if !self.dry_run {
            return;
        }
        if self.json {
            let line = DryRunLine {
                cid: &file.rule.cid,
                file: file.path.to_string_lossy(),
                rule: &file.rule.name,
                action: what,
                reason: why,
            };
            print_out(&format!("{}\n", serde_json::to_string(&line).unwrap_or_default()));
        } else {
            print_out(&format!("{what} {}: {why}\n", file.shown));
        }
    }

    /// `scanned N, ran N, skipped N, waiting N, failed N`: on stdout, or stderr with `--json`;
    /// `--quiet` keeps it for scans where something failed.
    pub(super) fn summary(&self, t: &Tally) {
        let line = if self.dry_run {
            format!(
                "dry run: scanned {}, would run {}, would report {}, skipped {}, waiting {}",
                t.scanned, t.ran, t.failed, t.skipped, t.waiting
            )
        } else {
            format!(
                "scanned {}, ran {}, skipped {}, waiting {}, failed {}",
                t.scanned, t.ran, t.skipped, t.waiting, t.failed
            )
        };
        if self.quiet && (t.failed == 0 || self.dry_run) {
            return;
        }
        if self.json {
            eprintln!("{line}");
        } else {
            print_out(&format!("{line}\n"));
        }
    }
}
