//! A small org in an in-memory cache, for the query tests.

use std::{sync::Arc, time::Duration};

use nexus_api::EntityKind;
use serde_json::{Value, json};

use crate::{cache::Cache, metrics::Metrics};

pub fn object(
    kind: EntityKind,
    ns: &str,
    name: &str,
    spec: Value,
    owner: Option<&str>,
    relations: &[(&str, &str)],
) -> Value {
    let mut status = json!({
        "conditions": [{"type": "Ready", "status": "True", "reason": "Resolved", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "relations": relations.iter().map(|(t, r)| json!({"type": t, "targetRef": r})).collect::<Vec<_>>(),
    });
    if let Some(owner) = owner {
        status["owner"] = json!({"ref": owner, "source": "Spec"});
    }
    json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1",
        "kind": kind.as_str(),
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
        "status": status,
    })
}

/// A runbook read from a repository: Markdown with a script and a relative link in it.
fn ledger_down() -> Value {
    let mut o = object(
        EntityKind::Runbook,
        "pay",
        "ledger-down",
        json!({"title": "Ledger down", "tags": ["database", "sev1"], "appliesTo": ["ledger"],
            "alerts": ["ledger-writes-*"],
            "content": "# Ledger down\n\n<script>alert(1)</script>\nSee [the database runbook](db.md).\n",
            "source": {"repository": "pay-docs", "path": "runbooks/ledger-down.md", "ref": "main"}}),
        Some("team:pay/payments"),
        &[("runbookFor", "component:pay/ledger")][..],
    );
    o["metadata"]["annotations"] = json!({
        "nexus.dev/source-url": "https://github.com/contoso/pay-docs/blob/main/runbooks/ledger-down.md"
    });
    o
}

/// Two teams in two namespaces; payments' checkout depends on ledger; an open incident affects
/// ledger; alice is in payments (and so owns checkout and ledger through it).
pub fn org() -> Arc<Cache> {
    let (cache, indexer) =
        Cache::new(Duration::from_millis(5), Arc::new(Metrics::new())).expect("index");
    std::thread::spawn(move || indexer.run());
    use EntityKind::*;
    let objects = [
        (
            Team,
            object(
                Team,
                "pay",
                "payments",
                json!({"displayName": "Payments", "entraGroup": {"id": "GROUP-PAY"}}),
                None,
                &[
                    ("hasMember", "user:org/alice"),
                    ("ownerOf", "component:pay/checkout"),
                    ("ownerOf", "component:pay/ledger"),
                ][..],
            ),
        ),
        (
            Team,
            object(
                Team,
                "web",
                "web",
                json!({"displayName": "Web"}),
                None,
                &[("ownerOf", "component:web/storefront")][..],
            ),
        ),
        (
            User,
            object(
                User,
                "org",
                "alice",
                json!({"email": "alice@contoso.com", "githubLogin": "alice-gh"}),
                None,
                &[("memberOf", "team:pay/payments")][..],
            ),
        ),
        (
            User,
            object(
                User,
                "org",
                "bob",
                json!({"email": "bob@contoso.com"}),
                None,
                &[][..],
            ),
        ),
        (
            Component,
            object(
                Component,
                "pay",
                "checkout",
                json!({"title": "Checkout", "description": "Takes the money", "type": "service", "lifecycle": "production", "tags": ["pci", "java"], "owner": "payments"}),
                Some("team:pay/payments"),
                &[
                    ("ownedBy", "team:pay/payments"),
                    ("dependsOn", "component:pay/ledger"),
                    ("dependencyOf", "component:web/storefront"),
                ][..],
            ),
        ),
        (
            Component,
            object(
                Component,
                "pay",
                "ledger",
                json!({"title": "Ledger", "description": "Double-entry book of checkout payments", "type": "service", "lifecycle": "production", "owner": "payments"}),
                Some("team:pay/payments"),
                &[
                    ("ownedBy", "team:pay/payments"),
                    ("dependencyOf", "component:pay/checkout"),
                    ("affectedBy", "incident:pay/inc-1"),
                    ("hasRunbook", "runbook:pay/ledger-down"),
                ][..],
            ),
        ),
        (
            Component,
            object(
                Component,
                "web",
                "storefront",
                json!({"title": "Storefront", "type": "website", "lifecycle": "production", "owner": "web", "tags": ["nextjs"]}),
                Some("team:web/web"),
                &[
                    ("ownedBy", "team:web/web"),
                    ("dependsOn", "component:pay/checkout"),
                ][..],
            ),
        ),
        (
            Incident,
            object(
                Incident,
                "pay",
                "inc-1",
                json!({"title": "Ledger writes failing", "severity": "high", "state": "triggered", "startedAt": "2026-01-02T00:00:00Z", "source": "manual"}),
                None,
                &[("affects", "component:pay/ledger")][..],
            ),
        ),
        (Runbook, ledger_down()),
    ];
    for (kind, obj) in objects {
        cache.apply(kind, obj);
    }
    for _ in 0..500 {
        if cache.index.pending() == 0 {
            return cache;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("index did not catch up");
}
