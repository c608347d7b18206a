//! Ingestion metrics, registered in the controller's registry.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone, Debug)]
pub struct IngestMetrics {
    /// Deliveries by source and outcome (accepted, bad_signature, missing_signature, malformed,
    /// duplicate, too_large, unknown_integration, suspended, secret_unreadable, queue_full).
    pub deliveries: IntCounterVec,
    /// Parsed deliveries and poll results by source and result (applied, ignored, error).
    pub processed: IntCounterVec,
    /// Writes to Kubernetes by source.
    pub writes: IntCounterVec,
    /// Delivery received → changes applied.
    pub latency: HistogramVec,
    pub queue_depth: IntGauge,
    /// Calls to provider APIs by source and status class.
    pub api_calls: IntCounterVec,
}

impl IngestMetrics {
    #[allow(clippy::expect_used)] // static metric definitions
    pub fn new(registry: &Registry) -> Self {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "nexus_ingest_deliveries_total",
                "Webhook deliveries by source and outcome",
            ),
            &["source", "outcome"],
        )
        .expect("metric");
        let processed = IntCounterVec::new(
            Opts::new(
                "nexus_ingest_processed_total",
                "Payloads processed by source and result",
            ),
            &["source", "result"],
        )
        .expect("metric");
        let writes = IntCounterVec::new(
            Opts::new(
                "nexus_ingest_writes_total",
                "Objects and status patches written, by source",
            ),
            &["source"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "nexus_ingest_delivery_seconds",
                "Webhook received to changes applied, by source",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["source"],
        )
        .expect("metric");
        let queue_depth = IntGauge::new(
            "nexus_ingest_queue_depth",
            "Deliveries waiting to be processed",
        )
        .expect("metric");
        let api_calls = IntCounterVec::new(
            Opts::new(
                "nexus_ingest_api_calls_total",
                "Provider API calls by source and status",
            ),
            &["source", "status"],
        )
        .expect("metric");
        for c in [
            Box::new(deliveries.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(processed.clone()),
            Box::new(writes.clone()),
            Box::new(latency.clone()),
            Box::new(queue_depth.clone()),
            Box::new(api_calls.clone()),
        ] {
            let _ = registry.register(c);
        }
        IngestMetrics {
            deliveries,
            processed,
            writes,
            latency,
            queue_depth,
            api_calls,
        }
    }
}
