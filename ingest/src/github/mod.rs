//! GitHub: webhook deliveries (`webhook`), REST responses read by the poller (`rest`).
//!
//! Everything scoped to a repository targets it by web URL (`Target::RepositoryUrl`, its
//! Components, its workflows); discovered Repository objects go to the namespace for the key
//! `owner/repo`.

pub mod codeowners;
mod common;
mod dependabot;
mod deployments;
mod protection;
mod pulls;
mod push;
mod repository;
mod runs;
mod sbom;

pub use push::{push_touches_catalog_files, push_touches_runbooks};

use crate::{Context, IngestError, Outcome, error::from_json};

/// Parses one webhook delivery; `event` is the `X-GitHub-Event` header. Events Nexus does not
/// use (and actions of used events that change nothing) are `Ignored` with the reason; the body
/// must still be JSON.
pub fn webhook(event: &str, body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    match event {
        "repository" => repository::event(body, ctx),
        "installation" => repository::installation(body, ctx),
        "installation_repositories" => repository::installation_repositories(body, ctx),
        "push" => push::event(body, ctx),
        "pull_request" => pulls::event(body),
        "workflow_run" => runs::event(body),
        "deployment" | "deployment_status" => deployments::event(body),
        "branch_protection_rule" => protection::rule_event(body, ctx),
        "repository_ruleset" => protection::ruleset_event(body, ctx),
        "dependabot_alert" => dependabot::event(body),
        "" => Err(IngestError::invalid(
            "X-GitHub-Event",
            "the event name is empty",
        )),
        other => {
            from_json::<serde::de::IgnoredAny>(body)?;
            let why = if other == "ping" {
                "GitHub's hook check, nothing to apply"
            } else {
                "not used by Nexus"
            };
            Ok(Outcome::ignored(format!("event `{other}`: {why}")))
        }
    }
}

/// REST resources the poller reads, by the name `rest` takes.
pub const REST_RESOURCES: &[&str] = &[
    "repositories",
    "pulls",
    "deployments",
    "deployment-statuses",
    "workflow-runs",
    "dependabot-alerts",
    "rulesets",
    "branch-protection",
    "sbom",
    "codeowners",
];

/// Parses one REST response body of `resource` (see [`REST_RESOURCES`]). Bodies of
/// repository-scoped lists that do not name their repository (pulls, deployment statuses,
/// rulesets, branch protection, an empty list) take it from `ctx.repository`; `codeowners`
/// takes the CODEOWNERS file text and always needs it.
pub fn rest(resource: &str, body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    match resource {
        "repositories" => repository::rest(body, ctx),
        "pulls" => pulls::rest(body, ctx),
        "deployments" => deployments::rest_deployments(body, ctx),
        "deployment-statuses" => deployments::rest_statuses(body, ctx),
        "workflow-runs" => runs::rest(body, ctx),
        "dependabot-alerts" => dependabot::rest(body),
        "rulesets" => protection::rest_rulesets(body, ctx),
        "branch-protection" => protection::rest_branch_protection(body, ctx),
        "sbom" => sbom::rest(body, ctx),
        "codeowners" => codeowners::rest(body, ctx),
        other => Err(IngestError::invalid(
            "resource",
            format!(
                "unknown GitHub REST resource `{other}`; known: {}",
                REST_RESOURCES.join(", ")
            ),
        )),
    }
}
