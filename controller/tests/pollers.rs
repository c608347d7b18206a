//! Pollers against local HTTP servers answering with real recorded payloads from
//! `../shared/corpus` (read in place, never copied). No Kubernetes: changes go to a recorder,
//! credentials come from a map, status lives in the in-memory StatusBook.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::rsa_key;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use nexus_api::integrations::{
    AzureDevOpsIntegrationSpec, AzureSubscriptionSourceSpec, GitHubIntegrationSpec, SecretKeyRef,
};
use nexus_controller::ingestion::{
    pollers::{
        BoxFut, Credentials, Env, HttpConfig, Sink, azure::AzurePoller, azure_devops::AdoPoller,
        github::GitHubPoller,
    },
    registry::{IntegrationKey, IntegrationKind},
    status::StatusBook,
};
use nexus_ingest::{Change, Target, change::AZURE_SOURCE};
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The body of a REST example file (`{parameters, responses: {"200": {body}}}`).
fn example_body(path: &str) -> Value {
    let v: Value = serde_json::from_slice(&corpus(path)).unwrap();
    v["responses"]["200"]["body"].clone()
}

// --- test doubles ---------------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<Change>>>,
}

impl Recorder {
    fn all(&self) -> Vec<Change> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }
    fn batches(&self) -> usize {
        self.batches.lock().unwrap().len()
    }
}

impl Sink for Recorder {
    fn apply<'a>(&'a self, changes: &'a [Change]) -> BoxFut<'a, Result<usize, String>> {
        Box::pin(async move {
            self.batches.lock().unwrap().push(changes.to_vec());
            Ok(changes.len())
        })
    }

    /// What the catalog would hold: the AzureResources upserted as `nexus-azure` with that
    /// source annotation, minus those deleted since.
    fn azure_resources_of(&self, source: &str) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for c in self.all() {
            match c {
                Change::Upsert(u)
                    if u.kind() == "AzureResource"
                        && u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"]
                            == "nexus-azure"
                        && u.object["metadata"]["annotations"][AZURE_SOURCE] == source =>
                {
                    let id = u.object["spec"]["resourceId"].as_str().unwrap().to_string();
                    if !ids.iter().any(|i| i.eq_ignore_ascii_case(&id)) {
                        ids.push(id);
                    }
                }
                Change::Gone(g) if g.delete => {
                    if let Target::AzureResourceId { id } = &g.target {
                        ids.retain(|i| !i.eq_ignore_ascii_case(id));
                    }
                }
                _ => {}
            }
        }
        ids
    }
}

struct Secrets(HashMap<String, Vec<u8>>);

impl Credentials for Secrets {
    fn read<'a>(
        &'a self,
        _namespace: &'a str,
        r: &'a SecretKeyRef,
    ) -> BoxFut<'a, Result<Arc<Vec<u8>>, String>> {
        Box::pin(async move {
            self.0
                .get(&r.name)
                .map(|v| Arc::new(v.clone()))
                .ok_or_else(|| format!("Secret {} not found", r.name))
        })
    }
}

fn env(sink: Arc<Recorder>, secrets: &[(&str, &[u8])], status: &StatusBook) -> Env {
    Env {
        sink,
        secrets: Arc::new(Secrets(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        )),
        status: status.clone(),
        api_calls: None,
        http: HttpConfig {
            request_timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(20),
            max_attempts: 3,
            ..HttpConfig::default()
        },
    }
}

fn key(kind: IntegrationKind) -> IntegrationKey {
    IntegrationKey {
        kind,
        namespace: "nexus-system".into(),
        name: "test".into(),
    }
}

