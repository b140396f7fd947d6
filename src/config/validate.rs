//! Turns config text into a [`Config`], collecting every problem on the way.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::Diagnostics;
use super::raw::{self, Text};
use super::{
    Channel, CidRules, Config, Diagnostic, Duplicates, Email, EmailTransport, Journal, Matcher, Rule, Scope,
    Settings, Webhook, env_file,
};
use crate::template::{BUILTIN, Template};

/// Headers ftptrigger sets on every webhook request; a channel may not override them, or a
/// receiver could no longer trust the event, delivery id or signature.
const RESERVED_HEADERS: &[&str] = &["content-type", "content-length", "user-agent", "authorization", "host"];

/// Where `scan` looks for a file's MD5 when the rule does not say.
const DEFAULT_SIDECAR: &str = "{file}.md5";

/// What a `sidecar` template may use besides the rule's regex captures.
const SIDECAR_PLACEHOLDERS: &[&str] = &["file", "dir", "filename", "stem", "ext", "cid"];

/// A webhook's retries happen while the run waits; more than this belongs to the outbox.
const MAX_RETRIES: u32 = 10;

/// The raw sections, each deserialized on its own.
#[derive(Default)]
struct Sections {
    journal: raw::Journal,
    defaults: raw::Settings,
    rules: Vec<RuleAt>,
    channels: Vec<(Text, RawChannel)>,
}

/// A rule as written, with its position among all `[[rule]]` tables (kept even when an
/// earlier one could not be read, so `rule[3]` in a message is the fourth rule in the file).
struct RuleAt {
    index: usize,
    span: Range<usize>,
    rule: raw::Rule,
}

enum RawChannel {
    Email(raw::Email),
    Webhook(raw::Webhook),
}

