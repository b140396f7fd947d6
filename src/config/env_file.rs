//! `env_file`: `KEY=VALUE` lines that hold secrets for the `*_env` lookups.
//!
//! The format is the common one of systemd's `EnvironmentFile` and dotenv: blank lines and
//! `#` comments are skipped, an `export ` prefix is allowed, and a value may be wrapped in
//! single or double quotes. No expansion of `$VAR` happens: secrets are taken literally.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// More than any list of secrets needs; a larger file is a wrong path, not an env file.
const MAX_LEN: u64 = 1 << 20;

/// Reads an env file and its permission bits, from one descriptor. Anything but a regular file
/// of at most [`MAX_LEN`] bytes is refused, without blocking on a FIFO or reading a device
/// forever: loading a config must never hang.
pub fn read(path: &Path) -> io::Result<(String, u32)> {
    let file =
        File::options().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_LEN + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_LEN {
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, "larger than 1 MiB"));
    }
    Ok((text, meta.permissions().mode() & 0o7777))
}

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
