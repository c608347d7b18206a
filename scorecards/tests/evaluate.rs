//! Evaluation: weighted score, level ladder, unknown semantics, applicability.

mod common;

use common::{compiled, component, input, now};
use nexus_scorecards::{EvalError, Input, RuleStatus, applies, evaluate};
use serde_json::json;

/// Weights 5 + 3 + 2 + 1 = 11 over the default ladder.
const LADDER: &str = r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - {id: b1, title: B1, level: Bronze, weight: 5, expression: "entity.spec.b1", message: fix b1}
  - {id: s1, title: S1, level: Silver, weight: 3, expression: "entity.spec.s1", message: fix s1}
  - {id: g1, title: G1, level: Gold, weight: 2, expression: "entity.spec.g1", message: fix g1}
  - {id: any, title: Any, weight: 1, expression: "entity.spec.any", message: fix any}
"#;

fn with(b1: bool, s1: bool, g1: bool, any: bool) -> Input {
    input(component(
        "c",
        json!({"b1": b1, "s1": s1, "g1": g1, "any": any}),
        json!({}),
    ))
}

#[test]
fn score_is_the_floored_weighted_pass_ratio() {
    let c = compiled(LADDER);
    // (passes, expected score): floor(100 × passed weight / 11).
    let cases = [
        ((true, true, true, true), 100),
        ((true, true, true, false), 90),   // 10/11 = 90.9
        ((true, false, false, false), 45), // 5/11 = 45.45
        ((false, true, true, true), 54),   // 6/11 = 54.5
        ((false, false, false, true), 9),  // 1/11 = 9.09
        ((false, false, false, false), 0),
    ];
    for ((b, s, g, a), want) in cases {
        let r = evaluate(&c, &with(b, s, g, a));
        assert_eq!(r.score, want, "{b} {s} {g} {a}");
        assert_eq!(r.rules_total, 4);
        assert_eq!(
            r.rules_passed,
            [b, s, g, a].iter().filter(|x| **x).count() as i32
        );
    }
}

#[test]
fn level_is_the_highest_rung_whose_rules_and_all_lower_ones_pass() {
    let c = compiled(LADDER);
    let level = |b, s, g, a| evaluate(&c, &with(b, s, g, a)).level;
    assert_eq!(level(true, true, true, false).as_deref(), Some("Gold"));
    assert_eq!(level(true, true, false, true).as_deref(), Some("Silver"));
    assert_eq!(level(true, false, true, true).as_deref(), Some("Bronze"));
    // Gold passing does not help when Bronze fails.
    assert_eq!(level(false, true, true, true), None);
}

#[test]
fn unknown_lowers_the_score_blocks_the_level_and_is_listed_apart() {
    let c = compiled(LADDER);
    // s1 reads a field the entity lacks: unknown, not failed and not passed.
    let r = evaluate(
        &c,
        &input(component(
            "c",
            json!({"b1": true, "g1": true, "any": false}),
            json!({}),
        )),
    );
    assert_eq!(r.score, 63); // (5 + 2) / 11
    assert_eq!(r.level.as_deref(), Some("Bronze"));
    assert!(!r.passed);
    assert_eq!(r.failing.len(), 1);
    assert_eq!(r.failing[0].rule_id, "any");
    assert_eq!(r.failing[0].message, "fix any");
    assert_eq!(r.unknown.len(), 1);
    assert_eq!(r.unknown[0].rule_id, "s1");
    assert_eq!(r.unknown[0].title, "S1");
    assert_eq!(r.unknown[0].message, "evaluation failed: No such key: s1");
}

#[test]
fn levels_without_rules_are_reached_with_the_ones_below() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
levels: [Basic, Solid, Great, Best]
rules:
  - {id: a, title: A, level: Basic, expression: "entity.spec.a", message: m}
  - {id: c, title: C, level: Great, expression: "entity.spec.c", message: m}
"#,
    );
    let level = |a: bool, c_: bool| {
        evaluate(
            &c,
            &input(component("x", json!({"a": a, "c": c_}), json!({}))),
        )
        .level
    };
    assert_eq!(level(true, false).as_deref(), Some("Solid"));
    assert_eq!(level(true, true).as_deref(), Some("Best"));
    assert_eq!(level(false, true), None);
}

#[test]
fn no_level_when_no_rule_has_one() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - {id: a, title: A, expression: "true", message: m}
"#,
    );
    let r = evaluate(&c, &input(component("x", json!({}), json!({}))));
    assert_eq!((r.score, r.level, r.passed), (100, None, true));
}

#[test]
fn non_bool_results_are_unknown_with_the_rule_named() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - {id: size-not-bool, title: T, expression: "size(entity.spec.items)", message: m}
  - {id: ok, title: T, expression: "size(entity.spec.items) == 2", message: m}
"#,
    );
    let r = evaluate(
        &c,
        &input(component("x", json!({"items": [1, 2]}), json!({}))),
    );
    assert_eq!(r.unknown.len(), 1);
    assert_eq!(
        r.unknown[0].message,
        "rule size-not-bool must return a bool, got int"
    );
    assert_eq!(r.score, 50);
}

#[test]
fn declared_facts_decide_unknown_before_the_expression_runs() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: policy
    title: Policy
    facts: [azure.policyCompliance]
    expression: "facts.azure.policyCompliance.nonCompliant == 0"
    message: fix policy
  - id: custom
    title: Custom
    facts: [custom.thing]
    expression: "facts.custom.thing.ok"
    message: m
