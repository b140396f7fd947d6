//! The upload itself: before anything is hashed or run, FILE must be a readable regular file
//! (not a symlink, FIFO, device or directory) that resolves inside the CID's root, and it must
//! not change while it is being verified. Every refusal is exit 13 and runs nothing.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use crate::support::{World, is_root, md5_hex};

const CONTENT: &[u8] = b"statement data\n";

/// Any well-formed MD5: the refusals below happen before the digest is compared.
const ANY_MD5: &str = "0123456789abcdef0123456789abcdef";

/// Runs `acme <file> --md5 <right md5 for CONTENT>` and expects exit 13 naming `reason`,
/// with the job left alone.
fn refused(w: &World, file: impl AsRef<std::ffi::OsStr>, reason: &str) {
    w.cmd()
        .arg("acme")
        .arg(file)
        .args(["--md5", &md5_hex(CONTENT)])
        .timeout(Duration::from_secs(10))
        .run()
        .code(13)
        .stderr_has("ERROR[13]: file ")
        .stderr_has(reason)
        .stdout_is("");
    assert!(!w.job_ran(), "the job must not run when the file is refused");
}

#[test]
fn missing_file_is_refused() {
    let w = World::new();
    refused(&w, w.root().join("nope.zip"), "nope.zip does not exist");
}

#[test]
fn directory_named_like_a_match_is_refused() {
    let w = World::new();
    fs::create_dir(w.root().join("dir.zip")).unwrap();
    refused(&w, w.root().join("dir.zip"), "dir.zip is a directory, not a regular file");
}

#[test]
fn fifo_is_refused_without_blocking() {
    let w = World::new();
    let fifo = w.root().join("x.zip");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    refused(&w, &fifo, "x.zip is a FIFO, not a regular file");
}

#[test]
fn device_node_is_refused() {
    if !is_root() {
        eprintln!("skipped: creating a device node needs root");
        return;
    }
    let w = World::new();
    let dev = w.root().join("null.zip");
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        &dev,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 3),
    );
    if let Err(err) = made {
        eprintln!("skipped: mknod is not permitted here even as root ({err})");
        return;
    }
    refused(&w, &dev, "null.zip is a device, not a regular file");
}

#[test]
fn symlink_to_a_file_inside_the_root_is_refused() {
    let w = World::new();
    let real = w.upload("real.zip", CONTENT);
    symlink(&real, w.root().join("link.zip")).unwrap();
    refused(&w, w.root().join("link.zip"), "link.zip is a symlink; only regular files are processed");
}

#[test]
fn dot_dot_escaping_the_root_is_refused() {
    let w = World::new();
    fs::write(w.path("ftp/outside.zip"), CONTENT).unwrap();
    refused(&w, w.root().join("../outside.zip"), "outside the root");
}

#[test]
fn symlinked_parent_directory_leading_outside_is_refused() {
    let w = World::new();
    fs::create_dir(w.path("elsewhere")).unwrap();
    fs::write(w.path("elsewhere/a.zip"), CONTENT).unwrap();
    symlink(w.path("elsewhere"), w.root().join("sub")).unwrap();
    refused(&w, w.root().join("sub/a.zip"), "outside the root");
}

#[test]
fn sibling_directory_sharing_the_root_name_prefix_is_outside() {
    let w = World::new();
    fs::create_dir(w.path("ftp/acme-evil")).unwrap();
    fs::write(w.path("ftp/acme-evil/a.zip"), CONTENT).unwrap();
    refused(&w, w.path("ftp/acme-evil/a.zip"), "outside the root");
}

#[test]
fn path_without_a_file_name_is_refused() {
    let w = World::new();
    w.upload("a.zip", CONTENT);
    for path in ["ftp/acme/..", "/", "."] {
        refused(&w, path, &format!("file {path} has no file name"));
    }
}

#[test]
fn unreadable_file_is_refused() {
    if is_root() {
        eprintln!("skipped: root can read a file with mode 000");
        return;
    }
    let w = World::new();
    let file = w.upload("a.zip", CONTENT);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
    refused(&w, &file, "a.zip cannot be read");
}

