//! Self-service actions through the portal face of nexus-apiserver, on the real control plane
//! (`make test-e2e`): runs and approvals are created by impersonating the signed-in user, so
//! the chart's admission policies judge them (self-approval refused with the policy's message);
//! the approver's inbox, the live stream, per-namespace RBAC (a stranger sees nothing, and a
//! run is 404 to them) and the audit log read back from the controller.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace,
    apiserver::{Answer, ApiserverOptions, ApiserverProcess},
    apply_in, client, install_policies, kubectl, wait_policies_enforced,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(45);

/// RBAC of the test: devs and leads use actions in the namespace (and watch the portal stream);
/// `others` have nothing here.
fn rbac(ns: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: people}}
rules:
  - apiGroups: ["actions.nexus.dev"]
    resources: ["actions", "actionruns", "actionapprovals"]
    verbs: ["get", "list", "watch", "create", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: people}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: people}}
subjects:
  - {{kind: Group, name: devs-{ns}, apiGroup: rbac.authorization.k8s.io}}
  - {{kind: Group, name: leads-{ns}, apiGroup: rbac.authorization.k8s.io}}
"#
    )
}

/// The portal stream needs `watch entities` cluster-wide (a ClusterRole, named after the test
/// namespace so parallel runs do not collide; deleted at the end).
fn stream_rbac(ns: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: e2e-portal-stream-{ns}}}
rules:
  - apiGroups: ["portal.nexus.dev"]
    resources: ["entities"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: e2e-portal-stream-{ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-portal-stream-{ns}}}
subjects:
  - {{kind: Group, name: devs-{ns}, apiGroup: rbac.authorization.k8s.io}}
"#
    )
}

fn objects(ns: &str) -> String {
    format!(
        r#"apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: team-a}}
spec: {{displayName: Team A}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: checkout}}
spec: {{type: service, lifecycle: production, owner: team-a}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: checkout}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: checkout}}}}
  template:
    metadata: {{labels: {{app: checkout}}}}
    spec: {{containers: [{{name: app, image: contoso/checkout:1.0}}]}}
---
apiVersion: actions.nexus.dev/v1alpha1
kind: Action
metadata: {{name: scale-service}}
spec:
  title: Scale a service
  category: AKS
  version: "1.0.0"
  targetKinds: [Component]
  inputs:
    type: object
    required: [replicas]
    additionalProperties: false
    properties:
      replicas: {{type: integer, minimum: 0, maximum: 20}}
  executor:
    kubernetes:
      operation: scale
      namespace: "{{{{ target.namespace }}}}"
      name: "{{{{ target.name }}}}"
      replicas: "{{{{ inputs.replicas }}}}"
  approval:
    stages:
      - name: lead
        approvers: {{groups: [leads-{ns}]}}
  runners: {{groups: [devs-{ns}]}}
"#
    )
}

