//! What would run for a file: placeholder values, the expanded argv and the environment.
//! Shared by a real run, `--dry-run` and `explain`, so all three show the same command.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::Path;

use crate::config::Rule;
use crate::digest::Md5Hex;
use crate::display::{escape, shell_join, shell_quote};
use crate::exec::Job;
use crate::rules::Captures;
use crate::template::Values;

/// Facts about the file that placeholders and `FTPTRIGGER_*` variables carry. `None` means
/// not known yet (`explain` does not hash), and the placeholder is shown as written.
pub struct Facts<'a> {
    pub cid: &'a str,
    /// Canonical absolute path.
    pub path: &'a Path,
    pub md5: Option<&'a Md5Hex>,
    pub size: Option<u64>,
    pub run_id: Option<i64>,
    pub captures: &'a Captures,
    /// Show unknown values as their `{placeholder}` (explain) instead of expanding them to
    /// nothing (a run before the journal has given it an id).
    pub keep_unknown: bool,
}

/// The placeholders that name the file (`{cid} {file} {filename} {stem} {ext} {dir}` and the
/// regex captures): all a template needs before the file is hashed, such as a rule's `sidecar`.
pub fn file_values(cid: &str, path: &Path, captures: &Captures) -> Values {
    let name = path.file_name().unwrap_or_default();
    let mut values = Values::default();
    values.set("cid", cid);
    values.set("file", path);
    values.set("filename", name);
    values.set("stem", Path::new(name).file_stem().unwrap_or_default());
    values.set("ext", Path::new(name).extension().unwrap_or_default());
    values.set("dir", path.parent().unwrap_or(Path::new("/")));
    for (name, value) in captures {
        values.set(name, value);
    }
    values
}

/// Every placeholder's value for a run of `rule` on the file `facts` describes, and the
/// builtin placeholders whose values are not known yet (left unset).
pub fn values(rule: &Rule, facts: &Facts<'_>) -> (Values, Vec<&'static str>) {
    let mut values = file_values(facts.cid, facts.path, facts.captures);
    let mut unknown = Vec::new();
    values.set("rule", &rule.name);
    match facts.md5 {
        Some(md5) => values.set("md5", md5.as_str()),
        None => unknown.push("md5"),
    }
    match facts.size {
        Some(size) => values.set("size", size.to_string()),
        None => unknown.push("size"),
    }
    match facts.run_id {
        Some(id) => values.set("run_id", id.to_string()),
        None => unknown.push("run_id"),
    }
    (values, unknown)
}

/// Expands the rule's command for one file.
pub fn job(rule: &Rule, facts: &Facts<'_>) -> Job {
    let (values, mut unknown) = values(rule, facts);
    // explain shows unknown values as their placeholder, so its argv reads as a template
    // (literal braces doubled); a run expands everything, literal braces single.
    if !facts.keep_unknown {
        unknown.clear();
    }
    let args = if facts.keep_unknown {
        rule.args.iter().map(|t| t.expand_except(&values, &unknown)).collect()
    } else {
        rule.args.iter().map(|t| t.expand(&values)).collect()
    };

    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut add = |k: &str, v: &OsStr| env.push((k.into(), v.to_owned()));
    for (var, placeholder) in [
        ("FTPTRIGGER_CID", "cid"),
        ("FTPTRIGGER_FILE", "file"),
        ("FTPTRIGGER_FILENAME", "filename"),
        ("FTPTRIGGER_MD5", "md5"),
        ("FTPTRIGGER_SIZE", "size"),
        ("FTPTRIGGER_RULE", "rule"),
        ("FTPTRIGGER_RUN_ID", "run_id"),
    ] {
        let value = match values.get(placeholder) {
            Some(v) => v.to_owned(),
            None if unknown.contains(&placeholder) => OsString::from(format!("{{{placeholder}}}")),
            None => OsString::new(),
        };
        add(var, &value);
    }
    for (k, v) in &rule.env {
        add(k, OsStr::new(v));
    }
    Job {
        program: rule.program.clone(),
        args,
        env,
        env_remove: Vec::new(),
        workdir: Some(rule.workdir.clone()),
        timeout: rule.settings.timeout,
        kill_grace: rule.settings.kill_grace,
    }
}

/// The command as a person reads it: argv (shell-quoted, so it can be pasted), workdir, the
/// variables added to the environment, and the limits.
pub fn describe(job: &Job) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  argv:    {}", shell_join(&job.argv()));
    let workdir = job.workdir.as_deref().map_or_else(|| "(inherited)".to_owned(), |w| escape(w.as_os_str()));
    let _ = writeln!(out, "  workdir: {workdir}");
    for (i, (k, v)) in job.env.iter().enumerate() {
        let label = if i == 0 { "  env:     " } else { "           " };
        let _ = writeln!(out, "{label}{}={}", k.to_string_lossy(), shell_quote(v));
    }
    let _ = writeln!(
        out,
        "  timeout: {} (then SIGTERM to the group, SIGKILL {} later)",
        humantime::format_duration(job.timeout),
        humantime::format_duration(job.kill_grace)
    );
    out
}
