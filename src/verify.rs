//! The uploaded file: is it a regular file inside the CID's root, and what is its MD5.
//!
//! The file is opened once, without following a symlink in its last component and without
//! blocking on a FIFO, and hashed through that one descriptor. Its identity (device, inode,
//! size, mtime) is compared before and after hashing, and against what the path names
//! afterwards, so a file still being uploaded or swapped underneath us is caught.

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::display::escape;
use crate::sidecar::Md5Hex;

/// Bytes read per call while hashing: large enough to keep syscalls rare, small enough that
/// memory stays flat whatever the file size.
const CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file {} does not exist", escape(.path.as_os_str()))]
    Missing { path: PathBuf },
    #[error("file {} cannot be read: {source}", escape(.path.as_os_str()))]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("file {} is {kind}, not a regular file", escape(.path.as_os_str()))]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("file {} is a symlink; only regular files are processed", escape(.path.as_os_str()))]
    Symlink { path: PathBuf },
    #[error("file {} has no file name", escape(.path.as_os_str()))]
    NoFileName { path: PathBuf },
    #[error("file {} resolves to {}, outside the root {} of rule {rule}", escape(.path.as_os_str()), escape(.resolved.as_os_str()), escape(.root.as_os_str()))]
    OutsideRoot { path: PathBuf, resolved: PathBuf, root: PathBuf, rule: String },
    #[error("root {} of rule {rule} cannot be used: {source}", escape(.root.as_os_str()))]
    BadRoot { root: PathBuf, rule: String, source: io::Error },
    #[error("file {} changed while being verified ({what}); it may still be uploading", escape(.path.as_os_str()))]
    Changed { path: PathBuf, what: &'static str },
    #[error("stopped while hashing {}", escape(.path.as_os_str()))]
    Stopped { path: PathBuf },
}

/// What identifies one version of a file: if any of this differs, it is not the file we hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl Identity {
    fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    /// Names the first difference, for the message.
    fn differs(&self, other: &Identity) -> Option<&'static str> {
        if (self.dev, self.ino) != (other.dev, other.ino) {
            Some("it was replaced by another file")
        } else if self.size != other.size {
            Some("its size changed")
        } else if self.mtime != other.mtime {
            Some("its modification time changed")
        } else {
            None
        }
    }
}

/// An open upload that passed every check but the MD5.
#[derive(Debug)]
pub struct Upload {
    /// Canonical absolute path: the parent resolved, the name as given.
    pub path: PathBuf,
    pub name: OsString,
    pub size: u64,
    file: File,
    identity: Identity,
}

/// The file's base name as the rules see it.
pub fn file_name(path: &Path) -> Result<OsString, FileError> {
    path.file_name().map(OsString::from).ok_or_else(|| FileError::NoFileName { path: path.to_owned() })
}

/// Resolves `path` and checks that it lies inside `root`, without opening it: for `explain`.
pub fn resolve_in_root(path: &Path, root: &Path, rule: &str) -> Result<PathBuf, FileError> {
    let name = file_name(path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let canonical_root = root.canonicalize().map_err(|source| FileError::BadRoot {
        root: root.to_owned(),
        rule: rule.to_owned(),
        source,
    })?;
    let canonical_parent = parent.canonicalize().map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => FileError::Missing { path: path.to_owned() },
        _ => FileError::Unreadable { path: path.to_owned(), source: err },
    })?;
    let resolved = canonical_parent.join(&name);
    if !canonical_parent.starts_with(&canonical_root) {
        return Err(FileError::OutsideRoot {
            path: path.to_owned(),
            resolved,
            root: root.to_owned(),
            rule: rule.to_owned(),
        });
    }
    Ok(resolved)
}

/// Checks and opens the upload at `path` for rule `rule` whose root is `root`.
pub fn open(path: &Path, root: &Path, rule: &str) -> Result<Upload, FileError> {
    let meta = std::fs::symlink_metadata(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => FileError::Missing { path: path.to_owned() },
        _ => FileError::Unreadable { path: path.to_owned(), source: err },
    })?;
    check_type(path, &meta)?;
    let resolved = resolve_in_root(path, root, rule)?;
    // O_NOFOLLOW closes the race where the name becomes a symlink after the lstat above;
    // O_NONBLOCK keeps a FIFO swapped in from blocking the open.
    let file = File::options()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&resolved)
        .map_err(|err| match err.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                FileError::Symlink { path: path.to_owned() }
            }
            _ if err.kind() == io::ErrorKind::NotFound => FileError::Missing { path: path.to_owned() },
            _ => FileError::Unreadable { path: path.to_owned(), source: err },
        })?;
    let opened =
        file.metadata().map_err(|err| FileError::Unreadable { path: path.to_owned(), source: err })?;
    check_type(path, &opened)?;
    let identity = Identity::of(&opened);
    if let Some(what) = Identity::of(&meta).differs(&identity) {
        return Err(FileError::Changed { path: path.to_owned(), what });
    }
    let name = file_name(path)?;
    Ok(Upload { path: resolved, name, size: identity.size, file, identity })
}

fn check_type(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_symlink() {
        return Err(FileError::Symlink { path: path.to_owned() });
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(FileError::NotRegular { path: path.to_owned(), kind })
}

impl Upload {
    /// Hashes the file through the descriptor opened by [`open`], then makes sure that what
    /// was hashed is still the file at the path, unchanged. `stop` is asked between chunks, so
    /// a signal does not have to wait for a multi-gigabyte file.
    pub fn md5(&mut self, stop: &dyn Fn() -> bool) -> Result<Md5Hex, FileError> {
        let unreadable = |err| FileError::Unreadable { path: self.path.clone(), source: err };
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        let mut total: u64 = 0;
        loop {
            if stop() {
                return Err(FileError::Stopped { path: self.path.clone() });
            }
            let n = match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(unreadable(err)),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        if total != self.identity.size {
            return Err(FileError::Changed { path: self.path.clone(), what: "its size changed" });
        }
        self.ensure_unchanged()?;
        Ok(Md5Hex::from_digest(hasher.finalize().as_slice()))
    }

    /// The file at the path is still the one opened, with the size and mtime it had.
    pub fn ensure_unchanged(&self) -> Result<(), FileError> {
        let changed = |what| FileError::Changed { path: self.path.clone(), what };
        let now = self
            .file
            .metadata()
            .map_err(|err| FileError::Unreadable { path: self.path.clone(), source: err })?;
        if let Some(what) = self.identity.differs(&Identity::of(&now)) {
            return Err(changed(what));
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(at_path) => match self.identity.differs(&Identity::of(&at_path)) {
                Some(what) => Err(changed(what)),
                None => Ok(()),
            },
            Err(_) => Err(changed("it was removed")),
        }
    }
}
