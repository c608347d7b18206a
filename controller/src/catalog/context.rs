//! State shared by the per-kind controllers: the relation graph, requeue channels and metrics.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use kube::{Client, runtime::events::Recorder};
use nexus_api::{EntityKind, EntityRef};
use tokio::sync::watch;

use super::graph::Graph;
use crate::metrics::Metrics;

/// Sends a requeue for one entity of one kind.
pub type Requeue = Box<dyn Fn(String, String) + Send + Sync>;

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub graph: RwLock<Graph>,
    /// Restricts every watch to one namespace.
    pub watch_namespace: Option<String>,
    requeues: RwLock<HashMap<EntityKind, Requeue>>,
    pending: Mutex<HashMap<EntityKind, HashSet<EntityRef>>>,
    /// Generation last reported for objects that do not deserialise.
    invalid_reported: Mutex<HashMap<EntityRef, Option<i64>>>,
    synced_tx: watch::Sender<bool>,
    synced_rx: watch::Receiver<bool>,
    bulk: Mutex<BulkDetector>,
}

/// Notices bulk imports (many entities created per second) so reconciles can wait for the
/// import to settle: each entity is then written once with all its relations, instead of once
/// per relation that arrives after it.
#[derive(Debug)]
pub struct BulkDetector {
    /// Creations per second at or above which an import counts as bulk; 0 disables.
    pub threshold: u32,
    /// Longest a reconcile waits for an import to settle.
    pub max_defer: Duration,
    window_start: Instant,
    this_window: u32,
    last_window: u32,
}

impl BulkDetector {
    pub fn new(threshold: u32, max_defer: Duration) -> Self {
        Self {
            threshold,
            max_defer,
            window_start: Instant::now(),
            this_window: 0,
            last_window: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Duration::from_secs(2) {
            self.last_window = 0;
            self.this_window = 0;
            self.window_start = now;
        } else if elapsed >= Duration::from_secs(1) {
            self.last_window = self.this_window;
            self.this_window = 0;
            self.window_start = now;
        }
    }

    pub fn note_create(&mut self, now: Instant) {
        self.roll(now);
        self.this_window += 1;
    }

    /// Bulk while this or the previous one-second window saw `threshold` creations.
    pub fn in_progress(&mut self, now: Instant) -> bool {
        self.roll(now);
        self.threshold > 0
            && (self.this_window >= self.threshold || self.last_window >= self.threshold)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("watch_namespace", &self.watch_namespace)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        recorder: Recorder,
        metrics: Metrics,
        watch_namespace: Option<String>,
        bulk: BulkDetector,
    ) -> Arc<Self> {
        let (synced_tx, synced_rx) = watch::channel(false);
        Arc::new(Self {
            client,
            recorder,
            metrics,
            graph: RwLock::new(Graph::default()),
            watch_namespace,
            requeues: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            invalid_reported: Mutex::new(HashMap::new()),
            synced_tx,
            synced_rx,
            bulk: Mutex::new(bulk),
        })
    }

    pub fn register_requeue(&self, kind: EntityKind, requeue: Requeue) {
        if let Ok(mut r) = self.requeues.write() {
            r.insert(kind, requeue);
        }
    }

    /// Requeues the entities a graph change affected (only once every kind is listed: before
    /// that, everything is reconciled anyway).
    pub fn requeue_all(&self, affected: HashSet<EntityRef>) {
        if affected.is_empty() || !self.is_synced() {
            return;
        }
        let Ok(requeues) = self.requeues.read() else {
            return;
        };
        for key in affected {
            self.mark_pending(&key);
            if let Some(send) = requeues.get(&key.kind) {
                send(key.namespace.to_string(), key.name.to_string());
            }
        }
    }

    /// Records that an entity waits in a queue (for the queue depth gauge).
    pub fn mark_pending(&self, key: &EntityRef) {
        let kind = key.kind;
        if let Ok(mut p) = self.pending.lock() {
            let set = p.entry(kind).or_default();
            set.insert(key.clone());
            self.metrics
                .queue_depth
                .with_label_values(&[kind.as_str()])
                .set(set.len() as i64);
        }
    }

    pub fn mark_started(&self, key: &EntityRef) {
        let kind = key.kind;
        if let Ok(mut p) = self.pending.lock() {
            let set = p.entry(kind).or_default();
            set.remove(key);
            self.metrics
                .queue_depth
                .with_label_values(&[kind.as_str()])
                .set(set.len() as i64);
        }
    }

    /// True the first time an undeserialisable object is seen at this generation.
    pub fn first_invalid_visit(&self, key: &EntityRef, generation: Option<i64>) -> bool {
        let Ok(mut seen) = self.invalid_reported.lock() else {
            return true;
        };
        seen.insert(key.clone(), generation) != Some(generation)
    }

    /// Records the creation of an entity (after the initial list).
    pub fn note_create(&self) {
        if self.is_synced()
            && let Ok(mut b) = self.bulk.lock()
        {
            b.note_create(Instant::now());
        }
    }

    /// Waits while a bulk import is in progress, at most the configured maximum.
    pub async fn settle(&self) {
        let start = Instant::now();
        loop {
            let (busy, max) = match self.bulk.lock() {
                Ok(mut b) => (b.in_progress(Instant::now()), b.max_defer),
                Err(_) => return,
            };
            if !busy || start.elapsed() >= max {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn set_synced(&self) {
        let _ = self.synced_tx.send(true);
    }

    pub fn is_synced(&self) -> bool {
        *self.synced_rx.borrow()
    }

    /// Waits until every kind has been listed once, so that no reconcile reports a reference
    /// dangling merely because its target's kind was not listed yet.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced_rx.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_is_detected_and_ends_after_a_quiet_second() {
        let t0 = Instant::now();
        let mut b = BulkDetector::new(3, Duration::from_secs(10));
        assert!(!b.in_progress(t0));
        for _ in 0..3 {
            b.note_create(t0);
        }
        assert!(b.in_progress(t0));
        // Next window: still bulk because the previous window was.
        assert!(b.in_progress(t0 + Duration::from_millis(1100)));
        // Two quiet seconds later it is over.
        assert!(!b.in_progress(t0 + Duration::from_millis(2300)));
        let mut off = BulkDetector::new(0, Duration::from_secs(10));
        off.note_create(t0);
        assert!(!off.in_progress(t0));
    }
}
