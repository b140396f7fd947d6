//! The survey: the files each rule takes, found by walking its root and pairing uploads with sidecars.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Found, Kind};
use crate::config::{Config, Rule};
use crate::display::{escape, escape_str};
use crate::rules::Captures;

/// A regular file found under a root.
struct Walked {
    path: PathBuf,
    modified: SystemTime,
}

/// An abandoned partial upload: a file named as FTP servers name uploads in progress
/// (`[defaults] partials`) and untouched for longer than `partials_after`.
pub(super) struct Partial {
    pub path: PathBuf,
    pub shown: String,
    pub modified: SystemTime,
    pub untouched: std::time::Duration,
}

/// Every file the rules take, oldest first, each once; the abandoned partial uploads in their
/// roots; and the roots or directories that could not be read.
pub(super) fn survey<'c>(
    config: &'c Config,
    rules: &[&'c Rule],
) -> (Vec<Found<'c>>, Vec<Partial>, Vec<String>) {
    let mut problems = Vec::new();
    let mut partials: Vec<Partial> = Vec::new();
    let mut partial_seen = HashSet::new();
    let now = SystemTime::now();
    let mut walks: HashMap<(PathBuf, bool), Vec<Walked>> = HashMap::new();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for &rule in rules {
        let root = match rule.root.canonicalize() {
            Ok(root) => root,
            Err(e) => {
                let root = escape(rule.root.as_os_str());
                problems.push(format!("cannot scan root {root} of rule {}: {e}", rule.name));
                continue;
            }
        };
        let files = walks
            .entry((root.clone(), rule.recursive))
            .or_insert_with(|| walk(&root, rule.recursive, &mut problems));
        for file in taken(config, rule, &root, files) {
            if seen.insert((rule.cid.clone(), file.path.clone())) {
                found.push(file);
            }
        }
        for file in files.iter() {
            let name = file.path.file_name().unwrap_or_default();
            let untouched = now.duration_since(file.modified).unwrap_or_default();
            if rule.settings.partials.set.is_match(Path::new(name))
                && untouched > rule.settings.partials_after
                && partial_seen.insert(file.path.clone())
            {
                let shown = shown(rule, &root, &file.path);
                partials.push(Partial { path: file.path.clone(), shown, modified: file.modified, untouched });
            }
        }
    }
    found.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    (found, partials, problems)
}

/// The regular files in `root`, and in its subdirectories when `recursive`. Symlinks are
/// never followed, and nothing but regular files is returned.
fn walk(root: &Path, recursive: bool, problems: &mut Vec<String>) -> Vec<Walked> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(format!("cannot read directory {}: {e}", escape(dir.as_os_str())));
                continue;
            }
        };
        for entry in entries.flatten() {
            // DirEntry::metadata does not follow a symlink.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                files.push(Walked { path: entry.path(), modified: meta.modified().unwrap_or(UNIX_EPOCH) });
            } else if meta.is_dir() && recursive {
                dirs.push(entry.path());
            }
        }
    }
    files
}

/// The files of `files` that `rule` takes: the uploads it is the first matching rule for, and
/// the sidecars whose upload it would take but which is not there. A file that is some
/// upload's sidecar is never an upload itself.
fn taken<'c>(config: &'c Config, rule: &'c Rule, root: &Path, files: &[Walked]) -> Vec<Found<'c>> {
    let regular: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let suffix = rule.sidecar.sibling_suffix();
    // Where the rule moves what it processed: not uploads any more.
    let processed: Vec<PathBuf> = [&rule.settings.on_success, &rule.settings.on_failure]
        .into_iter()
        .flatten()
        .filter_map(|action| action.fixed_dir())
        .map(|dir| root.join(dir))
        .collect();
    let mut taken = Vec::new();
    for file in files {
        if processed.iter().any(|dir| file.path.starts_with(dir)) {
            continue;
        }
        let name = file.path.file_name().unwrap_or_default();
        let found = |captures, kind| Found {
            rule,
            captures,
            path: file.path.clone(),
            name: name.to_owned(),
            shown: shown(rule, root, &file.path),
            modified: file.modified,
            kind,
        };
        let upload_name =
            suffix.and_then(|s| name.as_bytes().strip_suffix(s.as_bytes())).filter(|n| !n.is_empty());
        if let Some(upload_name) = upload_name {
            let upload = file.path.with_file_name(OsStr::from_bytes(upload_name));
            if !regular.contains(upload.as_path())
                && let Some(captures) = takes(config, rule, OsStr::from_bytes(upload_name))
            {
                taken.push(found(captures, Kind::Orphan { upload }));
            }
        } else if let Some(captures) = takes(config, rule, name) {
            taken.push(found(captures, Kind::Upload));
        }
    }
    // A sidecar of another form (a listing such as `{dir}/MD5SUMS`) is known by its uploads.
    let sidecars: HashSet<PathBuf> = taken
        .iter()
        .filter(|f| matches!(f.kind, Kind::Upload))
        .map(|f| sidecar_of(f.rule, &f.path, &f.captures))
        .collect();
    taken.retain(|f| !(matches!(f.kind, Kind::Upload) && sidecars.contains(&f.path)));
    taken
}

/// The captures when `rule` is the rule a run of `name` would use: the first of its CID that
/// matches. Another rule's file is that rule's to take.
fn takes(config: &Config, rule: &Rule, name: &OsStr) -> Option<Captures> {
    crate::rules::find(config, &rule.cid, name)
        .filter(|(first, _)| std::ptr::eq(*first, rule))
        .map(|(_, captures)| captures)
}

/// Where the rule's `sidecar` template puts the sidecar of the upload at `path`.
pub(super) fn sidecar_of(rule: &Rule, path: &Path, captures: &Captures) -> PathBuf {
    let expanded = rule.sidecar.expand(&crate::plan::file_values(&rule.cid, path, captures));
    // Relative to the upload's directory; an absolute result replaces it.
    path.parent().unwrap_or(Path::new("/")).join(expanded).components().collect()
}

fn shown(rule: &Rule, root: &Path, path: &Path) -> String {
    let below = path.strip_prefix(root).unwrap_or(path);
    format!("{}/{}", escape_str(&rule.cid), escape(below.as_os_str()))
}
