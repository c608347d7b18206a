//! The `azureDevOps` executor, with the credentials of a named AzureDevOpsIntegration (PAT from
//! its Secret, or an Entra token when `spec.azure` is set) against its `spec.apiUrl`.
//!
//! - `runPipeline`: `POST {org}/{project}/_apis/pipelines/{id}/runs` (template parameters, branch
//!   as `resources.repositories.self.refName`), sent once (no retry). The run id is the
//!   reference; polls read `…/runs/{runId}` until `completed` (`succeeded` → Succeeded, anything
//!   else → Failed). The Runs API takes no tag or name to find a run again, so exactly-once rests
//!   on the write-ahead record: when a poll finds no reference (the controller stopped between
//!   sending and recording), the pipeline's runs are listed; if none was created since the
//!   attempt began the request never reached Azure DevOps and is sent now, otherwise the run
//!   fails as "outcome unknown" rather than risk a second pipeline run.
//! - `approveCheck`: `PATCH {org}/{project}/_apis/pipelines/approvals` (approving again is the
//!   same decision). `cancelRun`: `PATCH _apis/build/builds/{id}` `{status: cancelling}`.
//!   `retryFailedJobs`: `PATCH _apis/build/builds/{id}?retry=true`, never repeated after a restart.
//! - A cancelled or timed-out run cancels the pipeline run it started (best effort).

use std::collections::BTreeMap;

use http::Method;
use nexus_api::actions::{
    Execution,
    executor::{AzureDevOpsExecutor, AzureDevOpsOperation},
};
use serde_json::{Map, Value, json};

use super::{
    ExecError, Progress,
    providers::{Answer, External, ambiguous, base_url, call, encode, json_req, output_value},
};
use crate::ingestion::{
    pollers::{
        entra::ADO_SCOPE,
        http::{Auth, HttpClient},
    },
    registry::IntegrationKey,
};

pub const API_VERSION: &str = "7.1";
pub const APPROVALS_API_VERSION: &str = "7.1-preview.1";
/// Clock difference allowed between the controller and Azure DevOps when deciding whether a
/// pipeline run was created by an interrupted start.
const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(2);

struct Ado {
    key: IntegrationKey,
    http: HttpClient,
    auth: Auth,
    /// `{apiUrl}/{organization}/{project}`
    project: String,
}

async fn connect(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    retries: bool,
) -> Result<Ado, ExecError> {
    let (key, i) = x.providers.azure_devops(&d.integration)?;
    let http = x.providers.client(&key, "azure-devops-actions", retries)?;
    let auth = if let Some(a) = &i.spec.azure {
        let token_http = x.providers.client(&key, "azure-devops-actions", true)?;
        x.providers
            .entra_token(&key, a, ADO_SCOPE, &token_http)
            .await?
    } else if let Some(r) = &i.spec.pat_ref {
        let pat = x.providers.secret(&key.namespace, r).await?;
        Auth::Basic("".into(), String::from_utf8_lossy(&pat).into_owned().into())
    } else {
        return Err(ExecError::Credentials(format!(
            "{key}: set spec.patRef or spec.azure"
        )));
    };
    let base = base_url(&format!("{key}: spec.apiUrl"), &i.spec.api_url)?;
    let project = x.render(&d.project)?;
    Ok(Ado {
        project: format!(
            "{base}/{}/{}",
            encode(&i.spec.organization),
            encode(&project)
        ),
        key,
        http,
        auth,
    })
}

fn number(what: &str, v: Option<String>) -> Result<u64, ExecError> {
    let raw = v.ok_or_else(|| {
        ExecError::Invalid(format!("spec.executor.azureDevOps.{what} is required"))
    })?;
    raw.trim().parse().map_err(|_| {
        ExecError::Invalid(format!(
            "spec.executor.azureDevOps.{what} {raw:?} is not a number"
        ))
    })
}

fn render_opt(x: &External<'_>, v: &Option<String>) -> Result<Option<String>, ExecError> {
    v.as_ref().map(|t| x.render(t)).transpose()
}

pub async fn start(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    _execution: &Execution,
) -> Result<Progress, ExecError> {
    match d.operation {
        AzureDevOpsOperation::RunPipeline => run_pipeline(x, d).await,
        AzureDevOpsOperation::ApproveCheck => approve(x, d).await,
        AzureDevOpsOperation::CancelRun => build_patch(x, d, false).await,
        AzureDevOpsOperation::RetryFailedJobs => build_patch(x, d, true).await,
    }
}

