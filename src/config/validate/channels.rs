//! The `[channel.NAME]` checks: each channel's type, addresses, URL, headers and secrets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::{RawChannel, Validator, section};
use crate::config::diag::Diagnostics;
use crate::config::raw::{self, Text};
use crate::config::{
    Channel, Email, EmailTransport, OAuth2, SmtpSecurity, SmtpServer, TrustedCa, Webhook, is_env_name,
    read_named_file,
};
use lettre::message::Mailbox;
use ureq::http::Uri;

/// Headers ftptrigger sets on every webhook request; a channel may not override them, or a
/// receiver could no longer trust the event, delivery id or signature.
const RESERVED_HEADERS: &[&str] = &["content-type", "content-length", "user-agent", "authorization", "host"];

/// A webhook's retries happen while the run waits; more than this belongs to the outbox.
const MAX_RETRIES: u32 = 10;

pub(super) fn channel(
    d: &mut Diagnostics<'_>,
    field: &str,
    value: &Spanned<DeValue<'_>>,
) -> Option<RawChannel> {
    let kind = match value.get_ref() {
        DeValue::Table(t) => t.get("type").map(|k| (k.get_ref().as_str().map(str::to_owned), k.span())),
        _ => {
            d.error(value.span(), field, "a channel is a table: write [channel.NAME]");
            return None;
        }
    };
    match kind {
        Some((Some(k), _)) if k == "email" => section(d, field, value.clone()).map(RawChannel::Email),
        Some((Some(k), _)) if k == "webhook" => section(d, field, value.clone()).map(RawChannel::Webhook),
        Some((_, span)) => {
            d.error(span, format!("{field}.type"), "unknown channel type; expected \"email\" or \"webhook\"");
            None
        }
        None => {
            d.error(value.span(), format!("{field}.type"), "missing `type` (\"email\" or \"webhook\")");
            None
        }
    }
}

const SMTP_FORMS: &str =
    "expected smtp://HOST[:PORT] (STARTTLS), smtps://HOST[:PORT] (TLS) or smtp+plain://HOST[:PORT] (no TLS)";

/// Reads an SMTP URL with the `http` crate's URI parser, and checks with lettre what lettre
/// would refuse when sending (a host name TLS cannot verify).
fn smtp_server(url: &str) -> Result<SmtpServer, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{SMTP_FORMS}: {e}"))?;
    let security = match uri.scheme_str() {
        Some("smtp") => SmtpSecurity::StartTls,
        Some("smtps") => SmtpSecurity::Tls,
        Some("smtp+plain") => SmtpSecurity::Plain,
        _ => return Err(SMTP_FORMS.into()),
    };
    let authority = uri.authority().ok_or(SMTP_FORMS)?;
    if authority.as_str().contains('@') {
        return Err("no user name or password in the URL: set `username` and `password_env`".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{SMTP_FORMS}: nothing may follow HOST[:PORT]"));
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err(SMTP_FORMS.into());
    }
    // `Authority::port` is `None` for a port that is no u16, so read what follows the host.
    let port = match authority.as_str()[authority.host().len()..].strip_prefix(':') {
        None => None,
        Some(port) => {
            Some(port.parse::<u16>().ok().filter(|&p| p != 0).ok_or("the port must be 1 to 65535")?)
        }
    };
    // What lettre checks before it speaks TLS: a name (or address) a certificate can be for.
    if security != SmtpSecurity::Plain {
        rustls_pki_types::ServerName::try_from(host.as_str())
            .map_err(|e| format!("{host} cannot be checked by TLS: {e}"))?;
    }
    Ok(SmtpServer { security, host, port })
}

/// A webhook URL as the HTTP client will read it: http or https, with a host.
fn webhook_url(url: &str) -> Result<Uri, String> {
    let expected = "expected an http:// or https:// URL";
    let uri: Uri = url.parse().map_err(|e| format!("{expected}: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        _ => Err(expected.into()),
    }
}

/// An OAuth2 token endpoint: a webhook URL without credentials in it, which would be sent
/// and printed with the URL; the client authenticates with `client_id` and its secret.
fn token_url(url: &str) -> Result<(), String> {
    let uri = webhook_url(url)?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("no user name or password in the URL: set client_id and client_secret_env".into());
    }
    Ok(())
}

