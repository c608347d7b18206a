//! The five built-in templates: they load, compile, declare only catalogued facts, and score
//! hand-made entities as computed by hand.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{component, now};
use nexus_api::scorecards::ScorecardResult;
use nexus_scorecards::{Compiled, Input, applies, compile_scorecard, evaluate, facts, templates};
use serde_json::{Value, json};

fn compiled_templates() -> BTreeMap<String, Compiled> {
    templates::load()
        .unwrap()
        .iter()
        .map(|s| {
            let c = compile_scorecard(s).unwrap_or_else(|e| panic!("{e:?}"));
            (s.metadata.name.clone().unwrap(), c)
        })
        .collect()
}

#[test]
fn every_template_loads_and_compiles_with_the_plan_rules() {
    let all = templates::load().unwrap();
    let mut by_title: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &all {
        compile_scorecard(s).unwrap_or_else(|e| panic!("{}: {e:?}", s.spec.title));
        assert_eq!(s.metadata.namespace.as_deref(), Some("nexus-org"));
        by_title.insert(
            &s.spec.title,
            s.spec.rules.iter().map(|r| r.title.as_str()).collect(),
        );
    }
    // Every rule the plan lists for Phase 3, by template.
    let plan: [(&str, &[&str]); 5] = [
        (
            "Production Readiness",
            &[
                "Health probes configured",
                "Alerts set",
                "Runbook linked",
                "On-call owner assigned",
                "SLO documented",
            ],
        ),
        (
            "Security Posture",
            &[
                "Defender for Cloud secure score at least 80%",
                "No public endpoints",
                "Secrets in Key Vault",
                "Managed Identity in use",
                "Vulnerability scan passing",
            ],
        ),
        (
            "Cost Optimization",
            &[
                "Proper tagging",
                "No orphaned resources",
                "Right-sized SKUs",
                "Budget alerts active",
            ],
        ),
        (
            "DevOps Maturity",
            &[
                "Branch protection on",
                "PR reviews required",
                "Automated tests present",
                "DORA metrics tracked",
            ],
        ),
        (
            "Compliance",
            &[
                "Azure Policy assignments applied",
                "Audit logging enabled",
                "Data residency correct",
                "Encryption enforced",
                "Backup policy active",
            ],
        ),
    ];
    for (title, rules) in plan {
        let have = by_title.get(title).unwrap_or_else(|| panic!("no {title}"));
        for r in rules {
            assert!(have.contains(r), "{title} lacks {r:?}: {have:?}");
        }
    }
}

#[test]
fn templates_declare_only_catalogued_facts() {
    for s in templates::load().unwrap() {
        for r in &s.spec.rules {
            for f in &r.facts {
                assert!(
                    facts::lookup(f).is_some(),
                    "{}/{}: {f} not catalogued",
                    s.spec.title,
                    r.id
                );
            }
        }
    }
}

/// A service with everything the catalog can know today: owner team on call, runbook,
/// protected repository, tagged Azure resource in West Europe, a package with a high CVE,
/// a recent deployment.
fn payments_api() -> Input {
    let entity = component(
        "payments-api",
        json!({"type": "service", "lifecycle": "production", "owner": "payments"}),
        json!({
            "owner": {"ref": "team:team-payments/payments", "source": "Spec"},
            "deployments": [{
                "id": "github:1:2", "environment": "production", "status": "success",
                "createdAt": "2026-05-20T10:00:00Z"
            }]
        }),
    );
    Input::new(entity, now())
        .relation(
            "ownedBy",
            json!({"kind": "Team", "metadata": {"name": "payments"},
                   "spec": {"onCall": {"provider": "pagerduty", "scheduleId": "P1"}}}),
        )
        .relation("hasRunbook", json!({"kind": "Runbook", "metadata": {"name": "payments-api-outage"}}))
        .relation(
            "hasRepository",
            json!({"kind": "Repository", "metadata": {"name": "payments-api"},
                   "status": {"branchProtection": {"protected": true, "requiredApprovingReviews": 2,
                                                   "allowForcePushes": false}}}),
        )
        .relation(
            "dependsOn",
            json!({"kind": "AzureResource",
                   "metadata": {"name": "app-payments-api-prod", "namespace": "team-payments"},
                   "spec": {"type": "Microsoft.Web/sites", "region": "westeurope", "sku": "P2v3",
                            "tags": {"owner": "payments@contoso.com", "env": "prod", "cost-center": "CC-2310"}},
                   "status": {"owner": {"ref": "team:team-payments/payments", "source": "Spec"}}}),
        )
        .relation(
            "dependsOn",
            json!({"kind": "Package", "metadata": {"name": "telemetry-sdk"},
                   "spec": {"packageName": "Contoso.Telemetry"},
                   "status": {"vulnerabilities": [{"id": "CVE-2026-1", "severity": "high", "fixedIn": "2.1.0"},
                                                  {"id": "CVE-2026-2", "severity": "low"}]}}),
        )
        .derive_facts()
}

