//! Self-service actions: the Action and ActionRun reconcilers.
//!
//! - `action` — checks an Action (inputs schema compiles) and keeps its runner grant.
//! - `run` — the ActionRun state machine: validate and pin → approvals → execute → outcome →
//!   rollback, each transition a condition, an Event and an audit entry.
//! - `approvals` — the pure approval logic (stages, N-of-M, deadline, auto-approval).
//! - `grants` — the RBAC grants the admission policies consult.
//! - `executors/` — job and kubernetes executors, and the external ones (Azure, Azure DevOps,
//!   GitHub, Azure Functions, Terraform Cloud) with the ingestion registry's integrations.
//! - `inputs`, `template` — JSON Schema inputs with defaults; `{{ … }}` templates.

pub mod action;
pub mod approvals;
pub mod audit;
pub mod audit_entries;
pub mod executors;
pub mod grants;
pub mod inputs;
pub mod notify;
pub mod run;
pub mod template;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, controller::Action as Requeue, events::Recorder, reflector::ObjectRef, watcher,
    },
};
use nexus_api::actions::{Action, ActionApproval, ActionRun};
use tokio_util::sync::CancellationToken;

pub use audit::Audit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    #[error("executor: {0}")]
    Executor(String),
    #[error("scorecard gate: {0}")]
    Gate(GateRefusal),
}

/// A scorecard gate that could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum GateRefusal {
    /// The run cannot be gated as asked (no target, a target that does not parse).
    #[error("{0}")]
    Invalid(String),
    /// The Kubernetes API did not answer: retried.
    #[error("{0}")]
    Unreachable(String),
}

/// What the reconcilers share.
pub struct Ctx {
    pub client: Client,
    pub recorder: Recorder,
    pub audit: Audit,
    pub notifier: Option<Arc<nexus_audit::notify::Notifier>>,
    pub portal_url: String,
    /// How long finished runs stay before they are archived to the audit log and deleted.
    pub run_ttl: Option<Duration>,
    /// Integrations and credentials of the external executors.
    pub providers: Arc<executors::Providers>,
    /// Decides the scorecard gates of gated Actions (`spec.gate`).
    pub gate: Arc<crate::scorecards::gate::GateChecker>,
}

/// Runs the Action and ActionRun controllers until `shutdown` (leader only).
/// How the actions controllers run (from the controller's flags).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Watch only this namespace (all when None).
    pub namespace: Option<String>,
    pub notify: notify::NotifyConfig,
    /// How long finished runs stay before they are archived and deleted (kept when None).
    pub run_ttl: Option<Duration>,
}

pub async fn run(
    client: Client,
    recorder: Recorder,
    audit: Audit,
    providers: Arc<executors::Providers>,
    gate: Arc<crate::scorecards::gate::GateChecker>,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let Settings {
        namespace,
        notify,
        run_ttl,
    } = settings;
    let notifier = match notify::notifier(&notify) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "notifications are off");
            None
        }
    };
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        recorder,
        audit,
        notifier,
        portal_url: notify.portal_url.clone(),
        run_ttl,
        providers,
        gate,
    });
    let (runs, actions, approvals_api, jobs): (
        Api<ActionRun>,
        Api<Action>,
        Api<ActionApproval>,
        Api<Job>,
    ) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let run_controller = Controller::new(runs, watcher::Config::default())
        .owns(
            jobs,
            watcher::Config::default().labels(executors::job::RUN_LABEL),
        )
        .watches(
            approvals_api,
            watcher::Config::default(),
            |a: ActionApproval| {
                a.namespace()
                    .map(|ns| ObjectRef::<ActionRun>::new(&a.spec.run).within(&ns))
            },
        )
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(run::reconcile, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "action run reconcile");
            }
        });
    let action_controller = Controller::new(actions, watcher::Config::default())
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(action::reconcile, action_error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "action reconcile");
            }
        });
    tracing::info!("actions controllers started");
    tokio::join!(run_controller, action_controller);
}

fn error_policy(run: Arc<ActionRun>, err: &Error, _ctx: Arc<Ctx>) -> Requeue {
    tracing::warn!(run = %format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any()), error = %err, "run reconcile failed; retrying");
    Requeue::requeue(Duration::from_secs(5))
}

fn action_error_policy(a: Arc<Action>, err: &Error, _ctx: Arc<Ctx>) -> Requeue {
    tracing::warn!(action = %a.name_any(), error = %err, "action reconcile failed; retrying");
    Requeue::requeue(Duration::from_secs(10))
}
