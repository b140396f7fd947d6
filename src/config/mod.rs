//! The configuration file: where it is found, how it is checked, and the typed settings the
//! rest of the program sees.
//!
//! Loading never stops at the first problem: every section is checked on its own and every
//! problem is reported with its line and column, so an operator fixes a config in one pass.

mod diag;
mod env_file;
mod index;
mod raw;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diag::{Diagnostic, Severity};
pub use env_file::is_env_name;

use crate::lifecycle::Action;
use crate::regular_file::{self, Links, ReadError};
use crate::template::Template;

/// The config used when neither `--config` nor `$FTPTRIGGER_CONFIG` names one. Never a path
/// in the working directory: an FTP server runs its hooks inside the customer's upload
/// directory, where a customer could place a config whose `command` is theirs.
pub const SYSTEM_PATH: &str = "/etc/ftptrigger/ftpscanner.cfg";

/// A loaded, valid configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    pub journal: Journal,
    pub serve: Serve,
    pub defaults: Settings,
    pub rules: Vec<Rule>,
    /// The rules of each CID, for lookups that do not grow with the number of customers.
    pub by_cid: HashMap<String, CidRules>,
    pub channels: BTreeMap<String, Channel>,
    /// Variables from every `env_file`, by file, for `*_env` lookups.
    pub env_files: BTreeMap<PathBuf, BTreeMap<String, String>>,
    /// Problems that do not stop a run (an unset secret variable); `check` prints them.
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct Journal {
    /// `None` means the default location in the user's state directory.
    pub path: Option<PathBuf>,
    /// A PostgreSQL journal, shared by several hosts, instead of the SQLite file.
    pub url: Option<String>,
    /// The variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// This host's name in runs; `None`: the machine's host name.
    pub host: Option<String>,
    pub retention: Duration,
}

impl Journal {
    /// This host's name in runs and payloads.
    pub fn host(&self) -> String {
        self.host.clone().unwrap_or_else(crate::report::host)
    }
}

/// `[serve]`, for `ftptrigger serve`.
#[derive(Debug, Clone)]
pub struct Serve {
    pub listen: std::net::SocketAddr,
    /// The prefix of every route: empty, or `/` and more, without a trailing `/`.
    pub base_path: String,
    /// The variable that holds the bearer token clients must send.
    pub token_env: Option<String>,
    /// Runs at once; more accepted runs wait, queued.
    pub workers: usize,
    pub scan_every: Option<Duration>,
    pub flush_every: Option<Duration>,
    pub shutdown_grace: Duration,
    /// The variable holding the key event callbacks are signed with, whichever entry point
    /// fires them.
    pub callback_secret_env: Option<String>,
}

impl Default for Serve {
    fn default() -> Serve {
        Serve {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8750)),
            base_path: String::new(),
            token_env: None,
            workers: 4,
            scan_every: None,
            flush_every: None,
            shutdown_grace: Duration::from_secs(30),
            callback_secret_env: None,
        }
    }
}

/// The keys of `[defaults]`, resolved for one rule.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub kill_grace: Duration,
    pub lock_wait: Duration,
    pub duplicates: Duplicates,
    pub notify: Vec<String>,
    pub notify_success: Vec<String>,
    pub env_file: Option<PathBuf>,
    /// `scan` leaves a file (and its sidecar) alone until neither changed for this long.
    pub settle: Duration,
    /// `scan` reports a file still without its sidecar, or a sidecar still without its file,
    /// once it is this old.
    pub sidecar_wait: Duration,
    /// `scan` removes files with these names (abandoned partial uploads) once untouched for
    /// `partials_after`.
    pub partials: Partials,
    pub partials_after: Duration,
    /// What happens to the upload after a successful run; `None`: it stays.
    pub on_success: Option<Action>,
    /// ... and after a failed one (see [`crate::lifecycle`] for which failures).
    pub on_failure: Option<Action>,
}

/// Glob patterns of the names FTP servers give uploads in progress.
#[derive(Debug, Clone)]
pub struct Partials {
    pub patterns: Vec<String>,
    pub set: globset::GlobSet,
}

impl Partials {
    /// The set of `patterns`, or the first pattern that is not a glob.
    pub fn new(patterns: Vec<String>) -> Result<Partials, (usize, String)> {
        let mut builder = globset::GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| (i, e.to_string()))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| (0, e.to_string()))?;
        Ok(Partials { patterns, set })
    }
}

