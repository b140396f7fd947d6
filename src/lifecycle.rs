//! After the run: the upload, and the sidecar that verified it, moved or deleted as the rule's
//! `on_success` / `on_failure` say.
//!
//! Nothing here may lose or overwrite a file. Every step goes through the descriptors the
//! upload was verified through (its root and its directory), never through a path a customer
//! could swap for a symlink meanwhile; a name already taken gets `.1`, `.2`, ... instead;
//! what is taken away is first renamed aside and checked to be the verified file, and put
//! back if it is not; and a move across filesystems is a copy, made durable, before the
//! original goes.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::digest::Algorithm;
use crate::display::escape;
use crate::template::{Template, Values};
use crate::verify::{FileError, Upload};

/// What `on_success` / `on_failure` do with the upload and its sidecar.
#[derive(Debug, Clone)]
pub enum Action {
    /// Move them into this directory, relative to the rule's root.
    MoveTo(Template),
    Delete,
}

impl Action {
    /// `moved to ROOT/done/{date}` / `deleted`, for `explain`.
    pub fn describe(&self, root: &Path) -> String {
        match self {
            Action::MoveTo(dir) => format!("moved to {}", root.join(dir.source()).display()),
            Action::Delete => "deleted".to_owned(),
        }
    }

    /// The fixed part of a `move_to`, below the root: `done` for `done/{date}`, none for
    /// `{cid}/done`. `scan` does not look there: what is there was processed already.
    pub fn fixed_dir(&self) -> Option<PathBuf> {
        let Action::MoveTo(dir) = self else { return None };
        let source = dir.source();
        let fixed = match source.find('{') {
            None => source,
            Some(brace) => source[..brace].rsplit_once('/').map_or("", |(fixed, _)| fixed),
        };
        let path: PathBuf = fixed.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        (!path.as_os_str().is_empty()).then_some(path)
    }
}

/// What becomes of the file after its run, a line for each action there is (`explain`,
/// `--dry-run`): `on_success`'s and `on_failure`'s [`Action::describe`].
pub fn afterwards(on_success: Option<&str>, on_failure: Option<&str>) -> String {
    let mut out = String::new();
    for (when, action) in [
        ("after a success", on_success),
        ("after a failure (exit 12, 13 for the content type, 14, 15)", on_failure),
    ] {
        if let Some(action) = action {
            out.push_str(&format!("{when}, the file and its sidecar are {action}\n"));
        }
    }
    out
}

/// The placeholders a `move_to` may use besides the rule's regex captures: what names the
/// run, never an absolute path.
pub const MOVE_PLACEHOLDERS: &[&str] =
    &["cid", "filename", "stem", "ext", "md5", "size", "rule", "run_id", "date"];

/// Where the upload went.
#[derive(Debug, Default)]
pub struct Disposed {
    /// The absolute path it was moved to.
    pub moved_to: Option<PathBuf>,
    pub deleted: bool,
    /// Where its sidecar went, if it went along.
    pub sidecar: Option<PathBuf>,
    /// Why its sidecar, which should have gone along, stayed.
    pub sidecar_stayed: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("move_to {0} must name a directory inside the root, without `..`")]
    BadTarget(String),
    #[error(
        "move_to leads through {0}, which is a symlink or not a directory; a move goes only into real directories inside the root"
    )]
    NotADirectory(String),
    #[error("{0}")]
    Changed(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("every name from {name} to {name}.{MAX_SUFFIX} is taken in {dir}")]
    NoFreeName { name: String, dir: String },
}

/// How many numbered names are tried beside the file's own before giving up.
const MAX_SUFFIX: u32 = 999;

fn io(what: impl Into<String>) -> impl FnOnce(Errno) -> LifecycleError {
    let what = what.into();
    move |errno| LifecycleError::Io { what, source: errno.into() }
}

/// One entry of the upload's directory to move or delete, and the open file it must be.
struct Entry<'a> {
    dir: BorrowedFd<'a>,
    /// The directory's path, for messages.
    dir_path: &'a Path,
    name: &'a OsStr,
    file: BorrowedFd<'a>,
}

impl Entry<'_> {
    /// Whether the name `name` in `dir` is this entry's file (the same device and inode).
    fn is_at(&self, dir: BorrowedFd<'_>, name: &OsStr) -> Result<bool, LifecycleError> {
        let ours = rustix::fs::fstat(self.file).map_err(io("cannot stat the verified file"))?;
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(there) => Ok((there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino)),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io(format!("cannot stat {}", escape(name)))(e)),
        }
    }
}