#[test]
fn missing_root_is_refused() {
    let w = World::new();
    w.config(&crate::support::BASIC_CONFIG.replace("ftp/acme", "ftp/gone"));
    let file = w.upload("a.zip", CONTENT);
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5_hex(CONTENT)])
        .run()
        .code(13)
        .stderr_has("ERROR[13]: root ")
        .stderr_has("ftp/gone of rule stmt cannot be used");
    assert!(!w.job_ran());
}

#[test]
fn dot_dot_staying_inside_the_root_is_fine() {
    let w = World::new();
    fs::create_dir(w.root().join("sub")).unwrap();
    w.upload("a.zip", CONTENT);
    w.cmd().arg("acme").arg(w.root().join("sub/../a.zip")).args(["--md5", &md5_hex(CONTENT)]).run().code(0);
    assert_eq!(w.recorded_argv(), [w.root().canonicalize().unwrap().join("a.zip").into_os_string()]);
}

#[test]
fn relative_file_path_reaches_the_job_as_canonical_absolute_path() {
    let w = World::new();
    w.upload("a.zip", CONTENT);
    // The world's dir is the current directory of the invocation.
    w.cmd().arg("acme").arg("ftp/acme/a.zip").args(["--md5", &md5_hex(CONTENT)]).run().code(0);
    assert_eq!(w.recorded_argv(), [w.root().canonicalize().unwrap().join("a.zip").into_os_string()]);
}

#[test]
fn bare_file_name_resolves_against_the_current_directory() {
    let w = World::new();
    w.upload("a.zip", CONTENT);
    let mut t = w.cmd().arg("acme").arg("a.zip").args(["--md5", &md5_hex(CONTENT)]);
    t.cmd.current_dir(w.root());
    t.run().code(0);
    assert_eq!(w.recorded_argv(), [w.root().canonicalize().unwrap().join("a.zip").into_os_string()]);
}

/// A file still being uploaded while it is hashed: the appender never pauses long before the
/// child exits, so the size seen at open and the bytes hashed (or the size afterwards) differ.
#[test]
fn file_growing_while_hashed_is_refused() {
    const START: usize = 64 << 20;
    const CHUNK: usize = 64 << 10;
    const MAX_EXTRA: usize = 256 << 20;

    let w = World::new();
    let file = w.upload("big.zip", &vec![b'x'; START]);

    let child_done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let appender = {
        let file = file.clone();
        let child_done = Arc::clone(&child_done);
        thread::spawn(move || {
            let mut out = fs::OpenOptions::new().append(true).open(&file).expect("open for append");
            let chunk = vec![b'y'; CHUNK];
            let mut extra = 0;
            while extra < MAX_EXTRA && !child_done.load(Ordering::SeqCst) {
                out.write_all(&chunk).expect("append");
                extra += CHUNK;
                if extra == CHUNK {
                    let _ = started_tx.send(());
                }
                // Steady, like an upload: at most 16 MB/s, slower than hashing, so the hash catches up
                // with the end of the file soon after the child starts; the budget lasts seconds.
                thread::sleep(Duration::from_millis(4));
            }
        })
    };
    started_rx.recv().expect("the appender started");

    let mut cmd = w.cmd().arg("acme").arg(&file).args(["--md5", ANY_MD5]).cmd;
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run ftptrigger");
    child_done.store(true, Ordering::SeqCst);
    appender.join().expect("appender thread");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(13), "stderr: {stderr}");
    assert!(stderr.contains("changed while being verified"), "stderr: {stderr}");
    assert!(stderr.contains("big.zip"), "stderr: {stderr}");
    assert!(!w.job_ran());
}

