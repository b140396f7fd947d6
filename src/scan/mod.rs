//! `scan`: for cron, and for FTP servers without upload hooks. Walks each rule's root and
//! processes every upload that has its MD5 sidecar and has settled, exactly as
//! `ftptrigger CID FILE --md5-file SIDECAR` would, up to `--jobs` at once, oldest first. A
//! rule whose `sidecar` ends in `.sha256` has SHA-256 sidecars (`--sha256-file`).
//!
//! First every file is surveyed, with nothing run and nothing written: each comes out due,
//! waiting, skipped, or to be reported (an upload that waited too long for its sidecar, a
//! sidecar that waited too long for its upload, a sidecar that cannot be read). Then the
//! reports are made, once per version of the file, and the due files run. Just before a file
//! runs it is judged again under its lock, since a hook or another scan may have got there
//! first.
//!
//! The survey is in `survey`, the judging in `judge`, the reports and the worker pool in `run`,
//! and what is printed in `print`; the types they pass between them are here.

mod judge;
mod print;
mod run;
mod survey;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use self::judge::{Verdict, judge};
use self::print::Printer;
use self::run::{report_once, run_all};
use self::survey::survey;
use crate::config::{Config, Rule};
use crate::digest::Algorithm;
use crate::display::escape_str;
use crate::interrupt::Interrupt;
use crate::journal::{self, Journal};
use crate::outcome::{Failure, Outcome};
use crate::output::notice;
use crate::rules::Captures;

/// What `scan` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only the rules of this CID.
    pub cid: Option<String>,
    /// How many files may run at once (at least 1).
    pub jobs: usize,
    /// Overrides every rule's `settle`.
    pub settle: Option<Duration>,
    pub dry_run: bool,
    pub json: bool,
    pub quiet: bool,
}

/// `scan`: surveys the roots, makes the reports that are due, runs the files that are due.
/// Returns 0, 3 when any file failed, or 128+n when a signal stopped it.
pub fn command(config: Arc<Config>, options: &Options, interrupt: &Interrupt) -> Result<u8, Failure> {
    let rules = rules_to_scan(&config, options.cid.as_deref())?;
    let out = Printer { json: options.json, quiet: options.quiet, dry_run: options.dry_run };
    // A dry run writes nothing, not even a new journal.
    let mut journal =
        if options.dry_run { journal::open_existing(&config)? } else { Some(journal::open_for(&config)?) };
    let (found, partials, problems) = survey(&config, &rules);
    for problem in &problems {
        out.problem(problem);
    }
    for partial in &partials {
        remove_partial(partial, options.dry_run, &out);
    }
    let Plan { due, reports, mut tally } = plan(found, journal.as_ref(), options, &out)?;
    if options.dry_run {
        tally.ran += due.len();
        tally.failed += reports.len();
        out.summary(&tally);
        return Ok(0);
    }
    tally.failed += problems.len();
    if let Some(journal) = journal.as_mut() {
        for (file, failure) in reports {
            tally.add(report_once(&config, journal, &file, failure, &out));
        }
    }
    tally.add(run_all(&config, &due, options, interrupt, &out)?);
    out.summary(&tally);
    if let Some(signal) = interrupt.raised() {
        let signal_name = crate::interrupt::signal_name(signal);
        notice(&format!("stopped by {signal_name}; what did not start is left for the next scan"));
        return Ok(Outcome::Interrupted(signal).code());
    }
    Ok(if tally.failed > 0 { Outcome::ScanFailed.code() } else { 0 })
}

