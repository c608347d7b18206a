//! Azure Repos: repositories, pushes to the default branch, pull requests (service hooks and
//! REST lists).

use std::collections::BTreeMap;

use nexus_api::{
    catalog::{
        About, Repository,
        repository::{RepositoryProvider, RepositorySpec},
    },
    facts::{CommitFact, MAX_PULL_REQUESTS, MAX_PUSHES, PullRequestFact, PushFact},
};
use serde::Deserialize;

use super::{
    model::{Envelope, Identity, ProjectRef, branch, clip, clip_opt, items, nullable, ts, url_opt},
    scope::{Finder, Origin, Scope, encode_segment, strip_userinfo},
};
use crate::{
    Change, Context, Facts, Gone, IngestError, ListOp, Outcome, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL},
    naming::object_name,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GitRepo {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub project: Option<ProjectRef>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub remote_url: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub is_disabled: Option<bool>,
}

/// What Nexus knows of a repository after reading a payload.
pub(crate) struct RepoInfo {
    pub origin: Origin,
    pub name: String,
    /// Web URL: `webUrl`, else `remoteUrl` without user info, else built from the organisation,
    /// project and name.
    pub web_url: String,
    pub default_branch: Option<String>,
    pub id: Option<String>,
}

impl GitRepo {
    pub fn info(
        &self,
        given: Option<&Scope>,
        env: Option<&Envelope>,
    ) -> Result<RepoInfo, IngestError> {
        let project = self.project.as_ref();
        let remote = self.remote_url.as_deref().map(strip_userinfo);
        let origin = Finder::new(given)
            .urls(env.into_iter().flat_map(Envelope::container_urls))
            .url(self.web_url.as_deref())
            .url(remote.as_deref())
            .url(self.url.as_deref())
            .url(project.and_then(|p| p.url.as_deref()))
            .name(project.and_then(|p| p.name.as_deref()))
            .id(project.and_then(|p| p.id.as_deref()))
            .id(env.and_then(Envelope::project_id))
            .resolve()?;
        let web_url = self
            .web_url
            .clone()
            .or(remote)
            .unwrap_or_else(|| origin.web(&format!("_git/{}", encode_segment(&self.name))));
        Ok(RepoInfo {
            origin,
            name: self.name.clone(),
            web_url,
            default_branch: self
                .default_branch
                .as_deref()
                .filter(|b| !b.is_empty())
                .map(str::to_string),
            id: self.id.clone(),
        })
    }
}

impl RepoInfo {
    fn target(&self) -> Target {
        Target::RepositoryUrl {
            url: self.web_url.clone(),
        }
    }