/// Checks `text`, the config at `path`, reading in full the rules `scope` asks for. When `text`
/// holds only some of the file's `[[rule]]` tables (see `prescan`), `numbers` gives the index
/// in the file of each one it holds, so messages name rules as the file does.
pub fn validate(
    path: &Path,
    text: &str,
    scope: Scope<'_>,
    numbers: Option<&[usize]>,
) -> Result<Config, Vec<Diagnostic>> {
    let mut d = Diagnostics::new(path, text);
    let (doc, syntax) = DeTable::parse_recoverable(text);
    for err in &syntax {
        d.error(err.span().unwrap_or(0..0), "toml", err.message().trim_end().replace('\n', " "));
    }
    if !syntax.is_empty() {
        return Err(d.found);
    }
    let sections = split_sections(&mut d, doc.into_inner(), scope, numbers);
    let dir = config_dir(path);
    let mut v = Validator { d, dir, env_files: BTreeMap::new(), secrets_file: None };
    let names: Vec<String> = sections.channels.iter().map(|(n, _)| n.get_ref().clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let journal = v.journal(sections.journal);
    let defaults = v.settings("defaults", sections.defaults, &Settings::default(), &names);
    let rules = v.rules(sections.rules, &defaults, &names);
    v.secrets_file = defaults.env_file.clone();
    let channels = v.channels(sections.channels);
    v.d.found.sort_by_key(|p| (p.line, p.col));
    if v.d.has_errors() {
        return Err(v.d.found);
    }
    let (warnings, env_files) = (v.d.found, v.env_files);
    let by_cid = index(&rules);
    Ok(Config { path: path.to_owned(), journal, defaults, rules, by_cid, channels, env_files, warnings })
}

/// Groups the rules by CID and compiles each CID's globs into one set.
fn index(rules: &[Rule]) -> HashMap<String, CidRules> {
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

fn split_sections(
    d: &mut Diagnostics<'_>,
    doc: DeTable<'_>,
    scope: Scope<'_>,
    numbers: Option<&[usize]>,
) -> Sections {
    let mut s = Sections::default();
    for (key, value) in doc {
        match key.get_ref().as_ref() {
            "journal" => s.journal = section(d, "journal", value).unwrap_or_default(),
            "defaults" => s.defaults = section(d, "defaults", value).unwrap_or_default(),
            "rule" => match value.get_ref() {
                DeValue::Array(items) => {
                    debug_assert!(numbers.is_none_or(|n| n.len() == items.len()));
                    for (index, item) in items.iter().enumerate() {
                        if !in_scope(item, scope) {
                            continue;
                        }
                        let index = numbers.and_then(|n| n.get(index).copied()).unwrap_or(index);
                        if let Some(rule) = section(d, &format!("rule[{index}]"), item.clone()) {
                            s.rules.push(RuleAt { index, span: item.span(), rule });
                        }
                    }
                }
                _ => {
                    d.error(value.span(), "rule", "rules are an array of tables: write [[rule]], not [rule]")
                }
            },
            "channel" => match value.get_ref() {
                DeValue::Table(table) => {
                    for (name, ch) in table {
                        let field = format!("channel.{}", name.get_ref());
                        if let Some(parsed) = channel(d, &field, ch) {
                            let name = Spanned::new(name.span(), name.get_ref().to_string());
                            s.channels.push((name, parsed));
                        }
                    }
                }
                _ => d.error(value.span(), "channel", "channels are tables: write [channel.NAME]"),
            },
            other => d.error(
                key.span(),
                other,
                "unknown section; expected [journal], [defaults], [[rule]] or [channel.NAME]",
            ),
        }
    }
    s
}

/// False only for a rule whose `cid` is plainly another customer's: anything odd about the
/// `cid` is read in full, so its problem is reported.
fn in_scope(rule: &Spanned<DeValue<'_>>, scope: Scope<'_>) -> bool {
    let Scope::Cid(wanted) = scope else { return true };
    let cid = rule.get_ref().as_table().and_then(|t| t.get("cid")).and_then(|c| c.get_ref().as_str());
    cid.is_none_or(|cid| cid == wanted)
}

/// Deserializes one section. serde stops at the first bad key, so after each error the key
/// that holds it is removed and the section read again: every bad key is reported, and the
/// rest of the section is still checked. Gives up when the error is not inside one key (a
/// missing required field).
fn section<T: DeserializeOwned>(
    d: &mut Diagnostics<'_>,
    name: &str,
    mut value: Spanned<DeValue<'_>>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) => return Some(parsed),
            Err(err) => err,
        };
        // A required key we removed ourselves was already reported with its real problem.
        if removed.iter().any(|k| err.message().starts_with(&format!("missing field `{k}`"))) {
            return None;
        }
        d.serde(&err, name, &value);
        let at = err.span()?.start;
        let DeValue::Table(table) = value.get_mut() else { return None };
        let key = table
            .iter()
            .find(|(k, v)| k.span().contains(&at) || v.span().contains(&at))
            .map(|(k, _)| k.get_ref().to_string())?;
        table.remove(key.as_str());
        removed.push(key);
    }
}

fn channel(d: &mut Diagnostics<'_>, field: &str, value: &Spanned<DeValue<'_>>) -> Option<RawChannel> {
    let kind = match value.get_ref() {
        DeValue::Table(t) => t.get("type").map(|k| (k.get_ref().as_str().map(str::to_owned), k.span())),
        _ => {
            d.error(value.span(), field, "a channel is a table: write [channel.NAME]");
            return None;
        }
    };
    match kind {
        Some((Some(k), _)) if k == "email" => section(d, field, value.clone()).map(RawChannel::Email),
        Some((Some(k), _)) if k == "webhook" => section(d, field, value.clone()).map(RawChannel::Webhook),
        Some((_, span)) => {
            d.error(span, format!("{field}.type"), "unknown channel type; expected \"email\" or \"webhook\"");
            None
        }
        None => {
            d.error(value.span(), format!("{field}.type"), "missing `type` (\"email\" or \"webhook\")");
            None
        }
    }
}

struct Validator<'a> {
    d: Diagnostics<'a>,
    dir: PathBuf,
    env_files: BTreeMap<PathBuf, BTreeMap<String, String>>,
    /// The `[defaults]` env_file, where channel secrets are looked up.
    secrets_file: Option<PathBuf>,
}

