//! The config loader on any text. Loading never panics or hangs, and for every CID the run's
//! fast path (other customers' rules left out by the prescan before TOML parsing) agrees with
//! validating the whole text for that CID:
//!
//! - a config valid in full gives the same rules, settings, channels and warnings;
//! - a config refused in full is refused with the same diagnostics, unless some are inside the
//!   rules left out. Those may only be syntax errors: a run does not validate other customers'
//!   rules, but must see where each one begins and ends. Then the rest of the config stands on
//!   its own, and is not compared: after a syntax error the TOML parser's recovery may report
//!   more errors past the rule (an array it thinks is still open), which the run never sees.
#![no_main]

use std::path::Path;

use ftptrigger::config::{self, Config, Diagnostic, Scope};
use libfuzzer_sys::fuzz_target;

/// CIDs the seeds and the dictionary use, plus one no rule is likely to have.
const CIDS: &[&str] = &["acme", "globex", "a b", "zz"];

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    // A directory that does not exist, so no relative path in the config reaches a real file.
    let path = Path::new("/nonexistent/ftptrigger-fuzz/ftpscanner.cfg");
    let _ = config::parse(path, text);
    for cid in CIDS {
        let fast = config::parse_scoped(path, text, Scope::Cid(cid));
        let full = config::parse_scoped_in_full(path, text, Scope::Cid(cid));
        let reduced = config::reduced_for(text, cid);
        let left_out = |d: &Diagnostic| match &reduced {
            Some(reduced) => text.lines().nth(d.line - 1) != reduced.lines().nth(d.line - 1),
            None => false,
        };
        match (fast, full) {
            (Ok(fast), Ok(full)) => assert_eq!(summary(&fast), summary(&full), "cid {cid:?}"),
            (fast, Err(full)) => {
                let (hidden, seen): (Vec<Diagnostic>, Vec<Diagnostic>) = full.into_iter().partition(left_out);
                for d in &hidden {
                    assert_eq!(d.field, "toml", "cid {cid:?}: a left-out rule was validated: {d}");
                }
                if hidden.is_empty() {
                    assert_eq!(fast.err(), Some(seen), "cid {cid:?}");
                }
            }
            (Err(fast), Ok(full)) => {
                panic!("cid {cid:?}: refused only by the fast path: {fast:?}\nin full: {}", summary(&full))
            }
        }
    }
});

/// What a run sees of a config, in a comparable form (compiled patterns print their source).
fn summary(config: &Config) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        config.journal, config.defaults, config.rules, config.channels, config.env_files, config.warnings
    )
}
