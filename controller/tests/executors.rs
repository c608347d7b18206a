//! External executors (azure, azureDevOps, github, azureFunction, terraformCloud) against local
//! HTTP servers playing Entra, ARM, Key Vault, Azure DevOps, GitHub, a Function and Terraform
//! Cloud. No Kubernetes: integrations sit in hand-filled stores, credentials come from a map.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::rsa_key;

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::{
    reflector::{Store, store::Writer},
    watcher,
};
use nexus_api::{
    actions::{ActionSpec, Execution},
    integrations::{
        AzureDevOpsIntegration, AzureSubscriptionSource, GitHubIntegration, IncidentSource,
        SecretKeyRef,
    },
};
use nexus_controller::{
    actions::executors::{
        External, Progress, Providers, azure::CHARSET, poll_external, start_external,
    },
    ingestion::{
        pollers::{BoxFut, Credentials, HttpConfig},
        registry::Integrations,
    },
};
use serde_json::{Value, json};

// --- test doubles ---------------------------------------------------------------------------

struct Secrets(HashMap<String, Vec<u8>>);

impl Credentials for Secrets {
    fn read<'a>(
        &'a self,
        namespace: &'a str,
        r: &'a SecretKeyRef,
    ) -> BoxFut<'a, Result<Arc<Vec<u8>>, String>> {
        Box::pin(async move {
            self.0
                .get(&format!("{namespace}/{}", r.name))
                .map(|v| Arc::new(v.clone()))
                .ok_or_else(|| format!("Secret {namespace}/{} not found", r.name))
        })
    }
}

fn store<K>(objs: Vec<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let mut w: Writer<K> = Writer::default();
    for o in objs {
        w.apply_watcher_event(&watcher::Event::Apply(o));
    }
    let r = w.as_reader();
    // The reader keeps the data; the writer is not needed any more.
    std::mem::forget(w);
    r
}

#[derive(Default)]
struct Objects {
    github: Vec<GitHubIntegration>,
    ado: Vec<AzureDevOpsIntegration>,
    azure: Vec<AzureSubscriptionSource>,
}

const INTEGRATIONS_NS: &str = "nexus-system";
const RUN_NS: &str = "team-payments";
const RUN_UID: &str = "0b5c7c1e-1111-4a4a-9999-abcdefabcdef";

fn providers(objs: Objects, secrets: &[(&str, &[u8])]) -> Providers {
    let integrations = Integrations {
        github: store(objs.github),
        azure_devops: store(objs.ado),
        azure: store(objs.azure),
        incidents: store::<IncidentSource>(Vec::new()),
    };
    Providers::new(
        Some(integrations),
        Some(INTEGRATIONS_NS.into()),
        Arc::new(Secrets(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        )),
    )
    .with_http(HttpConfig {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        backoff: Duration::from_millis(10),
        max_attempts: 2,
        ..HttpConfig::default()
    })
}

fn meta(name: &str) -> kube::api::ObjectMeta {
    kube::api::ObjectMeta {
        name: Some(name.into()),
        namespace: Some(INTEGRATIONS_NS.into()),
        ..Default::default()
    }
}

fn action(executor: Value) -> ActionSpec {
    serde_json::from_value(
        json!({"title": "Test action", "version": "1.0.0", "executor": executor}),
    )
    .unwrap()
}

fn values(inputs: Value) -> Value {
    json!({
        "inputs": inputs,
        "target": null,
        "run": {"name": "run-1", "namespace": RUN_NS, "requester": "dana@contoso.com", "attempt": 1},
        "outputs": {},
    })
}

fn external<'a>(p: &'a Providers, a: &'a ActionSpec, v: &'a Value) -> External<'a> {
    External {
        providers: p,
        namespace: RUN_NS,
        run_name: "run-1",
        run_uid: RUN_UID,
        attempt: 1,
        action: a,
        values: v,
    }
}

fn execution(kind: &str, reference: Option<String>) -> Execution {
    Execution {
        attempt: 1,
        executor: kind.into(),
        reference,
        started_at: Time(jiff::Timestamp::now()),
        finished_at: None,
        command: Vec::new(),
    }
}