impl Validator<'_> {
    fn journal(&mut self, raw: raw::Journal) -> Journal {
        let retention =
            self.duration("journal.retention", raw.retention.as_ref(), Duration::from_secs(90 * 86400));
        Journal { path: raw.path.map(|p| self.resolve(p.get_ref())), retention }
    }

    fn settings(
        &mut self,
        prefix: &str,
        raw: raw::Settings,
        parent: &Settings,
        channels: &[&str],
    ) -> Settings {
        let field = |key: &str| format!("{prefix}.{key}");
        let timeout = self.positive(&field("timeout"), raw.timeout.as_ref(), parent.timeout);
        let duplicates = match raw.duplicates.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
            None => parent.duplicates,
            Some(("skip", _)) => Duplicates::Skip,
            Some(("run", _)) => Duplicates::Run,
            Some((_, span)) => {
                self.d.error(span, field("duplicates"), "expected \"skip\" or \"run\"");
                parent.duplicates
            }
        };
        Settings {
            timeout,
            kill_grace: self.duration(&field("kill_grace"), raw.kill_grace.as_ref(), parent.kill_grace),
            lock_wait: self.duration(&field("lock_wait"), raw.lock_wait.as_ref(), parent.lock_wait),
            duplicates,
            notify: self.channel_list(&field("notify"), raw.notify, &parent.notify, channels),
            notify_success: self.channel_list(
                &field("notify_success"),
                raw.notify_success,
                &parent.notify_success,
                channels,
            ),
            env_file: match raw.env_file {
                Some(p) => self.env_file(&field("env_file"), &p),
                None => parent.env_file.clone(),
            },
            settle: self.duration(&field("settle"), raw.settle.as_ref(), parent.settle),
            sidecar_wait: self.positive(
                &field("sidecar_wait"),
                raw.sidecar_wait.as_ref(),
                parent.sidecar_wait,
            ),
        }
    }

    fn duration(&mut self, field: &str, raw: Option<&Text>, default: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) => d,
            Err(err) => {
                let msg = format!("invalid duration {:?}: {err}; write e.g. 90s, 10m, 1h30m", raw.get_ref());
                self.d.error(raw.span(), field, msg);
                default
            }
        }
    }

    /// A duration that must not be zero (a zero timeout would fail every attempt at once).
    fn positive(&mut self, field: &str, raw: Option<&Text>, default: Duration) -> Duration {
        let value = self.duration(field, raw, default);
        match raw {
            Some(raw) if value.is_zero() => {
                self.d.error(raw.span(), field, "must be longer than 0s");
                default
            }
            _ => value,
        }
    }

    fn channel_list(
        &mut self,
        field: &str,
        raw: Option<Vec<Text>>,
        parent: &[String],
        known: &[&str],
    ) -> Vec<String> {
        let Some(raw) = raw else { return parent.to_vec() };
        for (i, name) in raw.iter().enumerate() {
            if !known.contains(&name.get_ref().as_str()) {
                let defined = if known.is_empty() {
                    "none are defined".to_owned()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                self.d.error(
                    name.span(),
                    format!("{field}[{i}]"),
                    format!("unknown channel {:?}; {defined}", name.get_ref()),
                );
            }
        }
        raw.into_iter().map(Spanned::into_inner).collect()
    }

    fn env_file(&mut self, field: &str, raw: &Text) -> Option<PathBuf> {
        let path = self.resolve(raw.get_ref());
        if self.env_files.contains_key(&path) {
            return Some(path);
        }
        let (text, mode) = match env_file::read(&path) {
            Ok(read) => read,
            Err(err) => {
                self.d.error(raw.span(), field, format!("cannot read {}: {err}", path.display()));
                return None;
            }
        };
        if mode & 0o004 != 0 {
            let msg =
                format!("{} holds secrets but is readable by everyone (mode {mode:04o})", path.display());
            self.d.warning(raw.span(), field, msg);
        }
        match env_file::parse(&text) {
            Ok(vars) => {
                self.env_files.insert(path.clone(), vars);
                Some(path)
            }
            Err(err) => {
                self.d.error(raw.span(), field, format!("{}: {err}", path.display()));
                None
            }
        }
    }

    fn rules(&mut self, raw: Vec<RuleAt>, defaults: &Settings, channels: &[&str]) -> Vec<Rule> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(raw.len());
        for RuleAt { index: i, span, rule: mut r } in raw {
            let field = |key: &str| format!("rule[{i}].{key}");
            let (line, _) = self.d.position(span.start);
            let settings = self.settings(&format!("rule[{i}]"), r.settings(), defaults, channels);
            if r.cid.get_ref().is_empty() || r.cid.get_ref().chars().any(|c| c.is_control() || c == '/') {
                self.d.error(
                    r.cid.span(),
                    field("cid"),
                    "must be non-empty, without '/' or control characters",
                );
            }
            let matcher = self.matcher(i, &r, span.clone());
            let cid = r.cid.get_ref();
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
            let captures: Vec<String> = match &matcher {
                Some(Matcher::Regex { regex, .. }) => {
                    regex.capture_names().flatten().map(str::to_owned).collect()
                }
                // Without a valid regex its capture names are unknown: checking the
                // placeholders against none would only add noise.
                None if r.regex.is_some() => continue,
                _ => Vec::new(),
            };
            let command = self.command(i, &r.command, &captures);
            let sidecar = self.sidecar(&field("sidecar"), r.sidecar.as_ref(), &captures);
            let (Some(matcher), Some((program, args)), Some(sidecar)) = (matcher, command, sidecar) else {
                continue;
            };
            for key in r.env.keys() {
                if !super::is_env_name(key.get_ref()) || key.get_ref().starts_with("FTPTRIGGER_") {
                    let msg = "must be a variable name (letters, digits, _) and not start with FTPTRIGGER_";
                    self.d.error(key.span(), format!("rule[{i}].env.{}", key.get_ref()), msg);
                }
            }
            rules.push(Rule {
                name,
                line,
                cid: r.cid.into_inner(),
                matcher,
                root: self.resolve(r.root.get_ref()),
                program,
                args,
                workdir: r.workdir.map(|w| self.resolve(w.get_ref())),
                env: r.env.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
                tags: r.tags,
                settings,
                recursive: r.recursive.unwrap_or(false),
                sidecar,
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

    fn command(
        &mut self,
        i: usize,
        command: &Spanned<Vec<Text>>,
        captures: &[String],
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
            if !is_executable(&resolved) {
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

    fn channels(&mut self, raw: Vec<(Text, RawChannel)>) -> BTreeMap<String, Channel> {
        let mut channels = BTreeMap::new();
        for (name, ch) in raw {
            let field = |key: &str| format!("channel.{}.{key}", name.get_ref());
            let parsed = match ch {
                RawChannel::Email(e) => self.email(&field, e).map(Channel::Email),
                RawChannel::Webhook(w) => self.webhook(&field, w).map(Channel::Webhook),
            };
            if let Some(parsed) = parsed {
                channels.insert(name.into_inner(), parsed);
            }
        }
        channels
    }

    fn email(&mut self, field: &dyn Fn(&str) -> String, e: raw::Email) -> Option<Email> {
        let _ = e.kind;
        let transport = match (&e.smtp, e.transport.as_ref().map(|t| (t.get_ref().as_str(), t.span()))) {
            (Some(url), None | Some(("smtp", _))) => {
                let ok = ["smtp://", "smtps://", "smtp+plain://"]
                    .iter()
                    .any(|s| url.get_ref().strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
                if !ok {
                    self.d.error(url.span(), field("smtp"), "expected smtp://HOST[:PORT] (STARTTLS), smtps://HOST[:PORT] (TLS) or smtp+plain://HOST[:PORT] (no TLS)");
                }
                EmailTransport::Smtp(url.get_ref().clone())
            }
            (None, Some(("sendmail", _))) => EmailTransport::Sendmail,
            (Some(url), Some(("sendmail", _))) => {
                self.d.error(
                    url.span(),
                    field("smtp"),
                    "set either smtp or transport = \"sendmail\", not both",
                );
                EmailTransport::Sendmail
            }
            (_, Some((_, span))) => {
                self.d.error(span, field("transport"), "expected \"smtp\" or \"sendmail\"");
                EmailTransport::Sendmail
            }
            (None, None) => {
                self.d.error(
                    e.from.span(),
                    field("smtp"),
                    "missing `smtp = \"smtp://HOST:587\"` or `transport = \"sendmail\"`",
                );
                EmailTransport::Sendmail
            }
        };
        self.address(&field("from"), &e.from);
        if e.to.get_ref().is_empty() {
            self.d.error(e.to.span(), field("to"), "needs at least one address");
        }
        for (i, to) in e.to.get_ref().iter().enumerate() {
            self.address(&format!("{}[{i}]", field("to")), to);
        }
        if let (Some(p), None) = (&e.password_env, &e.username) {
            self.d.error(
                p.span(),
                field("password_env"),
                "set `username` too: both are needed for SMTP AUTH",
            );
        }
        let password_env = self.env_name(&field("password_env"), e.password_env.as_ref());
        Some(Email {
            transport,
            from: e.from.into_inner(),
            to: e.to.into_inner().into_iter().map(Spanned::into_inner).collect(),
            username: e.username,
            password_env,
            timeout: self.positive(&field("timeout"), e.timeout.as_ref(), Duration::from_secs(30)),
        })
    }

    fn address(&mut self, field: &str, addr: &Text) {
        let a = addr.get_ref();
        let bare = a.rsplit_once('<').map_or(a.as_str(), |(_, r)| r.trim_end_matches('>'));
        if !bare.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()) {
            self.d.error(addr.span(), field, format!("{a:?} is not an email address"));
        }
    }

    fn webhook(&mut self, field: &dyn Fn(&str) -> String, w: raw::Webhook) -> Option<Webhook> {
        let _ = w.kind;
        let url = w.url.get_ref();
        let ok =
            ["http://", "https://"].iter().any(|s| url.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
        if !ok {
            self.d.error(w.url.span(), field("url"), "expected an http:// or https:// URL");
        }
        for name in w.headers.keys() {
            let valid = !name.get_ref().is_empty()
                && name
                    .get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let lower = name.get_ref().to_ascii_lowercase();
            let problem = if !valid {
                Some("not a valid HTTP header name")
            } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-ftptrigger-") {
                Some("set by ftptrigger itself (Content-Type, User-Agent, Authorization, X-Ftptrigger-*)")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.d.error(name.span(), format!("{}.{}", field("headers"), name.get_ref()), problem);
            }
        }
        Some(Webhook {
            url: url.clone(),
            secret_env: self.env_name(&field("secret_env"), w.secret_env.as_ref()),
            bearer_token_env: self.env_name(&field("bearer_token_env"), w.bearer_token_env.as_ref()),
            headers: w.headers.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
            timeout: self.positive(&field("timeout"), w.timeout.as_ref(), Duration::from_secs(10)),
            retries: match w.retries {
                Some(r) if *r.get_ref() > MAX_RETRIES => {
                    let msg = format!(
                        "at most {MAX_RETRIES}: the run waits for every attempt (the outbox retries later)"
                    );
                    self.d.error(r.span(), field("retries"), msg);
                    MAX_RETRIES
                }
                Some(r) => r.into_inner(),
                None => 3,
            },
        })
    }

    fn env_name(&mut self, field: &str, raw: Option<&Text>) -> Option<String> {
        let raw = raw?;
        if !super::is_env_name(raw.get_ref()) {
            self.d.error(
                raw.span(),
                field,
                format!("{:?} is not an environment variable name", raw.get_ref()),
            );
        }
        // Unset now may be set for the real run (a systemd unit's Environment=), so only warn.
        let in_file =
            |f: &PathBuf| self.env_files.get(f).is_some_and(|vars| vars.contains_key(raw.get_ref()));
        if std::env::var_os(raw.get_ref()).is_none() && !self.secrets_file.as_ref().is_some_and(in_file) {
            let msg =
                format!("{} is set neither in the environment nor in [defaults] env_file", raw.get_ref());
            self.d.warning(raw.span(), field, msg);
        }
        Some(raw.get_ref().clone())
    }

    /// Relative paths in the config are relative to the config file, so a config and the
    /// tree beside it work wherever they are checked out.
    fn resolve(&self, path: &str) -> PathBuf {
        // components() drops the `.` in `./job`, so messages show a clean path.
        self.dir.join(path).components().collect()
    }
}

/// The absolute directory of the config file: relative paths in it are anchored there, not
/// at the caller's working directory (which for an FTP hook is anybody's guess).
fn config_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent.canonicalize().or_else(|_| std::path::absolute(parent)).unwrap_or_else(|_| parent.to_owned())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
