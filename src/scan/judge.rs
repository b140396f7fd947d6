//! Judging one file: due, waiting, skipped or to be reported, from its times, its sidecar and the journal.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::survey::sidecar_of;
use super::{Found, Kind, sidecar_algorithm};
use crate::config::Duplicates;
use crate::digest::Algorithm;
use crate::display::escape;
use crate::journal::{self, Journal};
use crate::outcome::{Failure, Outcome};

/// What a file comes to when it is looked at.
pub(super) enum Verdict {
    /// To run now, with this sidecar.
    Due { sidecar: PathBuf },
    /// Not yet: it may still be arriving, or its sidecar has not come.
    Waiting(String),
    /// Nothing to do: it was processed (or reported), or is being processed.
    Skipped(String),
    /// A failure to record and notify, once.
    Report(Failure),
}

pub(super) fn judge(
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
        let new_sidecar = sidecar_changed.is_some_and(|at| at >= run.started);
        if run.outcome.is_ok() {
            return Ok(Verdict::Skipped(format!("processed in run {} at {}", run.run_id, run.started_at)));
        }
        if !new_sidecar {
            return Ok(Verdict::Skipped(format!(
                "{} in run {} at {}; left alone until it or its sidecar changes (run it by hand to retry)",
                run.outcome, run.run_id, run.started_at
            )));
        }
    }
    let algorithm = sidecar_algorithm(rule);
    let Some(sidecar_changed) = sidecar_changed else {
        let waited = age(changed, now);
        if waited > rule.settings.sidecar_wait {
            let kind = format!("{algorithm} sidecar");
            let (this, partner) = (("file", "file", &*file.path), (kind.as_str(), "sidecar", &*sidecar));
            return Ok(overdue(this, partner, waited, rule.settings.sidecar_wait));
        }
        return Ok(Verdict::Waiting(format!("no {algorithm} sidecar {} yet", escape(sidecar.as_os_str()))));
    };
    let quiet_for = age(changed.max(sidecar_changed), now);
    if quiet_for < settle {
        return Ok(Verdict::Waiting(format!(
            "it or its sidecar changed {} ago; it runs once both are {} old",
            human(quiet_for),
            human(settle)
        )));
    }
    let Ok(meta) = fs::symlink_metadata(&file.path) else {
        return Ok(Verdict::Skipped("it is gone".into()));
    };
    let claimed =
        match crate::sidecar::claim(&sidecar, algorithm, &crate::sidecar::Target::new(&file.name, &meta)) {
            Ok(claimed) => claimed,
            Err(failure) if failure.outcome == Outcome::BadFile => return Ok(Verdict::Report(failure)),
            // A sidecar that names other files is left to the run, which reports the mismatch.
            Err(_) => return Ok(Verdict::Due { sidecar }),
        };
    // Duplicates are known by their MD5: a SHA-256 sidecar does not give it, and the run,
    // which makes it, skips a duplicate after hashing.
    if claimed.algorithm() != Algorithm::Md5 {
        return Ok(Verdict::Due { sidecar });
    }
    let md5 = claimed;
    if rule.settings.duplicates == Duplicates::Skip
        && let Some(journal) = journal
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
        let kind = format!("{} sidecar", sidecar_algorithm(rule));
        let (this, partner) = ((kind.as_str(), "sidecar", &*file.path), ("file", "file", upload));
        return Ok(overdue(this, partner, waited, rule.settings.sidecar_wait));
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

/// An upload or a sidecar (`this`) whose partner has not come within `sidecar_wait`: each is
/// (its name in the message, its name in the advice, its path).
fn overdue(
    this: (&str, &str, &Path),
    partner: (&str, &str, &Path),
    waited: Duration,
    wait: Duration,
) -> Verdict {
    let detail = format!(
        "{} {} has had no {} {} for {} (sidecar_wait is {}); upload the {}, or remove the {}",
        this.0,
        escape(this.2.as_os_str()),
        partner.0,
        escape(partner.2.as_os_str()),
        human(waited),
        human(wait),
        partner.1,
        this.1
    );
    Verdict::Report(Failure::new(Outcome::BadFile, detail))
}