/// Every test finishes within this.
async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the test took too long");
}

// --- a local server -------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, n: &str) -> String {
        self.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(body).unwrap(),
        }
    }
    fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }
    fn header(mut self, n: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((n, v.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, &str) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Srv {
    handler: Handler,
    log: Arc<Mutex<Vec<Seen>>>,
    base: Arc<Mutex<String>>,
}

async fn handle(
    State(s): State<Srv>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body,
    };
    s.log.lock().unwrap().push(seen.clone());
    let base = s.base.lock().unwrap().clone();
    let reply = (s.handler)(&seen, &base);
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (n, v) in reply.headers {
        resp.headers_mut().insert(n, v.parse().unwrap());
    }
    resp
}

async fn serve(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let base = Arc::new(Mutex::new(String::new()));
    let app = Router::new().fallback(handle).with_state(Srv {
        handler,
        log: log.clone(),
        base: base.clone(),
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    *base.lock().unwrap() = format!("http://{addr}");
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), log)
}

fn calls(log: &Arc<Mutex<Vec<Seen>>>, method: &str, path: &str) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.method.as_str() == method && s.path == path)
        .cloned()
        .collect()
}

/// Entra's token endpoint: a token per scope (`arm-token`, `vault-token`).
fn entra(s: &Seen) -> Option<Reply> {
    if s.method != Method::POST || s.path != "/tenant-1/oauth2/v2.0/token" {
        return None;
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&s.body).unwrap();
    if form.get("client_secret").map(String::as_str) != Some("sp-secret") {
        return Some(Reply::json(
            401,
            &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}),
        ));
    }
    let token = match form.get("scope").map(String::as_str) {
        Some("https://management.azure.com/.default") => "arm-token",
        Some("https://vault.azure.net/.default") => "vault-token",
        _ => "other-token",
    };
    Some(Reply::json(
        200,
        &json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}),
    ))
}

fn azure_source(base: &str) -> AzureSubscriptionSource {
    AzureSubscriptionSource {
        metadata: meta("contoso-prod"),
        spec: serde_json::from_value(json!({
            "subscriptions": ["sub-1"],
            "namespaces": {"default": "azure"},
            "auth": {
                "tenantId": "tenant-1", "clientId": "client-1", "authorityHost": base,
                "clientSecretRef": {"name": "azure-sp", "key": "secret"},
            },
            "armUrl": base,
        }))
        .unwrap(),
        status: None,
    }
}

// --- azure: ARM ------------------------------------------------------------------------------

