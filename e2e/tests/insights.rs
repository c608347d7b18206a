//! End-to-end tests of DORA and the leadership views against the real local control plane
//! (`make test-e2e`): a scripted deployment, push and incident history written into
//! Component, Repository and Incident objects, the DORA controller turning it into
//! `status.dora`, and nexus-apiserver serving `/insights/*` on both faces — with every figure
//! computed by hand in the comments — plus scorecard results (written here the way the
//! scorecard controller writes them) in the heatmap, rankings, distribution and trends, filtered
//! by RBAC. One at a time (`--test-threads=1`): each starts its own controller and apiserver.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::time::Duration;

use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace,
    apiserver::{ApiserverOptions, ApiserverProcess},
    client, kubectl, kubectl_apply, kubectl_ok, short_id, wait_for,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A merge patch of `status` (what an ingestion or scorecard controller would write).
fn patch_status(kind: &str, ns: &str, name: &str, status: Value) {
    let patch = json!({ "status": status }).to_string();
    kubectl_ok(&[
        "patch",
        kind,
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn get_json(kind: &str, ns: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(&["get", kind, name, "-n", ns, "-o", "json"])).unwrap()
}

/// Cluster-scoped objects and namespaces a test created, deleted when it ends (also when it
/// fails half-way).
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for object in &self.0 {
            let _ = kubectl(
                &["delete", object, "--ignore-not-found", "--wait=false"],
                None,
            );
        }
    }
}

/// Portal access (`insights`, `dashboards`) cluster-wide for `groups`, and catalog read: for
/// each (group, namespace) a RoleBinding, or a ClusterRoleBinding when the namespace is `None`.
fn rbac(prefix: &str, portal_groups: &[&str], catalog: &[(&str, Option<&str>)]) -> Cleanup {
    let portal = format!("{prefix}-portal");
    let read = format!("{prefix}-catalog-read");
    let subjects: String = portal_groups
        .iter()
        .map(|g| format!("- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {g}}}\n"))
        .collect();
    let mut yaml = format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {portal}}}
rules:
- apiGroups: [portal.nexus.dev]
  resources: [insights, dashboards, entities]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {read}}}
rules:
- apiGroups: [catalog.nexus.dev]
  resources: ["*"]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {portal}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {portal}}}
subjects:
{subjects}"#
    );
    let mut cleanup = vec![
        format!("clusterrolebinding/{portal}"),
        format!("clusterrole/{portal}"),
        format!("clusterrole/{read}"),
    ];
    for (n, (group, ns)) in catalog.iter().enumerate() {
        let subject =
            format!("{{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {group}}}");
        match ns {
            Some(ns) => yaml.push_str(&format!(
                "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {read}-{n}, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {read}}}\nsubjects:\n- {subject}\n"
            )),
            None => {
                yaml.push_str(&format!(
                    "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {read}-{n}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {read}}}\nsubjects:\n- {subject}\n"
                ));
                cleanup.push(format!("clusterrolebinding/{read}-{n}"));
            }
        }
    }
    kubectl_apply(None, &yaml);
    Cleanup(cleanup)
}

/// A controller watching every namespace (the tests span two), leased in `ns`.
fn controller(ns: &str, identity: &str) -> ControllerProcess {
    let mut opts = ControllerOptions::for_namespace(ns, identity);
    opts.watch_namespace = None;
    // The tests write `status.scorecards` themselves (the scorecard controller's own e2e covers
    // how results are made); a running scorecard controller would replace them.
    opts.extra_args = vec!["--scorecards=false".into()];
    ControllerProcess::start(&opts).unwrap()
}

