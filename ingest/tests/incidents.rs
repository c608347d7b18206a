//! Every Azure Monitor, PagerDuty and Opsgenie corpus file through its entrypoint.

// The whole file is test code; its helpers fail the test by unwrapping.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nexus_ingest::{
    Change, Context, IngestError, NamespaceRule, Outcome, Target, Upsert,
    change::{EXTERNAL_ID, MANAGED_BY, SOURCE_URL},
    incidents::{self, pagerduty_signature_valid},
};
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

type Parser = fn(&[u8], &Context) -> Result<Outcome, IngestError>;
/// A field path the error must start with, and the edit that breaks the payload.
type Breakage = (&'static str, fn(&mut Value));

/// Every payload file under `dir` (recursively), without the SOURCE.md notes.
fn corpus_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().unwrap() != "SOURCE.md" {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(CORPUS).join(dir), &mut out);
    out.sort();
    assert!(!out.is_empty(), "no corpus files in {dir}");
    out
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(CORPUS).join(rel)).unwrap()
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

fn ctx() -> Context {
    Context::in_namespace("incidents")
}

fn only_upsert(out: Outcome) -> Upsert {
    let Outcome::Changes(mut changes) = out else {
        panic!("expected changes, got {out:?}");
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    let Some(Change::Upsert(u)) = changes.pop() else {
        panic!("expected an upsert");
    };
    u
}

/// What a delivery must produce; `None` timestamps must be absent.
struct Expect<'a> {
    name: &'a str,
    external_id: &'a str,
    title: &'a str,
    severity: &'a str,
    state: &'a str,
    started: &'a str,
    acknowledged: Option<&'a str>,
    resolved: Option<&'a str>,
    url: Option<&'a str>,
}

fn check(u: &Upsert, source: &str, manager: &str, e: &Expect) {
    let o = &u.object;
    assert_eq!(o["apiVersion"], "catalog.nexus.dev/v1alpha1");
    assert_eq!(u.kind(), "Incident");
    assert_eq!(u.name(), e.name);
    assert_eq!(o["metadata"]["labels"][MANAGED_BY], manager);
    assert_eq!(o["metadata"]["annotations"][EXTERNAL_ID], e.external_id);
    assert_eq!(
        o["metadata"]["annotations"]
            .get(SOURCE_URL)
            .and_then(Value::as_str),
        e.url
    );
    assert!(u.identity.is_none());
    let s = &o["spec"];
    assert_eq!(s["source"], source);
    assert_eq!(s["externalId"], e.external_id);
    assert_eq!(s["title"], e.title);
    assert_eq!(s["severity"], e.severity);
    assert_eq!(s["state"], e.state);
    assert_eq!(s["startedAt"], e.started);
    assert_eq!(
        s.get("acknowledgedAt").and_then(Value::as_str),
        e.acknowledged
    );
    assert_eq!(s.get("resolvedAt").and_then(Value::as_str), e.resolved);
    assert_eq!(s.get("url").and_then(Value::as_str), e.url);
    assert!(o.get("status").is_none());
}