#[tokio::test]
async fn arm_long_running_operation_then_errors() {
    bounded(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let p2 = polls.clone();
        let handler: Handler = Arc::new(move |s: &Seen, base: &str| {
            if let Some(r) = entra(s) {
                return r;
            }
            if s.header("authorization") != "Bearer arm-token" {
                return Reply::json(401, &json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}));
            }
            match (s.method.as_str(), s.path.as_str()) {
                ("PUT", "/subscriptions/sub-1/resourcegroups/rg-new") => Reply::json(
                    201,
                    &json!({"id": "/subscriptions/sub-1/resourcegroups/rg-new", "properties": {"provisioningState": "Accepted"}}),
                )
                .header("azure-asyncoperation", format!("{base}/operations/op-1?api-version=2021-04-01")),
                ("GET", "/operations/op-1") => {
                    if p2.fetch_add(1, Ordering::SeqCst) == 0 {
                        Reply::json(200, &json!({"status": "InProgress"}))
                    } else {
                        Reply::json(200, &json!({"status": "Succeeded"}))
                    }
                }
                ("GET", "/subscriptions/sub-1/resourcegroups/rg-new") => Reply::json(
                    200,
                    &json!({"id": "/subscriptions/sub-1/resourcegroups/rg-new", "location": "westeurope", "properties": {"provisioningState": "Succeeded"}}),
                ),
                ("PUT", "/subscriptions/sub-1/resourcegroups/rg-busy") => Reply::json(
                    409,
                    &json!({"error": {"code": "ResourceGroupBeingDeleted", "message": "The resource group 'rg-busy' is in deprovisioning state."}}),
                ),
                ("POST", "/subscriptions/sub-1/resourcegroups/rg-new/providers/Microsoft.Web/sites/app/slotsswap") => {
                    Reply::json(400, &json!({"error": {"code": "BadRequest", "message": "targetSlot is required"}}))
                }
                _ => Reply::json(404, &json!({"error": {"code": "NotFound", "message": "nothing here"}})),
            }
        });
        let (base, log) = serve(handler).await;
        let p = providers(
            Objects {
                azure: vec![azure_source(&base)],
                ..Default::default()
            },
            &[("nexus-system/azure-sp", b"sp-secret")],
        );
        let a = action(json!({"azure": {"credentials": "contoso-prod", "request": {
            "method": "PUT",
            "path": "/subscriptions/{{ inputs.subscription }}/resourcegroups/{{ inputs.name }}",
            "apiVersion": "2021-04-01",
            "body": {"location": "{{ inputs.location }}"},
            "outputs": {"location": "/location", "resourceId": "/id"},
        }}}));
        let v = values(json!({"subscription": "sub-1", "name": "rg-new", "location": "westeurope"}));
        let x = external(&p, &a, &v);

        let started = start_external(&x, &execution("azure", None)).await.unwrap();
        let op = format!("{base}/operations/op-1?api-version=2021-04-01");
        assert_eq!(started, Progress::Running { reference: Some(op.clone()) });
        let put = calls(&log, "PUT", "/subscriptions/sub-1/resourcegroups/rg-new");
        assert_eq!(put.len(), 1);
        assert_eq!(put[0].query, "api-version=2021-04-01");
        assert_eq!(put[0].json(), json!({"location": "westeurope"}));

        let exec = execution("azure", Some(op.clone()));
        assert_eq!(
            poll_external(&x, &exec).await.unwrap(),
            Progress::Running { reference: Some(op.clone()) }
        );
        match poll_external(&x, &exec).await.unwrap() {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["location"], "westeurope");
                assert_eq!(outputs["resourceId"], "/subscriptions/sub-1/resourcegroups/rg-new");
            }
            other => panic!("expected success, got {other:?}"),
        }
        // One token exchange for all of it (cached).
        assert_eq!(calls(&log, "POST", "/tenant-1/oauth2/v2.0/token").len(), 1);

        // A 409 fails the run with ARM's code and message.
        let v = values(json!({"subscription": "sub-1", "name": "rg-busy", "location": "westeurope"}));
        let x = external(&p, &a, &v);
        match start_external(&x, &execution("azure", None)).await.unwrap() {
            Progress::Failed { message, .. } => {
                assert!(message.contains("409"), "{message}");
                assert!(message.contains("ResourceGroupBeingDeleted"), "{message}");
                assert!(message.contains("PUT /subscriptions/sub-1/resourcegroups/rg-busy"), "{message}");
                assert!(!message.contains("arm-token"));
            }
            other => panic!("expected failure, got {other:?}"),
        }

        // A 400 on a POST: failed, sent once; after a restart without a reference a POST is
        // never sent again.
        let swap = action(json!({"azure": {"credentials": "contoso-prod", "request": {
            "method": "POST",
            "path": "/subscriptions/sub-1/resourcegroups/rg-new/providers/Microsoft.Web/sites/app/slotsswap",
            "apiVersion": "2023-01-01",
        }}}));
        let x = external(&p, &swap, &v);
        match start_external(&x, &execution("azure", None)).await.unwrap() {
            Progress::Failed { message, .. } => assert!(message.contains("400 Bad Request: BadRequest: targetSlot is required"), "{message}"),
            other => panic!("expected failure, got {other:?}"),
        }
        match poll_external(&x, &execution("azure", None)).await.unwrap() {
            Progress::Failed { message, .. } => assert!(message.starts_with("outcome unknown"), "{message}"),
            other => panic!("expected outcome unknown, got {other:?}"),
        }
        let swap_path = "/subscriptions/sub-1/resourcegroups/rg-new/providers/Microsoft.Web/sites/app/slotsswap";
        assert_eq!(calls(&log, "POST", swap_path).len(), 1);

        // Unknown credentials name the object.
        let a = action(json!({"azure": {"credentials": "nope", "request": {"method": "GET", "path": "/x", "apiVersion": "1"}}}));
        let x = external(&p, &a, &v);
        let err = start_external(&x, &execution("azure", None)).await.unwrap_err();
        assert!(err.to_string().contains("AzureSubscriptionSource nope not found"), "{err}");
    })
    .await;
}

