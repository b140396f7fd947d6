//! OAuth2 for webhook channels: bearer tokens by the client-credentials grant (RFC 6749 §4.4),
//! kept in memory for the life of the process, renewed before they run out, and fetched anew
//! once when a receiver refuses one.
//!
//! Neither the client secret nor a token ever goes into an error, a log line or anything
//! stored: errors name the token URL and the status, never the endpoint's answer, which holds
//! the token (or, from a careless endpoint, echoes the credentials).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use super::{DeliveryError, Secrets};
use crate::config::{OAuth2, Webhook};
use crate::retry::Failed;

/// A token is renewed once less than this remains of its lifetime, or a tenth of the lifetime
/// if that is shorter: early enough that it does not expire on its way to the receiver, late
/// enough that a short-lived token is still used.
const MARGIN: Duration = Duration::from_secs(30);

/// An answer longer than this is no token answer.
const MAX_ANSWER: u64 = 64 * 1024;

/// The tokens of this process, one slot per (token URL, client id, scope): `serve` keeps them
/// across deliveries and config reloads. A slot is locked while its token is fetched, so
/// deliveries that need the same token at once make one request, not one each. A cache, not
/// state: a process that starts without it only fetches once more.
static TOKENS: LazyLock<Mutex<HashMap<Key, Slot>>> = LazyLock::new(Mutex::default);

/// Token URL, client id, scope.
type Key = (String, String, Option<String>);

/// The token of one key, if there is one yet.
type Slot = Arc<Mutex<Option<Token>>>;

/// An access token and when to stop using it.
struct Token {
    value: String,
    /// `None`: the endpoint gave no `expires_in`; the token is used until a receiver refuses it.
    renew_at: Option<Instant>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    token_type: Option<String>,
    /// Seconds; some endpoints send it as a string.
    expires_in: Option<serde_json::Value>,
}

/// What one delivery through an OAuth2 channel needs: the settings, the client secret, and
/// whether it already fetched a token anew after a 401.
pub struct Authorizer<'h> {
    oauth: &'h OAuth2,
    secret: String,
    renewed: bool,
    /// Requests made to the token endpoint.
    pub requests: u32,
}

impl<'h> Authorizer<'h> {
    /// For a channel whose token comes from `oauth2`: none when it has no `oauth2`, or when a
    /// manual `bearer_token_env` wins. Fails when the client secret is not set.
    pub fn of(hook: &'h Webhook, secrets: &Secrets<'_>) -> Result<Option<Authorizer<'h>>, DeliveryError> {
        let Some(oauth) = hook.oauth2.as_ref().filter(|_| hook.bearer_token_env.is_none()) else {
            return Ok(None);
        };
        let secret = secrets.get(&oauth.client_secret_env)?;
        Ok(Some(Authorizer { oauth, secret, renewed: false, requests: 0 }))
    }

    /// One attempt of a delivery: `send` with the current token; when the receiver answers
    /// 401, a new token is fetched (once per delivery) and `send` tried once more with it.
    pub fn attempt(
        &mut self,
        agent: &ureq::Agent,
        mut send: impl FnMut(&str) -> Result<(), Failed<DeliveryError>>,
    ) -> Result<(), Failed<DeliveryError>> {
        let token = self.token(agent, None)?;
        match send(&token) {
            Err(Failed::Stop(DeliveryError::Status(401))) if !self.renewed => {
                self.renewed = true;
                log::debug!("the receiver refused the OAuth2 token (HTTP 401); fetching a new one");
                let token = self.token(agent, Some(&token))?;
                send(&token)
            }
            sent => sent,
        }
    }

    /// The cached token while it is fresh and not `refused`, else a new one.
    fn token(&mut self, agent: &ureq::Agent, refused: Option<&str>) -> Result<String, Failed<DeliveryError>> {
        let slot = slot(self.oauth);
        let mut held = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(token) = held.as_ref()
            && token.renew_at.is_none_or(|at| now < at)
            && refused != Some(token.value.as_str())
        {
            return Ok(token.value.clone());
        }
        *held = None;
        self.requests += 1;
        let token = fetch(agent, self.oauth, &self.secret)?;
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }
}

fn slot(oauth: &OAuth2) -> Slot {
    let key = (oauth.token_url.clone(), oauth.client_id.clone(), oauth.scope.clone());
    let mut tokens = TOKENS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(tokens.entry(key).or_default())
}