impl Default for Partials {
    fn default() -> Partials {
        let patterns = [".pureftpd-upload.*", "*.part", "*.filepart"].map(str::to_owned).to_vec();
        Partials::new(patterns)
            .unwrap_or_else(|_| Partials { patterns: Vec::new(), set: globset::GlobSet::empty() })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(3600),
            kill_grace: Duration::from_secs(10),
            lock_wait: Duration::from_secs(600),
            duplicates: Duplicates::Skip,
            notify: Vec::new(),
            notify_success: Vec::new(),
            env_file: None,
            settle: Duration::from_secs(30),
            sidecar_wait: Duration::from_secs(24 * 3600),
            partials: Partials::default(),
            partials_after: Duration::from_secs(24 * 3600),
            on_success: None,
            on_failure: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    Skip,
    Run,
}

/// One `[[rule]]`.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// Line of the rule in the config file, for `explain`.
    pub line: usize,
    pub cid: String,
    pub matcher: Matcher,
    pub root: PathBuf,
    /// `command[0]`, resolved: absolute, or a bare name looked up in `PATH` when the job starts.
    pub program: OsString,
    /// `command[1..]`.
    pub args: Vec<Template>,
    /// `workdir`, else the config's directory: never the caller's working directory, which
    /// for an FTP hook is the customer's upload directory.
    pub workdir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub settings: Settings,
    /// `scan` walks the root's subdirectories too (never through symlinks).
    pub recursive: bool,
    /// Where `scan` finds a file's MD5 sidecar: a path template over the file's placeholders,
    /// relative to the file's directory unless absolute. Default `{file}.md5`.
    pub sidecar: Template,
    /// The content types the rule accepts, sniffed from the file's first bytes; `None`: any.
    pub mime: Option<Vec<String>>,
}

/// The rules of one CID, in config order, with all their globs compiled into one set: one
/// pass over the name tells which of them match.
#[derive(Debug)]
pub struct CidRules {
    /// Indexes into [`Config::rules`], in config order.
    pub rules: Vec<usize>,
    pub globs: globset::GlobSet,
    /// For each glob in `globs`, the index of its rule.
    pub glob_rules: Vec<usize>,
}

/// How a rule recognises a file by its base name.
#[derive(Debug)]
pub enum Matcher {
    /// Matched through its CID's [`CidRules::globs`].
    Glob { pattern: String, glob: globset::Glob },
    /// Anchored: the regex must match the whole name.
    Regex { source: String, regex: regex::bytes::Regex },
}

impl Matcher {
    /// `glob ACME_*.zip` / `regex ^ACME_(?P<cycle>\d{8})\.zip$`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Glob { pattern, .. } => format!("glob {pattern}"),
            Matcher::Regex { source, .. } => format!("regex {source}"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Channel {
    Email(Email),
    Webhook(Webhook),
}

#[derive(Debug, Clone)]
pub enum EmailTransport {
    Smtp(SmtpServer),
    Sendmail,
}

/// `smtp://HOST[:PORT]`, as read at load time, so a URL sending would reject is a config error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub security: SmtpSecurity,
    /// A name or an IP address (an IPv6 one without its brackets).
    pub host: String,
    /// `None`: the scheme's standard port (587 for STARTTLS, 465 for TLS, 25 without).
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp+plain://`: no TLS, for a relay on localhost.
    Plain,
}

#[derive(Debug, Clone)]
pub struct Email {
    pub transport: EmailTransport,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub timeout: Duration,
    /// `ca_file`: the server's certificate must chain to one of these, not to a public CA.
    pub ca: Option<TrustedCa>,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret_env: Option<String>,
    pub bearer_token_env: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
    pub retries: u32,
    /// `ca_file`: the server's certificate must chain to one of these, not to a public CA.
    pub ca: Option<TrustedCa>,
    /// Where the bearer token comes from when `bearer_token_env` does not give one.
    pub oauth2: Option<OAuth2>,
}

/// A webhook's `oauth2`: its bearer token by the client-credentials grant (RFC 6749 §4.4).
#[derive(Debug, Clone)]
pub struct OAuth2 {
    pub token_url: String,
    pub client_id: String,
    /// The variable that holds the client secret.
    pub client_secret_env: String,
    pub scope: Option<String>,
}

/// The certificate authorities of a `ca_file` (PEM), for a server with a private CA.
#[derive(Debug, Clone)]
pub struct TrustedCa {
    pub path: PathBuf,
    /// Each certificate, DER-encoded.
    pub certs: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config file found; tried {}{} (pass --config, or start from ftpscanner.cfg.example)", .tried.display(), if *.named { "" } else { ", since neither --config nor FTPTRIGGER_CONFIG names one; the working directory is never searched" })]
    NotFound { tried: PathBuf, named: bool },
    #[error(
        "FTPTRIGGER_CONFIG must be an absolute path, not {}: a relative one would be looked up in the working directory, which for an FTP hook is the customer's upload directory",
        .path.display()
    )]
    RelativeEnv { path: PathBuf },
    #[error("cannot read config {}: {source}", .path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("config {} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "config {} is writable by group or others (mode {mode:04o}); anyone who can edit it can run commands as this user: chmod go-w {}",
        .path.display(), .path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error(
        "config {} is owned by uid {owner}, neither root nor the user running ftptrigger (uid {user}); its owner can make it run anything: chown it to one of them",
        .path.display()
    )]
    Owner { path: PathBuf, owner: u32, user: u32 },
    #[error("config {} is invalid ({} problem{})", .path.display(), .problems.len(), if .problems.len() == 1 { "" } else { "s" })]
    Invalid { path: PathBuf, problems: Vec<Diagnostic> },
}