// --- azure: Key Vault rotation ---------------------------------------------------------------

#[tokio::test]
async fn key_vault_rotation_never_shows_the_value() {
    bounded(async {
        let versions: Arc<Mutex<Vec<Value>>> = Arc::default();
        let v2 = versions.clone();
        let handler: Handler = Arc::new(move |s: &Seen, base: &str| {
            if let Some(r) = entra(s) {
                return r;
            }
            if s.header("authorization") != "Bearer vault-token" {
                return Reply::json(401, &json!({"error": {"code": "Unauthorized", "message": "no"}}));
            }
            match (s.method.as_str(), s.path.as_str()) {
                ("PUT", "/secrets/db-password") => {
                    let body = s.json();
                    let n = v2.lock().unwrap().len();
                    let id = format!("{base}/secrets/db-password/version{n}");
                    v2.lock().unwrap().push(json!({"id": id, "tags": body["tags"]}));
                    // Key Vault echoes the value: the executor must not pass it on.
                    Reply::json(200, &json!({"value": body["value"], "id": id, "tags": body["tags"], "attributes": {"enabled": true}}))
                }
                ("GET", "/secrets/db-password/versions") => {
                    Reply::json(200, &json!({"value": v2.lock().unwrap().clone(), "nextLink": null}))
                }
                ("PUT", "/secrets/locked") => Reply::json(
                    403,
                    &json!({"error": {"code": "Forbidden", "message": "The user does not have secrets set permission."}}),
                ),
                _ => Reply::json(404, &json!({"error": {"code": "SecretNotFound", "message": "no"}})),
            }
        });
        let (base, log) = serve(handler).await;
        let p = providers(
            Objects {
                azure: vec![azure_source(&base)],
                ..Default::default()
            },
            &[("nexus-system/azure-sp", b"sp-secret")],
        );
        let a = action(json!({"azure": {"credentials": "contoso-prod", "rotateSecret": {
            "vaultUrl": base, "secretName": "{{ inputs.secret }}", "length": 40,
        }}}));
        let v = values(json!({"secret": "db-password"}));
        let x = external(&p, &a, &v);
        let progress = start_external(&x, &execution("azure", None)).await.unwrap();

        let puts = calls(&log, "PUT", "/secrets/db-password");
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].query, "api-version=7.4");
        let body = puts[0].json();
        let value = body["value"].as_str().unwrap().to_string();
        assert_eq!(value.len(), 40);
        assert!(value.bytes().all(|b| CHARSET.contains(&b)), "{value}");
        assert_eq!(body["tags"]["nexus-action-run"], format!("{RUN_UID}/a1"));
        match &progress {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["secretVersion"], "version0");
                assert_eq!(outputs["secretId"], format!("{base}/secrets/db-password/version0"));
            }
            other => panic!("expected success, got {other:?}"),
        }
        assert!(!format!("{progress:?}").contains(&value), "the value leaked: {progress:?}");

        // Two rotations give two different values.
        start_external(&x, &execution("azure", None)).await.unwrap();
        let puts = calls(&log, "PUT", "/secrets/db-password");
        assert_ne!(puts[1].json()["value"], puts[0].json()["value"]);

        // After a restart without a recorded outcome, the tagged version is found, not rotated again.
        let before = calls(&log, "PUT", "/secrets/db-password").len();
        match poll_external(&x, &execution("azure", None)).await.unwrap() {
            Progress::Succeeded { outputs, log: lines } => {
                assert_eq!(outputs["secretVersion"], "version0");
                assert!(lines[0].contains("found the version"), "{lines:?}");
            }
            other => panic!("expected success, got {other:?}"),
        }
        assert_eq!(calls(&log, "PUT", "/secrets/db-password").len(), before);

        // A refusal fails the run; the value appears nowhere.
        let v = values(json!({"secret": "locked"}));
        let x = external(&p, &a, &v);
        let progress = start_external(&x, &execution("azure", None)).await.unwrap();
        let sent = calls(&log, "PUT", "/secrets/locked")[0].json()["value"]
            .as_str()
            .unwrap()
            .to_string();
        match &progress {
            Progress::Failed { message, .. } => {
                assert!(message.contains("403"), "{message}");
                assert!(message.contains("secrets set permission"), "{message}");
            }
            other => panic!("expected failure, got {other:?}"),
        }
        assert!(!format!("{progress:?}").contains(&sent));
    })
    .await;
}

