//! The uploaded file: is it a regular file inside the CID's root, and what are its digests.
//!
//! The file is opened once, without following a symlink in its last component and without
//! blocking on a FIFO, and hashed through that one descriptor, in one pass whatever the digests
//! asked for. Its identity (device, inode,
//! size, mtime, ctime) is compared before and after hashing, and against what the path names
//! afterwards, so a file still being uploaded or swapped underneath us is caught.

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use sha2::Digest as _;

use crate::digest::{Algorithm, Digest, Md5Hex};
use crate::display::escape;
use crate::md5block::Md5;

/// Bytes read per call while hashing: large enough to keep syscalls rare, small enough that
/// memory stays flat whatever the file size.
const CHUNK: usize = 1 << 20;

/// Chunk buffers shared by the reader thread and the MD5 hasher: one is filled while one is
/// hashed.
const BUFFERS: usize = 2;

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
/// The ctime is there because the mtime is not enough: a customer can set it (FTP's `MFMT`),
/// so a same-size rewrite could put it back; nobody can set the ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
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
        } else if self.ctime != other.ctime {
            Some("it was modified or its attributes changed")
        } else {
            None
        }
    }
}

/// An open upload that passed every check but its digest.
#[derive(Debug)]
pub struct Upload {
    /// Canonical absolute path: the parent resolved, the name as given.
    pub path: PathBuf,
    pub name: OsString,
    file: File,
    identity: Identity,
    /// Where the file was found, as descriptors taken on the walk down to it: what happens to
    /// it after its run goes through them, not through a path a customer may swap meanwhile.
    pub place: Place,
}

/// The canonical root an upload was opened beneath, and descriptors (`O_PATH`) of the root and
/// of the directory that holds the file.
#[derive(Debug)]
pub struct Place {
    pub root: PathBuf,
    pub root_fd: OwnedFd,
    pub dir_fd: OwnedFd,
}

/// The file's base name as the rules see it.
pub fn file_name(path: &Path) -> Result<OsString, FileError> {
    path.file_name().map(OsString::from).ok_or_else(|| FileError::NoFileName { path: path.to_owned() })
}

/// Resolves `path` and checks that it lies inside `root`, without opening it: for `explain`.
pub fn resolve_in_root(path: &Path, root: &Path, rule: &str) -> Result<PathBuf, FileError> {
    resolve_beneath(path, root, rule).map(|(_, resolved)| resolved)
}

/// The canonical root, and the file's canonical path inside it.
fn resolve_beneath(path: &Path, root: &Path, rule: &str) -> Result<(PathBuf, PathBuf), FileError> {
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
    Ok((canonical_root, resolved))
}

/// Checks and opens the upload at `path` for rule `rule` whose root is `root`.
pub fn open(path: &Path, root: &Path, rule: &str) -> Result<Upload, FileError> {
    let meta = std::fs::symlink_metadata(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => FileError::Missing { path: path.to_owned() },
        _ => FileError::Unreadable { path: path.to_owned(), source: err },
    })?;
    check_type(path, &meta)?;
    let (root, resolved) = resolve_beneath(path, root, rule)?;
    let (file, place) = open_beneath(&root, &resolved).map_err(|err| match err {
        rustix::io::Errno::LOOP => FileError::Symlink { path: path.to_owned() },
        rustix::io::Errno::NOTDIR => {
            FileError::Changed { path: path.to_owned(), what: "a directory on its path was replaced" }
        }
        rustix::io::Errno::NOENT => FileError::Missing { path: path.to_owned() },
        err => FileError::Unreadable { path: path.to_owned(), source: err.into() },
    })?;
    let opened =
        file.metadata().map_err(|err| FileError::Unreadable { path: path.to_owned(), source: err })?;
    check_type(path, &opened)?;
    let identity = Identity::of(&opened);
    if let Some(what) = Identity::of(&meta).differs(&identity) {
        return Err(FileError::Changed { path: path.to_owned(), what });
    }
    let name = file_name(path)?;
    Ok(Upload { path: resolved, name, file, identity, place })
}

