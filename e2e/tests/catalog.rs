//! End-to-end tests of the catalog against a real kube-apiserver (`make test-e2e`).
//! They run one at a time (`--test-threads=1`): each starts its own controller(s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::{collections::BTreeMap, time::Duration};

use kube::{
    Api,
    api::{DeleteParams, DynamicObject, ListParams},
};
use nexus_api::EntityKind;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace, apply_in as apply, catalog, client,
    kubectl, repo_root, wait_for,
};

async fn ready_of(
    client: &kube::Client,
    kind: EntityKind,
    ns: &str,
    name: &str,
) -> anyhow::Result<Option<(String, String, String)>> {
    let obj = catalog::api(client, kind, Some(ns)).get(name).await?;
    Ok(catalog::ready(&obj))
}

async fn wait_ready(
    client: &kube::Client,
    kind: EntityKind,
    ns: &str,
    name: &str,
    want: &str,
    timeout: Duration,
) -> (String, String, String) {
    wait_for(
        &format!("{}:{ns}/{name} Ready={want}", kind.ref_name()),
        timeout,
        || async {
            Ok(match ready_of(client, kind, ns, name).await? {
                Some(r) if r.0 == want => Ok(r),
                other => Err(format!("{other:?}")),
            })
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn examples_apply_cleanly_and_all_become_ready() {
    let client = client().await.unwrap();
    let examples = repo_root().join("examples");
    let (ok, out, err) = kubectl(
        &["apply", "--server-side", "-f", examples.to_str().unwrap()],
        None,
    )
    .unwrap();
    assert!(ok, "examples must apply cleanly: {out}{err}");
    let namespaces: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("namespace/"))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect();
    assert!(
        namespaces.len() >= 5,
        "examples should create per-team namespaces: {out}"
    );

    let mut opts = ControllerOptions::for_namespace("default", "examples");
    opts.watch_namespace = None;
    opts.lease_name = "nexus-e2e-examples".into();
    let ctrl = ControllerProcess::start(&opts).unwrap();
    let started = std::time::Instant::now();
    let objs = wait_for(
        "every example entity Ready=True",
        Duration::from_secs(90),
        || async {
            let objs = catalog::list_all(&client, &namespaces).await?;
            let bad = catalog::not_ready(&objs);
            Ok(if bad.is_empty() {
                Ok(objs)
            } else {
                Err(format!(
                    "{} not ready, e.g. {:?}",
                    bad.len(),
                    &bad[..bad.len().min(5)]
                ))
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\ncontroller log:\n{}", ctrl.log_tail()));
    eprintln!(
        "{} example entities Ready in {:?}",
        objs.len(),
        started.elapsed()
    );

    let count = |k: EntityKind| objs.iter().filter(|(kind, _)| *kind == k).count();
    assert!(count(EntityKind::Team) >= 5, "at least 5 teams");
    assert!(count(EntityKind::Component) >= 25, "at least 25 components");
    assert_eq!(count(EntityKind::Incident), 2, "two incidents");
    for k in [
        EntityKind::System,
        EntityKind::Repository,
        EntityKind::Pipeline,
        EntityKind::Environment,
        EntityKind::AzureResource,
        EntityKind::Api,
        EntityKind::Package,
        EntityKind::WorkItem,
        EntityKind::Runbook,
    ] {
        assert!(count(k) > 0, "examples need {k} entities");
    }
    // Every relation is written on both sides.
    for (kind, o) in &objs {
        let me = format!(
            "{}:{}/{}",
            kind.ref_name(),
            o.metadata.namespace.as_deref().unwrap_or_default(),
            o.metadata.name.as_deref().unwrap_or_default()
        );
        let rels = o.data["status"]["relations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for r in rels {
            let target = r["targetRef"].as_str().unwrap();
            let (tk, rest) = target.split_once(':').unwrap();
            let (tns, tname) = rest.split_once('/').unwrap();
            let other = objs
                .iter()
                .find(|(k, x)| {
                    k.ref_name() == tk
                        && x.metadata.namespace.as_deref() == Some(tns)
                        && x.metadata.name.as_deref() == Some(tname)
                })
                .unwrap_or_else(|| {
                    panic!("{me} relates to {target}, which is not in the examples")
                });
            let back = other.1.data["status"]["relations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                back.iter().any(|b| b["targetRef"] == me.as_str()),
                "{target} lacks the inverse of {} → {me}",
                r["type"]
            );
        }
    }

    // kubectl get catalog -A lists every kind with its printer columns.
    let (ok, out, err) = kubectl(&["get", "catalog", "-A"], None).unwrap();
    assert!(ok, "{err}");
    for header in [
        "TYPE",
        "LIFECYCLE",
        "OWNER",
        "READY",
        "STAGE",
        "SEVERITY",
        "ECOSYSTEM",
    ] {
        assert!(
            out.contains(header),
            "kubectl get catalog -A lacks column {header}:\n{out}"
        );
    }
    for prefix in [
        "component.catalog.nexus.dev/",
        "team.catalog.nexus.dev/",
        "api.catalog.nexus.dev/",
        "incident.catalog.nexus.dev/",
    ] {
        assert!(
            out.contains(prefix),
            "kubectl get catalog -A lacks {prefix} rows"
        );
    }
    let (ok, out, _) = kubectl(&["get", "comp", "-n", &namespaces[1]], None).unwrap();
    assert!(
        ok && out.contains("True"),
        "short name comp works and shows Ready: {out}"
    );
}

#[tokio::test]
async fn dangling_reference_is_reported_then_resolves_when_the_target_appears() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-dangling")
        .await
        .unwrap();
    let _ctrl =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "dangling")).unwrap();
    apply(
        &ns.name,
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: service, lifecycle: production, owner: payments, dependsOn: [ledger]}
"#,
    );
    let (_, reason, message) = wait_ready(
        &client,
        EntityKind::Component,
        &ns.name,
        "checkout",
        "False",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(reason, "DanglingReference");
    assert!(
        message.contains(&format!("spec.owner: team:{}/payments not found", ns.name)),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "spec.dependsOn[0]: component:{}/ledger not found",
            ns.name
        )),
        "{message}"
    );

    let created = std::time::Instant::now();
    apply(
        &ns.name,
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {name: payments}
spec: {displayName: Payments}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: service, lifecycle: production, owner: payments}
"#,
    );
    wait_ready(
        &client,
        EntityKind::Component,
        &ns.name,
        "checkout",
        "True",
        Duration::from_secs(10),
    )
    .await;
    eprintln!(
        "resolved {:?} after the targets were created",
        created.elapsed()
    );
    let obj = catalog::api(&client, EntityKind::Component, Some(&ns.name))
        .get("ledger")
        .await
        .unwrap();
    let rels = obj.data["status"]["relations"].to_string();
    assert!(
        rels.contains("dependencyOf") && rels.contains(&format!("component:{}/checkout", ns.name)),
        "{rels}"
    );
    ns.delete().await;
}

