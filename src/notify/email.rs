//! Email delivery: one plain-text message to every recipient, by SMTP or the local MTA.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Message as Mail, SendmailTransport, SmtpTransport, Transport};
use serde_json::Value;

use super::{Message, Secrets};
use crate::config::{Email, EmailTransport, SmtpSecurity, SmtpServer, TrustedCa};

/// The longest a whole delivery may take. `timeout` bounds each SMTP step, but a server that
/// answers a byte at a time (a tarpit) never trips it, so the conversation as a whole is cut
/// off after `timeout` for each step it has: connect, greeting, EHLO, STARTTLS, EHLO again,
/// AUTH, MAIL FROM, one RCPT TO per recipient, DATA, the message, QUIT. A server that answers
/// every step within `timeout` is never cut off. The local MTA gets as long.
pub fn deadline(channel: &Email) -> Duration {
    const STEPS: u32 = 10;
    let recipients = u32::try_from(channel.to.len()).unwrap_or(u32::MAX);
    channel.timeout.saturating_mul(STEPS.saturating_add(recipients))
}

pub fn deliver(channel: &Email, message: &Message, secrets: &Secrets<'_>) -> Result<(), String> {
    let payload: Value = serde_json::from_str(&message.body).map_err(|e| format!("bad payload: {e}"))?;
    let mail = compose(channel, &payload)?;
    let send: Box<dyn FnOnce() -> Result<(), String> + Send> = match &channel.transport {
        EmailTransport::Sendmail => {
            // lettre would run `sendmail` through PATH as it is; a relative entry there would
            // find a `sendmail` a customer uploaded into the working directory.
            let sendmail =
                crate::exec::find_program(OsStr::new("sendmail"), std::env::var_os("PATH").as_deref())
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail"));
            Box::new(move || {
                SendmailTransport::new_with_command(sendmail)
                    .send(&mail)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }
        EmailTransport::Smtp(server) => {
            let mut builder = smtp_builder(server, channel.ca.as_ref())?.timeout(Some(channel.timeout));
            if let (Some(user), Some(var)) = (&channel.username, &channel.password_env) {
                builder = builder.credentials(Credentials::new(user.clone(), secrets.get(var)?));
            }
            let (transport, timeout) = (builder.build(), channel.timeout);
            Box::new(move || transport.send(&mail).map(|_| ()).map_err(|e| smtp_error(&e, timeout)))
        }
    };
    within(deadline(channel), send)
}

/// Runs `send` on a thread of its own and waits at most `limit` for it. Past that the thread is
/// left to its fate (its socket closes when the process ends): lettre offers no way to abort
/// a send, and the run must not wait for a server that never finishes.
fn within(limit: Duration, send: Box<dyn FnOnce() -> Result<(), String> + Send>) -> Result<(), String> {
    let (done, result) = mpsc::channel();
    let started = std::thread::Builder::new().name("email".into()).spawn(move || {
        let _ = done.send(send());
    });
    if let Err(err) = started {
        return Err(format!("cannot start sending: {err}"));
    }
    match result.recv_timeout(limit) {
        Ok(sent) => sent,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("timed out: the whole delivery took over {}", humantime::format_duration(limit)))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the sending thread ended without an answer".into()),
    }
}

/// `smtp://` requires STARTTLS, `smtps://` is TLS from the first byte, `smtp+plain://` is
/// neither (for a relay on localhost). With `ca`, the server's certificate must chain to one
/// of its certificates instead of to a public CA.
fn smtp_builder(
    server: &SmtpServer,
    ca: Option<&TrustedCa>,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, String> {
    let host = server.host.as_str();
    let builder = match (server.security, ca) {
        (SmtpSecurity::StartTls, None) => SmtpTransport::starttls_relay(host).map_err(|e| e.to_string())?,
        (SmtpSecurity::Tls, None) => SmtpTransport::relay(host).map_err(|e| e.to_string())?,
        (SmtpSecurity::StartTls, Some(ca)) => SmtpTransport::starttls_relay(host)
            .map_err(|e| e.to_string())?
            .tls(Tls::Required(private_ca(host, ca)?)),
        (SmtpSecurity::Tls, Some(ca)) => {
            SmtpTransport::relay(host).map_err(|e| e.to_string())?.tls(Tls::Wrapper(private_ca(host, ca)?))
        }
        (SmtpSecurity::Plain, _) => SmtpTransport::builder_dangerous(host).port(25),
    };
    Ok(match server.port {
        Some(port) => builder.port(port),
        None => builder,
    })
}

/// TLS that trusts the certificates of `ca` and nothing else.
fn private_ca(host: &str, ca: &TrustedCa) -> Result<TlsParameters, String> {
    let mut tls = TlsParameters::builder(host.to_owned()).certificate_store(CertificateStore::None);
    for der in &ca.certs {
        let cert = Certificate::from_der(der.clone())
            .map_err(|e| format!("{}: unusable certificate: {e}", ca.path.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    tls.build_rustls().map_err(|e| e.to_string())
}

fn smtp_error(e: &lettre::transport::smtp::Error, timeout: std::time::Duration) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        // A socket timeout surfaces as EAGAIN ("Resource temporarily unavailable").
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        {
            return format!("timed out: no answer within {}", humantime::format_duration(timeout));
        }
        let more = inner.to_string();
        if !text.contains(&more) {
            let _ = write!(text, ": {more}");
        }
        source = inner.source();
    }
    text
}

fn compose(channel: &Email, payload: &Value) -> Result<Mail, String> {
    let mut builder =
        Mail::builder().from(channel.from.clone()).subject(subject(payload)).header(ContentType::TEXT_PLAIN);
    for mailbox in &channel.to {
        builder = builder.to(mailbox.clone());
    }
    builder.body(body(payload)).map_err(|e| e.to_string())
}

/// `[ftptrigger] FAILED acme/ACME_1.zip: process_failed (exit 14)`.
pub fn subject(payload: &Value) -> String {
    let text = |k: &str| payload[k].as_str().unwrap_or("?").to_owned();
    if payload["event"] == "test" {
        return format!("[ftptrigger] TEST from {}", text("host"));
    }
    let state = if payload["event"] == "run.succeeded" { "OK" } else { "FAILED" };
    let exit = payload["exit_code"].as_i64().map_or_else(String::new, |c| format!(" (exit {c})"));
    // Names come from outside: a newline in one must not start a new header.
    let clean = |s: String| s.chars().map(|c| if c.is_control() { '?' } else { c }).collect::<String>();
    clean(format!("[ftptrigger] {state} {}/{}: {}{exit}", text("cid"), text("filename"), text("outcome")))
}

/// Every fact of the payload, one per line, then the output tail.
pub fn body(payload: &Value) -> String {
    let mut out = String::new();
    let field = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let _ = writeln!(out, "{}\n", field(&payload["message"]));
    for (label, value) in [
        ("Outcome", &payload["outcome"]),
        ("Exit code", &payload["exit_code"]),
        ("CID", &payload["cid"]),
        ("File", &payload["file"]),
        ("File name", &payload["filename"]),
        ("Size", &payload["size"]),
        ("MD5 expected", &payload["md5"]["expected"]),
        ("MD5 actual", &payload["md5"]["actual"]),
        ("Rule", &payload["rule"]),
        ("Tags", &payload["tags"]),
        ("Command", &payload["process"]["argv"]),
        ("Status", &payload["process"]["status"]),
        ("Signal", &payload["process"]["signal"]),
        ("Duration (ms)", &payload["process"]["duration_ms"]),
        ("Run id", &payload["run_id"]),
        ("Host", &payload["host"]),
        ("Started", &payload["started_at"]),
        ("Finished", &payload["finished_at"]),
        ("Event id", &payload["event_id"]),
    ] {
        let _ = writeln!(out, "{label:<14} {}", field(value));
    }
    if let Some(tail) = payload["process"]["output_tail"].as_str().filter(|t| !t.is_empty()) {
        let _ = write!(out, "\nOutput (last {} bytes):\n{tail}", tail.len());
        if !tail.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
