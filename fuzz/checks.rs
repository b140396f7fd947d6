//! What the fuzz targets check, one function per target. The fuzz targets call these on
//! generated input; the test suite (`tests/integration/fuzzed.rs`) calls them on every seed and
//! every input fuzzing once failed on (`fuzz/regressions/`), so what fuzzing found stays found
//! in CI, which has no nightly toolchain. A failed check panics.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ftptrigger::config::{self, Config, Diagnostic};
use ftptrigger::digest::Algorithm;
use ftptrigger::sidecar;
use ftptrigger::template::{BUILTIN, Template, Values};

/// The config loader on any text. Loading never panics or hangs, and for every CID a run
/// (which reads in full only that CID's rules, through the index it keeps) agrees with `check`:
///
/// - a syntax error anywhere in the file stops the run with exactly the diagnostics `check`
///   gives;
/// - otherwise the run gives the same result whether it made the index (the first run after a
///   change) or read it (every later run), and the same as validating the whole text for that
///   CID without an index;
/// - a config `check` accepts, the run accepts; and every problem a run reports, `check` reports
///   at the same line and column.
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    // A directory that does not exist, so no relative path in the config reaches a real file.
    let path = Path::new("/nonexistent/ftptrigger-fuzz/ftpscanner.cfg");
    let check = config::parse(path, text);
    let index = index_dir().join("config-index").join("fuzz");
    for cid in CIDS {
        let _ = std::fs::remove_file(&index);
        let made = config::parse_for_cid(path, text, cid, Some(&index));
        let read = config::parse_for_cid(path, text, cid, Some(&index));
        let without = config::parse_for_cid(path, text, cid, None);
        let show = |r: &Result<Config, Vec<Diagnostic>>| r.as_ref().map(summary).map_err(Clone::clone);
        assert_eq!(show(&made), show(&read), "cid {cid:?}: the index changed the run");
        assert_eq!(show(&made), show(&without), "cid {cid:?}: the run differs from reading it all");
        match (&check, &made) {
            (Err(all), Err(run)) if all.iter().any(|d| d.field == "toml") => {
                assert_eq!(all, run, "cid {cid:?}: a syntax error seen differently");
            }
            (Err(all), Err(run)) => {
                for d in run {
                    assert!(all.contains(d), "cid {cid:?}: only the run reports {d}");
                }
            }
            (Ok(_), Err(run)) => panic!("cid {cid:?}: check accepts what the run refuses: {run:?}"),
            (Err(all), Ok(_)) => assert!(
                !all.iter().any(|d| d.field == "toml"),
                "cid {cid:?}: the run accepts a config with a syntax error: {all:?}"
            ),
            (Ok(_), Ok(_)) => {}
        }
    }
}

/// A directory of this process's own for the index a run keeps (it plays the journal's).
fn index_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ftptrigger-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the index");
        dir
    })
}

/// CIDs the seeds and the dictionary use, plus one no rule is likely to have.
const CIDS: &[&str] = &["acme", "globex", "a b", "zz"];

/// What a run sees of a config, in a comparable form (compiled patterns print their source).
fn summary(config: &Config) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        config.journal, config.defaults, config.rules, config.channels, config.env_files, config.warnings
    )
}

/// The sidecar parser, on any bytes a customer can upload: it answers with entries or a
/// refusal, never a panic, and what it accepts means what it says: a bare digest only alone;
/// each entry found by its own name (unless another line gives that name another digest),
/// and a name with a directory part never by its base name alone; and every name reads back
/// the same written the way GNU md5sum writes an odd name. As an MD5 sidecar and as a SHA-256
/// one.
pub fn sidecar(bytes: &[u8]) {
    for algorithm in Algorithm::ALL {
        sidecar_of(bytes, algorithm);
    }
}

