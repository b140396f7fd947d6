//! Safe rendering of names that come from outside (uploaded file names, argv) for terminals,
//! logs and messages.
//!
//! A customer chooses the file name, so it may hold newlines, escape sequences or bytes that are
//! not UTF-8. The job always gets the exact bytes; people get an escaped, unambiguous form.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

/// The name with control characters and invalid UTF-8 escaped (`\n`, `\x1b`, `\xff`), so one
/// name always prints as one line and cannot drive the terminal.
pub fn escape(name: &OsStr) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// [`escape`] for a `str`.
pub fn escape_str(name: &str) -> String {
    escape(OsStr::new(name))
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => out.push(c),
    }
}

/// The argument quoted for a POSIX shell, so a printed argv can be pasted back and runs the
/// same thing: plain words stay bare, others are single-quoted, and anything with control
/// characters or invalid UTF-8 uses bash's `$'…'` form.
pub fn shell_quote(arg: &OsStr) -> String {
    let bytes = arg.as_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let needs_ansi = std::str::from_utf8(bytes).map_or(true, |s| s.chars().any(char::is_control));
    if needs_ansi {
        format!("$'{}'", escape(arg).replace('\'', "\\'"))
    } else {
        format!("'{}'", String::from_utf8_lossy(bytes).replace('\'', r"'\''"))
    }
}

/// A whole argv, each argument quoted with [`shell_quote`].
pub fn shell_join<S: AsRef<OsStr>>(argv: &[S]) -> String {
    argv.iter().map(|a| shell_quote(a.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Rows under a header, columns padded to line up, separated by two spaces. When `width` is
/// known, column `shrink` gives way (cut with `…`) so lines fit.
pub fn table<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    shrink: usize,
    width: Option<usize>,
) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if let Some(total) = width {
        let others: usize = widths.iter().enumerate().filter(|(i, _)| *i != shrink).map(|(_, w)| w + 2).sum();
        widths[shrink] = widths[shrink].min(total.saturating_sub(others).max(8));
    }
    let mut out = String::new();
    for cells in std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned()) {
        let line: Vec<String> = cells.iter().zip(widths).map(|(c, w)| fit(c, w)).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// Pads or cuts `cell` to exactly `width` characters; a cut ends in `…`.
fn fit(cell: &str, width: usize) -> String {
    let len = cell.chars().count();
    if len <= width {
        format!("{cell}{}", " ".repeat(width - len))
    } else {
        let cut: String = cell.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn escapes_control_and_invalid_bytes() {
        let name = OsString::from_vec(b"a\nb\x1b[31m\xff.zip".to_vec());
        assert_eq!(escape(&name), "a\\nb\\x1b[31m\\xff.zip");
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote(OsStr::new("/opt/job")), "/opt/job");
        assert_eq!(shell_quote(OsStr::new("a b")), "'a b'");
        assert_eq!(shell_quote(OsStr::new("it's")), r"'it'\''s'");
        assert_eq!(shell_quote(OsStr::new("$(rm -rf /)")), "'$(rm -rf /)'");
        assert_eq!(shell_quote(OsStr::new("a\nb")), "$'a\\nb'");
        assert_eq!(shell_quote(OsStr::new("")), "''");
    }
}
