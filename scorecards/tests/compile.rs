//! Compile errors: every one reported, with the rule and the position in its expression.

mod common;

use common::{compiled, errors};
use nexus_scorecards::{RuleError, compile_conditions};

fn err(rule: &str, line: u32, column: u32, starts: &str) -> impl Fn(&RuleError) -> bool {
    let (rule, starts) = (rule.to_string(), starts.to_string());
    move |e: &RuleError| {
        e.rule == rule && e.line == line && e.column == column && e.message.starts_with(&starts)
    }
}

#[test]
fn syntax_errors_carry_rule_line_and_column() {
    let errs = errors(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: good
    title: fine
    expression: "true"
    message: m
  - id: broken
    title: broken
    expression: "size(relations.hasRunbook) > 0 &&\n  entity.spec.type == "
    message: m
  - id: extra-token
    title: extra
    expression: "1 +* 2 == 3"
    message: m
"#,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    // The end of input on line 2, after `  entity.spec.type == ` (22 characters).
    assert!(
        errs.iter().any(err("broken", 2, 23, "Syntax error")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(err("extra-token", 1, 4, "Syntax error")),
        "{errs:?}"
    );
    assert_eq!(
        errs.iter()
            .find(|e| e.rule == "extra-token")
            .unwrap()
            .to_string(),
        format!(
            "extra-token at 1:4: {}",
            errs.iter()
                .find(|e| e.rule == "extra-token")
                .unwrap()
                .message
        )
    );
}

#[test]
fn unknown_variables_functions_and_undeclared_facts_are_compile_errors() {
    let errs = errors(
        r#"
title: t
appliesTo:
  kinds: [Component]
  filter: "entiti.spec.type == 'service'"
rules:
  - id: typo-variable
    title: t
    expression: "has(entity.spec) && owner == 'x'"
    message: m
  - id: typo-function
    title: t
    expression: "entity.spec.owner.startWith('team')"
    message: m
  - id: undeclared-fact
    title: t
    facts: [azure.resources]
    expression: "facts.azure.resources.size() > 0 && facts.defender.secureScore.percentage > 50"
    message: m
  - id: scoped-ok
    title: t
    facts: [azure.resources]
    expression: >-
      facts.azure.resources.all(r, r.tags.exists(k, k == 'owner')) &&
      has(facts.defender.secureScore) && entity.metadata.name.lowerAscii() != '' &&
      type(entity) == map
    message: m
"#,
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs.iter()
            .any(err("appliesTo.filter", 1, 1, "unknown variable 'entiti'"))
    );
    assert!(
        errs.iter()
            .any(err("typo-variable", 1, 21, "unknown variable 'owner'"))
    );
    assert!(
        errs.iter()
            .any(err("typo-function", 1, 19, "unknown function 'startWith'")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(err(
            "undeclared-fact",
            1,
            37,
            "facts.defender.secureScore.percentage is used but not declared"
        )),
        "{errs:?}"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let errs = errors(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: unicode
    title: t
    expression: "entity.spec.title == 'Zahlungsdienst über alles' && nope"
    message: m
"#,
    );
    assert!(
        errs.iter()
            .any(err("unicode", 1, 53, "unknown variable 'nope'")),
        "{errs:?}"
    );
}

#[test]
fn plainly_non_bool_expressions_do_not_compile() {
    let errs = errors(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: number
    title: t
    expression: "size(relations.hasRunbook) + 1"
    message: m
  - id: text
    title: t
    expression: "'yes'"
    message: m
"#,
    );
    let messages: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        messages.contains(
            &"number at 1:28: rule number must return a bool, got the result of arithmetic".into()
        ),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"text at 1:1: rule text must return a bool, got string".into()),
        "{messages:?}"
    );
}

#[test]
fn spec_level_errors_name_the_field() {
    let errs = errors(
        r#"
title: t
appliesTo: {kinds: [Component]}
levels: [Bronze, Silver, Bronze]
rules:
  - id: a
    title: t
    level: Platinum
    expression: "true"
    message: m
  - id: a
    title: t
    weight: 0
    expression: "true"
    message: m
gate: {minLevel: Diamond}
"#,
    );
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.starts_with("levels: level \"Bronze\" appears twice")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("a: level \"Platinum\" is not one of the levels")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e == "a: rule id appears twice; ids must be unique"),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e == "a: weight must be 1 to 100"),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("gate.minLevel: \"Diamond\" is not one of the levels")),
        "{text:?}"
    );
    assert!(errs.iter().all(|e| e.line == 0 && e.column == 0));
}

#[test]
fn conditions_and_status_report_the_errors() {
    let spec = common::spec(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - id: broken
    title: t
    expression: "entity.spec.type =="
    message: m
"#,
    );
    let outcome = nexus_scorecards::compile(&spec);
    let conditions = compile_conditions(&outcome);
    let errs = outcome.unwrap_err();
    assert_eq!(conditions.len(), 2);
    for c in &conditions {
        assert_eq!(c.status, "False");
        assert_eq!(c.reason, "CompileFailed");
        assert!(
            c.message.starts_with("broken at 1:20: Syntax error"),
            "{}",
            c.message
        );
    }
    assert_eq!(
        conditions.iter().map(|c| c.type_).collect::<Vec<_>>(),
        ["Compiled", "Ready"]
    );
    let status = errs[0].to_status();
    assert_eq!(
        (status.rule.as_str(), status.line, status.column),
        ("broken", 1, 20)
    );

    let ok = nexus_scorecards::compile(&common::spec(
        "title: t\nappliesTo: {kinds: [Component]}\nrules: [{id: a, title: t, expression: 'true', message: m}]\n",
    ));
    let conditions = compile_conditions(&ok);
    assert_eq!(conditions.len(), 1);
    assert_eq!(
        (conditions[0].type_, conditions[0].status),
        ("Compiled", "True")
    );
}

#[test]
fn a_valid_scorecard_compiles_with_its_identity() {
    let c = compiled(
        r#"
title: t
appliesTo: {kinds: [Component]}
rules:
  - {id: a, title: t, expression: "true", message: m, level: Silver}
  - {id: b, title: t, expression: "now > timestamp('2020-01-01T00:00:00Z')", message: m}
"#,
    );
    assert_eq!(c.scorecard(), "nexus-org/test");
    assert_eq!(c.generation(), Some(3));
    assert_eq!(c.levels(), ["Bronze", "Silver", "Gold"]);
    assert_eq!(c.rule_ids().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn compiled_scorecards_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<nexus_scorecards::Compiled>();
}
