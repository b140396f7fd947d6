//! `env_file`: `KEY=VALUE` lines that hold secrets for the `*_env` lookups.
//!
//! The format is the common one of systemd's `EnvironmentFile` and dotenv: blank lines and
//! `#` comments are skipped, an `export ` prefix is allowed, and a value may be wrapped in
//! single or double quotes. No expansion of `$VAR` happens: secrets are taken literally.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvFileError {
    pub line: usize,
    pub message: &'static str,
}

pub fn parse(text: &str) -> Result<BTreeMap<String, String>, EnvFileError> {
    let mut vars = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let fail = |message| EnvFileError { line: index + 1, message };
        let (key, value) = line.split_once('=').ok_or(fail("expected KEY=VALUE"))?;
        let key = key.trim();
        if !is_env_name(key) {
            return Err(fail("the key is not a valid variable name"));
        }
        let value = value.trim();
        let value = unquote(value, '"').or_else(|| unquote(value, '\'')).unwrap_or(value);
        vars.insert(key.to_owned(), value.to_owned());
    }
    Ok(vars)
}

fn unquote(value: &str, quote: char) -> Option<&str> {
    value.strip_prefix(quote)?.strip_suffix(quote)
}

/// A portable environment variable name: letters, digits and `_`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let vars = parse("# secrets\n\nA=1\nexport B = \"two words\"\nC='x=y'\nD=\n").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x=y");
        assert_eq!(vars["D"], "");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse("A=1\nnonsense\n").unwrap_err().line, 2);
        assert!(parse("1A=2").is_err());
    }
}