// --- a local server -------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Seen {
    /// When the server received the request.
    at: Instant,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Answer with an ETag, and 304 when the request already has it.
    etag: bool,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Reply::bytes(status, serde_json::to_vec(body).unwrap())
    }
    fn bytes(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            etag: false,
        }
    }
    fn header(mut self, n: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((n, v.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Srv {
    handler: Handler,
    log: Arc<Mutex<Vec<Seen>>>,
}

async fn handle(
    State(s): State<Srv>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        at: Instant::now(),
        method,
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body,
    };
    s.log.lock().unwrap().push(seen.clone());
    let reply = (s.handler)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = if reply.etag {
        let etag = format!("\"{:x}\"", fxhash(&reply.body));
        let hit = seen
            .headers
            .get("if-none-match")
            .is_some_and(|v| v.to_str().unwrap() == etag);
        let mut r = if hit {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response()
        };
        r.headers_mut().insert("etag", etag.parse().unwrap());
        r
    } else {
        (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response()
    };
    for (n, v) in reply.headers {
        resp.headers_mut().insert(n, v.parse().unwrap());
    }
    resp
}

fn fxhash(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

async fn serve(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(handle).with_state(Srv {
        handler,
        log: log.clone(),
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), log)
}

fn paths(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

// --- GitHub ---------------------------------------------------------------------------------

struct GitHub {
    base: String,
    log: Arc<Mutex<Vec<Seen>>>,
    /// One-off replies for `GET /installation/repositories`, served before the normal one.
    listing: Arc<Mutex<VecDeque<Reply>>>,
    jwts: Arc<Mutex<Vec<Value>>>,
    private: Vec<u8>,
    /// Files of the default branch's Git tree (path → content); `None`: the trees API
    /// answers 404, as for a repository the App cannot read.
    files: Files,
}

type Files = Arc<Mutex<Option<BTreeMap<String, Vec<u8>>>>>;

/// The blob sha the fake gives a file: a hash of its content, like Git's.
fn blob_sha(content: &[u8]) -> String {
    format!("{:040x}", fxhash(content))
}

const TOKEN: &str = "ghs_installation_token_for_tests";
const EXAMPLES: &str = "backstage-examples/packages/catalog-model/examples";

async fn github() -> GitHub {
    let (private, public) = rsa_key();
    let listing: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
    let jwts: Arc<Mutex<Vec<Value>>> = Arc::default();
    let files: Files = Arc::default();
    let (l, j, f) = (listing.clone(), jwts.clone(), files.clone());
    let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
    let handler: Handler = Arc::new(move |s: &Seen| {
        let auth = s
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let app_call = s.path.starts_with("/app/") || s.path.ends_with("/installation");
        if app_call {
            let jwt = auth.strip_prefix("Bearer ").unwrap_or("");
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.set_issuer(&["4242"]);
            match jsonwebtoken::decode::<Value>(jwt, &decoding, &v) {
                Ok(t) => j.lock().unwrap().push(t.claims),
                Err(e) => {
                    return Reply::json(401, &json!({"message": format!("bad JWT: {e}")}));
                }
            }
            if s.path == "/orgs/octocat/installation" {
                return Reply::bytes(200, corpus("github-rest-api/installation.json"));
            }
            if s.method == Method::POST && s.path == "/app/installations/1/access_tokens" {
                let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
                return Reply::json(201, &json!({"token": TOKEN, "expires_at": exp.to_string()}));
            }
            return Reply::json(404, &json!({"message": "Not Found"}));
        }
        if auth != format!("Bearer {TOKEN}") {
            return Reply::json(401, &json!({"message": "Bad credentials"}));
        }
        let ok = |b: Vec<u8>| {
            let mut r = Reply::bytes(200, b)
                .header("x-ratelimit-remaining", "4999")
                .header("x-ratelimit-reset", "4102444800");
            r.etag = true;
            r
        };
        let repo = "/repos/octocat/Hello-World";
        match s.path.as_str() {
            "/installation/repositories" => {
                if let Some(r) = l.lock().unwrap().pop_front() {
                    return r;
                }
                let items: Value = serde_json::from_slice(&corpus(
                    "github-rest-api/minimal-repository-items.json",
                ))
                .unwrap();
                ok(serde_json::to_vec(&json!({"total_count": 1, "repositories": items})).unwrap())
            }
            // The repository itself, as a rescan reads it.
            p if p == repo => {
                let items: Value = serde_json::from_slice(&corpus(
                    "github-rest-api/minimal-repository-items.json",
                ))
                .unwrap();
                ok(serde_json::to_vec(&items[0]).unwrap())
            }
            p if p == format!("{repo}/pulls") => {
                ok(corpus("github-rest-api/pull-request-simple-items.json"))
            }
            p if p == format!("{repo}/rulesets") => {
                ok(serde_json::to_vec(&json!([{"id": 42, "name": "super cool ruleset"}])).unwrap())
            }
            p if p == format!("{repo}/rulesets/42") => {
                ok(corpus("github-rest-api/repository-ruleset.json"))
            }
            p if p == format!("{repo}/dependabot/alerts") => ok(corpus(
                "github-rest-api/dependabot-alerts-for-repository.json",
            )),
            p if p == format!("{repo}/contents/CODEOWNERS") => {
                ok(b"* @octocat\n/docs/ @octocat/docs-team\n".to_vec())
            }
            p if p == format!("{repo}/contents/catalog-info.yaml") => {
                ok(corpus(&format!("{EXAMPLES}/all-systems.yaml")))
            }
            p if p.starts_with(&format!("{repo}/contents/systems/")) => {
                let file = p.rsplit('/').next().unwrap();
                ok(corpus(&format!("{EXAMPLES}/systems/{file}")))
            }
            // The Git tree of the default branch, in the trees API's shape.
            p if p == format!("{repo}/git/trees/master") && s.query == "recursive=1" => {
                let Some(files) = f.lock().unwrap().clone() else {
                    return Reply::json(404, &json!({"message": "Not Found"}));
                };
                let mut tree = vec![json!({"path": "runbooks", "mode": "040000", "type": "tree",
                    "sha": "0".repeat(40)})];
                for (path, content) in &files {
                    tree.push(json!({"path": path, "mode": "100644", "type": "blob",
                        "sha": blob_sha(content), "size": content.len()}));
                }
                ok(
                    serde_json::to_vec(&json!({"sha": "1".repeat(40), "tree": tree,
                    "truncated": false}))
                    .unwrap(),
                )
            }
            p if p.starts_with(&format!("{repo}/git/blobs/")) => {
                let sha = p.rsplit('/').next().unwrap();
                let accept = s
                    .headers
                    .get("accept")
                    .map(|v| v.to_str().unwrap().to_string());
                if accept.as_deref() != Some("application/vnd.github.raw+json") {
                    return Reply::json(406, &json!({"message": "ask for the raw media type"}));
                }
                let files = f.lock().unwrap().clone().unwrap_or_default();
                match files.values().find(|c| blob_sha(c) == sha) {
                    Some(c) => ok(c.clone()),
                    None => Reply::json(404, &json!({"message": "Not Found"})),
                }
            }
            _ => Reply::json(404, &json!({"message": "Not Found"})),
        }
    });
    let (base, log) = serve(handler).await;
    GitHub {
        base,
        log,
        listing,
        jwts,
        private,
        files,
    }
}

fn github_spec(base: &str, installation: Option<i64>) -> GitHubIntegrationSpec {
    serde_json::from_value(json!({
        "appId": 4242,
        "installationId": installation,
        "organization": "octocat",
        "apiUrl": base,
        "privateKeyRef": {"name": "app", "key": "private-key.pem"},
        "webhookSecretRef": {"name": "hook", "key": "secret"},
        "namespaces": {"default": "catalog"},
    }))
    .unwrap()
}

fn github_poller(
    gh: &GitHub,
    installation: Option<i64>,
    sink: &Arc<Recorder>,
    status: &StatusBook,
    cursors: &BTreeMap<String, String>,
    tweak: impl FnOnce(&mut Env),
) -> GitHubPoller {
    let mut e = env(sink.clone(), &[("app", &gh.private)], status);
    tweak(&mut e);
    GitHubPoller::new(
        key(IntegrationKind::GitHub),
        github_spec(&gh.base, installation),
        e,
        cursors,
    )
    .unwrap()
}

#[tokio::test]
async fn github_full_sync_then_etags_then_restart() {
    let gh = github().await;
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::GitHub);
    let mut p = github_poller(&gh, None, &sink, &status, &BTreeMap::new(), |_| {});
    let report = p.sync().await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", status.last_error(&k));

    // The App JWT: RS256 signature verified by the server, iss = app id, 10 minutes of life
    // starting a minute back; used to find the installation and exchange a token.
    let jwts = gh.jwts.lock().unwrap().clone();
    assert_eq!(jwts.len(), 2, "installation lookup + token exchange");
    let now = jiff::Timestamp::now().as_second();
    for c in &jwts {
        assert_eq!(c["iss"], "4242");
        let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
        assert_eq!(exp - iat, 600);
        assert!(iat <= now - 55 && exp >= now + 500, "{c}");
    }
    let calls = paths(&gh.log);
    assert_eq!(calls[0], "GET /orgs/octocat/installation");
    assert_eq!(calls[1], "POST /app/installations/1/access_tokens");
    assert!(calls.contains(&"GET /repos/octocat/Hello-World/contents/CODEOWNERS".into()));
    assert!(
        calls.contains(
            &"GET /repos/octocat/Hello-World/contents/systems/podcast-system.yaml".into()
        )
    );

    let all = sink.all();
    let upsert_kinds: Vec<String> = all
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(u) => Some(u.kind().to_string()),
            _ => None,
        })
        .collect();
    assert!(
        upsert_kinds.contains(&"Repository".into()),
        "{upsert_kinds:?}"
    );
    assert_eq!(
        upsert_kinds.iter().filter(|k| *k == "System").count(),
        3,
        "the three systems of the catalog file's Location"
    );
    for c in &all {
        if let Change::Upsert(u) = c {
            assert_eq!(
                u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "nexus-github"
            );
        }
    }
    let facts: Vec<String> = all
        .iter()
        .filter_map(|c| match c {
            Change::Facts(f) => Some(
                f.set
                    .keys()
                    .cloned()
                    .chain(f.lists.iter().map(|l| l.field().to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect();
    for want in ["pullRequests", "branchProtection", "codeowners"] {
        assert!(
            facts.iter().any(|f| f.contains(want)),
            "{want} in {facts:?}"
        );
    }
    assert!(
        all.iter()
            .any(|c| matches!(c, Change::Facts(f) if matches!(f.target, Target::Package { .. }))),
        "dependabot alerts"
    );
    assert_eq!(status.sync_state(&k), (true, Some(4999)));
    let cursors = status.cursors(&k);
    assert!(cursors["repositoryFingerprints"].starts_with("octocat/Hello-World="));
    assert!(
        !cursors.contains_key("repositoriesETag"),
        "a restart could not use it"
    );
    assert!(cursors.contains_key("lastFullSync"));

    // Second sync in the same process: every answer is 304 → nothing parsed or applied, the
    // installation token is reused, and the files are not read again (not pushed since).
    let before = (sink.batches(), gh.log.lock().unwrap().len());
    p.sync().await.unwrap();
    assert_eq!(sink.batches(), before.0, "304s are not applied");
    let second: Vec<String> = paths(&gh.log)[before.1..].to_vec();
    assert!(!second.iter().any(|c| c.contains("access_tokens")));
    assert!(
        !second.iter().any(|c| c.contains("/contents/")),
        "{second:?}"
    );
    assert_eq!(gh.jwts.lock().unwrap().len(), 2);

    // A restart: stored cursors, empty caches. A repository listed before the restart is
    // reported gone (not deleted); files of unchanged repositories are not read.
    let mut stored = status.cursors(&k);
    let fp = stored["repositoryFingerprints"].clone();
    stored.insert(
        "repositoryFingerprints".into(),
        format!("{fp};octocat/Gone-Repo=00000000"),
    );
    let sink2 = Arc::new(Recorder::default());
    let mut p2 = github_poller(
        &gh,
        Some(1),
        &sink2,
        &StatusBook::default(),
        &stored,
        |_| {},
    );
    let before = gh.log.lock().unwrap().len();
    p2.sync().await.unwrap();
    let third: Vec<String> = paths(&gh.log)[before..].to_vec();
    assert!(!third.iter().any(|c| c.contains("/contents/")), "{third:?}");
    assert!(
        !third.iter().any(|c| c.contains("/orgs/")),
        "installationId given"
    );
    let gone: Vec<_> = sink2
        .all()
        .into_iter()
        .filter_map(|c| match c {
            Change::Gone(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 1);
    assert!(!gone[0].delete);
    assert!(
        matches!(&gone[0].target, Target::RepositoryUrl { url } if url.ends_with("/octocat/Gone-Repo"))
    );
}

const FAILOVER: &str = "---
title: Ledger database failover
tags: [database]
appliesTo: [component:payments/ledger]
alerts: [ledger-db-*]
resourceTypes: [microsoft.sql/servers/databases]
---
# Ledger database failover
";

fn runbook_upserts(changes: &[Change]) -> Vec<&nexus_ingest::Upsert> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(u) if u.kind() == "Runbook" => Some(u),
            _ => None,
        })
        .collect()
}

fn runbook_gone(changes: &[Change]) -> Vec<&nexus_ingest::Gone> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Gone(g) if matches!(g.target, Target::RunbooksOfRepository { .. }) => Some(g),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn github_runbooks_from_the_git_tree() {
    let gh = github().await;
    let files = BTreeMap::from([
        (
            "runbooks/db/failover.md".to_string(),
            FAILOVER.as_bytes().to_vec(),
        ),
        (
            "runbooks/README.md".to_string(),
            b"# Runbooks\nAn index.\n".to_vec(),
        ),
        (
            "runbooks/bad.md".to_string(),
            b"---\ntitle: Bad\nappliesTo: [\"Not A Ref!\"]\n---\n".to_vec(),
        ),
        (
            "runbooks/huge.md".to_string(),
            vec![b'x'; nexus_ingest::runbooks::MAX_RUNBOOK_BYTES + 1],
        ),
        (
            "docs/guide.md".to_string(),
            b"---\ntitle: Not under runbooks/\n---\n".to_vec(),
        ),
    ]);
    *gh.files.lock().unwrap() = Some(files.clone());
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::GitHub);
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    let report = p.sync().await.unwrap();

    // One Runbook, from the file under runbooks/ with front matter.
    let all = sink.all();
    let upserts = runbook_upserts(&all);
    assert_eq!(upserts.len(), 1, "{upserts:?}");
    let u = upserts[0];
    assert_eq!(u.name(), "octocat-hello-world-runbooks-db-failover");
    assert_eq!(u.namespace(), "catalog");
    assert_eq!(
        u.object["spec"]["source"]["path"],
        "runbooks/db/failover.md"
    );
    assert_eq!(u.object["spec"]["source"]["ref"], "master");
    assert_eq!(u.object["spec"]["alerts"], json!(["ledger-db-*"]));
    assert_eq!(
        u.object["metadata"]["annotations"]["nexus.dev/source-url"],
        "https://github.com/octocat/Hello-World/blob/master/runbooks/db/failover.md"
    );
    // Every listed runbook file is kept, read or not: the broken and the oversized ones must
    // not have their Runbooks marked gone.
    let gone = runbook_gone(&all);
    assert_eq!(gone.len(), 1);
    assert!(!gone[0].delete, "deleteMissing is off by default");
    assert_eq!(
        gone[0].target,
        Target::RunbooksOfRepository {
            url: "https://github.com/octocat/hello-world".into(),
            keep: vec![
                "runbooks/README.md".into(),
                "runbooks/bad.md".into(),
                "runbooks/db/failover.md".into(),
                "runbooks/huge.md".into(),
            ],
        }
    );
    // The bad file is reported with its line; the oversized one was never downloaded.
    assert_eq!(report.errors, 2, "{:?}", status.last_error(&k));
    let err = status.last_error(&k).unwrap();
    assert!(
        err.starts_with("octocat/Hello-World: runbooks/huge.md: ")
            || err.starts_with("octocat/Hello-World: runbooks/bad.md:3: appliesTo[0]:"),
        "{err}"
    );
    let calls = paths(&gh.log);
    let blob_of = |path: &str| {
        format!(
            "GET /repos/octocat/Hello-World/git/blobs/{}",
            blob_sha(&files[path])
        )
    };
    assert!(calls.contains(&blob_of("runbooks/bad.md")));
    assert!(
        !calls.contains(&blob_of("runbooks/huge.md")),
        "too large to read"
    );
    assert!(
        !calls.contains(&blob_of("docs/guide.md")),
        "not under spec.runbooks.paths"
    );

    // A push removes the failover runbook and edits the README: the rescan reports it gone,
    // and unchanged blobs are asked for conditionally (answered 304 from the ETag cache).
    let mut changed = files.clone();
    changed.remove("runbooks/db/failover.md");
    changed.insert(
        "runbooks/README.md".into(),
        b"# Runbooks\nEdited.\n".to_vec(),
    );
    *gh.files.lock().unwrap() = Some(changed);
    let before = (sink.batches(), gh.log.lock().unwrap().len());
    p.rescan("octocat/Hello-World").await.unwrap();
    let batches = sink.batches.lock().unwrap()[before.0..].concat();
    assert!(runbook_upserts(&batches).is_empty());
    let gone = runbook_gone(&batches);
    assert_eq!(gone.len(), 1);
    assert!(matches!(&gone[0].target,
        Target::RunbooksOfRepository { keep, .. } if !keep.iter().any(|k| k.contains("failover"))));
    let log = gh.log.lock().unwrap()[before.1..].to_vec();
    let bad_blob = log
        .iter()
        .find(|s| s.path.ends_with(&blob_sha(&files["runbooks/bad.md"])))
        .expect("the bad file is read again");
    assert!(
        bad_blob.headers.contains_key("if-none-match"),
        "conditional"
    );

    // With deleteMissing, Nexus-created Runbooks of deleted files are deleted.
    let mut spec = github_spec(&gh.base, Some(1));
    spec.runbooks.delete_missing = true;
    let sink2 = Arc::new(Recorder::default());
    let mut p2 = GitHubPoller::new(
        k.clone(),
        spec,
        env(
            sink2.clone(),
            &[("app", &gh.private)],
            &StatusBook::default(),
        ),
        &BTreeMap::new(),
    )
    .unwrap();
    p2.sync().await.unwrap();
    assert!(runbook_gone(&sink2.all())[0].delete);

    // Runbooks switched off: the tree is not even listed.
    let mut spec = github_spec(&gh.base, Some(1));
    spec.collect.runbooks = false;
    let before = gh.log.lock().unwrap().len();
    let sink3 = Arc::new(Recorder::default());
    GitHubPoller::new(
        k.clone(),
        spec,
        env(
            sink3.clone(),
            &[("app", &gh.private)],
            &StatusBook::default(),
        ),
        &BTreeMap::new(),
    )
    .unwrap()
    .sync()
    .await
    .unwrap();
    assert!(!paths(&gh.log)[before..].iter().any(|c| c.contains("/git/")));
    assert!(runbook_gone(&sink3.all()).is_empty());

    // A pattern that cannot be used is a configuration error, before any call.
    let mut spec = github_spec(&gh.base, Some(1));
    spec.runbooks.paths = vec!["./".into()];
    let bad_status = StatusBook::default();
    let e = GitHubPoller::new(
        k.clone(),
        spec,
        env(Arc::new(Recorder::default()), &[], &bad_status),
        &BTreeMap::new(),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("spec.runbooks.paths"), "{e}");
}

#[tokio::test]
async fn github_without_a_readable_tree_reports_no_runbook_gone() {
    // The default fake answers 404 for the tree (no access, no such branch).
    let gh = github().await;
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    let report = p.sync().await.unwrap();
    assert_eq!(
        report.errors,
        0,
        "{:?}",
        status.last_error(&key(IntegrationKind::GitHub))
    );
    assert!(
        paths(&gh.log)
            .iter()
            .any(|c| c.contains("/git/trees/master"))
    );
    assert!(runbook_gone(&sink.all()).is_empty());
    assert!(runbook_upserts(&sink.all()).is_empty());
}

#[tokio::test]
async fn github_401_is_a_status_error_naming_the_call() {
    let gh = github().await;
    gh.listing
        .lock()
        .unwrap()
        .push_back(Reply::json(401, &json!({"message": "Bad credentials"})));
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    assert!(p.sync().await.is_err());
    let k = key(IntegrationKind::GitHub);
    let err = status.last_error(&k).unwrap();
    assert_eq!(err, "GET /installation/repositories: 401 Bad credentials");
    assert!(!err.contains(TOKEN));
    assert_eq!(sink.batches(), 0);
    assert!(!status.sync_state(&k).0);
    // The token is dropped after a 401: the next sync exchanges a new one, and succeeds.
    p.sync().await.unwrap();
    assert_eq!(
        paths(&gh.log)
            .iter()
            .filter(|c| c.contains("access_tokens"))
            .count(),
        2
    );
}

#[tokio::test]
async fn github_429_retry_after_waits_then_succeeds() {
    let gh = github().await;
    gh.listing.lock().unwrap().push_back(
        Reply::json(
            429,
            &json!({"message": "You have exceeded a secondary rate limit"}),
        )
        .header("retry-after", "1"),
    );
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    let t = Instant::now();
    p.sync().await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(5));
    let listings = paths(&gh.log)
        .iter()
        .filter(|c| c.ends_with("/installation/repositories"))
        .count();
    assert_eq!(listings, 2);
    assert!(sink.batches() > 0);
}

/// The installation listing as the fake serves it by default.
fn listing_body() -> Vec<u8> {
    let items: Value =
        serde_json::from_slice(&corpus("github-rest-api/minimal-repository-items.json")).unwrap();
    serde_json::to_vec(&json!({"total_count": 1, "repositories": items})).unwrap()
}

/// The requests the fake received for `path`, in order.
fn requests_to(log: &Arc<Mutex<Vec<Seen>>>, path: &str) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == path)
        .cloned()
        .collect()
}

#[tokio::test]
async fn github_primary_limit_exhausted_waits_for_the_reset() {
    let gh = github().await;
    // The listing spends the last request of the window, which resets this second: the next
    // call waits for the reset (one second past it) instead of drawing a 403.
    let reset = jiff::Timestamp::now().as_second();
    gh.listing.lock().unwrap().push_back(
        Reply::bytes(200, listing_body())
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset.to_string()),
    );
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::GitHub);
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    p.sync().await.unwrap();
    assert!(
        status.last_error(&k).is_none(),
        "{:?}",
        status.last_error(&k)
    );
    let seen = gh.log.lock().unwrap().clone();
    let listing = seen
        .iter()
        .position(|s| s.path == "/installation/repositories")
        .unwrap();
    assert_eq!(
        requests_to(&gh.log, "/installation/repositories").len(),
        1,
        "an exhausted limit on a 200 is no reason to repeat the call"
    );
    let next = seen
        .get(listing + 1)
        .expect("the sync went on after the reset");
    assert!(
        next.path.starts_with("/repos/octocat/Hello-World"),
        "{next:?}"
    );
    // A lower bound only: a sleep may last longer, never shorter.
    assert!(next.at.duration_since(seen[listing].at) >= Duration::from_secs(1));
    assert!(sink.batches() > 0);
    assert_eq!(status.sync_state(&k), (true, Some(4999)), "later answers");

    // A reset further away than the poller may wait: no further call is sent, the sync fails
    // naming the call it held back, and status keeps the exhausted limit.
    let far = jiff::Timestamp::now().as_second() + 3600;
    gh.listing.lock().unwrap().push_back(
        Reply::bytes(200, listing_body())
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", far.to_string()),
    );
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |e| {
        e.http.max_wait = Duration::from_secs(5);
    });
    let before = gh.log.lock().unwrap().len();
    assert!(p.sync().await.is_err());
    let calls = paths(&gh.log)[before..].to_vec();
    assert_eq!(
        calls,
        [
            "POST /app/installations/1/access_tokens",
            "GET /installation/repositories"
        ]
    );
    let err = status.last_error(&k).unwrap();
    assert!(
        err.starts_with("GET /repos/octocat/Hello-World/")
            && err.contains("rate limited; retry in")
            && err.ends_with("is longer than the 5s the poller waits"),
        "{err}"
    );
    assert_eq!(status.sync_state(&k), (false, Some(0)));
}

