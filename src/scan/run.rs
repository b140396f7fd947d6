//! Reporting and running: records the failures found, and runs the due files on a pool of workers.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::judge::{Verdict, judge};
use super::print::Printer;
use super::{Found, Options, Tally, settle_for};
use crate::config::Config;
use crate::exec::Output;
use crate::interrupt::Interrupt;
use crate::journal::{self, Journal};
use crate::lock::{self, LockError};
use crate::outcome::{Failure, Outcome};
use crate::report::Report;
use crate::trigger::{self, Expected, Request};

/// Records `failure` for `file` as a finished run and notifies the rule's channels, like any
/// failed run. The row is what keeps the next scan from reporting it again.
pub(super) fn report_once(
    config: &Config,
    journal: &mut Journal,
    file: &Found<'_>,
    failure: Failure,
    out: &Printer,
) -> Tally {
    let mut report = Report::start(&file.rule.cid, file.path.as_os_str(), &file.name);
    report.rule = Some(file.rule.name.clone());
    report.tags = file.rule.tags.clone();
    report.size = fs::symlink_metadata(&file.path).ok().map(|m| m.len());
    let recorded = journal.begin(&report).and_then(|id| {
        report.run_id = Some(id);
        report.finish(Err(failure));
        journal.finish(&report)
    });
    if let Err(e) = recorded {
        out.problem(&format!("cannot record the report on {}: {e}", file.shown));
        return Tally { failed: 1, ..Tally::default() };
    }
    out.result(&file.shown, &report);
    out.notices(&crate::outbox::after_run(journal, config, &report, &[]), false);
    Tally { failed: 1, ..Tally::default() }
}

/// Runs the due files, up to `--jobs` at once, oldest first, until all ran or a signal came.
pub(super) fn run_all(
    config: &Arc<Config>,
    due: &[Found<'_>],
    options: &Options,
    interrupt: &Interrupt,
    out: &Printer,
) -> Result<Tally, Failure> {
    let locks = lock::dir(&journal::path_for(config).map_err(journal::failure)?);
    let next = AtomicUsize::new(0);
    let worker = || {
        // Its own connection, for judging again under the lock; trigger::run opens its own.
        let journal = journal::open_for(config).ok();
        let mut tally = Tally::default();
        while interrupt.raised().is_none() {
            let Some(file) = due.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
            let settle = settle_for(options, file.rule);
            tally.add(run_one(config, file, journal.as_ref(), settle, &locks, interrupt, out));
        }
        tally
    };
    let mut tally = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..options.jobs.clamp(1, due.len().max(1))).map(|_| scope.spawn(worker)).collect();
        let mut tally = Tally::default();
        for finished in workers.into_iter().filter_map(|w| w.join().ok()) {
            tally.add(finished);
        }
        tally
    });
    // Those not started because of a signal are for the next scan.
    tally.waiting += due.len().saturating_sub(next.load(Ordering::SeqCst));
    Ok(tally)
}

/// One due file: skipped if a run holds its lock or if, judged again, it is no longer due;
/// else run as `ftptrigger CID FILE --md5-file SIDECAR --no-wait` would (`--sha256-file` for a
/// SHA-256 sidecar), and its channels told.
fn run_one(
    config: &Arc<Config>,
    file: &Found<'_>,
    journal: Option<&Journal>,
    settle: Duration,
    locks: &Path,
    interrupt: &Interrupt,
    out: &Printer,
) -> Tally {
    let probe = match lock::acquire(locks, &file.rule.cid, &file.path, Duration::ZERO, interrupt) {
        Ok(lock) => Some(lock),
        Err(LockError::Busy { .. }) => {
            out.left(file, "skipped", "a run in progress holds its lock");
            return Tally { skipped: 1, ..Tally::default() };
        }
        // The run meets the same trouble and reports it.
        Err(_) => None,
    };
    let verdict = judge(file, journal, settle, SystemTime::now());
    let sidecar = match verdict {
        Ok(Verdict::Due { sidecar }) => sidecar,
        Ok(Verdict::Skipped(why)) => {
            out.left(file, "skipped", &why);
            return Tally { skipped: 1, ..Tally::default() };
        }
        // Changed since the survey: the next scan sees it as it is then.
        Ok(Verdict::Waiting(why)) | Ok(Verdict::Report(Failure { detail: why, .. })) => {
            out.left(file, "waiting", &why);
            return Tally { waiting: 1, ..Tally::default() };
        }
        Err(failure) => {
            out.problem(&format!("{}: {failure}", file.shown));
            return Tally { failed: 1, ..Tally::default() };
        }
    };
    let request = Request {
        cid: file.rule.cid.clone(),
        file: file.path.clone(),
        expected: Expected::Sidecar(sidecar, super::sidecar_algorithm(file.rule)),
        force: false,
        no_wait: true,
        dry_run: false,
        // Kept for the report's output tail; several jobs' output must not interleave.
        output: Output::Discard,
        progress: false,
        queued: None,
        // The probe's lock carries over into the run: released in between, a forked child of
        // another worker could still hold a copy of it, and the run would find the file busy.
        lock: probe.map(Arc::new),
    };
    let (report, aftermath) = trigger::run(&request, || Ok(Arc::clone(config)), interrupt);
    drop(request);
    out.result(&file.shown, &report);
    let notices = aftermath.map(|a| a.finish(&report)).unwrap_or_default();
    out.notices(&notices, report.outcome.is_ok());
    match report.outcome {
        Outcome::Success => Tally { ran: 1, ..Tally::default() },
        Outcome::DuplicateSkipped => Tally { skipped: 1, ..Tally::default() },
        _ => Tally { failed: 1, ..Tally::default() },
    }
}
