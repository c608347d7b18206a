//! Open pull requests → `status.pullRequests` of the Repository: the `pull_request` webhook
//! updates one entry, the REST list (`GET /repos/{o}/{r}/pulls`) replaces the whole list.

use nexus_api::facts::{MAX_PULL_REQUESTS, PullRequestFact};
use serde::Deserialize;

use super::common::{Login, Repo, check_web_url, clip, clip_opt, one_or_many, opt_time};
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, error::from_json, time,
};

#[derive(Debug, Deserialize)]
pub(crate) struct PullRequest {
    number: i64,
    #[serde(default)]
    state: Option<String>,
    title: String,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    user: Option<Login>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    head: Option<Branch>,
    #[serde(default)]
    base: Option<Branch>,
}

#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    repo: Option<BranchRepo>,
}

#[derive(Debug, Deserialize)]
struct BranchRepo {
    html_url: String,
}

impl PullRequest {
    fn fact(&self, at: &str) -> Result<PullRequestFact, IngestError> {
        Ok(PullRequestFact {
            number: self.number,
            title: clip(&self.title, 1024),
            url: clip_opt(self.html_url.as_deref(), 2048),
            author: clip_opt(self.user.as_ref().map(|u| u.login.as_str()), 256),
            created_at: opt_time(&format!("{at}.created_at"), self.created_at.as_deref())?,
            updated_at: opt_time(&format!("{at}.updated_at"), self.updated_at.as_deref())?,
            draft: self.draft,
            source_branch: clip_opt(self.head.as_ref().map(|b| b.name.as_str()), 256),
            target_branch: clip_opt(self.base.as_ref().map(|b| b.name.as_str()), 256),
        })
    }
}

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: PullRequest,
    repository: Repo,
}

/// `pull_request` webhook.
pub(crate) fn event(body: &[u8]) -> Result<Outcome, IngestError> {
    let ev: PullRequestEvent = from_json(body)?;
    let url = check_web_url("repository.html_url", &ev.repository.html_url)?;
    let op = match ev.action.as_str() {
        "opened" | "reopened" | "edited" | "synchronize" | "ready_for_review"
        | "converted_to_draft" => ListOp::upsert(
            "pullRequests",
            "number",
            ev.pull_request.fact("pull_request")?,
            "createdAt",
            MAX_PULL_REQUESTS,
        ),
        "closed" => ListOp::remove("pullRequests", "number", ev.pull_request.number),
        other => {
            return Ok(Outcome::ignored(format!(
                "`pull_request` action `{other}` does not change the open pull requests Nexus keeps"
            )));
        }
    };
    let facts = Facts::new(Source::Github, Target::RepositoryUrl { url }).list(op);
    Ok(Outcome::Changes(vec![Change::Facts(facts)]))
}

/// REST pull requests: an array (the open list, replacing `status.pullRequests`) or one pull
/// request (merged into the list like a webhook). The repository is `ctx.repository`, else the
/// base repository of the first entry.
pub(crate) fn rest(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let (prs, is_list) = one_or_many::<PullRequest>(body)?;
    let from_body = prs
        .iter()
        .find_map(|p| p.base.as_ref()?.repo.as_ref().map(|r| r.html_url.clone()));
    let url = super::common::rest_repository(ctx, from_body, "pulls")?;
    let target = Target::RepositoryUrl { url };
    if !is_list {
        let Some(pr) = prs.first() else {
            return Ok(Outcome::Changes(Vec::new()));
        };
        let op = if pr.state.as_deref() == Some("closed") {
            ListOp::remove("pullRequests", "number", pr.number)
        } else {
            ListOp::upsert(
                "pullRequests",
                "number",
                pr.fact("")?,
                "createdAt",
                MAX_PULL_REQUESTS,
            )
        };
        return Ok(Outcome::Changes(vec![Change::Facts(
            Facts::new(Source::Github, target).list(op),
        )]));
    }
    let mut open = Vec::new();
    for (i, pr) in prs.iter().enumerate() {
        if pr.state.as_deref().is_none_or(|s| s == "open") {
            open.push(pr.fact(&format!("[{i}]"))?);
        }
    }
    // Newest first, like the applier's bounded lists.
    open.sort_by_key(|p| {
        std::cmp::Reverse(p.created_at.as_ref().map(time::rfc3339).unwrap_or_default())
    });
    open.truncate(MAX_PULL_REQUESTS);
    let facts = Facts::new(Source::Github, target).set("pullRequests", open);
    Ok(Outcome::Changes(vec![Change::Facts(facts)]))
}