// --- azureDevOps ---------------------------------------------------------------------------

#[tokio::test]
async fn ado_run_pipeline_polls_to_completion_and_never_starts_twice() {
    bounded(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let runs: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (p2, r2) = (polls.clone(), runs.clone());
        let handler: Handler = Arc::new(move |s: &Seen, base: &str| {
            // PAT as basic auth with an empty user.
            use base64::Engine as _;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(":ado-pat")
            );
            if s.header("authorization") != expected {
                return Reply::text(203, "<html>sign in</html>");
            }
            let runs_path = "/fabrikam/Fabrikam%20Fiber/_apis/pipelines/7/runs";
            match (s.method.as_str(), s.path.as_str()) {
                ("POST", p) if p == runs_path => {
                    let id = 100 + r2.lock().unwrap().len() as u64;
                    let run = json!({"id": id, "state": "inProgress", "createdDate": jiff::Timestamp::now().to_string()});
                    r2.lock().unwrap().push(run.clone());
                    Reply::json(200, &run)
                }
                ("GET", p) if p == runs_path => {
                    Reply::json(200, &json!({"count": r2.lock().unwrap().len(), "value": r2.lock().unwrap().clone()}))
                }
                ("GET", p) if p == format!("{runs_path}/100") => {
                    if p2.fetch_add(1, Ordering::SeqCst) == 0 {
                        Reply::json(200, &json!({"id": 100, "state": "inProgress"}))
                    } else {
                        Reply::json(200, &json!({
                            "id": 100, "state": "completed", "result": "succeeded",
                            "_links": {"web": {"href": format!("{base}/fabrikam/Fabrikam%20Fiber/_build/results?buildId=100")}},
                        }))
                    }
                }
                _ => Reply::json(404, &json!({"message": "not found"})),
            }
        });
        let (base, log) = serve(handler).await;
        let ado = AzureDevOpsIntegration {
            metadata: meta("fabrikam"),
            spec: serde_json::from_value(json!({
                "organization": "fabrikam",
                "apiUrl": base,
                "patRef": {"name": "ado-pat", "key": "token"},
                "serviceHookSecretRef": {"name": "hook", "key": "secret"},
                "namespaces": {"default": "ado"},
            }))
            .unwrap(),
            status: None,
        };
        let p = providers(
            Objects {
                ado: vec![ado],
                ..Default::default()
            },
            &[("nexus-system/ado-pat", b"ado-pat")],
        );
        let a = action(json!({"azureDevOps": {
            "operation": "runPipeline", "integration": "fabrikam", "project": "Fabrikam Fiber",
            "pipelineId": "{{ inputs.pipeline }}", "branch": "main",
            "parameters": {"environment": "{{ inputs.env }}"},
        }}));
        let v = values(json!({"pipeline": 7, "env": "prod"}));
        let x = external(&p, &a, &v);
        let runs_path = "/fabrikam/Fabrikam%20Fiber/_apis/pipelines/7/runs";

        let started = start_external(&x, &execution("azureDevOps", None)).await.unwrap();
        assert_eq!(started, Progress::Running { reference: Some("100".into()) });
        let post = &calls(&log, "POST", runs_path)[0];
        assert_eq!(post.query, "api-version=7.1");
        assert_eq!(
            post.json(),
            json!({"templateParameters": {"environment": "prod"}, "resources": {"repositories": {"self": {"refName": "refs/heads/main"}}}})
        );
        let exec = execution("azureDevOps", Some("100".into()));
        assert_eq!(
            poll_external(&x, &exec).await.unwrap(),
            Progress::Running { reference: Some("100".into()) }
        );
        match poll_external(&x, &exec).await.unwrap() {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["runId"], "100");
                assert_eq!(outputs["result"], "succeeded");
                assert!(outputs["url"].ends_with("buildId=100"));
            }
            other => panic!("expected success, got {other:?}"),
        }

        // A restart between sending and recording: a run created since the attempt began means
        // the outcome is unknown, and nothing is started again.
        match poll_external(&x, &execution("azureDevOps", None)).await.unwrap() {
            Progress::Failed { message, .. } => {
                assert!(message.starts_with("outcome unknown"), "{message}");
                assert!(message.contains("raise spec.attempt"), "{message}");
            }
            other => panic!("expected outcome unknown, got {other:?}"),
        }
        assert_eq!(calls(&log, "POST", runs_path).len(), 1);

        // With no run since the attempt began, the request never arrived: it is sent now.
        runs.lock().unwrap().clear();
        let again = poll_external(&x, &execution("azureDevOps", None)).await.unwrap();
        assert_eq!(again, Progress::Running { reference: Some("100".into()) });
        assert_eq!(calls(&log, "POST", runs_path).len(), 2);
    })
    .await;
}