#[tokio::test]
async fn github_403_secondary_limit_retry_after_waits_then_succeeds() {
    let gh = github().await;
    let secondary = |retry_after: &str| {
        Reply::json(
            403,
            &json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
        )
        .header("retry-after", retry_after.to_string())
        .header("x-ratelimit-remaining", "4321")
        .header("x-ratelimit-reset", "4102444800")
    };
    gh.listing.lock().unwrap().push_back(secondary("1"));
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::GitHub);
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    p.sync().await.unwrap();
    assert!(
        status.last_error(&k).is_none(),
        "{:?}",
        status.last_error(&k)
    );
    let listings = requests_to(&gh.log, "/installation/repositories");
    assert_eq!(listings.len(), 2, "the 403, then the same call once more");
    assert!(listings[1].at.duration_since(listings[0].at) >= Duration::from_secs(1));
    assert!(sink.batches() > 0);

    // Retry-After longer than the poller waits: not retried, the error names the call and the
    // wait, and status shows what the 403 said of the primary limit.
    gh.listing.lock().unwrap().push_back(secondary("3600"));
    let status = StatusBook::default();
    let sink = Arc::new(Recorder::default());
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |e| {
        e.http.max_wait = Duration::from_secs(5);
    });
    assert!(p.sync().await.is_err());
    assert_eq!(requests_to(&gh.log, "/installation/repositories").len(), 3);
    assert_eq!(
        status.last_error(&k).unwrap(),
        "GET /installation/repositories: rate limited; retry in 3600s is longer than the 5s the poller waits"
    );
    assert_eq!(status.sync_state(&k), (false, Some(4321)));
    assert_eq!(sink.batches(), 0);
}

