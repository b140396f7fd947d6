//! Property tests: the parsers and matchers that see customer-controlled input,
//! each against a reference or an invariant, on generated input. Case counts are kept modest
//! so `cargo test` stays fast; raise them with `PROPTEST_CASES=N` for a longer hunt.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::Duration;

use ftptrigger::config::{self, Config};
use ftptrigger::digest::{Algorithm, Digest};
use ftptrigger::md5block;
use ftptrigger::plan::{self, Facts};
use ftptrigger::rules;
use ftptrigger::sidecar;
use ftptrigger::template::{BUILTIN, Template, TemplateError, Values};
use proptest::prelude::*;

const CASES: u32 = 256;
const CONFIG_PATH: &str = "/etc/ftptrigger/properties.cfg";

fn cases() -> ProptestConfig {
    ProptestConfig { cases: CASES, ..ProptestConfig::default() }
}

/// A TOML basic string holding exactly `s`, whatever it contains.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn parse_config(text: &str) -> Result<Config, Vec<config::Diagnostic>> {
    config::parse(Path::new(CONFIG_PATH), text)
}

/// A one-rule config; `matcher` is the `pattern = ...` or `regex = ...` line.
fn one_rule(matcher: &str, command: &[&str]) -> String {
    let command: Vec<String> = command.iter().map(|a| toml_string(a)).collect();
    format!(
        "[[rule]]\nname = \"r\"\ncid = \"acme\"\n{matcher}\nroot = \"/srv/ftp/acme\"\ncommand = [{}]\n",
        command.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Sidecar parser
// ---------------------------------------------------------------------------------------------

/// A file name as a sender's tool would write it unescaped: no newline, no backslash (those
/// make GNU md5sum switch to its escaped form), no CR (indistinguishable from a Windows line
/// ending), no NUL (no file name holds one), and not made only of whitespace (see
/// `a_digest_with_trailing_blanks_is_a_bare_digest` below).
fn plain_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no \\n \\r \\\\ NUL", |b| !b"\n\r\\\0".contains(b)),
        1..40,
    )
    .prop_filter("not only whitespace", |n| !n.iter().all(u8::is_ascii_whitespace))
}

/// GNU md5sum's escaping of a name in a line that starts with `\`.
fn gnu_escape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
    out
}

/// An MD5 sidecar's entries.
fn parse(bytes: &[u8]) -> Result<Vec<sidecar::Entry>, sidecar::SidecarError> {
    sidecar::parse(bytes, Algorithm::Md5)
}

fn md5(digest: &[u8]) -> Digest {
    Digest::from_bytes(Algorithm::Md5, digest)
}

fn only_of(bytes: &[u8], algorithm: Algorithm) -> sidecar::Entry {
    let entries = sidecar::parse(bytes, algorithm)
        .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(bytes)));
    assert_eq!(entries.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    entries.into_iter().next().unwrap()
}

fn only(bytes: &[u8]) -> sidecar::Entry {
    only_of(bytes, Algorithm::Md5)
}

/// No name with a directory part leads to the file.
fn nowhere(_: &OsStr) -> bool {
    false
}

