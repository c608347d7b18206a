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
use serde_json::json;
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

    /// Takes the dirty entries, rendered as status patches.
    fn drain(&self) -> Vec<(IntegrationKey, serde_json::Value)> {
        let Ok(mut map) = self.inner.lock() else {
            return Vec::new();
        };
        map.iter_mut()
            .filter(|(_, e)| e.dirty)
            .map(|(k, e)| {
                e.dirty = false;
                (k.clone(), render(e))
            })
            .collect()
    }

    /// Writes dirty statuses every [`FLUSH_EVERY`] until shutdown (and once more then).
    pub async fn flush_loop(self, client: Client, shutdown: CancellationToken) {
        loop {
            let stop = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(FLUSH_EVERY) => false,
            };
            for (key, status) in self.drain() {
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
                let params = PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                let patch = json!({ "status": status });
                if let Err(e) = api
                    .patch_status(&key.name, &params, &Patch::Merge(&patch))
                    .await
                {
                    tracing::debug!(integration = %key, error = %e, "integration status not written");
                }
            }
            if stop {
                break;
            }
        }
    }
}

fn render(e: &Entry) -> serde_json::Value {
    let t = |t: &Option<Time>| t.as_ref().map(nexus_ingest::time::rfc3339);
    let failing = match (&e.last_error, &e.last_success) {
        (Some((at, _)), Some(ok)) => at.0 > ok.0,
        (Some(_), None) => true,
        _ => false,
    };
    let (status, reason, message) = if let Some(p) = &e.config_problem {
        ("False", "ConfigurationInvalid", p.clone())
    } else if failing {
        (
            "False",
            "Failing",
            e.last_error
                .as_ref()
                .map(|(_, m)| m.clone())
                .unwrap_or_default(),
        )
    } else if e.last_success.is_some() {
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
    let now = nexus_ingest::time::rfc3339(&now());
    let mut status = json!({
        "conditions": [{
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }],
        "counts": e.counts,
        "lastError": e.last_error.as_ref().map(|(at, m)| json!({"time": nexus_ingest::time::rfc3339(at), "message": m})),
        "lastSyncTime": t(&e.last_sync),
        "lastWebhookTime": t(&e.last_webhook),
        "cursors": e.cursors,
        "rateLimit": e.rate_limit.as_ref().map(|(r, at)| json!({"remaining": r, "resetAt": at.as_ref().map(nexus_ingest::time::rfc3339)})),
    });
    // Cursors are merged key by key, never cleared: a `null` here would delete the cursors an
    // earlier process stored (the pollers' resume points) before the pollers re-record them.
    if e.cursors.is_empty()
        && let Some(o) = status.as_object_mut()
    {
        o.remove("cursors");
    }
    status
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}
