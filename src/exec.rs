//! Running the job: spawning it in its own process group, streaming its output, keeping the
//! tail for messages, and enforcing the timeout on the whole group.
//!
//! Everything about child processes lives here, so the rules for them (no shell, stdin from
//! /dev/null, nothing of the group outlives the run) are kept in one place.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

use crate::display::escape;
use crate::interrupt::Interrupt;

/// How much of the command's combined output is kept for messages and notifications.
pub const TAIL_BYTES: usize = 64 * 1024;

/// What each pump reads at once: the size of a default pipe. Measured with a job printing
/// 1 GiB: 64 KiB passes it through as fast as `cat` (0.60 s against 0.62 s); a 1 MiB pipe
/// read in 1 MiB pieces took twice as long (1.18 s), the copies no longer fitting in cache.
const PIPE_BYTES: usize = 64 << 10;

/// How long output is still collected after the job's group is gone.
const PIPE_DRAIN: Duration = Duration::from_secs(1);

/// A fully prepared command: every placeholder already expanded.
#[derive(Debug, Clone)]
pub struct Job {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Added to the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Taken out of the inherited environment (the channels' secrets: the job has no use for
    /// them, and whatever it prints ends up in notifications).
    pub env_remove: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub timeout: Duration,
    pub kill_grace: Duration,
}

impl Job {
    /// `program` followed by the arguments.
    pub fn argv(&self) -> Vec<OsString> {
        std::iter::once(self.program.clone()).chain(self.args.iter().cloned()).collect()
    }
}

/// Where the command's output goes. Its stdout and stderr are one pipe, as with `2>&1`, so
/// what it wrote comes out (and into the tail) in the order it wrote it; from two pipes, read
/// by two threads, lines written a moment apart could come out swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Streamed live to our stdout.
    Stdout,
    /// To our stderr, because stdout is reserved for the JSON result.
    Stderr,
    /// Only kept in the tail (`--quiet`, `scan`).
    Discard,
}

#[derive(Debug, Clone)]
pub struct Finished {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The signal that stopped ftptrigger while the job ran (it was passed on to the job).
    pub interrupted: Option<i32>,
    pub duration: Duration,
    /// The last [`TAIL_BYTES`] of stdout and stderr together, in the order they were written.
    pub tail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot run {}: {source}", escape(.program.as_os_str()))]
    Spawn { program: OsString, source: io::Error },
    #[error("cannot run {}: workdir {}: {source}", escape(.program.as_os_str()), escape(.workdir.as_os_str()))]
    Workdir { program: OsString, workdir: PathBuf, source: io::Error },
    #[error("lost track of the command: {0}")]
    Wait(io::Error),
}

impl Job {
    /// The program to start: as configured when it has a slash, else found in the job's
    /// `PATH` (the rule's `env` may set one) by [`find_program`].
    fn resolved_program(&self) -> io::Result<PathBuf> {
        if self.program.as_bytes().contains(&b'/') {
            return Ok(PathBuf::from(&self.program));
        }
        let path = self.env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        find_program(&self.program, path.or_else(|| std::env::var_os("PATH")).as_deref())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found in any absolute PATH entry"))
    }
}

/// The PATH searched when there is none, as by `execvp`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Finds the executable `name` in the absolute entries of `path`. An empty or relative entry
/// (`PATH=.:/usr/bin`, `PATH=:/usr/bin`) is skipped: it names the working directory, which for
/// an FTP hook is the customer's upload directory, so a customer could upload the program
/// that runs. (Go's `os/exec` refuses such results for the same reason.)
pub fn find_program(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// A regular file (after symlinks) that someone may execute.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What the run waits for: the job's end, or a signal to ftptrigger.
enum Event {
    Exited(io::Result<ExitStatus>),
    Signal(i32),
}

/// Marks every descriptor above stderr that ftptrigger inherited close-on-exec, so a job gets
/// only stdio and what [`run`] hands it. An FTP server's hook can leak its sockets and pipes
/// to us, and a job (or a daemon it starts) holding them can keep a connection or a pipe open
/// long after the upload; sudo closes them for the same reason. Call it before any other
/// thread exists.
pub fn close_inherited_on_exec() {
    use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};
    let Ok(listing) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in listing.flatten() {
        let Some(raw) = entry.file_name().to_str().and_then(|n| n.parse::<std::os::fd::RawFd>().ok()) else {
            continue;
        };
        if raw <= 2 {
            continue;
        }
        // SAFETY: `raw` was just listed as open in /proc/self/fd, and nothing can close it while
        // it is borrowed: this runs before any other thread exists, and this loop closes
        // nothing (the listing's own descriptor, also listed, stays open until the loop ends).
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        if let Ok(flags) = fcntl_getfd(fd) {
            let _ = fcntl_setfd(fd, flags | FdFlags::CLOEXEC);
        }
    }
}

