//! Scorecard metrics, registered in the controller's registry.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone, Debug)]
pub struct ScorecardMetrics {
    /// Entity × scorecard evaluations, by scorecard (`namespace/name`).
    pub evaluations: IntCounterVec,
    /// Duration of one evaluation batch (every dirty entity against its scorecards).
    pub batch_duration: Histogram,
    /// Compiles that failed, by scorecard: the scorecard is then not evaluated.
    pub compile_failures: IntCounterVec,
    /// Entity status patches sent with changed results.
    pub result_writes: IntCounter,
    /// Entity evaluations whose results were already stored (no write).
    pub result_writes_skipped: IntCounter,
    /// Writes that failed, by what was written (entity, scorecard, snapshot, retention).
    pub write_errors: IntCounterVec,
    /// ScorecardSnapshot objects created / deleted by retention.
    pub snapshots_written: IntCounter,
    pub snapshots_deleted: IntCounter,
    /// Gate decisions by caller (http, action, github) and outcome (allowed, blocked, error).
    pub gate_decisions: IntCounterVec,
    /// Entities waiting for evaluation.
    pub pending: IntGauge,
}

impl ScorecardMetrics {
    #[allow(clippy::expect_used)] // static metric definitions; a failure is a programming error
    pub fn new(registry: &Registry) -> Self {
        let evaluations = IntCounterVec::new(
            Opts::new(
                "nexus_scorecard_evaluations_total",
                "Entity evaluations against a scorecard, by scorecard",
            ),
            &["scorecard"],
        )
        .expect("metric");
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "nexus_scorecard_evaluation_batch_seconds",
                "Duration of one evaluation batch (dirty entities against their scorecards)",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )
        .expect("metric");
        let compile_failures = IntCounterVec::new(
            Opts::new(
                "nexus_scorecard_compile_failures_total",
                "Scorecard generations that did not compile, by scorecard",
            ),
            &["scorecard"],
        )
        .expect("metric");
        let result_writes = IntCounter::new(
            "nexus_scorecard_result_writes_total",
            "Entity status patches with changed scorecard results",
        )
        .expect("metric");
        let result_writes_skipped = IntCounter::new(
            "nexus_scorecard_result_writes_skipped_total",
            "Entity evaluations whose results were already stored",
        )
        .expect("metric");
        let write_errors = IntCounterVec::new(
            Opts::new(
                "nexus_scorecard_write_errors_total",
                "Failed writes by what was written (entity, scorecard, snapshot, retention)",
            ),
            &["target"],
        )
        .expect("metric");
        let snapshots_written = IntCounter::new(
            "nexus_scorecard_snapshots_written_total",
            "ScorecardSnapshot objects created",
        )
        .expect("metric");
        let snapshots_deleted = IntCounter::new(
            "nexus_scorecard_snapshots_deleted_total",
            "ScorecardSnapshot objects deleted by retention",
        )
        .expect("metric");
        let gate_decisions = IntCounterVec::new(
            Opts::new(
                "nexus_gate_decisions_total",
                "Promotion gate decisions by caller (http, action, github) and outcome",
            ),
            &["caller", "outcome"],
        )
        .expect("metric");
        let pending = IntGauge::new(
            "nexus_scorecard_pending_entities",
            "Entities waiting for scorecard evaluation",
        )
        .expect("metric");
        for c in [
            Box::new(evaluations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(batch_duration.clone()),
            Box::new(compile_failures.clone()),
            Box::new(result_writes.clone()),
            Box::new(result_writes_skipped.clone()),
            Box::new(write_errors.clone()),
            Box::new(snapshots_written.clone()),
            Box::new(snapshots_deleted.clone()),
            Box::new(gate_decisions.clone()),
            Box::new(pending.clone()),
        ] {
            registry.register(c).expect("metric registers once");
        }
        ScorecardMetrics {
            evaluations,
            batch_duration,
            compile_failures,
            result_writes,
            result_writes_skipped,
            write_errors,
            snapshots_written,
            snapshots_deleted,
            gate_decisions,
            pending,
        }
    }
}