/// Carries out `action` on `upload` (and on `sidecar`, the sidecar that verified it, when it
/// lies in the upload's directory and speaks of no other file), with `values` for a
/// `move_to`'s placeholders.
pub fn apply(
    action: &Action,
    upload: &Upload,
    sidecar: Option<(&Path, Algorithm)>,
    values: &Values,
) -> Result<Disposed, LifecycleError> {
    // A file rewritten in place, or replaced, since it was verified is a new upload: it stays
    // where it is, for its own run.
    upload.ensure_unchanged().map_err(|e| match e {
        FileError::Changed { what, .. } => LifecycleError::Changed(format!("{what} since it was verified")),
        e => LifecycleError::Changed(e.to_string()),
    })?;
    let place = &upload.place;
    let dir_path = upload.path.parent().unwrap_or(&place.root);
    let file = Entry { dir: place.dir_fd.as_fd(), dir_path, name: &upload.name, file: upload.as_fd() };
    let sidecar = sidecar.and_then(|(path, algorithm)| own_sidecar(upload, path, algorithm));
    let sidecar = sidecar.as_ref().map(|(name, fd)| Entry {
        dir: place.dir_fd.as_fd(),
        dir_path,
        name,
        file: fd.as_fd(),
    });
    match action {
        Action::Delete => {
            delete(&file)?;
            // The file is gone already: a sidecar that cannot go is only left behind.
            let sidecar_stayed =
                sidecar.as_ref().and_then(|sidecar| delete(sidecar).err()).map(|e| e.to_string());
            Ok(Disposed { deleted: true, sidecar_stayed, ..Disposed::default() })
        }
        Action::MoveTo(template) => {
            let relative = target(template, values)?;
            let (dir, dir_path) = make_dirs(place.root_fd.as_fd(), &place.root, &relative)?;
            let name = move_entry(&file, dir.as_fd(), &dir_path)?;
            let moved_to = Some(dir_path.join(name));
            let moved = sidecar.as_ref().map(|sidecar| move_entry(sidecar, dir.as_fd(), &dir_path));
            let (sidecar, sidecar_stayed) = match moved {
                None => (None, None),
                Some(Ok(name)) => (Some(dir_path.join(name)), None),
                Some(Err(e)) => (None, Some(e.to_string())),
            };
            Ok(Disposed { moved_to, deleted: false, sidecar, sidecar_stayed })
        }
    }
}

