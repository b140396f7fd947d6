//! The digest the sender claims in a sidecar file, read as GNU `md5sum -c` (or `sha256sum -c`)
//! reads it.
//!
//! A sidecar is read whole (`format` knows the forms of its lines); the file's entry is the
//! line that names it by its base name, or by a path that leads to it from the sidecar's
//! directory. What it claims decides the run's outcome: a digest to compare, a mismatch when
//! the sidecar is about other files, `bad_file` when the sender wrote it wrong.

mod format;

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::digest::{Algorithm, Digest};
use crate::display::escape;
use crate::outcome::{Failure, Outcome};
use crate::regular_file::{self, Links, ReadError};

pub use format::{Entry, SidecarError, parse};

/// Sidecars are a line or a listing; anything bigger is not a sidecar.
pub const SIDECAR_MAX: u64 = 1 << 20;

/// What the `algorithm` sidecar at `path` claims the digest of `target` is. One that cannot be
/// read or parsed, or that gives the file two different digests, is `bad_file`: the sender's
/// fault. One that names only other files is `md5_mismatch`: it was meant for another upload.
/// Either way the message names the sidecar, and the line when there is one.
pub fn claim(path: &Path, algorithm: Algorithm, target: &Target<'_>) -> Result<Digest, Failure> {
    let shown = escape(path.as_os_str());
    let unusable = |err: SidecarError| Failure::new(Outcome::BadFile, err.of_sidecar(&shown, algorithm));
    let entries = read(path, algorithm).map_err(unusable)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let leads_to_file = |name: &OsStr| std::fs::metadata(dir.join(name)).is_ok_and(|meta| target.is(&meta));
    select(&entries, target.name, leads_to_file).map_err(|missed| match missed {
        NoClaim::Conflict { first, second } => {
            unusable(SidecarError::Conflict { first, line: second, name: target.name.to_owned() })
        }
        NoClaim::ForOthers { first, more } => {
            let more = match more {
                0 => String::new(),
                1 => " and 1 other file".to_owned(),
                n => format!(" and {n} other files"),
            };
            let detail = format!(
                "{algorithm} sidecar {shown} is for {}{more}, not {}",
                escape(&first),
                escape(target.name)
            );
            Failure::new(Outcome::Md5Mismatch, detail)
        }
    })
}

/// Every entry of the `algorithm` sidecar at `path`, or why it cannot be read as one. A symlink
/// is not followed: a sidecar comes from the customer, and one who can make symlinks (SFTP)
/// must not get another file's digests reported as theirs.
pub fn read(path: &Path, algorithm: Algorithm) -> Result<Vec<Entry>, SidecarError> {
    let (bytes, _) = regular_file::read(path, Links::Refuse, SIDECAR_MAX).map_err(|err| {
        SidecarError::Unreadable(match err {
            ReadError::Symlink => "a symlink; only a regular file is read as a sidecar".to_owned(),
            ReadError::TooLarge { len, .. } => {
                format!("too large for {} sidecar ({len} bytes; the limit is 1 MiB)", algorithm.a())
            }
            err => err.to_string(),
        })
    })?;
    parse(&bytes, algorithm)
}

/// The file a sidecar is read for: its base name, and the file itself (its device and inode),
/// which a name with a directory part must lead to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a OsStr,
    dev: u64,
    ino: u64,
}

impl<'a> Target<'a> {
    /// The file called `name` whose metadata is `meta`.
    pub fn new(name: &'a OsStr, meta: &Metadata) -> Target<'a> {
        Target { name, dev: meta.dev(), ino: meta.ino() }
    }

    fn is(&self, meta: &Metadata) -> bool {
        (meta.dev(), meta.ino()) == (self.dev, self.ino)
    }
}

/// Why [`select`] found no digest for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoClaim {
    /// No entry is for the file: the sidecar names `first` and `more` other files.
    ForOthers { first: OsString, more: usize },
    /// The entries at lines `first` and `second` are for the file, with different digests.
    Conflict { first: usize, second: usize },
}

/// The digest the sidecar's `entries` give the file called `filename`: a bare digest's, or that
/// of every entry for the file, which must agree. An entry is for the file when its name is the
/// file's base name, or has a directory part and `leads_to_file` (which resolves it from the
/// sidecar's directory) says it is the file itself: `x/f` in a listing is not about `f`.
pub fn select(
    entries: &[Entry],
    filename: &OsStr,
    leads_to_file: impl Fn(&OsStr) -> bool,
) -> Result<Digest, NoClaim> {
    if let [Entry { digest, name: None, .. }] = entries {
        return Ok(digest.clone());
    }
    let is_for_file =
        |name: &OsStr| name == filename || (name.as_bytes().contains(&b'/') && leads_to_file(name));
    let mut found: Option<&Entry> = None;
    for entry in entries {
        if !entry.name.as_deref().is_some_and(is_for_file) {
            continue;
        }
        match found {
            None => found = Some(entry),
            Some(first) if first.digest != entry.digest => {
                return Err(NoClaim::Conflict { first: first.line, second: entry.line });
            }
            Some(_) => {}
        }
    }
    found.map(|entry| entry.digest.clone()).ok_or_else(|| {
        let mut named = entries.iter().filter_map(|e| e.name.clone());
        let first = named.next().unwrap_or_default();
        NoClaim::ForOthers { first, more: named.count() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const Z: &str = "00000000000000000000000000000000";

    fn parse(bytes: &[u8]) -> Result<Vec<Entry>, SidecarError> {
        super::parse(bytes, Algorithm::Md5)
    }

    #[test]
    fn selects_the_files_own_entry() {
        let entries = parse(format!("{H}  up/a.zip\n{Z}  a.zip\n{H}  b.zip\n").as_bytes()).unwrap();
        let nowhere = |_: &OsStr| false;
        assert_eq!(select(&entries, OsStr::new("a.zip"), nowhere).unwrap().as_str(), Z);
        assert_eq!(select(&entries, OsStr::new("b.zip"), nowhere).unwrap().as_str(), H);
        assert_eq!(
            select(&entries, OsStr::new("c.zip"), nowhere),
            Err(NoClaim::ForOthers { first: "up/a.zip".into(), more: 2 })
        );
        // `up/a.zip` is the file itself (the sidecar lies in its parent): two digests for it.
        let up = |n: &OsStr| n == "up/a.zip";
        assert_eq!(select(&entries, OsStr::new("a.zip"), up), Err(NoClaim::Conflict { first: 1, second: 2 }));
    }

    #[test]
    fn the_same_digest_twice_is_no_conflict() {
        let entries =
            parse(format!("{H}  a.zip\nMD5 (./a.zip) = {}\n", H.to_uppercase()).as_bytes()).unwrap();
        assert_eq!(select(&entries, OsStr::new("a.zip"), |_| true).unwrap().as_str(), H);
    }
}
