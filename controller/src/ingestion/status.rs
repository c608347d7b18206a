//! Integration status: counters, last error, last sync/delivery, cursors and conditions are
//! gathered in memory and flushed every few seconds (one status write per integration per
//! flush, never one per delivery), under the field manager `nexus-ingestion`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, Patch, PatchParams},
};
use nexus_api::integrations::{GROUP, common::IntegrationCounts};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::registry::IntegrationKey;

pub const FIELD_MANAGER: &str = "nexus-ingestion";
/// How often dirty statuses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Default)]
struct Entry {
    counts: IntegrationCounts,
    last_error: Option<(Time, String)>,
    last_success: Option<Time>,
    last_sync: Option<Time>,
    last_webhook: Option<Time>,
    cursors: BTreeMap<String, String>,
    rate_limit: Option<(i64, Option<Time>)>,
    /// A configuration problem (unreadable secret, bad key): Ready=False until it clears.
    config_problem: Option<String>,
    /// Counts already added to the stored status (the next flush adds `counts - flushed`).
    flushed: IntegrationCounts,
    dirty: bool,
}

/// Shared by the receiver, workers and pollers.
#[derive(Clone, Default)]
pub struct StatusBook {
    inner: Arc<Mutex<HashMap<IntegrationKey, Entry>>>,
}

impl StatusBook {
    fn with(&self, key: &IntegrationKey, f: impl FnOnce(&mut Entry)) {
        if let Ok(mut map) = self.inner.lock() {
            let e = map.entry(key.clone()).or_default();
            f(e);
            e.dirty = true;
        }
    }

    pub fn accepted(&self, key: &IntegrationKey) {
        self.with(key, |e| {
            e.counts.deliveries_accepted += 1;
            e.last_webhook = Some(now());
        });
    }

    pub fn rejected(&self, key: &IntegrationKey) {
        self.with(key, |e| e.counts.deliveries_rejected += 1);
    }

    pub fn ignored(&self, key: &IntegrationKey) {
        self.with(key, |e| e.counts.ignored += 1);
    }

    pub fn applied(&self, key: &IntegrationKey, writes: usize) {
        self.with(key, |e| {
            e.counts.applied += writes as i64;
            e.last_success = Some(now());
        });
    }

    /// Records a failure; `message` must not contain secret values.
    pub fn error(&self, key: &IntegrationKey, message: impl Into<String>) {
        let mut message: String = message.into();
        if message.len() > 2000 {
            let mut cut = 2000;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        self.with(key, |e| {
            e.counts.errors += 1;
            e.last_error = Some((now(), message));
        });
    }

    pub fn config_problem(&self, key: &IntegrationKey, problem: Option<String>) {
        self.with(key, |e| e.config_problem = problem);
    }

    pub fn synced(&self, key: &IntegrationKey) {
        self.with(key, |e| {
            let t = now();
            e.last_sync = Some(t.clone());
            e.last_success = Some(t);
        });
    }

    pub fn cursor(&self, key: &IntegrationKey, name: &str, value: impl Into<String>) {
        let value = value.into();
        self.with(key, |e| {
            e.cursors.insert(name.into(), value);
        });
    }

    pub fn rate_limit(&self, key: &IntegrationKey, remaining: i64, reset: Option<Time>) {
        self.with(key, |e| e.rate_limit = Some((remaining, reset)));
    }

    /// Cursors recorded in this process (pollers read stored ones from the integration).
    pub fn cursors(&self, key: &IntegrationKey) -> BTreeMap<String, String> {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(key).map(|e| e.cursors.clone()))
            .unwrap_or_default()
    }

    /// The last error recorded in this process (diagnostics and tests).
    pub fn last_error(&self, key: &IntegrationKey) -> Option<String> {
        self.inner.lock().ok().and_then(|m| {
            m.get(key)
                .and_then(|e| e.last_error.as_ref().map(|(_, m)| m.clone()))
        })
    }

