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

/// Exit 11, in the words of the system this replaces, with where to look next.
pub fn not_configured(cid: &str, name: &OsStr) -> crate::outcome::Failure {
    let detail = format!(
        "CID {} and file name {} are not set up for processing (`ftptrigger explain {} FILE` shows every rule's verdict)",
        crate::display::escape_str(cid),
        crate::display::escape(name),
        crate::display::shell_quote(OsStr::new(cid)),
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

/// `Some(captures)` when the rule's regex matches the whole base name.
fn regex_captures(rule: &Rule, name: &OsStr) -> Option<Captures> {
    match &rule.matcher {
        Matcher::Glob { .. } => None,
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