/// What the sources that are not integrated yet would report for a model service.
fn with_future_facts(i: Input) -> Input {
    i.fact(
        "kubernetes.probes",
        json!({"liveness": true, "readiness": true}),
    )
    .fact("monitor.alertRules", json!({"enabled": 3}))
    .fact(
        "slo.objectives",
        json!([{"name": "availability", "target": "99.9"}]),
    )
    .fact("defender.secureScore", json!({"percentage": 85}))
    .fact("azure.networkExposure", json!({"publicEndpoints": 0}))
    .fact("security.plainTextSecrets", json!({"count": 0}))
    .fact("azure.identity", json!({"managedIdentity": true}))
    .fact(
        "ci.testResults",
        json!({"total": 120, "passed": 120, "failed": 0}),
    )
    .fact("azure.advisor", json!({"rightSizing": 0}))
    .fact("azure.budgets", json!({"active": 1}))
    .fact(
        "azure.policyCompliance",
        json!({"assignments": 4, "nonCompliant": 0}),
    )
    .fact("azure.diagnostics", json!({"auditLogs": true}))
    .fact(
        "azure.encryption",
        json!({"atRest": true, "inTransit": true}),
    )
    .fact("azure.backup", json!({"protected": true}))
}

fn ids(findings: &[nexus_api::scorecards::RuleFinding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}

fn summary(r: &ScorecardResult) -> (i32, Option<&str>, bool) {
    (r.score, r.level.as_deref(), r.passed)
}

#[test]
fn a_well_kept_service_today() {
    let t = compiled_templates();
    let input = payments_api();
    let activation = input.activate();
    let eval = |name: &str| {
        let c = &t[name];
        assert_eq!(applies(c, &activation), Ok(true), "{name}");
        nexus_scorecards::evaluate_activation(c, &activation)
    };

    // On-call (3) and runbook (2) pass; probes, alerts, SLO have no source: 5/10, Bronze, gate
    // (minLevel Bronze) open.
    let r = eval("production-readiness");
    assert_eq!(summary(&r), (50, Some("Bronze"), true));
    assert!(r.failing.is_empty());
    assert_eq!(
        ids(&r.unknown),
        ["health-probes", "alerts-set", "slo-documented"]
    );
    assert!(
        r.unknown[0].message.contains("is not integrated"),
        "{}",
        r.unknown[0].message
    );
    assert_eq!(r.scorecard, "nexus-org/production-readiness");

    // The high CVE fails the scan (3 of 12); everything else is unknown.
    let r = eval("security-posture");
    assert_eq!(summary(&r), (0, None, false));
    assert_eq!(ids(&r.failing), ["vulnerability-scan"]);
    assert_eq!(r.unknown.len(), 4);

    // Tagging (3) and ownership (3) pass; Advisor and budgets unknown: 6/10, Bronze.
    let r = eval("cost-optimization");
    assert_eq!(summary(&r), (60, Some("Bronze"), false));
    assert_eq!(ids(&r.unknown), ["right-sized-skus", "budget-alerts"]);

    // Repository (1), protection (3), reviews (3), deployments (2) pass; tests unknown (3):
    // 9/12, Bronze (Silver is blocked by the unknown test results).
    let r = eval("devops-maturity");
    assert_eq!(summary(&r), (75, Some("Bronze"), false));
    assert_eq!(ids(&r.unknown), ["automated-tests"]);

    // Residency (3 of 12) passes; encryption unknown blocks Bronze.
    let r = eval("compliance");
    assert_eq!(summary(&r), (25, None, false));
    assert!(r.failing.is_empty());
}

#[test]
fn the_same_service_once_every_source_reports() {
    let t = compiled_templates();
    let input = with_future_facts(payments_api());
    let expect = [
        ("production-readiness", (100, Some("Gold"), true)),
        // Still the high CVE: 9/12, and Bronze is failed.
        ("security-posture", (75, None, false)),
        ("cost-optimization", (100, Some("Gold"), true)),
        ("devops-maturity", (100, Some("Gold"), true)),
        ("compliance", (100, Some("Gold"), true)),
    ];
    for (name, want) in expect {
        let r = evaluate(&t[name], &input);
        assert!(r.unknown.is_empty(), "{name}: {:?}", r.unknown);
        assert_eq!(summary(&r), want, "{name}: {:?}", r.failing);
    }
    // Fix the CVE: the scorecard is all green.
    let mut fixed = input.clone();
    fixed.relations.get_mut("dependsOn").unwrap()[1]["status"]["vulnerabilities"] = json!([]);
    let fixed = Input {
        facts: serde_json::Map::new(),
        ..fixed
    };
    let fixed = with_future_facts(fixed.derive_facts());
    assert_eq!(
        summary(&evaluate(&t["security-posture"], &fixed)),
        (100, Some("Gold"), true)
    );
}

#[test]
fn a_neglected_worker_fails_what_the_catalog_can_see() {
    let t = compiled_templates();
    let input = Input::new(
        component(
            "legacy-worker",
            json!({"type": "worker", "lifecycle": "production"}),
            json!({}),
        ),
        now(),
    )
    .derive_facts();
    let r = evaluate(&t["production-readiness"], &input);
    assert_eq!(summary(&r), (0, None, false));
    assert_eq!(ids(&r.failing), ["on-call-owner", "runbook-linked"]);
    assert!(!t["production-readiness"].decide(Some(&r)).allowed);

    // No repository: linking fails; protection and reviews are unknown rather than failed.
    let r = evaluate(&t["devops-maturity"], &input);
    assert_eq!(summary(&r), (0, None, false));
    assert_eq!(ids(&r.failing), ["repository-linked", "dora-tracked"]);
    assert_eq!(
        ids(&r.unknown),
        [
            "branch-protection",
            "pr-reviews-required",
            "automated-tests"
        ]
    );

    // No Azure resources known: every cost rule is unknown.
    let r = evaluate(&t["cost-optimization"], &input);
    assert_eq!(r.unknown.len(), 4);
    assert!(
        r.unknown[0].message.contains("has not been observed yet"),
        "{}",
        r.unknown[0].message
    );
}

#[test]
fn an_orphaned_resource_outside_the_eu() {
    let t = compiled_templates();
    let resource = json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "AzureResource",
        "metadata": {"name": "vm-test-old", "namespace": "team-data"},
        "spec": {"type": "Microsoft.Compute/virtualMachines", "region": "eastus",
                 "tags": {"env": "test"}},
        "status": {"observedTags": {"owner": "someone@contoso.com"},
                   "sourceGone": {"since": "2026-05-01T00:00:00Z", "reason": "not reported"}}
    });
    let input = Input::new(resource, now()).derive_facts();
    let activation = input.activate();
    assert_eq!(applies(&t["production-readiness"], &activation), Ok(false));
    assert_eq!(applies(&t["cost-optimization"], &activation), Ok(true));
    let cost = nexus_scorecards::evaluate_activation(&t["cost-optimization"], &activation);
    assert_eq!(summary(&cost), (0, None, false));
    assert_eq!(
        ids(&cost.failing),
        ["proper-tagging", "no-orphaned-resources"]
    );
    let compliance = nexus_scorecards::evaluate_activation(&t["compliance"], &activation);
    assert_eq!(ids(&compliance.failing), ["data-residency"]);
    assert_eq!(compliance.score, 0);
}

