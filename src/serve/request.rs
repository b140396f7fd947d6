//! The body of `POST /ftpscanner/`: `cid`, `filename` and `md5` (or `sha256` instead), as JSON
//! or form-encoded, checked field by field, every problem named at once (the 422 body of the
//! system this replaces).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::digest::{Algorithm, Digest};

/// A request that passed every check: what a worker needs to start the run, kept in the
/// journal's `queued` row as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub cid: String,
    /// Relative to the root of the CID's first rule whose pattern matches its base name.
    pub filename: String,
    /// The sender's digest: one of these two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Field name → what is wrong with it, in the words callers of the old endpoint parse.
pub type Problems = BTreeMap<&'static str, String>;

/// The fields of `body`, read as a form when `form` says so, else as a JSON object; a body that
/// is neither gets a problem of its own.
pub fn parse(body: &[u8], form: bool) -> Result<Accepted, Problems> {
    let fields: BTreeMap<String, serde_json::Value> = if form {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            Ok(pairs) => pairs.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect(),
            Err(e) => return Err(one("body", format!("body is not a valid form: {e}"))),
        }
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            Ok(_) => return Err(one("body", "body must be a JSON object".to_owned())),
            Err(e) => return Err(one("body", format!("body is not JSON: {e}"))),
        }
    };
    let mut problems = Problems::new();
    let mut text = |name: &'static str, required: bool| match fields.get(name) {
        None | Some(serde_json::Value::Null) => {
            if required {
                problems.insert(name, format!("{name} not present"));
            }
            None
        }
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            problems.insert(name, format!("{name} must be a non-empty string"));
            None
        }
    };
    let (cid, filename) = (text("cid", true), text("filename", true));
    // The sender's digest: `md5`, as the system this replaces takes it, or `sha256` instead.
    let sha256_given = fields.get("sha256").is_some_and(|v| !v.is_null());
    let (md5, sha256) = (text("md5", !sha256_given), text("sha256", false));
    if let Some(name) = &filename
        && let Err(why) = relative(name)
    {
        problems.insert("filename", why.to_owned());
    }
    for (field, algorithm, hex) in [("md5", Algorithm::Md5, &md5), ("sha256", Algorithm::Sha256, &sha256)] {
        if let Some(hex) = hex
            && Digest::parse(algorithm, hex).is_err()
        {
            problems.insert(field, format!("{field} must be {} hex digits", algorithm.hex_len()));
        }
    }
    if md5.is_some() && sha256.is_some() {
        problems.insert("sha256", "sha256 must not be given with md5; give one of them".to_owned());
    }
    match (cid, filename) {
        (Some(cid), Some(filename)) if problems.is_empty() => Ok(Accepted { cid, filename, md5, sha256 }),
        _ => Err(problems),
    }
}

fn one(field: &'static str, why: String) -> Problems {
    Problems::from([(field, why)])
}

/// A file name the service may join to a root: relative, without `..`, without NUL.
fn relative(name: &str) -> Result<(), &'static str> {
    if name.contains('\0') {
        return Err("filename must not contain a NUL byte");
    }
    let path = Path::new(name);
    if path.is_absolute() {
        return Err("filename must be relative to the CID's root, not an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("filename must not contain .. components");
    }
    if path.file_name().is_none() {
        return Err("filename must name a file");
    }
    Ok(())
}

impl Accepted {
    /// The digest the caller claims for the file.
    pub fn digest(&self) -> Result<Digest, String> {
        match (&self.md5, &self.sha256) {
            (Some(md5), None) => Digest::parse(Algorithm::Md5, md5),
            (None, Some(sha256)) => Digest::parse(Algorithm::Sha256, sha256),
            _ => Err("it must have exactly one of md5 and sha256".to_owned()),
        }
    }

    /// The file this request names: under the root of the CID's first rule whose pattern takes
    /// its base name. With no such rule, the name as given: the run then ends `not_configured`.
    pub fn file(&self, config: &Config) -> PathBuf {
        let path = Path::new(&self.filename);
        let name = path.file_name().unwrap_or_default();
        match crate::rules::find(config, &self.cid, name) {
            Some((rule, _)) => rule.root.join(path),
            None => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: &str) -> Problems {
        parse(body.as_bytes(), false).expect_err("refused")
    }

    #[test]
    fn every_missing_or_bad_field_is_named() {
        let all = problems("{}");
        assert_eq!(all.get("cid").map(String::as_str), Some("cid not present"));
        assert_eq!(all.get("filename").map(String::as_str), Some("filename not present"));
        assert_eq!(all.get("md5").map(String::as_str), Some("md5 not present"));
        let bad = problems(r#"{"cid": "acme", "filename": "../x.zip", "md5": "abc"}"#);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad["md5"], "md5 must be 32 hex digits");
        assert_eq!(bad["filename"], "filename must not contain .. components");
        assert!(
            problems(r#"{"cid": "a", "filename": "/etc/passwd", "md5": ""}"#)["filename"]
                .contains("absolute")
        );
        assert!(problems("{\"cid\": \"a\", \"filename\": \"a\\u0000b\"}")["filename"].contains("NUL"));
        assert!(problems("[1]").contains_key("body"));
    }

    #[test]
    fn a_form_is_read_like_json() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let form = format!("cid=acme&filename=in%2Fa+b.zip&md5={md5}");
        let accepted = parse(form.as_bytes(), true).expect("accepted");
        assert_eq!((accepted.cid.as_str(), accepted.filename.as_str()), ("acme", "in/a b.zip"));
        assert_eq!(accepted.digest().map(|d| d.algorithm()), Ok(Algorithm::Md5));
    }

    /// `sha256` instead of `md5`: then `md5` is not missing; both at once are refused.
    #[test]
    fn sha256_instead_of_md5() {
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let body =
            format!(r#"{{"cid": "acme", "filename": "a.zip", "sha256": "{}"}}"#, sha256.to_uppercase());
        let accepted = parse(body.as_bytes(), false).expect("accepted");
        let digest = accepted.digest().expect("a digest");
        assert_eq!((digest.algorithm(), digest.as_str()), (Algorithm::Sha256, sha256));
        // Kept in the queued row without an `md5`, and read back the same.
        let row = serde_json::to_string(&accepted).expect("serializes");
        assert!(!row.contains("md5"), "{row}");
        let back: Accepted = serde_json::from_str(&row).expect("reads back");
        assert_eq!(back.digest(), Ok(digest));
        // A row queued before `sha256` existed still reads.
        let old: Accepted =
            serde_json::from_str(r#"{"cid":"a","filename":"f","md5":"d41d8cd98f00b204e9800998ecf8427e"}"#)
                .expect("reads");
        assert_eq!(old.digest().map(|d| d.algorithm()), Ok(Algorithm::Md5));

        let short =
            problems(r#"{"cid": "acme", "filename": "a.zip", "sha256": "d41d8cd98f00b204e9800998ecf8427e"}"#);
        assert_eq!(short.len(), 1, "{short:?}");
        assert_eq!(short["sha256"], "sha256 must be 64 hex digits");
        let both = format!(
            r#"{{"cid": "a", "filename": "a.zip", "md5": "d41d8cd98f00b204e9800998ecf8427e", "sha256": "{sha256}"}}"#
        );
        assert!(
            parse(both.as_bytes(), false).expect_err("refused")["sha256"].contains("not be given with md5")
        );
    }
}
