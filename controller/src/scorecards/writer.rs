//! The scorecard controller's writes, in lanes: writes about one object go to one lane, so they
//! land in the order the engine made them (a late write of an older result can never overwrite
//! a newer one), while different objects are written in parallel. Failures go back to the
//! engine, which computes and writes again.

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
};

use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use nexus_api::{
    EntityRef,
    scorecards::{ScorecardSnapshot, ScorecardStatus},
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    MANAGER,
    clock::expired,
    engine::{EntityWrite, SnapshotWrite, StatusWrite},
    metrics::ScorecardMetrics,
};

/// Label on every snapshot this controller writes (retention deletes only those).
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label naming a snapshot's scorecard (when the name fits a label value).
pub const SCORECARD_LABEL: &str = "scorecards.nexus.dev/scorecard";
/// Label holding a snapshot's day, `YYYY-MM-DD`.
pub const DATE_LABEL: &str = "scorecards.nexus.dev/date";

/// One write.
#[derive(Debug)]
pub enum Write {
    Entity(EntityWrite),
    Status(StatusWrite),
    Snapshot(SnapshotWrite),
    /// Delete this controller's snapshots older than the retention.
    Retention {
        today: String,
    },
}

/// A write that failed, for the engine to redo.
#[derive(Debug)]
pub enum Feedback {
    EntityFailed(EntityRef),
    StatusFailed { namespace: String, name: String },
    SnapshotFailed { namespace: String, name: String },
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot serialise: {0}")]
    Serialize(#[from] serde_json::Error),
}

pub struct Writer {
    lanes: Vec<mpsc::Sender<Write>>,
}

struct Lane {
    client: Client,
    metrics: ScorecardMetrics,
    namespace: Option<String>,
    retention_days: u32,
    feedback: mpsc::UnboundedSender<Feedback>,
}

impl Writer {
    /// Starts `lanes` writer tasks; they stop when `shutdown` fires.
    pub fn start(
        client: Client,
        metrics: ScorecardMetrics,
        namespace: Option<String>,
        retention_days: u32,
        lanes: usize,
        feedback: mpsc::UnboundedSender<Feedback>,
        shutdown: CancellationToken,
    ) -> Writer {
        let mut senders = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            // A small buffer: a full lane makes the evaluation loop wait (backpressure) rather
            // than queueing a sweep's worth of writes in memory.
            let (tx, rx) = mpsc::channel(256);
            let lane = Lane {
                client: client.clone(),
                metrics: metrics.clone(),
                namespace: namespace.clone(),
                retention_days,
                feedback: feedback.clone(),
            };
            tokio::spawn(lane.run(rx, shutdown.clone()));
            senders.push(tx);
        }
        Writer { lanes: senders }
    }

    /// Queues a write on the lane of the object it is about.
    pub async fn send(&self, w: Write) {
        let key = match &w {
            Write::Entity(e) => e.entity.to_string(),
            Write::Status(s) => format!("scorecard:{}/{}", s.namespace, s.name),
            Write::Snapshot(s) => format!("snapshot:{}/{}", s.namespace, s.scorecard),
            Write::Retention { .. } => String::from("retention"),
        };
        let mut h = rustc_hash::FxHasher::default();
        key.hash(&mut h);
        let lane = (h.finish() as usize) % self.lanes.len().max(1);
        if let Some(tx) = self.lanes.get(lane)
            && tx.send(w).await.is_err()
        {
            debug!("scorecard writer stopped");
        }
    }

    /// Queues a write whose order relative to others does not matter.
    pub async fn send_any(&self, w: Write) {
        self.send(w).await;
    }
}

impl Lane {
    async fn run(self, mut rx: mpsc::Receiver<Write>, shutdown: CancellationToken) {
        loop {
            let w = tokio::select! {
                _ = shutdown.cancelled() => return,
                w = rx.recv() => match w { Some(w) => w, None => return },
            };
            match w {
                Write::Entity(e) => {
                    if let Err(err) = self.entity(&e).await {
                        self.metrics
                            .write_errors
                            .with_label_values(&["entity"])
                            .inc();
                        warn!(entity = %e.entity, error = %err, "writing scorecard results failed; will retry");
                        let _ = self.feedback.send(Feedback::EntityFailed(e.entity));
                    }
                }
                Write::Status(s) => {
                    if let Err(err) = self.status(&s.namespace, &s.name, &s.status).await {
                        self.metrics
                            .write_errors
                            .with_label_values(&["scorecard"])
                            .inc();
                        warn!(scorecard = %format!("{}/{}", s.namespace, s.name), error = %err, "writing scorecard status failed; will retry");
                        let _ = self.feedback.send(Feedback::StatusFailed {
                            namespace: s.namespace,
                            name: s.name,
                        });
                    }
                }
                Write::Snapshot(s) => {
                    if let Err(err) = self.snapshot(&s).await {
                        self.metrics
                            .write_errors
                            .with_label_values(&["snapshot"])
                            .inc();
                        warn!(scorecard = %format!("{}/{}", s.namespace, s.scorecard), date = %s.date, error = %err, "writing the day's snapshot failed; will retry");
                        let _ = self.feedback.send(Feedback::SnapshotFailed {
                            namespace: s.namespace,
                            name: s.scorecard,
                        });
                    }
                }
                Write::Retention { today } => {
                    if let Err(err) = self.retention(&today).await {
                        self.metrics
                            .write_errors
                            .with_label_values(&["retention"])
                            .inc();
                        // Tomorrow's run catches up: deleting late loses nothing.
                        warn!(error = %err, "snapshot retention failed; retried tomorrow");
                    }
                }
            }
        }
    }

