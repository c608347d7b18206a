//! Repositories: `repository` and installation webhooks, the REST repository lists. Each GitHub
//! repository becomes a Repository object named `<owner>-<repo>` in the namespace for the key
//! `owner/repo` (its `full_name`), found again by its URL.

use std::collections::BTreeMap;

use nexus_api::catalog::{
    About,
    repository::{Repository, RepositoryProvider, RepositorySpec, Visibility},
};
use serde::Deserialize;

use super::common::{Repo, check_web_url, clip_opt};
use crate::{
    Change, Context, Gone, IngestError, Outcome, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL},
    error::from_json,
    naming::object_name,
};

#[derive(Debug, Deserialize)]
struct RepositoryEvent {
    action: String,
    repository: Repo,
}

/// `repository` webhook.
pub(crate) fn event(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let ev: RepositoryEvent = from_json(body)?;
    let repo = &ev.repository;
    let change = match ev.action.as_str() {
        "created" | "edited" | "renamed" | "transferred" | "publicized" | "privatized"
        | "unarchived" => Change::Upsert(upsert(repo, ctx)?),
        "archived" => gone(repo, "repository archived on GitHub", false)?,
        "deleted" => gone(repo, "repository deleted on GitHub", true)?,
        other => {
            return Ok(Outcome::ignored(format!(
                "`repository` action `{other}` does not change the catalog"
            )));
        }
    };
    Ok(Outcome::Changes(vec![change]))
}

/// The Repository object for a full repository payload.
pub(crate) fn upsert(repo: &Repo, ctx: &Context) -> Result<Upsert, IngestError> {
    let url = check_web_url("repository.html_url", &repo.html_url)?;
    let (owner, name) = split_full_name(&repo.full_name)?;
    let visibility = match (repo.visibility.as_deref(), repo.private) {
        (Some("internal"), _) => Some(Visibility::Internal),
        // `private` is authoritative: some deliveries still say `visibility: public` after
        // `privatized`.
        (_, Some(true)) | (Some("private"), None) => Some(Visibility::Private),
        (Some("public"), _) | (None, Some(false)) => Some(Visibility::Public),
        _ => None,
    };
    let tags = repo
        .topics
        .iter()
        .flatten()
        .filter(|t| valid_tag(t))
        .take(32)
        .cloned()
        .collect();
    let spec = RepositorySpec {
        about: About {
            description: clip_opt(repo.description.as_deref(), 4000),
            tags,
            ..About::default()
        },
        provider: RepositoryProvider::Github,
        url: url.clone(),
        organization: clip_opt(Some(&repo.owner.login), 100),
        project: None,
        default_branch: repo.default_branch.clone().unwrap_or_default(),
        visibility,
        owner: None,
    };
    let mut object = Repository::new(&object_name(&[owner, name]), spec);
    object.metadata.namespace = Some(ctx.namespace_for(&repo.full_name).to_string());
    object.metadata.annotations = Some(BTreeMap::from([
        (EXTERNAL_ID.to_string(), repo.id.to_string()),
        (SOURCE_URL.to_string(), url.clone()),
    ]));
    let mut up = Upsert::new(Source::Github, &object).with_identity(Target::RepositoryUrl { url });
    if repo
        .default_branch
        .as_deref()
        .is_none_or(|b| b.is_empty() || b.len() > 250)
    {
        // Unknown here (installation payloads are minimal): leave the field to whoever knows it
        // rather than claim the CRD default.
        if let Some(spec) = up.object.get_mut("spec").and_then(|s| s.as_object_mut()) {
            spec.remove("defaultBranch");
        }
    }
    Ok(up)
}

fn gone(repo: &Repo, reason: &str, delete: bool) -> Result<Change, IngestError> {
    Ok(Change::Gone(Gone {
        source: Source::Github,
        target: Target::RepositoryUrl {
            url: check_web_url("repository.html_url", &repo.html_url)?,
        },
        reason: reason.into(),
        delete,
    }))
}

/// `owner/repo` → (`owner`, `repo`).
pub(crate) fn split_full_name(full_name: &str) -> Result<(&str, &str), IngestError> {
    match full_name.split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => Ok((o, r)),
        _ => Err(IngestError::invalid(
            "repository.full_name",
            format!("expected `owner/repo`, got {full_name:?}"),
        )),
    }
}

/// Backstage tag rules the CRD enforces: `^[a-z0-9][a-z0-9:+#.-]*$`, at most 63 characters.
fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":+#.-".contains(c))
}