fn affects(u: &Upsert) -> Vec<&str> {
    u.object["spec"]["affects"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn resolved_ids(u: &Upsert) -> Vec<String> {
    u.resolve
        .iter()
        .map(|r| {
            assert_eq!(r.field, "/spec/affects");
            match &r.target {
                Target::AzureResourceId { id } => id.clone(),
                other => panic!("unexpected target {other:?}"),
            }
        })
        .collect()
}

/// Cut-off bodies are syntax errors, and no prefix of any body panics.
fn assert_truncations_fail_cleanly(parse: Parser, files: &[PathBuf]) {
    for path in files {
        let body = std::fs::read(path).unwrap();
        for len in 0..body.len() {
            let _ = parse(&body[..len], &ctx());
        }
        let half = &body[..body.len() / 2];
        let e = parse(half, &ctx()).unwrap_err();
        assert!(
            matches!(e, IngestError::Syntax { format: "JSON", .. }),
            "{}: {e}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Azure Monitor

const AZ_ALERT_1: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab";
const AZ_STORAGE: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/Microsoft.Storage/storageAccounts/test-storageAccount";

#[test]
fn azure_monitor_corpus() {
    let files = corpus_files("azure-monitor-alerts");
    for path in &files {
        let name = file_name(path);
        let body = std::fs::read(path).unwrap();
        let result = incidents::azure_monitor(&body, &ctx());
        if name.starts_with("alertContext.") {
            // Documentation fragments `{"alertContext": …}`: never a delivery.
            let e = result.unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("data.essentials: required field is missing"),
                "{name}: {e}"
            );
            continue;
        }
        if path.parent().map(file_name) == Some("classic-non-common-schema") {
            assert_eq!(
                result.unwrap(),
                Outcome::Ignored(
                    "classic alert schema: enable the common alert schema on the action group"
                        .into()
                ),
                "{name}"
            );
            continue;
        }
        let u = only_upsert(result.unwrap());
        assert_eq!(u.namespace(), "incidents", "{name}");
        let src = ("azureMonitor", "nexus-azure-monitor");
        match name {
            "full-payload.metric.resolved.json" => {
                check(
                    &u,
                    src.0,
                    src.1,
                    &Expect {
                        name: "azure-monitor-b9569717-bc32-442f-add5-83a997729330",
                        external_id: "/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330",
                        title: "WCUS-R2-Gen2",
                        severity: "low",
                        state: "resolved",
                        started: "2019-03-22T13:58:24Z",
                        acknowledged: None,
                        resolved: Some("2019-03-22T14:03:16Z"),
                        url: None,
                    },
                );
                // The description is empty in the payload.
                assert!(u.object["spec"].get("description").is_none());
                // The rule name, for runbooks that list it in `alerts`.
                assert_eq!(u.object["spec"]["alertRule"], "WCUS-R2-Gen2");
                assert_eq!(u.object["spec"]["tags"], json!(["metric"]));
                assert_eq!(
                    resolved_ids(&u),
                    [
                        "/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/microsoft.compute/virtualmachines/wcus-r2-gen2"
                    ]
                );
            }
            "full-payload.test-action.activity-log.administrative.json" => {
                check(
                    &u,
                    src.0,
                    src.1,
                    &Expect {
                        name: "azure-monitor-12345678-1234-1234-1234-1234567890ab",
                        external_id: AZ_ALERT_1,
                        title: "test-activityLogAlertRule",
                        severity: "info",
                        state: "triggered",
                        started: "2021-11-16T08:29:01Z",
                        acknowledged: None,
                        resolved: None,
                        url: None,
                    },
                );
                assert_eq!(u.object["spec"]["description"], "Alert rule description");
                assert_eq!(u.object["spec"]["tags"], json!(["activity-log"]));
                assert_eq!(
                    resolved_ids(&u),
                    [
                        "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/microsoft.compute/virtualmachines/test-VM"
                    ]
                );
            }
            "full-payload.test-action.metric.fired.json" => {
                check(
                    &u,
                    src.0,
                    src.1,
                    &Expect {
                        name: "azure-monitor-12345678-1234-1234-1234-1234567890ab",
                        external_id: AZ_ALERT_1,
                        title: "test-metricAlertRule",
                        severity: "low",
                        state: "triggered",
                        started: "2021-11-15T09:35:24Z",
                        acknowledged: None,
                        resolved: None,
                        url: None,
                    },
                );
                assert_eq!(resolved_ids(&u), [AZ_STORAGE]);
                assert!(affects(&u).is_empty());
            }
            other => panic!("no expectation for azure-monitor-alerts file {other}"),
        }
    }
    assert_eq!(files.len(), 16);
}

#[test]
fn azure_monitor_affects_from_rule_and_target_mapping() {
    let mut ctx = ctx();
    ctx.services.entries.insert(
        "test-metricalertrule".into(),
        vec!["component:payments/storage-api".into()],
    );
    ctx.services.entries.insert(
        AZ_STORAGE.into(),
        vec!["payments/shop-db".into(), "not a ref".into()],
    );
    let body = read(
        "azure-monitor-alerts/common-alert-schema-azure-docs/full-payload.test-action.metric.fired.json",
    );
    let u = only_upsert(incidents::azure_monitor(&body, &ctx).unwrap());
    assert_eq!(
        affects(&u),
        [
            "component:payments/storage-api",
            "component:payments/shop-db"
        ]
    );
    assert_eq!(u.namespace(), "payments");
    assert_eq!(resolved_ids(&u), [AZ_STORAGE]);
}

#[test]
fn azure_monitor_fired_then_resolved_is_one_object() {
    let body = read(
        "azure-monitor-alerts/common-alert-schema-azure-docs/full-payload.test-action.metric.fired.json",
    );
    let fired = only_upsert(incidents::azure_monitor(&body, &ctx()).unwrap());
    let mut doc: Value = serde_json::from_slice(&body).unwrap();
    doc["data"]["essentials"]["monitorCondition"] = json!("Resolved");
    doc["data"]["essentials"]["resolvedDateTime"] = json!("2021-11-15T10:05:00.1234567Z");
    let resolved =
        only_upsert(incidents::azure_monitor(&serde_json::to_vec(&doc).unwrap(), &ctx()).unwrap());
    assert_eq!(
        (fired.name(), fired.namespace()),
        (resolved.name(), resolved.namespace())
    );
    assert_eq!(resolved.object["spec"]["state"], "resolved");
    assert_eq!(resolved.object["spec"]["startedAt"], "2021-11-15T09:35:24Z");
    assert_eq!(
        resolved.object["spec"]["resolvedAt"],
        "2021-11-15T10:05:00Z"
    );
}

#[test]
fn azure_monitor_truncated() {
    let files: Vec<_> = corpus_files("azure-monitor-alerts")
        .into_iter()
        .filter(|p| file_name(p).starts_with("full-payload"))
        .collect();
    assert_truncations_fail_cleanly(incidents::azure_monitor, &files);
}

// ---------------------------------------------------------------------------------------------
// PagerDuty

#[test]
fn pagerduty_corpus() {
    let files = corpus_files("pagerduty");
    let src = ("pagerduty", "nexus-pagerduty");
    for path in &files {
        let name = file_name(path);
        let body = std::fs::read(path).unwrap();
        let u = only_upsert(incidents::pagerduty(&body, &ctx()).unwrap());
        assert_eq!(u.namespace(), "incidents");
        assert!(u.resolve.is_empty());
        let e = match name {
            "triggered_v3.json" => Expect {
                name: "pagerduty-pfqzpsy",
                external_id: "PFQZPSY",
                title: "Test Incident 3",
                severity: "high",
                state: "triggered",
                // No created_at in this delivery: the event time.
                started: "2021-06-04T13:35:29Z",
                acknowledged: None,
                resolved: None,
                url: Some("https://pig208.pagerduty.com/incidents/PFQZPSY"),
            },
            "acknowledged_v3.json" => Expect {
                name: "pagerduty-pq1k5c8",
                external_id: "PQ1K5C8",
                title: "Test Incident",
                severity: "high",
                state: "acknowledged",
                started: "2021-06-04T13:55:30Z",
                acknowledged: Some("2021-06-04T13:55:30Z"),
                resolved: None,
                url: Some("https://pig208.pagerduty.com/incidents/PQ1K5C8"),
            },
            "resolved_v3.json" => Expect {
                name: "pagerduty-pcpze64",
                external_id: "PCPZE64",
                title: "Test Incident",
                severity: "high",
                state: "resolved",
                started: "2021-06-04T13:16:53Z",
                acknowledged: None,
                resolved: Some("2021-06-04T13:16:53Z"),
                url: Some("https://pig208.pagerduty.com/incidents/PCPZE64"),
            },
            "reassigned_v3.json" => Expect {
                name: "pagerduty-piqug8x",
                external_id: "PIQUG8X",
                title: "Test Incident",
                severity: "high",
                state: "triggered",
                started: "2021-06-04T10:17:54Z",
                acknowledged: None,
                resolved: None,
                url: Some("https://pig208.pagerduty.com/incidents/PIQUG8X"),
            },
            "escalate_v3.json" => Expect {
                name: "pagerduty-q3b15vlmf3asbd",
                external_id: "Q3B15VLMF3ASBD",
                title: "Critical: Checkout API High Latency",
                // Priority P1 wins over urgency high.
                severity: "critical",
                state: "triggered",
                // created_at, not the escalation time (02:08:04).
                started: "2026-04-01T02:07:30Z",
                acknowledged: None,
                resolved: None,
                url: Some("https://harsh0303.pagerduty.com/incidents/Q3B15VLMF3ASBD"),
            },
            other => panic!("no expectation for pagerduty file {other}"),
        };
        check(&u, src.0, src.1, &e);
    }
    assert_eq!(files.len(), 5);
}

#[test]
fn pagerduty_service_mapping_and_namespace() {
    let mut ctx = ctx();
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "pig*".into(),
        namespace: "team-pig".into(),
    });
    ctx.services
        .entries
        .insert("PA2P440".into(), vec!["component:payments/checkout".into()]);
    ctx.services.entries.insert(
        "pig208".into(),
        vec!["system:payments/shop".into(), "team:payments/x".into()],
    );
    let body = read("pagerduty/zulip-fixtures/triggered_v3.json");
    let u = only_upsert(incidents::pagerduty(&body, &ctx).unwrap());
    // Service id first, then service name; a team is not something an incident affects.
    assert_eq!(
        affects(&u),
        ["component:payments/checkout", "system:payments/shop"]
    );
    assert_eq!(u.namespace(), "payments");

    // Unmapped: the namespace rules see the service name.
    let body = read("pagerduty/zulip-fixtures/resolved_v3.json");
    let mut ctx2 = Context::in_namespace("incidents");
    ctx2.namespaces.rules.push(NamespaceRule {
        pattern: "pig*".into(),
        namespace: "team-pig".into(),
    });
    let u = only_upsert(incidents::pagerduty(&body, &ctx2).unwrap());
    assert_eq!(u.namespace(), "team-pig");
    assert!(affects(&u).is_empty());

    ctx2.services.entries.insert(
        "Default Service".into(),
        vec!["component:checkout/api".into()],
    );
    let body = read("pagerduty/zulip-fixtures/escalate_v3.json");
    let u = only_upsert(incidents::pagerduty(&body, &ctx2).unwrap());
    assert_eq!(affects(&u), ["component:checkout/api"]);
    assert_eq!(u.namespace(), "checkout");
}

#[test]
fn pagerduty_triggered_then_resolved_is_one_object() {
    let mut ctx = ctx();
    ctx.services
        .entries
        .insert("PA2P440".into(), vec!["component:payments/checkout".into()]);
    let body = read("pagerduty/zulip-fixtures/triggered_v3.json");
    let triggered = only_upsert(incidents::pagerduty(&body, &ctx).unwrap());
    let mut doc: Value = serde_json::from_slice(&body).unwrap();
    doc["event"]["event_type"] = json!("incident.resolved");
    doc["event"]["occurred_at"] = json!("2021-06-04T14:00:00.5Z");
    doc["event"]["data"]["status"] = json!("resolved");
    let resolved =
        only_upsert(incidents::pagerduty(&serde_json::to_vec(&doc).unwrap(), &ctx).unwrap());
    assert_eq!(triggered.name(), "pagerduty-pfqzpsy");
    assert_eq!(
        (triggered.name(), triggered.namespace()),
        (resolved.name(), resolved.namespace())
    );
    assert_eq!(resolved.object["spec"]["state"], "resolved");
    assert_eq!(
        resolved.object["spec"]["resolvedAt"],
        "2021-06-04T14:00:00Z"
    );
    assert_eq!(affects(&resolved), ["component:payments/checkout"]);

    // Reopened: triggered again, resolvedAt gone (CEL: resolvedAt only when resolved).
    doc["event"]["event_type"] = json!("incident.reopened");
    doc["event"]["data"]["status"] = json!("triggered");
    doc["event"]["data"]["created_at"] = json!("2021-06-04T13:35:29Z");
    let reopened =
        only_upsert(incidents::pagerduty(&serde_json::to_vec(&doc).unwrap(), &ctx).unwrap());
    assert_eq!(reopened.name(), triggered.name());
    assert_eq!(reopened.object["spec"]["state"], "triggered");
    assert_eq!(reopened.object["spec"]["startedAt"], "2021-06-04T13:35:29Z");
    assert!(reopened.object["spec"].get("resolvedAt").is_none());
}

#[test]
fn pagerduty_malformed() {
    let body = read("pagerduty/zulip-fixtures/triggered_v3.json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let cases: [Breakage; 6] = [
        ("event.occurred_at: required field is missing", |d| {
            d["event"].as_object_mut().unwrap().remove("occurred_at");
        }),
        ("event: required field is missing", |d| {
            *d = json!({"ping": 1})
        }),
        ("event.occurred_at: expected an RFC 3339", |d| {
            d["event"]["occurred_at"] = json!("now")
        }),
        ("event.data.id: invalid type", |d| {
            d["event"]["data"]["id"] = json!(7)
        }),
        ("event.data.status: expected triggered", |d| {
            d["event"]["data"]["status"] = json!("open")
        }),
        ("event.data: required field is missing", |d| {
            d["event"].as_object_mut().unwrap().remove("data");
        }),
    ];
    for (expected, edit) in cases {
        let mut d = doc.clone();
        edit(&mut d);
        let e = incidents::pagerduty(&serde_json::to_vec(&d).unwrap(), &ctx()).unwrap_err();
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
}

#[test]
fn pagerduty_truncated() {
    assert_truncations_fail_cleanly(incidents::pagerduty, &corpus_files("pagerduty"));
}

/// A vector computed here with the HMAC construction (RFC 2104) over SHA-256 from the `sha2`
/// crate, independently of the `hmac` crate the verifier uses.
#[test]
fn pagerduty_signature_known_vector() {
    use sha2::{Digest, Sha256};
    let secret = b"whsec-nexus-test";
    let body = read("pagerduty/zulip-fixtures/triggered_v3.json");
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret);
    let pad = |b: u8| key.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(&body)
        .finalize();
    let mac = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();

    assert!(pagerduty_signature_valid(
        secret,
        &body,
        &format!("v1={hex}")
    ));
    // Secret rotation: two signatures, either may match.
    assert!(pagerduty_signature_valid(
        secret,
        &body,
        &format!("v1={},v1={hex}", "ab".repeat(32))
    ));
    assert!(!pagerduty_signature_valid(
        b"other-secret",
        &body,
        &format!("v1={hex}")
    ));
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert!(!pagerduty_signature_valid(
        secret,
        &tampered,
        &format!("v1={hex}")
    ));
    assert!(!pagerduty_signature_valid(
        secret,
        &body,
        &format!("v1={}", &hex[..62])
    ));
    assert!(!pagerduty_signature_valid(secret, &body, &hex));
}

// ---------------------------------------------------------------------------------------------
// Opsgenie

const OG_ALERT: &str = "052652ac-5d1c-464a-812a-7dd18bbfba8c";

#[test]
fn opsgenie_corpus() {
    let files = corpus_files("opsgenie");
    let src = ("opsgenie", "nexus-opsgenie");
    let started = "2015-01-05T10:03:11Z";
    let base = |state, acknowledged, resolved| Expect {
        name: "opsgenie-052652ac-5d1c-464a-812a-7dd18bbfba8c",
        external_id: OG_ALERT,
        title: "test alert",
        // No priority in these deliveries: Opsgenie's default P3.
        severity: "medium",
        state,
        started,
        acknowledged,
        resolved,
        url: None,
    };
    for path in &files {
        let name = file_name(path);
        let body = std::fs::read(path).unwrap();
        let out = incidents::opsgenie(&body, &ctx()).unwrap();
        if name == "escalate.json" {
            let Outcome::Ignored(reason) = out else {
                panic!("{out:?}")
            };
            assert!(
                reason.contains("test_esc")
                    && reason.contains("7ba97e3a-d328-4b5e-8f9a-39e945a3869a"),
                "{reason}"
            );
            continue;
        }
        let u = only_upsert(out);
        assert_eq!(u.namespace(), "incidents");
        let tags = &u.object["spec"]["tags"];
        match name {
            "acknowledge.json" => {
                // acknowledgedAt from updatedAt, given in nanoseconds.
                check(
                    &u,
                    src.0,
                    src.1,
                    &base("acknowledged", Some("2015-01-05T10:03:44Z"), None),
                );
                assert_eq!(*tags, json!(["tag1", "tag2"]));
            }
            "close.json" => {
                check(
                    &u,
                    src.0,
                    src.1,
                    &base("resolved", None, Some("2015-01-05T10:06:14Z")),
                );
                assert!(u.object["spec"].get("tags").is_none());
            }
            "addnote.json" | "addteam.json" | "assignownership.json" => {
                check(&u, src.0, src.1, &base("triggered", None, None));
                assert_eq!(*tags, json!(["tag1", "tag2"]));
            }
            "addtags.json" => {
                check(&u, src.0, src.1, &base("triggered", None, None));
                assert_eq!(*tags, json!(["tag1", "tag2", "tag3"]));
            }
            "create.json" => {
                check(
                    &u,
                    src.0,
                    src.1,
                    &Expect {
                        name: "opsgenie-ec03dad6-62c8-4c94-b38b-d88f398e900f",
                        external_id: "ec03dad6-62c8-4c94-b38b-d88f398e900f",
                        title: "another alert",
                        severity: "medium",
                        state: "triggered",
                        started: "2017-08-14T11:25:56Z",
                        acknowledged: None,
                        resolved: None,
                        url: None,
                    },
                );
                assert_eq!(*tags, json!(["vip"]));
            }
            other => panic!("no expectation for opsgenie file {other}"),
        }
    }
    assert_eq!(files.len(), 8);
}

#[test]
fn opsgenie_acknowledge_then_close_is_one_object() {
    let ack = only_upsert(
        incidents::opsgenie(&read("opsgenie/zulip-fixtures/acknowledge.json"), &ctx()).unwrap(),
    );
    let close = only_upsert(
        incidents::opsgenie(&read("opsgenie/zulip-fixtures/close.json"), &ctx()).unwrap(),
    );
    assert_eq!(
        (ack.name(), ack.namespace()),
        (close.name(), close.namespace())
    );
    assert_eq!(
        ack.object["spec"]["startedAt"],
        close.object["spec"]["startedAt"]
    );
}

#[test]
fn opsgenie_service_keys_teams_tags_entity() {
    let mut ctx = ctx();
    ctx.services
        .entries
        .insert("team2".into(), vec!["component:team-two/api".into()]);
    ctx.services
        .entries
        .insert("tag1".into(), vec!["system:shop/web".into()]);
    ctx.services
        .entries
        .insert("Server".into(), vec!["azureresource:infra/server-1".into()]);
    let u = only_upsert(
        incidents::opsgenie(&read("opsgenie/zulip-fixtures/addteam.json"), &ctx).unwrap(),
    );
    assert_eq!(affects(&u), ["component:team-two/api", "system:shop/web"]);
    assert_eq!(u.namespace(), "team-two");
    let u = only_upsert(
        incidents::opsgenie(&read("opsgenie/zulip-fixtures/create.json"), &ctx).unwrap(),
    );
    assert_eq!(affects(&u), ["azureresource:infra/server-1"]);
    assert_eq!(u.namespace(), "infra");

    // Unmapped: the namespace rules see the first team, else the entity.
    let mut ctx = Context::in_namespace("incidents");
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "server".into(),
        namespace: "ops".into(),
    });
    let u = only_upsert(
        incidents::opsgenie(&read("opsgenie/zulip-fixtures/create.json"), &ctx).unwrap(),
    );
    assert_eq!(u.namespace(), "ops");
}

