//! `scan`: for cron, and for FTP servers without upload hooks. Walks each rule's root and
//! processes every upload that has its MD5 sidecar and has settled, exactly as
//! `ftptrigger CID FILE --md5-file SIDECAR` would, up to `--jobs` at once, oldest first.
//!
//! First every file is surveyed, with nothing run and nothing written: each comes out due,
//! waiting, skipped, or to be reported (an upload that waited too long for its sidecar, a
//! sidecar that waited too long for its upload, a sidecar that cannot be read). Then the
//! reports are made, once per version of the file, and the due files run. Just before a file
//! runs it is judged again under its lock, since a hook or another scan may have got there
//! first.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Duplicates, Rule};
use crate::display::{escape, escape_str};
use crate::exec::Output;
use crate::interrupt::Interrupt;
use crate::journal::{self, Journal};
use crate::lock::{self, LockError};
use crate::outcome::{Failure, Outcome};
use crate::output::{notice, print_out};
use crate::report::Report;
use crate::rules::Captures;
use crate::trigger::{self, Expected, Request};

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
    let (found, problems) = survey(&config, &rules);
    for problem in &problems {
        out.problem(problem);
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
        let signal_name = trigger::signal_name(signal);
        notice(&format!("stopped by {signal_name}; what did not start is left for the next scan"));
        return Ok(Outcome::Interrupted(signal).code());
    }
    Ok(if tally.failed > 0 { Outcome::ScanFailed.code() } else { 0 })
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

// --- the survey: which files each rule takes ------------------------------------------------

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
    /// A sidecar (`{file}.md5` form) whose upload, at this path, is not there.
    Orphan {
        upload: PathBuf,
    },
}

/// A regular file found under a root.
struct Walked {
    path: PathBuf,
    modified: SystemTime,
}

/// Every file the rules take, oldest first, each once; and the roots or directories that
/// could not be read.
fn survey<'c>(config: &'c Config, rules: &[&'c Rule]) -> (Vec<Found<'c>>, Vec<String>) {
    let mut problems = Vec::new();
    let mut walks: HashMap<(PathBuf, bool), Vec<Walked>> = HashMap::new();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for &rule in rules {
        let root = match rule.root.canonicalize() {
            Ok(root) => root,
            Err(e) => {
                let root = escape(rule.root.as_os_str());
                problems.push(format!("cannot scan root {root} of rule {}: {e}", rule.name));
                continue;
            }
        };
        let files = walks
            .entry((root.clone(), rule.recursive))
            .or_insert_with(|| walk(&root, rule.recursive, &mut problems));
        for file in taken(config, rule, &root, files) {
            if seen.insert((rule.cid.clone(), file.path.clone())) {
                found.push(file);
            }
        }
    }
    found.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    (found, problems)
}

/// The regular files in `root`, and in its subdirectories when `recursive`. Symlinks are
/// never followed, and nothing but regular files is returned.
fn walk(root: &Path, recursive: bool, problems: &mut Vec<String>) -> Vec<Walked> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(format!("cannot read directory {}: {e}", escape(dir.as_os_str())));
                continue;
            }
        };
        for entry in entries.flatten() {
            // DirEntry::metadata does not follow a symlink.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                files.push(Walked { path: entry.path(), modified: meta.modified().unwrap_or(UNIX_EPOCH) });
            } else if meta.is_dir() && recursive {
                dirs.push(entry.path());
            }
        }
    }
    files
}

