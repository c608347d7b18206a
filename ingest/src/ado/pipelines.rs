//! Azure Pipelines: build definitions, builds and runs (with stage and job state changes), and
//! run-stage approvals.

use std::collections::BTreeMap;

use nexus_api::{
    catalog::{
        About, Pipeline,
        pipeline::{
            AzurePipelinesRef, MAX_PENDING_APPROVALS, PendingApproval, PipelineProvider,
            PipelineRun, PipelineSpec,
        },
    },
    facts::MAX_RUNS,
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    model::{
        Envelope, Identity, Links, ProjectRef, clip, clip_opt, int_or_string, items, nullable, ts,
        url_opt,
    },
    scope::{Finder, Origin, Scope, parse_url},
};
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL},
    naming::object_name,
};

/// Maps Azure DevOps build/run status and result onto `PipelineRun.result`
/// (`succeeded`, `failed`, `canceled`, `inProgress`): `partiallySucceeded` counts as
/// succeeded (the run passed with warnings), `stopped` as canceled, every unfinished state as
/// inProgress. Unknown values are kept as sent.
fn run_result(status: Option<&str>, result: Option<&str>) -> Option<String> {
    let map = |v: &str| -> Option<String> {
        Some(
            match v {
                "succeeded" | "partiallySucceeded" => "succeeded",
                "failed" => "failed",
                "canceled" | "stopped" | "skipped" => "canceled",
                "inProgress" | "notStarted" | "postponed" | "cancelling" | "canceling"
                | "waiting" | "running" => "inProgress",
                "completed" | "none" | "" | "all" | "unknown" => return None,
                other => return Some(clip(other, 32)),
            }
            .to_string(),
        )
    };
    result.and_then(map).or_else(|| status.and_then(map))
}

fn pipeline_facts(origin: &Origin, definition_id: i64, run: PipelineRun) -> Change {
    let target = Target::AdoPipeline {
        organization: origin.organization.clone(),
        project: origin.project.clone(),
        definition_id,
    };
    let op = ListOp::upsert("recentRuns", "id", &run, "startedAt", MAX_RUNS);
    Change::Facts(
        Facts::new(Source::AzureDevOps, target)
            .set("lastRun", &run)
            .list(op),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionRef {
    id: i64,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    project: Option<ProjectRef>,
}

/// A build (`build.complete` resource and REST `build/builds` items).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Build {
    id: i64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    queue_time: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    finish_time: Option<String>,
    #[serde(default)]
    source_version: Option<String>,
    /// Old payloads: `LG:refs/heads/main:<sha>`.
    #[serde(default)]
    source_get_version: Option<String>,
    definition: DefinitionRef,
    #[serde(default)]
    project: Option<ProjectRef>,
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
}

impl Build {
    fn origin(
        &self,
        given: Option<&Scope>,
        env: Option<&Envelope>,
        message: &str,
    ) -> Result<Origin, IngestError> {
        let project = self.project.as_ref().or(self.definition.project.as_ref());
        Finder::new(given)
            .urls(env.into_iter().flat_map(Envelope::container_urls))
            .url(self.links.get("web"))
            .url(self.url.as_deref())
            .url(self.definition.url.as_deref())
            .urls(super::scope::urls_in(message))
            .name(project.and_then(|p| p.name.as_deref()))
            .id(project.and_then(|p| p.id.as_deref()))
            .id(env.and_then(Envelope::project_id))
            .resolve()
    }

    fn run(&self, origin: &Origin, at: &str) -> Result<PipelineRun, IngestError> {
        let sha = self.source_version.clone().or_else(|| {
            self.source_get_version
                .as_deref()
                .and_then(|v| v.rsplit(':').next())
                .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_string)
        });
        let started = ts(&format!("{at}.startTime"), &self.start_time)?;
        let started = match started {
            Some(t) => Some(t),
            None => ts(&format!("{at}.queueTime"), &self.queue_time)?,
        };
        let url = self
            .links
            .get("web")
            .map(str::to_string)
            .or_else(|| build_web_url(self.url.as_deref(), origin, self.id));
        Ok(PipelineRun {
            id: self.id.to_string(),
            result: run_result(self.status.as_deref(), self.result.as_deref()),
            source_version: clip_opt(sha.as_deref(), 64),
            started_at: started,
            finished_at: ts(&format!("{at}.finishTime"), &self.finish_time)?,
            url: url_opt(url.as_deref()),
        })
    }
}

