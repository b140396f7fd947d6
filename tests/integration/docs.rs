//! The documents keep their promises: the README's commands run, its exit code table is the
//! program's, and every test SECURITY.md cites as the proof of a promise exists.

use std::path::Path;

use crate::support::Trigger;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's first command, as the README writes it (less `cargo run --release --`), runs
/// the example job on the example upload.
#[test]
fn the_readmes_first_command_runs_the_example_job() {
    let dir = manifest_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let first = readme.lines().skip_while(|l| *l != "```sh").nth(1).expect("a command block");
    let args = first.strip_prefix("cargo run --release -- ").expect("the first command runs ftptrigger");
    for (path, mode) in [("ftpscanner.cfg.example", 0o644), ("examples/secrets.env", 0o600)] {
        std::fs::set_permissions(dir.join(path), std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let mut t = Trigger::bare();
    t.cmd.current_dir(dir);
    t.args(args.split_whitespace())
        .run()
        .code(0)
        .stdout_has("statements: 2 statement(s) in ACME_20261122_stmt.csv (62 bytes, md5 8aa126aa65653b7814a8a974e15acb64)");
}

/// A promise in SECURITY.md is only as good as the test it names: each `FILE::test` it cites
/// must be a test in that file (`tests/integration/FILE` unless the path says otherwise).
#[test]
fn every_test_security_md_cites_exists() {
    let dir = manifest_dir();
    let security = std::fs::read_to_string(dir.join("SECURITY.md")).unwrap();
    let mut cited = 0;
    for quoted in security.split('`').skip(1).step_by(2) {
        let Some((file, test)) = quoted.split_once(".rs::") else { continue };
        let file =
            if file.contains('/') { format!("{file}.rs") } else { format!("tests/integration/{file}.rs") };
        let source = std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            source.contains(&format!("fn {test}(")),
            "SECURITY.md cites {file}::{test}, which does not exist"
        );
        cited += 1;
    }
    assert!(cited > 50, "found only {cited} citations: has the format of SECURITY.md changed?");
}

/// The README's exit code table is the program's: the same codes and names, in the same order
/// (the meanings are worded for people there, and may differ).
#[test]
fn the_readmes_exit_code_table_is_the_programs() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let section = readme.split("\n## Exit codes\n").nth(1).expect("a section ## Exit codes");
    let mut lines = section.lines().skip_while(|l| !l.starts_with('|'));
    assert_eq!(lines.next().map(str::trim), Some("| code | outcome | meaning |"));
    let listed: Vec<(String, String)> = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].to_owned(), cells[2].trim_matches('`').to_owned())
        })
        .collect();
    let table: Vec<(String, String)> =
        ftptrigger::outcome::TABLE.iter().map(|row| (row.code.to_string(), row.name.to_owned())).collect();
    assert_eq!(listed, table);
}

/// The README's status table for `serve` is the outcome table's `http` column.
#[test]
fn the_readmes_status_table_is_the_programs() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let section = readme.split("\n## Running as a service\n").nth(1).expect("the section");
    let mut lines = section.lines().map(str::trim).skip_while(|l| !l.starts_with('|'));
    assert_eq!(lines.next(), Some("| status | outcome |"));
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let status: u16 = cells[1].parse().expect("a status");
        for name in cells[2].split(", ").filter_map(|n| n.split('`').nth(1)) {
            let outcome = ftptrigger::outcome::Outcome::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(outcome.http_status(), status, "{name}");
        }
    }
}

/// The shipped systemd units are what systemd accepts: `systemd-analyze verify` finds nothing to
/// say (an unknown key is only a warning to systemd, and a silent hole in the hardening).
#[test]
fn the_systemd_units_verify() {
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped the_systemd_units_verify: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for unit in ["systemd/ftptrigger.service", "cron/ftptrigger-scan.service", "cron/ftptrigger-scan.timer"] {
        let text = std::fs::read_to_string(manifest_dir().join("contrib").join(unit)).expect("the unit");
        // The binary is not installed here; any existing program stands in for it.
        let name = Path::new(unit).file_name().expect("a name");
        std::fs::write(dir.path().join(name), text.replace("/usr/local/bin/ftptrigger", "/bin/true"))
            .expect("copy");
    }
    for name in ["ftptrigger.service", "ftptrigger-scan.service", "ftptrigger-scan.timer"] {
        let out = std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join(name))
            .output()
            .expect("run systemd-analyze");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.trim().is_empty(), "{name}: {said}");
    }
}