#[test]
fn libraries_are_not_measured_for_production_readiness() {
    let t = compiled_templates();
    let lib = Input::new(
        component("ui-kit", json!({"type": "library"}), json!({})),
        now(),
    );
    let a = lib.activate();
    assert_eq!(applies(&t["production-readiness"], &a), Ok(false));
    assert_eq!(applies(&t["security-posture"], &a), Ok(false));
    assert_eq!(applies(&t["devops-maturity"], &a), Ok(true));
}

#[test]
fn derived_facts_never_include_a_source_that_is_not_integrated() {
    let input = with_future_facts(payments_api());
    let derived = facts::derive(&input.entity, &input.relations);
    let mut paths = Vec::new();
    for (top, v) in &derived {
        if let Value::Object(inner) = v {
            for k in inner.keys() {
                paths.push(format!("{top}.{k}"));
            }
        }
    }
    paths.sort();
    assert_eq!(
        paths,
        [
            "azure.resources",
            "github.branchProtection",
            "github.vulnerabilities"
        ]
    );
    for p in &paths {
        assert!(facts::lookup(p).unwrap().available, "{p}");
    }
    assert_eq!(
        derived["github"]["vulnerabilities"][0],
        json!({"package": "Contoso.Telemetry", "id": "CVE-2026-1", "severity": "high", "fixedIn": "2.1.0"})
    );
    assert_eq!(
        derived["azure"]["resources"][0]["ref"],
        "azureresource:team-payments/app-payments-api-prod"
    );
}
