//! Exponential backoff shared by the HTTP sinks and notifiers.

use std::time::Duration;

/// How often and how patiently to retry a request that failed transiently (transport errors,
/// HTTP 408, 429, 500, 502, 503, 504).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay after failed attempt `attempt` (1-based); a server's `Retry-After` wins, capped.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        retry_after.unwrap_or(exp).min(self.max_delay)
    }
}

pub(crate) fn retryable(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A reqwest error as text without the request URL (webhook URLs carry tokens).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    // The causes (hyper, io) never carry the URL.
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        source = cause.source();
    }
    snippet(&msg, 300)
}

/// First `max` characters of a response body, for error messages.
pub(crate) fn snippet(body: &str, max: usize) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.delay(1, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(9))),
            Duration::from_millis(350)
        );
    }

    #[test]
    fn snippet_truncates_on_char_boundary() {
        assert_eq!(snippet("  éééé ", 2), "éé…");
        assert_eq!(snippet("ok", 5), "ok");
    }
}