    /// Counters recorded in this process.
    pub fn counts(&self, key: &IntegrationKey) -> IntegrationCounts {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(key).map(|e| e.counts.clone()))
            .unwrap_or_default()
    }

    /// Whether a full sync finished in this process, and the last rate-limit budget seen.
    pub fn sync_state(&self, key: &IntegrationKey) -> (bool, Option<i64>) {
        self.inner
            .lock()
            .ok()
            .and_then(|m| {
                m.get(key)
                    .map(|e| (e.last_sync.is_some(), e.rate_limit.as_ref().map(|r| r.0)))
            })
            .unwrap_or_default()
    }

    /// Snapshots of the dirty entries.
    fn dirty(&self) -> Vec<(IntegrationKey, Entry)> {
        let Ok(mut map) = self.inner.lock() else {
            return Vec::new();
        };
        map.iter_mut()
            .filter(|(_, e)| e.dirty)
            .map(|(k, e)| {
                e.dirty = false;
                (k.clone(), e.clone())
            })
            .collect()
    }

    /// After a successful write: these counts are in the stored status now.
    fn mark_flushed(&self, key: &IntegrationKey, counts: &IntegrationCounts) {
        if let Ok(mut map) = self.inner.lock()
            && let Some(e) = map.get_mut(key)
        {
            e.flushed = counts.clone();
        }
    }

    fn mark_dirty(&self, key: &IntegrationKey) {
        if let Ok(mut map) = self.inner.lock()
            && let Some(e) = map.get_mut(key)
        {
            e.dirty = true;
        }
    }

    /// Writes dirty statuses every [`FLUSH_EVERY`] until shutdown (and once more then).
    ///
    /// Every replica receives webhooks and keeps its own book, so a flush merges into what is
    /// stored instead of replacing it: counts are added as deltas, times and the last error keep
    /// the newest, cursors are merged key by key, and the write carries the resourceVersion it
    /// was computed from (a conflict is retried on fresh data at the next flush).
    pub async fn flush_loop(self, client: Client, shutdown: CancellationToken) {
        loop {
            let stop = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(FLUSH_EVERY) => false,
            };
            for (key, entry) in self.dirty() {
                match flush_one(&client, &key, &entry).await {
                    Ok(()) => self.mark_flushed(&key, &entry.counts),
                    Err(e) => {
                        self.mark_dirty(&key);
                        tracing::debug!(integration = %key, error = %e, "integration status not written");
                    }
                }
            }
            if stop {
                break;
            }
        }
    }
}

