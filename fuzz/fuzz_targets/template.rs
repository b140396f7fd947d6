//! Placeholder templates, as the config writes them and as values from the customer fill them.
//! Parsing never panics; an accepted template keeps each value verbatim and intact; and writing
//! a template back out (braces doubled) reads as the same template.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use ftptrigger::template::{BUILTIN, Template, Values};
use libfuzzer_sys::fuzz_target;

/// Named regex groups the fuzzed template may also use.
const CAPTURES: &[&str] = &["account", "date"];

/// A value no template text can hold (0xff is never in UTF-8), so each copy found came from
/// the value.
const MARK: &[u8] = b"\xffVALUE\xff";

fuzz_target!(|bytes: &[u8]| {
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
});
