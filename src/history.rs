//! `history`: the journal's runs, newest first, as a table for people or JSON lines.

use std::path::Path;

use jiff::tz::TimeZone;

use crate::config::Config;
use crate::display::escape_str;
use crate::journal::{self, Filter, Run};
use crate::outcome::Failure;
use crate::output::{notice, print_out};

/// How `history` prints: JSON lines or a table, and whether it may say which journal it read.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub json: bool,
    pub quiet: bool,
}

/// `history`: prints the runs `filter` selects, as a table or JSON lines, after a line on
/// stderr naming the journal they came from (or saying there is none, and where else to look).
pub fn command(config: &Config, filter: &Filter, style: Style) -> Result<u8, Failure> {
    // Looking must not create: no journal yet means no runs yet.
    let found = journal::open_existing(config)?;
    let runs = match &found {
        Some(journal) => journal.history(filter).map_err(journal::failure)?,
        None => Vec::new(),
    };
    if !style.quiet {
        let at = match &found {
            Some(journal) => journal.at().to_owned(),
            None => journal::checked_path(config)?.display().to_string(),
        };
        let default = config.journal.path.is_none() && config.journal.url.is_none();
        notice(&whence(&at, found.is_some(), runs.len(), default, &config.path));
    }
    if style.json {
        print_out(&json_lines(&runs));
    } else {
        let zone = TimeZone::system();
        // A journal several hosts share says which host ran each run.
        let text = if config.journal.url.is_some() {
            host_table(&runs, &zone, terminal_width())
        } else {
            table(&runs, &zone, terminal_width())
        };
        print_out(&text);
    }
    Ok(0)
}

/// Which journal the runs came from. Runs not there are most often in another user's journal,
/// since the default one is per user: the FTP server's hooks record theirs as its account.
fn whence(path: &str, found: bool, shown: usize, default: bool, config: &Path) -> String {
    let mut text = match (found, shown) {
        (false, _) => format!("no journal at {path}: nothing has been recorded there"),
        (true, 0) => format!("no runs to show in journal {path}"),
        (true, 1) => format!("1 run from journal {path}"),
        (true, n) => format!("{n} runs from journal {path}"),
    };
    if default && shown == 0 {
        text.push_str(&format!(
            "; without [journal] path the journal is per user ($XDG_STATE_HOME, else ~/.local/state), so runs \
             made as another user, such as the FTP server's account, are in that user's journal: run history \
             as that user, or set [journal] path in {} to one journal for all",
            config.display()
        ));
    }
    text
}

/// The runs as JSON lines, one object per run, with the fields of the `--json` result.
pub fn json_lines(runs: &[Run]) -> String {
    runs.iter().map(|r| format!("{}\n", r.to_json())).collect()
}

/// The runs as a table no wider than `width` columns (when known), times in `zone`. The file
/// name column gives way first, since the run id finds the rest; on a terminal too narrow even
/// so (under about 80 columns; this fits 68), the table drops EXIT (OUTCOME says the same) and, when every
/// row has the same offset, shows it once in the header instead of on every line.
pub fn table(runs: &[Run], zone: &TimeZone, width: Option<usize>) -> String {
    const HEADER: [&str; 7] = ["RUN", "STARTED", "CID", "FILE", "OUTCOME", "EXIT", "DURATION"];
    const FILE: usize = 3;
    let rows: Vec<[String; 7]> = runs.iter().map(|run| row(run, zone)).collect();
    let full = crate::display::table(HEADER, &rows, FILE, width);
    let fits = |text: &str| width.is_none_or(|w| text.lines().all(|l| l.chars().count() <= w));
    if fits(&full) {
        return full;
    }
    let offsets: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r[1].rsplit_once(' ')).map(|(_, o)| o).collect();
    let (started, one_offset) = match offsets.into_iter().collect::<Vec<_>>()[..] {
        [offset] => (format!("STARTED {offset}"), true),
        _ => ("STARTED".to_owned(), false),
    };
    let narrow: Vec<[String; 6]> = rows
        .into_iter()
        .map(|[run, time, cid, file, outcome, _exit, duration]| {
            let time = if one_offset {
                time.rsplit_once(' ').map_or(time.clone(), |(t, _)| t.to_owned())
            } else {
                time
            };
            [run, time, cid, file, outcome, duration]
        })
        .collect();
    crate::display::table(["RUN", &started, "CID", "FILE", "OUTCOME", "DURATION"], &narrow, FILE, width)
}

/// [`table`] with the host of each run after its start time, for a journal several hosts share.
pub fn host_table(runs: &[Run], zone: &TimeZone, width: Option<usize>) -> String {
    const HEADER: [&str; 8] = ["RUN", "STARTED", "HOST", "CID", "FILE", "OUTCOME", "EXIT", "DURATION"];
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|run| {
            let [id, started, cid, file, outcome, exit, duration] = row(run, zone);
            [id, started, escape_str(&run.host), cid, file, outcome, exit, duration]
        })
        .collect();
    crate::display::table(HEADER, &rows, 4, width)
}

/// `2026-11-22 11:00:00 +01:00`: an RFC 3339 time from the journal in `zone`, with its offset,
/// so a reader never has to guess which zone a time is in (messages and JSON keep UTC, `Z`).
pub fn local_time(rfc3339: &str, zone: &TimeZone) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(time) => time.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => escape_str(rfc3339),
    }
}