/// Removes an abandoned partial upload (in a dry run, only says it would), unless it changed or
/// was replaced since the survey saw it. Says what it did.
fn remove_partial(partial: &survey::Partial, dry_run: bool, out: &Printer) {
    let untouched = humantime::format_duration(std::time::Duration::from_secs(partial.untouched.as_secs()));
    if dry_run {
        out.partial(
            &partial.shown,
            &format!("would remove abandoned partial upload (untouched for {untouched})"),
        );
        return;
    }
    // Still the same regular file, not a symlink put there since: then it goes.
    let same = std::fs::symlink_metadata(&partial.path)
        .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|t| t == partial.modified));
    if !same {
        return;
    }
    match std::fs::remove_file(&partial.path) {
        Ok(()) => out.partial(
            &partial.shown,
            &format!("removed abandoned partial upload (untouched for {untouched})"),
        ),
        Err(e) => out.problem(&format!("cannot remove abandoned partial upload {}: {e}", partial.shown)),
    }
}

/// What the survey found to do: files to run (oldest first), failures to report, and the count
/// of those left alone.
struct Plan<'c> {
    due: Vec<Found<'c>>,
    reports: Vec<(Found<'c>, Failure)>,
    tally: Tally,
}

/// Judges every file found; says (in a dry run) or logs (with `-v`) what each comes to.
fn plan<'c>(
    found: Vec<Found<'c>>,
    journal: Option<&Journal>,
    options: &Options,
    out: &Printer,
) -> Result<Plan<'c>, Failure> {
    let now = SystemTime::now();
    let mut plan = Plan { due: Vec::new(), reports: Vec::new(), tally: Tally::default() };
    for file in found {
        plan.tally.scanned += 1;
        match judge(&file, journal, settle_for(options, file.rule), now)? {
            Verdict::Due { sidecar } => {
                out.would_run(&file, &sidecar);
                plan.due.push(file);
            }
            Verdict::Report(failure) => {
                out.would_report(&file, &failure);
                plan.reports.push((file, failure));
            }
            Verdict::Waiting(why) => {
                out.left(&file, "waiting", &why);
                plan.tally.waiting += 1;
            }
            Verdict::Skipped(why) => {
                out.left(&file, "skipped", &why);
                plan.tally.skipped += 1;
            }
        }
    }
    Ok(plan)
}

/// The rules whose roots are walked: all of them, or those of `--cid`.
fn rules_to_scan<'c>(config: &'c Config, cid: Option<&str>) -> Result<Vec<&'c Rule>, Failure> {
    let rules: Vec<&Rule> = config.rules.iter().filter(|r| cid.is_none_or(|c| r.cid == c)).collect();
    match cid {
        Some(cid) if rules.is_empty() => Err(Failure::new(
            Outcome::NotConfigured,
            format!(
                "no rule has CID {}, so there is nothing to scan (see `ftptrigger check`)",
                escape_str(cid)
            ),
        )),
        _ => Ok(rules),
    }
}

fn settle_for(options: &Options, rule: &Rule) -> Duration {
    options.settle.unwrap_or(rule.settings.settle)
}

/// What the rule's sidecars hold: SHA-256 digests when its `sidecar` template ends in
/// `.sha256` (any case), else MD5 ones.
fn sidecar_algorithm(rule: &Rule) -> Algorithm {
    Algorithm::of_sidecar(rule.sidecar.source())
}

/// A file a rule takes: an upload, or a sidecar whose upload has not come.
struct Found<'c> {
    rule: &'c Rule,
    captures: Captures,
    /// Canonical: the canonical root joined with the path found under it.
    path: PathBuf,
    name: OsString,
    /// `CID/path below the root`, escaped, for messages.
    shown: String,
    /// The modification time, for the order files run in.
    modified: SystemTime,
    kind: Kind,
}

enum Kind {
    Upload,
    /// A sidecar (`{file}.md5` or `{file}.sha256` form) whose upload, at this path, is not there.
    Orphan {
        upload: PathBuf,
    },
}

/// How the files came out. Every file scanned is in exactly one of the other four counts (a
/// root that could not be read counts as failed).
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    scanned: usize,
    ran: usize,
    skipped: usize,
    waiting: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.scanned += other.scanned;
        self.ran += other.ran;
        self.skipped += other.skipped;
        self.waiting += other.waiting;
        self.failed += other.failed;
    }
}
