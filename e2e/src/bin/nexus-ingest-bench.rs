//! `make bench-ingest`: the webhook path of nexus-controller on a real control plane. Prints one
//! JSON object per line on stdout; progress on stderr. Figures only; nothing here asserts a
//! target.
//!
//! Scenarios:
//! - `verify`: signed deliveries of an event Nexus ignores (`star`) as fast as the client can
//!   send them, for a bounded time and count: signature check, replay check, queueing, parsing —
//!   the receiver's sustained rate of verified deliveries, without Kubernetes writes.
//! - `apply`: signed `pull_request` deliveries to distinct repositories as fast as possible; the
//!   rate they are received, and the rate they are written (status patches) until all are.
//! - `latency`: `pull_request` deliveries at a fixed rate; for each, the time from sending it to
//!   a watch seeing the pull request in the Repository's status (p50/p99/max).
//!
//! ```text
//! nexus-ingest-bench [--repos N] [--concurrency C] [--verify-seconds S] [--verify-max N]
//!     [--apply-deliveries N] [--latency-deliveries N] [--latency-rate R]
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
    Api,
    api::{DynamicObject, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use nexus_api::EntityKind;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, catalog, client, http_get,
    ingest::{corpus_json, github_signature},
    synthetic::{pct, round, rss_mib, run_id},
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"bench-webhook-secret";

struct Args {
    repos: usize,
    concurrency: usize,
    verify_seconds: u64,
    verify_max: usize,
    apply_deliveries: usize,
    latency_deliveries: usize,
    latency_rate: f64,
    controller_bin: Option<std::path::PathBuf>,
    keep: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        repos: 200,
        concurrency: 32,
        verify_seconds: 10,
        verify_max: 200_000,
        apply_deliveries: 2_000,
        latency_deliveries: 500,
        latency_rate: 50.0,
        controller_bin: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--repos" => a.repos = val()?.parse()?,
            "--concurrency" => a.concurrency = val()?.parse()?,
            "--verify-seconds" => a.verify_seconds = val()?.parse()?,
            "--verify-max" => a.verify_max = val()?.parse()?,
            "--apply-deliveries" => a.apply_deliveries = val()?.parse()?,
            "--latency-deliveries" => a.latency_deliveries = val()?.parse()?,
            "--latency-rate" => a.latency_rate = val()?.parse()?,
            "--controller-bin" => a.controller_bin = Some(val()?.into()),
            "--keep" => a.keep = true,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.repos == 0 || a.concurrency == 0 || a.latency_rate <= 0.0 {
        bail!("--repos, --concurrency and --latency-rate must be positive");
    }
    if a.latency_deliveries > a.repos * 50 || a.apply_deliveries > a.repos * 50 {
        bail!("at most 50 open pull requests are kept per repository: raise --repos");
    }
    Ok(a)
}

/// A pull_request `opened` delivery for repository `repo` with number `number`.
fn pr_body(template: &Value, run: &str, repo: usize, number: u64) -> Vec<u8> {
    let mut v = template.clone();
    let name = format!("repo-{repo}");
    let full = format!("bench-{run}/{name}");
    v["repository"]["name"] = json!(name);
    v["repository"]["full_name"] = json!(full);
    v["repository"]["html_url"] = json!(format!("https://github.com/{full}"));
    v["pull_request"]["number"] = json!(number);
    v["number"] = json!(number);
    v["pull_request"]["title"] = json!(format!("bench change {number}"));
    serde_json::to_vec(&v).unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let client = client().await?;
    let run = run_id();
    let ns = format!("ingest-bench-{run}");
    eprintln!("namespace {ns}: {} repositories", a.repos);
    kube_apply(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await?;
    kube_apply(&client, json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gh", "namespace": ns},
        "stringData": {"webhook-secret": String::from_utf8_lossy(SECRET), "private-key": "unused"},
    })).await?;
    kube_apply(
        &client,
        json!({
            "apiVersion": "integrations.nexus.dev/v1alpha1", "kind": "GitHubIntegration",
            "metadata": {"name": "gh", "namespace": ns},
            "spec": {"appId": 1, "organization": format!("bench-{run}"),
                     "privateKeyRef": {"name": "gh", "key": "private-key"},
                     "webhookSecretRef": {"name": "gh", "key": "webhook-secret"},
                     "namespaces": {"default": ns}},
        }),
    )
    .await?;
    kube_apply(
        &client,
        json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Team",
            "metadata": {"name": "bench", "namespace": ns}, "spec": {"displayName": "Bench"},
        }),
    )
    .await?;
    for i in 0..a.repos {
        kube_apply(&client, json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": format!("repo-{i}"), "namespace": ns},
            "spec": {"provider": "github", "url": format!("https://github.com/bench-{run}/repo-{i}"), "owner": "bench"},
        })).await?;
    }

    let mut opts = ControllerOptions::for_namespace(&ns, "ingest-bench");
    opts.lease_duration = 15;
    opts.extra_args = vec![
        "--integrations-namespace".into(),
        ns.clone(),
        "--polling".into(),
        "false".into(),
        "--ingest-queue".into(),
        "200000".into(),
    ];
    if let Some(bin) = &a.controller_bin {
        opts.bin = bin.clone();
    }
    let ctrl = ControllerProcess::start(&opts)?;
    let health = format!("http://127.0.0.1:{}/readyz", ctrl.webhook_port);
    let started = Instant::now();
    while http_get(&health).await.is_err() {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("receiver did not start:\n{}", ctrl.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = ctrl.webhook_url("github", &ns, "gh");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let pid = ctrl.child.id();

    // verify: an ignored event, same body, distinct delivery ids.
    let star = serde_json::to_vec(&corpus_json(
        "github-webhooks/octokit-webhooks/star/created.payload.json",
    ))?;
    let star_sig = github_signature(SECRET, &star);
    let star_len = star.len();
    let (sent, ok, elapsed, lat) = blast(
        &http,
        &url,
        a.concurrency,
        a.verify_max,
        Duration::from_secs(a.verify_seconds),
        move |i| {
            (
                format!("verify-{i}"),
                "star",
                star.clone(),
                star_sig.clone(),
            )
        },
    )
    .await;
    println!(
        "{}",
        json!({
            "scenario": "verify", "concurrency": a.concurrency, "sent": sent, "accepted": ok,
            "seconds": round(elapsed), "deliveries_per_s": round(ok as f64 / elapsed),
            "response_p50_ms": round(pct(&lat, 0.5)), "response_p99_ms": round(pct(&lat, 0.99)),
            "body_bytes": star_len, "controller_rss_mib": rss_mib(pid, "VmRSS"),
        })
    );

    // apply: distinct pull requests, as fast as possible; then wait for every write.
    let template = corpus_json("github-webhooks/octokit-webhooks/pull_request/opened.payload.json");
    let applied_before = applied(&ctrl).await;
    let bodies: Vec<(Vec<u8>, String)> = (0..a.apply_deliveries)
        .map(|i| {
            let b = pr_body(&template, &run, i % a.repos, 10_000 + (i / a.repos) as u64);
            let s = github_signature(SECRET, &b);
            (b, s)
        })
        .collect();
    let bodies = Arc::new(bodies);
    let t0 = Instant::now();
    let (sent, ok, recv_elapsed, lat) = {
        let bodies = bodies.clone();
        blast(
            &http,
            &url,
            a.concurrency,
            a.apply_deliveries,
            Duration::from_secs(600),
            move |i| {
                let (b, s) = &bodies[i];
                (format!("apply-{i}"), "pull_request", b.clone(), s.clone())
            },
        )
        .await
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while applied(&ctrl).await - applied_before < ok as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_applied = t0.elapsed().as_secs_f64();
    let done = applied(&ctrl).await - applied_before;
    println!(
        "{}",
        json!({
            "scenario": "apply", "concurrency": a.concurrency, "repositories": a.repos,
            "sent": sent, "accepted": ok, "receive_seconds": round(recv_elapsed),
            "received_per_s": round(ok as f64 / recv_elapsed),
            "response_p99_ms": round(pct(&lat, 0.99)),
            "applied": done, "all_applied_seconds": round(all_applied),
            "applied_per_s": round(done / all_applied),
            "controller_rss_mib": rss_mib(pid, "VmRSS"),
        })
    );

    // latency: send at a fixed rate, watch for each pull request to appear.
    let seen: Arc<Mutex<HashMap<(String, u64), Instant>>> = Arc::default();
    let watch_task = {
        let seen = seen.clone();
        let api: Api<DynamicObject> = catalog::api(&client, EntityKind::Repository, Some(&ns));
        tokio::spawn(async move {
            let mut stream =
                std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
            while let Some(Ok(o)) = stream.next().await {
                let name = o.metadata.name.clone().unwrap_or_default();
                let now = Instant::now();
                if let Some(prs) = o
                    .data
                    .pointer("/status/pullRequests")
                    .and_then(Value::as_array)
                {
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for p in prs {
                        if let Some(n) = p.get("number").and_then(Value::as_u64) {
                            seen.entry((name.clone(), n)).or_insert(now);
                        }
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let interval = Duration::from_secs_f64(1.0 / a.latency_rate);
    let mut sent_at: Vec<((String, u64), Instant)> = Vec::with_capacity(a.latency_deliveries);
    let mut tick = tokio::time::interval(interval);
    for i in 0..a.latency_deliveries {
        tick.tick().await;
        let repo = i % a.repos;
        let number = 50_000 + (i / a.repos) as u64;
        let body = pr_body(&template, &run, repo, number);
        let sig = github_signature(SECRET, &body);
        let at = Instant::now();
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let _ = http
                .post(&url)
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", format!("latency-{i}"))
                .header("x-hub-signature-256", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
        });
        sent_at.push(((format!("repo-{repo}"), number), at));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = {
            let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            sent_at
                .iter()
                .filter(|(k, _)| !seen.contains_key(k))
                .count()
        };
        if missing == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watch_task.abort();
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut lat: Vec<f64> = sent_at
        .iter()
        .filter_map(|(k, at)| {
            seen.get(k)
                .map(|s| s.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "scenario": "latency", "rate_per_s": a.latency_rate, "deliveries": a.latency_deliveries,
            "observed": lat.len(), "missing": a.latency_deliveries - lat.len(),
            "p50_ms": round(pct(&lat, 0.5)), "p99_ms": round(pct(&lat, 0.99)),
            "max_ms": round(lat.last().copied().unwrap_or(f64::NAN)),
            "controller_rss_mib": rss_mib(pid, "VmRSS"),
        })
    );
    drop(ctrl);
    if !a.keep {
        let _ = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .delete(&ns, &Default::default())
            .await;
    }
    Ok(())
}

async fn applied(ctrl: &ControllerProcess) -> f64 {
    let text = ctrl.metrics().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with("nexus_ingest_processed_total{") && l.contains("result=\"applied\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Sends up to `max` deliveries with `concurrency` in flight, for at most `limit`. Returns
/// (sent, accepted, seconds, sorted response times in ms).
async fn blast<F>(
    http: &reqwest::Client,
    url: &str,
    concurrency: usize,
    max: usize,
    limit: Duration,
    make: F,
) -> (usize, usize, f64, Vec<f64>)
where
    F: Fn(usize) -> (String, &'static str, Vec<u8>, String) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, make, next) = (http.clone(), url.to_string(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(bool, f64)> = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= max || start.elapsed() > limit {
                    break;
                }
                let (id, event, body, sig) = make(i);
                let t = Instant::now();
                let ok = http
                    .post(&url)
                    .header("x-github-event", event)
                    .header("x-github-delivery", id)
                    .header("x-hub-signature-256", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 202)
                    .unwrap_or(false);
                out.push((ok, t.elapsed().as_secs_f64() * 1000.0));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = all.iter().filter(|(ok, _)| *ok).count();
    let mut lat: Vec<f64> = all.iter().map(|(_, l)| *l).collect();
    lat.sort_by(f64::total_cmp);
    (all.len(), ok, elapsed, lat)
}

async fn kube_apply(client: &kube::Client, obj: Value) -> anyhow::Result<()> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let plural = match kind.as_str() {
        "Namespace" => "namespaces".to_string(),
        "Secret" => "secrets".to_string(),
        "GitHubIntegration" => "githubintegrations".to_string(),
        k => EntityKind::parse(k)
            .map(|k| k.plural().to_string())
            .unwrap_or_default(),
    };
    let ar = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.clone(),
        kind: kind.clone(),
        plural,
    };
    let api: Api<DynamicObject> = match &ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        &name,
        &PatchParams::apply("nexus-ingest-bench").force(),
        &Patch::Apply(&obj),
    )
    .await
    .with_context(|| format!("applying {kind} {name}"))?;
    Ok(())
}
