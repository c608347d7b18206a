//! Runbooks end to end against the real control plane (`make test-e2e`): Markdown files in a
//! fake GitHub repository (a local server on 127.0.0.1 speaking the REST shapes the poller
//! reads) become Runbook entities; an Azure Monitor alert (a real corpus delivery) becomes an
//! Incident, and nexus-apiserver surfaces the runbooks that match it, ranked, with reasons;
//! the HTML endpoint strips scripts; a push deleting a runbook file marks its Runbook gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use kube::api::DynamicObject;
use nexus_api::EntityKind;
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace,
    apiserver::{ApiserverOptions, ApiserverProcess},
    apply_in as apply, catalog, client,
    ingest::{corpus, post, post_github},
    kubectl, rsa_key, wait_some,
};
use serde_json::{Value, json};

const SECRET: &str = "runbooks-webhook-secret";
const WAIT: Duration = Duration::from_secs(60);
const OWNER: &str = "contoso";
const REPO: &str = "ops-docs";
const TOKEN: &str = "ghs_fake_installation_token";

// --- the fake GitHub -------------------------------------------------------------------------

/// The repository's default branch: path → content, and when it was last pushed.
#[derive(Default)]
struct Repo {
    files: BTreeMap<String, String>,
    pushed_at: String,
}

#[derive(Clone)]
struct Fake {
    repo: Arc<Mutex<Repo>>,
    calls: Arc<Mutex<Vec<String>>>,
}

fn sha(content: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    format!("{:040x}", h.finish())
}

fn repository_json(base: &str, pushed_at: &str) -> Value {
    json!({
        "id": 4711, "name": REPO, "full_name": format!("{OWNER}/{REPO}"),
        "html_url": format!("https://github.com/{OWNER}/{REPO}"),
        "url": format!("{base}/repos/{OWNER}/{REPO}"),
        "owner": {"login": OWNER}, "default_branch": "main", "private": false,
        "visibility": "internal", "archived": false, "fork": false, "topics": ["runbooks"],
        "pushed_at": pushed_at,
    })
}

