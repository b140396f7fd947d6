//! `history`: the journal's runs, newest first, as a table for people or JSON lines.

use serde_json::Value;

use crate::config::Config;
use crate::display::escape_str;
use crate::journal::{self, Filter};
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
pub fn json_lines(runs: &[Value]) -> String {
    runs.iter().map(|r| format!("{r}\n")).collect()
}

/// The runs as a table no wider than `width` columns (when known): the file name column
/// gives way first, since the run id finds the rest.
pub fn table(runs: &[Value], width: Option<usize>) -> String {
    const HEADER: [&str; 7] = ["RUN", "STARTED", "CID", "FILE", "OUTCOME", "EXIT", "DURATION"];
    let rows: Vec<[String; 7]> = runs.iter().map(row).collect();
    crate::display::table(HEADER, &rows, 3, width)
}

fn row(run: &Value) -> [String; 7] {
    let text = |key: &str| run[key].as_str().map(escape_str).unwrap_or_default();
    let number = |v: &Value| v.as_i64().map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned());
    let ran = !run["process"]["status"].is_null() || !run["process"]["signal"].is_null();
    let duration =
        run["process"]["duration_ms"].as_u64().filter(|_| ran).map_or_else(|| "-".to_owned(), short);
    [
        number(&run["run_id"]),
        text("started_at").replace('T', " ").trim_end_matches('Z').to_owned(),
        text("cid"),
        text("filename"),
        text("outcome"),
        number(&run["exit_code"]),
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
        let run = serde_json::json!({
            "run_id": 7, "started_at": "2026-11-22T10:00:00Z", "cid": "acme",
            "filename": "a-very-long-file-name-that-will-not-fit.zip", "outcome": "success", "exit_code": 0,
            "process": { "duration_ms": 5120, "status": 0, "signal": null }
        });
        let text = table(&[run], Some(70));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 70), "{text}");
        assert!(lines[1].starts_with("7    2026-11-22 10:00:00  acme"), "{text}");
        assert!(lines[1].contains('…') && lines[1].contains("success  0     5.12s"), "{text}");
    }
}
