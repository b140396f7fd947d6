//! Why a delivery failed, sorted by what trying again can do: the outbox keeps a message that
//! may go through later and gives up on one that cannot.

/// A failed delivery. The text is what the operator reads, in the run's notice and the
/// outbox's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver, or the way to it, is down, slow or busy: a connect error, a timeout,
    /// HTTP 408, 429 or 5xx, a transient (4xx) SMTP reply, a local MTA that failed.
    #[error("{0}")]
    Unavailable(String),
    /// The receiver answered with a status that is no delivery and no reason to wait: any
    /// other 4xx, or a redirect (never followed).
    #[error("HTTP {0} (not retried)")]
    Status(u16),
    /// The mail server refused for good: a permanent (5xx) SMTP reply.
    #[error("{0}")]
    Refused(String),
    /// A secret the channel needs is not set.
    #[error("secret variable {var} is not set (environment or [defaults] env_file)")]
    MissingSecret { var: String },
    /// The stored message cannot be read back.
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// The channel is no longer configured.
    #[error("channel {0} is not in the config any more")]
    UnknownChannel(String),
    /// The channel's settings cannot make or send this message (a CA file that holds no
    /// usable certificate, a host name TLS cannot use, a message the mail builder refuses).
    #[error("{0}")]
    Unusable(String),
}

impl DeliveryError {
    /// Whether the same message, to the same channel, may go through on a later try: the
    /// receiver may come back, and what is wrong on our side (an unset secret, a CA file that
    /// holds nothing usable) is the operator's to fix, after which the message must still go.
    /// Only a receiver's refusal and a message that cannot be read are given up.
    pub fn retry_later(&self) -> bool {
        matches!(
            self,
            DeliveryError::Unavailable(_) | DeliveryError::MissingSecret { .. } | DeliveryError::Unusable(_)
        )
    }

    /// The status of an HTTP answer that is no delivery: 408, 429 and 5xx say the
    /// receiver is busy or down, so a later try may succeed; any other does not change by
    /// asking again.
    pub fn of_status(status: u16) -> DeliveryError {
        match status {
            408 | 429 | 500..=599 => DeliveryError::Unavailable(format!("HTTP {status}")),
            _ => DeliveryError::Status(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_failing_receivers_are_retried_and_refusals_are_not() {
        for status in [408, 429, 500, 503, 599] {
            let e = DeliveryError::of_status(status);
            assert!(e.retry_later(), "{status}");
            assert_eq!(e.to_string(), format!("HTTP {status}"));
        }
        for status in [301, 302, 400, 401, 403, 404, 410, 422] {
            let e = DeliveryError::of_status(status);
            assert!(!e.retry_later(), "{status}");
            assert_eq!(e.to_string(), format!("HTTP {status} (not retried)"));
        }
        let secret = DeliveryError::MissingSecret { var: "HOOK_SECRET".into() };
        assert!(secret.retry_later(), "the operator may still set it");
        assert_eq!(
            secret.to_string(),
            "secret variable HOOK_SECRET is not set (environment or [defaults] env_file)"
        );
    }
}
