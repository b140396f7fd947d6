//! The lines of a sidecar, read as GNU `md5sum -c` (or `sha256sum -c`) reads them.
//!
//! Every line `md5sum -c` accepts means here what it means there: `<hex>  <name>`,
//! `<hex> *<name>`, `md5 -r`'s `<hex> <name>`, `--tag`'s `MD5 (<name>) = <hex>` and OpenSSL's
//! `MD5(<name>)= <hex>`, each after leading blanks and with GNU's escaped names (a line that
//! starts with `\`); `#` comment lines and empty lines are skipped, CRLF endings are fine. A
//! SHA-256 sidecar is read the same way, with 64 hex digits and the tag `SHA256`.
//! Beyond it, for senders on Windows and by hand: a bare digest as the whole sidecar, a UTF-8
//! byte-order mark, lines of blanks, blanks after the digest of a `--tag` line; and OpenSSL 3's
//! `SHA2-256(<name>)= <hex>`, which `sha256sum` does not read.
//!
//! Unlike it, a line it would skip as improperly formatted makes the whole sidecar unusable, as
//! `md5sum -c --strict` does: a listing with a broken line is the sender's to fix, not ours to
//! guess around. A NUL byte, which `md5sum` reads as the end of the line, is such a line too.
//! So is a digest of the other algorithm's length: an MD5 in a SHA-256 sidecar is no SHA-256.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::digest::{Algorithm, Digest};
use crate::display::escape;

/// One line of a sidecar: the digest and, unless it was bare hex, the file it names, exactly
/// (unescaped, a directory part kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub digest: Digest,
    pub name: Option<OsString>,
    /// Its line in the sidecar, from 1.
    pub line: usize,
}

/// Why a sidecar is unusable: the sender's fault, whatever it says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarError {
    Unreadable(String),
    Empty,
    Malformed {
        line: usize,
    },
    /// A bare digest says "this file's MD5"; beside other lines it could be any file's.
    BareInListing {
        line: usize,
    },
    /// Lines `first` and `line` name the file with different digests.
    Conflict {
        first: usize,
        line: usize,
        name: OsString,
    },
}

impl SidecarError {
    fn line(&self) -> Option<usize> {
        match self {
            SidecarError::Unreadable(_) | SidecarError::Empty => None,
            SidecarError::Malformed { line }
            | SidecarError::BareInListing { line }
            | SidecarError::Conflict { line, .. } => Some(*line),
        }
    }

    fn what(&self, algorithm: Algorithm) -> String {
        let name = algorithm.name();
        match self {
            SidecarError::Unreadable(why) => format!("cannot be read: {why}"),
            SidecarError::Empty => format!("holds no {name} line"),
            SidecarError::Malformed { .. } => format!(
                "not {} line (expected `<hex>  <name>`, `{} (<name>) = <hex>` or a bare digest; `#` starts a \
                 comment)",
                algorithm.a(),
                tags(algorithm)[0]
            ),
            SidecarError::BareInListing { .. } => {
                "a bare digest beside other lines; a listing names the file of each digest".to_owned()
            }
            SidecarError::Conflict { first, name: file, .. } => {
                format!("gives {} another {name} than line {first}", escape(file))
            }
        }
    }

    /// The message for the `algorithm` sidecar shown as `path`: `MD5 sidecar PATH:LINE: what`,
    /// the form of `check`'s diagnostics, so an editor can jump to the line.
    pub fn of_sidecar(&self, path: &str, algorithm: Algorithm) -> String {
        let what = self.what(algorithm);
        match self.line() {
            Some(line) => format!("{algorithm} sidecar {path}:{line}: {what}"),
            None => format!("{algorithm} sidecar {path} {what}"),
        }
    }
}