async fn handle(
    State((fake, base)): State<(Fake, Arc<Mutex<String>>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    fake.calls.lock().unwrap().push(format!("{method} {path}"));
    let base = base.lock().unwrap().clone();
    let json_reply = |code: StatusCode, v: Value| (code, axum::Json(v)).into_response();
    if method == Method::POST && path == "/app/installations/1/access_tokens" {
        // No expiry: the poller then assumes GitHub's hour.
        return json_reply(StatusCode::CREATED, json!({"token": TOKEN}));
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    }
    let repo = fake.repo.lock().unwrap();
    let prefix = format!("/repos/{OWNER}/{REPO}");
    match path.as_str() {
        "/installation/repositories" => json_reply(
            StatusCode::OK,
            json!({"total_count": 1, "repositories": [repository_json(&base, &repo.pushed_at)]}),
        ),
        p if p == prefix => json_reply(StatusCode::OK, repository_json(&base, &repo.pushed_at)),
        p if p == format!("{prefix}/git/trees/main") => {
            let tree: Vec<Value> = repo
                .files
                .iter()
                .map(|(path, content)| {
                    json!({"path": path, "mode": "100644", "type": "blob",
                        "sha": sha(content), "size": content.len()})
                })
                .collect();
            json_reply(
                StatusCode::OK,
                json!({"sha": sha(&repo.pushed_at), "tree": tree, "truncated": false}),
            )
        }
        p if p.starts_with(&format!("{prefix}/git/blobs/")) => {
            let want = p.rsplit('/').next().unwrap_or_default();
            match repo.files.values().find(|c| sha(c) == want) {
                Some(c) => (StatusCode::OK, c.clone()).into_response(),
                None => json_reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
            }
        }
        _ => json_reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

async fn fake_github(files: BTreeMap<String, String>) -> (String, Fake) {
    let fake = Fake {
        repo: Arc::new(Mutex::new(Repo {
            files,
            pushed_at: "2026-05-01T10:00:00Z".into(),
        })),
        calls: Arc::default(),
    };
    let base = Arc::new(Mutex::new(String::new()));
    let app = Router::new()
        .fallback(handle)
        .with_state((fake.clone(), base.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    *base.lock().unwrap() = url.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, fake)
}

// --- the runbooks in the repository -----------------------------------------------------------

fn files() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "runbooks/storage/throttling.md".into(),
            "---\ntitle: Storage account throttling\ntags: [storage, sev2]\n\
             appliesTo: [azureresource:test-storage]\n---\n# Storage account throttling\n\n\
             Check the `Transactions` metric split by response type.\n"
                .into(),
        ),
        (
            "runbooks/alerts/metric-alerts.md".into(),
            "---\ntitle: Metric alerts in general\ntags: [alerts]\nalerts: [\"test-metric*\"]\n---\n\
             Look at the alert's condition first.\n"
                .into(),
        ),
        (
            "runbooks/azure/storage.md".into(),
            "---\ntitle: Any storage account\ntags: [storage]\n\
             resourceTypes: [microsoft.storage/storageaccounts]\n---\nGeneric steps.\n"
                .into(),
        ),
        (
            "runbooks/checkout.md".into(),
            "---\ntitle: Checkout outage\ntags: [checkout]\nappliesTo: [checkout]\n---\n\
             # Checkout outage\n\n<script>alert('xss')</script>\n\
             <img src=x onerror=alert(1)>\n\n[dashboard](javascript:alert(1)) \
             [next steps](../docs/next.md)\n"
                .into(),
        ),
        ("runbooks/README.md".into(), "# Runbooks\n\nThe index.\n".into()),
        (
            "runbooks/broken.md".into(),
            "---\ntitle: Broken\nappliesTo: [\"Not A Ref!\"]\n---\n".into(),
        ),
        ("docs/elsewhere.md".into(), "---\ntitle: Not a runbook path\n---\n".into()),
    ])
}

fn name_of(path: &str) -> String {
    let stem = path.trim_end_matches(".md").replace('/', "-");
    format!("{OWNER}-{REPO}-{stem}")
}

async fn runbook(ns: &str, name: &str) -> Option<DynamicObject> {
    let client = client().await.unwrap();
    catalog::api(&client, EntityKind::Runbook, Some(ns))
        .get_opt(name)
        .await
        .unwrap()
}

fn refs(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|i| i["ref"].as_str().unwrap().to_string())
        .collect()
}

/// The items of an answer in namespace `ns` (alert-rule and type matches are not limited to a
/// namespace, so runbooks other tests left behind may match too), in answer order.
fn items_in(v: &Value, ns: &str) -> Vec<Value> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .filter(|i| i["namespace"] == ns)
        .cloned()
        .collect()
}

#[tokio::test]
async fn runbooks_from_a_repository_surface_next_to_an_alert() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "runbooks").await.unwrap();
    let n = ns.name.as_str();
    let (github, fake) = fake_github(files()).await;
    let key = rsa_key();
    let key_yaml: String = key.lines().map(|l| format!("    {l}\n")).collect();
    apply(
        n,
        &format!(
            r#"
apiVersion: v1
kind: Secret
metadata: {{name: github-app}}
stringData:
  webhook-secret: "{SECRET}"
  private-key: |
{key_yaml}---
apiVersion: v1
kind: Secret
metadata: {{name: hooks}}
stringData: {{monitor: "{SECRET}"}}
---
apiVersion: integrations.nexus.dev/v1alpha1
kind: GitHubIntegration
metadata: {{name: gh}}
spec:
  appId: 1
  installationId: 1
  organization: {OWNER}
  apiUrl: {github}
  privateKeyRef: {{name: github-app, key: private-key}}
  webhookSecretRef: {{name: github-app, key: webhook-secret}}
  namespaces: {{default: {n}}}
  pollInterval: 10m
  collect:
    catalogFiles: false
    codeowners: false
    pullRequests: false
    branchProtection: false
    dependencyGraph: false
    dependabotAlerts: false
  runbooks:
    paths: ["runbooks/"]
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
metadata: {{name: ops}}
spec: {{displayName: Operations}}
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: checkout}}
spec: {{type: service, lifecycle: production, owner: ops}}
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
  owner: ops