"#,
    );
    let bare = input(component("x", json!({}), json!({})));
    let r = evaluate(&c, &bare);
    assert_eq!(r.score, 0);
    assert_eq!(
        r.unknown[0].message,
        "fact azure.policyCompliance has no source yet: Azure Policy assignments and compliance state is not integrated"
    );
    assert_eq!(
        r.unknown[1].message,
        "fact custom.thing is not available for this entity"
    );
    // A null fact is as absent as a missing one.
    let null = bare.clone().fact("custom.thing", serde_json::Value::Null);
    assert_eq!(evaluate(&c, &null).unknown.len(), 2);

    let with = bare
        .fact("azure.policyCompliance", json!({"nonCompliant": 2}))
        .fact("custom.thing", json!({"ok": true}));
    let r = evaluate(&c, &with);
    assert!(r.unknown.is_empty());
    assert_eq!(r.failing.len(), 1);
    assert_eq!(r.failing[0].message, "fix policy");
    assert_eq!(r.score, 50);
}

#[test]
fn relations_default_to_empty_lists_and_now_is_injected() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: runbook
    title: T
    expression: "size(relations.hasRunbook) > 0"
    message: m
  - id: recent
    title: T
    expression: "timestamp(entity.status.lastSeen) > now - duration('24h')"
    message: m
  - id: custom-relation
    title: T
    expression: "relations.reviewedBy.exists(r, r.metadata.name == 'alice')"
    message: m
"#,
    );
    let entity = component("x", json!({}), json!({"lastSeen": "2026-05-31T12:00:00Z"}));
    let r = evaluate(&c, &Input::new(entity.clone(), now()));
    assert_eq!(
        r.failing
            .iter()
            .map(|f| f.rule_id.as_str())
            .collect::<Vec<_>>(),
        ["runbook"]
    );
    assert_eq!(
        r.unknown.len(),
        1,
        "an unknown relation type is not defaulted"
    );
    assert_eq!(r.evaluated_at.0, now());

    let later = Input::new(
        entity,
        now() + k8s_openapi::jiff::SignedDuration::from_hours(48),
    )
    .relation("hasRunbook", json!({"metadata": {"name": "rb"}}))
    .relation("reviewedBy", json!({"metadata": {"name": "alice"}}));
    let r = evaluate(&c, &later);
    assert_eq!(
        r.failing
            .iter()
            .map(|f| f.rule_id.as_str())
            .collect::<Vec<_>>(),
        ["recent"]
    );
    assert!(r.unknown.is_empty());
}

#[test]
fn outcomes_list_every_rule() {
    let c = compiled(LADDER);
    let i = with(true, false, true, true);
    let outcomes = c.outcomes(&i.activate());
    assert_eq!(
        outcomes.iter().map(|o| &o.status).collect::<Vec<_>>(),
        [
            &RuleStatus::Passed,
            &RuleStatus::Failed,
            &RuleStatus::Passed,
            &RuleStatus::Passed
        ]
    );
}

#[test]
fn applies_checks_kind_namespace_selector_and_filter() {
    let c = compiled(
        r#"
title: t
appliesTo:
  kinds: [Component]
  namespaces: [team-payments]
  selector:
    matchLabels: {tier: "1"}
    matchExpressions:
      - {key: retired, operator: DoesNotExist}
  filter: "entity.spec.type == 'service'"
rules:
  - {id: a, title: A, expression: "true", message: m}
"#,
    );
    let service = component("x", json!({"type": "service"}), json!({}));
    let check = |v: serde_json::Value| {
        let i = Input::new(v, now());
        applies(&c, &i.activate())
    };
    assert_eq!(check(service.clone()), Ok(true));
    let mut library = service.clone();
    library["spec"]["type"] = json!("library");
    assert_eq!(check(library), Ok(false));
    let mut other_ns = service.clone();
    other_ns["metadata"]["namespace"] = json!("team-checkout");
    assert_eq!(check(other_ns), Ok(false));
    let mut tier2 = service.clone();
    tier2["metadata"]["labels"]["tier"] = json!("2");
    assert_eq!(check(tier2), Ok(false));
    let mut retired = service.clone();
    retired["metadata"]["labels"]["retired"] = json!("yes");
    assert_eq!(check(retired), Ok(false));
    let mut repo = service.clone();
    repo["kind"] = json!("Repository");
    assert_eq!(check(repo), Ok(false));
    let mut no_type = service;
    no_type["spec"] = json!({});
    assert_eq!(
        check(no_type),
        Err(EvalError::Filter("No such key: type".into()))
    );
}

#[test]
fn selector_operators_follow_kubernetes() {
    let c = compiled(
        r#"
title: t
appliesTo:
  kinds: [Component]
  selector:
    matchExpressions:
      - {key: env, operator: In, values: [prod, staging]}
      - {key: team, operator: NotIn, values: [legacy]}
      - {key: tier, operator: Exists}
rules:
  - {id: a, title: A, expression: "true", message: m}
"#,
    );
    let check = |labels: serde_json::Value| {
        let mut e = component("x", json!({}), json!({}));
        e["metadata"]["labels"] = labels;
        applies(&c, &Input::new(e, now()).activate())
    };
    assert_eq!(check(json!({"env": "prod", "tier": "1"})), Ok(true));
    assert_eq!(
        check(json!({"env": "prod", "tier": "1", "team": "core"})),
        Ok(true)
    );
    assert_eq!(
        check(json!({"env": "prod", "tier": "1", "team": "legacy"})),
        Ok(false)
    );
    assert_eq!(check(json!({"env": "dev", "tier": "1"})), Ok(false));
    assert_eq!(check(json!({"env": "prod"})), Ok(false));
}
