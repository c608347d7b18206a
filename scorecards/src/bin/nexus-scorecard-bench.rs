//! Measures the scorecard engine on synthetic entities: rule evaluations per second, and the
//! time to re-evaluate every entity against the five templates (what a full sweep costs).
//!
//!     nexus-scorecard-bench [--entities N] [--rounds R]
//!
//! Build with `--release`; single-threaded, so the figures are per core.

use std::{process::ExitCode, time::Instant};

use k8s_openapi::jiff::Timestamp;
use nexus_scorecards::{
    Compiled, Input, applies, compile_scorecard, evaluate_activation, templates,
};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let mut entities = 10_000usize;
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let n = match a.as_str() {
            "--entities" | "--rounds" => args.next().and_then(|v| v.parse::<usize>().ok()),
            "-h" | "--help" => {
                println!("usage: nexus-scorecard-bench [--entities N] [--rounds R]");
                return ExitCode::SUCCESS;
            }
            _ => None,
        };
        match (a.as_str(), n) {
            ("--entities", Some(n)) if n > 0 => entities = n,
            ("--rounds", Some(n)) if n > 0 => rounds = n,
            _ => {
                eprintln!("nexus-scorecard-bench: bad argument {a:?}");
                return ExitCode::from(2);
            }
        }
    }

    let scorecards: Vec<Compiled> = match templates::load() {
        Ok(t) => match t
            .iter()
            .map(compile_scorecard)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("nexus-scorecard-bench: templates do not compile: {e:?}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("nexus-scorecard-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = Timestamp::from_second(1_780_272_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let inputs: Vec<Input> = (0..entities).map(|i| synthetic(i, now)).collect();
    println!(
        "{entities} synthetic entities ({} components, {} Azure resources), {} scorecards, {} rules",
        inputs
            .iter()
            .filter(|i| i.entity["kind"] == "Component")
            .count(),
        inputs
            .iter()
            .filter(|i| i.entity["kind"] == "AzureResource")
            .count(),
        scorecards.len(),
        scorecards
            .iter()
            .map(|c| c.rule_ids().count())
            .sum::<usize>()
    );

    // Full sweep: convert each entity once, then filter and evaluate every scorecard.
    let mut best_sweep = f64::MAX;
    let mut results = 0usize;
    let mut score_sum = 0i64;
    for _ in 0..rounds {
        let start = Instant::now();
        results = 0;
        score_sum = 0;
        for input in &inputs {
            let activation = input.activate();
            for c in &scorecards {
                if applies(c, &activation) == Ok(true) {
                    let r = evaluate_activation(c, &activation);
                    results += 1;
                    score_sum += i64::from(r.score);
                }
            }
        }
        best_sweep = best_sweep.min(start.elapsed().as_secs_f64());
    }

    // Conversion alone, to see what the sweep spends outside the rules.
    let mut best_activate = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut n = 0usize;
        for input in &inputs {
            let a = input.activate();
            std::hint::black_box(&a);
            n += 1;
        }
        std::hint::black_box(n);
        best_activate = best_activate.min(start.elapsed().as_secs_f64());
    }

    // Rules alone, on entities converted beforehand.
    let activations: Vec<_> = inputs.iter().map(Input::activate).collect();
    let applicable: Vec<Vec<usize>> = activations
        .iter()
        .map(|a| {
            (0..scorecards.len())
                .filter(|&i| applies(&scorecards[i], a) == Ok(true))
                .collect()
        })
        .collect();
    let mut best_rules = f64::MAX;
    let mut rule_evals = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        rule_evals = 0;
        for (a, which) in activations.iter().zip(&applicable) {
            for &i in which {
                let outcomes = scorecards[i].outcomes(a);
                rule_evals += outcomes.len();
                std::hint::black_box(outcomes);
            }
        }
        best_rules = best_rules.min(start.elapsed().as_secs_f64());
    }

    println!(
        "full re-evaluation: {results} results in {:.3} s ({:.1} µs per entity, mean score {})",
        best_sweep,
        best_sweep * 1e6 / entities as f64,
        score_sum / (results.max(1) as i64)
    );
    println!(
        "  of which converting entities to CEL: {:.3} s ({:.1} µs per entity)",
        best_activate,
        best_activate * 1e6 / entities as f64
    );
    println!(
        "rule evaluations: {rule_evals} in {:.3} s = {:.0} rule evaluations/s (single core, best of {rounds})",
        best_rules,
        rule_evals as f64 / best_rules
    );
    ExitCode::SUCCESS
}

