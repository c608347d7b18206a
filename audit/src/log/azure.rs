//! Azure Monitor Logs Ingestion API sink.
//!
//! `POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01`
//! with a JSON array of records and `Authorization: Bearer <token>`. The token comes from a
//! caller-provided async callback (Entra ID is not this crate's business). The stream declared in
//! the DCR must have the columns `TimeGenerated` (datetime), `Seq` (long), `Kind`, `Actor`, `Run`,
//! `Action`, `Target` (string), `Details` (dynamic), `Prev`, `Hash` (string).

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{Entry, Sink, SinkError};
use crate::retry::{self, RetryPolicy};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TokenFuture = BoxFuture<'static, Result<String, BoxError>>;
/// Returns a bearer token for `https://monitor.azure.com//.default`; called before every request
/// (cache inside the callback).
pub type TokenSource = Arc<dyn Fn() -> TokenFuture + Send + Sync>;

/// The API rejects bodies over 1 MB; stay well under.
const MAX_BODY_BYTES: usize = 900 * 1024;

#[derive(Clone, Debug)]
pub struct AzureConfig {
    /// Data collection endpoint (or DCR ingestion endpoint) base URL,
    /// `https://<dce>.<region>-1.ingest.monitor.azure.com`.
    pub endpoint: String,
    pub dcr_immutable_id: String,
    /// `Custom-NexusAudit`.
    pub stream: String,
    /// Records per request at most (also split by body size).
    pub max_batch: usize,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl AzureConfig {
    pub fn new(
        endpoint: impl Into<String>,
        dcr_immutable_id: impl Into<String>,
        stream: impl Into<String>,
    ) -> AzureConfig {
        AzureConfig {
            endpoint: endpoint.into(),
            dcr_immutable_id: dcr_immutable_id.into(),
            stream: stream.into(),
            max_batch: 500,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct AzureSink {
    cfg: AzureConfig,
    url: reqwest::Url,
    client: reqwest::Client,
    token: TokenSource,
}

impl std::fmt::Debug for AzureSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSink")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

const NAME: &str = "azure-monitor";

impl AzureSink {
    pub fn new(cfg: AzureConfig, token: TokenSource) -> Result<AzureSink, SinkError> {
        let bad = |message: String| SinkError::Config {
            sink: NAME.into(),
            message,
        };
        let mut url = reqwest::Url::parse(&cfg.endpoint)
            .map_err(|e| bad(format!("endpoint {:?}: {e}", cfg.endpoint)))?;
        url.path_segments_mut()
            .map_err(|()| bad(format!("endpoint {:?} cannot be a base URL", cfg.endpoint)))?
            .pop_if_empty()
            .extend([
                "dataCollectionRules",
                &cfg.dcr_immutable_id,
                "streams",
                &cfg.stream,
            ]);
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", "2023-01-01");
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| bad(retry::describe(e)))?;
        Ok(AzureSink {
            cfg,
            url,
            client,
            token,
        })
    }

    /// The request URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// One record of the stream.
    pub fn record(entry: &Entry) -> Value {
        json!({
            "TimeGenerated": entry.time.to_string(),
            "Seq": entry.seq,
            "Kind": entry.event.kind.as_str(),
            "Actor": entry.event.actor,
            "Run": entry.event.run,
            "Action": entry.event.action,
            "Target": entry.event.target,
            "Details": entry.event.details,
            "Prev": entry.prev,
            "Hash": entry.hash,
        })
    }

    /// Request bodies for `entries`: at most `max_batch` records and ~900 KB each.
    fn bodies(&self, entries: &[Entry]) -> Result<Vec<Vec<u8>>, SinkError> {
        let mut bodies = Vec::new();
        let mut current: Vec<Vec<u8>> = Vec::new();
        let mut size = 2;
        for entry in entries {
            let rec = serde_json::to_vec(&Self::record(entry)).map_err(|e| SinkError::Config {
                sink: NAME.into(),
                message: e.to_string(),
            })?;
            if !current.is_empty()
                && (current.len() >= self.cfg.max_batch.max(1)
                    || size + rec.len() + 1 > MAX_BODY_BYTES)
            {
                bodies.push(join(&current));
                current.clear();
                size = 2;
            }
            size += rec.len() + 1;
            current.push(rec);
        }
        if !current.is_empty() {
            bodies.push(join(&current));
        }
        Ok(bodies)
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SinkError> {
        let policy = &self.cfg.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = (self.token)().await.map_err(|e| SinkError::Token {
                sink: NAME.into(),
                message: e.to_string(),
            })?;
            let result = self
                .client
                .post(self.url.clone())
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (error, wait) = match result {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let after = retry::retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    let error = SinkError::Status {
                        sink: NAME.into(),
                        status: status.as_u16(),
                        attempts: attempt,
                        body: retry::snippet(&text, 300),
                    };
                    if !retry::retryable(status) {
                        return Err(error);
                    }
                    (error, after)
                }
                Err(e) => (
                    SinkError::Transport {
                        sink: NAME.into(),
                        attempts: attempt,
                        message: retry::describe(e),
                    },
                    None,
                ),
            };
            if attempt >= policy.max_attempts.max(1) {
                return Err(error);
            }
            tracing::debug!(%error, attempt, "audit: retrying Azure Monitor ingestion");
            tokio::time::sleep(policy.delay(attempt, wait)).await;
        }
    }
}

fn join(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.push(b']');
    out
}

impl Sink for AzureSink {
    fn name(&self) -> &str {
        NAME
    }

    fn publish<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for body in self.bodies(entries)? {
                self.post(body).await?;
            }
            Ok(())
        })
    }
}
