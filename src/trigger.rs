//! One run, top to bottom: the config, the journal row, the rule, the file, the lock, the
//! sender's digest, the hash, the duplicate check, the job, the finished row.
//!
//! Each step either hands the next what it needs or ends the run with a [`Failure`] whose
//! outcome decides the exit code. Nothing runs unless every check before it passed, and
//! nothing runs unrecorded: no journal, no job.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, Duplicates, Rule};
use crate::digest::{Algorithm, Digest, Md5Hex};
use crate::display::{escape, escape_str};
use crate::exec::{self, Finished, Job, Output};
use crate::interrupt::{self, Interrupt};
use crate::journal::Journal;
use crate::lifecycle;
use crate::lock::{self, FileLock, LockError};
use crate::outcome::{After, Failure, Outcome};
use crate::plan::{self, Facts};

use crate::report::{DigestPair, Process, Report};
use crate::rules::Captures;
use crate::sidecar;
use crate::verify::{self, Digests, FileError, Upload};

/// Where the sender's digest comes from: given (`--md5`, `--sha256`), or in a sidecar of one
/// algorithm (`--md5-file`, `--sha256-file`, a rule's `sidecar`).
#[derive(Debug, Clone)]
pub enum Expected {
    Given(Digest),
    Sidecar(PathBuf, Algorithm),
}

impl Expected {
    /// The algorithm the file is verified with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Expected::Given(digest) => digest.algorithm(),
            Expected::Sidecar(_, algorithm) => *algorithm,
        }
    }
}

/// Everything a run needs from the command line, free of clap types.
#[derive(Debug, Clone)]
pub struct Request {
    pub cid: String,
    pub file: PathBuf,
    pub expected: Expected,
    pub force: bool,
    pub no_wait: bool,
    pub dry_run: bool,
    pub output: Output,
    /// Show a progress bar while hashing a big file (stderr is a terminal, not --quiet/--json).
    pub progress: bool,
    /// The queued row (`serve`) this run is: claimed and used instead of a new row.
    pub queued: Option<i64>,
    /// The file's lock, already taken by the caller (scan probes it to skip busy files): used
    /// as it is, so nothing can slip in between the probe and the run.
    pub lock: Option<Arc<FileLock>>,
}

/// Files at least this big get a progress bar while they are hashed.
const PROGRESS_FROM: u64 = 64 << 20;

fn progress_bar(size: u64, name: &std::ffi::OsStr) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    // At most 80 columns whatever the name: 24 + 18 + 19 + 11 + 4 and the spaces between.
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:24!} [{bar:16}] {bytes:>9}/{total_bytes:9} {bytes_per_sec:>11} {eta:>4}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("hashing {}", escape(name)));
    bar
}

/// What is left once a run's outcome is known and recorded: telling the channels, and
/// retention. Kept apart so the caller can report the outcome first.
pub struct Aftermath {
    journal: Journal,
    config: Arc<Config>,
    reaped: Vec<Report>,
}

impl Aftermath {
    /// Notifies the channels that should hear about `report` (and about runs found
    /// interrupted on the way), prunes, and returns a line per notification that failed.
    pub fn finish(mut self, report: &Report) -> Vec<String> {
        let notices = crate::outbox::after_run(&mut self.journal, &self.config, report, &self.reaped);
        prune(&mut self.journal, &self.config);
        notices
    }
}

