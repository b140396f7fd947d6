//! What fuzzing found, kept found: every seed and every input fuzzing once failed on
//! (`fuzz/seeds/`, `fuzz/regressions/`) goes through the checks the fuzz targets make
//! (`fuzz/checks.rs`). Fuzzing itself needs a nightly toolchain and is run by hand
//! (`fuzz/run`); this runs everywhere.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks.rs"]
mod checks;

/// The seeds and regressions of one target, by name.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else { continue };
        found.extend(entries.map(|e| e.expect("a directory entry").path()));
    }
    found.sort();
    assert!(!found.is_empty(), "no seeds for the {target} target");
    found
}

/// Runs `check` on every input of `target`, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for path in inputs(target) {
        let bytes = std::fs::read(&path).expect("read the input");
        if std::panic::catch_unwind(|| check(&bytes)).is_err() {
            panic!("the {target} check fails on {}", path.display());
        }
    }
}

#[test]
fn config_seeds_and_regressions_hold() {
    replay("config", checks::config);
}

#[test]
fn sidecar_seeds_hold() {
    replay("sidecar", checks::sidecar);
}

#[test]
fn template_seeds_hold() {
    replay("template", checks::template);
}
