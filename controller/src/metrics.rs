//! Prometheus metrics of the controller, served on `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub reconciles: IntCounterVec,
    pub reconcile_errors: IntCounterVec,
    pub reconcile_duration: HistogramVec,
    pub status_writes: IntCounterVec,
    pub status_writes_skipped: IntCounterVec,
    pub queue_depth: IntGaugeVec,
    pub entities: IntGaugeVec,
    pub invalid_objects: IntCounterVec,
    pub watch_events: IntCounterVec,
    pub leader: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(clippy::expect_used)] // metric definitions are static; a failure is a programming error
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("nexus_reconcile_total", "Reconciles by kind and result"),
            &["kind", "result"],
        )
        .expect("metric");
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "nexus_reconcile_errors_total",
                "Reconcile errors by kind and error",
            ),
            &["kind", "error"],
        )
        .expect("metric");
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                "nexus_reconcile_duration_seconds",
                "Reconcile duration by kind",
            )
            .buckets(vec![
                0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            &["kind"],
        )
        .expect("metric");
        let status_writes = IntCounterVec::new(
            Opts::new("nexus_status_writes_total", "Status patches sent, by kind"),
            &["kind"],
        )
        .expect("metric");
        let status_writes_skipped = IntCounterVec::new(
            Opts::new(
                "nexus_status_writes_skipped_total",
                "Reconciles that found the stored status already current, by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "nexus_queue_depth",
                "Entities waiting to be reconciled, by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let entities = IntGaugeVec::new(
            Opts::new(
                "nexus_catalog_entities",
                "Entities in the relation graph, by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let invalid_objects = IntCounterVec::new(
            Opts::new(
                "nexus_invalid_objects_total",
                "Watched objects that could not be deserialised, by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let watch_events = IntCounterVec::new(
            Opts::new("nexus_watch_events_total", "Watch events by kind and type"),
            &["kind", "type"],
        )
        .expect("metric");
        let leader = IntGauge::new(
            "nexus_leader",
            "1 while this replica holds the leader lease",
        )
        .expect("metric");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconcile_errors.clone()),
            Box::new(reconcile_duration.clone()),
            Box::new(status_writes.clone()),
            Box::new(status_writes_skipped.clone()),
            Box::new(queue_depth.clone()),
            Box::new(entities.clone()),
            Box::new(invalid_objects.clone()),
            Box::new(watch_events.clone()),
            Box::new(leader.clone()),
        ] {
            registry.register(c).expect("metric registers once");
        }
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            status_writes,
            status_writes_skipped,
            queue_depth,
            entities,
            invalid_objects,
            watch_events,
            leader,
        }
    }

    /// The registry, for subsystems that register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new();
        m.status_writes.with_label_values(&["Component"]).inc();
        m.leader.set(1);
        let text = m.render();
        assert!(
            text.contains("nexus_status_writes_total{kind=\"Component\"} 1"),
            "{text}"
        );
        assert!(text.contains("nexus_leader 1"));
    }
}
