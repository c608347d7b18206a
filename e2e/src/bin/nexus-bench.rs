//! `make bench`: applies a synthetic organisation of N catalog entities to a control plane
//! with a freshly started controller and prints figures as JSON lines:
//! apply rate, time from the last write to all Ready, status writes per entity, controller
//! peak RSS. Figures only; nothing here asserts a target.
//!
//!     nexus-bench [--entities N] [--namespaces M] [--concurrency C] [--controller-bin PATH] [--keep]

use std::time::Duration;

use anyhow::{Context as _, bail};
use nexus_e2e::{
    client,
    synthetic::{
        Applied, apply_until_ready, create_namespaces, default_namespaces, delete_namespaces,
        generate, round, rss_mib, run_id, start_leading_controller,
    },
};
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
        a.namespaces = default_namespaces(a.entities);
    }
    Ok(a)
}

fn emit(v: Value) {
    println!("{v}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let client = client().await?;
    let run = run_id();
    let phases = generate(args.entities, args.namespaces, &run);
    let total: usize = phases.iter().map(Vec::len).sum();

    create_namespaces(&client, &run, args.namespaces).await?;

    let ctrl =
        start_leading_controller("bench", &run, args.controller_bin.as_ref().map(Into::into))
            .await?;

    eprintln!(
        "nexus-bench: applying {total} entities in {} namespaces",
        args.namespaces
    );
    let Applied {
        entities: applied,
        apply_seconds: apply_secs,
        ready_after_seconds: ready_after,
    } = apply_until_ready(
        &client,
        &phases,
        args.concurrency,
        &run,
        args.timeout,
        &ctrl,
        "nexus-bench",
    )
    .await?;
    emit(
        json!({"metric": "apply", "entities": applied, "namespaces": args.namespaces, "concurrency": args.concurrency,
        "seconds": round(apply_secs), "writes_per_second": round(applied as f64 / apply_secs)}),
    );
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
        delete_namespaces(&client, &run, args.namespaces).await;
    }
    Ok(())
}
