//! A quick look at the config text before it is parsed as TOML, for a run.
//!
//! A run needs the rules of one CID. Parsing the ten thousand rules of other customers into a
//! TOML tree costs far more than the rest of the run, so [`keep_cid`] leaves out the rules that
//! are plainly someone else's before the parser sees them. It is a small lexer over bytes: it
//! knows strings, comments and bracket depth well enough to find every table header, and it
//! gives up (the original text is parsed) as soon as anything is not plain.

use std::ops::Range;

/// A config text without the rules of other customers.
#[derive(Debug)]
pub struct Reduced {
    /// Each run of rules left out is replaced by one stand-in rule of as many lines,
    /// `[[rule]]` and `cid = '''...'''` (a CID of newlines, which no run has): every other
    /// line is where it was, as it was, so every line and column in a message is the one in the
    /// original, and the parser reads one small table where there were thousands.
    pub text: String,
    /// For each `[[rule]]` in `text`, in order, its index among all the rules of the original:
    /// `rule[N]` in a message names the rule it names in the original.
    pub rules: Vec<usize>,
}

/// The text without the `[[rule]]` tables that plainly belong to another CID, or `None` when
/// the original should be parsed: nothing to leave out, or anything the scan is unsure of.
pub fn keep_cid(text: &str, cid: &str) -> Option<Reduced> {
    // A stand-in's CID is empty or newlines: a run for such a CID (which no rule may have)
    // reads the original.
    if cid.is_empty() || cid.contains('\n') {
        return None;
    }
    let Survey { runs, kept } = survey(text.as_bytes(), cid.as_bytes())?;
    if runs.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() - runs.iter().map(|r| r.range.len()).sum::<usize>());
    let mut rules = Vec::with_capacity(kept.len() + runs.len());
    let (mut at, mut before) = (0, 0);
    for run in &runs {
        out.push_str(&text[at..run.range.start]);
        rules.extend_from_slice(&kept[before..run.kept_before]);
        let lines = newlines(&text.as_bytes()[run.range.clone()]);
        if lines >= 2 {
            out.push_str("[[rule]]\ncid = '''");
            out.extend(std::iter::repeat_n('\n', lines - 2));
            out.push_str("'''\n");
            rules.push(run.first);
        } else {
            // The last rule, `[[rule]]` and its `cid` line without a newline: nothing follows.
            out.extend(std::iter::repeat_n('\n', lines));
        }
        (at, before) = (run.range.end, run.kept_before);
    }
    out.push_str(&text[at..]);
    rules.extend_from_slice(&kept[before..]);
    Some(Reduced { text: out, rules })
}

fn newlines(bytes: &[u8]) -> usize {
    // Counted in bytes, 255 at a time, which the compiler turns into wide compares.
    let count = |chunk: &[u8]| chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'));
    bytes.chunks(255).map(|chunk| usize::from(count(chunk))).sum()
}

