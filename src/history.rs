//! `history`: the journal's runs, newest first, as a table for people or JSON lines.

use crate::config::Config;
use crate::display::escape_str;
use crate::journal::{self, Filter, Run};
use crate::outcome::Failure;
use crate::output::print_out;

/// `history`: prints the runs `filter` selects, as a table or JSON lines.
pub fn command(config: &Config, filter: &Filter, json: bool) -> Result<u8, Failure> {
    // Looking must not create: no journal yet means no runs yet.
    let runs = match journal::open_existing(config)? {
        Some(journal) => journal.history(filter).map_err(journal::failure)?,
        None => Vec::new(),
    };
    if json {
        print_out(&json_lines(&runs));
    } else {
        print_out(&table(&runs, terminal_width()));
    }
    Ok(0)
}

/// The runs as JSON lines, one object per run, with the fields of the `--json` result.
pub fn json_lines(runs: &[Run]) -> String {
    runs.iter().map(|r| format!("{}\n", r.to_json())).collect()
}

/// The runs as a table no wider than `width` columns (when known): the file name column
/// gives way first, since the run id finds the rest.
pub fn table(runs: &[Run], width: Option<usize>) -> String {
    const HEADER: [&str; 7] = ["RUN", "STARTED", "CID", "FILE", "OUTCOME", "EXIT", "DURATION"];
    let rows: Vec<[String; 7]> = runs.iter().map(row).collect();
    crate::display::table(HEADER, &rows, 3, width)
}

fn row(run: &Run) -> [String; 7] {
    let number = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    // Only a command that ended has a duration worth showing.
    let duration = run
        .process
        .as_ref()
        .filter(|p| p.status.is_some() || p.signal.is_some())
        .map_or_else(|| "-".to_owned(), |p| short(p.duration_ms));
    [
        number(run.run_id),
        escape_str(&run.started_at).replace('T', " ").trim_end_matches('Z').to_owned(),
        escape_str(&run.cid),
        escape_str(&run.filename),
        run.outcome.name().to_owned(),
        number(run.exit_code.map(i64::from)),
        duration,
    ]
}

/// `0.42s`, `5.1s`, `2m 5s`: precise where it is short, coarse where it is long.
fn short(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0).replace(".00s", "s")
    } else {
        humantime::format_duration(std::time::Duration::from_secs(ms / 1000)).to_string()
    }
}

/// The terminal's width, when stdout is one.
pub fn terminal_width() -> Option<usize> {
    let stdout = std::io::stdout();
    rustix::termios::tcgetwinsize(&stdout).ok().map(|w| w.ws_col as usize).filter(|&w| w > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_the_file_name_to_fit() {
        let run = serde_json::from_str(
            r#"{
                "version": 1, "event_id": "e", "event": "run.succeeded", "host": "ftp1", "run_id": 7,
                "cid": "acme", "file": "/srv/ftp/acme/a.zip",
                "filename": "a-very-long-file-name-that-will-not-fit.zip", "size": 1,
                "md5": { "expected": null, "actual": null }, "rule": "r", "tags": {},
                "outcome": "success", "exit_code": 0, "message": "",
                "process": { "argv": [], "duration_ms": 5120, "status": 0, "signal": null, "output_tail": "" },
                "started_at": "2026-11-22T10:00:00Z", "finished_at": "2026-11-22T10:00:05Z"
            }"#,
        )
        .expect("a run as the journal holds it");
        let text = table(&[run], Some(70));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 70), "{text}");
        assert!(lines[1].starts_with("7    2026-11-22 10:00:00  acme"), "{text}");
        assert!(lines[1].contains('…') && lines[1].contains("success  0     5.12s"), "{text}");
    }
}
