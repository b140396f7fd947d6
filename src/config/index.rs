//! Where each `[[rule]]` table lies in the config text, kept beside the journal so a run reads
//! only its own customer's rules.
//!
//! A run needs the rules of one CID, but parsing ten thousand rules costs tens of milliseconds,
//! far more than the rest of the run. So the first run after each change of the config parses
//! all of it (a syntax error anywhere stops every run: the file is ambiguous as a whole), notes
//! where each rule's table begins and ends and whose it is, and keeps that note in the journal's
//! directory, keyed by a hash of the config's bytes. Later runs read the note and give the TOML
//! parser only the pieces of the config they need, with where each piece lies in the file, so
//! every line and column in a message is the file's. Both steps use the TOML crates' own
//! parser; nothing here reads TOML by hand.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::regular_file::{self, Links};

use toml::de::{DeTable, DeValue};
use toml_parser::decoder::Encoding;
use toml_parser::lexer::TokenKind;
use toml_parser::parser::EventReceiver;
use toml_parser::{ErrorSink, ParseError, Raw, Source, Span};

/// The first line of every index file; a new layout gets a new version, and old files are
/// then simply rebuilt.
const MAGIC: &str = "ftptrigger config index 1";

/// An index file larger than this is not one of ours.
const MAX_INDEX: u64 = 64 << 20;

/// A stretch of the config: whole lines, from the start of a table's header line to the start
/// of the next header line that is not part of it (or the end of the file).
#[derive(Debug, PartialEq, Eq)]
struct Region {
    /// Whose it is. `None` is read by every run: everything outside the rules, and a rule whose
    /// `cid` is not a plain string (read in full, so its problem is reported).
    owner: Option<String>,
    /// The rule this region is, by its position among all `[[rule]]` tables.
    rule: Option<usize>,
    /// A table of that rule (`[rule.env]`) after other tables, not its `[[rule]]` header.
    more: bool,
    start: usize,
    end: usize,
    /// 1-based line of `start`.
    line: usize,
}

/// The regions of a config, in order; together they are the whole file.
#[derive(Debug, PartialEq, Eq)]
pub struct Index {
    regions: Vec<Region>,
}

/// What a run validates: the config without the rules of other customers, the position in
/// the file of each rule it still holds, and where its pieces are in the file (see
/// `validate::Excerpt`).
pub struct Selection {
    pub text: String,
    pub rules: Vec<usize>,
    pub lines: Vec<(usize, usize)>,
}

/// The hash of the config's bytes an index is valid for (and their length, for good measure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    hash: u128,
    len: usize,
}

impl Key {
    pub fn of(text: &str) -> Key {
        Key { hash: xxhash_rust::xxh3::xxh3_128(text.as_bytes()), len: text.len() }
    }

    fn line(self) -> String {
        format!("key {:032x} {}", self.hash, self.len)
    }
}

impl Index {
    /// Finds the rules of `doc`, the syntax-error-free parse of `text`. `None` when the layout
    /// is not one this can describe by whole tables (rules given inline, `rule = [...]`): the
    /// whole config is then read by every run, which is slower but never wrong.
    pub fn build(text: &str, doc: &DeTable<'_>) -> Option<Index> {
        let cids = rule_cids(doc)?;
        let common = Region { owner: None, rule: None, more: false, start: 0, end: text.len(), line: 1 };
        let mut regions = vec![common];
        let mut rules = 0;
        for header in headers(text)? {
            let last = regions.last_mut()?;
            let (owner, rule, more) = match header.kind {
                HeaderKind::Rule => {
                    rules += 1;
                    (cids.get(rules - 1)?.clone(), Some(rules - 1), false)
                }
                // `[rule.env]` belongs to the last `[[rule]]` so far, whatever came between.
                HeaderKind::InsideRule if rules > 0 => {
                    if last.rule == Some(rules - 1) {
                        continue;
                    }
                    (cids[rules - 1].clone(), Some(rules - 1), true)
                }
                _ if last.rule.is_none() => continue,
                _ => (None, None, false),
            };
            last.end = header.line_start;
            let (start, end, line) = (header.line_start, text.len(), header.line);
            regions.push(Region { owner, rule, more, start, end, line });
        }
        (rules == cids.len()).then_some(Index { regions })
    }