/// Runs `req`, loading the config with `load` once the arguments are known to be sound.
pub fn run(
    req: &Request,
    load: impl FnOnce() -> Result<Arc<Config>, Failure>,
    interrupt: &Interrupt,
) -> (Report, Option<Aftermath>) {
    let filename = req.file.file_name().unwrap_or_default();
    let mut started = Report::start(&req.cid, req.file.as_os_str(), filename);
    let setup = load().and_then(|config| Ok((crate::journal::open_for(&config)?, config)));
    let (mut journal, config) = match setup {
        Ok(setup) => setup,
        Err(failure) => return (ended(started, Err(failure)), None),
    };
    started.host = journal.host().to_owned();
    let mut reaped = Vec::new();
    if !req.dry_run {
        // Runs this host kept while the shared journal was out of reach go in first.
        for line in crate::journal::spool::replay(&mut journal, &config) {
            crate::output::notice(&line);
        }
        reaped = journal.reap_interrupted().unwrap_or_default();
        let row = match req.queued {
            None => journal.begin(&started).map_err(internal),
            Some(id) => match journal.claim(id, &started) {
                Ok(true) => Ok(id),
                Ok(false) => Err(internal(format!("run {id} is no longer queued: another worker took it"))),
                Err(e) => Err(internal(e)),
            },
        };
        match row {
            Ok(id) => started.run_id = Some(id),
            Err(failure) => return (ended(started, Err(failure)), None),
        }
    }
    let ctx = Context { req, config: &config, journal: &journal, interrupt, started: &started };
    let mut progress = Progress::default();
    let mut upload = None;
    let result = ctx.execute(&mut progress, &mut upload);
    let mut report = ended(progress.report(&started), result);
    if req.dry_run {
        return (report, None);
    }
    // Before the row is finished, so the journal says where the file went.
    if let Some(upload) = &upload {
        ctx.dispose(&progress, upload, &mut report);
    }
    // The lock (in `progress`) is held until the row is finished: a run waiting for it must
    // find this run's success when it gets in, or it would run the job a second time.
    if let Err(e) = crate::journal::spool::finish(&mut journal, &report) {
        if !journal.is_shared() {
            report.finish(Err(internal(e)));
        } else {
            // The shared journal is out of reach: the run is kept here, and recorded and
            // notified by the next invocation; its outcome stands.
            match crate::journal::spool::keep(journal.path(), &report) {
                Ok(kept) => {
                    report.message.push_str(&format!(
                        " (the journal is out of reach: {e}; the run is kept in {} and recorded, and notified, by \
                         the next invocation or outbox flush)",
                        kept.display()
                    ));
                    return (report, None);
                }
                Err(spool) => {
                    report.finish(Err(internal(format!("{e}; and it cannot be spooled either: {spool}"))))
                }
            }
        }
    }
    journal.unlock_all();
    // Notified after the lock is gone: a slow channel must not hold up the next run of the file.
    drop(progress);
    (report, Some(Aftermath { journal, config, reaped }))
}

/// `report`, ended with `result`.
fn ended(mut report: Report, result: Result<String, Failure>) -> Report {
    report.finish(result);
    report
}

fn internal(err: impl ToString) -> Failure {
    Failure::new(Outcome::InternalError, err.to_string())
}

/// Retention: old runs and the lock files of files not seen since go together. Failure here
/// does not change the run's outcome; the next invocation tries again.
fn prune(journal: &mut Journal, config: &Config) {
    if let Ok(Some(_)) = journal.prune_if_due(config.journal.retention) {
        lock::prune(&lock::dir(journal.path()), config.journal.retention);
    }
}

/// What the stages of a run produced, as far as it got: the makings of its report, and the
/// file's lock, held from the moment it is taken until the caller lets it go.
#[derive(Default)]
struct Progress<'c> {
    rule: Option<&'c Rule>,
    /// The canonical path and the size of the file, once it is open.
    file: Option<(PathBuf, u64)>,
    md5: DigestPair,
    /// There when the sender's digest is a SHA-256.
    sha256: Option<DigestPair>,
    process: Option<Process>,
    lock: Option<Arc<FileLock>>,
    /// The rule's named regex groups, for `move_to`.
    captures: Captures,
    /// The run ended because the rule does not accept the file's content type: the one
    /// `bad_file` that `on_failure` acts on.
    refused_content: bool,
}

impl Progress<'_> {
    /// The report of the run `started`, with what its stages found out.
    fn report(&self, started: &Report) -> Report {
        let mut report = started.clone();
        if let Some(rule) = self.rule {
            report.rule = Some(rule.name.clone());
            report.tags = rule.tags.clone();
        }
        if let Some((path, size)) = &self.file {
            report.file = path.to_string_lossy().into_owned();
            report.size = Some(*size);
        }
        report.md5 = self.md5.clone();
        report.sha256 = self.sha256.clone();
        report.process = self.process.clone();
        report
    }

    /// Where the expected and actual digests of `algorithm` go.
    fn pair(&mut self, algorithm: Algorithm) -> &mut DigestPair {
        match algorithm {
            Algorithm::Md5 => &mut self.md5,
            Algorithm::Sha256 => self.sha256.get_or_insert_default(),
        }
    }
}

/// The rule that takes the file.
struct Found<'c> {
    name: OsString,
    rule: &'c Rule,
    captures: Captures,
}