    /// Applies the entity's `status.scorecards` (the whole list this manager owns: entries no
    /// longer in it are removed by server-side apply).
    async fn entity(&self, w: &EntityWrite) -> Result<(), WriteError> {
        let ar = crate::ingestion::apply::api_resource(w.entity.kind);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &w.entity.namespace, &ar);
        // With no results the manager applies an empty status: it then owns nothing, and the
        // list disappears instead of lingering as `scorecards: []`.
        let status = if w.results.is_empty() {
            json!({})
        } else {
            json!({ "scorecards": serde_json::to_value(&w.results)? })
        };
        let body = json!({
            "apiVersion": format!("{}/{}", nexus_api::CATALOG_GROUP, nexus_api::CATALOG_VERSION),
            "kind": w.entity.kind.as_str(),
            "metadata": { "name": &*w.entity.name },
            "status": status,
        });
        match api
            .patch_status(
                &w.entity.name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
        {
            Ok(_) => {
                self.metrics.result_writes.inc();
                Ok(())
            }
            // Deleted meanwhile: its results went with it.
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn status(
        &self,
        namespace: &str,
        name: &str,
        status: &ScorecardStatus,
    ) -> Result<(), WriteError> {
        let api: Api<nexus_api::scorecards::Scorecard> =
            Api::namespaced(self.client.clone(), namespace);
        let body = json!({
            "apiVersion": format!("{}/{}", nexus_api::scorecards::GROUP, nexus_api::scorecards::VERSION),
            "kind": "Scorecard",
            "metadata": { "name": name },
            "status": serde_json::to_value(status)?,
        });
        match api
            .patch_status(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the day's shards. A shard that exists already was written earlier today (by
    /// this or a previous leader): a day's record is taken once and never rewritten.
    async fn snapshot(&self, s: &SnapshotWrite) -> Result<(), WriteError> {
        let api: Api<ScorecardSnapshot> = Api::namespaced(self.client.clone(), &s.namespace);
        for spec in &s.specs {
            let name = nexus_scorecards::snapshot_name(&s.scorecard, &s.date, spec.shard);
            let mut labels = BTreeMap::from([
                (MANAGED_BY.to_string(), MANAGER.to_string()),
                (DATE_LABEL.to_string(), s.date.clone()),
            ]);
            if is_label_value(&s.scorecard) {
                labels.insert(SCORECARD_LABEL.to_string(), s.scorecard.clone());
            }
            let obj = ScorecardSnapshot {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(s.namespace.clone()),
                    labels: Some(labels),
                    ..Default::default()
                },
                spec: spec.clone(),
            };
            match api.create(&PostParams::default(), &obj).await {
                Ok(_) => {
                    self.metrics.snapshots_written.inc();
                    info!(snapshot = %format!("{}/{name}", s.namespace), entities = spec.entities.len(), "scorecard snapshot written");
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    debug!(snapshot = %name, "today's snapshot exists already");
                }
                // The namespace is gone or going, and the Scorecard with it: nothing to keep.
                Err(kube::Error::Api(e))
                    if e.code == 404
                        || (e.code == 403 && e.message.contains("being terminated")) =>
                {
                    debug!(snapshot = %name, reason = %e.message, "namespace going away; snapshot skipped");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Deletes this controller's snapshots whose day is older than the retention (only their
    /// metadata is listed: a year of shards is far too large to read whole).
    async fn retention(&self, today: &str) -> Result<(), WriteError> {
        if self.retention_days == 0 {
            return Ok(());
        }
        let api: Api<ScorecardSnapshot> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let lp = ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER}"));
        let list = api.list_metadata(&lp).await?;
        for o in list.items {
            let (Some(ns), Some(name)) = (&o.metadata.namespace, &o.metadata.name) else {
                continue;
            };
            let date = o
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(DATE_LABEL))
                .cloned()
                .unwrap_or_default();
            if !expired(&date, today, self.retention_days) {
                continue;
            }
            let ns_api: Api<ScorecardSnapshot> = Api::namespaced(self.client.clone(), ns);
            match ns_api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {
                    self.metrics.snapshots_deleted.inc();
                    info!(snapshot = %format!("{ns}/{name}"), %date, retention_days = self.retention_days, "expired scorecard snapshot deleted");
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Whether `s` can be a label value (at most 63 characters, alphanumeric at both ends, `-_.`
/// inside).
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert!(is_label_value("production-readiness"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(""));
    }
}
