//! The `[[rule]]` checks: each rule's matcher, command and sidecar, and the index by CID.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use toml::Spanned;

use super::{RuleAt, Validator};
use crate::config::raw::{self, Text};
use crate::config::{CidRules, Matcher, Rule, Settings, is_env_name};
use crate::template::{BUILTIN, Template};

/// Where `scan` looks for a file's MD5 when the rule does not say.
const DEFAULT_SIDECAR: &str = "{file}.md5";

/// What a `sidecar` template may use besides the rule's regex captures.
const SIDECAR_PLACEHOLDERS: &[&str] = &["file", "dir", "filename", "stem", "ext", "cid"];

/// Groups the rules by CID and compiles each CID's globs into one set.
pub(super) fn index(rules: &[Rule]) -> HashMap<String, CidRules> {
    let mut groups: HashMap<&str, (Vec<usize>, globset::GlobSetBuilder, Vec<usize>)> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let (members, globs, glob_rules) = groups
            .entry(&rule.cid)
            .or_insert_with(|| (Vec::new(), globset::GlobSetBuilder::new(), Vec::new()));
        members.push(i);
        if let Matcher::Glob { glob, .. } = &rule.matcher {
            globs.add(glob.clone());
            glob_rules.push(i);
        }
    }
    groups
        .into_iter()
        .map(|(cid, (rules, globs, glob_rules))| {
            // Every glob was built on its own already, so the set builds too.
            let globs = globs.build().unwrap_or_else(|_| globset::GlobSet::empty());
            (cid.to_owned(), CidRules { rules, globs, glob_rules })
        })
        .collect()
}