/// `{base}/{project}/_build/results?buildId={id}`, using the project segment of the API URL
/// when it has one (an id works there too).
fn build_web_url(api_url: Option<&str>, origin: &Origin, id: i64) -> Option<String> {
    let seg = api_url.and_then(parse_url).and_then(|u| u.project);
    let project = seg.unwrap_or_else(|| origin.project.clone());
    let o = Origin {
        project,
        ..origin.clone()
    };
    Some(o.web(&format!("_build/results?buildId={id}")))
}

/// `build.complete`.
pub(crate) fn build_complete(env: &Envelope) -> Result<Outcome, IngestError> {
    let build: Build = env.resource()?;
    let origin = build.origin(None, Some(env), &env.message_text())?;
    let run = build.run(&origin, "resource")?;
    Ok(Outcome::Changes(vec![pipeline_facts(
        &origin,
        build.definition.id,
        run,
    )]))
}

/// REST `build/builds`: one Facts per build (each sets lastRun; the applier applies them in
/// order, so list the page oldest first — the default `queueTimeDescending` order is reversed
/// here).
pub(crate) fn builds(body: &[u8], given: Option<&Scope>) -> Result<Outcome, IngestError> {
    let list: Vec<Build> = items(body)?;
    let mut changes = Vec::new();
    for (i, b) in list.iter().enumerate().rev() {
        let origin = b.origin(given, None, "")?;
        let run = b.run(&origin, &format!("value[{i}]"))?;
        changes.push(pipeline_facts(&origin, b.definition.id, run));
    }
    Ok(Outcome::Changes(changes))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunEvent {
    #[serde(default)]
    run: Option<Run>,
    #[serde(default)]
    pipeline: Option<PipelineRef>,
    #[serde(default)]
    stage: Option<Step>,
    #[serde(default)]
    job: Option<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    id: i64,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    created_date: Option<String>,
    #[serde(default)]
    finished_date: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    pipeline: Option<PipelineRef>,
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
    #[serde(default)]
    resources: Value,
}

#[derive(Debug, Deserialize)]
struct PipelineRef {
    id: i64,
    #[serde(default)]
    url: Option<String>,
}

/// A stage or a job of a run.
#[derive(Debug, Deserialize)]
struct Step {
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
}

/// `ms.vss-pipelines.run-state-changed-event`, `…stage-state-changed-event` and
/// `…job-state-changed-event`. All three carry the run with its current state and result, so
/// each writes the run (lastRun and recentRuns); stage and job events add nothing else — the
/// run's own state already says whether it is still in progress. The definition id is
/// `resource.pipeline.id` (else `resource.run.pipeline.id`).
pub(crate) fn run_event(env: &Envelope) -> Result<Outcome, IngestError> {
    let ev: RunEvent = env.resource()?;
    let run = ev
        .run
        .as_ref()
        .ok_or_else(|| IngestError::missing("resource.run"))?;
    let pipeline = ev
        .pipeline
        .as_ref()
        .or(run.pipeline.as_ref())
        .ok_or_else(|| IngestError::missing("resource.pipeline"))?;
    let step_web = ev
        .stage
        .iter()
        .chain(ev.job.iter())
        .find_map(|s| s.links.get("web"));
    let message = env.message_text();
    let origin = Finder::new(None)
        .urls(env.container_urls())
        .url(run.links.get("web"))
        .url(step_web)
        .url(run.url.as_deref())
        .url(pipeline.url.as_deref())
        .urls(super::scope::urls_in(&message))
        .id(env.project_id())
        .resolve()?;
    let url = run
        .links
        .get("web")
        .or(step_web)
        .map(str::to_string)
        .or_else(|| build_web_url(run.url.as_deref(), &origin, run.id));
    let sha = run
        .resources
        .pointer("/repositories/self/version")
        .and_then(Value::as_str);
    let pr = PipelineRun {
        id: run.id.to_string(),
        result: run_result(run.state.as_deref(), run.result.as_deref()),
        source_version: clip_opt(sha, 64),
        started_at: ts("resource.run.createdDate", &run.created_date)?,
        finished_at: ts("resource.run.finishedDate", &run.finished_date)?,
        url: url_opt(url.as_deref()),
    };
    Ok(Outcome::Changes(vec![pipeline_facts(
        &origin,
        pipeline.id,
        pr,
    )]))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalEvent {
    approval: Approval,
    #[serde(default)]
    pipeline: Option<ApprovalPipeline>,
    #[serde(default)]
    run: Option<ApprovalRef>,
    #[serde(default)]
    stage: Option<ApprovalRef>,
    #[serde(default)]
    stage_name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Approval {
    id: String,
    #[serde(default, deserialize_with = "nullable")]
    steps: Vec<ApprovalStep>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    min_required_approvers: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalStep {
    #[serde(default)]
    assigned_approver: Option<Identity>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalPipeline {
    #[serde(default, deserialize_with = "int_or_string")]
    id: Option<i64>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalRef {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    name: Option<String>,
}

/// `ms.vss-pipelinechecks-events.approval-pending` / `approval-completed`: the approval joins
/// or leaves `status.pendingApprovals` of the pipeline named by `resource.pipeline.id`. The
/// documented sample payloads leave `pipeline` null; such deliveries name no pipeline to attach
/// the approval to and are ignored with that reason.
pub(crate) fn approval_event(env: &Envelope, pending: bool) -> Result<Outcome, IngestError> {
    let ev: ApprovalEvent = env.resource()?;
    let Some(definition_id) = ev.pipeline.as_ref().and_then(|p| p.id).filter(|id| *id > 0) else {
        return Ok(Outcome::ignored(format!(
            "approval {} names no pipeline (resource.pipeline is empty), so Nexus has nothing to attach it to",
            ev.approval.id
        )));
    };
    let message = env.message_text();
    let origin = Finder::new(None)
        .urls(env.container_urls())
        .url(ev.url.as_deref())
        .url(ev.pipeline.as_ref().and_then(|p| p.url.as_deref()))
        .urls(super::scope::urls_in(&message))
        .id(ev.project_id.as_deref())
        .id(env.project_id())
        .resolve()?;
    let target = Target::AdoPipeline {
        organization: origin.organization.clone(),
        project: origin.project.clone(),
        definition_id,
    };
    let id = clip(&ev.approval.id, 64);
    let item = if pending {
        let a = &ev.approval;
        let run_id = match &ev.run.as_ref().map(|r| &r.id) {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Some(clip(s, 64)),
            _ => None,
        };
        let item = PendingApproval {
            id: id.clone(),
            run_id,
            stage: clip_opt(
                ev.stage_name
                    .as_deref()
                    .or(ev.stage.as_ref().and_then(|s| s.name.as_deref())),
                256,
            ),
            instructions: clip_opt(a.instructions.as_deref(), 1024),
            min_required_approvers: a.min_required_approvers,
            approvers: a
                .steps
                .iter()
                .filter_map(|s| s.assigned_approver.as_ref().and_then(Identity::best))
                .take(32)
                .collect(),
            created_at: ts("resource.approval.createdOn", &a.created_on)?,
            url: url_opt(ev.url.as_deref()),
        };
        Some(item)
    } else {
        None
    };
    Ok(pending_approvals_change(target, id, item))
}

/// What a pending (`Some`) or decided (`None`) approval does to its Pipeline's
/// `status.pendingApprovals` (pipeline checks and classic release approvals alike).
pub(super) fn pending_approvals_change(
    target: Target,
    id: String,
    pending: Option<PendingApproval>,
) -> Outcome {
    let op = match pending {
        Some(item) => ListOp::upsert(
            "pendingApprovals",
            "id",
            item,
            "createdAt",
            MAX_PENDING_APPROVALS,
        ),
        None => ListOp::remove("pendingApprovals", "id", id),
    };
    Outcome::Changes(vec![Change::Facts(
        Facts::new(Source::AzureDevOps, target).list(op),
    )])
}

/// A build definition (REST `build/definitions`) or pipeline (REST `pipelines`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition {
    id: i64,
    name: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    project: Option<ProjectRef>,
    #[serde(default)]
    repository: Option<DefinitionRepo>,
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
}

#[derive(Debug, Deserialize)]
struct DefinitionRepo {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    type_: Option<String>,
}

/// REST `build/definitions` and `pipelines`: each definition is discovered as a Pipeline named
/// `<org>-<project>-<definition name>-<id>` (names are unique per folder only, so the id keeps
/// them apart), in the namespace for `org/project/repo` when the definition builds an Azure
/// Repos repository, else `org/project`.
pub(crate) fn definitions(
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let list: Vec<Definition> = items(body)?;
    let mut changes = Vec::new();
    for d in &list {
        if d.id < 1 {
            return Err(IngestError::invalid(
                "value[].id",
                format!("expected a positive definition id, got {}", d.id),
            ));
        }
        let origin = Finder::new(given)
            .url(d.links.get("web"))
            .url(d.url.as_deref())
            .name(d.project.as_ref().and_then(|p| p.name.as_deref()))
            .id(d.project.as_ref().and_then(|p| p.id.as_deref()))
            .resolve()?;
        let id = d.id.to_string();
        let name = object_name(&[&origin.organization, &origin.project, &d.name, &id]);
        let repo = d
            .repository
            .as_ref()
            .filter(|r| {
                r.type_
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case("TfsGit"))
            })
            .and_then(|r| r.name.as_deref());
        let key = match repo {
            Some(r) => format!("{}/{r}", origin.key()),
            None => origin.key(),
        };
        let mut p = Pipeline::new(
            &name,
            PipelineSpec {
                about: About {
                    title: Some(clip(&d.name, 200)),
                    ..About::default()
                },
                provider: PipelineProvider::AzurePipelines,
                azure_pipelines: Some(AzurePipelinesRef {
                    organization: clip(&origin.organization, 100),
                    project: clip(&origin.project, 100),
                    definition_id: d.id,
                }),
                github_actions: None,
                component: None,
                repository: None,
                deploys_to: Vec::new(),
                owner: None,
            },
        );
        p.metadata.namespace = Some(ctx.namespace_for(&key).to_string());
        let web = d
            .links
            .get("web")
            .map(str::to_string)
            .unwrap_or_else(|| origin.web(&format!("_build?definitionId={}", d.id)));
        let mut annotations = BTreeMap::from([(EXTERNAL_ID.to_string(), id)]);
        annotations.extend(url_opt(Some(&web)).map(|u| (SOURCE_URL.to_string(), u)));
        p.metadata.annotations = Some(annotations);
        let identity = Target::AdoPipeline {
            organization: origin.organization.clone(),
            project: origin.project.clone(),
            definition_id: d.id,
        };
        changes.push(Change::Upsert(
            Upsert::new(Source::AzureDevOps, &p).with_identity(identity),
        ));
    }
    Ok(Outcome::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_map_onto_the_four_run_results() {
        assert_eq!(
            run_result(Some("completed"), Some("partiallySucceeded")).as_deref(),
            Some("succeeded")
        );
        assert_eq!(
            run_result(Some("inProgress"), None).as_deref(),
            Some("inProgress")
        );
        assert_eq!(
            run_result(Some("stopped"), None).as_deref(),
            Some("canceled")
        );
        assert_eq!(run_result(Some("completed"), Some("none")), None);
    }

    #[test]
    fn rest_builds_and_definitions() {
        let page = json!({"count": 2, "value": [
            {"id": 9, "status": "completed", "result": "failed", "startTime": "2024-01-02T00:00:00Z",
             "sourceVersion": "abc", "definition": {"id": 4}, "project": {"id": "p", "name": "Pay"},
             "url": "https://dev.azure.com/contoso/0f0f0f0f-0000-0000-0000-000000000001/_apis/build/Builds/9"},
            {"id": 8, "status": "inProgress", "queueTime": "2024-01-01T00:00:00Z", "definition": {"id": 4},
             "_links": {"web": {"href": "https://dev.azure.com/contoso/Pay/_build/results?buildId=8"}}}
        ]});
        let out = builds(&serde_json::to_vec(&page).unwrap(), None).unwrap();
        let c = out.changes();
        assert_eq!(c.len(), 2);
        let Change::Facts(f) = &c[1] else { panic!() };
        // Oldest first, so the newest run is written last.
        assert_eq!(f.set["lastRun"]["id"], "9");
        assert_eq!(f.set["lastRun"]["result"], "failed");
        assert_eq!(
            f.target,
            Target::AdoPipeline {
                organization: "contoso".into(),
                project: "Pay".into(),
                definition_id: 4
            }
        );
        let defs = json!({"value": [{"id": 4, "name": "Pay CI", "project": {"name": "Pay"},
            "repository": {"name": "pay-api", "type": "TfsGit"},
            "url": "https://dev.azure.com/contoso/Pay/_apis/build/Definitions/4"}]});
        let mut ctx = Context::in_namespace("default");
        ctx.namespaces.rules.push(crate::NamespaceRule {
            pattern: "contoso/pay/*".into(),
            namespace: "payments".into(),
        });
        let out = definitions(&serde_json::to_vec(&defs).unwrap(), None, &ctx).unwrap();
        let Change::Upsert(u) = &out.changes()[0] else {
            panic!()
        };
        assert_eq!(u.name(), "contoso-pay-pay-ci-4");
        assert_eq!(u.namespace(), "payments");
        assert_eq!(
            u.object["spec"]["azurePipelines"],
            json!({"organization": "contoso", "project": "Pay", "definitionId": 4})
        );
        assert_eq!(
            u.object["metadata"]["annotations"][SOURCE_URL],
            "https://dev.azure.com/contoso/Pay/_build?definitionId=4"
        );
        assert!(definitions(br#"{"value":[{"id":0,"name":"x"}]}"#, None, &ctx).is_err());
    }
}
