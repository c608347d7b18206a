//! Processes queued deliveries: parse with `nexus-ingest`, apply, record the outcome. A
//! dispatcher routes each delivery to one of N workers by what it is about (the first change's
//! target), so deliveries about the same object are applied in arrival order while different
//! objects proceed in parallel.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use nexus_api::integrations::IncidentProvider;
use nexus_ingest::{Change, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Delivery, Shared, receiver::DeliveryKind, registry};

pub async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Delivery>,
    workers: usize,
    shutdown: CancellationToken,
) {
    // Deployment protection rules are answered in their own tasks (a gate decision reads the
    // API and calls GitHub), at most this many at once.
    let answering = Arc::new(tokio::sync::Semaphore::new(PROTECTION_RULES_AT_ONCE));
    let mut lanes = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, lane_rx) = mpsc::channel::<(Delivery, Outcome)>(1024);
        tokio::spawn(lane(shared.clone(), lane_rx));
        lanes.push(tx);
    }
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = rx.recv() => match d { Some(d) => d, None => break },
        };
        shared.metrics.queue_depth.dec();
        let source = source_label(&delivery.kind);
        if is_protection_rule(&delivery) {
            protection_rule(&shared, delivery, &answering);
            continue;
        }
        rescan_if_catalog_files_changed(&shared, &delivery);
        let outcome = match parse(&shared, &delivery) {
            Ok(o) => o,
            Err(e) => {
                shared
                    .metrics
                    .processed
                    .with_label_values(&[source, "error"])
                    .inc();
                shared.status.error(
                    &delivery.integration,
                    format!("delivery {}: {e}", delivery.id),
                );
                // A corrected redelivery must not be refused as a replay.
                shared.seen.invalidate(&delivery.dedupe_key);
                tracing::warn!(integration = %delivery.integration, delivery = %delivery.id, error = %e, "delivery not parsed");
                continue;
            }
        };
        if let Outcome::Ignored(reason) = &outcome {
            shared
                .metrics
                .processed
                .with_label_values(&[source, "ignored"])
                .inc();
            shared.status.ignored(&delivery.integration);
            tracing::debug!(integration = %delivery.integration, delivery = %delivery.id, %reason, "delivery ignored");
            continue;
        }
        let lane_no = lane_of(&outcome, lanes.len());
        if lanes[lane_no].send((delivery, outcome)).await.is_err() {
            break;
        }
    }
}

async fn lane(shared: Arc<Shared>, mut rx: mpsc::Receiver<(Delivery, Outcome)>) {
    while let Some((delivery, outcome)) = rx.recv().await {
        let source = source_label(&delivery.kind);
        match shared.applier.apply(outcome.changes()).await {
            Ok(done) => {
                shared
                    .metrics
                    .processed
                    .with_label_values(&[source, "applied"])
                    .inc();
                shared
                    .metrics
                    .writes
                    .with_label_values(&[source])
                    .inc_by(done.written as u64);
                shared
                    .metrics
                    .latency
                    .with_label_values(&[source])
                    .observe(delivery.received.elapsed().as_secs_f64());
                shared.status.applied(&delivery.integration, done.written);
                tracing::debug!(integration = %delivery.integration, delivery = %delivery.id, ?done, "delivery applied");
            }
            Err(e) => {
                shared
                    .metrics
                    .processed
                    .with_label_values(&[source, "error"])
                    .inc();
                shared.status.error(
                    &delivery.integration,
                    format!("delivery {}: {e}", delivery.id),
                );
                shared.seen.invalidate(&delivery.dedupe_key);
                tracing::warn!(integration = %delivery.integration, delivery = %delivery.id, error = %e, "delivery not applied");
            }
        }
    }
}

/// Most deployment protection rules answered at once.
const PROTECTION_RULES_AT_ONCE: usize = 16;

fn is_protection_rule(d: &Delivery) -> bool {
    matches!(&d.kind, DeliveryKind::Github { event } if event == "deployment_protection_rule")
}

/// Hands a `deployment_protection_rule` delivery to the gate (see `scorecards::github`). A
/// failure is recorded on the integration and the delivery id forgotten, so a redelivery from
/// GitHub's settings page is accepted.
fn protection_rule(
    shared: &Arc<Shared>,
    delivery: Delivery,
    answering: &Arc<tokio::sync::Semaphore>,
) {
    let source = source_label(&delivery.kind);
    let Some(hook) = shared.protection_rules.get().cloned() else {
        shared
            .metrics
            .processed
            .with_label_values(&[source, "ignored"])
            .inc();
        shared.status.ignored(&delivery.integration);
        tracing::warn!(integration = %delivery.integration, delivery = %delivery.id, "deployment protection rule not answered: the scorecard gate is off");
        return;
    };
    let (shared, answering) = (shared.clone(), answering.clone());
    tokio::spawn(async move {
        let Ok(_permit) = answering.acquire_owned().await else {
            return;
        };
        match hook.handle(&delivery).await {
            Ok(outcome) => {
                shared
                    .metrics
                    .processed
                    .with_label_values(&[source, "applied"])
                    .inc();
                shared
                    .metrics
                    .latency
                    .with_label_values(&[source])
                    .observe(delivery.received.elapsed().as_secs_f64());
                shared.status.applied(&delivery.integration, 0);
                tracing::info!(integration = %delivery.integration, delivery = %delivery.id, %outcome, "deployment protection rule");
            }
            Err(e) => {
                shared
                    .metrics
                    .processed
                    .with_label_values(&[source, "error"])
                    .inc();
                shared.status.error(
                    &delivery.integration,
                    format!("delivery {} (deployment_protection_rule): {e}", delivery.id),
                );
                shared.seen.invalidate(&delivery.dedupe_key);
                tracing::warn!(integration = %delivery.integration, delivery = %delivery.id, error = %e, "deployment protection rule not answered");
            }
        }
    });
}

