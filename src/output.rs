//! Where ftptrigger's own words go: results on stdout, everything else on stderr.

use std::io::Write;

use crate::outcome::Failure;

/// The one place a failure that ends an invocation is printed; returns its exit code.
pub fn fail(failure: &Failure) -> u8 {
    eprintln!("{failure}");
    failure.outcome.code()
}

/// A line about something that did not change the outcome.
pub fn notice(text: &str) {
    eprintln!("ftptrigger: {text}");
}

thread_local! {
    /// Set when stdout could not be written for a reason other than a closed pipe: the
    /// invocation then exits 1 (see [`take_write_error`]).
    static WRITE_FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes to stdout. A closed pipe (`| head`) is success: the reader had enough. Any other
/// failure (`> /dev/full`) is said once on stderr and makes the invocation exit 1, since what
/// it was asked to print is lost.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && err.kind() != std::io::ErrorKind::BrokenPipe
        && !WRITE_FAILED.replace(true)
    {
        eprintln!("ftptrigger: error: cannot write to stdout: {err}");
    }
}

/// Whether writing to stdout failed since the last call; clears it.
pub fn take_write_error() -> bool {
    WRITE_FAILED.replace(false)
}
