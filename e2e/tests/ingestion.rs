//! Ingestion end to end: corpus webhook deliveries replayed into the controller's receiver
//! against the real control plane (`make test-e2e`), and the deliveries it must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::time::Duration;

use kube::api::DynamicObject;
use nexus_api::EntityKind;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace, apply_in as apply, catalog, client,
    http_get,
    ingest::{corpus, corpus_json, pagerduty_signature, post, post_github},
    kubectl, wait_some,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"it's a secret to everybody";
const WAIT: Duration = Duration::from_secs(20);

fn start_controller(ns: &str, identity: &str) -> ControllerProcess {
    let mut opts = ControllerOptions::for_namespace(ns, identity);
    opts.extra_args = vec![
        "--integrations-namespace".into(),
        ns.into(),
        "--polling".into(),
        "false".into(),
        "--webhook-max-body".into(),
        "65536".into(),
    ];
    ControllerProcess::start(&opts).unwrap()
}

async fn receiver_up(c: &ControllerProcess) {
    let url = format!("http://127.0.0.1:{}/readyz", c.webhook_port);
    wait_some("webhook receiver", Duration::from_secs(60), || {
        let url = url.clone();
        async move { Ok(http_get(&url).await.ok().map(|_| ())) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
}

async fn get(kind: EntityKind, ns: &str, name: &str) -> Option<DynamicObject> {
    let client = client().await.unwrap();
    catalog::api(&client, kind, Some(ns))
        .get_opt(name)
        .await
        .unwrap()
}

/// Waits until `check` finds what it wants in the object.
async fn wait_object<T>(
    what: &str,
    kind: EntityKind,
    ns: &str,
    name: &str,
    c: &ControllerProcess,
    check: impl Fn(&DynamicObject) -> Option<T>,
) -> T {
    let check = &check;
    wait_some(what, WAIT, || async move {
        Ok(get(kind, ns, name).await.as_ref().and_then(check))
    })
    .await
    .unwrap_or_else(|e| {
        let (_, obj, _) = kubectl(&["get", kind.plural(), name, "-n", ns, "-o", "yaml"], None)
            .unwrap_or_default();
        panic!("{e}\nobject:\n{obj}\ncontroller log:\n{}", c.log_tail())
    })
}

fn status_list<'a>(o: &'a DynamicObject, field: &str) -> &'a [Value] {
    o.data
        .pointer(&format!("/status/{field}"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

async fn integration_status(ns: &str, plural: &str, name: &str) -> Value {
    let (ok, out, err) = kubectl(
        &[
            "get",
            &format!("{plural}.integrations.nexus.dev"),
            name,
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
    v.get("status").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn github_deliveries_update_the_catalog_and_refused_ones_write_nothing() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "ingest-gh").await.unwrap();
    let n = ns.name.as_str();
    apply(
        n,
        &format!(
            r#"
apiVersion: v1
kind: Secret
metadata: {{name: github-app}}
stringData:
  webhook-secret: "{secret}"
  private-key: "not used: polling is off in this test"
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: GitHubIntegration
metadata: {{name: gh}}
spec:
  appId: 1
  organization: Codertocat
  privateKeyRef: {{name: github-app, key: private-key}}
  webhookSecretRef: {{name: github-app, key: webhook-secret}}
  namespaces: {{default: {n}}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: team-a}}
spec: {{displayName: Team A}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Repository
metadata: {{name: hello-world}}
spec: {{provider: github, url: "https://github.com/Codertocat/Hello-World", owner: team-a, defaultBranch: master}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Repository
metadata: {{name: octo-repo}}
spec: {{provider: github, url: "https://github.com/octo-org/octo-repo", owner: team-a, defaultBranch: master}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Environment
metadata: {{name: prod}}
spec: {{stage: prod, subscriptionId: "11111111-1111-1111-1111-111111111111", owner: team-a}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: hello}}
spec: {{type: service, lifecycle: production, owner: team-a, repository: hello-world, environments: [prod]}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Pipeline
metadata: {{name: octo-tests}}
spec:
  provider: githubActions
  githubActions: {{workflow: .github/workflows/test.yml}}
  repository: octo-repo
  owner: team-a
"#,
            secret = String::from_utf8_lossy(SECRET)
        ),
    );
    let c = start_controller(n, "gh-ingest");
    receiver_up(&c).await;
    let url = c.webhook_url("github", n, "gh");
    let http = reqwest::Client::new();

    // An open pull request lands on the declared Repository (found by URL).
    let pr = corpus_json("github-webhooks/octokit-webhooks/pull_request/opened.payload.json");
    let number = pr["pull_request"]["number"].as_i64().unwrap();
    let pr_body = serde_json::to_vec(&pr).unwrap();
    let (code, text) = post_github(
        &http,
        &url,
        SECRET,
        "pull_request",
        "d-pr-1",
        pr_body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let prs = wait_object(
        "pull request on Repository status",
        EntityKind::Repository,
        n,
        "hello-world",
        &c,
        |o| {
            let l = status_list(o, "pullRequests");
            (!l.is_empty()).then(|| l.to_vec())
        },
    )
    .await;
    assert_eq!(prs[0]["number"], number);
    assert_eq!(prs[0]["title"], pr["pull_request"]["title"]);
    assert_eq!(prs[0]["author"], pr["pull_request"]["user"]["login"]);

    // A deployment and its status land on the Component and on the Environment it declares.
    let dep = corpus("github-webhooks/octokit-webhooks/deployment/payload.json");
    let (code, _) = post_github(&http, &url, SECRET, "deployment", "d-dep-1", dep)
        .await
        .unwrap();
    assert_eq!(code, 202);
    let ds = corpus_json("github-webhooks/octokit-webhooks/deployment_status/payload.json");
    let sha = ds["deployment"]["sha"].as_str().unwrap().to_string();
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "deployment_status",
        "d-dep-2",
        serde_json::to_vec(&ds).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    let deployments = wait_object(
        "successful deployment on Component",
        EntityKind::Component,
        n,
        "hello",
        &c,
        |o| {
            let l = status_list(o, "deployments");
            l.iter()
                .any(|d| d["status"] == "success")
                .then(|| l.to_vec())
        },
    )
    .await;
    assert_eq!(
        deployments.len(),
        1,
        "deployment and its status are one record: {deployments:#?}"
    );
    assert_eq!(deployments[0]["sha"], sha.as_str());
    assert_eq!(deployments[0]["environment"], "production");
    assert_eq!(
        deployments[0]["creator"],
        ds["deployment"]["creator"]["login"]
    );
    wait_object(
        "deployment on Environment",
        EntityKind::Environment,
        n,
        "prod",
        &c,
        |o| {
            status_list(o, "deployments")
                .iter()
                .any(|d| d["sha"] == sha.as_str())
                .then_some(())
        },
    )
    .await;

    // A workflow run lands on the Pipeline of that workflow in that repository.
    let run = corpus_json("github-webhooks/octokit-webhooks/workflow_run/completed.payload.json");
    let run_id = run["workflow_run"]["id"].to_string();
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "workflow_run",
        "d-run-1",
        serde_json::to_vec(&run).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    let last = wait_object(
        "last run on Pipeline",
        EntityKind::Pipeline,
        n,
        "octo-tests",
        &c,
        |o| o.data.pointer("/status/lastRun").cloned(),
    )
    .await;
    assert_eq!(last["id"].to_string().trim_matches('"'), run_id);

    // A repository nobody declared is discovered, labelled as Nexus's.
    let mut repo = corpus_json("github-webhooks/octokit-webhooks/repository/created.payload.json");
    repo["repository"]["name"] = json!("discovered-repo");
    repo["repository"]["full_name"] = json!("Codertocat/discovered-repo");
    repo["repository"]["html_url"] = json!("https://github.com/Codertocat/discovered-repo");
    // The corpus repository is a fork, which spec.repositories leaves out unless includeForks.
    repo["repository"]["fork"] = json!(false);
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "repository",
        "d-repo-1",
        serde_json::to_vec(&repo).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    let discovered = wait_some("discovered Repository", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::Repository, Some(n))
            .list(&Default::default())
            .await?;
        Ok(list.items.into_iter().find(|r| {
            r.data.pointer("/spec/url").and_then(Value::as_str)
                == Some("https://github.com/Codertocat/discovered-repo")
        }))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert_eq!(
        discovered.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "nexus-github"
    );

    // Refused deliveries: nothing they carry is written. A closed-PR delivery would remove
    // the pull request; with a bad signature it must not.
    let closed = corpus_json("github-webhooks/octokit-webhooks/pull_request/closed.payload.json");
    let mut closed_same = closed.clone();
    closed_same["pull_request"]["number"] = json!(number);
    closed_same["number"] = json!(number);
    let closed_body = serde_json::to_vec(&closed_same).unwrap();
    let (code, _) = post_github(
        &http,
        &url,
        b"wrong secret",
        "pull_request",
        "d-bad-1",
        closed_body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 401, "wrong signature");
    let (code, _) = post(
        &http,
        &url,
        &[
            ("x-github-event", "pull_request".into()),
            ("x-github-delivery", "d-bad-2".into()),
        ],
        closed_body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 401, "missing signature");
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "pull_request",
        "d-pr-1",
        closed_body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 409, "replayed delivery id");
    let mut big = closed_same.clone();
    big["padding"] = json!("x".repeat(70_000));
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "pull_request",
        "d-bad-3",
        serde_json::to_vec(&big).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, 413, "oversized body");
    let (code, _) = post_github(
        &http,
        &c.webhook_url("github", n, "nope"),
        SECRET,
        "pull_request",
        "d-bad-4",
        closed_body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 404, "unknown integration");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let repo_now = get(EntityKind::Repository, n, "hello-world").await.unwrap();
    assert!(
        status_list(&repo_now, "pullRequests")
            .iter()
            .any(|p| p["number"] == number),
        "a refused delivery changed the catalog"
    );

    // The same closed delivery, signed and new, removes the pull request.
    let (code, _) = post_github(&http, &url, SECRET, "pull_request", "d-pr-2", closed_body)
        .await
        .unwrap();
    assert_eq!(code, 202);
    wait_object(
        "closed pull request removed",
        EntityKind::Repository,
        n,
        "hello-world",
        &c,
        |o| {
            (!status_list(o, "pullRequests")
                .iter()
                .any(|p| p["number"] == number))
            .then_some(())
        },
    )
    .await;

    // A signed but malformed delivery is accepted, fails in parsing, and is reported.
    let (code, _) = post_github(
        &http,
        &url,
        SECRET,
        "pull_request",
        "d-broken-1",
        br#"{"action": "opened", "pull_request": {"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    let status = wait_some("integration status", WAIT, || async {
        let s = integration_status(n, "githubintegrations", "gh").await;
        let counts = &s["counts"];
        let done = counts["deliveriesRejected"].as_i64().unwrap_or(0) >= 4
            && s["lastError"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("d-broken-1"));
        Ok(done.then_some(s))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert!(
        status["counts"]["deliveriesAccepted"].as_i64().unwrap() >= 7,
        "{status:#}"
    );
    assert!(
        status["counts"]["applied"].as_i64().unwrap() >= 4,
        "{status:#}"
    );
    assert!(status["lastWebhookTime"].is_string(), "{status:#}");
    let text = serde_json::to_string(&status).unwrap();
    assert!(
        !text.contains(std::str::from_utf8(SECRET).unwrap()),
        "secret leaked into status"
    );
    let log = std::fs::read_to_string(&c.log).unwrap_or_default();
    assert!(
        !log.contains(std::str::from_utf8(SECRET).unwrap()),
        "secret leaked into the log"
    );

    let metrics = c.metrics().await.unwrap();
    assert!(
        metrics.contains(
            "nexus_ingest_deliveries_total{outcome=\"bad_signature\",source=\"github\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("nexus_ingest_deliveries_total{outcome=\"duplicate\",source=\"github\"} 1")
    );
    drop(c);
    ns.delete().await;
}

#[tokio::test]
async fn azure_devops_and_incident_deliveries_become_entities() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "ingest-inc").await.unwrap();
    let n = ns.name.as_str();
    apply(
        n,
        &format!(
            r#"
apiVersion: v1
kind: Secret
metadata: {{name: hooks}}
stringData:
  ado: "{secret}"
  pat: "not used: polling is off"
  pagerduty: "{secret}"
  monitor: "{secret}"
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: AzureDevOpsIntegration
metadata: {{name: ado}}
spec:
  organization: fabrikam
  patRef: {{name: hooks, key: pat}}
  serviceHookSecretRef: {{name: hooks, key: ado}}
  namespaces: {{default: {n}}}
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: IncidentSource
metadata: {{name: pd}}
spec:
  provider: pagerduty
  verificationSecretRef: {{name: hooks, key: pagerduty}}
  namespaces: {{default: {n}}}
  serviceMapping:
    PA2P440: ["component:{n}/checkout"]
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: IncidentSource
metadata: {{name: monitor}}
spec:
  provider: azureMonitor
  verificationSecretRef: {{name: hooks, key: monitor}}
  namespaces: {{default: {n}}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: team-a}}
spec: {{displayName: Team A}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: checkout}}
spec: {{type: service, lifecycle: production, owner: team-a}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: AzureResource
metadata: {{name: test-storage}}
spec:
  resourceId: /subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/Microsoft.Storage/storageAccounts/test-storageAccount
  type: Microsoft.Storage/storageAccounts
  subscriptionId: 11111111-1111-1111-1111-111111111111
  resourceGroup: test-RG
  region: westeurope
  owner: team-a
"#,
            secret = String::from_utf8_lossy(SECRET)
        ),
    );
    // The development integrations in examples/ are valid against the CRDs.
    let dev =
        std::fs::read_to_string(nexus_e2e::repo_root().join("examples/integrations/dev.yaml"))
            .unwrap()
            .replace("nexus-system", n);
    let dev: String = dev
        .split("\n---\n")
        .filter(|d| !d.contains("kind: Namespace"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    apply(n, &dev);
    let c = start_controller(n, "inc-ingest");
    receiver_up(&c).await;
    let http = reqwest::Client::new();
    let secret = String::from_utf8_lossy(SECRET).to_string();

    // Azure DevOps: a created work item, authenticated by basic auth.
    let wi = corpus("ado-service-hooks/aspnet-webhooks-vsts/workitem.created.json");
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("nexus:{secret}"))
        )
    };
    let ado_url = c.webhook_url("azure-devops", n, "ado");
    let (code, text) = post(
        &http,
        &ado_url,
        &[("authorization", basic.clone())],
        wi.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let (code, _) = post(
        &http,
        &ado_url,
        &[("authorization", "Basic bmV4dXM6d3Jvbmc=".into())],
        wi.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 401);
    let item = wait_some("WorkItem from service hook", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::WorkItem, Some(n))
            .list(&Default::default())
            .await?;
        Ok(list.items.into_iter().next())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    let wi_json = corpus_json("ado-service-hooks/aspnet-webhooks-vsts/workitem.created.json");
    assert_eq!(item.data["spec"]["id"], wi_json["resource"]["id"]);
    assert_eq!(
        item.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "nexus-ado"
    );

    // PagerDuty: triggered, then resolved — the same Incident object.
    let pd_url = c.webhook_url("incidents", n, "pd");
    let triggered = corpus_json("pagerduty/zulip-fixtures/triggered_v3.json");
    let body = serde_json::to_vec(&triggered).unwrap();
    let (code, text) = post(
        &http,
        &pd_url,
        &[("x-pagerduty-signature", pagerduty_signature(SECRET, &body))],
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let (code, _) = post(
        &http,
        &pd_url,
        &[("x-pagerduty-signature", pagerduty_signature(b"nope", &body))],
        body,
    )
    .await
    .unwrap();
    assert_eq!(code, 401);
    let incident = wait_some("Incident from PagerDuty", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::Incident, Some(n))
            .list(&Default::default())
            .await?;
        Ok(list
            .items
            .into_iter()
            .find(|i| i.data["spec"]["source"] == "pagerduty"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert_eq!(
        incident.data["spec"]["externalId"],
        triggered["event"]["data"]["id"]
    );
    assert_eq!(incident.data["spec"]["state"], "triggered");
    assert!(
        incident.data["spec"]["affects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("/checkout")),
        "service mapping: {:#}",
        incident.data["spec"]
    );
    let name = incident.metadata.name.clone().unwrap();
    let mut resolved = triggered.clone();
    resolved["event"]["id"] = json!("01RESOLVEDEVENT");
    resolved["event"]["event_type"] = json!("incident.resolved");
    resolved["event"]["occurred_at"] = json!("2030-01-01T10:00:00Z");
    resolved["event"]["data"]["status"] = json!("resolved");
    let body = serde_json::to_vec(&resolved).unwrap();
    let (code, _) = post(
        &http,
        &pd_url,
        &[("x-pagerduty-signature", pagerduty_signature(SECRET, &body))],
        body,
    )
    .await
    .unwrap();
    assert_eq!(code, 202);
    wait_object(
        "Incident resolved in place",
        EntityKind::Incident,
        n,
        &name,
        &c,
        |o| {
            (o.data["spec"]["state"] == "resolved" && o.data["spec"]["resolvedAt"].is_string())
                .then_some(())
        },
    )
    .await;

    // Azure Monitor: the token in the URL; the alert's target resource is resolved to the
    // AzureResource entity.
    let alert = corpus(
        "azure-monitor-alerts/common-alert-schema-azure-docs/full-payload.test-action.metric.fired.json",
    );
    let mon_url = c.webhook_url("incidents", n, "monitor");
    let (code, _) = post(&http, &format!("{mon_url}?token=wrong"), &[], alert.clone())
        .await
        .unwrap();
    assert_eq!(code, 401);
    let (code, text) = post(&http, &format!("{mon_url}?token={secret}"), &[], alert)
        .await
        .unwrap();
    assert_eq!(code, 202, "{text}");
    let monitor = wait_some("Incident from Azure Monitor", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::Incident, Some(n))
            .list(&Default::default())
            .await?;
        Ok(list
            .items
            .into_iter()
            .find(|i| i.data["spec"]["source"] == "azureMonitor"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert_eq!(
        monitor.data["spec"]["affects"],
        json!([format!("azureresource:{n}/test-storage")]),
        "{:#}",
        monitor.data["spec"]
    );
    drop(c);
    ns.delete().await;
}

/// A local stand-in for Entra ID and Azure Resource Manager: a token endpoint, and Resource
/// Graph answering with the corpus' basic query response — or with `fail` when set.
async fn fake_azure(fail: Option<u16>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::{Router, http::StatusCode, routing::post};
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let example = corpus_json("azure-resource-graph/ResourcesBasicQuery.2024-04-01.json");
    let body = example["responses"]["200"]["body"].clone();
    let counter = calls.clone();
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(|| async {
                axum::Json(json!({"access_token": "test-token", "token_type": "Bearer", "expires_in": 3600}))
            }),
        )
        .route(
            "/providers/Microsoft.ResourceGraph/resources",
            post(move || {
                let body = body.clone();
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match fail {
                        Some(code) => (
                            StatusCode::from_u16(code).unwrap(),
                            axum::Json(json!({"error": {"code": "AuthorizationFailed", "message": "no access"}})),
                        ),
                        None => (StatusCode::OK, axum::Json(body)),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn resource_graph_polling_discovers_resources_and_reports_failures() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "ingest-arg").await.unwrap();
    let n = ns.name.as_str();
    let (good, good_calls) = fake_azure(None).await;
    let (bad, bad_calls) = fake_azure(Some(403)).await;
    let source = |name: &str, url: &str| {
        format!(
            r#"
apiVersion: integrations.nexus.dev/v1alpha1
kind: AzureSubscriptionSource
metadata: {{name: {name}}}
spec:
  subscriptions: ["cfbbd179-59d2-4052-aa06-9270a38aa9d6"]
  namespaces: {{default: {n}}}
  auth:
    tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
    clientId: 3f0c8c55-1a2b-4c3d-9e8f-0a1b2c3d4e5f
    clientSecretRef: {{name: azure, key: client-secret}}
    authorityHost: {url}
  armUrl: {url}
  pollInterval: 30s
"#
        )
    };
    apply(
        n,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: azure}}\nstringData: {{client-secret: not-a-real-secret}}\n---{}---{}",
            source("subscriptions", &good),
            source("forbidden", &bad)
        ),
    );
    let mut opts = ControllerOptions::for_namespace(n, "arg-poller");
    opts.extra_args = vec!["--integrations-namespace".into(), n.into()];
    let c = ControllerProcess::start(&opts).unwrap();

    // Every resource in the response becomes an AzureResource that Nexus manages.
    let resources = wait_some(
        "AzureResources from Resource Graph",
        Duration::from_secs(60),
        || async {
            let client = nexus_e2e::client().await?;
            let list = catalog::api(&client, EntityKind::AzureResource, Some(n))
                .list(&Default::default())
                .await?;
            Ok((list.items.len() == 3).then_some(list.items))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    let nic = resources
        .iter()
        .find(|r| {
            r.data["spec"]["resourceId"]
                .as_str()
                .unwrap()
                .ends_with("/myNetworkInterface")
        })
        .expect("the network interface");
    assert_eq!(nic.data["spec"]["region"], "centralus");
    assert_eq!(nic.data["spec"]["resourceGroup"], "RG1");
    assert_eq!(nic.data["spec"]["tags"]["tag1"], "Value1");
    assert_eq!(
        nic.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "nexus-azure"
    );
    assert!(good_calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // The healthy source reports its sync; the forbidden one its error, naming the call.
    let ok = wait_some("healthy source status", WAIT, || async {
        let s = integration_status(n, "azuresubscriptionsources", "subscriptions").await;
        Ok(s["lastSyncTime"].is_string().then_some(s))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert_eq!(ok["conditions"][0]["status"], "True", "{ok:#}");
    assert!(
        ok["cursors"].as_object().is_some_and(|c| !c.is_empty()),
        "{ok:#}"
    );
    let failing = wait_some("forbidden source status", WAIT, || async {
        let s = integration_status(n, "azuresubscriptionsources", "forbidden").await;
        Ok(s["lastError"]["message"].is_string().then_some(s))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    let msg = failing["lastError"]["message"].as_str().unwrap();
    assert!(msg.contains("403") && msg.contains("resources"), "{msg}");
    assert!(
        !msg.contains("test-token") && !msg.contains("not-a-real-secret"),
        "{msg}"
    );
    assert_eq!(failing["conditions"][0]["status"], "False", "{failing:#}");
    assert!(bad_calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    drop(c);
    ns.delete().await;
}
