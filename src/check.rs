//! `check`: validate the config and report every problem at once.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{self, ConfigError, Diagnostic, Severity};

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A line per problem and a summary.
    Text,
    /// Nothing when the config is usable (warnings included, as cron wants); else as `Text`.
    Quiet,
    /// One JSON object: the problems, and the counts when the config is usable.
    Json,
}

/// `check --json`.
#[derive(Serialize)]
struct Report<'a> {
    config: &'a std::path::Path,
    ok: bool,
    rules: Option<usize>,
    channels: Option<usize>,
    problems: &'a [Diagnostic],
    /// Why the config could not be read at all, if so.
    error: Option<String>,
}

/// The report in `format`, and whether the config is usable.
pub fn check(path: &std::path::Path, format: Format) -> (String, bool) {
    if format == Format::Json {
        let (rules, channels, problems, error) = match config::load(path) {
            Ok(config) => (Some(config.rules.len()), Some(config.channels.len()), config.warnings, None),
            Err(ConfigError::Invalid { problems, .. }) => (None, None, problems, None),
            Err(err) => (None, None, Vec::new(), Some(err.to_string())),
        };
        let ok = rules.is_some();
        let report = Report { config: path, ok, rules, channels, problems: &problems, error };
        return (format!("{}\n", serde_json::to_string(&report).unwrap_or_default()), ok);
    }
    let (text, ok) = check_text(path);
    match (format, ok) {
        (Format::Quiet, true) => (String::new(), true),
        _ => (text, ok),
    }
}

fn check_text(path: &std::path::Path) -> (String, bool) {
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
