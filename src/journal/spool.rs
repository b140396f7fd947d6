//! The local spool of a shared (PostgreSQL) journal: a run that ended while the database was
//! out of reach is kept here, one file per run, and written to the journal by the next
//! invocation on this host (or `outbox flush`), which then tells the channels. Nothing is lost,
//! and nothing is sent twice: the channels hear about a spooled run only when it is written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Journal, JournalError};
use crate::config::Config;
use crate::report::Report;

/// The spool directory beside the lock directory of the journal at `local`.
fn dir(local: &Path) -> PathBuf {
    local.parent().unwrap_or(Path::new(".")).join("spool")
}

/// Writes the finished row of `report`, trying again (connecting anew) for a few seconds if
/// the shared journal is out of reach. Err when it could not be written.
pub fn finish(journal: &mut Journal, report: &Report) -> Result<(), JournalError> {
    let mut last = match journal.finish(report) {
        Ok(()) => return Ok(()),
        Err(e) if !journal.is_shared() => return Err(e),
        Err(e) => e,
    };
    for pause in [500, 1000, 2000].map(Duration::from_millis) {
        std::thread::sleep(pause);
        match journal.reconnect().and_then(|()| journal.finish(report)) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Keeps `report` in the spool (written to a temporary file, synced, then renamed, so a file
/// there is always whole). Returns its path.
pub fn keep(local: &Path, report: &Report) -> std::io::Result<PathBuf> {
    let dir = dir(local);
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(&dir)?;
    let id = report.run_id.unwrap_or(0);
    let path = dir.join(format!("run-{id}.json"));
    let temporary = dir.join(format!(".run-{id}.json.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    let mut entry = serde_json::to_value(report).map_err(std::io::Error::other)?;
    // The exact bytes of the file name, which JSON's lossy copy may not hold.
    entry["filename_hex"] = serde_json::Value::String(hex::encode(report.filename_bytes()));
    file.write_all(entry.to_string().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

/// Writes every spooled run to the journal and tells their channels; a line per trouble (a
/// run not written yet, a notification that failed). A file is removed only once its row is
/// written.
pub fn replay(journal: &mut Journal, config: &Config) -> Vec<String> {
    // Only a shared journal can be out of reach, so only its runs are ever spooled.
    if !journal.is_shared() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir(journal.path())) else { return Vec::new() };
    let mut lines = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let read = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let Some(entry) = read else {
            lines.push(format!("spooled run {} cannot be read; left there", path.display()));
            continue;
        };
        let Ok(mut report) = serde_json::from_value::<Report>(entry.clone()) else {
            lines.push(format!("spooled run {} cannot be read; left there", path.display()));
            continue;
        };
        report.filename_raw =
            entry["filename_hex"].as_str().and_then(|h| hex::decode(h).ok()).unwrap_or_default();
        match journal.finish(&report) {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                log::info!(
                    "run {} ({}), kept in the spool while the journal was out of reach, is recorded now",
                    report.run_id.unwrap_or(0),
                    report.outcome
                );
                lines.extend(crate::outbox::after_run(journal, config, &report, &[]));
            }
            Err(e) => lines.push(format!("spooled run {} not written yet: {e}", path.display())),
        }
    }
    lines
}
