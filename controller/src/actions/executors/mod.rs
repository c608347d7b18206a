//! Executors: how an approved run does its work. Each `start` is idempotent for the attempt it
//! is given (the same Job name, the same patch), so a controller that restarts mid-start never
//! does the work twice; `poll` reports progress of what was started.
//!
//! The external executors (`azure`, `azureDevOps`, `github`, `azureFunction`,
//! `terraformCloud`) see the run through the narrower [`External`] context (templates,
//! attempt, [`Providers`]) and need no Kubernetes client.

pub mod azure;
pub mod azure_devops;
pub mod github;
pub mod http_call;
pub mod job;
pub mod kubernetes;
pub mod providers;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use nexus_api::actions::{ActionSpec, Execution};
use serde_json::Value;

pub use providers::{External, Providers};

use crate::ingestion::pollers::HttpError;

/// What the executor reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Still going; `reference` names what was started (Job name, external id).
    Running {
        reference: Option<String>,
    },
    Succeeded {
        outputs: BTreeMap<String, String>,
        log: Vec<String>,
    },
    Failed {
        message: String,
        log: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Template(#[from] crate::actions::template::TemplateError),
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the {0} executor is not available in this release")]
    Unsupported(&'static str),
    /// A provider call failed (names the call, never a credential).
    #[error("{0}")]
    Http(#[from] HttpError),
    /// An integration or credential is missing or unusable (names the object, never a value).
    #[error("{0}")]
    Credentials(String),
}

impl ExecError {
    /// Worth trying again later: timeouts, connection trouble, rate limits, 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ExecError::Http(h) => match h {
                HttpError::Timeout { .. }
                | HttpError::Transport { .. }
                | HttpError::RateLimited { .. } => true,
                h => h.status().is_some_and(|s| s >= 500 || s == 429),
            },
            _ => false,
        }
    }
}

/// Everything an executor needs about the run.
pub struct RunContext<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub run_name: &'a str,
    pub action: &'a ActionSpec,
    /// Template context: inputs, target, run, outputs.
    pub values: Value,
    pub attempt: i32,
    pub owner: OwnerReference,
    /// Integrations, credentials and token caches of the external executors.
    pub providers: &'a Providers,
}

impl RunContext<'_> {
    pub fn render(&self, t: &str) -> Result<String, ExecError> {
        Ok(crate::actions::template::render(t, &self.values)?)
    }

    /// The narrower context of the external executors.
    pub fn external(&self) -> External<'_> {
        External {
            providers: self.providers,
            namespace: self.namespace,
            run_name: self.run_name,
            run_uid: &self.owner.uid,
            attempt: self.attempt,
            action: self.action,
            values: &self.values,
        }
    }
}

pub fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ExecError {
    let what = what.into();
    move |source| ExecError::Kube { what, source }
}

/// Starts (or re-finds) the work for this attempt.
pub async fn start(ctx: &RunContext<'_>, execution: &Execution) -> Result<Progress, ExecError> {
    let e = &ctx.action.executor;
    if let Some(j) = &e.job {
        return job::start(ctx, j).await;
    }
    if let Some(k) = &e.kubernetes {
        return kubernetes::run(ctx, k, execution).await;
    }
    start_external(&ctx.external(), execution).await
}

/// Starts an external executor's work for this attempt.
pub async fn start_external(
    x: &External<'_>,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    let e = &x.action.executor;
    if let Some(a) = &e.azure {
        return azure::start(x, a, execution).await;
    }
    if let Some(d) = &e.azure_devops {
        return azure_devops::start(x, d, execution).await;
    }
    if let Some(g) = &e.github {
        return github::start(x, g, execution).await;
    }
    if let Some(f) = &e.azure_function {
        return http_call::function_start(x, f).await;
    }
    if let Some(t) = &e.terraform_cloud {
        return http_call::tfc_start(x, t).await;
    }
    Err(ExecError::Unsupported(e.kind()))
}

/// Progress of an external executor's work (after a restart without a recorded reference:
/// finds what the interrupted start did, starts it when that is safe, or fails as "outcome
/// unknown").
pub async fn poll_external(x: &External<'_>, execution: &Execution) -> Result<Progress, ExecError> {
    let e = &x.action.executor;
    if let Some(a) = &e.azure {
        return azure::poll(x, a, execution).await;
    }
    if let Some(d) = &e.azure_devops {
        return azure_devops::poll(x, d, execution).await;
    }
    if let Some(g) = &e.github {
        return github::poll(x, g, execution).await;
    }
    if let Some(f) = &e.azure_function {
        return http_call::function_poll(x, f).await;
    }
    if let Some(t) = &e.terraform_cloud {
        return http_call::tfc_poll(x, t, execution).await;
    }
    Err(ExecError::Unsupported(e.kind()))
}

/// Stops an external executor's work (best effort: pipeline and Terraform runs are cancelled).
pub async fn stop_external(x: &External<'_>, execution: &Execution) -> Result<(), ExecError> {
    let e = &x.action.executor;
    if let Some(d) = &e.azure_devops {
        return azure_devops::stop(x, d, execution).await;
    }
    if let Some(t) = &e.terraform_cloud {
        return http_call::tfc_stop(x, t, execution).await;
    }
    Ok(())
}

/// Progress of what `start` began.
pub async fn poll(ctx: &RunContext<'_>, execution: &Execution) -> Result<Progress, ExecError> {
    let e = &ctx.action.executor;
    if e.job.is_some() {
        return job::poll(ctx, execution).await;
    }
    if let Some(k) = &e.kubernetes {
        // Kubernetes operations finish within `start`; a poll means the controller restarted
        // between recording the attempt and recording its result.
        return kubernetes::interrupted(ctx, k, execution).await;
    }
    poll_external(&ctx.external(), execution).await
}

/// Stops what `start` began (a cancelled or timed-out run).
pub async fn stop(ctx: &RunContext<'_>, execution: &Execution) -> Result<(), ExecError> {
    if ctx.action.executor.job.is_some() {
        return job::stop(ctx, execution).await;
    }
    if ctx.action.executor.kubernetes.is_some() {
        return Ok(());
    }
    stop_external(&ctx.external(), execution).await
}