/// The `[[rule]]` being read: from the start of its header line to the start of the next
/// header that is not one of its own sub-tables (`[rule.env]`, `[[rule.x]]`), or the end.
#[derive(Default)]
struct Block<'a> {
    /// Its index among all rules.
    index: usize,
    start: usize,
    /// Still in the rule's own keys: no sub-table header yet.
    own_keys: bool,
    /// The value of its line `cid = "VALUE"`, as written (no escapes).
    cid: Option<&'a [u8]>,
    /// The first key of each of its own keys, and whether that was the whole key.
    own: Vec<(&'a [u8], bool)>,
    /// The same for the keys of the sub-table being read.
    sub: Vec<(&'a [u8], bool)>,
    /// The sub-tables so far (`env` of `[rule.env]`, as written), and whether each is `[[...]]`.
    tables: Vec<(&'a [u8], bool)>,
    /// A key that may be `cid` but is not written plainly (`"cid"`, `cid.x`, an escape), or a
    /// key or table defined twice: the rule is kept, so the parser reports what it finds.
    unsure: bool,
}

impl<'a> Block<'a> {
    /// Starts reading another rule, reusing the lists.
    fn reset(&mut self, index: usize, start: usize) {
        (self.index, self.start, self.own_keys, self.cid, self.unsure) = (index, start, true, None, false);
        self.own.clear();
        self.sub.clear();
        self.tables.clear();
    }

    /// Whether it plainly belongs to another CID.
    fn foreign(&self, cid: &[u8]) -> bool {
        !self.unsure && self.cid.is_some_and(|value| value != cid)
    }

    /// Notes a line `key = ...` of the rule or of its sub-table.
    fn key_line(&mut self, b: &'a [u8], key: &KeyPath<'a>) {
        let single = key.parts == 1;
        let keys = if self.own_keys { &mut self.own } else { &mut self.sub };
        if key.first.escaped || keys.iter().any(|&(k, s)| (s || single) && same(k, key.first.text)) {
            self.unsure = true;
        }
        keys.push((key.first.text, single));
        if !self.own_keys || !same(key.first.text, b"cid") {
            return;
        }
        match cid_value(b, key.end + 1) {
            Some(value) if single && !key.first.quoted && self.cid.is_none() => self.cid = Some(value),
            _ => self.unsure = true,
        }
    }

    /// Notes a header `[rule.x]` or `[[rule.x]]` of one of its sub-tables.
    fn sub_table(&mut self, key: &KeyPath<'a>, array: bool) {
        self.own_keys = false;
        self.sub.clear();
        let Some(second) = &key.second else { return };
        // `[rule.env]` after `env = ...`, or twice.
        if key.escaped
            || self.own.iter().any(|&(k, _)| same(k, second.text))
            || self.tables.iter().any(|&(t, a)| !(a && array) && same_path(t, key.text))
        {
            self.unsure = true;
        }
        self.tables.push((key.text, array));
    }
}

/// What a table header names.
enum Header<'a> {
    /// `[[rule]]`.
    Rule,
    /// `[rule.x]` or `[[rule.x]]`: part of the rule above.
    RuleSub(KeyPath<'a>, bool),
    /// Any other table.
    Other,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

/// The bytes that matter outside strings: everything else is skipped in one go.
const SPECIAL: [bool; 256] = any_of(b"\n#\"'[]{}");
/// The bytes that matter in a one-line basic string.
const IN_BASIC: [bool; 256] = any_of(b"\"\\\n\r");
/// The bytes of a bare key.
const BARE: [bool; 256] = any_of(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

const fn any_of(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// Whether two short byte strings are equal, without a call to `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// What a survey finds: the rules of other CIDs, and the rules kept.
struct Survey {
    /// Rules of other CIDs, one after the other.
    runs: Vec<Run>,
    /// The index of each rule kept.
    kept: Vec<usize>,
}

/// Rules of other CIDs, one after the other.
struct Run {
    range: Range<usize>,
    /// The index of the first.
    first: usize,
    /// How many rules are kept before it.
    kept_before: usize,
}

/// Finds the rules of other CIDs; `None` when anything is unclear: an unterminated string,
/// unbalanced brackets, a line that is neither a header nor `key = ...`, a `[rule]` table or a
/// top-level `rule` key, a header the scan cannot read, a rule sub-table away from its rule.
fn survey(b: &[u8], cid: &[u8]) -> Option<Survey> {
    let (mut runs, mut kept) = (Vec::<Run>::new(), Vec::new());
    let mut block = Block::default();
    let (mut in_block, mut rules, mut top_level) = (false, 0, true);
    let mut close = |block: &Block<'_>, in_block: &mut bool, end: usize| {
        if !std::mem::take(in_block) {
            return;
        }
        if !block.foreign(cid) {
            kept.push(block.index);
            return;
        }
        match runs.last_mut() {
            Some(run) if run.range.end == block.start => run.range.end = end,
            _ => runs.push(Run { range: block.start..end, first: block.index, kept_before: kept.len() }),
        }
    };
    let mut pos = if b.starts_with(BOM) { BOM.len() } else { 0 };
    // Brackets and braces open in values: a line starts a key or a header only outside them.
    let mut depth = 0usize;
    let mut line_start = true;
    while pos < b.len() {
        if line_start {
            line_start = false;
            let start = pos;
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b'[') => {
                    let (header, end) = header(b, pos)?;
                    top_level = false;
                    match header {
                        Header::Rule => {
                            close(&block, &mut in_block, start);
                            block.reset(rules, start);
                            (in_block, rules) = (true, rules + 1);
                        }
                        Header::RuleSub(key, array) if in_block => block.sub_table(&key, array),
                        Header::RuleSub(..) => return None,
                        Header::Other => close(&block, &mut in_block, start),
                    }
                    pos = end;
                    line_start = true;
                    continue;
                }
                None | Some(b'\n' | b'\r' | b'#') => {}
                Some(_) => {
                    let key = key_path(b, pos)?;
                    if b.get(key.end) != Some(&b'=')
                        || (top_level && (key.first.escaped || same(key.first.text, b"rule")))
                    {
                        return None;
                    }
                    if in_block {
                        block.key_line(b, &key);
                    }
                    pos = key.end + 1;
                }
            }
            continue;
        }
        match b[pos] {
            b'\n' => {
                pos += 1;
                line_start = depth == 0;
            }
            b'#' => pos = line_end(b, pos),
            b'"' => pos = basic_string(b, pos)?,
            b'\'' => pos = literal_string(b, pos)?,
            b'[' | b'{' => {
                depth += 1;
                pos += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                pos += 1;
            }
            _ => {
                pos += 1 + b[pos + 1..]
                    .iter()
                    .position(|&c| SPECIAL[usize::from(c)])
                    .unwrap_or(b.len() - pos - 1)
            }
        }
    }
    if depth != 0 {
        return None;
    }
    close(&block, &mut in_block, b.len());
    Some(Survey { runs, kept })
}

/// After `cid =`: a one-line string without escapes, then at most a comment. The value as
/// written.
fn cid_value(b: &[u8], at: usize) -> Option<&[u8]> {
    let p = skip_ws(b, at);
    let quote = *b.get(p)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let len = b[p + 1..].iter().position(|&c| c == quote || c == b'\\' || is_control(c))?;
    let (value, close) = (&b[p + 1..p + 1 + len], p + 1 + len);
    if b[close] != quote || (value.is_empty() && b.get(close + 1) == Some(&quote)) {
        // An escape, a control character, or a multi-line string.
        return None;
    }
    after_comment(b, skip_ws(b, close + 1)).map(|_| value)
}

/// What TOML does not allow unescaped in a string (tab is allowed).
fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// A table header starting at `at` (its `[`): what it names, and the position just past its
/// line. `None` for anything but a plain header followed by at most a comment.
fn header(b: &[u8], at: usize) -> Option<(Header<'_>, usize)> {
    let array = b.get(at + 1) == Some(&b'[');
    let key = key_path(b, at + 1 + usize::from(array))?;
    let close: &[u8] = if array { b"]]" } else { b"]" };
    if !b[key.end..].starts_with(close) || key.first.escaped {
        return None;
    }
    let end = after_comment(b, skip_ws(b, key.end + close.len()))?;
    let header = match (same(key.first.text, b"rule"), key.parts, array) {
        (true, 1, true) => Header::Rule,
        (true, 1, false) => return None,
        (true, _, _) => Header::RuleSub(key, array),
        (false, _, _) => Header::Other,
    };
    Some((header, end))
}

/// One key of a dotted key: as written between its quotes, if any.
struct Key<'a> {
    text: &'a [u8],
    quoted: bool,
    /// A basic string with a `\`: what it means is not what is written.
    escaped: bool,
}

/// A dotted key, with spaces around it.
struct KeyPath<'a> {
    /// All of it as written, without the spaces around it.
    text: &'a [u8],
    first: Key<'a>,
    second: Option<Key<'a>>,
    /// How many keys.
    parts: usize,
    /// Any of them is a basic string with an escape.
    escaped: bool,
    /// Just past it and the spaces after it.
    end: usize,
}