/// The number the first descriptor a job inherits gets; the next get the numbers after it.
pub const INHERITED_FROM: RawFd = 3;

/// Runs `job` to completion (or its timeout, or until `interrupt` fires) and reports how it
/// ended. The job inherits the descriptors `inherit` as 3, 4, 5, ... in that order: single
/// digits, which `sh` needs to redirect from one (`<&3`), whatever numbers they have here.
pub fn run(
    job: &Job,
    output: Output,
    inherit: &[BorrowedFd<'_>],
    interrupt: &Interrupt,
) -> Result<Finished, ExecError> {
    let program =
        job.resolved_program().map_err(|source| ExecError::Spawn { program: job.program.clone(), source })?;
    // One pipe for both, as `2>&1` makes it. Both ends are close-on-exec, so only the job
    // gets the writing end, as its descriptors 1 and 2.
    let spawn_error = |source| ExecError::Spawn { program: job.program.clone(), source };
    let (output_pipe, writer) = io::pipe().map_err(spawn_error)?;
    let writer_too = writer.try_clone().map_err(spawn_error)?;
    let mut cmd = Command::new(program);
    for var in &job.env_remove {
        cmd.env_remove(var);
    }
    cmd.args(&job.args)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_too)
        // Its own group, so a timeout or signal reaches everything it started.
        .process_group(0);
    if let Some(dir) = &job.workdir {
        if let Err(source) = std::fs::read_dir(dir) {
            return Err(ExecError::Workdir { program: job.program.clone(), workdir: dir.clone(), source });
        }
        cmd.current_dir(dir);
    }
    // Orphans of the job are re-parented to us rather than to init, so we can reap the ones
    // we kill (some container inits never reap, and a zombie still counts as a group member).
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let started = Instant::now();
    let spawned = spawn(&mut cmd, inherit);
    // The command holds our copies of the writing end: while they are open, the pipe never
    // ends, whatever the job does.
    drop(cmd);
    let child = spawned.map_err(spawn_error)?;
    let group = Pid::from_child(&child);
    let tail = Arc::new(Mutex::new(Tail::default()));
    let sink = match output {
        Output::Stdout => Sink::Stdout,
        Output::Stderr => Sink::Stderr,
        Output::Discard => Sink::None,
    };
    let (drained_tx, drained) = mpsc::channel();
    pump(output_pipe, sink, Arc::clone(&tail), drained_tx);
    let (events_tx, events) = mpsc::channel();
    wait_in_background(child, events_tx.clone());
    let listening = interrupt.listen(move |signal| {
        let _ = events_tx.send(Event::Signal(signal));
    });
    let outcome = supervise(group, job, &events, interrupt.raised());
    interrupt.unlisten(listening);
    let Supervised { status, timed_out, interrupted } = outcome;
    let status = status.map_err(ExecError::Wait)?;
    let duration = started.elapsed();
    match (status.code(), status.signal()) {
        (Some(code), _) => log::info!("the job ended after {duration:.0?} with status {code}"),
        (None, Some(signal)) => log::info!("the job was killed by signal {signal} after {duration:.0?}"),
        (None, None) => log::info!("the job ended after {duration:.0?}"),
    }
    // The leader is gone; whatever it left in its group (a background grandchild holding our
    // pipes open) is stopped too, so nothing of the job outlives the run.
    kill_leftovers(group, job.kill_grace);
    // A process that left the group (setsid) may still hold our pipes; it is not the job's to
    // wait for, so the output is drained for a moment and then left behind.
    let _ = drained.recv_timeout(PIPE_DRAIN);
    let tail = tail.lock().map(|t| t.text()).unwrap_or_default();
    Ok(Finished { status: status.code(), signal: status.signal(), timed_out, interrupted, duration, tail })
}

