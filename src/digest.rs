//! The digests a sender can claim for a file: MD5, and SHA-256 for senders that moved on.
//!
//! A [`Digest`] is the claim or the result, hex of its algorithm's length, lowercase. An
//! [`Md5Hex`] is a digest known to be an MD5: the file's identity for the duplicate check, the
//! journal's `md5` column and the `{md5}` placeholder, which are MD5 whatever the sender used.

use std::fmt;
use std::path::Path;

/// How a digest was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::Md5, Algorithm::Sha256];

    /// As messages name it: `MD5`, `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The name with its article, for "not an MD5 line", "a SHA-256 sidecar".
    pub fn a(self) -> &'static str {
        match self {
            Algorithm::Md5 => "an MD5",
            Algorithm::Sha256 => "a SHA-256",
        }
    }

    /// Hex digits in one of its digests.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// The algorithm of the sidecar a rule's `sidecar` template (or a path) names: SHA-256 when
    /// it ends in `.sha256` or is a `SHA256SUMS` listing, in any case, as `sha256sum` listings
    /// are named; else MD5.
    pub fn of_sidecar(name: impl AsRef<Path>) -> Algorithm {
        let path = name.as_ref();
        let name = path.as_os_str().as_encoded_bytes();
        let base = path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default();
        let suffix = b".sha256";
        let ends_so =
            name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix);
        if ends_so || base.eq_ignore_ascii_case(b"SHA256SUMS") { Algorithm::Sha256 } else { Algorithm::Md5 }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest of one algorithm, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Accepts exactly the algorithm's number of hex digits, any case.
    pub fn parse(algorithm: Algorithm, s: &str) -> Result<Digest, String> {
        let want = algorithm.hex_len();
        let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
        match s.len() {
            n if hex && n == want => Ok(Digest { algorithm, hex: s.to_ascii_lowercase() }),
            n if hex => Err(format!("expected {want} hex digits, got {n}")),
            // Escaped once, for the terminal; quoted by hand, since `{:?}` would escape it again.
            _ => Err(format!("expected {want} hex digits, got \"{}\"", crate::display::escape_str(s))),
        }
    }

    /// The digest whose bytes are `bytes`.
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        debug_assert_eq!(bytes.len() * 2, algorithm.hex_len());
        Digest { algorithm, hex: hex::encode(bytes) }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn as_str(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

/// An MD5 digest as 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Hex(Digest);

impl Md5Hex {
    /// Accepts exactly 32 hex digits, any case.
    pub fn parse(s: &str) -> Result<Md5Hex, String> {
        Digest::parse(Algorithm::Md5, s).map(Md5Hex)
    }

    pub fn from_digest(bytes: &[u8]) -> Md5Hex {
        Md5Hex(Digest::from_bytes(Algorithm::Md5, bytes))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_digest(&self) -> &Digest {
        &self.0
    }
}

impl fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const S: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hex_of_the_algorithms_length_in_any_case() {
        assert_eq!(Md5Hex::parse(&H.to_uppercase()).unwrap().as_str(), H);
        assert!(Md5Hex::parse("d41d8cd98f00b204e9800998ecf8427").is_err());
        assert!(Md5Hex::parse("g41d8cd98f00b204e9800998ecf8427e").is_err());
        assert_eq!(Digest::parse(Algorithm::Sha256, &S.to_uppercase()).unwrap().as_str(), S);
        assert_eq!(Digest::parse(Algorithm::Sha256, H), Err("expected 64 hex digits, got 32".to_owned()));
        assert_eq!(Digest::parse(Algorithm::Md5, S), Err("expected 32 hex digits, got 64".to_owned()));
        assert!(
            Digest::parse(Algorithm::Sha256, "x")
                .is_err_and(|why| why.starts_with("expected 64 hex digits, got "))
        );
        // A control character is shown escaped once: `\n`, not `\\n`.
        assert_eq!(
            Digest::parse(Algorithm::Md5, "x\ny"),
            Err("expected 32 hex digits, got \"x\\ny\"".to_owned())
        );
    }

    #[test]
    fn a_sidecar_ending_in_sha256_or_named_sha256sums_is_a_sha256_one() {
        for name in
            ["{filename}.sha256", "{file}.SHA256", "/srv/x/f.zip.Sha256", "{dir}/SHA256SUMS", "sha256sums"]
        {
            assert_eq!(Algorithm::of_sidecar(name), Algorithm::Sha256, "{name}");
        }
        for name in [
            "{file}.md5",
            "{dir}/MD5SUMS",
            "sha256",
            "{file}.sha256.txt",
            "{file}.sha25",
            "{dir}/SHA256SUMS.gpg",
        ] {
            assert_eq!(Algorithm::of_sidecar(name), Algorithm::Md5, "{name}");
        }
    }
}
