//! The `job` executor: one Kubernetes Job per run attempt, named from the run and the attempt,
//! so creating it again (after a restart) finds the same Job instead of starting a second.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    batch::v1::{Job, JobSpec},
    core::v1::{Container, EnvVar, Pod, PodSpec, PodTemplateSpec},
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, LogParams, ObjectMeta, PostParams, PropagationPolicy},
};
use nexus_api::actions::{Execution, executor::JobExecutor};

use super::{ExecError, Progress, RunContext, kube_err};

/// Label on Jobs (and their pods) naming the run.
pub const RUN_LABEL: &str = "actions.nexus.dev/run";

/// The Job name for an attempt.
pub fn job_name(run: &str, attempt: i32) -> String {
    nexus_ingest::naming::object_name(&[run, &format!("a{attempt}")])
}

fn namespace(ctx: &RunContext<'_>, j: &JobExecutor) -> Result<String, ExecError> {
    match &j.namespace {
        Some(ns) => ctx.render(ns),
        None => Ok(ctx.namespace.to_string()),
    }
}

pub async fn start(ctx: &RunContext<'_>, j: &JobExecutor) -> Result<Progress, ExecError> {
    let ns = namespace(ctx, j)?;
    let name = job_name(ctx.run_name, ctx.attempt);
    let mut env: Vec<EnvVar> = Vec::new();
    if let Some(inputs) = ctx.values.get("inputs").and_then(|v| v.as_object()) {
        for (k, v) in inputs {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let key: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            env.push(EnvVar {
                name: format!("NEXUS_INPUT_{key}"),
                value: Some(value),
                ..EnvVar::default()
            });
        }
    }
    for (k, v) in &j.env {
        env.push(EnvVar {
            name: k.clone(),
            value: Some(ctx.render(v)?),
            ..EnvVar::default()
        });
    }
    env.push(EnvVar {
        name: "NEXUS_RUN".into(),
        value: Some(format!("{}/{}", ctx.namespace, ctx.run_name)),
        ..EnvVar::default()
    });
    let labels: BTreeMap<String, String> =
        [(RUN_LABEL.to_string(), ctx.run_name.to_string())].into();
    let job = Job {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            // Same namespace: the run owns its Job; across namespaces the label finds it.
            owner_references: (ns == ctx.namespace).then(|| vec![ctx.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(j.backoff_limit.unwrap_or(0)),
            active_deadline_seconds: nexus_api::integrations::common::parse_duration(
                &ctx.action.timeout,
            )
            .map(|d| d.as_secs() as i64),
            ttl_seconds_after_finished: Some(7 * 24 * 3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some({
                        let mut pod = labels;
                        if j.workload_identity == Some(true) {
                            pod.insert("azure.workload.identity/use".into(), "true".into());
                        }
                        pod
                    }),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: Some(
                        j.service_account_name
                            .clone()
                            .unwrap_or_else(|| "nexus-action-runner".into()),
                    ),
                    containers: vec![Container {
                        name: "action".into(),
                        image: Some(j.image.clone()),
                        command: (!j.command.is_empty())
                            .then(|| {
                                j.command
                                    .iter()
                                    .map(|c| ctx.render(c))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .transpose()?,
                        args: (!j.args.is_empty())
                            .then(|| {
                                j.args
                                    .iter()
                                    .map(|a| ctx.render(a))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .transpose()?,
                        env: Some(env),
                        resources: j.resources.clone(),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    };
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &job).await {
        Ok(_) => {}
        // Created by an earlier start of this attempt: the same Job, not a second one.
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(kube_err(format!("creating Job {ns}/{name}"))(e)),
    }
    Ok(Progress::Running {
        reference: Some(format!("{ns}/{name}")),
    })
}

pub async fn poll(ctx: &RunContext<'_>, execution: &Execution) -> Result<Progress, ExecError> {
    let j = ctx
        .action
        .executor
        .job
        .as_ref()
        .ok_or_else(|| ExecError::Invalid("not a job executor".into()))?;
    let ns = namespace(ctx, j)?;
    let name = job_name(ctx.run_name, execution.attempt);
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(job) = api
        .get_opt(&name)
        .await
        .map_err(kube_err(format!("reading Job {ns}/{name}")))?
    else {
        // Recorded as started but never created (the controller stopped in between): start it.
        return start(ctx, j).await;
    };
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let is = |t: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == t && c.status == "True")
    };
    if is("Complete") {
        return Ok(Progress::Succeeded {
            outputs: BTreeMap::new(),
            log: log_tail(ctx, &ns).await,
        });
    }
    if is("Failed") {
        let why = conditions
            .iter()
            .find(|c| c.type_ == "Failed")
            .and_then(|c| c.message.clone().or(c.reason.clone()))
            .unwrap_or_else(|| "the Job failed".into());
        return Ok(Progress::Failed {
            message: format!("Job {ns}/{name}: {why}"),
            log: log_tail(ctx, &ns).await,
        });
    }
    Ok(Progress::Running {
        reference: Some(format!("{ns}/{name}")),
    })
}

pub async fn stop(ctx: &RunContext<'_>, execution: &Execution) -> Result<(), ExecError> {
    let Some(j) = &ctx.action.executor.job else {
        return Ok(());
    };
    let ns = namespace(ctx, j)?;
    let name = job_name(ctx.run_name, execution.attempt);
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match Api::<Job>::namespaced(ctx.client.clone(), &ns)
        .delete(&name, &dp)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(kube_err(format!("deleting Job {ns}/{name}"))(e)),
    }
}

/// The last lines the run's pod wrote (best effort: a simulated pod has no log).
async fn log_tail(ctx: &RunContext<'_>, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let Ok(list) = pods
        .list(&ListParams::default().labels(&format!("{RUN_LABEL}={}", ctx.run_name)))
        .await
    else {
        return Vec::new();
    };
    let Some(pod) = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .next_back()
    else {
        return Vec::new();
    };
    let lp = LogParams {
        tail_lines: Some(50),
        ..LogParams::default()
    };
    pods.logs(&pod, &lp)
        .await
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
