//! Classic release pipelines: deployments of a release to a stage (environment), from service
//! hooks and from the REST `release/releases` and `release/deployments` lists; and the
//! approvals a release stage waits for, from service hooks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::{
    catalog::pipeline::PendingApproval,
    facts::{DeploymentRecord, MAX_DEPLOYMENTS},
};
use serde::Deserialize;

use super::{
    model::{Envelope, Identity, Links, ProjectRef, clip, clip_opt, items, nullable, ts, url_opt},
    pipelines::pending_approvals_change,
    scope::{Finder, Origin, Scope, query_param_in},
};
use crate::{Change, Facts, IngestError, ListOp, Outcome, Source, Target};

/// Azure DevOps deployment / environment status → `DeploymentRecord.status`: succeeded (and
/// partiallySucceeded, which deployed with warnings) → success; failed, rejected → failure;
/// canceled → canceled; inProgress → in_progress; queued, scheduled → queued; notStarted,
/// undefined → pending. A `notDeployed` deployment is read from its operation status (failed,
/// rejected, canceled, or still pending).
pub(crate) fn status(status: &str, operation: Option<&str>) -> String {
    let s = match status {
        "succeeded" | "partiallySucceeded" => "success",
        "failed" | "rejected" => "failure",
        "canceled" | "cancelled" => "canceled",
        "inProgress" => "in_progress",
        "queued" | "scheduled" => "queued",
        "notDeployed" => {
            let op = operation.unwrap_or("").to_ascii_lowercase();
            if op.contains("fail") || op.contains("reject") {
                "failure"
            } else if op.contains("cancel") {
                "canceled"
            } else if op.contains("queued") || op.contains("scheduled") {
                "queued"
            } else {
                "pending"
            }
        }
        _ => "pending",
    };
    s.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefRef {
    id: i64,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseRef {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    web_access_uri: Option<String>,
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
    #[serde(default)]
    release_definition: Option<DefRef>,
    #[serde(default)]
    created_by: Option<Identity>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvRef {
    id: i64,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeployStep {
    #[serde(default)]
    queued_on: Option<String>,
    #[serde(default)]
    last_modified_on: Option<String>,
    #[serde(default)]
    requested_for: Option<Identity>,
    #[serde(default)]
    requested_by: Option<Identity>,
}

/// A release's stage (`ReleaseEnvironment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseEnvironment {
    id: i64,
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    release_id: Option<i64>,
    #[serde(default)]
    release: Option<ReleaseRef>,
    #[serde(default)]
    release_definition: Option<DefRef>,
    #[serde(default, deserialize_with = "nullable")]
    deploy_steps: Vec<DeployStep>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    modified_on: Option<String>,
}

/// A deployment (REST `release/deployments` item; newer hook payloads carry one too).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    #[serde(default)]
    release: Option<ReleaseRef>,
    #[serde(default)]
    release_definition: Option<DefRef>,
    #[serde(default)]
    release_environment: Option<EnvRef>,
    #[serde(default)]
    deployment_status: Option<String>,
    #[serde(default)]
    operation_status: Option<String>,
    #[serde(default)]
    requested_for: Option<Identity>,
    #[serde(default)]
    requested_by: Option<Identity>,
    #[serde(default)]
    queued_on: Option<String>,
    #[serde(default)]
    started_on: Option<String>,
    #[serde(default)]
    completed_on: Option<String>,
    #[serde(default)]
    last_modified_on: Option<String>,
    #[serde(default)]
    project_reference: Option<ProjectRef>,
}

/// What one deployment record needs, gathered from whichever objects the payload has.
struct Found<'a> {
    origin: Origin,
    definition_id: Option<i64>,
    release: &'a ReleaseRef,
    env_id: i64,
    env_name: &'a str,
    status: String,
    created_at: Option<Time>,
    updated_at: Option<Time>,
    creator: Option<String>,
}

impl Found<'_> {
    /// The record on both the components the release definition deploys and the environment.
    fn changes(self) -> Vec<Change> {
        let o = &self.origin;
        let url = self
            .release
            .links
            .get("web")
            .or(self.release.web_access_uri.as_deref())
            .map(str::to_string)
            .unwrap_or_else(|| {
                o.web(&format!(
                    "_release?releaseId={}&_a=release-summary",
                    self.release.id
                ))
            });
        let record = DeploymentRecord {
            id: clip(
                &format!("ado:{}:{}:{}", o.project, self.release.id, self.env_id),
                256,
            ),
            environment: clip(self.env_name, 256),
            sha: None,
            version: clip_opt(self.release.name.as_deref(), 256),
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
            creator: self.creator,
            url: url_opt(Some(&url)),
            repository: None,
            component: None,
        };
        let op = || ListOp::upsert("deployments", "id", &record, "createdAt", MAX_DEPLOYMENTS);
        let mut out = Vec::new();
        if let Some(definition_id) = self.definition_id {
            let target = Target::ComponentsOfPipeline {
                organization: o.organization.clone(),
                project: o.project.clone(),
                definition_id,
            };
            out.push(Change::Facts(
                Facts::new(Source::AzureDevOps, target).list(op()),
            ));
        }
        let target = Target::Environment {
            namespace: None,
            name: record.environment.clone(),
        };
        out.push(Change::Facts(
            Facts::new(Source::AzureDevOps, target).list(op()),
        ));
        out
    }
}