/// Finds the config file: `--config`, then `$FTPTRIGGER_CONFIG`, then [`SYSTEM_PATH`]. An
/// explicitly named file is used (or reported) as it is, never skipped for another. The
/// variable must be absolute: the environment of a hook is set once for every upload, and a
/// relative name there would be resolved in whichever directory the hook runs.
pub fn locate(explicit: Option<&Path>, from_env: Option<OsString>) -> Result<PathBuf, ConfigError> {
    let from_env = from_env.filter(|v| !v.is_empty()).map(PathBuf::from);
    let (path, named) = match (explicit, from_env) {
        (Some(path), _) => (path.to_owned(), true),
        (None, Some(path)) if path.is_relative() => return Err(ConfigError::RelativeEnv { path }),
        (None, Some(path)) => (path, true),
        (None, None) => (PathBuf::from(SYSTEM_PATH), false),
    };
    match path.try_exists() {
        Ok(true) => Ok(path),
        _ => Err(ConfigError::NotFound { tried: path, named }),
    }
}

/// Which rules a load reads in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every rule: `check`, `explain`, and anything that lists rules.
    All,
    /// Only the rules of one CID (plus everything that is not a rule): a run. With ten thousand
    /// rules, compiling the patterns of every other customer would cost more than the run;
    /// `check` still validates them all.
    Cid(&'a str),
}

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_scoped(path, Scope::All)
}

/// Reads the config at `path`, validating the rules `scope` asks for.
pub fn load_scoped(path: &Path, scope: Scope<'_>) -> Result<Config, ConfigError> {
    let (text, meta) = read(path)?;
    let mut config = parse_scoped(path, &text, scope)
        .map_err(|problems| ConfigError::Invalid { path: path.to_owned(), problems })?;
    config.warnings.splice(0..0, root_only(path, &meta));
    Ok(config)
}

/// Root can read anything, so a config only root can read passes `check` and then fails every
/// hook of the FTP account with exit 10, seen only in the hook's log.
fn root_only(path: &Path, meta: &std::fs::Metadata) -> Option<Diagnostic> {
    (meta.uid() == 0 && meta.mode() & 0o044 == 0).then(|| Diagnostic {
        path: path.to_owned(),
        line: 1,
        col: 1,
        field: "file".into(),
        message: format!(
            "only root can read it (mode {:04o}): a hook running as the FTP server's account cannot; \
             chgrp that account's group and chmod 640",
            meta.mode() & 0o7777
        ),
        severity: Severity::Warning,
    })
}

/// Validates config text the way [`load_scoped`] does. For one CID, only its own rules are
/// read in full, through the index kept beside the journal (see `index`); every syntax error
/// in the file still stops the run.
pub fn parse_scoped(path: &Path, text: &str, scope: Scope<'_>) -> Result<Config, Vec<Diagnostic>> {
    match scope {
        Scope::All => parse(path, text),
        Scope::Cid(cid) => parse_for_cid(path, text, cid, index_file(path, text).as_deref()),
    }
}