// --- github ---------------------------------------------------------------------------------

const GH_TOKEN: &str = "ghs_executor_test_token";

#[tokio::test]
async fn github_dispatch_and_existing_pull_request() {
    bounded(async {
        let (private, public) = rsa_key();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
        let handler: Handler = Arc::new(move |s: &Seen, _base: &str| {
            let auth = s.header("authorization");
            if s.path.starts_with("/app/") {
                let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                v.set_issuer(&["4242"]);
                if jsonwebtoken::decode::<Value>(auth.trim_start_matches("Bearer "), &decoding, &v).is_err() {
                    return Reply::json(401, &json!({"message": "bad JWT"}));
                }
                if s.method == Method::POST && s.path == "/app/installations/1/access_tokens" {
                    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
                    return Reply::json(201, &json!({"token": GH_TOKEN, "expires_at": exp.to_string()}));
                }
                return Reply::json(404, &json!({"message": "Not Found"}));
            }
            if auth != format!("Bearer {GH_TOKEN}") {
                return Reply::json(401, &json!({"message": "Bad credentials"}));
            }
            match (s.method.as_str(), s.path.as_str()) {
                ("GET", "/repos/octocat/hello") => Reply::json(
                    200,
                    &json!({"full_name": "octocat/hello", "default_branch": "main", "html_url": "https://github.example/octocat/hello"}),
                ),
                ("POST", "/repos/octocat/hello/actions/workflows/deploy.yml/dispatches") => Reply::text(204, ""),
                ("POST", "/repos/octocat/hello/pulls") => Reply::json(
                    422,
                    &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for octocat:feature-x."}]}),
                ),
                ("GET", "/repos/octocat/hello/pulls") => {
                    assert!(s.query.contains("head=octocat%3Afeature-x"), "{}", s.query);
                    Reply::json(200, &json!([{"number": 17, "html_url": "https://github.example/octocat/hello/pull/17"}]))
                }
                _ => Reply::json(404, &json!({"message": "Not Found"})),
            }
        });
        let (base, log) = serve(handler).await;
        let gh = GitHubIntegration {
            metadata: meta("octocat"),
            spec: serde_json::from_value(json!({
                "appId": 4242, "installationId": 1, "organization": "octocat", "apiUrl": base,
                "privateKeyRef": {"name": "app", "key": "private-key.pem"},
                "webhookSecretRef": {"name": "hook", "key": "secret"},
                "namespaces": {"default": "catalog"},
            }))
            .unwrap(),
            status: None,
        };
        let p = providers(
            Objects {
                github: vec![gh],
                ..Default::default()
            },
            &[("nexus-system/app", &private)],
        );
        let a = action(json!({"github": {
            "operation": "workflowDispatch", "integration": "octocat", "repository": "octocat/{{ inputs.repo }}",
            "workflow": "deploy.yml", "inputs": {"environment": "{{ inputs.env }}"},
        }}));
        let v = values(json!({"repo": "hello", "env": "staging"}));
        let x = external(&p, &a, &v);
        match start_external(&x, &execution("github", None)).await.unwrap() {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["workflowUrl"], "https://github.example/octocat/hello/actions/workflows/deploy.yml");
                assert_eq!(outputs["ref"], "main");
            }
            other => panic!("expected success, got {other:?}"),
        }
        let d = &calls(&log, "POST", "/repos/octocat/hello/actions/workflows/deploy.yml/dispatches")[0];
        assert_eq!(d.json(), json!({"ref": "main", "inputs": {"environment": "staging"}}));
        assert_eq!(d.header("x-github-api-version"), "2022-11-28");
        // A dispatch is never repeated after a restart.
        match poll_external(&x, &execution("github", None)).await.unwrap() {
            Progress::Failed { message, .. } => assert!(message.starts_with("outcome unknown"), "{message}"),
            other => panic!("expected outcome unknown, got {other:?}"),
        }

        let a = action(json!({"github": {
            "operation": "openPullRequest", "integration": "octocat", "repository": "octocat/hello",
            "branch": "feature-x", "title": "Bump {{ inputs.env }}", "body": "by Nexus",
        }}));
        let x = external(&p, &a, &v);
        match start_external(&x, &execution("github", None)).await.unwrap() {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["number"], "17");
                assert_eq!(outputs["url"], "https://github.example/octocat/hello/pull/17");
            }
            other => panic!("expected success, got {other:?}"),
        }
        let pr = &calls(&log, "POST", "/repos/octocat/hello/pulls")[0];
        assert_eq!(
            pr.json(),
            json!({"title": "Bump staging", "head": "feature-x", "base": "main", "body": "by Nexus"})
        );
        // One installation token for all calls.
        assert_eq!(calls(&log, "POST", "/app/installations/1/access_tokens").len(), 1);
    })
    .await;
}

