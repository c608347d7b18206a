//! Prometheus metrics of nexus-apiserver, served on `/metrics` of the metrics address.

use nexus_api::EntityKind;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder, core::Collector,
};

use crate::cache::store::Store;

pub struct Metrics {
    registry: Registry,
    pub entities: IntGauge,
    pub cache_bytes: IntGauge,
    pub malformed: IntCounterVec,
    pub watch_events: IntCounterVec,
    pub relists: IntCounterVec,
    pub changes: IntCounterVec,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub sar_requests: IntCounterVec,
    pub stream_clients: IntGauge,
    pub stale_seconds: Gauge,
    pub index_pending: IntGauge,
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // Names are static and unique; registration cannot fail at runtime.
    let _ = registry.register(Box::new(c.clone()));
    c
}

impl Metrics {
    #[allow(clippy::expect_used)] // metric definitions are static; a failure is a programming error
    pub fn new() -> Self {
        let r = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("metric"),
            )
        };
        Self {
            entities: register(
                &r,
                IntGauge::new(
                    "nexus_apiserver_cache_entities",
                    "Entities in the read cache",
                )
                .expect("metric"),
            ),
            cache_bytes: register(
                &r,
                IntGauge::new(
                    "nexus_apiserver_cache_bytes",
                    "Approximate bytes held by cached entities",
                )
                .expect("metric"),
            ),
            malformed: counter(
                "nexus_apiserver_malformed_objects_total",
                "Objects skipped because they could not be read, by kind",
                &["kind"],
            ),
            watch_events: counter(
                "nexus_apiserver_watch_events_total",
                "Watch events received, by kind",
                &["kind"],
            ),
            relists: counter(
                "nexus_apiserver_relists_total",
                "Full lists (startup, 410 Gone), by kind",
                &["kind"],
            ),
            changes: counter(
                "nexus_apiserver_cache_changes_total",
                "Cache changes, by type (ADDED, MODIFIED, DELETED)",
                &["type"],
            ),
            requests: counter(
                "nexus_apiserver_requests_total",
                "Requests by face (aggregated, portal), route and status code",
                &["face", "route", "code"],
            ),
            request_duration: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "nexus_apiserver_request_duration_seconds",
                        "Request duration by face and route",
                    )
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
                    ]),
                    &["face", "route"],
                )
                .expect("metric"),
            ),
            sar_requests: counter(
                "nexus_apiserver_subjectaccessreviews_total",
                "SubjectAccessReviews by result (allowed, denied, error, cached, stale)",
                &["result"],
            ),
            stream_clients: register(
                &r,
                IntGauge::new(
                    "nexus_apiserver_stream_clients",
                    "Open live-update (SSE) streams",
                )
                .expect("metric"),
            ),
            stale_seconds: register(
                &r,
                Gauge::new(
                    "nexus_apiserver_cache_stale_seconds",
                    "Seconds since the oldest broken watch broke (0 when all are live)",
                )
                .expect("metric"),
            ),
            index_pending: register(
                &r,
                IntGauge::new(
                    "nexus_apiserver_index_pending",
                    "Changes not yet searchable",
                )
                .expect("metric"),
            ),
            registry: r,
        }
        .preset()
    }

    /// Series that exist from the start (at 0), so dashboards and alerts see them before the
    /// first event.
    fn preset(self) -> Self {
        for kind in EntityKind::ALL {
            self.malformed.with_label_values(&[kind.as_str()]);
            self.watch_events.with_label_values(&[kind.as_str()]);
            self.relists.with_label_values(&[kind.as_str()]);
        }
        self
    }

    pub fn malformed(&self, kind: EntityKind) {
        self.malformed.with_label_values(&[kind.as_str()]).inc();
    }

    /// A malformed object of a kind outside the catalog (actions).
    pub fn malformed_object(&self, kind: &str) {
        self.malformed.with_label_values(&[kind]).inc();
    }

    pub fn watch_event(&self, kind: EntityKind) {
        self.watch_events.with_label_values(&[kind.as_str()]).inc();
    }

    pub fn relist(&self, kind: EntityKind) {
        self.relists.with_label_values(&[kind.as_str()]).inc();
    }

    pub fn change(&self, type_: &str) {
        self.changes.with_label_values(&[type_]).inc();
    }

    pub fn set_size(&self, store: &Store) {
        self.entities
            .set(i64::try_from(store.len()).unwrap_or(i64::MAX));
        self.cache_bytes
            .set(i64::try_from(store.approx_bytes()).unwrap_or(i64::MAX));
    }

    pub fn sar(&self, result: &str) {
        self.sar_requests.with_label_values(&[result]).inc();
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
