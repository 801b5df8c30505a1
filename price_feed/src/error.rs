//! The one error of every provider, the error-chain walker and `Retry-After`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Why a provider gave no usable prices or candles.
///
/// The spot clients report a refused or failed request as [`Http`](Self::Http) or
/// [`Transport`](Self::Transport) (api_updater's `/status` shows "HTTP status 503"); the
/// history clients, which name the provider in the text lambo_checker's answers show, as
/// [`Unavailable`](Self::Unavailable). Whichever it is, [`retry_after`](Self::retry_after)
/// is what the provider asked for, and [`is_temporary`](Self::is_temporary) says whether
/// asking again later can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with a non-2xx status.
    #[error("HTTP status {status}")]
    Http {
        /// The status.
        status: u16,
        /// Seconds its `Retry-After` asked us to wait (read on 429 and 5xx).
        retry_after: Option<u64>,
    },
    /// No answer: timeout, connection refused, DNS, a broken body.
    #[error("transport error: {0}")]
    Transport(String),
    /// Not reachable, timed out, 5xx, or asked us to slow down; worth retrying later.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What happened, naming the provider.
        reason: String,
        /// Seconds the provider asked us to wait, when it said.
        retry_after: Option<u64>,
    },
    /// The provider does not know the pair.
    #[error("unknown pair {0}")]
    UnknownPair(String),
    /// The provider has no candles of this length.
    #[error("interval {0} is not offered")]
    UnsupportedInterval(&'static str),
    /// An answer that is not the documented format: not JSON, missing fields, bad numbers.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A well-formed but unacceptable price: not positive, out of bounds, a jump.
    #[error("invalid price: {0}")]
    Invalid(String),
}

impl ProviderError {
    /// Seconds the provider asked us to wait (its `Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ProviderError::Http { retry_after, .. } | ProviderError::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// True for failures that may pass by themselves: no answer, 429, 5xx, rate limits.
    pub fn is_temporary(&self) -> bool {
        match self {
            ProviderError::Http { status, .. } => *status == 429 || *status >= 500,
            ProviderError::Transport(_) | ProviderError::Unavailable { .. } => true,
            _ => false,
        }
    }
}

/// An error's message followed by its causes (`a: b: c`); reqwest's own message is
/// terse ("error sending request"), the causes say why. A timeout says so first.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let timed_out = e
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_timeout);
    let mut text = if timed_out {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Seconds to wait from a `Retry-After` value at `now`: delay-seconds (`120`) or an
/// HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`, also the obsolete RFC 850 and asctime
/// forms); a date already past is 0. `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT").map(|d| d.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y").map(|d| d.and_utc()))
        .ok()?;
    let millis = (at - now).num_milliseconds();
    // Round up: waiting a fraction of a second too long is harmless, too short is not.
    Some(u64::try_from(millis).map_or(0, |ms| ms.div_ceil(1000)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = Utc.with_ymd_and_hms(2026, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(parse_retry_after("120", now), Some(120));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now), Some(60));
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-26 07:28:30 GMT", now),
            Some(90)
        );
        assert_eq!(parse_retry_after("Wed Oct 21 07:29:00 2026", now), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Some(0));
        for bad in ["", "-5", "soon", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_and_temporariness_are_read_the_same_from_every_variant() {
        let http = |status| ProviderError::Http {
            status,
            retry_after: Some(7),
        };
        assert_eq!(http(429).retry_after(), Some(7));
        assert!(http(429).is_temporary() && http(503).is_temporary() && !http(404).is_temporary());
        let limited = ProviderError::Unavailable {
            reason: "kraken answered HTTP 429".into(),
            retry_after: Some(5),
        };
        assert_eq!(limited.retry_after(), Some(5));
        assert_eq!(limited.to_string(), "unavailable: kraken answered HTTP 429");
        assert_eq!(http(503).to_string(), "HTTP status 503");
        assert_eq!(ProviderError::Malformed("x".into()).retry_after(), None);
    }
}