/// The files of `files` that `rule` takes: the uploads it is the first matching rule for, and
/// the sidecars whose upload it would take but which is not there. A file that is some
/// upload's sidecar is never an upload itself.
fn taken<'c>(config: &'c Config, rule: &'c Rule, root: &Path, files: &[Walked]) -> Vec<Found<'c>> {
    let regular: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let suffix = rule.sidecar.sibling_suffix();
    let mut taken = Vec::new();
    for file in files {
        let name = file.path.file_name().unwrap_or_default();
        let found = |captures, kind| Found {
            rule,
            captures,
            path: file.path.clone(),
            name: name.to_owned(),
            shown: shown(rule, root, &file.path),
            modified: file.modified,
            kind,
        };
        let upload_name =
            suffix.and_then(|s| name.as_bytes().strip_suffix(s.as_bytes())).filter(|n| !n.is_empty());
        if let Some(upload_name) = upload_name {
            let upload = file.path.with_file_name(OsStr::from_bytes(upload_name));
            if !regular.contains(upload.as_path())
                && let Some(captures) = takes(config, rule, OsStr::from_bytes(upload_name))
            {
                taken.push(found(captures, Kind::Orphan { upload }));
            }
        } else if let Some(captures) = takes(config, rule, name) {
            taken.push(found(captures, Kind::Upload));
        }
    }
    // A sidecar of another form (a listing such as `{dir}/MD5SUMS`) is known by its uploads.
    let sidecars: HashSet<PathBuf> = taken
        .iter()
        .filter(|f| matches!(f.kind, Kind::Upload))
        .map(|f| sidecar_of(f.rule, &f.path, &f.captures))
        .collect();
    taken.retain(|f| !(matches!(f.kind, Kind::Upload) && sidecars.contains(&f.path)));
    taken
}

/// The captures when `rule` is the rule a run of `name` would use: the first of its CID that
/// matches. Another rule's file is that rule's to take.
fn takes(config: &Config, rule: &Rule, name: &OsStr) -> Option<Captures> {
    crate::rules::find(config, &rule.cid, name)
        .filter(|(first, _)| std::ptr::eq(*first, rule))
        .map(|(_, captures)| captures)
}

/// Where the rule's `sidecar` template puts the sidecar of the upload at `path`.
fn sidecar_of(rule: &Rule, path: &Path, captures: &Captures) -> PathBuf {
    let expanded = rule.sidecar.expand(&crate::plan::file_values(&rule.cid, path, captures));
    // Relative to the upload's directory; an absolute result replaces it.
    path.parent().unwrap_or(Path::new("/")).join(expanded).components().collect()
}

fn shown(rule: &Rule, root: &Path, path: &Path) -> String {
    let below = path.strip_prefix(root).unwrap_or(path);
    format!("{}/{}", escape_str(&rule.cid), escape(below.as_os_str()))
}

// --- judging one file -----------------------------------------------------------------------

/// What a file comes to when it is looked at.
enum Verdict {
    /// To run now, with this sidecar.
    Due { sidecar: PathBuf },
    /// Not yet: it may still be arriving, or its sidecar has not come.
    Waiting(String),
    /// Nothing to do: it was processed (or reported), or is being processed.
    Skipped(String),
    /// A failure to record and notify, once.
    Report(Failure),
}

fn judge(
    file: &Found<'_>,
    journal: Option<&Journal>,
    settle: Duration,
    now: SystemTime,
) -> Result<Verdict, Failure> {
    match &file.kind {
        Kind::Upload => judge_upload(file, journal, settle, now),
        Kind::Orphan { upload } => judge_orphan(file, upload, journal, now),
    }
}