async fn flush_one(client: &Client, key: &IntegrationKey, e: &Entry) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &key.namespace,
        &ApiResource {
            group: GROUP.into(),
            version: "v1alpha1".into(),
            api_version: format!("{GROUP}/v1alpha1"),
            kind: key.kind.kind().into(),
            plural: key.kind.plural().into(),
        },
    );
    let Some(current) = api.get_opt(&key.name).await? else {
        // Deleted meanwhile: nothing to report on.
        return Ok(());
    };
    let stored = current.data.get("status").cloned().unwrap_or(Value::Null);
    let status = merge(&stored, e, current.metadata.generation);
    let patch = json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "status": status,
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(&key.name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

fn parse_time(v: Option<&Value>) -> Option<jiff::Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// The newer of a stored RFC 3339 time and ours.
fn newest(stored: Option<&Value>, ours: &Option<Time>) -> Option<Value> {
    let ours_ts = ours.as_ref().map(|t| t.0);
    match (parse_time(stored), ours_ts) {
        (Some(s), Some(o)) if s >= o => stored.cloned(),
        (_, Some(_)) => ours
            .as_ref()
            .map(|t| Value::String(nexus_ingest::time::rfc3339(t))),
        (Some(_), None) => stored.cloned(),
        (None, None) => None,
    }
}

/// The status to write: what is stored, with this replica's news merged in.
fn merge(stored: &Value, e: &Entry, generation: Option<i64>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(g) = generation {
        out.insert("observedGeneration".into(), json!(g));
    }
    // Counts: stored + what this replica saw since its last flush.
    let sc: IntegrationCounts = stored
        .get("counts")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let d = &e.counts;
    let f = &e.flushed;
    out.insert(
        "counts".into(),
        json!(IntegrationCounts {
            deliveries_accepted: sc.deliveries_accepted + d.deliveries_accepted
                - f.deliveries_accepted,
            deliveries_rejected: sc.deliveries_rejected + d.deliveries_rejected
                - f.deliveries_rejected,
            ignored: sc.ignored + d.ignored - f.ignored,
            applied: sc.applied + d.applied - f.applied,
            errors: sc.errors + d.errors - f.errors,
        }),
    );
    let last_sync = newest(stored.get("lastSyncTime"), &e.last_sync);
    let last_webhook = newest(stored.get("lastWebhookTime"), &e.last_webhook);
    if let Some(v) = &last_sync {
        out.insert("lastSyncTime".into(), v.clone());
    }
    if let Some(v) = &last_webhook {
        out.insert("lastWebhookTime".into(), v.clone());
    }
    let stored_err_at = parse_time(stored.pointer("/lastError/time"));
    let last_error = match (&e.last_error, stored_err_at) {
        (Some((at, m)), s) if s.is_none_or(|s| at.0 > s) => {
            Some(json!({"time": nexus_ingest::time::rfc3339(at), "message": m}))
        }
        _ => stored.get("lastError").cloned().filter(|v| !v.is_null()),
    };
    if let Some(v) = &last_error {
        out.insert("lastError".into(), v.clone());
    }
    let mut cursors: serde_json::Map<String, Value> = stored
        .get("cursors")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in &e.cursors {
        cursors.insert(k.clone(), Value::String(v.clone()));
    }
    if !cursors.is_empty() {
        out.insert("cursors".into(), Value::Object(cursors));
    }
    if let Some((r, at)) = &e.rate_limit {
        out.insert(
            "rateLimit".into(),
            json!({"remaining": r, "resetAt": at.as_ref().map(nexus_ingest::time::rfc3339)}),
        );
    }

    // Ready: failing when the newest error is newer than the newest success anywhere.
    let success = [
        e.last_success.as_ref().map(|t| t.0),
        parse_time(last_sync.as_ref()),
    ]
    .into_iter()
    .flatten()
    .max();
    let err_at = parse_time(last_error.as_ref().and_then(|v| v.get("time")));
    let failing = match (err_at, success) {
        (Some(err), Some(ok)) => err > ok,
        (Some(_), None) => true,
        _ => false,
    };
    let (state, reason, message) = if let Some(p) = &e.config_problem {
        ("False", "ConfigurationInvalid", p.clone())
    } else if failing {
        let m = last_error
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        ("False", "Failing", m.to_string())
    } else if success.is_some() || last_webhook.is_some() {
        (
            "True",
            "Healthy",
            "The last deliveries and syncs succeeded".to_string(),
        )
    } else {
        (
            "Unknown",
            "Waiting",
            "Waiting for the first delivery or sync".to_string(),
        )
    };
    // The transition time moves only when the condition's status changes.
    let stored_ready = stored
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let transition = match stored_ready {
        Some(c) if c["status"] == state => c["lastTransitionTime"].clone(),
        _ => Value::String(nexus_ingest::time::rfc3339(&now())),
    };
    let mut ready = json!({
        "type": "Ready",
        "status": state,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    });
    if let (Some(g), Some(o)) = (generation, ready.as_object_mut()) {
        o.insert("observedGeneration".into(), json!(g));
    }
    out.insert("conditions".into(), json!([ready]));
    Value::Object(out)
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn flush_adds_count_deltas_and_keeps_the_newest_of_each_replica() {
        let stored = json!({
            "counts": {"deliveriesAccepted": 10, "deliveriesRejected": 1, "ignored": 0, "applied": 7, "errors": 1},
            "lastError": {"time": "2030-01-01T00:00:10Z", "message": "other replica"},
            "lastWebhookTime": "2030-01-01T00:00:20Z",
            "cursors": {"a": "1"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Healthy", "message": "", "lastTransitionTime": "2029-12-31T00:00:00Z"}],
        });
        let mut e = Entry::default();
        e.counts.deliveries_accepted = 5;
        e.flushed.deliveries_accepted = 2;
        e.last_error = Some((at("2030-01-01T00:00:05Z"), "older, here".into()));
        e.last_success = Some(at("2030-01-01T00:00:30Z"));
        e.last_webhook = Some(at("2030-01-01T00:00:30Z"));
        e.cursors.insert("b".into(), "2".into());
        let out = merge(&stored, &e, Some(3));
        assert_eq!(out["counts"]["deliveriesAccepted"], 13);
        assert_eq!(out["counts"]["applied"], 7);
        assert_eq!(out["lastError"]["message"], "other replica");
        assert_eq!(out["lastWebhookTime"], "2030-01-01T00:00:30Z");
        assert_eq!(out["cursors"], json!({"a": "1", "b": "2"}));
        assert_eq!(out["observedGeneration"], 3);
        // Still Ready: the transition time is kept.
        assert_eq!(out["conditions"][0]["status"], "True");
        assert_eq!(
            out["conditions"][0]["lastTransitionTime"],
            "2029-12-31T00:00:00Z"
        );

        e.last_error = Some((at("2030-01-01T00:01:00Z"), "GET /x: 500".into()));
        let out = merge(&stored, &e, Some(3));
        assert_eq!(out["conditions"][0]["status"], "False");
        assert_eq!(out["conditions"][0]["message"], "GET /x: 500");
        assert_ne!(
            out["conditions"][0]["lastTransitionTime"],
            "2029-12-31T00:00:00Z"
        );
    }
}