/// A push that touches catalog-info.yaml, CODEOWNERS or a runbook (a file the integration's
/// `spec.runbooks.paths` selects) on the default branch asks the GitHub poller (on the leader)
/// to re-read that repository now rather than at the next interval.
fn rescan_if_catalog_files_changed(shared: &Shared, d: &Delivery) {
    let DeliveryKind::Github { event } = &d.kind else {
        return;
    };
    if event != "push" {
        return;
    }
    let catalog = nexus_ingest::github::push_touches_catalog_files(&d.body).unwrap_or(false);
    let runbooks = !catalog
        && shared
            .integrations
            .github(&d.integration.namespace, &d.integration.name)
            .filter(|i| i.spec.collect.runbooks)
            .and_then(|i| nexus_ingest::runbooks::RunbookPaths::new(&i.spec.runbooks.paths).ok())
            .is_some_and(|paths| {
                nexus_ingest::github::push_touches_runbooks(&d.body, &paths).unwrap_or(false)
            });
    if !catalog && !runbooks {
        return;
    }
    let full_name = serde_json::from_slice::<serde_json::Value>(&d.body)
        .ok()
        .and_then(|v| {
            v.pointer("/repository/full_name")?
                .as_str()
                .map(str::to_string)
        });
    if let Some(repo) = full_name {
        let queued = super::pollers::request_rescan(&d.integration, &repo);
        tracing::debug!(integration = %d.integration, %repo, queued, catalog, runbooks, "repository files changed");
    }
}

fn parse(shared: &Shared, d: &Delivery) -> Result<Outcome, nexus_ingest::IngestError> {
    let ns = &d.integration.namespace;
    let name = &d.integration.name;
    match &d.kind {
        DeliveryKind::Github { event } => {
            let integration = shared.integrations.github(ns, name);
            let ctx = integration
                .as_ref()
                .map(|i| registry::github_context(i))
                .unwrap_or_default();
            let outcome = nexus_ingest::github::webhook(event, &d.body, &ctx)?;
            // The same repository selection as polling: a delivery about a repository that
            // spec.repositories leaves out changes nothing.
            if let (Some(i), Outcome::Changes(_)) = (&integration, &outcome)
                && let Some(repo) = serde_json::from_slice::<serde_json::Value>(&d.body)
                    .ok()
                    .and_then(|v| v.get("repository").cloned())
                && !super::pollers::github::selected(&i.spec, &repo)
            {
                let full = repo
                    .get("full_name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                return Ok(Outcome::ignored(format!(
                    "repository {full} is not selected by spec.repositories"
                )));
            }
            Ok(outcome)
        }
        DeliveryKind::AzureDevOps => {
            let ctx = shared
                .integrations
                .azure_devops(ns, name)
                .map(|i| registry::ado_context(&i))
                .unwrap_or_default();
            nexus_ingest::ado::service_hook(&d.body, &ctx)
        }
        DeliveryKind::Incident(p) => {
            let ctx = shared
                .integrations
                .incident_source(ns, name)
                .map(|i| registry::incident_context(&i))
                .unwrap_or_default();
            match p {
                IncidentProvider::AzureMonitor => {
                    nexus_ingest::incidents::azure_monitor(&d.body, &ctx)
                }
                IncidentProvider::Pagerduty => nexus_ingest::incidents::pagerduty(&d.body, &ctx),
                IncidentProvider::Opsgenie => nexus_ingest::incidents::opsgenie(&d.body, &ctx),
            }
        }
    }
}

pub fn source_label(kind: &DeliveryKind) -> &'static str {
    match kind {
        DeliveryKind::Github { .. } => "github",
        DeliveryKind::AzureDevOps => "azure-devops",
        DeliveryKind::Incident(IncidentProvider::AzureMonitor) => "azure-monitor",
        DeliveryKind::Incident(IncidentProvider::Pagerduty) => "pagerduty",
        DeliveryKind::Incident(IncidentProvider::Opsgenie) => "opsgenie",
    }
}

/// The lane for an outcome: by the first change's target (or object), so changes about the
/// same thing are applied one after another.
fn lane_of(outcome: &Outcome, lanes: usize) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    match outcome.changes().first() {
        Some(Change::Facts(f)) => f.target.hash(&mut h),
        Some(Change::Gone(g)) => g.target.hash(&mut h),
        Some(Change::Upsert(u)) => (u.kind(), u.namespace(), u.name()).hash(&mut h),
        None => {}
    }
    (h.finish() as usize) % lanes.max(1)
}
