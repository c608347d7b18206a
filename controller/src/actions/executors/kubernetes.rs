//! Native Kubernetes operations done by the controller itself: scale, rolling restart, pod
//! logs, cordon/uncordon and drain. Each is idempotent for an attempt: scale sets a number, a
//! restart stamps the attempt's start time (the same on a repeat), cordon sets a flag, a drain
//! evicts what is still there.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{Node, Pod},
    policy::v1::Eviction,
};
use kube::{
    Api,
    api::{ListParams, LogParams, Patch, PatchParams},
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
                container: k.container.as_ref().map(|c| ctx.render(c)).transpose()?,
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
        KubernetesOperation::Exec => return Err(ExecError::Unsupported("kubernetes exec")),
    }
    Ok(Progress::Succeeded { outputs, log })
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
