//! Load generation for `nexus-read-bench`: a bounded number of HTTPS GETs at a fixed
//! concurrency, or direct calls one after another. Latency is measured per request on the
//! client side (send → whole body read) and summarised as p50/p99/rps.
//!
//! Every worker opens its connection (TLS handshake included) with one unmeasured request
//! before the clock starts, so the figures are for keep-alive connections, as a portal
//! front-end or a proxy uses them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;

/// One request: a path (with query) and which token (user) sends it.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub token: usize,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of each successful request, in milliseconds.
    pub latencies_ms: Vec<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// From the first request sent to the last answer read.
    pub wall: Duration,
    /// Body bytes of the successful requests.
    pub bytes: u64,
}

impl Outcome {
    pub fn requests(&self) -> usize {
        self.latencies_ms.len() + self.errors
    }

    /// Nearest-rank percentile (`q` in 0..=1) of the successful requests; 0 when there are none.
    pub fn percentile(&mut self, q: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return 0.0;
        }
        self.latencies_ms.sort_by(f64::total_cmp);
        let n = self.latencies_ms.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_ms[rank - 1]
    }

    pub fn max(&self) -> f64 {
        self.latencies_ms.iter().copied().fold(0.0, f64::max)
    }

    pub fn mean(&self) -> f64 {
        if self.latencies_ms.is_empty() {
            return 0.0;
        }
        self.latencies_ms.iter().sum::<f64>() / self.latencies_ms.len() as f64
    }

    /// Completed requests per second of wall time.
    pub fn rps(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.requests() as f64 / secs
        }
    }

    pub fn mean_bytes(&self) -> f64 {
        if self.latencies_ms.is_empty() {
            0.0
        } else {
            self.bytes as f64 / self.latencies_ms.len() as f64
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies_ms.extend(other.latencies_ms);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.bytes += other.bytes;
    }
}

/// One GET with a bearer token; the body is read whole. Returns the body size.
pub async fn get(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<usize> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
        bail!("HTTP {status}: {shown}");
    }
    Ok(body.len())
}

/// Called once when every worker has its connection, just before the clock starts.
pub type OnStart = Arc<dyn Fn() + Send + Sync>;

/// Sends `requests` round-robin from `concurrency` workers until `max_requests` are done or
/// `max_time` has passed (requests in flight then still finish and count). Each worker first
/// sends `warm_path` once, unmeasured, to open its connection.
#[allow(clippy::too_many_arguments)]
pub async fn http(
    client: &reqwest::Client,
    base: &str,
    warm_path: &str,
    requests: Arc<Vec<Request>>,
    tokens: Arc<Vec<String>>,
    concurrency: usize,
    max_requests: usize,
    max_time: Duration,
    on_start: OnStart,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (client, base, requests, tokens, next, barrier, on_start) = (
            client.clone(),
            base.to_string(),
            requests.clone(),
            tokens.clone(),
            next.clone(),
            barrier.clone(),
            on_start.clone(),
        );
        let warm_url = format!("{base}{warm_path}");
        workers.spawn(async move {
            let _ = get(&client, &warm_url, &tokens[w % tokens.len()]).await;
            if barrier.wait().await.is_leader() {
                on_start();
            }
            let start = Instant::now();
            let deadline = start + max_time;
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_requests || Instant::now() >= deadline {
                    break;
                }
                let r = &requests[i % requests.len()];
                let url = format!("{base}{}", r.path);
                let sent = Instant::now();
                match get(&client, &url, &tokens[r.token % tokens.len()]).await {
                    Ok(bytes) => {
                        out.latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                        out.bytes += bytes as u64;
                    }
                    Err(error) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(format!("{}: {error:#}", r.path));
                        }
                    }
                }
            }
            (start, Instant::now(), out)
        });
    }
    let mut total = Outcome::default();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((start, end, out)) => {
                first = Some(first.map_or(start, |f| f.min(start)));
                last = Some(last.map_or(end, |l| l.max(end)));
                total.merge(out);
            }
            Err(error) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("worker: {error}"));
            }
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        total.wall = last.duration_since(first);
    }
    total
}

/// Calls `call(i)` for i = 0, 1, … one after another until `max_requests` calls or `max_time`;
/// `call` returns the size of the answer it produced.
pub fn direct(
    max_requests: usize,
    max_time: Duration,
    mut call: impl FnMut(usize) -> anyhow::Result<usize>,
) -> Outcome {
    let mut out = Outcome::default();
    let start = Instant::now();
    for i in 0..max_requests {
        if start.elapsed() >= max_time {
            break;
        }
        let sent = Instant::now();
        match call(i) {
            Ok(bytes) => {
                out.latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                out.bytes += bytes as u64;
            }
            Err(error) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("{error:#}"));
            }
        }
    }
    out.wall = start.elapsed();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut o = Outcome {
            latencies_ms: (1..=100).rev().map(f64::from).collect(),
            wall: Duration::from_secs(2),
            ..Default::default()
        };
        assert_eq!(o.percentile(0.5), 50.0);
        assert_eq!(o.percentile(0.99), 99.0);
        assert_eq!(o.percentile(1.0), 100.0);
        assert_eq!(o.rps(), 50.0);
        assert_eq!(Outcome::default().percentile(0.5), 0.0);
    }

    #[test]
    fn direct_stops_at_the_bound() {
        let o = direct(10, Duration::from_secs(60), Ok);
        assert_eq!(o.requests(), 10);
        assert_eq!(o.bytes, 45);
    }
}
