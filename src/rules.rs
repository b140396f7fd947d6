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

/// The rule for `cid` and `name`, with its regex captures.
pub fn find<'c>(config: &'c Config, cid: &str, name: &OsStr) -> Option<(&'c Rule, Captures)> {
    config.rules.iter().filter(|r| r.cid == cid).find_map(|r| matches(r, name).map(|c| (r, c)))
}

/// Every rule with its verdict for `cid` and `name`, in config order.
pub fn explain<'c>(config: &'c Config, cid: &str, name: &OsStr) -> Vec<(&'c Rule, Verdict)> {
    let mut chosen = false;
    config
        .rules
        .iter()
        .map(|rule| {
            let verdict = if rule.cid != cid {
                Verdict::OtherCid
            } else if matches(rule, name).is_none() {
                Verdict::NoMatch
            } else if chosen {
                Verdict::Shadowed
            } else {
                chosen = true;
                Verdict::Chosen
            };
            (rule, verdict)
        })
        .collect()
}

/// `Some(captures)` when the rule's pattern matches the whole base name.
pub fn matches(rule: &Rule, name: &OsStr) -> Option<Captures> {
    match &rule.matcher {
        Matcher::Glob { glob, .. } => glob.is_match(name).then(Vec::new),
        Matcher::Regex { regex, .. } => {
            let caps = regex.captures(name.as_bytes())?;
            let named = regex
                .capture_names()
                .flatten()
                .filter_map(|n| {
                    caps.name(n).map(|m| (n.to_owned(), OsStr::from_bytes(m.as_bytes()).to_owned()))
                })
                .collect();
            Some(named)
        }
    }
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
    fn explain_gives_every_verdict() {
        let c = config(RULES);
        let verdicts: Vec<Verdict> =
            explain(&c, "acme", OsStr::new("ACME_20261122_stmt.zip")).into_iter().map(|(_, v)| v).collect();
        assert_eq!(verdicts, [Verdict::Chosen, Verdict::Shadowed, Verdict::OtherCid]);
    }
}
