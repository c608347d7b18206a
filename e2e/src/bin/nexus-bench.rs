//! `make bench`: applies a synthetic organisation of N catalog entities to a control plane
//! with a freshly started controller and prints figures as JSON lines:
//! apply rate, time from the last write to all Ready, status writes per entity, controller
//! peak RSS. Figures only; nothing here asserts a target.
//!
//!     nexus-bench [--entities N] [--namespaces M] [--concurrency C] [--controller-bin PATH] [--keep]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use nexus_api::EntityKind;
use nexus_e2e::{ControllerOptions, ControllerProcess, catalog, client};
use serde_json::{Value, json};

struct Args {
    entities: usize,
    namespaces: usize,
    concurrency: usize,
    controller_bin: Option<String>,
    timeout: Duration,
    keep: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        entities: 10_000,
        namespaces: 0,
        concurrency: 32,
        controller_bin: None,
        timeout: Duration::from_secs(900),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--entities" => {
                a.entities = value("--entities")?
                    .parse()
                    .context("--entities must be a number")?
            }
            "--namespaces" => {
                a.namespaces = value("--namespaces")?
                    .parse()
                    .context("--namespaces must be a number")?
            }
            "--concurrency" => {
                a.concurrency = value("--concurrency")?
                    .parse()
                    .context("--concurrency must be a number")?
            }
            "--controller-bin" => a.controller_bin = Some(value("--controller-bin")?),
            "--timeout-seconds" => {
                a.timeout = Duration::from_secs(
                    value("--timeout-seconds")?
                        .parse()
                        .context("--timeout-seconds must be a number")?,
                )
            }
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!(
                    "usage: nexus-bench [--entities N] [--namespaces M] [--concurrency C] [--controller-bin PATH] [--timeout-seconds S] [--keep]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if a.entities < 100 {
        bail!("--entities must be at least 100");
    }
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if a.namespaces == 0 {
        a.namespaces = (a.entities / 500).clamp(1, 200);
    }
    Ok(a)
}

/// One object to apply, in dependency order.
struct Item {
    kind: EntityKind,
    ns: String,
    name: String,
    spec: Value,
}

const RUN_LABEL: &str = "nexus.dev/bench";

/// Namespaces are per run, so a second run on the same cluster measures fresh objects.
fn bench_namespace(run: &str, n: usize) -> String {
    format!("bench-{run}-{n:03}")
}

/// A synthetic org: per namespace two teams, then systems, APIs, repositories, components
/// (owned, in a system, with a repository, providing/consuming APIs, depending on their
/// neighbours), pipelines and Azure resources — the shape of a real catalog.
fn generate(entities: usize, namespaces: usize, run: &str) -> Vec<Vec<Item>> {
    let per_ns = entities / namespaces;
    let share = |pct: usize| (per_ns * pct / 100).max(1);
    let (systems, apis, repos, pipelines) = (share(2), share(5), share(20), share(18));
    let resources = share(13);
    let components = per_ns
        .saturating_sub(2 + systems + apis + repos + pipelines + resources)
        .max(1);
    let mut phases: Vec<Vec<Item>> = (0..7).map(|_| Vec::new()).collect();
    for n in 0..namespaces {
        let ns = bench_namespace(run, n);
        let item = |kind, name: String, spec| Item {
            kind,
            ns: ns.clone(),
            name,
            spec,
        };
        for t in 0..2 {
            phases[0].push(item(
                EntityKind::Team,
                format!("team-{t}"),
                json!({"displayName": format!("Team {t} of {ns}")}),
            ));
        }
        for s in 0..systems {
            phases[1].push(item(
                EntityKind::System,
                format!("sys-{s}"),
                json!({"owner": format!("team-{}", s % 2)}),
            ));
        }
        for a in 0..apis {
            phases[2].push(item(EntityKind::Api, format!("api-{a}"), json!({
                "type": "openapi", "lifecycle": "production", "owner": format!("team-{}", a % 2),
                "system": format!("sys-{}", a % systems), "version": "v1",
                "definitionUrl": format!("https://example.invalid/{ns}/api-{a}.yaml"),
            })));
        }
        for r in 0..repos {
            phases[3].push(item(EntityKind::Repository, format!("repo-{r}"), json!({
                "provider": "github", "url": format!("https://github.com/contoso/{ns}-repo-{r}"),
            })));
        }
        for c in 0..components {
            let mut spec = json!({
                "type": "service", "lifecycle": "production", "owner": format!("team-{}", c % 2),
                "system": format!("sys-{}", c % systems), "repository": format!("repo-{}", c % repos),
                "consumesApis": [format!("api-{}", (c + 1) % apis)],
            });
            if c < apis {
                spec["providesApis"] = json!([format!("api-{c}")]);
            }
            if c > 0 {
                spec["dependsOn"] = json!([format!("comp-{}", c - 1)]);
            }
            phases[4].push(item(EntityKind::Component, format!("comp-{c}"), spec));
        }
        for p in 0..pipelines {
            phases[5].push(item(EntityKind::Pipeline, format!("pipe-{p}"), json!({
                "provider": "githubActions", "githubActions": {"workflow": ".github/workflows/ci.yml"},
                "component": format!("comp-{}", p % components), "repository": format!("repo-{}", p % repos),
            })));
        }
        for r in 0..resources {
            let sub = "00000000-0000-4000-8000-000000000001";
            phases[6].push(item(EntityKind::AzureResource, format!("res-{r}"), json!({
                "resourceId": format!("/subscriptions/{sub}/resourceGroups/rg-{ns}/providers/Microsoft.Web/sites/app-{r}"),
                "type": "Microsoft.Web/sites", "subscriptionId": sub, "resourceGroup": format!("rg-{ns}"),
                "region": "westeurope", "tags": {"team": format!("team-{}", r % 2)},
            })));
        }
    }
    phases
}

