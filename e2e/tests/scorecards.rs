//! Scorecards end to end on the real control plane (`make test-e2e`): the five templates over
//! the example organisation (scores and levels computed by hand from the example data), results
//! that follow a fact within seconds, the promotion gate (HTTP endpoint, `nexus gate`, a gated
//! ActionRun, a GitHub deployment protection rule answered to a local fake GitHub), compile
//! errors on the Scorecard's status, and daily snapshots over an injected clock with retention.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::IntoResponse,
};
use kube::api::DynamicObject;
use nexus_api::EntityKind;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace, catalog, client, debug_bin,
    ingest::post_github, kubectl, kubectl_apply as apply, repo_root, rsa_key, short_id, wait_for,
    wait_run_phase,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "gate-token-e2e";
const SECRET: &[u8] = b"protection-rule-secret";

fn apply_path(path: &std::path::Path) {
    let (ok, out, err) = kubectl(
        &["apply", "--server-side", "-f", &path.display().to_string()],
        None,
    )
    .unwrap();
    assert!(ok, "kubectl apply -f {} failed: {out}{err}", path.display());
}

fn get_json(ns: &str, resource: &str, name: &str) -> Option<Value> {
    let (ok, out, _) = kubectl(&["get", resource, name, "-n", ns, "-o", "json"], None).unwrap();
    ok.then(|| serde_json::from_str(&out).unwrap())
}

fn scorecard_status(ns: &str, name: &str) -> Value {
    get_json(ns, "scorecards.scorecards.nexus.dev", name)
        .and_then(|v| v.get("status").cloned())
        .unwrap_or(Value::Null)
}

fn condition<'a>(status: &'a Value, t: &str) -> Option<&'a Value> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

async fn entity(kind: EntityKind, ns: &str, name: &str) -> Option<DynamicObject> {
    let client = client().await.unwrap();
    catalog::api(&client, kind, Some(ns))
        .get_opt(name)
        .await
        .unwrap()
}

/// The entity's result against `scorecard` (`namespace/name`), if any.
fn result_of(o: &DynamicObject, scorecard: &str) -> Option<Value> {
    o.data
        .pointer("/status/scorecards")?
        .as_array()?
        .iter()
        .find(|r| r["scorecard"] == scorecard)
        .cloned()
}