/// GET on the portal face until `check` accepts the 200 answer (RBAC and the cache take a
/// moment to converge); the last answer when it never does.
async fn portal_until(
    api: &ApiserverProcess,
    path: &str,
    token: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, Duration::from_secs(60), || async {
        let a = api.portal(path, Some(token)).await?;
        Ok(if a.status == 200 && check(&a.json) {
            Ok(a.json)
        } else {
            Err(format!("HTTP {}: {}", a.status, a.text))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\napiserver log:\n{}", api.log_tail()))
}

/// The Component's `status.dora`, once `check` accepts it.
async fn dora_until(ns: &str, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, Duration::from_secs(60), || async {
        let c = get_json("components.catalog.nexus.dev", ns, name);
        let dora = c["status"]["dora"].clone();
        Ok(if check(&dora) {
            Ok(dora)
        } else {
            Err(dora.to_string())
        })
    })
    .await
    .unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|l| {
            l.iter()
                .map(|d| d["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn record(id: &str, env: &str, status: &str, at: &str, sha: Option<&str>, creator: &str) -> Value {
    let mut r = json!({"id": id, "environment": env, "status": status, "createdAt": at,
        "updatedAt": at, "creator": creator});
    if let Some(sha) = sha {
        r["sha"] = json!(sha);
    }
    r
}

fn incident(ns: &str, name: &str, affects: &str, started: &str, resolved: Option<&str>) -> String {
    let end = match resolved {
        Some(r) => format!("state: resolved\n  resolvedAt: \"{r}\""),
        None => "state: triggered".to_string(),
    };
    format!(
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Incident
metadata: {{name: {name}, namespace: {ns}}}
spec:
  title: {name}
  source: manual
  severity: high
  {end}
  startedAt: "{started}"
  affects: [{affects}]
---
"#
    )
}

// ---------------------------------------------------------------------------------------------
// 1. DORA from a scripted history

/// The history (namespace `a`, team payments; ann has a User with GitHub login ann-gh, bob has
/// none):
///
/// checkout's deployment records (repository checkout-repo):
/// - d1 production success 2026-03-02 12:00 ann-gh, sha aaaaaaa2
/// - d2 production success 2026-03-10 12:00 ann-gh, sha aaaaaaa4
/// - d3 staging    success 2026-03-11 12:00 ann-gh (not production: not counted)
/// - d4 production failure 2026-03-12 12:00 ann-gh (not successful: not counted)
/// - d5 production success 2026-03-20 12:00 bob,    sha aaaaaaa5
///
/// ledger's records (no repository): l1 prod success 2026-03-15 08:00 ann-gh, no sha.
///
/// checkout-repo's pushes: [aaaaaaa1 03-02 06:00, aaaaaaa2 03-02 10:00], [aaaaaaa3 03-08 12:00,
/// aaaaaaa4 03-09 12:00], [aaaaaaa5 03-19 12:00].
///
/// Lead times (deployment finished − commit time, the commits after the previous deployed one):
/// - d1 (first seen: its push): 6 h, 2 h → 21_600, 7_200
/// - d2 (after aaaaaaa2: aaaaaaa3, aaaaaaa4): 2 d, 1 d → 172_800, 86_400
/// - d5 (after aaaaaaa4: aaaaaaa5): 1 d → 86_400
///
/// Incidents (attributed to the last deployment of the affected service before them):
/// - inc-1 checkout 03-10 14:00 → 16:00 (7_200 s) → d2
/// - inc-2 checkout 03-21 00:00 → 00:30 (1_800 s) → d5
/// - inc-3 ledger   03-16 00:00, open → l1
///
/// Month ending 2026-03-31 (03-02 … 03-31):
/// - checkout: deployments d1 d2 d5 = 3 (3/30 = 0.1 a day: medium); failed d2 d5 = 2 (CFR 2/3:
///   low); lead times 7_200 21_600 86_400 86_400 172_800 → median 86_400 (one day: high);
///   incidents 2, recovery 1_800 7_200 → median 4_500 (high).
/// - team payments: d1 d2 d5 l1 = 4 (0.133 a day: medium); failed d2 d5 l1 = 3 (0.75: low);
///   lead median 86_400 (high); incidents 3; recovery median 4_500 (high).
/// - ann (user:a/ann): d1 d2 l1 = 3, failed d2 l1 = 2; lead 7_200 21_600 86_400 172_800 →
///   median 54_000 (high); incidents inc-1 inc-3 = 2, recovery 7_200 (high).
/// - bob (login bob): d5 = 1, failed 1; lead 86_400; incident inc-2, recovery 1_800.
///
/// Week ending 2026-03-21 (03-15 … 03-21), team payments: d5 and l1 = 2, both failed;
/// incidents inc-3 and inc-2 = 2.
#[tokio::test]
async fn dora_of_a_scripted_history_equals_the_hand_computed_values() {
    let kube = client().await.unwrap();
    let ns = TestNamespace::create(&kube, "e2e-dora").await.unwrap();
    let a = ns.name.clone();
    let id = short_id();
    let lead = format!("insights-lead-{id}");
    let mut cleanup = rbac(&format!("e2e-dora-{id}"), &[&lead], &[(&lead, None)]);
    cleanup.0.push(format!("namespace/{a}"));
    let mut ctrl = controller(&a, "dora-1");

    kubectl_apply(
        None,
        &format!(
            r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: payments, namespace: {a}}}
spec: {{displayName: Payments}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: User
metadata: {{name: ann, namespace: {a}}}
spec: {{email: ann@contoso.com, githubLogin: ann-gh, memberOf: [payments]}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Repository
metadata: {{name: checkout-repo, namespace: {a}}}
spec: {{provider: github, url: "https://github.com/contoso/checkout", owner: payments}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: checkout, namespace: {a}}}
spec: {{type: service, lifecycle: production, owner: payments, repository: checkout-repo}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: ledger, namespace: {a}}}
spec: {{type: service, lifecycle: production, owner: payments}}
"#
        ),
    );
    // The catalog controller resolves the owners the deployments are credited to.
    for name in ["checkout", "ledger"] {
        wait_for("owners resolved", Duration::from_secs(60), || async {
            let c = get_json("components.catalog.nexus.dev", &a, name);
            Ok(
                if c["status"]["owner"]["ref"] == format!("team:{a}/payments") {
                    Ok(())
                } else {
                    Err(c["status"].to_string())
                },
            )
        })
        .await
        .unwrap();
    }
    patch_status(
        "repositories.catalog.nexus.dev",
        &a,
        "checkout-repo",
        json!({"pushes": [
            {"sha": "aaaaaaa5", "branch": "main", "commits": [{"sha": "aaaaaaa5", "timestamp": "2026-03-19T12:00:00Z"}]},
            {"sha": "aaaaaaa4", "branch": "main", "commits": [
                {"sha": "aaaaaaa3", "timestamp": "2026-03-08T12:00:00Z"},
                {"sha": "aaaaaaa4", "timestamp": "2026-03-09T12:00:00Z"}]},
            {"sha": "aaaaaaa2", "branch": "main", "commits": [
                {"sha": "aaaaaaa1", "timestamp": "2026-03-02T06:00:00Z"},
                {"sha": "aaaaaaa2", "timestamp": "2026-03-02T10:00:00Z"}]},
        ]}),
    );
    // Commit times must be there before the deployments are counted (the first count wins):
    // stored, and (a moment later) seen by the controller's watch.
    wait_for("pushes stored", Duration::from_secs(10), || async {
        let r = get_json("repositories.catalog.nexus.dev", &a, "checkout-repo");
        Ok(
            if r["status"]["pushes"]
                .as_array()
                .is_some_and(|p| p.len() == 3)
            {
                Ok(())
            } else {
                Err(r["status"].to_string())
            },
        )
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let checkout_records = json!([
        record(
            "d5",
            "production",
            "success",
            "2026-03-20T12:00:00Z",
            Some("aaaaaaa5"),
            "bob"
        ),
        record(
            "d4",
            "production",
            "failure",
            "2026-03-12T12:00:00Z",
            Some("aaaaaaa4"),
            "ann-gh"
        ),
        record(
            "d3",
            "staging",
            "success",
            "2026-03-11T12:00:00Z",
            Some("aaaaaaa4"),
            "ann-gh"
        ),
        record(
            "d2",
            "production",
            "success",
            "2026-03-10T12:00:00Z",
            Some("aaaaaaa4"),
            "ann-gh"
        ),
        record(
            "d1",
            "production",
            "success",
            "2026-03-02T12:00:00Z",
            Some("aaaaaaa2"),
            "ann-gh"
        ),
    ]);
    patch_status(
        "components.catalog.nexus.dev",
        &a,
        "checkout",
        json!({"deployments": checkout_records}),
    );
    patch_status(
        "components.catalog.nexus.dev",
        &a,
        "ledger",
        json!({"deployments": [record("l1", "prod", "success", "2026-03-15T08:00:00Z", None, "ann-gh")]}),
    );
    kubectl_apply(
        None,
        &format!(
            "{}{}{}",
            incident(
                &a,
                "inc-1",
                "checkout",
                "2026-03-10T14:00:00Z",
                Some("2026-03-10T16:00:00Z")
            ),
            incident(
                &a,
                "inc-2",
                "checkout",
                "2026-03-21T00:00:00Z",
                Some("2026-03-21T00:30:00Z")
            ),
            incident(&a, "inc-3", "ledger", "2026-03-16T00:00:00Z", None),
        ),
    );

    // The stored buckets.
    let checkout = dora_until(
        &a,
        "checkout",
        "checkout's DORA status with both incidents",
        |d| {
            ids(&d["deployments"]) == ["d5", "d2", "d1"]
                && d["incidents"].as_array().is_some_and(|i| i.len() == 2)
        },
    )
    .await;
    let deployments = checkout["deployments"].as_array().unwrap();
    assert_eq!(
        deployments[2]["person"],
        format!("user:{a}/ann"),
        "ann-gh is ann's GitHub login"
    );
    assert_eq!(deployments[0]["person"], "bob", "no User matches bob");
    assert_eq!(deployments[0]["team"], format!("team:{a}/payments"));
    assert_eq!(
        (
            deployments[0]["incidents"].as_u64(),
            deployments[1]["incidents"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        deployments[2]["incidents"].as_u64(),
        None,
        "d1 caused nothing"
    );
    let linked: Vec<(&str, &str)> = checkout["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["deployment"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    let (inc1, inc2) = (format!("{a}/inc-1"), format!("{a}/inc-2"));
    assert_eq!(linked, [(inc2.as_str(), "d5"), (inc1.as_str(), "d2")]);
    let d0310 = checkout["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-03-10")
        .unwrap();
    assert_eq!(d0310["deployments"], 1);
    assert_eq!(d0310["failedDeployments"], 1);
    assert_eq!(d0310["incidents"], 1);
    assert_eq!(d0310["leadTimes"], json!([86_400, 172_800]));
    assert_eq!(d0310["recoveries"], json!([7_200]));
    let ledger = dora_until(&a, "ledger", "ledger's DORA status with inc-3", |d| {
        d["incidents"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(ledger["deployments"][0]["incidents"], 1);

    // The read API.
    let mut api = ApiserverProcess::start_ready(&ApiserverOptions::new("dora"))
        .await
        .unwrap();
    let token = api.token("lead@contoso.com", &[&lead]).unwrap();
    let dora = |scope: &str, name: &str, window: &str, end: &str| {
        format!("/api/v1/insights/dora?scope={scope}&name={name}&window={window}&end={end}")
    };
    let service = portal_until(
        &api,
        &dora("service", &format!("{a}/checkout"), "month", "2026-03-31"),
        &token,
        "checkout's month",
        |v| v["metrics"]["incidents"] == 2,
    )
    .await;
    assert_eq!(service["name"], format!("component:{a}/checkout"));
    let m = &service["metrics"];
    assert_eq!(
        (m["start"].as_str(), m["end"].as_str()),
        (Some("2026-03-02"), Some("2026-03-31"))
    );
    assert_eq!(m["deployments"], 3);
    assert_eq!(m["failedDeployments"], 2);
    assert_eq!(m["deploymentFrequency"], 0.1);
    assert_eq!(m["leadTimeSeconds"], 86_400.0);
    assert_eq!(m["leadTimeSamples"], 5);
    assert_eq!(m["changeFailureRate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(m["recoveryTimeSeconds"], 4_500.0);
    assert_eq!(
        m["tiers"],
        json!({"deploymentFrequency": "medium", "leadTime": "high", "changeFailureRate": "low", "recoveryTime": "high"})
    );

    let team = portal_until(
        &api,
        &dora("team", &format!("team:{a}/payments"), "month", "2026-03-31"),
        &token,
        "the team's month",
        |v| v["metrics"]["incidents"] == 3,
    )
    .await;
    let m = &team["metrics"];
    assert_eq!(team["services"], 2);
    assert_eq!(
        (m["deployments"].as_u64(), m["failedDeployments"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(m["changeFailureRate"], 0.75);
    assert_eq!(m["leadTimeSeconds"], 86_400.0);
    assert_eq!(m["recoveryTimeSeconds"], 4_500.0);
    assert_eq!(m["tiers"]["deploymentFrequency"], "medium");

    let ann = portal_until(
        &api,
        &dora("person", "ann-gh", "month", "2026-03-31"),
        &token,
        "ann's month",
        |v| v["metrics"]["deployments"] == 3,
    )
    .await;
    assert_eq!(
        ann["name"],
        format!("user:{a}/ann"),
        "the login resolves to ann's User"
    );
    let m = &ann["metrics"];
    assert_eq!(
        (m["failedDeployments"].as_u64(), m["incidents"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(m["leadTimeSeconds"], 54_000.0);
    assert_eq!(m["recoveryTimeSeconds"], 7_200.0);
    let bob = portal_until(
        &api,
        &dora("person", "bob", "month", "2026-03-31"),
        &token,
        "bob's month",
        |v| v["metrics"]["deployments"] == 1,
    )
    .await;
    assert_eq!(
        (
            bob["metrics"]["failedDeployments"].as_u64(),
            bob["metrics"]["recoveryTimeSeconds"].as_f64()
        ),
        (Some(1), Some(1_800.0))
    );

    let week = portal_until(
        &api,
        &dora("team", &format!("{a}/payments"), "week", "2026-03-21"),
        &token,
        "the team's week",
        |v| v["metrics"]["deployments"] == 2,
    )
    .await;
    assert_eq!(
        (
            week["metrics"]["failedDeployments"].as_u64(),
            week["metrics"]["incidents"].as_u64()
        ),
        (Some(2), Some(2))
    );

    // Weekly trend: weeks ending 03-17, 03-24, 03-31 → d2 on 03-10 is outside; 03-11…03-17:
    // l1 (03-15); 03-18…03-24: d5; 03-25…03-31: none.
    let trend = portal_until(
        &api,
        &format!("/api/v1/insights/dora-trend?scope=team&name={a}/payments&weeks=3&end=2026-03-31"),
        &token,
        "the team's weekly trend",
        |v| v["points"].as_array().is_some_and(|p| p.len() == 3),
    )
    .await;
    let weekly: Vec<(String, u64)> = trend["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["end"].as_str().unwrap().to_string(),
                p["deployments"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weekly,
        [
            ("2026-03-17".to_string(), 1),
            ("2026-03-24".to_string(), 1),
            ("2026-03-31".to_string(), 0)
        ]
    );

    // The aggregated face answers the same figures.
    api.register().unwrap();
    let raw = kubectl_ok(&[
        "get",
        "--raw",
        &format!(
            "/apis/portal.nexus.dev/v1alpha1/insights/dora?scope=service&name={a}/checkout&window=month&end=2026-03-31"
        ),
    ]);
    let agg: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(agg["kind"], "DoraMetrics");
    assert_eq!(agg["metrics"]["deployments"], 3);
    assert_eq!(agg["metrics"]["leadTimeSeconds"], 86_400.0);

    // Nothing stored is lost and nothing is recomputed from scratch: d1 leaves checkout's
    // (bounded) records, the controller restarts, and the buckets still count it.
    let kept: Vec<Value> = checkout_records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] != "d1")
        .cloned()
        .collect();
    patch_status(
        "components.catalog.nexus.dev",
        &a,
        "checkout",
        json!({"deployments": kept}),
    );
    let updated_at = checkout["updatedAt"].clone();
    ctrl.kill();
    let _ctrl = controller(&a, "dora-2");
    // A recent deployment by ann, two days ago, so the restarted controller has work and the
    // dashboard's windows (which end today) see it.
    let recent = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    patch_status(
        "components.catalog.nexus.dev",
        &a,
        "ledger",
        json!({"deployments": [
            record("l2", "prod", "success", &recent, None, "ann-gh"),
            record("l1", "prod", "success", "2026-03-15T08:00:00Z", None, "ann-gh")]}),
    );
    dora_until(&a, "ledger", "l2 counted after the restart", |d| {
        ids(&d["deployments"]).first().map(String::as_str) == Some("l2")
    })
    .await;
    let checkout_after = get_json("components.catalog.nexus.dev", &a, "checkout");
    assert_eq!(
        checkout_after["status"]["dora"]["updatedAt"], updated_at,
        "checkout's status was not rewritten by the restart"
    );
    assert_eq!(
        ids(&checkout_after["status"]["dora"]["deployments"]),
        ["d5", "d2", "d1"]
    );
    let service = portal_until(
        &api,
        &dora("service", &format!("{a}/checkout"), "month", "2026-03-31"),
        &token,
        "checkout's month after the restart",
        |v| v["metrics"]["deployments"] == 3,
    )
    .await;
    assert_eq!(service["metrics"]["leadTimeSamples"], 5);

    // Personal DORA on ann's dashboard: l2 (two days ago) in every window.
    let ann_token = api.token("ann@contoso.com", &[&lead]).unwrap();
    let board = portal_until(
        &api,
        "/api/v1/me/dashboard",
        &ann_token,
        "ann's dashboard",
        |v| v["myDora"]["week"]["deployments"] == 1,
    )
    .await;
    assert_eq!(board["myDora"]["person"], format!("user:{a}/ann"));
    assert_eq!(board["myDora"]["quarter"]["deployments"], 1);
    assert!(board["myServices"].is_object() && board["myDeployments"].is_object());

    // Recompute: from before d1 would lose it (no longer listed) — refused; from 03-15 it
    // rebuilds the days from then on and keeps the figures.
    kubectl_ok(&[
        "annotate",
        "components.catalog.nexus.dev",
        "checkout",
        "-n",
        &a,
        "dora.nexus.dev/recompute=2026-03-01",
    ]);
    let refused = dora_until(&a, "checkout", "the refused recompute recorded", |d| {
        d["recompute"]["requested"] == "2026-03-01"
    })
    .await;
    assert_eq!(refused["recompute"]["outcome"], "Rejected");
    let message = refused["recompute"]["message"].as_str().unwrap();
    assert!(
        message.contains("deployment d1") && message.contains("recompute from 2026-03-03 or later"),
        "{message}"
    );
    kubectl_ok(&[
        "annotate",
        "--overwrite",
        "components.catalog.nexus.dev",
        "checkout",
        "-n",
        &a,
        "dora.nexus.dev/recompute=2026-03-15",
    ]);
    let recomputed = dora_until(&a, "checkout", "the recompute from 03-15", |d| {
        d["recompute"]["requested"] == "2026-03-15"
    })
    .await;
    assert_eq!(
        recomputed["recompute"]["outcome"], "Recomputed",
        "{recomputed}"
    );
    assert_eq!(recomputed["frozenBefore"], "2026-03-15");
    let service = portal_until(
        &api,
        &dora("service", &format!("{a}/checkout"), "month", "2026-03-31"),
        &token,
        "checkout's month after the recompute",
        |v| v["metrics"]["deployments"] == 3,
    )
    .await;
    let m = &service["metrics"];
    assert_eq!(
        (m["failedDeployments"].as_u64(), m["incidents"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(m["leadTimeSeconds"], 86_400.0);
    assert_eq!(m["recoveryTimeSeconds"], 4_500.0);

    // Bad input is a clear 400.
    let bad = api
        .portal(
            "/api/v1/insights/dora?scope=service&name=checkout&window=year",
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.message().contains("window `year`"), "{}", bad.text);
    drop(api);
    ns.delete().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Leadership views from scorecard results, filtered by RBAC

fn scorecard_result(scorecard: &str, score: u8, level: Option<&str>, passed: bool) -> Value {
    json!({"scorecard": scorecard, "score": score, "level": level, "passed": passed,
        "rulesPassed": 1, "rulesTotal": 2, "evaluatedAt": "2026-03-31T00:00:00Z"})
}

/// Team a (payments) owns a1 (prod-ready 80 Silver, passed) and a2 (40 Bronze); team b
/// (search) owns b1 (95 Gold, passed). The lead sees both namespaces; the developer only a.
///
/// - heatmap for the lead: payments prod-ready: 2 entities, average (80 + 40) / 2 = 60.0,
///   passed 1 → 50 %, Bronze 1 / Silver 1 / Gold 0; search: 1, 95.0, 100 %, Gold 1.
/// - rankings: search (95.0) first, payments (60.0) second; the developer sees payments only,
///   ranked first.
/// - distribution for the lead: bins 40–49, 80–89, 90–100 one each, average 215 / 3 = 71.7.
/// - trends from two daily snapshots: 03-30 a1 70, b1 90 → 80.0; 03-31 a1 80, a2 40, b1 95 →
///   71.7; the developer: 70.0, then 60.0.
#[tokio::test]
async fn leadership_views_come_from_scorecard_results_and_follow_rbac() {
    let kube = client().await.unwrap();
    let ns_a = TestNamespace::create(&kube, "e2e-ins-a").await.unwrap();
    let ns_b = TestNamespace::create(&kube, "e2e-ins-b").await.unwrap();
    let ns_org = TestNamespace::create(&kube, "e2e-ins-org").await.unwrap();
    let (a, b, org) = (ns_a.name.clone(), ns_b.name.clone(), ns_org.name.clone());
    let id = short_id();
    let (lead, dev) = (format!("ins-lead-{id}"), format!("ins-dev-{id}"));
    let mut cleanup = rbac(
        &format!("e2e-ins-{id}"),
        &[&lead, &dev],
        &[(&lead, None), (&dev, Some(&a))],
    );
    cleanup.0.extend([
        format!("namespace/{a}"),
        format!("namespace/{b}"),
        format!("namespace/{org}"),
    ]);
    let _ctrl = controller(&a, "insights-1");
    let scorecard = format!("{org}/prod-ready");

    let team_and_components = |ns: &str, team: &str, components: &[&str]| {
        let mut y = format!(
            "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Team\nmetadata: {{name: {team}, namespace: {ns}}}\nspec: {{displayName: {team}}}\n---\n"
        );
        for c in components {
            y.push_str(&format!(
                "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Component\nmetadata: {{name: {c}, namespace: {ns}}}\nspec: {{type: service, lifecycle: production, owner: {team}}}\n---\n"
            ));
        }
        y
    };
    kubectl_apply(
        None,
        &format!(
            "{}{}",
            team_and_components(&a, "payments", &["a1", "a2"]),
            team_and_components(&b, "search", &["b1"])
        ),
    );
    kubectl_apply(
        None,
        &format!(
            r#"
apiVersion: scorecards.nexus.dev/v1alpha1
kind: Scorecard
metadata: {{name: prod-ready, namespace: {org}}}
spec:
  title: Production Readiness
  appliesTo: {{kinds: [Component]}}
  levels: [Bronze, Silver, Gold]
  rules:
    - {{id: owned, title: Owned, expression: "has(entity.status.owner)", message: Set spec.owner., level: Bronze}}
---
apiVersion: scorecards.nexus.dev/v1alpha1
kind: ScorecardSnapshot
metadata: {{name: prod-ready-20260330-0, namespace: {org}}}
spec:
  scorecard: prod-ready
  date: "2026-03-30"
  levels: [Bronze, Silver, Gold]
  summary: {{entities: 2, passed: 2, passRate: 100, averageScore: 80, unknown: 0, noLevel: 0}}
  entities: {{"component:{a}/a1": [70, 1], "component:{b}/b1": [90, 2]}}
---
apiVersion: scorecards.nexus.dev/v1alpha1
kind: ScorecardSnapshot
metadata: {{name: prod-ready-20260331-0, namespace: {org}}}
spec:
  scorecard: prod-ready
  date: "2026-03-31"
  levels: [Bronze, Silver, Gold]
  summary: {{entities: 3, passed: 2, passRate: 66, averageScore: 71, unknown: 0, noLevel: 0}}
  entities: {{"component:{a}/a1": [80, 1], "component:{a}/a2": [40, 0], "component:{b}/b1": [95, 2]}}
"#
        ),
    );
    for (ns, name, result) in [
        (
            &a,
            "a1",
            scorecard_result(&scorecard, 80, Some("Silver"), true),
        ),
        (
            &a,
            "a2",
            scorecard_result(&scorecard, 40, Some("Bronze"), false),
        ),
        (
            &b,
            "b1",
            scorecard_result(&scorecard, 95, Some("Gold"), true),
        ),
    ] {
        // Until the CRD change reaches the status endpoint, the field is pruned: write again.
        wait_for(
            "status.scorecards kept",
            Duration::from_secs(30),
            || async {
                patch_status(
                    "components.catalog.nexus.dev",
                    ns,
                    name,
                    json!({"scorecards": [result.clone()]}),
                );
                let stored = get_json("components.catalog.nexus.dev", ns, name);
                Ok(
                    if stored["status"]["scorecards"][0]["score"] == result["score"] {
                        Ok(())
                    } else {
                        Err(stored["status"].to_string())
                    },
                )
            },
        )
        .await
        .unwrap();
    }

    let mut api = ApiserverProcess::start_ready(&ApiserverOptions::new("insights"))
        .await
        .unwrap();
    let lead_token = api.token("lead@contoso.com", &[&lead]).unwrap();
    let dev_token = api.token("dev@contoso.com", &[&dev]).unwrap();
    let (team_a, team_b) = (format!("team:{a}/payments"), format!("team:{b}/search"));

    // Heatmap: owners come from the catalog controller, results from status.scorecards.
    let heatmap = portal_until(
        &api,
        "/api/v1/insights/heatmap",
        &lead_token,
        "the lead's heatmap",
        |v| {
            let rows = v["teams"].as_array().cloned().unwrap_or_default();
            rows.iter()
                .any(|r| r["team"] == team_a.as_str() && r["cells"][&scorecard]["entities"] == 2)
                && rows.iter().any(|r| r["team"] == team_b.as_str())
        },
    )
    .await;
    let columns: Vec<&str> = heatmap["scorecards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scorecard"].as_str().unwrap())
        .collect();
    assert!(columns.contains(&scorecard.as_str()), "{heatmap}");
    let column = heatmap["scorecards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scorecard"] == scorecard.as_str())
        .unwrap();
    assert_eq!(column["title"], "Production Readiness");
    let row = |v: &Value, team: &str| {
        v["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["team"] == team)
            .cloned()
    };
    let pay = row(&heatmap, &team_a).unwrap()["cells"][&scorecard].clone();
    assert_eq!(
        (
            pay["entities"].as_u64(),
            pay["passed"].as_u64(),
            pay["passRate"].as_u64()
        ),
        (Some(2), Some(1), Some(50))
    );
    assert_eq!(pay["averageScore"], 60.0);
    assert_eq!(
        pay["perLevel"],
        json!([{"level": "Bronze", "entities": 1}, {"level": "Silver", "entities": 1}, {"level": "Gold", "entities": 0}])
    );
    let search = row(&heatmap, &team_b).unwrap()["cells"][&scorecard].clone();
    assert_eq!(
        (
            search["entities"].as_u64(),
            search["averageScore"].as_f64(),
            search["passRate"].as_u64()
        ),
        (Some(1), Some(95.0), Some(100))
    );

    // The developer may read namespace a only: no row, rank or count of team b.
    let dev_heatmap = portal_until(
        &api,
        "/api/v1/insights/heatmap",
        &dev_token,
        "the developer's heatmap",
        |v| v["teams"].as_array().is_some_and(|r| !r.is_empty()),
    )
    .await;
    assert!(
        row(&dev_heatmap, &team_b).is_none(),
        "team b is hidden: {dev_heatmap}"
    );
    assert_eq!(
        row(&dev_heatmap, &team_a).unwrap()["cells"][&scorecard]["entities"],
        2
    );

    let rankings = portal_until(
        &api,
        &format!("/api/v1/insights/rankings?scorecard={scorecard}"),
        &lead_token,
        "the lead's rankings",
        |v| v["teams"].as_array().is_some_and(|t| t.len() == 2),
    )
    .await;
    let order: Vec<(u64, &str, f64)> = rankings["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["rank"].as_u64().unwrap(),
                t["team"].as_str().unwrap(),
                t["averageScore"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [(1, team_b.as_str(), 95.0), (2, team_a.as_str(), 60.0)]
    );
    let dev_rankings = portal_until(
        &api,
        &format!("/api/v1/insights/rankings?scorecard={scorecard}"),
        &dev_token,
        "the developer's rankings",
        |v| v["teams"].is_array(),
    )
    .await;
    let dev_order: Vec<(u64, &str)> = dev_rankings["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["rank"].as_u64().unwrap(), t["team"].as_str().unwrap()))
        .collect();
    assert_eq!(dev_order, [(1, team_a.as_str())]);

    let distribution = portal_until(
        &api,
        &format!("/api/v1/insights/distribution?scorecard={scorecard}"),
        &lead_token,
        "the distribution",
        |v| v["entities"] == 3,
    )
    .await;
    let filled: Vec<(u64, u64, u64)> = distribution["bins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["entities"] != 0)
        .map(|b| {
            (
                b["from"].as_u64().unwrap(),
                b["to"].as_u64().unwrap(),
                b["entities"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(filled, [(40, 49, 1), (80, 89, 1), (90, 100, 1)]);
    assert_eq!(distribution["averageScore"], 71.7);
    let hidden_team = api
        .portal(
            &format!("/api/v1/insights/distribution?scorecard={scorecard}&team={team_b}"),
            Some(&dev_token),
        )
        .await
        .unwrap();
    assert_eq!(
        hidden_team.status, 404,
        "a hidden team is not found: {}",
        hidden_team.text
    );

    // Trends from the snapshots (the days are in the past: ask for enough of them).
    let days = (jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        - jiff::civil::date(2026, 3, 30))
    .get_days()
        + 1;
    let trend_path = format!("/api/v1/insights/trends?scorecard={scorecard}&days={days}");
    let trend = portal_until(&api, &trend_path, &lead_token, "the lead's trend", |v| {
        v["points"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    let points = |v: &Value| -> Vec<(String, u64, f64)> {
        v["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["date"].as_str().unwrap().to_string(),
                    p["entities"].as_u64().unwrap(),
                    p["averageScore"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        points(&trend),
        [
            ("2026-03-30".to_string(), 2, 80.0),
            ("2026-03-31".to_string(), 3, 71.7)
        ]
    );
    assert_eq!(trend["snapshotsListed"], true);
    let dev_trend = portal_until(
        &api,
        &trend_path,
        &dev_token,
        "the developer's trend",
        |v| v["points"].as_array().is_some_and(|p| p.len() == 2),
    )
    .await;
    assert_eq!(
        points(&dev_trend),
        [
            ("2026-03-30".to_string(), 1, 70.0),
            ("2026-03-31".to_string(), 2, 60.0)
        ]
    );

    // The aggregated face, as kubectl with impersonation: the same filtering.
    api.register().unwrap();
    let raw = |who: Option<(&str, &str)>| -> Value {
        let mut args = vec![
            "get",
            "--raw",
            "/apis/portal.nexus.dev/v1alpha1/insights/heatmap",
        ];
        if let Some((user, group)) = who {
            args.extend(["--as", user, "--as-group", group]);
        }
        serde_json::from_str(&kubectl_ok(&args)).unwrap()
    };
    let agg = raw(Some(("dev@contoso.com", &dev)));
    assert_eq!(agg["kind"], "ScoreHeatmap");
    assert!(row(&agg, &team_b).is_none(), "{agg}");
    assert_eq!(
        row(&agg, &team_a).unwrap()["cells"][&scorecard]["averageScore"],
        60.0
    );
    let agg_lead = raw(Some(("lead@contoso.com", &lead)));
    assert!(row(&agg_lead, &team_b).is_some(), "{agg_lead}");

    drop(api);
    ns_a.delete().await;
    ns_b.delete().await;
    ns_org.delete().await;
}
