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

/// The tamper-evident file log of `nexus-audit` (hash-chained JSON Lines, rotation, retention;
/// `nexus audit verify DIR` checks it).
pub struct FileLog(pub nexus_audit::log::AuditLog);

impl FileLog {
    /// Opens (or resumes) the log in `dir`. Refuses a log that fails verification.
    pub fn open(dir: &std::path::Path, retention_days: u32) -> Result<FileLog, String> {
        let mut cfg = nexus_audit::log::WriterConfig::new(dir);
        cfg.retention_days = (retention_days > 0).then_some(retention_days);
        let file = nexus_audit::log::FileSink::open(cfg).map_err(|e| e.to_string())?;
        Ok(FileLog(nexus_audit::log::AuditLog::new(file)))
    }
}

impl Sink for FileLog {
    fn append<'a>(&'a self, e: &'a Event) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut details = e.details.clone();
            if let Some(m) = details.as_object_mut() {
                m.insert("requester".into(), Value::String(e.requester.clone()));
            }
            let event = nexus_audit::log::Event::new(
                nexus_audit::log::Kind::parse(&e.kind),
                e.actor.clone(),
                e.run.clone(),
                e.action.clone(),
                e.target.clone().unwrap_or_default(),
            )
            .with_details(details);
            self.0
                .record(event)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