/// The minimal repository entries of installation events: no URL, no default branch.
#[derive(Debug, Deserialize)]
struct InstalledRepo {
    id: i64,
    full_name: String,
    #[serde(default)]
    private: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Account {
    login: String,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Installation {
    account: Account,
}

#[derive(Debug, Deserialize)]
struct InstallationEvent {
    action: String,
    installation: Installation,
    #[serde(default)]
    repositories: Vec<InstalledRepo>,
}

#[derive(Debug, Deserialize)]
struct InstallationRepositoriesEvent {
    action: String,
    installation: Installation,
    #[serde(default)]
    repositories_added: Vec<InstalledRepo>,
    #[serde(default)]
    repositories_removed: Vec<InstalledRepo>,
}

/// `installation` webhook: only `created` lists repositories Nexus can now see.
pub(crate) fn installation(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let ev: InstallationEvent = from_json(body)?;
    if ev.action != "created" {
        return Ok(Outcome::ignored(format!(
            "`installation` action `{}` is not used by Nexus (repositories are read from \
             `installation_repositories` and the REST poll)",
            ev.action
        )));
    }
    let host = host_of(&ev.installation.account);
    let mut changes = Vec::new();
    for r in &ev.repositories {
        changes.push(Change::Upsert(upsert(
            &installed(r, &ev.installation, &host),
            ctx,
        )?));
    }
    Ok(Outcome::Changes(changes))
}

/// `installation_repositories` webhook: repositories added to or removed from the App's reach.
pub(crate) fn installation_repositories(
    body: &[u8],
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let ev: InstallationRepositoriesEvent = from_json(body)?;
    let host = host_of(&ev.installation.account);
    let mut changes = Vec::new();
    match ev.action.as_str() {
        "added" => {
            for r in &ev.repositories_added {
                changes.push(Change::Upsert(upsert(
                    &installed(r, &ev.installation, &host),
                    ctx,
                )?));
            }
        }
        "removed" => {
            for r in &ev.repositories_removed {
                let repo = installed(r, &ev.installation, &host);
                // Out of the App's reach, not deleted: mark it, keep it.
                changes.push(gone(
                    &repo,
                    "repository removed from the GitHub App installation",
                    false,
                )?);
            }
        }
        other => {
            return Ok(Outcome::ignored(format!(
                "`installation_repositories` action `{other}` does not change the catalog"
            )));
        }
    }
    Ok(Outcome::Changes(changes))
}

/// `https://<host>` of the installation account (GitHub Enterprise Server has its own host).
fn host_of(account: &Account) -> String {
    account
        .html_url
        .as_deref()
        .and_then(|u| u.strip_prefix("https://"))
        .and_then(|u| u.split('/').next())
        .filter(|h| !h.is_empty())
        .map_or_else(
            || "https://github.com".to_string(),
            |h| format!("https://{h}"),
        )
}

fn installed(r: &InstalledRepo, inst: &Installation, host: &str) -> Repo {
    Repo {
        id: r.id,
        full_name: r.full_name.clone(),
        html_url: format!("{host}/{}", r.full_name),
        owner: super::common::Login {
            login: r
                .full_name
                .split_once('/')
                .map_or(inst.account.login.as_str(), |(o, _)| o)
                .to_string(),
        },
        default_branch: None,
        // `private: false` may still be internal: only say what is certain.
        private: r.private.filter(|p| *p),
        visibility: None,
        description: None,
        topics: None,
        archived: None,
        pushed_at: None,
    }
}

#[derive(Debug, Deserialize)]
struct InstallationRepositories {
    repositories: Vec<serde_json::Value>,
}

/// REST `GET /installation/repositories` (`{total_count, repositories}`) or a plain array
/// (`GET /orgs/{org}/repos`, `GET /repos/{o}/{r}` as one object). Archived repositories are
/// reported gone (not deleted).
pub(crate) fn rest(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let value: serde_json::Value = from_json(body)?;
    let (items, at) = match &value {
        serde_json::Value::Array(items) => (items.clone(), ""),
        serde_json::Value::Object(o) if o.contains_key("repositories") => {
            let list: InstallationRepositories = crate::error::from_value(&value, "")?;
            (list.repositories, "repositories")
        }
        serde_json::Value::Object(_) => (vec![value.clone()], "-"),
        _ => {
            return Err(IngestError::invalid(
                "(document)",
                "expected a repository, an array of repositories or {repositories: [...]}",
            ));
        }
    };
    let mut changes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = match at {
            "-" => String::new(),
            "" => format!("[{i}]"),
            at => format!("{at}[{i}]"),
        };
        let repo: Repo = crate::error::from_value(item, &field)?;
        if repo.archived == Some(true) {
            changes.push(gone(&repo, "repository archived on GitHub", false)?);
        } else {
            changes.push(Change::Upsert(upsert(&repo, ctx)?));
        }
    }
    Ok(Outcome::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_crd_rule() {
        assert!(valid_tag("rust"));
        assert!(valid_tag("c++"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag("Upper"));
        assert!(!valid_tag(""));
    }

    #[test]
    fn full_names_split_once() {
        assert_eq!(split_full_name("a/b").unwrap(), ("a", "b"));
        assert!(split_full_name("a").is_err());
        assert!(split_full_name("a/b/c").is_err());
        assert!(split_full_name("/b").is_err());
    }

    #[test]
    fn unknown_default_branch_is_left_out() {
        let body = br#"{"action":"created","installation":{"account":{"login":"o",
            "html_url":"https://ghe.example/o"}},"repositories":[{"id":1,"name":"r",
            "full_name":"o/r","private":true}]}"#;
        let out = installation(body, &Context::in_namespace("ns")).unwrap();
        let Change::Upsert(u) = &out.changes()[0] else {
            panic!("{out:?}")
        };
        assert_eq!(u.object["spec"]["url"], "https://ghe.example/o/r");
        assert_eq!(u.object["spec"]["visibility"], "private");
        assert!(u.object["spec"].get("defaultBranch").is_none());
        assert_eq!(u.namespace(), "ns");
    }
}
