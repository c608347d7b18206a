//! Where action audit entries go: the tamper-evident log of `nexus-audit` when configured
//! (`--audit-log-dir`), forwarded from there to Azure Monitor when configured
//! (`--audit-azure-*`), and always a structured log line (target `nexus_audit`).

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
    /// Opens (or resumes) the log in `dir`, forwarding new entries to `forwarders` (in chain
    /// order, after they are durable in the file). Refuses a log that fails verification.
    pub fn open(
        dir: &std::path::Path,
        retention_days: u32,
        forwarders: Vec<nexus_audit::log::Forwarder>,
    ) -> Result<FileLog, String> {
        let mut cfg = nexus_audit::log::WriterConfig::new(dir);
        cfg.retention_days = (retention_days > 0).then_some(retention_days);
        let file = nexus_audit::log::FileSink::open(cfg).map_err(|e| e.to_string())?;
        let log = forwarders
            .into_iter()
            .fold(nexus_audit::log::AuditLog::new(file), |log, f| {
                log.forward_to(f)
            });
        Ok(FileLog(log))
    }
}

/// Entra scope of the Logs Ingestion API.
pub const MONITOR_SCOPE: &str = "https://monitor.azure.com//.default";

/// The Azure Monitor sink, signing in with the identity of the AzureSubscriptionSource named
/// `credentials` (looked up on every token request, so the source may appear after start-up;
/// the token itself is cached by [`Providers`]).
pub fn azure_monitor(
    endpoint: &str,
    dcr: &str,
    stream: &str,
    credentials: &str,
    providers: Arc<crate::actions::executors::Providers>,
) -> Result<nexus_audit::log::AzureSink, String> {
    use nexus_audit::log::{AzureConfig, AzureSink, BoxError, TokenSource};
    let name: Arc<str> = credentials.into();
    let token: TokenSource = Arc::new(move || {
        let (p, name) = (providers.clone(), name.clone());
        Box::pin(async move {
            let boxed = |e: crate::actions::executors::ExecError| -> BoxError { Box::new(e) };
            let (key, src) = p.azure_source(&name).map_err(boxed)?;
            let http = p.client(&key, "azure-monitor", true).map_err(boxed)?;
            match p
                .entra_token(&key, &src.spec.auth, MONITOR_SCOPE, &http)
                .await
                .map_err(boxed)?
            {
                crate::ingestion::pollers::http::Auth::Bearer(t) => Ok(t.to_string()),
                _ => Err("Entra returned no bearer token".into()),
            }
        })
    });
    AzureSink::new(AzureConfig::new(endpoint, dcr, stream), token).map_err(|e| e.to_string())
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
