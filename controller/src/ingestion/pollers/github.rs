//! GitHub App poller.
//!
//! Auth: an RS256 JWT (iat = now − 60 s, exp = now + 9 min, iss = app id) signed with the App's
//! private key (from the Secret) is exchanged for an installation token
//! (`POST /app/installations/{id}/access_tokens`; the installation is looked up with
//! `GET /orgs/{org}/installation` when `spec.installationId` is absent), cached until five
//! minutes before it expires.
//!
//! A sync lists the installation's repositories (paginated), keeps those `spec.repositories`
//! selects, applies them (`repositories`), marks repositories listed last time but not now as
//! gone (never deleted), then reads per repository what `spec.collect` asks for: open pull
//! requests, branch protection of the default branch (rulesets when the repository has any,
//! else classic protection), Dependabot alerts, and — only when the repository was pushed since
//! the last sync — CODEOWNERS, `catalog-info.yaml`, the SBOM and the Markdown runbooks under
//! `spec.runbooks.paths` (listed with the Git trees API, each read as a blob by its content
//! hash; files that left the tree mark their Runbook gone, or delete it with
//! `spec.runbooks.deleteMissing`).
//!
//! Conditional requests: a 304 answer means that resource is unchanged and is neither parsed
//! nor applied — except runbooks, which are re-applied from the cached bodies whenever their
//! repository is read (one tree answer decides which Runbooks are gone, so it must cover them
//! all; the applier skips unchanged objects). Resume: the cursor `repositoryFingerprints`
//! (`owner/repo=<hash of pushed_at, default branch and the settings that choose which files are
//! read>;…`, at most [`MAX_FINGERPRINTS`] repositories) lets a restarted controller skip the
//! file reads of repositories that were not pushed since, and still notice a repository that
//! disappeared while it was down.

