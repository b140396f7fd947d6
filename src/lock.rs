//! One run at a time per (CID, canonical file path): a kernel file lock (flock) on a small
//! file under the journal's directory. The kernel drops it when the process dies, however it
//! dies, so there are no stale locks to clean up after a SIGKILL.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::md5block::Md5;

use crate::interrupt::Interrupt;
use crate::retry::{Backoff, Failed, GaveUp};

/// Held for the duration of a run; released on drop (or process death).
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of this file holds its lock{}", waited_for(.waited))]
    Busy { waited: Duration },
    #[error("cannot lock {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("interrupted by signal {0} while waiting for the lock")]
    Interrupted(i32),
}

pub fn waited_for(waited: &Duration) -> String {
    if waited.is_zero() {
        " (--no-wait)".to_owned()
    } else {
        format!(" (waited {})", humantime::format_duration(Duration::from_millis(waited.as_millis() as u64)))
    }
}

impl Drop for FileLock {
    /// Unlocks rather than only closing: flock belongs to the open file, and a child that
    /// another thread is starting (or a daemon the job left behind) may hold a copy of the
    /// descriptor. Unlocking ends the lock for every copy. A SIGKILLed ftptrigger runs no
    /// drop, so then the job's inherited copy keeps the file locked, as it should.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The locked descriptor, for a job to inherit (see `exec::run`): flock belongs to the open
/// file, so the lock then lasts until every holder is gone.
impl std::os::fd::AsFd for FileLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// The lock directory beside the journal.
pub fn dir(journal: &Path) -> PathBuf {
    journal.parent().unwrap_or(Path::new(".")).join("locks")
}

/// The lock file for `cid` and `path`: named by a digest, since the path may be long or odd.
fn file_for(dir: &Path, cid: &str, path: &Path) -> PathBuf {
    let mut h = Md5::new();
    h.update(cid.as_bytes());
    h.update(&[0]);
    h.update(path.as_os_str().as_bytes());
    dir.join(format!("{}.lock", hex::encode(h.finalize())))
}

/// Takes the lock for `cid` and `path`, waiting up to `wait` (zero: not at all).
pub fn acquire(
    dir: &Path,
    cid: &str,
    path: &Path,
    wait: Duration,
    interrupt: &Interrupt,
) -> Result<FileLock, LockError> {
    let lock_path = file_for(dir, cid, path);
    let io_err = |source| LockError::Io { path: lock_path.clone(), source };
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err)?;
    let waiting = Backoff::within(wait).pauses(Duration::from_millis(5), Duration::from_millis(100));
    let taken = waiting.run(|_| match try_lock(&lock_path) {
        Ok(Some(file)) => Ok(FileLock { file }),
        Err(e) => Err(Failed::Stop(io_err(e))),
        Ok(None) => match interrupt.raised() {
            Some(signal) => Err(Failed::Stop(LockError::Interrupted(signal))),
            None => Err(Failed::Retry(LockError::Busy { waited: wait })),
        },
    });
    taken.map_err(GaveUp::into_error)
}

/// The lock file at `lock_path`, locked, or `None` while another process holds it.
fn try_lock(lock_path: &Path) -> io::Result<Option<File>> {
    loop {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)?;
        match file.try_lock() {
            // The pruner may have unlinked the file between our open and our lock; a lock on
            // an unlinked inode excludes nobody, so start over.
            Ok(()) if !still_linked(&file, lock_path) => continue,
            Ok(()) => {
                // Touched, so that `prune` (which takes files untouched for long) leaves it.
                let _ = file.set_modified(SystemTime::now());
                return Ok(Some(file));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

fn still_linked(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => (held.dev(), held.ino()) == (named.dev(), named.ino()),
        _ => false,
    }
}

/// Removes lock files untouched for longer than `age` that nobody holds, so the directory does
/// not grow with every file ever seen.
pub fn prune(dir: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let cutoff = SystemTime::now() - age;
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
        if !old || path.extension().is_none_or(|e| e != "lock") {
            continue;
        }
        if let Ok(file) = File::open(&path)
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}