/// The words a `--tag` (or OpenSSL) line of `algorithm` starts with; the first is GNU's.
fn tags(algorithm: Algorithm) -> &'static [&'static str] {
    match algorithm {
        Algorithm::Md5 => &["MD5"],
        // OpenSSL 3 writes `SHA2-256(<name>)= <hex>`; OpenSSL 1 wrote `SHA256(<name>)= <hex>`.
        Algorithm::Sha256 => &["SHA256", "SHA2-256"],
    }
}

/// Which of GNU's untagged forms a sidecar uses. `md5sum -c` lets a listing hold one or the
/// other, never both: the first untagged line decides, and in `md5 -r` form a line that looks
/// like `<hex>  <name>` names ` <name>`, leading blank and all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Untagged {
    Undecided,
    /// `<hex>  <name>` / `<hex> *<name>`.
    Gnu,
    /// `md5 -r`: `<hex> <name>`.
    Reversed,
}

/// Parses a whole sidecar of `algorithm` digests: every line must be an entry, a comment or
/// blank. A listing of several lines is fine, and [`select`] finds the file's line; a bare
/// digest must be alone.
///
/// [`select`]: super::select
pub fn parse(bytes: &[u8], algorithm: Algorithm) -> Result<Vec<Entry>, SidecarError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut entries = Vec::new();
    let mut untagged = Untagged::Undecided;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        // As md5sum: a comment is a `#` in the very first column, before anything is trimmed.
        if line.first() == Some(&b'#') {
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = index + 1;
        let (digest, name) =
            parse_line(line, algorithm, &mut untagged).ok_or(SidecarError::Malformed { line: number })?;
        entries.push(Entry { digest, name: name.map(OsString::from_vec), line: number });
    }
    if entries.len() > 1
        && let Some(bare) = entries.iter().position(|e| e.name.is_none())
    {
        // The line where the sidecar stopped being one bare digest.
        return Err(SidecarError::BareInListing { line: entries[bare.max(1)].line });
    }
    if entries.is_empty() {
        return Err(SidecarError::Empty);
    }
    Ok(entries)
}

fn parse_line(
    line: &[u8],
    algorithm: Algorithm,
    untagged: &mut Untagged,
) -> Option<(Digest, Option<Vec<u8>>)> {
    if line.contains(&0) {
        return None;
    }
    // Not md5sum's: a digest alone, blanks around it allowed. Editors leave trailing blanks far
    // more often than anyone uploads a file named " ", whose md5sum line would look the same.
    if let Some(digest) = hex_of(line.trim_ascii(), algorithm) {
        return Some((digest, None));
    }
    let line = skip_blanks(line);
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (digest, name) = match tags(algorithm).iter().find_map(|tag| line.strip_prefix(tag.as_bytes())) {
        Some(rest) => tagged(rest.strip_prefix(b" ").unwrap_or(rest).strip_prefix(b"(")?, algorithm)?,
        None => untagged_line(line, algorithm, untagged)?,
    };
    let name = if escaped { unescape(name)? } else { name.to_vec() };
    Some((digest, Some(name)))
}

/// After `MD5 (` or `MD5(`: `<name>) = <hex>`, the name running to the last `)`, blanks
/// optional around `=`.
fn tagged(rest: &[u8], algorithm: Algorithm) -> Option<(Digest, &[u8])> {
    let close = rest.iter().rposition(|&b| b == b')')?;
    let digest = skip_blanks(&rest[close + 1..]).strip_prefix(b"=")?;
    let digest = skip_blanks(digest);
    let end = digest.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
    Some((hex_of(&digest[..end], algorithm)?, &rest[..close]))
}

/// `<hex>`, one blank, then `<name>` (reversed form) or ` <name>` / `*<name>` (GNU form).
fn untagged_line<'l>(
    line: &'l [u8],
    algorithm: Algorithm,
    untagged: &mut Untagged,
) -> Option<(Digest, &'l [u8])> {
    let end = line.iter().position(|&b| is_blank(b))?;
    let digest = hex_of(&line[..end], algorithm)?;
    let rest = &line[end + 1..];
    let gnu_like = matches!(rest, [b' ' | b'*', _, ..]);
    let name = match (*untagged, gnu_like) {
        (Untagged::Reversed, _) => rest,
        (_, true) => {
            *untagged = Untagged::Gnu;
            &rest[1..]
        }
        (Untagged::Gnu, false) => return None,
        (Untagged::Undecided, false) => {
            *untagged = Untagged::Reversed;
            rest
        }
    };
    (!name.is_empty()).then_some((digest, name))
}