    /// The Repository as Nexus would discover it; `None` when the payload lacks the default
    /// branch (upserting a guessed one would overwrite the real one) or the URL is not the
    /// https URL the CRD requires.
    pub fn discovered(&self, ctx: &Context) -> Option<Upsert> {
        let default_branch = self.default_branch.as_deref()?;
        let url = &self.web_url;
        let https = url.strip_prefix("https://").is_some_and(|rest| {
            rest.split_once('/')
                .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty())
        });
        if !https || url.contains(' ') || url.chars().count() > 2048 {
            return None;
        }
        let o = &self.origin;
        let name = object_name(&[&o.organization, &o.project, &self.name]);
        let mut repo = Repository::new(
            &name,
            RepositorySpec {
                about: About {
                    title: Some(clip(&self.name, 200)),
                    ..About::default()
                },
                provider: RepositoryProvider::AzureDevOps,
                url: url.clone(),
                organization: Some(clip(&o.organization, 100)),
                project: Some(clip(&o.project, 100)),
                default_branch: clip(branch(default_branch), 250),
                visibility: None,
                owner: None,
            },
        );
        let key = format!("{}/{}", o.key(), self.name);
        repo.metadata.namespace = Some(ctx.namespace_for(&key).to_string());
        let mut annotations = BTreeMap::from([(SOURCE_URL.to_string(), url.clone())]);
        if let Some(id) = &self.id {
            annotations.insert(EXTERNAL_ID.into(), id.clone());
        }
        repo.metadata.annotations = Some(annotations);
        Some(Upsert::new(Source::AzureDevOps, &repo).with_identity(self.target()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Push {
    pub repository: GitRepo,
    #[serde(default, deserialize_with = "nullable")]
    pub ref_updates: Vec<RefUpdate>,
    #[serde(default, deserialize_with = "nullable")]
    pub commits: Vec<Commit>,
    #[serde(default)]
    pub pushed_by: Option<Identity>,
    #[serde(default)]
    pub date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefUpdate {
    pub name: String,
    #[serde(default)]
    pub new_object_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Commit {
    pub commit_id: String,
    #[serde(default)]
    pub author: Option<GitUser>,
    #[serde(default)]
    pub committer: Option<GitUser>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GitUser {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

impl Push {
    /// The push to the default branch, if this push updated it (and did not delete it).
    fn fact(&self, info: &RepoInfo, at: &str) -> Result<Option<PushFact>, IngestError> {
        let Some(default) = info.default_branch.as_deref() else {
            return Ok(None);
        };
        let Some(update) = self.ref_updates.iter().find(|u| u.name == default) else {
            return Ok(None);
        };
        let Some(sha) = update
            .new_object_id
            .as_deref()
            .filter(|s| !s.is_empty() && !s.bytes().all(|b| b == b'0'))
        else {
            return Ok(None);
        };
        // Azure DevOps lists commits newest first; the fact keeps the newest 20, oldest first.
        let mut commits = Vec::new();
        for (i, c) in self.commits.iter().take(20).enumerate().rev() {
            let who = c.author.as_ref().or(c.committer.as_ref());
            let date = who.and_then(|u| u.date.clone());
            commits.push(CommitFact {
                sha: clip(&c.commit_id, 64),
                timestamp: ts(&format!("{at}.commits[{i}].author.date"), &date)?,
                author: who.and_then(|u| clip_opt(u.email.as_deref().or(u.name.as_deref()), 256)),
            });
        }
        Ok(Some(PushFact {
            sha: clip(sha, 64),
            branch: clip(branch(default), 256),
            pusher: self.pushed_by.as_ref().and_then(Identity::best),
            pushed_at: ts(&format!("{at}.date"), &self.date)?,
            commits,
        }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullRequest {
    pub repository: GitRepo,
    pub pull_request_id: i64,
    pub status: String,
    #[serde(default)]
    pub created_by: Option<Identity>,
    #[serde(default)]
    pub creation_date: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub source_ref_name: Option<String>,
    #[serde(default)]
    pub target_ref_name: Option<String>,
    #[serde(default)]
    pub is_draft: Option<bool>,
}

impl PullRequest {
    /// Upsert while active; remove once completed or abandoned.
    fn op(&self, info: &RepoInfo, updated: Option<&str>, at: &str) -> Result<ListOp, IngestError> {
        if matches!(self.status.as_str(), "completed" | "abandoned") {
            return Ok(ListOp::remove(
                "pullRequests",
                "number",
                self.pull_request_id,
            ));
        }
        let fact = PullRequestFact {
            number: self.pull_request_id,
            title: clip(self.title.as_deref().unwrap_or(""), 1024),
            url: url_opt(Some(&format!(
                "{}/pullrequest/{}",
                info.web_url, self.pull_request_id
            ))),
            author: self.created_by.as_ref().and_then(Identity::best),
            created_at: ts(&format!("{at}.creationDate"), &self.creation_date)?,
            updated_at: crate::time::parse_opt("createdDate", updated)?,
            draft: self.is_draft,
            source_branch: clip_opt(self.source_ref_name.as_deref().map(branch), 256),
            target_branch: clip_opt(self.target_ref_name.as_deref().map(branch), 256),
        };
        Ok(ListOp::upsert(
            "pullRequests",
            "number",
            fact,
            "createdAt",
            MAX_PULL_REQUESTS,
        ))
    }
}

/// `git.push`: the push to the default branch on the Repository, and the Repository itself.
pub(crate) fn push_event(env: &Envelope, ctx: &Context) -> Result<Outcome, IngestError> {
    let push: Push = env.resource()?;
    let info = push.repository.info(None, Some(env))?;
    let mut changes: Vec<Change> = info
        .discovered(ctx)
        .map(Change::Upsert)
        .into_iter()
        .collect();
    if let Some(fact) = push.fact(&info, "resource")? {
        let op = ListOp::upsert("pushes", "sha", fact, "pushedAt", MAX_PUSHES);
        changes.push(Change::Facts(
            Facts::new(Source::AzureDevOps, info.target()).list(op),
        ));
    }
    Ok(Outcome::Changes(changes))
}

/// `git.pullrequest.*`: the pull request on the Repository, and the Repository itself.
pub(crate) fn pull_request_event(env: &Envelope, ctx: &Context) -> Result<Outcome, IngestError> {
    let pr: PullRequest = env.resource()?;
    let info = pr.repository.info(None, Some(env))?;
    let op = pr.op(&info, env.created_date.as_deref(), "resource")?;
    let mut changes: Vec<Change> = info
        .discovered(ctx)
        .map(Change::Upsert)
        .into_iter()
        .collect();
    changes.push(Change::Facts(
        Facts::new(Source::AzureDevOps, info.target()).list(op),
    ));
    Ok(Outcome::Changes(changes))
}

/// Collects list operations per repository so a REST page gives one Facts per repository.
#[derive(Default)]
struct PerRepo {
    order: Vec<String>,
    upserts: BTreeMap<String, Upsert>,
    ops: BTreeMap<String, Vec<ListOp>>,
}

impl PerRepo {
    fn add(&mut self, info: &RepoInfo, ctx: &Context, op: Option<ListOp>) {
        let url = info.web_url.clone();
        if !self.order.contains(&url) {
            self.order.push(url.clone());
            if let Some(u) = info.discovered(ctx) {
                self.upserts.insert(url.clone(), u);
            }
        }
        self.ops.entry(url).or_default().extend(op);
    }

    fn finish(mut self) -> Outcome {
        let mut changes = Vec::new();
        for url in &self.order {
            changes.extend(self.upserts.remove(url).map(Change::Upsert));
        }
        for url in self.order {
            let ops = self.ops.remove(&url).unwrap_or_default();
            if !ops.is_empty() {
                let target = Target::RepositoryUrl { url };
                let facts = ops
                    .into_iter()
                    .fold(Facts::new(Source::AzureDevOps, target), Facts::list);
                changes.push(Change::Facts(facts));
            }
        }
        Outcome::Changes(changes)
    }
}

/// REST `git/repositories`: every repository with a default branch is discovered; disabled
/// repositories are reported gone (not deleted).
pub(crate) fn repositories(
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let repos: Vec<GitRepo> = items(body)?;
    let mut changes = Vec::new();
    for repo in &repos {
        let info = repo.info(given, None)?;
        if repo.is_disabled == Some(true) {
            changes.push(Change::Gone(Gone {
                source: Source::AzureDevOps,
                target: info.target(),
                reason: format!("repository {} is disabled in Azure DevOps", info.name),
                delete: false,
            }));
        } else {
            changes.extend(info.discovered(ctx).map(Change::Upsert));
        }
    }
    Ok(Outcome::Changes(changes))
}

/// REST `git/repositories/{id}/pushes` (ask with `searchCriteria.includeRefUpdates=true`;
/// pushes without ref updates say nothing about the default branch and are skipped).
pub(crate) fn pushes(
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let list: Vec<Push> = items(body)?;
    let mut per = PerRepo::default();
    for (i, push) in list.iter().enumerate() {
        let info = push.repository.info(given, None)?;
        let fact = push.fact(&info, &format!("value[{i}]"))?;
        per.add(
            &info,
            ctx,
            fact.map(|f| ListOp::upsert("pushes", "sha", f, "pushedAt", MAX_PUSHES)),
        );
    }
    Ok(per.finish())
}

/// REST `git/repositories/{id}/pullRequests` (any status: completed and abandoned ones leave
/// the list).
pub(crate) fn pull_requests(
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let list: Vec<PullRequest> = items(body)?;
    let mut per = PerRepo::default();
    for (i, pr) in list.iter().enumerate() {
        let info = pr.repository.info(given, None)?;
        let op = pr.op(&info, None, &format!("value[{i}]"))?;
        per.add(&info, ctx, Some(op));
    }
    Ok(per.finish())
}