// --- azureFunction ----------------------------------------------------------------------------

#[tokio::test]
async fn azure_function_outputs_and_failure_excerpt() {
    bounded(async {
        let handler: Handler = Arc::new(move |s: &Seen, _base: &str| {
            if s.header("x-functions-key") != "fn-key" {
                return Reply::text(401, "");
            }
            match s.path.as_str() {
                "/api/scale" => Reply::json(
                    200,
                    &json!({"status": "ok", "replicas": 3, "nested": {"a": 1}}),
                ),
                _ => Reply::text(500, &format!("boom: {}", "x".repeat(2000))),
            }
        });
        let (base, log) = serve(handler).await;
        let p = providers(Objects::default(), &[("team-payments/fn", b"fn-key")]);
        let a = action(json!({"azureFunction": {
            "url": format!("{base}/api/{{{{ inputs.fn }}}}"),
            "keyRef": {"name": "fn", "key": "key"},
            "body": {"service": "{{ inputs.service }}"},
        }}));
        let v = values(json!({"fn": "scale", "service": "checkout"}));
        let x = external(&p, &a, &v);
        match start_external(&x, &execution("azureFunction", None))
            .await
            .unwrap()
        {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["status"], "ok");
                assert_eq!(outputs["replicas"], "3");
                assert_eq!(outputs["nested"], r#"{"a":1}"#);
            }
            other => panic!("expected success, got {other:?}"),
        }
        assert_eq!(
            calls(&log, "POST", "/api/scale")[0].json(),
            json!({"service": "checkout"})
        );

        let v = values(json!({"fn": "broken", "service": "checkout"}));
        let x = external(&p, &a, &v);
        match start_external(&x, &execution("azureFunction", None))
            .await
            .unwrap()
        {
            Progress::Failed { message, .. } => {
                assert!(message.contains("POST /api/broken: 500"), "{message}");
                assert!(message.contains("boom"), "{message}");
                assert!(message.len() < 600, "{}", message.len());
                assert!(!message.contains("fn-key"));
            }
            other => panic!("expected failure, got {other:?}"),
        }
        // A POST is sent once, even on a 500.
        assert_eq!(calls(&log, "POST", "/api/broken").len(), 1);
    })
    .await;
}