// Inlined, as `simple_key` and `skip_ws`: they run on every line, and as calls they cost a
// third of the scan.
#[inline(always)]
fn key_path(b: &[u8], at: usize) -> Option<KeyPath<'_>> {
    let start = skip_ws(b, at);
    let (first, mut last) = simple_key(b, start)?;
    let (mut second, mut parts, mut escaped) = (None, 1, first.escaped);
    let mut p = skip_ws(b, last);
    while b.get(p) == Some(&b'.') {
        let (key, end) = simple_key(b, skip_ws(b, p + 1))?;
        escaped |= key.escaped;
        second = second.or(Some(key));
        (last, p, parts) = (end, skip_ws(b, end), parts + 1);
    }
    Some(KeyPath { text: &b[start..last], first, second, parts, escaped, end: p })
}

/// Whether two dotted keys, as written, name the same table (`rule.env`, `rule . "env"`).
fn same_path(a: &[u8], b: &[u8]) -> bool {
    fn keys(text: &[u8]) -> impl Iterator<Item = &[u8]> {
        let mut p = 0;
        std::iter::from_fn(move || {
            let (key, end) = simple_key(text, p)?;
            p = skip_ws(text, end);
            p = if text.get(p) == Some(&b'.') { skip_ws(text, p + 1) } else { text.len() };
            Some(key.text)
        })
    }
    keys(a).eq(keys(b))
}

/// A bare or quoted key at `at`, and the position just past it.
#[inline(always)]
fn simple_key(b: &[u8], at: usize) -> Option<(Key<'_>, usize)> {
    match *b.get(at)? {
        quote @ (b'"' | b'\'') => {
            if b.get(at + 1..at + 3) == Some(&[quote, quote][..]) {
                return None; // a multi-line string is no key
            }
            let end = if quote == b'"' { basic_string(b, at)? } else { literal_string(b, at)? };
            let text = &b[at + 1..end - 1];
            let escaped = quote == b'"' && text.contains(&b'\\');
            Some((Key { text, quoted: true, escaped }, end))
        }
        _ => {
            let len = b[at..].iter().position(|&c| !BARE[usize::from(c)]).unwrap_or(b.len() - at);
            (len > 0).then(|| (Key { text: &b[at..at + len], quoted: false, escaped: false }, at + len))
        }
    }
}

