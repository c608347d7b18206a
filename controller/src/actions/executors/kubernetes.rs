//! Native Kubernetes operations done by the controller itself: scale, rolling restart, pod
//! logs, exec, cordon/uncordon and drain. Each is idempotent for an attempt: scale sets a
//! number, a restart stamps the attempt's start time (the same on a repeat), cordon sets a flag,
//! a drain evicts what is still there. Exec is the exception: a command may not be repeatable,
//! so it runs only from [`run`] right after the attempt was recorded, and a controller that
//! restarts while it runs reports the outcome as unknown instead of running it again
//! ([`interrupted`]).

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{Node, Pod},
    policy::v1::Eviction,
};
use kube::{
    Api,
    api::{AttachParams, ListParams, LogParams, Patch, PatchParams},
};
use nexus_api::actions::{
    Execution,
    executor::{KubernetesExecutor, KubernetesOperation, WorkloadKind},
};
use serde_json::json;

use super::{ExecError, Progress, RunContext, kube_err};

const MANAGER: &str = "nexus-actions";

pub async fn run(
    ctx: &RunContext<'_>,
    k: &KubernetesExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    let name = ctx.render(&k.name)?;
    let namespace = match &k.namespace {
        Some(ns) => ctx.render(ns)?,
        None => ctx.namespace.to_string(),
    };
    let mut outputs = BTreeMap::new();
    let mut log = Vec::new();
    match k.operation {
        KubernetesOperation::Scale => {
            let raw = ctx.render(k.replicas.as_deref().unwrap_or(""))?;
            let replicas: i32 = raw.trim().parse().map_err(|_| {
                ExecError::Invalid(format!("replicas {raw:?} is not a whole number"))
            })?;
            if replicas < 0 {
                return Err(ExecError::Invalid(format!(
                    "replicas {replicas} is negative"
                )));
            }
            let what = format!("{} {namespace}/{name}", workload_label(k.workload));
            let previous = current_replicas(ctx, k.workload, &namespace, &name)
                .await
                .map_err(kube_err(&what))?;
            let patch = json!({"spec": {"replicas": replicas}});
            let pp = PatchParams::default();
            match k.workload.unwrap_or(WorkloadKind::Deployment) {
                WorkloadKind::Deployment => {
                    Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
                        .patch_scale(&name, &pp, &Patch::Merge(&patch))
                        .await
                        .map_err(kube_err(&what))?;
                }
                WorkloadKind::StatefulSet => {
                    Api::<StatefulSet>::namespaced(ctx.client.clone(), &namespace)
                        .patch_scale(&name, &pp, &Patch::Merge(&patch))
                        .await
                        .map_err(kube_err(&what))?;
                }
            }
            if let Some(p) = previous {
                outputs.insert("previousReplicas".into(), p.to_string());
            }
            outputs.insert("replicas".into(), replicas.to_string());
            log.push(format!(
                "scaled {what} from {} to {replicas}",
                previous
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into())
            ));
        }
        KubernetesOperation::RolloutRestart => {
            let what = format!("{} {namespace}/{name}", workload_label(k.workload));
            let stamp = nexus_ingest::time::rfc3339(&execution.started_at);
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": stamp,
            }}}}});
            let pp = PatchParams::default();
            match k.workload.unwrap_or(WorkloadKind::Deployment) {
                WorkloadKind::Deployment => {
                    Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
                        .patch(&name, &pp, &Patch::Merge(&patch))
                        .await
                        .map_err(kube_err(&what))?;
                }
                WorkloadKind::StatefulSet => {
                    Api::<StatefulSet>::namespaced(ctx.client.clone(), &namespace)
                        .patch(&name, &pp, &Patch::Merge(&patch))
                        .await
                        .map_err(kube_err(&what))?;
                }
            }
            outputs.insert("restartedAt".into(), stamp.clone());
            log.push(format!("rolling restart of {what} (restartedAt {stamp})"));
        }
        KubernetesOperation::Logs => {
            let what = format!("pod {namespace}/{name}");
            let lp = LogParams {
                container: container(ctx, k)?,
                tail_lines: Some(k.tail_lines.unwrap_or(200)),
                ..LogParams::default()
            };
            let text = Api::<Pod>::namespaced(ctx.client.clone(), &namespace)
                .logs(&name, &lp)
                .await
                .map_err(kube_err(&what))?;
            log.extend(text.lines().map(str::to_string));
        }
        KubernetesOperation::Cordon | KubernetesOperation::Uncordon => {
            let cordon = k.operation == KubernetesOperation::Cordon;
            let what = format!("node {name}");
            Api::<Node>::all(ctx.client.clone())
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(json!({
                        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                        "spec": {"unschedulable": cordon},
                    })),
                )
                .await
                .map_err(kube_err(&what))?;
            log.push(format!(
                "{} {what}",
                if cordon { "cordoned" } else { "uncordoned" }
            ));
        }
        KubernetesOperation::Drain => {
            let what = format!("node {name}");
            Api::<Node>::all(ctx.client.clone())
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"unschedulable": true}})),
                )
                .await
                .map_err(kube_err(&what))?;
            let pods = Api::<Pod>::all(ctx.client.clone())
                .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                .await
                .map_err(kube_err(&what))?;
            let mut evicted = 0;
            for p in pods.items {
                let owned_by_daemonset = p
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "DaemonSet");
                let mirror = p
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
                if owned_by_daemonset || mirror {
                    continue;
                }
                let (Some(pn), Some(pns)) = (p.metadata.name.clone(), p.metadata.namespace.clone())
                else {
                    continue;
                };
                let eviction = Eviction {
                    metadata: kube::api::ObjectMeta {
                        name: Some(pn.clone()),
                        namespace: Some(pns.clone()),
                        ..Default::default()
                    },
                    delete_options: None,
                };
                match Api::<Pod>::namespaced(ctx.client.clone(), &pns)
                    .create_subresource::<Eviction, Eviction>(
                        "eviction",
                        &pn,
                        &Default::default(),
                        &eviction,
                    )
                    .await
                {
                    Ok(_) => evicted += 1,
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        return Ok(Progress::Failed {
                            message: format!(
                                "evicting pod {pns}/{pn}: {e} (a PodDisruptionBudget may forbid it; retry the run later)"
                            ),
                            log,
                        });
                    }
                }
            }
            outputs.insert("evictedPods".into(), evicted.to_string());
            log.push(format!("drained {what}: {evicted} pods evicted"));
        }
        KubernetesOperation::Exec => {
            return exec(ctx, k, execution, &namespace, &name).await;
        }
    }
    Ok(Progress::Succeeded { outputs, log })
}

