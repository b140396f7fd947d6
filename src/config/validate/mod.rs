//! Turns config text into a [`Config`], collecting every problem on the way: the sections are
//! split and read here, and the `Validator` checks the settings they share; the rules and the
//! channels are checked in their own modules.

mod channels;
mod rules;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use self::channels::channel;
use self::rules::index;
use super::diag::Diagnostics;
use super::raw::{self, Text};
use super::{
    Config, Diagnostic, Duplicates, Journal, Partials, Scope, Serve, Settings, env_file, read_named_file,
};
use crate::lifecycle::Action;
use crate::template::Template;

/// The raw sections, each deserialized on its own.
#[derive(Default)]
struct Sections {
    journal: raw::Journal,
    serve: raw::Serve,
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

/// Where the pieces of a text that is an excerpt of the config file lie in the file (see
/// `index`), so messages name lines and rules as the file does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Excerpt<'a> {
    /// For each `[[rule]]` the text holds, its position among the file's rules.
    pub rules: &'a [usize],
    /// For each piece, its first line in the text and that line's number in the file.
    pub lines: &'a [(usize, usize)],
}

/// Checks `text`, the config at `path` or an excerpt of it, reading in full the rules `scope`
/// asks for.
pub fn validate(
    path: &Path,
    text: &str,
    scope: Scope<'_>,
    excerpt: Option<Excerpt<'_>>,
) -> Result<Config, Vec<Diagnostic>> {
    let doc = parse(path, text)?;
    validate_parsed(path, text, doc, scope, excerpt)
}

/// Parses `text` as TOML, every syntax error an error of the config.
pub fn parse<'t>(path: &Path, text: &'t str) -> Result<DeTable<'t>, Vec<Diagnostic>> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if syntax.is_empty() {
        return Ok(doc.into_inner());
    }
    let mut d = Diagnostics::new(path, text);
    for err in &syntax {
        d.error(err.span().unwrap_or(0..0), "toml", err.message().trim_end().replace('\n', " "));
    }
    Err(d.found)
}