#[tokio::test]
async fn deleting_a_team_flips_its_components_to_not_ready() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-teamdel").await.unwrap();
    let _ctrl =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "teamdel")).unwrap();
    apply(
        &ns.name,
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {name: search}
spec: {displayName: Search}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {name: indexer}
spec: {type: worker, lifecycle: production, owner: search}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {name: query-api}
spec: {type: service, lifecycle: production, owner: team:search}
"#,
    );
    for c in ["indexer", "query-api"] {
        wait_ready(
            &client,
            EntityKind::Component,
            &ns.name,
            c,
            "True",
            Duration::from_secs(20),
        )
        .await;
    }
    catalog::api(&client, EntityKind::Team, Some(&ns.name))
        .delete("search", &DeleteParams::default())
        .await
        .unwrap();
    for c in ["indexer", "query-api"] {
        let (_, reason, message) = wait_ready(
            &client,
            EntityKind::Component,
            &ns.name,
            c,
            "False",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(reason, "DanglingReference");
        assert!(
            message.contains(&format!("spec.owner: team:{}/search not found", ns.name)),
            "{message}"
        );
    }
    let events = kubectl(
        &[
            "get",
            "events",
            "-n",
            &ns.name,
            "--field-selector",
            "reason=DanglingReference",
            "-o",
            "name",
        ],
        None,
    )
    .unwrap();
    assert!(
        !events.1.trim().is_empty(),
        "a Warning event is published on the transition"
    );
    ns.delete().await;
}