fn sidecar_of(bytes: &[u8], algorithm: Algorithm) {
    let Ok(entries) = sidecar::parse(bytes, algorithm) else { return };
    assert!(!entries.is_empty(), "an accepted sidecar has at least one entry");
    assert!(entries.len() == 1 || entries.iter().all(|e| e.name.is_some()), "a bare digest beside others");
    let nowhere = |_: &OsStr| false;
    for entry in &entries {
        let hex = entry.digest.as_str();
        assert!(
            hex.len() == algorithm.hex_len()
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{hex:?}"
        );
        let Some(name) = &entry.name else { continue };
        assert!(!name.as_bytes().contains(&0), "a NUL in the name of {entry:?}");
        // Found by its own name when it has no directory part, and by what it leads to when
        // it has one: the same digest, or a refusal when another line for it disagrees.
        let same_name = |e: &&sidecar::Entry| e.name.as_deref() == Some(name.as_os_str());
        let agree = entries.iter().filter(same_name).all(|e| e.digest == entry.digest);
        let found = if name.as_bytes().contains(&b'/') {
            let base = name.as_bytes().rsplit(|&b| b == b'/').next().unwrap();
            let by_base = sidecar::select(&entries, OsStr::from_bytes(base), nowhere);
            let by_base_named = entries.iter().any(|e| e.name.as_deref() == Some(OsStr::from_bytes(base)));
            assert!(by_base_named || by_base.is_err(), "{name:?} was taken for {base:?}");
            // Named by no entry (no name holds a NUL), so only what leads to the file counts.
            sidecar::select(&entries, OsStr::new("\0"), |n: &OsStr| n == name.as_os_str())
        } else {
            sidecar::select(&entries, name, nowhere)
        };
        match found {
            Ok(digest) => assert!(agree && digest == entry.digest, "{name:?}: {digest} for {entry:?}"),
            Err(sidecar::NoClaim::Conflict { .. }) => {
                assert!(!agree, "{name:?}: a conflict of equal digests")
            }
            Err(other) => panic!("{name:?} not found: {other:?}"),
        }
        // Written back the way GNU md5sum writes an odd name, it reads as the same entry. A name
        // of only blanks is the one exception: such a line is a bare digest, by design.
        if name.is_empty() || name.as_bytes().iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut line = format!("\\{hex}  ").into_bytes();
        for &b in name.as_bytes() {
            match b {
                b'\\' => line.extend(b"\\\\"),
                b'\n' => line.extend(b"\\n"),
                b'\r' => line.extend(b"\\r"),
                b => line.push(b),
            }
        }
        let again = sidecar::parse(&line, algorithm)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(&line)));
        assert_eq!(
            (again.len(), &again[0].digest, &again[0].name),
            (1, &entry.digest, &entry.name),
            "{:?}",
            String::from_utf8_lossy(&line)
        );
    }
}

/// Named regex groups a fuzzed template may also use.
const CAPTURES: &[&str] = &["account", "date"];

/// A value no template text can hold (0xff is never in UTF-8), so each copy found came from
/// the value.
const MARK: &[u8] = b"\xffVALUE\xff";

/// Placeholder templates, as the config writes them and as values from the customer fill them.
/// Parsing never panics; an accepted template keeps each value verbatim and intact; and writing
/// a template back out (braces doubled) reads as the same template. The input is the template
/// source, then the values of the placeholders, separated by 0xff (a byte no UTF-8 source
/// holds); values are any bytes, as file names are.
pub fn template(bytes: &[u8]) {
    // The template source, then the values of the placeholders, separated by 0xff (a byte no
    // UTF-8 source holds). Values are any bytes, as file names are.
    let mut parts = bytes.split(|&b| b == 0xff);
    let Ok(source) = std::str::from_utf8(parts.next().unwrap_or_default()) else { return };
    let captures: Vec<String> = CAPTURES.iter().map(|c| c.to_string()).collect();
    let Ok(template) = Template::parse(source, &captures) else { return };

    let names: Vec<&str> = BUILTIN.iter().chain(CAPTURES).copied().collect();
    let mut values = Values::default();
    for (name, value) in names.iter().zip(parts) {
        values.set(name, OsStr::from_bytes(value));
    }
    for name in template.placeholders() {
        assert!(names.contains(&name), "accepted an unknown placeholder {name:?}");
    }
    let expanded = template.expand(&values);

    // Written back with every placeholder kept, it parses again and expands the same.
    let written = template.expand_except(&values, &names);
    let written = written.to_str().expect("a template written back is UTF-8");
    let again = Template::parse(written, &captures).expect("a template written back parses");
    assert_eq!(again.expand(&values), expanded, "source {source:?} written back as {written:?}");

    // With only one placeholder set, its value appears verbatim in the result, once per use.
    for name in template.placeholders() {
        let mut one = Values::default();
        one.set(name, OsStr::from_bytes(MARK));
        let uses = template.placeholders().filter(|n| *n == name).count();
        let out = template.expand(&one);
        let found = out.as_bytes().windows(MARK.len()).filter(|w| *w == MARK).count();
        assert_eq!(found, uses, "{source:?}");
    }
    let _ = template.sibling_suffix();
}