/// Starts `cmd`, with `inherit` open in it as [`INHERITED_FROM`] and on. The descriptors stay
/// close-on-exec here; the child, between fork and exec, puts copies at those numbers and
/// makes them inheritable. Flipping them in this process would let any process started
/// meanwhile by another thread (a `scan --jobs` worker, lettre's `sendmail`) inherit them
/// too, and a lock held by a stray `sendmail` keeps its file waiting.
fn spawn(cmd: &mut Command, inherit: &[BorrowedFd<'_>]) -> io::Result<Child> {
    if !inherit.is_empty() {
        let sources: Vec<RawFd> = inherit.iter().map(AsRawFd::as_raw_fd).collect();
        let past_targets = INHERITED_FROM + sources.len() as RawFd;
        // Filled in the child; reserved here, since the child must not allocate.
        let mut copies: Vec<RawFd> = Vec::with_capacity(sources.len());
        let renumber = move || {
            copies.clear();
            // First a copy of each above the target numbers, so that placing one cannot
            // close another that is still to be placed (a source may sit on a target number).
            for &source in &sources {
                // SAFETY: `source` is open in the child, which got a copy of our descriptor
                // table at fork while `inherit` kept each of them open in ours, and nothing
                // in the child closed it before this point.
                #[allow(unsafe_code)]
                let fd = unsafe { BorrowedFd::borrow_raw(source) };
                copies.push(rustix::io::fcntl_dupfd_cloexec(fd, past_targets)?.into_raw_fd());
            }
            for (target, &copy) in (INHERITED_FROM..).zip(copies.iter()) {
                // SAFETY: the child is single-threaded and about to exec, so no one else owns
                // or uses `target`: whatever it was (a close-on-exec descriptor of ours, or a
                // source already copied above) goes at exec anyway. Closing a number that is
                // not open is harmless.
                #[allow(unsafe_code)]
                unsafe {
                    rustix::io::close(target)
                };
                // SAFETY: `copy` was made open just above and is not closed before exec.
                #[allow(unsafe_code)]
                let copy = unsafe { BorrowedFd::borrow_raw(copy) };
                // `target` is free now, so the lowest free number from `target` is `target`.
                let placed = rustix::io::fcntl_dupfd_cloexec(copy, target)?.into_raw_fd();
                if placed != target {
                    return Err(rustix::io::Errno::BADF.into());
                }
                // SAFETY: `placed` was just made open and stays open through exec.
                #[allow(unsafe_code)]
                let placed = unsafe { BorrowedFd::borrow_raw(placed) };
                rustix::io::fcntl_setfd(placed, rustix::io::FdFlags::empty())?;
            }
            Ok(())
        };
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are sound. It pushes into a vector whose capacity was
        // reserved before the fork (no allocation), and makes only fcntl(2) and close(2)
        // system calls: no lock, no other call (an error becomes an io::Error from its raw
        // number, which does not allocate).
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(renumber);
        }
    }
    cmd.spawn()
}

fn wait_in_background(mut child: Child, events: Sender<Event>) {
    thread::spawn(move || {
        let _ = events.send(Event::Exited(child.wait()));
    });
}

struct Supervised {
    status: io::Result<ExitStatus>,
    timed_out: bool,
    interrupted: Option<i32>,
}

/// Waits for the job's leader to exit. Past the timeout the group gets SIGTERM; a signal to
/// ftptrigger is passed on to the group as it is. Either way SIGKILL follows `kill_grace`
/// later if the leader is still there.
fn supervise(group: Pid, job: &Job, events: &Receiver<Event>, pending: Option<i32>) -> Supervised {
    let deadline = Instant::now() + job.timeout;
    let mut timed_out = false;
    let mut interrupted = None;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    let stop = |signal: Signal, kill_at: &mut Option<Instant>| {
        let _ = kill_process_group(group, signal);
        kill_at.get_or_insert(Instant::now() + job.kill_grace);
    };
    if let Some(signal) = pending {
        interrupted = Some(signal);
        stop(forwardable(signal), &mut kill_at);
    }
    loop {
        let event = if killed {
            events.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            let until = kill_at.unwrap_or(deadline);
            events.recv_timeout(until.saturating_duration_since(Instant::now()))
        };
        match event {
            Ok(Event::Exited(status)) => return Supervised { status, timed_out, interrupted },
            Ok(Event::Signal(signal)) => {
                if interrupted.is_none() {
                    interrupted = Some(signal);
                    stop(forwardable(signal), &mut kill_at);
                }
            }
            Err(RecvTimeoutError::Timeout) if kill_at.is_some() => {
                let _ = kill_process_group(group, Signal::KILL);
                killed = true;
            }
            Err(RecvTimeoutError::Timeout) => {
                timed_out = true;
                stop(Signal::TERM, &mut kill_at);
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = Err(io::Error::other("the thread waiting for the job ended"));
                return Supervised { status, timed_out, interrupted };
            }
        }
    }
}

