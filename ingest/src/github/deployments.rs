//! Deployments → `status.deployments` of the repository's Components and of the Environment
//! deployed to (DORA deployment frequency, lead time, change failure rate).
//!
//! Record ids are `github:<owner>/<repo>:<deployment id>` (owner/repo lower case): REST
//! deployment bodies carry no repository id, and webhook and REST records of one deployment must
//! share an id to replace each other.

use nexus_api::facts::{DeploymentRecord, MAX_DEPLOYMENTS};
use serde::Deserialize;

use super::common::{
    Login, Repo, check_web_url, clip, clip_opt, one_or_many, opt_time, web_url_from_api,
};
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, error::from_json,
};

#[derive(Debug, Deserialize)]
struct Deployment {
    id: i64,
    #[serde(default)]
    sha: Option<String>,
    #[serde(rename = "ref", default)]
    git_ref: Option<String>,
    environment: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    creator: Option<Login>,
    /// REST only (API URL).
    #[serde(default)]
    repository_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    state: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
    #[serde(default)]
    log_url: Option<String>,
    /// REST only (API URLs).
    #[serde(default)]
    deployment_url: Option<String>,
    #[serde(default)]
    repository_url: Option<String>,
}

impl Status {
    fn link(&self) -> Option<String> {
        let url = [self.log_url.as_deref(), self.target_url.as_deref()]
            .into_iter()
            .flatten()
            .find(|u| u.starts_with("http"));
        clip_opt(url, 2048)
    }
}

#[derive(Debug, Deserialize)]
struct DeploymentEvent {
    deployment: Deployment,
    #[serde(default)]
    deployment_status: Option<Status>,
    repository: Repo,
}

/// `<owner>/<repo>` of a repository web URL, lower case.
fn repo_key(url: &str) -> String {
    let path = url
        .strip_prefix("https://")
        .and_then(|r| r.split_once('/'))
        .map_or("", |(_, p)| p);
    path.to_ascii_lowercase()
}

fn record_id(repository_url: &str, deployment_id: i64) -> String {
    clip(
        &format!("github:{}:{deployment_id}", repo_key(repository_url)),
        256,
    )
}

fn record(
    d: &Deployment,
    status: Option<&Status>,
    repository: &str,
    at: &str,
) -> Result<DeploymentRecord, IngestError> {
    let environment = status
        .and_then(|s| s.environment.as_deref())
        .filter(|e| !e.is_empty())
        .unwrap_or(&d.environment);
    let updated_at = match status {
        Some(s) => opt_time(
            "deployment_status.updated_at",
            s.updated_at.as_deref().or(s.created_at.as_deref()),
        )?,
        None => opt_time(&format!("{at}.updated_at"), d.updated_at.as_deref())?,
    };
    Ok(DeploymentRecord {
        id: record_id(repository, d.id),
        environment: clip(environment, 256),
        sha: clip_opt(d.sha.as_deref(), 64),
        version: clip_opt(d.git_ref.as_deref(), 256),
        status: clip(status.map_or("pending", |s| s.state.as_str()), 32),
        created_at: opt_time(&format!("{at}.created_at"), d.created_at.as_deref())?,
        updated_at,
        creator: clip_opt(d.creator.as_ref().map(|c| c.login.as_str()), 256),
        url: status.and_then(Status::link),
        repository: Some(repository.to_string()),
        component: None,
    })
}

/// Both targets of one record: the repository's Components and the Environment.
fn changes(record: DeploymentRecord, repository: &str) -> Vec<Change> {
    let env = Target::Environment {
        namespace: None,
        name: record.environment.clone(),
    };
    let comps = Target::ComponentsOfRepository {
        url: repository.to_string(),
    };
    [comps, env]
        .into_iter()
        .map(|target| {
            Change::Facts(Facts::new(Source::Github, target).list(ListOp::upsert(
                "deployments",
                "id",
                &record,
                "createdAt",
                MAX_DEPLOYMENTS,
            )))
        })
        .collect()
}

/// `deployment` (a new deployment, status `pending`) and `deployment_status` webhooks.
pub(crate) fn event(body: &[u8]) -> Result<Outcome, IngestError> {
    let ev: DeploymentEvent = from_json(body)?;
    let url = check_web_url("repository.html_url", &ev.repository.html_url)?;
    let rec = record(
        &ev.deployment,
        ev.deployment_status.as_ref(),
        &url,
        "deployment",
    )?;
    Ok(Outcome::Changes(changes(rec, &url)))
}

fn repository_of(
    ctx: &Context,
    api_url: Option<&str>,
    resource: &str,
) -> Result<String, IngestError> {
    super::common::rest_repository(ctx, api_url.and_then(web_url_from_api), resource)
}

/// REST `GET /repos/{o}/{r}/deployments` (array) or one deployment: records with status
/// `pending` (the list has no statuses; `deployment-statuses` or the webhook fill them in).
pub(crate) fn rest_deployments(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let (deps, _) = one_or_many::<Deployment>(body)?;
    let mut out = Vec::new();
    for (i, d) in deps.iter().enumerate() {
        let url = repository_of(ctx, d.repository_url.as_deref(), "deployments")?;
        out.extend(changes(record(d, None, &url, &format!("[{i}]"))?, &url));
    }
    Ok(Outcome::Changes(out))
}

/// REST `GET /repos/{o}/{r}/deployments/{id}/statuses` (array, newest first) or one status.
/// Partial: a status names neither the deployed sha, the ref nor the deployment's creation
/// time, so the record carries the newest state, its time, the environment and link, and takes
/// `createdAt` from the oldest status. The repository is `ctx.repository`, else the body's
/// `repository_url`; the deployment id comes from `deployment_url`.
pub(crate) fn rest_statuses(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let (statuses, _) = one_or_many::<Status>(body)?;
    let (Some(newest), Some(oldest)) = (statuses.first(), statuses.last()) else {
        return Ok(Outcome::Changes(Vec::new()));
    };
    let url = repository_of(ctx, newest.repository_url.as_deref(), "deployment-statuses")?;
    let deployment_id = newest
        .deployment_url
        .as_deref()
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| {
            IngestError::invalid(
                "[0].deployment_url",
                "expected the deployment's API URL ending in its numeric id",
            )
        })?;
    let environment = newest.environment.clone().unwrap_or_default();
    if environment.is_empty() {
        return Err(IngestError::missing("[0].environment"));
    }
    let deployment = Deployment {
        id: deployment_id,
        sha: None,
        git_ref: None,
        environment,
        created_at: oldest.created_at.clone(),
        updated_at: None,
        creator: None,
        repository_url: None,
    };
    let rec = record(&deployment, Some(newest), &url, "[last]")?;
    Ok(Outcome::Changes(changes(rec, &url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_use_the_lower_case_repository() {
        assert_eq!(
            record_id("https://github.com/Octo/Repo", 7),
            "github:octo/repo:7"
        );
    }
}