#[test]
fn opsgenie_priorities_and_timestamp_units() {
    let body = read("opsgenie/zulip-fixtures/create.json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    for (priority, severity) in [
        ("P1", "critical"),
        ("P2", "high"),
        ("P3", "medium"),
        ("P4", "low"),
        ("P5", "info"),
    ] {
        let mut d = doc.clone();
        d["alert"]["priority"] = json!(priority);
        let u = only_upsert(incidents::opsgenie(&serde_json::to_vec(&d).unwrap(), &ctx()).unwrap());
        assert_eq!(u.object["spec"]["severity"], severity, "{priority}");
    }
    // createdAt in seconds, milliseconds (the corpus), microseconds and nanoseconds.
    for created in [
        json!(1502709956),
        json!(1502709956288i64),
        json!(1502709956288000i64),
        json!(1502709956288000110i64),
    ] {
        let mut d = doc.clone();
        d["alert"]["createdAt"] = created.clone();
        let u = only_upsert(incidents::opsgenie(&serde_json::to_vec(&d).unwrap(), &ctx()).unwrap());
        assert_eq!(
            u.object["spec"]["startedAt"], "2017-08-14T11:25:56Z",
            "{created}"
        );
    }
    let mut d = doc.clone();
    d["alert"]["priority"] = json!("P9");
    let e = incidents::opsgenie(&serde_json::to_vec(&d).unwrap(), &ctx()).unwrap_err();
    assert_eq!(e.to_string(), "alert.priority: expected P1..P5");
}

#[test]
fn opsgenie_malformed() {
    let body = read("opsgenie/zulip-fixtures/close.json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let cases: [Breakage; 4] = [
        ("alert.createdAt: required field is missing", |d| {
            d["alert"].as_object_mut().unwrap().remove("createdAt");
        }),
        ("alert.alertId: invalid type", |d| {
            d["alert"]["alertId"] = json!(5)
        }),
        ("(document): missing field `action`", |d| {
            d.as_object_mut().unwrap().remove("action");
        }),
        ("alert.tags: invalid type", |d| {
            d["alert"]["tags"] = json!("tag1")
        }),
    ];
    for (expected, edit) in cases {
        let mut d = doc.clone();
        edit(&mut d);
        let e = incidents::opsgenie(&serde_json::to_vec(&d).unwrap(), &ctx()).unwrap_err();
        assert!(e.to_string().starts_with(expected), "{expected}: {e}");
    }
}

#[test]
fn opsgenie_truncated() {
    assert_truncations_fail_cleanly(incidents::opsgenie, &corpus_files("opsgenie"));
}