/// A poll of a kubernetes run finds work recorded but not finished: the controller restarted
/// between recording the attempt and recording its result. Every operation but exec is simply
/// done again; a command is not run twice.
pub async fn interrupted(
    ctx: &RunContext<'_>,
    k: &KubernetesExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    if k.operation != KubernetesOperation::Exec {
        return run(ctx, k, execution).await;
    }
    Ok(Progress::Failed {
        message: format!(
            "the controller restarted while the command {:?} ran; whether it completed is unknown, \
             and it is not run twice: check the pod, then retry the run if needed",
            execution.command.join(" ")
        ),
        log: Vec::new(),
    })
}

/// The container to address; an empty name (a template's default) means the pod's only one.
fn container(ctx: &RunContext<'_>, k: &KubernetesExecutor) -> Result<Option<String>, ExecError> {
    Ok(k.container
        .as_ref()
        .map(|c| ctx.render(c))
        .transpose()?
        .filter(|c| !c.trim().is_empty()))
}

/// Most output kept of each stream of an exec, in bytes (the run's log tail keeps less).
const MAX_EXEC_OUTPUT: usize = 64 * 1024;
/// Longest a command may run when the Action sets no timeout.
const DEFAULT_EXEC_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);
const DEFAULT_EXEC_LIMIT_TEXT: &str = "10m";

/// Reads a stream to its end, keeping the first [`MAX_EXEC_OUTPUT`] bytes and counting the rest.
async fn read_bounded<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> (Vec<u8>, usize) {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut dropped = 0usize;
    if let Some(mut r) = r {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let room = MAX_EXEC_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
            dropped += n.saturating_sub(room);
        }
    }
    (kept, dropped)
}

