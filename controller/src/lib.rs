//! nexus-controller: the controllers of Nexus — catalog, ingestion, actions, scorecards and
//! DORA — and the promotion gates.

pub mod actions;
pub mod catalog;
pub mod config;
pub mod dora;
pub mod ingestion;
pub mod metrics;
pub mod runtime;
pub mod scorecards;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::Context as _;
use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::{
    catalog::Context,
    config::Config,
    metrics::Metrics,
    runtime::{
        leader::LeaderElector,
        server::{self, Health},
    },
};

/// Runs until SIGTERM/SIGINT (Ok) or until leadership is lost (Err, so the process restarts
/// as a fresh candidate rather than acting on stale state).
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster service account)")?;
    let metrics = Metrics::new();
    let health = Arc::new(Health::default());
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    // The gates answer on every replica: they read results from the cluster, not from the
    // leader's memory.
    let scorecard_metrics = scorecards::metrics::ScorecardMetrics::new(metrics.registry());
    let gate = Arc::new(scorecards::gate::GateChecker::new(
        client.clone(),
        cfg.scorecards_namespace.clone(),
        scorecard_metrics.clone(),
    ));
    let gate_routes = scorecards::gate::router(Arc::new(scorecards::gate::GateHttp {
        checker: gate.clone(),
        token_file: cfg.gate_token_file.clone(),
        defaults: cfg.gate_scorecards.clone(),
    }))
    .merge(actions::audit_entries::router(Arc::new(
        actions::audit_entries::AuditEntries {
            dir: cfg.audit_log_dir.clone(),
            token_file: cfg.audit_token_file.clone(),
        },
    )));
    // The webhook receiver answers on every replica (writes are safe from any of them: status
    // merges carry a resourceVersion precondition); pollers run on the leader only.
    let ingest_cfg = cfg.ingest().map_err(anyhow::Error::msg)?;
    // With neither receiver nor pollers, ingestion does not start (nor watch integrations,
    // which the chart then does not grant).
    let ingestion = if ingest_cfg.webhook_addr.is_some() || ingest_cfg.polling {
        Some(
            ingestion::Ingestion::start(
                client.clone(),
                &ingest_cfg,
                metrics.registry(),
                gate_routes,
                shutdown.clone(),
            )
            .await
            .context("starting ingestion")?,
        )
    } else {
        None
    };
    // One set of integrations, credentials, token caches and HTTP clients for every caller of
    // an external system: the action executors, the audit log's Azure Monitor sink and the
    // GitHub protection-rule answers (so an installation or Entra token is fetched once).
    let secrets: Arc<dyn ingestion::pollers::Credentials> = match &ingestion {
        Some(i) => Arc::new(i.shared.secrets.clone()),
        None => Arc::new(ingestion::secrets::SecretReader::new(client.clone())),
    };
    let providers = Arc::new(actions::executors::Providers::new(
        ingestion.as_ref().map(|i| i.shared.integrations.clone()),
        ingest_cfg.namespace.clone(),
        secrets,
    ));
    if let Some(i) = &ingestion {
        // GitHub deployment protection rules are answered as the integration's App.
        let rules = scorecards::github::ProtectionRules {
            checker: gate.clone(),
            providers: providers.clone(),
            index: i.shared.applier.index.clone(),
            integrations: i.shared.integrations.clone(),
            scorecards: cfg.gate_scorecards.clone(),
        };
        let _ = i.shared.protection_rules.set(Arc::new(rules));
    }
    let server = tokio::spawn(server::serve(
        cfg.metrics_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    ));

    let lease = cfg.lease();
    info!(identity = %lease.identity, lease = %format!("{}/{}", lease.namespace, lease.name), "starting");
    let elector = LeaderElector::new(client.clone(), lease);
    if !elector.acquire(&shutdown).await {
        info!("shut down before becoming leader");
        return finish(server).await;
    }
    metrics.leader.set(1);
    health.leading.store(true, Ordering::Relaxed);

    let stop_controllers_early = CancellationToken::new();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "nexus-controller".into(),
            instance: Some(elector.identity().to_string()),
        },
    );
    if cfg.actions {
        let mut sinks: Vec<std::sync::Arc<dyn actions::audit::Sink>> = Vec::new();
        if let Some(dir) = &cfg.audit_log_dir {
            let mut forwarders = Vec::new();
            if let (Some(endpoint), Some(dcr), Some(creds)) = (
                &cfg.audit_azure_endpoint,
                &cfg.audit_azure_dcr,
                &cfg.audit_azure_credentials,
            ) {
                let sink = actions::audit::azure_monitor(
                    endpoint,
                    dcr,
                    &cfg.audit_azure_stream,
                    creds,
                    providers.clone(),
                )
                .map_err(|e| anyhow::anyhow!("--audit-azure-endpoint: {e}"))?;
                tracing::info!(url = sink.url(), "audit entries forwarded to Azure Monitor");
                let (forwarder, _task) = nexus_audit::log::spawn_forwarder(
                    std::sync::Arc::new(sink),
                    500,
                    std::time::Duration::from_secs(2),
                );
                forwarders.push(forwarder);
            }
            let log = actions::audit::FileLog::open(dir, cfg.audit_retention_days, forwarders)
                .map_err(|e| anyhow::anyhow!("audit log {}: {e}", dir.display()))?;
            sinks.push(std::sync::Arc::new(log));
        }
        tokio::spawn(actions::run(
            client.clone(),
            recorder.clone(),
            actions::Audit::new(sinks),
            providers,
            gate.clone(),
            actions::Settings {
                namespace: cfg.watch_namespace.clone(),
                notify: cfg.notify(),
                run_ttl: cfg.run_ttl().map_err(anyhow::Error::msg)?,
            },
            stop_controllers_early.clone(),
        ));
    }
    if cfg.scorecards {
        tokio::spawn(scorecards::run(
            client.clone(),
            recorder.clone(),
            scorecard_metrics.clone(),
            cfg.scorecards(),
            stop_controllers_early.clone(),
        ));
    }
    if cfg.dora {
        let (client, recorder, registry, stop) = (
            client.clone(),
            recorder.clone(),
            metrics.registry().clone(),
            stop_controllers_early.clone(),
        );
        let settings = dora::Settings {
            namespace: cfg.watch_namespace.clone(),
            debounce: Duration::from_millis(cfg.debounce_ms),
        };
        tokio::spawn(async move { dora::run(client, recorder, &registry, settings, stop).await });
    }
    let ctx = Context::new(
        client,
        recorder,
        metrics.clone(),
        cfg.watch_namespace.clone(),
        cfg.bulk(),
    );
    let stop_controllers = stop_controllers_early;
    let controllers = tokio::spawn(catalog::run(
        ctx.clone(),
        cfg.settings(),
        stop_controllers.clone(),
    ));
    if let (true, Some(ingestion)) = (ingest_cfg.polling, &ingestion) {
        tokio::spawn(ingestion.clone().run_pollers(stop_controllers.clone()));
    }
    {
        let (ctx, health) = (ctx.clone(), health.clone());
        tokio::spawn(async move {
            ctx.wait_synced().await;
            health.synced.store(true, Ordering::Relaxed);
        });
    }

    let outcome = elector.hold(&shutdown).await;
    stop_controllers.cancel();
    if tokio::time::timeout(Duration::from_secs(10), controllers)
        .await
        .is_err()
    {
        warn!("controllers did not stop within 10s");
    }
    metrics.leader.set(0);
    health.leading.store(false, Ordering::Relaxed);
    match outcome {
        Ok(()) => {
            elector.release().await;
            finish(server).await
        }
        Err(e) => {
            error!(error = %e, "leadership lost; exiting so a fresh candidate takes over");
            health.failed.store(true, Ordering::Relaxed);
            shutdown.cancel();
            Err(e.into())
        }
    }
}

async fn finish(server: tokio::task::JoinHandle<std::io::Result<()>>) -> anyhow::Result<()> {
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("metrics server")),
        Err(e) => Err(anyhow::Error::new(e).context("metrics server task")),
    }
}

async fn wait_for_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("shutdown requested");
    shutdown.cancel();
}
