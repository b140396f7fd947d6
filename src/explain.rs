//! `explain CID FILE`: which rule matches and why, and the exact command that would run.
//! Reads the config and looks at the file's metadata; never opens, hashes or runs anything.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::Config;
use crate::display::{escape, escape_str};
use crate::outcome::{Failure, Outcome};
use crate::plan::{self, Facts};
use crate::rules::{self, Verdict};
use crate::verify;

/// The explanation as text, and how a run of the same file would end before hashing.
pub fn explain(config: &Config, cid: &str, file: &Path) -> (String, Result<(), Failure>) {
    let mut out = String::new();
    let name = match verify::file_name(file) {
        Ok(name) => name,
        Err(err) => return (out, Err(Failure::new(Outcome::BadFile, err.to_string()))),
    };
    let _ = writeln!(
        out,
        "CID {} and file name {} (config {}):",
        escape_str(cid),
        escape(&name),
        config.path.display()
    );
    let verdicts = rules::explain(config, cid, &name);
    if verdicts.is_empty() {
        let _ = writeln!(out, "  the config has no rules");
    }
    for (rule, verdict) in &verdicts {
        let why = match verdict {
            Verdict::Chosen => format!("{} matches: chosen", rule.matcher.describe()),
            Verdict::Shadowed => {
                format!("{} matches, but an earlier rule was chosen", rule.matcher.describe())
            }
            Verdict::OtherCid => format!("for CID {}", escape_str(&rule.cid)),
            Verdict::NoMatch => format!("{} does not match", rule.matcher.describe()),
        };
        let mark = if *verdict == Verdict::Chosen { "*" } else { "-" };
        let _ = writeln!(out, "  {mark} rule {} (line {}): {why}", escape_str(&rule.name), rule.line);
    }
    let Some((rule, captures)) = rules::find(config, cid, &name) else {
        let _ = writeln!(out, "no rule matches: a run would exit {}", Outcome::NotConfigured.code());
        return (out, Err(rules::not_configured(cid, &name)));
    };
    let resolved = match verify::resolve_in_root(file, &rule.root, &rule.name) {
        Ok(path) => path,
        Err(err) => {
            let _ = writeln!(out, "the file cannot be processed: {err}");
            return (out, Err(Failure::new(Outcome::BadFile, err.to_string())));
        }
    };
    let size = std::fs::symlink_metadata(&resolved).ok().filter(|m| m.is_file()).map(|m| m.len());
    let facts = Facts {
        cid,
        path: &resolved,
        md5: None,
        size,
        run_id: None,
        captures: &captures,
        keep_unknown: true,
    };
    let job = plan::job(rule, &facts);
    let _ = writeln!(out, "a run would execute ({{md5}} and {{run_id}} are filled in at run time):");
    out.push_str(&plan::describe(&job));
    (out, Ok(()))
}
