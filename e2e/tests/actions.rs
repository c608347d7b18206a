//! Self-service actions end to end on the real control plane (`make test-e2e`): the admission
//! policies (rendered from the chart), the controller's grants, approvals and the kubernetes
//! executor. Users are impersonated with kubectl `--as/--as-group`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace, client, install_policies, kubectl,
    repo_root, wait_for, wait_policies_enforced, wait_run_phase,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn apply_as(ns: &str, user: Option<(&str, &[&str])>, yaml: &str) -> (bool, String) {
    let mut args: Vec<String> = vec![
        "create".into(),
        "-n".into(),
        ns.into(),
        "-f".into(),
        "-".into(),
    ];
    if let Some((u, groups)) = user {
        args.push(format!("--as={u}"));
        for g in groups {
            args.push(format!("--as-group={g}"));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = kubectl(&args, Some(yaml)).unwrap();
    (ok, format!("{out}{err}"))
}

/// A create that must succeed. Grants reach kube-apiserver's RBAC cache a moment after the
/// controller writes them, so a refusal for a missing grant is retried briefly.
fn apply_as_ok(ns: &str, user: (&str, &[&str]), yaml: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, msg) = apply_as(ns, Some(user), yaml);
        if ok {
            return;
        }
        let grant_lag =
            msg.contains("not among its runners") || msg.contains("not one of its approvers");
        assert!(grant_lag && std::time::Instant::now() < deadline, "{msg}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn admin_apply(ns: &str, yaml: &str) {
    let (ok, out, err) =
        kubectl(&["apply", "--server-side", "-n", ns, "-f", "-"], Some(yaml)).unwrap();
    assert!(ok, "kubectl apply failed: {out}{err}");
}

fn get_json(ns: &str, resource: &str, name: &str) -> Value {
    let (ok, out, err) = kubectl(&["get", resource, name, "-n", ns, "-o", "json"], None).unwrap();
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn run_yaml(name: &str, requester: &str, replicas: i64, ns: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {{name: {name}}}\nspec:\n  action: scale-service\n  target: component:{ns}/checkout\n  requester: {requester}\n  inputs: {{replicas: {replicas}}}\n"
    )
}

fn approval_yaml(name: &str, run: &str, author: &str, decision: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionApproval\nmetadata: {{name: {name}}}\nspec: {{run: {run}, stage: lead, decision: {decision}, author: {author}, comment: looks fine}}\n"
    )
}

#[tokio::test]
async fn scale_after_approval_with_the_rules_enforced_by_the_apiserver() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "actions").await.unwrap();
    let n = ns.name.as_str();
    wait_policies_enforced(n);
    admin_apply(
        n,
        &[
            people(&["devs", "leads", "others"], false),
            r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {name: team-a}
spec: {displayName: Team A}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout}
spec:
  replicas: 1
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: app, image: contoso/checkout:1.0}]}
---
apiVersion: actions.nexus.dev/v1alpha1
kind: Action
metadata: {name: scale-service}
spec:
  title: Scale a service
  version: "1.0.0"
  targetKinds: [Component]
  inputs:
    type: object
    required: [replicas]
    additionalProperties: false
    properties:
      replicas: {type: integer, minimum: 0, maximum: 20}
  executor:
    kubernetes:
      operation: scale
      namespace: "{{ target.namespace }}"
      name: "{{ target.name }}"
      replicas: "{{ inputs.replicas }}"
  approval:
    stages:
      - name: lead
        approvers: {groups: [leads]}
  runners: {groups: [devs]}
