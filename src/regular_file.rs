//! Reading the small files ftptrigger is pointed at: its config, an `env_file` or `ca_file`,
//! a sidecar. Each must be a regular file; it is opened without blocking (a FIFO in its place
//! would hang the open), checked through the descriptor it is read from, and never read past
//! a bound (a device in its place would be read forever).

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;

/// Whether a symlink in the last component is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    /// For what the customer controls: a symlink could point anywhere we can read.
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("a symlink")]
    Symlink,
    #[error("not a regular file")]
    NotRegular,
    /// `len` is the size the file has (or at least has).
    #[error("larger than {} MiB", .max >> 20)]
    TooLarge { len: u64, max: u64 },
}

/// Opens `path` for reading, if it is a regular file.
pub fn open(path: &Path, links: Links) -> Result<(File, Metadata), ReadError> {
    let flags = match links {
        Links::Follow => OFlags::NONBLOCK,
        Links::Refuse => OFlags::NONBLOCK | OFlags::NOFOLLOW,
    };
    let file = File::options().read(true).custom_flags(flags.bits() as i32).open(path).map_err(|err| {
        match err.raw_os_error() {
            Some(code) if links == Links::Refuse && code == rustix::io::Errno::LOOP.raw_os_error() => {
                ReadError::Symlink
            }
            _ => ReadError::Io(err),
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    Ok((file, meta))
}

/// Reads all of `file` (opened by [`open`], with its `meta`), refusing more than `max` bytes:
/// by its size, or by what it holds if it grew since.
pub fn read_to_end(file: File, meta: &Metadata, max: u64) -> Result<Vec<u8>, ReadError> {
    if meta.len() > max {
        return Err(ReadError::TooLarge { len: meta.len(), max });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { len: bytes.len() as u64, max });
    }
    Ok(bytes)
}

/// [`open`] and [`read_to_end`] in one.
pub fn read(path: &Path, links: Links, max: u64) -> Result<(Vec<u8>, Metadata), ReadError> {
    let (file, meta) = open(path, links)?;
    Ok((read_to_end(file, &meta, max)?, meta))
}