#[tokio::test]
async fn invalid_examples_are_rejected_with_their_rule_message() {
    let client = client().await.unwrap();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = kubectl(&["create", "namespace", "invalid-examples"], None).unwrap();
    let dir = repo_root().join("examples/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected one invalid example per rule, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        // A List means: all items but the last must apply, the last must be rejected (rules
        // that only an update can break, like immutability).
        let (setup, last) = match doc["items"].as_array() {
            Some(items) if doc["kind"] == "List" => (
                items[..items.len() - 1].to_vec(),
                items[items.len() - 1].clone(),
            ),
            _ => (vec![], doc.clone()),
        };
        for item in setup {
            let (ok, _, err) = kubectl(
                &["apply", "--server-side", "-f", "-"],
                Some(&item.to_string()),
            )
            .unwrap();
            assert!(ok, "{}: setup object must apply: {err}", file.display());
        }
        let expected = last["metadata"]["annotations"]["nexus.dev/expected-error"]
            .as_str()
            .unwrap_or_else(|| panic!("{} lacks nexus.dev/expected-error", file.display()))
            .to_string();
        let (ok, _, err) = kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&last.to_string()),
        )
        .unwrap();
        if ok {
            failures.push(format!("{}: was accepted", file.display()));
        } else if !err.contains(&expected) {
            failures.push(format!(
                "{}: rejected, but without {expected:?}: {err}",
                file.display()
            ));
        }
    }
    let _ = ns_api
        .delete("invalid-examples", &DeleteParams::background())
        .await;
    assert!(
        failures.is_empty(),
        "{} of {} invalid examples misbehaved:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Spec and generation of every object, to prove the controller never writes spec.
async fn specs(client: &kube::Client, ns: &str) -> BTreeMap<String, (String, i64, String)> {
    let mut out = BTreeMap::new();
    for kind in EntityKind::ALL {
        for o in catalog::api(client, kind, Some(ns))
            .list(&ListParams::default())
            .await
            .unwrap()
        {
            out.insert(
                format!("{kind}/{}", o.metadata.name.clone().unwrap_or_default()),
                (
                    o.data["spec"].to_string(),
                    o.metadata.generation.unwrap_or_default(),
                    o.metadata.resource_version.clone().unwrap_or_default(),
                ),
            );
        }
    }
    out
}

fn small_org(n: usize) -> String {
    let mut y = String::from(
        "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Team\nmetadata: {name: core}\nspec: {displayName: Core}\n",
    );
    y.push_str("---\napiVersion: catalog.nexus.dev/v1alpha1\nkind: System\nmetadata: {name: shop}\nspec: {owner: core}\n");
    for i in 0..n {
        let dep = if i > 0 {
            format!(", dependsOn: [svc-{}]", i - 1)
        } else {
            String::new()
        };
        y.push_str(&format!("---\napiVersion: catalog.nexus.dev/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\nspec: {{type: service, lifecycle: production, owner: core, system: shop{dep}}}\n"));
    }
    y
}

#[tokio::test]
async fn restarted_controller_changes_no_spec_and_writes_nothing_new() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-restart").await.unwrap();
    apply(&ns.name, &small_org(20));
    let mut first =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "restart-a")).unwrap();
    wait_for("all Ready", Duration::from_secs(30), || async {
        let bad =
            catalog::not_ready(&catalog::list_all(&client, std::slice::from_ref(&ns.name)).await?);
        Ok(if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("{bad:?}"))
        })
    })
    .await
    .unwrap();
    // Let trailing reconciles settle, then snapshot.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = specs(&client, &ns.name).await;
    first.kill();

    let second =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "restart-b")).unwrap();
    wait_for(
        "the new controller to lead (after the crashed one's lease expires)",
        Duration::from_secs(30),
        || async {
            Ok(if second.is_leader().await {
                Ok(())
            } else {
                Err("standby".into())
            })
        },
    )
    .await
    .unwrap();
    // Every object is reconciled once after the initial list; give that time to finish.
    wait_for(
        "a reconcile of every entity",
        Duration::from_secs(30),
        || async {
            let m = second.metrics().await?;
            let done = nexus_e2e::sum_metric(&m, "nexus_reconcile_total");
            Ok(if done >= 22.0 {
                Ok(())
            } else {
                Err(format!("{done} reconciles"))
            })
        },
    )
    .await
    .unwrap();
    let writes = second
        .metric_sum("nexus_status_writes_total")
        .await
        .unwrap();
    let after = specs(&client, &ns.name).await;
    assert_eq!(before.len(), after.len());
    for (k, (spec, generation, rv)) in &before {
        let (spec2, generation2, rv2) = &after[k];
        assert_eq!(spec, spec2, "{k}: spec changed");
        assert_eq!(generation, generation2, "{k}: generation changed");
        assert_eq!(rv, rv2, "{k}: object was written again after the restart");
    }
    assert_eq!(
        writes, 0.0,
        "a restarted controller must not rewrite an unchanged status"
    );
    ns.delete().await;
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_fail_over() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-leader").await.unwrap();
    let mut a =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "leader-a")).unwrap();
    let mut b =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "leader-b")).unwrap();
    let leader = wait_for("exactly one leader", Duration::from_secs(20), || async {
        let (la, lb) = (a.is_leader().await, b.is_leader().await);
        Ok(match (la, lb) {
            (true, false) => Ok("leader-a"),
            (false, true) => Ok("leader-b"),
            other => Err(format!("{other:?}")),
        })
    })
    .await
    .unwrap();
    // Hold for a few renewals: still exactly one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_ne!(
        a.is_leader().await,
        b.is_leader().await,
        "both or neither lead"
    );
    let lease: k8s_openapi::api::coordination::v1::Lease =
        Api::namespaced(client.clone(), &ns.name)
            .get("nexus-controller")
            .await
            .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(leader));

    let (dead, survivor) = if leader == "leader-a" {
        (&mut a, &b)
    } else {
        (&mut b, &a)
    };
    dead.kill();
    let killed = std::time::Instant::now();
    wait_for(
        "the standby to take over",
        Duration::from_secs(30),
        || async {
            Ok(if survivor.is_leader().await {
                Ok(())
            } else {
                Err("standby".into())
            })
        },
    )
    .await
    .unwrap();
    eprintln!("fail-over took {:?} (lease 4s)", killed.elapsed());
    // The new leader actually reconciles.
    apply(
        &ns.name,
        "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Team\nmetadata: {name: t}\nspec: {displayName: T}\n",
    );
    wait_ready(
        &client,
        EntityKind::Team,
        &ns.name,
        "t",
        "True",
        Duration::from_secs(20),
    )
    .await;

    // A graceful stop releases the lease.
    let survivor_is_a = leader != "leader-a";
    let s = if survivor_is_a { &mut a } else { &mut b };
    let status = s.terminate().unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0: {status:?}\n{}",
        s.log_tail()
    );
    let lease: k8s_openapi::api::coordination::v1::Lease =
        Api::namespaced(client.clone(), &ns.name)
            .get("nexus-controller")
            .await
            .unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity,
        None,
        "the lease is released on SIGTERM"
    );
    ns.delete().await;
}

