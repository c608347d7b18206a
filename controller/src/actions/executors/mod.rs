//! Executors: how an approved run does its work. Each `start` is idempotent for the attempt it
//! is given (the same Job name, the same patch), so a controller that restarts mid-start never
//! does the work twice; `poll` reports progress of what was started.

pub mod job;
pub mod kubernetes;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use nexus_api::actions::{ActionSpec, Execution};
use serde_json::Value;

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
}

impl RunContext<'_> {
    pub fn render(&self, t: &str) -> Result<String, ExecError> {
        Ok(crate::actions::template::render(t, &self.values)?)
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
    Err(ExecError::Unsupported(e.kind()))
}

/// Progress of what `start` began.
pub async fn poll(ctx: &RunContext<'_>, execution: &Execution) -> Result<Progress, ExecError> {
    let e = &ctx.action.executor;
    if e.job.is_some() {
        return job::poll(ctx, execution).await;
    }
    if let Some(k) = &e.kubernetes {
        // Kubernetes operations finish within `start`; a poll means the controller restarted
        // between doing it and recording it: doing it again is the same operation.
        return kubernetes::run(ctx, k, execution).await;
    }
    Err(ExecError::Unsupported(e.kind()))
}

/// Stops what `start` began (a cancelled or timed-out run).
pub async fn stop(ctx: &RunContext<'_>, execution: &Execution) -> Result<(), ExecError> {
    if ctx.action.executor.job.is_some() {
        return job::stop(ctx, execution).await;
    }
    Ok(())
}
