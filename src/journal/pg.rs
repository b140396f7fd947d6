//! The PostgreSQL journal's connection: the URL as libpq users write it, the password from
//! the environment rather than the config, and the schema created and migrated on first use.

use super::db::{DbError, Statements, Tx, args};
use super::schema::{SQLITE, for_postgres};

/// Serializes migrations across every host that connects at once (an arbitrary constant of
/// ftptrigger's own: "ftptrig" in ASCII).
const MIGRATION_LOCK: i64 = 0x0066_7470_7472_6967;

/// How the connection is encrypted and the server checked, as libpq's `sslmode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    /// TLS when the server offers it; the certificate unchecked (libpq's default).
    Prefer,
    /// TLS; the certificate unchecked unless `sslrootcert` is given (then as `VerifyCa`).
    Require,
    /// TLS; the certificate must chain to `sslrootcert` (else the public CAs).
    VerifyCa,
    /// `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

/// Connects to `url`, with `password` when the URL has none. `sslmode` and `sslrootcert` are
/// read as libpq reads them, and TLS goes through rustls. Errors name the server, never the
/// password.
pub(super) fn connect(url: &str, password: Option<&str>) -> Result<postgres::Client, String> {
    let (url, mode, root) = ssl_settings(url)?;
    let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    if let Some(password) = password
        && config.get_password().is_none()
    {
        config.password(password);
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.application_name("ftptrigger");
    let connected = match mode {
        SslMode::Disable => config.ssl_mode(postgres::config::SslMode::Disable).connect(postgres::NoTls),
        _ => {
            let tls = tls_config(mode, root.as_deref())?;
            let wanted = if mode == SslMode::Prefer {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            };
            config.ssl_mode(wanted).connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        }
    };
    connected.map_err(|e| DbError::from(e).to_string())
}

/// Why `url` cannot be used, if it cannot: what `check` says of `[journal] url`.
pub fn url_problem(url: &str) -> Option<String> {
    let (url, _, _) = match ssl_settings(url) {
        Ok(settings) => settings,
        Err(why) => return Some(why),
    };
    url.parse::<postgres::Config>().err().map(|e| format!("not a PostgreSQL URL: {e}"))
}

/// `url` without `sslmode` and `sslrootcert` (which the driver does not read as libpq does),
/// and what they say.
fn ssl_settings(url: &str) -> Result<(String, SslMode, Option<String>), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => {
                mode = match value {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                        ));
                    }
                }
            }
            Some(("sslrootcert", value)) => root = Some(value.to_owned()),
            _ => rest.push(pair),
        }
    }
    if mode == SslMode::Require && root.is_some() {
        mode = SslMode::VerifyCa;
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    Ok((url, mode, root))
}

/// The rustls settings for `mode`: the roots of `root` (PEM) or the public CAs, and how much
/// of the server's certificate is checked.
fn tls_config(mode: SslMode, root: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
            for item in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let cert: rustls_pki_types::CertificateDer<'static> =
                    item.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path}: holds no certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
    let check = match mode {
        SslMode::VerifyFull => return Ok(builder.with_webpki_verifier(verifier).with_no_client_auth()),
        SslMode::VerifyCa => Check::Chain(verifier),
        _ => Check::Nothing(verifier),
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(std::sync::Arc::new(check)).with_no_client_auth())
}

/// How much of the server's certificate libpq's weaker modes check: the chain only
/// (`verify-ca`), or nothing (`prefer`, `require`: encrypted, not authenticated, as libpq
/// does). The handshake's signatures are checked either way.
#[derive(Debug)]
enum Check {
    Chain(std::sync::Arc<rustls::client::WebPkiServerVerifier>),
    Nothing(std::sync::Arc<rustls::client::WebPkiServerVerifier>),
}

impl Check {
    fn inner(&self) -> &rustls::client::WebPkiServerVerifier {
        match self {
            Check::Chain(v) | Check::Nothing(v) => v,
        }
    }
}

