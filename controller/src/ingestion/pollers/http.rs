//! A small HTTP client for provider REST APIs (GitHub, Azure DevOps, Azure Resource Manager,
//! Entra): configurable base URLs and timeouts, conditional requests with an ETag cache, GitHub's
//! primary and secondary rate limits, `Retry-After`, bounded exponential backoff with jitter for
//! 5xx and timeouts, and typed errors that name the call (`GET /installation/repositories: 401
//! Bad credentials`) but never a credential.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use prometheus::IntCounterVec;

use super::super::{registry::IntegrationKey, status::StatusBook};

/// Timeouts and retry bounds.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Tries per call (first one included) for 5xx, timeouts, 429 and secondary limits.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, plus up to the same again as jitter.
    pub backoff: Duration,
    /// Longest `Retry-After` / rate-limit reset the client waits for; longer → error.
    pub max_wait: Duration,
    /// Bodies kept for conditional requests (bytes, per client).
    pub cache_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(15 * 60),
            cache_bytes: 32 << 20,
        }
    }
}

/// Why a call failed. Messages name the call (method and path, no host, no query) and what
/// the provider said; they never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{call}: {status} {message}")]
    Unauthorized {
        call: String,
        status: u16,
        message: String,
    },
    #[error("{call}: {status} {message}")]
    Forbidden {
        call: String,
        status: u16,
        message: String,
    },
    #[error("{call}: {status} {message}")]
    NotFound {
        call: String,
        status: u16,
        message: String,
    },
    #[error("{call}: {status} {message}")]
    Status {
        call: String,
        status: u16,
        message: String,
    },
    #[error("{call}: timed out after {after:?} ({attempts} attempts)")]
    Timeout {
        call: String,
        after: Duration,
        attempts: u32,
    },
    #[error("{call}: {message}")]
    Transport { call: String, message: String },
    #[error("{call}: rate limited; retry in {wait:?} is longer than the {max:?} the poller waits")]
    RateLimited {
        call: String,
        wait: Duration,
        max: Duration,
    },
    #[error("{call}: response not understood: {source}")]
    Parse {
        call: String,
        #[source]
        source: nexus_ingest::IngestError,
    },
    #[error("{call}: {message}")]
    Invalid { call: String, message: String },
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Unauthorized { status, .. }
            | HttpError::Forbidden { status, .. }
            | HttpError::NotFound { status, .. }
            | HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A 403 or 404: the feature is off or the App lacks the permission (optional reads skip).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            HttpError::Forbidden { .. } | HttpError::NotFound { .. }
        )
    }

    pub fn parse(call: &str, source: nexus_ingest::IngestError) -> Self {
        HttpError::Parse {
            call: call.into(),
            source,
        }
    }
}

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(Arc<str>),
    /// User (may be empty) and password.
    Basic(Arc<str>, Arc<str>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(…)",
            Auth::Basic(..) => "Basic(…)",
        })
    }
}

/// One request.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: Method,
    pub url: String,
    pub auth: Auth,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(String, Bytes)>,
    /// Send `If-None-Match` from the ETag cache and answer 304 with the cached body.
    pub conditional: bool,
}

impl Req {
    pub fn get(url: impl Into<String>, auth: &Auth) -> Self {
        Req {
            method: Method::GET,
            url: url.into(),
            auth: auth.clone(),
            headers: Vec::new(),
            body: None,
            conditional: true,
        }
    }

    pub fn post_json(url: impl Into<String>, auth: &Auth, body: &serde_json::Value) -> Self {
        Req {
            method: Method::POST,
            url: url.into(),
            auth: auth.clone(),
            headers: Vec::new(),
            body: Some((
                "application/json".into(),
                Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
            )),
            conditional: false,
        }
    }

    pub fn post_form(url: impl Into<String>, form: &[(&str, &str)]) -> Self {
        Req {
            method: Method::POST,
            url: url.into(),
            auth: Auth::None,
            headers: Vec::new(),
            body: Some((
                "application/x-www-form-urlencoded".into(),
                Bytes::from(serde_urlencoded::to_string(form).unwrap_or_default()),
            )),
            conditional: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn unconditional(mut self) -> Self {
        self.conditional = false;
        self
    }

    /// `GET /path` — what errors and logs name.
    pub fn call(&self) -> String {
        format!("{} {}", self.method, call_path(&self.url))
    }
}

/// A successful (2xx or 304) response.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// 304: the body is the cached one and has been parsed before.
    pub not_modified: bool,
    pub etag: Option<String>,
    pub call: String,
}

impl Resp {
    /// The `rel="next"` URL of the `Link` header (GitHub pagination).
    pub fn next_link(&self) -> Option<String> {
        next_link(&self.headers)
    }