/// A catalog-shaped entity: 70% services with owner, repository, runbook, resources and
/// packages in varying states; 30% Azure resources.
fn synthetic(i: usize, now: Timestamp) -> Input {
    let ns = format!("team-{}", i % 40);
    if i % 10 >= 7 {
        let region = if i.is_multiple_of(13) {
            "eastus"
        } else {
            "westeurope"
        };
        let mut tags = json!({"owner": "team@contoso.com", "env": "prod"});
        if !i.is_multiple_of(3) {
            tags["cost-center"] = json!("CC-1");
        }
        let mut status = json!({"observedTags": tags.clone()});
        if !i.is_multiple_of(4) {
            status["owner"] = json!({"ref": format!("team:{ns}/t"), "source": "AzureTags"});
        }
        let entity = json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "AzureResource",
            "metadata": {"name": format!("res-{i}"), "namespace": ns, "labels": {"env": "prod"}},
            "spec": {"resourceId": format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/res-{i}"),
                     "type": "Microsoft.Web/sites", "subscriptionId": "00000000-0000-0000-0000-000000000000",
                     "resourceGroup": "rg", "region": region, "sku": "P1v3", "tags": tags},
            "status": status,
        });
        return Input::new(entity, now).derive_facts();
    }
    let types = ["service", "website", "worker", "library", "function"];
    let mut status = json!({
        "relations": [{"type": "ownedBy", "targetRef": format!("team:{ns}/t")}],
        "deployments": (0..(i % 5)).map(|d| json!({
            "id": format!("github:{i}:{d}"), "environment": "production", "status": "success",
            "createdAt": format!("2026-05-{:02}T10:00:00Z", 1 + d * 5),
        })).collect::<Vec<Value>>(),
    });
    if !i.is_multiple_of(6) {
        status["owner"] = json!({"ref": format!("team:{ns}/t"), "source": "Spec"});
    }
    let entity = json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": format!("svc-{i}"), "namespace": ns,
                     "labels": {"app.kubernetes.io/part-of": "shop"}},
        "spec": {"type": types[i % types.len()], "lifecycle": "production", "owner": "t",
                 "repository": format!("svc-{i}"), "description": "A synthetic service used to measure the engine."},
        "status": status,
    });
    let mut input = Input::new(entity, now);
    let team = if i.is_multiple_of(5) {
        json!({"kind": "Team", "metadata": {"name": "t", "namespace": ns}, "spec": {}})
    } else {
        json!({"kind": "Team", "metadata": {"name": "t", "namespace": ns},
               "spec": {"onCall": {"provider": "pagerduty", "scheduleId": "P1"}}})
    };
    input = input.relation("ownedBy", team);
    if !i.is_multiple_of(3) {
        input = input.relation(
            "hasRunbook",
            json!({"kind": "Runbook", "metadata": {"name": format!("rb-{i}"), "namespace": ns}}),
        );
    }
    if !i.is_multiple_of(7) {
        input = input.relation(
            "hasRepository",
            json!({"kind": "Repository", "metadata": {"name": format!("svc-{i}"), "namespace": ns},
                   "status": {"branchProtection": {"protected": !i.is_multiple_of(4),
                              "requiredApprovingReviews": (i % 3) as i64, "rules": ["pull_request"]},
                              "codeowners": {"owners": ["@contoso/t"]}}}),
        );
    }
    for r in 0..(i % 3) {
        input = input.relation(
            "dependsOn",
            json!({"kind": "AzureResource",
                   "metadata": {"name": format!("res-{i}-{r}"), "namespace": ns},
                   "spec": {"type": "Microsoft.Sql/servers", "region": "westeurope",
                            "tags": {"owner": "t", "env": "prod", "cost-center": "CC-1"}},
                   "status": {"owner": {"ref": format!("team:{ns}/t"), "source": "Spec"}}}),
        );
    }
    if i.is_multiple_of(2) {
        let severity = ["low", "moderate", "high", "critical"][i % 4];
        input = input.relation(
            "dependsOn",
            json!({"kind": "Package", "metadata": {"name": "sdk", "namespace": ns},
                   "spec": {"packageName": "Contoso.Sdk"},
                   "status": {"vulnerabilities": [{"id": "CVE-1", "severity": severity}]}}),
        );
    }
    input.derive_facts()
}
