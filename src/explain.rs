//! `explain CID FILE`: which rule matches and why, and the exact command that would run.
//! Reads the config and looks at the file's metadata; never opens, hashes or runs anything.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::display::{escape, escape_str};
use crate::outcome::{Failure, Outcome};
use crate::plan::{self, Facts};
use crate::rules::{self, Verdict};
use crate::verify;

/// What `explain` found, for people (`to_text`) or as JSON (`--json`).
#[derive(Serialize)]
pub struct Explanation {
    pub cid: String,
    /// The file's base name (lossy, for JSON; the text escapes the exact bytes).
    pub filename: String,
    pub config: std::path::PathBuf,
    /// Every rule of the config, in order, with its verdict for this CID and name.
    pub rules: Vec<Candidate>,
    /// The command a run would execute, when a rule matches and the file lies inside its root.
    pub command: Option<Command>,
    /// The content types the chosen rule accepts (`mime`), checked after the MD5; none: any.
    pub mime: Option<Vec<String>>,
    /// What the chosen rule does with the file after a success, and after a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// How a run would end before hashing, when it would not get that far.
    pub outcome: Option<Outcome>,
    pub message: Option<String>,
    #[serde(skip)]
    text_name: String,
    #[serde(skip)]
    describe: Option<String>,
}

#[derive(Serialize)]
pub struct Candidate {
    pub rule: String,
    pub line: usize,
    /// `chosen`, `shadowed` (matches, an earlier rule took the file), `other_cid`, `no_match`.
    pub verdict: &'static str,
    /// What the verdict is about: the rule's pattern, or its CID.
    pub why: String,
}

#[derive(Serialize)]
pub struct Command {
    pub argv: Vec<String>,
    pub workdir: Option<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_s: u64,
    pub kill_grace_s: u64,
}

/// The explanation, and how a run of the same file would end before hashing.
pub fn explain(config: &Config, cid: &str, file: &Path) -> (Explanation, Result<(), Failure>) {
    let name = verify::file_name(file);
    let shown = name.as_deref().unwrap_or_default();
    let mut found = Explanation {
        cid: cid.to_owned(),
        filename: shown.to_string_lossy().into_owned(),
        config: config.path.clone(),
        rules: Vec::new(),
        command: None,
        mime: None,
        on_success: None,
        on_failure: None,
        outcome: None,
        message: None,
        text_name: escape(shown),
        describe: None,
    };
    let verdict = name
        .map_err(|err| Failure::new(Outcome::BadFile, err.to_string()))
        .and_then(|name| fill(&mut found, config, cid, file, &name));
    if let Err(failure) = &verdict {
        found.outcome = Some(failure.outcome);
        found.message = Some(failure.to_string());
    }
    (found, verdict)
}

/// Fills in the verdicts and the command for the file at `file`, whose base name is `name`.
fn fill(
    found: &mut Explanation,
    config: &Config,
    cid: &str,
    file: &Path,
    name: &OsStr,
) -> Result<(), Failure> {
    for (rule, verdict) in rules::explain(config, cid, name) {
        let (verdict, why) = match verdict {
            Verdict::Chosen => ("chosen", format!("{} matches: chosen", rule.matcher.describe())),
            Verdict::Shadowed => {
                ("shadowed", format!("{} matches, but an earlier rule was chosen", rule.matcher.describe()))
            }
            Verdict::OtherCid => ("other_cid", format!("for CID {}", escape_str(&rule.cid))),
            Verdict::NoMatch => ("no_match", format!("{} does not match", rule.matcher.describe())),
        };
        found.rules.push(Candidate { rule: rule.name.clone(), line: rule.line, verdict, why });
    }
    let (rule, captures) =
        rules::find(config, cid, name).ok_or_else(|| rules::not_configured(&config.path, cid, file))?;
    found.mime = rule.mime.clone();
    found.on_success = rule.settings.on_success.as_ref().map(|a| a.describe(&rule.root));
    found.on_failure = rule.settings.on_failure.as_ref().map(|a| a.describe(&rule.root));
    let resolved = verify::resolve_in_root(file, &rule.root, &rule.name)
        .map_err(|err| Failure::new(Outcome::BadFile, err.to_string()))?;
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
    let lossy = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    found.command = Some(Command {
        argv: job.argv().iter().map(|a| lossy(a)).collect(),
        workdir: job.workdir.as_deref().map(|w| lossy(w.as_os_str())),
        env: job.env.iter().map(|(k, v)| (lossy(k), lossy(v))).collect(),
        timeout_s: job.timeout.as_secs(),
        kill_grace_s: job.kill_grace.as_secs(),
    });
    found.describe = Some(plan::describe(&job));
    Ok(())
}

impl Explanation {
    /// For people: each rule's verdict, then the command or why there is none.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "CID {} and file name {} (config {}):",
            escape_str(&self.cid),
            self.text_name,
            self.config.display()
        );
        if self.rules.is_empty() {
            let _ = writeln!(out, "  the config has no rules");
        }
        for c in &self.rules {
            let mark = if c.verdict == "chosen" { "*" } else { "-" };
            let _ = writeln!(out, "  {mark} rule {} (line {}): {}", escape_str(&c.rule), c.line, c.why);
        }
        match (&self.describe, self.outcome) {
            (Some(describe), _) => {
                if let Some(mime) = &self.mime {
                    let _ =
                        writeln!(out, "after the MD5, its content type must be one of: {}", mime.join(", "));
                }
                let _ =
                    writeln!(out, "a run would execute ({{md5}} and {{run_id}} are filled in at run time):");
                out.push_str(describe);
                out.push_str(&crate::lifecycle::afterwards(
                    self.on_success.as_deref(),
                    self.on_failure.as_deref(),
                ));
            }
            (None, Some(Outcome::NotConfigured)) => {
                let _ = writeln!(out, "no rule matches: a run would exit {}", Outcome::NotConfigured.code());
            }
            (None, _) => {
                let why = self.message.as_deref().unwrap_or_default();
                let why = why.split_once("]: ").map_or(why, |(_, rest)| rest);
                let _ = writeln!(out, "the file cannot be processed: {why}");
            }
        }
        out
    }
}