"#
            .to_string(),
        ]
        .join("---\n"),
    );
    let audit_dir = std::env::temp_dir().join(format!("nexus-audit-{n}"));
    let _ = std::fs::remove_dir_all(&audit_dir);
    let mut opts = ControllerOptions::for_namespace(n, "actions");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--audit-log-dir".into(),
        audit_dir.display().to_string(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    wait_for("Action Ready", WAIT, || async {
        let v = get_json(n, "actions.actions.nexus.dev", "scale-service");
        let ready = v
            .pointer("/status/conditions/0/status")
            .and_then(Value::as_str)
            == Some("True");
        Ok(if ready {
            Ok(())
        } else {
            Err(v["status"].to_string())
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));

    let dana: (&str, &[&str]) = ("dana", &["devs", "leads"]);
    let lee: (&str, &[&str]) = ("lee", &["leads"]);
    let olly: (&str, &[&str]) = ("olly", &["devs"]);
    let outsider: (&str, &[&str]) = ("otto", &["others"]);

    // Requester must be the authenticated user; only runners may run.
    let (ok, msg) = apply_as(n, Some(dana), &run_yaml("forged", "lee", 3, n));
    assert!(
        !ok && msg.contains("spec.requester must be the user creating the run"),
        "{msg}"
    );
    let (ok, msg) = apply_as(n, Some(outsider), &run_yaml("outsider", "otto", 3, n));
    assert!(!ok && msg.contains("not among its runners"), "{msg}");

    // Invalid inputs: the run exists but fails validation with the JSON-Schema error.
    apply_as_ok(n, dana, &run_yaml("too-many", "dana", 500, n));
    let v = wait_run_phase(n, "too-many", "Invalid", WAIT, &c).await;
    let why = v.pointer("/status/conditions").unwrap().to_string();
    assert!(why.contains("/replicas"), "{why}");

    // The real run waits for the lead stage.
    apply_as_ok(n, dana, &run_yaml("scale-up", "dana", 3, n));
    wait_run_phase(n, "scale-up", "WaitingForApproval", WAIT, &c).await;

    // Self-approval, a non-approver, a forged author: refused by kube-apiserver.
    let (ok, msg) = apply_as(
        n,
        Some(dana),
        &approval_yaml("self", "scale-up", "dana", "Approve"),
    );
    assert!(!ok && msg.contains("someone else must approve it"), "{msg}");
    let (ok, msg) = apply_as(
        n,
        Some(olly),
        &approval_yaml("olly", "scale-up", "olly", "Approve"),
    );
    assert!(!ok && msg.contains("not one of its approvers"), "{msg}");
    let (ok, msg) = apply_as(
        n,
        Some(lee),
        &approval_yaml("forged-author", "scale-up", "dana", "Approve"),
    );
    assert!(
        !ok && msg.contains("spec.author must be the user creating the approval"),
        "{msg}"
    );
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), n);
    assert_eq!(
        deploy.get("checkout").await.unwrap().spec.unwrap().replicas,
        Some(1),
        "nothing ran before approval"
    );

    // The lead approves: the controller scales the Deployment.
    let (ok, msg) = apply_as(
        n,
        Some(lee),
        &approval_yaml("lee", "scale-up", "lee", "Approve"),
    );
    assert!(ok, "{msg}");
    let v = wait_run_phase(n, "scale-up", "Succeeded", WAIT, &c).await;
    assert_eq!(
        deploy.get("checkout").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    assert_eq!(
        v.pointer("/status/outputs/previousReplicas")
            .and_then(Value::as_str),
        Some("1")
    );
    assert_eq!(
        v.pointer("/status/action/version").and_then(Value::as_str),
        Some("1.0.0")
    );
    assert_eq!(
        v.pointer("/status/stages/0/approvals/0/author")
            .and_then(Value::as_str),
        Some("lee")
    );
    let counted = get_json(n, "actionapprovals.actions.nexus.dev", "lee");
    assert_eq!(
        counted
            .pointer("/status/conditions/0/status")
            .and_then(Value::as_str),
        Some("True"),
        "{counted}"
    );

    // The stage is closed now: a late approval is refused too.
    let (ok, msg) = apply_as(
        n,
        Some(("lena", &["leads"])),
        &approval_yaml("late", "scale-up", "lena", "Approve"),
    );
    assert!(
        !ok && msg.contains("not one of its approvers, or the stage is not open"),
        "{msg}"
    );

    // A rejection ends a run without executing it.
    apply_as_ok(n, dana, &run_yaml("scale-down", "dana", 0, n));
    wait_run_phase(n, "scale-down", "WaitingForApproval", WAIT, &c).await;
    let (ok, msg) = apply_as(
        n,
        Some(lee),
        &approval_yaml("lee-no", "scale-down", "lee", "Reject"),
    );
    assert!(ok, "{msg}");
    wait_run_phase(n, "scale-down", "Rejected", WAIT, &c).await;
    assert_eq!(
        deploy.get("checkout").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    // Only the controller writes run status.
    let (ok, _, err) = kubectl(
        &[
            "patch",
            "actionruns.actions.nexus.dev",
            "scale-down",
            "-n",
            n,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Succeeded"}}"#,
            "--as=lee",
            "--as-group=leads",
            "--as-group=system:masters",
        ],
        None,
    )
    .unwrap();
    assert!(
        !ok && err.contains("only the Nexus controller writes ActionRun status"),
        "{err}"
    );
    drop(c);

    // Every transition is in the hash-chained audit log, which verifies — until edited.
    verify_audit(&audit_dir).unwrap_or_else(|e| panic!("{e}"));
    let segment = audit_segments(&audit_dir)
        .into_iter()
        .next()
        .expect("an audit segment");
    let text = std::fs::read_to_string(&segment).unwrap();
    for kind in [
        "run.validated",
        "run.approved",
        "run.started",
        "run.succeeded",
        "run.rejected",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "{kind} missing from the audit log:\n{text}"
        );
    }
    std::fs::write(&segment, text.replacen("\"lee\"", "\"mallory\"", 1)).unwrap();
    assert!(
        verify_audit(&audit_dir).is_err(),
        "an edited audit log must not verify"
    );
    let _ = std::fs::remove_dir_all(&audit_dir);
    ns.delete().await;
}

/// The audit log's segments (JSON Lines files), in order.
fn audit_segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

/// `nexus audit verify DIR`: Ok, or the command's error output.
fn verify_audit(dir: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new(nexus_e2e::debug_bin("nexus", "NEXUS_CLI_BIN"))
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn action_yaml(name: &str, approval: &str, executor: &str, extra: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: Action\nmetadata: {{name: {name}}}\nspec:\n  title: {name}\n  version: \"1\"\n  executor:\n{executor}\n  approval:\n{approval}\n{extra}"
    )
}

fn plain_run(name: &str, action: &str, requester: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {{name: {name}}}\nspec: {{action: {action}, requester: {requester}, inputs: {{}}}}\n"
    )
}

fn stage_approval(name: &str, run: &str, stage: &str, author: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionApproval\nmetadata: {{name: {name}}}\nspec: {{run: {run}, stage: {stage}, decision: Approve, author: {author}}}\n"
    )
}

fn jobs_of(ns: &str, run: &str) -> usize {
    let (ok, out, err) = kubectl(
        &[
            "get",
            "jobs",
            "-n",
            ns,
            "-l",
            &format!("actions.nexus.dev/run={run}"),
            "-o",
            "name",
        ],
        None,
    )
    .unwrap();
    assert!(ok, "{err}");
    out.lines().filter(|l| !l.trim().is_empty()).count()
}

