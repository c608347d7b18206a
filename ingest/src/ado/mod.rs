//! Azure DevOps: service-hook deliveries and REST responses read by the poller.
//!
//! Organisation and project come from `resourceContainers` base URLs, the resource's URLs and
//! the names the payload gives (see [`scope`]); the poller, which knows both, can pass them with
//! [`rest_in`]. Namespace keys: `org/project/repo` for repositories (and pipelines that build
//! one), `org/project` otherwise.

mod git;
mod model;
mod pipelines;
mod releases;
pub mod scope;
mod work_items;

use serde::Deserialize;

pub use scope::Scope;

use crate::{Context, IngestError, Outcome, error::from_json};
use model::{Envelope, items};

/// Parses one service-hook delivery; the event type is read from the payload's `eventType`.
pub fn service_hook(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let env: Envelope = from_json(body)?;
    let event = env
        .event_type
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| IngestError::missing("eventType"))?;
    match event.as_str() {
        "git.push" => git::push_event(&env, ctx),
        "git.pullrequest.created" | "git.pullrequest.updated" | "git.pullrequest.merged" => {
            git::pull_request_event(&env, ctx)
        }
        "build.complete" => pipelines::build_complete(&env),
        "ms.vss-pipelines.run-state-changed-event"
        | "ms.vss-pipelines.stage-state-changed-event"
        | "ms.vss-pipelines.job-state-changed-event" => pipelines::run_event(&env),
        "ms.vss-pipelinechecks-events.approval-pending" => pipelines::approval_event(&env, true),
        "ms.vss-pipelinechecks-events.approval-completed" => pipelines::approval_event(&env, false),
        "ms.vss-release.deployment-started-event" | "ms.vss-release.deployment-completed-event" => {
            releases::deployment_event(&env)
        }
        "ms.vss-release.deployment-approval-pending-event" => releases::approval_event(&env, true),
        "ms.vss-release.deployment-approval-completed-event" => {
            releases::approval_event(&env, false)
        }
        "workitem.created" | "workitem.updated" | "workitem.restored" | "workitem.commented"
        | "workitem.deleted" => work_items::event(&env, &event, ctx),
        other => Ok(Outcome::ignored(format!(
            "Azure DevOps event `{other}` is not used by Nexus"
        ))),
    }
}

/// REST resources [`rest`] reads, by the name the poller passes:
/// - `projects` — `_apis/projects`; nothing to apply (the poller lists them with [`projects`]);
/// - `repositories` — `_apis/git/repositories`;
/// - `pipelines` — `_apis/pipelines`; `buildDefinitions` — `_apis/build/definitions`;
/// - `builds` — `_apis/build/builds`;
/// - `workItems` — `_apis/wit/workitemsbatch`, `_apis/wit/workitems?ids=` or one work item;
/// - `pullRequests` — `_apis/git/repositories/{id}/pullrequests?searchCriteria.status=all`;
/// - `pushes` — `_apis/git/repositories/{id}/pushes?searchCriteria.includeRefUpdates=true`;
/// - `releases` — `vsrm…/_apis/release/releases?$expand=environments` or one release;
/// - `deployments` — `vsrm…/_apis/release/deployments`.
pub const REST_RESOURCES: &[&str] = &[
    "projects",
    "repositories",
    "pipelines",
    "buildDefinitions",
    "builds",
    "workItems",
    "pullRequests",
    "pushes",
    "releases",
    "deployments",
];

/// Parses one REST response body of `resource` (one of [`REST_RESOURCES`]), finding
/// organisation and project in the payload.
pub fn rest(resource: &str, body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    rest_scoped(resource, body, None, ctx)
}

/// Like [`rest`], with the organisation and project the poller asked (REST responses often
/// name the project only by id).
pub fn rest_in(
    resource: &str,
    scope: &Scope,
    body: &[u8],
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    rest_scoped(resource, body, Some(scope), ctx)
}

fn rest_scoped(
    resource: &str,
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    match resource {
        "projects" => projects(body).map(|_| Outcome::Changes(Vec::new())),
        "repositories" => git::repositories(body, given, ctx),
        "pipelines" | "buildDefinitions" => pipelines::definitions(body, given, ctx),
        "builds" => pipelines::builds(body, given),
        "workItems" => work_items::rest(body, given, ctx),
        "pullRequests" => git::pull_requests(body, given, ctx),
        "pushes" => git::pushes(body, given, ctx),
        "releases" => releases::releases(body, given),
        "deployments" => releases::deployments(body, given),
        other => Err(IngestError::invalid(
            "resource",
            format!(
                "unknown Azure DevOps REST resource `{other}` (expected one of {})",
                REST_RESOURCES.join(", ")
            ),
        )),
    }
}

/// A project from `_apis/projects`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
}

/// The projects of an `_apis/projects` response (what the poller walks, and how it maps ids
/// to names).
pub fn projects(body: &[u8]) -> Result<Vec<Project>, IngestError> {
    items(body)
}

/// Work item ids of a WIQL query result (`{workItems: [{id, url}]}`).
pub fn wiql_ids(body: &[u8]) -> Result<Vec<i64>, IngestError> {
    work_items::wiql_ids(body)
}

/// WIQL for delta polling: the project's work items whose `System.ChangedDate` is at or after
/// `since` (RFC 3339). Post it with `timePrecision=true` so the time of day counts.
pub fn wiql_changed_since(project: &str, since: &str) -> String {
    work_items::wiql_changed_since(project, since)
}