struct Context<'r, 'c> {
    req: &'r Request,
    config: &'c Config,
    journal: &'r Journal,
    interrupt: &'r Interrupt,
    /// The run as it started: its id and the exact bytes of the file name.
    started: &'r Report,
}

impl<'c> Context<'_, 'c> {
    /// The stages of a run, in order. Each hands its product to those after it, or ends the run
    /// with a [`Failure`]; either way what they produced is left in `progress`, and the file,
    /// once open, in `upload`.
    fn execute(&self, progress: &mut Progress<'c>, upload: &mut Option<Upload>) -> Result<String, Failure> {
        let req = self.req;
        let algorithm = req.expected.algorithm();
        // The result shows the SHA-256 pair whenever the sender's digest is one, known or not.
        progress.pair(algorithm);
        let found = self.find_rule()?;
        progress.rule = Some(found.rule);
        progress.captures = found.captures.clone();
        let upload =
            upload.insert(verify::open(&req.file, &found.rule.root, &found.rule.name).map_err(bad_file)?);
        progress.file = Some((upload.path.clone(), upload.size()));
        progress.lock = self.lock(found.rule, upload)?;

        let expected = self.expected(upload)?;
        progress.pair(algorithm).expected = Some(expected.to_string());
        let digests = self.hash(upload, algorithm)?;
        progress.md5.actual = Some(digests.md5.to_string());
        if let Some(sha256) = &digests.sha256 {
            progress.pair(Algorithm::Sha256).actual = Some(sha256.to_string());
        }
        // Fails closed: a digest that was not made matches nothing.
        let actual = digests.of(algorithm).map_or_else(|| "(none)".to_owned(), Digest::to_string);
        if actual != expected.as_str() {
            let detail = format!(
                "{algorithm} {expected} does not match the file's {algorithm} {actual} after transfer (file {})",
                escape(&upload.name)
            );
            return Err(Failure::new(Outcome::Md5Mismatch, detail));
        }
        self.content_accepted(found.rule, upload).inspect_err(|_| progress.refused_content = true)?;
        self.not_done_before(&found, &digests.md5)?;

        let job = self.plan(&found, upload, &digests.md5);
        progress.process = Some(Process::new(&job, None));
        if req.dry_run {
            let settings = &found.rule.settings;
            let describe =
                |action: &Option<lifecycle::Action>| action.as_ref().map(|a| a.describe(&found.rule.root));
            let afterwards = lifecycle::afterwards(
                describe(&settings.on_success).as_deref(),
                describe(&settings.on_failure).as_deref(),
            );
            let text =
                format!("dry run: rule {} would run:\n{}{afterwards}", found.rule.name, plan::describe(&job));
            print_plan(&text, req.output);
            return Ok(format!("dry run: {} verified, nothing ran", escape(&found.name)));
        }
        self.ready(upload)?;
        self.journal.checkpoint(&progress.report(self.started)).map_err(internal)?;
        let finished = self.start(&job, upload, progress.lock.as_deref())?;
        progress.process = Some(Process::new(&job, Some(&finished)));
        judge(&job, &finished, &escape(&upload.name))
    }

    /// `on_success` / `on_failure`: the upload, and its sidecar, moved or deleted as the rule
    /// says for how the run ended. Where it went goes into the report; trouble here does not
    /// change the outcome (the run is over), but the message says the file stayed, and why.
    fn dispose(&self, progress: &Progress<'_>, upload: &Upload, report: &mut Report) {
        let Some(rule) = progress.rule else { return };
        let action = match report.outcome.after() {
            After::OnSuccess => rule.settings.on_success.as_ref(),
            After::OnFailure => rule.settings.on_failure.as_ref(),
            After::OnFailureOfContent if progress.refused_content => rule.settings.on_failure.as_ref(),
            After::OnFailureOfContent | After::Leave => None,
        };
        let Some(action) = action else { return };
        let sidecar = match &self.req.expected {
            Expected::Sidecar(path, algorithm) => Some((path.as_path(), *algorithm)),
            Expected::Given(_) => None,
        };
        let md5 = progress.md5.actual.as_deref().and_then(|md5| Md5Hex::parse(md5).ok());
        let facts = Facts {
            cid: &self.req.cid,
            path: &upload.path,
            md5: md5.as_ref(),
            size: Some(upload.size()),
            run_id: report.run_id,
            captures: &progress.captures,
            keep_unknown: false,
        };
        let (mut values, _) = plan::values(rule, &facts);
        values.set(
            "date",
            jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%Y%m%d")
                .to_string(),
        );
        match lifecycle::apply(action, upload, sidecar, &values) {
            Ok(done) => {
                if let Some(to) = &done.moved_to {
                    report.message.push_str(&format!("; moved to {}", escape(to.as_os_str())));
                    report.moved_to = Some(to.to_string_lossy().into_owned());
                } else if done.deleted {
                    report.message.push_str("; deleted");
                }
                if let Some(to) = &done.sidecar {
                    log::info!("its sidecar went to {}", escape(to.as_os_str()));
                }
                if let Some(why) = done.sidecar_stayed {
                    log::warn!("the sidecar stays: {why}");
                    report.message.push_str(&format!(" (its sidecar stays: {why})"));
                }
            }
            Err(e) => {
                let line = format!("left in place: {e}");
                log::warn!("{line}");
                report.message.push_str(&format!("; {line}"));
            }
        }
    }

    fn find_rule(&self) -> Result<Found<'c>, Failure> {
        let req = self.req;
        let name = verify::file_name(&req.file).map_err(bad_file)?;
        let (rule, captures) = crate::rules::find(self.config, &req.cid, &name)
            .ok_or_else(|| crate::rules::not_configured(&self.config.path, &req.cid, &req.file))?;
        log::info!("rule {} ({}) takes {}", rule.name, rule.matcher.describe(), escape(&name));
        Ok(Found { name, rule, captures })
    }

    /// The file's lock: none in a dry run, the caller's when it took it already, else taken
    /// here, waiting up to the rule's `lock_wait`.
    fn lock(&self, rule: &Rule, upload: &Upload) -> Result<Option<Arc<FileLock>>, Failure> {
        let req = self.req;
        if req.dry_run {
            return Ok(None);
        }
        let wait = if req.no_wait { std::time::Duration::ZERO } else { rule.settings.lock_wait };
        let lock = match &req.lock {
            Some(lock) => Arc::clone(lock),
            None => {
                log::debug!(
                    "locking {} (waiting up to {})",
                    upload.path.display(),
                    humantime::format_duration(wait)
                );
                let dir = lock::dir(self.journal.path());
                let lock = lock::acquire(&dir, &req.cid, &upload.path, wait, self.interrupt)
                    .map_err(|e| self.lock_failure(e))?;
                Arc::new(lock)
            }
        };
        if !self.journal.is_shared() {
            return Ok(Some(lock));
        }
        // A journal shared by several hosts also locks the file for all of them, by CID and
        // its path within the rule's root (hosts may mount the storage at different paths).
        let within = upload.path.strip_prefix(&upload.place.root).unwrap_or(&upload.path);
        let key = crate::journal::pg::file_key(&req.cid, within);
        let stop = || self.interrupt.raised().is_some();
        match self.journal.lock_file(key, wait, stop) {
            Ok(true) => Ok(Some(lock)),
            Ok(false) => match self.interrupt.raised() {
                Some(signal) => Err(interrupted(signal, "while waiting for the lock")),
                None => Err(self.lock_failure(LockError::Busy { waited: wait })),
            },
            Err(e) => Err(internal(e)),
        }
    }

    /// The digest the sender claims for the file: `--md5` or `--sha256`, or what its sidecar
    /// says of it. The sidecar is read here, inside the run, so that one the sender got wrong
    /// is journaled and notified like any other fault of theirs; and with the file open, so
    /// that a name in it can be resolved to the very file that is hashed.
    fn expected(&self, upload: &Upload) -> Result<Digest, Failure> {
        let (path, algorithm) = match &self.req.expected {
            Expected::Given(digest) => return Ok(digest.clone()),
            Expected::Sidecar(path, algorithm) => (path, *algorithm),
        };
        let meta = upload
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata())
            .map_err(internal)?;
        sidecar::claim(path, algorithm, &sidecar::Target::new(&upload.name, &meta))
    }

    /// The file's MD5, and its digest of `algorithm` when that is another, with a progress bar
    /// for a big file when asked for one.
    fn hash(&self, upload: &mut Upload, algorithm: Algorithm) -> Result<Digests, Failure> {
        let size = upload.size();
        let bar = (self.req.progress && size >= PROGRESS_FROM).then(|| progress_bar(size, &upload.name));
        let started = std::time::Instant::now();
        let stop = |hashed: u64| {
            if let Some(bar) = &bar {
                bar.set_position(hashed);
            }
            self.interrupt.raised().is_some()
        };
        let hashed = upload.hash(algorithm, &stop);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let actual = hashed.map_err(|e| self.stopped_or(e))?;
        let took = started.elapsed();
        log::info!(
            "hashed {size} bytes in {took:.0?} ({:.0} MB/s)",
            size as f64 / took.as_secs_f64().max(1e-9) / 1e6
        );
        Ok(actual)
    }

    /// Fails with `bad_file` when the rule lists content types (`mime`) and the file, sniffed
    /// from its first bytes, is none of them.
    fn content_accepted(&self, rule: &Rule, upload: &Upload) -> Result<(), Failure> {
        let Some(accepted) = &rule.mime else { return Ok(()) };
        let found = crate::content::type_of(&upload.head(crate::content::HEAD).map_err(bad_file)?);
        if accepted.iter().any(|t| t == found) {
            return Ok(());
        }
        let detail = format!(
            "file {} is {found}, which rule {} does not accept (mime: {})",
            escape(&upload.name),
            escape_str(&rule.name),
            accepted.join(", ")
        );
        Err(Failure::new(Outcome::BadFile, detail))
    }

    /// Fails with `duplicate_skipped` when the rule skips duplicates (and `--force` does not
    /// override it) and this CID, file name and MD5 already succeeded.
    fn not_done_before(&self, found: &Found<'_>, actual: &Md5Hex) -> Result<(), Failure> {
        let req = self.req;
        if found.rule.settings.duplicates != Duplicates::Skip || req.force {
            return Ok(());
        }
        let previous = self
            .journal
            .previous_success(&req.cid, self.started.filename_bytes(), actual.as_str())
            .map_err(internal)?;
        match previous {
            None => Ok(()),
            Some(previous) => {
                let detail = format!(
                    "{} with MD5 {actual} already succeeded in run {} at {}; nothing ran (--force runs it anyway)",
                    escape(&found.name),
                    previous.run_id,
                    previous.started_at
                );
                Err(Failure::new(Outcome::DuplicateSkipped, detail))
            }
        }
    }

    /// The command the rule makes of this file.
    fn plan(&self, found: &Found<'_>, upload: &Upload, actual: &Md5Hex) -> Job {
        let facts = Facts {
            cid: &self.req.cid,
            path: &upload.path,
            md5: Some(actual),
            size: Some(upload.size()),
            run_id: self.started.run_id,
            captures: &found.captures,
            keep_unknown: false,
        };
        plan::job(found.rule, &facts)
    }

    /// The last checks before the command starts, and the file rewound for it.
    fn ready(&self, upload: &mut Upload) -> Result<(), Failure> {
        stop_here_for_tests();
        // The last moment to notice a swap: between here and exec the window is a few syscalls.
        upload.ensure_unchanged().map_err(bad_file)?;
        if let Some(signal) = self.interrupt.raised() {
            return Err(interrupted(signal, "before the command started"));
        }
        // The job inherits the descriptor the file was verified through, rewound: reading it
        // reads the verified file even if the path is swapped once the job runs.
        upload.rewind().map_err(bad_file)
    }

    /// Runs the command to its end, with the verified file's descriptor and the lock.
    fn start(&self, job: &Job, upload: &Upload, lock: Option<&FileLock>) -> Result<Finished, Failure> {
        let mut job = job.clone();
        job.env_remove = self.config.secret_vars();
        let mut inherit = vec![("FTPTRIGGER_FILE_FD", upload.as_fd())];
        // And the lock, keeping the file locked for as long as the job lives, even if
        // ftptrigger is SIGKILLed under it: a rerun then waits instead of running alongside.
        if let Some(lock) = lock {
            inherit.push(("FTPTRIGGER_LOCK_FD", lock.as_fd()));
        }
        // And the journal's connection, when it is shared by several hosts: its session holds
        // the file's and the run's locks there, and lives as long as the job, so no host runs
        // the file alongside a job left running by a SIGKILLed ftptrigger.
        let session = self.journal.session_socket();
        if let Some(session) = &session {
            inherit.push(("FTPTRIGGER_JOURNAL_FD", session.as_fd()));
        }
        for ((var, _), number) in inherit.iter().zip(exec::INHERITED_FROM..) {
            job.env.push(((*var).into(), number.to_string().into()));
        }
        log::info!("running {}", crate::display::shell_join(&job.argv()));
        let fds: Vec<_> = inherit.iter().map(|(_, fd)| *fd).collect();
        exec::run(&job, self.req.output, &fds, self.interrupt)
            .map_err(|e| Failure::new(Outcome::ProcessFailed, e.to_string()))
    }

    fn lock_failure(&self, err: LockError) -> Failure {
        match err {
            LockError::Busy { waited } => {
                let holder = self
                    .journal
                    .running(&self.req.cid, self.started.filename_bytes(), self.started.run_id)
                    .ok()
                    .flatten()
                    .map(|(run, pid)| format!(": run {run}, pid {pid}"))
                    .unwrap_or_default();
                let detail = format!(
                    "another run of CID {} and file {} holds its lock{holder}{}",
                    escape_str(&self.req.cid),
                    escape(self.req.file.as_os_str()),
                    lock::waited_for(&waited)
                );
                Failure::new(Outcome::Busy, detail)
            }
            LockError::Interrupted(signal) => interrupted(signal, "while waiting for the lock"),
            LockError::Io { .. } => internal(err),
        }
    }

    fn stopped_or(&self, err: FileError) -> Failure {
        match (&err, self.interrupt.raised()) {
            (FileError::Stopped { .. }, Some(signal)) => interrupted(signal, "while hashing the file"),
            _ => bad_file(err),
        }
    }
}

