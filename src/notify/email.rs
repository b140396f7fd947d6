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

use super::{DeliveryError, Message, Payload, Secrets};
use crate::config::{Email, EmailTransport, SmtpSecurity, SmtpServer, TrustedCa};
use crate::report::{Event, Process, Report};

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

pub fn deliver(channel: &Email, message: &Message, secrets: &Secrets<'_>) -> Result<(), DeliveryError> {
    let payload = message.payload().map_err(|e| DeliveryError::BadPayload(e.to_string()))?;
    let mail = compose(channel, &payload)?;
    let send: Box<dyn FnOnce() -> Result<(), DeliveryError> + Send> = match &channel.transport {
        EmailTransport::Sendmail => {
            // lettre would run `sendmail` through PATH as it is; a relative entry there would
            // find a `sendmail` a customer uploaded into the working directory.
            let sendmail =
                crate::exec::find_program(OsStr::new("sendmail"), std::env::var_os("PATH").as_deref())
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail"));
            Box::new(move || {
                // Handing over to the local MTA fails when it is down or full, which passes.
                SendmailTransport::new_with_command(sendmail)
                    .send(&mail)
                    .map(|_| ())
                    .map_err(|e| DeliveryError::Unavailable(e.to_string()))
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
fn within(
    limit: Duration,
    send: Box<dyn FnOnce() -> Result<(), DeliveryError> + Send>,
) -> Result<(), DeliveryError> {
    let (done, result) = mpsc::channel();
    let started = std::thread::Builder::new().name("email".into()).spawn(move || {
        let _ = done.send(send());
    });
    if let Err(err) = started {
        return Err(DeliveryError::Unavailable(format!("cannot start sending: {err}")));
    }
    match result.recv_timeout(limit) {
        Ok(sent) => sent,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(DeliveryError::Unavailable(format!(
            "timed out: the whole delivery took over {}",
            humantime::format_duration(limit)
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(DeliveryError::Unavailable("the sending thread ended without an answer".into()))
        }
    }
}

/// `smtp://` requires STARTTLS, `smtps://` is TLS from the first byte, `smtp+plain://` is
/// neither (for a relay on localhost). With `ca`, the server's certificate must chain to one
/// of its certificates instead of to a public CA.
fn smtp_builder(
    server: &SmtpServer,
    ca: Option<&TrustedCa>,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, DeliveryError> {
    let host = server.host.as_str();
    let builder = match (server.security, ca) {
        (SmtpSecurity::StartTls, None) => SmtpTransport::starttls_relay(host).map_err(unusable)?,
        (SmtpSecurity::Tls, None) => SmtpTransport::relay(host).map_err(unusable)?,
        (SmtpSecurity::StartTls, Some(ca)) => {
            SmtpTransport::starttls_relay(host).map_err(unusable)?.tls(Tls::Required(private_ca(host, ca)?))
        }
        (SmtpSecurity::Tls, Some(ca)) => {
            SmtpTransport::relay(host).map_err(unusable)?.tls(Tls::Wrapper(private_ca(host, ca)?))
        }
        (SmtpSecurity::Plain, _) => SmtpTransport::builder_dangerous(host).port(25),
    };
    Ok(match server.port {
        Some(port) => builder.port(port),
        None => builder,
    })
}

/// TLS that trusts the certificates of `ca` and nothing else.
fn private_ca(host: &str, ca: &TrustedCa) -> Result<TlsParameters, DeliveryError> {
    let mut tls = TlsParameters::builder(host.to_owned()).certificate_store(CertificateStore::None);
    for der in &ca.certs {
        let cert = Certificate::from_der(der.clone()).map_err(|e| {
            DeliveryError::Unusable(format!("{}: unusable certificate: {e}", ca.path.display()))
        })?;
        tls = tls.add_root_certificate(cert);
    }
    tls.build_rustls().map_err(unusable)
}

/// A failed SMTP delivery, its text with every cause the error carries. Only a permanent
/// (5xx) reply is final; a transient one, a timeout or a broken connection may pass.
fn smtp_error(e: &lettre::transport::smtp::Error, timeout: Duration) -> DeliveryError {
    let text = smtp_text(e, timeout);
    if e.is_permanent() { DeliveryError::Refused(text) } else { DeliveryError::Unavailable(text) }
}

fn smtp_text(e: &lettre::transport::smtp::Error, timeout: Duration) -> String {
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

/// The channel's settings cannot make or send the message: a config matter, not the
/// receiver's.
fn unusable(e: impl ToString) -> DeliveryError {
    DeliveryError::Unusable(e.to_string())
}

fn compose(channel: &Email, payload: &Payload) -> Result<Mail, DeliveryError> {
    let mut builder =
        Mail::builder().from(channel.from.clone()).subject(subject(payload)).header(ContentType::TEXT_PLAIN);
    for mailbox in &channel.to {
        builder = builder.to(mailbox.clone());
    }
    builder.body(body(payload)).map_err(unusable)
}

/// `[ftptrigger] FAILED acme/ACME_1.zip: process_failed (exit 14)`.
pub fn subject(payload: &Payload) -> String {
    let run = match payload {
        Payload::Run(run) => run,
        Payload::Test(test) => return format!("[ftptrigger] TEST from {}", test.host),
    };
    let state = if run.event == Event::RunSucceeded { "OK" } else { "FAILED" };
    let exit = run.exit_code.map_or_else(String::new, |c| format!(" (exit {c})"));
    // Names come from outside: a newline in one must not start a new header.
    let clean = |s: String| s.chars().map(|c| if c.is_control() { '?' } else { c }).collect::<String>();
    clean(format!("[ftptrigger] {state} {}/{}: {}{exit}", run.cid, run.filename, run.outcome))
}

/// The message, every fact of the payload one per line (`-` for those it lacks), then the
/// output tail.
pub fn body(payload: &Payload) -> String {
    let (message, run, host, event_id) = match payload {
        Payload::Run(run) => (&run.message, Some(&**run), &run.host, &run.event_id),
        Payload::Test(test) => (&test.message, None, &test.host, &test.event_id),
    };
    let mut out = format!("{message}\n\n");
    for (label, value) in facts(run, host, event_id) {
        let _ = writeln!(out, "{label:<14} {}", value.as_deref().unwrap_or("-"));
    }
    let tail = run.and_then(|r| r.process.as_ref()).map_or("", |p| p.output_tail.as_str());
    if !tail.is_empty() {
        let _ = write!(out, "\nOutput (last {} bytes):\n{tail}", tail.len());
        if !tail.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The facts an email lists, in order; a test message has only its host and event id.
fn facts(run: Option<&Report>, host: &str, event_id: &str) -> Vec<(&'static str, Option<String>)> {
    let of = |fact: fn(&Report) -> Option<String>| run.and_then(fact);
    let process = |fact: fn(&Process) -> Option<String>| run.and_then(|r| r.process.as_ref()).and_then(fact);
    // Only a run verified by SHA-256 has these; the label fits the column.
    let sha256 = run
        .and_then(|r| r.sha256.as_ref())
        .map(|pair| [("SHA-256 given", pair.expected.clone()), ("SHA-256 actual", pair.actual.clone())]);
    let mut facts = vec![
        ("Outcome", of(|r| Some(r.outcome.to_string()))),
        ("Exit code", of(|r| r.exit_code.map(|c| c.to_string()))),
        ("CID", of(|r| Some(r.cid.clone()))),
        ("File", of(|r| Some(r.file.clone()))),
        ("File name", of(|r| Some(r.filename.clone()))),
        ("Moved to", of(|r| r.moved_to.clone())),
        ("Size", of(|r| r.size.map(|s| s.to_string()))),
        ("MD5 expected", of(|r| r.md5.expected.clone())),
        ("MD5 actual", of(|r| r.md5.actual.clone())),
        ("Rule", of(|r| r.rule.clone())),
        ("Tags", of(|r| serde_json::to_string(&r.tags).ok())),
        ("Command", process(|p| serde_json::to_string(&p.argv).ok())),
        ("Status", process(|p| p.status.map(|s| s.to_string()))),
        ("Signal", process(|p| p.signal.map(|s| s.to_string()))),
        ("Duration (ms)", process(|p| Some(p.duration_ms.to_string()))),
        ("Run id", of(|r| r.run_id.map(|id| id.to_string()))),
        ("Host", Some(host.to_owned())),
        ("Started", of(|r| Some(r.started_at.clone()))),
        ("Finished", of(|r| Some(r.finished_at.clone()))),
        ("Event id", Some(event_id.to_owned())),
    ];
    if let Some(sha256) = sha256 {
        let after_md5 = facts.iter().position(|(label, _)| *label == "Rule").unwrap_or(facts.len());
        facts.splice(after_md5..after_md5, sha256);
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::TestMessage;

    /// A test message has no run: every fact of one is `-`, but the host and event id.
    #[test]
    fn a_test_email_lists_the_facts_it_has() {
        let test = TestMessage {
            version: 1,
            event_id: "e-1".into(),
            event: Event::Test,
            host: "ftp1".into(),
            message: "test message".into(),
            sent_at: "2026-11-22T10:00:00Z".into(),
        };
        let payload = Payload::Test(test);
        assert_eq!(subject(&payload), "[ftptrigger] TEST from ftp1");
        let body = body(&payload);
        assert!(body.starts_with("test message\n\nOutcome        -\nExit code      -\n"), "{body}");
        assert!(
            body.ends_with("Host           ftp1\nStarted        -\nFinished       -\nEvent id       e-1\n"),
            "{body}"
        );
    }

    /// A run verified by SHA-256 lists its pair after the MD5 lines; any other run has none.
    #[test]
    fn a_sha256_run_lists_its_pair_after_the_md5() {
        let mut report = Report::start("acme", "/srv/ftp/acme/a.zip".as_ref(), "a.zip".as_ref());
        report.md5.actual = Some("d41d8cd98f00b204e9800998ecf8427e".into());
        let plain = body(&Payload::Run(Box::new(report.clone())));
        assert!(!plain.contains("SHA-256"), "{plain}");
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        report.sha256 =
            Some(crate::report::DigestPair { expected: Some(sha256.into()), actual: Some(sha256.into()) });
        let body = body(&Payload::Run(Box::new(report)));
        let want = format!(
            "MD5 actual     d41d8cd98f00b204e9800998ecf8427e\nSHA-256 given  {sha256}\nSHA-256 actual {sha256}\nRule "
        );
        assert!(body.contains(&want), "{body}");
    }
}
