//! The promotion gate.

mod common;

use common::{compiled, component, input, now};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::scorecards::{Gate, RuleFinding, ScorecardResult};
use nexus_scorecards::{evaluate, gate};
use serde_json::json;

fn levels() -> Vec<String> {
    ["Bronze", "Silver", "Gold"].map(String::from).to_vec()
}

fn result(score: i32, level: Option<&str>) -> ScorecardResult {
    ScorecardResult {
        scorecard: "nexus-org/prod".into(),
        generation: Some(1),
        score,
        level: level.map(String::from),
        passed: false,
        rules_passed: 0,
        rules_total: 0,
        failing: vec![RuleFinding {
            rule_id: "runbook-linked".into(),
            title: "Runbook linked".into(),
            message: "Link a runbook".into(),
        }],
        unknown: vec![RuleFinding {
            rule_id: "alerts-set".into(),
            title: "Alerts set".into(),
            message: "fact monitor.alertRules has no source yet".into(),
        }],
        evaluated_at: Time(now()),
    }
}

#[test]
fn score_and_level_must_both_meet_the_gate() {
    let g = Gate {
        min_score: Some(80),
        min_level: Some("Silver".into()),
    };
    let ok = gate(&result(80, Some("Gold")), &g, &levels());
    assert!(ok.allowed);
    assert_eq!(
        ok.reasons,
        [
            "score 80 meets the required 80",
            "level Gold meets the required Silver"
        ]
    );

    let low = gate(&result(79, Some("Silver")), &g, &levels());
    assert!(!low.allowed);
    assert_eq!(
        low.reasons,
        [
            "score 79 is below the required 80",
            "level Silver meets the required Silver",
            "failing: Runbook linked (runbook-linked): Link a runbook",
            "unknown: Alerts set (alerts-set): fact monitor.alertRules has no source yet",
        ]
    );

    let bronze = gate(&result(95, Some("Bronze")), &g, &levels());
    assert!(!bronze.allowed);
    assert_eq!(
        bronze.reasons[1],
        "level Bronze is below the required Silver"
    );

    let none = gate(&result(95, None), &g, &levels());
    assert!(!none.allowed);
    assert_eq!(none.reasons[1], "no level reached; Silver is required");
}

#[test]
fn a_gate_on_one_criterion_ignores_the_other() {
    let score_only = Gate {
        min_score: Some(50),
        min_level: None,
    };
    assert!(gate(&result(50, None), &score_only, &levels()).allowed);
    let level_only = Gate {
        min_score: None,
        min_level: Some("Bronze".into()),
    };
    assert!(gate(&result(0, Some("Bronze")), &level_only, &levels()).allowed);
    assert!(!gate(&result(100, Some("Platinum")), &level_only, &levels()).allowed);
}

const GATED: &str = r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - {id: a, title: A, level: Bronze, weight: 3, expression: "entity.spec.a", message: fix a}
  - {id: b, title: B, level: Silver, weight: 1, expression: "entity.spec.b", message: fix b}
gate: {minScore: 75}
"#;

#[test]
fn passed_follows_the_gate_when_there_is_one() {
    let c = compiled(GATED);
    let r = evaluate(
        &c,
        &input(component("x", json!({"a": true, "b": false}), json!({}))),
    );
    assert_eq!((r.score, r.passed), (75, true));
    let r = evaluate(
        &c,
        &input(component("x", json!({"a": false, "b": true}), json!({}))),
    );
    assert_eq!((r.score, r.passed), (25, false));
}

#[test]
fn decide_refuses_missing_and_stale_results() {
    let c = compiled(GATED);
    let r = evaluate(
        &c,
        &input(component("x", json!({"a": true, "b": true}), json!({}))),
    );
    assert_eq!(r.generation, Some(3));
    assert!(c.decide(Some(&r)).allowed);

    let missing = c.decide(None);
    assert!(!missing.allowed);
    assert_eq!(
        missing.reasons,
        ["the entity has not been evaluated against nexus-org/test yet"]
    );

    let mut stale = r.clone();
    stale.generation = Some(2);
    let d = c.decide(Some(&stale));
    assert!(!d.allowed);
    assert_eq!(
        d.reasons,
        [
            "the result is from generation 2 of nexus-org/test, which is now at 3; wait for re-evaluation"
        ]
    );

    let ungated = compiled(
        "title: t\nappliesTo: {kinds: [Component]}\nrules: [{id: a, title: t, expression: 'false', message: m}]\n",
    );
    let r = evaluate(&ungated, &input(component("x", json!({}), json!({}))));
    assert!(!r.passed);
    let d = ungated.decide(Some(&r));
    assert!(d.allowed);
    assert_eq!(d.reasons, ["nexus-org/test has no gate"]);
}