pub async fn poll(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    match d.operation {
        AzureDevOpsOperation::RunPipeline => match &execution.reference {
            Some(run) => follow(x, d, run).await,
            None => {
                if let Some(id) = started_since(x, d, execution).await? {
                    return Ok(Progress::Failed {
                        message: format!(
                            "outcome unknown: the controller restarted while starting the \
                             pipeline (run {id} was created since this attempt began and may be \
                             it); check Azure DevOps and raise spec.attempt to retry"
                        ),
                        log: Vec::new(),
                    });
                }
                run_pipeline(x, d).await
            }
        },
        // Approving or cancelling again is the same decision.
        AzureDevOpsOperation::ApproveCheck => approve(x, d).await,
        AzureDevOpsOperation::CancelRun => build_patch(x, d, false).await,
        AzureDevOpsOperation::RetryFailedJobs => Ok(Progress::Failed {
            message: "outcome unknown: the controller restarted while asking Azure DevOps to \
                      retry the failed jobs; check the run and raise spec.attempt to retry"
                .into(),
            log: Vec::new(),
        }),
    }
}

/// Cancels the pipeline run a cancelled or timed-out run started (best effort).
pub async fn stop(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    execution: &Execution,
) -> Result<(), ExecError> {
    let (AzureDevOpsOperation::RunPipeline, Some(run)) = (d.operation, &execution.reference) else {
        return Ok(());
    };
    let ado = connect(x, d, true).await?;
    let url = format!(
        "{}/_apis/build/builds/{}?api-version={API_VERSION}",
        ado.project,
        encode(run)
    );
    let ans = call(
        &ado.http,
        &json_req(
            Method::PATCH,
            url,
            &ado.auth,
            Some(&json!({"status": "cancelling"})),
        ),
    )
    .await?;
    if !ans.success() && ans.status != 404 {
        if ans.status >= 500 || ans.status == 429 {
            return Err(ans.into_error());
        }
        tracing::warn!(error = %ans.describe(), "cancelling the pipeline run failed");
    }
    Ok(())
}

async fn run_pipeline(x: &External<'_>, d: &AzureDevOpsExecutor) -> Result<Progress, ExecError> {
    let pipeline = number("pipelineId", render_opt(x, &d.pipeline_id)?)?;
    let mut body = Map::new();
    if !d.parameters.is_empty() {
        let mut params = Map::new();
        for (k, v) in &d.parameters {
            params.insert(k.clone(), Value::String(x.render(v)?));
        }
        body.insert("templateParameters".into(), Value::Object(params));
    }
    if let Some(branch) = render_opt(x, &d.branch)? {
        let branch = if branch.starts_with("refs/") {
            branch
        } else {
            format!("refs/heads/{branch}")
        };
        body.insert(
            "resources".into(),
            json!({"repositories": {"self": {"refName": branch}}}),
        );
    }
    // Sent once: a retried POST could start a second pipeline run.
    let ado = connect(x, d, false).await?;
    let url = format!(
        "{}/_apis/pipelines/{pipeline}/runs?api-version={API_VERSION}",
        ado.project
    );
    let unknown = |why: String| {
        Ok(Progress::Failed {
            message: format!(
                "outcome unknown: {why}; check Azure DevOps and raise spec.attempt to retry"
            ),
            log: Vec::new(),
        })
    };
    let ans = match call(
        &ado.http,
        &json_req(Method::POST, url, &ado.auth, Some(&Value::Object(body))),
    )
    .await
    {
        Ok(a) => a,
        Err(e) if ambiguous(&e) => return unknown(e.to_string()),
        Err(e) => return Err(e),
    };
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&ado.key);
        }
        if ans.status >= 500 {
            return unknown(ans.describe());
        }
        return Ok(Progress::Failed {
            message: ans.describe(),
            log: Vec::new(),
        });
    }
    let Some(id) = ans.json.get("id").and_then(Value::as_u64) else {
        return unknown(format!("{}: the answer has no run id", ans.call));
    };
    tracing::info!(pipeline, run = id, "pipeline run started");
    Ok(Progress::Running {
        reference: Some(id.to_string()),
    })
}