/// GNU's escaped name: `\\`, `\n` and `\r` stand for a backslash, a newline and a CR; any
/// other backslash makes the line malformed.
fn unescape(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            match bytes.next()? {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                _ => return None,
            }
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// md5sum's blanks: space and tab.
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| !is_blank(b)).unwrap_or(bytes.len());
    &bytes[start..]
}

fn hex_of(bytes: &[u8], algorithm: Algorithm) -> Option<Digest> {
    Digest::parse(algorithm, std::str::from_utf8(bytes).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const Z: &str = "00000000000000000000000000000000";
    const S: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(input: &[u8]) -> Result<Vec<Entry>, SidecarError> {
        super::parse(input, Algorithm::Md5)
    }

    fn one(input: &[u8]) -> Entry {
        let mut entries = parse(input).unwrap();
        assert_eq!(entries.len(), 1);
        entries.remove(0)
    }

    fn name(input: &str) -> OsString {
        one(input.as_bytes()).name.expect("a named entry")
    }

    #[test]
    fn all_formats() {
        assert_eq!(one(format!("{H}\n").as_bytes()).name, None);
        assert_eq!(one(format!("  {}\r\n", H.to_uppercase()).as_bytes()).digest.as_str(), H);
        assert_eq!(name(&format!("{H}  a b.zip\n")), "a b.zip");
        assert_eq!(name(&format!("{H} *a.zip")), "a.zip");
        assert_eq!(name(&format!("{H} a.zip")), "a.zip");
        assert_eq!(name(&format!(" \t{H}  a.zip")), "a.zip");
        assert_eq!(name(&format!("MD5 (x) = y.zip) = {H}\n")), "x) = y.zip");
        assert_eq!(name(&format!("MD5(a.zip)= {H}")), "a.zip");
        assert_eq!(name(&format!("MD5 (a.zip)=\t{H} ")), "a.zip");
        assert_eq!(name(&format!("\\{H}  a\\nb\\\\c\\rd")), "a\nb\\c\rd");
        assert_eq!(name(&format!("\\MD5 (a\\\\b\\n) = {H}")), "a\\b\n");
        assert_eq!(one(format!("\u{feff}{H}").as_bytes()).digest.as_str(), H);
        assert_eq!(one(format!("# by a Windows tool\n\n{H}  a.zip\r\n").as_bytes()).line, 3);
    }

    #[test]
    fn the_first_untagged_line_decides_its_form() {
        let reversed = parse(format!("{H} a.zip\n{H}  b.zip\n{H} *c.zip\n").as_bytes()).unwrap();
        let names: Vec<_> = reversed.iter().map(|e| e.name.clone().unwrap()).collect();
        assert_eq!(names, ["a.zip", " b.zip", "*c.zip"]);
        assert_eq!(
            parse(format!("{H}  a.zip\n{H} b.zip\n").as_bytes()),
            Err(SidecarError::Malformed { line: 2 })
        );
        // Tagged lines do not decide it.
        assert!(parse(format!("MD5 (a) = {H}\n{H} b\n{H} *c\n").as_bytes()).is_ok());
    }

    #[test]
    fn malformed() {
        let bad =
            |input: &str, line| assert_eq!(parse(input.as_bytes()), Err(SidecarError::Malformed { line }));
        assert_eq!(parse(b""), Err(SidecarError::Empty));
        assert_eq!(parse(b"\n \n# only a comment\n"), Err(SidecarError::Empty));
        bad("hello", 1);
        bad(&format!("{H}\nnope"), 2);
        bad(&format!(" # not a comment once indented\n{H}  a"), 1);
        bad(&format!("md5 (a) = {H}"), 1);
        bad(&format!("MD5  (a) = {H}"), 1);
        bad(&format!("MD5 (a) {H}"), 1);
        bad(&format!("\\{H}  a\\qb"), 1);
        bad(&format!("\\{H}  a\\"), 1);
        bad(&format!("{H}  a\0b"), 1);
        assert_eq!(parse(b"\xff\xfe"), Err(SidecarError::Malformed { line: 1 }));
    }

    #[test]
    fn a_bare_digest_must_be_alone() {
        assert_eq!(parse(format!("{H}\n{Z}\n").as_bytes()), Err(SidecarError::BareInListing { line: 2 }));
        assert_eq!(
            parse(format!("{H}  a\n\n{Z}\n").as_bytes()),
            Err(SidecarError::BareInListing { line: 3 })
        );
        assert_eq!(parse(format!("{H}\n{Z}  a\n").as_bytes()), Err(SidecarError::BareInListing { line: 2 }));
    }

    #[test]
    fn messages_name_the_sidecar_and_the_line() {
        assert_eq!(
            SidecarError::Malformed { line: 3 }.of_sidecar("/up/f.md5", Algorithm::Md5),
            "MD5 sidecar /up/f.md5:3: not an MD5 line (expected `<hex>  <name>`, `MD5 (<name>) = <hex>` \
             or a bare digest; `#` starts a comment)"
        );
        let conflict = SidecarError::Conflict { first: 1, line: 4, name: "a\nb".into() };
        assert_eq!(
            conflict.of_sidecar("s", Algorithm::Md5),
            "MD5 sidecar s:4: gives a\\nb another MD5 than line 1"
        );
        assert_eq!(SidecarError::Empty.of_sidecar("s", Algorithm::Md5), "MD5 sidecar s holds no MD5 line");
        assert_eq!(
            SidecarError::Malformed { line: 1 }.of_sidecar("f.sha256", Algorithm::Sha256),
            "SHA-256 sidecar f.sha256:1: not a SHA-256 line (expected `<hex>  <name>`, `SHA256 (<name>) = <hex>` \
             or a bare digest; `#` starts a comment)"
        );
        assert_eq!(
            conflict.of_sidecar("s", Algorithm::Sha256),
            "SHA-256 sidecar s:4: gives a\\nb another SHA-256 than line 1"
        );
    }

    /// The forms `sha256sum`, `sha256sum --tag` and OpenSSL 1 and 3 write, with 64 digits; the
    /// 32 of an MD5 are no SHA-256, and the other algorithm's tag is no tag.
    #[test]
    fn sha256_lines_in_every_form() {
        let sha = |input: String| super::parse(input.as_bytes(), Algorithm::Sha256);
        for line in [
            format!("{S}  a.zip\n"),
            format!("{S} *a.zip\n"),
            format!("SHA256 (a.zip) = {S}\n"),
            format!("SHA256(a.zip)= {S}\n"),
            format!("SHA2-256(a.zip)= {S}\n"),
            format!("{}  a.zip\r\n", S.to_uppercase()),
        ] {
            let entries = sha(line.clone()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
            assert_eq!((entries[0].digest.as_str(), entries[0].name.as_deref()), (S, Some("a.zip".as_ref())));
            assert_eq!(entries[0].digest.algorithm(), Algorithm::Sha256);
        }
        assert_eq!(sha(format!("{S}\n")).unwrap()[0].name, None);
        for line in [
            format!("{H}  a.zip"),
            H.to_owned(),
            format!("MD5 (a.zip) = {S}"),
            format!("SHA256 (a.zip) = {H}"),
        ] {
            assert_eq!(sha(line.clone()), Err(SidecarError::Malformed { line: 1 }), "{line:?}");
        }
        assert_eq!(parse(format!("{S}  a.zip").as_bytes()), Err(SidecarError::Malformed { line: 1 }));
    }
}