proptest! {
    #![proptest_config(cases())]

    /// Whatever the customer uploads as a sidecar, the parser answers; it never panics, and a
    /// success has at least one entry with a well-formed digest, and a bare digest only alone.
    #[test]
    fn sidecar_any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for algorithm in Algorithm::ALL {
            if let Ok(entries) = sidecar::parse(&bytes, algorithm) {
                prop_assert!(!entries.is_empty());
                prop_assert!(entries.len() == 1 || entries.iter().all(|e| e.name.is_some()));
                for e in &entries {
                    prop_assert_eq!(e.digest.algorithm(), algorithm);
                    prop_assert_eq!(e.digest.as_str().len(), algorithm.hex_len());
                    prop_assert!(e.digest.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                }
            }
        }
    }

    /// Lines that look almost right (a digest, separators, names, CRs, BOMs, comments, tags)
    /// hit the parser's branches far more often than random bytes do.
    #[test]
    fn sidecar_near_misses_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(b"d41d8cd98f00b204e9800998ecf8427e".to_vec()),
                Just(b"MD5 (".to_vec()),
                Just(b"MD5(".to_vec()),
                Just(b") = ".to_vec()),
                Just(b")=".to_vec()),
                Just(b"  ".to_vec()),
                Just(b" *".to_vec()),
                Just(b" ".to_vec()),
                Just(b"\t".to_vec()),
                Just(b"#".to_vec()),
                Just(b"\\".to_vec()),
                Just(b"\\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\xef\xbb\xbf".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..4),
            ],
            0..12,
        )
    ) {
        let bytes = parts.concat();
        if let Ok(entries) = parse(&bytes) {
            let _ = sidecar::select(&entries, OsStr::new("f"), |_| true);
        }
    }

    /// Every form senders use gives back the digest and the name that were written, after any
    /// indentation and with either line ending; in an MD5 sidecar and in a SHA-256 one.
    #[test]
    fn sidecar_formats_round_trip(
        sha256 in any::<bool>(),
        bytes in any::<[u8; 32]>(),
        name in plain_name(),
        upper in any::<bool>(),
        crlf in any::<bool>(),
        indent in prop::sample::select(vec!["", " ", "\t", " \t "]),
    ) {
        let (algorithm, tag): (_, &[u8]) = if sha256 { (Algorithm::Sha256, b"SHA256") } else { (Algorithm::Md5, b"MD5") };
        let digest = &bytes[..algorithm.hex_len() / 2];
        let hex = if upper { hex::encode_upper(digest) } else { hex::encode(digest) };
        let want = Digest::from_bytes(algorithm, digest);
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let want_name = Some(OsString::from_vec(name.clone()));
        let indent = indent.as_bytes();

        let mut forms = vec![
            ("GNU text", [indent, hex.as_bytes(), b"  ", &name, eol].concat()),
            ("GNU binary", [indent, hex.as_bytes(), b" *", &name, eol].concat()),
            ("--tag", [indent, tag, b" (", &name[..], b") = ", hex.as_bytes(), eol].concat()),
            ("OpenSSL", [indent, tag, b"(", &name[..], b")= ", hex.as_bytes(), eol].concat()),
        ];
        // `md5 -r` writes `<hex> <name>`; a name that starts with a blank or `*` would read as
        // GNU's form, as md5sum reads it.
        if !matches!(name[..], [b' ' | b'*', _, ..]) {
            forms.push(("md5 -r", [indent, hex.as_bytes(), b" ", &name, eol].concat()));
        }
        for (form, line) in &forms {
            let e = only_of(line, algorithm);
            prop_assert_eq!(&e.digest, &want, "{}", form);
            prop_assert_eq!(&e.name, &want_name, "{}", form);
        }

        let bare = [indent, hex.as_bytes(), eol].concat();
        let e = only_of(&bare, algorithm);
        prop_assert_eq!(&e.digest, &want);
        prop_assert_eq!(&e.name, &None);

        // The entry is the file's whose base name it is when it has no directory part, or
        // when it leads to that file; a name with one that leads elsewhere is another file's.
        let entries = sidecar::parse(&forms[0].1, algorithm).unwrap();
        let base = OsStr::from_bytes(name.rsplit(|&b| b == b'/').next().unwrap());
        prop_assert_eq!(sidecar::select(&entries, base, |n: &OsStr| n.as_bytes() == name), Ok(want));
        if name.contains(&b'/') {
            prop_assert!(sidecar::select(&entries, base, nowhere).is_err());
        }
    }

    /// GNU's escaped form (`\<hex>  <name>` and `\MD5 (<name>) = <hex>`, with `\\`, `\n`
    /// and `\r`) gives back any name at all.
    #[test]
    fn sidecar_gnu_escaped_names_round_trip(
        digest in any::<[u8; 16]>(),
        name in proptest::collection::vec(any::<u8>().prop_filter("no NUL", |&b| b != 0), 1..40),
    ) {
        prop_assume!(!name.iter().all(u8::is_ascii_whitespace));
        let hex = hex::encode(digest);
        let untagged = [b"\\", hex.as_bytes(), b"  ", &gnu_escape(&name), b"\n"].concat();
        let tagged = [b"\\MD5 (", &gnu_escape(&name)[..], b") = ", hex.as_bytes(), b"\n"].concat();
        for line in [untagged, tagged] {
            let e = only(&line);
            prop_assert_eq!(e.digest, md5(&digest));
            prop_assert_eq!(e.name, Some(OsString::from_vec(name.clone())));
        }
    }

    /// In a listing that names each file twice, as `x/<name>` (another file, with another
    /// digest) and then as `<name>`, each file is found by its own line; and were `x/<name>`
    /// the file itself, the two digests would be refused rather than one picked.
    #[test]
    fn sidecar_listing_finds_each_files_own_line(
        files in proptest::collection::btree_map(
            plain_name().prop_filter("a base name", |n| !n.contains(&b'/')),
            any::<[u8; 16]>(),
            1..6,
        ),
    ) {
        let other = |digest: &[u8; 16]| digest.map(|b| !b);
        let mut listing = Vec::new();
        for (name, digest) in &files {
            listing.extend([hex::encode(other(digest)).as_bytes(), b"  x/", name, b"\n"].concat());
            listing.extend([hex::encode(digest).as_bytes(), b"  ", name, b"\n"].concat());
        }
        let entries = parse(&listing).unwrap();
        for (name, digest) in &files {
            let name = OsStr::from_bytes(name);
            prop_assert_eq!(sidecar::select(&entries, name, nowhere), Ok(md5(digest)));
            let inside = |n: &OsStr| n.as_bytes() == [b"x/", name.as_bytes()].concat();
            let refused = sidecar::select(&entries, name, inside);
            prop_assert!(matches!(refused, Err(sidecar::NoClaim::Conflict { .. })), "{:?}", refused);
        }
    }
}