async fn follow(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    run: &str,
) -> Result<Progress, ExecError> {
    let pipeline = number("pipelineId", render_opt(x, &d.pipeline_id)?)?;
    let ado = connect(x, d, true).await?;
    let url = format!(
        "{}/_apis/pipelines/{pipeline}/runs/{}?api-version={API_VERSION}",
        ado.project,
        encode(run)
    );
    let ans = call(&ado.http, &json_req(Method::GET, url, &ado.auth, None)).await?;
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&ado.key);
        }
        return Err(ans.into_error());
    }
    let state = ans.json.get("state").and_then(Value::as_str).unwrap_or("");
    if !state.eq_ignore_ascii_case("completed") {
        return Ok(Progress::Running {
            reference: Some(run.to_string()),
        });
    }
    let result = ans
        .json
        .get("result")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let mut outputs = BTreeMap::new();
    outputs.insert("runId".into(), run.to_string());
    outputs.insert("result".into(), result.clone());
    if let Some(web) = ans.json.pointer("/_links/web/href") {
        outputs.insert("url".into(), output_value(web));
    }
    let line = format!("pipeline {pipeline} run {run} completed: {result}");
    if result.eq_ignore_ascii_case("succeeded") {
        Ok(Progress::Succeeded {
            outputs,
            log: vec![line],
        })
    } else {
        Ok(Progress::Failed {
            message: line.clone(),
            log: vec![line],
        })
    }
}

/// A pipeline run created since `execution` began (minus the allowed clock skew), if any.
async fn started_since(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    execution: &Execution,
) -> Result<Option<u64>, ExecError> {
    let pipeline = number("pipelineId", render_opt(x, &d.pipeline_id)?)?;
    let ado = connect(x, d, true).await?;
    let url = format!(
        "{}/_apis/pipelines/{pipeline}/runs?api-version={API_VERSION}",
        ado.project
    );
    let ans = call(&ado.http, &json_req(Method::GET, url, &ado.auth, None)).await?;
    if !ans.success() {
        return Err(ans.into_error());
    }
    let since = execution.started_at.0 - SKEW;
    Ok(ans
        .json
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("createdDate")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                // A run without a readable date may be it.
                .is_none_or(|t| t >= since)
        })
        .find_map(|r| r.get("id").and_then(Value::as_u64)))
}

async fn approve(x: &External<'_>, d: &AzureDevOpsExecutor) -> Result<Progress, ExecError> {
    let approval = render_opt(x, &d.approval_id)?
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| {
            ExecError::Invalid("spec.executor.azureDevOps.approvalId is required".into())
        })?;
    let ado = connect(x, d, true).await?;
    let requester = x
        .values
        .pointer("/run/requester")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let comment = format!(
        "approved by Nexus run {}/{} (requested by {requester})",
        x.namespace, x.run_name
    );
    let url = format!(
        "{}/_apis/pipelines/approvals?api-version={APPROVALS_API_VERSION}",
        ado.project
    );
    let body = json!([{"approvalId": approval.trim(), "status": "approved", "comment": comment}]);
    let ans = call(
        &ado.http,
        &json_req(Method::PATCH, url, &ado.auth, Some(&body)),
    )
    .await?;
    finish(x, &ado, ans, "approvalId", approval.trim(), "approved")
}

async fn build_patch(
    x: &External<'_>,
    d: &AzureDevOpsExecutor,
    retry: bool,
) -> Result<Progress, ExecError> {
    let run = number("runId", render_opt(x, &d.run_id)?)?;
    // A retry is sent once; a cancel may be repeated.
    let ado = connect(x, d, !retry).await?;
    let (url, body) = if retry {
        (
            format!(
                "{}/_apis/build/builds/{run}?retry=true&api-version={API_VERSION}",
                ado.project
            ),
            json!({}),
        )
    } else {
        (
            format!(
                "{}/_apis/build/builds/{run}?api-version={API_VERSION}",
                ado.project
            ),
            json!({"status": "cancelling"}),
        )
    };
    let ans = match call(
        &ado.http,
        &json_req(Method::PATCH, url, &ado.auth, Some(&body)),
    )
    .await
    {
        Ok(a) => a,
        Err(e) if retry && ambiguous(&e) => {
            return Ok(Progress::Failed {
                message: format!(
                    "outcome unknown: {e}; check the run in Azure DevOps and raise spec.attempt \
                     to retry"
                ),
                log: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    let done = if retry {
        "retrying failed jobs"
    } else {
        "cancelling"
    };
    finish(x, &ado, ans, "runId", &run.to_string(), done)
}

fn finish(
    x: &External<'_>,
    ado: &Ado,
    ans: Answer,
    id_name: &str,
    id: &str,
    done: &str,
) -> Result<Progress, ExecError> {
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&ado.key);
        }
        return Ok(Progress::Failed {
            message: ans.describe(),
            log: Vec::new(),
        });
    }
    let mut outputs = BTreeMap::new();
    outputs.insert(id_name.to_string(), id.to_string());
    if let Some(web) = ans.json.pointer("/_links/web/href") {
        outputs.insert("url".into(), output_value(web));
    }
    Ok(Progress::Succeeded {
        outputs,
        log: vec![format!("{}: {done} ({id_name} {id})", ans.call)],
    })
}
