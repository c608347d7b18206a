//! The audit page's source: the controller's hash-chained file log, read through its
//! `/audit/entries` endpoint (`--audit-url`, bearer token from `--audit-token-file`). The
//! controller answers whoever holds the token; this side keeps only the entries in namespaces
//! where the caller may `list actionruns`, paging on until a page is full or the log ends.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::access::Namespaces;
use crate::http::ApiError;

/// What the answers say they come from.
pub const SOURCE: &str = "nexus-controller file audit log (hash-chained; `nexus audit verify`)";
/// Pages fetched from the controller for one answer at most, so a caller who may see little of
/// a large log gets a short page and a continue token rather than a scan of everything.
const MAX_ROUNDS: usize = 10;

/// The controller's audit endpoint.
pub struct AuditSource {
    http: reqwest::Client,
    /// `…/audit/entries`.
    url: String,
    token_file: Option<PathBuf>,
}

/// One entry as the controller stores it.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredEntry {
    pub seq: u64,
    pub time: String,
    pub prev: String,
    pub hash: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub event: StoredEvent,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredEvent {
    pub kind: String,
    pub actor: String,
    pub run: String,
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub details: Value,
}

#[derive(Debug, Clone, Deserialize)]
struct StoredPage {
    items: Vec<StoredEntry>,
    #[serde(default)]
    next: Option<u64>,
}

/// One entry as the portal shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub seq: u64,
    pub time: String,
    /// `run.created`, `approval.recorded`, `run.succeeded`, …
    pub kind: String,
    pub namespace: String,
    /// The run's name.
    pub run: String,
    pub action: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    pub actor: String,
    pub details: Value,
    pub hash: String,
    pub prev: String,
}

/// What to ask for.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub namespace: Option<String>,
    /// Run name (within `namespace` when given).
    pub run: Option<String>,
    pub actor: Option<String>,
    /// Entries older than this seq (the previous page's `continue`).
    pub after: Option<u64>,
    pub limit: usize,
}

/// The entries `allowed` lets the caller see, as the portal shows them.
pub fn visible(entries: Vec<StoredEntry>, allowed: &Namespaces) -> Vec<AuditEntry> {
    entries
        .into_iter()
        .filter_map(|e| {
            let (ns, name) = e.event.run.split_once('/')?;
            let ns = e.namespace.clone().unwrap_or_else(|| ns.to_string());
            if !allowed.allows(&ns) {
                return None;
            }
            Some(AuditEntry {
                seq: e.seq,
                time: e.time,
                kind: e.event.kind,
                run: name.to_string(),
                namespace: ns,
                action: e.event.action,
                target: e.event.target,
                actor: e.event.actor,
                details: e.event.details,
                hash: e.hash,
                prev: e.prev,
            })
        })
        .collect()
}

/// Namespaces named by a batch of entries.
pub fn namespaces_of(entries: &[StoredEntry]) -> Vec<String> {
    let mut out: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            e.namespace
                .clone()
                .or_else(|| e.event.run.split_once('/').map(|(ns, _)| ns.to_string()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl AuditSource {
    pub fn new(base: &str, token_file: Option<PathBuf>) -> Result<Self, String> {
        let url = format!("{}/audit/entries", base.trim_end_matches('/'));
        reqwest::Url::parse(&url).map_err(|e| format!("--audit-url {base}: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            url,
            token_file,
        })
    }

    async fn fetch(&self, q: &AuditQuery) -> Result<StoredPage, ApiError> {
        let mut params: Vec<(&str, String)> = vec![("limit", q.limit.to_string())];
        if let Some(ns) = &q.namespace {
            params.push(("namespace", ns.clone()));
        }
        match (&q.namespace, &q.run) {
            (Some(ns), Some(run)) => params.push(("run", format!("{ns}/{run}"))),
            (None, Some(run)) => params.push(("run", run.clone())),
            _ => {}
        }
        if let Some(a) = &q.actor {
            params.push(("actor", a.clone()));
        }
        if let Some(after) = q.after {
            params.push(("after", after.to_string()));
        }
        let mut request = self.http.get(&self.url).query(&params);
        if let Some(file) = &self.token_file {
            // Re-read per request: a rotated Secret takes effect without a restart.
            let token = std::fs::read_to_string(file).map_err(|e| {
                ApiError::Unavailable(format!("audit token {}: {e}", file.display()))
            })?;
            request = request.bearer_auth(token.trim());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(format!("the audit log cannot be reached: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            ApiError::Unavailable(format!("the audit log answered with something else: {e}"))
        })?;
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("no message");
            return Err(ApiError::Unavailable(format!(
                "the audit log answered {status}: {message}"
            )));
        }
        serde_json::from_value(body).map_err(|e| {
            ApiError::Unavailable(format!("the audit log answered with something else: {e}"))
        })
    }

    /// A page of entries the caller may see, newest first, and where to continue. `allowed`
    /// answers which of the namespaces a batch names the caller may see.
    pub async fn page<F, Fut>(
        &self,
        mut query: AuditQuery,
        mut allowed: F,
    ) -> Result<(Vec<AuditEntry>, Option<u64>), ApiError>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Namespaces, ApiError>>,
    {
        let limit = query.limit;
        let mut out = Vec::new();
        for _ in 0..MAX_ROUNDS {
            query.limit = (limit - out.len()).max(1);
            let page = self.fetch(&query).await?;
            let scanned = page.items.last().map(|e| e.seq);
            let namespaces = allowed(namespaces_of(&page.items)).await?;
            out.extend(visible(page.items, &namespaces));
            match (page.next, scanned) {
                (Some(next), _) if out.len() < limit => query.after = Some(next),
                (Some(_), Some(last)) => return Ok((out, Some(last))),
                _ => return Ok((out, None)),
            }
        }
        Ok((out, query.after))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(seq: u64, run: &str) -> StoredEntry {
        serde_json::from_value(json!({"seq": seq, "time": "2025-01-01T00:00:00Z", "prev": "p", "hash": "h",
            "event": {"kind": "run.created", "actor": "dana", "run": run, "action": "scale", "target": "", "details": {}}}))
        .unwrap()
    }

    #[test]
    fn only_namespaces_the_caller_may_list_runs_in() {
        let entries = vec![entry(3, "pay/a"), entry(2, "ship/b"), entry(1, "pay/c")];
        assert_eq!(namespaces_of(&entries), ["pay", "ship"]);
        let seen = visible(entries.clone(), &Namespaces::only(["pay"]));
        let runs: Vec<_> = seen
            .iter()
            .map(|e| (e.namespace.as_str(), e.run.as_str()))
            .collect();
        assert_eq!(runs, [("pay", "a"), ("pay", "c")]);
        assert!(visible(entries.clone(), &Namespaces::only([])).is_empty());
        assert_eq!(visible(entries, &Namespaces::everywhere()).len(), 3);
    }
}