/// A digest followed only by whitespace is a bare digest: editors leave trailing blanks far
/// more often than anyone uploads a file named " ", and md5sum's line for such a name cannot
/// be told from it. So names made only of whitespace are not supported in sidecars (the digest
/// must still match the file, so a wrong file cannot run).
#[test]
fn a_digest_with_trailing_blanks_is_a_bare_digest() {
    let hex = "d41d8cd98f00b204e9800998ecf8427e";
    for tail in [" ", "  ", "   ", "\t", "  \t "] {
        let e = only(format!("{hex}{tail}\n").as_bytes());
        assert_eq!(e.name, None, "{tail:?}");
        assert_eq!(e.digest.as_str(), hex);
    }
}

// ---------------------------------------------------------------------------------------------
// Placeholder expansion
// ---------------------------------------------------------------------------------------------

fn escape_braces(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// Text with many braces, quotes, spaces and newlines, plus anything else.
fn template_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("{file}".to_owned()),
            Just(" ".to_owned()),
            Just("\"'$(x);\n".to_owned()),
            any::<String>(),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b' '),
            Just(b'\n'),
            Just(b'"'),
            Just(b'\''),
            Just(b'{'),
            Just(b'}'),
            Just(b'-'),
            any::<u8>().prop_filter("no NUL in argv", |&b| b != 0),
        ],
        0..40,
    )
}

fn identifier() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

