use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::{metrics::Metrics, query::fixtures::object};

fn runbook(ns: &str, name: &str, spec: Value) -> Value {
    object(EntityKind::Runbook, ns, name, spec, None, &[])
}

/// An incident on the ledger (its database fired an alert), and runbooks that match it in
/// every way, one that matches nothing, one whose file is gone and one in a namespace the
/// restricted caller cannot see.
fn cache() -> Arc<Cache> {
    let (cache, indexer) =
        Cache::new(Duration::from_millis(5), Arc::new(Metrics::new())).expect("index");
    std::thread::spawn(move || indexer.run());
    use EntityKind::*;
    let mut gone = runbook(
        "pay",
        "rb-gone",
        json!({"title": "Old", "content": "x", "appliesTo": ["ledger"]}),
    );
    gone["status"]["sourceGone"] = json!({"since": "2026-01-01T00:00:00Z", "reason": "deleted"});
    let objects = [
        (
            Component,
            object(
                Component,
                "pay",
                "ledger",
                json!({"type": "service"}),
                None,
                &[],
            ),
        ),
        (
            AzureResource,
            object(
                AzureResource,
                "pay",
                "ledger-sql",
                json!({"type": "Microsoft.Sql/servers/databases"}),
                None,
                &[],
            ),
        ),
        (
            Incident,
            object(
                Incident,
                "pay",
                "inc-db",
                json!({"title": "ledger-db-cpu-high", "alertRule": "Ledger-DB-CPU-High",
                    "severity": "high", "state": "triggered", "source": "azureMonitor",
                    "startedAt": "2026-01-02T00:00:00Z",
                    "affects": ["ledger", "azureresource:ledger-sql", "component:hidden/thing"]}),
                None,
                &[],
            ),
        ),
        (
            Incident,
            object(
                Incident,
                "pay",
                "inc-pd",
                json!({"title": "Ledger DB CPU high", "severity": "high", "state": "triggered",
                    "source": "pagerduty", "startedAt": "2026-01-02T00:00:00Z"}),
                None,
                &[],
            ),
        ),
        (
            Runbook,
            runbook(
                "pay",
                "rb-entity",
                json!({"title": "Ledger", "content": "x", "appliesTo": ["component:pay/ledger"]}),
            ),
        ),
        (
            Runbook,
            runbook(
                "pay",
                "rb-alert",
                json!({"title": "CPU", "content": "x", "alerts": ["other", "ledger-db-*"]}),
            ),
        ),
        (
            Runbook,
            runbook(
                "pay",
                "rb-type",
                json!({"title": "SQL", "content": "x", "resourceTypes": ["microsoft.sql/*"]}),
            ),
        ),
        (
            Runbook,
            runbook(
                "ops",
                "rb-both",
                json!({"title": "Both", "content": "x",
            "appliesTo": ["incident:pay/inc-db", "component:pay/ledger"], "alerts": ["ledger-db-cpu-high"]}),
            ),
        ),
        (
            Runbook,
            runbook(
                "pay",
                "rb-title",
                json!({"title": "By title", "content": "x", "alerts": ["ledger db cpu *"]}),
            ),
        ),
        (
            Runbook,
            runbook(
                "pay",
                "rb-none",
                json!({"title": "None", "content": "x", "appliesTo": ["storefront"], "alerts": ["x"], "resourceTypes": ["microsoft.web/sites"]}),
            ),
        ),
        (Runbook, gone),
        (
            Runbook,
            runbook(
                "hidden",
                "rb-hidden",
                json!({"title": "Hidden", "content": "x", "appliesTo": ["component:pay/ledger"]}),
            ),
        ),
    ];
    for (kind, obj) in objects {
        cache.apply(kind, obj);
    }
    cache
}

fn id(s: &str) -> EntityRef {
    s.parse().unwrap()
}

fn refs(r: &RunbooksFor) -> Vec<String> {
    r.items.iter().map(|m| m.runbook.ref_.clone()).collect()
}

#[test]
fn an_incident_surfaces_runbooks_by_entity_then_alert_then_type() {
    let cache = cache();
    let r = for_entity(
        &cache,
        &Visibility::everything(),
        &id("incident:pay/inc-db"),
    )
    .unwrap();
    assert_eq!(
        refs(&r),
        [
            "runbook:ops/rb-both",
            "runbook:hidden/rb-hidden",
            "runbook:pay/rb-entity",
            "runbook:pay/rb-alert",
            "runbook:pay/rb-type",
        ]
    );
    assert_eq!(r.alert_rule.as_deref(), Some("Ledger-DB-CPU-High"));
    assert_eq!(r.alert_from, Some("spec.alertRule"));
    assert_eq!(r.total, 5);
    let v = serde_json::to_value(&r).unwrap();
    // Three reasons for the first: the incident itself, what it affects, and the alert rule.
    assert_eq!(
        v["items"][0]["reasons"],
        json!([
            {"match": "entity", "ref": "incident:pay/inc-db", "via": "subject"},
            {"match": "entity", "ref": "component:pay/ledger", "via": "affected"},
            {"match": "alertRule", "pattern": "ledger-db-cpu-high", "alertRule": "Ledger-DB-CPU-High"}
        ])
    );
    assert_eq!(v["items"][0]["match"], "entity");
    assert_eq!(v["items"][3]["match"], "alertRule");
    assert_eq!(v["items"][3]["reasons"][0]["pattern"], "ledger-db-*");
    assert_eq!(
        v["items"][4]["reasons"],
        json!([{"match": "resourceType", "ref": "azureresource:pay/ledger-sql",
            "pattern": "microsoft.sql/*", "type": "Microsoft.Sql/servers/databases"}])
    );
    assert!(
        !refs(&r).contains(&"runbook:pay/rb-gone".to_string()),
        "gone runbooks stay out"
    );
}