/// Waits until the entity's result against `scorecard` satisfies `want`; returns it.
async fn wait_result(
    c: &ControllerProcess,
    kind: EntityKind,
    ns: &str,
    name: &str,
    scorecard: &str,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let want = &want;
    wait_for(
        &format!("{kind}:{ns}/{name} result against {scorecard}"),
        timeout,
        || async move {
            let o = entity(kind, ns, name).await;
            let r = o.as_ref().and_then(|o| result_of(o, scorecard));
            Ok(match r {
                Some(r) if want(&r) => Ok(r),
                other => Err(format!("{other:?}")),
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", c.log_tail()))
}

fn summary(r: &Value) -> (i64, Option<String>, bool) {
    (
        r["score"].as_i64().unwrap(),
        r["level"].as_str().map(str::to_string),
        r["passed"].as_bool().unwrap(),
    )
}

fn ids(r: &Value, field: &str) -> Vec<String> {
    r[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["ruleId"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nexus-sc-{}", short_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

// --- the templates over the example organisation ------------------------------------------

/// Expected results, worked out from `examples/` and `scorecards/templates/` (no ingestion runs
/// here, so no entity has observed facts: deployments, branch protection, vulnerabilities):
///
/// - Production Readiness (weights: on-call 3, runbook 2 at Bronze; probes 2, alerts 2 at
///   Silver and SLO 1 at Gold are unknown — no source): every team has `spec.onCall`, so an
///   owned service scores 3/10 = 30 with no level, and 5/10 = 50 at Bronze (the gate) when a
///   Runbook applies to it.
///   payments-api has the runbook payments-sql-saturation → 50, Bronze, passes.
///   order-orchestrator (owned by the checkout team) has none → 30, no level, fails on
///   runbook-linked. promotions-engine is owned by a User (no on-call rota) and has no runbook
///   → 0, failing both Bronze rules.
/// - DevOps Maturity (repository 1 and branch protection 3 at Bronze, reviews 3 and tests 3 at
///   Silver, DORA 2 at Gold): payments-api links its repository (1), branch protection and
///   reviews are unknown (no ingestion), tests unknown, no deployments → floor(100/12) = 8, no
///   level, failing dora-tracked.
/// - Security Posture (vulnerability scan 3 and Key Vault 3 at Bronze, 2+2 Silver, 2 Gold):
///   payments-api depends on Packages none of which has vulnerabilities → the scan passes,
///   everything else unknown → floor(300/12) = 25, no level.
/// - Compliance (residency 3, encryption 3, policy 2, audit 2, backup 2): payments-api's five
///   Azure resources are all in westeurope → 3/12 = 25, no level (encryption unknown).
///   The AzureResource sql-payments-prod itself: the same, 25.
/// - Cost Optimization (tagging 3, orphans 3 at Bronze; SKUs 2, budgets 2 at Silver unknown):
///   sql-payments-prod has owner, env and cost-center tags and an owner (spec.owner) → 6/10 = 60,
///   Bronze. sqldb-payments-ledger-prod lacks the owner tag → tagging fails → 3/10 = 30.
/// - Libraries are not measured by Production Readiness (its filter), documentation not by
///   DevOps Maturity.
#[tokio::test]
async fn templates_score_the_example_organisation() {
    let client = client().await.unwrap();
    let lease = TestNamespace::create(&client, "sc-examples").await.unwrap();
    apply_path(&repo_root().join("examples"));
    apply_path(&repo_root().join("scorecards/templates"));
    let mut opts = ControllerOptions::for_namespace(&lease.name, "sc-examples");
    opts.watch_namespace = None;
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--actions".into(),
        "false".into(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    const PR: &str = "nexus-org/production-readiness";
    const DEVOPS: &str = "nexus-org/devops-maturity";
    const SEC: &str = "nexus-org/security-posture";
    const COMPLIANCE: &str = "nexus-org/compliance";
    const COST: &str = "nexus-org/cost-optimization";
    use EntityKind::{AzureResource, Component};

    let r = wait_result(
        &c,
        Component,
        "team-payments",
        "payments-api",
        PR,
        WAIT,
        |r| summary(r) == (50, Some("Bronze".into()), true),
    )
    .await;
    assert!(ids(&r, "failing").is_empty(), "{r}");
    assert_eq!(
        ids(&r, "unknown"),
        ["health-probes", "alerts-set", "slo-documented"]
    );
    assert!(
        r["unknown"][0]["message"]
            .as_str()
            .unwrap()
            .contains("kubernetes.probes has no source yet"),
        "{r}"
    );
    let r = wait_result(
        &c,
        Component,
        "team-checkout",
        "order-orchestrator",
        PR,
        WAIT,
        |r| summary(r) == (30, None, false),
    )
    .await;
    assert_eq!(ids(&r, "failing"), ["runbook-linked"]);
    let r = wait_result(
        &c,
        Component,
        "team-checkout",
        "promotions-engine",
        PR,
        WAIT,
        |r| summary(r) == (0, None, false),
    )
    .await;
    assert_eq!(ids(&r, "failing"), ["on-call-owner", "runbook-linked"]);
    assert!(
        r["failing"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Give the component an owning Team with an on-call rota"),
        "the rule's message says what to do: {r}"
    );
    let r = wait_result(
        &c,
        Component,
        "team-payments",
        "payments-api",
        DEVOPS,
        WAIT,
        |r| summary(r) == (8, None, false),
    )
    .await;
    assert_eq!(ids(&r, "failing"), ["dora-tracked"]);
    assert_eq!(
        ids(&r, "unknown"),
        [
            "branch-protection",
            "pr-reviews-required",
            "automated-tests"
        ]
    );
    wait_result(
        &c,
        Component,
        "team-payments",
        "payments-api",
        SEC,
        WAIT,
        |r| summary(r) == (25, None, false) && ids(r, "failing").is_empty(),
    )
    .await;
    wait_result(
        &c,
        Component,
        "team-payments",
        "payments-api",
        COMPLIANCE,
        WAIT,
        |r| summary(r) == (25, None, false),
    )
    .await;
    wait_result(
        &c,
        AzureResource,
        "team-payments",
        "sql-payments-prod",
        COMPLIANCE,
        WAIT,
        |r| summary(r) == (25, None, false),
    )
    .await;
    wait_result(
        &c,
        AzureResource,
        "team-payments",
        "sql-payments-prod",
        COST,
        WAIT,
        |r| summary(r) == (60, Some("Bronze".into()), false),
    )
    .await;
    let r = wait_result(
        &c,
        AzureResource,
        "team-payments",
        "sqldb-payments-ledger-prod",
        COST,
        WAIT,
        |r| summary(r) == (30, None, false),
    )
    .await;
    assert_eq!(ids(&r, "failing"), ["proper-tagging"]);

    // Not measured: a library by Production Readiness, documentation by DevOps Maturity.
    let lib = entity(Component, "team-payments", "payments-sdk-dotnet")
        .await
        .unwrap();
    assert!(result_of(&lib, PR).is_none(), "{:?}", lib.data["status"]);
    assert!(result_of(&lib, DEVOPS).is_some());
    let docs = entity(Component, "team-platform", "platform-docs")
        .await
        .unwrap();
    assert!(result_of(&docs, DEVOPS).is_none());

    // The Scorecard's status: Ready, and a distribution that adds up to the entities' results
    // (every measured component in the cluster; other tests' namespaces may still be going
    // away, so compare until both sides agree).
    let client_ref = &client;
    let status = wait_for("production-readiness distribution", WAIT, || async move {
        let s = scorecard_status("nexus-org", "production-readiness");
        let ready = condition(&s, "Ready").map(|c| c["status"] == "True") == Some(true);
        let all = catalog::list_all(client_ref, &[]).await?;
        // Every component the scorecard applies to counts, also one whose result could not be
        // written (an earlier test's namespace going away refuses status writes).
        let applicable: Vec<&DynamicObject> = all
            .iter()
            .filter(|(k, o)| {
                *k == Component
                    && ["service", "website", "worker", "function"]
                        .contains(&o.data["spec"]["type"].as_str().unwrap_or(""))
            })
            .map(|(_, o)| o)
            .collect();
        let measured: Vec<Value> = applicable.iter().filter_map(|o| result_of(o, PR)).collect();
        let passing = measured.iter().filter(|r| r["passed"] == true).count() as u64;
        let bronze = measured.iter().filter(|r| r["level"] == "Bronze").count() as u64;
        let total = applicable.len() as u64;
        let d = &s["distribution"];
        let agrees = ready
            && total >= 20
            && d["entities"].as_u64() == Some(total)
            && d["passed"].as_u64() == Some(passing)
            && d["perLevel"][0]["level"] == "Bronze"
            && d["perLevel"][0]["entities"].as_u64() == Some(bronze)
            && d["passRate"].as_u64() == Some(passing * 100 / total.max(1))
            && d["unknown"].as_u64() == Some(total);
        Ok(if agrees {
            Ok(s)
        } else {
            Err(format!(
                "status {s}; results: {total} entities, {passing} pass, {bronze} at Bronze"
            ))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert!(
        status["distribution"]["passed"].as_u64() > Some(0),
        "{status}"
    );
    assert_eq!(
        condition(&status, "Compiled").unwrap()["message"],
        "5 rules compiled"
    );
    // The results are this controller's own field manager's.
    let (ok, out, _) = kubectl(
        &[
            "get",
            "components.catalog.nexus.dev",
            "payments-api",
            "-n",
            "team-payments",
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    )
    .unwrap();
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    let managers: Vec<&str> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["fieldsV1"]["f:status"]
                .as_object()
                .is_some_and(|s| s.contains_key("f:scorecards"))
        })
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["nexus-scorecards"]);
    drop(c);
    lease.delete().await;
}

// --- gates ----------------------------------------------------------------------------------

/// What the fake GitHub received.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    auth: String,
    body: Value,
}

#[derive(Clone, Default)]
struct FakeGitHub {
    calls: Arc<Mutex<Vec<Call>>>,
}

const GH_TOKEN: &str = "ghs_scorecards_e2e";

async fn fake_github(
    State(f): State<FakeGitHub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let path = uri.path().to_string();
    f.calls.lock().unwrap().push(Call {
        method: method.clone(),
        path: path.clone(),
        auth: auth.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if method == Method::POST && path == "/app/installations/1/access_tokens" {
        // An App JWT: three parts, issued by the App (4242).
        let jwt = auth.trim_start_matches("Bearer ");
        let claims = jwt.split('.').nth(1).unwrap_or_default();
        use base64::Engine as _;
        let claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if claims["iss"] != "4242" {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "bad JWT"})),
            );
        }
        return (
            StatusCode::CREATED,
            axum::Json(json!({"token": GH_TOKEN, "expires_at": "2099-01-01T00:00:00Z"})),
        );
    }
    if auth != format!("Bearer {GH_TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        );
    }
    if method == Method::POST && path.ends_with("/deployment_protection_rule") {
        return (StatusCode::NO_CONTENT, axum::Json(Value::Null));
    }
    if method == Method::POST && path.ends_with("/check-runs") {
        return (StatusCode::CREATED, axum::Json(json!({"id": 1})));
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not Found"})),
    )
}

async fn start_fake_github() -> (String, FakeGitHub) {
    let fake = FakeGitHub::default();
    let app = Router::new().fallback(fake_github).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, fake)
}

/// GETs the gate endpoint; (status, body).
async fn gate(c: &ControllerProcess, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{}{path}", c.webhook_port));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `nexus gate …`: (exit code, stdout).
fn nexus_gate(c: &ControllerProcess, entity: &str, token_file: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(debug_bin("nexus", "NEXUS_CLI_BIN"))
        .args(["gate", entity, "--scorecard", "readiness", "--url"])
        .arg(format!("http://127.0.0.1:{}", c.webhook_port))
        .arg("--token-file")
        .arg(token_file)
        .env_remove("NEXUS_GATE_TOKEN")
        .output()
        .expect("nexus (build it with `cargo build -p nexus-cli`)");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn run_yaml(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {{name: {name}}}\nspec:\n  action: promote\n  target: component:{ns}/api\n  requester: release-bot\n  inputs: {{replicas: 3}}\n"
    )
}

fn create_run(ns: &str, name: &str) {
    // As the requester (the admission policies, when installed, require it).
    let (ok, out, err) = kubectl(
        &[
            "create",
            "-n",
            ns,
            "-f",
            "-",
            "--as=release-bot",
            "--as-group=system:masters",
        ],
        Some(&run_yaml(name, ns)),
    )
    .unwrap();
    assert!(ok, "{out}{err}");
}

fn protection_payload(base: &str, run_id: u64, sha: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": format!("{base}/repos/contoso-e2e/api/actions/runs/{run_id}/deployment_protection_rule"),
        "deployment": {"id": run_id, "sha": sha, "ref": "main", "environment": "production", "task": "deploy"},
        "repository": {"id": 1, "name": "api", "full_name": "contoso-e2e/api", "html_url": "https://github.com/contoso-e2e/api", "owner": {"login": "contoso-e2e"}},
        "installation": {"id": 1},
        "sender": {"login": "octocat"},
    }))
    .unwrap()
}

/// Waits for the fake GitHub to receive the callback of `run_id`; returns it and the check run
/// on `sha`.
async fn protection_answer(
    c: &ControllerProcess,
    fake: &FakeGitHub,
    run_id: u64,
    sha: &str,
) -> (Call, Call) {
    let path = format!("/repos/contoso-e2e/api/actions/runs/{run_id}/deployment_protection_rule");
    wait_for("protection rule callback and check run", WAIT, || {
        let calls = fake.calls.lock().unwrap().clone();
        let path = path.clone();
        async move {
            let cb = calls
                .iter()
                .find(|x| x.method == Method::POST && x.path == path)
                .cloned();
            let check = calls
                .iter()
                .find(|x| {
                    x.path == "/repos/contoso-e2e/api/check-runs" && x.body["head_sha"] == sha
                })
                .cloned();
            Ok(match (cb, check) {
                (Some(a), Some(b)) => Ok((a, b)),
                other => Err(format!(
                    "{other:?}; all calls: {:?}",
                    calls.iter().map(|c| &c.path).collect::<Vec<_>>()
                )),
            })
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", c.log_tail()))
}

/// One service through the gate: blocked while it misses its runbook (HTTP, CLI, ActionRun,
/// GitHub protection rule), allowed within seconds of the runbook appearing; a fact (branch
/// protection on its Repository) flips a rule both ways within seconds.
#[tokio::test]
async fn the_gate_blocks_then_allows_everywhere() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "sc-gate").await.unwrap();
    let n = ns.name.as_str();
    let (github, fake) = start_fake_github().await;
    let key = rsa_key();
    apply(
        Some(n),
        &format!(
            r#"
apiVersion: v1
kind: Secret
metadata: {{name: github-app}}
stringData:
  webhook-secret: "{secret}"
  private-key: |
{key}
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: GitHubIntegration
metadata: {{name: gh}}
spec:
  appId: 4242
  installationId: 1
  organization: contoso-e2e
  apiUrl: {github}
  privateKeyRef: {{name: github-app, key: private-key}}
  webhookSecretRef: {{name: github-app, key: webhook-secret}}
  namespaces: {{default: {n}}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: team-a}}
spec:
  displayName: Team A
  onCall: {{provider: pagerduty, scheduleId: PABC123}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Repository
metadata: {{name: api}}
spec: {{provider: github, url: "https://github.com/contoso-e2e/api", owner: team-a}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: api}}
spec: {{type: service, lifecycle: production, owner: team-a, repository: api}}
---
apiVersion: scorecards.nexus.dev/v1alpha1
kind: Scorecard
metadata: {{name: readiness}}
spec:
  title: Readiness
  appliesTo: {{kinds: [Component]}}
  rules:
    - {{id: on-call, title: On-call owner, level: Bronze, weight: 3, expression: "relations.ownedBy.exists(o, has(o.spec.onCall))", message: Give it an owning team with an on-call rota.}}
    - {{id: runbook, title: Runbook linked, level: Bronze, weight: 2, expression: "size(relations.hasRunbook) > 0", message: Link a runbook to the component.}}
    - {{id: protected, title: Branch protected, level: Silver, weight: 3, facts: [github.branchProtection], expression: "facts.github.branchProtection.protected", message: Protect the default branch.}}
  gate: {{minLevel: Bronze}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: app, image: contoso/api:1.0}}]}}
---
apiVersion: actions.nexus.dev/v1alpha1
kind: Action
metadata: {{name: promote}}
spec:
  title: Promote to production
  version: "1.0.0"
  targetKinds: [Component]
  gate: {{scorecards: [readiness]}}
  inputs:
    type: object
    properties:
      replicas: {{type: integer, minimum: 1, maximum: 10}}
  executor:
    kubernetes:
      operation: scale
      namespace: "{{{{ target.namespace }}}}"
      name: "{{{{ target.name }}}}"
      replicas: "{{{{ inputs.replicas }}}}"
"#,
            secret = String::from_utf8_lossy(SECRET),
            key = key
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    );
    let token_file = temp_file("gate-token", &format!("{TOKEN}\n"));
    let mut opts = ControllerOptions::for_namespace(n, "sc-gate");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--integrations-namespace".into(),
        n.into(),
        "--scorecards-namespace".into(),
        n.into(),
        "--gate-scorecards".into(),
        "readiness".into(),
        "--gate-token-file".into(),
        token_file.display().to_string(),
        "--debounce-ms".into(),
        "200".into(),
    ];
    let c = ControllerProcess::start(&opts).unwrap();
    let sc = format!("{n}/readiness");
    use EntityKind::Component;

    // No runbook: 3 of 8 = 37, no level, blocked.
    let r = wait_result(&c, Component, n, "api", &sc, WAIT, |r| {
        summary(r) == (37, None, false)
    })
    .await;
    assert_eq!(ids(&r, "failing"), ["runbook"]);
    assert_eq!(ids(&r, "unknown"), ["protected"]);
    assert_eq!(r["generation"], 1);

    // The HTTP endpoint: authenticated, and blocked with what to fix.
    let path = format!("/gate/{n}/component/api?scorecard=readiness");
    let (code, body) = gate(&c, &path, None).await;
    assert_eq!(code, 401, "{body}");
    let (code, _) = gate(&c, &path, Some("wrong")).await;
    assert_eq!(code, 401);
    let (code, body) = gate(&c, &path, Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["allowed"], false, "{body}");
    assert_eq!(body["score"], 37);
    assert_eq!(body["generation"], 1);
    let reasons = body["reasons"].to_string();
    assert!(
        reasons.contains("no level reached; Bronze is required"),
        "{reasons}"
    );
    assert!(
        reasons.contains("failing: Runbook linked (runbook): Link a runbook to the component."),
        "{reasons}"
    );
    // As an Azure DevOps "Invoke REST API" check calls it: a Generic service connection's
    // basic auth, the token as the password; the success criterion reads `allowed`.
    let ado = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}{path}", c.webhook_port))
        .basic_auth("nexus", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(ado.status().as_u16(), 200);
    let body: Value = ado.json().await.unwrap();
    assert_eq!(body["allowed"], false, "{body}");
    // Without ?scorecard= the controller's --gate-scorecards apply.
    let (code, body) = gate(&c, &format!("/gate/{n}/component/api"), Some(TOKEN)).await;
    assert_eq!((code, body["scorecard"].as_str()), (200, Some(sc.as_str())));
    let (code, body) = gate(&c, &format!("/gate/{n}/component/ghost"), Some(TOKEN)).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = gate(
        &c,
        &format!("/gate/{n}/component/api?scorecard=nope"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    let (code, _) = gate(&c, &format!("/gate/{n}/gadget/api"), Some(TOKEN)).await;
    assert_eq!(code, 400);
    // `nexus gate` fails the pipeline step.
    let (code, out) = nexus_gate(&c, &format!("component:{n}/api"), &token_file);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Link a runbook"), "{out}");

    // A gated ActionRun is refused before approval and execution, with the reasons.
    create_run(n, "promote-1");
    let v = wait_run_phase(n, "promote-1", "Refused", WAIT, &c).await;
    let validated = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Validated")
        .unwrap()
        .clone();
    assert_eq!(validated["status"], "False");
    assert_eq!(validated["reason"], "GateFailed");
    assert!(
        validated["message"]
            .as_str()
            .unwrap()
            .contains("Link a runbook"),
        "{validated}"
    );
    assert!(v["status"].get("execution").is_none(), "{v}");
    let replicas = |ns: &str| {
        get_json(ns, "deployments.apps", "api").unwrap()["spec"]["replicas"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(replicas(n), 1, "nothing ran");

    // A GitHub deployment protection rule: rejected, with a failing check run.
    let hooks = c.webhook_url("github", n, "gh");
    let http = reqwest::Client::new();
    let (code, text) = post_github(
        &http,
        &hooks,
        SECRET,
        "deployment_protection_rule",
        &format!("dpr-1-{}", short_id()),
        protection_payload(&github, 101, "sha-one"),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let (cb, check) = protection_answer(&c, &fake, 101, "sha-one").await;
    assert_eq!(cb.auth, format!("Bearer {GH_TOKEN}"));
    assert_eq!(cb.body["state"], "rejected", "{:?}", cb.body);
    assert_eq!(cb.body["environment_name"], "production");
    assert!(
        cb.body["comment"]
            .as_str()
            .unwrap()
            .contains("Link a runbook"),
        "{:?}",
        cb.body
    );
    assert_eq!(check.body["name"], "Nexus production readiness");
    assert_eq!(check.body["conclusion"], "failure");
    assert!(
        check.body["output"]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("component:{n}/api")),
        "{:?}",
        check.body
    );

    // The runbook appears: the result flips within seconds and the gate opens.
    let started = Instant::now();
    apply(
        Some(n),
        r##"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Runbook
metadata: {name: api-restart}
spec: {title: Restart the API, content: "# Restart\nkubectl rollout restart deploy/api", appliesTo: [api]}
"##,
    );
    let r = wait_result(&c, Component, n, "api", &sc, Duration::from_secs(15), |r| {
        summary(r) == (62, Some("Bronze".into()), true)
    })
    .await;
    let took = started.elapsed();
    assert!(ids(&r, "failing").is_empty(), "{r}");
    eprintln!("runbook → gate open in {took:?}");
    let (code, body) = gate(&c, &path, Some(TOKEN)).await;
    assert_eq!(
        (code, body["allowed"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(body["level"], "Bronze");
    assert_eq!(
        body["reasons"],
        json!(["level Bronze meets the required Bronze"])
    );
    let (code, out) = nexus_gate(&c, &format!("component:{n}/api"), &token_file);
    assert_eq!(code, 0, "{out}");
    create_run(n, "promote-2");
    let v = wait_run_phase(n, "promote-2", "Succeeded", WAIT, &c).await;
    assert_eq!(v["status"]["outputs"]["previousReplicas"], "1");
    assert_eq!(replicas(n), 3);
    let (code, text) = post_github(
        &http,
        &hooks,
        SECRET,
        "deployment_protection_rule",
        &format!("dpr-2-{}", short_id()),
        protection_payload(&github, 102, "sha-two"),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let (cb, check) = protection_answer(&c, &fake, 102, "sha-two").await;
    assert_eq!(cb.body["state"], "approved", "{:?}", cb.body);
    assert_eq!(check.body["conclusion"], "success");

    // A fact: GitHub ingestion observes branch protection on the repository (status, its own
    // field manager). The component, which reads it through its hasRepository relation, reaches
    // Gold (every rule passes) within seconds, and drops back when protection is removed.
    for (protected, want) in [
        (true, (100, Some("Gold".to_string()), true)),
        (false, (62, Some("Bronze".to_string()), true)),
    ] {
        let started = Instant::now();
        let (ok, out, err) = kubectl(
            &[
                "patch",
                "repositories.catalog.nexus.dev",
                "api",
                "-n",
                n,
                "--subresource=status",
                "--type=merge",
                "--field-manager=nexus-github",
                "-p",
                &json!({"status": {"branchProtection": {"protected": protected, "allowForcePushes": false}}}).to_string(),
            ],
            None,
        )
        .unwrap();
        assert!(ok, "{out}{err}");
        wait_result(&c, Component, n, "api", &sc, Duration::from_secs(15), |r| {
            summary(r) == want
        })
        .await;
        eprintln!(
            "branch protection {protected} → result in {:?}",
            started.elapsed()
        );
    }
    let s = scorecard_status(n, "readiness");
    assert_eq!(s["distribution"]["entities"], 1, "{s}");
    assert_eq!(s["distribution"]["passed"], 1, "{s}");
    assert_eq!(s["observedGeneration"], 1);
    let _ = std::fs::remove_dir_all(token_file.parent().unwrap());
    drop(c);
    ns.delete().await;
}

// --- compile errors and snapshots -----------------------------------------------------------

fn snapshots(ns: &str) -> Vec<Value> {
    let (ok, out, err) = kubectl(
        &[
            "get",
            "scorecardsnapshots.scorecards.nexus.dev",
            "-n",
            ns,
            "-o",
            "json",
        ],
        None,
    )
    .unwrap();
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut items = v["items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string());
    items
}

fn snapshot_names(ns: &str) -> Vec<String> {
    snapshots(ns)
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_snapshots(c: &ControllerProcess, ns: &str, want: &[&str]) -> Vec<Value> {
    wait_for(&format!("snapshots {want:?}"), WAIT, || async move {
        let names = snapshot_names(ns);
        Ok(if names == want {
            Ok(snapshots(ns))
        } else {
            Err(format!("{names:?}"))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", c.log_tail()))
}

/// A rule that does not compile is reported on the Scorecard (rule, line and column), never on
/// entities; a good scorecard takes one snapshot per (injected) day, keeps three days, and a
/// restarted controller neither loses nor duplicates them.
#[tokio::test]
async fn compile_errors_and_daily_snapshots_with_an_injected_clock() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "sc-days").await.unwrap();
    let n = ns.name.as_str();
    let bad_expression = "size(relations.hasRunbook) > 0 &&\n  entity.spec.type.startWith('s')";
    apply(
        Some(n),
        &format!(
            r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: web}}
spec: {{type: website, lifecycle: production, owner: team-x}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: lib}}
spec: {{type: library, lifecycle: production, owner: team-x}}
---
apiVersion: scorecards.nexus.dev/v1alpha1
kind: Scorecard
metadata: {{name: bad}}
spec:
  title: Bad
  appliesTo: {{kinds: [Component]}}
  rules:
    - {{id: typo, title: Typo, expression: {bad}, message: Fix it.}}
    - {{id: fine, title: Fine, expression: "true", message: Nothing.}}
---
apiVersion: scorecards.nexus.dev/v1alpha1
kind: Scorecard
metadata: {{name: basics}}
spec:
  title: Basics
  appliesTo: {{kinds: [Component]}}
  rules:
    - {{id: website, title: A website, level: Bronze, weight: 1, expression: "entity.spec.type == 'website'", message: Be a website.}}
    - {{id: in-system, title: Part of a system, level: Silver, weight: 1, expression: "has(entity.spec.system)", message: Set spec.system.}}
"#,
            bad = serde_json::to_string(bad_expression).unwrap()
        ),
    );
    let clock = temp_file("now", "2026-03-01T10:00:00Z\n");
    let mut opts = ControllerOptions::for_namespace(n, "sc-days");
    opts.extra_args = vec![
        "--polling".into(),
        "false".into(),
        "--actions".into(),
        "false".into(),
        "--scorecards-clock-file".into(),
        clock.display().to_string(),
        "--scorecard-snapshot-retention-days".into(),
        "3".into(),
    ];
    let mut c = ControllerProcess::start(&opts).unwrap();

    // The bad scorecard: CompileFailed with the rule, line and column of `startWith`.
    let status = wait_for("CompileFailed", WAIT, || async {
        let s = scorecard_status(n, "bad");
        let failed = condition(&s, "Ready").is_some_and(|c| c["reason"] == "CompileFailed");
        Ok(if failed { Ok(s) } else { Err(s.to_string()) })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    let errors = status["ruleErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{status}");
    assert_eq!(errors[0]["rule"], "typo");
    assert_eq!(
        (errors[0]["line"].as_i64(), errors[0]["column"].as_i64()),
        (Some(2), Some(20))
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("startWith"),
        "{status}"
    );
    assert_eq!(condition(&status, "Compiled").unwrap()["status"], "False");
    assert!(
        condition(&status, "Ready").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("typo at 2:20"),
        "{status}"
    );

    // The good one: results at the injected time; day one's snapshot.
    let basics = format!("{n}/basics");
    let r = wait_result(&c, EntityKind::Component, n, "web", &basics, WAIT, |r| {
        summary(r) == (50, Some("Bronze".into()), false)
    })
    .await;
    assert_eq!(r["evaluatedAt"], "2026-03-01T10:00:00Z");
    let lib = wait_result(&c, EntityKind::Component, n, "lib", &basics, WAIT, |r| {
        summary(r) == (0, None, false)
    })
    .await;
    assert_eq!(ids(&lib, "failing"), ["website", "in-system"]);
    let web = entity(EntityKind::Component, n, "web").await.unwrap();
    assert!(
        result_of(&web, &format!("{n}/bad")).is_none(),
        "no entity shows a compile error"
    );

    let day1 = wait_snapshots(&c, n, &["basics-20260301-0"]).await;
    let s = &day1[0]["spec"];
    assert_eq!(s["scorecard"], "basics");
    assert_eq!(s["date"], "2026-03-01");
    assert_eq!(s["levels"], json!(["Bronze", "Silver", "Gold"]));
    assert_eq!(s["entities"][format!("component:{n}/web")], json!([50, 0]));
    assert_eq!(s["entities"][format!("component:{n}/lib")], json!([0, -1]));
    assert_eq!(s["summary"]["entities"], 2);
    assert_eq!(
        day1[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-scorecards"
    );

    // Day two changes the data a little: the snapshot records the day's state.
    std::fs::write(&clock, "2026-03-02T00:00:30Z\n").unwrap();
    apply(
        Some(n),
        "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec: {type: website, lifecycle: production, owner: team-x, system: shop}\n",
    );
    wait_snapshots(&c, n, &["basics-20260301-0", "basics-20260302-0"]).await;
    std::fs::write(&clock, "2026-03-03T00:00:30Z\n").unwrap();
    let three = wait_snapshots(
        &c,
        n,
        &[
            "basics-20260301-0",
            "basics-20260302-0",
            "basics-20260303-0",
        ],
    )
    .await;
    assert_eq!(
        three[0]["spec"]["entities"][format!("component:{n}/web")],
        json!([50, 0]),
        "day one is not rewritten"
    );
    assert_eq!(
        three[2]["spec"]["entities"][format!("component:{n}/web")],
        json!([100, 2])
    );
    // Day four: three days are kept, so day one goes.
    std::fs::write(&clock, "2026-03-04T00:00:30Z\n").unwrap();
    let kept = wait_snapshots(
        &c,
        n,
        &[
            "basics-20260302-0",
            "basics-20260303-0",
            "basics-20260304-0",
        ],
    )
    .await;

    // History survives a restart: nothing rewritten, nothing duplicated.
    c.kill();
    let c = ControllerProcess::start(&opts).unwrap();
    // The new leader has evaluated everything (and tried today's snapshot).
    wait_for(
        "the restarted controller's first evaluation",
        WAIT,
        || async {
            let n = c
                .metric_sum("nexus_scorecard_evaluations_total")
                .await
                .unwrap_or(0.0);
            Ok(if n >= 2.0 {
                Ok(())
            } else {
                Err(format!("{n} evaluations"))
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        c.metric_sum("nexus_scorecard_snapshots_written_total")
            .await
            .unwrap(),
        0.0,
        "today's snapshot existed already"
    );
    let after = snapshots(n);
    let uids = |v: &[Value]| -> Vec<(String, String)> {
        v.iter()
            .map(|s| {
                (
                    s["metadata"]["name"].as_str().unwrap().to_string(),
                    s["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        uids(&after),
        uids(&kept),
        "snapshots untouched by the restart"
    );
    let _ = std::fs::remove_dir_all(clock.parent().unwrap());
    drop(c);
    ns.delete().await;
}