/// A run's load for `cid`, with the config's index kept at `index`: read when it is an index
/// of these very bytes, else made from the full parse for the next run.
#[doc(hidden)]
pub fn parse_for_cid(
    path: &Path,
    text: &str,
    cid: &str,
    index: Option<&Path>,
) -> Result<Config, Vec<Diagnostic>> {
    let stored = index.and_then(index::read);
    if let Some(selection) = stored.and_then(|stored| index::select(&stored, text, cid)) {
        let excerpt = validate::Excerpt { rules: &selection.rules, lines: &selection.lines };
        return validate::validate(path, &selection.text, Scope::Cid(cid), Some(excerpt));
    }
    let doc = validate::parse(path, text)?;
    if let (Some(file), Some(built)) = (index, index::Index::build(text, &doc)) {
        index::write(file, &built.render(index::Key::of(text)));
    }
    validate::validate_parsed(path, text, doc, Scope::Cid(cid), None)
}

/// Where the index of the config is kept: in the directory of the journal its head names (the
/// text before the first `[[rule]]`, where `[journal]` goes), else of the default journal.
fn index_file(path: &Path, text: &str) -> Option<PathBuf> {
    let head = toml::de::DeTable::parse(index::head(text)).ok()?;
    let named = head.get_ref().get("journal").and_then(|j| j.get_ref().as_table()?.get("path"));
    let journal = match named {
        Some(named) => validate::config_dir(path).join(named.get_ref().as_str()?),
        None => crate::journal::default_path().ok()?,
    };
    Some(index::file_for(journal.parent()?, path))
}

/// More than any env file or CA bundle needs; a larger file is a wrong path.
const MAX_NAMED_FILE: u64 = 1 << 20;

/// Reads a file the config names (`env_file`, `ca_file`) and its permission bits, from one
/// descriptor. Anything but a regular file of at most 1 MiB is refused, without blocking on a
/// FIFO or reading a device forever: loading a config must never hang.
fn read_named_file(path: &Path) -> Result<(String, u32), ReadError> {
    let (bytes, meta) = regular_file::read(path, Links::Follow, MAX_NAMED_FILE)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8")
    })?;
    Ok((text, meta.permissions().mode() & 0o7777))
}

/// Reads the file, refusing one that others may write: whoever can edit the config chooses
/// the commands this tool runs. Opened non-blocking so a FIFO cannot hang us.
fn read(path: &Path) -> Result<(String, std::fs::Metadata), ConfigError> {
    let unreadable = |err| match err {
        ReadError::Io(source) => ConfigError::Unreadable { path: path.to_owned(), source },
        _ => ConfigError::NotAFile { path: path.to_owned() },
    };
    let (file, meta) = regular_file::open(path, Links::Follow).map_err(unreadable)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ConfigError::Writable { path: path.to_owned(), mode });
    }
    // Its owner can chmod it back to writable and edit it, so the owner counts as a writer.
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != user {
        return Err(ConfigError::Owner { path: path.to_owned(), owner: meta.uid(), user });
    }
    let bytes = regular_file::read_to_end(file, &meta, u64::MAX).map_err(unreadable)?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let text = String::from_utf8_lossy(err.as_bytes());
        let (line, col) = diag::line_col(&text, err.utf8_error().valid_up_to());
        let problem = Diagnostic {
            path: path.to_owned(),
            line,
            col,
            field: "file".into(),
            message: "the config is not valid UTF-8".into(),
            severity: Severity::Error,
        };
        ConfigError::Invalid { path: path.to_owned(), problems: vec![problem] }
    })?;
    Ok((text, meta))
}

/// Validates config text. `path` names the file in diagnostics and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Diagnostic>> {
    validate::validate(path, text, Scope::All, None)
}

impl Config {
    /// The variables that hold secrets: the channels', and the service's token. Jobs never
    /// get them.
    pub fn secret_vars(&self) -> Vec<String> {
        let mut vars: Vec<String> = (self.serve.token_env.iter())
            .chain(&self.serve.callback_secret_env)
            .chain(&self.journal.password_env)
            .cloned()
            .collect();
        for channel in self.channels.values() {
            match channel {
                Channel::Email(e) => vars.extend(e.password_env.clone()),
                Channel::Webhook(w) => vars.extend(
                    (w.secret_env.iter().chain(&w.bearer_token_env))
                        .chain(w.oauth2.as_ref().map(|o| &o.client_secret_env))
                        .cloned(),
                ),
            }
        }
        vars
    }

    /// Looks a secret up: the process environment first, then the `env_file` that applies.
    pub fn secret(&self, name: &str, env_file: Option<&Path>) -> Option<String> {
        std::env::var(name).ok().or_else(|| self.env_files.get(env_file?)?.get(name).cloned())
    }
}