/// The signal to pass on to the job; TERM for anything that cannot be sent as it is.
fn forwardable(signal: i32) -> Signal {
    Signal::from_named_raw(signal).unwrap_or(Signal::TERM)
}

fn kill_leftovers(group: Pid, grace: Duration) {
    if group_gone(group) {
        return;
    }
    let _ = kill_process_group(group, Signal::TERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if group_gone(group) {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = kill_process_group(group, Signal::KILL);
    let deadline = Instant::now() + PIPE_DRAIN;
    while !group_gone(group) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

/// True when no process of the group is left, after reaping the members that became our
/// children (see `set_child_subreaper` in [`run`]).
fn group_gone(group: Pid) -> bool {
    while let Ok(Some(_)) = rustix::process::waitpgid(group, rustix::process::WaitOptions::NOHANG) {}
    test_kill_process_group(group).is_err()
}

#[derive(Debug, Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
    None,
}

/// Copies the job's output to its sink as data arrives, keeping the tail. A sink that fails (a
/// closed pipe on our stdout) is dropped, but the pipe is still drained so the job never blocks.
fn pump(mut from: io::PipeReader, to: Sink, tail: Arc<Mutex<Tail>>, drained: mpsc::Sender<()>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; PIPE_BYTES];
        let mut sink = Some(to);
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = &buf[..n];
            if let Ok(mut t) = tail.lock() {
                t.push(chunk);
            }
            let written = match sink {
                Some(Sink::Stdout) => write_all(&mut io::stdout().lock(), chunk),
                Some(Sink::Stderr) => write_all(&mut io::stderr().lock(), chunk),
                Some(Sink::None) | None => Ok(()),
            };
            if written.is_err() {
                sink = None;
            }
        }
        let _ = drained.send(());
    });
}

fn write_all(w: &mut impl Write, chunk: &[u8]) -> io::Result<()> {
    w.write_all(chunk)?;
    w.flush()
}

/// The last [`TAIL_BYTES`] bytes of output.
#[derive(Debug, Default)]
struct Tail(VecDeque<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (self.0.len() + chunk.len()).saturating_sub(TAIL_BYTES);
        self.0.drain(..overflow);
        self.0.extend(chunk);
    }

    fn text(&self) -> String {
        let (a, b) = self.0.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_last_bytes() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; TAIL_BYTES - 1]);
        t.push(b"xyz");
        let text = t.text();
        assert_eq!(text.len(), TAIL_BYTES);
        assert!(text.ends_with("axyz"));
        t.push(&vec![b'b'; TAIL_BYTES * 3]);
        assert_eq!(t.text(), "b".repeat(TAIL_BYTES));
    }

    /// A job's descriptors reach that job only: a process another thread starts meanwhile (as
    /// lettre starts `sendmail`, outside anything of ours) never inherits them, however the
    /// starts interleave.
    #[test]
    fn a_jobs_descriptors_never_reach_a_process_started_alongside() {
        let file = tempfile::tempfile().unwrap();
        let fd = std::os::fd::AsFd::as_fd(&file);
        let number = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let leaks = thread::scope(|scope| {
            let other = scope.spawn(|| {
                let mut leaks = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let probe = format!("test -e /proc/self/fd/{number} && echo leaked");
                    let out = Command::new("/bin/sh").args(["-c", &probe]).output().unwrap();
                    leaks += usize::from(!out.stdout.is_empty());
                }
                leaks
            });
            for _ in 0..300 {
                let mut job = Command::new("/bin/true");
                spawn(&mut job, &[fd]).unwrap().wait().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            other.join().unwrap()
        });
        assert_eq!(leaks, 0, "a process started alongside inherited the job's descriptor");
        let mut job = Command::new("/bin/sh");
        job.args(["-c", &format!("test -e /proc/self/fd/{number}")]);
        assert!(spawn(&mut job, &[fd]).unwrap().wait().unwrap().success(), "the job itself gets it");
    }
}