fn row(run: &Run, zone: &TimeZone) -> [String; 7] {
    let number = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    // Only a command that ended has a duration worth showing.
    let duration = run
        .process
        .as_ref()
        .filter(|p| p.status.is_some() || p.signal.is_some())
        .map_or_else(|| "-".to_owned(), |p| short(p.duration_ms));
    [
        number(run.run_id),
        local_time(&run.started_at, zone),
        escape_str(&run.cid),
        file_cell(run),
        run.outcome.name().to_owned(),
        number(run.exit_code.map(i64::from)),
        duration,
    ]
}

/// The file's name, and where `on_success` / `on_failure` moved it, from the nearest directory
/// that holds both where it landed and where it went (the rule's root, as a rule):
/// `a.zip → done/20261129/a.zip` for `incoming/a.zip`. Nothing in common: in full.
fn file_cell(run: &Run) -> String {
    use std::path::{Component, Path, PathBuf};
    let Some(moved) = &run.moved_to else { return escape_str(&run.filename) };
    let landed = Path::new(&run.file).parent().unwrap_or(Path::new("/"));
    let moved = Path::new(moved);
    let common: PathBuf =
        landed.components().zip(moved.components()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
    let shown = match common.components().any(|c| matches!(c, Component::Normal(_))) {
        true => moved.strip_prefix(&common).unwrap_or(moved),
        false => moved,
    };
    format!("{} → {}", escape_str(&run.filename), escape_str(&shown.to_string_lossy()))
}

/// `4ms`, `0.42s`, `5.1s`, `2m 5s`: precise where it is short, coarse where it is long.
fn short(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
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
    fn a_moved_file_is_shown_from_the_directory_its_two_places_share() {
        let mut run: Run = serde_json::from_str(
            &crate::report::Report::start(
                "acme",
                std::ffi::OsStr::new("/srv/ftp/acme/incoming/a.zip"),
                std::ffi::OsStr::new("a.zip"),
            )
            .to_json(),
        )
        .expect("a run");
        run.moved_to = Some("/srv/ftp/acme/done/20261129/a.zip".into());
        assert_eq!(file_cell(&run), "a.zip → done/20261129/a.zip");
        run.file = "/srv/ftp/acme/a.zip".into();
        assert_eq!(file_cell(&run), "a.zip → done/20261129/a.zip");
        run.file = "/other/a.zip".into();
        assert_eq!(file_cell(&run), "a.zip → /srv/ftp/acme/done/20261129/a.zip");
    }

    #[test]
    fn durations_under_a_second_are_in_milliseconds() {
        assert_eq!(
            [short(4), short(999), short(1000), short(5100), short(125_000)],
            ["4ms", "999ms", "1s", "5.10s", "2m 5s"]
        );
    }

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
        let text = table(&[run], &TimeZone::UTC, Some(80));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
        assert!(lines[1].starts_with("7    2026-11-22 10:00:00 +00:00  acme"), "{text}");
        assert!(lines[1].contains('…') && lines[1].contains("success  0     5.12s"), "{text}");
    }

    #[test]
    fn a_narrow_terminal_gets_the_offset_once_and_no_exit_column() {
        let run: Run = serde_json::from_str(
            r#"{
                "version": 1, "event_id": "e", "event": "run.failed", "host": "ftp1", "run_id": 1842,
                "cid": "acme", "file": "/srv/ftp/acme/a.zip", "filename": "ACME_20261122_stmt.zip", "size": 1,
                "md5": { "expected": null, "actual": null }, "rule": "r", "tags": {},
                "outcome": "process_failed", "exit_code": 14, "message": "",
                "process": { "argv": [], "duration_ms": 5120, "status": 1, "signal": null, "output_tail": "" },
                "started_at": "2026-11-22T10:00:00Z", "finished_at": "2026-11-22T10:00:05Z"
            }"#,
        )
        .expect("a run as the journal holds it");
        let zone = TimeZone::fixed(jiff::tz::offset(1));
        for width in [68, 76] {
            let text = table(std::slice::from_ref(&run), &zone, Some(width));
            assert!(text.lines().all(|l| l.chars().count() <= width), "{width}:\n{text}");
            assert!(text.starts_with("RUN   STARTED +01:00       CID   FILE"), "{text}");
            assert!(
                text.contains("1842  2026-11-22 11:00:00  acme  ") && text.contains("process_failed  5.12s"),
                "{text}"
            );
        }
        let wide = table(&[run], &zone, Some(100));
        assert!(
            wide.contains("2026-11-22 11:00:00 +01:00  acme  ACME_20261122_stmt.zip  process_failed  14"),
            "{wide}"
        );
    }

    #[test]
    fn times_are_shown_in_the_zone_with_its_offset() {
        let zone = |hours| TimeZone::fixed(jiff::tz::offset(hours));
        assert_eq!(local_time("2026-11-22T10:00:00Z", &zone(1)), "2026-11-22 11:00:00 +01:00");
        assert_eq!(local_time("2026-11-22T01:30:00Z", &zone(-5)), "2026-11-21 20:30:00 -05:00");
        assert_eq!(local_time("2026-11-22T10:00:00Z", &TimeZone::UTC), "2026-11-22 10:00:00 +00:00");
        assert_eq!(local_time("not a time\n", &TimeZone::UTC), "not a time\\n");
    }
}
