//! Where the journal is, and where it must not be: the config's `[journal] path` or the
//! user's state directory, never inside a rule's root, never left by root where the hooks'
//! account could no longer use it.

use std::path::{Path, PathBuf};

use super::{Journal, JournalError, failure};

/// Opens the config's journal, creating it if needed; failing that, nothing may run.
pub fn open_for(config: &crate::config::Config) -> Result<Journal, crate::outcome::Failure> {
    let local = checked_path(config)?;
    let host = config.journal.host();
    match &config.journal.url {
        Some(url) => {
            let password = config
                .journal
                .password_env
                .as_ref()
                .and_then(|var| config.secret(var, config.defaults.env_file.as_deref()));
            Journal::connect(url, password.as_deref(), &local, &host).map_err(failure)
        }
        None => Journal::open(&local).map(|j| j.with_host(&host)).map_err(failure),
    }
}

/// The config's journal if it exists: commands that only look must not create one. (A
/// PostgreSQL journal always exists once its server can be reached.)
pub fn open_existing(config: &crate::config::Config) -> Result<Option<Journal>, crate::outcome::Failure> {
    if config.journal.url.is_some() {
        return open_for(config).map(Some);
    }
    let host = config.journal.host();
    Ok(open_existing_at(&checked_path(config)?)?.map(|j| j.with_host(&host)))
}

/// The journal at `path` (from [`checked_path`]) if it exists.
pub fn open_existing_at(path: &Path) -> Result<Option<Journal>, crate::outcome::Failure> {
    let exists = path
        .try_exists()
        .map_err(|e| failure(JournalError::Open { at: path.display().to_string(), reason: e.to_string() }))?;
    if !exists {
        return Ok(None);
    }
    Journal::open(path).map(Some).map_err(failure)
}

/// The journal's path, refused (exit 10) when it lies inside the root of one of the config's
/// rules. Customers write there: one who could plant a journal could forge a success (the
/// duplicate check would then skip their file), or delete it and every record with it. The
/// default location comes from `HOME`, which for an FTP account is often its upload tree.
pub fn checked_path(config: &crate::config::Config) -> Result<PathBuf, crate::outcome::Failure> {
    let path = path_for(config).map_err(failure)?;
    outside_roots(&path, config.rules.iter().map(|rule| (rule.name.as_str(), rule.root.as_path())))?;
    not_root_in_anothers(&path, &config.path)?;
    Ok(path)
}

/// Refuses (exit 2) root where what it would leave in the journal's directory (the database,
/// its -wal and -shm files, a lock file per upload: root's, 0600) would lock out the account
/// that runs the FTP server's hooks:
/// - that directory, or the nearest of its parents that exists, belongs to another user;
/// - it does not exist yet and the config is shared with a group (the hooks' account, as the
///   README installs it): root would create it for root alone.
fn not_root_in_anothers(path: &Path, config: &Path) -> Result<(), crate::outcome::Failure> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent().filter(|_| rustix::process::geteuid().is_root()) else { return Ok(()) };
    let refuse = |message: String| Err(crate::outcome::Failure::new(crate::outcome::Outcome::Usage, message));
    let Some((existing, meta)) = dir.ancestors().find_map(|d| Some((d, std::fs::metadata(d).ok()?))) else {
        return Ok(());
    };
    if meta.uid() != 0 {
        let name = users_name(meta.uid()).unwrap_or_else(|| meta.uid().to_string());
        return refuse(format!(
            "the journal {} belongs to {name} (uid {}){}; run ftptrigger as that account (`sudo -u {name} \
             ftptrigger ...`), or root would leave files there it cannot use",
            path.display(),
            meta.uid(),
            if existing == dir { String::new() } else { format!(" (its directory {})", existing.display()) },
        ));
    }
    let shared = std::fs::metadata(config).ok().filter(|c| c.gid() != 0 && c.mode() & 0o040 != 0);
    match shared {
        Some(config_meta) if existing != dir => {
            let group = group_name(config_meta.gid()).unwrap_or_else(|| config_meta.gid().to_string());
            refuse(format!(
                "the journal's directory {} does not exist, and the config is shared with group {group} (the \
                 hooks' account): made by root it would lock that account out; create it for the account first \
                 (`install -d -o ACCOUNT -g {group} -m 0700 {}`), then run as it (`sudo -u ACCOUNT ftptrigger ...`)",
                dir.display(),
                dir.display(),
            ))
        }
        _ => Ok(()),
    }
}

