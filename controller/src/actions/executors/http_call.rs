//! Plain HTTP executors with a key from a Secret in the run's namespace:
//!
//! - `azureFunction`: the rendered URL with `x-functions-key`, rendered JSON body (POST by
//!   default). 2xx finishes the run with the top-level fields of a JSON object answer as
//!   outputs (strings, bounded); anything else fails it with the status and a bounded excerpt of
//!   the body. A POST is sent once (a restart before it was recorded: "outcome unknown"); a GET,
//!   PUT or DELETE may be repeated.
//! - `terraformCloud`: `POST {address}/api/v2/runs` (JSON:API, bearer token) queues a run whose
//!   message carries `[nexus <run uid>/a<attempt>]`; the run id is the reference, polls read
//!   `GET /api/v2/runs/{id}` until `applied` / `planned_and_finished` (Succeeded) or `errored` /
//!   `canceled` / `discarded` (Failed). After a restart before the id was recorded the
//!   workspace's recent runs are searched for the tag instead of queueing another. A cancelled
//!   or timed-out run cancels the Terraform run (best effort).
//!
//! Neither has an integration object: their HTTP clients are keyed by the run's namespace and
//! the executor name, which only the client's logs show.

use std::collections::BTreeMap;

use http::Method;
use nexus_api::actions::{
    Execution,
    executor::{AzureFunctionExecutor, HttpMethod, TerraformCloudExecutor},
};
use serde_json::{Value, json};

use super::{
    ExecError, Progress,
    providers::{
        Answer, External, MAX_EXCERPT, ambiguous, base_url, bounded, call, encode, json_req,
        object_outputs,
    },
};
use crate::ingestion::{
    pollers::http::{Auth, HttpClient, Req},
    registry::{IntegrationKey, IntegrationKind},
};

pub const TFC_DEFAULT_ADDRESS: &str = "https://app.terraform.io";
const JSON_API: &str = "application/vnd.api+json";
/// Recent workspace runs searched for this attempt's tag.
const TFC_RECENT_RUNS: usize = 50;

fn client(x: &External<'_>, name: &str, retries: bool) -> Result<HttpClient, ExecError> {
    let key = IntegrationKey {
        kind: IntegrationKind::AzureSubscription,
        namespace: x.namespace.to_string(),
        name: name.to_string(),
    };
    x.providers.client(&key, "actions-http", retries)
}

