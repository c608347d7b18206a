//! Where action audit entries go: the tamper-evident log of `nexus-audit` when configured
//! (`--audit-log-dir`), and always a structured log line (target `nexus_audit`).

use std::sync::Arc;

use serde_json::Value;

/// One audited transition.
#[derive(Clone, Debug)]
pub struct Event {
    /// `run.validated`, `run.approved`, `run.started`, …
    pub kind: String,
    pub actor: String,
    /// `namespace/name` of the run.
    pub run: String,
    pub action: String,
    pub target: Option<String>,
    pub requester: String,
    pub details: Value,
}

/// A destination for audit events.
pub trait Sink: Send + Sync {
    fn append<'a>(&'a self, event: &'a Event)
    -> futures::future::BoxFuture<'a, Result<(), String>>;
}

#[derive(Clone, Default)]
pub struct Audit {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Audit {
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Self {
        Audit { sinks }
    }

    /// Records an event everywhere. A failing sink is logged as an error (the transition has
    /// already happened in Kubernetes; the log line and Event still carry it).
    pub async fn record(&self, event: Event) {
        tracing::info!(
            target: "nexus_audit",
            kind = %event.kind,
            actor = %event.actor,
            run = %event.run,
            action = %event.action,
            target_entity = event.target.as_deref().unwrap_or(""),
            requester = %event.requester,
            details = %event.details,
            "audit"
        );
        for s in &self.sinks {
            if let Err(e) = s.append(&event).await {
                tracing::error!(kind = %event.kind, run = %event.run, error = %e, "audit sink refused an entry");
            }
        }
    }
}