/// Runs the attempt's recorded command (rendered before the write-ahead, so the audit log has
/// exactly what ran) in the pod, non-interactively, and waits for its exit status.
async fn exec(
    ctx: &RunContext<'_>,
    k: &KubernetesExecutor,
    execution: &Execution,
    namespace: &str,
    name: &str,
) -> Result<Progress, ExecError> {
    let command = execution.command.clone();
    if command.is_empty() || command[0].trim().is_empty() {
        return Err(ExecError::Invalid(
            "spec.executor.kubernetes.command is empty: exec needs a command".into(),
        ));
    }
    let container = container(ctx, k)?;
    let what = match &container {
        Some(c) => format!("exec in pod {namespace}/{name}, container {c}"),
        None => format!("exec in pod {namespace}/{name}"),
    };
    let mut ap = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true)
        .tty(false);
    if let Some(c) = &container {
        ap = ap.container(c.clone());
    }
    let (limit, limit_text) =
        match nexus_api::integrations::common::parse_duration(&ctx.action.timeout) {
            Some(d) => (d, ctx.action.timeout.as_str()),
            None => (DEFAULT_EXEC_LIMIT, DEFAULT_EXEC_LIMIT_TEXT),
        };
    let mut process = Api::<Pod>::namespaced(ctx.client.clone(), namespace)
        .exec(name, command.clone(), &ap)
        .await
        .map_err(kube_err(&what))?;
    let (stdout, stderr) = (process.stdout(), process.stderr());
    let status = process.take_status();
    let collect = async {
        let (out, err) = tokio::join!(read_bounded(stdout), read_bounded(stderr));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        (out, err, status)
    };
    let Ok(((out, out_dropped), (err, err_dropped), status)) =
        tokio::time::timeout(limit, collect).await
    else {
        process.abort();
        return Ok(Progress::Failed {
            message: format!(
                "{what}: the command was still running after {limit_text}; the connection was \
                 closed, the process may still run in the container"
            ),
            log: Vec::new(),
        });
    };
    let _ = process.join().await;
    let mut log: Vec<String> = Vec::new();
    log.push(format!("$ {}", command.join(" ")));
    log.extend(String::from_utf8_lossy(&out).lines().map(str::to_string));
    if out_dropped > 0 {
        log.push(format!("… {out_dropped} more bytes of output not kept"));
    }
    log.extend(
        String::from_utf8_lossy(&err)
            .lines()
            .map(|l| format!("stderr: {l}")),
    );
    if err_dropped > 0 {
        log.push(format!(
            "… {err_dropped} more bytes of error output not kept"
        ));
    }
    let (code, message) = exit_code(status.as_ref());
    let mut outputs = BTreeMap::new();
    if let Some(c) = code {
        outputs.insert("exitCode".into(), c.to_string());
    }
    outputs.insert("outputBytes".into(), (out.len() + out_dropped).to_string());
    match code {
        Some(0) => {
            log.push(format!("{what}: exit code 0"));
            Ok(Progress::Succeeded { outputs, log })
        }
        _ => Ok(Progress::Failed {
            message: format!("{what}: {message}"),
            log,
        }),
    }
}

/// The exit code in the status the apiserver sends when the command ends (`Success`, or
/// `NonZeroExitCode` with the code as an `ExitCode` cause), and words for anything else.
fn exit_code(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> (Option<i64>, String) {
    let Some(s) = status else {
        return (None, "the stream ended without an exit status".into());
    };
    if s.status.as_deref() == Some("Success") {
        return (Some(0), "exit code 0".into());
    }
    let code = s
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message.as_deref()?.parse::<i64>().ok())
        });
    match code {
        Some(c) => (Some(c), format!("exit code {c}")),
        None => (
            None,
            s.message
                .clone()
                .unwrap_or_else(|| "the command failed without an exit code".into()),
        ),
    }
}

fn workload_label(w: Option<WorkloadKind>) -> &'static str {
    match w.unwrap_or(WorkloadKind::Deployment) {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
    }
}

async fn current_replicas(
    ctx: &RunContext<'_>,
    w: Option<WorkloadKind>,
    ns: &str,
    name: &str,
) -> Result<Option<i32>, kube::Error> {
    Ok(match w.unwrap_or(WorkloadKind::Deployment) {
        WorkloadKind::Deployment => Api::<Deployment>::namespaced(ctx.client.clone(), ns)
            .get(name)
            .await?
            .spec
            .and_then(|s| s.replicas),
        WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(ctx.client.clone(), ns)
            .get(name)
            .await?
            .spec
            .and_then(|s| s.replicas),
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    use super::exit_code;

    #[test]
    fn exit_codes_from_the_apiserver_status() {
        let ok = Status {
            status: Some("Success".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&ok)).0, Some(0));
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..StatusCause::default()
                }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&failed)), (Some(3), "exit code 3".into()));
        let other = Status {
            status: Some("Failure".into()),
            message: Some("container not found (\"app\")".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&other)).0, None);
        assert!(exit_code(Some(&other)).1.contains("container not found"));
        assert_eq!(exit_code(None).0, None);
    }
}