#[test]
fn what_the_caller_cannot_see_is_neither_listed_nor_matched() {
    let cache = cache();
    let v = Visibility::namespaces([
        (EntityKind::Incident, "pay"),
        (EntityKind::Runbook, "pay"),
        (EntityKind::Runbook, "ops"),
    ]);
    let r = for_entity(&cache, &v, &id("incident:pay/inc-db")).unwrap();
    assert!(!refs(&r).contains(&"runbook:hidden/rb-hidden".to_string()));
    // The ledger and its database are hidden: only the incident itself and its alert match.
    assert_eq!(r.matched_against, ["incident:pay/inc-db"]);
    assert_eq!(refs(&r), ["runbook:ops/rb-both", "runbook:pay/rb-alert"]);
    let both = serde_json::to_value(&r.items[0]).unwrap();
    assert_eq!(both["reasons"].as_array().unwrap().len(), 2, "{both}");
    // A hidden subject is a 404, like a missing one.
    let e = for_entity(&cache, &v, &id("component:pay/ledger")).unwrap_err();
    assert!(matches!(e, QueryError::NotFound(_)));
}

#[test]
fn without_a_rule_name_the_title_is_matched_and_other_entities_match_by_ref_and_type() {
    let cache = cache();
    let all = Visibility::everything();
    let r = for_entity(&cache, &all, &id("incident:pay/inc-pd")).unwrap();
    assert_eq!(r.alert_from, Some("spec.title"));
    assert_eq!(refs(&r), ["runbook:pay/rb-title"]);
    let r = for_entity(&cache, &all, &id("component:pay/ledger")).unwrap();
    assert_eq!(
        refs(&r),
        [
            "runbook:ops/rb-both",
            "runbook:hidden/rb-hidden",
            "runbook:pay/rb-entity"
        ]
    );
    assert!(r.alert_rule.is_none());
    let r = for_entity(&cache, &all, &id("azureresource:pay/ledger-sql")).unwrap();
    assert_eq!(refs(&r), ["runbook:pay/rb-type"]);
    let e = for_entity(&cache, &all, &id("component:pay/nope")).unwrap_err();
    assert!(matches!(e, QueryError::NotFound(_)));
}

#[test]
fn globs() {
    assert!(glob_match("ledger-*", "LEDGER-db"));
    assert!(glob_match("a?c", "abc"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("ledger-*", "ledge"));
    assert!(!glob_match("a", "ab"));
    // Many stars against a long text stay fast (no exponential backtracking).
    let text = "a".repeat(5000);
    assert!(!glob_match(&format!("{}b", "*a".repeat(50)), &text));
}

#[test]
fn html_is_sanitised_and_links_resolve_against_the_file() {
    let cache = crate::query::fixtures::org();
    let all = Visibility::everything();
    let r = html(&cache, &all, &id("runbook:pay/ledger-down")).unwrap();
    assert_eq!(r.title, "Ledger down");
    assert!(r.html.contains("<h1>Ledger down</h1>"), "{}", r.html);
    assert!(!r.html.contains("<script"), "{}", r.html);
    assert!(
        r.html
            .contains("href=\"https://github.com/contoso/pay-docs/blob/main/runbooks/db.md\""),
        "{}",
        r.html
    );
    // Not a runbook, hidden, or nothing stored to render.
    assert!(matches!(
        html(&cache, &all, &id("component:pay/ledger")),
        Err(QueryError::BadRequest(_))
    ));
    assert!(matches!(
        html(
            &cache,
            &Visibility::default(),
            &id("runbook:pay/ledger-down")
        ),
        Err(QueryError::NotFound(_))
    ));
    cache.apply(
        EntityKind::Runbook,
        runbook(
            "pay",
            "declared",
            json!({"source": {"repository": "docs", "path": "a.md"}}),
        ),
    );
    let e = html(&cache, &all, &id("runbook:pay/declared")).unwrap_err();
    assert!(
        e.to_string().contains("stores no Markdown") && e.to_string().contains("a.md"),
        "{e}"
    );
}

#[test]
fn declared_sources_resolve_links_through_their_repository() {
    let cache = crate::query::fixtures::org();
    cache.apply(
        EntityKind::Repository,
        object(
            EntityKind::Repository,
            "pay",
            "docs",
            json!({"url": "https://github.com/contoso/docs", "provider": "github"}),
            None,
            &[],
        ),
    );
    cache.apply(
        EntityKind::Runbook,
        runbook(
            "pay",
            "declared",
            json!({"content": "[next](next.md)", "source": {"repository": "docs", "path": "ops/a.md", "ref": "v2"}}),
        ),
    );
    let all = Visibility::everything();
    let r = html(&cache, &all, &id("runbook:pay/declared")).unwrap();
    assert!(
        r.html
            .contains("https://github.com/contoso/docs/blob/v2/ops/next.md"),
        "{}",
        r.html
    );
    // Without sight of the Repository, its URL is not used: the relative link is dropped.
    let runbooks_only = Visibility::namespaces([(EntityKind::Runbook, "pay")]);
    let r = html(&cache, &runbooks_only, &id("runbook:pay/declared")).unwrap();
    assert!(!r.html.contains("github.com"), "{}", r.html);
}