    /// Azure DevOps' `x-ms-continuationtoken` header.
    pub fn continuation_token(&self) -> Option<String> {
        self.headers
            .get("x-ms-continuationtoken")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|t| !t.is_empty())
    }

    pub fn json(&self) -> Result<serde_json::Value, HttpError> {
        nexus_ingest::error::from_json(&self.body).map_err(|e| HttpError::parse(&self.call, e))
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(http::header::LINK) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(',') {
            let mut pieces = part.split(';');
            let Some(url) = pieces.next() else { continue };
            if pieces.any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            }) {
                let url = url.trim().trim_start_matches('<').trim_end_matches('>');
                if !url.is_empty() {
                    return Some(url.to_string());
                }
            }
        }
    }
    None
}

/// Method-less path of a URL for messages: no scheme, host, query or fragment.
pub fn call_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.to_string()
}

/// `url` with `name=value` added to its query.
pub fn with_query(url: &str, name: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let pair = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
    format!("{url}{sep}{pair}")
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, (String, Bytes)>,
    bytes: usize,
}

/// A provider client for one integration.
#[derive(Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    pub cfg: HttpConfig,
    cache: Arc<Mutex<Cache>>,
    /// GitHub primary limit exhausted: no request before this instant.
    blocked_until: Arc<Mutex<Option<Instant>>>,
    status: StatusBook,
    key: IntegrationKey,
    api_calls: Option<IntCounterVec>,
    source: &'static str,
}