// --- terraformCloud ---------------------------------------------------------------------------

#[tokio::test]
async fn terraform_cloud_run_polls_to_applied_and_is_found_after_a_restart() {
    bounded(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let created: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (p2, c2) = (polls.clone(), created.clone());
        let handler: Handler = Arc::new(move |s: &Seen, _base: &str| {
            if s.header("authorization") != "Bearer tfc-token" {
                return Reply::json(
                    401,
                    &json!({"errors": [{"status": "401", "title": "unauthorized"}]}),
                );
            }
            match (s.method.as_str(), s.path.as_str()) {
                ("POST", "/api/v2/runs") => {
                    assert_eq!(s.header("content-type"), "application/vnd.api+json");
                    let run = json!({"id": "run-abc", "type": "runs", "attributes": {
                        "status": "pending", "message": s.json()["data"]["attributes"]["message"],
                    }});
                    c2.lock().unwrap().push(run.clone());
                    Reply::json(201, &json!({"data": run}))
                }
                ("GET", "/api/v2/runs/run-abc") => {
                    let status = if p2.fetch_add(1, Ordering::SeqCst) == 0 {
                        "planning"
                    } else {
                        "applied"
                    };
                    Reply::json(
                        200,
                        &json!({"data": {"id": "run-abc", "attributes": {"status": status}}}),
                    )
                }
                ("GET", "/api/v2/workspaces/ws-123/runs") => {
                    Reply::json(200, &json!({"data": c2.lock().unwrap().clone()}))
                }
                _ => Reply::json(
                    404,
                    &json!({"errors": [{"status": "404", "title": "not found"}]}),
                ),
            }
        });
        let (base, log) = serve(handler).await;
        let p = providers(Objects::default(), &[("team-payments/tfc", b"tfc-token\n")]);
        let a = action(json!({"terraformCloud": {
            "address": base, "workspaceId": "{{ inputs.ws }}",
            "tokenRef": {"name": "tfc", "key": "token"}, "message": "scale {{ inputs.ws }}",
        }}));
        let v = values(json!({"ws": "ws-123"}));
        let x = external(&p, &a, &v);
        let started = start_external(&x, &execution("terraformCloud", None))
            .await
            .unwrap();
        assert_eq!(
            started,
            Progress::Running {
                reference: Some("run-abc".into())
            }
        );
        let body = calls(&log, "POST", "/api/v2/runs")[0].json();
        assert_eq!(
            body["data"]["relationships"]["workspace"]["data"],
            json!({"type": "workspaces", "id": "ws-123"})
        );
        assert_eq!(body["data"]["attributes"]["is-destroy"], json!(false));
        let message = body["data"]["attributes"]["message"].as_str().unwrap();
        assert_eq!(message, format!("scale ws-123 [nexus {RUN_UID}/a1]"));

        let exec = execution("terraformCloud", Some("run-abc".into()));
        assert_eq!(
            poll_external(&x, &exec).await.unwrap(),
            Progress::Running {
                reference: Some("run-abc".into())
            }
        );
        match poll_external(&x, &exec).await.unwrap() {
            Progress::Succeeded { outputs, .. } => {
                assert_eq!(outputs["runId"], "run-abc");
                assert_eq!(outputs["status"], "applied");
            }
            other => panic!("expected success, got {other:?}"),
        }
        // After a restart before the id was recorded: the tagged run is found, not queued again.
        match poll_external(&x, &execution("terraformCloud", None))
            .await
            .unwrap()
        {
            Progress::Succeeded { outputs, .. } => assert_eq!(outputs["runId"], "run-abc"),
            other => panic!("expected success, got {other:?}"),
        }
        assert_eq!(calls(&log, "POST", "/api/v2/runs").len(), 1);
    })
    .await;
}