#[tokio::test]
async fn github_5xx_backs_off_then_succeeds() {
    let gh = github().await;
    for _ in 0..2 {
        gh.listing
            .lock()
            .unwrap()
            .push_back(Reply::json(502, &json!({"message": "Server Error"})));
    }
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    p.sync().await.unwrap();
    assert!(status.last_error(&key(IntegrationKind::GitHub)).is_none());
    assert!(sink.batches() > 0);

    // More 5xx than attempts: an error naming the call and the status.
    for _ in 0..3 {
        gh.listing
            .lock()
            .unwrap()
            .push_back(Reply::json(503, &json!({"message": "Service Unavailable"})));
    }
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    assert!(p.sync().await.is_err());
    assert_eq!(
        status.last_error(&key(IntegrationKind::GitHub)).unwrap(),
        "GET /installation/repositories: 503 Service Unavailable"
    );
}

#[tokio::test]
async fn github_timeout_is_an_error_and_nothing_is_applied() {
    let gh = github().await;
    for _ in 0..2 {
        let mut slow = Reply::json(200, &json!({"total_count": 0, "repositories": []}));
        slow.delay = Duration::from_secs(3);
        gh.listing.lock().unwrap().push_back(slow);
    }
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |e| {
        e.http.request_timeout = Duration::from_millis(200);
        e.http.max_attempts = 2;
    });
    let t = Instant::now();
    assert!(p.sync().await.is_err());
    assert!(t.elapsed() < Duration::from_secs(3));
    let err = status.last_error(&key(IntegrationKind::GitHub)).unwrap();
    assert!(
        err.starts_with("GET /installation/repositories: timed out"),
        "{err}"
    );
    assert_eq!(sink.batches(), 0);
}