use std::{
    collections::{BTreeMap, HashMap},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nexus_api::integrations::GitHubIntegrationSpec;
use nexus_ingest::{
    Change, Context, Gone, IngestError, Outcome, Source, Target, Upsert,
    backstage::Fetch,
    change::MANAGED_BY,
    context::glob_match,
    runbooks::{MAX_RUNBOOK_BYTES, RunbookError, RunbookFile, RunbookPaths},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    Env, PollError, SyncReport,
    http::{Auth, HttpClient, HttpError, Req, Resp},
};
use crate::ingestion::registry::{IntegrationKey, github_context};

/// Most repositories whose fingerprints are kept in the status cursor.
pub const MAX_FINGERPRINTS: usize = 1000;
/// Most pages of a listing read in one sync.
const MAX_PAGES: usize = 100;
/// Most rulesets read per repository.
const MAX_RULESETS: usize = 20;
/// Most extra files a catalog file may pull in (Location targets, `$text`).
const MAX_CATALOG_FILES: usize = 20;
/// Most runbook files read per repository (each is one request when it changed).
pub const MAX_RUNBOOKS: usize = 500;
const CODEOWNERS_PATHS: &[&str] = &[".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];
const CATALOG_FILE: &str = "catalog-info.yaml";
const RAW: &str = "application/vnd.github.raw+json";

/// JWT claims of a GitHub App.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppClaims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// A repository as the listing describes it.
#[derive(Clone, Debug)]
struct Repo {
    full_name: String,
    html_url: String,
    default_branch: String,
    archived: bool,
    fingerprint: String,
}

pub struct GitHubPoller {
    key: IntegrationKey,
    spec: GitHubIntegrationSpec,
    env: Env,
    http: HttpClient,
    api: String,
    installation_id: Option<i64>,
    token: Option<(Arc<str>, jiff::Timestamp)>,
    /// `owner/repo` → fingerprint of the repositories handled in the last sync.
    fingerprints: BTreeMap<String, String>,
    /// `owner/repo` → web URL, as listed.
    urls: HashMap<String, String>,
    /// `spec.runbooks.paths`, compiled.
    runbook_paths: RunbookPaths,
    /// Hash of the settings that choose which repository files are read.
    files_config: u64,
}

impl GitHubPoller {
    pub fn new(
        key: IntegrationKey,
        spec: GitHubIntegrationSpec,
        env: Env,
        cursors: &BTreeMap<String, String>,
    ) -> Result<Self, PollError> {
        let http = env.client(&key, "github")?;
        let runbook_paths = RunbookPaths::new(&spec.runbooks.paths).map_err(|e| {
            let p = format!("spec.runbooks.paths: {e}");
            env.status.config_problem(&key, Some(p.clone()));
            PollError::Config(p)
        })?;
        let files_config = files_config(&spec);
        let fingerprints = cursors
            .get("repositoryFingerprints")
            .map(|s| parse_fingerprints(s))
            .unwrap_or_default();
        Ok(GitHubPoller {
            api: spec.api_url.trim_end_matches('/').to_string(),
            installation_id: spec.installation_id,
            key,
            spec,
            env,
            http,
            token: None,
            fingerprints,
            urls: HashMap::new(),
            runbook_paths,
            files_config,
        })
    }

    fn req(&self, url: String, auth: &Auth) -> Req {
        Req::get(url, auth)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }

    /// The App JWT (RS256, iat = now − 60 s, exp = now + 9 min, iss = app id).
    async fn app_jwt(&self) -> Result<String, PollError> {
        let pem = self
            .env
            .secret(&self.key, &self.spec.private_key_ref)
            .await?;
        let r = &self.spec.private_key_ref;
        let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| {
            let p = format!(
                "Secret {}/{} key {:?} is not an RSA private key in PEM: {e}",
                self.key.namespace, r.name, r.key
            );
            self.env.status.config_problem(&self.key, Some(p.clone()));
            PollError::Config(p)
        })?;
        let now = jiff::Timestamp::now().as_second();
        let claims = AppClaims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: self.spec.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
            .map_err(|e| PollError::Config(format!("signing the GitHub App JWT: {e}")))
    }

    /// An installation token (cached until five minutes before it expires).
    pub async fn token(&mut self) -> Result<Auth, PollError> {
        if let Some((t, until)) = &self.token
            && jiff::Timestamp::now() < *until
        {
            return Ok(Auth::Bearer(t.clone()));
        }
        let jwt = Auth::Bearer(self.app_jwt().await?.into());
        let id = match self.installation_id {
            Some(id) => id,
            None => {
                let url = format!("{}/orgs/{}/installation", self.api, self.spec.organization);
                let resp = self.http.send(&self.req(url, &jwt).unconditional()).await?;
                let v = resp.json()?;
                let id = v
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| HttpError::parse(&resp.call, IngestError::missing("id")))?;
                self.installation_id = Some(id);
                id
            }
        };
        let url = format!("{}/app/installations/{id}/access_tokens", self.api);
        let mut req = self.req(url, &jwt).unconditional();
        req.method = http::Method::POST;
        let resp = self.http.send(&req).await?;
        #[derive(Deserialize)]
        struct Token {
            token: String,
            #[serde(default)]
            expires_at: Option<String>,
        }
        let t: Token = nexus_ingest::error::from_json(&resp.body)
            .map_err(|e| HttpError::parse(&resp.call, e))?;
        let expires = t
            .expires_at
            .and_then(|e| e.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(|| jiff::Timestamp::now() + jiff::SignedDuration::from_mins(60));
        let until = expires - jiff::SignedDuration::from_mins(5);
        let token: Arc<str> = t.token.into();
        self.token = Some((token.clone(), until));
        Ok(Auth::Bearer(token))
    }

    /// One full sync; failures are recorded in status (and returned).
    pub async fn sync(&mut self) -> Result<SyncReport, PollError> {
        let mut report = SyncReport::default();
        match self.sync_inner(&mut report).await {
            Ok(()) => {
                if report.errors == 0 {
                    self.env.status.synced(&self.key);
                }
                Ok(report)
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    fn failed(&mut self, e: &PollError) {
        if let PollError::Http(HttpError::Unauthorized { .. }) = e {
            self.token = None;
        }
        if let PollError::Apply(_) = e {
            // Bodies whose changes were not applied must be read (and parsed) again.
            self.http.clear_cache();
        }
        self.env.status.error(&self.key, e.to_string());
    }

    async fn sync_inner(&mut self, report: &mut SyncReport) -> Result<(), PollError> {
        let auth = self.token().await?;
        let ctx = github_context_of(&self.spec);
        // 1. The installation's repositories, every page.
        let mut url = Some(format!(
            "{}/installation/repositories?per_page=100",
            self.api
        ));
        let mut listed: Vec<Value> = Vec::new();
        let mut unchanged = true;
        let mut pages = 0;
        while let Some(u) = url.take() {
            pages += 1;
            let resp = self.http.send(&self.req(u, &auth)).await?;
            unchanged &= resp.not_modified;
            let v = resp.json()?;
            let items = v
                .get("repositories")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    HttpError::parse(&resp.call, IngestError::missing("repositories"))
                })?;
            listed.extend(items.iter().cloned());
            if pages < MAX_PAGES {
                url = resp.next_link();
            }
        }
        let kept: Vec<Value> = listed
            .into_iter()
            .filter(|r| selected(&self.spec, r))
            .collect();
        let repos: Vec<Repo> = kept
            .iter()
            .filter_map(|v| repo_of(v, self.files_config))
            .collect();
        // 2. Repositories (skipped when every page was unchanged and nothing was lost since).
        let previous = std::mem::take(&mut self.fingerprints);
        if !unchanged || previous.is_empty() {
            let body = serde_json::to_vec(&json!({ "repositories": kept })).unwrap_or_default();
            let out = nexus_ingest::github::rest("repositories", &body, &ctx)
                .map_err(|e| HttpError::parse("GET /installation/repositories", e))?;
            self.apply(report, "repositories", out.changes()).await?;
        }
        for r in &repos {
            self.urls.insert(r.full_name.clone(), r.html_url.clone());
        }
        // 3. Repositories listed last time but not now.
        let now: HashMap<&str, &Repo> = repos.iter().map(|r| (r.full_name.as_str(), r)).collect();
        let gone: Vec<Change> = previous
            .keys()
            .filter(|name| !now.contains_key(name.as_str()))
            .map(|name| {
                Change::Gone(Gone {
                    source: Source::Github,
                    target: Target::RepositoryUrl {
                        url: self.web_url(name),
                    },
                    reason: "no longer listed for the GitHub App installation (removed, \
                             renamed, or not selected by spec.repositories)"
                        .into(),
                    delete: false,
                })
            })
            .collect();
        self.apply(report, "repositories no longer listed", &gone)
            .await?;
        // 4. Per repository.
        for r in &repos {
            if r.archived {
                continue;
            }
            let content = previous.get(&r.full_name) != Some(&r.fingerprint);
            match self.collect(r, &auth, content, report).await {
                Ok(content_ok) => {
                    let fp = if content_ok || !content {
                        r.fingerprint.clone()
                    } else {
                        // Read the files again next time.
                        String::new()
                    };
                    self.fingerprints.insert(r.full_name.clone(), fp);
                }
                Err(e) => {
                    let fatal = matches!(
                        e,
                        PollError::Http(
                            HttpError::Unauthorized { .. } | HttpError::RateLimited { .. }
                        ) | PollError::Config(_)
                    );
                    self.fingerprints.insert(r.full_name.clone(), String::new());
                    if fatal {
                        // Keep the rest of the previous set so nothing is reported gone later.
                        for (k, v) in previous {
                            self.fingerprints.entry(k).or_insert(v);
                        }
                        return Err(e);
                    }
                    report.errors += 1;
                    self.failed(&e);
                }
            }
        }
        for r in repos.iter().filter(|r| r.archived) {
            self.fingerprints
                .insert(r.full_name.clone(), r.fingerprint.clone());
        }
        // 5. Cursors.
        let status = &self.env.status;
        // No ETag of the listing is kept: after a restart the cached body a 304 would stand
        // for is gone, and every sync needs the listing itself to walk the repositories.
        status.cursor(&self.key, "lastFullSync", rfc3339_now());
        status.cursor(
            &self.key,
            "repositoryFingerprints",
            render_fingerprints(&self.fingerprints),
        );
        Ok(())
    }

    /// Re-reads one repository (`owner/repo`) now, files included.
    pub async fn rescan(&mut self, full_name: &str) -> Result<SyncReport, PollError> {
        let mut report = SyncReport::default();
        let r = self.rescan_inner(full_name, &mut report).await;
        match r {
            Ok(()) => Ok(report),
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    async fn rescan_inner(
        &mut self,
        full_name: &str,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let auth = self.token().await?;
        let url = format!("{}/repos/{full_name}", self.api);
        let resp = self
            .http
            .send(&self.req(url, &auth).unconditional())
            .await?;
        let v = resp.json()?;
        if !selected(&self.spec, &v) {
            return Ok(());
        }
        let ctx = github_context_of(&self.spec);
        let out = nexus_ingest::github::rest("repositories", &resp.body, &ctx)
            .map_err(|e| HttpError::parse(&resp.call, e))?;
        self.apply(report, "repository", out.changes()).await?;
        if let Some(r) = repo_of(&v, self.files_config)
            && !r.archived
        {
            self.collect(&r, &auth, true, report).await?;
        }
        Ok(())
    }

    fn web_url(&self, full_name: &str) -> String {
        if let Some(u) = self.urls.get(full_name) {
            return u.clone();
        }
        let base = if self.api.contains("://api.github.com") {
            "https://github.com".to_string()
        } else {
            self.api
                .strip_suffix("/api/v3")
                .unwrap_or(&self.api)
                .to_string()
        };
        format!("{base}/{full_name}")
    }

    async fn apply(
        &self,
        report: &mut SyncReport,
        what: &str,
        changes: &[Change],
    ) -> Result<(), PollError> {
        if changes.is_empty() {
            return Ok(());
        }
        report.batches += 1;
        report.changes += changes.len();
        self.env.apply(&self.key, what, changes).await.map(|_| ())
    }

    /// GET `path` (relative to the API) and parse it as `resource`; `None` when unchanged
    /// (304) or, for `optional` reads, absent (403/404: feature off or permission missing).
    async fn read(
        &self,
        auth: &Auth,
        path: &str,
        optional: bool,
    ) -> Result<Option<Resp>, PollError> {
        match self
            .http
            .send(&self.req(format!("{}{path}", self.api), auth))
            .await
        {
            Ok(r) if r.not_modified => Ok(None),
            Ok(r) => Ok(Some(r)),
            Err(e) if optional && e.is_absent() => {
                tracing::debug!(integration = %self.key, error = %e, "optional read skipped");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn parse_apply(
        &self,
        report: &mut SyncReport,
        resource: &str,
        resp: &Resp,
        ctx: &Context,
    ) -> Result<(), PollError> {
        let out = nexus_ingest::github::rest(resource, &resp.body, ctx)
            .map_err(|e| HttpError::parse(&resp.call, e))?;
        self.apply(report, &resp.call, out.changes()).await
    }

    /// Reads one repository; `Ok(true)` when its files were read (or not asked for).
    async fn collect(
        &self,
        r: &Repo,
        auth: &Auth,
        content: bool,
        report: &mut SyncReport,
    ) -> Result<bool, PollError> {
        let c = &self.spec.collect;
        let ctx = Context {
            repository: Some(r.html_url.clone()),
            ..github_context_of(&self.spec)
        };
        let full = &r.full_name;
        if c.pull_requests
            && let Some(resp) = self
                .read(
                    auth,
                    &format!("/repos/{full}/pulls?state=open&per_page=100"),
                    false,
                )
                .await?
        {
            self.parse_apply(report, "pulls", &resp, &ctx).await?;
        }
        if c.branch_protection {
            self.protection(r, auth, &ctx, report).await?;
        }
        if c.dependabot_alerts
            && let Some(resp) = self
                .read(
                    auth,
                    &format!("/repos/{full}/dependabot/alerts?per_page=100&sort=updated"),
                    true,
                )
                .await?
        {
            self.parse_apply(report, "dependabot-alerts", &resp, &ctx)
                .await?;
        }
        if !content {
            return Ok(true);
        }
        if c.codeowners {
            for path in CODEOWNERS_PATHS {
                let req = self
                    .req(format!("{}/repos/{full}/contents/{path}", self.api), auth)
                    .header("accept", RAW);
                match self.http.send(&req).await {
                    Ok(resp) => {
                        if !resp.not_modified {
                            let ctx = Context {
                                repository: Some(format!(
                                    "{}/blob/{}/{path}",
                                    r.html_url, r.default_branch
                                )),
                                ..ctx.clone()
                            };
                            self.parse_apply(report, "codeowners", &resp, &ctx).await?;
                        }
                        break;
                    }
                    Err(HttpError::NotFound { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if c.catalog_files {
            self.catalog(r, auth, &ctx, report).await?;
        }
        if c.runbooks {
            self.runbooks(r, auth, &ctx, report).await?;
        }
        if c.dependency_graph
            && let Some(resp) = self
                .read(auth, &format!("/repos/{full}/dependency-graph/sbom"), true)
                .await?
        {
            self.parse_apply(report, "sbom", &resp, &ctx).await?;
        }
        Ok(true)
    }

    /// Rulesets when the repository has any, else classic protection of the default branch.
    async fn protection(
        &self,
        r: &Repo,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let full = &r.full_name;
        let list = self
            .http
            .send(&self.req(
                format!("{}/repos/{full}/rulesets?per_page=100", self.api),
                auth,
            ))
            .await;
        let list = match list {
            Ok(l) => Some(l),
            Err(e) if e.is_absent() => None,
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<i64> = match &list {
            Some(l) => l
                .json()?
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.get("id").and_then(Value::as_i64))
                        .take(MAX_RULESETS)
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        if !ids.is_empty() {
            let mut unchanged = list.as_ref().is_some_and(|l| l.not_modified);
            let mut sets = Vec::with_capacity(ids.len());
            for id in ids {
                let resp = self
                    .http
                    .send(&self.req(format!("{}/repos/{full}/rulesets/{id}", self.api), auth))
                    .await?;
                unchanged &= resp.not_modified;
                sets.push(resp.json()?);
            }
            if unchanged {
                return Ok(());
            }
            let body = serde_json::to_vec(&sets).unwrap_or_default();
            let call = format!("GET /repos/{full}/rulesets");
            let out = nexus_ingest::github::rest("rulesets", &body, ctx)
                .map_err(|e| HttpError::parse(&call, e))?;
            return self.apply(report, &call, out.changes()).await;
        }
        let branch = &r.default_branch;
        let req = self.req(
            format!("{}/repos/{full}/branches/{branch}/protection", self.api),
            auth,
        );
        let resp = match self.http.send(&req).await {
            Ok(resp) if resp.not_modified => return Ok(()),
            Ok(resp) => resp,
            Err(HttpError::NotFound { message, call, .. })
                if message.eq_ignore_ascii_case("Branch not protected") =>
            {
                Resp {
                    status: http::StatusCode::NOT_FOUND,
                    headers: Default::default(),
                    body: bytes::Bytes::from_static(br#"{"message":"Branch not protected"}"#),
                    not_modified: false,
                    etag: None,
                    call,
                }
            }
            // No admin permission or no such branch (empty repository).
            Err(e) if e.is_absent() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        self.parse_apply(report, "branch-protection", &resp, ctx)
            .await
    }

    /// `catalog-info.yaml` at the root, converted like `nexus convert backstage`; relative
    /// files it points at are read through the contents API (remote URLs are not followed).
    async fn catalog(
        &self,
        r: &Repo,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let full = &r.full_name;
        let get = |path: &str| {
            self.req(format!("{}/repos/{full}/contents/{path}", self.api), auth)
                .header("accept", RAW)
        };
        let first = get(CATALOG_FILE);
        let call = first.call();
        let resp = match self.http.send(&first).await {
            Ok(r) if r.not_modified => return Ok(()),
            Ok(r) => r,
            Err(HttpError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let content = String::from_utf8_lossy(&resp.body).into_owned();
        let files = RepoFiles::default();
        let conversion = loop {
            let result = nexus_ingest::backstage::convert_str(&content, CATALOG_FILE, &files, ctx);
            let missing = files.take_missing();
            // Unread files may surface as an error or as a warning: read them, convert again.
            if missing.is_empty() || files.count() >= MAX_CATALOG_FILES {
                match result {
                    Ok(c) => break c,
                    Err(e) => return Err(HttpError::parse(&call, e).into()),
                }
            }
            for path in missing {
                match self.http.send(&get(&path)).await {
                    Ok(resp) => files.insert(path, Some(resp.body.to_vec())),
                    Err(HttpError::NotFound { .. }) => files.insert(path, None),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        for w in &conversion.warnings {
            tracing::debug!(integration = %self.key, repository = %full, warning = %w, "catalog file");
        }
        let changes: Vec<Change> = conversion
            .objects
            .into_iter()
            .map(|mut object| {
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    let labels = meta.entry("labels").or_insert_with(|| json!({}));
                    if let Some(l) = labels.as_object_mut() {
                        l.insert(MANAGED_BY.into(), json!(Source::Github.manager()));
                    }
                }
                Change::Upsert(Upsert {
                    source: Source::Github,
                    object,
                    identity: None,
                    status: Default::default(),
                    lists: Vec::new(),
                    resolve: Vec::new(),
                })
            })
            .collect();
        self.apply(report, &call, &changes).await
    }
}

/// `GET /repos/{o}/{r}/git/trees/{ref}?recursive=1`, the parts read.
#[derive(Deserialize)]
struct Tree {
    #[serde(default)]
    tree: Vec<TreeEntry>,
    /// GitHub lists at most 100,000 entries (7 MB); past that the listing is cut.
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
    #[serde(default)]
    size: Option<u64>,
}

impl GitHubPoller {
    /// Markdown runbooks under `spec.runbooks.paths` on the default branch: the Git tree lists
    /// them, each is read as a blob by its content hash (an unchanged file is a 304 from the
    /// ETag cache), parsed, and all are applied in one batch with the change that marks the
    /// runbooks whose file is gone. A file that cannot be read or parsed is reported (status
    /// `lastError`, naming file and line) and left as it was — its Runbook is neither updated
    /// nor marked gone — while the other files still apply.
    async fn runbooks(
        &self,
        r: &Repo,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let full = &r.full_name;
        let branch = &r.default_branch;
        let req = self.req(
            format!(
                "{}/repos/{full}/git/trees/{}?recursive=1",
                self.api,
                path_escape(branch)
            ),
            auth,
        );
        let call = req.call();
        let resp = match self.http.send(&req).await {
            Ok(resp) => resp,
            // No such branch, no access (404/403), or an empty repository (409): no runbooks
            // can be listed, so none is reported gone either.
            Err(e) if e.is_absent() || e.status() == Some(409) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let listing: Tree =
            nexus_ingest::error::from_json(&resp.body).map_err(|e| HttpError::parse(&call, e))?;
        let files: Vec<&TreeEntry> = listing
            .tree
            .iter()
            .filter(|e| e.kind == "blob" && self.runbook_paths.matches(&e.path))
            .collect();
        // Every listed file counts as present, read or not: a file that fails to parse, or one
        // past the limit, must not have its Runbook marked gone.
        let present: Vec<String> = files.iter().map(|e| e.path.clone()).collect();
        if files.len() > MAX_RUNBOOKS {
            let msg = format!(
                "{full}: {} files match spec.runbooks.paths; only the first {MAX_RUNBOOKS} are read",
                files.len()
            );
            tracing::warn!(integration = %self.key, "{msg}");
            self.env.status.error(&self.key, msg);
            report.errors += 1;
        }
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        for f in files.iter().take(MAX_RUNBOOKS) {
            if let Some(size) = f.size.and_then(|s| usize::try_from(s).ok())
                && size > MAX_RUNBOOK_BYTES
            {
                problems.push(RunbookError::TooLarge {
                    path: f.path.clone(),
                    size,
                });
                continue;
            }
            // Raw bytes, not the JSON/base64 form; the sha names the content, so the ETag cache
            // answers for files that did not change.
            let blob = Req::get(
                format!(
                    "{}/repos/{full}/git/blobs/{}",
                    self.api,
                    path_escape(&f.sha)
                ),
                auth,
            )
            .header("accept", RAW)
            .header("x-github-api-version", "2022-11-28");
            let body = match self.http.send(&blob).await {
                Ok(resp) => resp.body,
                // Listed but not readable: reported, and its Runbook stays as it was.
                Err(e) if e.is_absent() => {
                    tracing::warn!(integration = %self.key, repository = %full, path = %f.path, error = %e, "runbook blob not readable");
                    self.env
                        .status
                        .error(&self.key, format!("{full}: {}: {e}", f.path));
                    report.errors += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let file = RunbookFile {
                path: &f.path,
                text: &body,
                repository: Some(&r.html_url),
                git_ref: Some(branch),
            };
            match nexus_ingest::runbooks::parse(&file, ctx) {
                Ok(Outcome::Changes(c)) => changes.extend(c),
                Ok(Outcome::Ignored(why)) => {
                    tracing::debug!(integration = %self.key, repository = %full, %why, "not a runbook");
                }
                Err(e) => problems.push(e),
            }
        }
        if listing.truncated {
            // Files beyond the cut are unknown, so nothing can be called gone.
            tracing::warn!(integration = %self.key, repository = %full, "git tree truncated by GitHub: runbooks whose file was deleted are not detected");
        } else {
            changes.push(nexus_ingest::runbooks::gone_except(
                &r.html_url,
                &present,
                self.spec.runbooks.delete_missing,
            ));
        }
        self.apply(report, &call, &changes).await?;
        for source in problems {
            let e = PollError::Runbook {
                repository: full.clone(),
                source,
            };
            tracing::warn!(integration = %self.key, error = %e, "runbook not read");
            self.env.status.error(&self.key, e.to_string());
            report.errors += 1;
        }
        Ok(())
    }
}

/// A branch name or sha as one URL path part: `/` stays (GitHub reads `release/1.2` as a
/// ref), anything that would end the path or start a query is percent-encoded.
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Files of a repository a catalog file refers to: served when read before, else noted as
/// missing (the caller fetches them and converts again).
/// Read files (`None`: not in the repository) and the paths asked for but not read yet.
type FilesState = (HashMap<String, Option<String>>, Vec<String>);

#[derive(Default)]
struct RepoFiles {
    inner: Mutex<FilesState>,
}

impl RepoFiles {
    fn take_missing(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|mut g| std::mem::take(&mut g.1))
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.inner.lock().map(|g| g.0.len()).unwrap_or(usize::MAX)
    }

    fn insert(&self, path: String, content: Option<Vec<u8>>) {
        if let Ok(mut g) = self.inner.lock() {
            g.0.insert(
                path,
                content.map(|c| String::from_utf8_lossy(&c).into_owned()),
            );
        }
    }
}

impl Fetch for RepoFiles {
    fn read(&self, base: &str, target: &str) -> Result<(String, String), IngestError> {
        let at = if base.is_empty() { CATALOG_FILE } else { base };
        let t = target.trim().to_ascii_lowercase();
        if t.starts_with("http://") || t.starts_with("https://") {
            return Err(IngestError::invalid(
                at,
                format!("remote location not followed by the poller: {target}"),
            ));
        }
        let Some(path) = repo_path(base, target) else {
            return Err(IngestError::invalid(
                at,
                format!("{target}: outside the repository"),
            ));
        };
        let Ok(mut g) = self.inner.lock() else {
            return Err(IngestError::invalid(at, "internal lock poisoned"));
        };
        match g.0.get(&path) {
            Some(Some(c)) => Ok((path, c.clone())),
            Some(None) => Err(IngestError::invalid(
                at,
                format!("{target}: not found in the repository"),
            )),
            None => {
                if !g.1.contains(&path) {
                    g.1.push(path.clone());
                }
                Err(IngestError::invalid(at, format!("{target}: not read yet")))
            }
        }
    }

    fn locate(&self, base: &str, target: &str) -> Option<String> {
        repo_path(base, target)
    }
}

/// `target` relative to the directory of `base`, inside the repository (no `..` above the root,
/// no absolute paths).
fn repo_path(base: &str, target: &str) -> Option<String> {
    let target = target.trim().strip_prefix("file:").unwrap_or(target.trim());
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    parts.retain(|p| !p.is_empty());
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// What decides which files of a repository are read (CODEOWNERS, catalog files, the SBOM,
/// runbooks and their paths). Files are only re-read for repositories pushed since the last
/// sync; mixing this into each repository's fingerprint makes a changed setting — or an upgrade
/// that reads a new kind of file — re-read every repository once.
fn files_config(spec: &GitHubIntegrationSpec) -> u64 {
    let c = &spec.collect;
    let mut h = rustc_hash::FxHasher::default();
    (
        c.codeowners,
        c.catalog_files,
        c.dependency_graph,
        c.runbooks,
    )
        .hash(&mut h);
    if c.runbooks {
        spec.runbooks.paths.hash(&mut h);
    }
    h.finish()
}

fn github_context_of(spec: &GitHubIntegrationSpec) -> Context {
    // Same mapping as webhook deliveries use.
    let i = nexus_api::integrations::GitHubIntegration::new("poller", spec.clone());
    github_context(&i)
}

/// Whether `spec.repositories` selects a listed repository. Archived repositories stay in the
/// listing (the parser marks them gone); their contents are never read.
pub fn selected(spec: &GitHubIntegrationSpec, r: &Value) -> bool {
    let f = &spec.repositories;
    let full = r.get("full_name").and_then(Value::as_str).unwrap_or("");
    let name = r.get("name").and_then(Value::as_str).unwrap_or("");
    let matches = |p: &String| glob_match(p, full) || glob_match(p, name);
    if !f.include.is_empty() && !f.include.iter().any(matches) {
        return false;
    }
    if f.exclude.iter().any(matches) {
        return false;
    }
    if !f.include_forks && r.get("fork").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    if !f.topics.is_empty() {
        let topics: Vec<&str> = r
            .get("topics")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !f
            .topics
            .iter()
            .any(|t| topics.iter().any(|x| x.eq_ignore_ascii_case(t)))
        {
            return false;
        }
    }
    true
}

/// `files_config` is [`files_config`] of the spec: part of the fingerprint, so reading other
/// files (or none) re-reads every repository once instead of waiting for its next push.
fn repo_of(v: &Value, files_config: u64) -> Option<Repo> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let full_name = s("full_name")?.to_string();
    let html_url = s("html_url")?.to_string();
    let default_branch = s("default_branch").unwrap_or("main").to_string();
    let mut h = rustc_hash::FxHasher::default();
    s("pushed_at").hash(&mut h);
    default_branch.hash(&mut h);
    files_config.hash(&mut h);
    Some(Repo {
        archived: v.get("archived").and_then(Value::as_bool) == Some(true),
        fingerprint: format!("{:08x}", h.finish() as u32),
        full_name,
        html_url,
        default_branch,
    })
}

fn parse_fingerprints(s: &str) -> BTreeMap<String, String> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `owner/repo=fp;…`, or empty when there are more than [`MAX_FINGERPRINTS`] (a restart then
/// reads every repository's files once, and reports no disappearance from before it).
fn render_fingerprints(m: &BTreeMap<String, String>) -> String {
    if m.len() > MAX_FINGERPRINTS {
        return String::new();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

pub(crate) fn rfc3339_now() -> String {
    nexus_ingest::time::rfc3339(&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths_stay_inside() {
        assert_eq!(
            repo_path("catalog-info.yaml", "./docs/api.yaml").as_deref(),
            Some("docs/api.yaml")
        );
        assert_eq!(
            repo_path("a/b.yaml", "../c.yaml").as_deref(),
            Some("c.yaml")
        );
        assert_eq!(repo_path("catalog-info.yaml", "../x.yaml"), None);
        assert_eq!(repo_path("catalog-info.yaml", "/etc/passwd"), None);
    }

    #[test]
    fn refs_stay_one_path_part() {
        assert_eq!(path_escape("release/1.2"), "release/1.2");
        assert_eq!(path_escape("fix#1?x y"), "fix%231%3Fx%20y");
        assert_eq!(path_escape("héllo"), "h%C3%A9llo");
    }

    #[test]
    fn settings_that_choose_files_change_every_fingerprint() {
        let spec: GitHubIntegrationSpec = serde_json::from_value(json!({
            "appId": 1, "organization": "o",
            "privateKeyRef": {"name": "a", "key": "k"}, "webhookSecretRef": {"name": "a", "key": "k"},
            "namespaces": {"default": "d"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let repo = json!({"full_name": "o/r", "html_url": "https://github.com/o/r",
            "default_branch": "main", "pushed_at": "2024-01-01T00:00:00Z"});
        let fp = |spec: &GitHubIntegrationSpec| {
            repo_of(&repo, files_config(spec)).map(|r| r.fingerprint)
        };
        let base = fp(&spec);
        let mut paths = spec.clone();
        paths.runbooks.paths.push("docs/runbooks/".into());
        assert_ne!(fp(&paths), base);
        let mut off = spec.clone();
        off.collect.runbooks = false;
        assert_ne!(fp(&off), base);
        // Settings that do not choose files keep it.
        let mut other = spec.clone();
        other.poll_interval = "1h".into();
        other.runbooks.delete_missing = true;
        assert_eq!(fp(&other), base);
    }

    #[test]
    fn fingerprints_round_trip() {
        let mut m = BTreeMap::new();
        m.insert("o/a".to_string(), "0011aabb".to_string());
        m.insert("o/b".to_string(), String::new());
        assert_eq!(parse_fingerprints(&render_fingerprints(&m)), m);
    }
}