impl Validator<'_> {
    pub(super) fn channels(&mut self, raw: Vec<(Text, RawChannel)>) -> BTreeMap<String, Channel> {
        let mut channels = BTreeMap::new();
        for (name, ch) in raw {
            let field = |key: &str| format!("channel.{}.{key}", name.get_ref());
            let parsed = match ch {
                RawChannel::Email(e) => self.email(&field, e).map(Channel::Email),
                RawChannel::Webhook(w) => self.webhook(&field, w).map(Channel::Webhook),
            };
            if let Some(parsed) = parsed {
                channels.insert(name.into_inner(), parsed);
            }
        }
        channels
    }

    fn email(&mut self, field: &dyn Fn(&str) -> String, e: raw::Email) -> Option<Email> {
        let _ = e.kind;
        let transport = match (&e.smtp, e.transport.as_ref().map(|t| (t.get_ref().as_str(), t.span()))) {
            (Some(url), None | Some(("smtp", _))) => match smtp_server(url.get_ref()) {
                Ok(server) => EmailTransport::Smtp(server),
                Err(problem) => {
                    self.d.error(url.span(), field("smtp"), problem);
                    EmailTransport::Sendmail
                }
            },
            (None, Some(("sendmail", _))) => EmailTransport::Sendmail,
            (Some(url), Some(("sendmail", _))) => {
                self.d.error(
                    url.span(),
                    field("smtp"),
                    "set either smtp or transport = \"sendmail\", not both",
                );
                EmailTransport::Sendmail
            }
            (_, Some((_, span))) => {
                self.d.error(span, field("transport"), "expected \"smtp\" or \"sendmail\"");
                EmailTransport::Sendmail
            }
            (None, None) => {
                self.d.error(
                    e.from.span(),
                    field("smtp"),
                    "missing `smtp = \"smtp://HOST:587\"` or `transport = \"sendmail\"`",
                );
                EmailTransport::Sendmail
            }
        };
        let from = self.address(&field("from"), &e.from);
        if e.to.get_ref().is_empty() {
            self.d.error(e.to.span(), field("to"), "needs at least one address");
        }
        let to: Vec<Option<Mailbox>> =
            e.to.get_ref()
                .iter()
                .enumerate()
                .map(|(i, to)| self.address(&format!("{}[{i}]", field("to")), to))
                .collect();
        if let (Some(p), None) = (&e.password_env, &e.username) {
            self.d.error(
                p.span(),
                field("password_env"),
                "set `username` too: both are needed for SMTP AUTH",
            );
        }
        let password_env = self.env_name(&field("password_env"), e.password_env.as_ref());
        Some(Email {
            transport,
            from: from?,
            to: to.into_iter().collect::<Option<_>>()?,
            username: e.username,
            password_env,
            timeout: self.positive(&field("timeout"), e.timeout.as_ref(), Duration::from_secs(30)),
            ca: e.ca_file.and_then(|raw| self.ca_file(&field("ca_file"), &raw)),
        })
    }

    /// A PEM file of the CA certificates a channel's server is checked against instead of the
    /// public ones.
    fn ca_file(&mut self, field: &str, raw: &Text) -> Option<TrustedCa> {
        let path = self.resolve(raw.get_ref());
        let pem = match read_named_file(&path) {
            Ok((pem, _)) => pem,
            Err(err) => {
                self.d.error(raw.span(), field, format!("cannot read {}: {err}", path.display()));
                return None;
            }
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem.as_bytes()) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.der().to_vec()),
                Ok(_) => {}
                Err(_) => {
                    let msg = format!(
                        "{} is not valid PEM (expected -----BEGIN CERTIFICATE----- sections)",
                        path.display()
                    );
                    self.d.error(raw.span(), field, msg);
                    return None;
                }
            }
        }
        if certs.is_empty() {
            self.d.error(raw.span(), field, format!("{} holds no PEM certificate", path.display()));
            return None;
        }
        Some(TrustedCa { path, certs })
    }

    /// An address as lettre reads it when it sends: `ops@example.com` or `Ops <ops@example.com>`.
    fn address(&mut self, field: &str, addr: &Text) -> Option<Mailbox> {
        match addr.get_ref().parse::<Mailbox>() {
            Ok(mailbox) => Some(mailbox),
            Err(err) => {
                self.d.error(
                    addr.span(),
                    field,
                    format!("{:?} is not an email address: {err}", addr.get_ref()),
                );
                None
            }
        }
    }

    fn webhook(&mut self, field: &dyn Fn(&str) -> String, w: raw::Webhook) -> Option<Webhook> {
        let _ = w.kind;
        let bearer_wins = w.bearer_token_env.is_some();
        let url = w.url.get_ref();
        if let Err(problem) = webhook_url(url) {
            self.d.error(w.url.span(), field("url"), problem);
        }
        if let (Some(manual), Some(_)) = (&w.bearer_token_env, &w.oauth2) {
            self.d.warning(
                manual.span(),
                field("bearer_token_env"),
                "set together with oauth2, it wins: no OAuth2 token is fetched",
            );
        }
        for name in w.headers.keys() {
            let valid = !name.get_ref().is_empty()
                && name
                    .get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let lower = name.get_ref().to_ascii_lowercase();
            let problem = if !valid {
                Some("not a valid HTTP header name")
            } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-ftptrigger-") {
                Some("set by ftptrigger itself (Content-Type, User-Agent, Authorization, X-Ftptrigger-*)")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.d.error(name.span(), format!("{}.{}", field("headers"), name.get_ref()), problem);
            }
        }
        Some(Webhook {
            url: url.clone(),
            secret_env: self.env_name(&field("secret_env"), w.secret_env.as_ref()),
            bearer_token_env: self.env_name(&field("bearer_token_env"), w.bearer_token_env.as_ref()),
            headers: w.headers.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
            timeout: self.positive(&field("timeout"), w.timeout.as_ref(), Duration::from_secs(10)),
            retries: match w.retries {
                Some(r) if *r.get_ref() > MAX_RETRIES => {
                    let msg = format!(
                        "at most {MAX_RETRIES}: the run waits for every attempt (the outbox retries later)"
                    );
                    self.d.error(r.span(), field("retries"), msg);
                    MAX_RETRIES
                }
                Some(r) => r.into_inner(),
                None => 3,
            },
            ca: w.ca_file.and_then(|raw| self.ca_file(&field("ca_file"), &raw)),
            oauth2: w.oauth2.map(|raw| self.oauth2(&field("oauth2"), raw, bearer_wins)),
        })
    }

    /// `oauth2 = { token_url, client_id, client_secret_env, scope }`, each checked where it
    /// stands.
    fn oauth2(&mut self, field: &str, raw: raw::OAuth2, bearer_wins: bool) -> OAuth2 {
        let key = |name: &str| format!("{field}.{name}");
        if let Err(problem) = token_url(raw.token_url.get_ref()) {
            self.d.error(raw.token_url.span(), key("token_url"), problem);
        }
        if raw.client_id.get_ref().trim().is_empty() {
            self.d.error(raw.client_id.span(), key("client_id"), "must not be empty");
        }
        if let Some(scope) = raw.scope.as_ref().filter(|s| s.get_ref().trim().is_empty()) {
            self.d.error(scope.span(), key("scope"), "must not be empty: leave scope out to ask for none");
        }
        // With bearer_token_env set the client secret is never read: unset, it is no problem.
        let client_secret_env = if bearer_wins {
            let name = raw.client_secret_env.get_ref();
            if !is_env_name(name) {
                let msg = format!("{name:?} is not an environment variable name");
                self.d.error(raw.client_secret_env.span(), key("client_secret_env"), msg);
            }
            Some(name.clone())
        } else {
            self.env_name(&key("client_secret_env"), Some(&raw.client_secret_env))
        };
        OAuth2 {
            token_url: raw.token_url.into_inner(),
            client_id: raw.client_id.into_inner(),
            client_secret_env: client_secret_env.unwrap_or_default(),
            scope: raw.scope.map(Spanned::into_inner),
        }
    }

    pub(super) fn env_name(&mut self, field: &str, raw: Option<&Text>) -> Option<String> {
        let raw = raw?;
        if !is_env_name(raw.get_ref()) {
            self.d.error(
                raw.span(),
                field,
                format!("{:?} is not an environment variable name", raw.get_ref()),
            );
        }
        // Unset now may be set for the real run (a systemd unit's Environment=), so only warn.
        let in_file =
            |f: &PathBuf| self.env_files.get(f).is_some_and(|vars| vars.contains_key(raw.get_ref()));
        if std::env::var_os(raw.get_ref()).is_none() && !self.secrets_file.as_ref().is_some_and(in_file) {
            let msg =
                format!("{} is set neither in the environment nor in [defaults] env_file", raw.get_ref());
            self.d.warning(raw.span(), field, msg);
        }
        Some(raw.get_ref().clone())
    }
}