    /// The index file's text: its key, then one line per region, `OWNER RULE START END LINE`,
    /// where OWNER is the CID in hex or `-`, and RULE the rule's number (`+N` for more of rule
    /// N after other tables) or `-`.
    pub fn render(&self, key: Key) -> String {
        let mut out = format!("{MAGIC}\n{}\n", key.line());
        for r in &self.regions {
            let owner = r.owner.as_deref().map_or_else(|| "-".to_owned(), hex::encode);
            let rule =
                r.rule.map_or_else(|| "-".to_owned(), |i| format!("{}{i}", if r.more { "+" } else { "" }));
            out.push_str(&format!("{owner} {rule} {} {} {}\n", r.start, r.end, r.line));
        }
        out
    }
}

/// The regions of `text` a run for `cid` reads, from the index file `stored`, one after the
/// other (each is whole lines, so together they are TOML again; blank lines in place of the
/// rest would cost the parser a token each). `None` when `stored` is not an index of exactly
/// these bytes, or does not hold together: the caller then parses the whole config.
pub fn select(stored: &str, text: &str, cid: &str) -> Option<Selection> {
    let mut entries = stored.lines();
    if entries.next() != Some(MAGIC) || entries.next() != Some(Key::of(text).line().as_str()) {
        return None;
    }
    let wanted = hex::encode(cid);
    let (mut out, mut at_line, mut file_line, mut expected_start) = (String::new(), 1, 1, 0);
    let (mut rules, mut lines) = (Vec::new(), Vec::new());
    for entry in entries {
        let (owner, rest) = entry.split_once(' ')?;
        let mut fields = rest.split(' ');
        let rule = fields.next()?;
        let [start, end, line] = [fields.next()?, fields.next()?, fields.next()?].map(str::parse::<usize>);
        let (start, end, line) = (start.ok()?, end.ok()?, line.ok()?);
        // Regions tile the file in order, each starting a line: anything else is not ours.
        if start != expected_start || !(start == 0 || text.as_bytes().get(start - 1) == Some(&b'\n')) {
            return None;
        }
        expected_start = end;
        if owner != "-" && owner != wanted {
            continue;
        }
        let region = text.get(start..end)?;
        if start != 0 && !region.trim_start_matches([' ', '\t']).starts_with('[') {
            return None;
        }
        if line < file_line {
            return None;
        }
        let newlines = region.bytes().filter(|&b| b == b'\n').count();
        lines.push((at_line, line));
        out.push_str(region);
        (at_line, file_line) = (at_line + newlines, line + newlines);
        if rule != "-" && !rule.starts_with('+') {
            rules.push(rule.parse().ok()?);
        }
    }
    (expected_start == text.len()).then_some(Selection { text: out, rules, lines })
}

/// Where the index of the config at `config` is kept: in `dir`, the journal's directory,
/// named by a hash of the config's path, so configs that share a journal keep apart.
pub fn file_for(dir: &Path, config: &Path) -> PathBuf {
    let config = config.canonicalize().unwrap_or_else(|_| config.to_owned());
    let name = xxhash_rust::xxh3::xxh3_64(config.as_os_str().as_encoded_bytes());
    dir.join("config-index").join(format!("{name:016x}"))
}

/// Reads an index file, if there is one this user may trust: a regular file (not a symlink)
/// owned by this user and writable by no one else, as the journal beside it is.
pub fn read(path: &Path) -> Option<String> {
    let (bytes, meta) = regular_file::read(path, Links::Refuse, MAX_INDEX).ok()?;
    let euid = rustix::process::geteuid().as_raw();
    (meta.uid() == euid && meta.mode() & 0o022 == 0).then(|| String::from_utf8(bytes).ok())?
}

