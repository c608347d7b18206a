//! `make bench-actions`: the actions engine of nexus-controller on a real control plane, with
//! the chart's admission policies in force. Prints one JSON object per line on stdout; progress
//! on stderr. Figures only; nothing here asserts a target.
//!
//! Scenarios:
//! - `throughput`: `--runs` ActionRuns of an Action with the `kubernetes` executor (scale a
//!   Deployment) and no approval, created `--concurrency` at a time; runs per second from the
//!   first creation until every run is `Succeeded`, and each run's creation → `Succeeded` time.
//! - `approval`: `--approval-runs` runs of an Action with one approval stage, all left waiting;
//!   then one ActionApproval after another (created by an impersonated approver, as the policies
//!   demand); for each, the time from creating the approval until a watch sees the run
//!   `Running` or later (p50/p99/max).
//!
//! ```text
//! nexus-actions-bench [--runs N] [--concurrency C] [--approval-runs N] [--timeout-seconds S]
//!     [--controller-bin PATH] [--keep]
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use nexus_e2e::{
    ControllerOptions, ControllerProcess, client, kubectl, repo_root,
    synthetic::{pct, round, rss_mib, run_id},
};
use serde_json::{Value, json};

/// The identity the policies name as the status writer (`actions.controllerUsername`).
const ADMIN: &str = "nexus-admin";
const APPROVER: &str = "bench-approver";

struct Args {
    runs: usize,
    concurrency: usize,
    approval_runs: usize,
    timeout: Duration,
    controller_bin: Option<std::path::PathBuf>,
    keep: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        runs: 500,
        concurrency: 16,
        approval_runs: 100,
        timeout: Duration::from_secs(300),
        controller_bin: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => a.runs = val()?.parse()?,
            "--concurrency" => a.concurrency = val()?.parse()?,
            "--approval-runs" => a.approval_runs = val()?.parse()?,
            "--timeout-seconds" => a.timeout = Duration::from_secs(val()?.parse()?),
            "--controller-bin" => a.controller_bin = Some(val()?.into()),
            "--keep" => a.keep = true,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.runs == 0 || a.concurrency == 0 || a.approval_runs == 0 {
        bail!("--runs, --concurrency and --approval-runs must be positive");
    }
    if a.runs > 20_000 || a.approval_runs > 5_000 {
        bail!("at most 20000 runs and 5000 approval runs (the benchmark is bounded)");
    }
    Ok(a)
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "actions.nexus.dev".into(),
        version: "v1alpha1".into(),
        api_version: "actions.nexus.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The chart's admission policies with this cluster's admin as the controller identity.
fn install_policies() -> anyhow::Result<()> {
    let out = std::process::Command::new("helm")
        .args(["template", "bench"])
        .arg(repo_root().join("charts/nexus"))
        .args([
            "--show-only",
            "templates/actions-policies.yaml",
            "--set",
            &format!("actions.controllerUsername={ADMIN}"),
        ])
        .output()
        .context("helm")?;
    if !out.status.success() {
        bail!("helm template: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (ok, o, e) = kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&String::from_utf8(out.stdout)?),
    )?;
    if !ok {
        bail!("applying the policies: {o}{e}");
    }
    Ok(())
}

/// Latest phase of each run, with the instant a watch saw it.
type Seen = Arc<Mutex<HashMap<String, (String, Instant)>>>;
/// First instant a watch saw each (run, phase).
type Firsts = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// Watches the namespace's ActionRuns and records, per run, the first time each phase was seen.
fn watch_runs(client: &Client, ns: &str) -> (Firsts, Seen) {
    let firsts: Firsts = Default::default();
    let latest: Seen = Default::default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &resource("ActionRun", "actionruns"));
    let (f, l) = (firsts.clone(), latest.clone());
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(ev) = events.next().await {
            let Ok(obj) = ev else { continue };
            let now = Instant::now();
            let name = obj.metadata.name.clone().unwrap_or_default();
            let phase = obj
                .data
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Ok(mut f) = f.lock() {
                f.entry((name.clone(), phase.clone())).or_insert(now);
            }
            if let Ok(mut l) = l.lock() {
                l.insert(name, (phase, now));
            }
        }
    });
    (firsts, latest)
}