#[tokio::test]
async fn status_is_owned_by_the_catalog_field_manager_only() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-ssa").await.unwrap();
    let _ctrl =
        ControllerProcess::start(&ControllerOptions::for_namespace(&ns.name, "ssa")).unwrap();
    apply(&ns.name, &small_org(1));
    wait_ready(
        &client,
        EntityKind::Component,
        &ns.name,
        "svc-0",
        "True",
        Duration::from_secs(20),
    )
    .await;
    let obj: DynamicObject = catalog::api(&client, EntityKind::Component, Some(&ns.name))
        .get("svc-0")
        .await
        .unwrap();
    let managers = obj.metadata.managed_fields.clone().unwrap_or_default();
    let catalog_entry = managers
        .iter()
        .find(|m| m.manager.as_deref() == Some("nexus-catalog"))
        .expect("nexus-catalog manages status");
    assert_eq!(catalog_entry.subresource.as_deref(), Some("status"));
    assert_eq!(catalog_entry.operation.as_deref(), Some("Apply"));
    let fields = catalog_entry
        .fields_v1
        .as_ref()
        .map(|f| f.0.to_string())
        .unwrap_or_default();
    assert!(
        !fields.contains("\"f:spec\""),
        "the controller must not own spec fields: {fields}"
    );
    ns.delete().await;
}