/// The sidecar at `path` as an entry of the upload's directory, opened, when it goes with the
/// upload: it lies in the same directory, is a regular file, and names no other file (a
/// listing of several uploads stays for the others). What it says is read from the very file
/// that would move.
fn own_sidecar(upload: &Upload, path: &Path, algorithm: Algorithm) -> Option<(OsString, File)> {
    let name = path.file_name()?.to_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::fstat(&upload.place.dir_fd).ok()?;
    let there = rustix::fs::stat(parent).ok()?;
    if (there.st_dev, there.st_ino) != (dir.st_dev, dir.st_ino) {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::openat(&upload.place.dir_fd, &name, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let bytes =
        crate::regular_file::read_to_end(file.try_clone().ok()?, &meta, crate::sidecar::SIDECAR_MAX).ok()?;
    let entries = crate::sidecar::parse(&bytes, algorithm).ok()?;
    let only_this = entries.iter().all(|e| e.name.as_deref().is_none_or(|n| n == upload.name));
    only_this.then_some((name, file))
}

/// The directory `template` names, as components below the root, each checked: no `..`, no
/// absolute path, nothing empty (a placeholder's value could hold any of these).
fn target(template: &Template, values: &Values) -> Result<Vec<OsString>, LifecycleError> {
    let expanded = template.expand(values);
    let bad = || LifecycleError::BadTarget(escape(&expanded));
    if expanded.as_bytes().starts_with(b"/") {
        return Err(bad());
    }
    let parts: Vec<OsString> = expanded
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .map(|part| OsStr::from_bytes(part).to_owned())
        .collect();
    if parts.is_empty() || parts.iter().any(|p| p == "..") {
        return Err(bad());
    }
    Ok(parts)
}

/// Opens (creating what is missing) the directory `parts` below `root`, one component at a
/// time and never through a symlink. Returns it with its path, for messages and `moved_to`.
fn make_dirs(
    root: BorrowedFd<'_>,
    root_path: &Path,
    parts: &[OsString],
) -> Result<(OwnedFd, PathBuf), LifecycleError> {
    let walk = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = rustix::io::fcntl_dupfd_cloexec(root, 0).map_err(io("cannot use the root"))?;
    let mut path = root_path.to_owned();
    for part in parts {
        path.push(part);
        match rustix::fs::mkdirat(&dir, part.as_os_str(), Mode::from_raw_mode(0o777)) {
            Ok(()) => {
                owned_like_parent(&dir, part).map_err(io(format!("cannot hand over {}", path.display())))?
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(io(format!("cannot create directory {}", path.display()))(e)),
        }
        dir = rustix::fs::openat(&dir, part.as_os_str(), walk, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => LifecycleError::NotADirectory(path.display().to_string()),
            e => io(format!("cannot open directory {}", path.display()))(e),
        })?;
    }
    Ok((dir, path))
}

/// Root (a `scan` from cron, say) gives a directory it made, `name` in `parent`, to the owner
/// of `parent`: the customer's own tree stays theirs to tidy. Anyone else's directory is theirs.
fn owned_like_parent(parent: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let owner = rustix::fs::fstat(parent)?;
    let (uid, gid) = (rustix::fs::Uid::from_raw(owner.st_uid), rustix::fs::Gid::from_raw(owner.st_gid));
    rustix::fs::chownat(parent, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
}

/// Renames `from` in `dir` into `to_dir` under `name`, or the first of `name.1`, `name.2`, ...
/// that is free, and returns the name it got; `None` when every one is taken.
fn rename_to_free_name(
    dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<Option<OsString>, Errno> {
    for n in 0..=MAX_SUFFIX {
        let mut candidate = name.to_owned();
        if n > 0 {
            candidate.push(format!(".{n}"));
        }
        if rename_new(dir, from, to_dir, &candidate)? {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// A name for a file set aside or half made, hidden and unlike any upload's.
fn hidden_name() -> OsString {
    OsString::from(format!(".ftptrigger-{}", uuid::Uuid::new_v4().simple()))
}

/// Renames `from` in `dir` to `to` in `to_dir` unless `to` exists: `Ok(false)` then. Where the
/// filesystem cannot refuse to replace in a rename, a hard link does it (it never replaces)
/// and the old name is unlinked.
fn rename_new(dir: BorrowedFd<'_>, from: &OsStr, to_dir: BorrowedFd<'_>, to: &OsStr) -> Result<bool, Errno> {
    match rustix::fs::renameat_with(dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(Errno::INVAL) => match rustix::fs::linkat(dir, from, to_dir, to, AtFlags::empty()) {
            Ok(()) => rustix::fs::unlinkat(dir, from, AtFlags::empty()).map(|()| true),
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Moves `entry` into `to` (whose path is `to_path`) under its own name or the first free
/// numbered one, which it returns.
fn move_entry(entry: &Entry<'_>, to: BorrowedFd<'_>, to_path: &Path) -> Result<OsString, LifecycleError> {
    match rename_to_free_name(entry.dir, entry.name, to, entry.name) {
        Ok(Some(name)) if entry.is_at(to, &name)? => Ok(name),
        // What was renamed is not the verified file: it replaced it after the last check. It
        // goes back, and the file stays for its own run.
        Ok(Some(name)) => Err(put_back(to, &name, entry, to_path)),
        Ok(None) => {
            Err(LifecycleError::NoFreeName { name: escape(entry.name), dir: to_path.display().to_string() })
        }
        Err(Errno::XDEV) => copy_across(entry, to, to_path),
        Err(e) => Err(io(format!("cannot move {} to {}", escape(entry.name), to_path.display()))(e)),
    }
}

/// Puts back a file that `name` in `dir` turned out to be, which is not the verified one.
fn put_back(dir: BorrowedFd<'_>, name: &OsStr, entry: &Entry<'_>, dir_path: &Path) -> LifecycleError {
    let what = match rename_new(dir, name, entry.dir, entry.name) {
        Ok(true) => "it was put back".to_owned(),
        _ => format!("it is kept as {}", dir_path.join(name).display()),
    };
    LifecycleError::Changed(format!(
        "{} was replaced by another file after it was verified; {what}, and the verified file is not moved",
        escape(entry.name)
    ))
}

/// The move across filesystems: the verified file is copied, through its descriptor, to a
/// hidden name in `to`, synced, and renamed to its free name; only then does the original go.
fn copy_across(entry: &Entry<'_>, to: BorrowedFd<'_>, to_path: &Path) -> Result<OsString, LifecycleError> {
    let temp = hidden_name();
    let result = copy_then_name(entry, to, to_path, &temp);
    if result.is_err() {
        let _ = rustix::fs::unlinkat(to, &temp, AtFlags::empty());
    }
    let name = result?;
    delete(entry).map_err(|e| {
        LifecycleError::Changed(format!(
            "copied to {}, but the original stays: {e}",
            to_path.join(&name).display()
        ))
    })?;
    Ok(name)
}

fn copy_then_name(
    entry: &Entry<'_>,
    to: BorrowedFd<'_>,
    to_path: &Path,
    temp: &OsStr,
) -> Result<OsString, LifecycleError> {
    let shown = to_path.display();
    let source = rustix::fs::fstat(entry.file).map_err(io("cannot stat the verified file"))?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(source.st_mode & 0o7777);
    let copy = rustix::fs::openat(to, temp, flags, Mode::from_raw_mode(0o600))
        .map_err(io(format!("cannot create a file in {shown}")))?;
    let mut copy = File::from(copy);
    let mut buf = vec![0u8; 1 << 20];
    let mut offset: u64 = 0;
    loop {
        let n = match rustix::io::pread(entry.file, &mut buf, offset) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(io("cannot read the verified file")(e)),
        };
        if n == 0 {
            break;
        }
        copy.write_all(&buf[..n]).map_err(|source| LifecycleError::Io {
            what: format!("cannot write a copy in {shown}"),
            source,
        })?;
        offset += n as u64;
    }
    if offset != source.st_size as u64 {
        return Err(LifecycleError::Changed(format!(
            "{} changed size while it was copied to {shown}",
            escape(entry.name)
        )));
    }
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: source.st_atime, tv_nsec: source.st_atime_nsec as _ },
        last_modification: rustix::fs::Timespec {
            tv_sec: source.st_mtime,
            tv_nsec: source.st_mtime_nsec as _,
        },
    };
    if rustix::process::geteuid().is_root() {
        // Root's copy would be root's: it keeps the owner the original had.
        let (uid, gid) = (rustix::fs::Uid::from_raw(source.st_uid), rustix::fs::Gid::from_raw(source.st_gid));
        rustix::fs::fchown(&copy, Some(uid), Some(gid))
            .map_err(io(format!("cannot set the owner of the copy in {shown}")))?;
    }
    rustix::fs::fchmod(&copy, mode).map_err(io(format!("cannot set the mode of the copy in {shown}")))?;
    rustix::fs::futimens(&copy, &times)
        .map_err(io(format!("cannot set the times of the copy in {shown}")))?;
    copy.sync_all()
        .map_err(|source| LifecycleError::Io { what: format!("cannot sync the copy in {shown}"), source })?;
    let name = rename_to_free_name(to, temp, to, entry.name)
        .map_err(io(format!("cannot name the copy in {shown}")))?
        .ok_or_else(|| LifecycleError::NoFreeName { name: escape(entry.name), dir: shown.to_string() })?;
    sync_dir(to).map_err(io(format!("cannot sync directory {shown}")))?;
    Ok(name)
}

/// Syncs the directory `dir` (a path descriptor), so a name made in it survives a crash.
fn sync_dir(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    let readable =
        rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::fs::fsync(readable)
}

/// Removes `entry`: renamed aside first, then unlinked once the name aside is known to be the
/// verified file; anything else that had taken its name is put back.
fn delete(entry: &Entry<'_>) -> Result<(), LifecycleError> {
    let aside = hidden_name();
    let shown = || escape(entry.name);
    match rename_new(entry.dir, entry.name, entry.dir, &aside) {
        Ok(true) => {}
        Ok(false) => {
            return Err(LifecycleError::Changed(format!("cannot set {} aside: the name is taken", shown())));
        }
        Err(Errno::NOENT) => return Err(LifecycleError::Changed(format!("{} is no longer there", shown()))),
        Err(e) => return Err(io(format!("cannot remove {}", shown()))(e)),
    }
    if !entry.is_at(entry.dir, &aside)? {
        return Err(put_back(entry.dir, &aside, entry, entry.dir_path));
    }
    rustix::fs::unlinkat(entry.dir, &aside, AtFlags::empty())
        .map_err(io(format!("cannot remove {}", shown())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_dir_of_a_move_to_is_what_comes_before_its_first_placeholder() {
        let dir = |source: &str| {
            let captures = ["date".to_owned(), "co".to_owned()];
            Action::MoveTo(Template::parse(source, &captures).expect("template")).fixed_dir()
        };
        assert_eq!(dir("done/{date}"), Some(PathBuf::from("done")));
        assert_eq!(dir("./archive//done/x{date}/y"), Some(PathBuf::from("archive/done")));
        assert_eq!(dir("failed"), Some(PathBuf::from("failed")));
        assert_eq!(dir("{co}/done"), None);
        assert_eq!(dir("done{date}"), None);
        assert_eq!(Action::Delete.fixed_dir(), None);
    }
}
