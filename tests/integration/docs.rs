//! The documents keep their promises: the README's commands run, and every test SECURITY.md
//! cites as the proof of a promise exists.

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