impl HttpClient {
    pub fn new(
        cfg: HttpConfig,
        status: StatusBook,
        key: IntegrationKey,
        api_calls: Option<IntCounterVec>,
        source: &'static str,
    ) -> Result<Self, HttpError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("nexus-controller/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport {
                call: "HTTP client".into(),
                message: e.to_string(),
            })?;
        Ok(HttpClient {
            http,
            cfg,
            cache: Arc::default(),
            blocked_until: Arc::default(),
            status,
            key,
            api_calls,
            source,
        })
    }

    fn count(&self, class: &str) {
        if let Some(c) = &self.api_calls {
            c.with_label_values(&[self.source, class]).inc();
        }
    }

    /// Forgets the cached bodies (e.g. after credentials changed).
    pub fn clear_cache(&self) {
        if let Ok(mut c) = self.cache.lock() {
            *c = Cache::default();
        }
    }

    /// Sends `req`, retrying what is worth retrying; 2xx and 304 are `Ok`.
    pub async fn send(&self, req: &Req) -> Result<Resp, HttpError> {
        self.exchange(req, false).await
    }

    /// Like [`send`](Self::send), but a final 4xx/5xx answer is returned as a `Resp` too (after
    /// the same retries), for callers that read the provider's error body (ARM error codes,
    /// GitHub validation errors). Transport failures and timeouts are still errors.
    pub async fn send_any_status(&self, req: &Req) -> Result<Resp, HttpError> {
        self.exchange(req, true).await
    }

    async fn exchange(&self, req: &Req, keep_errors: bool) -> Result<Resp, HttpError> {
        let call = req.call();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.wait_for_primary_limit(&call).await?;
            let cached = if req.conditional {
                self.cache
                    .lock()
                    .ok()
                    .and_then(|c| c.entries.get(&req.url).cloned())
            } else {
                None
            };
            let mut b = self.http.request(req.method.clone(), &req.url);
            b = match &req.auth {
                Auth::None => b,
                Auth::Bearer(t) => b.bearer_auth(t),
                Auth::Basic(u, p) => b.basic_auth(u, Some(p)),
            };
            for (n, v) in &req.headers {
                b = b.header(*n, v);
            }
            if let Some((etag, _)) = &cached {
                b = b.header(http::header::IF_NONE_MATCH, etag);
            }
            if let Some((ct, body)) = &req.body {
                b = b.header(http::header::CONTENT_TYPE, ct).body(body.clone());
            }
            let result = match b.send().await {
                Ok(r) => {
                    let status = r.status();
                    let headers = r.headers().clone();
                    r.bytes().await.map(|body| (status, headers, body))
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match result {
                Ok(x) => x,
                Err(e) => {
                    self.count("error");
                    let retry = attempt < self.cfg.max_attempts;
                    if e.is_timeout() {
                        if retry {
                            tracing::debug!(integration = %self.key, %call, attempt, "timed out, retrying");
                            self.backoff(attempt).await;
                            continue;
                        }
                        return Err(HttpError::Timeout {
                            call,
                            after: self.cfg.request_timeout,
                            attempts: attempt,
                        });
                    }
                    if retry && (e.is_connect() || e.is_request() || e.is_body()) {
                        self.backoff(attempt).await;
                        continue;
                    }
                    return Err(HttpError::Transport {
                        call,
                        message: transport_message(e),
                    });
                }
            };
            self.count(class(status));
            self.record_rate_limit(&headers);
            if status == StatusCode::NOT_MODIFIED {
                if let Some((etag, body)) = cached {
                    return Ok(Resp {
                        status,
                        headers,
                        body,
                        not_modified: true,
                        etag: Some(etag),
                        call,
                    });
                }
                return Err(HttpError::Invalid {
                    call,
                    message: "304 Not Modified without a cached body".into(),
                });
            }
            if status.is_success() && status != StatusCode::NON_AUTHORITATIVE_INFORMATION {
                let etag = headers
                    .get(http::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                if req.conditional
                    && let Some(e) = &etag
                {
                    self.remember(&req.url, e, &body);
                }
                return Ok(Resp {
                    status,
                    headers,
                    body,
                    not_modified: false,
                    etag,
                    call,
                });
            }
            // Rate limits: Retry-After (secondary limits, 429), or an exhausted primary limit.
            let limited = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::FORBIDDEN
                    && (headers.contains_key(http::header::RETRY_AFTER)
                        || header_i64(&headers, "x-ratelimit-remaining") == Some(0)));
            if limited {
                let wait = retry_after(&headers)
                    .or_else(|| reset_wait(&headers))
                    .unwrap_or(Duration::from_secs(60));
                if wait > self.cfg.max_wait {
                    return Err(HttpError::RateLimited {
                        call,
                        wait,
                        max: self.cfg.max_wait,
                    });
                }
                if attempt < self.cfg.max_attempts {
                    tracing::info!(integration = %self.key, %call, ?wait, "rate limited, waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status.is_server_error() && attempt < self.cfg.max_attempts {
                tracing::debug!(integration = %self.key, %call, %status, attempt, "server error, retrying");
                self.backoff(attempt).await;
                continue;
            }
            if keep_errors {
                return Ok(Resp {
                    status,
                    headers,
                    body,
                    not_modified: false,
                    etag: None,
                    call,
                });
            }
            let message = error_message(status, &body);
            let code = status.as_u16();
            return Err(match code {
                // Azure DevOps answers a refused PAT with 203 and a sign-in page.
                401 | 203 => HttpError::Unauthorized {
                    call,
                    status: 401,
                    message,
                },
                403 => HttpError::Forbidden {
                    call,
                    status: code,
                    message,
                },
                404 => HttpError::NotFound {
                    call,
                    status: code,
                    message,
                },
                _ => HttpError::Status {
                    call,
                    status: code,
                    message,
                },
            });
        }
    }

    fn remember(&self, url: &str, etag: &str, body: &Bytes) {
        let Ok(mut c) = self.cache.lock() else { return };
        if body.len() > self.cfg.cache_bytes / 4 {
            return;
        }
        if c.bytes + body.len() > self.cfg.cache_bytes {
            *c = Cache::default();
        }
        c.bytes += body.len();
        if let Some((_, old)) = c
            .entries
            .insert(url.to_string(), (etag.to_string(), body.clone()))
        {
            c.bytes = c.bytes.saturating_sub(old.len());
        }
    }

    fn record_rate_limit(&self, headers: &HeaderMap) {
        let Some(remaining) = header_i64(headers, "x-ratelimit-remaining") else {
            return;
        };
        let reset = header_i64(headers, "x-ratelimit-reset")
            .and_then(|s| jiff::Timestamp::from_second(s).ok());
        self.status
            .rate_limit(&self.key, remaining, reset.map(Time));
        if remaining == 0
            && let Some(wait) = reset_wait(headers)
            && let Ok(mut b) = self.blocked_until.lock()
        {
            *b = Some(Instant::now() + wait);
        }
    }

    async fn wait_for_primary_limit(&self, call: &str) -> Result<(), HttpError> {
        let until = self.blocked_until.lock().ok().and_then(|mut b| b.take());
        if let Some(until) = until {
            let wait = until.saturating_duration_since(Instant::now());
            if wait > self.cfg.max_wait {
                return Err(HttpError::RateLimited {
                    call: call.into(),
                    wait,
                    max: self.cfg.max_wait,
                });
            }
            tracing::info!(integration = %self.key, ?wait, "GitHub rate limit exhausted, waiting for the reset");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    async fn backoff(&self, attempt: u32) {
        let base = self.cfg.backoff.saturating_mul(1 << (attempt - 1).min(10));
        tokio::time::sleep(base + jitter(base)).await;
    }
}

/// Up to `max` of pseudo-random delay, from the clock (no RNG needed for spreading retries).
pub fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    let max_ms = max.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % max_ms)
}

fn class(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn header_i64(h: &HeaderMap, name: &str) -> Option<i64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds (HTTP dates are treated as one minute).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    Some(
        v.parse::<u64>()
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(60)),
    )
}

/// Time until `X-RateLimit-Reset` (epoch seconds), when the limit is exhausted.
fn reset_wait(h: &HeaderMap) -> Option<Duration> {
    if header_i64(h, "x-ratelimit-remaining") != Some(0) {
        return None;
    }
    let reset = header_i64(h, "x-ratelimit-reset")?;
    let now = jiff::Timestamp::now().as_second();
    Some(Duration::from_secs((reset - now).max(0) as u64 + 1))
}

/// What the provider said: GitHub/ADO `message`, ARM/Entra `error.message` /
/// `error_description`, else the reason phrase. Clipped; never echoes request headers.
/// The provider's error text of a non-2xx answer (first line, bounded).
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = v.as_ref().and_then(|v| {
        let s = |p: &str| v.pointer(p).and_then(|m| m.as_str()).map(str::to_string);
        s("/message")
            .or_else(|| s("/error/message"))
            .or_else(|| s("/error_description"))
            .or_else(|| s("/error"))
    });
    let reason = status.canonical_reason().unwrap_or("error");
    let mut text = match text {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ if status.as_u16() == 203 => "credentials refused (sign-in page returned)".into(),
        _ => reason.to_string(),
    };
    // Entra error descriptions carry trace ids over several lines; the first one says it.
    if let Some(first) = text.lines().next() {
        text = first.to_string();
    }
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn transport_message(e: reqwest::Error) -> String {
    // reqwest's Display includes the URL (no credentials: those go in headers); keep the cause.
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_and_call_path() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            http::HeaderValue::from_static(
                "<https://api.github.com/installation/repositories?page=2>; rel=\"next\", <https://api.github.com/installation/repositories?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/installation/repositories?page=2")
        );
        assert_eq!(
            call_path("https://api.github.com/installation/repositories?per_page=100"),
            "/installation/repositories"
        );
        assert_eq!(
            with_query("http://x/a?b=1", "c", "d e"),
            "http://x/a?b=1&c=d+e"
        );
        assert!(jitter(Duration::from_millis(10)) < Duration::from_millis(10));
    }

    #[test]
    fn messages() {
        assert_eq!(
            error_message(
                StatusCode::UNAUTHORIZED,
                br#"{"message":"Bad credentials","documentation_url":"x"}"#
            ),
            "Bad credentials"
        );
        assert_eq!(
            error_message(
                StatusCode::BAD_REQUEST,
                br#"{"error":{"code":"BadRequest","message":"Query is invalid"}}"#
            ),
            "Query is invalid"
        );
        assert_eq!(error_message(StatusCode::NOT_FOUND, b"<html>"), "Not Found");
    }
}
