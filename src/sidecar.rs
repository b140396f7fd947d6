//! The MD5 the sender claims: `--md5 HEX` or a sidecar file in any of the formats senders use.
//!
//! Sidecar formats: bare hex; GNU `md5sum` (`<hex>  <name>`, `<hex> *<name>`, with its
//! backslash escaping of odd names); BSD `MD5 (<name>) = <hex>`. Windows line endings and a
//! UTF-8 byte-order mark are tolerated, since the files often come from Windows senders.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::regular_file::{self, Links, ReadError};

/// Sidecars are a line or a listing; anything bigger is not a sidecar.
const SIDECAR_MAX: u64 = 1 << 20;

/// Every entry of the sidecar at `path`, or why it cannot be read as one. A symlink is not
/// followed: a sidecar comes from the customer, and one who can make symlinks (SFTP) must not
/// get another file's digests reported as theirs.
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let (bytes, _) = regular_file::read(path, Links::Refuse, SIDECAR_MAX).map_err(|err| match err {
        ReadError::Symlink => "a symlink; only a regular file is read as a sidecar".to_owned(),
        ReadError::TooLarge { len, .. } => format!("too large for an MD5 sidecar ({len} bytes)"),
        err => err.to_string(),
    })?;
    parse(&bytes).map_err(|e| e.to_string())
}

/// An MD5 digest as 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Hex(String);

impl Md5Hex {
    /// Accepts exactly 32 hex digits, any case.
    pub fn parse(s: &str) -> Result<Md5Hex, String> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Md5Hex(s.to_ascii_lowercase()))
        } else {
            Err(format!("expected 32 hex digits, got {:?}", crate::display::escape_str(s)))
        }
    }

    pub fn from_digest(bytes: &[u8]) -> Md5Hex {
        Md5Hex(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of a sidecar: the digest and, unless it was bare hex, the file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub md5: Md5Hex,
    pub name: Option<OsString>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidecarError {
    #[error("is empty")]
    Empty,
    #[error("line {line}: not an MD5 line (expected bare hex, `<hex>  <name>` or `MD5 (<name>) = <hex>`)")]
    Malformed { line: usize },
}

/// Parses a whole sidecar. Every non-blank line must be an entry; a file with several lines
/// (an `md5sum *` listing) is fine, and [`select`] picks the line for the file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, SidecarError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut entries = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = parse_line(line).ok_or(SidecarError::Malformed { line: index + 1 })?;
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(SidecarError::Empty);
    }
    Ok(entries)
}

fn parse_line(line: &[u8]) -> Option<Entry> {
    let trimmed = line.trim_ascii();
    if let Some(md5) = hex_of(trimmed) {
        return Some(Entry { md5, name: None });
    }
    if let Some(rest) = trimmed.strip_prefix(b"MD5 (") {
        // The name may itself contain ") = ", so split at the last one.
        let at = find_last(rest, b") = ")?;
        let md5 = hex_of(rest[at + 4..].trim_ascii())?;
        return Some(Entry { md5, name: Some(OsString::from_vec(rest[..at].to_vec())) });
    }
    gnu_line(line)
}

/// `<hex>  <name>` or `<hex> *<name>`; a leading `\` means the name has `\\` and `\n` escapes.
fn gnu_line(line: &[u8]) -> Option<Entry> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let md5 = hex_of(line.get(..32)?)?;
    let name = match line.get(32..34)? {
        b"  " | b" *" => &line[34..],
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    let name = if escaped { unescape_gnu(name)? } else { name.to_vec() };
    Some(Entry { md5, name: Some(OsString::from_vec(name)) })
}

fn unescape_gnu(name: &[u8]) -> Option<Vec<u8>> {
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

fn hex_of(bytes: &[u8]) -> Option<Md5Hex> {
    Md5Hex::parse(std::str::from_utf8(bytes).ok()?).ok()
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// What the sidecar says about `filename`: the entry that names it (compared by base name, as
/// `md5sum dir/file` writes the path), or the only entry if it is bare hex. `Err` carries the
/// name the sidecar gives instead, for the mismatch message.
pub fn select(entries: &[Entry], filename: &OsStr) -> Result<Md5Hex, OsString> {
    for entry in entries {
        match &entry.name {
            None if entries.len() == 1 => return Ok(entry.md5.clone()),
            Some(name) if base_name(name) == filename.as_bytes() => return Ok(entry.md5.clone()),
            _ => {}
        }
    }
    Err(entries
        .iter()
        .find_map(|e| e.name.clone())
        .unwrap_or_else(|| OsString::from("(several bare digests)")))
}

fn base_name(name: &OsStr) -> &[u8] {
    let bytes = name.as_bytes();
    bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";

    fn one(input: &[u8]) -> Entry {
        let mut entries = parse(input).unwrap();
        assert_eq!(entries.len(), 1);
        entries.remove(0)
    }

    #[test]
    fn hex_any_case() {
        assert_eq!(Md5Hex::parse(&H.to_uppercase()).unwrap().as_str(), H);
        assert!(Md5Hex::parse("d41d8cd98f00b204e9800998ecf8427").is_err());
        assert!(Md5Hex::parse("g41d8cd98f00b204e9800998ecf8427e").is_err());
    }

    #[test]
    fn all_formats() {
        assert_eq!(one(format!("{H}\n").as_bytes()).name, None);
        assert_eq!(one(format!("  {}\r\n", H.to_uppercase()).as_bytes()).md5.as_str(), H);
        assert_eq!(one(format!("{H}  a b.zip\n").as_bytes()).name.unwrap(), "a b.zip");
        assert_eq!(one(format!("{H} *a.zip").as_bytes()).name.unwrap(), "a.zip");
        assert_eq!(one(format!("MD5 (x) = y.zip) = {H}\n").as_bytes()).name.unwrap(), "x) = y.zip");
        assert_eq!(one(format!("\\{H}  a\\nb\\\\c").as_bytes()).name.unwrap(), "a\nb\\c");
        assert_eq!(one(format!("\u{feff}{H}").as_bytes()).md5.as_str(), H);
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(b""), Err(SidecarError::Empty));
        assert_eq!(parse(b"\n \n"), Err(SidecarError::Empty));
        assert_eq!(parse(b"hello"), Err(SidecarError::Malformed { line: 1 }));
        assert_eq!(parse(format!("{H} a.zip").as_bytes()), Err(SidecarError::Malformed { line: 1 }));
        assert_eq!(parse(format!("{H}\nnope").as_bytes()), Err(SidecarError::Malformed { line: 2 }));
        assert_eq!(parse(b"\xff\xfe"), Err(SidecarError::Malformed { line: 1 }));
    }

    #[test]
    fn selects_by_base_name() {
        let entries = parse(format!("{H}  up/a.zip\n{}  b.zip\n", "0".repeat(32)).as_bytes()).unwrap();
        assert_eq!(select(&entries, OsStr::new("a.zip")).unwrap().as_str(), H);
        assert_eq!(select(&entries, OsStr::new("b.zip")).unwrap().as_str(), "0".repeat(32));
        assert_eq!(select(&entries, OsStr::new("c.zip")).unwrap_err(), "up/a.zip");
    }
}