/// [`validate`] of a config already parsed into `doc`.
pub fn validate_parsed(
    path: &Path,
    text: &str,
    doc: DeTable<'_>,
    scope: Scope<'_>,
    excerpt: Option<Excerpt<'_>>,
) -> Result<Config, Vec<Diagnostic>> {
    let excerpt = excerpt.unwrap_or_default();
    let mut d = Diagnostics::of_excerpt(path, text, excerpt.lines);
    let numbers = (!excerpt.rules.is_empty()).then_some(excerpt.rules);
    let sections = split_sections(&mut d, doc, scope, numbers);
    let dir = config_dir(path);
    let mut v = Validator { d, dir, env_files: BTreeMap::new(), secrets_file: None };
    let names: Vec<String> = sections.channels.iter().map(|(n, _)| n.get_ref().clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let defaults = v.settings("defaults", sections.defaults, &Settings::default(), &names, &[]);
    let rules = v.rules(sections.rules, &defaults, &names);
    v.secrets_file = defaults.env_file.clone();
    // After `[defaults] env_file` is known: a password kept there is no unset variable.
    let journal = v.journal(sections.journal);
    let channels = v.channels(sections.channels);
    let serve = v.serve(sections.serve);
    v.d.found.sort_by_key(|p| (p.line, p.col));
    if v.d.has_errors() {
        return Err(v.d.found);
    }
    let (warnings, env_files) = (v.d.found, v.env_files);
    let by_cid = index(&rules);
    Ok(Config {
        path: path.to_owned(),
        journal,
        serve,
        defaults,
        rules,
        by_cid,
        channels,
        env_files,
        warnings,
    })
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
            "serve" => s.serve = section(d, "serve", value).unwrap_or_default(),
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
                "unknown section; expected [journal], [defaults], [[rule]], [channel.NAME] or [serve]",
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
        if let (Some(path), Some(_)) = (&raw.path, &raw.url) {
            self.d.error(path.span(), "journal.path", "set path (SQLite) or url (PostgreSQL), not both");
        }
        let url = raw.url.as_ref().map(|url| {
            let text = url.get_ref();
            if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                self.d.error(url.span(), "journal.url", "expected a postgres:// or postgresql:// URL");
            } else if let Some(why) = crate::journal::pg::url_problem(text) {
                self.d.error(url.span(), "journal.url", why);
            }
            if text.split_once("://").is_some_and(|(_, rest)| {
                rest.split('@').next().is_some_and(|u| u.contains(':')) && rest.contains('@')
            }) {
                self.d.error(
                    url.span(),
                    "journal.url",
                    "holds a password: put it in the variable password_env names",
                );
            }
            text.clone()
        });
        let host = raw.host.as_ref().map(|host| {
            let text = host.get_ref();
            if text.is_empty() || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
                self.d.error(
                    host.span(),
                    "journal.host",
                    "a host name: not empty, no blanks or control characters",
                );
            }
            text.clone()
        });
        Journal {
            path: raw.path.map(|p| self.resolve(p.get_ref())),
            url,
            password_env: self.env_name("journal.password_env", raw.password_env.as_ref()),
            host,
            retention,
        }
    }

    fn serve(&mut self, raw: raw::Serve) -> Serve {
        let default = Serve::default();
        let listen = match &raw.listen {
            None => default.listen,
            Some(text) => text.get_ref().parse().unwrap_or_else(|_| {
                let msg =
                    format!("{:?} is not an address and port; write e.g. 127.0.0.1:8750", text.get_ref());
                self.d.error(text.span(), "serve.listen", msg);
                default.listen
            }),
        };
        let base_path = match &raw.base_path {
            None => default.base_path,
            Some(text) => {
                let path = text.get_ref().trim_end_matches('/');
                let clean = path.is_empty()
                    || (path.starts_with('/')
                        && path[1..].split('/').all(|p| !p.is_empty() && p != "." && p != "..")
                        && path.bytes().all(|b| b.is_ascii_graphic() && !b"?#%{}".contains(&b)));
                if !clean {
                    let msg = format!("{:?} is not a URL path; write e.g. /infosync/v1", text.get_ref());
                    self.d.error(text.span(), "serve.base_path", msg);
                }
                path.to_owned()
            }
        };
        let workers = match raw.workers {
            None => default.workers,
            Some(w) if (1..=256).contains(w.get_ref()) => *w.get_ref() as usize,
            Some(w) => {
                self.d.error(w.span(), "serve.workers", "between 1 and 256");
                default.workers
            }
        };
        let every = |v: &mut Self, key: &str, raw: Option<&Text>| {
            raw.map(|r| v.positive(&format!("serve.{key}"), Some(r), Duration::from_secs(60)))
        };
        Serve {
            listen,
            base_path,
            token_env: self.env_name("serve.token_env", raw.token_env.as_ref()),
            workers,
            scan_every: every(self, "scan_every", raw.scan_every.as_ref()),
            flush_every: every(self, "flush_every", raw.flush_every.as_ref()),
            shutdown_grace: self.duration(
                "serve.shutdown_grace",
                raw.shutdown_grace.as_ref(),
                default.shutdown_grace,
            ),
            callback_secret_env: self.env_name("serve.callback_secret_env", raw.callback_secret_env.as_ref()),
        }
    }

    fn settings(
        &mut self,
        prefix: &str,
        raw: raw::Settings,
        parent: &Settings,
        channels: &[&str],
        captures: &[String],
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
            partials: match raw.partials {
                None => parent.partials.clone(),
                Some(patterns) => {
                    let spans: Vec<_> = patterns.iter().map(|p| p.span()).collect();
                    match Partials::new(patterns.into_iter().map(Spanned::into_inner).collect()) {
                        Ok(partials) => partials,
                        Err((i, why)) => {
                            let span = spans.get(i).cloned().unwrap_or(0..0);
                            self.d.error(
                                span,
                                format!("{}[{i}]", field("partials")),
                                format!("not a glob: {why}"),
                            );
                            parent.partials.clone()
                        }
                    }
                }
            },
            partials_after: self.positive(
                &field("partials_after"),
                raw.partials_after.as_ref(),
                parent.partials_after,
            ),
            on_success: match raw.on_success {
                None => parent.on_success.clone(),
                Some(action) => self.action(&field("on_success"), action, captures),
            },
            on_failure: match raw.on_failure {
                None => parent.on_failure.clone(),
                Some(action) => self.action(&field("on_failure"), action, captures),
            },
        }
    }

    /// An `on_success` / `on_failure`: a `move_to` that stays inside the root, `delete`, or
    /// `{}` to leave the upload where it is (overriding `[defaults]`).
    fn action(&mut self, field: &str, raw: Spanned<raw::Action>, captures: &[String]) -> Option<Action> {
        let span = raw.span();
        let raw = raw.into_inner();
        let delete = raw.delete.as_ref().is_some_and(|d| *d.get_ref());
        match (raw.move_to, delete) {
            (Some(_), true) => {
                self.d.error(span, field, "either move_to or delete = true, not both");
                None
            }
            (None, true) => Some(Action::Delete),
            (None, false) => None,
            (Some(dir), false) => {
                let field = format!("{field}.move_to");
                let mut known = captures.to_vec();
                known.push("date".to_owned());
                let template = match Template::parse(dir.get_ref(), &known) {
                    Ok(template) => template,
                    Err(err) => {
                        self.d.error(dir.span(), field, err.to_string());
                        return None;
                    }
                };
                let absolute = template.placeholders().find(|p| {
                    !crate::lifecycle::MOVE_PLACEHOLDERS.contains(p) && !captures.iter().any(|c| c == p)
                });
                let text = dir.get_ref();
                let problem = if let Some(p) = absolute {
                    Some(format!("`{{{p}}}` is a path; move_to is a directory relative to the rule's root"))
                } else if text.starts_with('/') {
                    Some(format!("{text:?} is absolute; move_to is a directory relative to the rule's root"))
                } else if text.split('/').any(|part| part == "..") {
                    Some(format!("{text:?} leaves the root; move_to must stay inside it (no `..`)"))
                } else if text.split('/').all(|part| part.is_empty() || part == ".") {
                    Some(format!("{text:?} is the root itself; name a directory inside it, e.g. \"done\""))
                } else {
                    None
                };
                match problem {
                    Some(problem) => {
                        self.d.error(dir.span(), field, problem);
                        None
                    }
                    None => Some(Action::MoveTo(template)),
                }
            }
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
        let (text, mode) = match read_named_file(&path) {
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

    /// Relative paths in the config are relative to the config file, so a config and the
    /// tree beside it work wherever they are checked out.
    fn resolve(&self, path: &str) -> PathBuf {
        // components() drops the `.` in `./job`, so messages show a clean path.
        self.dir.join(path).components().collect()
    }
}

/// The absolute directory of the config file: relative paths in it are anchored there, not
/// at the caller's working directory (which for an FTP hook is anybody's guess).
pub(super) fn config_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent.canonicalize().or_else(|_| std::path::absolute(parent)).unwrap_or_else(|_| parent.to_owned())
}