/// The window the last identity check guards: the file is verified, and then, before the job
/// starts, it is swapped. A debug build stops itself there on request
/// (`FTPTRIGGER_TEST_STOP_BEFORE_START`); the test swaps the file while it is stopped, continues
/// it, and every kind of swap is exit 13 with nothing run. "Rewritten" keeps the size and puts
/// the mtime back, as a customer can with FTP's MFMT: only the ctime tells.
#[test]
fn a_file_swapped_between_verification_and_start_is_refused_and_nothing_runs() {
    type Swap = fn(&World, &std::path::Path);
    let swaps: [(&str, Swap, &str); 4] = [
        (
            "renamed over",
            |w, file| fs::rename(w.upload("other.zip", b"statement DATA\n"), file).unwrap(),
            "it was replaced by another file",
        ),
        (
            "rewritten",
            |_, file| {
                let mtime = fs::metadata(file).unwrap().modified().unwrap();
                thread::sleep(Duration::from_millis(20)); // past the clock's granularity, so the ctime moves
                let out = fs::OpenOptions::new().write(true).open(file).unwrap();
                (&out).write_all(b"statement DATA\n").unwrap();
                out.set_modified(mtime).unwrap();
            },
            "it was modified or its attributes changed",
        ),
        (
            "turned into a symlink",
            |w, file| {
                let elsewhere = w.upload("elsewhere.zip", CONTENT);
                fs::remove_file(file).unwrap();
                symlink(elsewhere, file).unwrap();
            },
            "it was replaced by another file",
        ),
        ("removed", |_, file| fs::remove_file(file).unwrap(), "it was removed"),
    ];
    for (how, swap, reason) in swaps {
        let w = World::new();
        let file = w.upload("a.zip", CONTENT);
        let run = w
            .cmd()
            .arg("acme")
            .arg(&file)
            .args(["--md5", &md5_hex(CONTENT)])
            .env("FTPTRIGGER_TEST_STOP_BEFORE_START", "1")
            .timeout(Duration::from_secs(20))
            .spawn();
        crate::support::wait_until(Duration::from_secs(10), "ftptrigger stops itself", || {
            crate::support::process_state(run.pid().as_raw_nonzero().get()) == Some('T')
        });
        swap(&w, &file);
        run.signal(rustix::process::Signal::CONT);
        run.wait().code(13).stderr_has(&format!("changed while being verified ({reason})"));
        assert!(!w.job_ran(), "{how}: the job ran");
        w.cmd().args(["history", "--json"]).run().code(0).stdout_has("\"outcome\":\"bad_file\"");
    }
}

/// After the job starts, the path is out of ftptrigger's hands; the descriptor is not. The job
/// inherits the one the file was verified through, rewound and read-only, in
/// `FTPTRIGGER_FILE_FD`: swapped under the running job, the path gives the new file and the
/// descriptor still the verified one. It is descriptor 3 (the lock 4), whatever numbers they
/// have in ftptrigger (where a leaked one, or the directories a move goes through, push them
/// up): `sh` redirects only from a single digit.
#[test]
fn the_job_reads_the_verified_file_through_its_inherited_descriptor_even_after_a_swap() {
    let w = World::new();
    w.script(
        "job.sh",
        r#"#!/bin/sh
touch out/started
echo "$FTPTRIGGER_FILE_FD $FTPTRIGGER_LOCK_FD" > out/fds
while [ ! -e go ]; do sleep 0.01; done
cat <&"$FTPTRIGGER_FILE_FD" > out/via-fd
cat "/dev/fd/$FTPTRIGGER_FILE_FD" > out/via-dev-fd
cat "$1" > out/via-path
echo x >&"$FTPTRIGGER_FILE_FD" 2>/dev/null && echo writable > out/fd-mode || echo read-only > out/fd-mode
"#,
    );
    fs::create_dir(w.path("out")).unwrap();
    let file = w.upload("a.zip", CONTENT);
    let run =
        w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT)]).with_a_leaked_descriptor().spawn();
    crate::support::wait_until(Duration::from_secs(10), "the job starts", || w.path("out/started").exists());
    fs::rename(w.upload("other.zip", b"swapped in\n"), &file).unwrap();
    fs::write(w.path("go"), b"").unwrap();
    run.wait().code(0);
    assert_eq!(w.recorded("via-fd"), String::from_utf8_lossy(CONTENT));
    assert_eq!(w.recorded("via-dev-fd"), String::from_utf8_lossy(CONTENT));
    assert_eq!(w.recorded("via-path"), "swapped in\n");
    assert_eq!(w.recorded("fd-mode"), "read-only\n");
    assert_eq!(w.recorded("fds"), "3 4\n");
}