fn count_phase(latest: &Seen, phase: &str, prefix: &str) -> usize {
    latest
        .lock()
        .map(|l| {
            l.iter()
                .filter(|(n, (p, _))| n.starts_with(prefix) && p == phase)
                .count()
        })
        .unwrap_or(0)
}

async fn wait_count(
    latest: &Seen,
    phase: &str,
    prefix: &str,
    want: usize,
    timeout: Duration,
    ctrl: &ControllerProcess,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while count_phase(latest, phase, prefix) < want {
        if start.elapsed() > timeout {
            let phases: HashMap<String, usize> = latest
                .lock()
                .map(|l| {
                    let mut m = HashMap::new();
                    for (n, (p, _)) in l.iter().filter(|(n, _)| n.starts_with(prefix)) {
                        let _ = n;
                        *m.entry(p.clone()).or_insert(0) += 1;
                    }
                    m
                })
                .unwrap_or_default();
            bail!(
                "{want} {prefix}* runs not {phase} after {timeout:?}: {phases:?}\n{}",
                ctrl.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn run_object(name: &str, action: &str) -> Value {
    json!({
        "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionRun",
        "metadata": {"name": name},
        "spec": {"action": action, "requester": ADMIN, "inputs": {"replicas": 1}},
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let client = client().await?;
    let run = run_id();
    let ns = format!("actions-bench-{run}");
    eprintln!("namespace {ns}");
    install_policies()?;
    let setup = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: app, image: contoso/web:1}}]}}
---
apiVersion: actions.nexus.dev/v1alpha1
kind: Action
metadata: {{name: scale-now, namespace: {ns}}}
spec:
  title: Scale web
  version: "1"
  inputs:
    type: object
    properties: {{replicas: {{type: integer, minimum: 0, maximum: 3}}}}
  executor:
    kubernetes: {{operation: scale, namespace: {ns}, name: web, replicas: "{{{{ inputs.replicas }}}}"}}
  approval: {{stages: []}}
---
apiVersion: actions.nexus.dev/v1alpha1
kind: Action
metadata: {{name: scale-approved, namespace: {ns}}}
spec:
  title: Scale web after approval
  version: "1"
  inputs:
    type: object
    properties: {{replicas: {{type: integer, minimum: 0, maximum: 3}}}}
  executor:
    kubernetes: {{operation: scale, namespace: {ns}, name: web, replicas: "{{{{ inputs.replicas }}}}"}}
  approval:
    stages: [{{name: lead, approvers: {{users: [{APPROVER}]}}}}]
"#
    );
    let (ok, o, e) = kubectl(&["apply", "--server-side", "-f", "-"], Some(&setup))?;
    if !ok {
        bail!("setup: {o}{e}");
    }

    let mut opts = ControllerOptions::for_namespace(&ns, "actions-bench");
    opts.lease_duration = 15;
    opts.extra_args = vec!["--polling".into(), "false".into()];
    if let Some(bin) = &a.controller_bin {
        opts.bin = bin.clone();
    }
    let ctrl = ControllerProcess::start(&opts)?;
    let actions: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &resource("Action", "actions"));
    let start = Instant::now();
    for name in ["scale-now", "scale-approved"] {
        loop {
            let o = actions.get(name).await?;
            if o.data
                .pointer("/status/conditions/0/status")
                .and_then(Value::as_str)
                == Some("True")
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "Action {name} not Ready: {}\n{}",
                    o.data["status"],
                    ctrl.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let pid = ctrl.child.id();
    let runs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &resource("ActionRun", "actionruns"));
    let (firsts, latest) = watch_runs(&client, &ns);

    // throughput
    let created: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (runs, created, next, total) = (runs.clone(), created.clone(), next.clone(), a.runs);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let name = format!("t-{i}");
                let obj: DynamicObject = serde_json::from_value(run_object(&name, "scale-now"))?;
                let at = Instant::now();
                runs.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("creating {name}"))?;
                if let Ok(mut c) = created.lock() {
                    c.insert(name, at);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let create_seconds = t0.elapsed().as_secs_f64();
    wait_count(&latest, "Succeeded", "t-", a.runs, a.timeout, &ctrl).await?;
    let total_seconds = t0.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = {
        let f = firsts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let c = created.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        c.iter()
            .filter_map(|(n, at)| {
                f.get(&(n.clone(), "Succeeded".into()))
                    .map(|done| done.duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    lat.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "scenario": "throughput", "executor": "kubernetes", "approval": "none",
            "runs": a.runs, "concurrency": a.concurrency,
            "create_seconds": round(create_seconds), "total_seconds": round(total_seconds),
            "runs_per_second": round(a.runs as f64 / total_seconds),
            "created_to_succeeded_ms": {"p50": round(pct(&lat, 0.5)), "p99": round(pct(&lat, 0.99)), "max": round(pct(&lat, 1.0))},
            "controller_rss_mib": rss_mib(pid, "VmRSS").map(round),
        })
    );

    // approval
    for i in 0..a.approval_runs {
        let obj: DynamicObject =
            serde_json::from_value(run_object(&format!("a-{i}"), "scale-approved"))?;
        runs.create(&PostParams::default(), &obj).await?;
    }
    wait_count(
        &latest,
        "WaitingForApproval",
        "a-",
        a.approval_runs,
        a.timeout,
        &ctrl,
    )
    .await?;
    let mut cfg = kube::Config::infer().await?;
    cfg.auth_info.impersonate = Some(APPROVER.into());
    cfg.auth_info.impersonate_groups = Some(vec!["system:masters".into()]);
    let approver = Client::try_from(cfg)?;
    let approvals: Api<DynamicObject> = Api::namespaced_with(
        approver,
        &ns,
        &resource("ActionApproval", "actionapprovals"),
    );
    let mut lat = Vec::with_capacity(a.approval_runs);
    let t0 = Instant::now();
    for i in 0..a.approval_runs {
        let name = format!("a-{i}");
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionApproval",
            "metadata": {"name": format!("ok-{i}")},
            "spec": {"run": name, "stage": "lead", "decision": "Approve", "author": APPROVER},
        }))?;
        let at = Instant::now();
        approvals.create(&PostParams::default(), &obj).await?;
        let deadline = at + a.timeout;
        let started = loop {
            let seen = firsts.lock().ok().and_then(|f| {
                ["Running", "Succeeded"]
                    .iter()
                    .filter_map(|p| f.get(&(name.clone(), (*p).to_string())).copied())
                    .min()
            });
            if let Some(s) = seen {
                break s;
            }
            if Instant::now() > deadline {
                bail!(
                    "run {name} did not start after its approval\n{}",
                    ctrl.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        lat.push(started.saturating_duration_since(at).as_secs_f64() * 1000.0);
    }
    let approval_seconds = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    wait_count(
        &latest,
        "Succeeded",
        "a-",
        a.approval_runs,
        a.timeout,
        &ctrl,
    )
    .await?;
    println!(
        "{}",
        json!({
            "scenario": "approval", "runs": a.approval_runs, "seconds": round(approval_seconds),
            "approval_to_execution_ms": {"p50": round(pct(&lat, 0.5)), "p99": round(pct(&lat, 0.99)), "max": round(pct(&lat, 1.0))},
            "controller_rss_mib": rss_mib(pid, "VmRSS").map(round),
            "controller_peak_rss_mib": rss_mib(pid, "VmHWM").map(round),
        })
    );
    drop(ctrl);
    if !a.keep {
        let nsapi: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let _ = nsapi.delete(&ns, &Default::default()).await;
    }
    Ok(())
}