/// Writes an index file whole, or not at all (a temporary file renamed over it), only where
/// the journal's directory already exists and is this user's: a run must not create
/// directories before the journal's own checks have passed, nor leave files another account
/// must use. Failure only costs the next run time.
pub fn write(path: &Path, text: &str) {
    let Some(dir) = path.parent() else { return };
    let euid = rustix::process::geteuid().as_raw();
    if !dir
        .parent()
        .and_then(|journal| journal.metadata().ok())
        .is_some_and(|m| m.is_dir() && m.uid() == euid)
    {
        return;
    }
    let _ = DirBuilder::new().mode(0o700).create(dir);
    let temp = dir.join(format!(".{}.tmp", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f: File| f.write_all(text.as_bytes()));
    if written.and_then(|()| std::fs::rename(&temp, path)).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// The text before the first array-of-tables header (`[[rule]]`), found by the TOML lexer: the
/// part of a config where `[journal]` is, which a run must read to know where the index is
/// kept. A cut in the wrong place (a line of an array value that starts with `[[`) only makes
/// that text fail to parse, and the run reads the whole config.
pub fn head(text: &str) -> &str {
    let mut line_start = Some(0);
    let mut bracket = false;
    for token in Source::new(text).lex() {
        match token.kind() {
            TokenKind::Newline => {
                line_start = Some(token.span().end());
                bracket = false;
            }
            TokenKind::Whitespace if !bracket => {}
            TokenKind::LeftSquareBracket if line_start.is_some() => {
                if bracket {
                    return &text[..line_start.unwrap_or(0)];
                }
                bracket = true;
            }
            _ => line_start = None,
        }
    }
    text
}

/// The `cid` of each `[[rule]]`, in order: `None` for one that is missing or not a string.
fn rule_cids(doc: &DeTable<'_>) -> Option<Vec<Option<String>>> {
    let Some(rules) = doc.get("rule") else { return Some(Vec::new()) };
    let DeValue::Array(items) = rules.get_ref() else { return None };
    let cid = |item: &toml::Spanned<DeValue<'_>>| {
        let table = item.get_ref().as_table()?;
        table.get("cid")?.get_ref().as_str().map(str::to_owned)
    };
    Some(items.iter().map(cid).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderKind {
    /// `[[rule]]`: a new rule.
    Rule,
    /// `[rule.env]`, `[[rule.x]]`: a table of the rule above.
    InsideRule,
    Other,
}

#[derive(Debug)]
struct Header {
    kind: HeaderKind,
    /// Offset of the start of the header's line.
    line_start: usize,
    line: usize,
}

/// Every table header of `text`, in order, from the TOML parser's events.
fn headers(text: &str) -> Option<Vec<Header>> {
    let source = Source::new(text);
    let tokens: Vec<_> = source.lex().collect();
    let mut receiver = Headers { text, open: None, found: Vec::new() };
    let mut errors: Vec<ParseError> = Vec::new();
    toml_parser::parser::parse_document(&tokens, &mut receiver, &mut errors);
    if !errors.is_empty() {
        return None;
    }
    let (mut line, mut counted) = (1, 0);
    let mut headers = Vec::with_capacity(receiver.found.len());
    for open in receiver.found {
        let line_start = text[..open.start].rfind('\n').map_or(0, |i| i + 1);
        // Only blanks may come before a header on its line.
        if !text[line_start..open.start].bytes().all(|b| b == b' ' || b == b'\t') {
            return None;
        }
        line += text.as_bytes()[counted..line_start].iter().filter(|&&b| b == b'\n').count();
        counted = line_start;
        let kind = match (open.first_key.as_deref(), open.keys, open.array) {
            (Some("rule"), 1, true) => HeaderKind::Rule,
            (Some("rule"), 2.., _) => HeaderKind::InsideRule,
            _ => HeaderKind::Other,
        };
        headers.push(Header { kind, line_start, line });
    }
    Some(headers)
}

/// A header as the events describe it.
struct OpenHeader {
    start: usize,
    array: bool,
    first_key: Option<String>,
    keys: usize,
}

struct Headers<'s> {
    text: &'s str,
    open: Option<OpenHeader>,
    found: Vec<OpenHeader>,
}

impl Headers<'_> {
    fn open(&mut self, span: Span, array: bool) {
        self.open = Some(OpenHeader { start: span.start(), array, first_key: None, keys: 0 });
    }

    fn close(&mut self) {
        self.found.extend(self.open.take());
    }
}

impl EventReceiver for Headers<'_> {
    fn std_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.open(span, false);
    }

    fn array_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.open(span, true);
    }

    fn std_table_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.close();
    }

    fn array_table_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.close();
    }

    fn simple_key(&mut self, span: Span, kind: Option<Encoding>, error: &mut dyn ErrorSink) {
        let Some(open) = self.open.as_mut() else { return };
        open.keys += 1;
        if open.keys == 1 {
            let text = self.text.get(span.start()..span.end()).unwrap_or_default();
            let raw = Raw::new_unchecked(text, kind, span);
            let mut key = String::new();
            raw.decode_key(&mut key, error);
            open.first_key = Some(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Option<Index> {
        let (doc, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty(), "{errors:?}");
        Index::build(text, doc.get_ref())
    }

    fn selected(text: &str, cid: &str) -> Selection {
        let key = Key::of(text);
        select(&index(text).expect("an index").render(key), text, cid).expect("a selection")
    }

    const CONFIG: &str = "[journal]\npath = \"j.db\"\n\n[[rule]]\ncid = \"a\"\n  [rule.env]\n  X = \"1\"\n\n\
                          [[ \"rule\" ]] # bob's\ncid = 'b'\n\n[channel.m]\ntype = \"email\"\n\n[[rule]]\ncid = \"a\"\n";

    /// The file's line number of each line of `s.text`.
    fn file_lines(s: &Selection) -> Vec<usize> {
        (1..=s.text.lines().count())
            .map(|n| {
                let &(first, in_file) = s.lines.iter().rev().find(|(first, _)| *first <= n).unwrap();
                in_file + n - first
            })
            .collect()
    }

    #[test]
    fn a_run_reads_its_own_rules_and_the_rest_and_knows_their_lines() {
        let original: Vec<&str> = CONFIG.lines().collect();
        let s = selected(CONFIG, "a");
        assert_eq!(s.rules, [0, 2]);
        for (line, n) in s.text.lines().zip(file_lines(&s)) {
            assert_eq!(line, original[n - 1], "line {n}");
        }
        assert!(!s.text.contains("'b'"));
        assert!(s.text.contains("X = \"1\"") && s.text.contains("[channel.m]"));
        let b = selected(CONFIG, "b");
        assert_eq!(b.rules, [1]);
        assert!(!b.text.contains("X = ") && b.text.contains("cid = 'b'"));
        assert_eq!(file_lines(&b).len(), b.text.lines().count());
    }

    #[test]
    fn a_rule_without_a_plain_cid_is_read_by_every_run() {
        let text = "[[rule]]\ncid = 1\n[[rule]]\nname = \"x\"\n[[rule]]\ncid = \"a\"\n";
        assert_eq!(selected(text, "z").rules, [0, 1]);
    }

    #[test]
    fn an_index_of_other_bytes_or_a_region_that_does_not_start_a_header_is_refused() {
        let key = Key::of(CONFIG);
        let stored = index(CONFIG).unwrap().render(key);
        let changed = CONFIG.replace("j.db", "k.db");
        assert!(select(&stored, &changed, "a").is_none());
        let shifted = stored.replacen(" 25 ", " 26 ", 2);
        assert_ne!(shifted, stored);
        assert!(select(&shifted, CONFIG, "a").is_none());
    }

    #[test]
    fn inline_rules_have_no_index() {
        assert!(index("rule = [{ cid = \"a\" }]\n").is_none());
    }

    #[test]
    fn the_head_ends_before_the_first_array_of_tables() {
        assert_eq!(head(CONFIG), "[journal]\npath = \"j.db\"\n\n");
        let tricky = "a = \"\"\"\n[[rule]]\"\"\"\nb = [\n  [1]]\n  [[x]]\n";
        assert_eq!(head(tricky), "a = \"\"\"\n[[rule]]\"\"\"\nb = [\n  [1]]\n");
    }
}
