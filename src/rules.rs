//! Which rule handles a file: the first, in config order, whose `cid` equals the CID and whose
//! glob or regex matches the file's base name.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::config::{Config, Matcher, Rule};

/// Named regex captures of the match, for placeholders.
pub type Captures = Vec<(String, OsString)>;

/// Why a rule did or did not take a file, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Chosen,
    /// Matches, but an earlier rule already took the file.
    Shadowed,
    OtherCid,
    NoMatch,
}

/// Exit 11, in the words of the system this replaces, with where to look next: the `explain`
/// command for this very config and file, ready to paste.
pub fn not_configured(
    config: &std::path::Path,
    cid: &str,
    file: &std::path::Path,
) -> crate::outcome::Failure {
    use crate::display::{escape, escape_str, shell_quote};
    let name = file.file_name().unwrap_or(file.as_os_str());
    let detail = format!(
        "CID {} and file name {} are not set up for processing (`ftptrigger -c {} explain {} {}` shows every rule's verdict)",
        escape_str(cid),
        escape(name),
        shell_quote(config.as_os_str()),
        shell_quote(OsStr::new(cid)),
        shell_quote(file.as_os_str()),
    );
    crate::outcome::Failure::new(crate::outcome::Outcome::NotConfigured, detail)
}

/// The rule for `cid` and `name`, with its regex captures: the CID's rules are found by
/// index and all its globs tested in one pass, so neither the number of customers nor of
/// glob rules makes a lookup slower.
pub fn find<'c>(config: &'c Config, cid: &str, name: &OsStr) -> Option<(&'c Rule, Captures)> {
    candidates(config, cid, name).find_map(|(rule, captures)| captures.map(|c| (rule, c)))
}

/// Every rule with its verdict for `cid` and `name`, in config order.
pub fn explain<'c>(config: &'c Config, cid: &str, name: &OsStr) -> Vec<(&'c Rule, Verdict)> {
    let mut verdicts: Vec<(&Rule, Verdict)> = config.rules.iter().map(|r| (r, Verdict::OtherCid)).collect();
    let mut chosen = false;
    let positions = config.by_cid.get(cid).map(|g| g.rules.as_slice()).unwrap_or_default();
    for ((_, captures), &i) in candidates(config, cid, name).zip(positions) {
        verdicts[i].1 = match captures {
            None => Verdict::NoMatch,
            Some(_) if chosen => Verdict::Shadowed,
            Some(_) => {
                chosen = true;
                Verdict::Chosen
            }
        };
    }
    verdicts
}

/// The CID's rules in config order, each with `Some(captures)` when it matches `name`.
fn candidates<'c>(
    config: &'c Config,
    cid: &str,
    name: &OsStr,
) -> impl Iterator<Item = (&'c Rule, Option<Captures>)> {
    let group = config.by_cid.get(cid);
    let glob_hits: Vec<usize> = group
        .map(|g| g.globs.matches(name).into_iter().map(|set_index| g.glob_rules[set_index]).collect())
        .unwrap_or_default();
    let members = group.map(|g| g.rules.as_slice()).unwrap_or_default();
    members.iter().map(move |&i| {
        let rule = &config.rules[i];
        let captures = match &rule.matcher {
            Matcher::Glob { .. } => glob_hits.contains(&i).then(Vec::new),
            Matcher::Regex { .. } => regex_captures(rule, name),
        };
        (rule, captures)
    })
}

/// `Some(captures)` when the rule's regex matches the whole base name, byte for byte.
///
/// A name need not be UTF-8 (SECURITY.md: any bytes but `/` and NUL), but in the regex's
/// Unicode mode `.`, `[^…]` or `\S` match only whole UTF-8 characters, so `.*` would never take
/// `ACME_\xff.zip`. Such a name is tried again with each byte that is not part of a UTF-8
/// character read as U+FFFD, one character that only what matches any character matches; the
/// captures are still the name's own bytes. Patterns that spell out raw bytes (`(?-u:\xff)`)
/// match the name as it is, on the first try.
fn regex_captures(rule: &Rule, name: &OsStr) -> Option<Captures> {
    let Matcher::Regex { regex, .. } = &rule.matcher else { return None };
    let name = name.as_bytes();
    let named = |caps: regex::bytes::Captures<'_>, original: &dyn Fn(std::ops::Range<usize>) -> OsString| {
        regex
            .capture_names()
            .flatten()
            .filter_map(|n| caps.name(n).map(|m| (n.to_owned(), original(m.range()))))
            .collect()
    };
    if let Some(caps) = regex.captures(name) {
        return Some(named(caps, &|range| OsStr::from_bytes(&name[range]).to_owned()));
    }
    let (text, offsets) = replaced_invalid_bytes(name)?;
    let caps = regex.captures(text.as_bytes())?;
    Some(named(caps, &|range| OsStr::from_bytes(&name[offsets[range.start]..offsets[range.end]]).to_owned()))
}