/// `notify-test`: gets a token for `hook` (one the delivery that follows then uses): the token
/// URL, and whether that worked. None for a channel without `oauth2`, or whose
/// `bearer_token_env` wins.
pub fn test<'h>(hook: &'h Webhook, secrets: &Secrets<'_>) -> Option<(&'h str, Result<(), DeliveryError>)> {
    let url = hook.oauth2.as_ref()?.token_url.as_str();
    let mut authorizer = match Authorizer::of(hook, secrets) {
        Ok(authorizer) => authorizer?,
        Err(e) => return Some((url, Err(e))),
    };
    let got = authorizer.token(&super::webhook::agent(hook), None);
    Some((url, got.map(|_| ()).map_err(|(Failed::Retry(e) | Failed::RetryAfter(e, _) | Failed::Stop(e))| e)))
}

/// Asks the token endpoint for a token: `grant_type=client_credentials` (and `scope`) as a
/// form, the client authenticated by HTTP Basic with its id and secret form-encoded first
/// (RFC 6749 §2.3.1).
fn fetch(agent: &ureq::Agent, oauth: &OAuth2, secret: &str) -> Result<Token, Failed<DeliveryError>> {
    let url = oauth.token_url.as_str();
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(oauth.scope.as_deref().map(|scope| ("scope", scope)));
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(&oauth.client_id), encode(secret));
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
    let started = Instant::now();
    let sent =
        agent.post(url).header("Authorization", basic).header("Accept", "application/json").send_form(form);
    let unreachable = |err: ureq::Error| {
        let what = match err {
            ureq::Error::Timeout(_) => format!("timed out after {:.1}s", started.elapsed().as_secs_f64()),
            other => other.to_string(),
        };
        Failed::Retry(DeliveryError::Unavailable(format!("OAuth2 token from {url}: {what}")))
    };
    let mut response = sent.map_err(unreachable)?;
    let status = response.status().as_u16();
    let problem = |what: &str| DeliveryError::Unusable(format!("OAuth2 token from {url}: {what}"));
    match status {
        200..=299 => {}
        // Down or busy: retried within the delivery's attempts, then kept in the outbox.
        408 | 429 | 500..=599 => {
            let busy = DeliveryError::Unavailable(format!("OAuth2 token from {url}: HTTP {status}"));
            return Err(match super::webhook::retry_after(response.headers()) {
                Some(after) => Failed::RetryAfter(busy, after),
                None => Failed::Retry(busy),
            });
        }
        // The endpoint refuses the client (RFC 6749 §5.2: invalid_client, invalid_scope...),
        // or is no token endpoint (404, a redirect). Asking again with the same settings
        // cannot help now, so the attempts stop; but it is no refusal of the message: the
        // operator fixes the secret, the client id or the URL, and the delivery must still
        // go. `Unusable` (the channel's settings cannot send it) keeps it in the outbox,
        // where a `Status` would make it dead.
        _ => return Err(Failed::Stop(problem(&format!("HTTP {status}: the endpoint refuses the client")))),
    }
    // serde's messages quote what they could not read, which may be the token itself.
    let answer: Answer = match response.body_mut().with_config().limit(MAX_ANSWER).read_to_vec() {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
            Failed::Stop(problem(&format!("HTTP {status}: the answer is not JSON with an access_token")))
        })?,
        Err(err) => return Err(unreachable(err)),
    };
    if answer.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(Failed::Stop(problem("the token_type is not Bearer")));
    }
    // RFC 6750's b64token, loosely: anything else cannot go into a header as it is.
    if answer.access_token.is_empty() || !answer.access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failed::Stop(problem("the access_token is empty or not printable ASCII")));
    }
    let lifetime = answer.expires_in.as_ref().and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    log::debug!("fetched an OAuth2 token from {url}");
    Ok(Token { value: answer.access_token, renew_at: lifetime.map(|secs| renew_at(started, secs)) })
}

/// When a token asked for at `asked`, valid `secs` seconds, is renewed: [`MARGIN`] or a tenth
/// of its lifetime before it runs out, whichever is shorter. Counted from the request, not
/// the answer, so a slow answer errs on the early side.
fn renew_at(asked: Instant, secs: u64) -> Instant {
    let lifetime = Duration::from_secs(secs.min(10 * 365 * 24 * 3600));
    asked + lifetime - MARGIN.min(lifetime / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_30s_or_a_tenth_of_its_lifetime_before_it_runs_out() {
        let now = Instant::now();
        assert_eq!(renew_at(now, 3600), now + Duration::from_secs(3570));
        assert_eq!(renew_at(now, 60), now + Duration::from_secs(54));
        assert_eq!(renew_at(now, 1), now + Duration::from_millis(900));
        assert_eq!(renew_at(now, 0), now);
    }
}
