//! The Scorecard CRD's whole-spec CEL validations, run with the same CEL crate against good and
//! bad specs, so a rule that could never fire (or always fires) is caught here rather than by
//! the first `kubectl apply`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cel::{Context, Env, Value as CelValue};
use kube::CustomResourceExt;
use nexus_api::scorecards::Scorecard;
use serde_json::{Value, json};

fn spec_rules() -> Vec<(String, String)> {
    let crd = Scorecard::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap()
        .properties
        .as_ref()
        .unwrap()["spec"]
        .clone();
    schema
        .x_kubernetes_validations
        .unwrap()
        .into_iter()
        .map(|r| (r.rule, r.message.unwrap_or_default()))
        .collect()
}

/// The messages of the rules `spec` violates.
fn violations(spec: &Value) -> Vec<String> {
    let env = Arc::new(Env::stdlib());
    let mut out = Vec::new();
    for (rule, message) in spec_rules() {
        let program = env.compile(&rule).unwrap();
        let mut ctx = Context::with_env(Arc::clone(&env));
        ctx.add_variable("self", spec.clone()).unwrap();
        match program.execute(&ctx) {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => out.push(message),
            other => panic!("{rule}: {other:?}"),
        }
    }
    out
}

fn rule(id: &str, level: Option<&str>) -> Value {
    let mut r = json!({"id": id, "title": "t", "expression": "true", "message": "m", "weight": 1});
    if let Some(l) = level {
        r["level"] = json!(l);
    }
    r
}

fn spec(rules: Vec<Value>, levels: &[&str], gate: Option<Value>) -> Value {
    let mut s = json!({
        "title": "t",
        "appliesTo": {"kinds": ["Component"]},
        "levels": levels,
        "rules": rules,
        "sweepInterval": "1h",
    });
    if let Some(g) = gate {
        s["gate"] = g;
    }
    s
}

#[test]
fn the_crd_has_the_spec_rules() {
    assert_eq!(spec_rules().len(), 4);
}

#[test]
fn a_good_spec_passes_every_rule() {
    let s = spec(
        vec![
            rule("a", Some("Bronze")),
            rule("b", None),
            rule("c", Some("Gold")),
        ],
        &["Bronze", "Silver", "Gold"],
        Some(json!({"minLevel": "Silver", "minScore": 80})),
    );
    assert!(violations(&s).is_empty(), "{:?}", violations(&s));
    let no_gate_level = spec(
        vec![rule("a", None)],
        &["Bronze"],
        Some(json!({"minScore": 10})),
    );
    assert!(violations(&no_gate_level).is_empty());
}

#[test]
fn each_bad_spec_trips_its_rule() {
    let dup = spec(vec![rule("a", None), rule("a", None)], &["Bronze"], None);
    assert_eq!(violations(&dup), ["spec.rules[].id must be unique"]);

    let repeated = spec(vec![rule("a", None)], &["Bronze", "Bronze"], None);
    assert_eq!(
        violations(&repeated),
        ["spec.levels must not repeat a level"]
    );

    let stray = spec(vec![rule("a", Some("Platinum"))], &["Bronze"], None);
    assert_eq!(
        violations(&stray),
        ["spec.rules[].level must be one of spec.levels"]
    );

    let gate = spec(
        vec![rule("a", None)],
        &["Bronze"],
        Some(json!({"minLevel": "Gold"})),
    );
    assert_eq!(
        violations(&gate),
        ["spec.gate.minLevel must be one of spec.levels"]
    );
}

#[test]
fn the_templates_pass_the_crd_rules() {
    for t in nexus_scorecards::templates::load().unwrap() {
        let s = serde_json::to_value(&t.spec).unwrap();
        assert!(
            violations(&s).is_empty(),
            "{}: {:?}",
            t.spec.title,
            violations(&s)
        );
    }
}
