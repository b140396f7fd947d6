//! Webhook delivery: a signed JSON `POST`, retried only where a retry can help.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Attempt, Message, Secrets};
use crate::config::Webhook;

/// The longest `Retry-After` waited for; a receiver asking for more is left to the outbox
/// rather than holding the run.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// The first pause between attempts; it doubles each time.
const BACKOFF: Duration = Duration::from_millis(500);

/// Sends `message` with up to `1 + retries` attempts.
pub fn deliver(hook: &Webhook, message: &Message, secrets: &Secrets<'_>) -> Result<(), String> {
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Ftptrigger-Event".to_owned(), message.event.name().to_owned()),
        ("X-Ftptrigger-Delivery".to_owned(), message.event_id.clone()),
    ];
    if let Some(var) = &hook.secret_env {
        let key = secrets.get(var)?;
        headers.push((
            "X-Ftptrigger-Signature".to_owned(),
            format!("sha256={}", sign(key.as_bytes(), &message.body)),
        ));
    }
    if let Some(var) = &hook.bearer_token_env {
        headers.push(("Authorization".to_owned(), format!("Bearer {}", secrets.get(var)?)));
    }
    headers.extend(hook.headers.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(hook.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("ftptrigger/{}", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &hook.ca {
        // A private CA replaces the public ones: the receiver must present a certificate it
        // signed.
        let certs = ca.certs.iter().map(|der| ureq::tls::Certificate::from_der(der).to_owned());
        let roots = ureq::tls::RootCerts::from(certs.collect::<Vec<_>>());
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    let agent: ureq::Agent = config.build().into();
    let mut pause = BACKOFF;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send(&agent, &hook.url, &headers, message.body.as_bytes()) {
            Attempt::Done => return Ok(()),
            Attempt::Final(error) => return Err(error),
            Attempt::Retry { error, after } => {
                if attempt > hook.retries {
                    let attempts =
                        if attempt == 1 { "1 attempt".to_owned() } else { format!("{attempt} attempts") };
                    return Err(format!("{error} (after {attempts})"));
                }
                if let Some(after) = after.filter(|a| *a > RETRY_AFTER_CAP) {
                    let secs = after.as_secs();
                    return Err(format!(
                        "{error}: the receiver asks to wait {secs}s, longer than a run waits"
                    ));
                }
                let wait = after.unwrap_or(pause);
                log::debug!("webhook attempt {attempt} failed: {error}; next in {wait:?}");
                std::thread::sleep(wait);
                pause *= 2;
            }
        }
    }
}

/// The most a delivery can spend pausing between its attempts.
pub fn longest_pauses(retries: u32) -> Duration {
    (0..retries).map(|i| (BACKOFF * 2u32.saturating_pow(i)).max(RETRY_AFTER_CAP)).sum()
}

fn send(agent: &ureq::Agent, url: &str, headers: &[(String, String)], body: &[u8]) -> Attempt {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let started = Instant::now();
    match request.send(body) {
        Ok(response) => {
            let status = response.status();
            // The body is never read: a receiver that answers with an endless one cannot hold us.
            let describe = format!("HTTP {}", status.as_u16());
            match status.as_u16() {
                200..=299 => Attempt::Done,
                408 | 429 | 500..=599 => {
                    Attempt::Retry { error: describe, after: retry_after(response.headers()) }
                }
                _ => Attempt::Final(format!("{describe} (not retried)")),
            }
        }
        Err(err) => {
            let error = match err {
                ureq::Error::Timeout(_) => format!("timed out after {:.1}s", started.elapsed().as_secs_f64()),
                other => other.to_string(),
            };
            Attempt::Retry { error, after: None }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from webhook receivers and ignored).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Hex HMAC-SHA256 of `body` under `key`: what a receiver recomputes to trust the payload.
pub fn sign(key: &[u8], body: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
