use serde_json::{Value, json};

use super::*;
use crate::NamespaceRule;

const REPO: &str = "https://github.com/Contoso/payments-docs";

fn ctx() -> Context {
    let mut ctx = Context::in_namespace("catalog");
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "contoso/payments-*".into(),
        namespace: "team-payments".into(),
    });
    ctx
}

fn file<'a>(path: &'a str, text: &'a str) -> RunbookFile<'a> {
    RunbookFile {
        path,
        text: text.as_bytes(),
        repository: Some(REPO),
        git_ref: Some("main"),
    }
}

fn upsert(out: &Outcome) -> &Upsert {
    match out.changes() {
        [Change::Upsert(u)] => u,
        other => panic!("expected one upsert, got {other:?}"),
    }
}

fn err(path: &str, text: &str) -> RunbookError {
    parse(&file(path, text), &ctx()).unwrap_err()
}

const FULL: &str = "---
title: Ledger database failover
description: Fail the ledger database over to the paired region.
tags: [Database, failover]
appliesTo:
  - component:payments/ledger
  - ledger-api
  - azureresource:ledger-sql
alerts: [ledger-db-cpu-high, \"ledger-db-*\"]
resourceTypes: Microsoft.Sql/servers/databases
owner: payments
---
# Ledger database failover

1. Check [the dashboard](../dashboards/ledger.md).
";

#[test]
fn front_matter_becomes_a_runbook_with_its_source() {
    let out = parse(&file("runbooks/db/failover.md", FULL), &ctx()).unwrap();
    let u = upsert(&out);
    assert_eq!(u.kind(), "Runbook");
    assert_eq!(u.name(), "contoso-payments-docs-runbooks-db-failover");
    assert_eq!(u.namespace(), "team-payments", "the repository's namespace");
    let spec = &u.object["spec"];
    assert_eq!(spec["title"], "Ledger database failover");
    assert_eq!(spec["tags"], json!(["database", "failover"]));
    assert_eq!(
        spec["appliesTo"],
        json!([
            "component:payments/ledger",
            "component:team-payments/ledger-api",
            "azureresource:team-payments/ledger-sql"
        ])
    );
    assert_eq!(spec["alerts"], json!(["ledger-db-cpu-high", "ledger-db-*"]));
    assert_eq!(
        spec["resourceTypes"],
        json!(["microsoft.sql/servers/databases"])
    );
    assert_eq!(spec["owner"], "team:team-payments/payments");
    assert!(
        spec["content"]
            .as_str()
            .unwrap()
            .starts_with("# Ledger database failover\n"),
        "the Markdown after the front matter: {spec}"
    );
    assert_eq!(
        spec["source"],
        json!({"repository": "repository:team-payments/contoso-payments-docs",
               "path": "runbooks/db/failover.md", "ref": "main"})
    );
    assert_eq!(
        u.object["metadata"]["annotations"][SOURCE_URL],
        "https://github.com/Contoso/payments-docs/blob/main/runbooks/db/failover.md"
    );
    assert_eq!(
        u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-github"
    );
    assert_eq!(
        u.resolve[0].target,
        Target::RepositoryUrl { url: REPO.into() }
    );
    assert_eq!(u.resolve[0].field, "/spec/source/repository");
    // What the parser produces is a valid Runbook.
    let typed: Runbook = serde_json::from_value(u.object.clone()).unwrap();
    assert_eq!(typed.spec.applies_to.len(), 3);
}

#[test]
fn title_falls_back_to_the_first_heading_then_the_file_name() {
    let text = "---\ntags: x\n---\n```\n# not a heading\n```\nIntro\n# Restart the API ##\n";
    let out = parse(&file("runbooks/restart.md", text), &ctx()).unwrap();
    assert_eq!(upsert(&out).object["spec"]["title"], "Restart the API");
    let out = parse(
        &file("runbooks/restart-api.md", "---\n---\nNo heading.\n"),
        &ctx(),
    )
    .unwrap();
    let spec = &upsert(&out).object["spec"];
    assert_eq!(spec["title"], "restart-api");
    assert_eq!(spec["content"], "No heading.\n");
    assert!(spec.get("tags").is_none());
}

#[test]
fn spellings_and_single_values() {
    let text =
        "---\napplies-to: checkout\nresource-types: [microsoft.web/*]\ntags:\nalerts: a\n---\n";
    let out = parse(&file("runbooks/x.md", text), &ctx()).unwrap();
    let spec = &upsert(&out).object["spec"];
    assert_eq!(
        spec["appliesTo"],
        json!(["component:team-payments/checkout"])
    );
    assert_eq!(spec["resourceTypes"], json!(["microsoft.web/*"]));
    assert_eq!(spec["alerts"], json!(["a"]));
}

#[test]
fn files_without_front_matter_are_not_runbooks() {
    for text in ["# README\n", "", "--- \nnot closed"] {
        let out = parse(&file("runbooks/README.md", text), &ctx());
        match (text, out) {
            ("--- \nnot closed", Err(RunbookError::Unclosed { line: 1, .. })) => {}
            (_, Ok(Outcome::Ignored(reason))) => assert!(reason.contains("no front matter")),
            (t, other) => panic!("{t:?}: {other:?}"),
        }
    }
}

#[test]
fn bad_front_matter_names_the_file_and_line() {
    // YAML syntax: the file line (the block starts on line 2).
    let e = err("runbooks/a.md", "---\ntitle: ok\ntags: [a, b\n---\n");
    assert!(
        matches!(
            e,
            RunbookError::Yaml { line: 4, .. } | RunbookError::Yaml { line: 3, .. }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("runbooks/a.md:"), "{e}");
    // Unknown key (a typo), with the keys that exist.
    let e = err("runbooks/a.md", "---\ntitle: ok\nappliesto: [x]\n---\n");
    let msg = e.to_string();
    assert!(msg.starts_with("runbooks/a.md:3:"), "{msg}");
    assert!(
        msg.ends_with(
            "unknown key `appliesto`; the keys are title, description, tags, appliesTo, \
             alerts, resourceTypes, owner"
        ),
        "{msg}"
    );
    // A value of the wrong type.
    let e = err("runbooks/a.md", "---\ntitle: ok\ntags: {a: 1}\n---\n");
    assert!(e.to_string().starts_with("runbooks/a.md:3:"), "{e}");
    // A bad reference: the line of the entry.
    let e = err(
        "runbooks/a.md",
        "---\nappliesTo:\n  - checkout\n  - \"Not A Ref!\"\n---\n",
    );
    assert_eq!(
        e,
        RunbookError::Field {
            path: "runbooks/a.md".into(),
            line: 4,
            field: "appliesTo[1]".into(),
            problem: e_problem(&e),
        }
    );
    assert!(e.to_string().contains("not an entity reference"), "{e}");
    // Owner of a kind that cannot own.
    let e = err("runbooks/a.md", "---\ntitle: t\nowner: component:x\n---\n");
    assert!(e.to_string().starts_with("runbooks/a.md:3: owner:"), "{e}");
    // Tags, resource types, lengths and counts.
    let e = err("runbooks/a.md", "---\ntags: [ok, \"no spaces\"]\n---\n");
    assert!(
        e.to_string().starts_with("runbooks/a.md:2: tags[1]:"),
        "{e}"
    );
    let e = err("runbooks/a.md", "---\nresourceTypes:\n- app service\n---\n");
    assert!(
        e.to_string()
            .starts_with("runbooks/a.md:3: resourceTypes[0]:"),
        "{e}"
    );
    let long = format!("---\ntitle: {}\n---\n", "t".repeat(201));
    assert!(
        err("runbooks/a.md", &long)
            .to_string()
            .contains("longer than 200")
    );
    let many: Vec<String> = (0..65).map(|i| format!("a{i}")).collect();
    let text = format!("---\nalerts: [{}]\n---\n", many.join(", "));
    assert!(
        err("runbooks/a.md", &text)
            .to_string()
            .contains("at most 64")
    );
    let e = err("runbooks/a.md", "---\ntitle: \"  \"\n---\n");
    assert!(e.to_string().contains("title: is empty"), "{e}");
    // A list that is not a mapping.
    let e = err("runbooks/a.md", "---\n- a\n- b\n---\n");
    assert!(matches!(e, RunbookError::Yaml { .. }), "{e}");
}

fn e_problem(e: &RunbookError) -> String {
    match e {
        RunbookError::Field { problem, .. } => problem.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_and_repositories_that_cannot_be_runbooks() {
    let big = format!("---\ntitle: t\n---\n{}", "x".repeat(MAX_RUNBOOK_BYTES));
    let e = err("runbooks/big.md", &big);
    assert!(matches!(e, RunbookError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("at most 262144 bytes"), "{e}");
    let e = parse(
        &RunbookFile {
            text: b"---\ntitle: \xff\n---\n",
            ..file("runbooks/bin.md", "")
        },
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        RunbookError::NotUtf8 {
            path: "runbooks/bin.md".into(),
            offset: 11
        }
    );
    for path in ["../x.md", "/abs.md", "runbooks/x.txt", "runbooks/.md", ""] {
        assert!(
            matches!(err(path, FULL), RunbookError::Path { .. }),
            "{path:?}"
        );
    }
    for url in [
        "http://github.com/o/r",
        "https://github.com/o",
        "https://github.com/o/r/tree/main",
    ] {
        let e = parse(
            &RunbookFile {
                repository: Some(url),
                ..file("runbooks/x.md", FULL)
            },
            &ctx(),
        )
        .unwrap_err();
        assert!(matches!(e, RunbookError::Repository { .. }), "{url}: {e}");
    }
    // Errors convert to IngestError with the file in the field.
    let e: IngestError = err("runbooks/a.md", "---\ntags: [\"A B\"]\n---\n").into();
    assert!(
        e.to_string().starts_with("runbooks/a.md:2: tags[0]:"),
        "{e}"
    );
}

#[test]
fn outside_a_repository_the_markdown_is_stored_inline_only() {
    let out = parse(
        &RunbookFile {
            path: "restart-api.md",
            text: FULL.as_bytes(),
            repository: None,
            git_ref: None,
        },
        &Context::in_namespace("ops"),
    )
    .unwrap();
    let u = upsert(&out);
    assert_eq!(u.name(), "restart-api");
    assert_eq!(u.namespace(), "ops");
    assert!(u.object["spec"].get("source").is_none());
    assert!(u.object["metadata"].get("annotations").is_none());
    assert!(u.resolve.is_empty());
    // Without a ref the source URL points at the default branch.
    let out = parse(
        &RunbookFile {
            git_ref: None,
            ..file("runbooks/x.md", FULL)
        },
        &ctx(),
    )
    .unwrap();
    let u = upsert(&out);
    assert_eq!(
        u.object["metadata"]["annotations"][SOURCE_URL],
        "https://github.com/Contoso/payments-docs/blob/HEAD/runbooks/x.md"
    );
    assert!(u.object["spec"]["source"].get("ref").is_none());
}

#[test]
fn gone_keeps_the_files_still_present() {
    let Change::Gone(g) = gone_except(
        "https://github.com/Contoso/Docs/",
        &["b.md".into(), "a.md".into(), "b.md".into()],
        false,
    ) else {
        panic!()
    };
    assert_eq!(
        g.target,
        Target::RunbooksOfRepository {
            url: "https://github.com/contoso/docs".into(),
            keep: vec!["a.md".into(), "b.md".into()]
        }
    );
    assert!(!g.delete);
    let v: Value = serde_json::to_value(&g).unwrap();
    assert_eq!(v["target"]["by"], "runbooksOfRepository");
}
