//! Webhook delivery: a signed JSON `POST`, retried only where a retry can help.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::oauth2::Authorizer;
use super::{DeliveryError, Message, Secrets, Tried};
use crate::config::Webhook;
use crate::retry::{Backoff, Failed, GaveUp};

/// The longest `Retry-After` waited for; a receiver asking for more is left to the outbox
/// rather than holding the run.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// The first pause between attempts; it doubles each time.
const BACKOFF: Duration = Duration::from_millis(500);

/// Sends `message` with up to `1 + retries` attempts; says how many requests it made.
pub fn deliver(hook: &Webhook, message: &Message, secrets: &Secrets<'_>) -> Tried {
    let mut attempts = 0;
    let result = post(hook, message, secrets, &mut attempts);
    Tried { attempts, result }
}

/// [`deliver`], counting the requests made in `attempts`.
fn post(
    hook: &Webhook,
    message: &Message,
    secrets: &Secrets<'_>,
    attempts: &mut u32,
) -> Result<(), DeliveryError> {
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
    let mut oauth = Authorizer::of(hook, secrets)?;

    let agent = agent(hook);
    let mut requests = 0;
    let sent = backoff(hook).run(|attempt| {
        let mut request = |token: Option<&str>| {
            requests += 1;
            send(&agent, &hook.url, &headers, token, message.body.as_bytes())
        };
        let sent = match &mut oauth {
            Some(oauth) => oauth.attempt(&agent, |token| request(Some(token))),
            None => request(None),
        };
        // Every request counts, the token endpoint's too: a delivery stuck at the token
        // endpoint shows its attempts.
        *attempts = requests + oauth.as_ref().map_or(0, |o| o.requests);
        if let Err(Failed::Retry(error) | Failed::RetryAfter(error, _)) = &sent {
            log::debug!("webhook attempt {attempt} failed: {error}");
        }
        sent
    });
    sent.map_err(|gave_up| match gave_up {
        GaveUp::Stopped(error) => error,
        GaveUp::Exhausted { last, attempts } => {
            let attempts =
                if attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
            DeliveryError::Unavailable(format!("{last} (after {attempts})"))
        }
        GaveUp::TooLong { last, asked } => DeliveryError::Unavailable(format!(
            "{last}: the receiver asks to wait {}s, longer than a run waits",
            asked.as_secs()
        )),
    })
}

/// The HTTP client for `hook`'s receiver (and its token endpoint): the channel's timeout for
/// a whole request, no redirects, every status an answer.
pub(super) fn agent(hook: &Webhook) -> ureq::Agent {
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
    config.build().into()
}

/// The most requests one delivery through `hook` makes, each within its `timeout`: one per
/// attempt; with OAuth2 a token first at each attempt (or the wait for another delivery's),
/// and after a 401 one more token and one more POST.
pub fn most_requests(hook: &Webhook) -> u32 {
    let attempts = hook.retries.saturating_add(1);
    if hook.oauth2.is_some() { attempts.saturating_mul(2).saturating_add(2) } else { attempts }
}

/// The attempts a delivery through `hook` makes: `1 + retries`, pausing 500 ms, 1 s, 2 s...
/// or what the receiver's `Retry-After` asks, up to [`RETRY_AFTER_CAP`].
pub fn backoff(hook: &Webhook) -> Backoff {
    Backoff::attempts(hook.retries.saturating_add(1)).pauses(BACKOFF, Duration::MAX).patience(RETRY_AFTER_CAP)
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    token: Option<&str>,
    body: &[u8],
) -> Result<(), Failed<DeliveryError>> {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let started = Instant::now();
    match request.send(body) {
        // The body is never read: a receiver that answers with an endless one cannot hold us.
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => match DeliveryError::of_status(response.status().as_u16()) {
            busy if busy.retry_later() => match retry_after(response.headers()) {
                Some(after) => Err(Failed::RetryAfter(busy, after)),
                None => Err(Failed::Retry(busy)),
            },
            refused => Err(Failed::Stop(refused)),
        },
        Err(err) => {
            let error = match err {
                ureq::Error::Timeout(_) => format!("timed out after {:.1}s", started.elapsed().as_secs_f64()),
                other => other.to_string(),
            };
            Err(Failed::Retry(DeliveryError::Unavailable(error)))
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from webhook receivers and ignored).
pub(super) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
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
