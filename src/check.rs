//! `check`: validate the config and report every problem at once.

use std::fmt::Write as _;

use crate::config::{self, ConfigError, Severity};

/// The report and whether the config is usable.
pub fn check(path: &std::path::Path) -> (String, bool) {
    let mut out = String::new();
    match config::load(path) {
        Ok(config) => {
            for warning in &config.warnings {
                let _ = writeln!(out, "{warning}");
            }
            let _ = writeln!(
                out,
                "{}: ok: {} rule{}, {} channel{}, {} warning{}",
                path.display(),
                config.rules.len(),
                plural(config.rules.len()),
                config.channels.len(),
                plural(config.channels.len()),
                config.warnings.len(),
                plural(config.warnings.len()),
            );
            (out, true)
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            for p in &problems {
                let _ = writeln!(out, "{p}");
            }
            let errors = problems.iter().filter(|p| p.severity == Severity::Error).count();
            let _ = writeln!(out, "{}: {errors} error{}", path.display(), plural(errors));
            (out, false)
        }
        Err(err) => {
            let _ = writeln!(out, "{err}");
            (out, false)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