impl Validator<'_> {
    pub(super) fn rules(&mut self, raw: Vec<RuleAt>, defaults: &Settings, channels: &[&str]) -> Vec<Rule> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(raw.len());
        for RuleAt { index: i, span, rule: mut r } in raw {
            let field = |key: &str| format!("rule[{i}].{key}");
            let (line, _) = self.d.position(span.start);
            // A key serde could not read was reported (and taken out) already.
            for (key, absent) in
                [("cid", r.cid.is_none()), ("root", r.root.is_none()), ("command", r.command.is_none())]
            {
                if absent && !self.d.found.iter().any(|d| d.field == field(key)) {
                    self.d.error(span.clone(), format!("rule[{i}]"), format!("missing field `{key}`"));
                }
            }
            if let Some(cid) = &r.cid
                && (cid.get_ref().is_empty() || cid.get_ref().chars().any(|c| c.is_control() || c == '/'))
            {
                self.d.error(
                    cid.span(),
                    field("cid"),
                    "must be non-empty, without '/' or control characters",
                );
            }
            let matcher = self.matcher(i, &r, span.clone());
            let captures: Vec<String> = match &matcher {
                Some(Matcher::Regex { regex, .. }) => {
                    regex.capture_names().flatten().map(str::to_owned).collect()
                }
                _ => Vec::new(),
            };
            let settings = self.settings(&format!("rule[{i}]"), r.settings(), defaults, channels, &captures);
            let cid = r.cid.as_ref().map_or("", |c| c.get_ref().as_str());
            let name = match (&r.name, &r.pattern, &r.regex) {
                (Some(n), _, _) => n.get_ref().clone(),
                (None, Some(p), _) => format!("{cid}:{}", p.get_ref()),
                (None, None, Some(re)) => format!("{cid}:{}", re.get_ref()),
                (None, None, None) => format!("{cid}:"),
            };
            if let Some(first) = seen.insert(name.clone(), line) {
                let at = r.name.as_ref().map_or(span.clone(), Spanned::span);
                let msg = format!("duplicate rule name {name:?} (first used by the rule at line {first})");
                self.d.error(at, field("name"), msg);
            }
            // Without a valid regex its capture names are unknown: checking the placeholders
            // against none would only add noise.
            if matcher.is_none() && r.regex.is_some() {
                continue;
            }
            let path = r.env.iter().find(|(k, _)| k.get_ref() == "PATH").map(|(_, v)| v.as_str());
            let command = r.command.as_ref().and_then(|command| self.command(i, command, &captures, path));
            let sidecar = self.sidecar(&field("sidecar"), r.sidecar.as_ref(), &captures);
            for key in r.env.keys() {
                if !is_env_name(key.get_ref()) || key.get_ref().starts_with("FTPTRIGGER_") {
                    let msg = "must be a variable name (letters, digits, _) and not start with FTPTRIGGER_";
                    self.d.error(key.span(), format!("rule[{i}].env.{}", key.get_ref()), msg);
                }
            }
            let (Some(cid), Some(root), Some(matcher), Some((program, args)), Some(sidecar)) =
                (r.cid, r.root, matcher, command, sidecar)
            else {
                continue;
            };
            let mime = r.mime.map(|types| {
                types
                    .into_iter()
                    .enumerate()
                    .map(|(j, t)| {
                        let ok = t.get_ref().split_once('/').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && t.get_ref().bytes().all(|c| c.is_ascii_graphic())
                        });
                        if !ok {
                            let msg = format!(
                                "{:?} is not a content type; write e.g. \"application/zip\"",
                                t.get_ref()
                            );
                            self.d.error(t.span(), format!("{}[{j}]", field("mime")), msg);
                        }
                        t.into_inner().to_ascii_lowercase()
                    })
                    .collect()
            });
            let root_dir = self.resolve(root.get_ref());
            if !root_dir.is_dir() {
                self.d.warning(
                    root.span(),
                    field("root"),
                    format!("{} is not a directory", root_dir.display()),
                );
            }
            let key = if r.pattern.is_some() { "pattern" } else { "regex" };
            let shadow =
                rules.iter().find(|e: &&Rule| e.cid == *cid.get_ref() && always_wins(&e.matcher, &matcher));
            if let (Some(earlier), Some(at)) = (shadow, r.pattern.as_ref().or(r.regex.as_ref())) {
                let msg = format!(
                    "never matches: rule {} (line {}) of the same CID comes first and matches every name this one does",
                    crate::display::escape_str(&earlier.name),
                    earlier.line
                );
                self.d.warning(at.span(), field(key), msg);
            }
            rules.push(Rule {
                name,
                line,
                cid: cid.into_inner(),
                matcher,
                root: root_dir,
                program,
                args,
                workdir: r.workdir.map_or_else(|| self.dir.clone(), |w| self.resolve(w.get_ref())),
                env: r.env.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
                tags: r.tags,
                settings,
                recursive: r.recursive.unwrap_or(false),
                sidecar,
                mime,
            });
        }
        rules
    }

    fn matcher(&mut self, i: usize, r: &raw::Rule, span: std::ops::Range<usize>) -> Option<Matcher> {
        match (&r.pattern, &r.regex) {
            (Some(p), None) => {
                let pattern = p.get_ref();
                if pattern.contains('/') {
                    self.d.error(
                        p.span(),
                        format!("rule[{i}].pattern"),
                        "matches the file's base name, so it cannot contain '/'",
                    );
                    return None;
                }
                let built =
                    globset::GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build();
                match built {
                    Ok(glob) => Some(Matcher::Glob { pattern: pattern.clone(), glob }),
                    Err(err) => {
                        self.d.error(
                            p.span(),
                            format!("rule[{i}].pattern"),
                            format!("invalid glob: {}", err.kind()),
                        );
                        None
                    }
                }
            }
            (None, Some(re)) => {
                let anchored = format!("^(?:{})$", re.get_ref());
                match regex::bytes::RegexBuilder::new(&anchored).build() {
                    Ok(regex) => {
                        if let Some(clash) = regex.capture_names().flatten().find(|n| BUILTIN.contains(n)) {
                            let msg = format!(
                                "capture group `{clash}` would hide the builtin placeholder {{{clash}}}"
                            );
                            self.d.error(re.span(), format!("rule[{i}].regex"), msg);
                            return None;
                        }
                        Some(Matcher::Regex { source: re.get_ref().clone(), regex })
                    }
                    Err(err) => {
                        let text = err.to_string();
                        let last = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
                        let msg = last.trim_start_matches("error: ");
                        self.d.error(re.span(), format!("rule[{i}].regex"), format!("invalid regex: {msg}"));
                        None
                    }
                }
            }
            (Some(_), Some(re)) => {
                self.d.error(re.span(), format!("rule[{i}].regex"), "set either pattern or regex, not both");
                None
            }
            (None, None) => {
                self.d.error(span, format!("rule[{i}]"), "missing `pattern` (a glob) or `regex`");
                None
            }
        }
    }

    /// `command`, checked; a bare program name is looked up in `path` (the rule's own `PATH`,
    /// if its `env` sets one) or ours, as the run will.
    fn command(
        &mut self,
        i: usize,
        command: &Spanned<Vec<Text>>,
        captures: &[String],
        path: Option<&str>,
    ) -> Option<(OsString, Vec<Template>)> {
        let Some(first) = command.get_ref().first() else {
            self.d.error(
                command.span(),
                format!("rule[{i}].command"),
                "must name a program: command = [\"/path/to/job\", ...]",
            );
            return None;
        };
        let field0 = format!("rule[{i}].command[0]");
        if first.get_ref().contains(['{', '}']) {
            self.d.error(
                first.span(),
                field0,
                "the program must be a fixed path; placeholders go in the arguments",
            );
            return None;
        }
        let program = if first.get_ref().contains('/') {
            let resolved = self.resolve(first.get_ref());
            if !resolved.exists() {
                self.d.warning(first.span(), field0, format!("{} does not exist", resolved.display()));
            } else if !crate::exec::is_executable(&resolved) {
                self.d.warning(
                    first.span(),
                    field0,
                    format!("{} is not an executable file", resolved.display()),
                );
            }
            resolved.into_os_string()
        } else if first.get_ref().is_empty() {
            self.d.error(first.span(), field0, "must not be empty");
            return None;
        } else {
            let path = path.map(OsString::from).or_else(|| std::env::var_os("PATH"));
            if crate::exec::find_program(first.get_ref().as_ref(), path.as_deref()).is_none() {
                let msg =
                    format!("{} is not in PATH (only its absolute entries are searched)", first.get_ref());
                self.d.warning(first.span(), field0, msg);
            }
            OsString::from(first.get_ref())
        };
        let mut args = Vec::new();
        let mut ok = true;
        for (j, arg) in command.get_ref().iter().enumerate().skip(1) {
            match Template::parse(arg.get_ref(), captures) {
                Ok(t) => args.push(t),
                Err(err) => {
                    self.d.error(arg.span(), format!("rule[{i}].command[{j}]"), err.to_string());
                    ok = false;
                }
            }
        }
        ok.then_some((program, args))
    }

    /// A rule's `sidecar`: a path template over what names the file, known before it is hashed.
    fn sidecar(&mut self, field: &str, raw: Option<&Text>, captures: &[String]) -> Option<Template> {
        let Some(raw) = raw else { return Template::parse(DEFAULT_SIDECAR, &[]).ok() };
        let template = match Template::parse(raw.get_ref(), captures) {
            Ok(template) => template,
            Err(err) => {
                self.d.error(raw.span(), field, err.to_string());
                return None;
            }
        };
        if let Some(late) = template
            .placeholders()
            .find(|p| !SIDECAR_PLACEHOLDERS.contains(p) && !captures.iter().any(|c| c == p))
        {
            let msg = format!(
                "`{{{late}}}` is not known before the file is hashed; a sidecar may use {} and the regex's named groups",
                SIDECAR_PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(" ")
            );
            self.d.error(raw.span(), field, msg);
            return None;
        }
        // Tried on a made-up upload: a fixed path, or the upload itself, is no sidecar.
        let upload = Path::new("/srv/ftp/upload.zip");
        let sample = template.expand(&crate::plan::file_values("cid", upload, &Vec::new()));
        let problem = if template.placeholders().next().is_none() {
            Some("must depend on the file, e.g. \"{file}.md5\" or \"{dir}/MD5SUMS\"")
        } else if upload.parent().map(|dir| dir.join(&sample)).as_deref() == Some(upload) {
            Some("names the file itself; write e.g. \"{file}.md5\"")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.d.error(raw.span(), field, problem);
            return None;
        }
        Some(template)
    }
}

/// Whether a rule with `earlier` before one with `later` (of the same CID) takes every name
/// the later one would: a glob of `*`, or the very same pattern or regex. (Other overlaps
/// cannot be decided this simply, and are left alone.)
fn always_wins(earlier: &Matcher, later: &Matcher) -> bool {
    match (earlier, later) {
        (Matcher::Glob { pattern, .. }, _) if pattern == "*" => true,
        (Matcher::Glob { pattern: a, .. }, Matcher::Glob { pattern: b, .. }) => a == b,
        (Matcher::Regex { source: a, .. }, Matcher::Regex { source: b, .. }) => a == b,
        _ => false,
    }
}