#[tokio::test]
async fn github_truncated_json_is_a_parse_error_and_nothing_is_applied() {
    let gh = github().await;
    let body = corpus("github-rest-api/minimal-repository-items.json");
    let items: Value = serde_json::from_slice(&body).unwrap();
    let full = serde_json::to_vec(&json!({"total_count": 1, "repositories": items})).unwrap();
    gh.listing
        .lock()
        .unwrap()
        .push_back(Reply::bytes(200, full[..full.len() / 2].to_vec()));
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = github_poller(&gh, Some(1), &sink, &status, &BTreeMap::new(), |_| {});
    assert!(p.sync().await.is_err());
    let err = status.last_error(&key(IntegrationKind::GitHub)).unwrap();
    assert!(
        err.starts_with("GET /installation/repositories: response not understood: not valid JSON"),
        "{err}"
    );
    assert_eq!(sink.batches(), 0);
}

// --- Azure Resource Graph -------------------------------------------------------------------

#[tokio::test]
async fn resource_graph_pages_with_skip_token_and_reports_gone() {
    let page1 = example_body("azure-resource-graph/ResourcesNextPageQuery.2024-04-01.json");
    let token1 = page1["$skipToken"].as_str().unwrap().to_string();
    let page2 = example_body("azure-resource-graph/ResourcesBasicQuery.2024-04-01.json");
    let calls = Arc::new(Mutex::new(0usize));
    let (p1, p2, t1, c) = (page1.clone(), page2.clone(), token1.clone(), calls.clone());
    let handler: Handler = Arc::new(move |s: &Seen| {
        if s.path.ends_with("/oauth2/v2.0/token") {
            return Reply::json(
                200,
                &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "arm-token"}),
            );
        }
        if s.headers.get("authorization").unwrap().to_str().unwrap() != "Bearer arm-token" {
            return Reply::json(
                401,
                &json!({"error": {"code": "AuthenticationFailed", "message": "no"}}),
            );
        }
        let body: Value = serde_json::from_slice(&s.body).unwrap();
        let mut n = c.lock().unwrap();
        *n += 1;
        match body["options"]["$skipToken"].as_str() {
            None if *n == 1 => Reply::json(200, &p1),
            Some(t) if t == t1 => Reply::json(200, &p2),
            // Second sync: the first page only, no more pages.
            None => {
                let mut last = p1.clone();
                last.as_object_mut().unwrap().remove("$skipToken");
                Reply::json(200, &last)
            }
            Some(other) => Reply::json(
                400,
                &json!({"error": {"message": format!("bad token {other}")}}),
            ),
        }
    });
    let (base, log) = serve(handler).await;
    let dir = std::env::temp_dir().join(format!("nexus-pollers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("azure-identity-token");
    std::fs::write(&token_file, "federated.jwt.value\n").unwrap();
    let spec: AzureSubscriptionSourceSpec = serde_json::from_value(json!({
        "subscriptions": ["cfbbd179-59d2-4052-aa06-9270a38aa9d6"],
        "namespaces": {"default": "azure"},
        "auth": {"tenantId": "tenant-1", "clientId": "client-1", "workloadIdentity": true, "authorityHost": base},
        "armUrl": base,
        "deleteMissing": true,
    }))
    .unwrap();
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::AzureSubscription);
    let mut p = AzurePoller::new(
        k.clone(),
        spec,
        env(sink.clone(), &[], &status),
        &BTreeMap::new(),
    )
    .unwrap();
    p.entra_mut().set_token_file(&token_file);
    let report = p.sync().await.unwrap();
    assert_eq!(report.batches, 2, "one batch per page");
    assert_eq!(report.changes, 6);
    assert!(status.cursors(&k).contains_key("resourceGraphSyncedAt"));

    // The token exchange: workload identity, client assertion from the file, ARM scope.
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/tenant-1/oauth2/v2.0/token");
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&seen[0].body).unwrap();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["scope"], "https://management.azure.com/.default");
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form["client_assertion"], "federated.jwt.value");
    assert_eq!(seen[1].path, "/providers/Microsoft.ResourceGraph/resources");
    assert_eq!(seen[1].query, "api-version=2022-10-01");
    let second: Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(second["options"]["$skipToken"], token1.as_str());

    // A second full sync without page 2: its resources are gone (deleteMissing) — the token
    // is reused.
    let before = sink.batches();
    p.sync().await.unwrap();
    let gone: Vec<_> = sink.batches.lock().unwrap()[before..]
        .iter()
        .flatten()
        .filter_map(|c| match c {
            Change::Gone(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 3, "{gone:?}");
    assert!(gone.iter().all(|g| g.delete));
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.ends_with("/token"))
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn resource_graph_restart_reports_what_was_deleted_while_down() {
    let answer = Arc::new(Mutex::new(example_body(
        "azure-resource-graph/ResourcesBasicQuery.2024-04-01.json",
    )));
    let a = answer.clone();
    let handler: Handler = Arc::new(move |s: &Seen| {
        if s.path.ends_with("/oauth2/v2.0/token") {
            return Reply::json(
                200,
                &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "arm-token"}),
            );
        }
        Reply::json(200, &a.lock().unwrap())
    });
    let (base, _log) = serve(handler).await;
    let dir = std::env::temp_dir().join(format!("nexus-pollers-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("azure-identity-token");
    std::fs::write(&token_file, "federated.jwt.value\n").unwrap();
    let spec: AzureSubscriptionSourceSpec = serde_json::from_value(json!({
        "subscriptions": ["cfbbd179-59d2-4052-aa06-9270a38aa9d6"],
        "namespaces": {"default": "azure"},
        "auth": {"tenantId": "tenant-1", "clientId": "client-1", "workloadIdentity": true, "authorityHost": base},
        "armUrl": base,
        "deleteMissing": true,
    }))
    .unwrap();
    // One catalog (the recorder) and one status across the restart.
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let k = key(IntegrationKind::AzureSubscription);
    let poller = |cursors: &BTreeMap<String, String>| {
        let mut p = AzurePoller::new(
            k.clone(),
            spec.clone(),
            env(sink.clone(), &[], &status),
            cursors,
        )
        .unwrap();
        p.entra_mut().set_token_file(&token_file);
        p
    };
    let gone_since = |from: usize| -> Vec<nexus_ingest::Gone> {
        sink.batches.lock().unwrap()[from..]
            .iter()
            .flatten()
            .filter_map(|c| match c {
                Change::Gone(g) => Some(g.clone()),
                _ => None,
            })
            .collect()
    };

    let mut p = poller(&BTreeMap::new());
    p.sync().await.unwrap();
    let upserts: Vec<nexus_ingest::Upsert> = sink
        .all()
        .into_iter()
        .filter_map(|c| match c {
            Change::Upsert(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(upserts.len(), 3);
    for u in &upserts {
        assert_eq!(
            u.object["metadata"]["annotations"][AZURE_SOURCE],
            "nexus-system/test"
        );
    }
    assert!(gone_since(0).is_empty(), "nothing to compare with yet");
    let synced_at = status.cursors(&k)["resourceGraphSyncedAt"].clone();
    // Another source's resource in the same catalog: not this source's to report gone.
    let mut other = upserts[0].clone();
    other.object["spec"]["resourceId"] = json!(
        "/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG9/providers/Microsoft.Network/virtualNetworks/elsewhere"
    );
    other.object["metadata"]["annotations"][AZURE_SOURCE] = json!("nexus-system/other");
    sink.batches
        .lock()
        .unwrap()
        .push(vec![Change::Upsert(other)]);

    // The controller stops; meanwhile myVnet is deleted in Azure. A new poller starts from
    // the stored cursors, with nothing in memory.
    drop(p);
    {
        let mut body = answer.lock().unwrap();
        body["data"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["name"] != "myVnet");
        body["count"] = json!(2);
        body["totalRecords"] = json!(2);
    }
    let mut p = poller(&status.cursors(&k));
    let before = sink.batches();
    p.sync().await.unwrap();
    let gone = gone_since(before);
    assert_eq!(gone.len(), 1, "{gone:?}");
    let Target::AzureResourceId { id } = &gone[0].target else {
        panic!("{gone:?}")
    };
    assert!(
        id.eq_ignore_ascii_case(
            "/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG2/providers/Microsoft.Network/virtualNetworks/myVnet"
        ),
        "{id}"
    );
    assert!(
        gone[0].delete,
        "deleteMissing (the applier deletes only what Nexus created)"
    );
    assert!(
        gone[0].reason.contains(&synced_at),
        "the reason names the last complete sync before the restart: {}",
        gone[0].reason
    );

    // From then on the poller compares with its own previous result: nothing more is gone.
    let before = sink.batches();
    p.sync().await.unwrap();
    assert!(gone_since(before).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Azure DevOps ---------------------------------------------------------------------------

#[tokio::test]
async fn ado_wiql_delta_advances_the_cursor_and_a_restart_resumes_from_it() {
    let items = example_body("ado-rest-api/wit__7.1__workItems__GET__wit_WorkItems_ids-_ids_.json");
    let wiql_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let w = wiql_seen.clone();
    let handler: Handler = Arc::new(move |s: &Seen| {
        let auth = s.headers.get("authorization").unwrap().to_str().unwrap();
        // Basic base64(":pat-value")
        if auth != "Basic OnBhdC12YWx1ZQ==" {
            return Reply::json(401, &json!({"message": "TF400813: not authorized"}));
        }
        let p = s.path.as_str();
        if p == "/fabrikam/_apis/projects" {
            return Reply::json(
                200,
                &json!({"count": 1, "value": [{"id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": "Fabrikam-Fiber-Git"}]}),
            );
        }
        if p.ends_with("/_apis/wit/wiql") {
            assert!(s.query.contains("timePrecision=true"));
            let q: Value = serde_json::from_slice(&s.body).unwrap();
            let query = q["query"].as_str().unwrap().to_string();
            let first = w.lock().unwrap().is_empty();
            w.lock().unwrap().push(query);
            let refs: Vec<Value> = if first {
                [297, 299, 300]
                    .iter()
                    .map(|id| json!({"id": id, "url": "x"}))
                    .collect()
            } else {
                Vec::new()
            };
            return Reply::json(200, &json!({"queryType": "flat", "workItems": refs}));
        }
        if p.ends_with("/_apis/wit/workitems") {
            assert!(s.query.contains("ids=297,299,300"), "{}", s.query);
            assert!(s.query.contains("$expand=relations"), "{}", s.query);
            return Reply::json(200, &items);
        }
        if p.ends_with("/_apis/git/repositories")
            || p.ends_with("/_apis/build/definitions")
            || p.ends_with("/_apis/build/builds")
        {
            return Reply::json(200, &json!({"count": 0, "value": []}));
        }
        Reply::json(404, &json!({"message": "not found"}))
    });
    let (base, _log) = serve(handler).await;
    let spec: AzureDevOpsIntegrationSpec = serde_json::from_value(json!({
        "organization": "fabrikam",
        "apiUrl": base,
        "patRef": {"name": "pat", "key": "token"},
        "serviceHookSecretRef": {"name": "hook", "key": "secret"},
        "namespaces": {"default": "ado"},
    }))
    .unwrap();
    let k = key(IntegrationKind::AzureDevOps);
    let cursor = "workItemsChangedSince.Fabrikam-Fiber-Git";
    let stored: BTreeMap<String, String> =
        [(cursor.to_string(), "2014-12-01T00:00:00Z".to_string())].into();
    let sink = Arc::new(Recorder::default());
    let status = StatusBook::default();
    let mut p = AdoPoller::new(
        k.clone(),
        spec.clone(),
        env(sink.clone(), &[("pat", b"pat-value")], &status),
        &stored,
    )
    .unwrap();
    p.sync().await.unwrap();
    assert!(
        status.last_error(&k).is_none(),
        "{:?}",
        status.last_error(&k)
    );
    let work_items = sink
        .all()
        .into_iter()
        .filter(|c| matches!(c, Change::Upsert(u) if u.kind() == "WorkItem"))
        .count();
    assert_eq!(work_items, 3);
    // The latest System.ChangedDate of the three.
    assert_eq!(status.cursors(&k)[cursor], "2014-12-29T20:49:28.74Z");
    assert!(
        wiql_seen.lock().unwrap()[0].contains("[System.ChangedDate] >= '2014-12-01T00:00:00Z'")
    );

    // Restart: a new poller from the stored cursor asks only for changes since it.
    let stored = status.cursors(&k);
    let mut p2 = AdoPoller::new(
        k.clone(),
        spec,
        env(
            sink.clone(),
            &[("pat", b"pat-value")],
            &StatusBook::default(),
        ),
        &stored,
    )
    .unwrap();
    p2.sync().await.unwrap();
    let q = wiql_seen.lock().unwrap()[1].clone();
    assert!(
        q.contains("[System.ChangedDate] >= '2014-12-29T20:49:28Z'"),
        "{q}"
    );
    assert!(
        q.contains("[System.TeamProject] = 'Fabrikam-Fiber-Git'"),
        "{q}"
    );
    assert_eq!(
        p2.since("Fabrikam-Fiber-Git"),
        Some("2014-12-29T20:49:28.74Z")
    );
}
