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

/// Writes to stdout, treating a closed pipe (`| head`) as success.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
