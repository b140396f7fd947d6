//! The sidecar parser, on any bytes a customer can upload: it answers with entries or a
//! refusal, never a panic, and what it accepts means what it says.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use ftptrigger::sidecar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(entries) = sidecar::parse(bytes) else { return };
    assert!(!entries.is_empty(), "an accepted sidecar has at least one entry");
    for entry in &entries {
        let hex = entry.md5.as_str();
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{hex:?}"
        );
        let Some(name) = &entry.name else { continue };
        // The entry for a name is found by that name's last component.
        let base = name.as_bytes().rsplit(|&b| b == b'/').next().unwrap();
        if !base.is_empty() {
            assert!(sidecar::select(&entries, OsStr::from_bytes(base)).is_ok());
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
        assert_eq!(
            sidecar::parse(&line).as_deref(),
            Ok(std::slice::from_ref(entry)),
            "{:?}",
            String::from_utf8_lossy(&line)
        );
    }
    let _ = sidecar::select(&entries, OsStr::from_bytes(bytes.get(..8).unwrap_or(bytes)));
});