async fn apply_all(
    client: &Client,
    phases: &[Vec<Item>],
    concurrency: usize,
    run: &str,
) -> anyhow::Result<usize> {
    let pp = PatchParams::apply("nexus-bench").force();
    let mut applied = 0;
    for phase in phases {
        let results: Vec<anyhow::Result<()>> = stream::iter(phase.iter())
            .map(|it| {
                let pp = pp.clone();
                async move {
                    let api = catalog::api(client, it.kind, Some(&it.ns));
                    let ar = catalog::resource(it.kind);
                    let body = json!({
                        "apiVersion": ar.api_version, "kind": ar.kind,
                        "metadata": {"name": it.name, "namespace": it.ns, "labels": {RUN_LABEL: run}},
                        "spec": it.spec,
                    });
                    api.patch(&it.name, &pp, &Patch::Apply(body))
                        .await
                        .with_context(|| format!("applying {}:{}/{}", it.kind.ref_name(), it.ns, it.name))?;
                    Ok(())
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for r in results {
            r?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// Watches every kind (only this run's objects) until `expected` of them are Ready=True;
/// returns the seconds since `since`. Watching, not polling, keeps the measurement from loading
/// the apiserver it measures.
async fn wait_all_ready(
    client: &Client,
    run: &str,
    expected: usize,
    since: Instant,
) -> anyhow::Result<f64> {
    use std::collections::HashMap;

    use kube::runtime::{WatchStreamExt, watcher};
    let cfg = watcher::Config::default().labels(&format!("{RUN_LABEL}={run}"));
    let streams = EntityKind::ALL.into_iter().map(|kind| {
        watcher(catalog::api(client, kind, None), cfg.clone())
            .default_backoff()
            .map(move |ev| (kind, ev))
            .boxed()
    });
    let mut events = stream::select_all(streams);
    let mut ready: HashMap<(EntityKind, String, String), bool> = HashMap::new();
    let mut ready_count = 0usize;
    let mut last_report = Instant::now();
    while let Some((kind, ev)) = events.next().await {
        let (obj, deleted) = match ev? {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
            watcher::Event::Delete(o) => (o, true),
            _ => continue,
        };
        let key = (
            kind,
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default(),
        );
        let now_ready = !deleted && catalog::ready(&obj).is_some_and(|r| r.0 == "True");
        let was_ready = if deleted {
            ready.remove(&key).unwrap_or(false)
        } else {
            ready.insert(key, now_ready).unwrap_or(false)
        };
        match (was_ready, now_ready) {
            (false, true) => ready_count += 1,
            (true, false) => ready_count -= 1,
            _ => {}
        }
        if ready_count >= expected {
            return Ok(since.elapsed().as_secs_f64());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "nexus-bench: {ready_count}/{expected} Ready after {:.0}s",
                since.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    bail!("watches ended with {ready_count} of {expected} Ready")
}

/// A memory figure of the process from /proc (`VmHWM:` = peak RSS, `VmRSS:` = now), in MiB.
fn rss_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn emit(v: Value) {
    println!("{v}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let client = client().await?;
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let phases = generate(args.entities, args.namespaces, &run);
    let total: usize = phases.iter().map(Vec::len).sum();

    let ns_api: Api<Namespace> = Api::all(client.clone());
    for n in 0..args.namespaces {
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": bench_namespace(&run, n), "labels": {RUN_LABEL: run}}}),
        )?;
        match ns_api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut opts = ControllerOptions::for_namespace("default", "bench");
    opts.watch_namespace = None;
    opts.lease_name = format!("nexus-bench-{run}");
    opts.lease_duration = 15;
    if let Some(bin) = &args.controller_bin {
        opts.bin = bin.into();
    }
    let ctrl = Arc::new(ControllerProcess::start(&opts)?);
    nexus_e2e::wait_for(
        "the controller to lead",
        Duration::from_secs(60),
        || async {
            Ok(if ctrl.is_leader().await {
                Ok(())
            } else {
                Err("not yet".into())
            })
        },
    )
    .await?;

    eprintln!(
        "nexus-bench: applying {total} entities in {} namespaces",
        args.namespaces
    );
    let start = Instant::now();
    let applied = apply_all(&client, &phases, args.concurrency, &run).await?;
    let apply_secs = start.elapsed().as_secs_f64();
    let last_write = Instant::now();
    emit(
        json!({"metric": "apply", "entities": applied, "namespaces": args.namespaces, "concurrency": args.concurrency,
        "seconds": round(apply_secs), "writes_per_second": round(applied as f64 / apply_secs)}),
    );

    let ready_after = match tokio::time::timeout(
        args.timeout,
        wait_all_ready(&client, &run, applied, last_write),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => bail!(
            "not all {applied} entities Ready after {:?}\n{}",
            args.timeout,
            ctrl.log_tail()
        ),
    };
    emit(
        json!({"metric": "all_ready_after_last_write", "entities": applied, "seconds": round(ready_after),
        "note": "measured with watches on every kind"}),
    );

    // Let trailing reconciles land before counting writes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = ctrl.metrics().await?;
    let writes = nexus_e2e::sum_metric(&metrics, "nexus_status_writes_total");
    let reconciles = nexus_e2e::sum_metric(&metrics, "nexus_reconcile_total");
    let by_kind: serde_json::Map<String, Value> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("nexus_status_writes_total{kind=\""))
        .filter_map(|l| {
            let (kind, rest) = l.split_once('"')?;
            Some((
                kind.to_string(),
                json!(rest.rsplit(' ').next()?.parse::<f64>().ok()?),
            ))
        })
        .collect();
    emit(
        json!({"metric": "status_writes_per_entity", "entities": applied, "status_writes": writes,
        "value": round(writes / applied as f64), "reconciles": reconciles, "writes_by_kind": by_kind}),
    );
    let rss = rss_mib(ctrl.child.id(), "VmHWM:");
    let rss_now = rss_mib(ctrl.child.id(), "VmRSS:");
    emit(
        json!({"metric": "controller_peak_rss_mib", "entities": applied, "value": rss.map(round), "rss_now_mib": rss_now.map(round)}),
    );
    if !args.keep {
        let dp = kube::api::DeleteParams::background();
        for n in 0..args.namespaces {
            let _ = ns_api.delete(&bench_namespace(&run, n), &dp).await;
        }
    }
    Ok(())
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_about_the_requested_size_in_dependency_order() {
        let phases = generate(10_000, 20, "t");
        let total: usize = phases.iter().map(Vec::len).sum();
        assert!((9_500..=10_500).contains(&total), "{total}");
        assert!(phases[0].iter().all(|i| i.kind == EntityKind::Team));
        assert!(phases[4].iter().all(|i| i.kind == EntityKind::Component));
    }
}