/// A local Teams and Slack: every POSTed JSON body, by path.
async fn fake_chat() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use axum::{Router, extract::Path, routing::post};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> = Default::default();
    let store = seen.clone();
    let app = Router::new().route(
        "/{channel}",
        post(
            move |Path(channel): Path<String>, axum::Json(body): axum::Json<Value>| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push((channel, body));
                    "1"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn stages_timeouts_jobs_cancel_rollback_and_exactly_once() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "actions-flow")
        .await
        .unwrap();
    let n = ns.name.as_str();
    wait_policies_enforced(n);
    let job = "    job:\n      image: busybox:1.36\n      command: [\"true\"]";
    let no_approval = "    stages: []";
    admin_apply(
        n,
        &[
            people(&["devs"], true),
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: nexus-action-runner}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: contoso/web:1}]}
"#
            .to_string(),
            action_yaml(
                "two-stage",
                "    stages:\n      - {name: leads, required: 2, approvers: {users: [ann, ben, cat]}}\n      - {name: security, approvers: {groups: [sec]}}",
                job,
                "",
            ),
            action_yaml("auto-approve", "    timeout: 2s\n    onTimeout: Approve\n    stages: [{name: lead, approvers: {users: [ann]}}]", job, ""),
            action_yaml("auto-reject", "    timeout: 2s\n    stages: [{name: lead, approvers: {users: [ann]}}]", job, ""),
            action_yaml("wait-forever", "    stages: [{name: lead, approvers: {users: [ann]}}]", job, ""),
            action_yaml(
                "quick-job",
                no_approval,
                &format!("{job}\n      workloadIdentity: true"),
                "",
            ),
            action_yaml(
                "scale-web",
                no_approval,
                "    kubernetes: {operation: scale, name: web, replicas: \"1\"}",
                "",
            ),
            action_yaml(
                "scale-missing",
                no_approval,
                "    kubernetes: {operation: scale, name: does-not-exist, replicas: \"5\"}",
                "  rollback: {action: scale-web}\n",
            ),
        ]
        .join("\n---\n"),
    );
    // The built-in library applies cleanly and every Action in it becomes Ready.
    let (ok, out, err) = kubectl(
        &[
            "apply",
            "--server-side",
            "-n",
            n,
            "-k",
            repo_root().join("actions").to_str().unwrap(),
        ],
        None,
    )
    .unwrap();
    assert!(ok, "actions/ must apply: {out}{err}");
    let (chat, messages) = fake_chat().await;
    let hooks = std::env::temp_dir().join(format!("nexus-hooks-{n}"));
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("teams"), format!("{chat}/teams\n")).unwrap();
    std::fs::write(hooks.join("slack"), format!("{chat}/slack")).unwrap();
    let mut opts = ControllerOptions::for_namespace(n, "actions-flow");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--notify-teams-webhook-file".into(),
        hooks.join("teams").display().to_string(),
        "--notify-slack-webhook-file".into(),
        hooks.join("slack").display().to_string(),
        "--portal-url".into(),
        "https://nexus.contoso.example".into(),
    ];
    let mut c = ControllerProcess::start(&opts).unwrap();
    let dana: (&str, &[&str]) = ("dana", &["devs"]);

    let library: Vec<String> = std::fs::read_dir(repo_root().join("actions"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .map(|p| {
            let doc: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            doc["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(library.len() >= 30, "{library:?}");
    // Every library Action is Ready.
    wait_for("every library Action Ready", WAIT, || {
        let library = library.clone();
        async move {
            let wrong: Vec<String> = library
                .iter()
                .filter(|a| {
                    get_json(n, "actions.actions.nexus.dev", a)
                        .pointer("/status/conditions/0/status")
                        .and_then(Value::as_str)
                        != Some("True")
                })
                .cloned()
                .collect();
            Ok(if wrong.is_empty() {
                Ok(())
            } else {
                Err(format!("not as expected: {wrong:?}"))
            })
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));

    // Two of three, then the second stage; the second stage cannot go first.
    apply_as_ok(n, dana, &plain_run("staged", "two-stage", "dana"));
    wait_run_phase(n, "staged", "WaitingForApproval", WAIT, &c).await;
    let (ok, msg) = apply_as(
        n,
        Some(("sid", &["sec", "devs"])),
        &stage_approval("early", "staged", "security", "sid"),
    );
    assert!(!ok && msg.contains("stage is not open"), "{msg}");
    apply_as_ok(
        n,
        ("ann", &["devs"]),
        &stage_approval("ann", "staged", "leads", "ann"),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        get_json(n, "actionruns.actions.nexus.dev", "staged")
            .pointer("/status/phase")
            .and_then(Value::as_str),
        Some("WaitingForApproval"),
        "one of two is not enough"
    );
    apply_as_ok(
        n,
        ("ben", &["devs"]),
        &stage_approval("ben", "staged", "leads", "ben"),
    );
    apply_as_ok(
        n,
        ("sid", &["sec", "devs"]),
        &stage_approval("sid", "staged", "security", "sid"),
    );
    // The Job runs on the simulated node and completes.
    let v = wait_run_phase(n, "staged", "Succeeded", WAIT, &c).await;
    assert_eq!(jobs_of(n, "staged"), 1);
    assert_eq!(
        v.pointer("/status/stages/1/state").and_then(Value::as_str),
        Some("Approved")
    );

    // Approvers heard about each stage, and everyone about the outcome, on Teams and Slack.
    wait_for("notifications", WAIT, || {
        let messages = messages.clone();
        async move {
            let all = messages.lock().unwrap().clone();
            let text = |channel: &str, needle: &str| {
                all.iter()
                    .filter(|(c, b)| {
                        c == channel
                            && b.to_string().contains(needle)
                            && b.to_string().contains("/staged")
                    })
                    .count()
            };
            let done = text("teams", "Approval requested") >= 2
                && text("slack", "Approval requested") >= 2
                && text("teams", "Succeeded") >= 1
                && text("slack", "Succeeded") >= 1;
            Ok(if done {
                Ok(())
            } else {
                Err(format!("{} messages so far: {all:?}", all.len()))
            })
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    let all = messages.lock().unwrap().clone();
    let teams = all
        .iter()
        .find(|(c, b)| c == "teams" && b.to_string().contains("Approval requested"))
        .unwrap();
    assert!(
        teams
            .1
            .to_string()
            .contains("https://nexus.contoso.example/actions/runs/"),
        "{}",
        teams.1
    );
    assert_eq!(
        teams.1["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );

    // Time-boxed: auto-approval and auto-rejection.
    apply_as_ok(n, dana, &plain_run("auto-yes", "auto-approve", "dana"));
    apply_as_ok(n, dana, &plain_run("auto-no", "auto-reject", "dana"));
    let v = wait_run_phase(n, "auto-yes", "Succeeded", WAIT, &c).await;
    let approved = v.pointer("/status/conditions").unwrap().to_string();
    assert!(approved.contains("AutoApproved"), "{approved}");
    wait_run_phase(n, "auto-no", "Expired", WAIT, &c).await;
    assert_eq!(jobs_of(n, "auto-no"), 0);

    // Cancel before approval: nothing runs.
    apply_as_ok(n, dana, &plain_run("cancel-me", "wait-forever", "dana"));
    wait_run_phase(n, "cancel-me", "WaitingForApproval", WAIT, &c).await;
    let (ok, _, err) = kubectl(
        &[
            "patch",
            "actionruns.actions.nexus.dev",
            "cancel-me",
            "-n",
            n,
            "--type=merge",
            "-p",
            r#"{"spec":{"cancel":true}}"#,
            "--as=dana",
            "--as-group=devs",
        ],
        None,
    )
    .unwrap();
    assert!(ok, "{err}");
    wait_run_phase(n, "cancel-me", "Cancelled", WAIT, &c).await;
    assert_eq!(jobs_of(n, "cancel-me"), 0);

    // A failure runs the rollback Action; the run ends RolledBack.
    apply_as_ok(n, dana, &plain_run("will-fail", "scale-missing", "dana"));
    let v = wait_run_phase(n, "will-fail", "RolledBack", WAIT, &c).await;
    let rb = v
        .pointer("/status/rollbackRun")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let failed = v.pointer("/status/conditions").unwrap().to_string();
    assert!(failed.contains("does-not-exist"), "{failed}");
    wait_run_phase(n, &rb, "Succeeded", WAIT, &c).await;
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), n);
    assert_eq!(
        deploy.get("web").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );

    // The controller killed again and again while runs start: exactly one Job per run.
    let runs: Vec<String> = (0..6).map(|i| format!("burst-{i}")).collect();
    for r in &runs {
        apply_as_ok(n, dana, &plain_run(r, "quick-job", "dana"));
    }
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(300 + 200 * i)).await;
        c.kill();
        c = ControllerProcess::start(&opts).unwrap();
    }
    for r in &runs {
        wait_run_phase(n, r, "Succeeded", WAIT, &c).await;
        assert_eq!(jobs_of(n, r), 1, "run {r} must have exactly one Job");
    }
    // workloadIdentity: the pod is labelled for the AKS workload identity webhook.
    let (ok, out, err) = kubectl(
        &[
            "get",
            "jobs",
            "-n",
            n,
            "-l",
            "actions.nexus.dev/run=burst-0",
            "-o",
            "json",
        ],
        None,
    )
    .unwrap();
    assert!(ok, "{err}");
    let jobs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        jobs.pointer("/items/0/spec/template/metadata/labels/azure.workload.identity~1use")
            .and_then(Value::as_str),
        Some("true"),
        "{out}"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(&hooks);
    ns.delete().await;
}

#[tokio::test]
async fn finished_runs_are_archived_to_the_audit_log_after_their_ttl() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "actions-ttl").await.unwrap();
    let n = ns.name.as_str();
    wait_policies_enforced(n);
    admin_apply(
        n,
        &[
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: nexus-action-runner}\n"
                .to_string(),
            action_yaml(
                "quick-job",
                "    stages: []",
                "    job:\n      image: busybox:1.36\n      command: [\"true\"]",
                "",
            ),
        ]
        .join("\n---\n"),
    );
    let audit_dir = std::env::temp_dir().join(format!("nexus-audit-{n}"));
    let _ = std::fs::remove_dir_all(&audit_dir);
    let mut opts = ControllerOptions::for_namespace(n, "actions-ttl");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--run-ttl".into(),
        "3s".into(),
        "--audit-log-dir".into(),
        audit_dir.display().to_string(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    // As the controller's identity: it may run anything (no runner grant needed).
    admin_apply(n, &plain_run("short-lived", "quick-job", "nexus-admin"));
    wait_run_phase(n, "short-lived", "Succeeded", WAIT, &c).await;
    wait_for("the run archived and deleted", WAIT, || async {
        let (_, out, err) = kubectl(
            &[
                "get",
                "actionruns.actions.nexus.dev",
                "short-lived",
                "-n",
                n,
                "--ignore-not-found",
                "-o",
                "name",
            ],
            None,
        )
        .unwrap();
        Ok(if out.trim().is_empty() {
            Ok(())
        } else {
            Err(format!("still there {out}{err}"))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    drop(c);
    let text: String = audit_segments(&audit_dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let archived = text
        .lines()
        .find(|l| l.contains("\"run.archived\""))
        .expect("a run.archived entry");
    assert!(
        archived.contains("\"Succeeded\""),
        "the final status is archived: {archived}"
    );
    verify_audit(&audit_dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&audit_dir);
    ns.delete().await;
}

/// What the local Azure saw: every request as `METHOD path?query` with its JSON body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A local Entra ID, Azure Resource Manager and Key Vault on one loopback port: the token
/// endpoint; `POST …/slotsswap` answered 202 with an `Azure-AsyncOperation` that reports
/// `InProgress` once and then `Succeeded`; `PUT …/resourcegroups/{name}` answered 201 as ARM
/// does; Key Vault's Set Secret answered with a new version id.
async fn fake_arm() -> (String, Seen) {
    use axum::{
        Router,
        body::Bytes,
        http::{HeaderMap, Method, StatusCode, Uri, header},
        response::IntoResponse,
    };
    let seen: Seen = Default::default();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = seen.clone();
    let origin = base.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let store = store.clone();
        let polls = polls.clone();
        let base = origin.clone();
        async move {
            let path = uri.path().to_string();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            store
                .lock()
                .unwrap()
                .push((format!("{method} {uri}"), json.clone()));
            let ok = |v: Value| (StatusCode::OK, HeaderMap::new(), axum::Json(v));
            if path.ends_with("/oauth2/v2.0/token") {
                return ok(
                    serde_json::json!({"access_token": "arm-token", "token_type": "Bearer", "expires_in": 3600}),
                )
                .into_response();
            }
            if method == Method::POST && path.ends_with("/slotsswap") {
                let mut h = HeaderMap::new();
                h.insert(
                    "Azure-AsyncOperation",
                    format!("{base}/subscriptions/op/providers/Microsoft.Web/operations/swap-1?api-version=2023-12-01")
                        .parse()
                        .unwrap(),
                );
                h.insert(header::RETRY_AFTER, "1".parse().unwrap());
                return (StatusCode::ACCEPTED, h, axum::Json(Value::Null)).into_response();
            }
            if method == Method::GET && path.ends_with("/operations/swap-1") {
                let n = polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let status = if n == 0 { "InProgress" } else { "Succeeded" };
                return ok(serde_json::json!({"status": status})).into_response();
            }
            if method == Method::PUT && path.contains("/resourcegroups/") {
                let name = path.rsplit('/').next().unwrap_or_default();
                let mut answer = json.clone();
                answer["id"] = Value::String(path.clone());
                answer["name"] = Value::String(name.to_string());
                answer["properties"] = serde_json::json!({"provisioningState": "Succeeded"});
                return (StatusCode::CREATED, HeaderMap::new(), axum::Json(answer)).into_response();
            }
            if method == Method::POST && path.starts_with("/dataCollectionRules/") {
                return (StatusCode::NO_CONTENT, HeaderMap::new(), axum::Json(Value::Null))
                    .into_response();
            }
            if method == Method::PUT && path.contains("/secrets/") {
                let id = format!("{base}{path}/0a1b2c3d4e5f40718293a4b5c6d7e8f9");
                return ok(serde_json::json!({
                    "id": id,
                    "attributes": {"enabled": true, "created": 1764115200, "updated": 1764115200},
                    "tags": json["tags"],
                }))
                .into_response();
            }
            (
                StatusCode::NOT_FOUND,
                HeaderMap::new(),
                axum::Json(serde_json::json!({"error": {"code": "NotFound", "message": format!("no fake for {method} {path}")}})),
            )
                .into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, seen)
}

/// The library manifest `actions/<file>`, with `edit` applied to its text.
fn library_action(file: &str, edit: impl Fn(String) -> String) -> String {
    edit(std::fs::read_to_string(repo_root().join("actions").join(file)).unwrap())
}

/// A Role and RoleBinding letting `groups` read Actions and create runs and approvals (and
/// update and patch them, for cancel and retry, with `edit`). The admission policies and each
/// Action's runners and approvers then decide who may do what.
fn people(groups: &[&str], edit: bool) -> String {
    let verbs = if edit {
        r#""get", "list", "watch", "create", "update", "patch""#
    } else {
        r#""get", "list", "watch", "create""#
    };
    let subjects: String = groups
        .iter()
        .map(|g| format!("  - {{kind: Group, name: {g}, apiGroup: rbac.authorization.k8s.io}}\n"))
        .collect();
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: people}}\nrules:\n  - apiGroups: [\"actions.nexus.dev\"]\n    resources: [\"actions\", \"actionruns\", \"actionapprovals\"]\n    verbs: [{verbs}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: people}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: people}}\nsubjects:\n{subjects}"
    )
}

/// The library's runner and approver groups.
const LIBRARY_GROUPS: &[&str] = &["nexus-developers", "nexus-team-leads"];
/// A developer (the library's runners) and a team lead (its approvers).
const DANA: (&str, &[&str]) = ("dana", &["nexus-developers"]);
const LEE: (&str, &[&str]) = ("lee", &["nexus-team-leads"]);

/// A run requested by dana.
fn dana_run(name: &str, action: &str, target: &str, inputs: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {{name: {name}}}\nspec:\n  action: {action}\n  target: {target}\n  requester: dana\n  inputs: {inputs}\n"
    )
}

/// lee approves the `lead` stage of `run`.
fn lee_approval(name: &str, run: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionApproval\nmetadata: {{name: {name}}}\nspec: {{run: {run}, stage: lead, decision: Approve, author: lee, comment: go}}\n"
    )
}

async fn wait_actions_ready(ns: &str, actions: &[&str], c: &ControllerProcess) {
    for action in actions {
        wait_for(&format!("Action {action} Ready"), WAIT, || async move {
            let v = get_json(ns, "actions.actions.nexus.dev", action);
            let ready = v
                .pointer("/status/conditions/0/status")
                .and_then(Value::as_str)
                == Some("True");
            Ok(if ready {
                Ok(())
            } else {
                Err(v["status"].to_string())
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    }
}

/// The Phase 2 exit scenario's Azure half, with the built-in library's own manifests: a slot
/// swap after a lead's approval (a long-running ARM operation followed to its end), a Key Vault
/// secret rotated without its value appearing anywhere, and a dev environment provisioned with
/// no approval — against a local ARM, Entra and Key Vault, with the audit chain verified.
#[tokio::test]
async fn slot_swap_secret_rotation_and_dev_environment_against_a_local_azure() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "actions-azure")
        .await
        .unwrap();
    let n = ns.name.as_str();
    wait_policies_enforced(n);
    let (arm, seen) = fake_arm().await;
    let sub = "cfbbd179-59d2-4052-aa06-9270a38aa9d6";
    let site = format!(
        "/subscriptions/{sub}/resourceGroups/rg-web/providers/Microsoft.Web/sites/checkout-web"
    );
    let vault = format!(
        "/subscriptions/{sub}/resourceGroups/rg-web/providers/Microsoft.KeyVault/vaults/kv-checkout"
    );
    admin_apply(
        n,
        &format!(
            r#"{library_people}---
apiVersion: v1
kind: Secret
metadata: {{name: azure}}
stringData: {{client-secret: not-a-real-secret}}
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: AzureSubscriptionSource
metadata: {{name: nexus-azure}}
spec:
  subscriptions: ["{sub}"]
  namespaces: {{default: {n}}}
  auth:
    tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
    clientId: 3f0c8c55-1a2b-4c3d-9e8f-0a1b2c3d4e5f
    clientSecretRef: {{name: azure, key: client-secret}}
    authorityHost: {arm}
  armUrl: {arm}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: AzureResource
metadata: {{name: checkout-web}}
spec:
  resourceId: {site}
  type: microsoft.web/sites
  subscriptionId: {sub}
  resourceGroup: rg-web
  region: westeurope
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: AzureResource
metadata: {{name: kv-checkout}}
spec:
  resourceId: {vault}
  type: microsoft.keyvault/vaults
  subscriptionId: {sub}
  resourceGroup: rg-web
  region: westeurope
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Environment
metadata: {{name: dev}}
spec: {{stage: dev, region: westeurope, subscriptionId: {sub}}}
"#,
            library_people = people(LIBRARY_GROUPS, false)
        ),
    );
    // The library's manifests as shipped; only the vault host points at the local Key Vault
    // (a real vault is `https://<name>.vault.azure.net`).
    admin_apply(
        n,
        &[
            library_action("appservice-swap-slots.yaml", |s| s),
            library_action("keyvault-rotate-secret.yaml", |s| {
                s.replace(
                    "\"https://{{ target.spec.resourceId | split('/') | last }}.vault.azure.net\"",
                    &format!("\"{arm}/kv/{{{{ target.spec.resourceId | split('/') | last }}}}\""),
                )
            }),
            library_action("provision-dev-environment.yaml", |s| s),
        ]
        .join("---\n"),
    );
    let audit_dir = std::env::temp_dir().join(format!("nexus-audit-{n}"));
    let _ = std::fs::remove_dir_all(&audit_dir);
    let mut opts = ControllerOptions::for_namespace(n, "actions-azure");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--integrations-namespace".into(),
        n.into(),
        "--audit-log-dir".into(),
        audit_dir.display().to_string(),
        // Audit entries also go to a (local) Azure Monitor with the source's identity.
        "--audit-azure-endpoint".into(),
        arm.clone(),
        "--audit-azure-dcr".into(),
        "dcr-00000000000000000000000000000000".into(),
        "--audit-azure-credentials".into(),
        "nexus-azure".into(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    wait_actions_ready(
        n,
        &[
            "appservice-swap-slots",
            "keyvault-rotate-secret",
            "provision-dev-environment",
        ],
        &c,
    )
    .await;
    let (dana, lee) = (DANA, LEE);
    let run = |name: &str, action: &str, target: &str, inputs: &str| {
        dana_run(name, action, target, inputs)
    };
    let approve = lee_approval;
    let calls = |what: &str| -> Vec<(String, Value)> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(line, _)| line.contains(what))
            .cloned()
            .collect()
    };

    // Slot swap: nothing reaches ARM before the lead approves; then exactly one POST, and the
    // run follows the operation until ARM reports Succeeded.
    apply_as_ok(
        n,
        dana,
        &run(
            "swap",
            "appservice-swap-slots",
            &format!("azureresource:{n}/checkout-web"),
            "{slot: staging}",
        ),
    );
    wait_run_phase(n, "swap", "WaitingForApproval", WAIT, &c).await;
    assert!(calls("slotsswap").is_empty(), "swapped before approval");
    apply_as_ok(n, lee, &approve("swap-ok", "swap"));
    let v = wait_run_phase(n, "swap", "Succeeded", WAIT, &c).await;
    let swaps = calls("slotsswap");
    assert_eq!(swaps.len(), 1, "{swaps:?}");
    assert!(
        swaps[0]
            .0
            .starts_with(&format!("POST {site}/slotsswap?api-version=2023-12-01")),
        "{swaps:?}"
    );
    assert_eq!(
        swaps[0].1,
        serde_json::json!({"targetSlot": "staging", "preserveVnet": true}),
        "typed body from the inputs and their defaults"
    );
    assert!(
        calls("operations/swap-1").len() >= 2,
        "operation followed to its end"
    );
    assert_eq!(v["spec"]["requester"], "dana");

    // Secret rotation: one new version, tagged with the run; the value is in no status, event
    // or audit entry.
    apply_as_ok(
        n,
        dana,
        &run(
            "rotate",
            "keyvault-rotate-secret",
            &format!("azureresource:{n}/kv-checkout"),
            "{secretName: payments-api-key}",
        ),
    );
    wait_run_phase(n, "rotate", "WaitingForApproval", WAIT, &c).await;
    apply_as_ok(n, lee, &approve("rotate-ok", "rotate"));
    let v = wait_run_phase(n, "rotate", "Succeeded", WAIT, &c).await;
    let sets: Vec<_> = calls("PUT /kv/kv-checkout/secrets/payments-api-key");
    assert_eq!(sets.len(), 1, "{sets:?}");
    let value = sets[0].1["value"].as_str().unwrap().to_string();
    assert_eq!(value.chars().count(), 32);
    assert!(
        sets[0].1["tags"]["nexus-action-run"].is_string(),
        "{:?}",
        sets[0].1
    );
    let status = v["status"].to_string();
    assert!(
        status.contains("0a1b2c3d4e5f40718293a4b5c6d7e8f9"),
        "new version in outputs: {status}"
    );
    assert!(!status.contains(&value), "secret value in the run status");
    let (_, events, _) = kubectl(&["get", "events", "-n", n, "-o", "json"], None).unwrap();
    assert!(!events.contains(&value), "secret value in an event");

    // Dev environment: no approval; a resource group named from the inputs, tagged for owner,
    // cost and expiry, in the Environment's subscription and region.
    apply_as_ok(
        n,
        dana,
        &run(
            "devenv",
            "provision-dev-environment",
            &format!("environment:{n}/dev"),
            "{name: checkout-retry, costCenter: CC-1234, expiresOn: \"2026-12-31\"}",
        ),
    );
    let v = wait_run_phase(n, "devenv", "Succeeded", WAIT, &c).await;
    let puts = calls(&format!(
        "PUT /subscriptions/{sub}/resourcegroups/rg-checkout-retry-dev"
    ));
    assert_eq!(puts.len(), 1, "{puts:?}");
    let body = &puts[0].1;
    assert_eq!(body["location"], "westeurope");
    assert_eq!(body["tags"]["owner"], "dana");
    assert_eq!(body["tags"]["cost-center"], "CC-1234");
    assert_eq!(body["tags"]["expires-on"], "2026-12-31");
    assert_eq!(body["tags"]["stage"], "dev");
    assert_eq!(body["tags"]["nexus-run"], format!("{n}/devenv"));
    assert_eq!(
        v.pointer("/status/outputs/provisioningState")
            .and_then(Value::as_str),
        Some("Succeeded"),
        "{}",
        v["status"]
    );
    assert!(
        calls("oauth2/v2.0/token").iter().all(|(_, b)| b.is_null()),
        "token requests are form-encoded"
    );

    // The audit trail: every run's invocation, approval and outcome, chained and verified; the
    // secret value is in none of it. Every entry of the file also reached Azure Monitor, with
    // its hash.
    let log_text = || -> String {
        audit_segments(&audit_dir)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    };
    wait_for("audit entries in Azure Monitor", WAIT, || {
        let (file, sent) = (log_text(), calls("/dataCollectionRules/"));
        async move {
            let hashes: Vec<String> = file
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|e| e["hash"].as_str().map(str::to_string))
                .collect();
            let records: Vec<Value> = sent
                .iter()
                .flat_map(|(line, body)| {
                    assert!(
                        line.contains("/streams/Custom-NexusAudit?api-version=2023-01-01"),
                        "{line}"
                    );
                    body.as_array().cloned().unwrap_or_default()
                })
                .collect();
            let missing: Vec<&String> = hashes
                .iter()
                .filter(|h| !records.iter().any(|r| r["Hash"] == h.as_str()))
                .collect();
            Ok(if !hashes.is_empty() && missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} entries, not yet sent: {missing:?}",
                    hashes.len()
                ))
            })
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    drop(c);
    verify_audit(&audit_dir).unwrap();
    let log = log_text();
    for run in ["swap", "rotate", "devenv"] {
        assert!(
            log.contains(&format!("{n}/{run}\"")),
            "audit has no {run}: {log}"
        );
    }
    assert!(!log.contains(&value), "secret value in the audit log");
    assert!(
        calls("/dataCollectionRules/")
            .iter()
            .all(|(_, body)| !body.to_string().contains(&value)),
        "secret value sent to Azure Monitor"
    );
    let _ = std::fs::remove_dir_all(&audit_dir);
    ns.delete().await;
}

/// Pod logs and an audited exec with the library's own manifests, on the simulated node: kwok
/// plays the node's kubelet API (its Exec object runs the command on this machine, its Logs
/// object serves a file in the container runtime's log format), reached through kube-apiserver
/// exactly as a real kubelet is.
#[tokio::test]
async fn pod_logs_and_an_audited_exec_through_the_kubelet_api() {
    install_policies();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "actions-exec")
        .await
        .unwrap();
    let n = ns.name.as_str();
    wait_policies_enforced(n);
    let work = std::env::temp_dir().join(format!("nexus-exec-{n}"));
    std::fs::create_dir_all(&work).unwrap();
    let log_file = work.join("app.log");
    std::fs::write(
        &log_file,
        "2026-11-26T05:00:00.000000000Z stdout F listening on :8080\n\
         2026-11-26T05:00:01.000000000Z stderr F slow request /checkout 2.3s\n",
    )
    .unwrap();
    admin_apply(
        n,
        &format!(
            r#"{library_people}---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: payments}}
spec: {{displayName: Payments}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: checkout}}
spec: {{type: service, lifecycle: production, owner: payments}}
---
apiVersion: v1
kind: Pod
metadata: {{name: checkout-0, labels: {{app: checkout}}}}
spec: {{containers: [{{name: app, image: contoso/checkout:1}}]}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Exec
metadata: {{name: checkout-0}}
spec:
  execs:
    - containers: [app]
      local: {{workDir: {work}}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {{name: checkout-0}}
spec:
  logs:
    - containers: [app]
      logsFile: {log}
"#,
            work = work.display(),
            log = log_file.display(),
            library_people = people(LIBRARY_GROUPS, false)
        ),
    );
    admin_apply(
        n,
        &[
            library_action("aks-pod-exec.yaml", |s| s),
            library_action("aks-pod-logs.yaml", |s| s),
        ]
        .join("---\n"),
    );
    let audit_dir = std::env::temp_dir().join(format!("nexus-audit-{n}"));
    let _ = std::fs::remove_dir_all(&audit_dir);
    let mut opts = ControllerOptions::for_namespace(n, "actions-exec");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--audit-log-dir".into(),
        audit_dir.display().to_string(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    wait_for("pod Running", WAIT, || async {
        let v = get_json(n, "pods", "checkout-0");
        Ok(if v["status"]["phase"] == "Running" {
            Ok(())
        } else {
            Err(v["status"].to_string())
        })
    })
    .await
    .unwrap();
    wait_actions_ready(n, &["aks-pod-exec", "aks-pod-logs"], &c).await;
    let (dana, lee) = (DANA, LEE);
    let target = format!("component:{n}/checkout");
    let run = |name: &str, action: &str, inputs: &str| dana_run(name, action, &target, inputs);
    let approve = lee_approval;

    // Logs: no approval; the lines land in the run's log tail.
    apply_as_ok(n, dana, &run("logs", "aks-pod-logs", "{pod: checkout-0}"));
    let v = wait_run_phase(n, "logs", "Succeeded", WAIT, &c).await;
    let tail = v["status"]["logTail"].to_string();
    assert!(
        tail.contains("listening on :8080") && tail.contains("slow request /checkout"),
        "{tail}"
    );

    // Exec after a lead's approval: the command runs once, its output and exit code are in the
    // status, and the command is in the audit log.
    let marker = work.join("ran");
    let cmd = format!("echo nexus-$((6*7)); echo once >> {}", marker.display());
    apply_as_ok(
        n,
        dana,
        &run(
            "exec",
            "aks-pod-exec",
            &format!(
                "{{pod: checkout-0, container: app, command: {cmd:?}, reason: \"INC-1234 check the runtime\"}}"
            ),
        ),
    );
    wait_run_phase(n, "exec", "WaitingForApproval", WAIT, &c).await;
    assert!(!marker.exists(), "ran before approval");
    apply_as_ok(n, lee, &approve("exec-ok", "exec"));
    let v = wait_run_phase(n, "exec", "Succeeded", WAIT, &c).await;
    assert!(
        v["status"]["logTail"].to_string().contains("nexus-42"),
        "{}",
        v["status"]
    );
    assert_eq!(
        v.pointer("/status/outputs/exitCode")
            .and_then(Value::as_str),
        Some("0")
    );
    assert_eq!(
        v.pointer("/status/execution/command").unwrap(),
        &serde_json::json!(["/bin/sh", "-c", cmd]),
        "the command as run is recorded"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "once\n");

    // A failing command fails the run with what went wrong.
    apply_as_ok(
        n,
        dana,
        &run(
            "exec-fail",
            "aks-pod-exec",
            "{pod: checkout-0, command: \"echo broken >&2; exit 3\", reason: \"INC-1234 reproduce the failure\"}",
        ),
    );
    wait_run_phase(n, "exec-fail", "WaitingForApproval", WAIT, &c).await;
    apply_as_ok(n, lee, &approve("exec-fail-ok", "exec-fail"));
    let v = wait_run_phase(n, "exec-fail", "Failed", WAIT, &c).await;
    let status = v["status"].to_string();
    assert!(
        status.contains("exit status 3") || status.contains("exit code 3"),
        "{status}"
    );
    assert!(status.contains("stderr: broken"), "{status}");

    drop(c);
    verify_audit(&audit_dir).unwrap();
    let log: String = audit_segments(&audit_dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        log.contains("echo nexus-$((6*7))"),
        "command not audited: {log}"
    );
    assert!(
        log.contains("INC-1234 check the runtime"),
        "reason not audited"
    );
    let _ = std::fs::remove_dir_all(&audit_dir);
    let _ = std::fs::remove_dir_all(&work);
    ns.delete().await;
}