proptest! {
    #![proptest_config(cases())]

    /// `{{` and `}}` are literal braces: escaped text expands back to itself, and `explain`'s
    /// form gives back the escaped source.
    #[test]
    fn template_escaped_text_round_trips(text in template_text()) {
        let source = escape_braces(&text);
        let t = Template::parse(&source, &[]).unwrap();
        prop_assert_eq!(t.source(), source.as_str());
        prop_assert_eq!(t.placeholders().count(), 0);
        prop_assert_eq!(t.expand(&Values::default()), OsString::from(&text));
        prop_assert_eq!(t.expand_except(&Values::default(), &[]), OsString::from(&source));
    }

    /// Any source either parses or is refused with an error; never a panic.
    #[test]
    fn template_any_source_never_panics(source in template_text()) {
        if let Ok(t) = Template::parse(&source, &[]) {
            let _ = t.expand(&Values::default());
        }
    }

    /// A value lands verbatim in the one argument that names it, between the template's own
    /// text, whatever bytes it holds.
    #[test]
    fn template_value_is_substituted_verbatim(prefix in template_text(), suffix in template_text(), value in value_bytes(), name in prop::sample::select(BUILTIN)) {
        let source = format!("{}{{{name}}}{}", escape_braces(&prefix), escape_braces(&suffix));
        let t = Template::parse(&source, &[]).unwrap();
        prop_assert_eq!(t.placeholders().collect::<Vec<_>>(), vec![name]);
        let mut values = Values::default();
        values.set(name, OsString::from_vec(value.clone()));
        let want = [prefix.as_bytes(), &value, suffix.as_bytes()].concat();
        prop_assert_eq!(t.expand(&values).into_vec(), want);
    }

    /// Unknown names are refused, naming the placeholder; declared captures are accepted.
    #[test]
    fn template_unknown_names_are_rejected(name in identifier(), declared in any::<bool>()) {
        prop_assume!(!BUILTIN.contains(&name.as_str()));
        let source = format!("x{{{name}}}y");
        let captures = if declared { vec![name.clone()] } else { Vec::new() };
        match Template::parse(&source, &captures) {
            Ok(t) => {
                prop_assert!(declared);
                prop_assert_eq!(t.placeholders().collect::<Vec<_>>(), vec![name.as_str()]);
            }
            Err(TemplateError::Unknown { name: got, .. }) => {
                prop_assert!(!declared);
                prop_assert_eq!(got, name);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// Through a whole rule: N command templates give exactly N-1 arguments after the
    /// program, each the template's text with the file's path, name and CID in it verbatim —
    /// never split at spaces or newlines, never merged, a leading `-` kept as is.
    #[test]
    fn command_argv_is_never_split_or_merged(
        name in value_bytes().prop_filter("a file name", |n| !n.is_empty() && !n.contains(&b'/') && n != b"." && n != b".."),
        args in proptest::collection::vec(template_text(), 0..5),
        placeholder in prop::sample::select(vec!["file", "filename", "cid"]),
    ) {
        let mut command: Vec<String> = vec!["/bin/true".into()];
        for a in &args {
            command.push(format!("{}{{{placeholder}}}", escape_braces(a)));
        }
        command.push("--".into());
        command.push("{file}".into());
        let refs: Vec<&str> = command.iter().map(String::as_str).collect();
        let config = parse_config(&one_rule("pattern = \"*\"", &refs)).unwrap();
        let path = Path::new("/srv/ftp/acme").join(OsStr::from_bytes(&name));
        let (rule, captures) = rules::find(&config, "acme", OsStr::from_bytes(&name)).unwrap();
        let facts = Facts { cid: "acme", path: &path, md5: None, size: Some(1), run_id: Some(7), captures: &captures, keep_unknown: false };
        let job = plan::job(rule, &facts);
        prop_assert_eq!(job.program.as_bytes(), b"/bin/true");
        prop_assert_eq!(job.args.len(), args.len() + 2);
        let value: &[u8] = match placeholder {
            "file" => path.as_os_str().as_bytes(),
            "filename" => &name,
            _ => b"acme",
        };
        for (a, got) in args.iter().zip(&job.args) {
            let want = [a.as_bytes(), value].concat();
            prop_assert_eq!(got.as_bytes(), want.as_slice());
        }
        prop_assert_eq!(job.args[args.len()].as_bytes(), b"--");
        prop_assert_eq!(job.args[args.len() + 1].as_bytes(), path.as_os_str().as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Durations, as the config reads them
// ---------------------------------------------------------------------------------------------

fn config_with_timeout(value: &str) -> String {
    format!("[defaults]\ntimeout = {}\n{}", toml_string(value), one_rule("pattern = \"*\"", &["/bin/true"]))
}

proptest! {
    #![proptest_config(cases())]

    /// `NhNmNs` (any part left out, at least one kept) is that many seconds.
    #[test]
    fn duration_hms_parses_to_its_value(h in proptest::option::of(0u64..1000), m in proptest::option::of(0u64..1000), s in proptest::option::of(0u64..100_000), spaced in any::<bool>()) {
        prop_assume!(h.is_some() || m.is_some() || s.is_some());
        let secs = h.unwrap_or(0) * 3600 + m.unwrap_or(0) * 60 + s.unwrap_or(0);
        prop_assume!(secs > 0);
        let sep = if spaced { " " } else { "" };
        let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
            .iter()
            .filter_map(|(n, unit)| n.map(|n| format!("{n}{unit}")))
            .collect();
        let text = parts.join(sep);
        let config = parse_config(&config_with_timeout(&text)).unwrap_or_else(|d| panic!("{text:?}: {d:?}"));
        prop_assert_eq!(config.defaults.timeout, Duration::from_secs(secs));
        prop_assert_eq!(config.rules[0].settings.timeout, Duration::from_secs(secs));
    }

    /// Anything else either is a duration humantime accepts or gives a diagnostic on
    /// `defaults.timeout`; never a panic, never a silent default.
    #[test]
    fn duration_garbage_gives_a_diagnostic(text in prop_oneof![any::<String>(), "[0-9a-z ]{0,12}", "[0-9]{1,30}[a-z]{0,3}"]) {
        let expected = humantime::parse_duration(&text).ok().filter(|d| !d.is_zero());
        match parse_config(&config_with_timeout(&text)) {
            Ok(config) => prop_assert_eq!(Some(config.defaults.timeout), expected, "{:?}", text),
            Err(diagnostics) => {
                prop_assert!(expected.is_none(), "{:?} was refused: {:?}", text, diagnostics);
                prop_assert!(diagnostics.iter().any(|d| d.field == "defaults.timeout"), "{:?}: {:?}", text, diagnostics);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Glob rules against a reference matcher
// ---------------------------------------------------------------------------------------------

/// `*` any run of characters (names have no `/`), `?` exactly one, anything else itself.
fn reference_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| reference_match(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && reference_match(rest, &name[1..]),
        Some((&c, rest)) => name.first() == Some(&c) && reference_match(rest, &name[1..]),
    }
}

proptest! {
    #![proptest_config(cases())]

    /// `.` and `..` are not file names (a path ending in them has none), so they are left out.
    #[test]
    fn glob_rule_agrees_with_the_reference(pattern in "[ab.*?]{1,8}", name in "[ab.]{1,10}") {
        prop_assume!(name != "." && name != "..");
        let config = parse_config(&one_rule(&format!("pattern = {}", toml_string(&pattern)), &["/bin/true"]))
            .unwrap_or_else(|d| panic!("pattern {pattern:?}: {d:?}"));
        let found = rules::find(&config, "acme", OsStr::new(&name)).is_some();
        prop_assert_eq!(found, reference_match(pattern.as_bytes(), name.as_bytes()), "pattern {:?} name {:?}", pattern, name);
        // Another CID never gets the rule.
        prop_assert!(rules::find(&config, "other", OsStr::new(&name)).is_none());
    }

    /// A regex rule matches the whole name: the reference is the same pattern anchored.
    #[test]
    fn regex_rule_matches_the_whole_name(pattern in "[ab.]{0,3}(\\.\\*|\\.|[ab])[ab.]{0,3}", name in "[ab.]{0,10}") {
        let config = parse_config(&one_rule(&format!("regex = {}", toml_string(&pattern)), &["/bin/true"])).unwrap();
        let anchored = regex::bytes::Regex::new(&format!("^(?:{pattern})$")).unwrap();
        let found = rules::find(&config, "acme", OsStr::new(&name)).is_some();
        prop_assert_eq!(found, anchored.is_match(name.as_bytes()), "regex {:?} name {:?}", pattern, name);
    }
}

// ---------------------------------------------------------------------------------------------
// MD5 against the md-5 crate
// ---------------------------------------------------------------------------------------------

fn reference_md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(data).into()
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn md5_matches_the_md5_crate(data in proptest::collection::vec(any::<u8>(), 0..2048), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let want = reference_md5(&data);
        prop_assert_eq!(md5block::digest(&data), want);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        at.sort_unstable();
        let mut hasher = md5block::Md5::new();
        let mut start = 0;
        for &end in &at {
            hasher.update(&data[start..end]);
            start = end;
        }
        hasher.update(&data[start..]);
        prop_assert_eq!(hasher.finalize(), want);
    }

    /// Lengths around the 64-byte block and the 56-byte padding boundary, fed byte by byte.
    #[test]
    fn md5_block_boundaries(len in prop::sample::select(vec![0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129]), seed in any::<u8>()) {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let mut hasher = md5block::Md5::new();
        for b in &data {
            hasher.update(std::slice::from_ref(b));
        }
        prop_assert_eq!(hasher.finalize(), reference_md5(&data));
    }
}