/// Just past the line, if what is left of it at `at` is at most a comment.
fn after_comment(b: &[u8], at: usize) -> Option<usize> {
    let p = if b.get(at) == Some(&b'#') { line_end(b, at) } else { at };
    match b.get(p) {
        None => Some(p),
        Some(b'\n') => Some(p + 1),
        Some(b'\r') if b.get(p + 1) == Some(&b'\n') => Some(p + 2),
        _ => None,
    }
}

#[inline(always)]
fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while matches!(b.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// The position of the newline that ends the line holding `at`, or the end.
fn line_end(b: &[u8], at: usize) -> usize {
    b[at..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i)
}

/// Just past the basic string (`"..."` or `"""..."""`) that starts at `at`.
fn basic_string(b: &[u8], at: usize) -> Option<usize> {
    if triple(b, at) {
        let mut p = at + 3;
        loop {
            match *b.get(p)? {
                b'\\' => p += 2,
                b'"' => {
                    let run = quotes(b, p, b'"');
                    p += run;
                    if run >= 3 {
                        // Up to two quotes may end the content, just before the closing three.
                        return (run <= 5).then_some(p);
                    }
                }
                _ => p += 1,
            }
        }
    }
    let mut p = at + 1;
    loop {
        p += b[p..].iter().position(|&c| IN_BASIC[usize::from(c)])?;
        match b[p] {
            b'"' => return Some(p + 1),
            b'\\' if !matches!(b.get(p + 1), Some(b'\n' | b'\r') | None) => p += 2,
            _ => return None,
        }
    }
}

/// Just past the literal string (`'...'` or `'''...'''`) that starts at `at`.
fn literal_string(b: &[u8], at: usize) -> Option<usize> {
    if triple(b, at) {
        let mut p = at + 3;
        loop {
            if *b.get(p)? == b'\'' {
                let run = quotes(b, p, b'\'');
                p += run;
                if run >= 3 {
                    return (run <= 5).then_some(p);
                }
            } else {
                p += 1;
            }
        }
    }
    let len = b[at + 1..].iter().position(|&c| c == b'\'' || c == b'\n' || c == b'\r')?;
    (b[at + 1 + len] == b'\'').then_some(at + len + 2)
}

/// Whether the quote at `at` opens a multi-line string.
fn triple(b: &[u8], at: usize) -> bool {
    b.get(at + 1) == Some(&b[at]) && b.get(at + 2) == Some(&b[at])
}

/// How many `quote`s in a row start at `at`.
fn quotes(b: &[u8], at: usize, quote: u8) -> usize {
    b[at..].iter().take_while(|c| **c == quote).count()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::super::{Diagnostic, Scope, validate::validate};
    use super::{Reduced, keep_cid};
    use crate::template::Template;

    /// What a run sees of a config: every field of its rules, or every problem.
    type Seen = Result<(Vec<RuleSeen>, Vec<Diagnostic>), Vec<Diagnostic>>;

    #[derive(Debug, PartialEq)]
    struct RuleSeen {
        name: String,
        line: usize,
        cid: String,
        matcher: String,
        root: PathBuf,
        program: std::ffi::OsString,
        args: Vec<Template>,
        env: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        timeout: Duration,
        notify: Vec<String>,
    }

    const PATH: &str = "/nonexistent/ftpscanner.cfg";

    fn seen_numbered(text: &str, cid: &str, numbers: Option<&[usize]>) -> Seen {
        let config = validate(Path::new(PATH), text, Scope::Cid(cid), numbers)?;
        let rules = config
            .rules
            .iter()
            .map(|r| RuleSeen {
                name: r.name.clone(),
                line: r.line,
                cid: r.cid.clone(),
                matcher: r.matcher.describe(),
                root: r.root.clone(),
                program: r.program.clone(),
                args: r.args.clone(),
                env: r.env.clone().into_iter().collect(),
                tags: r.tags.clone().into_iter().collect(),
                timeout: r.settings.timeout,
                notify: r.settings.notify.clone(),
            })
            .collect();
        Ok((rules, config.warnings))
    }

    /// What a run of `cid` sees of the original.
    fn seen(text: &str, cid: &str) -> Seen {
        seen_numbered(text, cid, None)
    }

    /// What a run of `lines` lines left out becomes.
    fn stand_in(lines: usize) -> String {
        format!("[[rule]]\ncid = '''{}'''\n", "\n".repeat(lines - 2))
    }

    /// Every line where it was: as it was, or part of a stand-in.
    fn assert_same_lines(original: &str, reduced: &Reduced) {
        let split = |t: &str| t.split('\n').map(str::to_owned).collect::<Vec<_>>();
        let (before, after) = (split(original), split(&reduced.text));
        assert_eq!(before.len(), after.len(), "{original}\n--- reduced:\n{}", reduced.text);
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            // A byte order mark stays where it was, at the start.
            let stand_in = ["", "[[rule]]", "cid = '''", "'''", "cid = ''''''"].contains(&a.as_str());
            assert!(a == b || stand_in || (i == 0 && a == "\u{feff}"), "line {}: {b:?} became {a:?}", i + 1);
        }
        assert!(reduced.rules.windows(2).all(|w| w[0] < w[1]), "{:?}", reduced.rules);
    }

    /// `keep_cid` declines, or leaves out nothing a run of `cid` would see.
    fn check(text: &str, cid: &str) -> Option<String> {
        let reduced = keep_cid(text, cid)?;
        assert_same_lines(text, &reduced);
        assert_eq!(
            seen_numbered(&reduced.text, cid, Some(&reduced.rules)),
            seen(text, cid),
            "for {cid:?}:\n{text}\n--- reduced:\n{}",
            reduced.text
        );
        Some(reduced.text)
    }

    /// The same, when something must be left out.
    fn reduce(text: &str, cid: &str) -> String {
        check(text, cid).unwrap_or_else(|| panic!("nothing left out for {cid:?} in\n{text}"))
    }

    fn rule(cid: &str, name: &str) -> String {
        format!(
            "[[rule]]\nname = \"{name}\"\ncid = \"{cid}\"\npattern = \"*.dat\"\nroot = \"ftp\"\ncommand = [\"/bin/true\", \"{{file}}\"]\n"
        )
    }

    #[test]
    fn leaves_out_another_customers_rules_for_a_stand_in_of_as_many_lines() {
        let (a, b) = (rule("a", "one"), rule("b", "two"));
        let text = format!("[journal]\npath = \"j.db\"\n\n{a}\n{b}");
        let reduced = keep_cid(&text, "a").unwrap();
        assert_eq!(reduced.text, format!("[journal]\npath = \"j.db\"\n\n{a}\n{}", stand_in(6)));
        assert_eq!(reduced.rules, [0, 1]);
        let reduced = keep_cid(&text, "b").unwrap();
        assert_eq!(reduced.text, format!("[journal]\npath = \"j.db\"\n\n{}{b}", stand_in(7)));
        assert_eq!(reduced.rules, [0, 1]);
        // Both are another customer's: one stand-in.
        let reduced = keep_cid(&text, "c").unwrap();
        assert_eq!(reduced.text, format!("[journal]\npath = \"j.db\"\n\n{}", stand_in(13)));
        assert_eq!(reduced.rules, [0]);
        // Runs between kept rules.
        let cids = ["b", "b", "a", "b", "c", "a", "b"];
        let rules = cids.iter().enumerate().map(|(i, cid)| rule(cid, &format!("r{i}"))).collect::<Vec<_>>();
        let text = rules.concat();
        let reduced = keep_cid(&text, "a").unwrap();
        let stand_ins = [stand_in(12), rules[2].clone(), stand_in(12), rules[5].clone(), stand_in(6)];
        assert_eq!(reduced.text, stand_ins.concat());
        assert_eq!(reduced.rules, [0, 2, 3, 5, 6]);
        for cid in ["a", "b", "c"] {
            reduce(&text, cid);
        }
        // At the end without a newline.
        let text = format!("{a}[[rule]]\ncid = 'b'");
        assert_eq!(keep_cid(&text, "a").map(|r| (r.text, r.rules)), Some((format!("{a}\n"), vec![0])));
        let text = format!("{a}[[rule]]\ncid = 'b'\npattern = 'x'");
        assert_eq!(keep_cid(&text, "a").map(|r| r.text), Some(format!("{a}{}", stand_in(2))));
        reduce(&text, "a");
        // A CID no stand-in may have.
        assert!(keep_cid(&text, "").is_none() && keep_cid(&text, "\n").is_none());
    }

    #[test]
    fn nothing_to_leave_out_is_none() {
        assert!(keep_cid("", "a").is_none());
        assert!(keep_cid(&rule("a", "one"), "a").is_none());
        assert!(keep_cid("[journal]\npath = \"x\"\n", "a").is_none());
        // Rules as an inline array have no headers: nothing is left out, which is right.
        let inline =
            "rule = [\n  { cid = \"b\", pattern = \"*\", root = \"r\", command = [\"/bin/true\"] },\n]\n";
        assert!(keep_cid(inline, "a").is_none());
    }

    #[test]
    fn multi_line_strings_hide_headers_and_cid_lines() {
        for (open, close) in
            [("\"\"\"", "\"\"\""), ("'''", "'''"), ("\"\"\"", "\\\"\"\"\"\""), ("'''", "''''")]
        {
            let text = format!(
                "[[rule]]\nname = \"one\"\ncid = \"a\"\npattern = \"*\"\nroot = \"r\"\ncommand = [\"/bin/true\", {open}\n[[rule]]\ncid = \"b\"\n[journal]\n{close}]\n{}",
                rule("b", "two")
            );
            let for_a = reduce(&text, "a");
            assert!(for_a.contains("\n[[rule]]\ncid = \"b\"\n[journal]\n"), "{for_a}");
            assert!(!for_a.contains("two"));
            let for_b = reduce(&text, "b");
            assert!(!for_b.contains("[journal]") && for_b.contains("two"), "{for_b}");
            let for_c = reduce(&text, "c");
            assert!(!for_c.contains("one") && !for_c.contains("two"));
        }
    }

    #[test]
    fn arrays_over_several_lines_are_values_not_headers() {
        let text = format!(
            "{}notify = [\n[1],\n  [\"x\", # ] [y]\n]\n]\n[other]\n{}",
            rule("b", "two").trim_end_matches("command = [\"/bin/true\", \"{file}\"]\n"),
            rule("a", "one")
        );
        let reduced = keep_cid(&text, "a").unwrap();
        // Left out up to [other], which is no part of the rule.
        assert_eq!(reduced.text, format!("{}[other]\n{}", stand_in(10), rule("a", "one")));
        assert_eq!(reduced.rules, [0, 1]);
        check(&text, "a");
        check(&text, "b");
    }

    #[test]
    fn sub_tables_belong_to_their_rule() {
        let text = format!(
            "{}[rule.env]\nA = \"1\"\ncid = \"a\"\n[ rule . tags ]\nteam = \"x\"\n[[rule.x]]\ny = 1\n[defaults]\ntimeout = \"1h\"\n{}[rule.env]\nB = \"2\"\n",
            rule("b", "two"),
            rule("a", "one")
        );
        let reduced = reduce(&text, "a");
        // env.cid is the env's key, not the rule's: the rule is still b's.
        assert!(reduced.starts_with(&format!("{}[defaults]\ntimeout = \"1h\"\n", stand_in(13))));
        assert!(reduced.ends_with(&format!("{}[rule.env]\nB = \"2\"\n", rule("a", "one"))));
        let for_b = reduce(&text, "b");
        assert!(for_b.contains("A =") && !for_b.contains("B =") && for_b.contains("[defaults]"));
    }

    #[test]
    fn spaces_inside_headers_and_before_them() {
        let text = format!(
            "[[ rule ]]\ncid = 'b'\n  [[rule]]  # second\n\tcid = \"b\"  # [x]\n\tpattern = \"*\"\n  [ journal ]\npath = \"x\"\n{}",
            rule("a", "one")
        );
        let reduced = reduce(&text, "a");
        assert!(reduced.starts_with(&format!("{}  [ journal ]\npath = \"x\"\n[[rule]]\n", stand_in(5))));
        let reduced = reduce(&text, "b");
        assert!(reduced.starts_with("[[ rule ]]\ncid = 'b'\n  [[rule]]  # second\n\tcid = \"b\"  # [x]\n"));
    }

    #[test]
    fn a_cid_not_written_plainly_keeps_its_rule() {
        for cid in [
            "\"cid\" = \"b\"",
            "'cid' = \"b\"",
            "\"c\\u0069d\" = \"b\"",
            "cid = \"\\u0062\"",
            "cid = \"b\\\\\"",
            "cid = 'b\\'",
            "cid = \"\"\"b\"\"\"",
            "cid = '''b'''",
            "cid = \"b\" \"c\"",
            "cid = \"b\u{1}\"",
            "cid.x = \"b\"",
            "cid . x = \"b\"",
            "cid = [\"b\"]",
            "cid = \"b\"\ncid = \"b\"",
            "cid = \"b\"\npattern = \"x\"",
            "cid = \"b\"\nenv = {}\n[rule.env]",
            "cid = \"b\"\n[rule.env]\n[rule.env]",
            "cid = \"b\"\n[rule.env]\nA = \"1\"\nA = \"2\"",
        ] {
            let text = format!("[[rule]]\n{cid}\npattern = \"*\"\nroot = \"r\"\ncommand = [\"/bin/true\"]\n");
            // The one rule is kept, so nothing is left out: any problem it has is reported.
            assert!(keep_cid(&text, "a").is_none(), "{cid}");
            let text = format!("{text}{}", rule("z", "z"));
            let reduced = reduce(&text, "a");
            assert!(reduced.starts_with(&text[..text.find("[[rule]]\nname = \"z\"").unwrap()]), "{cid}");
        }
    }

    #[test]
    fn comments_with_brackets() {
        let text = format!(
            "# [[rule]]\n{}# cid = \"a\"\n#[journal]\n  # [x]\n{}",
            rule("b", "two").replace("cid = \"b\"", "cid = \"b\" # cid = \"a\" ]]"),
            rule("a", "one")
        );
        let reduced = reduce(&text, "a");
        assert_eq!(reduced, format!("# [[rule]]\n{}{}", stand_in(9), rule("a", "one")));
        let reduced = reduce(&text, "b");
        assert!(reduced.contains("#[journal]") && !reduced.contains("one"));
    }

    #[test]
    fn crlf_line_endings() {
        let text = format!("[journal]\npath = \"j\"\n{}{}", rule("b", "two"), rule("a", "one"))
            .replace('\n', "\r\n");
        let reduced = reduce(&text, "a");
        let a = rule("a", "one").replace('\n', "\r\n");
        assert_eq!(reduced, format!("[journal]\r\npath = \"j\"\r\n{}{a}", stand_in(6)));
        reduce(&text, "b");
    }

    #[test]
    fn anything_unclear_parses_the_original() {
        let b = rule("b", "two");
        for text in [
            format!("{b}x = \"unterminated\n"),
            format!("{b}x = 'unterminated\n"),
            format!("{b}x = \"\"\"unterminated\n"),
            format!("{b}x = '''unterminated\n"),
            format!("{b}x = '''too many''''''\n"),
            format!("{b}x = [1\n"),
            format!("{b}x = 1]\n"),
            format!("{b}x = {{ a = 1\n"),
            format!("{b}x \"missing equals\"\n"),
            format!("{b}x = \"a\\\n\"\n"),
            format!("[rule.env]\nA = \"1\"\n{b}"),
            format!("{b}[journal]\n[rule.env]\nA = \"1\"\n"),
            format!("{b}[rule]\n"),
            format!("{b}[\"rule\\u0073\"]\n"),
            format!("{b}[ [rule] ]\n"),
            format!("{b}[[rule] ]\n"),
            format!("{b}[x] y = 1\n"),
            format!("{b}[]\n"),
            format!("{b}\u{feff}x = 1\n"),
            // Rules as an array (an error beside [[rule]]) or a table, at the top.
            format!("rule = []\n{b}"),
            format!("rule.x = 1\n{b}"),
            format!("'rule' = []\n{b}"),
            format!("\"\\u0072ule\" = []\n{b}"),
        ] {
            assert!(keep_cid(&text, "a").is_none(), "{text}");
        }
        // A quoted header names the same tables as a bare one.
        assert!(keep_cid(&format!("{b}[\"rule\"]\n"), "a").is_none());
        assert_eq!(check(&format!("{b}[\"rule\".env]\nA = \"1\"\n"), "a").unwrap(), stand_in(8));
        assert!(check(&format!("{b}['journal']\npath = \"x\"\n"), "a").unwrap().contains("path"));
        // A byte order mark is skipped, as the parser does.
        reduce(&format!("\u{feff}{b}"), "a");
        // Top-level keys that are not `rule` are fine.
        reduce(&format!("rules = 1\n{b}"), "a");
    }

    #[test]
    fn problems_keep_their_place_and_rule_number() {
        let text = format!("{}{}", rule("b", "two").replace("*.dat", "[broken"), rule("a", "one"));
        // Another customer's broken rule stays out of a run.
        assert!(seen(&reduce(&text, "a"), "a").is_ok());
        // A problem of a rule that is read is reported where it is, under its number.
        let text = format!(
            "{}\n{}{}",
            rule("b", "two"),
            rule("c", "three"),
            rule("a", "one").replace("*.dat", "[broken")
        );
        let reduced = keep_cid(&text, "a").unwrap();
        let problems = seen_numbered(&reduced.text, "a", Some(&reduced.rules)).unwrap_err();
        let at = |p: &[Diagnostic]| (p[0].line, p[0].col, p[0].field.clone());
        assert_eq!(at(&problems), (17, 11, "rule[2].pattern".to_owned()));
        assert_eq!(problems, seen(&text, "a").unwrap_err());
    }

    #[test]
    fn a_bad_value_in_a_rule_left_out_is_left_to_check() {
        // What the scan cannot see without parsing values: a run of another customer no
        // longer stops at it (as it never stopped at a bad pattern there); check does.
        let text = format!("{}{}", rule("b", "two").replace("\"ftp\"", "ftp"), rule("a", "one"));
        assert!(seen(&text, "a").is_err());
        let reduced = keep_cid(&text, "a").unwrap();
        assert!(seen_numbered(&reduced.text, "a", Some(&reduced.rules)).is_ok());
        assert!(validate(Path::new(PATH), &text, Scope::All, None).is_err());
        // A rule of the run's own CID is read as written.
        check(&text, "b");
        assert!(seen(&text, "b").is_err());
    }

    /// xorshift64*: enough randomness for generated configs, and the same every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }
    }

    const CIDS: &[&str] = &["a", "b", "c", "d d", "é", "a\\b"];

    /// A config of a few rules in every style the scan knows, valid or, when `sloppy`, with
    /// the mistakes it must not hide: problems of a rule a run reads, keys and tables defined
    /// twice.
    fn generated(rng: &mut Rng) -> String {
        let sloppy = rng.one_in(4);
        let mut out = String::new();
        let mut sections = vec![
            "[journal]\npath = \"state/j.db\"\n",
            "[defaults]\nduplicates = \"run\"\nnotify = [\n  \"ops\", # [x]\n]\n",
            "[channel.ops]\ntype = \"webhook\"\nurl = \"https://example.com/\"\n",
            "[channel.\"mail box\"]\ntype = \"email\"\ntransport = \"sendmail\"\nfrom = \"a@b\"\nto = ['c@d']\n",
            "# a comment\n\n",
        ];
        let mistake = |rng: &mut Rng| sloppy && rng.one_in(10);
        for i in 0..rng.below(14) {
            if !sections.is_empty() && rng.one_in(3) {
                out.push_str(sections.swap_remove(rng.below(sections.len())));
            }
            out.push_str(rng.pick(&["[[rule]]\n", "[[ rule ]]\n", "  [[rule]] # [[x]]\n", "[[\"rule\"]]\n"]));
            let cid = rng.pick(CIDS);
            let literal = cid.contains('\\') || rng.one_in(3);
            let cid_line = match rng.below(12) {
                0 => format!("\"cid\" = \"{}\"\n", cid.replace('\\', "\\\\")),
                1 => format!("cid = \"{}\\u0020\"\n", cid.replace('\\', "\\\\")),
                _ if literal => format!("cid = '{cid}'\n"),
                2 => format!("  cid=\"{cid}\"# ]\n"),
                _ => format!("cid = \"{cid}\"\n"),
            };
            let mut keys = vec![
                cid_line,
                format!("name = \"r{}\"\n", if mistake(rng) { 0 } else { i }),
                match rng.below(4) {
                    0 => "regex = '''F(?P<n>\\d+)\\.dat'''\n".to_owned(),
                    _ if mistake(rng) => "pattern = \"[broken\"\n".to_owned(),
                    _ => format!("pattern = \"F{i}_*.dat\"\n"),
                },
                "root = \"acme\"\n".to_owned(),
                match rng.below(3) {
                    0 => "command = [\n  \"/bin/true\", # [[rule]]\n  \"\"\"\n[[rule]]\ncid = \"a\"\n[journal]\"\"\",\n  '''\n[x]''',\n]\n".to_owned(),
                    _ if mistake(rng) => "command = [\"/bin/true\", \"{nope}\"]\n".to_owned(),
                    _ => "command = [\"/bin/true\", \"{file}\"]\n".to_owned(),
                },
            ];
            let mut subs = vec![
                rng.pick(&["[rule.env]\nA = \"1\"\ncid = \"zz\"\n", "[ rule . env ]\nB = '2'\n"]),
                rng.pick(&["[rule.tags]\n\"cid\" = 'y'\n", "[ rule . \"tags\" ]\nteam = \"x\"\n"]),
            ];
            if rng.one_in(3) {
                keys.push(rng.pick(&["timeout = \"5m\"\n", "notify = [\"ops\"]\n"]).to_owned());
            }
            if rng.one_in(3) {
                // Defined here, so not as a sub-table too.
                let key = rng.pick(&["env", "tags"]);
                let value = if key == "env" { "{ X = \"1\" }" } else { "{ t = \"[1]\" }" };
                keys.push(if rng.one_in(2) {
                    format!("{key} = {value}\n")
                } else {
                    format!("{key}.x = \"1\"\n")
                });
                subs.retain(|s| !s.contains(key));
            }
            if mistake(rng) {
                keys.push(
                    rng.pick(&[
                        "timeout = \"soon\"\n",
                        "notify = [\"nope\"]\n",
                        "root = \"again\"\n",
                        "'root' = \"again\"\n",
                        "env = {}\n",
                        "tags = {}\n",
                        "cid = \"a\"\n",
                    ])
                    .to_owned(),
                );
            }
            let first = rng.below(keys.len());
            keys.swap(0, first);
            keys.iter().for_each(|k| out.push_str(k));
            if mistake(rng) {
                subs.push(rng.pick(&["[rule.env]\n", "[ rule.tags ]\n", "[rule.\"env\"]\n"]));
            }
            for _ in 0..rng.below(subs.len() + 1) {
                out.push_str(subs.swap_remove(rng.below(subs.len())));
            }
            if rng.one_in(10) {
                out.push_str("[[rule.x]]\ny = [\n[1],\n]\n[[rule.x]]\ny = 2\n");
            }
        }
        for rest in sections {
            out.push_str(rest);
        }
        if rng.one_in(4) { out.replace('\n', "\r\n") } else { out }
    }

    #[test]
    fn generated_configs_give_the_same_run() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut reduced, mut declined) = (0, 0);
        for _ in 0..600 {
            let text = generated(&mut rng);
            for cid in CIDS.iter().chain(&["nobody"]) {
                match check(&text, cid) {
                    Some(_) => reduced += 1,
                    None => declined += 1,
                }
            }
        }
        // Most configs hold some other customer's rule written plainly.
        assert!(reduced > declined * 2, "reduced {reduced}, declined {declined}");
    }
}