fn positive(id: Option<i64>) -> Option<i64> {
    id.filter(|i| *i > 0)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentEvent {
    environment: ReleaseEnvironment,
    #[serde(default)]
    release: Option<ReleaseRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
    #[serde(default)]
    deployment: Option<Deployment>,
}

/// `ms.vss-release.deployment-started-event` / `deployment-completed-event`.
///
/// Release id: `environment.release.id`, else `deployment.release.id`, `resource.release.id`,
/// `environment.releaseId`. Release definition id: `environment.releaseDefinition`,
/// `deployment.releaseDefinition`, `resource.release.releaseDefinition`, else the
/// `definitionId=` of the message's link (the documented completed sample has only that).
/// Times: queued/started from the deployment or last deploy step, else the event time; updated
/// from the deployment or last deploy step, else the event time.
pub(crate) fn deployment_event(env: &Envelope) -> Result<Outcome, IngestError> {
    let ev: DeploymentEvent = env.resource()?;
    let e = &ev.environment;
    let dep = ev.deployment.as_ref();
    let release = [
        e.release.as_ref(),
        dep.and_then(|d| d.release.as_ref()),
        ev.release.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find(|r| r.id > 0);
    let fallback;
    let release = match release {
        Some(r) => r,
        None => {
            let id = positive(e.release_id)
                .ok_or_else(|| IngestError::missing("resource.environment.release.id"))?;
            fallback = ReleaseRef {
                id,
                name: None,
                url: None,
                web_access_uri: None,
                links: Links::default(),
                release_definition: None,
                created_by: None,
            };
            &fallback
        }
    };
    let message = env.message_text();
    let definition_id = [
        e.release_definition.as_ref(),
        dep.and_then(|d| d.release_definition.as_ref()),
        ev.release
            .as_ref()
            .and_then(|r| r.release_definition.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.id)
    .find(|id| *id > 0)
    .or_else(|| query_param_in(&message, "definitionId").and_then(|s| s.parse().ok()));
    let origin = Finder::new(None)
        .urls(env.container_urls())
        .url(release.links.get("web"))
        .url(release.url.as_deref())
        .url(
            release
                .release_definition
                .as_ref()
                .and_then(|d| d.url.as_deref()),
        )
        .urls(super::scope::urls_in(&message))
        .name(ev.project.as_ref().and_then(|p| p.name.as_deref()))
        .id(ev.project.as_ref().and_then(|p| p.id.as_deref()))
        .id(env.project_id())
        .resolve()?;
    let step = e.deploy_steps.last();
    let created = first_time(&[
        (
            "resource.deployment.queuedOn",
            dep.and_then(|d| d.queued_on.clone()),
        ),
        (
            "resource.deployment.startedOn",
            dep.and_then(|d| d.started_on.clone()),
        ),
        (
            "resource.environment.deploySteps[].queuedOn",
            step.and_then(|s| s.queued_on.clone()),
        ),
        ("createdDate", env.created_date.clone()),
    ])?;
    let updated = first_time(&[
        (
            "resource.deployment.completedOn",
            dep.and_then(|d| d.completed_on.clone()),
        ),
        (
            "resource.deployment.lastModifiedOn",
            dep.and_then(|d| d.last_modified_on.clone()),
        ),
        (
            "resource.environment.deploySteps[].lastModifiedOn",
            step.and_then(|s| s.last_modified_on.clone()),
        ),
        ("createdDate", env.created_date.clone()),
    ])?;
    let status = match (
        dep.and_then(|d| d.deployment_status.as_deref()),
        e.status.as_deref(),
    ) {
        (Some(s), _) if s != "undefined" => {
            status(s, dep.and_then(|d| d.operation_status.as_deref()))
        }
        (_, Some(s)) => status(s, None),
        (_, None) => return Err(IngestError::missing("resource.environment.status")),
    };
    let creator = dep
        .and_then(|d| d.requested_for.as_ref().or(d.requested_by.as_ref()))
        .or(step.and_then(|s| s.requested_for.as_ref().or(s.requested_by.as_ref())))
        .or(release.created_by.as_ref())
        .and_then(Identity::unique);
    let found = Found {
        origin,
        definition_id,
        release,
        env_id: e.id,
        env_name: &e.name,
        status,
        created_at: created,
        updated_at: updated,
        creator,
    };
    Ok(Outcome::Changes(found.changes()))
}

/// `resource.approval` of a release approval event (a `ReleaseApproval`: one per approver).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseApproval {
    #[serde(default)]
    id: i64,
    #[serde(default)]
    approver: Option<Identity>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    release: Option<ReleaseRef>,
    #[serde(default)]
    release_definition: Option<DefRef>,
    #[serde(default)]
    release_environment: Option<EnvRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalOptions {
    #[serde(default)]
    required_approver_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalEvent {
    approval: ReleaseApproval,
    #[serde(default)]
    approval_options: Option<ApprovalOptions>,
    #[serde(default)]
    release: Option<ReleaseRef>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// `ms.vss-release.deployment-approval-pending-event` / `deployment-approval-completed-event`:
/// the same `status.pendingApprovals` as run-stage approvals, on the Pipeline a release's
/// deployments go to (the one whose `spec.azurePipelines.definitionId` is the release
/// definition id). A pending approval joins the list (id: the approval id, `runId`: the
/// release id, `stage`: the release stage, `approvers`: the one approver it asks — Azure DevOps
/// sends one approval per approver), a completed one (approved, rejected, reassigned, …)
/// leaves it. An approval without an id (0, as in the documented samples) could never be
/// matched to its completion, and one without a release definition has no Pipeline to go to:
/// both are ignored with that reason.
pub(crate) fn approval_event(env: &Envelope, pending: bool) -> Result<Outcome, IngestError> {
    let ev: ApprovalEvent = env.resource()?;
    let a = &ev.approval;
    if a.id <= 0 {
        return Ok(Outcome::ignored(
            "release approval has no id (resource.approval.id is 0), so its completion could not be matched to it",
        ));
    }
    let message = env.message_text();
    let Some(definition_id) = [
        a.release_definition.as_ref(),
        ev.release
            .as_ref()
            .and_then(|r| r.release_definition.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.id)
    .find(|id| *id > 0)
    .or_else(|| query_param_in(&message, "definitionId").and_then(|s| s.parse().ok())) else {
        return Ok(Outcome::ignored(format!(
            "release approval {} names no release definition, so Nexus has no Pipeline to attach it to",
            a.id
        )));
    };
    let release = [ev.release.as_ref(), a.release.as_ref()]
        .into_iter()
        .flatten()
        .find(|r| r.id > 0);
    let origin = Finder::new(None)
        .urls(env.container_urls())
        .url(release.and_then(|r| r.links.get("web")))
        .url(release.and_then(|r| r.url.as_deref()))
        .url(a.release_definition.as_ref().and_then(|d| d.url.as_deref()))
        .urls(super::scope::urls_in(&message))
        .name(ev.project.as_ref().and_then(|p| p.name.as_deref()))
        .id(ev.project.as_ref().and_then(|p| p.id.as_deref()))
        .id(env.project_id())
        .resolve()?;
    let target = Target::AdoPipeline {
        organization: origin.organization.clone(),
        project: origin.project.clone(),
        definition_id,
    };
    let id = a.id.to_string();
    let item = if pending {
        let url = release.map(|r| {
            r.links
                .get("web")
                .or(r.web_access_uri.as_deref())
                .map(str::to_string)
                .unwrap_or_else(|| {
                    origin.web(&format!("_release?releaseId={}&_a=release-summary", r.id))
                })
        });
        let item = PendingApproval {
            id: id.clone(),
            run_id: release.map(|r| r.id.to_string()),
            stage: clip_opt(a.release_environment.as_ref().map(|e| e.name.as_str()), 256),
            instructions: None,
            min_required_approvers: ev
                .approval_options
                .as_ref()
                .and_then(|o| o.required_approver_count)
                .filter(|n| *n > 0),
            approvers: a.approver.iter().filter_map(Identity::best).collect(),
            created_at: ts("resource.approval.createdOn", &a.created_on)?,
            url: url_opt(url.as_deref()),
        };
        Some(item)
    } else {
        None
    };
    Ok(pending_approvals_change(target, id, item))
}

/// The first of the timestamps that is present.
fn first_time(candidates: &[(&str, Option<String>)]) -> Result<Option<Time>, IngestError> {
    for (field, value) in candidates {
        if let Some(t) = ts(field, value)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// REST `release/deployments`.
pub(crate) fn deployments(body: &[u8], given: Option<&Scope>) -> Result<Outcome, IngestError> {
    let list: Vec<Deployment> = items(body)?;
    let mut changes = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let at = |f: &str| format!("value[{i}].{f}");
        let release = d
            .release
            .as_ref()
            .ok_or_else(|| IngestError::missing(at("release")))?;
        let env = d
            .release_environment
            .as_ref()
            .ok_or_else(|| IngestError::missing(at("releaseEnvironment")))?;
        let origin = Finder::new(given)
            .url(release.links.get("web"))
            .url(release.url.as_deref())
            .url(d.release_definition.as_ref().and_then(|r| r.url.as_deref()))
            .name(d.project_reference.as_ref().and_then(|p| p.name.as_deref()))
            .id(d.project_reference.as_ref().and_then(|p| p.id.as_deref()))
            .resolve()?;
        let status_text = d
            .deployment_status
            .as_deref()
            .ok_or_else(|| IngestError::missing(at("deploymentStatus")))?;
        let found = Found {
            origin,
            definition_id: positive(d.release_definition.as_ref().map(|r| r.id)),
            release,
            env_id: env.id,
            env_name: &env.name,
            status: status(status_text, d.operation_status.as_deref()),
            created_at: first_time(&[
                (&at("queuedOn"), d.queued_on.clone()),
                (&at("startedOn"), d.started_on.clone()),
            ])?,
            updated_at: first_time(&[
                (&at("completedOn"), d.completed_on.clone()),
                (&at("lastModifiedOn"), d.last_modified_on.clone()),
            ])?,
            creator: d
                .requested_for
                .as_ref()
                .or(d.requested_by.as_ref())
                .and_then(Identity::unique),
        };
        changes.extend(found.changes());
    }
    Ok(Outcome::Changes(changes))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Release {
    #[serde(flatten)]
    reference: ReleaseRef,
    #[serde(default, deserialize_with = "nullable")]
    environments: Vec<ReleaseEnvironment>,
    #[serde(default)]
    project_reference: Option<ProjectRef>,
    #[serde(default)]
    created_on: Option<String>,
}

/// REST `release/releases` (list, ask with `$expand=environments`) or one release: every stage
/// that has started deploying becomes a deployment record; stages not started (and releases
/// listed without their environments) give nothing.
pub(crate) fn releases(body: &[u8], given: Option<&Scope>) -> Result<Outcome, IngestError> {
    let list: Vec<Release> = items(body)?;
    let mut changes = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let rr = &r.reference;
        let origin = Finder::new(given)
            .url(rr.links.get("web"))
            .url(rr.url.as_deref())
            .url(
                rr.release_definition
                    .as_ref()
                    .and_then(|d| d.url.as_deref()),
            )
            .name(r.project_reference.as_ref().and_then(|p| p.name.as_deref()))
            .id(r.project_reference.as_ref().and_then(|p| p.id.as_deref()))
            .resolve()?;
        for (j, e) in r.environments.iter().enumerate() {
            let at = |f: &str| format!("value[{i}].environments[{j}].{f}");
            let raw = e.status.as_deref().unwrap_or("undefined");
            if matches!(raw, "notStarted" | "undefined") {
                continue;
            }
            let step = e.deploy_steps.last();
            let found = Found {
                origin: origin.clone(),
                definition_id: positive(
                    e.release_definition
                        .as_ref()
                        .or(rr.release_definition.as_ref())
                        .map(|d| d.id),
                ),
                release: rr,
                env_id: e.id,
                env_name: &e.name,
                status: status(raw, None),
                created_at: first_time(&[
                    (
                        &at("deploySteps[].queuedOn"),
                        step.and_then(|s| s.queued_on.clone()),
                    ),
                    (&at("createdOn"), e.created_on.clone()),
                    (&format!("value[{i}].createdOn"), r.created_on.clone()),
                ])?,
                updated_at: first_time(&[
                    (
                        &at("deploySteps[].lastModifiedOn"),
                        step.and_then(|s| s.last_modified_on.clone()),
                    ),
                    (&at("modifiedOn"), e.modified_on.clone()),
                ])?,
                creator: step
                    .and_then(|s| s.requested_for.as_ref().or(s.requested_by.as_ref()))
                    .or(rr.created_by.as_ref())
                    .and_then(Identity::unique),
            };
            changes.extend(found.changes());
        }
    }
    Ok(Outcome::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn statuses() {
        assert_eq!(status("partiallySucceeded", None), "success");
        assert_eq!(status("rejected", None), "failure");
        assert_eq!(status("inProgress", None), "in_progress");
        assert_eq!(status("notDeployed", Some("PhaseFailed")), "failure");
        assert_eq!(status("notDeployed", Some("Canceled")), "canceled");
        assert_eq!(status("notDeployed", Some("Pending")), "pending");
        assert_eq!(status("queued", None), "queued");
    }
}
