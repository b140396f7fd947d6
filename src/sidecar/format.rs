//! The lines of a sidecar, read as GNU `md5sum -c` reads them.
//!
//! Every line `md5sum -c` accepts means here what it means there: `<hex>  <name>`,
//! `<hex> *<name>`, `md5 -r`'s `<hex> <name>`, `--tag`'s `MD5 (<name>) = <hex>` and OpenSSL's
//! `MD5(<name>)= <hex>`, each after leading blanks and with GNU's escaped names (a line that
//! starts with `\`); `#` comment lines and empty lines are skipped, CRLF endings are fine.
//! Beyond it, for senders on Windows and by hand: a bare digest as the whole sidecar, a UTF-8
//! byte-order mark, lines of blanks, blanks after the digest of a `--tag` line.
//!
//! Unlike it, a line it would skip as improperly formatted makes the whole sidecar unusable, as
//! `md5sum -c --strict` does: a listing with a broken line is the sender's to fix, not ours to
//! guess around. A NUL byte, which `md5sum` reads as the end of the line, is such a line too.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;

use super::Md5Hex;
use crate::display::escape;

/// One line of a sidecar: the digest and, unless it was bare hex, the file it names, exactly
/// (unescaped, a directory part kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub md5: Md5Hex,
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

    fn what(&self) -> String {
        match self {
            SidecarError::Unreadable(why) => format!("cannot be read: {why}"),
            SidecarError::Empty => "holds no MD5 line".to_owned(),
            SidecarError::Malformed { .. } => "not an MD5 line (expected `<hex>  <name>`, \
                `MD5 (<name>) = <hex>` or a bare digest; `#` starts a comment)"
                .to_owned(),
            SidecarError::BareInListing { .. } => {
                "a bare digest beside other lines; a listing names the file of each digest".to_owned()
            }
            SidecarError::Conflict { first, name, .. } => {
                format!("gives {} another MD5 than line {first}", escape(name))
            }
        }
    }

    /// The message for the sidecar shown as `path`: `MD5 sidecar PATH:LINE: what`, the form of
    /// `check`'s diagnostics, so an editor can jump to the line.
    pub(super) fn of_sidecar(&self, path: &str) -> String {
        match self.line() {
            Some(line) => format!("MD5 sidecar {path}:{line}: {}", self.what()),
            None => format!("MD5 sidecar {path} {}", self.what()),
        }
    }
}

impl fmt::Display for SidecarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line() {
            Some(line) => write!(f, "line {line}: {}", self.what()),
            None => f.write_str(&self.what()),
        }
    }
}

impl std::error::Error for SidecarError {}

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

/// Parses a whole sidecar: every line must be an entry, a comment or blank. A listing of
/// several lines is fine, and [`select`] finds the file's line; a bare digest must be alone.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, SidecarError> {
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
        let (md5, name) = parse_line(line, &mut untagged).ok_or(SidecarError::Malformed { line: number })?;
        entries.push(Entry { md5, name: name.map(OsString::from_vec), line: number });
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

fn parse_line(line: &[u8], untagged: &mut Untagged) -> Option<(Md5Hex, Option<Vec<u8>>)> {
    if line.contains(&0) {
        return None;
    }
    // Not md5sum's: a digest alone, blanks around it allowed. Editors leave trailing blanks far
    // more often than anyone uploads a file named " ", whose md5sum line would look the same.
    if let Some(md5) = hex_of(line.trim_ascii()) {
        return Some((md5, None));
    }
    let line = skip_blanks(line);
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (md5, name) = match line.strip_prefix(b"MD5") {
        Some(rest) => tagged(rest.strip_prefix(b" ").unwrap_or(rest).strip_prefix(b"(")?)?,
        None => untagged_line(line, untagged)?,
    };
    let name = if escaped { unescape(name)? } else { name.to_vec() };
    Some((md5, Some(name)))
}

/// After `MD5 (` or `MD5(`: `<name>) = <hex>`, the name running to the last `)`, blanks
/// optional around `=`.
fn tagged(rest: &[u8]) -> Option<(Md5Hex, &[u8])> {
    let close = rest.iter().rposition(|&b| b == b')')?;
    let digest = skip_blanks(&rest[close + 1..]).strip_prefix(b"=")?;
    let digest = skip_blanks(digest);
    let end = digest.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
    Some((hex_of(&digest[..end])?, &rest[..close]))
}

/// `<hex>`, one blank, then `<name>` (reversed form) or ` <name>` / `*<name>` (GNU form).
fn untagged_line<'l>(line: &'l [u8], untagged: &mut Untagged) -> Option<(Md5Hex, &'l [u8])> {
    let end = line.iter().position(|&b| is_blank(b))?;
    let md5 = hex_of(&line[..end])?;
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
    (!name.is_empty()).then_some((md5, name))
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

fn hex_of(bytes: &[u8]) -> Option<Md5Hex> {
    Md5Hex::parse(std::str::from_utf8(bytes).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const Z: &str = "00000000000000000000000000000000";

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
        assert_eq!(one(format!("  {}\r\n", H.to_uppercase()).as_bytes()).md5.as_str(), H);
        assert_eq!(name(&format!("{H}  a b.zip\n")), "a b.zip");
        assert_eq!(name(&format!("{H} *a.zip")), "a.zip");
        assert_eq!(name(&format!("{H} a.zip")), "a.zip");
        assert_eq!(name(&format!(" \t{H}  a.zip")), "a.zip");
        assert_eq!(name(&format!("MD5 (x) = y.zip) = {H}\n")), "x) = y.zip");
        assert_eq!(name(&format!("MD5(a.zip)= {H}")), "a.zip");
        assert_eq!(name(&format!("MD5 (a.zip)=\t{H} ")), "a.zip");
        assert_eq!(name(&format!("\\{H}  a\\nb\\\\c\\rd")), "a\nb\\c\rd");
        assert_eq!(name(&format!("\\MD5 (a\\\\b\\n) = {H}")), "a\\b\n");
        assert_eq!(one(format!("\u{feff}{H}").as_bytes()).md5.as_str(), H);
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
            SidecarError::Malformed { line: 3 }.of_sidecar("/up/f.md5"),
            "MD5 sidecar /up/f.md5:3: not an MD5 line (expected `<hex>  <name>`, `MD5 (<name>) = <hex>` \
             or a bare digest; `#` starts a comment)"
        );
        let conflict = SidecarError::Conflict { first: 1, line: 4, name: "a\nb".into() };
        assert_eq!(conflict.of_sidecar("s"), "MD5 sidecar s:4: gives a\\nb another MD5 than line 1");
        assert_eq!(SidecarError::Empty.of_sidecar("s"), "MD5 sidecar s holds no MD5 line");
    }
}
