//! `push` webhook: pushes to the default branch become `status.pushes` of the Repository
//! (commit times for lead time). Pushes to other branches, tags and branch deletions are
//! `Ignored` with the reason, so the receiver's log says why nothing happened.

use nexus_api::facts::{CommitFact, MAX_PUSHES, PushFact};
use serde::Deserialize;

use super::common::{Repo, check_web_url, clip, clip_opt, opt_time};
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, error::from_json,
    runbooks::RunbookPaths,
};

/// Most commits a PushFact keeps (the CRD bound; GitHub sends at most 20 anyway).
const MAX_COMMITS: usize = 20;

#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    commits: Vec<Commit>,
    #[serde(default)]
    head_commit: Option<Commit>,
    #[serde(default)]
    pusher: Option<Pusher>,
    repository: Repo,
}

#[derive(Debug, Deserialize)]
struct Pusher {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Author {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl PushEvent {
    /// The branch name when this push moved the default branch forward.
    fn default_branch_push(&self) -> Result<&str, String> {
        let default = self.repository.default_branch.as_deref().unwrap_or("");
        match self.git_ref.strip_prefix("refs/heads/") {
            _ if self.deleted => Err(format!("`push` deleted `{}`", self.git_ref)),
            Some(b) if !b.is_empty() && b == default => Ok(b),
            _ => Err(format!(
                "`push` to `{}` is not to the default branch `{default}`",
                self.git_ref
            )),
        }
    }
}

/// `push` webhook.
pub(crate) fn event(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let ev: PushEvent = from_json(body)?;
    let branch = match ev.default_branch_push() {
        Ok(b) => b,
        Err(reason) => return Ok(Outcome::Ignored(reason)),
    };
    let url = check_web_url("repository.html_url", &ev.repository.html_url)?;
    let mut commits = Vec::new();
    for (i, c) in ev.commits.iter().take(MAX_COMMITS).enumerate() {
        let author = c.author.as_ref().and_then(|a| {
            a.username
                .as_deref()
                .filter(|u| !u.is_empty())
                .or(a.name.as_deref())
        });
        commits.push(CommitFact {
            sha: clip(&c.id, 64),
            timestamp: opt_time(&format!("commits[{i}].timestamp"), c.timestamp.as_deref())?,
            author: clip_opt(author, 256),
        });
    }
    // When the push happened: the repository's `pushed_at`, else the head commit, else now.
    let pushed_at = match (&ev.repository.pushed_at, &ev.head_commit) {
        (Some(p), _) => p.time("repository.pushed_at")?,
        (None, Some(h)) => {
            opt_time("head_commit.timestamp", h.timestamp.as_deref())?.unwrap_or_else(|| ctx.now())
        }
        (None, None) => ctx.now(),
    };
    let fact = PushFact {
        sha: clip(&ev.after, 64),
        branch: clip(branch, 256),
        pusher: clip_opt(ev.pusher.as_ref().map(|p| p.name.as_str()), 256),
        pushed_at: Some(pushed_at),
        commits,
    };
    let facts = Facts::new(Source::Github, Target::RepositoryUrl { url }).list(ListOp::upsert(
        "pushes", "sha", fact, "pushedAt", MAX_PUSHES,
    ));
    Ok(Outcome::Changes(vec![Change::Facts(facts)]))
}

/// Whether a push to the default branch added, changed or removed a file Nexus reads from
/// repositories: `catalog-info.yaml` in any directory, or CODEOWNERS where GitHub looks for it
/// (root, `.github/`, `docs/`). The receiver re-reads those files when this is true.
pub fn push_touches_catalog_files(body: &[u8]) -> Result<bool, IngestError> {
    let ev: PushEvent = from_json(body)?;
    if ev.default_branch_push().is_err() {
        return Ok(false);
    }
    let touched = ev
        .commits
        .iter()
        .chain(ev.head_commit.as_ref())
        .flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed))
        .any(|p| is_catalog_file(p));
    Ok(touched)
}

/// Whether a push to the default branch added, changed or removed a runbook (a file `paths`
/// selects). The receiver then asks the poller to re-read the repository's runbooks, so an
/// edit shows within seconds and a deletion marks its Runbook gone.
pub fn push_touches_runbooks(body: &[u8], paths: &RunbookPaths) -> Result<bool, IngestError> {
    let ev: PushEvent = from_json(body)?;
    if ev.default_branch_push().is_err() {
        return Ok(false);
    }
    Ok(ev
        .commits
        .iter()
        .chain(ev.head_commit.as_ref())
        .flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed))
        .any(|p| paths.matches(p)))
}

fn is_catalog_file(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let file = path.rsplit('/').next().unwrap_or(path);
    file == "catalog-info.yaml"
        || matches!(
            path,
            "CODEOWNERS" | ".github/CODEOWNERS" | "docs/CODEOWNERS"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_files() {
        assert!(is_catalog_file("catalog-info.yaml"));
        assert!(is_catalog_file("services/api/catalog-info.yaml"));
        assert!(is_catalog_file(".github/CODEOWNERS"));
        assert!(is_catalog_file("docs/CODEOWNERS"));
        assert!(!is_catalog_file("src/CODEOWNERS"));
        assert!(!is_catalog_file("README.md"));
    }

    fn push(git_ref: &str, file: &str) -> Vec<u8> {
        format!(
            r#"{{"ref":"{git_ref}","after":"abc","commits":[{{"id":"abc","timestamp":
            "2024-01-01T00:00:00Z","added":[],"modified":["{file}"],"removed":[]}}],
            "repository":{{"id":1,"name":"r","full_name":"o/r","html_url":"https://github.com/o/r",
            "owner":{{"login":"o"}},"default_branch":"main"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn only_default_branch_pushes_touch_the_catalog() {
        assert!(
            push_touches_catalog_files(&push("refs/heads/main", "a/catalog-info.yaml")).unwrap()
        );
        assert!(!push_touches_catalog_files(&push("refs/heads/dev", "catalog-info.yaml")).unwrap());
        assert!(!push_touches_catalog_files(&push("refs/heads/main", "src/lib.rs")).unwrap());
        let out = event(&push("refs/heads/main", "x"), &Context::default()).unwrap();
        assert_eq!(out.changes().len(), 1);
        assert!(push_touches_catalog_files(b"{").is_err());
    }

    #[test]
    fn runbook_pushes_are_recognised_by_the_configured_paths() {
        let paths = RunbookPaths::new(&["runbooks/", "docs/ops/*.md"]).unwrap();
        let touches = |r: &str, f: &str| push_touches_runbooks(&push(r, f), &paths).unwrap();
        assert!(touches("refs/heads/main", "runbooks/db/failover.md"));
        assert!(touches("refs/heads/main", "docs/ops/restart.md"));
        assert!(!touches("refs/heads/main", "docs/ops/deep/restart.md"));
        assert!(!touches("refs/heads/main", "src/main.rs"));
        assert!(!touches("refs/heads/feature", "runbooks/x.md"));
        assert!(push_touches_runbooks(b"[]", &paths).is_err());
    }
}
