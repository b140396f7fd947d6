//! Config problems with their place in the file: `PATH:LINE:COL: field: message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub field: String,
    pub message: String,
    pub severity: Severity,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warning = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {}: {warning}{}",
            self.path.display(),
            self.line,
            self.col,
            self.field,
            self.message
        )
    }
}

/// Collects diagnostics for one file, turning byte offsets into 1-based line and column.
pub struct Diagnostics<'a> {
    path: &'a Path,
    text: &'a str,
    /// Byte offset of the start of each line, so a position is a binary search away (a
    /// config of ten thousand rules asks for thousands of them). Built on first use: a run
    /// of a valid config may never ask.
    line_starts: std::cell::OnceCell<Vec<usize>>,
    /// When `text` is an excerpt of the file: for each of its pieces, the piece's first line in
    /// `text` and that line's number in the file, in order. Empty: `text` is the whole file.
    lines: &'a [(usize, usize)],
    pub found: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Diagnostics::of_excerpt(path, text, &[])
    }

    /// Diagnostics for `text`, pieces of the file at `path` placed as `lines` says.
    pub fn of_excerpt(path: &'a Path, text: &'a str, lines: &'a [(usize, usize)]) -> Self {
        Diagnostics { path, text, line_starts: std::cell::OnceCell::new(), lines, found: Vec::new() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let starts = self.line_starts.get_or_init(|| {
            let newlines = self.text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1);
            std::iter::once(0).chain(newlines).collect()
        });
        let line = starts.partition_point(|&start| start <= offset);
        let start = starts[line - 1];
        let col = self.text.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        let piece = self.lines.partition_point(|&(first, _)| first <= line);
        match piece.checked_sub(1).map(|i| self.lines[i]) {
            Some((first, in_file)) => (in_file + line - first, col),
            None => (line, col),
        }
    }

    pub fn error(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        self.push(span, field.into(), message.into(), Severity::Error);
    }

    pub fn warning(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        self.push(span, field.into(), message.into(), Severity::Warning);
    }

    fn push(&mut self, span: Range<usize>, field: String, message: String, severity: Severity) {
        let (line, col) = self.position(span.start);
        self.found.push(Diagnostic { path: self.path.to_owned(), line, col, field, message, severity });
    }

    /// Records a serde error from deserializing the value `section` (named `name`), naming the
    /// innermost field that holds the error's position.
    pub fn serde(&mut self, err: &toml::de::Error, name: &str, section: &Spanned<DeValue<'_>>) {
        let span = err.span().unwrap_or_else(|| section.span());
        let field = field_at(name, section, &span);
        let message = err.message().trim_end().replace('\n', " ");
        let message = match did_you_mean(&message) {
            Some(key) => format!("{message}; did you mean `{key}`?"),
            None => message,
        };
        self.error(span, field, message);
    }

    pub fn has_errors(&self) -> bool {
        self.found.iter().any(|d| d.severity == Severity::Error)
    }
}

/// For serde's "unknown field `timout`, expected one of `a`, `timeout`, ...": the expected key
/// closest to the unknown one, when it is close enough to be a typo.
fn did_you_mean(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once("`, expected ")?;
    let known = expected.split('`').skip(1).step_by(2);
    known
        .map(|key| (strsim::damerau_levenshtein(unknown, key), key))
        .filter(|&(distance, key)| distance <= 2.max(key.len() / 4))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, key)| key)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The dotted path (`rule[2].command[0]`) of the deepest key or element whose key or value
/// contains `span`, starting from a value called `name`.
fn field_at(name: &str, value: &Spanned<DeValue<'_>>, span: &Range<usize>) -> String {
    let inside = |s: Range<usize>| s.start <= span.start && span.start < s.end.max(s.start + 1);
    match value.get_ref() {
        DeValue::Table(table) => {
            let hit = table.iter().find(|(k, v)| inside(k.span()) || inside(v.span()));
            if let Some((key, child)) = hit {
                return field_at(&format!("{name}.{}", key.get_ref()), child, span);
            }
        }
        DeValue::Array(items) => {
            if let Some((i, child)) = items.iter().enumerate().find(|(_, v)| inside(v.span())) {
                return field_at(&format!("{name}[{i}]"), child, span);
            }
        }
        _ => {}
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_agrees_with_line_col() {
        let text = "a = 1\nbé = 2\n\nc";
        let d = Diagnostics::new(Path::new("x"), text);
        for offset in 0..=text.len() + 2 {
            if text.is_char_boundary(offset.min(text.len())) {
                assert_eq!(d.position(offset), line_col(text, offset), "offset {offset}");
            }
        }
    }

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }
}
