//! The Repository a Component's annotations name (`github.com/project-slug`,
//! `backstage.io/source-location`). A Repository object is emitted for it so `spec.repository`
//! never points at nothing (same name and namespace key as GitHub / Azure DevOps ingestion give
//! it, so they meet); only GitHub (github.com) and Azure Repos (dev.azure.com) are
//! recognised, other hosts leave the annotations as the only record.

use std::collections::BTreeMap;

use nexus_api::catalog::{
    About,
    repository::{Repository, RepositoryProvider, RepositorySpec},
};

use crate::naming;

pub(super) const PROJECT_SLUG: &str = "github.com/project-slug";
pub(super) const SOURCE_LOCATION: &str = "backstage.io/source-location";

/// A repository identified from annotations.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RepoInfo {
    pub name: String,
    /// The namespace key GitHub / Azure DevOps ingestion uses (`org/repo`,
    /// `org/project/repo`), so both place the Repository alike.
    pub key: String,
    pub url: String,
    pub provider: RepositoryProvider,
    pub organization: String,
    pub project: Option<String>,
    /// The branch the source location points into, when it says.
    pub branch: Option<String>,
}

impl RepoInfo {
    /// The Repository object; without a known branch the schema's default (`main`) stands.
    pub fn object(&self, namespace: &str) -> Repository {
        let mut r = Repository::new(
            &self.name,
            RepositorySpec {
                about: About::default(),
                provider: self.provider,
                url: self.url.clone(),
                organization: Some(self.organization.clone()),
                project: self.project.clone(),
                default_branch: self.branch.clone().unwrap_or_else(|| "main".into()),
                visibility: None,
                owner: None,
            },
        );
        r.metadata.namespace = Some(namespace.to_string());
        r
    }
}

pub(super) fn from_annotations(ann: &BTreeMap<String, String>) -> Option<RepoInfo> {
    let from_location = ann.get(SOURCE_LOCATION).and_then(|l| from_url(l));
    if let Some(slug) = ann.get(PROJECT_SLUG) {
        let (org, repo) = slug.trim().split_once('/')?;
        if !is_segment(org) || !is_segment(repo) {
            return None;
        }
        let mut info = github(org, repo);
        // The source location may add the branch, when it is the same repository.
        if let Some(loc) = from_location.filter(|l| l.url.eq_ignore_ascii_case(&info.url)) {
            info.branch = loc.branch;
        }
        return Some(info);
    }
    from_location
}

/// `url:https://github.com/org/repo/tree/main/x`, `https://dev.azure.com/org/p/_git/r?version=GBmain`.
fn from_url(location: &str) -> Option<RepoInfo> {
    let url = location.trim();
    let url = url.strip_prefix("url:").unwrap_or(url);
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [host, org, repo, more @ ..] if host.eq_ignore_ascii_case("github.com") => {
            let repo = repo.strip_suffix(".git").unwrap_or(repo);
            if !is_segment(org) || !is_segment(repo) {
                return None;
            }
            let mut info = github(org, repo);
            if let [kind, branch, ..] = more
                && matches!(*kind, "tree" | "blob")
            {
                info.branch = Some((*branch).to_string());
            }
            Some(info)
        }
        [host, org, project, git, repo, ..]
            if host.eq_ignore_ascii_case("dev.azure.com") && *git == "_git" =>
        {
            if !is_segment(org) || !is_segment(project) || !is_segment(repo) {
                return None;
            }
            let branch = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("version=GB"))
                .filter(|b| !b.is_empty())
                .map(str::to_string);
            Some(RepoInfo {
                name: naming::object_name(&[org, project, repo]),
                key: format!("{org}/{project}/{repo}"),
                url: format!("https://dev.azure.com/{org}/{project}/_git/{repo}"),
                provider: RepositoryProvider::AzureDevOps,
                organization: (*org).to_string(),
                project: Some((*project).to_string()),
                branch,
            })
        }
        _ => None,
    }
}

fn github(org: &str, repo: &str) -> RepoInfo {
    RepoInfo {
        name: naming::object_name(&[org, repo]),
        key: format!("{org}/{repo}"),
        url: format!("https://github.com/{org}/{repo}"),
        provider: RepositoryProvider::Github,
        organization: org.to_string(),
        project: None,
        branch: None,
    }
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_slug_and_source_location() {
        let r = from_annotations(&ann(&[
            (PROJECT_SLUG, "Contoso/Payments"),
            (
                SOURCE_LOCATION,
                "url:https://github.com/Contoso/Payments/tree/develop/svc",
            ),
        ]))
        .unwrap();
        assert_eq!(r.url, "https://github.com/Contoso/Payments");
        assert_eq!(r.name, "contoso-payments");
        assert_eq!(r.branch.as_deref(), Some("develop"));
        assert_eq!(from_annotations(&ann(&[(PROJECT_SLUG, "nope")])), None);
    }

    #[test]
    fn azure_repos_location() {
        let r = from_annotations(&ann(&[(
            SOURCE_LOCATION,
            "url:https://dev.azure.com/org/proj/_git/repo?path=/&version=GBrelease",
        )]))
        .unwrap();
        assert_eq!(r.provider, RepositoryProvider::AzureDevOps);
        assert_eq!(r.project.as_deref(), Some("proj"));
        assert_eq!(r.branch.as_deref(), Some("release"));
        assert_eq!(
            from_annotations(&ann(&[(SOURCE_LOCATION, "url:https://gitlab.com/a/b")])),
            None
        );
    }
}