"#
        ),
    );
    let mut opts = ControllerOptions::for_namespace(n, "runbooks-e2e");
    opts.extra_args = vec!["--integrations-namespace".into(), n.into()];
    let c = ControllerProcess::start(&opts).unwrap();

    // The four runbook files with front matter under runbooks/ become Runbooks Nexus manages;
    // the README (no front matter), the broken file and docs/ do not.
    let wanted = [
        "runbooks/storage/throttling.md",
        "runbooks/alerts/metric-alerts.md",
        "runbooks/azure/storage.md",
        "runbooks/checkout.md",
    ];
    let listed = wait_some("Runbooks from the repository", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::Runbook, Some(n))
            .list(&Default::default())
            .await?;
        Ok((list.items.len() >= wanted.len()).then_some(list.items))
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\ncalls: {:?}\n{}",
            fake.calls.lock().unwrap(),
            c.log_tail()
        )
    });
    let mut names: Vec<String> = listed
        .iter()
        .map(|o| o.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = wanted.iter().map(|p| name_of(p)).collect();
    expected.sort();
    assert_eq!(names, expected);
    let throttling = runbook(n, &name_of(wanted[0])).await.unwrap();
    let spec = &throttling.data["spec"];
    assert_eq!(spec["title"], "Storage account throttling");
    assert_eq!(
        spec["appliesTo"],
        json!([format!("azureresource:{n}/test-storage")])
    );
    assert_eq!(spec["source"]["path"], wanted[0]);
    assert_eq!(spec["source"]["ref"], "main");
    // The repository reference names the Repository ingestion created for the same URL.
    assert_eq!(
        spec["source"]["repository"],
        format!("repository:{n}/{OWNER}-{REPO}")
    );
    assert!(
        spec["content"]
            .as_str()
            .unwrap()
            .starts_with("# Storage account throttling")
    );
    assert_eq!(
        throttling.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "nexus-github"
    );
    // The broken file is reported on the integration, with its file and line.
    let error = wait_some("the broken runbook in status", WAIT, || async {
        let (ok, out, _) = kubectl(
            &[
                "get",
                "githubintegrations.integrations.nexus.dev",
                "gh",
                "-n",
                n,
                "-o",
                "json",
            ],
            None,
        )?;
        let v: Value = serde_json::from_str(if ok { &out } else { "null" })?;
        Ok(v.pointer("/status/lastError/message")
            .and_then(Value::as_str)
            .filter(|m| m.contains("broken.md"))
            .map(str::to_string))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert!(
        error.contains("runbooks/broken.md:3: appliesTo[0]:"),
        "{error}"
    );
    // The catalog controller resolves appliesTo into relations, as for any entity.
    wait_some("runbookFor relation", WAIT, || async {
        let o = runbook(n, &name_of(wanted[0])).await;
        Ok(o.and_then(|o| {
            o.data["status"]["relations"]
                .as_array()?
                .iter()
                .any(|r| {
                    r["type"] == "runbookFor"
                        && r["targetRef"] == format!("azureresource:{n}/test-storage")
                })
                .then_some(())
        }))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));

    // An Azure Monitor alert on the storage account (the corpus delivery) becomes an Incident
    // with its rule name and the AzureResource it affects.
    let http = reqwest::Client::new();
    let alert = corpus(
        "azure-monitor-alerts/common-alert-schema-azure-docs/full-payload.test-action.metric.fired.json",
    );
    let url = format!(
        "{}?token={SECRET}",
        c.webhook_url("incidents", n, "monitor")
    );
    let (code, text) = post(&http, &url, &[], alert).await.unwrap();
    assert_eq!(code, 202, "{text}");
    let incident = wait_some("Incident from Azure Monitor", WAIT, || async {
        let client = nexus_e2e::client().await?;
        let list = catalog::api(&client, EntityKind::Incident, Some(n))
            .list(&Default::default())
            .await?;
        Ok(list.items.into_iter().find(|i| {
            i.data["spec"]["affects"] == json!([format!("azureresource:{n}/test-storage")])
        }))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail()));
    assert_eq!(incident.data["spec"]["alertRule"], "test-metricAlertRule");
    let incident_name = incident.metadata.name.clone().unwrap();

    // nexus-apiserver: the incident's runbooks, ranked entity > alert rule > resource type.
    let api = ApiserverProcess::start_ready(&ApiserverOptions::new("runbooks"))
        .await
        .unwrap();
    let admin = api.token("e2e-admin", &["system:masters"]).unwrap();
    let for_incident = format!("/api/v1/runbooks/for/incident/{n}/{incident_name}");
    let ranked = [
        format!("runbook:{n}/{}", name_of(wanted[0])),
        format!("runbook:{n}/{}", name_of(wanted[1])),
        format!("runbook:{n}/{}", name_of(wanted[2])),
    ];
    let last = Mutex::new(Value::Null);
    let answer = wait_some("runbooks for the incident", WAIT, || {
        let (api, admin, path, ranked, last) = (&api, &admin, &for_incident, &ranked, &last);
        async move {
            let a = api.portal(path, Some(admin.as_str())).await?;
            let ours: Vec<Value> = items_in(&a.json, n);
            let got: Vec<&str> = ours.iter().map(|i| i["ref"].as_str().unwrap()).collect();
            *last.lock().unwrap() = a.json.clone();
            Ok((a.status == 200 && got == *ranked).then_some((a.json, ours)))
        }
    })
    .await
    .unwrap_or_else(|e| {
        let last = last.lock().unwrap();
        panic!("{e}\nlast answer: {last:#}\n{}", api.log_tail())
    });
    let (answer, items) = answer;
    assert_eq!(answer["alertRule"], "test-metricAlertRule");
    assert_eq!(answer["alertFrom"], "spec.alertRule");
    let matches: Vec<&str> = items.iter().map(|i| i["match"].as_str().unwrap()).collect();
    assert_eq!(matches, ["entity", "alertRule", "resourceType"]);
    assert_eq!(
        items[0]["reasons"][0],
        json!({"match": "entity", "ref": format!("azureresource:{n}/test-storage"), "via": "affected"})
    );
    assert_eq!(items[1]["reasons"][0]["pattern"], "test-metric*");
    assert_eq!(
        items[2]["reasons"][0]["type"],
        "Microsoft.Storage/storageAccounts"
    );
    assert_eq!(
        items[0]["sourceUrl"],
        format!("https://github.com/{OWNER}/{REPO}/blob/main/runbooks/storage/throttling.md")
    );
    // Entity matches rank before every alert-rule or type match, from any namespace.
    assert_eq!(answer["items"][0]["ref"], ranked[0]);

    // Search over runbooks only, with tag facets and a tag filter.
    let a = api
        .portal(
            &format!("/api/v1/runbooks?q=throttling&namespace={n}"),
            Some(admin.as_str()),
        )
        .await
        .unwrap()
        .expect(200, "runbook search")
        .unwrap();
    assert_eq!(refs(&a.json), [ranked[0].clone()]);
    let a = api
        .portal(
            &format!("/api/v1/runbooks?tag=storage&namespace={n}"),
            Some(admin.as_str()),
        )
        .await
        .unwrap()
        .expect(200, "runbooks by tag")
        .unwrap();
    assert_eq!(a.json["total"], 2, "{}", a.json);
    let tags: Vec<&str> = a.json["facets"]["tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"sev2"), "{tags:?}");

    // The HTML of the checkout runbook: script, handler and javascript: link gone, relative
    // link resolved against the repository, served with CSP and nosniff.
    let html_path = format!("/api/v1/runbooks/{n}/{}/html", name_of(wanted[3]));
    let a = api
        .portal(&html_path, Some(admin.as_str()))
        .await
        .unwrap()
        .expect(200, "runbook html")
        .unwrap();
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert!(
        a.header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'none'")),
        "{:?}",
        a.headers
    );
    let lower = a.text.to_ascii_lowercase();
    assert!(a.text.contains("<h1>Checkout outage</h1>"), "{}", a.text);
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!lower.contains(bad), "{bad} in {}", a.text);
    }
    assert!(
        a.text.contains(&format!(
            "https://github.com/{OWNER}/{REPO}/blob/main/docs/next.md"
        )),
        "{}",
        a.text
    );
    // Without a token: 401; a caller without RBAC on the namespace: 404, as if missing.
    let a = api.portal(&html_path, None).await.unwrap();
    assert_eq!(a.status, 401);
    let stranger = api.token("stranger", &["nobody"]).unwrap();
    let a = api
        .portal(&for_incident, Some(stranger.as_str()))
        .await
        .unwrap();
    assert!(a.status == 403 || a.status == 404, "{}", a.text);

    // A push deletes the throttling runbook: the receiver asks the poller to rescan at once,
    // and the Runbook is marked gone (not deleted: deleteMissing is off) and stops surfacing.
    {
        let mut repo = fake.repo.lock().unwrap();
        repo.files.remove(wanted[0]);
        repo.pushed_at = "2026-05-02T10:00:00Z".into();
    }
    let push = json!({
        "ref": "refs/heads/main", "before": "a".repeat(40), "after": "b".repeat(40),
        "deleted": false, "pusher": {"name": "alice"},
        "commits": [{"id": "b".repeat(40), "timestamp": "2026-05-02T10:00:00Z",
            "author": {"username": "alice"}, "added": [], "modified": [],
            "removed": [wanted[0]]}],
        "head_commit": {"id": "b".repeat(40), "timestamp": "2026-05-02T10:00:00Z",
            "added": [], "modified": [], "removed": [wanted[0]]},
        "repository": repository_json(&github, "2026-05-02T10:00:00Z"),
    });
    let (code, text) = post_github(
        &http,
        &c.webhook_url("github", n, "gh"),
        SECRET.as_bytes(),
        "push",
        "d-push-runbooks",
        serde_json::to_vec(&push).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, 202, "{text}");
    let gone = wait_some("Runbook marked gone", Duration::from_secs(30), || async {
        let o = runbook(n, &name_of(wanted[0])).await;
        Ok(o.and_then(|o| o.data.pointer("/status/sourceGone").cloned()))
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\ncalls: {:?}\n{}",
            fake.calls.lock().unwrap(),
            c.log_tail()
        )
    });
    assert!(
        gone["reason"]
            .as_str()
            .unwrap()
            .contains("no longer in the repository")
    );
    assert!(runbook(n, &name_of(wanted[1])).await.unwrap().data["status"]["sourceGone"].is_null());
    let without = [ranked[1].clone(), ranked[2].clone()];
    wait_some("gone runbook no longer surfaced", WAIT, || {
        let (api, admin, path, without) = (&api, &admin, &for_incident, &without);
        async move {
            let a = api.portal(path, Some(admin.as_str())).await?;
            let got: Vec<String> = items_in(&a.json, n)
                .iter()
                .map(|i| i["ref"].as_str().unwrap().to_string())
                .collect();
            Ok((got == *without).then_some(()))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", api.log_tail()));
    drop(api);
    drop(c);
    ns.delete().await;
}