impl rustls::client::danger::ServerCertVerifier for Check {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::client::danger::ServerCertVerified;
        match self {
            Check::Nothing(_) => Ok(ServerCertVerified::assertion()),
            Check::Chain(v) => {
                match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    // verify-ca: a certificate for another name is fine, as long as it chains.
                    Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
                    | Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForNameContext { .. },
                    )) => Ok(ServerCertVerified::assertion()),
                    other => other,
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

/// `url` without its password, for messages.
pub(super) fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Whether the schema is already the latest: the common case, answered without a lock (every
/// run connects, and would otherwise wait for every other run's check in turn).
pub(super) fn is_current(db: &dyn Statements) -> Result<bool, DbError> {
    let exists = db.query_opt("SELECT to_regclass('ftptrigger_schema') IS NOT NULL", &[])?;
    if !exists.map_or(Ok(false), |r| r.get::<bool>(0))? {
        return Ok(false);
    }
    let version = db.query_opt("SELECT version FROM ftptrigger_schema", &[])?;
    Ok(version.map_or(Ok(0), |r| r.get::<i64>(0))? >= SQLITE.len() as i64)
}

/// Brings the schema up to date, in `tx`, holding a lock every other migrator waits for.
pub(super) fn migrate(tx: &Tx<'_>) -> Result<(), DbError> {
    tx.query("SELECT pg_advisory_xact_lock(?1)", &args![MIGRATION_LOCK])?;
    tx.execute("CREATE TABLE IF NOT EXISTS ftptrigger_schema (version BIGINT NOT NULL)", &[])?;
    let current = match tx.query_opt("SELECT version FROM ftptrigger_schema", &[])? {
        Some(row) => row.get::<i64>(0)?,
        None => {
            tx.execute("INSERT INTO ftptrigger_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    for (version, sql) in SQLITE.iter().enumerate().skip(current.max(0) as usize) {
        // One statement at a time (the journal's SQL has no `;` inside a statement).
        for statement in for_postgres(sql).split(';').map(str::trim).filter(|s| !s.is_empty()) {
            tx.execute(statement, &[])?;
        }
        tx.execute("UPDATE ftptrigger_schema SET version = ?1", &args![version as i64 + 1])?;
    }
    Ok(())
}

/// The advisory lock key of a file: a hash of the CID and the file's path within its rule's
/// root, so hosts that mount the storage at different paths agree. The top two bits are 0;
/// run keys ([`run_key`]) have `01` there, so the two never meet.
pub fn file_key(cid: &str, relative: &std::path::Path) -> i64 {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = cid.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(relative.as_os_str().as_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) & 0x3FFF_FFFF_FFFF_FFFF) as i64
}

/// The advisory lock key of run `id`.
pub(super) fn run_key(id: i64) -> i64 {
    0x4000_0000_0000_0000 | (id & 0x3FFF_FFFF_FFFF_FFFF)
}

/// A duplicate of this process's TCP socket whose local port is `port` (the journal's
/// connection, as the server sees it). Found through /proc: the socket's inode from the kernel's
/// table of TCP sockets, then the descriptor that names that inode.
pub(super) fn socket_of_port(port: u16) -> Option<std::os::fd::OwnedFd> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port).then(|| fields.get(9).map(|s| (*s).to_owned()))?
        })
    })?;
    let wanted = format!("socket:[{inode}]");
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let raw = entries.flatten().find_map(|entry| {
        let target = std::fs::read_link(entry.path()).ok()?;
        (target.to_str()? == wanted).then(|| entry.file_name().to_str()?.parse::<i32>().ok())?
    })?;
    // SAFETY: `raw` names the journal connection's socket, open for as long as the connection
    // (which the caller holds) lives; it is borrowed only for the `dup` right here, on the
    // caller's thread. The copy is checked to be that socket still, so a descriptor closed and
    // reused meanwhile by another thread is never taken for it.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    let copy = rustix::io::fcntl_dupfd_cloexec(borrowed, 3).ok()?;
    let same = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&copy)))
        .is_ok_and(|t| t.to_str() == Some(wanted.as_str()));
    same.then_some(copy)
}