/// An upload is skipped when a run since its last change settled it (and, for a failure, its
/// sidecar has not changed since either); it waits for its sidecar, then for both to settle;
/// it is skipped when its MD5 already succeeded; else it is due.
fn judge_upload(
    file: &Found<'_>,
    journal: Option<&Journal>,
    settle: Duration,
    now: SystemTime,
) -> Result<Verdict, Failure> {
    let rule = file.rule;
    let Some(changed) = changed_at(&file.path) else {
        return Ok(Verdict::Skipped("it is gone".into()));
    };
    let sidecar = sidecar_of(rule, &file.path, &file.captures);
    let sidecar_changed = changed_at(&sidecar);
    if let Some(journal) = journal
        && let Some(run) =
            journal.settled_since(&rule.cid, file.name.as_bytes(), changed).map_err(journal::failure)?
    {
        let ended_well = run.outcome == "success" || run.outcome == "duplicate_skipped";
        let new_sidecar = sidecar_changed.is_some_and(|at| at >= run.started);
        if ended_well {
            return Ok(Verdict::Skipped(format!("processed in run {} at {}", run.run_id, run.started_at)));
        }
        if !new_sidecar {
            return Ok(Verdict::Skipped(format!(
                "{} in run {} at {}; left alone until it or its sidecar changes (run it by hand to retry)",
                run.outcome, run.run_id, run.started_at
            )));
        }
    }
    let Some(sidecar_changed) = sidecar_changed else {
        let waited = age(changed, now);
        if waited > rule.settings.sidecar_wait {
            let detail = format!(
                "file {} has had no MD5 sidecar {} for {} (sidecar_wait is {}); upload the sidecar, or remove the file",
                escape(file.path.as_os_str()),
                escape(sidecar.as_os_str()),
                human(waited),
                human(rule.settings.sidecar_wait)
            );
            return Ok(Verdict::Report(Failure::new(Outcome::BadFile, detail)));
        }
        return Ok(Verdict::Waiting(format!("no MD5 sidecar {} yet", escape(sidecar.as_os_str()))));
    };
    let quiet_for = age(changed.max(sidecar_changed), now);
    if quiet_for < settle {
        return Ok(Verdict::Waiting(format!(
            "it or its sidecar changed {} ago; it runs once both are {} old",
            human(quiet_for),
            human(settle)
        )));
    }
    let entries = match trigger::read_sidecar(&sidecar) {
        Ok(entries) => entries,
        Err(why) => {
            let detail = format!("MD5 sidecar {} cannot be used: {why}", escape(sidecar.as_os_str()));
            return Ok(Verdict::Report(Failure::new(Outcome::BadFile, detail)));
        }
    };
    // A sidecar that names another file is left to the run, which reports the mismatch.
    if rule.settings.duplicates == Duplicates::Skip
        && let Some(journal) = journal
        && let Ok(md5) = crate::sidecar::select(&entries, &file.name)
        && let Some(previous) = journal
            .previous_success(&rule.cid, file.name.as_bytes(), md5.as_str())
            .map_err(journal::failure)?
    {
        return Ok(Verdict::Skipped(format!(
            "MD5 {md5} already succeeded in run {} at {}",
            previous.run_id, previous.started_at
        )));
    }
    Ok(Verdict::Due { sidecar })
}

/// A sidecar without its upload waits for it, and is reported once when it has waited for
/// longer than `sidecar_wait`.
fn judge_orphan(
    file: &Found<'_>,
    upload: &Path,
    journal: Option<&Journal>,
    now: SystemTime,
) -> Result<Verdict, Failure> {
    let rule = file.rule;
    let Some(changed) = changed_at(&file.path) else {
        return Ok(Verdict::Skipped("it is gone".into()));
    };
    if let Some(journal) = journal
        && let Some(run) =
            journal.settled_since(&rule.cid, file.name.as_bytes(), changed).map_err(journal::failure)?
    {
        return Ok(Verdict::Skipped(format!("reported in run {} at {}", run.run_id, run.started_at)));
    }
    let waited = age(changed, now);
    if waited > rule.settings.sidecar_wait {
        let detail = format!(
            "MD5 sidecar {} has had no file {} for {} (sidecar_wait is {}); upload the file, or remove the sidecar",
            escape(file.path.as_os_str()),
            escape(upload.as_os_str()),
            human(waited),
            human(rule.settings.sidecar_wait)
        );
        return Ok(Verdict::Report(Failure::new(Outcome::BadFile, detail)));
    }
    Ok(Verdict::Waiting(format!("its file {} has not come yet", escape(upload.as_os_str()))))
}

/// When the regular file at `path` last changed: its modification time, or the time its inode
/// last changed if that is later (an upload that keeps the sender's old modification time
/// still counts as new). `None` when there is no regular file there; a symlink does not count.
fn changed_at(path: &Path) -> Option<SystemTime> {
    let meta = fs::symlink_metadata(path).ok().filter(fs::Metadata::is_file)?;
    let ctime = UNIX_EPOCH
        + Duration::new(
            u64::try_from(meta.ctime()).unwrap_or(0),
            u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        );
    Some(meta.modified().map_or(ctime, |m| m.max(ctime)))
}