/// `name` with each byte that is not part of a UTF-8 character replaced by U+FFFD, and where
/// each byte offset of that text (and its end) lies in `name`; `None` for a UTF-8 name.
fn replaced_invalid_bytes(name: &[u8]) -> Option<(String, Vec<usize>)> {
    if std::str::from_utf8(name).is_ok() {
        return None;
    }
    let mut text = String::with_capacity(name.len() + 8);
    let mut offsets = Vec::with_capacity(name.len() + 9);
    let mut at = 0;
    for chunk in name.utf8_chunks() {
        text.push_str(chunk.valid());
        offsets.extend(at..at + chunk.valid().len());
        at += chunk.valid().len();
        for _ in chunk.invalid() {
            text.push(char::REPLACEMENT_CHARACTER);
            // A match can only start or end inside the replacement with `(?-u)`: it maps to the byte.
            offsets.extend([at; 3]);
            at += 1;
        }
    }
    offsets.push(at);
    Some((text, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        crate::config::parse(Path::new("/etc/ftptrigger/test.cfg"), text).expect("valid config")
    }

    const RULES: &str = r#"
[[rule]]
name = "stmt"
cid = "acme"
pattern = "ACME_*_stmt.zip"
root = "/srv/ftp/acme"
command = ["/bin/true"]

[[rule]]
name = "cycle"
cid = "acme"
regex = 'ACME_(?P<cycle>\d{8})_\w+\.zip'
root = "/srv/ftp/acme"
command = ["/bin/true", "{cycle}"]

[[rule]]
name = "beta"
cid = "beta"
pattern = "*"
root = "/srv/ftp/beta"
command = ["/bin/true"]
"#;

    #[test]
    fn first_matching_rule_of_the_cid_wins() {
        let c = config(RULES);
        let (rule, caps) = find(&c, "acme", OsStr::new("ACME_20261122_stmt.zip")).unwrap();
        assert_eq!(rule.name, "stmt");
        assert!(caps.is_empty());
        let (rule, caps) = find(&c, "acme", OsStr::new("ACME_20261122_print.zip")).unwrap();
        assert_eq!(rule.name, "cycle");
        assert_eq!(caps, vec![("cycle".to_owned(), OsString::from("20261122"))]);
        assert!(find(&c, "acme", OsStr::new("other.zip")).is_none());
        assert!(find(&c, "ACME", OsStr::new("ACME_20261122_stmt.zip")).is_none());
        assert_eq!(find(&c, "beta", OsStr::new("anything")).unwrap().0.name, "beta");
    }

    #[test]
    fn regex_must_match_the_whole_name() {
        let c = config(RULES);
        assert!(find(&c, "acme", OsStr::new("xACME_20261122_print.zip")).is_none());
        assert!(find(&c, "acme", OsStr::new("ACME_20261122_print.zip.bak")).is_none());
    }

    #[test]
    fn glob_star_matches_dots_and_odd_bytes_but_not_slashes() {
        let c = config(RULES);
        assert!(find(&c, "acme", OsStr::from_bytes(b"ACME_\xff x\n_stmt.zip")).is_some());
        assert!(find(&c, "acme", OsStr::new("ACME_a/b_stmt.zip")).is_none());
    }

    #[test]
    fn a_regex_matches_a_name_that_is_not_utf8_and_captures_its_bytes() {
        let c = config(
            r#"
[[rule]]
name = "any"
cid = "acme"
regex = '(?P<head>.*)_(?P<tail>[^_]+)\.zip'
root = "/srv/ftp/acme"
command = ["/bin/true", "{head}", "{tail}"]

[[rule]]
name = "words"
cid = "beta"
regex = '\w+'
root = "/srv/ftp/beta"
command = ["/bin/true"]

[[rule]]
name = "raw"
cid = "beta"
regex = '(?-u:\xff)(?P<rest>.)'
root = "/srv/ftp/beta"
command = ["/bin/true", "{rest}"]
"#,
        );
        let (rule, caps) = find(&c, "acme", OsStr::from_bytes(b"\xffA\xe2\x82_caf\xc3\xa9\xfe.zip")).unwrap();
        assert_eq!(rule.name, "any");
        let want = |s: &[u8]| OsStr::from_bytes(s).to_owned();
        assert_eq!(
            caps,
            vec![("head".to_owned(), want(b"\xffA\xe2\x82")), ("tail".to_owned(), want(b"caf\xc3\xa9\xfe"))]
        );
        // A byte that is no character is not a word character either; raw bytes match as written.
        assert!(find(&c, "beta", OsStr::from_bytes(b"ab\xffc")).is_none());
        let (rule, caps) = find(&c, "beta", OsStr::from_bytes(b"\xffx")).unwrap();
        assert_eq!((rule.name.as_str(), caps), ("raw", vec![("rest".to_owned(), OsString::from("x"))]));
    }

    #[test]
    fn explain_gives_every_verdict() {
        let c = config(RULES);
        let verdicts: Vec<Verdict> =
            explain(&c, "acme", OsStr::new("ACME_20261122_stmt.zip")).into_iter().map(|(_, v)| v).collect();
        assert_eq!(verdicts, [Verdict::Chosen, Verdict::Shadowed, Verdict::OtherCid]);
    }
}