async fn post(ap: &ApiserverProcess, path: &str, token: &str, body: &Value) -> Answer {
    let response = ap
        .http
        .post(ap.portal_url(path))
        .bearer_auth(token)
        .json(body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    Answer::read(response).await.unwrap()
}

/// A POST that must answer `want`. The controller writes the runner and approver grants a
/// moment before kube-apiserver's RBAC cache has them; a refusal for that reason is repeated.
async fn post_ok(ap: &ApiserverProcess, path: &str, token: &str, body: &Value, want: u16) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let a = post(ap, path, token, body).await;
        if a.status == want {
            return a.json;
        }
        let lag = a.message().contains("not among its runners")
            || a.message().contains("not one of its approvers");
        assert!(
            lag && std::time::Instant::now() < deadline,
            "POST {path}: HTTP {}: {}\n{}",
            a.status,
            a.text,
            ap.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `check` until it gives a value; panics after [`WAIT`] with both processes' logs.
async fn until<T>(
    what: &str,
    c: &ControllerProcess,
    ap: &ApiserverProcess,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}\ncontroller:\n{}\napiserver:\n{}",
            c.log_tail(),
            ap.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get(ap: &ApiserverProcess, path: &str, token: &str) -> Answer {
    ap.portal(path, Some(token)).await.unwrap()
}

#[tokio::test]
async fn request_approve_and_audit_through_the_portal() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "portal-actions")
        .await
        .unwrap();
    let n = ns.name.clone();
    wait_policies_enforced(&n);
    apply_in(&n, &rbac(&n));
    let (ok, out, err) = kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&stream_rbac(&n)),
    )
    .unwrap();
    assert!(ok, "{out}{err}");
    apply_in(&n, &objects(&n));

    // The controller with the file audit log and its endpoint; the apiserver reads it.
    let scratch = std::env::temp_dir().join(format!("nexus-portal-actions-{n}"));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let token_file = scratch.join("audit-token");
    std::fs::write(&token_file, "e2e-audit-token\n").unwrap();
    let mut opts = ControllerOptions::for_namespace(&n, "portal-actions");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--audit-log-dir".into(),
        scratch.join("audit").display().to_string(),
        "--audit-token-file".into(),
        token_file.display().to_string(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    let mut api_opts = ApiserverOptions::new("portal-actions");
    api_opts.extra_args = vec![
        "--audit-url".into(),
        format!("http://127.0.0.1:{}", c.webhook_port),
        "--audit-token-file".into(),
        token_file.display().to_string(),
    ];
    let ap = ApiserverProcess::start_ready(&api_opts).await.unwrap();

    let (devs, leads) = (format!("devs-{n}"), format!("leads-{n}"));
    // dana runs the action and is a lead too (so only the self-approval rule stops her); lee
    // approves; otto has no RBAC in the namespace.
    let dana = ap.token("dana", &[devs.as_str(), leads.as_str()]).unwrap();
    let lee = ap.token("lee", &[leads.as_str()]).unwrap();
    let otto = ap.token("otto", &["others"]).unwrap();

    // The catalogue: the Action, ready and runnable for dana, filtered by target kind.
    let actions = format!("/api/v1/actions?namespace={n}&target=component:{n}/checkout");
    let listed = until("the Action runnable on the portal", &c, &ap, async || {
        let a = get(&ap, &actions, &dana).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json["items"]
            .as_array()
            .and_then(|i| i.first())
            .filter(|i| i["canRun"] == true)
            .cloned()
    })
    .await;
    assert_eq!(listed["name"], "scale-service");
    assert_eq!(
        listed["approval"]["stages"][0]["approvers"]["groups"],
        json!([leads])
    );
    let a = get(
        &ap,
        &format!("/api/v1/actions?namespace={n}&target=api:{n}/x"),
        &dana,
    )
    .await;
    assert_eq!(a.json["items"], json!([]), "no action targets APIs");
    let a = get(&ap, &format!("/api/v1/actions/{n}/scale-service"), &otto).await;
    assert_eq!(a.status, 404, "{}", a.text);

    // Live updates: dana's stream, opened before the run exists.
    let mut stream = ap.stream(&format!("namespace={n}"), &dana).await.unwrap();

    // dana requests a run; the requester comes from her token, never from the body.
    let forged = post(
        &ap,
        &format!("/api/v1/runs/{n}"),
        &dana,
        &json!({"action": "scale-service", "requester": "lee", "inputs": {"replicas": 3}}),
    )
    .await;
    assert_eq!(forged.status, 400, "{}", forged.text);
    let created = post_ok(
        &ap,
        &format!("/api/v1/runs/{n}"),
        &dana,
        &json!({"action": "scale-service", "target": format!("component:{n}/checkout"), "inputs": {"replicas": 3}}),
        201,
    )
    .await;
    assert_eq!(created["requester"], "dana");
    let run = created["name"].as_str().unwrap().to_string();
    assert!(run.starts_with("scale-service-"), "{run}");
    let run_path = format!("/api/v1/runs/{n}/{run}");
    until("the run waits for approval", &c, &ap, async || {
        let a = get(&ap, &run_path, &dana).await;
        (a.json["phase"] == "WaitingForApproval").then_some(a.json)
    })
    .await;
    stream
        .wait_for("a run event", WAIT, |e| {
            e.event == "run" && e.json()["name"] == run.as_str()
        })
        .await
        .unwrap();

    // dana may not approve her own run: kube-apiserver's policy says so, verbatim.
    let own = get(&ap, &run_path, &dana).await.json;
    assert_eq!(own["canApprove"]["allowed"], false, "{own}");
    let refused = post(
        &ap,
        &format!("{run_path}/approvals"),
        &dana,
        &json!({"decision": "Approve"}),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.message().contains("someone else must approve it"),
        "{}",
        refused.text
    );
    let forged = post(
        &ap,
        &format!("{run_path}/approvals"),
        &lee,
        &json!({"decision": "Approve", "author": "dana"}),
    )
    .await;
    assert_eq!(forged.status, 400, "{}", forged.text);

    // lee sees it in the inbox and approves the open stage.
    let inbox = until("the run in lee's inbox", &c, &ap, async || {
        let a = get(&ap, "/api/v1/approvals/inbox", &lee).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json["items"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["run"]["name"] == run.as_str()).cloned())
    })
    .await;
    assert_eq!(
        (inbox["stage"].as_str(), inbox["required"].as_i64()),
        (Some("lead"), Some(1))
    );
    let detail = get(&ap, &run_path, &lee).await.json;
    assert_eq!(detail["canApprove"]["allowed"], true, "{detail}");
    let approval = post_ok(
        &ap,
        &format!("{run_path}/approvals"),
        &lee,
        &json!({"decision": "Approve", "comment": "go"}),
        201,
    )
    .await;
    assert_eq!(
        (approval["author"].as_str(), approval["stage"].as_str()),
        (Some("lee"), Some("lead"))
    );

    // The run executes; the page follows it through the stream.
    let done = until("the run succeeds", &c, &ap, async || {
        let a = get(&ap, &run_path, &dana).await;
        (a.json["phase"] == "Succeeded").then_some(a.json)
    })
    .await;
    assert_eq!(done["stages"][0]["approvals"][0]["author"], "lee");
    assert_eq!(done["outputs"]["previousReplicas"], "1");
    assert_eq!(done["approvals"][0]["counted"], true, "{done}");
    stream
        .wait_for("the run's Succeeded event", WAIT, |e| {
            e.event == "run" && e.json()["name"] == run.as_str() && e.json()["phase"] == "Succeeded"
        })
        .await
        .unwrap();
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), &n);
    assert_eq!(
        deploy.get("checkout").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    let inbox = get(&ap, "/api/v1/approvals/inbox", &lee).await.json;
    assert!(
        !inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["run"]["name"] == run.as_str()),
        "{inbox}"
    );
    let mine = get(
        &ap,
        &format!("/api/v1/runs?namespace={n}&requester=me"),
        &dana,
    )
    .await
    .json;
    assert_eq!(mine["items"][0]["name"], run.as_str(), "{mine}");

    // otto has no RBAC in the namespace: the run is 404 and lists are empty.
    let a = get(&ap, &run_path, &otto).await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = get(&ap, &format!("/api/v1/runs?namespace={n}"), &otto).await;
    assert_eq!(a.json["items"], json!([]), "{}", a.text);
    let a = get(&ap, "/api/v1/approvals/inbox", &otto).await;
    assert!(
        !a.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["run"]["namespace"] == n.as_str()),
        "{}",
        a.text
    );
    let a = get(&ap, &format!("/api/v1/audit?namespace={n}"), &otto).await;
    assert_eq!(
        (a.status, &a.json["items"]),
        (200, &json!([])),
        "{}",
        a.text
    );

    // The audit log, from the controller's hash-chained file, for those who may see the run.
    let audit = format!("/api/v1/audit?namespace={n}&run={run}");
    let entries = until("the run's audit entries", &c, &ap, async || {
        let a = get(&ap, &audit, &dana).await;
        assert_eq!(a.status, 200, "{}\n{}", a.text, ap.log_tail());
        let items = a.json["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .any(|e| e["kind"] == "run.succeeded")
            .then_some(items)
    })
    .await;
    assert!(
        entries
            .iter()
            .all(|e| e["namespace"] == n.as_str() && e["run"] == run.as_str())
    );
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64())
    );
    assert!(
        entries
            .iter()
            .all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64))
    );
    assert!(entries.iter().any(|e| e["actor"] == "dana"), "{entries:?}");

    let _ = kubectl(
        &[
            "delete",
            "clusterrolebinding,clusterrole",
            &format!("e2e-portal-stream-{n}"),
            "--ignore-not-found",
        ],
        None,
    );
    let _ = std::fs::remove_dir_all(&scratch);
    ns.delete().await;
}
