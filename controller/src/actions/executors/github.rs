//! The `github` executor, as the App of a named GitHubIntegration (installation token from the
//! GitHub poller's JWT exchange) against its `spec.apiUrl`.
//!
//! - `workflowDispatch`: `POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches`; 204
//!   finishes the run (output: the workflow's web URL). GitHub returns no run id and takes no
//!   tag, so the dispatch is sent once; a restart before it was recorded fails the run as
//!   "outcome unknown" rather than dispatching twice.
//! - `createBranch`: the base branch's sha, then `POST /repos/{o}/{r}/git/refs`; a repeat that
//!   finds the branch at the same sha is done, at another sha it fails.
//! - `openPullRequest`: `POST /repos/{o}/{r}/pulls`; "A pull request already exists" finds the
//!   open one for the same head and base and succeeds with its URL.
//! - `createRepositoryFromTemplate`: `POST /repos/{template}/generate` (private); a name that
//!   exists is done when that repository was generated from the same template, else the run fails.

use std::collections::BTreeMap;

use http::Method;
use nexus_api::actions::{
    Execution,
    executor::{GitHubExecutor, GitHubOperation},
};
use serde_json::{Map, Value, json};

use super::{
    ExecError, Progress,
    providers::{
        Answer, External, ambiguous, base_url, bounded, call, encode, json_req, output_value,
    },
};
use crate::ingestion::{
    pollers::http::{Auth, HttpClient, Req, with_query},
    registry::IntegrationKey,
};

pub const API_VERSION: &str = "2022-11-28";

struct Gh {
    key: IntegrationKey,
    http: HttpClient,
    auth: Auth,
    api: String,
}

impl Gh {
    fn req(&self, method: Method, url: String, body: Option<&Value>) -> Req {
        json_req(method, url, &self.auth, body)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
    }

    async fn send(
        &self,
        x: &External<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ExecError> {
        let ans = call(
            &self.http,
            &self.req(method, format!("{}{path}", self.api), body),
        )
        .await?;
        if ans.status == 401 {
            x.providers.forget_tokens(&self.key);
        }
        Ok(ans)
    }

    /// A GET that must succeed.
    async fn get(&self, x: &External<'_>, path: &str) -> Result<Value, ExecError> {
        let ans = self.send(x, Method::GET, path, None).await?;
        if !ans.success() {
            return Err(ans.into_error());
        }
        Ok(ans.json)
    }
}

async fn connect(x: &External<'_>, g: &GitHubExecutor, retries: bool) -> Result<Gh, ExecError> {
    let (key, i) = x.providers.github(&g.integration)?;
    let http = x.providers.client(&key, "github-actions", retries)?;
    let auth = x.providers.github_token(&key, &i).await?;
    let api = base_url(&format!("{key}: spec.apiUrl"), &i.spec.api_url)?;
    Ok(Gh {
        key,
        http,
        auth,
        api,
    })
}

/// `owner/repo`, checked: one slash, GitHub's name characters.
fn repo(what: &str, raw: &str) -> Result<(String, String), ExecError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match raw.trim().split_once('/') {
        Some((o, r)) if ok(o) && ok(r) => Ok((o.to_string(), r.to_string())),
        _ => Err(ExecError::Invalid(format!(
            "spec.executor.github.{what} {raw:?} is not owner/repo"
        ))),
    }
}

fn branch_name(raw: &str) -> String {
    raw.trim()
        .strip_prefix("refs/heads/")
        .unwrap_or(raw.trim())
        .to_string()
}

/// `POST /path: 422 Validation Failed (A pull request already exists for …)`.
fn gh_error(ans: &Answer) -> String {
    let details: Vec<String> = ans
        .json
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| e.get("code").and_then(Value::as_str).map(str::to_string))
        })
        .take(3)
        .collect();
    if details.is_empty() {
        ans.describe()
    } else {
        bounded(&format!("{} ({})", ans.describe(), details.join("; ")), 600)
    }
}

fn says(ans: &Answer, what: &str) -> bool {
    let what = what.to_ascii_lowercase();
    let has = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.to_ascii_lowercase().contains(&what))
    };
    has(ans.json.get("message"))
        || ans
            .json
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| has(e.get("message")))
}

fn failed(ans: &Answer) -> Progress {
    Progress::Failed {
        message: gh_error(ans),
        log: Vec::new(),
    }
}

pub async fn start(
    x: &External<'_>,
    g: &GitHubExecutor,
    _execution: &Execution,
) -> Result<Progress, ExecError> {
    match g.operation {
        GitHubOperation::WorkflowDispatch => dispatch(x, g).await,
        GitHubOperation::CreateBranch => create_branch(x, g).await,
        GitHubOperation::OpenPullRequest => open_pull_request(x, g).await,
        GitHubOperation::CreateRepositoryFromTemplate => from_template(x, g).await,
    }
}

