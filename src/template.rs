//! Command templates: `{placeholder}` substitution into one argv element at a time.
//!
//! A template is parsed once, when the config loads, so an unknown placeholder is a config error
//! that `check` finds, never a surprise at run time. Expansion never splits or joins arguments:
//! whatever bytes a value holds (spaces, quotes, `$(...)`, newlines) stay inside the one argument.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Placeholders every run provides.
pub const BUILTIN: &[&str] =
    &["cid", "file", "filename", "stem", "ext", "dir", "md5", "size", "rule", "run_id"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// One parsed argument template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unmatched `{{` at byte {0} (write `{{{{` for a literal brace)")]
    UnclosedBrace(usize),
    #[error("unmatched `}}` at byte {0} (write `}}}}` for a literal brace)")]
    StrayClose(usize),
    #[error("invalid placeholder name `{{{0}}}`")]
    BadName(String),
    #[error("unknown placeholder `{{{name}}}`; known: {known}")]
    Unknown { name: String, known: String },
}

impl Template {
    /// Parses `source`, accepting the builtin placeholders and `captures` (the rule's named
    /// regex groups).
    pub fn parse(source: &str, captures: &[String]) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|&(_, n)| n) == Some('{') => {
                    rest.next();
                    text.push('{');
                }
                '}' if rest.peek().map(|&(_, n)| n) == Some('}') => {
                    rest.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::StrayClose(at)),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match rest.next() {
                            Some((_, '}')) => break,
                            Some((_, c)) => name.push(c),
                            None => return Err(TemplateError::UnclosedBrace(at)),
                        }
                    }
                    check_name(&name, captures)?;
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(name));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { source: source.to_owned(), pieces })
    }

    /// The template as written in the config.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The placeholders it uses, in order, with repeats.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// For a path template that names a sibling of the file by a fixed suffix (`{file}.md5`,
    /// `{dir}/{filename}.md5`, `{filename}.md5`), the suffix: then a name ending in it can be
    /// told to be such a sibling without knowing the file.
    pub fn sibling_suffix(&self) -> Option<&str> {
        let suffix = match self.pieces.as_slice() {
            [Piece::Var(file), Piece::Text(suffix)] if file == "file" || file == "filename" => suffix,
            [Piece::Var(dir), Piece::Text(slash), Piece::Var(name), Piece::Text(suffix)]
                if dir == "dir" && slash == "/" && name == "filename" =>
            {
                suffix
            }
            _ => return None,
        };
        (!suffix.contains('/')).then_some(suffix.as_str())
    }

    /// Substitutes every placeholder. A placeholder missing from `values` (an optional regex
    /// group that did not take part in the match) expands to nothing.
    pub fn expand(&self, values: &Values) -> OsString {
        let mut out = OsString::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push(t),
                Piece::Var(name) => {
                    if let Some(v) = values.get(name) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    /// Like [`Template::expand`], but leaves the named placeholders as written (`{md5}`), for
    /// `explain`, which shows a command without computing everything it needs.
    pub fn expand_except(&self, values: &Values, keep: &[&str]) -> OsString {
        let mut out = OsString::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push(t.replace('{', "{{").replace('}', "}}")),
                Piece::Var(name) if keep.contains(&name.as_str()) => out.push(format!("{{{name}}}")),
                Piece::Var(name) => {
                    if let Some(v) = values.get(name) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }
}

fn check_name(name: &str, captures: &[String]) -> Result<(), TemplateError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(TemplateError::BadName(name.to_owned()));
    }
    if BUILTIN.contains(&name) || captures.iter().any(|c| c == name) {
        return Ok(());
    }
    let mut known: Vec<&str> = BUILTIN.to_vec();
    known.extend(captures.iter().map(String::as_str));
    Err(TemplateError::Unknown { name: name.to_owned(), known: known.join(", ") })
}

/// The values placeholders expand to, by name.
#[derive(Debug, Default, Clone)]
pub struct Values(BTreeMap<String, OsString>);

impl Values {
    pub fn set(&mut self, name: &str, value: impl Into<OsString>) {
        self.0.insert(name.to_owned(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.0.get(name).map(OsString::as_os_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut v = Values::default();
        v.set("file", "/srv/a b/$(x);\n'q\".zip");
        v.set("cid", "acme");
        v.set("cycle", "20261122");
        v
    }

    #[test]
    fn substitutes_within_one_argument() {
        let t = Template::parse("--in={file}", &[]).unwrap();
        assert_eq!(t.expand(&values()), "--in=/srv/a b/$(x);\n'q\".zip");
    }

    #[test]
    fn literal_braces_round_trip() {
        let t = Template::parse("{{cid}}={cid}}}", &[]).unwrap();
        assert_eq!(t.expand(&values()), "{cid}=acme}");
        assert_eq!(t.expand_except(&values(), &[]), "{{cid}}=acme}}");
    }

    #[test]
    fn captures_are_known_only_when_declared() {
        assert!(Template::parse("{cycle}", &["cycle".into()]).is_ok());
        let err = Template::parse("{cycle}", &[]).unwrap_err();
        assert!(matches!(err, TemplateError::Unknown { ref name, .. } if name == "cycle"), "{err}");
    }

    #[test]
    fn rejects_malformed_braces() {
        assert_eq!(Template::parse("a{b", &[]), Err(TemplateError::UnclosedBrace(1)));
        assert_eq!(Template::parse("a}b", &[]), Err(TemplateError::StrayClose(1)));
        assert_eq!(Template::parse("{}", &[]), Err(TemplateError::BadName(String::new())));
        assert_eq!(Template::parse("{a b}", &[]), Err(TemplateError::BadName("a b".into())));
    }

    #[test]
    fn knows_a_sibling_by_its_suffix() {
        let suffix = |source: &str| Template::parse(source, &[]).unwrap().sibling_suffix().map(str::to_owned);
        assert_eq!(suffix("{file}.md5").as_deref(), Some(".md5"));
        assert_eq!(suffix("{dir}/{filename}.MD5").as_deref(), Some(".MD5"));
        assert_eq!(suffix("{filename}.md5").as_deref(), Some(".md5"));
        assert_eq!(suffix("{dir}/MD5SUMS"), None);
        assert_eq!(suffix("{dir}/{stem}.md5"), None);
        assert_eq!(suffix("{file}/x.md5"), None);
        assert_eq!(suffix("{file}"), None);
    }

    #[test]
    fn keeps_placeholders_for_explain() {
        let t = Template::parse("{cid}:{md5}", &[]).unwrap();
        assert_eq!(t.expand_except(&values(), &["md5"]), "acme:{md5}");
    }
}