/// The login name of `uid`, from /etc/passwd.
fn users_name(uid: u32) -> Option<String> {
    name_by_id("/etc/passwd", uid)
}

/// The name of group `gid`, from /etc/group.
fn group_name(gid: u32) -> Option<String> {
    name_by_id("/etc/group", gid)
}

/// The first field of the line of `file` (`name:x:id:...`) whose third field is `id`.
fn name_by_id(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_owned())
    })
}

/// Refuses (exit 10) a journal at `path` inside one of the `roots` (each with its rule's name).
fn outside_roots<'r>(
    path: &Path,
    roots: impl IntoIterator<Item = (&'r str, &'r Path)>,
) -> Result<(), crate::outcome::Failure> {
    let real = real_path(path);
    match roots.into_iter().find(|(_, root)| real.starts_with(real_path(root))) {
        None => Ok(()),
        Some((rule, root)) => Err(crate::outcome::Failure::new(
            crate::outcome::Outcome::ConfigError,
            format!(
                "the journal {} lies inside the root {} of rule {}, where customers can write; set [journal] path \
                 to a directory only ftptrigger's user can write",
                path.display(),
                root.display(),
                crate::display::escape_str(rule),
            ),
        )),
    }
}

/// The `[journal]` section of the config at `path`, as a config of its own (no rules, no
/// channels): what `history` and `outbox list` read when the rest of the config has errors,
/// since they need nothing else. `None` when that section itself cannot be read, or the file
/// is not TOML at all. The rules' `root`s are taken as written, so a journal inside one is
/// still refused.
pub fn section_of(path: &Path) -> Option<Result<crate::config::Config, crate::outcome::Failure>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut doc: toml::Table = text.parse().ok()?;
    let mut section = toml::Table::new();
    section.extend(doc.remove("journal").map(|journal| ("journal".to_owned(), journal)));
    let config = crate::config::parse(path, &toml::to_string(&section).ok()?).ok()?;
    let journal = match path_for(&config) {
        Ok(journal) => journal,
        Err(e) => return Some(Err(failure(e))),
    };
    // Relative roots are anchored where the config's loader anchors them: its directory.
    let dir = path.parent().unwrap_or(Path::new(""));
    let rules = doc.get("rule").and_then(toml::Value::as_array).map_or(&[][..], Vec::as_slice);
    let roots: Vec<(String, PathBuf)> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| {
            let root = rule.get("root")?.as_str()?;
            let name = rule
                .get("name")
                .and_then(toml::Value::as_str)
                .map_or_else(|| format!("rule[{i}]"), str::to_owned);
            Some((name, dir.join(root)))
        })
        .collect();
    Some(
        outside_roots(&journal, roots.iter().map(|(name, root)| (name.as_str(), root.as_path())))
            .and_then(|()| not_root_in_anothers(&journal, path))
            .map(|()| config),
    )
}

/// `path` with every symlink in its existing part resolved; what does not exist yet is
/// appended as it is.
fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name);
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

/// The journal of `config`: `[journal] path`, else [`default_path`].
pub fn path_for(config: &crate::config::Config) -> Result<PathBuf, JournalError> {
    match &config.journal.path {
        Some(path) => Ok(path.clone()),
        None => default_path(),
    }
}

/// `$XDG_STATE_HOME/ftptrigger/journal.db`, else `~/.local/state/ftptrigger/journal.db`; a
/// variable that is not an absolute path is ignored, as the XDG base directory spec says.
pub fn default_path() -> Result<PathBuf, JournalError> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            // Not absolute, it would name a directory below the working directory.
            std::env::var_os("HOME")
                .filter(|v| Path::new(v).is_absolute())
                .map(|h| Path::new(&h).join(".local/state"))
        })
        .ok_or(JournalError::NoDefault)?;
    Ok(state.join("ftptrigger/journal.db"))
}