fn interrupted(signal: i32, when: &str) -> Failure {
    Failure::new(
        Outcome::Interrupted(signal),
        format!("ftptrigger got {} {when}; nothing ran", interrupt::signal_name(signal)),
    )
}

/// How the command ended, as an outcome; failures name the program and the file (`name`, as
/// printed), since a hook's log or a notification may be read far from the run.
fn judge(job: &Job, finished: &Finished, name: &str) -> Result<String, Failure> {
    let program = escape(&job.program);
    if let Some(signal) = finished.interrupted {
        let detail = format!(
            "ftptrigger got {} while command {program} ran; it was passed on to the command's process group",
            interrupt::signal_name(signal)
        );
        return Err(Failure::new(Outcome::Interrupted(signal), detail));
    }
    if finished.timed_out {
        let detail = format!(
            "command {program} ran past its timeout of {} and was killed with its whole process group (file {name})",
            humantime::format_duration(job.timeout)
        );
        return Err(Failure::new(Outcome::TimedOut, detail));
    }
    match (finished.status, finished.signal) {
        (Some(0), _) => {
            let took = humantime::format_duration(std::time::Duration::from_millis(
                finished.duration.as_millis() as u64,
            ));
            Ok(format!("command {program} succeeded in {took}"))
        }
        (Some(status), _) => Err(Failure::new(
            Outcome::ProcessFailed,
            format!("command {program} exited with status {status} (file {name})"),
        )),
        (None, Some(signal)) => {
            let detail = format!(
                "command {program} was killed by signal {signal} ({}) (file {name})",
                interrupt::signal_name(signal)
            );
            Err(Failure::new(Outcome::ProcessFailed, detail))
        }
        (None, None) => {
            Err(Failure::new(Outcome::ProcessFailed, format!("command {program} ended without a status")))
        }
    }
}

/// Debug builds only: with `FTPTRIGGER_TEST_STOP_BEFORE_START` set, ftptrigger stops itself
/// (SIGSTOP) after verifying the file and before the last identity check, so a test can swap the
/// file in exactly the window that check guards, then continue it. A release build has no such
/// point.
#[cfg(debug_assertions)]
fn stop_here_for_tests() {
    use rustix::process::{Signal, getpid, kill_process};
    if std::env::var_os("FTPTRIGGER_TEST_STOP_BEFORE_START").is_some() {
        let _ = kill_process(getpid(), Signal::STOP);
    }
}

#[cfg(not(debug_assertions))]
fn stop_here_for_tests() {}

fn bad_file(err: FileError) -> Failure {
    Failure::new(Outcome::BadFile, err.to_string())
}

fn print_plan(text: &str, output: Output) {
    use std::io::Write;
    // With --json, stdout holds only the JSON result.
    let _ = match output {
        Output::Stderr => std::io::stderr().write_all(text.as_bytes()),
        _ => std::io::stdout().write_all(text.as_bytes()),
    };
}