/// How long ago `then` was; nothing for a time in the future.
fn age(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// A duration to the second: `1day 2h 3m 4s`.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

// --- reporting and running ------------------------------------------------------------------

/// Records `failure` for `file` as a finished run and notifies the rule's channels, like any
/// failed run. The row is what keeps the next scan from reporting it again.
fn report_once(
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
    out.notices(&crate::notify::after_run(journal, config, &report, &[]), false);
    Tally { failed: 1, ..Tally::default() }
}

/// Runs the due files, up to `--jobs` at once, oldest first, until all ran or a signal came.
fn run_all(
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
/// else run as `ftptrigger CID FILE --md5-file SIDECAR --no-wait` would, and its channels told.
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
        expected: Expected::Sidecar(sidecar),
        force: false,
        no_wait: true,
        dry_run: false,
        // Kept for the report's output tail; several jobs' output must not interleave.
        output: Output::Discard,
        progress: false,
        // The probe's lock carries over into the run: released in between, a forked child of
        // another worker could still hold a copy of it, and the run would find the file busy.
        lock: probe.map(Arc::new),
    };
    let (report, aftermath) = trigger::run(&request, || Ok(Arc::clone(config)), interrupt);
    drop(request);
    out.result(&file.shown, &report);
    let notices = aftermath.map(|a| a.finish(&report)).unwrap_or_default();
    out.notices(&notices, report.kind.is_ok());
    match report.kind {
        Outcome::Success => Tally { ran: 1, ..Tally::default() },
        Outcome::DuplicateSkipped => Tally { skipped: 1, ..Tally::default() },
        _ => Tally { failed: 1, ..Tally::default() },
    }
}

// --- counting and printing ------------------------------------------------------------------

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

/// Where each kind of line goes: results on stdout (JSON lines with `--json`), trouble on
/// stderr, files left for later in the `-v` log (or on stdout in a dry run, which is for
/// reading).
struct Printer {
    json: bool,
    quiet: bool,
    dry_run: bool,
}

impl Printer {
    /// A file processed or reported: its outcome line, with the job's output tail when it
    /// failed (job output is never streamed in a scan), or its JSON result.
    fn result(&self, shown: &str, report: &Report) {
        if self.json {
            print_out(&format!("{}\n", report.to_json()));
            return;
        }
        let failed = !report.kind.is_ok();
        if self.quiet && !failed {
            return;
        }
        let mut text =
            format!("{} {shown} (exit {}): {}\n", report.outcome, report.exit_code, report.message);
        let tail = report.process.as_ref().map_or("", |p| p.output_tail.trim_end());
        if failed && !tail.is_empty() {
            for line in tail.lines() {
                text.push_str(&format!("  | {line}\n"));
            }
        }
        print_out(&text);
    }

    /// Notification trouble, which does not change the outcome; `--quiet` keeps it to failures.
    fn notices(&self, notices: &[String], ok: bool) {
        if !(self.quiet && ok) {
            for line in notices {
                notice(line);
            }
        }
    }

    fn problem(&self, text: &str) {
        eprintln!("ftptrigger: {text}");
    }

    /// A file left alone this time, and why.
    fn left(&self, file: &Found<'_>, what: &str, why: &str) {
        self.dry(file, what, why);
        if !self.dry_run {
            log::info!("{what} {}: {why}", file.shown);
        }
    }

    fn would_run(&self, file: &Found<'_>, sidecar: &Path) {
        let why = format!("rule {}, sidecar {}", file.rule.name, escape(sidecar.as_os_str()));
        self.dry(file, "would run", &why);
    }

    fn would_report(&self, file: &Found<'_>, failure: &Failure) {
        self.dry(file, "would report", &failure.to_string());
    }

    /// In a dry run, a line per file: what would happen to it, and why.
    fn dry(&self, file: &Found<'_>, what: &str, why: &str) {
        if !self.dry_run {
            return;
        }
        if self.json {
            let line = serde_json::json!({
                "cid": file.rule.cid,
                "file": file.path.to_string_lossy(),
                "rule": file.rule.name,
                "action": what,
                "reason": why,
            });
            print_out(&format!("{line}\n"));
        } else {
            print_out(&format!("{what} {}: {why}\n", file.shown));
        }
    }

    /// `scanned N, ran N, skipped N, waiting N, failed N`: on stdout, or stderr with `--json`;
    /// `--quiet` keeps it for scans where something failed.
    fn summary(&self, t: &Tally) {
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