fn excerpt(ans: &Answer) -> String {
    let text = String::from_utf8_lossy(&ans.body);
    let text = text.trim();
    let reason = http::StatusCode::from_u16(ans.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    if text.is_empty() {
        format!("{}: {} {reason}", ans.call, ans.status)
    } else {
        format!(
            "{}: {} {reason}: {}",
            ans.call,
            ans.status,
            bounded(&text.replace(['\n', '\r'], " "), MAX_EXCERPT)
        )
    }
}

// --- azureFunction --------------------------------------------------------------------------

pub async fn function_start(
    x: &External<'_>,
    f: &AzureFunctionExecutor,
) -> Result<Progress, ExecError> {
    let method = f.method.unwrap_or(HttpMethod::POST);
    let repeatable = method != HttpMethod::POST;
    let url = base_url("spec.executor.azureFunction.url", &x.render(&f.url)?)?;
    let body = f.body.as_ref().map(|b| x.render_json(b)).transpose()?;
    let m = match method {
        HttpMethod::GET => Method::GET,
        HttpMethod::PUT => Method::PUT,
        HttpMethod::POST => Method::POST,
        HttpMethod::PATCH => Method::PATCH,
        HttpMethod::DELETE => Method::DELETE,
    };
    let mut req = json_req(m, url, &Auth::None, body.as_ref());
    if let Some(r) = &f.key_ref {
        let key = x.providers.secret(x.namespace, r).await?;
        req = req.header(
            "x-functions-key",
            String::from_utf8_lossy(&key).trim().to_string(),
        );
    }
    let http = client(x, "azureFunction", repeatable)?;
    let ans = match call(&http, &req).await {
        Ok(a) => a,
        Err(e) if !repeatable && ambiguous(&e) => {
            return Ok(Progress::Failed {
                message: format!(
                    "outcome unknown: {e}; check the function and raise spec.attempt to retry"
                ),
                log: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    if !ans.success() {
        if repeatable && (ans.status >= 500 || ans.status == 429) {
            return Err(ans.into_error());
        }
        return Ok(Progress::Failed {
            message: excerpt(&ans),
            log: Vec::new(),
        });
    }
    Ok(Progress::Succeeded {
        outputs: object_outputs(&ans.json),
        log: vec![format!("{}: {}", ans.call, ans.status)],
    })
}

pub async fn function_poll(
    x: &External<'_>,
    f: &AzureFunctionExecutor,
) -> Result<Progress, ExecError> {
    if f.method.unwrap_or(HttpMethod::POST) == HttpMethod::POST {
        return Ok(Progress::Failed {
            message: "outcome unknown: the controller restarted while calling the function; \
                      check it and raise spec.attempt to retry"
                .into(),
            log: Vec::new(),
        });
    }
    function_start(x, f).await
}

// --- terraformCloud -------------------------------------------------------------------------

struct Tfc {
    address: String,
    auth: Auth,
}

async fn tfc(x: &External<'_>, t: &TerraformCloudExecutor) -> Result<Tfc, ExecError> {
    let address = base_url(
        "spec.executor.terraformCloud.address",
        t.address.as_deref().unwrap_or(TFC_DEFAULT_ADDRESS),
    )?;
    let token = x.providers.secret(x.namespace, &t.token_ref).await?;
    Ok(Tfc {
        address,
        auth: Auth::Bearer(String::from_utf8_lossy(&token).trim().into()),
    })
}

fn tfc_req(tfc: &Tfc, method: Method, path: &str, body: Option<&Value>) -> Req {
    let mut req = json_req(method, format!("{}{path}", tfc.address), &tfc.auth, body);
    if let Some((ct, _)) = req.body.as_mut() {
        *ct = JSON_API.into();
    }
    req.header("accept", JSON_API)
}

fn tag(x: &External<'_>) -> String {
    format!("[nexus {}]", x.attempt_tag())
}

pub async fn tfc_start(
    x: &External<'_>,
    t: &TerraformCloudExecutor,
) -> Result<Progress, ExecError> {
    let workspace = x.render(&t.workspace_id)?.trim().to_string();
    if workspace.is_empty() {
        return Err(ExecError::Invalid(
            "spec.executor.terraformCloud.workspaceId is empty".into(),
        ));
    }
    let message = match &t.message {
        Some(m) => x.render(m)?,
        None => format!("Nexus run {}/{}", x.namespace, x.run_name),
    };
    let message = format!("{} {}", bounded(&message, 800), tag(x));
    let tfc = tfc(x, t).await?;
    let body = json!({"data": {
        "type": "runs",
        "attributes": {"message": message, "is-destroy": t.is_destroy},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace}}},
    }});
    // Sent once: a retried POST could queue a second run.
    let http = client(x, "terraformCloud", false)?;
    // A failure that may have queued it is retried: the next poll looks for the tagged run.
    let ans = call(
        &http,
        &tfc_req(&tfc, Method::POST, "/api/v2/runs", Some(&body)),
    )
    .await?;
    if !ans.success() {
        if ans.status >= 500 || ans.status == 429 {
            // Maybe queued: the next poll looks for the tagged run before queueing again.
            return Err(ans.into_error());
        }
        return Ok(Progress::Failed {
            message: tfc_error(&ans),
            log: Vec::new(),
        });
    }
    let Some(id) = ans.json.pointer("/data/id").and_then(Value::as_str) else {
        return Err(ExecError::Invalid(format!(
            "{}: the answer has no run id",
            ans.call
        )));
    };
    tracing::info!(run = %id, "Terraform run queued");
    Ok(Progress::Running {
        reference: Some(id.to_string()),
    })
}

/// `POST /api/v2/runs: 404 Not Found: <JSON:API error titles and details>`.
fn tfc_error(ans: &Answer) -> String {
    let details: Vec<String> = ans
        .json
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(3)
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
            [s("title"), s("detail")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(": ")
        })
        .filter(|d| !d.is_empty())
        .collect();
    if details.is_empty() {
        return excerpt(ans);
    }
    let reason = http::StatusCode::from_u16(ans.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    bounded(
        &format!(
            "{}: {} {reason}: {}",
            ans.call,
            ans.status,
            details.join("; ")
        ),
        600,
    )
}

pub async fn tfc_poll(
    x: &External<'_>,
    t: &TerraformCloudExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    let tfc = tfc(x, t).await?;
    let http = client(x, "terraformCloud", true)?;
    let id = match &execution.reference {
        Some(id) => id.clone(),
        None => match tagged_run(x, t, &tfc, &http).await? {
            Some(id) => id,
            None => return tfc_start(x, t).await,
        },
    };
    let ans = call(
        &http,
        &tfc_req(
            &tfc,
            Method::GET,
            &format!("/api/v2/runs/{}", encode(&id)),
            None,
        ),
    )
    .await?;
    if !ans.success() {
        if ans.status >= 500 || ans.status == 429 {
            return Err(ans.into_error());
        }
        return Ok(Progress::Failed {
            message: tfc_error(&ans),
            log: Vec::new(),
        });
    }
    let status = ans
        .json
        .pointer("/data/attributes/status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let line = format!("Terraform run {id}: {status}");
    let mut outputs = BTreeMap::new();
    outputs.insert("runId".into(), id.clone());
    outputs.insert("status".into(), status.clone());
    match status.as_str() {
        "applied" | "planned_and_finished" | "planned_and_saved" => Ok(Progress::Succeeded {
            outputs,
            log: vec![line],
        }),
        "errored"
        | "canceled"
        | "force_canceled"
        | "discarded"
        | "policy_soft_failed_discarded" => Ok(Progress::Failed {
            message: line.clone(),
            log: vec![line],
        }),
        _ => Ok(Progress::Running {
            reference: Some(id),
        }),
    }
}

/// The workspace's recent run tagged with this attempt, if any.
async fn tagged_run(
    x: &External<'_>,
    t: &TerraformCloudExecutor,
    tfc: &Tfc,
    http: &HttpClient,
) -> Result<Option<String>, ExecError> {
    let workspace = x.render(&t.workspace_id)?.trim().to_string();
    let path = format!(
        "/api/v2/workspaces/{}/runs?page%5Bsize%5D={TFC_RECENT_RUNS}",
        encode(&workspace)
    );
    let ans = call(http, &tfc_req(tfc, Method::GET, &path, None)).await?;
    if !ans.success() {
        return Err(ans.into_error());
    }
    let tag = tag(x);
    Ok(ans
        .json
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| {
            r.pointer("/attributes/message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains(&tag))
        })
        .and_then(|r| r.get("id").and_then(Value::as_str).map(str::to_string)))
}

/// Cancels the Terraform run of a cancelled or timed-out run (best effort).
pub async fn tfc_stop(
    x: &External<'_>,
    t: &TerraformCloudExecutor,
    execution: &Execution,
) -> Result<(), ExecError> {
    let Some(id) = &execution.reference else {
        return Ok(());
    };
    let tfc = tfc(x, t).await?;
    let http = client(x, "terraformCloud", true)?;
    let ans = call(
        &http,
        &tfc_req(
            &tfc,
            Method::POST,
            &format!("/api/v2/runs/{}/actions/cancel", encode(id)),
            Some(&json!({"comment": format!("cancelled by Nexus run {}/{}", x.namespace, x.run_name)})),
        ),
    )
    .await?;
    if !ans.success() {
        if ans.status >= 500 || ans.status == 429 {
            return Err(ans.into_error());
        }
        // 409: not cancelable any more (finished, or not started yet).
        tracing::warn!(error = %tfc_error(&ans), "cancelling the Terraform run failed");
    }
    Ok(())
}
