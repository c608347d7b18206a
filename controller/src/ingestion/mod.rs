//! Ingestion: keeps the catalog current from GitHub, Azure DevOps, Azure Resource Graph and
//! incident tools.
//!
//! - `receiver` — the webhook endpoints: verify, de-duplicate, queue, answer 202 at once.
//! - `worker` — parse queued deliveries with `nexus-ingest` and apply the changes, in order per
//!   target.
//! - `apply` — resolve targets against the catalog, write objects and status facts.
//! - `pollers` — periodic reads of the providers' REST APIs (leader only), resumable from the
//!   cursors kept in each integration's status.
//! - `registry`, `secrets`, `status`, `metrics` — integration objects, their credentials,
//!   their status, and Prometheus metrics.

pub mod apply;
pub mod metrics;
pub mod pollers;
pub mod receiver;
pub mod registry;
pub mod secrets;
pub mod status;
pub mod worker;

use std::{net::SocketAddr, sync::Arc, time::Instant};

use kube::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{
    apply::{Applier, CatalogIndex},
    metrics::IngestMetrics,
    receiver::{DeliveryKind, Receiver},
    registry::{IntegrationKey, Integrations},
    secrets::SecretReader,
    status::StatusBook,
};

/// Ingestion settings (flags of the controller).
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// Where the webhook receiver listens; None disables it.
    pub webhook_addr: Option<SocketAddr>,
    pub max_body_bytes: usize,
    /// Most delivery ids remembered for replay protection.
    pub replay_ids: u64,
    pub workers: usize,
    pub queue: usize,
    /// Namespace holding integration objects (all when None).
    pub namespace: Option<String>,
    /// Whether pollers run (off in tests that only exercise webhooks).
    pub polling: bool,
    /// Catalog namespace the controller watches (all when None): facts only land there.
    pub watch_namespace: Option<String>,
}

/// A verified, queued webhook delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub integration: IntegrationKey,
    pub kind: DeliveryKind,
    /// Provider delivery id (or content hash).
    pub id: String,
    pub dedupe_key: String,
    pub body: bytes::Bytes,
    pub received: Instant,
}

/// Handles deliveries that are not catalog facts: a GitHub `deployment_protection_rule` event
/// is a question to answer (the scorecard gate does, see `scorecards::github`).
pub trait DeliveryHook: Send + Sync {
    /// What was done, in words, or why it failed.
    fn handle<'a>(&'a self, delivery: &'a Delivery) -> pollers::BoxFut<'a, Result<String, String>>;
}

/// What the receiver, workers and pollers share.
pub struct Shared {
    pub client: Client,
    pub integrations: Integrations,
    pub applier: Applier,
    pub secrets: SecretReader,
    pub status: StatusBook,
    pub metrics: IngestMetrics,
    /// Delivery ids already accepted (replay protection), remembered for a day.
    pub seen: moka::sync::Cache<String, ()>,
    /// Set once the integration and catalog caches have listed; until then the receiver answers
    /// 503 and pollers wait.
    pub synced: std::sync::atomic::AtomicBool,
    synced_notify: tokio::sync::Notify,
    /// Answers GitHub `deployment_protection_rule` deliveries; set once at start (unset:
    /// they are ignored, and say so).
    pub protection_rules: std::sync::OnceLock<Arc<dyn DeliveryHook>>,
}

impl Shared {
    /// Waits until the caches have synced.
    pub async fn wait_synced(&self) {
        loop {
            let notified = self.synced_notify.notified();
            if self.synced.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Ingestion once started; pollers are started separately, on the leader.
#[derive(Clone)]
pub struct Ingestion {
    pub shared: Arc<Shared>,
}

impl Ingestion {
    /// Starts the stores, workers, status flushing and (when configured) the webhook receiver;
    /// returns at once (the stores sync in the background). Everything stops when `shutdown` is cancelled.
    /// `routes` are served on the receiver's listener next to `/webhooks/…` (the gate endpoint).
    pub async fn start(
        client: Client,
        cfg: &IngestConfig,
        registry: &prometheus::Registry,
        routes: axum::Router,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Ingestion> {
        let metrics = IngestMetrics::new(registry);
        let integrations = Integrations::start(&client, cfg.namespace.as_deref(), &shutdown);
        let index = CatalogIndex::start(&client, cfg.watch_namespace.as_deref(), &shutdown);
        let shared = Arc::new(Shared {
            client: client.clone(),
            integrations,
            applier: Applier::new(client.clone(), index),
            secrets: SecretReader::new(client.clone()),
            status: StatusBook::default(),
            metrics,
            seen: moka::sync::Cache::builder()
                .time_to_live(receiver::DEDUPE_TTL)
                .max_capacity(cfg.replay_ids)
                .build(),
            synced: std::sync::atomic::AtomicBool::new(false),
            synced_notify: tokio::sync::Notify::new(),
            protection_rules: std::sync::OnceLock::new(),
        });
        // Bind first, so a bad address fails the start rather than a background task.
        let listener =
            match cfg.webhook_addr {
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("webhook receiver cannot listen on {addr}: {e}")
                })?),
                None => None,
            };
        // The caches sync in the background: a missing CRD or permission must not hold up the
        // catalog controller. Until then the receiver answers 503 and pollers wait.
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                let (integrations, index) =
                    (shared.integrations.clone(), shared.applier.index.clone());
                let synced = async move {
                    integrations.ready().await;
                    index.ready().await;
                };
                let mut synced = std::pin::pin!(synced);
                loop {
                    match tokio::time::timeout(std::time::Duration::from_secs(30), &mut synced)
                        .await
                    {
                        Ok(()) => break,
                        Err(_) => tracing::warn!(
                            "ingestion caches not synced after 30s: are the integrations.nexus.dev \
                             and catalog.nexus.dev CRDs installed, and may the controller list them?"
                        ),
                    }
                }
                shared
                    .synced
                    .store(true, std::sync::atomic::Ordering::Release);
                shared.synced_notify.notify_waiters();
                tracing::info!("ingestion caches synced");
            });
        }

        tokio::spawn(
            shared
                .status
                .clone()
                .flush_loop(client.clone(), shutdown.clone()),
        );
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        tokio::spawn(worker::run(
            shared.clone(),
            rx,
            cfg.workers.max(1),
            shutdown.clone(),
        ));
        if let Some(listener) = listener {
            let app = receiver::router(Receiver {
                shared: shared.clone(),
                queue: tx,
                max_body: cfg.max_body_bytes,
            })
            .merge(routes);
            let addr = listener.local_addr().ok();
            tracing::info!(?addr, "webhook receiver listening");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
                {
                    tracing::error!(error = %e, "webhook receiver stopped");
                }
            });
        }
        Ok(Ingestion { shared })
    }

    /// Runs the pollers until `stop` is cancelled (call on the leader).
    pub async fn run_pollers(self, stop: CancellationToken) {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = self.shared.wait_synced() => {}
        }
        pollers::run(self.shared, stop).await;
    }
}