pub async fn poll(
    x: &External<'_>,
    g: &GitHubExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    match g.operation {
        GitHubOperation::WorkflowDispatch => Ok(Progress::Failed {
            message: "outcome unknown: the controller restarted while dispatching the workflow; \
                      check its runs on GitHub and raise spec.attempt to retry"
                .into(),
            log: Vec::new(),
        }),
        // The others find what an interrupted start created.
        _ => start(x, g, execution).await,
    }
}

async fn dispatch(x: &External<'_>, g: &GitHubExecutor) -> Result<Progress, ExecError> {
    let (owner, name) = repo("repository", &x.render(&g.repository)?)?;
    let workflow = x
        .render(g.workflow.as_deref().unwrap_or(""))?
        .trim()
        .to_string();
    if workflow.is_empty() {
        return Err(ExecError::Invalid(
            "spec.executor.github.workflow is required for workflowDispatch".into(),
        ));
    }
    let mut inputs = Map::new();
    for (k, v) in &g.inputs {
        inputs.insert(k.clone(), Value::String(x.render(v)?));
    }
    // Reads are retried; the dispatch itself is sent once.
    let gh = connect(x, g, true).await?;
    let repo_path = format!("/repos/{}/{}", encode(&owner), encode(&name));
    let info = gh.get(x, &repo_path).await?;
    let git_ref = match &g.r#ref {
        Some(r) => x.render(r)?,
        None => info
            .get("default_branch")
            .and_then(Value::as_str)
            .unwrap_or("main")
            .to_string(),
    };
    let once = connect(x, g, false).await?;
    let body = json!({"ref": git_ref, "inputs": inputs});
    let ans = match once
        .send(
            x,
            Method::POST,
            &format!(
                "{repo_path}/actions/workflows/{}/dispatches",
                encode(&workflow)
            ),
            Some(&body),
        )
        .await
    {
        Ok(a) => a,
        Err(e) if ambiguous(&e) => {
            return Ok(Progress::Failed {
                message: format!(
                    "outcome unknown: {e}; check the workflow's runs on GitHub and raise \
                     spec.attempt to retry"
                ),
                log: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    if !ans.success() {
        return Ok(failed(&ans));
    }
    let html = info
        .get("html_url")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/{owner}/{name}", gh.api));
    let url = format!("{html}/actions/workflows/{workflow}");
    let mut outputs = BTreeMap::new();
    outputs.insert("workflowUrl".into(), bounded(&url, 1024));
    outputs.insert("ref".into(), git_ref.clone());
    Ok(Progress::Succeeded {
        outputs,
        log: vec![format!(
            "dispatched workflow {workflow} of {owner}/{name} on {git_ref}"
        )],
    })
}

async fn default_branch(gh: &Gh, x: &External<'_>, repo_path: &str) -> Result<String, ExecError> {
    Ok(gh
        .get(x, repo_path)
        .await?
        .get("default_branch")
        .and_then(Value::as_str)
        .unwrap_or("main")
        .to_string())
}

async fn head_sha(
    gh: &Gh,
    x: &External<'_>,
    repo_path: &str,
    branch: &str,
) -> Result<Option<String>, ExecError> {
    let ans = gh
        .send(
            x,
            Method::GET,
            &format!("{repo_path}/git/ref/heads/{}", branch_path(branch)),
            None,
        )
        .await?;
    if ans.status == 404 {
        return Ok(None);
    }
    if !ans.success() {
        return Err(ans.into_error());
    }
    Ok(ans
        .json
        .pointer("/object/sha")
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// A branch name in a path: each segment encoded, slashes kept.
fn branch_path(branch: &str) -> String {
    branch.split('/').map(encode).collect::<Vec<_>>().join("/")
}

async fn create_branch(x: &External<'_>, g: &GitHubExecutor) -> Result<Progress, ExecError> {
    let (owner, name) = repo("repository", &x.render(&g.repository)?)?;
    let branch = branch_name(&x.render(g.branch.as_deref().unwrap_or(""))?);
    if branch.is_empty() {
        return Err(ExecError::Invalid(
            "spec.executor.github.branch is required for createBranch".into(),
        ));
    }
    let gh = connect(x, g, true).await?;
    let repo_path = format!("/repos/{}/{}", encode(&owner), encode(&name));
    let base = match &g.r#ref {
        Some(r) => branch_name(&x.render(r)?),
        None => default_branch(&gh, x, &repo_path).await?,
    };
    let Some(sha) = head_sha(&gh, x, &repo_path, &base).await? else {
        return Ok(Progress::Failed {
            message: format!("base branch {base} of {owner}/{name} not found"),
            log: Vec::new(),
        });
    };
    let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
    let ans = gh
        .send(
            x,
            Method::POST,
            &format!("{repo_path}/git/refs"),
            Some(&body),
        )
        .await?;
    let mut outputs = BTreeMap::new();
    outputs.insert("branch".into(), branch.clone());
    outputs.insert("sha".into(), sha.clone());
    if ans.success() {
        return Ok(Progress::Succeeded {
            outputs,
            log: vec![format!(
                "created branch {branch} of {owner}/{name} at {base} ({sha})"
            )],
        });
    }
    if ans.status == 422 && says(&ans, "already exists") {
        return Ok(match head_sha(&gh, x, &repo_path, &branch).await? {
            Some(existing) if existing == sha => Progress::Succeeded {
                outputs,
                log: vec![format!(
                    "branch {branch} of {owner}/{name} already exists at {sha}"
                )],
            },
            Some(existing) => Progress::Failed {
                message: format!(
                    "branch {branch} of {owner}/{name} already exists at {existing}, not at \
                     {base} ({sha})"
                ),
                log: Vec::new(),
            },
            None => failed(&ans),
        });
    }
    Ok(failed(&ans))
}

async fn open_pull_request(x: &External<'_>, g: &GitHubExecutor) -> Result<Progress, ExecError> {
    let (owner, name) = repo("repository", &x.render(&g.repository)?)?;
    let head = branch_name(&x.render(g.branch.as_deref().unwrap_or(""))?);
    if head.is_empty() {
        return Err(ExecError::Invalid(
            "spec.executor.github.branch (the head branch) is required for openPullRequest".into(),
        ));
    }
    let title = match &g.title {
        Some(t) => x.render(t)?,
        None => format!("{} ({})", x.action.title, x.run_name),
    };
    let body = g.body.as_ref().map(|b| x.render(b)).transpose()?;
    let gh = connect(x, g, true).await?;
    let repo_path = format!("/repos/{}/{}", encode(&owner), encode(&name));
    let base = match &g.r#ref {
        Some(r) => branch_name(&x.render(r)?),
        None => default_branch(&gh, x, &repo_path).await?,
    };
    let mut req = json!({"title": title, "head": head, "base": base});
    if let Some(b) = body {
        req["body"] = Value::String(b);
    }
    let ans = gh
        .send(x, Method::POST, &format!("{repo_path}/pulls"), Some(&req))
        .await?;
    if ans.success() {
        return Ok(pull_request(&ans.json, &owner, &name, "opened"));
    }
    if ans.status == 422 && says(&ans, "pull request already exists") {
        let mut url = format!("{}{repo_path}/pulls", gh.api);
        url = with_query(&url, "head", &format!("{owner}:{head}"));
        url = with_query(&url, "base", &base);
        url = with_query(&url, "state", "open");
        let found = call(&gh.http, &gh.req(Method::GET, url, None)).await?;
        if !found.success() {
            return Err(found.into_error());
        }
        if let Some(pr) = found.json.as_array().and_then(|a| a.first()) {
            return Ok(pull_request(pr, &owner, &name, "already open"));
        }
    }
    Ok(failed(&ans))
}

fn pull_request(pr: &Value, owner: &str, name: &str, what: &str) -> Progress {
    let mut outputs = BTreeMap::new();
    let number = pr.get("number").map(output_value).unwrap_or_default();
    let url = pr.get("html_url").map(output_value).unwrap_or_default();
    outputs.insert("number".into(), number.clone());
    outputs.insert("url".into(), url.clone());
    Progress::Succeeded {
        outputs,
        log: vec![format!(
            "pull request #{number} of {owner}/{name} {what}: {url}"
        )],
    }
}

async fn from_template(x: &External<'_>, g: &GitHubExecutor) -> Result<Progress, ExecError> {
    let (owner, name) = repo("repository", &x.render(&g.repository)?)?;
    let template = x.render(g.template_repository.as_deref().unwrap_or(""))?;
    let (t_owner, t_name) = repo("templateRepository", &template)?;
    let gh = connect(x, g, true).await?;
    let mut req = json!({"owner": owner, "name": name, "private": true});
    if let Some(d) = &g.body {
        req["description"] = Value::String(bounded(&x.render(d)?, 350));
    }
    let ans = gh
        .send(
            x,
            Method::POST,
            &format!("/repos/{}/{}/generate", encode(&t_owner), encode(&t_name)),
            Some(&req),
        )
        .await?;
    let done = |v: &Value, what: &str| {
        let mut outputs = BTreeMap::new();
        outputs.insert("repository".into(), format!("{owner}/{name}"));
        if let Some(u) = v.get("html_url") {
            outputs.insert("url".into(), output_value(u));
        }
        Progress::Succeeded {
            outputs,
            log: vec![format!(
                "repository {owner}/{name} {what} from {t_owner}/{t_name}"
            )],
        }
    };
    if ans.success() {
        return Ok(done(&ans.json, "created"));
    }
    if ans.status == 422 {
        let existing = gh
            .send(
                x,
                Method::GET,
                &format!("/repos/{}/{}", encode(&owner), encode(&name)),
                None,
            )
            .await?;
        if existing.success() {
            let from = existing
                .json
                .pointer("/template_repository/full_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if from.eq_ignore_ascii_case(&format!("{t_owner}/{t_name}")) {
                return Ok(done(&existing.json, "already generated"));
            }
            return Ok(Progress::Failed {
                message: format!(
                    "repository {owner}/{name} already exists and was not generated from \
                     {t_owner}/{t_name}"
                ),
                log: Vec::new(),
            });
        }
    }
    Ok(failed(&ans))
}