/// Opens `resolved` by walking down from an open descriptor of `root`, one component at a time
/// and never following a symlink (O_NOFOLLOW at every step), so a directory swapped for a
/// symlink after the path was resolved cannot lead outside the root. The file itself is opened
/// O_NONBLOCK, so a FIFO swapped in cannot block the open.
fn open_beneath(root: &Path, resolved: &Path) -> rustix::io::Result<(File, Place)> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let relative = resolved.strip_prefix(root).map_err(|_| rustix::io::Errno::XDEV)?;
    let mut parts: Vec<_> = relative.components().collect();
    let name = parts.pop().ok_or(rustix::io::Errno::ISDIR)?;
    let walk = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root_fd = openat(CWD, root, walk, Mode::empty())?;
    let mut dir = rustix::io::fcntl_dupfd_cloexec(&root_fd, 0)?;
    for part in parts {
        dir = openat(&dir, part.as_os_str(), walk, Mode::empty())?;
    }
    let file = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = openat(&dir, name.as_os_str(), file, Mode::empty()).map(File::from)?;
    Ok((file, Place { root: root.to_owned(), root_fd, dir_fd: dir }))
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
    /// The size it had when opened; hashing refuses it if that changes.
    pub fn size(&self) -> u64 {
        self.identity.size
    }

    /// Hashes the file through the descriptor opened by [`open`], then makes sure that what
    /// was hashed is still the file at the path, unchanged. The MD5 always, since the duplicate
    /// check, the journal and `{md5}` need it whatever the sender claimed; and the digest of
    /// `algorithm` too when that is another, from the same reads. `stop` is asked between
    /// chunks, with the bytes hashed so far, so a signal does not have to wait for a
    /// multi-gigabyte file (and a progress bar can follow).
    pub fn hash(&mut self, algorithm: Algorithm, stop: &dyn Fn(u64) -> bool) -> Result<Digests, FileError> {
        let size = self.identity.size;
        let sha256 = (algorithm == Algorithm::Sha256).then(sha2::Sha256::new);
        // A file of one chunk or less is not worth a thread; without a thread, hash in turn.
        let threaded =
            if size > CHUNK as u64 { hash_with_reader(&mut self.file, sha256.clone(), stop) } else { None };
        let hashed = match threaded {
            Some(hashed) => hashed,
            None => hash_inline(&mut self.file, size, sha256, stop),
        };
        let (sums, total) = hashed.map_err(|halt| match halt {
            Halt::Stopped => FileError::Stopped { path: self.path.clone() },
            Halt::Read(err) => FileError::Unreadable { path: self.path.clone(), source: err },
        })?;
        if total != self.identity.size {
            return Err(FileError::Changed { path: self.path.clone(), what: "its size changed" });
        }
        self.ensure_unchanged()?;
        Ok(Digests {
            md5: Md5Hex::from_digest(&sums.md5),
            sha256: sums.sha256.map(|sum| Digest::from_bytes(Algorithm::Sha256, &sum)),
        })
    }

    /// Up to `n` bytes from the start of the file, read through the verified descriptor
    /// without moving its offset.
    pub fn head(&self, n: usize) -> Result<Vec<u8>, FileError> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; n];
        let mut got = 0;
        while got < n {
            match self.file.read_at(&mut buf[got..], got as u64) {
                Ok(0) => break,
                Ok(read) => got += read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(FileError::Unreadable { path: self.path.clone(), source: err }),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Puts the descriptor back at the start, for a job that inherits it: it shares the
    /// offset, which hashing left at the end.
    pub fn rewind(&mut self) -> Result<(), FileError> {
        use std::io::Seek;
        self.file.rewind().map_err(|err| FileError::Unreadable { path: self.path.clone(), source: err })
    }

    /// The file at the path is still the one opened, with the identity it had. The path is
    /// asked first: replacing or removing a file also changes the old one's ctime (its link
    /// count), and the message should say what happened to the path.
    pub fn ensure_unchanged(&self) -> Result<(), FileError> {
        let changed = |what| FileError::Changed { path: self.path.clone(), what };
        let at_path = std::fs::symlink_metadata(&self.path).map_err(|_| changed("it was removed"))?;
        if let Some(what) = self.identity.differs(&Identity::of(&at_path)) {
            return Err(changed(what));
        }
        let now = self
            .file
            .metadata()
            .map_err(|err| FileError::Unreadable { path: self.path.clone(), source: err })?;
        match self.identity.differs(&Identity::of(&now)) {
            Some(what) => Err(changed(what)),
            None => Ok(()),
        }
    }
}

/// The descriptor the file was opened and verified through.
impl std::os::fd::AsFd for Upload {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// What hashing a file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: Md5Hex,
    /// When it was asked for.
    pub sha256: Option<Digest>,
}

impl Digests {
    /// The digest of `algorithm`, if it was made.
    pub fn of(&self, algorithm: Algorithm) -> Option<&Digest> {
        match algorithm {
            Algorithm::Md5 => Some(self.md5.as_digest()),
            Algorithm::Sha256 => self.sha256.as_ref(),
        }
    }
}

/// Why hashing ended before the end of the file.
enum Halt {
    /// `stop` said so.
    Stopped,
    Read(io::Error),
}

/// The raw digests: the MD5, and the SHA-256 when it was asked for.
struct Sums {
    md5: [u8; 16],
    sha256: Option<[u8; 32]>,
}

/// What hashing yields: the digests, and how many bytes they cover.
type Hashed = Result<(Sums, u64), Halt>;

/// Reads and hashes in turn on this thread: for a file of at most one chunk, where starting a
/// thread would cost more than overlapping saves, or when no thread can be started. The buffer
/// is sized to the file (one byte more, so the first read takes it all), never past one chunk.
/// `sha256` hashes the same bytes when it is there.
fn hash_inline(
    file: &mut File,
    size: u64,
    mut sha256: Option<sha2::Sha256>,
    stop: &dyn Fn(u64) -> bool,
) -> Hashed {
    let mut buf = vec![0u8; usize::try_from(size).map_or(CHUNK, |size| size.saturating_add(1).min(CHUNK))];
    let mut md5 = Md5::new();
    let mut total: u64 = 0;
    loop {
        if stop(total) {
            return Err(Halt::Stopped);
        }
        match read_some(file, &mut buf).map_err(Halt::Read)? {
            0 => {
                return Ok((
                    Sums { md5: md5.finalize(), sha256: sha256.map(|h| h.finalize().into()) },
                    total,
                ));
            }
            n => {
                md5.update(&buf[..n]);
                if let Some(sha256) = &mut sha256 {
                    sha256.update(&buf[..n]);
                }
                total += n as u64;
            }
        }
    }
}

/// A chunk of the file as read: the buffer, and how much of it the read filled.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

impl Chunk {
    fn empty() -> Chunk {
        Chunk { buf: vec![0u8; CHUNK], len: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Hashes MD5 on this thread while a reader thread fills the next buffer, so reading overlaps
/// hashing (`md5sum` does them in turn). When `sha256` is there, the reader feeds it each chunk
/// right after handing the chunk over, so the two digests are made side by side on two cores
/// from the same buffer, and the pair costs about the slower of the two, not their sum.
///
/// [`BUFFERS`] buffers of one chunk go back and forth over two channels and are reused, so
/// memory stays flat. A chunk is shared (an `Arc`) while both hash it; the reader lets go of
/// its handle before it waits for an empty buffer, and this thread sends its handle back only
/// when done with it, so a buffer that comes back is the reader's alone again. If this thread
/// leaves early (stopped, or a read failed), dropping its channel ends make the reader finish
/// its current read and quit, and the scope waits for it. `None` if the thread could not be
/// started: nothing was read.
fn hash_with_reader(
    file: &mut File,
    mut sha256: Option<sha2::Sha256>,
    stop: &dyn Fn(u64) -> bool,
) -> Option<Hashed> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<Arc<Chunk>>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Arc<Chunk>>(BUFFERS);
        for _ in 0..BUFFERS {
            empty_tx.send(Arc::new(Chunk::empty())).expect("the receiving end is held right here");
        }
        let reader = move || {
            // Ends at the end of the file (dropping `full_tx` says so) with the SHA-256 if it
            // made one, after passing on a read error, or when the hasher has gone.
            for returned in empty_rx {
                let mut chunk = Arc::try_unwrap(returned).unwrap_or_else(|_| Chunk::empty());
                match read_some(file, &mut chunk.buf) {
                    Ok(0) => return Ok(sha256.map(|h| <[u8; 32]>::from(h.finalize()))),
                    Ok(n) => {
                        chunk.len = n;
                        let chunk = Arc::new(chunk);
                        if full_tx.send(Ok(Arc::clone(&chunk))).is_err() {
                            break;
                        }
                        if let Some(sha256) = &mut sha256 {
                            sha256.update(chunk.bytes());
                        }
                    }
                    Err(err) => {
                        let _ = full_tx.send(Err(err));
                        break;
                    }
                }
            }
            Err(())
        };
        let reader =
            std::thread::Builder::new().name("hash-reader".into()).spawn_scoped(scope, reader).ok()?;
        let mut md5 = Md5::new();
        let mut total: u64 = 0;
        loop {
            if stop(total) {
                return Some(Err(Halt::Stopped));
            }
            match full_rx.recv() {
                Ok(Ok(chunk)) => {
                    md5.update(chunk.bytes());
                    total += chunk.len as u64;
                    // The reader may have finished already; then the buffer is simply freed.
                    let _ = empty_tx.send(chunk);
                }
                Ok(Err(err)) => return Some(Err(Halt::Read(err))),
                Err(mpsc::RecvError) => {
                    // The end of the file, unless the reader died without saying why.
                    let sha256 = match reader.join() {
                        Ok(Ok(sha256)) => sha256,
                        _ => return Some(Err(Halt::Read(io::Error::other("the reading thread failed")))),
                    };
                    return Some(Ok((Sums { md5: md5.finalize(), sha256 }, total)));
                }
            }
        }
    })
}

/// One `read`, retried when a signal interrupts it.
fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    // md-5 and sha2 implement different versions of the `Digest` trait.
    use md5::Digest as _;

    use super::*;

    /// Writes `len` bytes of a pattern to a file in a fresh root and opens it as an upload.
    fn upload(len: usize) -> (tempfile::TempDir, Upload, Vec<u8>) {
        let root = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
        let path = root.path().join("f.bin");
        std::fs::write(&path, &data).expect("write");
        let upload = open(&path, root.path(), "r").expect("open");
        (root, upload, data)
    }

    /// The race `open_beneath` closes: a directory inside the root that became a symlink to
    /// somewhere else after the path was resolved. The walk refuses it instead of following.
    #[test]
    fn a_directory_swapped_for_a_symlink_is_not_followed() {
        let world = tempfile::tempdir().expect("temp dir");
        let root = world.path().join("root");
        let outside = world.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).expect("dirs");
        std::fs::create_dir_all(&outside).expect("dirs");
        std::fs::write(root.join("sub/a.zip"), b"inside").expect("write");
        std::fs::write(outside.join("a.zip"), b"outside").expect("write");
        let root = root.canonicalize().expect("canonical");
        let resolved = root.join("sub/a.zip");
        assert!(open_beneath(&root, &resolved).is_ok());
        std::fs::rename(root.join("sub"), world.path().join("old")).expect("move away");
        std::os::unix::fs::symlink(&outside, root.join("sub")).expect("symlink");
        let err = open_beneath(&root, &resolved).expect_err("must not follow the swapped-in symlink");
        assert_eq!(err, rustix::io::Errno::NOTDIR);
        std::fs::remove_file(root.join("sub")).expect("unlink");
        std::os::unix::fs::symlink(outside.join("a.zip"), root.join("a.zip")).expect("symlink");
        assert_eq!(
            open_beneath(&root, &root.join("a.zip")).expect_err("a symlinked file"),
            rustix::io::Errno::LOOP
        );
    }

    #[test]
    fn every_size_around_one_and_more_chunks_hashes_like_the_crate() {
        // Inline below and at one chunk, with the reader thread above it.
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 12_345] {
            let (_root, mut upload, data) = upload(len);
            let got = upload.hash(Algorithm::Md5, &|_| false).expect("hashes");
            assert_eq!(got.md5.as_str(), hex::encode(md5::Md5::digest(&data)), "length {len}");
            assert_eq!(got.sha256, None, "length {len}: SHA-256 only when asked for");
        }
    }

    /// Both digests from one pass, the SHA-256 on the reader thread above one chunk: each the
    /// crates' digest of the whole file, whatever the sizes of the reads.
    #[test]
    fn md5_and_sha256_together_hash_like_the_crates_around_the_chunk_boundaries() {
        for len in
            [0, 1, 63, 64, 65, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 3 * CHUNK + 12_345]
        {
            let (_root, mut upload, data) = upload(len);
            let got = upload.hash(Algorithm::Sha256, &|_| false).expect("hashes");
            assert_eq!(got.md5.as_str(), hex::encode(md5::Md5::digest(&data)), "length {len}");
            let sha256 = got.sha256.as_ref().expect("asked for");
            assert_eq!(sha256.as_str(), hex::encode(sha2::Sha256::digest(&data)), "length {len}");
            assert_eq!(got.of(Algorithm::Sha256), Some(sha256));
            assert_eq!(got.of(Algorithm::Md5), Some(got.md5.as_digest()));
        }
    }

    #[test]
    fn stop_is_asked_between_chunks_with_and_without_the_thread() {
        for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
            for (len, asks_before_stop) in [(100, 1), (5 * CHUNK, 1), (5 * CHUNK, 3)] {
                let (_root, mut upload, _) = upload(len);
                let asked = Cell::new(0);
                let stop = |_| {
                    asked.set(asked.get() + 1);
                    asked.get() > asks_before_stop
                };
                let err = upload.hash(algorithm, &stop).expect_err("stopped");
                assert!(matches!(err, FileError::Stopped { .. }), "{algorithm}, length {len}: {err}");
                assert_eq!(asked.get(), asks_before_stop + 1, "{algorithm}, length {len}");
            }
        }
    }
}
